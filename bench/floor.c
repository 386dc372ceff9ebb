/* floor.c - the least a server can ask of the kernel per message, as a
 * peer in the benches that compare weft with other servers.
 *
 * Three speed targets of weft's benches are ratios of server CPU time:
 * io_uring echo at 0.75x libuv's (bench/echo), WebSocket echo at 5x
 * Node's messages per CPU second (bench/ws), the JSON route at 10x
 * aiohttp's requests per CPU second (bench/http_app). On this machine
 * most of a server's CPU per message is the kernel's (TCP on loopback,
 * where the sender's CPU also runs the receiver's TCP input, and waking
 * the peer), which no runtime can avoid. This program measures that part:
 * a server with no runtime at all, doing per message only what the kernel
 * must do. Its ratio to a peer is about the best any runtime could reach
 * on this machine (a server could still shave a little with a registered
 * ring fd, direct descriptors or recv bundles, none of which touch the
 * kernel's TCP work); weft's distance from it is weft's own cost.
 *
 * What it does: one thread, one io_uring (DEFER_TASKRUN), one multishot
 * accept, one multishot recv per connection into a provided-buffer ring,
 * every send of an iteration submitted in the io_uring_enter that also
 * waits. No timers, no tasks, no parser beyond what the load needs:
 *   echo   sends back what it receives, from the buffer it arrived in;
 *   http   answers every request head (up to an empty line) with one fixed
 *          response (200, a Content-Length, the body of BODYFILE or
 *          "Hello, World!"); request bodies are not expected;
 *   ws     answers the opening handshake (Sec-WebSocket-Accept, no
 *          extensions), then echoes every data frame unmasked, answers a
 *          ping with a pong and a close with a close.
 * It is a measuring instrument for well-behaved load generators, not a
 * server for anything else: there are no limits, timeouts or checks
 * beyond not crashing.
 *
 * Usage: floor echo|http|ws PORT [BODYFILE]   serves on 127.0.0.1:PORT
 *                                             until SIGINT or SIGTERM
 *                                             (http: a BODYFILE named
 *                                             *.json goes as JSON);
 *        floor echo|http|ws --pipe PORT_FD CTL_FD
 *                                   binds an ephemeral port, writes it to
 *                                   PORT_FD (an int), serves until CTL_FD
 *                                   reads end of file (bench/echo's
 *                                   protocol for its servers).
 * Run by hand (not --pipe), it ends with what it answered and its CPU
 * time for each, as a table line and RESULT lines; the benches that run
 * it print the comparisons.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum mode { M_ECHO, M_HTTP, M_WS };
enum { T_ACCEPT = 1, T_RECV, T_SEND, T_CTL, T_MASK = 7 };

/* As many provided buffers as weft's io_uring loop has slots: handed out
 * in turn, more of them would spread the receives over more cold cache
 * lines than the server being judged touches. */
#define NBUF 256     /* provided buffers (a power of two) */
#define BUFSZ 16384  /* each */
#define BGID 1       /* their group */

/* One send queued on a connection: the head of the queue is in flight. */
struct out {
    struct out *next;
    char *data;
    size_t len, off;
    int bid;   /* a provided buffer to give back when sent, or -1 */
    bool heap; /* data is ours to free */
};

struct conn {
    int fd;
    bool ended; /* the recv ended: free once the sends are done */
    struct out *head, *tail;
    unsigned crlf; /* http: how much of "\r\n\r\n" the last bytes matched */
    bool open;     /* ws: after the handshake */
    char *in;      /* ws: bytes not yet parsed */
    size_t inlen, incap;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct conn **conns;
static size_t nconns;
static int *starved; /* fds whose recv ended on -ENOBUFS */
static size_t nstarved, capstarved;
static unsigned out_bufs = NBUF; /* buffers the kernel or a send holds */
static struct out *spare_outs;
static enum mode mode;
static char *response; /* http */
static size_t response_len;
static bool stopping;
/* What it answered (echo: reads sent back; http: request heads; ws:
 * frames), for the figures it prints when it stops. */
static uint64_t answered;

static void die(const char *what, int err) {
    fprintf(stderr, "floor: %s: %s\n", what, strerror(err));
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        die("malloc", ENOMEM);
    return p;
}

static struct io_uring_sqe *get_sqe(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (!sqe)
            die("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

static void give_back(int bid) {
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ,
                          (unsigned short)bid, io_uring_buf_ring_mask(NBUF),
                          0);
    io_uring_buf_ring_advance(br, 1);
    out_bufs--;
}

static void arm_recv(int fd) {
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ((uint64_t)fd << 3) | T_RECV);
}

static void arm_accept(int lfd) {
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, T_ACCEPT);
}

static void submit_send(struct conn *c) {
    struct out *o = c->head;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, o->data + o->off, o->len - o->off,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | T_SEND);
}

static void push(struct conn *c, char *data, size_t len, int bid, bool heap) {
    struct out *o = spare_outs;
    if (o)
        spare_outs = o->next;
    else
        o = xmalloc(sizeof *o);
    *o = (struct out){NULL, data, len, 0, bid, heap};
    if (c->tail)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    if (c->head == o)
        submit_send(c);
}

static void release(struct out *o) {
    if (o->bid >= 0)
        give_back(o->bid);
    if (o->heap)
        free(o->data);
    o->next = spare_outs;
    spare_outs = o;
}

static void free_conn(struct conn *c) {
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->in);
    free(c);
}

/* ---- what each mode makes of received bytes ------------------------------ */

static void http_bytes(struct conn *c, const char *p, size_t n) {
    static const char end[] = "\r\n\r\n";
    unsigned m = c->crlf, heads = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == end[m])
            m++;
        else
            m = p[i] == '\r';
        if (m == 4) {
            heads++;
            m = 0;
        }
    }
    c->crlf = m;
    answered += heads;
    while (heads--)
        push(c, response, response_len, -1, false);
}

static void ws_append(struct conn *c, const char *p, size_t n) {
    if (c->inlen + n > c->incap) {
        size_t cap = c->incap ? c->incap : 4096;
        while (cap < c->inlen + n)
            cap *= 2;
        char *in = realloc(c->in, cap);
        if (!in)
            die("realloc", ENOMEM);
        c->in = in;
        c->incap = cap;
    }
    memcpy(c->in + c->inlen, p, n);
    c->inlen += n;
}

/* The handshake: 0 when the head is not all here yet, else its length. */
static size_t ws_handshake(struct conn *c) {
    char *e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!e)
        return 0;
    size_t headlen = (size_t)(e - c->in) + 4;
    const char *key = NULL;
    size_t keylen = 0;
    for (char *l = c->in; l < e;) {
        char *nl = memmem(l, (size_t)(e + 2 - l), "\r\n", 2);
        if (!nl)
            break;
        static const char name[] = "sec-websocket-key:";
        if ((size_t)(nl - l) > sizeof name - 1 &&
            strncasecmp(l, name, sizeof name - 1) == 0) {
            key = l + sizeof name - 1;
            while (key < nl && (*key == ' ' || *key == '\t'))
                key++;
            keylen = (size_t)(nl - key);
            while (keylen && (key[keylen - 1] == ' ' || key[keylen - 1] == '\t'))
                keylen--;
        }
        l = nl + 2;
    }
    char both[128];
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    if (!key || keylen + sizeof guid > sizeof both) {
        fprintf(stderr, "floor: a handshake without a usable key\n");
        shutdown(c->fd, SHUT_RDWR);
        c->inlen = 0; /* nothing after it is read */
        return 0;
    }
    memcpy(both, key, keylen);
    memcpy(both + keylen, guid, sizeof guid - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(both, keylen + sizeof guid - 1, md, &mdlen, EVP_sha1(), NULL);
    unsigned char accept[64];
    EVP_EncodeBlock(accept, md, (int)mdlen);
    char *r = xmalloc(256);
    int n = snprintf(r, 256,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     (const char *)accept);
    push(c, r, (size_t)n, -1, true);
    c->open = true;
    return headlen;
}

/* A word at a time, as any WebSocket server worth measuring does. */
static void unmask(unsigned char *p, size_t len, const unsigned char *key) {
    uint32_t k4;
    memcpy(&k4, key, 4);
    uint64_t k8 = (uint64_t)k4 << 32 | k4;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k8;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++)
        p[i] ^= key[i & 3];
}

/* Every whole frame in c->in: its answer appended to one buffer, sent. */
static void ws_frames(struct conn *c) {
    size_t at = 0;
    char *o = NULL;
    size_t olen = 0, ocap = 0;
    while (c->inlen - at >= 2) {
        unsigned char *f = (unsigned char *)c->in + at;
        size_t have = c->inlen - at, hdr = 2;
        uint64_t len = f[1] & 0x7f;
        if (len == 126) {
            if (have < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            hdr = 4;
        } else if (len == 127) {
            if (have < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            hdr = 10;
        }
        bool masked = f[1] & 0x80;
        const unsigned char *mask = f + hdr;
        if (masked)
            hdr += 4;
        if (have < hdr || have - hdr < len)
            break;
        unsigned char *pl = f + hdr;
        if (masked)
            unmask(pl, (size_t)len, mask);
        unsigned op = f[0] & 0x0f;
        at += hdr + (size_t)len;
        answered++;
        if (op == 0xA) /* a pong */
            continue;
        unsigned char b0 = op == 0x9 ? 0x8A : f[0]; /* a ping's pong */
        if (olen + 10 + len > ocap) {
            ocap = (olen + 10 + (size_t)len) * 2;
            o = realloc(o, ocap);
            if (!o)
                die("realloc", ENOMEM);
        }
        unsigned char *w = (unsigned char *)o + olen;
        w[0] = b0;
        size_t wh = 2;
        if (len < 126) {
            w[1] = (unsigned char)len;
        } else if (len < 65536) {
            w[1] = 126;
            w[2] = (unsigned char)(len >> 8);
            w[3] = (unsigned char)len;
            wh = 4;
        } else {
            w[1] = 127;
            for (int i = 0; i < 8; i++)
                w[2 + i] = (unsigned char)(len >> (56 - 8 * i));
            wh = 10;
        }
        memcpy(w + wh, pl, (size_t)len);
        olen += wh + (size_t)len;
        if (op == 0x8) { /* a close: answered, then no more reading */
            shutdown(c->fd, SHUT_RD);
            break;
        }
    }
    memmove(c->in, c->in + at, c->inlen - at);
    c->inlen -= at;
    if (o)
        push(c, o, olen, -1, true);
}

static void ws_bytes(struct conn *c, const char *p, size_t n) {
    ws_append(c, p, n);
    if (!c->open) {
        size_t h = ws_handshake(c);
        if (!h)
            return;
        memmove(c->in, c->in + h, c->inlen - h);
        c->inlen -= h;
    }
    ws_frames(c);
}

/* ---- completions ---------------------------------------------------------- */

static void on_accept(int lfd, struct io_uring_cqe *cqe) {
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(lfd);
    if (cqe->res < 0) { /* (out of fds: a bench's mistake, said once) */
        if (cqe->res != -ECONNABORTED)
            die("accept", -cqe->res);
        return;
    }
    int fd = cqe->res, one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((size_t)fd >= nconns) {
        size_t n = nconns ? nconns : 1024;
        while (n <= (size_t)fd)
            n *= 2;
        struct conn **cs = realloc(conns, n * sizeof *cs);
        if (!cs)
            die("realloc", ENOMEM);
        memset(cs + nconns, 0, (n - nconns) * sizeof *cs);
        conns = cs;
        nconns = n;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        die("calloc", ENOMEM);
    c->fd = fd;
    conns[fd] = c;
    arm_recv(fd);
}

static void on_recv(struct io_uring_cqe *cqe) {
    int fd = (int)(cqe->user_data >> 3);
    struct conn *c = conns[fd];
    int res = cqe->res;
    if (res > 0) {
        out_bufs++;
        int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        char *p = bufs + (size_t)bid * BUFSZ;
        if (mode == M_ECHO) {
            answered++;
            push(c, p, (size_t)res, bid, false);
        } else {
            if (mode == M_HTTP)
                http_bytes(c, p, (size_t)res);
            else
                ws_bytes(c, p, (size_t)res);
            give_back(bid);
        }
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    if (res > 0) {
        arm_recv(fd);
    } else if (res == -ENOBUFS) {
        if (nstarved == capstarved) {
            capstarved = capstarved ? capstarved * 2 : 64;
            starved = realloc(starved, capstarved * sizeof *starved);
            if (!starved)
                die("realloc", ENOMEM);
        }
        starved[nstarved++] = fd;
    } else {
        c->ended = true;
        if (!c->head)
            free_conn(c);
    }
}

static void on_send(struct io_uring_cqe *cqe) {
    struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)T_MASK);
    struct out *o = c->head;
    if (cqe->res < 0) { /* the peer is gone: drop what is queued */
        shutdown(c->fd, SHUT_RDWR);
        while ((o = c->head)) {
            c->head = o->next;
            release(o);
        }
        c->tail = NULL;
    } else {
        o->off += (size_t)cqe->res;
        if (o->off < o->len) {
            submit_send(c);
            return;
        }
        c->head = o->next;
        if (!c->head)
            c->tail = NULL;
        release(o);
        if (c->head)
            submit_send(c);
    }
    if (c->ended && !c->head)
        free_conn(c);
}

/* ---- set-up and the loop -------------------------------------------------- */

static char *read_body(const char *path, size_t *len) {
    if (!path) {
        *len = 13;
        return strdup("Hello, World!");
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, errno);
    char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            b = realloc(b, cap);
            if (!b)
                die("realloc", ENOMEM);
        }
        size_t got = fread(b + n, 1, cap - n, f);
        if (!got)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "echo") && strcmp(argv[1], "http") &&
                     strcmp(argv[1], "ws"))) {
        fprintf(stderr, "usage: floor echo|http|ws PORT [BODYFILE] | "
                        "floor echo|http|ws --pipe PORT_FD CTL_FD\n");
        return 2;
    }
    mode = argv[1][0] == 'e' ? M_ECHO : argv[1][0] == 'h' ? M_HTTP : M_WS;
    bool piped = strcmp(argv[2], "--pipe") == 0;
    if (piped && argc < 5) {
        fprintf(stderr, "floor: --pipe needs PORT_FD and CTL_FD\n");
        return 2;
    }
    int port = piped ? 0 : atoi(argv[2]);
    int port_fd = piped ? atoi(argv[3]) : -1, ctl_fd = piped ? atoi(argv[4]) : -1;
    if (mode == M_HTTP) {
        size_t blen;
        char *body = read_body(!piped && argc > 3 ? argv[3] : NULL, &blen);
        bool json = !piped && argc > 3 && strstr(argv[3], ".json");
        response = xmalloc(blen + 256);
        int n = snprintf(response, 256,
                         "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         json ? "application/json; charset=utf-8"
                              : "text/plain; charset=utf-8",
                         blen);
        memcpy(response + n, body, blen);
        response_len = (size_t)n + blen;
        free(body);
    }

    /* SIGINT and SIGTERM come as a signalfd's input, a completion like
     * any other: a handler could run just before the wait and be lost. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_set, NULL);
    int sig_fd = signalfd(-1, &stop_set, SFD_CLOEXEC);
    if (sig_fd < 0)
        die("signalfd", errno);
    signal(SIGPIPE, SIG_IGN);
    if (piped) /* for `perf report --comm srv-floor`, as bench/echo names */
        prctl(PR_SET_NAME, "srv-floor");

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (lfd < 0)
        die("socket", errno);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("bind", errno);
    if (listen(lfd, 4096) < 0)
        die("listen", errno);

    struct io_uring_params p = {0};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
              IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 16384;
    int err = io_uring_queue_init_params(4096, &ring, &p);
    if (err < 0)
        die("io_uring_queue_init", -err);
    size_t rsz = NBUF * sizeof(struct io_uring_buf);
    br = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
              -1, 0);
    bufs = malloc((size_t)NBUF * BUFSZ);
    if (br == MAP_FAILED || !bufs)
        die("buffers", ENOMEM);
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                   .ring_entries = NBUF,
                                   .bgid = BGID};
    err = io_uring_register_buf_ring(&ring, &reg, 0);
    if (err < 0)
        die("io_uring_register_buf_ring", -err);
    for (int i = 0; i < NBUF; i++)
        give_back(i);

    arm_accept(lfd);
    int stop_fds[2] = {sig_fd, ctl_fd};
    for (int i = 0; i < 2; i++) {
        if (stop_fds[i] < 0)
            continue;
        struct io_uring_sqe *sqe = get_sqe();
        io_uring_prep_poll_add(sqe, stop_fds[i], POLLIN);
        io_uring_sqe_set_data64(sqe, T_CTL);
    }
    if (piped) { /* ready: say where */
        socklen_t sl = sizeof sin;
        getsockname(lfd, (struct sockaddr *)&sin, &sl);
        int bound = ntohs(sin.sin_port);
        if (write(port_fd, &bound, sizeof bound) != (ssize_t)sizeof bound)
            die("write port", errno);
    }
    while (!stopping) {
        err = io_uring_submit_and_wait(&ring, 1);
        if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY)
            die("io_uring_enter", -err);
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            n++;
            switch (cqe->user_data & T_MASK) {
            case T_ACCEPT:
                on_accept(lfd, cqe);
                break;
            case T_RECV:
                on_recv(cqe);
                break;
            case T_SEND:
                on_send(cqe);
                break;
            case T_CTL: /* a signal, or the end of the control pipe */
                if (cqe->res < 0)
                    die("poll on a stop fd", -cqe->res);
                stopping = true;
                break;
            }
        }
        io_uring_cq_advance(&ring, n);
        if (out_bufs < NBUF) /* the ring has buffers again */
            while (nstarved)
                arm_recv(starved[--nstarved]);
    }
    if (!piped) {
        static const char *const unit[] = {"reads", "requests", "frames"};
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        double each = answered ? us / (double)answered : 0;
        printf("floor %s: %llu %s answered, %.2f us of CPU each (user + "
               "system, the whole run)\n",
               argv[1], (unsigned long long)answered, unit[mode], each);
        printf("RESULT floor %s_answered %llu %s\n", argv[1],
               (unsigned long long)answered, unit[mode]);
        printf("RESULT floor %s_cpu_us_per_answer %.2f us\n", argv[1], each);
    }
    return 0;
}
