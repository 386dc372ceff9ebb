/* tls_flood: a hostile TLS 1.3 client, to measure what it costs a server.
 *
 * Usage: tls_flood HOST PORT SECONDS [SERVER_PID]
 *
 * Connects, finishes the handshake (trusting anything), then for SECONDS
 * sends KeyUpdate messages with update_requested (SSL_key_update) as fast
 * as the socket takes them, and never reads: each one asks the server for
 * a KeyUpdate of its own, which it has to send to a peer that does not
 * take it. A server that queues those answers without bound grows by
 * about 1.5 MiB a second (issue 17); one that stops reading while its
 * queue is full makes the flood stall once the socket buffers are full.
 *
 * With SERVER_PID, the server's resident size (VmRSS of /proc/PID/status)
 * is sampled before the flood and once a second during it; the table and
 * the last line give the growth:
 *     RESULT tls_flood rss_growth N KiB
 *
 * Not run by `make bench` (it needs a server: examples/echo_server --tls
 * CERT KEY PORT, see bench/README.md). OpenSSL on a non-blocking socket,
 * so that a server that stops reading cannot hang it: it waits at most
 * 100 ms at a time for room to write. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(const char *pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int connect_to(const char *host, const char *port) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e) {
        fprintf(stderr, "tls_flood: %s: %s\n", host, gai_strerror(e));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        fprintf(stderr, "tls_flood: connect: %s\n", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Wait for the socket (in the direction OpenSSL wants) up to ms. */
static int wait_io(SSL *ssl, int fd, int r, int ms) {
    int e = SSL_get_error(ssl, r);
    short ev = e == SSL_ERROR_WANT_READ    ? POLLIN
               : e == SSL_ERROR_WANT_WRITE ? POLLOUT
                                           : 0;
    if (!ev)
        return -1;
    struct pollfd p = {.fd = fd, .events = ev};
    return poll(&p, 1, ms);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tls_flood HOST PORT SECONDS [SERVER_PID]\n");
        return 2;
    }
    double secs = atof(argv[3]);
    const char *pid = argc > 4 ? argv[4] : NULL;
    int fd = connect_to(argv[1], argv[2]);
    if (fd < 0)
        return 1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    int r;
    while ((r = SSL_connect(ssl)) != 1) {
        if (wait_io(ssl, fd, r, 5000) <= 0) {
            fprintf(stderr, "tls_flood: handshake failed\n");
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    /* Non-blocking from here: a server that stops reading stalls us. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        return 1;
    /* Take the server's session tickets: the last reads we make. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char junk[4096];
    while (poll(&p, 1, 100) > 0 && SSL_read(ssl, junk, sizeof junk) > 0) {
    }
    ERR_clear_error();
    long base = pid ? rss_kb(pid) : -1, peak = base;
    printf("tls_flood: %s:%s, %.0f s of KeyUpdate requests, never reading\n",
           argv[1], argv[2], secs);
    printf("  %6s %14s %14s\n", "second", "KeyUpdates", "server RSS KiB");
    if (pid)
        printf("  %6d %14d %14ld\n", 0, 0, base);
    unsigned long sent = 0;
    double t0 = now_s(), next = t0 + 1;
    int stalled_ms = 0;
    while (now_s() - t0 < secs) {
        if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1) {
            /* a KeyUpdate still being written: finish it first */
            ERR_clear_error();
        }
        r = SSL_do_handshake(ssl);
        if (r == 1) {
            sent++;
        } else {
            int w = wait_io(ssl, fd, r, 100);
            if (w < 0) {
                fprintf(stderr, "tls_flood: the server ended the "
                                "connection after %lu KeyUpdates\n",
                        sent);
                ERR_print_errors_fp(stderr);
                break;
            }
            if (w == 0)
                stalled_ms += 100;
        }
        if (now_s() >= next) {
            long kb = pid ? rss_kb(pid) : -1;
            if (kb > peak)
                peak = kb;
            printf("  %6.0f %14lu %14ld\n", next - t0, sent, kb);
            fflush(stdout);
            next += 1;
        }
    }
    long end = pid ? rss_kb(pid) : -1;
    if (end > peak)
        peak = end;
    printf("  %lu KeyUpdates sent in %.0f s; %.1f s stalled (the server "
           "stopped reading)\n",
           sent, secs, stalled_ms / 1000.0);
    if (pid)
        printf("  server RSS %ld KiB before, %ld KiB at the end, %ld KiB at "
               "most\nRESULT tls_flood rss_growth %ld KiB\n",
               base, end, peak, peak - base);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return 0;
}
