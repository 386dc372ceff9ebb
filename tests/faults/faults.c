/* Fault injection, the way SQLite's test suite does it: run each scenario
 * (scenarios.c) over and over, making the 1st allocation fail in run 1,
 * the 2nd in run 2, and so on until a run completes with nothing injected
 * (-m alloc); or, the same way, cancelling the task at its 1st, 2nd, ...
 * suspension point (-m cancel: weft_task_cancel from weft__park_hook), or
 * expiring its innermost deadline scope there (-m deadline).
 * weft's allocator hooks (weft_replace_allocator) are the seam, and
 * OpenSSL's (CRYPTO_set_mem_functions) and c-ares's
 * (ares_library_init_mem) count in the same sequence, so a failure inside
 * a TLS handshake or a lookup is injected too.
 *
 * Every run must end cleanly: the scenario returns (no crash, no hang: an
 * alarm aborts a run that takes too long), its loop closes, weft's live
 * allocations come back to where they were (counted here, at once, per
 * run; OpenSSL's and c-ares's are left to LeakSanitizer at exit), the
 * process has as many descriptors open as before, and the scenario's own
 * invariants hold (CHECK in scenarios.c). A run in which nothing was
 * injected must succeed.
 *
 *   faults [-m alloc|cancel|deadline] [-s STRIDE] [-f] [-v] [-b] [-p N]
 *          [-t SECS] [SCENARIO...]
 *
 * -s: fail every STRIDE-th point only (CI; default: each scenario's own
 * stride, 1 for most); -f: every point (make faults); -v: print each
 * run's result; -b: a backtrace where each fault is injected; -p: start
 * at point N; -t: seconds a run may take. Exit status 0 when every run
 * ended cleanly. */
#include <dirent.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <ares.h>
#include <openssl/crypto.h>

#include "scenarios.h"
#include "task/task_int.h"

/* ---- counting allocators ---------------------------------------------------- */

static bool backtraces;
enum { MODE_ALLOC, MODE_CANCEL, MODE_DEADLINE };
static int mode = MODE_ALLOC;
static const char *const mode_names[] = {"alloc", "cancel", "deadline"};

static atomic_bool armed;      /* count (and maybe fail) allocations */
static atomic_long nalloc;     /* allocations counted in this run */
static long fail_at;           /* the allocation to fail (0: none) */
static long npark;             /* suspension points counted in this run */
static long park_at;           /* the one to interrupt (0: none) */
static atomic_bool injected;   /* it was reached */
static atomic_long live;       /* weft's blocks now allocated */
static long first_point = 1; /* -p: start there */

static void print_backtrace(const char *what, long n) {
    void *pc[32];
    int depth = backtrace(pc, 32);
    fprintf(stderr, "faults: %s %ld here:\n", what, n);
    backtrace_symbols_fd(pc, depth, 2);
}

static bool fail_now(void) {
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return false;
    long n = atomic_fetch_add(&nalloc, 1) + 1;
    if (n != fail_at)
        return false;
    atomic_store(&injected, true);
    if (backtraces) /* -b: where the injected failure is */
        print_backtrace("failing allocation", n);
    return true;
}

/* weft__park_hook: cancel the task, or expire its innermost scope, at
 * its park_at-th suspension point of the run. In deadline mode only the
 * points inside a scope count (elsewhere there is nothing to expire). */
static bool internal_task(struct weft_task *t) {
    /* Tasks weft runs for itself, which only weft cancels (when the
     * server, watcher, receiver or runner they serve closes): an acceptor
     * cancelled behind its server's back would leave a listening socket
     * nobody accepts on, which no program can do. The connection handlers
     * ("conn") are fair game: servers cancel them. */
    static const char *const names[] = {"acceptor", "communicate",
                                        "weft-fswatch", "weft-signals",
                                        "web-close", "connect-attempt"};
    const char *name = weft_task_name(t);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (name && strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* The scope a deadline can expire: the innermost one that is not a
 * task group's (those have none) and has not expired yet. */
static struct weft__scope *deadline_scope(struct weft_task *t) {
    struct weft__scope *s = t->scopes;
    while (s && (s->flags & (WEFT__SCOPE_GROUP | WEFT__SCOPE_EXPIRED)))
        s = s->outer;
    return s;
}

static void park_hook(struct weft_task *t) {
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return;
    if ((mode == MODE_DEADLINE && !deadline_scope(t)) || internal_task(t))
        return;
    if (++npark != park_at)
        return;
    atomic_store(&injected, true);
    if (backtraces)
        print_backtrace("interrupting suspension point", npark);
    if (mode == MODE_CANCEL)
        weft_task_cancel(t);
    else
        weft__scope_arm(deadline_scope(t), t->loop->now);
}

static void *w_malloc(size_t n) {
    if (fail_now())
        return NULL;
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void *w_calloc(size_t n, size_t size) {
    if (fail_now())
        return NULL;
    void *p = calloc(n, size);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void *w_realloc(void *p, size_t n) {
    if (fail_now())
        return NULL;
    void *q = realloc(p, n);
    if (q && !p)
        atomic_fetch_add(&live, 1);
    return q;
}

static void w_free(void *p) {
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}

static void *ssl_malloc(size_t n, const char *file, int line) {
    (void)file;
    (void)line;
    return fail_now() ? NULL : malloc(n);
}

static void *ssl_realloc(void *p, size_t n, const char *file, int line) {
    (void)file;
    (void)line;
    return fail_now() ? NULL : realloc(p, n);
}

static void ssl_free(void *p, const char *file, int line) {
    (void)file;
    (void)line;
    free(p);
}

static void *ares_malloc_hook(size_t n) {
    return fail_now() ? NULL : malloc(n);
}

static void *ares_realloc_hook(void *p, size_t n) {
    return fail_now() ? NULL : realloc(p, n);
}

/* ---- one run ------------------------------------------------------------------ */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static const char *cur_name;
static long cur_point;

static void on_alarm(int sig) {
    (void)sig;
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "faults: %s hung with point %ld injected\n", cur_name,
                     cur_point);
    if (write(2, msg, (size_t)n) < 0) {
    }
    /* Not async-signal-safe, but we are going down anyway: the loop is
     * most likely in its poller, between steps. */
    atomic_store(&armed, false);
    weft_dump_tasks(NULL, stderr, NULL);
    abort();
}

static int log_errors;
static char log_first[256];
static bool verbose;

static void log_fn(int level, const char *msg, void *arg) {
    (void)arg;
    if (verbose)
        fprintf(stderr, "  log %d: %s\n", level, msg);
    if (level >= WEFT_LOG_ERROR && log_errors++ == 0)
        snprintf(log_first, sizeof log_first, "%s", msg);
}

static unsigned run_timeout = 60;

struct outcome {
    int status;
    long allocs;
    bool injected;
};

/* Run sc once with allocation `point` failing (0: none); check that it
 * ended cleanly. Returns false (with a message) if not. */
static bool run_once(const struct scenario *sc, long point,
                     struct outcome *out) {
    int fds = count_fds();
    long live0 = atomic_load(&live);
    cur_name = sc->name;
    cur_point = point;
    atomic_store(&nalloc, 0);
    npark = 0;
    atomic_store(&injected, false);
    fail_at = mode == MODE_ALLOC ? point : 0;
    park_at = mode == MODE_ALLOC ? 0 : point;
    log_errors = 0;
    alarm(run_timeout);
    atomic_store(&armed, true);
    out->status = sc->run();
    atomic_store(&armed, false);
    alarm(0);
    out->allocs = mode == MODE_ALLOC ? atomic_load(&nalloc) : npark;
    out->injected = atomic_load(&injected);
    bool ok = true;
    /* Worker threads (the executor) may still be letting go. */
    for (int i = 0; i < 100 && atomic_load(&live) != live0; i++)
        usleep(1000);
    if (atomic_load(&live) != live0) {
        fprintf(stderr, "faults: %s point %ld: %ld blocks leaked\n", sc->name,
                point, atomic_load(&live) - live0);
        ok = false;
    }
    int fds1 = count_fds();
    if (fds1 != fds) {
        fprintf(stderr, "faults: %s point %ld: %d descriptors leaked\n",
                sc->name, point, fds1 - fds);
        ok = false;
    }
    if (!out->injected && out->status != 0) {
        fprintf(stderr, "faults: %s point %ld: failed with %s without a "
                "fault\n", sc->name, point, weft_err_name(out->status));
        ok = false;
    }
    if (out->status > 0) {
        fprintf(stderr, "faults: %s point %ld: returned %d\n", sc->name,
                point, out->status);
        ok = false;
    }
    if (log_errors && !out->injected) {
        fprintf(stderr, "faults: %s point %ld: logged an error without a "
                "fault: %s\n", sc->name, point, log_first);
        ok = false;
    }
    if (verbose)
        fprintf(stderr, "%s point %ld: %s (%ld points)%s%s\n", sc->name,
                point, out->status ? weft_err_name(out->status) : "ok",
                out->allocs, log_errors ? ", logged: " : "",
                log_errors ? log_first : "");
    return ok;
}

/* ---- a scenario, every point ---------------------------------------------------- */

#define NHIST 8

struct tally {
    long points, runs;
    int err[NHIST];
    long count[NHIST];
    long other;
};

static void tally_add(struct tally *t, int status) {
    for (int i = 0; i < NHIST; i++) {
        if (t->count[i] && t->err[i] == status) {
            t->count[i]++;
            return;
        }
        if (!t->count[i]) {
            t->err[i] = status;
            t->count[i] = 1;
            return;
        }
    }
    t->other++;
}

static bool run_scenario(const struct scenario *sc, unsigned stride) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct outcome o;
    /* Warm up (one-time initialisations, OpenSSL's included) and count. */
    if (!run_once(sc, 0, &o))
        return false;
    struct tally t = {0};
    t.points = o.allocs;
    bool ok = true;
    long total = o.allocs, point = first_point;
    for (;;) {
        if (!run_once(sc, point, &o))
            ok = false;
        t.runs++;
        if (!o.injected) {
            t.points = o.allocs; /* warm-up counted one-time set-ups too */
            break;
        }
        tally_add(&t, o.status);
        /* Past the warm-up's count, one at a time to the clean run. */
        point += point > total ? 1 : stride;
        if (point > total && point - stride < total)
            point = total + 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%-8s %-14s %6ld points, %5ld runs (stride %u), %6.2f s:",
           mode_names[mode], sc->name, t.points, t.runs, stride, secs);
    for (int i = 0; i < NHIST && t.count[i]; i++)
        printf(" %s %ld", t.err[i] ? weft_err_name(t.err[i]) : "ok",
               t.count[i]);
    if (t.other)
        printf(" other %ld", t.other);
    printf("%s\n", ok ? "" : "  FAILED");
    fflush(stdout);
    return ok;
}

/* ---- certificates ----------------------------------------------------------------- */

static char certs_dir[] = "/tmp/weft-faults-certs-XXXXXX";

static void make_certs(void) {
#ifdef MAKE_CERTS
    if (!mkdtemp(certs_dir))
        return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh %s %s", MAKE_CERTS, certs_dir);
    if (system(cmd) == 0)
        faults_certs = certs_dir;
    else
        fprintf(stderr, "faults: could not make certificates: TLS skipped\n");
#endif
}

static void remove_certs(void) {
    if (!faults_certs)
        return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "faults: could not remove %s\n", certs_dir);
}

int main(int argc, char **argv) {
    /* Before anything else could make OpenSSL or c-ares allocate. */
    if (!CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free)) {
        fprintf(stderr, "faults: CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    if (ares_library_init_mem(ARES_LIB_INIT_ALL, ares_malloc_hook, free,
                              ares_realloc_hook) != ARES_SUCCESS) {
        fprintf(stderr, "faults: ares_library_init_mem failed\n");
        return 1;
    }
    if (weft_replace_allocator(w_malloc, w_realloc, w_calloc, w_free) < 0) {
        fprintf(stderr, "faults: weft_replace_allocator failed\n");
        return 1;
    }
    unsigned stride = 0;
    int opt;
    while ((opt = getopt(argc, argv, "m:s:fvbt:p:")) != -1) {
        switch (opt) {
        case 'm':
            for (mode = 0; mode < 3; mode++)
                if (strcmp(optarg, mode_names[mode]) == 0)
                    break;
            if (mode == 3) {
                fprintf(stderr, "faults: unknown mode %s\n", optarg);
                return 2;
            }
            break;
        case 's':
            stride = (unsigned)atoi(optarg);
            break;
        case 'f':
            stride = 1;
            break;
        case 'v':
            verbose = true;
            break;
        case 'p':
            first_point = atol(optarg);
            break;
        case 'b':
            backtraces = true;
            break;
        case 't':
            run_timeout = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: faults [-m alloc|cancel|deadline] [-s stride] [-f] "
                    "[-v] [-b] [-p first] [-t secs] [scenario...]\n");
            return 2;
        }
    }
    weft__park_hook = park_hook;
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    weft_set_log_handler(log_fn, NULL, NULL);
    make_certs();
    bool ok = true;
    for (size_t i = 0; i < faults_nscenarios; i++) {
        const struct scenario *sc = &faults_scenarios[i];
        if (optind < argc) {
            bool want = false;
            for (int a = optind; a < argc; a++)
                want |= strcmp(argv[a], sc->name) == 0;
            if (!want)
                continue;
        }
        /* Suspension points are few: every one, always. Allocations
         * under a sanitizer (several times slower): a wider stride. */
        unsigned st = mode != MODE_ALLOC ? 1 : sc->ci_stride;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        if (st > 1)
            st *= 4;
#endif
        ok &= run_scenario(sc, stride ? stride : st);
    }
    remove_certs();
    return ok ? 0 : 1;
}
