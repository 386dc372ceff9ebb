/* The HTTP client's sessions and requests: options, the middleware chain
 * around each hop, redirects, the timeouts as deadline scopes, tracing,
 * and the one-line messages of failures. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client_int.h"

#define DEFAULT_TOTAL 300.0
#define DEFAULT_SOCK_CONNECT 30.0
#define DEFAULT_LIMIT 100
#define DEFAULT_KEEPALIVE 15.0
#define DEFAULT_REDIRECTS 10
#define DEFAULT_MAX_BODY ((size_t)32 << 20)
#define DEFAULT_MAX_DECOMPRESSED ((size_t)1 << 30)
#define DEFAULT_DNS_TTL 10.0

/* ---- helpers ------------------------------------------------------------------- */

char *weft__hc_strndup(const char *s, size_t n) {
    char *p = weft__malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

char *weft__hc_strdup(const char *s) {
    return s ? weft__hc_strndup(s, strlen(s)) : NULL;
}

bool weft__hc_span_eq(weft_span_t a, const char *lit) {
    size_t n = strlen(lit);
    return a.ptr && a.len == n && strncasecmp(a.ptr, lit, n) == 0;
}

size_t weft__hc_base64(char *out, const void *in, size_t n) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static bool valid_value(const char *v) {
    for (; *v; v++)
        if (*v == '\r' || *v == '\n')
            return false;
    return true;
}

static bool valid_name(const char *n) {
    return n && *n && weft_http_is_token(n, strlen(n));
}

/* ---- timeouts ------------------------------------------------------------------ */

int (weft__hc_scope_enter)(struct weft__hc_scope *t, double secs) {
    t->on = secs > 0 && secs != (double)INFINITY;
    return t->on ? weft_scope_enter(&t->sc, secs, 0) : 0;
}

int (weft__hc_scope_enter_at)(struct weft__hc_scope *t, double deadline) {
    t->on = deadline != (double)INFINITY;
    return t->on ? weft_scope_enter_at(&t->sc, deadline, 0) : 0;
}

int (weft__hc_scope_exit)(struct weft__hc_scope *t, int r, int *kind,
                          int which) {
    if (!t->on)
        return r;
    int e = weft_scope_exit(&t->sc);
    if (e == -ETIMEDOUT && *kind == 0)
        *kind = which;
    if (r < 0 && e == -ECANCELED)
        return -ECANCELED;
    return r;
}

static int check_timeout(double v) {
    return isnan(v) || v < 0 ? -EINVAL : 0;
}

static int check_timeouts(const weft_client_timeout_t *t) {
    return check_timeout(t->total) | check_timeout(t->connect) |
           check_timeout(t->sock_connect) | check_timeout(t->sock_read);
}

static const char *timeout_name(int kind) {
    switch (kind) {
    case WEFT_CLIENT_TIMEOUT_TOTAL:
        return "total";
    case WEFT_CLIENT_TIMEOUT_CONNECT:
        return "connect";
    case WEFT_CLIENT_TIMEOUT_SOCK_CONNECT:
        return "sock_connect";
    case WEFT_CLIENT_TIMEOUT_SOCK_READ:
        return "sock_read";
    default:
        return "none";
    }
}

static double timeout_value(const weft_client_timeout_t *t, int kind) {
    switch (kind) {
    case WEFT_CLIENT_TIMEOUT_TOTAL:
        return t->total;
    case WEFT_CLIENT_TIMEOUT_CONNECT:
        return t->connect;
    case WEFT_CLIENT_TIMEOUT_SOCK_CONNECT:
        return t->sock_connect;
    default:
        return t->sock_read;
    }
}

/* ---- failures -------------------------------------------------------------------- */

int (weft__hc_fail)(struct weft__hc_req *rq, int code, const char *fmt,
                    ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rq->msg, sizeof rq->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* The final line: "METHOD URL: what". */
static void finish_error(struct weft__hc_req *rq, int err,
                         weft_client_error_t *out, int status) {
    char line[WEFT_CLIENT_ERRMSG_SIZE];
    int n = snprintf(line, sizeof line, "%s %s: ", rq->method,
                     rq->url ? rq->url : "?");
    if (n < 0 || (size_t)n >= sizeof line / 2)
        n = 0;
    char *what = line + n;
    size_t cap = sizeof line - (size_t)n;
    const char *phase = rq->phase ? rq->phase : "";
    if (err == -ETIMEDOUT && rq->timeout_kind)
        snprintf(what, cap, "timeout: %s (%g s) %s",
                 timeout_name(rq->timeout_kind),
                 timeout_value(&rq->to, rq->timeout_kind), phase);
    else if (err == -ETIMEDOUT)
        snprintf(what, cap, "timeout: the caller's deadline expired %s", phase);
    else if (err == -ECANCELED)
        snprintf(what, cap, "cancelled %s", phase);
    else if (WEFT_CLIENT_IS_HTTP(err))
        snprintf(what, cap, "HTTP error status %d",
                 WEFT_CLIENT_HTTP_STATUS(err));
    else
        snprintf(what, cap, "%s", rq->msg[0] ? rq->msg : weft_strerror(err));
    weft__log(WEFT_LOG_DEBUG, "%s", line);
    if (out) {
        out->code = err;
        out->status = status;
        out->timeout = err == -ETIMEDOUT ? rq->timeout_kind : 0;
        memcpy(out->msg, line, sizeof line);
    }
}

/* ---- tracing ------------------------------------------------------------------------ */

void weft__hc_trace(struct weft__hc_req *rq, weft_client_trace_info_t *info) {
    weft_session_t *s = rq->s;
    info->time = weft_loop_time(s->loop);
    info->method = rq->method;
    info->url = rq->url;
    info->ctx = rq->trace_ctx;
    for (size_t i = 0; i < s->ntraces; i++)
        s->traces[i].trace(info, s->traces[i].arg);
}

/* ---- the request's URL and headers -------------------------------------------------- */

static bool is_https(const weft_url_t *u) {
    return weft__hc_span_eq(u->scheme, "https");
}

static void url_free(struct weft__hc_req *rq) {
    if (rq->url != rq->urlbuf)
        weft__free(rq->url);
    rq->url = NULL;
}

/* rq->url becomes url (urlbuf, or a string it now owns): parse it and
 * find host and port. */
static int set_url(struct weft__hc_req *rq, char *url, int bad) {
    if (url != rq->url)
        url_free(rq);
    rq->url = url;
    weft_url_t *u = &rq->u;
    if (weft_url_parse(u, url, strlen(url)) < 0)
        return weft__hc_fail(rq, bad, "malformed URL");
    bool https = weft__hc_span_eq(u->scheme, "https");
    if (!https && !weft__hc_span_eq(u->scheme, "http"))
        return weft__hc_fail(rq, bad, "not an http or https URL");
    ssize_t n = weft_url_host(u, rq->host, sizeof rq->host);
    if (n <= 0)
        return weft__hc_fail(rq, bad, "no host in the URL");
    int dflt = https ? 443 : 80;
    rq->https = https;
    rq->port = (uint16_t)(u->port_num >= 0 ? u->port_num : dflt);
    /* The Host header: the authority as sent, without userinfo, the
     * default port left out (RFC 9110 7.2). */
    bool v6 = u->flags & WEFT_URL_IPV6;
    char *p = rq->hostport;
    if (u->host.len + 10 > sizeof rq->hostport)
        return weft__hc_fail(rq, bad, "host name too long");
    if (v6)
        *p++ = '[';
    memcpy(p, u->host.ptr, u->host.len);
    p += u->host.len;
    if (v6)
        *p++ = ']';
    if (u->port_num >= 0 && u->port_num != dflt) {
        char digits[8];
        int nd = 0;
        for (unsigned v = (unsigned)u->port_num; v || !nd; v /= 10)
            digits[nd++] = (char)('0' + v % 10);
        *p++ = ':';
        while (nd)
            *p++ = digits[--nd];
    }
    *p = 0;
    return 0;
}

/* Whether url starts with a scheme ("http:"): an absolute URL. */
static bool has_scheme(const char *url) {
    if (!((*url >= 'a' && *url <= 'z') || (*url >= 'A' && *url <= 'Z')))
        return false;
    for (const char *p = url + 1; *p; p++) {
        if (*p == ':')
            return true;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' ||
              *p == '.'))
            return false;
    }
    return false;
}

/* The first URL: url resolved against base_url, with params added to its
 * query. */
static int first_url(struct weft__hc_req *rq, const char *url,
                     const char *const *params) {
    weft_session_t *s = rq->s;
    size_t ul = strlen(url);
    char *abs;
    if (!s->base_url || has_scheme(url)) {
        if (ul < sizeof rq->urlbuf && !(params && params[0])) {
            memcpy(rq->urlbuf, url, ul + 1); /* the common case: no malloc */
            abs = rq->urlbuf;
        } else if (!(abs = weft__hc_strdup(url))) {
            return -ENOMEM;
        }
    } else {
        weft_url_t ref;
        if (weft_url_parse(&ref, url, ul) < 0) {
            rq->url = weft__hc_strdup(url);
            return weft__hc_fail(rq, WEFT_ECLIENT_BAD_URL, "malformed URL");
        }
        size_t cap = strlen(s->base_url) + ul + 8;
        abs = weft__malloc(cap);
        if (!abs)
            return -ENOMEM;
        weft_url_t out;
        if (weft_url_resolve(&s->base, &ref, abs, cap, &out) < 0) {
            weft__free(abs);
            rq->url = weft__hc_strdup(url);
            return weft__hc_fail(rq, WEFT_ECLIENT_BAD_URL,
                                 "cannot resolve against the base URL");
        }
    }
    if (params && params[0]) {
        /* Add the encoded pairs before any fragment. */
        char *hash = strchr(abs, '#');
        size_t base_len = hash ? (size_t)(hash - abs) : strlen(abs);
        size_t cap = base_len + 64, len;
        for (size_t i = 0; params[i]; i += 2) {
            if (!params[i + 1]) {
                rq->url = abs;
                return weft__hc_fail(rq, -EINVAL, "params: a name without "
                                                  "value");
            }
            cap += 3 * (strlen(params[i]) + strlen(params[i + 1])) + 2;
        }
        char *q = weft__malloc(cap + (hash ? strlen(hash) : 0));
        if (!q) {
            weft__free(abs);
            return -ENOMEM;
        }
        memcpy(q, abs, base_len);
        bool has_query = memchr(abs, '?', base_len) != NULL;
        len = base_len;
        if (!has_query)
            q[len++] = '?';
        else if (q[len - 1] != '?' && q[len - 1] != '&')
            q[len++] = '&';
        size_t qstart = len;
        q[len] = 0;
        for (size_t i = 0; params[i]; i += 2) {
            ssize_t n = weft_query_append(q + qstart, cap - qstart, len - qstart,
                                          params[i], strlen(params[i]),
                                          params[i + 1], strlen(params[i + 1]));
            if (n < 0) {
                weft__free(q);
                weft__free(abs);
                return -ENOMEM;
            }
            len = qstart + (size_t)n;
        }
        if (hash)
            memcpy(q + len, hash, strlen(hash) + 1);
        else
            q[len] = 0;
        weft__free(abs);
        abs = q;
    }
    return set_url(rq, abs, WEFT_ECLIENT_BAD_URL);
}

static int hdr_push(struct weft__hc_req *rq, const char *name,
                    const char *value) {
    if (rq->nh == rq->caph) {
        size_t cap = rq->caph * 2;
        struct weft__hc_hdr *nh = weft__malloc(cap * sizeof *nh);
        if (!nh)
            return -ENOMEM;
        memcpy(nh, rq->h, rq->nh * sizeof *nh);
        if (rq->h != rq->hbuf)
            weft__free(rq->h);
        rq->h = nh;
        rq->caph = cap;
    }
    rq->h[rq->nh++] = (struct weft__hc_hdr){name, value};
    return 0;
}

static void hdr_remove(struct weft__hc_req *rq, const char *name) {
    size_t o = 0;
    for (size_t i = 0; i < rq->nh; i++)
        if (strcasecmp(rq->h[i].name, name) != 0)
            rq->h[o++] = rq->h[i];
    rq->nh = o;
}

static int own(struct weft__hc_req *rq, char *p) {
    if (!p)
        return -ENOMEM;
    char **no = weft__realloc(rq->owned, (rq->nowned + 1) * sizeof *no);
    if (!no) {
        weft__free(p);
        return -ENOMEM;
    }
    rq->owned = no;
    rq->owned[rq->nowned++] = p;
    return 0;
}

static int init_headers(struct weft__hc_req *rq, const char *const *given) {
    weft_session_t *s = rq->s;
    rq->h = rq->hbuf;
    rq->caph = WEFT__ARRAY_LEN(rq->hbuf);
    for (size_t i = 0; given && given[i]; i += 2) {
        if (!given[i + 1] || !valid_name(given[i]) ||
            !valid_value(given[i + 1]))
            return weft__hc_fail(rq, -EINVAL, "bad header '%s'", given[i]);
        if (strcasecmp(given[i], "Content-Length") == 0 ||
            strcasecmp(given[i], "Transfer-Encoding") == 0)
            return weft__hc_fail(rq, -EINVAL, "the client sets %s itself",
                                 given[i]);
    }
    for (size_t i = 0; s->headers && s->headers[i]; i += 2) {
        bool replaced = false;
        for (size_t k = 0; given && given[k] && !replaced; k += 2)
            replaced = strcasecmp(given[k], s->headers[i]) == 0;
        if (!replaced && hdr_push(rq, s->headers[i], s->headers[i + 1]))
            return -ENOMEM;
    }
    for (size_t i = 0; given && given[i]; i += 2)
        if (hdr_push(rq, given[i], given[i + 1]))
            return -ENOMEM;
    return 0;
}

static int basic_auth(struct weft__hc_req *rq, const char *userpass,
                      size_t n) {
    char *a = weft__malloc(6 + 4 * ((n + 2) / 3) + 1);
    if (!a)
        return -ENOMEM;
    memcpy(a, "Basic ", 6);
    weft__hc_base64(a + 6, userpass, n);
    weft__free(rq->auth);
    rq->auth = a;
    return 0;
}

/* ---- one hop: the end of the middleware chain ------------------------------------- */

static bool retryable_on_new(int err) {
    return err == -EPIPE || err == -ECONNRESET ||
           err == WEFT_ECLIENT_NO_RESPONSE;
}

static void store_cookies(struct weft__hc_req *rq, weft_client_response_t *r) {
    weft_session_t *s = rq->s;
    if (!s->jar)
        return;
    const weft_http_field_t *f = r->head.fields;
    for (size_t i = 0; i < r->head.nfields; i++)
        if (f[i].name.len == 10 && weft__hc_span_eq(f[i].name, "Set-Cookie"))
            weft__cookie_jar_update_url(s->jar, &rq->u, rq->host,
                                        f[i].value.ptr, f[i].value.len);
}

static int core(struct weft__hc_req *rq, weft_client_response_t **resp) {
    weft_session_t *s = rq->s;
    rq->msg[0] = 0;
    for (int attempt = 0;; attempt++) {
        struct weft__hc_conn *c = NULL;
        bool reused = false;
        int err = weft__hc_acquire(rq, &c, &reused);
        if (err)
            return err;
        c->requests++;
        err = weft__hc_send(rq, c);
        bool any = false;
        weft_client_response_t *r = NULL;
        if (!err)
            err = weft__hc_read_head(rq, c, &r, &any);
        if (!err) {
            store_cookies(rq, r);
            *resp = r;
            return 0;
        }
        weft__hc_put(s, c, WEFT__HC_ABORT);
        /* A kept-alive connection the server closed as we sent on it
         * (RFC 9112 9.3.1): once more on a new connection, if the
         * request may be repeated. */
        if (reused && !any && retryable_on_new(err) && rq->idempotent &&
            weft_client_req_replayable(rq->pub) && attempt < 8) {
            rq->msg[0] = 0;
            continue;
        }
        return err;
    }
}

int weft_client_next(weft_client_request_t *req, weft_client_next_t *next,
                     weft_client_response_t **resp) {
    if (!resp)
        return -EINVAL;
    *resp = NULL;
    if (!req || !next) {
        WEFT__MISUSE("weft_client_next", "NULL request or next");
        return -EINVAL;
    }
    if (next->i < next->n) {
        const weft_client_middleware_t *mw = &next->mws[next->i];
        weft_client_next_t sub = {next->mws, next->n, next->i + 1};
        int err = mw->fn(req, &sub, mw->arg, resp);
        if (err >= 0 && !*resp) {
            WEFT__MISUSE("weft_client_next", "a middleware returned %d "
                                             "without a response", err);
            return -EINVAL;
        }
        if (err < 0 && *resp) {
            weft_client_release(*resp);
            *resp = NULL;
        }
        return err;
    }
    return core(req->rq, resp);
}

/* ---- the request accessors for middlewares ------------------------------------------ */

const char *weft_client_req_method(const weft_client_request_t *req) {
    return req ? req->rq->method : NULL;
}

const char *weft_client_req_url(const weft_client_request_t *req) {
    return req ? req->rq->url : NULL;
}

const char *weft_client_req_header(const weft_client_request_t *req,
                                   const char *name) {
    if (!req || !name)
        return NULL;
    const struct weft__hc_req *rq = req->rq;
    for (size_t i = 0; i < rq->nh; i++)
        if (strcasecmp(rq->h[i].name, name) == 0)
            return rq->h[i].value;
    return NULL;
}

int weft_client_req_set_header(weft_client_request_t *req, const char *name,
                               const char *value) {
    if (!req || !valid_name(name) || !value || !valid_value(value)) {
        WEFT__MISUSE("weft_client_req_set_header", "bad name or value");
        return -EINVAL;
    }
    struct weft__hc_req *rq = req->rq;
    char *n = weft__hc_strdup(name), *v = weft__hc_strdup(value);
    if (own(rq, n) || own(rq, v))
        return -ENOMEM;
    hdr_remove(rq, name);
    return hdr_push(rq, n, v);
}

int weft_client_req_remove_header(weft_client_request_t *req,
                                  const char *name) {
    if (!req || !name)
        return -EINVAL;
    size_t before = req->rq->nh;
    hdr_remove(req->rq, name);
    return req->rq->nh < before ? 0 : -ENOENT;
}

bool weft_client_req_replayable(const weft_client_request_t *req) {
    if (!req)
        return false;
    const struct weft__hc_req *rq = req->rq;
    return !rq->body || rq->drop_body ||
           rq->body->kind != WEFT_CLIENT_BODY_STREAM;
}

bool weft_client_req_idempotent(const weft_client_request_t *req) {
    return req && req->rq->idempotent;
}

weft_session_t *weft_client_req_session(const weft_client_request_t *req) {
    return req ? req->rq->s : NULL;
}

void *weft_client_req_ctx(const weft_client_request_t *req) {
    return req ? req->rq->trace_ctx : NULL;
}

/* ---- redirects ------------------------------------------------------------------------ */

struct hops {
    weft_client_hop_t *h;
    size_t n;
};

static void hops_free(struct hops *hp) {
    for (size_t i = 0; i < hp->n; i++) {
        weft__free((char *)hp->h[i].method);
        weft__free((char *)hp->h[i].url);
        weft__free((char *)hp->h[i].location);
    }
    weft__free(hp->h);
}

static bool same_origin(const struct weft__hc_req *rq, const weft_url_t *u,
                        const char *host) {
    int port = u->port_num >= 0 ? u->port_num : weft_url_default_port(u->scheme);
    return rq->https == is_https(u) && rq->port == port &&
           strcmp(rq->host, host) == 0;
}

/* Follow r's redirect if it is one we follow: 1 (rq now describes the
 * next hop, r was released), 0 (not a redirect: return r), or an error. */
static int redirect(struct weft__hc_req *rq, weft_client_response_t *r,
                    struct hops *hp, int max) {
    int st = r->head.status;
    if (st != 301 && st != 302 && st != 303 && st != 307 && st != 308)
        return 0;
    weft_span_t loc;
    if (weft_client_header(r, "Location", &loc) < 0)
        return 0; /* nothing to follow: the response is the answer */
    if ((st == 307 || st == 308) && !weft_client_req_replayable(rq->pub))
        return 0; /* the body cannot be sent again */
    /* The body is not wanted, whatever happens next; reading a small one
     * keeps the connection. */
    weft__hc_discard(r);
    if ((int)hp->n >= max)
        return weft__hc_fail(rq, WEFT_ECLIENT_REDIRECTS,
                             "too many redirects (%d)", max);
    weft_url_t ref, out;
    if (weft_url_parse(&ref, loc.ptr, loc.len) < 0)
        return weft__hc_fail(rq, WEFT_ECLIENT_BAD_REDIRECT,
                             "redirect %d to a malformed Location '%.*s'", st,
                             (int)(loc.len > 200 ? 200 : loc.len), loc.ptr);
    size_t cap = strlen(rq->url) + loc.len + 8;
    char *next = weft__malloc(cap + rq->u.fragment.len + 1);
    if (!next)
        return -ENOMEM;
    ssize_t n = weft_url_resolve(&rq->u, &ref, next, cap, &out);
    if (n < 0) {
        weft__free(next);
        return weft__hc_fail(rq, WEFT_ECLIENT_BAD_REDIRECT,
                             "cannot resolve the Location '%.*s'",
                             (int)(loc.len > 200 ? 200 : loc.len), loc.ptr);
    }
    if (!out.fragment.ptr && rq->u.fragment.ptr) {
        /* RFC 9110 10.2.2: the fragment is inherited. */
        next[n] = '#';
        memcpy(next + n + 1, rq->u.fragment.ptr, rq->u.fragment.len);
        next[n + 1 + (ssize_t)rq->u.fragment.len] = 0;
        weft_url_parse(&out, next, strlen(next));
    }
    if (!weft__hc_span_eq(out.scheme, "http") &&
        !weft__hc_span_eq(out.scheme, "https")) {
        weft__free(next);
        return weft__hc_fail(rq, WEFT_ECLIENT_BAD_REDIRECT,
                             "redirect %d to a URL that is not http or https",
                             st);
    }
    char host[256];
    if (weft_url_host(&out, host, sizeof host) <= 0) {
        weft__free(next);
        return weft__hc_fail(rq, WEFT_ECLIENT_BAD_REDIRECT,
                             "redirect %d to a URL without a host", st);
    }
    /* Record the hop. */
    weft_client_hop_t *nh = weft__realloc(hp->h, (hp->n + 1) * sizeof *nh);
    if (!nh) {
        weft__free(next);
        return -ENOMEM;
    }
    hp->h = nh;
    weft_client_hop_t *h = &hp->h[hp->n];
    h->status = st;
    h->method = weft__hc_strdup(rq->method);
    h->url = weft__hc_strdup(rq->url);
    h->location = weft__hc_strndup(loc.ptr, loc.len);
    hp->n++;
    if (!h->method || !h->url || !h->location) {
        weft__free(next);
        return -ENOMEM;
    }
    /* The method: 303 becomes GET (HEAD stays HEAD), and so do 301 and
     * 302 after a POST, as browsers and curl do (RFC 9110 15.4.2-4). */
    if ((st == 303 && rq->method_id != WEFT_HTTP_HEAD) ||
        ((st == 301 || st == 302) && rq->method_id == WEFT_HTTP_POST)) {
        rq->method = "GET";
        rq->method_id = WEFT_HTTP_GET;
        rq->idempotent = true;
        rq->drop_body = true;
        hdr_remove(rq, "Content-Type");
    }
    /* Credentials stay with their origin (Fetch's "HTTP-redirect fetch";
     * curl drops them when the host changes). */
    if (!same_origin(rq, &out, host)) {
        rq->strip_auth = true;
        rq->strip_cookie = true;
    }
    if (weft__hc_tracing(rq->s)) {
        weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_REDIRECT,
                                       .status = st};
        weft__hc_trace(rq, &ti);
    }
    weft_client_release(r);
    int err = set_url(rq, next, WEFT_ECLIENT_BAD_REDIRECT);
    return err ? err : 1;
}

/* ---- requests ----------------------------------------------------------------------------- */

static bool idempotent_method(int id) {
    return id == WEFT_HTTP_GET || id == WEFT_HTTP_HEAD ||
           id == WEFT_HTTP_OPTIONS || id == WEFT_HTTP_TRACE ||
           id == WEFT_HTTP_PUT || id == WEFT_HTTP_DELETE;
}

static int method_id(const char *m) {
    for (int i = WEFT_HTTP_GET; i <= WEFT_HTTP_PATCH; i++) {
        const char *n = weft_http_method_name(i);
        if (n && strcmp(n, m) == 0)
            return i;
    }
    return WEFT_HTTP_OTHER;
}

static double merged(double session, const weft_client_timeout_t *t,
                     size_t off) {
    double v = 0;
    if (t)
        memcpy(&v, (const char *)t + off, sizeof v);
    return v ? v : session;
}

/* Everything after the checks; rq is set up. */
static int request(struct weft__hc_req *rq, const char *url,
                   const weft_client_req_opts_t *o,
                   weft_client_response_t **resp) {
    weft_session_t *s = rq->s;
    int err = first_url(rq, url, o ? o->params : NULL);
    if (!err)
        err = init_headers(rq, o ? o->headers : NULL);
    if (!err && o && o->auth)
        err = basic_auth(rq, o->auth, strlen(o->auth));
    else if (!err && rq->u.userinfo.ptr && rq->u.userinfo.len) {
        char plain[512];
        ssize_t n = weft_pct_decode(plain, sizeof plain, rq->u.userinfo.ptr,
                                    rq->u.userinfo.len, 0);
        err = n < 0 ? weft__hc_fail(rq, WEFT_ECLIENT_BAD_URL,
                                    "bad userinfo in the URL")
                    : basic_auth(rq, plain, (size_t)n);
    }
    if (err)
        return err;
    int max = o && o->max_redirects ? o->max_redirects : s->max_redirects;
    if (o && (o->flags & WEFT_CLIENT_NO_REDIRECTS))
        max = -1;
    struct hops hp = {0};
    weft_client_response_t *r = NULL;
    weft_client_request_t pub = {rq};
    /* Used only inside this call (retries, redirects), never after. */
    /* cppcheck-suppress autoVariables */
    rq->pub = &pub;
    weft_client_next_t next = {rq->mws, rq->nmws, 0};
    for (;;) {
        err = weft_client_next(&pub, &next, &r);
        if (err)
            break;
        if (max < 0)
            break;
        err = redirect(rq, r, &hp, max);
        if (err <= 0) {
            if (err < 0) {
                weft_client_release(r);
                r = NULL;
            }
            break;
        }
        r = NULL;
    }
    if (!err)
        err = weft__hc_resp_set_request(r, rq->method, rq->url, hp.h, hp.n);
    hops_free(&hp);
    if (err) {
        if (r)
            weft_client_release(r);
        return err;
    }
    *resp = r;
    return 0;
}

int weft_session_request(weft_session_t *s, const char *method,
                         const char *url, const weft_client_req_opts_t *o,
                         weft_client_response_t **resp) {
    if (resp)
        *resp = NULL;
    if (!s || !method || !url || !resp ||
        !weft_http_is_token(method, strlen(method))) {
        WEFT__MISUSE("weft_session_request", "NULL or bad argument");
        return -EINVAL;
    }
    if (!weft__task_require("weft_session_request"))
        return -EPERM;
    if (s->loop != weft_loop_current() || s->closed) {
        WEFT__MISUSE("weft_session_request", "%s",
                     s->closed ? "closed session" : "another loop's session");
        return -EPERM;
    }
    if (o && o->timeout && check_timeouts(o->timeout)) {
        WEFT__MISUSE("weft_session_request", "negative or NaN timeout");
        return -EINVAL;
    }
    struct weft__hc_req rq;
    memset(&rq, 0, offsetof(struct weft__hc_req, msg));
    rq.msg[0] = 0;
    rq.host[0] = rq.hostport[0] = 0;
    rq.s = s;
    rq.method = method;
    rq.method_id = method_id(method);
    rq.idempotent = idempotent_method(rq.method_id);
    rq.body = o ? o->body : NULL;
    rq.flags = o ? o->flags : 0;
    if (s->flags & WEFT_SESSION_RAISE_FOR_STATUS)
        rq.flags |= WEFT_CLIENT_RAISE_FOR_STATUS;
    rq.trace_ctx = o ? o->trace_ctx : NULL;
    const weft_client_timeout_t *t = o ? o->timeout : NULL;
    rq.to.total = merged(s->timeout.total, t,
                         offsetof(weft_client_timeout_t, total));
    rq.to.connect = merged(s->timeout.connect, t,
                           offsetof(weft_client_timeout_t, connect));
    rq.to.sock_connect = merged(s->timeout.sock_connect, t,
                                offsetof(weft_client_timeout_t, sock_connect));
    rq.to.sock_read = merged(s->timeout.sock_read, t,
                             offsetof(weft_client_timeout_t, sock_read));
    rq.max_body = o && o->max_body ? o->max_body : s->max_body;
    if (o && o->nmiddlewares) {
        rq.mws = o->middlewares;
        rq.nmws = o->nmiddlewares;
    } else if (!(rq.flags & WEFT_CLIENT_NO_MIDDLEWARES)) {
        rq.mws = s->mws;
        rq.nmws = s->nmws;
    }
    s->busy++;
    s->stats.requests++;
    double t0 = weft_loop_time(s->loop);
    if (weft__hc_tracing(s)) {
        rq.url = (char *)url;
        weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_REQUEST_START};
        weft__hc_trace(&rq, &ti);
        rq.url = NULL;
    }
    struct weft__hc_scope total;
    rq.deadline = rq.to.total > 0 && rq.to.total != (double)INFINITY
                      ? t0 + rq.to.total
                      : (double)INFINITY;
    int err = weft__hc_scope_enter_at(&total, rq.deadline);
    weft_client_response_t *r = NULL;
    if (!err)
        err = request(&rq, url, o, &r);
    int status = 0;
    if (!err && (rq.flags & WEFT_CLIENT_RAISE_FOR_STATUS) &&
        weft_client_raise_for_status(r)) {
        status = r->head.status;
        err = WEFT_CLIENT_HTTP(status);
        WEFT__ANALYZER_ASSUME(err < 0); /* raised: a status of 400 or more */
        weft_client_release(r);
        r = NULL;
    }
    if (!err && (rq.flags & WEFT_CLIENT_READ_BODY)) {
        const void *d;
        ssize_t n = weft__hc_body(r, &d, rq.max_body);
        if (n < 0) {
            err = (int)n;
            /* The response's message says it all already. */
            const char *m = strchr(r->errmsg, ':');
            weft__hc_fail(&rq, err, "%s", m ? m + 2 : r->errmsg);
            if (n == -ETIMEDOUT)
                rq.timeout_kind = rq.timeout_kind ? rq.timeout_kind
                                                  : WEFT_CLIENT_TIMEOUT_TOTAL;
            rq.phase = "reading the body";
            weft_client_release(r);
            r = NULL;
        }
    }
    err = weft__hc_scope_exit(&total, err, &rq.timeout_kind,
                              WEFT_CLIENT_TIMEOUT_TOTAL);
    if (err && r) {
        weft_client_release(r);
        r = NULL;
    }
    if (weft__hc_tracing(s)) {
        weft_loop_update_time(s->loop);
        weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_REQUEST_END,
                                       .error = err,
                                       .status = r ? r->head.status : status,
                                       .elapsed = weft_loop_time(s->loop) - t0};
        weft__hc_trace(&rq, &ti);
    }
    weft_client_error_t *eo = o ? o->error : NULL;
    if (err) {
        if (!rq.url)
            rq.url = weft__hc_strdup(url);
        finish_error(&rq, err, eo, status);
    } else if (eo) {
        memset(eo, 0, sizeof *eo);
    }
    url_free(&rq);
    weft__free(rq.auth);
    if (rq.h != rq.hbuf)
        weft__free(rq.h);
    for (size_t i = 0; i < rq.nowned; i++)
        weft__free(rq.owned[i]);
    weft__free(rq.owned);
    s->busy--;
    *resp = r;
    return err;
}

#define METHOD(fn, name)                                                       \
    int fn(weft_session_t *s, const char *url,                                 \
           const weft_client_req_opts_t *opts,                                 \
           weft_client_response_t **resp) {                                    \
        return weft_session_request(s, name, url, opts, resp);                 \
    }
METHOD(weft_session_get, "GET")
METHOD(weft_session_post, "POST")
METHOD(weft_session_put, "PUT")
METHOD(weft_session_patch, "PATCH")
METHOD(weft_session_delete, "DELETE")
METHOD(weft_session_head, "HEAD")
METHOD(weft_session_options, "OPTIONS")
#undef METHOD

/* ---- sessions ------------------------------------------------------------------------------ */

static void free_headers(char **h) {
    for (size_t i = 0; h && h[i]; i++)
        weft__free(h[i]);
    weft__free(h);
}

void weft__hc_session_free(weft_session_t *s) {
    while (s->free_resps) {
        weft_client_response_t *r = s->free_resps;
        s->free_resps = r->next_free;
        weft__hc_resp_destroy(r);
    }
    weft__hc_dns_free_all(s);
    for (struct weft__list *pos = s->hosts.next, *tmp; pos != &s->hosts;
         pos = tmp) {
        tmp = pos->next;
        weft__free(WEFT__CONTAINER_OF(pos, struct weft__hc_host, link));
    }
    if (s->own_tls)
        weft_tls_ctx_free(s->tls);
    weft__free(s->ca_file);
    if (s->own_jar)
        weft_cookie_jar_free(s->jar);
    weft__hc_proxy_free(&s->proxy[0]);
    weft__hc_proxy_free(&s->proxy[1]);
    weft__free(s->no_proxy);
    weft__free(s->base_url);
    free_headers(s->headers);
    weft__free(s->user_agent);
    weft__free(s->unix_socket);
    weft__free(s->mws);
    weft__free(s->traces);
    weft__free(s->wbuf);
    weft__free(s);
}

static int session_bad(weft_session_t *s, const char *why) {
    WEFT__MISUSE("weft_session_new", "%s", why);
    weft__hc_session_free(s);
    return -EINVAL;
}

static int copy_headers(weft_session_t *s, const char *const *h) {
    size_t n = 0;
    while (h && h[n]) {
        if (!h[n + 1] || !valid_name(h[n]) || !valid_value(h[n + 1]))
            return -EINVAL;
        n += 2;
    }
    if (!n)
        return 0;
    s->headers = weft__calloc(n + 1, sizeof *s->headers);
    if (!s->headers)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(s->headers[i] = weft__hc_strdup(h[i])))
            return -ENOMEM;
    return 0;
}

static int env_proxies(weft_session_t *s) {
    /* Upper-case HTTP_PROXY is ignored (httpoxy: a CGI program finds a
     * request's Proxy header there), as curl does. */
    const char *hp = getenv("http_proxy");
    const char *sp = getenv("https_proxy");
    if (!sp || !*sp)
        sp = getenv("HTTPS_PROXY");
    const char *np = getenv("no_proxy");
    if (!np || !*np)
        np = getenv("NO_PROXY");
    if (hp && *hp && weft__hc_proxy_parse(&s->proxy[0], hp) < 0)
        weft__log(WEFT_LOG_WARN, "weft_session_new: ignoring http_proxy '%s'",
                  hp);
    if (sp && *sp && weft__hc_proxy_parse(&s->proxy[1], sp) < 0)
        weft__log(WEFT_LOG_WARN, "weft_session_new: ignoring https_proxy '%s'",
                  sp);
    if (np && *np && !(s->no_proxy = weft__hc_strdup(np)))
        return -ENOMEM;
    return 0;
}

int weft_session_new(weft_session_t **out, const weft_session_opts_t *o) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    weft_loop_t *loop = weft_loop_current();
    if (!loop) {
        WEFT__MISUSE("weft_session_new", "no loop running on this thread");
        return -EPERM;
    }
    weft_session_t *s = weft__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    weft__list_init(&s->hosts);
    weft__list_init(&s->idle_lru);
    weft__list_init(&s->waiters);
    weft__list_init(&s->dns);
    weft_session_opts_t d = {0};
    if (!o)
        o = &d;
    s->flags = o->flags;
    if (check_timeouts(&o->timeout) || isnan(o->keepalive_timeout) ||
        isnan(o->dns_cache_ttl))
        return session_bad(s, "negative or NaN timeout");
    s->timeout = o->timeout;
    if (!s->timeout.total)
        s->timeout.total = DEFAULT_TOTAL;
    if (!s->timeout.sock_connect)
        s->timeout.sock_connect = DEFAULT_SOCK_CONNECT;
    s->limit = o->limit ? o->limit : DEFAULT_LIMIT;
    s->limit_per_host = o->limit_per_host;
    s->keepalive = o->keepalive_timeout ? o->keepalive_timeout
                                        : DEFAULT_KEEPALIVE;
    s->max_redirects = o->max_redirects ? o->max_redirects : DEFAULT_REDIRECTS;
    s->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    s->max_decompressed = o->max_decompressed ? o->max_decompressed
                                              : DEFAULT_MAX_DECOMPRESSED;
    s->dns_ttl = o->dns_cache_ttl ? o->dns_cache_ttl : DEFAULT_DNS_TTL;
    int err = 0;
    if (o->base_url) {
        s->base_url = weft__hc_strdup(o->base_url);
        if (!s->base_url)
            err = -ENOMEM;
        else if (weft_url_parse(&s->base, s->base_url,
                                strlen(s->base_url)) < 0 ||
                 (!weft__hc_span_eq(s->base.scheme, "http") &&
                  !weft__hc_span_eq(s->base.scheme, "https")))
            return session_bad(s, "base_url is not an http or https URL");
    }
    if (!err && (err = copy_headers(s, o->headers)) == -EINVAL)
        return session_bad(s, "bad header");
    if (!err) {
        char ua[32];
        snprintf(ua, sizeof ua, "weft/%s", weft_version());
        const char *u = o->user_agent ? o->user_agent : ua;
        if (!valid_value(u))
            return session_bad(s, "bad user_agent");
        if (*u && !(s->user_agent = weft__hc_strdup(u)))
            err = -ENOMEM;
    }
    if (!err && o->unix_socket &&
        !(s->unix_socket = weft__hc_strdup(o->unix_socket)))
        err = -ENOMEM;
    if (!err && o->proxy) {
        int e = weft__hc_proxy_parse(&s->proxy[0], o->proxy);
        if (e == -EINVAL)
            return session_bad(s, "proxy is not an http://host:port URL");
        if (!e)
            e = weft__hc_proxy_parse(&s->proxy[1], o->proxy);
        err = e;
    } else if (!err && (s->flags & WEFT_SESSION_TRUST_ENV)) {
        err = env_proxies(s);
    }
    if (!err && o->tls) {
        s->tls = o->tls;
    } else if (!err && o->ca_file) {
        /* Made at the first https connection (loading the trust store is
         * not free); a missing file is reported now. */
        struct stat st;
        if (stat(o->ca_file, &st) < 0)
            err = -errno;
        else if (!(s->ca_file = weft__hc_strdup(o->ca_file)))
            err = -ENOMEM;
    }
    if (!err && !(s->flags & WEFT_SESSION_NO_COOKIES)) {
        if (o->cookie_jar) {
            s->jar = o->cookie_jar;
        } else {
            err = weft_cookie_jar_new(&s->jar);
            s->own_jar = !err;
        }
    }
    if (err) {
        weft__hc_session_free(s);
        return err;
    }
    *out = s;
    return 0;
}

int weft__hc_tls_ctx(weft_session_t *s) {
    if (s->tls)
        return 0;
    weft_tls_opts_t to = {.ca_file = s->ca_file, .alpn = "http/1.1"};
    if (s->flags & WEFT_SESSION_INSECURE)
        to.flags |= WEFT_TLS_NO_VERIFY;
    int err = weft_tls_client_ctx(&s->tls, &to);
    s->own_tls = !err;
    return err;
}

int weft_session_close(weft_session_t *s) {
    if (!s)
        return 0;
    if (weft__loop_check(s->loop, "weft_session_close"))
        return -EPERM;
    if (s->closed) {
        WEFT__MISUSE("weft_session_close", "closed twice");
        return -EINVAL;
    }
    if (s->busy) {
        WEFT__MISUSE("weft_session_close", "a task is inside a request of "
                                           "this session");
        return -EBUSY;
    }
    s->closed = true;
    weft__hc_pool_close(s);
    if (s->outstanding == 0)
        weft__hc_session_free(s);
    return 0;
}

int weft_session_middleware(weft_session_t *s, weft_client_middleware_fn fn,
                            void *arg) {
    if (!s || !fn)
        return -EINVAL;
    weft_client_middleware_t *m =
        weft__realloc(s->mws, (s->nmws + 1) * sizeof *m);
    if (!m)
        return -ENOMEM;
    m[s->nmws++] = (weft_client_middleware_t){fn, arg};
    s->mws = m;
    return 0;
}

int weft_session_trace(weft_session_t *s, weft_client_trace_fn fn, void *arg) {
    if (!s || !fn)
        return -EINVAL;
    struct weft__hc_hook *t =
        weft__realloc(s->traces, (s->ntraces + 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    t[s->ntraces++] = (struct weft__hc_hook){.trace = fn, .arg = arg};
    s->traces = t;
    return 0;
}

weft_cookie_jar_t *weft_session_cookie_jar(weft_session_t *s) {
    return s ? s->jar : NULL;
}

void weft_session_stats(const weft_session_t *s, weft_session_stats_t *out) {
    if (!s || !out)
        return;
    *out = s->stats;
    out->open = s->open;
    out->idle = s->idle;
}
