/* Internal: the timer heap.
 *
 * A 4-ary min-heap. The keys {when, seq} sit in one array (four children
 * share a cache line, and comparing them, ties included, never leaves it:
 * the sequence number orders timers due at the same time, which timers
 * armed in one iteration with the same delay always are), the timer
 * pointers in a parallel array. Each timer carries its own index, so
 * removal is O(log n); arming never allocates except to grow the arrays.
 * Timers due at the same time fire in the order they were armed. */
#ifndef WEFT_CORE_HEAP_H
#define WEFT_CORE_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define WEFT__TIMER_IDLE UINT32_MAX

struct weft__timer {
    uint64_t when; /* loop nanoseconds */
    void (*fire)(struct weft__timer *t);
    struct weft__timer *next_due; /* the loop's list while firing */
    uint32_t idx; /* position in the heap, WEFT__TIMER_IDLE or _DUE */
};

struct weft__heap_key {
    uint64_t when, seq;
};

struct weft__heap {
    struct weft__heap_key *k;
    struct weft__timer **t;
    uint32_t n, cap;
    uint64_t seq;
};

static inline void weft__timer_init(struct weft__timer *t,
                                    void (*fire)(struct weft__timer *)) {
    t->when = 0;
    t->fire = fire;
    t->idx = WEFT__TIMER_IDLE;
}

/* Popped by the loop and waiting in its list of timers to fire in this
 * iteration: no longer armed, but a cancel must still stop it (an earlier
 * timer of the same batch may interrupt the wait this one would end). */
#define WEFT__TIMER_DUE (UINT32_MAX - 1)

static inline bool weft__timer_armed(const struct weft__timer *t) {
    return t->idx < WEFT__TIMER_DUE;
}

void weft__heap_init(struct weft__heap *h);
void weft__heap_fini(struct weft__heap *h);
/* Arm t at t->when. Returns 0 or -ENOMEM. t must not be armed. */
int weft__heap_push(struct weft__heap *h, struct weft__timer *t);
/* Disarm an armed timer. */
void weft__heap_remove(struct weft__heap *h, struct weft__timer *t);
/* Pop the earliest timer if it is due at `now`; NULL otherwise. */
struct weft__timer *weft__heap_pop_due(struct weft__heap *h, uint64_t now);

static inline bool weft__heap_empty(const struct weft__heap *h) {
    return h->n == 0;
}

static inline uint64_t weft__heap_min(const struct weft__heap *h) {
    return h->k[0].when;
}

#endif
