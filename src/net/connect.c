/* open_connection: resolve, then connect with Happy Eyeballs (RFC 8305):
 * addresses alternate between families; each attempt is a task in a group
 * owned by the caller; the next starts when the previous fails or after the
 * delay; the first to connect wins and the others are cancelled. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "net_int.h"
#include "weft/tls.h"

#define DEFAULT_HE_DELAY 0.25

struct he {
    struct weft__wait *owner_wait; /* the caller's, while it waits */
    const weft_stream_opts_t *so;
    weft_stream_t *winner; /* the connected stream, or NULL */
    int last_err;
    const struct addrinfo *last_failed; /* the address of last_err */
    size_t running; /* attempts not finished */
};

struct attempt {
    struct he *he;
    const struct addrinfo *ai;
};



/* A stream socket connected to sa: its fd, or a negative error. */
static int connect_to(const struct sockaddr *sa, socklen_t len) {
    int fd = weft__socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    weft_loop_t *loop = weft_loop_current();
    struct weft__io io;
    int r = weft__io_open(loop, &io, fd);
    if (r == 0) {
        r = weft__op_connect(&io, sa, len);
        weft__io_close(loop, &io);
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* A TCP stream connected to sa. The stream is made first and connects on
 * its own registration: one epoll_ctl instead of three (a temporary one
 * added and deleted, then the stream's). */
static int connect_stream(const struct sockaddr *sa, socklen_t len,
                          const weft_stream_opts_t *so, weft_stream_t **out) {
    int fd = weft__socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    weft_stream_t *st;
    int r = weft__stream_new_sock(weft_loop_current(), fd,
                                   sa->sa_family != AF_UNIX, so, &st);
    if (r < 0) {
        close(fd);
        return r;
    }
    r = weft__op_connect(&st->io, sa, len);
    if (r < 0) {
        weft__stream_close_now(st);
        return r;
    }
    *out = st;
    return 0;
}

static int attempt_run(void *arg) {
    struct attempt *a = arg;
    struct he *he = a->he;
    weft_stream_t *st = NULL;
    int r = connect_stream(a->ai->ai_addr, a->ai->ai_addrlen, he->so, &st);
    if (r == 0 && !he->winner)
        he->winner = st;
    else if (r == 0)
        weft__stream_close_now(st);
    else if (r != -ECANCELED) {
        he->last_err = r;
        he->last_failed = a->ai;
    }
    he->running--;
    weft__wait_wake(he->owner_wait, 0);
    return 0; /* failures are reported through he, not the group */
}

/* RFC 8305 section 4: alternate families, starting with the first one. */
static size_t interleave(const struct addrinfo *list,
                         const struct addrinfo **out,
                         size_t max) {
    size_t n = 0;
    int first = list ? list->ai_family : AF_UNSPEC;
    const struct addrinfo *a = list, *b = list;
    while (n < max && (a || b)) {
        while (a && a->ai_family != first)
            a = a->ai_next;
        if (a) {
            out[n++] = a;
            a = a->ai_next;
        }
        while (b && b->ai_family == first)
            b = b->ai_next;
        if (b && n < max) {
            out[n++] = b;
            b = b->ai_next;
        }
    }
    return n;
}

#define MAX_ADDRS 16

static int happy_eyeballs(const struct addrinfo *list, double delay,
                          const weft_stream_opts_t *so, weft_stream_t **out,
                          struct sockaddr_storage *failed,
                          socklen_t *failed_len) {
    const struct addrinfo *addrs[MAX_ADDRS];
    struct attempt att[MAX_ADDRS];
    size_t n = interleave(list, addrs, MAX_ADDRS);
    struct he he = {.so = so, .last_err = -EHOSTUNREACH};
    weft_group_t g;
    int err = weft_group_enter(&g);
    if (err)
        return err;
    weft_loop_t *loop = weft_loop_current();
    size_t next = 0;  /* attempts started */
    size_t ended = 0; /* attempts seen to have ended, all failed */
    int result = 0;
    double started = 0; /* when the last attempt started */
    bool start = true;  /* start the next attempt now */
    while (!he.winner) {
        /* RFC 8305 section 5: an attempt that failed (any of those
         * running, not only the last) starts the next at once. Attempts
         * are cancelled only once this loop is left, so while it runs an
         * attempt that ended without winning failed. */
        if (next - he.running > ended) {
            ended = next - he.running;
            start = true;
        }
        if (start && next < n) {
            att[next] = (struct attempt){&he, addrs[next]};
            /* Named: tests/faults leaves tasks only weft cancels alone. */
            weft_spawn_opts_t sp = {.name = "connect-attempt"};
            err = weft_group_spawn(&g, NULL, attempt_run, &att[next], &sp);
            if (err) {
                result = err;
                break;
            }
            next++;
            he.running++;
            start = false;
            started = weft_loop_time(loop);
        }
        if (he.running == 0)
            break; /* every address failed */
        /* Else the delay since the last start: a deadline from that start,
         * so wake-ups for other news do not restart it. */
        double wait = INFINITY;
        if (next < n && delay >= 0)
            wait = started + delay - weft_loop_time(loop);
        if (wait <= 0) {
            start = true;
            continue;
        }
        weft_scope_t sc;
        err = weft_scope_enter(&sc, wait, 0);
        if (err) {
            result = err;
            break;
        }
        struct weft__wait w = {.kind = WEFT__WAIT_CONNECT};
        he.owner_wait = &w;
        int r = weft__park(&w);
        he.owner_wait = NULL;
        int e = weft_scope_exit(&sc);
        if (r == -ETIMEDOUT && e == -ETIMEDOUT) {
            start = true; /* the delay: start the next attempt too */
        } else if (r < 0) {
            result = r; /* cancelled, or an outer deadline */
            break;
        }
    }
    weft_group_cancel(&g); /* the attempts still running */
    int ge = weft_group_exit(&g);
    if (he.winner && result == 0 && ge == 0) {
        *out = he.winner;
        return 0;
    }
    if (he.winner)
        weft__stream_close_now(he.winner);
    if (result)
        return result;
    if (!ge && failed && he.last_failed &&
        he.last_failed->ai_addrlen <= sizeof *failed) {
        memcpy(failed, he.last_failed->ai_addr, he.last_failed->ai_addrlen);
        *failed_len = he.last_failed->ai_addrlen;
    }
    return ge ? ge : he.last_err;
}

int weft__connect_addrs(const struct addrinfo *list, double delay,
                        const weft_stream_opts_t *so, weft_stream_t **out,
                        struct sockaddr_storage *failed,
                        socklen_t *failed_len) {
    return happy_eyeballs(list, delay ? delay : DEFAULT_HE_DELAY, so, out,
                          failed, failed_len);
}

static int connect_in_scope(weft_stream_t **out, const char *host,
                            const char *port, const weft_connect_opts_t *o) {
    struct addrinfo *list;
    int err = weft__resolve(host, port, o ? o->family : AF_UNSPEC,
                            SOCK_STREAM, false, &list);
    if (err)
        return err;
    err = weft__connect_addrs(list, o ? o->happy_eyeballs_delay : 0,
                              o ? &o->stream : NULL, out, NULL, NULL);
    weft__addrinfo_free(list);
    if (err)
        return err;
    if (o && o->tls) {
        err = weft_tls_client(*out, o->tls,
                              o->server_name ? o->server_name : host);
        if (err) {
            /* Say why before the stream (and its message) goes. */
            weft__log(WEFT_LOG_INFO, "%s", weft_tls_error(*out));
            weft_stream_abort(*out);
            *out = NULL;
        }
    }
    return err;
}

/* Run fn inside a deadline scope of o->timeout seconds (if any). */
static int with_timeout(const weft_connect_opts_t *o,
                        int (*fn)(weft_stream_t **, const char *, const char *,
                                  const weft_connect_opts_t *),
                        weft_stream_t **out, const char *a, const char *b) {
    double t = o ? o->timeout : 0;
    if (isnan(t) || t < 0)
        return -EINVAL;
    if (t == 0 || t == (double)INFINITY)
        return fn(out, a, b, o);
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, t, 0);
    if (err)
        return err;
    int r = fn(out, a, b, o);
    int e = weft_scope_exit(&sc);
    if (r == 0) /* connected, even if the deadline cut something else */
        return 0;
    return e == -ETIMEDOUT || e == -ECANCELED ? e : r;
}

int weft_open_connection(weft_stream_t **out, const char *host,
                         const char *port, const weft_connect_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!weft__task_require("weft_open_connection"))
        return -EPERM;
    if (!port)
        return -EINVAL;
    return with_timeout(opts, connect_in_scope, out, host, port);
}

static int unix_in_scope(weft_stream_t **out, const char *path,
                         const char *unused, const weft_connect_opts_t *o) {
    (void)unused;
    struct sockaddr_storage ss;
    socklen_t len;
    int err = weft__unix_addr(path, &ss, &len);
    if (err)
        return err;
    int fd = connect_to((struct sockaddr *)&ss, len);
    if (fd < 0)
        return fd;
    err = weft__stream_new(weft_loop_current(), fd, o ? &o->stream : NULL,
                           out);
    if (err)
        close(fd);
    return err;
}

int weft_open_unix_connection(weft_stream_t **out, const char *path,
                              const weft_connect_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!weft__task_require("weft_open_unix_connection"))
        return -EPERM;
    return with_timeout(opts, unix_in_scope, out, path, NULL);
}
