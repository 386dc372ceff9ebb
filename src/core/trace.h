/* Internal: USDT tracepoints (provider "weft") for perf, bpftrace and
 * SystemTap, through <sys/sdt.h> (Debian: systemtap-sdt-dev). Without the
 * header they compile to nothing. docs/debugging.md lists them.
 *
 * A probe site is one `nop` and an ELF note; its arguments are asm
 * operands the compiler may leave where they are (a register, or a field
 * at an offset from one), so they cost nothing when nobody traces. Even a
 * nop is too much on the context switch, though: the scheduler's probes
 * (task_switch, task_park, task_end, callback) are not on that path at
 * all. They carry a semaphore, which a tracer raises when it attaches;
 * the loop looks at it once per iteration (weft__traced) and, while it is
 * raised, runs each ready item from its own context (no direct hand-off
 * from task to task), where those probes fire (src/debug/debug.c). */
#ifndef WEFT_CORE_TRACE_H
#define WEFT_CORE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__has_include) && !defined(WEFT_NO_SDT)
#if __has_include(<sys/sdt.h>)
/* Arguments in registers or memory, never immediates: perf drops an
 * immediate argument, and then refuses the sites of one probe whose
 * argument lists differ (a wake with result 0 next to one with a
 * variable), so that `perf probe sdt_weft:task_wake` failed. A constant
 * costs a register load at the few sites that pass one. */
#define STAP_SDT_ARG_CONSTRAINT or
#include <sys/sdt.h>
#define WEFT__HAVE_SDT 1
#endif
#endif

#ifdef WEFT__HAVE_SDT
#define WEFT__PROBE2(name, a, b) STAP_PROBE2(weft, name, a, b)
#define WEFT__PROBE3(name, a, b, c) STAP_PROBE3(weft, name, a, b, c)
#define WEFT__PROBE4(name, a, b, c, d) STAP_PROBE4(weft, name, a, b, c, d)
#else
/* The arguments are still "used" (the compiler drops the loads). */
#define WEFT__PROBE2(name, a, b) ((void)(a), (void)(b))
#define WEFT__PROBE3(name, a, b, c) ((void)(a), (void)(b), (void)(c))
#define WEFT__PROBE4(name, a, b, c, d)                                         \
    ((void)(a), (void)(b), (void)(c), (void)(d))
#endif

/* The semaphore of the scheduler's probes (one counter shared by all of
 * them: src/debug/debug.c). Nonzero while a tracer is attached to one. */
extern volatile unsigned short weft_task_switch_semaphore
    __attribute__((visibility("hidden")));

static inline bool weft__traced(void) {
    return weft_task_switch_semaphore != 0;
}

/* The scheduler's probes (src/debug/probes.c), fired by a watched
 * iteration. */
void weft__probe_task_switch(uint64_t id, const char *name);
void weft__probe_task_park(uint64_t id, int kind, const void *obj);
void weft__probe_task_end(uint64_t id, int status);
void weft__probe_callback(const void *fn, void *arg);

#endif
