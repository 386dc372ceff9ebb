/* Internal: what the proc module (subprocesses, signals, file watching)
 * shares with the rest of weft and with its tests. */
#ifndef WEFT_PROC_INT_H
#define WEFT_PROC_INT_H

#include "../task/task_int.h"
#include "weft/fswatch.h"
#include "weft/signal.h"

/* Loop close phase of this module: after the tasks were cancelled and
 * drained (the waits of signals and watchers are gone), before the
 * executor stops. Kernel objects (eventfds, inotify fds, dispositions) are
 * released here; memory the user may still name at WEFT__PHASE_FREE.
 * (A freed subprocess still running is watched until its hook at
 * WEFT__PHASE_FREE - 1, the last chance to reap it before the loop goes.) */
#define WEFT__PHASE_PROC (WEFT__PHASE_TASKS + 5)

/* weft_run's WEFT_RUN_SIGNALS (src/task/run.c). weft_run is asyncio.run:
 * it sits above every module, so the task layer calls up into proc here
 * and nowhere else. Zero-initialised storage of the caller; `main` is set
 * by the caller once the main task exists. */
struct weft__run_signals {
    weft_loop_t *loop;
    weft_task_t *main;
    double grace;
    int *stop_signal;
    int seen; /* signals received */
    weft_signal_id_t ids[2];
};

/* Catch SIGINT and SIGTERM for opts (opts->flags has WEFT_RUN_SIGNALS).
 * Returns 0 or the error of weft_signal_add (nothing caught then). */
int weft__run_signals_start(struct weft__run_signals *rs, weft_loop_t *loop,
                            const weft_run_opts_t *opts);
/* Stop catching them (harmless if never started or already stopped). */
void weft__run_signals_stop(struct weft__run_signals *rs);

/* Tests only (src/proc/subprocess.c): make children behave as on older
 * kernels. NO_PIDFD: as if pidfd_open failed (the polling fallback).
 * NO_WAITID_PIDFD: as if waitid(P_PIDFD) said EINVAL (Linux 5.3). Read
 * when a child starts or is reaped; 0 otherwise. */
enum {
    WEFT__PROC_TEST_NO_PIDFD = 1 << 0,
    WEFT__PROC_TEST_NO_WAITID_PIDFD = 1 << 1,
};
extern int weft__proc_test_flags;

#endif
