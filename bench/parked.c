/* parked.c - what a parked task costs: N tasks, each in weft_sleep(1e6),
 * alive at once, with the kernel's default settings.
 *
 * Each configuration (N x stack size) runs in its own forked child so its
 * RSS baseline is clean. The child's main task reads VmRSS, spawns N
 * detached tasks that each bump a counter and sleep for 1e6 s, yields
 * until all of them are parked, then reads VmRSS again (the peak: nothing
 * else is alive), VmPTE (page tables are memory too) and counts the lines
 * of /proc/self/maps against vm.max_map_count. Then it cancels the N
 * sleepers and waits for them (the teardown time is shown, and every
 * sleeper must have seen -ECANCELED).
 *
 * The sleepers live in a task group that main cancels and exits, not in
 * the loop's root group: leaving them to weft_run's own clean-up takes
 * time quadratic in N (tasks_close() walks every live task once per loop
 * iteration of 64 items: ~4 s for 100k tasks, many minutes for 1M). The
 * flag --root-teardown measures that path instead (use it with small N).
 *
 * Stack depth: a probe task paints 4 KiB below its own frame, sleeps 1 ms,
 * and finds the lowest byte that was overwritten: the stack weft_sleep and
 * the switch use below the task function. (The entry frames and the task
 * header above the task function cannot be seen through the public API.)
 *
 * Usage: parked [--quick] [--root-teardown] [N...]
 *        default N = 1000000 100000 (--quick: 10000 1000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "bench_util.h"

#define USAGE "parked [--quick] [--root-teardown] [N...]"
#define MAX_N 8
#define PAINT 4096
#define PATTERN 0xA5

struct job {
    uint64_t n;
    size_t stack;  /* 0: the loop's default */
    int root_teardown; /* leave the sleepers to weft_run's clean-up */
};

struct result {
    uint64_t n;
    long rss0_kb, rss_kb, hwm_kb, pte0_kb, pte_kb;
    long maps0, maps, max_map_count;
    uint64_t spawn_ns, park_ns, teardown_ns;
    uint64_t cancelled;
    long depth; /* probe: bytes below the task function; -1 if not run */
};

struct run {
    const struct job *job;
    struct result *res;
    uint64_t parked, cancelled;
    uint64_t t_main_end;
};

static struct run *R;

static int sleeper(void *arg) {
    (void)arg;
    R->parked++;
    int err = weft_sleep(1e6);
    if (err == -ECANCELED)
        R->cancelled++;
    return err == -ECANCELED ? 0 : -EPROTO;
}

static __attribute__((noinline)) void paint(uintptr_t *lo) {
    volatile unsigned char buf[PAINT];
    for (size_t i = 0; i < PAINT; i++)
        buf[i] = PATTERN;
    *lo = (uintptr_t)buf;
}

static int probe(void *arg) {
    long *depth = arg;
    volatile char mark = 0;
    uintptr_t top = (uintptr_t)&mark, lo;
    paint(&lo);
    int err = weft_sleep(0.001);
    if (err < 0)
        return err;
    /* The painted area is below our frame now; no call in between. */
    const volatile unsigned char *p = (const volatile unsigned char *)lo;
    size_t i = 0;
    while (i < PAINT && p[i] == PATTERN)
        i++;
    *depth = i == 0 ? -1 /* all overwritten: deeper than PAINT */
                    : (long)(top - (lo + i));
    (void)mark;
    return 0;
}

static int child_main(void *arg) {
    struct run *r = arg;
    struct result *res = r->res;
    uint64_t n = r->job->n;
    weft_spawn_opts_t opts = {.stack_size = r->job->stack};

    res->depth = -1;
    if (r->job->stack == 0) {
        weft_task_t *t;
        int err = weft_spawn(&t, probe, &res->depth, NULL);
        if (err < 0)
            return err;
        err = weft_join(t);
        weft_task_release(t);
        if (err < 0)
            return err;
    }

    int root = r->job->root_teardown;
    weft_group_t g;
    if (!root) {
        int err = weft_group_enter(&g);
        if (err < 0)
            return err;
    }
    res->rss0_kb = bench_status_kb("VmRSS");
    res->pte0_kb = bench_status_kb("VmPTE");
    res->maps0 = bench_count_maps();
    uint64_t t0 = bench_now_ns();
    int err = 0;
    for (uint64_t i = 0; i < n && !err; i++) {
        err = root ? weft_spawn(NULL, sleeper, NULL, &opts)
                   : weft_group_spawn(&g, NULL, sleeper, NULL, &opts);
        if (err < 0)
            fprintf(stderr, "parked: spawn %llu of %llu: %s\n",
                    (unsigned long long)i, (unsigned long long)n,
                    weft_strerror(err));
    }
    uint64_t t1 = bench_now_ns();
    while (!err && r->parked < n)
        err = weft_yield();
    uint64_t t2 = bench_now_ns();
    if (err < 0) {
        if (!root) {
            weft_group_cancel(&g);
            weft_group_exit(&g);
        }
        return err;
    }
    res->rss_kb = bench_status_kb("VmRSS");
    res->hwm_kb = bench_status_kb("VmHWM");
    res->pte_kb = bench_status_kb("VmPTE");
    res->maps = bench_count_maps();
    res->spawn_ns = t1 - t0;
    res->park_ns = t2 - t0;
    r->t_main_end = bench_now_ns();
    if (root)
        return 0; /* weft_run now cancels the N sleepers, waits for them */
    weft_group_cancel(&g);
    return weft_group_exit(&g);
}

static int child(void *arg, void *out) {
    struct result *res = out;
    struct run r = {arg, res, 0, 0, 0};
    R = &r;
    res->n = r.job->n;
    res->max_map_count = bench_read_long_file("/proc/sys/vm/max_map_count");
    int err = weft_run(child_main, &r);
    res->teardown_ns = bench_now_ns() - r.t_main_end;
    res->cancelled = r.cancelled;
    if (err < 0) {
        fprintf(stderr, "parked: weft_run: %s\n", weft_strerror(err));
        return 1;
    }
    if (r.cancelled != r.job->n) {
        fprintf(stderr, "parked: %llu of %llu sleepers saw -ECANCELED\n",
                (unsigned long long)r.cancelled,
                (unsigned long long)r.job->n);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    int root_teardown = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--root-teardown") == 0) {
            root_teardown = 1;
            for (int k = i; k < argc; k++)
                argv[k] = argv[k + 1];
            argc--;
            break;
        }
    }
    uint64_t ns[MAX_N];
    int nn = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && nn < MAX_N; i++)
            ns[nn++] = bench_arg(argc, argv, i, 0, USAGE);
    } else if (quick) {
        ns[nn++] = 10000;
        ns[nn++] = 1000;
    } else {
        ns[nn++] = 1000000;
        ns[nn++] = 100000;
    }
    static const size_t stacks[] = {0, 2048 * BENCH_STACK_SCALE,
                                    1024 * BENCH_STACK_SCALE};
    const int nstacks = 3;
    char stack_name[3][24];
    snprintf(stack_name[0], sizeof stack_name[0], "64 KiB (default)");
    for (int s = 1; s < nstacks; s++)
        snprintf(stack_name[s], sizeof stack_name[s], "%zu KiB",
                 stacks[s] / 1024);

    printf("parked tasks: N tasks in weft_sleep(1e6) at once, each config in "
           "a fresh child\n");
    if (BENCH_STACK_SCALE != 1)
        printf("  (sanitizer build: small stacks scaled x%d, memory numbers "
               "are not representative)\n",
               BENCH_STACK_SCALE);
    printf("  %9s %-17s %9s %9s %7s %8s %6s %6s %9s %9s %9s\n", "N", "stack",
           "RSS base", "RSS peak", "B/task", "PTE/task", "maps", "map ok",
           "spawn", "all parked", "teardown");
    long depth = -1;
    double worst_default = 0, best = 1e30;
    int failed = 0;
    for (int i = 0; i < nn; i++) {
        for (int s = 0; s < nstacks; s++) {
            struct job j = {ns[i], stacks[s], root_teardown};
            struct result res = {0};
            if (bench_in_child(child, &j, &res, sizeof res) != 0) {
                printf("  %9llu %-17s   FAILED (see stderr)\n",
                       (unsigned long long)j.n, stack_name[s]);
                failed = 1;
                continue;
            }
            double per = (double)(res.rss_kb - res.rss0_kb) * 1024.0 /
                         (double)res.n;
            double pte = (double)(res.pte_kb - res.pte0_kb) * 1024.0 /
                         (double)res.n;
            if (s == 0 && per > worst_default)
                worst_default = per;
            if (per < best)
                best = per;
            if (res.depth >= 0)
                depth = res.depth;
            printf("  %9llu %-17s %6ld MB %6ld MB %7.0f %8.0f %6ld %6s "
                   "%6.0f ms %7.0f ms %6.0f ms\n",
                   (unsigned long long)res.n, stack_name[s],
                   res.rss0_kb / 1024, res.rss_kb / 1024, per, pte, res.maps,
                   bench_yesno(res.maps < res.max_map_count),
                   (double)res.spawn_ns / 1e6, (double)res.park_ns / 1e6,
                   (double)res.teardown_ns / 1e6);
        }
    }
    printf("  (B/task = (VmRSS peak - VmRSS base) / N; PTE/task likewise for "
           "VmPTE; maps = lines of /proc/self/maps at the peak, limit "
           "vm.max_map_count = %ld;\n   spawn = the N spawn calls; all "
           "parked = spawn + run each to its sleep; teardown = %s)\n",
           bench_read_long_file("/proc/sys/vm/max_map_count"),
           root_teardown ? "main returns, weft_run cancels and drains them "
                           "(root group)"
                         : "weft_group_cancel + weft_group_exit");
    if (depth >= 0)
        printf("  stack used by a task parked in weft_sleep, below the task "
               "function's frame: %ld bytes\n",
               depth);
    else
        printf("  stack depth of a parked task: not measured\n");
    printf("  target <= 4 KiB per task (default stack): %s (%.0f B worst)\n",
           bench_yesno(worst_default <= 4096), worst_default);
    printf("  aim    <  1 KiB per long-parked task (best config): %s (%.0f B)"
           "\n",
           bench_yesno(best < 1024), best);
    printf("RESULT parked default_stack_bytes_per_task %.0f B\n",
           worst_default);
    printf("RESULT parked best_bytes_per_task %.0f B\n", best);
    return failed;
}
