/* The stack pool: chunks of slots, one free list per chunk, slabs of
 * similar stacks reused LIFO so the hottest slot is handed out first. */
#include "stack.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../core/common.h"

#define CANARY_BYTES 16
#define CHUNK_TARGET (4u << 20) /* aim for chunks of about 4 MiB */
#define CHUNK_MIN_SLOTS 8
#define CHUNK_MAX_SLOTS 4096
/* At most this many guard pages process-wide: 2 mappings each, 16384 of the
 * default 65530, leaving the rest to the application. */
#define GUARD_BUDGET 8192
/* Trim a freed stack if a call went deeper than this below its top. */
#define TRIM_DEPTH (32 * 1024)
#define TRIM_KEEP (8 * 1024)

struct weft__stack_pool {
    struct weft__stack_pool *next;
    size_t slot_size;  /* bytes per slot */
    size_t usable;     /* usable stack bytes per slot (>= requested) */
    bool paged;        /* slot_size is a page multiple: guard pages allowed */
    uint32_t per_chunk;
    struct weft__list partial; /* chunks with a free or uncarved slot */
    struct weft__list full;
    size_t free_slots; /* free (carved or not) slots over all chunks */
};

struct weft__stack_chunk {
    struct weft__list link;
    struct weft__stack_pool *pool;
    char *map;         /* the mapping: header page, then the slots */
    size_t map_size;
    char *base;        /* slot 0 */
    uint32_t carved;   /* slots [0, carved) have been handed out once */
    uint32_t used;
    uint32_t guards;
    int32_t free_head; /* free list of carved slots, -1 = empty */
    uint8_t *guarded;  /* per slot: has a guard page */
    int32_t *next_free;
};

static atomic_size_t guards_in_use;
/* Atomic: loops on several threads may ask for the first time at once. */
static atomic_size_t page_size;

size_t weft__stack_guards_in_use(void) {
    return atomic_load(&guards_in_use);
}

static size_t pagesz(void) {
    size_t ps = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (!ps) {
        ps = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&page_size, ps, memory_order_relaxed);
    }
    return ps;
}

void weft__stack_pools_init(struct weft__stack_pools *p, size_t header_size) {
    p->first = NULL;
    p->last = NULL;
    p->last_usable = 0;
    p->header_size = WEFT__ALIGN_UP(header_size, 64);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Not a secret; it only has to make a stale or stray copy unlikely to
     * pass for a canary. */
    p->canary_key = UINT64_C(0x5745465443414E59) ^
                    ((uint64_t)ts.tv_nsec << 17) ^ (uintptr_t)p;
}

static void chunk_unmap(struct weft__stack_chunk *c) {
    atomic_fetch_sub(&guards_in_use, c->guards);
    c->pool->free_slots -= c->pool->per_chunk - c->used;
    weft__list_remove(&c->link);
    munmap(c->map, c->map_size);
    weft__free(c->guarded);
    weft__free(c->next_free);
    weft__free(c);
}

void weft__stack_pools_fini(struct weft__stack_pools *p) {
    struct weft__stack_pool *pool = p->first;
    while (pool) {
        struct weft__stack_pool *next = pool->next;
        struct weft__list *lists[2] = {&pool->partial, &pool->full};
        for (int i = 0; i < 2; i++) {
            struct weft__list *n;
            while ((n = lists[i]->next) != lists[i])
                chunk_unmap(WEFT__CONTAINER_OF(n, struct weft__stack_chunk,
                                               link));
        }
        weft__free(pool);
        pool = next;
    }
    p->first = NULL;
    p->last = NULL;
}

static struct weft__stack_pool *pool_find(struct weft__stack_pools *p,
                                          size_t usable);

/* Slot geometry for a requested usable size. */
static void geometry(const struct weft__stack_pools *p, size_t usable,
                     size_t *slot_size, bool *paged) {
    size_t need = usable + p->header_size + CANARY_BYTES;
    if (usable >= WEFT__STACK_GUARD_MIN) {
        *paged = true;
        *slot_size = WEFT__ALIGN_UP(need, pagesz()) + pagesz(); /* + guard */
    } else {
        *paged = false;
        *slot_size = WEFT__ALIGN_UP(need, 64);
    }
}

static struct weft__stack_pool *pool_get(struct weft__stack_pools *p,
                                         size_t usable) {
    if (WEFT__LIKELY(p->last && p->last_usable == usable))
        return p->last;
    struct weft__stack_pool *q = pool_find(p, usable);
    if (q) {
        p->last = q;
        p->last_usable = usable;
    }
    return q;
}

static struct weft__stack_pool *pool_find(struct weft__stack_pools *p,
                                          size_t usable) {
    size_t slot_size;
    bool paged;
    geometry(p, usable, &slot_size, &paged);
    for (struct weft__stack_pool *q = p->first; q; q = q->next)
        if (q->slot_size == slot_size)
            return q;
    struct weft__stack_pool *q = weft__calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->slot_size = slot_size;
    q->paged = paged;
    q->usable = slot_size - p->header_size - CANARY_BYTES -
                (paged ? pagesz() : 0);
    size_t n = CHUNK_TARGET / slot_size;
    q->per_chunk = (uint32_t)(n < CHUNK_MIN_SLOTS   ? CHUNK_MIN_SLOTS
                              : n > CHUNK_MAX_SLOTS ? CHUNK_MAX_SLOTS
                                                    : n);
    weft__list_init(&q->partial);
    weft__list_init(&q->full);
    q->next = p->first;
    p->first = q;
    return q;
}

static struct weft__stack_chunk *chunk_new(struct weft__stack_pool *q) {
    struct weft__stack_chunk *c = weft__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->guarded = weft__calloc(q->per_chunk, 1);
    c->next_free = weft__calloc(q->per_chunk, sizeof *c->next_free);
    /* One header page below slot 0 holds slot 0's canary. */
    c->map_size = pagesz() + (size_t)q->per_chunk * q->slot_size;
    c->map_size = WEFT__ALIGN_UP(c->map_size, pagesz());
    c->map = MAP_FAILED;
    if (c->guarded && c->next_free)
        c->map = mmap(NULL, c->map_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                      -1, 0);
    if (c->map == MAP_FAILED) {
        weft__free(c->guarded);
        weft__free(c->next_free);
        weft__free(c);
        return NULL;
    }
#ifdef MADV_NOHUGEPAGE
    /* A transparent huge page would make every stack cost 2 MiB. */
    madvise(c->map, c->map_size, MADV_NOHUGEPAGE);
#endif
    c->pool = q;
    c->base = c->map + pagesz();
    c->free_head = -1;
    weft__list_push_back(&q->partial, &c->link);
    q->free_slots += q->per_chunk;
    return c;
}

static bool guard_take(void) {
    size_t n = atomic_fetch_add(&guards_in_use, 1);
    if (n < GUARD_BUDGET)
        return true;
    atomic_fetch_sub(&guards_in_use, 1);
    return false;
}

int weft__stack_alloc(struct weft__stack_pools *p, size_t usable,
                      struct weft__stack *out) {
    struct weft__stack_pool *q = pool_get(p, usable);
    if (!q)
        return -ENOMEM;
    struct weft__stack_chunk *c;
    if (weft__list_empty(&q->partial)) {
        if (!chunk_new(q))
            return -ENOMEM;
    }
    c = WEFT__CONTAINER_OF(q->partial.next, struct weft__stack_chunk, link);
    uint32_t slot;
    bool carve = false;
    if (c->free_head >= 0) {
        slot = (uint32_t)c->free_head;
        c->free_head = c->next_free[slot];
    } else {
        slot = c->carved++;
        carve = true;
        if (q->paged && guard_take()) {
            if (mprotect(c->base + (size_t)slot * q->slot_size, pagesz(),
                         PROT_NONE) == 0) {
                c->guarded[slot] = 1;
                c->guards++;
            } else {
                atomic_fetch_sub(&guards_in_use, 1);
            }
        }
    }
    c->used++;
    q->free_slots--;
    if (c->used == q->per_chunk) {
        weft__list_remove(&c->link);
        weft__list_push_back(&q->full, &c->link);
    }

    char *slot_lo = c->base + (size_t)slot * q->slot_size;
    char *slot_hi = slot_lo + q->slot_size;
    out->chunk = c;
    out->slot = slot;
    out->guarded = c->guarded[slot];
    out->header = slot_hi - CANARY_BYTES - p->header_size;
    out->hi = (char *)out->header;
    out->lo = slot_lo + (out->guarded ? pagesz() : 0);
    /* The canary sits just below the slot, at the top of the slot (or
     * header page) underneath: resident whenever that slot is. Nothing but
     * an overflow writes there, so it is set once, when the slot is first
     * carved. */
    out->canary = (uint64_t *)(void *)(slot_lo - CANARY_BYTES);
    if (carve) {
        out->canary[0] = weft__stack_canary_value(out, p->canary_key);
        out->canary[1] = ~out->canary[0];
    }
    return 0;
}

void weft__stack_free(struct weft__stack_pools *p, struct weft__stack *s,
                      uintptr_t deepest) {
    (void)p;
    struct weft__stack_chunk *c = s->chunk;
    struct weft__stack_pool *q = c->pool;
    uint32_t slot = s->slot;

    if (q->paged && deepest && deepest < (uintptr_t)s->hi - TRIM_DEPTH) {
        uintptr_t lo = (uintptr_t)s->lo;
        uintptr_t hi = WEFT__ALIGN_UP((uintptr_t)s->hi, pagesz()) - pagesz();
        hi = hi > TRIM_KEEP ? hi - TRIM_KEEP : 0;
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }

    c->next_free[slot] = c->free_head;
    c->free_head = (int32_t)slot;
    c->used--;
    q->free_slots++;
    weft__list_remove(&c->link);
    /* Front of the partial list: the chunk just used is reused first. */
    c->link.next = q->partial.next;
    c->link.prev = &q->partial;
    q->partial.next->prev = &c->link;
    q->partial.next = &c->link;

}

/* Empty chunks are kept for the next burst of tasks: unmapping them on the
 * spot made a loop that spawns bursts map, fault in and unmap the same
 * memory over and over (7 us a task). They are given back here, when the
 * loop is idle, keeping one spare chunk per pool. */
size_t weft__stack_trim(struct weft__stack_pools *p) {
    size_t freed = 0;
    for (struct weft__stack_pool *q = p->first; q; q = q->next) {
        bool spare = false;
        struct weft__list *pos = q->partial.next;
        while (pos != &q->partial) {
            struct weft__stack_chunk *c =
                WEFT__CONTAINER_OF(pos, struct weft__stack_chunk, link);
            pos = pos->next;
            if (c->used != 0)
                continue;
            if (!spare) {
                spare = true;
                continue;
            }
            freed += c->map_size;
            chunk_unmap(c);
        }
    }
    return freed;
}
