/* Deadline and cancel scopes, and weft_wait_for: expiry, exit codes,
 * rescheduling, nesting, shields, misuse, and the races CPython's
 * asyncio.wait_for got wrong (bpo-42130, bpo-32751, gh-114496). */
#include <stdint.h>

#include "support.h"

static int sleep_tenths(void *arg) {
    return weft_sleep((double)(intptr_t)arg / 10);
}

/* ---- exit codes ---------------------------------------------------------------- */

static int exit_codes_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    /* The body finishes in time. */
    ck_assert_ok(weft_scope_enter(&s, 2, 0));
    ck_assert(!weft_scope_expired(&s));
    ck_assert_ok(weft_sleep(1));
    ck_assert_time(1.0);
    ck_assert(!weft_scope_expired(&s));
    ck_assert_ok(weft_scope_exit(&s));

    /* The deadline cuts a wait. */
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(2.0);
    ck_assert(weft_scope_expired(&s));
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert(weft_scope_expired(&s)); /* still readable after exit */

    /* Expired (a negative timeout: at once), but no wait was cut. */
    ck_assert_ok(weft_scope_enter(&s, -1, 0));
    ck_assert(weft_scope_expired(&s));
    ck_assert_ok(weft_scope_exit(&s));

    /* 0 is expired at once too, and the first wait fails without
     * suspending. */
    ck_assert_ok(weft_scope_enter(&s, 0, 0));
    ck_assert(weft_scope_expired(&s));
    ck_assert_err(weft_sleep(1), -ETIMEDOUT);
    ck_assert_time(2.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);

    /* After the scopes: waits work again. */
    ck_assert_ok(weft_sleep(1));
    ck_assert_time(3.0);
    return 0;
}

START_TEST(exit_says_whether_the_deadline_cut_a_wait) {
    ck_assert_ok(run_virtual(exit_codes_main, NULL));
}
END_TEST

static int level_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(1.0);
    /* Every later wait inside fails at once. */
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_err(weft_yield(), -ETIMEDOUT);
    ck_assert_err(weft_sleep(0), -ETIMEDOUT);
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_err(weft_await(f, NULL), -ETIMEDOUT);
    ck_assert(weft_future_cancelled(f)); /* the awaited future too */
    weft_future_release(f);
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, sleep_tenths, (void *)100, NULL));
    ck_assert_err(weft_join(t), -ETIMEDOUT);
    ck_assert(weft_task_cancelled(t));
    weft_task_release(t);
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    ck_assert_ok(weft_group_spawn(&g, NULL, sleep_tenths, (void *)100, NULL));
    ck_assert_err(weft_group_exit(&g), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_ok(weft_sleep(1));
    ck_assert_time(2.0);
    return 0;
}

START_TEST(waits_in_an_expired_scope_keep_failing) {
    ck_assert_ok(run_virtual(level_main, NULL));
}
END_TEST

static int enter_at_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_scope_enter_at(&s, 3.5, 0));
    ck_assert_err(weft_sleep(10), -ETIMEDOUT);
    ck_assert_time(3.5);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_ok(weft_scope_enter_at(&s, 1.0, 0)); /* in the past */
    ck_assert(weft_scope_expired(&s));
    ck_assert_err(weft_yield(), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_ok(weft_scope_enter_at(&s, INFINITY, 0));
    ck_assert_ok(weft_sleep(1000));
    ck_assert_ok(weft_scope_exit(&s));
    ck_assert_time(1003.5);
    return 0;
}

START_TEST(enter_at_uses_absolute_loop_time) {
    ck_assert_ok(run_virtual(enter_at_main, NULL));
}
END_TEST

static int bad_enter_main(void *arg) {
    (void)arg;
    weft_scope_t outer, s;
    ck_assert_ok(weft_scope_enter(&outer, 5, 0));
    ck_assert_err(weft_scope_enter(&s, NAN, 0), -EINVAL);
    ck_assert_err(weft_scope_enter_at(&s, NAN, 0), -EINVAL);
    ck_assert_err(weft_scope_enter(NULL, 1, 0), -EINVAL);
    ck_assert_err(weft_scope_enter(&s, 1, 1u << 6), -EINVAL);
    /* None of those entered: `outer` is still the innermost scope. */
    ck_assert_err(weft_sleep(10), -ETIMEDOUT);
    ck_assert_time(5.0);
    ck_assert_err(weft_scope_exit(&outer), -ETIMEDOUT);
    /* INFINITY: no deadline at all. */
    ck_assert_ok(weft_scope_enter(&s, INFINITY, 0));
    ck_assert_ok(weft_sleep(1e6));
    ck_assert(!weft_scope_expired(&s));
    ck_assert_ok(weft_scope_exit(&s));
    return 0;
}

START_TEST(nan_null_and_bad_flags_are_refused_infinity_is_none) {
    ck_assert_ok(run_virtual(bad_enter_main, NULL));
}
END_TEST

/* ---- reschedule ------------------------------------------------------------------- */

static int reschedule_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    /* Earlier. */
    ck_assert_ok(weft_scope_enter(&s, 10, 0));
    ck_assert_ok(weft_scope_reschedule(&s, now() + 1));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    /* Later. */
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_ok(weft_scope_reschedule(&s, now() + 5));
    ck_assert_ok(weft_sleep(3));
    ck_assert_time(4.0);
    ck_assert_err(weft_sleep(10), -ETIMEDOUT);
    ck_assert_time(6.0);
    /* Expired stays expired. */
    ck_assert_ok(weft_scope_reschedule(&s, now() + 100));
    ck_assert(weft_scope_expired(&s));
    ck_assert_err(weft_sleep(1), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    /* INFINITY removes the deadline. */
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_ok(weft_scope_reschedule(&s, INFINITY));
    ck_assert_ok(weft_sleep(100));
    ck_assert_time(106.0);
    ck_assert(!weft_scope_expired(&s));
    ck_assert_err(weft_scope_reschedule(&s, NAN), -EINVAL);
    ck_assert_ok(weft_scope_exit(&s));
    /* Into the past, by the owner: expired for the next wait. */
    ck_assert_ok(weft_scope_enter(&s, 10, 0));
    ck_assert_ok(weft_scope_reschedule(&s, now() - 1));
    ck_assert(weft_scope_expired(&s));
    ck_assert_err(weft_sleep(1), -ETIMEDOUT);
    ck_assert_time(106.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    /* Not entered (any more): refused. */
    ck_assert_err(weft_scope_reschedule(&s, now() + 1), -EINVAL);
    ck_assert_err(weft_scope_reschedule(NULL, 1), -EINVAL);
    return 0;
}

/* Issue 16 item 14: asyncio's Timeout.when(). */
static int deadline_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    memset(&s, 0, sizeof s);
    ck_assert(isnan(weft_scope_deadline(&s))); /* never entered */
    ck_assert(isnan(weft_scope_deadline(NULL)));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_scope_enter(&s, 2.5, 0));
    ck_assert_double_eq_tol(weft_scope_deadline(&s), 3.5, 1e-9);
    ck_assert_ok(weft_scope_reschedule(&s, 10));
    ck_assert_double_eq_tol(weft_scope_deadline(&s), 10, 1e-9);
    ck_assert_ok(weft_scope_reschedule(&s, INFINITY));
    ck_assert(isinf(weft_scope_deadline(&s)));
    ck_assert_ok(weft_scope_reschedule(&s, 4));
    ck_assert_ok(weft_scope_exit(&s));
    ck_assert_double_eq_tol(weft_scope_deadline(&s), 4, 1e-9); /* after */
    ck_assert_ok(weft_scope_enter(&s, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert(isinf(weft_scope_deadline(&s)));
    ck_assert_ok(weft_scope_exit(&s));
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    ck_assert(isinf(weft_scope_deadline((weft_scope_t *)(void *)&g)));
    ck_assert_ok(weft_group_exit(&g));
    return 0;
}

START_TEST(deadline_reads_back_as_loop_time) {
    ck_assert_ok(run_virtual(deadline_main, NULL));
}
END_TEST

START_TEST(reschedule_earlier_later_infinity_and_past) {
    ck_assert_ok(run_virtual(reschedule_main, NULL));
}
END_TEST

/* Another task, or a callback, moves the deadline of a task that is
 * waiting (Trio: setting cancel_scope.deadline from anywhere). */
struct resched {
    weft_scope_t s;
    double to;
    int rc;
    double t;
};

static int resched_owner(void *arg) {
    struct resched *r = arg;
    ck_assert_ok(weft_scope_enter(&r->s, 10, 0));
    r->rc = weft_sleep(100);
    r->t = now();
    weft_scope_exit(&r->s);
    return 0;
}

static void resched_cb(void *arg) {
    struct resched *r = arg;
    ck_assert_ok(weft_scope_reschedule(&r->s, r->to));
}

static int resched_other_main(void *arg) {
    struct resched *r = arg;
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, resched_owner, r, NULL));
    ck_assert_ok(weft_call_at(weft_loop_current(), 1.0, resched_cb, r, NULL));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    return 0;
}

START_TEST(reschedule_of_a_waiting_task_to_later_time) {
    struct resched r = {.to = 2.5};
    ck_assert_ok(run_virtual(resched_other_main, &r));
    ck_assert_err(r.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(r.t, 2.5, 1e-9);
}
END_TEST

START_TEST(reschedule_of_a_waiting_task_into_the_past_wakes_it) {
    /* At t=1 the deadline becomes 0.5: passed. The wait must end now with
     * -ETIMEDOUT, not sleep on to t=100. */
    struct resched r = {.to = 0.5};
    ck_assert_ok(run_virtual(resched_other_main, &r));
    ck_assert_err(r.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(r.t, 1.0, 1e-9);
}
END_TEST

START_TEST(reschedule_of_a_waiting_task_to_now_wakes_it) {
    struct resched r = {.to = 1.0};
    ck_assert_ok(run_virtual(resched_other_main, &r));
    ck_assert_err(r.rc, -ETIMEDOUT);
    ck_assert_double_eq_tol(r.t, 1.0, 1e-9);
}
END_TEST

/* ---- nesting --------------------------------------------------------------------------- */

static int inner_first_main(void *arg) {
    (void)arg;
    weft_scope_t outer, inner;
    ck_assert_ok(weft_scope_enter(&outer, 10, 0));
    ck_assert_ok(weft_scope_enter(&inner, 1, 0));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert(weft_scope_expired(&inner));
    ck_assert(!weft_scope_expired(&outer));
    ck_assert_err(weft_scope_exit(&inner), -ETIMEDOUT);
    ck_assert_ok(weft_sleep(1)); /* the outer scope is untouched */
    ck_assert_time(2.0);
    ck_assert_ok(weft_scope_exit(&outer));
    return 0;
}

START_TEST(nested_inner_deadline_first) {
    ck_assert_ok(run_virtual(inner_first_main, NULL));
}
END_TEST

static int outer_first_main(void *arg) {
    (void)arg;
    weft_scope_t outer, inner;
    ck_assert_ok(weft_scope_enter(&outer, 1, 0));
    ck_assert_ok(weft_scope_enter(&inner, 10, 0));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert(!weft_scope_expired(&inner));
    ck_assert(weft_scope_expired(&outer));
    ck_assert_ok(weft_scope_exit(&inner)); /* not its deadline */
    ck_assert_err(weft_scope_exit(&outer), -ETIMEDOUT);
    ck_assert_ok(weft_sleep(1));
    ck_assert_time(2.0);
    return 0;
}

START_TEST(nested_outer_deadline_first) {
    ck_assert_ok(run_virtual(outer_first_main, NULL));
}
END_TEST

/* ---- the outermost expired scope owns the timeout (issue 16, cases 1-4) ----
 * Trio's rule, and asyncio's "only the topmost context manager should raise
 * TimeoutError": a wait cut by deadlines belongs to the outermost expired
 * scope it can see; an inner scope that expired too lets it through (its
 * exit returns 0, the waits' -ETIMEDOUT stands), and the outer exit says
 * -ETIMEDOUT. */

/* Case 1: asyncio's test_nested_timeouts, timeout_at(d) in timeout_at(d). */
static int same_deadline_main(void *arg) {
    (void)arg;
    weft_scope_t outer, inner;
    double d = now() + 0.01;
    ck_assert_ok(weft_scope_enter_at(&outer, d, 0));
    ck_assert_ok(weft_scope_enter_at(&inner, d, 0));
    ck_assert_err(weft_sleep(10), -ETIMEDOUT);
    ck_assert_time(d);
    ck_assert(weft_scope_expired(&inner));
    ck_assert(weft_scope_expired(&outer));
    ck_assert_ok(weft_scope_exit(&inner)); /* lets it through */
    /* A caller that ignores that and waits again still times out. */
    ck_assert_err(weft_yield(), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&outer), -ETIMEDOUT);
    ck_assert_ok(weft_sleep(1));
    return 0;
}

START_TEST(case1_nested_scopes_with_one_deadline_the_outer_owns_it) {
    ck_assert_ok(run_virtual(same_deadline_main, NULL));
}
END_TEST

/* Case 2: outer 0.01 s, inner 0.02 s, the loop blocked past both (50 ms),
 * then a wait: an outer fail-after must not pass silently because an inner
 * move-on-after (a library's own) expired too. */
static int blocked_past_both_main(void *arg) {
    bool inner_first = arg != NULL;
    weft_loop_t *loop = weft_loop_current();
    weft_scope_t outer, inner;
    ck_assert_ok(weft_scope_enter(&outer, inner_first ? 0.02 : 0.01, 0));
    ck_assert_ok(weft_scope_enter(&inner, inner_first ? 0.01 : 0.02, 0));
    if (inner_first) {
        /* The inner deadline cuts a wait alone; the library moves on
         * inside its scope, and the loop then blocks past the outer one. */
        ck_assert_err(weft_sleep(10), -ETIMEDOUT);
        ck_assert_time(0.01);
    }
    ck_assert_ok(weft_loop_advance(loop, 0.05)); /* a blocking call */
    int r = weft_sleep(1);
    ck_assert_err(r, -ETIMEDOUT);
    ck_assert(weft_scope_expired(&inner) && weft_scope_expired(&outer));
    /* move_on_after: -ETIMEDOUT would be "mine, carry on"; it is not. */
    ck_assert_ok(weft_scope_exit(&inner));
    ck_assert_err(weft_scope_exit(&outer), -ETIMEDOUT);
    return 0;
}

START_TEST(case2_loop_blocked_past_both_deadlines_the_outer_owns_it) {
    ck_assert_ok(run_virtual(blocked_past_both_main, NULL));
    ck_assert_ok(run_virtual(blocked_past_both_main, (void *)1));
}
END_TEST

/* Case 3: a group inside a 0.5 s scope, cancelled with weft_group_cancel at
 * 0.1 s while a child's shielded clean-up takes 1 s: the scope expired
 * meanwhile, so the group's exit passes its timeout on (the analogue of
 * CPython gh-155433), as it does without the group cancel. */
static int slow_cleanup_child(void *arg) {
    (void)arg;
    int r = weft_sleep(100);
    weft_scope_t sh;
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_scope_exit(&sh));
    return r;
}

static void cancel_group_cb(void *arg) {
    ck_assert_ok(weft_group_cancel(arg));
}

enum how_cancelled { NOT_CANCELLED, CANCELLED_BY_CALLBACK, CANCELLED_BY_OWNER };

static int group_in_scope_main(void *arg) {
    enum how_cancelled how = (enum how_cancelled)(intptr_t)arg;
    weft_scope_t s;
    weft_group_t g;
    ck_assert_ok(weft_scope_enter(&s, 0.5, 0));
    ck_assert_ok(weft_group_enter(&g));
    ck_assert_ok(weft_group_spawn(&g, NULL, slow_cleanup_child, NULL, NULL));
    if (how == CANCELLED_BY_CALLBACK)
        ck_assert_ok(weft_call_later(weft_loop_current(), 0.1,
                                     cancel_group_cb, &g, NULL));
    if (how == CANCELLED_BY_OWNER) {
        ck_assert_ok(weft_sleep(0.1));
        ck_assert_ok(weft_group_cancel(&g));
    }
    ck_assert_err(weft_group_exit(&g), -ETIMEDOUT);
    ck_assert_time(how == NOT_CANCELLED ? 1.5 : 1.1);
    ck_assert(weft_scope_expired(&s));
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    return 0;
}

START_TEST(case3_group_cancelled_inside_a_scope_that_expires_in_its_cleanup) {
    ck_assert_ok(run_virtual(group_in_scope_main,
                             (void *)(intptr_t)CANCELLED_BY_CALLBACK));
    ck_assert_ok(run_virtual(group_in_scope_main,
                             (void *)(intptr_t)CANCELLED_BY_OWNER));
    ck_assert_ok(run_virtual(group_in_scope_main,
                             (void *)(intptr_t)NOT_CANCELLED));
}
END_TEST

/* Case 4: a shielded scope with timeout 0 entered by a task already
 * cancelled. The shield hides the cancel: the deadline is the scope's own,
 * its exit reports it, and the cancel shows at the next wait outside. */
static int shielded_zero_in_cancelled_task(void *arg) {
    int *rc = arg;
    weft_scope_t sh;
    ck_assert_ok(weft_scope_enter(&sh, 0, WEFT_SCOPE_SHIELD));
    rc[0] = weft_sleep(1);
    rc[1] = weft_scope_exit(&sh);
    rc[2] = weft_yield();
    return 0;
}

static int shielded_zero_main(void *arg) {
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, shielded_zero_in_cancelled_task, arg, NULL));
    ck_assert_ok(weft_task_cancel(t)); /* before it first runs */
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    return 0;
}

START_TEST(case4_shielded_zero_timeout_in_a_cancelled_task_is_its_timeout) {
    int rc[3] = {1, 1, 1};
    ck_assert_ok(run_virtual(shielded_zero_main, rc));
    ck_assert_err(rc[0], -ETIMEDOUT);
    ck_assert_err(rc[1], -ETIMEDOUT);
    ck_assert_err(rc[2], -ECANCELED);
}
END_TEST

/* The rule reaches a cancelled group: a timeout of a scope outside it is
 * what waits inside report (the group's own cancellation is inner), and
 * the group's exit passes it on. */
static int expired_outside_cancelled_group_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    weft_group_t g;
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_ok(weft_group_enter(&g));
    ck_assert_ok(weft_group_cancel(&g));
    ck_assert_err(weft_sleep(5), -ECANCELED);
    ck_assert_time(0.0);
    ck_assert_ok(weft_loop_advance(weft_loop_current(), 2));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_err(weft_group_exit(&g), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    return 0;
}

START_TEST(an_outer_timeout_wins_over_an_inner_group_cancel) {
    ck_assert_ok(run_virtual(expired_outside_cancelled_group_main, NULL));
}
END_TEST

/* ---- shields ------------------------------------------------------------------------------ */

static int shield_outer_expiry_main(void *arg) {
    (void)arg;
    weft_scope_t outer, sh;
    ck_assert_ok(weft_scope_enter(&outer, 1, 0));
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert_ok(weft_sleep(3)); /* the outer expiry does not reach here */
    ck_assert_time(3.0);
    ck_assert(weft_scope_expired(&outer));
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_scope_exit(&sh));
    ck_assert_err(weft_sleep(1), -ETIMEDOUT); /* it does here */
    ck_assert_time(3.0);
    ck_assert_err(weft_scope_exit(&outer), -ETIMEDOUT);

    /* A shield's own deadline still applies; the outer scope cut nothing. */
    ck_assert_ok(weft_scope_enter(&outer, 1, 0));
    ck_assert_ok(weft_scope_enter(&sh, 2, WEFT_SCOPE_SHIELD));
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(5.0);
    ck_assert_err(weft_scope_exit(&sh), -ETIMEDOUT);
    ck_assert_ok(weft_scope_exit(&outer));
    return 0;
}

START_TEST(shield_ignores_outer_expiry_honours_its_own) {
    ck_assert_ok(run_virtual(shield_outer_expiry_main, NULL));
}
END_TEST

struct shielded {
    int r_shielded, r_exit, r_after, r_own, r_own_exit, r_after2;
    double t_shielded, t_own;
};

static int shielded_victim(void *arg) {
    struct shielded *s = arg;
    weft_scope_t sh;
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    s->r_shielded = weft_sleep(3); /* cancelled at t=1 */
    s->t_shielded = now();
    s->r_exit = weft_scope_exit(&sh);
    s->r_after = weft_sleep(1);
    ck_assert_ok(weft_scope_enter(&sh, 2, WEFT_SCOPE_SHIELD));
    s->r_own = weft_sleep(5);
    s->t_own = now();
    s->r_own_exit = weft_scope_exit(&sh);
    s->r_after2 = weft_sleep(1);
    return s->r_after2;
}

static int shield_cancel_main(void *arg) {
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, shielded_victim, arg, NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    weft_task_release(t);
    return 0;
}

START_TEST(shield_ignores_task_cancel_honours_its_own_deadline) {
    struct shielded s;
    memset(&s, 0x55, sizeof s);
    ck_assert_ok(run_virtual(shield_cancel_main, &s));
    ck_assert_ok(s.r_shielded);
    ck_assert_double_eq_tol(s.t_shielded, 3.0, 1e-9);
    ck_assert_ok(s.r_exit);
    ck_assert_err(s.r_after, -ECANCELED);
    ck_assert_err(s.r_own, -ETIMEDOUT);
    ck_assert_double_eq_tol(s.t_own, 5.0, 1e-9);
    /* The scope's deadline cut the wait; the task is cancelled too, but a
     * shield sees nothing outside it: the timeout is its own (task.h). */
    ck_assert_err(s.r_own_exit, -ETIMEDOUT);
    ck_assert_err(s.r_after2, -ECANCELED);
}
END_TEST

/* ---- misuse ---------------------------------------------------------------------------------- */

static int out_of_order_main(void *arg) {
    (void)arg;
    weft_scope_t a, b, never;
    memset(&never, 0, sizeof never);
    ck_assert_ok(weft_scope_enter(&a, 1, 0));
    ck_assert_ok(weft_scope_enter(&b, 10, 0));
    logcap_start();
    ck_assert_err(weft_scope_exit(&a), -EINVAL);
    ck_assert_logged(1, "before the scopes nested in it");
    /* `a` is gone anyway: its deadline no longer applies. */
    ck_assert_ok(weft_sleep(2));
    ck_assert_time(2.0);
    ck_assert_ok(weft_scope_exit(&b));
    ck_assert_err(weft_scope_exit(&a), -EINVAL); /* not open any more */
    ck_assert_logged(2, "not open");
    ck_assert_err(weft_scope_exit(&never), -EINVAL);
    ck_assert_logged(3, "not open");
    ck_assert_err(weft_scope_exit(NULL), -EINVAL);
    logcap_stop();
    return 0;
}

START_TEST(exit_out_of_order_is_einval_and_logged) {
    ck_assert_ok(run_virtual(out_of_order_main, NULL));
}
END_TEST

struct foreign_exit {
    weft_scope_t s;
    int rc;
};

static int exit_someone_elses(void *arg) {
    struct foreign_exit *f = arg;
    f->rc = weft_scope_exit(&f->s);
    return 0;
}

static int foreign_exit_main(void *arg) {
    struct foreign_exit *f = arg;
    ck_assert_ok(weft_scope_enter(&f->s, 1, 0));
    weft_task_t *t;
    logcap_start();
    ck_assert_ok(weft_spawn(&t, exit_someone_elses, f, NULL));
    ck_assert_ok(weft_join(t));
    ck_assert_logged(1, "not open in this task");
    logcap_stop();
    weft_task_release(t);
    ck_assert_err(weft_sleep(5), -ETIMEDOUT); /* still ours, still armed */
    ck_assert_time(1.0);
    ck_assert_err(weft_scope_exit(&f->s), -ETIMEDOUT);
    return 0;
}

START_TEST(exit_by_another_task_is_einval_and_logged) {
    struct foreign_exit f;
    f.rc = 1;
    ck_assert_ok(run_virtual(foreign_exit_main, &f));
    ck_assert_err(f.rc, -EINVAL);
}
END_TEST

static int scope_rc_in_callback = 1;
static void exit_in_callback(void *arg) {
    scope_rc_in_callback = weft_scope_exit(arg);
}

static int exit_from_callback_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 5, 0));
    logcap_start();
    ck_assert_ok(weft_call_soon(weft_loop_current(), exit_in_callback, &s,
                                NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_err(scope_rc_in_callback, -EPERM);
    ck_assert_logged(1, "weft_scope_exit");
    logcap_stop();
    ck_assert_ok(weft_scope_exit(&s));
    return 0;
}

/* Issue 16 item 5: entering a scope that is open already used to make the
 * chain point to itself and loop forever. */
struct reenter {
    weft_scope_t s;
};

static int reenter_main(void *arg) {
    struct reenter *r = arg;
    weft_scope_t inner;
    ck_assert_ok(weft_scope_enter(&r->s, 2, 0));
    ck_assert_ok(weft_scope_enter(&inner, 10, 0));
    logcap_start();
    ck_assert_err(weft_scope_enter(&r->s, 5, 0), -EINVAL);
    ck_assert_logged(1, "weft_scope_enter: scope");
    ck_assert_err(weft_scope_enter_at(&inner, 5, 0), -EINVAL);
    ck_assert_logged(2, "weft_scope_enter_at: scope");
    ck_assert(strstr(logcap.last, "already open") != NULL);
    logcap_stop();
    /* Both scopes are as they were: the outer deadline still applies. */
    ck_assert_err(weft_sleep(5), -ETIMEDOUT);
    ck_assert_time(2.0);
    ck_assert_ok(weft_scope_exit(&inner));
    ck_assert_err(weft_scope_exit(&r->s), -ETIMEDOUT);
    /* Closed, it may be entered again. */
    ck_assert_ok(weft_scope_enter(&r->s, 1, 0));
    ck_assert_ok(weft_scope_exit(&r->s));
    return 0;
}

START_TEST(enter_of_an_open_scope_is_einval_and_logged) {
    struct reenter r;
    ck_assert_ok(run_virtual(reenter_main, &r));
}
END_TEST

/* A scope left open by a task that returned looks open by its marks; it
 * is not in any live task's chain, so the memory may hold a new scope. */
static int leaves_scope_open(void *arg) {
    ck_assert_ok(weft_scope_enter(arg, 1, 0));
    return 0;
}

static int stale_scope_main(void *arg) {
    (void)arg;
    weft_scope_t *s = malloc(sizeof *s);
    ck_assert_ptr_nonnull(s);
    weft_task_t *t;
    logcap_start();
    ck_assert_ok(weft_spawn(&t, leaves_scope_open, s, NULL));
    ck_assert_ok(weft_join(t));
    ck_assert_logged(1, "did not exit");
    weft_task_release(t);
    ck_assert_ok(weft_scope_enter(s, 1, 0));
    ck_assert_int_eq(logcap.n, 1);
    logcap_stop();
    ck_assert_err(weft_sleep(2), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(s), -ETIMEDOUT);
    free(s);
    return 0;
}

START_TEST(a_stale_open_mark_does_not_refuse_enter) {
    ck_assert_ok(run_virtual(stale_scope_main, NULL));
}
END_TEST

START_TEST(scope_calls_outside_a_task_are_eperm) {
    weft_scope_t s;
    memset(&s, 0, sizeof s);
    logcap_start();
    ck_assert_err(weft_scope_enter(&s, 1, 0), -EPERM);
    ck_assert_err(weft_scope_exit(&s), -EPERM);
    ck_assert_int_eq(logcap.n, 2);
    logcap_stop();
    ck_assert_ok(run_virtual(exit_from_callback_main, NULL));
}
END_TEST

/* ---- bpo-42130: a cancel and a timeout in the same loop iteration ---------------------------------------
 * The deadline is t=1.0 and a call_at(1.0) callback cancels the waiting
 * task. Both are due in the same iteration; whichever was scheduled first,
 * the cancellation must win: the wait, and weft_wait_for, say -ECANCELED. */

enum race_kind { RACE_SCOPE, RACE_WAIT_FOR_FUTURE, RACE_WAIT_FOR_TASK };

struct race {
    enum race_kind kind;
    bool timeout_first; /* the deadline was armed before the call_at */
    weft_task_t *self;
    int rc, exit_rc, next, joined;
    double t;
    weft_future_t *f;
    weft_task_t *inner;
};

static void race_cancel(void *arg) {
    struct race *r = arg;
    ck_assert_ok(weft_task_cancel(r->self));
}

static int race_schedule_cancel(void *arg) {
    /* Runs once the racer is parked with its deadline armed. */
    ck_assert_ok(weft_call_at(weft_loop_current(), 1.0, race_cancel, arg,
                              NULL));
    return 0;
}

static int racer(void *arg) {
    struct race *r = arg;
    weft_loop_t *loop = weft_loop_current();
    r->self = weft_task_current();
    if (!r->timeout_first)
        ck_assert_ok(weft_call_at(loop, 1.0, race_cancel, r, NULL));
    switch (r->kind) {
    case RACE_SCOPE: {
        weft_scope_t s;
        ck_assert_ok(weft_scope_enter(&s, 1.0, 0));
        if (r->timeout_first)
            ck_assert_ok(weft_call_at(loop, 1.0, race_cancel, r, NULL));
        r->rc = weft_sleep(5);
        r->t = now();
        r->exit_rc = weft_scope_exit(&s);
        break;
    }
    case RACE_WAIT_FOR_FUTURE:
    case RACE_WAIT_FOR_TASK:
        if (r->timeout_first)
            ck_assert_ok(weft_spawn(NULL, race_schedule_cancel, r, NULL));
        r->rc = weft_wait_for(r->kind == RACE_WAIT_FOR_TASK
                                  ? weft_task_future(r->inner)
                                  : r->f,
                              1.0, NULL);
        r->t = now();
        break;
    }
    r->next = weft_sleep(1);
    return r->rc;
}

static int race_main(void *arg) {
    struct race *r = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(weft_future_new(loop, &r->f));
    ck_assert_ok(weft_spawn(&r->inner, sleep_tenths, (void *)100, NULL));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, racer, r, NULL));
    r->joined = weft_join(t);
    weft_task_release(t);
    if (r->kind == RACE_WAIT_FOR_FUTURE)
        ck_assert(weft_future_cancelled(r->f));
    if (r->kind == RACE_WAIT_FOR_TASK)
        ck_assert(weft_task_cancelled(r->inner));
    weft_task_cancel(r->inner);
    ck_assert_ok(weft_sleep(0));
    weft_task_release(r->inner);
    weft_future_release(r->f);
    return 0;
}

static void run_race(enum race_kind kind, bool timeout_first) {
    struct race r = {.kind = kind, .timeout_first = timeout_first,
                     .exit_rc = 1, .rc = 1, .next = 1};
    ck_assert_ok(run_virtual(race_main, &r));
    ck_assert_msg(r.rc == -ECANCELED, "the wait returned %s, not ECANCELED",
                  weft_err_name(r.rc));
    ck_assert_double_eq_tol(r.t, 1.0, 1e-9);
    ck_assert_err(r.next, -ECANCELED); /* and it stays cancelled */
    ck_assert_err(r.joined, -ECANCELED);
}

START_TEST(race_scope_cancel_scheduled_first) {
    run_race(RACE_SCOPE, false);
}
END_TEST

START_TEST(race_wait_for_future_cancel_scheduled_first) {
    run_race(RACE_WAIT_FOR_FUTURE, false);
}
END_TEST

START_TEST(race_wait_for_task_cancel_scheduled_first) {
    run_race(RACE_WAIT_FOR_TASK, false);
}
END_TEST

START_TEST(race_wait_for_task_timeout_scheduled_first) {
    run_race(RACE_WAIT_FOR_TASK, true);
}
END_TEST

START_TEST(race_scope_timeout_scheduled_first) {
    run_race(RACE_SCOPE, true);
}
END_TEST

START_TEST(race_wait_for_future_timeout_scheduled_first) {
    run_race(RACE_WAIT_FOR_FUTURE, true);
}
END_TEST

/* When both arrive together, the scope's exit reports the cancellation,
 * never 0 (the deadline did cut the wait) and never -ETIMEDOUT. */
START_TEST(race_scope_exit_reports_the_cancel) {
    int exit_rc[2];
    for (int first = 0; first < 2; first++) {
        struct race r = {.kind = RACE_SCOPE, .timeout_first = first,
                         .exit_rc = 1};
        ck_assert_ok(run_virtual(race_main, &r));
        exit_rc[first] = r.exit_rc;
    }
    ck_assert_msg(exit_rc[0] == -ECANCELED && exit_rc[1] == -ECANCELED,
                  "scope exit returned %s (cancel scheduled first) and %s "
                  "(timeout scheduled first)",
                  weft_err_name(exit_rc[0]), weft_err_name(exit_rc[1]));
}
END_TEST

/* The original bpo-42130: the awaited future completes and the waiter is
 * cancelled in the same step. Neither is lost: wait_for reports the cancel
 * (as CPython's fix raises CancelledError), the value stays in the future,
 * and the next wait says -ECANCELED too. */
struct both {
    weft_future_t *f;
    weft_task_t *waiter;
    int rc, next;
    void *value, *kept;
};

static void complete_and_cancel(void *arg) {
    struct both *b = arg;
    ck_assert_ok(weft_future_set_result(b->f, (void *)0xb0b));
    ck_assert_ok(weft_task_cancel(b->waiter));
}

static int both_waiter(void *arg) {
    struct both *b = arg;
    b->rc = weft_wait_for(b->f, 5.0, &b->value);
    weft_future_result(b->f, &b->kept);
    b->next = weft_sleep(1);
    return b->next;
}

static int both_main(void *arg) {
    struct both *b = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(weft_future_new(loop, &b->f));
    ck_assert_ok(weft_spawn(&b->waiter, both_waiter, b, NULL));
    ck_assert_ok(weft_call_later(loop, 1.0, complete_and_cancel, b, NULL));
    ck_assert_err(weft_join(b->waiter), -ECANCELED);
    ck_assert_time(1.0);
    weft_task_release(b->waiter);
    weft_future_release(b->f);
    return 0;
}

START_TEST(race_result_and_cancel_together_lose_neither) {
    struct both b = {.rc = 1, .next = 1};
    ck_assert_ok(run_virtual(both_main, &b));
    ck_assert_err(b.rc, -ECANCELED);
    ck_assert_ptr_null(b.value);
    ck_assert_ptr_eq(b.kept, (void *)0xb0b);
    ck_assert_err(b.next, -ECANCELED);
}
END_TEST

/* ---- bpo-32751: wait_for returns only after the task has unwound -------------------------------------------- */

struct unwind {
    int cleaned;
    int inner_rc;
};

static int slow_unwinder(void *arg) {
    struct unwind *u = arg;
    int r = weft_sleep(100);
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert_ok(weft_sleep(5));
    ck_assert_ok(weft_scope_exit(&s));
    u->cleaned = 1;
    u->inner_rc = r;
    return r;
}

static int unwind_main(void *arg) {
    struct unwind *u = arg;
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, slow_unwinder, u, NULL));
    ck_assert_err(weft_wait_for(weft_task_future(t), 1.0, NULL), -ETIMEDOUT);
    ck_assert_time(6.0);
    ck_assert(weft_task_done(t));
    ck_assert_int_eq(u->cleaned, 1);
    ck_assert(weft_task_cancelled(t));
    weft_task_release(t);
    return 0;
}

START_TEST(wait_for_returns_after_the_task_unwound) {
    struct unwind u = {0};
    ck_assert_ok(run_virtual(unwind_main, &u));
    ck_assert_err(u.inner_rc, -ECANCELED);
}
END_TEST

/* ---- gh-114496 and friends: the outcome of wait_for ---------------------------------------------------------- */

static int swallows_cancel(void *arg) {
    intptr_t ret = (intptr_t)arg;
    int r = weft_sleep(100);
    ck_assert_err(r, -ECANCELED);
    return (int)ret; /* ignores it and returns something of its own */
}

static void set_result_cb(void *arg) {
    weft_future_set_result(arg, (void *)0xfeed);
}

static int wait_for_outcomes_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_task_t *t;
    double t0;

    /* Timeout: -ETIMEDOUT, the task cancelled. */
    ck_assert_ok(weft_spawn(&t, sleep_tenths, (void *)100, NULL));
    ck_assert_err(weft_wait_for(weft_task_future(t), 1.0, NULL), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert(weft_task_cancelled(t));
    weft_task_release(t);

    /* In time: the task's own result. */
    ck_assert_ok(weft_spawn(&t, sleep_tenths, (void *)5, NULL));
    ck_assert_ok(weft_wait_for(weft_task_future(t), 1.0, NULL));
    ck_assert_time(1.5);
    weft_task_release(t);

    /* The task swallows the cancellation and returns a value: that value. */
    t0 = now();
    ck_assert_ok(weft_spawn(&t, swallows_cancel, (void *)7, NULL));
    ck_assert_int_eq(weft_wait_for(weft_task_future(t), 1.0, NULL), 7);
    ck_assert_double_eq_tol(now(), t0 + 1, 1e-9);
    weft_task_release(t);

    /* ... or another error: that error. */
    ck_assert_ok(weft_spawn(&t, swallows_cancel, (void *)(intptr_t)-EIO,
                            NULL));
    ck_assert_err(weft_wait_for(weft_task_future(t), 1.0, NULL), -EIO);
    weft_task_release(t);

    /* A plain future: cancelled on timeout. */
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    t0 = now();
    ck_assert_err(weft_wait_for(f, 2.0, NULL), -ETIMEDOUT);
    ck_assert_double_eq_tol(now(), t0 + 2, 1e-9);
    ck_assert(weft_future_cancelled(f));
    weft_future_release(f);

    /* A plain future completed in time: its value. */
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_call_later(loop, 0.5, set_result_cb, f, NULL));
    void *v = NULL;
    ck_assert_ok(weft_wait_for(f, 2.0, &v));
    ck_assert_ptr_eq(v, (void *)0xfeed);
    /* Done already: the result, even with a zero timeout. */
    v = NULL;
    ck_assert_ok(weft_wait_for(f, 0, &v));
    ck_assert_ptr_eq(v, (void *)0xfeed);
    weft_future_release(f);

    /* Zero timeout on a pending future: -ETIMEDOUT at once. */
    ck_assert_ok(weft_future_new(loop, &f));
    t0 = now();
    ck_assert_err(weft_wait_for(f, 0, NULL), -ETIMEDOUT);
    ck_assert_double_eq_tol(now(), t0, 1e-9);
    ck_assert(weft_future_cancelled(f));
    weft_future_release(f);

    /* INFINITY waits without limit; NaN is refused. */
    ck_assert_ok(weft_spawn(&t, sleep_tenths, (void *)10000, NULL));
    t0 = now();
    ck_assert_ok(weft_wait_for(weft_task_future(t), INFINITY, NULL));
    ck_assert_double_eq_tol(now(), t0 + 1000, 1e-9);
    ck_assert_err(weft_wait_for(weft_task_future(t), NAN, NULL), -EINVAL);
    weft_task_release(t);
    ck_assert_err(weft_wait_for(NULL, 1, NULL), -EINVAL);
    return 0;
}

START_TEST(wait_for_timeout_result_and_error_are_never_swapped) {
    ck_assert_ok(run_virtual(wait_for_outcomes_main, NULL));
    logcap_start();
    ck_assert_err(weft_wait_for(NULL, 1, NULL), -EPERM);
    ck_assert_err(weft_wait_for(NULL, INFINITY, NULL), -EPERM);
    ck_assert_int_ge(logcap.n, 1);
    logcap_stop();
}
END_TEST

/* The waiting task is cancelled: -ECANCELED, even when the inner task
 * swallows its own cancellation and returns a value. */
struct wf_cancel {
    intptr_t inner_ret;
    int rc;
    double t;
    weft_task_t *inner;
};

static int wf_waiter(void *arg) {
    struct wf_cancel *c = arg;
    c->rc = weft_wait_for(weft_task_future(c->inner), 5.0, NULL);
    c->t = now();
    return c->rc;
}

static int wf_cancel_main(void *arg) {
    struct wf_cancel *c = arg;
    ck_assert_ok(weft_spawn(&c->inner, c->inner_ret ? swallows_cancel
                                                    : sleep_tenths,
                            c->inner_ret ? (void *)c->inner_ret
                                         : (void *)1000,
                            NULL));
    weft_task_t *w;
    ck_assert_ok(weft_spawn(&w, wf_waiter, c, NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_task_cancel(w));
    ck_assert_err(weft_join(w), -ECANCELED);
    ck_assert(weft_task_done(c->inner));
    weft_task_release(w);
    weft_task_release(c->inner);
    return 0;
}

START_TEST(wait_for_cancelled_is_ecanceled) {
    struct wf_cancel c = {.inner_ret = 0};
    ck_assert_ok(run_virtual(wf_cancel_main, &c));
    ck_assert_err(c.rc, -ECANCELED);
    ck_assert_double_eq_tol(c.t, 1.0, 1e-9);
    struct wf_cancel c2 = {.inner_ret = 7};
    ck_assert_ok(run_virtual(wf_cancel_main, &c2));
    ck_assert_err(c2.rc, -ECANCELED);
    ck_assert_double_eq_tol(c2.t, 1.0, 1e-9);
}
END_TEST

/* A deadline of an outer scope is reported as -ETIMEDOUT by wait_for (and
 * caught by that scope, not by wait_for's own). */
static int outer_deadline_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, sleep_tenths, (void *)1000, NULL));
    ck_assert_ok(weft_scope_enter(&s, 1.0, 0));
    ck_assert_err(weft_wait_for(weft_task_future(t), 10.0, NULL), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert(weft_task_cancelled(t));
    weft_task_release(t);
    return 0;
}

START_TEST(wait_for_inside_an_expiring_scope) {
    ck_assert_ok(run_virtual(outer_deadline_main, NULL));
}
END_TEST

/* weft_join (and weft_await) cut by a deadline say -ETIMEDOUT once the
 * joined task has unwound, whatever it returned; its own result stays
 * readable. */
static int join_deadline_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, swallows_cancel, (void *)7, NULL));
    ck_assert_ok(weft_scope_enter(&s, 1.0, 0));
    ck_assert_err(weft_join(t), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert(weft_task_done(t));
    ck_assert_int_eq(weft_task_result(t), 7);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    weft_task_release(t);
    return 0;
}

START_TEST(join_cut_by_a_deadline_is_etimedout_after_unwinding) {
    ck_assert_ok(run_virtual(join_deadline_main, NULL));
}
END_TEST

/* A sleep that ends exactly at its scope's deadline: both timers are due
 * in the same iteration; the deadline (armed first) interrupts the sleep,
 * and the sleep's own timer, already taken from the heap, must not fire
 * (it used to wake a task that was not parked, logging an internal
 * error). */
static int sleep_until_deadline_main(void *arg) {
    (void)arg;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 1.0, 0));
    ck_assert_err(weft_sleep(1.0), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_time(1.0);
    /* The task's sleep timer works normally afterwards. */
    ck_assert_ok(weft_sleep(0.5));
    ck_assert_time(1.5);
    return 0;
}

START_TEST(race_sleep_ending_at_the_deadline_fires_once) {
    logcap_start();
    ck_assert_ok(run_virtual(sleep_until_deadline_main, NULL));
    ck_assert_int_eq(logcap.n, 0);
    logcap_stop();
}
END_TEST

static Suite *scope_suite(void) {
    Suite *s = suite_create("scope");
    TCase *tc = tcase_create("deadlines");
    tcase_add_test(tc, exit_says_whether_the_deadline_cut_a_wait);
    tcase_add_test(tc, waits_in_an_expired_scope_keep_failing);
    tcase_add_test(tc, enter_at_uses_absolute_loop_time);
    tcase_add_test(tc, nan_null_and_bad_flags_are_refused_infinity_is_none);
    tcase_add_test(tc, reschedule_earlier_later_infinity_and_past);
    tcase_add_test(tc, deadline_reads_back_as_loop_time);
    tcase_add_test(tc, reschedule_of_a_waiting_task_to_later_time);
    tcase_add_test(tc, reschedule_of_a_waiting_task_into_the_past_wakes_it);
    tcase_add_test(tc, reschedule_of_a_waiting_task_to_now_wakes_it);
    tcase_add_test(tc, nested_inner_deadline_first);
    tcase_add_test(tc, nested_outer_deadline_first);
    tcase_add_test(tc, shield_ignores_outer_expiry_honours_its_own);
    tcase_add_test(tc, shield_ignores_task_cancel_honours_its_own_deadline);
    suite_add_tcase(s, tc);

    TCase *own = tcase_create("outermost owns the timeout");
    tcase_add_test(own, case1_nested_scopes_with_one_deadline_the_outer_owns_it);
    tcase_add_test(own, case2_loop_blocked_past_both_deadlines_the_outer_owns_it);
    tcase_add_test(own,
                   case3_group_cancelled_inside_a_scope_that_expires_in_its_cleanup);
    tcase_add_test(own,
                   case4_shielded_zero_timeout_in_a_cancelled_task_is_its_timeout);
    tcase_add_test(own, an_outer_timeout_wins_over_an_inner_group_cancel);
    suite_add_tcase(s, own);

    TCase *mis = tcase_create("misuse");
    tcase_add_test(mis, exit_out_of_order_is_einval_and_logged);
    tcase_add_test(mis, exit_by_another_task_is_einval_and_logged);
    tcase_add_test(mis, scope_calls_outside_a_task_are_eperm);
    tcase_add_test(mis, enter_of_an_open_scope_is_einval_and_logged);
    tcase_add_test(mis, a_stale_open_mark_does_not_refuse_enter);
    suite_add_tcase(s, mis);

    TCase *race = tcase_create("races");
    tcase_add_test(race, race_scope_cancel_scheduled_first);
    tcase_add_test(race, race_wait_for_future_cancel_scheduled_first);
    tcase_add_test(race, race_wait_for_task_cancel_scheduled_first);
    tcase_add_test(race, race_wait_for_task_timeout_scheduled_first);
    tcase_add_test(race, race_scope_timeout_scheduled_first);
    tcase_add_test(race, race_wait_for_future_timeout_scheduled_first);
    tcase_add_test(race, race_scope_exit_reports_the_cancel);
    tcase_add_test(race, race_result_and_cancel_together_lose_neither);
    tcase_add_test(race, wait_for_returns_after_the_task_unwound);
    tcase_add_test(race, wait_for_timeout_result_and_error_are_never_swapped);
    tcase_add_test(race, wait_for_cancelled_is_ecanceled);
    tcase_add_test(race, wait_for_inside_an_expiring_scope);
    tcase_add_test(race, join_cut_by_a_deadline_is_etimedout_after_unwinding);
    tcase_add_test(race, race_sleep_ending_at_the_deadline_fires_once);
    suite_add_tcase(s, race);
    return s;
}

WEFT_TEST_MAIN(scope_suite)
