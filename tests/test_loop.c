/* The loop: call_soon/call_later/call_at, cancellation, order, stop, run,
 * call_soon_threadsafe, the virtual clock, and misuse. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "support.h"

static weft_loop_t *new_loop(unsigned flags) {
    weft_loop_t *loop;
    weft_loop_opts_t o = {.flags = flags};
    ck_assert_ok(weft_loop_new(&loop, &o));
    return loop;
}

/* ---- a log of what ran --------------------------------------------------- */
static int trace[10000];
static int ntrace;

static void record(void *arg) {
    trace[ntrace++] = (int)(intptr_t)arg;
}

static void stop_cb(void *arg) {
    weft_loop_stop(arg);
}

static void reset_trace(void) {
    ntrace = 0;
}

START_TEST(call_soon_runs_in_fifo_order) {
    weft_loop_t *loop = new_loop(0);
    reset_trace();
    for (int i = 0; i < 100; i++)
        ck_assert_ok(weft_call_soon(loop, record, (void *)(intptr_t)i, NULL));
    ck_assert_ok(weft_call_soon(loop, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(trace[i], i);
    weft_loop_free(loop);
}
END_TEST

START_TEST(call_later_orders_by_time_then_fifo) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    reset_trace();
    /* Scheduled out of order; equal delays keep their order. */
    ck_assert_ok(weft_call_later(loop, 0.3, record, (void *)3, NULL));
    ck_assert_ok(weft_call_later(loop, 0.1, record, (void *)1, NULL));
    ck_assert_ok(weft_call_later(loop, 0.2, record, (void *)20, NULL));
    ck_assert_ok(weft_call_later(loop, 0.2, record, (void *)21, NULL));
    ck_assert_ok(weft_call_later(loop, 0.2, record, (void *)22, NULL));
    ck_assert_ok(weft_call_later(loop, 0.0, record, (void *)0, NULL));
    ck_assert_ok(weft_call_later(loop, -5, record, (void *)-1, NULL));
    ck_assert_ok(weft_call_later(loop, 0.4, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    int want[] = {0, -1, 1, 20, 21, 22, 3};
    ck_assert_int_eq(ntrace, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_int_eq(trace[i], want[i]);
    ck_assert_double_eq_tol(weft_loop_time(loop), 0.4, 1e-9);
    weft_loop_free(loop);
}
END_TEST

START_TEST(call_at_uses_loop_time) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    reset_trace();
    ck_assert_double_eq(weft_loop_time(loop), 0.0);
    ck_assert_ok(weft_call_at(loop, 5.0, record, (void *)5, NULL));
    ck_assert_ok(weft_call_at(loop, 2.5, record, (void *)2, NULL));
    ck_assert_ok(weft_call_at(loop, 5.0, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 2);
    ck_assert_int_eq(trace[0], 2);
    ck_assert_int_eq(trace[1], 5);
    ck_assert_uint_eq(weft_loop_time_ns(loop), 5000000000u);
    weft_loop_free(loop);
}
END_TEST

START_TEST(handles_cancel_once_and_go_stale) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    reset_trace();
    weft_handle_t soon, later, ran;
    ck_assert_ok(weft_call_soon(loop, record, (void *)1, &soon));
    ck_assert_ok(weft_call_later(loop, 1.0, record, (void *)2, &later));
    ck_assert_ok(weft_call_soon(loop, record, (void *)3, &ran));
    ck_assert(soon.id != 0 && later.id != 0 && soon.id != later.id);
    ck_assert_ok(weft_handle_cancel(loop, soon));
    ck_assert_err(weft_handle_cancel(loop, soon), -ENOENT);
    ck_assert_ok(weft_handle_cancel(loop, later));
    ck_assert_err(weft_handle_cancel(loop, later), -ENOENT);
    weft_handle_t zero = {0};
    ck_assert_err(weft_handle_cancel(loop, zero), -ENOENT);
    weft_handle_t bogus = {UINT64_C(0x7fffffff00ffffff)};
    ck_assert_err(weft_handle_cancel(loop, bogus), -ENOENT);
    ck_assert_ok(weft_call_later(loop, 2.0, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 1);
    ck_assert_int_eq(trace[0], 3);
    /* A handle whose callback ran is stale, even once its record is reused
     * by a new call. */
    ck_assert_err(weft_handle_cancel(loop, ran), -ENOENT);
    weft_handle_t fresh;
    ck_assert_ok(weft_call_soon(loop, record, (void *)4, &fresh));
    ck_assert_err(weft_handle_cancel(loop, ran), -ENOENT);
    ck_assert_ok(weft_handle_cancel(loop, fresh));
    weft_loop_free(loop);
}
END_TEST

/* A callback that cancels a later one due in the same iteration. */
static weft_handle_t victim;
static void cancel_victim(void *arg) {
    ck_assert_ok(weft_handle_cancel(arg, victim));
}

START_TEST(cancel_from_a_callback_of_the_same_batch) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    reset_trace();
    ck_assert_ok(weft_call_later(loop, 1.0, cancel_victim, loop, NULL));
    ck_assert_ok(weft_call_later(loop, 1.0, record, (void *)9, &victim));
    ck_assert_ok(weft_call_later(loop, 1.0, record, (void *)10, NULL));
    ck_assert_ok(weft_call_later(loop, 1.0, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 1);
    ck_assert_int_eq(trace[0], 10);
    weft_loop_free(loop);
}
END_TEST

/* ---- many timers, half cancelled --------------------------------------------- */
struct tm_rec {
    double when;
    weft_handle_t h;
    int fired;
    int cancelled;
};
static struct tm_rec tms[5000];
static double last_when;
static int order_ok;

static void tm_fire(void *arg) {
    struct tm_rec *r = arg;
    weft_loop_t *loop = weft_loop_current();
    r->fired++;
    if (r->when < last_when || weft_loop_time(loop) + 1e-9 < r->when)
        order_ok = 0;
    last_when = r->when;
}

START_TEST(thousands_of_timers_fire_in_order_cancelled_never) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    srand(42);
    order_ok = 1;
    last_when = 0;
    int n = (int)(sizeof tms / sizeof tms[0]);
    for (int i = 0; i < n; i++) {
        tms[i] = (struct tm_rec){.when = (rand() % 100000) / 1000.0};
        ck_assert_ok(weft_call_at(loop, tms[i].when, tm_fire, &tms[i],
                                  &tms[i].h));
    }
    for (int i = 0; i < n; i++) {
        if (rand() % 2) {
            ck_assert_ok(weft_handle_cancel(loop, tms[i].h));
            tms[i].cancelled = 1;
        }
    }
    ck_assert_ok(weft_call_at(loop, 200.0, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert(order_ok);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(tms[i].fired, !tms[i].cancelled);
    weft_loop_free(loop);
}
END_TEST

/* ---- stop ---------------------------------------------------------------------- */
static void stop_and_schedule(void *arg) {
    weft_loop_t *loop = arg;
    record((void *)100);
    weft_loop_stop(loop);
    /* Scheduled after stop(): must not run in this run. */
    weft_call_soon(loop, record, (void *)200, NULL);
}

START_TEST(stop_runs_the_rest_of_the_batch_only) {
    weft_loop_t *loop = new_loop(0);
    reset_trace();
    ck_assert_ok(weft_call_soon(loop, record, (void *)1, NULL));
    ck_assert_ok(weft_call_soon(loop, stop_and_schedule, loop, NULL));
    ck_assert_ok(weft_call_soon(loop, record, (void *)2, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 3);
    ck_assert_int_eq(trace[0], 1);
    ck_assert_int_eq(trace[1], 100);
    ck_assert_int_eq(trace[2], 2);
    /* The next run picks up what was scheduled after stop(). */
    ck_assert_ok(weft_call_soon(loop, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 4);
    ck_assert_int_eq(trace[3], 200);
    weft_loop_free(loop);
}
END_TEST

START_TEST(stop_before_run_does_one_iteration) {
    weft_loop_t *loop = new_loop(0);
    reset_trace();
    ck_assert_ok(weft_call_soon(loop, record, (void *)7, NULL));
    ck_assert_ok(weft_loop_stop(loop));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 1);
    ck_assert(!weft_loop_is_running(loop));
    weft_loop_free(loop);
}
END_TEST

/* ---- run_until_complete ---------------------------------------------------------------- */
static void complete_it(void *arg) {
    ck_assert_ok(weft_future_set_result(arg, (void *)0x1234));
}

START_TEST(run_until_complete_returns_the_result) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_call_later(loop, 3.0, complete_it, f, NULL));
    ck_assert_ok(weft_loop_run_until_complete(loop, f));
    void *v;
    ck_assert_ok(weft_future_result(f, &v));
    ck_assert_ptr_eq(v, (void *)0x1234);
    ck_assert_double_eq_tol(weft_loop_time(loop), 3.0, 1e-9);
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

START_TEST(run_until_complete_reports_a_stop_first) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    weft_future_t *f;
    ck_assert_ok(weft_future_new(loop, &f));
    ck_assert_ok(weft_call_later(loop, 1.0, stop_cb, loop, NULL));
    ck_assert_err(weft_loop_run_until_complete(loop, f), -EINTR);
    ck_assert(!weft_future_done(f));
    weft_future_release(f);
    weft_loop_free(loop);
}
END_TEST

/* ---- misuse ------------------------------------------------------------------------------ */
static int nested_result;
static void run_nested(void *arg) {
    nested_result = weft_loop_run_forever(arg);
    weft_loop_stop(arg);
}

START_TEST(running_a_loop_inside_its_callback_is_reported) {
    weft_loop_t *loop = new_loop(0);
    logcap_start();
    ck_assert_ok(weft_call_soon(loop, run_nested, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    logcap_stop();
    ck_assert_err(nested_result, -EBUSY);
    ck_assert_logged(1, "already running a loop");
    ck_assert_err(weft_loop_close(loop), 0);
    weft_loop_free(loop);
}
END_TEST

static void close_while_running(void *arg) {
    nested_result = weft_loop_close(arg);
    weft_loop_stop(arg);
}

START_TEST(closing_a_running_loop_is_refused) {
    weft_loop_t *loop = new_loop(0);
    logcap_start();
    ck_assert_ok(weft_call_soon(loop, close_while_running, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    logcap_stop();
    ck_assert_err(nested_result, -EBUSY);
    ck_assert(!weft_loop_is_closed(loop));
    weft_loop_free(loop);
}
END_TEST

struct foreign {
    weft_loop_t *loop;
    int soon, later, run, stop, ts;
};

static void *foreign_thread(void *arg) {
    struct foreign *f = arg;
    f->soon = weft_call_soon(f->loop, record, NULL, NULL);
    f->later = weft_call_later(f->loop, 1, record, NULL, NULL);
    f->run = weft_loop_run_forever(f->loop);
    f->stop = weft_loop_stop(f->loop);
    f->ts = weft_call_soon_threadsafe(f->loop, record, (void *)77);
    return NULL;
}

START_TEST(a_foreign_thread_is_refused_and_reported) {
    struct foreign f = {.loop = new_loop(0)};
    reset_trace();
    logcap_start();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    pthread_join(th, NULL);
    logcap_stop();
    ck_assert_err(f.soon, -EPERM);
    ck_assert_err(f.later, -EPERM);
    ck_assert_err(f.run, -EPERM);
    ck_assert_err(f.stop, -EPERM);
    ck_assert_ok(f.ts); /* the one call made for other threads */
    ck_assert_logged(4, "does not own it");
    ck_assert_ok(weft_call_soon(f.loop, stop_cb, f.loop, NULL));
    ck_assert_ok(weft_loop_run_forever(f.loop));
    ck_assert_int_eq(ntrace, 1);
    ck_assert_int_eq(trace[0], 77);
    weft_loop_free(f.loop);
}
END_TEST

START_TEST(bad_arguments_get_clear_errors) {
    weft_loop_t *loop = new_loop(0);
    weft_handle_t h = {42};
    ck_assert_err(weft_call_soon(loop, NULL, NULL, &h), -EINVAL);
    ck_assert_uint_eq(h.id, 0);
    ck_assert_err(weft_call_soon(NULL, record, NULL, NULL), -EINVAL);
    ck_assert_err(weft_call_later(loop, NAN, record, NULL, NULL), -EINVAL);
    ck_assert_err(weft_call_later(loop, INFINITY, record, NULL, NULL),
                  -EINVAL);
    ck_assert_err(weft_call_at(loop, NAN, record, NULL, NULL), -EINVAL);
    ck_assert_err(weft_call_soon_threadsafe(loop, NULL, NULL), -EINVAL);
    ck_assert_err(weft_call_soon_threadsafe(NULL, record, NULL), -EINVAL);
    ck_assert_err(weft_loop_advance(loop, 1.0), -EINVAL); /* real clock */
    weft_loop_opts_t bad = {.flags = 0x80};
    weft_loop_t *l2;
    ck_assert_err(weft_loop_new(&l2, &bad), -EINVAL);
    ck_assert_err(weft_loop_new(NULL, NULL), -EINVAL);
    weft_loop_opts_t tiny = {.stack_size = 10};
    ck_assert_err(weft_loop_new(&l2, &tiny), -EINVAL);
    weft_loop_free(NULL);
    weft_loop_free(loop);
}
END_TEST

/* Issue 16 item 16: a value >= 0 is a result, not an error. */
START_TEST(a_result_is_not_named_as_an_error) {
    ck_assert_str_eq(weft_err_name(12), "OK");
    ck_assert_str_eq(weft_err_name(0), "OK");
    ck_assert_str_eq(weft_err_name(3004), "OK");
    ck_assert_str_eq(weft_err_name(-ENOMEM), "ENOMEM");
    ck_assert_str_eq(weft_err_name(-ETIMEDOUT), "ETIMEDOUT");
    ck_assert_str_eq(weft_err_name(-100000), "EUNKNOWN");
}
END_TEST

START_TEST(a_closed_loop_refuses_new_work) {
    weft_loop_t *loop = new_loop(0);
    reset_trace();
    ck_assert_ok(weft_call_soon(loop, record, (void *)1, NULL));
    ck_assert_ok(weft_loop_close(loop));
    ck_assert(weft_loop_is_closed(loop));
    ck_assert_ok(weft_loop_close(loop)); /* twice is harmless */
    ck_assert_err(weft_call_soon(loop, record, NULL, NULL), -ESHUTDOWN);
    ck_assert_err(weft_call_later(loop, 1, record, NULL, NULL), -ESHUTDOWN);
    ck_assert_err(weft_call_soon_threadsafe(loop, record, NULL), -ESHUTDOWN);
    ck_assert_err(weft_loop_run_forever(loop), -ESHUTDOWN);
    ck_assert_int_eq(ntrace, 0); /* pending callbacks are dropped */
    weft_loop_free(loop);
}
END_TEST

/* ---- time ------------------------------------------------------------------------------------ */
static double seen[2];
static void look_at_time(void *arg) {
    weft_loop_t *loop = arg;
    seen[0] = weft_loop_time(loop);
    volatile double x = 0;
    for (int i = 0; i < 2000000; i++)
        x += i;
    (void)x;
    seen[1] = weft_loop_time(loop); /* cached: the same within a callback */
    weft_loop_update_time(loop);
    if (weft_loop_time(loop) <= seen[1])
        seen[1] = -1; /* an update must move the clock on after work */
    weft_loop_stop(loop);
}

START_TEST(time_is_monotonic_and_cached_per_iteration) {
    weft_loop_t *loop = new_loop(0);
    double t0 = weft_loop_time(loop);
    ck_assert(t0 > 0);
    ck_assert_ok(weft_call_soon(loop, look_at_time, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert(seen[0] >= t0);
    ck_assert(seen[1] == seen[0]);
    weft_loop_free(loop);
}
END_TEST

START_TEST(virtual_clock_jumps_and_advances) {
    weft_loop_t *loop = new_loop(WEFT_LOOP_VIRTUAL_CLOCK);
    reset_trace();
    ck_assert_ok(weft_call_later(loop, 86400.0, record, (void *)1, NULL));
    ck_assert_ok(weft_call_later(loop, 86400.0, stop_cb, loop, NULL));
    ck_assert_ok(weft_loop_run_forever(loop));
    ck_assert_int_eq(ntrace, 1);
    ck_assert_double_eq_tol(weft_loop_time(loop), 86400.0, 1e-6);
    ck_assert_ok(weft_loop_advance(loop, 10.0));
    ck_assert_double_eq_tol(weft_loop_time(loop), 86410.0, 1e-6);
    ck_assert_err(weft_loop_advance(loop, -1.0), -EINVAL);
    ck_assert_err(weft_loop_advance(loop, NAN), -EINVAL);
    weft_loop_free(loop);
}
END_TEST

/* ---- call_soon_threadsafe -------------------------------------------------------------------- */
#define TS_THREADS 8
#define TS_CALLS 20000

struct ts_ctx {
    weft_loop_t *loop;
    int total;
    int last[TS_THREADS];
    int in_order;
};
static struct ts_ctx tsc;

struct ts_arg {
    int thread;
};

static void ts_call(void *arg) {
    uintptr_t v = (uintptr_t)arg;
    int th = (int)(v >> 24), seq = (int)(v & 0xffffff);
    if (seq != tsc.last[th] + 1)
        tsc.in_order = 0;
    tsc.last[th] = seq;
    if (++tsc.total == TS_THREADS * TS_CALLS)
        weft_loop_stop(tsc.loop);
}

static void *ts_thread(void *arg) {
    struct ts_arg *a = arg;
    for (int i = 1; i <= TS_CALLS; i++) {
        uintptr_t v = ((uintptr_t)a->thread << 24) | (uintptr_t)i;
        if (weft_call_soon_threadsafe(tsc.loop, ts_call, (void *)v) != 0)
            abort();
    }
    return NULL;
}

START_TEST(threadsafe_calls_from_8_threads_are_never_lost) {
    memset(&tsc, 0, sizeof tsc);
    tsc.loop = new_loop(0);
    tsc.in_order = 1;
    pthread_t th[TS_THREADS];
    struct ts_arg args[TS_THREADS];
    for (int i = 0; i < TS_THREADS; i++) {
        args[i].thread = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, ts_thread, &args[i]),
                         0);
    }
    /* The loop has nothing else to do: it sleeps in epoll and must be
     * woken by the calls. */
    ck_assert_ok(weft_loop_run_forever(tsc.loop));
    for (int i = 0; i < TS_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(tsc.total, TS_THREADS * TS_CALLS);
    ck_assert(tsc.in_order);
    for (int i = 0; i < TS_THREADS; i++)
        ck_assert_int_eq(tsc.last[i], TS_CALLS);
    weft_loop_free(tsc.loop);
}
END_TEST

static void *late_stopper(void *arg) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    weft_call_soon_threadsafe(arg, stop_cb, arg);
    return NULL;
}

START_TEST(threadsafe_call_wakes_an_idle_loop) {
    weft_loop_t *loop = new_loop(0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, late_stopper, loop), 0);
    ck_assert_ok(weft_loop_run_forever(loop)); /* returns only if woken */
    pthread_join(th, NULL);
    weft_loop_free(loop);
}
END_TEST

/* core.h: weft_replace_allocator's hooks are only called on threads that
 * own a loop (and by the calls made there), never on threads that merely
 * post to one: there calls queue in memory of the C library's own. */
#define POSTERS 4
#define POSTS 1000

static int posted_ran;

static void posted(void *arg) {
    (void)arg;
    posted_ran++;
}

static void *poster(void *arg) {
    /* The loop is not running: the queue grows on this thread. */
    for (int i = 0; i < POSTS; i++)
        if (weft_call_soon_threadsafe(arg, posted, NULL) != 0)
            abort();
    return NULL;
}

START_TEST(posting_threads_never_call_the_allocator_hooks) {
    int r = hooks_install();
    ck_assert(r == 0 || r == -EBUSY);
    if (r == -EBUSY)
        return; /* CK_FORK=no: weft already allocated in this process */
    weft_loop_t *loop = new_loop(0);
    pthread_t th[POSTERS];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < POSTERS; i++)
            ck_assert_int_eq(pthread_create(&th[i], NULL, poster, loop), 0);
        for (int i = 0; i < POSTERS; i++)
            pthread_join(th[i], NULL);
        ck_assert_ok(weft_call_soon(loop, stop_cb, loop, NULL));
        ck_assert_ok(weft_loop_run_forever(loop));
        ck_assert_int_eq(posted_ran, (round + 1) * POSTERS * POSTS);
    }
    /* Queued, never drained by a run: the close runs them. */
    ck_assert_int_eq(pthread_create(&th[0], NULL, poster, loop), 0);
    pthread_join(th[0], NULL);
    weft_loop_free(loop);
    ck_assert_int_eq(posted_ran, (2 * POSTERS + 1) * POSTS);
    int foreign = atomic_load(&hooks_foreign);
    ck_assert_int_eq(foreign, 0);
}
END_TEST

static Suite *loop_suite(void) {
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("callbacks");
    tcase_add_test(tc, call_soon_runs_in_fifo_order);
    tcase_add_test(tc, call_later_orders_by_time_then_fifo);
    tcase_add_test(tc, call_at_uses_loop_time);
    tcase_add_test(tc, handles_cancel_once_and_go_stale);
    tcase_add_test(tc, cancel_from_a_callback_of_the_same_batch);
    tcase_add_test(tc, thousands_of_timers_fire_in_order_cancelled_never);
    tcase_add_test(tc, stop_runs_the_rest_of_the_batch_only);
    tcase_add_test(tc, stop_before_run_does_one_iteration);
    tcase_add_test(tc, run_until_complete_returns_the_result);
    tcase_add_test(tc, run_until_complete_reports_a_stop_first);
    tcase_add_test(tc, time_is_monotonic_and_cached_per_iteration);
    tcase_add_test(tc, virtual_clock_jumps_and_advances);
    suite_add_tcase(s, tc);
    TCase *mis = tcase_create("misuse");
    tcase_add_test(mis, a_result_is_not_named_as_an_error);
    tcase_add_test(mis, running_a_loop_inside_its_callback_is_reported);
    tcase_add_test(mis, closing_a_running_loop_is_refused);
    tcase_add_test(mis, a_foreign_thread_is_refused_and_reported);
    tcase_add_test(mis, bad_arguments_get_clear_errors);
    tcase_add_test(mis, a_closed_loop_refuses_new_work);
    suite_add_tcase(s, mis);
    TCase *th = tcase_create("threads");
    tcase_set_timeout(th, 30);
    tcase_add_test(th, threadsafe_calls_from_8_threads_are_never_lost);
    tcase_add_test(th, threadsafe_call_wakes_an_idle_loop);
    tcase_add_test(th, posting_threads_never_call_the_allocator_hooks);
    suite_add_tcase(s, th);
    return s;
}

WEFT_TEST_MAIN(loop_suite)
