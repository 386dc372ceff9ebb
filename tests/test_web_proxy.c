/* The PROXY protocol parser (v1 and v2, valid, cut short and malformed)
 * and the sets of trusted networks, on their own (weft/web_proxy.h). The
 * server-level tests (real headers sent to a listener with the hook,
 * Forwarded from trusted and untrusted peers) are in test_web_lb.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "support.h"

#include <weft/web_proxy.h>

static weft_proxy_info_t info;

static int parse(const void *buf, size_t len) {
    return weft_proxy_parse(&info, buf, len);
}

static int parse_str(const char *s) {
    return parse(s, strlen(s));
}

/* Every proper prefix of a valid header is "need more". */
static void assert_prefixes_again(const void *buf, size_t len) {
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(parse(buf, i) == -EAGAIN, "prefix %zu of %zu: %d", i,
                      len, parse(buf, i));
}

static void assert_in(const struct sockaddr_storage *ss, socklen_t len,
                      int family, const char *text, unsigned port) {
    char got[INET6_ADDRSTRLEN];
    ck_assert_int_eq(ss->ss_family, family);
    if (family == AF_INET) {
        const struct sockaddr_in *s = (const void *)ss;
        ck_assert_uint_eq(len, sizeof *s);
        inet_ntop(AF_INET, &s->sin_addr, got, sizeof got);
        ck_assert_uint_eq(ntohs(s->sin_port), port);
    } else {
        const struct sockaddr_in6 *s = (const void *)ss;
        ck_assert_uint_eq(len, sizeof *s);
        inet_ntop(AF_INET6, &s->sin6_addr, got, sizeof got);
        ck_assert_uint_eq(ntohs(s->sin6_port), port);
    }
    ck_assert_str_eq(got, text);
}

START_TEST(v1_tcp4) {
    const char *h = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    char buf[256];
    snprintf(buf, sizeof buf, "%sGET / HTTP/1.1\r\n\r\n", h);
    ck_assert_int_eq(parse_str(buf), (int)strlen(h));
    ck_assert_int_eq(info.version, 1);
    ck_assert(!info.local);
    ck_assert_int_eq(info.socktype, SOCK_STREAM);
    assert_in(&info.src, info.src_len, AF_INET, "192.168.0.1", 56324);
    assert_in(&info.dst, info.dst_len, AF_INET, "192.168.0.11", 443);
    ck_assert_uint_eq(info.tlv_len, 0);
    assert_prefixes_again(h, strlen(h));
}
END_TEST

START_TEST(v1_tcp6) {
    const char *h = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
    ck_assert_int_eq(parse_str(h), (int)strlen(h));
    assert_in(&info.src, info.src_len, AF_INET6, "2001:db8::1", 0);
    assert_in(&info.dst, info.dst_len, AF_INET6, "::ffff:10.0.0.1", 65535);
    assert_prefixes_again(h, strlen(h));
}
END_TEST

START_TEST(v1_unknown) {
    ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\n"), 15);
    ck_assert(info.local);
    ck_assert_uint_eq(info.src_len, 0);
    /* The worst case of the spec: 107 bytes, UNKNOWN, the rest ignored. */
    const char *h = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 "
                    "65535\r\n";
    ck_assert_int_eq(parse_str(h), (int)strlen(h));
    ck_assert(info.local);
}
END_TEST

START_TEST(v1_malformed) {
    static const char *bad[] = {
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",  /* bare LF */
        "PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n", /* 2 spaces */
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n", /* trailing */
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",     /* a port short */
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n", /* extra */
        "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n", /* port range */
        "PROXY TCP4 192.168.0.1 192.168.0.11 080 443\r\n",   /* leading 0 */
        "PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
        "PROXY TCP4 2001:db8::1 192.168.0.11 1 443\r\n",     /* wrong family */
        "PROXY TCP6 192.168.0.1 2001:db8::1 1 443\r\n",
        "PROXY TCP4 192.168.0.256 192.168.0.11 1 2\r\n",
        "PROXY tcp4 192.168.0.1 192.168.0.11 1 2\r\n",       /* case */
        "PROXY TCP5 192.168.0.1 192.168.0.11 1 2\r\n",
        "PROXY UDP4 192.168.0.1 192.168.0.11 1 2\r\n",
        "PROXY \r\n",
        "PROXY  TCP4 192.168.0.1 192.168.0.11 1 2\r\n",
        "PROXY TCP4 192.168.0.1 192.168.0.11 1 2\r\r\n",     /* bare CR */
        "PROXY UNKNOWN \x01\r\n",                           /* control */
        "PROXYTCP4 1.1.1.1 1.1.1.1 1 2\r\n",
        "proxy TCP4 1.1.1.1 1.1.1.1 1 2\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "\r\n\r\nX", /* not the v2 signature */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(parse_str(bad[i]) == -EPROTO, "'%s': %d", bad[i],
                      parse_str(bad[i]));
    /* A NUL inside the line. */
    ck_assert_int_eq(parse("PROXY UNKNOWN \0\r\n", 17), -EPROTO);
    /* No CRLF within 107 bytes: refused once 107 bytes are there, not
     * waited for. */
    char longer[200];
    memset(longer, 'x', sizeof longer);
    memcpy(longer, "PROXY UNKNOWN ", 14);
    ck_assert_int_eq(parse(longer, 106), -EAGAIN);
    ck_assert_int_eq(parse(longer, 107), -EPROTO);
    ck_assert_int_eq(parse(longer, sizeof longer), -EPROTO);
    /* 106 bytes then CRLF would be 108: too long. */
    memcpy(longer + 106, "\r\n", 2);
    ck_assert_int_eq(parse(longer, 108), -EPROTO);
    memcpy(longer + 105, "\r\n", 2);
    ck_assert_int_eq(parse(longer, 107), 107);
}
END_TEST

/* v2 headers byte for byte as HAProxy's send-proxy-v2 writes them. */
static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static size_t v2(unsigned char *out, unsigned char ver_cmd,
                 unsigned char fam, const void *body, size_t n) {
    memcpy(out, sig, 12);
    out[12] = ver_cmd, out[13] = fam;
    out[14] = (unsigned char)(n >> 8), out[15] = (unsigned char)n;
    if (n) /* body may be NULL: memcpy's arguments must not be (UBSan) */
        memcpy(out + 16, body, n);
    return 16 + n;
}

static const unsigned char tcp4_body[12] = {192, 0, 2, 7,  198, 51,
                                            100, 9, 0xdc, 0x04, 0x01, 0xbb};

START_TEST(v2_tcp4) {
    unsigned char b[64];
    size_t n = v2(b, 0x21, 0x11, tcp4_body, 12);
    memcpy(b + n, "GET", 3);
    ck_assert_int_eq(parse(b, n + 3), (int)n);
    ck_assert_int_eq(info.version, 2);
    ck_assert(!info.local);
    ck_assert_int_eq(info.socktype, SOCK_STREAM);
    assert_in(&info.src, info.src_len, AF_INET, "192.0.2.7", 56324);
    assert_in(&info.dst, info.dst_len, AF_INET, "198.51.100.9", 443);
    ck_assert_uint_eq(info.tlv_len, 0);
    assert_prefixes_again(b, n);
    /* UDP over IPv4. */
    v2(b, 0x21, 0x12, tcp4_body, 12);
    ck_assert_int_eq(parse(b, n), (int)n);
    ck_assert_int_eq(info.socktype, SOCK_DGRAM);
}
END_TEST

START_TEST(v2_tcp6_tlvs) {
    unsigned char body[64] = {0};
    inet_pton(AF_INET6, "2001:db8::7", body);
    inet_pton(AF_INET6, "2001:db8::1", body + 16);
    body[32] = 0x30, body[33] = 0x39; /* 12345 */
    body[34] = 0x00, body[35] = 0x50; /* 80 */
    /* PP2_TYPE_ALPN "h2", then PP2_TYPE_NOOP with 3 bytes of padding. */
    unsigned char tlvs[] = {0x01, 0x00, 0x02, 'h', '2',
                            0x04, 0x00, 0x03, 0,   0, 0};
    memcpy(body + 36, tlvs, sizeof tlvs);
    unsigned char b[128];
    size_t n = v2(b, 0x21, 0x21, body, 36 + sizeof tlvs);
    ck_assert_int_eq(parse(b, n), (int)n);
    assert_in(&info.src, info.src_len, AF_INET6, "2001:db8::7", 12345);
    assert_in(&info.dst, info.dst_len, AF_INET6, "2001:db8::1", 80);
    ck_assert_uint_eq(info.tlv_len, sizeof tlvs);
    const unsigned char *v;
    ck_assert_int_eq(weft_proxy_tlv(&info, 0x01, &v), 2);
    ck_assert(memcmp(v, "h2", 2) == 0);
    ck_assert_int_eq(weft_proxy_tlv(&info, 0x04, &v), 3);
    ck_assert_int_eq(weft_proxy_tlv(&info, 0x02, &v), -ENOENT);
    assert_prefixes_again(b, n);
}
END_TEST

START_TEST(v2_unix_local_unspec) {
    unsigned char body[216] = {0};
    strcpy((char *)body, "/run/client.sock");
    strcpy((char *)body + 108, "/run/server.sock");
    unsigned char b[256];
    size_t n = v2(b, 0x21, 0x31, body, 216);
    ck_assert_int_eq(parse(b, n), (int)n);
    const struct sockaddr_un *un = (const void *)&info.src;
    ck_assert_int_eq(un->sun_family, AF_UNIX);
    ck_assert_str_eq(un->sun_path, "/run/client.sock");
    /* LOCAL (HAProxy's health checks): the address block is ignored,
     * whatever it holds. */
    n = v2(b, 0x20, 0x00, NULL, 0);
    ck_assert_int_eq(parse(b, n), 16);
    ck_assert(info.local);
    n = v2(b, 0x20, 0x11, tcp4_body, 5);
    ck_assert_int_eq(parse(b, n), (int)n);
    ck_assert(info.local);
    ck_assert_uint_eq(info.src_len, 0);
    /* PROXY with UNSPEC: no addresses either. */
    n = v2(b, 0x21, 0x00, "xyz", 3);
    ck_assert_int_eq(parse(b, n), 19);
    ck_assert(info.local);
}
END_TEST

START_TEST(v2_malformed) {
    unsigned char b[512];
    size_t n;
    n = v2(b, 0x11, 0x11, tcp4_body, 12); /* version 1 */
    ck_assert_int_eq(parse(b, n), -EPROTO);
    n = v2(b, 0x22, 0x11, tcp4_body, 12); /* command 2 */
    ck_assert_int_eq(parse(b, n), -EPROTO);
    n = v2(b, 0x21, 0x41, tcp4_body, 12); /* family 4 */
    ck_assert_int_eq(parse(b, n), -EPROTO);
    n = v2(b, 0x21, 0x13, tcp4_body, 12); /* protocol 3 */
    ck_assert_int_eq(parse(b, n), -EPROTO);
    n = v2(b, 0x21, 0x10, tcp4_body, 12); /* INET with UNSPEC protocol */
    ck_assert_int_eq(parse(b, n), -EPROTO);
    /* A length too short for the family fails at once, before the body
     * arrives. */
    n = v2(b, 0x21, 0x11, tcp4_body, 11);
    ck_assert_int_eq(parse(b, 16), -EPROTO);
    n = v2(b, 0x21, 0x21, tcp4_body, 12);
    ck_assert_int_eq(parse(b, 16), -EPROTO);
    /* TLVs that overrun the header, or leave bytes over. */
    unsigned char body[20];
    memcpy(body, tcp4_body, 12);
    memcpy(body + 12, "\x01\x00\x05h2", 5);
    n = v2(b, 0x21, 0x11, body, 17);
    ck_assert_int_eq(parse(b, n), -EPROTO);
    memcpy(body + 12, "\x01\x00", 2);
    n = v2(b, 0x21, 0x11, body, 14);
    ck_assert_int_eq(parse(b, n), -EPROTO);
    /* A Unix path without its NUL. */
    unsigned char ubody[216];
    memset(ubody, 'a', sizeof ubody);
    n = v2(b, 0x21, 0x31, ubody, 216);
    ck_assert_int_eq(parse(b, n), -EPROTO);
    /* A signature that goes wrong anywhere is refused as soon as seen. */
    for (size_t i = 0; i < 12; i++) {
        unsigned char s[12];
        memcpy(s, sig, 12);
        s[i] ^= 0x20;
        ck_assert_int_eq(parse(s, i + 1), i == 0 ? -EPROTO : -EPROTO);
    }
    ck_assert_int_eq(parse("", 0), -EAGAIN);
    ck_assert_int_eq(weft_proxy_parse(NULL, "x", 1), -EINVAL);
}
END_TEST

/* ---- trusted sets ---------------------------------------------------------- */

static bool has(const weft_web_trust_t *t, const char *text) {
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *sin = (void *)&ss;
    struct sockaddr_in6 *sin6 = (void *)&ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        len = sizeof *sin;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
        sin6->sin6_family = AF_INET6;
        len = sizeof *sin6;
    }
    return weft_web_trust_has(t, (struct sockaddr *)&ss, len);
}

START_TEST(trust_sets) {
    weft_web_trust_t *t;
    ck_assert_ok(weft_web_trust_new(
        &t, "10.0.0.0/8, 192.168.1.7 2001:db8::/32,fe80::1  172.16.0.0/12"));
    ck_assert(has(t, "10.1.2.3"));
    ck_assert(has(t, "::ffff:10.1.2.3")); /* dual-stack sockets */
    ck_assert(!has(t, "11.0.0.1"));
    ck_assert(has(t, "192.168.1.7"));
    ck_assert(!has(t, "192.168.1.8"));
    ck_assert(has(t, "172.31.255.255"));
    ck_assert(!has(t, "172.32.0.0"));
    ck_assert(has(t, "2001:db8:1::5"));
    ck_assert(!has(t, "2001:db9::5"));
    ck_assert(has(t, "fe80::1"));
    ck_assert(!has(t, "fe80::2"));
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert(!weft_web_trust_has(t, (struct sockaddr *)&un, sizeof un));
    ck_assert(!weft_web_trust_has(t, NULL, 0));
    weft_web_trust_free(t);

    ck_assert_ok(weft_web_trust_new(&t, "unix"));
    ck_assert(weft_web_trust_has(t, (struct sockaddr *)&un, sizeof un));
    ck_assert(!has(t, "127.0.0.1"));
    weft_web_trust_free(t);

    ck_assert_ok(weft_web_trust_new(&t, "0.0.0.0/0"));
    ck_assert(has(t, "203.0.113.9"));
    ck_assert(!has(t, "2001:db8::1"));
    weft_web_trust_free(t);
    ck_assert_ok(weft_web_trust_new(&t, ""));
    ck_assert(!has(t, "127.0.0.1"));
    weft_web_trust_free(t);

    logcap_start();
    static const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "::/129",
                                "10.0.0.0/", "10.0.0.0/08", "host.example",
                                "10.0.0.0/8x", "1.2.3", "unix2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(weft_web_trust_new(&t, bad[i]) == -EINVAL, "%s",
                      bad[i]);
    ck_assert_logged((int)(sizeof bad / sizeof bad[0]), "unix2");
    logcap_stop();
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("web_proxy");
    TCase *tc = tcase_create("proxy");
    tcase_add_test(tc, v1_tcp4);
    tcase_add_test(tc, v1_tcp6);
    tcase_add_test(tc, v1_unknown);
    tcase_add_test(tc, v1_malformed);
    tcase_add_test(tc, v2_tcp4);
    tcase_add_test(tc, v2_tcp6_tlvs);
    tcase_add_test(tc, v2_unix_local_unspec);
    tcase_add_test(tc, v2_malformed);
    tcase_add_test(tc, trust_sets);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(suite)
