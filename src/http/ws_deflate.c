/* permessage-deflate (RFC 7692): negotiating the extension, and the zlib
 * streams that compress and decompress messages. The decompressed-size
 * limit is the caller's (it sees every output piece); zlib's memory per
 * direction is set by the window and memLevel agreed here. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "weft/httpmsg.h"
#include "ws_int.h"

#define EXT_NAME "permessage-deflate"

static bool span_is(weft_span_t s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

/* A window_bits value: "8".."15", no leading zero, no quotes needed
 * (a quoted "10" is the same token, RFC 7692 7.1). Returns it or -1. */
static int wbits_value(weft_span_t v) {
    char buf[8];
    if (!v.ptr || v.len == 0 || v.len >= sizeof buf)
        return -1;
    ssize_t n = weft_http_unquote(buf, sizeof buf, v.ptr, v.len);
    if (n < 1 || n > 2 || buf[0] < '1' || buf[0] > '9')
        return -1;
    int w = buf[0] - '0';
    if (n == 2) {
        if (buf[1] < '0' || buf[1] > '9')
            return -1;
        w = w * 10 + (buf[1] - '0');
    }
    return w >= 8 && w <= 15 ? w : -1;
}

/* One permessage-deflate element's parameters. */
struct pmd_params {
    bool snct, cnct;
    int smwb; /* 0: absent */
    int cmwb; /* 0: absent; -1: present without a value */
};

/* The extension's parameters may have no value ("; server_no_context_
 * takeover"), which weft_http_params_next refuses (RFC 9110's parameters
 * always have one): they are split here, "name" or "name=value" between
 * semicolons, quoted strings kept whole. */
static bool next_param(const char **pp, const char *end, weft_span_t *name,
                       weft_span_t *value) {
    const char *p = *pp;
    while (p < end && (*p == ' ' || *p == '\t' || *p == ';'))
        p++;
    if (p >= end)
        return false;
    const char *s = p;
    bool quoted = false;
    while (p < end && (quoted || *p != ';')) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '\\' && quoted && p + 1 < end)
            p++;
        p++;
    }
    const char *e = p;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (eq) {
        const char *ne = eq;
        while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
            ne--;
        const char *vs = eq + 1;
        while (vs < e && (*vs == ' ' || *vs == '\t'))
            vs++;
        *name = (weft_span_t){s, (size_t)(ne - s)};
        *value = (weft_span_t){vs, (size_t)(e - vs)};
    } else {
        *name = (weft_span_t){s, (size_t)(e - s)};
        *value = (weft_span_t){NULL, 0};
    }
    *pp = p;
    return true;
}

/* Split an element into its extension name and parameters. false: the
 * name is not a token, or a parameter is malformed. */
static bool parse_element(weft_span_t elem, weft_span_t *ext,
                          struct pmd_params *pp) {
    const char *p = elem.ptr, *end = elem.ptr + elem.len;
    const char *semi = memchr(p, ';', elem.len);
    const char *ne = semi ? semi : end;
    while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
    *ext = (weft_span_t){p, (size_t)(ne - p)};
    if (ext->len == 0 || !weft_http_is_token(ext->ptr, ext->len))
        return false;
    memset(pp, 0, sizeof *pp);
    if (!span_is(*ext, EXT_NAME))
        return true; /* another extension: its parameters are its own */
    const char *q = semi ? semi : end;
    weft_span_t name, value;
    while (next_param(&q, end, &name, &value)) {
        if (!weft_http_is_token(name.ptr, name.len))
            return false;
        bool has_value = value.ptr != NULL;
        if (has_value && value.len == 0)
            return false;
        if (span_is(name, "server_no_context_takeover")) {
            if (pp->snct || has_value)
                return false;
            pp->snct = true;
        } else if (span_is(name, "client_no_context_takeover")) {
            if (pp->cnct || has_value)
                return false;
            pp->cnct = true;
        } else if (span_is(name, "server_max_window_bits")) {
            int w = wbits_value(value);
            if (pp->smwb || w < 0)
                return false;
            pp->smwb = w;
        } else if (span_is(name, "client_max_window_bits")) {
            if (pp->cmwb)
                return false;
            if (has_value) {
                int w = wbits_value(value);
                if (w < 0)
                    return false;
                pp->cmwb = w;
            } else {
                pp->cmwb = -1;
            }
        } else {
            return false;
        }
    }
    return true;
}

static int dflt_wbits(int v, int d) {
    return v >= 9 && v <= 15 ? v : d;
}

/* The server's window and the client's window the server asks for, by
 * default: 12 bits (4 KiB) each, as Python's websockets: a compressor of
 * 2^14 + 2^14 bytes and a decompressor of 4 KiB + 7 KiB per connection,
 * instead of 256 KiB + 39 KiB with zlib's defaults; docs/design.md has
 * the ratios. */
#define SERVER_WBITS 12

ssize_t weft__ws_pmd_accept(const weft_http_field_t *f, size_t nf,
                            const weft_ws_deflate_opts_t *o,
                            struct weft__ws_pmd *agreed, char *buf,
                            size_t cap) {
    memset(agreed, 0, sizeof *agreed);
    int my_swb = dflt_wbits(o->server_max_window_bits, SERVER_WBITS);
    int my_cwb = dflt_wbits(o->client_max_window_bits, SERVER_WBITS);
    for (ssize_t i = 0;
         (i = weft_http_field_find(f, nf, "Sec-WebSocket-Extensions",
                                   (size_t)i)) >= 0;
         i++) {
        weft_http_list_iter_t it;
        weft_http_list_init(&it, f[i].value.ptr, f[i].value.len);
        weft_span_t elem;
        while (weft_http_list_next(&it, &elem) == 1) {
            weft_span_t ext;
            struct pmd_params pp;
            if (!parse_element(elem, &ext, &pp) || !span_is(ext, EXT_NAME))
                continue; /* declined: the next offer may do */
            struct weft__ws_pmd a = {.on = true};
            a.server_nct = pp.snct || o->server_no_context_takeover;
            a.client_nct = pp.cnct || o->client_no_context_takeover;
            /* A client may ask for a smaller server window; 8 is taken
             * too, the server then sends uncompressed (zlib cannot make a
             * 256-byte raw window, and RSV1 is per message). */
            a.server_wbits =
                (uint8_t)(pp.smwb && pp.smwb < my_swb ? pp.smwb : my_swb);
            /* The client's window can only be limited if it offered the
             * parameter; else it may use 15 and we decompress with 15. */
            a.client_wbits = 15;
            if (pp.cmwb) {
                int w = pp.cmwb > 0 && pp.cmwb < my_cwb ? pp.cmwb : my_cwb;
                a.client_wbits = (uint8_t)w;
            }
            int n =
                snprintf(buf, cap, EXT_NAME "%s%s",
                         a.server_nct ? "; server_no_context_takeover" : "",
                         a.client_nct ? "; client_no_context_takeover" : "");
            if (n >= 0 && (size_t)n < cap && (a.server_wbits < 15 || pp.smwb))
                n += snprintf(buf + n, cap - (size_t)n,
                              "; server_max_window_bits=%d", a.server_wbits);
            if (n >= 0 && (size_t)n < cap && pp.cmwb && a.client_wbits < 15)
                n += snprintf(buf + n, cap - (size_t)n,
                              "; client_max_window_bits=%d", a.client_wbits);
            if (n < 0 || (size_t)n >= cap)
                return -ENOSPC;
            *agreed = a;
            return n;
        }
    }
    if (cap)
        buf[0] = '\0';
    return 0;
}

ssize_t weft__ws_pmd_offer(const weft_ws_deflate_opts_t *o, char *buf,
                           size_t cap) {
    int cwb = dflt_wbits(o->client_max_window_bits, 15);
    int n = snprintf(buf, cap, EXT_NAME "; client_max_window_bits");
    if (n >= 0 && (size_t)n < cap && cwb < 15)
        n += snprintf(buf + n, cap - (size_t)n, "=%d", cwb);
    if (n >= 0 && (size_t)n < cap && o->server_no_context_takeover)
        n += snprintf(buf + n, cap - (size_t)n, "; server_no_context_takeover");
    if (n >= 0 && (size_t)n < cap && o->client_no_context_takeover)
        n += snprintf(buf + n, cap - (size_t)n, "; client_no_context_takeover");
    if (n >= 0 && (size_t)n < cap && o->server_max_window_bits >= 9 &&
        o->server_max_window_bits < 15)
        n += snprintf(buf + n, cap - (size_t)n, "; server_max_window_bits=%d",
                      o->server_max_window_bits);
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    return n;
}

int weft__ws_pmd_check(const weft_http_field_t *f, size_t nf,
                       const weft_ws_deflate_opts_t *o,
                       struct weft__ws_pmd *agreed) {
    memset(agreed, 0, sizeof *agreed);
    int cwb = dflt_wbits(o->client_max_window_bits, 15);
    for (ssize_t i = 0;
         (i = weft_http_field_find(f, nf, "Sec-WebSocket-Extensions",
                                   (size_t)i)) >= 0;
         i++) {
        weft_http_list_iter_t it;
        weft_http_list_init(&it, f[i].value.ptr, f[i].value.len);
        weft_span_t elem;
        int r;
        while ((r = weft_http_list_next(&it, &elem)) == 1) {
            weft_span_t ext;
            struct pmd_params pp;
            /* Only what we offered may come back, once (RFC 6455 9.1). */
            if (agreed->on || !parse_element(elem, &ext, &pp) ||
                !span_is(ext, EXT_NAME))
                return -EINVAL;
            if (pp.cmwb == -1 || pp.cmwb > cwb)
                return -EINVAL;
            if (o->server_no_context_takeover && !pp.snct)
                return -EINVAL;
            if (o->server_max_window_bits >= 9 &&
                o->server_max_window_bits < 15 &&
                (!pp.smwb || pp.smwb > o->server_max_window_bits))
                return -EINVAL;
            agreed->on = true;
            agreed->server_nct = pp.snct;
            agreed->client_nct = pp.cnct || o->client_no_context_takeover;
            agreed->server_wbits = (uint8_t)(pp.smwb ? pp.smwb : 15);
            agreed->client_wbits = (uint8_t)(pp.cmwb > 0 ? pp.cmwb : cwb);
        }
        if (r < 0)
            return -EINVAL;
    }
    return 0;
}

/* ---- zlib ---------------------------------------------------------------- */

/* zlib allocates through weft's allocator hooks. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    return weft__calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p) {
    (void)opaque;
    weft__free(p);
}

void weft__ws_z_init(struct weft__ws_z *z, bool deflate, int wbits, int level,
                     int mem, bool reset) {
    memset(z, 0, sizeof *z);
    z->deflate = deflate;
    z->wbits = wbits;
    z->level = level;
    z->mem = mem;
    z->reset = reset;
}

void weft__ws_z_free(struct weft__ws_z *z) {
    if (!z->zs)
        return;
    if (z->deflate)
        deflateEnd(z->zs);
    else
        inflateEnd(z->zs);
    weft__free(z->zs);
    z->zs = NULL;
}

static int z_start(struct weft__ws_z *z) {
    z->zs = weft__calloc(1, sizeof *z->zs);
    if (!z->zs)
        return -ENOMEM;
    z->zs->zalloc = z_alloc;
    z->zs->zfree = z_free;
    int r = z->deflate ? deflateInit2(z->zs, z->level, Z_DEFLATED, -z->wbits,
                                      z->mem, Z_DEFAULT_STRATEGY)
                       : inflateInit2(z->zs, -z->wbits);
    if (r != Z_OK) {
        weft__free(z->zs);
        z->zs = NULL;
        return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
    }
    return 0;
}

static const uint8_t z_tail[4] = {0x00, 0x00, 0xff, 0xff};

ssize_t weft__ws_inflate(struct weft__ws_z *z, const uint8_t *in,
                         size_t *in_len, bool fin, uint8_t *out, size_t cap,
                         bool *done) {
    *done = false;
    if (!z->zs) {
        int err = z_start(z);
        if (err)
            return err;
    }
    z_stream *zs = z->zs;
    size_t have = *in_len, used = 0, produced = 0;
    while (produced < cap) {
        bool tail = used == have;
        if (tail && !fin)
            break;
        /* The tail goes in after the message; once it is in, calls with
         * no input still flush what zlib holds back for want of room. */
        size_t avail = tail ? 4 - (size_t)z->tail : have - used;
        zs->next_in = (Bytef *)(tail ? z_tail + z->tail : in + used);
        zs->avail_in = (uInt)avail;
        zs->next_out = out + produced;
        zs->avail_out = (uInt)(cap - produced);
        int r = inflate(zs, Z_SYNC_FLUSH);
        size_t took = avail - zs->avail_in;
        size_t made = cap - zs->avail_out - produced;
        if (tail)
            z->tail = (uint8_t)(z->tail + took);
        else
            used += took;
        produced += made;
        if (r == Z_STREAM_END) {
            /* A final block (BFINAL) ends this deflate stream: what
             * follows starts a new one (and the tail is then moot). */
            inflateReset(zs);
            if (tail)
                z->tail = 4;
            continue;
        }
        if (r == Z_MEM_ERROR)
            return -ENOMEM;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return -EINVAL;
        if (took == 0 && made == 0)
            break; /* nothing more to do with what there is */
    }
    *in_len = used;
    if (fin && used == have && z->tail == 4 && produced < cap) {
        *done = true;
        z->tail = 0;
        if (z->reset)
            inflateReset(zs);
    }
    return (ssize_t)produced;
}

int weft__ws_deflate(struct weft__ws_z *z, const uint8_t *in, size_t n,
                     bool fin, uint8_t **buf, size_t *len, size_t *cap) {
    if (!z->zs) {
        int err = z_start(z);
        if (err)
            return err;
    }
    z_stream *zs = z->zs;
    zs->next_in = (Bytef *)in;
    zs->avail_in = (uInt)n;
    size_t start = *len;
    for (;;) {
        if (*cap - *len < 64) {
            size_t nc = *cap ? *cap * 2 : 256;
            while (nc - *len < 64 + n / 2)
                nc *= 2;
            uint8_t *nb = weft__realloc(*buf, nc);
            if (!nb)
                return -ENOMEM;
            *buf = nb;
            *cap = nc;
        }
        zs->next_out = *buf + *len;
        zs->avail_out = (uInt)(*cap - *len);
        int r = deflate(zs, Z_SYNC_FLUSH);
        *len = *cap - zs->avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return -ENOMEM;
        if (zs->avail_in == 0 && zs->avail_out != 0)
            break;
    }
    if (fin) {
        if (*len - start >= 4 && memcmp(*buf + *len - 4, z_tail, 4) == 0)
            *len -= 4;
        if (z->reset)
            deflateReset(zs);
    }
    return 0;
}
