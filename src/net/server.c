/* Servers: one listening socket per address (a name such as "localhost"
 * may have several), an accepting task for each, and one task per
 * connection running the user's handler. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_int.h"
#include "weft/tls.h"

#define DEFAULT_BACKLOG 511
#define ACCEPT_PAUSE 0.1 /* seconds to wait out EMFILE and friends */
/* Servers left open are stopped once the loop's tasks are gone. */
#define WEFT__PHASE_NET (WEFT__PHASE_TASKS + 5)

struct weft__conn {
    struct weft__list link;
    weft_server_t *srv;
    weft_stream_t *stream;
    weft_task_t *task;
    /* The peer as accept saw it (IP only): a peer that reset at once has
     * no address getpeername could give, and its log line needs one. */
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    socklen_t peerlen;
};

const struct sockaddr_storage *weft__conn_peer(const struct weft__conn *c,
                                               socklen_t *len) {
    *len = c->peerlen;
    return c->peerlen ? (const struct sockaddr_storage *)(const void *)&c->peer
                      : NULL;
}

#define MAX_LISTENERS 16

/* A listening socket and its acceptor. */
struct listener {
    weft_server_t *srv;
    int fd;
    struct weft__io io;
    weft_task_t *acceptor;
    struct weft__wait *slot_wait; /* the acceptor, at max_connections */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool nodelay; /* TCP_NODELAY set here, so on what it accepts too */
};

struct weft_server {
    weft_loop_t *loop;
    struct weft__list link; /* in the loop's hub */
    struct listener *ls;
    size_t nls;       /* listening sockets, ls[0] first */
    size_t accepting; /* acceptors still running */
    weft_conn_fn fn;
    void *arg;
    weft_server_opts_t opts;
    struct weft__list conns;
    size_t nconns;
    struct weft__wait *close_wait; /* weft_server_close's, waiting */
    bool closing, free_when_done;
    bool loop_closed; /* stopped by the loop's close: only freeing is left */
    char *unix_path; /* a socket file to remove on close */
};

/* ---- the loop's servers ------------------------------------------------------- */

/* Every server of a loop, so that the loop's close can stop the ones the
 * program left open and its free can release them. */
struct srv_hub {
    struct weft__hook close_hook, free_hook;
    struct weft__list servers;
};

static void stop_listening(weft_server_t *srv);
static void hub_close(weft_loop_t *loop, struct weft__hook *h);
static void hub_free(weft_loop_t *loop, struct weft__hook *h);

static struct srv_hub *hub_get(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, hub_close);
    if (h)
        return WEFT__CONTAINER_OF(h, struct srv_hub, close_hook);
    struct srv_hub *hub = weft__calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    weft__list_init(&hub->servers);
    weft__hook_add(loop, &hub->close_hook, WEFT__PHASE_NET, hub_close);
    weft__hook_add(loop, &hub->free_hook, WEFT__PHASE_FREE, hub_free);
    return hub;
}

static void server_free(weft_server_t *srv) {
    if (WEFT__UNLIKELY(srv->loop->flags & WEFT_LOOP_DEBUG))
        weft__debug_untrack(srv->loop, srv);
    weft__list_remove(&srv->link);
    weft__free(srv->ls);
    weft__free(srv->unix_path);
    weft__free(srv);
}

/* The tasks are gone (the acceptor ended, every handler was cancelled and
 * its connection closed): stop listening now; the memory stays for the
 * program's weft_server_close, or the loop's free. */
static void hub_close(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct srv_hub *hub = WEFT__CONTAINER_OF(h, struct srv_hub, close_hook);
    struct weft__list *pos;
    for (pos = hub->servers.next; pos != &hub->servers; pos = pos->next) {
        weft_server_t *srv = WEFT__CONTAINER_OF(pos, weft_server_t, link);
        if (!srv->closing)
            stop_listening(srv);
        srv->loop_closed = true;
    }
}

static void hub_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct srv_hub *hub = WEFT__CONTAINER_OF(h, struct srv_hub, free_hook);
    size_t n = 0;
    struct weft__list *l;
    while ((l = weft__list_pop_front(&hub->servers))) {
        server_free(WEFT__CONTAINER_OF(l, weft_server_t, link));
        n++;
    }
    if (n)
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_free: %zu server(s) still open; closed with the "
                  "loop and freed with it",
                  n);
    weft__free(hub);
}

static void maybe_free(weft_server_t *srv) {
    if (srv->free_when_done && srv->accepting == 0 && srv->nconns == 0)
        server_free(srv);
}

/* ---- connections -------------------------------------------------------------- */

static void conn_done(struct weft__conn *c) {
    weft_server_t *srv = c->srv;
    weft__list_remove(&c->link);
    srv->nconns--;
    for (size_t i = 0; i < srv->nls; i++)
        weft__wait_wake(srv->ls[i].slot_wait, 0);
    if (srv->nconns == 0)
        weft__wait_wake(srv->close_wait, 0);
    weft_task_release(c->task); /* ours; the running task keeps its own */
    weft__free(c);
    maybe_free(srv);
}

/* The TLS handshake of a connection. Until it is done the client has
 * asked for nothing, so it is idle time: a graceful close ends it at once
 * (a stoppable scope), as it ends a handler's idle wait. */
static int __attribute__((noinline))
conn_handshake(weft_stream_t *s, weft_tls_ctx_t *tls) {
    weft_scope_t idle;
    int r = weft_scope_enter(&idle, INFINITY, WEFT_SCOPE_STOPPABLE);
    if (r < 0)
        return r;
    r = weft_tls_server(s, tls);
    weft_scope_exit(&idle);
    if (r < 0 && r != -ECANCELED) /* a peer can fail these at will */
        WEFT__LOG_LIMITED(s->loop, WEFT_LOG_INFO, "%s", weft_tls_error(s));
    return r;
}

static void conn_end(struct weft__conn *c, int r);

/* Small: its frame is under the handler's for the connection's life, and
 * copied aside when the handler's task hibernates (bench/idle). */
static int conn_run(void *arg) {
    struct weft__conn *c = arg;
    weft_stream_t *s = c->stream;
    int r = c->srv->opts.tls ? conn_handshake(s, c->srv->opts.tls) : 0;
    if (r == 0)
        r = c->srv->fn(s, c->srv->arg);
    else
        r = 0; /* said above; the handler never ran */
    conn_end(c, r);
    return 0;
}

static void __attribute__((noinline)) conn_end(struct weft__conn *c, int r) {
    weft_stream_t *s = c->stream;
    if (r < 0 && r != -ECANCELED)
        WEFT__LOG_LIMITED(s->loop, WEFT_LOG_INFO,
                          "connection handler returned %s (%s)",
                          weft_err_name(r), weft_strerror(r));
    if (!(s->flags & WEFT__STREAM_CLOSED))
        weft_stream_close(s);
    weft__stream_release(s);
    conn_done(c);
}

static void start_conn(weft_server_t *srv, int fd, const struct listener *l,
                       const struct sockaddr_storage *peer, socklen_t len) {
    struct weft__conn *c = weft__calloc(1, sizeof *c);
    weft_stream_t *s = NULL;
    bool nodelay = l->addr.ss_family != AF_UNIX && !l->nodelay;
    int err = c ? weft__stream_new_sock(srv->loop, fd, nodelay,
                                        &srv->opts.stream, &s)
                : -ENOMEM;
    if (err) {
        close(fd);
        weft__free(c);
        WEFT__LOG_LIMITED(srv->loop, WEFT_LOG_WARN,
                          "server: dropped a connection: %s",
                          weft_strerror(err));
        return;
    }
    c->srv = srv;
    c->stream = s;
    s->conn = c;
    /* Wait for the first bytes' edge before reading (as nginx does
     * without deferred accept): a new connection's request is often not
     * there yet (30% of first reads said EAGAIN under wrk's reconnecting
     * load), and epoll reports data already there when the fd is added. */
    s->flags |= WEFT__STREAM_DRAINED;
    if ((peer->ss_family == AF_INET || peer->ss_family == AF_INET6) &&
        len <= sizeof c->peer) {
        memcpy(&c->peer, peer, len);
        c->peerlen = len;
    }
    weft_spawn_opts_t so = {.name = "conn",
                            .stack_size = srv->opts.handler_stack_size};
    err = weft_loop_spawn(srv->loop, &c->task, conn_run, c, &so);
    if (err) {
        s->conn = NULL;
        weft_stream_abort(s);
        weft__free(c);
        WEFT__LOG_LIMITED(srv->loop, WEFT_LOG_WARN,
                          "server: dropped a connection: %s",
                          weft_strerror(err));
        return;
    }
    weft__list_push_back(&srv->conns, &c->link);
    srv->nconns++;
}

const struct sockaddr *weft__server_peer(const weft_stream_t *s,
                                         socklen_t *len) {
    if (!s->conn || s->conn->peerlen == 0)
        return NULL;
    *len = s->conn->peerlen;
    return (const struct sockaddr *)(const void *)&s->conn->peer;
}

/* ---- accepting ----------------------------------------------------------------- */

static bool resource_error(int err) {
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
           err == -ENOMEM;
}

/* Errors of the connection being accepted, not of the listener: Linux
 * passes a pending connection's network error up from accept (accept(2)),
 * and a firewall refusing it is EPERM. Take the next one at once. */
static bool connection_error(int err) {
    switch (-err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case EINTR:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

static int acceptor_run(void *arg) {
    struct listener *l = arg;
    weft_server_t *srv = l->srv;
    while (!srv->closing) {
        if (srv->opts.max_connections &&
            srv->nconns >= srv->opts.max_connections) {
            struct weft__wait w = {.kind = WEFT__WAIT_SERVER, .obj = srv};
            l->slot_wait = &w;
            int r = weft__park(&w);
            l->slot_wait = NULL;
            if (r < 0)
                break;
            continue;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        peer.ss_family = AF_UNSPEC;
        int fd = weft__op_accept(&l->io, (struct sockaddr *)&peer, &plen, 0);
        if (fd >= 0) {
            start_conn(srv, fd, l, &peer, plen);
            continue;
        }
        if (fd == -ECANCELED || fd == -ETIMEDOUT || fd == -EBADF)
            break;
        if (connection_error(fd))
            continue; /* that connection died before we took it */
        if (!resource_error(fd)) {
            /* The listening socket itself is broken (EINVAL once it was
             * shut down, ENOTSOCK ...): retrying cannot help. */
            char addr[128];
            weft__log(WEFT_LOG_WARN,
                      "server: accept failed on %s: %s; no longer accepting "
                      "there",
                      weft__addr_str(&l->addr, l->addrlen, addr, sizeof addr),
                      weft_strerror(fd));
            break;
        }
        /* Out of descriptors or memory: pause instead of spinning, and say
         * so (limited: it goes on as long as the peers want). */
        WEFT__LOG_LIMITED(srv->loop, WEFT_LOG_WARN,
                          "server: accept failed: %s; pausing",
                          weft_strerror(fd));
        if (weft_sleep(ACCEPT_PAUSE) < 0)
            break;
    }
    srv->accepting--;
    weft__wait_wake(srv->close_wait, 0);
    maybe_free(srv);
    return 0;
}

/* ---- starting ------------------------------------------------------------------ */

/* Bind and listen on sa as the server's next listening socket. v6any: ::
 * taking IPv4 too; v6only: an IPv6 address among others (0.0.0.0 next to
 * :: must be a socket of its own). */
static int listen_on(weft_server_t *srv, const struct sockaddr *sa,
                     socklen_t len, bool v6any, bool v6only) {
    int fd = weft__socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    int one = 1, zero = 0;
    if (sa->sa_family != AF_UNIX) {
        if (!(srv->opts.flags & WEFT_SERVER_NO_REUSEADDR))
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if ((srv->opts.flags & WEFT_SERVER_REUSEPORT) &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
        if (sa->sa_family == AF_INET6 && (v6any || v6only))
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6any ? &zero : &one,
                       sizeof one);
    }
    int backlog = srv->opts.backlog > 0 ? srv->opts.backlog : DEFAULT_BACKLOG;
    if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct listener *l = &srv->ls[srv->nls++];
    l->srv = srv;
    l->fd = fd;
    /* Linux copies TCP_NODELAY from a listening socket to the sockets it
     * accepts (the new socket is a clone of the listener's): set once
     * here, it costs no setsockopt a connection (nginx sets it only on a
     * connection kept alive). */
    l->nodelay = sa->sa_family != AF_UNIX &&
                 !(srv->opts.stream.flags & WEFT_STREAM_NAGLE) &&
                 setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                            sizeof one) == 0;
    l->addrlen = sizeof l->addr;
    getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen);
    return 0;
}

static int server_new(weft_loop_t *loop, weft_conn_fn fn, void *arg,
                      const weft_server_opts_t *opts, size_t nls,
                      weft_server_t **out) {
    *out = NULL;
    int err = weft__loop_check(loop, "weft_start_server");
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    struct srv_hub *hub = hub_get(loop);
    weft_server_t *srv = hub ? weft__calloc(1, sizeof *srv) : NULL;
    if (srv)
        srv->ls = weft__calloc(nls, sizeof *srv->ls);
    if (!srv || !srv->ls) {
        weft__free(srv);
        return -ENOMEM;
    }
    weft__list_push_back(&hub->servers, &srv->link);
    srv->loop = loop;
    srv->fn = fn;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    weft__list_init(&srv->conns);
    *out = srv;
    return 0;
}

/* Close the listening sockets (after a failure to start: not registered). */
static void close_unregistered(weft_server_t *srv) {
    for (size_t i = 0; i < srv->nls; i++) {
        close(srv->ls[i].fd);
        srv->ls[i].fd = -1;
    }
}

static int server_run(weft_server_t *srv) {
    int err = 0;
    size_t i;
    for (i = 0; i < srv->nls; i++) {
        err = weft__io_open(srv->loop, &srv->ls[i].io, srv->ls[i].fd);
        if (err)
            break;
    }
    if (err) {
        while (i-- > 0)
            weft__io_close(srv->loop, &srv->ls[i].io);
        close_unregistered(srv);
        if (srv->unix_path)
            unlink(srv->unix_path);
        server_free(srv);
        return err;
    }
    for (i = 0; i < srv->nls; i++) {
        weft_spawn_opts_t so = {.name = "acceptor"};
        err = weft_loop_spawn(srv->loop, &srv->ls[i].acceptor, acceptor_run,
                              &srv->ls[i], &so);
        if (err)
            break;
        srv->accepting++;
    }
    if (err) {
        /* Acceptors already spawned still start (cancelled) and end; the
         * last one out frees the server. */
        stop_listening(srv);
        srv->free_when_done = true;
        maybe_free(srv);
    } else if (WEFT__UNLIKELY(srv->loop->flags & WEFT_LOOP_DEBUG)) {
        weft__debug_track(srv->loop, srv, WEFT__TRACK_SERVER,
                          weft_server_port(srv));
    }
    return err;
}

static in_port_t *port_of(struct sockaddr_storage *ss) {
    return ss->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)ss)->sin6_port
                                     : &((struct sockaddr_in *)ss)->sin_port;
}

/* One pass over the first n addresses; with port 0, all on the port the
 * first one got. A family this host lacks is skipped, as asyncio does; any
 * other failure fails the whole server. */
static int listen_pass(weft_server_t *srv, const struct addrinfo *ai,
                       size_t n) {
    int skipped = -EADDRNOTAVAIL;
    in_port_t port = 0; /* network order */
    for (size_t i = 0; i < n; i++, ai = ai->ai_next) {
        struct sockaddr_storage ss;
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        if (*port_of(&ss) == 0)
            *port_of(&ss) = port;
        int r = listen_on(srv, (struct sockaddr *)&ss, ai->ai_addrlen, false,
                          n > 1);
        if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL)
            skipped = r;
        else if (r)
            return r;
        else if (port == 0)
            port = *port_of(&srv->ls[srv->nls - 1].addr);
    }
    return srv->nls ? 0 : skipped;
}

/* Listen on every address of the list (n of them), on one port: with port
 * 0, the one the first address got. That port may be taken on a later
 * address: then start again, a few times. */
static int listen_all(weft_server_t *srv, const struct addrinfo *ai,
                      size_t n) {
    struct sockaddr_storage first;
    memcpy(&first, ai->ai_addr, ai->ai_addrlen);
    bool any_port = *port_of(&first) == 0;
    int err = 0;
    for (int tries = 0; tries < 8; tries++) {
        err = listen_pass(srv, ai, n);
        if (err != -EADDRINUSE || !any_port || srv->nls == 0)
            break;
        close_unregistered(srv);
        srv->nls = 0;
    }
    return err;
}

int weft_start_server(weft_loop_t *loop, weft_server_t **out,
                      const char *host, const char *port, weft_conn_fn fn,
                      void *arg, const weft_server_opts_t *opts) {
    if (!out || !port)
        return -EINVAL;
    *out = NULL;
    weft_server_t *srv;
    int err;
    struct addrinfo *ai = NULL;
    if (!host) {
        /* Every interface: IPv6 any with IPv4 mapped, or IPv4 alone. */
        err = server_new(loop, fn, arg, opts, 1, &srv);
        if (err)
            return err;
        err = weft__resolve(NULL, port, AF_INET6, SOCK_STREAM, true, &ai);
        if (!err)
            err = listen_on(srv, ai->ai_addr, ai->ai_addrlen, true, false);
        weft__addrinfo_free(ai);
        ai = NULL;
        if (err == -EAFNOSUPPORT) {
            err = weft__resolve(NULL, port, AF_INET, SOCK_STREAM, true, &ai);
            if (!err)
                err = listen_on(srv, ai->ai_addr, ai->ai_addrlen, false,
                                false);
            weft__addrinfo_free(ai);
        }
    } else {
        /* Every address of the host, as asyncio's create_server. */
        err = weft__resolve(host, port, AF_UNSPEC, SOCK_STREAM, true, &ai);
        if (err)
            return err;
        WEFT__ANALYZER_ASSUME(ai != NULL); /* success: one address or more */
        size_t n = 0;
        for (struct addrinfo *a = ai; a && n < MAX_LISTENERS; a = a->ai_next)
            n++;
        err = server_new(loop, fn, arg, opts, n, &srv);
        if (err) {
            weft__addrinfo_free(ai);
            return err;
        }
        err = listen_all(srv, ai, n);
        weft__addrinfo_free(ai);
    }
    if (err) {
        close_unregistered(srv);
        server_free(srv);
        return err;
    }
    err = server_run(srv);
    if (!err)
        *out = srv;
    return err;
}

int weft_start_unix_server(weft_loop_t *loop, weft_server_t **out,
                           const char *path, weft_conn_fn fn, void *arg,
                           const weft_server_opts_t *opts) {
    if (!out)
        return -EINVAL;
    struct sockaddr_storage ss;
    socklen_t len;
    int err = weft__unix_addr(path, &ss, &len);
    if (err)
        return err;
    weft_server_t *srv;
    err = server_new(loop, fn, arg, opts, 1, &srv);
    if (err)
        return err;
    if (path[0] != '@') {
        /* Replace a stale socket file, never anything else. */
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
        srv->unix_path = weft__malloc(strlen(path) + 1);
        if (!srv->unix_path) {
            server_free(srv);
            return -ENOMEM;
        }
        strcpy(srv->unix_path, path);
    }
    err = listen_on(srv, (struct sockaddr *)&ss, len, false, false);
    if (err) {
        server_free(srv);
        return err;
    }
    err = server_run(srv);
    if (!err)
        *out = srv;
    return err;
}

int weft_server_sockname(const weft_server_t *srv,
                         struct sockaddr_storage *addr, socklen_t *len) {
    if (!srv || !addr || !len)
        return -EINVAL;
    if (srv->nls == 0)
        return -EBADF;
    memcpy(addr, &srv->ls[0].addr, srv->ls[0].addrlen);
    *len = srv->ls[0].addrlen;
    return 0;
}

int weft_server_port(const weft_server_t *srv) {
    if (!srv || srv->nls == 0)
        return 0;
    const struct sockaddr_storage *a = &srv->ls[0].addr;
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

size_t weft_server_connections(const weft_server_t *srv) {
    return srv ? srv->nconns : 0;
}

/* ---- closing -------------------------------------------------------------------- */

static void stop_listening(weft_server_t *srv) {
    srv->closing = true;
    for (size_t i = 0; i < srv->nls; i++) {
        struct listener *l = &srv->ls[i];
        if (l->fd >= 0) {
            weft__io_close(srv->loop, &l->io); /* the acceptor sees -EBADF */
            close(l->fd);
            l->fd = -1;
        }
        if (l->acceptor) {
            weft_task_cancel(l->acceptor); /* -EALREADY if it has ended */
            weft__wait_wake(l->slot_wait, 0);
            weft_task_release(l->acceptor);
            l->acceptor = NULL;
        }
    }
    if (srv->unix_path)
        unlink(srv->unix_path);
}

static void stop_conns(weft_server_t *srv, double grace) {
    struct weft__list *pos;
    for (pos = srv->conns.next; pos != &srv->conns; pos = pos->next) {
        struct weft__conn *c = WEFT__CONTAINER_OF(pos, struct weft__conn, link);
        if (grace > 0)
            weft_task_cancel_soft(c->task, grace);
        else
            weft_task_cancel(c->task);
    }
}

int weft_server_close(weft_server_t *srv, double grace) {
    if (!srv)
        return -EINVAL;
    int err = weft__loop_check(srv->loop, "weft_server_close");
    if (err)
        return err;
    if (srv->loop_closed) {
        /* The loop's close stopped it; all that is left is the memory. */
        server_free(srv);
        return 0;
    }
    if (srv->closing) {
        weft__log(WEFT_LOG_WARN, "weft_server_close: closed twice");
        return -EINVAL;
    }
    if (WEFT__UNLIKELY(srv->loop->flags & WEFT_LOOP_DEBUG))
        weft__debug_untrack(srv->loop, srv);
    struct weft_task *t = weft__task_current();
    if (!t && grace != 0) {
        weft__log(WEFT_LOG_WARN, "weft_server_close: a grace period needs a "
                                 "task (outside one, pass 0)");
        return -EPERM;
    }
    stop_listening(srv);
    if (!t) {
        stop_conns(srv, 0);
        srv->free_when_done = true;
        maybe_free(srv);
        return 0;
    }
    stop_conns(srv, grace);
    bool hard = grace <= 0;
    while (srv->nconns > 0 || srv->accepting > 0) {
        struct weft__wait w = {
            .noint = hard, .kind = WEFT__WAIT_SERVER, .obj = srv};
        srv->close_wait = &w;
        int r = weft__park(&w);
        srv->close_wait = NULL;
        if (r < 0 && !hard) {
            /* Cancelled while waiting: stop waiting for the grace period. */
            hard = true;
            stop_conns(srv, 0);
        }
    }
    server_free(srv);
    return 0;
}
