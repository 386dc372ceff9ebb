/* get_news.c - the C twin of the teaching page's get_news_sync.py and
 * get_news_async.py: how often a word appears in today's news, fetched one
 * source at a time, then all at once. The page names the two scripts
 * without showing them; abridged, they go:
 *
 *     def get_sources():                       # both versions
 *         data = requests.get(base_url + "sources",
 *                             params={"language": "en"}).json()
 *         return [src['id'].strip() for src in data['sources']]
 *
 *     async def get_articles(source):          # the async one
 *         params = {"source": source, "apiKey": NEWS_API_KEY, "sortBy": "top"}
 *         print("requesting:", source)
 *         async with session.get(base_url + "articles", params=params) as resp:
 *             if resp.status != 200:
 *                 print(f'something went wrong with: {source}')
 *                 return
 *             data = await resp.json()
 *             print("got the articles from {}".format(source))
 *             titles.extend([str(art['title']) + str(art['description'])
 *                            for art in data['articles']])
 *
 *     sources = get_sources()
 *     for source in sources:                   # get_news_sync.py
 *         titles = get_articles(source)  ...
 *     jobs = asyncio.gather(*(get_articles(source) for source in sources))
 *     loop.run_until_complete(jobs)            # get_news_async.py
 *     print(WORD, "found {} times in {} articles".format(word_count, art_count))
 *     print("Process took {:.0f} seconds".format(time.time() - start))
 *
 * Here one program does both: --sync awaits each GET in turn in one task,
 * --async starts a task per source and gathers them, at most --limit
 * requests in flight (the session's per-host limit, aiohttp's
 * TCPConnector(limit_per_host=)); --both (the default) runs one, then the
 * other, and prints a table. The word is counted as a whole word in any
 * case, in each article's title and description, every time it appears.
 *
 * Usage: get_news [--sync | --async | --both] [--sources N] [--word WORD]
 *                 [--api URL] [--limit K] [--seed S]
 *
 * Without --api the news come from an embedded API (the second half of
 * this file): weft's own HTTP server on 127.0.0.1, an ephemeral port, in
 * the same loop, answering /v1/sources and /v1/articles?source=ID in
 * NewsAPI's shape, with made-up articles and a latency of 100 to 300 ms a
 * request, both from the seed (--seed, default 1), so that the counts are
 * the same on every run. With --api URL (a NewsAPI-compatible service,
 * "https://newsapi.org/v1/") the key is taken from NEWS_API_KEY and sent
 * as X-Api-Key. While it runs: a progress bar when stdout is a terminal,
 * else a line per request. Failures: one line on stderr each, exit 1; bad
 * arguments: one line, exit 2.
 *
 * For tests: --latency-ms MIN:MAX changes the embedded API's latency, and
 * --serve runs the embedded API alone ("serving on URL") until SIGINT or
 * SIGTERM, for another get_news to reach with --api; with NEWS_API_KEY
 * set it answers only requests that carry that key.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <weft.h>
#include <weft/json.h>

#define USAGE                                                                  \
    "usage: get_news [--sync | --async | --both] [--sources N] [--word WORD]" \
    " [--api URL] [--limit K] [--seed S]"

enum { SYNC = 1, ASYNC = 2, BOTH = 3 };

#define N(a) (sizeof a / sizeof a[0])

struct config {
    int modes;          /* SYNC, ASYNC or BOTH */
    long nsources;      /* sources to read (the first N listed) */
    const char *word;   /* the word to count */
    const char *api;    /* NULL: the embedded API */
    const char *key;    /* NEWS_API_KEY, with --api */
    long limit;         /* --async: requests in flight at most */
    unsigned long seed; /* the embedded API's articles and latencies */
    double lat_min, lat_max; /* its latency, seconds */
    bool serve;         /* --serve: the embedded API alone */
};

/* ---- the twins: get_news_sync.py and get_news_async.py ------------------- */

/* The state of a run, module globals as in the Python. */
static struct run {
    weft_session_t *session; /* the API's base URL, the key */
    const char *word, *mode;
    char **sources;
    size_t nsources, done;
    long articles, found, failed; /* art_count, word_count, errors */
    bool tty;
} news;

static void progress(const char *source, size_t articles);

/* def count_word(word, text): how often word appears, as a whole word. */
static long count_word(const char *word, const char *text) {
    size_t len = strlen(word);
    long count = 0;
    for (const char *p = text; p && *p; p++)
        if ((p == text || !isalnum((unsigned char)p[-1])) &&
            strncasecmp(p, word, len) == 0 && !isalnum((unsigned char)p[len]))
            count++;
    return count;
}

/* session.get(base_url + path, params=params), resp.json(); a failure
 * (an error status too) is said in one line. */
static int get_json(const char *path, const char *const *params,
                    json_t **data) {
    weft_client_error_t e;
    weft_client_req_opts_t o = {
        .params = params, .error = &e,
        .flags = WEFT_CLIENT_RAISE_FOR_STATUS | WEFT_CLIENT_READ_BODY};
    weft_client_response_t *r;
    int err = weft_session_get(news.session, path, &o, &r);
    if (err == 0) {
        err = weft_client_json(r, data, 0, NULL);
        snprintf(e.msg, sizeof e.msg, "GET %s: not JSON", weft_client_url(r));
        weft_client_release(r);
    }
    if (err && err != -ECANCELED) /* (Ctrl-C says nothing) */
        fprintf(stderr, "%sget_news: %s\n", news.tty ? "\n" : "", e.msg);
    return err;
}

/* def get_sources(): the ids of the English sources (the first max). */
static int get_sources(size_t max) {
    json_t *data, *src;
    size_t i;
    int err =
        get_json("sources", (const char *[]){"language", "en", NULL}, &data);
    if (err)
        return err;
    json_t *list = json_object_get(data, "sources");
    news.sources = calloc(json_array_size(list) + 1, sizeof(char *));
    json_array_foreach(list, i, src) {
        const char *id = json_string_value(json_object_get(src, "id"));
        char *copy = id && news.sources && news.nsources < max ? strdup(id)
                                                              : NULL;
        if (copy)
            news.sources[news.nsources++] = copy;
    }
    json_decref(data);
    progress(NULL, 0);
    return news.sources ? 0 : -ENOMEM;
}

/* async def get_articles(source): count the articles and the word. */
static int get_articles(void *source) {
    json_t *data, *art;
    size_t i;
    if (!news.tty)
        printf("requesting: %s\n", (char *)source);
    const char *params[] = {"source", source, "sortBy", "top", NULL};
    int err = get_json("articles", params, &data);
    if (err) {
        news.failed++; /* print('something went wrong with: ...') */
        return err == -ECANCELED ? err : 0;
    }
    json_t *articles = json_object_get(data, "articles");
    json_array_foreach(articles, i, art) {
        json_t *title = json_object_get(art, "title");
        json_t *desc = json_object_get(art, "description");
        news.articles++;
        news.found += count_word(news.word, json_string_value(title)) +
                      count_word(news.word, json_string_value(desc));
    }
    progress(source, json_array_size(articles));
    json_decref(data);
    return 0;
}

/* get_news_sync.py: one source after another. */
static int fetch_sync(void) {
    int err = 0;
    for (size_t i = 0; i < news.nsources && err == 0; i++)
        err = get_articles(news.sources[i]);
    return err;
}

/* get_news_async.py: asyncio.gather(*(get_articles(source) for ...)). */
static int fetch_async(void) {
    weft_call_t *calls = calloc(news.nsources + 1, sizeof *calls);
    if (!calls)
        return -ENOMEM;
    for (size_t i = 0; i < news.nsources; i++)
        calls[i] = (weft_call_t){.fn = get_articles, .arg = news.sources[i]};
    int err = weft_gather_calls(calls, news.nsources, 0, NULL);
    free(calls);
    return err;
}

/* One run of a twin, from the sources to the count, timed. */
struct result {
    uint64_t requests;
    double seconds;
    long articles, found;
};

static int get_news(const struct config *c, const char *url, int mode,
                    struct result *res) {
    news = (struct run){.word = c->word,
                        .mode = mode == SYNC ? "sync" : "async",
                        .tty = isatty(STDOUT_FILENO)};
    weft_session_opts_t so = {
        .base_url = url,
        .headers = c->key ? (const char *[]){"X-Api-Key", c->key, NULL} : NULL,
        .limit_per_host = mode == SYNC ? 1 : (size_t)c->limit, /* in flight */
    };
    printf("== %s: %s\n", news.mode,
           mode == SYNC ? "one source after another"
                        : "a task per source, gathered");
    double start = weft_loop_time(weft_loop_current());
    int err = weft_session_new(&news.session, &so);
    if (err == 0 && (err = get_sources((size_t)c->nsources)) == 0)
        err = mode == SYNC ? fetch_sync() : fetch_async();
    double took = weft_loop_time(weft_loop_current()) - start;
    if (err == 0) {
        printf("%s found %ld times in %ld articles\n", c->word, news.found,
               news.articles);
        printf("Process took %.2f seconds\n", took);
    }
    weft_session_stats_t st = {0};
    if (news.session)
        weft_session_stats(news.session, &st);
    *res = (struct result){st.requests, took, news.articles, news.found};
    weft_session_close(news.session);
    for (size_t i = 0; i < news.nsources; i++)
        free(news.sources[i]);
    free(news.sources);
    return err == 0 && news.failed ? -EIO : err; /* each said in a line */
}

/* ---- the progress bar ---------------------------------------------------- */

/* A source is done (NULL: the list of sources came): on a terminal, a bar
 * redrawn in place, else a line. */
static void progress(const char *source, size_t articles) {
    enum { WIDTH = 40 };
    if (source)
        news.done++;
    if (!news.tty) {
        if (source)
            printf("got %zu articles from %s\n", articles, source);
        else
            printf("got %zu sources\n", news.nsources);
        return;
    }
    size_t all = news.nsources ? news.nsources : 1;
    int fill = (int)(WIDTH * news.done / all);
    printf("\r%-5s [%.*s%*s] %zu/%zu sources", news.mode, fill,
           "########################################", WIDTH - fill, "",
           news.done, news.nsources);
    if (news.done == news.nsources)
        printf("\r%*s\r", WIDTH + 30, "");
    fflush(stdout);
}

/* ---- the embedded news API -------------------------------------------------
 * NewsAPI's v1 in miniature: GET /v1/sources lists c->nsources sources,
 * GET /v1/articles?source=ID gives 5 to 15 articles of the source. Every
 * article and every latency comes from the seed and the source alone, not
 * from the order of the requests: the sync and the async run see the same
 * news, and each source answers as slowly in both. */

struct api {
    const struct config *c;
    weft_web_app_t *app;
    weft_web_runner_t *runner;
    char url[64];
};

/* splitmix64: a good 64-bit mix of the seed and a key. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static uint64_t next(uint64_t *state) {
    return mix(*state += 0x632be59bd9b4e019u);
}

static const char *const ADJ[] = {
    "morning", "evening", "daily", "weekly", "harbour", "valley",
    "northern", "southern", "city", "county", "coastal", "river",
    "mountain", "island", "capital", "national"};
static const char *const NOUN[] = {
    "herald", "post", "times", "courier", "gazette", "tribune",
    "ledger", "observer", "chronicle", "express", "journal", "echo",
    "standard", "sentinel", "dispatch", "bulletin"};
static const char *const WORDS[] = {
    "city", "council", "weather", "market", "river", "festival", "school",
    "report", "record", "team", "season", "bridge", "harbour", "train",
    "museum", "garden", "storm", "budget", "library", "coffee", "island",
    "robot", "science", "football", "music", "summer", "winter", "park",
    "python", "loop", "new", "after", "over", "for", "and", "with", "the",
    "a", "of", "in", "opens", "wins", "plans", "finds", "returns", "warns",
    "celebrates", "delays", "local", "quiet", "busy"};

/* Source i: "morning-herald"; past the 256 pairs, "morning-herald-2". */
static void source_id(size_t i, char *buf, size_t cap, bool title) {
    const char *a = ADJ[i % N(ADJ)], *b = NOUN[(i + i / N(ADJ)) % N(NOUN)];
    size_t round = i / (N(ADJ) * N(NOUN));
    int n = snprintf(buf, cap, title ? "The %s %s" : "%s-%s", a, b);
    if (round && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, title ? " %zu" : "-%zu", round + 1);
    if (title)
        buf[4] = (char)toupper((unsigned char)buf[4]);
}

/* `words` random words, the first capitalised, into buf. */
static const char *text(uint64_t *g, int words, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    for (int w = 0; w < words && len + 12 < cap; w++) {
        const char *word = WORDS[next(g) % N(WORDS)];
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", w ? " " : "",
                                word);
        if (w == 0)
            buf[0] = (char)toupper((unsigned char)buf[0]);
    }
    return buf;
}

/* Wait as long as the API takes for this request (key: 0 for the list of
 * sources, 1 + i for source i). */
static int latency(const struct config *c, uint64_t key) {
    double u = (double)(mix(c->seed ^ mix(key)) >> 11) * 0x1p-53;
    return weft_sleep(c->lat_min + (c->lat_max - c->lat_min) * u);
}

static int api_sources(weft_web_request_t *req, void *arg) {
    const struct config *c = arg;
    int err = latency(c, 0);
    json_t *list = json_array();
    for (long i = 0; err == 0 && list && i < c->nsources; i++) {
        char id[64], name[64], url[96];
        source_id((size_t)i, id, sizeof id, false);
        source_id((size_t)i, name, sizeof name, true);
        snprintf(url, sizeof url, "https://%s.example/", id);
        if (json_array_append_new(
                list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id,
                                "name", name, "url", url, "category",
                                "general", "language", "en", "country", "us")))
            err = -ENOMEM;
    }
    if (err) {
        json_decref(list);
        return err;
    }
    return weft_web_json_take(
        req, 200, json_pack("{s:s, s:o}", "status", "ok", "sources", list));
}

static int api_error(weft_web_request_t *req, int status, const char *code,
                     const char *msg) {
    return weft_web_json_take(req, status,
                              json_pack("{s:s, s:s, s:s}", "status", "error",
                                        "code", code, "message", msg));
}

static int api_articles(weft_web_request_t *req, void *arg) {
    const struct config *c = arg;
    const char *want = weft_web_query(req, "source");
    char id[64], name[64];
    long i = 0;
    if (!want)
        return api_error(req, 400, "sourceMissing",
                         "Pass a source (?source=ID).");
    for (; i < c->nsources; i++) {
        source_id((size_t)i, id, sizeof id, false);
        if (strcmp(id, want) == 0)
            break;
    }
    if (i == c->nsources)
        return api_error(req, 400, "sourceDoesntExist",
                         "The news source you've entered doesn't exist.");
    int err = latency(c, 1 + (uint64_t)i);
    if (err)
        return err;
    source_id((size_t)i, name, sizeof name, true);
    uint64_t g = mix(c->seed) ^ mix(1 + (uint64_t)i);
    json_t *list = json_array();
    for (int a = 5 + (int)(next(&g) % 11); list && a > 0; a--) {
        char title[160], desc[320], content[640], url[128];
        snprintf(url, sizeof url, "https://%s.example/%d", id, a);
        text(&g, 5 + (int)(next(&g) % 5), title, sizeof title);
        text(&g, 14 + (int)(next(&g) % 11), desc, sizeof desc);
        text(&g, 30 + (int)(next(&g) % 21), content, sizeof content);
        if (json_array_append_new(
                list, json_pack("{s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:s}",
                                "source", "id", id, "name", name, "author",
                                "Staff", "title", title, "description", desc,
                                "url", url, "publishedAt",
                                "2026-12-03T08:00:00Z", "content", content))) {
            json_decref(list);
            return -ENOMEM;
        }
    }
    return weft_web_json_take(req, 200,
                              json_pack("{s:s, s:s, s:s, s:o}", "status", "ok",
                                        "source", id, "sortBy", "top",
                                        "articles", list));
}

/* With a key (--serve with NEWS_API_KEY set), only requests that carry it
 * in X-Api-Key are answered. */
static int api_key(weft_web_request_t *req, weft_web_next_t *next, void *arg) {
    const struct config *c = arg;
    weft_span_t v = {0};
    if (c->key && (weft_web_header(req, "X-Api-Key", &v) < 0 ||
                   v.len != strlen(c->key) || memcmp(v.ptr, c->key, v.len)))
        return api_error(req, 401, "apiKeyInvalid",
                         "Your API key is invalid or incorrect.");
    return weft_web_next(req, next);
}

static int api_build(weft_web_app_t **app, const struct config *c) {
    const weft_web_route_def_t routes[] = {
        {"GET", "/v1/sources", api_sources, (void *)c, NULL},
        {"GET", "/v1/articles", api_articles, (void *)c, NULL},
    };
    int err = weft_web_app_new(app, NULL);
    if (err == 0 && (err = weft_web_json_errors(*app)) == 0 &&
        (err = weft_web_middleware(*app, api_key, (void *)c)) == 0)
        err = weft_web_routes(*app, routes, N(routes), NULL);
    return err;
}

/* Start the API on 127.0.0.1, an ephemeral port, on this task's loop. */
static int api_start(struct api *a) {
    int err = api_build(&a->app, a->c);
    if (err == 0)
        err = weft_web_runner_new(&a->runner, a->app, NULL);
    if (err == 0 && (err = weft_web_runner_setup(a->runner)) == 0)
        err = weft_web_runner_listen(a->runner, "127.0.0.1", "0", NULL);
    if (err == 0)
        snprintf(a->url, sizeof a->url, "http://127.0.0.1:%d/v1/",
                 weft_web_runner_port(a->runner));
    return err;
}

/* Shut it down, even in a cancelled task (Ctrl-C): shielded, 1 s at most. */
static void api_stop(struct api *a) {
    weft_scope_t shield;
    int entered = weft_scope_enter(&shield, 1.0, WEFT_SCOPE_SHIELD);
    if (a->runner)
        weft_web_runner_shutdown(a->runner, 0);
    weft_web_runner_free(a->runner);
    if (entered == 0)
        weft_scope_exit(&shield);
    weft_web_app_free(a->app);
}

static void on_listening(int port, void *arg) {
    (void)arg;
    printf("serving on http://127.0.0.1:%d/v1/\n", port);
    fflush(stdout);
}

/* --serve: the API alone, until SIGINT or SIGTERM. */
static int serve(const struct config *c) {
    weft_web_app_t *app;
    int err = api_build(&app, c);
    weft_web_run_opts_t o = {.on_listening = on_listening};
    if (err == 0)
        err = weft_web_run_app(app, "127.0.0.1", "0", &o);
    weft_web_app_free(app);
    return err;
}

/* ---- main ---------------------------------------------------------------- */

static int news_main(void *arg) {
    const struct config *c = arg;
    struct api a = {.c = c};
    struct result res[2] = {{0}};
    int err = c->api ? 0 : api_start(&a);
    if (err)
        fprintf(stderr, "get_news: the embedded API: %s\n", weft_strerror(err));
    const char *url = c->api ? c->api : a.url;
    for (int m = SYNC; err == 0 && m <= ASYNC; m++)
        if (c->modes & m) {
            err = get_news(c, url, m, &res[m - 1]);
            puts("");
        }
    if (!c->api)
        api_stop(&a);
    if (err == 0 && c->modes == BOTH) {
        printf("%-6s %9s %9s %9s %11s\n", "mode", "requests", "seconds",
               "articles", "word count");
        for (int m = 0; m < 2; m++)
            printf("%-6s %9llu %9.2f %9ld %11ld\n", m ? "async" : "sync",
                   (unsigned long long)res[m].requests, res[m].seconds,
                   res[m].articles, res[m].found);
        printf("speedup: %.1fx\n",
               res[0].seconds / (res[1].seconds > 0 ? res[1].seconds : 1e-9));
    }
    return err;
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* "MIN:MAX" milliseconds, 0 <= MIN <= MAX <= 60000. */
static bool parse_latency(const char *s, struct config *c) {
    char *end, *end2;
    errno = 0;
    double lo = strtod(s, &end);
    if (end == s || *end != ':')
        return false;
    double hi = strtod(end + 1, &end2);
    if (end2 == end + 1 || *end2 || errno || !(lo >= 0) || !(hi >= lo) ||
        hi > 60000)
        return false;
    c->lat_min = lo / 1000;
    c->lat_max = hi / 1000;
    return true;
}

/* --api URL, with the '/' that relative paths need at its end. */
static bool parse_api(const char *v, struct config *c) {
    static char url[512];
    size_t len = strlen(v);
    if ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) ||
        len + 2 > sizeof url)
        return false;
    snprintf(url, sizeof url, "%s%s", v, v[len - 1] == '/' ? "" : "/");
    c->api = url;
    return true;
}

/* The command line into c: NULL, or what is wrong with it. */
static const char *parse(int argc, char **argv, struct config *c) {
    static const char *const valued[] = {"--sources", "--limit", "--seed",
                                         "--word", "--api", "--latency-ms"};
    static char why[160];
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        long n;
        if (!strcmp(s, "--sync") || !strcmp(s, "--async") ||
            !strcmp(s, "--both")) {
            c->modes = s[2] == 's' ? SYNC : s[2] == 'a' ? ASYNC : BOTH;
            continue;
        }
        if (!strcmp(s, "--serve")) {
            c->serve = true;
            continue;
        }
        for (size_t k = 0; k < N(valued); k++)
            if (!strcmp(s, valued[k]))
                v = argv[i + 1] ? argv[++i] : "";
        if (!v)
            snprintf(why, sizeof why, "unknown argument '%.60s'", s);
        else if (!strcmp(s, "--sources") && parse_long(v, 1, 1000, &n))
            c->nsources = n;
        else if (!strcmp(s, "--limit") && parse_long(v, 1, 1000, &n))
            c->limit = n;
        else if (!strcmp(s, "--seed") && parse_long(v, 0, LONG_MAX, &n))
            c->seed = (unsigned long)n;
        else if (!strcmp(s, "--word") && *v && strlen(v) < 64)
            c->word = v;
        else if ((!strcmp(s, "--api") && parse_api(v, c)) ||
                 (!strcmp(s, "--latency-ms") && parse_latency(v, c)))
            continue;
        else
            snprintf(why, sizeof why, "bad %s '%.60s'", s, v);
        if (!v || why[0])
            return why;
    }
    if (c->serve)
        c->key = getenv("NEWS_API_KEY");
    if (c->api && !(c->key = getenv("NEWS_API_KEY")))
        return "--api needs the key in NEWS_API_KEY";
    return NULL;
}

int main(int argc, char **argv) {
    struct config c = {.modes = BOTH, .nsources = 20, .word = "python",
                       .limit = 10, .seed = 1, .lat_min = 0.1, .lat_max = 0.3};
    const char *why = parse(argc, argv, &c);
    if (why) {
        fprintf(stderr, "get_news: %s (%s)\n", why, USAGE);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (c.serve) {
        int err = serve(&c);
        if (err < 0)
            fprintf(stderr, "get_news: %s\n", weft_strerror(err));
        return err < 0;
    }
    int sig = 0;
    weft_run_opts_t ro = {.flags = WEFT_RUN_SIGNALS, .stop_signal = &sig};
    int err = weft_run_opts(news_main, &c, &ro);
    if (sig)
        return 128 + sig;
    return err < 0;
}
