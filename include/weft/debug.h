/* weft/debug.h - seeing inside a running program: debug mode, the loop's
 * counters, and the task dump (Go's SIGQUIT dump, asyncio's debug mode).
 *
 * Debug mode is the loop flag WEFT_LOOP_DEBUG (weft/loop.h), or
 * WEFT_DEBUG=1 in the environment, or weft_loop_set_debug(). In it a
 * warning names every task step or callback that holds the loop longer
 * than the slow-step threshold (0.1 s, as asyncio's
 * slow_callback_duration), with the task's spawn site; the messages that
 * name a task (a failure nobody collected, a stream left open when the
 * loop closes) name its spawn site too; and the loop measures its time in
 * the poller and how late its timers fire. Off, it costs nothing.
 *
 * The counters are always kept, at no cost the benchmarks can measure
 * (docs/design.md, "Seeing inside").
 *
 * The task dump lists every task of a loop: id, name, state, what it
 * waits for and since when, where it was spawned, and a backtrace of its
 * parked stack, after a summary by state and by spawn site (so that
 * 100,000 tasks do not flood the terminal). weft_dump_on_signal(loop,
 * SIGQUIT) prints it on `kill -QUIT`, as Go and the JVM do.
 *
 * For a process that is stuck (a task blocking the loop's thread), or a
 * core file, use gdb: libweft carries a gdb extension (`info weft-tasks`,
 * `weft-bt ID`). Tracepoints for perf and bpftrace: docs/debugging.md.
 */
#ifndef WEFT_DEBUG_H
#define WEFT_DEBUG_H

#include <stdio.h>

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Turn debug mode on or off for a loop (see above). From the loop's
 * thread: 0, -EPERM from another thread, -EINVAL for NULL. */
WEFT_EXPORT int weft_loop_set_debug(weft_loop_t *loop, bool on);
WEFT_EXPORT bool weft_loop_get_debug(const weft_loop_t *loop);

/* Debug mode: report task steps and callbacks that hold the loop longer
 * than `seconds` (default 0.1). Returns 0, -EINVAL (NaN, negative, NULL),
 * -EPERM from another thread. */
WEFT_EXPORT int weft_loop_set_slow_step(weft_loop_t *loop, double seconds);

/* A loop's counters since it was made. Zero-initialise it: fields added
 * later keep their meaning at zero. */
typedef struct weft_loop_stats {
    uint64_t tasks_alive;    /* tasks that have not finished */
    uint64_t tasks_spawned;
    uint64_t iterations;     /* of the loop */
    uint64_t callbacks_run;  /* call_soon/later/at and done-callbacks */
    uint64_t io_ops;         /* I/O system calls of streams and operations */
    uint64_t timers_armed;   /* sleeps, deadlines and callbacks, ever */
    uint64_t timers_pending; /* armed now */
    /* Time while the loop ran (run_forever, run_until_complete, weft_run):
     * the CPU time of its thread (running tasks, callbacks and system
     * calls) and the rest (waiting in the poller, or for a CPU). */
    uint64_t busy_ns;
    uint64_t idle_ns;
    /* Debug mode only (0 otherwise). */
    uint64_t poll_ns;        /* measured around the poller */
    uint64_t slow_steps;     /* steps longer than the threshold */
    uint64_t lag_samples;    /* iterations that fired due timers */
    uint64_t lag_max_ns;     /* how late the earliest due timer fired */
    uint64_t lag_mean_ns;
    uint64_t lag_last_ns;
} weft_loop_stats_t;

/* Fill *out with the loop's counters (NULL loop: the running one). From
 * the loop's thread. Returns 0, -EINVAL, -EPERM. */
WEFT_EXPORT int weft_loop_stats(weft_loop_t *loop, weft_loop_stats_t *out);

/* weft_dump_opts_t.flags */
enum {
    WEFT_DUMP_NO_BACKTRACE = 1u << 0, /* do not walk the parked stacks */
};

/* Zero-initialise it; NULL means all defaults. */
typedef struct weft_dump_opts {
    unsigned flags;      /* WEFT_DUMP_* */
    size_t max_tasks;    /* tasks described one by one; 0: 100, SIZE_MAX:
                            all (the summary always counts them all) */
    unsigned max_frames; /* frames of each backtrace; 0: 16 */
} weft_dump_opts_t;

/* Write the task dump of `loop` (NULL: the loop running on this thread)
 * to `out`, or, when out is NULL, to the log handler (weft/core.h), one
 * message per line at WEFT_LOG_INFO (the default handler prints only WARN
 * and above: pass stderr to see it without a handler of your own). From
 * the loop's thread, in a task, a callback, or between runs. Returns 0,
 * -EINVAL (no loop), -EPERM (another thread's loop), -ENOMEM. Backtraces
 * need an x86-64 build with libunwind; elsewhere the dump says so and
 * lists the rest. From a task, symbols and backtraces need some 16 KiB of
 * its stack free: with less, symbols are those dladdr finds (or module and
 * offset) and backtraces are left out, with a line saying why. */
WEFT_EXPORT int weft_dump_tasks(weft_loop_t *loop, FILE *out,
                                const weft_dump_opts_t *opts);

/* Print the task dump to stderr each time `signum` (SIGQUIT, as Go and
 * the JVM do) arrives, instead of the signal's default action (for
 * SIGQUIT: a core dump). The dump is made on the loop's thread between
 * two steps, through weft_signal_add (weft/signal.h): a loop whose thread
 * is blocked in a task dumps when that task lets go; for a stuck process,
 * attach gdb (`info weft-tasks`). Returns 0 or the errors of
 * weft_signal_add(); again for the same loop and signal: -EALREADY. The
 * handler goes with the loop. */
WEFT_EXPORT int weft_dump_on_signal(weft_loop_t *loop, int signum);

#ifdef __cplusplus
}
#endif
#endif
