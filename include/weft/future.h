/* weft/future.h - futures: a result that will exist later.
 *
 * A future is pending until it is completed once, with a value
 * (weft_future_set_result), an error (weft_future_set_error) or by
 * cancellation (weft_future_cancel). Its status is then >= 0 for a result
 * (0 for set_result; a task's non-negative return value), or a negative
 * errno. Done-callbacks are scheduled with call_soon when it completes, as
 * in asyncio; tasks awaiting it are woken.
 *
 * Ownership: futures are reference counted. weft_future_new() gives the
 * caller one reference; weft_future_release() drops one. The loop holds its
 * own references while callbacks are scheduled or tasks wait, so releasing
 * early is safe. All calls must be made on the loop's thread; from other
 * threads use weft_future_set_result_threadsafe(). Release futures before
 * freeing their loop.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called on the loop thread once the future is done. */
typedef void (*weft_done_fn)(weft_future_t *future, void *arg);

/* Create a pending future bound to `loop`, from the loop's thread (in a
 * task or not). Returns 0 and stores it in *out, or -EINVAL / -ENOMEM /
 * -ESHUTDOWN (closed loop) / -EPERM (foreign thread). */
WEFT_EXPORT int weft_future_new(weft_loop_t *loop, weft_future_t **out);

/* Take another reference; returns `future`. */
WEFT_EXPORT weft_future_t *weft_future_ref(weft_future_t *future);

/* Drop a reference; the last one frees the future. NULL is ignored. */
WEFT_EXPORT void weft_future_release(weft_future_t *future);

WEFT_EXPORT weft_loop_t *weft_future_loop(const weft_future_t *future);
WEFT_EXPORT bool weft_future_done(const weft_future_t *future);
WEFT_EXPORT bool weft_future_cancelled(const weft_future_t *future);

/* The outcome of a done future: its status (>= 0 for a result, the error,
 * or -ECANCELED), with the value stored in *value when value is not NULL
 * (NULL for errors). Returns -EAGAIN if the future is still pending
 * (asyncio's InvalidStateError). */
WEFT_EXPORT int weft_future_result(const weft_future_t *future, void **value);

/* Complete with a value. The future does not own `value`. Returns 0;
 * -ECANCELED if the future was cancelled meanwhile (the consumer gave up:
 * the caller keeps ownership of whatever value points to); -EINVAL if it
 * was already completed (a double completion: logged), or is a task's
 * or an executor job's future (their owners complete them: logged), or
 * is NULL; -EPERM from a foreign thread. */
WEFT_EXPORT int weft_future_set_result(weft_future_t *future, void *value);

/* Complete with an error, a negative errno (-EINVAL if err >= 0). Same
 * returns as weft_future_set_result(). */
WEFT_EXPORT int weft_future_set_error(weft_future_t *future, int err);

/* weft_future_set_result() from any thread: the completion happens on the
 * loop thread, soon. Reference counts are not atomic, so a foreign thread
 * cannot take a reference itself: take one for it with weft_future_ref()
 * on the loop thread and hand it over; this call consumes it (the loop
 * thread drops it after completing the future). Returns 0; on -ENOMEM or
 * -ESHUTDOWN (loop closed) nothing happened and the reference is still the
 * caller's, to be handed back to the loop thread or leaked; -EINVAL for
 * NULL or for a future that is not the caller's to complete (a task's or
 * an executor job's: only weft_future_new() futures). If the future was
 * already done by then, the value is dropped silently. */
WEFT_EXPORT int weft_future_set_result_threadsafe(weft_future_t *future,
                                                  void *value);

/* Cancel a pending future: it becomes done with status -ECANCELED and its
 * callbacks and waiters run. Returns 0, or -EALREADY if it was already done.
 * Cancelling a task's future cancels the task (see weft_task_cancel()), and
 * cancelling an executor job's future cancels the job (see
 * weft_run_in_executor()): both become done once that has taken effect. */
WEFT_EXPORT int weft_future_cancel(weft_future_t *future);

/* Call fn(future, arg) on the loop thread once the future is done: via
 * call_soon, after completion; if it is already done, scheduled now.
 * Callbacks run in the order they were added. A callback still scheduled
 * when the loop closes is dropped without being called (see
 * weft_loop_close()), so `arg` must not depend on it to be freed then.
 * Returns 0, -ENOMEM, -EINVAL (NULL future or fn), -EPERM (foreign
 * thread). */
WEFT_EXPORT int weft_future_add_done_callback(weft_future_t *future,
                                              weft_done_fn fn, void *arg);

/* Remove every not-yet-scheduled callback equal to (fn, arg). Returns the
 * number removed (0 if none, and from a foreign thread, which is logged). */
WEFT_EXPORT int weft_future_remove_done_callback(weft_future_t *future,
                                                 weft_done_fn fn, void *arg);

/* From a task: wait until the future is done and return its status (as
 * weft_future_result()), storing its value in *value if value is not NULL.
 *
 * If the waiting task is cancelled, or a deadline scope around the wait
 * expires, the awaited future is cancelled too (as in asyncio); when it is
 * a task, weft_await() waits until that task has finished unwinding, and
 * when it is an executor job whose function is running, until the function
 * has returned (exec.h); then it returns -ECANCELED (or -ETIMEDOUT for a
 * deadline). Returns -EPERM outside a task, -EINVAL for NULL or a future
 * of another loop (logged), -EDEADLK for the awaiting task's own future
 * (logged).
 * *value is NULL unless the status is >= 0. */
WEFT_EXPORT int weft_await(weft_future_t *future, void **value);

/* asyncio.shield: a new future (the shield) that completes as `future`
 * does, with its status and value, but whose cancellation leaves `future`
 * alone. Await the shield, or give it to weft_wait_for or weft_gather: if
 * the waiting task is cancelled or its deadline passes, the shield is
 * cancelled and `future` (a task, say) carries on; its outcome stays
 * readable in `future`. The shield holds a reference to `future`; the
 * caller owns the shield (weft_future_release). Its outcome cannot be set
 * by hand (weft_future_set_result: -EINVAL). Returns 0, -EINVAL (NULL),
 * -ENOMEM, -ESHUTDOWN (closed loop), -EPERM (foreign thread). */
WEFT_EXPORT int weft_shield(weft_future_t *future, weft_future_t **out);

#ifdef __cplusplus
}
#endif
#endif
