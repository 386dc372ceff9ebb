/* TLS: what stalled handshakes cost a server. N clients connect to a weft
 * TLS server (over TCP, from a child process) and stall: sending nothing,
 * sending the first 100 bytes of a ClientHello, or sending all of it (the
 * server answers with its flight and waits for the client's Finished).
 * Prints the server's heap in use (mallinfo2: weft's and OpenSSL's) and
 * RSS growth (task stacks included) per stalled connection, each kind in
 * a fresh process. The server's handshake deadline (30 s by default) is
 * how long each costs that.
 *
 * Usage: tls_stalled [--quick] [CONNECTIONS] */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft.h>

#include "bench_util.h"

static char dir[64], path_crt[128], path_key[128];


enum { SILENT, PARTIAL, WHOLE, KINDS };
static const char *kind_name[] = {"nothing sent", "100 bytes of ClientHello",
                                  "a whole ClientHello"};

struct cfg {
    uint64_t conns;
    int kind;
    unsigned char hello[2048];
    size_t hlen;
};

struct out {
    double heap_per_conn, rss_kib_per_conn;
};

static size_t heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* A ClientHello as OpenSSL's client sends it. */
static size_t client_hello(unsigned char *buf, size_t size) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
    SSL_do_handshake(ssl);
    int n = BIO_read(out, buf, (int)size);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return n > 0 ? (size_t)n : 0;
}

static int idle_handler(weft_stream_t *s, void *arg) {
    (void)s, (void)arg;
    return 0; /* never reached: nobody finishes a handshake */
}

/* The stalling clients: plain sockets in a child process. */
static void clients(const struct cfg *cfg, int port, int ready_fd) {
    size_t len = cfg->kind == SILENT ? 0
                 : cfg->kind == PARTIAL ? 100
                                        : cfg->hlen;
    for (uint64_t i = 0; i < cfg->conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
            (len && write(fd, cfg->hello, len) != (ssize_t)len)) {
            perror("tls_stalled: client");
            _exit(1);
        }
    }
    if (write(ready_fd, "x", 1) != 1)
        _exit(1);
    pause();
    _exit(0);
}

struct run {
    const struct cfg *cfg;
    struct out *out;
    int rc;
};

static int server_main(void *arg) {
    struct run *r = arg;
    const struct cfg *cfg = r->cfg;
    weft_tls_opts_t so = {.cert_file = path_crt, .key_file = path_key};
    weft_tls_ctx_t *sctx;
    if (weft_tls_server_ctx(&sctx, &so))
        return -1;
    weft_server_opts_t o = {.tls = sctx, .backlog = 4096};
    weft_server_t *srv;
    if (weft_start_server(weft_loop_current(), &srv, "127.0.0.1", "0",
                          idle_handler, NULL, &o))
        return -1;
    weft_sleep(0.05);
    malloc_trim(0);
    size_t heap0 = heap_in_use();
    long rss0 = bench_status_kb("VmRSS");
    int fds[2];
    if (pipe(fds))
        return -1;
    pid_t pid = fork();
    if (pid == 0)
        clients(cfg, weft_server_port(srv), fds[1]);
    /* Every connection taken (and stalled in its handshake: nobody
     * finishes one, so none reaches the handler). */
    for (int i = 0; i < 6000 && weft_server_connections(srv) < cfg->conns;
         i++)
        weft_sleep(0.01);
    size_t taken = weft_server_connections(srv);
    weft_sleep(0.2);
    malloc_trim(0);
    r->out->heap_per_conn =
        ((double)heap_in_use() - (double)heap0) / (double)cfg->conns;
    r->out->rss_kib_per_conn =
        (double)(bench_status_kb("VmRSS") - rss0) / (double)cfg->conns;
    r->rc = taken == cfg->conns ? 0 : -1;
    if (r->rc)
        fprintf(stderr, "tls_stalled: %zu of %llu connections taken\n",
                taken, (unsigned long long)cfg->conns);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    weft_server_close(srv, 0);
    weft_tls_ctx_free(sctx);
    return 0;
}

static int one_kind(void *arg, void *out) {
    struct run r = {arg, out, -1};
    if (weft_run(server_main, &r) != 0)
        return 1;
    return r.rc ? 1 : 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    const char *usage = "tls_stalled [--quick] [CONNECTIONS]";
    struct cfg cfg = {.conns = bench_arg(argc, argv, 1,
                                         quick ? 200 : 10000, usage)};
    if (bench_make_ec_cert("tls-stalled", dir, path_crt, path_key)) {
        fprintf(stderr, "tls_stalled: cannot make a certificate\n");
        return 1;
    }
    cfg.hlen = client_hello(cfg.hello, sizeof cfg.hello);
    printf("TLS stalled handshakes: %llu clients that stop, per connection "
           "on the server (ECDSA P-256)\n",
           (unsigned long long)cfg.conns);
    printf("  %-26s %16s %16s\n", "the client sent", "heap bytes", "RSS KiB");
    int rc = 0;
    struct out res[KINDS];
    for (int k = 0; k < KINDS && !rc; k++) {
        cfg.kind = k;
        if (bench_in_child(one_kind, &cfg, &res[k], sizeof res[k])) {
            rc = 1;
            break;
        }
        printf("  %-26s %16.0f %16.1f\n", kind_name[k], res[k].heap_per_conn,
               res[k].rss_kib_per_conn);
    }
    if (bench_remove_dir(dir))
        rc = 1;
    if (!rc) {
        printf("RESULT tls_stalled silent_heap %.0f bytes\n",
               res[SILENT].heap_per_conn);
        printf("RESULT tls_stalled partial_hello_heap %.0f bytes\n",
               res[PARTIAL].heap_per_conn);
        printf("RESULT tls_stalled whole_hello_heap %.0f bytes\n",
               res[WHOLE].heap_per_conn);
    }
    return rc;
}
