/* Serving: runners, listeners, and the connection task that reads heads
 * in place from the stream's buffer, routes them, runs the middlewares
 * and the handler, and writes the response.
 *
 * One task per connection, made by weft's server (net.h); a request runs
 * in it, so a steady stream of keep-alive requests costs no spawn, no
 * malloc (the head is parsed in place, the arena's first block is on the
 * task's stack) and, for a small response, one write system call. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "web_int.h"
#include "weft/httpmsg.h"
#include "weft/tls.h"

/* A request's fields go into an array on serve_one's stack, enough for
 * what browsers and clients send (15-25 fields); a head with more is
 * parsed again into a heap array of max_fields. Small on purpose: the
 * frame stays on a WebSocket's parked stack for the connection's life. */
#define FIELDS_ON_STACK 32
#define ARENA_ON_STACK 2048

static bool task_cancelled(void) {
    struct weft_task *t = weft__task_current();
    return t && (t->flags & WEFT__TASK_CANCELLED);
}

/* ---- defaults ----------------------------------------------------------------------- */

static double dflt(double v, double d) {
    return v == 0 || isnan(v) ? d : v;
}

static size_t dflt_size(size_t v, size_t d) {
    return v ? v : d;
}

static void fill_defaults(weft_web_server_opts_t *o) {
    o->head_timeout = dflt(o->head_timeout, 10);
    o->keepalive_timeout = dflt(o->keepalive_timeout, 75);
    o->body_timeout = dflt(o->body_timeout, 30);
    o->send_timeout = dflt(o->send_timeout, 60);
    o->handler_timeout = dflt(o->handler_timeout, INFINITY);
    o->shutdown_grace = dflt(o->shutdown_grace, 10);
    o->max_connections = dflt_size(o->max_connections, 10000);
    o->max_line = dflt_size(o->max_line, 8192);
    o->max_field = dflt_size(o->max_field, 8192);
    o->max_fields = dflt_size(o->max_fields, 100);
    o->max_head = dflt_size(o->max_head, 32768);
    o->client_max_size = dflt_size(o->client_max_size, 1u << 20);
    o->stack_size = dflt_size(o->stack_size, 64 * 1024);
}

/* ---- the chain ---------------------------------------------------------------------- */

struct weft_web_next {
    const struct web_mw *mw;
    size_t n, i;
    weft_web_handler_fn fn;
    void *arg;
    bool used;
};

int weft_web_next(weft_web_request_t *req, weft_web_next_t *next) {
    if (!req || !next)
        return -EINVAL;
    if (next->used) {
        weft__log(WEFT_LOG_WARN, "weft_web_next: called twice by one "
                                 "middleware");
        return -EINVAL;
    }
    next->used = true;
    if (next->i < next->n) {
        weft_web_next_t rest = *next;
        rest.i++;
        rest.used = false;
        const struct web_mw *m = &next->mw[next->i];
        return m->fn(req, &rest, m->arg);
    }
    return next->fn(req, next->arg);
}

/* ---- answers of the router ------------------------------------------------------------ */

static int not_found(weft_web_request_t *req, void *arg) {
    (void)req, (void)arg;
    return WEFT_WEB_HTTP(404);
}

static int options_star(weft_web_request_t *req, void *arg) {
    (void)arg;
    int err = weft_web_set_status(&req->resp, 204, NULL);
    return err ? err : weft_web_body_ref(&req->resp, "", 0);
}

/* "GET, HEAD, POST" from the router's list; HEAD goes with GET. */
static char *allow_list(weft_web_request_t *req, bool options) {
    const struct wr_match *m = &req->match;
    size_t n = 32;
    for (size_t i = 0; i < m->nallow; i++)
        n += strlen(m->allow[i]) + 2;
    char *s = weft_web_alloc(req, n);
    if (!s)
        return NULL;
    s[0] = '\0';
    bool get = false, head = false, opt = false;
    for (size_t i = 0; i < m->nallow; i++) {
        get |= !strcmp(m->allow[i], "GET");
        head |= !strcmp(m->allow[i], "HEAD");
        opt |= !strcmp(m->allow[i], "OPTIONS");
    }
    for (size_t i = 0; i < m->nallow; i++) {
        if (s[0])
            strcat(s, ", ");
        strcat(s, m->allow[i]);
    }
    if (get && !head)
        strcat(s, s[0] ? ", HEAD" : "HEAD");
    if (options && !opt)
        strcat(s, s[0] ? ", OPTIONS" : "OPTIONS");
    return s;
}

static int not_allowed(weft_web_request_t *req, void *arg) {
    (void)arg;
    bool options = req->method == WEFT_HTTP_OPTIONS;
    int err = weft__web_error_response(req, options ? 204 : 405);
    char *allow = allow_list(req, options);
    if (!err)
        err = allow ? weft_web_set_header(&req->resp, "Allow", allow)
                    : -ENOMEM;
    if (!err && options)
        err = weft_web_body_ref(&req->resp, "", 0);
    return err;
}

/* ---- the request target ------------------------------------------------------------- */

/* Parse the target (origin-, absolute- or asterisk-form) and normalise its
 * path for routing: percent-decoded segment by segment, dot segments
 * removed, an encoded '/' or '%' kept encoded (weft/httpmsg.h). Returns 0,
 * WEFT_WEB_HTTP(400) or (501, CONNECT), -ENOMEM. */
static int parse_target(weft_web_request_t *req) {
    weft_http_target_t t;
    if (weft_http_target_parse(&t, req->method_name.ptr, req->method_name.len,
                               req->target.ptr, req->target.len) < 0)
        return WEFT_WEB_HTTP(400);
    if (t.form == WEFT_HTTP_TARGET_AUTHORITY)
        return WEFT_WEB_HTTP(501); /* CONNECT: we are no proxy */
    weft_span_t path = t.url.path;
    if (t.form == WEFT_HTTP_TARGET_ASTERISK) {
        req->raw_path = path;
        req->query = (weft_span_t){path.ptr + path.len, 0};
        req->path = "*";
        req->path_len = 1;
        return 0;
    }
    req->raw_path = path.len ? path : (weft_span_t){"/", 1};
    req->query = t.url.query.ptr ? t.url.query
                                 : (weft_span_t){path.ptr + path.len, 0};
    size_t cap = req->raw_path.len + 2;
    char *d = weft__arena_alloc(&req->arena, cap);
    if (!d)
        return -ENOMEM;
    ssize_t n = weft_http_path_normalize(d, cap, req->raw_path.ptr,
                                         req->raw_path.len, 0);
    if (n < 0)
        return WEFT_WEB_HTTP(400);
    req->path = d;
    req->path_len = (size_t)n;
    return 0;
}

/* A variable's value as the handler sees it: decoded ("a%2Fb" is "a/b"). */
static const char *var_value(weft_web_request_t *req, weft_span_t v) {
    char *d = weft_web_alloc(req, v.len + 1);
    if (d && weft_pct_decode(d, v.len + 1, v.ptr, v.len, 0) < 0)
        d = weft_web_strndup(req, v.ptr, v.len);
    return d;
}

/* ---- one request ---------------------------------------------------------------------- */

static void log_failure(weft_web_request_t *req, int err) {
    weft__log(WEFT_LOG_ERROR, "%.*s %.*s HTTP/1.%d: handler failed: %s",
              (int)req->method_name.len, req->method_name.ptr,
              (int)(req->target.len > 200 ? 200 : req->target.len),
              req->target.ptr, req->version - 10, weft_err_name(err));
}

/* Route, run the chain, and turn its result into a response. Returns
 * false when the connection must close. */
static bool handle(weft_web_request_t *req) {
    weft_web_runner_t *run = req->conn->runner;
    weft_web_app_t *root = run->app;
    weft_web_handler_fn fn = not_found;
    void *arg = NULL;
    int err = parse_target(req);
    if (!err && req->path[0] == '*') {
        /* OPTIONS *: about the server, not a resource. */
        fn = options_star;
    } else if (!err) {
        int lerr = 0;
        if (wr_router_lookup(root->router, req->method_name.ptr,
                             req->method_name.len, req->path, req->path_len,
                             &req->match, &lerr)) {
            const struct web_route *rt = req->match.route->payload;
            req->route = rt;
            req->app = rt->app;
            fn = rt->fn;
            arg = rt->arg;
            if (req->match.nvars) {
                req->match_vals = weft_web_alloc(
                    req, req->match.nvars * sizeof(char *));
                if (!req->match_vals)
                    err = -ENOMEM;
            }
            for (size_t i = 0; i < req->match.nvars && !err; i++) {
                req->match_vals[i] = var_value(
                    req, (weft_span_t){req->match.vars[i].ptr,
                                       req->match.vars[i].len});
                if (!req->match_vals[i])
                    err = -ENOMEM;
            }
        } else {
            err = lerr;
            req->app = weft__web_app_for(root, req->path, req->path_len);
            if (req->match.nallow)
                fn = not_allowed;
        }
    }
    if (!req->app)
        req->app = root;
    if (!err) {
        weft_web_next_t next = {req->app->chain, req->app->nchain, 0, fn,
                                arg, false};
        bool timed = isfinite(run->o.handler_timeout);
        weft_scope_t sc;
        if (timed)
            err = weft_scope_enter(&sc, run->o.handler_timeout, 0);
        if (!err) {
            req->in_chain = true;
            req->handler_scope = timed ? &sc : NULL;
            err = weft_web_next(req, &next);
            req->handler_scope = NULL;
            req->in_chain = false;
            if (timed && weft_scope_exit(&sc) == -ETIMEDOUT &&
                err == -ETIMEDOUT)
                err = WEFT_WEB_HTTP(503);
        }
    }
    if (task_cancelled())
        return false; /* the connection is going away */
    if (err == -ECANCELED) {
        /* A handler that stopped on a graceful shutdown (an event stream
         * in a stoppable scope): end what it streamed properly. */
        if (req->resp.prepared && !req->hijacked)
            weft__web_finish(req);
        return false;
    }
    if (err) {
        if (!WEFT_WEB_IS_HTTP(err)) {
            log_failure(req, err);
            err = WEFT_WEB_HTTP(500);
        }
        if (req->resp.prepared)
            return false; /* too late for a status: cut it short */
        if (weft__web_error_response(req, WEFT_WEB_HTTP_STATUS(err)))
            return false;
    }
    err = weft__web_finish(req);
    if (err && err != -EPIPE && err != -ECONNRESET && err != -ECANCELED &&
        err != -ETIMEDOUT && !task_cancelled() && !req->resp.prepared) {
        /* A prepare signal or a filter failed before anything was sent. */
        log_failure(req, err);
        if (!weft__web_error_response(req, 500)) {
            req->resp.signalled = true;
            req->resp.filter = NULL;
            err = weft__web_finish(req);
        }
    }
    return err == 0 && !req->close;
}

/* Answer a head the parser refused (or one we refuse), and close. */
static void refuse(weft_web_request_t *req, int status) {
    req->close = true;
    req->keep_alive = false;
    req->resp.signalled = true; /* no app signals for a broken request */
    if (weft__web_error_response(req, status) == 0)
        weft__web_finish(req);
}

/* The request is over: signals for the access log, deferred clean-up. */
static void request_end(weft_web_request_t *req) {
    weft_web_app_t *app = req->app ? req->app : req->conn->runner->app;
    for (size_t i = 0; i < app->nsent; i++) {
        weft_web_sent_fn fn = (weft_web_sent_fn)app->sent_chain[i].fn;
        fn(req, app->sent_chain[i].arg);
    }
    while (req->defers) {
        struct web_defer *d = req->defers;
        req->defers = d->next;
        d->fn(d->arg);
    }
    weft_web_response_t *resp = &req->resp;
    if (resp->filter && resp->filter->free)
        resp->filter->free(resp->fstate);
    resp->filter = NULL;
    if (resp->kind == BODY_FILE && (resp->fflags & WEFT_WEB_FILE_CLOSE)) {
        close(resp->fd);
        resp->kind = BODY_NONE;
    }
}

/* ---- the connection ------------------------------------------------------------------- */

static uint64_t secs_ns(double secs) {
    uint64_t ns;
    return weft__secs_to_ns(secs, &ns) ? WEFT__NS_INF : ns;
}

/* After this long idle, a connection's task hibernates (weft/task.h): its
 * stack's pages all go back, the few hundred bytes its parked frames use
 * copied aside. Where it cannot (a stack below 16 KiB), the pages below
 * its stack pointer go back (what the deepest request touched). */
#define TRIM_AFTER_NS (2 * WEFT__NS_PER_SEC)

static uint64_t next_fire(const weft_web_conn_t *c, uint64_t now) {
    uint64_t base = c->idle ? c->idle_since : now;
    uint64_t step = c->idle_limit;
    if (!c->trimmed && TRIM_AFTER_NS < step)
        step = TRIM_AFTER_NS;
    uint64_t when = base + step;
    return when > WEFT__NS_INF ? WEFT__NS_INF : when;
}

static void idle_fire(struct weft__timer *tm) {
    weft_web_conn_t *c = WEFT__CONTAINER_OF(tm, weft_web_conn_t, idle_timer);
    weft_loop_t *loop = c->runner->loop;
    uint64_t now = loop->now;
    if (c->idle && now - c->idle_since >= c->idle_limit) {
        weft_task_cancel(c->task); /* its idle wait ends; it closes */
        return;
    }
    if (c->idle && !c->trimmed && now - c->idle_since >= TRIM_AFTER_NS) {
        if (weft_task_hibernate(c->task) < 0)
            weft__task_trim_stack(c->task);
        c->trimmed = true;
    }
    weft__loop_timer_arm(loop, tm, next_fire(c, now));
}

/* Wait for the first byte of the next request: at most keepalive_timeout
 * (head_timeout before the first request); a graceful shutdown ends the
 * wait. Returns > 0 when bytes are there. */
static ssize_t wait_idle(weft_web_conn_t *c) {
    if (weft_stream_buffered(c->s) > 0)
        return 1;
    if (weft_stop_requested())
        return 0; /* idle: closed at once, as nginx and aiohttp do */
    weft_web_runner_t *run = c->runner;
    double t = c->nreq ? run->o.keepalive_timeout : run->o.head_timeout;
    c->idle_limit = secs_ns(t < 0 ? 0 : t);
    c->idle_since = run->loop->now;
    c->idle = true;
    c->trimmed = false;
    if (!weft__timer_armed(&c->idle_timer) &&
        weft__loop_timer_arm(run->loop, &c->idle_timer,
                             next_fire(c, run->loop->now)))
        return 0;
    /* No stoppable scope here (two scope operations a request): the
     * runner's shutdown cancels the connections it finds idle, and one
     * that finishes a request later sees weft_stop_requested above. */
    const void *buf;
    ssize_t n = weft_stream_wait_data(c->s, 1, &buf);
    c->idle = false;
    return n;
}

/* weft_http1_parse_request, into the stack's field array first; a head
 * with more fields than it holds (and max_fields allows) is parsed again,
 * from its start, into a heap array (*big, freed by serve_one). */
static int parse_head(weft_web_conn_t *c, weft_http1_head_t *head,
                      const char *data, size_t n, size_t prev,
                      weft_http1_limits_t *lim, weft_http_field_t **big) {
    int r = weft_http1_parse_request(head, data, n, prev, lim);
    /* (A field line takes 3 bytes at least: a max_fields past what
     * max_head can hold asks for no bigger array, nor a wrapped size.) */
    size_t head_max = c->runner->o.max_head;
    size_t max = c->runner->o.max_fields,
           fit = (head_max > 1u << 30 ? 1u << 30 : head_max) / 3 + 1;
    if (max > fit)
        max = fit;
    if (r != WEFT_EHTTP_TOO_MANY_FIELDS || *big || max <= head->max_fields)
        return r;
    *big = weft__malloc(max * sizeof **big);
    if (!*big)
        return -ENOMEM;
    head->fields = *big;
    head->max_fields = max;
    lim->max_fields = (uint32_t)(max > UINT32_MAX ? UINT32_MAX : max);
    return weft_http1_parse_request(head, data, n, 0, lim);
}

/* Read and parse the head. Returns its length (head->...), 0 to close
 * quietly, or a status to refuse it with (negative: -status). */
static int read_head(weft_web_conn_t *c, weft_http1_head_t *head,
                     const char **buf, weft_http_field_t **big) {
    const weft_web_server_opts_t *o = &c->runner->o;
    weft_http1_limits_t lim = {
        .max_start_line = (uint32_t)(o->max_line > 1u << 30 ? 1u << 30
                                                            : o->max_line),
        .max_head = (uint32_t)(o->max_head > 1u << 30 ? 1u << 30
                                                      : o->max_head),
        .max_fields = (uint32_t)head->max_fields,
    };
    const void *data;
    ssize_t n = weft_stream_wait_data(c->s, 0, &data); /* never waits */
    int r = parse_head(c, head, data, (size_t)n, 0, &lim, big);
    if (r == -EAGAIN) {
        /* The rest of the head comes in pieces: bound it in time. */
        weft_scope_t sc;
        if (weft_scope_enter(&sc, o->head_timeout, WEFT_SCOPE_STOPPABLE))
            return 0;
        while (r == -EAGAIN) {
            size_t prev = (size_t)n;
            n = weft_stream_wait_data(c->s, prev + 1, &data);
            if (n == -EMSGSIZE) {
                r = WEFT_EHTTP_HEAD_TOO_LARGE;
                break;
            }
            if (n < 0 || (size_t)n <= prev) {
                r = n == -ETIMEDOUT ? -408 : 0;
                break;
            }
            r = parse_head(c, head, data, (size_t)n, prev, &lim, big);
        }
        int se = weft_scope_exit(&sc);
        if (r == 0 && se == -ETIMEDOUT)
            r = -408;
        if (r == 0 || r == -408)
            return r;
    }
    *buf = data;
    if (r < 0) {
        int status = r == -ENOMEM ? 503 : weft_http1_error_status(r);
        return -(status ? status : 400);
    }
    return r;
}

/* Serve one request; false when the connection must close. */
/* Serve the request whose first bytes are buffered; false when the
 * connection must close. Everything a request needs on the stack (the
 * field array, the arena's first block, the request) lives in this frame,
 * below the one the idle wait parks in, so that an idle connection's
 * stack can be trimmed back to its shallow idle frames. */
static bool __attribute__((noinline)) serve_one(weft_web_conn_t *c) {
    weft_web_runner_t *run = c->runner;
    weft_http_field_t stack_fields[FIELDS_ON_STACK], *big = NULL;
    size_t max_fields = run->o.max_fields < FIELDS_ON_STACK
                            ? run->o.max_fields
                            : FIELDS_ON_STACK;
    char arena0[ARENA_ON_STACK] __attribute__((aligned(16)));
    c->busy = true;
    weft_web_request_t req;
    memset(&req, 0, sizeof req);
    req.arena = (struct arena){arena0, sizeof arena0, 0, arena0,
                               sizeof arena0, NULL};
    req.conn = c;
    req.resp.req = &req;
    req.resp.status = 200;
    req.resp.fd = -1;
    req.resp.content_length = -1;
    req.version = 11;
    weft_http1_head_t head = {.fields = stack_fields,
                              .max_fields = max_fields};
    const char *buf = NULL;
    int r = read_head(c, &head, &buf, &big);
    bool keep = false;
    if (r > 0) {
        req.head_len = (size_t)r;
        req.time = weft_loop_time(run->loop);
        req.method = head.method_id;
        req.method_name = head.method;
        req.target = head.target;
        req.version = 10 + head.minor;
        req.keep_alive = (head.flags & WEFT_HTTP1_KEEP_ALIVE) != 0;
        req.fields = head.fields;
        req.nfields = head.nfields;
        if (head.fields == stack_fields)
            req.fields_end = stack_fields + FIELDS_ON_STACK;
        req.framing = head.framing == WEFT_HTTP1_CHUNKED  ? FRAME_CHUNKED
                      : head.framing == WEFT_HTTP1_LENGTH ? FRAME_LENGTH
                                                          : FRAME_NONE;
        req.content_length = (int64_t)head.content_length;
        req.body_done = req.framing == FRAME_NONE ||
                        (req.framing == FRAME_LENGTH &&
                         head.content_length == 0);
        req.expect_continue = (head.flags & WEFT_HTTP1_EXPECT_CONTINUE) != 0;
        weft_http1_body_init(&req.dec, &head, NULL, 0);
        int status = 0;
        for (size_t i = 0; i < head.nfields; i++)
            if (head.fields[i].name.len + head.fields[i].value.len + 2 >
                run->o.max_field)
                status = 431;
        if (!status && req.version == 11 && !(head.flags & WEFT_HTTP1_HOST))
            status = 400; /* RFC 9112 section 3.2 */
        if (!status && (head.flags & WEFT_HTTP1_EXPECT_OTHER))
            status = 417;
        run->nreq++;
        c->nreq++;
        if (status)
            refuse(&req, status);
        else
            keep = handle(&req);
        if (keep && !req.hijacked)
            keep = weft__web_body_skip(&req, SKIP_LIMIT);
        request_end(&req);
    } else if (r < 0) {
        refuse(&req, -r);
        request_end(&req);
    }
    if (keep && !req.head_consumed)
        weft_stream_consume(c->s, req.head_len);
    /* We close a connection the client may still be sending on (it asked
     * to keep it, the body is unread, or its head was refused): linger. */
    if (!keep && r != 0 && !req.hijacked &&
        (r < 0 || req.keep_alive || !req.body_done))
        c->linger = true;
    weft__arena_reset(&req.arena);
    weft__free(big);
    c->busy = false;
    return keep;
}

/* Closing a connection whose client may still be sending: a close with
 * unread bytes makes the kernel send a reset, and a reset can make the
 * client's kernel drop the response it has not read yet (RFC 9112
 * section 9.6; nginx's lingering_close). Send our end (FIN) first, then
 * read and drop what comes, until the client closes, LINGER_MAX bytes, or
 * LINGER_S seconds. */
#define LINGER_S 5.0
#define LINGER_MAX (256 * 1024)

/* Not inlined: its buffer would sit in the idle frames for good. */
static void __attribute__((noinline)) linger(weft_web_conn_t *c) {
    weft_scope_t sc;
    if (weft_scope_enter(&sc, LINGER_S, 0))
        return;
    if (weft_stream_shutdown(c->s) == 0) {
        char buf[4096];
        size_t total = 0;
        ssize_t n;
        while ((n = weft_stream_read(c->s, buf, sizeof buf)) > 0 &&
               (total += (size_t)n) < LINGER_MAX) {
        }
    }
    weft_scope_exit(&sc);
}

static int serve(weft_web_conn_t *c) {
    while (wait_idle(c) > 0 && serve_one(c)) {
    }
    if (c->linger && !task_cancelled())
        linger(c);
    return 0;
}

/* Before the first request: the listener's hook (PROXY protocol) and the
 * TLS handshake, together within head_timeout; a graceful shutdown ends
 * them. */
static int greet(weft_web_conn_t *c) {
    struct web_listener *l = c->listener;
    if (!l->opts.on_connect && !l->opts.tls)
        return 0;
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, c->runner->o.head_timeout,
                               WEFT_SCOPE_STOPPABLE);
    if (err)
        return err;
    if (l->opts.on_connect)
        err = l->opts.on_connect(c, l->opts.on_connect_arg);
    if (!err && l->opts.tls) {
        err = weft_tls_server(c->s, l->opts.tls);
        if (err && err != -ECANCELED && err != -ETIMEDOUT)
            weft__log(WEFT_LOG_INFO, "%s", weft_tls_error(c->s));
        c->tls = err == 0;
    }
    weft_scope_exit(&sc);
    return err;
}

static void runner_maybe_free(weft_web_runner_t *run);

int weft__web_conn_main(weft_stream_t *s, void *arg) {
    struct web_listener *l = arg;
    weft_web_runner_t *run = l->runner;
    /* On the heap, not the task's stack: the runner's list and the timer
     * heap point to it, and an idle connection's task hibernates (its
     * stack's pages go back: idle_fire). */
    weft_web_conn_t *c = weft__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->runner = run;
    c->listener = l;
    c->s = s;
    c->task = weft_task_current();
    weft__timer_init(&c->idle_timer, idle_fire);
    if (!(c->peer = weft__server_peer(s, &c->peer_len))) {
        if (!(c->peer_own = weft__calloc(1, sizeof *c->peer_own))) {
            weft__free(c);
            return -ENOMEM;
        }
        c->peer_len = sizeof *c->peer_own;
        if (weft_stream_peername(s, c->peer_own, &c->peer_len) < 0) {
            c->peer_len = sizeof(sa_family_t);
            c->peer_own->ss_family = AF_UNIX;
        }
        c->peer = (const struct sockaddr *)c->peer_own;
    }
    weft__list_push_back(&run->conns, &c->link);
    run->nconns++;
    if (!run->shutting_down && !weft_stop_requested() && greet(c) == 0)
        serve(c);
    weft__loop_timer_cancel(run->loop, &c->idle_timer);
    weft__list_remove(&c->link);
    weft__free(c->remote);
    weft__free(c->peer_own);
    weft__free(c);
    run->nconns--;
    if (run->nconns == 0)
        weft__wait_wake(run->drained, 0);
    runner_maybe_free(run);
    return 0;
}

void weft__web_conn_on_shutdown(weft_web_request_t *req,
                                void (*fn)(void *arg), void *arg) {
    req->conn->on_shutdown = fn;
    req->conn->on_shutdown_arg = arg;
}

void weft__web_conn_linger(weft_web_request_t *req) {
    req->conn->linger = true;
}

size_t weft__web_req_unused(const weft_web_request_t *req,
                            struct weft__span *out, size_t max) {
    size_t n = 0;
#define UNUSED_SPAN(l, h)                                                      \
    do {                                                                       \
        if (n < max)                                                           \
            out[n++] = (struct weft__span){(l), (h)};                          \
    } while (0)
    const struct arena *a = &req->arena;
    if (a->base == a->first && a->used < a->cap)
        UNUSED_SPAN(a->first + a->used, a->first + a->cap);
    if (req->fields_end && req->fields + req->nfields < req->fields_end)
        UNUSED_SPAN(req->fields + req->nfields, req->fields_end);
    /* The match's variables were decoded into the arena (match_vals) and
     * are not read again; its methods are read only when no route was
     * found. Those in use are left in all the same. */
    const struct wr_match *m = &req->match;
    if (req->route) {
        if (m->nvars < WR_MAX_VARS)
            UNUSED_SPAN(m->vars + m->nvars, m->vars + WR_MAX_VARS);
        UNUSED_SPAN(m->allow, m->allow + WR_MAX_ALLOW);
    }
#undef UNUSED_SPAN
    return n;
}

weft_stream_t *weft_web_conn_stream(weft_web_conn_t *conn) {
    return conn ? conn->s : NULL;
}

int weft_web_conn_set_remote(weft_web_conn_t *conn,
                             const struct sockaddr *remote, socklen_t len) {
    if (!conn || !remote || len == 0 || len > sizeof *conn->remote)
        return -EINVAL;
    if (!conn->remote) {
        conn->remote = weft__malloc(sizeof *conn->remote);
        if (!conn->remote)
            return -ENOMEM;
    }
    memcpy(conn->remote, remote, len);
    conn->remote_len = len;
    return 0;
}

uint64_t weft_web_conn_requests(const weft_web_conn_t *conn) {
    return conn ? conn->nreq : 0;
}

/* ---- runners ------------------------------------------------------------------------ */

int weft_web_runner_new(weft_web_runner_t **out, weft_web_app_t *app,
                        const weft_web_server_opts_t *opts) {
    if (!out || !app || app->parent)
        return -EINVAL;
    *out = NULL;
    weft_loop_t *loop = weft_loop_current();
    if (!loop) {
        weft__log(WEFT_LOG_WARN, "weft_web_runner_new: no loop runs on this "
                                 "thread");
        return -EPERM;
    }
    weft_web_runner_t *run = weft__calloc(1, sizeof *run);
    if (!run)
        return -ENOMEM;
    run->loop = loop;
    run->app = app;
    if (opts)
        run->o = *opts;
    fill_defaults(&run->o);
    if (run->o.server_name)
        run->server_name_len = strlen(run->o.server_name);
    weft__list_init(&run->conns);
    atomic_fetch_add(&app->users, 1);
    *out = run;
    return 0;
}

/* Every app of the tree, root first, in mount order. */
static size_t tree_apps(weft_web_app_t *app, weft_web_app_t **v, size_t n,
                        size_t cap) {
    if (n < cap)
        v[n] = app;
    n++;
    for (size_t i = 0; i < app->subs.n; i++)
        n = tree_apps(app->subs.v[i].app, v, n, cap);
    return n;
}

static weft_web_app_t **all_apps(weft_web_app_t *root, size_t *n) {
    *n = tree_apps(root, NULL, 0, 0);
    weft_web_app_t **v = weft__malloc(*n * sizeof *v);
    if (v)
        tree_apps(root, v, 0, *n);
    return v;
}

static void run_signals(weft_web_app_t **apps, size_t n, size_t which,
                        const char *what) {
    for (size_t a = 0; a < n; a++) {
        weft_web_app_t *app = apps[a];
        struct web_sig *v = which == 0 ? app->shutdown.v : app->cleanup.v;
        size_t cnt = which == 0 ? app->shutdown.n : app->cleanup.n;
        for (size_t i = 0; i < cnt; i++) {
            int err = v[i].fn(app, v[i].arg);
            if (err < 0)
                weft__log(WEFT_LOG_ERROR, "web: an %s signal failed: %s",
                          what, weft_strerror(err));
        }
    }
}

/* Cleanup contexts' stop, in reverse, for those started; then
 * on_cleanup. */
static void cleanup(weft_web_runner_t *run) {
    size_t n;
    weft_web_app_t **apps = all_apps(run->app, &n);
    if (!apps)
        return;
    size_t k = 0; /* context index in start order */
    size_t total = 0;
    for (size_t a = 0; a < n; a++)
        total += apps[a]->ctxs.n;
    for (size_t a = n; a-- > 0;) {
        weft_web_app_t *app = apps[a];
        for (size_t i = app->ctxs.n; i-- > 0;) {
            k = 0;
            for (size_t b = 0; b < a; b++)
                k += apps[b]->ctxs.n;
            k += i;
            if (k < run->nctx_started)
                app->ctxs.v[i].stop(app, app->ctxs.v[i].arg);
        }
    }
    (void)total;
    run->nctx_started = 0;
    run_signals(apps, n, 1, "on_cleanup");
    weft__free(apps);
}

int weft_web_runner_setup(weft_web_runner_t *run) {
    if (!run)
        return -EINVAL;
    if (!weft__task_require("weft_web_runner_setup"))
        return -EPERM;
    if (run->setup)
        return -EALREADY;
    int err = weft__web_app_freeze(run->app);
    if (err)
        return err;
    run->setup = true;
    size_t n;
    weft_web_app_t **apps = all_apps(run->app, &n);
    if (!apps)
        return -ENOMEM;
    for (size_t a = 0; a < n && !err; a++)
        for (size_t i = 0; i < apps[a]->startup.n && !err; i++)
            err = apps[a]->startup.v[i].fn(apps[a], apps[a]->startup.v[i].arg);
    for (size_t a = 0; a < n && !err; a++)
        for (size_t i = 0; i < apps[a]->ctxs.n && !err; i++) {
            err = apps[a]->ctxs.v[i].fn(apps[a], apps[a]->ctxs.v[i].arg);
            if (err >= 0)
                run->nctx_started++;
        }
    weft__free(apps);
    if (err < 0) {
        cleanup(run);
        run->shut_down = true;
        return err;
    }
    run->started_ok = true;
    return 0;
}

static int listen_common(weft_web_runner_t *run, const char *host,
                         const char *port, const char *path,
                         const weft_web_listen_opts_t *opts) {
    if (!run)
        return -EINVAL;
    if (!run->started_ok || run->shutting_down) {
        weft__log(WEFT_LOG_WARN, "weft_web_runner_listen: %s",
                  run->shutting_down ? "the runner is shut down"
                                     : "set the runner up first");
        return -EINVAL;
    }
    struct web_listener *l = weft__calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->runner = run;
    if (opts)
        l->opts = *opts;
    weft_server_opts_t so = {0};
    so.backlog = l->opts.backlog;
    so.max_connections = run->o.max_connections;
    so.handler_stack_size = run->o.stack_size;
    if (l->opts.flags & WEFT_WEB_LISTEN_REUSEPORT)
        so.flags |= WEFT_SERVER_REUSEPORT;
    so.stream.limit = run->o.max_head + 1024;
    if (so.stream.limit < 65536)
        so.stream.limit = 65536;
    int err = path ? weft_start_unix_server(run->loop, &l->srv, path,
                                            weft__web_conn_main, l, &so)
                   : weft_start_server(run->loop, &l->srv, host, port,
                                       weft__web_conn_main, l, &so);
    if (err) {
        weft__free(l);
        return err;
    }
    if (run->ls.n == run->ls.cap) {
        size_t cap = run->ls.cap ? run->ls.cap * 2 : 2;
        struct web_listener **v = weft__realloc(run->ls.v, cap * sizeof *v);
        if (!v) {
            weft_server_close(l->srv, 0);
            weft__free(l);
            return -ENOMEM;
        }
        run->ls.v = v;
        run->ls.cap = cap;
    }
    run->ls.v[run->ls.n++] = l;
    return 0;
}

int weft_web_runner_listen(weft_web_runner_t *run, const char *host,
                           const char *port,
                           const weft_web_listen_opts_t *opts) {
    if (!port)
        return -EINVAL;
    return listen_common(run, host, port, NULL, opts);
}

int weft_web_runner_listen_unix(weft_web_runner_t *run, const char *path,
                                const weft_web_listen_opts_t *opts) {
    if (!path)
        return -EINVAL;
    return listen_common(run, NULL, NULL, path, opts);
}

int weft_web_runner_port(const weft_web_runner_t *run) {
    for (size_t i = 0; run && i < run->ls.n; i++) {
        int p = weft_server_port(run->ls.v[i]->srv);
        if (p)
            return p;
    }
    return 0;
}

size_t weft_web_runner_connections(const weft_web_runner_t *run) {
    return run ? run->nconns : 0;
}

uint64_t weft_web_runner_requests(const weft_web_runner_t *run) {
    return run ? run->nreq : 0;
}

static int close_listener(void *arg) {
    struct web_listener *l = arg;
    /* Stops accepting and asks every connection to stop (soft
     * cancellation: idle ones end at once); the runner cancels them for
     * real when its grace period ends. Returns once they all ended. */
    return weft_server_close(l->srv, INFINITY);
}

/* Wait until no connection is left (interruptible: a deadline ends it). */
static int wait_drained(weft_web_runner_t *run, bool noint) {
    while (run->nconns > 0) {
        struct weft__wait w = {.noint = noint};
        run->drained = &w;
        int r = weft__park(&w);
        run->drained = NULL;
        if (r < 0)
            return r;
    }
    return 0;
}

int weft_web_runner_shutdown(weft_web_runner_t *run, double grace) {
    if (!run)
        return -EINVAL;
    if (!weft__task_require("weft_web_runner_shutdown"))
        return -EPERM;
    if (run->shutting_down)
        return -EALREADY;
    if (grace < 0 || isnan(grace))
        grace = run->o.shutdown_grace;
    /* 1-2. Stop accepting; idle keep-alive connections close. Without
     * memory for that nothing has changed (weft_web_runner_free then
     * cancels the connections). */
    weft_task_t **closers = weft__calloc(run->ls.n + 1, sizeof *closers);
    if (!closers)
        return -ENOMEM;
    run->shutting_down = true;
    for (size_t i = 0; i < run->ls.n; i++) {
        weft_spawn_opts_t so = {.name = "web-close"};
        if (weft_spawn(&closers[i], close_listener, run->ls.v[i], &so) < 0)
            closers[i] = NULL;
    }
    weft_yield(); /* let them stop the listeners first */
    /* Connections taken over by another protocol end their way
     * (WebSockets: a close frame 1001), their handlers still running;
     * idle keep-alive connections (those between requests) close. */
    struct weft__list *it, *tmp;
    weft__list_foreach_safe(it, tmp, &run->conns) {
        weft_web_conn_t *c = WEFT__CONTAINER_OF(it, weft_web_conn_t, link);
        if (c->on_shutdown)
            c->on_shutdown(c->on_shutdown_arg);
        else if (c->idle)
            weft_task_cancel(c->task);
    }
    /* 3. on_shutdown. */
    if (run->started_ok) {
        size_t n;
        weft_web_app_t **apps = all_apps(run->app, &n);
        if (apps) {
            run_signals(apps, n, 0, "on_shutdown");
            weft__free(apps);
        }
    }
    /* 4-5. Requests in progress finish within grace, then are cancelled. */
    weft_scope_t sc;
    if (weft_scope_enter(&sc, grace, 0) == 0) {
        wait_drained(run, false);
        weft_scope_exit(&sc);
    }
    if (run->nconns > 0) {
        struct weft__list *pos;
        for (pos = run->conns.next; pos != &run->conns; pos = pos->next) {
            weft_web_conn_t *c = WEFT__CONTAINER_OF(pos, weft_web_conn_t,
                                                    link);
            weft_task_cancel(c->task);
        }
        wait_drained(run, true);
    }
    for (size_t i = 0; i < run->ls.n; i++) {
        if (closers[i]) {
            weft_scope_t sh;
            weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD);
            weft_join(closers[i]);
            weft_scope_exit(&sh);
            weft_task_release(closers[i]);
        } else {
            weft_server_close(run->ls.v[i]->srv, 0);
        }
        run->ls.v[i]->srv = NULL;
    }
    weft__free(closers);
    /* 6. Cleanup contexts and on_cleanup. */
    if (run->started_ok)
        cleanup(run);
    run->shut_down = true;
    return 0;
}

static void runner_release(weft_web_runner_t *run) {
    for (size_t i = 0; i < run->ls.n; i++)
        weft__free(run->ls.v[i]);
    weft__free(run->ls.v);
    atomic_fetch_sub(&run->app->users, 1);
    weft__free(run);
}

static void runner_maybe_free(weft_web_runner_t *run) {
    if (run->free_when_done && run->nconns == 0)
        runner_release(run);
}

void weft_web_runner_free(weft_web_runner_t *run) {
    if (!run)
        return;
    if (!run->shut_down) {
        bool task = weft__task_current() != NULL;
        if (task)
            weft_web_runner_shutdown(run, 0);
        if (!run->shut_down) {
            /* No task to wait in (or no memory to shut down with): cancel
             * everything and free once the connections are gone. */
            if (!task)
                weft__log(WEFT_LOG_WARN,
                          "weft_web_runner_free: not shut down "
                          "(weft_web_runner_shutdown); connections are "
                          "cancelled");
            run->shutting_down = true;
            for (size_t i = 0; i < run->ls.n; i++)
                if (run->ls.v[i]->srv)
                    weft_server_close(run->ls.v[i]->srv, 0);
            if (run->nconns > 0) {
                run->free_when_done = true;
                return;
            }
        }
    }
    runner_release(run);
}
