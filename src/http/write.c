/* Writing HTTP/1.1 heads: the request or status line, the fields and the
 * empty line, refusing every byte the parser would refuse, so that a value
 * taken from a user can never end a field line early (response splitting)
 * or start a second message (request smuggling). Also the tables of
 * method names and reason phrases. */
#include "http_int.h"

#define M(id, s) [id] = {s, sizeof(s) - 1}
const struct weft__http_method weft__http_methods[WEFT_HTTP_PATCH + 1] = {
    M(WEFT_HTTP_GET, "GET"),         M(WEFT_HTTP_HEAD, "HEAD"),
    M(WEFT_HTTP_POST, "POST"),       M(WEFT_HTTP_PUT, "PUT"),
    M(WEFT_HTTP_DELETE, "DELETE"),   M(WEFT_HTTP_CONNECT, "CONNECT"),
    M(WEFT_HTTP_OPTIONS, "OPTIONS"), M(WEFT_HTTP_TRACE, "TRACE"),
    M(WEFT_HTTP_PATCH, "PATCH"),
};
#undef M

const char *weft_http_method_name(int method) {
    if (method <= WEFT_HTTP_OTHER || method > WEFT_HTTP_PATCH)
        return NULL;
    return weft__http_methods[method].name;
}

const char *weft_http_status_reason(int status) {
    static const struct {
        short code;
        const char *text;
    } reasons[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {102, "Processing"},
        {103, "Early Hints"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {207, "Multi-Status"},
        {208, "Already Reported"},
        {226, "IM Used"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {423, "Locked"},
        {424, "Failed Dependency"},
        {425, "Too Early"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {451, "Unavailable For Legal Reasons"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {506, "Variant Also Negotiates"},
        {507, "Insufficient Storage"},
        {508, "Loop Detected"},
        {511, "Network Authentication Required"},
    };
    for (size_t i = 0; i < WEFT__ARRAY_LEN(reasons); i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return NULL;
}

/* ---- checks -------------------------------------------------------------- */

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

/* ---- output -------------------------------------------------------------- */

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

static bool misuse(const char *buf, size_t cap, int minor, const char *fn) {
    if ((buf || cap == 0) && (minor == 0 || minor == 1))
        return false;
    weft__log(WEFT_LOG_WARN, "%s: NULL buffer or bad version", fn);
    return true;
}

ssize_t weft_http1_write_request(char *buf, size_t cap, weft_span_t method,
                                 weft_span_t target, int minor,
                                 const weft_http_field_t *fields,
                                 size_t nfields) {
    if (misuse(buf, cap, minor, "weft_http1_write_request"))
        return -EINVAL;
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

ssize_t weft_http1_write_response(char *buf, size_t cap, int minor, int status,
                                  weft_span_t reason,
                                  const weft_http_field_t *fields,
                                  size_t nfields) {
    if (misuse(buf, cap, minor, "weft_http1_write_response"))
        return -EINVAL;
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
