/* bench/ws: WebSocket echo servers in the same run: weft's examples/ws_echo,
 * Python's websockets (Debian's python3-websockets, asyncio) and Node's ws
 * (from the npm registry, installed into the build tree when missing).
 *
 * Each server runs pinned to CPU 0 and the load generator (this program:
 * weft tasks writing prepared masked frames and reading the echoes) to
 * CPU 1. 100 connections each keep one message in flight, 64-byte and
 * 16 KiB binary messages, no compression (the generator offers none). Per
 * run: messages/s, p50 and p99 round trip, and the server's CPU
 * microseconds per message from /proc/PID/stat (utime + stime over the
 * run): the fair figure when the generator's core is the limit. Medians
 * of the repeats. The three servers run side by side (idle but the one
 * under load) and the runs take turns, in an order that turns with the
 * round (weft, python, node; python, node, weft; ...), as bench/http: this
 * machine drifts (one ws_echo measured 2.5 and then 5.6 us a message a
 * minute apart), and blocks of runs minutes apart would compare the
 * drift. The ratios are medians of each round's ratio.
 *
 * Beside them runs bench/floor (floor.c): a WebSocket echo with no
 * runtime, one io_uring and nothing else, about the least CPU a message
 * can cost on this machine. Its messages per CPU second over node's are
 * about the most any server could show here; weft's over the floor's say
 * what weft itself costs. 64-byte messages only: at 16 KiB the floor copies each
 * message twice (into a frame buffer, into the answer), a server's work
 * rather than the kernel's, and is no floor there.
 *
 * Memory: 10,000 WebSocket connections, each having echoed one message,
 * then idle: the server's RSS growth per connection (the floor's is not
 * measured: it keeps a 4 KiB input buffer per connection, a CPU floor,
 * not a memory one).
 *
 * Usage: ws [--quick] [SECONDS [REPEATS]]   (default 5 s, 3 repeats;
 *        --quick: 1 s, 1 repeat, 2,000 idle connections)
 * Environment: WS_ECHO, PYTHON3, NODE override the programs.
 * Ends with RESULT lines: weft's figures and its messages per server CPU
 * second against node's (target: at least 5x), and the floor's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
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
#include <unistd.h>

#include <weft.h>

#include "bench_util.h"

#define USAGE "ws [--quick] [SECONDS [REPEATS]]"
#define NCONN 100
#define NSRV 4 /* weft, python, node, floor */
#define MAX_SAMPLES (8u << 20)

static int ncpu;
static char tmpdir[256];
static char node_path[PATH_MAX * 2];

/* ---- the servers ---------------------------------------------------------- */

static const char py_server[] =
    "import asyncio, logging, sys, websockets\n"
    "# the load ends with resets: not worth a traceback each\n"
    "logging.getLogger('websockets').setLevel(logging.CRITICAL)\n"
    "async def echo(ws, *args):\n"
    "    async for m in ws:\n"
    "        await ws.send(m)\n"
    "async def main():\n"
    "    async with websockets.serve(echo, '127.0.0.1', int(sys.argv[1]),\n"
    "                                compression=None, max_size=None):\n"
    "        await asyncio.Future()\n"
    "asyncio.run(main())\n";

static const char node_server[] =
    "const {WebSocketServer} = require('ws');\n"
    "const wss = new WebSocketServer({host: '127.0.0.1',\n"
    "  port: +process.argv[2], perMessageDeflate: false,\n"
    "  maxPayload: 64 << 20});\n"
    "wss.on('connection', (ws) => ws.on('message',\n"
    "  (d, binary) => ws.send(d, {binary})));\n";

struct server {
    const char *name;
    char prog[PATH_MAX];
    int port;
    pid_t pid;
    char why[160];
};

static const char *env_or(const char *var, const char *dflt) {
    const char *v = getenv(var);
    return v && *v ? v : dflt;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static bool start(struct server *s) {
    char port[16], script[320];
    snprintf(port, sizeof port, "%d", s->port);
    char *argv[6] = {0};
    if (strcmp(s->name, "weft") == 0) {
        argv[0] = s->prog;
        argv[1] = port;
    } else if (strcmp(s->name, "floor") == 0) {
        argv[0] = s->prog;
        argv[1] = "ws";
        argv[2] = port;
    } else if (strcmp(s->name, "python") == 0) {
        snprintf(script, sizeof script, "%s/server.py", tmpdir);
        write_file(script, py_server);
        argv[0] = s->prog;
        argv[1] = script;
        argv[2] = port;
    } else {
        snprintf(script, sizeof script, "%s/server.js", tmpdir);
        write_file(script, node_server);
        argv[0] = s->prog;
        argv[1] = script;
        argv[2] = port;
    }
    fflush(stdout);
    s->pid = fork();
    if (s->pid == 0) {
        bench_pin(0, ncpu);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        if (node_path[0])
            setenv("NODE_PATH", node_path, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        if (bench_port_open(s->port, false))
            return true;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            snprintf(s->why, sizeof s->why, "exited at start (status %d)",
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
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
    long long ut = 0, st = 0;
    int field = 2;
    for (char *t = p ? strtok(p + 1, " ") : NULL; t; t = strtok(NULL, " ")) {
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

/* ---- the load generator ----------------------------------------------------- */

struct gen {
    int port;
    size_t size; /* payload bytes */
    double secs;
    uint8_t *frame; /* the masked frame every connection sends */
    size_t flen, echo_len;
    bool stop;
    uint64_t msgs;
    uint32_t *lat; /* round trips, in 100 ns units */
    size_t nlat;
    int err;
    size_t idle; /* memory run: connections to open */
    weft_stream_t **conns;
    pid_t server;
    long rss_before, rss_after;
};

static int upgrade(struct gen *g, weft_stream_t **out) {
    char port[16];
    snprintf(port, sizeof port, "%d", g->port);
    weft_stream_t *s;
    int err = weft_open_connection(&s, "127.0.0.1", port, NULL);
    if (err)
        return err;
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    char head[2048];
    err = weft_stream_write(s, req, sizeof req - 1);
    ssize_t n = err ? err
                    : weft_stream_read_until(s, "\r\n\r\n", 4, head,
                                             sizeof head);
    if (n < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0) {
        weft_stream_close(s);
        return n < 0 ? (int)n : -EPROTO;
    }
    *out = s;
    return 0;
}

static int exchange(struct gen *g, weft_stream_t *s, uint8_t *buf) {
    int err = weft_stream_write(s, g->frame, g->flen);
    if (err)
        return err;
    ssize_t n = weft_stream_read_exactly(s, buf, g->echo_len);
    return n < 0 ? (int)n : 0;
}

static int conn_task(void *arg) {
    struct gen *g = arg;
    weft_stream_t *s;
    int err = upgrade(g, &s);
    if (err) {
        g->err = err;
        return 0;
    }
    uint8_t *buf = malloc(g->echo_len);
    while (!g->stop && !err) {
        uint64_t t0 = bench_now_ns();
        err = exchange(g, s, buf);
        if (err)
            break;
        uint64_t dt = (bench_now_ns() - t0) / 100;
        g->msgs++;
        if (g->nlat < MAX_SAMPLES)
            g->lat[g->nlat++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
    }
    if (err && !g->stop)
        g->err = err;
    free(buf);
    weft_stream_abort(s);
    return 0;
}

static int load_main(void *arg) {
    struct gen *g = arg;
    weft_group_t grp;
    weft_group_enter(&grp);
    for (int i = 0; i < NCONN; i++)
        weft_group_spawn(&grp, NULL, conn_task, g, NULL);
    weft_sleep(g->secs);
    g->stop = true;
    weft_group_exit(&grp);
    return 0;
}

static int idle_main(void *arg) {
    struct gen *g = arg;
    uint8_t buf[256];
    size_t opened = 0;
    g->rss_before = rss_kb(g->server);
    for (; opened < g->idle; opened++) {
        /* Bounded: a server that stops accepting (at its connection
         * limit, say: the web server's default is 10,000, as many as this
         * opens) makes the run fail with -ETIMEDOUT instead of hanging. */
        weft_scope_t sc;
        int err = weft_scope_enter(&sc, 10, 0);
        if (!err) {
            err = upgrade(g, &g->conns[opened]);
            if (!err && (err = exchange(g, g->conns[opened], buf)) != 0)
                weft_stream_abort(g->conns[opened]); /* not counted */
            int e2 = weft_scope_exit(&sc);
            if (!err)
                err = e2;
        }
        if (err) {
            g->err = err;
            break;
        }
    }
    weft_sleep(3); /* idle: servers that trim idle connections do */
    g->rss_after = rss_kb(g->server);
    for (size_t i = 0; i < opened; i++)
        weft_stream_abort(g->conns[i]);
    g->idle = opened;
    return 0;
}

static void make_frame(struct gen *g) {
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    g->frame = malloc(g->size + 14);
    size_t hl = 2;
    g->frame[0] = 0x82;
    if (g->size < 126) {
        g->frame[1] = (uint8_t)(0x80 | g->size);
    } else {
        g->frame[1] = 0x80 | 126;
        g->frame[2] = (uint8_t)(g->size >> 8);
        g->frame[3] = (uint8_t)g->size;
        hl = 4;
    }
    memcpy(g->frame + hl, key, 4);
    for (size_t i = 0; i < g->size; i++)
        g->frame[hl + 4 + i] = (uint8_t)(i * 7) ^ key[i % 4];
    g->flen = hl + 4 + g->size;
    g->echo_len = hl + g->size; /* the server's frame: no mask */
}

struct result {
    double mps, p50_us, p99_us, cpu_us;
};

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static bool run_load(struct server *s, size_t size, double secs,
                     struct result *r) {
    struct gen g = {.port = s->port, .size = size, .secs = secs};
    make_frame(&g);
    g.lat = malloc(MAX_SAMPLES * sizeof *g.lat);
    long long t0 = cpu_ticks(s->pid);
    uint64_t w0 = bench_now_ns();
    weft_run(load_main, &g);
    uint64_t w1 = bench_now_ns();
    long long t1 = cpu_ticks(s->pid);
    bool ok = !g.err && g.msgs > 0;
    if (ok) {
        qsort(g.lat, g.nlat, sizeof *g.lat, cmp_u32);
        r->mps = (double)g.msgs / ((double)(w1 - w0) / 1e9);
        r->p50_us = g.lat[g.nlat / 2] / 10.0;
        r->p99_us = g.lat[g.nlat * 99 / 100] / 10.0;
        r->cpu_us = (double)(t1 - t0) * 1e6 / (double)sysconf(_SC_CLK_TCK) /
                    (double)g.msgs;
    } else {
        snprintf(s->why, sizeof s->why, "load failed: %s",
                 g.err ? weft_strerror(g.err) : "no message echoed");
    }
    free(g.lat);
    free(g.frame);
    return ok;
}

/* RSS growth per idle connection. */
static double idle_rss(struct server *s, size_t n) {
    struct gen g = {.port = s->port, .size = 64, .idle = n,
                    .server = s->pid};
    make_frame(&g);
    g.conns = calloc(n, sizeof *g.conns);
    weft_run(idle_main, &g);
    double per = -1;
    if (!g.err && g.idle == n && g.rss_before > 0 && g.rss_after > 0)
        per = (double)(g.rss_after - g.rss_before) * 1024 / (double)n;
    else
        snprintf(s->why, sizeof s->why, "idle: %zu connections (%s)", g.idle,
                 g.err ? weft_strerror(g.err) : "?");
    free(g.conns);
    free(g.frame);
    return per;
}

/* Node's ws: next to the interop test's copy, or installed here. */
static bool find_node_ws(const char *bindir) {
    static const char *const where[] = {"/../tests/node/node_modules",
                                        "/node/node_modules"};
    for (int i = 0; i < 2; i++) {
        char ws[PATH_MAX * 2 + 8];
        int n = snprintf(node_path, sizeof node_path, "%s%s", bindir,
                         where[i]);
        snprintf(ws, sizeof ws, "%s/ws", node_path);
        if (n > 0 && (size_t)n < sizeof node_path && access(ws, R_OK) == 0)
            return true;
    }
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd,
             "npm install --no-audit --no-fund --no-save --prefix "
             "'%s/node' ws@8 >/dev/null 2>&1",
             bindir);
    if (system(cmd) != 0) {
        node_path[0] = '\0';
        return false;
    }
    int n = snprintf(node_path, sizeof node_path, "%s%s", bindir, where[1]);
    return n > 0 && (size_t)n < sizeof node_path;
}

int main(int argc, char **argv) {
    double secs = 5;
    int reps = 3;
    size_t nidle = 10000;
    int ai = 1;
    if (ai < argc && strcmp(argv[ai], "--quick") == 0) {
        secs = 1;
        reps = 1;
        nidle = 2000;
        ai++;
    }
    if (ai < argc)
        secs = atof(argv[ai++]);
    if (ai < argc)
        reps = atoi(argv[ai++]);
    if (secs <= 0 || reps < 1 || reps > 16 || ai < argc) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    bench_pin(1, ncpu);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-bench-ws-%d", (int)getpid());
    mkdir(tmpdir, 0700);
    char self[PATH_MAX], echo[PATH_MAX + 32];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(echo, sizeof echo, "%s/../examples/ws_echo", self);
    struct server servers[NSRV] = {{.name = "weft"}, {.name = "python"},
                                   {.name = "node"}, {.name = "floor"}};
    if (snprintf(servers[0].prog, PATH_MAX, "%s", env_or("WS_ECHO", echo)) >=
        PATH_MAX) {
        fprintf(stderr, "ws: the ws_echo path is too long\n");
        return 1;
    }
    snprintf(servers[1].prog, PATH_MAX, "%s",
             env_or("PYTHON3", "/usr/bin/python3"));
    snprintf(servers[2].prog, PATH_MAX, "%s", env_or("NODE", "/usr/bin/node"));
    if (snprintf(servers[3].prog, PATH_MAX, "%s/floor", self) >= PATH_MAX)
        servers[3].prog[0] = '\0';
    bool have_py = system("/usr/bin/python3 -c 'import websockets' "
                          ">/dev/null 2>&1") == 0;
    bool have_node = access(servers[2].prog, X_OK) == 0 && find_node_ws(self);
    if (!have_py)
        snprintf(servers[1].why, sizeof servers[1].why,
                 "python3-websockets missing");
    if (!have_node)
        snprintf(servers[2].why, sizeof servers[2].why,
                 "node or its ws package missing");
    /* Profiling: load an already running server (WS_LOAD_PORT) and stop. */
    const char *lp = getenv("WS_LOAD_PORT");
    if (lp && *lp) {
        struct server ext = {.name = "external", .port = atoi(lp),
                             .pid = getpid()};
        const char *only = getenv("WS_LOAD_SIZE");
        for (int z = 0; z < 2; z++) {
            if (only && atoi(only) != (z ? 16384 : 64))
                continue;
            struct result res;
            if (run_load(&ext, z ? 16384 : 64, secs, &res))
                printf("port %d, %s: %.0f msgs/s, p50 %.0f us, p99 %.0f us\n",
                       ext.port, z ? "16k" : "64", res.mps, res.p50_us,
                       res.p99_us);
        }
        return 0;
    }
    printf("server pinned to CPU 0, load (%d connections, one message in "
           "flight each) to CPU %d; %.0f s per run, median of %d\n\n",
           NCONN, ncpu > 1 ? 1 : 0, secs, reps);
    printf("%-7s %-8s %11s %9s %9s %10s %13s\n", "server", "message",
           "msgs/s", "p50 us", "p99 us", "CPU us/msg", "msgs/CPU-s");
    static const size_t sizes[2] = {64, 16384};
    static const char *const tags[2] = {"64", "16k"};
    double med[NSRV][2][4];
    bool ran[NSRV][2] = {{false}};
    double idle[NSRV] = {-1, -1, -1, -1};
    /* [size][server]: median of the rounds' ratios of weft over each;
     * [size][0]: the floor's over node's */
    double vs[2][NSRV];
    bool up[NSRV] = {false};
    for (int k = 0; k < NSRV; k++) {
        struct server *s = &servers[k];
        if ((k == 1 && !have_py) || (k == 2 && !have_node) ||
            access(s->prog, X_OK) != 0) {
            if (!s->why[0])
                snprintf(s->why, sizeof s->why, "%s not found", s->prog);
            printf("%-7s skipped: %s\n", s->name, s->why);
            continue;
        }
        s->port = 11000 + (int)(getpid() % 20000) + k; /* below the ephemeral range (32768-) */
        if (!start(s)) {
            printf("%-7s skipped: %s\n", s->name, s->why);
            continue;
        }
        up[k] = true;
    }
    for (int z = 0; z < 2; z++) {
        double v[NSRV][4][16], ratio[NSRV][16];
        int got[NSRV] = {0}, nratio[NSRV] = {0};
        bool failed[NSRV] = {false};
        for (int r = 0; r < reps; r++) {
            double cpu[NSRV] = {0};
            for (int j = 0; j < NSRV; j++) {
                int k = (r + j) % NSRV; /* the order turns with the round */
                struct result res;
                if (!up[k] || failed[k] || (k == 3 && z))
                    continue;
                if (!run_load(&servers[k], sizes[z], secs, &res)) {
                    failed[k] = true;
                    continue;
                }
                v[k][0][got[k]] = res.mps;
                v[k][1][got[k]] = res.p50_us;
                v[k][2][got[k]] = res.p99_us;
                v[k][3][got[k]] = res.cpu_us;
                got[k]++;
                cpu[k] = res.cpu_us;
            }
            for (int k = 1; k < NSRV; k++)
                if (cpu[0] > 0 && cpu[k] > 0)
                    ratio[k][nratio[k]++] = cpu[k] / cpu[0];
            if (cpu[3] > 0 && cpu[2] > 0)
                ratio[0][nratio[0]++] = cpu[2] / cpu[3];
        }
        for (int k = 0; k < NSRV; k++) {
            struct server *s = &servers[k];
            if (!up[k] || (k == 3 && z)) /* the floor: 64 B only */
                continue;
            if (failed[k] || got[k] < reps) {
                printf("%-7s %-8s failed: %s\n", s->name, tags[z], s->why);
                continue;
            }
            for (int m = 0; m < 4; m++)
                med[k][z][m] = bench_median(v[k][m], (size_t)got[k]);
            ran[k][z] = true;
            printf("%-7s %-8s %11.0f %9.0f %9.0f %10.2f %13.0f\n", s->name,
                   tags[z], med[k][z][0], med[k][z][1], med[k][z][2],
                   med[k][z][3], 1e6 / med[k][z][3]);
        }
        for (int k = 1; k <= NSRV; k++) {
            int i = k % NSRV; /* the floor over node's last */
            vs[z][i] = nratio[i] ? bench_median(ratio[i], (size_t)nratio[i])
                                 : 0;
            if (!nratio[i])
                continue;
            printf("  %s's messages per CPU second over %s's, round by "
                   "round:",
                   i ? "weft" : "floor", servers[i ? i : 2].name);
            for (int j = 0; j < nratio[i]; j++)
                printf(" %.*f", i == 3 ? 2 : 1, ratio[i][j]);
            printf(" x (median %.*f)\n", i == 3 ? 2 : 1, vs[z][i]);
        }
    }
    for (int k = 0; k < NSRV; k++) {
        if (!up[k])
            continue;
        if (k != 3)
            idle[k] = idle_rss(&servers[k], nidle);
        stop(&servers[k]);
    }
    printf("\nidle connections (%zu, each after one echo): server RSS "
           "growth per connection\n",
           nidle);
    for (int k = 0; k < 3; k++) /* not the floor's */
        if (idle[k] > 0)
            printf("  %-7s %8.0f bytes\n", servers[k].name, idle[k]);
        else
            printf("  %-7s not measured%s%s\n", servers[k].name,
                   servers[k].why[0] ? ": " : "", servers[k].why);
    printf("\n");
    for (int z = 0; z < 2; z++) {
        if (!ran[0][z])
            continue;
        printf("RESULT ws weft_msgs_per_s_%s %.0f msgs/s\n", tags[z],
               med[0][z][0]);
        printf("RESULT ws weft_p99_%s %.0f us\n", tags[z], med[0][z][2]);
        printf("RESULT ws weft_cpu_us_per_msg_%s %.2f us\n", tags[z],
               med[0][z][3]);
        if (ran[2][z] && vs[z][2] > 0)
            printf("RESULT ws msgs_per_cpu_s_vs_node_%s %.1f x\n", tags[z],
                   vs[z][2]);
        if (ran[1][z] && vs[z][1] > 0)
            printf("RESULT ws msgs_per_cpu_s_vs_python_%s %.1f x\n", tags[z],
                   vs[z][1]);
        if (ran[3][z] && vs[z][3] > 0)
            printf("RESULT ws msgs_per_cpu_s_vs_floor_%s %.2f x\n", tags[z],
                   vs[z][3]);
        if (ran[3][z] && ran[2][z] && vs[z][0] > 0)
            printf("RESULT ws floor_msgs_per_cpu_s_vs_node_%s %.1f x\n",
                   tags[z], vs[z][0]);
    }
    if (idle[0] > 0)
        printf("RESULT ws weft_idle_conn_rss %.0f bytes\n", idle[0]);
    if (idle[2] > 0)
        printf("RESULT ws node_idle_conn_rss %.0f bytes\n", idle[2]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
