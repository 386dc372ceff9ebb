/* Internal: task stacks, pooled per loop.
 *
 * Stacks are slots carved from chunks of one mmap each (a few MiB), so a
 * million stacks need a few hundred mappings, far below vm.max_map_count.
 * Memory is committed lazily by the kernel: a stack costs the pages it has
 * touched. Each slot is laid out, from high addresses down:
 *
 *     [ canary of the slot above | header (the task) | stack ... | guard? ]
 *
 * The header area holds the owner's object (the task struct), so a parked
 * task with a shallow stack costs one page in all. Paged slots (16 KiB
 * and more) keep their headers apart instead, packed in front of the
 * chunk's slots, so that a hibernating task can give back every page of
 * its slot (weft__stack_hibernate):
 *
 *     [ canary of the slot above | stack ... | guard? ] The canary guarding a
 * slot's bottom lives at the top of the slot below it (or of the chunk's
 * header page), a page that is resident anyway, and is checked at every
 * switch. Slots of 16 KiB and more also get a PROT_NONE guard page while
 * the process-wide guard budget lasts (each guard splits a mapping in two,
 * and the kernel allows 65530 mappings by default).
 */
#ifndef WEFT_CORO_STACK_H
#define WEFT_CORO_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/list.h"

#define WEFT__STACK_DEFAULT (64 * 1024)
#define WEFT__STACK_GUARD_MIN (16 * 1024)

struct weft__stack_pool;

struct weft__stack {
    char *lo;        /* lowest usable byte */
    char *hi;        /* one past the highest usable byte (16-aligned) */
    void *header;    /* the owner's object, header_size bytes, 64-aligned */
    uint64_t *canary;/* the word just below `lo` (or below the guard) */
    struct weft__stack_chunk *chunk;
    uint32_t slot;
    bool guarded;
    bool paged;      /* header apart from the stack: it can hibernate */
};

struct weft__stack_pools {
    const uint64_t *clock; /* the loop's time, ns */
    struct weft__stack_pool *first;
    struct weft__stack_pool *last; /* the pool of the last request */
    size_t last_usable;
    size_t header_size;
    uint64_t canary_key;
};

void weft__stack_pools_init(struct weft__stack_pools *p, size_t header_size,
                            const uint64_t *clock);
/* Unmap everything; stacks still in use become invalid. */
void weft__stack_pools_fini(struct weft__stack_pools *p);

/* Get a stack with at least `usable` bytes. Returns 0 or -ENOMEM. */
int weft__stack_alloc(struct weft__stack_pools *p, size_t usable,
                      struct weft__stack *out);

/* Give a stack back. `deepest` is the lowest stack pointer seen while it
 * was in use (0 if unknown): pages below it that a deep call touched are
 * returned to the kernel. */
void weft__stack_free(struct weft__stack_pools *p, struct weft__stack *s,
                      uintptr_t deepest);

/* ---- hibernation (paged stacks) ----------------------------------------
 * The used part of a parked task's stack, [from, hi), is copied aside and
 * all the slot's pages are given back; on wake the copy goes back to the
 * same addresses. The canary of the slot above lives at this slot's top,
 * so it reads zero while this one sleeps: weft__stack_canary_excused says
 * so for that slot, and waking checks that nothing but zeros or the right
 * value is there (anything else is an overflow of the slot above) and
 * writes it again. */
struct weft__stack_copy;

/* A range of memory, [lo, hi). */
struct weft__span {
    const void *lo, *hi;
};

/* Dead spans weft__stack_hibernate leaves out of one copy, at most. */
#define WEFT__STACK_DEAD_MAX 8

/* Copy [from, s->hi) aside and give the slot's pages back (MADV_DONTNEED,
 * or what weft__stack_advice says). The ndead spans of dead (at most
 * WEFT__STACK_DEAD_MAX; in any order, overlapping or not, each cut to the
 * whole 8-byte words it holds within [from, s->hi), spans outside it
 * ignored) are not copied: memory nothing reads before writing it (a
 * frame's unused buffer), which reads zero (or its old bytes) after the
 * thaw. 0, -ENOMEM, -ENOTSUP (not paged), -EINVAL (too many spans). */
int weft__stack_hibernate(struct weft__stack_pools *p, struct weft__stack *s,
                          const char *from, const struct weft__span *dead,
                          size_t ndead, struct weft__stack_copy **copy);
/* Put the copy back (and free it). 0, or -EFAULT: something wrote where
 * the slot above keeps its canary while this one slept (an overflow of
 * the slot above; the copy is back all the same). */
int weft__stack_thaw(struct weft__stack_pools *p, struct weft__stack *s,
                     struct weft__stack_copy *copy);
/* The canary below s reads zero because the slot below hibernates: not an
 * overflow (an overflow writing exactly zeros there goes unseen until the
 * slot below wakes, if it writes past that page). */
bool weft__stack_canary_excused(const struct weft__stack *s);
/* Bytes of the stack a copy puts back (its range less the dead spans). */
size_t weft__stack_copy_size(const struct weft__stack_copy *copy);
/* Bytes the copy itself takes (its words encoded; for statistics). */
size_t weft__stack_copy_held(const struct weft__stack_copy *copy);
/* The advice hibernation gives the kernel: MADV_DONTNEED (the default) or
 * MADV_FREE (benchmarks compare them). */
extern int weft__stack_advice;

/* The value the canary of a stack must hold (unique per slot). */
static inline uint64_t weft__stack_canary_value(const struct weft__stack *s,
                                                uint64_t key) {
    return key ^ (uintptr_t)s->canary;
}

/* Seconds a free slot, or an empty chunk, stays as it is before an idle
 * loop gives its memory back. */
#define WEFT__STACK_IDLE 10

/* Give memory back: empty chunks but one spare per size, and what stayed
 * unused for WEFT__STACK_IDLE seconds (the pages of free slots, the
 * spare); with `all`, everything free now. Returns the bytes given back
 * (unmapped, or advised away). */
size_t weft__stack_trim(struct weft__stack_pools *p, bool all);

/* Slots carved and in use, chunks, bytes mapped and resident (mincore). */
void weft__stack_stats(const struct weft__stack_pools *p, size_t *slots,
                       size_t *in_use, size_t *chunks, size_t *mapped,
                       size_t *resident);

/* Process-wide guard page accounting (for tests and benchmarks). */
size_t weft__stack_guards_in_use(void);

/* The smallest usable stack handed out: stack sizes below are raised to it.
 * WEFT_STACK_MIN in optimised builds; more where weft's own frames are
 * bigger (sanitizers, -O0), and when the program binds library functions
 * lazily (the dynamic linker's resolver then runs on the stack of the task
 * that first calls a function, saving the vector registers there). Sets
 * *lazy to whether that was found. Computed once per process. */
size_t weft__stack_floor(bool *lazy);

/* How far below its caller's frame weft's own waits may go on a task's
 * stack (yield, sleep, await, join, scopes, groups, cancellation), with
 * margin: measured in tests/test_stack.c (docs/design.md, Stacks). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT__STACK_NEED 3584
#elif !defined(__OPTIMIZE__)
#define WEFT__STACK_NEED 1536
#else
#define WEFT__STACK_NEED 512
#endif

#endif
