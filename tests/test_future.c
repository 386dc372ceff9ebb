/* Futures: completion, done-callbacks, references, weft_await from tasks,
 * set_result_threadsafe from other threads, run_until_complete. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#include "support.h"

static weft_loop_t *new_loop(void) {
    weft_loop_t *loop;
    weft_loop_opts_t o = {.flags = WEFT_LOOP_VIRTUAL_CLOCK};
    ck_assert_ok(weft_loop_new(&loop, &o));
    return loop;
}

static void stop_cb(void *arg) {
    weft_loop_stop(arg);
}

/* Run what is ready now (FIFO), then stop. */
static void run_ready_now(weft_loop_t *loop) {
    ck_assert_ok(weft_call_soon(loop, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
}

/* ---- what done-callbacks saw -------------------------------------------- */
struct cb_rec {
    weft_future_t *f;
    intptr_t arg;
    int which;
    int status; /* weft_future_result() inside the callback */
    void *value;
};
static struct cb_rec cbs[64];
static int ncbs;

static void record_cb(weft_future_t *f, void *arg, int which) {
    ck_assert_int_lt(ncbs, 64);
    cbs[ncbs].f = f;
    cbs[ncbs].arg = (intptr_t)arg;
    cbs[ncbs].which = which;
    cbs[ncbs].status = weft_future_result(f, &cbs[ncbs].value);
    ncbs++;
}

static void cb_a(weft_future_t *f, void *arg) {
    record_cb(f, arg, 'a');
}

static void cb_b(weft_future_t *f, void *arg) {
    record_cb(f, arg, 'b');
}

static void reset_cbs(void) {
    memset(cbs, 0, sizeof cbs);
    ncbs = 0;
}

/* ---- basic state ---------------------------------------------------------- */

START_TEST(new_future_is_pending_and_refcounted) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_eq(weft_future_loop(f), loop);
    ck_assert(!weft_future_done(f));
    ck_assert(!weft_future_cancelled(f));
    void *v = (void *)0x1;
    ck_assert_err(weft_future_result(f, &v), -EAGAIN);
    ck_assert_ptr_null(v);
    ck_assert_err(weft_future_result(f, NULL), -EAGAIN);
    /* A second reference keeps it alive past the first release. */
    ck_assert_ptr_eq(weft_future_ref(f), f);
    weft_future_release(f);
    ck_assert_ok(weft_future_set_result(f, (void *)0x55));
    ck_assert_ok(weft_future_result(f, &v));
    ck_assert_ptr_eq(v, (void *)0x55);
    weft_future_release(f);
    weft_future_release(NULL);
    weft_loop_free(loop);
}
END_TEST

START_TEST(new_future_bad_arguments) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f = (weft_future_t *)0x1;
    ck_assert_err(weft_future_new(loop, NULL), -EINVAL);
    ck_assert_err(weft_future_new(NULL, &f), -EINVAL);
    ck_assert_ptr_null(f);
    ck_assert_ok(weft_loop_close(loop));
    ck_assert_err(weft_future_new(loop, &f), -ESHUTDOWN);
    ck_assert_ptr_null(f);
    weft_loop_free(loop);
}
END_TEST

START_TEST(set_result_and_set_error) {
    weft_loop_t *loop = new_loop();
    weft_future_t *ok, *bad;
    ck_assert_ok(weft_future_new(loop, &ok));
    ck_assert_ok(weft_future_new(loop, &bad));
    ck_assert_ok(weft_future_set_result(ok, (void *)0xabc));
    ck_assert(weft_future_done(ok));
    ck_assert(!weft_future_cancelled(ok));
    void *v = NULL;
    ck_assert_ok(weft_future_result(ok, &v));
    ck_assert_ptr_eq(v, (void *)0xabc);

    /* Not an error code: refused, and the future stays pending. */
    ck_assert_err(weft_future_set_error(bad, 0), -EINVAL);
    ck_assert_err(weft_future_set_error(bad, EIO), -EINVAL);
    ck_assert(!weft_future_done(bad));
    ck_assert_ok(weft_future_set_error(bad, -EIO));
    ck_assert(weft_future_done(bad));
    ck_assert(!weft_future_cancelled(bad));
    v = (void *)0x1;
    ck_assert_err(weft_future_result(bad, &v), -EIO);
    ck_assert_ptr_null(v); /* no value for errors */
    weft_future_release(ok);
    weft_future_release(bad);
    weft_loop_free(loop);
}
END_TEST

START_TEST(double_completion_is_refused_and_logged) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_set_result(f, (void *)1));
    logcap_start();
    ck_assert_err(weft_future_set_result(f, (void *)2), -EINVAL);
    ck_assert_logged(1, "already done");
    ck_assert_err(weft_future_set_error(f, -EIO), -EINVAL);
    ck_assert_logged(2, "already done");
    logcap_stop();
    void *v;
    ck_assert_ok(weft_future_result(f, &v)); /* the first outcome stays */
    ck_assert_ptr_eq(v, (void *)1);
    ck_assert_err(weft_future_cancel(f), -EALREADY);
    ck_assert(!weft_future_cancelled(f));
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

START_TEST(completing_a_cancelled_future_says_ecanceled) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_cancel(f));
    ck_assert(weft_future_done(f));
    ck_assert(weft_future_cancelled(f));
    ck_assert_err(weft_future_result(f, NULL), -ECANCELED);
    logcap_start();
    /* The consumer gave up: not misuse, nothing logged. */
    ck_assert_err(weft_future_set_result(f, (void *)1), -ECANCELED);
    ck_assert_err(weft_future_set_error(f, -EIO), -ECANCELED);
    ck_assert_int_eq(logcap.n, 0);
    logcap_stop();
    ck_assert_err(weft_future_cancel(f), -EALREADY);
    ck_assert_err(weft_future_result(f, NULL), -ECANCELED);
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

/* ---- done-callbacks ----------------------------------------------------------- */

START_TEST(done_callbacks_run_soon_in_order_with_the_future) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)2));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)3));
    ck_assert_err(weft_future_add_done_callback(f, NULL, NULL), -EINVAL);
    ck_assert_err(weft_future_add_done_callback(NULL, cb_a, NULL), -EINVAL);
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 0); /* not done yet */

    ck_assert_ok(weft_future_set_result(f, (void *)0x77));
    ck_assert_int_eq(ncbs, 0); /* scheduled, not called synchronously */
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 3);
    intptr_t want_arg[] = {1, 2, 3};
    int want_which[] = {'a', 'b', 'a'};
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_eq(cbs[i].f, f);
        ck_assert_int_eq(cbs[i].arg, want_arg[i]);
        ck_assert_int_eq(cbs[i].which, want_which[i]);
        ck_assert_int_eq(cbs[i].status, 0);
        ck_assert_ptr_eq(cbs[i].value, (void *)0x77);
    }

    /* Added once done: still scheduled, still not synchronous. */
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)4));
    ck_assert_int_eq(ncbs, 3);
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 4);
    ck_assert_ptr_eq(cbs[3].f, f);
    ck_assert_int_eq(cbs[3].arg, 4);
    ck_assert_int_eq(cbs[3].which, 'b');
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 4); /* each runs once */
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

START_TEST(done_callbacks_see_errors_and_cancellation) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    weft_future_t *e, *c;
    ck_assert_ok(weft_future_new(loop, &e));
    ck_assert_ok(weft_future_new(loop, &c));
    ck_assert_ok(weft_future_add_done_callback(e, cb_a, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(c, cb_a, (void *)2));
    ck_assert_ok(weft_future_cancel(c));
    ck_assert_ok(weft_future_set_error(e, -EPIPE));
    ck_assert_int_eq(ncbs, 0);
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 2);
    /* In completion order. */
    ck_assert_ptr_eq(cbs[0].f, c);
    ck_assert_int_eq(cbs[0].status, -ECANCELED);
    ck_assert_ptr_eq(cbs[1].f, e);
    ck_assert_int_eq(cbs[1].status, -EPIPE);
    ck_assert_ptr_null(cbs[1].value);
    weft_future_release(e);
    weft_future_release(c);
    weft_loop_free(loop);
}
END_TEST

START_TEST(callbacks_keep_the_future_alive) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)9));
    ck_assert_ok(weft_future_set_result(f, (void *)0x99));
    weft_future_release(f); /* our last reference; the callback holds one */
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 1);
    ck_assert_int_eq(cbs[0].status, 0);
    ck_assert_ptr_eq(cbs[0].value, (void *)0x99);

    /* A pending future released with callbacks that never run. */
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)10));
    weft_future_release(f);
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 1);
    weft_loop_free(loop);
}
END_TEST

/* Callbacks scheduled but not run when the loop closes are dropped, as in
 * asyncio, but the references they hold are released: the futures and
 * tasks are freed with the loop and nothing is reported left over. */
static int stops_the_loop_and_returns_3(void *arg) {
    weft_loop_stop(arg);
    return 3;
}

START_TEST(close_drops_scheduled_callbacks_and_their_references) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    /* A plain future, completed; its callbacks are queued, we let go. */
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)2));
    ck_assert_ok(weft_future_set_result(f, (void *)0x5));
    weft_future_release(f);
    /* A task whose completion queues its callback after stop(): the run
     * ends before it could run. */
    weft_task_t *t;
    ck_assert_ok(weft_loop_spawn(loop, &t, stops_the_loop_and_returns_3, loop,
                                 NULL));
    ck_assert_ok(weft_future_add_done_callback(weft_task_future(t), cb_a,
                                               (void *)3));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert(weft_task_done(t));
    ck_assert_int_eq(ncbs, 2); /* f's two ran in that run; t's did not */
    weft_task_release(t);
    /* And one more plain future whose callbacks never got a run at all. */
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)4));
    ck_assert_ok(weft_future_cancel(f));
    weft_future_release(f);

    logcap_start();
    ck_assert_ok(weft_loop_close(loop));
    ck_assert_int_eq(ncbs, 2); /* dropped, never called */
    weft_loop_free(loop);
    /* Nothing was left referenced ("still referenced" lines), and ASan and
     * valgrind see no leak. */
    ck_assert_msg(logcap.n == 0, "logged: %s", logcap.last);
    logcap_stop();
}
END_TEST

START_TEST(remove_done_callback_counts_and_keeps_order) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)2));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)5));
    ck_assert_int_eq(weft_future_remove_done_callback(f, cb_a, (void *)1), 2);
    ck_assert_int_eq(weft_future_remove_done_callback(f, cb_a, (void *)1), 0);
    ck_assert_int_eq(weft_future_remove_done_callback(f, cb_b, (void *)2), 0);
    /* Remove the last one, then add: the list's tail must follow. */
    ck_assert_int_eq(weft_future_remove_done_callback(f, cb_a, (void *)5), 1);
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)3));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)4));
    ck_assert_ok(weft_future_set_result(f, NULL));
    /* Already scheduled: no longer removable. */
    ck_assert_int_eq(weft_future_remove_done_callback(f, cb_a, (void *)4), 0);
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 4);
    int want_which[] = {'a', 'b', 'b', 'a'};
    intptr_t want_arg[] = {2, 1, 3, 4};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(cbs[i].which, want_which[i]);
        ck_assert_int_eq(cbs[i].arg, want_arg[i]);
    }
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

START_TEST(remove_every_callback_then_add_again) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    ck_assert_int_eq(weft_future_remove_done_callback(f, cb_a, (void *)1), 2);
    ck_assert_ok(weft_future_add_done_callback(f, cb_b, (void *)7));
    ck_assert_ok(weft_future_cancel(f));
    run_ready_now(loop);
    ck_assert_int_eq(ncbs, 1);
    ck_assert_int_eq(cbs[0].which, 'b');
    ck_assert_int_eq(cbs[0].status, -ECANCELED);
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

/* ---- weft_await ---------------------------------------------------------------- */

struct await_ctx {
    weft_future_t *f;
    int rc;
    void *value;
    double t;
};

static void complete_later(void *arg) {
    struct await_ctx *c = arg;
    ck_assert_ok(weft_future_set_result(c->f, (void *)0x600d));
}

static void fail_later(void *arg) {
    struct await_ctx *c = arg;
    ck_assert_ok(weft_future_set_error(c->f, -EPIPE));
}

static int awaiter(void *arg) {
    struct await_ctx *c = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(weft_future_new(loop, &c->f));
    ck_assert_ok(weft_call_later(loop, 1.5, complete_later, c, NULL));
    c->value = (void *)0x1;
    c->rc = weft_await(c->f, &c->value);
    c->t = weft_loop_time(loop);
    weft_future_release(c->f);

    /* An error outcome: no value. */
    struct await_ctx e = {0};
    ck_assert_ok(weft_future_new(loop, &e.f));
    ck_assert_ok(weft_call_later(loop, 1.0, fail_later, &e, NULL));
    void *v = (void *)0x1;
    ck_assert_err(weft_await(e.f, &v), -EPIPE);
    ck_assert_ptr_null(v);
    ck_assert_double_eq_tol(weft_loop_time(loop), 2.5, 1e-9);
    /* Done already: returns the outcome again. */
    ck_assert_err(weft_await(e.f, NULL), -EPIPE);
    weft_future_release(e.f);
    return 0;
}

START_TEST(await_returns_the_value_once_done) {
    struct await_ctx c = {0};
    ck_assert_ok(run_virtual(awaiter, &c));
    ck_assert_ok(c.rc);
    ck_assert_ptr_eq(c.value, (void *)0x600d);
    ck_assert_double_eq_tol(c.t, 1.5, 1e-9);
}
END_TEST

static int n_woken;
static intptr_t woken_values[4];

static int await_shared(void *arg) {
    void *v;
    int r = weft_await(arg, &v);
    if (r == 0)
        woken_values[n_woken++] = (intptr_t)v;
    return r;
}

static void complete_shared(void *arg) {
    weft_future_set_result(arg, (void *)0x5a);
}

static int two_awaiters(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    weft_task_t *a, *b;
    ck_assert_ok(weft_spawn(&a, await_shared, f, NULL));
    ck_assert_ok(weft_spawn(&b, await_shared, f, NULL));
    ck_assert_ok(weft_call_later(loop, 1.0, complete_shared, f, NULL));
    ck_assert_ok(weft_join(a));
    ck_assert_ok(weft_join(b));
    weft_task_release(a);
    weft_task_release(b);
    weft_future_release(f);
    return 0;
}

START_TEST(every_awaiter_is_woken_with_the_value) {
    n_woken = 0;
    ck_assert_ok(run_virtual(two_awaiters, NULL));
    ck_assert_int_eq(n_woken, 2);
    ck_assert_int_eq(woken_values[0], 0x5a);
    ck_assert_int_eq(woken_values[1], 0x5a);
}
END_TEST

/* A free() that scribbles over the block first, so that a use after free
 * shows without a sanitizer. Only possible before weft allocated anything
 * in this process (Check forks a fresh process per test). */

static void scribbling_free(void *p) {
    if (p) {
        memset(p, 0xdd, malloc_usable_size(p));
        /* Keep the compiler from dropping the memset as a dead store. */
        __asm__ volatile("" : : "r"(p) : "memory");
    }
    free(p);
}

static void scribble_on_free(void) {
    int r = weft_replace_allocator(malloc, realloc, calloc, scribbling_free);
    ck_assert(r == 0 || r == -EBUSY); /* -EBUSY: CK_FORK=no, rely on ASan */
}

static int await_last_ref_rc = 1;
static void *await_last_ref_value;

static int await_holding_last_ref(void *arg) {
    await_last_ref_rc = weft_await(arg, &await_last_ref_value);
    return 0;
}

static int release_while_awaited(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, await_holding_last_ref, f, NULL));
    ck_assert_ok(weft_sleep(0.5)); /* t is parked in weft_await */
    ck_assert_ok(weft_call_later(loop, 1.0, complete_shared, f, NULL));
    /* future.h: "The loop holds its own references while callbacks are
     * scheduled or tasks wait, so releasing early is safe." */
    weft_future_release(f);
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    return 0;
}

START_TEST(await_survives_the_last_user_reference_going) {
    scribble_on_free();
    ck_assert_ok(run_virtual(release_while_awaited, NULL));
    ck_assert_ok(await_last_ref_rc);
    ck_assert_ptr_eq(await_last_ref_value, (void *)0x5a);
}
END_TEST

static int await_rc_in_callback = 1;
static void await_in_callback(void *arg) {
    await_rc_in_callback = weft_await(arg, NULL);
}

START_TEST(await_outside_a_task_is_eperm_and_logged) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    logcap_start();
    void *v = (void *)0x1;
    ck_assert_err(weft_await(f, &v), -EPERM);
    ck_assert_ptr_null(v);
    ck_assert_logged(1, "weft_await");
    /* From a plain callback of a running loop: no task either. */
    ck_assert_ok(weft_call_soon(loop, await_in_callback, f, NULL));
    run_ready_now(loop);
    ck_assert_err(await_rc_in_callback, -EPERM);
    ck_assert_logged(2, "outside a task");
    logcap_stop();
    ck_assert(!weft_future_done(f));
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

struct foreign_ctx {
    weft_future_t *other;
    int rc_other, rc_null, rc_self;
};

static int await_misuse(void *arg) {
    struct foreign_ctx *c = arg;
    logcap_start();
    c->rc_other = weft_await(c->other, NULL);
    ck_assert_logged(1, "another loop");
    logcap_stop();
    c->rc_null = weft_await(NULL, NULL);
    logcap_start();
    c->rc_self = weft_await(weft_task_future(weft_task_current()), NULL);
    ck_assert_logged(1, "its own future");
    logcap_stop();
    return 0;
}

START_TEST(await_misuse_another_loop_null_self) {
    weft_loop_t *other = new_loop();
    struct foreign_ctx c = {0};
    ck_assert_ok(weft_future_new(other, &c.other));
    ck_assert_ok(run_virtual(await_misuse, &c));
    ck_assert_err(c.rc_other, -EINVAL);
    ck_assert_err(c.rc_null, -EINVAL);
    ck_assert_err(c.rc_self, -EDEADLK);
    ck_assert(!weft_future_done(c.other));
    weft_future_release(c.other);
    weft_loop_free(other);
}
END_TEST

/* Cancelling a task that awaits a plain future cancels that future (as in
 * asyncio), and the await returns -ECANCELED. */
struct cancel_await {
    weft_future_t *f;
    int rc;
    double t;
};

static int awaits_forever(void *arg) {
    struct cancel_await *c = arg;
    c->rc = weft_await(c->f, NULL);
    c->t = weft_loop_time(weft_loop_current());
    return c->rc;
}

static int cancel_the_awaiter(void *arg) {
    struct cancel_await *c = arg;
    ck_assert_ok(weft_future_new(weft_loop_current(), &c->f));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, awaits_forever, c, NULL));
    ck_assert_ok(weft_sleep(2));
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    ck_assert(weft_future_cancelled(c->f));
    weft_task_release(t);
    weft_future_release(c->f);
    return 0;
}

START_TEST(cancelling_the_awaiter_cancels_the_future) {
    struct cancel_await c = {0};
    ck_assert_ok(run_virtual(cancel_the_awaiter, &c));
    ck_assert_err(c.rc, -ECANCELED);
    ck_assert_double_eq_tol(c.t, 2.0, 1e-9);
}
END_TEST

/* Cancelling a task's future cancels the task; the future completes when
 * the task has unwound. */
static int unwinds_slowly(void *arg) {
    int *stage = arg;
    int r = weft_sleep(100);
    *stage = r == -ECANCELED ? 1 : -1;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, INFINITY, WEFT_SCOPE_SHIELD));
    ck_assert_ok(weft_sleep(3));
    ck_assert_ok(weft_scope_exit(&s));
    *stage = 2;
    return r;
}

static int cancel_task_future(void *arg) {
    (void)arg;
    int stage = 0;
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, unwinds_slowly, &stage, NULL));
    ck_assert_ok(weft_sleep(1));
    weft_future_t *f = weft_task_future(t);
    ck_assert_ok(weft_future_cancel(f));
    ck_assert(!weft_future_done(f)); /* the task has yet to unwind */
    ck_assert_ok(weft_sleep(1));
    ck_assert_int_eq(stage, 1);
    ck_assert(!weft_future_done(f));
    ck_assert_err(weft_await(f, NULL), -ECANCELED);
    ck_assert_int_eq(stage, 2);
    ck_assert_double_eq_tol(weft_loop_time(weft_loop_current()), 4.0, 1e-9);
    ck_assert(weft_future_cancelled(f));
    ck_assert(weft_task_cancelled(t));
    ck_assert_err(weft_future_cancel(f), -EALREADY);
    weft_task_release(t);
    return 0;
}

START_TEST(cancelling_a_task_future_cancels_the_task) {
    ck_assert_ok(run_virtual(cancel_task_future, NULL));
}
END_TEST

/* A task's future: completed by the task alone; done-callbacks see its
 * status and keep it readable. */
static int returns_minus_eio(void *arg) {
    (void)arg;
    int r = weft_sleep(1);
    return r ? r : -EIO;
}

static int task_future_main(void *arg) {
    (void)arg;
    reset_cbs();
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, returns_minus_eio, NULL, NULL));
    weft_future_t *f = weft_task_future(t);
    ck_assert_ptr_eq(weft_future_loop(f), weft_loop_current());
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    logcap_start();
    ck_assert_err(weft_future_set_result(f, NULL), -EINVAL);
    ck_assert_err(weft_future_set_error(f, -EPIPE), -EINVAL);
    ck_assert_int_eq(logcap.n, 2);
    logcap_stop();
    /* Nor from another thread: refused at once, nothing is queued. */
    ck_assert_err(weft_future_set_result_threadsafe(f, NULL), -EINVAL);
    ck_assert(!weft_future_done(f));
    weft_future_ref(f);
    weft_task_release(t); /* the future's reference keeps it readable */
    ck_assert_err(weft_await(f, NULL), -EIO);
    ck_assert_ok(weft_sleep(0));
    ck_assert_int_eq(ncbs, 1);
    ck_assert_ptr_eq(cbs[0].f, f);
    ck_assert_err(cbs[0].status, -EIO);
    weft_future_release(f);
    return 0;
}

START_TEST(a_task_future_is_completed_by_its_task_only) {
    ck_assert_ok(run_virtual(task_future_main, NULL));
}
END_TEST

/* ---- set_result_threadsafe ---------------------------------------------------------- */

#define TS_N 8

struct ts_job {
    weft_future_t *f;
    intptr_t value;
    int rc;
};

static void *ts_complete(void *arg) {
    struct ts_job *j = arg;
    /* The thread was handed a reference of its own (taken on the loop
     * thread); the call consumes it. */
    j->rc = weft_future_set_result_threadsafe(j->f, (void *)j->value);
    return NULL;
}

static int threadsafe_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct ts_job jobs[TS_N];
    weft_future_t *fs[TS_N];
    pthread_t th[TS_N];
    for (int i = 0; i < TS_N; i++) {
        ck_assert_ok(weft_future_new(loop, &fs[i]));
        jobs[i] = (struct ts_job){weft_future_ref(fs[i]), 1000 + i, 1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, ts_complete, &jobs[i]),
                         0);
    }
    /* Await them in reverse: the loop sleeps in the poller until each
     * thread's completion wakes it. */
    for (int i = TS_N - 1; i >= 0; i--) {
        void *v = NULL;
        ck_assert_ok(weft_await(fs[i], &v));
        ck_assert_int_eq((intptr_t)v, 1000 + i);
    }
    for (int i = 0; i < TS_N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_ok(jobs[i].rc);
        weft_future_release(fs[i]);
    }
    return 0;
}

START_TEST(set_result_threadsafe_from_other_threads) {
    ck_assert_ok(run_virtual(threadsafe_main, NULL));
}
END_TEST

START_TEST(set_result_threadsafe_on_a_cancelled_future) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    struct ts_job j = {weft_future_ref(f), 5, 1};
    ck_assert_ok(weft_future_cancel(f));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, ts_complete, &j), 0);
    pthread_join(th, NULL);
    ck_assert_ok(j.rc);
    logcap_start();
    run_ready_now(loop); /* runs the queued completion: a no-op */
    ck_assert_int_eq(logcap.n, 0);
    logcap_stop();
    ck_assert(weft_future_cancelled(f));
    weft_future_release(f); /* the last reference: freed (ASan checks) */
    weft_loop_free(loop);
}
END_TEST

/* A completion from another thread that arrives only as the loop closes:
 * it still happens (the close runs the calls queued before it), and the
 * done-callback it schedules is dropped with its reference released. */
START_TEST(set_result_threadsafe_lands_while_the_loop_closes) {
    weft_loop_t *loop = new_loop();
    reset_cbs();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_add_done_callback(f, cb_a, (void *)1));
    struct ts_job j = {weft_future_ref(f), 42, 1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, ts_complete, &j), 0);
    pthread_join(th, NULL);
    ck_assert_ok(j.rc);
    ck_assert(!weft_future_done(f));
    logcap_start();
    ck_assert_ok(weft_loop_close(loop));
    void *v = NULL;
    ck_assert_ok(weft_future_result(f, &v));
    ck_assert_int_eq((intptr_t)v, 42);
    ck_assert_int_eq(ncbs, 0);
    weft_future_release(f);
    weft_loop_free(loop);
    ck_assert_msg(logcap.n == 0, "logged: %s", logcap.last);
    logcap_stop();
}
END_TEST

/* ---- run_until_complete ---------------------------------------------------------------- */

static void set_error_cb(void *arg) {
    weft_future_set_error(arg, -ENOSPC);
}

static int returns_17_after_a_while(void *arg) {
    (void)arg;
    int r = weft_sleep(4);
    return r ? r : 17;
}

START_TEST(run_until_complete_futures_and_tasks) {
    weft_loop_t *loop = new_loop();
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_call_later(loop, 2.0, set_error_cb, f, NULL));
    ck_assert_err(weft_loop_run_until_complete(loop, f), -ENOSPC);
    ck_assert_double_eq_tol(weft_loop_time(loop), 2.0, 1e-9);
    /* Already done: returns at once, with the same status. */
    ck_assert_err(weft_loop_run_until_complete(loop, f), -ENOSPC);
    ck_assert_double_eq_tol(weft_loop_time(loop), 2.0, 1e-9);
    weft_future_release(f);

    weft_task_t *t;
    ck_assert_ok(weft_loop_spawn(loop, &t, returns_17_after_a_while, NULL,
                                 NULL));
    ck_assert_int_eq(weft_loop_run_until_complete(loop, weft_task_future(t)),
                     17);
    ck_assert_double_eq_tol(weft_loop_time(loop), 6.0, 1e-9);
    ck_assert_int_eq(weft_task_result(t), 17);
    weft_task_release(t);

    weft_loop_t *other = new_loop();
    weft_future_t *g;
    ck_assert_ok(weft_future_new(other, &g));
    ck_assert_err(weft_loop_run_until_complete(loop, g), -EINVAL);
    ck_assert_err(weft_loop_run_until_complete(loop, NULL), -EINVAL);
    weft_future_release(g);
    weft_loop_free(other);
    weft_loop_free(loop);
}
END_TEST

/* ---- weft_shield (issue 16 item 13) ------------------------------------------- */

struct shielded_work {
    int cleaned;
};

static int slow_work(void *arg) {
    struct shielded_work *w = arg;
    int r = weft_sleep(3);
    w->cleaned = r == 0;
    return r ? r : 42;
}

struct shield_waiter {
    weft_future_t *shield;
    int rc;
};

static int await_shield(void *arg) {
    struct shield_waiter *w = arg;
    w->rc = weft_await(w->shield, NULL);
    return 0;
}

static int shield_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct shielded_work work = {0};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, slow_work, &work, NULL));

    /* wait_for(shield(task), 1): the timeout cancels the shield only. */
    weft_future_t *sh;
    ck_assert_ok(weft_shield(weft_task_future(t), &sh));
    ck_assert_err(weft_wait_for(sh, 1, NULL), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert(weft_future_cancelled(sh));
    ck_assert(!weft_task_done(t));
    weft_future_release(sh);

    /* await shield(task) in a task that is cancelled: the same. */
    struct shield_waiter w = {.rc = 1};
    ck_assert_ok(weft_shield(weft_task_future(t), &w.shield));
    weft_task_t *wt;
    ck_assert_ok(weft_spawn(&wt, await_shield, &w, NULL));
    ck_assert_ok(weft_sleep(0.5));
    ck_assert_ok(weft_task_cancel(wt));
    ck_assert_ok(weft_join(wt));
    weft_task_release(wt);
    ck_assert_err(w.rc, -ECANCELED);
    ck_assert_time(1.5);
    ck_assert(!weft_task_done(t));

    /* A shield awaited to the end has the task's outcome. */
    weft_future_t *sh2;
    ck_assert_ok(weft_shield(weft_task_future(t), &sh2));
    ck_assert_int_eq(weft_await(sh2, NULL), 42);
    ck_assert_time(3.0);
    ck_assert_int_eq(work.cleaned, 1);
    ck_assert_int_eq(weft_task_result(t), 42);
    /* Its outcome is not for anyone but the inner future to set. */
    logcap_start();
    ck_assert_err(weft_future_set_result(sh2, NULL), -EINVAL);
    ck_assert_int_eq(logcap.n, 1);
    logcap_stop();
    weft_future_release(sh2);
    weft_future_release(w.shield); /* cancelled long ago */
    weft_task_release(t);

    /* A plain future, done already: the shield is done at once, with the
     * value; a failure travels as well. */
    weft_future_t *f, *sf;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_future_set_result(f, (void *)0xabc));
    ck_assert_ok(weft_shield(f, &sf));
    void *v = NULL;
    ck_assert_ok(weft_future_result(sf, &v));
    ck_assert_ptr_eq(v, (void *)0xabc);
    weft_future_release(sf);
    weft_future_release(f);
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_shield(f, &sf));
    ck_assert_ok(weft_future_set_error(f, -EIO));
    ck_assert_err(weft_await(sf, NULL), -EIO);
    weft_future_release(sf);
    /* A shield released before its future completes leaves nothing. */
    weft_future_release(f);
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_shield(f, &sf));
    weft_future_release(sf);
    ck_assert_ok(weft_future_set_result(f, NULL));
    ck_assert_err(weft_shield(NULL, &sf), -EINVAL);
    ck_assert_err(weft_shield(f, NULL), -EINVAL);
    weft_future_release(f);
    return 0;
}

START_TEST(a_shield_cancelled_leaves_its_future_running) {
    ck_assert_ok(run_virtual(shield_main, NULL));
}
END_TEST

static Suite *future_suite(void) {
    Suite *s = suite_create("future");
    TCase *tc = tcase_create("state");
    tcase_add_test(tc, new_future_is_pending_and_refcounted);
    tcase_add_test(tc, new_future_bad_arguments);
    tcase_add_test(tc, set_result_and_set_error);
    tcase_add_test(tc, double_completion_is_refused_and_logged);
    tcase_add_test(tc, completing_a_cancelled_future_says_ecanceled);
    suite_add_tcase(s, tc);
    TCase *cb = tcase_create("callbacks");
    tcase_add_test(cb, done_callbacks_run_soon_in_order_with_the_future);
    tcase_add_test(cb, done_callbacks_see_errors_and_cancellation);
    tcase_add_test(cb, callbacks_keep_the_future_alive);
    tcase_add_test(cb, remove_done_callback_counts_and_keeps_order);
    tcase_add_test(cb, remove_every_callback_then_add_again);
    tcase_add_test(cb, close_drops_scheduled_callbacks_and_their_references);
    suite_add_tcase(s, cb);
    TCase *aw = tcase_create("await");
    tcase_add_test(aw, await_returns_the_value_once_done);
    tcase_add_test(aw, every_awaiter_is_woken_with_the_value);
    tcase_add_test(aw, await_survives_the_last_user_reference_going);
    tcase_add_test(aw, await_outside_a_task_is_eperm_and_logged);
    tcase_add_test(aw, await_misuse_another_loop_null_self);
    tcase_add_test(aw, cancelling_the_awaiter_cancels_the_future);
    tcase_add_test(aw, cancelling_a_task_future_cancels_the_task);
    tcase_add_test(aw, a_task_future_is_completed_by_its_task_only);
    tcase_add_test(aw, run_until_complete_futures_and_tasks);
    tcase_add_test(aw, a_shield_cancelled_leaves_its_future_running);
    suite_add_tcase(s, aw);
    TCase *th = tcase_create("threads");
    tcase_set_timeout(th, 30);
    tcase_add_test(th, set_result_threadsafe_from_other_threads);
    tcase_add_test(th, set_result_threadsafe_on_a_cancelled_future);
    tcase_add_test(th, set_result_threadsafe_lands_while_the_loop_closes);
    suite_add_tcase(s, th);
    return s;
}

WEFT_TEST_MAIN(future_suite)
