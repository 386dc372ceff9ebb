/* What the synchronisation objects share: binding to a loop, misuse
 * reports, and parking in a FIFO waiter list. */
#include "sync_int.h"

/* Identifies the calling thread without reading anything (loop.c has its
 * own token; this one is compared only). */
static WEFT__TLS char thread_token;

void weft__sync_hdr_init(struct weft__sync_hdr *h, uint32_t magic) {
    h->loop = NULL;
    h->thread = NULL;
    h->magic = magic;
}

static const char *kind_name(uint32_t magic) {
    switch (magic) {
    case WEFT__SYNC_LOCK:
        return "lock";
    case WEFT__SYNC_EVENT:
        return "event";
    case WEFT__SYNC_COND:
        return "condition";
    case WEFT__SYNC_SEM:
        return "semaphore";
    default:
        return "queue";
    }
}

int weft__sync_retire(struct weft__sync_hdr *h, bool busy, const char *fn) {
    if (busy) {
        weft__log(WEFT_LOG_WARN, "%s: tasks are waiting on %s %p", fn,
                  kind_name(h->magic), (void *)h);
        return -EBUSY;
    }
    h->magic = 0;
    return 0;
}

int weft__sync_check_slow(struct weft__sync_hdr *h, uint32_t magic,
                          const char *fn) {
    if (!h)
        return -EINVAL;
    if (h->magic != magic) {
        weft__log(WEFT_LOG_WARN,
                  "%s: %s %p is not initialised (or was destroyed)", fn,
                  kind_name(magic), (void *)h);
        return -EINVAL;
    }
    weft_loop_t *cur = weft__tls_loop;
    if (!h->loop) {
        /* First use under a loop binds it; before that, with no loop
         * running here, nothing can wait on it and nothing is bound. */
        if (cur) {
            h->loop = cur;
            h->thread = &thread_token;
        }
        return 0;
    }
    /* The loop's own thread while the loop is not running (setting up
     * before weft_loop_run_*, draining after weft_run): allowed. The loop
     * may be gone by then, so only the thread is compared. */
    if (!cur && h->thread == &thread_token)
        return 0;
    weft__log(WEFT_LOG_WARN,
              "%s: %s %p belongs to loop %p, used from %s", fn,
              kind_name(magic), (void *)h, (void *)h->loop,
              cur ? "another loop" : "another thread");
    return -EPERM;
}

static int waiter_abort(struct weft__wait *w) {
    struct weft__waiter *wt = WEFT__CONTAINER_OF(w, struct weft__waiter, w);
    if (weft__list_linked(&wt->link))
        weft__list_remove(&wt->link);
    return 0;
}

int weft__waiter_park(struct weft__list *list, struct weft__waiter *wt) {
    wt->w.abort = waiter_abort;
    weft__list_push_back(list, &wt->link);
    int r = weft__park(&wt->w);
    if (weft__list_linked(&wt->link))
        weft__list_remove(&wt->link);
    return r;
}

void weft__waiter_wake_all(struct weft__list *list, int result) {
    while (!weft__list_empty(list)) {
        struct weft__waiter *wt = weft__waiter_pop(list);
        weft__task_wake(wt->w.task, result);
    }
}

int weft__sync_interrupted(struct weft_task *t) {
    if (WEFT__LIKELY(!(t->pending & WEFT__PEND_INT)))
        return 0;
    /* As weft__park does for a wait it fails at once: the scope's exit
     * then reports that its deadline cut a wait short. */
    return weft__task_interrupted(t);
}
