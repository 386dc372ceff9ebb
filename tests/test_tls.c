/* TLS over loopback, with certificates made at test time by the openssl
 * command-line tool (tests/tls/make-certs.sh): a good certificate, a wrong
 * host name, an expired certificate, an unknown CA, ALPN, SNI, STARTTLS,
 * close_notify, a handshake deadline, bulk data. */
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net_int.h" /* a victim's write buffer */
#include "support.h"
#include <weft/tls.h>

static char dir[64];
static char path_buf[8][256];

static const char *P(int slot, const char *name) {
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

/* The certificates (tests/tls/make-certs.sh), made once by main before the
 * tests run: making them takes a second or more (several RSA keys), and
 * Check forks a process per test, which inherits the directory. */
static bool make_certs(void) {
    snprintf(dir, sizeof dir, "/tmp/weft-tls-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh %s %s", MAKE_CERTS, dir);
    return system(cmd) == 0;
}

static void remove_certs(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tls: could not remove %s\n", dir);
}

static weft_tls_ctx_t *server_ctx(const char *cert, const char *alpn) {
    weft_tls_opts_t o = {.cert_file = P(0, cert),
                         .key_file = P(1, "server.key"),
                         .alpn = alpn};
    weft_tls_ctx_t *c;
    ck_assert_ok(weft_tls_server_ctx(&c, &o));
    return c;
}

/* A first handshake under memcheck on a loaded machine (OpenSSL's
 * first use translated by valgrind) took over 3 s: allow it 60. */
static double handshake_limit(void) {
    const char *vg = getenv("WEFT_TEST_VALGRIND");
    return vg && strcmp(vg, "1") == 0 ? 60.0 : 3.0;
}

static weft_tls_ctx_t *client_ctx(const char *ca, unsigned flags,
                                  const char *alpn) {
    weft_tls_opts_t o = {.ca_file = ca ? P(2, ca) : NULL,
                         .flags = flags,
                         .alpn = alpn,
                         .handshake_timeout = handshake_limit()};
    weft_tls_ctx_t *c;
    ck_assert_ok(weft_tls_client_ctx(&c, &o));
    return c;
}

/* ---- an echo server over TLS ---------------------------------------------------- */

struct seen {
    char sni[64];
    char alpn[32];
    int eof_rc;
};

static int tls_echo(weft_stream_t *s, void *arg) {
    struct seen *seen = arg;
    if (seen) {
        const char *n = weft_tls_server_name(s);
        const char *a = weft_tls_alpn(s);
        snprintf(seen->sni, sizeof seen->sni, "%s", n ? n : "");
        snprintf(seen->alpn, sizeof seen->alpn, "%s", a ? a : "");
    }
    char buf[8192];
    for (;;) {
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0) {
            if (seen)
                seen->eof_rc = (int)n;
            return (int)n;
        }
        int err = weft_stream_write(s, buf, (size_t)n);
        if (!err)
            err = weft_stream_drain(s);
        if (err)
            return err;
    }
}

static weft_server_t *start(weft_tls_ctx_t *tls, void *arg, char *port) {
    weft_server_t *srv;
    weft_server_opts_t so = {.tls = tls};
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1", "0",
                                   tls_echo, arg, &so));
    snprintf(port, 8, "%d", weft_server_port(srv));
    return srv;
}

static int good_main(void *arg) {
    (void)arg;
    struct seen seen = {.eof_rc = 1};
    weft_tls_ctx_t *sctx = server_ctx("server.crt", "http/1.1");
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, "h2,http/1.1");
    char port[8];
    weft_server_t *srv = start(sctx, &seen, port);
    weft_connect_opts_t o = {.tls = cctx, .server_name = "localhost"};
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &o));
    ck_assert_str_eq(weft_tls_version(c), "TLSv1.3");
    ck_assert_str_eq(weft_tls_alpn(c), "http/1.1");
    ck_assert_str_eq(weft_tls_error(c), "");
    ck_assert_ok(weft_stream_write(c, "over tls\n", 9));
    char line[32];
    ck_assert_int_eq(weft_stream_readline(c, line, sizeof line), 9);
    ck_assert_int_eq(memcmp(line, "over tls\n", 9), 0);
    /* Bulk: 4 MiB each way, intact. */
    static char big[1 << 20], back[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 31 + i / 977);
    for (int round = 0; round < 4; round++) {
        ck_assert_ok(weft_stream_write(c, big, sizeof big));
        ck_assert_int_eq(weft_stream_read_exactly(c, back, sizeof back),
                         (ssize_t)sizeof back);
        ck_assert_int_eq(memcmp(big, back, sizeof big), 0);
    }
    /* close_notify: the server reads a clean end of stream. */
    ck_assert_ok(weft_stream_close(c));
    while (weft_server_connections(srv) > 0)
        ck_assert_ok(weft_sleep(0.01));
    ck_assert_int_eq(seen.eof_rc, 0);
    ck_assert_str_eq(seen.sni, "localhost");
    ck_assert_str_eq(seen.alpn, "http/1.1");
    /* An IP address as the name: checked against the certificate's IP
     * entries, not sent as SNI. */
    o.server_name = NULL; /* the host, 127.0.0.1 */
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &o));
    ck_assert_ok(weft_stream_close(c));
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(a_good_certificate_echo_alpn_sni_bulk_close_notify) {
    ck_assert_ok(weft_run(good_main, NULL));
}
END_TEST

/* ---- failures that say why ----------------------------------------------------------- */

struct failcase {
    const char *server_cert;
    const char *client_ca;
    const char *name;
    int want;
    const char *text;
};

static int fail_main(void *arg) {
    struct failcase *f = arg;
    weft_tls_ctx_t *sctx = server_ctx(f->server_cert, NULL);
    weft_tls_ctx_t *cctx = client_ctx(f->client_ca, 0, NULL);
    char port[8];
    weft_server_t *srv = start(sctx, NULL, port);
    /* open_connection reports the code... */
    weft_connect_opts_t o = {.tls = cctx, .server_name = f->name};
    weft_stream_t *c;
    logcap_start();
    ck_assert_err(weft_open_connection(&c, "127.0.0.1", port, &o), f->want);
    logcap_stop();
    ck_assert_ptr_null(c);
    /* ... and, upgrading by hand, the text naming the host and the reason. */
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
    ck_assert_err(weft_tls_client(c, cctx, f->name), f->want);
    const char *why = weft_tls_error(c);
    ck_assert_msg(strstr(why, f->name) && strstr(why, f->text),
                  "error text '%s' lacks '%s' or '%s'", why, f->name,
                  f->text);
    ck_assert_int_lt(weft_stream_write(c, "x", 1), 0); /* unusable now */
    weft_stream_abort(c);
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

static void run_fail(struct failcase *f) {
    ck_assert_ok(weft_run(fail_main, f));
}

START_TEST(a_wrong_host_name_is_refused) {
    struct failcase f = {"server.crt", "ca.crt", "wrong.test",
                         WEFT_ETLS_HOSTNAME, "mismatch"};
    run_fail(&f);
}
END_TEST

START_TEST(an_expired_certificate_is_refused) {
    struct failcase f = {"expired.crt", "ca.crt", "localhost",
                         WEFT_ETLS_EXPIRED, "expired"};
    run_fail(&f);
}
END_TEST

START_TEST(an_unknown_ca_is_refused) {
    struct failcase f = {"other.crt", "ca.crt", "localhost",
                         WEFT_ETLS_UNTRUSTED, "issuer"};
    run_fail(&f);
}
END_TEST

/* Verification can be turned off, explicitly. */
static int noverify_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("other.crt", NULL);
    weft_tls_ctx_t *cctx = client_ctx(NULL, WEFT_TLS_NO_VERIFY, NULL);
    char port[8];
    weft_server_t *srv = start(sctx, NULL, port);
    weft_connect_opts_t o = {.tls = cctx, .server_name = "anything.test"};
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &o));
    ck_assert_ok(weft_stream_write(c, "ok\n", 3));
    char line[8];
    ck_assert_int_eq(weft_stream_readline(c, line, sizeof line), 3);
    ck_assert_ok(weft_stream_close(c));
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(verification_off_is_explicit) {
    ck_assert_ok(weft_run(noverify_main, NULL));
}
END_TEST

/* ---- STARTTLS, a silent peer, a plaintext peer ------------------------------------------ */

/* STARTTLS: the server reads a plain line, says go ahead, and upgrades.
 * An eager client does not wait for the go-ahead: its ClientHello comes
 * while the server is still busy with the plain line (it sleeps), so it
 * waits in the socket on epoll and, on io_uring, in what the stream's
 * multishot recv took while nobody read. The upgrade must hand those
 * bytes to TLS first. */
static bool eager;

static int starttls_handler(weft_stream_t *s, void *arg) {
    weft_tls_ctx_t *sctx = arg;
    char line[32];
    if (weft_stream_readline(s, line, sizeof line) != 9)
        return -EPROTO;
    if (eager)
        ck_assert_ok(weft_sleep(0.05)); /* the ClientHello arrives */
    else
        ck_assert_ok(weft_stream_write(s, "GO AHEAD\n", 9));
    int err = weft_tls_server(s, sctx);
    if (err)
        return err;
    return tls_echo(s, NULL);
}

static int starttls_main(void *arg) {
    eager = arg != NULL;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_server_t *srv;
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                   "0", starttls_handler, sctx, NULL));
    char port[8];
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    for (int i = 0; i < (eager ? 3 : 1); i++) {
        weft_stream_t *c;
        char line[32];
        ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
        ck_assert_ok(weft_stream_write(c, "STARTTLS\n", 9));
        if (eager) {
            ck_assert_ok(weft_stream_drain(c));
            ck_assert_ok(weft_sleep(0.01)); /* the line goes alone */
        } else {
            ck_assert_int_eq(weft_stream_readline(c, line, sizeof line), 9);
        }
        ck_assert_ok(weft_tls_client(c, cctx, "localhost"));
        ck_assert_ok(weft_stream_write(c, "secret\n", 7));
        ck_assert_int_eq(weft_stream_readline(c, line, sizeof line), 7);
        ck_assert_int_eq(memcmp(line, "secret\n", 7), 0);
        ck_assert_ok(weft_stream_close(c));
    }
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(starttls_upgrades_a_plain_stream) {
    ck_assert_ok(weft_run(starttls_main, NULL));
}
END_TEST

START_TEST(an_upgrade_takes_the_bytes_that_came_before_it) {
    ck_assert_ok(weft_run(starttls_main, (void *)1));
}
END_TEST

static int silent_handler(weft_stream_t *s, void *arg) {
    (void)s;
    (void)arg;
    return weft_sleep(1e6); /* accepts TCP, never speaks TLS */
}

static int garbage_handler(weft_stream_t *s, void *arg) {
    (void)arg;
    return weft_stream_write(s, "HTTP/1.1 400 Nope\r\n\r\n", 21);
}

static int deadline_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_server_t *srv;
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                   "0", silent_handler, NULL, NULL));
    char port[8];
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    weft_connect_opts_t o = {.tls = cctx, .server_name = "localhost"};
    weft_stream_t *c;
    double t0 = weft_loop_time(weft_loop_current());
    logcap_start();
    ck_assert_err(weft_open_connection(&c, "127.0.0.1", port, &o),
                  -ETIMEDOUT);
    logcap_stop();
    ck_assert_double_eq_tol(weft_loop_time(weft_loop_current()) - t0,
                            handshake_limit(),
                            1e-6); /* the context's handshake_timeout */
    ck_assert(strstr(logcap.last, "timed out") != NULL);
    ck_assert_ok(weft_server_close(srv, 0));
    /* A peer that answers in plaintext. */
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                   "0", garbage_handler, NULL, NULL));
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    logcap_start();
    ck_assert_err(weft_open_connection(&c, "127.0.0.1", port, &o),
                  WEFT_ETLS);
    logcap_stop();
    ck_assert(strstr(logcap.last, "localhost") != NULL);
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(a_silent_or_plaintext_peer_fails_the_handshake) {
    ck_assert_ok(run_virtual(deadline_main, NULL));
}
END_TEST

/* A TLS server keeps serving after a client that does not speak TLS. */
static int plain_client_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    char port[8];
    weft_server_t *srv = start(sctx, NULL, port);
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
    logcap_start();
    ck_assert_ok(weft_stream_write(c, "GET / HTTP/1.1\r\n\r\n", 18));
    char b[64];
    ssize_t n = weft_stream_read(c, b, sizeof b); /* an alert, or the end */
    (void)n;
    weft_stream_close(c);
    while (weft_server_connections(srv) > 0)
        ck_assert_ok(weft_sleep(0.01));
    logcap_stop();
    ck_assert_int_ge(logcap.n, 1);
    weft_connect_opts_t o = {.tls = cctx, .server_name = "localhost"};
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &o));
    ck_assert_ok(weft_stream_write(c, "still\n", 6));
    ck_assert_int_eq(weft_stream_readline(c, b, sizeof b), 6);
    ck_assert_ok(weft_stream_close(c));
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(a_plaintext_client_does_not_hurt_the_server) {
    ck_assert_ok(weft_run(plain_client_main, NULL));
}
END_TEST

START_TEST(contexts_refuse_bad_files) {
    weft_tls_ctx_t *c;
    weft_tls_opts_t o = {.cert_file = "/nonexistent.crt",
                         .key_file = "/nonexistent.key"};
    ck_assert_err(weft_tls_server_ctx(&c, &o), -ENOENT);
    o.cert_file = P(0, "server.crt");
    o.key_file = P(1, "ca.key"); /* not the certificate's key */
    logcap_start();
    ck_assert_err(weft_tls_server_ctx(&c, &o), WEFT_ETLS);
    logcap_stop();
    ck_assert_int_ge(logcap.n, 1);
    weft_tls_opts_t none = {0};
    ck_assert_err(weft_tls_server_ctx(&c, &none), -EINVAL); /* needs a cert */
    ck_assert_str_eq(weft_strerror(WEFT_ETLS_EXPIRED),
                     "TLS certificate expired or not yet valid");
    ck_assert_str_eq(weft_err_name(WEFT_ETLS_HOSTNAME), "ETLS_HOSTNAME");
}
END_TEST

/* ---- lifetimes and misuse ------------------------------------------------------------ */

struct side {
    weft_stream_t *s;
    weft_tls_ctx_t *ctx;
    const char *name; /* client: the server's name; NULL: a server */
    int rc;
    char alpn[32];
    char why[256];
};

static int side_main(void *arg) {
    struct side *d = arg;
    d->rc = d->name ? weft_tls_client(d->s, d->ctx, d->name)
                    : weft_tls_server(d->s, d->ctx);
    if (d->rc != -EBADF) { /* a closed stream is gone */
        const char *a = weft_tls_alpn(d->s);
        snprintf(d->alpn, sizeof d->alpn, "%s", a ? a : "");
        snprintf(d->why, sizeof d->why, "%s", weft_tls_error(d->s));
    }
    return 0;
}

/* tls.h: "Streams made with it keep what they need": a server context
 * freed while its handshake waits for the ClientHello (the ALPN choice
 * runs after the free; ASan sees a use after free if it reads the
 * context). */
static int ctx_free_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", "h2,http/1.1");
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, "http/1.1");
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    struct side srv = {.s = b, .ctx = sctx};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, side_main, &srv, NULL));
    ck_assert_ok(weft_yield()); /* the server waits for the ClientHello */
    ck_assert(!weft_task_done(t));
    weft_tls_ctx_free(sctx);
    ck_assert_ok(weft_tls_client(a, cctx, "localhost"));
    ck_assert_str_eq(weft_tls_alpn(a), "http/1.1");
    ck_assert_ok(weft_join(t));
    ck_assert_ok(srv.rc);
    ck_assert_str_eq(srv.alpn, "http/1.1");
    weft_task_release(t);
    ck_assert_ok(weft_stream_close(a));
    ck_assert_ok(weft_stream_close(b));
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(a_context_freed_mid_handshake_stays_usable) {
    ck_assert_ok(weft_run(ctx_free_main, NULL));
}
END_TEST

/* Another task closes the stream while the handshake waits: the handshake
 * returns -EBADF and the last one out frees the stream (ASan and valgrind
 * see a leak otherwise). The deadline also applies to weft_tls_client
 * called by hand. */
static int close_mid_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    struct side cli = {.s = a, .ctx = cctx, .name = "localhost"};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, side_main, &cli, NULL));
    ck_assert_ok(weft_yield()); /* the client waits for the ServerHello */
    ck_assert(!weft_task_done(t));
    /* Nobody else reads or writes during the handshake. */
    char c;
    logcap_start();
    ck_assert_err(weft_stream_read(a, &c, 1), -EBUSY);
    ck_assert_err(weft_stream_write(a, "x", 1), -EBUSY);
    logcap_stop();
    ck_assert_int_eq(logcap.n, 2);
    ck_assert_ok(weft_stream_close(a));
    ck_assert_ok(weft_join(t));
    ck_assert_err(cli.rc, -EBADF);
    weft_task_release(t);
    weft_stream_abort(b);
    /* The server side too. */
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    struct side srv = {.s = b, .ctx = sctx};
    ck_assert_ok(weft_spawn(&t, side_main, &srv, NULL));
    ck_assert_ok(weft_yield());
    ck_assert(!weft_task_done(t));
    ck_assert_ok(weft_stream_close(b));
    ck_assert_ok(weft_join(t));
    ck_assert_err(srv.rc, -EBADF);
    weft_task_release(t);
    weft_stream_abort(a);
    /* A silent peer and a hand-made upgrade: the context's deadline. */
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    double t0 = weft_loop_time(weft_loop_current());
    ck_assert_err(weft_tls_client(a, cctx, "localhost"), -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(weft_loop_current()) - t0,
                            handshake_limit(),
                            1e-6);
    ck_assert(strstr(weft_tls_error(a), "timed out") != NULL);
    weft_stream_abort(a);
    weft_stream_abort(b);
    weft_tls_ctx_free(cctx);
    weft_tls_ctx_free(sctx);
    return 0;
}

START_TEST(a_stream_closed_mid_handshake_is_freed) {
    ck_assert_ok(run_virtual(close_mid_main, NULL));
}
END_TEST

static int read_one(void *arg) {
    weft_stream_t *s = arg;
    char c;
    ssize_t n = weft_stream_read(s, &c, 1);
    return n == 1 ? c : (int)n;
}

/* An upgrade that fails before the handshake leaves a plain stream that
 * still works; one made while another task reads is refused. */
static int refused_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    logcap_start();
    /* An empty name would check no name at all; too long for SNI. */
    ck_assert_err(weft_tls_client(a, cctx, ""), -EINVAL);
    ck_assert_err(weft_tls_client(a, cctx, longname), -EINVAL);
    ck_assert_err(weft_tls_client(a, cctx, NULL), -EINVAL);
    logcap_stop();
    ck_assert_int_eq(logcap.n, 3);
    ck_assert_ptr_null(weft_tls_version(a));
    ck_assert_ok(weft_stream_write(a, "plain\n", 6));
    char line[16];
    ck_assert_int_eq(weft_stream_readline(b, line, sizeof line), 6);
    /* Another task is reading a: no upgrade under it. */
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, read_one, a, NULL));
    ck_assert_ok(weft_yield());
    ck_assert(!weft_task_done(t));
    logcap_start();
    ck_assert_err(weft_tls_client(a, cctx, "localhost"), -EBUSY);
    logcap_stop();
    ck_assert_int_eq(logcap.n, 1);
    ck_assert_ptr_null(weft_tls_version(a));
    ck_assert_ok(weft_stream_write(b, "x", 1));
    ck_assert_int_eq(weft_join(t), 'x');
    weft_task_release(t);
    ck_assert_ok(weft_stream_close(a));
    ck_assert_ok(weft_stream_close(b));
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(a_refused_upgrade_leaves_the_stream_plain) {
    ck_assert_ok(run_virtual(refused_main, NULL));
}
END_TEST

/* ALPN: no protocol in common is a fatal no_application_protocol alert
 * (RFC 7301 section 3.2); a client that offers none gets none. */
static int alpn_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", "http/1.1");
    weft_tls_ctx_t *h2 = client_ctx("ca.crt", 0, "h2");
    weft_tls_ctx_t *none = client_ctx("ca.crt", 0, NULL);
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    struct side srv = {.s = b, .ctx = sctx};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, side_main, &srv, NULL));
    ck_assert_err(weft_tls_client(a, h2, "localhost"), WEFT_ETLS);
    const char *why = weft_tls_error(a);
    ck_assert_msg(strstr(why, "no_application_protocol") != NULL,
                  "client error text '%s'", why);
    ck_assert_ok(weft_join(t));
    ck_assert_err(srv.rc, WEFT_ETLS);
    ck_assert_msg(strstr(srv.why, "no_application_protocol") != NULL,
                  "server error text '%s'", srv.why);
    weft_task_release(t);
    weft_stream_abort(a);
    weft_stream_abort(b);
    /* No ALPN offered: the handshake goes on without. */
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    srv = (struct side){.s = b, .ctx = sctx};
    ck_assert_ok(weft_spawn(&t, side_main, &srv, NULL));
    ck_assert_ok(weft_tls_client(a, none, "localhost"));
    ck_assert_ptr_null(weft_tls_alpn(a));
    ck_assert_ok(weft_join(t));
    ck_assert_ok(srv.rc);
    ck_assert_str_eq(srv.alpn, "");
    weft_task_release(t);
    ck_assert_ok(weft_stream_close(a));
    ck_assert_ok(weft_stream_close(b));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(h2);
    weft_tls_ctx_free(none);
    return 0;
}

START_TEST(alpn_without_a_common_protocol_is_refused) {
    ck_assert_ok(weft_run(alpn_main, NULL));
}
END_TEST

/* writev gathers small buffers into one record: 100 buffers of 10 bytes
 * reach the peer as 1,000 bytes and one record's overhead (22 bytes with
 * TLS 1.3's AES-GCM), not 100 records (3,200 bytes). */
static int writev_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    struct side srv = {.s = b, .ctx = sctx};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, side_main, &srv, NULL));
    ck_assert_ok(weft_tls_client(a, cctx, "localhost"));
    ck_assert_ok(weft_join(t));
    ck_assert_ok(srv.rc);
    weft_task_release(t);
    int pending = -1;
    ck_assert_int_eq(ioctl(weft_stream_fd(b), FIONREAD, &pending), 0);
    ck_assert_int_eq(pending, 0);
    char msg[1000];
    struct iovec iov[100];
    for (int i = 0; i < 100; i++) {
        memset(msg + i * 10, 'a' + i % 26, 10);
        iov[i] = (struct iovec){msg + i * 10, 10};
    }
    ck_assert_int_eq(weft_stream_writev(a, iov, 100), 1000);
    ck_assert_int_eq(ioctl(weft_stream_fd(b), FIONREAD, &pending), 0);
    ck_assert_int_eq(pending, 1000 + 22);
    char back[1000];
    ck_assert_int_eq(weft_stream_read_exactly(b, back, sizeof back), 1000);
    ck_assert_int_eq(memcmp(back, msg, sizeof msg), 0);
    /* Big and small mixed: intact, in order. */
    static char big[40000], got[40000 + 1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    struct iovec mix[] = {{msg, 10}, {big, sizeof big}, {msg + 10, 990}};
    ck_assert_int_eq(weft_stream_writev(a, mix, 3), 41000);
    ck_assert_int_eq(weft_stream_read_exactly(b, got, sizeof got), 41000);
    ck_assert_int_eq(memcmp(got, msg, 10), 0);
    ck_assert_int_eq(memcmp(got + 10, big, sizeof big), 0);
    ck_assert_int_eq(memcmp(got + 10 + sizeof big, msg + 10, 990), 0);
    ck_assert_ok(weft_stream_close(a));
    ck_assert_ok(weft_stream_close(b));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(writev_gathers_small_buffers_into_one_record) {
    ck_assert_ok(weft_run(writev_main, NULL));
}
END_TEST

/* ---- hostile peers ------------------------------------------------------------------ */

/* Live bytes of weft's and OpenSSL's heaps, and the most there were:
 * allocator hooks for both, installed before either allocates (Check forks
 * a process per test). Under CK_FORK=no (valgrind) they cannot be, and
 * mem_counting stays false. */
static size_t mem_live, mem_peak;
static bool mem_counting;

static void *mem_note(void *p) {
    if (p) {
        mem_live += malloc_usable_size(p);
        if (mem_live > mem_peak)
            mem_peak = mem_live;
    }
    return p;
}
static void mem_unnote(void *p) {
    if (p)
        mem_live -= malloc_usable_size(p);
}
static void *cnt_malloc(size_t n) { return mem_note(malloc(n)); }
static void *cnt_calloc(size_t n, size_t k) { return mem_note(calloc(n, k)); }
static void *cnt_realloc(void *p, size_t n) {
    mem_unnote(p);
    return mem_note(realloc(p, n));
}
static void cnt_free(void *p) {
    mem_unnote(p);
    free(p);
}
static void *ossl_malloc(size_t n, const char *f, int l) {
    (void)f, (void)l;
    return cnt_malloc(n);
}
static void *ossl_realloc(void *p, size_t n, const char *f, int l) {
    (void)f, (void)l;
    return cnt_realloc(p, n);
}
static void ossl_free(void *p, const char *f, int l) {
    (void)f, (void)l;
    cnt_free(p);
}

static void mem_count_start(void) {
    mem_counting =
        weft_replace_allocator(cnt_malloc, cnt_realloc, cnt_calloc,
                               cnt_free) == 0 &&
        CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1;
}

/* A stream end of a socket pair, with small kernel buffers (so the test
 * needs few messages to fill them) and its own write marks. */
static weft_stream_t *small_end(int fd, size_t high) {
    int sz = 4096;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
    weft_stream_opts_t o = {.high_water = high};
    weft_stream_t *s;
    ck_assert_ok(weft_stream_from_fd(weft_loop_current(), &s, fd, &o));
    return s;
}

/* The attacker: plain OpenSSL, written here, its records carried by a
 * plain stream (memory BIOs: the test task drives it). */
struct hostile {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
    weft_stream_t *s;
};

static void hostile_flush(struct hostile *h) {
    char buf[4096];
    int n;
    while ((n = BIO_read(h->out, buf, sizeof buf)) > 0)
        ck_assert_ok(weft_stream_write(h->s, buf, (size_t)n));
}

static void hostile_start(struct hostile *h, weft_stream_t *s, bool server) {
    h->s = s;
    h->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    ck_assert_ptr_nonnull(h->ctx);
    SSL_CTX_set_min_proto_version(h->ctx, TLS1_3_VERSION);
    if (server) {
        ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(
                             h->ctx, P(3, "server.crt")), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(
                             h->ctx, P(4, "server.key"), SSL_FILETYPE_PEM), 1);
    } else {
        SSL_CTX_set_verify(h->ctx, SSL_VERIFY_NONE, NULL);
    }
    h->ssl = SSL_new(h->ctx);
    h->in = BIO_new(BIO_s_mem());
    h->out = BIO_new(BIO_s_mem());
    SSL_set_bio(h->ssl, h->in, h->out);
    if (server)
        SSL_set_accept_state(h->ssl);
    else
        SSL_set_connect_state(h->ssl);
    for (;;) {
        int r = SSL_do_handshake(h->ssl);
        hostile_flush(h);
        if (r == 1)
            return;
        ck_assert_int_eq(SSL_get_error(h->ssl, r), SSL_ERROR_WANT_READ);
        char buf[4096];
        ssize_t n = weft_stream_read(h->s, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        BIO_write(h->in, buf, (int)n);
    }
}

/* KeyUpdate requests (each asks the victim for a KeyUpdate of its own),
 * never reading, until `max` or until the victim stops taking them: then
 * our own queue cannot drain, nothing else can happen, and the virtual
 * clock jumps to the drain's 1 s deadline. Returns how many were sent. */
static unsigned long hostile_flood(struct hostile *h, unsigned long max) {
    unsigned long sent = 0;
    while (sent < max) {
        ck_assert_int_eq(SSL_key_update(h->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        ck_assert_int_eq(SSL_do_handshake(h->ssl), 1);
        hostile_flush(h);
        sent++;
        weft_scope_t sc;
        ck_assert_ok(weft_scope_enter(&sc, 1.0, 0));
        int r = weft_stream_drain(h->s); /* high water 1: all of it */
        weft_scope_exit(&sc);
        if (r == -ETIMEDOUT)
            break;
        ck_assert_ok(r);
    }
    return sent;
}

static void hostile_end(struct hostile *h) {
    weft_stream_abort(h->s);
    SSL_free(h->ssl);
    SSL_CTX_free(h->ctx);
}

struct victim {
    weft_stream_t *s;
    weft_tls_ctx_t *ctx;
    bool server;
    int rc;
};

/* Handshake, then read (nothing comes: KeyUpdates carry no data). */
static int victim_main(void *arg) {
    struct victim *v = arg;
    v->rc = v->server ? weft_tls_server(v->s, v->ctx)
                      : weft_tls_client(v->s, v->ctx, "localhost");
    char buf[256];
    while (v->rc == 0) {
        ssize_t n = weft_stream_read(v->s, buf, sizeof buf);
        if (n <= 0)
            v->rc = n ? (int)n : -EPIPE;
    }
    return 0;
}

/* What the application queues does not pace its reads: a client that
 * writes 1 MiB without draining and then reads the echo, over kernel
 * buffers far smaller, gets it all. (The first pacing marked the stream
 * whenever the read path ran with the application's bytes queued, even if
 * it had sent nothing: this deadlocked, each side waiting for the other to
 * read.) */
static int echo_side(void *arg) {
    weft_stream_t *s = arg;
    weft_tls_ctx_t *sctx = weft_loop_get_data(weft_loop_current());
    int err = weft_tls_server(s, sctx);
    static char buf[8192];
    ssize_t n;
    while (!err && (n = weft_stream_read(s, buf, sizeof buf)) > 0)
        if ((err = weft_stream_write(s, buf, (size_t)n)) == 0)
            err = weft_stream_drain(s);
    return 0;
}

static int own_queue_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_loop_set_data(weft_loop_current(), sctx);
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
                                             SOCK_CLOEXEC, 0, fds), 0);
    weft_stream_t *a = small_end(fds[0], 0), *b = small_end(fds[1], 0);
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, echo_side, b, NULL));
    ck_assert_ok(weft_tls_client(a, cctx, "localhost"));
    static char big[1 << 20], back[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7 + i / 1021);
    weft_scope_t sc;
    ck_assert_ok(weft_scope_enter(&sc, 10.0, 0));
    ck_assert_ok(weft_stream_write(a, big, sizeof big));
    ck_assert_int_eq(weft_stream_read_exactly(a, back, sizeof back),
                     (ssize_t)sizeof back);
    ck_assert_ok(weft_scope_exit(&sc));
    ck_assert_int_eq(memcmp(big, back, sizeof big), 0);
    ck_assert_ok(weft_stream_close(a));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    weft_stream_close(b);
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(the_applications_own_queue_does_not_pace_reads) {
    ck_assert_ok(run_virtual(own_queue_main, NULL));
}
END_TEST

#define FLOOD_MAX 30000ul
#define FLOOD_BOUND (512u * 1024) /* bytes */

/* issue 17: a peer that sends KeyUpdate requests and never reads made a
 * weft TLS stream queue every answer: 30,000 of them grew the victim's
 * heap by ~1 MiB (1.5 MiB a second against examples/echo_server). Now the
 * victim stops reading once its queue passes high water (64 KiB), the
 * flood stalls, and memory stays within a bound. Both ways: a weft server
 * facing a hostile client and a weft client facing a hostile server. */
static int flood_main(void *arg) {
    bool victim_server = *(bool *)arg;
    weft_tls_ctx_t *ctx = victim_server ? server_ctx("server.crt", NULL)
                                        : client_ctx("ca.crt", 0, NULL);
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
                                             SOCK_CLOEXEC, 0, fds), 0);
    struct victim v = {small_end(fds[0], 0), ctx, victim_server, 0};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, victim_main, &v, NULL));
    struct hostile h;
    hostile_start(&h, small_end(fds[1], 1), !victim_server);
    ck_assert_ok(weft_sleep(0.001)); /* the victim is done with its part */
    size_t base = mem_live;
    mem_peak = mem_live;
    unsigned long sent = hostile_flood(&h, FLOOD_MAX);
    size_t grew = mem_peak - base, queue = v.s->wcap;
    printf("KeyUpdate flood against a weft %s: %lu sent before it stopped "
           "reading; its write buffer %zu KiB; memory grew by %s%zu KiB "
           "at most (bound %u KiB)\n",
           victim_server ? "server" : "client", sent, queue / 1024,
           mem_counting ? "" : "(not counted: CK_FORK=no) ", grew / 1024,
           FLOOD_BOUND / 1024);
    fflush(stdout);
    if (mem_counting)
        ck_assert_msg(grew < FLOOD_BOUND, "grew by %zu KiB", grew / 1024);
    ck_assert_msg(queue <= 256 * 1024, "write buffer %zu KiB", queue / 1024);
    ck_assert_uint_lt(sent, FLOOD_MAX);
    ck_assert_ok(v.rc); /* still reading, paced */
    hostile_end(&h);
    ck_assert_ok(weft_join(t));
    ck_assert_int_lt(v.rc, 0); /* the hostile end went away */
    weft_task_release(t);
    weft_stream_close(v.s);
    weft_tls_ctx_free(ctx);
    return 0;
}

START_TEST(a_keyupdate_flood_costs_a_server_bounded_memory) {
    mem_count_start();
    bool victim_server = true;
    ck_assert_ok(run_virtual(flood_main, &victim_server));
}
END_TEST

START_TEST(a_keyupdate_flood_costs_a_client_bounded_memory) {
    mem_count_start();
    bool victim_server = false;
    ck_assert_ok(run_virtual(flood_main, &victim_server));
}
END_TEST

/* A peer that connects and resets before the handshake: the line that
 * says so names its address, as every other one does (it said "with the
 * peer": getpeername fails once the peer reset). */
static int reset_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    char port[8];
    weft_server_t *srv = start(sctx, NULL, port);
    logcap_start();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct linger l = {1, 0};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
    close(fd); /* a reset */
    for (int i = 0; i < 1000 && logcap.n == 0; i++)
        ck_assert_ok(weft_sleep(0.005));
    logcap_stop();
    ck_assert_msg(strstr(logcap.last, "TLS handshake with 127.0.0.1 failed"),
                  "logged: %s", logcap.last);
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    return 0;
}

START_TEST(a_peer_that_resets_at_once_is_named) {
    ck_assert_ok(weft_run(reset_main, NULL));
}
END_TEST

/* Failed handshakes are the peers' doing: twenty plaintext clients make
 * one line, then one "(repeated 19 times)" once its 10 s are over (it was
 * a line each). */
static int many_fail_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    char port[8];
    weft_server_t *srv = start(sctx, NULL, port);
    logcap_start();
    for (int i = 0; i < 20; i++) {
        weft_stream_t *c;
        ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
        ck_assert_ok(weft_stream_write(c, "GET / HTTP/1.1\r\n\r\n", 18));
        char b[64];
        while (weft_stream_read(c, b, sizeof b) > 0) {
        }
        weft_stream_close(c);
    }
    while (weft_server_connections(srv) > 0)
        ck_assert_ok(weft_sleep(0.01));
    ck_assert_int_eq(logcap.n, 1);
    ck_assert_msg(strstr(logcap.last, "TLS handshake with 127.0.0.1"),
                  "%s", logcap.last);
    ck_assert_ok(weft_sleep(11)); /* the window is over ... */
    ck_assert_ok(weft_sleep(1));  /* ... and the loop idles */
    logcap_stop();
    ck_assert_int_eq(logcap.n, 2);
    ck_assert_msg(strstr(logcap.last, "(repeated 19 times)"), "%s",
                  logcap.last);
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    return 0;
}

START_TEST(failed_handshakes_are_logged_once_per_window) {
    ck_assert_ok(run_virtual(many_fail_main, NULL));
}
END_TEST

/* The first bytes of a ClientHello, as OpenSSL's client sends it. */
static size_t client_hello(unsigned char *buf, size_t size) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    ck_assert_int_le(SSL_do_handshake(ssl), 0); /* wants the answer */
    int n = BIO_read(out, buf, (int)size);
    ck_assert_int_gt(n, 100);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return (size_t)n;
}

#define STALLED 100

/* Stalled handshakes: clients that connect and send nothing, or part of a
 * ClientHello, hold no OpenSSL memory and no read buffer (each held 56 to
 * 73 KB of OpenSSL's and 16.5 KiB of weft's: the SSL was made at once, and
 * the first read took its buffer before any byte came). */
static int stalled_main(void *arg) {
    (void)arg;
    unsigned char hello[2048];
    size_t hlen = client_hello(hello, sizeof hello);
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    char port[8];
    weft_server_t *srv = start(sctx, NULL, port);
    weft_stream_t *c[2 * STALLED];
    ck_assert_ok(weft_sleep(0.01));
    size_t base = mem_live;
    for (int i = 0; i < 2 * STALLED; i++) {
        ck_assert_ok(weft_open_connection(&c[i], "127.0.0.1", port, NULL));
        if (i % 2)
            ck_assert_ok(weft_stream_write(c[i], hello, 100));
    }
    weft_loop_t *loop = weft_loop_current();
    weft_tls_stats_t st;
    for (int i = 0; i < 1000; i++) {
        ck_assert_ok(weft_tls_stats(loop, &st));
        if (st.handshaking == 2 * STALLED)
            break;
        ck_assert_ok(weft_sleep(0.005));
    }
    ck_assert_ok(weft_sleep(0.05)); /* every server side waiting */
    ck_assert_ok(weft_tls_stats(loop, &st));
    size_t per = (mem_live - base) / (2 * STALLED);
    printf("%d stalled handshakes (half of them with 100 bytes of a "
           "ClientHello): %s%zu bytes each, both ends\n",
           2 * STALLED, mem_counting ? "" : "(not counted: CK_FORK=no) ",
           per);
    fflush(stdout);
    ck_assert_uint_eq(st.handshaking, 2 * STALLED);
    ck_assert_uint_eq(st.buffers, 0);
    if (mem_counting)
        ck_assert_uint_lt(per, 4096);
    /* The rest of each ClientHello: the handshakes go on (the server
     * answers with its flight). */
    for (int i = 1; i < 2 * STALLED; i += 2) {
        ck_assert_ok(weft_stream_write(c[i], hello + 100, hlen - 100));
        const void *p;
        ck_assert_int_gt(weft_stream_wait_data(c[i], 5, &p), 5);
        ck_assert_int_eq(((const unsigned char *)p)[0], 22); /* handshake */
    }
    for (int i = 0; i < 2 * STALLED; i++)
        weft_stream_close(c[i]);
    while (weft_server_connections(srv) > 0)
        ck_assert_ok(weft_sleep(0.01));
    ck_assert_ok(weft_server_close(srv, 0));
    weft_tls_ctx_free(sctx);
    return 0;
}

START_TEST(a_stalled_handshake_holds_no_tls_memory) {
    mem_count_start();
    ck_assert_ok(weft_run(stalled_main, NULL));
}
END_TEST

/* After a burst the spare read buffers shrink to a few, and once no TLS
 * stream came or went for a second the loop asks the C library to return
 * what the handshakes left in its heap; weft_tls_stats counts it all. */
static int burst_side(void *arg) {
    weft_stream_t *s = arg;
    weft_tls_ctx_t *sctx = weft_loop_get_data(weft_loop_current());
    int err = weft_tls_server(s, sctx);
    char b[64];
    ssize_t n;
    while (!err && (n = weft_stream_read(s, b, sizeof b)) > 0)
        err = weft_stream_write(s, b, (size_t)n);
    weft_stream_close(s);
    return 0;
}

#define BURST 100

static int burst_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_tls_ctx_t *sctx = server_ctx("server.crt", NULL);
    weft_tls_ctx_t *cctx = client_ctx("ca.crt", 0, NULL);
    weft_loop_set_data(loop, sctx);
    weft_stream_t *a[BURST];
    weft_task_t *t[BURST];
    for (int i = 0; i < BURST; i++) {
        weft_stream_t *b;
        ck_assert_ok(weft_stream_pair(loop, &a[i], &b, NULL));
        ck_assert_ok(weft_spawn(&t[i], burst_side, b, NULL));
        ck_assert_ok(weft_tls_client(a[i], cctx, "localhost"));
        ck_assert_ok(weft_stream_write(a[i], "x\n", 2));
        char line[4];
        ck_assert_int_eq(weft_stream_readline(a[i], line, sizeof line), 2);
    }
    weft_tls_stats_t st;
    ck_assert_ok(weft_tls_stats(loop, &st));
    ck_assert_uint_eq(st.streams, 2 * BURST);
    ck_assert_uint_eq(st.handshaking, 0);
    ck_assert_uint_gt(st.spare_buffers, 0);
    ck_assert_uint_eq(st.buffer_bytes,
                      (st.buffers + st.spare_buffers) * (16 * 1024 + 512));
    uint64_t trims = st.trims;
    for (int i = 0; i < BURST; i++) {
        ck_assert_ok(weft_stream_close(a[i]));
        ck_assert_ok(weft_join(t[i]));
        weft_task_release(t[i]);
    }
    ck_assert_ok(weft_tls_stats(loop, &st));
    ck_assert_uint_eq(st.streams, 0);
    ck_assert_uint_eq(st.buffers, 0);
    ck_assert_uint_le(st.spare_buffers, 4);
    ck_assert_uint_eq(st.trims, trims); /* not while it was going on */
    ck_assert_ok(weft_sleep(0.5));
    ck_assert_ok(weft_tls_stats(loop, &st));
    ck_assert_uint_eq(st.trims, trims); /* not before a quiet second */
    ck_assert_ok(weft_sleep(1.0));
    ck_assert_ok(weft_tls_stats(loop, &st));
    ck_assert_uint_eq(st.trims, trims + 1);
    ck_assert_ok(weft_sleep(5.0));
    ck_assert_ok(weft_tls_stats(loop, &st));
    ck_assert_uint_eq(st.trims, trims + 1); /* once per burst */
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(a_quiet_loop_gives_back_what_a_burst_left) {
    ck_assert_ok(run_virtual(burst_main, NULL));
    weft_tls_stats_t st;
    ck_assert_err(weft_tls_stats(NULL, &st), -EINVAL);
}
END_TEST

static Suite *tls_suite(void) {
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_good_certificate_echo_alpn_sni_bulk_close_notify);
    tcase_add_test(tc, a_wrong_host_name_is_refused);
    tcase_add_test(tc, an_expired_certificate_is_refused);
    tcase_add_test(tc, an_unknown_ca_is_refused);
    tcase_add_test(tc, verification_off_is_explicit);
    tcase_add_test(tc, starttls_upgrades_a_plain_stream);
    tcase_add_test(tc, an_upgrade_takes_the_bytes_that_came_before_it);
    tcase_add_test(tc, a_silent_or_plaintext_peer_fails_the_handshake);
    tcase_add_test(tc, a_plaintext_client_does_not_hurt_the_server);
    tcase_add_test(tc, contexts_refuse_bad_files);
    tcase_add_test(tc, a_context_freed_mid_handshake_stays_usable);
    tcase_add_test(tc, a_stream_closed_mid_handshake_is_freed);
    tcase_add_test(tc, a_refused_upgrade_leaves_the_stream_plain);
    tcase_add_test(tc, alpn_without_a_common_protocol_is_refused);
    tcase_add_test(tc, writev_gathers_small_buffers_into_one_record);
    tcase_add_test(tc, a_keyupdate_flood_costs_a_server_bounded_memory);
    tcase_add_test(tc, a_keyupdate_flood_costs_a_client_bounded_memory);
    tcase_add_test(tc, the_applications_own_queue_does_not_pace_reads);
    tcase_add_test(tc, a_peer_that_resets_at_once_is_named);
    tcase_add_test(tc, failed_handshakes_are_logged_once_per_window);
    tcase_add_test(tc, a_stalled_handshake_holds_no_tls_memory);
    tcase_add_test(tc, a_quiet_loop_gives_back_what_a_burst_left);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    if (!make_certs()) {
        fprintf(stderr, "test_tls: cannot make certificates in %s\n", dir);
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_certs();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
