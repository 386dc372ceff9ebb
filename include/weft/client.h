/* weft/client.h - an HTTP/1.1 client in the style of aiohttp's
 * ClientSession: a session with a pool of keep-alive connections, requests
 * that read like blocking code in a task, redirects, timeouts, cookies,
 * decompression, TLS, proxies, middlewares and tracing.
 *
 *   aiohttp                                   weft/client.h
 *   s = ClientSession(base_url=.., ...)       weft_session_new(&s, &opts)
 *   await s.close()                           weft_session_close(s)
 *   async with s.get(url) as r:               weft_session_get(s, url, NULL, &r) ...
 *                                             weft_client_release(r)
 *   s.request("PATCH", url, ...)              weft_session_request(s, "PATCH", url, &o, &r)
 *   s.post / put / patch / delete / head / options
 *                                             weft_session_post(s, url, &o, &r) ...
 *   params={"q": "x"}                         o.params = (const char *[]){"q", "x", NULL}
 *   headers={"Accept": "text/html"}           o.headers = (const char *[]){"Accept", "text/html", NULL}
 *   data=b"..."                               o.body = &(weft_client_body_t)WEFT_CLIENT_BYTES(p, n, type)
 *   data={"a": "1"} (urlencoded form)         o.body = &(weft_client_body_t)WEFT_CLIENT_FORM(pairs)
 *   data=FormData() (multipart, files)        o.body = &(weft_client_body_t)WEFT_CLIENT_MULTIPART(parts, n)
 *   data=open("f", "rb")                      o.body = &(weft_client_body_t)WEFT_CLIENT_FILE(fd, 0, -1, type)
 *   data=async_generator() (chunked)          o.body = &(weft_client_body_t)WEFT_CLIENT_STREAM(fn, arg, -1, type)
 *   json=obj                                  weft_session_request_json(s, "POST", url, obj, &o, &r)  (weft/json.h)
 *   auth=BasicAuth("u", "p")                  o.auth = "u:p"
 *   allow_redirects=False                     o.flags = WEFT_CLIENT_NO_REDIRECTS
 *   raise_for_status=True                     WEFT_CLIENT_RAISE_FOR_STATUS / WEFT_SESSION_RAISE_FOR_STATUS
 *   ClientTimeout(total=, connect=,           weft_client_timeout_t {.total, .connect,
 *     sock_connect=, sock_read=)                .sock_connect, .sock_read}
 *   TCPConnector(limit=, limit_per_host=,     weft_session_opts_t .limit, .limit_per_host,
 *     keepalive_timeout=, ttl_dns_cache=)       .keepalive_timeout, .dns_cache_ttl
 *   UnixConnector(path=)                      weft_session_opts_t .unix_socket
 *   ssl=False / ssl=ctx / cafile              WEFT_SESSION_INSECURE / .tls / .ca_file
 *   trust_env=True (http_proxy ...)           WEFT_SESSION_TRUST_ENV; proxy=url: .proxy
 *   r.status, r.reason, r.headers[..]         weft_client_status(r), weft_client_reason(r),
 *                                             weft_client_header(r, "Content-Type", &v)
 *   await r.read() / r.text()                 weft_client_body(r, &data, max)
 *   await r.json()                            weft_client_json(r, &obj, max)  (weft/json.h)
 *   await r.content.read(n)                   weft_client_read(r, buf, n)
 *   async for c in r.content.iter_any()       weft_client_read_chunk(r, &data)
 *   r.raise_for_status()                      weft_client_raise_for_status(r)
 *   r.url, r.history                          weft_client_url(r), weft_client_history(r, &n)
 *   r.release()                               weft_client_release(r)
 *   s.cookie_jar                              weft_session_cookie_jar(s), weft_cookie_jar_*
 *   ClientSession(middlewares=(mw,))          weft_session_middleware(s, fn, arg)
 *   async def mw(req, handler):               int mw(weft_client_request_t *req,
 *       return await handler(req)                    weft_client_next_t *next, void *arg,
 *                                                    weft_client_response_t **resp)
 *                                             { return weft_client_next(req, next, resp); }
 *   TraceConfig().on_request_start ...        weft_session_trace(s, fn, arg)
 *   exceptions (ClientConnectorError ...)     a negative code + weft_client_error_t's one line
 *
 *     weft_session_t *s;
 *     weft_session_new(&s, NULL);
 *     weft_client_response_t *r;
 *     weft_client_error_t e;
 *     int err = weft_session_get(s, "http://example.org/",
 *                                &(weft_client_req_opts_t){.error = &e}, &r);
 *     if (err < 0) {
 *         fprintf(stderr, "%s\n", e.msg);   // "GET http://example.org/:
 *         ...                               //  dns: no such host 'example.org' (NXDOMAIN)"
 *     }
 *     const void *body;
 *     ssize_t n = weft_client_body(r, &body, 0);
 *     ...
 *     weft_client_release(r);
 *     weft_session_close(s);
 *
 * Tasks. Every call that waits is made from a task of the loop the session
 * belongs to (the loop of the thread that made it), and returns -ECANCELED
 * when the task is cancelled, -ETIMEDOUT when a timeout of the request or
 * a deadline scope of the caller expires: a scope around a request bounds
 * it like any other wait. Many tasks may use one session at once; that is
 * what it is for (a request each, sharing the pool).
 *
 * Errors. A request returns 0 or a negative code: an errno (-ECONNREFUSED,
 * -ETIMEDOUT, -ECONNRESET ...), a resolver code (WEFT_EAI_*, weft/dns.h), a
 * TLS code (WEFT_ETLS_*, weft/tls.h), a broken response (WEFT_EHTTP_*,
 * weft/http1.h: the rule the server broke; WEFT_EHTTP_TRUNCATED for a body
 * cut short), one of the client's own (WEFT_ECLIENT_*, weft/core.h), or
 * WEFT_CLIENT_HTTP(status) for an error status when raise_for_status is
 * on. A code cannot say which host, address or timeout: pass a
 * weft_client_error_t in the options and it gets one line that does:
 *   "GET http://localhost:1/: connect to 127.0.0.1:1 failed: Connection refused"
 *   "GET https://self-signed.test/: TLS handshake with self-signed.test failed:
 *    self-signed certificate"
 *   "GET http://127.0.0.1:8080/slow: timeout: sock_read (0.5 s) waiting for the response head"
 *   "GET http://127.0.0.1:8080/loop: too many redirects (10)"
 * Failures of a body read later on are described by weft_client_errmsg(r).
 * Every failure is also logged at WEFT_LOG_DEBUG with that line. There is
 * no per-thread "last error": tasks interleave on a thread.
 *
 * Memory. Sessions, responses and cookie jars are the caller's, each freed
 * by its own call. Strings and spans a response hands out live as long as
 * the response. Requests copy nothing they do not need to: the options,
 * the URL, headers and body the caller passes must stay valid until the
 * request call returns (a streamed upload's reader is called during it).
 * In steady state (kept-alive connections, responses released) a request
 * allocates nothing: responses and their buffers are recycled.
 */
#ifndef WEFT_CLIENT_H
#define WEFT_CLIENT_H

#include <sys/types.h>

#include "http1.h"
#include "net.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_session weft_session_t;
typedef struct weft_client_response weft_client_response_t;
typedef struct weft_client_request weft_client_request_t;
typedef struct weft_client_next weft_client_next_t;
typedef struct weft_cookie_jar weft_cookie_jar_t;

/* ---- errors ---------------------------------------------------------------- */

/* The client's own codes are in WEFT_ERR_MAP (weft/core.h), -3300..-3399:
 *   WEFT_ECLIENT_REDIRECTS        more redirects than max_redirects
 *   WEFT_ECLIENT_BODY_TOO_LARGE   a body over the limit of weft_client_body
 *   WEFT_ECLIENT_DECOMPRESS       a gzip or deflate body that does not
 *                                 decompress
 *   WEFT_ECLIENT_DECOMPRESS_LIMIT a body that decompresses to more than
 *                                 max_decompressed (a "gzip bomb")
 *   WEFT_ECLIENT_BAD_URL          a URL that does not parse, or is not
 *                                 http / https with a host
 *   WEFT_ECLIENT_NO_RESPONSE      the server closed the connection before
 *                                 sending a byte of response
 *   WEFT_ECLIENT_PROXY            the proxy refused the CONNECT tunnel
 *   WEFT_ECLIENT_BAD_REDIRECT     a redirect without a usable Location
 *                                 (missing, malformed, another scheme)
 */

/* raise_for_status: a response with a status of 400 or more is returned as
 * the error WEFT_CLIENT_HTTP(status) (-4400..-4599, the encoding of
 * weft/web.h's WEFT_WEB_HTTP). */
#define WEFT_CLIENT_HTTP(status) (-4000 - (status))
#define WEFT_CLIENT_IS_HTTP(err) ((err) <= -4400 && (err) >= -4599)
#define WEFT_CLIENT_HTTP_STATUS(err) (-(err) - 4000)

/* Which timeout expired (weft_client_error_t.timeout). */
enum weft_client_timeout_kind {
    WEFT_CLIENT_TIMEOUT_NONE = 0, /* none of the request's: a caller's scope */
    WEFT_CLIENT_TIMEOUT_TOTAL,
    WEFT_CLIENT_TIMEOUT_CONNECT,
    WEFT_CLIENT_TIMEOUT_SOCK_CONNECT,
    WEFT_CLIENT_TIMEOUT_SOCK_READ,
};

/* Room for any message the client writes. */
#define WEFT_CLIENT_ERRMSG_SIZE 512

/* What went wrong with a request, for people: filled in by a request call
 * that fails (and cleared by one that succeeds) when the options point at
 * one. Caller storage. */
typedef struct weft_client_error {
    int code;    /* what the call returned */
    int status;  /* the response's status for WEFT_CLIENT_HTTP codes, else 0 */
    int timeout; /* for -ETIMEDOUT: which (enum weft_client_timeout_kind) */
    /* One line, no newline: "METHOD URL: what failed". */
    char msg[WEFT_CLIENT_ERRMSG_SIZE];
} weft_client_error_t;

/* ---- timeouts (aiohttp's ClientTimeout) ------------------------------------ */

/* Seconds. In weft_session_opts_t, 0 takes the default given; in a
 * request's options, 0 takes the session's value. INFINITY: none. Negative
 * or NaN: -EINVAL. Each is a deadline scope inside any the caller has. */
typedef struct weft_client_timeout {
    /* The whole request: connecting, sending, every redirect, the
     * response head, and reading the body (weft_client_read and friends
     * keep the deadline). Default: 300 s (aiohttp's). */
    double total;
    /* Getting a connection: waiting for a free one in the pool, and
     * opening a new one (DNS, TCP, proxy, TLS). Default: none. */
    double connect;
    /* Opening one new connection: the TCP connect (all Happy Eyeballs
     * attempts) and the TLS handshake, not DNS. Default: 30 s. */
    double sock_connect;
    /* The longest wait for the next bytes of the response (head or body).
     * Default: none. */
    double sock_read;
} weft_client_timeout_t;

/* ---- request bodies --------------------------------------------------------- */

enum weft_client_body_kind {
    WEFT_CLIENT_BODY_NONE = 0,
    WEFT_CLIENT_BODY_BYTES,     /* data, len */
    WEFT_CLIENT_BODY_FORM,      /* form: application/x-www-form-urlencoded */
    WEFT_CLIENT_BODY_MULTIPART, /* parts, nparts: multipart/form-data */
    WEFT_CLIENT_BODY_FILE,      /* fd, offset, length */
    WEFT_CLIENT_BODY_STREAM,    /* read, arg, length */
};

/* A part of a multipart/form-data body (RFC 7578): a form field, or a file
 * when filename is set. The content is data/len, or the file at path
 * (opened and read during the request; -ENOENT and such fail it). */
typedef struct weft_client_part {
    const char *name;         /* the field's name (required) */
    const char *filename;     /* NULL: a plain field */
    const char *content_type; /* NULL: none for a field, else
                                 application/octet-stream */
    const void *data;
    size_t len;
    const char *path; /* instead of data: a file's contents */
} weft_client_part_t;

/* The body a request sends. Fill it with one of the WEFT_CLIENT_* makers
 * below. Everything it points to is the caller's and must stay valid until
 * the request call returns. A body that can be sent again (every kind but
 * STREAM) follows 307 and 308 redirects and may be retried; a STREAM body
 * cannot: a 307 or 308 response to it is returned as it is. */
typedef struct weft_client_body {
    int kind;                 /* enum weft_client_body_kind */
    const char *content_type; /* NULL: the kind's (application/octet-stream,
                                 the form types; none for FILE / STREAM) */
    /* BYTES */
    const void *data;
    size_t len;
    /* FORM: name, value, name, value ..., NULL (encoded by the client) */
    const char *const *form;
    /* MULTIPART */
    const weft_client_part_t *parts;
    size_t nparts;
    /* FILE: length bytes of fd from offset (read with pread or sendfile:
     * fd's own offset is not moved; -1: to the end of the file). */
    int fd;
    off_t offset;
    /* FILE and STREAM: the length to send as Content-Length; STREAM: -1
     * sends it chunked (HTTP/1.1 servers only) */
    int64_t length;
    /* STREAM: called in the requesting task for the next bytes; may wait.
     * Returns the bytes put in buf (at most cap), 0 at the end, or a
     * negative errno, which fails the request with that code. */
    ssize_t (*read)(void *arg, void *buf, size_t cap);
    void *arg;
} weft_client_body_t;

#define WEFT_CLIENT_BYTES(data_, len_, type_)                                  \
    {.kind = WEFT_CLIENT_BODY_BYTES, .content_type = (type_),                   \
     .data = (data_), .len = (len_)}
/* (variadic so that a compound literal's commas pass:
 * WEFT_CLIENT_FORM((const char *[]){"a", "1", NULL})) */
#define WEFT_CLIENT_FORM(...)                                                  \
    {.kind = WEFT_CLIENT_BODY_FORM, .form = (__VA_ARGS__)}
#define WEFT_CLIENT_MULTIPART(parts_, n_)                                      \
    {.kind = WEFT_CLIENT_BODY_MULTIPART, .parts = (parts_), .nparts = (n_)}
#define WEFT_CLIENT_FILE(fd_, offset_, length_, type_)                         \
    {.kind = WEFT_CLIENT_BODY_FILE, .content_type = (type_), .fd = (fd_),      \
     .offset = (offset_), .length = (length_)}
#define WEFT_CLIENT_STREAM(read_, arg_, length_, type_)                        \
    {.kind = WEFT_CLIENT_BODY_STREAM, .content_type = (type_),                 \
     .read = (read_), .arg = (arg_), .length = (length_)}

/* ---- middlewares (aiohttp 3.12's client middlewares) ------------------------ */

/* A middleware gets each request on its way out (every redirect hop
 * separately, as aiohttp does) and the rest of the chain in `next`. It may
 * change the request (weft_client_req_set_header ...), call
 * weft_client_next (any number of times: a retry; release each response it
 * drops with weft_client_release), or answer itself without calling it.
 * It returns 0 with a response in *resp, or a negative code (and *resp
 * NULL). It runs in the requesting task and may wait (sleep between
 * retries, make a request of its own: with WEFT_CLIENT_NO_MIDDLEWARES, or
 * it would pass through itself again). */
typedef int (*weft_client_middleware_fn)(weft_client_request_t *req,
                                         weft_client_next_t *next, void *arg,
                                         weft_client_response_t **resp);

typedef struct weft_client_middleware {
    weft_client_middleware_fn fn;
    void *arg;
} weft_client_middleware_t;

/* Run the rest of the chain: the next middleware, or the request itself
 * (a connection from the pool, the request written, the response head
 * read). Returns 0 with the response in *resp (the caller's: return it,
 * or release it), or a negative code with *resp NULL. */
WEFT_EXPORT int weft_client_next(weft_client_request_t *req,
                                 weft_client_next_t *next,
                                 weft_client_response_t **resp);

/* The request as a middleware sees it. Strings are valid during the
 * middleware call. */
WEFT_EXPORT const char *weft_client_req_method(const weft_client_request_t *req);
WEFT_EXPORT const char *weft_client_req_url(const weft_client_request_t *req);
/* The value of the request's first header `name` (case-insensitive), or
 * NULL. Headers the client adds itself at sending time (Host, Cookie,
 * Content-Length, ...) are not among them. */
WEFT_EXPORT const char *weft_client_req_header(const weft_client_request_t *req,
                                               const char *name);
/* Replace every header `name` with one (copied), or remove them all.
 * Returns 0, -EINVAL (a name that is not a token, a value with CR, LF or
 * NUL), -ENOENT (remove: none), -ENOMEM. */
WEFT_EXPORT int weft_client_req_set_header(weft_client_request_t *req,
                                           const char *name,
                                           const char *value);
WEFT_EXPORT int weft_client_req_remove_header(weft_client_request_t *req,
                                              const char *name);
/* Whether the body can be sent again (not a STREAM body, or none). */
WEFT_EXPORT bool weft_client_req_replayable(const weft_client_request_t *req);
/* Whether the method is idempotent (RFC 9110 9.2.2: GET, HEAD, OPTIONS,
 * TRACE, PUT, DELETE). */
WEFT_EXPORT bool weft_client_req_idempotent(const weft_client_request_t *req);
/* The session, and the request's trace_ctx (weft_client_req_opts_t). */
WEFT_EXPORT weft_session_t *weft_client_req_session(const weft_client_request_t *req);
WEFT_EXPORT void *weft_client_req_ctx(const weft_client_request_t *req);

/* The retry middleware: retries a request whose response has a retryable
 * status (429, 500, 502, 503, 504 by default) or, with
 * WEFT_CLIENT_RETRY_ERRORS, that failed to connect or to get a response,
 * waiting between attempts: the response's Retry-After (seconds or an
 * HTTP-date, RFC 9110 10.2.3) when it has one, else an exponential
 * backoff. Only idempotent methods are retried unless
 * WEFT_CLIENT_RETRY_ANY_METHOD; never a body that cannot be sent again. */
enum {
    WEFT_CLIENT_RETRY_ERRORS = 1u << 0,     /* connection errors, timeouts
                                               of a single attempt (sock_*) */
    WEFT_CLIENT_RETRY_ANY_METHOD = 1u << 1, /* POST and PATCH too */
};

typedef struct weft_client_retry_opts {
    int attempts;       /* tries in all, the first included; 0: 3 */
    double backoff;     /* the first wait without Retry-After, doubled
                           after each; 0: 0.5 s */
    double max_delay;   /* the longest wait: a longer backoff is cut to
                           it, and a longer Retry-After is not waited for
                           (the response is returned); 0: 30 s */
    double jitter;      /* 0..1: each backoff is multiplied by a random
                           factor in [1 - jitter, 1]; 0: none */
    const int *statuses; /* the retryable statuses; NULL: the default set */
    size_t nstatuses;
    unsigned flags;     /* WEFT_CLIENT_RETRY_* */
} weft_client_retry_opts_t;

typedef struct weft_client_retry weft_client_retry_t;

/* Make a retry middleware (opts may be NULL; copied). The caller's: free
 * it with weft_client_retry_free once no session uses it. Install it with
 * weft_session_middleware(s, weft_client_retry, retry). Returns 0,
 * -EINVAL (negative or NaN times, jitter outside 0..1, attempts < 0),
 * -ENOMEM. Needs no loop. */
WEFT_EXPORT int weft_client_retry_new(weft_client_retry_t **out,
                                      const weft_client_retry_opts_t *opts);
WEFT_EXPORT void weft_client_retry_free(weft_client_retry_t *retry);
/* The middleware function; its arg is the weft_client_retry_t. */
WEFT_EXPORT int weft_client_retry(weft_client_request_t *req,
                                  weft_client_next_t *next, void *retry,
                                  weft_client_response_t **resp);
/* Retries made so far (attempts after the first), over all requests. */
WEFT_EXPORT uint64_t weft_client_retry_count(const weft_client_retry_t *retry);

/* ---- tracing (aiohttp's TraceConfig) ---------------------------------------- */

enum weft_client_trace_event {
    WEFT_CLIENT_TRACE_REQUEST_START = 1, /* a request call began */
    WEFT_CLIENT_TRACE_REQUEST_END,       /* it returned: status or error */
    WEFT_CLIENT_TRACE_REDIRECT,          /* a redirect is followed: status,
                                            url (the next hop's) */
    WEFT_CLIENT_TRACE_CONN_QUEUED,       /* waiting for the pool's limits */
    WEFT_CLIENT_TRACE_CONN_DEQUEUED,     /* done waiting: elapsed */
    WEFT_CLIENT_TRACE_CONN_CREATE_START, /* opening a connection */
    WEFT_CLIENT_TRACE_CONN_CREATE_END,   /* opened (addr) or failed (error) */
    WEFT_CLIENT_TRACE_CONN_REUSED,       /* a kept-alive connection taken */
    WEFT_CLIENT_TRACE_DNS_START,         /* host */
    WEFT_CLIENT_TRACE_DNS_END,           /* host, error; cache_hit */
    WEFT_CLIENT_TRACE_HEAD_SENT,         /* the request head (head) */
    WEFT_CLIENT_TRACE_RESPONSE_HEAD,     /* a response head (head, status),
                                            1xx and each redirect's too */
};

typedef struct weft_client_trace_info {
    int event;       /* enum weft_client_trace_event */
    double time;     /* loop time of the event (weft_loop_time) */
    double elapsed;  /* END / DEQUEUED events: seconds since the start */
    const char *method, *url; /* the request (hop) */
    const char *host;         /* DNS and connection events */
    int status;      /* response events */
    int error;       /* END events: 0 or the failure */
    bool cache_hit;  /* DNS_END: answered from the session's cache */
    /* CONN_CREATE_END, CONN_REUSED: the peer's address */
    const struct sockaddr *addr;
    socklen_t addrlen;
    /* HEAD_SENT, RESPONSE_HEAD: the head as on the wire (CRLFs included) */
    weft_span_t head;
    void *ctx;       /* the request's trace_ctx */
} weft_client_trace_info_t;

/* Called on the loop's thread, in the middle of the request, by the
 * requesting task: it must not wait (keep it short; a wait returns
 * -EPERM). The info and what it points to are valid during the call. */
typedef void (*weft_client_trace_fn)(const weft_client_trace_info_t *info,
                                     void *arg);

/* ---- the session ------------------------------------------------------------- */

enum {
    /* Every request as if with WEFT_CLIENT_RAISE_FOR_STATUS. */
    WEFT_SESSION_RAISE_FOR_STATUS = 1u << 0,
    /* Do not verify servers' certificates (testing only: anyone on the
     * path can then read and change the traffic). */
    WEFT_SESSION_INSECURE = 1u << 1,
    /* Take proxies from the environment: http_proxy, https_proxy (or
     * HTTPS_PROXY), no_proxy (or NO_PROXY), as curl reads them (upper-case
     * HTTP_PROXY is ignored: CGI programs get it from a request's Proxy
     * header, "httpoxy"). */
    WEFT_SESSION_TRUST_ENV = 1u << 2,
    /* Neither send nor store cookies (aiohttp's DummyCookieJar). */
    WEFT_SESSION_NO_COOKIES = 1u << 3,
    /* Do not ask for compressed bodies nor decompress them. */
    WEFT_SESSION_NO_DECOMPRESS = 1u << 4,
};

typedef struct weft_session_opts {
    /* Relative URLs of requests are resolved against it ("http://api/v1/"
     * + "items" is "http://api/v1/items", RFC 3986). NULL: none. Copied. */
    const char *base_url;
    /* Headers sent with every request (a request's own with the same name
     * replace them): name, value, ..., NULL. Copied. */
    const char *const *headers;
    weft_client_timeout_t timeout;
    /* Connections open at once, idle ones included: 0: 100; SIZE_MAX: no
     * limit. A request that needs a new connection at the limit closes an
     * idle one of another host, or waits. */
    size_t limit;
    /* Connections open at once to one host (scheme, host, port): 0: no
     * limit. */
    size_t limit_per_host;
    /* How long an idle connection is kept: 0: 15 s (aiohttp's); negative:
     * no keep-alive (a connection serves one request). */
    double keepalive_timeout;
    /* Redirects followed per request: 0: 10; negative: none. */
    int max_redirects;
    /* weft_client_body's limit when it is passed 0: 0: 32 MiB. */
    size_t max_body;
    /* The most bytes one compressed body may decompress to, however it is
     * read: 0: 1 GiB. */
    size_t max_decompressed;
    /* How long resolved addresses are reused: 0: 10 s (aiohttp's);
     * negative: no cache. */
    double dns_cache_ttl;
    /* TLS: a client context of the caller's (weft/tls.h; it must outlive
     * the session), else the session makes one: verification on, against
     * ca_file or the system's store, unless WEFT_SESSION_INSECURE. */
    weft_tls_ctx_t *tls;
    const char *ca_file;
    /* Every connection goes to this Unix socket path ('@name': abstract)
     * instead of the URL's host, which still names the Host header (the
     * Docker API: "http://localhost/v1.43/info"). Copied. */
    const char *unix_socket;
    /* An HTTP proxy for every request, "http://[user:pass@]host:port":
     * https URLs through a CONNECT tunnel, http URLs by absolute-form
     * requests. NULL: none (or the environment's with
     * WEFT_SESSION_TRUST_ENV). Copied. */
    const char *proxy;
    /* The User-Agent header: NULL: "weft/VERSION"; "": none. Copied. */
    const char *user_agent;
    /* A jar shared with other sessions (the caller's; it must outlive the
     * session). NULL: the session's own. */
    weft_cookie_jar_t *cookie_jar;
    unsigned flags; /* WEFT_SESSION_* */
} weft_session_opts_t;

/* Make a session for the loop running on this thread (from the loop's
 * thread; in a task or not: it does not wait). opts may be NULL; strings
 * are copied. Returns 0 with the session in *out, the caller's (close it
 * with weft_session_close), or -EINVAL (bad options: logged with the
 * reason), -EPERM (no loop running on this thread), -ENOENT (ca_file
 * missing, and other errors of stat(2)), -ENOMEM. The session's own TLS
 * context is made at its first https connection (loading a trust store
 * takes a few milliseconds a program that speaks plain http should not
 * pay): a ca_file that is not PEM fails that request with WEFT_ETLS. */
WEFT_EXPORT int weft_session_new(weft_session_t **out,
                                 const weft_session_opts_t *opts);

/* Close the session (aiohttp's close()): its idle connections are closed
 * at once (TLS ones without waiting for close_notify to be sent), and it
 * takes no more requests. From the loop's thread, in a task or not: it
 * does not wait. A session in use (a task inside one of its requests or
 * body reads) is not closed: -EBUSY, logged. Responses not yet released
 * stay valid, their bodies readable; their connections are closed when
 * they are released, and the session's memory goes with the last of
 * them. Close sessions before their loop ends (weft_run returns): a
 * session left open leaks. Returns 0, -EBUSY, -EINVAL (closed twice),
 * -EPERM (foreign thread). NULL is ignored (0). */
WEFT_EXPORT int weft_session_close(weft_session_t *s);

/* Add a middleware; they run in the order added, the first outermost.
 * Returns 0, -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_session_middleware(weft_session_t *s,
                                        weft_client_middleware_fn fn,
                                        void *arg);

/* Add a trace callback (several may be added; called in order). Returns 0,
 * -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_session_trace(weft_session_t *s, weft_client_trace_fn fn,
                                   void *arg);

/* The session's cookie jar (its own, or the one given in the options);
 * NULL with WEFT_SESSION_NO_COOKIES. */
WEFT_EXPORT weft_cookie_jar_t *weft_session_cookie_jar(weft_session_t *s);

/* Counters, for tests and metrics. */
typedef struct weft_session_stats {
    uint64_t requests;           /* request calls made (hops not counted) */
    uint64_t connections_created;/* connections opened */
    uint64_t connections_reused; /* requests sent on a kept-alive one */
    size_t open;                 /* connections open now */
    size_t idle;                 /* of them, idle in the pool */
} weft_session_stats_t;
WEFT_EXPORT void weft_session_stats(const weft_session_t *s,
                                    weft_session_stats_t *out);

/* ---- requests ---------------------------------------------------------------- */

enum {
    /* Do not follow redirects: return the 3xx response. */
    WEFT_CLIENT_NO_REDIRECTS = 1u << 0,
    /* A final response with status >= 400 is released and the call
     * returns WEFT_CLIENT_HTTP(status) (error.status is set). */
    WEFT_CLIENT_RAISE_FOR_STATUS = 1u << 1,
    /* Do not ask for a compressed body, nor decompress one. */
    WEFT_CLIENT_NO_DECOMPRESS = 1u << 2,
    /* Skip the session's middlewares (for requests made by a
     * middleware). */
    WEFT_CLIENT_NO_MIDDLEWARES = 1u << 3,
    /* Read the whole body before returning (within the limit max_body):
     * its connection goes back to the pool at once, a body error fails
     * the call, and weft_client_body gives the bytes without waiting. */
    WEFT_CLIENT_READ_BODY = 1u << 4,
};

typedef struct weft_client_req_opts {
    /* name, value, ..., NULL: added to the session's headers (replacing
     * those of the same name). The client adds Host, User-Agent, Accept
     * ("* / *"), Accept-Encoding (gzip, deflate), Cookie, Content-Type
     * and the framing headers when they are not given; Content-Length
     * and Transfer-Encoding given here are refused (-EINVAL). */
    const char *const *headers;
    /* Query parameters, name, value, ..., NULL: form-encoded and added to
     * the URL's query. */
    const char *const *params;
    const weft_client_body_t *body; /* NULL: none */
    /* Overrides of the session's timeouts (0 fields keep them). */
    const weft_client_timeout_t *timeout;
    /* Basic authentication, "user:password" (the URL's userinfo is used
     * too). Never sent to another origin after a redirect. */
    const char *auth;
    /* Redirects followed: 0: the session's; negative: none. */
    int max_redirects;
    /* Limit for WEFT_CLIENT_READ_BODY: 0: the session's max_body. */
    size_t max_body;
    /* Middlewares for this request instead of the session's (with
     * nmiddlewares > 0). */
    const weft_client_middleware_t *middlewares;
    size_t nmiddlewares;
    unsigned flags;             /* WEFT_CLIENT_* */
    weft_client_error_t *error; /* NULL: not wanted */
    void *trace_ctx;            /* passed to trace callbacks and
                                   weft_client_req_ctx */
} weft_client_req_opts_t;

/* Send a request and read the response's head (following redirects),
 * from a task of the session's loop. method: any token ("GET", "PROPFIND");
 * url: absolute http or https, or relative to the session's base_url.
 * opts may be NULL. Returns 0 with the response in *resp, the caller's
 * (read its body or not, then weft_client_release); on failure *resp is
 * NULL and the code is one of those at the top of this file: -EINVAL
 * (bad arguments or options, logged), WEFT_ECLIENT_BAD_URL, resolver,
 * connect, TLS and timeout errors, WEFT_EHTTP_* for a malformed response,
 * WEFT_ECLIENT_NO_RESPONSE, WEFT_ECLIENT_REDIRECTS,
 * WEFT_ECLIENT_BAD_REDIRECT, WEFT_CLIENT_HTTP(status), a STREAM body's
 * error, -ECANCELED, -ENOMEM, -EPERM (not in a task of the session's
 * loop).
 *
 * Connections: a kept-alive connection to the same scheme, host, port and
 * TLS settings is reused; one that the server closed while idle is
 * dropped, and an idempotent request whose reused connection fails before
 * any byte of the response is sent once more on a new connection (RFC
 * 9112 9.3.1). A connection goes back to the pool only when its response
 * body was read to the end and the response allows keep-alive.
 *
 * Redirects (301, 302, 303, 307, 308 with a Location) are followed up to
 * max_redirects: a relative Location is resolved against the request's
 * URL; 303, and 301 / 302 for a POST, become GET without a body; 307 and
 * 308 keep the method and the body; the fragment is kept when Location has
 * none (RFC 9110 10.2.2); Authorization (and auth) and Cookie headers the
 * caller set are not sent to another origin (scheme, host, port), and
 * the jar's cookies are chosen per hop. weft_client_history lists the
 * hops. A redirect to anything but http / https is
 * WEFT_ECLIENT_BAD_REDIRECT. */
WEFT_EXPORT int weft_session_request(weft_session_t *s, const char *method,
                                     const char *url,
                                     const weft_client_req_opts_t *opts,
                                     weft_client_response_t **resp);

/* The same for each method. */
WEFT_EXPORT int weft_session_get(weft_session_t *s, const char *url,
                                 const weft_client_req_opts_t *opts,
                                 weft_client_response_t **resp);
WEFT_EXPORT int weft_session_post(weft_session_t *s, const char *url,
                                  const weft_client_req_opts_t *opts,
                                  weft_client_response_t **resp);
WEFT_EXPORT int weft_session_put(weft_session_t *s, const char *url,
                                 const weft_client_req_opts_t *opts,
                                 weft_client_response_t **resp);
WEFT_EXPORT int weft_session_patch(weft_session_t *s, const char *url,
                                   const weft_client_req_opts_t *opts,
                                   weft_client_response_t **resp);
WEFT_EXPORT int weft_session_delete(weft_session_t *s, const char *url,
                                    const weft_client_req_opts_t *opts,
                                    weft_client_response_t **resp);
WEFT_EXPORT int weft_session_head(weft_session_t *s, const char *url,
                                  const weft_client_req_opts_t *opts,
                                  weft_client_response_t **resp);
WEFT_EXPORT int weft_session_options(weft_session_t *s, const char *url,
                                     const weft_client_req_opts_t *opts,
                                     weft_client_response_t **resp);

/* ---- responses ----------------------------------------------------------------- */

/* The status code (200), the reason phrase as sent, and the version (10
 * for HTTP/1.0, 11 for HTTP/1.1). */
WEFT_EXPORT int weft_client_status(const weft_client_response_t *r);
WEFT_EXPORT weft_span_t weft_client_reason(const weft_client_response_t *r);
WEFT_EXPORT int weft_client_version(const weft_client_response_t *r);
/* True when the status is below 400 (aiohttp's ok). */
WEFT_EXPORT bool weft_client_ok(const weft_client_response_t *r);

/* The value of the first header field `name` (case-insensitive) in *value
 * (a span, valid as long as r): 0, or -ENOENT. */
WEFT_EXPORT int weft_client_header(const weft_client_response_t *r,
                                   const char *name, weft_span_t *value);
/* All header fields as received, in order: *fields points at them; their
 * number is returned. Valid as long as r. */
WEFT_EXPORT size_t weft_client_headers(const weft_client_response_t *r,
                                       const weft_http_field_t **fields);
/* The response head as received, status line to the empty line. */
WEFT_EXPORT weft_span_t weft_client_head(const weft_client_response_t *r);
/* The Content-Length the response announced, or -1 (none, chunked). The
 * length of the body as sent, before decompression. */
WEFT_EXPORT int64_t weft_client_content_length(const weft_client_response_t *r);

/* The request's method and the URL of the final response (after
 * redirects), NUL-terminated, valid as long as r. */
WEFT_EXPORT const char *weft_client_method(const weft_client_response_t *r);
WEFT_EXPORT const char *weft_client_url(const weft_client_response_t *r);

/* One redirect followed on the way to a response. */
typedef struct weft_client_hop {
    int status;         /* 301, 302 ... */
    const char *method; /* the hop's request */
    const char *url;
    const char *location; /* where it sent us, as sent */
} weft_client_hop_t;

/* The redirects that led to r, first first (aiohttp's history): *n gets
 * their number (may be 0; the array is then NULL). Valid as long as r. */
WEFT_EXPORT const weft_client_hop_t *
weft_client_history(const weft_client_response_t *r, size_t *n);

/* WEFT_CLIENT_HTTP(status) when the status is 400 or more, else 0. */
WEFT_EXPORT int weft_client_raise_for_status(const weft_client_response_t *r);

/* Read the whole body (decompressed unless turned off) and point *data at
 * it, NUL-terminated (the NUL not counted), owned by r. max: the largest
 * body accepted (after decompression); 0: the session's max_body. Returns
 * its length, or WEFT_ECLIENT_BODY_TOO_LARGE (over max: the connection is
 * closed), WEFT_EHTTP_TRUNCATED (the server closed the connection early),
 * WEFT_EHTTP_* (broken chunked framing), WEFT_ECLIENT_DECOMPRESS,
 * WEFT_ECLIENT_DECOMPRESS_LIMIT, -ETIMEDOUT (total or sock_read: see
 * weft_client_errmsg), -ECONNRESET, -ECANCELED, -ENOMEM, -EALREADY (part
 * of the body was read as a stream already). A second call returns the same
 * body. */
WEFT_EXPORT ssize_t weft_client_body(weft_client_response_t *r,
                                     const void **data, size_t max);

/* Read the body as a stream: up to len bytes into buf. Returns the bytes
 * read, 0 at the body's end, or the errors of weft_client_body (no limit
 * but max_decompressed applies: count the bytes yourself). */
WEFT_EXPORT ssize_t weft_client_read(weft_client_response_t *r, void *buf,
                                     size_t len);

/* Zero-copy streaming: point *data at the next piece of the body (in the
 * connection's buffer, or the decompressor's) and return its length, 0 at
 * the end. The bytes are valid until the next read call on r or its
 * release. Errors as weft_client_read. */
WEFT_EXPORT ssize_t weft_client_read_chunk(weft_client_response_t *r,
                                           const void **data);

/* Why the last body read of r failed, one line ("GET http://h/big: body
 * cut short after 1000 of 5000 bytes"), or "" when none did. Valid until
 * the next read call on r or its release. */
WEFT_EXPORT const char *weft_client_errmsg(const weft_client_response_t *r);

/* Done with a response: its connection goes back to the pool if the body
 * was read to its end and the connection may be kept alive, and is closed
 * otherwise; then r is freed (recycled by the session). Does not wait.
 * NULL is ignored. */
WEFT_EXPORT void weft_client_release(weft_client_response_t *r);

/* Take the connection out of the client, for a protocol that follows the
 * response head (a 101 Switching Protocols to a WebSocket upgrade, a 2xx
 * to CONNECT): returns the stream, now the caller's (weft_stream_close),
 * with whatever the server sent after the head still buffered in it, or
 * NULL if r has no connection (its body was read, it was hijacked
 * already). r stays valid for its headers until released. */
WEFT_EXPORT weft_stream_t *weft_client_hijack(weft_client_response_t *r);

/* ---- cookies (RFC 6265) ---------------------------------------------------------- */

/* A cookie jar, as a user agent keeps one (RFC 6265 section 5.3): cookies
 * stored from Set-Cookie fields by name, domain and path, host-only unless
 * a Domain attribute was given (and the request's host is in that domain;
 * a Domain without a dot, such as "com", is refused since weft has no
 * public suffix list), expired by Expires / Max-Age (Max-Age wins), Secure
 * ones sent only over https and never stored from http; HttpOnly is kept
 * (a C program is not a script). Cookies for an IP address are host-only.
 * At most 50 cookies per domain and 3000 in all: the least recently used
 * go first. Not tied to a loop; not thread-safe. */

/* Make an empty jar (the caller's: weft_cookie_jar_free). Returns 0 or
 * -ENOMEM. */
WEFT_EXPORT int weft_cookie_jar_new(weft_cookie_jar_t **out);
/* Free a jar. NULL is ignored. */
WEFT_EXPORT void weft_cookie_jar_free(weft_cookie_jar_t *jar);

/* Store the cookie of a Set-Cookie value received in the response to a
 * request for url (an absolute http or https URL). Returns 1 if stored
 * (or a stored one removed by an expiry in the past), 0 if ignored (as the
 * rules above say), -EINVAL (url not absolute http/https, or the value
 * does not parse), -ENOMEM. */
WEFT_EXPORT int weft_cookie_jar_update(weft_cookie_jar_t *jar, const char *url,
                                       const char *set_cookie, size_t len);

/* The Cookie header value for a request to url: "a=1; b=2" (longer paths
 * first, then older cookies, RFC 6265 5.4), NUL-terminated in buf.
 * Returns its length (0: no cookie applies), -EINVAL (bad url), -ENOSPC. */
WEFT_EXPORT ssize_t weft_cookie_jar_header(weft_cookie_jar_t *jar,
                                           const char *url, char *buf,
                                           size_t cap);

/* The value of the cookie `name` that a request to url would send, into
 * buf (NUL-terminated). Returns its length, -ENOENT, -EINVAL, -ENOSPC. */
WEFT_EXPORT ssize_t weft_cookie_jar_value(weft_cookie_jar_t *jar,
                                          const char *url, const char *name,
                                          char *buf, size_t cap);

/* Cookies stored (expired ones not counted), and forget them all. */
WEFT_EXPORT size_t weft_cookie_jar_count(weft_cookie_jar_t *jar);
WEFT_EXPORT void weft_cookie_jar_clear(weft_cookie_jar_t *jar);

#ifdef __cplusplus
}
#endif
#endif
