/* weft/http1.h: the head parser's rules (one test per rule, named after
 * it), the response leniency, framing and connection flags, limits, the
 * body decoder (fed whole, byte by byte and in random pieces, through each
 * of its three readers), the head writer, and over-reads.
 *
 * Every input is parsed from a copy that ends exactly where a PROT_NONE
 * page begins (picohttpparser's trick), so a parser that reads one byte
 * too far crashes the test; and through every scanning path the CPU has
 * (swar, sse2, avx2), which must all give the same result. */
#include <sys/mman.h>
#include <unistd.h>

#include "../src/http/http_int.h"
#include "http1_drive.h"
#include "support.h"

/* ---- guarded input ------------------------------------------------------- */

#define GUARD_ROOM (1u << 20)
static char *guard_map;
static size_t guard_page;

/* Copy s[0 .. n) so that it ends where an unreadable page starts. */
static char *guarded(const char *s, size_t n) {
    if (!guard_map) {
        guard_page = (size_t)sysconf(_SC_PAGESIZE);
        guard_map = mmap(NULL, GUARD_ROOM + guard_page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert(guard_map != MAP_FAILED);
        ck_assert_int_eq(
            mprotect(guard_map + GUARD_ROOM, guard_page, PROT_NONE), 0);
    }
    ck_assert_uint_le(n, GUARD_ROOM);
    char *p = guard_map + GUARD_ROOM - n;
    if (n)
        memcpy(p, s, n);
    return p;
}

/* ---- parsing through every path ------------------------------------------ */

static weft_http_field_t F[128];
static weft_http1_head_t H;
static char *IN; /* where the last input was parsed from */

static int levels(void) {
    int best = weft__http_simd_set(WEFT__HTTP_SIMD_N - 1);
    weft__http_simd_set(-1);
    return best + 1;
}

/* Parse s as a request (or a response to req_method, if response) with
 * each scanning path; they must agree. Leaves H and IN as the last path
 * left them. */
static int parse_all(const char *s, size_t n, bool response, int req_method,
                     const weft_http1_limits_t *lim) {
    int first = 0;
    weft_http1_head_t h0 = {0};
    weft_http_field_t f0[128];
    for (int lvl = 0; lvl < levels(); lvl++) {
        weft__http_simd_set(lvl);
        IN = guarded(s, n);
        memset(&H, 0, sizeof H);
        H.fields = F;
        H.max_fields = 128;
        int r = response
                    ? weft_http1_parse_response(&H, IN, n, 0, req_method, lim)
                    : weft_http1_parse_request(&H, IN, n, 0, lim);
        if (lvl == 0) {
            first = r;
            h0 = H;
            memcpy(f0, F, sizeof F);
            continue;
        }
        ck_assert_msg(r == first, "path %s returned %s, swar %s",
                      weft__http_simd_name(lvl), weft_err_name(r),
                      weft_err_name(first));
        if (r >= 0) {
            ck_assert_uint_eq(H.nfields, h0.nfields);
            ck_assert(memcmp(F, f0, H.nfields * sizeof F[0]) == 0);
            ck_assert_int_eq(H.framing, h0.framing);
            ck_assert_uint_eq(H.flags, h0.flags);
            ck_assert(H.method.ptr == h0.method.ptr &&
                      H.target.len == h0.target.len &&
                      H.reason.len == h0.reason.len);
        }
    }
    weft__http_simd_set(-1);
    return first;
}

#define REQ(s) parse_all((s), sizeof(s) - 1, false, 0, NULL)
#define RESP(s) parse_all((s), sizeof(s) - 1, true, WEFT_HTTP_GET, NULL)
#define RESP_TO(m, s) parse_all((s), sizeof(s) - 1, true, (m), NULL)

/* The request must be rejected with err, wherever it is cut after the
 * error (the error is found as soon as its bytes are there). */
#define REJECT(s, err) ck_assert_err(REQ(s), (err))
#define REJECT_RESP(s, err) ck_assert_err(RESP(s), (err))
#define ACCEPT(s) ck_assert_err(REQ(s), (int)sizeof(s) - 1)
#define ACCEPT_RESP(s) ck_assert_err(RESP(s), (int)sizeof(s) - 1)

static bool span_is(weft_span_t s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

#define ck_assert_span(s, want)                                                \
    ck_assert_msg(span_is((s), (want)), "%s is '%.*s', expected '%s'", #s,     \
                  (int)(s).len, (s).ptr ? (s).ptr : "", (want))

/* ---- the request line ---------------------------------------------------- */

START_TEST(a_simple_request_parses_into_spans) {
    ACCEPT("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
           "Accept: */*\r\n\r\n");
    ck_assert_span(H.method, "GET");
    ck_assert_int_eq(H.method_id, WEFT_HTTP_GET);
    ck_assert_span(H.target, "/index.html?q=1");
    ck_assert_int_eq(H.minor, 1);
    ck_assert_uint_eq(H.nfields, 2);
    ck_assert_span(F[0].name, "Host");
    ck_assert_span(F[0].value, "example.com");
    ck_assert_span(F[1].name, "Accept");
    ck_assert_span(F[1].value, "*/*");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert_uint_eq(H.flags, WEFT_HTTP1_KEEP_ALIVE | WEFT_HTTP1_HOST);
    /* Spans point into the caller's buffer. */
    ck_assert(H.method.ptr == IN);
}
END_TEST

START_TEST(methods_are_recognised_by_exact_name) {
    static const struct {
        const char *req;
        int id;
    } t[] = {
        {"GET / HTTP/1.1\r\n\r\n", WEFT_HTTP_GET},
        {"HEAD / HTTP/1.1\r\n\r\n", WEFT_HTTP_HEAD},
        {"POST / HTTP/1.1\r\n\r\n", WEFT_HTTP_POST},
        {"PUT / HTTP/1.1\r\n\r\n", WEFT_HTTP_PUT},
        {"DELETE / HTTP/1.1\r\n\r\n", WEFT_HTTP_DELETE},
        {"CONNECT a:1 HTTP/1.1\r\n\r\n", WEFT_HTTP_CONNECT},
        {"OPTIONS * HTTP/1.1\r\n\r\n", WEFT_HTTP_OPTIONS},
        {"TRACE / HTTP/1.1\r\n\r\n", WEFT_HTTP_TRACE},
        {"PATCH / HTTP/1.1\r\n\r\n", WEFT_HTTP_PATCH},
        {"get / HTTP/1.1\r\n\r\n", WEFT_HTTP_OTHER},
        {"PROPFIND / HTTP/1.1\r\n\r\n", WEFT_HTTP_OTHER},
        {"M-SEARCH * HTTP/1.1\r\n\r\n", WEFT_HTTP_OTHER},
        {"X!#$%&'*+-.^_`|~9 / HTTP/1.1\r\n\r\n", WEFT_HTTP_OTHER},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t n = strlen(t[i].req);
        ck_assert_int_eq(parse_all(t[i].req, n, false, 0, NULL), (int)n);
        ck_assert_int_eq(H.method_id, t[i].id);
        if (t[i].id)
            ck_assert_span(H.method, weft_http_method_name(t[i].id));
    }
    ck_assert_ptr_null(weft_http_method_name(WEFT_HTTP_OTHER));
    ck_assert_ptr_null(weft_http_method_name(99));
}
END_TEST

START_TEST(invalid_token_characters_in_methods_are_rejected) {
    for (int c = 0; c < 256; c++) {
        if (weft__http_is((unsigned char)c, WEFT__HTTP_TCHAR) || c == ' ')
            continue;
        char req[64];
        int n = snprintf(req, sizeof req, "GE%cT / HTTP/1.1\r\n\r\n", 'x');
        req[2] = (char)c;
        int r = parse_all(req, (size_t)n, false, 0, NULL);
        ck_assert_msg(
            r == WEFT_EHTTP_BAD_METHOD ||
                ((c == '\r' || c == '\n') && r == WEFT_EHTTP_BAD_START_LINE),
            "byte %#x in a method: %s", c, weft_err_name(r));
    }
}
END_TEST

START_TEST(the_request_line_is_separated_by_single_spaces) {
    REJECT("GET  / HTTP/1.1\r\n\r\n", WEFT_EHTTP_BAD_START_LINE);
    REJECT("GET /  HTTP/1.1\r\n\r\n", WEFT_EHTTP_BAD_START_LINE);
    REJECT(" GET / HTTP/1.1\r\n\r\n", WEFT_EHTTP_BAD_START_LINE);
    REJECT("GET\t/ HTTP/1.1\r\n\r\n", WEFT_EHTTP_BAD_METHOD);
    REJECT("GET /\tHTTP/1.1\r\n\r\n", WEFT_EHTTP_BAD_TARGET);
    REJECT("GET / HTTP/1.1 \r\n\r\n", WEFT_EHTTP_BAD_START_LINE);
    REJECT("GET\r\n\r\n", WEFT_EHTTP_BAD_START_LINE);
    REJECT("GET /\r\n\r\n", WEFT_EHTTP_BAD_START_LINE); /* HTTP/0.9 */
}
END_TEST

START_TEST(target_bytes_outside_visible_ascii_are_rejected) {
    for (int c = 0; c < 256; c++) {
        if ((c > 0x20 && c < 0x7f) || c == ' ')
            continue;
        char req[64];
        int n = snprintf(req, sizeof req, "GET /axb HTTP/1.1\r\n\r\n");
        req[6] = (char)c;
        int r = parse_all(req, (size_t)n, false, 0, NULL);
        ck_assert_msg(
            r == WEFT_EHTTP_BAD_TARGET ||
                ((c == '\r' || c == '\n') && r == WEFT_EHTTP_BAD_START_LINE),
            "byte %#x in a target: %s", c, weft_err_name(r));
    }
    /* Every visible character is taken: the form is httpmsg's business. */
    ACCEPT("GET /\"<>\\^`{|}%zz HTTP/1.1\r\n\r\n");
    ck_assert_span(H.target, "/\"<>\\^`{|}%zz");
}
END_TEST

START_TEST(versions_other_than_1_0_and_1_1_are_answered_505) {
    REJECT("GET / HTTP/1.2\r\n\r\n", WEFT_EHTTP_UNSUPPORTED_VERSION);
    REJECT("GET / HTTP/2.0\r\n\r\n", WEFT_EHTTP_UNSUPPORTED_VERSION);
    REJECT("GET / HTTP/0.9\r\n\r\n", WEFT_EHTTP_UNSUPPORTED_VERSION);
    REJECT("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", WEFT_EHTTP_UNSUPPORTED_VERSION);
    ck_assert_int_eq(weft_http1_error_status(WEFT_EHTTP_UNSUPPORTED_VERSION),
                     505);
    ACCEPT("GET / HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(H.minor, 0);
}
END_TEST

START_TEST(malformed_versions_are_rejected) {
    REJECT("GET / HTTP/1.10\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / HTTP/11.1\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / http/1.1\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / HTTP/1\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / HTTP/1.x\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / HTTPS/1.1\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / RTSP/1.0\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    /* Found before the line ends. */
    REJECT("GET / HTX", WEFT_EHTTP_BAD_VERSION);
    REJECT("GET / HTTP/5.6", WEFT_EHTTP_UNSUPPORTED_VERSION);
}
END_TEST

START_TEST(empty_lines_before_the_request_line_are_skipped) {
    ACCEPT("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    ck_assert_span(H.method, "GET");
    REJECT("\nGET / HTTP/1.1\r\n\r\n", WEFT_EHTTP_BARE_LF);
    REJECT("\rGET / HTTP/1.1\r\n\r\n", WEFT_EHTTP_BARE_CR);
    ck_assert_err(REQ("\r\n\r\n"), -EAGAIN);
}
END_TEST

/* ---- field lines --------------------------------------------------------- */

START_TEST(invalid_token_characters_in_field_names_are_rejected) {
    for (int c = 0; c < 256; c++) {
        if (weft__http_is((unsigned char)c, WEFT__HTTP_TCHAR) || c == ':')
            continue;
        char req[64];
        int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nAxB: 1\r\n\r\n");
        req[17] = (char)c;
        int r = parse_all(req, (size_t)n, false, 0, NULL);
        int want = c == ' ' || c == '\t' ? WEFT_EHTTP_SPACE_BEFORE_COLON
                   : c == '\r'           ? WEFT_EHTTP_BAD_FIELD_NAME
                                         : WEFT_EHTTP_BAD_FIELD_NAME;
        ck_assert_msg(r == want, "byte %#x in a name: %s", c, weft_err_name(r));
    }
    REJECT("GET / HTTP/1.1\r\n: empty\r\n\r\n", WEFT_EHTTP_BAD_FIELD_NAME);
    REJECT("GET / HTTP/1.1\r\nNoColon\r\n\r\n", WEFT_EHTTP_BAD_FIELD_NAME);
    ACCEPT("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: ok\r\n\r\n");
}
END_TEST

START_TEST(whitespace_between_a_field_name_and_its_colon_is_rejected) {
    REJECT("GET / HTTP/1.1\r\nHost : a\r\n\r\n", WEFT_EHTTP_SPACE_BEFORE_COLON);
    REJECT("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
           WEFT_EHTTP_SPACE_BEFORE_COLON);
    REJECT("POST / HTTP/1.1\r\nContent-Length : 4\r\n\r\nabcd",
           WEFT_EHTTP_SPACE_BEFORE_COLON);
}
END_TEST

START_TEST(obs_fold_is_rejected) {
    REJECT("GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n", WEFT_EHTTP_OBS_FOLD);
    REJECT("GET / HTTP/1.1\r\nA: 1\r\n\t2\r\n\r\n", WEFT_EHTTP_OBS_FOLD);
    REJECT("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n abc\r\n\r\n",
           WEFT_EHTTP_OBS_FOLD);
}
END_TEST

START_TEST(whitespace_before_the_first_field_line_is_rejected) {
    REJECT("GET / HTTP/1.1\r\n Host: a\r\n\r\n",
           WEFT_EHTTP_SPACE_AFTER_START_LINE);
    REJECT_RESP("HTTP/1.1 200 OK\r\n\tA: b\r\n\r\n",
                WEFT_EHTTP_SPACE_AFTER_START_LINE);
}
END_TEST

START_TEST(bare_cr_is_rejected) {
    REJECT("GET / HTTP/1.1\rHost: a\r\n\r\n", WEFT_EHTTP_BARE_CR);
    REJECT("GET / HTTP/1.1\r\nA: 1\rB: 2\r\n\r\n", WEFT_EHTTP_BARE_CR);
    REJECT("GET / HTTP/1.1\r\nA: 1\r\n\rX", WEFT_EHTTP_BARE_CR);
    REJECT("GET / HTTP/1.1\r\nA: 1\r\n\r\r\n", WEFT_EHTTP_BARE_CR);
    REJECT("GET / HTTP/1.1\r\nConnection: keep\ralive\r\n\r\n",
           WEFT_EHTTP_BARE_CR);
    REJECT_RESP("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
                WEFT_EHTTP_BARE_CR);
    REJECT_RESP("HTTP/1.1 200 OK\r\nA: 1\rB: 2\r\n\r\n", WEFT_EHTTP_BARE_CR);
}
END_TEST

START_TEST(bare_lf_is_rejected_in_requests) {
    REJECT("GET / HTTP/1.1\nHost: a\r\n\r\n", WEFT_EHTTP_BARE_LF);
    REJECT("GET / HTTP/1.1\r\nHost: a\n\r\n", WEFT_EHTTP_BARE_LF);
    REJECT("GET / HTTP/1.1\r\nHost: a\r\n\n", WEFT_EHTTP_BARE_LF);
    /* The smuggling shape: a proxy that does not end lines at LF would see
     * one field where a lenient server sees two. */
    REJECT("POST / HTTP/1.1\r\nHost: a\r\nx:x\nTransfer-Encoding: chunked\r\n"
           "\r\n1\r\nA\r\n0\r\n\r\n",
           WEFT_EHTTP_BARE_LF);
}
END_TEST

START_TEST(nul_and_controls_in_field_values_are_rejected) {
    for (int c = 0; c < 256; c++) {
        char req[64];
        int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nA: xyz\r\n\r\n");
        req[20] = (char)c;
        int r = parse_all(req, (size_t)n, false, 0, NULL);
        bool ok = c == '\t' || c >= 0x20;
        if (c == 0x7f)
            ok = false;
        if (ok) {
            ck_assert_msg(r == n, "byte %#x in a value: %s", c,
                          weft_err_name(r));
            ck_assert_uint_eq(F[0].value.len, 3);
        } else {
            int want = c == '\r'   ? WEFT_EHTTP_BARE_CR
                       : c == '\n' ? WEFT_EHTTP_BARE_LF
                                   : WEFT_EHTTP_BAD_FIELD_VALUE;
            ck_assert_msg(r == want, "byte %#x in a value: %s", c,
                          weft_err_name(r));
        }
    }
}
END_TEST

START_TEST(values_lose_surrounding_whitespace_and_keep_inner) {
    ACCEPT("GET / HTTP/1.1\r\nA: \t x \t y \t \r\nB:\r\nC:z\r\n\r\n");
    ck_assert_span(F[0].value, "x \t y");
    ck_assert_span(F[1].value, "");
    ck_assert_span(F[2].value, "z");
    ACCEPT("GET / HTTP/1.1\r\nTest: D\xc3\xbcsseldorf \xff\r\n\r\n");
    ck_assert_span(F[0].value, "D\xc3\xbcsseldorf \xff");
}
END_TEST

/* Each value in a field named name must be rejected with err. */
static void reject_values(const char *name, const char *const *values, size_t n,
                          int err) {
    for (size_t i = 0; i < n; i++) {
        char req[160];
        int len = snprintf(req, sizeof req, "POST / HTTP/1.1\r\n%s: %s\r\n\r\n",
                           name, values[i]);
        int r = parse_all(req, (size_t)len, false, 0, NULL);
        ck_assert_msg(r == err, "%s: '%s': %s, expected %s", name, values[i],
                      weft_err_name(r), weft_err_name(err));
    }
}

#define REJECT_VALUES(name, values, err)                                       \
    reject_values((name), (values), sizeof(values) / sizeof((values)[0]), (err))

/* ---- framing ------------------------------------------------------------- */

START_TEST(content_length_with_transfer_encoding_is_rejected) {
    REJECT("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           WEFT_EHTTP_LENGTH_WITH_TE);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: "
           "5\r\n\r\n",
           WEFT_EHTTP_LENGTH_WITH_TE);
    REJECT("POST / HTTP/1.1\r\nContent-Length: 10\r\nTransfer-Encoding: "
           "gzip\r\n\r\n",
           WEFT_EHTTP_LENGTH_WITH_TE);
}
END_TEST

START_TEST(differing_content_lengths_are_rejected) {
    REJECT("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           WEFT_EHTTP_DIFFERENT_LENGTHS);
    REJECT("POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
           WEFT_EHTTP_DIFFERENT_LENGTHS);
    REJECT_RESP("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: "
                "4\r\n\r\n",
                WEFT_EHTTP_DIFFERENT_LENGTHS);
}
END_TEST

START_TEST(equal_content_lengths_count_once) {
    ACCEPT("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_LENGTH);
    ck_assert_uint_eq(H.content_length, 5);
    ACCEPT("POST / HTTP/1.1\r\nContent-Length: 5 , 005,5\r\n\r\n");
    ck_assert_uint_eq(H.content_length, 5);
}
END_TEST

START_TEST(content_length_with_anything_but_digits_is_rejected) {
    static const char *const bad[] = {"",    "+5",       "-1",  "0x5",  "5a",
                                      "5 5", "4 2",      "5,",  ",5",   "5,,5",
                                      "1.0", "\xd9\xa5", "5;q", "\"5\""};
    REJECT_VALUES("Content-Length", bad, WEFT_EHTTP_BAD_LENGTH);
    ACCEPT("POST / HTTP/1.1\r\nConTENT-length:\t0003\t\r\n\r\n");
    ck_assert_uint_eq(H.content_length, 3);
    ck_assert(H.flags & WEFT_HTTP1_CONTENT_LENGTH);
}
END_TEST

START_TEST(content_length_overflow_is_rejected) {
    ACCEPT("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n");
    ck_assert_uint_eq(H.content_length, UINT64_C(9223372036854775807));
    REJECT("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n",
           WEFT_EHTTP_BAD_LENGTH);
    REJECT("POST / HTTP/1.1\r\nContent-Length: 1000000000000000000000\r\n\r\n",
           WEFT_EHTTP_BAD_LENGTH);
}
END_TEST

START_TEST(transfer_encoding_whose_final_coding_is_not_chunked_is_rejected) {
    static const char *const bad[] = {"gzip", "identity", "chunked, gzip",
                                      "chunkedchunked", "chunked;q=1"};
    REJECT_VALUES("Transfer-Encoding", bad, WEFT_EHTTP_TE_NOT_CHUNKED);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: gzip\r\n\r\n",
           WEFT_EHTTP_TE_NOT_CHUNKED);
    ck_assert_int_eq(weft_http1_error_status(WEFT_EHTTP_TE_NOT_CHUNKED), 400);
}
END_TEST

START_TEST(transfer_encoding_naming_chunked_twice_is_rejected) {
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
           WEFT_EHTTP_TE_CHUNKED_TWICE);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           WEFT_EHTTP_TE_CHUNKED_TWICE);
    REJECT_RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n"
                "\r\n",
                WEFT_EHTTP_TE_CHUNKED_TWICE);
}
END_TEST

START_TEST(transfer_encoding_in_http10_requests_is_rejected) {
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
           WEFT_EHTTP_TE_HTTP10);
}
END_TEST

START_TEST(transfer_codings_other_than_chunked_are_answered_501) {
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
           WEFT_EHTTP_TE_UNSUPPORTED);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           WEFT_EHTTP_TE_UNSUPPORTED);
    ck_assert_int_eq(weft_http1_error_status(WEFT_EHTTP_TE_UNSUPPORTED), 501);
}
END_TEST

START_TEST(malformed_transfer_encoding_is_rejected) {
    static const char *const bad[] = {"ch@nked",     "chunked;", "x;a",
                                      "x;a=",        "x;=b",     "x;a=\"b",
                                      "x y, chunked"};
    REJECT_VALUES("Transfer-Encoding", bad, WEFT_EHTTP_BAD_TE);
    /* Parameters and quoted strings are read, and make a coding that is
     * not plain chunked. */
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: x;a=\"q,\\\"\" ; b=c, "
           "chunked\r\n\r\n",
           WEFT_EHTTP_TE_UNSUPPORTED);
}
END_TEST

START_TEST(chunked_request_framing) {
    ACCEPT("POST / HTTP/1.1\r\nTransfer-Encoding: ChUnKeD\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_CHUNKED);
    ck_assert(H.flags & WEFT_HTTP1_TRANSFER_ENCODING);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: gzip ,chunked\r\n\r\n",
           WEFT_EHTTP_TE_UNSUPPORTED);
}
END_TEST

/* A proxy that takes the last Transfer-Encoding line, or looks at the end
 * of the value, sees no chunked in these: refused in requests, skipped in
 * responses. */
START_TEST(empty_transfer_encoding_elements_are_rejected_in_requests) {
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding:\r\n\r\n",
           WEFT_EHTTP_BAD_TE);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n",
           WEFT_EHTTP_BAD_TE);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n",
           WEFT_EHTTP_BAD_TE);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, ,chunked\r\n\r\n",
           WEFT_EHTTP_BAD_TE);
    REJECT("POST / HTTP/1.1\r\nTransfer-Encoding:  \r\n\r\n",
           WEFT_EHTTP_BAD_TE);
    ACCEPT_RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked ,\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_CHUNKED);
    ACCEPT_RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_UNTIL_CLOSE);
}
END_TEST

START_TEST(a_second_host_field_is_rejected) {
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", WEFT_EHTTP_DUP_HOST);
    ACCEPT("GET / HTTP/1.1\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_HOST));
    ACCEPT("GET / HTTP/1.1\r\nhOST:\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_HOST);
}
END_TEST

START_TEST(connection_tokens_set_keep_alive_and_upgrade) {
    ACCEPT("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    ACCEPT("GET / HTTP/1.0\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    ACCEPT("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_KEEP_ALIVE);
    ACCEPT("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    ACCEPT("GET / HTTP/1.1\r\nConnection: a, , UPGRADE ,b\r\nUpgrade: "
           "websocket\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_UPGRADE);
    ck_assert(H.flags & WEFT_HTTP1_KEEP_ALIVE);
    /* Upgrade needs both fields, and HTTP/1.1. */
    ACCEPT("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_UPGRADE));
    ACCEPT("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_UPGRADE));
    ACCEPT("GET / HTTP/1.1\r\nConnection: closed, keep-alives\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_KEEP_ALIVE);
}
END_TEST

START_TEST(connect_requests_have_no_body_and_upgrade) {
    ACCEPT("CONNECT example.com:443 HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert(H.flags & WEFT_HTTP1_UPGRADE);
    ck_assert_uint_eq(H.content_length, 10);
}
END_TEST

START_TEST(expect_sets_continue_or_other) {
    ACCEPT("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: "
           "3\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_EXPECT_CONTINUE);
    ACCEPT("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
    ck_assert(!(H.flags & WEFT_HTTP1_EXPECT_CONTINUE));
    ACCEPT("PUT / HTTP/1.1\r\nExpect: 100-continue-x\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_EXPECT_OTHER);
    ck_assert(!(H.flags & WEFT_HTTP1_EXPECT_CONTINUE));
}
END_TEST

/* ---- responses ----------------------------------------------------------- */

START_TEST(a_simple_response_parses) {
    ACCEPT_RESP("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n");
    ck_assert_int_eq(H.status, 404);
    ck_assert_span(H.reason, "Not Found");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_LENGTH);
    ck_assert(H.flags & WEFT_HTTP1_KEEP_ALIVE);
    ck_assert_uint_eq(H.method.len + H.target.len, 0);
}
END_TEST

START_TEST(status_codes_are_three_digits_from_100) {
    REJECT_RESP("HTTP/1.1 099 X\r\n\r\n", WEFT_EHTTP_BAD_STATUS);
    REJECT_RESP("HTTP/1.1 2 OK\r\n\r\n", WEFT_EHTTP_BAD_STATUS);
    REJECT_RESP("HTTP/1.1 2000 OK\r\n\r\n", WEFT_EHTTP_BAD_STATUS);
    REJECT_RESP("HTTP/1.1  200 OK\r\n\r\n", WEFT_EHTTP_BAD_STATUS);
    REJECT_RESP("HTTP/1.1\t200 OK\r\n\r\n", WEFT_EHTTP_BAD_START_LINE);
    REJECT_RESP("HTTP/1.01 200 OK\r\n\r\n", WEFT_EHTTP_BAD_VERSION);
    ACCEPT_RESP("HTTP/1.1 999 Whatever\r\n\r\n");
    ck_assert_int_eq(H.status, 999);
}
END_TEST

START_TEST(reason_phrases_may_be_missing_or_hold_obs_text) {
    ACCEPT_RESP("HTTP/1.1 200\r\n\r\n");
    ck_assert_span(H.reason, "");
    ACCEPT_RESP("HTTP/1.1 200 \r\n\r\n");
    ck_assert_span(H.reason, "");
    ACCEPT_RESP("HTTP/1.1 500 Ori\xc3\xabntatie\tprobleem  \r\n\r\n");
    ck_assert_span(H.reason, "Ori\xc3\xabntatie\tprobleem  ");
    REJECT_RESP("HTTP/1.1 200 O\x01K\r\n\r\n", WEFT_EHTTP_BAD_REASON);
}
END_TEST

START_TEST(bare_lf_is_accepted_in_responses) {
    ACCEPT_RESP("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: "
                "0\n\n");
    ck_assert_uint_eq(H.nfields, 2);
    ck_assert_span(F[1].value, "0");
    ACCEPT_RESP("\n\r\nHTTP/1.1 204 No Content\n\n");
    ck_assert_int_eq(H.status, 204);
}
END_TEST

START_TEST(obs_fold_in_responses_is_replaced_by_spaces) {
    const char r[] = "HTTP/1.1 200 OK\r\nA: x\r\n  y\r\n\tz\r\nB:\r\n b\n c\r\n"
                     "Content-Length: 0\r\n\r\n";
    ck_assert_int_eq(RESP(r), (int)sizeof r - 1);
    ck_assert(H.flags & WEFT_HTTP1_FOLDED);
    ck_assert_span(F[0].value, "x    y  \tz");
    ck_assert_span(F[1].value, "b  c");
    ck_assert_span(F[2].name, "Content-Length");
    /* Parsing the rewritten buffer again gives the same head. */
    size_t n = sizeof r - 1;
    ck_assert_int_eq(weft_http1_parse_response(&H, IN, n, 0, 0, NULL), (int)n);
    ck_assert_span(F[1].value, "b  c");
}
END_TEST

START_TEST(whitespace_before_a_colon_is_dropped_in_responses) {
    ACCEPT_RESP("HTTP/1.1 200 OK\r\nContent-Length \t: 0\r\n\r\n");
    ck_assert_span(F[0].name, "Content-Length");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_LENGTH);
    REJECT_RESP("HTTP/1.1 200 OK\r\nen-US Content-Type: x\r\n\r\n",
                WEFT_EHTTP_BAD_FIELD_NAME);
}
END_TEST

START_TEST(response_framing_follows_rfc9112_section_6_3) {
    /* No body: HEAD, 1xx, 204, 304, CONNECT 2xx. */
    ck_assert_int_gt(RESP_TO(WEFT_HTTP_HEAD, "HTTP/1.1 200 OK\r\n"
                                             "Content-Length: 9\r\n\r\n"),
                     0);
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert_uint_eq(H.content_length, 9);
    ck_assert_int_eq(H.method_id, WEFT_HTTP_HEAD);
    ACCEPT_RESP("HTTP/1.1 100 Continue\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert(!(H.flags & WEFT_HTTP1_UPGRADE));
    ACCEPT_RESP(
        "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 4\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert(H.flags & WEFT_HTTP1_UPGRADE);
    ACCEPT_RESP(
        "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ACCEPT_RESP("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert_int_gt(RESP_TO(WEFT_HTTP_CONNECT, "HTTP/1.1 200 OK\r\n\r\n"), 0);
    ck_assert_int_eq(H.framing, WEFT_HTTP1_NO_BODY);
    ck_assert(H.flags & WEFT_HTTP1_UPGRADE);
    ck_assert_int_gt(RESP_TO(WEFT_HTTP_CONNECT, "HTTP/1.1 407 No\r\n\r\n"), 0);
    ck_assert_int_eq(H.framing, WEFT_HTTP1_UNTIL_CLOSE);
    /* Transfer-Encoding overrides Content-Length, and ends the
     * connection. */
    ACCEPT_RESP("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: "
                "chunked\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_CHUNKED);
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    /* A final coding other than chunked, or HTTP/1.0: until close. */
    ACCEPT_RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_UNTIL_CLOSE);
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    ACCEPT_RESP("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n"
                "Connection: keep-alive\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_UNTIL_CLOSE);
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    /* gzip then chunked: chunked framing, gzip left to the client. */
    ACCEPT_RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_CHUNKED);
    /* Neither: until close. */
    ACCEPT_RESP("HTTP/1.1 200 OK\r\n\r\n");
    ck_assert_int_eq(H.framing, WEFT_HTTP1_UNTIL_CLOSE);
    ck_assert(!(H.flags & WEFT_HTTP1_KEEP_ALIVE));
    ACCEPT_RESP("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                "Content-Length: 0\r\n\r\n");
    ck_assert(H.flags & WEFT_HTTP1_KEEP_ALIVE);
}
END_TEST

/* ---- limits and incomplete input ----------------------------------------- */

START_TEST(a_head_cut_anywhere_needs_more) {
    const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                       "Connection: close\r\n\r\n";
    for (size_t k = 0; k < sizeof req - 1; k++)
        ck_assert_err(parse_all(req, k, false, 0, NULL), -EAGAIN);
    const char resp[] = "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n";
    for (size_t k = 0; k < sizeof resp - 1; k++)
        ck_assert_err(parse_all(resp, k, true, 0, NULL), -EAGAIN);
}
END_TEST

START_TEST(the_start_line_limit_gives_414) {
    weft_http1_limits_t lim = {.max_start_line = 20};
    /* "GET /12345 HTTP/1.1" is 19 bytes, +1 is 20, +2 is 21. */
    const char ok[] = "GET /123456 HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(parse_all(ok, sizeof ok - 1, false, 0, &lim),
                     (int)sizeof ok - 1);
    const char big[] = "GET /1234567 HTTP/1.1\r\n\r\n";
    ck_assert_err(parse_all(big, sizeof big - 1, false, 0, &lim),
                  WEFT_EHTTP_LINE_TOO_LONG);
    /* Found before the line ends. */
    const char part[] = "GET /123456789012345678901234567890";
    ck_assert_err(parse_all(part, sizeof part - 1, false, 0, &lim),
                  WEFT_EHTTP_LINE_TOO_LONG);
    ck_assert_err(parse_all(part, 21, false, 0, &lim), -EAGAIN);
    ck_assert_int_eq(weft_http1_error_status(WEFT_EHTTP_LINE_TOO_LONG), 414);
    /* Empty lines before it count. */
    const char crlf[] = "\r\nGET /123456 HTTP/1.1\r\n\r\n";
    ck_assert_err(parse_all(crlf, sizeof crlf - 1, false, 0, &lim),
                  WEFT_EHTTP_LINE_TOO_LONG);
}
END_TEST

START_TEST(the_head_limit_gives_431) {
    const char req[] = "GET / HTTP/1.1\r\nA: 12345\r\n\r\n";
    const int n = (int)sizeof req - 1;
    weft_http1_limits_t lim = {.max_head = (uint32_t)n};
    ck_assert_int_eq(parse_all(req, (size_t)n, false, 0, &lim), n);
    lim.max_head = (uint32_t)n - 1;
    ck_assert_err(parse_all(req, (size_t)n, false, 0, &lim),
                  WEFT_EHTTP_HEAD_TOO_LARGE);
    /* Only once there are more bytes than the limit allows. */
    ck_assert_err(parse_all(req, (size_t)n - 1, false, 0, &lim), -EAGAIN);
    lim.max_head = 10;
    ck_assert_err(parse_all(req, (size_t)n, false, 0, &lim),
                  WEFT_EHTTP_HEAD_TOO_LARGE);
    ck_assert_int_eq(weft_http1_error_status(WEFT_EHTTP_HEAD_TOO_LARGE), 431);
}
END_TEST

START_TEST(the_field_count_limit_gives_431) {
    const char req[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    weft_http1_limits_t lim = {.max_fields = 3};
    ck_assert_int_eq(parse_all(req, sizeof req - 1, false, 0, &lim),
                     (int)sizeof req - 1);
    lim.max_fields = 2;
    ck_assert_err(parse_all(req, sizeof req - 1, false, 0, &lim),
                  WEFT_EHTTP_TOO_MANY_FIELDS);
    /* The caller's array bounds it too. */
    weft_http_field_t two[2];
    weft_http1_head_t h = {.fields = two, .max_fields = 2};
    ck_assert_err(weft_http1_parse_request(&h, req, sizeof req - 1, 0, NULL),
                  WEFT_EHTTP_TOO_MANY_FIELDS);
    weft_http1_head_t none = {0};
    ck_assert_err(weft_http1_parse_request(&none, req, sizeof req - 1, 0, NULL),
                  WEFT_EHTTP_TOO_MANY_FIELDS);
    ck_assert_err(
        weft_http1_parse_request(&none, "GET / HTTP/1.1\r\n\r\n", 18, 0, NULL),
        18);
    ck_assert_int_eq(weft_http1_error_status(WEFT_EHTTP_TOO_MANY_FIELDS), 431);
}
END_TEST

START_TEST(errors_show_before_the_head_is_complete) {
    ck_assert_err(REQ("GET / HTTP/1.1\r\nA: \x01"), WEFT_EHTTP_BAD_FIELD_VALUE);
    ck_assert_err(REQ("GET / HTTP/1.1\r\nA@b"), WEFT_EHTTP_BAD_FIELD_NAME);
    ck_assert_err(REQ("GET / HTTP/1.1\r\nA b"), WEFT_EHTTP_SPACE_BEFORE_COLON);
    ck_assert_err(REQ("G(ET"), WEFT_EHTTP_BAD_METHOD);
}
END_TEST

START_TEST(prev_len_searches_only_the_new_bytes) {
    const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nB: \x01\r\n\r\n";
    size_t n = sizeof req - 1;
    weft_http_field_t f[8];
    weft_http1_head_t h = {.fields = f, .max_fields = 8};
    /* Without the head's end among the new bytes, nothing is parsed: the
     * bad byte shows only once the head is complete. */
    ck_assert_err(weft_http1_parse_request(&h, req, 10, 0, NULL), -EAGAIN);
    ck_assert_err(weft_http1_parse_request(&h, req, 30, 10, NULL), -EAGAIN);
    ck_assert_err(weft_http1_parse_request(&h, req, 30, 0, NULL),
                  WEFT_EHTTP_BAD_FIELD_VALUE);
    ck_assert_err(weft_http1_parse_request(&h, req, n, 30, NULL),
                  WEFT_EHTTP_BAD_FIELD_VALUE);
    /* A complete head is found whatever prev_len was. */
    const char ok[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (size_t prev = 1; prev < sizeof ok - 1; prev++)
        ck_assert_err(
            weft_http1_parse_request(&h, ok, sizeof ok - 1, prev, NULL),
            (int)sizeof ok - 1);
    /* The limits are still found. */
    weft_http1_limits_t lim = {.max_start_line = 8};
    ck_assert_err(weft_http1_parse_request(&h, ok, 12, 5, &lim),
                  WEFT_EHTTP_LINE_TOO_LONG);
    lim = (weft_http1_limits_t){.max_head = 20};
    ck_assert_err(weft_http1_parse_request(&h, ok, 22, 18, &lim),
                  WEFT_EHTTP_HEAD_TOO_LARGE);
}
END_TEST

START_TEST(limits_above_1_gib_are_capped) {
    weft_http1_limits_t lim = {.max_head = UINT32_MAX,
                               .max_start_line = UINT32_MAX};
    ACCEPT("GET / HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(parse_all("GET / HTTP/1.1\r\n\r\n", 18, false, 0, &lim),
                     18);
    struct weft__http_limits l;
    weft__http_limits(&lim, &l);
    ck_assert_uint_eq(l.head, 1u << 30);
    weft__http_limits(NULL, &l);
    ck_assert_uint_eq(l.head, WEFT_HTTP1_DEFAULT_MAX_HEAD);
    ck_assert_uint_eq(l.fields, WEFT_HTTP1_DEFAULT_MAX_FIELDS);
}
END_TEST

START_TEST(error_codes_have_names_and_statuses) {
    ck_assert_str_eq(weft_err_name(WEFT_EHTTP_LENGTH_WITH_TE),
                     "EHTTP_LENGTH_WITH_TE");
    ck_assert_str_eq(weft_strerror(WEFT_EHTTP_OBS_FOLD),
                     "HTTP field value folded over lines (obs-fold)");
    ck_assert_str_eq(weft_err_name(WEFT_EHTTP_TRUNCATED), "EHTTP_TRUNCATED");
    for (int e = WEFT_EHTTP_BAD_START_LINE; e >= WEFT_EHTTP_TRUNCATED; e--) {
        ck_assert_str_ne(weft_err_name(e), "EUNKNOWN");
        int st = weft_http1_error_status(e);
        ck_assert(st == 400 || st == 414 || st == 431 || st == 501 ||
                  st == 505);
    }
    ck_assert_int_eq(weft_http1_error_status(-EAGAIN), 0);
    ck_assert_int_eq(weft_http1_error_status(WEFT_ETLS), 0);
}
END_TEST

START_TEST(misuse_is_reported) {
    logcap_start();
    ck_assert_err(weft_http1_parse_request(NULL, "x", 1, 0, NULL), -EINVAL);
    ck_assert_logged(1, "weft_http1_parse_request");
    weft_http1_head_t h = {.max_fields = 3};
    ck_assert_err(weft_http1_parse_response(&h, NULL, 0, 0, 0, NULL), -EINVAL);
    ck_assert_logged(2, "weft_http1_parse_response");
    weft_span_t d;
    ck_assert_err((int)weft_http1_body_next(NULL, "", 0, &d), -EINVAL);
    weft_http1_body_init(NULL, &h, NULL, 0);
    ck_assert_logged(4, "weft_http1_body_init");
    logcap_stop();
}
END_TEST

/* ---- bodies -------------------------------------------------------------- */

/* Decode body (after a head that gives framing) whole, returning the data
 * and the bytes consumed; *err gets an error or 0. */
static size_t decode(const char *head, const char *body, size_t n,
                     struct drive_text *out, int *err) {
    weft_http_field_t f[16];
    weft_http1_head_t h = {.fields = f, .max_fields = 16};
    int r = weft_http1_parse_request(&h, head, strlen(head), 0, NULL);
    ck_assert_int_eq(r, (int)strlen(head));
    weft_http1_body_t b;
    weft_http1_body_init(&b, &h, NULL, 0);
    const char *in = guarded(body, n);
    size_t at = 0;
    *err = 0;
    while (!weft_http1_body_done(&b) && at < n) {
        weft_span_t d;
        ssize_t k = weft_http1_body_next(&b, in + at, n - at, &d);
        if (k < 0) {
            *err = (int)k;
            /* It stays failed. */
            ck_assert_int_eq((int)weft_http1_body_next(&b, in, n, &d), *err);
            return at;
        }
        ck_assert_int_gt(k, 0);
        drive_put(out, d.ptr, d.len);
        at += (size_t)k;
    }
    if (!weft_http1_body_done(&b))
        *err = -EAGAIN;
    return at;
}

static const char CHUNKED[] =
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";

#define DECODE_OK(body, data)                                                  \
    do {                                                                       \
        struct drive_text o_ = {0};                                            \
        int e_;                                                                \
        size_t n_ = decode(CHUNKED, body, sizeof(body) - 1, &o_, &e_);         \
        ck_assert_msg(e_ == 0, "'%s': %s", body, weft_err_name(e_));           \
        ck_assert_uint_eq(n_, sizeof(body) - 1);                               \
        ck_assert_uint_eq(o_.len, sizeof(data) - 1);                           \
        ck_assert(o_.len == 0 || memcmp(o_.s, data, o_.len) == 0);             \
        drive_free(&o_);                                                       \
    } while (0)

#define DECODE_ERR(body, err)                                                  \
    do {                                                                       \
        struct drive_text o_ = {0};                                            \
        int e_;                                                                \
        decode(CHUNKED, body, sizeof(body) - 1, &o_, &e_);                     \
        ck_assert_msg(e_ == (err), "'%s': %s, expected %s", body,              \
                      weft_err_name(e_), weft_err_name(err));                  \
        drive_free(&o_);                                                       \
    } while (0)

START_TEST(chunks_are_decoded) {
    DECODE_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    DECODE_OK("A\r\n0123456789\r\na\r\nabcdefghij\r\n000\r\n\r\n",
              "0123456789abcdefghij");
    DECODE_OK("0\r\n\r\n", "");
    DECODE_OK("00000000000000000000000000000001\r\nx\r\n0\r\n\r\n", "x");
}
END_TEST

START_TEST(chunk_sizes_must_be_hex) {
    DECODE_ERR("\r\n", WEFT_EHTTP_BAD_CHUNK_SIZE);
    DECODE_ERR("g\r\n", WEFT_EHTTP_BAD_CHUNK_SIZE);
    DECODE_ERR("-1\r\n", WEFT_EHTTP_BAD_CHUNK_SIZE);
    DECODE_ERR("0x5\r\n", WEFT_EHTTP_BAD_CHUNK_SIZE);
    DECODE_ERR("5 \r\nhello", WEFT_EHTTP_BAD_CHUNK_SIZE);
    DECODE_ERR("2 erfrferferf\r\naa", WEFT_EHTTP_BAD_CHUNK_SIZE);
    DECODE_ERR("3\r\nfoo\r\n\r\n", WEFT_EHTTP_BAD_CHUNK_SIZE);
}
END_TEST

START_TEST(chunk_sizes_that_overflow_are_rejected) {
    DECODE_ERR("10000000000000000\r\n", WEFT_EHTTP_CHUNK_SIZE_OVERFLOW);
    DECODE_ERR("ffffffffffffffff0\r\n", WEFT_EHTTP_CHUNK_SIZE_OVERFLOW);
    DECODE_ERR("000000000000000000000000000000001\r\n",
               WEFT_EHTTP_CHUNK_SIZE_OVERFLOW);
    /* The largest size still parses (and then wants its data). */
    struct drive_text o = {0};
    int e;
    const char big[] = "7ffffffffffffff\r\nab";
    decode(CHUNKED, big, sizeof big - 1, &o, &e);
    ck_assert_err(e, -EAGAIN);
    ck_assert_uint_eq(o.len, 2);
    drive_free(&o);
}
END_TEST

START_TEST(chunk_extensions_are_checked_and_skipped) {
    DECODE_OK("5;a\r\nhello\r\n0;b=c;d=\"e f;\\\"g\\\\\"\r\n\r\n", "hello");
    DECODE_OK("5 ; a = b ;c\t=\t\"\"\r\nhello\r\n0\r\n\r\n", "hello");
    DECODE_OK("1;ilovew3;somuchlove=aretheseparametersfor\r\nx\r\n0\r\n\r\n",
              "x");
}
END_TEST

START_TEST(malformed_chunk_extensions_are_rejected) {
    DECODE_ERR("2;\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;=x\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a=\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a b\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a=b c\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a \r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a=\"b\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a=\"b\"c\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a=\"\x01\"\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a=\"\\\x7f\"\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
    DECODE_ERR("2;a@\r\naa", WEFT_EHTTP_BAD_CHUNK_EXT);
}
END_TEST

START_TEST(chunk_extensions_over_the_limit_are_rejected) {
    char body[8192];
    weft_http1_limits_t lim = {.max_chunk_ext = 10};
    weft_http_field_t f[4];
    weft_http1_head_t h = {.fields = f, .max_fields = 4};
    ck_assert_int_gt(
        weft_http1_parse_request(&h, CHUNKED, sizeof CHUNKED - 1, 0, NULL), 0);
    for (int len = 9; len <= 11; len++) {
        int n = snprintf(body, sizeof body, "1 ;%.*s\r\nx\r\n0\r\n\r\n",
                         len - 2, "aaaaaaaaaaaaaaaaaaaa");
        weft_http1_body_t b;
        weft_http1_body_init(&b, &h, &lim, 0);
        size_t got;
        ssize_t r = weft_http1_body_decode(&b, body, (size_t)n, &got);
        if (len <= 10)
            ck_assert_int_eq(r, n);
        else
            ck_assert_int_eq(r, WEFT_EHTTP_CHUNK_EXT_TOO_LONG);
    }
}
END_TEST

START_TEST(chunk_data_must_end_in_crlf) {
    DECODE_ERR("5\r\nhelloX\r\n", WEFT_EHTTP_BAD_CHUNK_END);
    DECODE_ERR("5\r\nhello\n0\r\n\r\n", WEFT_EHTTP_BAD_CHUNK_END);
    DECODE_ERR("5\r\nhello\r0\r\n\r\n", WEFT_EHTTP_BARE_CR);
    DECODE_ERR("5\r\r;ABCD\r\n", WEFT_EHTTP_BARE_CR);
    DECODE_ERR("5\nhello\r\n", WEFT_EHTTP_BARE_LF);
}
END_TEST

START_TEST(trailers_are_checked_and_skipped) {
    DECODE_OK("1\r\nx\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n",
              "x");
    DECODE_ERR("0\r\nBad@Name: x\r\n\r\n", WEFT_EHTTP_BAD_FIELD_NAME);
    DECODE_ERR("0\r\nNoColon\r\n\r\n", WEFT_EHTTP_BAD_FIELD_NAME);
    DECODE_ERR("0\r\nName : x\r\n\r\n", WEFT_EHTTP_SPACE_BEFORE_COLON);
    DECODE_ERR("0\r\nA: \x01\r\n\r\n", WEFT_EHTTP_BAD_FIELD_VALUE);
    DECODE_ERR("0\r\nA: 1\r\n 2\r\n\r\n", WEFT_EHTTP_OBS_FOLD);
    DECODE_ERR("0\r\nA: 1\n\r\n", WEFT_EHTTP_BARE_LF);
    DECODE_ERR("0\r\nA: 1\r\n\rx", WEFT_EHTTP_BARE_CR);
    DECODE_ERR("0\r\n\n", WEFT_EHTTP_BARE_LF);
}
END_TEST

START_TEST(trailer_sections_over_the_limit_are_rejected) {
    weft_http1_limits_t lim = {.max_trailer = 12};
    weft_http_field_t f[4];
    weft_http1_head_t h = {.fields = f, .max_fields = 4};
    ck_assert_int_gt(
        weft_http1_parse_request(&h, CHUNKED, sizeof CHUNKED - 1, 0, NULL), 0);
    /* "A: 123456\r\n\r\n" is 13 bytes. */
    char ok[] = "0\r\nA: 12345\r\n\r\n", big[] = "0\r\nA: 123456\r\n\r\n";
    weft_http1_body_t b;
    size_t got;
    weft_http1_body_init(&b, &h, &lim, 0);
    ck_assert_int_eq(weft_http1_body_decode(&b, ok, sizeof ok - 1, &got),
                     (int)sizeof ok - 1);
    ck_assert(weft_http1_body_done(&b));
    weft_http1_body_init(&b, &h, &lim, 0);
    ck_assert_int_eq(weft_http1_body_decode(&b, big, sizeof big - 1, &got),
                     WEFT_EHTTP_TRAILER_TOO_LARGE);
}
END_TEST

START_TEST(trailers_can_be_read_as_fields) {
    weft_http_field_t f[4];
    weft_http1_head_t h = {.fields = f, .max_fields = 4};
    ck_assert_int_gt(
        weft_http1_parse_request(&h, CHUNKED, sizeof CHUNKED - 1, 0, NULL), 0);
    const char body[] = "3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Two:  2 \r\n\r\nNEXT";
    size_t n = sizeof body - 1;
    const char *in = guarded(body, n);
    weft_http1_body_t b;
    weft_http1_body_init(&b, &h, NULL, WEFT_HTTP1_BODY_TRAILERS);
    ck_assert(!weft_http1_body_at_trailers(&b));
    size_t at = 0;
    weft_span_t d;
    while (!weft_http1_body_at_trailers(&b)) {
        ssize_t k = weft_http1_body_next(&b, in + at, n - at, &d);
        ck_assert_int_ge(k, 0);
        at += (size_t)k;
        if (k == 0)
            break;
    }
    ck_assert(weft_http1_body_at_trailers(&b));
    ck_assert(!weft_http1_body_done(&b));
    ck_assert_uint_eq(at, 11);
    /* Nothing more is consumed until the trailers are read. */
    ck_assert_int_eq((int)weft_http1_body_next(&b, in + at, n - at, &d), 0);
    weft_http_field_t t[4];
    size_t nt = 4;
    ck_assert_err(weft_http1_body_trailers(&b, in + at, 20, t, &nt), -EAGAIN);
    nt = 4;
    int r = weft_http1_body_trailers(&b, in + at, n - at, t, &nt);
    ck_assert_int_eq(r, (int)(n - at - 4));
    ck_assert_uint_eq(nt, 2);
    ck_assert_span(t[0].name, "X-Sum");
    ck_assert_span(t[1].value, "2");
    ck_assert(weft_http1_body_done(&b));
    /* An empty trailer section is no stop. */
    const char none[] = "0\r\n\r\n";
    weft_http1_body_init(&b, &h, NULL, WEFT_HTTP1_BODY_TRAILERS);
    size_t got;
    ck_assert_int_eq(
        weft_http1_body_decode(&b, (char *)guarded(none, 5), 5, &got), 5);
    ck_assert(weft_http1_body_done(&b));
    /* Misuse and errors. */
    logcap_start();
    nt = 4;
    ck_assert_err(weft_http1_body_trailers(&b, in, n, t, &nt), -EINVAL);
    logcap_stop();
    weft_http1_body_init(&b, &h, NULL, WEFT_HTTP1_BODY_TRAILERS);
    const char bad[] = "0\r\nX@Y: 1\r\n\r\n";
    /* The decoder stops before the trailers once it sees their first
     * byte. */
    ck_assert_int_eq(
        weft_http1_body_decode(&b, (char *)guarded(bad, 3), 3, &got), 3);
    ck_assert(!weft_http1_body_at_trailers(&b));
    ck_assert_int_eq(
        weft_http1_body_decode(&b, (char *)guarded(bad + 3, 4), 4, &got), 0);
    ck_assert(weft_http1_body_at_trailers(&b));
    nt = 4;
    ck_assert_err(weft_http1_body_trailers(&b, bad + 3, sizeof bad - 4, t, &nt),
                  WEFT_EHTTP_BAD_FIELD_NAME);
}
END_TEST

START_TEST(content_length_bodies_end_at_their_length) {
    const char req[] = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
    struct drive_text o = {0};
    int e;
    weft_http_field_t f[4];
    weft_http1_head_t h = {.fields = f, .max_fields = 4};
    ck_assert_int_gt(weft_http1_parse_request(&h, req, sizeof req - 1, 0, NULL),
                     0);
    size_t n = decode(req, "helloGET / HTTP/1.1", 19, &o, &e);
    ck_assert_int_eq(e, 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(o.len, 5);
    drive_free(&o);
    /* Length 0 is done at once. */
    weft_http1_body_t b;
    h.framing = WEFT_HTTP1_LENGTH;
    h.content_length = 0;
    weft_http1_body_init(&b, &h, NULL, 0);
    ck_assert(weft_http1_body_done(&b));
}
END_TEST

START_TEST(the_end_of_input_ends_or_truncates_a_body) {
    weft_http1_head_t h = {0};
    weft_http1_body_t b;
    h.framing = WEFT_HTTP1_UNTIL_CLOSE;
    h.status = 200;
    weft_http1_body_init(&b, &h, NULL, 0);
    weft_span_t d;
    ck_assert_int_eq((int)weft_http1_body_next(&b, "abc", 3, &d), 3);
    ck_assert_uint_eq(d.len, 3);
    ck_assert(!weft_http1_body_done(&b));
    ck_assert_int_eq(weft_http1_body_eof(&b), 0);
    ck_assert(weft_http1_body_done(&b));
    h.framing = WEFT_HTTP1_LENGTH;
    h.content_length = 4;
    weft_http1_body_init(&b, &h, NULL, 0);
    ck_assert_int_eq((int)weft_http1_body_next(&b, "abc", 3, &d), 3);
    ck_assert_err(weft_http1_body_eof(&b), WEFT_EHTTP_TRUNCATED);
    ck_assert_err((int)weft_http1_body_next(&b, "d", 1, &d),
                  WEFT_EHTTP_TRUNCATED);
    h.framing = WEFT_HTTP1_CHUNKED;
    weft_http1_body_init(&b, &h, NULL, 0);
    ck_assert_err(weft_http1_body_eof(&b), WEFT_EHTTP_TRUNCATED);
    h.framing = WEFT_HTTP1_NO_BODY;
    weft_http1_body_init(&b, &h, NULL, 0);
    ck_assert_err(weft_http1_body_eof(&b), 0);
}
END_TEST

START_TEST(bare_lf_is_accepted_in_chunked_responses) {
    weft_http1_head_t h = {0};
    h.framing = WEFT_HTTP1_CHUNKED;
    h.status = 200;
    weft_http1_body_t b;
    weft_http1_body_init(&b, &h, NULL, 0);
    char body[] = "5\nhello\n0;x=y\nA: b\n\n";
    size_t got;
    ck_assert_int_eq(weft_http1_body_decode(&b, body, sizeof body - 1, &got),
                     (int)sizeof body - 1);
    ck_assert_uint_eq(got, 5);
    ck_assert(weft_http1_body_done(&b));
}
END_TEST

/* Random chunked bodies: data, extensions and trailers; the decoded data
 * must be the data, however the input is split and read. */
static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(uint32_t n) {
    return test_rnd(&rng, n);
}

static void random_chunked(struct drive_text *msg, struct drive_text *data) {
    drive_puts(msg, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    int chunks = (int)rnd(6);
    for (int c = 0; c < chunks; c++) {
        size_t n = 1 + rnd(c % 2 ? 3000 : 40);
        drive_printf(msg, rnd(2) ? "%zx" : "%zX", n);
        if (rnd(3) == 0)
            drive_puts(msg, rnd(2) ? ";ext" : " ; a=\"b;\\\"c\" ;d=e");
        drive_puts(msg, "\r\n");
        for (size_t i = 0; i < n; i++) {
            char ch = (char)rnd(256);
            drive_put(msg, &ch, 1);
            drive_put(data, &ch, 1);
        }
        drive_puts(msg, "\r\n");
    }
    drive_puts(msg, "0\r\n");
    if (rnd(2))
        drive_puts(msg, "Trailer-A: 1\r\nB: two\r\n");
    drive_puts(msg, "\r\n");
}

START_TEST(the_chunked_decoder_gives_the_same_data_however_fed) {
    for (int round = 0; round < 300; round++) {
        struct drive_text msg = {0}, data = {0}, want = {0};
        random_chunked(&msg, &data);
        drive_puts(&want,
                   "head POST / 1.1\nfield Transfer-Encoding: chunked\n");
        if (data.len) {
            drive_puts(&want, "body ");
            drive_bytes(&want, data.s, data.len);
            drive_puts(&want, "\n");
        }
        drive_puts(&want, "complete\nend ok\n");
        static const unsigned modes[] = {0, DRIVE_COPY, DRIVE_DECODE};
        for (size_t m = 0; m < 3; m++) {
            size_t splits[8];
            size_t ns = round % 3 == 0 ? 1 : 1 + rnd(8);
            for (size_t i = 0; i < ns; i++)
                splits[i] = round % 3 == 0 ? 1 : 1 + rnd(round % 2 ? 7 : 900);
            struct drive_opts o = {
                .flags = modes[m], .splits = splits, .nsplits = ns};
            struct drive_text got = {0};
            drive(msg.s, msg.len, &o, &got);
            ck_assert_msg(strcmp(got.s, want.s) == 0, "round %d mode %zu:\n%s",
                          round, m, got.s);
            drive_free(&got);
        }
        drive_free(&msg);
        drive_free(&data);
        drive_free(&want);
    }
}
END_TEST

START_TEST(body_copy_fills_a_small_buffer_and_stops) {
    weft_http1_head_t h = {0};
    h.framing = WEFT_HTTP1_CHUNKED;
    weft_http1_body_t b;
    weft_http1_body_init(&b, &h, NULL, 0);
    const char body[] = "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\nX";
    char out[4];
    size_t got;
    ssize_t r = weft_http1_body_copy(&b, body, sizeof body - 1, out, 4, &got);
    ck_assert_int_eq(r, 7);
    ck_assert_uint_eq(got, 4);
    ck_assert(memcmp(out, "hell", 4) == 0);
    size_t at = (size_t)r;
    r = weft_http1_body_copy(&b, body + at, sizeof body - 1 - at, out, 4, &got);
    ck_assert_uint_eq(got, 4);
    ck_assert(memcmp(out, "oabc", 4) == 0);
    at += (size_t)r;
    r = weft_http1_body_copy(&b, body + at, sizeof body - 1 - at, out, 4, &got);
    ck_assert_uint_eq(got, 0);
    at += (size_t)r;
    ck_assert(weft_http1_body_done(&b));
    ck_assert_uint_eq(at, sizeof body - 2); /* all but the next message */
}
END_TEST

/* ---- over-reads ---------------------------------------------------------- */

static const char *const corpus[] = {
    "GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: "
    "ws\r\n\r\n",
    "POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1a;x=\"y\\\"\"\r\n"
    "abcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\n\r\n",
    "GET / HTTP/1.1\r\nA: \xff\xfe\t x \r\nB:\r\n\r\n",
    "\r\n\r\nOPTIONS * HTTP/1.0\r\n\r\n",
    "GET / "
    "HTTP/1.1\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA: "
    "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
    "\r\n\r\n",
};

static const char *const corpus_resp[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    "HTTP/1.1 200 OK\nA: b\n c\n\tD: e\nTransfer-Encoding: chunked\n\n"
    "3\nabc\n0\n\n",
    "HTTP/1.0 301 Moved\r\nLocation : /x\r\n\r\nbody",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
};

/* Every prefix of every message, parsed and decoded from memory that ends
 * at an unreadable page. */
START_TEST(no_prefix_of_a_message_is_read_past_its_end) {
    for (int resp = 0; resp < 2; resp++) {
        const char *const *c = resp ? corpus_resp : corpus;
        size_t nc = resp ? sizeof corpus_resp / sizeof corpus_resp[0]
                         : sizeof corpus / sizeof corpus[0];
        for (size_t i = 0; i < nc; i++) {
            size_t len = strlen(c[i]);
            for (size_t k = 0; k <= len; k++) {
                for (int lvl = 0; lvl < levels(); lvl++) {
                    weft__http_simd_set(lvl);
                    for (size_t prev = 0; prev <= k; prev += k ? k : 1) {
                        char *in = guarded(c[i], k);
                        weft_http_field_t f[16];
                        weft_http1_head_t h = {.fields = f, .max_fields = 16};
                        int r = resp ? weft_http1_parse_response(
                                           &h, in, k, prev / 2, 0, NULL)
                                     : weft_http1_parse_request(&h, in, k,
                                                                prev / 2, NULL);
                        if (r < 0)
                            continue;
                        weft_http1_body_t b;
                        weft_http1_body_init(&b, &h, NULL, 0);
                        size_t got;
                        char *rest = guarded(c[i] + r, k - (size_t)r);
                        weft_http1_body_decode(&b, rest, k - (size_t)r, &got);
                    }
                }
                weft__http_simd_set(-1);
            }
        }
    }
}
END_TEST

/* ---- the writer ---------------------------------------------------------- */

#define SPAN(s) ((weft_span_t){(s), sizeof(s) - 1})

START_TEST(the_writer_writes_heads_that_parse_back) {
    weft_http_field_t f[] = {{SPAN("Host"), SPAN("example.com")},
                             {SPAN("Content-Length"), SPAN("0")},
                             {SPAN("X-Empty"), SPAN("")}};
    char buf[256];
    ssize_t n = weft_http1_write_request(buf, sizeof buf, SPAN("GET"),
                                         SPAN("/p?q=1"), 1, f, 3);
    const char want[] = "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                        "Content-Length: 0\r\nX-Empty: \r\n\r\n";
    ck_assert_int_eq(n, (ssize_t)sizeof want - 1);
    ck_assert(memcmp(buf, want, sizeof want - 1) == 0);
    ck_assert_int_eq(parse_all(buf, (size_t)n, false, 0, NULL), (int)n);
    ck_assert_uint_eq(H.nfields, 3);
    ck_assert_span(F[2].name, "X-Empty");

    n = weft_http1_write_response(buf, sizeof buf, 1, 404,
                                  (weft_span_t){NULL, 0}, f + 1, 1);
    const char want2[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq(n, (ssize_t)sizeof want2 - 1);
    ck_assert(memcmp(buf, want2, sizeof want2 - 1) == 0);
    n = weft_http1_write_response(buf, sizeof buf, 0, 299,
                                  (weft_span_t){NULL, 0}, NULL, 0);
    ck_assert_int_eq(n, 17);
    ck_assert(memcmp(buf, "HTTP/1.0 299 \r\n\r\n", 17) == 0);
    n = weft_http1_write_response(buf, sizeof buf, 1, 200, SPAN("Fine"), NULL,
                                  0);
    ck_assert(memcmp(buf, "HTTP/1.1 200 Fine\r\n\r\n", 21) == 0);
    ck_assert_int_eq(parse_all(buf, (size_t)n, true, 0, NULL), (int)n);
    ck_assert_span(H.reason, "Fine");
}
END_TEST

START_TEST(the_writer_reports_the_room_it_needs) {
    weft_http_field_t f[] = {{SPAN("A"), SPAN("b")}};
    char buf[64];
    memset(buf, '#', sizeof buf);
    ssize_t need =
        weft_http1_write_request(NULL, 0, SPAN("GET"), SPAN("/"), 1, f, 1);
    ck_assert_int_eq(need, 24);
    ssize_t n =
        weft_http1_write_request(buf, 10, SPAN("GET"), SPAN("/"), 1, f, 1);
    ck_assert_int_eq(n, 24);
    for (size_t i = 10; i < sizeof buf; i++)
        ck_assert_int_eq(buf[i], '#'); /* nothing past cap */
    n = weft_http1_write_request(buf, 24, SPAN("GET"), SPAN("/"), 1, f, 1);
    ck_assert_int_eq(n, 24);
    ck_assert(memcmp(buf, "GET / HTTP/1.1\r\nA: b\r\n\r\n", 24) == 0);
}
END_TEST

START_TEST(the_writer_refuses_cr_lf_and_nul_in_names_and_values) {
    char buf[256];
    for (int c = 0; c < 256; c++) {
        char v[4] = {'a', (char)c, 'b', 0};
        weft_http_field_t f = {SPAN("X"), {v, 3}};
        ssize_t r = weft_http1_write_response(buf, sizeof buf, 1, 200,
                                              SPAN("OK"), &f, 1);
        bool ok = c == '\t' || (c >= 0x20 && c != 0x7f);
        if (ok)
            ck_assert_int_gt(r, 0);
        else
            ck_assert_msg(r == WEFT_EHTTP_BAD_FIELD_VALUE, "byte %#x: %zd", c,
                          r);
        weft_http_field_t g = {{v, 3}, SPAN("1")};
        r = weft_http1_write_response(buf, sizeof buf, 1, 200, SPAN("OK"), &g,
                                      1);
        bool tok = weft__http_is((unsigned char)c, WEFT__HTTP_TCHAR);
        ck_assert_int_eq(r > 0, tok);
        if (!tok)
            ck_assert_int_eq(r, WEFT_EHTTP_BAD_FIELD_NAME);
        r = weft_http1_write_response(buf, sizeof buf, 1, 200,
                                      (weft_span_t){v, 3}, NULL, 0);
        ck_assert_int_eq(r > 0, ok);
        if (!ok)
            ck_assert_int_eq(r, WEFT_EHTTP_BAD_REASON);
        r = weft_http1_write_request(buf, sizeof buf, SPAN("GET"),
                                     (weft_span_t){v, 3}, 1, NULL, 0);
        ck_assert_int_eq(r > 0, c > 0x20 && c < 0x7f);
        r = weft_http1_write_request(buf, sizeof buf, (weft_span_t){v, 3},
                                     SPAN("/"), 1, NULL, 0);
        ck_assert_int_eq(r > 0, tok);
    }
    /* The response-splitting attempt. */
    weft_http_field_t split = {SPAN("Location"),
                               SPAN("/x\r\nSet-Cookie: evil=1")};
    ck_assert_int_eq(weft_http1_write_response(buf, sizeof buf, 1, 302,
                                               (weft_span_t){NULL, 0}, &split,
                                               1),
                     WEFT_EHTTP_BAD_FIELD_VALUE);
    weft_http_field_t empty = {SPAN(""), SPAN("x")};
    ck_assert_int_eq(weft_http1_write_response(buf, sizeof buf, 1, 200,
                                               SPAN("OK"), &empty, 1),
                     WEFT_EHTTP_BAD_FIELD_NAME);
    ck_assert_int_eq(weft_http1_write_request(buf, sizeof buf, SPAN("GET"),
                                              SPAN(""), 1, NULL, 0),
                     WEFT_EHTTP_BAD_TARGET);
    ck_assert_int_eq(
        weft_http1_write_response(buf, sizeof buf, 1, 99, SPAN("x"), NULL, 0),
        WEFT_EHTTP_BAD_STATUS);
    ck_assert_int_eq(
        weft_http1_write_response(buf, sizeof buf, 1, 1000, SPAN("x"), NULL, 0),
        WEFT_EHTTP_BAD_STATUS);
    logcap_start();
    ck_assert_int_eq(
        weft_http1_write_response(buf, sizeof buf, 2, 200, SPAN("x"), NULL, 0),
        -EINVAL);
    ck_assert_int_eq(weft_http1_write_request(buf, sizeof buf, SPAN("GET"),
                                              SPAN("/"), 1, NULL, 1),
                     -EINVAL);
    logcap_stop();
}
END_TEST

START_TEST(chunk_size_lines_are_lowercase_hex) {
    char out[WEFT_HTTP1_CHUNK_SIZE_MAX];
    ck_assert_uint_eq(weft_http1_write_chunk_size(out, 0), 3);
    ck_assert(memcmp(out, "0\r\n", 3) == 0);
    ck_assert_uint_eq(weft_http1_write_chunk_size(out, 0x1a2b), 6);
    ck_assert(memcmp(out, "1a2b\r\n", 6) == 0);
    ck_assert_uint_eq(weft_http1_write_chunk_size(out, UINT64_MAX), 18);
    ck_assert(memcmp(out, "ffffffffffffffff\r\n", 18) == 0);
}
END_TEST

START_TEST(status_reasons_are_the_registered_ones) {
    ck_assert_str_eq(weft_http_status_reason(200), "OK");
    ck_assert_str_eq(weft_http_status_reason(413), "Content Too Large");
    ck_assert_str_eq(weft_http_status_reason(431),
                     "Request Header Fields Too Large");
    ck_assert_ptr_null(weft_http_status_reason(299));
    ck_assert_ptr_null(weft_http_status_reason(0));
}
END_TEST

START_TEST(the_scanning_paths_can_be_forced) {
    int best = weft__http_simd_set(-1);
    ck_assert_int_ge(best, 0);
    ck_assert_int_eq(weft__http_simd_set(WEFT__HTTP_SWAR), WEFT__HTTP_SWAR);
    ck_assert_str_eq(weft__http_simd_name(WEFT__HTTP_SWAR), "swar");
    ck_assert_int_le(weft__http_simd_set(WEFT__HTTP_AVX2), best);
    setenv("WEFT_HTTP1_SIMD", "swar", 1);
    ck_assert_int_eq(weft__http_simd_set(-1), WEFT__HTTP_SWAR);
    unsetenv("WEFT_HTTP1_SIMD");
    ck_assert_int_eq(weft__http_simd_set(-1), best);
}
END_TEST

int main(void) {
    Suite *s = suite_create("http1");
    TCase *tc = tcase_create("request line");
    tcase_add_test(tc, a_simple_request_parses_into_spans);
    tcase_add_test(tc, methods_are_recognised_by_exact_name);
    tcase_add_test(tc, invalid_token_characters_in_methods_are_rejected);
    tcase_add_test(tc, the_request_line_is_separated_by_single_spaces);
    tcase_add_test(tc, target_bytes_outside_visible_ascii_are_rejected);
    tcase_add_test(tc, versions_other_than_1_0_and_1_1_are_answered_505);
    tcase_add_test(tc, malformed_versions_are_rejected);
    tcase_add_test(tc, empty_lines_before_the_request_line_are_skipped);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_add_test(tc, invalid_token_characters_in_field_names_are_rejected);
    tcase_add_test(tc,
                   whitespace_between_a_field_name_and_its_colon_is_rejected);
    tcase_add_test(tc, obs_fold_is_rejected);
    tcase_add_test(tc, whitespace_before_the_first_field_line_is_rejected);
    tcase_add_test(tc, bare_cr_is_rejected);
    tcase_add_test(tc, bare_lf_is_rejected_in_requests);
    tcase_add_test(tc, nul_and_controls_in_field_values_are_rejected);
    tcase_add_test(tc, values_lose_surrounding_whitespace_and_keep_inner);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_add_test(tc, content_length_with_transfer_encoding_is_rejected);
    tcase_add_test(tc, differing_content_lengths_are_rejected);
    tcase_add_test(tc, equal_content_lengths_count_once);
    tcase_add_test(tc, content_length_with_anything_but_digits_is_rejected);
    tcase_add_test(tc, content_length_overflow_is_rejected);
    tcase_add_test(
        tc, transfer_encoding_whose_final_coding_is_not_chunked_is_rejected);
    tcase_add_test(tc, transfer_encoding_naming_chunked_twice_is_rejected);
    tcase_add_test(tc, transfer_encoding_in_http10_requests_is_rejected);
    tcase_add_test(tc, transfer_codings_other_than_chunked_are_answered_501);
    tcase_add_test(tc, malformed_transfer_encoding_is_rejected);
    tcase_add_test(tc, chunked_request_framing);
    tcase_add_test(tc,
                   empty_transfer_encoding_elements_are_rejected_in_requests);
    tcase_add_test(tc, a_second_host_field_is_rejected);
    tcase_add_test(tc, connection_tokens_set_keep_alive_and_upgrade);
    tcase_add_test(tc, connect_requests_have_no_body_and_upgrade);
    tcase_add_test(tc, expect_sets_continue_or_other);
    suite_add_tcase(s, tc);

    tc = tcase_create("responses");
    tcase_add_test(tc, a_simple_response_parses);
    tcase_add_test(tc, status_codes_are_three_digits_from_100);
    tcase_add_test(tc, reason_phrases_may_be_missing_or_hold_obs_text);
    tcase_add_test(tc, bare_lf_is_accepted_in_responses);
    tcase_add_test(tc, obs_fold_in_responses_is_replaced_by_spaces);
    tcase_add_test(tc, whitespace_before_a_colon_is_dropped_in_responses);
    tcase_add_test(tc, response_framing_follows_rfc9112_section_6_3);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, a_head_cut_anywhere_needs_more);
    tcase_add_test(tc, the_start_line_limit_gives_414);
    tcase_add_test(tc, the_head_limit_gives_431);
    tcase_add_test(tc, the_field_count_limit_gives_431);
    tcase_add_test(tc, errors_show_before_the_head_is_complete);
    tcase_add_test(tc, prev_len_searches_only_the_new_bytes);
    tcase_add_test(tc, limits_above_1_gib_are_capped);
    tcase_add_test(tc, error_codes_have_names_and_statuses);
    tcase_add_test(tc, misuse_is_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("bodies");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, chunks_are_decoded);
    tcase_add_test(tc, chunk_sizes_must_be_hex);
    tcase_add_test(tc, chunk_sizes_that_overflow_are_rejected);
    tcase_add_test(tc, chunk_extensions_are_checked_and_skipped);
    tcase_add_test(tc, malformed_chunk_extensions_are_rejected);
    tcase_add_test(tc, chunk_extensions_over_the_limit_are_rejected);
    tcase_add_test(tc, chunk_data_must_end_in_crlf);
    tcase_add_test(tc, trailers_are_checked_and_skipped);
    tcase_add_test(tc, trailer_sections_over_the_limit_are_rejected);
    tcase_add_test(tc, trailers_can_be_read_as_fields);
    tcase_add_test(tc, content_length_bodies_end_at_their_length);
    tcase_add_test(tc, the_end_of_input_ends_or_truncates_a_body);
    tcase_add_test(tc, bare_lf_is_accepted_in_chunked_responses);
    tcase_add_test(tc, the_chunked_decoder_gives_the_same_data_however_fed);
    tcase_add_test(tc, body_copy_fills_a_small_buffer_and_stops);
    tcase_add_test(tc, no_prefix_of_a_message_is_read_past_its_end);
    suite_add_tcase(s, tc);

    tc = tcase_create("writer");
    tcase_add_test(tc, the_writer_writes_heads_that_parse_back);
    tcase_add_test(tc, the_writer_reports_the_room_it_needs);
    tcase_add_test(tc, the_writer_refuses_cr_lf_and_nul_in_names_and_values);
    tcase_add_test(tc, chunk_size_lines_are_lowercase_hex);
    tcase_add_test(tc, status_reasons_are_the_registered_ones);
    tcase_add_test(tc, the_scanning_paths_can_be_forced);
    suite_add_tcase(s, tc);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
