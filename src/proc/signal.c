/* Unix signals: a sigaction handler writes to an eventfd of each loop that
 * catches the signal (the self-pipe method); a task of the loop reads it
 * and runs the callbacks and wakes the receivers.
 *
 * Why not signalfd. signalfd reads only signals that are blocked, and a
 * signal blocked in one thread is taken by any other thread that does not
 * block it: its default action (SIGINT, SIGTERM: end the process) runs
 * there instead. Every thread would have to block it, including threads
 * the host program made before weft was used, which weft cannot reach.
 * Blocked signals are also inherited across exec by every child process a
 * program starts, and with the ucontext fallback every task has its own
 * signal mask, which swapcontext() restores at each switch. Finally, two
 * loops reading signalfds for the same signal race: one arbitrary loop
 * gets it. A handler installed with sigaction runs in whatever thread takes
 * the signal, needs no mask, and can tell every loop that wants it. What it
 * costs: the disposition is process-wide (saved and restored here), and the
 * handler must be async-signal-safe (below: lock-free atomics and write()).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../task/io.h"
#include "proc_int.h"

/* Signal numbers 1..64 map to the bits of a 64-bit word. */
#define SIG_MAX 64
#define SIG_BIT(s) (UINT64_C(1) << ((s)-1))
#define MAX_SLOTS 64 /* loops of the process that catch signals at once */

_Static_assert(NSIG - 1 <= SIG_MAX, "signal numbers must fit in 64 bits");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

/* ---- process-wide state ------------------------------------------------------
 * The handler reads `slots` only; everything else is guarded by `lock`,
 * which the handler never takes. A slot belongs to one loop. */
struct slot {
    _Atomic uint64_t mask;    /* signals its loop catches */
    _Atomic uint64_t pending; /* caught, not yet taken by the loop */
    atomic_int fd;            /* its eventfd (valid while mask != 0) */
};

static struct slot slots[MAX_SLOTS];
static atomic_int in_handler; /* handlers running now, in any thread */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool slot_used[MAX_SLOTS];
static unsigned catchers[SIG_MAX + 1];         /* loops catching signal s */
static struct sigaction replaced[SIG_MAX + 1]; /* disposition before weft */

static void on_signal(int signum) {
    int saved_errno = errno;
    atomic_fetch_add(&in_handler, 1);
    uint64_t bit = SIG_BIT(signum);
    for (int i = 0; i < MAX_SLOTS; i++) {
        if (!(atomic_load(&slots[i].mask) & bit))
            continue;
        atomic_fetch_or(&slots[i].pending, bit);
        uint64_t one = 1;
        /* EAGAIN only if the counter is huge: the loop is woken anyway. */
        ssize_t n = write(atomic_load(&slots[i].fd), &one, sizeof one);
        (void)n;
    }
    atomic_fetch_sub(&in_handler, 1);
    errno = saved_errno;
}

static bool catchable(int s) {
    if (s < 1 || s >= NSIG || s > SIG_MAX)
        return false;
    switch (s) {
    case SIGKILL: /* the kernel refuses */
    case SIGSTOP:
    case SIGSEGV: /* synchronous faults: the instruction would run again */
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
        return false;
    default:
        break;
    }
#ifdef __SIGRTMIN
    if (s >= __SIGRTMIN && s < SIGRTMIN) /* glibc's own (cancellation...) */
        return false;
#endif
    return true;
}

/* The loop of `slot` starts catching s. */
static int catch_start(int slot, int s) {
    int err = 0;
    pthread_mutex_lock(&lock);
    atomic_fetch_or(&slots[slot].mask, SIG_BIT(s));
    if (catchers[s]++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        /* SA_ONSTACK: a task's stack may be nearly full when the signal
         * comes; the thread's alternate stack (weft sets one up for its
         * overflow report) takes the handler's frame instead. */
        sa.sa_flags = SA_RESTART | SA_ONSTACK;
        if (sigaction(s, &sa, &replaced[s]) < 0) {
            err = -errno;
            catchers[s]--;
            atomic_fetch_and(&slots[slot].mask, ~SIG_BIT(s));
        }
    }
    pthread_mutex_unlock(&lock);
    return err;
}

/* ... and stops. The old disposition comes back before the slot lets go,
 * so no delivery is swallowed by a handler that nobody listens to. */
static void catch_stop(int slot, int s) {
    pthread_mutex_lock(&lock);
    if (--catchers[s] == 0)
        sigaction(s, &replaced[s], NULL);
    atomic_fetch_and(&slots[slot].mask, ~SIG_BIT(s));
    pthread_mutex_unlock(&lock);
}

static int slot_claim(int fd) {
    int found = -ENOSPC;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_SLOTS && found < 0; i++) {
        if (slot_used[i])
            continue;
        slot_used[i] = true;
        atomic_store(&slots[i].pending, 0);
        atomic_store(&slots[i].fd, fd);
        found = i;
    }
    pthread_mutex_unlock(&lock);
    if (found == -ENOSPC)
        weft__log(WEFT_LOG_WARN, "weft signals: %d loops of this process "
                                 "catch signals already",
                  MAX_SLOTS);
    return found;
}

/* Release a slot whose mask is 0 already. A handler in another thread may
 * still be about to write to its fd: wait until no handler runs before the
 * caller closes the fd. (The handler counts itself in before it reads the
 * mask, so one that starts later sees the mask empty.) */
static void slot_release(int slot) {
    while (atomic_load(&in_handler) != 0)
        sched_yield();
    pthread_mutex_lock(&lock);
    slot_used[slot] = false;
    pthread_mutex_unlock(&lock);
}

/* ---- per-loop state --------------------------------------------------------- */

struct sig_hub;

/* One registration: a callback (fn != NULL) or a receiver. */
struct sig_reg {
    struct weft__list link; /* in hub->regs, oldest first */
    struct sig_hub *hub;
    uint64_t set;     /* signals it wants */
    uint64_t pending; /* caught, not yet delivered */
    uint64_t id;      /* callbacks: the public id */
    weft_signal_fn fn;
    void *arg;
    weft_handle_t call;      /* callbacks: the scheduled call, or zero */
    struct recv_wait *waiter; /* receivers: the task in next() */
};

struct weft_sigrecv {
    struct sig_reg reg;
};

struct recv_wait {
    struct weft__wait w;
    struct sig_reg *reg;
    bool closed; /* the receiver was freed: do not touch it */
};

struct sig_hub {
    struct weft__hook close_hook, free_hook;
    weft_loop_t *loop;
    int slot, efd;
    struct weft__io io;
    bool live; /* the kernel side is set up (until the loop closes) */
    unsigned refs[SIG_MAX + 1]; /* registrations wanting each signal */
    struct weft__list regs;
    uint64_t next_id;
};

static void hub_close(weft_loop_t *loop, struct weft__hook *h);
static void hub_free(weft_loop_t *loop, struct weft__hook *h);

/* The hub hangs off the loop's hooks: find it by its close function. */
static struct sig_hub *hub_find(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, hub_close);
    return h ? WEFT__CONTAINER_OF(h, struct sig_hub, close_hook) : NULL;
}

static void dispatch(struct sig_hub *hub, uint64_t bits);

/* The hub's task: wait for the eventfd, take the pending bits, dispatch.
 * Reading first and taking the bits second loses nothing: a handler sets
 * its bit before it writes. */
static int hub_reader(void *arg) {
    struct sig_hub *hub = arg;
    for (;;) {
        uint64_t v;
        ssize_t n = weft__op_read(&hub->io, &v, sizeof v);
        if (n == -ECANCELED || n == -EBADF)
            return 0; /* the loop is closing */
        if (n < 0) {
            weft__log(WEFT_LOG_ERROR, "weft signals: reading the eventfd: %s",
                      weft_strerror((int)n));
            return 0;
        }
        dispatch(hub, atomic_exchange(&slots[hub->slot].pending, 0));
    }
}

static int hub_start(struct sig_hub *hub) {
    hub->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub->efd < 0)
        return -errno;
    int err = weft__io_open(hub->loop, &hub->io, hub->efd);
    if (err)
        goto fail_fd;
    hub->slot = slot_claim(hub->efd);
    if (hub->slot < 0) {
        err = hub->slot;
        goto fail_io;
    }
    weft_spawn_opts_t so = {.name = "weft-signals"};
    err = weft_loop_spawn(hub->loop, NULL, hub_reader, hub, &so);
    if (err)
        goto fail_slot;
    return 0;
fail_slot:
    slot_release(hub->slot);
fail_io:
    weft__io_close(hub->loop, &hub->io);
fail_fd:
    close(hub->efd);
    return err;
}

static int hub_get(weft_loop_t *loop, struct sig_hub **out) {
    struct sig_hub *hub = hub_find(loop);
    if (hub) {
        *out = hub;
        return hub->live ? 0 : -ESHUTDOWN;
    }
    if (loop->closing || loop->closed)
        return -ESHUTDOWN;
    hub = weft__calloc(1, sizeof *hub);
    if (!hub)
        return -ENOMEM;
    hub->loop = loop;
    weft__list_init(&hub->regs);
    int err = hub_start(hub);
    if (err) {
        weft__free(hub);
        return err;
    }
    hub->live = true;
    weft__hook_add(loop, &hub->close_hook, WEFT__PHASE_PROC, hub_close);
    weft__hook_add(loop, &hub->free_hook, WEFT__PHASE_FREE, hub_free);
    *out = hub;
    return 0;
}

/* ---- registrations -------------------------------------------------------------- */

static void reg_unwant(struct sig_reg *r, uint64_t set) {
    struct sig_hub *hub = r->hub;
    for (int s = 1; s <= SIG_MAX; s++) {
        if (!(set & SIG_BIT(s)))
            continue;
        if (--hub->refs[s] == 0 && hub->live)
            catch_stop(hub->slot, s);
    }
}

/* Link r (hub, set filled in) and catch its signals. */
static int reg_add(struct sig_reg *r) {
    struct sig_hub *hub = r->hub;
    for (int s = 1; s <= SIG_MAX; s++) {
        if (!(r->set & SIG_BIT(s)))
            continue;
        if (hub->refs[s]++ == 0) {
            int err = catch_start(hub->slot, s);
            if (err) {
                hub->refs[s]--;
                reg_unwant(r, r->set & (SIG_BIT(s) - 1));
                return err;
            }
        }
    }
    weft__list_push_back(&hub->regs, &r->link);
    return 0;
}

static void reg_del(struct sig_reg *r) {
    weft__list_remove(&r->link);
    if (r->call.id) {
        weft_handle_cancel(r->hub->loop, r->call);
        r->call.id = 0;
    }
    reg_unwant(r, r->set);
}

static int lowest(uint64_t bits) {
    return __builtin_ctzll(bits) + 1;
}

static void callback_run(void *arg) {
    struct sig_reg *r = arg;
    r->call.id = 0;
    int s = lowest(r->pending);
    r->pending = 0;
    r->fn(s, r->arg); /* may remove r: not touched after */
}

/* Hand the lowest pending signal to the receiver's waiting task. */
static void recv_deliver(struct sig_reg *r) {
    struct recv_wait *rw = r->waiter;
    int s = lowest(r->pending);
    r->pending &= ~SIG_BIT(s);
    r->waiter = NULL;
    weft__task_wake(rw->w.task, s);
}

static void dispatch(struct sig_hub *hub, uint64_t bits) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &hub->regs) {
        struct sig_reg *r = WEFT__CONTAINER_OF(pos, struct sig_reg, link);
        uint64_t hit = bits & r->set;
        if (!hit)
            continue;
        r->pending |= hit;
        if (r->fn && !r->call.id) {
            int err = weft_call_soon(hub->loop, callback_run, r, &r->call);
            if (err)
                weft__log(WEFT_LOG_ERROR, "weft signals: cannot schedule the "
                                          "handler of signal %d: %s",
                          lowest(hit), weft_strerror(err));
        } else if (!r->fn && r->waiter) {
            recv_deliver(r);
        }
    }
}

/* ---- callbacks ------------------------------------------------------------------------- */

int weft_signal_add(weft_loop_t *loop, int signum, weft_signal_fn fn,
                    void *arg, weft_signal_id_t *out) {
    if (out)
        out->id = 0;
    int err = weft__loop_check(loop, "weft_signal_add");
    if (err)
        return err;
    if (!fn || !catchable(signum))
        return -EINVAL;
    struct sig_hub *hub;
    err = hub_get(loop, &hub);
    if (err)
        return err;
    struct sig_reg *r = weft__calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->hub = hub;
    r->set = SIG_BIT(signum);
    r->fn = fn;
    r->arg = arg;
    r->id = ++hub->next_id;
    err = reg_add(r);
    if (err) {
        weft__free(r);
        return err;
    }
    if (out)
        out->id = r->id;
    return 0;
}

int weft_signal_remove(weft_loop_t *loop, weft_signal_id_t id) {
    int err = weft__loop_check(loop, "weft_signal_remove");
    if (err)
        return err;
    struct sig_hub *hub = hub_find(loop);
    if (!hub || id.id == 0)
        return -ENOENT;
    struct weft__list *pos;
    for (pos = hub->regs.next; pos != &hub->regs; pos = pos->next) {
        struct sig_reg *r = WEFT__CONTAINER_OF(pos, struct sig_reg, link);
        if (r->fn && r->id == id.id) {
            reg_del(r);
            weft__free(r);
            return 0;
        }
    }
    return -ENOENT;
}

/* ---- receivers ------------------------------------------------------------------------- */

int weft_signal_open(weft_loop_t *loop, const int *signums, size_t n,
                     weft_sigrecv_t **out) {
    if (out)
        *out = NULL;
    int err = weft__loop_check(loop, "weft_signal_open");
    if (err)
        return err;
    if (!signums || n == 0 || !out)
        return -EINVAL;
    uint64_t set = 0;
    for (size_t i = 0; i < n; i++) {
        if (!catchable(signums[i]))
            return -EINVAL;
        set |= SIG_BIT(signums[i]);
    }
    struct sig_hub *hub;
    err = hub_get(loop, &hub);
    if (err)
        return err;
    weft_sigrecv_t *rx = weft__calloc(1, sizeof *rx);
    if (!rx)
        return -ENOMEM;
    rx->reg.hub = hub;
    rx->reg.set = set;
    err = reg_add(&rx->reg);
    if (err) {
        weft__free(rx);
        return err;
    }
    *out = rx;
    return 0;
}

static int recv_abort(struct weft__wait *w) {
    struct recv_wait *rw = WEFT__CONTAINER_OF(w, struct recv_wait, w);
    rw->reg->waiter = NULL;
    return 0;
}

int weft_signal_next(weft_sigrecv_t *rx) {
    struct weft_task *t = weft__task_require("weft_signal_next");
    if (!t)
        return -EPERM;
    if (!rx)
        return -EINVAL;
    struct sig_reg *r = &rx->reg;
    if (r->hub->loop != t->loop) {
        WEFT__MISUSE("weft_signal_next", "the receiver belongs to another "
                                         "loop");
        return -EPERM;
    }
    if (r->waiter)
        return -EBUSY;
    if (r->pending) {
        int s = lowest(r->pending);
        r->pending &= ~SIG_BIT(s);
        return s;
    }
    /* consumes: a signal handed over is not lost to a cancel */
    struct recv_wait rw = {.w = {.abort = recv_abort,
                                 .consumes = true,
                                 .kind = WEFT__WAIT_SIGNAL},
                           .reg = r};
    r->waiter = &rw;
    int res = weft__park(&rw.w);
    if (!rw.closed && r->waiter == &rw)
        r->waiter = NULL;
    return res;
}

void weft_signal_close(weft_sigrecv_t *rx) {
    if (!rx)
        return;
    struct sig_reg *r = &rx->reg;
    if (weft__loop_check(r->hub->loop, "weft_signal_close"))
        return;
    if (r->waiter) {
        r->waiter->closed = true;
        weft__task_wake(r->waiter->w.task, -EBADF);
        r->waiter = NULL;
    }
    reg_del(r);
    weft__free(rx);
}

int weft_signal_wait(const int *signums, size_t n) {
    struct weft_task *t = weft__task_require("weft_signal_wait");
    if (!t)
        return -EPERM;
    weft_sigrecv_t *rx;
    int err = weft_signal_open(t->loop, signums, n, &rx);
    if (err)
        return err;
    int s = weft_signal_next(rx);
    weft_signal_close(rx);
    return s;
}

/* ---- loop close and free ------------------------------------------------------------------ */

/* The tasks are gone (the reader too): put the dispositions back, free the
 * slot and the eventfd. Registrations stay until the loop is freed, so
 * weft_signal_remove() and weft_signal_close() still work meanwhile. */
static void hub_close(weft_loop_t *loop, struct weft__hook *h) {
    struct sig_hub *hub = WEFT__CONTAINER_OF(h, struct sig_hub, close_hook);
    if (!hub->live)
        return;
    for (int s = 1; s <= SIG_MAX; s++)
        if (hub->refs[s])
            catch_stop(hub->slot, s);
    hub->live = false;
    slot_release(hub->slot);
    weft__io_close(loop, &hub->io);
    close(hub->efd);
    struct weft__list *pos;
    for (pos = hub->regs.next; pos != &hub->regs; pos = pos->next) {
        struct sig_reg *r = WEFT__CONTAINER_OF(pos, struct sig_reg, link);
        if (r->call.id)
            weft_handle_cancel(loop, r->call);
        r->call.id = 0;
    }
}

static void hub_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct sig_hub *hub = WEFT__CONTAINER_OF(h, struct sig_hub, free_hook);
    size_t receivers = 0;
    struct weft__list *n;
    while ((n = weft__list_pop_front(&hub->regs))) {
        struct sig_reg *r = WEFT__CONTAINER_OF(n, struct sig_reg, link);
        receivers += r->fn == NULL;
        weft__free(r); /* first member of a receiver too */
    }
    if (receivers)
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_free: %zu signal receiver(s) still open; freed "
                  "with the loop",
                  receivers);
    weft__free(hub);
}

/* ---- weft_run's WEFT_RUN_SIGNALS --------------------------------------------------------- */

static void run_signal(int signum, void *arg) {
    struct weft__run_signals *rs = arg;
    if (!rs->main || weft_task_done(rs->main))
        return;
    if (rs->seen++ == 0) {
        if (rs->stop_signal)
            *rs->stop_signal = signum;
        if (rs->grace > 0) {
            weft_task_cancel_soft(rs->main, rs->grace);
            return;
        }
    }
    weft_task_cancel_msg(rs->main, "a signal asked the program to stop");
    /* From now on the signals do what they did before weft_run: by default,
     * end the process. */
    weft__run_signals_stop(rs);
}

int weft__run_signals_start(struct weft__run_signals *rs, weft_loop_t *loop,
                            const weft_run_opts_t *opts) {
    rs->loop = loop;
    rs->grace = opts->grace;
    rs->stop_signal = opts->stop_signal;
    int err = weft_signal_add(loop, SIGINT, run_signal, rs, &rs->ids[0]);
    if (!err)
        err = weft_signal_add(loop, SIGTERM, run_signal, rs, &rs->ids[1]);
    if (err)
        weft__run_signals_stop(rs);
    return err;
}

void weft__run_signals_stop(struct weft__run_signals *rs) {
    for (int i = 0; i < 2; i++) {
        if (rs->ids[i].id)
            weft_signal_remove(rs->loop, rs->ids[i]);
        rs->ids[i].id = 0;
    }
}
