/* Internal: the HTTP client (weft/client.h). client.c runs a request
 * (middlewares, redirects, the timeouts, the messages), client_pool.c keeps
 * the connections (limits, keep-alive, DNS cache, connecting, TLS,
 * proxies), client_send.c writes requests and their bodies,
 * client_resp.c reads responses (head, body, decompression), cookiejar.c
 * is the jar, client_retry.c the retry middleware. */
#ifndef WEFT_CLIENT_INT_H
#define WEFT_CLIENT_INT_H

#include <netdb.h>
#include <zlib.h>

#include "../net/net_int.h"
#include "weft/client.h"
#include "weft/httpmsg.h"

/* ---- connections and the pool ------------------------------------------------ */

struct weft__hc_host;

struct weft__hc_conn {
    weft_stream_t *s;
    struct weft__hc_host *host;
    struct weft__list link; /* host->idle while idle */
    struct weft__list lru;  /* session->idle_lru while idle */
    double idle_since;
    uint64_t requests; /* requests sent on it */
    struct sockaddr_storage peer;
    socklen_t peerlen;
};

/* The connections to one origin as the pool keys them. */
struct weft__hc_host {
    struct weft__list link; /* session->hosts */
    struct weft__list idle; /* most recently used first */
    size_t open;            /* busy, idle and being opened */
    size_t waiting;         /* requests in acquire's wait for it */
    bool https;
    bool proxied;           /* reached through s->proxy[https] */
    uint16_t port;
    weft_tls_ctx_t *tls;
    char name[]; /* the host, as net.h takes it (lower case, no brackets) */
};

/* A request waiting for the pool's limits. */
struct weft__hc_waiter {
    struct weft__wait w;
    struct weft__list link;
    struct weft__hc_host *host;
    struct weft__hc_conn *conn; /* handed over: an idle connection */
    bool slot;                  /* or the right to open one */
};

struct weft__hc_dns {
    struct weft__list link;
    struct addrinfo *ai;
    double expires;
    unsigned refs; /* connects using ai, and the cache itself */
    bool cached;
    char key[]; /* "host\0port" */
};

struct weft__hc_proxy {
    char *host;      /* NULL: none */
    char port[8];
    char *auth;      /* "Basic ...", or NULL */
    char *authority; /* "host:port" as in the URL */
};

struct weft__hc_hook {
    weft_client_middleware_t mw;
    weft_client_trace_fn trace;
    void *arg;
};

struct weft_session {
    weft_loop_t *loop;
    unsigned flags;
    weft_client_timeout_t timeout;
    size_t limit, limit_per_host, max_body, max_decompressed;
    double keepalive, dns_ttl;
    int max_redirects;
    char *base_url;
    weft_url_t base;
    char **headers; /* name, value, ..., NULL: copies */
    char *user_agent; /* NULL: none */
    char *unix_socket;
    weft_tls_ctx_t *tls; /* NULL until the first https connection */
    bool own_tls;
    char *ca_file;
    struct weft__hc_proxy proxy[2]; /* [0] for http, [1] for https */
    char *no_proxy;
    weft_cookie_jar_t *jar;
    bool own_jar;
    weft_client_middleware_t *mws;
    size_t nmws;
    struct weft__hc_hook *traces;
    size_t ntraces;
    /* the pool */
    struct weft__list hosts;
    struct weft__list idle_lru; /* idle connections, most recent first */
    struct weft__list waiters;
    size_t open, idle;
    weft_handle_t reaper;
    bool reaper_armed;
    struct weft__list dns;
    /* recycled responses */
    weft_client_response_t *free_resps;
    size_t nfree;
    /* scratch for the request head (built and written without waiting) */
    char *wbuf;
    size_t wcap;
    size_t busy;        /* tasks inside calls */
    size_t outstanding; /* responses not released */
    bool closed;
    weft_session_stats_t stats;
};

/* Pool calls, from the requesting task. */
struct weft__hc_req;
int weft__hc_acquire(struct weft__hc_req *rq, struct weft__hc_conn **out,
                     bool *reused);
/* The response is done with its connection: keep it for another request,
 * close it in order (its messages ended), or reset it (cut in the middle
 * of one). */
enum { WEFT__HC_KEEP, WEFT__HC_CLOSE, WEFT__HC_ABORT };
void weft__hc_put(weft_session_t *s, struct weft__hc_conn *c, int how);
/* The session's TLS context, made at the first https connection. */
int weft__hc_tls_ctx(weft_session_t *s);
/* Close all connections (session close). */
void weft__hc_pool_close(weft_session_t *s);
void weft__hc_dns_free_all(weft_session_t *s);
/* The proxy for a URL (NULL: direct). */
const struct weft__hc_proxy *weft__hc_proxy_for(weft_session_t *s,
                                                bool https,
                                                const char *host);
int weft__hc_proxy_parse(struct weft__hc_proxy *p, const char *url);
void weft__hc_proxy_free(struct weft__hc_proxy *p);

/* ---- a request ---------------------------------------------------------------- */

struct weft__hc_hdr {
    const char *name, *value;
};

/* A timeout scope that knows which timeout it is. */
struct weft__hc_scope {
    weft_scope_t sc;
    bool on;
};

/* One request call: the state of its hops (weft_client_request_t is the
 * public face of it). Lives on the requesting task's stack. */
struct weft__hc_req {
    weft_session_t *s;
    const char *method;
    int method_id;
    bool idempotent;
    /* the URL of this hop: urlbuf, or a weft__malloc'd string */
    char *url;
    weft_url_t u;
    uint16_t port;
    bool https;
    /* headers: the session's and the caller's (borrowed), and those a
     * middleware set (copied: owned[]) */
    struct weft__hc_hdr *h;
    size_t nh, caph;
    char **owned;
    size_t nowned;
    const weft_client_body_t *body;
    bool drop_body;     /* a 303 (or 301/302 after POST) turned it to GET */
    char *auth;         /* "Basic ..." or NULL: owned */
    bool strip_auth;    /* redirected to another origin */
    bool strip_cookie;
    unsigned flags;
    const weft_client_middleware_t *mws;
    size_t nmws;
    weft_client_timeout_t to;
    double deadline; /* total: absolute loop time, or INFINITY */
    size_t max_body;
    int timeout_kind;  /* which of ours expired */
    const char *phase; /* what we were doing, for a timeout's message */
    void *trace_ctx;
    weft_client_request_t *pub;
    /* Buffers last: a request clears the members above only. */
    char msg[WEFT_CLIENT_ERRMSG_SIZE]; /* the detail of the failure */
    char host[256];     /* as net.h takes it */
    char hostport[270]; /* the Host header */
    char urlbuf[512];
    struct weft__hc_hdr hbuf[24];
};

struct weft_client_request {
    struct weft__hc_req *rq;
};

struct weft_client_next {
    const weft_client_middleware_t *mws;
    size_t n, i;
};

/* Record a failure's detail (printf-like) and return code. */
int weft__hc_fail(struct weft__hc_req *rq, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Timeouts: enter a scope of secs (if finite and positive) / at an
 * absolute deadline; exit records the kind in *kind when this scope cut a
 * wait (and no inner one was recorded) and returns r. */
int weft__hc_scope_enter(struct weft__hc_scope *t, double secs);
int weft__hc_scope_enter_at(struct weft__hc_scope *t, double deadline);
int weft__hc_scope_exit(struct weft__hc_scope *t, int r, int *kind,
                        int which);

#ifdef __clang_analyzer__
/* What these return, for the analyzer alone (WEFT__ANALYZER_ASSUME in
 * core/common.h): it reads client.c apart from their callers and does not
 * follow variadic calls. (The definitions spell the names in parentheses,
 * which these macros leave alone.) */
#define weft__hc_fail(rq, code, ...)                                           \
    __extension__({                                                            \
        int c_ = (code);                                                       \
        (void)(weft__hc_fail)(rq, c_, __VA_ARGS__);                            \
        c_;                                                                    \
    })
#define weft__hc_scope_enter(t, secs)                                          \
    __extension__({                                                            \
        int e_ = (weft__hc_scope_enter)(t, secs);                              \
        WEFT__ANALYZER_ASSUME(e_ <= 0);                                        \
        e_;                                                                    \
    })
#define weft__hc_scope_enter_at(t, deadline)                                   \
    __extension__({                                                            \
        int e_ = (weft__hc_scope_enter_at)(t, deadline);                       \
        WEFT__ANALYZER_ASSUME(e_ <= 0);                                        \
        e_;                                                                    \
    })
/* r itself, or another error when r was one. */
#define weft__hc_scope_exit(t, r, kind, which)                                 \
    __extension__({                                                            \
        int r_ = (r);                                                          \
        int x_ = (weft__hc_scope_exit)(t, r_, kind, which);                    \
        WEFT__ANALYZER_ASSUME(r_ < 0 ? x_ < 0 : x_ == r_);                     \
        x_;                                                                    \
    })
#endif

/* Trace an event (fills time, method, url, ctx from rq). */
void weft__hc_trace(struct weft__hc_req *rq, weft_client_trace_info_t *info);
static inline bool weft__hc_tracing(const weft_session_t *s) {
    return s->ntraces > 0;
}

/* Send the request (head and body) on c. */
int weft__hc_send(struct weft__hc_req *rq, struct weft__hc_conn *c);

/* ---- responses --------------------------------------------------------------------- */

enum {
    WEFT__HC_Z_NONE = 0,
    WEFT__HC_Z_AUTO,    /* gzip or zlib (inflate detects which) */
    WEFT__HC_Z_DEFLATE, /* zlib, raw deflate if that fails at once */
};

struct weft_client_response {
    weft_session_t *s; /* NULL once the session closed */
    weft_client_response_t *next_free;
    struct weft__hc_conn *conn; /* until the body is done */
    /* the head, copied out of the stream's buffer */
    char *headbuf;
    size_t headcap, headlen;
    weft_http_field_t *fields;
    size_t fieldcap;
    weft_http1_head_t head;
    weft_http1_body_t body;
    bool body_done;
    bool failed;      /* a read failed: the connection is gone */
    bool streamed;    /* read_chunk / read was used */
    bool have_all;    /* all[] holds the whole body */
    bool keep_alive;  /* the connection may serve another request */
    size_t consume;   /* bytes of the stream's buffer to drop next */
    /* the piece read_chunk returned, for weft_client_read */
    const char *cur;
    size_t curlen;
    /* decompression */
    int zmode;
    bool zinit, zend, zraw_tried;
    z_stream z;
    char *zbuf;
    size_t zcap;
    const char *zin; /* raw input not yet inflated (in the stream buffer) */
    size_t zinlen;
    uint64_t zout, max_decompressed;
    /* the whole body */
    char *all;
    size_t alllen, allcap;
    uint64_t raw; /* body bytes taken from the wire */
    /* request and redirects */
    char *method, *url;
    char *strs; /* method and url in one block */
    size_t strscap;
    weft_client_hop_t *hops;
    size_t nhops;
    double deadline, sock_read;
    int sock_read_kind;
    char errmsg[WEFT_CLIENT_ERRMSG_SIZE];
};

/* Read a response head on c for rq (1xx skipped); returns a response
 * (the caller's) or an error. *any says whether any byte arrived. */
int weft__hc_read_head(struct weft__hc_req *rq, struct weft__hc_conn *c,
                       weft_client_response_t **out, bool *any);
/* Read and drop the body of a redirect (or close the connection if it is
 * large). */
void weft__hc_discard(weft_client_response_t *r);
/* The body read whole with a limit (the public function's core). */
ssize_t weft__hc_body(weft_client_response_t *r, const void **data,
                      size_t max);
/* A fresh response object (recycled). */
weft_client_response_t *weft__hc_resp_new(weft_session_t *s);
/* Free it for good (session close of the free list). */
void weft__hc_resp_destroy(weft_client_response_t *r);
/* Set the method, url and hops (copied). */
int weft__hc_resp_set_request(weft_client_response_t *r, const char *method,
                              const char *url, const weft_client_hop_t *hops,
                              size_t nhops);

/* ---- cookies --------------------------------------------------------------------- */

/* Test hook: seconds added to the jar's clock. */
extern int64_t weft__cookie_clock_skew;

int weft__cookie_jar_update_url(weft_cookie_jar_t *jar, const weft_url_t *u,
                                const char *host, const char *set_cookie,
                                size_t len);
ssize_t weft__cookie_jar_header_url(weft_cookie_jar_t *jar,
                                    const weft_url_t *u, const char *host,
                                    char *buf, size_t cap);

/* Free a closed session (when its last response is released). */
void weft__hc_session_free(weft_session_t *s);

/* ---- small helpers --------------------------------------------------------------- */

char *weft__hc_strdup(const char *s);
char *weft__hc_strndup(const char *s, size_t n);
bool weft__hc_span_eq(weft_span_t a, const char *lit);
/* base64 of in (n bytes) into out (room for 4 * ((n + 2) / 3) + 1). */
size_t weft__hc_base64(char *out, const void *in, size_t n);

#endif
