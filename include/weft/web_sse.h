/* weft/web_sse.h - server-sent events (the HTML standard's EventSource
 * stream) on a streaming response (weft/web.h), as aiohttp-sse offers:
 *
 *     int events(weft_web_request_t *req, void *arg) {
 *         int r = weft_web_sse_prepare(req);
 *         while (r == 0) {
 *             r = weft_web_sse_send(req, "tick", "one\ntwo", NULL);
 *             if (r == 0)
 *                 r = weft_sleep(1.0);
 *         }
 *         return r == -EPIPE || r == -ECONNRESET ? 0 : r;
 *     }
 *
 * Each event is written in one piece (weft_web_write): the client never
 * sees half an event. Writes wait while the client is slow, as
 * weft_web_write does, and fail with -EPIPE / -ECONNRESET once it has
 * gone: that is how a handler learns to stop.
 */
#ifndef WEFT_WEB_SSE_H
#define WEFT_WEB_SSE_H

#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start the stream: status 200 (unless the handler set another),
 * Content-Type text/event-stream; charset=utf-8, Cache-Control no-cache,
 * X-Accel-Buffering no (nginx would otherwise hold events back), and send
 * the head. Returns 0 or the errors of weft_web_prepare. */
WEFT_EXPORT int weft_web_sse_prepare(weft_web_request_t *req);

/* One event. All fields but data are optional (NULL / negative). */
typedef struct weft_web_sse_event {
    const char *event; /* the event type (onmessage sees "message") */
    const char *data;  /* the payload; may hold newlines */
    size_t data_len;   /* its length; SIZE_MAX: strlen(data) */
    const char *id;    /* sets the client's Last-Event-ID */
    long retry_ms;     /* the client's reconnection time; < 0: unset */
} weft_web_sse_event_t;

/* Send one event: "event:", "id:" and "retry:" lines as given, then the
 * data one "data:" line per line of it (split at CR LF, CR or LF, as the
 * client will join them with LF; an empty data is one empty data line),
 * then the empty line that dispatches it. Prepares the stream first if
 * weft_web_sse_prepare was not called. event and id may not contain CR,
 * LF or NUL, nor data NUL (the client would end or cut the field there):
 * -EINVAL. Returns 0 or the errors of weft_web_write. */
WEFT_EXPORT int weft_web_sse_event(weft_web_request_t *req,
                                   const weft_web_sse_event_t *ev);

/* Shortcut: an event with a type (may be NULL), NUL-terminated data and
 * an id (may be NULL). */
WEFT_EXPORT int weft_web_sse_send(weft_web_request_t *req, const char *event,
                                  const char *data, const char *id);

/* A comment line (": text"), which clients ignore: a keep-alive through
 * proxies that close idle connections. text may be NULL or empty, and may
 * not hold CR, LF or NUL (-EINVAL). Errors of weft_web_write. */
WEFT_EXPORT int weft_web_sse_comment(weft_web_request_t *req,
                                     const char *text);

/* Format one event into buf (cap bytes; not NUL-terminated) as
 * weft_web_sse_event sends it: returns its length, which may exceed cap
 * (then nothing useful was written: call again with a larger buffer, as
 * with snprintf), or -EINVAL. Needs no request: for tests and for
 * programs that send events over something else. */
WEFT_EXPORT ssize_t weft_web_sse_format(char *buf, size_t cap,
                                        const weft_web_sse_event_t *ev);

#ifdef __cplusplus
}
#endif
#endif
