/* The allocator hooks (weft_replace_allocator, as uv_replace_allocator). */
#include <stdatomic.h>
#include <stdlib.h>

#include "common.h"

static struct {
    void *(*malloc_fn)(size_t);
    void *(*realloc_fn)(void *, size_t);
    void *(*calloc_fn)(size_t, size_t);
    void (*free_fn)(void *);
} hooks = {malloc, realloc, calloc, free};

/* Set once weft has allocated: from then on the hooks may not change, or
 * memory from one allocator would be freed by another. */
static atomic_bool allocated;

int weft_replace_allocator(void *(*malloc_fn)(size_t),
                           void *(*realloc_fn)(void *, size_t),
                           void *(*calloc_fn)(size_t, size_t),
                           void (*free_fn)(void *)) {
    if (!malloc_fn || !realloc_fn || !calloc_fn || !free_fn)
        return -EINVAL;
    if (atomic_load(&allocated))
        return -EBUSY;
    hooks.malloc_fn = malloc_fn;
    hooks.realloc_fn = realloc_fn;
    hooks.calloc_fn = calloc_fn;
    hooks.free_fn = free_fn;
    return 0;
}

static inline void mark_allocated(void) {
    if (WEFT__UNLIKELY(!atomic_load_explicit(&allocated, memory_order_relaxed)))
        atomic_store(&allocated, 1);
}

void *weft__malloc(size_t size) {
    mark_allocated();
    return hooks.malloc_fn(size ? size : 1);
}

void *weft__calloc(size_t n, size_t size) {
    mark_allocated();
    return hooks.calloc_fn(n ? n : 1, size ? size : 1);
}

void *weft__realloc(void *ptr, size_t size) {
    mark_allocated();
    return hooks.realloc_fn(ptr, size ? size : 1);
}

void weft_free(void *ptr) {
    weft__free(ptr);
}

void weft__free(void *ptr) {
    if (ptr)
        hooks.free_fn(ptr);
}
