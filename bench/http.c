/* bench/http: the HTTP server against nginx and h2o, in the same run.
 *
 * Each server answers GET / with "Hello, World!" (text/plain): weft's
 * examples/hello_server, nginx (one worker, no master, access log off,
 * `return 200`), h2o (one thread, access log off, an mruby handler; h2o's
 * Debian build has no `return` directive). Each runs pinned to CPU 0 and
 * wrk to CPU 1 (or both share CPU 0 on a one-CPU machine), for three
 * scenarios: 100 and 1,000 keep-alive connections, and 100 connections
 * that each make a new connection per request (Connection: close). Per
 * run: requests/s, p50 and p99 latency (wrk --latency), and the server's
 * CPU microseconds per request from /proc/PID/stat (utime + stime over
 * the run): the fair figure, since wrk saturates its own core and the
 * throughput is then wrk's. Medians of the repeats.
 *
 * Memory: 10,000 keep-alive connections that each made one request and
 * then stay idle; the server's RSS growth over its RSS before, per
 * connection.
 *
 * Beside them runs the kernel's floor (bench/floor, floor.c: no runtime,
 * one io_uring, the same fixed answer for every request head), on the two
 * keep-alive scenarios only (it never closes a connection, so wrk would
 * keep the "new conn/req" ones alive). Its CPU per request over nginx's
 * is about the least any server could show here; weft's over the
 * floor's is weft's own cost. Its idle memory is not measured.
 *
 * The JSON row (examples/app_server's JSON route behind one middleware
 * with 50 routes, against aiohttp with uvloop) is bench/http_app's.
 *
 * Usage: http [--quick] [SECONDS [REPEATS]]   (default 5 s, 3 repeats)
 * Environment: HELLO_SERVER, NGINX, H2O, WRK override the programs.
 * Ends with RESULT lines: weft's CPU per request and p99, and their ratio
 * to nginx's (target: CPU <= 0.8x, p99 <= 1x). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define USAGE "http [--quick] [SECONDS [REPEATS]]"
#define IDLE_CONNS 10000

static int ncpu;

/* ---- servers ------------------------------------------------------------------- */

struct server {
    const char *name;
    char prog[PATH_MAX];
    int port;
    pid_t pid;
    bool ok;
    char why[128]; /* why it did not run */
};

static char tmpdir[256];

static bool executable(const char *p) {
    return p && access(p, X_OK) == 0;
}

static const char *env_or(const char *var, const char *dflt) {
    const char *v = getenv(var);
    return v && *v ? v : dflt;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static pid_t spawn(char *const argv[], int cpu, const char *errfile) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        bench_pin(cpu, ncpu);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        int err = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (!getenv("BENCH_VERBOSE"))
            dup2(err >= 0 ? err : null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* The last line a server wrote on stderr, for "not run" lines. */
static void last_line(const char *path, char *out, size_t n) {
    FILE *f = fopen(path, "r");
    char line[256] = "";
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '\n')
            snprintf(out, n, "%s", line);
    if (f)
        fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static bool start(struct server *s) {
    char errfile[320];
    snprintf(errfile, sizeof errfile, "%s/%s.stderr", tmpdir, s->name);
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    if (strcmp(s->name, "weft") == 0) {
        char *argv[] = {s->prog, (char *)"--host", (char *)"127.0.0.1", port,
                        NULL};
        s->pid = spawn(argv, 0, errfile);
    } else if (strcmp(s->name, "floor") == 0) {
        char *argv[] = {s->prog, (char *)"http", port, NULL};
        s->pid = spawn(argv, 0, errfile);
    } else if (strcmp(s->name, "nginx") == 0) {
        char conf[320], text[2048];
        snprintf(conf, sizeof conf, "%s/nginx.conf", tmpdir);
        snprintf(text, sizeof text,
                 "worker_processes 1;\ndaemon off;\nmaster_process off;\n"
                 "worker_rlimit_nofile 40000;\n"
                 "error_log %s/nginx-error.log;\npid %s/nginx.pid;\n"
                 "events { worker_connections 20000; }\n"
                 "http {\n  access_log off;\n"
                 "  server {\n    listen 127.0.0.1:%d;\n"
                 "    location / { default_type text/plain; "
                 "return 200 \"Hello, World!\"; }\n  }\n}\n",
                 tmpdir, tmpdir, s->port);
        write_file(conf, text);
        char *argv[] = {s->prog, (char *)"-c", conf, (char *)"-p", tmpdir,
                        NULL};
        s->pid = spawn(argv, 0, errfile);
    } else {
        char conf[320], text[2048];
        snprintf(conf, sizeof conf, "%s/h2o.conf", tmpdir);
        snprintf(text, sizeof text,
                 "listen:\n  host: 127.0.0.1\n  port: %d\n"
                 "num-threads: 1\nmax-connections: 20000\n"
                 "hosts:\n  default:\n    paths:\n      /:\n"
                 "        mruby.handler: |\n"
                 "          Proc.new do |env|\n"
                 "            [200, {\"content-type\" => \"text/plain\"}, "
                 "[\"Hello, World!\"]]\n          end\n",
                 s->port);
        write_file(conf, text);
        char *argv[] = {s->prog, (char *)"-c", conf, NULL};
        s->pid = spawn(argv, 0, errfile);
    }
    for (int i = 0; i < 200; i++) {
        if (bench_port_open(s->port, false))
            return true;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            char line[96];
            last_line(errfile, line, sizeof line);
            snprintf(s->why, sizeof s->why, "exited at start (status %d: %s)",
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                     line);
            s->pid = 0;
            return false;
        }
        usleep(20000);
    }
    snprintf(s->why, sizeof s->why, "did not listen on %d", s->port);
    return false;
}

static void stop(struct server *s) {
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(20000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* utime + stime of pid, in clock ticks. */
static long long cpu_ticks(pid_t pid) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* after ") ": state(3) ppid ... utime is field 14, stime 15 */
    long long ut = 0, st = 0;
    int field = 2;
    for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " ")) {
        field++;
        if (field == 14)
            ut = atoll(t);
        else if (field == 15) {
            st = atoll(t);
            break;
        }
    }
    return ut + st;
}

static long rss_kb(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

/* ---- wrk ------------------------------------------------------------------------ */

struct result {
    double rps, p50_us, p99_us, cpu_us;
    long long requests;
};

static double to_us(const char *v) {
    char *end;
    double x = strtod(v, &end);
    if (strncmp(end, "us", 2) == 0)
        return x;
    if (strncmp(end, "ms", 2) == 0)
        return x * 1e3;
    if (*end == 's')
        return x * 1e6;
    return x;
}

static bool run_wrk(const char *wrk, struct server *s, int conns, bool conn_close,
                    int secs, struct result *r) {
    char url[64], c[16], d[16];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
    snprintf(c, sizeof c, "%d", conns);
    snprintf(d, sizeof d, "%ds", secs);
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    long long t0 = cpu_ticks(s->pid);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        bench_pin(1, ncpu);
        dup2(fds[1], 1);
        close(fds[0]);
        const char *argv[16];
        int i = 0;
        argv[i++] = wrk;
        argv[i++] = "-t1";
        argv[i++] = "-c";
        argv[i++] = c;
        argv[i++] = "-d";
        argv[i++] = d;
        argv[i++] = "--latency";
        if (conn_close) {
            argv[i++] = "-H";
            argv[i++] = "Connection: close";
        }
        argv[i++] = url;
        argv[i] = NULL;
        execvp(wrk, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char out[8192];
    size_t n = 0;
    ssize_t got;
    while ((got = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    long long t1 = cpu_ticks(s->pid);
    memset(r, 0, sizeof *r);
    char *p;
    if ((p = strstr(out, "Requests/sec:")))
        r->rps = atof(p + 13);
    if ((p = strstr(out, " requests in "))) {
        char *q = p;
        while (q > out && q[-1] != '\n')
            q--;
        r->requests = atoll(q);
    }
    if ((p = strstr(out, "\n     50%")))
        r->p50_us = to_us(p + 10 + strspn(p + 10, " "));
    if ((p = strstr(out, "\n     99%")))
        r->p99_us = to_us(p + 10 + strspn(p + 10, " "));
    if (r->requests <= 0 || t0 < 0 || t1 < 0) {
        fprintf(stderr, "http: wrk gave no result for %s:\n%s\n", s->name,
                out);
        return false;
    }
    r->cpu_us = (double)(t1 - t0) * 1e6 / (double)sysconf(_SC_CLK_TCK) /
                (double)r->requests;
    return true;
}

/* ---- idle connections ------------------------------------------------------------- */

static double idle_rss_per_conn(struct server *s, int nconns) {
    int *fds = calloc((size_t)nconns, sizeof *fds);
    if (!fds)
        return -1;
    long before = rss_kb(s->pid);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int open_n = 0;
    for (int i = 0; i < nconns; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 ||
            connect(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            write(fds[i], req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
            if (fds[i] >= 0)
                close(fds[i]);
            break;
        }
        open_n++;
        /* Read the answer, so every connection is idle after a request. */
        char buf[512];
        struct pollfd pfd = {fds[i], POLLIN, 0};
        if (poll(&pfd, 1, 5000) <= 0 || read(fds[i], buf, sizeof buf) <= 0)
            break;
    }
    /* Idle for a while: weft gives back stack pages after 2 s idle. */
    sleep(3);
    long after = rss_kb(s->pid);
    for (int i = 0; i < open_n; i++)
        close(fds[i]);
    free(fds);
    if (open_n < nconns) {
        fprintf(stderr, "http: only %d of %d idle connections to %s\n",
                open_n, nconns, s->name);
        if (open_n == 0)
            return -1;
    }
    return (double)(after - before) * 1024.0 / open_n;
}

/* ---- main -------------------------------------------------------------------------- */

struct scenario {
    const char *name;
    int conns;
    bool close;
};

static const struct scenario scenarios[] = {
    {"c100 keep-alive", 100, false},
    {"c1000 keep-alive", 1000, false},
    {"c100 new conn/req", 100, true},
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])
#define NSRV 4  /* weft, nginx, h2o, the floor */
#define FLOOR 3

static void print_row(const char *srv, const char *scen, const struct result *r,
                      int n) {
    double rps[16], p50[16], p99[16], cpu[16];
    for (int i = 0; i < n; i++) {
        rps[i] = r[i].rps;
        p50[i] = r[i].p50_us;
        p99[i] = r[i].p99_us;
        cpu[i] = r[i].cpu_us;
    }
    printf("%-7s %-19s %10.0f %9.0f %9.0f %10.2f\n", srv, scen,
           bench_median(rps, (size_t)n), bench_median(p50, (size_t)n),
           bench_median(p99, (size_t)n), bench_median(cpu, (size_t)n));
}

static double med(const struct result *r, int n, int what) {
    double v[16];
    for (int i = 0; i < n; i++)
        v[i] = what == 0 ? r[i].cpu_us : r[i].p99_us;
    return bench_median(v, (size_t)n);
}

/* The median of the rounds' ratios a/b (cpu: what 0, p99: what 1). */
static double ratio(const struct result *a, const struct result *b, int n,
                    int what) {
    double v[16];
    for (int i = 0; i < n; i++)
        v[i] = what == 0 ? a[i].cpu_us / b[i].cpu_us
                         : a[i].p99_us / b[i].p99_us;
    return bench_median(v, (size_t)n);
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    int secs = (int)bench_arg(argc, argv, 1, quick ? 1 : 5, USAGE);
    int reps = (int)bench_arg(argc, argv, 2, quick ? 1 : 3, USAGE);
    if (reps > 16)
        reps = 16;
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl = {65536, 65536};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-bench-http-%d", (int)getpid());
    mkdir(tmpdir, 0700);

    /* hello_server sits next to this program's directory. */
    char self[PATH_MAX], hello[PATH_MAX + 32];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(hello, sizeof hello, "%s/../examples/hello_server", self);
    const char *wrk = env_or("WRK", "/usr/bin/wrk");
    struct server servers[NSRV] = {{.name = "weft"}, {.name = "nginx"},
                                   {.name = "h2o"}, {.name = "floor"}};
    if (snprintf(servers[0].prog, PATH_MAX, "%s",
                 env_or("HELLO_SERVER", hello)) >= PATH_MAX) {
        fprintf(stderr, "http: the hello_server path is too long\n");
        return 1;
    }
    snprintf(servers[1].prog, PATH_MAX, "%s",
             env_or("NGINX", "/usr/sbin/nginx"));
    snprintf(servers[2].prog, PATH_MAX, "%s", env_or("H2O", "/usr/bin/h2o"));
    if (snprintf(servers[3].prog, PATH_MAX, "%s/floor", self) >= PATH_MAX)
        servers[3].prog[0] = '\0';
    if (!executable(wrk)) {
        printf("http: wrk not found (apt-get install wrk): skipped\n");
        return 0;
    }
    printf("server pinned to CPU 0, wrk (1 thread) to CPU %d; %d s per run, "
           "median of %d\n\n",
           ncpu > 1 ? 1 : 0, secs, reps);
    printf("%-7s %-19s %10s %9s %9s %10s\n", "server", "scenario", "req/s",
           "p50 us", "p99 us", "CPU us/req");
    static struct result res[NSRV][NSCEN][16];
    double idle[NSRV] = {-1, -1, -1, -1};
    /* All servers run at once (each idle while another is loaded), and
     * each round runs every server in turn, in an order rotated by the
     * round: the machine's slow phases then hit all of them alike, and
     * the ratios to nginx are medians of ratios within a round. */
    for (int k = 0; k < NSRV; k++) {
        struct server *s = &servers[k];
        s->port = 10000 + (int)(getpid() % 20000) + k; /* below the ephemeral range (32768-) */
        if (!executable(s->prog)) {
            snprintf(s->why, sizeof s->why, "%s not found", s->prog);
            continue;
        }
        s->ok = start(s);
    }
    for (size_t c = 0; c < NSCEN; c++)
        for (int i = 0; i < reps; i++)
            for (int j = 0; j < NSRV; j++) {
                int k = (i + j) % NSRV;
                struct server *s = &servers[k];
                if (s->ok && !(k == FLOOR && scenarios[c].close))
                    s->ok = run_wrk(wrk, s, scenarios[c].conns,
                                    scenarios[c].close, secs,
                                    &res[k][c][i]);
            }
    for (int k = 0; k < NSRV; k++)
        for (size_t c = 0; c < NSCEN && servers[k].ok; c++)
            if (!(k == FLOOR && scenarios[c].close))
                print_row(servers[k].name, scenarios[c].name, res[k][c],
                          reps);
    for (int k = 0; k < NSRV; k++) {
        if (servers[k].ok && !quick && k != FLOOR)
            idle[k] = idle_rss_per_conn(&servers[k], IDLE_CONNS);
        stop(&servers[k]);
    }
    bool floor_ok = servers[0].ok && servers[1].ok && servers[FLOOR].ok;
    for (size_t c = 0; c < NSCEN && floor_ok; c++)
        if (!scenarios[c].close)
            printf("  %s: the floor's CPU a request over nginx's %.2f x, "
                   "weft's over the floor's %.2f x\n",
                   scenarios[c].name,
                   ratio(res[FLOOR][c], res[1][c], reps, 0),
                   ratio(res[0][c], res[FLOOR][c], reps, 0));
    for (int k = 0; k < NSRV; k++)
        if (!servers[k].ok)
            printf("%-7s (not run: %s)\n", servers[k].name,
                   servers[k].why[0] ? servers[k].why : "failed");
    printf("%-7s %-19s %s\n", "json", "app_server+50 routes",
           "(build/bench/http_app, against aiohttp)");
    if (!quick) {
        printf("\nRSS per idle keep-alive connection (%d connections):\n",
               IDLE_CONNS);
        for (int k = 0; k < 3; k++)
            if (idle[k] >= 0)
                printf("  %-7s %8.0f bytes\n", servers[k].name, idle[k]);
    }
    printf("\n");
    if (servers[0].ok) {
        for (size_t c = 0; c < NSCEN; c++) {
            const char *tag = c == 0 ? "c100" : c == 1 ? "c1000" : "c100_close";
            printf("RESULT http weft_cpu_us_per_req_%s %.2f us\n", tag,
                   med(res[0][c], reps, 0));
            printf("RESULT http weft_p99_%s %.0f us\n", tag,
                   med(res[0][c], reps, 1));
            if (servers[1].ok) {
                printf("RESULT http cpu_vs_nginx_%s %.2f x\n", tag,
                       ratio(res[0][c], res[1][c], reps, 0));
                printf("RESULT http p99_vs_nginx_%s %.2f x\n", tag,
                       ratio(res[0][c], res[1][c], reps, 1));
            }
        }
        if (idle[0] >= 0)
            printf("RESULT http weft_idle_conn_rss %.0f bytes\n", idle[0]);
        if (idle[1] >= 0)
            printf("RESULT http nginx_idle_conn_rss %.0f bytes\n", idle[1]);
        for (size_t c = 0; c < NSCEN && floor_ok; c++) {
            if (scenarios[c].close)
                continue;
            const char *tag = c == 0 ? "c100" : "c1000";
            printf("RESULT http floor_cpu_vs_nginx_%s %.2f x\n", tag,
                   ratio(res[FLOOR][c], res[1][c], reps, 0));
            printf("RESULT http weft_cpu_vs_floor_%s %.2f x\n", tag,
                   ratio(res[0][c], res[FLOOR][c], reps, 0));
        }
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "http: could not remove %s\n", tmpdir);
    return servers[0].ok ? 0 : 1;
}
