/* weft_wait and weft_as_completed (asyncio.wait, asyncio.as_completed):
 * the three return_when conditions, timeouts, cancellation and deadlines of
 * the waiting task, completion order, and that nothing watched is ever
 * cancelled (issue 16 item 12). */
#include <stdint.h>

#include "support.h"

struct job {
    double sleep;
    int ret;
};

static int job_fn(void *arg) {
    const struct job *j = arg;
    int r = weft_sleep(j->sleep);
    return r ? r : j->ret;
}

/* Spawn one task per job; futs[i] is its future (the tasks are the
 * caller's to release). */
static void spawn_jobs(const struct job *jobs, size_t n, weft_task_t **t,
                       weft_future_t **futs) {
    for (size_t i = 0; i < n; i++) {
        ck_assert_ok(weft_spawn(&t[i], job_fn, (void *)&jobs[i], NULL));
        futs[i] = weft_task_future(t[i]);
    }
}

static void join_all(weft_task_t **t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        weft_join(t[i]);
        weft_task_release(t[i]);
    }
}

/* ---- weft_wait ------------------------------------------------------------------ */

static int first_completed_main(void *arg) {
    (void)arg;
    static const struct job jobs[3] = {{3, 30}, {1, 10}, {2, 20}};
    weft_task_t *t[3];
    weft_future_t *f[3];
    spawn_jobs(jobs, 3, t, f);
    ck_assert_int_eq(weft_wait(f, 3, WEFT_FIRST_COMPLETED, INFINITY), 1);
    ck_assert_time(1.0);
    ck_assert(weft_future_done(f[1]));
    ck_assert_int_eq(weft_future_result(f[1], NULL), 10);
    /* The others go on, not cancelled. */
    ck_assert(!weft_future_done(f[0]) && !weft_future_done(f[2]));
    ck_assert_int_eq(weft_wait(f, 3, WEFT_FIRST_COMPLETED, INFINITY), 1);
    ck_assert_time(1.0); /* one is done already: at once */
    ck_assert_int_eq(weft_wait(f, 3, WEFT_ALL_COMPLETED, INFINITY), 3);
    ck_assert_time(3.0);
    ck_assert_int_eq(weft_future_result(f[0], NULL), 30);
    ck_assert_int_eq(weft_future_result(f[2], NULL), 20);
    join_all(t, 3);
    return 0;
}

START_TEST(first_completed_and_all_completed) {
    ck_assert_ok(run_virtual(first_completed_main, NULL));
}
END_TEST

static void cancel_future_cb(void *arg) {
    ck_assert_ok(weft_future_cancel(arg));
}

static int first_exception_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    static const struct job jobs[3] = {{1, 1}, {2, -EIO}, {3, 3}};
    weft_task_t *t[3];
    weft_future_t *f[4];
    spawn_jobs(jobs, 3, t, f);
    /* A cancelled future is no exception (asyncio): it does not end it. */
    ck_assert_ok(weft_future_new(loop, &f[3]));
    ck_assert_ok(weft_call_later(loop, 0.5, cancel_future_cb, f[3], NULL));
    ck_assert_int_eq(weft_wait(f, 4, WEFT_FIRST_EXCEPTION, INFINITY), 3);
    ck_assert_time(2.0);
    ck_assert_err(weft_future_result(f[1], NULL), -EIO);
    ck_assert(!weft_future_done(f[2]));
    /* Without a failure it is ALL_COMPLETED. */
    weft_future_t *ok[2] = {f[0], f[2]};
    ck_assert_int_eq(weft_wait(ok, 2, WEFT_FIRST_EXCEPTION, INFINITY), 2);
    ck_assert_time(3.0);
    weft_future_release(f[3]);
    join_all(t, 3);
    return 0;
}

START_TEST(first_exception_ignores_cancellations) {
    ck_assert_ok(run_virtual(first_exception_main, NULL));
}
END_TEST

static int wait_timeout_main(void *arg) {
    (void)arg;
    static const struct job jobs[3] = {{1, 1}, {2, 2}, {3, 3}};
    weft_task_t *t[3];
    weft_future_t *f[3];
    spawn_jobs(jobs, 3, t, f);
    /* The timeout is not an error: what is done is counted. */
    ck_assert_int_eq(weft_wait(f, 3, WEFT_ALL_COMPLETED, 1.5), 1);
    ck_assert_time(1.5);
    ck_assert_int_eq(weft_wait(f, 3, WEFT_ALL_COMPLETED, 0), 1);
    ck_assert_time(1.5);
    ck_assert_int_eq(weft_wait(f + 1, 2, WEFT_FIRST_COMPLETED, 0), 0);
    ck_assert_time(1.5);
    /* Nothing was cancelled. */
    ck_assert_int_eq(weft_wait(f, 3, WEFT_ALL_COMPLETED, 10), 3);
    ck_assert_time(3.0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_future_result(f[i], NULL), i + 1);
    join_all(t, 3);
    return 0;
}

START_TEST(a_timeout_returns_what_is_done_and_cancels_nothing) {
    ck_assert_ok(run_virtual(wait_timeout_main, NULL));
}
END_TEST

struct waiter {
    weft_future_t *f[2];
    int rc;
};

static int waiter_fn(void *arg) {
    struct waiter *w = arg;
    w->rc = weft_wait(w->f, 2, WEFT_ALL_COMPLETED, 10);
    return 0;
}

static int wait_interrupted_main(void *arg) {
    (void)arg;
    static const struct job jobs[2] = {{5, 5}, {6, 6}};
    weft_task_t *t[2];
    struct waiter w = {.rc = 1};
    spawn_jobs(jobs, 2, t, w.f);
    /* The waiting task is cancelled: -ECANCELED, the futures go on. */
    weft_task_t *wt;
    ck_assert_ok(weft_spawn(&wt, waiter_fn, &w, NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_task_cancel(wt));
    ck_assert_ok(weft_join(wt));
    weft_task_release(wt);
    ck_assert_err(w.rc, -ECANCELED);
    ck_assert(!weft_future_done(w.f[0]) && !weft_future_done(w.f[1]));
    /* A deadline scope around it: the scope's timeout, not the wait's. */
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_wait(w.f, 2, WEFT_ALL_COMPLETED, 10), -ETIMEDOUT);
    ck_assert_time(2.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    /* Both at the same moment: the outer scope owns it (task.h). */
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_wait(w.f, 2, WEFT_ALL_COMPLETED, 1), -ETIMEDOUT);
    ck_assert_time(3.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert(!weft_future_done(w.f[0]) && !weft_future_done(w.f[1]));
    ck_assert_int_eq(weft_wait(w.f, 2, WEFT_ALL_COMPLETED, INFINITY), 2);
    ck_assert_time(6.0);
    join_all(t, 2);
    return 0;
}

START_TEST(the_waiting_task_cancelled_or_timed_out_cancels_nothing) {
    ck_assert_ok(run_virtual(wait_interrupted_main, NULL));
}
END_TEST

static int ran;

static int set_ran(void *arg) {
    (void)arg;
    ran = 1;
    return 0;
}

static int wait_misuse_main(void *arg) {
    weft_loop_t *other = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f[2], *foreign;
    ck_assert_ok(weft_future_new(loop, &f[0]));
    ck_assert_ok(weft_future_set_result(f[0], NULL));
    ck_assert_ok(weft_future_new(other, &foreign));
    /* Satisfied already: no suspension, the other task has not run. */
    ran = 0;
    ck_assert_ok(weft_spawn(NULL, set_ran, NULL, NULL));
    ck_assert_int_eq(weft_wait(f, 1, WEFT_FIRST_COMPLETED, INFINITY), 1);
    ck_assert_int_eq(ran, 0);
    logcap_start();
    ck_assert_err(weft_wait(f, 0, WEFT_ALL_COMPLETED, 1), -EINVAL);
    ck_assert_err(weft_wait(NULL, 1, WEFT_ALL_COMPLETED, 1), -EINVAL);
    ck_assert_err(weft_wait(f, 1, 7, 1), -EINVAL);
    ck_assert_err(weft_wait(f, 1, WEFT_ALL_COMPLETED, NAN), -EINVAL);
    ck_assert_logged(4, "weft_wait:");
    f[1] = NULL;
    ck_assert_err(weft_wait(f, 2, WEFT_ALL_COMPLETED, 1), -EINVAL);
    ck_assert_logged(5, "future 1 is NULL");
    f[1] = foreign;
    ck_assert_err(weft_wait(f, 2, WEFT_ALL_COMPLETED, 1), -EINVAL);
    ck_assert_logged(6, "another loop");
    f[1] = weft_task_future(weft_task_current());
    ck_assert_err(weft_wait(f, 2, WEFT_ALL_COMPLETED, 1), -EDEADLK);
    ck_assert_logged(7, "the waiting task's own");
    logcap_stop();
    weft_future_release(f[0]);
    weft_future_release(foreign);
    return 0;
}

START_TEST(misuse_is_refused_and_logged) {
    weft_loop_t *other;
    ck_assert_ok(weft_loop_new(&other, NULL));
    ck_assert_ok(run_virtual(wait_misuse_main, other));
    weft_loop_free(other);
    logcap_start();
    weft_future_t *none[1] = {NULL};
    ck_assert_err(weft_wait(none, 1, WEFT_ALL_COMPLETED, 1), -EPERM);
    size_t i;
    ck_assert_err(weft_as_completed_next(NULL, &i), -EPERM);
    weft_as_completed_t *ac;
    ck_assert_err(weft_as_completed_new(&ac, none, 1, 1), -EPERM);
    ck_assert_int_eq(logcap.n, 3);
    logcap_stop();
}
END_TEST

/* ---- weft_as_completed ------------------------------------------------------------ */

static int order_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    static const struct job jobs[3] = {{3, 30}, {1, 10}, {2, 20}};
    weft_task_t *t[3];
    weft_future_t *f[5];
    spawn_jobs(jobs, 3, t, f);
    ck_assert_ok(weft_future_new(loop, &f[3]));
    ck_assert_ok(weft_future_set_error(f[3], -EIO));
    ck_assert_ok(weft_future_new(loop, &f[4]));
    ck_assert_ok(weft_future_set_result(f[4], (void *)0x4));
    weft_as_completed_t *ac;
    ck_assert_ok(weft_as_completed_new(&ac, f, 5, INFINITY));
    static const size_t want[5] = {3, 4, 1, 2, 0};
    static const double when[5] = {0, 0, 1, 2, 3};
    for (int k = 0; k < 5; k++) {
        size_t i = 99;
        ck_assert_int_eq(weft_as_completed_next(ac, &i), 1);
        ck_assert_uint_eq(i, want[k]);
        ck_assert_time(when[k]);
        ck_assert(weft_future_done(f[i]));
    }
    size_t i;
    ck_assert_int_eq(weft_as_completed_next(ac, &i), 0);
    ck_assert_int_eq(weft_as_completed_next(ac, &i), 0);
    weft_as_completed_free(ac);
    ck_assert_err(weft_future_result(f[3], NULL), -EIO);
    weft_future_release(f[3]);
    weft_future_release(f[4]);
    join_all(t, 3);
    return 0;
}

START_TEST(as_completed_yields_in_completion_order) {
    ck_assert_ok(run_virtual(order_main, NULL));
}
END_TEST

static int ac_timeout_main(void *arg) {
    (void)arg;
    static const struct job jobs[3] = {{1, 1}, {2, 2}, {3, 3}};
    weft_task_t *t[3];
    weft_future_t *f[3];
    spawn_jobs(jobs, 3, t, f);
    weft_as_completed_t *ac;
    ck_assert_ok(weft_as_completed_new(&ac, f, 3, 1.5));
    size_t i;
    ck_assert_int_eq(weft_as_completed_next(ac, &i), 1);
    ck_assert_uint_eq(i, 0);
    ck_assert_err(weft_as_completed_next(ac, &i), -ETIMEDOUT);
    ck_assert_time(1.5);
    ck_assert_err(weft_as_completed_next(ac, &i), -ETIMEDOUT);
    ck_assert_time(1.5);
    /* Nothing was cancelled; what finished since is still returned. */
    ck_assert_ok(weft_sleep(1));
    ck_assert_int_eq(weft_as_completed_next(ac, &i), 1);
    ck_assert_uint_eq(i, 1);
    ck_assert_err(weft_as_completed_next(ac, &i), -ETIMEDOUT);
    weft_as_completed_free(ac); /* the last one goes on */
    ck_assert(!weft_future_done(f[2]));
    ck_assert_int_eq(weft_join(t[2]), 3);
    ck_assert_time(3.0);
    join_all(t, 3);
    return 0;
}

START_TEST(as_completed_timeout_cancels_nothing) {
    ck_assert_ok(run_virtual(ac_timeout_main, NULL));
}
END_TEST

struct ac_user {
    weft_as_completed_t *ac;
    int rc;
    size_t i;
};

static int ac_user_fn(void *arg) {
    struct ac_user *u = arg;
    u->rc = weft_as_completed_next(u->ac, &u->i);
    return 0;
}

static int ac_cancel_main(void *arg) {
    (void)arg;
    static const struct job jobs[2] = {{2, 2}, {3, 3}};
    weft_task_t *t[2];
    weft_future_t *f[2];
    spawn_jobs(jobs, 2, t, f);
    struct ac_user u = {.rc = 1}, v = {.rc = 1};
    ck_assert_ok(weft_as_completed_new(&u.ac, f, 2, INFINITY));
    v.ac = u.ac;
    weft_task_t *ut;
    ck_assert_ok(weft_spawn(&ut, ac_user_fn, &u, NULL));
    ck_assert_ok(weft_sleep(1));
    /* A second task on the same iterator meanwhile: refused. */
    logcap_start();
    size_t i;
    ck_assert_err(weft_as_completed_next(u.ac, &i), -EBUSY);
    ck_assert_logged(1, "waits on this iterator already");
    weft_as_completed_free(u.ac); /* refused too: it is in use */
    ck_assert_logged(2, "still waits on it");
    logcap_stop();
    ck_assert_ok(weft_task_cancel(ut));
    ck_assert_ok(weft_join(ut));
    weft_task_release(ut);
    ck_assert_err(u.rc, -ECANCELED);
    ck_assert(!weft_future_done(f[0]));
    /* Nothing was taken: the next caller gets the first to finish. */
    ck_assert_ok(weft_spawn(&ut, ac_user_fn, &v, NULL));
    ck_assert_ok(weft_join(ut));
    weft_task_release(ut);
    ck_assert_int_eq(v.rc, 1);
    ck_assert_uint_eq(v.i, 0);
    ck_assert_time(2.0);
    /* Under a deadline scope: the scope's timeout. */
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 0.5, 0));
    ck_assert_err(weft_as_completed_next(u.ac, &i), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_int_eq(weft_as_completed_next(u.ac, &i), 1);
    ck_assert_uint_eq(i, 1);
    ck_assert_time(3.0);
    weft_as_completed_free(u.ac);
    weft_as_completed_free(NULL);
    join_all(t, 2);
    return 0;
}

START_TEST(as_completed_cancelled_takes_nothing) {
    ck_assert_ok(run_virtual(ac_cancel_main, NULL));
}
END_TEST

static int ac_empty_main(void *arg) {
    (void)arg;
    weft_as_completed_t *ac;
    ck_assert_ok(weft_as_completed_new(&ac, NULL, 0, INFINITY));
    size_t i;
    ck_assert_int_eq(weft_as_completed_next(ac, &i), 0);
    weft_as_completed_free(ac);
    logcap_start();
    ck_assert_err(weft_as_completed_new(&ac, NULL, 1, 1), -EINVAL);
    ck_assert_err(weft_as_completed_new(NULL, NULL, 0, 1), -EINVAL);
    weft_future_t *own[1] = {weft_task_future(weft_task_current())};
    ck_assert_err(weft_as_completed_new(&ac, own, 1, 1), -EDEADLK);
    ck_assert_int_eq(logcap.n, 2);
    logcap_stop();
    return 0;
}

START_TEST(as_completed_of_nothing_and_misuse) {
    ck_assert_ok(run_virtual(ac_empty_main, NULL));
}
END_TEST

static Suite *wait_suite(void) {
    Suite *s = suite_create("wait");
    TCase *w = tcase_create("wait");
    tcase_add_test(w, first_completed_and_all_completed);
    tcase_add_test(w, first_exception_ignores_cancellations);
    tcase_add_test(w, a_timeout_returns_what_is_done_and_cancels_nothing);
    tcase_add_test(w, the_waiting_task_cancelled_or_timed_out_cancels_nothing);
    tcase_add_test(w, misuse_is_refused_and_logged);
    suite_add_tcase(s, w);
    TCase *ac = tcase_create("as_completed");
    tcase_add_test(ac, as_completed_yields_in_completion_order);
    tcase_add_test(ac, as_completed_timeout_cancels_nothing);
    tcase_add_test(ac, as_completed_cancelled_takes_nothing);
    tcase_add_test(ac, as_completed_of_nothing_and_misuse);
    suite_add_tcase(s, ac);
    return s;
}

WEFT_TEST_MAIN(wait_suite)
