/* weft/httpmsg.h - the message helpers the HTTP server and client share:
 * request targets and URLs (RFC 9112 3.2, RFC 3986), percent-encoding and
 * the server's path normalisation, query strings and form bodies, header
 * field lookup, lists and parameters (RFC 9110 5.6), content-coding
 * negotiation, cookies (RFC 6265) and HTTP dates (RFC 9110 5.6.7).
 *
 * None of this needs a loop, allocates, or keeps state between calls:
 * every function works on bytes the caller owns and writes into buffers
 * the caller supplies, so all of it is thread-safe and may be called from
 * any thread. Parsers return spans (weft/http1.h) into their input, valid
 * as long as that input is. Wire data is passed as (pointer, length) and
 * need not be NUL-terminated; names the program supplies (a field name, a
 * query key, a cookie name) are C strings.
 *
 * Writers return the length written (excluding the terminating NUL, which
 * they always add) or -ENOSPC when the buffer is too small, in which case
 * the buffer's contents are unspecified. Bad input is -EINVAL, never a
 * crash: every parser here is fuzzed (fuzz/http_*.c).
 */
#ifndef WEFT_HTTPMSG_H
#define WEFT_HTTPMSG_H

#include <sys/types.h>
#include <time.h>

#include "http1.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- URLs (RFC 3986) --------------------------------------------------- */

/* A URI or relative reference, split into its components (RFC 3986 3).
 * Each span points into the string that was parsed (or, for
 * weft_url_resolve, into the caller's buffer). A component that is absent
 * has ptr NULL; one that is present but empty ("http://h/?" has an empty
 * query) has ptr set and len 0. Delimiters are not part of the spans:
 * scheme without ':', userinfo without '@', port without ':', query
 * without '?', fragment without '#'. The path is always set (possibly
 * empty). Nothing is decoded: spans hold the bytes as written, percent
 * escapes included. */
typedef struct weft_url {
    weft_span_t scheme;   /* absent: a relative reference */
    weft_span_t userinfo; /* "user:password" */
    weft_span_t host;     /* absent: no authority; IPv6 without brackets */
    weft_span_t port;     /* digits as written; may be present but empty */
    weft_span_t path;
    weft_span_t query;
    weft_span_t fragment;
    int port_num;         /* 0..65535, or -1: no port or an empty one */
    unsigned flags;       /* WEFT_URL_* */
} weft_url_t;

enum {
    /* The host was an IP literal in brackets: "[::1]" (host "::1") or
     * "[fe80::1%25eth0]" (host "fe80::1%25eth0", an RFC 6874 zone). */
    WEFT_URL_IPV6 = 1u << 0,
};

/* Parse a URI or relative reference (RFC 3986 4.1) of n bytes at s into
 * *u. The scheme must be ALPHA *(ALPHA / DIGIT / "+" / "-" / "."); the
 * first segment of a relative path may not contain ':' (write "./a:b").
 * The host is a reg-name (ASCII letters, digits, unreserved, sub-delims,
 * percent escapes), an IPv4 address, or a bracketed IPv6 address
 * optionally with an RFC 6874 zone ("%25" 1*(unreserved / escape));
 * IPvFuture literals and hosts with bytes >= 0x80 (IDNs: send them as
 * punycode) are refused. The port is at most 65535. Controls, space, DEL
 * and malformed percent escapes are refused anywhere; bytes >= 0x80 and
 * the printable characters RFC 3986 leaves out (" < > [ \ ] ^ ` { | })
 * are tolerated in userinfo, path, query and fragment, as browsers send
 * them ("?filter[a]=1") and servers accept them. The parse is generic:
 * the scheme is not looked at (a client checks for "http"/"https" and a
 * host itself).
 * Returns 0, or -EINVAL (malformed; *u is then unspecified). */
WEFT_EXPORT int weft_url_parse(weft_url_t *u, const char *s, size_t n);

/* Resolve the reference ref against the absolute URI base (RFC 3986 5.2:
 * what a client does with a redirect's Location). The result is written
 * into buf (cap bytes, NUL-terminated) and *out describes it, its spans
 * pointing into buf. Dot segments are removed from the result's path as
 * 5.2.4 says ("../../../g" against "http://a/b/c/d" gives "http://a/g"),
 * and a fragment is taken from ref only (a client following a redirect
 * keeps the original fragment when Location has none, RFC 9110 10.2.2: its
 * choice). Without an authority, a path that would start with "//" is
 * written "/.//..." so that it does not read back as one. buf must hold
 * the result before its dot segments are removed. Returns the length of
 * the result, -EINVAL if base has no scheme (or the parts, built by hand,
 * do not parse), -ENOSPC if buf is too small. base, ref and buf must not
 * overlap. */
WEFT_EXPORT ssize_t weft_url_resolve(const weft_url_t *base,
                                     const weft_url_t *ref, char *buf,
                                     size_t cap, weft_url_t *out);

/* Write u back as a string (RFC 3986 5.3) into buf (cap bytes,
 * NUL-terminated): scheme ":", "//" userinfo "@" host ":" port, path,
 * "?" query, "#" fragment, each part only if present (its ptr not NULL),
 * an IPv6 host (WEFT_URL_IPV6) in brackets. The port is written from the
 * port span (port_num is not read). The components are written as they
 * are, not encoded: build them with weft_pct_encode. A URL parsed by
 * weft_url_parse is written back byte for byte. Returns the length, or
 * -ENOSPC, or -EINVAL if the parts cannot form a URL that would parse
 * back to them (a path that does not start with '/' after an authority, a
 * path starting with "//" without one, a port that is not digits up to
 * 65535). */
WEFT_EXPORT ssize_t weft_url_serialize(const weft_url_t *u, char *buf,
                                       size_t cap);

/* The host of u as net.h's functions take it (weft_open_connection):
 * percent escapes decoded, ASCII letters lowercased, brackets off, an IPv6
 * zone as "%eth0". Written into buf (cap bytes, NUL-terminated). Returns
 * the length, -ENOENT if u has no host or an empty one, -EINVAL if it
 * decodes to a NUL or to something no resolver takes (a '/', ':' outside
 * an IPv6 literal), -ENOSPC. */
WEFT_EXPORT ssize_t weft_url_host(const weft_url_t *u, char *buf, size_t cap);

/* The port of a scheme (case-insensitive): 80 for http and ws, 443 for
 * https and wss; -1 for any other or an absent one. */
WEFT_EXPORT int weft_url_default_port(weft_span_t scheme);

/* ---- request targets (RFC 9112 3.2) ------------------------------------ */

enum weft_http_target_form {
    WEFT_HTTP_TARGET_ORIGIN = 1, /* "/path?query": the usual one */
    WEFT_HTTP_TARGET_ABSOLUTE,   /* "http://host/path?query": to proxies */
    WEFT_HTTP_TARGET_AUTHORITY,  /* "host:port": CONNECT only */
    WEFT_HTTP_TARGET_ASTERISK,   /* "*": server-wide OPTIONS only */
};

/* A request target, parsed. form says which of the four it was; url holds
 * its parts (spans into the target): for origin-form a path starting with
 * '/' and maybe a query; for absolute-form scheme, host, maybe port,
 * path (possibly empty: it means "/") and query; for authority-form host
 * and port; for asterisk-form nothing but the path "*". */
typedef struct weft_http_target {
    int form; /* enum weft_http_target_form */
    weft_url_t url;
} weft_http_target_t;

/* Parse the request target s (n bytes) of a request with the given method
 * (method_len bytes, case-sensitive as methods are): CONNECT takes only
 * authority-form (uri-host ":" port, the port required, no userinfo);
 * every other method takes origin-form or absolute-form, and OPTIONS also
 * "*". Absolute-form needs a scheme and a non-empty host (RFC 9110 4.2.1
 * for http and https; any scheme is parsed, the server decides which it
 * serves) and refuses userinfo (RFC 9110 4.2.4). A fragment is refused in
 * every form (no '#' belongs in a request target). Byte rules are
 * weft_url_parse's. Returns 0 or -EINVAL (a server answers 400). */
WEFT_EXPORT int weft_http_target_parse(weft_http_target_t *t,
                                       const char *method, size_t method_len,
                                       const char *s, size_t n);

/* ---- percent-encoding (RFC 3986 2.1) ----------------------------------- */

enum {
    /* '+' decodes to a space (application/x-www-form-urlencoded). */
    WEFT_PCT_PLUS = 1u << 0,
    /* A '%' not followed by two hex digits is kept as it is instead of
     * refused (as browsers and WHATWG's form decoding do). */
    WEFT_PCT_LENIENT = 1u << 1,
};

/* Decode the percent escapes of s (n bytes) into out (cap bytes, NUL-
 * terminated; out may be s itself to decode in place, which always fits
 * when cap > n). flags: WEFT_PCT_*. A NUL, raw or as %00, is refused:
 * decoded text goes into C strings, file names and header values.
 * Returns the decoded length, -EINVAL (a NUL, or a malformed escape
 * without WEFT_PCT_LENIENT), -ENOSPC. */
WEFT_EXPORT ssize_t weft_pct_decode(char *out, size_t cap, const char *s,
                                    size_t n, unsigned flags);

/* Which bytes weft_pct_encode leaves as they are; every other byte becomes
 * %XX (upper-case hex). All keep RFC 3986's unreserved characters (ALPHA
 * DIGIT "-" "." "_" "~"). */
enum weft_pct_set {
    /* Unreserved only: a value that goes anywhere (a path segment, a query
     * key or value, a userinfo part, a cookie value). */
    WEFT_PCT_COMPONENT = 1,
    /* A path segment: pchar (unreserved, sub-delims, ':' '@'); '/' and
     * '?' are encoded. */
    WEFT_PCT_SEGMENT,
    /* A whole path: pchar and '/'. */
    WEFT_PCT_PATH,
    /* A whole query or fragment: pchar, '/' and '?' ('&', '=' and '+'
     * are kept: encode keys and values with WEFT_PCT_FORM). */
    WEFT_PCT_QUERY,
    /* application/x-www-form-urlencoded (WHATWG URL 5.2): ALPHA DIGIT
     * "*" "-" "." "_" kept, space as '+', everything else escaped
     * ('~' included, as browsers do). Decode with WEFT_PCT_PLUS. */
    WEFT_PCT_FORM,
};

/* Percent-encode s (n bytes) into out (cap bytes, NUL-terminated) with
 * the given set. out and s must not overlap. weft_pct_decode of the
 * result (with WEFT_PCT_PLUS for WEFT_PCT_FORM) gives s back. Returns the
 * encoded length, -ENOSPC, or -EINVAL (an unknown set). */
WEFT_EXPORT ssize_t weft_pct_encode(char *out, size_t cap, const char *s,
                                    size_t n, int set);

/* ---- the server's path normalisation ----------------------------------- */

enum {
    /* Runs of '/' count as one ("//a///b" is "/a/b"), as nginx's
     * merge_slashes does. */
    WEFT_PATH_MERGE_SLASHES = 1u << 0,
    /* A ".." that would go above the root is refused (-EINVAL) instead of
     * staying at the root as RFC 3986 5.2.4 does ("/../a" is "/a"). */
    WEFT_PATH_REJECT_ESCAPE = 1u << 1,
    /* Write plain bytes: every escape decoded, '%' included. An encoded
     * slash could then not be told from a real one, so %2F is refused
     * (-EINVAL). For mapping a path to files. */
    WEFT_PATH_PLAIN = 1u << 2,
};

/* Normalise the path of a request target (s, n bytes, starting with '/';
 * empty counts as "/") for routing and file lookup, into out (cap bytes,
 * NUL-terminated; out may be s itself, and the result never needs more
 * than n + 1 bytes, or 2 for an empty s). The path is split into segments
 * at its real slashes, each segment percent-decoded, then dot segments
 * removed (RFC 3986 5.2.4): a segment that decodes to "." or ".." is a dot
 * segment however it was written, so "/static/%2e%2e/etc" is "/etc" and
 * can never leave a root; the result holds no "." or ".." segment.
 * Without WEFT_PATH_PLAIN, a '/' or '%' inside a segment stays encoded as
 * "%2F" or "%25" (what yarl calls path_safe): "/a%2Fb/c" is one segment
 * "a%2Fb" then "c", distinct from "/a/b/c", and split at '/' then
 * weft_pct_decode each segment to get its bytes; the result is then a
 * valid input again and normalising it changes nothing. flags:
 * WEFT_PATH_*. Returns the length, -EINVAL (not starting with '/', a NUL,
 * a malformed escape, or what a flag refuses), -ENOSPC. */
WEFT_EXPORT ssize_t weft_http_path_normalize(char *out, size_t cap,
                                             const char *s, size_t n,
                                             unsigned flags);

/* ---- query strings and form bodies -------------------------------------- */

/* Iterates the "key=value" pairs of a query string or an
 * application/x-www-form-urlencoded body, separated by '&' (';' is not a
 * separator: WHATWG, and Python since 3.9.2 for the cache-poisoning it
 * allowed). Empty pairs ("a=1&&b=2") are skipped; a pair without '='
 * has an empty value. Initialise with weft_query_init. */
typedef struct weft_query_iter {
    const char *p, *end;
} weft_query_iter_t;

/* Start iterating the query s (n bytes, without the '?'). */
WEFT_EXPORT void weft_query_init(weft_query_iter_t *it, const char *s,
                                 size_t n);

/* The next pair: *key and *value are set to the raw, still encoded bytes
 * (decode them with weft_pct_decode(..., WEFT_PCT_PLUS), in place if you
 * own the buffer). Returns 1, or 0 at the end. */
WEFT_EXPORT int weft_query_next(weft_query_iter_t *it, weft_span_t *key,
                                weft_span_t *value);

/* The value of the first pair of the query s (n bytes) whose decoded key
 * is key, decoded (WEFT_PCT_PLUS | WEFT_PCT_LENIENT) into out (cap bytes,
 * NUL-terminated). Returns the value's length, -ENOENT if no pair has that
 * key, -EINVAL if the value holds a NUL, -ENOSPC. */
WEFT_EXPORT ssize_t weft_query_get(const char *s, size_t n, const char *key,
                                   char *out, size_t cap);

/* Append the pair key=value (kn and vn bytes, plain) to the query or form
 * body being built in buf, which holds len bytes so far: a '&' first when
 * len > 0, then key and value encoded with WEFT_PCT_FORM; NUL-terminated.
 * Returns the new length, or -ENOSPC (buf then holds its first len bytes
 * again, NUL-terminated, so a caller can stop there). */
WEFT_EXPORT ssize_t weft_query_append(char *buf, size_t cap, size_t len,
                                      const char *key, size_t kn,
                                      const char *value, size_t vn);

/* ---- header fields (RFC 9110 5) ----------------------------------------- */

/* The index of the first field at or after index `from` whose name is
 * `name` (ASCII case-insensitive), among the n fields at f. Start with
 * from 0, and from i + 1 for the next occurrence. Returns the index, or
 * -ENOENT. */
WEFT_EXPORT ssize_t weft_http_field_find(const weft_http_field_t *f, size_t n,
                                         const char *name, size_t from);

/* How many of the n fields at f are named `name`. */
WEFT_EXPORT size_t weft_http_field_count(const weft_http_field_t *f,
                                         size_t n, const char *name);

/* Whether any field named `name` has `token` (case-insensitive) among
 * the elements of its comma-separated value, parameters aside:
 * "Connection: keep-alive, Upgrade" has "upgrade"; "Transfer-Encoding:
 * gzip, chunked" has "chunked". Elements after a malformed one (an
 * unterminated quoted string) are not looked at. */
WEFT_EXPORT bool weft_http_field_has_token(const weft_http_field_t *f,
                                           size_t n, const char *name,
                                           const char *token);

/* Whether s (n bytes, n > 0) is a token (RFC 9110 5.6.2): a method, a
 * field name, a coding, a parameter name. */
WEFT_EXPORT bool weft_http_is_token(const char *s, size_t n);

/* Iterates the elements of a comma-separated list value (RFC 9110 5.6.1):
 * `#element` with optional whitespace around the commas, empty elements
 * skipped ("a, , b" has two), commas inside quoted strings not separators
 * ("a; p=\"x,y\", b" has two). Initialise with weft_http_list_init. */
typedef struct weft_http_list_iter {
    const char *p, *end;
} weft_http_list_iter_t;

/* Start iterating the field value s (n bytes). */
WEFT_EXPORT void weft_http_list_init(weft_http_list_iter_t *it,
                                     const char *s, size_t n);

/* The next element, without surrounding whitespace, into *elem (a span of
 * the value, parameters included). Returns 1, 0 at the end, or -EINVAL
 * for a quoted string that does not end (or ends in a lone backslash);
 * the iteration is then over. */
WEFT_EXPORT int weft_http_list_next(weft_http_list_iter_t *it,
                                    weft_span_t *elem);

/* Iterates the parameters of one element: `value *( OWS ";" OWS
 * [ name "=" ( token / quoted-string ) ] )` (RFC 9110 5.6.6), as in
 * `text/html; charset="utf-8"` or `gzip;q=0.5`. */
typedef struct weft_http_param_iter {
    const char *p, *end;
} weft_http_param_iter_t;

/* Split the element s (n bytes) into its leading value (*value: up to
 * the first ';' outside a quoted string, without surrounding whitespace;
 * "text/html", "gzip", "max-age=60") and its parameters, which it then
 * iterates. Returns 0, or -EINVAL for an unterminated quoted string. */
WEFT_EXPORT int weft_http_params_init(weft_http_param_iter_t *it,
                                      const char *s, size_t n,
                                      weft_span_t *value);

/* The next parameter: *name (a token) and *value as written (a token, or
 * a quoted string with its quotes: weft_http_unquote it). Empty
 * parameters ("a;;b=1") are skipped. Returns 1, 0 at the end, or -EINVAL
 * (no '=', whitespace around it, a name or value that is not a token or
 * quoted string; the iteration is then over). */
WEFT_EXPORT int weft_http_params_next(weft_http_param_iter_t *it,
                                      weft_span_t *name, weft_span_t *value);

/* The value, as written, of the first parameter named `name`
 * (case-insensitive) of the element s (n bytes). Returns 0, -ENOENT, or
 * -EINVAL (a malformed parameter before it). */
WEFT_EXPORT int weft_http_param_get(const char *s, size_t n, const char *name,
                                    weft_span_t *value);

/* Write the text of a token or quoted string s (n bytes): a token as it
 * is, a quoted string without its quotes and with its quoted-pairs ("\x")
 * undone. Into out (cap bytes, NUL-terminated; out may be s). Returns the
 * length, -EINVAL (neither a token nor a well-formed quoted string, or a
 * NUL), -ENOSPC. */
WEFT_EXPORT ssize_t weft_http_unquote(char *out, size_t cap, const char *s,
                                      size_t n);

/* A quality value (RFC 9110 12.4.2: "0", "0.5", "1.000") in thousandths:
 * 0..1000. Returns it, or -EINVAL (anything else: "1.5", "0.0001", ".5",
 * "-1"). */
WEFT_EXPORT int weft_http_qvalue(const char *s, size_t n);

/* Choose a content coding for a response (RFC 9110 12.5.3) from the
 * request's Accept-Encoding fields among the n fields at f. codings are
 * the ncodings the server can produce, in its order of preference, and
 * may include "identity" (sending the content as it is) where that is an
 * option. Each is acceptable with the q of its own element, else of "*",
 * else not at all; "x-gzip" counts as "gzip". "identity" not named by
 * either is acceptable (unless "*;q=0") but least preferred: a client
 * that says "gzip;q=0.5" gets gzip. The result is the acceptable coding
 * with the highest q, ties going to the earlier in codings. Without any Accept-Encoding field the answer is
 * "identity" if offered (as nginx, a client that asks for nothing gets
 * nothing compressed), else codings[0]. Malformed elements are skipped.
 * Returns an index into codings, or -ENOENT if none is acceptable (a
 * server answers 406 or sends identity anyway). */
WEFT_EXPORT int weft_http_choose_encoding(const weft_http_field_t *f,
                                          size_t n,
                                          const char *const *codings,
                                          size_t ncodings);

/* ---- cookies (RFC 6265) ------------------------------------------------- */

/* Iterates the pairs of a Cookie header value ("a=1; b=2"), which
 * browsers fill with whatever servers set: pairs are split at ';', name
 * and value at the first '=' and trimmed of spaces and tabs. A pair with
 * no '=' has an empty name (browsers' nameless cookie); empty pairs, and
 * pairs with neither name nor value ("="), are skipped. Values are as sent, double quotes included (RFC 6265 4.1.1
 * makes them part of the value). Initialise with weft_cookie_init. */
typedef struct weft_cookie_iter {
    const char *p, *end;
} weft_cookie_iter_t;

/* Start iterating the Cookie value s (n bytes). */
WEFT_EXPORT void weft_cookie_init(weft_cookie_iter_t *it, const char *s,
                                  size_t n);

/* The next pair into *name and *value (spans of the header). Returns 1,
 * or 0 at the end. */
WEFT_EXPORT int weft_cookie_next(weft_cookie_iter_t *it, weft_span_t *name,
                                 weft_span_t *value);

/* The value of the first cookie named `name` (case-sensitive, as cookie
 * names are) in the Cookie value s (n bytes). Returns 0 or -ENOENT. */
WEFT_EXPORT int weft_cookie_get(const char *s, size_t n, const char *name,
                                weft_span_t *value);

enum {
    WEFT_COOKIE_SECURE = 1u << 0,      /* Secure */
    WEFT_COOKIE_HTTPONLY = 1u << 1,    /* HttpOnly */
    WEFT_COOKIE_EXPIRES = 1u << 2,     /* expires is set */
    WEFT_COOKIE_MAX_AGE = 1u << 3,     /* max_age is set */
    WEFT_COOKIE_PARTITIONED = 1u << 4, /* Partitioned (CHIPS) */
};

enum weft_cookie_samesite {
    WEFT_SAMESITE_UNSET = 0, /* no (valid) SameSite attribute */
    WEFT_SAMESITE_STRICT,
    WEFT_SAMESITE_LAX,
    WEFT_SAMESITE_NONE,
};

/* A Set-Cookie header: what the client's jar gets from
 * weft_set_cookie_parse, and what the server gives weft_set_cookie_write.
 * Spans absent (ptr NULL) mean the attribute is not there. */
typedef struct weft_set_cookie {
    weft_span_t name, value;
    weft_span_t domain; /* parsed: without a leading '.', not lowercased */
    weft_span_t path;   /* parsed: only if it starts with '/' */
    time_t expires;     /* with WEFT_COOKIE_EXPIRES */
    int64_t max_age;    /* seconds, with WEFT_COOKIE_MAX_AGE */
    unsigned flags;     /* WEFT_COOKIE_* */
    int samesite;       /* enum weft_cookie_samesite */
} weft_set_cookie_t;

/* Parse a Set-Cookie value s (n bytes) into *c as a user agent does (RFC
 * 6265 5.2, with RFC 6265bis's limits): name and value before the first
 * ';', split at the first '=' and trimmed; then attributes, names
 * case-insensitive, the last of each kind winning: Expires (the cookie-
 * date algorithm of weft_cookie_date_parse; a date that does not parse is
 * ignored), Max-Age (an optional '-' and digits, else ignored; saturating
 * at INT64 limits), Domain (a leading '.' dropped; empty: ignored), Path
 * (ignored unless it starts with '/': the jar then uses the request's
 * default path), Secure, HttpOnly, SameSite (Strict / Lax / None, else
 * ignored), Partitioned; unknown attributes ignored. Spans point into s.
 * Storing the cookie (Max-Age over Expires, domain matching, the public
 * suffix list) is the jar's business. Returns 0, -EINVAL (no '=' or an
 * empty name: the header is to be ignored, RFC 6265 5.2 steps 2 and 5; or
 * a control character other than tab anywhere, RFC 6265bis 5.6), or
 * -E2BIG (name and value over 4096 bytes together: ignored, RFC 6265bis
 * 5.6; an attribute whose value is over 1024 bytes is ignored alone). */
WEFT_EXPORT int weft_set_cookie_parse(weft_set_cookie_t *c, const char *s,
                                      size_t n);

/* Write the Set-Cookie value for c (the part after "Set-Cookie: ", no
 * CRLF) into buf (cap bytes, NUL-terminated): "name=value", then Expires
 * (IMF-fixdate), Max-Age, Domain, Path, Secure, HttpOnly, SameSite,
 * Partitioned as c has them. Refuses (-EINVAL) anything a browser would
 * misread or that could split the response: a name that is not a token;
 * a value with bytes outside cookie-octet (controls, space, '"', ',',
 * ';', '\\', >= 0x80; a value wholly in double quotes is fine), which
 * weft_pct_encode(WEFT_PCT_COMPONENT) avoids; a domain that is not
 * labels of letters, digits and '-' between single dots (no leading dot:
 * browsers drop it, RFC 6265 5.2.3); a path that does not start with '/'
 * or holds controls, bytes >= 0x80 or ';'; a negative
 * max_age; SameSite=None without Secure, and Partitioned without Secure
 * (browsers drop both). Returns the length, -EINVAL, -ENOSPC, or -ERANGE
 * (expires outside years 1601..9999). */
WEFT_EXPORT ssize_t weft_set_cookie_write(char *buf, size_t cap,
                                          const weft_set_cookie_t *c);

/* ---- dates (RFC 9110 5.6.7, RFC 6265 5.1.1) ----------------------------- */

/* The length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT". */
#define WEFT_HTTP_DATE_LEN 29

/* Write the time t (seconds since the epoch, UTC) as an IMF-fixdate into
 * buf (cap bytes, at least WEFT_HTTP_DATE_LEN + 1; NUL-terminated).
 * No locale, no time zone, no lock: any thread. Returns
 * WEFT_HTTP_DATE_LEN, -ENOSPC, or -ERANGE (a year outside 0..9999). */
WEFT_EXPORT ssize_t weft_http_date_write(char *buf, size_t cap, time_t t);

/* Parse an HTTP-date (s, n bytes, nothing around it) into *out: an
 * IMF-fixdate, or one of the obsolete forms a recipient must accept, RFC
 * 850 ("Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year that would be
 * more than 50 years in the future is taken in the past century, RFC 9110
 * 5.6.7) or asctime ("Sun Nov  6 08:49:37 1994"). Case-sensitive, as the
 * grammar is. The day name must be a day name but need not match the date
 * (as Go and Python, a wrong one does not make the date useless). Fields
 * are range-checked (day valid for its month and year, hour 0..23, minute
 * 0..59, second 0..60: a leap second, 23:59:60, reads as the second after
 * 23:59:59 as POSIX time counts). Returns 0 or -EINVAL. */
WEFT_EXPORT int weft_http_date_parse(const char *s, size_t n, time_t *out);

/* Parse a cookie date (the Expires attribute) with RFC 6265 5.1.1's
 * algorithm, which accepts what servers really send: tokens split at
 * delimiters, the first time (h:m:s), day of month (1-2 digits), month
 * (a name's first three letters, any case) and year (2-4 digits; 70..99
 * mean 19xx, 0..69 20xx) found in any order, anything else skipped.
 * Fails (-EINVAL) if one is missing, out of range (day 1..31 and valid for
 * the month, year >= 1601, hour <= 23, minute and second <= 59: no leap
 * second here). Returns 0 with the time in *out, or -EINVAL. */
WEFT_EXPORT int weft_cookie_date_parse(const char *s, size_t n, time_t *out);

#ifdef __cplusplus
}
#endif
#endif
