/* Unix signals (weft/signal.h): callbacks, receivers, weft_signal_wait,
 * weft_run's WEFT_RUN_SIGNALS, delivery from other threads and to two
 * loops. Signals come from raise(), kill(getpid()) and pthread_kill().
 * Waits for a delivery are plain waits with a generous deadline scope as
 * a hang guard only; nothing here asserts a timing. Every test leaves the
 * dispositions as it found them (under valgrind all tests share one
 * process). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "support.h"

#define HANG_GUARD 20.0 /* seconds: only ever reached if something is broken */

/* The dispositions the test process started with (Check's runner and the
 * shell may have set SIGINT and SIGTERM to something else than SIG_DFL). */
static void (*original[NSIG])(int);

static void note_originals(void) {
    for (int s = 1; s < NSIG; s++) {
        struct sigaction sa;
        original[s] = sigaction(s, NULL, &sa) == 0 ? sa.sa_handler : SIG_ERR;
    }
}

/* Is the signal's disposition the one the process started with (weft does
 * not catch it)? */
static bool is_original(int signum) {
    struct sigaction sa;
    ck_assert_int_eq(sigaction(signum, NULL, &sa), 0);
    return sa.sa_handler == original[signum];
}

/* Run fn on a real-clock loop. */
static int run_real(weft_task_fn fn, void *arg) {
    return weft_run(fn, arg);
}

/* Yield (sleeping a little) until *counter reaches want, inside a hang
 * guard. Returns 0 or the error that ended the wait. */
static int wait_for_count(atomic_int *counter, int want) {
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, HANG_GUARD, 0));
    int err = 0;
    while (atomic_load(counter) < want && err == 0)
        err = weft_sleep(0.001);
    int e = weft_scope_exit(&s);
    return err ? err : e;
}

/* ---- misuse ---------------------------------------------------------------------- */

static void nop_handler(int signum, void *arg) {
    (void)signum;
    (void)arg;
}

START_TEST(signals_that_cannot_be_caught_are_refused) {
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    const int bad[] = {0, -1, NSIG, 65, 1000, SIGKILL, SIGSTOP, SIGSEGV,
                       SIGBUS, SIGFPE, SIGILL, 32, 33};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_signal_id_t id = {12345};
        ck_assert_err(weft_signal_add(loop, bad[i], nop_handler, NULL, &id),
                      -EINVAL);
        ck_assert_uint_eq(id.id, 0);
        static int garbage;
        weft_sigrecv_t *rx = (weft_sigrecv_t *)(void *)&garbage;
        int set[] = {SIGUSR1, bad[i]};
        ck_assert_err(weft_signal_open(loop, set, 2, &rx), -EINVAL);
        ck_assert_ptr_null(rx);
    }
    ck_assert_err(weft_signal_add(loop, SIGUSR1, NULL, NULL, NULL), -EINVAL);
    ck_assert_err(weft_signal_add(NULL, SIGUSR1, nop_handler, NULL, NULL),
                  -EINVAL);
    weft_sigrecv_t *rx;
    int usr1 = SIGUSR1;
    ck_assert_err(weft_signal_open(loop, &usr1, 0, &rx), -EINVAL);
    ck_assert_err(weft_signal_open(loop, NULL, 1, &rx), -EINVAL);
    ck_assert_err(weft_signal_open(loop, &usr1, 1, NULL), -EINVAL);
    weft_signal_id_t zero = {0}, unknown = {77};
    ck_assert_err(weft_signal_remove(loop, zero), -ENOENT);
    ck_assert_err(weft_signal_remove(loop, unknown), -ENOENT);
    ck_assert_err(weft_signal_remove(NULL, unknown), -EINVAL);
    /* Nothing was caught by any of that. */
    ck_assert(is_original(SIGUSR1));
    weft_loop_free(loop);
}
END_TEST

START_TEST(waits_outside_a_task_are_refused) {
    logcap_start();
    int usr1 = SIGUSR1;
    ck_assert_err(weft_signal_wait(&usr1, 1), -EPERM);
    ck_assert_err(weft_signal_next(NULL), -EPERM);
    ck_assert_logged(2, "outside a task");
    logcap_stop();
}
END_TEST

struct foreign {
    weft_loop_t *loop;
    int add, remove;
};

static void *foreign_thread(void *arg) {
    struct foreign *f = arg;
    weft_signal_id_t id = {1};
    f->add = weft_signal_add(f->loop, SIGUSR1, nop_handler, NULL, NULL);
    f->remove = weft_signal_remove(f->loop, id);
    return NULL;
}

START_TEST(calls_from_a_foreign_thread_are_refused) {
    struct foreign f = {0};
    ck_assert_ok(weft_loop_new(&f.loop, NULL));
    weft_signal_id_t id;
    ck_assert_ok(weft_signal_add(f.loop, SIGUSR1, nop_handler, NULL, &id));
    logcap_start();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_err(f.add, -EPERM);
    ck_assert_err(f.remove, -EPERM);
    ck_assert_int_eq(logcap.n, 2);
    logcap_stop();
    ck_assert_ok(weft_signal_remove(f.loop, id));
    weft_loop_free(f.loop);
}
END_TEST

/* ---- callbacks ---------------------------------------------------------------------- */

struct seen {
    atomic_int n;
    int signum;
    void *arg;
    bool in_task;
    bool on_loop_thread;
    pthread_t loop_thread;
};

static void record(int signum, void *arg) {
    struct seen *s = arg;
    s->signum = signum;
    s->arg = arg;
    s->in_task = weft_task_current() != NULL;
    s->on_loop_thread = pthread_equal(pthread_self(), s->loop_thread);
    atomic_fetch_add(&s->n, 1);
}

static int raise_and_wait_main(void *arg) {
    struct seen *s = arg;
    weft_loop_t *loop = weft_loop_current();
    s->loop_thread = pthread_self();
    weft_signal_id_t id;
    ck_assert(is_original(SIGUSR1));
    ck_assert_ok(weft_signal_add(loop, SIGUSR1, record, s, &id));
    ck_assert_uint_ne(id.id, 0);
    ck_assert(!is_original(SIGUSR1));
    ck_assert_int_eq(raise(SIGUSR1), 0); /* would end the process if not caught */
    ck_assert_ok(wait_for_count(&s->n, 1));
    ck_assert_int_eq(s->signum, SIGUSR1);
    ck_assert_ptr_eq(s->arg, s);
    ck_assert(!s->in_task);
    ck_assert(s->on_loop_thread);
    /* Removing the only handler gives the signal back. */
    ck_assert_ok(weft_signal_remove(loop, id));
    ck_assert(is_original(SIGUSR1));
    ck_assert_err(weft_signal_remove(loop, id), -ENOENT);
    return 0;
}

START_TEST(a_handler_runs_as_a_plain_callback_on_the_loop_thread) {
    struct seen s = {0};
    ck_assert_ok(run_real(raise_and_wait_main, &s));
    ck_assert_int_eq(atomic_load(&s.n), 1);
}
END_TEST

/* A signal that comes before the loop runs is handled once it does. */
static void stop_on_signal(int signum, void *arg) {
    record(signum, arg);
    weft_loop_stop(weft_loop_current());
}

START_TEST(a_signal_before_the_loop_runs_is_handled_when_it_does) {
    struct seen s = {0};
    s.loop_thread = pthread_self();
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    ck_assert_ok(weft_signal_add(loop, SIGUSR2, stop_on_signal, &s, NULL));
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(atomic_load(&s.n), 0);
    ck_assert_ok(weft_loop_run_forever(loop)); /* stopped by the handler */
    ck_assert_int_eq(atomic_load(&s.n), 1);
    ck_assert_int_eq(s.signum, SIGUSR2);
    ck_assert(!s.in_task);
    /* Handlers left at close are released: the disposition comes back. */
    ck_assert(!is_original(SIGUSR2));
    weft_loop_free(loop);
    ck_assert(is_original(SIGUSR2));
}
END_TEST

struct order {
    char log[64];
    size_t n;
    weft_loop_t *loop;
    weft_signal_id_t ids[3];
    atomic_int calls;
    bool remove_self_once; /* handler 2 removes itself */
    bool remove_next;      /* handler 1 removes handler 2 */
};

static struct order ORD;

static void ordered(int signum, void *arg) {
    int k = (int)(intptr_t)arg;
    ck_assert_int_eq(signum, SIGUSR1);
    ORD.log[ORD.n++] = (char)('0' + k);
    if (k == 2 && ORD.remove_self_once) {
        ORD.remove_self_once = false;
        ck_assert_ok(weft_signal_remove(ORD.loop, ORD.ids[1]));
    }
    if (k == 1 && ORD.remove_next) {
        ORD.remove_next = false;
        ck_assert_ok(weft_signal_remove(ORD.loop, ORD.ids[1]));
    }
    atomic_fetch_add(&ORD.calls, 1);
}

static int several_handlers_main(void *arg) {
    (void)arg;
    ORD.loop = weft_loop_current();
    for (int k = 0; k < 3; k++)
        ck_assert_ok(weft_signal_add(ORD.loop, SIGUSR1, ordered,
                                     (void *)(intptr_t)(k + 1), &ORD.ids[k]));
    /* Each handler runs, in the order they were added; 2 removes itself. */
    ORD.remove_self_once = true;
    raise(SIGUSR1);
    ck_assert_ok(wait_for_count(&ORD.calls, 3));
    raise(SIGUSR1);
    ck_assert_ok(wait_for_count(&ORD.calls, 5));
    ORD.log[ORD.n] = 0;
    ck_assert_str_eq(ORD.log, "12313");
    /* A handler removed by an earlier one of the same delivery does not
     * run, though its call was already scheduled. */
    ck_assert_ok(weft_signal_add(ORD.loop, SIGUSR1, ordered, (void *)2,
                                 &ORD.ids[1]));
    ORD.n = 0;
    ORD.remove_next = true;
    raise(SIGUSR1);
    ck_assert_ok(wait_for_count(&ORD.calls, 7));
    ck_assert_ok(weft_yield());
    ORD.log[ORD.n] = 0;
    ck_assert_str_eq(ORD.log, "13");
    ck_assert_err(weft_signal_remove(ORD.loop, ORD.ids[1]), -ENOENT);
    ck_assert_ok(weft_signal_remove(ORD.loop, ORD.ids[0]));
    ck_assert(!is_original(SIGUSR1)); /* handler 3 still catches it */
    ck_assert_ok(weft_signal_remove(ORD.loop, ORD.ids[2]));
    ck_assert(is_original(SIGUSR1));
    return 0;
}

START_TEST(several_handlers_of_one_signal_all_run_in_order) {
    memset(&ORD, 0, sizeof ORD);
    ck_assert_ok(run_real(several_handlers_main, NULL));
    ck_assert_int_eq(atomic_load(&ORD.calls), 7);
}
END_TEST

/* The disposition weft replaced (here a handler of the program's own) is
 * put back when weft lets go of the signal. */
static volatile sig_atomic_t own_calls;
static void own_handler(int signum) {
    (void)signum;
    own_calls++;
}

static int restore_main(void *arg) {
    struct seen *s = arg;
    weft_loop_t *loop = weft_loop_current();
    s->loop_thread = pthread_self();
    weft_signal_id_t id;
    ck_assert_ok(weft_signal_add(loop, SIGUSR2, record, s, &id));
    raise(SIGUSR2);
    ck_assert_ok(wait_for_count(&s->n, 1));
    ck_assert_int_eq(own_calls, 0);
    ck_assert_ok(weft_signal_remove(loop, id));
    raise(SIGUSR2); /* the program's handler runs before raise returns */
    ck_assert_int_eq(own_calls, 1);
    return 0;
}

START_TEST(removing_the_last_handler_restores_the_previous_disposition) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR2, &sa, &old), 0);
    own_calls = 0;
    struct seen s = {0};
    ck_assert_ok(run_real(restore_main, &s));
    ck_assert_int_eq(atomic_load(&s.n), 1);
    struct sigaction now;
    ck_assert_int_eq(sigaction(SIGUSR2, &old, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)own_handler);
}
END_TEST

/* ---- delivery while tasks run, and from other threads -------------------------------- */

#define BUSY_TASKS 4
#define DELIVERIES 24

struct busy {
    atomic_int delivered;
    atomic_int stop;
    long progress[BUSY_TASKS];
    pthread_t loop_thread;
    int sender_err;
};

static struct busy BUSY;

static void count_delivery(int signum, void *arg) {
    (void)arg;
    ck_assert_int_eq(signum, SIGUSR1);
    ck_assert(pthread_equal(pthread_self(), BUSY.loop_thread));
    atomic_fetch_add(&BUSY.delivered, 1);
}

static int busy_task(void *arg) {
    long *progress = arg;
    while (!atomic_load(&BUSY.stop)) {
        (*progress)++;
        int err = weft_yield();
        if (err)
            return err;
    }
    return 0;
}

/* Sends one signal at a time and waits until the loop has handled it (so
 * none are merged): by kill() to the process, by pthread_kill() to the
 * loop's thread, and by pthread_kill() to this thread itself, which is not
 * the loop's and blocks nothing. */
static void *sender(void *arg) {
    (void)arg;
    for (int i = 0; i < DELIVERIES; i++) {
        int r;
        switch (i % 3) {
        case 0:
            r = kill(getpid(), SIGUSR1);
            break;
        case 1:
            r = pthread_kill(BUSY.loop_thread, SIGUSR1);
            break;
        default:
            r = pthread_kill(pthread_self(), SIGUSR1);
            break;
        }
        if (r != 0) {
            BUSY.sender_err = errno ? errno : r;
            return NULL;
        }
        struct timespec pause = {0, 200000};
        for (int spins = 0; atomic_load(&BUSY.delivered) <= i; spins++) {
            if (spins > 100000) { /* 20 s: the loop never handled it */
                BUSY.sender_err = ETIMEDOUT;
                return NULL;
            }
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

static int busy_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    BUSY.loop_thread = pthread_self();
    weft_signal_id_t id;
    ck_assert_ok(weft_signal_add(loop, SIGUSR1, count_delivery, NULL, &id));
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    for (int i = 0; i < BUSY_TASKS; i++)
        ck_assert_ok(weft_group_spawn(&g, NULL, busy_task, &BUSY.progress[i],
                                      NULL));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, sender, NULL), 0);
    int err = wait_for_count(&BUSY.delivered, DELIVERIES);
    atomic_store(&BUSY.stop, 1);
    ck_assert_ok(weft_group_exit(&g));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_ok(err);
    ck_assert_ok(weft_signal_remove(loop, id));
    return 0;
}

START_TEST(signals_are_delivered_while_tasks_run) {
    memset(&BUSY, 0, sizeof BUSY);
    ck_assert_ok(run_real(busy_main, NULL));
    ck_assert_int_eq(BUSY.sender_err, 0);
    ck_assert_int_eq(atomic_load(&BUSY.delivered), DELIVERIES);
    for (int i = 0; i < BUSY_TASKS; i++)
        ck_assert_int_gt(BUSY.progress[i], 0);
    ck_assert(is_original(SIGUSR1));
}
END_TEST

/* Two loops in two threads that both wait for SIGUSR2 both get one kill()
 * of the process. */
struct two {
    atomic_int ready;
    int got[2];
};

static int two_loop_waiter(void *arg) {
    struct two *tw = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_sigrecv_t *rx;
    int usr2 = SIGUSR2;
    ck_assert_ok(weft_signal_open(loop, &usr2, 1, &rx));
    atomic_fetch_add(&tw->ready, 1);
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, HANG_GUARD, 0));
    int got = weft_signal_next(rx);
    weft_scope_exit(&s);
    weft_signal_close(rx);
    return got;
}

static void *second_loop(void *arg) {
    struct two *tw = arg;
    tw->got[1] = weft_run(two_loop_waiter, tw);
    return NULL;
}

static int first_loop(void *arg) {
    struct two *tw = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_sigrecv_t *rx;
    int usr2 = SIGUSR2;
    ck_assert_ok(weft_signal_open(loop, &usr2, 1, &rx));
    atomic_fetch_add(&tw->ready, 1);
    ck_assert_ok(wait_for_count(&tw->ready, 2));
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, HANG_GUARD, 0));
    int got = weft_signal_next(rx);
    weft_scope_exit(&s);
    weft_signal_close(rx);
    return got;
}

START_TEST(two_loops_in_two_threads_both_get_the_signal) {
    struct two tw = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, second_loop, &tw), 0);
    tw.got[0] = weft_run(first_loop, &tw);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_err(tw.got[0], SIGUSR2);
    ck_assert_err(tw.got[1], SIGUSR2);
    ck_assert(is_original(SIGUSR2));
}
END_TEST

/* ---- receivers and weft_signal_wait -------------------------------------------------------- */

static int receiver_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_sigrecv_t *rx;
    int sigs[] = {SIGUSR2, SIGUSR1, SIGHUP, SIGUSR1};
    ck_assert_ok(weft_signal_open(loop, sigs, 4, &rx));
    /* Three signals before anyone waits: all kept, lowest first. */
    raise(SIGUSR2);
    raise(SIGHUP);
    raise(SIGUSR1);
    ck_assert_int_eq(weft_signal_next(rx), SIGHUP);
    ck_assert_int_eq(weft_signal_next(rx), SIGUSR1);
    ck_assert_int_eq(weft_signal_next(rx), SIGUSR2);
    /* Two deliveries of one signal before the loop reacts are one. */
    raise(SIGUSR1);
    raise(SIGUSR1);
    ck_assert_int_eq(weft_signal_next(rx), SIGUSR1);
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 5.0, 0));
    ck_assert_err(weft_signal_next(rx), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(loop), 5.0, 1e-9);
    /* Still usable after the timeout. */
    raise(SIGHUP);
    ck_assert_int_eq(weft_signal_next(rx), SIGHUP);
    weft_signal_close(rx);
    ck_assert(is_original(SIGHUP));
    ck_assert(is_original(SIGUSR1));
    ck_assert(is_original(SIGUSR2));
    return 0;
}

START_TEST(a_receiver_keeps_signals_that_come_between_waits) {
    ck_assert_ok(run_virtual(receiver_main, NULL));
}
END_TEST

struct waiter {
    int result;
    bool parked;
};

static int wait_usr(void *arg) {
    struct waiter *w = arg;
    w->parked = true;
    w->result = weft_signal_wait((int[]){SIGUSR1, SIGUSR2}, 2);
    return 0;
}

static int signal_wait_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct waiter w = {.result = 1};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, wait_usr, &w, NULL));
    ck_assert_ok(weft_yield()); /* it runs up to its wait */
    ck_assert(w.parked);
    ck_assert(!is_original(SIGUSR2)); /* caught while it waits */
    raise(SIGUSR2);
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    ck_assert_int_eq(w.result, SIGUSR2);
    ck_assert(is_original(SIGUSR1)); /* and only then */
    ck_assert(is_original(SIGUSR2));

    /* Cancelled while it waits. */
    w = (struct waiter){.result = 1};
    ck_assert_ok(weft_spawn(&t, wait_usr, &w, NULL));
    ck_assert_ok(weft_sleep(3.0));
    ck_assert_int_eq(w.result, 1);
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    ck_assert_err(w.result, -ECANCELED);
    ck_assert(is_original(SIGUSR1));

    /* Cut by a deadline (the virtual clock makes it exact and instant). */
    weft_scope_t s;
    double t0 = weft_loop_time(loop);
    ck_assert_ok(weft_scope_enter(&s, 2.5, 0));
    ck_assert_err(weft_signal_wait((int[]){SIGTERM}, 1), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(loop) - t0, 2.5, 1e-9);
    ck_assert(is_original(SIGTERM));

    /* A bad set fails at once. */
    ck_assert_err(weft_signal_wait((int[]){SIGUSR1, SIGKILL}, 2), -EINVAL);
    ck_assert_err(weft_signal_wait(NULL, 1), -EINVAL);
    return 0;
}

START_TEST(signal_wait_returns_the_signal_and_is_cancellable) {
    ck_assert_ok(run_virtual(signal_wait_main, NULL));
}
END_TEST

struct rx_ctx {
    weft_sigrecv_t *rx;
    int result;
};

static int next_on(void *arg) {
    struct rx_ctx *c = arg;
    c->result = weft_signal_next(c->rx);
    return 0;
}

static int receiver_misuse_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    struct rx_ctx c = {.result = 1};
    ck_assert_ok(weft_signal_open(loop, (int[]){SIGUSR1}, 1, &c.rx));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, next_on, &c, NULL));
    ck_assert_ok(weft_yield());
    /* Another task already waits on it. */
    ck_assert_err(weft_signal_next(c.rx), -EBUSY);
    /* Closing wakes it with -EBADF. */
    weft_signal_close(c.rx);
    ck_assert(is_original(SIGUSR1));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    ck_assert_err(c.result, -EBADF);
    weft_signal_close(NULL);
    return 0;
}

START_TEST(receiver_misuse_and_close_while_waiting) {
    ck_assert_ok(run_virtual(receiver_misuse_main, NULL));
}
END_TEST

START_TEST(a_closed_loop_refuses_and_frees_leftovers) {
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    weft_signal_id_t id;
    weft_sigrecv_t *rx;
    ck_assert_ok(weft_signal_add(loop, SIGHUP, nop_handler, NULL, &id));
    ck_assert_ok(weft_signal_open(loop, (int[]){SIGUSR1}, 1, &rx));
    ck_assert(!is_original(SIGHUP));
    ck_assert(!is_original(SIGUSR1));
    ck_assert_ok(weft_loop_close(loop));
    /* Closing gives the signals back; the handler's id still names it. */
    ck_assert(is_original(SIGHUP));
    ck_assert(is_original(SIGUSR1));
    ck_assert_err(weft_signal_add(loop, SIGHUP, nop_handler, NULL, NULL),
                  -ESHUTDOWN);
    ck_assert_err(weft_signal_open(loop, (int[]){SIGHUP}, 1, &rx),
                  -ESHUTDOWN);
    ck_assert_ok(weft_signal_remove(loop, id));
    ck_assert_err(weft_signal_remove(loop, id), -ENOENT);
    /* The receiver left open is freed with the loop, and reported. */
    logcap_start();
    weft_loop_free(loop);
    ck_assert_logged(1, "signal receiver(s) still open");
    logcap_stop();
}
END_TEST

/* ---- weft_run's WEFT_RUN_SIGNALS ------------------------------------------------------------- */

struct run_ctx {
    int stop_signal;
    int sleep_result;
    int second_result;
    bool stop_requested;
    bool int_default_after;
};

static int cancelled_main(void *arg) {
    struct run_ctx *c = arg;
    ck_assert_int_eq(c->stop_signal, 0);
    ck_assert(!is_original(SIGTERM));
    ck_assert(!is_original(SIGINT));
    ck_assert_int_eq(raise(SIGTERM), 0);
    c->sleep_result = weft_sleep(HANG_GUARD);
    return c->sleep_result;
}

START_TEST(run_signals_cancels_main_on_sigterm) {
    struct run_ctx c = {0};
    c.stop_signal = -1;
    weft_run_opts_t o;
    memset(&o, 0, sizeof o);
    o.flags = WEFT_RUN_SIGNALS;
    o.stop_signal = &c.stop_signal;
    ck_assert_err(weft_run_opts(cancelled_main, &c, &o), -ECANCELED);
    ck_assert_err(c.sleep_result, -ECANCELED);
    ck_assert_int_eq(c.stop_signal, SIGTERM);
    ck_assert(is_original(SIGTERM));
    ck_assert(is_original(SIGINT));
}
END_TEST

/* With a grace period: the first SIGINT is a soft cancel (a stoppable wait
 * ends, a plain one does not), the second a hard one, after which weft lets
 * go of the signals. */
static int graceful_main(void *arg) {
    struct run_ctx *c = arg;
    ck_assert_int_eq(raise(SIGINT), 0);
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, INFINITY, WEFT_SCOPE_STOPPABLE));
    c->sleep_result = weft_sleep(HANG_GUARD);
    weft_scope_exit(&s);
    c->stop_requested = weft_stop_requested();
    ck_assert_int_eq(c->stop_signal, SIGINT);
    ck_assert(!is_original(SIGINT)); /* still caught during the grace */
    ck_assert_int_eq(raise(SIGINT), 0);
    c->second_result = weft_sleep(HANG_GUARD);
    c->int_default_after = is_original(SIGINT) && is_original(SIGTERM);
    return 7; /* main decides what its shutdown returns */
}

START_TEST(run_signals_with_grace_soft_then_hard) {
    struct run_ctx c = {0};
    weft_run_opts_t o;
    memset(&o, 0, sizeof o);
    o.flags = WEFT_RUN_SIGNALS;
    o.grace = 1000;
    o.stop_signal = &c.stop_signal;
    ck_assert_int_eq(weft_run_opts(graceful_main, &c, &o), 7);
    ck_assert_err(c.sleep_result, -ECANCELED);
    ck_assert(c.stop_requested);
    ck_assert_err(c.second_result, -ECANCELED);
    ck_assert(c.int_default_after);
    ck_assert_int_eq(c.stop_signal, SIGINT);
}
END_TEST

static int clean_main(void *arg) {
    struct run_ctx *c = arg;
    (void)c;
    return 0;
}

START_TEST(run_signals_options_are_checked_and_released) {
    struct run_ctx c = {0};
    weft_run_opts_t o;
    memset(&o, 0, sizeof o);
    o.flags = 1u << 7;
    ck_assert_err(weft_run_opts(clean_main, &c, &o), -EINVAL);
    o.flags = WEFT_RUN_SIGNALS;
    o.grace = NAN;
    ck_assert_err(weft_run_opts(clean_main, &c, &o), -EINVAL);
    /* No signal: main's status, stop_signal 0, nothing left caught. */
    o.grace = 0;
    c.stop_signal = 99;
    o.stop_signal = &c.stop_signal;
    ck_assert_ok(weft_run_opts(clean_main, &c, &o));
    ck_assert_int_eq(c.stop_signal, 0);
    ck_assert(is_original(SIGINT));
    ck_assert(is_original(SIGTERM));
}
END_TEST

static Suite *signal_suite(void) {
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, note_originals, NULL);
    tcase_add_test(tc, signals_that_cannot_be_caught_are_refused);
    tcase_add_test(tc, waits_outside_a_task_are_refused);
    tcase_add_test(tc, calls_from_a_foreign_thread_are_refused);
    tcase_add_test(tc, a_handler_runs_as_a_plain_callback_on_the_loop_thread);
    tcase_add_test(tc, a_signal_before_the_loop_runs_is_handled_when_it_does);
    tcase_add_test(tc, several_handlers_of_one_signal_all_run_in_order);
    tcase_add_test(tc,
                   removing_the_last_handler_restores_the_previous_disposition);
    tcase_add_test(tc, signals_are_delivered_while_tasks_run);
    tcase_add_test(tc, two_loops_in_two_threads_both_get_the_signal);
    tcase_add_test(tc, a_receiver_keeps_signals_that_come_between_waits);
    tcase_add_test(tc, signal_wait_returns_the_signal_and_is_cancellable);
    tcase_add_test(tc, receiver_misuse_and_close_while_waiting);
    tcase_add_test(tc, a_closed_loop_refuses_and_frees_leftovers);
    tcase_add_test(tc, run_signals_cancels_main_on_sigterm);
    tcase_add_test(tc, run_signals_with_grace_soft_then_hard);
    tcase_add_test(tc, run_signals_options_are_checked_and_released);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(signal_suite)
