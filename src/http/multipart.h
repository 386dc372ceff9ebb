/* Internal: a streaming multipart parser (RFC 2046 section 5.1, as
 * multipart/form-data uses it, RFC 7578). Pure: fed bytes in pieces of
 * any size, it returns events one at a time without copying part data
 * (spans into the input, or into its own small buffer for bytes held back
 * while they might have been the start of a delimiter). It allocates
 * nothing: the caller gives the buffer for part heads and the field
 * array. Used by src/http/form.c; fuzzed by fuzz/multipart.c. */
#ifndef WEFT_HTTP_MULTIPART_H
#define WEFT_HTTP_MULTIPART_H

#include <sys/types.h>

#include "weft/http1.h"

/* RFC 2046: a boundary is 1 to 70 characters. */
#define WEFT__MP_MAX_BOUNDARY 70

enum weft__mp_event {
    WEFT__MP_NEED = 0,  /* feed more input */
    WEFT__MP_HEAD,      /* a part's head is complete: fields, nfields */
    WEFT__MP_DATA,      /* *data is a piece of the current part's body */
    WEFT__MP_PART_END,  /* the current part's body ended */
    WEFT__MP_END,       /* the close delimiter: no more parts */
};

struct weft__mp {
    char delim[4 + WEFT__MP_MAX_BOUNDARY]; /* CR LF "--" boundary */
    size_t dlen;
    size_t matched; /* bytes of delim seen at the end of the last input */
    int state;
    /* Part heads: the bytes of the current head, its fields (spans into
     * hbuf, valid until the next head). */
    char *hbuf;
    size_t hcap, hlen;
    weft_http_field_t *fields;
    size_t max_fields, nfields;
    size_t nparts, max_parts;
    int err;
};

/* Set up mp for a body with the given boundary (blen bytes: 1..70 of
 * RFC 2046's bchars, not ending in a space: -EINVAL otherwise). hbuf
 * (hcap bytes) holds one part's head: a larger head is -EMSGSIZE.
 * fields (max_fields) receives its fields: more are -E2BIG. More than
 * max_parts parts is -E2BIG. */
int weft__mp_init(struct weft__mp *mp, const char *boundary, size_t blen,
                  char *hbuf, size_t hcap, weft_http_field_t *fields,
                  size_t max_fields, size_t max_parts);

/* Parse from in[0 .. len): returns the input bytes consumed (possibly 0,
 * with an event for bytes held from before) and sets *event; for
 * WEFT__MP_DATA, *data (never empty). WEFT__MP_NEED means every byte was
 * consumed: feed the next ones. After WEFT__MP_END every byte is consumed
 * (the epilogue is ignored). Errors: -EBADMSG (malformed), -EMSGSIZE,
 * -E2BIG (limits); the parser then stays failed. */
ssize_t weft__mp_feed(struct weft__mp *mp, const char *in, size_t len,
                      int *event, weft_span_t *data);

/* The input ended: 0 if the close delimiter was seen, else -EBADMSG. */
int weft__mp_eof(const struct weft__mp *mp);

#endif
