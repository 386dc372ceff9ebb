/* Diagnostics: one line per message, through a replaceable handler. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void default_handler(int level, const char *msg, void *arg) {
    (void)arg;
    if (level < WEFT_LOG_WARN)
        return;
    char line[640];
    int n = snprintf(line, sizeof line, "weft: %s\n", msg);
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
