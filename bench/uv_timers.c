/* uv_timers.c - the libuv peer of bench/timers.c, written against libuv's
 * public API: an array of uv_timer_t, uv_timer_init + uv_timer_start each,
 * uv_run until the last one fired. */
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "bench_util.h"
#include "timers.h"

struct uv_ctx {
    uint64_t n, fired, t_end, t0;
    uv_timer_t *timers;
    const uint64_t *delay_ms;
    struct timers_result *out;
};

static void on_timer(uv_timer_t *t) {
    struct uv_ctx *c = t->data;
    uint64_t i = (uint64_t)(t - c->timers);
    if (i % LATE_SAMPLE == 0)
        timers_note_late(c->out, bench_now_ns(),
                         c->t0 + c->delay_ms[i] * 1000000u);
    if (++c->fired == c->n)
        c->t_end = bench_now_ns();
}

int uv_timers_fire(uint64_t n, const uint64_t *delay_ms,
                   struct timers_result *out) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return -1;
    uv_timer_t *timers = malloc(n * sizeof *timers);
    if (!timers)
        return -1;
    struct uv_ctx c = {n, 0, 0, 0, timers, delay_ms, out};
    uv_update_time(&loop);
    uint64_t t0 = bench_now_ns();
    c.t0 = t0;
    for (uint64_t i = 0; i < n; i++) {
        uv_timer_init(&loop, &timers[i]);
        timers[i].data = &c;
        if (uv_timer_start(&timers[i], on_timer, delay_ms[i], 0) != 0)
            return -1;
    }
    uint64_t t1 = bench_now_ns();
    uv_run(&loop, UV_RUN_DEFAULT); /* returns when no timer is active */
    out->sched_ns = t1 - t0;
    out->total_ns = c.t_end - t0;
    out->fired = c.fired;
    /* The handles are not closed: this runs in a child that exits now. */
    return c.fired == n ? 0 : -1;
}

int uv_timers_cancel(uint64_t n, const uint64_t *delay_ms,
                     struct timers_result *out) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return -1;
    uv_timer_t *timers = malloc(n * sizeof *timers);
    if (!timers)
        return -1;
    struct uv_ctx c = {n, 0, 0, 0, timers, delay_ms, out};
    uv_update_time(&loop);
    uint64_t t0 = bench_now_ns();
    c.t0 = t0;
    for (uint64_t i = 0; i < n; i++) {
        uv_timer_init(&loop, &timers[i]);
        timers[i].data = &c;
        if (uv_timer_start(&timers[i], on_timer, delay_ms[i], 0) != 0)
            return -1;
    }
    uint64_t t1 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++)
        uv_timer_stop(&timers[i]);
    uint64_t t2 = bench_now_ns();
    uv_run(&loop, UV_RUN_NOWAIT); /* nothing may fire */
    out->sched_ns = t1 - t0;
    out->cancel_ns = t2 - t1;
    out->total_ns = t2 - t0;
    out->fired = c.fired;
    return c.fired == 0 ? 0 : -1;
}
