/* nba_stats.c - the C twin of the teaching page's nba_stats_async.py, and
 * the answer to the question the page leaves open:
 *
 *     Turns out that it's a picky API - and I can't get the async version
 *     to work - maybe the server gets upset when you hit it too hard?
 *     Can you get it to work?
 *
 * The page links the scripts without showing them. Their shape (from the
 * article it borrows them from) is:
 *
 *     async def get_players(player_args):
 *         params = {'leagueid': '00', 'season': '2016-17',
 *                   'isonlycurrentseason': '1'}
 *         print('Getting all players...')
 *         async with aiohttp.ClientSession() as session:
 *             async with session.get(base_url + '/commonallplayers',
 *                                    headers=HEADERS, params=params) as resp:
 *                 data = await resp.json()
 *         player_args.extend(
 *             [(item[0], item[2]) for item in data['resultSets'][0]['rowSet']])
 *
 *     async def get_player(player_id, player_name):
 *         print("Getting player", player_name)
 *         async with aiohttp.ClientSession() as session:
 *             async with session.get(base_url + '/commonplayerinfo',
 *                                    headers=HEADERS,
 *                                    params={'playerid': player_id}) as resp:
 *                 print(resp)
 *                 data = await resp.text()
 *
 *     players = []
 *     loop.run_until_complete(get_players(players))
 *     loop.run_until_complete(asyncio.gather(
 *         *(get_player(*args) for args in players)))
 *
 * --naive is that program: every player at once, a task each, gathered.
 * The API answers most of them 429 Too Many Requests. --polite is the
 * answer: the same tasks, but at most POLITE_LIMIT requests in flight (a
 * semaphore, under the server's limit) and weft's retry middleware, which
 * waits as the 429's Retry-After says and asks again. It gets every
 * player. With neither option both run, naive first.
 *
 * Usage: nba_stats [--naive | --polite] [--players N] [--api URL]
 *                  [--seed S] [--latency MS] [-v]
 *
 *   --players N   how many players to get (default 40; 1 to 400)
 *   --api URL     a stats.nba.com-compatible API ("https://host/stats");
 *                 without it an embedded one is started on 127.0.0.1
 *   --seed S      the embedded API's players and latencies (default 1)
 *   --latency MS  the embedded API's mean latency per request (default
 *                 100: each takes MS/2 to 3*MS/2)
 *   -v            "Getting player NAME" and the response, per request,
 *                 as the Python prints them
 *
 * Prints the top players by points and one summary line per mode:
 *   "naive: 5 of 40 players in 0.24 s; 35 requests failed with 429"
 *   "polite: 40 of 40 players in 1.71 s; 2 retries"
 * Exit status: 0 when the runs completed (--naive's failures are its
 * point); 1 when --polite missed a player or a request failed otherwise
 * (one line on stderr); 2 for bad arguments (one line).
 *
 * The file has two halves: the client (the twin of the Python), and,
 * separately, the embedded "picky" API it talks to by default. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>
#include <weft/json.h>

#define USAGE                                                                 \
    "usage: nba_stats [--naive | --polite] [--players N] [--api URL] "      \
    "[--seed S] [--latency MS] [-v]\n"

/* The polite client's limit: under the API's (API_MAX_IN_FLIGHT). */
#define POLITE_LIMIT 4

/* ==== the client: nba_stats_async.py, naive and polite =================== */

struct client {
    weft_session_t *session; /* its base_url is the API's: ".../stats/" */
    weft_sem_t *sem;         /* polite: at most POLITE_LIMIT at once */
    bool verbose;
};

struct player {
    struct client *client;
    json_int_t id;
    const char *name; /* in the players' list (JSON), kept to the end */
    double pts, ast, reb;
};

static const char *const HEADERS[] = {"Accept", "application/json", NULL};

/* session.get(base_url + path, params=params) and, for a 200, its JSON in
 * *data (the caller's). Returns the status, or a negative code (said in *e
 * if not NULL). */
static int get_json(struct client *c, const char *path,
                    const char *const *params, json_t **data,
                    weft_client_error_t *e) {
    weft_client_response_t *r;
    int err = weft_session_get(c->session, path,
                               &(weft_client_req_opts_t){
                                   .headers = HEADERS, .params = params,
                                   .error = e},
                               &r);
    if (err < 0)
        return err;
    int status = weft_client_status(r);
    if (c->verbose) /* print(resp) */
        printf("<ClientResponse(%s) [%d %s]>\n", weft_client_url(r), status,
               weft_web_reason(status));
    if (status == 200 && (err = weft_client_json(r, data, 0, NULL)) < 0 && e)
        snprintf(e->msg, sizeof e->msg, "GET %s: %s", weft_client_url(r),
                 err == -EBADMSG ? "not JSON" : weft_client_errmsg(r));
    weft_client_release(r);
    return err < 0 ? err : status;
}

/* async def get_players(player_args): the list (JSON) in *data, and up to
 * max players from it in *out (both the caller's). Returns their number,
 * or a negative code (said). */
static ssize_t get_players(struct client *c, json_t **data,
                           struct player **out, size_t max) {
    const char *params[] = {"LeagueID", "00", "Season", "2016-17",
                            "IsOnlyCurrentSeason", "1", NULL};
    weft_client_error_t e = {.msg = "not the players' list"};
    json_t *rows = NULL;
    puts("Getting all players...");
    int status = get_json(c, "commonallplayers", params, data, &e);
    if (status < 0 || status != 200 ||
        json_unpack(*data, "{s:[{s:o}]}", "resultSets", "rowSet", &rows)) {
        if (status > 0 && status != 200)
            snprintf(e.msg, sizeof e.msg, "the players' list: %d %s", status,
                     weft_web_reason(status));
        fprintf(stderr, "nba_stats: %s\n", e.msg);
        return status < 0 ? status : -EPROTO;
    }
    size_t n = json_array_size(rows) < max ? json_array_size(rows) : max;
    struct player *players = *out = calloc(n + 1, sizeof *players);
    for (size_t i = 0; players && i < n; i++) { /* (item[0], item[2]) */
        players[i].client = c;
        if (json_unpack(json_array_get(rows, i), "[I,s,s]", &players[i].id,
                        &(const char *){0}, &players[i].name) < 0) {
            fprintf(stderr, "nba_stats: not the players' list\n");
            return -EPROTO;
        }
    }
    return players ? (ssize_t)n : -ENOMEM;
}

/* async def get_player(player_id, player_name): a task per player. Keeps
 * the points, assists and rebounds; returns 0, or why not (an HTTP status
 * as WEFT_CLIENT_HTTP(429), a failure). */
static int get_player(void *arg) {
    struct player *p = arg;
    struct client *c = p->client;
    char id[24];
    snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, p->id);
    int err = c->sem ? weft_sem_acquire(c->sem) : 0; /* async with sem: */
    if (err < 0)
        return err;
    if (c->verbose)
        printf("Getting player %s\n", p->name);
    json_t *data = NULL;
    int status = get_json(c, "commonplayerinfo",
                          (const char *[]){"PlayerID", id, NULL}, &data, NULL);
    if (c->sem)
        weft_sem_release(c->sem);
    /* data['resultSets'][1]['rowSet'][0]: PlayerHeadlineStats, PLAYER_ID,
     * PLAYER_NAME, TimeFrame, PTS, AST, REB, PIE */
    if (status == 200 &&
        json_unpack(data, "{s:[o,{s:[[I,s,s,F,F,F]]}]}", "resultSets",
                    &(json_t *){0}, "rowSet", &(json_int_t){0},
                    &(const char *){0}, &(const char *){0}, &p->pts, &p->ast,
                    &p->reb) < 0)
        status = -EBADMSG;
    json_decref(data);
    return status == 200 ? 0 : status < 0 ? status : WEFT_CLIENT_HTTP(status);
}

/* One run of the program: the players, then all of them at once
 * (asyncio.gather); polite, through the semaphore and the retry
 * middleware. Fills calls[i].status per player; returns their number, or
 * a negative code (said). */
static ssize_t get_everyone(struct client *c, size_t max, json_t **list,
                            struct player **players, weft_call_t **calls) {
    ssize_t n = get_players(c, list, players, max);
    if (n < 0)
        return n;
    printf("Getting %zd players...\n", n);
    *calls = calloc((size_t)n + 1, sizeof **calls);
    for (ssize_t i = 0; *calls && i < n; i++)
        (*calls)[i] = (weft_call_t){.fn = get_player, .arg = &(*players)[i]};
    int err = *calls ? weft_gather_calls(*calls, (size_t)n, WEFT_GATHER_ALL,
                                         NULL)
                     : -ENOMEM;
    if (err < 0)
        fprintf(stderr, "nba_stats: %s\n", weft_strerror(err));
    return err < 0 ? err : n;
}

/* ---- the run and its report --------------------------------------------- */

static int by_points(const void *a, const void *b) {
    const struct player *x = *(struct player *const *)a;
    const struct player *y = *(struct player *const *)b;
    return (y->pts > x->pts) - (y->pts < x->pts);
}

/* Print the top five of the n players got, by points. */
static void print_top(struct player **got, size_t n) {
    qsort(got, n, sizeof *got, by_points);
    printf("Top players by points:\n  %5s %5s %5s  %s\n", "PTS", "AST", "REB",
           "PLAYER");
    for (size_t i = 0; i < n && i < 5; i++)
        printf("  %5.1f %5.1f %5.1f  %s\n", got[i]->pts, got[i]->ast,
               got[i]->reb, got[i]->name);
}

/* One mode against the API at base: the run, the top players and the
 * summary line. Returns 0, 1 (the polite run missed players: said), or a
 * negative code (said). */
static int run(const char *base, size_t max, bool polite, bool verbose) {
    weft_loop_t *loop = weft_loop_current();
    double start = weft_loop_time(loop);
    weft_client_retry_t *retry = NULL;
    weft_sem_t sem;
    weft_session_t *s = NULL;
    int err = weft_session_new(&s, &(weft_session_opts_t){.base_url = base});
    if (err == 0 && polite) {
        weft_sem_init(&sem, POLITE_LIMIT);
        err = weft_client_retry_new(&retry, &(weft_client_retry_opts_t){
                                                .attempts = 10});
        if (err == 0)
            err = weft_session_middleware(s, weft_client_retry, retry);
    }
    struct client c = {s, polite ? &sem : NULL, verbose};
    json_t *list = NULL;
    struct player *players = NULL, **got = NULL;
    weft_call_t *calls = NULL;
    ssize_t n = err < 0 ? err : get_everyone(&c, max, &list, &players, &calls);
    double took = weft_loop_time(loop) - start;
    size_t ngot = 0, limited = 0, failed = 0;
    if (n >= 0 && !(got = calloc((size_t)n + 1, sizeof *got))) {
        fprintf(stderr, "nba_stats: %s\n", weft_strerror(-ENOMEM));
        n = -ENOMEM;
    }
    for (ssize_t i = 0; i < n; i++) {
        int st = calls[i].status;
        if (st == 0)
            got[ngot++] = &players[i];
        else if (st == WEFT_CLIENT_HTTP(429))
            limited++;
        else if (!failed++)
            fprintf(stderr, "nba_stats: player %s: %s\n", players[i].name,
                    WEFT_CLIENT_IS_HTTP(st) ? weft_web_reason(
                                                  WEFT_CLIENT_HTTP_STATUS(st))
                                            : weft_strerror(st));
    }
    if (n >= 0) {
        print_top(got, ngot);
        if (polite)
            printf("polite: %zu of %zd players in %.2f s; %llu retries\n",
                   ngot, n, took,
                   (unsigned long long)weft_client_retry_count(retry));
        else
            printf("naive: %zu of %zd players in %.2f s; %zu requests failed "
                   "with 429\n", ngot, n, took, limited);
    } else if (n == err) { /* the session or the middleware */
        fprintf(stderr, "nba_stats: %s\n", weft_strerror(err));
    }
    free(got);
    free(calls);
    free(players);
    json_decref(list);
    weft_session_close(s);
    weft_client_retry_free(retry);
    if (n < 0)
        return (int)n;
    if (failed)
        return -EIO;
    if (polite && ngot < (size_t)n) {
        fprintf(stderr, "nba_stats: the polite run missed %zd players\n",
                n - (ssize_t)ngot);
        return 1;
    }
    return 0;
}

/* ==== the embedded API: a picky stand-in for stats.nba.com ================
 * Two endpoints of stats.nba.com, with its JSON shapes:
 *   GET /stats/commonallplayers   resultSets[0].rowSet: [PERSON_ID,
 *                                 DISPLAY_LAST_COMMA_FIRST,
 *                                 DISPLAY_FIRST_LAST, TEAM_ABBREVIATION]
 *   GET /stats/commonplayerinfo?PlayerID=N
 *                                 resultSets[1] PlayerHeadlineStats
 * each answered after a latency drawn from the seed. And it is picky: a
 * middleware answers 429 with Retry-After when more than API_MAX_IN_FLIGHT
 * requests are in flight, or when they come faster than API_RATE a second
 * (a token bucket of API_BURST). It counts every caller as one client,
 * which the demo is. */

#define API_MAX_IN_FLIGHT 5
#define API_RATE 25.0 /* requests a second, on average */
#define API_BURST 10.0
#define API_FIRST_ID 1626000
#define API_MAX_PLAYERS 400 /* names to make up */

struct api_player {
    char first_last[48], last_first[48];
    const char *team;
    double pts, ast, reb;
};

struct api {
    unsigned rng;       /* rand_r's state, from the seed */
    double latency;     /* mean seconds a request takes */
    size_t n;
    struct api_player *players;
    unsigned in_flight;
    double tokens, last; /* the token bucket, as of loop time `last` */
    weft_web_app_t *app;
    weft_web_runner_t *runner;
};

static double api_random(struct api *api) {
    return (double)rand_r(&api->rng) / ((double)RAND_MAX + 1);
}

/* The rules: 429 or on to the handler after the latency. */
static int picky(weft_web_request_t *req, weft_web_next_t *next, void *arg) {
    struct api *api = arg;
    double now = weft_loop_time(weft_loop_current());
    api->tokens = fmin(API_BURST, api->tokens + (now - api->last) * API_RATE);
    api->last = now;
    if (api->in_flight >= API_MAX_IN_FLIGHT || api->tokens < 1) {
        /* integer seconds (RFC 9110 10.2.3): the wait for a token, or 1 */
        double wait = api->tokens < 1 ? (1 - api->tokens) / API_RATE : 1;
        char secs[16];
        snprintf(secs, sizeof secs, "%.0f", ceil(wait));
        weft_web_set_header(weft_web_resp(req), "Retry-After", secs);
        return weft_web_json_error(
            req, 429, "slow down: at most %d requests at once, %.0f a second",
            API_MAX_IN_FLIGHT, API_RATE);
    }
    api->tokens -= 1;
    api->in_flight++;
    int r = weft_sleep(api->latency * (0.5 + api_random(api)));
    if (r == 0)
        r = weft_web_next(req, next);
    api->in_flight--;
    return r;
}

static int all_players(weft_web_request_t *req, void *arg) {
    struct api *api = arg;
    json_t *rows = json_array();
    for (size_t i = 0; i < api->n; i++) {
        const struct api_player *p = &api->players[i];
        json_array_append_new(rows, json_pack("[I,s,s,s]",
                                              (json_int_t)(API_FIRST_ID + i),
                                              p->last_first, p->first_last,
                                              p->team));
    }
    return weft_web_json_take(
        req, 200,
        json_pack("{s:s, s:[{s:s, s:[s,s,s,s], s:o}]}", "resource",
                  "commonallplayers", "resultSets", "name", "CommonAllPlayers",
                  "headers", "PERSON_ID", "DISPLAY_LAST_COMMA_FIRST",
                  "DISPLAY_FIRST_LAST", "TEAM_ABBREVIATION", "rowSet", rows));
}

static int player_info(weft_web_request_t *req, void *arg) {
    struct api *api = arg;
    const char *q = weft_web_query(req, "PlayerID");
    char *end;
    long id = q ? strtol(q, &end, 10) : 0;
    if (!q || !*q || *end)
        return weft_web_json_error(req, 400, "PlayerID must be a number");
    if (id < API_FIRST_ID || (size_t)(id - API_FIRST_ID) >= api->n)
        return weft_web_json_error(req, 404, "no player %ld", id);
    const struct api_player *p = &api->players[id - API_FIRST_ID];
    return weft_web_json_take(
        req, 200,
        json_pack("{s:s, s:[{s:s, s:[s,s,s], s:[[I,s,s]]},"
                  " {s:s, s:[s,s,s,s,s,s,s], s:[[I,s,s,f,f,f,f]]}]}",
                  "resource", "commonplayerinfo", "resultSets",
                  "name", "CommonPlayerInfo", "headers", "PERSON_ID",
                  "DISPLAY_FIRST_LAST", "TEAM_ABBREVIATION", "rowSet",
                  (json_int_t)id, p->first_last, p->team,
                  "name", "PlayerHeadlineStats", "headers", "PLAYER_ID",
                  "PLAYER_NAME", "TimeFrame", "PTS", "AST", "REB", "PIE",
                  "rowSet", (json_int_t)id, p->first_last, "2016-17", p->pts,
                  p->ast, p->reb, p->pts / 300));
}

/* Made-up players, drawn from the seed. */
static int api_players(struct api *api) {
    static const char *first[] = {"Avery", "Blake", "Cam",   "Dario", "Eli",
                                  "Femi",  "Gus",   "Hiro",  "Ike",   "Jalen",
                                  "Kofi",  "Luka",  "Milo",  "Nate",  "Omar",
                                  "Pau",   "Quinn", "Rudy",  "Sekou", "Theo"};
    static const char *last[] = {"Abara",  "Brandt", "Castro", "Dumont",
                                 "Eze",    "Fokker", "Garcia", "Holm",
                                 "Ivanov", "Jokic",  "Kante",  "Lind",
                                 "Moreau", "Novak",  "Okafor", "Petrov",
                                 "Quist",  "Rossi",  "Sato",   "Tamm"};
    static const char *teams[] = {"ATL", "BOS", "CHI", "DEN", "GSW", "LAL",
                                  "MIA", "NYK", "PHX", "SAS"};
    api->players = calloc(api->n, sizeof *api->players);
    if (!api->players)
        return -ENOMEM;
    /* 400 names, each used once: a walk through them by a stride prime
     * to 400 */
    static const unsigned strides[] = {7, 13, 17, 21, 23, 27, 29, 31};
    unsigned k = (unsigned)rand_r(&api->rng) % 400;
    unsigned stride = strides[rand_r(&api->rng) % 8];
    for (size_t i = 0; i < api->n; i++, k = (k + stride) % 400) {
        struct api_player *p = &api->players[i];
        const char *f = first[k % 20], *l = last[k / 20];
        snprintf(p->first_last, sizeof p->first_last, "%s %s", f, l);
        snprintf(p->last_first, sizeof p->last_first, "%s, %s", l, f);
        p->team = teams[rand_r(&api->rng) % 10];
        p->pts = round(10 * (2 + 28 * api_random(api))) / 10;
        p->ast = round(10 * (10 * api_random(api))) / 10;
        p->reb = round(10 * (1 + 12 * api_random(api))) / 10;
    }
    return 0;
}

/* Start the API on 127.0.0.1, an ephemeral port; its base URL into base. */
static int api_start(struct api *api, char *base, size_t cap) {
    static const weft_web_route_def_t routes[] = {
        {"GET", "/stats/commonallplayers", all_players, NULL, NULL},
        {"GET", "/stats/commonplayerinfo", player_info, NULL, NULL},
    };
    api->tokens = API_BURST;
    api->last = weft_loop_time(weft_loop_current());
    int r = api_players(api);
    if (r == 0)
        r = weft_web_app_new(&api->app, NULL);
    if (r == 0)
        r = weft_web_json_errors(api->app);
    if (r == 0)
        r = weft_web_middleware(api->app, picky, api);
    for (size_t i = 0; r == 0 && i < 2; i++)
        r = weft_web_route(api->app, routes[i].method, routes[i].path,
                           routes[i].fn, api, NULL);
    if (r == 0)
        r = weft_web_runner_new(&api->runner, api->app, NULL);
    if (r == 0)
        r = weft_web_runner_setup(api->runner);
    if (r == 0)
        r = weft_web_runner_listen(api->runner, "127.0.0.1", "0", NULL);
    snprintf(base, cap, "http://127.0.0.1:%d/stats/",
             r == 0 ? weft_web_runner_port(api->runner) : 0);
    return r;
}

static void api_stop(struct api *api) {
    if (api->runner)
        weft_web_runner_shutdown(api->runner, 1);
    weft_web_runner_free(api->runner);
    weft_web_app_free(api->app);
    free(api->players);
}

/* ==== main =============================================================== */

struct args {
    bool naive, polite, verbose;
    long players;
    const char *api;
    unsigned long seed;
    double latency_ms;
};

static int nba_main(void *arg) {
    const struct args *a = arg;
    struct api api = {.rng = (unsigned)a->seed,
                      .latency = a->latency_ms / 1000,
                      .n = (size_t)a->players};
    char base[512];
    int r = 0;
    if (a->api) {
        snprintf(base, sizeof base, "%s", a->api);
        size_t len = strlen(base); /* a base URL ends with '/' */
        if (len && base[len - 1] != '/' && len + 1 < sizeof base)
            strcpy(base + len, "/");
    } else if ((r = api_start(&api, base, sizeof base)) < 0) {
        fprintf(stderr, "nba_stats: starting the API: %s\n", weft_strerror(r));
    } else {
        printf("A picky stats API at %s: at most %d requests at once and "
               "%.0f a second, or 429\n", base, API_MAX_IN_FLIGHT, API_RATE);
    }
    if (r == 0 && a->naive) {
        printf("\n== naive: all the players at once, a task each\n");
        r = run(base, (size_t)a->players, false, a->verbose);
    }
    if (r == 0 && a->polite) {
        printf("\n== polite: at most %d at once, and the retry middleware "
               "(Retry-After)\n", POLITE_LIMIT);
        r = run(base, (size_t)a->players, true, a->verbose);
    }
    if (!a->api)
        api_stop(&api);
    return r;
}

/* A number from lo to hi (0), or -1. */
static int parse_num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse(struct args *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (!strcmp(s, "--naive"))
            a->naive = true;
        else if (!strcmp(s, "--polite"))
            a->polite = true;
        else if (!strcmp(s, "-v"))
            a->verbose = true;
        else if (!strcmp(s, "--api") && v && (!strncmp(v, "http://", 7) ||
                                             !strncmp(v, "https://", 8)))
            a->api = argv[++i];
        else if (!strcmp(s, "--players") && v &&
                 !parse_num(v, 1, API_MAX_PLAYERS, &d) && d == floor(d))
            a->players = (long)d, i++;
        else if (!strcmp(s, "--seed") && v &&
                 !parse_num(v, 0, UINT_MAX, &d) && d == floor(d))
            a->seed = (unsigned long)d, i++;
        else if (!strcmp(s, "--latency") && v && !parse_num(v, 0, 10000, &d))
            a->latency_ms = d, i++;
        else
            return -1;
    }
    if (a->naive && a->polite)
        return -1;
    if (!a->naive && !a->polite)
        a->naive = a->polite = true;
    return 0;
}

int main(int argc, char **argv) {
    struct args a = {.players = 40, .seed = 1, .latency_ms = 100};
    if (parse(&a, argc, argv) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int r = weft_run(nba_main, &a);
    return r == 0 ? 0 : 1;
}
