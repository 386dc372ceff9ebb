/* uv_exec.c - the libuv peer of bench/exec.c, written against libuv's
 * public API: uv_queue_work with an empty work callback; the after-work
 * callback (on the loop thread) records the round trip and queues the
 * next. The pool size is set through UV_THREADPOOL_SIZE by exec.c before
 * the first job (libuv reads it once per process). */
#include <stdlib.h>

#include <uv.h>

#include "bench_util.h"
#include "exec.h"

struct uv_ctx {
    uv_loop_t *loop;
    uint64_t n, submitted, completed, warm;
    uint64_t *lat;
    uint64_t t_submit, t0, t_end;
};

static void work_empty(uv_work_t *req) {
    (void)req;
}

static void after_roundtrip(uv_work_t *req, int status) {
    struct uv_ctx *c = req->data;
    uint64_t now = bench_now_ns();
    if (status != 0)
        return; /* counted as missing */
    if (c->completed >= c->warm)
        c->lat[c->completed - c->warm] = now - c->t_submit;
    if (++c->completed == c->warm)
        c->t0 = bench_now_ns();
    if (c->completed == c->warm + c->n) {
        c->t_end = now;
        return;
    }
    c->t_submit = bench_now_ns();
    uv_queue_work(c->loop, req, work_empty, after_roundtrip);
}

int uv_exec_roundtrip(uint64_t n, struct exec_result *out) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return -1;
    struct uv_ctx c = {&loop, n, 0, 0, EXEC_WARMUP, NULL, 0, 0, 0};
    c.lat = malloc(n * sizeof *c.lat);
    if (!c.lat)
        return -1;
    uv_work_t req;
    req.data = &c;
    c.t_submit = bench_now_ns();
    if (uv_queue_work(&loop, &req, work_empty, after_roundtrip) != 0)
        return -1;
    uv_run(&loop, UV_RUN_DEFAULT);
    out->jobs = c.completed - c.warm;
    out->total_ns = c.t_end - c.t0;
    exec_percentiles(c.lat, n, out);
    free(c.lat);
    uv_loop_close(&loop);
    return out->jobs == n ? 0 : -1;
}

static void after_throughput(uv_work_t *req, int status) {
    struct uv_ctx *c = req->data;
    if (status != 0)
        return;
    if (++c->completed == c->n) {
        c->t_end = bench_now_ns();
        return;
    }
    if (c->submitted < c->n) {
        c->submitted++;
        uv_queue_work(c->loop, req, work_empty, after_throughput);
    }
}

int uv_exec_throughput(uint64_t n, unsigned inflight,
                       struct exec_result *out) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return -1;
    uv_work_t *reqs = malloc(inflight * sizeof *reqs);
    if (!reqs)
        return -1;
    struct uv_ctx c = {&loop, n, 0, 0, 0, NULL, 0, 0, 0};
    /* Start the pool's threads outside the timed part, as for weft. */
    uv_work_t warm;
    warm.data = &c;
    c.n = 1;
    uv_queue_work(&loop, &warm, work_empty, after_throughput);
    uv_run(&loop, UV_RUN_DEFAULT);
    c.n = n;
    c.completed = 0;
    c.t0 = bench_now_ns();
    for (unsigned i = 0; i < inflight && c.submitted < n; i++) {
        reqs[i].data = &c;
        c.submitted++;
        if (uv_queue_work(&loop, &reqs[i], work_empty, after_throughput) != 0)
            return -1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    out->jobs = c.completed;
    out->total_ns = c.t_end - c.t0;
    free(reqs);
    uv_loop_close(&loop);
    return c.completed == n ? 0 : -1;
}
