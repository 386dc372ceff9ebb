/* exec.c - the executor, weft vs libuv's uv_queue_work, in the same run.
 *
 * Round trip: submit an empty function to the thread pool and wait for its
 * result on the loop thread, one at a time; each round trip is timed
 * (after EXEC_WARMUP untimed ones): p50, p99 and max. weft is measured
 * twice: a task calling weft_to_thread() (park, wake), and the callback
 * layer (weft_run_in_executor + a done-callback that submits the next),
 * which is the shape of libuv's uv_queue_work + after_work_cb.
 *
 * Throughput: N empty jobs with 100 in flight at any time (each completion
 * submits the next): jobs per second. weft: 100 tasks each looping on
 * weft_to_thread(), and the callback layer; libuv: 100 uv_work_t requests
 * whose after_work_cb queues the next.
 *
 * Everyone gets the same number of worker threads (THREADS; default the
 * CPU count, weft's default pool size; libuv through UV_THREADPOOL_SIZE,
 * whose own default is 4). Each run is a forked child (libuv's pool is
 * per process); R rounds, the variants interleaved in an order rotated
 * each round; medians over the rounds.
 *
 * Usage: exec [--quick] [ROUNDTRIPS [REPEATS [JOBS [THREADS]]]]
 *        defaults 50k, 5, 1M, CPU count (--quick: 5k, 1, 50k)
 */
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

#include "bench_util.h"
#include "exec.h"

#define USAGE "exec [--quick] [ROUNDTRIPS [REPEATS [JOBS [THREADS]]]]"
#define INFLIGHT 100

enum { V_RT_TASK, V_RT_CB, V_RT_UV, V_TP_TASK, V_TP_CB, V_TP_UV, NV };
static const char *const names[NV] = {
    "weft   to_thread from a task",
    "weft   run_in_executor + done-callback",
    "libuv  uv_queue_work + after_work_cb",
    "weft   100 tasks x to_thread",
    "weft   run_in_executor, callback requeues",
    "libuv  uv_queue_work, after_work_cb requeues",
};

struct job {
    int variant;
    uint64_t n;
    unsigned threads;
};

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void exec_percentiles(uint64_t *lat, uint64_t n, struct exec_result *out) {
    if (n == 0)
        return;
    qsort(lat, n, sizeof *lat, cmp_u64);
    out->p50_ns = lat[n / 2];
    out->p99_ns = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    out->max_ns = lat[n - 1];
}

static int empty_job(void *arg, void **value) {
    (void)arg;
    (void)value;
    return 0;
}

/* ---- weft ------------------------------------------------------------------ */

struct wctx {
    weft_loop_t *loop;
    uint64_t n, submitted, completed, warm, t_submit, t0, t_end;
    uint64_t *lat;
    int errors;
};

static int rt_task(void *arg) {
    struct wctx *c = arg;
    for (uint64_t i = 0; i < c->warm; i++, c->completed++)
        if (weft_to_thread(empty_job, NULL, NULL) != 0)
            return -EIO;
    c->t0 = bench_now_ns();
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t s = bench_now_ns();
        int r = weft_to_thread(empty_job, NULL, NULL);
        c->lat[i] = bench_now_ns() - s;
        if (r != 0)
            return r;
        c->completed++;
    }
    c->t_end = bench_now_ns();
    return 0;
}

static void rt_done(weft_future_t *f, void *arg);

static int rt_submit(struct wctx *c) {
    weft_future_t *f;
    c->t_submit = bench_now_ns();
    int err = weft_run_in_executor(c->loop, NULL, empty_job, NULL, &f);
    if (!err)
        err = weft_future_add_done_callback(f, rt_done, c);
    weft_future_release(f);
    return err;
}

static void rt_done(weft_future_t *f, void *arg) {
    struct wctx *c = arg;
    uint64_t now = bench_now_ns();
    if (weft_future_result(f, NULL) != 0)
        c->errors++;
    if (c->completed >= c->warm)
        c->lat[c->completed - c->warm] = now - c->t_submit;
    if (++c->completed == c->warm)
        c->t0 = bench_now_ns();
    if (c->completed == c->warm + c->n) {
        c->t_end = now;
        weft_loop_stop(c->loop);
        return;
    }
    if (rt_submit(c) != 0) {
        c->errors++;
        weft_loop_stop(c->loop);
    }
}

struct tp_worker {
    struct wctx *c;
    uint64_t n;
};

static int tp_task(void *arg) {
    struct tp_worker *w = arg;
    for (uint64_t i = 0; i < w->n; i++) {
        int r = weft_to_thread(empty_job, NULL, NULL);
        if (r != 0)
            return r;
        w->c->completed++;
    }
    return 0;
}

/* Start the pool's threads outside the timed part: INFLIGHT jobs at once. */
static int warm_pool(weft_loop_t *loop) {
    weft_future_t *f[INFLIGHT];
    for (int i = 0; i < INFLIGHT; i++)
        if (weft_run_in_executor(loop, NULL, empty_job, NULL, &f[i]) != 0)
            return -1;
    for (int i = 0; i < INFLIGHT; i++) {
        if (weft_loop_run_until_complete(loop, f[i]) != 0)
            return -1;
        weft_future_release(f[i]);
    }
    return 0;
}

static int tp_main(void *arg) {
    struct wctx *c = arg;
    struct tp_worker w[INFLIGHT];
    weft_task_t *t[INFLIGHT];
    weft_spawn_opts_t o = {NULL, 8192 * BENCH_STACK_SCALE, 0};
    c->t0 = bench_now_ns();
    for (int i = 0; i < INFLIGHT; i++) {
        w[i].c = c;
        w[i].n = c->n / INFLIGHT + (i < (int)(c->n % INFLIGHT));
        if (weft_spawn(&t[i], tp_task, &w[i], &o) != 0)
            return -ENOMEM;
    }
    int err = 0;
    for (int i = 0; i < INFLIGHT; i++) {
        int r = weft_join(t[i]);
        if (r && !err)
            err = r;
        weft_task_release(t[i]);
    }
    c->t_end = bench_now_ns();
    return err;
}

static void tp_done(weft_future_t *f, void *arg);

static int tp_submit(struct wctx *c) {
    weft_future_t *f;
    c->submitted++;
    int err = weft_run_in_executor(c->loop, NULL, empty_job, NULL, &f);
    if (!err)
        err = weft_future_add_done_callback(f, tp_done, c);
    weft_future_release(f);
    return err;
}

static void tp_done(weft_future_t *f, void *arg) {
    struct wctx *c = arg;
    if (weft_future_result(f, NULL) != 0)
        c->errors++;
    if (++c->completed == c->n) {
        c->t_end = bench_now_ns();
        weft_loop_stop(c->loop);
        return;
    }
    if (c->submitted < c->n && tp_submit(c) != 0) {
        c->errors++;
        weft_loop_stop(c->loop);
    }
}

static int weft_variant(int v, uint64_t n, unsigned threads,
                        struct exec_result *out) {
    struct wctx c = {0};
    c.n = n;
    if (weft_loop_new(&c.loop, NULL) != 0)
        return -1;
    weft_pool_t *pool;
    weft_pool_opts_t po = {threads, 0, NULL};
    if (weft_pool_new(&pool, &po) != 0 ||
        weft_loop_set_default_pool(c.loop, pool) != 0)
        return -1;
    int err = 0;
    if (v == V_RT_TASK || v == V_RT_CB) {
        c.warm = EXEC_WARMUP;
        c.lat = malloc(n * sizeof *c.lat);
        if (!c.lat)
            return -1;
    }
    weft_task_t *t = NULL;
    switch (v) {
    case V_RT_TASK:
        err = weft_loop_spawn(c.loop, &t, rt_task, &c, NULL);
        if (!err)
            err = weft_loop_run_until_complete(c.loop, weft_task_future(t));
        break;
    case V_RT_CB:
        err = rt_submit(&c);
        if (!err)
            err = weft_loop_run_forever(c.loop);
        break;
    case V_TP_TASK:
        err = warm_pool(c.loop);
        if (!err)
            err = weft_loop_spawn(c.loop, &t, tp_main, &c, NULL);
        if (!err)
            err = weft_loop_run_until_complete(c.loop, weft_task_future(t));
        break;
    default: /* V_TP_CB */
        err = warm_pool(c.loop);
        c.t0 = bench_now_ns();
        for (int i = 0; i < INFLIGHT && !err && c.submitted < n; i++)
            err = tp_submit(&c);
        if (!err)
            err = weft_loop_run_forever(c.loop);
        break;
    }
    weft_task_release(t);
    out->jobs = c.completed - c.warm;
    out->total_ns = c.t_end - c.t0;
    if (c.lat) {
        exec_percentiles(c.lat, n, out);
        free(c.lat);
    }
    weft_loop_free(c.loop); /* closes: shuts the pool down, joins */
    if (err || c.errors || out->jobs != n) {
        fprintf(stderr, "exec: %s: err %d, %d errors, %llu of %llu jobs\n",
                names[v], err, c.errors, (unsigned long long)out->jobs,
                (unsigned long long)n);
        return -1;
    }
    return 0;
}

static int child(void *arg, void *outp) {
    const struct job *j = arg;
    struct exec_result *out = outp;
    char buf[16];
    snprintf(buf, sizeof buf, "%u", j->threads);
    setenv("UV_THREADPOOL_SIZE", buf, 1);
    int rc;
    switch (j->variant) {
    case V_RT_UV:
        rc = uv_exec_roundtrip(j->n, out);
        break;
    case V_TP_UV:
        rc = uv_exec_throughput(j->n, INFLIGHT, out);
        break;
    default:
        rc = weft_variant(j->variant, j->n, j->threads, out);
        break;
    }
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    uint64_t rt_n = bench_arg(argc, argv, 1, quick ? 5000 : 50000, USAGE);
    uint64_t reps = bench_arg(argc, argv, 2, quick ? 1 : 5, USAGE);
    uint64_t tp_n = bench_arg(argc, argv, 3, quick ? 50000 : 1000000, USAGE);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    weft_pool_t *probe;
    unsigned threads = 0;
    if (weft_pool_new(&probe, NULL) == 0) { /* weft's default size */
        threads = weft_pool_size(probe);
        weft_pool_free(probe);
    }
    threads = (unsigned)bench_arg(argc, argv, 4, threads ? threads : 2, USAGE);
    if (argc > 5 || threads > WEFT_POOL_MAX_THREADS) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    double *p50[NV], *p99[NV], *mx[NV], *rate[NV];
    for (int k = 0; k < NV; k++) {
        p50[k] = calloc(reps, sizeof(double));
        p99[k] = calloc(reps, sizeof(double));
        mx[k] = calloc(reps, sizeof(double));
        rate[k] = calloc(reps, sizeof(double));
        if (!p50[k] || !p99[k] || !mx[k] || !rate[k])
            return 1;
    }
    for (uint64_t r = 0; r < reps; r++) {
        for (int i = 0; i < NV; i++) {
            int k = (int)((i + r) % NV);
            struct job j = {k, k <= V_RT_UV ? rt_n : tp_n, threads};
            struct exec_result res = {0};
            if (bench_in_child(child, &j, &res, sizeof res) != 0) {
                fprintf(stderr, "exec: run '%s' failed\n", names[k]);
                return 1;
            }
            p50[k][r] = (double)res.p50_ns;
            p99[k][r] = (double)res.p99_ns;
            mx[k][r] = (double)res.max_ns;
            rate[k][r] = (double)res.jobs * 1e9 / (double)res.total_ns;
        }
    }

    printf("exec: empty jobs on %u worker thread(s) each (%ld CPU(s)), "
           "%llu run(s) of each, interleaved, each in a fresh child; "
           "medians of the runs\n",
           threads, ncpu, (unsigned long long)reps);
    printf("  round trip (submit, await the result), %llu timed one by one\n",
           (unsigned long long)rt_n);
    printf("  %-44s %9s %9s %9s %12s\n", "", "p50", "p99", "max",
           "round trips/s");
    for (int k = V_RT_TASK; k <= V_RT_UV; k++)
        printf("  %-44s %6.1f us %6.1f us %6.0f us %12.0f\n", names[k],
               bench_median(p50[k], reps) / 1e3,
               bench_median(p99[k], reps) / 1e3,
               bench_median(mx[k], reps) / 1e3, bench_median(rate[k], reps));
    printf("  throughput, %d in flight, %llu jobs\n", INFLIGHT,
           (unsigned long long)tp_n);
    printf("  %-44s %12s %25s\n", "", "jobs/s", "(min .. max)");
    for (int k = V_TP_TASK; k <= V_TP_UV; k++)
        printf("  %-44s %12.0f %12.0f .. %-12.0f\n", names[k],
               bench_median(rate[k], reps), bench_min(rate[k], reps),
               bench_max(rate[k], reps));
    double wrt = bench_median(p50[V_RT_TASK], reps);
    double urt = bench_median(p50[V_RT_UV], reps);
    double wtp = bench_median(rate[V_TP_TASK], reps);
    double utp = bench_median(rate[V_TP_UV], reps);
    printf("  ratio libuv / weft: round trip p50 %.2f (to_thread), %.2f "
           "(callbacks); jobs/s weft / libuv %.2f (tasks), %.2f "
           "(callbacks)\n",
           urt / wrt, urt / bench_median(p50[V_RT_CB], reps), wtp / utp,
           bench_median(rate[V_TP_CB], reps) / utp);
    printf("  target weft round trip p50 <= libuv's: %s; jobs/s >= libuv's: "
           "%s\n",
           bench_yesno(wrt <= urt), bench_yesno(wtp >= utp));
    printf("RESULT exec weft_roundtrip_p50 %.1f us\n", wrt / 1e3);
    printf("RESULT exec libuv_roundtrip_p50 %.1f us\n", urt / 1e3);
    printf("RESULT exec weft_jobs_per_s %.0f jobs/s\n", wtp);
    printf("RESULT exec libuv_jobs_per_s %.0f jobs/s\n", utp);
    for (int k = 0; k < NV; k++) {
        free(p50[k]);
        free(p99[k]);
        free(mx[k]);
        free(rate[k]);
    }
    return 0;
}
