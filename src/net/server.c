/* Servers: a listening socket, an accepting task, and one task per
 * connection running the user's handler. */
#include <netinet/in.h>
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
};

struct srv_hub;

struct weft_server {
    weft_loop_t *loop;
    struct weft__list link; /* in the loop's hub */
    int fd;
    struct weft__io io;
    weft_conn_fn fn;
    void *arg;
    weft_server_opts_t opts;
    weft_task_t *acceptor;
    bool acceptor_done;
    struct weft__list conns;
    size_t nconns;
    struct weft__wait *slot_wait;   /* the acceptor, at max_connections */
    struct weft_task *closer;       /* in weft_server_close, waiting */
    struct weft__wait *close_wait;
    bool closing, free_when_done;
    bool loop_closed; /* stopped by the loop's close: only freeing is left */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *unix_path; /* a socket file to remove on close */
    uint64_t logged_at;
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
    struct weft__list *pos;
    for (pos = loop->hooks.next; pos != &loop->hooks; pos = pos->next) {
        struct weft__hook *h = WEFT__CONTAINER_OF(pos, struct weft__hook, link);
        if (h->fn == hub_close)
            return WEFT__CONTAINER_OF(h, struct srv_hub, close_hook);
    }
    struct srv_hub *hub = weft__calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    weft__list_init(&hub->servers);
    weft__hook_add(loop, &hub->close_hook, WEFT__PHASE_NET, hub_close);
    weft__hook_add(loop, &hub->free_hook, WEFT__PHASE_FREE, hub_free);
    return hub;
}

static void server_free(weft_server_t *srv) {
    weft__list_remove(&srv->link);
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
    if (srv->free_when_done && srv->acceptor_done && srv->nconns == 0)
        server_free(srv);
}

static void wake(struct weft_task *t, struct weft__wait *w) {
    if (t && w && t->wait == w)
        weft__task_wake(t, 0);
}

/* ---- connections -------------------------------------------------------------- */

static void conn_done(struct weft__conn *c) {
    weft_server_t *srv = c->srv;
    weft__list_remove(&c->link);
    srv->nconns--;
    if (srv->slot_wait && srv->acceptor)
        wake(srv->acceptor, srv->slot_wait);
    if (srv->nconns == 0)
        wake(srv->closer, srv->close_wait);
    weft_task_release(c->task); /* ours; the running task keeps its own */
    weft__free(c);
    maybe_free(srv);
}

static int conn_run(void *arg) {
    struct weft__conn *c = arg;
    weft_stream_t *s = c->stream;
    int r = 0;
    if (c->srv->opts.tls) {
        r = weft_tls_server(s, c->srv->opts.tls);
        if (r < 0 && r != -ECANCELED)
            weft__log(WEFT_LOG_INFO, "%s", weft_tls_error(s));
    }
    if (r == 0)
        r = c->srv->fn(s, c->srv->arg);
    if (r < 0 && r != -ECANCELED)
        weft__log(WEFT_LOG_INFO, "connection handler returned %s (%s)",
                  weft_err_name(r), weft_strerror(r));
    if (!(s->flags & WEFT__STREAM_CLOSED))
        weft_stream_close(s);
    weft__stream_release(s);
    conn_done(c);
    return 0;
}

static void start_conn(weft_server_t *srv, int fd) {
    struct weft__conn *c = weft__calloc(1, sizeof *c);
    weft_stream_t *s = NULL;
    int err = c ? weft__stream_new(srv->loop, fd, &srv->opts.stream, &s)
                : -ENOMEM;
    if (err) {
        close(fd);
        weft__free(c);
        weft__log(WEFT_LOG_WARN, "server: dropped a connection: %s",
                  weft_strerror(err));
        return;
    }
    c->srv = srv;
    c->stream = s;
    s->conn = c;
    weft_spawn_opts_t so = {.name = "conn",
                            .stack_size = srv->opts.handler_stack_size};
    err = weft_loop_spawn(srv->loop, &c->task, conn_run, c, &so);
    if (err) {
        s->conn = NULL;
        weft_stream_abort(s);
        weft__free(c);
        weft__log(WEFT_LOG_WARN, "server: dropped a connection: %s",
                  weft_strerror(err));
        return;
    }
    weft__list_push_back(&srv->conns, &c->link);
    srv->nconns++;
}

/* ---- accepting ----------------------------------------------------------------- */

static bool resource_error(int err) {
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
           err == -ENOMEM;
}

static int acceptor_run(void *arg) {
    weft_server_t *srv = arg;
    while (!srv->closing) {
        if (srv->opts.max_connections &&
            srv->nconns >= srv->opts.max_connections) {
            struct weft__wait w = {0};
            srv->slot_wait = &w;
            int r = weft__park(&w);
            srv->slot_wait = NULL;
            if (r < 0)
                break;
            continue;
        }
        int fd = weft__op_accept(&srv->io, NULL, NULL, 0);
        if (fd >= 0) {
            start_conn(srv, fd);
            continue;
        }
        if (fd == -ECANCELED || fd == -ETIMEDOUT || fd == -EBADF)
            break;
        if (fd == -ECONNABORTED || fd == -EPROTO || fd == -EPERM)
            continue; /* that connection died before we took it */
        /* Out of descriptors or memory: pause instead of spinning, and say
         * so at most once a second. */
        if (srv->loop->now >= srv->logged_at + WEFT__NS_PER_SEC) {
            srv->logged_at = srv->loop->now;
            weft__log(WEFT_LOG_WARN, "server: accept failed: %s; pausing",
                      weft_strerror(fd));
        }
        if (!resource_error(fd))
            weft__log(WEFT_LOG_DEBUG, "server: accept: %s", weft_strerror(fd));
        if (weft_sleep(ACCEPT_PAUSE) < 0)
            break;
    }
    srv->acceptor_done = true;
    if (srv->closer)
        wake(srv->closer, srv->close_wait);
    maybe_free(srv);
    return 0;
}

/* ---- starting ------------------------------------------------------------------ */

static int listen_on(weft_server_t *srv, const struct sockaddr *sa,
                     socklen_t len, bool v6any) {
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
        if (v6any) /* :: takes IPv4 too */
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    int backlog = srv->opts.backlog > 0 ? srv->opts.backlog : DEFAULT_BACKLOG;
    if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    srv->fd = fd;
    srv->addrlen = sizeof srv->addr;
    getsockname(fd, (struct sockaddr *)&srv->addr, &srv->addrlen);
    return 0;
}

static int server_new(weft_loop_t *loop, weft_conn_fn fn, void *arg,
                      const weft_server_opts_t *opts, weft_server_t **out) {
    *out = NULL;
    int err = weft__loop_check(loop, "weft_start_server");
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    struct srv_hub *hub = hub_get(loop);
    weft_server_t *srv = hub ? weft__calloc(1, sizeof *srv) : NULL;
    if (!srv)
        return -ENOMEM;
    weft__list_push_back(&hub->servers, &srv->link);
    srv->loop = loop;
    srv->fd = -1;
    srv->fn = fn;
    srv->arg = arg;
    if (opts)
        srv->opts = *opts;
    weft__list_init(&srv->conns);
    *out = srv;
    return 0;
}

static int server_run(weft_server_t *srv) {
    int err = weft__io_open(srv->loop, &srv->io, srv->fd);
    if (!err) {
        weft_spawn_opts_t so = {.name = "acceptor"};
        err = weft_loop_spawn(srv->loop, &srv->acceptor, acceptor_run, srv,
                              &so);
        if (err)
            weft__io_close(srv->loop, &srv->io);
    }
    if (err) {
        close(srv->fd);
        if (srv->unix_path)
            unlink(srv->unix_path);
        server_free(srv);
    }
    return err;
}

int weft_start_server(weft_loop_t *loop, weft_server_t **out,
                      const char *host, const char *port, weft_conn_fn fn,
                      void *arg, const weft_server_opts_t *opts) {
    if (!out || !port)
        return -EINVAL;
    weft_server_t *srv;
    int err = server_new(loop, fn, arg, opts, &srv);
    if (err)
        return err;
    struct addrinfo *ai = NULL;
    if (!host) {
        /* Every interface: IPv6 any with IPv4 mapped, or IPv4 alone. */
        err = weft__resolve(NULL, port, AF_INET6, SOCK_STREAM, true, &ai);
        if (!err)
            err = listen_on(srv, ai->ai_addr, ai->ai_addrlen, true);
        weft__addrinfo_free(ai);
        ai = NULL;
        if (err == -EAFNOSUPPORT)
            err = weft__resolve(NULL, port, AF_INET, SOCK_STREAM, true, &ai);
        else
            goto listening;
    } else {
        err = weft__resolve(host, port, AF_UNSPEC, SOCK_STREAM, true, &ai);
    }
    if (!err) {
        err = -EADDRNOTAVAIL;
        for (struct addrinfo *a = ai; a && err; a = a->ai_next)
            err = listen_on(srv, a->ai_addr, a->ai_addrlen, false);
    }
    weft__addrinfo_free(ai);
listening:
    if (err) {
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
    err = server_new(loop, fn, arg, opts, &srv);
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
    err = listen_on(srv, (struct sockaddr *)&ss, len, false);
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
    memcpy(addr, &srv->addr, srv->addrlen);
    *len = srv->addrlen;
    return 0;
}

int weft_server_port(const weft_server_t *srv) {
    if (!srv)
        return 0;
    if (srv->addr.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&srv->addr)->sin_port);
    if (srv->addr.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&srv->addr)->sin6_port);
    return 0;
}

size_t weft_server_connections(const weft_server_t *srv) {
    return srv ? srv->nconns : 0;
}

/* ---- closing -------------------------------------------------------------------- */

static void stop_listening(weft_server_t *srv) {
    srv->closing = true;
    if (srv->fd >= 0) {
        weft__io_close(srv->loop, &srv->io); /* the acceptor sees -EBADF */
        close(srv->fd);
        srv->fd = -1;
    }
    if (srv->unix_path)
        unlink(srv->unix_path);
    if (!srv->acceptor_done)
        weft_task_cancel(srv->acceptor);
    wake(srv->acceptor, srv->slot_wait);
    weft_task_release(srv->acceptor);
    srv->acceptor = NULL;
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
    while (srv->nconns > 0 || !srv->acceptor_done) {
        struct weft__wait w = {.noint = hard};
        srv->closer = t;
        srv->close_wait = &w;
        int r = weft__park(&w);
        srv->close_wait = NULL;
        srv->closer = NULL;
        if (r < 0 && !hard) {
            /* Cancelled while waiting: stop waiting for the grace period. */
            hard = true;
            stop_conns(srv, 0);
        }
    }
    server_free(srv);
    return 0;
}
