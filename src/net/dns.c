/* The resolver: one c-ares channel per loop, driven by weft's I/O and
 * timers.
 *
 * c-ares does the DNS work; weft supplies its sockets, its readiness and
 * its clock:
 *   - Sockets come from our socket functions (non-blocking, close-on-exec,
 *     atomically), so we know each one from creation to close. When c-ares
 *     first wants to read one (its sock_state_cb), the socket is registered
 *     with weft__io_open and a small task of the loop ("dns-rd") waits for
 *     input and hands it to ares_process_fd. While c-ares has data queued
 *     on a TCP socket, a second one ("dns-wr") does the same for output.
 *     Our recv/send wrappers note EAGAIN, which tells a task whether the
 *     edge it woke for is used up or whether c-ares stopped early (it reads
 *     one TCP message per call).
 *   - c-ares's timeouts and retries: after every call into c-ares, one
 *     loop timer is armed for ares_timeout(); when it fires, a callback
 *     runs ares_process_fd with no fd, which expires what is due.
 *   - A lookup is a heap record that c-ares calls back exactly once. The
 *     task waits on its own stack and the record points at that wait only
 *     while the task waits: an interrupted wait (cancel, deadline) just
 *     detaches itself, and the record, now an orphan, is freed by the
 *     callback whenever c-ares makes it (at the latest when the channel is
 *     destroyed, which calls back every query with ARES_EDESTRUCTION).
 *     ares_cancel() would end every lookup of the channel, not one.
 * c-ares is never re-entered: none of our callbacks waits or calls into
 * c-ares, and a task switch never happens inside a c-ares call.
 */
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "dns_int.h"

/* After the task layer cancelled and drained every task
 * (WEFT__PHASE_TASKS): no task waits for a lookup when the channel goes,
 * and our socket tasks have ended. */
#define DNS_PHASE_CLOSE (WEFT__PHASE_TASKS + 5)

/* Stack of the socket tasks: ares_process_fd reads UDP answers into a 4 KiB
 * buffer on the stack and parses them there. */
#define DNS_TASK_STACK (64 * 1024)

struct dns_res {
    weft_loop_t *loop;
    struct weft__hook close_hook, free_hook;
    ares_channel ch;          /* NULL until needed */
    struct weft__list socks;  /* struct dns_sock that c-ares has open */
    struct weft__timer timer; /* c-ares's next timeout */
    weft_handle_t tick;       /* a queued dns_tick */
    size_t nwaiting;          /* lookups a task waits for */
    char *servers;            /* weft_dns_opts_t, copied */
    int timeout_ms, tries;
    bool closed;
};

struct dns_sock {
    struct weft__io io;
    struct dns_res *r;
    struct weft__list link; /* in r->socks until c-ares closes it */
    int fd;
    int refs; /* c-ares until it closes it, and each of its tasks */
    bool registered, closed, want_write, reader, writer;
    /* What the last ares_process_fd did with the fd. */
    unsigned rd_calls, wr_calls;
    bool rd_again, wr_again;
};

enum { REQ_STARTING, REQ_WAITING, REQ_ORPHAN, REQ_DONE };

struct dns_wait;

struct dns_req {
    struct dns_res *r;
    struct dns_wait *waiter; /* REQ_WAITING only */
    struct ares_addrinfo *ai;
    int status; /* c-ares's */
    int state;
};

struct dns_wait {
    struct weft__wait w;
    struct dns_req *req;
};

/* ---- the library ----------------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status = ARES_ENOTINITIALIZED;

/* c-ares keeps the C library's allocator, not weft's hooks: 1.18.1 calls
 * malloc directly in places, so a block could be freed by another
 * allocator than the one that made it. */
static void lib_init(void) {
    lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- sockets ----------------------------------------------------------------------- */

static struct dns_sock *sock_find(struct dns_res *r, int fd) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &r->socks) {
        struct dns_sock *s = WEFT__CONTAINER_OF(pos, struct dns_sock, link);
        if (s->fd == fd)
            return s;
    }
    return NULL;
}

static void sock_unref(struct dns_sock *s) {
    if (--s->refs == 0)
        weft__free(s);
}

static ares_socket_t s_socket(int domain, int type, int protocol, void *ud) {
    struct dns_res *r = ud;
    struct dns_sock *s = weft__calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return ARES_SOCKET_BAD;
    }
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        int e = errno;
        weft__free(s);
        errno = e;
        return ARES_SOCKET_BAD;
    }
    if (type == SOCK_STREAM) {
        /* c-ares sets this itself, but not with socket functions. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    s->r = r;
    s->fd = fd;
    s->refs = 1;
    s->io.fd = -1;
    weft__list_push_back(&r->socks, &s->link);
    return fd;
}

static int s_close(ares_socket_t fd, void *ud) {
    struct dns_sock *s = sock_find(ud, fd);
    if (!s)
        return close(fd);
    /* Tasks waiting on it wake with -EBADF and see `closed`. */
    if (s->registered)
        weft__io_close(s->r->loop, &s->io);
    s->registered = false;
    s->closed = true;
    weft__list_remove(&s->link);
    int rc = close(fd);
    sock_unref(s);
    return rc;
}

static int s_connect(ares_socket_t fd, const struct sockaddr *sa,
                     ares_socklen_t len, void *ud) {
    (void)ud;
    return connect(fd, sa, len);
}

static ares_ssize_t s_recvfrom(ares_socket_t fd, void *buf, size_t len,
                               int flags, struct sockaddr *from,
                               ares_socklen_t *fromlen, void *ud) {
    ssize_t n = recvfrom(fd, buf, len, flags, from, fromlen);
    int e = errno;
    struct dns_sock *s = sock_find(ud, fd);
    if (s) {
        s->rd_calls++;
        s->rd_again = n < 0 && (e == EAGAIN || e == EWOULDBLOCK);
    }
    errno = e;
    return n;
}

static ares_ssize_t s_sendv(ares_socket_t fd, const struct iovec *iov,
                            int iovcnt, void *ud) {
    struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov,
                       .msg_iovlen = (size_t)iovcnt};
    ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
    int e = errno;
    struct dns_sock *s = sock_find(ud, fd);
    if (s) {
        s->wr_calls++;
        s->wr_again = n < 0 && (e == EAGAIN || e == EWOULDBLOCK);
    }
    errno = e;
    return n;
}

static const struct ares_socket_functions sock_funcs = {
    s_socket, s_close, s_connect, s_recvfrom, s_sendv,
};

/* ---- the channel's timer ------------------------------------------------------------ */

static void dns_tick(void *arg);

/* Arm the timer for c-ares's next timeout (after every call into c-ares).
 * c-ares counts in milliseconds on the system's clock: one more keeps the
 * timer from firing just before it. With a virtual clock the loop jumps to
 * the timer at once, c-ares finds nothing due yet and it is armed again:
 * c-ares's own timeouts pass in real time, deadline scopes in virtual. */
static void dns_rearm(struct dns_res *r) {
    if (!r->ch || r->closed)
        return;
    struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
    weft_loop_t *loop = r->loop;
    if (!tvp) {
        weft__loop_timer_cancel(loop, &r->timer);
        return;
    }
    uint64_t ns = (uint64_t)tvp->tv_sec * WEFT__NS_PER_SEC +
                  (uint64_t)tvp->tv_usec * 1000 + 1000000;
    uint64_t when = weft__loop_deadline(loop, ns);
    if (weft__timer_armed(&r->timer)) {
        if (r->timer.when == when)
            return;
        weft__loop_timer_cancel(loop, &r->timer);
    }
    if (weft__loop_timer_arm(loop, &r->timer, when))
        weft__log(WEFT_LOG_ERROR, "dns: no memory to arm the resolver's "
                                  "timer; lookups may not time out");
}

/* Timers only queue work: the expiry runs as a callback. */
static void dns_timer_fire(struct weft__timer *t) {
    struct dns_res *r = WEFT__CONTAINER_OF(t, struct dns_res, timer);
    if (r->tick.id)
        return;
    if (weft_call_soon(r->loop, dns_tick, r, &r->tick) < 0) {
        r->tick.id = 0;
        /* Try again shortly rather than never. */
        weft__loop_timer_arm(r->loop, &r->timer,
                             weft__loop_deadline(r->loop, 10000000));
    }
}

static void dns_tick(void *arg) {
    struct dns_res *r = arg;
    r->tick.id = 0;
    if (!r->ch)
        return;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_rearm(r);
}

/* ---- the socket tasks ---------------------------------------------------------------- */

/* Readable: let c-ares read. It reads UDP until EAGAIN but only one
 * message from TCP, so the edge is used up only when a read said EAGAIN
 * (or c-ares did not read at all); otherwise go round again. */
static int sock_reader(void *arg) {
    struct dns_sock *s = arg;
    while (!s->closed) {
        int ev = weft__io_wait(&s->io, WEFT__IO_IN);
        if (ev < 0 || s->closed) /* -EBADF: closed; -ECANCELED: loop closes */
            break;
        s->rd_calls = 0;
        s->rd_again = false;
        ares_process_fd(s->r->ch, s->fd, ARES_SOCKET_BAD);
        dns_rearm(s->r);
        if (s->closed)
            break;
        if (s->rd_again || s->rd_calls == 0)
            s->io.ready &= ~(uint32_t)(WEFT__IO_IN | WEFT__IO_ERR |
                                       WEFT__IO_HUP | WEFT__IO_RDHUP);
        else if (weft_yield() < 0)
            break;
    }
    s->reader = false;
    sock_unref(s);
    return 0;
}

/* c-ares has TCP data queued: try to write at once; wait for the next
 * edge only after a write said EAGAIN (a socket still connecting says so
 * too), since an edge that came before it tells nothing. */
static int sock_writer(void *arg) {
    struct dns_sock *s = arg;
    while (!s->closed && s->want_write) {
        s->wr_calls = 0;
        s->wr_again = false;
        ares_process_fd(s->r->ch, ARES_SOCKET_BAD, s->fd);
        dns_rearm(s->r);
        if (s->closed || !s->want_write)
            break;
        if (s->wr_again || s->wr_calls == 0) {
            s->io.ready &= ~(uint32_t)WEFT__IO_OUT;
            int ev = weft__io_wait(&s->io, WEFT__IO_OUT);
            if (ev < 0)
                break;
        } else if (weft_yield() < 0) {
            break;
        }
    }
    s->writer = false;
    sock_unref(s);
    return 0;
}

static bool sock_spawn(struct dns_sock *s, weft_task_fn fn, const char *name) {
    weft_spawn_opts_t o = {.name = name, .stack_size = DNS_TASK_STACK};
    int err = weft_loop_spawn(s->r->loop, NULL, fn, s, &o);
    if (err) {
        /* The query still ends: by c-ares's timeout. */
        weft__log(WEFT_LOG_ERROR, "dns: cannot start the task of a resolver "
                                  "socket: %s", weft_strerror(err));
        return false;
    }
    s->refs++;
    return true;
}

/* c-ares says what it wants of a socket: (0, 0) before it closes it. */
static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable) {
    struct dns_res *r = data;
    struct dns_sock *s = sock_find(r, fd);
    if (!s)
        return;
    s->want_write = writable != 0;
    if (!readable && !writable)
        return;
    if (!s->registered) {
        int err = weft__io_open(r->loop, &s->io, s->fd);
        if (err) {
            weft__log(WEFT_LOG_ERROR, "dns: cannot watch a resolver socket: "
                                      "%s", weft_strerror(err));
            return;
        }
        s->registered = true;
    }
    if (readable && !s->reader)
        s->reader = sock_spawn(s, sock_reader, "dns-rd");
    if (writable && !s->writer)
        s->writer = sock_spawn(s, sock_writer, "dns-wr");
}

/* ---- per-loop state ------------------------------------------------------------------- */

static int status_errno(int status) {
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_EFILE:
        return -EIO;
    default:
        return -EINVAL;
    }
}

static int channel_new(struct dns_res *r, const char *servers, int timeout_ms,
                       int tries, ares_channel *out) {
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS)
        return status_errno(lib_status);
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_FLAGS;
    /* Report SERVFAIL, NOTIMP and REFUSED answers as such: by default c-ares
     * drops them, tries the other servers and ends with ECONNREFUSED, which
     * hides what the server said (node.js made the same choice). The cost:
     * such an answer is not retried on another server. */
    o.flags = ARES_FLAG_NOCHECKRESP;
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = r;
    o.lookups = (char *)(uintptr_t) "fb"; /* /etc/hosts, then DNS */
    if (timeout_ms) {
        mask |= ARES_OPT_TIMEOUTMS;
        o.timeout = timeout_ms;
    }
    if (tries) {
        mask |= ARES_OPT_TRIES;
        o.tries = tries;
    }
    ares_channel ch;
    int st = ares_init_options(&ch, &o, mask);
    if (st != ARES_SUCCESS)
        return status_errno(st);
    ares_set_socket_functions(ch, &sock_funcs, r);
    if (servers && (st = ares_set_servers_ports_csv(ch, servers)) != 0) {
        ares_destroy(ch);
        return status_errno(st);
    }
    *out = ch;
    return 0;
}

/* Lookups still in c-ares are called back with ARES_EDESTRUCTION (the
 * orphans free themselves) and its sockets are closed (their tasks wake
 * with -EBADF and end). */
static void channel_destroy(struct dns_res *r) {
    if (!r->ch)
        return;
    ares_destroy(r->ch);
    r->ch = NULL;
    weft__loop_timer_cancel(r->loop, &r->timer);
}

static void dns_close(weft_loop_t *loop, struct weft__hook *h) {
    struct dns_res *r = WEFT__CONTAINER_OF(h, struct dns_res, close_hook);
    r->closed = true;
    if (r->tick.id)
        weft_handle_cancel(loop, r->tick);
    r->tick.id = 0;
    channel_destroy(r);
}

static void dns_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct dns_res *r = WEFT__CONTAINER_OF(h, struct dns_res, free_hook);
    channel_destroy(r);
    weft__free(r->servers);
    weft__free(r);
}

/* The loop's resolver: found through its hook, made on first use. */
static struct dns_res *dns_get(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, dns_close);
    if (h)
        return WEFT__CONTAINER_OF(h, struct dns_res, close_hook);
    struct dns_res *r = weft__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    weft__list_init(&r->socks);
    weft__timer_init(&r->timer, dns_timer_fire);
    weft__hook_add(loop, &r->close_hook, DNS_PHASE_CLOSE, dns_close);
    weft__hook_add(loop, &r->free_hook, WEFT__PHASE_FREE, dns_free);
    return r;
}

/* ---- configuration -------------------------------------------------------------------- */

static int apply(struct dns_res *r, const char *servers, int timeout_ms,
                 int tries) {
    if (r->nwaiting)
        return -EBUSY;
    char *copy = NULL;
    if (servers) {
        size_t n = strlen(servers) + 1;
        if (!(copy = weft__malloc(n)))
            return -ENOMEM;
        memcpy(copy, servers, n);
    }
    ares_channel ch;
    int err = channel_new(r, copy, timeout_ms, tries, &ch);
    if (err) {
        weft__free(copy);
        return err;
    }
    channel_destroy(r);
    r->ch = ch;
    weft__free(r->servers);
    r->servers = copy;
    r->timeout_ms = timeout_ms;
    r->tries = tries;
    return 0;
}

static int configure_check(weft_loop_t *loop, const char *fn) {
    int err = weft__loop_check(loop, fn);
    if (err)
        return err;
    return loop->closed || loop->closing ? -ESHUTDOWN : 0;
}

int weft_dns_configure(weft_loop_t *loop, const weft_dns_opts_t *opts) {
    int err = configure_check(loop, "weft_dns_configure");
    if (err)
        return err;
    double t = opts ? opts->timeout : 0;
    int tries = opts ? opts->tries : 0;
    if (isnan(t) || t < 0 || t > INT_MAX / 1000.0 || tries < 0)
        return -EINVAL;
    /* Milliseconds rounded up, without libm (the library links no -lm). */
    double tm = t * 1000;
    int ms = (int)tm;
    if (ms < tm)
        ms++;
    struct dns_res *r = dns_get(loop);
    if (!r)
        return -ENOMEM;
    return apply(r, opts ? opts->servers : NULL, ms, tries);
}

int weft_dns_set_servers(weft_loop_t *loop, const char *servers) {
    int err = configure_check(loop, "weft_dns_set_servers");
    if (err)
        return err;
    struct dns_res *r = dns_get(loop);
    if (!r)
        return -ENOMEM;
    return apply(r, servers, r->timeout_ms, r->tries);
}

/* ---- lookups ----------------------------------------------------------------------------- */

static void on_addrinfo(void *arg, int status, int timeouts,
                        struct ares_addrinfo *ai) {
    (void)timeouts;
    struct dns_req *q = arg;
    if (q->state == REQ_ORPHAN) {
        if (ai)
            ares_freeaddrinfo(ai);
        weft__free(q);
        return;
    }
    q->status = status;
    q->ai = ai;
    if (q->state == REQ_WAITING) {
        q->r->nwaiting--;
        weft__task_wake(q->waiter->w.task, 0);
    }
    q->state = REQ_DONE;
}

/* Cancelled or past a deadline: leave the record to c-ares's callback. */
static int dns_abort(struct weft__wait *w) {
    struct dns_wait *dw = WEFT__CONTAINER_OF(w, struct dns_wait, w);
    struct dns_req *q = dw->req;
    q->state = REQ_ORPHAN;
    q->waiter = NULL;
    q->r->nwaiting--;
    return 0;
}

static int finish(struct dns_req *q, const struct weft__dns_spec *sp, int err,
                  struct addrinfo **out) {
    if (err >= 0) {
        err = weft__dns_error(q->status);
        if (!err)
            err = q->ai ? weft__dns_from_ares(sp, q->ai, out)
                        : WEFT_EAI_NODATA;
    }
    if (q->ai)
        ares_freeaddrinfo(q->ai);
    weft__free(q);
    return err;
}

static int lookup(weft_loop_t *loop, const struct weft__dns_spec *sp,
                  struct addrinfo **out) {
    if (loop->closing || loop->closed)
        return -ESHUTDOWN;
    struct dns_res *r = dns_get(loop);
    if (!r)
        return -ENOMEM;
    int err;
    if (!r->ch &&
        (err = channel_new(r, r->servers, r->timeout_ms, r->tries, &r->ch)))
        return err;
    if ((err = weft__dns_localhost(sp, r->ch, out)))
        return err > 0 ? 0 : err;
    struct dns_req *q = weft__calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->r = r;
    q->state = REQ_STARTING;
    struct ares_addrinfo_hints ah = {
        .ai_flags = (sp->flags & AI_CANONNAME) ? ARES_AI_CANONNAME : 0,
        .ai_family = sp->family,
    };
    /* Called back at once for /etc/hosts hits and early errors. */
    ares_getaddrinfo(r->ch, sp->host, NULL, &ah, on_addrinfo, q);
    dns_rearm(r);
    err = 0;
    if (q->state == REQ_STARTING) {
        struct dns_wait dw = {
            .w = {.abort = dns_abort, .kind = WEFT__WAIT_DNS}, .req = q};
        q->waiter = &dw;
        q->state = REQ_WAITING;
        r->nwaiting++;
        err = weft__park(&dw.w);
        if (q->state != REQ_DONE)
            return err; /* an orphan now: c-ares's callback frees it */
    }
    return finish(q, sp, err, out);
}

int weft_getaddrinfo(const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **out) {
    if (out)
        *out = NULL;
    struct weft_task *t = weft__task_require("weft_getaddrinfo");
    if (!t)
        return -EPERM;
    if (!out)
        return -EINVAL;
    struct weft__dns_spec sp;
    int err = weft__dns_prepare(host, service, hints, &sp);
    if (!err)
        err = weft__dns_numeric(&sp, out);
    if (!err && weft__dns_name_problem(host))
        err = WEFT_EAI_BADNAME; /* at once: no server could answer it */
    if (!err)
        err = lookup(t->loop, &sp, out);
    else if (err > 0)
        err = 0;
    if (err < 0) { /* limited: names may come from peers, as answers do */
        char msg[WEFT_DNS_ERRMSG_SIZE];
        WEFT__LOG_LIMITED(t->loop, WEFT_LOG_DEBUG, "%s",
                          weft_dns_strerror(err, host, msg, sizeof msg));
    }
    return err;
}
