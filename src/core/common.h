/* Internal: macros and helpers every part of weft uses. Never installed. */
#ifndef WEFT_CORE_COMMON_H
#define WEFT_CORE_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/core.h"

#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define WEFT__CONTAINER_OF(ptr, type, member)                                  \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define WEFT__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WEFT__ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uintptr_t)(a)-1))
#define WEFT__NS_PER_SEC UINT64_C(1000000000)

/* clang's static analyzer (scan-build, `make analyze`) reads one file at a
 * time and does not follow calls to variadic functions, so it walks paths
 * that a callee elsewhere rules out (a failure helper that returns the
 * code it is given, a resolver that never succeeds with an empty list).
 * WEFT__ANALYZER_ASSUME(c) tells it c holds there; each use says why.
 * Nothing in a real build. */
#ifdef __clang_analyzer__
#define WEFT__ANALYZER_ASSUME(c) ((c) ? (void)0 : __builtin_unreachable())
#else
#define WEFT__ANALYZER_ASSUME(c) ((void)0)
#endif

/* -errno after a failed system call: positive then, which the analyzer
 * does not know (it walks "errno == 0: returns 0, *out unset"). */
static inline int weft__neg_errno(void) {
    int r = -errno;
    WEFT__ANALYZER_ASSUME(r < 0);
    return r;
}

/* Thread-local storage of the library: initial-exec is one instruction on
 * x86-64 (no __tls_get_addr call), and weft keeps only a few words there. */
#define WEFT__TLS __thread __attribute__((tls_model("initial-exec")))

/* Sanitizer detection, for both GCC and clang spellings. */
#if defined(__SANITIZE_ADDRESS__)
#define WEFT__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#endif
#endif

/* Allocation through the replaceable hooks of weft_replace_allocator(). */
void *weft__malloc(size_t size);
void *weft__calloc(size_t n, size_t size);
void *weft__realloc(void *ptr, size_t size);
void weft__free(void *ptr);

/* Log one line through the installed handler. */
void weft__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copy src into dst (size > 0 bytes, NUL-terminated, cut to fit) with
 * what a one-line message must not carry escaped: control characters, DEL
 * and bytes above 127 as \xNN, a backslash as \\. For text that comes
 * from outside (a host name, a peer's bytes). Returns dst. */
char *weft__escape(char *dst, size_t size, const char *src);

/* Report API misuse: a WARN line naming the function. */
#define WEFT__MISUSE(fn, ...) weft__log(WEFT_LOG_WARN, fn ": " __VA_ARGS__)

/* Seconds (double, from the public API) to nanoseconds. Negative counts as
 * 0; returns -EINVAL for NaN. Values beyond ~292 years saturate at
 * WEFT__NS_INF. */
#define WEFT__NS_INF (UINT64_MAX / 2)
int weft__secs_to_ns(double secs, uint64_t *out);

#endif
