/* The executor: pools, weft_pool_submit from many threads, shutdown with
 * and without queued work, run_in_executor and to_thread from tasks,
 * cancellation before and after a job started, deadlines, the default
 * pool, pools shared by several loops, and the loop's close.
 *
 * Jobs that must stay running while the test looks wait on a gate the test
 * opens; nothing here sleeps for a while and hopes, and nothing asserts a
 * time. Labelled `threads`: the suite runs under ThreadSanitizer too. */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "support.h"

/* Loads scale down under valgrind (threads run one at a time there) and
 * ThreadSanitizer. */
static int scale(int n) {
    const char *vg = getenv("WEFT_TEST_VALGRIND");
    if (vg && strcmp(vg, "1") == 0)
        return n / 20 > 0 ? n / 20 : 1;
#if defined(__SANITIZE_THREAD__)
    return n / 4 > 0 ? n / 4 : 1;
#else
    return n;
#endif
}

/* ---- a gate: a job waits until the test opens it --------------------------- */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
    int arrived; /* how many reached gate_wait */
};

static void gate_init(struct gate *g) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = 0;
    g->arrived = 0;
}

static void gate_destroy(struct gate *g) {
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static void gate_open(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Block until n jobs are waiting at the gate. */
static void gate_await_arrivals(struct gate *g, int n) {
    pthread_mutex_lock(&g->mu);
    while (g->arrived < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

/* Wait at the gate until it opens or the job is cancelled; returns
 * -ECANCELED in the latter case. Polls weft_job_cancelled(). */
static int gate_wait_or_cancel(struct gate *g) {
    pthread_mutex_lock(&g->mu);
    g->arrived++;
    pthread_cond_broadcast(&g->cv);
    int r = 0;
    while (!g->open) {
        if (weft_job_cancelled()) {
            r = -ECANCELED;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

/* Threads of this process whose name starts with `prefix`. */
static int count_threads(const char *prefix) {
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* gone meanwhile */
        if (fgets(name, sizeof name, f) &&
            strncmp(name, prefix, strlen(prefix)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* After pthread_join() a thread may still be listed for a moment: the
 * kernel wakes the joiner before it unlists the thread. So look again a
 * few times (this asserts that they go, not how fast). */
static int threads_left(const char *prefix) {
    int n = count_threads(prefix);
    for (int i = 0; n > 0 && i < 2000; i++) {
        usleep(1000);
        n = count_threads(prefix);
    }
    return n;
}

/* Workers name themselves when they start: give a new one a moment. */
static int threads_named(const char *prefix) {
    int n = count_threads(prefix);
    for (int i = 0; n == 0 && i < 2000; i++) {
        usleep(1000);
        n = count_threads(prefix);
    }
    return n;
}

static unsigned affinity_cpus(void) {
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    return (unsigned)CPU_COUNT(&set);
}

static weft_pool_t *new_pool(unsigned threads, size_t max_queued,
                             const char *name) {
    weft_pool_t *p;
    weft_pool_opts_t o = {threads, max_queued, name};
    ck_assert_ok(weft_pool_new(&p, &o));
    return p;
}

/* ---- simple job functions -------------------------------------------------------- */

/* value = arg + 1, status 7 */
static int add_one(void *arg, void **value) {
    *value = (void *)((intptr_t)arg + 1);
    return 7;
}

static int fail_eio(void *arg, void **value) {
    (void)arg;
    *value = (void *)0x1; /* ignored for errors */
    return -EIO;
}

static int nothing(void *arg, void **value) {
    (void)arg;
    (void)value;
    return 0;
}

/* ---- pools on their own ------------------------------------------------------------ */

START_TEST(pool_new_checks_options_and_sizes_by_cpus) {
    weft_pool_t *p = (weft_pool_t *)0x1;
    ck_assert_err(weft_pool_new(NULL, NULL), -EINVAL);
    weft_pool_opts_t big = {WEFT_POOL_MAX_THREADS + 1, 0, NULL};
    ck_assert_err(weft_pool_new(&p, &big), -EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_ok(weft_pool_new(&p, NULL));
    ck_assert_uint_eq(weft_pool_size(p), affinity_cpus());
    weft_pool_free(p);
    p = new_pool(3, 0, NULL);
    ck_assert_uint_eq(weft_pool_size(p), 3);
    weft_pool_free(p);
    weft_pool_free(NULL);
    ck_assert(!weft_job_cancelled()); /* not in a job */
}
END_TEST

struct rec {
    atomic_int ran;       /* fn calls */
    atomic_int done;      /* done calls */
    int status;
    void *value;
    pthread_t done_thread;
    struct gate *gate;
    int order;            /* when fn ran, from a shared counter */
};

static atomic_int order_counter;

static int rec_fn(void *arg, void **value) {
    struct rec *r = arg;
    r->order = atomic_fetch_add(&order_counter, 1);
    atomic_fetch_add(&r->ran, 1);
    if (r->gate)
        return gate_wait_or_cancel(r->gate);
    *value = r;
    return 3;
}

static void rec_done(void *arg, int status, void *value) {
    struct rec *r = arg;
    r->status = status;
    r->value = value;
    r->done_thread = pthread_self();
    atomic_fetch_add(&r->done, 1);
}

static void wait_done(struct rec *r, int n) {
    for (int i = 0; i < n; i++)
        while (atomic_load(&r[i].done) == 0)
            sched_yield();
}

START_TEST(submit_without_a_loop_runs_in_order_and_calls_done_once) {
    weft_pool_t *p = new_pool(1, 0, NULL);
    enum { N = 50 };
    struct rec r[N];
    memset(r, 0, sizeof r);
    atomic_store(&order_counter, 0);
    for (int i = 0; i < N; i++)
        ck_assert_ok(weft_pool_submit(p, rec_fn, &r[i], rec_done));
    ck_assert_ok(weft_pool_shutdown(p, 0)); /* queued work still runs */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(atomic_load(&r[i].ran), 1);
        ck_assert_int_eq(atomic_load(&r[i].done), 1);
        ck_assert_int_eq(r[i].status, 3);
        ck_assert_ptr_eq(r[i].value, &r[i]);
        ck_assert_int_eq(r[i].order, i); /* one thread: FIFO */
        ck_assert(!pthread_equal(r[i].done_thread, pthread_self()));
    }
    /* Shut down: refused, and neither function is called. */
    struct rec late;
    memset(&late, 0, sizeof late);
    ck_assert_err(weft_pool_submit(p, rec_fn, &late, rec_done), -ESHUTDOWN);
    ck_assert_err(weft_pool_submit(p, NULL, &late, rec_done), -EINVAL);
    ck_assert_err(weft_pool_submit(NULL, rec_fn, &late, rec_done), -EINVAL);
    ck_assert_ok(weft_pool_shutdown(p, 0)); /* twice is fine */
    ck_assert_err(weft_pool_shutdown(p, 1u << 7), -EINVAL);
    ck_assert_err(weft_pool_shutdown(NULL, 0), -EINVAL);
    weft_pool_free(p);
    ck_assert_int_eq(atomic_load(&late.ran), 0);
    ck_assert_int_eq(atomic_load(&late.done), 0);
}
END_TEST

START_TEST(max_queued_refuses_with_eagain) {
    weft_pool_t *p = new_pool(1, 2, NULL);
    struct gate g;
    gate_init(&g);
    struct rec r[4];
    memset(r, 0, sizeof r);
    r[0].gate = &g;
    ck_assert_ok(weft_pool_submit(p, rec_fn, &r[0], rec_done));
    gate_await_arrivals(&g, 1); /* running: it does not count */
    ck_assert_ok(weft_pool_submit(p, rec_fn, &r[1], rec_done));
    ck_assert_ok(weft_pool_submit(p, rec_fn, &r[2], rec_done));
    ck_assert_err(weft_pool_submit(p, rec_fn, &r[3], rec_done), -EAGAIN);
    gate_open(&g);
    weft_pool_free(p);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(atomic_load(&r[i].done), 1);
    ck_assert_int_eq(atomic_load(&r[3].ran), 0);
    ck_assert_int_eq(atomic_load(&r[3].done), 0);
    gate_destroy(&g);
}
END_TEST

START_TEST(shutdown_with_queued_work_drops_it_when_asked) {
    weft_pool_t *p = new_pool(1, 0, NULL);
    struct gate g;
    gate_init(&g);
    enum { N = 20 };
    struct rec r[N];
    memset(r, 0, sizeof r);
    r[0].gate = &g; /* never opened: it leaves when it sees the cancel */
    for (int i = 0; i < N; i++)
        ck_assert_ok(weft_pool_submit(p, rec_fn, &r[i], rec_done));
    gate_await_arrivals(&g, 1);
    ck_assert_ok(weft_pool_shutdown(p, WEFT_POOL_CANCEL_QUEUED));
    /* The running one saw weft_job_cancelled() and returned -ECANCELED. */
    ck_assert_int_eq(atomic_load(&r[0].ran), 1);
    ck_assert_int_eq(atomic_load(&r[0].done), 1);
    ck_assert_err(r[0].status, -ECANCELED);
    for (int i = 1; i < N; i++) {
        ck_assert_int_eq(atomic_load(&r[i].ran), 0);
        ck_assert_int_eq(atomic_load(&r[i].done), 1);
        ck_assert_err(r[i].status, -ECANCELED);
        ck_assert_ptr_null(r[i].value);
        /* Told on the thread that shut the pool down, before it returned. */
        ck_assert(pthread_equal(r[i].done_thread, pthread_self()));
    }
    weft_pool_free(p);
    gate_destroy(&g);
}
END_TEST

struct shutter {
    weft_pool_t *pool;
    unsigned flags;
    int rc;
};

static void *shutdown_thread(void *arg) {
    struct shutter *s = arg;
    s->rc = weft_pool_shutdown(s->pool, s->flags);
    return NULL;
}

START_TEST(shutdown_with_queued_work_waits_for_it_by_default) {
    weft_pool_t *p = new_pool(2, 0, NULL);
    struct gate g;
    gate_init(&g);
    enum { N = 30 };
    struct rec r[N];
    memset(r, 0, sizeof r);
    r[0].gate = r[1].gate = &g; /* both threads busy */
    for (int i = 0; i < N; i++)
        ck_assert_ok(weft_pool_submit(p, rec_fn, &r[i], rec_done));
    gate_await_arrivals(&g, 2);
    /* Two shutdowns at once, from two threads: both wait, both return 0. */
    struct shutter s1 = {p, 0, 1}, s2 = {p, 0, 1};
    pthread_t t1, t2;
    ck_assert_int_eq(pthread_create(&t1, NULL, shutdown_thread, &s1), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, shutdown_thread, &s2), 0);
    /* Shutting down has begun once submitting is refused. */
    struct rec extra;
    memset(&extra, 0, sizeof extra);
    int rc;
    while ((rc = weft_pool_submit(p, rec_fn, &extra, rec_done)) == 0) {
        /* Accepted before the shutdown began: it will run like the rest.
         * Wait for it, so that `extra` can be reused. */
        gate_open(&g);
        wait_done(&extra, 1);
        memset(&extra, 0, sizeof extra);
    }
    ck_assert_err(rc, -ESHUTDOWN);
    gate_open(&g);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ck_assert_ok(s1.rc);
    ck_assert_ok(s2.rc);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(atomic_load(&r[i].ran), 1);
        ck_assert_int_eq(atomic_load(&r[i].done), 1);
        ck_assert_int_eq(r[i].status, i < 2 ? 0 : 3);
    }
    weft_pool_free(p);
    gate_destroy(&g);
}
END_TEST

/* A job that calls shutdown and free on its own pool: refused. */
struct self_call {
    weft_pool_t *pool;
    int rc;
    atomic_int done;
};

static int shut_own_pool(void *arg, void **value) {
    (void)value;
    struct self_call *s = arg;
    s->rc = weft_pool_shutdown(s->pool, 0);
    weft_pool_free(s->pool); /* refused too: logged */
    return 0;
}

static void self_call_done(void *arg, int status, void *value) {
    (void)status;
    (void)value;
    atomic_store(&((struct self_call *)arg)->done, 1);
}

START_TEST(shutdown_from_its_own_job_is_edeadlk) {
    weft_pool_t *p = new_pool(1, 0, NULL);
    struct self_call s = {p, 1, 0};
    logcap_start();
    ck_assert_ok(weft_pool_submit(p, shut_own_pool, &s, self_call_done));
    while (atomic_load(&s.done) == 0)
        sched_yield();
    ck_assert_logged(2, "from a job of the same pool");
    logcap_stop();
    ck_assert_err(s.rc, -EDEADLK);
    weft_pool_free(p);
}
END_TEST

/* Workers are named, block asynchronous signals, and start as needed. */
struct thread_info {
    char name[16];
    int sigint_blocked, sigterm_blocked, sigsegv_blocked;
    atomic_int done;
};

static int read_thread_info(void *arg, void **value) {
    (void)value;
    struct thread_info *ti = arg;
    pthread_getname_np(pthread_self(), ti->name, sizeof ti->name);
    sigset_t s;
    pthread_sigmask(SIG_BLOCK, NULL, &s);
    ti->sigint_blocked = sigismember(&s, SIGINT);
    ti->sigterm_blocked = sigismember(&s, SIGTERM);
    ti->sigsegv_blocked = sigismember(&s, SIGSEGV);
    return 0;
}

static void thread_info_done(void *arg, int status, void *value) {
    (void)status;
    (void)value;
    atomic_store(&((struct thread_info *)arg)->done, 1);
}

START_TEST(workers_are_named_block_signals_and_start_lazily) {
    weft_pool_t *p = new_pool(4, 0, "mypool");
    ck_assert_int_eq(count_threads("mypool-"), 0); /* none yet */
    /* One job at a time. (A job submitted before the previous worker is
     * back on the idle stack may start another thread, up to 4.) */
    struct thread_info ti[5];
    memset(ti, 0, sizeof ti);
    for (int i = 0; i < 5; i++) {
        ck_assert_ok(
            weft_pool_submit(p, read_thread_info, &ti[i], thread_info_done));
        while (atomic_load(&ti[i].done) == 0)
            sched_yield();
    }
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(strlen(ti[i].name) == 8 &&
                          strncmp(ti[i].name, "mypool-", 7) == 0 &&
                          ti[i].name[7] >= '0' && ti[i].name[7] <= '3',
                      "worker named '%s'", ti[i].name);
        ck_assert_int_eq(ti[i].sigint_blocked, 1);
        ck_assert_int_eq(ti[i].sigterm_blocked, 1);
        ck_assert_int_eq(ti[i].sigsegv_blocked, 0);
    }
    int during = count_threads("mypool-");
    ck_assert_int_ge(during, 1);
    ck_assert_int_le(during, 4);
    weft_pool_free(p);
    ck_assert_int_eq(threads_left("mypool-"), 0); /* joined */
}
END_TEST

/* ---- run_in_executor and to_thread ---------------------------------------------- */

static pthread_t loop_thread;
static int cb_calls;
static int cb_status;
static void *cb_value;
static int cb_on_loop_thread;

static void record_done_cb(weft_future_t *f, void *arg) {
    (void)arg;
    cb_calls++;
    cb_status = weft_future_result(f, &cb_value);
    cb_on_loop_thread = pthread_equal(pthread_self(), loop_thread);
}

static int future_basics_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    cb_calls = 0;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *f;
    ck_assert_ok(weft_run_in_executor(loop, NULL, add_one, (void *)41, &f));
    ck_assert_ptr_eq(weft_future_loop(f), loop);
    ck_assert_ok(weft_future_add_done_callback(f, record_done_cb, NULL));
    /* The job completes its future; nobody else may. */
    logcap_start();
    ck_assert_err(weft_future_set_result(f, (void *)1), -EINVAL);
    ck_assert_int_eq(logcap.n, 1);
    logcap_stop();
    ck_assert_err(weft_future_set_result_threadsafe(f, (void *)1), -EINVAL);
    void *v = NULL;
    ck_assert_int_eq(weft_await(f, &v), 7); /* fn's status */
    ck_assert_ptr_eq(v, (void *)42);
    ck_assert(weft_future_done(f));
    ck_assert(!weft_future_cancelled(f));
    ck_assert_int_eq(weft_future_result(f, &v), 7);
    ck_assert_ptr_eq(v, (void *)42);
    ck_assert_ok(weft_yield()); /* the done-callback runs */
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_int_eq(cb_status, 7);
    ck_assert_ptr_eq(cb_value, (void *)42);
    ck_assert(cb_on_loop_thread);
    weft_future_release(f);

    /* An error status: the future's error, no value. */
    ck_assert_ok(weft_run_in_executor(loop, NULL, fail_eio, NULL, &f));
    v = (void *)0x5;
    ck_assert_err(weft_await(f, &v), -EIO);
    ck_assert_ptr_null(v);
    weft_future_release(f);

    /* to_thread: the awaiting form. */
    v = NULL;
    ck_assert_int_eq(weft_to_thread(add_one, (void *)9, &v), 7);
    ck_assert_ptr_eq(v, (void *)10);
    ck_assert_err(weft_to_thread(fail_eio, NULL, &v), -EIO);
    ck_assert_ptr_null(v);
    ck_assert_ok(weft_to_thread(nothing, NULL, NULL));
    return 0;
}

START_TEST(run_in_executor_and_to_thread_deliver_status_and_value) {
    ck_assert_ok(run_virtual(future_basics_main, NULL));
}
END_TEST

static void *foreign_run_in_executor(void *arg) {
    weft_future_t *f = (weft_future_t *)0x1;
    intptr_t rc = weft_run_in_executor(arg, NULL, nothing, NULL, &f);
    return f == NULL ? (void *)rc : (void *)1;
}

START_TEST(run_in_executor_misuse) {
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    weft_future_t *f = (weft_future_t *)0x1;
    ck_assert_err(weft_run_in_executor(NULL, NULL, nothing, NULL, &f),
                  -EINVAL);
    ck_assert_ptr_null(f);
    ck_assert_err(weft_run_in_executor(loop, NULL, NULL, NULL, &f), -EINVAL);
    logcap_start();
    pthread_t th;
    void *rc;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_run_in_executor, loop),
                     0);
    pthread_join(th, &rc);
    ck_assert_err((int)(intptr_t)rc, -EPERM);
    ck_assert_logged(1, "does not own it");
    /* Outside a task. */
    ck_assert_err(weft_to_thread(nothing, NULL, NULL), -EPERM);
    ck_assert_logged(2, "outside a task");
    logcap_stop();
    /* A pool that is shut down refuses; so does a closed loop. */
    weft_pool_t *p = new_pool(1, 0, NULL);
    ck_assert_ok(weft_pool_shutdown(p, 0));
    ck_assert_err(weft_run_in_executor(loop, p, nothing, NULL, &f),
                  -ESHUTDOWN);
    ck_assert_ptr_null(f);
    weft_pool_free(p);
    ck_assert_ok(weft_loop_close(loop));
    ck_assert_err(weft_run_in_executor(loop, NULL, nothing, NULL, &f),
                  -ESHUTDOWN);
    weft_pool_t *dp;
    ck_assert_err(weft_loop_default_pool(loop, &dp), -ESHUTDOWN);
    weft_loop_free(loop);
}
END_TEST

/* ---- cancellation --------------------------------------------------------------- */

struct ctl {
    struct gate gate;
    atomic_int started, finished, ran;
    int discards;
    int discard_status;
    void *discard_value;
    int discard_on_loop_thread;
};

static void ctl_init(struct ctl *c) {
    memset(c, 0, sizeof *c);
    gate_init(&c->gate);
}

/* Waits at the gate (or until cancelled), then returns 5 with value c. */
static int ctl_job(void *arg, void **value) {
    struct ctl *c = arg;
    atomic_fetch_add(&c->ran, 1);
    atomic_store(&c->started, 1);
    int r = gate_wait_or_cancel(&c->gate);
    *value = c;
    atomic_store(&c->finished, 1);
    return r == 0 ? 5 : 6; /* 6: it saw the cancel */
}

static void ctl_discard(void *arg, int status, void *value) {
    struct ctl *c = arg;
    c->discards++;
    c->discard_status = status;
    c->discard_value = value;
    c->discard_on_loop_thread = pthread_equal(pthread_self(), loop_thread);
}

/* A job that never started: removed, never runs, future cancelled now. */
static int cancel_queued_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    weft_loop_t *loop = weft_loop_current();
    weft_pool_t *p = new_pool(1, 0, NULL);
    struct ctl busy, queued;
    ctl_init(&busy);
    ctl_init(&queued);
    weft_job_opts_t o = {p, ctl_discard};
    weft_future_t *fb, *fq;
    ck_assert_ok(weft_run_in_executor_opts(loop, ctl_job, &busy, &o, &fb));
    gate_await_arrivals(&busy.gate, 1); /* the only thread is busy */
    ck_assert_ok(weft_run_in_executor_opts(loop, ctl_job, &queued, &o, &fq));
    ck_assert_ok(weft_future_cancel(fq));
    ck_assert(weft_future_done(fq)); /* at once */
    ck_assert(weft_future_cancelled(fq));
    ck_assert_err(weft_future_cancel(fq), -EALREADY);
    gate_open(&busy.gate);
    ck_assert_int_eq(weft_await(fb, NULL), 5);
    ck_assert_ok(weft_pool_shutdown(p, 0)); /* from a task: parks */
    ck_assert_int_eq(atomic_load(&queued.ran), 0); /* never ran */
    ck_assert_int_eq(queued.discards, 0);          /* nothing to discard */
    ck_assert_int_eq(busy.discards, 0);            /* it was delivered */
    weft_future_release(fb);
    weft_future_release(fq);
    weft_pool_free(p);
    gate_destroy(&busy.gate);
    gate_destroy(&queued.gate);
    return 0;
}

START_TEST(cancel_before_start_removes_the_job) {
    ck_assert_ok(run_virtual(cancel_queued_main, NULL));
}
END_TEST

/* A running job: the future stays pending until fn returns, then reports
 * cancelled; fn saw weft_job_cancelled(); its value goes to discard. */
static int cancel_running_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    weft_loop_t *loop = weft_loop_current();
    struct ctl c;
    ctl_init(&c);
    weft_job_opts_t o = {NULL, ctl_discard};
    weft_future_t *f;
    ck_assert_ok(weft_run_in_executor_opts(loop, ctl_job, &c, &o, &f));
    gate_await_arrivals(&c.gate, 1);
    ck_assert_ok(weft_future_cancel(f));
    ck_assert(!weft_future_done(f)); /* fn is still running */
    void *v = (void *)0x1;
    ck_assert_err(weft_await(f, &v), -ECANCELED);
    ck_assert_ptr_null(v);
    ck_assert(weft_future_cancelled(f));
    ck_assert_int_eq(atomic_load(&c.finished), 1); /* fn has returned */
    ck_assert_int_eq(c.discards, 1);
    ck_assert_int_eq(c.discard_status, 6); /* it saw the cancel */
    ck_assert_ptr_eq(c.discard_value, &c);
    ck_assert(c.discard_on_loop_thread);
    weft_future_release(f);
    gate_destroy(&c.gate);
    return 0;
}

START_TEST(cancel_after_start_discards_the_result) {
    ck_assert_ok(run_virtual(cancel_running_main, NULL));
}
END_TEST

/* to_thread in a task that gets cancelled while fn runs: returns only once
 * fn has returned, so arg may live on the task's stack. */
static int to_thread_child(void *arg) {
    struct ctl *c = arg;
    weft_job_opts_t o = {NULL, ctl_discard};
    void *v = (void *)0x1;
    int r = weft_to_thread_opts(ctl_job, c, &o, &v);
    ck_assert_int_eq(atomic_load(&c->finished), 1);
    ck_assert_ptr_null(v);
    return r;
}

static int cancel_to_thread_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    struct ctl c;
    ctl_init(&c);
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, to_thread_child, &c, NULL));
    ck_assert_ok(weft_yield()); /* the child submits and parks */
    gate_await_arrivals(&c.gate, 1);
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    ck_assert_int_eq(c.discards, 1);
    ck_assert_int_eq(c.discard_status, 6);
    weft_task_release(t);
    gate_destroy(&c.gate);
    return 0;
}

START_TEST(cancelled_to_thread_waits_for_the_running_function) {
    ck_assert_ok(run_virtual(cancel_to_thread_main, NULL));
}
END_TEST

/* to_thread cancelled while its job is queued: -ECANCELED at once, fn never
 * runs. */
struct queued_child {
    weft_pool_t *pool;
    struct ctl *c;
};

static int queued_to_thread_child(void *arg) {
    struct queued_child *q = arg;
    weft_job_opts_t o = {q->pool, ctl_discard};
    return weft_to_thread_opts(ctl_job, q->c, &o, NULL);
}

static int plain_to_thread_child(void *arg) {
    return weft_to_thread(ctl_job, arg, NULL);
}

static int cancel_queued_to_thread_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    weft_pool_t *p = new_pool(1, 0, NULL);
    struct ctl busy, queued;
    ctl_init(&busy);
    ctl_init(&queued);
    ck_assert_ok(weft_pool_submit(p, ctl_job, &busy, NULL));
    gate_await_arrivals(&busy.gate, 1);
    struct queued_child q = {p, &queued};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, queued_to_thread_child, &q, NULL));
    ck_assert_ok(weft_yield());
    ck_assert(!weft_task_done(t));
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    gate_open(&busy.gate);
    ck_assert_ok(weft_pool_shutdown(p, 0));
    ck_assert_int_eq(atomic_load(&queued.ran), 0);
    ck_assert_int_eq(queued.discards, 0);
    weft_task_release(t);
    /* Already cancelled: to_thread does not even submit. */
    ck_assert_ok(weft_spawn(&t, plain_to_thread_child, &queued, NULL));
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    weft_task_release(t);
    ck_assert_int_eq(atomic_load(&queued.ran), 0);
    weft_pool_free(p);
    gate_destroy(&busy.gate);
    gate_destroy(&queued.gate);
    return 0;
}

START_TEST(cancel_queued_to_thread_never_runs_it) {
    ck_assert_ok(run_virtual(cancel_queued_to_thread_main, NULL));
}
END_TEST

/* Deadlines: a scope that expires while fn runs (cooperatively: it polls
 * weft_job_cancelled()); wait_for on an executor future. Virtual clock: the
 * deadlines expire as soon as the loop has nothing else to do. */

/* Spawned before a wait: holds the loop until the job has started, so a
 * deadline (virtual clock: it expires as soon as the loop is idle) finds
 * it running, not queued. */
static int hold_until_started(void *arg) {
    gate_await_arrivals(&((struct ctl *)arg)->gate, 1);
    return 0;
}

static int deadline_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    struct ctl c;
    ctl_init(&c);
    weft_scope_t s;
    ck_assert_ok(weft_spawn(NULL, hold_until_started, &c, NULL));
    ck_assert_ok(weft_scope_enter(&s, 1.0, 0));
    weft_job_opts_t o = {NULL, ctl_discard};
    ck_assert_err(weft_to_thread_opts(ctl_job, &c, &o, NULL), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&c.finished), 1);
    ck_assert_int_eq(c.discards, 1);
    ck_assert_int_eq(c.discard_status, 6);
    gate_destroy(&c.gate);

    ctl_init(&c);
    weft_future_t *f;
    ck_assert_ok(weft_spawn(NULL, hold_until_started, &c, NULL));
    ck_assert_ok(weft_run_in_executor(weft_loop_current(), NULL, ctl_job, &c,
                                      &f));
    ck_assert_err(weft_wait_for(f, 0.5, NULL), -ETIMEDOUT);
    ck_assert(weft_future_cancelled(f));
    ck_assert_int_eq(atomic_load(&c.finished), 1);
    weft_future_release(f);
    gate_destroy(&c.gate);

    /* A scope already expired: to_thread returns at once, fn never runs. */
    ctl_init(&c);
    ck_assert_ok(weft_scope_enter(&s, 0, 0));
    ck_assert_err(weft_to_thread(ctl_job, &c, NULL), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&c.ran), 0);
    gate_destroy(&c.gate);
    return 0;
}

START_TEST(deadlines_cut_waits_and_cancel_the_job) {
    ck_assert_ok(run_virtual(deadline_main, NULL));
}
END_TEST

/* gather over many executor futures: results in order. */
static int gather_main(void *arg) {
    (void)arg;
    int n = scale(2000);
    weft_future_t **fs = calloc((size_t)n, sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    weft_loop_t *loop = weft_loop_current();
    for (int i = 0; i < n; i++)
        ck_assert_ok(weft_run_in_executor(loop, NULL, add_one,
                                          (void *)(intptr_t)i, &fs[i]));
    ck_assert_ok(weft_gather(fs, (size_t)n, 0));
    for (int i = 0; i < n; i++) {
        void *v;
        ck_assert_int_eq(weft_future_result(fs[i], &v), 7);
        ck_assert_ptr_eq(v, (void *)(intptr_t)(i + 1));
        weft_future_release(fs[i]);
    }
    free(fs);
    return 0;
}

START_TEST(gather_of_executor_futures) {
    ck_assert_ok(run_virtual(gather_main, NULL));
}
END_TEST

/* ---- shutdown from a task ---------------------------------------------------------- */

/* The pool's job waits for a flag that only another task of the loop sets:
 * if shutdown blocked the loop thread, that task could never run. */
struct flag_job {
    struct gate gate;
    weft_pool_t *pool;
    int shutdown_rc;
    int helper_ran;
};

static int wait_gate_job(void *arg, void **value) {
    (void)value;
    gate_wait(&((struct flag_job *)arg)->gate);
    return 0;
}

static int opener_task(void *arg) {
    struct flag_job *fj = arg;
    fj->helper_ran = 1;
    gate_open(&fj->gate);
    return 0;
}

static int shutter_task(void *arg) {
    struct flag_job *fj = arg;
    fj->shutdown_rc = weft_pool_shutdown(fj->pool, 0);
    return 0;
}

static int shutdown_from_task_main(void *arg) {
    (void)arg;
    struct flag_job fj;
    memset(&fj, 0, sizeof fj);
    gate_init(&fj.gate);
    fj.pool = new_pool(2, 0, NULL);
    ck_assert_ok(weft_pool_submit(fj.pool, wait_gate_job, &fj, NULL));
    gate_await_arrivals(&fj.gate, 1);
    weft_task_t *shutter, *opener;
    ck_assert_ok(weft_spawn(&shutter, shutter_task, &fj, NULL));
    ck_assert_ok(weft_yield()); /* the shutter parks in shutdown */
    ck_assert(!weft_task_done(shutter));
    /* A cancel does not interrupt it: the threads must be joined. */
    ck_assert_ok(weft_task_cancel(shutter));
    ck_assert_ok(weft_spawn(&opener, opener_task, &fj, NULL));
    ck_assert_ok(weft_join(shutter));
    ck_assert_ok(fj.shutdown_rc);
    ck_assert(fj.helper_ran);
    ck_assert_ok(weft_join(opener));
    weft_task_release(shutter);
    weft_task_release(opener);
    weft_pool_free(fj.pool);
    gate_destroy(&fj.gate);
    return 0;
}

START_TEST(shutdown_from_a_task_keeps_the_loop_running) {
    ck_assert_ok(run_virtual(shutdown_from_task_main, NULL));
}
END_TEST

/* Shutdown with CANCEL_QUEUED of a pool that holds a loop's jobs, from
 * another thread: their futures are cancelled, the running one is
 * delivered as it finished. */
static int cancel_queued_futures_main(void *arg) {
    (void)arg;
    loop_thread = pthread_self();
    weft_loop_t *loop = weft_loop_current();
    weft_pool_t *p = new_pool(1, 0, NULL);
    struct ctl busy, q[5];
    ctl_init(&busy);
    weft_future_t *fb, *fq[5];
    ck_assert_ok(weft_run_in_executor(loop, p, ctl_job, &busy, &fb));
    gate_await_arrivals(&busy.gate, 1);
    for (int i = 0; i < 5; i++) {
        ctl_init(&q[i]);
        ck_assert_ok(weft_run_in_executor(loop, p, ctl_job, &q[i], &fq[i]));
    }
    struct shutter s = {p, WEFT_POOL_CANCEL_QUEUED, 1};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, shutdown_thread, &s), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_err(weft_await(fq[i], NULL), -ECANCELED);
    /* The running job saw the shutdown as a cancel, and its status is
     * delivered (its future was not cancelled). */
    ck_assert_int_eq(weft_await(fb, NULL), 6);
    pthread_join(th, NULL);
    ck_assert_ok(s.rc);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(atomic_load(&q[i].ran), 0);
        weft_future_release(fq[i]);
        gate_destroy(&q[i].gate);
    }
    weft_future_release(fb);
    weft_pool_free(p);
    gate_destroy(&busy.gate);
    return 0;
}

START_TEST(shutdown_cancel_queued_cancels_loop_futures) {
    ck_assert_ok(run_virtual(cancel_queued_futures_main, NULL));
}
END_TEST

/* ---- the loop's close and the default pool ------------------------------------------- */

struct close_rec {
    atomic_int ran;
    int discards;
};

static int close_job(void *arg, void **value) {
    struct close_rec *r = arg;
    atomic_fetch_add(&r->ran, 1);
    *value = r;
    return 1;
}

static void close_discard(void *arg, int status, void *value) {
    struct close_rec *r = arg;
    ck_assert_int_eq(status, 1);
    ck_assert_ptr_eq(value, r);
    r->discards++;
}

START_TEST(close_waits_for_every_job_and_joins_the_default_pool) {
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    weft_pool_t *dp;
    ck_assert_ok(weft_loop_default_pool(loop, &dp));
    weft_pool_t *dp2;
    ck_assert_ok(weft_loop_default_pool(loop, &dp2));
    ck_assert_ptr_eq(dp, dp2);
    ck_assert_uint_eq(weft_pool_size(dp), affinity_cpus());
    logcap_start();
    weft_pool_free(dp); /* the loop's: refused */
    ck_assert_logged(1, "default pool");
    logcap_stop();
    /* Jobs submitted, the loop never run: close still delivers them all.
     * Detached ones (no `out`) give their outcome to discard. */
    enum { N = 64 };
    struct close_rec held[N], detached[N];
    memset(held, 0, sizeof held);
    memset(detached, 0, sizeof detached);
    weft_future_t *fs[N];
    for (int i = 0; i < N; i++) {
        weft_job_opts_t o = {NULL, close_discard};
        ck_assert_ok(
            weft_run_in_executor_opts(loop, close_job, &held[i], &o, &fs[i]));
        ck_assert_ok(weft_run_in_executor_opts(loop, close_job, &detached[i],
                                               &o, NULL));
    }
    ck_assert_int_gt(threads_named("weft-exec-"), 0);
    ck_assert_ok(weft_loop_close(loop));
    ck_assert_int_eq(threads_left("weft-exec-"), 0); /* joined */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(atomic_load(&held[i].ran), 1);
        ck_assert_int_eq(atomic_load(&detached[i].ran), 1);
        ck_assert_int_eq(held[i].discards, 0);
        ck_assert_int_eq(detached[i].discards, 1);
        void *v;
        ck_assert_int_eq(weft_future_result(fs[i], &v), 1); /* readable */
        ck_assert_ptr_eq(v, &held[i]);
        weft_future_release(fs[i]);
    }
    weft_loop_free(loop);
}
END_TEST

/* A loop closed from a task of another loop (on the same thread) cannot
 * run to deliver its jobs; its close waits for the workers directly. */
static int close_other_loop_main(void *arg) {
    weft_loop_t *other = arg;
    enum { N = 16 };
    struct close_rec held[N], detached[N];
    memset(held, 0, sizeof held);
    memset(detached, 0, sizeof detached);
    weft_future_t *fs[N];
    weft_job_opts_t o = {NULL, close_discard};
    for (int i = 0; i < N; i++) {
        ck_assert_ok(weft_run_in_executor_opts(other, close_job, &held[i], &o,
                                               &fs[i]));
        ck_assert_ok(weft_run_in_executor_opts(other, close_job, &detached[i],
                                               &o, NULL));
    }
    logcap_start();
    ck_assert_ok(weft_loop_close(other));
    ck_assert_logged(1, "already running a loop");
    logcap_stop();
    ck_assert_int_eq(threads_left("weft-exec-"), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(atomic_load(&held[i].ran), 1);
        ck_assert_int_eq(detached[i].discards, 1);
        void *v;
        ck_assert_int_eq(weft_future_result(fs[i], &v), 1);
        ck_assert_ptr_eq(v, &held[i]);
        weft_future_release(fs[i]);
    }
    return 0;
}

START_TEST(close_from_a_task_of_another_loop_still_delivers) {
    weft_loop_t *other;
    ck_assert_ok(weft_loop_new(&other, NULL));
    ck_assert_ok(weft_run(close_other_loop_main, other));
    weft_loop_free(other);
}
END_TEST

/* No thread outlives weft_run, however the default pool was used. */
static int busy_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    int n = scale(1000);
    for (int i = 0; i < n; i++)
        ck_assert_ok(weft_run_in_executor(loop, NULL, add_one, NULL, NULL));
    void *v;
    ck_assert_int_eq(weft_to_thread(add_one, (void *)1, &v), 7);
    ck_assert_int_gt(count_threads("weft-exec-"), 0);
    return 0; /* the detached jobs may still be queued */
}

START_TEST(no_thread_outlives_weft_run) {
    ck_assert_int_eq(count_threads("weft-exec-"), 0);
    ck_assert_ok(weft_run(busy_main, NULL));
    ck_assert_int_eq(threads_left("weft-exec-"), 0);
    ck_assert_ok(run_virtual(busy_main, NULL));
    ck_assert_int_eq(threads_left("weft-exec-"), 0);
}
END_TEST

static int custom_default_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_pool_t *mine = new_pool(2, 0, "mine");
    ck_assert_err(weft_loop_set_default_pool(loop, NULL), -EINVAL);
    ck_assert_ok(weft_loop_set_default_pool(loop, mine));
    weft_pool_t *dp;
    ck_assert_ok(weft_loop_default_pool(loop, &dp));
    ck_assert_ptr_eq(dp, mine);
    struct thread_info ti;
    memset(&ti, 0, sizeof ti);
    ck_assert_ok(weft_to_thread(read_thread_info, &ti, NULL));
    ck_assert_int_eq(strncmp(ti.name, "mine-", 5), 0);
    weft_pool_t *other = new_pool(1, 0, NULL);
    ck_assert_err(weft_loop_set_default_pool(loop, other), -EBUSY);
    ck_assert_ok(weft_pool_shutdown(other, 0));
    weft_pool_free(other);
    return 0; /* the loop frees `mine` */
}

START_TEST(a_default_pool_of_your_choosing) {
    ck_assert_ok(run_virtual(custom_default_main, NULL));
    /* A pool that is shut down cannot become a default. */
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    weft_pool_t *p = new_pool(1, 0, NULL);
    ck_assert_ok(weft_pool_shutdown(p, 0));
    ck_assert_err(weft_loop_set_default_pool(loop, p), -ESHUTDOWN);
    weft_pool_free(p);
    weft_loop_free(loop);
}
END_TEST

/* ---- many threads, many loops ------------------------------------------------------- */

/* One pool serves several loops at once, each on its own thread: every
 * completion goes to the loop that submitted the job. */
struct loop_thread_arg {
    weft_pool_t *pool;
    int id;
    int ok; /* jobs whose result came back to this loop */
    int rc;
};

static int tag_job(void *arg, void **value) {
    *value = arg;
    return 0;
}

static int shared_pool_loop_main(void *arg) {
    struct loop_thread_arg *a = arg;
    weft_loop_t *loop = weft_loop_current();
    int n = scale(500);
    weft_future_t **fs = calloc((size_t)n, sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    intptr_t base = (intptr_t)a->id << 20;
    for (int i = 0; i < n; i++)
        ck_assert_ok(weft_run_in_executor(loop, a->pool, tag_job,
                                          (void *)(base + i), &fs[i]));
    weft_job_opts_t o = {a->pool, NULL};
    for (int i = 0; i < n; i++) {
        void *v;
        ck_assert_ok(weft_await(fs[i], &v));
        ck_assert_ptr_eq(weft_future_loop(fs[i]), loop);
        a->ok += v == (void *)(base + i);
        weft_future_release(fs[i]);
        /* and the awaiting form, interleaved */
        ck_assert_ok(weft_to_thread_opts(tag_job, (void *)(base + i), &o, &v));
        a->ok += v == (void *)(base + i);
    }
    free(fs);
    return 0;
}

static void *loop_thread_main(void *arg) {
    struct loop_thread_arg *a = arg;
    a->rc = weft_run(shared_pool_loop_main, a);
    return NULL;
}

START_TEST(one_pool_serves_several_loops) {
    weft_pool_t *p = new_pool(3, 0, NULL);
    enum { L = 4 };
    struct loop_thread_arg a[L];
    pthread_t th[L];
    for (int i = 0; i < L; i++) {
        a[i] = (struct loop_thread_arg){p, i + 1, 0, 1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, loop_thread_main, &a[i]),
                         0);
    }
    for (int i = 0; i < L; i++) {
        pthread_join(th[i], NULL);
        ck_assert_ok(a[i].rc);
        ck_assert_int_eq(a[i].ok, 2 * scale(500));
    }
    weft_pool_free(p);
}
END_TEST

/* Jobs submitted from 8 threads at once, while a loop submits to the same
 * pool too: every job runs once and its done function is called once. */
enum { SUBMITTERS = 8 };

struct submitter {
    weft_pool_t *pool;
    atomic_int *hits; /* hits[i]: times job i ran */
    atomic_int *dones;
    int first, n;
    int errors;
};

struct hit_job {
    struct submitter *s;
    int i;
};

static int hit_fn(void *arg, void **value) {
    struct hit_job *h = arg;
    atomic_fetch_add(&h->s->hits[h->i], 1);
    *value = h;
    return h->i;
}

static void hit_done(void *arg, int status, void *value) {
    struct hit_job *h = arg;
    if (status == h->i && value == h)
        atomic_fetch_add(&h->s->dones[h->i], 1);
    free(h);
}

static void *submitter_main(void *arg) {
    struct submitter *s = arg;
    for (int k = 0; k < s->n; k++) {
        struct hit_job *h = malloc(sizeof *h);
        ck_assert_ptr_nonnull(h);
        h->s = s;
        h->i = s->first + k;
        int rc = weft_pool_submit(s->pool, hit_fn, h, hit_done);
        if (rc) {
            s->errors++;
            free(h);
        }
    }
    return NULL;
}

static int loop_side_main(void *arg) {
    weft_pool_t *p = arg;
    int n = scale(4000), ok = 0;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *fs[64];
    for (int done = 0; done < n; done += 64) {
        for (int i = 0; i < 64; i++)
            ck_assert_ok(weft_run_in_executor(loop, p, add_one,
                                              (void *)(intptr_t)(done + i),
                                              &fs[i]));
        for (int i = 0; i < 64; i++) {
            void *v;
            ok += weft_await(fs[i], &v) == 7 &&
                  v == (void *)(intptr_t)(done + i + 1);
            weft_future_release(fs[i]);
        }
    }
    return ok == (n + 63) / 64 * 64 ? 0 : -EIO;
}

START_TEST(jobs_submitted_from_8_threads_at_once) {
    weft_pool_t *p = new_pool(4, 0, NULL);
    int per = scale(5000), total = SUBMITTERS * per;
    atomic_int *hits = calloc((size_t)total, sizeof *hits);
    atomic_int *dones = calloc((size_t)total, sizeof *dones);
    ck_assert(hits && dones);
    struct submitter s[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++) {
        s[i] = (struct submitter){p, hits, dones, i * per, per, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, submitter_main, &s[i]),
                         0);
    }
    ck_assert_ok(weft_run(loop_side_main, p)); /* meanwhile, on this thread */
    for (int i = 0; i < SUBMITTERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(s[i].errors, 0);
    }
    ck_assert_ok(weft_pool_shutdown(p, 0));
    for (int i = 0; i < total; i++) {
        ck_assert_int_eq(atomic_load(&hits[i]), 1);
        ck_assert_int_eq(atomic_load(&dones[i]), 1);
    }
    weft_pool_free(p);
    free(hits);
    free(dones);
}
END_TEST

/* Thousands of jobs in flight at once from one loop: nothing is lost. */
static int flood_main(void *arg) {
    (void)arg;
    int n = scale(20000);
    weft_future_t **fs = calloc((size_t)n, sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    weft_loop_t *loop = weft_loop_current();
    for (int i = 0; i < n; i++)
        ck_assert_ok(weft_run_in_executor(loop, NULL, add_one,
                                          (void *)(intptr_t)i, &fs[i]));
    int ok = 0;
    for (int i = n - 1; i >= 0; i--) {
        void *v;
        ok += weft_await(fs[i], &v) == 7 && v == (void *)(intptr_t)(i + 1);
        weft_future_release(fs[i]);
    }
    free(fs);
    ck_assert_int_eq(ok, n);
    return 0;
}

START_TEST(thousands_of_jobs_in_flight_lose_nothing) {
    ck_assert_ok(weft_run(flood_main, NULL));
}
END_TEST

/* A task left in a shielded weft_to_thread when the loop closes: the job
 * will complete, so the close waits for it and honours the shield (a
 * shielded wait that nothing could complete would be interrupted and
 * logged, test_task's close case). */
static int naps_then_7(void *arg, void **value) {
    (void)arg;
    *value = NULL;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return 7;
}

static int shielded_job_task(void *arg) {
    int *rc = arg;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, INFINITY, WEFT_SCOPE_SHIELD));
    *rc = weft_to_thread(naps_then_7, NULL, NULL);
    ck_assert_ok(weft_scope_exit(&s));
    return 0;
}

static int leaves_a_shielded_job(void *arg) {
    ck_assert_ok(weft_spawn(NULL, shielded_job_task, arg, NULL));
    ck_assert_ok(weft_yield()); /* it is parked in weft_to_thread now */
    return 0;
}

START_TEST(close_waits_for_a_shielded_job) {
    int rc = 1;
    logcap_start();
    ck_assert_ok(run_virtual(leaves_a_shielded_job, &rc));
    ck_assert_msg(logcap.n == 0, "logged: %s", logcap.last);
    logcap_stop();
    ck_assert_int_eq(rc, 7);
}
END_TEST

/* core.h: weft_replace_allocator's hooks are never called on worker
 * threads (nor by a completion they post): only on the loop's thread. */
static void count_done(void *arg, int status, void *value) {
    (void)status;
    (void)value;
    atomic_fetch_add((atomic_int *)arg, 1);
}

static int hooks_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    int n = scale(2000);
    weft_future_t **fs = calloc((size_t)n, sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    /* Bursts of completions: the workers post them to the loop. */
    for (int i = 0; i < n; i++)
        ck_assert_ok(weft_run_in_executor(loop, NULL, add_one,
                                          (void *)(intptr_t)i, &fs[i]));
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(weft_await(fs[i], NULL), 7);
        weft_future_release(fs[i]);
    }
    free(fs);
    void *v;
    ck_assert_int_eq(weft_to_thread(add_one, (void *)1, &v), 7);
    /* A pool shut down from a task: its last worker wakes the task
     * through the loop. Jobs submitted to it from this thread too. */
    weft_pool_t *p = new_pool(2, 0, NULL);
    atomic_int dones = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_ok(weft_pool_submit(p, nothing, &dones, count_done));
    ck_assert_ok(weft_pool_shutdown(p, 0));
    ck_assert_int_eq(atomic_load(&dones), 100);
    weft_pool_free(p);
    return 0;
}

START_TEST(workers_never_call_the_allocator_hooks) {
    int r = hooks_install();
    ck_assert(r == 0 || r == -EBUSY);
    if (r == -EBUSY)
        return; /* CK_FORK=no: weft already allocated in this process */
    ck_assert_ok(weft_run(hooks_main, NULL));
    int foreign = atomic_load(&hooks_foreign);
    ck_assert_int_eq(foreign, 0);
}
END_TEST

static Suite *exec_suite(void) {
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pool_new_checks_options_and_sizes_by_cpus);
    tcase_add_test(tc, submit_without_a_loop_runs_in_order_and_calls_done_once);
    tcase_add_test(tc, max_queued_refuses_with_eagain);
    tcase_add_test(tc, shutdown_with_queued_work_drops_it_when_asked);
    tcase_add_test(tc, shutdown_with_queued_work_waits_for_it_by_default);
    tcase_add_test(tc, shutdown_from_its_own_job_is_edeadlk);
    tcase_add_test(tc, workers_are_named_block_signals_and_start_lazily);
    suite_add_tcase(s, tc);

    tc = tcase_create("loop");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, run_in_executor_and_to_thread_deliver_status_and_value);
    tcase_add_test(tc, run_in_executor_misuse);
    tcase_add_test(tc, cancel_before_start_removes_the_job);
    tcase_add_test(tc, cancel_after_start_discards_the_result);
    tcase_add_test(tc, cancelled_to_thread_waits_for_the_running_function);
    tcase_add_test(tc, cancel_queued_to_thread_never_runs_it);
    tcase_add_test(tc, deadlines_cut_waits_and_cancel_the_job);
    tcase_add_test(tc, gather_of_executor_futures);
    tcase_add_test(tc, shutdown_from_a_task_keeps_the_loop_running);
    tcase_add_test(tc, shutdown_cancel_queued_cancels_loop_futures);
    tcase_add_test(tc, close_waits_for_every_job_and_joins_the_default_pool);
    tcase_add_test(tc, close_from_a_task_of_another_loop_still_delivers);
    tcase_add_test(tc, close_waits_for_a_shielded_job);
    tcase_add_test(tc, no_thread_outlives_weft_run);
    tcase_add_test(tc, a_default_pool_of_your_choosing);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, one_pool_serves_several_loops);
    tcase_add_test(tc, jobs_submitted_from_8_threads_at_once);
    tcase_add_test(tc, thousands_of_jobs_in_flight_lose_nothing);
    tcase_add_test(tc, workers_never_call_the_allocator_hooks);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(exec_suite)
