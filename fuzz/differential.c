/* Fuzz target: weft's parser against Node's old http-parser (Debian's
 * libhttp-parser-dev, linked into this target only), on the first
 * message of the input, as a request or (one input in four) a response
 * to GET.
 *
 * Where both accept, method, target, version, status, fields, body and
 * where the message ends must agree. Where the verdicts differ, the
 * difference must be one of weft's strictness rules, checked here from
 * the bytes themselves (an independent, naive reading of the rule named
 * by weft's error code), or one of http-parser's own limits listed in
 * http_stricter() (its fixed method list, its URL grammar). Anything else
 * traps. With FUZZ_DIFF_STATS=1 the target prints at exit how often each
 * kind of outcome occurred, with an example of each; FUZZ_DIFF_NOTRAP=1
 * counts unexplained outcomes instead of trapping (to survey them).
 *
 * fuzz-seeds: request response
 * fuzz-ldflags: -lhttp_parser */
#include <http_parser.h>
#include <stdio.h>

#include "fuzz_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- outcome statistics -------------------------------------------------- */

#define NCAT 256
static struct {
    char name[160];
    unsigned long n;
    char example[160];
} cats[NCAT];
static bool stats, notrap;

#undef CHECK
#define CHECK(x)                                                               \
    do {                                                                       \
        if (!(x) && !notrap)                                                   \
            __builtin_trap();                                                  \
    } while (0)

static void print_stats(void) {
    fprintf(stderr, "differential outcomes:\n");
    for (int i = 0; i < NCAT && cats[i].name[0]; i++)
        fprintf(stderr, "  %10lu  %-60s e.g. %s\n", cats[i].n, cats[i].name,
                cats[i].example);
}

static void note(const char *cat, const uint8_t *d, size_t n) {
    if (!stats)
        return;
    int i = 0;
    while (i < NCAT - 1 && cats[i].name[0] && strcmp(cats[i].name, cat) != 0)
        i++;
    if (!cats[i].name[0]) {
        snprintf(cats[i].name, sizeof cats[i].name, "%s", cat);
        size_t o = 0;
        for (size_t j = 0; j < n && o + 5 < sizeof cats[i].example; j++) {
            unsigned char c = d[j];
            o += (size_t)snprintf(
                cats[i].example + o, sizeof cats[i].example - o,
                c >= 0x20 && c < 0x7f && c != '\\' ? "%c" : "\\x%02x", c);
        }
    }
    cats[i].n++;
    const char *dir = getenv("FUZZ_DIFF_EXAMPLES");
    if (dir && cats[i].n == 1) {
        char path[512];
        snprintf(path, sizeof path, "%s/%03d", dir, i);
        FILE *f = fopen(path, "wb");
        if (f) {
            fprintf(f, "%s\n", cat);
            fwrite(d, 1, n, f);
            fclose(f);
        }
    }
}

/* ---- http-parser's view -------------------------------------------------- */

enum { ACCEPT, MORE, REJECT };

struct hp {
    weft_span_t url, status, name[128], value[128];
    size_t n, nhead; /* fields, and those of the head (not trailers) */
    bool in_value, overflow, complete, headed;
    char *body;
    size_t body_len;
};

static void extend(weft_span_t *s, const char *at, size_t len) {
    if (s->ptr && s->ptr + s->len == at)
        s->len += len;
    else if (!s->ptr)
        *s = (weft_span_t){at, len};
    else
        s->len += len; /* not contiguous: cannot happen in one buffer */
}

static int on_url(http_parser *p, const char *at, size_t len) {
    extend(&((struct hp *)p->data)->url, at, len);
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t len) {
    extend(&((struct hp *)p->data)->status, at, len);
    return 0;
}

static int on_field(http_parser *p, const char *at, size_t len) {
    struct hp *h = p->data;
    if (h->in_value || h->n == 0) {
        if (h->n == 128) {
            h->overflow = true;
            return 1;
        }
        h->n++;
        h->in_value = false;
    }
    extend(&h->name[h->n - 1], at, len);
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t len) {
    struct hp *h = p->data;
    h->in_value = true;
    extend(&h->value[h->n - 1], at, len);
    return 0;
}

/* As Node's HTTP client does: no body for 1xx, 204 and 304 responses
 * (http-parser itself reads one if Content-Length says so). */
static int on_headers(http_parser *p) {
    struct hp *h = p->data;
    h->nhead = h->n;
    h->headed = true;
    unsigned s = p->status_code;
    return p->type == HTTP_RESPONSE && (s / 100 == 1 || s == 204 || s == 304);
}

static int on_body(http_parser *p, const char *at, size_t len) {
    struct hp *h = p->data;
    memcpy(h->body + h->body_len, at, len);
    h->body_len += len;
    return 0;
}

static int on_complete(http_parser *p) {
    ((struct hp *)p->data)->complete = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings hp_settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---- the rules, read naively from the bytes ------------------------------ */

static bool has_bare_lf(const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
            return true;
    return false;
}

static bool has_bare_cr(const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\r' && (i + 1 == n || b[i + 1] != '\n'))
            return true;
    return false;
}

/* A line (after the first) that starts with whitespace. */
static bool has_ws_line(const char *b, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (b[i - 1] == '\n' && (b[i] == ' ' || b[i] == '\t'))
            return true;
    return false;
}

static bool ctl(unsigned char c) {
    return (c < 0x20 && c != '\t') || c == 0x7f;
}
static bool not_tchar(unsigned char c) {
    return !weft__http_is(c, WEFT__HTTP_TCHAR);
}

static bool span_has_ctl(weft_span_t s) {
    for (size_t i = 0; i < s.len; i++)
        if (ctl((unsigned char)s.ptr[i]))
            return true;
    return false;
}

static bool lower_is(const char *p, size_t n, const char *lower) {
    if (n != strlen(lower))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != lower[i])
            return false;
    return true;
}

/* The lines of b[0 .. n): each up to its LF, CR before it dropped. */
struct lines {
    const char *b, *end, *p;
};

static bool next_line(struct lines *l, weft_span_t *line) {
    if (l->p >= l->end)
        return false;
    const char *e = memchr(l->p, '\n', (size_t)(l->end - l->p));
    const char *stop = e ? e : l->end;
    const char *t = stop;
    if (t > l->p && t[-1] == '\r')
        t--;
    *line = (weft_span_t){l->p, (size_t)(t - l->p)};
    l->p = e ? e + 1 : l->end;
    return true;
}

/* The head's bytes: up to and including its first empty line. */
static size_t head_end(const char *b, size_t n) {
    struct lines l = {b, b + n, b};
    weft_span_t line;
    bool first = true;
    while (next_line(&l, &line)) {
        if (line.len == 0 && !first)
            return (size_t)(l.p - b);
        if (line.len)
            first = false;
    }
    return n;
}

/* The start line: the first non-empty line. */
static weft_span_t start_line(const char *b, size_t n) {
    struct lines l = {b, b + n, b};
    weft_span_t line = {b, 0};
    while (next_line(&l, &line) && line.len == 0) {
    }
    return line;
}

/* Field lines after the start line, read naively: "name: value". */
struct nfield {
    weft_span_t name, value;
    bool bad;   /* no colon, or a name that is not a token */
    bool space; /* whitespace before the colon (not in name) */
};

static size_t naive_fields(const char *b, size_t n, bool skip_start,
                           struct nfield *f, size_t max) {
    struct lines l = {b, b + n, b};
    weft_span_t line;
    size_t k = 0;
    bool started = !skip_start;
    while (next_line(&l, &line)) {
        if (!started) {
            started = line.len > 0;
            continue;
        }
        if (line.len == 0)
            break;
        if (k == max)
            break;
        const char *c = memchr(line.ptr, ':', line.len);
        struct nfield *x = &f[k++];
        x->bad = c == NULL || c == line.ptr;
        x->name =
            (weft_span_t){line.ptr, c ? (size_t)(c - line.ptr) : line.len};
        x->space = false;
        while (c && x->name.len && weft__http_ows(x->name.ptr[x->name.len - 1]))
            x->name.len--, x->space = true;
        for (size_t i = 0; i < x->name.len; i++)
            if (not_tchar((unsigned char)x->name.ptr[i]))
                x->bad = true;
        x->value =
            c ? (weft_span_t){c + 1, (size_t)(line.ptr + line.len - c - 1)}
              : (weft_span_t){line.ptr + line.len, 0};
        while (x->value.len && weft__http_ows(x->value.ptr[0]))
            x->value.ptr++, x->value.len--;
        while (x->value.len && weft__http_ows(x->value.ptr[x->value.len - 1]))
            x->value.len--;
    }
    return k;
}

static size_t count_fields(const struct nfield *f, size_t n, const char *lo) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += lower_is(f[i].name.ptr, f[i].name.len, lo);
    return c;
}

/* A field whose name is lo followed by more token characters. */
static bool named_longer(const struct nfield *f, size_t n, const char *lo) {
    size_t ln = strlen(lo);
    for (size_t i = 0; i < n; i++)
        if (f[i].name.len > ln && lower_is(f[i].name.ptr, ln, lo))
            return true;
    return false;
}

/* The start line's version word: its first (response) or last (request)
 * space-separated word. */
static weft_span_t version_word(weft_span_t line, bool response) {
    const char *s = line.ptr, *e = line.ptr + line.len;
    if (response) {
        const char *w = memchr(s, ' ', line.len);
        return (weft_span_t){s, (size_t)((w ? w : e) - s)};
    }
    const char *w = e;
    while (w > s && w[-1] != ' ')
        w--;
    return (weft_span_t){w, (size_t)(e - w)};
}

/* The start line read naively: token SP vchar+ SP HTTP/1.x (requests) or
 * HTTP/1.x SP 3DIGIT [SP reason] (responses), no controls but HTAB. */
static bool start_line_ok(weft_span_t line, bool response) {
    const char *b = line.ptr;
    size_t n = line.len;
    for (size_t i = 0; i < n; i++)
        if (ctl((unsigned char)b[i]))
            return false;
    weft_span_t v = version_word(line, response);
    if (!(v.len == 8 &&
          (!memcmp(v.ptr, "HTTP/1.1", 8) || !memcmp(v.ptr, "HTTP/1.0", 8))))
        return false;
    if (response) {
        if (n < 12 || b[8] != ' ' || (n > 12 && b[12] != ' '))
            return false;
        for (int i = 9; i < 12; i++)
            if (b[i] < '0' || b[i] > '9')
                return false;
        return b[9] != '0';
    }
    const char *sp1 = memchr(b, ' ', n);
    if (!sp1 || sp1 == b || v.ptr - sp1 < 3 || v.ptr[-1] != ' ')
        return false;
    for (const char *p = b; p < sp1; p++)
        if (not_tchar((unsigned char)*p))
            return false;
    for (const char *p = sp1 + 1; p < v.ptr - 1; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

/* A chunked body read naively and strictly: hex CRLF data CRLF, no
 * extensions, then "name: value" trailer lines and CRLF. False if it finds
 * anything else before the end of b (wanting more is fine). */
static bool chunked_ok(const char *b, size_t n) {
    size_t i = 0;
    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        while (i < n && weft__http_is((unsigned char)b[i], WEFT__HTTP_HEX)) {
            if (++digits > 15)
                return false;
            unsigned char c = (unsigned char)b[i++];
            size = size * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        if (i == n)
            return true;
        if (digits == 0 || b[i] != '\r')
            return false;
        if (++i == n)
            return true;
        if (b[i++] != '\n')
            return false;
        if (size == 0)
            break;
        if (n - i <= size)
            return true;
        i += size;
        if (b[i] != '\r')
            return false;
        if (++i == n)
            return true;
        if (b[i++] != '\n')
            return false;
    }
    /* Trailers. */
    static struct nfield f[4096];
    size_t k = naive_fields(b + i, n - i, false, f, 4096);
    for (size_t j = 0; j < k; j++)
        if (f[j].bad || f[j].space || span_has_ctl(f[j].value))
            return false;
    return !has_bare_cr(b + i, n - i) && !has_bare_lf(b + i, n - i) &&
           !has_ws_line(b + i - 1, n - i + 1);
}

/* Does the rule weft's error names hold in these bytes? head: the head's
 * bytes (the start line first); body: the bytes after the head, where
 * weft found a body error (NULL for a head error). */
static bool rule_holds(int err, const char *head, size_t hn, const char *body,
                       size_t bn, bool response) {
    static struct nfield f[4096];
    size_t nf = naive_fields(head, hn, true, f, 4096);
    weft_span_t sl = start_line(head, hn);
    const char *b = body ? body : head;
    size_t n = body ? bn : hn;
    switch (err) {
    case WEFT_EHTTP_BARE_LF:
        return has_bare_lf(b, n);
    case WEFT_EHTTP_BARE_CR:
        return has_bare_cr(b, n);
    case WEFT_EHTTP_OBS_FOLD:
    case WEFT_EHTTP_SPACE_AFTER_START_LINE:
        return has_ws_line(b, n);
    case WEFT_EHTTP_BAD_FIELD_VALUE:
        for (size_t i = 0; i < n; i++)
            if (ctl((unsigned char)b[i]) && b[i] != '\r' && b[i] != '\n')
                return true;
        return has_bare_cr(b, n);
    case WEFT_EHTTP_BAD_FIELD_NAME:
    case WEFT_EHTTP_SPACE_BEFORE_COLON:
        if (body)
            return !chunked_ok(body, bn);
        for (size_t i = 0; i < nf; i++)
            if (f[i].bad || (f[i].space && !response))
                return true;
        return has_bare_cr(b, n);
    case WEFT_EHTTP_BAD_TARGET:
    case WEFT_EHTTP_BAD_VERSION:
    case WEFT_EHTTP_UNSUPPORTED_VERSION:
    case WEFT_EHTTP_BAD_START_LINE:
    case WEFT_EHTTP_BAD_METHOD:
    case WEFT_EHTTP_BAD_REASON:
    case WEFT_EHTTP_BAD_STATUS:
        return !start_line_ok(sl, response) || has_bare_cr(b, n) ||
               has_bare_lf(b, n);
    case WEFT_EHTTP_LENGTH_WITH_TE:
        return count_fields(f, nf, "content-length") &&
               count_fields(f, nf, "transfer-encoding");
    case WEFT_EHTTP_DIFFERENT_LENGTHS:
    case WEFT_EHTTP_BAD_LENGTH:
        for (size_t i = 0; i < nf; i++)
            if (lower_is(f[i].name.ptr, f[i].name.len, "content-length")) {
                if (f[i].value.len == 0 || f[i].value.len > 18)
                    return true;
                for (size_t j = 0; j < f[i].value.len; j++)
                    if (f[i].value.ptr[j] < '0' || f[i].value.ptr[j] > '9')
                        return true;
            }
        return count_fields(f, nf, "content-length") > 1;
    case WEFT_EHTTP_TE_NOT_CHUNKED:
    case WEFT_EHTTP_TE_CHUNKED_TWICE:
    case WEFT_EHTTP_BAD_TE:
    case WEFT_EHTTP_TE_UNSUPPORTED:
        if (response && has_ws_line(head, hn))
            return true; /* a folded Transfer-Encoding */
        for (size_t i = 0; i < nf; i++)
            if (lower_is(f[i].name.ptr, f[i].name.len, "transfer-encoding") &&
                !lower_is(f[i].value.ptr, f[i].value.len, "chunked"))
                return true;
        return count_fields(f, nf, "transfer-encoding") > 1;
    case WEFT_EHTTP_TE_HTTP10: {
        weft_span_t v = version_word(sl, response);
        return v.len == 8 && !memcmp(v.ptr, "HTTP/1.0", 8) &&
               count_fields(f, nf, "transfer-encoding");
    }
    case WEFT_EHTTP_DUP_HOST:
        return count_fields(f, nf, "host") > 1;
    case WEFT_EHTTP_BAD_CHUNK_SIZE:
    case WEFT_EHTTP_CHUNK_SIZE_OVERFLOW:
    case WEFT_EHTTP_BAD_CHUNK_EXT:
    case WEFT_EHTTP_BAD_CHUNK_END:
    case WEFT_EHTTP_CHUNK_EXT_TOO_LONG:
    case WEFT_EHTTP_TRAILER_TOO_LARGE:
        return body && !chunked_ok(body, bn);
    case WEFT_EHTTP_LINE_TOO_LONG:
    case WEFT_EHTTP_HEAD_TOO_LARGE:
    case WEFT_EHTTP_TOO_MANY_FIELDS:
        return sl.len > WEFT_HTTP1_DEFAULT_MAX_START_LINE ||
               hn > WEFT_HTTP1_DEFAULT_MAX_HEAD ||
               nf > WEFT_HTTP1_DEFAULT_MAX_FIELDS;
    }
    return false;
}

/* A chunk line with whitespace between the size and a ';'. */
static bool chunk_bws(const char *b, size_t n) {
    struct lines l = {b, b + n, b};
    weft_span_t line;
    while (next_line(&l, &line)) {
        size_t i = 0;
        while (i < line.len &&
               weft__http_is((unsigned char)line.ptr[i], WEFT__HTTP_HEX))
            i++;
        if (i == 0 || i == line.len || !weft__http_ows(line.ptr[i]))
            continue;
        while (i < line.len && weft__http_ows(line.ptr[i]))
            i++;
        if (i < line.len && line.ptr[i] == ';')
            return true;
    }
    return false;
}

/* Whether b[0 .. n), read as a request's (strict) chunked body, fails
 * for want of a CR: where a response's leniency took a bare LF. */
static bool strict_chunked_err(const char *b, size_t n) {
    weft_http1_head_t h = {0};
    h.framing = WEFT_HTTP1_CHUNKED;
    weft_http1_body_t body;
    weft_http1_body_init(&body, &h, NULL, 0);
    char *copy = malloc(n + 1);
    CHECK(copy != NULL);
    memcpy(copy, b, n);
    size_t got;
    ssize_t r = weft_http1_body_decode(&body, copy, n, &got);
    free(copy);
    return r == WEFT_EHTTP_BARE_LF || r == WEFT_EHTTP_BAD_CHUNK_END;
}

/* A Content-Length value that is a comma list of equal decimal numbers
 * (elements with optional whitespace around them). */
static bool cl_equal_list(weft_span_t v) {
    const char *p = v.ptr, *end = v.ptr + v.len;
    bool first = true, list = false;
    unsigned long long want = 0;
    while (p < end) {
        while (p < end && weft__http_ows(*p))
            p++;
        unsigned long long x = 0;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9') {
            if (x > 1000000000000000000ULL)
                return false;
            x = x * 10 + (unsigned)(*p++ - '0');
        }
        if (p == d)
            return false;
        while (p < end && weft__http_ows(*p))
            p++;
        if (!first && x != want)
            return false;
        want = x;
        first = false;
        if (p < end) {
            if (*p != ',')
                return false;
            list = true;
            p++;
        }
    }
    return list;
}

/* Why http-parser refuses what weft accepts, if it is one of its own
 * rules or a known fault of it; NULL if unexplained. */
/* Whether the OWS after a field's (trimmed) value holds an HTAB, which
 * http-parser takes as part of the value ("chunked \t", "5\t"). */
static bool htab_after(const struct nfield *f, const char *end) {
    for (const char *p = f->value.ptr + f->value.len;
         p < end && (*p == ' ' || *p == '\t'); p++)
        if (*p == '\t')
            return true;
    return false;
}

static const char *http_parser_why(enum http_errno e, const char *in,
                                   size_t size, size_t hn, bool response,
                                   const struct hp *hp) {
    const char *head = in;
    static struct nfield f[4096];
    size_t nf = naive_fields(head, hn, true, f, 4096);
    if (response && e == HPE_INVALID_CHUNK_SIZE &&
        strict_chunked_err(in + hn, size - hn))
        return "weft's response leniency: a bare LF ends a chunk's line";
    if (response && has_bare_lf(in, size) &&
        (e == HPE_INVALID_CHUNK_SIZE || e == HPE_LF_EXPECTED ||
         e == HPE_STRICT || e == HPE_INVALID_HEADER_TOKEN ||
         e == HPE_INVALID_CONSTANT))
        return "weft's response leniency: a bare LF ends a line";
    for (size_t i = 0; i < nf; i++)
        if (e == HPE_INVALID_CONTENT_LENGTH &&
            lower_is(f[i].name.ptr, f[i].name.len, "content-length") &&
            htab_after(&f[i], in + size))
            return "http-parser fault: HTAB after a Content-Length value "
                   "(OWS, RFC 9110 5.6.3)";
    for (size_t i = 0; i < nf; i++)
        if (e == HPE_INVALID_CONTENT_LENGTH &&
            lower_is(f[i].name.ptr, f[i].name.len, "content-length") &&
            cl_equal_list(f[i].value))
            return "http-parser refuses a Content-Length list of equal "
                   "values (RFC 9110 8.6 lets a recipient take it as one)";
    for (size_t i = 0; i < nf; i++)
        if (e == HPE_INVALID_TRANSFER_ENCODING &&
            lower_is(f[i].name.ptr, f[i].name.len, "transfer-encoding") &&
            htab_after(&f[i], in + size))
            return "http-parser fault: HTAB after a Transfer-Encoding value "
                   "(OWS, RFC 9110 5.6.3): 'chunked' not seen, so a request "
                   "is refused";
    for (size_t i = 0; i < nf; i++)
        if (e == HPE_INVALID_TRANSFER_ENCODING &&
            lower_is(f[i].name.ptr, f[i].name.len, "transfer-encoding") &&
            memchr(f[i].value.ptr, ',', f[i].value.len))
            return "http-parser reads Transfer-Encoding as one word, not a "
                   "list (RFC 9110 5.6.1)";
    if (e == HPE_INVALID_CHUNK_SIZE && chunk_bws(in + hn, size - hn))
        return "http-parser refuses HTAB after a chunk size (BWS before a "
               "chunk extension, RFC 9112 7.1.1)";
    for (size_t i = 0; i < nf; i++)
        if (response && f[i].space && e == HPE_INVALID_HEADER_TOKEN)
            return "weft's response leniency: whitespace before a colon is "
                   "dropped (RFC 9112 5.1)";
    for (size_t i = hp->nhead; i < hp->n; i++)
        if ((e == HPE_UNEXPECTED_CONTENT_LENGTH ||
             e == HPE_INVALID_CONTENT_LENGTH) &&
            lower_is(hp->name[i].ptr, hp->name[i].len, "content-length"))
            return "http-parser applies the Content-Length rules to trailer "
                   "fields (RFC 9110 6.5.1: they do not frame anything)";
    if (named_longer(f, nf, "transfer-encoding") ||
        named_longer(f, nf, "content-length"))
        return "http-parser fault: a field whose name only starts with "
               "Transfer-Encoding or Content-Length counts as one";
    switch (e) {
    case HPE_INVALID_METHOD:
    case HPE_INVALID_CONSTANT:
        return "http-parser knows a fixed list of methods";
    case HPE_INVALID_URL:
    case HPE_INVALID_HOST:
    case HPE_INVALID_PORT:
    case HPE_INVALID_PATH:
    case HPE_INVALID_QUERY_STRING:
    case HPE_INVALID_FRAGMENT:
        return "http-parser checks a URL grammar (weft: any visible ASCII)";
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        if (count_fields(f, nf, "content-length") > 1)
            return "http-parser refuses repeated equal Content-Length (RFC "
                   "9112 6.3 takes them as one)";
        if (response && count_fields(f, nf, "content-length") &&
            count_fields(f, nf, "transfer-encoding"))
            return "weft's response rule: Transfer-Encoding overrides "
                   "Content-Length and the connection closes after (RFC "
                   "9112 6.3 item 3), and in a 1xx, 204 or 304 neither "
                   "frames anything (item 1); http-parser refuses both";
        return NULL;
    case HPE_HEADER_OVERFLOW:
        return "http-parser's 80 KiB head limit";
    case HPE_CB_header_field:
        return "this target's 128-field cap";
    default:
        (void)response;
        return NULL;
    }
}

/* ---- the comparison ------------------------------------------------------ */

static bool span_eq_trim(weft_span_t a, weft_span_t b) {
    while (a.len && weft__http_ows(a.ptr[a.len - 1]))
        a.len--;
    while (b.len && weft__http_ows(b.ptr[b.len - 1]))
        b.len--;
    while (a.len && weft__http_ows(a.ptr[0]))
        a.ptr++, a.len--;
    while (b.len && weft__http_ows(b.ptr[0]))
        b.ptr++, b.len--;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static const char *verdict(int v) {
    return v == ACCEPT ? "accepts" : v == MORE ? "wants more" : "rejects";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    stats = getenv("FUZZ_DIFF_STATS") != NULL;
    notrap = getenv("FUZZ_DIFF_NOTRAP") != NULL;
    static bool once;
    if (stats && !once) {
        once = true;
        atexit(print_stats);
    }
    uint64_t hh = fuzz_hash(data, size);
    bool response = (hh & 3) == 0;
    const char *in = (const char *)data;
    char *buf = malloc(size + 1);
    CHECK(buf != NULL);
    memcpy(buf, data, size);

    /* weft: the first message. */
    weft_http_field_t f[128];
    weft_http1_head_t h = {.fields = f, .max_fields = 128};
    int wr = response ? weft_http1_parse_response(&h, buf, size, 0,
                                                  WEFT_HTTP_GET, NULL)
                      : weft_http1_parse_request(&h, buf, size, 0, NULL);
    int wv = wr == -EAGAIN ? MORE : wr < 0 ? REJECT : MORE;
    size_t head_len = wr > 0 ? (size_t)wr : 0, wused = head_len;
    bool body_err = false;
    char *wbody = malloc(size + 1);
    size_t wbody_len = 0;
    CHECK(wbody != NULL);
    if (wr >= 0) {
        weft_http1_body_t b;
        weft_http1_body_init(&b, &h, NULL, 0);
        while (!weft_http1_body_done(&b) && wused < size) {
            weft_span_t d;
            ssize_t k = weft_http1_body_next(&b, buf + wused, size - wused, &d);
            if (k < 0) {
                wr = (int)k;
                wv = REJECT;
                body_err = true;
                break;
            }
            memcpy(wbody + wbody_len, d.ptr, d.len);
            wbody_len += d.len;
            wused += (size_t)k;
        }
        if (wv != REJECT && weft_http1_body_done(&b))
            wv = ACCEPT;
    }

    /* http-parser: the first message (from data: weft may unfold buf). */
    struct hp hp;
    memset(&hp, 0, sizeof hp);
    hp.body = malloc(size + 1);
    CHECK(hp.body != NULL);
    http_parser p;
    http_parser_init(&p, response ? HTTP_RESPONSE : HTTP_REQUEST);
    p.data = &hp;
    size_t hused = http_parser_execute(&p, &hp_settings, in, size);
    enum http_errno he = HTTP_PARSER_ERRNO(&p);
    int hv = hp.complete                          ? ACCEPT
             : (he != HPE_OK && he != HPE_PAUSED) ? REJECT
                                                  : MORE;

    size_t hn = head_len ? head_len : head_end(in, size);
    char cat[160];
    if (p.upgrade) {
        /* http-parser hands the rest to the caller: nothing to compare
         * beyond the head. */
        snprintf(cat, sizeof cat, "http-parser stops at an upgrade, weft %s",
                 verdict(wv));
        note(cat, data, size);
    } else if (wv == ACCEPT && hv == ACCEPT) {
        bool same = wused == hused && wbody_len == hp.body_len &&
                    memcmp(wbody, hp.body, wbody_len) == 0 &&
                    h.nfields == hp.nhead && h.minor == p.http_minor &&
                    p.http_major == 1;
        if (response)
            same = same && h.status == (int)p.status_code;
        else
            same = same && span_eq_trim(h.target, hp.url) &&
                   h.method.len == strlen(http_method_str(p.method)) &&
                   memcmp(h.method.ptr, http_method_str(p.method),
                          h.method.len) == 0;
        for (size_t i = 0; same && i < h.nfields; i++)
            same = span_eq_trim(f[i].name, hp.name[i]) &&
                   (span_eq_trim(f[i].value, hp.value[i]) ||
                    (h.flags & WEFT_HTTP1_FOLDED));
        note(same ? "both accept" : "both accept: DIFFERENT MESSAGE", data,
             size);
        CHECK(same);
    } else if (wv == REJECT && hv != REJECT) {
        /* weft refuses: one of its rules, seen in the bytes. */
        bool holds =
            body_err
                ? rule_holds(wr, in, head_len, in + head_len,
                             (hv == ACCEPT ? hused : size) - head_len, response)
                : rule_holds(wr, in, hn, NULL, 0, response);
        snprintf(cat, sizeof cat, "weft rejects %s, http-parser %s%s",
                 weft_err_name(wr), verdict(hv),
                 holds ? "" : ": RULE NOT SEEN");
        note(cat, data, size);
        CHECK(holds);
    } else if (hv == REJECT && wv != REJECT) {
        const char *why = http_parser_why(he, in, size, hn, response, &hp);
        snprintf(cat, sizeof cat, "http-parser rejects %s, weft %s: %s",
                 http_errno_name(he), verdict(wv),
                 why          ? why
                 : wv == MORE ? "(weft has not seen enough yet)"
                              : "UNEXPLAINED");
        note(cat, data, size);
        CHECK(why || wv == MORE);
    } else if (wv != hv) {
        snprintf(cat, sizeof cat, "weft %s, http-parser %s", verdict(wv),
                 verdict(hv));
        note(cat, data, size);
    } else {
        snprintf(cat, sizeof cat, "both %s",
                 wv == REJECT ? "reject" : "want more");
        note(cat, data, size);
    }
    free(hp.body);
    free(wbody);
    free(buf);
    return 0;
}
