/* Deadline and cancel scopes. A scope is a link in its task's chain
 * (innermost first); what may interrupt a wait is found by walking that
 * chain outward until a shield. */
#include <math.h>

#include "task_int.h"

#define SCOPE_MAGIC 0x73636f70u /* "scop" */

_Static_assert(sizeof(struct weft__scope) <= sizeof(weft_scope_t),
               "weft_scope_t too small");
_Static_assert(_Alignof(struct weft__scope) <= _Alignof(weft_scope_t),
               "weft_scope_t misaligned");

static inline struct weft__scope *S(weft_scope_t *s) {
    return (struct weft__scope *)(void *)s;
}

/* What interrupts a wait inside scope `s` of t's chain (NULL: outside
 * every scope): walking outward up to the first shield, the outermost
 * scope that is cancelled (a group's cancellation, a stop request in a
 * stoppable scope) or expired; beyond every scope, unless a shield stands
 * in the way, the task's own cancellation, the outermost of all. This is
 * Trio's rule: an interruption belongs to the outermost cancelled scope
 * that can see it, so an inner scope that expired too lets it through. */
static int pending_from(const struct weft_task *t, struct weft__scope *s,
                        struct weft__scope **by) {
    int err = 0;
    *by = NULL;
    for (; s; s = s->outer) {
        if ((s->flags & WEFT__SCOPE_CANCELLED) ||
            ((s->flags & WEFT__SCOPE_STOPPABLE) &&
             (t->flags & WEFT__TASK_STOP))) {
            err = -ECANCELED;
            *by = s;
        } else if (s->flags & WEFT__SCOPE_EXPIRED) {
            err = -ETIMEDOUT;
            *by = s;
        }
        if (s->flags & WEFT__SCOPE_SHIELD)
            return err;
    }
    if (t->flags & WEFT__TASK_CANCELLED) {
        *by = NULL;
        return -ECANCELED;
    }
    return err;
}

int weft__task_pending(const struct weft_task *t, struct weft__scope **by) {
    if (WEFT__UNLIKELY(t->asleep != NULL))
        weft__task_thaw((struct weft_task *)(uintptr_t)t);
    return pending_from(t, t->scopes, by);
}

static void catch_up(struct weft_task *t);

/* pending_from(), deciding now: deadlines that passed count, and the scope
 * that owns a timeout is marked as having caught it. */
static int take_pending(struct weft_task *t, struct weft__scope *from) {
    catch_up(t);
    struct weft__scope *by;
    int err = pending_from(t, from, &by);
    if (err == -ETIMEDOUT)
        by->flags |= WEFT__SCOPE_CAUGHT;
    return err;
}

int weft__task_interrupted(struct weft_task *t) {
    return take_pending(t, t->scopes);
}

int weft__scope_outcome(struct weft_task *t, struct weft__scope *s) {
    return (s->flags & WEFT__SCOPE_SHIELD) ? 0 : take_pending(t, s->outer);
}

void weft__task_recheck(struct weft_task *t) {
    if (WEFT__UNLIKELY(t->asleep != NULL))
        weft__task_thaw(t);
    uint32_t p = (t->flags & (WEFT__TASK_CANCELLED | WEFT__TASK_STOP)) != 0;
    for (struct weft__scope *s = t->scopes; s && !p; s = s->outer)
        p = (s->flags & (WEFT__SCOPE_EXPIRED | WEFT__SCOPE_CANCELLED)) != 0;
    t->pending = (t->pending & WEFT__PEND_FP) | (p ? WEFT__PEND_INT : 0);
}

/* The task's deadline timer is armed for the earliest deadline among its
 * scopes that have not expired yet. -ENOMEM (logged) if the timer heap
 * could not grow. */
static int rearm(struct weft_task *t) {
    uint64_t min = WEFT__NS_INF;
    for (struct weft__scope *s = t->scopes; s; s = s->outer)
        if (!(s->flags & WEFT__SCOPE_EXPIRED) && s->deadline < min)
            min = s->deadline;
    weft_loop_t *loop = t->loop;
    if (weft__timer_armed(&t->deadline)) {
        if (t->deadline.when == min)
            return 0;
        weft__loop_timer_cancel(loop, &t->deadline);
    }
    if (min < WEFT__NS_INF && weft__loop_timer_arm(loop, &t->deadline, min)) {
        weft__log(WEFT_LOG_ERROR, "no memory to arm a deadline of task %llu",
                  (unsigned long long)t->id);
        return -ENOMEM;
    }
    return 0;
}

/* Mark every scope of t whose deadline has come as expired. */
static bool expire_due(struct weft_task *t, uint64_t now) {
    bool any = false;
    for (struct weft__scope *s = t->scopes; s; s = s->outer) {
        if (!(s->flags & WEFT__SCOPE_EXPIRED) && s->deadline <= now) {
            s->flags |= WEFT__SCOPE_EXPIRED;
            any = true;
        }
    }
    return any;
}

/* Deadlines that passed while the loop could not fire their timer (a
 * blocking call, weft_loop_advance) are marked where an interruption is
 * being decided, so the outermost expired scope is found as it is now. */
static void catch_up(struct weft_task *t) {
    if (expire_due(t, t->loop->now)) {
        weft__task_recheck(t);
        rearm(t);
    }
}

static void deadline_fire(struct weft__timer *tm) {
    struct weft_task *t = WEFT__CONTAINER_OF(tm, struct weft_task, deadline);
    if (WEFT__UNLIKELY(t->asleep != NULL))
        weft__task_thaw(t);
    if (expire_due(t, t->loop->now))
        weft__task_interrupt(t);
    rearm(t);
}

void weft__scope_timer_init(struct weft_task *t) {
    weft__timer_init(&t->deadline, deadline_fire);
}

void weft__scope_push(struct weft_task *t, struct weft__scope *s,
                      uint32_t flags) {
    s->task = t;
    s->deadline = WEFT__NS_INF;
    s->flags = flags | WEFT__SCOPE_ACTIVE;
    s->magic = SCOPE_MAGIC;
    s->outer = t->scopes;
    t->scopes = s;
    t->nscopes++;
}

int weft__scope_arm(struct weft__scope *s, uint64_t deadline) {
    struct weft_task *t = s->task;
    uint64_t old = s->deadline;
    s->deadline = deadline;
    if (deadline <= t->loop->now) {
        /* Due already: expired now, and a task waiting (when another task
         * moves the deadline back) is interrupted at once. */
        s->flags |= WEFT__SCOPE_EXPIRED;
        weft__task_interrupt(t);
    }
    if (rearm(t) < 0) {
        /* A deadline that would never fire: keep the old one (its timer
         * had a slot, so arming it again cannot fail) and say so. */
        s->deadline = old;
        rearm(t);
        return -ENOMEM;
    }
    return 0;
}

void weft__scope_pop(struct weft__scope *s) {
    struct weft_task *t = s->task;
    struct weft__scope **pp = &t->scopes;
    while (*pp && *pp != s)
        pp = &(*pp)->outer;
    if (*pp) {
        *pp = s->outer;
        t->nscopes--;
    }
    s->flags = (s->flags & ~(uint32_t)WEFT__SCOPE_ACTIVE) |
               WEFT__SCOPE_EXITED;
    s->magic = 0;
    if (s->deadline < WEFT__NS_INF)
        rearm(t);
    weft__task_recheck(t);
}

int weft__deadline_ns(const weft_loop_t *loop, double secs, bool absolute,
                      uint64_t *out) {
    if (isnan(secs))
        return -EINVAL;
    if (secs == (double)INFINITY) {
        *out = WEFT__NS_INF;
        return 0;
    }
    uint64_t ns;
    weft__secs_to_ns(secs, &ns);
    *out = absolute ? ns : weft__loop_deadline(loop, ns);
    return 0;
}

static bool active(const struct weft__scope *s) {
    return s->magic == SCOPE_MAGIC && (s->flags & WEFT__SCOPE_ACTIVE);
}

bool weft__scope_is_open(const struct weft_task *t,
                         const struct weft__scope *s) {
    /* Pointers only: the caller's storage is not read (a scope about to
     * be entered is uninitialised memory, as valgrind would say). */
    for (const struct weft__scope *c = t->scopes; c; c = c->outer)
        if (c == s)
            return true;
    return false;
}

static int enter(weft_scope_t *scope, double secs, bool absolute,
                 unsigned flags, const char *fn) {
    struct weft_task *t = weft__task_require(fn);
    if (!t)
        return -EPERM;
    uint64_t deadline;
    if (!scope || (flags & ~(unsigned)(WEFT_SCOPE_SHIELD |
                                       WEFT_SCOPE_STOPPABLE)) ||
        weft__deadline_ns(t->loop, secs, absolute, &deadline))
        return -EINVAL;
    struct weft__scope *s = S(scope);
    if (weft__scope_is_open(t, s)) {
        weft__log(WEFT_LOG_WARN, "%s: scope %p is already open", fn,
                  (void *)scope);
        return -EINVAL;
    }
    weft__scope_push(t, s, flags);
    if (deadline < WEFT__NS_INF && weft__scope_arm(s, deadline) < 0) {
        weft__scope_pop(s);
        return -ENOMEM;
    }
    return 0;
}

int weft_scope_enter(weft_scope_t *scope, double timeout, unsigned flags) {
    return enter(scope, timeout, false, flags, "weft_scope_enter");
}

int weft_scope_enter_at(weft_scope_t *scope, double deadline,
                        unsigned flags) {
    return enter(scope, deadline, true, flags, "weft_scope_enter_at");
}

int weft_scope_reschedule(weft_scope_t *scope, double deadline) {
    if (!scope || !active(S(scope)))
        return -EINVAL;
    struct weft__scope *s = S(scope);
    uint64_t ns;
    if (weft__deadline_ns(s->task->loop, deadline, true, &ns))
        return -EINVAL;
    if (s->flags & WEFT__SCOPE_EXPIRED)
        return 0;
    int err = weft__loop_check(s->task->loop, "weft_scope_reschedule");
    if (err)
        return err;
    return weft__scope_arm(s, ns);
}

bool weft_scope_expired(const weft_scope_t *scope) {
    const struct weft__scope *s = (const struct weft__scope *)(const void *)
        scope;
    return s && (s->flags & WEFT__SCOPE_EXPIRED);
}

double weft_scope_deadline(const weft_scope_t *scope) {
    const struct weft__scope *s = (const struct weft__scope *)(const void *)
        scope;
    if (!s || !(s->flags & (WEFT__SCOPE_ACTIVE | WEFT__SCOPE_EXITED)))
        return NAN;
    if (s->deadline >= WEFT__NS_INF)
        return INFINITY;
    return (double)s->deadline / 1e9;
}

int weft_scope_exit(weft_scope_t *scope) {
    struct weft_task *t = weft__task_require("weft_scope_exit");
    if (!t)
        return -EPERM;
    if (!scope || !active(S(scope)) || S(scope)->task != t) {
        weft__log(WEFT_LOG_WARN,
                  "weft_scope_exit: scope %p is not open in this task",
                  (void *)scope);
        return -EINVAL;
    }
    struct weft__scope *s = S(scope);
    if (s->flags & WEFT__SCOPE_GROUP) {
        weft__log(WEFT_LOG_WARN, "weft_scope_exit: %p is a group; use "
                                 "weft_group_exit",
                  (void *)scope);
        return -EINVAL;
    }
    int err = 0;
    if (t->scopes != s) {
        weft__log(WEFT_LOG_WARN,
                  "weft_scope_exit: scope %p exited before the scopes nested "
                  "in it",
                  (void *)scope);
        err = -EINVAL;
    }
    bool caught = (s->flags & WEFT__SCOPE_CAUGHT) != 0;
    weft__scope_pop(s);
    if (err || !caught)
        return err;
    /* The deadline cut a wait short. Whatever interrupts waits outside
     * the scope now takes it over (Trio's rule, task.h): a cancellation
     * is reported as such, never turned into a timeout; a timeout of an
     * outer scope belongs to that scope, and this one lets it through. */
    switch (weft__scope_outcome(t, s)) {
    case -ECANCELED:
        return -ECANCELED;
    case -ETIMEDOUT:
        return 0;
    default:
        return -ETIMEDOUT;
    }
}
