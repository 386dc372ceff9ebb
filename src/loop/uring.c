/* The io_uring backend, and the choice of backend.
 *
 * A loop uses io_uring when the kernel lets it (io_uring_queue_init
 * succeeds and the features below are there: not refused by seccomp, by
 * kernel.io_uring_disabled, or by an old kernel), and epoll (epoll.c)
 * otherwise or when WEFT_BACKEND=epoll says so. WEFT_BACKEND=io_uring
 * asks for io_uring and warns when it has to fall back.
 *
 * What the loop asks of a backend stays the same (loop_int.h): a fd is
 * registered once, for input and output, edge-triggered, and its events
 * latch in io->ready and call io->notify. Here that is one multishot
 * IORING_OP_POLL_ADD per fd (edge-triggered unless IORING_POLL_ADD_LEVEL
 * is asked, as epoll's EPOLLET), so everything built on readiness (TLS,
 * DNS, pipes, signals, fswatch, the eventfd wake-up) works unchanged.
 * Beyond readiness, the reads of stream sockets are the kernel's:
 * IORING_OP_RECV (weft__uring_recv; io.c sends them here for an io marked
 * WEFT__IO_DIRECT), and for a stream that reads through provided buffers
 * one multishot recv that stays armed and queues what it takes (below);
 * the reader parks until a completion, and the loop makes no recv(2) call
 * and waits for no edge before it. Such a socket's
 * poll leaves POLLIN out (WEFT__IO_NOIN) until something waits for its
 * input as readiness (TLS, a peek: weft__uring_want_in). Everything
 * queued in an iteration is submitted in one io_uring_enter, the one that
 * also waits for completions (io_uring_submit_and_wait_timeout).
 *
 * Cancellation: a task interrupted while its single-shot recv is in
 * flight submits an IORING_OP_ASYNC_CANCEL for it and stays parked (the wait's abort says
 * -EINPROGRESS) until the kernel completes the recv, cancelled or with
 * the bytes it took: a cancelled read has really stopped when the task
 * runs again, and its buffer is no longer the kernel's. Bytes taken by a
 * recv whose task was interrupted meanwhile are handed back with the
 * interruption (*late): the stream keeps them for the next read and the
 * read says it was interrupted, as an epoll wait would have. A reader of
 * the multishot recv waits as for readiness instead: interrupted, it
 * leaves the bytes queued. Unregistering a fd cancels every
 * request on it (IORING_ASYNC_CANCEL_FD | _ALL), submitted at once, before
 * the caller closes it: io_uring holds a reference to the file while a
 * request is pending, so a close alone would not end them.
 *
 * A registration's user data is a small record, not the io itself: its
 * last completion (after the cancel) arrives when the io may be gone, and
 * frees the record then. Records are found by fd (a table), as epoll finds
 * registrations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../task/io.h"
#include "loop_int.h"

enum { WANT_EPOLL, WANT_ANY, WANT_URING };

/* What the environment asks for: io_uring where it works by default. */
static int want_uring(void) {
    const char *v = getenv("WEFT_BACKEND");
    if (!v || !*v)
        return WANT_ANY;
    if (strcmp(v, "epoll") == 0)
        return WANT_EPOLL;
    if (strcmp(v, "io_uring") == 0)
        return WANT_URING;
    static atomic_int said;
    if (!atomic_exchange(&said, 1))
        weft__log(WEFT_LOG_WARN,
                  "WEFT_BACKEND=%s: unknown backend (epoll or io_uring); "
                  "using the default",
                  v);
    return WANT_ANY;
}

#ifndef WEFT_HAVE_URING

int weft__poller_init(weft_loop_t *loop) {
    if (want_uring() == WANT_URING) {
        static atomic_int said;
        if (!atomic_exchange(&said, 1))
            weft__log(WEFT_LOG_WARN, "WEFT_BACKEND=io_uring: this weft was "
                                     "built without liburing; using epoll");
    }
    return weft__epoll_init(loop);
}

void weft__poller_fini(weft_loop_t *loop) {
    weft__epoll_fini(loop);
}

int weft__uring_poll(weft_loop_t *loop, int64_t timeout_ns) {
    (void)loop;
    (void)timeout_ns;
    return 0;
}

int weft__uring_add(weft_loop_t *loop, struct weft__io *io) {
    (void)loop;
    (void)io;
    return -ENOSYS;
}

void weft__uring_del(weft_loop_t *loop, struct weft__io *io) {
    (void)loop;
    (void)io;
}

bool weft__uring_del_close(weft_loop_t *loop, struct weft__io *io) {
    (void)loop;
    (void)io;
    return false;
}

void weft__uring_flush(weft_loop_t *loop) {
    (void)loop;
}

void weft__uring_want_in(weft_loop_t *loop, struct weft__io *io) {
    (void)loop;
    io->ready &= ~(uint32_t)WEFT__IO_NOIN;
}

ssize_t weft__uring_recv(struct weft__io *io, void *buf, size_t len,
                         bool sock, int *late) {
    (void)io;
    (void)buf;
    (void)len;
    (void)sock;
    (void)late;
    return -ENOSYS;
}

ssize_t weft__uring_recv_pick(struct weft__io *io, char **buf, int *late) {
    (void)io;
    (void)buf;
    (void)late;
    return -EOPNOTSUPP;
}

bool weft__uring_op_within(const struct weft__wait *w, const char *lo,
                           const char *hi) {
    (void)w;
    (void)lo;
    (void)hi;
    return false;
}

int weft__uring_ms_stop(struct weft__io *io) {
    (void)io;
    return 0;
}

size_t weft__uring_ms_take(weft_loop_t *loop, struct weft__io *io,
                           char *buf, size_t len) {
    (void)loop;
    (void)io;
    (void)buf;
    (void)len;
    return 0;
}

bool weft__uring_ms_pending(weft_loop_t *loop, const struct weft__io *io) {
    (void)loop;
    (void)io;
    return false;
}

const char *weft_loop_backend(const weft_loop_t *loop) {
    return loop ? "epoll" : NULL;
}

struct weft__usend *weft__uring_send(weft_loop_t *loop, int fd,
                                     const void *buf, size_t len,
                                     void (*done)(void *ctx, int res),
                                     void *ctx) {
    (void)loop;
    (void)fd;
    (void)buf;
    (void)len;
    (void)done;
    (void)ctx;
    return NULL;
}

void weft__uring_send_detach(struct weft__usend *op, void *orphan) {
    (void)op;
    weft__free(orphan);
}

void weft__uring_later(weft_loop_t *loop, struct weft__later *l) {
    (void)loop;
    l->fn(l);
}

int weft__uring_pollable(weft_loop_t *loop, int fd) {
    (void)loop;
    (void)fd;
    return 0;
}

void weft__uring_trim(weft_loop_t *loop) {
    (void)loop;
}

int weft__uring_file(struct weft_task *t, const struct weft__fop *op,
                     const void *obj) {
    (void)t;
    (void)op;
    (void)obj;
    return -ENOSYS;
}

#else

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* Memcheck does not see the kernel write through the ring: what a
 * completion says was written is marked defined by hand. */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
/* Out of line: the client request's argument block would otherwise sit in
 * recv_op's frame, which stays on a parked reader's stack. */
static void __attribute__((noinline)) KERNEL_WROTE(const void *p, size_t n) {
    VALGRIND_MAKE_MEM_DEFINED(p, n);
}
#else
#define KERNEL_WROTE(p, n) ((void)(p), (void)(n))
#endif

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096
#define PB_ENTRIES 256 /* provided buffers' slots (a power of 2), below */
/* What the kernel may write into a provided buffer: all of it but the
 * tail that links it into its fd's queue (struct qtail). */
#define PB_LEN (WEFT__READ_CHUNK - 16)
#define PB_FIRST 16
#define PB_BGID 0
#define MS_QMAX 2 /* buffers queued for a reader before the recv stops */
/* Buffers queued on all of a loop's fds past which the ring's empty slots
 * are not refilled: the multishot recvs then end with -ENOBUFS and their
 * readers read the socket themselves. */
#define MS_BUDGET 64

struct qtail {
    char *next;   /* the next buffer in its fd's queue */
    unsigned len; /* bytes the kernel wrote at the start of this one */
};
_Static_assert(sizeof(struct qtail) <= WEFT__READ_CHUNK - PB_LEN,
               "a queued buffer's tail fits behind what the kernel writes");

static struct qtail *qtail(char *b) {
    return (struct qtail *)(void *)(b + PB_LEN);
}

/* User data: a pointer with its kind in the low bits, or a constant. */
enum {
    UD_IGNORE = 0, /* cancels: their completions say nothing we need */
    UD_WAKE = 8,   /* the eventfd's poll */
    UD_CLOSE = 16, /* weft__uring_del_close's close */
    TAG_POLL = 1,  /* a struct reg */
    TAG_OP = 2,    /* the task waiting in a struct uop (its t->wait) */
    TAG_SEND = 4,  /* a struct weft__usend (TAG_FOP is 3, below) */
    TAG_MRECV = 5, /* a struct reg: its fd's multishot recv */
    TAG_MASK = 7,
};

/* A registered fd. Its multishot recv (a stream socket read with
 * weft__uring_recv_pick, below) queues the buffers it fills here until
 * the reader takes them, linked through a tail at the end of each. */
struct reg {
    struct weft__io *io; /* NULL once unregistered: free at the last CQE */
    struct reg *next;    /* the free list */
    struct reg *all;     /* every record made, for the ring's end */
    char *qh, *qt;       /* the multishot recv's buffers, not yet read */
    unsigned qoff;       /* bytes of qh read already */
    unsigned qn;         /* buffers queued */
    unsigned char live;  /* R_POLL | R_MS: its requests in flight */
    bool stop;           /* a cancel of the multishot recv was asked for */
    bool ended;          /* the multishot recv ended with end (EOF: 0), */
    int end;             /* which the reader gets after the queue */
};

enum { R_POLL = 1, R_MS = 2 };

/* A send nobody waits for (weft__uring_send): on the heap, since it may
 * complete after its stream is gone; linked while in flight so that the
 * ring's end frees those whose completion never came. */
struct weft__usend {
    void (*done)(void *ctx, int res); /* NULL once detached */
    void *ctx;
    void *orphan; /* detached: freed at the completion */
    struct weft__usend *prev, *next;
};

struct weft__uring {
    struct io_uring ring;
    struct weft__list later;   /* struct weft__later: before the enter */
    struct weft__usend *sends; /* in flight */
    struct weft__usend *spare; /* one kept for the next send */
    struct reg **byfd; /* registration of each fd */
    size_t nbyfd;
    struct reg *free;
    struct reg *all; /* every record: the free, the registered, and those
                        whose last completion has not come (at close) */
    bool wake_armed;
    bool no_ms;  /* no multishot recv: a kernel before 6.0 */
    unsigned nq; /* buffers queued by multishot recvs, all fds */
    /* Closes weft__uring_del_close queued whose completion has not come;
     * each counts in loop->io_waiters until then, so that the loop polls
     * (and closes them) even when no task waits for I/O. */
    unsigned closing;
    /* Provided buffers (weft__uring_recv_pick), made at the first pick. */
    struct io_uring_buf_ring *br;
    char **pb;       /* pb[bid]: the buffer that bid names; NULL: a hole */
    unsigned npb;    /* bids made, 0 to npb - 1 */
    unsigned nholes; /* bids with no buffer (loop->rbufs_wanted) */
    unsigned short hole[PB_ENTRIES]; /* those bids */
    int pb_state;    /* 0: not tried; 1: registered; < 0: refused */
    unsigned pb_taken; /* since the last weft__uring_trim */
    bool pb_short;     /* a pick found the ring empty: grow it */
    bool deferred;     /* IORING_SETUP_DEFER_TASKRUN: completions (and
                          the kernel's writes into provided buffers) come
                          only inside our io_uring_enter */
};

/* An operation a task waits for (on its stack). Its wait is an I/O wait
 * for the task dump (the record begins with a weft__io_waiter). The
 * request's user data is the task, not this record: a task may hibernate
 * in the wait (weft_task_hibernate), its stack's pages given back, and
 * the completion must put the stack back before it reads the record. */
struct uop {
    struct weft__io_waiter iw;
    struct weft__uring *u;
    const char *buf; /* where the kernel writes */
    size_t len;
    char *picked; /* a recv_pick's buffer, which the completion named */
};

static struct io_uring_sqe *get_sqe(struct weft__uring *u) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (WEFT__LIKELY(sqe))
        return sqe;
    io_uring_submit(&u->ring); /* the queue is full: make room */
    return io_uring_get_sqe(&u->ring);
}

static void arm_wake(weft_loop_t *loop) {
    struct weft__uring *u = loop->uring;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return;
    io_uring_prep_poll_multishot(sqe, loop->wakefd, POLLIN);
    io_uring_sqe_set_data64(sqe, UD_WAKE);
    u->wake_armed = true;
}

/* File operations (weft__uring_file, at the end) have a tag, an abort and
 * a completion of their own: their waits never hibernate, so the record
 * on the task's stack is their user data. */
enum { TAG_FOP = 3 };
static void fop_done(weft_loop_t *loop, struct uop *op, int res);

/* IORING_RECV_MULTISHOT came with Linux 6.0; the probe does not tell
 * flags, and an -EINVAL from a recv says nothing certain (an unconnected
 * socket gives it too), so the release says. */
static bool multishot_recv_ok(void) {
    struct utsname un;
    unsigned major = 0;
    return uname(&un) == 0 && sscanf(un.release, "%u", &major) == 1 &&
           major >= 6;
}

static int uring_init(weft_loop_t *loop) {
    struct weft__uring *u = weft__calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    struct io_uring_params p;
    /* Completions are reaped by this thread, in its own io_uring_enter
     * (DEFER_TASKRUN, Linux 6.1): no interrupt to run them. Older kernels
     * take fewer flags. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
            IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_CQSIZE,
    };
    int err = -EINVAL;
    for (size_t i = 0; i < sizeof flag_sets / sizeof *flag_sets; i++) {
        memset(&p, 0, sizeof p);
        p.flags = flag_sets[i];
        p.cq_entries = CQ_ENTRIES;
        err = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
        if (err != -EINVAL)
            break;
    }
    if (err < 0) {
        weft__free(u);
        return err;
    }
    u->deferred = (p.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
    /* Multishot poll (5.13) and cancel by fd (5.19) are needed. */
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) &&
              io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) &&
              io_uring_opcode_supported(probe, IORING_OP_RECV) &&
              (p.features & IORING_FEAT_NODROP) &&
              (p.features & IORING_FEAT_EXT_ARG);
    if (probe)
        io_uring_free_probe(probe);
    if (!ok) {
        io_uring_queue_exit(&u->ring);
        weft__free(u);
        return -EOPNOTSUPP;
    }
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0) {
        err = -errno;
        io_uring_queue_exit(&u->ring);
        weft__free(u);
        return err;
    }
    weft__list_init(&u->later);
    u->no_ms = !multishot_recv_ok();
    loop->uring = u;
    arm_wake(loop);
    return 0;
}

int weft__poller_init(weft_loop_t *loop) {
    int want = want_uring();
    if (want != WANT_EPOLL) {
        int err = uring_init(loop);
        if (err == 0)
            return 0;
        static atomic_int said;
        if (want == WANT_URING && !atomic_exchange(&said, 1))
            weft__log(WEFT_LOG_WARN,
                      "WEFT_BACKEND=io_uring: io_uring is not available "
                      "(%s); using epoll",
                      weft_strerror(-err));
    }
    return weft__epoll_init(loop);
}

void weft__poller_fini(weft_loop_t *loop) {
    struct weft__uring *u = loop->uring;
    if (!u) {
        weft__epoll_fini(loop);
        return;
    }
    /* Closing the ring ends its requests; the records go with it. The
     * closes still queued are made first. */
    if (u->closing)
        weft__uring_flush(loop);
    io_uring_queue_exit(&u->ring);
    struct weft__usend *op;
    while ((op = u->sends)) {
        u->sends = op->next;
        weft__free(op->orphan);
        weft__free(op);
    }
    weft__free(u->spare);
    for (unsigned i = 0; i < u->npb; i++)
        weft__free(u->pb[i]);
    weft__free(u->pb);
    if (u->br)
        munmap(u->br, PB_ENTRIES * sizeof(struct io_uring_buf));
    weft__free(u->byfd);
    struct reg *r;
    while ((r = u->all)) {
        u->all = r->all;
        for (char *b = r->qh, *nb; b; b = nb) {
            nb = qtail(b)->next;
            weft__free(b);
        }
        weft__free(r);
    }
    weft__free(u);
    loop->uring = NULL;
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    loop->wakefd = -1;
}

/* epoll refuses a fd it cannot watch (EPERM: /dev/null, a regular file),
 * and weft_stream_from_fd says so; io_uring's poll would take it. Asked
 * with the loop's spare epoll descriptor, for fds of unknown kind only. */
int weft__uring_pollable(weft_loop_t *loop, int fd) {
    if (!loop->uring)
        return 0;
    if (loop->epfd < 0 &&
        (loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return 0; /* cannot tell: let it be */
    struct epoll_event ev = {.events = EPOLLIN};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    return 0;
}

const char *weft_loop_backend(const weft_loop_t *loop) {
    if (!loop)
        return NULL;
    return loop->uring ? "io_uring" : "epoll";
}

/* A direct socket's input is left out (WEFT__IO_NOIN): its recv
 * completions are its reads, and a POLLIN completion as well for every
 * message would be one more wakeup and completion for nothing. Errors and
 * hang-ups are reported whatever the mask. */
static void arm_poll(struct weft__uring *u, struct reg *r) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return; /* cannot happen after a submit; nothing to do if it does */
    unsigned mask = POLLOUT | POLLRDHUP;
    if (!(r->io->ready & WEFT__IO_NOIN))
        mask |= POLLIN;
    io_uring_prep_poll_multishot(sqe, r->io->fd, mask);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)r | TAG_POLL);
    r->live |= R_POLL;
}

static void reg_free(struct weft__uring *u, struct reg *r) {
    r->next = u->free;
    u->free = r;
}

static struct reg *reg_of(const struct weft__uring *u,
                          const struct weft__io *io) {
    size_t fd = (size_t)io->fd;
    if (io->fd < 0 || fd >= u->nbyfd || !u->byfd[fd] ||
        u->byfd[fd]->io != io)
        return NULL;
    return u->byfd[fd];
}

static void ms_drop(weft_loop_t *loop, struct reg *r);

int weft__uring_add(weft_loop_t *loop, struct weft__io *io) {
    struct weft__uring *u = loop->uring;
    if (io->fd < 0)
        return -EBADF;
    size_t fd = (size_t)io->fd;
    if (fd >= u->nbyfd) {
        size_t n = u->nbyfd ? u->nbyfd : 64;
        while (n <= fd)
            n *= 2;
        struct reg **t = weft__realloc(u->byfd, n * sizeof *t);
        if (!t)
            return -ENOMEM;
        memset(t + u->nbyfd, 0, (n - u->nbyfd) * sizeof *t);
        u->byfd = t;
        u->nbyfd = n;
    }
    if (u->byfd[fd])
        return -EEXIST;
    struct reg *r = u->free;
    if (r)
        u->free = r->next;
    else if ((r = weft__malloc(sizeof *r))) {
        r->all = u->all;
        u->all = r;
    } else {
        return -ENOMEM;
    }
    r->io = io;
    r->next = NULL;
    r->qh = r->qt = NULL;
    r->qoff = r->qn = r->live = 0;
    r->stop = r->ended = false;
    u->byfd[fd] = r;
    arm_poll(u, r);
    return 0;
}

/* The multishot poll's mask is changed by cancelling it: its last
 * completion arms it again (poll_done), with POLLIN now. Not with
 * IORING_POLL_UPDATE_EVENTS: an update fails (-EALREADY) while a wakeup of
 * the poll is being handled, and the wait would then hang; a cancel is
 * never refused. */
void weft__uring_want_in(weft_loop_t *loop, struct weft__io *io) {
    struct weft__uring *u = loop->uring;
    size_t fd = (size_t)io->fd;
    if (io->fd < 0 || fd >= u->nbyfd || !u->byfd[fd] ||
        u->byfd[fd]->io != io) {
        io->ready &= ~(uint32_t)WEFT__IO_NOIN;
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return; /* NOIN stays: the next wait asks again */
    io->ready &= ~(uint32_t)WEFT__IO_NOIN;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)u->byfd[fd] | TAG_POLL,
                           0);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
}

void weft__uring_del(weft_loop_t *loop, struct weft__io *io) {
    struct weft__uring *u = loop->uring;
    size_t fd = (size_t)io->fd;
    if (io->fd < 0 || fd >= u->nbyfd || !u->byfd[fd])
        return;
    ms_drop(loop, u->byfd[fd]);
    u->byfd[fd]->io = NULL; /* freed by its last completion */
    u->byfd[fd] = NULL;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return;
    io_uring_prep_cancel_fd(sqe, io->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    /* Now, while the fd still names the file, and run the cancellation
     * through (with DEFER_TASKRUN the poll lets go of the file only in
     * this thread's next io_uring_enter that asks for events): when the
     * caller closes the fd the file is closed too (a listening socket
     * refuses connections at once). */
    io_uring_submit_and_get_events(&u->ring);
}

/* Closing a connection cost two system calls beside its close(2): the
 * enter that ran the cancellation through (above), and close itself.
 * Here the cancel and a hard-linked IORING_OP_CLOSE (the close runs even
 * when the cancel finds nothing) go with the loop's next enter, which
 * comes before the loop sleeps; until then the fd stays open, so its
 * number cannot be given to another file that the cancel would then
 * name. Not for a listening socket, whose close must refuse connections
 * at once (weft__io_close and close(2) there), nor when the loop is not
 * running (no next enter is sure to come), nor when the submission queue
 * lacks the two entries (a submission now would split the link). */
bool weft__uring_del_close(weft_loop_t *loop, struct weft__io *io) {
    struct weft__uring *u = loop->uring;
    size_t fd = (size_t)io->fd;
    if (!loop->running || io->fd < 0 || fd >= u->nbyfd || !u->byfd[fd] ||
        io_uring_sq_space_left(&u->ring) < 2)
        return false;
    ms_drop(loop, u->byfd[fd]);
    u->byfd[fd]->io = NULL; /* freed by its last completion */
    u->byfd[fd] = NULL;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_cancel_fd(sqe, io->fd, IORING_ASYNC_CANCEL_ALL);
    sqe->flags |= IOSQE_IO_HARDLINK;
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_close(sqe, io->fd);
    io_uring_sqe_set_data64(sqe, UD_CLOSE);
    u->closing++;
    loop->io_waiters++;
    return true;
}

/* Polls (without waiting) until every queued close has completed. One
 * enter is not enough: with DEFER_TASKRUN the close, as the second of a
 * link, is the kernel's deferred work, and an enter runs only a batch of
 * that (20 items on 6.18), so a loop stopping after 21 closes left one
 * open, and the ring's exit would then drop it: the fd leaked (helper-28
 * found it). The bound is a guard against a kernel that never completes
 * them: 20 closes an enter, 10,000 enters. */
void weft__uring_flush(weft_loop_t *loop) {
    struct weft__uring *u = loop->uring;
    for (int i = 0; u->closing && i < 10000; i++)
        weft__uring_poll(loop, 0);
}

/* ---- provided buffers ---------------------------------------------------------- */

/* A stream with nothing buffered reads with weft__uring_recv_pick: the
 * recv names no buffer, and the kernel takes one from the loop's ring
 * (IOSQE_BUFFER_SELECT) only when bytes arrive. The buffer is then the
 * stream's (as if it had allocated it) and its bid gets another one, from
 * the loop's spare read buffers (stream.c gives empty ones back there) or
 * the allocator. So a connection waiting for its next message holds no
 * read buffer (issue 15), and a busy one trades buffers with the ring
 * without a malloc. The ring starts small and doubles (once an
 * iteration) when the kernel found it empty (-ENOBUFS: that read takes
 * its bytes into a buffer of the stream's own, stream.c), up to
 * PB_ENTRIES: only a burst of arrivals in one iteration, or a peer far
 * ahead of its reader (the multishot recv, below), needs more. An
 * idle server gives the pages of the ring's buffers back
 * (weft__uring_trim). */

static char *pb_new(weft_loop_t *loop) {
    char *b = weft__rbuf_take(loop);
    return b ? b : weft__malloc(WEFT__READ_CHUNK);
}

static void pb_put(struct weft__uring *u, unsigned bid) {
    io_uring_buf_ring_add(u->br, u->pb[bid], PB_LEN,
                          (unsigned short)bid,
                          io_uring_buf_ring_mask(PB_ENTRIES), 0);
    io_uring_buf_ring_advance(u->br, 1);
}

/* Up to n more bids, each with a buffer. */
static void pb_grow(weft_loop_t *loop, unsigned n) {
    struct weft__uring *u = loop->uring;
    while (n-- > 0 && u->npb < PB_ENTRIES) {
        if (!(u->pb[u->npb] = pb_new(loop)))
            return;
        pb_put(u, u->npb++);
    }
}

/* Give the holes their buffers: before each io_uring_enter, so that the
 * buffers the iteration's readers gave back (to the loop's spares, which
 * keep one for each hole) refill the ring without a malloc. */
static void pb_fill_holes(weft_loop_t *loop) {
    struct weft__uring *u = loop->uring;
    /* Not while readers are far behind (multishot recv, below): what the
     * queues hold and the ring offers is bounded per loop. */
    while (u->nholes && u->nq < MS_BUDGET) {
        unsigned bid = u->hole[u->nholes - 1];
        if (!(u->pb[bid] = pb_new(loop)))
            break; /* the next iteration tries again */
        u->nholes--;
        pb_put(u, bid);
    }
    loop->rbufs_wanted = u->nholes;
}

static int pb_setup(weft_loop_t *loop) {
    struct weft__uring *u = loop->uring;
    size_t size = PB_ENTRIES * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED)
        return -errno;
    u->pb = weft__calloc(PB_ENTRIES, sizeof *u->pb);
    if (!u->pb) {
        munmap(br, size);
        return -ENOMEM;
    }
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br,
                                   .ring_entries = PB_ENTRIES,
                                   .bgid = PB_BGID};
    int err = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (err < 0) { /* before 5.19, or refused */
        munmap(br, size);
        weft__free(u->pb);
        u->pb = NULL;
        return err;
    }
    u->br = br;
    pb_grow(loop, PB_FIRST);
    return 1;
}

/* Idle: the buffers waiting in the ring give their whole pages back
 * (MADV_DONTNEED; the kernel's next write into one faults a zero page
 * in). A burst grows the ring and its buffers' pages were touched as they
 * went round; without this an idle server would keep them all (bench/idle:
 * 700 B a connection at 10,000, measured with a ring of up to 512). Only after a take,
 * so a server idle for long pays this once. */
void weft__uring_trim(weft_loop_t *loop) {
    struct weft__uring *u = loop->uring;
    /* A buffer the kernel has filled still sits in pb[] until its
     * completion is handled: only when no completion waits, and only
     * where none can come before our next io_uring_enter (DEFER_TASKRUN),
     * are all of pb[] really empty. */
    if (!u->pb_taken || !u->deferred || io_uring_cq_ready(&u->ring) ||
        io_uring_cq_has_overflow(&u->ring))
        return;
    u->pb_taken = 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (unsigned i = 0; i < u->npb; i++) {
        if (!u->pb[i])
            continue;
        uintptr_t lo = ((uintptr_t)u->pb[i] + page - 1) & ~(page - 1);
        uintptr_t hi = ((uintptr_t)u->pb[i] + WEFT__READ_CHUNK) & ~(page - 1);
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
}

/* The completion of a pick named bid: its buffer is the reader's now,
 * and the bid a hole until the next io_uring_enter (pb_fill_holes): a
 * batch of completions takes a batch of buffers, and their readers give
 * most of them back (emptied) before then. Refilled at once, each would
 * be a malloc and each give-back a free. */
static char *pb_take(weft_loop_t *loop, unsigned bid) {
    struct weft__uring *u = loop->uring;
    if (bid >= u->npb || !u->pb[bid])
        return NULL; /* not ours: cannot happen */
    char *b = u->pb[bid];
    u->pb_taken++;
    u->pb[bid] = NULL;
    u->hole[u->nholes++] = (unsigned short)bid;
    loop->rbufs_wanted = u->nholes;
    return b;
}

static void poll_done(weft_loop_t *loop, struct weft__uring *u, struct reg *r,
                      const struct io_uring_cqe *cqe) {
    struct weft__io *io = r->io;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        r->live &= (unsigned char)~R_POLL;
        if (!io) { /* unregistered: this was its last word */
            if (!r->live)
                reg_free(u, r);
            return;
        }
        /* The kernel ended the multishot poll (it may, e.g. when the
         * completion queue overflowed), or we did to change its mask
         * (weft__uring_want_in): arm it again. */
        if (cqe->res != -EBADF)
            arm_poll(u, r);
        if (cqe->res < 0) {
            if (cqe->res == -ECANCELED)
                return;
            uint32_t bits = WEFT__IO_ERR | WEFT__IO_IN | WEFT__IO_OUT;
            io->ready |= bits;
            io->notify(loop, io, bits);
            return;
        }
    }
    if (!io || cqe->res <= 0)
        return;
    uint32_t bits = weft__poll_bits((uint32_t)cqe->res);
    io->ready |= bits;
    io->notify(loop, io, bits);
}

static void send_done(struct weft__uring *u, struct weft__usend *op, int res) {
    if (op->prev)
        op->prev->next = op->next;
    else
        u->sends = op->next;
    if (op->next)
        op->next->prev = op->prev;
    void (*done)(void *, int) = op->done;
    void *ctx = op->ctx;
    weft__free(op->orphan);
    if (!u->spare)
        u->spare = op;
    else
        weft__free(op);
    if (done)
        done(ctx, res);
}

static void op_done(weft_loop_t *loop, struct weft_task *t,
                    const struct io_uring_cqe *cqe) {
    int res = cqe->res;
    loop->io_waiters--;
    if (WEFT__UNLIKELY(t->asleep != NULL))
        weft__task_thaw(t); /* the record below is on its stack */
    struct weft__wait *w = t->wait;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0)
            WEFT__CONTAINER_OF(w, struct uop, iw.w)->picked =
                pb_take(loop, bid);
        else if (bid < loop->uring->npb && loop->uring->pb[bid])
            pb_put(loop->uring, bid); /* nothing in it: back it goes */
    } else if (res == -ENOBUFS) {
        /* The ring was empty (when bytes came, or at the submission): the
         * reader takes the bytes itself this time (stream.c), and the
         * ring grows, once for the whole batch (weft__uring_poll). */
        loop->uring->pb_short = true;
    }
    if (res == -ECANCELED)
        /* Ours (an interruption: report it as such) or the fd's
         * unregistering (it was closed under the read). */
        res = w->interrupted ? w->interrupted : -EBADF;
    weft__task_wake(w->task, res);
}

/* ---- multishot recv ---------------------------------------------------------------- */

/* A stream socket read through provided buffers (weft__uring_recv_pick)
 * keeps one IORING_OP_RECV with IORING_RECV_MULTISHOT in flight: each
 * arrival of bytes completes it once more, in a buffer the kernel takes
 * from the loop's ring, and it stays armed. So a read costs no
 * submission, and the kernel arms no poll for the recv that would find
 * the socket empty and disarms none when bytes come (the single-shot
 * recv did both, every message). What arrives while nobody reads waits
 * in the fd's queue (struct reg). Past MS_QMAX buffers the recv is
 * cancelled (the socket's buffer holds the rest, as it would for a
 * reader that stopped) and the reader arms it again once the queue is
 * read; the cancel goes with the next enter, and in the enter that runs
 * the recv the kernel takes all the socket holds, as far as the ring has
 * buffers. So the bound that holds is the loop's: the ring's empty slots
 * are not refilled while MS_BUDGET buffers are queued on all its fds,
 * and a recv that finds the ring empty ends (-ENOBUFS; its reader reads
 * the socket itself). At most PB_ENTRIES + MS_BUDGET buffers (5 MiB) of
 * bytes nobody asked for yet, however many peers send. A reader waits
 * as for readiness (ms_park: its wait consumes nothing): one that is
 * cancelled leaves the bytes queued for the next read, epoll's behaviour, with no cancel to submit and no wait
 * for its completion. The recv ends (and is armed again by the next read)
 * at the end of the stream, on an error, when the ring had no buffer
 * (-ENOBUFS: the reader takes the bytes itself, as a single-shot pick
 * would), and when the fd is unregistered (the cancel of every request
 * on the fd ends it; the queue is freed then). */

static void ms_push(struct weft__uring *u, struct reg *r, char *b,
                    unsigned len) {
    struct qtail *tl = qtail(b);
    tl->next = NULL;
    tl->len = len;
    if (r->qt)
        qtail(r->qt)->next = b;
    else
        r->qh = b;
    r->qt = b;
    r->qn++;
    u->nq++;
}

static char *ms_pop(struct weft__uring *u, struct reg *r) {
    char *b = r->qh;
    r->qh = qtail(b)->next;
    if (!r->qh)
        r->qt = NULL;
    r->qn--;
    u->nq--;
    r->qoff = 0;
    return b;
}

/* The fd is unregistered (and about to be closed): its queue goes (the
 * cancel of every request on the fd ends the recv itself). Bytes nobody
 * read would have been in the socket's receive queue without the
 * multishot recv, and closing a TCP socket with unread bytes resets the
 * connection (the peer learns they were dropped): SO_LINGER 0 makes the
 * close do the same. */
static void ms_drop(weft_loop_t *loop, struct reg *r) {
    if (r->qh && r->io) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(r->io->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    while (r->qh)
        weft__rbuf_give(loop, ms_pop(loop->uring, r), WEFT__READ_CHUNK);
    r->ended = false;
}

static void ms_cancel(struct weft__uring *u, struct reg *r) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return; /* cannot happen after a submit */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)r | TAG_MRECV, 0);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    r->stop = true;
}

static void mrecv_done(weft_loop_t *loop, struct weft__uring *u,
                       struct reg *r, const struct io_uring_cqe *cqe) {
    int res = cqe->res;
    bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    char *b = NULL;
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0) {
            b = pb_take(loop, bid);
            if (b)
                KERNEL_WROTE(b, (size_t)res);
        } else if (bid < u->npb && u->pb[bid]) {
            pb_put(u, bid); /* nothing in it: back it goes */
        }
    }
    struct weft__io *io = r->io;
    if (!more) {
        r->live &= (unsigned char)~R_MS;
        r->stop = false;
        if (res == -ENOBUFS)
            u->pb_short = true; /* the ring grows (weft__uring_poll) */
    }
    if (!io) { /* unregistered: what it took goes */
        if (b)
            weft__rbuf_give(loop, b, WEFT__READ_CHUNK);
        if (!r->live)
            reg_free(u, r);
        return;
    }
    if (b) {
        ms_push(u, r, b, (unsigned)res);
        if (r->qn >= MS_QMAX && more && !r->stop)
            ms_cancel(u, r);
    } else if (!more && res != -ECANCELED) {
        r->ended = true; /* 0 (end of stream), -ENOBUFS, an error */
        r->end = res;
    }
    if (b || !more) /* to its reader: not a readiness event (io.notify) */
        weft__io_notify(loop, io, WEFT__IO_IN);
}

static int ms_arm(struct weft__uring *u, struct reg *r) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return -EAGAIN;
    io_uring_prep_recv_multishot(sqe, r->io->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = PB_BGID;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)r | TAG_MRECV);
    r->live |= R_MS;
    return 0;
}

/* Up to len bytes of the queue's head into buf, or (pick) the head buffer
 * itself, its bytes moved to its start if some were read already. */
static ssize_t ms_take(weft_loop_t *loop, struct reg *r, char *buf,
                       size_t len, char **pick) {
    char *b = r->qh;
    size_t have = qtail(b)->len - r->qoff;
    if (pick) {
        if (r->qoff)
            memmove(b, b + r->qoff, have);
        *pick = ms_pop(loop->uring, r);
        return (ssize_t)have;
    }
    size_t n = have < len ? have : len;
    memcpy(buf, b + r->qoff, n);
    r->qoff += (unsigned)n;
    if (n == have)
        weft__rbuf_give(loop, ms_pop(loop->uring, r), WEFT__READ_CHUNK);
    return (ssize_t)n;
}

static ssize_t recv_op(struct weft__io *io, void *buf, size_t len, bool sock,
                       char **pick, int *late);

/* Park until the fd's multishot recv completes (mrecv_done notifies
 * WEFT__IO_IN), whatever is latched: weft__io_wait's wait without its
 * test of latched events. Inline: the record is in the caller's frame,
 * what a hibernating reader copies aside. */
static inline __attribute__((always_inline)) int
ms_park(struct weft_task *t, struct weft__io *io) {
    struct weft__io_waiter iw = {
        .w = {.abort = weft__io_abort, .kind = WEFT__WAIT_IO, .obj = io},
        .events = WEFT__IO_IN};
    weft__list_push_back(&io->waiters, &iw.link);
    t->loop->io_waiters++;
    int w = weft__park(&iw.w);
    return w < 0 ? w : io->fd < 0 ? -EBADF : 0;
}

/* A read served by the multishot recv: what is queued, else its end, else
 * (armed if it is not) a wait for its next completion. Where the reader
 * must do without it (no multishot recv on this kernel, or the ring had
 * no buffer and the reader has one of its own), a single-shot recv.
 * Out of line and called last, with its wait record in its own frame:
 * what a parked reader keeps on its stack is what a hibernating task
 * copies aside (bench/idle: a frame more was 190 B more a connection). */
static ssize_t __attribute__((noinline))
ms_read(struct weft__io *io, struct reg *r, char *buf, size_t len,
        char **pick, int *late) {
    struct weft_task *t = weft__task_current();
    struct weft__uring *u = t->loop->uring;
    ssize_t n;
    for (;;) {
        if (r->qh) {
            n = ms_take(t->loop, r, buf, len, pick);
            break;
        }
        if (r->ended) {
            r->ended = false;
            if (r->end == -ENOBUFS && !pick)
                goto without;
            n = r->end;
            break;
        }
        if (!(r->live & R_MS) && (u->no_ms || ms_arm(u, r) < 0))
            goto without;
        if ((n = ms_park(t, io)) < 0)
            break;
    }
    weft__tls_rq.io_ops++;
    return n;
without:
    return recv_op(io, buf, len, true, pick, late); /* (which counts it) */
}

int weft__uring_ms_stop(struct weft__io *io) {
    struct weft_task *t = weft__task_require("weft I/O");
    if (!t)
        return -EPERM;
    struct weft__uring *u = t->loop->uring;
    struct reg *r = u ? reg_of(u, io) : NULL;
    while (r && (r->live & R_MS)) {
        if (!r->stop)
            ms_cancel(u, r);
        int w = ms_park(t, io);
        if (w < 0)
            return w;
    }
    return 0;
}

size_t weft__uring_ms_take(weft_loop_t *loop, struct weft__io *io,
                           char *buf, size_t len) {
    struct reg *r = loop->uring ? reg_of(loop->uring, io) : NULL;
    if (!r)
        return 0;
    if (!buf) {
        size_t n = 0;
        for (char *b = r->qh; b; b = qtail(b)->next)
            n += qtail(b)->len;
        return n - r->qoff;
    }
    size_t got = 0;
    while (got < len && r->qh)
        got += (size_t)ms_take(loop, r, buf + got, len - got, NULL);
    return got;
}

bool weft__uring_ms_pending(weft_loop_t *loop, const struct weft__io *io) {
    const struct reg *r = loop->uring ? reg_of(loop->uring, io) : NULL;
    /* (-ENOBUFS says only that the ring was empty when it was armed) */
    return r && (r->qh || (r->ended && r->end != -ENOBUFS));
}

int weft__uring_poll(weft_loop_t *loop, int64_t timeout_ns) {
    struct weft__uring *u = loop->uring;
    struct io_uring *ring = &u->ring;
    struct weft__list *ln;
    while ((ln = weft__list_pop_front(&u->later))) {
        struct weft__later *l = WEFT__CONTAINER_OF(ln, struct weft__later, link);
        l->fn(l);
    }
    if (u->nholes)
        pb_fill_holes(loop);
    if (timeout_ns == 0) {
        /* Submit what is queued and run the completions due. */
        io_uring_submit_and_get_events(ring);
    } else {
        struct __kernel_timespec ts, *tp = NULL;
        if (timeout_ns > 0) {
            ts.tv_sec = timeout_ns / (int64_t)WEFT__NS_PER_SEC;
            ts.tv_nsec = timeout_ns % (int64_t)WEFT__NS_PER_SEC;
            tp = &ts;
        }
        struct io_uring_cqe *cqe;
        int r = io_uring_submit_and_wait_timeout(ring, &cqe, 1, tp, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY &&
            r != -EAGAIN)
            weft__log(WEFT_LOG_ERROR, "io_uring_enter: %s",
                      weft_strerror(-r));
    }
    int handled = 0;
    bool woke = false;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(ring, head, cqe) {
            n++;
            uint64_t ud = cqe->user_data;
            switch (ud & TAG_MASK) {
            case TAG_FOP:
                fop_done(loop, (struct uop *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK),
                         cqe->res);
                handled++;
                break;
            case TAG_POLL:
                poll_done(loop, u, (struct reg *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK),
                          cqe);
                handled++;
                break;
            case TAG_OP:
                op_done(loop,
                        (struct weft_task *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK),
                        cqe);
                handled++;
                break;
            case TAG_MRECV:
                mrecv_done(loop, u,
                           (struct reg *)(uintptr_t)(ud & ~(uint64_t)TAG_MASK),
                           cqe);
                handled++;
                break;
            case TAG_SEND:
                send_done(u,
                          (struct weft__usend *)(uintptr_t)(ud &
                                                            ~(uint64_t)TAG_MASK),
                          cqe->res);
                handled++;
                break;
            default:
                if (ud == UD_WAKE) {
                    woke = true; /* drained with the queue it announces */
                    if (!(cqe->flags & IORING_CQE_F_MORE))
                        u->wake_armed = false;
                } else if (ud == UD_CLOSE) {
                    u->closing--;
                    loop->io_waiters--;
                }
                break;
            }
        }
        io_uring_cq_advance(ring, n);
        if (!n || !io_uring_cq_has_overflow(ring))
            break;
        io_uring_get_events(ring); /* flush the overflowed ones in */
    }
    if (WEFT__UNLIKELY(u->pb_short)) {
        u->pb_short = false;
        pb_grow(loop, u->npb ? u->npb : PB_FIRST);
    }
    if (!u->wake_armed)
        arm_wake(loop);
    return handled + (woke ? 1 : 0);
}

/* ---- operations completed by the kernel ------------------------------------------ */

static int uop_abort(struct weft__wait *w) {
    struct uop *op = WEFT__CONTAINER_OF(w, struct uop, iw.w);
    struct io_uring_sqe *sqe = get_sqe(op->u);
    if (!sqe)
        return -EINPROGRESS; /* it completes anyway, later */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)w->task | TAG_OP, 0);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    return -EINPROGRESS; /* its completion wakes the task */
}

/* Whether the kernel may write into [lo, hi) for the operation w waits
 * for (a task whose stack that is must not hibernate). */
bool weft__uring_op_within(const struct weft__wait *w, const char *lo,
                           const char *hi) {
    if (w->abort != uop_abort)
        return false;
    const struct uop *op = WEFT__CONTAINER_OF(w, struct uop, iw.w);
    return op->buf < hi && op->buf + op->len > lo;
}

/* A recv or read into buf, or a recv into a buffer the kernel picks
 * (pick: buf is NULL and *pick gets it). */
/* Apart from recv_op, whose frame stays on the stack while the recv is
 * in flight (and is copied aside when its task hibernates). */
static int __attribute__((noinline))
submit_recv(struct weft__uring *u, struct weft_task *t, int fd, void *buf,
            size_t len, bool sock, bool pick) {
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return -EAGAIN;
    if (pick) {
        io_uring_prep_recv(sqe, fd, NULL, len, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = PB_BGID;
    } else if (sock) {
        io_uring_prep_recv(sqe, fd, buf, len, 0);
    } else {
        io_uring_prep_read(sqe, fd, buf, (unsigned)len, (uint64_t)-1);
    }
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)t | TAG_OP);
    return 0;
}

static ssize_t recv_op(struct weft__io *io, void *buf, size_t len, bool sock,
                       char **pick, int *late) {
    struct weft_task *t = weft__task_require("weft I/O");
    if (!t)
        return -EPERM;
    if (io->fd < 0)
        return -EBADF;
    weft_loop_t *loop = t->loop;
    struct uop op = {
        .iw = {.w = {.abort = uop_abort,
                     .kind = WEFT__WAIT_IO,
                     .obj = io,
                     .consumes = true},
               .events = WEFT__IO_IN},
        .u = loop->uring,
        .buf = buf,
        .len = buf ? len : 0};
    weft__list_init(&op.iw.link);
    if (submit_recv(op.u, t, io->fd, buf, len, sock, pick != NULL) < 0)
        return -EAGAIN;
    weft__tls_rq.io_ops++;
    loop->io_waiters++;
    /* Edges from now on may be for bytes this recv does not take. */
    io->ready &= ~(uint32_t)WEFT__IO_IN;
    ssize_t n = weft__park(&op.iw.w);
    if (pick && n > 0) {
        if (WEFT__UNLIKELY(!op.picked))
            return -EIO; /* a completion without its buffer: cannot be */
        *pick = op.picked;
        buf = op.picked;
    }
    if (n > 0)
        KERNEL_WROTE(buf, (size_t)n);
    /* Bytes, but the task was cancelled (or its deadline passed) while the
     * recv was in flight, or after it completed and before the task ran:
     * the kernel's completion and our ASYNC_CANCEL raced, and the recv
     * won. With epoll the wait would have ended with the interruption and
     * the bytes stayed in the socket (weft__park reports a wait that
     * consumed nothing that way); here they are taken, so the caller gets
     * the interruption in *late and keeps the bytes for the next read
     * (the stream puts them in its buffer). */
    if (n > 0 && WEFT__UNLIKELY(t->pending != 0) && late)
        *late = weft__task_interrupted(t);
    return n;
}

ssize_t weft__uring_recv(struct weft__io *io, void *buf, size_t len,
                         bool sock, int *late) {
    struct weft_task *t = weft__task_current();
    struct reg *r;
    if (sock && t && t->loop->uring && (r = reg_of(t->loop->uring, io)) &&
        (r->live & R_MS || r->qh || r->ended))
        /* Its multishot recv is the only reader of the socket now. */
        return ms_read(io, r, buf, len, NULL, late);
    return recv_op(io, buf, len, sock, NULL, late);
}

ssize_t weft__uring_recv_pick(struct weft__io *io, char **buf, int *late) {
    struct weft_task *t = weft__task_require("weft I/O");
    if (!t)
        return -EPERM;
    struct weft__uring *u = t->loop->uring;
    if (!u)
        return -EOPNOTSUPP;
    if (WEFT__UNLIKELY(u->pb_state <= 0)) {
        if (u->pb_state == 0)
            u->pb_state = pb_setup(t->loop);
        if (u->pb_state < 0)
            return -EOPNOTSUPP;
    }
    *buf = NULL;
    struct reg *r = reg_of(u, io);
    if (r)
        return ms_read(io, r, NULL, WEFT__READ_CHUNK, buf, late);
    return recv_op(io, NULL, WEFT__READ_CHUNK, true, buf, late);
}

/* ---- sends nobody waits for ------------------------------------------------------ */

struct weft__usend *weft__uring_send(weft_loop_t *loop, int fd,
                                     const void *buf, size_t len,
                                     void (*done)(void *ctx, int res),
                                     void *ctx) {
    struct weft__uring *u = loop->uring;
    if (!u)
        return NULL;
    struct weft__usend *op = u->spare;
    if (op)
        u->spare = NULL;
    else if (!(op = weft__malloc(sizeof *op)))
        return NULL;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe) {
        u->spare = op;
        return NULL;
    }
    /* At most what one send(2) takes: a larger one completes short. */
    if (len > 0x7ffff000)
        len = 0x7ffff000;
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_SEND);
    op->done = done;
    op->ctx = ctx;
    op->orphan = NULL;
    op->prev = NULL;
    op->next = u->sends;
    if (u->sends)
        u->sends->prev = op;
    u->sends = op;
    weft__tls_rq.io_ops++;
    return op;
}

void weft__uring_later(weft_loop_t *loop, struct weft__later *l) {
    if (!weft__list_linked(&l->link))
        weft__list_push_back(&loop->uring->later, &l->link);
}

void weft__uring_send_detach(struct weft__usend *op, void *orphan) {
    op->done = NULL;
    op->ctx = NULL;
    op->orphan = orphan;
}

/* ---- file operations (src/fs/file.c) -------------------------------------------- */

/* An interrupted file request is cancelled in the kernel; its completion
 * (cancelled, or with the result that won the race) wakes the task. */
static int fop_abort(struct weft__wait *w) {
    struct uop *op = WEFT__CONTAINER_OF(w, struct uop, iw.w);
    struct io_uring_sqe *sqe = get_sqe(op->u);
    if (!sqe)
        return -EINPROGRESS; /* it completes anyway, later */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op | TAG_FOP, 0);
    io_uring_sqe_set_data64(sqe, UD_IGNORE);
    return -EINPROGRESS;
}

static void fop_done(weft_loop_t *loop, struct uop *op, int res) {
    loop->io_waiters--;
    struct weft__wait *w = &op->iw.w;
    if (res == -ECANCELED && w->interrupted)
        res = w->interrupted; /* ours: report the interruption */
    weft__task_wake(w->task, res);
}

/* One request, awaited as weft__uring_recv awaits its recv: an
 * interruption cancels it in the kernel and the task still waits for its
 * completion; a result that won the race is returned (consumes). A close
 * cannot be interrupted: the descriptor is gone either way once it has
 * been submitted. */
int weft__uring_file(struct weft_task *t, const struct weft__fop *fo,
                     const void *obj) {
    weft_loop_t *loop = t->loop;
    if (!loop->uring)
        return -ENOSYS;
    bool close_op = fo->kind == WEFT__FOP_CLOSE;
    struct uop op = {
        .iw = {.w = {.abort = close_op ? NULL : fop_abort,
                     .kind = WEFT__WAIT_FILE,
                     .obj = obj,
                     .noint = close_op,
                     .consumes = true}},
        .u = loop->uring};
    weft__list_init(&op.iw.link);
    struct io_uring_sqe *sqe = get_sqe(op.u);
    if (!sqe)
        return -EAGAIN;
    switch (fo->kind) {
    case WEFT__FOP_OPEN:
        io_uring_prep_openat(sqe, fo->fd, fo->path, fo->flags, fo->mode);
        break;
    case WEFT__FOP_OPENAT2:
        io_uring_prep_openat2(sqe, fo->fd, fo->path, fo->buf);
        break;
    case WEFT__FOP_READ:
        io_uring_prep_read(sqe, fo->fd, fo->buf, (unsigned)fo->len, fo->off);
        break;
    case WEFT__FOP_WRITE:
        io_uring_prep_write(sqe, fo->fd, fo->buf, (unsigned)fo->len,
                            fo->off);
        break;
    case WEFT__FOP_FSYNC:
        io_uring_prep_fsync(sqe, fo->fd,
                            fo->flags ? IORING_FSYNC_DATASYNC : 0);
        break;
    case WEFT__FOP_STATX:
        io_uring_prep_statx(sqe, fo->fd, fo->path, fo->flags, fo->mode,
                            fo->buf);
        break;
    case WEFT__FOP_CLOSE:
        io_uring_prep_close(sqe, fo->fd);
        break;
    default:
        io_uring_prep_nop(sqe);
        break;
    }
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)&op | TAG_FOP);
    weft__tls_rq.io_ops++;
    loop->io_waiters++;
    int r = weft__park(&op.iw.w);
    if (r > 0 && fo->kind == WEFT__FOP_READ)
        KERNEL_WROTE(fo->buf, (size_t)r);
    else if (r == 0 && fo->kind == WEFT__FOP_STATX)
        KERNEL_WROTE(fo->buf, sizeof(struct statx));
    return r;
}

#endif
