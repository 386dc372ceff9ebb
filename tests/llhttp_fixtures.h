/* Reading llhttp's markdown test fixtures (../shared/reference/
 * llhttp-fixtures, see its README): each case's raw message, its meta
 * (request or response, lenient flags) and the transcript llhttp's event
 * log amounts to, in tests/http1_drive.h's format, so that our parser's
 * transcript can be compared with it.
 *
 * The raw message is decoded as llhttp's test/md-test.ts does (read with
 * the search tool; the rules, not its code): drop the final newline and
 * backslash-escaped newlines, make every line end CRLF, then replace the
 * escapes \r \n \t \f \xHH and octal \NNN (whose values above 0x7F end up
 * UTF-8 encoded, as JavaScript strings written out do). */
#ifndef WEFT_TEST_LLHTTP_FIXTURES_H
#define WEFT_TEST_LLHTTP_FIXTURES_H

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "http1_drive.h"

struct fixture {
    char file[64];  /* "request/sample.md" */
    char name[512]; /* the headings above it, " / "-joined */
    char type[64];  /* meta "type": "request", "response-lenient-all" ... */
    bool skip_body;
    char *input;
    size_t input_len;
    struct drive_text expect; /* llhttp's transcript */
};

struct fixture_set {
    struct fixture *v;
    size_t n, cap;
};

/* The fixtures directory: $WEFT_LLHTTP_FIXTURES, else the default next to
 * the source tree; NULL if neither exists. */
static inline const char *fixtures_dir(const char *dflt) {
    const char *env = getenv("WEFT_LLHTTP_FIXTURES");
    const char *d = env && *env ? env : dflt;
    DIR *dir = d ? opendir(d) : NULL;
    if (!dir)
        return NULL;
    closedir(dir);
    return d;
}

static inline char *fixture_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct drive_text t = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        drive_put(&t, tmp, n);
    fclose(f);
    if (!t.s)
        drive_put(&t, "", 0);
    *len = t.len;
    return t.s;
}

static inline void utf8_put(struct drive_text *t, unsigned v) {
    char b[2];
    if (v < 0x80) {
        b[0] = (char)v;
        drive_put(t, b, 1);
    } else {
        b[0] = (char)(0xc0 | (v >> 6));
        b[1] = (char)(0x80 | (v & 0x3f));
        drive_put(t, b, 2);
    }
}

static inline int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The raw block (its lines joined by \n) to the bytes of the message. */
static inline void fixture_decode(const char *raw, size_t n,
                                  struct drive_text *out) {
    /* 1. drop "\\\n" (escaped newlines); 2. every \n becomes \r\n. */
    struct drive_text a = {0};
    for (size_t i = 0; i < n; i++) {
        if (raw[i] == '\\' && i + 1 < n && raw[i + 1] == '\n') {
            i++;
            continue;
        }
        if (raw[i] == '\n')
            drive_put(&a, "\r\n", 2);
        else
            drive_put(&a, &raw[i], 1);
    }
    /* 3. escapes. */
    for (size_t i = 0; i < a.len; i++) {
        char c = a.s[i];
        if (c != '\\' || i + 1 == a.len) {
            drive_put(out, &c, 1);
            continue;
        }
        char e = a.s[i + 1];
        if (e == 'r' || e == 'n' || e == 't' || e == 'f') {
            char v = e == 'r' ? '\r' : e == 'n' ? '\n' : e == 't' ? '\t' : '\f';
            drive_put(out, &v, 1);
            i++;
        } else if (e == 'x' && i + 2 < a.len && hexval(a.s[i + 2]) >= 0) {
            unsigned v = 0;
            size_t j = i + 2;
            while (j < a.len && hexval(a.s[j]) >= 0)
                v = v * 16 + (unsigned)hexval(a.s[j++]);
            utf8_put(out, v);
            i = j - 1;
        } else if (e >= '0' && e <= '7') {
            unsigned v = 0;
            size_t j = i + 1;
            while (j < a.len && j < i + 4 && a.s[j] >= '0' && a.s[j] <= '7')
                v = v * 8 + (unsigned)(a.s[j++] - '0');
            utf8_put(out, v);
            i = j - 1;
        } else {
            drive_put(out, &c, 1);
        }
    }
    if (!out->s)
        drive_put(out, "", 0);
    drive_free(&a);
}

/* A span named in the log: "off=N len=L span[KIND]=..." */
struct log_msg {
    struct drive_text method, url, status, field, value, body, fields;
    unsigned long head_off; /* where the head ended */
    size_t head_at;         /* the transcript's length before the head */
    bool headed, begun;
};

static inline void log_msg_reset(struct log_msg *m) {
    struct drive_text *ts[] = {&m->method, &m->url,  &m->status, &m->field,
                               &m->value,  &m->body, &m->fields};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        ts[i]->len = 0;
    m->headed = m->begun = false;
}

static inline void log_msg_free(struct log_msg *m) {
    struct drive_text *ts[] = {&m->method, &m->url,  &m->status, &m->field,
                               &m->value,  &m->body, &m->fields};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        drive_free(ts[i]);
}

static inline void log_body(struct log_msg *m, struct drive_text *t) {
    if (m->headed && m->body.len) {
        drive_puts(t, "body ");
        drive_bytes(t, m->body.s, m->body.len);
        drive_puts(t, "\n");
    }
}

static inline void log_body_complete(struct log_msg *m, struct drive_text *t) {
    log_body(m, t);
    drive_puts(t, "complete\n");
    log_msg_reset(m);
}

/* llhttp's event log to a transcript. */
static inline void fixture_expect(const char *log, size_t n, const char *in,
                                  size_t in_len, bool response,
                                  struct drive_text *t) {
    struct log_msg m;
    memset(&m, 0, sizeof m);
    bool ended = false;
    const char *p = log, *end = log + n;
    while (p < end && !ended) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        char line[1024];
        size_t ln = (size_t)(eol - p) < sizeof line - 1 ? (size_t)(eol - p)
                                                        : sizeof line - 1;
        memcpy(line, p, ln);
        line[ln] = 0;
        p = eol + 1;
        unsigned long off = strtoul(line + 4, NULL, 10);
        char *rest = strchr(line, ' ');
        if (!rest)
            continue;
        rest++;
        unsigned long len;
        char kind[64];
        if (sscanf(rest, "len=%lu span[%63[^]]]", &len, kind) == 2) {
            struct drive_text *d = NULL;
            if (off + len > in_len)
                continue;
            if (!strcmp(kind, "method"))
                d = &m.method;
            else if (!strcmp(kind, "url"))
                d = &m.url;
            else if (!strcmp(kind, "status"))
                d = &m.status;
            else if (!strcmp(kind, "header_field"))
                d = &m.field;
            else if (!strcmp(kind, "header_value"))
                d = &m.value;
            else if (!strcmp(kind, "body"))
                d = &m.body;
            if (d)
                drive_put(d, in + off, len);
        } else if (!strncmp(rest, "message begin", 13)) {
            log_msg_reset(&m);
            m.begun = true;
        } else if (!strncmp(rest, "header_value complete", 21)) {
            size_t vl = m.value.len;
            while (vl &&
                   (m.value.s[vl - 1] == ' ' || m.value.s[vl - 1] == '\t'))
                vl--;
            drive_puts(&m.fields, "field ");
            drive_bytes(&m.fields, m.field.s ? m.field.s : "", m.field.len);
            drive_puts(&m.fields, ": ");
            drive_bytes(&m.fields, m.value.s ? m.value.s : "", vl);
            drive_puts(&m.fields, "\n");
            m.field.len = m.value.len = 0;
        } else if (!strncmp(rest, "headers complete", 16)) {
            int a = 0, b = 0, st = 0;
            const char *v = strstr(rest, " v=");
            if (v)
                sscanf(v, " v=%d/%d", &a, &b);
            const char *s = strstr(rest, "status=");
            if (s)
                st = atoi(s + 7);
            m.head_at = t->len;
            m.head_off = off;
            drive_puts(t, "head ");
            if (response) {
                drive_printf(t, "%d.%d %d ", a, b, st);
                drive_bytes(t, m.status.s ? m.status.s : "", m.status.len);
            } else {
                drive_bytes(t, m.method.s ? m.method.s : "", m.method.len);
                drive_puts(t, " ");
                drive_bytes(t, m.url.s ? m.url.s : "", m.url.len);
                drive_printf(t, " %d.%d", a, b);
            }
            drive_puts(t, "\n");
            if (m.fields.len)
                drive_put(t, m.fields.s, m.fields.len);
            m.headed = true;
        } else if (!strncmp(rest, "message complete", 16)) {
            log_body_complete(&m, t);
        } else if (!strncmp(rest, "error code=", 11)) {
            int code = atoi(rest + 11);
            /* An error where the head ended rejects the head (our
             * transcript never shows a rejected head); one later is in
             * the body, after what the body held. */
            if (m.headed && off == m.head_off && m.body.len == 0 &&
                code != 22 && code != 23 && code != 5) {
                t->len = m.head_at;
                t->s[t->len] = 0;
            } else {
                log_body(&m, t);
            }
            drive_puts(t, code == 22 || code == 23 || code == 5
                              ? "end stop\n"
                              : "end error\n");
            ended = true;
        } else if (!strncmp(rest, "finish=", 7)) {
            int f = atoi(rest + 7);
            if (f == 1 && m.headed)
                log_body_complete(&m, t);
            else
                log_body(&m, t);
            drive_puts(t, f == 2 ? "end error\n" : "end ok\n");
            ended = true;
        }
    }
    if (!ended) {
        log_body(&m, t);
        drive_puts(t, m.begun ? "end incomplete\n" : "end ok\n");
    }
    log_msg_free(&m);
}

static inline struct fixture *fixture_add(struct fixture_set *s) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    struct fixture *f = &s->v[s->n++];
    memset(f, 0, sizeof *f);
    return f;
}

/* Load the cases of dir/rel (e.g. "request/sample.md") into s. Returns
 * false if the file cannot be read. */
static inline bool fixtures_load(const char *dir, const char *rel,
                                 struct fixture_set *s) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    size_t n;
    char *text = fixture_slurp(path, &n);
    if (!text)
        return false;
    char heads[6][160] = {{0}};
    char type[64] = "";
    bool skip_body = false;
    struct fixture *cur = NULL;
    char *p = text, *end = text + n;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        size_t ln = (size_t)(eol - p);
        if (ln >= 3 && p[0] == '#') {
            int level = 0;
            while (level < (int)ln && p[level] == '#')
                level++;
            if (level >= 1 && level <= 6 && p[level] == ' ') {
                size_t tl = ln - (size_t)level - 1;
                if (tl >= sizeof heads[0])
                    tl = sizeof heads[0] - 1;
                memcpy(heads[level - 1], p + level + 1, tl);
                heads[level - 1][tl] = 0;
                for (int k = level; k < 6; k++)
                    heads[k][0] = 0;
            }
        } else if (ln > 10 && !strncmp(p, "<!-- meta=", 10)) {
            char meta[512];
            size_t ml = ln < sizeof meta - 1 ? ln : sizeof meta - 1;
            memcpy(meta, p, ml);
            meta[ml] = 0;
            type[0] = 0;
            char *ty = strstr(meta, "\"type\"");
            if (ty && (ty = strchr(ty + 6, '"')) != NULL)
                sscanf(ty + 1, "%63[^\"]", type);
            skip_body = strstr(meta, "\"skipBody\": true") != NULL;
        } else if (ln >= 3 && !strncmp(p, "```", 3)) {
            bool http = ln >= 7 && !strncmp(p + 3, "http", 4);
            bool log = ln >= 6 && !strncmp(p + 3, "log", 3);
            /* The block: the lines up to the closing fence. */
            char *b = eol + 1 > end ? end : eol + 1;
            char *q = b;
            while (q < end && strncmp(q, "```", 3) != 0) {
                char *e = memchr(q, '\n', (size_t)(end - q));
                q = e ? e + 1 : end;
            }
            size_t bl = (size_t)(q - b);
            if (bl > 0 && b[bl - 1] == '\n')
                bl--; /* the lines joined by \n */
            if (http) {
                cur = fixture_add(s);
                snprintf(cur->file, sizeof cur->file, "%s", rel);
                for (int k = 1; k < 6; k++) {
                    if (!heads[k][0])
                        continue;
                    size_t at = strlen(cur->name);
                    snprintf(cur->name + at, sizeof cur->name - at, "%s%s",
                             at ? " / " : "", heads[k]);
                }
                snprintf(cur->type, sizeof cur->type, "%s", type);
                cur->skip_body = skip_body;
                struct drive_text in = {0};
                fixture_decode(b, bl, &in);
                cur->input = in.s;
                cur->input_len = in.len;
            } else if (log && cur) {
                fixture_expect(b, bl, cur->input, cur->input_len,
                               !strncmp(cur->type, "response", 8),
                               &cur->expect);
                cur = NULL;
            }
            eol = q < end ? memchr(q, '\n', (size_t)(end - q)) : NULL;
            if (!eol)
                eol = end;
        }
        p = eol + 1;
    }
    free(text);
    return true;
}

static inline void fixtures_free(struct fixture_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].input);
        drive_free(&s->v[i].expect);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* The files, in the order llhttp's README lists its groups. */
static const char *const fixture_files[] = {
    "request/sample.md",
    "request/lenient-headers.md",
    "request/lenient-header-value-relaxed.md",
    "request/lenient-version.md",
    "request/method.md",
    "request/uri.md",
    "request/connection.md",
    "request/content-length.md",
    "request/transfer-encoding.md",
    "request/invalid.md",
    "request/finish.md",
    "request/pausing.md",
    "request/pipelining.md",
    "response/sample.md",
    "response/connection.md",
    "response/content-length.md",
    "response/transfer-encoding.md",
    "response/invalid.md",
    "response/finish.md",
    "response/lenient-version.md",
    "response/pausing.md",
    "response/pipelining.md",
};

#endif
