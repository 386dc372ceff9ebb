/* gather and wait_for. */
#include <math.h>

#include "task_int.h"

struct gather;

struct gather_slot {
    struct weft__fwaiter fw;
    struct gather *g;
};

struct gather {
    struct weft__wait w;
    weft_future_t *const *futs;
    struct gather_slot *slots;
    size_t n, remaining;
    int first_error;
    bool all;        /* WEFT_GATHER_ALL */
    bool cancelling; /* cancelling the rest; waits are uninterrupted */
};

static void gather_notify(struct weft__fwaiter *fw, weft_future_t *f) {
    struct gather_slot *s = WEFT__CONTAINER_OF(fw, struct gather_slot, fw);
    struct gather *g = s->g;
    g->remaining--;
    bool failed = f->status < 0 && !g->all && !g->cancelling;
    if (failed && !g->first_error)
        g->first_error = f->status;
    if (g->remaining == 0 || failed)
        weft__wait_wake(&g->w, 0);
}

static void cancel_rest(struct gather *g) {
    g->cancelling = true;
    for (size_t i = 0; i < g->n; i++) {
        weft_future_t *f = g->futs[i];
        if (f->state != WEFT__FUT_DONE)
            weft_future_cancel(f);
    }
}

static int check_futures(struct weft_task *t, weft_future_t *const *futs,
                         size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!futs[i])
            return -EINVAL;
        if (futs[i]->loop != t->loop) {
            weft__log(WEFT_LOG_WARN, "weft_gather: future %zu belongs to "
                                     "another loop",
                      i);
            return -EINVAL;
        }
        if (futs[i] == &t->fut)
            return -EDEADLK;
    }
    return 0;
}

int weft_gather(weft_future_t *const *futs, size_t n, unsigned flags) {
    struct weft_task *t = weft__task_require("weft_gather");
    if (!t)
        return -EPERM;
    if ((n && !futs) || (flags & ~(unsigned)WEFT_GATHER_ALL))
        return -EINVAL;
    int err = check_futures(t, futs, n);
    if (err)
        return err;
    struct gather g = {.w = {.kind = WEFT__WAIT_GATHER},
                       .futs = futs,
                       .n = n,
                       .all = flags & WEFT_GATHER_ALL};
    g.w.task = t; /* futures cancelled before we park notify us */
    g.slots = n ? weft__calloc(n, sizeof *g.slots) : NULL;
    if (n && !g.slots)
        return -ENOMEM;

    for (size_t i = 0; i < n; i++) {
        weft_future_t *f = futs[i];
        weft_future_ref(f);
        g.slots[i].g = &g;
        weft__list_init(&g.slots[i].fw.link);
        if (f->state == WEFT__FUT_DONE) {
            if (f->status < 0 && !g.all && !g.first_error)
                g.first_error = f->status;
            continue;
        }
        g.slots[i].fw.notify = gather_notify;
        weft__future_add_waiter(f, &g.slots[i].fw);
        g.remaining++;
    }

    int result = 0;
    while (g.remaining > 0) {
        if (g.first_error && !g.cancelling)
            cancel_rest(&g);
        if (g.remaining == 0)
            break;
        g.w.noint = g.cancelling;
        int r = weft__park(&g.w);
        if (r < 0 && !g.cancelling) {
            /* We were cancelled, or a deadline expired. */
            result = r;
            cancel_rest(&g);
        }
    }

    for (size_t i = 0; i < n; i++) {
        if (weft__list_linked(&g.slots[i].fw.link))
            weft__list_remove(&g.slots[i].fw.link);
        futs[i]->retrieved = 1;
        weft_future_release(futs[i]);
    }
    weft__free(g.slots);
    if (result)
        return result;
    return g.all ? 0 : g.first_error;
}

int weft_wait_for(weft_future_t *f, double timeout, void **value) {
    if (value)
        *value = NULL;
    if (isnan(timeout))
        return weft__task_require("weft_wait_for") ? -EINVAL : -EPERM;
    if (timeout == (double)INFINITY)
        return weft_await(f, value);
    weft_scope_t scope;
    int err = weft_scope_enter(&scope, timeout, 0);
    if (err)
        return err;
    if (f)
        weft_future_ref(f);
    int r = weft_await(f, value);
    int e = weft_scope_exit(&scope);
    if (r == -ETIMEDOUT && e == -ETIMEDOUT) {
        /* Our deadline: the future was cancelled (and, for a task, has
         * finished unwinding). A task that finished with a result or an
         * error of its own regardless reports that instead. */
        if (f->state == WEFT__FUT_DONE && f->status != -ECANCELED)
            r = weft_future_result(f, value);
    } else if (e == -ECANCELED) {
        r = -ECANCELED;
    }
    weft_future_release(f);
    return r;
}
