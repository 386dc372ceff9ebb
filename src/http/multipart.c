/* The streaming multipart parser (multipart.h).
 *
 * A body is: a preamble (ignored), then parts each introduced by a
 * delimiter line "--boundary" (optional linear white space, CRLF), a head
 * of fields, an empty line and the part's data; after the last part the
 * close delimiter "--boundary--" and an epilogue (ignored). The CRLF
 * before each delimiter belongs to the delimiter, not to the data, so the
 * delimiter searched for is CR LF "--" boundary; the first one may start
 * the body without its CRLF, which the parser handles by starting as if
 * "\r\n" had already been matched.
 *
 * The search: data runs up to the next CR are passed on at once; at a CR
 * the delimiter is compared. A boundary may not contain CR (RFC 2046's
 * bchars), so a failed comparison can restart only at a later CR, and
 * bytes that matched a delimiter's beginning at the end of one input are
 * either completed by the next input or are data (held in delim itself,
 * since they are its prefix). Each byte is looked at a bounded number of
 * times (at most the delimiter's length): linear time on any input. */
#include <errno.h>
#include <string.h>

#include "multipart.h"
#include "weft/httpmsg.h"

enum {
    S_PREAMBLE,
    S_AFTER,     /* after a delimiter: "--" or padding and CRLF */
    S_AFTER_DASH,
    S_PAD,       /* transport padding (spaces, tabs) */
    S_PAD_CR,
    S_HEAD,
    S_BODY,
    S_END,
    S_ERR,
};

static bool bchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c) != NULL;
}

int weft__mp_init(struct weft__mp *mp, const char *boundary, size_t blen,
                  char *hbuf, size_t hcap, weft_http_field_t *fields,
                  size_t max_fields, size_t max_parts) {
    memset(mp, 0, sizeof *mp);
    if (blen == 0 || blen > WEFT__MP_MAX_BOUNDARY || boundary[blen - 1] == ' ')
        return -EINVAL;
    for (size_t i = 0; i < blen; i++)
        if (!boundary[i] || !bchar((unsigned char)boundary[i]))
            return -EINVAL;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->dlen = 4 + blen;
    mp->matched = 2; /* the body may start with the first delimiter */
    mp->state = S_PREAMBLE;
    mp->hbuf = hbuf, mp->hcap = hcap;
    mp->fields = fields, mp->max_fields = max_fields;
    mp->max_parts = max_parts;
    return 0;
}

static ssize_t fail(struct weft__mp *mp, int err) {
    mp->state = S_ERR;
    mp->err = err;
    return err;
}

/* Scanning data (a part's body, or the preamble) for the delimiter.
 * Returns the bytes consumed; *found when a whole delimiter was; data
 * for the caller in *data (possibly empty). */
static size_t scan(struct weft__mp *mp, const char *in, size_t len,
                   weft_span_t *data, bool *found) {
    *found = false;
    data->ptr = in, data->len = 0;
    if (mp->matched) {
        size_t k = mp->dlen - mp->matched;
        if (k > len)
            k = len;
        if (memcmp(in, mp->delim + mp->matched, k) == 0) {
            mp->matched += k;
            if (mp->matched == mp->dlen) {
                mp->matched = 0;
                *found = true;
            }
            return k;
        }
        /* Not a delimiter after all: what was held is data. */
        data->ptr = mp->delim, data->len = mp->matched;
        mp->matched = 0;
        return 0;
    }
    const char *cr = memchr(in, '\r', len);
    if (cr != in) {
        size_t n = cr ? (size_t)(cr - in) : len;
        data->len = n;
        return n;
    }
    size_t k = len < mp->dlen ? len : mp->dlen;
    if (memcmp(in, mp->delim, k) == 0) {
        if (k == mp->dlen) {
            *found = true;
        } else {
            mp->matched = k;
        }
        return k;
    }
    cr = len > 1 ? memchr(in + 1, '\r', len - 1) : NULL;
    data->len = cr ? (size_t)(cr - in) : len;
    return data->len;
}

/* Split the head hbuf[0 .. n) (without the empty line's CRLF; each field
 * line ends in CRLF) into fields. */
static int parse_head(struct weft__mp *mp, size_t n) {
    const char *p = mp->hbuf, *end = mp->hbuf + n;
    mp->nfields = 0;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol + 1 >= end || eol[1] != '\n')
            return -EBADMSG;
        if (*p == ' ' || *p == '\t') /* obs-fold */
            return -EBADMSG;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || !weft_http_is_token(p, (size_t)(colon - p)))
            return -EBADMSG;
        const char *v = colon + 1, *ve = eol;
        for (const char *q = v; q < ve; q++) {
            unsigned char c = (unsigned char)*q;
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -EBADMSG; /* controls, a bare LF among them */
        }
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (mp->nfields == mp->max_fields)
            return -E2BIG;
        weft_http_field_t *f = &mp->fields[mp->nfields++];
        f->name.ptr = p, f->name.len = (size_t)(colon - p);
        f->value.ptr = v, f->value.len = (size_t)(ve - v);
        p = eol + 2;
    }
    return 0;
}

/* Collecting a part's head in hbuf until its empty line. */
static ssize_t head(struct weft__mp *mp, const char *in, size_t len,
                    int *event) {
    size_t old = mp->hlen, room = mp->hcap - old;
    size_t k = len < room ? len : room;
    memcpy(mp->hbuf + old, in, k);
    mp->hlen += k;
    const char *h = mp->hbuf;
    size_t end = 0; /* the head's length with its empty line */
    if (mp->hlen >= 2 && h[0] == '\r' && h[1] == '\n') {
        end = 2; /* no fields at all */
    } else {
        size_t from = old > 3 ? old - 3 : 0;
        for (size_t i = from; i + 4 <= mp->hlen; i++)
            if (h[i] == '\r' && memcmp(h + i, "\r\n\r\n", 4) == 0) {
                end = i + 4;
                break;
            }
    }
    if (!end) {
        if (mp->hlen == mp->hcap)
            return fail(mp, -EMSGSIZE);
        return (ssize_t)k;
    }
    int r = parse_head(mp, end - 2);
    if (r < 0)
        return fail(mp, r);
    mp->state = S_BODY;
    *event = WEFT__MP_HEAD;
    return (ssize_t)(end - old);
}

ssize_t weft__mp_feed(struct weft__mp *mp, const char *in, size_t len,
                      int *event, weft_span_t *data) {
    size_t done = 0;
    *event = WEFT__MP_NEED;
    if (mp->state == S_ERR)
        return mp->err;
    while (done < len) {
        const char *p = in + done;
        size_t n = len - done;
        bool found;
        switch (mp->state) {
        case S_PREAMBLE:
            done += scan(mp, p, n, data, &found);
            if (found)
                mp->state = S_AFTER;
            break;
        case S_BODY: {
            size_t k = scan(mp, p, n, data, &found);
            done += k;
            if (found) {
                mp->state = S_AFTER;
                *event = WEFT__MP_PART_END;
                return (ssize_t)done;
            }
            if (data->len) {
                *event = WEFT__MP_DATA;
                return (ssize_t)done;
            }
            break;
        }
        case S_AFTER:
            done++;
            if (*p == '-')
                mp->state = S_AFTER_DASH;
            else if (*p == ' ' || *p == '\t')
                mp->state = S_PAD;
            else if (*p == '\r')
                mp->state = S_PAD_CR;
            else
                return fail(mp, -EBADMSG);
            break;
        case S_AFTER_DASH:
            done++;
            if (*p != '-')
                return fail(mp, -EBADMSG);
            mp->state = S_END;
            *event = WEFT__MP_END;
            return (ssize_t)done;
        case S_PAD:
            done++;
            if (*p == '\r')
                mp->state = S_PAD_CR;
            else if (*p != ' ' && *p != '\t')
                return fail(mp, -EBADMSG);
            break;
        case S_PAD_CR:
            done++;
            if (*p != '\n')
                return fail(mp, -EBADMSG);
            if (mp->nparts == mp->max_parts)
                return fail(mp, -E2BIG);
            mp->nparts++;
            mp->hlen = 0;
            mp->state = S_HEAD;
            break;
        case S_HEAD: {
            ssize_t k = head(mp, p, n, event);
            if (k < 0)
                return k;
            done += (size_t)k;
            if (*event == WEFT__MP_HEAD)
                return (ssize_t)done;
            break;
        }
        case S_END:
            done = len;
            break;
        }
    }
    /* Input used up: bytes held from a previous call that turned out to
     * be data were returned above; nothing else is pending. */
    return (ssize_t)done;
}

int weft__mp_eof(const struct weft__mp *mp) {
    return mp->state == S_END ? 0 : -EBADMSG;
}
