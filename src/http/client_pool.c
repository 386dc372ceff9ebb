/* The client's connection pool: connections kept per origin (scheme, host,
 * port, TLS context, proxy), a limit on all connections and one per host,
 * requests that wait for a connection in FIFO order, idle connections
 * closed after keepalive_timeout, a small DNS cache, and opening new
 * connections: resolve, Happy Eyeballs, a proxy's CONNECT tunnel, TLS.
 *
 * The limit counts every open connection, idle ones included, as curl's
 * CURLMOPT_MAX_TOTAL_CONNECTIONS does (aiohttp counts only those in use, so
 * its sockets are not bounded): a request that needs a new connection at
 * the limit closes the least recently used idle connection of another
 * host, or waits. */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client_int.h"
#include "weft/dns.h"

/* ---- hosts -------------------------------------------------------------------- */

static struct weft__hc_host *host_find(weft_session_t *s,
                                       const struct weft__hc_req *rq,
                                       weft_tls_ctx_t *tls, bool proxied) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &s->hosts) {
        struct weft__hc_host *h =
            WEFT__CONTAINER_OF(pos, struct weft__hc_host, link);
        if (h->port == rq->port && h->https == rq->https && h->tls == tls &&
            h->proxied == proxied && strcmp(h->name, rq->host) == 0) {
            /* Move to the front: the hosts in use stay cheap to find. */
            if (s->hosts.next != pos) {
                weft__list_remove(pos);
                weft__list_push_back(s->hosts.next, pos);
            }
            return h;
        }
    }
    size_t n = strlen(rq->host);
    struct weft__hc_host *h = weft__calloc(1, sizeof *h + n + 1);
    if (!h)
        return NULL;
    weft__list_init(&h->idle);
    h->https = rq->https;
    h->proxied = proxied;
    h->port = rq->port;
    h->tls = tls;
    memcpy(h->name, rq->host, n + 1);
    weft__list_push_back(s->hosts.next, &h->link);
    return h;
}

/* A host with no connection left is forgotten (a crawler meets many),
 * unless a request is still in acquire's wait for it: counted there, not
 * looked up among the waiters, since a cancel unlinks a waiter at once
 * while its task runs later (and then still uses the host). */
static void host_maybe_free(struct weft__hc_host *h) {
    if (h->open || h->waiting || !weft__list_empty(&h->idle))
        return;
    weft__list_remove(&h->link);
    weft__free(h);
}

/* ---- closing ------------------------------------------------------------------- */

static void conn_unidle(weft_session_t *s, struct weft__hc_conn *c) {
    weft__list_remove(&c->link);
    weft__list_remove(&c->lru);
    s->idle--;
}

/* Close a connection that is not idle (any more): its slot is free. An
 * orderly close (a FIN; close_notify first on TLS, sent if the socket
 * takes it at once: nothing waits) for connections whose messages ended;
 * a reset (weft_stream_abort) for those cut in the middle of one. */
static void conn_close_how(weft_session_t *s, struct weft__hc_conn *c,
                           bool orderly) {
    struct weft__hc_host *h = c->host;
    weft_stream_t *st = c->s;
    if (st && orderly && !(st->flags & WEFT__STREAM_CLOSED)) {
        if (st->tls && !(st->flags & WEFT__STREAM_WSHUT) && !st->werr)
            weft__tls_close_notify(st);
        weft__stream_close_now(st);
    } else if (st) {
        weft_stream_abort(st);
    }
    weft__free(c);
    h->open--;
    s->open--;
    host_maybe_free(h);
}

static void conn_close(weft_session_t *s, struct weft__hc_conn *c) {
    conn_close_how(s, c, true);
}

static void grant(weft_session_t *s);

/* ---- idle connections ------------------------------------------------------------ */

/* Whether an idle connection can still carry a request: the server has not
 * closed it, and sent nothing (an HTTP server says nothing unasked; a
 * plain connection that has bytes waiting is broken). A TLS connection
 * may have records waiting that are no response (a TLS 1.3 session
 * ticket): only a hang-up condemns it. Where input is not watched
 * (io_uring: WEFT__IO_NOIN) no edge says bytes came: look. */
static bool conn_alive(struct weft__hc_conn *c) {
    weft_stream_t *st = c->s;
    if (st->flags & (WEFT__STREAM_EOF | WEFT__STREAM_CLOSED) || st->rerr ||
        st->werr || weft_stream_buffered(st) > 0 ||
        weft__uring_ms_pending(st->loop, &st->io))
        return false;
    uint32_t ready = st->io.ready;
    if (ready & (WEFT__IO_RDHUP | WEFT__IO_HUP | WEFT__IO_ERR))
        return false;
    if (!(ready & (WEFT__IO_IN | WEFT__IO_NOIN)) || st->tls)
        return true;
    char b;
    ssize_t n = recv(st->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void reap(void *arg);

static void reaper_arm(weft_session_t *s, double delay) {
    if (s->reaper_armed || s->keepalive <= 0)
        return;
    if (weft_call_later(s->loop, delay, reap, s, &s->reaper) == 0)
        s->reaper_armed = true;
}

/* The keep-alive timer: close idle connections past keepalive_timeout
 * (a plain callback: closing does not wait). */
static void reap(void *arg) {
    weft_session_t *s = arg;
    s->reaper_armed = false;
    double now = weft_loop_time(s->loop);
    struct weft__list *pos, *tmp;
    double next = INFINITY;
    /* idle_lru is most recent first: walk from the oldest. */
    for (pos = s->idle_lru.prev; pos != &s->idle_lru; pos = tmp) {
        tmp = pos->prev;
        struct weft__hc_conn *c =
            WEFT__CONTAINER_OF(pos, struct weft__hc_conn, lru);
        if (c->idle_since + s->keepalive <= now) {
            conn_unidle(s, c);
            conn_close(s, c);
        } else {
            next = c->idle_since + s->keepalive - now;
            break;
        }
    }
    (void)tmp;
    if (next != INFINITY)
        reaper_arm(s, next);
    grant(s);
}

/* Make c idle in its host's list (most recent first). */
static void conn_idle(weft_session_t *s, struct weft__hc_conn *c) {
    c->idle_since = weft_loop_time(s->loop);
    weft__list_push_back(c->host->idle.next, &c->link);
    weft__list_push_back(s->idle_lru.next, &c->lru);
    s->idle++;
    reaper_arm(s, s->keepalive);
}

/* Close the least recently used idle connection of a host other than h
 * (to make room under the total limit). */
static bool evict_idle(weft_session_t *s, struct weft__hc_host *h) {
    for (struct weft__list *pos = s->idle_lru.prev; pos != &s->idle_lru;
         pos = pos->prev) {
        struct weft__hc_conn *c =
            WEFT__CONTAINER_OF(pos, struct weft__hc_conn, lru);
        if (c->host != h) {
            conn_unidle(s, c);
            conn_close(s, c);
            return true;
        }
    }
    return false;
}

/* Whether a new connection to h may be opened now (after closing an
 * idle one elsewhere, if the total limit needs it); counts it if so. */
static bool take_slot(weft_session_t *s, struct weft__hc_host *h) {
    if (s->limit_per_host && h->open >= s->limit_per_host)
        return false;
    if (s->open >= s->limit && !evict_idle(s, h))
        return false;
    h->open++;
    s->open++;
    return true;
}

/* A live idle connection of h, or NULL (dead ones are closed on the way). */
static struct weft__hc_conn *take_idle(weft_session_t *s,
                                       struct weft__hc_host *h) {
    struct weft__list *n;
    struct weft__hc_conn *found = NULL;
    /* The caller holds h: closing its last (dead) connection must not
     * free it under us (host_maybe_free). */
    h->open++;
    while ((n = h->idle.next) != &h->idle) {
        struct weft__hc_conn *c =
            WEFT__CONTAINER_OF(n, struct weft__hc_conn, link);
        conn_unidle(s, c);
        if (c->idle_since + s->keepalive > weft_loop_time(s->loop) &&
            conn_alive(c)) {
            found = c;
            break;
        }
        conn_close(s, c);
    }
    h->open--;
    return found;
}

/* Serve the waiters in arrival order with what is free: an idle
 * connection of their host, else a slot to open one. A waiter that can
 * be served neither way (its host is at its limit) lets later ones by. */
static void grant(weft_session_t *s) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &s->waiters) {
        struct weft__hc_waiter *w =
            WEFT__CONTAINER_OF(pos, struct weft__hc_waiter, link);
        struct weft__hc_conn *c = take_idle(s, w->host);
        if (c)
            w->conn = c;
        else if (take_slot(s, w->host))
            w->slot = true;
        else if (s->open >= s->limit && s->idle == 0)
            return; /* nobody else can be served either */
        else
            continue;
        weft__list_remove(&w->link);
        weft__task_wake(w->w.task, 0);
    }
}

static int waiter_abort(struct weft__wait *w) {
    struct weft__hc_waiter *hw =
        WEFT__CONTAINER_OF(w, struct weft__hc_waiter, w);
    weft__list_remove(&hw->link);
    return 0;
}

/* ---- DNS ------------------------------------------------------------------------- */

static bool numeric_host(const char *host) {
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || strchr(host, ':') != NULL;
}

static void dns_unref(struct weft__hc_dns *d) {
    if (--d->refs == 0) {
        weft__addrinfo_free(d->ai);
        weft__free(d);
    }
}

static void dns_uncache(struct weft__hc_dns *d) {
    weft__list_remove(&d->link);
    d->cached = false;
    dns_unref(d);
}

void weft__hc_dns_free_all(weft_session_t *s) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &s->dns) {
        dns_uncache(WEFT__CONTAINER_OF(pos, struct weft__hc_dns, link));
    }
}

/* The addresses of host:port, from the cache or resolved (and cached).
 * Returns a referenced entry (dns_unref it). */
static int resolve(struct weft__hc_req *rq, const char *host,
                   const char *port, struct weft__hc_dns **out) {
    weft_session_t *s = rq->s;
    size_t hn = strlen(host), pn = strlen(port);
    bool numeric = numeric_host(host);
    double now = weft_loop_time(s->loop);
    if (!numeric && s->dns_ttl > 0) {
        struct weft__list *pos, *tmp;
        weft__list_foreach_safe(pos, tmp, &s->dns) {
            struct weft__hc_dns *d =
                WEFT__CONTAINER_OF(pos, struct weft__hc_dns, link);
            if (d->expires <= now) {
                dns_uncache(d);
                continue;
            }
            if (strcmp(d->key, host) == 0 && strcmp(d->key + hn + 1, port) == 0) {
                d->refs++;
                *out = d;
                if (weft__hc_tracing(s)) {
                    weft_client_trace_info_t ti = {
                        .event = WEFT_CLIENT_TRACE_DNS_START, .host = host};
                    weft__hc_trace(rq, &ti);
                    ti.event = WEFT_CLIENT_TRACE_DNS_END;
                    ti.cache_hit = true;
                    weft__hc_trace(rq, &ti);
                }
                return 0;
            }
        }
    }
    weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_DNS_START,
                                   .host = host};
    if (!numeric && weft__hc_tracing(s))
        weft__hc_trace(rq, &ti);
    struct addrinfo *ai = NULL;
    double t0 = weft_loop_time(s->loop);
    rq->phase = "resolving the host";
    int err = weft__resolve(host, port, AF_UNSPEC, SOCK_STREAM, false, &ai);
    if (!numeric && weft__hc_tracing(s)) {
        weft_loop_update_time(s->loop);
        ti.event = WEFT_CLIENT_TRACE_DNS_END;
        ti.error = err;
        ti.elapsed = weft_loop_time(s->loop) - t0;
        weft__hc_trace(rq, &ti);
    }
    if (err) {
        if (err == -ETIMEDOUT || err == -ECANCELED)
            return err;
        char m[WEFT_DNS_ERRMSG_SIZE];
        return weft__hc_fail(rq, err, "%s",
                             weft_dns_strerror(err, host, m, sizeof m));
    }
    struct weft__hc_dns *d = weft__calloc(1, sizeof *d + hn + pn + 2);
    if (!d) {
        weft__addrinfo_free(ai);
        return -ENOMEM;
    }
    d->ai = ai;
    d->refs = 1;
    memcpy(d->key, host, hn + 1);
    memcpy(d->key + hn + 1, port, pn + 1);
    if (!numeric && s->dns_ttl > 0) {
        d->expires = weft_loop_time(s->loop) + s->dns_ttl;
        d->cached = true;
        d->refs++;
        weft__list_push_back(&s->dns, &d->link);
    }
    *out = d;
    return 0;
}

/* ---- proxies ----------------------------------------------------------------------- */

void weft__hc_proxy_free(struct weft__hc_proxy *p) {
    weft__free(p->host);
    weft__free(p->auth);
    weft__free(p->authority);
    memset(p, 0, sizeof *p);
}

/* "http://[user:pass@]host[:port]" (a bare "host:port" is taken as http,
 * as curl does). */
int weft__hc_proxy_parse(struct weft__hc_proxy *p, const char *url) {
    memset(p, 0, sizeof *p);
    char buf[1024];
    if (!strstr(url, "://")) {
        if (snprintf(buf, sizeof buf, "http://%s", url) >= (int)sizeof buf)
            return -EINVAL;
        url = buf;
    }
    weft_url_t u;
    if (weft_url_parse(&u, url, strlen(url)) < 0 || !u.host.ptr ||
        !weft__hc_span_eq(u.scheme, "http"))
        return -EINVAL;
    char host[256];
    if (weft_url_host(&u, host, sizeof host) < 0)
        return -EINVAL;
    unsigned short port = (unsigned short)(u.port_num >= 0 ? u.port_num : 80);
    snprintf(p->port, sizeof p->port, "%hu", port);
    p->host = weft__hc_strdup(host);
    char auth[300];
    snprintf(auth, sizeof auth, "%s%s%s:%hu", u.flags & WEFT_URL_IPV6 ? "[" : "",
             host, u.flags & WEFT_URL_IPV6 ? "]" : "", port);
    p->authority = weft__hc_strdup(auth);
    if (!p->host || !p->authority) {
        weft__hc_proxy_free(p);
        return -ENOMEM;
    }
    if (u.userinfo.ptr && u.userinfo.len) {
        char plain[512];
        ssize_t n = weft_pct_decode(plain, sizeof plain, u.userinfo.ptr,
                                    u.userinfo.len, 0);
        if (n < 0) {
            weft__hc_proxy_free(p);
            return -EINVAL;
        }
        p->auth = weft__malloc(6 + 4 * ((size_t)n + 2) / 3 + 1);
        if (!p->auth) {
            weft__hc_proxy_free(p);
            return -ENOMEM;
        }
        memcpy(p->auth, "Basic ", 6);
        weft__hc_base64(p->auth + 6, plain, (size_t)n);
    }
    return 0;
}

/* no_proxy: a comma-separated list of host names (a name matches itself
 * and its subdomains; a leading '.' is ignored) or "*" for all, as curl. */
static bool no_proxy_match(const char *list, const char *host) {
    size_t hn = strlen(host);
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 1 && *p == '*')
            return true;
        if (n && *p == '.') {
            p++;
            n--;
        }
        if (n && n <= hn && strncasecmp(host + hn - n, p, n) == 0 &&
            (n == hn || host[hn - n - 1] == '.'))
            return true;
        p = e;
    }
    return false;
}

const struct weft__hc_proxy *weft__hc_proxy_for(weft_session_t *s,
                                                bool https,
                                                const char *host) {
    const struct weft__hc_proxy *p = &s->proxy[https];
    if (!p->host || s->unix_socket)
        return NULL;
    if (s->no_proxy && no_proxy_match(s->no_proxy, host))
        return NULL;
    return p;
}

/* CONNECT host:port through the proxy on st (RFC 9110 9.3.6): a 2xx
 * answer makes st a tunnel. */
static int proxy_connect(struct weft__hc_req *rq, weft_stream_t *st,
                         const struct weft__hc_proxy *p) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
                     rq->hostport, rq->hostport,
                     p->auth ? "Proxy-Authorization: " : "",
                     p->auth ? p->auth : "", p->auth ? "\r\n" : "");
    if (n < 0 || n >= (int)sizeof head)
        return weft__hc_fail(rq, -EINVAL, "proxy request too long");
    int err = weft_stream_write(st, head, (size_t)n);
    if (err)
        return weft__hc_fail(rq, err, "proxy %s: %s", p->authority,
                             weft_strerror(err));
    weft_http_field_t f[32];
    weft_http1_head_t h = {.fields = f, .max_fields = 32};
    size_t prev = 0;
    rq->phase = "waiting for the proxy's answer";
    for (;;) {
        const void *d;
        ssize_t got = weft_stream_wait_data(st, prev + 1, &d);
        if (got < 0)
            return weft__hc_fail(rq, (int)got, "proxy %s: %s", p->authority,
                                 weft_strerror((int)got));
        if ((size_t)got <= prev)
            return weft__hc_fail(rq, WEFT_ECLIENT_PROXY,
                                 "proxy %s closed the connection",
                                 p->authority);
        int r = weft_http1_parse_response(&h, (char *)d, (size_t)got, prev,
                                          WEFT_HTTP_CONNECT, NULL);
        if (r == -EAGAIN) {
            prev = (size_t)got;
            continue;
        }
        if (r < 0)
            return weft__hc_fail(rq, r, "proxy %s: bad answer: %s",
                                 p->authority, weft_strerror(r));
        if (h.status / 100 == 1) {
            weft_stream_consume(st, (size_t)r);
            prev = 0;
            continue;
        }
        if (h.status / 100 != 2)
            return weft__hc_fail(rq, WEFT_ECLIENT_PROXY,
                                 "proxy %s refused CONNECT to %s: %d %.*s",
                                 p->authority, rq->hostport, h.status,
                                 (int)h.reason.len, h.reason.ptr);
        weft_stream_consume(st, (size_t)r);
        return 0;
    }
}

/* ---- opening a connection ---------------------------------------------------- */

static void addr_text(const struct sockaddr *sa, char *buf, size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, cap, "?");
    }
}

/* TCP (or Unix) connect, the proxy's tunnel, TLS: within sock_connect. */
static int open_stream(struct weft__hc_req *rq, struct weft__hc_conn *c) {
    weft_session_t *s = rq->s;
    struct weft__hc_host *h = c->host;
    const struct weft__hc_proxy *p = h->proxied ? &s->proxy[h->https] : NULL;
    if (s->unix_socket) {
        rq->phase = "connecting";
        struct weft__hc_scope sc;
        int err = weft__hc_scope_enter(&sc, rq->to.sock_connect);
        if (!err)
            err = weft_open_unix_connection(&c->s, s->unix_socket, NULL);
        err = weft__hc_scope_exit(&sc, err, &rq->timeout_kind,
                                  WEFT_CLIENT_TIMEOUT_SOCK_CONNECT);
        if (err && err != -ETIMEDOUT && err != -ECANCELED)
            return weft__hc_fail(rq, err, "connect to %s failed: %s",
                                 s->unix_socket, weft_strerror(err));
        return err;
    }
    char portbuf[8];
    snprintf(portbuf, sizeof portbuf, "%u", h->port);
    struct weft__hc_dns *d;
    int err = p ? resolve(rq, p->host, p->port, &d)
                : resolve(rq, h->name, portbuf, &d);
    if (err)
        return err;
    rq->phase = "connecting";
    struct weft__hc_scope sc;
    err = weft__hc_scope_enter(&sc, rq->to.sock_connect);
    struct sockaddr_storage failed;
    socklen_t failed_len = 0;
    if (!err)
        err = weft__connect_addrs(d->ai, 0, NULL, &c->s, &failed,
                                  &failed_len);
    dns_unref(d);
    if (err && err != -ETIMEDOUT && err != -ECANCELED) {
        char a[64] = "?";
        if (failed_len)
            addr_text((struct sockaddr *)&failed, a, sizeof a);
        weft__hc_fail(rq, err, "connect to %s%s%s failed: %s", a,
                      p ? " (proxy " : "", p ? ")" : "", weft_strerror(err));
    }
    if (!err) {
        if (weft__hc_tracing(s)) { /* the address, for the trace only */
            c->peerlen = sizeof c->peer;
            weft_stream_peername(c->s, &c->peer, &c->peerlen);
        }
        if (p && h->https) {
            rq->phase = "waiting for the proxy's tunnel";
            err = proxy_connect(rq, c->s, p);
        }
    }
    if (!err && h->https && !h->tls) {
        err = weft__hc_tls_ctx(s);
        if (err)
            weft__hc_fail(rq, err, "cannot make the TLS context (CA file "
                                   "'%s'): %s",
                          s->ca_file ? s->ca_file : "the system's",
                          weft_strerror(err));
        h->tls = s->tls;
    }
    if (!err && h->https) {
        rq->phase = "in the TLS handshake";
        err = weft_tls_client(c->s, h->tls, rq->host);
        if (err && err != -ETIMEDOUT && err != -ECANCELED)
            weft__hc_fail(rq, err, "%s", *weft_tls_error(c->s)
                                             ? weft_tls_error(c->s)
                                             : weft_strerror(err));
    }
    return weft__hc_scope_exit(&sc, err, &rq->timeout_kind,
                               WEFT_CLIENT_TIMEOUT_SOCK_CONNECT);
}

static int conn_open(struct weft__hc_req *rq, struct weft__hc_host *h,
                     struct weft__hc_conn **out) {
    weft_session_t *s = rq->s;
    struct weft__hc_conn *c = weft__calloc(1, sizeof *c);
    if (!c) {
        h->open--;
        s->open--;
        return -ENOMEM;
    }
    c->host = h;
    weft__list_init(&c->link);
    weft__list_init(&c->lru);
    weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_CONN_CREATE_START,
                                   .host = h->name};
    double t0 = weft_loop_time(s->loop);
    if (weft__hc_tracing(s))
        weft__hc_trace(rq, &ti);
    int err = open_stream(rq, c);
    if (weft__hc_tracing(s)) {
        weft_loop_update_time(s->loop);
        ti.event = WEFT_CLIENT_TRACE_CONN_CREATE_END;
        ti.error = err;
        ti.elapsed = weft_loop_time(s->loop) - t0;
        if (!err) {
            ti.addr = (struct sockaddr *)&c->peer;
            ti.addrlen = c->peerlen;
        }
        weft__hc_trace(rq, &ti);
    }
    if (err) {
        conn_close(s, c);
        grant(s);
        return err;
    }
    /* Nothing can have arrived before the request is sent: the first
     * read waits for an edge instead of trying (and getting EAGAIN). */
    if (!c->s->tls && (c->s->flags & WEFT__STREAM_BYTES))
        c->s->flags |= WEFT__STREAM_DRAINED;
    s->stats.connections_created++;
    *out = c;
    return 0;
}

/* ---- acquiring and releasing -------------------------------------------------- */

static int acquire(struct weft__hc_req *rq, struct weft__hc_conn **out,
                   bool *reused) {
    weft_session_t *s = rq->s;
    const struct weft__hc_proxy *p = weft__hc_proxy_for(s, rq->https, rq->host);
    struct weft__hc_host *h = host_find(s, rq, rq->https ? s->tls : NULL, p);
    /* (before the session's TLS context is made, https hosts have NULL:
     * open_stream fills it in) */
    if (!h)
        return -ENOMEM;
    struct weft__hc_conn *c = NULL;
    if (weft__list_empty(&s->waiters)) {
        c = take_idle(s, h);
        if (!c && !take_slot(s, h)) {
            c = NULL;
            goto wait;
        }
        goto got;
    }
wait:;
    /* Wait in line (behind those already waiting, even if something is
     * free now: they were first). */
    struct weft__hc_waiter w = {.host = h};
    w.w.abort = waiter_abort;
    w.w.consumes = true; /* a connection handed over is never lost */
    weft__list_push_back(&s->waiters, &w.link);
    h->waiting++;
    grant(s);
    weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_CONN_QUEUED,
                                   .host = h->name};
    double t0 = weft_loop_time(s->loop);
    if (weft__hc_tracing(s) && weft__list_linked(&w.link))
        weft__hc_trace(rq, &ti);
    int err = 0;
    if (weft__list_linked(&w.link)) {
        rq->phase = "waiting for a connection from the pool";
        err = weft__park(&w.w);
        if (weft__list_linked(&w.link))
            weft__list_remove(&w.link);
        if (weft__hc_tracing(s)) {
            weft_loop_update_time(s->loop);
            ti.event = WEFT_CLIENT_TRACE_CONN_DEQUEUED;
            ti.elapsed = weft_loop_time(s->loop) - t0;
            weft__hc_trace(rq, &ti);
        }
    }
    h->waiting--;
    if (err && !w.conn && !w.slot) {
        host_maybe_free(h);
        return err;
    }
    c = w.conn;
got:
    if (c) {
        *reused = true;
        s->stats.connections_reused++;
        if (weft__hc_tracing(s)) {
            if (!c->peerlen) {
                c->peerlen = sizeof c->peer;
                weft_stream_peername(c->s, &c->peer, &c->peerlen);
            }
            weft_client_trace_info_t tr = {
                .event = WEFT_CLIENT_TRACE_CONN_REUSED, .host = h->name,
                .addr = (struct sockaddr *)&c->peer, .addrlen = c->peerlen};
            weft__hc_trace(rq, &tr);
        }
        *out = c;
        return 0;
    }
    *reused = false;
    return conn_open(rq, h, out);
}

int weft__hc_acquire(struct weft__hc_req *rq, struct weft__hc_conn **out,
                     bool *reused) {
    *out = NULL;
    struct weft__hc_scope sc;
    int err = weft__hc_scope_enter(&sc, rq->to.connect);
    if (!err)
        err = acquire(rq, out, reused);
    err = weft__hc_scope_exit(&sc, err, &rq->timeout_kind,
                              WEFT_CLIENT_TIMEOUT_CONNECT);
    if (err && *out == NULL)
        return err;
    if (err) { /* a deadline cut something after we got it: give it back */
        weft__hc_put(rq->s, *out, WEFT__HC_ABORT);
        *out = NULL;
    }
    return err;
}

void weft__hc_put(weft_session_t *s, struct weft__hc_conn *c, int how) {
    if (how == WEFT__HC_KEEP && !s->closed && s->keepalive > 0)
        conn_idle(s, c);
    else
        conn_close_how(s, c, how != WEFT__HC_ABORT);
    grant(s);
}

void weft__hc_pool_close(weft_session_t *s) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &s->idle_lru) {
        struct weft__hc_conn *c =
            WEFT__CONTAINER_OF(pos, struct weft__hc_conn, lru);
        conn_unidle(s, c);
        conn_close(s, c);
    }
    if (s->reaper_armed)
        weft_handle_cancel(s->loop, s->reaper);
    s->reaper_armed = false;
}
