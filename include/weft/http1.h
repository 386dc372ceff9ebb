/* weft/http1.h - HTTP/1.1 on the wire: the request and response head
 * parser, body framing (Content-Length, chunked, until close) and the head
 * writer. Needs no loop: usable on its own, fuzzed and benchmarked alone.
 *
 * (Skeleton: the shared types come first so that weft/httpmsg.h can build
 * on them; the parser and writer follow.)
 */
#ifndef WEFT_HTTP1_H
#define WEFT_HTTP1_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A run of bytes inside a buffer somebody else owns (the parser's input,
 * usually): never NUL-terminated, valid as long as that buffer is. */
typedef struct weft_span {
    const char *ptr;
    size_t len;
} weft_span_t;

/* A header (or trailer) field: name and value as they appear on the wire,
 * the value without its leading and trailing whitespace. */
typedef struct weft_http_field {
    weft_span_t name;
    weft_span_t value;
} weft_http_field_t;

#ifdef __cplusplus
}
#endif
#endif
