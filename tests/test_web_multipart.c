/* The streaming multipart parser on its own (src/http/multipart.c): parts,
 * heads, data that looks like a delimiter, preamble and epilogue,
 * transport padding, every way of splitting the input, and malformed
 * bodies and limits. The request-level API is tested in test_web_form.c. */
#include "support.h"

#include "http/multipart.h"

static char out[8192];
static size_t outlen;

static void put(const char *s, size_t n) {
    ck_assert_uint_lt(outlen + n, sizeof out);
    memcpy(out + outlen, s, n);
    outlen += n;
    out[outlen] = 0;
}

/* Parse body fed in pieces of `step` bytes (0: whole) and describe what
 * came out: a head as {name:value;...}, data as it is, a part's end as
 * '|', the end as '$'. Returns 0 or the error. */
static int run_cut(const char *boundary, const char *body, size_t len,
                   size_t step, size_t max_parts, size_t cut) {
    static char hbuf[256];
    static weft_http_field_t fields[4];
    struct weft__mp mp;
    outlen = 0;
    out[0] = 0;
    int r = weft__mp_init(&mp, boundary, strlen(boundary), hbuf, sizeof hbuf,
                          fields, 4, max_parts);
    if (r < 0)
        return r;
    size_t off = 0;
    while (off < len) {
        size_t n = step && len - off > step ? step : len - off;
        if (cut)
            n = off == 0 ? cut : len - off;
        const char *p = body + off;
        size_t left = n;
        for (;;) {
            int ev;
            weft_span_t d;
            ssize_t k = weft__mp_feed(&mp, p, left, &ev, &d);
            if (k < 0)
                return (int)k;
            ck_assert_uint_le((size_t)k, left);
            p += k, left -= (size_t)k;
            if (ev == WEFT__MP_NEED) {
                ck_assert_uint_eq(left, 0);
                break;
            }
            if (ev == WEFT__MP_HEAD) {
                put("{", 1);
                for (size_t i = 0; i < mp.nfields; i++) {
                    put(fields[i].name.ptr, fields[i].name.len);
                    put(":", 1);
                    put(fields[i].value.ptr, fields[i].value.len);
                    put(";", 1);
                }
                put("}", 1);
            } else if (ev == WEFT__MP_DATA) {
                ck_assert_uint_gt(d.len, 0);
                put(d.ptr, d.len);
            } else if (ev == WEFT__MP_PART_END) {
                put("|", 1);
            } else if (ev == WEFT__MP_END) {
                put("$", 1);
            }
        }
        off += n;
    }
    return weft__mp_eof(&mp);
}

static int run(const char *boundary, const char *body, size_t len,
               size_t step, size_t max_parts) {
    return run_cut(boundary, body, len, step, max_parts, 0);
}

/* The same description whatever the input's pieces: whole, every size
 * from 1 to 9, and split in two at every offset. */
static void check(const char *boundary, const char *body, const char *want) {
    size_t len = strlen(body);
    for (size_t step = 0; step < 10; step++) {
        int r = run(boundary, body, len, step, 100);
        ck_assert_msg(r == 0, "step %zu: %d", step, r);
        ck_assert_msg(strcmp(out, want) == 0, "step %zu:\n got '%s'\nwant '%s'",
                      step, out, want);
    }
    for (size_t cut = 1; cut < len; cut++) {
        int r = run_cut(boundary, body, len, 0, 100, cut);
        ck_assert_msg(r == 0, "cut %zu: %d", cut, r);
        ck_assert_msg(strcmp(out, want) == 0, "cut %zu:\n got '%s'\nwant '%s'",
                      cut, out, want);
    }
}

START_TEST(form_fields_and_file) {
    const char *body =
        "--AaB03x\r\n"
        "Content-Disposition: form-data; name=\"submit-name\"\r\n"
        "\r\n"
        "Larry\r\n"
        "--AaB03x\r\n"
        "Content-Disposition: form-data; name=\"files\"; filename=\"file1.txt\"\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "... contents of file1.txt ...\r\n"
        "--AaB03x--\r\n";
    check("AaB03x", body,
          "{Content-Disposition:form-data; name=\"submit-name\";}Larry|"
          "{Content-Disposition:form-data; name=\"files\"; "
          "filename=\"file1.txt\";Content-Type:text/plain;}"
          "... contents of file1.txt ...|$");
}
END_TEST

START_TEST(preamble_epilogue_padding) {
    const char *body = "This is the preamble.\r\n--b \t \r\n"
                       "X: 1\r\n\r\n"
                       "one\r\n--b\r\n"
                       "\r\n"     /* a part without fields */
                       "\r\n--b-- trailing words\r\nepilogue --b\r\n";
    check("b", body, "{X:1;}one|{}|$");
}
END_TEST

START_TEST(data_that_looks_like_a_delimiter) {
    /* CRs, LFs, dashes and parts of the boundary inside the data. */
    const char *body = "--xyz\r\n\r\n"
                       "\r\r\n\r\n-\r\n--\r\n--x\r\n--xy\r\n--xyZ--xyz"
                       "\r\n--xyz\r\n\r\n\r\n--xyz--";
    check("xyz", body, "{}\r\r\n\r\n-\r\n--\r\n--x\r\n--xy\r\n--xyZ--xyz|{}|$");
    /* Empty data, and a part whose data ends in CR. */
    check("q", "--q\r\n\r\n\r\n--q\r\n\r\n\r\r\n--q--", "{}|{}\r|$");
    /* A boundary that is a prefix of a line in the data. */
    check("ab", "--ab\r\n\r\n--abc\r\n--a\r\n--ab--",
          "{}--abc\r\n--a|$");
}
END_TEST

START_TEST(boundary_characters) {
    check("'()+_,-./:=? x", "--'()+_,-./:=? x\r\n\r\nv\r\n--'()+_,-./:=? x--",
          "{}v|$");
    static char hbuf[64];
    weft_http_field_t f[1];
    struct weft__mp mp;
    char b71[72];
    memset(b71, 'a', 71);
    ck_assert_int_eq(weft__mp_init(&mp, b71, 71, hbuf, 64, f, 1, 1), -EINVAL);
    ck_assert_int_eq(weft__mp_init(&mp, b71, 70, hbuf, 64, f, 1, 1), 0);
    ck_assert_int_eq(weft__mp_init(&mp, "", 0, hbuf, 64, f, 1, 1), -EINVAL);
    ck_assert_int_eq(weft__mp_init(&mp, "a ", 2, hbuf, 64, f, 1, 1), -EINVAL);
    ck_assert_int_eq(weft__mp_init(&mp, "a\rb", 3, hbuf, 64, f, 1, 1), -EINVAL);
    ck_assert_int_eq(weft__mp_init(&mp, "a;b", 3, hbuf, 64, f, 1, 1), -EINVAL);
    ck_assert_int_eq(weft__mp_init(&mp, "a\"b", 3, hbuf, 64, f, 1, 1), -EINVAL);
}
END_TEST

static int run_all(const char *boundary, const char *body, size_t max_parts) {
    int first = run(boundary, body, strlen(body), 0, max_parts);
    for (size_t step = 1; step < 8; step++)
        ck_assert_int_eq(run(boundary, body, strlen(body), step, max_parts),
                         first);
    return first;
}

START_TEST(malformed) {
    /* Ends before the close delimiter. */
    ck_assert_int_eq(run_all("b", "--b\r\n\r\ndata", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\n\r\ndata\r\n--b", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\nX: 1\r\n", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "no delimiter at all", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "", 10), -EBADMSG);
    /* Something other than "--" or padding + CRLF after a delimiter. */
    ck_assert_int_eq(run_all("b", "--bX\r\n\r\n--b--", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\n\r\nv\r\n--b-x", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b \nX: 1\r\n\r\n--b--", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\r\n\r\n--b--", 10), -EBADMSG);
    /* Heads: no colon, a name that is not a token, obs-fold, bare LF,
     * a control character. */
    ck_assert_int_eq(run_all("b", "--b\r\nNoColon\r\n\r\n\r\n--b--", 10),
                     -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\nA B: 1\r\n\r\n\r\n--b--", 10),
                     -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\n: 1\r\n\r\n\r\n--b--", 10), -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\nA: 1\r\n folded\r\n\r\n\r\n--b--", 10),
                     -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\nA: 1\nB: 2\r\n\r\n\r\n--b--", 10),
                     -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\nA: 1\r2\r\n\r\n\r\n--b--", 10),
                     -EBADMSG);
    ck_assert_int_eq(run_all("b", "--b\r\nA: \x01\r\n\r\n\r\n--b--", 10),
                     -EBADMSG);
    /* Limits: parts, fields, head bytes. */
    ck_assert_int_eq(run_all("b", "--b\r\n\r\n\r\n--b\r\n\r\n\r\n--b--", 1),
                     -E2BIG);
    ck_assert_int_eq(run_all("b", "--b\r\n\r\n\r\n--b\r\n\r\n\r\n--b--", 2), 0);
    ck_assert_int_eq(
        run_all("b", "--b\r\nA:1\r\nB:2\r\nC:3\r\nD:4\r\nE:5\r\n\r\n\r\n--b--",
                10),
        -E2BIG);
    char big[600];
    snprintf(big, sizeof big, "--b\r\nA: %0300d\r\n\r\n\r\n--b--", 0);
    ck_assert_int_eq(run_all("b", big, 10), -EMSGSIZE);
    snprintf(big, sizeof big, "--b\r\nA: %0240d\r\n\r\n\r\n--b--", 0);
    ck_assert_int_eq(run_all("b", big, 10), 0);
}
END_TEST

START_TEST(stays_failed) {
    static char hbuf[64];
    weft_http_field_t f[1];
    struct weft__mp mp;
    ck_assert_ok(weft__mp_init(&mp, "b", 1, hbuf, 64, f, 1, 1));
    int ev;
    weft_span_t d;
    ck_assert_int_eq(weft__mp_feed(&mp, "--bX", 4, &ev, &d), -EBADMSG);
    ck_assert_int_eq(weft__mp_feed(&mp, "\r\n", 2, &ev, &d), -EBADMSG);
    ck_assert_int_eq(weft__mp_eof(&mp), -EBADMSG);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("web_multipart");
    TCase *tc = tcase_create("multipart");
    tcase_add_test(tc, form_fields_and_file);
    tcase_add_test(tc, preamble_epilogue_padding);
    tcase_add_test(tc, data_that_looks_like_a_delimiter);
    tcase_add_test(tc, boundary_characters);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, stays_failed);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(suite)
