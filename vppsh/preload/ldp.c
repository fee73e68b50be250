/* vppsh's preload shim: unmodified programs' AF_INET and AF_INET6 sockets on vppsh's host stack.
 *
 * Every TCP/UDP socket the program opens is one end of an AF_UNIX socketpair whose other end
 * the engine holds (a TCP listener: a listening AF_UNIX socket the engine connects to once
 * per accepted connection). The program's fd is a real kernel fd, so read/write, poll/select/
 * epoll, fork, dup and exec need no help; only the calls that name addresses, options or
 * state go to the engine, over one SOCK_SEQPACKET control connection per process.
 * UDP datagrams carry an 8-byte address header on the pair, so the UDP data calls are
 * intercepted too (for UDP fds only).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "proto.h"

#define EXPORT __attribute__((visibility("default")))
#define DEFAULT_API_SOCKET "/run/vppsh/api.sock"
#define MAX_DGRAM 65507  /* the most UDP over IPv4 carries (65535 - 20 - 8) */
#define MAX_DGRAM6 65527 /* over IPv6: the payload length holds UDP's header and data (no jumbograms) */
#define SIN6_LEN_RFC2133_ 24 /* the shortest sockaddr_in6 Linux takes (no sin6_scope_id) */

/* ------------------------------------------------------------------ libc */
static int (*libc_socket)(int, int, int);
static int (*libc_bind)(int, const struct sockaddr *, socklen_t);
static int (*libc_listen)(int, int);
static int (*libc_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*libc_connect)(int, const struct sockaddr *, socklen_t);
static int (*libc_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*libc_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*libc_getsockopt)(int, int, int, void *, socklen_t *);
static int (*libc_setsockopt)(int, int, int, const void *, socklen_t);
static int (*libc_shutdown)(int, int);
static int (*libc_close)(int);
static int (*libc_ioctl)(int, unsigned long, void *);
static int (*libc_fcntl)(int, int, void *);
static int (*libc_fcntl64)(int, int, void *);
static int (*libc_dup)(int);
static int (*libc_dup2)(int, int);
static int (*libc_dup3)(int, int, int);
static ssize_t (*libc_read)(int, void *, size_t);
static ssize_t (*libc_readv)(int, const struct iovec *, int);
static ssize_t (*libc_write)(int, const void *, size_t);
static ssize_t (*libc_writev)(int, const struct iovec *, int);
static ssize_t (*libc_recv)(int, void *, size_t, int);
static ssize_t (*libc_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*libc_recvmsg)(int, struct msghdr *, int);
static int (*libc_recvmmsg)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
static ssize_t (*libc_send)(int, const void *, size_t, int);
static ssize_t (*libc_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*libc_sendmsg)(int, const struct msghdr *, int);
static int (*libc_sendmmsg)(int, struct mmsghdr *, unsigned int, int);
static ssize_t (*libc_sendfile)(int, int, off_t *, size_t);
static ssize_t (*libc_sendfile64)(int, int, off64_t *, size_t);

static void *sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        char msg[128];
        int n = snprintf(msg, sizeof msg, "vppsh-ldp: libc has no %s\n", name);
        if (write(2, msg, n) < 0) { /* nothing more to say */ }
        _exit(127);
    }
    return p;
}

static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

static void bind_libc(void)
{
    libc_socket = sym("socket");
    libc_bind = sym("bind");
    libc_listen = sym("listen");
    libc_accept4 = sym("accept4");
    libc_connect = sym("connect");
    libc_getsockname = sym("getsockname");
    libc_getpeername = sym("getpeername");
    libc_getsockopt = sym("getsockopt");
    libc_setsockopt = sym("setsockopt");
    libc_shutdown = sym("shutdown");
    libc_close = sym("close");
    libc_ioctl = sym("ioctl");
    libc_fcntl = sym("fcntl");
    libc_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
    if (!libc_fcntl64)
        libc_fcntl64 = libc_fcntl;
    libc_dup = sym("dup");
    libc_dup2 = sym("dup2");
    libc_dup3 = sym("dup3");
    libc_read = sym("read");
    libc_readv = sym("readv");
    libc_write = sym("write");
    libc_writev = sym("writev");
    libc_recv = sym("recv");
    libc_recvfrom = sym("recvfrom");
    libc_recvmsg = sym("recvmsg");
    libc_recvmmsg = sym("recvmmsg");
    libc_send = sym("send");
    libc_sendto = sym("sendto");
    libc_sendmsg = sym("sendmsg");
    libc_sendmmsg = sym("sendmmsg");
    libc_sendfile = sym("sendfile");
    libc_sendfile64 = sym("sendfile64");
}

#define LIBC() pthread_once(&libc_once, bind_libc)

/* ------------------------------------------------------------------ config and logging */
static char api_path[108];
static int debug_level;
static uint32_t rx_fifo_size, tx_fifo_size, segment_size;
static int rpc_timeout_ms = 10000; /* vcl.conf app-timeout: how long a reply may take */
static char app_name[200];

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    char buf[512];
    int saved = errno;
    int n = snprintf(buf, sizeof buf, "ldp%d: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    if (write(2, buf, n) < 0) { /* stderr gone */ }
    errno = saved;
}

#define DBG(lvl, ...) do { if (debug_level >= (lvl)) logmsg(__VA_ARGS__); } while (0)

/* A size as vcl.conf writes it (1m, 0x100000); past 4 GB it stays at the most the protocol
 * carries, and the engine grants what it allows (and says so). */
static uint32_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    }
    if (v > (UINT32_MAX >> shift))
        return UINT32_MAX;
    return (uint32_t)(v << shift);
}

/* vcl.conf, VPP's format: a `vcl { ... }` stanza, one option per line, # comments. */
static void read_vcl_conf(const char *path)
{
    static const char *known[] = {
        "heapsize", "max-workers", "app-socket-api", "segment-size", "add-segment-size",
        "preallocated-fifo-pairs", "rx-fifo-size", "tx-fifo-size", "event-queue-size",
        "app-timeout", "session-timeout", "app-proxy-transport-tcp", "app-proxy-transport-udp",
        "app-scope-local", "app-scope-global", "huge_page", "use-mq-eventfd", "tls-engine",
        "multi-thread-workers", "app_original_dst", "namespace-secret", "namespace-id",
        "api-socket-name", "uid", "gid", NULL};
    FILE *f = fopen(path, "re");
    if (!f) {
        if (getenv("VCL_CONFIG"))
            logmsg("VCL_CONFIG %s: %s (using defaults)", path, strerror(errno));
        return;
    }
    char line[512], sapi[108] = "", bapi[108] = "";
    int in_vcl = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = 0;
        char key[64] = "", val[256] = "";
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '\n')
            continue;
        p[strcspn(p, "\r\n")] = 0;
        if (sscanf(p, "%63s %255s", key, val) < 1)
            continue;
        if (!in_vcl) {
            if (!strcmp(key, "vcl"))
                in_vcl = 1;
            continue;
        }
        if (!strcmp(key, "{"))
            continue;
        if (!strcmp(key, "}")) {
            in_vcl = 0;
            continue;
        }
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= !strcmp(key, known[i]);
        if (!ok) {
            logmsg("VCL<%d>: %s:%d: Unknown vppcom config option: '%s'", (int)getpid(), path, lineno, p);
            continue;
        }
        if (!strcmp(key, "rx-fifo-size"))
            rx_fifo_size = parse_size(val);
        else if (!strcmp(key, "tx-fifo-size"))
            tx_fifo_size = parse_size(val);
        else if (!strcmp(key, "segment-size"))
            segment_size = parse_size(val);
        else if (!strcmp(key, "app-timeout")) {
            double t = atof(val);
            rpc_timeout_ms = t > 0 && t < INT_MAX / 1000 ? (int)(t * 1000) : rpc_timeout_ms;
        }
        else if (!strcmp(key, "app-socket-api"))
            snprintf(sapi, sizeof sapi, "%s", val);
        else if (!strcmp(key, "api-socket-name"))
            snprintf(bapi, sizeof bapi, "%s", val);
    }
    fclose(f);
    if (sapi[0])
        snprintf(api_path, sizeof api_path, "%s", sapi);
    else if (bapi[0])
        snprintf(api_path, sizeof api_path, "%s", bapi);
}

static void read_config(void)
{
    const char *e;
    snprintf(api_path, sizeof api_path, "%s", DEFAULT_API_SOCKET);
    if ((e = getenv("LDP_DEBUG")))
        debug_level = atoi(e);
    e = getenv("VCL_CONFIG");
    read_vcl_conf(e ? e : "/etc/vpp/vcl.conf");
    if ((e = getenv("VCL_VPP_API_SOCKET")) && *e)
        snprintf(api_path, sizeof api_path, "%s", e);
    if ((e = getenv("VCL_VPP_SAPI_SOCKET")) && *e)
        snprintf(api_path, sizeof api_path, "%s", e);
    e = getenv("LDP_APP_NAME");
    snprintf(app_name, sizeof app_name, "%s", e && *e ? e : program_invocation_short_name);
}

/* ------------------------------------------------------------------ fd table */
struct fdent {
    uint8_t kind;       /* VL_K_*, or K_FOREIGN: checked, not ours */
    uint8_t linger0;    /* SO_LINGER {1, 0}: close resets */
    uint8_t connected;  /* UDP: has a default peer; TCP: connect() or accept() happened */
    uint8_t family;     /* AF_INET or AF_INET6: the sockaddrs it takes and gives */
    uint8_t v6only;     /* AF_INET6: IPV6_V6ONLY (a sendto() to IPv4 is ENETUNREACH) */
    ino_t ino;          /* the socket's inode when the entry was made: a reused fd differs */
};
#define K_FOREIGN 0xff

static struct fdent *fdtab;
static int fdtab_n;

static void fdtab_init(void)
{
    struct rlimit rl;
    long n = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max > n)
        n = rl.rlim_max;
    if (n > (1 << 20))
        n = 1 << 20;
    void *p = mmap(NULL, n * sizeof(struct fdent), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
        fdtab = p;
        fdtab_n = (int)n;
    }
}

static struct fdent *ent(int fd)
{
    return fd >= 0 && fd < fdtab_n ? &fdtab[fd] : NULL;
}

static void ent_set(int fd, int kind, ino_t ino, int family, int v6only)
{
    struct fdent *e = ent(fd);
    if (e) {
        memset(e, 0, sizeof *e);
        e->kind = kind;
        e->ino = ino;
        e->family = (uint8_t)family;
        e->v6only = (uint8_t)v6only;
    }
}

static void ent_copy(int from, int to)
{
    struct fdent *a = ent(from), *b = ent(to);
    if (b)
        *b = a ? *a : (struct fdent){0};
}

static ino_t fd_ino(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0;
    return st.st_ino;
}

/* ------------------------------------------------------------------ the control connection */
static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static int ctl_fd = -1;
static ino_t ctl_ino;
static pid_t ctl_pid;
static pid_t engine_pid;    /* the engine, as this process sees it (SO_PEERCRED) */
static uint32_t ctl_seq;
static uint32_t engine_caps; /* VL_CAP_*, from the HELLO reply */
static char hello_err[128]; /* why the engine refused us, for socket()'s message */

static void atfork_prepare(void) { pthread_mutex_lock(&ctl_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&ctl_mu); }
static int ctl_ensure(void);
static int watch_fd = -1;  /* the engine-death watcher's connection (see watch_main) */
static void watch_start_locked(void);

static void atfork_child(void)
{
    /* The child must not share the parent's control connection. It gets its own now, while
     * it still has the parent's credentials: daemons' workers (nginx) drop root right after
     * fork, and the API socket is the engine owner's only. */
    pthread_mutex_init(&ctl_mu, NULL);
    if (ctl_fd >= 0) {
        libc_close(ctl_fd);
        ctl_fd = -1;
        ctl_ensure();
    }
    if (watch_fd >= 0) { /* the parent's watcher did not come along: this process needs its own */
        libc_close(watch_fd);
        watch_fd = -1;
        watch_start_locked();
    }
}

static int ctl_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    if (!strncmp(api_path, "abstract:", 9)) {
        snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "%s", api_path + 9);
        len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(api_path + 9);
    } else {
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", api_path);
        len = sizeof sa;
    }
    int fd = libc_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (libc_connect(fd, (struct sockaddr *)&sa, len) < 0) {
        int e = errno;
        libc_close(fd);
        errno = e;
        return -1;
    }
    /* out of the way of programs that expect low fds, and of close-all-fds loops' first pass */
    struct rlimit rl;
    int base = 1000;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur <= base + 16)
        base = (int)rl.rlim_cur / 2;
    int high = libc_fcntl(fd, F_DUPFD_CLOEXEC, (void *)(long)base);
    if (high >= 0) {
        libc_close(fd);
        fd = high;
    }
    return fd;
}

static int xchg(struct vl_msg *req, int send_fd, struct vl_msg *rep, int *recv_fd);
static const char *opname(int op);

/* Caller holds ctl_mu. Opens (or re-opens, after fork or if the program closed it) the
 * control connection and says hello. */
static int ctl_ensure(void)
{
    pid_t pid = getpid();
    if (ctl_fd >= 0 && ctl_pid == pid) {
        struct stat st;
        if (fstat(ctl_fd, &st) == 0 && st.st_ino == ctl_ino)
            return 0;
        ctl_fd = -1; /* closed or replaced behind our back: never touch that fd again */
    }
    if (ctl_fd >= 0 && ctl_pid != pid)
        libc_close(ctl_fd); /* the parent's, inherited through fork */
    ctl_fd = -1;
    int fd = ctl_connect();
    if (fd < 0)
        return -1;
    struct stat st;
    fstat(fd, &st);
    ctl_fd = fd;
    ctl_ino = st.st_ino;
    ctl_pid = pid;
    struct ucred cr;
    socklen_t crl = sizeof cr;
    engine_pid = libc_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0 ? cr.pid : 0;
    struct vl_msg req = {.op = VL_HELLO, .a = pid, .b = (int32_t)rx_fifo_size, .c = (int32_t)tx_fifo_size,
                         .d = segment_size};
    req.len = (uint16_t)snprintf((char *)req.data, sizeof req.data, "%s", app_name);
    struct vl_msg rep;
    rep.err = 0;
    if (xchg(&req, -1, &rep, NULL) < 0 || rep.err) {
        int e = rep.err ? rep.err : errno;
        if (rep.err)
            snprintf(hello_err, sizeof hello_err, "%.*s", (int)(rep.len < sizeof rep.data ? rep.len : 0), rep.data);
        libc_close(ctl_fd);
        ctl_fd = -1;
        errno = e;
        return -1;
    }
    /* what vcl.conf asked for beyond the engine's bounds, said once, as VCL warns of its config */
    static pid_t warned;
    uint32_t asked[3] = {rx_fifo_size, tx_fifo_size, segment_size}, got[3] = {rep.a, rep.b, rep.c};
    static const char *what[3] = {"rx-fifo-size", "tx-fifo-size", "segment-size"};
    for (int i = 0; i < 3 && warned != pid; i++)
        if (asked[i] && got[i] && asked[i] != got[i])
            logmsg("VCL<%d>: configured %s %u (0x%x) is above vppsh's limit: using %u (0x%x)", (int)pid,
                   what[i], asked[i], asked[i], got[i], got[i]);
    warned = pid;
    engine_caps = rep.d;
    DBG(2, "attached to vppsh at %s as %s-ldp-%d", api_path, app_name, (int)pid);
    return 0;
}

/* One request/reply on the control connection (caller holds ctl_mu). */
static int xchg(struct vl_msg *req, int send_fd, struct vl_msg *rep, int *recv_fd)
{
    req->seq = ++ctl_seq;
    char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
    struct iovec iov = {req, VL_HDR_LEN + req->len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    req->fd = send_fd;
    if (send_fd >= 0) {
        memset(cbuf, 0, sizeof cbuf);
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &send_fd, sizeof(int));
    }
    ssize_t n;
    do
        n = libc_sendmsg(ctl_fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct iovec riov = {rep, sizeof *rep};
        struct msghdr rh = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        /* never wait for ever: an engine that stopped answering fails the call */
        struct pollfd p = {ctl_fd, POLLIN, 0};
        int r;
        do {
            clock_gettime(CLOCK_MONOTONIC, &t);
            long left = rpc_timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
            r = left > 0 ? poll(&p, 1, (int)left) : 0;
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
            logmsg("vppsh-ldp: vppsh at %s did not answer %s within %d ms", api_path, opname(req->op), rpc_timeout_ms);
            errno = ETIMEDOUT;
            return -1;
        }
        do
            n = libc_recvmsg(ctl_fd, &rh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        int got = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&rh); c; c = CMSG_NXTHDR(&rh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                memcpy(&got, CMSG_DATA(c), sizeof(int));
        if (n < VL_HDR_LEN || rep->seq != req->seq) {
            if (got >= 0)
                libc_close(got);
            continue; /* a stale reply: cannot happen with one request in flight, but be safe */
        }
        if (recv_fd)
            *recv_fd = got;
        else if (got >= 0)
            libc_close(got);
        return 0;
    }
}

/* Request/reply; 0 on transport success (rep->err holds the engine's errno), else -1 with
 * errno set. `quiet_fail` is for socket(): it reports an unreachable engine itself. */
static int rpc(struct vl_msg *req, int send_fd, struct vl_msg *rep, int *recv_fd)
{
    LIBC();
    int r;
    pthread_mutex_lock(&ctl_mu);
    r = ctl_ensure();
    if (r == 0) {
        r = xchg(req, send_fd, rep, recv_fd);
        if (r < 0) { /* the engine went away mid-call */
            int e = errno;
            libc_close(ctl_fd);
            ctl_fd = -1;
            errno = e;
        }
    }
    pthread_mutex_unlock(&ctl_mu);
    return r;
}

/* ------------------------------------------------------------------ the engine's death */
/* A program blocked in accept(), or in poll/epoll on a listener, would hear nothing when the
 * engine dies: the listening socket is the program's own, and nobody connects to it again. So a
 * thread per process that holds a listener waits on a connection of its own to the API socket;
 * when the engine is gone it shuts the process's listeners down, which wakes accept() (EINVAL,
 * as on a Linux listener shut down) and poll/epoll (POLLIN|POLLHUP) wherever they are shared. */
static pid_t watch_pid;
static volatile pid_t engine_gone; /* this process's watcher saw the engine go */

static void *watch_main(void *arg)
{
    struct pollfd p = {(int)(long)arg, 0, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
    int n = 0;
    engine_gone = getpid(); /* before the wake-up: the woken accept() asks */
    for (int fd = 0; fd < fdtab_n; fd++)
        if (fdtab[fd].kind == VL_K_LISTEN && fd_ino(fd) == fdtab[fd].ino && libc_shutdown(fd, SHUT_RDWR) == 0)
            n++;
    logmsg("vppsh-ldp: vppsh at %s went away: %d listener%s shut", api_path, n, n == 1 ? "" : "s");
    return NULL;
}

/* Caller holds ctl_mu, or is a forked child (one thread). One try per process. */
static void watch_start_locked(void)
{
    pid_t pid = getpid();
    if (watch_pid == pid)
        return;
    watch_pid = pid;
    int fd = ctl_connect();
    if (fd < 0)
        return;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 << 10);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals never land on it */
    pthread_t t;
    int r = pthread_create(&t, &a, watch_main, (void *)(long)fd);
    if (r == EINVAL) { /* the program's thread-local storage does not fit 64 KB (BIRD's: ~196 KB) */
        pthread_attr_setstacksize(&a, 1 << 20);
        r = pthread_create(&t, &a, watch_main, (void *)(long)fd);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (r) {
        libc_close(fd);
        DBG(1, "no thread to watch vppsh: %s", strerror(r));
        return;
    }
    watch_fd = fd;
}

static void watch_start(void)
{
    pthread_mutex_lock(&ctl_mu);
    watch_start_locked();
    pthread_mutex_unlock(&ctl_mu);
}

/* Was this accepted connection made by the engine? (Only it can name the listener, from a
 * network namespace of its own; this holds where it could not make one.) */
static int from_engine(int fd)
{
    struct ucred cr;
    socklen_t l = sizeof cr;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
        return 0;
    pthread_mutex_lock(&ctl_mu);
    int ok = ((ctl_fd >= 0 && ctl_pid == getpid()) || ctl_ensure() == 0) && cr.pid == engine_pid;
    pthread_mutex_unlock(&ctl_mu);
    return ok;
}

/* Is fd one of vppsh's sockets? Returns its VL_K_* kind; the answer is cached per inode. */
static int classify(int fd)
{
    ino_t ino = fd_ino(fd);
    if (!ino)
        return VL_K_NONE;
    struct fdent *e = ent(fd);
    if (e && e->ino == ino && e->kind)
        return e->kind == K_FOREIGN ? VL_K_NONE : e->kind;
    int dom = 0;
    socklen_t l = sizeof dom;
    int kind = VL_K_NONE, family = 0, flags = 0;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_UNIX) {
        struct vl_msg req = {.op = VL_LOOKUP}, rep;
        if (rpc(&req, fd, &rep, NULL) == 0 && !rep.err) {
            kind = rep.a;
            flags = rep.b;
            family = rep.c;
        }
    }
    ent_set(fd, kind ? kind : K_FOREIGN, ino, family, !!(flags & VL_F_V6ONLY));
    if (e)
        e->connected = !!(flags & VL_F_CONNECTED);
    return kind;
}

/* The fast check for the data calls: only fds we know as UDP pay for an fstat. */
static int is_udp(int fd)
{
    struct fdent *e = ent(fd);
    if (!e || e->kind != VL_K_UDP)
        return 0;
    if (fd_ino(fd) == e->ino)
        return 1;
    e->kind = 0;
    return classify(fd) == VL_K_UDP;
}

/* At start (after exec), learn which inherited fds are vppsh sockets. */
static void scan_inherited(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || fd == self)
            continue;
        int dom = 0;
        socklen_t l = sizeof dom;
        if (fd_ino(fd) && libc_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0 && dom == AF_UNIX &&
            classify(fd) == VL_K_LISTEN)
            watch_start();
    }
    closedir(d);
}

__attribute__((constructor)) static void ldp_init(void)
{
    LIBC();
    read_config();
    fdtab_init();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    if (access(api_path, F_OK) == 0 || !strncmp(api_path, "abstract:", 9))
        scan_inherited();
}

/* ------------------------------------------------------------------ helpers */
static int fail(int e)
{
    errno = e;
    return -1;
}

static int reply_err(const struct vl_msg *rep)
{
    if (rep->err) {
        errno = rep->err;
        return -1;
    }
    return 0;
}

/* Which call a sockaddr is for: Linux checks each differently. */
enum { A_BIND, A_CONNECT, A_SENDTO };

static int is_mapped(const uint8_t *a)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !memcmp(a, pfx, sizeof pfx);
}

/* A sockaddr the program gave for a socket of this family, as the protocol carries it, checked
 * as Linux checks it for this call (its length and family; what the address means is the
 * engine's to say). An AF_INET6 socket takes an IPv4 sockaddr in a UDP connect (unless
 * IPV6_V6ONLY) and sendto. sendto: an AF_UNSPEC address is none (family 0 in *a); an address
 * no route reaches is ENETUNREACH here, where Linux says so at once: IPv4 from a socket with
 * IPV6_V6ONLY, native IPv6 from an engine that carries no IPv6 datagrams (VL_CAP_IP6). */
static int get_addr(int family, int v6only, int call, int udp, const struct sockaddr *sa, socklen_t len,
                    struct vl_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!sa)
        return fail(EFAULT);
    if (len < sizeof(sa_family_t))
        return fail(EINVAL);
    if (family != AF_INET6) { /* as inet_bind, inet_stream_connect and udp_sendmsg */
        if (sa->sa_family != AF_INET)
            return fail(EAFNOSUPPORT);
        if (len < sizeof(struct sockaddr_in))
            return fail(EINVAL);
    } else if (sa->sa_family == AF_INET && ((call == A_CONNECT && udp) || call == A_SENDTO)) {
        if (v6only) /* ip6_datagram_connect: EAFNOSUPPORT; udpv6_sendmsg: ENETUNREACH */
            return fail(call == A_SENDTO ? ENETUNREACH : EAFNOSUPPORT);
        if (len < sizeof(struct sockaddr_in))
            return fail(EINVAL);
    } else if (call == A_SENDTO && sa->sa_family == AF_UNSPEC) {
        return 0;
    } else { /* inet6_bind, tcp_v6_connect, ip6_datagram_connect, udpv6_sendmsg */
        if (sa->sa_family == AF_INET6 || call != A_SENDTO) {
            if (len < SIN6_LEN_RFC2133_)
                return fail(EINVAL);
        }
        if (sa->sa_family != AF_INET6)
            return fail(call == A_SENDTO ? EINVAL : EAFNOSUPPORT);
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = AF_INET;
        a->port = ntohs(in->sin_port);
        memcpy(a->addr, &in->sin_addr, 4);
        return 0;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    a->family = AF_INET6;
    a->port = ntohs(in6->sin6_port);
    a->scope_id = len >= sizeof *in6 ? in6->sin6_scope_id : 0;
    memcpy(a->addr, &in6->sin6_addr, 16);
    if (call == A_SENDTO && is_mapped(a->addr) && v6only)
        return fail(ENETUNREACH);
    if (call == A_SENDTO && !is_mapped(a->addr)) {
        if (!a->port) /* udpv6_sendmsg looks at the port before it routes */
            return fail(EINVAL);
        if (!(engine_caps & VL_CAP_IP6)) {
            DBG(1, "sendto(): vppsh routes no IPv6");
            return fail(ENETUNREACH);
        }
    }
    return 0;
}

/* An address the engine gave, as a sockaddr of its family (the socket's: the engine sees to
 * that): *len says how much the program's buffer holds, and becomes the address's length. */
static void put_addr(struct sockaddr *sa, socklen_t *len, const struct vl_addr *a)
{
    if (!sa || !len)
        return;
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
    socklen_t n;
    memset(&u, 0, sizeof u);
    if (a->family == AF_INET6) {
        u.in6.sin6_family = AF_INET6;
        u.in6.sin6_port = htons(a->port);
        u.in6.sin6_scope_id = a->scope_id;
        memcpy(&u.in6.sin6_addr, a->addr, 16);
        n = sizeof u.in6;
    } else {
        u.in.sin_family = AF_INET;
        u.in.sin_port = htons(a->port);
        memcpy(&u.in.sin_addr, a->addr, 4);
        n = sizeof u.in;
    }
    memcpy(sa, &u, *len < n ? *len : n);
    *len = n;
}

/* An address the engine gave as IPv4 (a mapped one too), network byte order. */
static uint32_t addr_v4(const struct vl_addr *a)
{
    uint32_t v;
    memcpy(&v, a->family == AF_INET6 ? a->addr + 12 : a->addr, 4);
    return v;
}

static const char *opname(int op)
{
    static const char *n[] = {"?", "hello", "socket", "bind", "listen", "connect", "accepted", "name",
                              "setsockopt", "getsockopt", "shutdown", "abort", "lookup", "ioctl", "closed"};
    return op > 0 && op <= VL_CLOSED ? n[op] : "?";
}

/* A request about fd; returns -1/errno for the caller to return as is. */
static int sock_rpc(int fd, struct vl_msg *req, struct vl_msg *rep, int *recv_fd)
{
    if (rpc(req, fd, rep, recv_fd) < 0) {
        DBG(1, "%s(%d): vppsh unreachable: %s", opname(req->op), fd, strerror(errno));
        return fail(ENETDOWN);
    }
    DBG(1, "%s(%d) = %s%s%.*s", opname(req->op), fd, rep->err ? strerror(rep->err) : "ok",
        rep->err && rep->len ? ": vppsh: " : "", rep->err ? (int)(rep->len < sizeof rep->data ? rep->len : 0) : 0,
        (const char *)rep->data);
    return reply_err(rep);
}

/* ------------------------------------------------------------------ socket calls */
EXPORT int socket(int domain, int type, int protocol)
{
    LIBC();
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if ((domain != AF_INET && domain != AF_INET6) || (base != SOCK_STREAM && base != SOCK_DGRAM))
        return libc_socket(domain, type, protocol);
    if (protocol && !(base == SOCK_STREAM && protocol == IPPROTO_TCP) &&
        !(base == SOCK_DGRAM && protocol == IPPROTO_UDP))
        return fail(EPROTONOSUPPORT);
    struct vl_msg req = {.op = VL_SOCKET, .a = base, .b = domain}, rep;
    int fd = -1;
    if (rpc(&req, -1, &rep, &fd) < 0) {
        int e = errno;
        if (hello_err[0])
            logmsg("vppsh-ldp: vppsh at %s refused the app: %s", api_path, hello_err);
        else
            logmsg("vppsh-ldp: cannot reach vppsh at %s: %s", api_path, strerror(e));
        return fail(e);
    }
    if (rep.err || fd < 0) {
        DBG(1, "socket() = %s%s%.*s", strerror(rep.err ? rep.err : EMFILE), rep.err && rep.len ? ": vppsh: " : "",
            rep.err ? (int)(rep.len < sizeof rep.data ? rep.len : 0) : 0, (const char *)rep.data);
        return fail(rep.err ? rep.err : EMFILE);
    }
    if (!(type & SOCK_CLOEXEC))
        libc_fcntl(fd, F_SETFD, (void *)0L);
    if (type & SOCK_NONBLOCK)
        libc_fcntl(fd, F_SETFL, (void *)(long)(libc_fcntl(fd, F_GETFL, NULL) | O_NONBLOCK));
    ent_set(fd, base == SOCK_STREAM ? VL_K_TCP : VL_K_UDP, fd_ino(fd), domain, 0);
    DBG(1, "socket(%s, %s) = %d", domain == AF_INET6 ? "AF_INET6" : "AF_INET",
        base == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM", fd);
    return fd;
}

EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
    static int (*libc_socketpair)(int, int, int, int *);
    if (!libc_socketpair)
        libc_socketpair = sym("socketpair");
    if (domain == AF_INET || domain == AF_INET6)
        return fail(EOPNOTSUPP); /* as the kernel says for TCP/UDP */
    return libc_socketpair(domain, type, protocol, sv);
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    LIBC();
    if (!classify(fd))
        return libc_bind(fd, sa, len);
    struct vl_msg req = {.op = VL_BIND}, rep;
    struct fdent *e = ent(fd);
    if (get_addr(e ? e->family : AF_INET, e && e->v6only, A_BIND, 0, sa, len, &req.addr) < 0)
        return -1;
    return sock_rpc(fd, &req, &rep, NULL);
}

/* The engine's new socket takes over fd's number, keeping the fd's flags (listen: the listening
 * AF_UNIX socket; connect after a failed one: a fresh socketpair end). */
static int take_over(int fd, int nfd, int kind)
{
    int fl = libc_fcntl(fd, F_GETFL, NULL), fdfl = libc_fcntl(fd, F_GETFD, NULL);
    struct fdent *e = ent(fd);
    int family = e ? e->family : AF_INET, v6only = e && e->v6only;
    if (dup3(nfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
        int e = errno;
        libc_close(nfd);
        return fail(e);
    }
    libc_close(nfd);
    if (fl & O_NONBLOCK)
        libc_fcntl(fd, F_SETFL, (void *)(long)(libc_fcntl(fd, F_GETFL, NULL) | O_NONBLOCK));
    ent_set(fd, kind, fd_ino(fd), family, v6only);
    return 0;
}

EXPORT int listen(int fd, int backlog)
{
    LIBC();
    int kind = classify(fd);
    if (!kind)
        return libc_listen(fd, backlog);
    if (kind == VL_K_UDP)
        return fail(EOPNOTSUPP);
    struct vl_msg req = {.op = VL_LISTEN, .a = backlog}, rep;
    int lfd = -1;
    if (sock_rpc(fd, &req, &rep, &lfd) < 0)
        return -1;
    if (lfd < 0) /* already listening: the backlog changed */
        return 0;
    if (take_over(fd, lfd, VL_K_LISTEN) < 0)
        return -1;
    watch_start();
    return 0;
}

/* Read the header the engine wrote first on an accepted connection (it follows at once). */
static int read_accept_hdr(int fd, struct vl_accept_hdr *h)
{
    size_t got = 0;
    while (got < sizeof *h) {
        ssize_t n = libc_recv(fd, (char *)h + got, sizeof *h - got, MSG_DONTWAIT);
        if (n > 0) {
            got += n;
            continue;
        }
        if (n == 0)
            return fail(ECONNABORTED);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) == 0)
            return fail(ECONNABORTED);
    }
    return 0;
}

EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    LIBC();
    int kind = classify(fd);
    if (kind == VL_K_UDP)
        return fail(EOPNOTSUPP);
    if (kind != VL_K_LISTEN)
        return libc_accept4(fd, sa, len, flags);
    struct fdent *le = ent(fd);
    int family = le ? le->family : AF_INET, v6only = le && le->v6only;
    for (;;) {
        int nfd = libc_accept4(fd, NULL, NULL, flags);
        if (nfd < 0 && errno == EAGAIN && engine_gone == getpid())
            return fail(EINVAL); /* a listener that stopped listening, as Linux says (not EAGAIN) */
        if (nfd < 0)
            return -1;
        struct vl_accept_hdr h;
        struct vl_msg req = {.op = VL_ACCEPTED, .len = sizeof h.token}, rep;
        if (!from_engine(nfd))
            DBG(1, "accept(%d): a connection not from vppsh, dropped", fd);
        else if (read_accept_hdr(nfd, &h) == 0) {
            memcpy(req.data, h.token, sizeof h.token);
            if (sock_rpc(nfd, &req, &rep, NULL) == 0) {
                ent_set(nfd, VL_K_TCP, fd_ino(nfd), family, v6only);
                if (ent(nfd))
                    ent(nfd)->connected = 1;
                put_addr(sa, len, &h.rmt);
                DBG(1, "accept(%d) = %d", fd, nfd);
                return nfd;
            }
        }
        /* the connection died before it was accepted: as the kernel, try the next one */
        libc_close(nfd);
        if (flags & SOCK_NONBLOCK || (libc_fcntl(fd, F_GETFL, NULL) & O_NONBLOCK))
            return fail(EAGAIN);
    }
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return accept4(fd, sa, len, 0);
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    LIBC();
    int kind = classify(fd);
    if (!kind)
        return libc_connect(fd, sa, len);
    struct vl_msg req = {.op = VL_CONNECT}, rep;
    struct fdent *fe = ent(fd);
    if (kind == VL_K_UDP && sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC)
        req.addr.family = AF_UNSPEC; /* dissolve the association */
    else if (get_addr(fe ? fe->family : AF_INET, fe && fe->v6only, A_CONNECT, kind == VL_K_UDP, sa, len,
                      &req.addr) < 0)
        return -1;
    if (kind == VL_K_LISTEN)
        return fail(EISCONN);
    int nfd = -1;
    int r = sock_rpc(fd, &req, &rep, &nfd), e = errno;
    if (nfd >= 0 && take_over(fd, nfd, VL_K_TCP) < 0) /* a new try after a failed connect */
        return -1;
    errno = e;
    struct fdent *en = ent(fd);
    if (en && kind == VL_K_TCP && (r == 0 || errno == EINPROGRESS))
        en->connected = 1; /* from here the pair's answers are TCP's */
    if (r == 0) {
        if (en && kind == VL_K_UDP)
            en->connected = req.addr.family != AF_UNSPEC;
        return 0;
    }
    if (errno != EINPROGRESS || (libc_fcntl(fd, F_GETFL, NULL) & O_NONBLOCK))
        return -1;
    /* blocking connect: the fd turns writable when the handshake is over (or failed) */
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, -1) < 0)
        return -1; /* EINTR, as the kernel: the connect goes on (EALREADY if repeated) */
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return -1;
    /* the engine hears this connect() saw the result: the next one is EISCONN, or a new try */
    sock_rpc(fd, &req, &rep, NULL);
    return err ? fail(err) : 0;
}

static int name_call(int fd, struct sockaddr *sa, socklen_t *len, int peer)
{
    struct vl_msg req = {.op = VL_NAME, .a = peer}, rep;
    if (!len)
        return fail(EFAULT);
    if (sock_rpc(fd, &req, &rep, NULL) < 0)
        return -1;
    put_addr(sa, len, &rep.addr);
    return 0;
}

EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    LIBC();
    return classify(fd) ? name_call(fd, sa, len, 0) : libc_getsockname(fd, sa, len);
}

EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    LIBC();
    return classify(fd) ? name_call(fd, sa, len, 1) : libc_getpeername(fd, sa, len);
}

EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    LIBC();
    if (!classify(fd))
        return libc_setsockopt(fd, level, name, val, len);
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_RCVTIMEO_NEW ||
                                name == SO_SNDTIMEO_NEW))
        return libc_setsockopt(fd, level, name, val, len); /* timeouts of the fd's own calls */
    struct vl_msg req = {.op = VL_SETOPT, .a = level, .b = name}, rep;
    if (len > sizeof req.data)
        return fail(EINVAL);
    if (len && !val)
        return fail(EFAULT);
    memcpy(req.data, val, len);
    req.len = len;
    if (sock_rpc(fd, &req, &rep, NULL) < 0)
        return -1;
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && len >= sizeof(int) && ent(fd))
        ent(fd)->v6only = *(const int *)val != 0;
    if (level == SOL_SOCKET && name == SO_LINGER && len >= sizeof(struct linger)) {
        const struct linger *lg = val;
        struct fdent *e = ent(fd);
        if (e)
            e->linger0 = lg->l_onoff && !lg->l_linger;
    }
    return 0;
}

/* A UDP socket's pending ICMP error is the message at the head of its pair: SO_ERROR takes it
 * there, as Linux's clears sk_err (then recv() finds no error). 0 if there is none. A recv() on
 * another thread between the peek and the read takes the error itself, and this read then drops
 * the datagram behind it: a race Linux does not have, and a datagram lost to it. */
static int udp_take_error(int fd)
{
    struct vl_dgram_hdr h;
    if (libc_recv(fd, &h, sizeof h, MSG_PEEK | MSG_DONTWAIT) != (ssize_t)sizeof h || !(h.flags & VL_DG_ERR))
        return 0;
    if (libc_recv(fd, &h, sizeof h, MSG_DONTWAIT) != (ssize_t)sizeof h || !(h.flags & VL_DG_ERR))
        return 0;
    return h.err;
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    LIBC();
    int kind = classify(fd);
    if (!kind)
        return libc_getsockopt(fd, level, name, val, len);
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_RCVTIMEO_NEW ||
                                name == SO_SNDTIMEO_NEW))
        return libc_getsockopt(fd, level, name, val, len);
    if (!len || (*len && !val))
        return fail(EFAULT);
    if ((int)*len < 0)
        return fail(EINVAL);
    struct vl_msg req = {.op = VL_GETOPT, .a = level, .b = name, .c = (int32_t)*len}, rep;
    if (level == SOL_SOCKET && name == SO_ERROR && kind == VL_K_UDP) {
        int e = udp_take_error(fd);
        if (e) {
            socklen_t n = *len < sizeof e ? *len : sizeof e;
            memcpy(val, &e, n);
            *len = n;
            return 0;
        }
    } else if (level == SOL_SOCKET && name == SO_ERROR) {
        /* reading it clears the AF_UNIX end's too; the engine hears whether that still held a
         * reset (else a recv() already reported it) */
        int e = 0;
        socklen_t el = sizeof e;
        libc_getsockopt(fd, level, name, &e, &el);
        req.d = (uint32_t)e;
    }
    if (sock_rpc(fd, &req, &rep, NULL) < 0)
        return -1;
    socklen_t n = rep.len < *len ? rep.len : *len;
    memcpy(val, rep.data, n);
    *len = n;
    return 0;
}

EXPORT int shutdown(int fd, int how)
{
    LIBC();
    int kind = classify(fd);
    if (!kind)
        return libc_shutdown(fd, how);
    struct vl_msg req = {.op = VL_SHUTDOWN, .a = how}, rep;
    if (how < SHUT_RD || how > SHUT_RDWR)
        return fail(EINVAL);
    if (sock_rpc(fd, &req, &rep, NULL) < 0)
        return -1;
    if (kind != VL_K_TCP)
        return 0;
    /* the data path says it natively: EOF on the engine's end is our FIN; the engine reads it
     * now, so the FIN is on its way (and TCP_INFO says so) when we return */
    if (libc_shutdown(fd, how) < 0)
        return -1;
    if (how != SHUT_RD) {
        req.b = 1;
        sock_rpc(fd, &req, &rep, NULL);
    }
    return 0;
}

EXPORT int close(int fd)
{
    LIBC();
    if ((fd == ctl_fd && ctl_fd >= 0 && ctl_pid == getpid()) || (fd == watch_fd && watch_fd >= 0 && watch_pid == getpid()))
        return fail(EBADF); /* the shim's own: invisible to close-all-fds loops */
    struct fdent *e = ent(fd);
    if (e && e->kind && e->kind != K_FOREIGN) {
        if (e->linger0 && fd_ino(fd) == e->ino) {
            struct vl_msg req = {.op = VL_ABORT}, rep;
            sock_rpc(fd, &req, &rep, NULL);
        }
        DBG(2, "close(%d)", fd);
    }
    int listener = e && e->kind == VL_K_LISTEN;
    ino_t ino = listener ? e->ino : 0;
    if (e)
        e->kind = 0;
    int r = libc_close(fd);
    if (listener && r == 0) { /* if that was its last fd, the engine stops listening now */
        struct vl_msg req = {.op = VL_CLOSED}, rep;
        req.a = (int32_t)(uint32_t)ino;
        req.b = (int32_t)(uint32_t)((uint64_t)ino >> 32);
        rpc(&req, -1, &rep, NULL);
    }
    return r;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
    LIBC();
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (req != SIOCOUTQ && req != SIOCOUTQNSD && req != FIONREAD)
        return libc_ioctl(fd, req, arg);
    int kind = classify(fd);
    if (!kind)
        return libc_ioctl(fd, req, arg);
    if (req == FIONREAD && kind == VL_K_UDP) { /* the next datagram's payload */
        int v = 0;
        if (libc_ioctl(fd, FIONREAD, &v) < 0)
            return -1;
        *(int *)arg = v >= (int)sizeof(struct vl_dgram_hdr) ? v - (int)sizeof(struct vl_dgram_hdr) : 0;
        return 0;
    }
    if (req == FIONREAD)
        return libc_ioctl(fd, req, arg);
    struct vl_msg m = {.op = VL_IOCTL, .a = (int32_t)req}, rep;
    if (sock_rpc(fd, &m, &rep, NULL) < 0)
        return -1;
    *(int *)arg = rep.a;
    return 0;
}

/* fcntl/dup: native, plus the table entry follows the new fd number. */
static int fcntl_common(int (*real)(int, int, void *), int fd, int cmd, void *arg)
{
    int r = real(fd, cmd, arg);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        ent_copy(fd, r);
    return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
    LIBC();
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(libc_fcntl, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
    LIBC();
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(libc_fcntl64, fd, cmd, arg);
}

EXPORT int dup(int fd)
{
    LIBC();
    int r = libc_dup(fd);
    if (r >= 0)
        ent_copy(fd, r);
    return r;
}

EXPORT int dup2(int fd, int fd2)
{
    LIBC();
    if (fd2 == ctl_fd && ctl_fd >= 0 && ctl_pid == getpid() && fd != fd2) {
        /* the program wants our control fd's number: move the connection out of the way */
        pthread_mutex_lock(&ctl_mu);
        int moved = libc_fcntl(ctl_fd, F_DUPFD_CLOEXEC, (void *)(long)(ctl_fd + 1));
        if (moved >= 0)
            ctl_fd = moved;
        pthread_mutex_unlock(&ctl_mu);
    }
    int r = libc_dup2(fd, fd2);
    if (r >= 0 && fd != fd2)
        ent_copy(fd, r);
    return r;
}

EXPORT int dup3(int fd, int fd2, int flags)
{
    LIBC();
    if (fd2 == ctl_fd && ctl_fd >= 0 && ctl_pid == getpid() && fd != fd2) {
        pthread_mutex_lock(&ctl_mu);
        int moved = libc_fcntl(ctl_fd, F_DUPFD_CLOEXEC, (void *)(long)(ctl_fd + 1));
        if (moved >= 0)
            ctl_fd = moved;
        pthread_mutex_unlock(&ctl_mu);
    }
    int r = libc_dup3(fd, fd2, flags);
    if (r >= 0)
        ent_copy(fd, r);
    return r;
}

/* ------------------------------------------------------------------ UDP data */
/* The source a sendmsg() asks for in its cmsgs (IP_PKTINFO; IPV6_PKTINFO on an AF_INET6
 * socket), as Linux's ip_cmsg_send takes them for IPv4 traffic: an IPV6_PKTINFO address must be
 * IPv4-mapped there. to_v4: the destination is IPv4 (-1: the connected peer's, whichever). */
static int udp_src(const struct msghdr *mh, int family, int to_v4, struct vl_addr *src)
{
    if (!mh || !mh->msg_control || mh->msg_controllen < sizeof(struct cmsghdr))
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c; c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO && to_v4) {
            struct in_pktinfo pi;
            if (c->cmsg_len < CMSG_LEN(sizeof pi))
                return fail(EINVAL);
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            memset(src, 0, sizeof *src);
            if (pi.ipi_spec_dst.s_addr) {
                src->family = AF_INET;
                memcpy(src->addr, &pi.ipi_spec_dst, 4);
            }
        } else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO && family == AF_INET6) {
            struct in6_pktinfo pi;
            if (c->cmsg_len < CMSG_LEN(sizeof pi))
                return fail(EINVAL);
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            const uint8_t *a = (const uint8_t *)&pi.ipi6_addr;
            memset(src, 0, sizeof *src);
            if (is_mapped(a)) {
                src->family = AF_INET;
                memcpy(src->addr, a + 12, 4);
                if (!addr_v4(src))
                    src->family = 0;
            } else if (to_v4 == 1) {
                return fail(EINVAL);
            } else if (memcmp(a, (const uint8_t[16]){0}, 16)) { /* native IPv6: the engine's to judge */
                src->family = AF_INET6;
                memcpy(src->addr, a, 16);
            }
        }
    }
    return 0;
}

static ssize_t udp_send(int fd, const struct iovec *iov, int iovcnt, int flags,
                        const struct sockaddr *to, socklen_t tolen, const struct msghdr *ctl)
{
    struct vl_dgram_hdr h;
    memset(&h, 0, sizeof h);
    struct fdent *e = ent(fd);
    int family = e && e->family ? e->family : AF_INET;
    if (to) {
        if (get_addr(family, e && e->v6only, A_SENDTO, 1, to, tolen, &h.rmt) < 0)
            return -1;
    }
    int v4 = h.rmt.family == AF_INET || (h.rmt.family == AF_INET6 && is_mapped(h.rmt.addr));
    if (v4 && (!addr_v4(&h.rmt) || !h.rmt.port))
        return fail(EINVAL);
    if (!h.rmt.family && e && !e->connected)
        return fail(EDESTADDRREQ);
    if (udp_src(ctl, family, h.rmt.family ? v4 : -1, &h.lcl) < 0)
        return -1;
    if (iovcnt < 0 || iovcnt > IOV_MAX - 1)
        return fail(EINVAL);
    struct iovec v[IOV_MAX];
    size_t total = 0;
    v[0].iov_base = &h;
    v[0].iov_len = sizeof h;
    for (int i = 0; i < iovcnt; i++) {
        v[i + 1] = iov[i];
        total += iov[i].iov_len;
    }
    /* IPv4 (mapped too) carries less than IPv6; a connected socket's peer family is the engine's
     * to know: it refuses an IPv4 one past MAX_DGRAM */
    int v6 = h.rmt.family ? !v4 : family == AF_INET6;
    if (total > (v6 ? MAX_DGRAM6 : MAX_DGRAM))
        return fail(EMSGSIZE);
    struct msghdr mh = {.msg_iov = v, .msg_iovlen = iovcnt + 1};
    ssize_t n = libc_sendmsg(fd, &mh, (flags & MSG_DONTWAIT) | MSG_NOSIGNAL);
    if (n < 0)
        return errno == EPIPE ? fail(ECONNREFUSED) : -1;
    return n - (ssize_t)sizeof h;
}

/* Linux's put_cmsg: as much of it as the program's buffer holds (MSG_CTRUNC if not all). */
static void put_cmsg(struct msghdr *mh, size_t *used, int level, int type, const void *data, size_t n,
                     int *mflags)
{
    size_t room = mh->msg_control && mh->msg_controllen > *used ? mh->msg_controllen - *used : 0;
    size_t cmlen = CMSG_LEN(n);
    if (room < sizeof(struct cmsghdr)) {
        *mflags |= MSG_CTRUNC;
        return;
    }
    if (room < cmlen) {
        *mflags |= MSG_CTRUNC;
        cmlen = room;
    }
    struct cmsghdr c = {.cmsg_len = cmlen, .cmsg_level = level, .cmsg_type = type};
    char *p = (char *)mh->msg_control + *used;
    memcpy(p, &c, sizeof c);
    memcpy(p + CMSG_LEN(0), data, cmlen - CMSG_LEN(0));
    *used += CMSG_SPACE(n) < room ? CMSG_SPACE(n) : room;
}

/* The cmsgs the socket asked for (the engine says which in the header), in Linux's order:
 * udpv6_recvmsg gives IPV6_PKTINFO before the IPv4 ones. */
static void udp_cmsgs(struct msghdr *mh, const struct vl_dgram_hdr *h, int *mflags)
{
    size_t used = 0;
    if (h->flags & VL_DG_PKTINFO6) {
        struct in6_pktinfo pi;
        memset(&pi, 0, sizeof pi);
        if (h->lcl.family == AF_INET6) {
            memcpy(&pi.ipi6_addr, h->lcl.addr, 16);
        } else { /* (the engine writes the socket's family: not reached) */
            pi.ipi6_addr.s6_addr[10] = pi.ipi6_addr.s6_addr[11] = 0xff;
            memcpy(pi.ipi6_addr.s6_addr + 12, h->lcl.addr, 4);
        }
        pi.ipi6_ifindex = h->ifindex;
        put_cmsg(mh, &used, SOL_IPV6, IPV6_PKTINFO, &pi, sizeof pi, mflags);
    }
    if (h->flags & VL_DG_PKTINFO) {
        struct in_pktinfo pi = {.ipi_ifindex = h->ifindex};
        pi.ipi_spec_dst.s_addr = pi.ipi_addr.s_addr = addr_v4(&h->lcl);
        put_cmsg(mh, &used, SOL_IP, IP_PKTINFO, &pi, sizeof pi, mflags);
    }
    mh->msg_controllen = used;
}

/* ctl: recvmsg()'s msghdr, where the cmsgs go (NULL: nowhere) */
static ssize_t udp_recv(int fd, const struct iovec *iov, int iovcnt, int flags,
                        struct sockaddr *from, socklen_t *fromlen, struct msghdr *ctl, int *msg_flags)
{
    struct vl_dgram_hdr h;
    if (iovcnt < 0 || iovcnt > IOV_MAX - 1)
        return fail(EINVAL);
    struct iovec v[IOV_MAX];
    v[0].iov_base = &h;
    v[0].iov_len = sizeof h;
    for (int i = 0; i < iovcnt; i++)
        v[i + 1] = iov[i];
    struct msghdr mh = {.msg_iov = v, .msg_iovlen = iovcnt + 1};
    ssize_t n = libc_recvmsg(fd, &mh, flags & (MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_WAITALL));
    if (n < 0)
        return -1;
    if (n < (ssize_t)sizeof h) { /* the engine closed its end */
        if (fromlen)
            *fromlen = 0;
        if (ctl)
            ctl->msg_controllen = 0;
        return 0;
    }
    if (h.flags & VL_DG_ERR) { /* an ICMP error: recv() reports it, and it is gone */
        if (flags & MSG_PEEK)
            libc_recv(fd, &h, sizeof h, MSG_DONTWAIT);
        return fail(h.err);
    }
    int mf = mh.msg_flags & MSG_TRUNC;
    put_addr(from, fromlen, &h.rmt);
    if (ctl)
        udp_cmsgs(ctl, &h, &mf);
    if (msg_flags)
        *msg_flags = mf;
    return n - (ssize_t)sizeof h;
}

/* ------------------------------------------------------------------ TCP data calls
 * The socketpair answers them, except where its answer is not TCP's: an fd never connected
 * (ENOTCONN; EPIPE where the pair would take the bytes or block), and the first error after a
 * reset (the engine's ECONNREFUSED, ETIMEDOUT or ECONNRESET, where the pair only knows
 * ECONNRESET, or EPIPE with a SIGPIPE TCP would not send). The common path costs one look at
 * the fd table. */
static struct fdent *tcp_ent(int fd)
{
    struct fdent *e = ent(fd);
    return e && e->kind == VL_K_TCP ? e : NULL;
}

static int tcp_unconnected(struct fdent *e, int fd)
{
    return !e->connected && fd_ino(fd) == e->ino;
}

/* The engine's error for a reset socket, once; 0 if it was reported already. unix_err: what
 * the AF_UNIX end still held (0: a recv took it). */
static int engine_error(int fd, int unix_err)
{
    struct vl_msg req = {.op = VL_GETOPT, .a = SOL_SOCKET, .b = SO_ERROR, .c = sizeof(int),
                         .d = (uint32_t)unix_err}, rep;
    int v = 0;
    if (rpc(&req, fd, &rep, NULL) < 0 || rep.err || rep.len < sizeof v)
        return 0;
    memcpy(&v, rep.data, sizeof v);
    return v;
}

static ssize_t tcp_rx_done(int fd, ssize_t r)
{
    if (r >= 0 || errno != ECONNRESET)
        return r;
    int e = engine_error(fd, ECONNRESET);
    if (e == EPIPE)
        return 0; /* reset in CLOSE_WAIT: reads see the FIN's EOF, as Linux */
    return fail(e ? e : ECONNRESET);
}

/* ue: the error the AF_UNIX end held (its SO_ERROR, now read), 0 if none */
static ssize_t tcp_tx_error(int fd, int ue, int flags)
{
    int e = ue ? engine_error(fd, ue) : 0;
    if (!e)
        e = EPIPE;
    if (e == EPIPE && !(flags & MSG_NOSIGNAL))
        raise(SIGPIPE);
    return fail(e);
}

static ssize_t tcp_tx_fail(int fd, int flags)
{
    int ue = 0;
    socklen_t l = sizeof ue;
    if (fd >= 0)
        libc_getsockopt(fd, SOL_SOCKET, SO_ERROR, &ue, &l);
    return tcp_tx_error(fd, ue, flags);
}

/* sendfile has no MSG_NOSIGNAL: after a reset the pair would say EPIPE (and SIGPIPE) where TCP
 * says ECONNRESET first, so a pending error is taken before the copy. -1: failed, errno set. */
static int tcp_sendfile_check(int fd)
{
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return 0;
    if (tcp_unconnected(e, fd))
        return (int)tcp_tx_fail(-1, 0);
    int ue = 0;
    socklen_t l = sizeof ue;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_ERROR, &ue, &l) < 0 || !ue)
        return 0;
    return (int)tcp_tx_error(fd, ue, 0);
}

/* sends go out with MSG_NOSIGNAL: the SIGPIPE, if any, is ours to raise */
static ssize_t tcp_tx_done(int fd, ssize_t r, int flags)
{
    if (r >= 0 || errno != EPIPE)
        return r;
    return tcp_tx_fail(fd, flags);
}

static ssize_t tcp_recvmsg(struct fdent *e, int fd, struct msghdr *mh, int flags)
{
    if (tcp_unconnected(e, fd))
        return fail(ENOTCONN);
    return tcp_rx_done(fd, libc_recvmsg(fd, mh, flags));
}

static ssize_t tcp_sendmsg(struct fdent *e, int fd, const struct msghdr *mh, int flags)
{
    if (tcp_unconnected(e, fd))
        return tcp_tx_fail(-1, flags);
    /* no address and no ancillary data reach the engine's end (never SCM_RIGHTS) */
    struct msghdr m = {.msg_iov = mh->msg_iov, .msg_iovlen = mh->msg_iovlen};
    return tcp_tx_done(fd, libc_sendmsg(fd, &m, flags | MSG_NOSIGNAL), flags);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    LIBC();
    struct iovec v = {buf, n};
    if (is_udp(fd))
        return udp_recv(fd, &v, 1, 0, NULL, NULL, NULL, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_read(fd, buf, n);
    if (tcp_unconnected(e, fd))
        return fail(ENOTCONN);
    return tcp_rx_done(fd, libc_read(fd, buf, n));
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    (void)buflen;
    return read(fd, buf, n);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    LIBC();
    if (is_udp(fd))
        return udp_recv(fd, iov, iovcnt, 0, NULL, NULL, NULL, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_readv(fd, iov, iovcnt);
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    return tcp_recvmsg(e, fd, &m, 0);
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    LIBC();
    struct iovec v = {buf, n};
    if (is_udp(fd))
        return udp_recv(fd, &v, 1, flags, NULL, NULL, NULL, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_recv(fd, buf, n, flags);
    if (tcp_unconnected(e, fd))
        return fail(ENOTCONN);
    return tcp_rx_done(fd, libc_recv(fd, buf, n, flags));
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    (void)buflen;
    return recv(fd, buf, n, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *fromlen)
{
    LIBC();
    if (is_udp(fd)) {
        struct iovec v = {buf, n};
        return udp_recv(fd, &v, 1, flags, from, fromlen, NULL, NULL);
    }
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_recvfrom(fd, buf, n, flags, from, fromlen);
    struct iovec v = {buf, n};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    ssize_t r = tcp_recvmsg(e, fd, &m, flags);
    if (r >= 0 && from && fromlen) /* TCP fills in no address */
        *fromlen = 0;
    return r;
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                              struct sockaddr *from, socklen_t *fromlen)
{
    (void)buflen;
    return recvfrom(fd, buf, n, flags, from, fromlen);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *mh, int flags)
{
    LIBC();
    if (!is_udp(fd)) {
        struct fdent *e = tcp_ent(fd);
        return e ? tcp_recvmsg(e, fd, mh, flags) : libc_recvmsg(fd, mh, flags);
    }
    int mf = 0;
    socklen_t nl = mh->msg_namelen;
    ssize_t r = udp_recv(fd, mh->msg_iov, (int)mh->msg_iovlen, flags,
                         mh->msg_name, mh->msg_name ? &nl : NULL, mh, &mf);
    if (r >= 0) {
        mh->msg_namelen = mh->msg_name ? nl : 0;
        mh->msg_flags = mf;
    }
    return r;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout)
{
    LIBC();
    if (!is_udp(fd))
        return libc_recvmmsg(fd, vec, vlen, flags, timeout);
    unsigned int i;
    for (i = 0; i < vlen; i++) {
        ssize_t r = recvmsg(fd, &vec[i].msg_hdr, i ? (flags | MSG_DONTWAIT) & ~MSG_WAITFORONE : flags & ~MSG_WAITFORONE);
        if (r < 0) {
            if (i)
                break;
            return -1;
        }
        vec[i].msg_len = (unsigned int)r;
        if (flags & MSG_WAITFORONE)
            flags |= MSG_DONTWAIT;
    }
    return (int)i;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    LIBC();
    struct iovec v = {(void *)buf, n};
    if (is_udp(fd))
        return udp_send(fd, &v, 1, 0, NULL, 0, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_write(fd, buf, n);
    if (tcp_unconnected(e, fd))
        return tcp_tx_fail(-1, 0);
    ssize_t r = libc_send(fd, buf, n, MSG_NOSIGNAL);
    if (r < 0 && errno == ENOTSOCK) { /* a stale entry (an fd closed behind our back) */
        e->kind = 0;
        return libc_write(fd, buf, n);
    }
    return tcp_tx_done(fd, r, 0);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    LIBC();
    if (is_udp(fd))
        return udp_send(fd, iov, iovcnt, 0, NULL, 0, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_writev(fd, iov, iovcnt);
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    ssize_t r = tcp_sendmsg(e, fd, &m, 0);
    if (r < 0 && errno == ENOTSOCK) {
        e->kind = 0;
        return libc_writev(fd, iov, iovcnt);
    }
    return r;
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    LIBC();
    if (tcp_sendfile_check(out_fd) < 0)
        return -1;
    return libc_sendfile(out_fd, in_fd, offset, count);
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
    LIBC();
    if (tcp_sendfile_check(out_fd) < 0)
        return -1;
    return libc_sendfile64(out_fd, in_fd, offset, count);
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    LIBC();
    struct iovec v = {(void *)buf, n};
    if (is_udp(fd))
        return udp_send(fd, &v, 1, flags, NULL, 0, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_send(fd, buf, n, flags);
    if (tcp_unconnected(e, fd))
        return tcp_tx_fail(-1, flags);
    return tcp_tx_done(fd, libc_send(fd, buf, n, flags | MSG_NOSIGNAL), flags);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t tolen)
{
    LIBC();
    struct iovec v = {(void *)buf, n};
    if (is_udp(fd))
        return udp_send(fd, &v, 1, flags, to, tolen, NULL);
    struct fdent *e = tcp_ent(fd);
    if (!e)
        return libc_sendto(fd, buf, n, flags, to, tolen);
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1}; /* TCP ignores the address */
    return tcp_sendmsg(e, fd, &m, flags);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *mh, int flags)
{
    LIBC();
    if (!is_udp(fd)) {
        struct fdent *e = tcp_ent(fd);
        return e ? tcp_sendmsg(e, fd, mh, flags) : libc_sendmsg(fd, mh, flags);
    }
    return udp_send(fd, mh->msg_iov, (int)mh->msg_iovlen, flags, mh->msg_name, mh->msg_namelen, mh);
}

EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    LIBC();
    if (!is_udp(fd))
        return libc_sendmmsg(fd, vec, vlen, flags);
    unsigned int i;
    for (i = 0; i < vlen; i++) {
        ssize_t r = sendmsg(fd, &vec[i].msg_hdr, flags);
        if (r < 0) {
            if (i)
                break;
            return -1;
        }
        vec[i].msg_len = (unsigned int)r;
    }
    return (int)i;
}
