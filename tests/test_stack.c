/* Task stacks: the smallest stack is enough for weft's own calls, every
 * size class of the pool survives spawn, join, release, reuse, detached
 * tasks and parking mixed, a program that binds lazily gets stacks its
 * resolver fits in, freed task memory is poisoned under ASan, and the pool
 * gives a burst's memory back (issue 16 items 8, 10, 11; issue 17 item 4). */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
/* The library's view of a task: built for ucontext, its context holds one
 * more field. */
#if defined(WEFT_TEST_CORO_UCONTEXT) && !defined(WEFT_CORO_UCONTEXT)
#define WEFT_CORO_UCONTEXT 1
#endif
#include "task/task_int.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- the smallest stack ------------------------------------------------------
 * Tasks on WEFT_STACK_MIN, packed next to each other, go through every kind
 * of wait weft has and are cancelled in them. Each paints the free part of
 * its stack first and finds afterwards how deep weft's calls went below its
 * frame: at most WEFT__STACK_NEED (task.h documents it). An overflow would
 * trip a canary (abort) or corrupt a neighbour's task structure. */

#define PAINT 0xA5

enum script {
    S_YIELD,
    S_SLEEP,
    S_CANCELLED_IN_SLEEP,
    S_CANCELLED_BEFORE_START,
    S_CANCELLED_IN_AWAIT,
    S_CANCELLED_IN_JOIN,
    S_SCOPE_TIMEOUT,
    S_GROUP,
    S_EVENT,
    S_COUNT
};

struct small {
    enum script script;
    weft_future_t *fut;
    weft_event_t *ev;
    int rc;
    size_t depth;
};

static size_t max_depth;

static int sleeper(void *arg) {
    return weft_sleep((double)(intptr_t)arg);
}

static int small_task(void *arg) {
    struct small *s = arg;
    struct weft_task *t = weft__task_current();
    /* Everything from the bottom of the stack to a little below this frame
     * (past the red zone the compiler may use without moving rsp). */
    char *sp = stack_pointer();
    char *top = sp - 256;
    bool paint = !RUNNING_ON_VALGRIND; /* memcheck: writes below sp */
    if (paint)
        for (volatile char *p = t->stack.lo; p < top; p++)
            *p = (char)PAINT;
    switch (s->script) {
    case S_YIELD:
        s->rc = weft_yield();
        break;
    case S_SLEEP:
        s->rc = weft_sleep(0.5);
        break;
    case S_CANCELLED_IN_SLEEP:
    case S_CANCELLED_BEFORE_START:
        s->rc = weft_sleep(100);
        break;
    case S_CANCELLED_IN_AWAIT:
        s->rc = weft_await(s->fut, NULL);
        break;
    case S_CANCELLED_IN_JOIN: {
        weft_task_t *c;
        s->rc = weft_spawn(&c, sleeper, (void *)100, NULL);
        if (s->rc == 0) {
            s->rc = weft_join(c);
            weft_task_release(c);
        }
        break;
    }
    case S_SCOPE_TIMEOUT: {
        weft_scope_t sc;
        weft_scope_enter(&sc, 0.25, 0);
        weft_sleep(1);
        s->rc = weft_scope_exit(&sc);
        break;
    }
    case S_GROUP: {
        weft_group_t g;
        weft_group_enter(&g);
        weft_group_spawn(&g, NULL, sleeper, (void *)1, NULL);
        s->rc = weft_group_exit(&g);
        break;
    }
    case S_EVENT:
        s->rc = weft_event_wait(s->ev);
        break;
    case S_COUNT:
        break;
    }
    if (paint) {
        const char *p = t->stack.lo;
        while (p < top && *p == (char)PAINT)
            p++;
        s->depth = (size_t)(sp - p);
    }
    return 0;
}

#define PER_SCRIPT 8

static int minimum_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    static struct small sm[S_COUNT * PER_SCRIPT];
    weft_task_t *t[S_COUNT * PER_SCRIPT];
    weft_future_t *fut;
    static weft_event_t event;
    weft_event_t *ev = &event;
    ck_assert_ok(weft_future_new(loop, &fut));
    ck_assert_ok(weft_event_init(ev));
    weft_spawn_opts_t o = {.stack_size = WEFT_STACK_MIN};
    size_t n = 0;
    for (int k = 0; k < PER_SCRIPT; k++)
        for (int sc = 0; sc < S_COUNT; sc++, n++) {
            sm[n] = (struct small){.script = sc, .fut = fut, .ev = ev,
                                   .rc = 1};
            ck_assert_ok(weft_spawn(&t[n], small_task, &sm[n], &o));
            if (sc == S_CANCELLED_BEFORE_START)
                ck_assert_ok(weft_task_cancel(t[n]));
        }
    ck_assert_ok(weft_sleep(0.1)); /* all parked */
    for (size_t i = 0; i < n; i++)
        if (sm[i].script == S_CANCELLED_IN_SLEEP ||
            sm[i].script == S_CANCELLED_IN_AWAIT ||
            sm[i].script == S_CANCELLED_IN_JOIN)
            ck_assert_ok(weft_task_cancel(t[i]));
    ck_assert_ok(weft_event_set(ev));
    for (size_t i = 0; i < n; i++) {
        ck_assert_ok(weft_join(t[i]));
        weft_task_release(t[i]);
        int want = 0;
        switch (sm[i].script) {
        case S_CANCELLED_IN_SLEEP:
        case S_CANCELLED_BEFORE_START:
        case S_CANCELLED_IN_AWAIT:
        case S_CANCELLED_IN_JOIN:
            want = -ECANCELED;
            break;
        case S_SCOPE_TIMEOUT:
            want = -ETIMEDOUT;
            break;
        default:
            break;
        }
        ck_assert_msg(sm[i].rc == want, "script %d returned %s", sm[i].script,
                      weft_err_name(sm[i].rc));
        if (sm[i].depth > max_depth)
            max_depth = sm[i].depth;
        if (getenv("WEFT_TEST_VERBOSE"))
            printf("script %d: %zu bytes\n", sm[i].script, sm[i].depth);
    }
    weft_future_release(fut);
    ck_assert_ok(weft_event_destroy(ev));
    return 0;
}

START_TEST(a_minimal_task_on_the_minimum_stack_waits_and_is_cancelled) {
    ck_assert_ok(run_virtual(minimum_main, NULL));
    if (!RUNNING_ON_VALGRIND)
        ck_assert_msg(max_depth > 0 && max_depth <= WEFT__STACK_NEED,
                      "weft's calls went %zu bytes deep (documented: at most "
                      "%d)",
                      max_depth, WEFT__STACK_NEED);
    printf("stack: weft's waits went %zu bytes below the calling frame\n",
           max_depth);
}
END_TEST

/* ---- every size class of the pool ------------------------------------------
 * Sub-page slots (several per page, each next to its neighbour's task
 * structure), unguarded page-sized ones, guarded ones. In each: tasks
 * joined and released, detached tasks, parked tasks, yielding tasks, then
 * the same again in the slots just freed (LIFO reuse), interleaved. Every
 * task checks its argument and returns a value that is checked: a task
 * structure overwritten by a neighbour would show. */

#define MIX_MAGIC 0x5eedf00du

struct mixer {
    uint32_t magic;
    int index;
    int mode; /* 0 return at once, 1 yield, 2 park until cancelled */
    long *live;
};

static int mix_fn(void *arg) {
    struct mixer *m = arg;
    ck_assert_uint_eq(m->magic, MIX_MAGIC);
    int r = m->index;
    (*m->live)++;
    if (m->mode == 1) {
        for (int i = 0; i < 3; i++)
            ck_assert_ok(weft_yield());
    } else if (m->mode == 2) {
        ck_assert_err(weft_sleep(1e6), -ECANCELED);
        r = -ECANCELED;
    }
    (*m->live)--;
    ck_assert_uint_eq(m->magic, MIX_MAGIC);
    return r;
}

#define MIX_N 48

static int mix_round(size_t size, long *live) {
    struct mixer m[MIX_N];
    weft_task_t *t[MIX_N];
    weft_spawn_opts_t o = {.stack_size = size};
    for (int i = 0; i < MIX_N; i++) {
        m[i] = (struct mixer){MIX_MAGIC, i, i % 3, live};
        if (i % 8 == 7) { /* detached: it returns or yields, never parks */
            m[i].mode = i % 2;
            ck_assert_ok(weft_spawn(NULL, mix_fn, &m[i], &o));
            t[i] = NULL;
        } else {
            ck_assert_ok(weft_spawn(&t[i], mix_fn, &m[i], &o));
        }
        if (i % 5 == 4) /* let some run (and some finish) in between */
            ck_assert_ok(weft_yield());
    }
    /* Join the ones that end by themselves; release every other one at
     * once so its slot is reused by the next spawns while the parked ones
     * sit next to it. */
    for (int i = 0; i < MIX_N; i++) {
        if (!t[i] || m[i].mode == 2)
            continue;
        ck_assert_int_eq(weft_join(t[i]), i);
        weft_task_release(t[i]);
        t[i] = NULL;
    }
    struct mixer again[MIX_N / 2];
    weft_task_t *ta[MIX_N / 2];
    for (int i = 0; i < MIX_N / 2; i++) {
        again[i] = (struct mixer){MIX_MAGIC, 1000 + i, i % 2, live};
        ck_assert_ok(weft_spawn(&ta[i], mix_fn, &again[i], &o));
    }
    ck_assert_ok(weft_sleep(0.01)); /* everything parks or ends */
    for (int i = 0; i < MIX_N / 2; i++) {
        ck_assert_int_eq(weft_join(ta[i]), 1000 + i);
        weft_task_release(ta[i]);
    }
    for (int i = 0; i < MIX_N; i++) {
        if (!t[i])
            continue;
        ck_assert_ok(weft_task_cancel(t[i]));
        ck_assert_err(weft_join(t[i]), -ECANCELED);
        weft_task_release(t[i]);
    }
    ck_assert_ok(weft_sleep(0.01)); /* detached ones end */
    ck_assert_int_eq(*live, 0);
    return 0;
}

static int size_classes_main(void *arg) {
    (void)arg;
    static const size_t sizes[] = {
        WEFT_STACK_MIN, 1536, 2048, 2500, 3000, 4096, 6000, 8192, 12000,
        16 * 1024, 24 * 1024, 64 * 1024, 256 * 1024};
    long live = 0;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            mix_round(sizes[i], &live);
    return 0;
}

START_TEST(every_size_class_mixes_spawn_join_release_reuse_detach_and_park) {
    ck_assert_ok(run_virtual(size_classes_main, NULL));
}
END_TEST

/* The issue's own program, in-process: two quick tasks joined and released,
 * then ten sleepers parked in the slots they left. */
static long repro_parked;

static int repro_quick(void *arg) {
    (void)arg;
    return 0;
}

static int repro_sleeper(void *arg) {
    (void)arg;
    repro_parked++;
    return weft_sleep(1e6);
}

static int repro_main(void *arg) {
    weft_spawn_opts_t o = {.stack_size = (size_t)(uintptr_t)arg};
    weft_task_t *a, *b;
    repro_parked = 0;
    ck_assert_ok(weft_spawn(&a, repro_quick, NULL, &o));
    ck_assert_ok(weft_spawn(&b, repro_quick, NULL, &o));
    ck_assert_ok(weft_join(a));
    ck_assert_ok(weft_join(b));
    weft_task_release(a);
    weft_task_release(b);
    for (int i = 0; i < 10; i++)
        ck_assert_ok(weft_spawn(NULL, repro_sleeper, NULL, &o));
    while (repro_parked < 10)
        ck_assert_ok(weft_yield());
    return 0;
}

START_TEST(parked_tasks_in_reused_small_slots) {
    static const size_t sizes[] = {1024, 1536, 2048, 2500, 3000, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        ck_assert_ok(weft_run(repro_main, (void *)(uintptr_t)sizes[i]));
}
END_TEST

/* ---- lazy binding ------------------------------------------------------------ */

static int run_child(const char *path, bool bind_now, char *out,
                     size_t outsz) {
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        if (bind_now)
            setenv("LD_BIND_NOW", "1", 1);
        else
            unsetenv("LD_BIND_NOW");
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < outsz && (k = read(pfd[0], out + n, outsz - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = 0;
    close(pfd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(a_program_that_binds_lazily_gets_stacks_its_resolver_fits) {
    char out[4096];
    int st = run_child(STACK_LAZY_CHILD, false, out, sizeof out);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the lazily bound child failed (status %#x): %s", st, out);
    ck_assert_msg(strstr(out, "all parked") && strstr(out, "cancelled 10"),
                  "output: %s", out);
    ck_assert_msg(strstr(out, "binds library functions lazily"),
                  "no word of lazy binding: %s", out);
    /* Bound at start: nothing to say, and it runs the same. */
    st = run_child(STACK_LAZY_CHILD, true, out, sizeof out);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st,
                  out);
    ck_assert_msg(!strstr(out, "lazily"), "output: %s", out);
}
END_TEST

/* ---- freed task memory is poisoned under ASan -------------------------------- */

#ifdef UNDER_ASAN
static int poisoned_main(void *arg) {
    (void)arg;
    weft_spawn_opts_t o = {.stack_size = 8192};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, repro_quick, NULL, &o));
    ck_assert_ok(weft_join(t));
    void *mem = t;
    char *stack = weft__task_of(weft_task_future(t))->stack.lo;
    ck_assert(!__asan_address_is_poisoned(mem));
    weft_task_release(t); /* the last reference: freed */
    ck_assert_msg(__asan_address_is_poisoned(mem),
                  "a freed task's memory is not poisoned");
    ck_assert(__asan_address_is_poisoned(stack + 100));
    /* Handed out again (LIFO: the same slot), it is the new task's. */
    weft_task_t *t2;
    ck_assert_ok(weft_spawn(&t2, repro_quick, NULL, &o));
    ck_assert_ptr_eq(t2, mem);
    ck_assert(!__asan_address_is_poisoned(mem));
    ck_assert_ok(weft_join(t2));
    weft_task_release(t2);
    return 0;
}

START_TEST(freed_task_memory_is_poisoned) {
    ck_assert_ok(run_virtual(poisoned_main, NULL));
}
END_TEST
#endif

/* ---- giving a burst's memory back (issue 17 item 4) --------------------------- */

#define BURST 1000
#define BURST_DEPTH (16 * 1024)

static long burst_parked;

static __attribute__((noinline)) int deep_then_park(void *arg) {
    (void)arg;
    volatile char buf[BURST_DEPTH]; /* a handshake's worth of stack */
    for (size_t i = 0; i < sizeof buf; i += 512)
        buf[i] = (char)i;
    burst_parked++;
    int r = weft_sleep(0.5);
    return r + buf[0] * 0;
}

static void burst(weft_stack_stats_t *peak, weft_stack_stats_t *after) {
    weft_loop_t *loop = weft_loop_current();
    weft_task_t **t = malloc(BURST * sizeof *t);
    ck_assert_ptr_nonnull(t);
    burst_parked = 0;
    for (int i = 0; i < BURST; i++)
        ck_assert_ok(weft_spawn(&t[i], deep_then_park, NULL, NULL));
    while (burst_parked < BURST)
        ck_assert_ok(weft_yield());
    ck_assert_ok(weft_loop_stack_stats(loop, peak));
    for (int i = 0; i < BURST; i++) {
        ck_assert_ok(weft_join(t[i]));
        weft_task_release(t[i]);
    }
    free(t);
    ck_assert_ok(weft_loop_stack_stats(loop, after));
}

static int trim_call_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_stack_stats_t peak, after, trimmed;
    burst(&peak, &after);
    ck_assert_uint_eq(peak.in_use, BURST + 1);
    ck_assert_uint_ge(peak.resident, (size_t)BURST * BURST_DEPTH);
    ck_assert_uint_ge(peak.mapped, peak.resident);
    ck_assert_uint_ge(peak.chunks, 2);
    /* All finished: nothing given back yet. */
    ck_assert_uint_eq(after.in_use, 1);
    ck_assert_uint_eq(after.chunks, peak.chunks);
    ck_assert_uint_ge(after.resident, (size_t)BURST * BURST_DEPTH);
    size_t released;
    ck_assert_ok(weft_loop_stack_trim(loop, &released));
    ck_assert_ok(weft_loop_stack_stats(loop, &trimmed));
    printf("stack pool: peak %zu slots in %zu chunks, %zu KiB resident; "
           "trimmed: %zu chunk(s), %zu KiB resident (%zu KiB given back)\n",
           peak.slots, peak.chunks, peak.resident / 1024, trimmed.chunks,
           trimmed.resident / 1024, released / 1024);
    ck_assert_uint_eq(trimmed.in_use, 1);
    ck_assert_uint_eq(trimmed.chunks, 1); /* the one holding this task */
    ck_assert_uint_ge(released, (size_t)BURST * BURST_DEPTH);
    ck_assert_uint_le(trimmed.resident, 1024 * 1024);
    /* The pool still works, in the slots it gave the pages of back. */
    ck_assert_ok(weft_spawn(NULL, deep_then_park, NULL, NULL));
    ck_assert_ok(weft_sleep(1));
    return 0;
}

START_TEST(an_explicit_trim_gives_a_burst_back) {
    ck_assert_ok(run_virtual(trim_call_main, NULL));
    weft_stack_stats_t st;
    ck_assert_err(weft_loop_stack_stats(NULL, &st), -EINVAL);
    ck_assert_err(weft_loop_stack_trim(NULL, NULL), -EINVAL);
}
END_TEST

static int trim_idle_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_stack_stats_t peak, after, idle, later;
    burst(&peak, &after);
    /* Idle for a moment: empty chunks go, but one spare (a next burst
     * would map it again at once); free slots keep their pages. (The loop
     * looks at most once a second, when it is about to wait.) */
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_loop_stack_stats(loop, &idle));
    ck_assert_uint_eq(idle.chunks, 2);
    ck_assert_uint_lt(idle.mapped, peak.mapped);
    /* Idle for longer than WEFT__STACK_IDLE: the rest goes. */
    ck_assert_ok(weft_sleep(WEFT__STACK_IDLE + 1));
    ck_assert_ok(weft_sleep(1));
    ck_assert_ok(weft_loop_stack_stats(loop, &later));
    printf("stack pool, idle: %zu KiB resident in %zu chunks after the "
           "burst, %zu KiB in %zu after 1 s, %zu KiB in %zu after %d s\n",
           after.resident / 1024, after.chunks, idle.resident / 1024,
           idle.chunks, later.resident / 1024, later.chunks,
           WEFT__STACK_IDLE + 2);
    ck_assert_uint_eq(later.chunks, 1);
    ck_assert_uint_le(later.resident, 1024 * 1024);
    ck_assert_uint_eq(later.in_use, 1);
    return 0;
}

START_TEST(an_idle_loop_gives_a_burst_back) {
    ck_assert_ok(run_virtual(trim_idle_main, NULL));
}
END_TEST

/* A busy loop does not: slots reused within the period keep their pages. */
static int trim_busy_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_stack_stats_t peak, after, busy;
    burst(&peak, &after);
    for (int s = 0; s < 3 * WEFT__STACK_IDLE; s++) {
        /* A task a second, in the hottest slot. */
        ck_assert_ok(weft_spawn(NULL, deep_then_park, NULL, NULL));
        ck_assert_ok(weft_sleep(1));
    }
    ck_assert_ok(weft_loop_stack_stats(loop, &busy));
    /* The cold slots went; the hot one kept its pages. */
    ck_assert_uint_le(busy.resident, 1024 * 1024);
    ck_assert_uint_ge(busy.resident, BURST_DEPTH);
    return 0;
}

START_TEST(slots_in_use_keep_their_pages) {
    ck_assert_ok(run_virtual(trim_busy_main, NULL));
}
END_TEST

/* ---- hibernation (issue 15) ---------------------------------------------------
 * A parked task's stack is copied aside and its pages given back; woken,
 * it finds its frames as they were, at the same addresses. */

static size_t page(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Pages of [lo, hi) the kernel holds (mincore). */
static size_t resident_pages(const char *lo, const char *hi) {
    uintptr_t a = (uintptr_t)lo & ~(uintptr_t)(page() - 1);
    size_t n = ((uintptr_t)hi - a + page() - 1) / page();
    unsigned char vec[64];
    ck_assert_uint_le(n, sizeof vec);
    ck_assert_int_eq(mincore((void *)a, n * page(), vec), 0);
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

struct sleeper {
    weft_stream_t *in; /* wait for a byte from it; NULL: sleep */
    double secs;       /* how long to sleep */
    weft_event_t go;   /* (only for a wait that cannot hibernate) */
    char *local;       /* points into the sleeper's stack */
    uint64_t *deep;    /* a frame two pages down */
    int woke;          /* what its wait returned */
    bool intact;       /* its frames were as it left them */
};

static __attribute__((noinline)) int sleep_deep(struct sleeper *z, int depth) {
    volatile uint64_t pad[1024]; /* 8 KiB: the wait parks pages down */
    for (size_t i = 0; i < 1024; i++)
        pad[i] = (uint64_t)i * 0x9E3779B97F4A7C15u + (uint64_t)depth;
    z->deep = (uint64_t *)(uintptr_t)&pad[7];
    if (depth > 0)
        return sleep_deep(z, depth - 1);
    char c;
    if (z->in)
        z->woke = (int)weft_stream_read(z->in, &c, 1) == 1 ? 0 : -EIO;
    else if (z->secs > 0)
        z->woke = weft_sleep(z->secs);
    else
        z->woke = weft_event_wait(&z->go);
    bool ok = true;
    for (size_t i = 0; i < 1024; i++)
        ok &= pad[i] == (uint64_t)i * 0x9E3779B97F4A7C15u + (uint64_t)depth;
    return ok ? 0 : -EIO;
}

static int sleeper_main(void *arg) {
    struct sleeper *z = arg;
    char local[200];
    for (int i = 0; i < 200; i++)
        local[i] = (char)(i * 7);
    z->local = local;
    int r = sleep_deep(z, 1);
    bool ok = r == 0;
    for (int i = 0; i < 200; i++)
        ok &= local[i] == (char)(i * 7);
    z->intact = ok;
    return z->woke;
}

/* The task above the sleeper: switches while the sleeper's pages (with
 * this task's canary at their top) are gone. */
static int neighbour_main(void *arg) {
    int *rounds = arg;
    for (; *rounds > 0; (*rounds)--)
        ck_assert_ok(weft_yield());
    return 0;
}

static int just_sleep(void *arg) {
    (void)arg;
    return weft_sleep(1e6);
}

static int hibernate_main(void *arg) {
    (void)arg;
    for (int round = 0; round < 3; round++) {
        /* Round 0 waits for a byte (an I/O wait), round 1 sleeps and is
         * cancelled, round 2 sleeps until its timer fires. */
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        struct sleeper z = {.woke = 1, .secs = round == 1 ? 1e6 : 0.02};
        ck_assert_ok(weft_stream_from_fd(weft_loop_current(), &z.in, fds[0],
                                         NULL));
        if (round > 0) {
            weft_stream_close(z.in);
            z.in = NULL;
        }
        weft_task_t *t;
        ck_assert_ok(weft_spawn(&t, sleeper_main, &z, NULL));
        /* Not started yet: nothing to hibernate. */
        ck_assert_err(weft_task_hibernate(t), -EBUSY);
        ck_assert_ok(weft_sleep(0)); /* it runs, and parks */
        ck_assert_ptr_nonnull(z.deep);
        struct weft_task *it = t;
        ck_assert(it->stack.paged);
        const char *slot_top = it->stack.hi + 16;
        ck_assert_uint_gt(resident_pages(it->stack.lo, slot_top), 2);
        ck_assert_ok(weft_task_hibernate(t));
        ck_assert_err(weft_task_hibernate(t), -EALREADY);
        /* Every page of its slot is back with the kernel (nothing has
         * looked at the top page, where a slot above keeps its canary:
         * none is in use). */
        ck_assert_uint_eq(resident_pages(it->stack.lo, slot_top), 0);
        if (round == 0)
            ck_assert_int_eq(write(fds[1], "!", 1), 1);
        else if (round == 1)
            ck_assert_ok(weft_task_cancel(t));
        int r = weft_join(t);
        ck_assert_int_eq(r, round == 1 ? -ECANCELED : 0);
        ck_assert_int_eq(z.woke, round == 1 ? -ECANCELED : 0);
        ck_assert(z.intact);
        weft_task_release(t);
        if (z.in)
            weft_stream_close(z.in);
        else
            close(fds[0]);
        close(fds[1]);
    }
    ck_assert_err(weft_task_hibernate(weft_task_current()), -EBUSY);
    ck_assert_err(weft_task_hibernate(NULL), -EINVAL);
    /* A wait whose record others walk (an event's waiters): refused; a
     * small stack: refused. */
    for (int k = 0; k < 2; k++) {
        struct sleeper z = {.woke = 1, .secs = k ? 1e6 : 0};
        ck_assert_ok(weft_event_init(&z.go));
        weft_spawn_opts_t small = {.stack_size = 8192};
        weft_task_t *t;
        ck_assert_ok(weft_spawn(&t, k ? just_sleep : sleeper_main, &z,
                                k ? &small : NULL));
        ck_assert_ok(weft_sleep(0));
        ck_assert_err(weft_task_hibernate(t), k ? -ENOTSUP : -EBUSY);
        if (k)
            ck_assert_ok(weft_task_cancel(t));
        else
            ck_assert_ok(weft_event_set(&z.go));
        ck_assert_int_eq(weft_join(t), k ? -ECANCELED : 0);
        weft_task_release(t);
        ck_assert_ok(weft_event_destroy(&z.go));
    }
    return 0;
}

/* A task parked with a 4 KiB buffer parts of which it has declared dead
 * (weft__task_hibernate_except): the rest must come back intact. */
struct deadbuf {
    uint64_t *buf;
    bool dead[512]; /* set before the wake: words that may read zero */
    bool live_ok, dead_ok;
};

static int dead_main(void *arg) {
    struct deadbuf *d = arg;
    uint64_t buf[512];
    for (size_t i = 0; i < 512; i++)
        buf[i] = (uint64_t)i * 0x9E3779B97F4A7C15u;
    d->buf = buf;
    int r = weft_sleep(0.02);
    d->live_ok = d->dead_ok = true;
    for (size_t i = 0; i < 512; i++) {
        uint64_t v = *(volatile uint64_t *)&buf[i];
        if (d->dead[i]) /* dead: zero, or as it was */
            d->dead_ok &= v == 0 || v == (uint64_t)i * 0x9E3779B97F4A7C15u;
        else
            d->live_ok &= v == (uint64_t)i * 0x9E3779B97F4A7C15u;
    }
    return r;
}

/* Spans of a dead_main's buffer, in words, with bytes added at either
 * end (a span is cut to the whole words within). */
struct wspan {
    size_t lo, hi;
    size_t lo_plus, hi_plus;
};

/* Hibernates a fresh dead_main leaving out the n spans of w (n == 0: a
 * range of this task's own stack instead, which is not in the copy
 * anyway), and returns the size of the copy, once it has woken with the
 * live part intact. */
static size_t hibernate_without(const struct wspan *w, size_t n) {
    struct deadbuf d = {0};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, dead_main, &d, NULL));
    ck_assert_ok(weft_sleep(0)); /* it runs, and parks */
    char mine[64];
    struct weft__span dead[WEFT__STACK_DEAD_MAX] = {{mine, mine + sizeof mine}};
    for (size_t i = 0; i < n; i++) {
        dead[i].lo = (const char *)(d.buf + w[i].lo) + w[i].lo_plus;
        dead[i].hi = (const char *)(d.buf + w[i].hi) + w[i].hi_plus;
        for (size_t k = w[i].lo + (w[i].lo_plus > 0); k < w[i].hi; k++)
            d.dead[k] = true;
    }
    ck_assert_ok(weft__task_hibernate_except(t, dead, n ? n : 1));
    struct weft_task *it = t;
    size_t size = weft__stack_copy_size(it->asleep);
    ck_assert_ok(weft_join(t));
    ck_assert(d.live_ok && d.dead_ok);
    weft_task_release(t);
    return size;
}

static int dead_range_main(void *arg) {
    (void)arg;
    size_t full = hibernate_without(NULL, 0);
    struct wspan half = {128, 384, 0, 0};
    ck_assert_uint_eq(full - hibernate_without(&half, 1),
                      256 * sizeof(uint64_t));
    /* Out of order, overlapping, one cut to its whole words ([11, 20)),
     * one empty once cut. */
    struct wspan some[] = {
        {400, 450, 0, 0}, {150, 300, 0, 0}, {10, 20, 3, 5},
        {100, 200, 0, 0}, {30, 31, 1, 0},
    };
    ck_assert_uint_eq(full - hibernate_without(some, 5),
                      (200 + 50 + 9) * sizeof(uint64_t));
    /* More spans than a copy takes: refused, the task still parked. */
    struct deadbuf d = {0};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, dead_main, &d, NULL));
    ck_assert_ok(weft_sleep(0));
    struct weft__span many[WEFT__STACK_DEAD_MAX + 1] = {{0}};
    ck_assert_err(weft__task_hibernate_except(t, many, WEFT__STACK_DEAD_MAX + 1),
                  -EINVAL);
    ck_assert_ok(weft_join(t));
    ck_assert(d.live_ok);
    weft_task_release(t);
    return 0;
}

/* The copy encodes each word by its class (weft__stack_hibernate): a
 * buffer with words of every class, high halves that come back after
 * others (the move-to-front), must wake as it was; mostly zeros, it must
 * take a fraction of its size. (A property test of the encoding alone,
 * with random words and spans, ran 500,000 rounds clean in review.) */
struct mixbuf {
    bool sparse; /* zeros but every 64th word */
    bool ok;
};

/* Word i: of class i % 10 (zero, 1, 2 and 4 low bytes, a small negative,
 * then high halves of three kinds in the order stack, heap-like, other,
 * heap-like, stack, so that each comes back as the most recent, the
 * second and the third: every class of the encoding), and every 70th a
 * word of its own high half. */
static uint64_t mix_word(size_t i, const uint64_t *self, bool sparse) {
    if (sparse && i % 64)
        return 0;
    uint64_t x = i * 0x9E3779B97F4A7C15u;
    if (i % 70 == 9)
        return x;
    switch (i % 10) {
    case 0: return 0;
    case 1: return (i & 0xff) | 1;
    case 2: return 0x1234 + i;
    case 3: return 0x12345678u + i;
    case 4: return (uint64_t)-(int64_t)(i + 1000);
    case 5:
    case 9: return (uint64_t)(uintptr_t)(self + i);
    case 6:
    case 8: return 0x0000555500000000u | (x & 0xffffffffu);
    default: return 0x0123456700000000u | (x & 0xffffffffu);
    }
}

static int mix_main(void *arg) {
    struct mixbuf *m = arg;
    uint64_t buf[1024];
    for (size_t i = 0; i < 1024; i++)
        buf[i] = mix_word(i, buf, m->sparse);
    int r = weft_sleep(0.02);
    m->ok = true;
    for (size_t i = 0; i < 1024; i++)
        m->ok &= *(volatile uint64_t *)&buf[i] ==
                 mix_word(i, buf, m->sparse);
    return r;
}

static int mix_copy_main(void *arg) {
    (void)arg;
    for (int sparse = 0; sparse < 2; sparse++) {
        struct mixbuf m = {.sparse = sparse};
        weft_task_t *t;
        ck_assert_ok(weft_spawn(&t, mix_main, &m, NULL));
        ck_assert_ok(weft_sleep(0));
        ck_assert_ok(weft_task_hibernate(t));
        struct weft_task *it = t;
        size_t size = weft__stack_copy_size(it->asleep);
        size_t held = weft__stack_copy_held(it->asleep);
        ck_assert_uint_ge(size, 1024 * sizeof(uint64_t));
        /* (Under Valgrind every word is kept as it is.) */
        if (sparse && !RUNNING_ON_VALGRIND)
            ck_assert_msg(held < size / 4, "held %zu of %zu", held, size);
        ck_assert_ok(weft_join(t));
        ck_assert(m.ok);
        weft_task_release(t);
    }
    return 0;
}

START_TEST(a_copy_wakes_with_words_of_every_class) {
    ck_assert_ok(weft_run(mix_copy_main, NULL));
}
END_TEST

START_TEST(a_dead_range_is_left_out_of_the_copy) {
    ck_assert_ok(weft_run(dead_range_main, NULL));
}
END_TEST

START_TEST(a_hibernated_task_wakes_with_its_stack_or_is_cancelled) {
    ck_assert_ok(weft_run(hibernate_main, NULL));
}
END_TEST

static int neighbours_main(void *arg) {
    (void)arg;
    /* The sleeper, then a task in the slot above it (fresh slots are
     * carved upwards): that one's canary lies in the sleeper's top page. */
    struct sleeper z = {.woke = 1, .secs = 1e6};
    weft_task_t *t, *n;
    int rounds = 1000;
    ck_assert_ok(weft_spawn(&t, sleeper_main, &z, NULL));
    ck_assert_ok(weft_spawn(&n, neighbour_main, &rounds, NULL));
    struct weft_task *it = t, *above = n;
    ck_assert_ptr_eq(above->stack.canary, (uint64_t *)(void *)it->stack.hi);
    ck_assert_ok(weft_yield()); /* both run; the sleeper parks */
    ck_assert_ok(weft_task_hibernate(t));
    ck_assert_uint_eq(resident_pages(it->stack.lo, it->stack.hi - page()), 0);
    /* The neighbour switches 500 times over a canary that reads zero. */
    while (rounds > 500)
        ck_assert_ok(weft_yield());
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    ck_assert(z.intact);
    /* Woken, the sleeper wrote the neighbour's canary back. */
    ck_assert_uint_eq(above->stack.canary[0], above->canary[0]);
    ck_assert_ok(weft_join(n));
    weft_task_release(t);
    weft_task_release(n);
    return 0;
}

START_TEST(the_task_above_a_hibernated_one_runs_on) {
    ck_assert_ok(weft_run(neighbours_main, NULL));
}
END_TEST

static Suite *stack_suite(void) {
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("small");
    tcase_add_test(tc,
                   a_minimal_task_on_the_minimum_stack_waits_and_is_cancelled);
    tcase_add_test(tc,
                   every_size_class_mixes_spawn_join_release_reuse_detach_and_park);
    tcase_add_test(tc, parked_tasks_in_reused_small_slots);
    tcase_add_test(tc,
                   a_program_that_binds_lazily_gets_stacks_its_resolver_fits);
#ifdef UNDER_ASAN
    tcase_add_test(tc, freed_task_memory_is_poisoned);
#endif
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    TCase *tr = tcase_create("trim");
    tcase_add_test(tr, an_explicit_trim_gives_a_burst_back);
    tcase_add_test(tr, an_idle_loop_gives_a_burst_back);
    tcase_add_test(tr, slots_in_use_keep_their_pages);
    tcase_set_timeout(tr, 60);
    suite_add_tcase(s, tr);

    TCase *th = tcase_create("hibernate");
    tcase_add_test(th, a_hibernated_task_wakes_with_its_stack_or_is_cancelled);
    tcase_add_test(th, a_dead_range_is_left_out_of_the_copy);
    tcase_add_test(th, a_copy_wakes_with_words_of_every_class);
    tcase_add_test(th, the_task_above_a_hibernated_one_runs_on);
    tcase_set_timeout(th, 60);
    suite_add_tcase(s, th);
    return s;
}

WEFT_TEST_MAIN(stack_suite)
