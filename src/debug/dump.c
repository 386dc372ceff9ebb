/* The task dump: every task of a loop, what it waits for, where it was
 * spawned and where its stack is parked; a summary first, so that a loop
 * with 100,000 tasks gives a readable page (Go's SIGQUIT dump lists every
 * goroutine; with tens of thousands that is a flood).
 *
 *   weft task dump: loop 0x55d0c2a0 (thread 4711) at 12.345 s, 3 tasks
 *   counters: ...
 *   by state:
 *          2 waiting: 1 sleep, 1 read
 *          1 running
 *   by spawn site (task function):
 *          2 main_task+0x4c (task_dump+0x1a2c) -> sleeper
 *   tasks (3 of 3):
 *   task 2 'sleeper': waiting 1.204 s: sleep until 3.000 s (in 1.796 s)
 *       fn sleeper (task_dump+0x1189), spawned at main_task+0x4c (...)
 *       #0 weft__park+0x6d (libweft.so.0+0x1d3fd)
 *       ...
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../fs/fs_int.h"
#include "../net/net_int.h"
#include "../sync/sync_int.h"
#include "debug_int.h"

#define DEFAULT_TASKS 100
#define DEFAULT_FRAMES 16
#define MAX_FRAMES 128
#define TOP_SITES 20

/* ---- output: whole lines, to a FILE or the log ------------------------------ */

struct out {
    FILE *f;
    size_t len;
    char line[1024];
};

static __attribute__((format(printf, 2, 3))) void put(struct out *o,
                                                      const char *fmt, ...) {
    if (o->len >= sizeof o->line - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->line + o->len, sizeof o->line - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
    if (o->len > sizeof o->line - 1)
        o->len = sizeof o->line - 1;
}

static void endl(struct out *o) {
    o->line[o->len] = 0;
    if (o->f) {
        fputs(o->line, o->f);
        fputc('\n', o->f);
    } else {
        weft__log(WEFT_LOG_INFO, "%s", o->line);
    }
    o->len = 0;
}

/* ---- symbols, cached for one dump ------------------------------------------- */

#define SYM_CACHE 1024

struct sym {
    uintptr_t addr;
    bool ret;
    char text[200];
};

struct syms {
    struct sym *v; /* SYM_CACHE entries, or NULL: no cache */
};

static const char *sym(struct syms *c, uintptr_t addr, bool ret, char *tmp,
                       size_t size) {
    if (!c->v) {
        weft__sym_format(addr, ret, tmp, size);
        return tmp;
    }
    size_t i = (size_t)((addr * UINT64_C(0x9e3779b97f4a7c15)) >> 40) %
               SYM_CACHE;
    for (size_t k = 0; k < 8; k++) {
        struct sym *e = &c->v[(i + k) % SYM_CACHE];
        if (e->addr == addr && e->ret == ret)
            return e->text;
        if (!e->addr) {
            e->addr = addr;
            e->ret = ret;
            weft__sym_format(addr, ret, e->text, sizeof e->text);
            return e->text;
        }
    }
    weft__sym_format(addr, ret, tmp, size);
    return tmp;
}

/* ---- descriptors --------------------------------------------------------------- */

/* "fd 7 (tcp 127.0.0.1:40112 -> 127.0.0.1:8080)", "fd 5 (pipe:[8812])". */
static void describe_fd(int fd, char *buf, size_t size) {
    struct sockaddr_storage me, peer;
    socklen_t ml = sizeof me, pl = sizeof peer;
    me.ss_family = peer.ss_family = AF_UNSPEC; /* set by the calls below */
    if (fd < 0) {
        snprintf(buf, size, "a closed descriptor");
        return;
    }
    if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0) {
        int type = 0;
        socklen_t tl = sizeof type;
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
        const char *kind = me.ss_family == AF_UNIX
                               ? (type == SOCK_STREAM ? "unix" : "unix-dgram")
                               : (type == SOCK_STREAM ? "tcp" : "udp");
        char a[128], b[128];
        weft__addr_str(&me, ml, a, sizeof a);
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) {
            weft__addr_str(&peer, pl, b, sizeof b);
            snprintf(buf, size, "fd %d (%s %s -> %s)", fd, kind, a, b);
        } else {
            int listening = 0;
            socklen_t ll = sizeof listening;
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll);
            snprintf(buf, size, "fd %d (%s %s%s)", fd, kind, a,
                     listening ? ", listening" : "");
        }
        return;
    }
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n > 0) {
        target[n] = 0;
        snprintf(buf, size, "fd %d (%s)", fd, target);
    } else {
        snprintf(buf, size, "fd %d", fd);
    }
}

/* ---- what a task waits for --------------------------------------------------- */

/* Read by the gdb extension too (src/debug/weft_gdb.py): one table. */
const char *const weft__wait_kind_names[] = {
    [WEFT__WAIT_OTHER] = "wait",
    [WEFT__WAIT_SLEEP] = "sleep",
    [WEFT__WAIT_FUTURE] = "future",
    [WEFT__WAIT_GATHER] = "gather",
    [WEFT__WAIT_GROUP] = "group exit",
    [WEFT__WAIT_LOCK] = "lock",
    [WEFT__WAIT_EVENT] = "event",
    [WEFT__WAIT_COND] = "condition",
    [WEFT__WAIT_SEM] = "semaphore",
    [WEFT__WAIT_QUEUE_GET] = "queue get",
    [WEFT__WAIT_QUEUE_PUT] = "queue put",
    [WEFT__WAIT_QUEUE_JOIN] = "queue join",
    [WEFT__WAIT_DRAIN] = "drain",
    [WEFT__WAIT_CONNECT] = "connect",
    [WEFT__WAIT_DNS] = "dns lookup",
    [WEFT__WAIT_SERVER] = "server",
    [WEFT__WAIT_SIGNAL] = "signal",
    [WEFT__WAIT_POOL] = "pool shutdown",
    [WEFT__WAIT_IO] = "I/O",
    [WEFT__WAIT_FILE] = "file",
};

/* Read or write: the events of an I/O wait. */
static const char *io_direction(const struct weft__wait *w) {
    const struct weft__io_waiter *iw =
        WEFT__CONTAINER_OF(w, struct weft__io_waiter, w);
    switch (iw->events & (WEFT__IO_IN | WEFT__IO_OUT)) {
    case WEFT__IO_IN:
        return "read";
    case WEFT__IO_OUT:
        return "write";
    case WEFT__IO_IN | WEFT__IO_OUT:
        return "read/write";
    default:
        return "I/O";
    }
}

#define NKINDS ((int)WEFT__ARRAY_LEN(weft__wait_kind_names))

static const char *kind_name(unsigned kind) {
    if (kind < (unsigned)NKINDS && weft__wait_kind_names[kind])
        return weft__wait_kind_names[kind];
    return "wait";
}

static double secs(uint64_t ns) {
    return (double)ns / 1e9;
}

static void describe_wait(weft_loop_t *loop, const struct weft_task *t,
                          const struct weft__wait *w, struct out *o) {
    put(o, "%s", w->kind == WEFT__WAIT_IO ? io_direction(w)
                                          : kind_name(w->kind));
    char fd[400];
    switch (w->kind) {
    case WEFT__WAIT_SLEEP:
        if (weft__timer_armed(&t->timer) && t->timer.when >= loop->now)
            put(o, " until %.3f s (in %.3f s)", secs(t->timer.when),
                secs(t->timer.when - loop->now));
        break;
    case WEFT__WAIT_FUTURE: {
        weft_future_t *f = (weft_future_t *)(uintptr_t)w->obj;
        struct weft_task *inner = f ? weft__task_of(f) : NULL;
        if (inner)
            put(o, ": joining task %llu '%s'", (unsigned long long)inner->id,
                weft_task_name(inner));
        else
            put(o, " %p", w->obj);
        break;
    }
    case WEFT__WAIT_GROUP: {
        const struct weft__group *g = w->obj;
        if (g)
            put(o, ": %zu child(ren) left", g->n);
        break;
    }
    case WEFT__WAIT_LOCK: {
        const struct weft__lock *l = w->obj;
        put(o, " %p", w->obj);
        if (l && l->owner)
            put(o, " held by task %llu", (unsigned long long)l->owner);
        break;
    }
    case WEFT__WAIT_EVENT:
    case WEFT__WAIT_COND:
    case WEFT__WAIT_SEM:
    case WEFT__WAIT_QUEUE_GET:
    case WEFT__WAIT_QUEUE_PUT:
    case WEFT__WAIT_QUEUE_JOIN:
    case WEFT__WAIT_SERVER:
    case WEFT__WAIT_POOL:
        put(o, " %p", w->obj);
        break;
    case WEFT__WAIT_DRAIN: {
        const weft_stream_t *s = w->obj;
        if (s) {
            describe_fd(s->fd, fd, sizeof fd);
            put(o, " of stream %s", fd);
        }
        break;
    }
    case WEFT__WAIT_IO: {
        const struct weft__io *io = w->obj;
        if (io) {
            describe_fd(io->fd, fd, sizeof fd);
            put(o, " on %s", fd);
        }
        break;
    }
    case WEFT__WAIT_FILE: {
        const struct weft_file *f = w->obj;
        if (f) {
            describe_fd(f->fd, fd, sizeof fd);
            put(o, " %s", fd);
        }
        break;
    }
    default:
        break;
    }
    if (w->noint)
        put(o, " (uninterruptible)");
}

/* "in 2 scopes: deadline in 1.500 s, shielded". */
static void describe_scopes(weft_loop_t *loop, const struct weft_task *t,
                            struct out *o) {
    unsigned n = 0, groups = 0;
    bool shield = false, stoppable = false;
    uint64_t deadline = WEFT__NS_INF;
    for (const struct weft__scope *s = t->scopes; s && n < 10000;
         s = s->outer) {
        n++;
        if (s->flags & WEFT__SCOPE_GROUP)
            groups++;
        if (s->flags & WEFT__SCOPE_SHIELD)
            shield = true;
        if (s->flags & WEFT__SCOPE_STOPPABLE)
            stoppable = true;
        if (s->deadline < deadline)
            deadline = s->deadline;
    }
    if (!n)
        return;
    put(o, "; in %u scope(s)", n);
    if (groups)
        put(o, " (%u group(s))", groups);
    if (deadline < WEFT__NS_INF) {
        if (deadline > loop->now)
            put(o, ", deadline in %.3f s", secs(deadline - loop->now));
        else
            put(o, ", deadline passed %.3f s ago", secs(loop->now - deadline));
    }
    if (shield)
        put(o, ", shielded");
    if (stoppable)
        put(o, ", stoppable");
}

/* ---- states ---------------------------------------------------------------------- */

enum { S_RUNNING, S_READY, S_NEW, S_WAITING, NSTATES };

static const char *const state_names[NSTATES] = {"running", "ready",
                                                 "not started", "waiting"};

static int state_of(weft_loop_t *loop, const struct weft_task *t) {
    if (t == loop->rq->current)
        return S_RUNNING;
    if (t->wait)
        return S_WAITING;
    return (t->flags & WEFT__TASK_STARTED) ? S_READY : S_NEW;
}

/* ---- the summary by spawn site ---------------------------------------------------- */

struct site {
    const void *site, *fn;
    size_t n;
};

struct sites {
    struct site *v;
    size_t cap, used;
};

static size_t site_slot(const void *site, const void *fn, size_t cap) {
    uint64_t h = (uint64_t)(uintptr_t)site * UINT64_C(0x9e3779b97f4a7c15) ^
                 (uint64_t)(uintptr_t)fn;
    h *= UINT64_C(0xff51afd7ed558ccd);
    return (size_t)(h >> 32) & (cap - 1);
}

static int sites_add(struct sites *ss, const void *site, const void *fn) {
    if ((ss->used + 1) * 2 > ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 64;
        struct site *v = weft__calloc(cap, sizeof *v);
        if (!v)
            return -ENOMEM;
        for (size_t i = 0; i < ss->cap; i++) {
            if (!ss->v[i].n)
                continue;
            size_t j = site_slot(ss->v[i].site, ss->v[i].fn, cap);
            while (v[j].n)
                j = (j + 1) & (cap - 1);
            v[j] = ss->v[i];
        }
        weft__free(ss->v);
        ss->v = v;
        ss->cap = cap;
    }
    size_t j = site_slot(site, fn, ss->cap);
    while (ss->v[j].n && (ss->v[j].site != site || ss->v[j].fn != fn))
        j = (j + 1) & (ss->cap - 1);
    if (!ss->v[j].n) {
        ss->v[j].site = site;
        ss->v[j].fn = fn;
        ss->used++;
    }
    ss->v[j].n++;
    return 0;
}

static int by_count(const void *a, const void *b) {
    const struct site *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* ---- the dump ----------------------------------------------------------------------- */

static void dump_header(weft_loop_t *loop, size_t ntasks, struct out *o) {
    weft_loop_stats_t st;
    weft_loop_stats(loop, &st);
    put(o, "weft task dump: loop %p (thread %d%s) at %.3f s, %zu task(s)",
        (void *)loop, loop->tid, loop->running ? "" : ", not running",
        secs(loop->now), ntasks);
    endl(o);
    put(o,
        "counters: %llu spawned, %llu iterations, %llu callbacks, %llu I/O "
        "ops, %llu timers armed (%llu pending)",
        (unsigned long long)st.tasks_spawned,
        (unsigned long long)st.iterations,
        (unsigned long long)st.callbacks_run, (unsigned long long)st.io_ops,
        (unsigned long long)st.timers_armed,
        (unsigned long long)st.timers_pending);
    endl(o);
    put(o, "time: busy %.3f s, idle %.3f s", secs(st.busy_ns),
        secs(st.idle_ns));
    if (loop->flags & WEFT_LOOP_DEBUG)
        put(o,
            "; debug mode: polling %.3f s, %llu slow step(s), timer lag "
            "max %.3f ms mean %.3f ms (%llu samples)",
            secs(st.poll_ns), (unsigned long long)st.slow_steps,
            (double)st.lag_max_ns / 1e6, (double)st.lag_mean_ns / 1e6,
            (unsigned long long)st.lag_samples);
    endl(o);
}

static void dump_summary(weft_loop_t *loop, struct weft__tasks *ts,
                         struct syms *sy, struct out *o) {
    /* kinds[64], [65]: I/O waits to read, to write */
    size_t states[NSTATES] = {0}, kinds[66] = {0}, cancelled = 0;
    struct sites ss = {0};
    bool oom = false;
    struct weft__list *pos;
    for (pos = ts->live.next; pos != &ts->live; pos = pos->next) {
        struct weft_task *t = WEFT__CONTAINER_OF(pos, struct weft_task, lnode);
        int s = state_of(loop, t);
        states[s]++;
        if (s == S_WAITING)
            kinds[t->wait->kind == WEFT__WAIT_IO
                      ? 64 + (io_direction(t->wait)[0] == 'w')
                      : t->wait->kind & 63]++;
        if (t->flags & WEFT__TASK_CANCELLED)
            cancelled++;
        if (!oom && sites_add(&ss, t->spawn_site, (const void *)(uintptr_t)
                                                      t->fn) < 0)
            oom = true;
    }
    put(o, "by state:");
    endl(o);
    for (int s = NSTATES - 1; s >= 0; s--) {
        if (!states[s])
            continue;
        put(o, "  %8zu %s", states[s], state_names[s]);
        if (s == S_WAITING) {
            const char *sep = ": ";
            for (int k = 0; k < 66; k++) {
                if (!kinds[k])
                    continue;
                put(o, "%s%zu %s", sep, kinds[k],
                    k == 64   ? "read"
                    : k == 65 ? "write"
                              : kind_name((unsigned)k));
                sep = ", ";
            }
        }
        endl(o);
    }
    if (cancelled) {
        put(o, "  (%zu of them cancelled)", cancelled);
        endl(o);
    }
    if (oom || !ss.used) {
        weft__free(ss.v);
        return;
    }
    /* Compact the table, then the biggest first. */
    size_t n = 0;
    for (size_t i = 0; i < ss.cap; i++)
        if (ss.v[i].n)
            ss.v[n++] = ss.v[i];
    qsort(ss.v, n, sizeof *ss.v, by_count);
    put(o, "by spawn site (-> task function):");
    endl(o);
    char tmp[200], tmp2[200];
    for (size_t i = 0; i < n && i < TOP_SITES; i++) {
        const char *at = sym(sy, (uintptr_t)ss.v[i].site, true, tmp,
                             sizeof tmp);
        put(o, "  %8zu %s -> ", ss.v[i].n, at);
        put(o, "%s",
            sym(sy, (uintptr_t)ss.v[i].fn, false, tmp2, sizeof tmp2));
        endl(o);
    }
    if (n > TOP_SITES) {
        size_t rest = 0;
        for (size_t i = TOP_SITES; i < n; i++)
            rest += ss.v[i].n;
        put(o, "  %8zu in %zu other site(s)", rest, n - TOP_SITES);
        endl(o);
    }
    weft__free(ss.v);
}

static void dump_frames(const uintptr_t *pcs, int n, bool first_exact,
                        struct syms *sy, struct out *o) {
    char tmp[200];
    for (int i = 0; i < n; i++) {
        put(o, "      #%d %s", i,
            sym(sy, pcs[i], !(i == 0 && first_exact), tmp, sizeof tmp));
        endl(o);
    }
}

/* noinline: the running task's backtrace skips this frame and the next. */
static __attribute__((noinline)) void dump_task(weft_loop_t *loop, struct weft_task *t,
                      const weft_dump_opts_t *opts, unsigned max_frames,
                      uintptr_t *pcs, struct syms *sy, struct out *o) {
    int s = state_of(loop, t);
    put(o, "task %llu '%s': %s", (unsigned long long)t->id, weft_task_name(t),
        state_names[s]);
    if (s == S_WAITING) {
        const struct weft__wait *w = t->wait;
        if (loop->now >= w->since)
            put(o, " %.3f s", secs(loop->now - w->since));
        put(o, ": ");
        describe_wait(loop, t, w, o);
    }
    if (t->flags & WEFT__TASK_CANCELLED)
        put(o, "; cancelled");
    else if (t->flags & WEFT__TASK_STOP)
        put(o, "; stop requested");
    describe_scopes(loop, t, o);
    endl(o);
    char tmp[200], tmp2[200];
    put(o, "      fn %s",
        sym(sy, (uintptr_t)t->fn, false, tmp, sizeof tmp));
    if (t->spawn_site)
        put(o, ", spawned at %s",
            sym(sy, (uintptr_t)t->spawn_site, true, tmp2, sizeof tmp2));
    endl(o);
    if ((opts->flags & WEFT_DUMP_NO_BACKTRACE) || s == S_NEW)
        return;
    int n;
    bool exact = true;
    if (s == S_RUNNING) {
        /* Skip weft__self_backtrace's caller chain inside this file. */
        n = weft__self_backtrace(pcs, (int)max_frames, 2);
        exact = false;
    } else {
        n = weft__task_backtrace(t, pcs, (int)max_frames);
    }
    if (n == -ENOTSUP) {
        put(o, "      (no backtrace: this build cannot walk stacks)");
        endl(o);
        return;
    }
    if (n == -ENOSPC) {
        put(o, "      (no backtrace: the dumping task has less than 16 KiB "
               "of stack left)");
        endl(o);
        return;
    }
    dump_frames(pcs, n, exact, sy, o);
}

int weft_dump_tasks(weft_loop_t *loop, FILE *f, const weft_dump_opts_t *opts) {
    if (!loop)
        loop = weft__tls_loop;
    if (!loop)
        return -EINVAL;
    int err = weft__loop_check(loop, "weft_dump_tasks");
    if (err)
        return err;
    weft_dump_opts_t dflt = {0};
    if (!opts)
        opts = &dflt;
    size_t max_tasks = opts->max_tasks ? opts->max_tasks : DEFAULT_TASKS;
    unsigned max_frames = opts->max_frames ? opts->max_frames : DEFAULT_FRAMES;
    if (max_frames > MAX_FRAMES)
        max_frames = MAX_FRAMES;

    /* The line and the frames on the heap: a task may dump with a small
     * stack (symbols and backtraces then say they need more: symbol.c). */
    struct work {
        struct out o;
        uintptr_t pcs[MAX_FRAMES];
    } *w = weft__malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    struct out *o = &w->o;
    o->f = f;
    o->len = 0;
    struct syms sy = {weft__calloc(SYM_CACHE, sizeof(struct sym))};
    struct weft__tasks *ts = loop->tasks;
    size_t ntasks = ts ? ts->nlive : 0;
    dump_header(loop, ntasks, o);
    if (ts && ntasks) {
        dump_summary(loop, ts, &sy, o);
        put(o, "tasks (%zu of %zu%s):",
            ntasks < max_tasks ? ntasks : max_tasks, ntasks,
            ntasks > max_tasks ? "; weft_dump_opts_t.max_tasks for more" : "");
        endl(o);
        size_t i = 0;
        struct weft__list *pos;
        for (pos = ts->live.next; pos != &ts->live && i < max_tasks;
             pos = pos->next, i++) {
            struct weft_task *t =
                WEFT__CONTAINER_OF(pos, struct weft_task, lnode);
            dump_task(loop, t, opts, max_frames, w->pcs, &sy, o);
        }
    }
    put(o, "end of task dump");
    endl(o);
    if (f)
        fflush(f);
    weft__free(sy.v);
    weft__free(w);
    return 0;
}
