#include "heap.h"

#include "common.h"

#define ARITY 4
#define MIN_CAP 64

void weft__heap_init(struct weft__heap *h) {
    h->v = NULL;
    h->n = h->cap = 0;
    h->seq = 0;
}

void weft__heap_fini(struct weft__heap *h) {
    for (uint32_t i = 0; i < h->n; i++)
        h->v[i].t->idx = WEFT__TIMER_IDLE;
    weft__free(h->v);
    weft__heap_init(h);
}

static inline bool before(const struct weft__heap_ent *a,
                          const struct weft__heap_ent *b) {
    if (a->when != b->when)
        return a->when < b->when;
    return a->t->seq < b->t->seq;
}

static inline void place(struct weft__heap *h, uint32_t i,
                         struct weft__heap_ent e) {
    h->v[i] = e;
    e.t->idx = i;
}

static void sift_up(struct weft__heap *h, uint32_t i, struct weft__heap_ent e) {
    while (i > 0) {
        uint32_t p = (i - 1) / ARITY;
        if (!before(&e, &h->v[p]))
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, e);
}

static void sift_down(struct weft__heap *h, uint32_t i,
                      struct weft__heap_ent e) {
    for (;;) {
        uint32_t c = ARITY * i + 1;
        if (c >= h->n)
            break;
        uint32_t end = c + ARITY < h->n ? c + ARITY : h->n;
        uint32_t m = c;
        for (uint32_t k = c + 1; k < end; k++)
            if (before(&h->v[k], &h->v[m]))
                m = k;
        if (!before(&h->v[m], &e))
            break;
        place(h, i, h->v[m]);
        i = m;
    }
    place(h, i, e);
}

static int grow(struct weft__heap *h) {
    uint32_t cap = h->cap ? h->cap * 2 : MIN_CAP;
    if (cap < h->cap)
        return -ENOMEM;
    struct weft__heap_ent *v = weft__realloc(h->v, (size_t)cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

/* After a burst, give memory back: halve when a quarter full. */
static void maybe_shrink(struct weft__heap *h) {
    if (h->cap <= 4 * MIN_CAP || h->n > h->cap / 4)
        return;
    struct weft__heap_ent *v =
        weft__realloc(h->v, (size_t)(h->cap / 2) * sizeof *v);
    if (v) {
        h->v = v;
        h->cap /= 2;
    }
}

int weft__heap_push(struct weft__heap *h, struct weft__timer *t) {
    if (h->n == h->cap) {
        int err = grow(h);
        if (err)
            return err;
    }
    t->seq = h->seq++;
    struct weft__heap_ent e = {t->when, t};
    sift_up(h, h->n++, e);
    return 0;
}

void weft__heap_remove(struct weft__heap *h, struct weft__timer *t) {
    uint32_t i = t->idx;
    t->idx = WEFT__TIMER_IDLE;
    struct weft__heap_ent last = h->v[--h->n];
    if (i != h->n) {
        if (i > 0 && before(&last, &h->v[(i - 1) / ARITY]))
            sift_up(h, i, last);
        else
            sift_down(h, i, last);
    }
    maybe_shrink(h);
}

struct weft__timer *weft__heap_pop_due(struct weft__heap *h, uint64_t now) {
    if (h->n == 0 || h->v[0].when > now)
        return NULL;
    struct weft__timer *t = h->v[0].t;
    t->idx = WEFT__TIMER_IDLE;
    struct weft__heap_ent last = h->v[--h->n];
    if (h->n > 0)
        sift_down(h, 0, last);
    maybe_shrink(h);
    return t;
}
