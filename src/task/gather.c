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

static void cancel_rest(struct gather *g, const char *why) {
    g->cancelling = true;
    for (size_t i = 0; i < g->n; i++) {
        weft_future_t *f = g->futs[i];
        struct weft_task *t = weft__task_of(f);
        if (f->state == WEFT__FUT_DONE)
            continue;
        if (t)
            weft__task_cancel(t, why);
        else
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
        if (futs[i] == &t->fut) {
            weft__log(WEFT_LOG_WARN, "weft_gather: future %zu is the "
                                     "gathering task's own (it would wait "
                                     "forever)",
                      i);
            return -EDEADLK;
        }
    }
    return 0;
}

/* Gather n checked futures with the caller's n slots. */
static int gather_run(struct weft_task *t, weft_future_t *const *futs,
                      size_t n, bool all, struct gather_slot *slots) {
    struct gather g = {.w = {.kind = WEFT__WAIT_GATHER},
                       .futs = futs,
                       .n = n,
                       .all = all,
                       .slots = slots};
    g.w.task = t; /* futures cancelled before we park notify us */

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
            cancel_rest(&g, "another future of its gather failed");
        if (g.remaining == 0)
            break;
        g.w.noint = g.cancelling;
        int r = weft__park(&g.w);
        if (r < 0 && !g.cancelling) {
            /* We were cancelled, or a deadline expired. */
            result = r;
            cancel_rest(&g, r == -ETIMEDOUT
                                ? "the task gathering it timed out"
                                : "the task gathering it was cancelled");
        }
    }

    for (size_t i = 0; i < n; i++) {
        if (weft__list_linked(&g.slots[i].fw.link))
            weft__list_remove(&g.slots[i].fw.link);
        futs[i]->retrieved = 1;
        weft_future_release(futs[i]);
    }
    if (result)
        return result;
    return g.all ? 0 : g.first_error;
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
    struct gather_slot *slots = n ? weft__calloc(n, sizeof *slots) : NULL;
    if (n && !slots)
        return -ENOMEM;
    int r = gather_run(t, futs, n, flags & WEFT_GATHER_ALL, slots);
    weft__free(slots);
    return r;
}

int weft_gather_calls(weft_call_t *calls, size_t n, unsigned flags,
                      const weft_spawn_opts_t *opts) {
    struct weft_task *t = weft__task_require("weft_gather_calls");
    if (!t)
        return -EPERM;
    if ((n && !calls) || (flags & ~(unsigned)WEFT_GATHER_ALL))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!calls[i].fn) {
            weft__log(WEFT_LOG_WARN, "weft_gather_calls: call %zu has no "
                                     "function",
                      i);
            return -EINVAL;
        }
    }
    /* One block: the tasks' futures, then gather's slots. */
    weft_future_t **futs = NULL;
    if (n) {
        futs = weft__calloc(n, sizeof *futs + sizeof(struct gather_slot));
        if (!futs)
            return -ENOMEM;
    }
    size_t started = 0;
    int err = 0;
    for (; started < n; started++) {
        weft_task_t *c;
        err = weft__spawn(t->loop, NULL, &c, calls[started].fn,
                          calls[started].arg, opts);
        if (err)
            break;
        futs[started] = &c->fut;
    }
    /* Could not start them all: stop those that run, and wait for them
     * all the same (their outcomes are stored, and nothing is left
     * running). */
    if (err)
        for (size_t i = 0; i < started; i++)
            weft__task_cancel(weft__task_of(futs[i]),
                              "the gather it was started for could not "
                              "start");
    int r = gather_run(t, futs, started, err || (flags & WEFT_GATHER_ALL),
                       (struct gather_slot *)(void *)(futs + n));
    for (size_t i = 0; i < n; i++) {
        if (i < started) {
            calls[i].status = weft_future_result(futs[i], &calls[i].value);
            weft_task_release(weft__task_of(futs[i]));
        } else {
            calls[i].status = err;
            calls[i].value = NULL;
        }
    }
    weft__free(futs);
    return err ? err : r;
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
        WEFT__ANALYZER_ASSUME(f != NULL); /* await(NULL) is -EINVAL */
        if (f->state == WEFT__FUT_DONE && f->status != -ECANCELED)
            r = weft_future_result(f, value);
    } else if (e == -ECANCELED) {
        r = -ECANCELED;
    }
    weft_future_release(f);
    return r;
}
