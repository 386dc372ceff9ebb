/* Writing HTTP/1.1 heads: the request or status line, the fields and the
 * empty line, refusing every byte the parser would refuse, so that a value
 * taken from a user can never end a field line early (response splitting)
 * or start a second message (request smuggling). Also the tables of
 * method names and reason phrases. */
#include "http_int.h"

const char *weft_http_method_name(int method) {
    static const char *const names[] = {
        [WEFT_HTTP_GET] = "GET",         [WEFT_HTTP_HEAD] = "HEAD",
        [WEFT_HTTP_POST] = "POST",       [WEFT_HTTP_PUT] = "PUT",
        [WEFT_HTTP_DELETE] = "DELETE",   [WEFT_HTTP_CONNECT] = "CONNECT",
        [WEFT_HTTP_OPTIONS] = "OPTIONS", [WEFT_HTTP_TRACE] = "TRACE",
        [WEFT_HTTP_PATCH] = "PATCH",
    };
    if (method <= WEFT_HTTP_OTHER || (size_t)method >= WEFT__ARRAY_LEN(names))
        return NULL;
    return names[method];
}

const char *weft_http_status_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 511: return "Network Authentication Required";
    }
    return NULL;
}

/* ---- checks ----------------------------------------------------------------- */

static bool all_of(weft_span_t s, unsigned cls) {
    for (size_t i = 0; i < s.len; i++)
        if (!weft__http_is((unsigned char)s.ptr[i], cls))
            return false;
    return true;
}

static bool is_token(weft_span_t s) {
    return s.len > 0 && s.ptr && all_of(s, WEFT__HTTP_TCHAR);
}

/* A field value as the parser takes it: field-vchar, SP, HTAB, obs-text;
 * so never CR, LF, NUL or another control character. */
static bool is_text(weft_span_t s) {
    return (s.ptr || s.len == 0) && all_of(s, WEFT__HTTP_FVAL);
}

static int check_fields(const weft_http_field_t *fields, size_t n) {
    if (!fields && n > 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!is_token(fields[i].name))
            return WEFT_EHTTP_BAD_FIELD_NAME;
        if (!is_text(fields[i].value))
            return WEFT_EHTTP_BAD_FIELD_VALUE;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------------ */

/* Appends to buf[0 .. cap) while there is room, counting what would have
 * been written either way. */
struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n) {
    if (o->len <= o->cap && n <= o->cap - o->len && n > 0)
        memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_span(struct out *o, weft_span_t s) { put(o, s.ptr, s.len); }

static ssize_t put_fields(struct out *o, const weft_http_field_t *fields,
                          size_t n) {
    for (size_t i = 0; i < n; i++) {
        put_span(o, fields[i].name);
        put(o, ": ", 2);
        put_span(o, fields[i].value);
        put(o, "\r\n", 2);
    }
    put(o, "\r\n", 2);
    return (ssize_t)o->len;
}

ssize_t weft_http1_write_request(char *buf, size_t cap, weft_span_t method,
                                 weft_span_t target, int minor,
                                 const weft_http_field_t *fields,
                                 size_t nfields) {
    if ((!buf && cap > 0) || (minor != 0 && minor != 1)) {
        WEFT__MISUSE("weft_http1_write_request", "NULL buffer or bad version");
        return -EINVAL;
    }
    if (!is_token(method))
        return WEFT_EHTTP_BAD_METHOD;
    if (target.len == 0 || !target.ptr || !all_of(target, WEFT__HTTP_VCHAR))
        return WEFT_EHTTP_BAD_TARGET;
    int r = check_fields(fields, nfields);
    if (r < 0)
        return r;
    struct out o = {buf, cap, 0};
    put_span(&o, method);
    put(&o, " ", 1);
    put_span(&o, target);
    put(&o, minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    return put_fields(&o, fields, nfields);
}

ssize_t weft_http1_write_response(char *buf, size_t cap, int minor,
                                  int status, weft_span_t reason,
                                  const weft_http_field_t *fields,
                                  size_t nfields) {
    if ((!buf && cap > 0) || (minor != 0 && minor != 1)) {
        WEFT__MISUSE("weft_http1_write_response", "NULL buffer or bad version");
        return -EINVAL;
    }
    if (status < 100 || status > 999)
        return WEFT_EHTTP_BAD_STATUS;
    if (!reason.ptr) {
        const char *std = weft_http_status_reason(status);
        reason = (weft_span_t){std ? std : "", std ? strlen(std) : 0};
    } else if (!is_text(reason)) {
        return WEFT_EHTTP_BAD_REASON;
    }
    int r = check_fields(fields, nfields);
    if (r < 0)
        return r;
    char line[13];
    memcpy(line, "HTTP/1.x 000 ", sizeof line);
    line[7] = (char)('0' + minor);
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    struct out o = {buf, cap, 0};
    put(&o, line, sizeof line);
    put_span(&o, reason);
    put(&o, "\r\n", 2);
    return put_fields(&o, fields, nfields);
}

size_t weft_http1_write_chunk_size(char out[WEFT_HTTP1_CHUNK_SIZE_MAX],
                                   uint64_t size) {
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hex[size & 15];
        size >>= 4;
    } while (size);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}
