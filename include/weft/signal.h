/* weft/signal.h - Unix signals, delivered on the loop's thread.
 *
 * Two forms, as asyncio's loop.add_signal_handler() and Trio's
 * open_signal_receiver():
 *
 *   callbacks  weft_signal_add(loop, SIGHUP, fn, arg, &id) runs fn(SIGHUP,
 *              arg) as a plain callback of the loop (never inside the
 *              kernel's signal handler, never in a task), until
 *              weft_signal_remove(loop, id).
 *   receivers  weft_signal_open(loop, sigs, n, &r), then weft_signal_next(r)
 *              in a task waits for the next of those signals and returns
 *              its number; signals that arrive while nobody waits are kept
 *              (once per number) for the next call.
 *              weft_signal_wait((int[]){SIGINT, SIGTERM}, 2) is the one-shot
 *              form: open, next, close.
 *
 * How signals are caught. While any loop of the process catches a signal,
 * weft installs its own handler for it with sigaction() (SA_RESTART |
 * SA_ONSTACK) and remembers the disposition it replaced; when the last
 * handler or receiver for that signal in the whole process is removed (or
 * its loop closes), the remembered disposition is put back. The handler
 * only sets a bit and writes to an eventfd of each loop that catches the
 * signal; the loop reads it and runs the callbacks. weft never changes the
 * signal mask, so:
 *
 *  - any thread may take a signal, and it still reaches the loop: threads
 *    created before or after, by weft (executor workers) or by the host
 *    program, need nothing. A thread that blocks the signal does not take
 *    it; if every thread blocks it, it stays pending in the kernel.
 *  - every loop that catches a signal gets each delivery (two loops in two
 *    threads both waiting for SIGTERM both see it).
 *  - while weft catches a signal, do not change its disposition yourself
 *    (signal(), sigaction()): the change is undone when weft lets go.
 *  - a system call in another thread interrupted by the signal is restarted
 *    (SA_RESTART) where the kernel allows; some (poll, epoll_wait,
 *    nanosleep, calls with a timeout) return EINTR as with any handler.
 *  - deliveries of one signal that come before the loop has reacted are
 *    merged into one, as the kernel merges pending standard signals.
 *
 * Signals that cannot be caught this way are refused with -EINVAL: 0 and
 * numbers outside 1..NSIG-1, SIGKILL and SIGSTOP (the kernel forbids it),
 * the signals glibc reserves for itself (32 and 33), and the synchronous
 * fault signals SIGSEGV, SIGBUS, SIGFPE and SIGILL (the faulting
 * instruction would run again as soon as the handler returns, so the loop
 * would never get to run; weft's own stack-overflow report uses SIGSEGV).
 * Real-time signals are caught like the others (their queueing and
 * payloads are not kept).
 *
 * weft_run() can also stop the program on SIGINT and SIGTERM: see
 * WEFT_RUN_SIGNALS in weft/task.h.
 *
 * All calls must be made on the loop's thread (-EPERM otherwise, logged).
 */
#ifndef WEFT_SIGNAL_H
#define WEFT_SIGNAL_H

#include <signal.h>

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- callbacks ------------------------------------------------------------- */

/* Called on the loop thread, as a plain callback (weft_task_current() is
 * NULL: it must not wait), with the signal's number. */
typedef void (*weft_signal_fn)(int signum, void *arg);

/* Names one handler added by weft_signal_add(). A value type; ids are never
 * reused within a loop, so a stale id is recognised. The zero value names
 * nothing. */
typedef struct weft_signal_id {
    uint64_t id;
} weft_signal_id_t;

/* Run fn(signum, arg) on the loop's thread each time `signum` is delivered
 * (deliveries that come before fn has run are merged into one call). Unlike
 * asyncio, a second handler for the same signal does not replace the first:
 * each handler of a signal runs, in the order they were added (so that
 * weft_run's shutdown handler and a library's own handler can coexist). The
 * loop does not own `arg`. If out is not NULL it receives the handler's id
 * for weft_signal_remove().
 * Returns 0; -EINVAL (NULL loop or fn, a signal that cannot be caught: see
 * above); -EPERM (foreign thread); -ESHUTDOWN (the loop is closing or
 * closed); -ENOMEM; -ENOSPC (64 loops of this process catch signals
 * already); -EMFILE / -ENFILE (no eventfd). On failure fn is never called. */
WEFT_EXPORT int weft_signal_add(weft_loop_t *loop, int signum,
                                weft_signal_fn fn, void *arg,
                                weft_signal_id_t *out);

/* Remove a handler: fn will not be called again, not even for a delivery
 * that came before. It may be called from fn itself. When it was the last
 * handler or receiver for that signal in the process, the disposition weft
 * replaced is put back. Returns 0, -ENOENT (unknown or already removed id),
 * -EINVAL (NULL loop), -EPERM (foreign thread). */
WEFT_EXPORT int weft_signal_remove(weft_loop_t *loop, weft_signal_id_t id);

/* ---- receivers (tasks) ----------------------------------------------------- */

typedef struct weft_sigrecv weft_sigrecv_t;

/* Start catching the n signals of signums[] (duplicates are harmless) for a
 * task to wait on with weft_signal_next(). Signals caught from now on are kept until a
 * weft_signal_next() returns them, so a task that handles one signal and
 * then waits again misses none. On success stores the receiver in *out;
 * the caller owns it and frees it with weft_signal_close(), before the loop
 * is freed (one left open is freed with the loop, and logged).
 * Returns 0; -EINVAL (NULL argument, n == 0, or a signal that cannot be
 * caught); -EPERM; -ESHUTDOWN; -ENOMEM; -ENOSPC; -EMFILE. */
WEFT_EXPORT int weft_signal_open(weft_loop_t *loop, const int *signums,
                                 size_t n, weft_sigrecv_t **out);

/* In a task of the receiver's loop: return the number of one of its
 * signals caught since the receiver was opened and not yet returned (the
 * lowest-numbered first), or wait for one. A signal that arrives together
 * with a cancellation is returned; the cancellation shows at the next wait.
 * Returns the signal number (> 0); -ECANCELED; -ETIMEDOUT (deadline
 * scope); -EBADF if the receiver is closed while the task waits (by another
 * task); -EBUSY if another task waits on this receiver; -EINVAL (NULL);
 * -EPERM (not in a task of that loop). */
WEFT_EXPORT int weft_signal_next(weft_sigrecv_t *receiver);

/* Stop catching and free the receiver; signals it kept are dropped. A task
 * waiting in weft_signal_next() on it is woken with -EBADF. NULL is
 * ignored. Call it on the loop's thread. */
WEFT_EXPORT void weft_signal_close(weft_sigrecv_t *receiver);

/* In a task: wait for one of the n signals of signums[] and return its
 * number. The
 * signals are caught only while the call waits: one that arrives before or
 * after gets the process's usual disposition (by default SIGINT and SIGTERM
 * end the process). To wait repeatedly without gaps, use a receiver.
 * Returns the signal number; -ECANCELED; -ETIMEDOUT (deadline scope);
 * -EINVAL (NULL, n == 0 or a signal that cannot be caught); -EPERM (not in
 * a task); and the errors of weft_signal_open(). */
WEFT_EXPORT int weft_signal_wait(const int *signums, size_t n);

#ifdef __cplusplus
}
#endif
#endif
