/* spawn.c - spawn + run + join of an empty task, ns per task.
 *
 * Three shapes, all inside one loop, interleaved over R runs after a
 * warm-up (stacks come from the loop's pool, so the first run pays the
 * mmaps and first-touch page faults; the warm-up takes them):
 *   tight   spawn one task, join it, release it; repeat
 *   named   the same with opts.name given (a default name is formatted
 *           with snprintf at every spawn; this shows what that costs)
 *   batch   spawn B tasks keeping handles, then join and release each
 *   group   weft_group_enter, B x weft_group_spawn (detached), group_exit
 * each with the loop's default stack (64 KiB) and with 2 KiB stacks.
 *
 * Usage: spawn [--quick] [TASKS_PER_RUN [REPEATS [BATCH]]]
 *        defaults 60k, 7, 1000
 */
#include <stdint.h>
#include <stdio.h>

#include <weft.h>

#include "bench_util.h"

#define USAGE "spawn [--quick] [TASKS_PER_RUN [REPEATS [BATCH]]]"

static int empty(void *arg) {
    (void)arg;
    return 0;
}

enum { S_TIGHT, S_NAMED, S_BATCH, S_GROUP, NSHAPE };
static const char *const shape_name[NSHAPE] = {
    "tight (spawn 1, join 1)", "tight, opts.name given",
    "batch (spawn B, join B)", "group (B in a task group)"};
#define NSTACK 2
static const size_t stack_sizes[NSTACK] = {0, 2048 * BENCH_STACK_SCALE};
static const char *const stack_name[NSTACK] = {
    "64 KiB (default)", BENCH_STACK_SCALE == 1 ? "2 KiB" : "2 KiB x scale"};

struct cfg {
    uint64_t tasks, reps, batch;
    weft_task_t **handles;
    double *res[NSHAPE][NSTACK];
    uint64_t done;
};

static int run_tight(uint64_t n, const weft_spawn_opts_t *o) {
    for (uint64_t i = 0; i < n; i++) {
        weft_task_t *t;
        int err = weft_spawn(&t, empty, NULL, o);
        if (err < 0)
            return err;
        err = weft_join(t);
        weft_task_release(t);
        if (err < 0)
            return err;
    }
    return 0;
}

static int run_batch(uint64_t n, uint64_t b, weft_task_t **h,
                     const weft_spawn_opts_t *o) {
    for (uint64_t done = 0; done < n; done += b) {
        uint64_t k = n - done < b ? n - done : b;
        for (uint64_t i = 0; i < k; i++) {
            int err = weft_spawn(&h[i], empty, NULL, o);
            if (err < 0) {
                while (i-- > 0)
                    weft_task_release(h[i]);
                return err;
            }
        }
        int first = 0;
        for (uint64_t i = 0; i < k; i++) {
            int err = weft_join(h[i]);
            if (err < 0 && !first)
                first = err;
            weft_task_release(h[i]);
        }
        if (first < 0)
            return first;
    }
    return 0;
}

static int run_group(uint64_t n, uint64_t b, const weft_spawn_opts_t *o) {
    for (uint64_t done = 0; done < n; done += b) {
        uint64_t k = n - done < b ? n - done : b;
        weft_group_t g;
        int err = weft_group_enter(&g);
        if (err < 0)
            return err;
        for (uint64_t i = 0; i < k; i++) {
            err = weft_group_spawn(&g, NULL, empty, NULL, o);
            if (err < 0)
                break;
        }
        int e2 = weft_group_exit(&g);
        if (err < 0)
            return err;
        if (e2 < 0)
            return e2;
    }
    return 0;
}

static int run_shape(struct cfg *c, int shape, int st, uint64_t n) {
    weft_spawn_opts_t o = {.stack_size = stack_sizes[st]};
    switch (shape) {
    case S_TIGHT:
        return run_tight(n, &o);
    case S_NAMED:
        o.name = "bench";
        return run_tight(n, &o);
    case S_BATCH:
        return run_batch(n, c->batch, c->handles, &o);
    default:
        return run_group(n, c->batch, &o);
    }
}

static int bench_main(void *arg) {
    struct cfg *c = arg;
    /* Warm-up: every shape once with a full batch or more, so the pools
     * hold enough stacks of both sizes. */
    for (int st = 0; st < NSTACK; st++)
        for (int s = 0; s < NSHAPE; s++) {
            uint64_t w = c->tasks / 10 > c->batch ? c->tasks / 10 : c->batch;
            int err = run_shape(c, s, st, w);
            if (err < 0)
                return err;
        }
    for (uint64_t r = 0; r < c->reps; r++) {
        for (int j = 0; j < NSHAPE * NSTACK; j++) {
            int idx = (int)((j + r) % (NSHAPE * NSTACK));
            int s = idx % NSHAPE, st = idx / NSHAPE;
            uint64_t t0 = bench_now_ns();
            int err = run_shape(c, s, st, c->tasks);
            uint64_t t1 = bench_now_ns();
            if (err < 0)
                return err;
            c->res[s][st][r] = (double)(t1 - t0) / (double)c->tasks;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    struct cfg c = {0};
    c.tasks = bench_arg(argc, argv, 1, quick ? 5000 : 60000, USAGE);
    c.reps = bench_arg(argc, argv, 2, quick ? 3 : 7, USAGE);
    c.batch = bench_arg(argc, argv, 3, quick ? 100 : 1000, USAGE);
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    c.handles = calloc(c.batch, sizeof *c.handles);
    if (!c.handles)
        return 1;
    for (int s = 0; s < NSHAPE; s++)
        for (int st = 0; st < NSTACK; st++)
            if (!(c.res[s][st] = calloc(c.reps, sizeof(double))))
                return 1;
    int err = weft_run(bench_main, &c);
    if (err < 0) {
        fprintf(stderr, "spawn: %s\n", weft_strerror(err));
        return 1;
    }
    printf("spawn + run + join of an empty task: %llu tasks per run, B = "
           "%llu, %llu runs interleaved (ns per task)\n",
           (unsigned long long)c.tasks, (unsigned long long)c.batch,
           (unsigned long long)c.reps);
    printf("  %-27s %-17s %8s %8s %8s\n", "shape", "stack", "median", "min",
           "max");
    for (int st = 0; st < NSTACK; st++)
        for (int s = 0; s < NSHAPE; s++) {
            double m = bench_median(c.res[s][st], c.reps);
            printf("  %-27s %-17s %8.1f %8.1f %8.1f\n", shape_name[s],
                   stack_name[st], m, bench_min(c.res[s][st], c.reps),
                   bench_max(c.res[s][st], c.reps));
        }
    double tight = bench_median(c.res[S_TIGHT][0], c.reps);
    double batch = bench_median(c.res[S_BATCH][0], c.reps);
    printf("  target <= 100 ns per task (default stack): tight %s (%.1f), "
           "batch %s (%.1f)\n",
           bench_yesno(tight <= 100), tight, bench_yesno(batch <= 100), batch);
    printf("RESULT spawn tight_ns %.1f ns\n", tight);
    printf("RESULT spawn batch_ns %.1f ns\n", batch);
    for (int s = 0; s < NSHAPE; s++)
        for (int st = 0; st < NSTACK; st++)
            free(c.res[s][st]);
    free(c.handles);
    return 0;
}
