/* Internal to src/http/parse.c: the parts of the head parser that scan
 * bytes, included once per scanning path (portable SWAR, SSE2, AVX2) with
 * IMPL(name) naming the copy, IMPL_ATTR its target attribute, and
 * SCAN_TARGET / SCAN_VALUE / SCAN_TOKEN the loops it inlines (scan.h).
 * parse.c picks a copy once per process (weft__http_simd_set). */

/* request-line = method SP request-target SP HTTP-version CRLF */
static IMPL_ATTR int IMPL(request_line)(struct ctx *c, const char **pp) {
    weft_http1_head_t *h = c->head;
    const char *lim = start_line_lim(c);
    const char *p = *pp;
    int r = skip_empty_lines(c, &p, lim);
    if (r < 0)
        return r;

    const char *m = p;
    while (p < lim && weft__http_is((unsigned char)*p, TCHAR))
        p++;
    if (p == lim)
        return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
    if (*p != ' ' || p == m)
        return *p == ' ' || *p == '\r' || *p == '\n' ? WEFT_EHTTP_BAD_START_LINE
                                                     : WEFT_EHTTP_BAD_METHOD;
    h->method = (weft_span_t){m, (size_t)(p - m)};
    h->method_id = method_id(m, (size_t)(p - m));

    const char *t = ++p;
    p = SCAN_TARGET(p, lim);
    if (p == lim)
        return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
    if (*p != ' ')
        return *p == '\r' || *p == '\n' ? WEFT_EHTTP_BAD_START_LINE
                                        : WEFT_EHTTP_BAD_TARGET;
    if (p == t)
        return WEFT_EHTTP_BAD_START_LINE;
    h->target = (weft_span_t){t, (size_t)(p - t)};

    p++;
    if (p < lim && *p == ' ')
        return WEFT_EHTTP_BAD_START_LINE; /* two spaces */
    r = version(p, lim);
    if (r == -EAGAIN)
        return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
    if (r < 0)
        return r;
    h->minor = r;
    p += 8;
    r = line_end(c, p, lim, WEFT_EHTTP_LINE_TOO_LONG,
                 p < lim && weft__http_digit((unsigned char)*p) ? WEFT_EHTTP_BAD_VERSION
                                           : WEFT_EHTTP_BAD_START_LINE);
    if (r < 0)
        return r;
    if ((size_t)(p - c->buf) > c->lim.start_line)
        return WEFT_EHTTP_LINE_TOO_LONG;
    *pp = p + r;
    return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF;
 * the SP before an empty reason may be missing (as servers send it). */
static IMPL_ATTR int IMPL(status_line)(struct ctx *c, const char **pp) {
    weft_http1_head_t *h = c->head;
    const char *lim = start_line_lim(c);
    const char *p = *pp;
    int r = skip_empty_lines(c, &p, lim);
    if (r < 0)
        return r;

    r = version(p, lim);
    if (r == -EAGAIN)
        return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
    if (r < 0)
        return r;
    h->minor = r;
    p += 8;
    if (p == lim)
        return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
    if (*p != ' ')
        return weft__http_digit((unsigned char)*p) ? WEFT_EHTTP_BAD_VERSION
                              : WEFT_EHTTP_BAD_START_LINE;
    p++;
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == lim)
            return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
        if (!weft__http_digit((unsigned char)*p))
            return WEFT_EHTTP_BAD_STATUS;
        status = status * 10 + (*p - '0');
    }
    if (status < 100)
        return WEFT_EHTTP_BAD_STATUS;
    h->status = status;

    const char *reason = p;
    if (p < lim && *p == ' ')
        reason = ++p;
    else if (p < lim && *p != '\r' && *p != '\n')
        return WEFT_EHTTP_BAD_STATUS;
    for (;;) {
        p = SCAN_VALUE(p, lim);
        if (p == lim || *p != '\t')
            break;
        p++;
    }
    r = line_end(c, p, lim, WEFT_EHTTP_LINE_TOO_LONG, WEFT_EHTTP_BAD_REASON);
    if (r < 0)
        return r;
    if ((size_t)(p - c->buf) > c->lim.start_line)
        return WEFT_EHTTP_LINE_TOO_LONG;
    h->reason = (weft_span_t){reason, (size_t)(p - reason)};
    *pp = p + r;
    return 0;
}

/* Field lines from *pp to the empty line that ends them, into f. c is NULL
 * for a trailer section (no framing fields, the buffer's own end). Returns
 * 0 with *pp after the empty line, -EAGAIN / a limit error, or an error. */
static IMPL_ATTR int IMPL(field_lines)(struct ctx *c,
                                       struct weft__http_fields *f,
                                       const char **pp, const char *lim,
                                       bool first) {
    const char *p = *pp;
    const bool lenient = f->lenient;
    for (;;) {
        if (p == lim)
            return c ? need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE) : -EAGAIN;
        /* The empty line, or a field name. */
        if (*p == '\r' || *p == '\n') {
            int t;
            if (*p == '\n')
                t = lenient ? 1 : WEFT_EHTTP_BARE_LF;
            else if (p + 1 == lim)
                return c ? need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE)
                         : -EAGAIN;
            else
                t = p[1] == '\n' ? 2 : WEFT_EHTTP_BARE_CR;
            if (t < 0)
                return t;
            *pp = p + t;
            return 0;
        }
        if (weft__http_ows(*p))
            return first ? WEFT_EHTTP_SPACE_AFTER_START_LINE
                         : WEFT_EHTTP_OBS_FOLD;
        first = false;
        const char *name = p;
        p = SCAN_TOKEN(p, lim);
        if (p == lim)
            return c ? need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE) : -EAGAIN;
        const char *name_end = p;
        if (*p != ':') {
            if (p == name || !weft__http_ows(*p))
                return WEFT_EHTTP_BAD_FIELD_NAME;
            if (!lenient || c == NULL) /* trailers take no leniency here */
                return WEFT_EHTTP_SPACE_BEFORE_COLON;
            while (p < lim && weft__http_ows(*p))
                p++;
            if (p == lim)
                return c ? need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE)
                         : -EAGAIN;
            if (*p != ':')
                return WEFT_EHTTP_BAD_FIELD_NAME;
        }
        if (p == name)
            return WEFT_EHTTP_BAD_FIELD_NAME;
        p++;
        if (p < lim && *p == ' ')
            p++; /* the usual single space */
        while (p < lim && weft__http_ows(*p))
            p++;
        const char *value = p;
        /* The value runs to the line end; HTAB is the only control
         * character it may hold. A response's obs-fold continues it. */
        int t;
        for (;;) {
            p = SCAN_VALUE(p, lim);
            if (p == lim)
                return c ? need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE)
                         : -EAGAIN;
            if (*p == '\t') {
                p++;
                continue;
            }
            if (*p == '\r') {
                if (p + 1 == lim)
                    return c ? need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE)
                             : -EAGAIN;
                if (p[1] != '\n')
                    return WEFT_EHTTP_BARE_CR;
                t = 2;
            } else if (*p == '\n') {
                if (!lenient)
                    return WEFT_EHTTP_BARE_LF;
                t = 1;
            } else {
                return WEFT_EHTTP_BAD_FIELD_VALUE;
            }
            if (!lenient || c == NULL)
                break;
            if (p + t == lim)
                return need_more(c, lim, WEFT_EHTTP_HEAD_TOO_LARGE);
            if (!weft__http_ows(p[t]))
                break;
            unfold(p, t);
            c->head->flags |= WEFT_HTTP1_FOLDED;
            p += t;
        }
        const char *value_end = p;
        while (value_end > value && weft__http_ows(value_end[-1]))
            value_end--;
        if (lenient && c) /* an unfolded value may start with spaces */
            while (value < value_end && weft__http_ows(*value))
                value++;
        if (f->n == f->max)
            return WEFT_EHTTP_TOO_MANY_FIELDS;
        weft_http_field_t *fl = &f->fields[f->n++];
        fl->name = (weft_span_t){name, (size_t)(name_end - name)};
        fl->value = (weft_span_t){value, (size_t)(value_end - value)};
        p += t;
        if (c) {
            int r = special_field(c, fl);
            if (r < 0)
                return r;
        }
    }
}

/* The start line and the field lines of a head. */
static IMPL_ATTR int IMPL(head)(struct ctx *c, struct weft__http_fields *f,
                                const char **pp) {
    int r = c->response ? IMPL(status_line)(c, pp) : IMPL(request_line)(c, pp);
    if (r < 0)
        return r;
    return IMPL(field_lines)(c, f, pp, c->end, true);
}

static IMPL_ATTR int IMPL(trailers)(struct weft__http_fields *f,
                                    const char **pp, const char *lim) {
    return IMPL(field_lines)(NULL, f, pp, lim, false);
}

static const struct impl IMPL(impl) = {IMPL(head), IMPL(trailers)};
