/* Futures: completion, done-callbacks, waiters and weft_await. */
#include <stdlib.h>

#include "task_int.h"

static void plain_destroy(weft_future_t *f) {
    struct weft__tasks *ts = f->loop->tasks;
    if (ts)
        ts->nfutures--;
    weft__free(f);
}

static const struct weft__future_ops plain_ops = {NULL, plain_destroy};

void weft__future_init(weft_future_t *f, weft_loop_t *loop,
                       const struct weft__future_ops *ops) {
    f->loop = loop;
    f->ops = ops;
    f->refs = 1;
    f->state = WEFT__FUT_PENDING;
    f->retrieved = 0;
    f->status = 0;
    f->value = NULL;
    weft__list_init(&f->waiters);
    f->cb_head = NULL;
    f->cb_tail = &f->cb_head;
}

int weft_future_new(weft_loop_t *loop, weft_future_t **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    int err = weft__loop_check(loop, "weft_future_new");
    if (err)
        return err;
    if (loop->closed)
        return -ESHUTDOWN;
    struct weft__tasks *ts = weft__tasks_get(loop);
    weft_future_t *f = weft__malloc(sizeof *f);
    if (!f || !ts) {
        weft__free(f);
        return -ENOMEM;
    }
    weft__future_init(f, loop, &plain_ops);
    ts->nfutures++;
    *out = f;
    return 0;
}

weft_future_t *weft_future_ref(weft_future_t *f) {
    if (f)
        f->refs++;
    return f;
}

static void drop_callbacks(weft_future_t *f) {
    struct weft__call *c = f->cb_head;
    while (c) {
        struct weft__call *next = c->link;
        weft__call_free(f->loop, c);
        c = next;
    }
    f->cb_head = NULL;
    f->cb_tail = &f->cb_head;
}

void weft_future_release(weft_future_t *f) {
    if (!f)
        return;
    if (WEFT__UNLIKELY(f->refs == 0)) {
        weft__log(WEFT_LOG_WARN,
                  "weft_future_release: future %p has no reference left "
                  "(released twice?)",
                  (void *)f);
        return;
    }
    if (--f->refs)
        return;
    drop_callbacks(f);
    f->ops->destroy(f);
}

weft_loop_t *weft_future_loop(const weft_future_t *f) {
    return f ? f->loop : NULL;
}

bool weft_future_done(const weft_future_t *f) {
    return f && f->state == WEFT__FUT_DONE;
}

bool weft_future_cancelled(const weft_future_t *f) {
    return f && f->state == WEFT__FUT_DONE && f->status == -ECANCELED;
}

int weft_future_result(const weft_future_t *f, void **value) {
    if (value)
        *value = NULL;
    if (!f)
        return -EINVAL;
    if (f->state != WEFT__FUT_DONE)
        return -EAGAIN;
    ((weft_future_t *)f)->retrieved = 1;
    if (value && f->status >= 0)
        *value = f->value;
    return f->status;
}

void weft__future_complete(weft_future_t *f, int status, void *value) {
    f->state = WEFT__FUT_DONE;
    f->status = status;
    f->value = status >= 0 ? value : NULL;
    struct weft__list *n;
    while ((n = weft__list_pop_front(&f->waiters))) {
        struct weft__fwaiter *w = WEFT__CONTAINER_OF(n, struct weft__fwaiter,
                                                     link);
        w->notify(w, f);
    }
    struct weft__call *c = f->cb_head;
    f->cb_head = NULL;
    f->cb_tail = &f->cb_head;
    while (c) {
        struct weft__call *next = c->link;
        c->link = NULL;
        f->refs++; /* held until the callback has run */
        weft__call_enqueue(f->loop, c);
        c = next;
    }
}

void weft__future_add_waiter(weft_future_t *f, struct weft__fwaiter *w) {
    weft__list_push_back(&f->waiters, &w->link);
}

static int check_owner(const weft_future_t *f, const char *fn) {
    if (!f)
        return -EINVAL;
    return weft__loop_check(f->loop, fn);
}

static int complete(weft_future_t *f, int status, void *value,
                    const char *fn) {
    int err = check_owner(f, fn);
    if (err)
        return err;
    if (f->state == WEFT__FUT_DONE) {
        if (f->status == -ECANCELED)
            return -ECANCELED;
        weft__log(WEFT_LOG_WARN, "%s: future %p is already done", fn,
                  (void *)f);
        return -EINVAL;
    }
    if (f->ops != &plain_ops) {
        weft__log(WEFT_LOG_WARN,
                  "%s: the future of a task, an executor job or a shield is "
                  "completed by its owner", fn);
        return -EINVAL;
    }
    weft__future_complete(f, status, value);
    return 0;
}

int weft_future_set_result(weft_future_t *f, void *value) {
    return complete(f, 0, value, "weft_future_set_result");
}

int weft_future_set_error(weft_future_t *f, int err) {
    if (err >= 0)
        return -EINVAL;
    return complete(f, err, NULL, "weft_future_set_error");
}

struct ts_result {
    weft_future_t *f;
    void *value;
};

static void ts_complete(void *arg) {
    struct ts_result *r = arg;
    if (r->f->state != WEFT__FUT_DONE)
        weft__future_complete(r->f, 0, r->value);
    weft_future_release(r->f); /* the reference the caller handed over */
    free(r);
}

int weft_future_set_result_threadsafe(weft_future_t *f, void *value) {
    /* ops is set when the future is made, before any thread can see it. */
    if (!f || f->ops != &plain_ops)
        return -EINVAL;
    /* Plain malloc: this runs on a foreign thread, and the record is freed
     * on the loop thread; core.h promises the hooks never run here. */
    struct ts_result *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->f = f;
    r->value = value;
    int err = weft_call_soon_threadsafe(f->loop, ts_complete, r);
    if (err)
        free(r);
    return err;
}

int weft_future_cancel(weft_future_t *f) {
    int err = check_owner(f, "weft_future_cancel");
    if (err)
        return err;
    if (f->state == WEFT__FUT_DONE)
        return -EALREADY;
    if (f->ops->cancel)
        return f->ops->cancel(f);
    weft__future_complete(f, -ECANCELED, NULL);
    return 0;
}

/* A done-callback record: arg = the future, arg2 = the user's function,
 * arg3 = the user's argument. It holds a reference to the future from
 * completion until it has run, or until the loop's close drops it. */
static void run_done_cb(void *fp, void *fnp, void *arg) {
    weft_future_t *f = fp;
    ((weft_done_fn)(uintptr_t)fnp)(f, arg);
    weft_future_release(f);
}

static void drop_done_cb(void *fp, void *fnp, void *arg) {
    (void)fnp;
    (void)arg;
    weft_future_release(fp);
}

int weft_future_add_done_callback(weft_future_t *f, weft_done_fn fn,
                                  void *arg) {
    int err = check_owner(f, "weft_future_add_done_callback");
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    struct weft__call *c = weft__call_alloc(f->loop);
    if (!c)
        return -ENOMEM;
    c->fn = run_done_cb;
    c->drop = drop_done_cb;
    c->arg = f;
    c->arg2 = (void *)(uintptr_t)fn;
    c->arg3 = arg;
    if (f->state == WEFT__FUT_DONE) {
        f->refs++;
        weft__call_enqueue(f->loop, c);
        return 0;
    }
    c->state = WEFT__CALL_HELD;
    c->link = NULL;
    *f->cb_tail = c;
    f->cb_tail = &c->link;
    return 0;
}

int weft_future_remove_done_callback(weft_future_t *f, weft_done_fn fn,
                                     void *arg) {
    if (check_owner(f, "weft_future_remove_done_callback"))
        return 0;
    int removed = 0;
    struct weft__call **pp = &f->cb_head;
    f->cb_tail = &f->cb_head;
    while (*pp) {
        struct weft__call *c = *pp;
        if (c->arg2 == (void *)(uintptr_t)fn && c->arg3 == arg) {
            *pp = c->link;
            weft__call_free(f->loop, c);
            removed++;
        } else {
            pp = &c->link;
            f->cb_tail = pp;
        }
    }
    return removed;
}

/* ---- weft_shield ------------------------------------------------------------ */

/* The proxy: a plain future (cancelling it completes it, as cancelled)
 * that copies the inner future's outcome when that comes. */
struct shield {
    struct weft_future fut; /* first: the proxy itself */
    struct weft__fwaiter fw;
    weft_future_t *inner;
};

static void shield_destroy(weft_future_t *f) {
    struct shield *sh = (struct shield *)(void *)f;
    if (weft__list_linked(&sh->fw.link))
        weft__list_remove(&sh->fw.link);
    weft_future_release(sh->inner);
    plain_destroy(f);
}

static const struct weft__future_ops shield_ops = {NULL, shield_destroy};

static void shield_notify(struct weft__fwaiter *fw, weft_future_t *inner) {
    struct shield *sh = WEFT__CONTAINER_OF(fw, struct shield, fw);
    if (sh->fut.state == WEFT__FUT_DONE)
        return; /* the shield was cancelled: the outcome is the inner's */
    inner->retrieved = 1; /* it travels on in the shield */
    weft__future_complete(&sh->fut, inner->status, inner->value);
}

int weft_shield(weft_future_t *inner, weft_future_t **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!inner)
        return -EINVAL;
    int err = weft__loop_check(inner->loop, "weft_shield");
    if (err)
        return err;
    weft_loop_t *loop = inner->loop;
    if (loop->closed)
        return -ESHUTDOWN;
    struct weft__tasks *ts = weft__tasks_get(loop);
    struct shield *sh = ts ? weft__malloc(sizeof *sh) : NULL;
    if (!sh)
        return -ENOMEM;
    weft__future_init(&sh->fut, loop, &shield_ops);
    ts->nfutures++;
    sh->inner = weft_future_ref(inner);
    sh->fw.notify = shield_notify;
    weft__list_init(&sh->fw.link);
    if (inner->state == WEFT__FUT_DONE)
        shield_notify(&sh->fw, inner);
    else
        weft__future_add_waiter(inner, &sh->fw);
    *out = &sh->fut;
    return 0;
}

/* ---- weft_await ------------------------------------------------------------- */

struct await_wait {
    struct weft__wait w;
    struct weft__fwaiter fw;
    weft_future_t *f;
};

static void await_notify(struct weft__fwaiter *fw, weft_future_t *f) {
    (void)f;
    struct await_wait *aw = WEFT__CONTAINER_OF(fw, struct await_wait, fw);
    weft__task_wake(aw->w.task, aw->w.interrupted);
}

/* Interrupted while awaiting: cancel what we await, as asyncio does. A task
 * is then awaited until it has unwound; a plain future completes now. A
 * future with a cancel operation of its own (an executor job) may complete
 * at once (a job removed from its queue) or later (a job whose function is
 * running): it is then awaited like a task. Our waiter is off the list
 * while the cancel runs, so a completion inside it does not wake us. */
static int await_abort(struct weft__wait *w) {
    struct await_wait *aw = WEFT__CONTAINER_OF(w, struct await_wait, w);
    weft_future_t *f = aw->f;
    struct weft_task *inner = weft__task_of(f);
    if (inner) {
        weft__task_cancel(inner, w->interrupted == -ETIMEDOUT
                                     ? "the task awaiting it timed out"
                                     : "the task awaiting it was cancelled");
        return -EINPROGRESS;
    }
    weft__list_remove(&aw->fw.link);
    if (f->state != WEFT__FUT_DONE) {
        if (f->ops->cancel)
            f->ops->cancel(f);
        else
            weft__future_complete(f, -ECANCELED, NULL);
    }
    if (f->state != WEFT__FUT_DONE) {
        weft__future_add_waiter(f, &aw->fw);
        return -EINPROGRESS;
    }
    return 0;
}

int weft_await(weft_future_t *f, void **value) {
    if (value)
        *value = NULL;
    struct weft_task *t = weft__task_require("weft_await");
    if (!t)
        return -EPERM;
    if (!f)
        return -EINVAL;
    if (f->loop != t->loop) {
        weft__log(WEFT_LOG_WARN, "weft_await: future of another loop");
        return -EINVAL;
    }
    if (f == &t->fut) {
        weft__log(WEFT_LOG_WARN, "weft_await: task %p cannot await its own "
                                 "future (it would wait forever)",
                  (void *)t);
        return -EDEADLK;
    }
    /* Done already: no suspension, so no cancellation point (asyncio). */
    if (f->state == WEFT__FUT_DONE)
        return weft_future_result(f, value);
    struct await_wait aw = {
        .w = {.abort = await_abort, .kind = WEFT__WAIT_FUTURE, .obj = f},
        .f = f};
    aw.fw.notify = await_notify;
    weft_future_ref(f); /* ours while we wait: the caller may drop its own */
    weft__future_add_waiter(f, &aw.fw);
    int r = weft__park(&aw.w);
    if (weft__list_linked(&aw.fw.link))
        weft__list_remove(&aw.fw.link);
    /* Read the outcome before dropping our reference: it may be the last. */
    if (r >= 0)
        r = weft_future_result(f, value);
    weft_future_release(f);
    return r;
}
