/* The application: routes, sub-applications, middlewares and signals,
 * frozen into one router when a runner sets it up. */
#include <stdio.h>
#include <string.h>

#include "web_int.h"
#include "weft/httpmsg.h"

#define VEC_PUSH(vec, item)                                                    \
    vec_push((void **)&(vec).v, &(vec).n, &(vec).cap, sizeof *(vec).v, &(item))

static int vec_push(void **v, size_t *n, size_t *cap, size_t size,
                    const void *item) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        void *nv = weft__realloc(*v, c * size);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    memcpy((char *)*v + *n * size, item, size);
    (*n)++;
    return 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = weft__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int weft_web_app_new(weft_web_app_t **out, const weft_web_app_opts_t *opts) {
    if (!out)
        return -EINVAL;
    weft_web_app_t *app = weft__calloc(1, sizeof *app);
    *out = app;
    if (!app)
        return -ENOMEM;
    if (opts)
        app->opts = *opts;
    app->prefix = dup_str("");
    if (!app->prefix) {
        weft__free(app);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

static void route_free(struct web_route *rt) {
    weft__free(rt->method);
    weft__free(rt->path);
    weft__free(rt->name);
    for (size_t i = 0; i < rt->nvars; i++)
        weft__free(rt->vars[i]);
    weft__free(rt);
}

static void app_free(weft_web_app_t *app) {
    while (app->frees.n) {
        struct web_cb *c = &app->frees.v[--app->frees.n];
        ((void (*)(void *))c->fn)(c->arg);
    }
    weft__free(app->frees.v);
    for (size_t i = 0; i < app->routes.n; i++)
        route_free(app->routes.v[i]);
    for (size_t i = 0; i < app->subs.n; i++) {
        app_free(app->subs.v[i].app);
        weft__free(app->subs.v[i].prefix);
    }
    wr_router_free(app->router);
    weft__free(app->routes.v);
    weft__free(app->subs.v);
    weft__free(app->mws.v);
    weft__free(app->startup.v);
    weft__free(app->shutdown.v);
    weft__free(app->cleanup.v);
    weft__free(app->ctxs.v);
    weft__free(app->prepare.v);
    weft__free(app->sent.v);
    weft__free(app->chain);
    weft__free(app->prep_chain);
    weft__free(app->sent_chain);
    weft__free(app->prefix);
    weft__free(app);
}

int weft_web_app_free(weft_web_app_t *app) {
    if (!app)
        return 0;
    if (atomic_load(&app->users)) {
        weft__log(WEFT_LOG_WARN, "weft_web_app_free: the app is served by a "
                                 "runner (free the runner first)");
        return -EBUSY;
    }
    if (app->parent) {
        weft__log(WEFT_LOG_WARN, "weft_web_app_free: a sub-application is "
                                 "freed with its parent");
        return -EINVAL;
    }
    app_free(app);
    return 0;
}

void *weft_web_app_data(const weft_web_app_t *app) {
    return app ? app->opts.data : NULL;
}

/* The root of app's tree. */
static weft_web_app_t *root_of(weft_web_app_t *app) {
    while (app->parent)
        app = app->parent;
    return app;
}

static int check_open(weft_web_app_t *app, const char *fn) {
    if (!app)
        return -EINVAL;
    if (root_of(app)->frozen) {
        weft__log(WEFT_LOG_WARN, "%s: the app is frozen (a runner set it up)",
                  fn);
        return -EBUSY;
    }
    return 0;
}

static struct web_route *find_name(const weft_web_app_t *app,
                                   const char *name) {
    for (size_t i = 0; i < app->routes.n; i++)
        if (app->routes.v[i]->name && !strcmp(app->routes.v[i]->name, name))
            return app->routes.v[i];
    return NULL;
}

static int route_check_path(const char *path, struct web_route *rt) {
    /* Compile it in a scratch router: the syntax is checked now, not at
     * the freeze, and the variable names are collected. */
    struct wr_router *tmp;
    int err = wr_router_new(&tmp);
    if (err)
        return err;
    struct wr_name names[WR_MAX_VARS];
    size_t n = 0;
    err = wr_router_add(tmp, path, &rt->wr, names, &n);
    for (size_t i = 0; i < n && !err; i++) {
        rt->vars[i] = weft__malloc(names[i].len + 1);
        if (!rt->vars[i]) {
            err = -ENOMEM;
            break;
        }
        memcpy(rt->vars[i], names[i].ptr, names[i].len);
        rt->vars[i][names[i].len] = '\0';
        rt->nvars = i + 1;
    }
    wr_router_free(tmp);
    return err;
}

int weft_web_route(weft_web_app_t *app, const char *method,
                   const char *path, weft_web_handler_fn fn, void *arg,
                   const char *name) {
    int err = check_open(app, "weft_web_route");
    if (err)
        return err;
    if (!method || !path || !fn ||
        !(strcmp(method, "*") == 0 ||
          weft_http_is_token(method, strlen(method)))) {
        weft__log(WEFT_LOG_WARN, "weft_web_route: %s",
                  !method || !path || !fn ? "NULL argument"
                                          : "the method is not a token");
        return -EINVAL;
    }
    for (size_t i = 0; i < app->routes.n; i++) {
        struct web_route *o = app->routes.v[i];
        if (!strcmp(o->path, path) && !strcmp(o->method, method))
            return -EEXIST;
    }
    if (name && find_name(app, name))
        return -EEXIST;
    struct web_route *rt = weft__calloc(1, sizeof *rt);
    if (!rt)
        return -ENOMEM;
    rt->app = app;
    rt->fn = fn;
    rt->arg = arg;
    rt->method = dup_str(method);
    rt->path = dup_str(path);
    rt->name = name ? dup_str(name) : NULL;
    if (!rt->method || !rt->path || (name && !rt->name)) {
        route_free(rt);
        return -ENOMEM;
    }
    rt->wr.method = rt->method;
    rt->wr.payload = rt;
    err = route_check_path(path, rt);
    if (!err)
        err = VEC_PUSH(app->routes, rt);
    if (err)
        route_free(rt);
    return err;
}

int weft_web_routes(weft_web_app_t *app, const weft_web_route_def_t *defs,
                    size_t n, size_t *added) {
    if (added)
        *added = 0;
    if (!defs && n)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int err = weft_web_route(app, defs[i].method, defs[i].path,
                                 defs[i].fn, defs[i].arg, defs[i].name);
        if (err)
            return err;
        if (added)
            *added = i + 1;
    }
    return 0;
}

int weft_web_add_subapp(weft_web_app_t *app, const char *prefix,
                        weft_web_app_t *sub) {
    int err = check_open(app, "weft_web_add_subapp");
    if (err)
        return err;
    if (!sub || !prefix)
        return -EINVAL;
    if (sub->parent || sub->frozen || atomic_load(&sub->users) || sub == app) {
        weft__log(WEFT_LOG_WARN, "weft_web_add_subapp: the sub-application "
                                 "is mounted or served already");
        return -EBUSY;
    }
    for (weft_web_app_t *a = app; a; a = a->parent)
        if (a == sub)
            return -EINVAL;
    size_t len = strlen(prefix);
    if (len < 2 || prefix[0] != '/' || prefix[len - 1] == '/' ||
        strpbrk(prefix, "{}?#")) {
        weft__log(WEFT_LOG_WARN, "weft_web_add_subapp: bad prefix '%s' (it "
                                 "starts with '/', does not end with one, "
                                 "has no variables)",
                  prefix);
        return -EINVAL;
    }
    for (size_t i = 0; i < app->subs.n; i++)
        if (!strcmp(app->subs.v[i].prefix, prefix))
            return -EEXIST;
    struct web_sub s = {dup_str(prefix), len, sub};
    if (!s.prefix)
        return -ENOMEM;
    err = VEC_PUSH(app->subs, s);
    if (err) {
        weft__free(s.prefix);
        return err;
    }
    sub->parent = app;
    return 0;
}

int weft_web_middleware(weft_web_app_t *app, weft_web_middleware_fn fn,
                        void *arg) {
    int err = check_open(app, "weft_web_middleware");
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    struct web_mw m = {fn, arg};
    return VEC_PUSH(app->mws, m);
}

#define SIGNAL_ADDER(name, vec)                                                \
    int weft_web_##name(weft_web_app_t *app, weft_web_signal_fn fn,           \
                        void *arg) {                                          \
        int err = check_open(app, "weft_web_" #name);                          \
        if (err)                                                               \
            return err;                                                        \
        if (!fn)                                                               \
            return -EINVAL;                                                    \
        struct web_sig s = {fn, NULL, arg};                                    \
        return VEC_PUSH(app->vec, s);                                          \
    }
SIGNAL_ADDER(on_startup, startup)
SIGNAL_ADDER(on_shutdown, shutdown)
SIGNAL_ADDER(on_cleanup, cleanup)

int weft_web_cleanup_ctx(weft_web_app_t *app, weft_web_signal_fn start,
                         weft_web_stop_fn stop, void *arg) {
    int err = check_open(app, "weft_web_cleanup_ctx");
    if (err)
        return err;
    if (!start || !stop)
        return -EINVAL;
    struct web_sig s = {start, stop, arg};
    return VEC_PUSH(app->ctxs, s);
}

/* Add a response signal (prepare or sent) to vec. */
#define CB_ADD(app, fnname, vec, fn, arg)                                      \
    do {                                                                       \
        int err_ = check_open((app), fnname);                                  \
        if (err_)                                                              \
            return err_;                                                       \
        if (!(fn))                                                             \
            return -EINVAL;                                                    \
        struct web_cb c_ = {(void *)(fn), (arg)};                              \
        return VEC_PUSH((app)->vec, c_);                                       \
    } while (0)

int weft_web_on_response_prepare(weft_web_app_t *app, weft_web_prepare_fn fn,
                                 void *arg) {
    CB_ADD(app, "weft_web_on_response_prepare", prepare, fn, arg);
}

int weft_web_on_response_sent(weft_web_app_t *app, weft_web_sent_fn fn,
                              void *arg) {
    CB_ADD(app, "weft_web_on_response_sent", sent, fn, arg);
}

int weft_web_app_on_free(weft_web_app_t *app, void (*fn)(void *),
                         void *arg) {
    if (!app || !fn)
        return -EINVAL;
    struct web_cb c = {(void *)fn, arg};
    return VEC_PUSH(app->frees, c);
}

/* ---- the freeze ------------------------------------------------------------------ */

/* n1 entries of a then n2 of b, in new memory (one spare slot). */
static void *joined(const void *a, size_t n1, const void *b, size_t n2,
                    size_t size) {
    char *v = weft__malloc((n1 + n2 + 1) * size);
    if (v && n1)
        memcpy(v, a, n1 * size);
    if (v && n2)
        memcpy(v + n1 * size, b, n2 * size);
    return v;
}

/* The parent's chain followed by this app's own, for middlewares and the
 * response signals. */
static int chains(weft_web_app_t *app) {
    const weft_web_app_t *p = app->parent;
    app->nchain = (p ? p->nchain : 0) + app->mws.n;
    app->nprep = (p ? p->nprep : 0) + app->prepare.n;
    app->nsent = (p ? p->nsent : 0) + app->sent.n;
    app->chain = joined(p ? p->chain : NULL, p ? p->nchain : 0, app->mws.v,
                        app->mws.n, sizeof *app->chain);
    app->prep_chain = joined(p ? p->prep_chain : NULL, p ? p->nprep : 0,
                             app->prepare.v, app->prepare.n,
                             sizeof *app->prep_chain);
    app->sent_chain = joined(p ? p->sent_chain : NULL, p ? p->nsent : 0,
                             app->sent.v, app->sent.n,
                             sizeof *app->sent_chain);
    return app->chain && app->prep_chain && app->sent_chain ? 0 : -ENOMEM;
}

/* Add app's routes (and its sub-apps', recursively) to the root's
 * router, each path behind the app's prefix. */
static int freeze_tree(weft_web_app_t *root, weft_web_app_t *app) {
    app->frozen = true;
    int err = chains(app);
    for (size_t i = 0; i < app->routes.n && !err; i++) {
        struct web_route *rt = app->routes.v[i];
        size_t n = app->prefix_len + strlen(rt->path) + 1;
        char *full = weft__malloc(n);
        if (!full)
            return -ENOMEM;
        snprintf(full, n, "%s%s", app->prefix, rt->path);
        struct wr_name names[WR_MAX_VARS];
        size_t nv;
        err = wr_router_add(root->router, full, &rt->wr, names, &nv);
        weft__free(full);
        if (err == -EEXIST)
            weft__log(WEFT_LOG_WARN, "weft_web_runner_setup: route %s %s%s "
                                     "twice (a sub-application's prefix "
                                     "repeats a route of its parent)",
                      rt->method, app->prefix, rt->path);
    }
    for (size_t i = 0; i < app->subs.n && !err; i++) {
        weft_web_app_t *sub = app->subs.v[i].app;
        size_t n = app->prefix_len + app->subs.v[i].len;
        char *pre = weft__malloc(n + 1);
        if (!pre)
            return -ENOMEM;
        snprintf(pre, n + 1, "%s%s", app->prefix, app->subs.v[i].prefix);
        weft__free(sub->prefix);
        sub->prefix = pre;
        sub->prefix_len = n;
        err = freeze_tree(root, sub);
    }
    return err;
}

int weft__web_app_freeze(weft_web_app_t *app) {
    if (app->frozen)
        return 0;
    int err = wr_router_new(&app->router);
    if (!err)
        err = freeze_tree(app, app);
    if (err) {
        wr_router_free(app->router);
        app->router = NULL;
    }
    return err;
}

weft_web_app_t *weft__web_app_for(weft_web_app_t *root, const char *path,
                                  size_t len) {
    weft_web_app_t *app = root;
    for (;;) {
        weft_web_app_t *next = NULL;
        for (size_t i = 0; i < app->subs.n; i++) {
            weft_web_app_t *sub = app->subs.v[i].app;
            if (len >= sub->prefix_len &&
                !memcmp(path, sub->prefix, sub->prefix_len) &&
                (len == sub->prefix_len || path[sub->prefix_len] == '/')) {
                next = sub;
                break;
            }
        }
        if (!next)
            return app;
        app = next;
    }
}

/* ---- url_for ---------------------------------------------------------------------- */

static const char *var_value(const char *const *vars, const char *name,
                             size_t nlen) {
    for (size_t i = 0; vars && vars[i] && vars[i + 1]; i += 2)
        if (strlen(vars[i]) == nlen && !memcmp(vars[i], name, nlen))
            return vars[i + 1];
    return NULL;
}

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (o->len + 1 < o->size)
            o->buf[o->len] = s[i];
        o->len++;
    }
}

/* A variable's value, percent-encoded for its place: one segment, or
 * the tail's segments with their slashes. */
static int put_encoded(struct out *o, const char *s, bool slash) {
    size_t n = strlen(s);
    size_t cap = 3 * n + 1;
    char small[256];
    char *e = cap <= sizeof small ? small : weft__malloc(cap);
    if (!e)
        return -ENOMEM;
    ssize_t k = weft_pct_encode(e, cap, s, n,
                                slash ? WEFT_PCT_PATH : WEFT_PCT_SEGMENT);
    if (k > 0)
        put(o, e, (size_t)k);
    if (e != small)
        weft__free(e);
    return k < 0 ? (int)k : 0;
}

ssize_t weft_web_url_for(const weft_web_app_t *app, const char *name,
                         const char *const *vars, const char *query,
                         char *buf, size_t size) {
    if (!app || !name || (!buf && size))
        return -EINVAL;
    const struct web_route *rt = find_name(app, name);
    if (!rt)
        return -ENOENT;
    struct out o = {buf, size, 0};
    put(&o, app->prefix, app->prefix_len);
    const char *p = rt->path;
    while (*p) {
        if (*p != '{') {
            put(&o, p++, 1);
            continue;
        }
        /* A variable: its name, then maybe ':' and a pattern. */
        int depth = 0;
        const char *e = p;
        for (; *e; e++) {
            if (*e == '\\' && e[1]) {
                e++;
            } else if (*e == '{') {
                depth++;
            } else if (*e == '}' && --depth == 0) {
                break;
            }
        }
        const char *colon = memchr(p + 1, ':', (size_t)(e - p - 1));
        size_t nlen = colon ? (size_t)(colon - p - 1) : (size_t)(e - p - 1);
        const char *v = var_value(vars, p + 1, nlen);
        if (!v)
            return -EINVAL;
        struct wr_pat *pat;
        bool slash;
        int err = wr_pat_compile(colon ? colon + 1 : NULL,
                                 colon ? (size_t)(e - colon - 1) : 0, &pat,
                                 &slash);
        if (err)
            return err;
        bool ok = wr_pat_match(pat, v, strlen(v));
        wr_pat_free(pat);
        if (!ok)
            return -EINVAL;
        err = put_encoded(&o, v, slash);
        if (err)
            return err;
        p = e + 1;
    }
    if (query) {
        put(&o, "?", 1);
        put(&o, query, strlen(query));
    }
    if (o.len >= size) /* (room for the NUL; no wrap-around) */
        return -ENOSPC;
    buf[o.len] = '\0';
    return (ssize_t)o.len;
}
