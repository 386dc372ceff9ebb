/* Seeing inside a running program: the task dump's content (every kind of
 * wait, how long, spawn sites, backtraces, the summary of 100,000 tasks),
 * the loop's counters, debug mode (slow steps, timer lag, streams and
 * servers left open, lost failures), watched iterations (a tracer
 * attached), and the dump on SIGQUIT. The gdb extension and the
 * tracepoints' notes are checked by tests/test_gdb.sh and
 * tests/test_probes.sh. */
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The loop's layout depends on the context switch the library uses. */
#if defined(WEFT_TEST_CORO_UCONTEXT) && !defined(WEFT_CORO_UCONTEXT)
#define WEFT_CORO_UCONTEXT 1
#endif
#include "loop/loop_int.h"
#include "support.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* ---- capturing every log line -------------------------------------------- */

static char logbuf[1 << 16];
static size_t loglen;
static int loglines;

static void log_all(int level, const char *msg, void *arg) {
    (void)level;
    (void)arg;
    int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
    if (n > 0 && loglen + (size_t)n < sizeof logbuf)
        loglen += (size_t)n;
    loglines++;
}

static void log_all_start(void) {
    loglen = 0;
    loglines = 0;
    logbuf[0] = 0;
    weft_set_log_handler(log_all, NULL, NULL);
}

#define ck_assert_has(hay, needle)                                             \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "'%s' not in:\n%s",        \
                  (needle), (hay))

/* The dump of the current loop as a string (free it). */
static char *dump_string(const weft_dump_opts_t *opts) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_ok(weft_dump_tasks(NULL, f, opts));
    fclose(f);
    return buf;
}

/* The line of `dump` that starts with `prefix` (NULL if none), copied. */
static const char *line_of(const char *dump, const char *prefix) {
    static char line[1024];
    const char *p = dump;
    size_t n = strlen(prefix);
    while (p && *p) {
        if (strncmp(p, prefix, n) == 0) {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len >= sizeof line)
                len = sizeof line - 1;
            memcpy(line, p, len);
            line[len] = 0;
            return line;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

/* ---- a zoo of waits --------------------------------------------------------- */

struct zoo {
    weft_lock_t lock;
    weft_event_t never, locked;
    weft_queue_t queue;
    weft_stream_t *in, *out;
    weft_task_t *sleeper, *holder;
};

static int sleeper(void *arg) {
    (void)arg;
    return weft_sleep(100);
}

static int holder(void *arg) {
    struct zoo *z = arg;
    ck_assert_ok(weft_lock_acquire(&z->lock));
    weft_event_set(&z->locked);
    int err = weft_sleep(100);
    weft_lock_release(&z->lock);
    return err;
}

static int lock_waiter(void *arg) {
    struct zoo *z = arg;
    int err = weft_event_wait(&z->locked);
    if (err == 0)
        err = weft_lock_acquire(&z->lock);
    if (err == 0)
        weft_lock_release(&z->lock);
    return err;
}

static int event_waiter(void *arg) {
    struct zoo *z = arg;
    return weft_event_wait(&z->never);
}

static int consumer(void *arg) {
    struct zoo *z = arg;
    void *item;
    return weft_queue_get(&z->queue, &item);
}

/* A frame of its own under the read, to find in the backtrace. */
static __attribute__((noinline)) int reader_deep(weft_stream_t *s) {
    char buf[64];
    ssize_t n = weft_stream_read(s, buf, sizeof buf);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
    return n < 0 ? (int)n : 0;
}

static int reader(void *arg) {
    struct zoo *z = arg;
    return reader_deep(z->in);
}

static int joiner(void *arg) {
    struct zoo *z = arg;
    return weft_join(z->sleeper);
}

static int group_owner(void *arg) {
    (void)arg;
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    weft_spawn_opts_t so = {.name = "child"};
    ck_assert_ok(weft_group_spawn(&g, NULL, sleeper, NULL, &so));
    ck_assert_ok(weft_group_spawn(&g, NULL, sleeper, NULL, &so));
    return weft_group_exit(&g);
}

/* Cancelled, but waiting on in a shield, inside a deadline of 10 s. */
static int shielded(void *arg) {
    struct zoo *z = arg;
    weft_scope_t dl, sh;
    ck_assert_ok(weft_scope_enter(&dl, 10, 0));
    ck_assert_ok(weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD));
    int err = weft_event_wait(&z->never);
    weft_scope_exit(&sh);
    weft_scope_exit(&dl);
    return err;
}

/* noinline: the dump names it as the spawn site. */
static __attribute__((noinline)) void start_zoo(weft_group_t *g,
                                                struct zoo *z) {
    memset(z, 0, sizeof *z);
    weft_lock_init(&z->lock);
    weft_event_init(&z->never);
    weft_event_init(&z->locked);
    weft_queue_init(&z->queue, 0);
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &z->in, &z->out, NULL));
    ck_assert_ok(weft_group_enter(g));
    weft_spawn_opts_t so = {.name = "sleeper"};
    ck_assert_ok(weft_group_spawn(g, &z->sleeper, sleeper, NULL, &so));
    so.name = "holder";
    ck_assert_ok(weft_group_spawn(g, &z->holder, holder, z, &so));
    const struct {
        const char *name;
        weft_task_fn fn;
    } rest[] = {{"lock_waiter", lock_waiter}, {"event_waiter", event_waiter},
                {"consumer", consumer},       {"reader", reader},
                {"joiner", joiner},           {"group_owner", group_owner}};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
        so.name = rest[i].name;
        ck_assert_ok(weft_group_spawn(g, NULL, rest[i].fn, z, &so));
    }
    weft_task_t *t;
    so.name = "shielded";
    ck_assert_ok(weft_group_spawn(g, &t, shielded, z, &so));
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_task_cancel(t));
    weft_task_release(t);
}

static void stop_zoo(weft_group_t *g, struct zoo *z) {
    weft_group_cancel(g);
    weft_event_set(&z->never); /* the shielded one */
    weft_group_exit(g);
    weft_task_release(z->sleeper);
    weft_task_release(z->holder);
    weft_stream_close(z->in);
    weft_stream_close(z->out);
    weft_queue_destroy(&z->queue, NULL, NULL);
    weft_event_destroy(&z->never);
    weft_event_destroy(&z->locked);
    weft_lock_destroy(&z->lock);
}

static char expect[256];

static int dump_zoo_main(void *arg) {
    (void)arg;
    struct zoo z;
    weft_group_t g;
    start_zoo(&g, &z);
    /* Everyone has parked at 0; the dump comes 2 s later. */
    ck_assert_ok(weft_sleep(2));
    char *d = dump_string(NULL);

    ck_assert_has(d, "weft task dump: loop ");
    ck_assert_has(d, "at 2.000 s, 12 task(s)");
    const char *l = line_of(d, "        11 waiting: ");
    ck_assert_msg(l != NULL, "no waiting line in:\n%s", d);
    ck_assert_has(l, "4 sleep"); /* sleeper, holder, the 2 children */
    ck_assert_has(l, "1 lock");
    ck_assert_has(l, "2 event");
    ck_assert_has(l, "1 queue get");
    ck_assert_has(l, "1 read");
    ck_assert_has(l, "1 future");
    ck_assert_has(l, "1 group exit");
    ck_assert_has(d, "         1 running\n");
    ck_assert_has(d, "  (1 of them cancelled)\n");

    snprintf(expect, sizeof expect,
             "task %llu 'sleeper': waiting 2.000 s: sleep until 100.000 s "
             "(in 98.000 s)\n",
             (unsigned long long)weft_task_id(z.sleeper));
    ck_assert_has(d, expect);
    snprintf(expect, sizeof expect, "held by task %llu\n",
             (unsigned long long)weft_task_id(z.holder));
    ck_assert_has(d, expect);
    snprintf(expect, sizeof expect,
             "'joiner': waiting 2.000 s: future: joining task %llu "
             "'sleeper'\n",
             (unsigned long long)weft_task_id(z.sleeper));
    ck_assert_has(d, expect);
    snprintf(expect, sizeof expect,
             "'reader': waiting 2.000 s: read on fd %d (unix ",
             weft_stream_fd(z.in));
    ck_assert_has(d, expect);
    ck_assert_has(d, "'group_owner': waiting 2.000 s: group exit: 2 "
                     "child(ren) left; in 1 scope(s) (1 group(s))\n");
    ck_assert_has(d, "'consumer': waiting 2.000 s: queue get 0x");
    ck_assert_has(d, "'event_waiter': waiting 2.000 s: event 0x");
    ck_assert_has(d, "'shielded': waiting 2.000 s: event 0x");
    ck_assert_has(d, "; cancelled; in 2 scope(s), deadline in 8.000 s, "
                     "shielded\n");
    ck_assert_has(d, "': running; in 1 scope(s) (1 group(s))\n");
    /* Functions and spawn sites, by symbol (static ones too). */
    ck_assert_has(d, "      fn sleeper");
    ck_assert_has(d, "      fn reader");
    ck_assert_has(d, ", spawned at start_zoo");
    ck_assert_has(d, ", spawned at group_owner");
    ck_assert_has(d, "end of task dump\n");
#ifdef WEFT_TEST_BACKTRACE
    /* The reader's parked stack, from the switch up through our frames. */
    const char *r = strstr(d, "'reader': waiting");
    ck_assert_ptr_nonnull(r);
    /* #0 is weft__park (asm switch) or the ucontext switch under it. */
    const char *park = strstr(r, " weft__park+");
    const char *deep = strstr(r, " reader_deep+");
    const char *next = strstr(r + 1, "\ntask ");
    ck_assert_msg(park && deep && (!next || deep < next),
                  "no backtrace through reader_deep in:\n%s", r);
    ck_assert_ptr_nonnull(strstr(r, " weft_stream_read+"));
    /* The running task's own stack. */
    ck_assert_has(d, " dump_zoo_main+");
#else
    ck_assert_has(d, "(no backtrace: this build cannot walk stacks)");
#endif
    free(d);
    stop_zoo(&g, &z);
    return 0;
}

START_TEST(dump_says_what_each_task_waits_for) {
    ck_assert_ok(run_virtual(dump_zoo_main, NULL));
}
END_TEST

/* ---- many tasks ------------------------------------------------------------------ */

static int parked_forever(void *arg) {
    (void)arg;
    return weft_sleep(1e6);
}

static __attribute__((noinline)) void spawn_many(size_t n) {
    weft_spawn_opts_t so = {.name = "many", .stack_size = 2048 * 4};
    for (size_t i = 0; i < n; i++)
        ck_assert_ok(weft_spawn(NULL, parked_forever, NULL, &so));
}

static int many_main(void *arg) {
    size_t n = *(size_t *)arg;
    spawn_many(n);
    ck_assert_ok(weft_yield());
    weft_dump_opts_t o = {.max_tasks = 5, .flags = WEFT_DUMP_NO_BACKTRACE};
    char *d = dump_string(&o);
    snprintf(expect, sizeof expect, "%zu task(s)\n", n + 1);
    ck_assert_has(d, expect);
    snprintf(expect, sizeof expect, "%10zu waiting: %zu sleep\n", n, n);
    ck_assert_has(d, expect);
    snprintf(expect, sizeof expect, "%10zu spawn_many+", n);
    ck_assert_has(d, expect);
    ck_assert_has(d, " -> parked_forever");
    snprintf(expect, sizeof expect,
             "tasks (5 of %zu; weft_dump_opts_t.max_tasks for more):\n",
             n + 1);
    ck_assert_has(d, expect);
    /* Five tasks described, no more. */
    int tasks = 0;
    for (const char *p = d; (p = strstr(p, "\ntask ")); p++)
        tasks++;
    ck_assert_int_eq(tasks, 5);
    free(d);
    weft_loop_stats_t st = {0};
    ck_assert_ok(weft_loop_stats(NULL, &st));
    ck_assert_uint_eq(st.tasks_alive, n + 1);
    ck_assert_uint_eq(st.tasks_spawned, n + 1);
    return 0;
}

START_TEST(dump_summarises_a_hundred_thousand_tasks) {
    size_t n = 100000;
#ifdef __SANITIZE_THREAD__
    n = 1000; /* TSan: each task is a thread to it (docs/design.md) */
#endif
    if (RUNNING_ON_VALGRIND)
        n = 5000;
    ck_assert_ok(run_virtual(many_main, &n));
}
END_TEST

/* A task with a small stack can dump: it goes without libunwind. */
static int small_dumper(void *arg) {
    (void)arg;
    char *d = dump_string(NULL);
#ifdef WEFT_TEST_BACKTRACE
    ck_assert_has(d, "(no backtrace: the dumping task has less than 16 KiB "
                     "of stack left)");
#endif
    ck_assert_has(d, "'small': running");
    ck_assert_has(d, "end of task dump\n");
    free(d);
    return 0;
}

static int small_main(void *arg) {
    (void)arg;
    ck_assert_ok(weft_spawn(NULL, parked_forever, NULL, NULL));
    weft_spawn_opts_t so = {.name = "small", .stack_size = 14 * 1024};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, small_dumper, NULL, &so));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    return 0;
}

START_TEST(a_task_with_a_small_stack_can_dump) {
    ck_assert_ok(run_virtual(small_main, NULL));
}
END_TEST

/* ---- to the log; misuse ----------------------------------------------------------- */

static int log_main(void *arg) {
    (void)arg;
    ck_assert_ok(weft_spawn(NULL, parked_forever, NULL, NULL));
    ck_assert_ok(weft_yield());
    log_all_start();
    ck_assert_ok(weft_dump_tasks(NULL, NULL, NULL));
    logcap_stop();
    ck_assert_int_ge(loglines, 8);
    ck_assert_has(logbuf, "weft task dump: loop ");
    ck_assert_has(logbuf, "sleep until 1000000.000 s");
    ck_assert_has(logbuf, "end of task dump\n");
    return 0;
}

START_TEST(dump_goes_to_the_log_without_a_file) {
    ck_assert_ok(run_virtual(log_main, NULL));
}
END_TEST

static void *dump_from_thread(void *arg) {
    return (void *)(intptr_t)weft_dump_tasks(arg, stderr, NULL);
}

START_TEST(dump_is_refused_off_the_loop_thread) {
    ck_assert_err(weft_dump_tasks(NULL, stderr, NULL), -EINVAL);
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    logcap_start();
    pthread_t th;
    void *ret;
    ck_assert_int_eq(pthread_create(&th, NULL, dump_from_thread, loop), 0);
    pthread_join(th, &ret);
    logcap_stop();
    ck_assert_err((int)(intptr_t)ret, -EPERM);
    ck_assert_logged(1, "weft_dump_tasks");
    /* Between runs, from its thread: fine (no task yet). */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ok(weft_dump_tasks(loop, f, NULL));
    fclose(f);
    ck_assert_has(buf, "not running) at ");
    ck_assert_has(buf, "0 task(s)");
    free(buf);
    weft_loop_free(loop);
}
END_TEST

/* A task of a loop on another thread that uses our loop is named. */
static void noop_cb(void *arg) {
    (void)arg;
}

static int intruder(void *arg) {
    return weft_call_soon(arg, noop_cb, NULL, NULL);
}

static void *intrude(void *arg) {
    weft_spawn_opts_t so = {.name = "intruder"};
    weft_run_opts_t o = {.main = so};
    return (void *)(intptr_t)weft_run_opts(intruder, arg, &o);
}

START_TEST(a_task_using_another_threads_loop_is_named) {
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    log_all_start();
    pthread_t th;
    void *ret;
    ck_assert_int_eq(pthread_create(&th, NULL, intrude, loop), 0);
    pthread_join(th, &ret);
    logcap_stop();
    ck_assert_err((int)(intptr_t)ret, -EPERM);
    snprintf(expect, sizeof expect,
             "weft_call_soon: loop %p used from a thread that does not own "
             "it (by task 'intruder' (id ",
             (void *)loop);
    ck_assert_has(logbuf, expect);
    weft_loop_free(loop);
}
END_TEST

/* ---- counters ----------------------------------------------------------------------- */

static int cb_runs;

static void count_cb(void *arg) {
    (void)arg;
    cb_runs++;
}

static int nothing(void *arg) {
    (void)arg;
    return 0;
}

static int stats_main(void *arg) {
    (void)arg;
    weft_loop_stats_t a = {0}, b = {0};
    ck_assert_ok(weft_loop_stats(NULL, &a));
    for (int i = 0; i < 10; i++)
        ck_assert_ok(weft_spawn(NULL, nothing, NULL, NULL));
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_call_soon(weft_loop_current(), count_cb, NULL, NULL));
    ck_assert_ok(weft_sleep(0.5)); /* one timer */
    weft_stream_t *x, *y;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &x, &y, NULL));
    ck_assert_ok(weft_stream_write(x, "ping", 4));
    char buf[8];
    ck_assert_int_eq(weft_stream_read(y, buf, sizeof buf), 4);
    ck_assert_ok(weft_loop_stats(NULL, &b));
    ck_assert_uint_eq(b.tasks_spawned - a.tasks_spawned, 10);
    ck_assert_uint_eq(b.tasks_alive, 1); /* main; the ten have ended */
    ck_assert_uint_eq(b.callbacks_run - a.callbacks_run, 3);
    ck_assert_int_eq(cb_runs, 3);
    ck_assert_uint_eq(b.timers_armed - a.timers_armed, 1);
    ck_assert_uint_eq(b.timers_pending, 0);
    ck_assert_uint_eq(b.io_ops - a.io_ops, 2); /* the write and the read */
    ck_assert_uint_gt(b.iterations, a.iterations);
    ck_assert_uint_gt(b.busy_ns, 0);
    /* Kept in debug mode only. */
    ck_assert_uint_eq(b.slow_steps + b.lag_samples + b.poll_ns, 0);
    weft_stream_close(x);
    weft_stream_close(y);
    return 0;
}

START_TEST(stats_count_what_the_loop_did) {
    ck_assert_ok(run_virtual(stats_main, NULL));
    weft_loop_stats_t st;
    ck_assert_err(weft_loop_stats(NULL, &st), -EINVAL); /* no loop */
}
END_TEST

/* ---- debug mode ----------------------------------------------------------------------- */

static void block_for_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int blocker(void *arg) {
    (void)arg;
    block_for_ms(30); /* holds the loop */
    return 0;
}

static void slow_cb(void *arg) {
    (void)arg;
    block_for_ms(30);
}

static int failing(void *arg) {
    (void)arg;
    return -EIO;
}

static int slow_main(void *arg) {
    bool debug = *(bool *)arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert(weft_loop_get_debug(loop) == debug);
    ck_assert_ok(weft_loop_set_slow_step(loop, 0.01));
    weft_spawn_opts_t so = {.name = "blocker"};
    ck_assert_ok(weft_spawn(NULL, blocker, NULL, &so));
    ck_assert_ok(weft_call_soon(loop, slow_cb, NULL, NULL));
    so.name = "failing";
    ck_assert_ok(weft_spawn(NULL, failing, NULL, &so));
    ck_assert_ok(weft_sleep(0.05)); /* a timer, for the lag */
    weft_loop_stats_t st = {0};
    ck_assert_ok(weft_loop_stats(NULL, &st));
    if (debug) {
        ck_assert_uint_ge(st.slow_steps, 2);
        ck_assert_uint_ge(st.lag_samples, 1);
        ck_assert_uint_gt(st.poll_ns, 0);
    } else {
        ck_assert_uint_eq(st.slow_steps, 0);
    }
    return 0;
}

START_TEST(debug_mode_names_slow_steps_and_their_spawn_site) {
    bool debug = true;
    weft_run_opts_t o = {.loop.flags = WEFT_LOOP_DEBUG};
    log_all_start();
    ck_assert_ok(weft_run_opts(slow_main, &debug, &o));
    logcap_stop();
    ck_assert_has(logbuf, "executing task 'blocker' (id ");
    ck_assert_has(logbuf, ", fn blocker");
    ck_assert_has(logbuf, ", spawned at slow_main+");
    ck_assert_has(logbuf, ") took 0.0");
    ck_assert_has(logbuf, "executing callback slow_cb");
    /* A lost failure names where the task came from, in debug mode. */
    ck_assert_has(logbuf, "task 'failing' (id ");
    ck_assert_has(logbuf, "spawned at slow_main+");
    ck_assert_has(logbuf, ") failed with EIO");
}
END_TEST

START_TEST(without_debug_mode_nothing_is_reported) {
    bool debug = false;
    ck_assert_ok(setenv("WEFT_DEBUG", "0", 1));
    log_all_start();
    ck_assert_ok(weft_run_opts(slow_main, &debug, NULL));
    logcap_stop();
    ck_assert_ptr_null(strstr(logbuf, "executing"));
    ck_assert_ptr_null(strstr(logbuf, "spawned at"));
    ck_assert_has(logbuf, "task 'failing' (id ");
    ck_assert_has(logbuf, ") failed with EIO");
}
END_TEST

START_TEST(weft_debug_in_the_environment_turns_it_on) {
    weft_loop_t *loop;
    ck_assert_ok(setenv("WEFT_DEBUG", "1", 1));
    ck_assert_ok(weft_loop_new(&loop, NULL));
    ck_assert(weft_loop_get_debug(loop));
    ck_assert_ok(weft_loop_set_debug(loop, false));
    ck_assert(!weft_loop_get_debug(loop));
    weft_loop_free(loop);
    ck_assert_ok(setenv("WEFT_DEBUG", "0", 1));
    ck_assert_ok(weft_loop_new(&loop, NULL));
    ck_assert(!weft_loop_get_debug(loop));
    ck_assert_err(weft_loop_set_slow_step(loop, -1), -EINVAL);
    ck_assert_err(weft_loop_set_slow_step(loop, NAN), -EINVAL);
    weft_loop_free(loop);
    ck_assert_ok(unsetenv("WEFT_DEBUG"));
}
END_TEST

/* ---- streams and servers left open ------------------------------------------------------ */

struct leaks {
    weft_stream_t *a, *b;
    weft_server_t *srv;
};

static int echo_nothing(weft_stream_t *s, void *arg) {
    (void)s;
    (void)arg;
    return 0;
}

static int leaker(void *arg) {
    struct leaks *lk = arg;
    /* Many opened and closed first: none of them is reported. */
    for (int i = 0; i < 3000; i++) {
        weft_stream_t *x, *y;
        ck_assert_ok(weft_stream_pair(weft_loop_current(), &x, &y, NULL));
        weft_stream_close(y);
        weft_stream_close(x);
    }
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &lk->a, &lk->b, NULL));
    weft_stream_close(lk->b); /* closed: not reported */
    return weft_start_server(weft_loop_current(), &lk->srv, "127.0.0.1", "0",
                             echo_nothing, NULL, NULL);
}

START_TEST(debug_mode_names_who_left_streams_and_servers_open) {
    weft_loop_t *loop;
    weft_loop_opts_t o = {.flags = WEFT_LOOP_DEBUG};
    ck_assert_ok(weft_loop_new(&loop, &o));
    struct leaks lk = {0};
    weft_task_t *t;
    weft_spawn_opts_t so = {.name = "leaker"};
    ck_assert_ok(weft_loop_spawn(loop, &t, leaker, &lk, &so));
    ck_assert_ok(weft_loop_run_until_complete(loop, weft_task_future(t)));
    weft_task_release(t);
    log_all_start();
    ck_assert_ok(weft_loop_close(loop));
    logcap_stop();
    snprintf(expect, sizeof expect, "stream %p (fd %d) opened by task "
                                    "'leaker' (id ",
             (void *)lk.a, weft_stream_fd(lk.a));
    ck_assert_has(logbuf, expect);
    ck_assert_has(logbuf, "was never closed (weft_stream_close)");
    snprintf(expect, sizeof expect, "server %p (port ", (void *)lk.srv);
    ck_assert_has(logbuf, expect);
    ck_assert_has(logbuf, "started by task 'leaker'");
    ck_assert_int_eq(loglines, 2);
    /* After the close, freeing what was left is still allowed. */
    weft_stream_close(lk.a);
    weft_server_close(lk.srv, 0);
    weft_loop_free(loop);
}
END_TEST

/* ---- watched iterations: a tracer attached ------------------------------------------- */

static int order[64];
static int norder;

static int pinger(void *arg) {
    for (int i = 0; i < 5; i++) {
        if (norder < 64)
            order[norder++] = (int)(intptr_t)arg;
        ck_assert_ok(weft_yield());
    }
    return 0;
}

static int pingpong_main(void *arg) {
    (void)arg;
    norder = 0;
    weft_task_t *a, *b;
    ck_assert_ok(weft_spawn(&a, pinger, (void *)1, NULL));
    ck_assert_ok(weft_spawn(&b, pinger, (void *)2, NULL));
    ck_assert_ok(weft_join(a));
    ck_assert_ok(weft_join(b));
    weft_task_release(a);
    weft_task_release(b);
    return (int)weft_loop_current()->dbg.steps;
}

START_TEST(a_tracer_makes_the_loop_run_items_one_by_one) {
    int plain[64], nplain;
    int steps = run_virtual(pingpong_main, NULL);
    ck_assert_int_eq(steps, 0); /* not watched */
    memcpy(plain, order, sizeof order);
    nplain = norder;
    /* What perf or bpftrace does when it attaches to task_switch. */
    weft_task_switch_semaphore = 1;
    steps = run_virtual(pingpong_main, NULL);
    weft_task_switch_semaphore = 0;
    ck_assert_int_gt(steps, 10);
    ck_assert_int_eq(norder, nplain);
    ck_assert_mem_eq(order, plain, (size_t)norder * sizeof order[0]);
}
END_TEST

/* ---- the dump on SIGQUIT ---------------------------------------------------------------- */

static int sigquit_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(weft_dump_on_signal(loop, SIGQUIT));
    ck_assert_err(weft_dump_on_signal(loop, SIGQUIT), -EALREADY);
    ck_assert_err(weft_dump_on_signal(loop, 0), -EINVAL);
    weft_spawn_opts_t so = {.name = "victim"};
    ck_assert_ok(weft_spawn(NULL, parked_forever, NULL, &so));
    ck_assert_ok(weft_yield());
    raise(SIGQUIT);
    /* The dump is made by the loop, between two steps. */
    for (int i = 0; i < 100; i++)
        ck_assert_ok(weft_sleep(0.001));
    return 0;
}

START_TEST(sigquit_prints_the_dump_and_the_program_goes_on) {
    char path[256];
    snprintf(path, sizeof path, "%s/weft-sigquit-XXXXXX", tmp_dir());
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    int err = run_virtual(sigquit_main, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ck_assert_ok(err);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_has(buf, "weft: signal 3 (Quit): task dump of loop ");
    ck_assert_has(buf, "'victim': waiting ");
    ck_assert_has(buf, "end of task dump\n");
}
END_TEST

static Suite *debug_suite(void) {
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("debug");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dump_says_what_each_task_waits_for);
    tcase_add_test(tc, dump_summarises_a_hundred_thousand_tasks);
    tcase_add_test(tc, dump_goes_to_the_log_without_a_file);
    tcase_add_test(tc, a_task_with_a_small_stack_can_dump);
    tcase_add_test(tc, dump_is_refused_off_the_loop_thread);
    tcase_add_test(tc, a_task_using_another_threads_loop_is_named);
    tcase_add_test(tc, stats_count_what_the_loop_did);
    tcase_add_test(tc, debug_mode_names_slow_steps_and_their_spawn_site);
    tcase_add_test(tc, without_debug_mode_nothing_is_reported);
    tcase_add_test(tc, weft_debug_in_the_environment_turns_it_on);
    tcase_add_test(tc, debug_mode_names_who_left_streams_and_servers_open);
    tcase_add_test(tc, a_tracer_makes_the_loop_run_items_one_by_one);
    tcase_add_test(tc, sigquit_prints_the_dump_and_the_program_goes_on);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(debug_suite)
