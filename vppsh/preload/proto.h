/* The control protocol between the preload shim and vppsh's API socket (SOCK_SEQPACKET).
 * Mirrored in vppsh/vcl/proto.py: change both together (tests/vcl/test_proto.py compares them).
 *
 * Every request about a socket carries that socket's fd (SCM_RIGHTS): the engine identifies
 * the session by the fd's inode, and holding the fd is the proof that the caller may act on it.
 * Replies that create an fd (SOCKET, LISTEN) carry it the same way.
 *
 * Addresses travel as struct vl_addr, of either family, IPv6 ones whole (16 bytes and the
 * scope id), whether or not the engine routes them yet: the shim checks a sockaddr's form as
 * the kernel does for the socket's family, the engine decides what the address means. The
 * engine writes every address in the family of the socket it is for: an IPv4 peer of an
 * AF_INET6 socket is ::ffff:a.b.c.d. */
#ifndef VPPSH_PROTO_H
#define VPPSH_PROTO_H
#include <stdint.h>

struct vl_addr {
    uint16_t family;   /* AF_INET, AF_INET6; 0 (AF_UNSPEC): none */
    uint16_t port;     /* host byte order */
    uint32_t scope_id; /* AF_INET6: sin6_scope_id */
    uint8_t addr[16];  /* network byte order; AF_INET: the first 4 bytes, the rest 0 */
};

enum vl_op {
    VL_HELLO = 1,    /* a = pid, b = rx fifo, c = tx fifo, d = segment size (bytes, 0: default),
                        data = app name                 -> a, b, c = the sizes granted, d = VL_CAP_* */
    VL_SOCKET,       /* a = SOCK_STREAM | SOCK_DGRAM, b = AF_INET | AF_INET6 -> fd */
    VL_BIND,         /* addr                                          -> addr (as bound) */
    VL_LISTEN,       /* a = backlog                                   -> fd (unless already listening) */
    VL_CONNECT,      /* addr (UDP, family AF_UNSPEC: disconnect)      -> EINPROGRESS | 0,
                        and an fd to put in the socket's place after a failed connect */
    VL_ACCEPTED,     /* the accepted fd, data = the token from its header */
    VL_NAME,         /* a = 0 sockname, 1 peername                    -> addr */
    VL_SETOPT,       /* a = level, b = name, data = value */
    VL_GETOPT,       /* a = level, b = name, c = optlen; SO_ERROR: d = the AF_UNIX end's -> data */
    VL_SHUTDOWN,     /* a = how; b = 1: sent again once the shim shut its end */
    VL_ABORT,        /* close with SO_LINGER {1, 0}: reset */
    VL_LOOKUP,       /*                        -> a = kind (VL_K_*), b = VL_F_* flags, c = family */
    VL_IOCTL,        /* a = request                                   -> a = value */
    VL_CLOSED,       /* no fd: a, b = low, high 32 bits of a closed listener's inode */
};

enum vl_kind { VL_K_NONE = 0, VL_K_TCP = 1, VL_K_LISTEN = 2, VL_K_UDP = 3 };
#define VL_F_CONNECTED 1  /* LOOKUP b: a UDP socket with a default peer, a TCP one connected once */
#define VL_F_V6ONLY 2     /* LOOKUP b: an AF_INET6 socket with IPV6_V6ONLY */
#define VL_CAP_IP6 1      /* HELLO d: the engine carries datagrams to native IPv6 (else sendto()
                             refuses them at once; TCP asks the engine at connect) */

struct vl_msg {
    uint16_t op;
    uint16_t len;      /* bytes used in data[]; in an error reply, why (for LDP_DEBUG) */
    uint32_t seq;
    int32_t err;       /* reply: 0 or an errno */
    int32_t a, b, c;
    uint32_t d;
    int32_t fd;        /* request: the number of the fd it carries (-1: none), where the engine
                          finds the app's end when it must show it a reset */
    struct vl_addr addr;
    uint8_t data[256];
};
#define VL_HDR_LEN 56

/* First bytes on each accepted connection: which session it is (a random token: only the
 * process that accepted the connection has read it), and who the peer is. */
struct vl_accept_hdr {
    uint8_t token[16];
    struct vl_addr rmt;
    struct vl_addr lcl;
};

/* Each UDP datagram on the socketpair (SOCK_SEQPACKET) starts with this. */
struct vl_dgram_hdr {
    struct vl_addr rmt; /* to (app -> engine; family 0: the connected peer) or from */
    struct vl_addr lcl; /* app -> engine: the source asked for (IP_PKTINFO/IPV6_PKTINFO; family 0:
                           the socket's); engine -> app: the address it came to */
    int32_t ifindex;    /* engine -> app: the interface it came in on */
    uint16_t flags;     /* VL_DG_* */
    uint16_t err;       /* VL_DG_ERR: the errno */
};
#define VL_DG_ERR 1      /* engine -> app: not a datagram but an ICMP error for a connected socket,
                            reported once */
#define VL_DG_PKTINFO 2  /* engine -> app: the socket asked for IP_PKTINFO: give it the cmsg */
#define VL_DG_PKTINFO6 4 /* engine -> app: the socket asked for IPV6_RECVPKTINFO */
#endif
