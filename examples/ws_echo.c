/* ws_echo.c - a WebSocket echo server: every message that comes in at
 * path / goes back as it came, text as text, binary as binary, compressed
 * (permessage-deflate) when the client offers it. The C twin of aiohttp's
 *
 *     async def echo(request):
 *         ws = web.WebSocketResponse(compress=True)
 *         await ws.prepare(request)
 *         async for msg in ws:
 *             if msg.type == WSMsgType.TEXT: await ws.send_str(msg.data)
 *             elif msg.type == WSMsgType.BINARY: await ws.send_bytes(msg.data)
 *         return ws
 *
 * Usage: ws_echo [--host H] [--max-message BYTES] PORT
 *
 * Listens on H:PORT (H defaults to 127.0.0.1; PORT 0 takes a free port)
 * and prints "listening on ws://HOST:PORT/". Messages up to BYTES (default
 * 16 MiB) are echoed; a longer one closes its connection with 1009.
 * SIGINT or SIGTERM: a graceful shutdown (every open socket gets a close
 * frame with 1001), "stopped on SIGTERM after N messages", exit 0. Errors:
 * one line on stderr, exit 1; bad arguments: exit 2. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#define USAGE "usage: ws_echo [--host H] [--max-message BYTES] PORT\n"

static atomic_ullong echoed;
/* Hibernate: no other task touches the echo loop's locals, so an idle
 * connection's task may give its whole stack back (weft/ws.h). */
static weft_ws_opts_t ws_opts = {.flags = WEFT_WS_DEFLATE | WEFT_WS_HIBERNATE};

static int echo(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &ws_opts);
    if (err)
        return err; /* not a WebSocket request: 400, 426 ... */
    weft_ws_msg_t m;
    while (weft_ws_receive(ws, &m) == 0 && m.type != WEFT_WS_CLOSE) {
        if (weft_ws_send(ws, m.type, m.data, m.len) < 0)
            break;
        atomic_fetch_add_explicit(&echoed, 1, memory_order_relaxed);
    }
    return 0; /* the socket is closed and freed with the request */
}

static void on_listening(int port, void *arg) {
    const char *host = arg;
    bool v6 = strchr(host, ':') != NULL;
    printf("listening on ws://%s%s%s:%d/\n", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
}

static bool parse_num(const char *s, unsigned long long max,
                      unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || s[0] == '+' || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    unsigned long long v, max = 16u << 20;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc && argv[i + 1][0])
            host = argv[++i];
        else if (strcmp(argv[i], "--max-message") == 0 && i + 1 < argc &&
                 parse_num(argv[i + 1], SIZE_MAX, &max) && max > 0)
            i++;
        else if (strcmp(argv[i], "--") == 0 && ++i)
            break;
        else
            break;
    }
    if (argc - i != 1 || !parse_num(argv[i], 65535, &v)) {
        fputs(USAGE, stderr);
        return 2;
    }
    ws_opts.max_message = (size_t)max;
    setvbuf(stdout, NULL, _IOLBF, 0);
    weft_web_app_t *app;
    int err = weft_web_app_new(&app, NULL);
    if (!err)
        err = weft_web_route(app, "GET", "/", echo, NULL, NULL);
    if (err) {
        fprintf(stderr, "ws_echo: %s\n", weft_strerror(err));
        return 1;
    }
    int stop_signal = 0;
    weft_web_run_opts_t opts = {0};
    opts.on_listening = on_listening;
    opts.arg = (void *)host;
    opts.stop_signal = &stop_signal;
    err = weft_web_run_app(app, host, argv[i], &opts);
    weft_web_app_free(app);
    if (err) {
        fprintf(stderr, "ws_echo: cannot serve on %s:%s: %s\n", host,
                argv[i], weft_strerror(err));
        return 1;
    }
    printf("stopped on %s after %llu messages\n",
           stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
           (unsigned long long)atomic_load(&echoed));
    return 0;
}
