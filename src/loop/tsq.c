/* call_soon_threadsafe: a mutex-protected array that the loop swaps out in
 * one step, and an eventfd written only when the queue goes from empty to
 * non-empty (the `pending` flag), so a burst from many threads costs one
 * wakeup. The loop checks `pending` with one atomic load per iteration and
 * so needs no poll to notice calls while it is busy.
 *
 * The arrays grow on whichever thread posts and are freed on the loop's,
 * so they come from the C library's allocator, not from
 * weft_replace_allocator's hooks: core.h promises those are only called
 * inside a weft call, on the thread making it, and never here. */
#include <stdlib.h>

#include "loop_int.h"

int weft__tsq_init(struct weft__tsq *q) {
    q->v = q->spare = NULL;
    q->n = q->cap = q->spare_cap = 0;
    q->closed = false;
    atomic_init(&q->pending, 0);
    int err = pthread_mutex_init(&q->mu, NULL);
    return err ? -err : 0;
}

void weft__tsq_fini(struct weft__tsq *q) {
    pthread_mutex_destroy(&q->mu);
    free(q->v);
    free(q->spare);
    q->v = q->spare = NULL;
}

void weft__tsq_close(weft_loop_t *loop) {
    pthread_mutex_lock(&loop->tsq.mu);
    loop->tsq.closed = true;
    pthread_mutex_unlock(&loop->tsq.mu);
}

int weft_call_soon_threadsafe(weft_loop_t *loop, weft_callback_fn fn,
                              void *arg) {
    if (!loop || !fn)
        return -EINVAL;
    struct weft__tsq *q = &loop->tsq;
    int err = 0;
    bool wake = false;
    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        err = -ESHUTDOWN;
    } else {
        if (q->n == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 64;
            struct weft__tsq_item *v = realloc(q->v, cap * sizeof *v);
            if (v) {
                q->v = v;
                q->cap = cap;
            } else {
                err = -ENOMEM;
            }
        }
        if (!err) {
            q->v[q->n].fn = fn;
            q->v[q->n].arg = arg;
            q->n++;
            if (!atomic_load_explicit(&q->pending, memory_order_relaxed)) {
                atomic_store_explicit(&q->pending, 1, memory_order_release);
                wake = true;
            }
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (wake)
        weft__poller_wake(loop);
    return err;
}

size_t weft__tsq_drain(weft_loop_t *loop) {
    struct weft__tsq *q = &loop->tsq;
    weft__poller_wake_drain(loop);
    pthread_mutex_lock(&q->mu);
    struct weft__tsq_item *v = q->v;
    size_t n = q->n, cap = q->cap;
    /* Swap in the spare array so producers do not wait for the calls. */
    q->v = q->spare;
    q->cap = q->spare_cap;
    q->n = 0;
    q->spare = NULL;
    q->spare_cap = 0;
    atomic_store_explicit(&q->pending, 0, memory_order_relaxed);
    pthread_mutex_unlock(&q->mu);

    for (size_t i = 0; i < n; i++)
        v[i].fn(v[i].arg);

    pthread_mutex_lock(&q->mu);
    if (!q->spare) {
        q->spare = v;
        q->spare_cap = cap;
        v = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    free(v);
    return n;
}
