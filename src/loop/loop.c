/* The event loop: iterations, time, callbacks, timers, stop and close.
 *
 * One iteration (weft__loop_run_once):
 *   1. poll for I/O, waiting until the next timer when nothing is ready;
 *      the poll is skipped when work is ready and nobody waits for I/O, so a
 *      busy loop of yielding tasks makes no system calls;
 *   2. read the clock once; run calls queued from other threads;
 *   3. move due timers to the ready queue (in deadline order, FIFO on ties);
 *   4. run ready items, up to 64 of them, taking newly ready ones too: tasks
 *      that yield to each other hand over directly and pay no poll each
 *      round, while I/O and timers never wait behind more than 64 items
 *      (libuv and h2o bound their rounds the same way). After stop(), only
 *      the items that were ready when the iteration began still run, as
 *      asyncio's stop() promises.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop_int.h"

#define MIN_BUDGET 64
#define CALLS_PER_CHUNK 256

WEFT__TLS struct weft__runq weft__tls_rq;
static WEFT__TLS char thread_token;

bool weft__loop_owned(const weft_loop_t *loop) {
    return loop->owner == &thread_token;
}

int weft__loop_check(const weft_loop_t *loop, const char *fn) {
    if (WEFT__UNLIKELY(!loop))
        return -EINVAL;
    if (WEFT__UNLIKELY(loop->owner != &thread_token)) {
        char who[600];
        weft__debug_caller(who, sizeof who);
        weft__log(WEFT_LOG_WARN,
                  "%s: loop %p used from a thread that does not own it%s", fn,
                  (const void *)loop, who);
        return -EPERM;
    }
    return 0;
}

static uint64_t clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * WEFT__NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t weft__clock_ns(void) {
    return clock_ns();
}

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * WEFT__NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Every loop, for debuggers; the mutex orders creation and frees of loops
 * on different threads (a debugger reads the list with the process
 * stopped). */
struct weft__list weft__all_loops = {&weft__all_loops, &weft__all_loops};
static pthread_mutex_t all_loops_mu = PTHREAD_MUTEX_INITIALIZER;

/* WEFT_DEBUG=1 in the environment: debug mode for every loop. */
static bool debug_from_env(void) {
    const char *v = getenv("WEFT_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

static void update_time(weft_loop_t *loop) {
    if (!(loop->flags & WEFT_LOOP_VIRTUAL_CLOCK))
        loop->now = clock_ns();
}

/* ---- creation and destruction ------------------------------------------------ */

int weft_loop_new(weft_loop_t **out, const weft_loop_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    unsigned flags = opts ? opts->flags : 0;
    size_t stack = opts && opts->stack_size ? opts->stack_size
                                            : WEFT__STACK_DEFAULT;
    if (flags & ~(unsigned)(WEFT_LOOP_VIRTUAL_CLOCK | WEFT_LOOP_DEBUG))
        return -EINVAL;
    if (debug_from_env())
        flags |= WEFT_LOOP_DEBUG;
    if (stack < 1024 || stack > ((size_t)1 << 30))
        return -EINVAL;

    weft_loop_t *loop = weft__calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    loop->rq = &loop->rq_own;
    loop->rq_own.tail = &loop->rq_own.head;
    loop->flags = flags;
    loop->stack_size = stack;
    loop->owner = &thread_token;
    loop->epfd = loop->wakefd = -1;
    weft__ctx_init_thread(&loop->sched);
    weft__heap_init(&loop->timers);
    weft__list_init(&loop->hooks);
    loop->now = (flags & WEFT_LOOP_VIRTUAL_CLOCK) ? 0 : clock_ns();
    loop->slow_ns = WEFT__NS_PER_SEC / 10; /* asyncio's 0.1 s */
    loop->tid = (int)gettid();

    int err = weft__tsq_init(&loop->tsq);
    if (err) {
        weft__free(loop);
        return err;
    }
    err = weft__poller_init(loop);
    if (err) {
        weft__tsq_fini(&loop->tsq);
        weft__free(loop);
        return err;
    }
    pthread_mutex_lock(&all_loops_mu);
    weft__list_push_back(&weft__all_loops, &loop->all);
    pthread_mutex_unlock(&all_loops_mu);
    *out = loop;
    return 0;
}

void weft__hook_add(weft_loop_t *loop, struct weft__hook *h, int phase,
                    void (*fn)(weft_loop_t *, struct weft__hook *)) {
    h->phase = phase;
    h->fn = fn;
    /* Keep the list sorted by phase, FIFO within a phase. */
    struct weft__list *pos = loop->hooks.next;
    while (pos != &loop->hooks &&
           WEFT__CONTAINER_OF(pos, struct weft__hook, link)->phase <= phase)
        pos = pos->next;
    h->link.next = pos;
    h->link.prev = pos->prev;
    pos->prev->next = &h->link;
    pos->prev = &h->link;
}

struct weft__hook *weft__hook_find(weft_loop_t *loop,
                                   void (*fn)(weft_loop_t *,
                                              struct weft__hook *)) {
    struct weft__list *pos;
    for (pos = loop->hooks.next; pos != &loop->hooks; pos = pos->next) {
        struct weft__hook *h = WEFT__CONTAINER_OF(pos, struct weft__hook,
                                                  link);
        if (h->fn == fn)
            return h;
    }
    return NULL;
}

static void run_hooks(weft_loop_t *loop, int lo, int hi) {
    struct weft__list *pos = loop->hooks.next;
    while (pos != &loop->hooks) {
        struct weft__hook *h = WEFT__CONTAINER_OF(pos, struct weft__hook, link);
        pos = pos->next;
        if (h->phase >= lo && h->phase <= hi)
            h->fn(loop, h);
    }
}

static void call_fire(struct weft__timer *t);
static void call_run(weft_loop_t *loop, struct weft__ready *r);
static void call_discard(weft_loop_t *loop, struct weft__call *c);

/* Callbacks that have not run are dropped, never called (asyncio's close
 * clears its ready queue too), but what their records hold is released:
 * a done-callback's reference to its future, for one. */
static void drop_pending_calls(weft_loop_t *loop) {
    struct weft__timer *t;
    while ((t = weft__heap_pop_due(&loop->timers, UINT64_MAX))) {
        /* Tasks are gone by now; what is left are callback records (and
         * timers of objects that outlive the loop's run, dropped). */
        if (t->fire == call_fire)
            call_discard(loop, WEFT__CONTAINER_OF(t, struct weft__call, timer));
    }
    struct weft__ready *r;
    while ((r = weft__ready_pop(loop))) {
        /* Callback records go back to the slab; anything else a module
         * queued is simply dropped (tasks are all gone by now). */
        if (r->run == call_run)
            call_discard(loop, WEFT__CONTAINER_OF(r, struct weft__call, node));
    }
}

int weft_loop_close(weft_loop_t *loop) {
    int err = weft__loop_check(loop, "weft_loop_close");
    if (err)
        return err;
    if (loop->running) {
        weft__log(WEFT_LOG_WARN, "weft_loop_close: the loop is running");
        return -EBUSY;
    }
    if (loop->closed)
        return 0;
    loop->closing = true;
    /* Phases that still need the loop to run (cancel and drain tasks). */
    run_hooks(loop, 0, WEFT__PHASE_FREE - 1);
    weft__tsq_close(loop);
    /* Calls queued from other threads before the close still run. */
    weft__tsq_drain(loop);
    drop_pending_calls(loop);
    loop->closed = true;
    return 0;
}

void weft_loop_free(weft_loop_t *loop) {
    if (!loop)
        return;
    if (weft__loop_check(loop, "weft_loop_free"))
        return;
    if (loop->running) {
        weft__log(WEFT_LOG_ERROR,
                  "weft_loop_free: the loop is running; not freed");
        return;
    }
    weft_loop_close(loop);
    run_hooks(loop, WEFT__PHASE_FREE, 1000);
    weft__poller_fini(loop);
    weft__tsq_fini(&loop->tsq);
    weft__heap_fini(&loop->timers);
    for (uint32_t i = 0; i < loop->calls.nchunks; i++)
        weft__free(loop->calls.chunks[i]);
    weft__free(loop->calls.chunks);
    weft__stack_pools_fini(&loop->stacks);
    weft__loop_rbufs_trim(loop);
    pthread_mutex_lock(&all_loops_mu);
    weft__list_remove(&loop->all);
    pthread_mutex_unlock(&all_loops_mu);
    weft__free(loop);
}

bool weft_loop_is_running(const weft_loop_t *loop) {
    return loop && loop->running;
}

bool weft_loop_is_closed(const weft_loop_t *loop) {
    return loop && loop->closed;
}

weft_loop_t *weft_loop_current(void) {
    return weft__tls_loop;
}

double weft_loop_time(const weft_loop_t *loop) {
    return loop ? (double)loop->now / 1e9 : 0.0;
}

uint64_t weft_loop_time_ns(const weft_loop_t *loop) {
    return loop ? loop->now : 0;
}

void weft_loop_update_time(weft_loop_t *loop) {
    if (loop && weft__loop_owned(loop))
        update_time(loop);
}

int weft_loop_advance(weft_loop_t *loop, double seconds) {
    int err = weft__loop_check(loop, "weft_loop_advance");
    if (err)
        return err;
    uint64_t ns;
    if (!(loop->flags & WEFT_LOOP_VIRTUAL_CLOCK) || seconds < 0 ||
        weft__secs_to_ns(seconds, &ns))
        return -EINVAL;
    loop->now = weft__loop_deadline(loop, ns);
    return 0;
}

void weft_loop_set_data(weft_loop_t *loop, void *data) {
    if (loop)
        loop->data = data;
}

void *weft_loop_get_data(const weft_loop_t *loop) {
    return loop ? loop->data : NULL;
}

/* ---- callback records ----------------------------------------------------------- */

static struct weft__call *call_at(const struct weft__calls *cs, uint32_t idx) {
    return &cs->chunks[idx / CALLS_PER_CHUNK][idx % CALLS_PER_CHUNK];
}

static int calls_grow(struct weft__calls *cs) {
    struct weft__call **chunks =
        weft__realloc(cs->chunks, (cs->nchunks + 1) * sizeof *chunks);
    if (!chunks)
        return -ENOMEM;
    cs->chunks = chunks;
    struct weft__call *c = weft__calloc(CALLS_PER_CHUNK, sizeof *c);
    if (!c)
        return -ENOMEM;
    chunks[cs->nchunks] = c;
    /* Thread the new records onto the free list, lowest index first. */
    for (uint32_t i = CALLS_PER_CHUNK; i-- > 0;) {
        c[i].idx = cs->nchunks * CALLS_PER_CHUNK + i;
        c[i].gen = 1;
        weft__timer_init(&c[i].timer, call_fire);
        c[i].link = cs->free;
        cs->free = &c[i];
    }
    cs->nchunks++;
    return 0;
}

struct weft__call *weft__call_alloc(weft_loop_t *loop) {
    struct weft__calls *cs = &loop->calls;
    if (!cs->free && calls_grow(cs))
        return NULL;
    struct weft__call *c = cs->free;
    cs->free = c->link;
    c->link = NULL;
    cs->live++;
    return c;
}

void weft__call_free(weft_loop_t *loop, struct weft__call *c) {
    if (weft__timer_armed(&c->timer))
        weft__heap_remove(&loop->timers, &c->timer);
    c->state = WEFT__CALL_FREE;
    c->fn = NULL;
    c->drop = NULL;
    c->arg = c->arg2 = c->arg3 = NULL;
    /* A new generation makes every handle to the old use stale. Skip 0 so
     * that no live handle ever has id 0. */
    if (++c->gen == 0)
        c->gen = 1;
    c->link = loop->calls.free;
    loop->calls.free = c;
    loop->calls.live--;
}

static void call_run(weft_loop_t *loop, struct weft__ready *r) {
    struct weft__call *c = WEFT__CONTAINER_OF(r, struct weft__call, node);
    void (*fn)(void *, void *, void *) =
        c->state == WEFT__CALL_READY ? c->fn : c->drop;
    void *arg = c->arg, *arg2 = c->arg2, *arg3 = c->arg3;
    /* Free first: the callback may schedule again and reuse the record. */
    weft__call_free(loop, c);
    loop->callbacks_run++;
    if (fn)
        fn(arg, arg2, arg3);
}

/* A scheduled record that will not run: free it, then release what it
 * held. */
static void call_discard(weft_loop_t *loop, struct weft__call *c) {
    void (*drop)(void *, void *, void *) = c->drop;
    void *arg = c->arg, *arg2 = c->arg2, *arg3 = c->arg3;
    weft__call_free(loop, c);
    if (drop)
        drop(arg, arg2, arg3);
}

void weft__call_enqueue(weft_loop_t *loop, struct weft__call *c) {
    c->state = WEFT__CALL_READY;
    c->node.run = call_run;
    weft__ready_push(loop, &c->node);
}

static void call_fire(struct weft__timer *t) {
    struct weft__call *c = WEFT__CONTAINER_OF(t, struct weft__call, timer);
    weft__call_enqueue(weft__tls_loop, c);
}

static weft_handle_t handle_of(const struct weft__call *c) {
    weft_handle_t h = {((uint64_t)c->gen << 32) | c->idx};
    return h;
}

/* Public callbacks take one argument; records carry three. */
static void call_one(void *fn, void *arg, void *unused) {
    (void)unused;
    ((weft_callback_fn)(uintptr_t)fn)(arg);
}

const void *weft__call_target(const struct weft__ready *r, void **arg) {
    *arg = NULL;
    if (r->run != call_run)
        return NULL;
    const struct weft__call *c =
        WEFT__CONTAINER_OF(r, struct weft__call, node);
    if (c->fn == call_one) {
        *arg = c->arg2;
        return c->arg;
    }
    *arg = c->arg;
    return (const void *)(uintptr_t)c->fn;
}

static void set_handle(weft_handle_t *out, const struct weft__call *c) {
    if (out)
        *out = handle_of(c);
}

static int schedule(weft_loop_t *loop, const char *name, weft_callback_fn fn,
                    void *arg, weft_handle_t *out, struct weft__call **pc) {
    if (out)
        out->id = 0;
    int err = weft__loop_check(loop, name);
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    if (loop->closed)
        return -ESHUTDOWN;
    struct weft__call *c = weft__call_alloc(loop);
    if (!c)
        return -ENOMEM;
    c->fn = call_one;
    c->arg = (void *)(uintptr_t)fn;
    c->arg2 = arg;
    *pc = c;
    return 0;
}

int weft_call_soon(weft_loop_t *loop, weft_callback_fn fn, void *arg,
                   weft_handle_t *out) {
    struct weft__call *c;
    int err = schedule(loop, "weft_call_soon", fn, arg, out, &c);
    if (err)
        return err;
    weft__call_enqueue(loop, c);
    set_handle(out, c);
    return 0;
}

static int call_at_ns(weft_loop_t *loop, const char *name, uint64_t when,
                      weft_callback_fn fn, void *arg, weft_handle_t *out) {
    struct weft__call *c;
    int err = schedule(loop, name, fn, arg, out, &c);
    if (err)
        return err;
    c->state = WEFT__CALL_TIMER;
    err = weft__loop_timer_arm(loop, &c->timer, when);
    if (err) {
        weft__call_free(loop, c);
        return err;
    }
    set_handle(out, c);
    return 0;
}

int weft_call_later(weft_loop_t *loop, double delay, weft_callback_fn fn,
                    void *arg, weft_handle_t *out) {
    uint64_t ns;
    if (delay == (double)INFINITY || weft__secs_to_ns(delay, &ns)) {
        if (out)
            out->id = 0;
        return -EINVAL;
    }
    if (!loop)
        return -EINVAL;
    return call_at_ns(loop, "weft_call_later", weft__loop_deadline(loop, ns),
                      fn, arg, out);
}

int weft_call_at(weft_loop_t *loop, double when, weft_callback_fn fn, void *arg,
                 weft_handle_t *out) {
    uint64_t ns;
    if (when == (double)INFINITY || weft__secs_to_ns(when, &ns)) {
        if (out)
            out->id = 0;
        return -EINVAL;
    }
    return call_at_ns(loop, "weft_call_at", ns, fn, arg, out);
}

int weft_handle_cancel(weft_loop_t *loop, weft_handle_t h) {
    int err = weft__loop_check(loop, "weft_handle_cancel");
    if (err)
        return err;
    uint32_t idx = (uint32_t)h.id, gen = (uint32_t)(h.id >> 32);
    if (gen == 0 || idx / CALLS_PER_CHUNK >= loop->calls.nchunks)
        return -ENOENT;
    struct weft__call *c = call_at(&loop->calls, idx);
    if (c->gen != gen)
        return -ENOENT;
    switch (c->state) {
    case WEFT__CALL_READY:
        c->state = WEFT__CALL_CANCELLED; /* skipped when its turn comes */
        return 0;
    case WEFT__CALL_TIMER:
        call_discard(loop, c);
        return 0;
    default:
        return -ENOENT;
    }
}

/* ---- running ------------------------------------------------------------------------ */

void (*weft__task_runner)(weft_loop_t *loop, struct weft__ready *r);

static struct weft__ready *queue_last(weft_loop_t *loop) {
    if (loop->rq->tail == &loop->rq->head)
        return NULL;
    return WEFT__CONTAINER_OF(loop->rq->tail, struct weft__ready, next);
}

static inline __attribute__((always_inline)) void
run_ready(weft_loop_t *loop) {
    loop->batch_last = queue_last(loop);
    struct weft__runq *q = loop->rq;
    q->budget = loop->stopping ? 0 : MIN_BUDGET;
    if (loop->stopping)
        loop->stop_after = loop->batch_last;
    for (;;) {
        if (loop->stopping ? !loop->stop_after : q->budget <= 0)
            break;
        struct weft__ready *r = weft__ready_pop(loop);
        if (!r)
            break;
        q->budget--;
        if (r == loop->stop_after)
            loop->stop_after = NULL; /* the last one of the batch */
        if (r->run)
            r->run(loop, r);
        else
            weft__task_runner(loop, r);
    }
    q->budget = 0; /* nothing is taken between iterations */
    loop->stop_after = NULL;
}

/* run_ready for a watched iteration (debug mode, or a tracer attached):
 * every item is run from here, a task until it suspends (its budget is 0,
 * so it hands over to nobody but the loop's context), by
 * weft__debug_step, which times it and fires its tracepoints. The same
 * items in the same order as run_ready, at most MIN_BUDGET of them. */
static void run_ready_watched(weft_loop_t *loop) {
    loop->batch_last = queue_last(loop);
    struct weft__runq *q = loop->rq;
    int32_t left = loop->stopping ? 0 : MIN_BUDGET;
    if (loop->stopping)
        loop->stop_after = loop->batch_last;
    for (;;) {
        if (loop->stopping ? !loop->stop_after : left <= 0)
            break;
        struct weft__ready *r = weft__ready_pop(loop);
        if (!r)
            break;
        left--;
        if (r == loop->stop_after)
            loop->stop_after = NULL;
        q->budget = 0;
        weft__debug_step(loop, r);
    }
    q->budget = 0;
    loop->stop_after = NULL;
}

/* Due callbacks are queued first, in deadline order; timers that wake
 * tasks (sleeps, deadlines) fire after them. In asyncio a timer wakes a
 * task through a callback, so the task runs after every callback due at
 * the same moment: a cancel scheduled for the instant a deadline expires
 * is then seen by the task, whichever was armed first (bpo-42130). */
/* Inlined into both iterations (the watched one is cold): out of line,
 * the plain iteration paid a call and its spills each time. */
static inline __attribute__((always_inline)) void
fire_timers(weft_loop_t *loop) {
    struct weft__timer *t, *first = NULL, **last = &first;
    while ((t = weft__heap_pop_due(&loop->timers, loop->now))) {
        if (t->fire == call_fire) {
            t->fire(t);
        } else {
            t->idx = WEFT__TIMER_DUE;
            t->next_due = NULL;
            *last = t;
            last = &t->next_due;
        }
    }
    while ((t = first)) {
        first = t->next_due;
        /* A deadline that fired first may have ended the sleep this timer
         * was for (cancelling it), or something re-armed it. */
        if (t->idx != WEFT__TIMER_DUE)
            continue;
        t->idx = WEFT__TIMER_IDLE;
        t->fire(t);
    }
}

static int64_t poll_timeout(const weft_loop_t *loop) {
    if (loop->rq->head || loop->stopping)
        return 0;
    if (weft__heap_empty(&loop->timers))
        return -1;
    uint64_t min = weft__heap_min(&loop->timers);
    return min <= loop->now ? 0 : (int64_t)(min - loop->now);
}

/* Nothing is ready, and nothing the loop knows of can make anything ready
 * again: no timer that will ever fire, no task waiting for I/O, no
 * executor job in flight, no call queued by another thread. Parked tasks
 * stay parked unless a thread of the program's own posts to the loop. */
bool weft__loop_stalled(const weft_loop_t *loop) {
    return !loop->rq->head && loop->io_waiters == 0 &&
           loop->posts_expected == 0 &&
           !atomic_load_explicit(&loop->tsq.pending, memory_order_acquire) &&
           (weft__heap_empty(&loop->timers) ||
            weft__heap_min(&loop->timers) >= WEFT__NS_INF);
}

/* About to sleep: give back memory a past burst left (stack chunks no
 * task uses), at most once a second. */
void weft__loop_rbufs_trim(weft_loop_t *loop) {
    while (loop->rbufs) {
        void *b = loop->rbufs;
        loop->rbufs = *(void **)b;
        weft__free(b);
    }
    loop->nrbufs = 0;
}

static void idle_trim(weft_loop_t *loop) {
    if (loop->now < loop->next_trim)
        return;
    loop->next_trim = loop->now + WEFT__NS_PER_SEC;
    if (loop->stacks.first)
        weft__stack_trim(&loop->stacks, false);
    weft__loop_rbufs_trim(loop);
    if (loop->uring)
        weft__uring_trim(loop);
}

#define VIRTUAL_GRACE_NS (20 * 1000 * 1000)

/* `plain`: the caller knows the loop has a real clock (the plain
 * iteration, which has tested the flags already). */
static inline __attribute__((always_inline)) void poll_io(weft_loop_t *loop,
                                                          bool plain) {
    int64_t timeout = poll_timeout(loop);
    if (timeout != 0)
        idle_trim(loop);
    bool tsq = atomic_load_explicit(&loop->tsq.pending, memory_order_acquire);
    if (plain || !(loop->flags & WEFT_LOOP_VIRTUAL_CLOCK)) {
        if (timeout != 0 || loop->io_waiters || tsq)
            weft__poller_poll(loop, tsq ? 0 : timeout);
        return;
    }
    /* Virtual clock: look at I/O without waiting; if nothing at all can
     * happen before the next timer, jump to it. A task waiting for I/O
     * first gets VIRTUAL_GRACE_NS of real time: bytes written to a
     * loopback socket are not always readable when the write returns
     * (under load the kernel hands the receive side to ksoftirqd), and a
     * jump then would fire a protocol timeout the test never meant (the
     * likely cause of a WebSocket conformance case that failed once on a
     * loaded machine and never again). The suite makes ~350 such jumps
     * in all, so the grace costs it a few seconds at most. */
    if (timeout == 0 || tsq) {
        if (loop->io_waiters || tsq)
            weft__poller_poll(loop, 0);
        return;
    }
    int n = weft__poller_poll(loop, timeout < 0 ? -1 : 0);
    if (n == 0 && timeout > 0 && loop->io_waiters && !loop->rq->head)
        n = weft__poller_poll(loop, VIRTUAL_GRACE_NS);
    if (n == 0 && timeout > 0 && !loop->rq->head &&
        !atomic_load(&loop->tsq.pending))
        loop->now = weft__heap_min(&loop->timers);
}

/* An iteration of a loop with a virtual clock, in debug mode, or while
 * traced: the poll timed (debug mode), timer lag sampled (debug mode),
 * items run one by one when watched. */
static __attribute__((noinline)) void run_once_other(weft_loop_t *loop) {
    bool debug = loop->flags & WEFT_LOOP_DEBUG;
    uint64_t t0 = debug ? clock_ns() : 0;
    poll_io(loop, false);
    if (debug)
        loop->dbg.poll_ns += clock_ns() - t0;
    update_time(loop);
    if (atomic_load_explicit(&loop->tsq.pending, memory_order_acquire))
        weft__tsq_drain(loop);
    if (debug)
        weft__debug_lag(loop);
    fire_timers(loop);
    if (weft__loop_watched(loop))
        run_ready_watched(loop);
    else
        run_ready(loop);
    loop->iterations++;
}

/* The plain iteration tests the flags once for what it must not do (a
 * virtual clock, debug mode) and the tracepoints' semaphore: the test
 * that used to ask for the virtual clock twice an iteration, in poll_io
 * and update_time. */
void weft__loop_run_once(weft_loop_t *loop) {
    if (WEFT__UNLIKELY(
            (loop->flags & (WEFT_LOOP_VIRTUAL_CLOCK | WEFT_LOOP_DEBUG)) ||
            weft__traced())) {
        run_once_other(loop);
        return;
    }
    poll_io(loop, true);
    loop->now = clock_ns();
    if (atomic_load_explicit(&loop->tsq.pending, memory_order_acquire))
        weft__tsq_drain(loop);
    fire_timers(loop);
    run_ready(loop);
    loop->iterations++;
}

int weft__loop_enter(weft_loop_t *loop, const char *fn) {
    int err = weft__loop_check(loop, fn);
    if (err)
        return err;
    if (weft__tls_loop) {
        weft__log(WEFT_LOG_WARN,
                  "%s: this thread is already running a loop (a loop cannot "
                  "be run from its own callbacks or tasks)",
                  fn);
        return -EBUSY;
    }
    if (loop->closed)
        return -ESHUTDOWN;
    /* The run queue moves into the thread while the loop runs. */
    struct weft__runq *q = &weft__tls_rq;
    *q = loop->rq_own;
    if (loop->rq_own.tail == &loop->rq_own.head)
        q->tail = &q->head;
    q->loop = loop;
    q->current = NULL;
    loop->rq = q;
    loop->running = true;
    weft__ctx_init_thread(&loop->sched);
    update_time(loop);
    /* Busy and idle time: two clock reads a run, none an iteration. */
    loop->tid = (int)gettid();
    loop->run_wall = clock_ns();
    loop->run_cpu = thread_cpu_ns();
    return 0;
}

/* Busy (the thread's CPU time) and idle time of the run in progress. */
void weft__loop_run_times(const weft_loop_t *loop, uint64_t *busy,
                          uint64_t *idle) {
    *busy = loop->busy_ns;
    *idle = loop->idle_ns;
    if (!loop->running)
        return;
    uint64_t wall = clock_ns() - loop->run_wall;
    uint64_t cpu = thread_cpu_ns() - loop->run_cpu;
    *busy += cpu;
    *idle += wall > cpu ? wall - cpu : 0;
}

void weft__loop_leave(weft_loop_t *loop) {
    if (loop->uring)
        weft__uring_flush(loop);
    weft__loop_run_times(loop, &loop->busy_ns, &loop->idle_ns);
    struct weft__runq *q = &weft__tls_rq;
    loop->rq_own = *q;
    if (q->tail == &q->head)
        loop->rq_own.tail = &loop->rq_own.head;
    loop->rq_own.loop = NULL;
    loop->rq = &loop->rq_own;
    memset(q, 0, sizeof *q);
    loop->running = false;
}

int weft_loop_run_forever(weft_loop_t *loop) {
    int err = weft__loop_enter(loop, "weft_loop_run_forever");
    if (err)
        return err;
    do
        weft__loop_run_once(loop);
    while (!loop->stopping);
    loop->stopping = false;
    weft__loop_leave(loop);
    return 0;
}

int weft_loop_stop(weft_loop_t *loop) {
    int err = weft__loop_check(loop, "weft_loop_stop");
    if (err)
        return err;
    if (loop->stopping)
        return 0;
    loop->stopping = true;
    /* What was already ready when this iteration began still runs, if it
     * has not yet (asyncio's stop()); nothing newer. Tasks stop handing
     * over to each other, so every item passes the scheduler's check. */
    loop->rq->budget = 0;
    loop->stop_after = NULL;
    for (struct weft__ready *r = loop->rq->head; r; r = r->next)
        if (r == loop->batch_last)
            loop->stop_after = r;
    return 0;
}
