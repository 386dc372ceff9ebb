/* JSON out (json_int.h): the bytes json_dumpb writes with
 * WEFT_WEB_JSON_FLAGS | JSON_ENCODE_ANY, written in one pass.
 *
 * Why not json_dumpb itself: it cannot say how long the text will be
 * without writing it (weft_web_json dumped every value twice, once to
 * measure), and jansson 2.14 checks for loops with a hash table of the
 * containers being written, keyed by snprintf("%p") of each, one malloc
 * and free a container, and formats every integer with snprintf: for ten
 * small objects that was about 48,000 instructions a dump, ~90% of the
 * server's user time on a JSON route. Here there is no table (a loop
 * nests without end: past MAX_DEPTH the value goes to jansson, which
 * finds it), integers are converted by hand and strings are copied in
 * runs. Reals are jansson's own text (json_dump_callback on the real
 * alone), so the output stays byte for byte jansson's; tests/test_json.c
 * compares the two on fixed and random values. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "weft/json.h"

#define FLAGS (WEFT_WEB_JSON_FLAGS | JSON_ENCODE_ANY)

/* Values with containers nested deeper than this are handed whole to
 * jansson: the recursion lives on the caller's (a handler's) stack. That
 * is also how loops are found: a container inside itself nests without
 * end, and jansson, given it, says so. */
#define MAX_DEPTH 32

#define TOO_DEEP (-E2BIG) /* internal: start again with jansson */

void weft__json_out_init(weft__json_out_t *o) {
    o->p = o->small;
    o->len = 0;
    o->cap = sizeof o->small;
}

void weft__json_out_free(weft__json_out_t *o) {
    if (o->p != o->small)
        free(o->p);
    weft__json_out_init(o);
}

static int grow(weft__json_out_t *o, size_t need) {
    if (need > SIZE_MAX / 4 - o->len)
        return -ENOMEM;
    size_t cap = o->cap;
    while (cap - o->len < need)
        cap *= 2;
    char *p;
    if (o->p == o->small) {
        p = malloc(cap);
        if (p)
            memcpy(p, o->small, o->len);
    } else {
        p = realloc(o->p, cap);
    }
    if (!p)
        return -ENOMEM;
    o->p = p;
    o->cap = cap;
    return 0;
}

/* Room for need more bytes. */
static inline int room(weft__json_out_t *o, size_t need) {
    return o->cap - o->len >= need ? 0 : grow(o, need);
}

/* Only after room. */
static inline void put(weft__json_out_t *o, const void *s, size_t n) {
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static inline int put_char(weft__json_out_t *o, char c) {
    if (room(o, 1))
        return -ENOMEM;
    o->p[o->len++] = c;
    return 0;
}

/* The length of the well-formed UTF-8 sequence at u (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF; jansson's
 * rules), of at most left bytes, that starts with a byte >= 0x80; 0 if
 * there is none. */
static size_t utf8_seq(const unsigned char *u, size_t left) {
    unsigned c = u[0];
    if (c < 0xC2 || c > 0xF4)
        return 0; /* a continuation byte, an overlong lead, or too high */
    if (c < 0xE0)
        return left >= 2 && (u[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (left < 3 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && u[1] < 0xA0) || (c == 0xED && u[1] > 0x9F))
            return 0; /* overlong; a surrogate */
        return 3;
    }
    if (left < 4 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80 ||
        (u[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && u[1] < 0x90) || (c == 0xF4 && u[1] > 0x8F))
        return 0; /* overlong; above U+10FFFF */
    return 4;
}

/* 1: a byte written as it is (printable ASCII, and DEL, but '"' and
 * '\\'). */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* n bytes from s to d: short runs (most keys and values) without a call. */
static inline void copy(char *d, const unsigned char *s, size_t n) {
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n) {
        d[0] = (char)s[0];
        d[n / 2] = (char)s[n / 2];
        d[n - 1] = (char)s[n - 1];
    }
}

/* s[0, n) as a JSON string: '"' and '\\' escaped, control characters as
 * \b \f \n \r \t or \u00XX (upper-case hex, as jansson), the rest (valid
 * UTF-8) as it is. Inlined where it is used (keys, values, members): the
 * call's own cost was a fifth of a short string's. */
static inline __attribute__((always_inline)) int
dump_string(weft__json_out_t *o, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t start = o->len;
    if (room(o, n + 2))
        return -ENOMEM;
    /* From here on: room for the rest of the input and the closing
     * quote. */
    char *w = o->p + o->len;
    *w++ = '"';
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    for (;;) {
        const unsigned char *run = u;
        while (u < end) {
            if (plain[*u]) {
                u++;
            } else if (*u >= 0x80) {
                size_t k = utf8_seq(u, (size_t)(end - u));
                if (!k) {
                    o->len = start;
                    return -EINVAL;
                }
                u += k;
            } else {
                break;
            }
        }
        copy(w, run, (size_t)(u - run));
        w += u - run;
        if (u == end)
            break;
        unsigned c = *u++;
        char esc[6] = {'\\', 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        o->len = (size_t)(w - o->p);
        if (room(o, len + (size_t)(end - u) + 1)) {
            o->len = start;
            return -ENOMEM;
        }
        put(o, esc, len);
        w = o->p + o->len;
    }
    *w++ = '"';
    o->len = (size_t)(w - o->p);
    return 0;
}

static int dump_integer(weft__json_out_t *o, json_int_t v) {
    char tmp[24];
    char *e = tmp + sizeof tmp, *q = e;
    unsigned long long m =
        v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--q = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0)
        *--q = '-';
    if (room(o, (size_t)(e - q)))
        return -ENOMEM;
    put(o, q, (size_t)(e - q));
    return 0;
}

/* json_dump_callback into o. */
struct sink {
    weft__json_out_t *o;
    int err;
};

static int to_sink(const char *buf, size_t size, void *data) {
    struct sink *k = data;
    if (room(k->o, size)) {
        k->err = -ENOMEM;
        return -1;
    }
    put(k->o, buf, size);
    return 0;
}

static int jansson_dump(const json_t *v, weft__json_out_t *o) {
    struct sink k = {o, 0};
    if (json_dump_callback(v, to_sink, &k, FLAGS) == 0)
        return 0;
    return k.err ? k.err : -EINVAL;
}

static int dump_value(const json_t *v, weft__json_out_t *o, int depth);

/* dump_value, with strings (the most common members) written in place. */
static inline int dump_member(const json_t *v, weft__json_out_t *o,
                              int depth) {
    if (json_is_string(v))
        return dump_string(o, json_string_value(v), json_string_length(v));
    return dump_value(v, o, depth);
}

static int dump_array(const json_t *v, weft__json_out_t *o, int depth) {
    if (depth >= MAX_DEPTH)
        return TOO_DEEP;
    int r;
    size_t n = json_array_size(v);
    if (put_char(o, '['))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (i && put_char(o, ','))
            return -ENOMEM;
        r = dump_member(json_array_get(v, i), o, depth + 1);
        if (r)
            return r;
    }
    return put_char(o, ']');
}

static int dump_object(const json_t *v, weft__json_out_t *o, int depth) {
    if (depth >= MAX_DEPTH)
        return TOO_DEEP;
    int r;
    json_t *obj = (json_t *)v; /* the iterators take no const */
    if (put_char(o, '{'))
        return -ENOMEM;
    bool first = true;
    for (void *it = json_object_iter(obj); it;
         it = json_object_iter_next(obj, it), first = false) {
        const char *key = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
        size_t key_len = json_object_iter_key_len(it);
#else
        size_t key_len = strlen(key);
#endif
        r = first ? 0 : put_char(o, ',');
        if (r == 0)
            r = dump_string(o, key, key_len);
        if (r == 0)
            r = put_char(o, ':');
        if (r == 0)
            r = dump_member(json_object_iter_value(it), o, depth + 1);
        if (r)
            return r;
    }
    return put_char(o, '}');
}

static int dump_value(const json_t *v, weft__json_out_t *o, int depth) {
    if (!v)
        return -EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(v, o, depth);
    case JSON_ARRAY:
        return dump_array(v, o, depth);
    case JSON_STRING:
        return dump_string(o, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return dump_integer(o, json_integer_value(v));
    case JSON_REAL:
        return jansson_dump(v, o);
    case JSON_TRUE:
        if (room(o, 4))
            return -ENOMEM;
        put(o, "true", 4);
        return 0;
    case JSON_FALSE:
        if (room(o, 5))
            return -ENOMEM;
        put(o, "false", 5);
        return 0;
    case JSON_NULL:
        if (room(o, 4))
            return -ENOMEM;
        put(o, "null", 4);
        return 0;
    }
    return -EINVAL;
}

int weft__json_dump(const json_t *value, weft__json_out_t *o) {
    size_t start = o->len;
    int r = dump_value(value, o, 0);
    if (r == TOO_DEEP) {
        o->len = start;
        r = jansson_dump(value, o);
    }
    if (r)
        o->len = start;
    return r;
}
