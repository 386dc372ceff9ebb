/* Internal: what the synchronisation objects share.
 *
 * Every object starts with a header binding it to one loop, and keeps its
 * waiting tasks in FIFO lists of weft__waiter records that live on the
 * waiting tasks' stacks. A record is linked exactly while its task waits
 * and has been handed nothing: whoever hands it something (a lock, a
 * permit, an item, a slot) unlinks it first, stores what it hands in the
 * record, and wakes the task; an interrupted wait unlinks itself (abort),
 * so it is never handed anything afterwards.
 */
#ifndef WEFT_SYNC_INT_H
#define WEFT_SYNC_INT_H

#include "../task/task_int.h"
#include "weft/sync.h"

/* The header of every object. */
struct weft__sync_hdr {
    weft_loop_t *loop;  /* bound loop, NULL until first used under a loop */
    const void *thread; /* token of the loop's thread (compared, never read) */
    uint32_t magic;     /* what kind of object, 0 once destroyed */
};

enum {
    WEFT__SYNC_LOCK = 0x6c6f636bu,  /* "lock" */
    WEFT__SYNC_EVENT = 0x65766e74u, /* "evnt" */
    WEFT__SYNC_COND = 0x636f6e64u,  /* "cond" */
    WEFT__SYNC_SEM = 0x73656d61u,   /* "sema" */
    WEFT__SYNC_QUEUE = 0x71756575u, /* "queu" */
};

void weft__sync_hdr_init(struct weft__sync_hdr *h, uint32_t magic);

/* The end of every destroy, once it has found an initialised object:
 * -EBUSY (logged) if tasks wait on it (`busy`), else mark it destroyed. */
int weft__sync_retire(struct weft__sync_hdr *h, bool busy, const char *fn);

int weft__sync_check_slow(struct weft__sync_hdr *h, uint32_t magic,
                          const char *fn);

/* The entry check of every call but the read-only queries: for the calls
 * that wait or take something for the task (`task`), a running task; then
 * an initialised object of this kind, used from its loop (binding it on
 * first use). Returns 0, -EINVAL (logged unless NULL) or -EPERM (logged). */
static inline int weft__sync_check(struct weft__sync_hdr *h, uint32_t magic,
                                   bool task, const char *fn) {
    if (task && WEFT__UNLIKELY(!weft__task_require(fn)))
        return -EPERM;
    weft_loop_t *cur = weft__tls_loop;
    if (WEFT__LIKELY(h && h->magic == magic && h->loop == cur && cur))
        return 0;
    return weft__sync_check_slow(h, magic, fn);
}

/* A waiting task. */
struct weft__waiter {
    struct weft__wait w;
    struct weft__list link; /* in the object's waiter list while waiting */
    void *item;             /* queue: the item handed over / to put */
    int64_t prio;           /* priority queue: the item's priority */
    bool granted;           /* handed the lock / a permit */
};

/* Link wt at the end of `list` and park. On return wt is unlinked. The
 * result is the waker's (0, or an error such as -ESHUTDOWN) or an
 * interruption (-ECANCELED, -ETIMEDOUT). */
int weft__waiter_park(struct weft__list *list, struct weft__waiter *wt);

/* Unlink the first waiter of a non-empty list. */
static inline struct weft__waiter *weft__waiter_pop(struct weft__list *list) {
    struct weft__list *n = weft__list_pop_front(list);
    return WEFT__CONTAINER_OF(n, struct weft__waiter, link);
}

/* Wake every waiter of `list`, in order, with `result`. */
void weft__waiter_wake_all(struct weft__list *list, int result);

/* What would interrupt a wait of t right now (0, -ECANCELED, -ETIMEDOUT),
 * reported as weft__park would report it. For waits that must not start
 * (and undo something) when they would fail at once. */
int weft__sync_interrupted(struct weft_task *t);

/* The lock (lock.c), for the condition (cond.c). */
struct weft__lock {
    struct weft__sync_hdr h;
    uint64_t owner;            /* task id of the holder, 0 when free */
    struct weft__list waiters; /* weft__waiter */
};

static inline struct weft__lock *weft__lock_of(weft_lock_t *l) {
    return (struct weft__lock *)(void *)l;
}

void weft__lock_init(struct weft__lock *l);
/* Hand the lock to the first waiter, or free it. */
void weft__lock_pass(struct weft__lock *l);
/* Wait for the lock (it is held by someone else). noint: the wait cannot
 * be interrupted (a condition re-acquiring its lock). */
int weft__lock_wait(struct weft__lock *l, bool noint);
/* Acquire for a task that must end up holding it: uninterruptibly. */
void weft__lock_reacquire(struct weft__lock *l, struct weft_task *t);

#endif
