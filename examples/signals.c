/* signals.c - a service that runs until it is told to stop, then stops
 * gracefully. The C twin of the asyncio pattern
 *
 *     async def main():
 *         loop = asyncio.get_running_loop()
 *         loop.add_signal_handler(signal.SIGUSR1, print_status)
 *         async with asyncio.TaskGroup() as tg:
 *             tg.create_task(ticker())
 *             tg.create_task(reloader())
 *     asyncio.run(main())      # Ctrl-C cancels main (Python 3.11+)
 *
 * with the three signal interfaces of weft:
 *
 *   - weft_run(... WEFT_RUN_SIGNALS): SIGINT or SIGTERM ask the main task to
 *     stop (a soft cancellation: its waits inside a WEFT_SCOPE_STOPPABLE
 *     scope end at once, and GRACE seconds later it is cancelled for good);
 *     a second signal cancels it at once, a third ends the process.
 *   - weft_signal_add(): SIGUSR1 prints a status line (a plain callback,
 *     run by the loop).
 *   - a receiver: a task waits for SIGHUP with weft_signal_next() and
 *     "reloads"; a SIGHUP that comes while it is busy is kept for it.
 *
 * Usage: signals [GRACE]      (seconds; default 5)
 *
 * It prints one line when it is ready, a line for each SIGUSR1 and SIGHUP,
 * and, on SIGINT or SIGTERM, one line naming the signal; then it exits
 * with status 0 (a requested stop is this program's normal end).
 *
 *     $ ./signals &
 *     signals: running as pid 4242; SIGUSR1: status, SIGHUP: reload, ...
 *     $ kill -HUP %1
 *     signals: SIGHUP: reload #1
 *     $ kill -INT %1
 *     signals: stopped by SIGINT
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <weft.h>

#define USAGE "usage: signals [GRACE]\n"

struct app {
    long ticks;
    int reloads;
    weft_sigrecv_t *hup;
};

static const char *signame(int s) {
    switch (s) {
    case SIGINT:
        return "SIGINT";
    case SIGTERM:
        return "SIGTERM";
    case SIGHUP:
        return "SIGHUP";
    case SIGUSR1:
        return "SIGUSR1";
    default:
        return "a signal";
    }
}

/* The work: count tenths of a second. */
static int ticker(void *arg) {
    struct app *app = arg;
    for (;;) {
        int err = weft_sleep(0.1);
        if (err < 0)
            return err; /* -ECANCELED: we are stopping */
        app->ticks++;
    }
}

/* SIGHUP: a task waits for it. */
static int reloader(void *arg) {
    struct app *app = arg;
    for (;;) {
        int s = weft_signal_next(app->hup);
        if (s < 0)
            return s;
        printf("signals: %s: reload #%d\n", signame(s), ++app->reloads);
    }
}

/* SIGUSR1: a plain callback of the loop. */
static void print_status(int signum, void *arg) {
    const struct app *app = arg;
    printf("signals: %s: status: %ld ticks, %d reloads\n", signame(signum),
           app->ticks, app->reloads);
}

static int serve(void *arg) {
    struct app *app = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_signal_id_t usr1;
    int err = weft_signal_add(loop, SIGUSR1, print_status, app, &usr1);
    if (err < 0)
        return err;
    err = weft_signal_open(loop, (int[]){SIGHUP}, 1, &app->hup);
    if (err < 0) {
        weft_signal_remove(loop, usr1);
        return err;
    }
    /* Everything until the stop request happens inside a stoppable scope:
     * the first SIGINT/SIGTERM ends its waits (here: the group's exit,
     * which then cancels the workers and waits for them). */
    weft_scope_t running;
    weft_scope_enter(&running, INFINITY, WEFT_SCOPE_STOPPABLE);
    weft_group_t workers;
    weft_group_enter(&workers);
    err = weft_group_spawn(&workers, NULL, ticker, app, NULL);
    if (err == 0)
        err = weft_group_spawn(&workers, NULL, reloader, app, NULL);
    if (err == 0)
        printf("signals: running as pid %ld; SIGUSR1: status, SIGHUP: "
               "reload, SIGINT or SIGTERM: stop\n",
               (long)getpid());
    else
        weft_group_cancel(&workers);
    int exit_err = weft_group_exit(&workers);
    weft_scope_exit(&running);
    /* Clean up: close what we opened. */
    weft_signal_close(app->hup);
    weft_signal_remove(loop, usr1);
    if (err < 0)
        return err;
    /* Stopped on request: a clean shutdown. */
    return weft_stop_requested() ? 0 : exit_err;
}

int main(int argc, char **argv) {
    double grace = 5;
    if (argc > 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (argc == 2) {
        char *end;
        errno = 0;
        grace = strtod(argv[1], &end);
        if (end == argv[1] || *end || errno || !isfinite(grace) ||
            grace < 0 || grace > 1e6) {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct app app = {0};
    int stop_signal = 0;
    weft_run_opts_t opts = {0};
    opts.flags = WEFT_RUN_SIGNALS;
    opts.grace = grace;
    opts.stop_signal = &stop_signal;
    int r = weft_run_opts(serve, &app, &opts);
    if (stop_signal && r >= 0) {
        printf("signals: stopped by %s\n", signame(stop_signal));
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "signals: %s\n", weft_strerror(r));
        return 1;
    }
    return 0;
}
