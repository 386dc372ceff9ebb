/* Server handlers the fault scenarios (scenarios.c) and the soak
 * (tests/soak.c) share: GET /hello answers "hello, world", GET /ws echoes
 * WebSocket messages until the peer closes. */
#ifndef WEFT_FAULTS_HANDLERS_H
#define WEFT_FAULTS_HANDLERS_H

#include <weft.h>
#include <weft/web.h>
#include <weft/ws.h>

static inline int hello(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200, "hello, world");
}

static inline int ws_echo(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int r = weft_ws_accept(&ws, req, NULL);
    if (r < 0)
        return r;
    weft_ws_msg_t m;
    while ((r = weft_ws_receive(ws, &m)) == 0 && m.type != WEFT_WS_CLOSE) {
        r = weft_ws_send(ws, m.type, m.data, m.len);
        if (r < 0)
            break;
    }
    return r == WEFT_EWS_CLOSED ? 0 : r;
}

#endif
