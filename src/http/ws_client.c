/* The client's opening handshake (RFC 6455 section 4.1) over a
 * weft_session_t: a GET through the session's machinery (pool, proxy,
 * TLS, cookies, redirects), the 101 checked, the connection hijacked. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "weft/httpmsg.h"
#include "ws_int.h"

/* "ws://h/p" -> "http://h/p", "wss://" -> "https://"; others as given
 * (the session refuses what is not http or https). */
static char *http_url(const char *url) {
    size_t n = strlen(url);
    char *u = weft__malloc(n + 3); /* "ws" -> "http": two more, and NUL */
    if (!u)
        return NULL;
    if (strncasecmp(url, "ws://", 5) == 0)
        snprintf(u, n + 3, "http://%s", url + 5);
    else if (strncasecmp(url, "wss://", 6) == 0)
        snprintf(u, n + 3, "https://%s", url + 6);
    else
        memcpy(u, url, n + 1);
    return u;
}

static const char *const reserved[] = {"Upgrade",
                                       "Connection",
                                       "Sec-WebSocket-Key",
                                       "Sec-WebSocket-Version",
                                       "Sec-WebSocket-Protocol",
                                       "Sec-WebSocket-Extensions",
                                       NULL};

static bool is_reserved(const char *name) {
    for (const char *const *r = reserved; *r; r++)
        if (strcasecmp(name, *r) == 0)
            return true;
    return false;
}

static int hs_fail(const weft_ws_connect_opts_t *co, const char *url,
                   int status, const char *why) {
    weft_client_error_t *e = co ? co->error : NULL;
    if (e) {
        e->code = WEFT_EWS_HANDSHAKE;
        e->status = status;
        e->timeout = 0;
        snprintf(e->msg, sizeof e->msg, "GET %s: WebSocket handshake: %s", url,
                 why);
    }
    weft__log(WEFT_LOG_DEBUG, "GET %s: WebSocket handshake: %s", url, why);
    return WEFT_EWS_HANDSHAKE;
}

static bool has_token(const weft_http_field_t *f, size_t n, const char *name,
                      const char *token) {
    return weft_http_field_has_token(f, n, name, token);
}

/* The server's 101 against what we sent: Upgrade, Connection, the accept
 * key, the subprotocol (one we offered, or none), the extensions (only
 * permessage-deflate, and only if offered). */
static const char *check_101(weft_client_response_t *r, const char *accept,
                             const weft_ws_opts_t *o, const char **protocol,
                             struct weft__ws_pmd *pmd) {
    const weft_http_field_t *f;
    size_t n = weft_client_headers(r, &f);
    if (!has_token(f, n, "Upgrade", "websocket"))
        return "no \"Upgrade: websocket\" in the answer";
    if (!has_token(f, n, "Connection", "upgrade"))
        return "no \"Connection: upgrade\" in the answer";
    ssize_t i = weft_http_field_find(f, n, "Sec-WebSocket-Accept", 0);
    if (i < 0 || f[i].value.len != 28 ||
        memcmp(f[i].value.ptr, accept, 28) != 0 ||
        weft_http_field_find(f, n, "Sec-WebSocket-Accept", (size_t)i + 1) >= 0)
        return "wrong Sec-WebSocket-Accept";
    *protocol = NULL;
    i = weft_http_field_find(f, n, "Sec-WebSocket-Protocol", 0);
    if (i >= 0) {
        weft_span_t v = f[i].value;
        if (o->protocols)
            for (const char *const *p = o->protocols; *p; p++)
                if (strlen(*p) == v.len && memcmp(*p, v.ptr, v.len) == 0)
                    *protocol = *p;
        if (!*protocol || weft_http_field_find(f, n, "Sec-WebSocket-Protocol",
                                               (size_t)i + 1) >= 0)
            return "a subprotocol that was not offered";
    }
    memset(pmd, 0, sizeof *pmd);
    if (weft_http_field_find(f, n, "Sec-WebSocket-Extensions", 0) >= 0) {
        if (!(o->flags & WEFT_WS_DEFLATE) ||
            weft__ws_pmd_check(f, n, &o->deflate, pmd) < 0)
            return "an extension (or parameter) that was not offered";
    }
    return NULL;
}

int weft_ws_connect(weft_ws_t **out, weft_session_t *session, const char *url,
                    const weft_ws_connect_opts_t *co) {
    if (!out || !session || !url)
        return -EINVAL;
    *out = NULL;
    if (!weft__task_require("weft_ws_connect"))
        return -EPERM;
    static const weft_ws_opts_t none = {0};
    const weft_ws_opts_t *o = co ? &co->ws : &none;
    size_t nuser = 0;
    if (co && co->headers)
        for (; co->headers[nuser]; nuser += 2)
            if (!co->headers[nuser + 1] || is_reserved(co->headers[nuser])) {
                weft__log(WEFT_LOG_WARN,
                          "weft_ws_connect: header '%s' is "
                          "the handshake's, or has no value",
                          co->headers[nuser]);
                return -EINVAL;
            }
    /* The key: 16 random bytes in base64, and the answer it calls for. */
    uint8_t raw[16];
    char key[25], accept[29];
    weft__ws_random(raw, sizeof raw);
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    weft_ws_accept_key(key, 24, accept);
    char protos[512] = "", ext[256] = "";
    if (o->protocols) {
        size_t at = 0;
        for (const char *const *p = o->protocols; *p; p++) {
            int k = snprintf(protos + at, sizeof protos - at, "%s%s",
                             at ? ", " : "", *p);
            if (k < 0 || (size_t)k >= sizeof protos - at ||
                !weft_http_is_token(*p, strlen(*p)))
                return -EINVAL;
            at += (size_t)k;
        }
    }
    if ((o->flags & WEFT_WS_DEFLATE) &&
        weft__ws_pmd_offer(&o->deflate, ext, sizeof ext) < 0)
        return -EINVAL;
    const char *h[64];
    size_t nh = 0;
    if (nuser > sizeof h / sizeof h[0] - 16)
        return -EINVAL;
    for (size_t i = 0; i < nuser; i++)
        h[nh++] = co->headers[i];
    h[nh++] = "Upgrade";
    h[nh++] = "websocket";
    h[nh++] = "Connection";
    h[nh++] = "Upgrade";
    h[nh++] = "Sec-WebSocket-Key";
    h[nh++] = key;
    h[nh++] = "Sec-WebSocket-Version";
    h[nh++] = "13";
    if (protos[0]) {
        h[nh++] = "Sec-WebSocket-Protocol";
        h[nh++] = protos;
    }
    if (ext[0]) {
        h[nh++] = "Sec-WebSocket-Extensions";
        h[nh++] = ext;
    }
    if (co && co->origin) {
        h[nh++] = "Origin";
        h[nh++] = co->origin;
    }
    h[nh] = NULL;
    char *u = http_url(url);
    if (!u)
        return -ENOMEM;
    weft_client_timeout_t to = {.total = co ? co->timeout : 0};
    weft_client_req_opts_t ro = {
        .headers = h,
        .timeout = co && co->timeout > 0 ? &to : NULL,
        .flags = WEFT_CLIENT_NO_DECOMPRESS,
        .error = co ? co->error : NULL,
    };
    weft_client_response_t *r;
    int err = weft_session_get(session, u, &ro, &r);
    if (err) {
        weft__free(u);
        return err;
    }
    const char *protocol = NULL;
    struct weft__ws_pmd pmd;
    const char *why = NULL;
    char whybuf[80];
    if (weft_client_status(r) != 101) {
        snprintf(whybuf, sizeof whybuf, "answered %d, not 101",
                 weft_client_status(r));
        why = whybuf;
    } else {
        why = check_101(r, accept, o, &protocol, &pmd);
    }
    if (why) {
        err = hs_fail(co, url, weft_client_status(r), why);
        weft_client_release(r);
        weft__free(u);
        return err;
    }
    weft__free(u);
    weft_stream_t *s = weft_client_hijack(r);
    weft_client_release(r);
    if (!s)
        return -EPIPE;
    weft_ws_t *ws;
    err = weft__ws_new(&ws, s, true, o, &pmd);
    if (err) {
        weft_stream_close(s);
        return err;
    }
    ws->own_stream = true;
    if (protocol) {
        ws->protocol = weft__malloc(strlen(protocol) + 1);
        if (!ws->protocol) {
            weft__ws_destroy(ws);
            return -ENOMEM;
        }
        strcpy(ws->protocol, protocol);
    }
    *out = ws;
    return 0;
}
