/* weft/exec.h - the executor: run blocking functions on a thread pool
 * (asyncio's loop.run_in_executor() and asyncio.to_thread()).
 *
 * A job is a function `int fn(void *arg, void **value)` that runs on a
 * worker thread of a pool. It returns a status, as a task does: >= 0 for
 * success, with a result in *value (*value is NULL when fn is called), or
 * a negative errno for failure (then *value is ignored). Blocking C code
 * fails often, and an error code travels better than a NULL value.
 *
 * Pools. Each loop has a default pool, made at its first use, with one
 * thread per CPU this process may run on (asyncio's default executor is
 * also sized by the CPU count); weft_loop_set_default_pool() replaces it.
 * The loop's close waits for the jobs it submitted and then shuts its
 * default pool down and joins its threads, so no worker outlives
 * weft_run(). Users may also create pools (weft_pool_new()) and pass them
 * explicitly, as asyncio takes an Executor argument; such a pool may serve
 * several loops, and plain threads too (weft_pool_submit()). Worker
 * threads are started as jobs arrive, up to the pool's size, and are named
 * "<name>-<n>"; every asynchronous signal is blocked in them, so SIGINT and
 * the like go to the program's other threads. Jobs start in the order they
 * were queued.
 *
 * Results come back on the loop thread. weft_run_in_executor() returns a
 * future of the submitting loop; the worker hands the outcome to that loop
 * (one wake-up for a burst of completions), which completes the future.
 *
 * Cancellation. C threads cannot be killed or interrupted, so cancelling a
 * job means: a job that has not started is removed from its queue and
 * never runs; a job whose function is running keeps running, and its
 * future reports -ECANCELED once the function has returned (its status and
 * value are discarded; opts.discard can free the value). Until then the
 * future stays pending, so when an executor future is done, its function
 * is finished and will never run again: `arg` is its owner's once more.
 * Awaiting tasks therefore stay with a running function they gave up on
 * (Trio's default for to_thread, not asyncio's, which returns at once and
 * leaves the thread running with `arg`): weft_to_thread(fn, &local, ...)
 * is safe even when the task is cancelled. A function that polls
 * weft_job_cancelled() can stop early instead.
 *
 * Threads. weft_run_in_executor(), weft_to_thread() and the functions that
 * touch a loop are called on that loop's thread. The pool functions
 * (weft_pool_new, _submit, _shutdown, _free) may be called from any
 * thread. A plain thread that wants work done uses weft_pool_submit()
 * (fire and forget, with a done function), or asks the loop thread with
 * weft_call_soon_threadsafe(). Memory shared between threads (pools, the
 * records of weft_pool_submit, the completions workers post to a loop)
 * comes from the C library's malloc: weft_replace_allocator()'s hooks are
 * never called on worker threads (weft/core.h says which threads call
 * them).
 */
#ifndef WEFT_EXEC_H
#define WEFT_EXEC_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_pool weft_pool_t;

/* A job: runs on a worker thread. Return >= 0 and set *value (optional;
 * NULL on entry) for a result, or a negative errno. It must not call
 * weft functions that need a loop thread; weft_call_soon_threadsafe(),
 * weft_pool_submit() and weft_job_cancelled() are fine. */
typedef int (*weft_job_fn)(void *arg, void **value);

/* Receives the outcome of a job that nobody else will see: the done
 * function of weft_pool_submit(), and opts.discard. `status` and `value`
 * are what the job's function returned, or -ECANCELED and NULL for a job
 * that was removed before it ran. */
typedef void (*weft_job_done_fn)(void *arg, int status, void *value);

/* ---- pools ---------------------------------------------------------------- */

typedef struct weft_pool_opts {
    /* Worker threads, at most; 0: one per CPU this process may run on
     * (sched_getaffinity, as nproc counts; sysconf's online CPUs if that
     * fails). At most WEFT_POOL_MAX_THREADS. */
    unsigned threads;
    /* Jobs waiting for a thread, at most; beyond it submitting fails with
     * -EAGAIN. 0: no limit. Running jobs do not count. */
    size_t max_queued;
    /* Thread name prefix, copied (up to 10 bytes); NULL: "weft-exec".
     * Threads are named "<name>-<n>", n from 0 (see pthread_setname_np). */
    const char *name;
} weft_pool_opts_t;

#define WEFT_POOL_MAX_THREADS 1024

/* Create a pool. opts may be NULL. No thread starts until the first job
 * arrives. Any thread may call it; the caller owns the pool and gives it
 * back with weft_pool_free(). Returns 0, -EINVAL (bad options, out NULL),
 * -ENOMEM. */
WEFT_EXPORT int weft_pool_new(weft_pool_t **out, const weft_pool_opts_t *opts);

/* Shutdown flags. */
enum {
    /* Drop the jobs still queued: they never run, and complete with
     * -ECANCELED (their futures are cancelled; weft_pool_submit()'s done
     * functions are called with -ECANCELED, on the calling thread, before
     * weft_pool_shutdown() returns). Running functions are not stopped,
     * but weft_job_cancelled() returns true in them from now on. Without
     * it, every queued job still runs (concurrent.futures' default). */
    WEFT_POOL_CANCEL_QUEUED = 1u << 0,
};

/* Stop the pool: refuse new jobs (-ESHUTDOWN), let the queued ones run
 * (or drop them, WEFT_POOL_CANCEL_QUEUED), wait until every worker has
 * finished its job and exited, and join the threads. Any thread may call
 * it, any number of times; every call returns once the threads are gone.
 *
 * It waits. From a plain thread (including a loop thread outside a task,
 * e.g. in a callback) it blocks; completions of jobs submitted from that
 * loop still queue up meanwhile and are delivered when the loop runs
 * again. From a task it parks the task instead, so the loop keeps running;
 * the wait cannot be interrupted (a cancel or deadline shows at the next
 * wait). Returns 0, -EINVAL (NULL pool, unknown flags), -EDEADLK when
 * called from one of the pool's own jobs (it would wait for itself). */
WEFT_EXPORT int weft_pool_shutdown(weft_pool_t *pool, unsigned flags);

/* Shut the pool down if it is not yet (weft_pool_shutdown(pool, 0): the
 * queued jobs still run, waiting as described there) and release it.
 * Futures of jobs that ran on it stay valid; its memory goes when the last
 * of them has been delivered. From one of the pool's own jobs it is
 * refused (logged). NULL is ignored. The loop's default pool belongs to
 * the loop: never free it. */
WEFT_EXPORT void weft_pool_free(weft_pool_t *pool);

/* The pool's maximum number of threads. */
WEFT_EXPORT unsigned weft_pool_size(const weft_pool_t *pool);

/* Fire and forget, from any thread: queue fn(arg) on the pool; when it has
 * returned, done(arg, status, value) is called on the same worker thread
 * (done may be NULL). If the job is dropped by weft_pool_shutdown(pool,
 * WEFT_POOL_CANCEL_QUEUED), done(arg, -ECANCELED, NULL) is called on the
 * thread that shut the pool down; so done runs exactly once for every job
 * accepted, and may free arg. Returns 0; -EINVAL (NULL pool or fn);
 * -ESHUTDOWN (the pool is shut down); -EAGAIN (the queue is full, or no
 * worker thread could be started); -ENOMEM. On failure neither fn nor done
 * is called. */
WEFT_EXPORT int weft_pool_submit(weft_pool_t *pool, weft_job_fn fn, void *arg,
                                 weft_job_done_fn done);

/* In a job's function: true once the job's future has been cancelled (or
 * its pool shut down with WEFT_POOL_CANCEL_QUEUED), so a long function can
 * stop early (return -ECANCELED, say). False outside a job. */
WEFT_EXPORT bool weft_job_cancelled(void);

/* ---- the loop's default pool --------------------------------------------- */

/* The loop's default pool, created now if it does not exist yet (with the
 * default options). Borrowed: it belongs to the loop, which shuts it down
 * and frees it when it closes; use it with weft_pool_submit() or as an
 * explicit pool, and never free it. Loop thread only. Returns 0,
 * -EINVAL, -EPERM (foreign thread), -ESHUTDOWN (closed loop), -ENOMEM. */
WEFT_EXPORT int weft_loop_default_pool(weft_loop_t *loop, weft_pool_t **out);

/* Give the loop a default pool of your choosing (to size it, say), before
 * its first use of one (asyncio's set_default_executor). The loop takes
 * ownership: it shuts the pool down and frees it when it closes, so do not
 * make a pool that other loops use a default. Returns 0; -EBUSY if the
 * loop already has a default pool, or the pool is another loop's default
 * (nothing changes: the pool is still yours); -EINVAL; -EPERM;
 * -ESHUTDOWN (closed loop, or a pool that is shut down). */
WEFT_EXPORT int weft_loop_set_default_pool(weft_loop_t *loop,
                                           weft_pool_t *pool);

/* ---- running jobs for a loop ------------------------------------------- */

typedef struct weft_job_opts {
    /* The pool to run on; NULL: the loop's default pool. */
    weft_pool_t *pool;
    /* Called on the loop thread with the outcome of a job whose function
     * ran but whose outcome nobody can read: its future had been
     * cancelled, or run_in_executor was given no `out`. Free what value
     * owns here. Not called for jobs removed before they ran. NULL:
     * outcomes nobody reads are dropped. */
    weft_job_done_fn discard;
} weft_job_opts_t;

/* asyncio's loop.run_in_executor(pool, fn, arg): queue fn(arg) on the pool
 * (NULL: the loop's default pool) and return a future of `loop` that
 * completes, on the loop thread, with fn's status and value (read them
 * with weft_future_result() or weft_await()). Call it on the loop's
 * thread; from a task or a callback, or before the loop runs.
 *
 * The caller receives one reference to the future in *out and drops it
 * with weft_future_release(); the job holds its own until its outcome has
 * been delivered. With out NULL the job runs detached and its outcome is
 * dropped. The executor does not own `arg`; keep it valid until the future
 * is done (then fn has returned, or will never run).
 *
 * Cancelling the future (weft_future_cancel(), or a task or deadline that
 * interrupts weft_await() on it) removes a job that has not started: the
 * future is cancelled at once. If fn is running, the future completes with
 * -ECANCELED when fn returns (see above). When the loop closes, it waits
 * for every job it submitted, queued ones included (they still run, as
 * asyncio's shutdown of the default executor lets them), and delivers
 * their outcomes; futures you hold stay readable.
 *
 * Returns 0; -EINVAL (NULL loop or fn); -EPERM (foreign thread);
 * -ESHUTDOWN (the loop or the pool is closed); -EAGAIN (the pool's queue
 * is full, or no worker thread could be started); -ENOMEM. On failure *out
 * is NULL and fn never runs. */
WEFT_EXPORT int weft_run_in_executor(weft_loop_t *loop, weft_pool_t *pool,
                                     weft_job_fn fn, void *arg,
                                     weft_future_t **out);

/* The same with options (opts may be NULL). */
WEFT_EXPORT int weft_run_in_executor_opts(weft_loop_t *loop, weft_job_fn fn,
                                          void *arg,
                                          const weft_job_opts_t *opts,
                                          weft_future_t **out);

/* asyncio.to_thread(fn, arg), from a task: run fn(arg) on the default pool
 * of the task's loop, wait for it, and return its status, with its value
 * in *value (if value is not NULL; NULL for errors).
 *
 * If the task is cancelled, or a deadline scope around the call expires,
 * while it waits: a job still queued is removed and -ECANCELED
 * (-ETIMEDOUT) is returned at once; a running one is waited for until fn
 * returns, then -ECANCELED (-ETIMEDOUT) is returned and fn's value goes to
 * opts.discard (to_thread_opts) or is dropped. Either way fn is not
 * running any more when this returns, so `arg` may live on the task's
 * stack.
 *
 * Returns fn's status, or -ECANCELED, -ETIMEDOUT, and the errors of
 * weft_run_in_executor(); -EPERM outside a task. */
WEFT_EXPORT int weft_to_thread(weft_job_fn fn, void *arg, void **value);

/* weft_to_thread() with options: opts->pool names another pool than the
 * default one. opts may be NULL. */
WEFT_EXPORT int weft_to_thread_opts(weft_job_fn fn, void *arg,
                                    const weft_job_opts_t *opts,
                                    void **value);

#ifdef __cplusplus
}
#endif
#endif
