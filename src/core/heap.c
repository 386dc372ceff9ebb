#include "heap.h"

#include "common.h"

#define ARITY 4
#define MIN_CAP 64

void weft__heap_init(struct weft__heap *h) {
    h->k = NULL;
    h->t = NULL;
    h->n = h->cap = 0;
    h->seq = 0;
}

void weft__heap_fini(struct weft__heap *h) {
    for (uint32_t i = 0; i < h->n; i++)
        h->t[i]->idx = WEFT__TIMER_IDLE;
    weft__free(h->k);
    weft__free(h->t);
    weft__heap_init(h);
}

static inline bool before(const struct weft__heap_key *a,
                          const struct weft__heap_key *b) {
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void place(struct weft__heap *h, uint32_t i,
                         struct weft__heap_key k, struct weft__timer *t) {
    h->k[i] = k;
    h->t[i] = t;
    t->idx = i;
}

static void sift_up(struct weft__heap *h, uint32_t i, struct weft__heap_key k,
                    struct weft__timer *t) {
    while (i > 0) {
        uint32_t p = (i - 1) / ARITY;
        if (!before(&k, &h->k[p]))
            break;
        place(h, i, h->k[p], h->t[p]);
        i = p;
    }
    place(h, i, k, t);
}

static void sift_down(struct weft__heap *h, uint32_t i,
                      struct weft__heap_key k, struct weft__timer *t) {
    for (;;) {
        uint32_t c = ARITY * i + 1;
        if (c >= h->n)
            break;
        uint32_t end = c + ARITY < h->n ? c + ARITY : h->n;
        uint32_t m = c;
        for (uint32_t j = c + 1; j < end; j++)
            if (before(&h->k[j], &h->k[m]))
                m = j;
        if (!before(&h->k[m], &k))
            break;
        place(h, i, h->k[m], h->t[m]);
        i = m;
    }
    place(h, i, k, t);
}

static int resize(struct weft__heap *h, uint32_t cap) {
    struct weft__heap_key *k = weft__realloc(h->k, (size_t)cap * sizeof *k);
    if (!k)
        return -ENOMEM;
    h->k = k;
    struct weft__timer **t = weft__realloc(h->t, (size_t)cap * sizeof *t);
    if (!t) {
        /* Growing, k is larger than needed: harmless. Shrinking, k is
         * smaller already: the capacity is now the smaller of the two. */
        if (cap < h->cap)
            h->cap = cap;
        return -ENOMEM;
    }
    h->t = t;
    h->cap = cap;
    return 0;
}

/* After a burst, give memory back: halve when a quarter full. */
static void maybe_shrink(struct weft__heap *h) {
    if (h->cap <= 4 * MIN_CAP || h->n > h->cap / 4)
        return;
    resize(h, h->cap / 2);
}

int weft__heap_push(struct weft__heap *h, struct weft__timer *t) {
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : MIN_CAP;
        if (cap < h->cap || resize(h, cap))
            return -ENOMEM;
    }
    struct weft__heap_key k = {t->when, h->seq++};
    sift_up(h, h->n++, k, t);
    return 0;
}

void weft__heap_remove(struct weft__heap *h, struct weft__timer *t) {
    uint32_t i = t->idx;
    t->idx = WEFT__TIMER_IDLE;
    uint32_t last = --h->n;
    if (i != last) {
        struct weft__heap_key k = h->k[last];
        struct weft__timer *lt = h->t[last];
        if (i > 0 && before(&k, &h->k[(i - 1) / ARITY]))
            sift_up(h, i, k, lt);
        else
            sift_down(h, i, k, lt);
    }
    maybe_shrink(h);
}

struct weft__timer *weft__heap_pop_due(struct weft__heap *h, uint64_t now) {
    if (h->n == 0 || h->k[0].when > now)
        return NULL;
    struct weft__timer *t = h->t[0];
    t->idx = WEFT__TIMER_IDLE;
    uint32_t last = --h->n;
    if (last > 0)
        sift_down(h, 0, h->k[last], h->t[last]);
    maybe_shrink(h);
    return t;
}
