/* bench/http_client: the HTTP client against libcurl's multi interface and
 * aiohttp's client, in the same run, all three fetching from one local
 * nginx (Debian's; its own config, one process, on an ephemeral port,
 * `return 200 "Hello, World!"`, access log off, unlimited keep-alive
 * requests).
 *
 * Two scenarios, both with 100 requests in flight:
 *   keepalive  100,000 GETs over 100 kept-alive connections
 *   newconn    10,000 GETs, each on a new connection
 * Each client runs in a child process pinned to CPU 0 (nginx on CPU 1 when
 * there are two), and measures itself around the requests: wall time and
 * its own CPU time (getrusage: user + system). Printed per client and
 * scenario: requests per second and client CPU microseconds per request,
 * medians of the repeats (interleaved). The clients:
 *   weft     one session (limit 100; keepalive_timeout -1 for newconn),
 *            100 tasks, each GET + weft_client_body + release
 *   libcurl  one multi handle, 100 easy handles re-added as they finish,
 *            CURLMOPT_MAX_TOTAL_CONNECTIONS 100 (CURLOPT_FORBID_REUSE for
 *            newconn), bodies to a counting write callback
 *   aiohttp  bench/http_client_aiohttp.py under Debian's /usr/bin/python3
 *            (one ClientSession, TCPConnector(limit=100), 100 tasks;
 *            force_close=True for newconn)
 * Targets: weft's CPU per request at most libcurl's; weft's requests per
 * CPU second at least 10x aiohttp's.
 *
 * Usage: http_client [--quick] [--only CLIENT] [REPEATS]   (default 3;
 * --quick: a tenth of the requests, 1 repeat; --only weft|libcurl|aiohttp:
 * that client alone, for profiling). Environment: NGINX, PYTHON override the
 * programs. Ends with RESULT lines. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <weft.h>

#include "bench_util.h"

#define CONC 100

static int ncpu;
static char tmpdir[256];
static char url[128];
static long total;
static bool newconn;

struct measure {
    long requests;
    double wall, cpu;
};

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu < ncpu ? cpu : 0, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- nginx ------------------------------------------------------------------------ */

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        perror("bind");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool listening(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static pid_t start_nginx(const char *nginx, int port) {
    char conf[320];
    snprintf(conf, sizeof conf, "%s/nginx.conf", tmpdir);
    FILE *f = fopen(conf, "w");
    if (!f) {
        perror(conf);
        exit(1);
    }
    fprintf(f,
            "worker_processes 1;\ndaemon off;\nmaster_process off;\n"
            "worker_rlimit_nofile 20000;\n"
            "error_log %s/error.log;\npid %s/nginx.pid;\n"
            "events { worker_connections 10000; }\n"
            "http {\n  access_log off;\n  keepalive_requests 100000000;\n"
            "  server {\n    listen 127.0.0.1:%d reuseport;\n"
            "    location / { default_type text/plain; "
            "return 200 \"Hello, World!\"; }\n  }\n}\n",
            tmpdir, tmpdir, port);
    fclose(f);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        execl(nginx, nginx, "-c", conf, "-p", tmpdir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        if (listening(port))
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(20000);
    }
    fprintf(stderr, "http_client: nginx did not start (see %s/error.log)\n",
            tmpdir);
    exit(1);
}

/* ---- weft ---------------------------------------------------------------------------- */

struct wjob {
    weft_session_t *s;
    long n, bad;
};

static int weft_worker(void *arg) {
    struct wjob *j = arg;
    for (long i = 0; i < j->n; i++) {
        weft_client_response_t *r;
        int err = weft_session_get(j->s, url, NULL, &r);
        if (err) {
            fprintf(stderr, "weft: %s\n", weft_strerror(err));
            j->bad++;
            continue;
        }
        const void *d;
        if (weft_client_body(r, &d, 0) != 13 || weft_client_status(r) != 200)
            j->bad++;
        weft_client_release(r);
    }
    return 0;
}

static int weft_main(void *arg) {
    struct measure *m = arg;
    double c0 = cpu_now();
    uint64_t t0 = bench_now_ns();
    weft_session_t *s;
    weft_session_opts_t so = {.limit = CONC,
                              .keepalive_timeout = newconn ? -1 : 0};
    if (weft_session_new(&s, &so))
        return -1;
    struct wjob jobs[CONC];
    weft_group_t g;
    weft_group_enter(&g);
    for (int i = 0; i < CONC; i++) {
        jobs[i] = (struct wjob){s, total / CONC, 0};
        weft_group_spawn(&g, NULL, weft_worker, &jobs[i], NULL);
    }
    weft_group_exit(&g);
    weft_session_close(s);
    m->wall = (double)(bench_now_ns() - t0) / 1e9;
    m->cpu = cpu_now() - c0;
    long bad = 0;
    for (int i = 0; i < CONC; i++)
        bad += jobs[i].bad;
    m->requests = total / CONC * CONC - bad;
    return bad ? -1 : 0;
}

static int run_weft(void *arg, void *out) {
    (void)arg;
    pin(0);
    return weft_run(weft_main, out);
}

/* ---- libcurl ------------------------------------------------------------------------- */

static size_t curl_sink(char *p, size_t size, size_t n, void *arg) {
    (void)p;
    *(long *)arg += (long)(size * n);
    return size * n;
}

static int run_curl(void *arg, void *out) {
    (void)arg;
    struct measure *m = out;
    pin(0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double c0 = cpu_now();
    uint64_t t0 = bench_now_ns();
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)CONC);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)CONC);
    CURL *easy[CONC];
    long bytes = 0, started = 0, done = 0, bad = 0;
    for (int i = 0; i < CONC; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, curl_sink);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bytes);
        if (newconn)
            curl_easy_setopt(easy[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(multi, easy[i]);
        started++;
    }
    long want = total / CONC * CONC;
    while (done < want) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200)
                bad++;
            done++;
            curl_multi_remove_handle(multi, e);
            if (started < want) {
                curl_multi_add_handle(multi, e);
                started++;
            }
        }
        if (done < want)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < CONC; i++)
        curl_easy_cleanup(easy[i]);
    curl_multi_cleanup(multi);
    m->wall = (double)(bench_now_ns() - t0) / 1e9;
    m->cpu = cpu_now() - c0;
    m->requests = done - bad;
    if (bad || bytes != 13 * done)
        fprintf(stderr, "curl: %ld bad answers\n", bad);
    return bad ? -1 : 0;
}

/* ---- aiohttp ----------------------------------------------------------------------- */

static const char *python;

static int run_aiohttp(void *arg, void *out) {
    (void)arg;
    struct measure *m = out;
    pin(0);
    char script[PATH_MAX], n[32], c[16];
    snprintf(script, sizeof script, "%s/http_client_aiohttp.py", BENCH_DIR);
    snprintf(n, sizeof n, "%ld", total);
    snprintf(c, sizeof c, "%d", CONC);
    int fds[2];
    if (pipe(fds))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(python, python, script, url, n, c, newconn ? "1" : "0",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    int got = fscanf(f, "%ld %lf %lf", &m->requests, &m->wall, &m->cpu);
    fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return got == 3 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- the table ----------------------------------------------------------------------- */

enum { WEFT, CURL_, AIOHTTP, NCLIENTS };
static const char *names[NCLIENTS] = {"weft", "libcurl", "aiohttp"};
static int (*const runs[NCLIENTS])(void *, void *) = {run_weft, run_curl,
                                                      run_aiohttp};

int main(int argc, char **argv) {
    int repeats = 3;
    double scale = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--quick")) {
            scale = 0.1;
            repeats = 1;
        } else if (atoi(argv[i]) > 0) {
            repeats = atoi(argv[i]);
        } else {
            fprintf(stderr, "usage: http_client [--quick] [--only CLIENT] "
                            "[REPEATS]\n");
            return 2;
        }
    }
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    signal(SIGPIPE, SIG_IGN);
    const char *nginx = getenv("NGINX") ? getenv("NGINX") : "/usr/sbin/nginx";
    python = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char check[PATH_MAX + 64];
    snprintf(check, sizeof check, "%s -c 'import aiohttp' 2>/dev/null", python);
    bool have_aiohttp = access(python, X_OK) == 0 && system(check) == 0;
    if (access(nginx, X_OK) != 0) {
        printf("http_client: %s not found (apt-get install nginx-light)\n",
               nginx);
        return 0;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-http-client-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    int port = free_port();
    pid_t ng = start_nginx(nginx, port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    printf("http_client: GETs of a 13-byte body from nginx (CPU 1), clients on "
           "CPU 0, %d in flight, medians of %d\n", CONC, repeats);
    if (!have_aiohttp)
        printf("  (aiohttp: %s cannot import aiohttp; apt-get install "
               "python3-aiohttp)\n", python);
    printf("%-10s %-8s %10s %12s %14s\n", "scenario", "client", "requests",
           "req/s", "CPU us/req");
    double rps[2][NCLIENTS], cpu[2][NCLIENTS];
    int failed = 0;
    for (int sc = 0; sc < 2; sc++) {
        newconn = sc == 1;
        total = (long)((newconn ? 10000 : 100000) * scale);
        double r[NCLIENTS][16], c[NCLIENTS][16];
        int nr[NCLIENTS] = {0};
        for (int rep = 0; rep < repeats && rep < 16; rep++)
            for (int k = 0; k < NCLIENTS; k++) {
                if ((k == AIOHTTP && !have_aiohttp) ||
                    (only && strcmp(only, names[k]) != 0))
                    continue;
                struct measure m = {0};
                if (bench_in_child(runs[k], NULL, &m, sizeof m) != 0 ||
                    m.requests <= 0) {
                    fprintf(stderr, "http_client: %s failed\n", names[k]);
                    failed = 1;
                    continue;
                }
                r[k][nr[k]] = m.requests / m.wall;
                c[k][nr[k]] = m.cpu * 1e6 / m.requests;
                nr[k]++;
            }
        for (int k = 0; k < NCLIENTS; k++) {
            rps[sc][k] = nr[k] ? bench_median(r[k], (size_t)nr[k]) : 0;
            cpu[sc][k] = nr[k] ? bench_median(c[k], (size_t)nr[k]) : 0;
            if (nr[k])
                printf("%-10s %-8s %10ld %12.0f %14.1f\n",
                       newconn ? "newconn" : "keepalive", names[k], total,
                       rps[sc][k], cpu[sc][k]);
        }
    }
    kill(ng, SIGTERM);
    waitpid(ng, NULL, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "http_client: could not remove %s\n", tmpdir);
    const char *sn[2] = {"keepalive", "newconn"};
    for (int sc = 0; sc < 2; sc++) {
        printf("RESULT http_client %s_weft_rps %.0f req/s\n", sn[sc],
               rps[sc][WEFT]);
        printf("RESULT http_client %s_weft_cpu %.2f us/req\n", sn[sc],
               cpu[sc][WEFT]);
        if (cpu[sc][CURL_] > 0)
            printf("RESULT http_client %s_cpu_vs_libcurl %.2f x\n", sn[sc],
                   cpu[sc][WEFT] / cpu[sc][CURL_]);
        if (cpu[sc][AIOHTTP] > 0)
            printf("RESULT http_client %s_req_per_cpu_vs_aiohttp %.1f x\n",
                   sn[sc], cpu[sc][AIOHTTP] / cpu[sc][WEFT]);
    }
    return failed;
}
