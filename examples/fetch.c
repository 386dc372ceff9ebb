/* fetch: a small curl on weft's HTTP client (weft/client.h), as aiohttp's
 * documentation opens with a client example.
 *
 *   fetch [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE]
 *         [--timeout S] [--cacert FILE | --insecure] [-o FILE] [-f] [-v] URL
 *
 * The body goes to stdout (or FILE); with -v the request and response
 * heads go to stderr ("> " and "< " lines, as curl prints them); redirects
 * are followed. On failure: one line saying what failed on stderr and a
 * non-zero exit (1; 22 for an error status with -f, as curl). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#define MAX_HEADERS 64

struct args {
    const char *method, *url, *data, *out, *cacert;
    const char *headers[2 * MAX_HEADERS + 1];
    char *owned[MAX_HEADERS];
    size_t nheaders;
    double timeout;
    bool insecure, verbose, fail;
};

static int usage(void) {
    fprintf(stderr,
            "usage: fetch [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE]\n"
            "             [--timeout S] [--cacert FILE | --insecure] [-o FILE]"
            " [-f] [-v] URL\n");
    return 2;
}

/* "Name: value" -> name and value. */
static int add_header(struct args *a, const char *h) {
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || a->nheaders == MAX_HEADERS) {
        fprintf(stderr, "fetch: bad header '%s' (want 'Name: value')\n", h);
        return -1;
    }
    char *name = strndup(h, (size_t)(colon - h));
    if (!name)
        return -1;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    a->owned[a->nheaders] = name;
    a->headers[2 * a->nheaders] = name;
    a->headers[2 * a->nheaders + 1] = v;
    a->nheaders++;
    return 0;
}

static int parse(struct args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(s, "-X") && more)
            a->method = argv[++i];
        else if (!strcmp(s, "-H") && more) {
            if (add_header(a, argv[++i]))
                return -1;
        } else if (!strcmp(s, "-d") && more)
            a->data = argv[++i];
        else if (!strcmp(s, "-o") && more)
            a->out = argv[++i];
        else if (!strcmp(s, "--cacert") && more)
            a->cacert = argv[++i];
        else if (!strcmp(s, "--timeout") && more) {
            char *end;
            a->timeout = strtod(argv[++i], &end);
            if (*end || !(a->timeout > 0)) {
                fprintf(stderr, "fetch: bad timeout '%s'\n", argv[i]);
                return -1;
            }
        } else if (!strcmp(s, "--insecure") || !strcmp(s, "-k"))
            a->insecure = true;
        else if (!strcmp(s, "-v"))
            a->verbose = true;
        else if (!strcmp(s, "-f"))
            a->fail = true;
        else if (s[0] == '-' || a->url)
            return usage() ? -1 : -1;
        else
            a->url = s;
    }
    if (!a->url || (a->insecure && a->cacert))
        return usage() ? -1 : -1;
    return 0;
}

/* -v: the heads as they went and came, each line prefixed. */
static void show_head(char mark, weft_span_t head) {
    const char *p = head.ptr, *end = head.ptr + head.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n)
            fprintf(stderr, "%c %.*s\n", mark, (int)n, p);
        p = nl ? nl + 1 : end;
    }
}

static void trace(const weft_client_trace_info_t *i, void *arg) {
    (void)arg;
    if (i->event == WEFT_CLIENT_TRACE_HEAD_SENT)
        show_head('>', i->head);
    else if (i->event == WEFT_CLIENT_TRACE_RESPONSE_HEAD) {
        show_head('<', i->head);
        fprintf(stderr, "<\n");
    } else if (i->event == WEFT_CLIENT_TRACE_CONN_REUSED)
        fprintf(stderr, "* connection to %s reused\n", i->host);
    else if (i->event == WEFT_CLIENT_TRACE_REDIRECT)
        fprintf(stderr, "* following the redirect (%d)\n", i->status);
}

static int fetch(struct args *a) {
    weft_session_opts_t so = {.ca_file = a->cacert};
    if (a->insecure)
        so.flags |= WEFT_SESSION_INSECURE;
    if (a->timeout)
        so.timeout.total = a->timeout;
    weft_session_t *s;
    int err = weft_session_new(&s, &so);
    if (err) {
        fprintf(stderr, "fetch: %s\n", weft_strerror(err));
        return 1;
    }
    if (a->verbose)
        weft_session_trace(s, trace, NULL);
    weft_client_body_t body = {0};
    int fd = -1;
    if (a->data && a->data[0] == '@') {
        fd = open(a->data + 1, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "fetch: %s: %s\n", a->data + 1, strerror(errno));
            weft_session_close(s);
            return 1;
        }
        body = (weft_client_body_t)WEFT_CLIENT_FILE(
            fd, 0, -1, "application/x-www-form-urlencoded");
    } else if (a->data) {
        /* curl's -d: a form body unless a Content-Type says otherwise */
        body = (weft_client_body_t)WEFT_CLIENT_BYTES(
            a->data, strlen(a->data), "application/x-www-form-urlencoded");
    }
    const char *method = a->method ? a->method : a->data ? "POST" : "GET";
    weft_client_error_t e;
    weft_client_req_opts_t o = {
        .headers = a->headers,
        .body = a->data ? &body : NULL,
        .flags = a->fail ? WEFT_CLIENT_RAISE_FOR_STATUS : 0,
        .error = &e};
    weft_client_response_t *r;
    err = weft_session_request(s, method, a->url, &o, &r);
    int status = 0;
    if (err) {
        fprintf(stderr, "fetch: %s\n", e.msg);
        status = WEFT_CLIENT_IS_HTTP(err) ? 22 : 1;
    } else {
        FILE *out = a->out ? fopen(a->out, "wb") : stdout;
        if (!out) {
            fprintf(stderr, "fetch: %s: %s\n", a->out, strerror(errno));
            status = 1;
        }
        const void *d;
        ssize_t n = 0;
        while (out && (n = weft_client_read_chunk(r, &d)) > 0)
            if (fwrite(d, 1, (size_t)n, out) != (size_t)n) {
                fprintf(stderr, "fetch: writing: %s\n", strerror(errno));
                status = 1;
                break;
            }
        if (n < 0) {
            fprintf(stderr, "fetch: %s\n", weft_client_errmsg(r));
            status = 1;
        }
        if (out && out != stdout && fclose(out) != 0)
            status = 1;
        if (out == stdout)
            fflush(stdout);
        weft_client_release(r);
    }
    if (fd >= 0)
        close(fd);
    weft_session_close(s);
    return status;
}

static int fetch_main(void *arg) {
    return fetch(arg);
}

int main(int argc, char **argv) {
    struct args a = {0};
    if (parse(&a, argc, argv))
        return 2;
    int sig = 0;
    weft_run_opts_t ro = {.flags = WEFT_RUN_SIGNALS, .stop_signal = &sig};
    int status = weft_run_opts(fetch_main, &a, &ro);
    for (size_t i = 0; i < a.nheaders; i++)
        free(a.owned[i]);
    if (sig)
        return 128 + sig;
    return status < 0 ? 1 : status;
}
