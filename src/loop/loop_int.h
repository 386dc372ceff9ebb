/* Internal: the loop's structure and the interface the layers above use
 * (tasks, I/O operations, the executor). */
#ifndef WEFT_LOOP_INT_H
#define WEFT_LOOP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../core/common.h"
#include "../core/heap.h"
#include "../core/list.h"
#include "../core/trace.h"
#include "../coro/ctx.h"
#include "../coro/stack.h"
#include "weft/loop.h"

/* ---- the ready queue -------------------------------------------------------
 * Everything runnable is a weft__ready node: callback records and tasks, in
 * one FIFO (singly linked). A callback's node has run(); a task's node has
 * run == NULL, which the scheduler reads as "switch to this task". */
struct weft__ready;
typedef void (*weft__ready_fn)(weft_loop_t *loop, struct weft__ready *r);

struct weft__ready {
    struct weft__ready *next;
    weft__ready_fn run;
};

/* ---- callback records (call_soon, call_later, done-callbacks) --------------
 * Slab-allocated; a handle names one by index and generation, so a stale
 * handle is recognised. */
enum weft__call_state {
    WEFT__CALL_FREE = 0,
    WEFT__CALL_READY,     /* on the ready queue */
    WEFT__CALL_TIMER,     /* in the timer heap */
    WEFT__CALL_CANCELLED, /* on the ready queue, to be skipped */
    WEFT__CALL_HELD,      /* owned by another structure (a future's list) */
};

struct weft__call {
    struct weft__ready node;
    struct weft__timer timer;
    void (*fn)(void *arg, void *arg2, void *arg3);
    /* Called instead of fn, with the same arguments, when a scheduled
     * record is discarded without running (cancelled, or dropped by the
     * loop's close), to release what the record holds. NULL: nothing. */
    void (*drop)(void *arg, void *arg2, void *arg3);
    void *arg, *arg2, *arg3;
    struct weft__call *link; /* free list, or the holder's list */
    uint32_t gen, idx;
    uint8_t state;
};

struct weft__calls {
    struct weft__call **chunks;
    uint32_t nchunks;
    struct weft__call *free;
    uint32_t live;
};

/* ---- calls from other threads ----------------------------------------------- */
struct weft__tsq_item {
    weft_callback_fn fn;
    void *arg;
};

struct weft__tsq {
    pthread_mutex_t mu;
    struct weft__tsq_item *v, *spare;
    size_t n, cap, spare_cap;
    atomic_int pending; /* items are queued and a wakeup was written */
    bool closed;
};

/* ---- I/O readiness (the epoll backend's unit) ---------------------------------
 * An fd registered once, edge-triggered, for input and output. The poller
 * latches readiness in `ready` and calls notify(). */
enum {
    WEFT__IO_IN = 1u << 0,
    WEFT__IO_OUT = 1u << 1,
    WEFT__IO_ERR = 1u << 2,
    WEFT__IO_HUP = 1u << 3,
    WEFT__IO_RDHUP = 1u << 4,
    /* Not readiness: the backend completes this fd's reads itself (io_uring
     * submits the recv and wakes the reader with its result), so a reader
     * never waits for an edge first. Set when a stream socket is registered
     * (weft__io_open_direct); the poller never clears it. */
    WEFT__IO_DIRECT = 1u << 5,
    /* Not readiness either: the backend does not watch this fd for input
     * (io_uring, a DIRECT fd: its recv completions say it all, and a POLLIN
     * completion a message would be wasted work), so IN is never latched
     * but with a hang-up or error. The first weft__io_wait for IN (a TLS
     * read, a peek) clears it, and the fd is watched for input again from
     * then on (weft__uring_want_in). */
    WEFT__IO_NOIN = 1u << 6,
};

struct weft__io {
    int fd;
    uint32_t ready;
    void (*notify)(weft_loop_t *loop, struct weft__io *io, uint32_t events);
    struct weft__list waiters; /* used by the task layer's waits */
    /* A hibernating task waits here (weft_task_hibernate): its waiter
     * record is on its stack, so it is woken before the list is read. */
    struct weft_task *sleeper;
};

/* ---- hooks run when the loop closes or is freed ------------------------------- */
enum {
    WEFT__PHASE_TASKS = 10, /* cancel and drain tasks (loop still runs) */
    WEFT__PHASE_EXEC = 20,  /* stop executor pools */
    WEFT__PHASE_FREE = 90,  /* release per-loop state (loop no longer runs) */
};

struct weft__hook {
    struct weft__list link;
    int phase;
    void (*fn)(weft_loop_t *loop, struct weft__hook *h);
};

/* ---- the run queue ---------------------------------------------------------
 * The scheduler's hot words. While a loop runs they live in a thread-local
 * block (weft__tls_rq), so that a task switch reads them one load away from
 * the thread pointer instead of two (thread -> loop -> queue); otherwise in
 * the loop itself. loop->rq points at wherever they are now. */
struct weft__runq {
    weft_loop_t *loop;          /* the loop this thread runs, or NULL */
    struct weft_task *current;  /* running task, NULL in callbacks */
    struct weft__ready *head;
    struct weft__ready **tail;
    int32_t budget;             /* items this iteration may still take */
    /* Counters that travel with the block (weft_loop_stats): I/O system
     * calls made by the loop's operations and streams. */
    uint64_t io_ops;
};

extern WEFT__TLS struct weft__runq weft__tls_rq;

/* The loop this thread is running (also while one of its tasks runs). */
#define weft__tls_loop (weft__tls_rq.loop)

struct weft_loop {
    struct weft__runq *rq;      /* &rq_own, or &weft__tls_rq while running */
    struct weft__runq rq_own;
    struct weft__ready *batch_last; /* last item ready when it began */
    struct weft__ready *stop_after; /* stop() was called: run up to this */
    uint64_t now;       /* cached clock, ns */
    struct weft__ctx sched; /* the thread's own context: runs callbacks */
    struct weft_task *zombie; /* finished task whose stack awaits release */

    struct weft__heap timers;
    struct weft__calls calls;
    struct weft__stack_pools stacks;
    size_t stack_size;

    uint32_t io_waiters; /* tasks parked on I/O: the poller must run */
    /* Completions that other threads will post to this loop (executor jobs
     * in flight): an idle loop is waiting for them, not stuck. */
    uint32_t posts_expected;
    int epfd;
    int wakefd;
    struct weft__uring *uring; /* the io_uring backend (uring.c), or NULL */
    struct weft__tsq tsq;

    unsigned flags;
    bool running, stopping, closed, closing;
    const void *owner; /* token of the owning thread */
    uint64_t iterations;
    uint64_t next_trim; /* when idle memory may next be given back */

    /* Read buffers that idle streams gave back (stream.c), kept for the
     * next reads (and the io_uring ring's, uring.c): a list through their
     * first word, emptied when idle. Each WEFT__READ_CHUNK bytes. */
    void *rbufs;
    uint32_t nrbufs;
    uint32_t rbufs_wanted; /* io_uring ring slots waiting for one (uring.c) */

    struct weft__list hooks;
    void *tasks;    /* the task layer's per-loop state */
    void *data;     /* weft_loop_set_data */

    /* ---- observation (src/debug, weft/debug.h) ---- */
    struct weft__list all;      /* in weft__all_loops, for debuggers */
    int tid;                    /* the thread running it (or last ran it) */
    uint64_t callbacks_run;
    uint64_t busy_ns, idle_ns;  /* thread CPU time / the rest, past runs */
    uint64_t run_wall, run_cpu; /* clocks when this run began */
    uint64_t slow_ns;           /* debug mode: a longer step is reported */
    struct weft__debug_stats {  /* kept in debug mode only */
        uint64_t poll_ns;       /* measured around the poller */
        uint64_t slow_steps;
        uint64_t lag_samples, lag_sum_ns, lag_max_ns, lag_last_ns;
        uint64_t steps;         /* items run while watched */
    } dbg;
};

/* Log a line that a remote peer can cause over and over (loglimit.c): per
 * loop and call site (key), the first line is written, the others of the
 * next 10 s only counted, then summed up in one line "... (repeated N
 * times)", once per 10 s while they go on. From the loop's thread. Use
 * WEFT__LOG_LIMITED, which makes the key. */
/* A stream's read buffer, as it is allocated (stream.c) and as the
 * io_uring backend provides them (uring.c). */
#define WEFT__READ_CHUNK (16 * 1024)

/* The loop's spare buffers (loop->rbufs): take one (NULL if none), or give
 * one back, kept if it has the usual size and fewer than
 * WEFT__RBUFS_KEPT are, plus one for each io_uring ring slot that waits
 * for a buffer (its refill comes before the next io_uring_enter, uring.c),
 * else freed (a free and a malloc of 16 KiB cost ~400
 * instructions a message, a third of a stream's own work per read:
 * callgrind; and a batch of frees at the heap's top makes glibc give the
 * pages back with brk, which the next batch faults in again). Streams'
 * reads and write queues (stream.c) and io_uring's provided buffers
 * (uring.c) share them. */
#define WEFT__RBUFS_KEPT 64

static inline char *weft__rbuf_take(weft_loop_t *loop) {
    char *b = loop->rbufs;
    if (b) {
        loop->rbufs = *(void **)b;
        loop->nrbufs--;
    }
    return b;
}

static inline void weft__rbuf_give(weft_loop_t *loop, char *b, size_t cap) {
    if (cap == WEFT__READ_CHUNK &&
        loop->nrbufs < WEFT__RBUFS_KEPT + loop->rbufs_wanted) {
        *(void **)b = loop->rbufs;
        loop->rbufs = b;
        loop->nrbufs++;
    } else {
        weft__free(b);
    }
}

/* Free the read buffers kept in loop->rbufs (loop.c; the streams keep
 * them, stream.c, but the loop builds without src/net: cross-check.sh). */
void weft__loop_rbufs_trim(weft_loop_t *loop);

void weft__log_limited(weft_loop_t *loop, const void *key, int level,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define WEFT__LOG_LIMITED(loop, level, ...)                                    \
    do {                                                                       \
        static char site_; /* its address is the call site's key */           \
        weft__log_limited((loop), &site_, (level), __VA_ARGS__);               \
    } while (0)
/* Every loop of the process, for debuggers (the gdb extension walks it; a
 * loop is linked from weft_loop_new to weft_loop_free). */
extern struct weft__list weft__all_loops;

/* True when this iteration must be watched: debug mode, or a tracer
 * attached to the scheduler's probes (src/core/trace.h). */
static inline bool weft__loop_watched(const weft_loop_t *loop) {
    return ((loop->flags & WEFT_LOOP_DEBUG) != 0) | weft__traced();
}

/* Run one ready item, watched (src/debug/debug.c): its tracepoints, and in
 * debug mode its duration. The scheduler sets the budget to 0 first, so a
 * task that suspends comes back to the loop's context. */
void weft__debug_step(weft_loop_t *loop, struct weft__ready *r);
/* Debug mode, before due timers fire: sample how late they are. */
void weft__debug_lag(weft_loop_t *loop);
/* A callback record's target, for reports: the user's function for
 * weft_call_soon/later/at, else the record's own (NULL: not a record). */
const void *weft__call_target(const struct weft__ready *r, void **arg);
uint64_t weft__clock_ns(void);
/* For a misuse report: " (by task 'name' (...) of loop 0x...)" when the
 * calling thread runs a task (of its own loop), else "". */
void weft__debug_caller(char *buf, size_t size);
/* Debug mode: remember who opened a stream or started a server, to name
 * them if the loop closes with it still open (src/debug/debug.c). fd: the
 * stream's descriptor, the server's port. */
enum { WEFT__TRACK_STREAM = 1, WEFT__TRACK_SERVER = 2 };
void weft__debug_track(weft_loop_t *loop, const void *obj, int kind, int fd);
void weft__debug_untrack(weft_loop_t *loop, const void *obj);
/* Busy time (the loop thread's CPU time) and idle time (the rest: in the
 * poller, or waiting for a CPU) over the loop's runs, this one included. */
void weft__loop_run_times(const weft_loop_t *loop, uint64_t *busy,
                          uint64_t *idle);

/* True when called on the loop's owning thread. */
bool weft__loop_owned(const weft_loop_t *loop);

/* Misuse check for entry points: logs and returns -EPERM from a foreign
 * thread, -EINVAL for NULL. */
int weft__loop_check(const weft_loop_t *loop, const char *fn);

static inline void weft__rq_push(struct weft__runq *q, struct weft__ready *r) {
    r->next = NULL;
    *q->tail = r;
    q->tail = &r->next;
}

static inline void weft__ready_push(weft_loop_t *loop, struct weft__ready *r) {
    weft__rq_push(loop->rq, r);
}

static inline struct weft__ready *weft__ready_pop(weft_loop_t *loop) {
    struct weft__runq *q = loop->rq;
    struct weft__ready *r = q->head;
    if (r) {
        q->head = r->next;
        if (!r->next)
            q->tail = &q->head;
    }
    return r;
}

/* Take the next ready item if it is a task and this iteration's budget
 * allows: how a suspending task hands over straight to the next one. Only
 * from a running task, so the queue is the thread's. */
static inline struct weft__ready *weft__ready_take_task(struct weft__runq *q) {
    struct weft__ready *r = q->head;
    if (!r || r->run || --q->budget < 0)
        return NULL;
    q->head = r->next;
    if (!r->next)
        q->tail = &q->head;
    return r;
}

/* The same, also taking a node whose run function is `also`. */
static inline struct weft__ready *
weft__ready_take_task_or(struct weft__runq *q, weft__ready_fn also) {
    struct weft__ready *r = q->head;
    if (!r || (r->run && r->run != also) || --q->budget < 0)
        return NULL;
    q->head = r->next;
    if (!r->next)
        q->tail = &q->head;
    return r;
}

/* The scheduler's hook for running a task's node (task layer). */
extern void (*weft__task_runner)(weft_loop_t *loop, struct weft__ready *r);

/* Timers of the loop. */
static inline int weft__loop_timer_arm(weft_loop_t *loop, struct weft__timer *t,
                                       uint64_t when) {
    t->when = when;
    return weft__heap_push(&loop->timers, t);
}

static inline void weft__loop_timer_cancel(weft_loop_t *loop,
                                           struct weft__timer *t) {
    if (weft__timer_armed(t))
        weft__heap_remove(&loop->timers, t);
    else
        t->idx = WEFT__TIMER_IDLE; /* also takes it off the due list */
}

/* now + delay, saturating. */
static inline uint64_t weft__loop_deadline(const weft_loop_t *loop,
                                           uint64_t delay_ns) {
    uint64_t d = loop->now + delay_ns;
    return d < loop->now || d > WEFT__NS_INF ? WEFT__NS_INF : d;
}

/* Callback records. */
struct weft__call *weft__call_alloc(weft_loop_t *loop);
void weft__call_free(weft_loop_t *loop, struct weft__call *c);
/* Queue a record (state READY). */
void weft__call_enqueue(weft_loop_t *loop, struct weft__call *c);

void weft__hook_add(weft_loop_t *loop, struct weft__hook *h, int phase,
                    void (*fn)(weft_loop_t *, struct weft__hook *));
/* The first hook added with `fn`, or NULL: how a module finds the state
 * it hung off its close hook (container_of). */
struct weft__hook *weft__hook_find(weft_loop_t *loop,
                                   void (*fn)(weft_loop_t *,
                                              struct weft__hook *));

/* Nothing the loop knows of can make a task ready any more (loop.c):
 * the task layer's close ends shielded waits then (src/task/task.c). */
bool weft__loop_stalled(const weft_loop_t *loop);
/* Run one iteration (used by close to drain). */
void weft__loop_run_once(weft_loop_t *loop);
/* Enter/leave the running state on this thread: -EBUSY if a loop runs. */
int weft__loop_enter(weft_loop_t *loop, const char *fn);
void weft__loop_leave(weft_loop_t *loop);

/* The backend: io_uring (uring.c) when the kernel allows it and
 * WEFT_BACKEND does not say epoll (weft/loop.h), else epoll (epoll.c). Both watch fds for
 * readiness the same way (edge-triggered, input and output together);
 * io_uring also completes the reads of stream sockets itself
 * (WEFT__IO_DIRECT, weft__uring_recv), and watches those for output only
 * until a readiness wait asks for input (WEFT__IO_NOIN). The loop calls
 * weft__poller_*. */
int weft__poller_init(weft_loop_t *loop); /* chooses (uring.c) */
void weft__poller_fini(weft_loop_t *loop);
/* Wait at most timeout_ns (-1: no limit, 0: just look) and dispatch.
 * Returns the number of events handled. */
int weft__epoll_poll(weft_loop_t *loop, int64_t timeout_ns);
int weft__epoll_add(weft_loop_t *loop, struct weft__io *io);
void weft__epoll_del(weft_loop_t *loop, struct weft__io *io);
int weft__epoll_init(weft_loop_t *loop);
void weft__epoll_fini(weft_loop_t *loop);
int weft__uring_poll(weft_loop_t *loop, int64_t timeout_ns);
int weft__uring_add(weft_loop_t *loop, struct weft__io *io);
void weft__uring_del(weft_loop_t *loop, struct weft__io *io);
/* Unregister io and close its fd with the loop's next io_uring_enter
 * (an ASYNC_CANCEL of its requests, hard-linked to an IORING_OP_CLOSE):
 * true, and the fd belongs to the ring from now on; false when the
 * caller must do it itself (weft__uring_del, then close(2)). */
bool weft__uring_del_close(weft_loop_t *loop, struct weft__io *io);
/* The loop stops running: what weft__uring_del_close queued is submitted
 * and run now, so no fd stays open while the loop does not run. */
void weft__uring_flush(weft_loop_t *loop);
/* Watch io (registered, WEFT__IO_NOIN) for input too, from now on. */
void weft__uring_want_in(weft_loop_t *loop, struct weft__io *io);
/* 0, or -EPERM if epoll would refuse fd (io_uring's poll takes any). */
int weft__uring_pollable(weft_loop_t *loop, int fd);
/* The loop is about to sleep, at most once a second: the io_uring
 * backend gives back the pages of the provided read buffers it holds. */
void weft__uring_trim(weft_loop_t *loop);
void weft__poller_wake(weft_loop_t *loop);
void weft__poller_wake_drain(weft_loop_t *loop);

static inline int weft__poller_poll(weft_loop_t *loop, int64_t timeout_ns) {
    if (loop->uring)
        return weft__uring_poll(loop, timeout_ns);
    return weft__epoll_poll(loop, timeout_ns);
}

static inline int weft__poller_add(weft_loop_t *loop, struct weft__io *io) {
    return loop->uring ? weft__uring_add(loop, io) : weft__epoll_add(loop, io);
}

static inline void weft__poller_del(weft_loop_t *loop, struct weft__io *io) {
    if (loop->uring)
        weft__uring_del(loop, io);
    else
        weft__epoll_del(loop, io);
}

/* epoll's event bits (poll(2)'s, which io_uring's poll reports) as the
 * loop's. */
static inline uint32_t weft__poll_bits(uint32_t e) {
    uint32_t b = 0;
    if (e & 0x001) /* EPOLLIN */
        b |= WEFT__IO_IN;
    if (e & 0x004) /* EPOLLOUT */
        b |= WEFT__IO_OUT;
    if (e & 0x008) /* EPOLLERR */
        b |= WEFT__IO_ERR | WEFT__IO_IN | WEFT__IO_OUT;
    if (e & 0x010) /* EPOLLHUP */
        b |= WEFT__IO_HUP | WEFT__IO_IN | WEFT__IO_OUT;
    if (e & 0x2000) /* EPOLLRDHUP */
        b |= WEFT__IO_RDHUP | WEFT__IO_IN;
    return b;
}

/* Threadsafe queue (tsq.c). */
int weft__tsq_init(struct weft__tsq *q);
void weft__tsq_fini(struct weft__tsq *q);
/* Run the queued calls; returns how many ran. */
size_t weft__tsq_drain(weft_loop_t *loop);
void weft__tsq_close(weft_loop_t *loop);

#endif
