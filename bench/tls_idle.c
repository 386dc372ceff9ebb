/* TLS: memory held by idle connections. N connected pairs of streams (Unix
 * socket pairs), each upgraded to TLS (ECDSA P-256, TLS 1.3), one message
 * echoed (or BULK KiB, to see what a burst leaves behind), then all idle:
 * the server side waits in a read, the client holds its stream. Prints
 * the heap in use (mallinfo2: weft's and OpenSSL's allocations) and the
 * RSS growth per connection; each connection is two TLS streams, both in
 * this process. Then all are closed, and after 2.5 s of idle loop, the
 * RSS still above what it was after the first connection.
 *
 * Usage: tls_idle [--quick] [CONNECTIONS [BULK_KIB]] */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#include "bench_util.h"

static char dir[64], path_crt[128], path_key[128];


struct cfg {
    uint64_t conns, bulk_kib;
    weft_tls_ctx_t *sctx, *cctx;
    double heap_per_conn, rss_kib_per_conn;
    double rss_mib_left; /* once all are closed and the loop idled */
};

static size_t heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* The server side: handshake, echo until the end. */
static int server_side(void *arg) {
    weft_stream_t *s = arg;
    int err = weft_tls_server(s, weft_loop_get_data(weft_loop_current()));
    static char buf[65536]; /* shared: a read copies out before it waits */
    ssize_t n;
    while (!err && (n = weft_stream_read(s, buf, sizeof buf)) > 0)
        err = weft_stream_write(s, buf, (size_t)n);
    weft_stream_close(s);
    return err;
}

static int run(void *arg) {
    struct cfg *cfg = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_loop_set_data(loop, cfg->sctx);
    size_t len = cfg->bulk_kib ? cfg->bulk_kib * 1024 : 5;
    char *msg = calloc(1, len), *back = malloc(len);
    weft_stream_t **cs = calloc(cfg->conns, sizeof *cs);
    weft_task_t **ts = calloc(cfg->conns, sizeof *ts);
    if (!msg || !back || !cs || !ts)
        return -ENOMEM;
    weft_spawn_opts_t so = {.stack_size = 32 * 1024};
    size_t heap0 = 0;
    long rss0 = 0;
    for (uint64_t i = 0; i <= cfg->conns; i++) {
        if (i == 1) { /* after one connection: OpenSSL's one-time setup */
            malloc_trim(0);
            heap0 = heap_in_use();
            rss0 = bench_status_kb("VmRSS");
        }
        uint64_t k = i ? i - 1 : 0;
        weft_stream_t *a, *b;
        int err = weft_stream_pair(loop, &a, &b, NULL);
        if (!err)
            err = weft_spawn(&ts[k], server_side, b, &so);
        if (!err)
            err = weft_tls_client(a, cfg->cctx, "localhost");
        if (!err)
            err = weft_stream_write(a, msg, len);
        if (!err && weft_stream_read_exactly(a, back, len) != (ssize_t)len)
            err = -EIO;
        if (err) {
            fprintf(stderr, "tls_idle: connection %llu: %s\n",
                    (unsigned long long)i, weft_strerror(err));
            return err;
        }
        if (i == 0) { /* the warm-up connection goes */
            weft_stream_close(a);
            weft_join(ts[0]);
            weft_task_release(ts[0]);
        } else {
            cs[k] = a;
        }
    }
    weft_sleep(0.05); /* every server side back in its read */
    malloc_trim(0);
    cfg->heap_per_conn =
        ((double)heap_in_use() - (double)heap0) / (double)cfg->conns;
    cfg->rss_kib_per_conn = (double)(bench_status_kb("VmRSS") - rss0) /
                            (double)cfg->conns;
    for (uint64_t k = 0; k < cfg->conns; k++) {
        weft_stream_close(cs[k]);
        weft_join(ts[k]);
        weft_task_release(ts[k]);
    }
    /* What the burst leaves once the loop has idled a while (weft gives
     * memory back when idle: stack chunks, TLS buffers, the C library's
     * heap after a burst of TLS streams). */
    weft_sleep(2.5);
    cfg->rss_mib_left = (double)(bench_status_kb("VmRSS") - rss0) / 1024;
    free(cs);
    free(ts);
    free(msg);
    free(back);
    return 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    const char *usage = "tls_idle [--quick] [CONNECTIONS [BULK_KIB]]";
    struct cfg cfg = {
        .conns = bench_arg(argc, argv, 1, quick ? 100 : 2000, usage),
        .bulk_kib = bench_arg(argc, argv, 2, 0, usage),
    };
    if (bench_make_ec_cert("tls-idle", dir, path_crt, path_key)) {
        fprintf(stderr, "tls_idle: cannot make a certificate\n");
        return 1;
    }
    weft_tls_opts_t so = {.cert_file = path_crt, .key_file = path_key};
    weft_tls_opts_t co = {.ca_file = path_crt};
    int err = weft_tls_server_ctx(&cfg.sctx, &so);
    if (!err)
        err = weft_tls_client_ctx(&cfg.cctx, &co);
    if (!err)
        err = weft_run(run, &cfg);
    if (bench_remove_dir(dir))
        fprintf(stderr, "tls_idle: could not remove %s\n", dir);
    if (err) {
        fprintf(stderr, "tls_idle: %s\n", weft_strerror(err));
        return 1;
    }
    printf("TLS idle connections: %llu pairs (two TLS streams each), "
           "%llu KiB echoed each\n",
           (unsigned long long)cfg.conns, (unsigned long long)cfg.bulk_kib);
    printf("  heap in use per connection  %10.0f bytes\n", cfg.heap_per_conn);
    printf("  RSS per connection          %10.1f KiB (includes task stacks)\n",
           cfg.rss_kib_per_conn);
    printf("  RSS left, all closed and 2.5 s idle  %6.1f MiB\n",
           cfg.rss_mib_left);
    printf("RESULT tls_idle heap_per_conn %.0f bytes\n", cfg.heap_per_conn);
    printf("RESULT tls_idle rss_left_after_burst %.1f MiB\n",
           cfg.rss_mib_left);
    weft_tls_ctx_free(cfg.sctx);
    weft_tls_ctx_free(cfg.cctx);
    return 0;
}
