/* weft/core.h - version, errors, allocator and logging hooks.
 *
 * Every weft call that can fail returns an int: >= 0 on success, a negative
 * errno value on failure (-ECANCELED, -ETIMEDOUT, -ENOMEM ...). There is no
 * errno side channel. weft_strerror() turns such a value into text.
 */
#ifndef WEFT_CORE_H
#define WEFT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_EXPORT __attribute__((visibility("default")))
#else
#define WEFT_EXPORT
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_HEX                                                       \
    ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

/* The library's version as "MAJOR.MINOR.PATCH". Static storage. */
WEFT_EXPORT const char *weft_version(void);

/* weft's own error codes, for failures errno has no name for (so far, DNS
 * resolution, weft/dns.h, and TLS, weft/tls.h). They are negative like the
 * others and lie in -3000..-3199, a range errno values never reach (Linux's
 * stay below 200),
 * so a code is either an errno or one of these. weft_strerror() and
 * weft_err_name() know them: weft_err_name(WEFT_EAI_NONAME) is
 * "EAI_NONAME". The list is X(NAME, value, description). */
#define WEFT_ERR_MAP(X)                                                        \
    X(EAI_NONAME, -3001, "Host not found")                                     \
    X(EAI_NODATA, -3002, "No address associated with host name")               \
    X(EAI_AGAIN, -3003, "Temporary failure in name resolution")                \
    X(EAI_REFUSED, -3004, "DNS server refused the query")                      \
    X(EAI_FAIL, -3005, "Non-recoverable failure in name resolution")           \
    X(EAI_BADNAME, -3006, "Invalid host name")                                 \
    X(EAI_SERVICE, -3007, "Unknown service")                                   \
    X(ETLS, -3100, "TLS failure")                                              \
    X(ETLS_UNTRUSTED, -3101, "TLS certificate not trusted")                    \
    X(ETLS_EXPIRED, -3102, "TLS certificate expired or not yet valid")         \
    X(ETLS_HOSTNAME, -3103, "TLS certificate does not match the name")

#define WEFT__ERR_ENUM(name, value, text) WEFT_##name = (value),
enum { WEFT_ERR_MAP(WEFT__ERR_ENUM) };
#undef WEFT__ERR_ENUM

/* A description of a weft error code (a negative errno such as -ECANCELED),
 * e.g. "Operation canceled", or one of weft's own codes above. Accepts
 * positive values too. Never
 * returns NULL; unknown codes give "Unknown error". Static storage,
 * thread-safe. */
WEFT_EXPORT const char *weft_strerror(int err);

/* The symbolic name of an error code: weft_err_name(-ECANCELED) is
 * "ECANCELED". A value >= 0 is a result, not an error, and gives "OK"
 * (weft_err_name(12) is not "ENOMEM"). Unknown codes give "EUNKNOWN".
 * Static storage. */
WEFT_EXPORT const char *weft_err_name(int err);

/* Replace the allocator weft uses for its own memory (loops, futures,
 * handles, queues). All four functions must be given and must behave like
 * the C library's. Call it before any other weft call; once weft has
 * allocated anything it returns -EBUSY and changes nothing. Returns 0 or
 * -EINVAL if a function is NULL. Task stacks always come from mmap.
 *
 * Threads. The hooks are only called inside weft calls, on the thread that
 * makes the call: for everything that belongs to a loop (the loop, its
 * tasks, futures, callbacks, streams, sync objects ...), that loop's own
 * thread; for the few calls tied to no loop (weft_tls_client_ctx(),
 * weft_tls_ctx_free(), weft_free(), weft_freeaddrinfo(), destroying a sync
 * object from another thread), whichever thread calls them. They are never
 * called on executor worker threads, nor by weft_call_soon_threadsafe(),
 * weft_future_set_result_threadsafe() or the weft_pool_* functions: memory
 * that crosses threads there comes from the C library's malloc. A block is
 * freed on the thread that allocated it unless you move the object to
 * another thread yourself (bytes handed to weft_free() there, say). So if
 * a single thread makes every other weft call, the hooks need not be
 * thread-safe; with loops on several threads each of them calls the hooks,
 * possibly at the same time, and they must be thread-safe (as malloc is). */
WEFT_EXPORT int weft_replace_allocator(void *(*malloc_fn)(size_t),
                                       void *(*realloc_fn)(void *, size_t),
                                       void *(*calloc_fn)(size_t, size_t),
                                       void (*free_fn)(void *));

/* Free memory that weft allocated and handed to you (e.g. the bytes of
 * weft_proc_communicate), with the allocator weft uses. NULL is ignored. */
WEFT_EXPORT void weft_free(void *ptr);

enum weft_log_level {
    WEFT_LOG_DEBUG = 0,
    WEFT_LOG_INFO = 1,
    WEFT_LOG_WARN = 2,  /* misuse of the API, lost results */
    WEFT_LOG_ERROR = 3, /* a failure weft cannot report through a return value */
};

/* Receives weft's diagnostics: one line of text without a trailing newline.
 * It may be called from any thread that uses weft, but never concurrently
 * for the same message. */
typedef void (*weft_log_fn)(int level, const char *msg, void *arg);

/* Install a log handler (NULL restores the default, which writes
 * "weft: <msg>" lines to stderr for WARN and above). Returns the previous
 * handler; its argument is stored in *prev_arg when prev_arg is not NULL.
 * Not synchronised with concurrent logging: set it at start-up. */
WEFT_EXPORT weft_log_fn weft_set_log_handler(weft_log_fn fn, void *arg,
                                             void **prev_arg);

#ifdef __cplusplus
}
#endif
#endif
