/* The access log (weft/web_log.h): the format is compiled once into a
 * list of pieces (literal text, or a directive), and each line is built
 * into a stack buffer by walking it, in the on_response_sent signal. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../core/common.h"
#include "weft/web_log.h"

enum piece_kind { P_TEXT, P_ADDR, P_TIME, P_LINE, P_STATUS, P_BYTES, P_SECS,
                  P_SECS_F, P_MICROS, P_PID, P_REQ_HDR, P_RESP_HDR };

struct piece {
    enum piece_kind kind;
    char *text; /* P_TEXT: the text; headers: the name */
    size_t len;
};

struct alog {
    weft_web_log_fn fn;
    void *arg;
    size_t n;
    struct piece p[];
};

struct line {
    char buf[2048];
    size_t len;
};

static void put(struct line *l, const char *s, size_t n) {
    size_t room = sizeof l->buf - 1 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Untrusted bytes: controls, DEL, bytes >= 0x80, '"' and '\' as \xHH. */
static void put_escaped(struct line *l, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            char hex[5];
            snprintf(hex, sizeof hex, "\\x%02X", c);
            put(l, hex, 4);
        } else {
            put(l, &s[i], 1);
        }
    }
}

static void put_num(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put_num(struct line *l, const char *fmt, ...) {
    char tmp[48];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* "[10/Oct/2000:13:55:36 +0200]": when the request arrived, in local
 * time. The loop's clock is monotonic, so the wall time is now minus the
 * request's age. */
static void put_time(struct line *l, double age) {
    time_t t = time(NULL) - (time_t)(age > 0 ? age : 0);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[40];
    size_t n = strftime(buf, sizeof buf, "[%d/%b/%Y:%H:%M:%S %z]", &tm);
    put(l, buf, n);
}

static void put_header(struct line *l, weft_web_request_t *req,
                       const struct piece *p, bool response) {
    weft_span_t v;
    int r = response ? weft_web_resp_header(weft_web_resp(req), p->text, &v)
                     : weft_web_header(req, p->text, &v);
    if (r < 0 || v.len == 0)
        put(l, "-", 1);
    else
        put_escaped(l, v.ptr, v.len);
}

static void sent(weft_web_request_t *req, void *arg) {
    const struct alog *a = arg;
    weft_web_response_t *resp = weft_web_resp(req);
    double took = weft_loop_time(weft_loop_current()) -
                  weft_web_request_time(req);
    struct line l = {.len = 0};
    for (size_t i = 0; i < a->n; i++) {
        const struct piece *p = &a->p[i];
        switch (p->kind) {
        case P_TEXT: put(&l, p->text, p->len); break;
        case P_ADDR: {
            const char *r = weft_web_remote(req);
            put(&l, r && *r ? r : "-", r && *r ? strlen(r) : 1);
            break;
        }
        case P_TIME: put_time(&l, took); break;
        case P_LINE: {
            weft_span_t m = weft_web_method_name(req), t = weft_web_target(req);
            if (m.len == 0) { /* a request the parser refused */
                put(&l, "-", 1);
                break;
            }
            put_escaped(&l, m.ptr, m.len);
            put(&l, " ", 1);
            put_escaped(&l, t.ptr, t.len);
            put_num(&l, " HTTP/1.%d", weft_web_version(req) - 10);
            break;
        }
        case P_STATUS: put_num(&l, "%d", weft_web_resp_status(resp)); break;
        case P_BYTES: {
            uint64_t b = weft_web_resp_bytes(resp);
            if (b)
                put_num(&l, "%llu", (unsigned long long)b);
            else
                put(&l, "-", 1);
            break;
        }
        case P_SECS: put_num(&l, "%lld", (long long)took); break;
        case P_SECS_F: put_num(&l, "%.6f", took); break;
        case P_MICROS: put_num(&l, "%lld", (long long)(took * 1e6)); break;
        case P_PID: put_num(&l, "%ld", (long)getpid()); break;
        case P_REQ_HDR: put_header(&l, req, p, false); break;
        case P_RESP_HDR: put_header(&l, req, p, true); break;
        }
    }
    l.buf[l.len] = 0;
    if (a->fn)
        a->fn(l.buf, l.len, a->arg);
    else
        weft__log(WEFT_LOG_INFO, "%s", l.buf);
}

static void alog_free(void *arg) {
    struct alog *a = arg;
    for (size_t i = 0; i < a->n; i++)
        weft__free(a->p[i].text);
    weft__free(a);
}

static bool add_piece(struct alog *a, enum piece_kind k, const char *s,
                      size_t n) {
    struct piece *p = &a->p[a->n];
    p->kind = k;
    p->len = n;
    p->text = NULL;
    if (s) {
        if (!(p->text = weft__malloc(n + 1)))
            return false;
        memcpy(p->text, s, n);
        p->text[n] = 0;
    }
    a->n++;
    return true;
}

/* Compile fmt into a; -EINVAL for an unknown directive, -ENOMEM. */
static int compile(struct alog *a, const char *fmt) {
    const char *p = fmt;
    while (*p) {
        const char *pct = strchr(p, '%');
        size_t n = pct ? (size_t)(pct - p) : strlen(p);
        if (n && !add_piece(a, P_TEXT, p, n))
            return -ENOMEM;
        if (!pct)
            break;
        p = pct + 1;
        enum piece_kind k;
        const char *arg = NULL;
        size_t alen = 0;
        switch (*p) {
        case '%': k = P_TEXT, arg = "%", alen = 1; break;
        case 'a': k = P_ADDR; break;
        case 't': k = P_TIME; break;
        case 'r': k = P_LINE; break;
        case 's': k = P_STATUS; break;
        case 'b': k = P_BYTES; break;
        case 'D': k = P_MICROS; break;
        case 'P': k = P_PID; break;
        case 'T':
            k = P_SECS;
            if (p[1] == 'f')
                k = P_SECS_F, p++;
            break;
        case '{': {
            const char *close = strchr(p, '}');
            if (!close || close == p + 1 || (close[1] != 'i' && close[1] != 'o'))
                goto bad;
            k = close[1] == 'i' ? P_REQ_HDR : P_RESP_HDR;
            arg = p + 1, alen = (size_t)(close - p - 1);
            p = close + 1;
            break;
        }
        default:
            goto bad;
        }
        p++;
        if (!add_piece(a, k, arg, alen))
            return -ENOMEM;
    }
    return 0;
bad:
    weft__log(WEFT_LOG_WARN, "weft_web_access_log: unknown directive at '%.8s'",
              p - 1);
    return -EINVAL;
}

int weft_web_access_log(weft_web_app_t *app, const char *format,
                        weft_web_log_fn fn, void *arg) {
    if (!app) {
        WEFT__MISUSE("weft_web_access_log", "NULL app");
        return -EINVAL;
    }
    if (!format)
        format = WEFT_WEB_LOG_COMMON;
    size_t max = 2 * strlen(format) + 1; /* at most two pieces per '%' */
    struct alog *a = weft__calloc(1, sizeof *a + max * sizeof(struct piece));
    if (!a)
        return -ENOMEM;
    a->fn = fn, a->arg = arg;
    int r = compile(a, format);
    if (r == 0)
        r = weft_web_app_on_free(app, alog_free, a);
    if (r < 0) {
        alog_free(a);
        return r;
    }
    return weft_web_on_response_sent(app, sent, a);
}
