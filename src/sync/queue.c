/* Queues: FIFO (a ring of pointers), LIFO (a stack of pointers) and
 * priority (a binary min-heap of {item, priority, arrival} entries), with
 * FIFO lists of waiting getters, putters and joiners.
 *
 * Invariants: getters wait only while the queue is empty, putters only
 * while it is full. So a put with getters waiting hands its item straight
 * to the first getter, and a get from a full queue with putters waiting
 * takes the first putter's item into the freed slot at once. Either way
 * the waiter is woken with its transfer already done, and a task arriving
 * in between finds nothing to take.
 */
#include <string.h>

#include "sync_int.h"

enum { KIND_FIFO, KIND_LIFO, KIND_PRIO };

/* Buffers larger than this are freed when the queue empties. */
#define SHRINK_CAP 64
#define FIRST_CAP 8

struct entry {
    void *item;
    int64_t prio;
    uint64_t seq; /* arrival: FIFO among equal ranks */
};

struct weft__queue {
    struct weft__sync_hdr h;
    uint8_t kind;
    bool shut;
    size_t maxsize;    /* 0: unbounded */
    size_t count;      /* items in buf */
    size_t cap;        /* slots in buf (a power of 2 for the ring) */
    size_t head;       /* FIFO: index of the oldest item */
    size_t unfinished; /* put and not yet task_done */
    uint64_t seq;
    void *buf; /* void *[cap], or struct entry[cap] */
    weft_queue_cmp_fn cmp;
    void *cmp_arg;
    struct weft__list getters, putters, joiners; /* weft__waiter */
};

_Static_assert(sizeof(struct weft__queue) <= sizeof(weft_queue_t),
               "weft_queue_t too small");
_Static_assert(_Alignof(struct weft__queue) <= _Alignof(weft_queue_t),
               "weft_queue_t misaligned");

static inline struct weft__queue *Q(weft_queue_t *q) {
    return (struct weft__queue *)(void *)q;
}

static inline const struct weft__queue *CQ(const weft_queue_t *q) {
    return (const struct weft__queue *)(const void *)q;
}

static inline int check(struct weft__queue *q, bool task, const char *fn) {
    return weft__sync_check(q ? &q->h : NULL, WEFT__SYNC_QUEUE, task, fn);
}

static inline bool is_full(const struct weft__queue *q) {
    return q->maxsize && q->count >= q->maxsize;
}

/* ---- the buffer ------------------------------------------------------------ */

static inline size_t entry_size(const struct weft__queue *q) {
    return q->kind == KIND_PRIO ? sizeof(struct entry) : sizeof(void *);
}

/* Room for one more item. */
static int reserve(struct weft__queue *q) {
    if (WEFT__LIKELY(q->count < q->cap))
        return 0;
    size_t esz = entry_size(q);
    size_t ncap = q->cap ? q->cap * 2 : FIRST_CAP;
    if (ncap < q->cap || ncap > SIZE_MAX / esz)
        return -ENOMEM;
    char *nb = weft__realloc(q->buf, ncap * esz);
    if (!nb)
        return -ENOMEM;
    /* A full ring that wraps: its start is at head, its end below it.
     * Move the part below to just after the old end, so that it runs from
     * head to head + count within the doubled ring. */
    if (q->kind == KIND_FIFO && q->head > 0)
        memcpy(nb + q->cap * esz, nb, q->head * esz);
    q->buf = nb;
    q->cap = ncap;
    return 0;
}

static void release_buffer(struct weft__queue *q) {
    weft__free(q->buf);
    q->buf = NULL;
    q->cap = 0;
    q->head = 0;
}

/* An empty queue gives back a buffer a burst made big. */
static inline void maybe_shrink(struct weft__queue *q) {
    if (q->count == 0 && q->cap > SHRINK_CAP)
        release_buffer(q);
}

/* Does a come out before b? */
static bool before(const struct weft__queue *q, const struct entry *a,
                   const struct entry *b) {
    if (a->prio != b->prio)
        return a->prio < b->prio;
    if (q->cmp) {
        int c = q->cmp(a->item, b->item, q->cmp_arg);
        if (c)
            return c < 0;
    }
    return a->seq < b->seq;
}

static void heap_push(struct weft__queue *q, void *item, int64_t prio) {
    struct entry *h = q->buf;
    struct entry e = {item, prio, q->seq++};
    size_t i = q->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(q, &e, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static void *heap_pop(struct weft__queue *q) {
    struct entry *h = q->buf;
    void *top = h[0].item;
    struct entry last = h[--q->count];
    size_t n = q->count, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(q, &h[c + 1], &h[c]))
            c++;
        if (!before(q, &h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0)
        h[i] = last;
    return top;
}

/* Store an item (room was reserved). */
static inline void push(struct weft__queue *q, void *item, int64_t prio) {
    void **ring = q->buf;
    switch (q->kind) {
    case KIND_FIFO:
        ring[(q->head + q->count) & (q->cap - 1)] = item;
        q->count++;
        break;
    case KIND_LIFO:
        ring[q->count++] = item;
        break;
    default:
        heap_push(q, item, prio);
        break;
    }
}

/* Remove the next item (count > 0). */
static inline void *pop(struct weft__queue *q) {
    void **ring = q->buf;
    void *item;
    switch (q->kind) {
    case KIND_FIFO:
        item = ring[q->head];
        q->head = (q->head + 1) & (q->cap - 1);
        q->count--;
        if (q->count == 0)
            q->head = 0;
        return item;
    case KIND_LIFO:
        return ring[--q->count];
    default:
        return heap_pop(q);
    }
}

/* ---- life ------------------------------------------------------------------ */

static int init(weft_queue_t *queue, int kind, size_t maxsize,
                weft_queue_cmp_fn cmp, void *cmp_arg) {
    struct weft__queue *q = Q(queue);
    if (!q)
        return -EINVAL;
    memset(q, 0, sizeof *q);
    weft__sync_hdr_init(&q->h, WEFT__SYNC_QUEUE);
    q->kind = (uint8_t)kind;
    q->maxsize = maxsize;
    q->cmp = cmp;
    q->cmp_arg = cmp_arg;
    weft__list_init(&q->getters);
    weft__list_init(&q->putters);
    weft__list_init(&q->joiners);
    return 0;
}

int weft_queue_init(weft_queue_t *queue, size_t maxsize) {
    return init(queue, KIND_FIFO, maxsize, NULL, NULL);
}

int weft_queue_init_lifo(weft_queue_t *queue, size_t maxsize) {
    return init(queue, KIND_LIFO, maxsize, NULL, NULL);
}

int weft_queue_init_prio(weft_queue_t *queue, size_t maxsize,
                         weft_queue_cmp_fn cmp, void *cmp_arg) {
    return init(queue, KIND_PRIO, maxsize, cmp, cmp_arg);
}

/* Pass every queued item to drop, in get order; returns how many. */
static size_t drain(struct weft__queue *q, weft_queue_drop_fn drop,
                    void *arg, bool done) {
    size_t n = 0;
    while (q->count > 0) {
        void *item = pop(q);
        n++;
        if (done && q->unfinished > 0)
            q->unfinished--;
        if (drop)
            drop(item, arg);
    }
    return n;
}

int weft_queue_destroy(weft_queue_t *queue, weft_queue_drop_fn drop,
                       void *arg) {
    struct weft__queue *q = Q(queue);
    if (!q || q->h.magic != WEFT__SYNC_QUEUE)
        return -EINVAL;
    /* Dead first: a drop function that calls back into the queue is told
     * so instead of finding it half taken apart. */
    int err = weft__sync_retire(&q->h,
                                !weft__list_empty(&q->getters) ||
                                    !weft__list_empty(&q->putters) ||
                                    !weft__list_empty(&q->joiners),
                                "weft_queue_destroy");
    if (err)
        return err;
    drain(q, drop, arg, false);
    release_buffer(q);
    return 0;
}

/* ---- put ------------------------------------------------------------------- */

/* The queue gained a free slot: the first waiting putter's item takes it. */
static void admit(struct weft__queue *q) {
    while (!weft__list_empty(&q->putters) && !is_full(q) && reserve(q) == 0) {
        struct weft__waiter *wt = weft__waiter_pop(&q->putters);
        push(q, wt->item, wt->prio);
        q->unfinished++;
        weft__task_wake(wt->w.task, 0);
    }
}

static int put(weft_queue_t *queue, void *item, int64_t prio, bool wait,
               const char *fn) {
    struct weft__queue *q = Q(queue);
    int err = check(q, wait, fn);
    if (err)
        return err;
    if (q->shut)
        return -ESHUTDOWN;
    if (!weft__list_empty(&q->getters)) {
        /* Waiting getters: the queue is empty; the first one gets it. */
        struct weft__waiter *wt = weft__waiter_pop(&q->getters);
        wt->item = item;
        q->unfinished++;
        weft__task_wake(wt->w.task, 0);
        return 0;
    }
    if (!is_full(q)) {
        err = reserve(q);
        if (err)
            return err;
        push(q, item, prio);
        q->unfinished++;
        return 0;
    }
    if (!wait)
        return -EAGAIN;
    /* consumes: once our item is admitted the put has happened, and must
     * say so even if a cancel comes before we run again (the caller would
     * otherwise free an item the queue holds). */
    struct weft__waiter wt = {
        .w = {.consumes = true, .kind = WEFT__WAIT_QUEUE_PUT, .obj = q},
        .item = item,
        .prio = prio};
    return weft__waiter_park(&q->putters, &wt);
}

int weft_queue_put(weft_queue_t *queue, void *item) {
    return put(queue, item, 0, true, "weft_queue_put");
}

int weft_queue_put_nowait(weft_queue_t *queue, void *item) {
    return put(queue, item, 0, false, "weft_queue_put_nowait");
}

/* An explicit priority is refused by non-priority queues (even 0). */
static int put_prio(weft_queue_t *queue, void *item, int64_t prio, bool wait,
                    const char *fn) {
    struct weft__queue *q = Q(queue);
    if (q && q->h.magic == WEFT__SYNC_QUEUE && q->kind != KIND_PRIO) {
        int err = check(q, wait, fn);
        if (err)
            return err;
        weft__log(WEFT_LOG_WARN, "%s: queue %p is not a priority queue", fn,
                  (void *)queue);
        return -EINVAL;
    }
    return put(queue, item, prio, wait, fn);
}

int weft_queue_put_prio(weft_queue_t *queue, void *item, int64_t prio) {
    return put_prio(queue, item, prio, true, "weft_queue_put_prio");
}

int weft_queue_put_prio_nowait(weft_queue_t *queue, void *item,
                               int64_t prio) {
    return put_prio(queue, item, prio, false, "weft_queue_put_prio_nowait");
}

/* ---- get ------------------------------------------------------------------- */

static int get(weft_queue_t *queue, void **item, bool wait, const char *fn) {
    struct weft__queue *q = Q(queue);
    int err = check(q, wait, fn);
    if (err)
        return err;
    if (!item)
        return -EINVAL;
    if (q->count > 0) {
        *item = pop(q);
        admit(q);
        maybe_shrink(q);
        return 0;
    }
    if (q->shut)
        return -ESHUTDOWN;
    if (!wait)
        return -EAGAIN;
    /* consumes: an item handed to us is returned even if a cancel comes
     * before we run again; the cancel shows at the next wait. */
    struct weft__waiter wt = {
        .w = {.consumes = true, .kind = WEFT__WAIT_QUEUE_GET, .obj = q}};
    int r = weft__waiter_park(&q->getters, &wt);
    if (r == 0)
        *item = wt.item;
    return r;
}

int weft_queue_get(weft_queue_t *queue, void **item) {
    return get(queue, item, true, "weft_queue_get");
}

int weft_queue_get_nowait(weft_queue_t *queue, void **item) {
    return get(queue, item, false, "weft_queue_get_nowait");
}

/* ---- queries ----------------------------------------------------------------- */

size_t weft_queue_qsize(const weft_queue_t *queue) {
    return queue ? CQ(queue)->count : 0;
}

size_t weft_queue_maxsize(const weft_queue_t *queue) {
    return queue ? CQ(queue)->maxsize : 0;
}

bool weft_queue_empty(const weft_queue_t *queue) {
    return !queue || CQ(queue)->count == 0;
}

bool weft_queue_full(const weft_queue_t *queue) {
    return queue && is_full(CQ(queue));
}

size_t weft_queue_unfinished(const weft_queue_t *queue) {
    return queue ? CQ(queue)->unfinished : 0;
}

bool weft_queue_is_shutdown(const weft_queue_t *queue) {
    return queue && CQ(queue)->shut;
}

/* ---- task_done, join, shutdown ---------------------------------------------- */

int weft_queue_task_done(weft_queue_t *queue) {
    struct weft__queue *q = Q(queue);
    int err = check(q, false, "weft_queue_task_done");
    if (err)
        return err;
    if (q->unfinished == 0) {
        weft__log(WEFT_LOG_WARN, "weft_queue_task_done: called more times "
                                 "than items were put in queue %p",
                  (void *)queue);
        return -EINVAL;
    }
    if (--q->unfinished == 0)
        weft__waiter_wake_all(&q->joiners, 0);
    return 0;
}

int weft_queue_join(weft_queue_t *queue) {
    struct weft__queue *q = Q(queue);
    int err = check(q, true, "weft_queue_join");
    if (err || q->unfinished == 0)
        return err;
    struct weft__waiter wt = {.w = {.kind = WEFT__WAIT_QUEUE_JOIN, .obj = q}};
    return weft__waiter_park(&q->joiners, &wt);
}

int weft_queue_shutdown(weft_queue_t *queue, bool immediate,
                        weft_queue_drop_fn drop, void *arg) {
    struct weft__queue *q = Q(queue);
    int err = check(q, false, "weft_queue_shutdown");
    if (err)
        return err;
    q->shut = true;
    /* Waiting getters (the queue is empty) and putters (their items were
     * not queued: still theirs) learn it at once. */
    weft__waiter_wake_all(&q->getters, -ESHUTDOWN);
    weft__waiter_wake_all(&q->putters, -ESHUTDOWN);
    if (!immediate)
        return 0;
    /* The state is consistent at every call of drop (each item is out of
     * the queue and counted done before it is passed on). */
    if (drain(q, drop, arg, true) > 0) {
        maybe_shrink(q);
        if (q->unfinished == 0)
            weft__waiter_wake_all(&q->joiners, 0);
    }
    return 0;
}
