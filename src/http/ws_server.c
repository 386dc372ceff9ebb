/* The server's opening handshake (RFC 6455 section 4.2) in a route
 * handler: the request checked with weft/httpmsg.h's field helpers, a 101
 * answered through the web server's response, the connection hijacked. */
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "web_int.h"
#include "weft/httpmsg.h"
#include "ws_int.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int weft_ws_accept_key(const char *key, size_t len, char out[29]) {
    char buf[64 + sizeof WS_GUID];
    if (!key || !out || len > 64)
        return -EINVAL;
    memcpy(buf, key, len);
    memcpy(buf + len, WS_GUID, sizeof WS_GUID - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(buf, len + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(),
                    NULL) ||
        mdlen != 20)
        return -EINVAL;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars and a NUL */
    return 28;
}

/* A Sec-WebSocket-Key is 16 bytes in base64 (RFC 6455 4.1): 22
 * characters of the alphabet, the last of which holds 2 bits (A, Q, g,
 * w), then "==". */
static bool key_ok(weft_span_t k) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                              "vwxyz0123456789+/";
    if (k.len != 24 || k.ptr[22] != '=' || k.ptr[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!k.ptr[i] || !strchr(b64, k.ptr[i]))
            return false;
    return strchr("AQgw", k.ptr[21]) != NULL;
}

static bool has_token(const weft_web_request_t *req, const char *name,
                      const char *token) {
    return weft_http_field_has_token(req->fields, req->nfields, name, token);
}

bool weft_ws_is_upgrade(const weft_web_request_t *req) {
    return req && req->method == WEFT_HTTP_GET &&
           has_token(req, "Connection", "upgrade") &&
           has_token(req, "Upgrade", "websocket");
}

/* The one field `name` (a second one is malformed). */
static bool one_field(const weft_web_request_t *req, const char *name,
                      weft_span_t *v) {
    ssize_t i = weft_http_field_find(req->fields, req->nfields, name, 0);
    if (i < 0 || weft_http_field_find(req->fields, req->nfields, name,
                                      (size_t)i + 1) >= 0)
        return false;
    *v = req->fields[i].value;
    return true;
}

/* The first subprotocol the client offers (in its order, as aiohttp) that
 * the server speaks; NULL if none. */
static const char *choose_protocol(const weft_web_request_t *req,
                                   const char *const *mine) {
    if (!mine)
        return NULL;
    for (ssize_t i = 0;
         (i = weft_http_field_find(req->fields, req->nfields,
                                   "Sec-WebSocket-Protocol", (size_t)i)) >= 0;
         i++) {
        weft_http_list_iter_t it;
        weft_http_list_init(&it, req->fields[i].value.ptr,
                            req->fields[i].value.len);
        weft_span_t e;
        while (weft_http_list_next(&it, &e) == 1)
            for (const char *const *p = mine; *p; p++)
                if (strlen(*p) == e.len && memcmp(*p, e.ptr, e.len) == 0)
                    return *p;
    }
    return NULL;
}

/* ---- the request's end and the server's shutdown ------------------------- */

/* The handler returned: a socket still open gets its close frame (not
 * waited for: the server's lingering close drains the answer), and the
 * object goes. */
static void server_end(void *arg) {
    weft_ws_t *ws = arg;
    weft__web_conn_on_shutdown(ws->req, NULL, NULL);
    if (!(ws->flags & (WS_CLOSE_SENT | WS_FAILED))) {
        uint8_t p[2] = {WEFT_WS_NORMAL >> 8, WEFT_WS_NORMAL & 0xff};
        ws->flags |= WS_CLOSE_SENT;
        weft__ws_send_control(ws, WEFT_WS_CLOSE, p, 2);
    }
    weft__web_conn_linger(ws->req);
    weft__ws_destroy(ws);
}

/* The runner shuts down gracefully: 1001, and the close deadline runs (the
 * handler's receive gets the client's answer as a CLOSE message). */
static void server_shutdown(void *arg) {
    weft_ws_t *ws = arg;
    static const char why[] = "server shutting down";
    if (ws->flags & (WS_CLOSE_SENT | WS_FAILED))
        return;
    uint8_t p[2 + sizeof why - 1] = {WEFT_WS_GOING_AWAY >> 8,
                                     WEFT_WS_GOING_AWAY & 0xff};
    memcpy(p + 2, why, sizeof why - 1);
    ws->flags |= WS_CLOSE_SENT;
    if (weft__ws_send_control(ws, WEFT_WS_CLOSE, p, sizeof p)) {
        weft__ws_kill(ws, -EPIPE);
        return;
    }
    uint64_t t;
    if (weft__secs_to_ns(ws->o.close_timeout, &t))
        t = WEFT__NS_INF;
    ws->close_by = weft__loop_deadline(ws->loop, t);
    ws->flags |= WS_CLOSE_WAIT;
    weft__ws_timer_update(ws);
}

/* ---- the handshake ------------------------------------------------------- */

static int set_headers(weft_web_response_t *resp, weft_span_t key,
                       const char *protocol, const char *ext) {
    char accept[29];
    weft_ws_accept_key(key.ptr, key.len, accept);
    int err = weft_web_set_status(resp, 101, NULL);
    if (!err)
        err = weft_web_set_header(resp, "Upgrade", "websocket");
    if (!err)
        err = weft_web_set_header(resp, "Connection", "Upgrade");
    if (!err)
        err = weft_web_set_header(resp, "Sec-WebSocket-Accept", accept);
    if (!err && protocol)
        err = weft_web_set_header(resp, "Sec-WebSocket-Protocol", protocol);
    if (!err && ext && *ext)
        err = weft_web_set_header(resp, "Sec-WebSocket-Extensions", ext);
    return err;
}

int weft_ws_accept(weft_ws_t **out, weft_web_request_t *req,
                   const weft_ws_opts_t *opts) {
    if (!out || !req)
        return -EINVAL;
    *out = NULL;
    if (!weft__task_require("weft_ws_accept"))
        return -EPERM;
    if (req->resp.prepared || req->hijacked)
        return -EALREADY;
    if (req->conn->runner->shutting_down)
        return WEFT_WEB_HTTP(503);
    if (req->method != WEFT_HTTP_GET || req->version < 11 ||
        !has_token(req, "Upgrade", "websocket") ||
        !has_token(req, "Connection", "upgrade"))
        return WEFT_WEB_HTTP(400);
    weft_span_t v, key;
    if (!one_field(req, "Sec-WebSocket-Version", &v) || v.len != 2 ||
        memcmp(v.ptr, "13", 2) != 0) {
        /* RFC 6455 4.4: say which version we speak. The answer is sent
         * here, the header being one a WEFT_WEB_HTTP code would drop;
         * the code returned then only closes the connection. */
        int err = weft__web_error_response(req, 426);
        if (!err)
            err =
                weft_web_set_header(&req->resp, "Sec-WebSocket-Version", "13");
        if (!err)
            err = weft__web_finish(req);
        return err ? err : WEFT_WEB_HTTP(426);
    }
    if (!one_field(req, "Sec-WebSocket-Key", &key) || !key_ok(key))
        return WEFT_WEB_HTTP(400);
    if (opts && opts->check_origin) {
        weft_span_t origin = {"", 0};
        weft_web_header(req, "Origin", &origin);
        if (!opts->check_origin(req, origin.ptr, origin.len,
                                opts->check_origin_arg))
            return WEFT_WEB_HTTP(403);
    }
    const char *protocol = choose_protocol(req, opts ? opts->protocols : NULL);
    struct weft__ws_pmd pmd = {0};
    char ext[256] = "";
    if (opts && (opts->flags & WEFT_WS_DEFLATE) &&
        weft__ws_pmd_accept(req->fields, req->nfields, &opts->deflate, &pmd,
                            ext, sizeof ext) < 0)
        pmd.on = false;
    weft_ws_t *ws;
    int err = weft__ws_new(&ws, req->conn->s, false, opts, &pmd);
    if (err)
        return err;
    ws->req = req;
    if (protocol && !(ws->protocol = weft__malloc(strlen(protocol) + 1))) {
        weft__ws_destroy(ws);
        return -ENOMEM;
    }
    if (protocol)
        strcpy(ws->protocol, protocol);
    err = set_headers(&req->resp, key, protocol, pmd.on ? ext : NULL);
    if (!err)
        err = weft_web_defer(req, server_end, ws);
    if (err) {
        weft__ws_destroy(ws);
        return err;
    }
    /* From here the request owns ws (server_end frees it). */
    err = weft_web_prepare(req);
    if (!err && !weft_web_hijack(req))
        err = -ENOMEM;
    if (err) {
        ws->flags |= WS_FAILED | WS_CLOSE_SENT | WS_ERR_TOLD;
        ws->err = err;
        return err;
    }
    ws->last_rx = ws->loop->now;
    weft__web_conn_on_shutdown(req, server_shutdown, ws);
    *out = ws;
    return 0;
}
