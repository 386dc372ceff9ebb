/* async_time.c - the C twin of the teaching page's async_time.py:
 *
 *     async def display_date(num):
 *         end_time = time.time() + 10.0  # we want it to run for 10 seconds.
 *         while True:  # keep doing this until break
 *             print("instance: {} Time: {}".format(num, datetime.datetime.now()))
 *             if (time.time()) >= end_time:
 *                 print("instance: {} is all done".format(num))
 *                 break
 *             # pause for a random amount of time
 *             await asyncio.sleep(random.randint(0, 3))
 *
 *     def shutdown():
 *         print("shutdown called")
 *         loop = asyncio.get_event_loop()
 *         loop.stop()
 *
 *     asyncio.ensure_future(display_date(1))
 *     asyncio.ensure_future(display_date(2))
 *     loop = asyncio.get_event_loop()
 *     loop.create_task(display_date(3))
 *     loop.create_task(display_date(4))
 *     loop.call_later(15, shutdown)
 *     print("about to run loop")
 *     loop.run_forever()
 *     print("loop exited")
 *
 * Usage: async_time [-s SEED] [RUN_SECONDS [SHUTDOWN_SECONDS [MAX_PAUSE]]]
 *
 * Defaults are the Python's: 10, 15 and 3 seconds. Each pause is a random
 * whole number of seconds from 0 to MAX_PAUSE; a MAX_PAUSE under one second
 * counts in tenths, hundredths or thousandths instead, the largest unit that
 * fits (0.25 gives pauses of 0, 0.1 or 0.2 s). Durations may be fractional,
 * so `async_time 0.2 0.5 0.1` is over in half a second. The random numbers
 * are seeded from the clock, or with SEED.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#define USAGE                                                                  \
    "usage: async_time [-s SEED] [RUN_SECONDS [SHUTDOWN_SECONDS [MAX_PAUSE]]]\n"

struct config {
    double run_seconds; /* how long each instance keeps printing */
    double pause_unit;  /* pauses are whole multiples of this ... */
    long pause_units;   /* ... from 0 to this many */
};

struct instance {
    int num;
    const struct config *cfg;
};

/* print("instance: {} Time: {}".format(num, datetime.datetime.now())) */
static void print_time(int num) {
    struct timespec ts;
    struct tm tm;
    char date[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    printf("instance: %d Time: %s.%06ld\n", num, date, ts.tv_nsec / 1000);
}

/* random.randint(0, 3), in the configured unit */
static double random_pause(const struct config *cfg) {
    return cfg->pause_unit * (double)(rand() % (cfg->pause_units + 1));
}

/* async def display_date(num): a task. */
static int display_date(void *arg) {
    const struct instance *in = arg;
    weft_loop_t *loop = weft_loop_current();
    double end_time = weft_loop_time(loop) + in->cfg->run_seconds;
    for (;;) {
        print_time(in->num);
        if (weft_loop_time(loop) >= end_time) {
            printf("instance: %d is all done\n", in->num);
            return 0;
        }
        int err = weft_sleep(random_pause(in->cfg)); /* await asyncio.sleep */
        if (err < 0)
            return err; /* -ECANCELED: the loop is closing; print nothing */
    }
}

/* def shutdown(): a plain callback, run by the loop. */
static void shutdown_loop(void *arg) {
    (void)arg;
    puts("shutdown called");
    weft_loop_t *loop = weft_loop_current(); /* asyncio.get_event_loop() */
    weft_loop_stop(loop);
}

/* A duration in seconds: a finite decimal from 0 to 1e9. */
static int parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

static int parse_seed(const char *s, unsigned *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end || errno || v > 0xffffffffUL || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Pauses count in whole seconds, or in the largest of 0.1, 0.01 and 0.001
 * s that fits in max_pause. Under 1 ms the only pause is 0 (a yield). */
static void set_pause(struct config *cfg, double max_pause) {
    static const double units[] = {1, 0.1, 0.01, 0.001};
    size_t i = 0;
    while (i < 3 && units[i] > max_pause)
        i++;
    cfg->pause_unit = units[i];
    cfg->pause_units = (long)(max_pause / units[i] + 1e-9);
}

int main(int argc, char **argv) {
    double run = 10, shutdown_after = 15, max_pause = 3;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned seed = (unsigned)now.tv_sec ^ (unsigned)now.tv_nsec;
    int opt;
    opterr = 0; /* one line of usage is message enough */
    while ((opt = getopt(argc, argv, "s:")) != -1) {
        if (opt != 's' || parse_seed(optarg, &seed) < 0) {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    char **pos = argv + optind;
    int npos = argc - optind;
    if (npos > 3 || (npos > 0 && parse_seconds(pos[0], &run) < 0) ||
        (npos > 1 && parse_seconds(pos[1], &shutdown_after) < 0) ||
        (npos > 2 && parse_seconds(pos[2], &max_pause) < 0)) {
        fputs(USAGE, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    srand(seed);

    struct config cfg = {.run_seconds = run};
    set_pause(&cfg, max_pause);
    struct instance inst[4] = {{1, &cfg}, {2, &cfg}, {3, &cfg}, {4, &cfg}};

    weft_loop_t *loop;
    int err = weft_loop_new(&loop, NULL);
    if (err < 0) {
        fprintf(stderr, "async_time: cannot create a loop: %s\n",
                weft_strerror(err));
        return 1;
    }
    const char *what = "cannot start a task";
    /* asyncio.ensure_future(display_date(1)) and (2): fire and forget. With
     * out = NULL the task is detached: the loop owns it. */
    for (int i = 0; i < 2 && err == 0; i++)
        err = weft_loop_spawn(loop, NULL, display_date, &inst[i], NULL);
    /* loop.create_task(display_date(3)) and (4): create_task returns the
     * Task, so we keep a reference to each (to cancel or inspect it), which
     * we must release before freeing the loop. */
    weft_task_t *tasks[2] = {NULL, NULL};
    for (int i = 0; i < 2 && err == 0; i++)
        err = weft_loop_spawn(loop, &tasks[i], display_date, &inst[2 + i],
                              NULL);
    if (err == 0) { /* loop.call_later(15, shutdown) */
        what = "cannot schedule the shutdown";
        err = weft_call_later(loop, shutdown_after, shutdown_loop, NULL, NULL);
    }
    if (err == 0) {
        puts("about to run loop");
        what = "cannot run the loop";
        err = weft_loop_run_forever(loop); /* blocks until shutdown() */
        if (err == 0)
            puts("loop exited");
    }
    /* Tasks still sleeping are cancelled here: their weft_sleep() returns
     * -ECANCELED and they return quietly. */
    weft_loop_close(loop);
    weft_task_release(tasks[0]);
    weft_task_release(tasks[1]);
    weft_loop_free(loop);
    if (err < 0) {
        fprintf(stderr, "async_time: %s: %s\n", what, weft_strerror(err));
        return 1;
    }
    return 0;
}
