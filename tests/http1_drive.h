/* A model connection for weft/http1.h, shared by the tests and the fuzz
 * targets: feed a byte stream to the head parser and the body decoder as
 * a server or client would (bytes arriving in pieces of given sizes,
 * pipelined messages), and write down what was parsed as a transcript, a
 * text that two runs can be compared by. The same input must give the same
 * transcript however it is split.
 *
 * Transcript lines:
 *   head METHOD TARGET 1.MINOR         a request head
 *   head 1.MINOR STATUS REASON         a response head
 *   field NAME: VALUE
 *   frame FRAMING CL FLAGS             (with DRIVE_DETAIL only; FLAGS
 *                                      without WEFT_HTTP1_FOLDED, which
 *                                      depends on earlier calls)
 *   body BYTES                         the whole body, if not empty
 *   complete                           the body ended
 *   end ok|incomplete|stop|error[ CODE]
 * Bytes outside printable ASCII are written \xHH. */
#ifndef WEFT_TEST_HTTP1_DRIVE_H
#define WEFT_TEST_HTTP1_DRIVE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft/http1.h>

/* A growable text. */
struct drive_text {
    char *s;
    size_t len, cap;
};

static inline void drive_put(struct drive_text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *ns = realloc(t->s, cap);
        if (!ns)
            abort();
        t->s = ns;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static inline void drive_puts(struct drive_text *t, const char *s) {
    drive_put(t, s, strlen(s));
}

static inline void drive_printf(struct drive_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void drive_printf(struct drive_text *t, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    drive_put(t, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n
                                                            : sizeof tmp - 1);
}

/* Bytes, printable ASCII as is (but backslash), others as \xHH. */
static inline void drive_bytes(struct drive_text *t, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            drive_put(t, (const char *)&c, 1);
        else
            drive_printf(t, "\\x%02x", c);
    }
}

static inline void drive_free(struct drive_text *t) {
    free(t->s);
    memset(t, 0, sizeof *t);
}

enum {
    DRIVE_RESPONSE = 1 << 0, /* parse responses */
    DRIVE_HEAD_REQ = 1 << 1, /* responses answer HEAD requests */
    DRIVE_SKIP_BODY = 1 << 2, /* treat every body as absent */
    DRIVE_FINISH = 1 << 3,   /* signal the end of input at the end */
    DRIVE_DETAIL = 1 << 4,   /* write frame lines */
    DRIVE_NO_PREV = 1 << 5,  /* re-parse heads from scratch (prev_len 0) */
    DRIVE_COPY = 1 << 6,     /* read bodies with body_copy, small buffer */
    DRIVE_DECODE = 1 << 7,   /* read bodies with body_decode, in place */
};

struct drive_opts {
    unsigned flags;
    const weft_http1_limits_t *limits;
    /* The sizes of the pieces the input arrives in, cycled; NULL or 0:
     * all at once. */
    const size_t *splits;
    size_t nsplits;
};

static inline void drive_end(struct drive_text *t, const char *what, int err) {
    drive_printf(t, "end %s", what);
    if (err)
        drive_printf(t, " %s", weft_err_name(err));
    drive_puts(t, "\n");
}

static inline void drive_head(struct drive_text *t, const weft_http1_head_t *h,
                              bool response, unsigned flags) {
    drive_puts(t, "head ");
    if (response) {
        drive_printf(t, "1.%d %d ", h->minor, h->status);
        drive_bytes(t, h->reason.ptr, h->reason.len);
    } else {
        drive_bytes(t, h->method.ptr, h->method.len);
        drive_puts(t, " ");
        drive_bytes(t, h->target.ptr, h->target.len);
        drive_printf(t, " 1.%d", h->minor);
    }
    drive_puts(t, "\n");
    for (size_t i = 0; i < h->nfields; i++) {
        drive_puts(t, "field ");
        drive_bytes(t, h->fields[i].name.ptr, h->fields[i].name.len);
        drive_puts(t, ": ");
        drive_bytes(t, h->fields[i].value.ptr, h->fields[i].value.len);
        drive_puts(t, "\n");
    }
    if (flags & DRIVE_DETAIL)
        drive_printf(t, "frame %d %llu %#x\n", h->framing,
                     (unsigned long long)h->content_length,
                     h->flags & ~(unsigned)WEFT_HTTP1_FOLDED);
}

/* Whether buf[0 .. n) holds nothing but empty lines. */
static inline bool drive_blank(const char *buf, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != '\r' && buf[i] != '\n')
            return false;
    return true;
}

/* Run the connection over input[0 .. len) and write its transcript. */
static inline void drive(const char *input, size_t len,
                         const struct drive_opts *o, struct drive_text *t) {
    weft_http_field_t fields[128];
    weft_http1_head_t h;
    weft_http1_body_t b;
    const bool response = o->flags & DRIVE_RESPONSE;
    /* The connection's buffer: bytes received and not yet consumed. */
    char *buf = malloc(len + 1);
    size_t have = 0, fed = 0, split = 0, prev = 0;
    bool in_body = false;
    struct drive_text body = {0};
    if (!buf)
        abort();

    for (;;) {
        /* Receive the next piece. */
        size_t piece = len - fed;
        if (o->nsplits && o->splits[split % o->nsplits] < piece)
            piece = o->splits[split % o->nsplits];
        split++;
        if (piece)
            memcpy(buf + have, input + fed, piece);
        have += piece;
        fed += piece;
        bool eof = fed == len;

        for (;;) {
            if (!in_body) {
                memset(&h, 0, sizeof h);
                h.fields = fields;
                h.max_fields = sizeof fields / sizeof fields[0];
                size_t p = o->flags & DRIVE_NO_PREV ? 0 : prev;
                int r = response
                            ? weft_http1_parse_response(
                                  &h, buf, have, p,
                                  o->flags & DRIVE_HEAD_REQ ? WEFT_HTTP_HEAD
                                                            : WEFT_HTTP_GET,
                                  o->limits)
                            : weft_http1_parse_request(&h, buf, have, p,
                                                       o->limits);
                if (r == -EAGAIN && eof && p)
                    r = response ? weft_http1_parse_response(
                                       &h, buf, have, 0,
                                       o->flags & DRIVE_HEAD_REQ
                                           ? WEFT_HTTP_HEAD
                                           : WEFT_HTTP_GET,
                                       o->limits)
                                 : weft_http1_parse_request(&h, buf, have, 0,
                                                            o->limits);
                if (r == -EAGAIN) {
                    prev = have;
                    if (!eof)
                        break;
                    if (drive_blank(buf, have))
                        drive_end(t, "ok", 0);
                    else if (o->flags & DRIVE_FINISH)
                        drive_end(t, "error", WEFT_EHTTP_TRUNCATED);
                    else
                        drive_end(t, "incomplete", 0);
                    goto out;
                }
                if (r < 0) {
                    drive_end(t, "error", r);
                    goto out;
                }
                prev = 0;
                drive_head(t, &h, response, o->flags);
                weft_http1_head_t skip = h;
                if (o->flags & DRIVE_SKIP_BODY)
                    skip.framing = WEFT_HTTP1_NO_BODY;
                weft_http1_body_init(&b, &skip, o->limits, 0);
                memmove(buf, buf + r, have - (size_t)r);
                have -= (size_t)r;
                in_body = true;
                body.len = 0;
            }
            /* The body, from what the buffer holds. */
            size_t used = 0;
            while (!weft_http1_body_done(&b) && used < have) {
                ssize_t n;
                if (o->flags & DRIVE_COPY) {
                    char small[7];
                    size_t got;
                    n = weft_http1_body_copy(&b, buf + used, have - used,
                                             small, sizeof small, &got);
                    drive_put(&body, small, got);
                } else if (o->flags & DRIVE_DECODE) {
                    size_t got;
                    n = weft_http1_body_decode(&b, buf + used, have - used,
                                               &got);
                    drive_put(&body, buf + used, got);
                } else {
                    weft_span_t d;
                    n = weft_http1_body_next(&b, buf + used, have - used, &d);
                    if (n >= 0)
                        drive_put(&body, d.ptr, d.len);
                }
                if (n < 0) {
                    if (body.len) {
                        drive_puts(t, "body ");
                        drive_bytes(t, body.s, body.len);
                        drive_puts(t, "\n");
                    }
                    drive_end(t, "error", (int)n);
                    goto out;
                }
                if (n == 0)
                    abort(); /* the decoder must make progress */
                used += (size_t)n;
            }
            memmove(buf, buf + used, have - used);
            have -= used;
            if (!weft_http1_body_done(&b) && eof &&
                (o->flags & DRIVE_FINISH))
                weft_http1_body_eof(&b);
            if (!weft_http1_body_done(&b)) {
                if (!eof)
                    break;
                if (body.len) {
                    drive_puts(t, "body ");
                    drive_bytes(t, body.s, body.len);
                    drive_puts(t, "\n");
                }
                if (o->flags & DRIVE_FINISH)
                    drive_end(t, "error", WEFT_EHTTP_TRUNCATED);
                else
                    drive_end(t, "incomplete", 0);
                goto out;
            }
            if (body.len) {
                drive_puts(t, "body ");
                drive_bytes(t, body.s, body.len);
                drive_puts(t, "\n");
            }
            drive_puts(t, "complete\n");
            in_body = false;
            /* What follows an upgrade is not HTTP/1.1; nothing follows a
             * message that closes the connection. */
            bool more = have > 0 || !eof;
            if (h.flags & WEFT_HTTP1_UPGRADE) {
                drive_end(t, "stop", 0);
                goto out;
            }
            if (!(h.flags & WEFT_HTTP1_KEEP_ALIVE) && more) {
                drive_end(t, "stop", 0);
                goto out;
            }
            if (have == 0 && eof) {
                drive_end(t, "ok", 0);
                goto out;
            }
            if (have == 0)
                break;
        }
    }
out:
    drive_free(&body);
    free(buf);
}

#endif
