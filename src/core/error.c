/* Error codes are negative errno values; their text comes from glibc's
 * thread-safe strerrordesc_np / strerrorname_np (glibc >= 2.32), with a
 * small table as fallback elsewhere. weft's own codes (WEFT_ERR_MAP, in a
 * range no errno reaches) come from their own table. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "common.h"

const char *weft_version(void) {
#define WEFT__STR2(x) #x
#define WEFT__STR(x) WEFT__STR2(x)
    return WEFT__STR(WEFT_VERSION_MAJOR) "." WEFT__STR(
        WEFT_VERSION_MINOR) "." WEFT__STR(WEFT_VERSION_PATCH);
}

#if !(defined(__GLIBC__) &&                                                    \
      (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32)))
/* Fallback for C libraries without the _np functions: the codes weft itself
 * produces. */
#define WEFT__ERRNO_MAP(X)                                                     \
    X(EPERM, "Operation not permitted")                                        \
    X(ENOENT, "No such file or directory")                                     \
    X(EINTR, "Interrupted system call")                                        \
    X(EAGAIN, "Resource temporarily unavailable")                              \
    X(ENOMEM, "Cannot allocate memory")                                        \
    X(EBUSY, "Device or resource busy")                                        \
    X(EINVAL, "Invalid argument")                                              \
    X(EPIPE, "Broken pipe")                                                    \
    X(EDEADLK, "Resource deadlock avoided")                                    \
    X(EALREADY, "Operation already in progress")                               \
    X(ESHUTDOWN, "Cannot send after transport endpoint shutdown")              \
    X(ETIMEDOUT, "Connection timed out")                                       \
    X(ECANCELED, "Operation canceled")
static const char *strerrordesc_np(int e) {
#define X(code, text)                                                          \
    if (e == code)                                                             \
        return text;
    WEFT__ERRNO_MAP(X)
#undef X
    return NULL;
}
static const char *strerrorname_np(int e) {
#define X(code, text)                                                          \
    if (e == code)                                                             \
        return #code;
    WEFT__ERRNO_MAP(X)
#undef X
    return NULL;
}
#endif

/* weft's own codes (WEFT_ERR_MAP in weft/core.h), in -3000..-3499. */
struct own_code {
    int code;
    const char *name, *text;
};

static const struct own_code own_codes[] = {
#define X(name, value, text) {value, #name, text},
    WEFT_ERR_MAP(X)
#undef X
};

static const struct own_code *own_code(int err) {
    int code = err > 0 ? -err : err;
    if (code > -3000 || code <= -3500)
        return NULL;
    for (size_t i = 0; i < WEFT__ARRAY_LEN(own_codes); i++)
        if (own_codes[i].code == code)
            return &own_codes[i];
    return NULL;
}

/* WEFT_WEB_HTTP(status) of weft/web.h: -4400..-4599. */
static bool http_status_code(int err) {
    return err <= -4400 && err >= -4599;
}

const char *weft_strerror(int err) {
    const struct own_code *c = own_code(err);
    if (c)
        return c->text;
    if (http_status_code(err))
        return "HTTP error status";
    const char *s = strerrordesc_np(err < 0 ? -err : err);
    return s ? s : "Unknown error";
}

const char *weft_err_name(int err) {
    if (err >= 0)
        return "OK"; /* a result, not an error: 12 is not ENOMEM */
    const struct own_code *c = own_code(err);
    if (c)
        return c->name;
    if (http_status_code(err))
        return "EHTTP";
    const char *s = strerrorname_np(err < 0 ? -err : err);
    return s ? s : "EUNKNOWN";
}

int weft__secs_to_ns(double secs, uint64_t *out) {
    if (isnan(secs))
        return -EINVAL;
    if (secs <= 0) {
        *out = 0;
        return 0;
    }
    if (secs >= (double)WEFT__NS_INF / 1e9) {
        *out = WEFT__NS_INF;
        return 0;
    }
    *out = (uint64_t)(secs * 1e9 + 0.5);
    return 0;
}
