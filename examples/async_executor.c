/* async_executor.c - the C twin of the teaching page's async_executor.py:
 *
 *     async def small_task(num):
 *         while True:  # keep doing this until break
 *             print("task: {} run".format(num))
 *             # pause for a random amount of time between 0 and 2 seconds
 *             await asyncio.sleep(random.random() * 2)
 *
 *     async def slow_task():
 *         while True:  # keep going forever
 *             print("running the slow task- blocking!")
 *             # This will block for 2-10 seconds!
 *             result = slow_function(random.random() * 8 + 2)
 *             # uncomment to put it on a different thread:
 *             # result = await loop.run_in_executor(None,
 *             #                                     slow_function,
 *             #                                     random.random() * 8 + 2)
 *             print("slow function done: result", result)
 *             await asyncio.sleep(0.1)  # to release the loop
 *
 *     def slow_function(duration):
 *         time.sleep(duration)
 *         print("slow task complete")
 *         return duration
 *
 *     loop = asyncio.get_event_loop()
 *     loop.create_task(small_task(1))  ... small_task(4)
 *     loop.create_task(slow_task())
 *     print("about to run loop")
 *     loop.run_forever()
 *     print("loop exited")
 *
 * Usage: async_executor [-e] [--debug] [-s SEED] [RUN_SECONDS [MAX_PAUSE
 *                       [SLOW_MIN [SLOW_MAX]]]]
 *
 * Without -e the slow function runs on the loop, as in the Python: while
 * it blocks, the small tasks print nothing. With -e it runs in the
 * executor (weft_to_thread: loop.run_in_executor(None, ...) in a task),
 * and the small tasks keep printing meanwhile. The Python runs until ^C;
 * this one stops the loop after RUN_SECONDS (default 20). Small tasks
 * pause up to MAX_PAUSE seconds (default 2); the slow function takes from
 * SLOW_MIN to SLOW_MAX seconds (defaults 2 and 10; SLOW_MIN must not
 * exceed SLOW_MAX). Durations may be
 * fractional: `async_executor -e 1 0.05 0.2 0.3` is over in a second.
 * The random numbers are seeded from the clock, or with SEED.
 *
 * --debug runs the loop in debug mode (WEFT_LOOP_DEBUG, asyncio's
 * loop.set_debug(True); WEFT_DEBUG=1 in the environment does the same):
 * without -e, each call of the slow function on the loop is reported,
 *
 *     weft: executing task 'slow_task' (id 5, fn slow_task (...), spawned
 *     at main+0x2b5 (...)) took 2.731 s (debug mode: ...)
 *
 * and with -e nothing is, since the loop is never held.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#define USAGE                                                                  \
    "usage: async_executor [-e] [--debug] [-s SEED] [RUN_SECONDS [MAX_PAUSE "  \
    "[SLOW_MIN [SLOW_MAX]]]]\n"

struct config {
    double max_pause;          /* small tasks: pause in [0, max_pause) */
    double slow_min, slow_max; /* slow function: duration in [min, max) */
    int in_executor;           /* -e */
    int debug;                 /* --debug */
};

struct small {
    int num;
    const struct config *cfg;
};

/* random.random() */
static double random01(void) {
    return (double)rand() / ((double)RAND_MAX + 1.0);
}

/* async def small_task(num) */
static int small_task(void *arg) {
    const struct small *s = arg;
    for (;;) {
        printf("task: %d run\n", s->num);
        int err = weft_sleep(random01() * s->cfg->max_pause);
        if (err < 0)
            return err; /* -ECANCELED: the loop is closing */
    }
}

/* t + seconds (>= 0). */
static struct timespec ts_add(struct timespec t, double seconds) {
    time_t whole = (time_t)seconds;
    t.tv_sec += whole;
    t.tv_nsec += (long)((seconds - (double)whole) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int ts_before(struct timespec a, struct timespec b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* def slow_function(duration): time.sleep(duration), in slices of at most
 * 10 ms, so that in the executor it can notice that nobody wants its
 * result any more (weft_job_cancelled(): the loop is closing) and stop
 * early; a C thread cannot be interrupted from outside. Returns the
 * duration, or -1 if it gave up. */
static double slow_function(double duration) {
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &now);
    end = ts_add(now, duration);
    while (ts_before(now, end)) {
        if (weft_job_cancelled())
            return -1;
        struct timespec step = ts_add(now, 0.01);
        if (ts_before(end, step))
            step = end;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &step, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    }
    puts("slow task complete");
    return duration;
}

/* slow_function as an executor job: the argument and the result live in
 * the slow task's frame. That is safe: weft_to_thread() returns only once
 * the function has returned, even when the task is cancelled. */
struct slow_call {
    double duration, result;
};

static int slow_job(void *arg, void **value) {
    (void)value;
    struct slow_call *c = arg;
    c->result = slow_function(c->duration);
    return c->result < 0 ? -ECANCELED : 0;
}

/* async def slow_task() */
static int slow_task(void *arg) {
    const struct config *cfg = arg;
    for (;;) {
        puts("running the slow task- blocking!");
        struct slow_call c = {cfg->slow_min + random01() * (cfg->slow_max -
                                                            cfg->slow_min),
                              0};
        if (cfg->in_executor) {
            /* result = await loop.run_in_executor(None, slow_function, d) */
            int err = weft_to_thread(slow_job, &c, NULL);
            if (err < 0)
                return err; /* -ECANCELED: the loop is closing */
        } else {
            c.result = slow_function(c.duration); /* blocks the loop */
        }
        printf("slow function done: result %g\n", c.result);
        int err = weft_sleep(0.1); /* to release the loop */
        if (err < 0)
            return err;
    }
}

static void stop_loop(void *arg) {
    weft_loop_stop(arg);
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

int main(int argc, char **argv) {
    double run = 20;
    struct config cfg = {2, 2, 10, 0, 0};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned seed = (unsigned)now.tv_sec ^ (unsigned)now.tv_nsec;
    int opt;
    opterr = 0; /* one line of usage is message enough */
    static const struct option longopts[] = {{"debug", no_argument, NULL, 'd'},
                                             {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "es:", longopts, NULL)) != -1) {
        if (opt == 'e') {
            cfg.in_executor = 1;
        } else if (opt == 'd') {
            cfg.debug = 1;
        } else if (opt != 's' || parse_seed(optarg, &seed) < 0) {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    char **pos = argv + optind;
    int npos = argc - optind;
    if (npos > 4 || (npos > 0 && parse_seconds(pos[0], &run) < 0) ||
        (npos > 1 && parse_seconds(pos[1], &cfg.max_pause) < 0) ||
        (npos > 2 && parse_seconds(pos[2], &cfg.slow_min) < 0) ||
        (npos > 3 && parse_seconds(pos[3], &cfg.slow_max) < 0)) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (cfg.slow_max < cfg.slow_min) {
        fputs(USAGE, stderr);
        return 2;
    }
    /* Lines, not blocks: the slow function prints from a worker thread. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    srand(seed);

    weft_loop_t *loop;
    weft_loop_opts_t lo = {.flags = cfg.debug ? WEFT_LOOP_DEBUG : 0};
    int err = weft_loop_new(&loop, &lo);
    if (err < 0) {
        fprintf(stderr, "async_executor: cannot create a loop: %s\n",
                weft_strerror(err));
        return 1;
    }
    /* loop.create_task(small_task(1)) ... (4), loop.create_task(slow_task())
     * Detached (out = NULL): the loop owns them and cancels them when it
     * closes. */
    struct small smalls[4] = {{1, &cfg}, {2, &cfg}, {3, &cfg}, {4, &cfg}};
    const char *what = "cannot start a task";
    char names[4][16];
    for (int i = 0; i < 4 && err == 0; i++) {
        snprintf(names[i], sizeof names[i], "small_task-%d", i + 1);
        weft_spawn_opts_t so = {.name = names[i]};
        err = weft_loop_spawn(loop, NULL, small_task, &smalls[i], &so);
    }
    if (err == 0) {
        weft_spawn_opts_t so = {.name = "slow_task"};
        err = weft_loop_spawn(loop, NULL, slow_task, &cfg, &so);
    }
    if (err == 0) {
        what = "cannot schedule the stop";
        err = weft_call_later(loop, run, stop_loop, loop, NULL);
    }
    if (err == 0) {
        puts("about to run loop");
        what = "cannot run the loop";
        err = weft_loop_run_forever(loop); /* until stop_loop() */
        if (err == 0)
            puts("loop exited");
    }
    /* Closing cancels the tasks. A slow function running in the executor
     * sees weft_job_cancelled() and gives up; the close waits for it and
     * joins the default pool's threads. */
    weft_loop_free(loop);
    if (err < 0) {
        fprintf(stderr, "async_executor: %s: %s\n", what, weft_strerror(err));
        return 1;
    }
    return 0;
}
