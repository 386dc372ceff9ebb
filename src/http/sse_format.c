/* Server-sent events: formatting one event (weft/web_sse.h). Pure; the
 * request side is in sse.c. The format is the HTML standard's
 * "text/event-stream": field lines "name: value" LF, an empty line
 * dispatching the event. */
#include <stdio.h>
#include <string.h>

#include "../core/common.h"
#include "weft/web_sse.h"

struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n) {
    if (o->len < o->cap)
        memcpy(o->buf + o->len, s, n <= o->cap - o->len ? n : o->cap - o->len);
    o->len += n;
}

/* A one-line field: name ": " value LF; value may not break the line. */
static bool field(struct out *o, const char *name, const char *value) {
    size_t n = strlen(value);
    if (strpbrk(value, "\r\n"))
        return false;
    put(o, name, strlen(name));
    put(o, ": ", 2);
    put(o, value, n);
    put(o, "\n", 1);
    return true;
}

ssize_t weft_web_sse_format(char *buf, size_t cap,
                            const weft_web_sse_event_t *ev) {
    if (!ev || (!buf && cap)) {
        WEFT__MISUSE("weft_web_sse_format", "NULL argument");
        return -EINVAL;
    }
    struct out o = {buf, cap, 0};
    if (ev->event && !field(&o, "event", ev->event))
        return -EINVAL;
    if (ev->id && !field(&o, "id", ev->id))
        return -EINVAL;
    if (ev->retry_ms >= 0) {
        char num[24];
        snprintf(num, sizeof num, "%ld", ev->retry_ms);
        field(&o, "retry", num);
    }
    const char *d = ev->data ? ev->data : "";
    size_t n = ev->data_len == SIZE_MAX ? strlen(d) : ev->data_len;
    if (!ev->data)
        n = 0;
    if (memchr(d, 0, n))
        return -EINVAL;
    /* One data line per line: CR LF, CR and LF all end a line, as the
     * client's parser reads them. */
    const char *p = d, *end = d + n;
    for (;;) {
        const char *e = p;
        while (e < end && *e != '\r' && *e != '\n')
            e++;
        put(&o, "data: ", e > p ? 6 : 5);
        put(&o, p, (size_t)(e - p));
        put(&o, "\n", 1);
        if (e == end)
            break;
        p = e + (e[0] == '\r' && e + 1 < end && e[1] == '\n' ? 2 : 1);
    }
    put(&o, "\n", 1);
    return (ssize_t)o.len;
}
