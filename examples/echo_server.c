/* echo_server.c - a TCP echo server, over TLS on request: every byte a
 * client sends comes back to it. The C twin of asyncio's
 *
 *     async def handle(reader, writer):
 *         while data := await reader.read(16384):
 *             writer.write(data)
 *             await writer.drain()
 *         writer.close()
 *
 *     async def main():
 *         ssl_ctx = None
 *         if tls:
 *             ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
 *             ssl_ctx.load_cert_chain(cert, key)
 *         server = await asyncio.start_server(handle, host, port,
 *                                             ssl=ssl_ctx)
 *         print("listening on ...")
 *         try:
 *             await asyncio.Event().wait()    # until SIGINT or SIGTERM
 *         finally:
 *             server.close()
 *             await server.wait_closed()
 *
 * Usage: echo_server [--tls CERT KEY] [--host H] PORT
 *
 * Listens on H:PORT (H defaults to 127.0.0.1; ::1 and other IPv6
 * addresses work too; PORT 0 takes a free port) and prints
 * "listening on HOST:PORT" once it accepts connections. Each connection is
 * a task that reads and writes back what it read, waiting (drain) while
 * the client does not take the echo as fast as it sends.
 *
 * --tls: connections speak TLS 1.2 or 1.3, with the certificate chain in
 * the PEM file CERT and its private key in KEY. Each connection's
 * handshake comes first (weft's server does it); a client that fails it
 * (it does not trust the certificate, it does not speak TLS, it is too
 * slow) is reported on stderr, "echo_server: TLS handshake with ADDRESS
 * failed: REASON", and the server goes on. Clients decide how many fail,
 * so weft limits those lines: the first, then at most one every 10 s,
 * "... (repeated N times)", counting the others.
 *
 * SIGINT or SIGTERM (caught by weft_run, WEFT_RUN_SIGNALS): it stops
 * accepting, ends at once the connections that are waiting for their next
 * bytes (or for the rest of their handshake), gives the others GRACE_S
 * seconds to finish what they are echoing (a second signal cuts that
 * short; a third ends the process as it would without weft), prints
 * "stopped on SIGTERM" (or SIGINT: the first signal) and exits 0.
 *
 * Errors (it cannot listen, or cannot use CERT and KEY): one line on
 * stderr, exit status 1; bad arguments: exit 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <weft.h>

#define USAGE "usage: echo_server [--tls CERT KEY] [--host H] PORT\n"
#define GRACE_S 30.0

struct config {
    const char *host, *port;
    const char *cert, *key; /* TLS when cert is not NULL */
};

/* ---- one connection ----------------------------------------------------------- */

/* The client went away: the normal end of a connection, not an error. */
static bool peer_gone(long err) {
    return err == -ECONNRESET || err == -EPIPE || err == -ESHUTDOWN;
}

/* The handler of each connection, in its own task (over TLS, after the
 * handshake). The server owns the stream and closes it (flushing what is
 * queued, then close_notify over TLS) when we return. */
static int echo_conn(weft_stream_t *s, void *arg) {
    (void)arg;
    char buf[16384];
    for (;;) {
        /* Waiting for the next bytes is idle time: a graceful close (the
         * server's soft cancellation) ends that wait at once, through a
         * stoppable scope. Echoing what we already read is not idle: it
         * goes on during the grace period. */
        weft_scope_t idle;
        int err = weft_scope_enter(&idle, INFINITY, WEFT_SCOPE_STOPPABLE);
        if (err < 0)
            return err;
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        weft_scope_exit(&idle);
        if (n <= 0) /* 0: the client ended the stream */
            return n == 0 || peer_gone(n) ? 0 : (int)n;
        err = weft_stream_write(s, buf, (size_t)n); /* queued, never waits */
        if (err == 0)
            err = weft_stream_drain(s); /* backpressure */
        if (err < 0)
            return peer_gone(err) ? 0 : err;
    }
}

/* ---- what weft says -------------------------------------------------------- */

/* weft reports a failed handshake (and a handler's error) at INFO, which
 * its default log handler leaves out: ours prints it, as one of our own
 * lines. */
static void print_log_line(int level, const char *msg, void *arg) {
    (void)arg;
    if (level >= WEFT_LOG_INFO)
        fprintf(stderr, "echo_server: %s\n", msg);
}

/* ---- the TLS context ----------------------------------------------------- */

/* weft explains a certificate or key it cannot use in a log line (a
 * warning) and returns WEFT_ETLS: keep that line, to make it the reason in
 * our one-line error. */
struct kept_line {
    char text[256];
};

static void keep_log_line(int level, const char *msg, void *arg) {
    (void)level;
    struct kept_line *kept = arg;
    snprintf(kept->text, sizeof kept->text, "%s", msg);
}

/* The server's TLS context, from cfg->cert and cfg->key. Returns 0, or 1
 * after saying on stderr why not. */
static int make_tls_ctx(const struct config *cfg, weft_tls_ctx_t **out) {
    weft_tls_opts_t o = {.cert_file = cfg->cert, .key_file = cfg->key};
    struct kept_line kept = {""};
    void *prev_arg;
    weft_log_fn prev = weft_set_log_handler(keep_log_line, &kept, &prev_arg);
    int err = weft_tls_server_ctx(out, &o);
    weft_set_log_handler(prev, prev_arg, NULL);
    if (err == 0)
        return 0;
    if (err == -ENOENT) { /* weft does not say which: one of them */
        struct stat st;
        const char *f = stat(cfg->cert, &st) < 0 ? cfg->cert : cfg->key;
        fprintf(stderr, "echo_server: %s: %s\n", f, weft_strerror(err));
    } else {
        fprintf(stderr, "echo_server: cannot use certificate %s with key "
                        "%s: %s\n",
                cfg->cert, cfg->key,
                kept.text[0] ? kept.text : weft_strerror(err));
    }
    return 1;
}

/* ---- the server ------------------------------------------------------------------ */

/* "127.0.0.1:8888" or "[::1]:8888". */
static void format_addr(const struct sockaddr_storage *ss, char *out,
                        size_t size) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
        snprintf(out, size, "[%s]:%d", ip, port);
        return;
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    port = ntohs(s4->sin_port);
    snprintf(out, size, "%s:%d", ip, port);
}

static const char *signal_name(int signo) {
    return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "signal";
}

struct run {
    const struct config *cfg;
    const int *stop_signal; /* weft_run's: the first SIGINT/SIGTERM */
    int status;             /* the exit status */
};

/* Serve until weft_run asks us to stop (the first SIGINT or SIGTERM: a
 * soft cancellation, which ends this wait as it is inside a stoppable
 * scope). Returns -ECANCELED then, or an error that ended it first. */
static int serve_until_stopped(void) {
    weft_scope_t serving;
    int err = weft_scope_enter(&serving, INFINITY, WEFT_SCOPE_STOPPABLE);
    if (err < 0)
        return err;
    err = weft_sleep(INFINITY);
    weft_scope_exit(&serving);
    return err;
}

static int server_main(void *arg) {
    struct run *run = arg;
    const struct config *cfg = run->cfg;
    weft_loop_t *loop = weft_loop_current();
    run->status = 1;

    weft_tls_ctx_t *tls = NULL;
    if (cfg->cert && make_tls_ctx(cfg, &tls) != 0)
        return 0;
    /* The server does each handshake before echo_conn runs; a graceful
     * close ends those still waiting for the client at once. */
    weft_server_opts_t so = {.tls = tls};
    weft_server_t *srv;
    int err = weft_start_server(loop, &srv, cfg->host, cfg->port, echo_conn,
                                NULL, &so);
    if (err < 0) {
        fprintf(stderr, "echo_server: cannot listen on %s:%s: %s\n",
                cfg->host, cfg->port, weft_strerror(err));
        weft_tls_ctx_free(tls);
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    char addr[INET6_ADDRSTRLEN + 16];
    weft_server_sockname(srv, &ss, &len);
    format_addr(&ss, addr, sizeof addr);
    printf("listening on %s\n", addr);

    err = serve_until_stopped();
    /* Stop accepting; idle connections end now, busy ones within the grace
     * period; returns when every handler has finished. If a second signal
     * comes meanwhile, weft_run cancels this task, which makes
     * weft_server_close cancel the connections still running at once. */
    int cerr = weft_server_close(srv, GRACE_S);
    weft_tls_ctx_free(tls); /* the connections are gone */
    if (!*run->stop_signal || cerr < 0) {
        fprintf(stderr, "echo_server: %s\n",
                weft_strerror(cerr < 0 ? cerr : err));
        return 0;
    }
    printf("stopped on %s\n", signal_name(*run->stop_signal));
    run->status = 0;
    return 0;
}

/* ---- the command line -------------------------------------------------------------- */

/* A port: a whole number from 0 to 65535. */
static bool valid_port(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end != s && !*end && !errno && s[0] != '-' && s[0] != '+' &&
           v >= 0 && v <= 65535;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc &&
            argv[i + 1][0] && argv[i + 2][0]) {
            cfg->cert = argv[++i];
            cfg->key = argv[++i];
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc &&
                   argv[i + 1][0]) {
            cfg->host = argv[++i];
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            return -1;
        }
    }
    if (argc - i != 1 || !valid_port(argv[i]))
        return -1;
    cfg->port = argv[i];
    return 0;
}

int main(int argc, char **argv) {
    struct config cfg = {.host = "127.0.0.1"};
    if (parse_args(argc, argv, &cfg) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A client that disconnects while we write to it must be an error on
     * that connection (-EPIPE), not SIGPIPE killing the server. */
    signal(SIGPIPE, SIG_IGN);
    weft_set_log_handler(print_log_line, NULL, NULL);
    int stop_signal = 0;
    struct run run = {&cfg, &stop_signal, 1};
    weft_run_opts_t opts = {0};
    opts.flags = WEFT_RUN_SIGNALS; /* SIGINT/SIGTERM: a graceful stop */
    opts.grace = GRACE_S;          /* then cancel server_main */
    opts.stop_signal = &stop_signal;
    int err = weft_run_opts(server_main, &run, &opts);
    if (err < 0) {
        fprintf(stderr, "echo_server: %s\n", weft_strerror(err));
        return 1;
    }
    return run.status;
}
