/* libweft_json's serialiser (src/json/json_dump.c) against jansson's
 * json_dumpb with the same flags: the same bytes for every value jansson
 * writes (fixed cases, then random trees with strings full of escapes and
 * UTF-8), the same refusals (a container inside itself, strings that are
 * not UTF-8), values nested past the depth handed to jansson, and output
 * that outgrows the buffer on the stack. */
#include "support.h"

#include <stdint.h>

#include <weft/json.h>

#include "json/json_int.h"

#define FLAGS (WEFT_WEB_JSON_FLAGS | JSON_ENCODE_ANY)

/* Assert that weft's text for v is jansson's, byte for byte. */
static void same(const json_t *v) {
    size_t n = json_dumpb(v, NULL, 0, FLAGS);
    ck_assert_uint_gt(n, 0);
    char *want = malloc(n);
    ck_assert_ptr_nonnull(want);
    ck_assert_uint_eq(json_dumpb(v, want, n, FLAGS), n);
    weft__json_out_t o;
    weft__json_out_init(&o);
    ck_assert_ok(weft__json_dump(v, &o));
    ck_assert_msg(o.len == n && memcmp(o.p, want, n) == 0,
                  "weft wrote '%.*s' (%zu bytes), jansson '%.*s' (%zu)",
                  (int)(o.len < 300 ? o.len : 300), o.p, o.len,
                  (int)(n < 300 ? n : 300), want, n);
    weft__json_out_free(&o);
    free(want);
}

/* Assert that both refuse v; weft leaves what o held as it was. */
static void both_refuse(const json_t *v) {
    ck_assert_uint_eq(json_dumpb(v, NULL, 0, FLAGS), 0);
    weft__json_out_t o;
    weft__json_out_init(&o);
    memcpy(o.p, "ab", 2);
    o.len = 2;
    ck_assert_err(weft__json_dump(v, &o), -EINVAL);
    ck_assert_uint_eq(o.len, 2);
    weft__json_out_free(&o);
}

static void same_new(json_t *v) {
    ck_assert_ptr_nonnull(v);
    same(v);
    json_decref(v);
}

START_TEST(scalars) {
    same_new(json_null());
    same_new(json_true());
    same_new(json_false());
    const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX,
                               INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        same_new(json_integer(ints[i]));
    const double reals[] = {0.0, -0.0, 1.0, 0.1, -2.5, 1e300, 1e-300,
                            123456789.125, 1.0 / 3, 5e-324};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        same_new(json_real(reals[i]));
}
END_TEST

START_TEST(strings) {
    same_new(json_string(""));
    same_new(json_string("plain"));
    same_new(json_string("\"quoted\" \\ back/slash \x7f"));
    same_new(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
    char ctl[32];
    for (int i = 1; i < 32; i++)
        ctl[i - 1] = (char)i;
    ctl[31] = 0;
    same_new(json_string(ctl));
    same_new(json_stringn("a\0b\0", 4)); /* NULs: \u0000 */
    /* every length around the short-copy cases, escapes at either end */
    char s[40];
    for (size_t n = 0; n < sizeof s; n++) {
        for (size_t i = 0; i < n; i++)
            s[i] = (char)('a' + i % 26);
        same_new(json_stringn(s, n));
        if (n) {
            s[0] = '"';
            s[n - 1] = '\n';
            same_new(json_stringn(s, n));
        }
    }
    /* keys are written the same way (and may hold a NUL) */
    json_t *o = json_object();
    json_object_set_new(o, "k\"\t\xc3\xa9", json_integer(1));
    json_object_setn_new(o, "a\0b", 3, json_integer(2));
    json_object_set_new(o, "", json_string(""));
    same_new(o);
}
END_TEST

START_TEST(containers) {
    same_new(json_array());
    same_new(json_object());
    same_new(json_pack("[[], {}, [[]], {s:{}}]", "x"));
    json_t *items = json_array();
    for (int i = 0; i < 10; i++)
        json_array_append_new(items, json_pack("{s:s, s:s, s:I}", "id", "7",
                                               "name", "item", "qty",
                                               (json_int_t)i));
    same(items);
    /* a value in two places is not a loop */
    json_t *twice = json_pack("[O, {s:O}]", items, "again", items);
    same_new(twice);
    json_decref(items);
    /* insertion order kept, after a delete and a re-insert */
    json_t *o = json_pack("{s:i, s:i, s:i}", "z", 1, "a", 2, "m", 3);
    json_object_del(o, "a");
    json_object_set_new(o, "a", json_true());
    same_new(o);
}
END_TEST

/* depth arrays, one in the other, with a scalar at the bottom. */
static json_t *nest(int depth) {
    json_t *v = json_integer(depth);
    for (int i = 0; i < depth; i++) {
        json_t *a = i % 2 ? json_array() : json_object();
        if (json_is_array(a))
            json_array_append_new(a, v);
        else
            json_object_set_new(a, "k", v);
        v = a;
    }
    return v;
}

START_TEST(deep) {
    for (int d = 28; d <= 36; d++)
        same_new(nest(d));
    same_new(nest(500)); /* handed to jansson */
}
END_TEST

START_TEST(loops) {
    /* a -> b -> a */
    json_t *a = json_array(), *b = json_object();
    json_array_append_new(a, json_integer(1));
    json_array_append(a, b);
    json_object_set(b, "back", a);
    both_refuse(a);
    both_refuse(b);
    json_object_clear(b);
    same(a);
    json_decref(b);
    json_decref(a);
    /* a loop below the depth handed to jansson, and one that spans it */
    for (int d = 5; d <= 60; d += 55) {
        json_t *top = json_array(), *v = top;
        for (int i = 0; i < d; i++) {
            json_t *c = json_array();
            json_array_append_new(v, c);
            v = c;
        }
        json_array_append(v, top);
        both_refuse(top);
        json_array_clear(v);
        same(top);
        json_decref(top);
    }
}
END_TEST

START_TEST(bad_utf8) {
    static const char *const bad[] = {
        "\x80",             "\xc0\xaf",         "\xc1\xbf",
        "\xc3",             "\xe0\x80\xaf",     "\xed\xa0\x80",
        "\xe2\x82",         "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "ok\xff",           "\xf0\x9f\x98",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *s = json_stringn_nocheck(bad[i], strlen(bad[i]));
        both_refuse(s);
        json_t *arr = json_pack("[s, O]", "fine", s);
        both_refuse(arr);
        json_decref(arr);
        json_decref(s);
        /* jansson writes half a key here; weft refuses */
        json_t *o = json_object();
        json_object_set_new_nocheck(o, bad[i], json_null());
        weft__json_out_t out;
        weft__json_out_init(&out);
        ck_assert_err(weft__json_dump(o, &out), -EINVAL);
        ck_assert_uint_eq(out.len, 0);
        weft__json_out_free(&out);
        json_decref(o);
    }
}
END_TEST

START_TEST(a_refused_value_past_the_stack_buffer_frees_the_heap_one) {
    /* More than the 1 KiB on the stack written before the refusal: the
     * caller frees the grown buffer (LSan and valgrind would see a leak). */
    json_t *arr = json_array();
    for (int i = 0; i < 500; i++)
        json_array_append_new(arr, json_integer(1000000 + i));
    json_array_append_new(arr, json_stringn_nocheck("\xff", 1));
    weft_client_response_t *r = (weft_client_response_t *)arr;
    ck_assert_err(weft_session_request_json(NULL, "POST", "http://127.0.0.1/",
                                            arr, NULL, &r),
                  -EINVAL);
    ck_assert_ptr_null(r);
    json_decref(arr);
}
END_TEST

START_TEST(big) {
    /* past the buffer on the stack: in a string, and in many values */
    size_t n = 100000;
    char *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(i % 97 == 0 ? '\n' : 'a' + i % 26);
    json_t *v = json_stringn(s, n);
    same(v);
    weft__json_out_t o;
    weft__json_out_init(&o);
    ck_assert_ok(weft__json_dump(v, &o));
    ck_assert_ptr_ne(o.p, o.small);
    weft__json_out_free(&o);
    ck_assert_ptr_eq(o.p, o.small);
    json_decref(v);
    free(s);
    json_t *a = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(a, json_pack("{s:i, s:f}", "i", i, "f", i / 7.0));
    same_new(a);
}
END_TEST

/* ---- random trees ------------------------------------------------------------------ */

static uint64_t seed = 0x9e3779b97f4a7c15u;

static unsigned rnd(unsigned n) {
    return test_rnd(&seed, n);
}

/* A string of up to 20 pieces: ASCII, controls, quotes, UTF-8. */
static size_t rnd_text(char *buf) {
    static const char *const pieces[] = {
        "a", "Z", " ", "/", "\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf",
        "0123456789abcdef", "\b", "\f", "\r"};
    size_t len = 0, k = rnd(21);
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        memcpy(buf + len, p, l);
        len += l;
    }
    if (rnd(8) == 0)
        buf[len++] = '\0'; /* a NUL inside */
    return len;
}

static json_t *rnd_value(int depth) {
    char buf[512];
    switch (rnd(depth > 6 ? 7 : 9)) {
    case 0: return json_null();
    case 1: return rnd(2) ? json_true() : json_false();
    case 2: return json_integer((json_int_t)(seed >> (1 + rnd(63))) * (rnd(2) ? 1 : -1));
    case 3: return json_real((double)(int64_t)seed / (double)(1 + rnd(1000000)));
    case 4:
    case 5:
    case 6: return json_stringn(buf, rnd_text(buf));
    case 7: {
        json_t *a = json_array();
        for (unsigned i = rnd(6); i > 0; i--)
            json_array_append_new(a, rnd_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = rnd(6); i > 0; i--) {
            size_t n = rnd_text(buf);
            json_object_setn_new(o, buf, n, rnd_value(depth + 1));
        }
        return o;
    }
    }
}

START_TEST(random_trees) {
    for (int i = 0; i < 3000; i++)
        same_new(rnd_value(0));
}
END_TEST

int main(void) {
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("dump");
    tcase_add_test(tc, scalars);
    tcase_add_test(tc, strings);
    tcase_add_test(tc, containers);
    tcase_add_test(tc, deep);
    tcase_add_test(tc, loops);
    tcase_add_test(tc, bad_utf8);
    tcase_add_test(tc, big);
    tcase_add_test(tc, a_refused_value_past_the_stack_buffer_frees_the_heap_one);
    tcase_add_test(tc, random_trees);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
