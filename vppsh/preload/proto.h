/* The control protocol between the preload shim and vppsh's API socket (SOCK_SEQPACKET).
 * Mirrored in vppsh/vcl/proto.py: change both together (tests/vcl/test_proto.py compares them).
 *
 * Every request about a socket carries that socket's fd (SCM_RIGHTS): the engine identifies
 * the session by the fd's inode, and holding the fd is the proof that the caller may act on it.
 * Replies that create an fd (SOCKET, LISTEN) carry it the same way. */
#ifndef VPPSH_PROTO_H
#define VPPSH_PROTO_H
#include <stdint.h>

enum vl_op {
    VL_HELLO = 1,    /* a = pid, b = rx fifo, c = tx fifo, addr = segment size (bytes, 0: default),
                        data = app name                               -> a, b, c = the sizes granted */
    VL_SOCKET,       /* a = SOCK_STREAM | SOCK_DGRAM                 -> fd */
    VL_BIND,         /* addr, port                                    -> port */
    VL_LISTEN,       /* a = backlog                                   -> fd (unless already listening) */
    VL_CONNECT,      /* a = 1: AF_UNSPEC (UDP disconnect); addr, port -> EINPROGRESS | 0,
                        and an fd to put in the socket's place after a failed connect */
    VL_ACCEPTED,     /* the accepted fd, data = the token from its header */
    VL_NAME,         /* a = 0 sockname, 1 peername                    -> addr, port */
    VL_SETOPT,       /* a = level, b = name, data = value */
    VL_GETOPT,       /* a = level, b = name, c = optlen               -> data */
    VL_SHUTDOWN,     /* a = how; b = 1: sent again once the shim shut its end */
    VL_ABORT,        /* close with SO_LINGER {1, 0}: reset */
    VL_LOOKUP,       /*                                               -> a = kind (VL_K_*) , b = flags */
    VL_IOCTL,        /* a = request                                   -> a = value */
    VL_CLOSED,       /* no fd: a, b = low, high 32 bits of a closed listener's inode */
};

enum vl_kind { VL_K_NONE = 0, VL_K_TCP = 1, VL_K_LISTEN = 2, VL_K_UDP = 3 };
#define VL_F_CONNECTED 1  /* LOOKUP b: a UDP socket with a default peer, a TCP one connected once */

struct vl_msg {
    uint16_t op;
    uint16_t len;      /* bytes used in data[]; in an error reply, why (for LDP_DEBUG) */
    uint32_t seq;
    int32_t err;       /* reply: 0 or an errno */
    int32_t a, b, c;
    uint32_t addr;     /* IPv4 address, host byte order */
    uint16_t port;     /* host byte order */
    uint16_t fd;       /* request: the number of the fd it carries (0xffff: larger), where the
                          engine finds the app's end when it must show it a reset */
    uint8_t data[256];
};
#define VL_HDR_LEN 32

/* First bytes on each accepted connection: which session it is (a random token: only the
 * process that accepted the connection has read it), and who the peer is. */
struct vl_accept_hdr {
    uint8_t token[16];
    uint32_t rmt_addr;
    uint16_t rmt_port;
    uint16_t lcl_port;
    uint32_t lcl_addr;
};

/* Each UDP datagram on the socketpair (SOCK_SEQPACKET) starts with this. */
struct vl_dgram_hdr {
    uint32_t addr;     /* to (app -> engine; 0 = the connected peer) or from; VL_DGRAM_ERR: errno */
    uint16_t port;
    uint16_t flags;
};
#define VL_DGRAM_ERR 1 /* engine -> app: an ICMP error for a connected socket, reported once */
#endif
