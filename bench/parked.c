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
 * Hibernated rows (weft_task_hibernate, weft/task.h): the same sleepers,
 * each hibernated once all are parked (their stacks copied aside, the
 * pages given back with MADV_DONTNEED, or MADV_FREE in the last row); RSS
 * is read after that, "hibernate" is the time to hibernate all N, and the
 * teardown then includes each task's wake from hibernation (its stack put
 * back: page faults and the copy) before it runs to its end: the
 * difference with the default row's teardown is what a wake costs.
 *
 * Usage: parked [--quick] [--root-teardown] [N...]
 *        default N = 1000000 100000 (--quick: 10000 1000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <weft.h>

#include "bench_util.h"

/* The advice hibernation gives (src/coro/stack.h; the static library's). */
extern int weft__stack_advice;

#define USAGE "parked [--quick] [--root-teardown] [N...]"
#define MAX_N 8
#define PAINT 4096
#define PATTERN 0xA5

struct job {
    uint64_t n;
    size_t stack;  /* 0: the loop's default */
    int root_teardown; /* leave the sleepers to weft_run's clean-up */
    int hibernate;     /* 1: hibernate them (MADV_DONTNEED), 2: MADV_FREE */
};

struct result {
    uint64_t n;
    long rss0_kb, rss_kb, hwm_kb, pte0_kb, pte_kb;
    long maps0, maps, max_map_count;
    uint64_t spawn_ns, park_ns, teardown_ns, hib_ns;
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

/* The process's CPU time (user + system: page faults and madvise count):
 * on a loaded machine, wall time says more about the others. */
static uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
    int hib = r->job->hibernate;
    weft_task_t **tasks = NULL;
    if (hib) {
        weft__stack_advice = hib == 2 ? MADV_FREE : MADV_DONTNEED;
        tasks = calloc(n, sizeof *tasks);
        if (!tasks)
            return -ENOMEM;
    }
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
        weft_task_t **out = tasks ? &tasks[i] : NULL;
        err = root ? weft_spawn(out, sleeper, NULL, &opts)
                   : weft_group_spawn(&g, out, sleeper, NULL, &opts);
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
    if (tasks) {
        uint64_t h0 = cpu_ns();
        for (uint64_t i = 0; i < n && !err; i++)
            err = weft_task_hibernate(tasks[i]);
        res->hib_ns = cpu_ns() - h0;
        if (err < 0)
            fprintf(stderr, "parked: weft_task_hibernate: %s\n",
                    weft_strerror(err));
        for (uint64_t i = 0; i < n; i++)
            weft_task_release(tasks[i]);
        free(tasks);
    }
    res->rss_kb = bench_status_kb("VmRSS");
    res->hwm_kb = bench_status_kb("VmHWM");
    res->pte_kb = bench_status_kb("VmPTE");
    res->maps = bench_count_maps();
    res->spawn_ns = t1 - t0;
    res->park_ns = t2 - t0;
    r->t_main_end = cpu_ns();
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
    res->teardown_ns = cpu_ns() - r.t_main_end;
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
                                    1024 * BENCH_STACK_SCALE, 0, 0};
    static const int hibs[] = {0, 0, 0, 1, 2};
    const int nstacks = 5;
    char stack_name[5][24];
    snprintf(stack_name[0], sizeof stack_name[0], "64 KiB (default)");
    for (int s = 1; s < 3; s++)
        snprintf(stack_name[s], sizeof stack_name[s], "%zu KiB",
                 stacks[s] / 1024);
    snprintf(stack_name[3], sizeof stack_name[3], "64 KiB hibernated");
    snprintf(stack_name[4], sizeof stack_name[4], "64 KiB hib. FREE");

    printf("parked tasks: N tasks in weft_sleep(1e6) at once, each config in "
           "a fresh child\n");
    if (BENCH_STACK_SCALE != 1)
        printf("  (sanitizer build: small stacks scaled x%d, memory numbers "
               "are not representative)\n",
               BENCH_STACK_SCALE);
    printf("  %9s %-17s %9s %9s %7s %8s %6s %6s %9s %9s %9s %9s\n", "N",
           "stack", "RSS base", "RSS peak", "B/task", "PTE/task", "maps",
           "map ok", "spawn", "all parked", "hibernate", "teardown");
    long depth = -1;
    double worst_default = 0, best = 1e30, best_hib = 1e30;
    double td[5] = {0}; /* teardown ns a task, the last N */
    int failed = 0;
    for (int i = 0; i < nn; i++) {
        for (int s = 0; s < nstacks; s++) {
            struct job j = {ns[i], stacks[s], root_teardown, hibs[s]};
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
            if (hibs[s] && per < best_hib)
                best_hib = per;
            td[s] = (double)res.teardown_ns / (double)res.n;
            if (res.depth >= 0)
                depth = res.depth;
            char hibt[16] = "-";
            if (hibs[s])
                snprintf(hibt, sizeof hibt, "%.0f ms",
                         (double)res.hib_ns / 1e6);
            printf("  %9llu %-17s %6ld MB %6ld MB %7.0f %8.0f %6ld %6s "
                   "%6.0f ms %7.0f ms %9s %6.0f ms\n",
                   (unsigned long long)res.n, stack_name[s],
                   res.rss0_kb / 1024, res.rss_kb / 1024, per, pte, res.maps,
                   bench_yesno(res.maps < res.max_map_count),
                   (double)res.spawn_ns / 1e6, (double)res.park_ns / 1e6,
                   hibt, (double)res.teardown_ns / 1e6);
            if (hibs[s])
                printf("RESULT parked %s_%llu_bytes_per_task %.0f bytes\n",
                       hibs[s] == 1 ? "hibernated" : "hibernated_free",
                       (unsigned long long)res.n, per);
        }
    }
    printf("  (B/task = (VmRSS peak - VmRSS base) / N; PTE/task likewise for "
           "VmPTE; maps = lines of /proc/self/maps at the peak, limit "
           "vm.max_map_count = %ld;\n   spawn = the N spawn calls; all "
           "parked = spawn + run each to its sleep (wall time); hibernate, "
           "teardown: CPU time; teardown = %s)\n",
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
    printf("  a wake from hibernation (teardown a task, hibernated - default; "
           "last N): %.2f us (MADV_DONTNEED), %.2f us (MADV_FREE)\n",
           (td[3] - td[0]) / 1e3, (td[4] - td[0]) / 1e3);
    printf("RESULT parked wake_from_hibernation %.2f us\n",
           (td[3] - td[0]) / 1e3);
    printf("  target <= 4 KiB per task (default stack): %s (%.0f B worst)\n",
           bench_yesno(worst_default <= 4096), worst_default);
    printf("  aim    <  1 KiB per long-parked task (best config): %s (%.0f B)"
           "\n",
           bench_yesno(best < 1024), best);
    printf("  aim    <= 1 KiB per hibernated task: %s (%.0f B)\n",
           bench_yesno(best_hib <= 1024), best_hib);
    printf("RESULT parked default_stack_bytes_per_task %.0f B\n",
           worst_default);
    printf("RESULT parked best_bytes_per_task %.0f B\n", best);
    printf("RESULT parked hibernated_bytes_per_task %.0f B\n", best_hib);
    return failed;
}
