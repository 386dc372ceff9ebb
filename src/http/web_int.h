/* Internal: the web server's objects (weft/web.h). */
#ifndef WEFT_HTTP_WEB_INT_H
#define WEFT_HTTP_WEB_INT_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "../net/net_int.h"
#include "router.h"
#include "weft/web.h"

/* ---- the application --------------------------------------------------------- */

struct web_mw {
    weft_web_middleware_fn fn;
    void *arg;
};

struct web_sig {
    weft_web_signal_fn fn;
    weft_web_stop_fn stop; /* cleanup contexts */
    void *arg;
};

struct web_cb {
    void *fn; /* weft_web_prepare_fn or weft_web_sent_fn */
    void *arg;
};

/* A growable array of `T`: v, n, cap. */
#define WEB_VEC(T)                                                             \
    struct {                                                                   \
        T *v;                                                                  \
        size_t n, cap;                                                         \
    }

struct web_route {
    struct wr_route wr; /* method and payload (this route) */
    weft_web_app_t *app;
    char *method, *path, *name; /* path: relative to the app */
    weft_web_handler_fn fn;
    void *arg;
    size_t nvars;
    char *vars[WR_MAX_VARS]; /* variable names, in path order */
};

struct web_sub {
    char *prefix;
    size_t len;
    weft_web_app_t *app;
};

struct weft_web_app {
    weft_web_app_opts_t opts;
    weft_web_app_t *parent;
    char *prefix; /* from the root, set when mounted ("" for a root) */
    size_t prefix_len;
    WEB_VEC(struct web_route *) routes;
    WEB_VEC(struct web_sub) subs;
    WEB_VEC(struct web_mw) mws;
    WEB_VEC(struct web_sig) startup, shutdown, cleanup, ctxs;
    WEB_VEC(struct web_cb) prepare, sent;
    WEB_VEC(struct web_cb) frees; /* weft_web_app_on_free */
    /* Made by the freeze (root app only: the router holds every route of
     * the tree, prefixes prepended). */
    bool frozen;
    atomic_uint users; /* runners serving it (root): worker threads count */
    struct web_mw *chain;     /* middlewares from the root down to here */
    size_t nchain;
    struct web_cb *prep_chain; /* prepare signals, root's first */
    size_t nprep;
    struct web_cb *sent_chain;
    size_t nsent;
    struct wr_router *router;
    size_t nctx_started; /* cleanup contexts whose start ran (worker 0) */
};

/* Freeze app (a root): compile every route into one router. 0 or error. */
int weft__web_app_freeze(weft_web_app_t *app);
/* The deepest app whose prefix `path` falls under (for 404/405). */
weft_web_app_t *weft__web_app_for(weft_web_app_t *root, const char *path,
                                  size_t len);

/* ---- the arena ---------------------------------------------------------------- */

struct arena_blk {
    struct arena_blk *next;
    size_t cap, used;
    /* data follows, 16-aligned */
};

/* The first block lives on the connection task's stack, which an idle
 * connection keeps resident anyway; more blocks come from the heap and go
 * when the request ends. */
struct arena {
    char *base; /* the block allocations come from now */
    size_t cap, used;
    char *first; /* the stack block */
    size_t first_cap;
    struct arena_blk *more; /* heap blocks, newest first */
};

void *weft__arena_alloc(struct arena *a, size_t size);
void weft__arena_reset(struct arena *a);

/* ---- connections, requests, responses ---------------------------------------- */

struct web_hdr {
    const char *name, *value;
    size_t nlen, vlen;
};

enum body_kind { BODY_NONE, BODY_BYTES, BODY_FILE };

struct weft_web_response {
    weft_web_request_t *req;
    int status;
    const char *reason;
    WEB_VEC(struct web_hdr) hdrs; /* in the arena */
    enum body_kind kind;
    const void *data;
    size_t len;
    int fd;
    unsigned fflags;
    off_t off, flen;
    int64_t content_length; /* for a stream; -1: unknown */
    const weft_web_filter_t *filter;
    void *fstate;
    bool prepared, chunked, eof;
    bool close_after;  /* the end of the body is the close (HTTP/1.0) */
    bool stream;       /* prepared by weft_web_prepare: a stream */
    bool signalled;    /* on_response_prepare ran */
    bool filter_done;  /* a bytes body went through the filter */
    bool has_date, has_server, has_connection; /* set by the user */
    uint64_t bytes, written; /* body bytes sent (after filter); promised
                                content length progress */
};

struct web_defer {
    struct web_defer *next;
    void (*fn)(void *);
    void *arg;
};

struct web_kv {
    struct web_kv *next;
    const void *key;
    void *value;
};

enum framing { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED };

struct weft_web_request {
    struct arena arena; /* its first block on serve_one's stack */
    weft_web_conn_t *conn;
    weft_web_app_t *app;
    const struct web_route *route;
    int method;
    weft_span_t method_name, target, raw_path, query;
    const char *path;
    size_t path_len;
    int version; /* 10, 11 */
    bool keep_alive, close; /* close: forced */
    const weft_http_field_t *fields;
    size_t nfields;
    /* The end of serve_one's array when fields is it: the slots from
     * fields + nfields on hold nothing. NULL: fields is on the heap. */
    const weft_http_field_t *fields_end;
    size_t head_len; /* bytes of the head in the stream buffer */
    struct wr_match match;
    const char **match_vals; /* decoded copies, made on demand */
    /* body */
    enum framing framing;
    int64_t content_length;
    weft_http1_body_t dec;
    uint64_t body_read;      /* body bytes decoded so far */
    const void *pend;        /* decoded, not yet given to weft_web_read */
    size_t pend_len;
    bool head_consumed;      /* the head was copied out of the stream */
    bool expect_continue, continue_sent, body_started, body_done;
    bool body_whole;
    const void *body;
    size_t body_len;
    int body_err;
    /* the rest */
    struct weft_web_response resp;
    struct web_defer *defers;
    struct web_kv *kv;
    double time;
    const struct sockaddr *remote;
    socklen_t remote_len;
    const char *remote_text, *scheme;
    bool hijacked, in_chain;
    weft_scope_t *handler_scope; /* handler_timeout's, while it runs */
};

struct web_listener;

struct weft_web_conn {
    weft_web_runner_t *runner;
    struct web_listener *listener;
    weft_stream_t *s;
    weft_task_t *task;
    struct weft__list link; /* in the runner's list */
    /* The peer: the server connection's copy (weft__server_peer, as
     * long as the stream), or peer_own, on the heap (a stream that is not
     * a weft server's, a Unix socket): not a sockaddr_storage here, which
     * would be 128 bytes of every idle connection's record (issue 15). */
    const struct sockaddr *peer;
    struct sockaddr_storage *peer_own;
    /* Set by weft_web_conn_set_remote (a PROXY header), on the heap: most
     * connections have none, and an idle connection's record is what it
     * costs (issue 15). NULL: the peer. */
    struct sockaddr_storage *remote;
    socklen_t peer_len, remote_len;
    bool tls;
    bool busy; /* between a head's first byte and the end of a response */
    bool linger; /* close by half-closing and draining first */
    uint64_t nreq;
    /* The idle timeout, lazily: one timer per connection, armed when it
     * first waits and moved only when it fires (no heap operation per
     * request); it closes the connection if it has been idle long
     * enough, else it is armed again for when it would have. */
    struct weft__timer idle_timer;
    bool idle, trimmed;
    uint64_t idle_since, idle_limit; /* loop ns */
    /* A hijacked connection's part in a graceful shutdown (a WebSocket
     * sends its close frame 1001 from it): called by the runner once the
     * listeners stopped, before on_shutdown. */
    void (*on_shutdown)(void *arg);
    void *on_shutdown_arg;
};

struct web_listener {
    weft_web_runner_t *runner;
    weft_server_t *srv;
    weft_web_listen_opts_t opts;
};

struct weft_web_runner {
    weft_loop_t *loop;
    weft_web_app_t *app;
    weft_web_server_opts_t o; /* with the defaults filled in */
    size_t server_name_len;
    WEB_VEC(struct web_listener *) ls;
    struct weft__list conns;
    size_t nconns;
    uint64_t nreq;
    bool setup, started_ok, shutting_down, shut_down, free_when_done;
    struct weft__wait *drained; /* shutdown, waiting for the conns */
    size_t nctx_started;
};

/* The connection task: serve requests on s until it closes. */
int weft__web_conn_main(weft_stream_t *s, void *arg);

/* Send the response of req (whatever state it is in) and end its body.
 * 0, or an error after which the connection must close. */
int weft__web_finish(weft_web_request_t *req);

/* An error response for status (body: the reason phrase), replacing
 * whatever the response held. */
int weft__web_error_response(weft_web_request_t *req, int status);

/* The cached "Date: ...\r\n" line of this thread (37 bytes). */
const char *weft__web_date(weft_loop_t *loop);

/* Copy the head out of the stream's buffer (before reading the body or
 * handing the stream over). 0 or -ENOMEM. */
int weft__web_head_out(weft_web_request_t *req);

/* Seams for protocols that take a connection over (weft_web_hijack):
 * a shutdown hook (fn NULL removes it), and asking for a lingering close
 * (our FIN first, then the peer's last bytes drained: a WebSocket's
 * server closes TCP first, RFC 6455 7.1.1). */
void weft__web_conn_on_shutdown(weft_web_request_t *req,
                                void (*fn)(void *arg), void *arg);
void weft__web_conn_linger(weft_web_request_t *req);
/* The parts of req that hold nothing, on the stack of the task serving
 * the connection, which a receiver parked under it need not copy when it
 * hibernates (weft__task_hibernate_except): the unused end of its arena's
 * first block (none once the arena has moved on to a heap block), the
 * unused slots of its field array (when on that stack), the route
 * match's unused variable slots and, once a route matched, its Allow
 * list. Stores at most max spans (four at most) in out; returns how
 * many. */
size_t weft__web_req_unused(const weft_web_request_t *req,
                            struct weft__span *out, size_t max);

/* Unread body the server reads and drops to keep a connection open. */
#define SKIP_LIMIT (64 * 1024)

/* Whether the unread rest of the body forbids reusing the connection:
 * broken, too long to skip, or never asked for (100-continue unsent). */
bool weft__web_body_blocks(const weft_web_request_t *req);

/* Skip what is left of the request body, up to limit bytes (false: more,
 * or an error: close the connection). */
bool weft__web_body_skip(weft_web_request_t *req, size_t limit);

#endif
