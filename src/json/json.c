/* JSON for the HTTP server and client (weft/json.h), through jansson. Built into
 * libweft_json only (CMakeLists.txt keeps src/json/ out of libweft), and
 * written against weft's public API alone. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "weft/json.h"

static const char json_key;  /* weft_web_put: the parsed body */
static const char error_key; /* weft_web_put: the last failure's message */

static void decref(void *v) {
    json_decref(v);
}

int weft_web_read_json(weft_web_request_t *req, json_t **out, size_t max) {
    if (!req || !out)
        return -EINVAL;
    json_t *v = weft_web_get(req, &json_key);
    if (v) {
        *out = v;
        return 0;
    }
    const void *body;
    ssize_t n = weft_web_read_body(req, &body, max);
    if (n < 0)
        return (int)n;
    json_error_t e;
    /* JSON_DISALLOW_NUL is the default for strings: a "\u0000" is
     * refused, so values are safe as C strings. */
    v = json_loadb(body, (size_t)n, JSON_DECODE_ANY, &e);
    if (!v) {
        const char *msg =
            n == 0 ? weft_web_sprintf(req, "invalid JSON: the body is empty")
                   : weft_web_sprintf(req,
                                      "invalid JSON: %s at line %d, column %d",
                                      e.text, e.line, e.column);
        if (!msg || weft_web_put(req, &error_key, (void *)msg) < 0)
            return -ENOMEM;
        return WEFT_WEB_HTTP(400);
    }
    if (weft_web_defer(req, decref, v) < 0) {
        json_decref(v);
        return -ENOMEM;
    }
    if (weft_web_put(req, &json_key, v) < 0)
        return -ENOMEM; /* the defer releases it */
    *out = v;
    return 0;
}

/* value's text into o (initialised here); on an error nothing is left to
 * free. */
static int dump(const json_t *value, weft__json_out_t *o) {
    weft__json_out_init(o);
    int r = weft__json_dump(value, o);
    if (r < 0)
        weft__json_out_free(o); /* it may have grown past o->small */
    return r;
}

int weft_web_json(weft_web_request_t *req, int status, const json_t *value) {
    if (!req || !value)
        return -EINVAL;
    weft__json_out_t o;
    int r = dump(value, &o);
    if (r < 0)
        return r;
    weft_web_response_t *resp = weft_web_resp(req);
    r = weft_web_set_status(resp, status, NULL);
    if (r == 0)
        r = weft_web_set_header(resp, "Content-Type", "application/json");
    if (r == 0 && o.p == o.small) {
        r = weft_web_body(resp, o.p, o.len); /* into the arena */
    } else if (r == 0) {
        r = weft_web_defer(req, free, o.p);
        if (r == 0) {
            r = weft_web_body_ref(resp, o.p, o.len);
            weft__json_out_init(&o); /* the defer frees it */
        }
    }
    weft__json_out_free(&o);
    return r;
}

int weft_web_json_take(weft_web_request_t *req, int status, json_t *value) {
    if (!value)
        return -ENOMEM;
    int r = weft_web_json(req, status, value);
    json_decref(value);
    return r;
}

static int error_body(weft_web_request_t *req, int status, const char *msg) {
    json_t *v = json_object();
    json_t *s = json_string(msg);
    if (!v || !s || json_object_set_new(v, "error", s) < 0) {
        json_decref(v);
        return -ENOMEM;
    }
    return weft_web_json_take(req, status, v);
}

int weft_web_json_error(weft_web_request_t *req, int status, const char *fmt,
                        ...) {
    if (!req || !fmt)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    char *msg = weft_web_vsprintf(req, fmt, ap);
    va_end(ap);
    return msg ? error_body(req, status, msg) : -ENOMEM;
}

const char *weft_web_error_message(const weft_web_request_t *req) {
    return req ? weft_web_get(req, &error_key) : NULL;
}

static int errors_mw(weft_web_request_t *req, weft_web_next_t *next,
                     void *arg) {
    (void)arg;
    int r = weft_web_next(req, next);
    int status = 0;
    if (WEFT_WEB_IS_HTTP(r))
        status = WEFT_WEB_HTTP_STATUS(r);
    else if (r == 0 && !weft_web_prepared(req) &&
             weft_web_resp_status(weft_web_resp(req)) == 405)
        status = 405; /* the router's answer, with its Allow */
    if (!status || weft_web_prepared(req))
        return r;
    const char *msg = weft_web_error_message(req);
    if (!msg)
        msg = weft_web_reason(status);
    int e = error_body(req, status, msg);
    return e < 0 ? r : 0;
}

int weft_web_json_errors(weft_web_app_t *app) {
    return weft_web_middleware(app, errors_mw, NULL);
}

/* ---- the client ---------------------------------------------------------------- */

int weft_session_request_json(weft_session_t *s, const char *method,
                              const char *url, const json_t *value,
                              const weft_client_req_opts_t *opts,
                              weft_client_response_t **resp) {
    if (resp)
        *resp = NULL;
    if (!value || (opts && opts->body))
        return -EINVAL;
    weft__json_out_t o;
    int err = dump(value, &o);
    if (err < 0)
        return err;
    weft_client_body_t body =
        WEFT_CLIENT_BYTES(o.p, o.len, "application/json");
    weft_client_req_opts_t ro = opts ? *opts : (weft_client_req_opts_t){0};
    ro.body = &body;
    err = weft_session_request(s, method, url, &ro, resp);
    weft__json_out_free(&o);
    return err;
}

int weft_client_json(weft_client_response_t *r, json_t **out, size_t max,
                     json_error_t *error) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    const void *body;
    ssize_t n = weft_client_body(r, &body, max);
    if (n < 0)
        return (int)n;
    json_error_t e;
    json_t *v = json_loadb(body, (size_t)n, JSON_DECODE_ANY, error ? error : &e);
    if (!v)
        return -EBADMSG;
    *out = v;
    return 0;
}
