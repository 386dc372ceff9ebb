/* weft/http1.h - HTTP/1.1 on the wire (RFC 9112): the request and response
 * head parser, body framing (Content-Length, chunked, until close) and the
 * head writer. Needs no loop and allocates nothing: usable on its own,
 * fuzzed and benchmarked alone. The server, the client and WebSockets are
 * built on it; target parsing, header lookup, cookies and dates live in
 * weft/httpmsg.h.
 *
 * Reading a message:
 *
 *     weft_http_field_t fields[64];
 *     weft_http1_head_t head = {.fields = fields, .max_fields = 64};
 *     int n = weft_http1_parse_request(&head, buf, len, 0, NULL);
 *     if (n == -EAGAIN)  read more, call again (same head, whole buffer)
 *     if (n < 0)         answer weft_http1_error_status(n) and close
 *     head.method, head.target, fields[0..head.nfields) point into buf;
 *     weft_http1_body_t body;
 *     weft_http1_body_init(&body, &head, NULL, 0);
 *     feed buf + n .. and later reads to weft_http1_body_next() until
 *     weft_http1_body_done(); what it did not consume is the next message.
 *
 * The head parser keeps no state between calls (picohttpparser's shape):
 * call it again on the whole buffer when more bytes arrive. Its results
 * are spans into the buffer, valid as long as the buffer's bytes are.
 *
 * Strictness. Requests are parsed strictly (RFC 9112 and 9110), because a
 * server that reads a request differently from a proxy in front of it can
 * be smuggled a second request. Refused, each with its own error code:
 * Content-Length together with Transfer-Encoding; Content-Length values
 * that differ, or that are not all digits; a Transfer-Encoding whose final
 * coding is not chunked, that names chunked twice, or that has an empty
 * element (an empty line, "chunked,"); Transfer-Encoding in HTTP/1.0;
 * obs-fold (a field line starting with whitespace); whitespace
 * between a field name and its colon; CR not followed by LF, and LF not
 * preceded by CR; NUL, DEL and control characters (other than HTAB) in
 * field values; bytes other than visible ASCII in the request target;
 * methods and field names that are not tokens; chunk sizes that overflow;
 * malformed chunk extensions; a second Host field; versions other than
 * HTTP/1.0 and HTTP/1.1 (505).
 *
 * Responses are parsed with the leniency a client needs against broken
 * servers, where RFC 9112 allows it and no one downstream can be misled
 * (docs/design.md, "HTTP/1.1 on the wire", says why): a bare LF ends a
 * line (in the head and in chunked framing), obs-fold is accepted and
 * replaced by spaces in the buffer (RFC 9112 section 5.2; hence the
 * non-const buffer of weft_http1_parse_response), whitespace before a
 * field's colon is dropped, the reason phrase and the space before it may
 * be missing, and Transfer-Encoding with Content-Length is framed by the
 * Transfer-Encoding (section 6.3) and ends the connection. Everything else
 * is as strict as for requests.
 *
 * Threads: every function here works on the caller's memory only and may
 * be called from any thread; weft_http1_body_t is not shared.
 */
#ifndef WEFT_HTTP1_H
#define WEFT_HTTP1_H

#include <sys/types.h>

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

/* ---- methods and status codes -------------------------------------------- */

/* The methods the parser recognises (by exact, case-sensitive name, RFC
 * 9110 section 9). Any other token is a valid method too, reported as
 * WEFT_HTTP_OTHER with its name in weft_http1_head_t.method. */
typedef enum weft_http_method {
    WEFT_HTTP_OTHER = 0,
    WEFT_HTTP_GET,
    WEFT_HTTP_HEAD,
    WEFT_HTTP_POST,
    WEFT_HTTP_PUT,
    WEFT_HTTP_DELETE,
    WEFT_HTTP_CONNECT,
    WEFT_HTTP_OPTIONS,
    WEFT_HTTP_TRACE,
    WEFT_HTTP_PATCH,
} weft_http_method_t;

/* The name of a method ("GET"), or NULL for WEFT_HTTP_OTHER and values
 * outside the enum. Static storage. */
WEFT_EXPORT const char *weft_http_method_name(int method);

/* The standard reason phrase of a status code ("Not Found" for 404; RFC
 * 9110 section 15 and the IANA registry), or NULL for codes without one.
 * Static storage. */
WEFT_EXPORT const char *weft_http_status_reason(int status);

/* ---- limits -------------------------------------------------------------- */

/* What the parser accepts at most. A member left 0 takes its default (so
 * `{0}`, or a NULL pointer where a limits argument is taken, means all
 * defaults); values above 1 GiB are taken as 1 GiB. */
typedef struct weft_http1_limits {
    /* Bytes of the request line or status line, CRLF excluded, empty lines
     * before it included. Default 8192. Exceeded: WEFT_EHTTP_LINE_TOO_LONG
     * (a server answers 414). */
    uint32_t max_start_line;
    /* Bytes of the whole head, from its first byte to the end of the empty
     * line that ends it. Default 65536. Exceeded: WEFT_EHTTP_HEAD_TOO_LARGE
     * (431). */
    uint32_t max_head;
    /* Header fields in a head (and trailer fields in a trailer section).
     * Default 100; the caller's array (max_fields) bounds it too.
     * Exceeded: WEFT_EHTTP_TOO_MANY_FIELDS (431). */
    uint32_t max_fields;
    /* Bytes of one chunk line after the chunk size (its extensions).
     * Default 4096. Exceeded: WEFT_EHTTP_CHUNK_EXT_TOO_LONG. */
    uint32_t max_chunk_ext;
    /* Bytes of a chunked body's trailer section, final CRLF included.
     * Default 16384. Exceeded: WEFT_EHTTP_TRAILER_TOO_LARGE. */
    uint32_t max_trailer;
} weft_http1_limits_t;

#define WEFT_HTTP1_DEFAULT_MAX_START_LINE 8192
#define WEFT_HTTP1_DEFAULT_MAX_HEAD 65536
#define WEFT_HTTP1_DEFAULT_MAX_FIELDS 100
#define WEFT_HTTP1_DEFAULT_MAX_CHUNK_EXT 4096
#define WEFT_HTTP1_DEFAULT_MAX_TRAILER 16384

/* ---- parsing a head ------------------------------------------------------ */

/* How the body of a message is delimited (RFC 9112 section 6.3). */
typedef enum weft_http1_framing {
    /* No body: a request without Content-Length and Transfer-Encoding, a
     * CONNECT request, a response to HEAD, a 1xx, 204 or 304 response, a
     * 2xx response to CONNECT. */
    WEFT_HTTP1_NO_BODY = 0,
    /* content_length bytes (possibly 0). */
    WEFT_HTTP1_LENGTH,
    /* The chunked transfer coding. */
    WEFT_HTTP1_CHUNKED,
    /* Responses only: everything until the server closes the connection
     * (no Content-Length, or a Transfer-Encoding not ending in chunked, or
     * any Transfer-Encoding in an HTTP/1.0 response). */
    WEFT_HTTP1_UNTIL_CLOSE,
} weft_http1_framing_t;

/* weft_http1_head_t.flags: what the head says about the connection. */
enum {
    /* The connection may carry another message after this one (RFC 9112
     * section 9.3): HTTP/1.1 without "Connection: close", or HTTP/1.0 with
     * "Connection: keep-alive"; never for a response read until close, nor
     * for one with both Transfer-Encoding and Content-Length. */
    WEFT_HTTP1_KEEP_ALIVE = 1u << 0,
    /* The connection stops carrying HTTP/1.1. In a request: "Connection:
     * upgrade" with an Upgrade field, or the CONNECT method (the switch
     * happens only if the server agrees, after this request's body). In a
     * response: 101 Switching Protocols, or a 2xx response to CONNECT;
     * the bytes after the head belong to the new protocol or tunnel. */
    WEFT_HTTP1_UPGRADE = 1u << 1,
    /* A request with "Expect: 100-continue" (HTTP/1.1 only, RFC 9110
     * section 10.1.1). */
    WEFT_HTTP1_EXPECT_CONTINUE = 1u << 2,
    /* A request with an Expect field other than 100-continue (a server
     * answers 417). */
    WEFT_HTTP1_EXPECT_OTHER = 1u << 3,
    /* A request with a Host field (exactly one: a second is an error). A
     * server answers 400 to HTTP/1.1 requests without it (RFC 9112
     * section 3.2); the parser leaves that to the server. */
    WEFT_HTTP1_HOST = 1u << 4,
    /* A Content-Length field was present and valid; its value is in
     * content_length, even when the framing is not WEFT_HTTP1_LENGTH (a
     * response to HEAD, say). */
    WEFT_HTTP1_CONTENT_LENGTH = 1u << 5,
    /* A Transfer-Encoding field was present. */
    WEFT_HTTP1_TRANSFER_ENCODING = 1u << 6,
    /* Responses: obs-fold was found, and replaced by spaces in the buffer,
     * by this call (a later call on the same buffer finds the spaces). */
    WEFT_HTTP1_FOLDED = 1u << 7,
};

/* One parsed head. The caller sets fields and max_fields (the array the
 * field spans go to); the parser sets everything else on each call, and on
 * success all of it. On an error or -EAGAIN the other members hold
 * whatever was parsed so far and mean nothing. */
typedef struct weft_http1_head {
    /* In: room for max_fields fields, owned by the caller. */
    weft_http_field_t *fields;
    size_t max_fields;

    /* Out: fields[0 .. nfields) are the header fields, in order. */
    size_t nfields;
    /* Requests: the method and request target as sent. Empty in
     * responses. */
    weft_span_t method;
    weft_span_t target;
    /* Responses: the reason phrase (possibly empty). Empty in requests. */
    weft_span_t reason;
    /* Requests: the method (weft_http_method_t). Responses: the request's
     * method, as passed to weft_http1_parse_response. */
    int method_id;
    /* Responses: the status code, 100..999. 0 in requests. */
    int status;
    /* HTTP/1.minor: 0 or 1. */
    int minor;
    /* How the body is delimited (weft_http1_framing_t). */
    int framing;
    /* WEFT_HTTP1_KEEP_ALIVE | WEFT_HTTP1_UPGRADE | ... */
    unsigned flags;
    /* The Content-Length value (with WEFT_HTTP1_CONTENT_LENGTH), else 0. */
    uint64_t content_length;
} weft_http1_head_t;

/* Parse a request head at the start of buf[0 .. len) into head.
 *
 * Returns the head's length in bytes (the body or next message starts at
 * buf + that), -EAGAIN when buf holds no complete head yet and no error was
 * found in the bytes so far, or a WEFT_EHTTP_* code (weft_http1_error_status
 * gives the status to answer). Empty lines (CRLF) before the request line
 * are skipped and counted in the length, as RFC 9112 section 2.2 advises.
 *
 * prev_len: 0, or the len of this buffer at the previous call for the same
 * head, when that call returned -EAGAIN. The call then first looks for the
 * head's end in the new bytes only (picohttpparser's last_len) and parses
 * nothing until the head is complete or a limit is reached, so a head that
 * arrives in many small pieces costs time linear in its size; errors in
 * the unfinished head are then found once it is complete. With 0, the
 * whole buffer is parsed again and an error is reported as soon as its
 * bytes are there.
 *
 * limits may be NULL (defaults). head->fields may be NULL when
 * head->max_fields is 0 (any field is then too many). Only buf's bytes
 * are read; nothing is allocated, nothing kept. Misuse (head or buf NULL
 * with len > 0): -EINVAL. */
WEFT_EXPORT int weft_http1_parse_request(weft_http1_head_t *head,
                                         const char *buf, size_t len,
                                         size_t prev_len,
                                         const weft_http1_limits_t *limits);

/* Parse a response head, as weft_http1_parse_request does a request.
 * req_method is the method of the request this answers
 * (weft_http_method_t): a response to HEAD has no body, a 2xx response to
 * CONNECT opens a tunnel. A 1xx response other than 101 is a head of its
 * own (framing WEFT_HTTP1_NO_BODY), the final response follows it.
 *
 * buf is not const: obs-fold in a field value is overwritten with spaces
 * in place (and WEFT_HTTP1_FOLDED set), so that the value is one span.
 * Nothing else is written; calling again on the same bytes gives the same
 * result. */
WEFT_EXPORT int weft_http1_parse_response(weft_http1_head_t *head, char *buf,
                                          size_t len, size_t prev_len,
                                          int req_method,
                                          const weft_http1_limits_t *limits);

/* The status code a server answers a request parse error with: 414 for
 * WEFT_EHTTP_LINE_TOO_LONG, 431 for WEFT_EHTTP_HEAD_TOO_LARGE and
 * WEFT_EHTTP_TOO_MANY_FIELDS, 501 for WEFT_EHTTP_TE_UNSUPPORTED, 505 for
 * WEFT_EHTTP_UNSUPPORTED_VERSION, 400 for every other WEFT_EHTTP_* code; 0
 * for values that are not WEFT_EHTTP_* codes (-EAGAIN, say). */
WEFT_EXPORT int weft_http1_error_status(int err);

/* ---- reading a body ------------------------------------------------------ */

/* The body decoder: an incremental state machine for one message's body,
 * set up from its head. It keeps the little state chunked framing needs
 * between calls (where in a chunk line or chunk it is, the bytes left),
 * so input may be split anywhere. Its members are private; it is public
 * so that it can live inside the caller's structures. */
typedef struct weft_http1_body {
    uint64_t left;
    uint32_t count, max_ext, max_trailer, max_fields;
    uint8_t framing, state, flags, spare;
} weft_http1_body_t;

/* weft_http1_body_init flags. */
enum {
    /* Chunked bodies: stop before a non-empty trailer section instead of
     * checking and skipping it, so that its fields can be read with
     * weft_http1_body_trailers(). */
    WEFT_HTTP1_BODY_TRAILERS = 1u << 0,
};

/* Set up b for the body of the message whose head was just parsed (its
 * framing; a response's chunked framing is read with the response
 * leniency). limits may be NULL (defaults). flags: 0 or
 * WEFT_HTTP1_BODY_TRAILERS. Cannot fail; a NULL b or head is ignored with
 * a warning. */
WEFT_EXPORT void weft_http1_body_init(weft_http1_body_t *b,
                                      const weft_http1_head_t *head,
                                      const weft_http1_limits_t *limits,
                                      unsigned flags);

/* Decode the body bytes in in[0 .. len) without copying: returns how many
 * input bytes were consumed (0 .. len) and sets *data to the body data
 * found among them (a span inside in, possibly empty). It stops after one
 * run of data, at the body's end, or when the input is used up: call it
 * again on the rest. Unless the body is done or len is 0, it consumes at
 * least one byte. Once weft_http1_body_done(b), it consumes nothing more:
 * the bytes after the body belong to the next message.
 *
 * Returns a WEFT_EHTTP_* code on malformed chunked framing (the decoder
 * then stays failed and returns that code again). */
WEFT_EXPORT ssize_t weft_http1_body_next(weft_http1_body_t *b, const char *in,
                                         size_t len, weft_span_t *data);

/* Decode in place: the body data among buf[0 .. len) is moved to the
 * front of buf, *data_len set to its length. Returns the bytes consumed
 * (len, unless the body ended before: the bytes buf[consumed .. len) are
 * left untouched and belong to the next message), or a WEFT_EHTTP_* code
 * (*data_len is then the data found before the error, at the front of
 * buf; the rest of buf is unspecified). */
WEFT_EXPORT ssize_t weft_http1_body_decode(weft_http1_body_t *b, char *buf,
                                           size_t len, size_t *data_len);

/* Decode into the caller's buffer: body data among in[0 .. len) is copied
 * to out[0 .. cap), *data_len set to the bytes copied. Returns the input
 * bytes consumed: fewer than len when out is full or the body ended. A
 * WEFT_EHTTP_* code on malformed framing (*data_len is then the data
 * copied before the error). */
WEFT_EXPORT ssize_t weft_http1_body_copy(weft_http1_body_t *b, const char *in,
                                         size_t len, char *out, size_t cap,
                                         size_t *data_len);

/* Whether the body is complete (the last chunk and trailer section, or
 * content_length bytes, were consumed; at once for WEFT_HTTP1_NO_BODY). */
WEFT_EXPORT bool weft_http1_body_done(const weft_http1_body_t *b);

/* Whether a decoder set up with WEFT_HTTP1_BODY_TRAILERS stopped before a
 * trailer section (the next input bytes are trailer fields). */
WEFT_EXPORT bool weft_http1_body_at_trailers(const weft_http1_body_t *b);

/* The trailer section at the start of buf[0 .. len), for a decoder
 * stopped at it (weft_http1_body_at_trailers): parses the fields into
 * fields[0 .. *nfields) (in: the array's size; out: the count) like a
 * head's, and returns the section's length in bytes, the body then done;
 * -EAGAIN when the section is not complete yet (call again with more
 * bytes: nothing is kept), or a WEFT_EHTTP_* code. -EINVAL if b is not at
 * its trailers. */
WEFT_EXPORT int weft_http1_body_trailers(weft_http1_body_t *b, const char *buf,
                                         size_t len, weft_http_field_t *fields,
                                         size_t *nfields);

/* The connection was closed (end of input): returns 0 if that completes
 * the body (a WEFT_HTTP1_UNTIL_CLOSE body, which is then done, or a body
 * already done), WEFT_EHTTP_TRUNCATED if the body was cut short. */
WEFT_EXPORT int weft_http1_body_eof(weft_http1_body_t *b);

/* ---- writing ------------------------------------------------------------- */

/* Write a request head, "METHOD target HTTP/1.minor", the fields and the
 * empty line, into buf[0 .. cap). Returns the head's length; the head was
 * written only if that is <= cap (size a buffer and call again, as with
 * snprintf). Nothing is NUL-terminated.
 *
 * Refuses, writing nothing useful, what a parser would refuse (response
 * splitting and request smuggling start with a CR or LF in a value):
 * WEFT_EHTTP_BAD_METHOD (not a token), WEFT_EHTTP_BAD_TARGET (empty, or
 * anything but visible ASCII), WEFT_EHTTP_BAD_FIELD_NAME (not a token),
 * WEFT_EHTTP_BAD_FIELD_VALUE (CR, LF, NUL or another control character
 * but HTAB), -EINVAL for a minor version other than 0 or 1, or a field
 * array that is NULL with nfields > 0. The writer adds no fields of its
 * own: framing (Content-Length, Transfer-Encoding) is the caller's. */
WEFT_EXPORT ssize_t weft_http1_write_request(char *buf, size_t cap,
                                             weft_span_t method,
                                             weft_span_t target, int minor,
                                             const weft_http_field_t *fields,
                                             size_t nfields);

/* Write a response head, "HTTP/1.minor status reason", the fields and the
 * empty line, as weft_http1_write_request does. reason.ptr NULL: the
 * standard phrase (weft_http_status_reason), or none for unknown codes.
 * Refuses WEFT_EHTTP_BAD_STATUS (not 100..999), WEFT_EHTTP_BAD_REASON (a
 * control character but HTAB in the reason phrase), and the field errors
 * above. */
WEFT_EXPORT ssize_t weft_http1_write_response(char *buf, size_t cap, int minor,
                                              int status, weft_span_t reason,
                                              const weft_http_field_t *fields,
                                              size_t nfields);

/* The longest chunk-size line weft_http1_write_chunk_size writes. */
#define WEFT_HTTP1_CHUNK_SIZE_MAX 18

/* Write the line that starts a chunk of size bytes ("1a2b\r\n", size in
 * lowercase hex) into out; returns its length. A chunked body is a series
 * of such lines each followed by its data and "\r\n", then "0\r\n\r\n"
 * (the last chunk, with an empty trailer section). */
WEFT_EXPORT size_t
weft_http1_write_chunk_size(char out[WEFT_HTTP1_CHUNK_SIZE_MAX], uint64_t size);

#ifdef __cplusplus
}
#endif
#endif
