/* TLS: handshakes per second and bulk throughput, with plain TCP in the
 * same run for scale. Server and client are tasks of one loop in one
 * process, so each figure includes both sides' work (one core).
 *
 * Usage: tls [--quick] [HANDSHAKES [MIB [REPEATS]]]
 * Certificates are made at start with the openssl tool (RSA 2048 and
 * ECDSA P-256), in a temporary directory removed at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#include "bench_util.h"

static char dir[64];

static int sh(const char *cmd) {
    char full[1024];
    snprintf(full, sizeof full, "cd %s && %s >/dev/null 2>&1", dir, cmd);
    return system(full);
}

static int make_certs(void) {
    snprintf(dir, sizeof dir, "/tmp/weft-bench-tls-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *san = "-addext subjectAltName=DNS:localhost,IP:127.0.0.1";
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key "
             "-out rsa.crt -days 2 -subj /CN=localhost %s",
             san);
    if (sh(cmd))
        return -1;
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -keyout ec.key -out ec.crt -days 2 -subj /CN=localhost "
             "%s",
             san);
    return sh(cmd) ? -1 : 0;
}

struct cfg {
    const char *kind; /* "rsa", "ec" */
    uint64_t handshakes;
    uint64_t mib;
    double hs_per_s;
    double tls_mib_s, tcp_mib_s;
};

static char path_crt[128], path_key[128];

static int sink(weft_stream_t *s, void *arg) {
    (void)arg;
    static char buf[65536]; /* not on the handler's 64 KiB stack */
    ssize_t n;
    while ((n = weft_stream_read(s, buf, sizeof buf)) > 0) {
    }
    return 0;
}

static int quiet(weft_stream_t *s, void *arg) {
    (void)s;
    (void)arg;
    return 0; /* handshake done by the server; close at once */
}

static double send_bulk(const char *port, weft_tls_ctx_t *ctx, uint64_t mib) {
    weft_connect_opts_t o = {.tls = ctx, .server_name = "localhost"};
    weft_stream_t *c;
    if (weft_open_connection(&c, "127.0.0.1", port, &o))
        return -1;
    static char chunk[1 << 20];
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < mib; i++) {
        if (weft_stream_write(c, chunk, sizeof chunk) ||
            weft_stream_drain(c))
            return -1;
    }
    weft_stream_close(c); /* flushes */
    return (double)mib / ((double)(bench_now_ns() - t0) / 1e9);
}

static int run(void *arg) {
    struct cfg *cfg = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_tls_opts_t so = {.cert_file = path_crt, .key_file = path_key};
    weft_tls_opts_t co = {.ca_file = path_crt};
    weft_tls_ctx_t *sctx, *cctx;
    if (weft_tls_server_ctx(&sctx, &so) || weft_tls_client_ctx(&cctx, &co))
        return -1;
    weft_server_opts_t sopt = {.tls = sctx};
    weft_server_t *hs, *bulk, *plain;
    if (weft_start_server(loop, &hs, "127.0.0.1", "0", quiet, NULL, &sopt) ||
        weft_start_server(loop, &bulk, "127.0.0.1", "0", sink, NULL, &sopt) ||
        weft_start_server(loop, &plain, "127.0.0.1", "0", sink, NULL, NULL))
        return -1;
    char p1[8], p2[8], p3[8];
    snprintf(p1, sizeof p1, "%d", weft_server_port(hs));
    snprintf(p2, sizeof p2, "%d", weft_server_port(bulk));
    snprintf(p3, sizeof p3, "%d", weft_server_port(plain));

    /* Full handshakes: a new connection each time, no session reuse. */
    weft_connect_opts_t o = {.tls = cctx, .server_name = "localhost"};
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < cfg->handshakes; i++) {
        weft_stream_t *c;
        if (weft_open_connection(&c, "127.0.0.1", p1, &o))
            return -1;
        weft_stream_close(c);
    }
    cfg->hs_per_s = (double)cfg->handshakes /
                    ((double)(bench_now_ns() - t0) / 1e9);
    cfg->tls_mib_s = send_bulk(p2, cctx, cfg->mib);
    cfg->tcp_mib_s = send_bulk(p3, NULL, cfg->mib);
    weft_server_close(hs, 0);
    weft_server_close(bulk, 0);
    weft_server_close(plain, 0);
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return cfg->tls_mib_s < 0 || cfg->tcp_mib_s < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    const char *usage = "tls [--quick] [HANDSHAKES [MIB [REPEATS]]]";
    uint64_t handshakes = bench_arg(argc, argv, 1, quick ? 20 : 500, usage);
    uint64_t mib = bench_arg(argc, argv, 2, quick ? 4 : 256, usage);
    uint64_t rep = bench_arg(argc, argv, 3, quick ? 1 : 3, usage);
    int repeats = rep > 100 ? 100 : (int)rep;
    if (make_certs()) {
        fprintf(stderr, "tls: cannot make certificates (is openssl installed?)\n");
        return 1;
    }
    printf("TLS over loopback, client and server in one loop on one core: "
           "%llu full handshakes, %llu MiB one way, %d run(s), medians\n",
           (unsigned long long)handshakes, (unsigned long long)mib, repeats);
    printf("  %-22s %14s %16s %16s\n", "certificate", "handshakes/s",
           "TLS MiB/s", "plain TCP MiB/s");
    const char *kinds[] = {"rsa", "ec"};
    double r_hs[2] = {0}, r_bulk[2] = {0};
    int done = 0;
    const char *names[] = {"RSA 2048", "ECDSA P-256"};
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        double hs[100], tls[100], tcp[100];
        snprintf(path_crt, sizeof path_crt, "%s/%s.crt", dir, kinds[k]);
        snprintf(path_key, sizeof path_key, "%s/%s.key", dir, kinds[k]);
        for (int r = 0; r < repeats; r++) {
            struct cfg c = {kinds[k], handshakes, mib, 0, 0, 0};
            if (weft_run(run, &c) != 0) {
                fprintf(stderr, "tls: a run failed\n");
                rc = 1;
                break;
            }
            hs[r] = c.hs_per_s;
            tls[r] = c.tls_mib_s;
            tcp[r] = c.tcp_mib_s;
        }
        if (rc)
            break;
        printf("  %-22s %14.0f %16.0f %16.0f\n", names[k],
               bench_median(hs, (size_t)repeats),
               bench_median(tls, (size_t)repeats),
               bench_median(tcp, (size_t)repeats));
        r_hs[k] = bench_median(hs, (size_t)repeats);
        r_bulk[k] = bench_median(tls, (size_t)repeats);
        done = k + 1;
    }
    printf("  (TLS 1.3, AES-GCM as negotiated; the handshake figure counts "
           "both ends' work)\n");
    for (int k = 0; k < done; k++) {
        printf("RESULT tls handshakes_%s %.0f /s\n", kinds[k], r_hs[k]);
        printf("RESULT tls bulk_%s %.0f MiB/s\n", kinds[k], r_bulk[k]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
