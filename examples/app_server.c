/* app_server.c - a small application on weft's server, as one would write
 * it with aiohttp.web: a JSON API over items kept in memory, a middleware
 * that times requests, static files, a form upload and server-sent
 * events.
 *
 * Usage: app_server [--static DIR] [--routes N] [--log] PORT
 *
 *   GET    /api/items        the items, as a JSON array
 *   POST   /api/items        create one from {"name": string, "qty": int >= 0}
 *                            (201 with the item; 400 {"error": ...} if invalid)
 *   GET    /api/items/{id}   one item (404 {"error": "Not Found"} if none)
 *   DELETE /api/items/{id}   remove it (204)
 *   POST   /upload           a multipart form: each file part is streamed
 *                            and counted, answered as JSON
 *                            [{"name", "filename", "bytes"}]
 *   GET    /events           server-sent events: the time, once a second
 *   GET    /static/...       files from DIR (with --static)
 *
 * Every response carries X-Response-Time (the timing middleware, in
 * microseconds); errors from the API are JSON. --routes N registers N
 * more routes (/r/0 .. /r/N-1, for the benchmark's "50 routes" row).
 * --log writes an access log (combined format) to stdout. Prints
 * "listening on http://127.0.0.1:PORT/"; SIGINT or SIGTERM: a graceful
 * shutdown, "stopped", exit 0. Errors: one line on stderr, exit 1; bad
 * arguments: exit 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>
#include <weft/json.h>
#include <weft/web_form.h>
#include <weft/web_log.h>
#include <weft/web_sse.h>
#include <weft/web_static.h>

#define USAGE "usage: app_server [--static DIR] [--routes N] [--log] PORT\n"

/* ---- the items -------------------------------------------------------------------- */

/* One loop serves them (no workers), so no lock is needed. */
static json_t *items; /* an object: id (text) -> item */
static long next_id = 1;

static int list_items(weft_web_request_t *req, void *arg) {
    (void)arg;
    json_t *all = json_array(), *item;
    const char *key;
    json_object_foreach(items, key, item) json_array_append(all, item);
    return weft_web_json_take(req, 200, all);
}

static int create_item(weft_web_request_t *req, void *arg) {
    (void)arg;
    json_t *body;
    int r = weft_web_read_json(req, &body, 64 * 1024);
    if (r < 0)
        return r;
    json_t *name = json_object_get(body, "name");
    json_t *qty = json_object_get(body, "qty");
    if (!json_is_object(body))
        return weft_web_json_error(req, 400, "the body must be an object");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > 100)
        return weft_web_json_error(req, 400,
                                   "'name' must be a string of 1 to 100 "
                                   "characters");
    if (qty && (!json_is_integer(qty) || json_integer_value(qty) < 0))
        return weft_web_json_error(req, 400,
                                   "'qty' must be an integer >= 0");
    char id[24];
    snprintf(id, sizeof id, "%ld", next_id++);
    json_t *item = json_pack("{s:s, s:O, s:I}", "id", id, "name", name, "qty",
                             (json_int_t)(qty ? json_integer_value(qty) : 0));
    if (!item || json_object_set(items, id, item) < 0) {
        json_decref(item);
        return -ENOMEM;
    }
    char *loc = weft_web_sprintf(req, "/api/items/%s", id);
    if (!loc)
        return -ENOMEM;
    weft_web_set_header(weft_web_resp(req), "Location", loc);
    return weft_web_json_take(req, 201, item);
}

static int get_item(weft_web_request_t *req, void *arg) {
    (void)arg;
    json_t *item = json_object_get(items, weft_web_match(req, "id"));
    return item ? weft_web_json(req, 200, item) : WEFT_WEB_HTTP(404);
}

static int delete_item(weft_web_request_t *req, void *arg) {
    (void)arg;
    if (json_object_del(items, weft_web_match(req, "id")) < 0)
        return WEFT_WEB_HTTP(404);
    return weft_web_set_status(weft_web_resp(req), 204, NULL);
}

/* ---- upload, events, the extra routes ------------------------------------------ */

static int upload(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_multipart_t *mp;
    weft_web_part_t part;
    int r = weft_web_multipart(req, &mp, NULL);
    json_t *out = json_array();
    while (r >= 0 && (r = weft_web_multipart_next(mp, &part)) == 1) {
        const void *data;
        ssize_t n;
        json_int_t bytes = 0;
        while ((n = weft_web_multipart_read_chunk(mp, &data)) > 0)
            bytes += n; /* a real server would write the data somewhere */
        if (n < 0)
            r = (int)n;
        else
            json_array_append_new(
                out, json_pack("{s:s, s:s?, s:I}", "name", part.name,
                               "filename", part.filename, "bytes", bytes));
    }
    if (r < 0) {
        json_decref(out);
        return r;
    }
    return weft_web_json_take(req, 200, out);
}

static int events(weft_web_request_t *req, void *arg) {
    (void)arg;
    int r = weft_web_sse_prepare(req);
    for (unsigned n = 1; r == 0; n++) {
        char now[64], id[16];
        time_t t = time(NULL);
        struct tm tm;
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        snprintf(id, sizeof id, "%u", n);
        r = weft_web_sse_send(req, "time", now, id);
        if (r == 0)
            r = weft_sleep(1.0);
    }
    /* The client went away, or the server is shutting down. */
    return r == -EPIPE || r == -ECONNRESET ? 0 : r;
}

static int extra_route(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200, weft_web_match(req, "n"));
}

/* ---- the middleware ------------------------------------------------------------- */

/* Times the rest of the chain (aiohttp's classic example middleware). */
static int timing(weft_web_request_t *req, weft_web_next_t *next, void *arg) {
    (void)arg;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int r = weft_web_next(req, next);
    clock_gettime(CLOCK_MONOTONIC, &b);
    char us[32];
    snprintf(us, sizeof us, "%ld",
             (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000);
    if (!weft_web_prepared(req))
        weft_web_set_header(weft_web_resp(req), "X-Response-Time", us);
    return r;
}

/* ---- main ------------------------------------------------------------------------- */

static void on_listening(int port, void *arg) {
    (void)arg;
    printf("listening on http://127.0.0.1:%d/\n", port);
    fflush(stdout);
}

static void log_line(const char *line, size_t len, void *arg) {
    (void)arg;
    printf("%.*s\n", (int)len, line);
    fflush(stdout);
}

static int build(weft_web_app_t *app, const char *dir, long routes, bool log) {
    static const weft_web_route_def_t api[] = {
        {"GET", "/api/items", list_items, NULL, "items"},
        {"POST", "/api/items", create_item, NULL, NULL},
        {"GET", "/api/items/{id:\\d+}", get_item, NULL, "item"},
        {"DELETE", "/api/items/{id:\\d+}", delete_item, NULL, NULL},
        {"POST", "/upload", upload, NULL, NULL},
        {"GET", "/events", events, NULL, NULL},
    };
    int r = weft_web_middleware(app, timing, NULL);
    if (r == 0)
        r = weft_web_json_errors(app);
    if (r == 0)
        r = weft_web_compress(app, NULL);
    if (r == 0 && log)
        r = weft_web_access_log(app, WEFT_WEB_LOG_COMBINED, log_line, NULL);
    if (r == 0)
        r = weft_web_routes(app, api, sizeof api / sizeof api[0], NULL);
    for (long i = 0; r == 0 && i < routes; i++) {
        char path[32];
        snprintf(path, sizeof path, "/r/%ld/{n}", i);
        r = weft_web_route(app, "GET", path, extra_route, NULL, NULL);
    }
    if (r == 0 && dir)
        r = weft_web_add_static(app, "/static", dir, NULL);
    return r;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *port = NULL;
    long routes = 0;
    bool log = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--static") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--routes") == 0 && i + 1 < argc) {
            char *end;
            routes = strtol(argv[++i], &end, 10);
            if (*end || routes < 0 || routes > 100000) {
                fputs(USAGE, stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--log") == 0) {
            log = true;
        } else if (!port && argv[i][0] != '-') {
            port = argv[i];
        } else {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (!port) {
        fputs(USAGE, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    items = json_object();
    weft_web_app_t *app;
    int r = items ? weft_web_app_new(&app, NULL) : -ENOMEM;
    if (r == 0) {
        r = build(app, dir, routes, log);
        weft_web_run_opts_t o = {.on_listening = on_listening};
        if (r == 0)
            r = weft_web_run_app(app, "127.0.0.1", port, &o);
        weft_web_app_free(app);
    }
    json_decref(items);
    if (r < 0) {
        fprintf(stderr, "app_server: %s\n", weft_strerror(r));
        return 1;
    }
    puts("stopped");
    return 0;
}
