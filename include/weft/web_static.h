/* weft/web_static.h - files and compression for weft/web.h's server:
 * static directories (aiohttp's add_static), one file as a response
 * (aiohttp's FileResponse), and response compression (gzip and deflate,
 * zlib) negotiated by Accept-Encoding.
 *
 * File responses are conditional and ranged as RFC 9110 says (sections
 * 13 and 14): ETag and Last-Modified from the file's stat; If-Match and
 * If-Unmodified-Since (412), If-None-Match and If-Modified-Since (304),
 * Range with If-Range (206 with Content-Range; 416 for a range past the
 * end; a request for several ranges gets the whole file, which RFC 9110
 * allows). The body is sent with sendfile (weft_web_body_file).
 *
 * Paths never leave the directory: the file name is the route's decoded
 * tail, whose segments may not be "." or ".." (however they were
 * encoded: "%2e%2e" included) nor hold a NUL or a backslash; and the
 * kernel resolves it beneath the directory (openat2 with RESOLVE_BENEATH,
 * Linux 5.6 and later), so that a symbolic link pointing out of it is
 * refused too. Where openat2 is missing (an older kernel, or a seccomp
 * filter that refuses it), the file is opened normally and its real path
 * (/proc/self/fd) must be beneath the directory's. Refused paths are
 * answered 404, as missing files are: a client learns nothing of what
 * lies outside.
 */
#ifndef WEFT_WEB_STATIC_H
#define WEFT_WEB_STATIC_H

#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- static directories --------------------------------------------------- */

enum {
    /* Answer a request for a directory with an HTML list of its entries
     * (aiohttp's show_index). Off: 403 for directories. */
    WEFT_WEB_STATIC_SHOW_INDEX = 1u << 0,
    /* Follow symbolic links wherever they point (aiohttp's
     * follow_symlinks). Off: links are followed only while they stay
     * inside the directory. ".." in the request is refused either way. */
    WEFT_WEB_STATIC_FOLLOW_SYMLINKS = 1u << 1,
    /* Do not look for precompressed siblings ("style.css.gz" for
     * "style.css"; see weft_web_add_static). */
    WEFT_WEB_STATIC_NO_GZIP = 1u << 2,
};

typedef struct weft_web_static_opts {
    unsigned flags; /* WEFT_WEB_STATIC_* */
    /* The route's name, for weft_web_url_for (variable "filename"), or
     * NULL. */
    const char *name;
    /* A file served for a request naming a directory ("index.html"), or
     * NULL for none. A directory requested without its trailing slash is
     * then redirected (301) to it, so that relative links work. */
    const char *index;
    /* A Cache-Control value sent with every file ("max-age=3600"), or
     * NULL for none. */
    const char *cache_control;
} weft_web_static_opts_t;

/* Serve the files under `dir` at `prefix` (aiohttp's add_static):
 * GET prefix/a/b.css is dir/a/b.css, through a route GET
 * "prefix/{filename:.*}" (HEAD answered by it too). prefix starts with
 * '/' and does not end with one ("/static"; "" is not allowed: add the
 * route at "/" yourself with weft_web_file_response if you must).
 *
 * Each response: the file's type from its extension (weft_web_mime_type),
 * ETag and Last-Modified, the conditional and range rules above,
 * Cache-Control if configured. When the client accepts gzip
 * (Accept-Encoding, q-values honoured) and "NAME.gz" exists beside the
 * file, that is sent instead, with Content-Encoding: gzip and NAME's
 * type (nginx's gzip_static); every response for a file that has such a
 * sibling says Vary: Accept-Encoding. Errors: 404 (missing, refused,
 * not a regular file), 403 (a directory without index or listing), 500
 * (an I/O error, logged).
 *
 * dir is opened now (it must exist and be a directory) and stays open
 * until the app is freed. Returns 0, -EINVAL (bad prefix or options),
 * -ENOENT / -ENOTDIR / -EACCES (dir), -EEXIST, -EBUSY, -ENOMEM as
 * weft_web_route. */
WEFT_EXPORT int weft_web_add_static(weft_web_app_t *app, const char *prefix,
                                    const char *dir,
                                    const weft_web_static_opts_t *opts);

/* ---- one file as a response ------------------------------------------------ */

/* Answer req with the file at path (aiohttp's FileResponse), with the
 * conditional, range, type and gzip-sibling rules of static files (flags:
 * WEFT_WEB_STATIC_NO_GZIP). Sets the response and returns 0; or
 * WEFT_WEB_HTTP(404) (missing, or not a regular file), (403) (no
 * permission), or another negative errno (logged by the server as a
 * failure). The path is the program's, taken as it is: never build it
 * from a request without checks; use weft_web_add_static for that. */
WEFT_EXPORT int weft_web_file_response(weft_web_request_t *req,
                                       const char *path, unsigned flags);

/* The media type for a file name, from its extension (case-insensitive):
 * "text/html; charset=utf-8" for "a.html", "image/png" for "x.PNG" ...
 * a built-in table of the types the web uses; text types carry
 * "; charset=utf-8". "application/octet-stream" for anything else. Static
 * storage. */
WEFT_EXPORT const char *weft_web_mime_type(const char *name);

/* ---- compression ------------------------------------------------------------- */

typedef struct weft_web_compress_opts {
    /* zlib's level, 1 (fast) .. 9 (small); 0: 6, zlib's default. */
    int level;
    /* Bodies known to be shorter are sent as they are (a header and a
     * checksum outweigh the saving): 0: 1024 bytes. Streams of unknown
     * length are compressed. */
    size_t min_size;
    /* Media types to compress (without parameters; "text/" ending in a
     * slash matches a whole family), NULL-terminated. NULL: every text/ type,
     * application/json, application/javascript, application/xml,
     * application/xhtml+xml, application/wasm, image/svg+xml,
     * application/manifest+json, and any type ending in +json or +xml.
     * Not copied: keep it alive as long as the app. */
    const char *const *types;
} weft_web_compress_opts_t;

/* Compress this app's responses (an on_response_prepare signal): a
 * response is compressed when the request's Accept-Encoding accepts gzip
 * or deflate (RFC 9110 12.5.3: the highest q wins, gzip on a tie, q=0
 * refuses; no Accept-Encoding means no compression), its status is not
 * 1xx, 204, 206 or 304, its type is in `types`, it has no
 * Content-Encoding yet (a precompressed file, a handler's own), and its
 * body is not known to be shorter than min_size. It then gets
 * Content-Encoding, a weak ETag (W/ prepended: the bytes differ from the
 * identity ones), and a body filter (weft_web_set_filter), which makes it
 * chunked. Every response of a compressible type gets Vary:
 * Accept-Encoding, compressed or not, so caches keep both. "deflate" is
 * the zlib format (RFC 9110 8.4.1.2), not raw deflate.
 *
 * opts may be NULL (defaults), and is copied. Returns 0, -EINVAL (a level
 * outside 0..9), -EBUSY (app frozen), -ENOMEM. */
WEFT_EXPORT int weft_web_compress(weft_web_app_t *app,
                                  const weft_web_compress_opts_t *opts);

/* Compress this one response if the request accepts it (aiohttp's
 * enable_compression), with opts' level (and min_size against the body
 * known so far; types are not checked: the caller chose): from a handler
 * or middleware, before the head is sent. Returns 1 if a filter was
 * installed, 0 if the client accepts neither coding, or an error of
 * weft_web_set_filter / -EALREADY (head sent) / -ENOMEM. opts may be
 * NULL. */
WEFT_EXPORT int weft_web_compress_response(weft_web_request_t *req,
                                           const weft_web_compress_opts_t *opts);

#ifdef __cplusplus
}
#endif
#endif
