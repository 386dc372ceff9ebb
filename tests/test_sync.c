/* Lock, Event, Condition, Semaphore and BoundedSemaphore: every operation,
 * FIFO order, hand-off without barging, 1,000 tasks contending for one
 * lock, cancellation and deadlines around every wait (while queued, and
 * after being handed the lock / a permit / a notification), and misuse
 * (wrong owner, over-release, foreign loop or thread, uninitialised). */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "support.h"

/* An order of events, shared by the tasks of a test. */
static int trace[4096];
static int ntrace;

static void tr(int v) {
    ck_assert_int_lt(ntrace, 4096);
    trace[ntrace++] = v;
}

static void reset_trace(void) {
    ntrace = 0;
    memset(trace, 0, sizeof trace);
}

static void ck_trace(const int *want, int n) {
    ck_assert_int_eq(ntrace, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(trace[i] == want[i], "trace[%d] = %d, expected %d", i,
                      trace[i], want[i]);
}

static int set_flag(void *arg) {
    *(int *)arg = 1;
    return 0;
}

/* A task that does one thing with an object and records what it got. */
struct actor {
    int id;
    void *obj;
    int rc;       /* what the wait returned */
    int rc_next;  /* what a later wait returned */
    int held;     /* it held the lock / a permit when it returned */
    double when;  /* loop time at return */
    weft_task_t *task;
};

static void actors_join(struct actor *a, int n) {
    for (int i = 0; i < n; i++) {
        weft_join(a[i].task);
        weft_task_release(a[i].task);
        a[i].task = NULL;
    }
}

/* ====================================================================== */
/* Lock                                                                     */
/* ====================================================================== */

static int lock_basics_main(void *arg) {
    (void)arg;
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    ck_assert(!weft_lock_locked(&l));
    /* A free lock is taken without suspending: a task spawned before
     * has not run yet. */
    int flag = 0;
    ck_assert_ok(weft_spawn(NULL, set_flag, &flag, NULL));
    ck_assert_ok(weft_lock_acquire(&l));
    ck_assert_int_eq(flag, 0);
    ck_assert(weft_lock_locked(&l));

    logcap_start();
    ck_assert_err(weft_lock_acquire(&l), -EDEADLK);
    ck_assert_logged(1, "not recursive");
    ck_assert_err(weft_lock_try_acquire(&l), -EDEADLK);
    ck_assert_logged(2, "not recursive");
    logcap_stop();
    ck_assert(weft_lock_locked(&l));

    ck_assert_ok(weft_lock_release(&l));
    ck_assert(!weft_lock_locked(&l));
    logcap_start();
    ck_assert_err(weft_lock_release(&l), -EPERM);
    ck_assert_logged(1, "not locked");
    logcap_stop();

    ck_assert_ok(weft_lock_try_acquire(&l));
    ck_assert(weft_lock_locked(&l));
    ck_assert_ok(weft_lock_release(&l));
    ck_assert_ok(weft_yield());
    ck_assert_int_eq(flag, 1);

    ck_assert_ok(weft_lock_destroy(&l));
    logcap_start();
    ck_assert_err(weft_lock_acquire(&l), -EINVAL);
    ck_assert_logged(1, "not initialised");
    ck_assert_err(weft_lock_release(&l), -EINVAL);
    ck_assert_logged(2, "not initialised");
    ck_assert_err(weft_lock_destroy(&l), -EINVAL);
    /* NULL: refused, not logged. */
    ck_assert_err(weft_lock_init(NULL), -EINVAL);
    ck_assert_err(weft_lock_acquire(NULL), -EINVAL);
    ck_assert_err(weft_lock_try_acquire(NULL), -EINVAL);
    ck_assert_err(weft_lock_release(NULL), -EINVAL);
    ck_assert_err(weft_lock_destroy(NULL), -EINVAL);
    ck_assert(!weft_lock_locked(NULL));
    ck_assert_logged(2, "not initialised");
    logcap_stop();
    return 0;
}

START_TEST(lock_acquire_release_try_recursive_destroyed) {
    ck_assert_ok(run_virtual(lock_basics_main, NULL));
}
END_TEST

static int hold_lock_for(void *arg) {
    struct actor *a = arg;
    ck_assert_ok(weft_lock_acquire(a->obj));
    ck_assert_ok(weft_sleep(a->id));
    return weft_lock_release(a->obj);
}

static void release_in_callback(void *arg) {
    logcap_start();
    ck_assert_err(weft_lock_release(arg), -EPERM);
    ck_assert_logged(1, "not by this callback");
    logcap_stop();
}

static int lock_owner_main(void *arg) {
    (void)arg;
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    struct actor holder = {.id = 2, .obj = &l};
    ck_assert_ok(weft_spawn(&holder.task, hold_lock_for, &holder, NULL));
    ck_assert_ok(weft_sleep(1)); /* the holder has it now */
    ck_assert(weft_lock_locked(&l));
    logcap_start();
    ck_assert_err(weft_lock_release(&l), -EPERM);
    ck_assert_logged(1, "held by another task");
    logcap_stop();
    ck_assert(weft_lock_locked(&l)); /* still the holder's */
    ck_assert_err(weft_lock_try_acquire(&l), -EAGAIN);
    ck_assert_ok(weft_call_soon(weft_loop_current(), release_in_callback, &l,
                                NULL));
    ck_assert_ok(weft_lock_acquire(&l)); /* after the holder released it */
    ck_assert_time(2.0);
    ck_assert_ok(weft_join(holder.task)); /* its own release succeeded */
    weft_task_release(holder.task);
    ck_assert_ok(weft_lock_release(&l));
    ck_assert_ok(weft_lock_destroy(&l));
    return 0;
}

START_TEST(only_the_owner_may_release) {
    ck_assert_ok(run_virtual(lock_owner_main, NULL));
}
END_TEST

/* ---- 1,000 tasks contending ----------------------------------------------- */

/* TSan's fiber switches make 1000 contenders take 8.5 s of CPU (29 s on
 * a loaded machine, past the case's timeout); the rule is the same with
 * fewer. */
#if defined(__SANITIZE_THREAD__)
#define CONTENDERS 200
#else
#define CONTENDERS 1000
#endif
#define ROUNDS 3

struct contention {
    weft_lock_t lock;
    int inside, max_inside;
    int order[CONTENDERS * ROUNDS];
    int n;
};

static struct contention cont;

static int contender(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        int err = weft_lock_acquire(&cont.lock);
        if (err)
            return err;
        cont.inside++;
        if (cont.inside > cont.max_inside)
            cont.max_inside = cont.inside;
        cont.order[cont.n++] = id;
        /* Give everybody else a chance to barge in while we hold it. */
        for (int k = 0; k < 3; k++)
            ck_assert_ok(weft_yield());
        cont.inside--;
        ck_assert_ok(weft_lock_release(&cont.lock));
    }
    return 0;
}

static int contention_main(void *arg) {
    (void)arg;
    ck_assert_ok(weft_lock_init(&cont.lock));
    /* Hold it while all of them queue up, in spawn order. */
    ck_assert_ok(weft_lock_acquire(&cont.lock));
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    for (intptr_t i = 0; i < CONTENDERS; i++)
        ck_assert_ok(weft_group_spawn(&g, NULL, contender, (void *)i, NULL));
    ck_assert_ok(weft_yield()); /* they all run and park */
    ck_assert_int_eq(cont.n, 0);
    ck_assert_ok(weft_lock_release(&cont.lock));
    ck_assert_ok(weft_group_exit(&g));
    ck_assert(!weft_lock_locked(&cont.lock));
    ck_assert_ok(weft_lock_destroy(&cont.lock));
    return 0;
}

START_TEST(a_thousand_tasks_contend_fifo_and_exclusive) {
    memset(&cont, 0, sizeof cont);
    ck_assert_ok(run_virtual(contention_main, NULL));
    ck_assert_int_eq(cont.max_inside, 1);
    ck_assert_int_eq(cont.n, CONTENDERS * ROUNDS);
    /* FIFO: each release hands the lock to the longest waiter, and the
     * releaser queues again at the end; so the rounds repeat the order. */
    for (int i = 0; i < CONTENDERS * ROUNDS; i++)
        ck_assert_msg(cont.order[i] == i % CONTENDERS,
                      "acquisition %d by task %d, expected %d", i,
                      cont.order[i], i % CONTENDERS);
}
END_TEST

/* ---- hand-off ----------------------------------------------------------------- */

static int lock_and_trace(void *arg) {
    struct actor *a = arg;
    a->rc = weft_lock_acquire(a->obj);
    a->when = now();
    if (a->rc == 0) {
        a->held = 1;
        tr(a->id);
        a->rc_next = weft_sleep(1);
        ck_assert_ok(weft_lock_release(a->obj));
    }
    return 0;
}

static int no_barging_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    ck_assert_ok(weft_lock_acquire(&l));
    struct actor b = {.id = 1, .obj = &l};
    ck_assert_ok(weft_spawn(&b.task, lock_and_trace, &b, NULL));
    ck_assert_ok(weft_yield()); /* b waits */
    ck_assert_ok(weft_lock_release(&l));
    /* b owns it now, although it has not run yet: nobody can take it. */
    ck_assert(weft_lock_locked(&l));
    ck_assert_err(weft_lock_try_acquire(&l), -EAGAIN);
    ck_assert_ok(weft_lock_acquire(&l)); /* queues behind b */
    tr(0);
    ck_assert_time(1.0);
    ck_assert_ok(weft_lock_release(&l));
    actors_join(&b, 1);
    ck_assert_ok(b.rc);
    static const int want[] = {1, 0};
    ck_trace(want, 2);
    ck_assert_ok(weft_lock_destroy(&l));
    return 0;
}

START_TEST(release_hands_the_lock_to_the_first_waiter_no_barging) {
    ck_assert_ok(run_virtual(no_barging_main, NULL));
}
END_TEST

static int lock_cancel_queued_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    ck_assert_ok(weft_lock_acquire(&l));
    struct actor a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct actor){.id = i + 1, .obj = &l};
        ck_assert_ok(weft_spawn(&a[i].task, lock_and_trace, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(1)); /* all three wait */
    ck_assert_ok(weft_task_cancel(a[1].task));
    ck_assert_ok(weft_sleep(1)); /* a[1] has left the queue */
    ck_assert_err(a[1].rc, -ECANCELED);
    ck_assert_time(2.0);
    ck_assert_ok(weft_lock_release(&l));
    actors_join(a, 3);
    ck_assert_ok(a[0].rc);
    ck_assert_ok(a[2].rc);
    ck_assert_int_eq(a[1].held, 0);
    static const int want[] = {1, 3};
    ck_trace(want, 2);
    ck_assert_double_eq_tol(a[2].when, 3.0, 1e-9);
    ck_assert(!weft_lock_locked(&l));
    ck_assert_ok(weft_lock_destroy(&l));
    return 0;
}

START_TEST(a_waiter_cancelled_while_queued_is_skipped) {
    ck_assert_ok(run_virtual(lock_cancel_queued_main, NULL));
}
END_TEST

static int lock_handed_cancel_main(void *arg) {
    int with_next = (int)(intptr_t)arg;
    reset_trace();
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    ck_assert_ok(weft_lock_acquire(&l));
    struct actor a[2];
    int n = with_next ? 2 : 1;
    for (int i = 0; i < n; i++) {
        a[i] = (struct actor){.id = i + 1, .obj = &l};
        ck_assert_ok(weft_spawn(&a[i].task, lock_and_trace, &a[i], NULL));
    }
    ck_assert_ok(weft_yield());
    /* Hand the lock to a[0], then cancel it before it runs. */
    ck_assert_ok(weft_lock_release(&l));
    ck_assert_ok(weft_task_cancel(a[0].task));
    ck_assert_ok(weft_join(a[0].task));
    /* It failed, holding nothing: the lock went on to the next waiter, or
     * is free. */
    ck_assert_err(a[0].rc, -ECANCELED);
    ck_assert_int_eq(a[0].held, 0);
    if (with_next) {
        ck_assert(weft_lock_locked(&l));
        ck_assert_err(weft_lock_try_acquire(&l), -EAGAIN);
    } else {
        ck_assert(!weft_lock_locked(&l));
        ck_assert_ok(weft_lock_try_acquire(&l));
        ck_assert_ok(weft_lock_release(&l));
    }
    actors_join(a, n);
    if (with_next) {
        ck_assert_ok(a[1].rc);
        static const int want[] = {2};
        ck_trace(want, 1);
    } else {
        ck_assert_int_eq(ntrace, 0);
    }
    ck_assert(!weft_lock_locked(&l));
    ck_assert_ok(weft_lock_destroy(&l));
    return 0;
}

START_TEST(a_waiter_cancelled_after_the_hand_off_passes_the_lock_on) {
    ck_assert_ok(run_virtual(lock_handed_cancel_main, (void *)1));
    ck_assert_ok(run_virtual(lock_handed_cancel_main, (void *)0));
}
END_TEST

/* Acquire inside a deadline scope. */
struct scoped {
    struct actor a;
    weft_scope_t scope;
    double timeout;
    int exit_rc;
    int (*op)(void *obj);
};

static int scoped_op(void *arg) {
    struct scoped *s = arg;
    ck_assert_ok(weft_scope_enter(&s->scope, s->timeout, 0));
    s->a.rc = s->op(s->a.obj);
    s->a.when = now();
    s->exit_rc = weft_scope_exit(&s->scope);
    s->a.held = s->a.rc == 0;
    return 0;
}

static int op_lock(void *obj) {
    int rc = weft_lock_acquire(obj);
    if (rc == 0)
        ck_assert_ok(weft_lock_release(obj));
    return rc;
}

static int lock_deadline_main(void *arg) {
    (void)arg;
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    ck_assert_ok(weft_lock_acquire(&l));
    struct scoped s = {.a = {.obj = &l}, .timeout = 1, .op = op_lock};
    ck_assert_ok(weft_spawn(&s.a.task, scoped_op, &s, NULL));
    ck_assert_ok(weft_sleep(5));
    ck_assert_err(s.a.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(s.a.when, 1.0, 1e-9);
    ck_assert_err(s.exit_rc, -ETIMEDOUT);
    /* Its wait left the queue: releasing frees the lock. */
    ck_assert_ok(weft_lock_release(&l));
    ck_assert(!weft_lock_locked(&l));
    actors_join(&s.a, 1);

    /* Handed the lock, then its deadline passes before it runs: it gives
     * the lock up and reports the timeout. */
    ck_assert_ok(weft_lock_acquire(&l));
    memset(&s, 0, sizeof s);
    s.a.obj = &l;
    s.timeout = 100;
    s.op = op_lock;
    ck_assert_ok(weft_spawn(&s.a.task, scoped_op, &s, NULL));
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_lock_release(&l)); /* handed over */
    ck_assert_ok(weft_scope_reschedule(&s.scope, now() - 1));
    ck_assert_ok(weft_join(s.a.task));
    ck_assert_err(s.a.rc, -ETIMEDOUT);
    ck_assert_err(s.exit_rc, -ETIMEDOUT);
    ck_assert(!weft_lock_locked(&l));
    actors_join(&s.a, 1);
    ck_assert_ok(weft_lock_destroy(&l));
    return 0;
}

START_TEST(lock_acquire_in_a_deadline_scope) {
    ck_assert_ok(run_virtual(lock_deadline_main, NULL));
}
END_TEST

static int lock_level_main(void *arg) {
    (void)arg;
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    ck_assert_ok(weft_task_cancel(weft_task_current()));
    /* A free lock is taken without suspending, cancelled or not (as
     * weft_await of a done future); a wait that must suspend fails. */
    ck_assert_ok(weft_lock_acquire(&l));
    struct actor b = {.id = 1, .obj = &l};
    weft_scope_t sh;
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert_ok(weft_spawn(&b.task, lock_and_trace, &b, NULL));
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_scope_exit(&sh));
    ck_assert_ok(weft_lock_release(&l)); /* to b */
    ck_assert_err(weft_lock_acquire(&l), -ECANCELED);
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert_ok(weft_join(b.task));
    ck_assert_ok(weft_scope_exit(&sh));
    weft_task_release(b.task);
    ck_assert_ok(b.rc);
    ck_assert(!weft_lock_locked(&l));
    ck_assert_ok(weft_lock_destroy(&l));
    return -ECANCELED;
}

START_TEST(a_cancelled_task_gets_a_free_lock_but_cannot_wait) {
    ck_assert_err(run_virtual(lock_level_main, NULL), -ECANCELED);
}
END_TEST

/* ---- misuse: outside a task, another loop, another thread ------------------ */

static weft_lock_t shared_lock;

static int bind_lock(void *arg) {
    (void)arg;
    ck_assert_ok(weft_lock_acquire(&shared_lock));
    ck_assert_ok(weft_lock_release(&shared_lock));
    return 0;
}

static int use_lock_elsewhere(void *arg) {
    (void)arg;
    logcap_start();
    ck_assert_err(weft_lock_acquire(&shared_lock), -EPERM);
    ck_assert_logged(1, "another loop");
    ck_assert_err(weft_lock_try_acquire(&shared_lock), -EPERM);
    ck_assert_err(weft_lock_release(&shared_lock), -EPERM);
    logcap_stop();
    ck_assert(!weft_lock_locked(&shared_lock));
    return 0;
}

START_TEST(a_lock_belongs_to_the_loop_that_first_used_it) {
    logcap_start();
    ck_assert_err(weft_lock_acquire(&shared_lock), -EPERM); /* no task */
    ck_assert_logged(1, "outside a task");
    logcap_stop();
    ck_assert_ok(weft_lock_init(&shared_lock));
    /* The first loop stays alive while the second runs (a loop allocated
     * where a freed one was could not be told apart from it). */
    weft_loop_t *first;
    ck_assert_ok(weft_loop_new(&first, NULL));
    weft_task_t *t;
    ck_assert_ok(weft_loop_spawn(first, &t, bind_lock, NULL, NULL));
    ck_assert_ok(weft_loop_run_until_complete(first, weft_task_future(t)));
    weft_task_release(t);
    ck_assert_ok(run_virtual(use_lock_elsewhere, NULL));
    weft_loop_free(first);
    /* Destroyed from the main thread after the loop is gone, and then
     * usable with a new loop after init. */
    ck_assert_ok(weft_lock_destroy(&shared_lock));
    ck_assert_ok(weft_lock_init(&shared_lock));
    ck_assert_ok(run_virtual(bind_lock, NULL));
    ck_assert_ok(weft_lock_destroy(&shared_lock));
}
END_TEST

/* ====================================================================== */
/* Event                                                                    */
/* ====================================================================== */

static int wait_event(void *arg) {
    struct actor *a = arg;
    a->rc = weft_event_wait(a->obj);
    a->when = now();
    if (a->rc == 0)
        tr(a->id);
    a->rc_next = weft_sleep(0);
    return 0;
}

static int event_basics_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_event_t e;
    ck_assert_ok(weft_event_init(&e));
    ck_assert(!weft_event_is_set(&e));
    ck_assert_ok(weft_event_set(&e));
    ck_assert(weft_event_is_set(&e));
    ck_assert_ok(weft_event_set(&e)); /* again: no change */
    /* Set: wait returns at once, without suspending. */
    int flag = 0;
    ck_assert_ok(weft_spawn(NULL, set_flag, &flag, NULL));
    ck_assert_ok(weft_event_wait(&e));
    ck_assert_int_eq(flag, 0);
    ck_assert_ok(weft_event_clear(&e));
    ck_assert(!weft_event_is_set(&e));
    ck_assert_ok(weft_event_clear(&e));

    /* Waiters are woken in the order they began to wait, all at once. */
    struct actor a[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (struct actor){.id = i, .obj = &e};
        ck_assert_ok(weft_spawn(&a[i].task, wait_event, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(3));
    ck_assert_int_eq(ntrace, 0);
    ck_assert_ok(weft_event_set(&e));
    /* Cleared again before they ran: they were woken, they return 0. */
    ck_assert_ok(weft_event_clear(&e));
    actors_join(a, 5);
    static const int want[] = {0, 1, 2, 3, 4};
    ck_trace(want, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_ok(a[i].rc);
        ck_assert_double_eq_tol(a[i].when, 3.0, 1e-9);
    }
    ck_assert(!weft_event_is_set(&e));
    ck_assert_ok(weft_event_destroy(&e));
    logcap_start();
    ck_assert_err(weft_event_set(&e), -EINVAL);
    ck_assert_logged(1, "not initialised");
    logcap_stop();
    ck_assert_err(weft_event_init(NULL), -EINVAL);
    ck_assert_err(weft_event_wait(NULL), -EINVAL);
    ck_assert_err(weft_event_destroy(NULL), -EINVAL);
    ck_assert(!weft_event_is_set(NULL));
    return 0;
}

START_TEST(event_set_clear_wait_wakes_all_in_order) {
    ck_assert_ok(run_virtual(event_basics_main, NULL));
}
END_TEST

static void set_event_cb(void *arg) {
    ck_assert_ok(weft_event_set(arg));
}

static int op_event(void *obj) {
    return weft_event_wait(obj);
}

static int event_interrupt_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_loop_t *loop = weft_loop_current();
    weft_event_t e;
    ck_assert_ok(weft_event_init(&e));
    /* A deadline, a cancel while queued, a cancel after the set woke it,
     * and one that gets the set from a callback. */
    struct scoped s = {.a = {.obj = &e}, .timeout = 1, .op = op_event};
    ck_assert_ok(weft_spawn(&s.a.task, scoped_op, &s, NULL));
    struct actor a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct actor){.id = i, .obj = &e};
        ck_assert_ok(weft_spawn(&a[i].task, wait_event, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(2));
    ck_assert_err(s.a.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(s.a.when, 1.0, 1e-9);
    ck_assert_err(s.exit_rc, -ETIMEDOUT);
    ck_assert_ok(weft_task_cancel(a[0].task));
    ck_assert_ok(weft_yield());
    ck_assert_err(a[0].rc, -ECANCELED);

    ck_assert_ok(weft_event_set(&e));
    ck_assert_ok(weft_task_cancel(a[1].task)); /* woken, not yet run */
    actors_join(a, 3);
    /* It consumed nothing, so it reports the cancel (task.h). */
    ck_assert_err(a[1].rc, -ECANCELED);
    ck_assert_ok(a[2].rc);
    static const int want[] = {2};
    ck_trace(want, 1);
    actors_join(&s.a, 1);

    ck_assert_ok(weft_event_clear(&e));
    ck_assert_ok(weft_call_later(loop, 1.5, set_event_cb, &e, NULL));
    ck_assert_ok(weft_event_wait(&e));
    ck_assert_time(3.5);
    ck_assert_ok(weft_event_destroy(&e));
    return 0;
}

START_TEST(event_wait_cancelled_timed_out_and_set_from_a_callback) {
    ck_assert_ok(run_virtual(event_interrupt_main, NULL));
}
END_TEST

/* From another thread: misuse, reported, nothing changes. */
struct foreign {
    void *obj;
    int rc_set, rc_clear, rc_sem, rc_put;
};

static void *foreign_thread(void *arg) {
    struct foreign *f = arg;
    f->rc_set = weft_event_set(f->obj);
    f->rc_clear = weft_event_clear(f->obj);
    return NULL;
}

static int event_foreign_main(void *arg) {
    (void)arg;
    weft_event_t e;
    ck_assert_ok(weft_event_init(&e));
    ck_assert_ok(weft_event_clear(&e)); /* binds it */
    struct actor w = {.obj = &e};
    ck_assert_ok(weft_spawn(&w.task, wait_event, &w, NULL));
    ck_assert_ok(weft_yield());
    struct foreign f = {.obj = &e};
    pthread_t th;
    logcap_start();
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(logcap.n, 2);
    ck_assert_msg(strstr(logcap.last, "another thread") != NULL, "%s",
                  logcap.last);
    logcap_stop();
    ck_assert_err(f.rc_set, -EPERM);
    ck_assert_err(f.rc_clear, -EPERM);
    ck_assert(!weft_event_is_set(&e));
    logcap_start();
    ck_assert_err(weft_event_destroy(&e), -EBUSY); /* w waits on it */
    ck_assert_logged(1, "waiting");
    logcap_stop();
    ck_assert_ok(weft_event_set(&e));
    actors_join(&w, 1);
    ck_assert_ok(w.rc);
    ck_assert_ok(weft_event_destroy(&e));
    return 0;
}

START_TEST(event_from_another_thread_is_refused) {
    ck_assert_ok(run_virtual(event_foreign_main, NULL));
}
END_TEST

static int event_uninit_main(void *arg) {
    (void)arg;
    weft_event_t e;
    memset(&e, 0, sizeof e);
    logcap_start();
    ck_assert_err(weft_event_wait(&e), -EINVAL);
    ck_assert_logged(1, "event");
    logcap_stop();
    return 0;
}

START_TEST(event_not_initialised_is_refused) {
    logcap_start();
    weft_event_t e;
    ck_assert_ok(weft_event_init(&e));
    ck_assert_err(weft_event_wait(&e), -EPERM);
    ck_assert_logged(1, "outside a task");
    logcap_stop();
    ck_assert_ok(run_virtual(event_uninit_main, NULL));
}
END_TEST

/* ====================================================================== */
/* Condition                                                                */
/* ====================================================================== */

struct box {
    weft_cond_t cond;
    int value;
    int pred_calls;
};

static bool box_ready(void *arg) {
    struct box *b = arg;
    b->pred_calls++;
    return b->value >= 3;
}

static int cond_consumer(void *arg) {
    struct actor *a = arg;
    struct box *b = a->obj;
    ck_assert_ok(weft_cond_acquire(&b->cond));
    a->rc = weft_cond_wait_for(&b->cond, box_ready, b);
    a->when = now();
    /* Returns holding the lock. */
    ck_assert(weft_lock_locked(weft_cond_lock(&b->cond)));
    a->held = b->value;
    ck_assert_ok(weft_cond_release(&b->cond));
    return 0;
}

static int cond_basics_main(void *arg) {
    (void)arg;
    struct box b = {.value = 0};
    ck_assert_ok(weft_cond_init(&b.cond, NULL));
    ck_assert_ptr_nonnull(weft_cond_lock(&b.cond));
    struct actor c = {.obj = &b};
    ck_assert_ok(weft_spawn(&c.task, cond_consumer, &c, NULL));
    for (int i = 1; i <= 4; i++) {
        ck_assert_ok(weft_sleep(1));
        ck_assert_ok(weft_cond_acquire(&b.cond));
        b.value = i;
        ck_assert_int_eq(weft_cond_notify(&b.cond, 1), i <= 3 ? 1 : 0);
        /* Notified, but it needs the lock we hold: it has not returned. */
        ck_assert_ok(weft_sleep(0.5));
        ck_assert_ok(weft_cond_release(&b.cond));
    }
    ck_assert_ok(weft_join(c.task));
    weft_task_release(c.task);
    ck_assert_ok(c.rc);
    ck_assert_int_eq(c.held, 3);
    /* Released after value 3 at 1 + 1.5 * 2 + 0.5. */
    ck_assert_double_eq_tol(c.when, 4.5, 1e-9);
    /* The predicate ran before the first wait and after each wake-up. */
    ck_assert_int_eq(b.pred_calls, 4);
    ck_assert_ok(weft_cond_destroy(&b.cond));
    ck_assert_ptr_null(weft_cond_lock(&b.cond));
    return 0;
}

START_TEST(cond_wait_for_rechecks_the_predicate_after_each_notify) {
    ck_assert_ok(run_virtual(cond_basics_main, NULL));
}
END_TEST

static int cond_waiter(void *arg) {
    struct actor *a = arg;
    weft_cond_t *c = a->obj;
    ck_assert_ok(weft_cond_acquire(c));
    a->rc = weft_cond_wait(c);
    a->when = now();
    tr(a->id);
    /* Whatever happened, the lock is ours: releasing it succeeds. */
    a->held = weft_cond_release(c) == 0;
    a->rc_next = weft_sleep(0);
    return 0;
}

static int cond_notify_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_cond_t c;
    ck_assert_ok(weft_cond_init(&c, NULL));
    struct actor a[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (struct actor){.id = i, .obj = &c};
        ck_assert_ok(weft_spawn(&a[i].task, cond_waiter, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_cond_acquire(&c));
    ck_assert_int_eq(weft_cond_notify(&c, 0), 0);
    ck_assert_int_eq(weft_cond_notify(&c, 2), 2);
    ck_assert_ok(weft_cond_release(&c));
    ck_assert_ok(weft_sleep(1));
    static const int first[] = {0, 1};
    ck_trace(first, 2);
    ck_assert_ok(weft_cond_acquire(&c));
    ck_assert_int_eq(weft_cond_notify_all(&c), 3);
    ck_assert_int_eq(weft_cond_notify_all(&c), 0);
    ck_assert_ok(weft_cond_release(&c));
    actors_join(a, 5);
    static const int all[] = {0, 1, 2, 3, 4};
    ck_trace(all, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_ok(a[i].rc);
        ck_assert_int_eq(a[i].held, 1);
        ck_assert_double_eq_tol(a[i].when, i < 2 ? 1.0 : 2.0, 1e-9);
    }
    ck_assert_ok(weft_cond_destroy(&c));
    return 0;
}

START_TEST(cond_notify_n_and_all_wake_in_fifo_order) {
    ck_assert_ok(run_virtual(cond_notify_main, NULL));
}
END_TEST

static int cond_interrupt_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_cond_t c;
    ck_assert_ok(weft_cond_init(&c, NULL));
    struct actor a[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (struct actor){.id = i, .obj = &c};
        ck_assert_ok(weft_spawn(&a[i].task, cond_waiter, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(1));
    /* Cancelled while waiting: it must get the lock back before it
     * returns, and we hold it until t = 2. */
    ck_assert_ok(weft_cond_acquire(&c));
    ck_assert_ok(weft_task_cancel(a[0].task));
    /* Notified and then cancelled before it ran: the notification is
     * consumed, so it returns 0, and the cancel shows at its next wait. */
    ck_assert_int_eq(weft_cond_notify(&c, 1), 1);
    ck_assert_ok(weft_task_cancel(a[1].task));
    ck_assert_ok(weft_sleep(1));
    ck_assert_int_eq(ntrace, 0);
    ck_assert_ok(weft_cond_release(&c));
    actors_join(a, 2);
    ck_assert_err(a[0].rc, -ECANCELED);
    ck_assert_int_eq(a[0].held, 1);
    ck_assert_double_eq_tol(a[0].when, 2.0, 1e-9);
    ck_assert_ok(a[1].rc);
    ck_assert_int_eq(a[1].held, 1);
    ck_assert_err(a[1].rc_next, -ECANCELED);
    /* The notified one was moved to the lock's queue at once; the
     * cancelled one queued for the lock only when it ran. */
    static const int want[] = {1, 0};
    ck_trace(want, 2);
    ck_assert(!weft_lock_locked(weft_cond_lock(&c)));
    ck_assert_ok(weft_cond_destroy(&c));
    return 0;
}

START_TEST(cond_wait_cancelled_returns_with_the_lock_notified_keeps_it) {
    ck_assert_ok(run_virtual(cond_interrupt_main, NULL));
}
END_TEST

static int op_cond(void *obj) {
    ck_assert_ok(weft_cond_acquire(obj));
    int rc = weft_cond_wait(obj);
    ck_assert(weft_lock_locked(weft_cond_lock(obj)));
    ck_assert_ok(weft_cond_release(obj));
    return rc;
}

static int lock_and_sleep(void *arg) {
    struct actor *a = arg;
    a->rc = weft_lock_acquire(a->obj);
    tr(a->id);
    a->when = now();
    if (a->rc == 0)
        ck_assert_ok(weft_lock_release(a->obj));
    return 0;
}

static int cond_deadline_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_lock_t l;
    ck_assert_ok(weft_lock_init(&l));
    weft_cond_t c, c2;
    ck_assert_ok(weft_cond_init(&c, &l)); /* two conditions, one lock */
    ck_assert_ok(weft_cond_init(&c2, &l));
    ck_assert_ptr_eq(weft_cond_lock(&c), &l);
    ck_assert_ptr_eq(weft_cond_lock(&c2), &l);
    struct scoped s = {.a = {.obj = &c}, .timeout = 1, .op = op_cond};
    ck_assert_ok(weft_spawn(&s.a.task, scoped_op, &s, NULL));
    ck_assert_ok(weft_sleep(2));
    ck_assert_err(s.a.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(s.a.when, 1.0, 1e-9);
    ck_assert_err(s.exit_rc, -ETIMEDOUT);
    actors_join(&s.a, 1);

    /* Already cancelled when it calls wait: it returns at once and never
     * lets the lock go, so a task queued for the lock has not had it. */
    ck_assert_ok(weft_lock_acquire(&l));
    struct actor q = {.id = 7, .obj = &l};
    ck_assert_ok(weft_spawn(&q.task, lock_and_sleep, &q, NULL));
    ck_assert_ok(weft_yield()); /* q waits for the lock */
    ck_assert_ok(weft_task_cancel(weft_task_current()));
    ck_assert_err(weft_cond_wait(&c2), -ECANCELED);
    ck_assert_int_eq(ntrace, 0);
    ck_assert(weft_lock_locked(&l));
    logcap_start();
    ck_assert_err(weft_lock_try_acquire(&l), -EDEADLK); /* still ours */
    logcap_stop();
    ck_assert_ok(weft_lock_release(&l));
    weft_scope_t sh;
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    actors_join(&q, 1);
    ck_assert_ok(weft_scope_exit(&sh));
    ck_assert_ok(q.rc);
    ck_assert_ok(weft_cond_destroy(&c));
    ck_assert_ok(weft_cond_destroy(&c2));
    ck_assert_ok(weft_lock_destroy(&l));
    return -ECANCELED;
}

START_TEST(cond_wait_in_a_deadline_scope_and_when_already_cancelled) {
    ck_assert_err(run_virtual(cond_deadline_main, NULL), -ECANCELED);
}
END_TEST

static bool never(void *arg) {
    (void)arg;
    return false;
}

static void notify_in_callback(void *arg) {
    logcap_start();
    ck_assert_err(weft_cond_notify(arg, 1), -EPERM);
    ck_assert_logged(1, "does not hold");
    logcap_stop();
}

static int cond_misuse_main(void *arg) {
    (void)arg;
    weft_cond_t c;
    ck_assert_ok(weft_cond_init(&c, NULL));
    logcap_start();
    ck_assert_err(weft_cond_wait(&c), -EPERM);
    ck_assert_logged(1, "does not hold");
    ck_assert_err(weft_cond_wait_for(&c, never, NULL), -EPERM);
    ck_assert_logged(2, "does not hold");
    ck_assert_err(weft_cond_notify(&c, 1), -EPERM);
    ck_assert_logged(3, "does not hold");
    ck_assert_err(weft_cond_notify_all(&c), -EPERM);
    ck_assert_logged(4, "does not hold");
    ck_assert_err(weft_cond_release(&c), -EPERM);
    ck_assert_logged(5, "not locked");
    logcap_stop();
    ck_assert_ok(weft_call_soon(weft_loop_current(), notify_in_callback, &c,
                                NULL));
    ck_assert_ok(weft_cond_acquire(&c));
    ck_assert_ok(weft_yield()); /* the callback runs while we hold it */
    ck_assert_err(weft_cond_notify(&c, -1), -EINVAL);
    ck_assert_err(weft_cond_wait_for(&c, NULL, NULL), -EINVAL);
    ck_assert_ok(weft_cond_release(&c));

    /* Destroy is refused while a task waits on the condition. */
    struct actor w = {.obj = &c};
    ck_assert_ok(weft_spawn(&w.task, cond_waiter, &w, NULL));
    ck_assert_ok(weft_yield());
    logcap_start();
    ck_assert_err(weft_cond_destroy(&c), -EBUSY);
    ck_assert_logged(1, "waiting");
    logcap_stop();
    ck_assert_ok(weft_cond_acquire(&c));
    ck_assert_int_eq(weft_cond_notify(&c, 1), 1);
    ck_assert_ok(weft_cond_release(&c));
    actors_join(&w, 1);
    ck_assert_ok(w.rc);
    ck_assert_ok(weft_cond_destroy(&c));

    /* A lock that was never initialised; NULL. */
    weft_lock_t raw;
    memset(&raw, 0, sizeof raw);
    logcap_start();
    ck_assert_err(weft_cond_init(&c, &raw), -EINVAL);
    ck_assert_logged(1, "not initialised");
    ck_assert_err(weft_cond_wait(&c), -EINVAL); /* destroyed above */
    ck_assert_logged(2, "not initialised");
    logcap_stop();
    ck_assert_err(weft_cond_init(NULL, NULL), -EINVAL);
    ck_assert_err(weft_cond_notify(NULL, 1), -EINVAL);
    ck_assert_err(weft_cond_acquire(NULL), -EINVAL);
    ck_assert_err(weft_cond_destroy(NULL), -EINVAL);
    ck_assert_ptr_null(weft_cond_lock(NULL));
    return 0;
}

START_TEST(cond_needs_the_lock_held_and_other_misuse) {
    ck_assert_ok(run_virtual(cond_misuse_main, NULL));
}
END_TEST

/* ====================================================================== */
/* Semaphore                                                                */
/* ====================================================================== */

static int sem_and_trace(void *arg) {
    struct actor *a = arg;
    a->rc = weft_sem_acquire(a->obj);
    a->when = now();
    if (a->rc == 0) {
        a->held = 1;
        tr(a->id);
        a->rc_next = weft_sleep(1);
        ck_assert_ok(weft_sem_release(a->obj));
    }
    return 0;
}

static int sem_basics_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_sem_t s;
    ck_assert_ok(weft_sem_init(&s, 2));
    ck_assert_uint_eq(weft_sem_value(&s), 2);
    int flag = 0;
    ck_assert_ok(weft_spawn(NULL, set_flag, &flag, NULL));
    ck_assert_ok(weft_sem_acquire(&s));
    ck_assert_ok(weft_sem_try_acquire(&s));
    ck_assert_int_eq(flag, 0); /* neither suspended */
    ck_assert_uint_eq(weft_sem_value(&s), 0);
    ck_assert_err(weft_sem_try_acquire(&s), -EAGAIN);

    /* Waiters are served in FIFO order; a released permit goes straight
     * to the first waiter, so the counter stays 0 and nobody barges. */
    struct actor a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct actor){.id = i, .obj = &s};
        ck_assert_ok(weft_spawn(&a[i].task, sem_and_trace, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_sem_release(&s));
    ck_assert_uint_eq(weft_sem_value(&s), 0);
    ck_assert_err(weft_sem_try_acquire(&s), -EAGAIN);
    ck_assert_ok(weft_sem_release(&s));
    actors_join(a, 4);
    static const int want[] = {0, 1, 2, 3};
    ck_trace(want, 4);
    ck_assert_double_eq_tol(a[0].when, 1.0, 1e-9);
    ck_assert_double_eq_tol(a[1].when, 1.0, 1e-9);
    ck_assert_double_eq_tol(a[2].when, 2.0, 1e-9);
    ck_assert_double_eq_tol(a[3].when, 2.0, 1e-9);
    ck_assert_uint_eq(weft_sem_value(&s), 2);

    /* An unbounded semaphore goes up to UINT_MAX. */
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_sem_release(&s));
    ck_assert_uint_eq(weft_sem_value(&s), 5);
    ck_assert_ok(weft_sem_destroy(&s));
    ck_assert_ok(weft_sem_init(&s, UINT_MAX));
    logcap_start();
    ck_assert_err(weft_sem_release(&s), -EOVERFLOW);
    ck_assert_logged(1, "maximum");
    logcap_stop();
    ck_assert_uint_eq(weft_sem_value(&s), UINT_MAX);
    ck_assert_ok(weft_sem_destroy(&s));
    return 0;
}

START_TEST(sem_acquire_try_release_fifo) {
    ck_assert_ok(run_virtual(sem_basics_main, NULL));
}
END_TEST

static void sem_release_cb(void *arg) {
    ck_assert_ok(weft_sem_release(arg));
}

static int bounded_main(void *arg) {
    (void)arg;
    weft_sem_t s;
    ck_assert_ok(weft_sem_init_bounded(&s, 2));
    logcap_start();
    ck_assert_err(weft_sem_release(&s), -EOVERFLOW);
    ck_assert_logged(1, "too many times");
    ck_assert_uint_eq(weft_sem_value(&s), 2);
    ck_assert_ok(weft_sem_acquire(&s));
    ck_assert_ok(weft_sem_release(&s));
    ck_assert_err(weft_sem_release(&s), -EOVERFLOW);
    ck_assert_logged(2, "bound");
    logcap_stop();
    ck_assert_ok(weft_sem_acquire(&s));
    ck_assert_ok(weft_sem_acquire(&s));
    /* A release from a callback hands its permit to a waiting task. */
    ck_assert_ok(weft_call_later(weft_loop_current(), 1, sem_release_cb, &s,
                                 NULL));
    ck_assert_ok(weft_sem_acquire(&s));
    ck_assert_time(1.0);
    ck_assert_uint_eq(weft_sem_value(&s), 0);
    ck_assert_ok(weft_sem_release(&s));
    ck_assert_ok(weft_sem_release(&s));
    ck_assert_uint_eq(weft_sem_value(&s), 2);
    logcap_start();
    ck_assert_err(weft_sem_release(&s), -EOVERFLOW);
    logcap_stop();
    ck_assert_ok(weft_sem_destroy(&s));

    /* Bounded at 0: every release without a waiter is one too many. */
    ck_assert_ok(weft_sem_init_bounded(&s, 0));
    logcap_start();
    ck_assert_err(weft_sem_release(&s), -EOVERFLOW);
    logcap_stop();
    ck_assert_ok(weft_call_later(weft_loop_current(), 1, sem_release_cb, &s,
                                 NULL));
    ck_assert_ok(weft_sem_acquire(&s));
    ck_assert_time(2.0);
    ck_assert_ok(weft_sem_destroy(&s));
    return 0;
}

START_TEST(bounded_sem_over_release_is_refused) {
    ck_assert_ok(run_virtual(bounded_main, NULL));
}
END_TEST

static int op_sem(void *obj) {
    int rc = weft_sem_acquire(obj);
    if (rc == 0)
        ck_assert_ok(weft_sem_release(obj));
    return rc;
}

static int sem_interrupt_main(void *arg) {
    (void)arg;
    reset_trace();
    weft_sem_t s;
    ck_assert_ok(weft_sem_init(&s, 0));
    struct scoped sc = {.a = {.obj = &s}, .timeout = 1, .op = op_sem};
    ck_assert_ok(weft_spawn(&sc.a.task, scoped_op, &sc, NULL));
    struct actor a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct actor){.id = i, .obj = &s};
        ck_assert_ok(weft_spawn(&a[i].task, sem_and_trace, &a[i], NULL));
    }
    ck_assert_ok(weft_sleep(2));
    ck_assert_err(sc.a.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(sc.a.when, 1.0, 1e-9);
    ck_assert_err(sc.exit_rc, -ETIMEDOUT);
    actors_join(&sc.a, 1);
    /* Cancelled while queued: skipped. */
    ck_assert_ok(weft_task_cancel(a[0].task));
    ck_assert_ok(weft_yield());
    ck_assert_err(a[0].rc, -ECANCELED);
    /* Handed the permit, then cancelled before it ran: the permit goes on
     * to the next waiter. */
    ck_assert_ok(weft_sem_release(&s));
    ck_assert_ok(weft_task_cancel(a[1].task));
    ck_assert_ok(weft_join(a[1].task));
    ck_assert_err(a[1].rc, -ECANCELED);
    ck_assert_int_eq(a[1].held, 0);
    ck_assert_uint_eq(weft_sem_value(&s), 0); /* a[2] has it */
    actors_join(a, 3);
    ck_assert_ok(a[2].rc);
    static const int want[] = {2};
    ck_trace(want, 1);
    ck_assert_uint_eq(weft_sem_value(&s), 1);
    /* With nobody after it, the permit returns to the counter. */
    ck_assert_ok(weft_sem_acquire(&s));
    a[0] = (struct actor){.id = 9, .obj = &s};
    ck_assert_ok(weft_spawn(&a[0].task, sem_and_trace, &a[0], NULL));
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_sem_release(&s));
    ck_assert_ok(weft_task_cancel(a[0].task));
    actors_join(a, 1);
    ck_assert_err(a[0].rc, -ECANCELED);
    ck_assert_uint_eq(weft_sem_value(&s), 1);
    ck_assert_ok(weft_sem_destroy(&s));
    return 0;
}

START_TEST(sem_acquire_cancelled_queued_handed_and_timed_out) {
    ck_assert_ok(run_virtual(sem_interrupt_main, NULL));
}
END_TEST

static void *sem_foreign_thread(void *arg) {
    struct foreign *f = arg;
    f->rc_sem = weft_sem_release(f->obj);
    return NULL;
}

static int sem_misuse_main(void *arg) {
    (void)arg;
    weft_sem_t s;
    ck_assert_ok(weft_sem_init(&s, 0));
    struct actor w = {.obj = &s};
    ck_assert_ok(weft_spawn(&w.task, sem_and_trace, &w, NULL));
    ck_assert_ok(weft_yield());
    logcap_start();
    ck_assert_err(weft_sem_destroy(&s), -EBUSY);
    ck_assert_logged(1, "waiting");
    struct foreign f = {.obj = &s};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, sem_foreign_thread, &f), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_err(f.rc_sem, -EPERM);
    ck_assert_logged(2, "another thread");
    logcap_stop();
    ck_assert_uint_eq(weft_sem_value(&s), 0);
    ck_assert_ok(weft_sem_release(&s));
    actors_join(&w, 1);
    ck_assert_ok(w.rc);
    ck_assert_ok(weft_sem_destroy(&s));
    logcap_start();
    ck_assert_err(weft_sem_acquire(&s), -EINVAL);
    ck_assert_logged(1, "not initialised");
    logcap_stop();
    ck_assert_err(weft_sem_init(NULL, 1), -EINVAL);
    ck_assert_err(weft_sem_init_bounded(NULL, 1), -EINVAL);
    ck_assert_err(weft_sem_release(NULL), -EINVAL);
    ck_assert_uint_eq(weft_sem_value(NULL), 0);
    return 0;
}

START_TEST(sem_misuse_destroy_busy_foreign_thread_destroyed) {
    logcap_start();
    weft_sem_t s;
    ck_assert_ok(weft_sem_init(&s, 1));
    ck_assert_err(weft_sem_acquire(&s), -EPERM);
    ck_assert_logged(1, "outside a task");
    logcap_stop();
    ck_assert_ok(run_virtual(sem_misuse_main, NULL));
}
END_TEST

static Suite *sync_suite(void) {
    Suite *s = suite_create("sync");
    TCase *lk = tcase_create("lock");
    tcase_add_test(lk, lock_acquire_release_try_recursive_destroyed);
    tcase_add_test(lk, only_the_owner_may_release);
    tcase_add_test(lk, a_thousand_tasks_contend_fifo_and_exclusive);
    tcase_add_test(lk, release_hands_the_lock_to_the_first_waiter_no_barging);
    tcase_add_test(lk, a_waiter_cancelled_while_queued_is_skipped);
    tcase_add_test(lk, a_waiter_cancelled_after_the_hand_off_passes_the_lock_on);
    tcase_add_test(lk, lock_acquire_in_a_deadline_scope);
    tcase_add_test(lk, a_cancelled_task_gets_a_free_lock_but_cannot_wait);
    tcase_add_test(lk, a_lock_belongs_to_the_loop_that_first_used_it);
    suite_add_tcase(s, lk);

    TCase *ev = tcase_create("event");
    tcase_add_test(ev, event_set_clear_wait_wakes_all_in_order);
    tcase_add_test(ev, event_wait_cancelled_timed_out_and_set_from_a_callback);
    tcase_add_test(ev, event_from_another_thread_is_refused);
    tcase_add_test(ev, event_not_initialised_is_refused);
    suite_add_tcase(s, ev);

    TCase *cd = tcase_create("condition");
    tcase_add_test(cd, cond_wait_for_rechecks_the_predicate_after_each_notify);
    tcase_add_test(cd, cond_notify_n_and_all_wake_in_fifo_order);
    tcase_add_test(cd, cond_wait_cancelled_returns_with_the_lock_notified_keeps_it);
    tcase_add_test(cd, cond_wait_in_a_deadline_scope_and_when_already_cancelled);
    tcase_add_test(cd, cond_needs_the_lock_held_and_other_misuse);
    suite_add_tcase(s, cd);

    TCase *sm = tcase_create("semaphore");
    tcase_add_test(sm, sem_acquire_try_release_fifo);
    tcase_add_test(sm, bounded_sem_over_release_is_refused);
    tcase_add_test(sm, sem_acquire_cancelled_queued_handed_and_timed_out);
    tcase_add_test(sm, sem_misuse_destroy_busy_foreign_thread_destroyed);
    suite_add_tcase(s, sm);
    return s;
}

WEFT_TEST_MAIN(sync_suite)
