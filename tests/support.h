/* Test support: Check glue, running a task on a virtual-clock loop and
 * reading its time, capturing weft's log lines so tests can assert that
 * misuse is reported, allocator hooks that notice calls from other
 * threads, and temporary directories. */
#ifndef WEFT_TEST_SUPPORT_H
#define WEFT_TEST_SUPPORT_H

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <weft.h>

/* Assert a weft call returned `want` (printing both names on failure). */
#define ck_assert_err(got, want)                                               \
    do {                                                                       \
        int g_ = (got), w_ = (want);                                           \
        ck_assert_msg(g_ == w_, "%s returned %d (%s), expected %d (%s)",       \
                      #got, g_, weft_err_name(g_), w_, weft_err_name(w_));     \
    } while (0)

#define ck_assert_ok(got) ck_assert_err((got), 0)

/* A repeatable pseudo-random number below n (xorshift64: the same
 * sequence every run, so a failing random case fails again). */
static inline unsigned test_rnd(uint64_t *state, unsigned n) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (unsigned)(x % n);
}

/* The stack pointer of the calling frame (inlined into it). */
static inline __attribute__((always_inline)) char *stack_pointer(void) {
    char *sp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    sp = (char *)__builtin_frame_address(0);
#endif
    return sp;
}

/* Run fn(arg) as the main task of a new loop with a virtual clock. */
static inline int run_virtual(weft_task_fn fn, void *arg) {
    weft_run_opts_t o;
    memset(&o, 0, sizeof o);
    o.loop.flags = WEFT_LOOP_VIRTUAL_CLOCK;
    return weft_run_opts(fn, arg, &o);
}

/* The current loop's time; assert that it is `t`. */
static inline double now(void) {
    return weft_loop_time(weft_loop_current());
}

#define ck_assert_time(t) ck_assert_double_eq_tol(now(), (t), 1e-9)

/* Capture log lines: count and keep the last. */
struct logcap {
    int n;
    int level;
    char last[512];
};

static struct logcap logcap;

static inline void logcap_fn(int level, const char *msg, void *arg) {
    (void)arg;
    logcap.n++;
    logcap.level = level;
    snprintf(logcap.last, sizeof logcap.last, "%s", msg);
}

static inline void logcap_start(void) {
    memset(&logcap, 0, sizeof logcap);
    weft_set_log_handler(logcap_fn, NULL, NULL);
}

static inline void logcap_stop(void) {
    weft_set_log_handler(NULL, NULL, NULL);
}

/* Assert that exactly `n` lines were logged since logcap_start, the last
 * one containing `needle`. */
#define ck_assert_logged(n_, needle)                                           \
    do {                                                                       \
        ck_assert_int_eq(logcap.n, (n_));                                      \
        ck_assert_msg(strstr(logcap.last, (needle)) != NULL,                   \
                      "last log line '%s' lacks '%s'", logcap.last, (needle)); \
    } while (0)

/* Allocator hooks for weft_replace_allocator that count the calls made on
 * any thread but hooks_thread in hooks_foreign. */
static pthread_t hooks_thread;
static atomic_int hooks_foreign;

static inline void hooks_check_thread(void) {
    if (!pthread_equal(pthread_self(), hooks_thread))
        atomic_fetch_add(&hooks_foreign, 1);
}

static inline void *hooks_malloc(size_t n) {
    hooks_check_thread();
    return malloc(n);
}

static inline void *hooks_realloc(void *p, size_t n) {
    hooks_check_thread();
    return realloc(p, n);
}

static inline void *hooks_calloc(size_t n, size_t size) {
    hooks_check_thread();
    return calloc(n, size);
}

static inline void hooks_free(void *p) {
    hooks_check_thread();
    free(p);
}

/* Install them, with the calling thread as hooks_thread; returns what
 * weft_replace_allocator returned. */
static inline int hooks_install(void) {
    hooks_thread = pthread_self();
    return weft_replace_allocator(hooks_malloc, hooks_realloc, hooks_calloc,
                                  hooks_free);
}

/* Where temporary files and directories go: $TMPDIR, or /tmp. */
static inline const char *tmp_dir(void) {
    const char *base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

static inline int rm_tree_one(const char *path, const struct stat *st,
                              int type, struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Remove `path` and everything below it. */
static inline void rm_tree(const char *path) {
    nftw(path, rm_tree_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* main(): run the suite made by make_suite(); exit status 1 on failure. */
#define WEFT_TEST_MAIN(make_suite)                                             \
    int main(void) {                                                           \
        SRunner *sr = srunner_create(make_suite());                            \
        srunner_run_all(sr, CK_NORMAL);                                        \
        int failed = srunner_ntests_failed(sr);                                \
        srunner_free(sr);                                                      \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                           \
    }

#endif
