/* echo_client.c - a TCP echo client, over TLS on request: sends each
 * message, one at a time, and prints what comes back. The C twin of
 * asyncio's
 *
 *     async def main():
 *         ssl_ctx = ssl.create_default_context(cafile=cafile) if tls else None
 *         reader, writer = await asyncio.open_connection(host, port,
 *                                                        ssl=ssl_ctx)
 *         for message in messages:
 *             writer.write(message.encode() + b"\n")
 *             reply = await reader.readexactly(len(message) + 1)
 *             print(reply.decode(), end="")
 *         writer.close()
 *         await writer.wait_closed()
 *
 * Usage: echo_client [--tls [--cafile FILE | --insecure]] [--host H] PORT
 *                    [MESSAGE...]
 *
 * Connects to H:PORT (H defaults to 127.0.0.1) and sends each MESSAGE
 * followed by a newline, or, without MESSAGEs, each line of stdin. After
 * each one it waits for as many bytes to come back and prints them, so the
 * output of an echo server is the input again.
 *
 * --tls: over TLS 1.2 or 1.3. The server's certificate must be signed by
 * a CA of the system's store (/etc/ssl/certs), or by the one in the PEM
 * file given with --cafile (a test CA, say), and be for H: a host name
 * (sent with SNI too) or an IP address. --insecure skips that check, and
 * with it all protection against someone in the middle: for testing only.
 *
 * Exit status 0 when every message came back; errors (no server, a
 * certificate that is not trusted or not for H, the connection closed
 * early, a line of stdin longer than 1 MiB): one line on stderr, exit
 * status 1; bad arguments: 2. A failed handshake says why:
 * "echo_client: TLS handshake with H failed: REASON (what weft calls it)".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#define USAGE                                                                  \
    "usage: echo_client [--tls [--cafile FILE | --insecure]] [--host H] PORT " \
    "[MESSAGE...]\n"
#define CONNECT_TIMEOUT_S 10.0
#define MAX_LINE (1024 * 1024)

struct config {
    const char *host, *port;
    bool tls;
    const char *cafile; /* TLS: trust this CA, not the system's store */
    bool insecure;      /* TLS: do not check the server's certificate */
    char **messages;    /* NULL: read lines from stdin */
    int nmessages;
};

/* ---- the connection ------------------------------------------------------ */

/* weft explains a CA file it cannot use in a log line (a warning) and
 * returns WEFT_ETLS: keep that line, to make it the reason in our one-line
 * error. */
struct kept_line {
    char text[256];
};

static void keep_log_line(int level, const char *msg, void *arg) {
    (void)level;
    struct kept_line *kept = arg;
    snprintf(kept->text, sizeof kept->text, "%s", msg);
}

/* The client's TLS context. Returns 0, or 1 after saying on stderr why
 * not. */
static int make_tls_ctx(const struct config *cfg, weft_tls_ctx_t **out) {
    weft_tls_opts_t o = {.ca_file = cfg->cafile, /* NULL: the system's */
                         .handshake_timeout = CONNECT_TIMEOUT_S,
                         .flags = cfg->insecure ? WEFT_TLS_NO_VERIFY : 0};
    struct kept_line kept = {""};
    void *prev_arg;
    weft_log_fn prev = weft_set_log_handler(keep_log_line, &kept, &prev_arg);
    int err = weft_tls_client_ctx(out, &o);
    weft_set_log_handler(prev, prev_arg, NULL);
    if (err == 0)
        return 0;
    fprintf(stderr, "echo_client: %s: %s\n",
            cfg->cafile ? cfg->cafile : "the system's trusted CAs",
            kept.text[0] ? kept.text : weft_strerror(err));
    return 1;
}

/* Connect over TCP, then, with TLS, do the handshake: verifying that the
 * certificate is for cfg->host unless tls was made with --insecure.
 * Returns 0 with the stream in *out, or 1 after saying on stderr why
 * not. (weft_connect_opts_t.tls would do both in one call; doing the
 * handshake ourselves keeps the stream, and with it weft_tls_error's
 * account of what went wrong.) */
static int open_echo_connection(const struct config *cfg, weft_tls_ctx_t *tls,
                                weft_stream_t **out) {
    weft_connect_opts_t o = {.timeout = CONNECT_TIMEOUT_S};
    int err = weft_open_connection(out, cfg->host, cfg->port, &o);
    if (err < 0) {
        fprintf(stderr, "echo_client: cannot connect to %s:%s: %s\n",
                cfg->host, cfg->port, weft_strerror(err));
        return 1;
    }
    if (!tls)
        return 0;
    err = weft_tls_client(*out, tls, cfg->host);
    if (err == 0)
        return 0;
    /* weft_tls_error: "TLS handshake with H failed: REASON", in OpenSSL's
     * words ("" if it failed before it began: no memory); weft_strerror
     * names the kind: "TLS certificate not trusted", "... expired or not
     * yet valid", "... does not match the name", or "TLS failure". */
    const char *why = weft_tls_error(*out);
    if (*why)
        fprintf(stderr, "echo_client: %s (%s)\n", why, weft_strerror(err));
    else
        fprintf(stderr, "echo_client: TLS handshake with %s failed: %s\n",
                cfg->host, weft_strerror(err));
    weft_stream_abort(*out); /* unusable now */
    *out = NULL;
    return 1;
}

/* ---- where the messages come from ------------------------------------------- */

/* The command line, or stdin: as a weft stream when reading it may wait
 * (a pipe, a terminal, a socket), so the loop goes on meanwhile; with
 * stdio when it is a file that is always ready, which never waits:
 * weft_stream_from_fd refuses a regular file (-EINVAL), and epoll other
 * files it cannot watch, such as /dev/null (-EPERM). */
struct input {
    const struct config *cfg;
    int next;                /* the next message of cfg->messages */
    weft_stream_t *in;       /* stdin as a stream ... */
    int stdin_flags;         /* ... whose flags we restore (it is shared) */
    FILE *file;              /* ... or stdin read with stdio */
    char *buf;               /* the message, with room for its newline */
    size_t cap;
};

static int input_open(struct input *inp, const struct config *cfg) {
    memset(inp, 0, sizeof *inp);
    inp->cfg = cfg;
    if (cfg->messages)
        return 0;
    inp->cap = MAX_LINE + 1;
    inp->buf = malloc(inp->cap);
    if (!inp->buf)
        return -ENOMEM;
    /* The stream takes over (and makes non-blocking) the file description
     * of fd 0, which our parent shares: remember its flags. */
    inp->stdin_flags = fcntl(STDIN_FILENO, F_GETFL);
    int fd = inp->stdin_flags < 0 ? -1 : dup(STDIN_FILENO);
    if (fd < 0)
        return -errno;
    weft_stream_opts_t o = {.limit = MAX_LINE};
    int err = weft_stream_from_fd(weft_loop_current(), &inp->in, fd, &o);
    if (err < 0) { /* the stream was not made: fd is still ours */
        close(fd);
        fcntl(STDIN_FILENO, F_SETFL, inp->stdin_flags);
    }
    if (err == -EINVAL || err == -EPERM) {
        inp->file = stdin;
        return 0;
    }
    return err;
}

static void input_close(struct input *inp) {
    if (inp->in) {
        weft_stream_close(inp->in);
        fcntl(STDIN_FILENO, F_SETFL, inp->stdin_flags);
    }
    free(inp->buf);
}

/* The next message with its newline: its length (> 0), 0 at the end, or a
 * negative errno. *msg stays valid until the next call. */
static ssize_t input_next(struct input *inp, const char **msg) {
    const struct config *cfg = inp->cfg;
    if (cfg->messages) {
        if (inp->next == cfg->nmessages)
            return 0;
        const char *m = cfg->messages[inp->next++];
        size_t n = strlen(m);
        if (n + 1 > inp->cap) {
            char *b = realloc(inp->buf, n + 1);
            if (!b)
                return -ENOMEM;
            inp->buf = b;
            inp->cap = n + 1;
        }
        memcpy(inp->buf, m, n);
        inp->buf[n] = '\n';
        *msg = inp->buf;
        return (ssize_t)n + 1;
    }
    ssize_t n;
    if (inp->file) {
        if (!fgets(inp->buf, (int)inp->cap, inp->file))
            return ferror(inp->file) ? -EIO : 0;
        n = (ssize_t)strlen(inp->buf);
        if (n == MAX_LINE && inp->buf[n - 1] != '\n')
            return -EMSGSIZE;
    } else {
        n = weft_stream_readline(inp->in, inp->buf, MAX_LINE);
        if (n == -EPIPE) /* the last line has no newline: what is left */
            n = weft_stream_read(inp->in, inp->buf, MAX_LINE);
        if (n <= 0)
            return n;
    }
    if (inp->buf[n - 1] != '\n')
        inp->buf[n++] = '\n';
    *msg = inp->buf;
    return n;
}

/* ---- the exchange ------------------------------------------------------------------ */

struct run {
    const struct config *cfg;
    int status;
};

static void fail(struct run *run, const char *what, int err) {
    fprintf(stderr, "echo_client: %s: %s\n", what, weft_strerror(err));
    run->status = 1;
}

/* Send the message and print as many bytes as come back. */
static int exchange(weft_stream_t *s, const char *msg, size_t len,
                    char **reply, size_t *cap) {
    if (len > *cap) {
        char *b = realloc(*reply, len);
        if (!b)
            return -ENOMEM;
        *reply = b;
        *cap = len;
    }
    int err = weft_stream_write(s, msg, len);
    if (err < 0)
        return err;
    /* The echo may come in pieces: wait for all of it. The write buffer
     * flushes meanwhile, so a message larger than the socket buffers does
     * not deadlock. */
    ssize_t n = weft_stream_read_exactly(s, *reply, len);
    if (n < 0)
        return (int)n;
    fwrite(*reply, 1, len, stdout);
    return 0;
}

static int client_main(void *arg) {
    struct run *run = arg;
    const struct config *cfg = run->cfg;
    run->status = 1;
    weft_tls_ctx_t *tls = NULL;
    if (cfg->tls && make_tls_ctx(cfg, &tls) != 0)
        return 0;
    weft_stream_t *s;
    int bad = open_echo_connection(cfg, tls, &s);
    weft_tls_ctx_free(tls); /* the stream keeps what it needs */
    if (bad)
        return 0;
    run->status = 0;
    struct input inp;
    int err = input_open(&inp, cfg);
    if (err < 0)
        fail(run, "cannot read stdin", err);
    char *reply = NULL;
    size_t cap = 0;
    while (err == 0) {
        const char *msg;
        ssize_t len = input_next(&inp, &msg);
        if (len == 0)
            break;
        if (len < 0) {
            fail(run, len == -EMSGSIZE ? "a line of stdin is longer than 1 MiB"
                                       : "cannot read stdin",
                 (int)len);
            break;
        }
        err = exchange(s, msg, (size_t)len, &reply, &cap);
        if (err == -EPIPE) { /* end of stream before the whole echo */
            fprintf(stderr, "echo_client: the server closed the connection "
                            "before echoing everything\n");
            run->status = 1;
        } else if (err < 0) {
            fail(run, "connection lost", err);
        }
    }
    free(reply);
    input_close(&inp);
    err = weft_stream_close(s);
    if (err < 0 && run->status == 0)
        fail(run, "closing", err);
    return 0;
}

/* ---- the command line -------------------------------------------------------------- */

/* A port: a whole number from 1 to 65535. */
static bool valid_port(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return end != s && !*end && !errno && s[0] != '+' && v >= 1 && v <= 65535;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--tls") == 0) {
            cfg->tls = true;
        } else if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc &&
                   argv[i + 1][0]) {
            cfg->cafile = argv[++i];
        } else if (strcmp(argv[i], "--insecure") == 0) {
            cfg->insecure = true;
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
    /* --cafile and --insecure are TLS options, and contradict each other. */
    if ((cfg->cafile || cfg->insecure) && !cfg->tls)
        return -1;
    if (cfg->cafile && cfg->insecure)
        return -1;
    if (i >= argc || !valid_port(argv[i]))
        return -1;
    cfg->port = argv[i++];
    if (i < argc) {
        cfg->messages = argv + i;
        cfg->nmessages = argc - i;
    }
    return 0;
}

int main(int argc, char **argv) {
    struct config cfg = {.host = "127.0.0.1"};
    if (parse_args(argc, argv, &cfg) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    /* A server that goes away while we write: -EPIPE, not SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    struct run run = {&cfg, 1};
    int err = weft_run(client_main, &run);
    if (err < 0) {
        fprintf(stderr, "echo_client: %s\n", weft_strerror(err));
        return 1;
    }
    if (fflush(stdout) != 0 && run.status == 0) {
        fprintf(stderr, "echo_client: cannot write the replies\n");
        return 1;
    }
    return run.status;
}
