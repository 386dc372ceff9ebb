/* udp_echo.c - a UDP echo server and client in one program: the server
 * sends every datagram back to its sender; the client sends each message
 * as a datagram and prints the reply, giving up after a deadline (a lost
 * datagram is never retransmitted: UDP does not). In asyncio terms, a
 * DatagramProtocol whose datagram_received() calls sendto(data, addr),
 * and a client that awaits each reply inside asyncio.timeout().
 *
 * Usage: udp_echo server [--host H] PORT
 *        udp_echo client [--host H] [--timeout S] PORT MESSAGE...
 *
 * server: binds H:PORT (H defaults to 127.0.0.1; PORT 0 takes a free
 * port), prints "listening on HOST:PORT", echoes until SIGINT or SIGTERM
 * (caught by weft_run, WEFT_RUN_SIGNALS), then prints "stopped on
 * SIGTERM" (or SIGINT) and exits 0.
 * client: sends each MESSAGE to H:PORT, one at a time, and prints each
 * reply on a line of its own. If no reply comes within S seconds (default
 * 1) it says so on stderr and exits 1; likewise when the kernel reports
 * that nobody listens (ICMP port unreachable). Bad arguments: exit 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#define USAGE                                                                  \
    "usage: udp_echo server [--host H] PORT | udp_echo client [--host H] "     \
    "[--timeout S] PORT MESSAGE...\n"
#define MAX_DATAGRAM 65536 /* more than the largest UDP payload, 65507 */
/* Stopping takes no time (nothing is half done between datagrams); should
 * it hang, weft_run cancels the server after this many seconds. */
#define STOP_GRACE_S 5.0

struct config {
    bool server;
    const char *host, *port;
    double timeout;
    char **messages;
    int nmessages;
};

struct run {
    const struct config *cfg;
    const int *stop_signal; /* weft_run's: the SIGINT/SIGTERM that stops us */
    int status;             /* the exit status */
};

/* ---- the server ------------------------------------------------------------------ */

/* Echo every datagram to where it came from, until cancelled. */
static int echo_datagrams(void *arg) {
    weft_udp_t *u = arg;
    char *buf = malloc(MAX_DATAGRAM);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fromlen;
        ssize_t n = weft_udp_recvfrom(u, buf, MAX_DATAGRAM, &from, &fromlen);
        if (n == -ECANCELED || n == -EBADF)
            break;
        if (n < 0)
            continue; /* a bad datagram is that sender's problem, not ours */
        n = weft_udp_sendto(u, buf, (size_t)n, (struct sockaddr *)&from,
                            fromlen);
        if (n == -ECANCELED || n == -EBADF)
            break;
    }
    free(buf);
    return 0;
}

/* "127.0.0.1:8888" or "[::1]:8888". */
static void format_addr(const struct sockaddr_storage *ss, char *out,
                        size_t size) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        snprintf(out, size, "[%s]:%d", ip, ntohs(s6->sin6_port));
        return;
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(out, size, "%s:%d", ip, ntohs(s4->sin_port));
}

static const char *signal_name(int signo) {
    return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "signal";
}

/* Wait until weft_run asks us to stop (SIGINT or SIGTERM: a soft
 * cancellation, which ends this wait as it is inside a stoppable scope).
 * Returns -ECANCELED then, or an error that ended it first. */
static int wait_until_stopped(void) {
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, INFINITY, WEFT_SCOPE_STOPPABLE);
    if (err < 0)
        return err;
    err = weft_sleep(INFINITY);
    weft_scope_exit(&sc);
    return err;
}

static int server_main(struct run *run) {
    const struct config *cfg = run->cfg;
    weft_udp_t *u;
    int err = weft_udp_open(&u, cfg->host, cfg->port, NULL, NULL, AF_UNSPEC,
                            0);
    if (err < 0) {
        fprintf(stderr, "udp_echo: cannot bind %s:%s: %s\n", cfg->host,
                cfg->port, weft_strerror(err));
        return 0;
    }
    weft_task_t *echo;
    err = weft_spawn(&echo, echo_datagrams, u, NULL);
    if (err < 0) {
        fprintf(stderr, "udp_echo: %s\n", weft_strerror(err));
        weft_udp_close(u);
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    char addr[INET6_ADDRSTRLEN + 16];
    weft_udp_sockname(u, &ss, &len);
    format_addr(&ss, addr, sizeof addr);
    printf("listening on %s\n", addr);

    int werr = wait_until_stopped();
    weft_task_cancel(echo); /* nothing is half done between datagrams */
    err = weft_join(echo);
    weft_task_release(echo);
    weft_udp_close(u);
    if (!*run->stop_signal || err < 0) {
        fprintf(stderr, "udp_echo: %s\n", weft_strerror(err < 0 ? err : werr));
        return 0;
    }
    printf("stopped on %s\n", signal_name(*run->stop_signal));
    run->status = 0;
    return 0;
}

/* ---- the client ------------------------------------------------------------------- */

static int client_main(struct run *run) {
    const struct config *cfg = run->cfg;
    weft_udp_t *u;
    /* Connected to the server: replies from anybody else are not ours,
     * and the kernel's "port unreachable" reaches us. */
    int err = weft_udp_open(&u, NULL, NULL, cfg->host, cfg->port, AF_UNSPEC,
                            0);
    if (err < 0) {
        fprintf(stderr, "udp_echo: cannot reach %s:%s: %s\n", cfg->host,
                cfg->port, weft_strerror(err));
        return 0;
    }
    char *buf = malloc(MAX_DATAGRAM);
    if (!buf) {
        fprintf(stderr, "udp_echo: %s\n", weft_strerror(-ENOMEM));
        weft_udp_close(u);
        return 0;
    }
    run->status = 0;
    for (int i = 0; i < cfg->nmessages && run->status == 0; i++) {
        const char *msg = cfg->messages[i];
        ssize_t n = weft_udp_sendto(u, msg, strlen(msg), NULL, 0);
        if (n >= 0) {
            /* The deadline: a scope around the wait, whatever the wait. */
            weft_scope_t sc;
            n = weft_scope_enter(&sc, cfg->timeout, 0);
            if (n == 0) {
                n = weft_udp_recvfrom(u, buf, MAX_DATAGRAM, NULL, NULL);
                weft_scope_exit(&sc);
            }
        }
        if (n >= 0) {
            printf("%.*s\n", (int)n, buf);
        } else if (n == -ETIMEDOUT) {
            fprintf(stderr, "udp_echo: no reply to message %d within %g s\n",
                    i + 1, cfg->timeout);
            run->status = 1;
        } else {
            fprintf(stderr, "udp_echo: no echo from %s:%s: %s\n", cfg->host,
                    cfg->port, weft_strerror((int)n));
            run->status = 1;
        }
    }
    free(buf);
    weft_udp_close(u);
    return 0;
}

static int udp_main(void *arg) {
    struct run *run = arg;
    run->status = 1;
    return run->cfg->server ? server_main(run) : client_main(run);
}

/* ---- the command line -------------------------------------------------------------- */

/* A port: a whole number from min to 65535. */
static bool valid_port(const char *s, long min) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end != s && !*end && !errno && s[0] != '+' && v >= min &&
           v <= 65535;
}

/* A timeout: a finite, positive number of seconds up to a day. */
static bool parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v <= 0 || v > 86400)
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "server") == 0)
        cfg->server = true;
    else if (strcmp(argv[1], "client") != 0)
        return -1;
    int i = 2;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc &&
            argv[i + 1][0]) {
            cfg->host = argv[++i];
        } else if (!cfg->server && strcmp(argv[i], "--timeout") == 0 &&
                   i + 1 < argc) {
            if (!parse_seconds(argv[++i], &cfg->timeout))
                return -1;
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            return -1;
        }
    }
    if (i >= argc || !valid_port(argv[i], cfg->server ? 0 : 1))
        return -1;
    cfg->port = argv[i++];
    cfg->messages = argv + i;
    cfg->nmessages = argc - i;
    /* The server takes no messages; the client needs at least one. */
    return cfg->server == (cfg->nmessages == 0) ? 0 : -1;
}

int main(int argc, char **argv) {
    struct config cfg = {.host = "127.0.0.1", .timeout = 1.0};
    if (parse_args(argc, argv, &cfg) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int stop_signal = 0;
    struct run run = {&cfg, &stop_signal, 1};
    weft_run_opts_t opts = {0};
    if (cfg.server) {
        opts.flags = WEFT_RUN_SIGNALS; /* SIGINT/SIGTERM: stop */
        opts.grace = STOP_GRACE_S;
        opts.stop_signal = &stop_signal;
    }
    int err = weft_run_opts(udp_main, &run, &opts);
    if (err < 0) {
        fprintf(stderr, "udp_echo: %s\n", weft_strerror(err));
        return 1;
    }
    return run.status;
}
