/* Internal: static files (static.c, static_dir.c), shared with their
 * tests. */
#ifndef WEFT_HTTP_STATIC_INT_H
#define WEFT_HTTP_STATIC_INT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "weft/web.h"

/* Where files are opened from: a directory (add_static) or AT_FDCWD
 * (weft_web_file_response, which takes the program's path as it is). */
struct weft__file_root {
    int dirfd;
    unsigned flags; /* WEFT_WEB_STATIC_* */
    const char *real; /* the directory's real path (the fallback check) */
    size_t real_len;
    const char *index, *cache_control;
};

/* Set to make file_open skip openat2 (tests of the fallback). */
extern atomic_int weft__static_no_openat2;

/* Open rel beneath root (see static.c). 0 or a negative errno. */
int weft__file_open(const struct weft__file_root *root, const char *rel,
                    int *fd, struct stat *st);

/* RFC 9110 13.2.2 for a file with this ETag and mtime: 200 (go on), 304
 * or 412. */
int weft__static_preconditions(weft_web_request_t *req, const char *etag,
                               time_t mtime);

/* A Range value (s, n bytes) against a representation of size bytes:
 * 1 and *start, *len for one satisfiable range; 0 to ignore it (another
 * unit, a syntax error, several satisfiable ranges); -1 when no range is
 * satisfiable (416). */
int weft__static_range(const char *s, size_t n, uint64_t size,
                       uint64_t *start, uint64_t *len);

/* Answer req with the open regular file fd (whose stat is st; rel names
 * it for its type and gzip sibling). Takes fd. 0 or an error. */
int weft__static_serve(weft_web_request_t *req,
                       const struct weft__file_root *root, const char *rel,
                       int fd, const struct stat *st);

/* What an error of weft__file_open is answered with: WEFT_WEB_HTTP(404)
 * or (403), or the error itself. */
int weft__static_open_status(int err);

#endif
