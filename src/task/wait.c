/* asyncio.wait and asyncio.as_completed: watch a set of futures without
 * owning their outcome. Unlike gather and await, nothing here cancels the
 * futures: a timeout, a deadline or the cancellation of the waiting task
 * ends the wait only, and the futures go on. */
#include "task_int.h"

struct watch;

struct watch_slot {
    struct weft__fwaiter fw;
    struct watch *w;
    weft_future_t *f;
    size_t index;
};

/* `when`: a WEFT_*_COMPLETED / WEFT_FIRST_EXCEPTION value, or AS_COMPLETED
 * (then `order` lists the indexes of done futures, in completion order). */
#define AS_COMPLETED (-1)

struct watch {
    struct weft__wait wait; /* the waiting task's, while it is parked */
    struct watch_slot *slots;
    size_t *order;
    size_t n, done, failed, head, tail;
    int when;
};

static bool satisfied(const struct watch *w) {
    switch (w->when) {
    case WEFT_FIRST_COMPLETED:
        return w->done > 0;
    case WEFT_FIRST_EXCEPTION:
        return w->failed > 0 || w->done == w->n;
    case WEFT_ALL_COMPLETED:
        return w->done == w->n;
    default:
        return w->head < w->tail;
    }
}

/* A future is done: count it (an error other than a cancellation is an
 * "exception", as in asyncio), queue its index for as_completed. */
static void note_done(struct watch *w, const struct watch_slot *s) {
    w->done++;
    if (s->f->status < 0 && s->f->status != -ECANCELED)
        w->failed++;
    if (w->order)
        w->order[w->tail++] = s->index;
}

static void watch_notify(struct weft__fwaiter *fw, weft_future_t *f) {
    (void)f;
    struct watch_slot *s = WEFT__CONTAINER_OF(fw, struct watch_slot, fw);
    note_done(s->w, s);
    if (satisfied(s->w))
        weft__wait_wake(&s->w->wait, 0);
}

/* Check the futures (the misuse weft_gather refuses, refused the same
 * way), then reference and watch each; those done already count at once,
 * in the caller's order. The slots (and the order array) are the
 * caller's, n of each. */
static int watch_check(weft_loop_t *loop, struct weft_task *self,
                       weft_future_t *const *futs, size_t n, const char *fn) {
    for (size_t i = 0; i < n; i++) {
        if (!futs[i]) {
            weft__log(WEFT_LOG_WARN, "%s: future %zu is NULL", fn, i);
            return -EINVAL;
        }
        if (futs[i]->loop != loop) {
            weft__log(WEFT_LOG_WARN, "%s: future %zu belongs to another loop",
                      fn, i);
            return -EINVAL;
        }
        if (self && futs[i] == &self->fut) {
            weft__log(WEFT_LOG_WARN, "%s: future %zu is the waiting task's "
                                     "own (it would wait forever)",
                      fn, i);
            return -EDEADLK;
        }
    }
    return 0;
}

static void watch_start(struct watch *w, weft_future_t *const *futs,
                        size_t n) {
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        struct watch_slot *s = &w->slots[i];
        s->w = w;
        s->f = weft_future_ref(futs[i]);
        s->index = i;
        s->fw.notify = watch_notify;
        weft__list_init(&s->fw.link);
        if (s->f->state == WEFT__FUT_DONE)
            note_done(w, s);
        else
            weft__future_add_waiter(s->f, &s->fw);
    }
}

static void watch_stop(struct watch *w) {
    for (size_t i = 0; i < w->n; i++) {
        struct watch_slot *s = &w->slots[i];
        if (weft__list_linked(&s->fw.link))
            weft__list_remove(&s->fw.link);
        weft_future_release(s->f);
    }
}

/* Park until the watch is satisfied, at most until `deadline` (loop ns;
 * WEFT__NS_INF: none), which is a scope of its own, so an outer deadline
 * is told from ours. Returns 0 when satisfied, 1 when our deadline passed
 * first, or the error that interrupted the wait (-ECANCELED, an outer
 * -ETIMEDOUT). */
static int watch_park(struct weft_task *t, struct watch *w,
                      uint64_t deadline) {
    weft_scope_t scope;
    struct weft__scope *s = (struct weft__scope *)(void *)&scope;
    if (deadline < WEFT__NS_INF) {
        weft__scope_push(t, s, 0);
        if (weft__scope_arm(s, deadline) < 0) {
            weft__scope_pop(s);
            return -ENOMEM;
        }
    }
    int r = 0;
    w->wait.task = t;
    while (!satisfied(w)) {
        r = weft__park(&w->wait);
        if (r < 0)
            break;
    }
    w->wait.task = NULL; /* nobody waits: completions just count */
    if (deadline < WEFT__NS_INF) {
        int e = weft_scope_exit(&scope);
        if (r == -ETIMEDOUT && e == -ETIMEDOUT)
            r = 1;
        else if (e == -ECANCELED)
            r = -ECANCELED;
    }
    return r;
}

/* ---- weft_wait ------------------------------------------------------------- */

int weft_wait(weft_future_t *const *futures, size_t n, int return_when,
              double timeout) {
    struct weft_task *t = weft__task_require("weft_wait");
    if (!t)
        return -EPERM;
    uint64_t deadline;
    if (!futures || n == 0 || n > INT32_MAX ||
        (return_when != WEFT_ALL_COMPLETED &&
         return_when != WEFT_FIRST_COMPLETED &&
         return_when != WEFT_FIRST_EXCEPTION) ||
        weft__deadline_ns(t->loop, timeout, false, &deadline)) {
        weft__log(WEFT_LOG_WARN, "weft_wait: no futures, too many, an "
                                 "unknown return_when or a NaN timeout");
        return -EINVAL;
    }
    int err = watch_check(t->loop, t, futures, n, "weft_wait");
    if (err)
        return err;
    struct watch w = {.when = return_when};
    w.slots = weft__calloc(n, sizeof *w.slots);
    if (!w.slots)
        return -ENOMEM;
    watch_start(&w, futures, n);
    /* Satisfied already: no suspension (as a wait that can complete at
     * once does not suspend anywhere in weft). */
    int r = satisfied(&w) ? 0 : watch_park(t, &w, deadline);
    watch_stop(&w);
    weft__free(w.slots);
    if (r < 0)
        return r;
    return (int)w.done; /* satisfied, or our timeout: what is done */
}

/* ---- weft_as_completed ------------------------------------------------------ */

struct weft_as_completed {
    struct watch w;
    weft_loop_t *loop;
    uint64_t deadline;
};

int weft_as_completed_new(weft_as_completed_t **out,
                          weft_future_t *const *futures, size_t n,
                          double timeout) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    weft_loop_t *loop = weft__tls_loop;
    if (!loop) {
        weft__log(WEFT_LOG_WARN, "weft_as_completed_new: no loop is running "
                                 "on this thread");
        return -EPERM;
    }
    uint64_t deadline;
    if ((n && !futures) || n > INT32_MAX ||
        weft__deadline_ns(loop, timeout, false, &deadline)) {
        weft__log(WEFT_LOG_WARN, "weft_as_completed_new: NULL futures, too "
                                 "many, or a NaN timeout");
        return -EINVAL;
    }
    int err = watch_check(loop, weft__task_current(), futures, n,
                          "weft_as_completed_new");
    if (err)
        return err;
    /* One block: the iterator, its slots, the completion order. */
    size_t size = sizeof(struct weft_as_completed) +
                  n * (sizeof(struct watch_slot) + sizeof(size_t));
    struct weft_as_completed *ac = weft__calloc(1, size);
    if (!ac)
        return -ENOMEM;
    ac->loop = loop;
    ac->deadline = deadline;
    ac->w.when = AS_COMPLETED;
    ac->w.slots = (struct watch_slot *)(void *)(ac + 1);
    ac->w.order = (size_t *)(void *)(ac->w.slots + n);
    watch_start(&ac->w, futures, n);
    *out = ac;
    return 0;
}

int weft_as_completed_next(weft_as_completed_t *ac, size_t *index) {
    struct weft_task *t = weft__task_require("weft_as_completed_next");
    if (!t)
        return -EPERM;
    if (!ac || !index || ac->loop != t->loop) {
        weft__log(WEFT_LOG_WARN, "weft_as_completed_next: NULL, or an "
                                 "iterator of another loop");
        return -EINVAL;
    }
    struct watch *w = &ac->w;
    if (w->wait.task) {
        weft__log(WEFT_LOG_WARN, "weft_as_completed_next: task '%s' waits on "
                                 "this iterator already",
                  weft_task_name(w->wait.task));
        return -EBUSY;
    }
    if (w->head == w->n)
        return 0;
    if (w->head == w->tail) {
        int r = watch_park(t, w, ac->deadline);
        if (r < 0)
            return r; /* nothing taken: what comes stays queued */
        if (r == 1 && w->head == w->tail)
            return -ETIMEDOUT;
    }
    *index = w->order[w->head++];
    return 1;
}

void weft_as_completed_free(weft_as_completed_t *ac) {
    if (!ac)
        return;
    if (weft__loop_check(ac->loop, "weft_as_completed_free"))
        return;
    if (ac->w.wait.task) {
        weft__log(WEFT_LOG_WARN, "weft_as_completed_free: task '%s' still "
                                 "waits on it; not freed",
                  weft_task_name(ac->w.wait.task));
        return;
    }
    watch_stop(&ac->w);
    weft__free(ac);
}
