/* Response compression (weft/web_static.h): an on_response_prepare
 * signal that negotiates gzip or deflate with the request's
 * Accept-Encoding and installs a zlib body filter. */
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "../core/common.h"
#include "web_int.h"
#include "weft/httpmsg.h"
#include "weft/web_static.h"

#define DEFAULT_MIN 1024
#define OUT_CHUNK 16384

struct zfilter {
    z_stream z;
    unsigned char out[OUT_CHUNK];
};

/* ---- the filter ----------------------------------------------------------------- */

/* Each write is flushed (Z_SYNC_FLUSH) so that a stream's pieces reach
 * the client when written (server-sent events, progress output); the
 * last one ends the zlib stream. A body given whole (bytes) is one
 * Z_FINISH call. */
static int zwrite(void *state, weft_web_filter_out_t *out, const void *data,
                  size_t len, bool last) {
    struct zfilter *f = state;
    if (len == 0 && !last)
        return 0;
    f->z.next_in = (Bytef *)(uintptr_t)data;
    f->z.avail_in = (uInt)len;
    int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
        f->z.next_out = f->out;
        f->z.avail_out = sizeof f->out;
        int r = deflate(&f->z, flush);
        if (r == Z_STREAM_ERROR)
            return -EIO;
        size_t have = sizeof f->out - f->z.avail_out;
        if (have) {
            int e = weft_web_filter_emit(out, f->out, have);
            if (e < 0)
                return e;
        }
        if (last ? r == Z_STREAM_END
                 : f->z.avail_out != 0 && f->z.avail_in == 0)
            return 0;
        if (r == Z_BUF_ERROR && have == 0)
            return -EIO; /* no progress possible: cannot happen */
    }
}

static void zfree(void *state) {
    struct zfilter *f = state;
    deflateEnd(&f->z);
    weft__free(f);
}

static const weft_web_filter_t zfilter_ops = {zwrite, zfree};

/* ---- deciding ------------------------------------------------------------------- */

struct copts {
    int level;
    size_t min_size;
    const char *const *types;
};

static void fill(struct copts *c, const weft_web_compress_opts_t *o) {
    c->level = o && o->level ? o->level : Z_DEFAULT_COMPRESSION;
    c->min_size = o && o->min_size ? o->min_size : DEFAULT_MIN;
    c->types = o ? o->types : NULL;
}

static const char *const default_types[] = {
    "text/", "application/json", "application/javascript",
    "application/xml", "application/xhtml+xml", "application/wasm",
    "image/svg+xml", "application/manifest+json", NULL,
};

static bool ends_with(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

/* Whether the media type (a Content-Type value, parameters and all) is
 * one to compress. text/event-stream is left alone by the defaults:
 * clients and proxies that buffer a compressed stream would hold
 * events back. */
static bool compressible(weft_span_t ct, const char *const *types) {
    size_t n = 0;
    while (n < ct.len && ct.ptr[n] != ';' && ct.ptr[n] != ' ')
        n++;
    const char *t = ct.ptr;
    if (!types) {
        if (n == 17 && strncasecmp(t, "text/event-stream", 17) == 0)
            return false;
        if (ends_with(t, n, "+json") || ends_with(t, n, "+xml"))
            return true;
        types = default_types;
    }
    for (; *types; types++) {
        size_t k = strlen(*types);
        bool family = k && (*types)[k - 1] == '/';
        if (family ? n > k && strncasecmp(t, *types, k) == 0
                   : n == k && strncasecmp(t, *types, k) == 0)
            return true;
    }
    return false;
}

/* The body's length if the response knows it now, else -1. A seam the
 * public API lacks (a weft_web_resp_length would do): read from the
 * response's internals. A response without a body yet is taken for a
 * stream about to be prepared (a signal cannot tell it from an empty
 * body; an empty 200 of a text type is rare, and costs 20 bytes). */
static int64_t body_length(const weft_web_response_t *resp) {
    switch (resp->kind) {
    case BODY_BYTES:
        return (int64_t)resp->len;
    case BODY_FILE:
        return (int64_t)resp->flen;
    default:
        return resp->content_length;
    }
}

/* Add "Accept-Encoding" to Vary unless it is there (or "*"). */
static int add_vary(weft_web_response_t *resp) {
    weft_span_t v;
    if (weft_web_resp_header(resp, "Vary", &v) == 0) {
        weft_http_list_iter_t it;
        weft_span_t e;
        weft_http_list_init(&it, v.ptr, v.len);
        while (weft_http_list_next(&it, &e) == 1)
            if ((e.len == 1 && e.ptr[0] == '*') ||
                (e.len == 15 && strncasecmp(e.ptr, "Accept-Encoding", 15) == 0))
                return 0;
    }
    return weft_web_add_header(resp, "Vary", "Accept-Encoding");
}

/* Which coding the client takes: 0 gzip, 1 deflate, -1 neither. No
 * Accept-Encoding at all means identity (RFC 9110 12.5.3 lets a server
 * assume any coding, but curl, wrk and scripts that send none expect
 * plain bytes). */
static int choose(weft_web_request_t *req) {
    static const char *const codings[] = {"gzip", "deflate", "identity"};
    const weft_http_field_t *f;
    size_t nf = weft_web_headers(req, &f);
    int i = weft_http_choose_encoding(f, nf, codings, 3);
    return i == 0 || i == 1 ? i : -1;
}

static int install(weft_web_request_t *req, weft_web_response_t *resp,
                   const struct copts *c, int coding, int64_t length) {
    /* A window no larger than the body needs: less memory (zlib takes
     * 2^(wbits+2) + 2^(mem+9) bytes) and less to clear for small bodies. */
    int wbits = 15;
    if (length >= 0)
        while (wbits > 9 && ((int64_t)1 << (wbits - 1)) >= length)
            wbits--;
    int mem = wbits - 7 < 1 ? 1 : wbits - 7;
    struct zfilter *f = weft__malloc(sizeof *f);
    if (!f)
        return -ENOMEM;
    memset(&f->z, 0, sizeof f->z);
    if (deflateInit2(&f->z, c->level, Z_DEFLATED, coding == 0 ? wbits + 16 : wbits,
                     mem, Z_DEFAULT_STRATEGY) != Z_OK) {
        weft__free(f);
        return -ENOMEM;
    }
    int r = weft_web_set_filter(resp, &zfilter_ops, f);
    if (r < 0) {
        zfree(f);
        return r;
    }
    r = weft_web_set_header(resp, "Content-Encoding",
                            coding == 0 ? "gzip" : "deflate");
    /* The compressed bytes are another representation: a strong tag
     * would let a range of one be applied to the other. */
    weft_span_t tag;
    if (r == 0 && weft_web_resp_header(resp, "ETag", &tag) == 0 &&
        tag.len > 0 && tag.ptr[0] == '"') {
        char *weak = weft_web_sprintf(req, "W/%.*s", (int)tag.len, tag.ptr);
        r = weak ? weft_web_set_header(resp, "ETag", weak) : -ENOMEM;
    }
    return r;
}

static bool status_ok(int status) {
    return status >= 200 && status != 204 && status != 206 && status != 304;
}

static int on_prepare(weft_web_request_t *req, weft_web_response_t *resp,
                      void *arg) {
    const struct copts *c = arg;
    weft_span_t ct, ce;
    /* HEAD: the body is not sent, and a Content-Length of the identity
     * body is worth more than a Content-Encoding nobody decodes (RFC
     * 9110 9.3.2 lets such fields differ from GET's). */
    if (weft_web_method(req) == WEFT_HTTP_HEAD ||
        !status_ok(weft_web_resp_status(resp)) ||
        weft_web_resp_header(resp, "Content-Type", &ct) < 0 ||
        !compressible(ct, c->types))
        return 0;
    int r = add_vary(resp);
    if (r < 0 || weft_web_resp_header(resp, "Content-Encoding", &ce) == 0)
        return r;
    int64_t length = body_length(resp);
    if (length >= 0 && (uint64_t)length < c->min_size)
        return 0;
    int coding = choose(req);
    return coding < 0 ? 0 : install(req, resp, c, coding, length);
}

int weft_web_compress(weft_web_app_t *app, const weft_web_compress_opts_t *opts) {
    if (!app || (opts && (opts->level < 0 || opts->level > 9))) {
        WEFT__MISUSE("weft_web_compress", "bad argument (level 0..9)");
        return -EINVAL;
    }
    struct copts *c = weft__malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    fill(c, opts);
    int r = weft_web_app_on_free(app, weft__free, c);
    if (r < 0) {
        weft__free(c);
        return r;
    }
    return weft_web_on_response_prepare(app, on_prepare, c);
}

int weft_web_compress_response(weft_web_request_t *req,
                               const weft_web_compress_opts_t *opts) {
    if (!req || (opts && (opts->level < 0 || opts->level > 9))) {
        WEFT__MISUSE("weft_web_compress_response", "bad argument");
        return -EINVAL;
    }
    if (weft_web_prepared(req))
        return -EALREADY;
    weft_web_response_t *resp = weft_web_resp(req);
    struct copts c;
    fill(&c, opts);
    int r = add_vary(resp);
    if (r < 0)
        return r;
    int64_t length = body_length(resp);
    if (length >= 0 && (uint64_t)length < c.min_size)
        return 0;
    int coding = choose(req);
    if (coding < 0)
        return 0;
    r = install(req, resp, &c, coding, length);
    return r < 0 ? r : 1;
}
