/* weft/json.h - JSON in and out of weft's HTTP server and client, through jansson
 * (Debian's libjansson-dev): a separate library, libweft_json (link
 * -lweft_json, or pkg-config weft-json), so that libweft never needs
 * jansson; this header includes <jansson.h>.
 *
 *     int create(weft_web_request_t *req, void *arg) {
 *         json_t *body;
 *         int r = weft_web_read_json(req, &body, 0);
 *         if (r < 0)
 *             return r;                 400 invalid JSON, 413 too large
 *         const char *name = json_string_value(json_object_get(body, "name"));
 *         if (!name)
 *             return weft_web_json_error(req, 400, "'name' must be a string");
 *         json_t *item = json_pack("{s:i, s:s}", "id", 7, "name", name);
 *         return weft_web_json_take(req, 201, item);
 *     }
 *
 * Why jansson: packaged by Debian since 2009 and kept (2.14), no
 * dependencies, a stable C API with reference counting and
 * json_pack/json_unpack for building and checking values, ordered
 * objects, and it reports where invalid input went wrong (line, column,
 * text), which a 400 should say. (json-c has no position in its errors;
 * yyjson is faster but not in Debian's stable release.)
 *
 * The client's side (aiohttp's json= and resp.json()):
 *
 *     json_t *q = json_pack("{s:s}", "name", "ada");
 *     weft_client_response_t *r;
 *     int err = weft_session_request_json(s, "POST", url, q, NULL, &r);
 *     json_decref(q);
 *     json_t *answer;
 *     if (!err && (err = weft_client_json(r, &answer, 0, NULL)) == 0) {
 *         ... json_decref(answer);
 *     }
 *     weft_client_release(r);
 */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H

#include <jansson.h>

#include "client.h"
#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Read the request body and parse it as JSON (aiohttp's request.json()).
 * The body may be at most max bytes (0: the app's client_max_size); any
 * JSON value is accepted (not only objects); the Content-Type is not
 * checked. *out is the value, owned by the request: it is released
 * (json_decref) when the request ends; json_incref it to keep it longer.
 * A second call returns the same value.
 *
 * Returns 0, WEFT_WEB_HTTP(400) for invalid JSON (or a body with a NUL;
 * the message, "invalid JSON: <jansson's text> at line L, column C", is
 * kept for weft_web_json_errors and weft_web_error_message), (413) and
 * the other errors of weft_web_read_body, -ENOMEM. */
WEFT_EXPORT int weft_web_read_json(weft_web_request_t *req, json_t **out,
                                   size_t max);

/* The flags every response here is dumped with: compact, keys in their
 * order, non-ASCII kept as UTF-8. */
#define WEFT_WEB_JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* Answer with status and value as application/json (aiohttp's
 * json_response): the value is serialised now, so it may be changed or
 * freed afterwards. The text is json_dumpb's with WEFT_WEB_JSON_FLAGS |
 * JSON_ENCODE_ANY, byte for byte, written by weft in one pass (json_dumpb
 * cannot size its text without writing it, and spends more on its loop
 * check than on the text), into the request's arena, or past 1 KiB into
 * a buffer freed when the request ends. Returns 0 so that a handler can
 * return it; -EINVAL (NULL value, a status weft_web_set_status refuses,
 * or a value jansson cannot dump: a container inside itself, a string
 * that is not UTF-8), -ENOMEM, -EALREADY (head sent). */
WEFT_EXPORT int weft_web_json(weft_web_request_t *req, int status,
                              const json_t *value);

/* The same, taking the caller's reference to value (json_decref'd here,
 * whatever happens): `return weft_web_json_take(req, 200, json_pack(...))`
 * leaks nothing. A NULL value (json_pack failed) is -ENOMEM. */
WEFT_EXPORT int weft_web_json_take(weft_web_request_t *req, int status,
                                   json_t *value);

/* An error answer: status and {"error": message} (printf-style). Returns
 * 0 like weft_web_json. */
WEFT_EXPORT int weft_web_json_error(weft_web_request_t *req, int status,
                                    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The message weft_web_read_json kept for this request's last failure, or
 * NULL. */
WEFT_EXPORT const char *weft_web_error_message(const weft_web_request_t *req);

/* A middleware (add it first) that turns every HTTP error returned by the
 * handlers and middlewares after it (WEFT_WEB_HTTP codes: 400 from
 * weft_web_read_json, 404, 405, 413 ...) into a JSON answer with that
 * status: {"error": the message weft_web_read_json kept, or the reason
 * phrase ("Not Found")}. A 405's Allow header is kept. Other failures
 * pass through (the server's 500 says nothing about them, as it should).
 * Returns 0, -EBUSY (app frozen), -ENOMEM. */
WEFT_EXPORT int weft_web_json_errors(weft_web_app_t *app);

/* ---- the client -------------------------------------------------------------- */

/* weft_session_request with value as the body: serialised now (compact,
 * keys in order, WEFT_WEB_JSON_FLAGS | JSON_ENCODE_ANY) and sent as
 * application/json (unless opts' headers give another Content-Type).
 * value stays the caller's. opts may be NULL; a body in opts is -EINVAL.
 * Returns what weft_session_request returns, or -EINVAL (NULL value, or
 * one jansson cannot dump: a NaN), -ENOMEM. */
WEFT_EXPORT int weft_session_request_json(weft_session_t *s,
                                          const char *method, const char *url,
                                          const json_t *value,
                                          const weft_client_req_opts_t *opts,
                                          weft_client_response_t **resp);

/* Read the response body (at most max bytes after decompression; 0: the
 * session's max_body) and parse it as JSON (any value, not only objects;
 * the Content-Type is not checked). *out is the caller's reference
 * (json_decref it). Returns 0, -EBADMSG for invalid JSON (with jansson's
 * text, line and column in *error when it is not NULL), or the errors of
 * weft_client_body. */
WEFT_EXPORT int weft_client_json(weft_client_response_t *r, json_t **out,
                                 size_t max, json_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
