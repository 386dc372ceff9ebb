/* Watched iterations, and what debug mode says about tasks.
 *
 * The loop calls in here only for a watched iteration (weft__loop_watched:
 * debug mode, or a tracer attached to the scheduler's probes), which runs
 * every ready item from the loop's own context through weft__debug_step:
 * it fires the scheduler's tracepoints and, in debug mode, times the step.
 * The loop links this file into every program, so it carries the gdb
 * extension and depends on nothing above the task layer.
 */
#include <stdio.h>
#include <time.h>

#include "debug_int.h"

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

/* ---- slow steps and timer lag ------------------------------------------------ */

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
