/* Server-sent events on a streaming response (weft/web_sse.h). An event
 * is formatted into a buffer on the stack (or the heap when larger) and
 * written in one weft_web_write: nothing goes into the request's arena,
 * which lives as long as the stream (hours) and is never reset before. */
#include <string.h>

#include "../core/common.h"
#include "weft/web_sse.h"

int weft_web_sse_prepare(weft_web_request_t *req) {
    weft_web_response_t *resp = weft_web_resp(req);
    int r = weft_web_set_content_type(resp, "text/event-stream", "utf-8");
    if (r == 0)
        r = weft_web_set_header(resp, "Cache-Control", "no-cache");
    if (r == 0)
        r = weft_web_set_header(resp, "X-Accel-Buffering", "no");
    return r < 0 ? r : weft_web_prepare(req);
}

static int send_formatted(weft_web_request_t *req,
                          const weft_web_sse_event_t *ev) {
    if (!weft_web_prepared(req)) {
        int r = weft_web_sse_prepare(req);
        if (r < 0)
            return r;
    }
    char small[1024];
    ssize_t n = weft_web_sse_format(small, sizeof small, ev);
    if (n < 0)
        return (int)n;
    if ((size_t)n <= sizeof small)
        return weft_web_write(req, small, (size_t)n);
    char *big = weft__malloc((size_t)n);
    if (!big)
        return -ENOMEM;
    weft_web_sse_format(big, (size_t)n, ev);
    int r = weft_web_write(req, big, (size_t)n);
    weft__free(big);
    return r;
}

int weft_web_sse_event(weft_web_request_t *req, const weft_web_sse_event_t *ev) {
    if (!req || !ev) {
        WEFT__MISUSE("weft_web_sse_event", "NULL argument");
        return -EINVAL;
    }
    /* Check before preparing: a bad event must not send a head. */
    ssize_t n = weft_web_sse_format(NULL, 0, ev);
    if (n < 0)
        return (int)n;
    return send_formatted(req, ev);
}

int weft_web_sse_send(weft_web_request_t *req, const char *event,
                      const char *data, const char *id) {
    weft_web_sse_event_t ev = {.event = event,
                               .data = data,
                               .data_len = SIZE_MAX,
                               .id = id,
                               .retry_ms = -1};
    return weft_web_sse_event(req, &ev);
}

int weft_web_sse_comment(weft_web_request_t *req, const char *text) {
    if (!req) {
        WEFT__MISUSE("weft_web_sse_comment", "NULL request");
        return -EINVAL;
    }
    if (!text)
        text = "";
    size_t n = strlen(text);
    if (strpbrk(text, "\r\n"))
        return -EINVAL;
    if (!weft_web_prepared(req)) {
        int r = weft_web_sse_prepare(req);
        if (r < 0)
            return r;
    }
    char small[256];
    if (n + 3 > sizeof small)
        n = sizeof small - 3; /* a keep-alive need not be long */
    small[0] = ':';
    small[1] = ' ';
    memcpy(small + 2, text, n);
    small[n + 2] = '\n';
    return weft_web_write(req, small, n + 3);
}
