/* Diagnostics: one line per message, through a replaceable handler. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* full: escape the backslash and bytes above 127 too (text from outside);
 * else only control characters (a message that may already hold escapes,
 * and UTF-8 paths that print fine). */
static char *escape(char *dst, size_t size, const char *src, bool full) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char esc[4] = {(char)*p};
        size_t n = 1;
        if (full && *p == '\\') {
            esc[1] = '\\', n = 2;
        } else if (*p < 0x20 || *p == 0x7f || (full && *p > 0x7f)) {
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[*p >> 4];
            esc[3] = hex[*p & 15], n = 4;
        }
        if (o + n >= size)
            break;
        memcpy(dst + o, esc, n);
        o += n;
    }
    dst[o] = '\0';
    return dst;
}

char *weft__escape(char *dst, size_t size, const char *src) {
    return escape(dst, size, src, true);
}

static void default_handler(int level, const char *msg, void *arg) {
    (void)arg;
    if (level < WEFT_LOG_WARN)
        return;
    /* One line, whatever the message holds. */
    char text[512], line[640];
    escape(text, sizeof text, msg, false);
    int n = snprintf(line, sizeof line, "weft: %s\n", text);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = sizeof line - 1, line[n - 1] = '\n';
    /* One write() per line keeps lines from threads whole. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

static weft_log_fn handler = default_handler;
static void *handler_arg;

weft_log_fn weft_set_log_handler(weft_log_fn fn, void *arg, void **prev_arg) {
    weft_log_fn prev = handler;
    if (prev_arg)
        *prev_arg = handler_arg;
    handler = fn ? fn : default_handler;
    handler_arg = fn ? arg : NULL;
    return prev;
}

void weft__log(int level, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    handler(level, msg, handler_arg);
}
