/* Behind a load balancer (weft/web_proxy.h): the Forwarded /
 * X-Forwarded-* middleware and the PROXY protocol connection hook. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "../core/common.h"
#include "weft/httpmsg.h"
#include "weft/web_proxy.h"

struct fwd {
    weft_web_trust_t *trust;
    unsigned flags;
};

static const char host_key; /* weft_web_put's key for the forwarded host */

/* ---- hops ---------------------------------------------------------------------- */

/* One hop's address, as text (a Forwarded node without quotes, or an
 * X-Forwarded-For element): "192.0.2.7", "192.0.2.7:80", "[2001:db8::1]",
 * "[2001:db8::1]:80", and for X-Forwarded-For a bare "2001:db8::1". */
static bool hop_addr(weft_span_t s, struct sockaddr_storage *ss,
                     socklen_t *len) {
    char tmp[INET6_ADDRSTRLEN + 8];
    if (s.len == 0 || s.len >= sizeof tmp)
        return false;
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = 0;
    char *host = tmp;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        *close = 0;
        host++;
    } else {
        char *colon = strchr(host, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = 0; /* IPv4 with a port */
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        *len = sizeof *sin;
        return true;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        *len = sizeof *sin6;
        return true;
    }
    return false;
}

/* Every element of every field named `name`, in order, into v (at most
 * max); their number, or -1 if a list does not parse. */
static int elements(weft_web_request_t *req, const char *name, weft_span_t *v,
                    int max) {
    const weft_http_field_t *f;
    size_t nf = weft_web_headers(req, &f);
    int n = 0;
    for (ssize_t i = weft_http_field_find(f, nf, name, 0); i >= 0;
         i = weft_http_field_find(f, nf, name, (size_t)i + 1)) {
        weft_http_list_iter_t it;
        weft_span_t e;
        int r;
        weft_http_list_init(&it, f[i].value.ptr, f[i].value.len);
        while ((r = weft_http_list_next(&it, &e)) == 1) {
            if (n == max)
                return -1; /* more hops than any real chain */
            v[n++] = e;
        }
        if (r < 0)
            return -1;
    }
    return n;
}

#define MAX_HOPS 32

/* Walk the hops from the right past trusted addresses: the index of the
 * client's, or -1 (a hop that is not an address stopped the walk). */
static int client_hop(const struct fwd *fw, const weft_span_t *addr, int n,
                      struct sockaddr_storage *ss, socklen_t *len) {
    for (int i = n - 1; i >= 0; i--) {
        if (!hop_addr(addr[i], ss, len))
            return -1;
        if (i == 0 || !weft_web_trust_has(fw->trust, (struct sockaddr *)ss,
                                          *len))
            return i;
    }
    return -1;
}

/* A host a Host header could hold: no controls, spaces, '/', '@' ... */
static bool host_ok(weft_span_t h) {
    if (h.len == 0 || h.len > 255)
        return false;
    for (size_t i = 0; i < h.len; i++) {
        unsigned char c = (unsigned char)h.ptr[i];
        if (!(c > 0x20 && c < 0x7f) || strchr("/@\\?#\"<>{}|^`", c))
            return false;
    }
    return true;
}

static bool scheme_ok(weft_span_t s) {
    return (s.len == 4 && strncasecmp(s.ptr, "http", 4) == 0) ||
           (s.len == 5 && strncasecmp(s.ptr, "https", 5) == 0);
}

static int apply(weft_web_request_t *req, const struct sockaddr_storage *ss,
                 socklen_t len, weft_span_t proto, weft_span_t host) {
    int r = weft_web_set_remote(req, (const struct sockaddr *)ss, len);
    if (r == 0 && proto.len && scheme_ok(proto)) {
        char s[6]; /* scheme_ok: "http" or "https" */
        size_t n = proto.len < sizeof s ? proto.len : sizeof s - 1;
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(proto.ptr[i] | 0x20);
        s[n] = 0;
        r = weft_web_set_scheme(req, s);
    }
    if (r == 0 && host.len && host_ok(host)) {
        char *h = weft_web_strndup(req, host.ptr, host.len);
        r = h ? weft_web_put(req, &host_key, h) : -ENOMEM;
    }
    return r;
}

/* ---- Forwarded (RFC 7239) ------------------------------------------------------------ */

/* The pairs of one element: for=, proto=, host= (unquoted into the
 * arena). false if the element does not parse. */
static bool fwd_element(weft_web_request_t *req, weft_span_t e,
                        weft_span_t *for_, weft_span_t *proto,
                        weft_span_t *host) {
    for_->len = proto->len = host->len = 0;
    for_->ptr = proto->ptr = host->ptr = NULL;
    /* Each pair is "name=value": run httpmsg's parameter iterator over
     * ";" + element, so that every pair is a parameter. */
    char *buf = weft_web_alloc(req, e.len + 2);
    if (!buf)
        return false;
    buf[0] = ';';
    memcpy(buf + 1, e.ptr, e.len);
    weft_http_param_iter_t it;
    weft_span_t lead, name, value;
    if (weft_http_params_init(&it, buf, e.len + 1, &lead) < 0 || lead.len)
        return false;
    int r;
    while ((r = weft_http_params_next(&it, &name, &value)) == 1) {
        weft_span_t *dst = NULL;
        if (name.len == 3 && strncasecmp(name.ptr, "for", 3) == 0)
            dst = for_;
        else if (name.len == 5 && strncasecmp(name.ptr, "proto", 5) == 0)
            dst = proto;
        else if (name.len == 4 && strncasecmp(name.ptr, "host", 4) == 0)
            dst = host;
        if (!dst)
            continue;
        if (dst->ptr)
            return false; /* a parameter twice (RFC 7239 4) */
        char *text = weft_web_alloc(req, value.len + 1);
        ssize_t n = text ? weft_http_unquote(text, value.len + 1, value.ptr,
                                             value.len)
                         : -ENOMEM;
        if (n < 0)
            return false;
        dst->ptr = text, dst->len = (size_t)n;
    }
    return r == 0;
}

/* 1 applied, 0 no Forwarded field (or nothing usable), <0 an error. */
static int forwarded(weft_web_request_t *req, const struct fwd *fw) {
    weft_span_t el[MAX_HOPS], fors[MAX_HOPS], protos[MAX_HOPS],
        hosts[MAX_HOPS];
    int n = elements(req, "Forwarded", el, MAX_HOPS);
    if (n <= 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (!fwd_element(req, el[i], &fors[i], &protos[i], &hosts[i]) ||
            !fors[i].ptr)
            return 0; /* ignored whole */
    struct sockaddr_storage ss;
    socklen_t len;
    int c = client_hop(fw, fors, n, &ss, &len);
    if (c < 0)
        return 0;
    int r = apply(req, &ss, len, protos[c], hosts[c]);
    return r < 0 ? r : 1;
}

/* ---- X-Forwarded-* ---------------------------------------------------------------- */

static int x_forwarded(weft_web_request_t *req, const struct fwd *fw) {
    weft_span_t fors[MAX_HOPS], protos[MAX_HOPS], hosts[MAX_HOPS];
    int n = elements(req, "X-Forwarded-For", fors, MAX_HOPS);
    if (n <= 0)
        return 0;
    struct sockaddr_storage ss;
    socklen_t len;
    int c = client_hop(fw, fors, n, &ss, &len);
    if (c < 0)
        return 0;
    /* The same hop, counted from the right, of the other two lists (or
     * their leftmost, if shorter). */
    int from_right = n - 1 - c;
    weft_span_t proto = {0}, host = {0};
    int np = elements(req, "X-Forwarded-Proto", protos, MAX_HOPS);
    int nh = elements(req, "X-Forwarded-Host", hosts, MAX_HOPS);
    if (np > 0)
        proto = protos[np - 1 - from_right < 0 ? 0 : np - 1 - from_right];
    if (nh > 0)
        host = hosts[nh - 1 - from_right < 0 ? 0 : nh - 1 - from_right];
    int r = apply(req, &ss, len, proto, host);
    return r < 0 ? r : 1;
}

/* ---- the middleware --------------------------------------------------------------- */

static int fwd_middleware(weft_web_request_t *req, weft_web_next_t *next,
                          void *arg) {
    const struct fwd *fw = arg;
    socklen_t len;
    const struct sockaddr *peer = weft_web_remote_addr(req, &len);
    if (peer && weft_web_trust_has(fw->trust, peer, len)) {
        int r = 0;
        if (fw->flags & WEFT_WEB_FWD_FORWARDED)
            r = forwarded(req, fw);
        if (r == 0 && (fw->flags & WEFT_WEB_FWD_X_FORWARDED))
            r = x_forwarded(req, fw);
        if (r < 0)
            return r;
    }
    return weft_web_next(req, next);
}

static void fwd_free(void *arg) {
    struct fwd *fw = arg;
    weft_web_trust_free(fw->trust);
    weft__free(fw);
}

int weft_web_forwarded(weft_web_app_t *app, const char *trusted,
                       unsigned flags) {
    if (!app || !trusted || (flags & ~3u)) {
        WEFT__MISUSE("weft_web_forwarded", "bad argument");
        return -EINVAL;
    }
    struct fwd *fw = weft__calloc(1, sizeof *fw);
    if (!fw)
        return -ENOMEM;
    fw->flags = flags ? flags : 3u;
    int r = weft_web_trust_new(&fw->trust, trusted);
    if (r < 0) {
        weft__free(fw);
        return r;
    }
    r = weft_web_app_on_free(app, fwd_free, fw);
    if (r < 0) {
        fwd_free(fw);
        return r;
    }
    return weft_web_middleware(app, fwd_middleware, fw);
}

const char *weft_web_forwarded_host(weft_web_request_t *req) {
    if (!req)
        return "";
    const char *h = weft_web_get(req, &host_key);
    if (h)
        return h;
    weft_span_t host = weft_web_host(req);
    h = weft_web_strndup(req, host.ptr ? host.ptr : "", host.len);
    return h ? h : "";
}

/* ---- the PROXY protocol hook ------------------------------------------------------ */

int weft_web_proxy_protocol(weft_web_conn_t *conn, void *arg) {
    const weft_web_trust_t *trust = arg;
    weft_stream_t *s = weft_web_conn_stream(conn);
    if (!s)
        return -EINVAL;
    if (trust) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        if (weft_stream_peername(s, &peer, &len) < 0 ||
            !weft_web_trust_has(trust, (struct sockaddr *)&peer, len))
            return -EPERM;
    }
    /* Read what is there, and more only while the bytes so far are a
     * valid beginning: the parser says how many a header needs. */
    size_t min = 15; /* the shortest header: "PROXY UNKNOWN\r\n" */
    for (;;) {
        const void *data;
        ssize_t n = weft_stream_wait_data(s, min, &data);
        if (n < 0)
            return (int)n;
        weft_proxy_info_t info;
        int r = weft_proxy_parse(&info, data, (size_t)n);
        if (r > 0) {
            if (!info.local) {
                int e = weft_web_conn_set_remote(
                    conn, (struct sockaddr *)&info.src, info.src_len);
                if (e < 0)
                    return e;
            }
            return weft_stream_consume(s, (size_t)r);
        }
        if (r != -EAGAIN || (size_t)n < min)
            return -EPROTO; /* malformed, or the stream ended */
        min = (size_t)n + 1;
    }
}
