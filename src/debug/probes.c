/* The scheduler's tracepoints: task_switch, task_park, task_end and
 * callback. They carry a semaphore, which a tracer (perf, bpftrace)
 * raises when it attaches; while it is up the loop watches its iterations
 * and calls these from its own context (src/core/trace.h explains why the
 * switch itself has no probe). A file of their own: sdt.h gives every
 * probe of a file with _SDT_HAS_SEMAPHORES a semaphore, and the other
 * probes (task_wake, inline in task_int.h) must have none.
 */
#define _SDT_HAS_SEMAPHORES 1

#include <stdint.h>

#include "../core/trace.h"

/* One counter for the four probes: a tracer attached to any of them makes
 * the loop watch. The aliases give sdt.h the names it expects. */
volatile unsigned short weft_task_switch_semaphore
    __attribute__((section(".probes"), used)) = 0;
extern volatile unsigned short weft_task_park_semaphore
    __attribute__((alias("weft_task_switch_semaphore")));
extern volatile unsigned short weft_task_end_semaphore
    __attribute__((alias("weft_task_switch_semaphore")));
extern volatile unsigned short weft_callback_semaphore
    __attribute__((alias("weft_task_switch_semaphore")));

void weft__probe_task_switch(uint64_t id, const char *name) {
    WEFT__PROBE2(task_switch, id, name);
}

void weft__probe_task_park(uint64_t id, int kind, const void *obj) {
    WEFT__PROBE3(task_park, id, kind, obj);
}

void weft__probe_task_end(uint64_t id, int status) {
    WEFT__PROBE2(task_end, id, status);
}

void weft__probe_callback(const void *fn, void *arg) {
    WEFT__PROBE2(callback, fn, arg);
}
