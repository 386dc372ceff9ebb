/* Internal: futures, tasks, waits, scopes and groups.
 *
 * The one primitive everything suspends through is weft__park(): the
 * running task describes what it waits for in a weft__wait (on its own
 * stack), parks, and is resumed by weft__task_wake() with a result. A wait
 * can be interrupted (cancellation, an expired deadline, a group
 * cancelled): the interrupter calls the wait's abort(), which either undoes
 * the wait at once (0) or starts undoing it and lets the completion wake the
 * task later (-EINPROGRESS: awaiting a task that must first unwind; an
 * io_uring operation that must first be cancelled in the kernel).
 */
#ifndef WEFT_TASK_INT_H
#define WEFT_TASK_INT_H

#include "../loop/loop_int.h"
#include "weft/task.h"

/* ---- futures ------------------------------------------------------------------- */

struct weft__fwaiter {
    struct weft__list link;
    void (*notify)(struct weft__fwaiter *w, weft_future_t *f);
};

struct weft__future_ops {
    /* Cancel request (tasks: cancel the task). NULL: complete as cancelled. */
    int (*cancel)(weft_future_t *f);
    /* Free the memory once the last reference is gone. */
    void (*destroy)(weft_future_t *f);
};

enum {
    WEFT__FUT_PENDING = 0,
    WEFT__FUT_DONE = 1,
};

struct weft_future {
    weft_loop_t *loop;
    const struct weft__future_ops *ops;
    uint32_t refs;
    uint8_t state;
    uint8_t retrieved; /* someone read the outcome */
    int status;
    void *value;
    struct weft__list waiters;      /* weft__fwaiter */
    struct weft__call *cb_head;     /* done-callbacks, held records */
    struct weft__call **cb_tail;
};

void weft__future_init(weft_future_t *f, weft_loop_t *loop,
                       const struct weft__future_ops *ops);
/* Complete a pending future: wake waiters, schedule callbacks. */
void weft__future_complete(weft_future_t *f, int status, void *value);
void weft__future_add_waiter(weft_future_t *f, struct weft__fwaiter *w);

/* ---- waits ---------------------------------------------------------------------- */

struct weft__scope;

/* What a wait is for, so that the task dump (src/debug) and the debugger
 * can say it: a kind and the object waited on, set where the wait is made
 * (in its initialiser, which writes the whole record anyway). */
enum weft__wait_kind {
    WEFT__WAIT_OTHER = 0,  /* not described */
    WEFT__WAIT_SLEEP,      /* obj NULL: the task's sleep timer says until */
    WEFT__WAIT_FUTURE,     /* obj: the future (a task's: joining that task) */
    WEFT__WAIT_GATHER,     /* obj NULL */
    WEFT__WAIT_GROUP,      /* obj: the struct weft__group being exited */
    WEFT__WAIT_LOCK,       /* obj: the weft_lock_t */
    WEFT__WAIT_EVENT,      /* obj: the weft_event_t */
    WEFT__WAIT_COND,       /* obj: the weft_cond_t */
    WEFT__WAIT_SEM,        /* obj: the weft_sem_t */
    WEFT__WAIT_QUEUE_GET,  /* obj: the weft_queue_t */
    WEFT__WAIT_QUEUE_PUT,  /* obj: the weft_queue_t */
    WEFT__WAIT_QUEUE_JOIN, /* obj: the weft_queue_t */
    WEFT__WAIT_DRAIN,      /* obj: the weft_stream_t */
    WEFT__WAIT_CONNECT,    /* obj NULL: Happy Eyeballs attempts */
    WEFT__WAIT_DNS,        /* obj NULL */
    WEFT__WAIT_SERVER,     /* obj: the weft_server_t (slot or close) */
    WEFT__WAIT_SIGNAL,     /* obj NULL */
    WEFT__WAIT_POOL,       /* obj: the weft_pool_t shutting down */
    WEFT__WAIT_IO,         /* obj: the struct weft__io; the record is a
                              struct weft__io_wait (io.h), whose events
                              say read or write */
    WEFT__WAIT_FILE,       /* obj: the weft_file_t, or NULL (by path);
                              the record is a weft__io_waiter */
};

struct weft__wait {
    struct weft_task *task;
    /* Undo the wait: 0 if undone now, -EINPROGRESS if a completion will
     * wake the task later. NULL: nothing to undo. */
    int (*abort)(struct weft__wait *w);
    int result;
    int interrupted;          /* the error that interrupted it, or 0 */
    struct weft__scope *by;   /* the scope responsible, if any */
    bool noint;               /* cannot be interrupted */
    /* Completing it consumed something (data read, an item taken): its
     * result is returned even if a cancel arrived before the task ran
     * again. Other waits (sleep, await, join) report the cancel instead,
     * as asyncio does. */
    bool consumes;
    uint8_t kind;           /* enum weft__wait_kind */
    const void *obj;        /* what is waited on (see the kinds) */
    uint64_t since;         /* loop time when it parked (weft__park) */
};

/* ---- scopes ---------------------------------------------------------------------- */

enum {
    WEFT__SCOPE_SHIELD = WEFT_SCOPE_SHIELD,
    WEFT__SCOPE_STOPPABLE = WEFT_SCOPE_STOPPABLE,
    WEFT__SCOPE_EXPIRED = 1u << 8,
    WEFT__SCOPE_CANCELLED = 1u << 9,
    WEFT__SCOPE_CAUGHT = 1u << 10,
    WEFT__SCOPE_GROUP = 1u << 11,
    WEFT__SCOPE_ACTIVE = 1u << 12,
    WEFT__SCOPE_EXITED = 1u << 13, /* entered once, closed since */
};

/* A scope lives in caller storage, usually a local of the task's function:
 * nothing outside the task may point into it, or a task that returns with a
 * scope still open would leave dangling pointers. So a scope owns no timer:
 * the task has one, armed for the nearest deadline of its chain (as Trio
 * does), and the chain is reached only through the task. */
struct weft__scope {
    struct weft__scope *outer;
    struct weft_task *task;
    uint64_t deadline; /* loop ns; WEFT__NS_INF for none */
    uint32_t flags;
    uint32_t magic;
};

/* ---- groups -------------------------------------------------------------------- */

enum {
    WEFT__GROUP_OPEN = 1u << 0,
    WEFT__GROUP_CANCELLED = 1u << 1,
    WEFT__GROUP_ROOT = 1u << 2,
};

struct weft__group {
    struct weft__scope scope; /* the owner's cancel scope */
    struct weft_task *owner;
    struct weft__list children;
    size_t n;
    int first_error;
    uint32_t flags;
    struct weft__wait *exit_wait; /* the owner, parked in exit */
    uint32_t magic;
};

/* ---- tasks ---------------------------------------------------------------------- */

enum {
    WEFT__TASK_CANCELLED = 1u << 0,
    WEFT__TASK_STOP = 1u << 1,
    WEFT__TASK_DONE = 1u << 2,
    WEFT__TASK_STARTED = 1u << 3,
};

struct weft_task {
    struct weft_future fut; /* first: a task is a future */
    struct weft__ready rnode;
    struct weft__ctx ctx;
    weft_loop_t *loop;
    struct weft__wait *wait;     /* the wait it is parked in */
    struct weft__stack_copy *asleep; /* hibernating: its stack's copy */
    struct weft__scope *scopes;  /* innermost scope */
    struct weft__group *group;
    struct weft__list gnode;     /* in the group's children */
    struct weft__list lnode;     /* in the loop's live tasks */
    struct weft__timer timer;    /* sleep */
    struct weft__timer grace;    /* soft cancel */
    struct weft__timer deadline; /* nearest deadline of its scopes */
    struct weft_task *gowner;    /* owner of its group (NULL: the root) */
    uint32_t nscopes, ngroups;   /* open in this task */
    weft_task_fn fn;
    void *arg;
    /* Once WEFT__TASK_CANCELLED is set: the first reason given, if any,
     * and the number of requests. */
    const char *cancel_msg;
    uint32_t ncancel;
    uint32_t flags;
    uint32_t pending; /* WEFT__PEND_*: nonzero sends waits to the slow path */
    uint64_t id;
    uintptr_t deepest; /* lowest stack pointer seen at a switch */
    /* What the two words of stack.canary must hold (16-byte aligned, for
     * one vector compare). */
    uint64_t canary[2] __attribute__((aligned(16)));
    struct weft__stack stack;
    unsigned vg_stack;
    char name[32];
    /* Where it was spawned: the return address of the weft_*spawn call,
     * resolved to a symbol only when someone asks (src/debug). */
    const void *spawn_site;
};

/* t->pending: the fast paths test the whole word once. */
enum {
    WEFT__PEND_INT = 1u << 0, /* something may interrupt: check first */
    WEFT__PEND_FP = 1u << 1,  /* the task switches its own FP state */
};

/* Per-loop state of the task layer. */
struct weft__tasks {
    struct weft__hook close_hook, free_hook;
    struct weft__group root;
    struct weft__list live; /* tasks not finished */
    size_t nlive;
    size_t nslots;          /* tasks whose memory is not yet freed */
    size_t nfutures;        /* plain futures not yet freed */
    uint64_t id_next, id_end; /* a block of task ids reserved by this loop */
    uint64_t ids_reserved;    /* ids of all blocks reserved: with the rest
                                 of the block, the tasks spawned */
};

/* Put a hibernating task's stack back (weft_task_hibernate): before
 * anything reads or writes what it keeps there (its wait record, its
 * scopes). It stays parked. */
void weft__task_thaw(struct weft_task *t);
/* Give a parked task's unused stack pages (below its stack pointer) back
 * to the kernel. Not for the running task (ignored). */
void weft__task_trim_stack(struct weft_task *t);
/* weft_task_hibernate, leaving the ndead spans of dead out of the copy
 * (weft__stack_hibernate says how): bytes nothing reads before writing
 * them, such as a parked frame's unused buffer. They read zero (or their
 * old bytes) after the wake. */
int weft__task_hibernate_except(struct weft_task *t,
                                const struct weft__span *dead, size_t ndead);
/* Tasks spawned by the loop so far (weft_loop_stats): counted for free
 * from the ids it has used. */
static inline uint64_t weft__tasks_spawned(const struct weft__tasks *ts) {
    return ts->ids_reserved - (ts->id_end - ts->id_next);
}

/* The running task of this thread, or NULL. */
static inline struct weft_task *weft__task_current(void) {
    return weft__tls_rq.current;
}

/* Out of line, cold: log a wait outside a task (returns NULL), a wake of a
 * task that is not parked. */
__attribute__((cold)) struct weft_task *
weft__task_require_failed(const char *fn);
__attribute__((cold)) void weft__task_wake_unparked(struct weft_task *t);

/* The running task; logs misuse and returns NULL outside a task. Inline:
 * every call that waits begins with it. */
static inline struct weft_task *weft__task_require(const char *fn) {
    struct weft_task *t = weft__task_current();
    if (WEFT__LIKELY(t != NULL))
        return t;
    return weft__task_require_failed(fn);
}

struct weft__tasks *weft__tasks_get(weft_loop_t *loop);

int weft__park(struct weft__wait *w);
/* Fault injection (tests/faults): when set, called with the task at each
 * call of weft__park, before it looks at pending interruptions, so that
 * the hook may cancel the task or expire a scope "at" that suspension
 * point. NULL (always, outside that harness) costs one predicted branch. */
extern void (*weft__park_hook)(struct weft_task *t);

/* Make t, parked in a wait, ready again; its wait returns `result`.
 * Inline: every completion (a timer, a hand-off, I/O) ends here. */
static inline __attribute__((always_inline)) void
weft__task_wake(struct weft_task *t, int result) {
    if (WEFT__UNLIKELY(t->asleep != NULL))
        weft__task_thaw(t);
    struct weft__wait *w = t->wait;
    if (WEFT__UNLIKELY(!w)) {
        weft__task_wake_unparked(t);
        return;
    }
    w->result = result;
    t->wait = NULL;
    WEFT__PROBE2(task_wake, t->id, result);
    weft__ready_push(t->loop, &t->rnode);
}
/* Wake the task parked in w, if it still is (w names its task once
 * parked; a NULL w, or a task that has left w, is left alone). */
static inline void weft__wait_wake(struct weft__wait *w, int result) {
    if (w && w->task && w->task->wait == w)
        weft__task_wake(w->task, result);
}
/* Something that may interrupt t changed: interrupt its wait if it now
 * should be. */
void weft__task_interrupt(struct weft_task *t);
/* What would interrupt a wait of t now: 0, -ECANCELED or -ETIMEDOUT, and
 * the scope responsible: the outermost interrupted scope the wait can see
 * (NULL for the task's own cancellation). */
int weft__task_pending(const struct weft_task *t, struct weft__scope **by);
/* weft__task_pending() for a wait that fails at once: a timeout marks the
 * scope responsible as having cut a wait (its exit reports it). */
int weft__task_interrupted(struct weft_task *t);
/* Scope s (or a group's scope) is closing: what interrupts waits just
 * outside it, unless it is a shield (0 then). A timeout found there is
 * marked as caught by its scope, the interruption passing out to it. */
int weft__scope_outcome(struct weft_task *t, struct weft__scope *s);
/* Recompute t->pending after a scope left or a flag changed. */
void weft__task_recheck(struct weft_task *t);

/* "task 'name' (id N)" for messages about t, with "fn F, spawned at S"
 * when `detail` (debug mode: it reads the symbol tables). Implemented with
 * the task dump (src/debug). */
void weft__task_describe(struct weft_task *t, bool detail, char *buf,
                         size_t size);

/* The task a ready node belongs to, or NULL (a callback). */
struct weft_task *weft__task_of_ready(struct weft__ready *r);

extern const struct weft__future_ops weft__task_ops;
/* The task a future belongs to, or NULL for a plain future. */
static inline struct weft_task *weft__task_of(weft_future_t *f) {
    return f->ops == &weft__task_ops ? (struct weft_task *)(void *)f : NULL;
}

/* weft_task_cancel_msg() without the thread check: from weft's own code,
 * `why` saying which of its reasons it is. */
int weft__task_cancel(struct weft_task *t, const char *why);
/* The spawn site weft__spawn_at records, set just before the call: a
 * seventh argument would go on the stack and cost the public spawn calls
 * their tail call. */
extern WEFT__TLS const void *weft__spawn_site;

int weft__spawn_at(weft_loop_t *loop, struct weft__group *g,
                   weft_task_t **out, weft_task_fn fn, void *arg,
                   const weft_spawn_opts_t *opts);
/* Spawn, recording as the task's spawn site the return address of the
 * function this is inlined into: the caller of weft_spawn,
 * weft_loop_spawn or weft_group_spawn. One load and one store; no stack
 * walk. */
static inline __attribute__((always_inline)) int
weft__spawn(weft_loop_t *loop, struct weft__group *g, weft_task_t **out,
            weft_task_fn fn, void *arg, const weft_spawn_opts_t *opts) {
    weft__spawn_site = __builtin_return_address(0);
    return weft__spawn_at(loop, g, out, fn, arg, opts);
}

/* Scopes (scope.c). */
void weft__scope_push(struct weft_task *t, struct weft__scope *s,
                      uint32_t flags);
int weft__scope_arm(struct weft__scope *s, uint64_t deadline);
void weft__scope_pop(struct weft__scope *s);
/* s is open in t: in its chain of scopes (found by pointer). */
bool weft__scope_is_open(const struct weft_task *t,
                         const struct weft__scope *s);
void weft__scope_timer_init(struct weft_task *t);
/* Seconds (relative, or absolute loop time) to a deadline in loop ns;
 * INFINITY is WEFT__NS_INF. -EINVAL for NaN. */
int weft__deadline_ns(const weft_loop_t *loop, double secs, bool absolute,
                      uint64_t *out);

/* Groups (group.c). */
void weft__group_init_root(struct weft__group *g);
void weft__group_child_done(struct weft_task *t, int status);
void weft__group_cancel(struct weft__group *g, const char *why);
/* The owner t returned with groups open: their children move to the root
 * group, cancelled, without touching the groups' dead storage. */
void weft__group_orphan(struct weft_task *t);

/* Stack overflow reporting (overflow.c). */
void weft__overflow_setup(void);
_Noreturn void weft__overflow_canary(struct weft_task *t);
/* Waking t from hibernation found the canary of the slot above its stack
 * overwritten: the task above overflowed into t's slot while it slept. */
_Noreturn void weft__overflow_hibernated(struct weft_task *t);

#endif
