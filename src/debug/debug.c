/* Debug mode, the loop's counters, watched iterations (the scheduler's
 * tracepoints), the dump-on-signal handler, and the gdb extension that
 * libweft carries.
 *
 * Nothing here is on a fast path. The loop calls in only for a watched
 * iteration (weft__loop_watched: debug mode, or a tracer attached to the
 * scheduler's probes), which runs every ready item from the loop's own
 * context through weft__debug_step.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../net/net_int.h"
#include "debug_int.h"
#include "weft/signal.h"

/* ---- the gdb extension ------------------------------------------------------
 * gdb runs the script in .debug_gdb_scripts when it loads this object's
 * symbols and auto-loading is allowed (`add-auto-load-safe-path`);
 * docs/debugging.md. The section holds, per script, the byte 4 (an inline
 * Python script), its name on the first line, the text, and a NUL. "MS":
 * the linker merges identical copies. The build passes the file's path. */
#ifdef WEFT_GDB_SCRIPT
__asm__(".pushsection \".debug_gdb_scripts\", \"MS\",@progbits,1\n"
        ".byte 4\n"
        ".ascii \"weft-gdb.py\\n\"\n"
        ".incbin \"" WEFT_GDB_SCRIPT "\"\n"
        ".byte 0\n"
        ".popsection\n");
#endif

/* ---- per-loop state ------------------------------------------------------- */

/* What debug mode remembers of a stream or server, to name who left it
 * open when the loop closes. */
struct tracked {
    const void *obj; /* NULL: free slot; (void *)1: removed */
    int kind;        /* WEFT__TRACK_* */
    int fd;
    uint64_t task_id;
    char task_name[32];
    const void *site; /* the opening task's spawn site */
};

#define REMOVED ((const void *)1)

struct dbg_loop {
    struct weft__hook close_hook, free_hook;
    uint64_t dump_signals; /* bit n-1: dump on signal n */
    struct tracked *tr;    /* open addressing, a power of two */
    size_t tr_cap, tr_used;
};

static void dbg_close(weft_loop_t *loop, struct weft__hook *h);
static void dbg_free(weft_loop_t *loop, struct weft__hook *h);

static struct dbg_loop *dbg_find(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, dbg_close);
    return h ? WEFT__CONTAINER_OF(h, struct dbg_loop, close_hook) : NULL;
}

static struct dbg_loop *dbg_get(weft_loop_t *loop) {
    struct dbg_loop *d = dbg_find(loop);
    if (d)
        return d;
    d = weft__calloc(1, sizeof *d);
    if (!d)
        return NULL;
    /* After the tasks, servers and processes have closed what they close:
     * what is left was left open by the program. */
    weft__hook_add(loop, &d->close_hook, WEFT__PHASE_FREE - 1, dbg_close);
    weft__hook_add(loop, &d->free_hook, WEFT__PHASE_FREE, dbg_free);
    return d;
}

/* ---- describing tasks ------------------------------------------------------ */

void weft__task_describe(struct weft_task *t, bool detail, char *buf,
                         size_t size) {
    if (!detail) {
        snprintf(buf, size, "task '%s' (id %llu)", weft_task_name(t),
                 (unsigned long long)t->id);
        return;
    }
    char fn[160], at[200];
    weft__sym_format((uintptr_t)t->fn, false, fn, sizeof fn);
    weft__sym_format((uintptr_t)t->spawn_site, true, at, sizeof at);
    snprintf(buf, size, "task '%s' (id %llu, fn %s, spawned at %s)",
             weft_task_name(t), (unsigned long long)t->id, fn, at);
}

void weft__debug_caller(char *buf, size_t size) {
    struct weft_task *t = weft__task_current();
    buf[0] = 0;
    if (!t)
        return;
    char who[512];
    weft__task_describe(t, (t->loop->flags & WEFT_LOOP_DEBUG) != 0, who,
                        sizeof who);
    snprintf(buf, size, " (by %s of loop %p)", who, (void *)t->loop);
}

/* ---- debug mode ------------------------------------------------------------- */

int weft_loop_set_debug(weft_loop_t *loop, bool on) {
    int err = weft__loop_check(loop, "weft_loop_set_debug");
    if (err)
        return err;
    if (on) {
        loop->flags |= WEFT_LOOP_DEBUG;
        return 0;
    }
    loop->flags &= ~(unsigned)WEFT_LOOP_DEBUG;
    /* What it tracked would no longer be untracked when closed. */
    struct dbg_loop *d = dbg_find(loop);
    if (d) {
        weft__free(d->tr);
        d->tr = NULL;
        d->tr_cap = d->tr_used = 0;
    }
    return 0;
}

bool weft_loop_get_debug(const weft_loop_t *loop) {
    return loop && (loop->flags & WEFT_LOOP_DEBUG);
}

int weft_loop_set_slow_step(weft_loop_t *loop, double seconds) {
    int err = weft__loop_check(loop, "weft_loop_set_slow_step");
    if (err)
        return err;
    uint64_t ns;
    if (seconds < 0 || weft__secs_to_ns(seconds, &ns))
        return -EINVAL;
    loop->slow_ns = ns;
    return 0;
}

static void report_slow(weft_loop_t *loop, struct weft_task *t,
                        const void *cb, void *arg, uint64_t ns) {
    loop->dbg.slow_steps++;
    char what[512];
    if (t) {
        weft__task_describe(t, true, what, sizeof what);
    } else {
        char fn[200];
        weft__sym_format((uintptr_t)cb, false, fn, sizeof fn);
        snprintf(what, sizeof what, "callback %s (arg %p)", fn, arg);
    }
    weft__log(WEFT_LOG_WARN,
              "executing %s took %.3f s (debug mode: steps over %.3f s are "
              "reported; a blocking call belongs in the executor)",
              what, (double)ns / 1e9, (double)loop->slow_ns / 1e9);
}

/* The clock a step is timed with: the coarse one (a few ns: no rdtsc,
 * but ticks of 1-4 ms) unless the threshold is finer than it can tell. */
static uint64_t step_clock(bool coarse) {
    struct timespec ts;
    clock_gettime(coarse ? CLOCK_MONOTONIC_COARSE : CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * WEFT__NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

#define COARSE_ENOUGH (20 * 1000 * 1000) /* thresholds from 20 ms */

void weft__debug_step(weft_loop_t *loop, struct weft__ready *r) {
    bool debug = loop->flags & WEFT_LOOP_DEBUG;
    bool coarse = loop->slow_ns >= COARSE_ENOUGH;
    bool traced = weft__traced();
    struct weft_task *t = weft__task_of_ready(r);
    void *arg = NULL;
    const void *cb = NULL;
    loop->dbg.steps++;
    if (t) {
        /* Held for the step: a task that finishes in it stays readable. */
        t->fut.refs++;
        if (traced)
            weft__probe_task_switch(t->id, weft_task_name(t));
    } else {
        cb = weft__call_target(r, &arg);
        if (!cb)
            cb = (const void *)(uintptr_t)r->run;
        if (traced)
            weft__probe_callback(cb, arg);
    }
    uint64_t t0 = debug ? step_clock(coarse) : 0;
    if (r->run)
        r->run(loop, r);
    else
        weft__task_runner(loop, r);
    if (debug) {
        uint64_t ns = step_clock(coarse) - t0;
        if (ns > loop->slow_ns)
            report_slow(loop, t, cb, arg, ns);
    }
    if (!t)
        return;
    if (traced) {
        if (t->flags & WEFT__TASK_DONE)
            weft__probe_task_end(t->id, t->fut.status);
        else if (t->wait)
            weft__probe_task_park(t->id, t->wait->kind, t->wait->obj);
    }
    weft_future_release(&t->fut);
}

void weft__debug_lag(weft_loop_t *loop) {
    if (weft__heap_empty(&loop->timers))
        return;
    uint64_t due = weft__heap_min(&loop->timers);
    if (due > loop->now)
        return;
    uint64_t lag = loop->now - due;
    struct weft__debug_stats *d = &loop->dbg;
    d->lag_samples++;
    d->lag_sum_ns += lag;
    d->lag_last_ns = lag;
    if (lag > d->lag_max_ns)
        d->lag_max_ns = lag;
}

/* ---- counters ---------------------------------------------------------------- */

int weft_loop_stats(weft_loop_t *loop, weft_loop_stats_t *out) {
    if (!loop)
        loop = weft__tls_loop;
    if (!loop || !out)
        return -EINVAL;
    int err = weft__loop_check(loop, "weft_loop_stats");
    if (err)
        return err;
    memset(out, 0, sizeof *out);
    const struct weft__tasks *ts = loop->tasks;
    if (ts) {
        out->tasks_alive = ts->nlive;
        out->tasks_spawned = weft__tasks_spawned(ts);
    }
    out->iterations = loop->iterations;
    out->callbacks_run = loop->callbacks_run;
    out->io_ops = loop->rq->io_ops;
    out->timers_armed = loop->timers.seq;
    out->timers_pending = loop->timers.n;
    weft__loop_run_times(loop, &out->busy_ns, &out->idle_ns);
    const struct weft__debug_stats *d = &loop->dbg;
    out->poll_ns = d->poll_ns;
    out->slow_steps = d->slow_steps;
    out->lag_samples = d->lag_samples;
    out->lag_max_ns = d->lag_max_ns;
    out->lag_mean_ns = d->lag_samples ? d->lag_sum_ns / d->lag_samples : 0;
    out->lag_last_ns = d->lag_last_ns;
    return 0;
}

/* ---- streams and servers left open (debug mode) -------------------------------- */

static size_t slot_of(const void *obj, size_t cap) {
    uintptr_t h = (uintptr_t)obj;
    h ^= h >> 17;
    h *= UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(h >> 7) & (cap - 1);
}

/* Rehash, doubling only when live entries fill a quarter: streams opened
 * and closed by the million leave only removed slots behind, which a
 * rehash at the same size clears. */
static int tr_grow(struct dbg_loop *d) {
    size_t live = 0;
    for (size_t i = 0; i < d->tr_cap; i++)
        live += d->tr[i].obj && d->tr[i].obj != REMOVED;
    size_t cap = !d->tr_cap ? 64
                 : live * 4 > d->tr_cap ? d->tr_cap * 2
                                        : d->tr_cap;
    struct tracked *tr = weft__calloc(cap, sizeof *tr);
    if (!tr)
        return -ENOMEM;
    size_t used = 0;
    for (size_t i = 0; i < d->tr_cap; i++) {
        const struct tracked *e = &d->tr[i];
        if (!e->obj || e->obj == REMOVED)
            continue;
        size_t j = slot_of(e->obj, cap);
        while (tr[j].obj)
            j = (j + 1) & (cap - 1);
        tr[j] = *e;
        used++;
    }
    weft__free(d->tr);
    d->tr = tr;
    d->tr_cap = cap;
    d->tr_used = used;
    return 0;
}

void weft__debug_track(weft_loop_t *loop, const void *obj, int kind, int fd) {
    struct dbg_loop *d = dbg_get(loop);
    if (!d || ((d->tr_used + 1) * 2 > d->tr_cap && tr_grow(d)))
        return; /* out of memory: only a report is lost */
    size_t j = slot_of(obj, d->tr_cap);
    while (d->tr[j].obj && d->tr[j].obj != REMOVED)
        j = (j + 1) & (d->tr_cap - 1);
    struct tracked *e = &d->tr[j];
    if (!e->obj)
        d->tr_used++;
    memset(e, 0, sizeof *e);
    e->obj = obj;
    e->kind = kind;
    e->fd = fd;
    struct weft_task *t = weft__task_current();
    if (t) {
        e->task_id = t->id;
        snprintf(e->task_name, sizeof e->task_name, "%s", weft_task_name(t));
        e->site = t->spawn_site;
    }
}

void weft__debug_untrack(weft_loop_t *loop, const void *obj) {
    /* Once closed, the report is made; the free hooks that close what is
     * left must not look for hooks that earlier ones have freed. */
    if (loop->closed)
        return;
    struct dbg_loop *d = dbg_find(loop);
    if (!d || !d->tr_cap)
        return;
    size_t j = slot_of(obj, d->tr_cap);
    while (d->tr[j].obj) {
        if (d->tr[j].obj == obj) {
            d->tr[j].obj = REMOVED;
            return;
        }
        j = (j + 1) & (d->tr_cap - 1);
    }
}

static void report_open(weft_loop_t *loop, const struct tracked *e) {
    char who[320] = "outside any task";
    if (e->task_id) {
        char at[200];
        weft__sym_format((uintptr_t)e->site, true, at, sizeof at);
        snprintf(who, sizeof who, "by task '%s' (id %llu, spawned at %s)",
                 e->task_name, (unsigned long long)e->task_id, at);
    }
    if (e->kind == WEFT__TRACK_SERVER) {
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_close: server %p (port %d) started %s was "
                  "never closed (weft_server_close)",
                  e->obj, e->fd > 0 ? e->fd : 0, who);
        return;
    }
    const weft_stream_t *s = e->obj;
    /* A server's connection or a process's pipe is its owner's to close. */
    if (s->conn || (s->flags & WEFT__STREAM_OWNED))
        return;
    weft__log(WEFT_LOG_WARN,
              "weft_loop_close: stream %p (fd %d) opened %s was never "
              "closed (weft_stream_close)",
              e->obj, s->fd, who);
    (void)loop;
}

static void dbg_close(weft_loop_t *loop, struct weft__hook *h) {
    struct dbg_loop *d = WEFT__CONTAINER_OF(h, struct dbg_loop, close_hook);
    for (size_t i = 0; i < d->tr_cap; i++)
        if (d->tr[i].obj && d->tr[i].obj != REMOVED)
            report_open(loop, &d->tr[i]);
    weft__free(d->tr);
    d->tr = NULL;
    d->tr_cap = d->tr_used = 0;
}

static void dbg_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct dbg_loop *d = WEFT__CONTAINER_OF(h, struct dbg_loop, free_hook);
    weft__free(d->tr);
    weft__free(d);
}

/* ---- the dump on a signal ------------------------------------------------------- */

static void dump_on_signal(int signum, void *arg) {
    weft_loop_t *loop = arg;
    fprintf(stderr, "weft: signal %d (%s): task dump of loop %p\n", signum,
            strsignal(signum), (void *)loop);
    weft_dump_tasks(loop, stderr, NULL);
    fflush(stderr);
}

int weft_dump_on_signal(weft_loop_t *loop, int signum) {
    int err = weft__loop_check(loop, "weft_dump_on_signal");
    if (err)
        return err;
    if (signum <= 0 || signum > 64)
        return -EINVAL;
    struct dbg_loop *d = dbg_get(loop);
    if (!d)
        return -ENOMEM;
    uint64_t bit = UINT64_C(1) << (signum - 1);
    if (d->dump_signals & bit)
        return -EALREADY;
    err = weft_signal_add(loop, signum, dump_on_signal, loop, NULL);
    if (err)
        return err;
    d->dump_signals |= bit;
    return 0;
}
