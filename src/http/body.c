/* Body framing (RFC 9112 sections 6 and 7): Content-Length, chunked and
 * read-until-close bodies, decoded incrementally. The chunked decoder is a
 * byte-at-a-time state machine for the chunk lines and trailer fields
 * (short) and hands out the chunk data as spans of the input (long), so
 * that the data is never copied unless the caller asks for it. */
#include "http_int.h"

enum state {
    S_DONE = 0,
    S_FAILED,      /* count holds the error, negated */
    S_LENGTH,      /* left bytes of a Content-Length body */
    S_CLOSE,       /* until the end of input */
    S_SIZE_FIRST,  /* chunk-size: the first HEXDIG */
    S_SIZE,        /* chunk-size: more HEXDIG, or what follows it */
    S_SIZE_WS,     /* BWS after the size: only before a ';' */
    S_EXT_START,   /* after ';': BWS, then the name */
    S_EXT_NAME,    /* chunk-ext-name */
    S_EXT_NAME_WS, /* BWS after the name: '=' or ';' */
    S_VAL_START,   /* after '=': BWS, then a token or a quoted string */
    S_VAL_TOKEN,
    S_VAL_QUOTED,
    S_VAL_ESCAPE,  /* after a backslash in the quoted string */
    S_VAL_END,     /* after the closing quote */
    S_VAL_WS,      /* BWS after the value: only before a ';' */
    S_SIZE_LF,     /* after the chunk line's CR */
    S_DATA,        /* left bytes of the chunk's data */
    S_DATA_CR,     /* the CRLF after the data */
    S_DATA_LF,
    S_TRAILER_FIRST, /* after the last chunk: the trailer section */
    S_TRAILER_LINE,
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_FINAL_LF,
    S_AT_TRAILERS, /* stopped before the trailers (WEFT_HTTP1_BODY_TRAILERS) */
};

enum {
    F_LENIENT = 1u << 0, /* a response's chunked framing: bare LF ends lines */
    F_TRAILERS = 1u << 1,
};

static ssize_t fail(weft_http1_body_t *b, int err) {
    b->state = S_FAILED;
    b->count = (uint32_t)-err;
    return err;
}

void weft_http1_body_init(weft_http1_body_t *b, const weft_http1_head_t *head,
                          const weft_http1_limits_t *limits, unsigned flags) {
    if (!b || !head) {
        WEFT__MISUSE("weft_http1_body_init", "NULL body or head");
        return;
    }
    struct weft__http_limits lim;
    weft__http_limits(limits, &lim);
    memset(b, 0, sizeof *b);
    b->framing = (uint8_t)head->framing;
    b->max_ext = (uint32_t)lim.chunk_ext;
    b->max_trailer = (uint32_t)lim.trailer;
    b->max_fields = (uint32_t)lim.fields;
    b->flags = (uint8_t)((head->status != 0 ? F_LENIENT : 0) |
                         (flags & WEFT_HTTP1_BODY_TRAILERS ? F_TRAILERS : 0));
    switch (head->framing) {
    case WEFT_HTTP1_LENGTH:
        b->left = head->content_length;
        b->state = b->left ? S_LENGTH : S_DONE;
        break;
    case WEFT_HTTP1_CHUNKED:
        b->state = S_SIZE_FIRST;
        break;
    case WEFT_HTTP1_UNTIL_CLOSE:
        b->state = S_CLOSE;
        break;
    default:
        b->state = S_DONE;
    }
}

/* A line ends at CR LF; a bare LF ends it only with F_LENIENT. */
static int bare_lf(const weft_http1_body_t *b) {
    return b->flags & F_LENIENT ? 0 : WEFT_EHTTP_BARE_LF;
}

/* The chunk line ended: its data follows, or the trailer section after
 * the last chunk. */
static int line_done(weft_http1_body_t *b) {
    b->state = b->left ? S_DATA : S_TRAILER_FIRST;
    b->count = 0;
    return 0;
}

/* Where a chunk extension may end: ';' starts another, CR (or LF) the
 * line. Returns 0 or an error. */
static int ext_delim(weft_http1_body_t *b, unsigned char c, int err) {
    if (c == ';')
        b->state = S_EXT_START;
    else if (c == '\r')
        b->state = S_SIZE_LF;
    else if (c == '\n')
        return bare_lf(b) ? bare_lf(b) : line_done(b);
    else
        return err;
    return 0;
}

/* One byte of a chunk line, the CRLF after the data, or the trailer
 * section. Returns 0 (consumed), 1 (not consumed: stop before it) or an
 * error. chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, chunk-ext =
 * *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112
 * section 7.1). */
static int step(weft_http1_body_t *b, unsigned char c) {
    bool tchar = weft__http_is(c, WEFT__HTTP_TCHAR);
    bool ows = c == ' ' || c == '\t';
    if (b->state >= S_SIZE_WS && b->state <= S_VAL_WS &&
        ++b->count > b->max_ext)
        return WEFT_EHTTP_CHUNK_EXT_TOO_LONG;
    switch (b->state) {
    case S_SIZE_FIRST:
    case S_SIZE:
        if (weft__http_is(c, WEFT__HTTP_HEX)) {
            if (b->left >> 59 || ++b->count > 32)
                return WEFT_EHTTP_CHUNK_SIZE_OVERFLOW;
            unsigned d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
            b->left = b->left << 4 | d;
            b->state = S_SIZE;
            return 0;
        }
        if (b->state == S_SIZE_FIRST)
            return WEFT_EHTTP_BAD_CHUNK_SIZE;
        b->count = 0;
        if (ows) {
            b->state = S_SIZE_WS;
            return 0;
        }
        return ext_delim(b, c, WEFT_EHTTP_BAD_CHUNK_SIZE);
    case S_SIZE_WS:
        if (ows)
            return 0;
        if (c == ';') {
            b->state = S_EXT_START;
            return 0;
        }
        return WEFT_EHTTP_BAD_CHUNK_SIZE;
    case S_EXT_START:
        if (ows)
            return 0;
        if (!tchar)
            return WEFT_EHTTP_BAD_CHUNK_EXT;
        b->state = S_EXT_NAME;
        return 0;
    case S_EXT_NAME:
        if (tchar)
            return 0;
        if (c == '=') {
            b->state = S_VAL_START;
            return 0;
        }
        if (ows) {
            b->state = S_EXT_NAME_WS;
            return 0;
        }
        return ext_delim(b, c, WEFT_EHTTP_BAD_CHUNK_EXT);
    case S_EXT_NAME_WS:
        if (ows)
            return 0;
        if (c == '=')
            b->state = S_VAL_START;
        else if (c == ';')
            b->state = S_EXT_START;
        else
            return WEFT_EHTTP_BAD_CHUNK_EXT;
        return 0;
    case S_VAL_START:
        if (ows)
            return 0;
        if (c == '"')
            b->state = S_VAL_QUOTED;
        else if (tchar)
            b->state = S_VAL_TOKEN;
        else
            return WEFT_EHTTP_BAD_CHUNK_EXT;
        return 0;
    case S_VAL_TOKEN:
        if (tchar)
            return 0;
        if (ows) {
            b->state = S_VAL_WS;
            return 0;
        }
        return ext_delim(b, c, WEFT_EHTTP_BAD_CHUNK_EXT);
    case S_VAL_QUOTED:
        if (c == '"')
            b->state = S_VAL_END;
        else if (c == '\\')
            b->state = S_VAL_ESCAPE;
        else if (!weft__http_is(c, WEFT__HTTP_QDTEXT))
            return WEFT_EHTTP_BAD_CHUNK_EXT;
        return 0;
    case S_VAL_ESCAPE:
        /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
        if (!weft__http_is(c, WEFT__HTTP_FVAL))
            return WEFT_EHTTP_BAD_CHUNK_EXT;
        b->state = S_VAL_QUOTED;
        return 0;
    case S_VAL_END:
        if (ows) {
            b->state = S_VAL_WS;
            return 0;
        }
        return ext_delim(b, c, WEFT_EHTTP_BAD_CHUNK_EXT);
    case S_VAL_WS:
        if (ows)
            return 0;
        if (c == ';') {
            b->state = S_EXT_START;
            return 0;
        }
        return WEFT_EHTTP_BAD_CHUNK_EXT;
    case S_SIZE_LF:
        return c == '\n' ? line_done(b) : WEFT_EHTTP_BARE_CR;
    case S_DATA_CR:
        if (c == '\r') {
            b->state = S_DATA_LF;
            return 0;
        }
        if (c == '\n' && (b->flags & F_LENIENT)) {
            b->state = S_SIZE_FIRST;
            return 0;
        }
        return WEFT_EHTTP_BAD_CHUNK_END;
    case S_DATA_LF:
        if (c != '\n')
            return WEFT_EHTTP_BARE_CR;
        b->state = S_SIZE_FIRST;
        return 0;
    default:
        break;
    }

    /* The trailer section: field lines, then an empty line. */
    if (++b->count > b->max_trailer)
        return WEFT_EHTTP_TRAILER_TOO_LARGE;
    switch (b->state) {
    case S_TRAILER_FIRST:
        if ((b->flags & F_TRAILERS) && c != '\r' && c != '\n') {
            b->count = 0;
            b->state = S_AT_TRAILERS;
            return 1;
        }
        /* fall through */
    case S_TRAILER_LINE:
        if (c == '\r') {
            b->state = S_FINAL_LF;
        } else if (c == '\n') {
            if (bare_lf(b))
                return bare_lf(b);
            b->state = S_DONE;
        } else if (tchar) {
            b->state = S_TRAILER_NAME;
        } else {
            return ows ? WEFT_EHTTP_OBS_FOLD : WEFT_EHTTP_BAD_FIELD_NAME;
        }
        return 0;
    case S_TRAILER_NAME:
        if (c == ':')
            b->state = S_TRAILER_VALUE;
        else if (!tchar)
            return ows ? WEFT_EHTTP_SPACE_BEFORE_COLON
                       : WEFT_EHTTP_BAD_FIELD_NAME;
        return 0;
    case S_TRAILER_VALUE:
        if (c == '\r')
            b->state = S_TRAILER_LF;
        else if (c == '\n' && !bare_lf(b))
            b->state = S_TRAILER_LINE;
        else if (c == '\n')
            return bare_lf(b);
        else if (!weft__http_is(c, WEFT__HTTP_FVAL))
            return WEFT_EHTTP_BAD_FIELD_VALUE;
        return 0;
    case S_TRAILER_LF:
        if (c != '\n')
            return WEFT_EHTTP_BARE_CR;
        b->state = S_TRAILER_LINE;
        return 0;
    case S_FINAL_LF:
        if (c != '\n')
            return WEFT_EHTTP_BARE_CR;
        b->state = S_DONE;
        return 0;
    }
    return 1;
}

/* weft_http1_body_next with at most max bytes of data handed out. */
static ssize_t next(weft_http1_body_t *b, const char *in, size_t len,
                    weft_span_t *data, size_t max) {
    const char *p = in, *end = in + len;
    *data = (weft_span_t){in, 0};
    switch (b->state) {
    case S_FAILED:
        return -(int)b->count;
    case S_CLOSE:
        *data = (weft_span_t){in, len < max ? len : max};
        return (ssize_t)data->len;
    case S_LENGTH: {
        size_t take = len < max ? len : max;
        if (take > b->left)
            take = (size_t)b->left;
        b->left -= take;
        if (b->left == 0)
            b->state = S_DONE;
        *data = (weft_span_t){in, take};
        return (ssize_t)take;
    }
    }
    while (p < end) {
        if (b->state == S_DATA) {
            size_t take = (size_t)(end - p);
            if (take > max)
                take = max;
            if (take > b->left)
                take = (size_t)b->left;
            *data = (weft_span_t){p, take};
            b->left -= take;
            if (b->left == 0)
                b->state = S_DATA_CR;
            return (ssize_t)(p + take - in);
        }
        if (b->state == S_DONE || b->state == S_AT_TRAILERS)
            break;
        /* The usual shapes at once: the CRLF after a chunk's data, and a
         * chunk line of hex digits and CRLF; anything else byte by byte. */
        if (b->state == S_DATA_CR && end - p >= 2 && p[0] == '\r' &&
            p[1] == '\n') {
            p += 2;
            b->state = S_SIZE_FIRST;
            continue;
        }
        if (b->state == S_SIZE_FIRST && end - p >= 3) {
            const char *q = p;
            uint64_t size = 0;
            while (q < end && q - p < 15 &&
                   weft__http_is((unsigned char)*q, WEFT__HTTP_HEX)) {
                unsigned char c = (unsigned char)*q++;
                size = size << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            }
            if (q > p && end - q >= 2 && q[0] == '\r' && q[1] == '\n') {
                b->left = size;
                line_done(b);
                p = q + 2;
                continue;
            }
        }
        /* Runs of token or quoted-string characters in extensions. */
        if (b->state == S_EXT_NAME || b->state == S_VAL_TOKEN ||
            b->state == S_VAL_QUOTED) {
            unsigned cls = b->state == S_VAL_QUOTED ? WEFT__HTTP_QDTEXT
                                                    : WEFT__HTTP_TCHAR;
            const char *q = p;
            while (q < end && weft__http_is((unsigned char)*q, cls) &&
                   *q != '"' && *q != '\\')
                q++;
            if (q > p) {
                /* count <= max_ext here (it failed when it went over). */
                if ((size_t)(q - p) > b->max_ext - b->count)
                    return fail(b, WEFT_EHTTP_CHUNK_EXT_TOO_LONG);
                b->count += (uint32_t)(q - p);
                p = q;
                continue;
            }
        }
        int r = step(b, (unsigned char)*p);
        if (r < 0)
            return fail(b, r);
        if (r > 0)
            break;
        p++;
    }
    *data = (weft_span_t){p, 0};
    return p - in;
}

ssize_t weft_http1_body_next(weft_http1_body_t *b, const char *in, size_t len,
                             weft_span_t *data) {
    if (!b || !data || (!in && len > 0)) {
        WEFT__MISUSE("weft_http1_body_next", "NULL body, input or span");
        return -EINVAL;
    }
    return next(b, in, len, data, SIZE_MAX);
}

ssize_t weft_http1_body_decode(weft_http1_body_t *b, char *buf, size_t len,
                               size_t *data_len) {
    if (!b || !data_len || (!buf && len > 0)) {
        WEFT__MISUSE("weft_http1_body_decode", "NULL body, buffer or length");
        return -EINVAL;
    }
    size_t at = 0, out = 0;
    *data_len = 0;
    while (at < len) {
        weft_span_t d;
        ssize_t n = next(b, buf + at, len - at, &d, SIZE_MAX);
        if (n < 0) {
            *data_len = out;
            return n;
        }
        if (n == 0)
            break;
        memmove(buf + out, d.ptr, d.len);
        out += d.len;
        at += (size_t)n;
    }
    *data_len = out;
    return (ssize_t)at;
}

ssize_t weft_http1_body_copy(weft_http1_body_t *b, const char *in, size_t len,
                             char *out, size_t cap, size_t *data_len) {
    if (!b || !data_len || (!in && len > 0) || (!out && cap > 0)) {
        WEFT__MISUSE("weft_http1_body_copy", "NULL body, input or output");
        return -EINVAL;
    }
    size_t at = 0, n_out = 0;
    *data_len = 0;
    while (at < len && n_out < cap) {
        weft_span_t d;
        ssize_t n = next(b, in + at, len - at, &d, cap - n_out);
        if (n < 0) {
            *data_len = n_out;
            return n;
        }
        if (n == 0)
            break;
        memcpy(out + n_out, d.ptr, d.len);
        n_out += d.len;
        at += (size_t)n;
    }
    *data_len = n_out;
    return (ssize_t)at;
}

bool weft_http1_body_done(const weft_http1_body_t *b) {
    return b && b->state == S_DONE;
}

bool weft_http1_body_at_trailers(const weft_http1_body_t *b) {
    return b && b->state == S_AT_TRAILERS;
}

int weft_http1_body_trailers(weft_http1_body_t *b, const char *buf, size_t len,
                             weft_http_field_t *fields, size_t *nfields) {
    if (!b || b->state != S_AT_TRAILERS || !nfields || (!buf && len > 0) ||
        (!fields && *nfields > 0)) {
        WEFT__MISUSE("weft_http1_body_trailers",
                     "not at the trailers, or NULL arguments");
        return -EINVAL;
    }
    struct weft__http_fields f = {
        .fields = fields,
        .max = *nfields < b->max_fields ? *nfields : b->max_fields,
    };
    int r = weft__http_parse_trailers(buf, len, b->max_trailer, &f,
                                      b->flags & F_LENIENT);
    *nfields = f.n;
    if (r >= 0)
        b->state = S_DONE;
    else if (r != -EAGAIN)
        fail(b, r);
    return r;
}

int weft_http1_body_eof(weft_http1_body_t *b) {
    if (!b) {
        WEFT__MISUSE("weft_http1_body_eof", "NULL body");
        return -EINVAL;
    }
    if (b->state == S_CLOSE)
        b->state = S_DONE;
    if (b->state == S_DONE)
        return 0;
    if (b->state == S_FAILED)
        return -(int)b->count;
    return (int)fail(b, WEFT_EHTTP_TRUNCATED);
}
