/* weft/web.h - an HTTP/1.1 server in the style of aiohttp.web: an
 * application of routes, middlewares and lifecycle signals, served by a
 * runner on one or more listeners, in one loop or in N worker loops.
 *
 *   aiohttp.web                         weft/web.h
 *   app = web.Application()             weft_web_app_new(&app, NULL)
 *   app.router.add_get("/u/{id}", h)    weft_web_route(app, "GET", "/u/{id}", h, arg, NULL)
 *   app.add_routes([...])               weft_web_routes(app, table, n)
 *   app.add_subapp("/api", sub)         weft_web_add_subapp(app, "/api", sub)
 *   app.middlewares.append(mw)          weft_web_middleware(app, mw, arg)
 *   app.on_startup.append(fn) ...       weft_web_on_startup(app, fn, arg) ...
 *   app.cleanup_ctx.append(gen)         weft_web_cleanup_ctx(app, start, stop, arg)
 *   app.on_response_prepare.append(f)   weft_web_on_response_prepare(app, f, arg)
 *   web.run_app(app, port=8080)         weft_web_run_app(app, host, "8080", &opts)
 *   AppRunner + TCPSite                 weft_web_runner_new / _setup / _listen / _shutdown
 *   async def h(request): ...           int h(weft_web_request_t *req, void *arg)
 *   request.match_info["id"]            weft_web_match(req, "id")
 *   await request.read()                weft_web_read_body(req, &data, 0)
 *   return web.Response(text="hi")      return weft_web_text(req, 200, "hi")
 *   raise web.HTTPNotFound()            return WEFT_WEB_HTTP(404)
 *   resp = web.StreamResponse()         weft_web_prepare(req), weft_web_write(req, ..),
 *   await resp.prepare(request) ...     weft_web_write_eof(req)
 *
 * Handlers are tasks. Each connection is one task; a request's
 * middlewares and handler run in it (no task is spawned per request), so a
 * handler may wait (read the body, sleep, query a database, await other
 * tasks) as any task does. Requests of one connection are handled one
 * after the other, and pipelined requests are answered in order.
 *
 * Return values. Every function returns >= 0 on success or a negative
 * errno, as everywhere in weft. A handler or middleware returns 0 when the
 * request's response is set (or was sent), or an error:
 *
 *  - WEFT_WEB_HTTP(status), a 4xx or 5xx status: aiohttp's HTTPException.
 *    The server answers with that status and its reason phrase as a
 *    text/plain body, dropping whatever the response held (set the
 *    response yourself and return 0 to send a body or headers of your
 *    own, an Allow or a WWW-Authenticate). The body functions below return
 *    such codes themselves: WEFT_WEB_HTTP(413) for a body over the limit,
 *    (400) for broken chunked framing, (408) when the client is too slow.
 *  - any other negative value (-ENOMEM, -EIO, an error of yours): a
 *    failure. The client gets "500 Internal Server Error" with nothing of
 *    the failure in the body; the failure is logged at WEFT_LOG_ERROR with
 *    the request line ("GET /users/7 HTTP/1.1: handler failed: ENOENT").
 *  - -ECANCELED: the handler was cancelled (the client went away, the
 *    server's graceful shutdown ran out of time). Nothing is sent; the
 *    connection closes.
 *
 * Middlewares see these codes from weft_web_next and may change them:
 * turn a WEFT_WEB_HTTP(404) into a JSON body and return 0, say.
 *
 * Memory. A request and its response live in the connection's task. What
 * the server hands out (spans, strings, the body) stays valid until the
 * request ends: until the response has been sent and the handler and
 * middlewares have returned. For allocations that should die with the
 * request use weft_web_alloc (a per-connection arena that is reset after
 * each request, so a steady stream of requests allocates nothing), and
 * weft_web_defer for clean-up that must run however the request ends
 * (sent, failed, cancelled).
 *
 * Threads. An app, once a runner has set it up, is frozen: routes,
 * middlewares and signals can no longer be added (-EBUSY). With N worker
 * loops (weft_web_run_opts_t.workers), the frozen app is shared, read-only,
 * by N threads: handlers and middlewares run in several threads at once,
 * so what their `arg` points to must be safe for that (or be per worker:
 * the lifecycle signals run once in each worker, and weft_web_worker()
 * says which). Everything else (a request, its response, its stream)
 * belongs to the worker loop serving it.
 *
 * The defaults of weft_web_server_opts_t are safe on the public internet
 * (timeouts on every wait a client controls, limits on everything a client
 * sends): see each field. Every limit has its status: 413 for the body,
 * 414 for the request line, 431 for a header field, the header count or
 * the head, 400 for the rest of what the parser refuses. A request the
 * parser refuses gets its 4xx with "Connection: close" and the connection
 * is closed: no second request is ever read from what followed a bad one
 * (the smuggling rule).
 */
#ifndef WEFT_WEB_H
#define WEFT_WEB_H

#include <stdarg.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "http1.h"
#include "net.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_web_app weft_web_app_t;
typedef struct weft_web_request weft_web_request_t;
typedef struct weft_web_response weft_web_response_t;
typedef struct weft_web_next weft_web_next_t;
typedef struct weft_web_runner weft_web_runner_t;
typedef struct weft_web_conn weft_web_conn_t;
typedef struct weft_web_filter_out weft_web_filter_out_t;

/* ---- HTTP errors as return values ------------------------------------------- */

/* A handler's or middleware's "answer with this status" (4xx or 5xx):
 * return WEFT_WEB_HTTP(404). The codes lie in -4400..-4599, outside both
 * errno's range and weft's own codes (core.h). weft_strerror() gives
 * "HTTP error status", weft_err_name() "EHTTP"; WEFT_WEB_HTTP_STATUS
 * recovers the status. */
#define WEFT_WEB_HTTP(status) (-4000 - (status))
/* True for a code made by WEFT_WEB_HTTP (a status from 400 to 599). */
#define WEFT_WEB_IS_HTTP(err) ((err) <= -4400 && (err) >= -4599)
/* The status a WEFT_WEB_HTTP code carries. */
#define WEFT_WEB_HTTP_STATUS(err) (-(err) - 4000)

/* The reason phrase of a status ("Not Found"), "" for one we do not know
 * (any number from 100 to 999 may be sent). Static storage. */
WEFT_EXPORT const char *weft_web_reason(int status);

/* ---- handlers, middlewares, signals ------------------------------------------ */

/* A request handler. Runs in the connection's task; see "Return values"
 * above. `arg` is the one given with the route. */
typedef int (*weft_web_handler_fn)(weft_web_request_t *req, void *arg);

/* A middleware (aiohttp's @web.middleware): gets the request and the rest
 * of the chain. It calls weft_web_next(req, next) (at most once) to run
 * the next middleware and finally the handler, and may act before and
 * after (change the response, time it), not call it at all and answer
 * itself (short-circuit: a login check), or look at the error it returned
 * and answer instead (catch). */
typedef int (*weft_web_middleware_fn)(weft_web_request_t *req,
                                      weft_web_next_t *next, void *arg);

/* Run the rest of the chain: the next middleware, or the handler. Returns
 * what it returned. Calling it twice for one `next`: -EINVAL, logged. */
WEFT_EXPORT int weft_web_next(weft_web_request_t *req, weft_web_next_t *next);

/* on_startup / on_shutdown / on_cleanup (weft_web_runner_setup, _shutdown).
 * Run in a task of the loop that serves the app (once in each worker loop
 * when there are several). A startup signal that fails (< 0) stops the
 * startup: the runner's setup returns that error, after the cleanup
 * signals ran. Failures of shutdown and cleanup signals are logged and the
 * others still run. */
typedef int (*weft_web_signal_fn)(weft_web_app_t *app, void *arg);

/* A cleanup context (aiohttp's cleanup_ctx, an async generator in two
 * halves): start runs at startup after the on_startup signals, in
 * registration order; stop runs at cleanup, in reverse order, and only for
 * the contexts whose start returned >= 0. */
typedef void (*weft_web_stop_fn)(weft_web_app_t *app, void *arg);

/* on_response_prepare: called just before a response's head is sent
 * (whatever the body: bytes, a file, a stream, an error; not for the 4xx
 * answering a head the parser refused, which reaches no app), with the
 * response still open to change: add headers, change the status, install
 * a body filter (compression). A negative return is a failure of the
 * request: a 500 instead, if nothing was sent yet. Runs in the connection's
 * task, and may wait. */
typedef int (*weft_web_prepare_fn)(weft_web_request_t *req,
                                   weft_web_response_t *resp, void *arg);

/* on_response_sent: called when a request is over, its response sent (or
 * its connection lost): the seam for an access log (weft_web_resp_status,
 * weft_web_resp_bytes, weft_web_request_time ...). It must not wait: the
 * return value is ignored, and a wait returns -EPERM. */
typedef void (*weft_web_sent_fn)(weft_web_request_t *req, void *arg);

/* A connection hook (weft_web_listen_opts_t.on_connect): runs first on each
 * new connection of that listener, before TLS and before the first
 * request: it may read what precedes them from the stream (the PROXY
 * protocol's header), then set the addresses the requests will report
 * (weft_web_conn_set_remote). A negative return closes the connection
 * without an answer. It runs inside the head timeout. */
typedef int (*weft_web_conn_fn)(weft_web_conn_t *conn, void *arg);

/* ---- the application --------------------------------------------------------- */

typedef struct weft_web_app_opts {
    /* Largest request body weft_web_read_body accepts for this app's
     * routes (aiohttp's client_max_size): 0: the runner's (1 MiB by
     * default); SIZE_MAX: no limit. */
    size_t client_max_size;
    void *data; /* the app's user pointer (weft_web_app_data) */
} weft_web_app_opts_t;

/* Make an empty application, owned by the caller (weft_web_app_free).
 * opts may be NULL. Returns 0, -ENOMEM. Needs no loop. */
WEFT_EXPORT int weft_web_app_new(weft_web_app_t **out,
                                 const weft_web_app_opts_t *opts);

/* Free an app, its routes, and the sub-applications added to it. The app
 * must not be in use by a runner (free the runner first: -EBUSY). NULL is
 * ignored. */
WEFT_EXPORT int weft_web_app_free(weft_web_app_t *app);

/* The user pointer given in weft_web_app_opts_t.data. */
WEFT_EXPORT void *weft_web_app_data(const weft_web_app_t *app);

/* Add a route: requests whose method is `method` and whose decoded path
 * matches `path` go to fn(req, arg).
 *
 * method: "GET", "POST" ... (any token, case-sensitive as HTTP methods
 * are), or "*" for every method. A GET route answers HEAD as well unless a
 * HEAD route exists for that path: the handler runs as for GET and the
 * server sends the head alone (Content-Length as the body would have had).
 * OPTIONS on a known path without an OPTIONS route answers 204 with Allow.
 *
 * path: starts with '/'. Segments are literal text, or contain variables:
 *   {name}          one segment or part of one: one or more characters
 *                   other than '/'  ("/users/{id}", "/f/{base}.{ext}")
 *   {name:PATTERN}  restricted by a pattern: "{id:\\d+}", "{slug:[a-z0-9-]+}",
 *                   "{v:v[12]}"
 *   {name:.*}       the tail: the rest of the path, slashes included
 *                   ("/static/{path:.*}"); a pattern that can match '/'
 *                   is only allowed in the last segment.
 * Patterns: characters, '.', classes ("[a-z0-9_-]", "[^/]"), \d \w \s
 * and \D \W \S, escapes (\. \\ \{), quantifiers * + ? {m} {m,} {m,n},
 * matched by weft's own matcher (backtracking within a segment); a pattern
 * with anything else (groups, '|', anchors) is compiled with POSIX
 * regcomp (REG_EXTENDED) and matched with regexec: slower, but every POSIX
 * ERE works. A pattern must match the whole variable. Variables are
 * matched against the percent-decoded path, and reported decoded
 * (weft_web_match).
 *
 * Which route wins: a literal segment before a variable one, a variable
 * before a tail; among variables of one segment, the first registered whose
 * pattern matches (and, for the rest of the path to match too, the next
 * one if not). A path that matches routes for other methods only gets 405
 * with Allow listing them; one that matches nothing gets 404.
 *
 * name: NULL, or a name for weft_web_url_for (unique in the app).
 * Strings are copied. Returns 0, -EINVAL (bad method or path, a pattern
 * that does not compile, two variables of one name, a tail not at the
 * end: logged with the reason), -EEXIST (the same method and path, or the
 * name, twice), -EBUSY (the app is frozen), -ENOMEM. */
WEFT_EXPORT int weft_web_route(weft_web_app_t *app, const char *method,
                               const char *path, weft_web_handler_fn fn,
                               void *arg, const char *name);

/* A route table for weft_web_routes (aiohttp's RouteTableDef). */
typedef struct weft_web_route_def {
    const char *method, *path;
    weft_web_handler_fn fn;
    void *arg;
    const char *name; /* may be NULL */
} weft_web_route_def_t;

/* Add n routes in order. Stops at the first that fails (its error; the
 * ones before it stay added, and *added, if not NULL, says how many). */
WEFT_EXPORT int weft_web_routes(weft_web_app_t *app,
                                const weft_web_route_def_t *defs, size_t n,
                                size_t *added);

/* Mount `sub` at `prefix` (aiohttp's add_subapp): requests whose path
 * starts with prefix + "/" (or equals prefix) go to sub's routes with the
 * prefix removed, through app's middlewares first and then sub's. sub
 * becomes app's (freed with it; its own signals run after app's, at the
 * same moments). prefix starts with '/', does not end with one, has no
 * variables. Returns 0, -EINVAL, -EEXIST (that prefix twice), -EBUSY
 * (either app frozen, or sub already mounted), -ENOMEM. */
WEFT_EXPORT int weft_web_add_subapp(weft_web_app_t *app, const char *prefix,
                                    weft_web_app_t *sub);

/* Build the URL of the named route of `app` (a sub-app's names are looked
 * up in the sub-app, and its prefix is put in front): `vars` holds name,
 * value pairs, then NULL ({"id", "7", NULL}); values are percent-encoded
 * as a path segment needs (a tail's '/' are kept), and must match their
 * variable's pattern. query, if not NULL, is appended after '?' as it is.
 * Writes a NUL-terminated string to buf; returns its length, or -ENOENT
 * (no such name), -EINVAL (a variable missing or not matching its pattern),
 * -ENOSPC (buf too small). */
WEFT_EXPORT ssize_t weft_web_url_for(const weft_web_app_t *app,
                                     const char *name,
                                     const char *const *vars,
                                     const char *query, char *buf,
                                     size_t size);

/* Append a middleware; they run in the order added, outermost first (the
 * first added sees the request first and the response last). Returns 0,
 * -EINVAL, -EBUSY, -ENOMEM. */
WEFT_EXPORT int weft_web_middleware(weft_web_app_t *app,
                                    weft_web_middleware_fn fn, void *arg);

/* Lifecycle signals, run in the order added (cleanup contexts' stop in
 * reverse). Returns 0, -EINVAL, -EBUSY, -ENOMEM. */
WEFT_EXPORT int weft_web_on_startup(weft_web_app_t *app,
                                    weft_web_signal_fn fn, void *arg);
WEFT_EXPORT int weft_web_on_shutdown(weft_web_app_t *app,
                                     weft_web_signal_fn fn, void *arg);
WEFT_EXPORT int weft_web_on_cleanup(weft_web_app_t *app,
                                    weft_web_signal_fn fn, void *arg);
WEFT_EXPORT int weft_web_cleanup_ctx(weft_web_app_t *app,
                                     weft_web_signal_fn start,
                                     weft_web_stop_fn stop, void *arg);
WEFT_EXPORT int weft_web_on_response_prepare(weft_web_app_t *app,
                                             weft_web_prepare_fn fn,
                                             void *arg);
WEFT_EXPORT int weft_web_on_response_sent(weft_web_app_t *app,
                                          weft_web_sent_fn fn, void *arg);

/* Run fn(arg) when the app is freed (weft_web_app_free), the last added
 * first, before its routes go: for what the args of its routes,
 * middlewares and signals point to (add_static's directory, a
 * middleware's settings). Allowed on a frozen app. Returns 0, -EINVAL,
 * -ENOMEM (fn was not registered: free now what it would have). */
WEFT_EXPORT int weft_web_app_on_free(weft_web_app_t *app, void (*fn)(void *),
                                     void *arg);

/* In a worker loop: its index, 0 .. workers - 1 (0 with one loop, and
 * outside the server). */
WEFT_EXPORT unsigned weft_web_worker(void);

/* ---- the request ----------------------------------------------------------------
 * Everything returned here belongs to the request: valid until it ends.
 * Spans point into the connection's read buffer and are not
 * NUL-terminated; `const char *` results are NUL-terminated copies in the
 * request's arena (NULL when out of memory: check them). */

/* The method: a weft_http_method_t (WEFT_HTTP_GET ..., weft/http1.h),
 * WEFT_HTTP_OTHER for other tokens (see weft_web_method_name). */
WEFT_EXPORT int weft_web_method(const weft_web_request_t *req);
/* The method as sent ("GET"). */
WEFT_EXPORT weft_span_t weft_web_method_name(const weft_web_request_t *req);
/* The request-target as sent ("/a%20b?x=1"). */
WEFT_EXPORT weft_span_t weft_web_target(const weft_web_request_t *req);
/* The path, percent-decoded and with dot segments removed ("/a b"):
 * what routes match. An encoded slash (%2F) stays "%2F" so that it cannot
 * split a segment (decode a variable yourself if you want it). */
WEFT_EXPORT const char *weft_web_path(const weft_web_request_t *req);
/* The path as sent, without the query ("/a%20b"). */
WEFT_EXPORT weft_span_t weft_web_raw_path(const weft_web_request_t *req);
/* The query string as sent, without '?' ("x=1&y=%20"); empty if none. */
WEFT_EXPORT weft_span_t weft_web_query_string(const weft_web_request_t *req);
/* The first value of query parameter `name`, decoded ('+' is a space), or
 * NULL if absent; "" for "?name" or "?name=". */
WEFT_EXPORT const char *weft_web_query(weft_web_request_t *req,
                                       const char *name);
/* 10 for HTTP/1.0, 11 for HTTP/1.1. */
WEFT_EXPORT int weft_web_version(const weft_web_request_t *req);
/* Whether the connection stays open after this request, as far as the
 * request says (HTTP/1.1 without "Connection: close", HTTP/1.0 with
 * "Connection: keep-alive"). weft_web_force_close changes it. */
WEFT_EXPORT bool weft_web_keep_alive(const weft_web_request_t *req);

/* The value of the first header field named `name` (case-insensitive) in
 * *value; returns 0, or -ENOENT. */
WEFT_EXPORT int weft_web_header(const weft_web_request_t *req,
                                const char *name, weft_span_t *value);
/* Every header field as received, in order: points *fields at them and
 * returns their number. */
WEFT_EXPORT size_t weft_web_headers(const weft_web_request_t *req,
                                    const weft_http_field_t **fields);
/* The value of cookie `name` from the Cookie header(s) (RFC 6265; quotes
 * around the value removed), or NULL. */
WEFT_EXPORT const char *weft_web_cookie(weft_web_request_t *req,
                                        const char *name);
/* The value of the route's variable `name` (decoded), or NULL if the
 * route has no such variable. */
WEFT_EXPORT const char *weft_web_match(const weft_web_request_t *req,
                                       const char *name);
/* The name the route was added with, or NULL. */
WEFT_EXPORT const char *weft_web_route_name(const weft_web_request_t *req);
/* The app whose route matched (a sub-app for its routes; the root app for
 * 404 / 405 answers). */
WEFT_EXPORT weft_web_app_t *weft_web_request_app(const weft_web_request_t *req);

/* The client's address. weft_web_remote_addr is the effective one: the
 * socket's peer, unless the connection hook (PROXY protocol) or a trusted
 * proxy's Forwarded header (weft_web_set_remote) replaced it;
 * weft_web_peer_addr is always the socket's. *len gets the length (may be
 * NULL). A Unix socket's peer is AF_UNIX with an empty path. */
WEFT_EXPORT const struct sockaddr *
weft_web_remote_addr(const weft_web_request_t *req, socklen_t *len);
WEFT_EXPORT const struct sockaddr *
weft_web_peer_addr(const weft_web_request_t *req, socklen_t *len);
/* The effective remote address as text, without the port ("192.0.2.7",
 * "2001:db8::1"; "" for a Unix socket): aiohttp's request.remote. */
WEFT_EXPORT const char *weft_web_remote(weft_web_request_t *req);
/* Replace the effective remote address for this request (a middleware
 * that trusts its proxy's Forwarded / X-Forwarded-For). Copied. 0, or
 * -EINVAL (len too large). */
WEFT_EXPORT int weft_web_set_remote(weft_web_request_t *req,
                                    const struct sockaddr *addr,
                                    socklen_t len);
/* "http" or "https" (TLS on the connection), unless set otherwise for
 * this request (a trusted X-Forwarded-Proto). The string is copied. */
WEFT_EXPORT const char *weft_web_scheme(const weft_web_request_t *req);
WEFT_EXPORT int weft_web_set_scheme(weft_web_request_t *req,
                                    const char *scheme);
/* The Host header ("example.com:8080"), or an empty span. */
WEFT_EXPORT weft_span_t weft_web_host(const weft_web_request_t *req);
/* When the request's head was complete, in loop time (weft_loop_time). */
WEFT_EXPORT double weft_web_request_time(const weft_web_request_t *req);
/* The connection the request came on. */
WEFT_EXPORT weft_web_conn_t *weft_web_request_conn(weft_web_request_t *req);

/* ---- the request body ---------------------------------------------------------
 * Read it whole or as a stream, once. "Expect: 100-continue" is answered
 * with "100 Continue" at the first read, never before: a handler that
 * answers without reading spares the client the upload. A body nobody
 * read is skipped after the response (or, when larger than the app's
 * client_max_size, the connection is closed instead of reading it). Each
 * wait for more bytes is bounded by the runner's body_timeout
 * (WEFT_WEB_HTTP(408) when it runs out). */

/* Whether the request has a body (Content-Length > 0 or chunked). */
WEFT_EXPORT bool weft_web_has_body(const weft_web_request_t *req);
/* Content-Length, or -1 (chunked, or none: see weft_web_has_body). */
WEFT_EXPORT int64_t weft_web_content_length(const weft_web_request_t *req);

/* Read the whole body (chunked coding removed) and point *data at it
 * (valid until the request ends; NUL-terminated for convenience, the NUL
 * not counted). max: the largest body accepted; 0: the app's
 * client_max_size. Returns its length, or WEFT_WEB_HTTP(413) (larger than
 * max: the client gets 413 and the connection is closed), (400) (broken
 * chunked framing, or the client ended the connection early), (408), or
 * -EALREADY (some of the body was read as a stream), -ECANCELED ... A
 * second call returns the same body. */
WEFT_EXPORT ssize_t weft_web_read_body(weft_web_request_t *req,
                                       const void **data, size_t max);

/* Read the body as a stream: the next bytes, at most len; 0 at its end.
 * Returns the bytes read, or the errors of weft_web_read_body (no limit
 * applies here: count them yourself). */
WEFT_EXPORT ssize_t weft_web_read(weft_web_request_t *req, void *buf,
                                  size_t len);

/* Zero-copy streaming: point *data at the next piece of body in the
 * connection's buffer (valid until the next read call) and return its
 * length; 0 at the end. Errors as weft_web_read. */
WEFT_EXPORT ssize_t weft_web_read_chunk(weft_web_request_t *req,
                                        const void **data);

/* ---- per-request memory and state ---------------------------------------------- */

/* Memory that lives until the request ends (16-byte aligned), from an
 * arena of the connection: no free. NULL when out of memory. */
WEFT_EXPORT void *weft_web_alloc(weft_web_request_t *req, size_t size);
/* Copies into that arena (NUL-terminated). NULL when out of memory. */
WEFT_EXPORT char *weft_web_strndup(weft_web_request_t *req, const char *s,
                                   size_t len);
WEFT_EXPORT char *weft_web_sprintf(weft_web_request_t *req, const char *fmt,
                                   ...) __attribute__((format(printf, 2, 3)));
WEFT_EXPORT char *weft_web_vsprintf(weft_web_request_t *req, const char *fmt,
                                    va_list ap);

/* Run fn(arg) when the request ends, however it ends (sent, failed,
 * cancelled, connection lost), after on_response_sent; the last deferred
 * runs first. fn must not wait. Returns 0, -ENOMEM (fn was not
 * registered: release now what it would have). */
WEFT_EXPORT int weft_web_defer(weft_web_request_t *req, void (*fn)(void *),
                               void *arg);

/* A slot for middlewares and handlers to pass things along (aiohttp's
 * request["key"]): keys are compared as pointers (use the address of a
 * static variable). put replaces an existing value. put returns 0 or
 * -ENOMEM; get returns the value or NULL. */
WEFT_EXPORT int weft_web_put(weft_web_request_t *req, const void *key,
                             void *value);
WEFT_EXPORT void *weft_web_get(const weft_web_request_t *req,
                               const void *key);

/* ---- the response ----------------------------------------------------------------
 * Every request has one response, made with it: status 200, no headers, an
 * empty body. Set it and return 0; the server sends it when the handler
 * and the middlewares have returned, unless the handler prepared it
 * (streamed) already.
 *
 * What the server adds: Date (cached, made once a second), Server (if
 * configured), Content-Length or Transfer-Encoding: chunked (chosen from
 * the body: a length when it is known, chunked for a stream without one on
 * HTTP/1.1, the end of the connection on HTTP/1.0), and Connection:
 * keep-alive / close as needed. Content-Length and Transfer-Encoding are
 * the server's alone (-EINVAL; weft_web_set_content_length announces a
 * stream's length); a Date, Server or Connection field of your own
 * replaces the server's (a Connection of yours is sent as it is, for an
 * upgrade). Names and values are checked: CR, LF, NUL and other controls
 * are refused (-EINVAL, logged: no response splitting), as are names that
 * are not tokens. */

/* The request's response. */
WEFT_EXPORT weft_web_response_t *weft_web_resp(weft_web_request_t *req);

/* Status, and a reason phrase (NULL: the standard one, weft_web_reason).
 * 100..999 except 1xx, which only the server sends (-EINVAL), and 101
 * Switching Protocols, which a handler sends (with Upgrade and
 * "Connection: Upgrade") before weft_web_hijack. -EALREADY once the head
 * was sent. */
WEFT_EXPORT int weft_web_set_status(weft_web_response_t *resp, int status,
                                    const char *reason);
WEFT_EXPORT int weft_web_resp_status(const weft_web_response_t *resp);

/* Add a header field (copied; a name may repeat, as Set-Cookie must). set
 * replaces every field of that name (case-insensitive) with one; remove
 * drops them all (0, or -ENOENT). Returns 0, -EINVAL (see above),
 * -EALREADY (head sent), -ENOMEM. */
WEFT_EXPORT int weft_web_add_header(weft_web_response_t *resp,
                                    const char *name, const char *value);
WEFT_EXPORT int weft_web_set_header(weft_web_response_t *resp,
                                    const char *name, const char *value);
WEFT_EXPORT int weft_web_remove_header(weft_web_response_t *resp,
                                       const char *name);
/* The first value of a header the response has (for middlewares and the
 * prepare signal: the Content-Type before compressing, say): 0, -ENOENT. */
WEFT_EXPORT int weft_web_resp_header(const weft_web_response_t *resp,
                                     const char *name, weft_span_t *value);
/* Content-Type, with "; charset=..." when charset is not NULL. */
WEFT_EXPORT int weft_web_set_content_type(weft_web_response_t *resp,
                                          const char *type,
                                          const char *charset);

/* Set-Cookie attributes (RFC 6265). Zero means "leave out". */
enum { WEFT_WEB_SAMESITE_LAX = 1, WEFT_WEB_SAMESITE_STRICT, WEFT_WEB_SAMESITE_NONE };
typedef struct weft_web_cookie_opts {
    const char *path, *domain;
    int64_t max_age;   /* seconds; 0: no Max-Age; negative: Max-Age=0 */
    int64_t expires;   /* Unix time; 0: no Expires */
    bool secure, http_only;
    int same_site;     /* WEFT_WEB_SAMESITE_* */
} weft_web_cookie_opts_t;
/* Add a Set-Cookie field. The name must be a token and the value cookie
 * octets (RFC 6265 section 4.1.1; quote or encode others yourself):
 * -EINVAL otherwise. opts may be NULL. del_cookie sets an empty value
 * that expired in 1970 (Max-Age=0), for the same path and domain. */
WEFT_EXPORT int weft_web_set_cookie(weft_web_response_t *resp,
                                    const char *name, const char *value,
                                    const weft_web_cookie_opts_t *opts);
WEFT_EXPORT int weft_web_del_cookie(weft_web_response_t *resp,
                                    const char *name, const char *path,
                                    const char *domain);

/* The body, from bytes: copied into the request's arena (body) or used in
 * place (body_ref: the memory must stay unchanged until the request ends:
 * static data, the arena, or memory freed by weft_web_defer). Replaces any
 * body set before. Returns 0, -EALREADY (head sent), -ENOMEM. */
WEFT_EXPORT int weft_web_body(weft_web_response_t *resp, const void *data,
                              size_t len);
WEFT_EXPORT int weft_web_body_ref(weft_web_response_t *resp,
                                  const void *data, size_t len);

/* Shortcuts: status, Content-Type and a copied body in one call, returning
 * 0 so that a handler can `return weft_web_text(req, 200, "hi");`.
 * weft_web_text: text/plain; charset=utf-8. weft_web_bytes: the type
 * given (NULL: application/octet-stream). Errors as weft_web_body. */
WEFT_EXPORT int weft_web_text(weft_web_request_t *req, int status,
                              const char *text);
WEFT_EXPORT int weft_web_bytes(weft_web_request_t *req, int status,
                               const char *content_type, const void *data,
                               size_t len);

/* The body, from a file: `len` bytes of fd from `offset`, sent with
 * sendfile after the head (read and encrypted on TLS). fd stays the
 * caller's unless flags has WEFT_WEB_FILE_CLOSE: then the server closes it
 * when the request ends, however it ends. The server sends Content-Length:
 * len; status, ETag, Content-Range and the like are the caller's. A file
 * that turns out shorter than len ends the connection after what there
 * was (the length was promised). Returns 0, -EINVAL (fd < 0, offset < 0),
 * -EALREADY. */
enum { WEFT_WEB_FILE_CLOSE = 1u << 0 };
WEFT_EXPORT int weft_web_body_file(weft_web_response_t *resp, int fd,
                                   off_t offset, off_t len, unsigned flags);

/* A body transformer (compression), installed by a handler, a middleware
 * or an on_response_prepare signal before the head is sent. Every body
 * byte (bytes, file, or stream) passes through write(), in order; the last
 * call has last = true (with len 0 for a stream ended by
 * weft_web_write_eof). write() passes its output on with
 * weft_web_filter_emit (any number of times, any sizes). The length of
 * the output is not known in advance, so a filtered response is sent
 * chunked (HTTP/1.0: until the connection closes), except for a bytes body
 * whose whole output was emitted in its single last call: that one gets a
 * Content-Length. A filter changes the bytes, not the headers: set
 * Content-Encoding (and Vary) yourself. free(state) runs when the request
 * ends, however it ends (may be NULL). write() may wait (it runs in the
 * connection's task) and returns 0 or a negative errno, which fails the
 * response. At most one filter; a second replaces the first (whose free
 * runs at once). */
typedef struct weft_web_filter {
    int (*write)(void *state, weft_web_filter_out_t *out, const void *data,
                 size_t len, bool last);
    void (*free)(void *state);
} weft_web_filter_t;
WEFT_EXPORT int weft_web_set_filter(weft_web_response_t *resp,
                                    const weft_web_filter_t *filter,
                                    void *state);
/* Pass filtered bytes on (copied or sent before it returns). Returns 0 or
 * the connection's error. */
WEFT_EXPORT int weft_web_filter_emit(weft_web_filter_out_t *out,
                                     const void *data, size_t len);

/* ---- streaming (aiohttp's StreamResponse) --------------------------------------
 * prepare sends the head now (after the on_response_prepare signals);
 * then write sends pieces of body, and write_eof ends it. Without a
 * Content-Length the body is chunked (HTTP/1.1) or delimited by the end of
 * the connection (HTTP/1.0). A handler that returns without write_eof gets
 * it done for it. Server-sent events are a stream whose Content-Type is
 * text/event-stream. */

/* The length a stream will have, before prepare: sent as Content-Length
 * (writing more is -EMSGSIZE, ending with less closes the connection).
 * -EALREADY after prepare, -EINVAL (negative). */
WEFT_EXPORT int weft_web_set_content_length(weft_web_response_t *resp,
                                            int64_t len);
/* Send the head. Returns 0, the error of a prepare signal, -EALREADY
 * (sent already), or the connection's error (-EPIPE, -ECONNRESET ...). */
WEFT_EXPORT int weft_web_prepare(weft_web_request_t *req);
/* Whether the head was sent. */
WEFT_EXPORT bool weft_web_prepared(const weft_web_request_t *req);
/* Send a piece of body (prepares first if needed). Copies or sends the
 * bytes before it returns; waits while the client is slow to take them
 * (more than the stream's high-water mark queued), each wait bounded by
 * the runner's send_timeout (-ETIMEDOUT). Returns 0, -EPIPE / -ECONNRESET
 * (the client went away), -ETIMEDOUT, -EMSGSIZE (beyond Content-Length),
 * -ECANCELED. Empty writes are ignored. */
WEFT_EXPORT int weft_web_write(weft_web_request_t *req, const void *data,
                               size_t len);
/* End the body (the last chunk for chunked); waits, as weft_web_write
 * does, while the client is slow to take what is queued. Returns 0 or the
 * errors of weft_web_write. */
WEFT_EXPORT int weft_web_write_eof(weft_web_request_t *req);

/* After the response: close the connection rather than keep it alive
 * ("Connection: close" is sent if the head was not). */
WEFT_EXPORT void weft_web_force_close(weft_web_request_t *req);

/* Take the connection out of HTTP (WebSocket and other upgrades): after a
 * prepared 101 response (or any response whose head was sent), returns
 * the connection's stream for the handler to use as it likes until it
 * returns; the server closes it then and reads no further request.
 * Buffered bytes that followed the request's head are still in the
 * stream. From then on handler_timeout no longer applies to the request
 * (the new protocol's own timeouts do). NULL if the head was not sent. */
WEFT_EXPORT weft_stream_t *weft_web_hijack(weft_web_request_t *req);

/* Body bytes sent so far (after the filter), for logs. */
WEFT_EXPORT uint64_t weft_web_resp_bytes(const weft_web_response_t *resp);

/* ---- connections ------------------------------------------------------------------ */

/* The connection's stream (for a connection hook; a handler uses
 * weft_web_hijack). */
WEFT_EXPORT weft_stream_t *weft_web_conn_stream(weft_web_conn_t *conn);
/* Replace the remote address the connection's requests report (what the
 * PROXY protocol header said).
 * Copied. Returns 0, -EINVAL. */
WEFT_EXPORT int weft_web_conn_set_remote(weft_web_conn_t *conn,
                                         const struct sockaddr *remote,
                                         socklen_t len);
/* Requests served on this connection so far. */
WEFT_EXPORT uint64_t weft_web_conn_requests(const weft_web_conn_t *conn);

/* ---- serving: runners and listeners -------------------------------------------- */

/* How the server treats clients. Zero-initialise (`= {0}`): every 0 is the
 * default given, which is safe on the public internet. Times in seconds;
 * INFINITY turns a timeout off. */
typedef struct weft_web_server_opts {
    /* From the first byte of a request head to its last (slowloris): 408
     * and close when it runs out. 0: 10 s. */
    double head_timeout;
    /* Idle time between requests on a kept-alive connection, after which
     * it is closed quietly. 0: 75 s (aiohttp's, and nginx's). Negative:
     * no keep-alive (every response closes its connection). */
    double keepalive_timeout;
    /* Longest wait for the next piece of a request body (nginx's
     * client_body_timeout): WEFT_WEB_HTTP(408) from the read. 0: 30 s. */
    double body_timeout;
    /* Longest wait for a client to take response bytes (nginx's
     * send_timeout): the write fails with -ETIMEDOUT and the connection is
     * closed. 0: 60 s. */
    double send_timeout;
    /* A deadline scope around each request's middlewares and handler:
     * when it runs out their waits return -ETIMEDOUT, and a request whose
     * handler returns -ETIMEDOUT then is answered 503 (if nothing was sent
     * yet; else its connection is closed). 0: none, since streaming handlers
     * (server-sent events) live for hours; the waits a client controls are
     * bounded by the timeouts above in any case. */
    double handler_timeout;
    /* Graceful shutdown: how long requests in progress may take to finish
     * once the shutdown began before they are cancelled. 0: 10 s. */
    double shutdown_grace;
    /* Connections served at once per worker loop; at the limit, accepting
     * waits. 0: 10,000. */
    size_t max_connections;
    /* Request line (method, target, version): 414 when longer. 0: 8 KiB. */
    size_t max_line;
    /* One header field (name and value): 431 when longer. 0: 8 KiB. */
    size_t max_field;
    /* Number of header fields: 431 when more. 0: 100. */
    size_t max_fields;
    /* The whole head: 431 when larger. 0: 32 KiB. */
    size_t max_head;
    /* Default largest body for weft_web_read_body (apps may set their
     * own): 413. 0: 1 MiB. */
    size_t client_max_size;
    /* Stack of each connection's task, bytes. 0: 64 KiB (pages are used as
     * touched: an idle connection holds the ones it touched). */
    size_t stack_size;
    /* The Server header's value; NULL: none is sent. */
    const char *server_name;
} weft_web_server_opts_t;

enum {
    /* SO_REUSEPORT on this listener (weft_web_run_opts_t.workers sets it). */
    WEFT_WEB_LISTEN_REUSEPORT = 1u << 0,
};

typedef struct weft_web_listen_opts {
    /* TLS: a server context (weft/tls.h) whose ALPN list includes
     * "http/1.1" (weft_web_tls_ctx makes one). The handshake runs in the
     * connection's task, within the head timeout. */
    weft_tls_ctx_t *tls;
    unsigned flags; /* WEFT_WEB_LISTEN_* */
    int backlog;    /* 0: 511 */
    /* Runs first on each connection (see weft_web_conn_fn). */
    weft_web_conn_fn on_connect;
    void *on_connect_arg;
} weft_web_listen_opts_t;

/* A TLS server context for HTTP: cert and key PEM files, ALPN "http/1.1".
 * The caller's (weft_tls_ctx_free, after the runner is freed). Returns
 * the errors of weft_tls_server_ctx. */
WEFT_EXPORT int weft_web_tls_ctx(weft_tls_ctx_t **out, const char *cert_file,
                                 const char *key_file);

/* A runner serves one app on the loop of the calling thread (aiohttp's
 * AppRunner). new: the caller's (weft_web_runner_free). opts may be NULL
 * (and is copied). From a loop's thread. Several runners (one per worker
 * loop) may serve one app. Returns 0, -EINVAL (NULL, or a sub-app),
 * -ENOMEM, -EPERM (no loop running on this thread). */
WEFT_EXPORT int weft_web_runner_new(weft_web_runner_t **out,
                                    weft_web_app_t *app,
                                    const weft_web_server_opts_t *opts);

/* From a task: freeze the app (its routes are compiled; adding more is
 * -EBUSY from now on) and run on_startup and the cleanup contexts' start.
 * Returns 0, or the first startup failure (the cleanup signals have run
 * then), -EALREADY, -EPERM (not in a task). */
WEFT_EXPORT int weft_web_runner_setup(weft_web_runner_t *runner);

/* Listen on host:port (a TCPSite; host NULL: every interface; port "0": an
 * ephemeral one, see weft_web_runner_port) and serve. After setup, any
 * number of times. Returns 0 or the errors of weft_start_server. */
WEFT_EXPORT int weft_web_runner_listen(weft_web_runner_t *runner,
                                       const char *host, const char *port,
                                       const weft_web_listen_opts_t *opts);
/* The same on a Unix socket path (a UnixSite). */
WEFT_EXPORT int weft_web_runner_listen_unix(weft_web_runner_t *runner,
                                            const char *path,
                                            const weft_web_listen_opts_t *opts);
/* The port of the first TCP listener, or 0. */
WEFT_EXPORT int weft_web_runner_port(const weft_web_runner_t *runner);

/* From a task: graceful shutdown, in aiohttp's order: stop accepting on
 * every listener; close the idle keep-alive connections; run on_shutdown;
 * let requests in progress finish for `grace` seconds (negative: the
 * runner's shutdown_grace), answering them with "Connection: close";
 * connections that are between requests then close, and requests still
 * running after the grace period are cancelled; run the cleanup contexts'
 * stop and on_cleanup. Every request whose head was received before the
 * shutdown began gets its full response unless the grace period ran out.
 * Connections a handler took over (weft_web_hijack) are asked to end
 * their own way before on_shutdown: WebSockets (weft/ws.h) get a close
 * frame with 1001.
 * Returns 0, -EALREADY (shut down before), -EPERM (not in a task). */
WEFT_EXPORT int weft_web_runner_shutdown(weft_web_runner_t *runner,
                                         double grace);

/* Free a runner (shutting it down first, with grace 0, if needed, which
 * needs a task). NULL is ignored. */
WEFT_EXPORT void weft_web_runner_free(weft_web_runner_t *runner);

/* Connections open and requests in progress now (tests, metrics). */
WEFT_EXPORT size_t weft_web_runner_connections(const weft_web_runner_t *r);
WEFT_EXPORT uint64_t weft_web_runner_requests(const weft_web_runner_t *r);

/* ---- run_app ---------------------------------------------------------------------- */

typedef struct weft_web_run_opts {
    weft_web_server_opts_t server;
    weft_web_listen_opts_t listen;
    /* Worker loops: 0 or 1: one, on the calling thread. N > 1: N loops,
     * the calling thread's and N - 1 threads, each with its own listener
     * on host:port (SO_REUSEPORT: the kernel spreads connections). */
    unsigned workers;
    /* Called once listening (in worker 0's loop), with the port; e.g. to
     * print "listening on ...". May be NULL. */
    void (*on_listening)(int port, void *arg);
    void *arg;
    /* Set to the signal that stopped the server (SIGINT / SIGTERM), 0 if
     * none did. May be NULL. */
    int *stop_signal;
} weft_web_run_opts_t;

/* aiohttp's web.run_app: make a loop (weft_run) with SIGINT / SIGTERM
 * handling, set the app up, listen on host:port, and serve until the first
 * SIGINT or SIGTERM; then shut down gracefully (weft_web_runner_shutdown:
 * in every worker at once), and return 0. A second signal cuts the grace
 * period short, a third ends the process as without weft. Not from a
 * loop's thread (-EBUSY). Returns 0, or the first error of startup
 * (listening, a startup signal), or -EINVAL. The app stays the caller's. */
WEFT_EXPORT int weft_web_run_app(weft_web_app_t *app, const char *host,
                                 const char *port,
                                 const weft_web_run_opts_t *opts);

#ifdef __cplusplus
}
#endif
#endif
