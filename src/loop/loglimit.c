/* Log lines that a remote peer can cause again and again (failed TLS
 * handshakes, accept errors while descriptors are exhausted, connection
 * handlers that fail), limited per loop and per call site, so that no peer
 * can make weft write without bound.
 *
 * The first line of a site is written and opens a window of WINDOW; the
 * lines that come within it are only counted (the last one kept). When the
 * window is over, one line says how many there were: the last one's text
 * followed by " (repeated N times)", and a new window opens with it, so a
 * flood that goes on costs one line per window. The summary is written
 * when the window ends (a callback the loop runs then), or when the loop
 * closes. The lines of a site may differ in their details (the peer's
 * address): the summary shows the last and counts them all. Times are the
 * loop's clock, so a virtual clock tests this without waiting. (The Linux
 * kernel's printk_ratelimit and journald's RateLimitIntervalSec do the
 * same, with a burst of lines before they hold back.) */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "loop_int.h"

#define WINDOW (10 * WEFT__NS_PER_SEC)
/* Closing the loop: after the tasks (and everything that logs for them)
 * are gone, before anything is freed. */
#define PHASE_FLUSH (WEFT__PHASE_FREE - 1)

struct site {
    const void *key;
    uint64_t until; /* end of the open window; 0: none is open */
    uint32_t held;  /* lines counted in it, not written */
    int level;
    char last[256]; /* the last of them */
};

struct limits {
    struct weft__hook close_hook, free_hook;
    weft_loop_t *loop;
    struct site *sites;
    size_t n;
    weft_handle_t call; /* summing up the next window that ends */
    uint64_t call_at;
};

static void summarize(struct site *st) {
    weft__log(st->level, "%s (repeated %u time%s)", st->last, st->held,
              st->held == 1 ? "" : "s");
    st->held = 0;
}

/* The window is over (now >= until): say what it held, and keep limiting
 * for another window if it held anything; else close it. */
static void window_over(struct site *st, uint64_t now) {
    if (st->held) {
        summarize(st);
        st->until = now + WINDOW;
    } else {
        st->until = 0;
    }
}

static void windows_over(void *arg);

/* Have windows_over run when the first window holding lines ends. */
static void schedule(struct limits *l) {
    uint64_t when = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->sites[i].held && (!when || l->sites[i].until < when))
            when = l->sites[i].until;
    if (l->call.id && l->call_at == when)
        return;
    if (l->call.id)
        weft_handle_cancel(l->loop, l->call);
    l->call.id = 0;
    if (when && weft_call_at(l->loop, (double)when / 1e9, windows_over, l,
                             &l->call) == 0)
        l->call_at = when; /* else: summed up by the next line, or at close */
}

static void windows_over(void *arg) {
    struct limits *l = arg;
    l->call.id = 0;
    /* A millisecond of slack: the call's time went through a double. */
    uint64_t now = l->loop->now + WEFT__NS_PER_SEC / 1000;
    for (size_t i = 0; i < l->n; i++)
        if (l->sites[i].held && now >= l->sites[i].until)
            window_over(&l->sites[i], l->loop->now);
    schedule(l);
}

static void limits_close(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct limits *l = WEFT__CONTAINER_OF(h, struct limits, close_hook);
    for (size_t i = 0; i < l->n; i++)
        if (l->sites[i].held)
            summarize(&l->sites[i]);
}

static void limits_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct limits *l = WEFT__CONTAINER_OF(h, struct limits, free_hook);
    weft__free(l->sites);
    weft__free(l);
}

static struct limits *limits_of(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, limits_close);
    if (h)
        return WEFT__CONTAINER_OF(h, struct limits, close_hook);
    struct limits *l = weft__calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->loop = loop;
    weft__hook_add(loop, &l->close_hook, PHASE_FLUSH, limits_close);
    weft__hook_add(loop, &l->free_hook, WEFT__PHASE_FREE, limits_free);
    return l;
}

static struct site *site_of(struct limits *l, const void *key) {
    for (size_t i = 0; i < l->n; i++)
        if (l->sites[i].key == key)
            return &l->sites[i];
    struct site *s = weft__realloc(l->sites, (l->n + 1) * sizeof *s);
    if (!s)
        return NULL;
    l->sites = s;
    s += l->n++;
    memset(s, 0, sizeof *s);
    s->key = key;
    return s;
}

void weft__log_limited(weft_loop_t *loop, const void *key, int level,
                       const char *fmt, ...) {
    struct limits *l = limits_of(loop);
    struct site *st = l ? site_of(l, key) : NULL;
    if (st && st->until && loop->now >= st->until)
        window_over(st, loop->now);
    va_list ap;
    va_start(ap, fmt);
    if (!st || !st->until) { /* the first line (or no memory to count) */
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        weft__log(level, "%s", msg);
        if (st)
            st->until = loop->now + WINDOW;
    } else {
        if (st->held++ == 0)
            schedule(l);
        st->level = level;
        vsnprintf(st->last, sizeof st->last, fmt, ap);
    }
    va_end(ap);
}
