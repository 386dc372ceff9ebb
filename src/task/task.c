/* Tasks: spawning, switching, parking, waking, cancelling, sleeping.
 *
 * A task lives at the top of its own stack slot (see coro/stack.h), so a
 * spawn is one slot from the pool and no malloc. A task that suspends hands
 * the CPU straight to the next ready task when there is one (and this
 * iteration's budget allows), without passing through the loop's own
 * context: one context switch per hand-off.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include "io.h"
#include "task_int.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT__VALGRIND 1
#endif
#endif

/* Task ids are unique in the process; each loop reserves them in blocks so
 * that a spawn needs no atomic operation. */
#define TASK_ID_BLOCK 4096
static atomic_uint_fast64_t next_task_id = 1;

static void task_destroy(weft_future_t *f);
static int task_cancel_future(weft_future_t *f);
const struct weft__future_ops weft__task_ops = {task_cancel_future,
                                                task_destroy};

struct weft_task *weft__task_require_failed(const char *fn) {
    weft__log(WEFT_LOG_WARN, "%s: called outside a task (it can only be "
                             "awaited from a task)",
              fn);
    return NULL;
}

/* ---- per-loop state ------------------------------------------------------------- */

static void tasks_close(weft_loop_t *loop, struct weft__hook *h);
static void tasks_free(weft_loop_t *loop, struct weft__hook *h);
static void task_run(weft_loop_t *loop, struct weft__ready *r);
static void task_run_fp(weft_loop_t *loop, struct weft__ready *r);

static pthread_once_t runner_once = PTHREAD_ONCE_INIT;

static void set_runner(void) {
    weft__task_runner = task_run;
}

struct weft__tasks *weft__tasks_get(weft_loop_t *loop) {
    if (WEFT__LIKELY(loop->tasks != NULL))
        return loop->tasks;
    struct weft__tasks *ts = weft__calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    weft__list_init(&ts->live);
    weft__group_init_root(&ts->root);
    weft__stack_pools_init(&loop->stacks, sizeof(struct weft_task),
                           &loop->now);
    weft__hook_add(loop, &ts->close_hook, WEFT__PHASE_TASKS, tasks_close);
    weft__hook_add(loop, &ts->free_hook, WEFT__PHASE_FREE, tasks_free);
    weft__overflow_setup();
    /* Set once per process: loops of other threads read it while they
     * run. Every thread passes here before it runs a task, so pthread_once
     * also orders their reads after the store. */
    pthread_once(&runner_once, set_runner);
    loop->tasks = ts;
    return ts;
}

/* ---- switching -------------------------------------------------------------------- */

static void reap(weft_loop_t *loop);

/* Remember how deep the stack went, so that a stack given back to the pool
 * can return the pages a deep call touched. Sampled where tasks park. */
static inline uintptr_t stack_pointer(void) {
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

/* Give back the pages of a parked task's stack below its stack pointer
 * (and its red zone): memory a deep call touched once and an idle
 * task does not need; the next deep call faults them in again (zeroed,
 * which dead stack may be). Only with the assembly switch, which keeps
 * the stack pointer in ctx.sp. */
void weft__task_trim_stack(struct weft_task *t) {
#if !WEFT_CORO_UCONTEXT
    if (!t || t == weft__task_current() || !(t->flags & WEFT__TASK_STARTED) ||
        (t->flags & WEFT__TASK_DONE) || !t->ctx.sp || t->asleep)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t sp = (uintptr_t)t->ctx.sp;
    uintptr_t lo = WEFT__ALIGN_UP((uintptr_t)t->stack.lo, page);
    /* A parked task runs nothing on its stack (signal handlers run on the
     * running task's): only the red zone below sp may hold its data. */
    uintptr_t hi = sp > 128 ? (sp - 128) & ~(page - 1) : 0;
    if (hi > lo && sp <= (uintptr_t)t->stack.hi)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)t;
#endif
}

static inline void note_depth(struct weft_task *t) {
    uintptr_t sp = stack_pointer();
    if (sp < t->deepest)
        t->deepest = sp;
}

/* Leave the running task t (its state already recorded: parked or queued)
 * for the next ready task, or for the loop's own context. Returns when t is
 * resumed. A finished task never comes here: it returns to the loop's
 * context, which frees its stack, so a resumed task has nothing to clean
 * up. */
/* At every switch: the canary below the stack must be intact, and the
 * stack pointer must still be above it (a frame bigger than what is left
 * can jump over the canary; while it is live, this sees it). The canary's
 * address is already at hand, so the second test costs no load. */
/* Both words of the canary: a frame can leave 8 bytes unwritten (padding),
 * and an overflow passing through must not slip by in that gap. */
static inline __attribute__((always_inline)) bool
canary_intact(const struct weft_task *t) {
    const uint64_t *c = t->stack.canary;
#if defined(__SSE2__)
    __m128i have = _mm_loadu_si128((const __m128i *)(const void *)c);
    __m128i want = _mm_load_si128((const __m128i *)(const void *)t->canary);
    return _mm_movemask_epi8(_mm_cmpeq_epi8(have, want)) == 0xffff;
#else
    return ((c[0] ^ t->canary[0]) | (c[1] ^ t->canary[1])) == 0;
#endif
}

/* The canary reads zero while the slot below hibernates (its pages, with
 * our canary at their top, are given back): not an overflow. */
static __attribute__((noinline, cold)) void canary_failed(struct weft_task *t,
                                                          uintptr_t sp) {
    if (sp >= (uintptr_t)t->stack.canary &&
        weft__stack_canary_excused(&t->stack))
        return;
    weft__overflow_canary(t);
}

static inline __attribute__((always_inline)) void check_canary(struct weft_task *t) {
    uintptr_t sp = stack_pointer();
    if (WEFT__UNLIKELY(!canary_intact(t) || sp < (uintptr_t)t->stack.canary))
        canary_failed(t, sp);
}

/* `fp`: t switches its own FP state (a constant in the fast paths). The
 * task handed over to is never such a task: their ready nodes carry
 * task_run_fp, so only the loop's context switches to them. */
static inline __attribute__((always_inline)) void
switch_out(struct weft__runq *q, struct weft_task *t, bool fp) {
    check_canary(t);
    /* A task with its own FP state may also hand over to one like it (both
     * sides' states are switched); plain tasks never test for that. */
    struct weft__ready *r =
        fp ? weft__ready_take_task_or(q, task_run_fp) : weft__ready_take_task(q);
    if (r) {
        /* Possibly t itself, when it was the only one ready: switching to
         * yourself is harmless and rarer than a test would cost. */
        struct weft_task *next = WEFT__CONTAINER_OF(r, struct weft_task, rnode);
        q->current = next;
        weft__ctx_switch(&t->ctx, &next->ctx, fp);
    } else {
        q->current = NULL;
        weft__ctx_switch(&t->ctx, &q->loop->sched, fp);
    }
}

/* The loop's context runs a ready task; task_run_fp one that switches its
 * own FP state. */
static inline __attribute__((always_inline)) void
run_task(weft_loop_t *loop, struct weft__ready *r, bool fp) {
    struct weft_task *t = WEFT__CONTAINER_OF(r, struct weft_task, rnode);
    struct weft__runq *q = loop->rq;
    q->current = t;
    weft__ctx_switch(&loop->sched, &t->ctx, fp);
    q->current = NULL;
    if (WEFT__UNLIKELY(loop->zombie != NULL))
        reap(loop);
}

static void task_run(weft_loop_t *loop, struct weft__ready *r) {
    run_task(loop, r, false);
}

static void task_run_fp(weft_loop_t *loop, struct weft__ready *r) {
    run_task(loop, r, true);
}

/* Put a hibernating task's stack back: before anything reads its wait
 * record or its scopes (waking it, interrupting it, its deadline firing,
 * its fd's events: every path reaches it through the task or through
 * io->sleeper). Never on its own stack, which is parked. */
void weft__task_thaw(struct weft_task *t) {
    struct weft__stack_copy *copy = t->asleep;
    if (!copy)
        return;
    t->asleep = NULL;
    if (weft__stack_thaw(&t->loop->stacks, &t->stack, copy) < 0)
        weft__overflow_hibernated(t);
    struct weft__wait *w = t->wait;
    if (w && w->kind == WEFT__WAIT_IO)
        ((struct weft__io *)(uintptr_t)w->obj)->sleeper = NULL;
}

struct weft_task *weft__task_of_ready(struct weft__ready *r) {
    if (r->run && r->run != task_run_fp)
        return NULL;
    return WEFT__CONTAINER_OF(r, struct weft_task, rnode);
}

/* Out of line: inlined, its locals and saved registers made task_entry's
 * frame, which sits at the top of every parked stack (and in every
 * hibernation copy), 96 bytes instead of 16. */
static _Noreturn __attribute__((noinline)) void
task_finish(struct weft_task *t, int status);

static void task_entry(struct weft__ctx *prev, struct weft__ctx *self) {
    weft__ctx_started(prev, self);
    struct weft_task *t = WEFT__CONTAINER_OF(self, struct weft_task, ctx);
    t->flags |= WEFT__TASK_STARTED;
    task_finish(t, t->fn(t->arg));
}

/* ---- parking and waking -------------------------------------------------------------- */

static __attribute__((noinline)) int late_interrupt(struct weft_task *t,
                                                    int r) {
    int err = weft__task_interrupted(t);
    return err ? err : r;
}

/* The wait was ended by an interruption. Who owns it is decided now, when
 * the task runs again: a cancel that arrived meanwhile wins over the
 * timeout (bpo-42130), and an outer scope that expired meanwhile takes
 * the timeout over (the outermost expired scope owns it). The scope whose
 * deadline cut the wait stays marked: its exit reports the cancel. */
static __attribute__((noinline)) int interrupted_result(struct weft_task *t,
                                                        struct weft__wait *w,
                                                        int r) {
    if (r == -ETIMEDOUT && w->by)
        w->by->flags |= WEFT__SCOPE_CAUGHT;
    struct weft__scope *by;
    int err = weft__task_pending(t, &by);
    if (err) {
        r = err;
        w->by = by;
        if (err == -ETIMEDOUT)
            by->flags |= WEFT__SCOPE_CAUGHT;
    }
    return r;
}

static inline int park_result(struct weft_task *t, struct weft__wait *w,
                              int r) {
    /* Completed, but cancelled (or a deadline passed) before it ran
     * again: a wait that consumed nothing says so now. */
    if (WEFT__UNLIKELY(t->pending) && r >= 0 && !w->consumes && !w->noint)
        return late_interrupt(t, r);
    if (WEFT__UNLIKELY(w->interrupted != 0) && r == w->interrupted)
        return interrupted_result(t, w, r);
    return r;
}

void (*weft__park_hook)(struct weft_task *t);

int weft__park(struct weft__wait *w) {
    struct weft__runq *q = &weft__tls_rq;
    struct weft_task *t = q->current;
    if (WEFT__UNLIKELY(weft__park_hook != NULL))
        weft__park_hook(t);
    w->task = t;
    w->result = 0;
    w->interrupted = 0;
    w->by = NULL;
    w->since = q->loop->now;
    if (WEFT__UNLIKELY(t->pending & WEFT__PEND_INT) && !w->noint) {
        struct weft__scope *by;
        int err = weft__task_pending(t, &by);
        if (err) {
            w->interrupted = err;
            w->by = by;
            if (!w->abort || w->abort(w) == 0)
                return park_result(t, w, err);
            /* The abort completes later: wait for it like any wake-up. */
        }
    }
    t->wait = w;
    note_depth(t);
    if (WEFT__UNLIKELY(t->pending & WEFT__PEND_FP))
        switch_out(q, t, true);
    else
        switch_out(q, t, false);
    return park_result(t, w, w->result);
}

void weft__task_wake_unparked(struct weft_task *t) {
    weft__log(WEFT_LOG_ERROR, "internal: waking task %llu that is not parked",
              (unsigned long long)t->id);
}

/* End t's wait (parked, interruptible, not yet interrupted) with err. */
static void interrupt_wait(struct weft_task *t, struct weft__wait *w, int err,
                           struct weft__scope *by) {
    w->interrupted = err;
    w->by = by;
    if (!w->abort || w->abort(w) == 0)
        weft__task_wake(t, err);
}

void weft__task_interrupt(struct weft_task *t) {
    if (WEFT__UNLIKELY(t->asleep != NULL))
        weft__task_thaw(t);
    t->pending |= WEFT__PEND_INT;
    struct weft__wait *w = t->wait;
    if (!w || w->noint || w->interrupted)
        return;
    struct weft__scope *by;
    int err = weft__task_pending(t, &by);
    if (err)
        interrupt_wait(t, w, err, by);
}

/* ---- finishing and freeing ----------------------------------------------------------- */

static const char *task_name(struct weft_task *t);

/* The task returned inside scopes or groups it did not exit. Their storage
 * was in frames that are gone, so it is not touched: the chain is dropped
 * and the groups' children are handed to the root group, cancelled. */
static void close_leftover_scopes(struct weft_task *t) {
    if (!t->scopes)
        return;
    weft__log(WEFT_LOG_WARN,
              "task '%s' returned inside %u scope(s) it did not exit, %u of "
              "them task groups; their children are cancelled",
              task_name(t), t->nscopes, t->ngroups);
    t->scopes = NULL;
    t->nscopes = 0;
    if (t->ngroups)
        weft__group_orphan(t);
    t->ngroups = 0;
    weft__task_recheck(t);
}

int weft_task_set_value(void *value) {
    struct weft_task *t = weft__task_require("weft_task_set_value");
    if (!t)
        return -EPERM;
    /* Held in the future's own field while it is pending: completing it
     * hands the value on (or drops it, for a status < 0). */
    t->fut.value = value;
    return 0;
}

static _Noreturn __attribute__((noinline)) void
task_finish(struct weft_task *t, int status) {
    weft_loop_t *loop = t->loop;
    struct weft__tasks *ts = loop->tasks;
    check_canary(t);
    close_leftover_scopes(t);
    weft__loop_timer_cancel(loop, &t->timer);
    weft__loop_timer_cancel(loop, &t->grace);
    weft__loop_timer_cancel(loop, &t->deadline);
    t->flags |= WEFT__TASK_DONE;
    weft__list_remove(&t->lnode);
    ts->nlive--;
    weft__future_complete(&t->fut, status, t->fut.value);
    weft__group_child_done(t, status);
    t->ctx.dying = 1;
    loop->zombie = t;
    loop->rq->current = NULL;
    weft__ctx_switch(&t->ctx, &loop->sched, t->ctx.fpenv != 0);
    __builtin_unreachable();
}

/* Out of line: task_free tests the condition. */
static __attribute__((noinline, cold)) void
log_lost_failure(struct weft_task *t) {
    int st = t->fut.status;
    char who[512];
    weft__task_describe(t, (t->loop->flags & WEFT_LOOP_DEBUG) != 0, who,
                        sizeof who);
    weft__log(WEFT_LOG_WARN,
              "%s failed with %s (%s) and nobody collected its result", who,
              weft_err_name(st), weft_strerror(st));
}

static void task_free(struct weft_task *t) {
    weft_loop_t *loop = t->loop;
    struct weft__stack stack = t->stack;
    uintptr_t deepest = t->deepest;
    int st = t->fut.status;
    if (WEFT__UNLIKELY(st < 0) && st != -ECANCELED && !t->fut.retrieved)
        log_lost_failure(t);
    if (loop->tasks)
        ((struct weft__tasks *)loop->tasks)->nslots--;
    weft__stack_free(&loop->stacks, &stack, deepest);
}

/* A finished task's stack is released by the next context to run. */
static void reap(weft_loop_t *loop) {
    struct weft_task *t = loop->zombie;
    loop->zombie = NULL;
    weft__ctx_destroy(&t->ctx);
#ifdef WEFT__VALGRIND
    VALGRIND_STACK_DEREGISTER(t->vg_stack);
#endif
    weft_future_release(&t->fut); /* the running task's own reference */
}

static void task_destroy(weft_future_t *f) {
    task_free((struct weft_task *)(void *)f);
}

/* ---- spawning ------------------------------------------------------------------------- */

/* A given name is copied; the default "task-<id>" is only formatted when
 * someone asks for it (snprintf would double the cost of a spawn). */
static void name_task(struct weft_task *t, const char *name) {
    if (name) {
        size_t n = strlen(name);
        if (n >= sizeof t->name)
            n = sizeof t->name - 1;
        memcpy(t->name, name, n);
        t->name[n] = 0;
    } else {
        t->name[0] = 0;
    }
}

static const char *task_name(struct weft_task *t) {
    if (!t->name[0])
        snprintf(t->name, sizeof t->name, "task-%llu",
                 (unsigned long long)t->id);
    return t->name;
}

static void sleep_fire(struct weft__timer *tm);
static void grace_fire(struct weft__timer *tm);

WEFT__TLS const void *weft__spawn_site;

int weft__spawn_at(weft_loop_t *loop, struct weft__group *g,
                   weft_task_t **out, weft_task_fn fn, void *arg,
                   const weft_spawn_opts_t *opts) {
    if (out)
        *out = NULL;
    if (!fn)
        return -EINVAL;
    if (loop->closed)
        return -ESHUTDOWN;
    size_t size = opts && opts->stack_size ? opts->stack_size
                                           : loop->stack_size;
    unsigned flags = opts ? opts->flags : 0;
    if (size < WEFT_STACK_MIN || size > ((size_t)1 << 30) ||
        (flags & ~(unsigned)WEFT_SPAWN_FPENV))
        return -EINVAL;
    struct weft__tasks *ts = weft__tasks_get(loop);
    if (!ts)
        return -ENOMEM;
    if (!g)
        g = &ts->root;

    struct weft__stack st;
    int err = weft__stack_alloc(&loop->stacks, size, &st);
    if (err)
        return err;
    /* Every field is set here, without a memset of the whole task: this is
     * the hot part of a spawn. */
    struct weft_task *t = st.header;
    t->stack = st;
    err = weft__ctx_make(&t->ctx, st.lo, (size_t)(st.hi - st.lo), task_entry);
    if (err) {
        weft__stack_free(&loop->stacks, &st, 0);
        return err;
    }
    weft__future_init(&t->fut, loop, &weft__task_ops);
    if (flags & WEFT_SPAWN_FPENV) {
        t->ctx.fpenv = 1;
        weft__ctx_fpenv_capture(&t->ctx);
    }
    t->loop = loop;
    t->wait = NULL;
    t->scopes = NULL;
    t->fn = fn;
    t->arg = arg;
    t->flags = 0;
    t->pending = (flags & WEFT_SPAWN_FPENV) ? WEFT__PEND_FP : 0;
    if (WEFT__UNLIKELY(ts->id_next == ts->id_end)) {
        ts->id_next = atomic_fetch_add(&next_task_id, TASK_ID_BLOCK);
        ts->id_end = ts->id_next + TASK_ID_BLOCK;
        ts->ids_reserved += TASK_ID_BLOCK;
    }
    t->id = ts->id_next++;
    t->deepest = (uintptr_t)st.hi;
    t->canary[0] = weft__stack_canary_value(&st, loop->stacks.canary_key);
    t->canary[1] = ~t->canary[0];
    weft__timer_init(&t->timer, sleep_fire);
    weft__timer_init(&t->grace, grace_fire);
    weft__scope_timer_init(t);
    t->nscopes = t->ngroups = 0;
    t->vg_stack = 0;
    t->asleep = NULL;
    name_task(t, opts ? opts->name : NULL);
    t->spawn_site = weft__spawn_site;
#ifdef WEFT__VALGRIND
    t->vg_stack = VALGRIND_STACK_REGISTER(st.lo, st.hi);
#endif
    t->group = g;
    t->gowner = g->owner;
    weft__list_push_back(&g->children, &t->gnode);
    g->n++;
    /* Children of a cancelled group, and tasks spawned while the loop
     * closes, start cancelled. */
    if (WEFT__UNLIKELY((g->flags & WEFT__GROUP_CANCELLED) || loop->closing)) {
        t->flags |= WEFT__TASK_CANCELLED | WEFT__TASK_STOP;
        t->pending |= WEFT__PEND_INT;
        t->ncancel = 1;
        t->cancel_msg = loop->closing ? "the loop is closing"
                                      : "its task group was cancelled";
    }
    weft__list_push_back(&ts->live, &t->lnode);
    ts->nlive++;
    ts->nslots++;
    WEFT__PROBE4(task_spawn, t->id, fn, t->name, t->spawn_site);
    if (out) {
        t->fut.refs++;
        *out = t;
    }
    /* A task: the scheduler, or a task handing over, switches to it; one
     * with its own FP state only through the scheduler's context. */
    t->rnode.run = (flags & WEFT_SPAWN_FPENV) ? task_run_fp : NULL;
    weft__ready_push(loop, &t->rnode);
    return 0;
}

int weft_loop_spawn(weft_loop_t *loop, weft_task_t **out, weft_task_fn fn,
                    void *arg, const weft_spawn_opts_t *opts) {
    if (out)
        *out = NULL;
    int err = weft__loop_check(loop, "weft_loop_spawn");
    if (err)
        return err;
    return weft__spawn(loop, NULL, out, fn, arg, opts);
}

int weft_spawn(weft_task_t **out, weft_task_fn fn, void *arg,
               const weft_spawn_opts_t *opts) {
    weft_loop_t *loop = weft__tls_loop;
    if (!loop) {
        if (out)
            *out = NULL;
        weft__log(WEFT_LOG_WARN, "weft_spawn: no loop is running on this "
                                 "thread (use weft_loop_spawn)");
        return -EPERM;
    }
    return weft__spawn(loop, NULL, out, fn, arg, opts);
}

/* ---- the stack pool ------------------------------------------------------------------------ */

int weft_loop_stack_stats(weft_loop_t *loop, weft_stack_stats_t *out) {
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    int err = weft__loop_check(loop, "weft_loop_stack_stats");
    if (err)
        return err;
    weft__stack_stats(&loop->stacks, &out->slots, &out->in_use, &out->chunks,
                      &out->mapped, &out->resident);
    return 0;
}

int weft_loop_stack_trim(weft_loop_t *loop, size_t *released) {
    if (released)
        *released = 0;
    int err = weft__loop_check(loop, "weft_loop_stack_trim");
    if (err)
        return err;
    size_t n = loop->stacks.clock ? weft__stack_trim(&loop->stacks, true) : 0;
    if (released)
        *released = n;
    return 0;
}

/* ---- hibernation -------------------------------------------------------------------------- */

/* The stack pointer a parked task will resume with. */
static const char *parked_sp(const struct weft_task *t) {
#if !WEFT_CORO_UCONTEXT
    return t->ctx.sp;
#elif defined(__x86_64__)
    return t->ctx.uc ? (const char *)t->ctx.uc->uc_mcontext.gregs[REG_RSP]
                     : NULL;
#elif defined(__aarch64__)
    return t->ctx.uc ? (const char *)t->ctx.uc->uc_mcontext.sp : NULL;
#else
    (void)t;
    return NULL;
#endif
}

/* Nothing below the stack pointer is copied: a task hibernates only
 * parked in weft__park, which calls functions, and compilers use the
 * x86-64 red zone in leaf functions only; below the saved stack pointer
 * of the ucontext build lies swapcontext's own dead frame. */
#define RED_ZONE 0

int weft_task_hibernate(weft_task_t *t) {
    return weft__task_hibernate_except(t, NULL, 0);
}

int weft__task_hibernate_except(weft_task_t *t,
                                const struct weft__span *dead, size_t ndead) {
    if (!t)
        return -EINVAL;
    int err = weft__loop_check(t->loop, "weft_task_hibernate");
    if (err)
        return err;
    if (t->asleep)
        return -EALREADY;
    /* Parked: started, in a wait, not finished (nor running: the running
     * task is in no wait). */
    if (!(t->flags & WEFT__TASK_STARTED) || (t->flags & WEFT__TASK_DONE) ||
        !t->wait || t == weft__task_current())
        return -EBUSY;
    const char *sp = parked_sp(t);
    if (!t->stack.paged || !sp)
        return -ENOTSUP;
    /* Only where nothing but the task (and, for I/O, its fd's record)
     * leads into its stack: a sleep, or a wait for an fd that nobody else
     * waits for as it sleeps. Other waits keep list links on the stack
     * that others walk (a lock's, a queue's waiters); the task's groups
     * are written by their children. */
    struct weft__wait *w = t->wait;
    struct weft__io *io = NULL;
    if (w->kind == WEFT__WAIT_IO) {
        io = (struct weft__io *)(uintptr_t)w->obj;
        if (io->sleeper)
            return -EBUSY;
        /* io_uring writes a recv's bytes where it was asked to: not into
         * pages given back (and then overwritten by the copy). A recv
         * into the heap (a stream's buffer) may sleep; the completion
         * finds the task, not the record on its stack (uring.c). */
        if (w->consumes &&
            weft__uring_op_within(w, t->stack.lo, t->stack.hi))
            return -EBUSY;
    } else if (w->kind != WEFT__WAIT_SLEEP) {
        return -EBUSY;
    }
    if (t->ngroups)
        return -EBUSY;
    const char *from = sp - RED_ZONE < t->stack.lo ? t->stack.lo
                                                   : sp - RED_ZONE;
    err = weft__stack_hibernate(&t->loop->stacks, &t->stack, from, dead, ndead,
                                &t->asleep);
    if (err)
        return err;
    if (io)
        io->sleeper = t;
    return 0;
}

/* ---- inspection ------------------------------------------------------------------------ */

weft_task_t *weft_task_current(void) {
    return weft__task_current();
}

weft_task_t *weft_task_ref(weft_task_t *t) {
    if (t)
        t->fut.refs++;
    return t;
}

void weft_task_release(weft_task_t *t) {
    if (t)
        weft_future_release(&t->fut);
}

const char *weft_task_name(const weft_task_t *t) {
    return t ? task_name((struct weft_task *)t) : "";
}

uint64_t weft_task_id(const weft_task_t *t) {
    return t ? t->id : 0;
}

weft_future_t *weft_task_future(weft_task_t *t) {
    return t ? &t->fut : NULL;
}

bool weft_task_done(const weft_task_t *t) {
    return t && (t->flags & WEFT__TASK_DONE);
}

bool weft_task_cancelled(const weft_task_t *t) {
    return t && (t->flags & WEFT__TASK_DONE) && t->fut.status == -ECANCELED;
}

int weft_task_result(weft_task_t *t) {
    if (!t)
        return -EINVAL;
    return weft_future_result(&t->fut, NULL);
}

/* ---- cancellation -------------------------------------------------------------------------- */

int weft__task_cancel(struct weft_task *t, const char *why) {
    if (t->flags & WEFT__TASK_DONE)
        return -EALREADY;
    /* Set at the first request, not at the spawn (a store fewer there). */
    if (!(t->flags & WEFT__TASK_CANCELLED)) {
        t->ncancel = 0;
        t->cancel_msg = NULL;
    }
    t->ncancel++;
    if (!t->cancel_msg)
        t->cancel_msg = why;
    t->flags |= WEFT__TASK_CANCELLED | WEFT__TASK_STOP;
    weft__loop_timer_cancel(t->loop, &t->grace);
    weft__task_interrupt(t);
    return 0;
}

int weft_task_cancel_msg(weft_task_t *t, const char *msg) {
    if (!t)
        return -EINVAL;
    int err = weft__loop_check(t->loop, "weft_task_cancel");
    if (err)
        return err;
    return weft__task_cancel(t, msg);
}

int weft_task_cancel(weft_task_t *t) {
    return weft_task_cancel_msg(t, NULL);
}

const char *weft_task_cancel_reason(const weft_task_t *t) {
    return t && (t->flags & WEFT__TASK_CANCELLED) ? t->cancel_msg : NULL;
}

unsigned weft_task_cancelling(const weft_task_t *t) {
    return t && (t->flags & WEFT__TASK_CANCELLED) ? t->ncancel : 0;
}

static int task_cancel_future(weft_future_t *f) {
    return weft_task_cancel((struct weft_task *)(void *)f);
}

static void grace_fire(struct weft__timer *tm) {
    struct weft_task *t = WEFT__CONTAINER_OF(tm, struct weft_task, grace);
    weft__task_cancel(t, "its grace period to stop ended");
}

int weft_task_cancel_soft(weft_task_t *t, double grace) {
    if (!t)
        return -EINVAL;
    int err = weft__loop_check(t->loop, "weft_task_cancel_soft");
    if (err)
        return err;
    uint64_t ns;
    if (weft__secs_to_ns(grace, &ns))
        return -EINVAL;
    if (t->flags & WEFT__TASK_DONE)
        return -EALREADY;
    if (ns == 0)
        return weft__task_cancel(t, NULL);
    t->flags |= WEFT__TASK_STOP;
    if (!weft__timer_armed(&t->grace) &&
        !(t->flags & WEFT__TASK_CANCELLED)) {
        err = weft__loop_timer_arm(t->loop, &t->grace,
                                   weft__loop_deadline(t->loop, ns));
        if (err)
            return err;
    }
    weft__task_interrupt(t);
    return 0;
}

bool weft_stop_requested(void) {
    struct weft_task *t = weft__task_current();
    return t && (t->flags & (WEFT__TASK_STOP | WEFT__TASK_CANCELLED));
}

/* ---- sleeping and yielding ------------------------------------------------------------------ */

static void sleep_fire(struct weft__timer *tm) {
    struct weft_task *t = WEFT__CONTAINER_OF(tm, struct weft_task, timer);
    weft__task_wake(t, 0);
}

static int sleep_abort(struct weft__wait *w) {
    weft__loop_timer_cancel(w->task->loop, &w->task->timer);
    return 0;
}

static __attribute__((noinline, cold)) int yield_slow(struct weft_task *t) {
    if (!t)
        return weft__task_require("weft_yield") ? 0 : -EPERM;
    return weft__task_interrupted(t);
}

/* weft_yield for a task with something pending or its own FP state (the
 * latter alone asks for no check of interruptions). */
static __attribute__((noinline)) int yield_flagged(struct weft__runq *q,
                                                   struct weft_task *t) {
    if (!t || (t->pending & WEFT__PEND_INT)) {
        int err = yield_slow(t);
        if (err || !t)
            return err;
    }
    weft__rq_push(q, &t->rnode);
    switch_out(q, t, (t->pending & WEFT__PEND_FP) != 0);
    return (t->pending & WEFT__PEND_INT) ? yield_slow(t) : 0;
}

int weft_yield(void) {
    struct weft__runq *q = &weft__tls_rq;
    struct weft_task *t = q->current;
    if (WEFT__UNLIKELY(!t || t->pending))
        return yield_flagged(q, t);
    weft__rq_push(q, &t->rnode);
    switch_out(q, t, false);
    /* Cancelled while waiting in the ready queue: say so, as asyncio's
     * sleep(0) raises CancelledError. */
    if (WEFT__UNLIKELY(t->pending))
        return yield_slow(t);
    return 0;
}

int weft_sleep(double seconds) {
    uint64_t ns;
    if (weft__secs_to_ns(seconds, &ns))
        return weft__task_require("weft_sleep") ? -EINVAL : -EPERM;
    if (ns == 0)
        return weft_yield();
    struct weft_task *t = weft__task_require("weft_sleep");
    if (!t)
        return -EPERM;
    weft_loop_t *loop = t->loop;
    if (t->pending) {
        int err = weft__task_interrupted(t);
        if (err)
            return err;
    }
    int err = weft__loop_timer_arm(loop, &t->timer,
                                   weft__loop_deadline(loop, ns));
    if (err)
        return err;
    struct weft__wait w = {.abort = sleep_abort, .kind = WEFT__WAIT_SLEEP};
    return weft__park(&w);
}

static __attribute__((noinline, cold)) int join_self(struct weft_task *t) {
    weft__log(WEFT_LOG_WARN, "weft_join: task '%s' cannot join itself (it "
                             "would wait forever)",
              task_name(t));
    return -EDEADLK;
}

static inline __attribute__((always_inline)) int join(weft_task_t *task,
                                                      void **value) {
    struct weft_task *t = weft__task_require("weft_join");
    if (!t)
        return -EPERM;
    if (!task)
        return -EINVAL;
    if (WEFT__UNLIKELY(task == t))
        return join_self(t);
    return weft_await(&task->fut, value);
}

int weft_join(weft_task_t *task) {
    return join(task, NULL);
}

int weft_join_value(weft_task_t *task, void **value) {
    if (value)
        *value = NULL;
    return join(task, value);
}

/* ---- closing the loop -------------------------------------------------------------------------- */

static void cancel_all(struct weft__tasks *ts) {
    struct weft__list *pos;
    for (pos = ts->live.next; pos != &ts->live; pos = pos->next) {
        struct weft_task *t = WEFT__CONTAINER_OF(pos, struct weft_task, lnode);
        if (!(t->flags & WEFT__TASK_CANCELLED))
            weft__task_cancel(t, "the loop is closing");
    }
}

/* The close is stuck: the cancelled tasks that are still parked in an
 * interruptible wait are there because a shield holds it, and nothing can
 * complete those waits any more. Say which, and end them with -ECANCELED
 * so the tasks unwind. Uninterruptible waits are left alone: they wait
 * for other tasks (which unwind now) or for other threads. */
static void interrupt_stuck(struct weft__tasks *ts) {
    struct weft__list *pos;
    for (pos = ts->live.next; pos != &ts->live; pos = pos->next) {
        struct weft_task *t = WEFT__CONTAINER_OF(pos, struct weft_task, lnode);
        struct weft__wait *w = t->wait;
        if (!w || w->noint || w->interrupted)
            continue;
        char who[512];
        weft__task_describe(t, (t->loop->flags & WEFT_LOOP_DEBUG) != 0, who,
                            sizeof who);
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_close: %s is in a shielded wait that nothing "
                  "can complete any more; interrupting it (-ECANCELED)",
                  who);
        interrupt_wait(t, w, -ECANCELED, NULL);
    }
}

static void tasks_close(weft_loop_t *loop, struct weft__hook *h) {
    struct weft__tasks *ts = WEFT__CONTAINER_OF(h, struct weft__tasks,
                                                close_hook);
    if (ts->nlive == 0)
        return;
    if (weft__loop_enter(loop, "weft_loop_close"))
        return;
    /* Cancel everything once (tasks spawned from now on start cancelled:
     * loop->closing is set), then run until it has all unwound. Walking
     * the live tasks at every iteration made closing a loop with a
     * million tasks quadratic (435 s; now linear). Shields are honoured
     * while anything could still complete their waits; once nothing can,
     * the loop would sleep forever, so those waits are ended instead. */
    cancel_all(ts);
    while (ts->nlive > 0) {
        if (weft__loop_stalled(loop))
            interrupt_stuck(ts);
        weft__loop_run_once(loop);
    }
    weft__loop_leave(loop);
}

static void tasks_free(weft_loop_t *loop, struct weft__hook *h) {
    struct weft__tasks *ts = WEFT__CONTAINER_OF(h, struct weft__tasks,
                                                free_hook);
    if (ts->nslots)
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_free: %zu finished task(s) still referenced; "
                  "their memory is released with the loop",
                  ts->nslots);
    if (ts->nfutures)
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_free: %zu future(s) of this loop still "
                  "referenced; release them before freeing the loop",
                  ts->nfutures);
    loop->tasks = NULL;
    weft__free(ts);
}
