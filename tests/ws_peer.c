/* ws_peer URL [--no-deflate]: weft's WebSocket client against an echo
 * server written by somebody else (tests/ws_interop.py starts Python's
 * websockets and Node's ws as such servers). It sends text, binary, an
 * empty message, a large compressible one, a fragmented one (in parts),
 * a ping, and checks that each comes back; then closes with 1000.
 * Prints one line per check and "ws_peer: N passed, N failed", exits 0
 * when all passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static int failed, passed;
static const char *url;
static bool deflate = true;

static void check(bool ok, const char *what) {
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (ok)
        passed++;
    else
        failed++;
}

static bool echoed(weft_ws_t *ws, int type, const void *p, size_t n) {
    weft_ws_msg_t m;
    int err = weft_ws_receive(ws, &m);
    if (err) {
        printf("receive: %s\n", weft_strerror(err));
        return false;
    }
    return m.type == type && m.len == n && (n == 0 || !memcmp(m.data, p, n));
}

static int peer(void *arg) {
    (void)arg;
    weft_session_t *s;
    if (weft_session_new(&s, NULL))
        return 1;
    weft_client_error_t e;
    weft_ws_connect_opts_t co = {.error = &e};
    if (deflate)
        co.ws.flags = WEFT_WS_DEFLATE;
    weft_ws_t *ws;
    int err = weft_ws_connect(&ws, s, url, &co);
    check(err == 0, "connect");
    if (err) {
        printf("  %s\n", e.msg);
        weft_session_close(s);
        return 1;
    }
    check(weft_ws_compressed(ws) == deflate, "permessage-deflate agreed");
    const char *t = "hello, \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    weft_ws_send_text(ws, t, strlen(t));
    check(echoed(ws, WEFT_WS_TEXT, t, strlen(t)), "text");
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    weft_ws_send_binary(ws, bin, sizeof bin);
    check(echoed(ws, WEFT_WS_BINARY, bin, sizeof bin), "binary");
    weft_ws_send_binary(ws, "", 0);
    check(echoed(ws, WEFT_WS_BINARY, "", 0), "empty");
    static char big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "lorem ipsum dolor sit amet "[i % 27];
    weft_ws_send_text(ws, big, sizeof big);
    check(echoed(ws, WEFT_WS_TEXT, big, sizeof big), "300 KB text");
    for (int k = 0; k < 4; k++)
        weft_ws_send_part(ws, WEFT_WS_TEXT, big, 1000, k == 3);
    static char four[4000];
    for (int k = 0; k < 4; k++)
        memcpy(four + k * 1000, big, 1000);
    check(echoed(ws, WEFT_WS_TEXT, four, sizeof four), "fragmented");
    check(weft_ws_ping(ws, "ping?", 5) == 0, "ping sent");
    weft_ws_send_text(ws, "after ping", 10);
    check(echoed(ws, WEFT_WS_TEXT, "after ping", 10), "pong taken");
    err = weft_ws_close(ws, 1000, "bye");
    check(err == 0, "close handshake");
    check(weft_ws_close_code(ws) == 1000, "close code 1000 echoed");
    weft_ws_free(ws);
    weft_session_close(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: ws_peer URL [--no-deflate]\n", stderr);
        return 2;
    }
    url = argv[1];
    if (argc > 2 && strcmp(argv[2], "--no-deflate") == 0)
        deflate = false;
    setvbuf(stdout, NULL, _IOLBF, 0);
    weft_run(peer, NULL);
    printf("ws_peer: %d passed, %d failed\n", passed, failed);
    return failed || !passed ? 1 : 0;
}
