/* Forms (weft/web_form.h): urlencoded bodies through httpmsg's query
 * iterator, multipart bodies through the streaming parser (multipart.c)
 * fed from weft_web_read_chunk without copying. */
#include <string.h>
#include <strings.h>

#include "../core/common.h"
#include "multipart.h"
#include "web_int.h"
#include "weft/httpmsg.h"
#include "weft/web_form.h"

/* ---- the content type --------------------------------------------------------- */

/* Whether the request's Content-Type is `type` (case-insensitive, before
 * its parameters); *ct gets the whole value. */
static bool content_type_is(weft_web_request_t *req, const char *type,
                            weft_span_t *ct) {
    weft_span_t value;
    weft_http_param_iter_t it;
    if (weft_web_header(req, "Content-Type", ct) < 0 ||
        weft_http_params_init(&it, ct->ptr, ct->len, &value) < 0)
        return false;
    size_t n = strlen(type);
    return value.len == n && strncasecmp(value.ptr, type, n) == 0;
}

/* A parameter's text (token or quoted string undone) in the arena. */
static char *param_text(weft_web_request_t *req, weft_span_t v) {
    char *out = weft_web_alloc(req, v.len + 1);
    if (!out || weft_http_unquote(out, v.len + 1, v.ptr, v.len) < 0)
        return NULL;
    return out;
}

/* ---- multipart, streamed -------------------------------------------------------- */

struct weft_web_multipart {
    weft_web_request_t *req;
    struct weft__mp p;
    const char *cur; /* input from the last read_chunk not yet parsed */
    size_t curlen;
    weft_span_t pend; /* part data found and not yet handed out */
    uint64_t total, max_size;
    bool eof, in_part, done;
};

/* The parser's errors as the client's. */
static int mp_status(int err) {
    return err == -EBADMSG ? WEFT_WEB_HTTP(400) : WEFT_WEB_HTTP(413);
}

/* The next event, reading the body as needed. */
static int pump(weft_web_multipart_t *mp, int *ev, weft_span_t *data) {
    for (;;) {
        if (mp->curlen == 0) {
            if (mp->eof) {
                if (weft__mp_eof(&mp->p) < 0)
                    return WEFT_WEB_HTTP(400); /* ended early */
                *ev = WEFT__MP_END;
                return 0;
            }
            const void *p;
            ssize_t n = weft_web_read_chunk(mp->req, &p);
            if (n < 0)
                return (int)n;
            if (n == 0) {
                mp->eof = true;
                continue;
            }
            mp->total += (uint64_t)n;
            if (mp->max_size && mp->total > mp->max_size)
                return WEFT_WEB_HTTP(413);
            mp->cur = p, mp->curlen = (size_t)n;
        }
        ssize_t k = weft__mp_feed(&mp->p, mp->cur, mp->curlen, ev, data);
        if (k < 0)
            return mp_status((int)k);
        mp->cur += k, mp->curlen -= (size_t)k;
        if (*ev != WEFT__MP_NEED)
            return 0;
    }
}

int weft_web_multipart(weft_web_request_t *req, weft_web_multipart_t **out,
                       const weft_web_multipart_opts_t *opts) {
    if (!req || !out) {
        WEFT__MISUSE("weft_web_multipart", "NULL argument");
        return -EINVAL;
    }
    weft_span_t ct, b;
    if (!content_type_is(req, "multipart/form-data", &ct))
        return WEFT_WEB_HTTP(415);
    if (weft_http_param_get(ct.ptr, ct.len, "boundary", &b) < 0)
        return WEFT_WEB_HTTP(400);
    size_t max_head = opts && opts->max_head ? opts->max_head : 8192;
    size_t max_fields = opts && opts->max_fields ? opts->max_fields : 16;
    size_t max_parts = opts && opts->max_parts ? opts->max_parts : 128;
    weft_web_multipart_t *mp = weft_web_alloc(req, sizeof *mp);
    char *hbuf = weft_web_alloc(req, max_head);
    weft_http_field_t *fields =
        weft_web_alloc(req, max_fields * sizeof *fields);
    char *boundary = param_text(req, b);
    if (!mp || !hbuf || !fields || !boundary)
        return boundary || !b.len ? -ENOMEM : WEFT_WEB_HTTP(400);
    memset(mp, 0, sizeof *mp);
    mp->req = req;
    mp->max_size = opts ? opts->max_size : 0;
    if (weft__mp_init(&mp->p, boundary, strlen(boundary), hbuf, max_head,
                      fields, max_fields, max_parts) < 0)
        return WEFT_WEB_HTTP(400);
    *out = mp;
    return 0;
}

ssize_t weft_web_multipart_read_chunk(weft_web_multipart_t *mp,
                                      const void **data) {
    if (!mp || !data)
        return -EINVAL;
    if (!mp->in_part)
        return 0;
    if (mp->pend.len) {
        *data = mp->pend.ptr;
        size_t n = mp->pend.len;
        mp->pend.len = 0;
        return (ssize_t)n;
    }
    int ev;
    weft_span_t d;
    int r = pump(mp, &ev, &d);
    if (r < 0)
        return r;
    if (ev == WEFT__MP_DATA) {
        *data = d.ptr;
        return (ssize_t)d.len;
    }
    mp->in_part = false; /* PART_END: END cannot come inside a part */
    return 0;
}

ssize_t weft_web_multipart_read(weft_web_multipart_t *mp, void *buf,
                                size_t len) {
    if (!mp || (!buf && len))
        return -EINVAL;
    if (len == 0)
        return 0;
    if (!mp->pend.len) {
        const void *d;
        ssize_t n = weft_web_multipart_read_chunk(mp, &d);
        if (n <= 0)
            return n;
        mp->pend.ptr = d, mp->pend.len = (size_t)n;
    }
    size_t n = mp->pend.len < len ? mp->pend.len : len;
    memcpy(buf, mp->pend.ptr, n);
    mp->pend.ptr += n, mp->pend.len -= n;
    return (ssize_t)n;
}

/* name=, filename= and filename*= of a Content-Disposition value. */
static int disposition(weft_web_request_t *req, weft_span_t v,
                       weft_web_part_t *part) {
    weft_http_param_iter_t it;
    weft_span_t type, name, value;
    part->name = "";
    if (weft_http_params_init(&it, v.ptr, v.len, &type) < 0)
        return WEFT_WEB_HTTP(400);
    int r;
    bool star = false;
    while ((r = weft_http_params_next(&it, &name, &value)) == 1) {
        if (name.len == 4 && strncasecmp(name.ptr, "name", 4) == 0) {
            if (!(part->name = param_text(req, value)))
                return WEFT_WEB_HTTP(400);
        } else if (name.len == 8 && strncasecmp(name.ptr, "filename", 8) == 0) {
            if (star)
                continue;
            if (!(part->filename = param_text(req, value)))
                return WEFT_WEB_HTTP(400);
        } else if (name.len == 9 &&
                   strncasecmp(name.ptr, "filename*", 9) == 0) {
            /* RFC 8187: charset ' language ' percent-encoded bytes; only
             * UTF-8 is worth decoding (RFC 8187 3.2.1 requires it). */
            const char *q = memchr(value.ptr, '\'', value.len);
            const char *q2 = q ? memchr(q + 1, '\'',
                                        value.len - (size_t)(q + 1 - value.ptr))
                               : NULL;
            if (!q2 || (size_t)(q - value.ptr) != 5 ||
                strncasecmp(value.ptr, "utf-8", 5) != 0)
                continue;
            size_t n = value.len - (size_t)(q2 + 1 - value.ptr);
            char *s = weft_web_alloc(req, n + 1);
            if (!s)
                return -ENOMEM;
            if (weft_pct_decode(s, n + 1, q2 + 1, n, 0) < 0)
                return WEFT_WEB_HTTP(400);
            part->filename = s;
            star = true;
        }
    }
    return r < 0 ? WEFT_WEB_HTTP(400) : 0;
}

static int fill_part(weft_web_multipart_t *mp, weft_web_part_t *part) {
    weft_web_request_t *req = mp->req;
    memset(part, 0, sizeof *part);
    part->name = "";
    part->fields = mp->p.fields;
    part->nfields = mp->p.nfields;
    for (size_t i = 0; i < mp->p.nfields; i++) {
        const weft_http_field_t *f = &mp->p.fields[i];
        if (f->name.len == 19 &&
            strncasecmp(f->name.ptr, "Content-Disposition", 19) == 0) {
            int r = disposition(req, f->value, part);
            if (r < 0)
                return r;
        } else if (f->name.len == 12 &&
                   strncasecmp(f->name.ptr, "Content-Type", 12) == 0) {
            part->content_type =
                weft_web_strndup(req, f->value.ptr, f->value.len);
            if (!part->content_type)
                return -ENOMEM;
        }
    }
    return 1;
}

int weft_web_multipart_next(weft_web_multipart_t *mp, weft_web_part_t *part) {
    if (!mp || !part) {
        WEFT__MISUSE("weft_web_multipart_next", "NULL argument");
        return -EINVAL;
    }
    mp->pend.len = 0;
    while (mp->in_part) { /* skip the rest of the current part */
        const void *d;
        ssize_t n = weft_web_multipart_read_chunk(mp, &d);
        if (n < 0)
            return (int)n;
    }
    if (mp->done)
        return 0;
    for (;;) {
        int ev;
        weft_span_t d;
        int r = pump(mp, &ev, &d);
        if (r < 0)
            return r;
        if (ev == WEFT__MP_END) {
            mp->done = true;
            return 0;
        }
        if (ev == WEFT__MP_HEAD) {
            mp->in_part = true;
            return fill_part(mp, part);
        }
    }
}

/* ---- whole forms ----------------------------------------------------------------- */

static const char form_key; /* weft_web_put's key for the parsed form */

struct form {
    weft_web_form_field_t *v;
    size_t n, cap;
};

static weft_web_form_field_t *form_add(weft_web_request_t *req, struct form *f) {
    if (f->n == WEFT_WEB_FORM_MAX_FIELDS)
        return NULL;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        weft_web_form_field_t *v = weft_web_alloc(req, cap * sizeof *v);
        if (!v)
            return NULL;
        if (f->n)
            memcpy(v, f->v, f->n * sizeof *v);
        f->v = v, f->cap = cap;
    }
    weft_web_form_field_t *x = &f->v[f->n++];
    memset(x, 0, sizeof *x);
    return x;
}

static char *decode(weft_web_request_t *req, weft_span_t s, size_t *len) {
    char *out = weft_web_alloc(req, s.len + 1);
    if (!out)
        return NULL;
    ssize_t n = weft_pct_decode(out, s.len + 1, s.ptr, s.len,
                                WEFT_PCT_PLUS | WEFT_PCT_LENIENT);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return out;
}

static int urlencoded(weft_web_request_t *req, struct form *f, size_t max) {
    const void *body;
    ssize_t n = weft_web_read_body(req, &body, max);
    if (n < 0)
        return (int)n;
    weft_query_iter_t it;
    weft_span_t k, v;
    weft_query_init(&it, body, (size_t)n);
    while (weft_query_next(&it, &k, &v) == 1) {
        weft_web_form_field_t *x = form_add(req, f);
        if (!x)
            return f->n == WEFT_WEB_FORM_MAX_FIELDS ? WEFT_WEB_HTTP(413)
                                                    : -ENOMEM;
        size_t kl;
        if (!(x->name = decode(req, k, &kl)) ||
            !(x->value = decode(req, v, &x->len)))
            return WEFT_WEB_HTTP(400); /* a NUL */
    }
    return 0;
}

/* A part's data, whole, into the arena (at most `left` bytes in all). */
static int part_value(weft_web_multipart_t *mp, weft_web_form_field_t *x,
                      uint64_t *left) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    const void *d;
    ssize_t n;
    while ((n = weft_web_multipart_read_chunk(mp, &d)) > 0) {
        if ((uint64_t)n > *left) {
            weft__free(buf);
            return WEFT_WEB_HTTP(413);
        }
        *left -= (uint64_t)n;
        if (len + (size_t)n + 1 > cap) {
            cap = (len + (size_t)n + 1) * 2;
            char *nb = weft__realloc(buf, cap);
            if (!nb) {
                weft__free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        /* Grown above on the first chunk: len + n + 1 > cap = 0. */
        WEFT__ANALYZER_ASSUME(buf != NULL);
        memcpy(buf + len, d, (size_t)n);
        len += (size_t)n;
    }
    if (n == 0) {
        char *v = weft_web_strndup(mp->req, buf ? buf : "", len);
        n = v ? 0 : -ENOMEM;
        x->value = v, x->len = len;
    }
    weft__free(buf);
    return (int)n;
}

static int multipart(weft_web_request_t *req, struct form *f, size_t max) {
    weft_web_multipart_opts_t o = {.max_size = max,
                                   .max_parts = WEFT_WEB_FORM_MAX_FIELDS};
    weft_web_multipart_t *mp;
    int r = weft_web_multipart(req, &mp, &o);
    weft_web_part_t part;
    uint64_t left = max;
    while (r == 0 && (r = weft_web_multipart_next(mp, &part)) == 1) {
        weft_web_form_field_t *x = form_add(req, f);
        if (!x)
            return -ENOMEM;
        x->name = part.name;
        x->filename = part.filename;
        x->content_type = part.content_type;
        r = part_value(mp, x, &left);
    }
    return r;
}

/* The app's client_max_size, as weft_web_read_body applies it (read
 * from the internals: web.h has no getter). */
static size_t body_limit(weft_web_request_t *req, size_t max) {
    if (max)
        return max;
    const weft_web_app_t *app = weft_web_request_app(req);
    if (app && app->opts.client_max_size)
        return app->opts.client_max_size;
    return req->conn->runner->o.client_max_size;
}

ssize_t weft_web_post(weft_web_request_t *req,
                      const weft_web_form_field_t **fields, size_t max) {
    if (!req || !fields) {
        WEFT__MISUSE("weft_web_post", "NULL argument");
        return -EINVAL;
    }
    struct form *f = weft_web_get(req, &form_key);
    if (f) {
        *fields = f->v;
        return (ssize_t)f->n;
    }
    f = weft_web_alloc(req, sizeof *f);
    if (!f)
        return -ENOMEM;
    memset(f, 0, sizeof *f);
    weft_span_t ct;
    int r;
    if (content_type_is(req, "application/x-www-form-urlencoded", &ct))
        r = urlencoded(req, f, max);
    else if (content_type_is(req, "multipart/form-data", &ct))
        r = multipart(req, f, body_limit(req, max));
    else
        r = WEFT_WEB_HTTP(415);
    if (r < 0)
        return r;
    r = weft_web_put(req, &form_key, f);
    if (r < 0)
        return r;
    *fields = f->v;
    return (ssize_t)f->n;
}

const weft_web_form_field_t *weft_web_post_get(const weft_web_request_t *req,
                                               const char *name) {
    const struct form *f = req && name ? weft_web_get(req, &form_key) : NULL;
    for (size_t i = 0; f && i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return &f->v[i];
    return NULL;
}
