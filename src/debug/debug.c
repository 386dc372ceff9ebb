/* Debug mode's switches, the loop's counters, the streams and servers
 * left open (debug mode), and the dump on a signal. The watched iteration
 * itself, which the loop calls, is in watch.c: this file pulls in the
 * signals and the network's pieces, which a program that uses neither
 * should not link. Nothing here is on a fast path.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../net/net_int.h"
#include "debug_int.h"
#include "weft/signal.h"

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
