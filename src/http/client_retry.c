/* The retry middleware: the request again after a retryable status or
 * (when asked) a failed attempt, waiting as the server's Retry-After says
 * (RFC 9110 10.2.3: seconds, or an HTTP-date), else with an exponential
 * backoff. The wait is a weft_sleep in the requesting task, so a caller's
 * deadline scope and the request's total timeout bound the retries too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

static const int default_statuses[] = {429, 500, 502, 503, 504};

struct weft_client_retry {
    weft_client_retry_opts_t o;
    int *statuses;
    uint64_t count;
    unsigned seed;
};

int weft_client_retry_new(weft_client_retry_t **out,
                          const weft_client_retry_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    weft_client_retry_opts_t o = opts ? *opts : (weft_client_retry_opts_t){0};
    if (o.attempts < 0 || isnan(o.backoff) || o.backoff < 0 ||
        isnan(o.max_delay) || o.max_delay < 0 || isnan(o.jitter) ||
        o.jitter < 0 || o.jitter > 1 || (o.nstatuses && !o.statuses)) {
        WEFT__MISUSE("weft_client_retry_new", "bad options");
        return -EINVAL;
    }
    weft_client_retry_t *r = weft__calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    if (!o.attempts)
        o.attempts = 3;
    if (!o.backoff)
        o.backoff = 0.5;
    if (!o.max_delay)
        o.max_delay = 30;
    if (!o.statuses) {
        o.statuses = default_statuses;
        o.nstatuses = WEFT__ARRAY_LEN(default_statuses);
    }
    r->statuses = weft__malloc(o.nstatuses * sizeof *r->statuses);
    if (!r->statuses) {
        weft__free(r);
        return -ENOMEM;
    }
    memcpy(r->statuses, o.statuses, o.nstatuses * sizeof *r->statuses);
    o.statuses = r->statuses;
    r->o = o;
    r->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)r;
    *out = r;
    return 0;
}

void weft_client_retry_free(weft_client_retry_t *r) {
    if (!r)
        return;
    weft__free(r->statuses);
    weft__free(r);
}

uint64_t weft_client_retry_count(const weft_client_retry_t *r) {
    return r ? r->count : 0;
}

static bool retryable_status(const weft_client_retry_t *r, int status) {
    for (size_t i = 0; i < r->o.nstatuses; i++)
        if (r->statuses[i] == status)
            return true;
    return false;
}

/* Failures of one attempt that another may not have: the connection, the
 * response, a timeout of the attempt (the total one and a caller's
 * deadline stay expired, so the wait before the next try ends the
 * loop). */
static bool retryable_error(int err) {
    switch (err) {
    case -ECONNREFUSED:
    case -ECONNRESET:
    case -ECONNABORTED:
    case -EPIPE:
    case -EHOSTUNREACH:
    case -ENETUNREACH:
    case -ETIMEDOUT:
    case WEFT_EAI_AGAIN:
    case WEFT_ECLIENT_NO_RESPONSE:
    case WEFT_EHTTP_TRUNCATED:
        return true;
    default:
        return false;
    }
}

/* Retry-After in seconds from now: 0 and up, or -1 when absent or
 * malformed. */
static double retry_after(const weft_client_response_t *resp) {
    weft_span_t v;
    if (weft_client_header(resp, "Retry-After", &v) < 0 || !v.len)
        return -1;
    double secs = 0;
    size_t i = 0;
    for (; i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++)
        secs = secs * 10 + (v.ptr[i] - '0');
    if (i == v.len)
        return secs;
    time_t t;
    if (weft_http_date_parse(v.ptr, v.len, &t) < 0)
        return -1;
    double d = difftime(t, time(NULL));
    return d > 0 ? d : 0;
}

int weft_client_retry(weft_client_request_t *req, weft_client_next_t *next,
                      void *arg, weft_client_response_t **resp) {
    weft_client_retry_t *r = arg;
    if (!r || !resp)
        return -EINVAL;
    double backoff = r->o.backoff;
    bool may = weft_client_req_replayable(req) &&
               (weft_client_req_idempotent(req) ||
                (r->o.flags & WEFT_CLIENT_RETRY_ANY_METHOD));
    for (int attempt = 1;; attempt++) {
        int err = weft_client_next(req, next, resp);
        bool last = attempt >= r->o.attempts || !may;
        double delay;
        if (!err) {
            if (last || !retryable_status(r, weft_client_status(*resp)))
                return 0;
            double ra = retry_after(*resp);
            if (ra > r->o.max_delay)
                return 0; /* longer than we are willing to wait */
            delay = ra >= 0 ? ra : backoff;
            weft_client_release(*resp);
            *resp = NULL;
        } else {
            if (last || !(r->o.flags & WEFT_CLIENT_RETRY_ERRORS) ||
                !retryable_error(err))
                return err;
            delay = backoff;
        }
        if (delay == backoff && r->o.jitter > 0)
            delay *= 1 - r->o.jitter * ((double)rand_r(&r->seed) / RAND_MAX);
        if (delay > r->o.max_delay)
            delay = r->o.max_delay;
        backoff *= 2;
        r->count++;
        err = weft_sleep(delay);
        if (err)
            return err;
    }
}
