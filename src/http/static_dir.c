/* add_static (weft/web_static.h): a route whose handler maps the decoded
 * tail of the path to a file under a directory, refusing any path that
 * could leave it, and answers directories with an index file, a listing
 * or 403. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/common.h"
#include "static_int.h"
#include "weft/httpmsg.h"
#include "weft/web_static.h"

struct static_dir {
    struct weft__file_root root;
    char *real, *index, *cache_control; /* owned copies */
};

/* The tail is safe to open: relative, no "." or ".." segment, no empty
 * segment but a final one (a directory's trailing slash), no backslash.
 * The router has removed dot segments from the path already, but the
 * tail is reported decoded, so an encoded "..%2F" would come back here as
 * "../": it is refused here, whatever it was in the request. */
static bool safe_rel(const char *s) {
    if (*s == '/')
        return false;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((n == 0 && e) || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.') || memchr(p, '\\', n))
            return false;
        p += n + (e ? 1 : 0);
    }
    return true;
}

static void html_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory open at fd (sorted, "." entries left out:
 * hidden files are not listed), directories with a '/' appended; a
 * malloc'd array of malloc'd strings. The directory-reading half of file
 * access (with weft__file_open). */
static int list_dir(int fd, char ***out, size_t *count) {
    int d = dup(fd);
    if (d < 0)
        return -errno;
    DIR *dir = fdopendir(d);
    if (!dir) {
        close(d);
        return -errno;
    }
    char **v = NULL;
    size_t n = 0, cap = 0;
    int err = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                err = -ENOMEM;
                break;
            }
            v = nv;
        }
        struct stat st;
        bool isdir = fstatat(fd, e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        size_t len = strlen(e->d_name);
        char *s = malloc(len + 2);
        if (!s) {
            err = -ENOMEM;
            break;
        }
        memcpy(s, e->d_name, len);
        memcpy(s + len, isdir ? "/" : "", isdir ? 2 : 1);
        v[n++] = s;
    }
    closedir(dir);
    if (err) {
        while (n)
            free(v[--n]);
        free(v);
        return err;
    }
    if (n > 1) /* (v is NULL for an empty directory: not for qsort) */
        qsort(v, n, sizeof *v, name_cmp);
    *out = v, *count = n;
    return 0;
}

/* An HTML page listing the directory (aiohttp's show_index). */
static int listing(weft_web_request_t *req, int fd, const char *path) {
    char **names = NULL;
    size_t n = 0;
    int r = list_dir(fd, &names, &n);
    if (r < 0)
        return r;
    char *html = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&html, &len);
    if (f) {
        fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
              "Index of ", f);
        html_escaped(f, path);
        fputs("</title></head>\n<body><h1>Index of ", f);
        html_escaped(f, path);
        fputs("</h1>\n<ul>\n", f);
        for (size_t i = 0; i < n; i++) {
            char href[1024];
            if (weft_pct_encode(href, sizeof href, names[i],
                                strlen(names[i]), WEFT_PCT_PATH) < 0)
                continue;
            fputs("<li><a href=\"", f);
            html_escaped(f, href);
            fputs("\">", f);
            html_escaped(f, names[i]);
            fputs("</a></li>\n", f);
        }
        fputs("</ul>\n</body></html>\n", f);
        fclose(f);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!html)
        return -ENOMEM;
    r = weft_web_bytes(req, 200, "text/html; charset=utf-8", html, len);
    free(html);
    return r;
}

/* A directory asked for without its trailing slash: 301 to it. */
static int to_slash(weft_web_request_t *req) {
    weft_span_t p = weft_web_raw_path(req), q = weft_web_query_string(req);
    char *loc = weft_web_sprintf(req, "%.*s/%s%.*s", (int)p.len, p.ptr,
                                 q.len ? "?" : "", (int)q.len, q.ptr);
    if (!loc)
        return -ENOMEM;
    weft_web_response_t *resp = weft_web_resp(req);
    int r = weft_web_set_header(resp, "Location", loc);
    return r < 0 ? r : weft_web_set_status(resp, 301, NULL);
}

static int directory(weft_web_request_t *req, const struct static_dir *sd,
                     const char *rel, int fd) {
    const struct weft__file_root *root = &sd->root;
    bool show = root->flags & WEFT_WEB_STATIC_SHOW_INDEX;
    if (!root->index && !show) {
        close(fd);
        return WEFT_WEB_HTTP(403);
    }
    weft_span_t raw = weft_web_raw_path(req);
    if (raw.len == 0 || raw.ptr[raw.len - 1] != '/') {
        close(fd);
        return to_slash(req);
    }
    if (root->index) {
        char *path = weft_web_sprintf(req, "%s%s", rel, root->index);
        if (!path) {
            close(fd);
            return -ENOMEM;
        }
        int ifd;
        struct stat st;
        if (weft__file_open(root, *rel ? path : root->index, &ifd, &st) == 0) {
            if (S_ISREG(st.st_mode)) {
                close(fd);
                return weft__static_serve(req, root, path, ifd, &st);
            }
            close(ifd);
        }
        if (!show) {
            close(fd);
            return WEFT_WEB_HTTP(403);
        }
    }
    int r = listing(req, fd, weft_web_path(req));
    close(fd);
    return r;
}

static int handler(weft_web_request_t *req, void *arg) {
    const struct static_dir *sd = arg;
    const char *name = weft_web_match(req, "filename");
    if (!name)
        return -ENOMEM;
    if (!safe_rel(name))
        return WEFT_WEB_HTTP(404);
    int fd;
    struct stat st;
    int r = weft__file_open(&sd->root, *name ? name : ".", &fd, &st);
    if (r < 0)
        return weft__static_open_status(r);
    if (S_ISDIR(st.st_mode))
        return directory(req, sd, name, fd);
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return WEFT_WEB_HTTP(404);
    }
    return weft__static_serve(req, &sd->root, name, fd, &st);
}

static void static_free(void *arg) {
    struct static_dir *sd = arg;
    close(sd->root.dirfd);
    free(sd->real);
    weft__free(sd->index);
    weft__free(sd->cache_control);
    weft__free(sd);
}

static char *dup_opt(const char *s, bool *fail) {
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = weft__malloc(n);
    if (!d)
        *fail = true;
    else
        memcpy(d, s, n);
    return d;
}

int weft_web_add_static(weft_web_app_t *app, const char *prefix,
                        const char *dir, const weft_web_static_opts_t *opts) {
    static const weft_web_static_opts_t none = {0};
    if (!opts)
        opts = &none;
    size_t plen = prefix ? strlen(prefix) : 0;
    if (!app || !dir || plen < 2 || prefix[0] != '/' ||
        prefix[plen - 1] == '/' || strpbrk(prefix, "{}") ||
        (opts->flags & ~7u) ||
        (opts->index && (!*opts->index || strchr(opts->index, '/')))) {
        WEFT__MISUSE("weft_web_add_static",
                     "bad argument (prefix must be like \"/static\")");
        return -EINVAL;
    }
    struct static_dir *sd = weft__calloc(1, sizeof *sd);
    if (!sd)
        return -ENOMEM;
    sd->root.dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sd->root.dirfd < 0) {
        int err = -errno;
        weft__free(sd);
        return err;
    }
    bool fail = false;
    sd->real = realpath(dir, NULL);
    sd->index = dup_opt(opts->index, &fail);
    sd->cache_control = dup_opt(opts->cache_control, &fail);
    char *route = weft__malloc(plen + sizeof "/{filename:.*}");
    if (!sd->real || fail || !route) {
        weft__free(route);
        static_free(sd);
        return -ENOMEM;
    }
    sd->root.flags = opts->flags;
    sd->root.real = sd->real;
    sd->root.real_len = strlen(sd->real);
    sd->root.index = sd->index;
    sd->root.cache_control = sd->cache_control;
    memcpy(route, prefix, plen);
    memcpy(route + plen, "/{filename:.*}", sizeof "/{filename:.*}");
    /* Owned by the app from here on, even if the route fails. */
    int r = weft_web_app_on_free(app, static_free, sd);
    if (r < 0)
        static_free(sd);
    else
        r = weft_web_route(app, "GET", route, handler, sd, opts->name);
    weft__free(route);
    return r;
}
