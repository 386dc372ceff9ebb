/* switch.c - context switch cost: weft tasks vs boost.context fcontext.
 *
 * weft: two tasks call weft_yield() in turn; each yield is one switch
 * (task to task, through the ready queue; every 64 hand-offs the loop's
 * own context runs an iteration, which is part of the cost measured).
 * fcontext: two contexts ping-pong with jump_fcontext (fcontext_peer.cpp).
 * boost's jump_fcontext saves and restores MXCSR and the x87 control word
 * at every switch; weft does so only for tasks spawned with
 * WEFT_SPAWN_FPENV, so that variant is measured too (apples to apples).
 *
 * The variants run interleaved (round r runs all of them, in an order
 * rotated by r), R rounds; median, min and max per variant.
 *
 * Usage: switch [--quick] [SWITCHES [REPEATS]]   defaults 20M and 7
 */
#include <stdint.h>
#include <stdio.h>

#include <weft.h>

#include "bench_util.h"

#define USAGE "switch [--quick] [SWITCHES [REPEATS]]"

uint64_t fcontext_pingpong_ns(uint64_t n); /* fcontext_peer.cpp */

struct weft_run_arg {
    uint64_t switches;
    unsigned flags;
    uint64_t ns;
};

static int yielder(void *arg) {
    uint64_t n = *(const uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++) {
        int err = weft_yield();
        if (err < 0)
            return err;
    }
    return 0;
}

static int weft_main(void *arg) {
    struct weft_run_arg *a = arg;
    uint64_t each = a->switches / 2;
    weft_spawn_opts_t opts = {.flags = a->flags};
    weft_task_t *t1, *t2;
    uint64_t t0 = bench_now_ns();
    int err = weft_spawn(&t1, yielder, &each, &opts);
    if (err < 0)
        return err;
    err = weft_spawn(&t2, yielder, &each, &opts);
    if (err < 0) {
        weft_task_release(t1);
        return err;
    }
    int r1 = weft_join(t1);
    int r2 = weft_join(t2);
    a->ns = bench_now_ns() - t0;
    weft_task_release(t1);
    weft_task_release(t2);
    return r1 < 0 ? r1 : r2;
}

/* ns per switch, or -1 on failure. */
static double run_weft(uint64_t switches, unsigned flags) {
    struct weft_run_arg a = {switches, flags, 0};
    int err = weft_run(weft_main, &a);
    if (err < 0) {
        fprintf(stderr, "switch: weft_run failed: %s\n", weft_strerror(err));
        return -1;
    }
    return (double)a.ns / (double)(switches / 2 * 2);
}

static double run_fcontext(uint64_t switches) {
    uint64_t ns = fcontext_pingpong_ns(switches);
    if (!ns) {
        fprintf(stderr, "switch: fcontext run failed\n");
        return -1;
    }
    return (double)ns / (double)(switches / 2 * 2);
}

enum { V_WEFT, V_WEFT_FP, V_FCTX, NV };
static const char *const names[NV] = {
    "weft   weft_yield, 2 tasks",
    "weft   same, WEFT_SPAWN_FPENV",
    "boost  fcontext jump_fcontext",
};

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    uint64_t n = bench_arg(argc, argv, 1, quick ? 200000 : 20000000, USAGE);
    uint64_t reps = bench_arg(argc, argv, 2, quick ? 3 : 7, USAGE);
    if (argc > 3 || n < 2) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    double *v[NV];
    for (int k = 0; k < NV; k++) {
        v[k] = calloc(reps, sizeof(double));
        if (!v[k])
            return 1;
    }
    /* Warm-up: page in the code and the stacks of both sides. */
    if (run_weft(n / 10 + 2, 0) < 0 || run_fcontext(n / 10 + 2) < 0)
        return 1;
    for (uint64_t r = 0; r < reps; r++) {
        for (int j = 0; j < NV; j++) {
            int k = (int)((j + r) % NV);
            double x = k == V_FCTX ? run_fcontext(n)
                                   : run_weft(n, k == V_WEFT_FP
                                                     ? WEFT_SPAWN_FPENV
                                                     : 0);
            if (x < 0)
                return 1;
            v[k][r] = x;
        }
    }

    double med[NV];
    printf("context switch: %llu switches per run, %llu runs interleaved "
           "(ns per switch)\n",
           (unsigned long long)n, (unsigned long long)reps);
    printf("  %-32s %8s %8s %8s\n", "variant", "median", "min", "max");
    for (int k = 0; k < NV; k++) {
        med[k] = bench_median(v[k], reps);
        printf("  %-32s %8.2f %8.2f %8.2f\n", names[k], med[k],
               bench_min(v[k], reps), bench_max(v[k], reps));
    }
    printf("  %-32s %8.2f\n", "ratio weft / fcontext (median)",
           med[V_WEFT] / med[V_FCTX]);
    printf("  %-32s %8.2f\n", "ratio weft+FPENV / fcontext",
           med[V_WEFT_FP] / med[V_FCTX]);
    printf("  target weft <= 6 ns per switch:       %s (%.2f ns)\n",
           bench_yesno(med[V_WEFT] <= 6.0), med[V_WEFT]);
    printf("  target weft faster than fcontext:     %s (%.2f vs %.2f ns)\n",
           bench_yesno(med[V_WEFT] < med[V_FCTX]), med[V_WEFT],
           med[V_FCTX]);
    printf("RESULT switch weft_ns %.2f ns\n", med[V_WEFT]);
    printf("RESULT switch weft_fpenv_ns %.2f ns\n", med[V_WEFT_FP]);
    printf("RESULT switch fcontext_ns %.2f ns\n", med[V_FCTX]);
    for (int k = 0; k < NV; k++)
        free(v[k]);
    return 0;
}
