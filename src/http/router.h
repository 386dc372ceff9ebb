/* Internal: the router. Paths are compiled into a tree of segments: literal
 * segments are looked up by comparison, variable ones matched by a small
 * linear-time pattern matcher (or POSIX regexec for patterns outside its
 * language), and a tail variable takes the rest of the path. A lookup walks
 * the path once, backtracking only where several variable patterns of one
 * segment could apply. */
#ifndef WEFT_HTTP_ROUTER_H
#define WEFT_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WR_MAX_VARS 16   /* variables in one route */
#define WR_MAX_ALLOW 16  /* distinct methods listed in an Allow */

/* A compiled variable pattern (the part after ':' in "{id:\d+}"). */
struct wr_pat;

/* Compile a pattern (NULL or "": the default, one or more characters
 * other than '/'). Returns 0, -EINVAL (logged with the reason), -ENOMEM.
 * *slash tells whether it can match '/' (then it must be a tail). */
int wr_pat_compile(const char *src, size_t len, struct wr_pat **out,
                   bool *slash);
void wr_pat_free(struct wr_pat *p);
/* Whether the whole of s[0, n) matches. */
bool wr_pat_match(const struct wr_pat *p, const char *s, size_t n);

/* What a route is to the router: its method and the caller's payload. */
struct wr_route {
    const char *method; /* "GET", or "*" */
    void *payload;
};

struct wr_router;

int wr_router_new(struct wr_router **out);
void wr_router_free(struct wr_router *r);

/* Add `route` for `path` (starting with '/'). Variable names found in the
 * path are returned in order in names[] (pointers into path) with their
 * lengths, *nvars of them. Returns 0, -EINVAL (logged), -EEXIST (same
 * method and path), -ENOMEM. The route must outlive the router. */
struct wr_name {
    const char *ptr;
    size_t len;
};
int wr_router_add(struct wr_router *r, const char *path,
                  struct wr_route *route, struct wr_name *names,
                  size_t *nvars);

/* The result of a lookup. */
struct wr_match {
    struct wr_route *route; /* NULL: not found (see nallow) */
    size_t nvars;
    struct wr_name vars[WR_MAX_VARS]; /* values, into the path looked up */
    /* When route is NULL: the methods of the routes whose path matched
     * (405 if nallow > 0, else 404). With a route: unset. */
    size_t nallow;
    const char *allow[WR_MAX_ALLOW];
};

/* Look up method and path (path[0] == '/'). Returns true when a route
 * was found; false with m->nallow set otherwise, or with -ENOMEM in
 * *err when a long segment's matcher could not get memory. */
bool wr_router_lookup(const struct wr_router *r, const char *method,
                      size_t mlen, const char *path, size_t plen,
                      struct wr_match *m, int *err);

#endif
