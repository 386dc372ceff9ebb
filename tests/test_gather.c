/* weft_gather: results in order, WEFT_GATHER_ALL, the first error
 * cancelling the rest, done futures, mixed futures, cancellation and
 * deadlines of the gathering task, misuse. */
#include <stdint.h>

#include "support.h"

/* A task that sleeps, then returns `ret`; cancelled, it cleans up for
 * `cleanup` seconds in a shield and returns the error. */
struct job {
    double sleep, cleanup;
    int ret;
    int rc;
    double done_at;
};

static int job_fn(void *arg) {
    struct job *j = arg;
    j->rc = weft_sleep(j->sleep);
    if (j->rc && j->cleanup > 0) {
        weft_scope_t s;
        ck_assert_ok(weft_scope_enter(&s, INFINITY, WEFT_SCOPE_SHIELD));
        ck_assert_ok(weft_sleep(j->cleanup));
        ck_assert_ok(weft_scope_exit(&s));
    }
    j->done_at = now();
    return j->rc ? j->rc : j->ret;
}

static void spawn_jobs(struct job *j, int n, weft_task_t **t,
                       weft_future_t **f) {
    for (int i = 0; i < n; i++) {
        j[i].rc = 1;
        j[i].done_at = -1;
        ck_assert_ok(weft_spawn(&t[i], job_fn, &j[i], NULL));
        f[i] = weft_task_future(t[i]);
    }
}

static void release_all(weft_task_t **t, int n) {
    for (int i = 0; i < n; i++)
        weft_task_release(t[i]);
}

static void set_value_cb(void *arg) {
    weft_future_set_result(arg, (void *)0x51);
}

static void set_error_cb(void *arg) {
    weft_future_set_error(arg, -EBADMSG);
}

/* ---- results ------------------------------------------------------------------------- */

static int in_order_main(void *arg) {
    (void)arg;
    struct job j[5];
    weft_task_t *t[5];
    weft_future_t *f[5];
    memset(j, 0, sizeof j);
    for (int i = 0; i < 5; i++) {
        j[i].sleep = 5 - i; /* the last finishes first */
        j[i].ret = 100 + i;
    }
    spawn_jobs(j, 5, t, f);
    ck_assert_ok(weft_gather(f, 5, 0));
    ck_assert_time(5.0);
    for (int i = 0; i < 5; i++) {
        ck_assert(weft_future_done(f[i]));
        ck_assert_int_eq(weft_future_result(f[i], NULL), 100 + i);
        ck_assert_int_eq(weft_task_result(t[i]), 100 + i);
        ck_assert_double_eq_tol(j[i].done_at, 5 - i, 1e-9);
    }
    release_all(t, 5);
    return 0;
}

START_TEST(results_stay_in_order_when_tasks_finish_out_of_order) {
    ck_assert_ok(run_virtual(in_order_main, NULL));
}
END_TEST

static int all_main(void *arg) {
    (void)arg;
    struct job j[4];
    weft_task_t *t[4];
    weft_future_t *f[4];
    memset(j, 0, sizeof j);
    j[0].sleep = 1, j[0].ret = -EIO;
    j[1].sleep = 2, j[1].ret = 3;
    j[2].sleep = 3, j[2].ret = -EPIPE;
    j[3].sleep = 4, j[3].ret = 0;
    spawn_jobs(j, 4, t, f);
    ck_assert_ok(weft_gather(f, 4, WEFT_GATHER_ALL));
    ck_assert_time(4.0);
    ck_assert_err(weft_future_result(f[0], NULL), -EIO);
    ck_assert_int_eq(weft_future_result(f[1], NULL), 3);
    ck_assert_err(weft_future_result(f[2], NULL), -EPIPE);
    ck_assert_ok(weft_future_result(f[3], NULL));
    for (int i = 0; i < 4; i++)
        ck_assert_ok(j[i].rc); /* nobody was cancelled */
    release_all(t, 4);
    return 0;
}

START_TEST(gather_all_collects_every_outcome_and_returns_zero) {
    ck_assert_ok(run_virtual(all_main, NULL));
}
END_TEST

static int first_error_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct job j[4];
    weft_task_t *t[4];
    weft_future_t *f[5];
    memset(j, 0, sizeof j);
    j[0].sleep = 0.5, j[0].ret = 5;    /* done before the failure */
    j[1].sleep = 1, j[1].ret = -EIO;   /* the first failure */
    j[2].sleep = 10, j[2].cleanup = 2; /* cancelled, slow to unwind */
    j[3].sleep = 1, j[3].ret = -EPIPE; /* fails in the same step: later */
    spawn_jobs(j, 4, t, f);
    ck_assert_ok(weft_future_new(loop, &f[4])); /* never completed */
    ck_assert_err(weft_gather(f, 5, 0), -EIO);
    ck_assert_time(3.0); /* after every future finished */
    ck_assert_int_eq(weft_future_result(f[0], NULL), 5);
    ck_assert_err(weft_future_result(f[1], NULL), -EIO);
    ck_assert_err(j[2].rc, -ECANCELED);
    ck_assert(weft_task_cancelled(t[2]));
    ck_assert_double_eq_tol(j[2].done_at, 3.0, 1e-9);
    ck_assert_err(weft_future_result(f[3], NULL), -EPIPE);
    ck_assert(weft_future_cancelled(f[4]));
    release_all(t, 4);
    weft_future_release(f[4]);
    return 0;
}

START_TEST(first_error_cancels_the_rest_and_is_returned_after_all_finished) {
    ck_assert_ok(run_virtual(first_error_main, NULL));
}
END_TEST

static int done_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f[3];
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_future_new(loop, &f[i]));
    ck_assert_ok(weft_future_set_result(f[0], (void *)1));
    ck_assert_ok(weft_future_set_result(f[1], (void *)2));
    ck_assert_ok(weft_future_set_result(f[2], (void *)3));
    ck_assert_ok(weft_gather(f, 3, 0));
    ck_assert_ok(weft_gather(f, 3, WEFT_GATHER_ALL));
    void *v;
    ck_assert_ok(weft_future_result(f[2], &v));
    ck_assert_ptr_eq(v, (void *)3);
    ck_assert_time(0.0);
    for (int i = 0; i < 3; i++)
        weft_future_release(f[i]);

    /* One done with an error, one pending task: the task is cancelled. */
    struct job j[1];
    weft_task_t *t[1];
    weft_future_t *tf[1];
    memset(j, 0, sizeof j);
    j[0].sleep = 10;
    spawn_jobs(j, 1, t, tf);
    ck_assert_ok(weft_future_new(loop, &f[0]));
    ck_assert_ok(weft_future_new(loop, &f[1]));
    ck_assert_ok(weft_future_set_result(f[0], NULL));
    ck_assert_ok(weft_future_set_error(f[1], -ENOENT));
    f[2] = tf[0];
    ck_assert_err(weft_gather(f, 3, 0), -ENOENT);
    ck_assert(weft_task_cancelled(t[0]));
    ck_assert_time(0.0);
    /* The same set again with WEFT_GATHER_ALL: 0. */
    ck_assert_ok(weft_gather(f, 3, WEFT_GATHER_ALL));
    weft_future_release(f[0]);
    weft_future_release(f[1]);
    release_all(t, 1);
    return 0;
}

START_TEST(gather_of_futures_already_done) {
    ck_assert_ok(run_virtual(done_main, NULL));
}
END_TEST

/* An already failed future, and a pending plain one that gather cancels
 * before it has ever parked: the cancellation completes the plain future at
 * once, and gather_notify() reads the gatherer's task from a wait that was
 * never parked (NULL): a crash. */
static int failed_and_pending_plain_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f[3];
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_future_new(loop, &f[i]));
    ck_assert_ok(weft_future_set_result(f[0], NULL));
    ck_assert_ok(weft_future_set_error(f[1], -ENOENT));
    ck_assert_err(weft_gather(f, 3, 0), -ENOENT);
    ck_assert(weft_future_cancelled(f[2]));
    ck_assert_time(0.0);
    for (int i = 0; i < 3; i++)
        weft_future_release(f[i]);
    return 0;
}

START_TEST(an_already_failed_future_cancels_a_pending_plain_one) {
    ck_assert_ok(run_virtual(failed_and_pending_plain_main, NULL));
}
END_TEST

static int mixed_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct job j[2];
    weft_task_t *t[2];
    weft_future_t *f[4];
    memset(j, 0, sizeof j);
    j[0].sleep = 1, j[0].ret = 11;
    j[1].sleep = 3, j[1].ret = 33;
    spawn_jobs(j, 2, t, f);
    ck_assert_ok(weft_future_new(loop, &f[2]));
    ck_assert_ok(weft_future_new(loop, &f[3]));
    ck_assert_ok(weft_call_later(loop, 2, set_value_cb, f[2], NULL));
    ck_assert_ok(weft_future_set_result(f[3], (void *)0x33));
    weft_future_t *order[] = {f[2], f[0], f[3], f[1]};
    ck_assert_ok(weft_gather(order, 4, 0));
    ck_assert_time(3.0);
    void *v;
    ck_assert_ok(weft_future_result(f[2], &v));
    ck_assert_ptr_eq(v, (void *)0x51);
    ck_assert_ok(weft_future_result(f[3], &v));
    ck_assert_ptr_eq(v, (void *)0x33);
    ck_assert_int_eq(weft_future_result(f[0], NULL), 11);
    ck_assert_int_eq(weft_future_result(f[1], NULL), 33);
    release_all(t, 2);
    weft_future_release(f[2]);
    weft_future_release(f[3]);

    /* A plain future's error is a failure like a task's. */
    ck_assert_ok(weft_future_new(loop, &f[2]));
    j[0].sleep = 10, j[0].ret = 0;
    spawn_jobs(j, 1, t, f);
    ck_assert_ok(weft_call_later(loop, 1, set_error_cb, f[2], NULL));
    weft_future_t *pair[] = {f[0], f[2]};
    ck_assert_err(weft_gather(pair, 2, 0), -EBADMSG);
    ck_assert_time(4.0);
    ck_assert(weft_task_cancelled(t[0]));
    release_all(t, 1);
    weft_future_release(f[2]);
    return 0;
}

START_TEST(plain_and_task_futures_mix) {
    ck_assert_ok(run_virtual(mixed_main, NULL));
}
END_TEST

static int twice_main(void *arg) {
    (void)arg;
    struct job j[1];
    weft_task_t *t[1];
    weft_future_t *f[1];
    memset(j, 0, sizeof j);
    j[0].sleep = 1, j[0].ret = 8;
    spawn_jobs(j, 1, t, f);
    weft_future_t *same[] = {f[0], f[0], f[0]};
    ck_assert_ok(weft_gather(same, 3, 0));
    ck_assert_time(1.0);
    ck_assert_int_eq(weft_task_result(t[0]), 8);
    release_all(t, 1);
    return 0;
}

START_TEST(the_same_future_twice) {
    ck_assert_ok(run_virtual(twice_main, NULL));
}
END_TEST

/* ---- cancellation and deadlines ------------------------------------------------------------ */

struct gatherer {
    unsigned flags;
    struct job j[2];
    weft_task_t *t[2];
    weft_future_t *plain;
    int rc, after;
    double t_rc;
};

static int gatherer_fn(void *arg) {
    struct gatherer *g = arg;
    weft_future_t *f[3];
    g->j[0].sleep = 10;
    g->j[1].sleep = 10, g->j[1].cleanup = 2;
    spawn_jobs(g->j, 2, g->t, f);
    ck_assert_ok(weft_future_new(weft_loop_current(), &g->plain));
    f[2] = g->plain;
    g->rc = weft_gather(f, 3, g->flags);
    g->t_rc = now();
    g->after = weft_sleep(1);
    return g->rc;
}

static int cancel_gatherer_main(void *arg) {
    struct gatherer *g = arg;
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, gatherer_fn, g, NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    weft_task_release(t);
    ck_assert(weft_task_cancelled(g->t[0]));
    ck_assert(weft_task_cancelled(g->t[1]));
    ck_assert(weft_future_cancelled(g->plain));
    release_all(g->t, 2);
    weft_future_release(g->plain);
    return 0;
}

START_TEST(cancelling_the_gatherer_cancels_every_child) {
    for (int all = 0; all < 2; all++) {
        struct gatherer g;
        memset(&g, 0, sizeof g);
        g.flags = all ? WEFT_GATHER_ALL : 0;
        ck_assert_ok(run_virtual(cancel_gatherer_main, &g));
        ck_assert_err(g.rc, -ECANCELED);
        ck_assert_double_eq_tol(g.t_rc, 3.0, 1e-9); /* after the unwinding */
        ck_assert_err(g.after, -ECANCELED);
        ck_assert_err(g.j[0].rc, -ECANCELED);
        ck_assert_err(g.j[1].rc, -ECANCELED);
        ck_assert_double_eq_tol(g.j[1].done_at, 3.0, 1e-9);
    }
}
END_TEST

static int scope_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct job j[2];
    weft_task_t *t[2];
    weft_future_t *f[3];
    memset(j, 0, sizeof j);
    j[0].sleep = 10;
    j[1].sleep = 10, j[1].cleanup = 1;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 1.0, 0));
    spawn_jobs(j, 2, t, f);
    ck_assert_ok(weft_future_new(loop, &f[2]));
    ck_assert_err(weft_gather(f, 3, 0), -ETIMEDOUT);
    ck_assert_time(2.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_err(j[0].rc, -ECANCELED);
    ck_assert_err(j[1].rc, -ECANCELED);
    ck_assert(weft_future_cancelled(f[2]));
    release_all(t, 2);
    weft_future_release(f[2]);

    /* Entered already expired: fails at once, still cancels. */
    memset(j, 0, sizeof j);
    j[0].sleep = 10;
    ck_assert_ok(weft_scope_enter(&s, -1, 0));
    spawn_jobs(j, 1, t, f);
    ck_assert_err(weft_gather(f, 1, WEFT_GATHER_ALL), -ETIMEDOUT);
    ck_assert_time(2.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert(weft_task_cancelled(t[0]));
    release_all(t, 1);
    return 0;
}

START_TEST(gather_in_an_expiring_scope_is_etimedout_and_cancels) {
    ck_assert_ok(run_virtual(scope_main, NULL));
}
END_TEST

/* Everything finished, then the gatherer is cancelled before it resumed:
 * gather reports the cancel (it consumed nothing: the outcomes stay in the
 * futures), and so does every later wait. */
struct late_cancel {
    weft_future_t *f[2];
    weft_task_t *self;
    int rc, next, kept[2];
};

static void complete_both_then_cancel(void *arg) {
    struct late_cancel *l = arg;
    ck_assert_ok(weft_future_set_result(l->f[0], NULL));
    ck_assert_ok(weft_future_set_result(l->f[1], NULL));
    ck_assert_ok(weft_task_cancel(l->self));
}

static int late_gatherer(void *arg) {
    struct late_cancel *l = arg;
    l->self = weft_task_current();
    ck_assert_ok(weft_call_later(weft_loop_current(), 1,
                                 complete_both_then_cancel, l, NULL));
    l->rc = weft_gather(l->f, 2, 0);
    l->kept[0] = weft_future_result(l->f[0], NULL);
    l->kept[1] = weft_future_result(l->f[1], NULL);
    l->next = weft_yield();
    return l->next;
}

static int late_cancel_main(void *arg) {
    struct late_cancel *l = arg;
    for (int i = 0; i < 2; i++)
        ck_assert_ok(weft_future_new(weft_loop_current(), &l->f[i]));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, late_gatherer, l, NULL));
    ck_assert_err(weft_join(t), -ECANCELED);
    weft_task_release(t);
    for (int i = 0; i < 2; i++)
        weft_future_release(l->f[i]);
    return 0;
}

START_TEST(a_completed_gather_keeps_its_result_when_cancel_follows) {
    struct late_cancel l;
    memset(&l, 0, sizeof l);
    l.rc = l.next = 1;
    ck_assert_ok(run_virtual(late_cancel_main, &l));
    ck_assert_err(l.rc, -ECANCELED);
    ck_assert_ok(l.kept[0]);
    ck_assert_ok(l.kept[1]);
    ck_assert_err(l.next, -ECANCELED);
}
END_TEST

/* Gather collects the outcomes: failed tasks it gathered are not reported
 * as failures nobody collected. */
static int collected_main(void *arg) {
    (void)arg;
    struct job j[2];
    weft_task_t *t[2];
    weft_future_t *f[2];
    memset(j, 0, sizeof j);
    j[0].sleep = 1, j[0].ret = -EIO;
    j[1].sleep = 2, j[1].ret = -EPIPE;
    spawn_jobs(j, 2, t, f);
    logcap_start();
    ck_assert_ok(weft_gather(f, 2, WEFT_GATHER_ALL));
    release_all(t, 2);
    ck_assert_int_eq(logcap.n, 0);
    logcap_stop();
    return 0;
}

START_TEST(gathered_failures_count_as_collected) {
    ck_assert_ok(run_virtual(collected_main, NULL));
}
END_TEST

/* ---- misuse ---------------------------------------------------------------------------------- */

struct misuse {
    weft_future_t *other;
};

static int misuse_main(void *arg) {
    struct misuse *m = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f[3];
    ck_assert_ok(weft_future_new(loop, &f[0]));
    ck_assert_ok(weft_gather(NULL, 0, 0));
    ck_assert_ok(weft_gather(f, 0, 0));
    ck_assert_ok(weft_gather(f, 0, WEFT_GATHER_ALL));
    ck_assert_err(weft_gather(NULL, 2, 0), -EINVAL);
    f[1] = NULL;
    ck_assert_err(weft_gather(f, 2, 0), -EINVAL);
    ck_assert_err(weft_gather(f, 1, 1u << 5), -EINVAL);
    f[1] = weft_task_future(weft_task_current());
    logcap_start();
    ck_assert_err(weft_gather(f, 2, 0), -EDEADLK);
    ck_assert_logged(1, "future 1 is the gathering task's own");
    f[1] = m->other;
    ck_assert_err(weft_gather(f, 2, 0), -EINVAL);
    ck_assert_logged(2, "another loop");
    logcap_stop();
    /* Refused calls touched nothing. */
    ck_assert(!weft_future_done(f[0]));
    ck_assert(!weft_future_done(m->other));
    ck_assert_time(0.0);
    weft_future_release(f[0]);
    return 0;
}

START_TEST(empty_null_foreign_and_own_future) {
    struct misuse m;
    weft_loop_t *other;
    ck_assert_ok(weft_loop_new(&other, NULL));
    ck_assert_ok(weft_future_new(other, &m.other));
    ck_assert_ok(run_virtual(misuse_main, &m));
    weft_future_release(m.other);
    weft_loop_free(other);
    logcap_start();
    weft_future_t *none[1] = {NULL};
    ck_assert_err(weft_gather(none, 0, 0), -EPERM);
    ck_assert_logged(1, "weft_gather");
    logcap_stop();
}
END_TEST

/* ---- weft_gather_calls (issue 16 items 15 and 17) ------------------------------ */

/* A job that hands back a string it made (a value of any type). */
static int make_name(void *arg) {
    struct job *j = arg;
    int r = job_fn(j);
    if (r < 0)
        return r;
    char *name = malloc(16);
    ck_assert_ptr_nonnull(name);
    snprintf(name, 16, "job-%d", j->ret);
    ck_assert_ok(weft_task_set_value(name));
    return j->ret;
}

static int calls_main(void *arg) {
    (void)arg;
    struct job j[3];
    memset(j, 0, sizeof j);
    j[0].sleep = 3, j[0].ret = 1;
    j[1].sleep = 1, j[1].ret = 2;
    j[2].sleep = 2, j[2].ret = 3;
    weft_call_t c[3] = {{make_name, &j[0], 0, NULL},
                        {make_name, &j[1], 0, NULL},
                        {job_fn, &j[2], 0, NULL}};
    ck_assert_ok(weft_gather_calls(c, 3, 0, NULL));
    ck_assert_time(3.0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(c[i].status, i + 1);
    ck_assert_str_eq(c[0].value, "job-1");
    ck_assert_str_eq(c[1].value, "job-2");
    ck_assert_ptr_null(c[2].value);
    free(c[0].value);
    free(c[1].value);

    /* The first failure cancels the rest, as weft_gather. */
    memset(j, 0, sizeof j);
    j[0].sleep = 10, j[0].cleanup = 1;
    j[1].sleep = 1, j[1].ret = -EIO;
    j[2].sleep = 0.5, j[2].ret = 7;
    weft_call_t d[3] = {{job_fn, &j[0], 0, NULL}, {job_fn, &j[1], 0, NULL},
                        {make_name, &j[2], 0, NULL}};
    ck_assert_err(weft_gather_calls(d, 3, 0, NULL), -EIO);
    ck_assert_time(5.0);
    ck_assert_err(d[0].status, -ECANCELED);
    ck_assert_err(d[1].status, -EIO);
    ck_assert_int_eq(d[2].status, 7);
    ck_assert_str_eq(d[2].value, "job-7");
    free(d[2].value);
    /* WEFT_GATHER_ALL: every outcome, 0. */
    memset(j, 0, sizeof j);
    j[0].sleep = 2, j[0].ret = 4;
    j[1].sleep = 1, j[1].ret = -EIO;
    weft_call_t e[2] = {{job_fn, &j[0], 0, NULL}, {job_fn, &j[1], 0, NULL}};
    ck_assert_ok(weft_gather_calls(e, 2, WEFT_GATHER_ALL, NULL));
    ck_assert_int_eq(e[0].status, 4);
    ck_assert_err(e[1].status, -EIO);
    ck_assert_ok(weft_gather_calls(NULL, 0, 0, NULL));
    return 0;
}

START_TEST(gather_calls_runs_collects_values_and_releases) {
    logcap_start(); /* a failure gather reports is collected, not lost */
    ck_assert_ok(run_virtual(calls_main, NULL));
    logcap_stop();
    ck_assert_msg(logcap.n == 0, "logged: %s", logcap.last);
}
END_TEST

struct calls_caller {
    struct job j[2];
    weft_call_t c[2];
    int rc;
};

static int calls_caller_fn(void *arg) {
    struct calls_caller *k = arg;
    k->rc = weft_gather_calls(k->c, 2, 0, NULL);
    return 0;
}

static int calls_cancel_main(void *arg) {
    struct calls_caller *k = arg;
    memset(k, 0, sizeof *k);
    k->j[0].sleep = 10;
    k->j[1].sleep = 10, k->j[1].cleanup = 2;
    k->c[0] = (weft_call_t){job_fn, &k->j[0], 1, NULL};
    k->c[1] = (weft_call_t){job_fn, &k->j[1], 1, NULL};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, calls_caller_fn, k, NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_ok(weft_join(t));
    ck_assert_time(3.0); /* after the slow one unwound */
    weft_task_release(t);
    ck_assert_err(k->rc, -ECANCELED);
    ck_assert_err(k->c[0].status, -ECANCELED);
    ck_assert_err(k->c[1].status, -ECANCELED);

    /* A deadline around it: -ETIMEDOUT, the tasks cancelled and done. */
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_gather_calls(k->c, 2, 0, NULL), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_time(6.0);
    ck_assert_err(k->c[1].status, -ECANCELED);

    /* The tasks cannot be started (a stack too small): nothing runs. */
    weft_spawn_opts_t bad = {.stack_size = 10};
    ck_assert_err(weft_gather_calls(k->c, 2, 0, &bad), -EINVAL);
    ck_assert_err(k->c[0].status, -EINVAL);
    ck_assert_err(k->c[1].status, -EINVAL);
    logcap_start();
    k->c[1].fn = NULL;
    ck_assert_err(weft_gather_calls(k->c, 2, 0, NULL), -EINVAL);
    ck_assert_logged(1, "call 1 has no function");
    ck_assert_err(weft_gather_calls(NULL, 2, 0, NULL), -EINVAL);
    ck_assert_err(weft_gather_calls(k->c, 1, 1u << 4, NULL), -EINVAL);
    logcap_stop();
    ck_assert_time(6.0);
    return 0;
}

START_TEST(gather_calls_cancelled_timed_out_or_not_started) {
    struct calls_caller k;
    ck_assert_ok(run_virtual(calls_cancel_main, &k));
    logcap_start();
    ck_assert_err(weft_gather_calls(k.c, 1, 0, NULL), -EPERM);
    logcap_stop();
}
END_TEST

static Suite *gather_suite(void) {
    Suite *s = suite_create("gather");
    TCase *tc = tcase_create("results");
    tcase_add_test(tc, results_stay_in_order_when_tasks_finish_out_of_order);
    tcase_add_test(tc, gather_all_collects_every_outcome_and_returns_zero);
    tcase_add_test(tc,
                   first_error_cancels_the_rest_and_is_returned_after_all_finished);
    tcase_add_test(tc, gather_of_futures_already_done);
    tcase_add_test(tc, an_already_failed_future_cancels_a_pending_plain_one);
    tcase_add_test(tc, plain_and_task_futures_mix);
    tcase_add_test(tc, the_same_future_twice);
    tcase_add_test(tc, gathered_failures_count_as_collected);
    tcase_add_test(tc, gather_calls_runs_collects_values_and_releases);
    suite_add_tcase(s, tc);
    TCase *cn = tcase_create("cancel");
    tcase_add_test(cn, cancelling_the_gatherer_cancels_every_child);
    tcase_add_test(cn, gather_in_an_expiring_scope_is_etimedout_and_cancels);
    tcase_add_test(cn, a_completed_gather_keeps_its_result_when_cancel_follows);
    tcase_add_test(cn, gather_calls_cancelled_timed_out_or_not_started);
    suite_add_tcase(s, cn);
    TCase *mis = tcase_create("misuse");
    tcase_add_test(mis, empty_null_foreign_and_own_future);
    suite_add_tcase(s, mis);
    return s;
}

WEFT_TEST_MAIN(gather_suite)
