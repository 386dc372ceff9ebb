/* gather.c - the C twin of the teaching page's gather.py:
 *
 *     asyncio.gather() collects a bunch of individual coroutines (or
 *     futures) together, runs them all (in parallel), and puts the results
 *     in a list.
 *
 * The page does not show gather.py itself; this follows the gather example
 * of asyncio's documentation:
 *
 *     async def factorial(name, number):
 *         f = 1
 *         for i in range(2, number + 1):
 *             print(f"Task {name}: Compute factorial({number}), currently i={i}...")
 *             await asyncio.sleep(1)
 *             f *= i
 *         print(f"Task {name}: factorial({number}) = {f}")
 *         return f
 *
 *     L = await asyncio.gather(factorial("A", 2), factorial("B", 3),
 *                              factorial("C", 4))
 *     print(L)
 *
 * then adds a task D that fails, gathered both ways: by default the first
 * error cancels the others (gather raises it); with WEFT_GATHER_ALL every
 * result and error is collected (gather's return_exceptions=True).
 *
 * Usage: gather [STEP]   (seconds each step of a factorial takes; default 1)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

#define USAGE "usage: gather [STEP]\n"

struct job {
    const char *name;
    int number;
    double step;
};

/* async def factorial(name, number): a task; its result is its return
 * value (>= 0), a failure a negative errno. */
static int factorial(void *arg) {
    const struct job *j = arg;
    if (j->number < 0) {
        printf("Task %s: factorial(%d) is undefined\n", j->name, j->number);
        return -EDOM; /* raise ValueError */
    }
    int f = 1;
    for (int i = 2; i <= j->number; i++) {
        printf("Task %s: Compute factorial(%d), currently i=%d...\n", j->name,
               j->number, i);
        int err = weft_sleep(j->step); /* await asyncio.sleep(1) */
        if (err < 0) {
            printf("Task %s: %s\n", j->name, weft_strerror(err));
            return err; /* -ECANCELED: gather gave up on us */
        }
        f *= i;
    }
    printf("Task %s: factorial(%d) = %d\n", j->name, j->number, f);
    return f;
}

/* print(L): each result, or the name of its error, in the order given. */
static void print_results(const weft_call_t *calls, size_t n) {
    printf("[");
    for (size_t i = 0; i < n; i++)
        if (calls[i].status >= 0)
            printf("%s%d", i ? ", " : "", calls[i].status);
        else
            printf("%s%s", i ? ", " : "", weft_err_name(calls[i].status));
    printf("]\n");
}

/* L = await asyncio.gather(*(factorial(...) for each job)); print(L).
 * weft_gather_calls starts a task per call, gathers them, stores each
 * outcome in its call and releases the tasks. Returns gather's status. */
static int gather_jobs(struct job *jobs, size_t n, unsigned flags) {
    weft_call_t calls[4]; /* up to the four jobs */
    for (size_t i = 0; i < n; i++)
        calls[i] = (weft_call_t){.fn = factorial, .arg = &jobs[i]};
    int err = weft_gather_calls(calls, n, flags, NULL);
    if (err)
        printf("gather: %s (%s)\n", weft_err_name(err), weft_strerror(err));
    else
        printf("gather: ok\n");
    print_results(calls, n);
    return err;
}

static int gather_main(void *arg) {
    double step = *(const double *)arg;
    weft_loop_t *loop = weft_loop_current();
    struct job jobs[] = {
        {"A", 2, step}, {"B", 3, step}, {"C", 4, step}, {"D", -1, step}};

    puts("== A, B and C at once");
    double start = weft_loop_time(loop);
    int err = gather_jobs(jobs, 3, 0);
    if (err < 0)
        return err;
    /* A, B and C take 1, 2 and 3 steps. They ran concurrently: together
     * they took as long as the longest (3 steps), not the sum (6 steps). */
    printf("Time: %.2f sec (one after another: %.2f sec)\n",
           weft_loop_time(loop) - start, 6 * step);

    puts("\n== with D, which fails: the first error cancels the others");
    err = gather_jobs(jobs, 4, 0);
    if (err != -EDOM)
        return err < 0 ? err : -EPROTO;

    puts("\n== with D again, and WEFT_GATHER_ALL: every result and error");
    return gather_jobs(jobs, 4, WEFT_GATHER_ALL);
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

int main(int argc, char **argv) {
    double step = 1;
    if (argc > 2 || (argc == 2 && parse_seconds(argv[1], &step) < 0)) {
        fputs(USAGE, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int err = weft_run(gather_main, &step); /* asyncio.run(main()) */
    if (err < 0) {
        fprintf(stderr, "gather: %s\n", weft_strerror(err));
        return 1;
    }
    return 0;
}
