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

/* weft's own error codes, for failures errno has no name for: DNS
 * resolution (weft/dns.h, -3000..-3099), TLS (weft/tls.h, -3100..-3199),
 * HTTP/1.1 messages that break a rule of RFC 9112 or 9110
 * (weft/http1.h, -3200..-3299, each named after the rule) and the HTTP
 * client's failures (weft/client.h, -3300..-3399) and WebSockets'
 * (weft/ws.h, -3400..-3499). They are
 * negative like the others and lie in -3000..-3499, a range errno values
 * never reach (Linux's stay below 200), so a code is either an errno or
 * one of these. weft_strerror() and weft_err_name() know them:
 * weft_err_name(WEFT_EAI_NONAME) is "EAI_NONAME". The list is X(NAME,
 * value, description). */
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
    X(ETLS_HOSTNAME, -3103, "TLS certificate does not match the name")         \
    X(EHTTP_BAD_START_LINE, -3200, "Malformed HTTP request or status line")    \
    X(EHTTP_BAD_METHOD, -3201, "HTTP method is not a token")                   \
    X(EHTTP_BAD_TARGET, -3202, "Invalid byte in the HTTP request target")      \
    X(EHTTP_BAD_VERSION, -3203, "Malformed HTTP version")                      \
    X(EHTTP_UNSUPPORTED_VERSION, -3204, "HTTP version not supported")          \
    X(EHTTP_BAD_STATUS, -3205, "Invalid HTTP status code")                     \
    X(EHTTP_BAD_REASON, -3206, "Invalid byte in the HTTP reason phrase")       \
    X(EHTTP_LINE_TOO_LONG, -3207, "HTTP request or status line too long")      \
    X(EHTTP_HEAD_TOO_LARGE, -3208, "HTTP header section too large")            \
    X(EHTTP_TOO_MANY_FIELDS, -3209, "Too many HTTP header fields")             \
    X(EHTTP_BAD_FIELD_NAME, -3210, "HTTP field name is not a token")           \
    X(EHTTP_SPACE_BEFORE_COLON, -3211,                                         \
      "Whitespace between an HTTP field name and its colon")                   \
    X(EHTTP_BAD_FIELD_VALUE, -3212, "Invalid byte in an HTTP field value")     \
    X(EHTTP_OBS_FOLD, -3213, "HTTP field value folded over lines (obs-fold)")  \
    X(EHTTP_SPACE_AFTER_START_LINE, -3214,                                     \
      "Whitespace before the first HTTP field line")                           \
    X(EHTTP_BARE_CR, -3215, "CR not followed by LF in an HTTP message")        \
    X(EHTTP_BARE_LF, -3216, "LF not preceded by CR in an HTTP message")        \
    X(EHTTP_DUP_HOST, -3217, "More than one Host field")                       \
    X(EHTTP_BAD_LENGTH, -3218, "Content-Length is not a number")               \
    X(EHTTP_DIFFERENT_LENGTHS, -3219, "Content-Length values differ")          \
    X(EHTTP_LENGTH_WITH_TE, -3220,                                             \
      "Content-Length together with Transfer-Encoding")                        \
    X(EHTTP_TE_NOT_CHUNKED, -3221,                                             \
      "Transfer-Encoding does not end with chunked")                           \
    X(EHTTP_TE_CHUNKED_TWICE, -3222, "Transfer-Encoding names chunked twice")  \
    X(EHTTP_BAD_TE, -3223, "Malformed Transfer-Encoding")                      \
    X(EHTTP_TE_HTTP10, -3224, "Transfer-Encoding in an HTTP/1.0 request")      \
    X(EHTTP_TE_UNSUPPORTED, -3225, "Transfer coding not implemented")          \
    X(EHTTP_BAD_CHUNK_SIZE, -3226, "Invalid HTTP chunk size")                  \
    X(EHTTP_CHUNK_SIZE_OVERFLOW, -3227, "HTTP chunk size too large")           \
    X(EHTTP_BAD_CHUNK_EXT, -3228, "Invalid HTTP chunk extension")              \
    X(EHTTP_CHUNK_EXT_TOO_LONG, -3229, "HTTP chunk extensions too long")       \
    X(EHTTP_BAD_CHUNK_END, -3230, "HTTP chunk data not followed by CRLF")      \
    X(EHTTP_TRAILER_TOO_LARGE, -3231, "HTTP trailer section too large")        \
    X(EHTTP_TRUNCATED, -3232, "HTTP message cut short by the end of input")   \
    X(ECLIENT_REDIRECTS, -3300, "Too many HTTP redirects")                     \
    X(ECLIENT_BODY_TOO_LARGE, -3301, "HTTP response body over the limit")      \
    X(ECLIENT_DECOMPRESS, -3302, "Malformed compressed HTTP body")             \
    X(ECLIENT_DECOMPRESS_LIMIT, -3303,                                         \
      "HTTP body decompresses to more than the limit")                         \
    X(ECLIENT_BAD_URL, -3304, "Invalid or unsupported URL")                    \
    X(ECLIENT_NO_RESPONSE, -3305,                                              \
      "Server closed the connection without a response")                       \
    X(ECLIENT_PROXY, -3306, "HTTP proxy refused the tunnel")                   \
    X(ECLIENT_BAD_REDIRECT, -3307, "HTTP redirect without a usable Location") \
    X(EWS_HANDSHAKE, -3400, "WebSocket opening handshake failed")             \
    X(EWS_PROTOCOL, -3401, "WebSocket protocol error")                         \
    X(EWS_BAD_UTF8, -3402, "WebSocket text is not valid UTF-8")                \
    X(EWS_TOO_BIG, -3403, "WebSocket message over the size limit")             \
    X(EWS_CLOSED, -3404, "WebSocket closed")                                   \
    X(EWS_PONG_TIMEOUT, -3405, "WebSocket peer did not answer the ping")       \
    X(EWS_SLOW, -3406, "WebSocket dropped as a slow receiver")

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
