/* weft/sync.h - synchronisation between the tasks of one loop: Lock, Event,
 * Condition, Semaphore, BoundedSemaphore, and FIFO / LIFO / priority queues
 * (asyncio's Lock, Event, Condition, Semaphore, BoundedSemaphore, Queue,
 * LifoQueue, PriorityQueue).
 *
 * These coordinate tasks, not threads: nothing here takes a mutex, and an
 * object belongs to one loop. It is bound to the loop of the first thread
 * that uses it while running a loop (a task or a callback), and from then
 * on every call must come from that loop, or from its thread while it is
 * not running (before weft_loop_run_*, or after weft_run to drain a queue).
 * A call from another loop or thread is misuse: logged, -EPERM, and nothing
 * changes. An object stays bound to its loop: re-initialise it to use it
 * with another. Read-only queries (weft_lock_locked, weft_queue_qsize ...)
 * do not check, and must not race with the loop either.
 *
 * Storage is the caller's: each object is a struct of private words that
 * can be embedded in your own structs or live on a task's stack; nothing is
 * allocated except a queue's element buffer. Initialise before use, and do
 * not move or copy an initialised object (waiting tasks point into it).
 * Destroy it when done; destroying an object that tasks wait on is refused
 * (-EBUSY). Using an object before init or after destroy is reported
 * (-EINVAL, logged) as long as its memory still says so; NULL is -EINVAL.
 *
 * Every call that waits (acquire, wait, put, get, join):
 *   - must run in a task (-EPERM, logged, elsewhere);
 *   - returns -ECANCELED when the task is cancelled and -ETIMEDOUT when a
 *     deadline scope around it expires (task.h); cancellation is
 *     level-triggered, so a cancelled task's later waits fail too;
 *   - does not suspend when it can complete at once (a free lock, a set
 *     event, a queue with an item), and then returns success even in a
 *     cancelled task, as asyncio does and as weft_await on a done future;
 *   - queues its task in FIFO order: waiters are served in the order they
 *     started waiting, so nobody starves.
 * What a waiter waits for is handed to it directly when it becomes
 * available: the lock (ownership), a semaphore's permit, a queue's item or
 * free slot. A task that comes later cannot take it first, and nothing is
 * lost when a waiter is cancelled or its deadline passes:
 *   - cancelled while still queued: it was handed nothing; the next waiter
 *     is served instead.
 *   - handed a lock or a permit, then cancelled (or its deadline passed)
 *     before it ran again: it passes the lock / permit on to the next
 *     waiter (or back to the object) and returns -ECANCELED (-ETIMEDOUT),
 *     as asyncio does. So a call that fails never leaves you holding
 *     anything.
 *   - handed a queue item, or its item was taken into the queue, then
 *     cancelled: the get / put returns success (the item is yours / the
 *     queue's), and the cancel shows at the task's next wait, as for a read
 *     that got data (task.h).
 * Waking never runs user code: it only makes the waiter ready, so a call
 * like weft_lock_release() or weft_queue_put_nowait() returns before the
 * woken task runs.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock (asyncio.Lock) -------------------------------------------------
 * A mutual exclusion lock owned by a task. Not recursive. Released only by
 * the task that holds it. A task that returns while holding a lock leaves
 * it locked (nothing releases it for you: use your clean-up path). */
typedef struct weft_lock {
    uint64_t private_[8];
} weft_lock_t;

/* Initialise an unlocked lock. Returns 0, -EINVAL (NULL). */
WEFT_EXPORT int weft_lock_init(weft_lock_t *lock);

/* Forget the lock. Returns 0; -EBUSY if tasks wait for it (logged; nothing
 * changes); -EINVAL. Destroying a held lock is allowed; its holder's
 * release then fails with -EINVAL. May be called from any thread once no
 * task can use the lock (for instance after weft_run returned). */
WEFT_EXPORT int weft_lock_destroy(weft_lock_t *lock);

/* Acquire the lock, waiting (FIFO) while another task holds it. Returns 0
 * (the current task holds the lock), -ECANCELED, -ETIMEDOUT, -EDEADLK if
 * the task already holds it (logged), -EPERM (not in a task, wrong loop),
 * -EINVAL. On any error the task does not hold the lock. */
WEFT_EXPORT int weft_lock_acquire(weft_lock_t *lock);

/* Acquire the lock if it is free, without waiting. A lock released to a
 * waiting task belongs to that task already, so this does not take it.
 * Returns 0, -EAGAIN (held), -EDEADLK (held by the caller; logged), -EPERM
 * (not in a task, wrong loop), -EINVAL. */
WEFT_EXPORT int weft_lock_try_acquire(weft_lock_t *lock);

/* Release the lock held by the current task: the first waiting task (if
 * any) becomes its owner and is woken. Returns 0, or -EPERM (logged) if the
 * caller does not hold it: another task holds it, it is not locked, or the
 * caller is not a task; -EINVAL. */
WEFT_EXPORT int weft_lock_release(weft_lock_t *lock);

/* True while some task holds the lock (including a waiter it was handed to
 * that has not run yet). */
WEFT_EXPORT bool weft_lock_locked(const weft_lock_t *lock);

/* ---- Event (asyncio.Event) ----------------------------------------------
 * A flag tasks can wait for. */
typedef struct weft_event {
    uint64_t private_[6];
} weft_event_t;

/* Initialise a clear event. Returns 0, -EINVAL. */
WEFT_EXPORT int weft_event_init(weft_event_t *event);

/* Returns 0; -EBUSY if tasks wait on it (logged); -EINVAL. Any thread,
 * once no task can use it. */
WEFT_EXPORT int weft_event_destroy(weft_event_t *event);

/* Set the flag and wake every waiting task (in the order they began to
 * wait). Tasks or callbacks may call it. Returns 0, -EPERM (wrong loop or
 * thread), -EINVAL. */
WEFT_EXPORT int weft_event_set(weft_event_t *event);

/* Clear the flag. Tasks already woken by a set still return 0 from their
 * wait. Returns 0, -EPERM, -EINVAL. */
WEFT_EXPORT int weft_event_clear(weft_event_t *event);

WEFT_EXPORT bool weft_event_is_set(const weft_event_t *event);

/* Wait until the event is set; returns 0 at once if it is set already.
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. A waiter woken by a
 * set and cancelled before it ran reports -ECANCELED (it consumed nothing:
 * the event is still set, unless cleared). */
WEFT_EXPORT int weft_event_wait(weft_event_t *event);

/* ---- Condition (asyncio.Condition) ------------------------------------
 * A condition variable over a lock: its own, or one you give (several
 * conditions may share a lock). wait and notify need the caller to hold
 * the lock. */
typedef struct weft_cond {
    uint64_t private_[16];
} weft_cond_t;

/* Initialise a condition over `lock` (initialised, of the same loop, and
 * outliving the condition), or over a lock of its own when `lock` is NULL.
 * Returns 0, -EINVAL (NULL condition, uninitialised lock). */
WEFT_EXPORT int weft_cond_init(weft_cond_t *cond, weft_lock_t *lock);

/* Returns 0; -EBUSY if tasks wait on the condition or on its own lock
 * (logged); -EINVAL. Does not destroy a lock given to init. */
WEFT_EXPORT int weft_cond_destroy(weft_cond_t *cond);

/* The condition's lock (the one given to init, or its own). Borrowed:
 * valid while the condition is. */
WEFT_EXPORT weft_lock_t *weft_cond_lock(weft_cond_t *cond);

/* weft_lock_acquire / weft_lock_release of the condition's lock. */
WEFT_EXPORT int weft_cond_acquire(weft_cond_t *cond);
WEFT_EXPORT int weft_cond_release(weft_cond_t *cond);

/* Release the lock, wait until notified, re-acquire the lock. Always
 * returns holding the lock, whatever the result: 0 (notified), -ECANCELED,
 * -ETIMEDOUT. After a cancel or a deadline the lock is re-acquired without
 * interruption (as asyncio does), so the wait may last until the holder
 * releases it. A cancel or an expired deadline already pending when it is
 * called returns at once, without releasing the lock. A notified waiter is
 * moved straight to the lock's queue (it wakes only once it owns the lock)
 * and returns 0 even if cancelled meanwhile: the notification is never
 * lost, and the cancel shows at the next wait. Wake-ups come only from
 * notify, but as in every condition variable, re-check your predicate
 * (weft_cond_wait_for does). Returns -EPERM without waiting if the caller
 * does not hold the lock (logged) or is not a task; -EINVAL. */
WEFT_EXPORT int weft_cond_wait(weft_cond_t *cond);

/* Wait until pred(arg) returns true: it is evaluated first, then after
 * every wake-up, always with the lock held. Returns 0 (pred is true) or
 * the error of weft_cond_wait, with the lock held in every case except
 * -EPERM / -EINVAL. */
WEFT_EXPORT int weft_cond_wait_for(weft_cond_t *cond, bool (*pred)(void *arg),
                                   void *arg);

/* Wake up to n waiters (the longest waiting first); they return from
 * weft_cond_wait once they get the lock, after the caller released it.
 * The caller must hold the lock (-EPERM, logged). Returns the number woken
 * (0 when nobody waits), -EPERM, -EINVAL. */
WEFT_EXPORT int weft_cond_notify(weft_cond_t *cond, int n);

/* Wake every waiter; as weft_cond_notify. */
WEFT_EXPORT int weft_cond_notify_all(weft_cond_t *cond);

/* ---- Semaphore and BoundedSemaphore -----------------------------------
 * A counter of permits: acquire takes one (waiting, FIFO, while there are
 * none), release gives one back. A bounded semaphore refuses a release
 * that would raise the counter above its initial value. */
typedef struct weft_sem {
    uint64_t private_[8];
} weft_sem_t;

/* A semaphore with `value` permits. Returns 0, -EINVAL. */
WEFT_EXPORT int weft_sem_init(weft_sem_t *sem, unsigned value);

/* A bounded semaphore (asyncio.BoundedSemaphore): `value` permits, never
 * more. Returns 0, -EINVAL. */
WEFT_EXPORT int weft_sem_init_bounded(weft_sem_t *sem, unsigned value);

/* Returns 0; -EBUSY if tasks wait on it (logged); -EINVAL. Any thread,
 * once no task can use it. */
WEFT_EXPORT int weft_sem_destroy(weft_sem_t *sem);

/* Take a permit, waiting (FIFO) while there is none. Returns 0, -ECANCELED,
 * -ETIMEDOUT, -EPERM (not in a task, wrong loop), -EINVAL. On error no
 * permit was taken. */
WEFT_EXPORT int weft_sem_acquire(weft_sem_t *sem);

/* Take a permit if one is free. Returns 0, -EAGAIN, -EPERM, -EINVAL. */
WEFT_EXPORT int weft_sem_try_acquire(weft_sem_t *sem);

/* Give a permit back: to the first waiting task if any (it is woken with
 * it), else to the counter. Tasks and callbacks may call it. Returns 0;
 * -EOVERFLOW (logged, nothing changes) if a bounded semaphore would exceed
 * its initial value, or any semaphore UINT_MAX; -EPERM; -EINVAL. */
WEFT_EXPORT int weft_sem_release(weft_sem_t *sem);

/* Permits free now (0 when acquire would wait: asyncio's locked()). */
WEFT_EXPORT unsigned weft_sem_value(const weft_sem_t *sem);

/* ---- Queues (asyncio.Queue, LifoQueue, PriorityQueue) -------------------
 * Elements are `void *` values, NULL included. The queue stores the pointer
 * and never dereferences or frees it: whatever it points to belongs to the
 * caller, and "ownership" passes with the pointer by your own convention
 * (put gives it to the queue, get gives it to the getter). Where the queue
 * drops elements (weft_queue_shutdown with immediate, weft_queue_destroy)
 * it hands each to your drop function so you can free it.
 *
 * maxsize 0 is unbounded (the buffer grows as needed, and is freed when
 * the queue empties after a burst); otherwise put waits while maxsize items
 * are queued (backpressure). An item handed straight to a waiting getter
 * never enters the buffer, so put_nowait to a full queue with waiting
 * getters cannot happen: a queue with waiting getters is empty.
 *
 * Shutdown (Python 3.13's Queue.shutdown): put fails with -ESHUTDOWN;
 * get returns the items still queued, then -ESHUTDOWN; every waiting
 * getter and putter is woken with -ESHUTDOWN (a putter keeps its item).
 *
 * Memory: the element buffer is allocated by put (-ENOMEM if that fails;
 * nothing is queued then). A blocked put whose item is admitted when a
 * slot frees never allocates. */
typedef struct weft_queue {
    uint64_t private_[24];
} weft_queue_t;

/* Order of a priority queue: negative if a comes out before b, 0 if equal.
 * Called with the elements as put; must not call weft functions. */
typedef int (*weft_queue_cmp_fn)(const void *a, const void *b, void *arg);

/* Receives an element the queue drops (see weft_queue_shutdown and
 * weft_queue_destroy); usually frees it. */
typedef void (*weft_queue_drop_fn)(void *item, void *arg);

/* A FIFO queue (asyncio.Queue). Returns 0, -EINVAL. Allocates nothing. */
WEFT_EXPORT int weft_queue_init(weft_queue_t *queue, size_t maxsize);

/* A LIFO queue (asyncio.LifoQueue): get returns the newest item. */
WEFT_EXPORT int weft_queue_init_lifo(weft_queue_t *queue, size_t maxsize);

/* A priority queue (asyncio.PriorityQueue): get returns the smallest item
 * by (priority, cmp, order of arrival): first the integer priority given
 * to weft_queue_put_prio (weft_queue_put uses 0), lowest first; among
 * equal priorities, by cmp(a, b, cmp_arg) if cmp is not NULL; among items
 * still equal, the first put comes out first (asyncio compares the items
 * themselves; an equal rank here never compares anything else, and FIFO
 * order among equals is guaranteed). Returns 0, -EINVAL. */
WEFT_EXPORT int weft_queue_init_prio(weft_queue_t *queue, size_t maxsize,
                                     weft_queue_cmp_fn cmp, void *cmp_arg);

/* Forget the queue and free its buffer. Elements still queued are passed
 * to drop(item, arg) in the order get would return them (drop NULL: they
 * are forgotten). Returns 0; -EBUSY if tasks wait on it (logged; nothing
 * changes); -EINVAL. Any thread, once no task can use the queue. */
WEFT_EXPORT int weft_queue_destroy(weft_queue_t *queue,
                                   weft_queue_drop_fn drop, void *arg);

/* Put an item, waiting (FIFO among putters) while the queue is full. The
 * item goes straight to the first waiting getter if there is one. Returns
 * 0 (the item is the queue's now, even if the task was cancelled after its
 * turn came: the cancel shows at its next wait), -ESHUTDOWN, -ECANCELED,
 * -ETIMEDOUT, -ENOMEM, -EPERM, -EINVAL. On error the item is still yours. */
WEFT_EXPORT int weft_queue_put(weft_queue_t *queue, void *item);

/* Put without waiting: 0, -EAGAIN (full), -ESHUTDOWN, -ENOMEM, -EPERM,
 * -EINVAL. Tasks and callbacks may call it. */
WEFT_EXPORT int weft_queue_put_nowait(weft_queue_t *queue, void *item);

/* weft_queue_put / _nowait with an integer priority (lower comes out
 * first); only for priority queues (-EINVAL, logged, for others). */
WEFT_EXPORT int weft_queue_put_prio(weft_queue_t *queue, void *item,
                                    int64_t prio);
WEFT_EXPORT int weft_queue_put_prio_nowait(weft_queue_t *queue, void *item,
                                           int64_t prio);

/* Take the next item into *item, waiting (FIFO among getters) while the
 * queue is empty. Returns 0 (the item is yours, even if the task was
 * cancelled after it was handed over: the cancel shows at the next wait),
 * -ESHUTDOWN (shut down and empty), -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL
 * (item NULL). On error *item is left alone. */
WEFT_EXPORT int weft_queue_get(weft_queue_t *queue, void **item);

/* Take an item without waiting: 0, -EAGAIN (empty), -ESHUTDOWN (shut down
 * and empty), -EPERM, -EINVAL. Tasks and callbacks may call it. */
WEFT_EXPORT int weft_queue_get_nowait(weft_queue_t *queue, void **item);

/* Items in the queue (not counting items of putters still waiting). */
WEFT_EXPORT size_t weft_queue_qsize(const weft_queue_t *queue);
WEFT_EXPORT size_t weft_queue_maxsize(const weft_queue_t *queue);
WEFT_EXPORT bool weft_queue_empty(const weft_queue_t *queue);
/* True when bounded and maxsize items are queued. */
WEFT_EXPORT bool weft_queue_full(const weft_queue_t *queue);

/* Items put and not yet marked done with weft_queue_task_done. */
WEFT_EXPORT size_t weft_queue_unfinished(const weft_queue_t *queue);

/* Mark one item taken from the queue as processed (asyncio's task_done).
 * When every item put has been marked, join's waiters are woken. Returns
 * 0, -EINVAL (logged) when called more times than items were put; -EPERM,
 * -EINVAL. Tasks and callbacks may call it. */
WEFT_EXPORT int weft_queue_task_done(weft_queue_t *queue);

/* Wait until every item put has been marked done; returns 0 at once if so.
 * Returns 0, -ECANCELED, -ETIMEDOUT, -EPERM, -EINVAL. */
WEFT_EXPORT int weft_queue_join(weft_queue_t *queue);

/* Shut the queue down: later puts fail with -ESHUTDOWN, and gets once the
 * queue is empty; every task waiting in put or get is woken with
 * -ESHUTDOWN (a waiting putter's item was not queued: still its own). With
 * `immediate`, the queued items are removed too: each is passed to
 * drop(item, arg) (if drop is not NULL) and counted as done for join, so
 * get fails at once. Items already handed to a getter that has not run yet
 * are that getter's. Calling it again is harmless (immediate drains what a
 * first, non-immediate call left). Tasks and callbacks may call it.
 * Returns 0, -EPERM, -EINVAL. */
WEFT_EXPORT int weft_queue_shutdown(weft_queue_t *queue, bool immediate,
                                    weft_queue_drop_fn drop, void *arg);

WEFT_EXPORT bool weft_queue_is_shutdown(const weft_queue_t *queue);

#ifdef __cplusplus
}
#endif
#endif
