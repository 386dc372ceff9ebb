/* weft/web_form.h - HTML forms in request bodies, for weft/web.h's
 * handlers: application/x-www-form-urlencoded and multipart/form-data
 * (RFC 7578), read whole (aiohttp's request.post()) or, for uploads,
 * part by part with each part's data streamed (aiohttp's
 * request.multipart()).
 *
 *     weft_web_multipart_t *mp;
 *     weft_web_part_t part;
 *     int r = weft_web_multipart(req, &mp, NULL);
 *     while (r >= 0 && (r = weft_web_multipart_next(mp, &part)) == 1) {
 *         const void *data;
 *         ssize_t n;
 *         while ((n = weft_web_multipart_read_chunk(mp, &data)) > 0)
 *             write n bytes of data somewhere;
 *         if (n < 0) return (int)n;
 *     }
 *     if (r < 0) return r;     (a WEFT_WEB_HTTP code for bad input)
 *
 * Errors that are the client's are WEFT_WEB_HTTP codes, ready to be
 * returned from a handler: (415) for a body that is not a form, (400) for
 * a malformed one, (413) for one over a limit.
 */
#ifndef WEFT_WEB_FORM_H
#define WEFT_WEB_FORM_H

#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- whole forms ------------------------------------------------------------------ */

/* A form field. Strings are NUL-terminated, in the request's arena. */
typedef struct weft_web_form_field {
    const char *name;
    const char *value; /* decoded; a file part's content (may hold NULs) */
    size_t len;        /* value's length */
    /* multipart/form-data only: the file name the client sent for a file
     * part (as sent: never use it as a path), else NULL; and the part's
     * Content-Type, else NULL. */
    const char *filename;
    const char *content_type;
} weft_web_form_field_t;

/* The most fields weft_web_post accepts (a form with more is 413). */
#define WEFT_WEB_FORM_MAX_FIELDS 1000

/* Read the body as a form (aiohttp's request.post()):
 * application/x-www-form-urlencoded (pairs split at '&', '+' and
 * percent escapes decoded as browsers encode them; a '%' without two hex
 * digits is kept as it is) or multipart/form-data (every part read into
 * memory, files too: for large uploads use weft_web_multipart). The body
 * may be at most max bytes (0: the app's client_max_size). Points *fields
 * at the fields, in order, and returns their number; a second call
 * returns the same. Errors: WEFT_WEB_HTTP(415) (another Content-Type,
 * or none), (400) (a malformed body, a field holding a NUL), (413) (over
 * max, or more than WEFT_WEB_FORM_MAX_FIELDS fields), the errors of
 * weft_web_read_body, -ENOMEM. */
WEFT_EXPORT ssize_t weft_web_post(weft_web_request_t *req,
                                  const weft_web_form_field_t **fields,
                                  size_t max);

/* The first field named `name` of the form weft_web_post read, or NULL
 * (no such field, or weft_web_post was not called or failed). */
WEFT_EXPORT const weft_web_form_field_t *
weft_web_post_get(const weft_web_request_t *req, const char *name);

/* ---- multipart, streamed ------------------------------------------------------------ */

typedef struct weft_web_multipart weft_web_multipart_t;

/* Limits of weft_web_multipart; 0 means the default. */
typedef struct weft_web_multipart_opts {
    size_t max_parts;  /* parts in the body: 0: 128 */
    size_t max_head;   /* bytes of one part's head: 0: 8 KiB */
    size_t max_fields; /* fields in one part's head: 0: 16 */
    /* bytes of the whole body, preamble and epilogue included: 0: no
     * limit (count the part data you keep yourself) */
    uint64_t max_size;
} weft_web_multipart_opts_t;

/* A part, as weft_web_multipart_next found it. The strings are in the
 * request's arena (valid until it ends); fields point into the reader
 * and are valid until the next weft_web_multipart_next. */
typedef struct weft_web_part {
    /* Content-Disposition's name ("" if it has none). */
    const char *name;
    /* Content-Disposition's filename (filename* decoded from RFC 8187's
     * UTF-8'' form, if given, wins): a file part; NULL for a plain field.
     * As the client sent it: never use it as a path. */
    const char *filename;
    /* The part's Content-Type, or NULL (RFC 7578: text/plain). */
    const char *content_type;
    /* Every field of the part's head, as received. */
    const weft_http_field_t *fields;
    size_t nfields;
} weft_web_part_t;

/* Start reading the body as multipart/form-data (the boundary from the
 * Content-Type). The reader lives in the request's arena (nothing to
 * free). opts may be NULL. Returns 0, WEFT_WEB_HTTP(415) (not
 * multipart/form-data), (400) (no boundary, or one RFC 2046 does not
 * allow), -EALREADY (the body was read already), -ENOMEM. */
WEFT_EXPORT int weft_web_multipart(weft_web_request_t *req,
                                   weft_web_multipart_t **out,
                                   const weft_web_multipart_opts_t *opts);

/* The next part (what is left of the current part's data is skipped):
 * fills *part and returns 1, or 0 after the last part. Errors:
 * WEFT_WEB_HTTP(400) (malformed, or the body ended before the close
 * delimiter), (413) (a limit of opts), and the errors of weft_web_read. */
WEFT_EXPORT int weft_web_multipart_next(weft_web_multipart_t *mp,
                                        weft_web_part_t *part);

/* The current part's data: copy up to len bytes into buf, and return how
 * many; 0 at the part's end. Errors as weft_web_multipart_next. */
WEFT_EXPORT ssize_t weft_web_multipart_read(weft_web_multipart_t *mp,
                                            void *buf, size_t len);

/* The same without a copy: points *data at the next piece of the part's
 * data (valid until the next call on mp) and returns its length; 0 at
 * the part's end. */
WEFT_EXPORT ssize_t weft_web_multipart_read_chunk(weft_web_multipart_t *mp,
                                                  const void **data);

#ifdef __cplusplus
}
#endif
#endif
