/* uv_echo.c - the libuv peer of bench/echo.c, written against libuv's
 * public API as a libuv user would write a fast echo server: each read
 * goes back with uv_try_write (a direct write(2)); what the socket does not
 * take is copied and queued with uv_write, and reading stops while more
 * than 64 KiB are queued (weft's drain() default) until it has gone.
 * TCP_NODELAY as weft sets it. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "echo.h"

#define READ_BUF 65536 /* libuv's suggested size */
#define HIGH_WATER 65536

struct conn {
    uv_tcp_t tcp; /* first: the handle's address is the conn's */
    char buf[READ_BUF];
};

struct wreq {
    uv_write_t req;
    char data[];
};

static void on_closed(uv_handle_t *h) {
    free(h);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    struct conn *c = (struct conn *)h;
    *buf = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void after_write(uv_write_t *req, int status) {
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (s->write_queue_size <= HIGH_WATER / 4 &&
        !uv_is_closing((uv_handle_t *)s))
        uv_read_start(s, alloc_cb, on_read); /* no-op when reading */
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    if (nread == 0)
        return; /* EAGAIN */
    if (nread < 0) { /* UV_EOF or an error */
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
    int sent = 0;
    if (s->write_queue_size == 0) {
        sent = uv_try_write(s, &b, 1);
        if (sent == UV_EAGAIN)
            sent = 0;
        if (sent < 0) {
            uv_close((uv_handle_t *)s, on_closed);
            return;
        }
    }
    if (sent == nread)
        return;
    size_t left = (size_t)nread - (size_t)sent;
    struct wreq *w = malloc(sizeof *w + left);
    if (!w) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    memcpy(w->data, buf->base + sent, left);
    uv_buf_t rb = uv_buf_init(w->data, (unsigned)left);
    if (uv_write(&w->req, s, &rb, 1, after_write) < 0) {
        free(w);
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (s->write_queue_size > HIGH_WATER)
        uv_read_stop(s);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0)
        return;
    struct conn *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static char ctl_buf[64];

static void ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(ctl_buf, sizeof ctl_buf);
}

static void on_ctl(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    if (nread < 0) /* the parent closed its end: stop */
        uv_stop(s->loop);
}

int uv_echo_serve(int port_fd, int ctl_fd) {
    uv_loop_t *loop = uv_default_loop();
    static uv_tcp_t server;
    static uv_pipe_t ctl;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &server);
    int err = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
    if (!err)
        err = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    int len = sizeof sa;
    if (!err)
        err = uv_tcp_getsockname(&server, (struct sockaddr *)&sa, &len);
    if (!err)
        err = uv_pipe_init(loop, &ctl, 0);
    if (!err)
        err = uv_pipe_open(&ctl, ctl_fd);
    if (!err)
        err = uv_read_start((uv_stream_t *)&ctl, ctl_alloc, on_ctl);
    if (err) {
        fprintf(stderr, "uv_echo: %s\n", uv_strerror(err));
        return -1;
    }
    int port = ntohs(sa.sin_port);
    if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port)
        return -1;
    uv_run(loop, UV_RUN_DEFAULT);
    /* The connections are not closed: this runs in a child that exits. */
    return 0;
}
