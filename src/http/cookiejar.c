/* The cookie jar: RFC 6265's storage model (section 5.3) and the Cookie
 * header (section 5.4), with RFC 6265bis's rules for Secure cookies (not
 * set from plain http, not overwritten from it). Set-Cookie values are
 * parsed by weft_set_cookie_parse (httpmsg.h); this file decides what to
 * keep and what to send. Cookies live on one list, most recently used
 * first; the jars of HTTP clients are small, and an empty jar costs a
 * request one test. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

#define MAX_PER_DOMAIN 50
#define MAX_TOTAL 3000

int64_t weft__cookie_clock_skew;

struct cookie {
    struct weft__list link;
    char *name, *value, *domain, *path; /* one block, after the struct */
    int64_t expires;                    /* INT64_MAX: a session cookie */
    uint64_t seq;                       /* creation order */
    bool host_only, secure;
};

struct weft_cookie_jar {
    struct weft__list cookies;
    size_t n;
    uint64_t seq;
};

static int64_t jar_now(void) {
    return (int64_t)time(NULL) + weft__cookie_clock_skew;
}

int weft_cookie_jar_new(weft_cookie_jar_t **out) {
    if (!out)
        return -EINVAL;
    weft_cookie_jar_t *j = weft__calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    weft__list_init(&j->cookies);
    *out = j;
    return 0;
}

static void cookie_drop(weft_cookie_jar_t *j, struct cookie *c) {
    weft__list_remove(&c->link);
    weft__free(c);
    j->n--;
}

void weft_cookie_jar_clear(weft_cookie_jar_t *jar) {
    if (!jar)
        return;
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &jar->cookies) {
        cookie_drop(jar, WEFT__CONTAINER_OF(pos, struct cookie, link));
    }
}

void weft_cookie_jar_free(weft_cookie_jar_t *jar) {
    if (!jar)
        return;
    weft_cookie_jar_clear(jar);
    weft__free(jar);
}

size_t weft_cookie_jar_count(weft_cookie_jar_t *jar) {
    if (!jar)
        return 0;
    int64_t now = jar_now();
    size_t n = 0;
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &jar->cookies) {
        struct cookie *c = WEFT__CONTAINER_OF(pos, struct cookie, link);
        if (c->expires <= now)
            cookie_drop(jar, c);
        else
            n++;
    }
    return n;
}

/* ---- matching (RFC 6265 5.1.3, 5.1.4) ------------------------------------------ */

static bool is_ip(const char *host) {
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || strchr(host, ':') != NULL;
}

static bool domain_match(const char *host, const char *domain) {
    size_t hn = strlen(host), dn = strlen(domain);
    if (hn == dn)
        return strcmp(host, domain) == 0;
    return hn > dn && host[hn - dn - 1] == '.' &&
           strcmp(host + hn - dn, domain) == 0 && !is_ip(host);
}

static bool path_match(const char *req, size_t rn, const char *cpath) {
    size_t cn = strlen(cpath);
    if (cn > rn || memcmp(req, cpath, cn) != 0)
        return false;
    return cn == rn || cpath[cn - 1] == '/' || req[cn] == '/';
}

/* The request's path (without the query), "/" when empty. */
static weft_span_t req_path(const weft_url_t *u) {
    if (u->path.len == 0 || u->path.ptr[0] != '/')
        return (weft_span_t){"/", 1};
    return u->path;
}

/* RFC 6265 5.1.4's default-path: up to the last '/' (not included). */
static weft_span_t default_path(const weft_url_t *u) {
    weft_span_t p = req_path(u);
    size_t last = 0;
    for (size_t i = 0; i < p.len; i++)
        if (p.ptr[i] == '/')
            last = i;
    if (last == 0)
        return (weft_span_t){"/", 1};
    return (weft_span_t){p.ptr, last};
}

static bool secure_scheme(const weft_url_t *u) {
    return weft__hc_span_eq(u->scheme, "https");
}

/* ---- storing ------------------------------------------------------------------- */

/* Make room for one more cookie of `domain`: expired ones go first, then
 * the least recently used of that domain (or of all, at the total). */
static void make_room(weft_cookie_jar_t *j, const char *domain, int64_t now) {
    size_t in_domain = 0;
    struct cookie *lru_dom = NULL, *lru_all = NULL;
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &j->cookies) {
        struct cookie *c = WEFT__CONTAINER_OF(pos, struct cookie, link);
        if (c->expires <= now) {
            cookie_drop(j, c);
            continue;
        }
        lru_all = c; /* the list is most recently used first */
        if (strcmp(c->domain, domain) == 0) {
            in_domain++;
            lru_dom = c;
        }
    }
    if (in_domain >= MAX_PER_DOMAIN && lru_dom)
        cookie_drop(j, lru_dom);
    else if (j->n >= MAX_TOTAL && lru_all)
        cookie_drop(j, lru_all);
}

static char *lower_dup(weft_span_t s) {
    char *p = weft__hc_strndup(s.ptr, s.len);
    for (char *q = p; q && *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    return p;
}

int weft__cookie_jar_update_url(weft_cookie_jar_t *j, const weft_url_t *u,
                                const char *host, const char *value,
                                size_t len) {
    weft_set_cookie_t sc;
    if (weft_set_cookie_parse(&sc, value, len) < 0)
        return -EINVAL;
    int64_t now = jar_now();
    int64_t expires = INT64_MAX;
    if (sc.flags & WEFT_COOKIE_MAX_AGE) {
        /* Max-Age wins over Expires (5.3 step 3); <= 0: already expired. */
        expires = sc.max_age <= 0 ? INT64_MIN
                  : sc.max_age > INT64_MAX - now ? INT64_MAX - 1
                                                  : now + sc.max_age;
    } else if (sc.flags & WEFT_COOKIE_EXPIRES) {
        expires = (int64_t)sc.expires;
    }
    bool secure = sc.flags & WEFT_COOKIE_SECURE;
    if (secure && !secure_scheme(u))
        return 0; /* RFC 6265bis 5.6 step 12 */
    bool host_only = true;
    char *domain;
    if (sc.domain.ptr && sc.domain.len) {
        domain = lower_dup(sc.domain);
        if (!domain)
            return -ENOMEM;
        if (!domain_match(host, domain) ||
            (!strchr(domain, '.') && strcmp(domain, host) != 0)) {
            /* Another domain, or a top-level one ("com"): with no public
             * suffix list, a Domain without a dot is only the host. */
            weft__free(domain);
            return 0;
        }
        host_only = is_ip(host) || !strchr(domain, '.');
    } else {
        domain = weft__hc_strdup(host);
        if (!domain)
            return -ENOMEM;
    }
    weft_span_t path = sc.path.ptr && sc.path.len && sc.path.ptr[0] == '/'
                           ? sc.path
                           : default_path(u);
    /* The cookie it replaces (same name, domain, path), and Secure ones a
     * plain-http cookie must leave alone (RFC 6265bis 5.6 step 13). */
    struct cookie *old = NULL;
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &j->cookies) {
        struct cookie *c = WEFT__CONTAINER_OF(pos, struct cookie, link);
        bool same_name = strlen(c->name) == sc.name.len &&
                         memcmp(c->name, sc.name.ptr, sc.name.len) == 0;
        if (!same_name)
            continue;
        if (c->secure && !secure_scheme(u) &&
            (domain_match(c->domain, domain) ||
             domain_match(domain, c->domain)) &&
            path_match(path.ptr, path.len, c->path)) {
            weft__free(domain);
            return 0;
        }
        if (strcmp(c->domain, domain) == 0 && strlen(c->path) == path.len &&
            memcmp(c->path, path.ptr, path.len) == 0)
            old = c;
    }
    uint64_t seq = old ? old->seq : ++j->seq;
    if (old)
        cookie_drop(j, old);
    if (expires <= now) {
        weft__free(domain);
        return old ? 1 : 0;
    }
    make_room(j, domain, now);
    size_t dn = strlen(domain);
    struct cookie *c = weft__malloc(sizeof *c + sc.name.len + sc.value.len +
                                    dn + path.len + 4);
    if (!c) {
        weft__free(domain);
        return -ENOMEM;
    }
    char *p = (char *)(c + 1);
    c->name = p;
    memcpy(p, sc.name.ptr, sc.name.len);
    p[sc.name.len] = 0;
    p += sc.name.len + 1;
    c->value = p;
    memcpy(p, sc.value.ptr, sc.value.len);
    p[sc.value.len] = 0;
    p += sc.value.len + 1;
    c->domain = p;
    memcpy(p, domain, dn + 1);
    p += dn + 1;
    c->path = p;
    memcpy(p, path.ptr, path.len);
    p[path.len] = 0;
    weft__free(domain);
    c->expires = expires;
    c->seq = seq;
    c->host_only = host_only;
    c->secure = secure;
    weft__list_push_back(j->cookies.next, &c->link);
    j->n++;
    return 1;
}

/* ---- sending ------------------------------------------------------------------- */

static int by_path_then_age(const void *a, const void *b) {
    const struct cookie *x = *(struct cookie *const *)a;
    const struct cookie *y = *(struct cookie *const *)b;
    size_t xl = strlen(x->path), yl = strlen(y->path);
    if (xl != yl)
        return xl > yl ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The cookies for a request, in the order 5.4 wants, into a block the
 * caller frees (or buf when they fit); *n gets their number. */
static struct cookie **select_cookies(weft_cookie_jar_t *j, const weft_url_t *u,
                                      const char *host, struct cookie **buf,
                                      size_t cap, size_t *n) {
    int64_t now = jar_now();
    weft_span_t rp = req_path(u);
    bool secure = secure_scheme(u);
    struct cookie **sel = buf;
    *n = 0;
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &j->cookies) {
        struct cookie *c = WEFT__CONTAINER_OF(pos, struct cookie, link);
        if (c->expires <= now) {
            cookie_drop(j, c);
            continue;
        }
        if (c->host_only ? strcmp(host, c->domain) != 0
                         : !domain_match(host, c->domain))
            continue;
        if (!path_match(rp.ptr, rp.len, c->path) || (c->secure && !secure))
            continue;
        if (*n == cap) {
            struct cookie **nb = weft__malloc(2 * cap * sizeof *nb);
            if (!nb)
                break;
            memcpy(nb, sel, cap * sizeof *nb);
            if (sel != buf)
                weft__free(sel);
            sel = nb;
            cap *= 2;
        }
        sel[(*n)++] = c;
    }
    /* The first *n entries were written above (cppcheck sees buf, the
     * caller's uninitialised array, and not the writes). */
    /* cppcheck-suppress uninitvar */
    qsort(sel, *n, sizeof *sel, by_path_then_age);
    return sel;
}

ssize_t weft__cookie_jar_header_url(weft_cookie_jar_t *j, const weft_url_t *u,
                                    const char *host, char *out, size_t cap) {
    if (cap)
        out[0] = 0;
    if (j->n == 0)
        return 0;
    struct cookie *small[32];
    size_t n;
    struct cookie **sel = select_cookies(j, u, host, small, 32, &n);
    size_t len = 0;
    ssize_t r = 0;
    for (size_t i = 0; i < n; i++) {
        struct cookie *c = sel[i];
        size_t nl = strlen(c->name), vl = strlen(c->value);
        size_t need = (i ? 2 : 0) + nl + (nl ? 1 : 0) + vl;
        if (need >= cap - len) { /* len < cap: the NUL fits */
            r = -ENOSPC;
            break;
        }
        if (i) {
            memcpy(out + len, "; ", 2);
            len += 2;
        }
        if (nl) {
            memcpy(out + len, c->name, nl);
            out[len + nl] = '=';
            len += nl + 1;
        }
        memcpy(out + len, c->value, vl);
        len += vl;
        out[len] = 0;
        /* Used: to the front (the least recently used go first). */
        weft__list_remove(&c->link);
        weft__list_push_back(j->cookies.next, &c->link);
    }
    if (sel != small)
        weft__free(sel);
    return r ? r : (ssize_t)len;
}

/* ---- the public functions, taking URLs ------------------------------------------- */

static int parse_abs(const char *url, weft_url_t *u, char *host, size_t cap) {
    if (!url || weft_url_parse(u, url, strlen(url)) < 0 ||
        (!weft__hc_span_eq(u->scheme, "http") &&
         !weft__hc_span_eq(u->scheme, "https")) ||
        weft_url_host(u, host, cap) <= 0)
        return -EINVAL;
    return 0;
}

int weft_cookie_jar_update(weft_cookie_jar_t *jar, const char *url,
                           const char *set_cookie, size_t len) {
    weft_url_t u;
    char host[256];
    if (!jar || !set_cookie || parse_abs(url, &u, host, sizeof host) < 0)
        return -EINVAL;
    return weft__cookie_jar_update_url(jar, &u, host, set_cookie, len);
}

ssize_t weft_cookie_jar_header(weft_cookie_jar_t *jar, const char *url,
                               char *buf, size_t cap) {
    weft_url_t u;
    char host[256];
    if (!jar || (!buf && cap) || parse_abs(url, &u, host, sizeof host) < 0)
        return -EINVAL;
    return weft__cookie_jar_header_url(jar, &u, host, buf, cap);
}

ssize_t weft_cookie_jar_value(weft_cookie_jar_t *jar, const char *url,
                              const char *name, char *buf, size_t cap) {
    weft_url_t u;
    char host[256];
    if (!jar || !name || (!buf && cap) ||
        parse_abs(url, &u, host, sizeof host) < 0)
        return -EINVAL;
    struct cookie *small[32];
    size_t n;
    struct cookie **sel = select_cookies(jar, &u, host, small, 32, &n);
    ssize_t r = -ENOENT;
    for (size_t i = 0; i < n && r == -ENOENT; i++) {
        if (strcmp(sel[i]->name, name) != 0)
            continue;
        size_t vl = strlen(sel[i]->value);
        if (vl + 1 > cap) {
            r = -ENOSPC;
        } else {
            memcpy(buf, sel[i]->value, vl + 1);
            r = (ssize_t)vl;
        }
    }
    if (sel != small)
        weft__free(sel);
    return r;
}
