/* Log lines that a remote peer can cause again and again (failed TLS
 * handshakes, accept errors while descriptors are exhausted, connection
 * handlers that fail), limited per loop and per call site, so that no peer
 * can make weft write without bound.
 *
 * The first line of a site is written and opens a window of WINDOW; the
 * lines that come within it are only counted (the last one kept). When the
 * window is over, one line says how many there were: the last one's text
 * followed by " (repeated N times)", and a new window opens with it, so a
 * flood that goes on costs one line per window. The summary is written by
 * the first line after the window, or when the loop is about to sleep (its
 * IDLE hook, at most once a second), or when the loop closes. The lines of
 * a site may differ in their details (the peer's address): the summary
 * shows the last and counts them all. Times are the loop's clock, so a
 * virtual clock tests this without waiting. */
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
    struct weft__hook idle_hook, close_hook, free_hook;
    struct site *sites;
    size_t n;
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

static void limits_idle(weft_loop_t *loop, struct weft__hook *h) {
    struct limits *l = WEFT__CONTAINER_OF(h, struct limits, idle_hook);
    for (size_t i = 0; i < l->n; i++)
        if (l->sites[i].until && loop->now >= l->sites[i].until)
            window_over(&l->sites[i], loop->now);
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

static struct site *site_of(weft_loop_t *loop, const void *key) {
    struct weft__hook *h = weft__hook_find(loop, limits_idle);
    struct limits *l;
    if (h) {
        l = WEFT__CONTAINER_OF(h, struct limits, idle_hook);
    } else {
        if (!(l = weft__calloc(1, sizeof *l)))
            return NULL;
        weft__hook_add(loop, &l->idle_hook, WEFT__PHASE_IDLE, limits_idle);
        weft__hook_add(loop, &l->close_hook, PHASE_FLUSH, limits_close);
        weft__hook_add(loop, &l->free_hook, WEFT__PHASE_FREE, limits_free);
    }
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
    struct site *st = site_of(loop, key);
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
        st->held++;
        st->level = level;
        vsnprintf(st->last, sizeof st->last, fmt, ap);
    }
    va_end(ap);
}
