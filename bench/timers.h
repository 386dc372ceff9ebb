/* timers.h - what bench/timers.c and its libuv peer (uv_timers.c) share. */
#ifndef WEFT_BENCH_TIMERS_H
#define WEFT_BENCH_TIMERS_H

#include <stdint.h>

struct timers_result {
    uint64_t sched_ns;  /* scheduling all N timers */
    uint64_t total_ns;  /* first schedule to last firing (fire runs) or
                           to the end of the cancels (cancel runs) */
    uint64_t cancel_ns; /* cancel runs: cancelling all N */
    uint64_t fired;     /* callbacks that ran */
    uint64_t late_sum;  /* lateness (firing - t0 - delay), summed over the */
    uint64_t late_max;  /* sampled timers (i % LATE_SAMPLE == 0), and max */
    uint64_t late_n;
};

/* Every LATE_SAMPLE-th timer reads the clock when it fires. */
#define LATE_SAMPLE 16

static inline void timers_note_late(struct timers_result *r, uint64_t now,
                                    uint64_t due) {
    uint64_t late = now > due ? now - due : 0;
    r->late_sum += late;
    r->late_n++;
    if (late > r->late_max)
        r->late_max = late;
}

/* libuv: N uv_timer_t started with delay_ms[i], run until all fired. */
int uv_timers_fire(uint64_t n, const uint64_t *delay_ms,
                   struct timers_result *out);
/* libuv: start N timers, then uv_timer_stop every one. */
int uv_timers_cancel(uint64_t n, const uint64_t *delay_ms,
                     struct timers_result *out);

#endif
