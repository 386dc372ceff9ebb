/* WebSocket frames (RFC 6455 section 5): headers, masking, UTF-8, close
 * payloads, and the receive state machine. Pure functions over the
 * caller's bytes, fuzzed by fuzz/ws_frame.c. */
#include <string.h>

#if defined(__x86_64__) || defined(__SSE2__)
#include <emmintrin.h>
#define WS_SSE2 1
#endif

#include "ws_int.h"

/* ---- headers ------------------------------------------------------------- */

int weft__ws_parse_header(const uint8_t *p, size_t n, struct weft__ws_hdr *h,
                          size_t *need) {
    if (n < 2) {
        *need = 2;
        return 0;
    }
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2 +
                (len == 126   ? 2
                 : len == 127 ? 8
                              : 0) +
                ((p[1] & 0x80) ? 4 : 0);
    if (n < hl) {
        *need = hl;
        return 0;
    }
    if (len == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        if (len >> 63)
            return -1;
    }
    h->fin = p[0] >> 7;
    h->rsv = (p[0] >> 4) & 7;
    h->op = p[0] & 0x0f;
    h->masked = p[1] >> 7;
    h->len = len;
    if (h->masked)
        memcpy(h->key, p + hl - 4, 4);
    return (int)hl;
}

size_t weft__ws_write_header(uint8_t *out, bool fin, unsigned rsv, unsigned op,
                             uint64_t len, const uint8_t *key) {
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (op & 0x0f));
    uint8_t m = key ? 0x80 : 0;
    size_t i;
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
        i = 2;
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        i = 4;
    } else {
        out[1] = m | 127;
        for (int b = 0; b < 8; b++)
            out[2 + b] = (uint8_t)(len >> (56 - 8 * b));
        i = 10;
    }
    if (key) {
        memcpy(out + i, key, 4);
        i += 4;
    }
    return i;
}

/* ---- masking ------------------------------------------------------------- */

unsigned weft__ws_mask_bytewise(uint8_t *dst, const uint8_t *src, size_t n,
                                const uint8_t key[4], unsigned off) {
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] ^ key[(off + i) & 3];
    return (unsigned)((off + n) & 3);
}

/* The key turned so that its first byte meets the first byte (the mask
 * continues across pieces of a frame), then as wide as the CPU XORs: a
 * 64-bit word holds it twice, an SSE2 register four times. Loads and
 * stores go through memcpy / unaligned intrinsics: payloads sit at any
 * offset of the stream's buffer. bench/ws_frame measures the widths. */
unsigned weft__ws_mask(uint8_t *dst, const uint8_t *src, size_t n,
                       const uint8_t key[4], unsigned off) {
    if (n == 0)
        return off & 3; /* src may be NULL then */
    uint8_t k[4] = {key[off & 3], key[(off + 1) & 3], key[(off + 2) & 3],
                    key[(off + 3) & 3]};
    uint32_t k32;
    memcpy(&k32, k, 4);
    size_t i = 0;
#ifdef WS_SSE2
    __m128i km = _mm_set1_epi32((int)k32);
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, km));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, km));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, km));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, km));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, km));
    }
#endif
    uint64_t k64 = (uint64_t)k32 << 32 | k32;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ k[i & 3]; /* i is a multiple of 8 here, plus j */
    return (unsigned)((off + n) & 3);
}

/* ---- UTF-8 --------------------------------------------------------------- */

#define HIGH_BITS UINT64_C(0x8080808080808080)

/* Table-free: a lead byte sets how many continuation bytes follow and the
 * range of the first (RFC 3629 section 4: E0 needs A0..BF against overlong
 * forms, ED 80..9F against surrogates, F0 90..BF, F4 80..8F against code
 * points above U+10FFFF); every other continuation is 80..BF. ASCII, what
 * most text is, goes 16 bytes a step. */
size_t weft__utf8_feed(struct weft__utf8 *u, const uint8_t *p, size_t n) {
    size_t i = 0;
    unsigned need = u->need, lo = u->lo, hi = u->hi;
    while (i < n) {
        if (need) {
            unsigned c = p[i];
            if (c < lo || c > hi)
                goto bad;
            need--;
            lo = 0x80;
            hi = 0xbf;
            i++;
            continue;
        }
        while (i + 16 <= n) {
            uint64_t a, b;
            memcpy(&a, p + i, 8);
            memcpy(&b, p + i + 8, 8);
            if ((a | b) & HIGH_BITS)
                break;
            i += 16;
        }
        while (i < n && p[i] < 0x80)
            i++;
        if (i == n)
            break;
        unsigned c = p[i];
        if (c < 0xc2 || c > 0xf4)
            goto bad;
        lo = 0x80;
        hi = 0xbf;
        if (c < 0xe0) {
            need = 1;
        } else if (c < 0xf0) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        }
        i++;
    }
    u->need = (uint8_t)need;
    u->lo = (uint8_t)lo;
    u->hi = (uint8_t)hi;
    return n;
bad:
    u->need = (uint8_t)need;
    u->lo = (uint8_t)lo;
    u->hi = (uint8_t)hi;
    return i;
}

bool weft__utf8_valid(const uint8_t *p, size_t n) {
    struct weft__utf8 u = {0, 0x80, 0xbf};
    return weft__utf8_feed(&u, p, n) == n && weft__utf8_done(&u);
}

/* ---- close frames -------------------------------------------------------- */

bool weft_ws_close_code_valid(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int weft__ws_close_parse(const uint8_t *p, size_t n, int *code) {
    if (n == 0) {
        *code = WEFT_WS_NO_STATUS;
        return 0;
    }
    if (n == 1)
        return WEFT_WS_PROTOCOL_ERROR;
    int c = p[0] << 8 | p[1];
    if (!weft_ws_close_code_valid(c))
        return WEFT_WS_PROTOCOL_ERROR;
    if (!weft__utf8_valid(p + 2, n - 2))
        return WEFT_WS_BAD_DATA;
    *code = c;
    return 0;
}

/* ---- the receiver -------------------------------------------------------- */

void weft__ws_rx_init(struct weft__ws_rx *rx, bool server, bool deflate) {
    memset(rx, 0, sizeof *rx);
    rx->server = server;
    rx->deflate = deflate;
}

/* The rules a header breaks, or NULL (RFC 6455 5.2, 5.4, 5.5; RFC 7692
 * 6: RSV1 marks a compressed message, on its first frame only). */
static const char *header_rule(const struct weft__ws_rx *rx,
                               const struct weft__ws_hdr *h) {
    if (h->masked != rx->server)
        return rx->server ? "unmasked frame from the client"
                          : "masked frame from the server";
    if (h->rsv & 3)
        return "reserved bit RSV2 or RSV3 set";
    if (h->op >= 8) {
        if (h->op > 10)
            return "reserved control opcode";
        if (!h->fin)
            return "fragmented control frame";
        if (h->len > WS_MAX_CONTROL)
            return "control frame longer than 125 bytes";
        if (h->rsv)
            return "RSV1 on a control frame";
        return NULL;
    }
    if (h->op > 2)
        return "reserved data opcode";
    if (h->op == 0) {
        if (!rx->in_msg)
            return "continuation frame outside a message";
        if (h->rsv)
            return "RSV1 on a continuation frame";
        return NULL;
    }
    if (rx->in_msg)
        return "new message inside a fragmented one";
    if (h->rsv && !rx->deflate)
        return "RSV1 set without permessage-deflate";
    return NULL;
}

static size_t ev_error(struct weft__ws_ev *ev, const char *why) {
    ev->kind = WS_EV_ERROR;
    ev->code = WEFT_WS_PROTOCOL_ERROR;
    ev->why = why;
    return 0;
}

size_t weft__ws_rx_feed(struct weft__ws_rx *rx, uint8_t *p, size_t n,
                        struct weft__ws_ev *ev) {
    memset(ev, 0, sizeof *ev);
    size_t used = 0;
    struct weft__ws_hdr *h = &rx->h;
    if (!rx->in_frame) {
        int hl = weft__ws_parse_header(p, n, h, &rx->need);
        if (hl == 0)
            return 0;
        if (hl < 0)
            return ev_error(ev, "frame length over 2^63");
        const char *why = header_rule(rx, h);
        if (why)
            return ev_error(ev, why);
        used = (size_t)hl;
        rx->in_frame = true;
        rx->left = h->len;
        rx->moff = 0;
        if (h->op >= 8) {
            rx->ctl_len = 0;
        } else if (h->op != 0) {
            rx->in_msg = true;
            rx->started = false;
            rx->msg_op = h->op;
            rx->msg_z = (h->rsv & 4) != 0;
        }
    }
    size_t k = n - used;
    if (k > rx->left)
        k = (size_t)rx->left;
    uint8_t *d = p + used;
    if (k && h->masked)
        rx->moff = weft__ws_mask(d, d, k, h->key, rx->moff);
    rx->left -= k;
    used += k;
    rx->need = 1;
    if (h->op >= 8) {
        memcpy(rx->ctl + rx->ctl_len, d, k);
        rx->ctl_len = (uint8_t)(rx->ctl_len + k);
        if (rx->left)
            return used;
        rx->in_frame = false;
        ev->kind = WS_EV_CONTROL;
        ev->op = h->op;
        ev->data = rx->ctl;
        ev->len = rx->ctl_len;
        return used;
    }
    if (k == 0 && rx->left)
        return used;
    ev->kind = WS_EV_DATA;
    ev->op = rx->msg_op;
    ev->data = d;
    ev->len = k;
    ev->first = !rx->started;
    ev->z = rx->msg_z;
    rx->started = true;
    if (rx->left == 0) {
        rx->in_frame = false;
        if (h->fin) {
            ev->fin = true;
            rx->in_msg = false;
        }
    }
    return used;
}
