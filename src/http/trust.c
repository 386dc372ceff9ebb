/* Sets of trusted addresses and networks (weft/web_proxy.h): the proxies
 * whose Forwarded headers and PROXY protocol headers are believed. A
 * short array of prefixes, scanned in order: a server trusts a handful. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "weft/web_proxy.h"

struct net {
    unsigned char addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    unsigned bits;          /* prefix length over the 128 bits */
};

struct weft_web_trust {
    bool unix_ok;
    size_t n;
    struct net nets[];
};

static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* One entry: "unix", an address, or address/bits. */
static bool parse_entry(const char *s, size_t n, struct net *out,
                        bool *is_unix) {
    char tmp[64];
    if (n == 4 && memcmp(s, "unix", 4) == 0) {
        *is_unix = true;
        return true;
    }
    if (n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *slash = strchr(tmp, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!slash[1] || slash[1] == '+' || slash[1] == '-' ||
            (slash[1] == '0' && slash[2]))
            return false;
        bits = strtol(slash + 1, &end, 10);
        if (*end)
            return false;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, tmp, out->addr + 12) == 1) {
        memcpy(out->addr, mapped, 12);
        if (bits > 32)
            return false;
        out->bits = 96 + (unsigned)(bits < 0 ? 32 : bits);
    } else if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
        if (bits > 128)
            return false;
        out->bits = (unsigned)(bits < 0 ? 128 : bits);
    } else {
        return false;
    }
    /* Host bits must be zero: "10.0.0.1/8" is more likely a typo than
     * a network. */
    for (unsigned i = out->bits; i < 128; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return false;
    return true;
}

static bool sep(char c) {
    return c == ',' || c == ' ' || c == '\t';
}

int weft_web_trust_new(weft_web_trust_t **out, const char *list) {
    if (!out || !list) {
        WEFT__MISUSE("weft_web_trust_new", "NULL argument");
        return -EINVAL;
    }
    size_t max = 0;
    for (const char *p = list; *p; p++)
        max += !sep(*p) && (p == list || sep(p[-1]));
    weft_web_trust_t *t =
        weft__calloc(1, sizeof *t + max * sizeof(struct net));
    if (!t)
        return -ENOMEM;
    for (const char *p = list; *p;) {
        while (sep(*p))
            p++;
        const char *e = p;
        while (*e && !sep(*e))
            e++;
        if (e == p)
            break;
        bool is_unix = false;
        if (!parse_entry(p, (size_t)(e - p), &t->nets[t->n], &is_unix)) {
            weft__log(WEFT_LOG_WARN,
                      "weft_web_trust_new: '%.*s' is not an address, a "
                      "network or 'unix'",
                      (int)(e - p), p);
            weft__free(t);
            return -EINVAL;
        }
        if (is_unix)
            t->unix_ok = true;
        else
            t->n++;
        p = e;
    }
    *out = t;
    return 0;
}

void weft_web_trust_free(weft_web_trust_t *t) {
    weft__free(t);
}

static bool prefix_eq(const unsigned char *a, const unsigned char *b,
                      unsigned bits) {
    size_t whole = bits / 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    unsigned rest = bits % 8;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool weft_web_trust_has(const weft_web_trust_t *t, const struct sockaddr *addr,
                        socklen_t len) {
    if (!t || !addr)
        return false;
    unsigned char a[16];
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(a, mapped, 12);
        memcpy(a + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6 &&
               len >= sizeof(struct sockaddr_in6)) {
        memcpy(a, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
    } else {
        return addr->sa_family == AF_UNIX && t->unix_ok;
    }
    for (size_t i = 0; i < t->n; i++)
        if (prefix_eq(a, t->nets[i].addr, t->nets[i].bits))
            return true;
    return false;
}
