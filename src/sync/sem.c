/* Semaphore and BoundedSemaphore: a counter of permits. A released permit
 * goes straight to the first waiter, so waiters are queued only while the
 * counter is 0, and a task arriving later never takes a permit first. */
#include <limits.h>

#include "sync_int.h"

struct weft__sem {
    struct weft__sync_hdr h;
    unsigned value;
    unsigned bound;            /* largest value allowed */
    struct weft__list waiters; /* weft__waiter */
};

_Static_assert(sizeof(struct weft__sem) <= sizeof(weft_sem_t),
               "weft_sem_t too small");
_Static_assert(_Alignof(struct weft__sem) <= _Alignof(weft_sem_t),
               "weft_sem_t misaligned");

static inline struct weft__sem *S(weft_sem_t *s) {
    return (struct weft__sem *)(void *)s;
}

static inline int check(struct weft__sem *s, bool task, const char *fn) {
    return weft__sync_check(s ? &s->h : NULL, WEFT__SYNC_SEM, task, fn);
}

static int init(weft_sem_t *sem, unsigned value, unsigned bound) {
    struct weft__sem *s = S(sem);
    if (!s)
        return -EINVAL;
    weft__sync_hdr_init(&s->h, WEFT__SYNC_SEM);
    s->value = value;
    s->bound = bound;
    weft__list_init(&s->waiters);
    return 0;
}

int weft_sem_init(weft_sem_t *sem, unsigned value) {
    return init(sem, value, UINT_MAX);
}

int weft_sem_init_bounded(weft_sem_t *sem, unsigned value) {
    return init(sem, value, value);
}

int weft_sem_destroy(weft_sem_t *sem) {
    struct weft__sem *s = S(sem);
    if (!s || s->h.magic != WEFT__SYNC_SEM)
        return -EINVAL;
    return weft__sync_retire(&s->h, !weft__list_empty(&s->waiters),
                             "weft_sem_destroy");
}

/* A permit comes back: to the first waiter, else to the counter (the
 * caller checked the bound). */
static void give(struct weft__sem *s) {
    if (weft__list_empty(&s->waiters)) {
        s->value++;
        return;
    }
    struct weft__waiter *wt = weft__waiter_pop(&s->waiters);
    wt->granted = true;
    weft__task_wake(wt->w.task, 0);
}

int weft_sem_acquire(weft_sem_t *sem) {
    struct weft__sem *s = S(sem);
    int err = check(s, true, "weft_sem_acquire");
    if (err)
        return err;
    if (WEFT__LIKELY(s->value > 0)) {
        s->value--;
        return 0;
    }
    struct weft__waiter wt = {.w = {.kind = WEFT__WAIT_SEM, .obj = s}};
    int r = weft__waiter_park(&s->waiters, &wt);
    /* Handed a permit, but cancelled (or past a deadline) before it ran:
     * pass it on (asyncio); the call fails holding nothing. */
    if (r < 0 && wt.granted)
        give(s);
    return r;
}

int weft_sem_try_acquire(weft_sem_t *sem) {
    struct weft__sem *s = S(sem);
    int err = check(s, false, "weft_sem_try_acquire");
    if (err)
        return err;
    if (s->value == 0)
        return -EAGAIN;
    s->value--;
    return 0;
}

int weft_sem_release(weft_sem_t *sem) {
    struct weft__sem *s = S(sem);
    int err = check(s, false, "weft_sem_release");
    if (err)
        return err;
    if (weft__list_empty(&s->waiters) && s->value >= s->bound) {
        weft__log(WEFT_LOG_WARN,
                  "weft_sem_release: semaphore %p released too many times "
                  "(value %u is its %s)",
                  (void *)sem, s->value,
                  s->bound == UINT_MAX ? "maximum" : "bound");
        return -EOVERFLOW;
    }
    give(s);
    return 0;
}

unsigned weft_sem_value(const weft_sem_t *sem) {
    const struct weft__sem *s = (const struct weft__sem *)(const void *)sem;
    return s ? s->value : 0;
}
