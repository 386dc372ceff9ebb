/* Lock: owned by a task (by id, so a later task reusing the holder's
 * memory is never mistaken for it), handed directly to the first waiter on
 * release. Invariant: waiters are queued only while the lock is held. */
#include "sync_int.h"

_Static_assert(sizeof(struct weft__lock) <= sizeof(weft_lock_t),
               "weft_lock_t too small");
_Static_assert(_Alignof(struct weft__lock) <= _Alignof(weft_lock_t),
               "weft_lock_t misaligned");

#define L weft__lock_of

static inline int check(struct weft__lock *l, bool task, const char *fn) {
    return weft__sync_check(l ? &l->h : NULL, WEFT__SYNC_LOCK, task, fn);
}

void weft__lock_init(struct weft__lock *l) {
    weft__sync_hdr_init(&l->h, WEFT__SYNC_LOCK);
    l->owner = 0;
    weft__list_init(&l->waiters);
}

int weft_lock_init(weft_lock_t *lock) {
    if (!lock)
        return -EINVAL;
    weft__lock_init(L(lock));
    return 0;
}

int weft_lock_destroy(weft_lock_t *lock) {
    struct weft__lock *l = L(lock);
    if (!l || l->h.magic != WEFT__SYNC_LOCK)
        return -EINVAL;
    return weft__sync_retire(&l->h, !weft__list_empty(&l->waiters),
                             "weft_lock_destroy");
}

void weft__lock_pass(struct weft__lock *l) {
    if (weft__list_empty(&l->waiters)) {
        l->owner = 0;
        return;
    }
    struct weft__waiter *wt = weft__waiter_pop(&l->waiters);
    l->owner = wt->w.task->id;
    wt->granted = true;
    weft__task_wake(wt->w.task, 0);
}

int weft__lock_wait(struct weft__lock *l, bool noint) {
    struct weft__waiter wt = {
        .w = {.noint = noint, .kind = WEFT__WAIT_LOCK, .obj = l}};
    int r = weft__waiter_park(&l->waiters, &wt);
    /* Handed the lock, but cancelled (or past a deadline) before it ran:
     * pass it on rather than return an error holding it (asyncio). */
    if (r < 0 && wt.granted)
        weft__lock_pass(l);
    return r;
}

void weft__lock_reacquire(struct weft__lock *l, struct weft_task *t) {
    if (l->owner == 0)
        l->owner = t->id;
    else
        weft__lock_wait(l, true);
}

/* Take the lock for the running task if it is free: 0, -EAGAIN if another
 * task holds it, -EDEADLK (logged) if this one does. */
static int take(struct weft__lock *l, const char *fn) {
    struct weft_task *t = weft__task_current();
    if (WEFT__LIKELY(l->owner == 0)) {
        l->owner = t->id;
        return 0;
    }
    if (l->owner != t->id)
        return -EAGAIN;
    weft__log(WEFT_LOG_WARN,
              "%s: task %llu already holds lock %p (locks are not recursive)",
              fn, (unsigned long long)t->id, (void *)l);
    return -EDEADLK;
}

int weft_lock_acquire(weft_lock_t *lock) {
    struct weft__lock *l = L(lock);
    int err = check(l, true, "weft_lock_acquire");
    if (!err)
        err = take(l, "weft_lock_acquire");
    return err == -EAGAIN ? weft__lock_wait(l, false) : err;
}

int weft_lock_try_acquire(weft_lock_t *lock) {
    struct weft__lock *l = L(lock);
    int err = check(l, true, "weft_lock_try_acquire");
    return err ? err : take(l, "weft_lock_try_acquire");
}

int weft_lock_release(weft_lock_t *lock) {
    struct weft__lock *l = L(lock);
    int err = check(l, false, "weft_lock_release");
    if (err)
        return err;
    struct weft_task *t = weft__task_current();
    if (WEFT__UNLIKELY(!t || l->owner != t->id)) {
        weft__log(WEFT_LOG_WARN, "weft_lock_release: lock %p is %s", (void *)lock,
                  l->owner == 0 ? "not locked"
                  : t           ? "held by another task"
                                : "held by a task, not by this callback");
        return -EPERM;
    }
    weft__lock_pass(l);
    return 0;
}

bool weft_lock_locked(const weft_lock_t *lock) {
    const struct weft__lock *l = (const struct weft__lock *)(const void *)lock;
    return l && l->owner != 0;
}
