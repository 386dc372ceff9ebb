/* The PROXY protocol's parser (weft/web_proxy.h): v1, one line of text,
 * and v2, a binary header, both as HAProxy's proxy-protocol.txt specifies
 * them. Pure: no loop, no allocation; fuzzed by fuzz/proxy.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "../core/common.h"
#include "weft/web_proxy.h"

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

/* ---- v1 -------------------------------------------------------------------- */

/* The next space-delimited word of [*p, end): its bounds; *p moves past
 * the single space after it (or to end). false if empty. */
static bool word(const char **p, const char *end, const char **w, size_t *n) {
    const char *s = *p, *e = memchr(s, ' ', (size_t)(end - s));
    if (!e)
        e = end;
    if (e == s)
        return false;
    *w = s, *n = (size_t)(e - s);
    *p = e < end ? e + 1 : end;
    return true;
}

/* A port: 1 to 5 digits, no leading zero, <= 65535. */
static bool port(const char *w, size_t n, uint16_t *out) {
    if (n == 0 || n > 5 || (w[0] == '0' && n > 1))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9')
            return false;
        v = v * 10 + (unsigned)(w[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* An address of `family` in text (inet_pton: dotted quads without
 * leading zeros for IPv4, RFC 4291's forms for IPv6). */
static bool addr(int family, const char *w, size_t n, void *out) {
    char tmp[INET6_ADDRSTRLEN];
    if (n >= sizeof tmp)
        return false;
    memcpy(tmp, w, n);
    tmp[n] = 0;
    return inet_pton(family, tmp, out) == 1;
}

static void set_in(struct sockaddr_storage *ss, socklen_t *len, int family,
                   const void *a, uint16_t port_host) {
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a, 4);
        sin->sin_port = htons(port_host);
        *len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a, 16);
        sin6->sin6_port = htons(port_host);
        *len = sizeof *sin6;
    }
}

static int parse_v1(weft_proxy_info_t *info, const char *buf, size_t len) {
    size_t scan = len < WEFT_PROXY_V1_MAX ? len : WEFT_PROXY_V1_MAX;
    const char *lf = memchr(buf, '\n', scan);
    if (!lf)
        return scan == WEFT_PROXY_V1_MAX ? -EPROTO : -EAGAIN;
    if (lf == buf || lf[-1] != '\r')
        return -EPROTO;
    const char *p = buf + sizeof v1_sig - 1, *end = lf - 1;
    size_t total = (size_t)(lf + 1 - buf);
    /* No other CR, no NUL, nothing but printable ASCII. */
    for (const char *q = buf; q < end; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
            return -EPROTO;
    info->version = 1;
    info->socktype = SOCK_STREAM;
    const char *w;
    size_t n;
    if (!word(&p, end, &w, &n))
        return -EPROTO;
    if (n == 7 && memcmp(w, "UNKNOWN", 7) == 0) {
        info->local = true; /* the rest of the line is to be ignored */
        return (int)total;
    }
    int family;
    if (n == 4 && memcmp(w, "TCP4", 4) == 0)
        family = AF_INET;
    else if (n == 4 && memcmp(w, "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return -EPROTO;
    unsigned char a[2][16];
    uint16_t ports[2];
    for (int i = 0; i < 2; i++)
        if (!word(&p, end, &w, &n) || !addr(family, w, n, a[i]))
            return -EPROTO;
    for (int i = 0; i < 2; i++)
        if (!word(&p, end, &w, &n) || !port(w, n, &ports[i]))
            return -EPROTO;
    /* Exactly one space between words and none at the end: the last word
     * ended at `end`, and word() stopped at a space only if one
     * followed. */
    if (p != end || end[-1] == ' ')
        return -EPROTO;
    set_in(&info->src, &info->src_len, family, a[0], ports[0]);
    set_in(&info->dst, &info->dst_len, family, a[1], ports[1]);
    return (int)total;
}

/* ---- v2 -------------------------------------------------------------------- */

static bool set_un(struct sockaddr_storage *ss, socklen_t *len,
                   const unsigned char *p) {
    const unsigned char *nul = memchr(p, 0, 108);
    if (!nul)
        return false;
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    size_t n = (size_t)(nul - p);
    memcpy(sun->sun_path, p, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return true;
}

/* TLVs: type (1), length (2, big-endian), value; exactly filling n. */
static bool tlvs_ok(const unsigned char *p, size_t n) {
    while (n > 0) {
        if (n < 3)
            return false;
        size_t l = (size_t)p[1] << 8 | p[2];
        if (l > n - 3)
            return false;
        p += 3 + l, n -= 3 + l;
    }
    return true;
}

static int parse_v2(weft_proxy_info_t *info, const unsigned char *buf,
                    size_t len) {
    if (len < 16)
        return -EAGAIN;
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0f;
    unsigned fam = buf[13] >> 4, proto = buf[13] & 0x0f;
    size_t body = (size_t)buf[14] << 8 | buf[15];
    if (ver != 2 || cmd > 1 || fam > 3 || proto > 2)
        return -EPROTO;
    /* The family and protocol are checked before the body arrives, so
     * that a bad header fails fast. */
    static const size_t need[4] = {0, 12, 36, 216};
    if (cmd == 1 && fam != 0 && (proto == 0 || body < need[fam]))
        return -EPROTO;
    if (len < 16 + body)
        return -EAGAIN;
    const unsigned char *p = buf + 16;
    info->version = 2;
    info->socktype = proto == 2 ? SOCK_DGRAM : SOCK_STREAM;
    /* LOCAL: the receiver must ignore the family and the address block;
     * PROXY with UNSPEC: likewise (the spec lets a receiver accept it). */
    if (cmd == 0 || fam == 0) {
        info->local = true;
        return (int)(16 + body);
    }
    if (fam == 1) {
        set_in(&info->src, &info->src_len, AF_INET, p,
               (uint16_t)(p[8] << 8 | p[9]));
        set_in(&info->dst, &info->dst_len, AF_INET, p + 4,
               (uint16_t)(p[10] << 8 | p[11]));
    } else if (fam == 2) {
        set_in(&info->src, &info->src_len, AF_INET6, p,
               (uint16_t)(p[32] << 8 | p[33]));
        set_in(&info->dst, &info->dst_len, AF_INET6, p + 16,
               (uint16_t)(p[34] << 8 | p[35]));
    } else if (!set_un(&info->src, &info->src_len, p) ||
               !set_un(&info->dst, &info->dst_len, p + 108)) {
        return -EPROTO;
    }
    info->tlv = p + need[fam];
    info->tlv_len = body - need[fam];
    if (!tlvs_ok(info->tlv, info->tlv_len))
        return -EPROTO;
    return (int)(16 + body);
}

int weft_proxy_parse(weft_proxy_info_t *info, const void *buf, size_t len) {
    if (!info || (!buf && len > 0)) {
        weft__log(WEFT_LOG_WARN, "weft_proxy_parse: NULL argument");
        return -EINVAL;
    }
    memset(info, 0, sizeof *info);
    const unsigned char *b = buf;
    /* Which signature do the bytes so far begin? A v1 header starts
     * "PROXY ", a v2 one CR LF CR LF NUL ...: the first byte decides. */
    size_t n;
    if (len == 0)
        return -EAGAIN;
    if (b[0] == v1_sig[0]) {
        n = len < 6 ? len : 6;
        if (memcmp(b, v1_sig, n) != 0)
            return -EPROTO;
        return n < 6 ? -EAGAIN : parse_v1(info, buf, len);
    }
    n = len < 12 ? len : 12;
    if (memcmp(b, v2_sig, n) != 0)
        return -EPROTO;
    return n < 12 ? -EAGAIN : parse_v2(info, b, len);
}

int weft_proxy_tlv(const weft_proxy_info_t *info, unsigned type,
                   const unsigned char **value) {
    if (!info || !value)
        return -EINVAL;
    const unsigned char *p = info->tlv;
    size_t n = info->tlv_len;
    while (n >= 3) {
        size_t l = (size_t)p[1] << 8 | p[2];
        if (l > n - 3)
            break;
        if (p[0] == type) {
            *value = p + 3;
            return (int)l;
        }
        p += 3 + l, n -= 3 + l;
    }
    return -ENOENT;
}
