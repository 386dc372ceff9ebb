/* weft/loop.h - the event loop: asyncio's loop API in C.
 *
 * A loop belongs to the thread that created it. Every function here must be
 * called from that thread, except weft_call_soon_threadsafe(), which any
 * thread may call; a call from another thread is reported (logged) and
 * fails with -EPERM.
 *
 * Time is the loop's monotonic clock in seconds (double), as asyncio's
 * loop.time(). The loop reads the clock once per iteration and caches it,
 * so weft_loop_time() and the base of weft_call_later() are the start of the
 * current iteration (call weft_loop_update_time() after long work).
 */
#ifndef WEFT_LOOP_H
#define WEFT_LOOP_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_loop weft_loop_t;
typedef struct weft_future weft_future_t;

/* A plain callback, run by the loop on its thread. */
typedef void (*weft_callback_fn)(void *arg);

/* Names one scheduled callback so it can be cancelled. A value type: copy
 * it freely. A handle whose callback has run or been cancelled is stale, and
 * a stale handle is recognised as such (it never cancels another call). The
 * zero value never names anything. */
typedef struct weft_handle {
    uint64_t id;
} weft_handle_t;

/* Loop flags. */
enum {
    /* Virtual clock (Trio's MockClock with autojump): time starts at 0 and
     * only moves when every task and callback is waiting; it then jumps to
     * the next timer at once. Tests of timeouts become instant and
     * deterministic. Real I/O still works, but a wait for I/O that is not
     * already possible no longer holds time back: when tasks wait for I/O
     * and nothing else can run, the loop waits up to 20 ms of real time
     * for it (loopback bytes can lag their write under load), then
     * jumps. */
    WEFT_LOOP_VIRTUAL_CLOCK = 1u << 0,
    /* Debug mode (asyncio's debug mode; weft/debug.h): a warning names
     * each task step or callback that holds the loop longer than 0.1 s
     * (weft_loop_set_slow_step) and where the task was spawned, messages
     * about tasks name their spawn site, and the loop measures its time in
     * the poller and how late timers fire. Also on for every new loop when
     * the environment has WEFT_DEBUG set to anything but "" or "0".
     * Without it none of this costs anything. */
    WEFT_LOOP_DEBUG = 1u << 1,
};

typedef struct weft_loop_opts {
    unsigned flags;    /* WEFT_LOOP_* */
    size_t stack_size; /* default stack of this loop's tasks, bytes; 0: 64 KiB */
} weft_loop_opts_t;

/* Create a loop owned by the calling thread. opts may be NULL.
 * On success stores it in *out and returns 0; the caller frees it with
 * weft_loop_free(). Errors: -EINVAL (out is NULL, unknown flags, a
 * stack_size below 1 KiB or above 1 GiB), -ENOMEM,
 * -EMFILE/-ENFILE (epoll or eventfd could not be created). */
WEFT_EXPORT int weft_loop_new(weft_loop_t **out, const weft_loop_opts_t *opts);

/* Run until weft_loop_stop() is called. Returns 0 after a stop, -EBUSY if
 * this thread is already running a loop (a loop cannot be run from inside
 * its own callbacks or tasks), -EPERM from a foreign thread, -ESHUTDOWN if
 * the loop is closed. If stop() was called before, runs one iteration. */
WEFT_EXPORT int weft_loop_run_forever(weft_loop_t *loop);

/* Run until the future is done, then return its status: the value given to
 * weft_future_set_error(), -ECANCELED if it was cancelled, or >= 0 (read the
 * value with weft_future_result()). Returns -EINTR if weft_loop_stop() ended
 * the run first, and the errors of weft_loop_run_forever(). The future must
 * belong to this loop (-EINVAL otherwise). */
WEFT_EXPORT int weft_loop_run_until_complete(weft_loop_t *loop,
                                             weft_future_t *future);

/* Ask the running loop to stop: the callbacks that were already due in this
 * iteration still run, then run_forever() returns. Calling it on a loop that
 * is not running makes the next run_forever() do one iteration. Returns 0
 * (-EPERM from a foreign thread, -EINVAL for NULL). */
WEFT_EXPORT int weft_loop_stop(weft_loop_t *loop);

/* Close the loop: cancel every task still alive and run the loop until they
 * have all finished (as asyncio.run does), run the calls other threads
 * queued with weft_call_soon_threadsafe() before the close, drop the
 * callbacks that have not run yet, and release the loop's kernel objects.
 * Dropped callbacks (call_soon, call_later, and futures' done-callbacks
 * alike) are never called, as in asyncio; the references a done-callback
 * held to its future are released. Futures and tasks you still hold stay
 * readable. Returns 0, -EBUSY while the loop is running, -EPERM from a
 * foreign thread. Closing twice is harmless.
 *
 * How long it takes is up to the tasks. A shielded wait (WEFT_SCOPE_SHIELD)
 * is honoured for as long as something the loop knows of could complete
 * it: a timer, I/O, an executor job, another task. Once nothing can (the
 * loop would otherwise sleep forever), each task still parked in such a
 * wait is named in a warning and the wait ends with -ECANCELED. Calls that
 * threads of your own might still post are not waited for; give shielded
 * clean-up a deadline of its own when it waits for a peer. The close does
 * wait, without bound, for executor jobs (a running function cannot be
 * interrupted, weft/exec.h) and for a task that ignores -ECANCELED and
 * keeps running or waiting. */
WEFT_EXPORT int weft_loop_close(weft_loop_t *loop);

/* Close the loop if needed and free it. Release every task and future of
 * the loop first. Leftovers are reported in a warning: a finished task's
 * memory belongs to the loop and goes with it (a weft_task_t still held is
 * then dangling), while a future still referenced stays allocated (a
 * leak, which the warning counts). NULL is ignored. */
WEFT_EXPORT void weft_loop_free(weft_loop_t *loop);

WEFT_EXPORT bool weft_loop_is_running(const weft_loop_t *loop);
WEFT_EXPORT bool weft_loop_is_closed(const weft_loop_t *loop);

/* The I/O backend the loop runs on: "epoll" or "io_uring" (NULL for a
 * NULL loop). Chosen when the loop is made, from the environment:
 *   unset or empty         io_uring when the kernel allows it (Linux 5.19
 *                          or later, io_uring not refused by seccomp or by
 *                          the kernel.io_uring_disabled sysctl, weft built
 *                          with liburing), else epoll, silently;
 *   WEFT_BACKEND=io_uring  the same, but a fall back to epoll is said once
 *                          in a warning;
 *   WEFT_BACKEND=epoll     epoll.
 * Both run everything weft does; with io_uring, reads and writes of
 * stream sockets are submitted to the kernel and completed there (no
 * readiness wait and no recv or send call of the loop's; an idle stream's
 * read takes a buffer of the loop's only when bytes arrive), and what a
 * loop iteration queued is submitted in the one system call that also
 * waits. A stream read through its own buffer keeps one multishot recv
 * armed (Linux 6.0 or later): bytes that arrive while nobody reads wait
 * in a queue of the loop's (bounded: past it the socket holds them), and
 * a cancelled read leaves them there for the next read, as with epoll.
 * Other cancelled reads on io_uring are cancelled in the kernel
 * (IORING_OP_ASYNC_CANCEL) before the task sees the cancellation. Either
 * way no byte is lost. */
WEFT_EXPORT const char *weft_loop_backend(const weft_loop_t *loop);

/* The loop this thread is running right now, or NULL (asyncio's
 * get_running_loop()). */
WEFT_EXPORT weft_loop_t *weft_loop_current(void);

/* The loop's time in seconds (monotonic; with a virtual clock, virtual). */
WEFT_EXPORT double weft_loop_time(const weft_loop_t *loop);

/* The same in integer nanoseconds. */
WEFT_EXPORT uint64_t weft_loop_time_ns(const weft_loop_t *loop);

/* Re-read the clock now, instead of waiting for the next iteration. No
 * effect with a virtual clock. */
WEFT_EXPORT void weft_loop_update_time(weft_loop_t *loop);

/* Virtual clock only: move time forward by `seconds` (>= 0), then timers
 * that came due fire at the next iteration. Returns 0, -EINVAL for a
 * negative or NaN amount or a loop without a virtual clock. */
WEFT_EXPORT int weft_loop_advance(weft_loop_t *loop, double seconds);

/* A user pointer carried by the loop (NULL initially). */
WEFT_EXPORT void weft_loop_set_data(weft_loop_t *loop, void *data);
WEFT_EXPORT void *weft_loop_get_data(const weft_loop_t *loop);

/* Schedule fn(arg) to run soon, after the callbacks already scheduled
 * (FIFO). If `out` is not NULL it receives a handle for
 * weft_handle_cancel(). Returns 0, -EINVAL (NULL fn or loop), -ENOMEM,
 * -ESHUTDOWN (closed loop), -EPERM (foreign thread). On failure fn is never
 * called. The loop does not own `arg`. */
WEFT_EXPORT int weft_call_soon(weft_loop_t *loop, weft_callback_fn fn,
                               void *arg, weft_handle_t *out);

/* Schedule fn(arg) `delay` seconds from the loop's current time. A negative
 * delay counts as 0. Callbacks due at the same time run in the order they
 * were scheduled. Errors as weft_call_soon(), and -EINVAL for a NaN or
 * +INFINITY delay (-INFINITY counts as 0). */
WEFT_EXPORT int weft_call_later(weft_loop_t *loop, double delay,
                                weft_callback_fn fn, void *arg,
                                weft_handle_t *out);

/* Schedule fn(arg) at absolute loop time `when` (see weft_loop_time()); a
 * time already past runs at the next iteration. Errors as
 * weft_call_later() (NaN or +INFINITY: -EINVAL). */
WEFT_EXPORT int weft_call_at(weft_loop_t *loop, double when,
                             weft_callback_fn fn, void *arg,
                             weft_handle_t *out);

/* Cancel a scheduled callback. Returns 0 if it was pending and now will not
 * run, -ENOENT if it already ran, was already cancelled, or the handle is
 * stale or zero; -EPERM from a foreign thread. */
WEFT_EXPORT int weft_handle_cancel(weft_loop_t *loop, weft_handle_t handle);

/* Schedule fn(arg) from any thread, waking the loop if it is waiting.
 * Calls are never lost and run in the order each thread made them. Returns
 * 0, -EINVAL, -ENOMEM, or -ESHUTDOWN once the loop is closed. The loop must
 * not have been freed. */
WEFT_EXPORT int weft_call_soon_threadsafe(weft_loop_t *loop,
                                          weft_callback_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
