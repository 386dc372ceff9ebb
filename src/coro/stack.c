/* The stack pool: chunks of slots, one free list per chunk, slabs of
 * similar stacks reused LIFO so the hottest slot is handed out first. */
#include "stack.h"

#include <link.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "../core/common.h"

#ifdef WEFT__ASAN
#include <sanitizer/asan_interface.h>
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

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
    bool paged;        /* slot_size is a page multiple: guard pages allowed,
                          headers apart, hibernation */
    size_t header_size;
    uint32_t per_chunk;
    struct weft__list partial; /* chunks with a free or uncarved slot */
    struct weft__list full;
    size_t free_slots; /* free (carved or not) slots over all chunks */
    size_t chunks;
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
    uint32_t empty_since; /* tick a trim first saw it empty, or 0 */
    uint8_t *guarded; /* per slot: SLOT_GUARD, SLOT_ASLEEP */
    char *headers;    /* paged pools: the owners' objects, one a slot */
    /* Per free slot, in one word so that a free writes both at once: the
     * next free slot (low 32 bits, as an int32_t; -1 ends the list), and
     * its age (high 32 bits): 0, or the tick a trim first saw it free, or
     * RELEASED (its pages are back with the kernel). */
    uint64_t *free;
};

static inline int32_t free_next(uint64_t f) {
    return (int32_t)(uint32_t)f;
}

static inline uint32_t free_stamp(uint64_t f) {
    return (uint32_t)(f >> 32);
}

static inline uint64_t free_word(int32_t next, uint32_t stamp) {
    return (uint32_t)next | (uint64_t)stamp << 32;
}

enum {
    SLOT_GUARD = 1,  /* has a guard page */
    SLOT_ASLEEP = 2, /* its task hibernates: its pages are given back */
};

/* Ticks of the pool's clock: 2^30 ns, about a second. */
#define TICK_SHIFT 30
#define RELEASED UINT32_MAX

static atomic_size_t guards_in_use;
static atomic_size_t page_size; /* cached; loops of several threads ask */

size_t weft__stack_guards_in_use(void) {
    return atomic_load(&guards_in_use);
}

static size_t pagesz(void) {
    size_t n = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (!n) {
        n = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&page_size, n, memory_order_relaxed);
    }
    return n;
}

/* ---- the smallest stack ------------------------------------------------
 * Sanitizers and -O0 make weft's frames several times bigger: below this,
 * a minimal task could not yield, sleep and be cancelled there. */
#if defined(WEFT__ASAN) || defined(WEFT__TSAN) || !defined(__OPTIMIZE__)
#define BUILD_FLOOR (4 * 1024)
#else
#define BUILD_FLOOR 1024 /* WEFT_STACK_MIN */
#endif

/* The main program calls through PLT slots that the dynamic linker fills
 * on first use (no -z now, no LD_BIND_NOW). Only the main program is
 * looked at: weft's own library is linked with -z now, and so are
 * Debian's. */
static int first_object(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    bool *lazy = arg;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr +
                                      info->dlpi_phdr[i].p_vaddr);
    bool plt = false, now = false;
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_JMPREL)
            plt = true;
        else if (dyn->d_tag == DT_BIND_NOW)
            now = true;
        else if (dyn->d_tag == DT_FLAGS && (dyn->d_un.d_val & DF_BIND_NOW))
            now = true;
        else if (dyn->d_tag == DT_FLAGS_1 && (dyn->d_un.d_val & DF_1_NOW))
            now = true;
    }
    *lazy = plt && !now;
    return 1; /* the first object is the main program: done */
}

static bool binds_lazily(void) {
    const char *env = getenv("LD_BIND_NOW");
    if (env && *env)
        return false;
    bool lazy = false;
    dl_iterate_phdr(first_object, &lazy);
    return lazy;
}

/* Stack the lazy resolver takes (glibc's _dl_runtime_resolve): on x86-64,
 * an XSAVE area for the vector registers glibc saves (x87/SSE, AVX, MPX,
 * AVX-512: 2.4 KiB with AVX-512, from CPUID leaf 0xD, compacted when
 * XSAVEC is there, as glibc does), its register save area, and _dl_fixup's
 * own frames. XSAVEC skips components in their initial state, so the
 * writes can hop over a stack's canary: hence a floor, not a check.
 * Measured here (AVX-512): the resolver's writes reached 2,168 bytes below
 * the caller's frame; this estimate gives 3,520. */
static size_t resolver_need(void) {
    size_t xsave = 512; /* the q or xmm registers of other targets */
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid_count(0xd, 0, &a, &b, &c, &d) && b) {
        xsave = b;
        if (__get_cpuid_count(0xd, 1, &a, &b, &c, &d) && (a & 2)) {
            size_t size = 512 + 64; /* legacy area and header */
            /* glibc's STATE_SAVE_MASK (sysdeps/x86/sysdep.h): SSE (in
             * the legacy area), AVX, MPX bounds, AVX-512 masks and upper
             * registers, and in newer glibc APX. */
            const uint32_t mask = (1u << 2) | (1u << 3) | (1u << 5) |
                                  (1u << 6) | (1u << 7) | (1u << 19);
            for (unsigned i = 2; i < 20; i++) {
                if (!(mask & (1u << i)) ||
                    !__get_cpuid_count(0xd, i, &a, &b, &c, &d) || !a)
                    continue;
                if (c & 2)
                    size = WEFT__ALIGN_UP(size, 64);
                size += a;
            }
            xsave = size;
        }
    }
#endif
    return xsave + 64 + 1024;
}

static atomic_size_t floor_cached;
static atomic_bool floor_lazy;

size_t weft__stack_floor(bool *lazy) {
    size_t f = atomic_load_explicit(&floor_cached, memory_order_acquire);
    if (WEFT__UNLIKELY(!f)) {
        /* Racing threads compute the same value. */
        bool l = binds_lazily();
        f = BUILD_FLOOR;
        if (l) {
            size_t need = WEFT__ALIGN_UP(resolver_need() + 1024, 1024);
            if (need > f)
                f = need;
        }
        atomic_store_explicit(&floor_lazy, l, memory_order_relaxed);
        atomic_store_explicit(&floor_cached, f, memory_order_release);
    }
    if (lazy)
        *lazy = atomic_load_explicit(&floor_lazy, memory_order_relaxed);
    return f;
}

void weft__stack_pools_init(struct weft__stack_pools *p, size_t header_size,
                            const uint64_t *clock) {
    p->clock = clock;
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

static void chunk_free_meta(struct weft__stack_chunk *c) {
    weft__free(c->guarded);
    weft__free(c->free);
    weft__free(c);
}

static void chunk_unmap(struct weft__stack_chunk *c) {
#ifdef WEFT__ASAN
    /* The next mapping at this address must not inherit the poison. */
    ASAN_UNPOISON_MEMORY_REGION(c->map, c->map_size);
#endif
    atomic_fetch_sub(&guards_in_use, c->guards);
    c->pool->free_slots -= c->pool->per_chunk - c->used;
    c->pool->chunks--;
    weft__list_remove(&c->link);
    munmap(c->map, c->map_size);
    chunk_free_meta(c);
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
        /* The header lives apart (c->headers), so that a hibernating
         * task can give back every page of its slot. */
        *paged = true;
        need = usable + CANARY_BYTES;
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

/* A request below the floor gets the floor; that the program binds lazily
 * is said once per process: it costs memory the caller did not expect,
 * and a flag at link time saves it. Here, where a size is first seen, so
 * that spawning pays nothing for it. */
static size_t floored(size_t usable) {
    static atomic_bool said;
    bool lazy;
    size_t floor = weft__stack_floor(&lazy);
    if (usable >= floor)
        return usable;
    if (lazy && !atomic_exchange(&said, true))
        weft__log(WEFT_LOG_WARN,
                  "weft_spawn: this program binds library functions lazily "
                  "(the dynamic linker resolves them on the stack of the "
                  "task that first calls them): stacks below %zu bytes are "
                  "raised to that; link with -Wl,-z,now to use smaller ones",
                  floor);
    return floor;
}

static struct weft__stack_pool *pool_find(struct weft__stack_pools *p,
                                          size_t usable) {
    size_t slot_size;
    bool paged;
    geometry(p, floored(usable), &slot_size, &paged);
    for (struct weft__stack_pool *q = p->first; q; q = q->next)
        if (q->slot_size == slot_size)
            return q;
    struct weft__stack_pool *q = weft__calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->slot_size = slot_size;
    q->paged = paged;
    q->header_size = p->header_size;
    q->usable = slot_size - CANARY_BYTES -
                (paged ? pagesz() : p->header_size);
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
    c->free = weft__calloc(q->per_chunk, sizeof *c->free);
    /* One header page below slot 0 holds slot 0's canary; paged pools
     * keep their slots' headers below it, packed. */
    size_t headers = q->paged ? WEFT__ALIGN_UP((size_t)q->per_chunk *
                                                   q->header_size,
                                               pagesz())
                              : 0;
    c->map_size = headers + pagesz() + (size_t)q->per_chunk * q->slot_size;
    c->map_size = WEFT__ALIGN_UP(c->map_size, pagesz());
    c->map = MAP_FAILED;
    if (c->guarded && c->free)
        c->map = mmap(NULL, c->map_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                      -1, 0);
    if (c->map == MAP_FAILED) {
        chunk_free_meta(c);
        return NULL;
    }
#ifdef MADV_NOHUGEPAGE
    /* A transparent huge page would make every stack cost 2 MiB. */
    madvise(c->map, c->map_size, MADV_NOHUGEPAGE);
#endif
    c->pool = q;
    c->headers = c->map;
    c->base = c->map + headers + pagesz();
    c->free_head = -1;
    weft__list_push_back(&q->partial, &c->link);
    q->free_slots += q->per_chunk;
    q->chunks++;
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
        c->free_head = free_next(c->free[slot]);
    } else {
        slot = c->carved++;
        carve = true;
        if (q->paged && guard_take()) {
            if (mprotect(c->base + (size_t)slot * q->slot_size, pagesz(),
                         PROT_NONE) == 0) {
                c->guarded[slot] = SLOT_GUARD;
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
    out->guarded = c->guarded[slot] & SLOT_GUARD;
    out->paged = q->paged;
    if (q->paged) {
        out->header = c->headers + (size_t)slot * p->header_size;
        out->hi = slot_hi - CANARY_BYTES;
    } else {
        out->header = slot_hi - CANARY_BYTES - p->header_size;
        out->hi = (char *)out->header;
    }
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
#ifdef WEFT__ASAN
    /* Poisoned while free (and a reused slot may carry the poison of its
     * last task's frames): the stack and the header are the new owner's. */
    ASAN_UNPOISON_MEMORY_REGION(out->lo, (size_t)(out->hi - out->lo));
    ASAN_UNPOISON_MEMORY_REGION(out->header, p->header_size);
#endif
    return 0;
}

void weft__stack_free(struct weft__stack_pools *p, struct weft__stack *s,
                      uintptr_t deepest) {
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

#ifdef WEFT__ASAN
    /* A free slot's stack and header (the task, for the task layer) are
     * off limits until the slot is handed out again: a use after free of
     * a task is then reported, as for heap memory. The canary of the slot
     * above, at the very top, is still read. */
    ASAN_POISON_MEMORY_REGION(s->lo, (size_t)(s->hi - s->lo));
    ASAN_POISON_MEMORY_REGION(s->header, p->header_size);
#else
    (void)p;
#endif
    c->free[slot] = free_word(c->free_head, 0);
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

/* ---- hibernation --------------------------------------------------------- */

/* A hibernating task's stack, [from, s->hi) less its dead spans: the
 * pieces kept, in order, their words encoded in `bytes`.
 *
 * A parked stack is a third zeros, and most of the rest small integers
 * and pointers whose high halves are few (the stack's own mapping, the
 * heap, the program's text); measured on a WebSocket receiver parked
 * under its HTTP request, 2,720 bytes took 1,041, and an idle HTTP
 * connection's 640 took 233-247. So each word gets a class, a nibble (two
 * to a control byte, which comes before the words it describes), and only
 * the bytes its class does not imply: */
enum {
    W_ZERO,  /* 0: no bytes */
    W_U8,    /* < 2^8: 1 byte */
    W_U16,   /* < 2^16: 2 bytes */
    W_U32,   /* < 2^32: 4 bytes */
    W_NEG32, /* high half all ones (a small negative): its low 4 bytes */
    W_HI0,   /* high half that of the last three distinct ones seen, the */
    W_HI1,   /* most recent first (move to front): the low 4 bytes */
    W_HI2,
    W_RAW,   /* the 8 bytes; its high half becomes W_HI0's */
};

struct piece {
    uint32_t off, len; /* [from + off, from + off + len), whole words */
};

struct weft__stack_copy {
    char *from;      /* 8-aligned */
    uint32_t nbytes; /* encoded bytes */
    uint32_t npiece;
    struct piece piece[];
    /* then the encoded words */
};

static inline unsigned char *copy_bytes(struct weft__stack_copy *c) {
    return (unsigned char *)(c->piece + c->npiece);
}

int weft__stack_advice = MADV_DONTNEED;

size_t weft__stack_copy_size(const struct weft__stack_copy *copy) {
    size_t len = 0;
    for (uint32_t i = 0; copy && i < copy->npiece; i++)
        len += copy->piece[i].len;
    return len;
}

size_t weft__stack_copy_held(const struct weft__stack_copy *copy) {
    return copy ? sizeof *copy + copy->npiece * sizeof copy->piece[0] +
                      copy->nbytes
                : 0;
}

/* The class of v, with hi[] (the recent high halves) moved on as the
 * decoder will. */
static inline unsigned word_class(uint64_t v, uint32_t hi[3]) {
    uint32_t h = (uint32_t)(v >> 32);
    if (v < 0x100)
        return v ? W_U8 : W_ZERO;
    if (v < 0x10000)
        return W_U16;
    if (h == 0)
        return W_U32;
    if (h == UINT32_MAX)
        return W_NEG32;
    if (h == hi[0])
        return W_HI0;
    if (h == hi[1]) {
        hi[1] = hi[0];
        hi[0] = h;
        return W_HI1;
    }
    if (h != hi[2])
        h = 0; /* not seen: RAW */
    hi[2] = hi[1];
    hi[1] = hi[0];
    hi[0] = (uint32_t)(v >> 32);
    return h ? W_HI2 : W_RAW;
}

static const unsigned char class_bytes[16] = {0, 1, 2, 4, 4, 4, 4, 4, 8};

/* Reads and writes that touch a stack's frames without the sanitizers'
 * view of them (ASan poisons the redzones between locals) and without a
 * memcpy call the compiler could make of a loop (the interceptors check
 * too). */
#define RAW_COPY_ATTRS                                                         \
    __attribute__((noinline, no_sanitize_address, no_sanitize_thread))

/* Encode the words of the pieces into out (NULL: only count); returns the
 * bytes. Under Valgrind every word is RAW: classes would branch on stack
 * bytes nobody wrote, which Memcheck reports (copied as they are, their
 * undefinedness goes back with them). */
static RAW_COPY_ATTRS size_t encode(const char *from, const struct piece *pc,
                                    uint32_t np, unsigned char *out,
                                    bool plain) {
    uint32_t hi[3] = {(uint32_t)((uint64_t)(uintptr_t)from >> 32), 0, 0};
    size_t n = 0, k = 0; /* bytes; words */
    size_t ctl = 0;      /* where the current control byte goes */
    for (uint32_t i = 0; i < np; i++) {
        volatile const uint64_t *w =
            (volatile const uint64_t *)(const void *)(from + pc[i].off);
        for (uint32_t j = 0; j < pc[i].len / 8; j++, k++) {
            uint64_t v = w[j];
            unsigned cls = plain ? W_RAW : word_class(v, hi);
            if ((k & 1) == 0) {
                ctl = n++;
                if (out)
                    out[ctl] = (unsigned char)cls;
            } else if (out) {
                out[ctl] |= (unsigned char)(cls << 4);
            }
            unsigned nb = class_bytes[cls];
            if (out)
                for (unsigned b = 0; b < nb; b++)
                    out[n + b] = (unsigned char)(v >> (8 * b));
            n += nb;
        }
    }
    return n;
}

static RAW_COPY_ATTRS void decode(struct weft__stack_copy *c) {
    uint32_t hi[3] = {(uint32_t)((uint64_t)(uintptr_t)c->from >> 32), 0, 0};
    const unsigned char *in = copy_bytes(c);
    unsigned ctl = 0;
    size_t k = 0;
    for (uint32_t i = 0; i < c->npiece; i++) {
        volatile uint64_t *w =
            (volatile uint64_t *)(void *)(c->from + c->piece[i].off);
        for (uint32_t j = 0; j < c->piece[i].len / 8; j++, k++) {
            if ((k & 1) == 0)
                ctl = *in++;
            unsigned cls = (k & 1) ? ctl >> 4 : ctl & 15;
            uint64_t v = 0;
            for (unsigned b = 0; b < class_bytes[cls]; b++)
                v |= (uint64_t)in[b] << (8 * b);
            in += class_bytes[cls];
            switch (cls) {
            case W_NEG32:
                v |= (uint64_t)UINT32_MAX << 32;
                break;
            case W_HI0:
                v |= (uint64_t)hi[0] << 32;
                break;
            case W_HI1: {
                uint32_t h = hi[1];
                hi[1] = hi[0];
                hi[0] = h;
                v |= (uint64_t)h << 32;
                break;
            }
            case W_HI2: {
                uint32_t h = hi[2];
                hi[2] = hi[1];
                hi[1] = hi[0];
                hi[0] = h;
                v |= (uint64_t)h << 32;
                break;
            }
            case W_RAW:
                hi[2] = hi[1];
                hi[1] = hi[0];
                hi[0] = (uint32_t)(v >> 32);
                break;
            default:
                break;
            }
            w[j] = v;
        }
    }
}

static inline char *slot_top(const struct weft__stack *s) {
    return s->hi + CANARY_BYTES;
}

int weft__stack_hibernate(struct weft__stack_pools *p, struct weft__stack *s,
                          const char *from, const struct weft__span *dead,
                          size_t ndead, struct weft__stack_copy **copy) {
    (void)p;
    *copy = NULL;
    if (!s->paged || from < s->lo || from > s->hi)
        return -ENOTSUP;
    /* Whole words: a stack pointer is 16-aligned at a switch anyway. */
    from = (const char *)((uintptr_t)from & ~(uintptr_t)7);
    if (from < s->lo || (size_t)(s->hi - from) > UINT32_MAX)
        return -ENOTSUP;
    if (ndead > WEFT__STACK_DEAD_MAX)
        return -EINVAL;
    /* The dead spans as offsets into the range, whole words, sorted
     * (insertion: a few at most). */
    uintptr_t base = (uintptr_t)from, top = (uintptr_t)s->hi;
    struct {
        uintptr_t lo, hi;
    } d[WEFT__STACK_DEAD_MAX];
    size_t nd = 0;
    for (size_t i = 0; i < ndead; i++) {
        uintptr_t lo = WEFT__ALIGN_UP((uintptr_t)dead[i].lo, 8);
        uintptr_t hi = (uintptr_t)dead[i].hi & ~(uintptr_t)7;
        if (lo < base)
            lo = base;
        if (hi > top)
            hi = top;
        if (!dead[i].lo || !dead[i].hi || hi <= lo)
            continue;
        size_t j = nd++;
        for (; j > 0 && d[j - 1].lo > lo; j--)
            d[j] = d[j - 1];
        d[j].lo = lo;
        d[j].hi = hi;
    }
    /* The pieces: what lies between them (overlaps merge). */
    struct piece pc[WEFT__STACK_DEAD_MAX + 1];
    uint32_t np = 0;
    uintptr_t at = base;
    for (size_t i = 0; i <= nd; i++) {
        uintptr_t end = i < nd ? d[i].lo : top;
        if (end > at) {
            pc[np].off = (uint32_t)(at - base);
            pc[np].len = (uint32_t)(end - at);
            np++;
        }
        if (i < nd && d[i].hi > at)
            at = d[i].hi;
    }
#ifdef RUNNING_ON_VALGRIND
    bool plain = RUNNING_ON_VALGRIND;
#else
    bool plain = false;
#endif
    size_t nbytes = encode(from, pc, np, NULL, plain);
    struct weft__stack_copy *c =
        weft__malloc(sizeof *c + np * sizeof *pc + nbytes);
    if (!c)
        return -ENOMEM;
    c->from = (char *)from;
    c->nbytes = (uint32_t)nbytes;
    c->npiece = np;
    memcpy(c->piece, pc, np * sizeof *pc);
    encode(from, pc, np, copy_bytes(c), plain);
    /* Every page of the slot: the dead part below too, and the top page
     * with the canary of the slot above (see weft__stack_canary_excused). */
    uintptr_t lo = WEFT__ALIGN_UP((uintptr_t)s->lo, pagesz());
    uintptr_t hi = (uintptr_t)slot_top(s);
    madvise((void *)lo, hi - lo, weft__stack_advice);
    s->chunk->guarded[s->slot] |= SLOT_ASLEEP;
    *copy = c;
    return 0;
}

int weft__stack_thaw(struct weft__stack_pools *p, struct weft__stack *s,
                     struct weft__stack_copy *copy) {
    int r = 0;
    s->chunk->guarded[s->slot] &= (uint8_t)~SLOT_ASLEEP;
    /* The canary of the slot above: zero (untouched) or its value (set
     * when that slot was carved meanwhile); anything else was written by
     * an overflow from above. */
    uint64_t *above = (uint64_t *)(void *)s->hi;
    uint64_t want = p->canary_key ^ (uintptr_t)above;
    if (!((above[0] == 0 && above[1] == 0) ||
          (above[0] == want && above[1] == ~want)))
        r = -EFAULT;
    above[0] = want;
    above[1] = ~want;
    decode(copy);
    weft__free(copy);
    return r;
}

bool weft__stack_canary_excused(const struct weft__stack *s) {
    const struct weft__stack_chunk *c = s->chunk;
    return c && s->slot > 0 && (c->guarded[s->slot - 1] & SLOT_ASLEEP) &&
           s->canary[0] == 0 && s->canary[1] == 0;
}

/* Give the pages of a free slot's stack back to the kernel: the whole
 * pages between its bottom (above the guard) and its header. The header's
 * page stays, and with it the canary of the slot above. */
static size_t release_slot(const struct weft__stack_pools *p,
                           struct weft__stack_chunk *c, uint32_t slot) {
    struct weft__stack_pool *q = c->pool;
    uintptr_t lo = (uintptr_t)(c->base + (size_t)slot * q->slot_size);
    /* The header's first byte (or, paged, the canary of the slot above). */
    uintptr_t hi = lo + q->slot_size - CANARY_BYTES -
                   (q->paged ? 0 : p->header_size);
    if (c->guarded[slot] & SLOT_GUARD)
        lo += pagesz();
    lo = WEFT__ALIGN_UP(lo, pagesz());
    hi &= ~(uintptr_t)(pagesz() - 1);
    if (hi <= lo)
        return 0;
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
    return hi - lo;
}

/* Empty chunks are kept for the next burst of tasks: unmapping them on the
 * spot made a loop that spawns bursts map, fault in and unmap the same
 * memory over and over (7 us a task). When the loop is idle, the empty
 * chunks but one spare a pool go back, and what stayed unused for
 * WEFT__STACK_IDLE seconds: the pages of slots free that long, and the
 * spare. So a burst costs its peak only while it is recent; slots that are
 * reused within the period (LIFO: the hottest first) are left alone, and a
 * busy loop, which never idles, never pays for page faults here. `all`:
 * everything free now, whatever its age (weft_loop_stack_trim). */
size_t weft__stack_trim(struct weft__stack_pools *p, bool all) {
    size_t freed = 0;
    /* Ticks start at 1: 0 marks "not seen yet". */
    uint32_t now = (uint32_t)(*p->clock >> TICK_SHIFT) + 1;
    uint32_t idle = (uint32_t)((WEFT__STACK_IDLE * WEFT__NS_PER_SEC) >>
                               TICK_SHIFT);
    for (struct weft__stack_pool *q = p->first; q; q = q->next) {
        bool spare = false;
        struct weft__list *pos = q->partial.next;
        while (pos != &q->partial) {
            struct weft__stack_chunk *c =
                WEFT__CONTAINER_OF(pos, struct weft__stack_chunk, link);
            pos = pos->next;
            if (c->used == 0) {
                if (!c->empty_since)
                    c->empty_since = now;
                if (all || spare || now - c->empty_since >= idle) {
                    freed += c->map_size;
                    chunk_unmap(c);
                    continue;
                }
                spare = true; /* the first empty chunk is kept a while */
            } else {
                c->empty_since = 0;
            }
            for (int32_t i = c->free_head; i >= 0; i = free_next(c->free[i])) {
                uint32_t stamp = free_stamp(c->free[i]);
                if (stamp == RELEASED)
                    continue;
                if (!stamp)
                    stamp = now;
                if (all || now - stamp >= idle) {
                    freed += release_slot(p, c, (uint32_t)i);
                    stamp = RELEASED;
                }
                c->free[i] = free_word(free_next(c->free[i]), stamp);
            }
        }
    }
    return freed;
}

void weft__stack_stats(const struct weft__stack_pools *p, size_t *slots,
                       size_t *in_use, size_t *chunks, size_t *mapped,
                       size_t *resident) {
    *slots = *in_use = *chunks = *mapped = *resident = 0;
    unsigned char vec[256];
    for (const struct weft__stack_pool *q = p->first; q; q = q->next) {
        const struct weft__list *lists[2] = {&q->partial, &q->full};
        for (int l = 0; l < 2; l++) {
            for (const struct weft__list *n = lists[l]->next; n != lists[l];
                 n = n->next) {
                const struct weft__stack_chunk *c =
                    WEFT__CONTAINER_OF(n, struct weft__stack_chunk, link);
                *slots += c->carved;
                *in_use += c->used;
                *chunks += 1;
                *mapped += c->map_size;
                for (size_t off = 0; off < c->map_size;
                     off += sizeof vec * pagesz()) {
                    size_t len = c->map_size - off;
                    if (len > sizeof vec * pagesz())
                        len = sizeof vec * pagesz();
                    if (mincore(c->map + off, len, vec))
                        continue;
                    for (size_t i = 0; i < len / pagesz(); i++)
                        *resident += (vec[i] & 1) ? pagesz() : 0;
                }
            }
        }
    }
}
