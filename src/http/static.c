/* Static files (weft/web_static.h): add_static's handler and
 * FileResponse. A file is opened beneath its directory (file_open, the
 * one place files are opened: on an io_uring loop as a request the
 * handler's task waits for, src/fs/file.c's way, so a path lookup that
 * reads the disk does not stall the loop), its validators made from
 * fstat, the request's preconditions and
 * range evaluated (RFC 9110 sections 13.2.2 and 14), and the body handed
 * to the server as a file (sendfile). */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/common.h"
#include "../task/io.h"
#include "static_int.h"
#include "weft/httpmsg.h"
#include "weft/web_static.h"

/* ---- opening files beneath a directory -------------------------------------- */

/* 1 once openat2 was found missing (ENOSYS: Linux < 5.6; EPERM: a seccomp
 * filter that does not know it): the checked fallback from then on.
 * Tests set it to exercise the fallback. */
atomic_int weft__static_no_openat2;

/* The real path of fd, through /proc (the fallback's check). */
static ssize_t fd_path(int fd, char *buf, size_t cap) {
    char link[40];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, cap);
    return n < 0 ? -errno : n >= (ssize_t)cap ? -ENAMETOOLONG : n;
}

/* openat(2) and openat2(2), from a task of an io_uring loop as requests
 * (IORING_OP_OPENAT, OPENAT2) that the task waits for; elsewhere (epoll,
 * outside a task) as the system calls, on the loop thread: a lookup in the
 * dentry cache costs less than a hand-over to the executor would
 * (bench/file: a job's round trip is some 10 us; nginx opens files on its
 * event loop too). A completed open whose task was cancelled meanwhile
 * still returns its fd (the wait consumes): the callers close it on
 * their error paths as for any fd. -1 with errno, as the calls. */
static int open_at(int dirfd, const char *rel, int flags,
                   struct open_how *how) {
    struct weft_task *t = weft__task_current();
    if (t && t->loop->uring) {
        struct weft__fop op = {.kind = how ? WEFT__FOP_OPENAT2 : WEFT__FOP_OPEN,
                               .fd = dirfd,
                               .path = rel,
                               .flags = flags,
                               .buf = how};
        int r = weft__uring_file(t, &op, NULL);
        if (r >= 0)
            return r;
        errno = -r;
        return -1;
    }
    if (how)
        return (int)syscall(SYS_openat2, dirfd, rel, how, sizeof *how);
    return openat(dirfd, rel, flags);
}

/* Open `rel` (relative, already free of "." and ".." segments) for
 * reading, beneath root's directory unless symlinks may go anywhere, and
 * fstat it. Never blocks on a FIFO (O_NONBLOCK; it is then not a regular
 * file, and refused by the caller). Returns 0 or a negative errno:
 * -ENOENT and friends for missing files, -EXDEV (or -ELOOP, -EACCES) for
 * a path that leaves the root. */
int weft__file_open(const struct weft__file_root *root, const char *rel,
                    int *out, struct stat *st) {
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd = -1;
    if (root->dirfd == AT_FDCWD || (root->flags & WEFT_WEB_STATIC_FOLLOW_SYMLINKS)) {
        fd = open_at(root->dirfd, rel, flags, NULL);
        if (fd < 0)
            return weft__neg_errno();
    } else if (!atomic_load_explicit(&weft__static_no_openat2,
                                     memory_order_relaxed)) {
        struct open_how how = {
            .flags = (uint64_t)flags,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        fd = open_at(root->dirfd, rel, flags, &how);
        if (fd < 0 && errno != ENOSYS && errno != EPERM)
            return weft__neg_errno();
        if (fd < 0)
            atomic_store(&weft__static_no_openat2, 1);
    }
    if (fd < 0) {
        /* The fallback: open, then check where it landed. */
        fd = open_at(root->dirfd, rel, flags, NULL);
        if (fd < 0)
            return weft__neg_errno();
        char real[4096];
        ssize_t n = fd_path(fd, real, sizeof real);
        if (n < 0 || (size_t)n < root->real_len ||
            memcmp(real, root->real, root->real_len) != 0 ||
            ((size_t)n > root->real_len && real[root->real_len] != '/' &&
             root->real_len > 1)) {
            close(fd);
            return n < 0 ? (int)n : -EXDEV;
        }
    }
    if (fstat(fd, st) < 0) {
        int err = weft__neg_errno();
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

/* ---- validators and preconditions ---------------------------------------------- */

/* The strong ETag of a file: "mtime-size" in hex, mtime in nanoseconds
 * (nginx uses seconds; a file rewritten twice in a second with the same
 * size would keep its tag there). */
static int etag_of(const struct stat *st, char *buf, size_t cap) {
    uint64_t ns = (uint64_t)st->st_mtim.tv_sec * 1000000000u +
                  (uint64_t)st->st_mtim.tv_nsec;
    return snprintf(buf, cap, "\"%llx-%llx\"", (unsigned long long)ns,
                    (unsigned long long)st->st_size);
}

/* Whether an entity tag of an If-Match / If-None-Match / If-Range list
 * element equals ours: strong comparison needs both strong; weak compares
 * the opaque tags only (RFC 9110 8.8.3.2). */
static bool tag_eq(weft_span_t e, const char *ours, bool strong) {
    bool weak = e.len >= 2 && e.ptr[0] == 'W' && e.ptr[1] == '/';
    if (weak) {
        if (strong)
            return false;
        e.ptr += 2, e.len -= 2;
    }
    size_t n = strlen(ours);
    return e.len == n && memcmp(e.ptr, ours, n) == 0;
}

/* Whether the list in `name`'s fields has "*" or a tag equal to ours;
 * -ENOENT when the request has no such field. */
static int tag_list_has(weft_web_request_t *req, const char *name,
                        const char *ours, bool strong) {
    const weft_http_field_t *f;
    size_t nf = weft_web_headers(req, &f);
    ssize_t i = weft_http_field_find(f, nf, name, 0);
    if (i < 0)
        return -ENOENT;
    for (; i >= 0; i = weft_http_field_find(f, nf, name, (size_t)i + 1)) {
        weft_http_list_iter_t it;
        weft_span_t e;
        weft_http_list_init(&it, f[i].value.ptr, f[i].value.len);
        while (weft_http_list_next(&it, &e) == 1) {
            if ((e.len == 1 && e.ptr[0] == '*') || tag_eq(e, ours, strong))
                return 1;
        }
    }
    return 0;
}

/* A date header's time, or -1 (absent or not a valid HTTP-date: such a
 * precondition is ignored, RFC 9110 13.1.3). */
static time_t date_header(weft_web_request_t *req, const char *name) {
    weft_span_t v;
    time_t t;
    if (weft_web_header(req, name, &v) < 0 ||
        weft_http_date_parse(v.ptr, v.len, &t) < 0)
        return -1;
    return t;
}

/* RFC 9110 13.2.2's order: 200 to go on, or 304 / 412. */
int weft__static_preconditions(weft_web_request_t *req, const char *etag,
                               time_t mtime) {
    int m = weft_web_method(req);
    bool get = m == WEFT_HTTP_GET || m == WEFT_HTTP_HEAD;
    int r = tag_list_has(req, "If-Match", etag, true);
    if (r == 0)
        return 412;
    if (r == -ENOENT) {
        time_t t = date_header(req, "If-Unmodified-Since");
        if (t >= 0 && mtime > t)
            return 412;
    }
    r = tag_list_has(req, "If-None-Match", etag, false);
    if (r == 1)
        return get ? 304 : 412;
    if (r == -ENOENT && get) {
        time_t t = date_header(req, "If-Modified-Since");
        if (t >= 0 && mtime <= t)
            return 304;
    }
    return 200;
}

/* ---- ranges ------------------------------------------------------------------------ */

/* Digits to a number, saturating; false if not 1+ digits. */
static bool num(const char *p, size_t n, uint64_t *out) {
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        unsigned d = (unsigned)(p[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return true;
}

int weft__static_range(const char *s, size_t n, uint64_t size,
                       uint64_t *start, uint64_t *len) {
    if (n < 6 || strncasecmp(s, "bytes=", 6) != 0)
        return 0; /* another unit: ignored */
    weft_http_list_iter_t it;
    weft_span_t e;
    weft_http_list_init(&it, s + 6, n - 6);
    int satisfiable = 0, count = 0, r;
    while ((r = weft_http_list_next(&it, &e)) == 1) {
        if (++count > 100)
            return 0; /* a denial of service, not a download: ignored */
        const char *dash = memchr(e.ptr, '-', e.len);
        if (!dash)
            return 0;
        size_t a = (size_t)(dash - e.ptr), b = e.len - a - 1;
        uint64_t first, last, from, to;
        if (a == 0) { /* suffix: the last N bytes */
            if (!num(dash + 1, b, &last))
                return 0;
            if (last == 0 || size == 0)
                continue;
            from = last >= size ? 0 : size - last;
            to = size - 1;
        } else {
            if (!num(e.ptr, a, &first))
                return 0;
            if (b == 0) {
                last = UINT64_MAX;
            } else if (!num(dash + 1, b, &last) || last < first) {
                return 0;
            }
            if (first >= size)
                continue;
            from = first;
            to = last >= size ? size - 1 : last;
        }
        if (satisfiable++ == 0)
            *start = from, *len = to - from + 1;
    }
    if (r < 0 || count == 0)
        return 0;
    if (satisfiable == 0)
        return -1;
    return satisfiable == 1 ? 1 : 0;
}

/* Whether If-Range (absent: true) lets the Range apply: a strong tag equal
 * to ours, or exactly our Last-Modified. */
static bool if_range_ok(weft_web_request_t *req, const char *etag,
                        time_t mtime) {
    weft_span_t v;
    if (weft_web_header(req, "If-Range", &v) < 0)
        return true;
    bool tag = (v.len > 0 && v.ptr[0] == '"') ||
               (v.len > 1 && v.ptr[0] == 'W' && v.ptr[1] == '/');
    if (tag)
        return tag_eq(v, etag, true);
    time_t t;
    return weft_http_date_parse(v.ptr, v.len, &t) == 0 && t == mtime;
}

/* ---- the response ----------------------------------------------------------------- */

static bool accepts_gzip(weft_web_request_t *req) {
    static const char *const codings[] = {"gzip", "identity"};
    const weft_http_field_t *f;
    size_t nf = weft_web_headers(req, &f);
    if (weft_http_field_find(f, nf, "Accept-Encoding", 0) < 0)
        return false;
    return weft_http_choose_encoding(f, nf, codings, 2) == 0;
}

/* The validators and the headers every answer about the file carries. */
static int common_headers(weft_web_request_t *req, const struct stat *st,
                          const char *etag, const char *cache_control,
                          bool vary) {
    weft_web_response_t *resp = weft_web_resp(req);
    char date[WEFT_HTTP_DATE_LEN + 1];
    int r = weft_web_set_header(resp, "ETag", etag);
    if (r == 0 && weft_http_date_write(date, sizeof date, st->st_mtime) > 0)
        r = weft_web_set_header(resp, "Last-Modified", date);
    if (r == 0 && cache_control)
        r = weft_web_set_header(resp, "Cache-Control", cache_control);
    if (r == 0 && vary)
        r = weft_web_add_header(resp, "Vary", "Accept-Encoding");
    if (r == 0)
        r = weft_web_set_header(resp, "Accept-Ranges", "bytes");
    return r;
}

int weft__static_serve(weft_web_request_t *req,
                       const struct weft__file_root *root, const char *rel,
                       int fd, const struct stat *st) {
    weft_web_response_t *resp = weft_web_resp(req);
    const char *type = weft_web_mime_type(rel);
    bool vary = false;
    struct stat gst; /* st may point at it: it must live to the end */
    /* A precompressed sibling, if the client takes gzip. */
    if (!(root->flags & WEFT_WEB_STATIC_NO_GZIP)) {
        size_t n = strlen(rel);
        char *gz = weft_web_alloc(req, n + 4);
        if (!gz) {
            close(fd);
            return -ENOMEM;
        }
        memcpy(gz, rel, n);
        memcpy(gz + n, ".gz", 4);
        int gfd;
        if (weft__file_open(root, gz, &gfd, &gst) == 0) {
            if (S_ISREG(gst.st_mode)) {
                vary = true;
                if (accepts_gzip(req)) {
                    close(fd);
                    fd = gfd, st = &gst;
                    gfd = -1;
                    int r = weft_web_set_header(resp, "Content-Encoding",
                                                "gzip");
                    if (r < 0) {
                        close(fd);
                        return r;
                    }
                }
            }
            if (gfd >= 0)
                close(gfd);
        }
    }
    struct stat copy = *st; /* st may point at gst, on this stack */
    char etag[48];
    etag_of(&copy, etag, sizeof etag);
    int r = common_headers(req, &copy, etag, root->cache_control, vary);
    if (r == 0)
        r = weft_web_set_header(resp, "Content-Type", type);
    if (r < 0) {
        close(fd);
        return r;
    }
    int status = weft__static_preconditions(req, etag, copy.st_mtime);
    if (status != 200) {
        close(fd);
        weft_web_remove_header(resp, "Content-Type");
        weft_web_remove_header(resp, "Content-Encoding");
        weft_web_remove_header(resp, "Accept-Ranges");
        return weft_web_set_status(resp, status, NULL);
    }
    uint64_t size = (uint64_t)copy.st_size, start = 0, len = size;
    weft_span_t range;
    if (weft_web_method(req) == WEFT_HTTP_GET &&
        weft_web_header(req, "Range", &range) == 0 &&
        if_range_ok(req, etag, copy.st_mtime)) {
        int k = weft__static_range(range.ptr, range.len, size, &start, &len);
        char cr[64];
        if (k < 0) {
            close(fd);
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
            weft_web_remove_header(resp, "Content-Encoding");
            weft_web_set_header(resp, "Content-Range", cr);
            return weft_web_set_status(resp, 416, NULL);
        }
        if (k == 1) {
            snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu",
                     (unsigned long long)start,
                     (unsigned long long)(start + len - 1),
                     (unsigned long long)size);
            r = weft_web_set_header(resp, "Content-Range", cr);
            if (r == 0)
                r = weft_web_set_status(resp, 206, NULL);
            if (r < 0) {
                close(fd);
                return r;
            }
        } else {
            start = 0, len = size;
        }
    }
    return weft_web_body_file(resp, fd, (off_t)start, (off_t)len,
                              WEFT_WEB_FILE_CLOSE);
}

/* ---- FileResponse ------------------------------------------------------------------ */

/* An errno from opening to what the client gets. */
int weft__static_open_status(int err) {
    switch (err) {
    case -ENOENT:
    case -ENOTDIR:
    case -ELOOP:
    case -EXDEV:
    case -ENAMETOOLONG:
    case -ENXIO:
    case -ENODEV:
        return WEFT_WEB_HTTP(404);
    case -EACCES:
    case -EPERM:
        return WEFT_WEB_HTTP(403);
    default:
        return err;
    }
}

int weft_web_file_response(weft_web_request_t *req, const char *path,
                           unsigned flags) {
    if (!req || !path) {
        WEFT__MISUSE("weft_web_file_response", "NULL argument");
        return -EINVAL;
    }
    struct weft__file_root root = {.dirfd = AT_FDCWD, .flags = flags};
    int fd;
    struct stat st;
    int r = weft__file_open(&root, path, &fd, &st);
    if (r < 0)
        return weft__static_open_status(r);
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return WEFT_WEB_HTTP(404);
    }
    return weft__static_serve(req, &root, path, fd, &st);
}
