/* Internal to libweft_json: the serialiser behind weft_web_json and
 * weft_session_request_json (json_dump.c). */
#ifndef WEFT_JSON_INT_H
#define WEFT_JSON_INT_H

#include <stddef.h>

#include <jansson.h>

/* The serialised bytes: in small while they fit, then in a buffer of the
 * heap (p != small: the owner frees p). */
typedef struct {
    char *p;
    size_t len, cap;
    char small[1024];
} weft__json_out_t;

/* Empty, in small. */
void weft__json_out_init(weft__json_out_t *o);
/* Frees p if it is on the heap; o is empty again. */
void weft__json_out_free(weft__json_out_t *o);

/* Append value to o exactly as json_dumpb(value, ..., WEFT_WEB_JSON_FLAGS
 * | JSON_ENCODE_ANY) writes it (compact, keys in their order, non-ASCII as
 * UTF-8; reals are jansson's own text), in one pass and without jansson's
 * per-container loop-check table. Values nested deeper than 32
 * containers (and so any container inside itself) are handed whole to
 * jansson (json_dump_callback, into o).
 *
 * Returns 0, -EINVAL where jansson's dump fails: a container inside
 * itself, a string that is not valid UTF-8 (only the _nocheck
 * constructors make those), and also a key that is not (jansson writes
 * half of it and goes on; so does this in values handed to jansson),
 * -ENOMEM. On failure o's length is where it was. */
int weft__json_dump(const json_t *value, weft__json_out_t *o);

#endif
