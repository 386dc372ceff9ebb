/* weft/task.h - tasks (coroutines), cancellation, deadline scopes, task
 * groups, gather, wait_for and weft_run.
 *
 * A task is a function `int fn(void *arg)` running on its own stack. It
 * reads like blocking code: every weft call that can suspend it (sleep,
 * await, join, the I/O calls of other modules) lets the loop run other
 * tasks meanwhile, and returns an int: >= 0 on success or a negative errno.
 * The task's return value is its status: >= 0 a result, < 0 an error.
 *
 * Cancellation is a request. After weft_task_cancel(t), the wait t is
 * suspended in (or its next one) returns -ECANCELED, and so does every later
 * wait that has to suspend: cancellation is level-triggered, as in Trio and
 * libdill, so a cancelled task cannot block again by ignoring one error. (A
 * wait that can complete at once, such as awaiting a future that is already
 * done, returns its result without suspending, as in asyncio.) To wait during
 * clean-up, open a shielded scope (WEFT_SCOPE_SHIELD). A wait that completed
 * but had not yet returned when the cancel arrived reports the cancel too
 * (as asyncio's sleep(0) does), unless completing it consumed something: a
 * read that got data, or an item taken from a queue, returns it, and the
 * cancel shows at the next wait. Nothing is lost either way.
 *
 * Deadlines are scopes around any block of waits (asyncio.timeout, Trio's
 * move_on_after / fail_after). Inside an expired scope every wait returns
 * -ETIMEDOUT, and weft_scope_exit() reports whether the deadline cut a wait
 * short. A timeout is always -ETIMEDOUT and a cancellation -ECANCELED; when
 * both arrive together the cancellation wins.
 *
 * Who owns an interruption (Trio's rule, asyncio's "only the topmost
 * context manager raises TimeoutError"): a wait is interrupted on behalf of
 * the OUTERMOST scope that can see it and has expired or been cancelled,
 * looking outward from the wait up to the first shield; beyond every scope,
 * unless a shield stands in the way, the task's own cancellation is the
 * outermost of all. The wait returns -ETIMEDOUT if that owner is a
 * deadline, -ECANCELED if it is a cancellation (the task's, a group's, a
 * stop request in a stoppable scope). Inner scopes that expired too let it
 * through: their exit returns 0, your code passes the wait's -ETIMEDOUT on,
 * and the owner's exit returns -ETIMEDOUT (weft_group_exit: returns it and
 * passes it on). So two nested scopes with the same deadline, or an outer
 * fail-after that expired while an inner move-on-after did (a library's
 * own timeout), report the timeout at the outer scope, never nowhere. The
 * decision is taken when the task runs again, and again at each exit:
 * deadlines that passed while the loop was blocked count, and a scope that
 * caught a timeout hands it to an outer one that has expired by its exit.
 * A shielded scope sees nothing outside it: its own deadline is its own,
 * even in a task that is cancelled (the cancel shows after the shield).
 *
 * Calls that wait (weft_sleep, weft_join, weft_await, weft_gather,
 * weft_wait_for, weft_group_exit) fail with -EPERM outside a task.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_task weft_task_t;
typedef int (*weft_task_fn)(void *arg);

/* Spawn flags. */
enum {
    /* Give this task its own floating-point control state (SSE MXCSR and
     * x87 control word on x86-64, FPCR on aarch64), saved and restored at
     * each of its switches. Without it the FP control state is per thread,
     * like the signal mask: a task that changes the rounding mode must put
     * it back before it waits. A switch to or from such a task costs about
     * 12 ns here instead of 5 (docs/design.md). With the ucontext fallback
     * every task has its own FP state anyway. */
    WEFT_SPAWN_FPENV = 1u << 0,
};

typedef struct weft_spawn_opts {
    const char *name;  /* copied (up to 31 bytes); NULL: "task-<id>" */
    size_t stack_size; /* usable stack bytes; 0: the loop's default. Sizes
                          below 16 KiB get no guard page, only a canary. */
    unsigned flags;    /* WEFT_SPAWN_* */
} weft_spawn_opts_t;

/* The smallest stack_size accepted.
 *
 * How much stack weft needs: its own waits (weft_yield, weft_sleep,
 * weft_await, weft_join, scopes, groups, events, being cancelled in any of
 * them) go at most 512 bytes below the frame that calls them in an
 * optimised build (measured: under 330, a scope's exit and weft_sleep
 * growing the timer heap; tests/test_stack.c checks it on WEFT_STACK_MIN,
 * which gives 1,072 usable bytes), so a task on the minimum stack can
 * yield, sleep and be cancelled with some 500 bytes to spare for its own
 * frames. Reporting misuse formats a log line, which takes some 3 KiB
 * more (vsnprintf): keep tasks that might misuse the API on 4 KiB or more.
 * Where weft's own frames are bigger (sanitizer builds, -O0: 1.1 KiB),
 * stacks below 4 KiB are raised to 4 KiB.
 *
 * Link programs with -Wl,-z,now (weft's pkg-config and CMake flags add
 * it): a program that binds library functions lazily has glibc's resolver
 * run on the stack of the task that first calls a function, and the
 * resolver saves the vector registers there (2.4 KiB with AVX-512), which
 * overran small stacks and, hopping over their canary, the task structure
 * next to them. weft finds out when it starts such a program and raises
 * stacks below what the resolver needs (5 KiB on an AVX-512 machine) to
 * that, saying so once in a log line. */
#define WEFT_STACK_MIN 1024

/* Create a task running fn(arg) on the loop this thread is running, as
 * asyncio.create_task(). It starts at the loop's next opportunity, in the
 * loop's root group: it is cancelled and awaited when the loop closes. If
 * `out` is not NULL the caller receives a reference to the task and must
 * drop it with weft_task_release(); with NULL the task runs detached, and a
 * failure nobody collected is logged. opts may be NULL.
 * Returns 0; -EPERM when no loop is running on this thread; -EINVAL (NULL
 * fn, stack_size below WEFT_STACK_MIN or above 1 GiB, unknown flags);
 * -ENOMEM (no memory or stack). On failure fn never runs. */
WEFT_EXPORT int weft_spawn(weft_task_t **out, weft_task_fn fn, void *arg,
                           const weft_spawn_opts_t *opts);

/* weft_spawn() for a given loop, which need not be running (call it from
 * the loop's thread): how a program starts its first tasks. Errors as
 * weft_spawn(), and -EPERM from another thread, -ESHUTDOWN once the loop
 * is closed. */
WEFT_EXPORT int weft_loop_spawn(weft_loop_t *loop, weft_task_t **out,
                                weft_task_fn fn, void *arg,
                                const weft_spawn_opts_t *opts);

/* The task running now, or NULL in a plain callback or outside a loop.
 * Borrowed: valid while the task runs. */
WEFT_EXPORT weft_task_t *weft_task_current(void);

WEFT_EXPORT weft_task_t *weft_task_ref(weft_task_t *task);
/* Drop a reference. A task keeps running after its last reference is
 * dropped; its memory (including its stack) is freed when it has finished
 * and nobody holds it. NULL is ignored. */
WEFT_EXPORT void weft_task_release(weft_task_t *task);

/* Name and unique (per process) id. The name stays valid while you hold a
 * reference. */
WEFT_EXPORT const char *weft_task_name(const weft_task_t *task);
WEFT_EXPORT uint64_t weft_task_id(const weft_task_t *task);

/* The task as a future (asyncio's Task is a Future): done when the task
 * returns, with status = its return value. Borrowed: valid while you hold
 * the task; take weft_future_ref() to keep it longer. */
WEFT_EXPORT weft_future_t *weft_task_future(weft_task_t *task);

WEFT_EXPORT bool weft_task_done(const weft_task_t *task);
/* True if the task finished with -ECANCELED. */
WEFT_EXPORT bool weft_task_cancelled(const weft_task_t *task);

/* The status of a finished task (its return value); -EAGAIN if it is still
 * running. Collecting it this way (or by joining) marks the result as
 * seen. */
WEFT_EXPORT int weft_task_result(weft_task_t *task);

/* Request cancellation (see above). A task cancelled before it first ran
 * still starts, so it can release what `arg` owns; its first wait returns
 * -ECANCELED. From the loop's thread (-EPERM otherwise). Returns 0,
 * -EALREADY if the task has finished. */
WEFT_EXPORT int weft_task_cancel(weft_task_t *task);

/* weft_task_cancel() with a reason (asyncio's Task.cancel(msg)), so that
 * the task can tell, say, a server shutting down from a client that went
 * away. `msg` is not copied: give a string that outlives the task (a
 * literal). The first reason given is kept; later requests are counted.
 * Returns as weft_task_cancel(). */
WEFT_EXPORT int weft_task_cancel_msg(weft_task_t *task, const char *msg);

/* The reason of the first cancellation request that gave one, or NULL.
 * weft's own requests give theirs: "the loop is closing", "its task group
 * was cancelled", "a task of its group failed", "the task awaiting it was
 * cancelled" / "... timed out" (weft_await, weft_join, weft_wait_for),
 * "another future of its gather failed", "its grace period to stop ended",
 * "a signal asked the program to stop" (WEFT_RUN_SIGNALS). In the task
 * itself: weft_task_cancel_reason(weft_task_current()). */
WEFT_EXPORT const char *weft_task_cancel_reason(const weft_task_t *task);

/* How many times cancellation was requested (asyncio's Task.cancelling()),
 * weft's own requests included; 0 if never. Cancellation is level-
 * triggered in weft, so there is no uncancel: a count above 1 says that
 * more than one party asked. */
WEFT_EXPORT unsigned weft_task_cancelling(const weft_task_t *task);

/* Soft cancellation: ask the task to stop, and cancel it for real after
 * `grace` seconds if it has not finished. Until then the task keeps
 * running; weft_stop_requested() returns true in it, and waits inside a
 * WEFT_SCOPE_STOPPABLE scope return -ECANCELED (use one around idle waits,
 * e.g. a server connection waiting for the next request). grace <= 0 is a
 * plain weft_task_cancel(). Returns 0, -EALREADY, -EINVAL (NaN). */
WEFT_EXPORT int weft_task_cancel_soft(weft_task_t *task, double grace);

/* In a task: true once weft_task_cancel_soft() or weft_task_cancel() was
 * called on it. False outside a task. */
WEFT_EXPORT bool weft_stop_requested(void);

/* In a task: the value its future will carry if it returns a status >= 0,
 * a result of any type (a pointer to what it made: a string, a struct), as
 * a Python coroutine's `return value`. Read it with weft_join_value(),
 * weft_await() or weft_future_result() on weft_task_future(), or from the
 * weft_call_t of weft_gather_calls(). weft does not own it, as with
 * weft_future_set_result(): whoever collects it decides who frees it. If
 * the task returns an error the value is dropped (NULL): set it last, and
 * free what it points to yourself if you fail after all. Each call
 * replaces the value. The int status path costs nothing more. Returns 0,
 * -EPERM outside a task. */
WEFT_EXPORT int weft_task_set_value(void *value);

/* Wait for a task to finish and return its status. If the joining task is
 * cancelled (or a deadline scope expires) while it waits, the joined task
 * is cancelled too and weft_join() returns -ECANCELED (-ETIMEDOUT) once it
 * has finished unwinding, as asyncio's `await task`. Joining yourself is
 * -EDEADLK (logged). Does not drop your reference. */
WEFT_EXPORT int weft_join(weft_task_t *task);

/* weft_join(), storing in *value (if not NULL) the value the task set with
 * weft_task_set_value() when its status is >= 0, NULL otherwise. */
WEFT_EXPORT int weft_join_value(weft_task_t *task, void **value);

/* Suspend the current task for `seconds`. 0 (or less) gives up control:
 * the other ready tasks and callbacks run, then this task continues
 * (asyncio.sleep(0)). Returns 0, -ECANCELED, -ETIMEDOUT (deadline scope),
 * -EINVAL (NaN), -EPERM (not in a task). */
WEFT_EXPORT int weft_sleep(double seconds);

/* weft_sleep(0). */
WEFT_EXPORT int weft_yield(void);

/* ---- stacks -----------------------------------------------------------------
 * Task stacks come from a pool per loop: slots carved from chunks of a few
 * MiB, reused LIFO. A burst of tasks leaves the pool at its peak: when the
 * loop is idle (about to wait) it gives back empty chunks beyond one spare
 * per stack size at once, and what has stayed unused for 10 seconds (the
 * pages of free slots, the spare chunk) after that. */
typedef struct weft_stack_stats {
    size_t slots;    /* stack slots carved (in use or free) */
    size_t in_use;   /* of those, held by tasks not yet freed */
    size_t chunks;   /* mappings the slots are carved from */
    size_t mapped;   /* bytes of address space they take */
    size_t resident; /* bytes of those in memory now (mincore) */
} weft_stack_stats_t;

/* Fill *out with the loop's stack pool sizes. From the loop's thread.
 * Returns 0, -EINVAL (NULL), -EPERM (another thread). */
WEFT_EXPORT int weft_loop_stack_stats(weft_loop_t *loop,
                                      weft_stack_stats_t *out);

/* Give back now what the pool holds beyond the stacks in use: the pages of
 * every free slot and every empty chunk, without waiting for the loop to
 * idle. Stores the bytes given back in *released if it is not NULL.
 * Returns 0, -EINVAL, -EPERM (another thread). */
WEFT_EXPORT int weft_loop_stack_trim(weft_loop_t *loop, size_t *released);

/* Hibernate a parked task (issue 15): the part of its stack in use (a few
 * hundred bytes for a task parked in a read) is copied to the heap and
 * every page of its stack is given back to the kernel (MADV_DONTNEED).
 * Before anything reaches into its stack again (its wait completes, it is
 * cancelled, a deadline of its scopes passes, its fd has events) weft puts
 * the bytes back at the same addresses, so pointers into the stack stay
 * valid and the task goes on as if nothing happened. A parked task then
 * costs its task structure (512 bytes) and the copy instead of the pages
 * its stack touched (4 KiB at least). Waking costs the page faults of the
 * pages put back and the copy (bench/parked; docs/design.md, "Idle
 * connections"). It hibernates once: its next wait keeps its pages unless
 * asked again.
 *
 * weft decides when only for its own waits: the HTTP server hibernates a
 * keep-alive connection's task after 2 s idle, a WebSocket's receiving
 * task does with WEFT_WS_HIBERNATE (weft/ws.h). The caller must know that
 * no other task or callback reads or writes the task's locals while it
 * sleeps (they would read zeros, and their writes would be lost on wake):
 * weft's own references into a stack are handled, the program's are not.
 *
 * Only waits whose records nothing else walks can hibernate: weft_sleep,
 * and a wait for an fd (a stream's read, drain and the like) that no
 * other hibernated task waits for; not a task that has task groups open
 * (their children write to them). Stacks of 16 KiB and more (the default
 * 64 KiB) can hibernate; smaller ones share pages with their neighbours.
 * Guard pages stay; the canary of the stack above (which lives at the top
 * of this one) reads zero while it sleeps, and waking checks that nothing
 * else was written there.
 *
 * From the loop's thread (a callback or another task). Returns 0, -EINVAL
 * (NULL), -EPERM (another thread), -EBUSY (the task is not parked: running,
 * ready, not started or finished; or parked in a wait that cannot
 * hibernate, or with groups open), -EALREADY (it hibernates), -ENOTSUP (a
 * stack below 16 KiB, or a ucontext build on a target where weft cannot
 * read the saved stack pointer), -ENOMEM. */
WEFT_EXPORT int weft_task_hibernate(weft_task_t *task);

/* ---- deadline and cancel scopes ----------------------------------------
 * A scope is caller-allocated storage (usually a local of the task) that
 * must stay in place from enter to exit. Scopes nest; exit them in reverse
 * order of entry, in the task that entered them. */
typedef struct weft_scope {
    uint64_t private_[12];
} weft_scope_t;

enum {
    /* Waits inside ignore cancellation of the task and the expiry of outer
     * scopes (the scope's own deadline still applies): for clean-up that
     * must wait, like asyncio.shield or Trio's shield=True. Exception: a
     * loop that closes (weft_loop_close, the end of weft_run) ends, with a
     * warning, shielded waits that nothing can complete any more. */
    WEFT_SCOPE_SHIELD = 1u << 0,
    /* Waits inside also end with -ECANCELED when a soft cancellation
     * (weft_task_cancel_soft) is requested. */
    WEFT_SCOPE_STOPPABLE = 1u << 1,
};

/* Enter a scope whose deadline is `timeout` seconds from now
 * (asyncio.timeout(delay)). A negative timeout counts as 0 (expired at
 * once); INFINITY means no deadline (a plain shield or stoppable scope).
 * Returns 0, -EPERM outside a task, -EINVAL (NaN, NULL; a scope this task
 * has open already: logged), -ENOMEM (no memory for the deadline's
 * timer). On error the scope is not entered. A scope
 * another task has open must not be entered (it is that task's). */
WEFT_EXPORT int weft_scope_enter(weft_scope_t *scope, double timeout,
                                 unsigned flags);

/* The same with an absolute deadline in loop time (asyncio.timeout_at). */
WEFT_EXPORT int weft_scope_enter_at(weft_scope_t *scope, double deadline,
                                    unsigned flags);

/* Move the deadline to `deadline`, an absolute loop time as in
 * weft_scope_enter_at() (asyncio's Timeout.reschedule); INFINITY removes
 * it. An already expired scope stays expired (and 0 is returned). Returns
 * 0, -EINVAL (NaN, a scope that is not open), -ENOMEM (no memory for the
 * timer: the old deadline stays). */
WEFT_EXPORT int weft_scope_reschedule(weft_scope_t *scope, double deadline);

/* True once the scope's deadline has passed (Trio's cancel_called). */
WEFT_EXPORT bool weft_scope_expired(const weft_scope_t *scope);

/* The scope's deadline in loop time (asyncio's Timeout.when()), as last
 * set by enter or reschedule; INFINITY for none (a plain shield, a group).
 * Readable after exit too. NAN for NULL or a scope never entered. */
WEFT_EXPORT double weft_scope_deadline(const weft_scope_t *scope);

/* Leave the scope. Returns -ETIMEDOUT if its deadline cut short a wait
 * inside it (fail_after; ignore the value for move_on_after), else 0; if
 * the deadline cut a wait and the task has been cancelled since, it
 * returns -ECANCELED (a cancel is never turned into a timeout); if an outer
 * scope has expired by then, the timeout is that scope's and this exit
 * returns 0 (see "Who owns an interruption" above; a shielded scope keeps
 * its own timeout either way). Exiting a
 * scope that is not the innermost one of this task is misuse: logged,
 * -EINVAL, and the scope is removed anyway. -EINVAL (logged, nothing done)
 * for a scope not open in this task or a group (use weft_group_exit);
 * -EPERM outside a task. */
WEFT_EXPORT int weft_scope_exit(weft_scope_t *scope);

/* ---- task groups (asyncio.TaskGroup, Trio nursery) ----------------------
 * enter; spawn children; exit waits for all of them. The first child that
 * fails (returns < 0, other than -ECANCELED) cancels its siblings and the
 * waits of the group's owner between enter and exit (which return
 * -ECANCELED), and exit returns that error. If the owner is cancelled or an
 * outer deadline expires, exit cancels the children, waits for them, and
 * returns -ECANCELED / -ETIMEDOUT: also when it happens while the children
 * of a group that was already being cancelled unwind (the outer scope owns
 * the timeout, and its exit reports it). Storage is caller-allocated, like
 * a scope, and a group is a scope: exit it in order with the others. */
typedef struct weft_group {
    uint64_t private_[24];
} weft_group_t;

/* Open a group owned by the current task. Returns 0, -EPERM, -EINVAL (NULL;
 * a group this task has open already: logged, and it is left as it was). */
WEFT_EXPORT int weft_group_enter(weft_group_t *group);

/* Spawn a child into an open group (from the loop's thread: any task of
 * the loop, including children, or a callback). Children of a group that
 * is being cancelled start cancelled. `out` and opts as weft_spawn().
 * Returns 0, -EINVAL (group not open: logged; or as weft_spawn()),
 * -ENOMEM, -EPERM (foreign thread). */
WEFT_EXPORT int weft_group_spawn(weft_group_t *group, weft_task_t **out,
                                 weft_task_fn fn, void *arg,
                                 const weft_spawn_opts_t *opts);

/* Cancel every child and the owner's waits inside the group. Returns 0,
 * -EINVAL (logged) for a group that is not open (never entered, or exited:
 * its owner may be gone), -EPERM from another thread. */
WEFT_EXPORT int weft_group_cancel(weft_group_t *group);

/* Number of children still running. */
WEFT_EXPORT size_t weft_group_size(const weft_group_t *group);

/* Wait for all children (also those spawned meanwhile) and close the group.
 * Returns 0, the first child error, -ECANCELED, -ETIMEDOUT, or -EINVAL /
 * -EPERM on misuse (not the owner; not the innermost scope). */
WEFT_EXPORT int weft_group_exit(weft_group_t *group);

/* ---- gather and wait_for ----------------------------------------------- */
enum {
    /* Wait for every future and return 0; read each outcome with
     * weft_future_result() (asyncio's return_exceptions=True). */
    WEFT_GATHER_ALL = 1u << 0,
};

/* Wait for n futures (task futures included: weft_task_future()). By
 * default the first one to fail (status < 0) cancels the others; gather
 * waits until they have all finished and returns that error, or 0 when all
 * succeeded. With WEFT_GATHER_ALL it never cancels and returns 0. If the
 * gathering task is cancelled or its deadline expires, every pending future
 * is cancelled and awaited, then -ECANCELED / -ETIMEDOUT is returned.
 * Results stay in the futures, in your order. Returns -ENOMEM before
 * anything happens if it cannot allocate its n bookkeeping slots (no future
 * was touched; a child's own -ENOMEM comes with that future done), and
 * -EINVAL / -EPERM / -EDEADLK (logged) for misuse, likewise before
 * anything. */
WEFT_EXPORT int weft_gather(weft_future_t *const *futures, size_t n,
                            unsigned flags);

/* One function to run for weft_gather_calls(): fn and arg in, its
 * outcome out. */
typedef struct weft_call {
    weft_task_fn fn; /* in: the task's function */
    void *arg;       /* in: its argument */
    int status;      /* out: its status (return value or error) */
    void *value;     /* out: its weft_task_set_value() value, or NULL */
} weft_call_t;

/* asyncio.gather(f(a), g(b), ...) in one call: run calls[i].fn(arg) as n
 * tasks of this loop (spawned with opts; NULL: the loop's defaults),
 * gather them as weft_gather() does with `flags` (by default the first
 * failure cancels the others; WEFT_GATHER_ALL waits for every outcome),
 * store each task's status and value in calls[i], and release the tasks.
 * Returns gather's result: 0, the first error, or -ECANCELED / -ETIMEDOUT
 * when the calling task was cancelled or its deadline passed (the tasks
 * were cancelled and have finished; their outcomes are stored). If not all
 * tasks could be started (-ENOMEM, or -EINVAL from the spawn options),
 * those started are cancelled and awaited, the others get that error as
 * status, and it is returned. -EINVAL (logged for a call without a
 * function) and -EPERM before anything runs. */
WEFT_EXPORT int weft_gather_calls(weft_call_t *calls, size_t n,
                                  unsigned flags,
                                  const weft_spawn_opts_t *opts);

/* Await a future for at most `timeout` seconds (asyncio.wait_for). On
 * timeout the future is cancelled and, if it is a task, awaited until it has
 * finished unwinding; then -ETIMEDOUT is returned, unless the task finished
 * with a result or an error of its own regardless, which is returned
 * instead. If the waiting task is cancelled, the same clean-up happens and
 * -ECANCELED is returned, even when the timeout fired at the same moment.
 * INFINITY waits without limit; with 0 or less a future that is not done
 * yet is cancelled at once, as on a timeout. value as weft_await().
 * Misuse as weft_await() (-EPERM outside a task, -EINVAL for NULL or a
 * future of another loop, -EDEADLK for the task's own future), and
 * -EINVAL for a NaN timeout. */
WEFT_EXPORT int weft_wait_for(weft_future_t *future, double timeout,
                              void **value);

/* ---- wait and as_completed --------------------------------------------------
 * Watch futures without owning their outcome (asyncio.wait, as_completed):
 * nothing here cancels them. A timeout, a deadline scope that expires or
 * the cancellation of the waiting task ends the wait only; the futures go
 * on, to be awaited, gathered, cancelled or watched again. */

/* weft_wait's return_when (asyncio's constants). */
enum {
    WEFT_ALL_COMPLETED = 0,   /* every future is done */
    WEFT_FIRST_COMPLETED = 1, /* any future is done */
    /* any future failed (a status < 0 other than -ECANCELED, as asyncio
     * counts an exception but not a cancellation), or all are done */
    WEFT_FIRST_EXCEPTION = 2,
};

/* Wait until the condition return_when names holds for the n futures, or
 * `timeout` seconds have passed (INFINITY: no limit; 0 or less: look
 * without waiting). A condition that holds already returns at once,
 * without suspending. Returns the number of futures that are done (>= 1
 * when the condition holds; any number, 0 included, after the timeout):
 * see which with weft_future_done() and read them with
 * weft_future_result(). Returns -ECANCELED (the waiting task cancelled),
 * -ETIMEDOUT (a deadline scope around the call expired: an outer timeout,
 * not `timeout`), -ENOMEM, -EPERM outside a task, -EINVAL (no futures,
 * NULL ones, one of another loop, an unknown return_when, NaN: logged),
 * -EDEADLK (the task's own future: logged). */
WEFT_EXPORT int weft_wait(weft_future_t *const *futures, size_t n,
                          int return_when, double timeout);

/* asyncio.as_completed: the futures in the order they finish. */
typedef struct weft_as_completed weft_as_completed_t;

/* Start watching n futures (references are taken: the array may go), for
 * at most `timeout` seconds from now (INFINITY: no limit). From the loop's
 * thread, in a task or not. Returns 0, -EPERM (no loop running on this
 * thread), -EINVAL (NULL, a future of another loop, NaN), -EDEADLK (the
 * calling task's own future), -ENOMEM; misuse is logged. */
WEFT_EXPORT int weft_as_completed_new(weft_as_completed_t **out,
                                      weft_future_t *const *futures, size_t n,
                                      double timeout);

/* Wait for the next future to finish, in the order they do (those done
 * already first, in your order), and store its index in *index. Returns 1
 * for a future, 0 once all n have been returned, -ETIMEDOUT once the
 * timeout has passed (and on each later call; futures that finished by the
 * time of a call are still returned first), -ECANCELED (the waiting task
 * cancelled: nothing is taken), an outer deadline's -ETIMEDOUT, -EPERM
 * outside a task, -EINVAL, -EBUSY (another task waits on it; logged). */
WEFT_EXPORT int weft_as_completed_next(weft_as_completed_t *ac,
                                       size_t *index);

/* Stop watching and drop the references; the futures go on. NULL is
 * ignored. Not while a task waits in weft_as_completed_next (logged). */
WEFT_EXPORT void weft_as_completed_free(weft_as_completed_t *ac);

/* ---- weft_run: asyncio.run ------------------------------------------------
 * Create a loop, run main(arg) as a task until it returns, cancel and await
 * every task still alive, close and free the loop; return main's status (or
 * a negative errno if the loop could not be made). Must not be called while
 * this thread runs a loop (-EBUSY). */

/* weft_run_opts_t.flags */
enum {
    /* Graceful shutdown on SIGINT and SIGTERM (weft/signal.h). The first
     * such signal asks the main task to stop: with grace > 0 a soft
     * cancellation (weft_task_cancel_soft: weft_stop_requested() becomes
     * true, waits inside WEFT_SCOPE_STOPPABLE scopes end, and the hard
     * cancel follows after `grace` seconds), with grace 0 a cancellation.
     * A second signal cancels at once. After a cancellation weft no longer
     * catches the two signals: one more ends the process as it would
     * without weft (Ctrl-C twice, or three times with a grace period,
     * always stops the program). The signals are caught from before main
     * starts until it returns; the tasks still alive then are cancelled
     * with the signals back at their usual disposition.
     *
     * weft_run returns main's status as always: main decides whether the
     * shutdown went well. If it did (main returned >= 0), exit with 0: a
     * requested stop is the program's normal end (systemd, for one, counts
     * a stop by SIGTERM as success either way). To tell a shell the program
     * was interrupted, exit with 128 + the signal (130 for SIGINT), or
     * restore the default disposition and raise the signal again. */
    WEFT_RUN_SIGNALS = 1u << 0,
};

/* Zero-initialise it (`weft_run_opts_t o = {0};` or memset): fields added
 * later keep their old behaviour at zero. */
typedef struct weft_run_opts {
    weft_loop_opts_t loop;  /* options of the new loop */
    weft_spawn_opts_t main; /* options of the main task */
    unsigned flags;         /* WEFT_RUN_* */
    double grace;           /* WEFT_RUN_SIGNALS: seconds of soft
                               cancellation before the hard one; 0: cancel
                               at once */
    int *stop_signal;       /* if not NULL: set to 0 at the start, then to
                               the signal that started a shutdown (written
                               on the loop thread before main is
                               cancelled, so main may read it too) */
} weft_run_opts_t;

WEFT_EXPORT int weft_run(weft_task_fn main, void *arg);
/* weft_run() with options (NULL: the defaults). Returns -EINVAL for unknown
 * flags or a NaN grace, and with WEFT_RUN_SIGNALS the errors of
 * weft_signal_add() (before main runs). */
WEFT_EXPORT int weft_run_opts(weft_task_fn main, void *arg,
                              const weft_run_opts_t *opts);

#ifdef __cplusplus
}
#endif
#endif
