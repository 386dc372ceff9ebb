/* URLs (RFC 3986) and request targets (RFC 9112 3.2): parsing,
 * resolution of relative references, serialisation. */
#include <arpa/inet.h>

#include "msg_int.h"

static weft_span_t span(const char *p, const char *end) {
    return (weft_span_t){p, (size_t)(end - p)};
}

/* Whether [p, end) holds only bytes of class `cls` and well-formed
 * percent escapes. */
static bool valid_run(const char *p, const char *end, unsigned cls) {
    for (; p < end; p++) {
        if (WEFT__LIKELY(weft__cc((unsigned char)*p, cls)))
            continue;
        if (weft__pct_byte(p, (size_t)(end - p)) < 0)
            return false;
        p += 2;
    }
    return true;
}

static bool valid_scheme(const char *p, const char *end) {
    if (p == end || !weft__cc((unsigned char)*p, WEFT__C_ALPHA))
        return false;
    for (p++; p < end; p++)
        if (!weft__cc((unsigned char)*p, WEFT__C_SCHEME))
            return false;
    return true;
}

/* An IPv6 literal, optionally with an RFC 6874 zone ("%25" then 1*(
 * unreserved / escape)): [p, end) is what stands between the brackets. */
static bool valid_ipv6(const char *p, const char *end) {
    const char *zone = memchr(p, '%', (size_t)(end - p));
    const char *addr_end = zone ? zone : end;
    char tmp[INET6_ADDRSTRLEN];
    size_t n = (size_t)(addr_end - p);
    unsigned char bin[16];
    if (n == 0 || n >= sizeof tmp)
        return false;
    for (size_t i = 0; i < n; i++) /* inet_pton would stop at a NUL */
        if (!weft__cc((unsigned char)p[i], WEFT__C_HEX) && p[i] != ':' &&
            p[i] != '.')
            return false;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    if (inet_pton(AF_INET6, tmp, bin) != 1)
        return false;
    if (!zone)
        return true;
    if (end - zone < 4 || memcmp(zone, "%25", 3) != 0)
        return false;
    for (zone += 3; zone < end; zone++) {
        if (weft__cc((unsigned char)*zone, WEFT__C_UNRESERVED))
            continue;
        if (weft__pct_byte(zone, (size_t)(end - zone)) < 0)
            return false;
        zone += 2;
    }
    return true;
}

/* The port digits [p, end): at most 65535, or -1 when empty. */
static int parse_port(const char *p, const char *end, int *out) {
    long v = -1;
    for (; p < end; p++) {
        if (!weft__cc((unsigned char)*p, WEFT__C_DIGIT))
            return -EINVAL;
        v = (v < 0 ? 0 : v * 10) + (*p - '0');
        if (v > 65535)
            return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

/* authority = [ userinfo "@" ] host [ ":" port ], at [p, end). */
static int parse_authority(weft_url_t *u, const char *p, const char *end) {
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        if (!valid_run(p, at, WEFT__C_USERINFO))
            return -EINVAL;
        u->userinfo = span(p, at);
        p = at + 1;
    }
    const char *host_end;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close || !valid_ipv6(p + 1, close))
            return -EINVAL;
        u->host = span(p + 1, close);
        u->flags |= WEFT_URL_IPV6;
        host_end = close + 1;
        if (host_end < end && *host_end != ':')
            return -EINVAL;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (!host_end)
            host_end = end;
        for (const char *q = p; q < host_end; q++) {
            unsigned char c = (unsigned char)*q;
            if (weft__cc(c, WEFT__C_UNRESERVED | WEFT__C_SUBDELIM))
                continue;
            if (weft__pct_byte(q, (size_t)(host_end - q)) < 0)
                return -EINVAL;
            q += 2;
        }
        u->host = span(p, host_end);
    }
    if (host_end < end) {
        u->port = span(host_end + 1, end);
        return parse_port(host_end + 1, end, &u->port_num);
    }
    return 0;
}

static const char *find_any(const char *p, const char *end, const char *set) {
    while (p < end && !strchr(set, *p))
        p++;
    return p;
}

/* The first of ':' '/' '?' '#' from p, or end. */
static const char *find_delim(const char *p, const char *end) {
    while (p < end && !weft__cc((unsigned char)*p, WEFT__C_URLDELIM))
        p++;
    return p;
}

/* path, then "?" query, then "#" fragment, from p on. */
static int parse_tail(weft_url_t *u, const char *p, const char *end) {
    const char *q = p;
    while (q < end && *q != '?' && *q != '#')
        q++;
    if (!valid_run(p, q, WEFT__C_PATH))
        return -EINVAL;
    u->path = span(p, q);
    if (q < end && *q == '?') {
        p = q + 1;
        q = memchr(p, '#', (size_t)(end - p));
        if (!q)
            q = end;
        if (!valid_run(p, q, WEFT__C_QUERY))
            return -EINVAL;
        u->query = span(p, q);
    }
    if (q < end) { /* '#' */
        if (!valid_run(q + 1, end, WEFT__C_QUERY))
            return -EINVAL;
        u->fragment = span(q + 1, end);
    }
    return 0;
}

int weft_url_parse(weft_url_t *u, const char *s, size_t n) {
    static const char empty[1];
    memset(u, 0, sizeof *u);
    u->port_num = -1;
    if (!s)
        s = empty, n = 0;
    const char *p = s, *end = s + n;
    /* Appendix B's split: a ':' before any of "/?#" ends a scheme. */
    const char *q = find_delim(p, end);
    if (q < end && *q == ':') {
        if (!valid_scheme(p, q))
            return -EINVAL; /* also a relative path whose first segment
                               holds a ':' */
        u->scheme = span(p, q);
        p = q + 1;
    }
    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        p += 2;
        q = p;
        while ((q = find_delim(q, end)) < end && *q == ':')
            q++;
        int r = parse_authority(u, p, q);
        if (r < 0)
            return r;
        p = q;
    }
    return parse_tail(u, p, end);
}

int weft_url_default_port(weft_span_t scheme) {
    if (!scheme.ptr)
        return -1;
    if (weft__ieq(scheme.ptr, scheme.len, "http") ||
        weft__ieq(scheme.ptr, scheme.len, "ws"))
        return 80;
    if (weft__ieq(scheme.ptr, scheme.len, "https") ||
        weft__ieq(scheme.ptr, scheme.len, "wss"))
        return 443;
    return -1;
}

/* ---- request targets --------------------------------------------------- */

int weft_http_target_parse(weft_http_target_t *t, const char *method,
                           size_t method_len, const char *s, size_t n) {
    memset(t, 0, sizeof *t);
    weft_url_t *u = &t->url;
    u->port_num = -1;
    if (!s || n == 0 || memchr(s, '#', n))
        return -EINVAL;
    const char *end = s + n;
    if (method_len == 7 && memcmp(method, "CONNECT", 7) == 0) {
        /* authority-form = uri-host ":" port */
        t->form = WEFT_HTTP_TARGET_AUTHORITY;
        if (find_any(s, end, "/?@") != end)
            return -EINVAL;
        int r = parse_authority(u, s, end);
        if (r < 0 || !u->host.len || u->port_num < 0)
            return -EINVAL;
        u->path = span(end, end);
        return 0;
    }
    if (n == 1 && s[0] == '*') {
        if (method_len != 7 || memcmp(method, "OPTIONS", 7) != 0)
            return -EINVAL;
        t->form = WEFT_HTTP_TARGET_ASTERISK;
        u->path = span(s, end);
        return 0;
    }
    if (s[0] == '/') {
        /* origin-form = absolute-path [ "?" query ]: "//a" is a path. */
        t->form = WEFT_HTTP_TARGET_ORIGIN;
        return parse_tail(u, s, end);
    }
    t->form = WEFT_HTTP_TARGET_ABSOLUTE;
    int r = weft_url_parse(u, s, n);
    if (r < 0 || !u->scheme.ptr || !u->host.len || u->userinfo.ptr)
        return -EINVAL;
    return 0;
}

/* ---- serialisation and resolution -------------------------------------- */

struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *p, size_t n) {
    if (n && o->len < o->cap)
        memcpy(o->buf + o->len, p, n <= o->cap - o->len ? n : o->cap - o->len);
    o->len += n;
}

static void put_span(struct out *o, const char *pre, weft_span_t s) {
    if (!s.ptr)
        return;
    put(o, pre, strlen(pre));
    put(o, s.ptr, s.len);
}

/* "//" [ userinfo "@" ] host [ ":" port ], from u. */
static void put_authority(struct out *o, const weft_url_t *u) {
    put(o, "//", 2);
    if (u->userinfo.ptr) {
        put(o, u->userinfo.ptr, u->userinfo.len);
        put(o, "@", 1);
    }
    bool v6 = u->flags & WEFT_URL_IPV6;
    if (v6)
        put(o, "[", 1);
    put(o, u->host.ptr, u->host.len);
    if (v6)
        put(o, "]", 1);
    put_span(o, ":", u->port);
}

ssize_t weft_url_serialize(const weft_url_t *u, char *buf, size_t cap) {
    const char *path = u->path.ptr;
    size_t plen = u->path.len;
    if (u->scheme.ptr && !valid_scheme(u->scheme.ptr, u->scheme.ptr + u->scheme.len))
        return -EINVAL;
    int port;
    if (u->port.ptr && (!u->host.ptr ||
                        parse_port(u->port.ptr, u->port.ptr + u->port.len,
                                   &port) < 0))
        return -EINVAL;
    if (u->host.ptr ? plen && path[0] != '/'
                    : plen >= 2 && path[0] == '/' && path[1] == '/')
        return -EINVAL;
    if (!u->scheme.ptr && !u->host.ptr && plen) {
        /* a first segment with ':' would read as a scheme */
        const char *q = find_any(path, path + plen, ":/");
        if (q < path + plen && *q == ':')
            return -EINVAL;
    }
    struct out o = {buf, cap, 0};
    if (u->scheme.ptr) {
        put(&o, u->scheme.ptr, u->scheme.len);
        put(&o, ":", 1);
    }
    if (u->host.ptr)
        put_authority(&o, u);
    put(&o, path, plen);
    put_span(&o, "?", u->query);
    put_span(&o, "#", u->fragment);
    return weft__terminate(buf, cap, o.len);
}

/* RFC 3986 5.2.4, in place: returns the new length. The output never
 * outgrows what the input consumed, so it can share the buffer. */
static size_t remove_dots(char *p, size_t n) {
    size_t in = 0, out = 0;
    while (in < n) {
        const char *r = p + in;
        size_t left = n - in;
        if (left >= 3 && memcmp(r, "../", 3) == 0) {
            in += 3; /* A */
        } else if (left >= 2 && memcmp(r, "./", 2) == 0) {
            in += 2;
        } else if (left >= 3 && memcmp(r, "/./", 3) == 0) {
            in += 2; /* B */
        } else if (left == 2 && memcmp(r, "/.", 2) == 0) {
            p[out++] = '/';
            in = n;
        } else if ((left >= 4 && memcmp(r, "/../", 4) == 0) ||
                   (left == 3 && memcmp(r, "/..", 3) == 0)) {
            while (out > 0 && p[out - 1] != '/') /* C */
                out--;
            if (out > 0)
                out--;
            if (left == 3) {
                p[out++] = '/';
                in = n;
            } else {
                in += 3;
            }
        } else if ((left == 1 && r[0] == '.') ||
                   (left == 2 && memcmp(r, "..", 2) == 0)) {
            in = n; /* D */
        } else {
            size_t k = r[0] == '/' ? 1 : 0; /* E */
            while (in + k < n && r[k] != '/')
                k++;
            memmove(p + out, r, k);
            out += k;
            in += k;
        }
    }
    return out;
}

/* Write the target's path: ref's own (absolute), or merged with base's
 * (5.2.3), then without dot segments. */
static void put_path(struct out *o, const weft_url_t *base, weft_span_t path,
                     bool merge) {
    size_t start = o->len;
    if (merge) {
        if (base->host.ptr && base->path.len == 0) {
            put(o, "/", 1);
        } else {
            size_t k = base->path.len;
            while (k > 0 && base->path.ptr[k - 1] != '/')
                k--;
            put(o, base->path.ptr, k);
        }
    }
    put(o, path.ptr, path.len);
    if (o->len > o->cap)
        return; /* will fail with -ENOSPC */
    o->len = start + remove_dots(o->buf + start, o->len - start);
}

ssize_t weft_url_resolve(const weft_url_t *base, const weft_url_t *ref,
                         char *buf, size_t cap, weft_url_t *out) {
    if (!base->scheme.ptr)
        return -EINVAL;
    struct out o = {buf, cap, 0};
    const weft_url_t *auth; /* whose authority the target has */
    weft_span_t query = ref->query;
    bool has_scheme = ref->scheme.ptr != NULL;
    weft_span_t scheme = has_scheme ? ref->scheme : base->scheme;
    put(&o, scheme.ptr, scheme.len);
    put(&o, ":", 1);
    size_t path_at;
    if (has_scheme || ref->host.ptr) {
        auth = ref;
        if (auth->host.ptr)
            put_authority(&o, auth);
        path_at = o.len;
        put_path(&o, base, ref->path, false);
    } else {
        auth = base;
        if (auth->host.ptr)
            put_authority(&o, auth);
        path_at = o.len;
        if (ref->path.len == 0) {
            put(&o, base->path.ptr, base->path.len);
            if (!query.ptr)
                query = base->query;
        } else {
            put_path(&o, base, ref->path, ref->path.ptr[0] != '/');
        }
    }
    /* No authority and a path that now starts with "//" would read back
     * as an authority: "/." keeps it a path (WHATWG URL does the same). */
    if (!auth->host.ptr && o.len <= cap && o.len - path_at >= 2 &&
        buf[path_at] == '/' && buf[path_at + 1] == '/') {
        if (o.len + 2 <= cap) {
            memmove(buf + path_at + 2, buf + path_at, o.len - path_at);
            memcpy(buf + path_at, "/.", 2);
        }
        o.len += 2;
    }
    put_span(&o, "?", query);
    put_span(&o, "#", ref->fragment);
    ssize_t len = weft__terminate(buf, cap, o.len);
    if (len < 0)
        return len;
    return weft_url_parse(out, buf, (size_t)len) < 0 ? -EINVAL : len;
}

ssize_t weft_url_host(const weft_url_t *u, char *buf, size_t cap) {
    if (!u->host.ptr || !u->host.len)
        return -ENOENT;
    ssize_t n = weft_pct_decode(buf, cap, u->host.ptr, u->host.len, 0);
    if (n < 0)
        return n;
    bool v6 = u->flags & WEFT_URL_IPV6;
    const char *zone = v6 ? memchr(buf, '%', (size_t)n) : NULL;
    for (ssize_t i = 0; i < n; i++) {
        if (zone && buf + i > zone)
            continue; /* a zone is an interface name, as it is */
        unsigned char c = weft__lower((unsigned char)buf[i]);
        buf[i] = (char)c;
        if (weft__cc(c, WEFT__C_ALPHA | WEFT__C_DIGIT) || c == '-' ||
            c == '.' || c == '_' || (v6 && (c == ':' || buf + i == zone)))
            continue;
        return -EINVAL;
    }
    return n;
}
