/* Condition: a FIFO list of waiters over a lock. notify moves waiters
 * straight onto the lock's queue (wait morphing): a notified task wakes
 * once, already owning the lock, instead of waking to queue for a lock its
 * notifier still holds. Once moved, its wait cannot be interrupted any
 * more, so the notification it consumed is never lost. */
#include <limits.h>

#include "sync_int.h"

struct weft__cond {
    struct weft__sync_hdr h;
    struct weft__lock *lock;   /* &own, or the lock given to init */
    struct weft__list waiters; /* weft__waiter */
    struct weft__lock own;
};

_Static_assert(sizeof(struct weft__cond) <= sizeof(weft_cond_t),
               "weft_cond_t too small");
_Static_assert(_Alignof(struct weft__cond) <= _Alignof(weft_cond_t),
               "weft_cond_t misaligned");

static inline struct weft__cond *C(weft_cond_t *c) {
    return (struct weft__cond *)(void *)c;
}

/* The condition and its lock, both of this loop. */
static int check(struct weft__cond *c, bool task, const char *fn) {
    int err = weft__sync_check(c ? &c->h : NULL, WEFT__SYNC_COND, task, fn);
    if (err)
        return err;
    WEFT__ANALYZER_ASSUME(c != NULL); /* the check fails NULL: -EINVAL */
    return weft__sync_check(&c->lock->h, WEFT__SYNC_LOCK, false, fn);
}

/* The caller must be the task holding the lock. */
static int check_holder(struct weft__cond *c, const char *fn) {
    struct weft_task *t = weft__task_current();
    if (WEFT__LIKELY(t && c->lock->owner == t->id))
        return 0;
    weft__log(WEFT_LOG_WARN, "%s: the caller does not hold the lock of "
                             "condition %p",
              fn, (void *)c);
    return -EPERM;
}

int weft_cond_init(weft_cond_t *cond, weft_lock_t *lock) {
    struct weft__cond *c = C(cond);
    if (!c)
        return -EINVAL;
    if (lock && weft__lock_of(lock)->h.magic != WEFT__SYNC_LOCK) {
        weft__log(WEFT_LOG_WARN,
                  "weft_cond_init: lock %p is not initialised", (void *)lock);
        return -EINVAL;
    }
    weft__sync_hdr_init(&c->h, WEFT__SYNC_COND);
    weft__list_init(&c->waiters);
    weft__lock_init(&c->own);
    c->lock = lock ? weft__lock_of(lock) : &c->own;
    return 0;
}

int weft_cond_destroy(weft_cond_t *cond) {
    struct weft__cond *c = C(cond);
    if (!c || c->h.magic != WEFT__SYNC_COND)
        return -EINVAL;
    int err = weft__sync_retire(&c->h,
                                !weft__list_empty(&c->waiters) ||
                                    !weft__list_empty(&c->own.waiters),
                                "weft_cond_destroy");
    if (!err)
        c->own.h.magic = 0;
    return err;
}

weft_lock_t *weft_cond_lock(weft_cond_t *cond) {
    struct weft__cond *c = C(cond);
    if (!c || c->h.magic != WEFT__SYNC_COND)
        return NULL;
    return (weft_lock_t *)(void *)c->lock;
}

int weft_cond_acquire(weft_cond_t *cond) {
    struct weft__cond *c = C(cond);
    if (!c || c->h.magic != WEFT__SYNC_COND)
        return weft__sync_check(c ? &c->h : NULL, WEFT__SYNC_COND, false,
                                "weft_cond_acquire");
    return weft_lock_acquire((weft_lock_t *)(void *)c->lock);
}

int weft_cond_release(weft_cond_t *cond) {
    struct weft__cond *c = C(cond);
    if (!c || c->h.magic != WEFT__SYNC_COND)
        return weft__sync_check(c ? &c->h : NULL, WEFT__SYNC_COND, false,
                                "weft_cond_release");
    return weft_lock_release((weft_lock_t *)(void *)c->lock);
}

/* Wait with the lock checked as held by the running task. */
static int cond_wait(struct weft__cond *c) {
    struct weft_task *t = weft__task_current();
    struct weft__lock *l = c->lock;
    /* Interrupted already: fail without letting the lock go, so nobody
     * slips in between (the caller's state stays as it saw it). */
    int err = weft__sync_interrupted(t);
    if (err)
        return err;
    /* Passing the lock on only readies the next holder: nobody can
     * notify before we are linked. */
    weft__lock_pass(l);
    struct weft__waiter wt = {.w = {.kind = WEFT__WAIT_COND, .obj = c}};
    int r = weft__waiter_park(&c->waiters, &wt);
    /* Not notified (interrupted): take the lock back, come what may. */
    if (!wt.granted)
        weft__lock_reacquire(l, t);
    return r;
}

int weft_cond_wait(weft_cond_t *cond) {
    struct weft__cond *c = C(cond);
    int err = check(c, true, "weft_cond_wait");
    if (!err)
        err = check_holder(c, "weft_cond_wait");
    return err ? err : cond_wait(c);
}

int weft_cond_wait_for(weft_cond_t *cond, bool (*pred)(void *arg),
                       void *arg) {
    struct weft__cond *c = C(cond);
    int err = check(c, true, "weft_cond_wait_for");
    if (err)
        return err;
    if (!pred)
        return -EINVAL;
    err = check_holder(c, "weft_cond_wait_for");
    while (!err && !pred(arg))
        err = cond_wait(c);
    return err;
}

static int notify(weft_cond_t *cond, int n, const char *fn) {
    struct weft__cond *c = C(cond);
    int err = check(c, false, fn);
    if (err)
        return err;
    if (n < 0)
        return -EINVAL;
    err = check_holder(c, fn);
    if (err)
        return err;
    int woken = 0;
    while (woken < n && !weft__list_empty(&c->waiters)) {
        struct weft__waiter *wt = weft__waiter_pop(&c->waiters);
        /* From now on it waits for the lock, and nothing interrupts it:
         * it has consumed the notification. */
        wt->w.noint = true;
        weft__list_push_back(&c->lock->waiters, &wt->link);
        woken++;
    }
    return woken;
}

int weft_cond_notify(weft_cond_t *cond, int n) {
    return notify(cond, n, "weft_cond_notify");
}

int weft_cond_notify_all(weft_cond_t *cond) {
    return notify(cond, INT_MAX, "weft_cond_notify_all");
}
