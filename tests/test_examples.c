/* The examples: run each binary as a child process and check the structure
 * of what it prints (never its timing), its exit status, and that stderr
 * stays empty: no weft warning, no sanitizer report, no leak.
 *
 * The harness, one for every test:
 *
 *   run_example(name, args..., NULL)     run to the end; results in R
 *   run_example_input(kind, input, name, args..., NULL)
 *                                        the same with `input` on stdin,
 *                                        through a pipe or from a file
 *   spawn_example(name, args..., NULL)   start it and talk to it as it
 *   wait_line(pattern), kill(C.pid, ..)  runs (signals, file changes);
 *   reap_example()                       then collect the rest into R
 *   start_server(&srv, regex, name, args..., NULL)
 *   stop_server(&srv, signal)            a server in the background while
 *                                        other examples run; its results
 *                                        after its first line end in R
 *
 * Every child reads /dev/null unless told otherwise, dies with the test
 * process (PR_SET_PDEATHSIG: a failed assertion never leaves a server
 * running) and is killed if it outlives its deadline. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#ifndef EXAMPLES_DIR
#error "EXAMPLES_DIR must name the directory of the example binaries"
#endif
#ifndef MAKE_CERTS
#error "MAKE_CERTS must name tests/tls/make-certs.sh"
#endif

/* A child that runs longer than this is killed and the test fails: counted
 * from its start, and for a server again from the signal that stops it. */
#define CHILD_DEADLINE_S 10

/* Arguments of an example, its name included. */
#define MAX_ARGS 15

/* ---- what a child printed ------------------------------------------------ */

struct run {
    int status; /* exit status; 128 + N if killed by signal N */
    char out[1 << 20];
    size_t nout;
    char err[1 << 16];
    size_t nerr;
};

/* R: the child that runs in the foreground, or the last one that finished
 * (every assertion reads R). S: the server running in the background (one
 * at a time), until stop_server hands its results over to R. */
static struct run R, S;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read what is there into buf (keeping a terminating NUL); returns false
 * at end of file. */
static bool drain(int fd, char *buf, size_t cap, size_t *n) {
    char tmp[4096];
    ssize_t got = read(fd, tmp, sizeof tmp);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (got <= 0)
        return false;
    size_t take = (size_t)got;
    ck_assert_msg(*n + take < cap, "child wrote more than %zu bytes", cap);
    memcpy(buf + *n, tmp, take);
    *n += take;
    buf[*n] = 0;
    return true;
}

/* ---- child processes ----------------------------------------------------- */

/* What a child reads on stdin: /dev/null, a pipe we write `input` into,
 * or a regular file holding `input`. */
enum input_kind { IN_NULL, IN_PIPE, IN_FILE };

/* A running example. */
struct child {
    const char *name;
    pid_t pid;
    struct run *r;      /* where its output and exit status go */
    int out, err;       /* read ends of its stdout and stderr; -1 at EOF */
    int in;             /* IN_PIPE: write end of its stdin, -1 once closed */
    const char *input;  /* IN_PIPE: what to write there */
    size_t in_len, in_off;
    double deadline;    /* killed if still running then */
    bool killed;
};

/* Start EXAMPLES_DIR/name with the arguments in ap (NULL-terminated) and
 * stdin as given; its output is collected into r (emptied here) by pump. */
static void start_child(struct child *c, struct run *r, enum input_kind kind,
                        const char *input, const char *name, va_list ap) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", EXAMPLES_DIR, name);
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = path;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(argc, MAX_ARGS);
        argv[argc++] = (char *)a;
    }
    argv[argc] = NULL;

    int out[2], err[2], in[2] = {-1, -1};
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    if (kind == IN_PIPE) {
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    } else if (kind == IN_FILE) {
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/weft-example-input-XXXXXX",
                 tmp_dir());
        in[0] = mkostemp(tmpl, O_CLOEXEC);
        ck_assert_int_ge(in[0], 0);
        unlink(tmpl);
        size_t len = strlen(input);
        ck_assert_int_eq(write(in[0], input, len), (ssize_t)len);
        ck_assert_int_eq(lseek(in[0], 0, SEEK_SET), 0);
    } else {
        in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(in[0], 0);
    }
    /* A child that stops reading its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(126);
        signal(SIGPIPE, SIG_DFL); /* the test ignores it; the child not */
        if (dup2(out[1], STDOUT_FILENO) < 0 ||
            dup2(err[1], STDERR_FILENO) < 0 || dup2(in[0], STDIN_FILENO) < 0)
            _exit(126);
        execv(path, argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    close(in[0]);
    memset(r, 0, sizeof *r);
    *c = (struct child){.name = name, .pid = pid, .r = r,
                        .out = out[0], .err = err[0], .in = in[1],
                        .input = kind == IN_PIPE ? input : NULL,
                        .in_len = kind == IN_PIPE ? strlen(input) : 0,
                        .deadline = now_s() + CHILD_DEADLINE_S};
    if (c->in >= 0)
        ck_assert_int_eq(fcntl(c->in, F_SETFL, O_NONBLOCK), 0);
}

/* Feed the child its input (IN_PIPE; closed once all written, so that it
 * reads end of file) and collect what it writes into c->r until
 * until(c->r, arg) holds or its stdout and stderr are both at end of file;
 * past the deadline the child is killed. Returns until's verdict. */
static bool pump(struct child *c,
                 bool (*until)(const struct run *, const void *),
                 const void *arg) {
    while (c->out >= 0 || c->err >= 0) {
        if (until && until(c->r, arg))
            return true;
        if (c->in >= 0 && c->in_off == c->in_len) {
            close(c->in);
            c->in = -1;
        }
        struct pollfd fds[3] = {{c->out, POLLIN, 0},
                                {c->err, POLLIN, 0},
                                {c->in, POLLOUT, 0}};
        int left_ms = (int)((c->deadline - now_s()) * 1000);
        int r = left_ms > 0 ? poll(fds, 3, left_ms) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            kill(c->pid, SIGKILL);
            c->killed = true;
            break;
        }
        if (c->out >= 0 && fds[0].revents &&
            !drain(c->out, c->r->out, sizeof c->r->out, &c->r->nout)) {
            close(c->out);
            c->out = -1;
        }
        if (c->err >= 0 && fds[1].revents &&
            !drain(c->err, c->r->err, sizeof c->r->err, &c->r->nerr)) {
            close(c->err);
            c->err = -1;
        }
        if (c->in >= 0 && fds[2].revents) {
            ssize_t w = write(c->in, c->input + c->in_off,
                              c->in_len - c->in_off);
            if (w > 0)
                c->in_off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                c->in_off = c->in_len; /* the child stopped reading */
        }
    }
    return until && until(c->r, arg);
}

/* Collect the rest of the child's output, wait for it to end and store its
 * exit status in c->r. */
static void reap(struct child *c) {
    pump(c, NULL, NULL);
    if (c->in >= 0)
        close(c->in);
    if (c->out >= 0)
        close(c->out);
    if (c->err >= 0)
        close(c->err);
    c->in = c->out = c->err = -1;
    int ws;
    while (waitpid(c->pid, &ws, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    ck_assert_msg(!c->killed, "%s ran longer than %d s; stdout: %s", c->name,
                  CHILD_DEADLINE_S, c->r->out);
    c->r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    ck_assert_msg(c->r->status != 127, "cannot run %s", c->name);
    ck_assert_msg(c->r->status != 126, "cannot set up %s", c->name);
}

/* ---- lines of output ----------------------------------------------------- */

/* Does the line match the pattern: the same text, or, when the pattern has
 * a '*', the same text with any run of characters in its place? */
static bool line_matches(const char *line, const char *pattern) {
    if (strchr(pattern, '*'))
        return fnmatch(pattern, line, FNM_NOESCAPE) == 0;
    return strcmp(line, pattern) == 0;
}

/* Does r->out hold a whole line matching the pattern (arg)? */
static bool has_line(const struct run *r, const void *arg) {
    const char *pattern = arg;
    char line[4096];
    const char *p = r->out;
    const char *nl;
    while ((nl = strchr(p, '\n')) != NULL) {
        size_t n = (size_t)(nl - p);
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = 0;
            if (line_matches(line, pattern))
                return true;
        }
        p = nl + 1;
    }
    return false;
}

/* Split R.out into lines (in place); returns how many. */
#define MAX_LINES 4096
static char *lines[MAX_LINES];

static size_t split_lines(void) {
    size_t n = 0;
    char *p = R.out;
    while (*p) {
        ck_assert_int_lt(n, MAX_LINES);
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    return n;
}

/* Count the lines among the n split ones that match the pattern. */
static size_t count_lines(size_t n, const char *pattern) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += line_matches(lines[i], pattern);
    return k;
}

/* Assert that lines matching want[] appear in that order among the n lines;
 * other lines may come between. */
static void assert_in_order(size_t n, const char *const *want, size_t nwant) {
    size_t w = 0;
    for (size_t i = 0; i < n && w < nwant; i++)
        if (line_matches(lines[i], want[w]))
            w++;
    ck_assert_msg(w == nwant, "missing (or out of order): '%s'", want[w]);
}

/* ---- the foreground child: run to the end, or talked to as it runs ------- */

static struct child C;

/* Run EXAMPLES_DIR/name with the given arguments (NULL-terminated) and
 * collect its stdout, stderr and exit status in R. */
static void run_example(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    start_child(&C, &R, IN_NULL, NULL, name, ap);
    va_end(ap);
    reap(&C);
}

/* The same with `input` on stdin, through a pipe or from a regular file. */
static void run_example_input(enum input_kind kind, const char *input,
                              const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    start_child(&C, &R, kind, input, name, ap);
    va_end(ap);
    reap(&C);
}

/* Start it and return at once: its output is collected into R by
 * wait_line and reap_example; its pid is C.pid. */
static void spawn_example(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    start_child(&C, &R, IN_NULL, NULL, name, ap);
    va_end(ap);
}

/* Wait until the running child has printed a line matching pattern. */
static void wait_line(const char *pattern) {
    ck_assert_msg(pump(&C, has_line, pattern),
                  "%s never printed '%s'; stdout: %s; stderr: %s", C.name,
                  pattern, R.out, R.err);
}

/* Wait for it to end; the rest of its output and its status go to R. */
static void reap_example(void) {
    reap(&C);
}

/* ---- servers in the background ------------------------------------------- */

/* A server example running while the test talks to it. */
struct server {
    struct child c;
    char line[256]; /* its first line, "listening on HOST:PORT" */
    char port[8];
};

static bool has_whole_line(const struct run *r, const void *arg) {
    (void)arg;
    return memchr(r->out, '\n', r->nout) != NULL;
}

/* Start a server example (arguments NULL-terminated) and wait for its
 * first line, "listening on HOST:PORT", which must match `want` (a regular
 * expression with the port as its first group). */
static void start_server(struct server *srv, const char *want,
                         const char *name, ...) {
    memset(srv, 0, sizeof *srv);
    va_list ap;
    va_start(ap, name);
    start_child(&srv->c, &S, IN_NULL, NULL, name, ap);
    va_end(ap);
    if (!pump(&srv->c, has_whole_line, NULL)) {
        ck_assert_msg(!srv->c.killed, "%s printed no line within %d s", name,
                      CHILD_DEADLINE_S);
        reap(&srv->c); /* it exited: show why */
        ck_abort_msg("%s ended before listening: status %d, stderr: %s",
                     name, S.status, S.err);
    }
    /* Take the first line out of S: what it prints later stays there. */
    size_t n = (size_t)((char *)memchr(S.out, '\n', S.nout) - S.out);
    ck_assert_uint_lt(n, sizeof srv->line);
    memcpy(srv->line, S.out, n);
    srv->line[n] = 0;
    S.nout -= n + 1;
    memmove(S.out, S.out + n + 1, S.nout + 1);

    regex_t re;
    regmatch_t m[2];
    ck_assert_int_eq(regcomp(&re, want, REG_EXTENDED), 0);
    int r = regexec(&re, srv->line, 2, m, 0);
    regfree(&re);
    ck_assert_msg(r == 0, "%s: first line '%s' does not match '%s'", name,
                  srv->line, want);
    int len = (int)(m[1].rm_eo - m[1].rm_so);
    ck_assert_int_lt(len, (int)sizeof srv->port);
    memcpy(srv->port, srv->line + m[1].rm_so, (size_t)len);
    srv->port[len] = 0;
    ck_assert_int_gt(atoi(srv->port), 0);
}

/* Send the server a signal and wait (CHILD_DEADLINE_S from now) for it to
 * end; what it printed after its first line, its stderr and its exit
 * status go to R, as for any child that finished. */
static void stop_server(struct server *srv, int sig) {
    ck_assert_int_eq(kill(srv->c.pid, sig), 0);
    srv->c.deadline = now_s() + CHILD_DEADLINE_S;
    reap(&srv->c);
    R = S;
}

/* ---- assertions on a finished run (R) ------------------------------------ */

/* Check's messages are short: only the start of the haystack is shown. */
#define ck_assert_has_text(hay, needle)                                        \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "'%s' not in: %.600s",    \
                  (needle), (hay))

/* The run succeeded quietly: exit 0, nothing on stderr, and stdout made of
 * whole lines. */
static void assert_clean_success(void) {
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    ck_assert_msg(R.nerr == 0, "unexpected stderr: %s", R.err);
    ck_assert_msg(R.nout > 0 && R.out[R.nout - 1] == '\n',
                  "stdout does not end with a newline");
}

/* One line on stderr that starts with `prefix`, nothing on stdout. */
static void assert_one_line_error(int status, const char *prefix) {
    ck_assert_msg(R.status == status, "exit status %d, expected %d; "
                                      "stderr: %s",
                  R.status, status, R.err);
    ck_assert_msg(R.nout == 0, "printed on stdout: %s", R.out);
    ck_assert_msg(strncmp(R.err, prefix, strlen(prefix)) == 0,
                  "stderr is '%s', expected '%s...'", R.err, prefix);
    char *nl = strchr(R.err, '\n');
    ck_assert_msg(nl && nl[1] == 0, "stderr is not one line: '%s'", R.err);
}

/* Run `name` with bad arguments (NULL-terminated): status 2 and one line,
 * "usage: NAME ...". */
static void assert_usage_error(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    start_child(&C, &R, IN_NULL, NULL, name, ap);
    va_end(ap);
    reap(&C);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "usage: %s", name);
    assert_one_line_error(2, prefix);
}

/* The server stopped as asked: the one line, exit status 0, nothing on
 * stderr (no warning, no sanitizer report, no leak). */
static void assert_stopped_on(const char *signame) {
    char want[64];
    snprintf(want, sizeof want, "stopped on %s\n", signame);
    assert_clean_success();
    ck_assert_str_eq(R.out, want);
}

/* ---- sockets ------------------------------------------------------------- */

#define LISTENING_V4 "^listening on 127\\.0\\.0\\.1:([0-9]+)$"

/* A loopback port nobody listens on: a socket bound to it (TCP, not
 * listening, so connections are refused; or UDP, never read), kept open
 * so that nobody else takes the port. Returns the socket. */
static int bound_socket(int type, char port[8]) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(port, 8, "%d", ntohs(sa.sin_port));
    return fd;
}

/* Connect to 127.0.0.1:port; returns the socket, -1 if refused (nobody
 * listens), -2 if reset (the listener closed during the handshake). */
static int connect_loopback(const char *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    int e = errno;
    close(fd);
    ck_assert_msg(e == ECONNREFUSED || e == ECONNRESET, "connect: %s",
                  strerror(e));
    return e == ECONNREFUSED ? -1 : -2;
}

static bool have_ipv6_loopback(void) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* ---- ultra_simple -------------------------------------------------------- */

START_TEST(ultra_simple_prints_count_lines_then_done) {
    run_example("ultra_simple", "3", "0.01", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "This was run by the loop:\n"
                            "This was run by the loop:\n"
                            "This was run by the loop:\n"
                            "done with loop\n");
}
END_TEST

/* ---- async_time ---------------------------------------------------------- */

struct instance_lines {
    int times;        /* "instance: k Time: ..." lines */
    int done;         /* "instance: k is all done" lines */
    bool after_done;  /* a Time line came after "all done" */
    bool done_first;  /* "all done" came before any Time line */
};

/* Check the shape of async_time's output and count each instance's lines
 * into inst[1..4]. */
static void check_async_time_output(struct instance_lines inst[5]) {
    memset(inst, 0, 5 * sizeof *inst);
    size_t n = split_lines();
    ck_assert_uint_ge(n, 7);
    ck_assert_str_eq(lines[0], "about to run loop");
    ck_assert_str_eq(lines[n - 1], "loop exited");
    /* "shutdown called" comes once, not necessarily last: tasks whose
     * pause ended in the same loop iteration still run after stop(). */
    int shutdowns = 0;
    regex_t time_re, done_re;
    ck_assert_int_eq(regcomp(&time_re,
                             "^instance: ([1-4]) Time: [0-9]{4}-[0-9]{2}-"
                             "[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}$",
                             REG_EXTENDED),
                     0);
    ck_assert_int_eq(
        regcomp(&done_re, "^instance: ([1-4]) is all done$", REG_EXTENDED), 0);
    const char *bad = NULL;
    for (size_t i = 1; i < n - 1 && !bad; i++) {
        regmatch_t m[2];
        if (strcmp(lines[i], "shutdown called") == 0) {
            shutdowns++;
        } else if (regexec(&time_re, lines[i], 2, m, 0) == 0) {
            int k = lines[i][m[1].rm_so] - '0';
            inst[k].times++;
            if (inst[k].done)
                inst[k].after_done = true;
        } else if (regexec(&done_re, lines[i], 2, m, 0) == 0) {
            int k = lines[i][m[1].rm_so] - '0';
            inst[k].done++;
            if (!inst[k].times)
                inst[k].done_first = true;
        } else {
            bad = lines[i];
        }
    }
    regfree(&time_re);
    regfree(&done_re);
    ck_assert_msg(!bad, "unexpected line: '%s'", bad);
    ck_assert_int_eq(shutdowns, 1);
    for (int k = 1; k <= 4; k++) {
        ck_assert_msg(inst[k].times >= 1, "instance %d never printed", k);
        ck_assert_msg(inst[k].done <= 1, "instance %d done %d times", k,
                      inst[k].done);
        ck_assert_msg(!inst[k].after_done && !inst[k].done_first,
                      "instance %d printed out of order", k);
    }
}

START_TEST(async_time_runs_four_instances_then_shuts_down) {
    /* Instances print for 0.2 s, pausing 0 or 0.1 s; shutdown at 0.5 s. */
    run_example("async_time", "-s", "1", "0.2", "0.5", "0.1", NULL);
    assert_clean_success();
    struct instance_lines inst[5];
    check_async_time_output(inst);
}
END_TEST

START_TEST(async_time_shutdown_cancels_busy_instances_quietly) {
    /* The instances would print for 1000 s: the shutdown at 0.2 s stops the
     * loop long before, and closing the loop cancels all four, sleeping or
     * just done yielding. That must print nothing more, warn about nothing
     * and leak nothing. */
    run_example("async_time", "-s", "2", "1000", "0.2", "0.05", NULL);
    assert_clean_success();
    struct instance_lines inst[5];
    check_async_time_output(inst);
    for (int k = 1; k <= 4; k++)
        ck_assert_int_eq(inst[k].done, 0);
}
END_TEST

/* ---- gather -------------------------------------------------------------- */

START_TEST(gather_prints_results_in_order) {
    run_example("gather", "0.01", NULL);
    assert_clean_success();
    size_t n = split_lines();
    const char *const want[] = {
        "== A, B and C at once",
        "Task A: factorial(2) = 2",
        "Task B: factorial(3) = 6",
        "Task C: factorial(4) = 24",
        "gather: ok",
        "[2, 6, 24]",
        "Time: *",
        "",
        "== with D, which fails: the first error cancels the others",
        "Task D: factorial(-1) is undefined",
        "gather: EDOM (*",
        "[ECANCELED, ECANCELED, ECANCELED, EDOM]",
        "",
        "== with D again, and WEFT_GATHER_ALL: every result and error",
        "Task A: factorial(2) = 2",
        "Task B: factorial(3) = 6",
        "Task C: factorial(4) = 24",
        "gather: ok",
        "[2, 6, 24, EDOM]",
    };
    assert_in_order(n, want, sizeof want / sizeof want[0]);
    ck_assert_str_eq(lines[n - 1], "[2, 6, 24, EDOM]");
}
END_TEST

/* ---- async_executor ------------------------------------------------------ */

/* One call of the slow function: from "running the slow task- blocking!"
 * to "slow task complete". */
struct slow_window {
    int small_lines; /* "task: k run" lines printed meanwhile */
    bool complete;   /* "slow task complete" came */
};

struct executor_run {
    struct slow_window win[64];
    int nwin;
    int small[5]; /* lines of each small task, 1..4 */
    bool trailing_open; /* the last call never completed (loop closed) */
};

/* Check the shape of async_executor's output: first and last lines, every
 * line one of the four kinds, and the slow task's lines in the order
 * running -> complete -> done (repeated), a last "running" possibly left
 * open by the loop's close. Fills *er.
 *
 * In the executor (-e) the slow function runs on while the loop stops: it
 * may finish after "loop exited" (its last slice ended before the close
 * cancelled it), or just before the stop, with the slow task not run
 * again to print its result. Both are accepted there. */
static void check_async_executor_output(struct executor_run *er,
                                        bool executor) {
    memset(er, 0, sizeof *er);
    size_t n = split_lines();
    ck_assert_uint_ge(n, 3);
    ck_assert_str_eq(lines[0], "about to run loop");
    bool late_complete =
        executor && strcmp(lines[n - 1], "slow task complete") == 0;
    if (late_complete)
        n--; /* lines[n - 1] is now what came before it */
    ck_assert_str_eq(lines[n - 1], "loop exited");
    regex_t small_re, done_re;
    ck_assert_int_eq(regcomp(&small_re, "^task: ([1-4]) run$", REG_EXTENDED),
                     0);
    ck_assert_int_eq(regcomp(&done_re,
                             "^slow function done: result [0-9.e+-]+$",
                             REG_EXTENDED),
                     0);
    /* What the slow task printed last: 'd' done (or nothing yet), 'r'
     * running, 'c' complete. */
    char state = 'd';
    const char *bad = NULL;
    for (size_t i = 1; i < n - 1 && !bad; i++) {
        regmatch_t m[2];
        if (regexec(&small_re, lines[i], 2, m, 0) == 0) {
            er->small[lines[i][m[1].rm_so] - '0']++;
            if (state == 'r')
                er->win[er->nwin - 1].small_lines++;
        } else if (strcmp(lines[i], "running the slow task- blocking!") == 0) {
            if (state != 'd' || er->nwin == 64)
                bad = lines[i];
            else
                er->win[er->nwin++] = (struct slow_window){0, false};
            state = 'r';
        } else if (strcmp(lines[i], "slow task complete") == 0) {
            if (state != 'r')
                bad = lines[i];
            er->win[er->nwin - 1].complete = true;
            state = 'c';
        } else if (regexec(&done_re, lines[i], 0, NULL, 0) == 0) {
            if (state != 'c')
                bad = lines[i];
            state = 'd';
        } else {
            bad = lines[i];
        }
    }
    regfree(&small_re);
    regfree(&done_re);
    ck_assert_msg(!bad, "unexpected (or out of order) line: '%s'", bad);
    if (late_complete) {
        ck_assert_msg(state == 'r', "'slow task complete' after 'loop "
                                    "exited' without a call running");
        state = 'c';
    }
    /* A completed call is reported before the slow task goes on (only in
     * the executor may the stop come in between). */
    ck_assert_msg(executor || state != 'c',
                  "'slow task complete' without its result");
    er->trailing_open = state == 'r';
    for (int k = 1; k <= 4; k++)
        ck_assert_msg(er->small[k] >= 1, "small task %d never ran", k);
}

START_TEST(async_executor_small_tasks_run_while_the_executor_works) {
    /* 1 s; small tasks pause under 0.05 s; the slow function takes 0.2 to
     * 0.3 s, in the executor (-e). */
    run_example("async_executor", "-e", "-s", "1", "1", "0.05", "0.2", "0.3",
                NULL);
    assert_clean_success();
    struct executor_run er;
    check_async_executor_output(&er, true);
    int complete = 0;
    for (int i = 0; i < er.nwin; i++) {
        if (!er.win[i].complete)
            continue;
        complete++;
        ck_assert_msg(er.win[i].small_lines > 0,
                      "no small task ran during slow call %d", i + 1);
    }
    ck_assert_int_ge(complete, 1);
}
END_TEST

START_TEST(async_executor_blocking_mode_stalls_the_small_tasks) {
    /* The same without -e: the slow function blocks the loop. */
    run_example("async_executor", "-s", "1", "0.6", "0.05", "0.2", "0.3",
                NULL);
    assert_clean_success();
    struct executor_run er;
    check_async_executor_output(&er, false);
    ck_assert_int_ge(er.nwin, 1);
    ck_assert(!er.trailing_open); /* nothing can stop it midway */
    for (int i = 0; i < er.nwin; i++) {
        ck_assert(er.win[i].complete);
        ck_assert_msg(er.win[i].small_lines == 0,
                      "%d small task line(s) during blocking call %d",
                      er.win[i].small_lines, i + 1);
    }
}
END_TEST

/* The seconds a "weft: executing task 'NAME' ..." warning says its step
 * took, from each such line of R.err (at most max); returns how many. */
static int slow_step_warnings(const char *name, double *took, int max) {
    char head[128];
    snprintf(head, sizeof head, "weft: executing task '%s' (id ", name);
    int n = 0;
    for (const char *p = R.err; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, head, strlen(head)) == 0) {
            const char *t = strstr(p, ") took ");
            ck_assert_msg(t && t < p + len, "no duration in '%.*s'", (int)len,
                          p);
            if (n < max)
                took[n] = strtod(t + 7, NULL);
            n++;
        }
        p = nl ? nl + 1 : p + len;
    }
    return n;
}

START_TEST(async_executor_debug_names_the_blocking_step) {
    /* --debug without -e: each blocking call of the slow function (0.2 to
     * 0.3 s) is a step of slow_task longer than the 0.1 s threshold. */
    run_example("async_executor", "--debug", "-s", "1", "0.6", "0.05", "0.2",
                "0.3", NULL);
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    struct executor_run er;
    check_async_executor_output(&er, false);
    double took[64];
    int n = slow_step_warnings("slow_task", took, 64);
    ck_assert_int_eq(n, er.nwin); /* one per call, all completed */
    for (int i = 0; i < n && i < 64; i++)
        ck_assert_msg(took[i] >= 0.2, "call %d took %g s", i + 1, took[i]);
    ck_assert_has_text(R.err, ", fn slow_task (async_executor+0x");
    ck_assert_has_text(R.err, ", spawned at main+0x");
    ck_assert_has_text(R.err, "a blocking call belongs in the executor)\n");
}
END_TEST

START_TEST(async_executor_debug_in_the_executor_names_nothing_slow) {
    /* -e --debug: the slow function (0.5 s at least) runs on a worker; no
     * step of slow_task lasts anywhere near that long. */
    run_example("async_executor", "-e", "--debug", "-s", "1", "1.2", "0.05",
                "0.5", "0.6", NULL);
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    struct executor_run er;
    check_async_executor_output(&er, true);
    double took[64];
    int n = slow_step_warnings("slow_task", took, 64);
    for (int i = 0; i < n && i < 64; i++)
        ck_assert_msg(took[i] < 0.5, "a step took %g s: %s", took[i], R.err);
}
END_TEST

/* ---- task_dump -------------------------------------------------------------- */

START_TEST(task_dump_prints_every_wait_and_a_summary) {
    run_example("task_dump", "-n", "1000", NULL);
    assert_clean_success();
    size_t n = split_lines();
    const char *const want[] = {
        "weft task dump: loop 0x* (thread *) at * s, 1012 task(s)",
        "counters: 1012 spawned, * iterations, * callbacks, * I/O ops, * "
        "timers armed (1004 pending)",
        "by state:",
        "      1011 waiting: 1004 sleep, 1 future, 1 group exit, 1 lock, "
        "1 event, 1 queue get, 2 read",
        "         1 running",
        "by spawn site (-> task function):",
        "      1000 *+0x* (task_dump+0x*) -> sleeper (task_dump+0x*)",
        "tasks (100 of 1012; weft_dump_opts_t.max_tasks for more):",
        "task * 'lock_waiter': waiting * s: lock 0x* held by task *",
        "task * 'reader': waiting * s: read on fd * (unix (unnamed) -> "
        "(unnamed))",
        "      fn reader (task_dump+0x*), spawned at * (task_dump+0x*)",
        "task * 'joiner': waiting * s: future: joining task * 'sleeper'",
        "task * 'group_owner': waiting * s: group exit: 2 child(ren) left; "
        "in 1 scope(s) (1 group(s))",
        "end of task dump",
    };
    assert_in_order(n, want, sizeof want / sizeof want[0]);
    ck_assert_str_eq(lines[n - 1], "end of task dump");
}
END_TEST

/* Has stderr ended *arg dumps? */
static bool has_dumps(const struct run *r, const void *arg) {
    int n = 0;
    for (const char *p = r->err; (p = strstr(p, "end of task dump\n")); p++)
        n++;
    return n >= *(const int *)arg;
}

START_TEST(task_dump_prints_the_dump_on_each_sigquit) {
    spawn_example("task_dump", "--signal", NULL);
    wait_line("pid *: kill -QUIT * for a task dump (on stderr); SIGINT or "
              "SIGTERM to stop");
    for (int round = 1; round <= 2; round++) {
        kill(C.pid, SIGQUIT);
        ck_assert_msg(pump(&C, has_dumps, &round), "no dump %d; stderr "
                                                   "ends: %s",
                      round, R.err + (R.nerr > 400 ? R.nerr - 400 : 0));
    }
    kill(C.pid, SIGINT);
    reap_example();
    ck_assert_msg(R.status == 0, "exit status %d; stderr ends: %s", R.status,
                  R.err + (R.nerr > 400 ? R.nerr - 400 : 0));
    ck_assert_has_text(R.err, "weft: signal 3 (Quit): task dump of loop 0x");
    ck_assert_has_text(R.err, "': waiting");
    ck_assert_has_text(R.err, " weft__park+");
}
END_TEST

/* ---- subprocess ---------------------------------------------------------- */

START_TEST(subprocess_streams_a_pipeline_and_kills_a_hung_child) {
    run_example("subprocess", "--timeout", "0.2", "printf 'a\\nb\\nc\\n'",
                "tr a-c x-z", "sleep 30", NULL);
    assert_clean_success();
    size_t n = split_lines();
    const char *const want[] = {
        "1: x",
        "2: y",
        "3: z",
        "pipeline done: 3 line(s), exit statuses 0 and 0",
        "'sleep 30' did not finish within 0.2 s: killed (status -9)",
    };
    ck_assert_int_eq(n, 5);
    assert_in_order(n, want, sizeof want / sizeof want[0]);
    /* A child that finishes in time is reported as such. */
    run_example("subprocess", "--timeout", "5", "echo 1", "cat", "true",
                NULL);
    assert_clean_success();
    n = split_lines();
    ck_assert_str_eq(lines[n - 1], "'true' finished in time with status 0");
}
END_TEST

/* ---- signals ------------------------------------------------------------- */

START_TEST(signals_reports_usr1_and_hup_then_stops_on_sigint) {
    spawn_example("signals", NULL);
    wait_line("signals: running as pid *");
    ck_assert_int_eq(kill(C.pid, SIGUSR1), 0);
    wait_line("signals: SIGUSR1: status: * ticks, 0 reloads");
    ck_assert_int_eq(kill(C.pid, SIGHUP), 0);
    wait_line("signals: SIGHUP: reload #1");
    ck_assert_int_eq(kill(C.pid, SIGHUP), 0);
    wait_line("signals: SIGHUP: reload #2");
    ck_assert_int_eq(kill(C.pid, SIGUSR1), 0);
    wait_line("signals: SIGUSR1: status: * ticks, 2 reloads");
    ck_assert_int_eq(kill(C.pid, SIGINT), 0);
    reap_example();
    assert_clean_success();
    size_t n = split_lines();
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(lines[n - 1], "signals: stopped by SIGINT");
    ck_assert_uint_eq(count_lines(n, "signals: stopped by *"), 1);
}
END_TEST

START_TEST(signals_stops_on_sigterm_with_one_line_and_status_0) {
    spawn_example("signals", "0.5", NULL);
    wait_line("signals: running as pid *");
    ck_assert_int_eq(kill(C.pid, SIGTERM), 0);
    reap_example();
    assert_clean_success();
    size_t n = split_lines();
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(lines[1], "signals: stopped by SIGTERM");
}
END_TEST

/* ---- watch --------------------------------------------------------------- */

static char *watch_dir;

static const char *in_dir(const char *rel) {
    static char b[4][4096];
    static int k;
    char *p = b[k++ % 4];
    snprintf(p, sizeof b[0], "%s/%s", watch_dir, rel);
    return p;
}

static void write_file(const char *rel, const char *data) {
    int fd = open(in_dir(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    ck_assert_int_eq(close(fd), 0);
}

static void make_watch_dir(void) {
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/weft-watch-XXXXXX", tmp_dir());
    watch_dir = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(watch_dir);
}

START_TEST(watch_prints_changes_until_ctrl_c) {
    make_watch_dir();
    ck_assert_int_eq(mkdir(in_dir("sub"), 0755), 0);
    spawn_example("watch", watch_dir, NULL);
    wait_line("watch: watching * (recursive); Ctrl-C to stop");
    write_file("notes.txt", "hello\n");
    ck_assert_int_eq(chmod(in_dir("notes.txt"), 0600), 0);
    ck_assert_int_eq(rename(in_dir("notes.txt"), in_dir("old.txt")), 0);
    /* A new directory and a file made in it at once. */
    ck_assert_int_eq(mkdir(in_dir("new"), 0755), 0);
    write_file("new/inner.txt", "x");
    write_file("sub/deep.txt", "y");
    ck_assert_int_eq(rename(in_dir("sub"), in_dir("sub2")), 0);
    ck_assert_int_eq(unlink(in_dir("old.txt")), 0);
    wait_line("deleted  old.txt");
    ck_assert_int_eq(kill(C.pid, SIGINT), 0);
    reap_example();
    rm_tree(watch_dir);
    assert_clean_success();
    size_t n = split_lines();
    const char *const want[] = {
        "watch: watching * (recursive); Ctrl-C to stop",
        "created  notes.txt",
        "modified notes.txt",
        "attrib   notes.txt",
        "moved    notes.txt -> old.txt",
        "created  new/",
        "created  new/inner.txt",
        "created  sub/deep.txt",
        "moved    sub/ -> sub2/",
        "deleted  old.txt",
        "watch: stopped by SIGINT",
    };
    assert_in_order(n, want, sizeof want / sizeof want[0]);
    ck_assert_str_eq(lines[n - 1], "watch: stopped by SIGINT");
    ck_assert_uint_eq(count_lines(n, "created  new/inner.txt"), 1);
    ck_assert_uint_eq(count_lines(n, "created  new/"), 1);
}
END_TEST

START_TEST(watch_ends_when_its_directory_goes_away) {
    make_watch_dir();
    ck_assert_int_eq(mkdir(in_dir("w"), 0755), 0);
    spawn_example("watch", "-n", in_dir("w"), NULL);
    wait_line("watch: watching * (not recursive); Ctrl-C to stop");
    ck_assert_int_eq(rmdir(in_dir("w")), 0);
    reap_example();
    rm_tree(watch_dir);
    assert_clean_success();
    size_t n = split_lines();
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(lines[1], "deleted  .");
    ck_assert(line_matches(lines[2], "watch: * is gone"));
}
END_TEST

START_TEST(watch_of_a_missing_path_says_why_and_exits_1) {
    run_example("watch", "/nonexistent/weft-watch", NULL);
    ck_assert_int_eq(R.status, 1);
    ck_assert_uint_eq(R.nout, 0);
    ck_assert_str_eq(R.err, "watch: /nonexistent/weft-watch: No such file or "
                            "directory\n");
}
END_TEST

/* ---- echo_server and echo_client ----------------------------------------- */

START_TEST(echo_client_gets_back_each_message) {
    struct server srv;
    start_server(&srv, LISTENING_V4, "echo_server", "0", NULL);

    run_example("echo_client", srv.port, "hello", "two words", "", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "hello\ntwo words\n\n");

    /* Lines of stdin: from a pipe (a weft stream), the last one without
     * its newline ... */
    run_example_input(IN_PIPE, "a\nbb\nccc", "echo_client", srv.port, NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "a\nbb\nccc\n");
    /* ... and from a regular file (read directly). */
    run_example_input(IN_FILE, "x\n\ny\n", "echo_client", "--host",
                      "127.0.0.1", srv.port, NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "x\n\ny\n");
    /* ... and from /dev/null, which epoll cannot watch: nothing to send. */
    run_example("echo_client", srv.port, NULL);
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    ck_assert_uint_eq(R.nout + R.nerr, 0);

    stop_server(&srv, SIGTERM);
    assert_stopped_on("SIGTERM");
}
END_TEST

START_TEST(echo_of_a_line_larger_than_the_socket_buffers) {
    /* 600 kB in one line: the server echoes it in pieces while the client
     * is still sending, so both sides' backpressure (drain, and reading
     * while the write buffer flushes) is exercised. */
    enum { BIG = 600000 };
    char *line = malloc(BIG + 2);
    ck_assert_ptr_nonnull(line);
    for (size_t i = 0; i < BIG; i++)
        line[i] = (char)('a' + i % 26);
    line[BIG] = '\n';
    line[BIG + 1] = 0;
    struct server srv;
    start_server(&srv, LISTENING_V4, "echo_server", "0", NULL);
    run_example_input(IN_PIPE, line, "echo_client", srv.port, NULL);
    assert_clean_success();
    ck_assert_uint_eq(R.nout, BIG + 1);
    ck_assert_int_eq(memcmp(R.out, line, BIG + 1), 0);
    free(line);
    stop_server(&srv, SIGTERM);
    assert_stopped_on("SIGTERM");
}
END_TEST

START_TEST(echo_server_stop_ends_idle_connections) {
    struct server srv;
    start_server(&srv, LISTENING_V4, "echo_server", "0", NULL);
    int fd = connect_loopback(srv.port);
    ck_assert_int_ge(fd, 0);
    /* An echo proves its handler runs; then it waits for more. */
    ck_assert_int_eq(write(fd, "ping", 4), 4);
    char buf[8];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);

    /* SIGINT: the server closes; the idle connection is ended at once, not
     * after the 30 s grace period (which would overrun the test's
     * deadline): we read end of stream, the server exits 0 with its line. */
    stop_server(&srv, SIGINT);
    assert_stopped_on("SIGINT");
    ck_assert_int_eq(read(fd, buf, sizeof buf), 0);
    close(fd);
}
END_TEST

START_TEST(echo_server_second_signal_cuts_the_grace_short) {
    struct server srv;
    start_server(&srv, LISTENING_V4, "echo_server", "0", NULL);
    /* A busy connection: we send and never read, so its handler is soon
     * waiting in drain (backpressure), which a graceful close lets finish
     * (for 30 s): not idle. */
    int fd = connect_loopback(srv.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    static char chunk[65536];
    size_t sent = 0;
    for (;;) {
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w < 0 && errno == EAGAIN) {
            /* Full: the server stopped reading (it waits in drain), unless
             * it is only slow: give it half a second. */
            struct pollfd p = {fd, POLLOUT, 0};
            if (poll(&p, 1, 500) == 0)
                break;
            continue;
        }
        ck_assert_int_gt(w, 0);
        sent += (size_t)w;
        ck_assert_uint_lt(sent, (size_t)1 << 30);
    }
    /* First signal: the server stops listening (we wait until connecting
     * is refused) and waits for the busy connection ... */
    ck_assert_int_eq(kill(srv.c.pid, SIGTERM), 0);
    double deadline = now_s() + CHILD_DEADLINE_S;
    int probe;
    while ((probe = connect_loopback(srv.port)) != -1) {
        if (probe >= 0)
            close(probe);
        ck_assert_msg(now_s() < deadline, "the server kept listening");
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* ... until the second signal cancels it: the server exits 0 at once
     * (not after 30 s, which would overrun the test's deadline). */
    stop_server(&srv, SIGINT);
    assert_stopped_on("SIGTERM");
    close(fd);
}
END_TEST

START_TEST(echo_over_ipv6) {
    if (!have_ipv6_loopback())
        return; /* no ::1 here (IPv6 disabled): nothing to test */
    struct server srv;
    start_server(&srv, "^listening on \\[::1\\]:([0-9]+)$", "echo_server",
                 "--host", "::1", "0", NULL);
    run_example("echo_client", "--host", "::1", srv.port, "six", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "six\n");
    stop_server(&srv, SIGTERM);
    assert_stopped_on("SIGTERM");
}
END_TEST

/* One line on stderr that starts with `prefix`, nothing on stdout. */
START_TEST(echo_client_reports_a_refused_connection) {
    char port[8];
    int fd = bound_socket(SOCK_STREAM, port);
    run_example("echo_client", port, "hello", NULL);
    char want[64];
    snprintf(want, sizeof want, "echo_client: cannot connect to "
                                "127.0.0.1:%s: ",
             port);
    assert_one_line_error(1, want);
    close(fd);
}
END_TEST

/* ---- echo over TLS ------------------------------------------------------- */

/* The certificates of tests/tls/make-certs.sh, as the TLS suite uses them:
 * ca.crt, a test CA; server.crt and server.key, signed by it for
 * localhost, 127.0.0.1 and ::1. Made once for the TLS test case, by its
 * unchecked fixture (in the parent process: no assertions there; the tests
 * check certs_made). */
static char cert_dir[4096];
static bool certs_made;

static void make_certs(void) {
    snprintf(cert_dir, sizeof cert_dir, "%s/weft-example-certs-XXXXXX",
             tmp_dir());
    if (!mkdtemp(cert_dir)) {
        cert_dir[0] = 0;
        return;
    }
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s'", MAKE_CERTS, cert_dir);
    certs_made = system(cmd) == 0;
}

static void remove_certs(void) {
    if (cert_dir[0])
        rm_tree(cert_dir);
    cert_dir[0] = 0;
    certs_made = false;
}

/* The path of a file of cert_dir (four at a time stay valid). */
static const char *cert(const char *name) {
    static char b[4][4200];
    static int k;
    ck_assert_msg(certs_made, "no test certificates: %s failed", MAKE_CERTS);
    char *p = b[k++ % 4];
    snprintf(p, sizeof b[0], "%s/%s", cert_dir, name);
    return p;
}

/* Lines of R.err; returns how many, and how many match the pattern. */
static size_t count_err_lines(const char *pattern, size_t *matching) {
    size_t n = 0;
    *matching = 0;
    char line[4096];
    for (const char *p = R.err, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        size_t len = (size_t)(nl - p);
        n++;
        if (len < sizeof line) {
            memcpy(line, p, len);
            line[len] = 0;
            *matching += line_matches(line, pattern);
        }
    }
    return n;
}

START_TEST(echo_over_tls_with_the_test_ca) {
    struct server srv;
    start_server(&srv, LISTENING_V4, "echo_server", "--tls",
                 cert("server.crt"), cert("server.key"), "0", NULL);
    /* A client that connects and never starts its handshake: it must not
     * hold up the server's stop (its handshake, idle, ends at once). The
     * server takes connections in order: once the clients below have
     * their echo, this one has been taken too. */
    int idle = connect_loopback(srv.port);
    ck_assert_int_ge(idle, 0);

    /* The certificate is checked against 127.0.0.1 ... */
    run_example("echo_client", "--tls", "--cafile", cert("ca.crt"), srv.port,
                "hello", "two words", "", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "hello\ntwo words\n\n");
    /* ... or against a host name, sent with SNI too; lines of stdin. */
    run_example_input(IN_PIPE, "a\nbb\nccc", "echo_client", "--tls",
                      "--cafile", cert("ca.crt"), "--host", "localhost",
                      srv.port, NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "a\nbb\nccc\n");
    /* Verification off, explicitly. */
    run_example("echo_client", "--tls", "--insecure", srv.port, "anyway",
                NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "anyway\n");
    /* 600 kB in one line: TLS records both ways while both sides wait for
     * the other to take what it sent (drain). */
    enum { BIG = 600000 };
    char *line = malloc(BIG + 2);
    ck_assert_ptr_nonnull(line);
    for (size_t i = 0; i < BIG; i++)
        line[i] = (char)('a' + i % 26);
    line[BIG] = '\n';
    line[BIG + 1] = 0;
    run_example_input(IN_PIPE, line, "echo_client", "--tls", "--cafile",
                      cert("ca.crt"), srv.port, NULL);
    assert_clean_success();
    ck_assert_uint_eq(R.nout, BIG + 1);
    ck_assert_int_eq(memcmp(R.out, line, BIG + 1), 0);
    free(line);

    /* The stop is prompt (not after the 30 s handshake deadline or grace
     * period, which would overrun the test's deadline) and quiet: the
     * stopped handshake is not a failed one. */
    stop_server(&srv, SIGTERM);
    assert_stopped_on("SIGTERM");
    char b[8];
    ck_assert_int_eq(read(idle, b, sizeof b), 0);
    close(idle);
}
END_TEST

START_TEST(echo_over_tls_refuses_an_untrusted_server) {
    struct server srv;
    start_server(&srv, LISTENING_V4, "echo_server", "--tls",
                 cert("server.crt"), cert("server.key"), "0", NULL);
    /* The system's CAs do not know the test CA: one line naming why. */
    run_example("echo_client", "--tls", srv.port, "hello", NULL);
    assert_one_line_error(1, "echo_client: TLS handshake with 127.0.0.1 "
                             "failed: ");
    ck_assert_msg(strstr(R.err, "(TLS certificate not trusted)"),
                  "stderr: %s", R.err);
    /* The server goes on, after a client that does not speak TLS too. */
    run_example("echo_client", "--tls", "--cafile", cert("ca.crt"), srv.port,
                "still here", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "still here\n");
    for (int i = 0; i < 3; i++) {
        run_example("echo_client", srv.port, "not speaking TLS", NULL);
        assert_one_line_error(1, "echo_client: ");
    }
    run_example("echo_client", "--tls", "--cafile", cert("ca.crt"), srv.port,
                "and here", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "and here\n");

    /* Clients decide how many handshakes fail, so the server said one line
     * about the first and, at the stop, one counting the other three (it
     * was a line each: 1,000 stalled clients made 1,000 lines). */
    stop_server(&srv, SIGTERM);
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    ck_assert_str_eq(R.out, "stopped on SIGTERM\n");
    size_t failed;
    size_t n = count_err_lines("echo_server: TLS handshake with 127.0.0.1 "
                               "failed: *",
                               &failed);
    ck_assert_msg(n == 2 && failed == 2, "stderr: %s", R.err);
    ck_assert_msg(strstr(R.err, " (repeated 3 times)\n"), "stderr: %s", R.err);
}
END_TEST

START_TEST(echo_over_tls_bad_files_give_one_line_and_status_1) {
    char want[8600];
    run_example("echo_server", "--tls", cert("server.crt"),
                cert("missing.key"), "0", NULL);
    snprintf(want, sizeof want, "echo_server: %s: No such file or directory",
             cert("missing.key"));
    assert_one_line_error(1, want);
    /* A key, but not the certificate's. */
    run_example("echo_server", "--tls", cert("server.crt"), cert("ca.key"),
                "0", NULL);
    snprintf(want, sizeof want, "echo_server: cannot use certificate %s "
                                "with key %s: ",
             cert("server.crt"), cert("ca.key"));
    assert_one_line_error(1, want);
    /* A key where the certificate should be. */
    run_example("echo_server", "--tls", cert("server.key"),
                cert("server.key"), "0", NULL);
    assert_one_line_error(1, "echo_server: cannot use certificate ");

    run_example("echo_client", "--tls", "--cafile", cert("missing.crt"), "7",
                "hello", NULL);
    snprintf(want, sizeof want, "echo_client: %s: No such file or directory",
             cert("missing.crt"));
    assert_one_line_error(1, want);
    /* No certificate in it. */
    run_example("echo_client", "--tls", "--cafile", cert("server.key"), "7",
                "hello", NULL);
    snprintf(want, sizeof want, "echo_client: %s: ", cert("server.key"));
    assert_one_line_error(1, want);
}
END_TEST

/* ---- udp_echo ------------------------------------------------------------ */

START_TEST(udp_echo_client_gets_back_each_message) {
    struct server srv;
    start_server(&srv, LISTENING_V4, "udp_echo", "server", "0", NULL);
    run_example("udp_echo", "client", srv.port, "one", "two words", "",
                NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "one\ntwo words\n\n");
    run_example("udp_echo", "client", "--host", "127.0.0.1", "--timeout", "5",
                srv.port, "three", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "three\n");
    stop_server(&srv, SIGTERM);
    assert_stopped_on("SIGTERM");
}
END_TEST

START_TEST(udp_echo_client_gives_up_after_its_deadline) {
    /* Somebody holds the port but never answers. */
    char port[8];
    int fd = bound_socket(SOCK_DGRAM, port);
    run_example("udp_echo", "client", "--timeout", "0.2", port, "hello",
                "never sent", NULL);
    assert_one_line_error(1, "udp_echo: no reply to message 1 within 0.2 s");
    close(fd);
    /* Nobody holds it: the kernel says so (port unreachable). */
    fd = bound_socket(SOCK_DGRAM, port);
    close(fd);
    run_example("udp_echo", "client", port, "hello", NULL);
    assert_one_line_error(1, "udp_echo: no echo from 127.0.0.1:");
}
END_TEST

/* ---- bad arguments ------------------------------------------------------- */

START_TEST(bad_arguments_give_status_2_and_one_line) {
    assert_usage_error("ultra_simple", "x", NULL);
    assert_usage_error("ultra_simple", "-1", NULL);
    assert_usage_error("ultra_simple", "2", "nan", NULL);
    assert_usage_error("ultra_simple", "1", "2", "3", NULL);

    assert_usage_error("async_time", "x", NULL);
    assert_usage_error("async_time", "-1", NULL);
    assert_usage_error("async_time", "1", "inf", NULL);
    assert_usage_error("async_time", "1", "2", "3", "4", NULL);
    assert_usage_error("async_time", "-s", "many", NULL);
    assert_usage_error("async_time", "-s", NULL);
    assert_usage_error("async_time", "-q", NULL);

    assert_usage_error("gather", "soon", NULL);
    assert_usage_error("gather", "-0.5", NULL);
    assert_usage_error("gather", "1", "2", NULL);

    assert_usage_error("subprocess", "only-one", NULL);
    assert_usage_error("subprocess", "--timeout", "soon", NULL);
    assert_usage_error("subprocess", "--timeout", NULL);

    assert_usage_error("signals", "soon", NULL);
    assert_usage_error("signals", "-1", NULL);
    assert_usage_error("signals", "1", "2", NULL);

    assert_usage_error("watch", NULL);
    assert_usage_error("watch", "-x", "/tmp", NULL);
    assert_usage_error("watch", "/tmp", "/var", NULL);
    assert_usage_error("watch", "", NULL);

    assert_usage_error("echo_server", NULL);
    assert_usage_error("echo_server", "x", NULL);
    assert_usage_error("echo_server", "65536", NULL);
    assert_usage_error("echo_server", "-1", NULL);
    assert_usage_error("echo_server", "1", "2", NULL);
    assert_usage_error("echo_server", "--host", NULL);
    assert_usage_error("echo_server", "--tls", "cert.pem", "0", NULL);
    assert_usage_error("echo_server", "--tls", "", "key.pem", "0", NULL);
    assert_usage_error("echo_server", "--port", "0", NULL);

    assert_usage_error("echo_client", NULL);
    assert_usage_error("echo_client", "0", "hello", NULL);
    assert_usage_error("echo_client", "port", "hello", NULL);
    assert_usage_error("echo_client", "--host", NULL);
    assert_usage_error("echo_client", "--verbose", "7", NULL);
    assert_usage_error("echo_client", "--tls", "--cafile", NULL);
    assert_usage_error("echo_client", "--tls", "--cafile", "", "7", NULL);
    /* Without --tls. */
    assert_usage_error("echo_client", "--cafile", "ca.crt", "7", NULL);
    assert_usage_error("echo_client", "--insecure", "7", NULL);
    /* One or the other. */
    assert_usage_error("echo_client", "--tls", "--insecure", "--cafile",
                       "ca.crt", "7", NULL);

    assert_usage_error("udp_echo", NULL);
    assert_usage_error("udp_echo", "relay", "0", NULL);
    assert_usage_error("udp_echo", "server", NULL);
    assert_usage_error("udp_echo", "server", "0", "hello", NULL);
    assert_usage_error("udp_echo", "server", "--timeout", "1", "0", NULL);
    assert_usage_error("udp_echo", "client", "7", NULL);
    assert_usage_error("udp_echo", "client", "0", "hello", NULL);
    assert_usage_error("udp_echo", "client", "--timeout", "0", "7", "hello",
                       NULL);
    assert_usage_error("udp_echo", "client", "--timeout", "nan", "7", "hello",
                       NULL);

    assert_usage_error("async_executor", "x", NULL);
    assert_usage_error("async_executor", "1", "2", "3", "4", "5", NULL);
    /* SLOW_MIN > SLOW_MAX */
    assert_usage_error("async_executor", "1", "0.1", "0.5", "0.2", NULL);
    assert_usage_error("async_executor", "-e", "nan", NULL);
    assert_usage_error("async_executor", "-x", NULL);
    assert_usage_error("async_executor", "-s", NULL);
    assert_usage_error("async_executor", "--debugx", NULL);

    assert_usage_error("task_dump", "-n", NULL);
    assert_usage_error("task_dump", "-n", "x", NULL);
    assert_usage_error("task_dump", "-n", "-1", NULL);
    assert_usage_error("task_dump", "--signals", NULL);

    assert_usage_error("hello_server", NULL);
    assert_usage_error("hello_server", "x", NULL);
    assert_usage_error("hello_server", "65536", NULL);
    assert_usage_error("hello_server", "--workers", "0", "0", NULL);
    assert_usage_error("hello_server", "--workers", "x", "0", NULL);
    assert_usage_error("hello_server", "--host", NULL);
    assert_usage_error("hello_server", "1", "2", NULL);
}
END_TEST


/* ---- hello_server ---------------------------------------------------------- */

#define LISTENING_HTTP "^listening on http://127\\.0\\.0\\.1:([0-9]+)/$"

/* Run a tool (argv[0] a path) with a deadline, its stdout into out.
 * Returns its exit status, or -1 if the tool is not installed. */
static int run_tool(char *const argv[], char *out, size_t cap) {
    if (access(argv[0], X_OK) != 0)
        return -1;
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    double deadline = now_s() + CHILD_DEADLINE_S;
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        ssize_t r = read(fds[0], out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    close(fds[0]);
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static const char py_client[] =
    "import http.client, sys\n"
    "c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), "
    "timeout=5)\n"
    "for i in range(3):\n"
    "    c.request('GET', '/')\n"
    "    r = c.getresponse()\n"
    "    print(r.status, r.getheader('Content-Type'), r.read().decode())\n"
    "c.request('HEAD', '/')\n"
    "r = c.getresponse()\n"
    "print(r.status, r.getheader('Content-Length'), repr(r.read()))\n"
    "c.request('GET', '/nope')\n"
    "r = c.getresponse(); r.read(); print(r.status)\n"
    "c.request('POST', '/', body=b'x' * 100)\n"
    "r = c.getresponse(); r.read(); print(r.status, r.getheader('Allow'))\n";

START_TEST(hello_server_answers_curl_and_python) {
    struct server srv;
    start_server(&srv, LISTENING_HTTP, "hello_server", "0", NULL);
    char url[64], out[8192];
    snprintf(url, sizeof url, "http://127.0.0.1:%s/", srv.port);
    /* curl: two requests on one connection. */
    char *curl[] = {(char *)"/usr/bin/curl", (char *)"-s", (char *)"-i",
                    (char *)"--max-time", (char *)"5", url, url, NULL};
    int st = run_tool(curl, out, sizeof out);
    if (st < 0) {
        fprintf(stderr, "hello_server test: no curl (scripts/deps.sh test "
                        "installs it): that part skipped\n");
    } else {
        ck_assert_int_eq(st, 0);
        ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
        ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: text/plain; "
                                          "charset=utf-8\r\n"));
        ck_assert_ptr_nonnull(strstr(out, "\r\n\r\nHello, World!HTTP/1.1 200 "
                                          "OK\r\n"));
    }
    /* python3's http.client: keep-alive, HEAD, 404, 405. */
    char *py[] = {(char *)"/usr/bin/python3", (char *)"-c",
                  (char *)py_client, srv.port, NULL};
    st = run_tool(py, out, sizeof out);
    if (st < 0) {
        fprintf(stderr, "hello_server test: no /usr/bin/python3: that part "
                        "skipped\n");
    } else {
        ck_assert_int_eq(st, 0);
        ck_assert_str_eq(out,
                         "200 text/plain; charset=utf-8 Hello, World!\n"
                         "200 text/plain; charset=utf-8 Hello, World!\n"
                         "200 text/plain; charset=utf-8 Hello, World!\n"
                         "200 13 b''\n"
                         "404\n"
                         "405 GET, HEAD\n");
    }
    stop_server(&srv, SIGINT);
    assert_clean_success();
    ck_assert_msg(fnmatch("stopped on SIGINT after * requests\n", R.out, 0) ==
                      0,
                  "%s", R.out);
}
END_TEST

/* A client that keeps sending on 16 keep-alive connections (every other
 * one pipelining two requests at a time) while SIGTERM arrives: every
 * request the server handled (it prints how many) got a whole response,
 * no response was cut, and the server exits 0. */
#define LOAD_CONNS 16
#define LOAD_BEFORE_SIGNAL 3000

struct lconn {
    int fd;
    int depth, outstanding;
    char buf[16384];
    size_t n;
};

static const char hello_req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

static bool lconn_send(struct lconn *c) {
    char reqs[2 * sizeof hello_req];
    size_t len = 0;
    for (int i = 0; i < c->depth; i++) {
        memcpy(reqs + len, hello_req, sizeof hello_req - 1);
        len += sizeof hello_req - 1;
    }
    if (send(c->fd, reqs, len, MSG_NOSIGNAL) != (ssize_t)len)
        return false;
    c->outstanding = c->depth;
    return true;
}

/* Take the whole responses at the front of c->buf; -1 for a wrong one. */
static int take_responses(struct lconn *c) {
    int k = 0;
    for (;;) {
        char *end = memmem(c->buf, c->n, "\r\n\r\n", 4);
        if (!end)
            return k;
        size_t hl = (size_t)(end + 4 - c->buf);
        char *cl = memmem(c->buf, hl, "\r\nContent-Length: ", 18);
        if (!cl || strncmp(c->buf, "HTTP/1.1 200 OK\r\n", 17) != 0)
            return -1;
        size_t blen = strtoul(cl + 18, NULL, 10);
        if (c->n < hl + blen)
            return k;
        if (blen != 13 || memcmp(c->buf + hl, "Hello, World!", 13) != 0)
            return -1;
        c->n -= hl + blen;
        memmove(c->buf, c->buf + hl + blen, c->n);
        k++;
    }
}

START_TEST(hello_server_shutdown_under_load_answers_every_request_it_took) {
    struct server srv;
    start_server(&srv, LISTENING_HTTP, "hello_server", "0", NULL);
    struct lconn conns[LOAD_CONNS];
    for (int i = 0; i < LOAD_CONNS; i++) {
        conns[i] = (struct lconn){.depth = i % 2 ? 2 : 1};
        conns[i].fd = connect_loopback(srv.port);
        ck_assert_int_ge(conns[i].fd, 0);
        ck_assert(lconn_send(&conns[i]));
    }
    long full = 0, cut = 0, unanswered = 0, reconnects = 0;
    bool signalled = false;
    int alive = LOAD_CONNS;
    double deadline = now_s() + 20;
    while (alive > 0 && now_s() < deadline) {
        struct pollfd pfd[LOAD_CONNS];
        for (int i = 0; i < LOAD_CONNS; i++)
            pfd[i] = (struct pollfd){conns[i].fd, POLLIN, 0};
        if (poll(pfd, LOAD_CONNS, 100) < 0)
            continue;
        for (int i = 0; i < LOAD_CONNS; i++) {
            struct lconn *c = &conns[i];
            if (c->fd < 0 || !pfd[i].revents)
                continue;
            ssize_t r = read(c->fd, c->buf + c->n, sizeof c->buf - c->n);
            if (r > 0) {
                c->n += (size_t)r;
                int k = take_responses(c);
                ck_assert_msg(k >= 0, "a wrong response: %.*s", (int)c->n,
                              c->buf);
                full += k;
                c->outstanding -= k;
                if (c->outstanding == 0 && !lconn_send(c))
                    r = 0; /* the server closed meanwhile */
                else
                    continue;
            }
            /* Closed by the server: what was in flight was not taken. */
            cut += c->n > 0;
            unanswered += c->outstanding;
            close(c->fd);
            c->fd = signalled ? -1 : connect_loopback(srv.port);
            if (c->fd >= 0) {
                reconnects++;
                c->n = 0;
                if (!lconn_send(c)) {
                    close(c->fd);
                    c->fd = -1;
                }
            }
            if (c->fd < 0)
                alive--;
        }
        if (!signalled && full >= LOAD_BEFORE_SIGNAL) {
            ck_assert_int_eq(kill(srv.c.pid, SIGTERM), 0);
            signalled = true;
        }
    }
    ck_assert_msg(alive == 0, "connections still open after 20 s");
    ck_assert(signalled);
    srv.c.deadline = now_s() + CHILD_DEADLINE_S;
    reap(&srv.c);
    R = S;
    assert_clean_success();
    long handled = -1;
    ck_assert_msg(sscanf(R.out, "stopped on SIGTERM after %ld requests",
                         &handled) == 1,
                  "%s", R.out);
    fprintf(stderr, "shutdown under load: %ld responses, %ld requests "
                    "handled, %ld unanswered (not taken), %ld cut, %ld "
                    "reconnects\n",
            full, handled, unanswered, cut, reconnects);
    ck_assert_int_eq(cut, 0);
    ck_assert_int_eq(handled, full);
    ck_assert_int_ge(full, LOAD_BEFORE_SIGNAL);
}
END_TEST

START_TEST(hello_server_port_in_use_gives_one_line_and_status_1) {
    char port[8];
    int fd = bound_socket(SOCK_STREAM, port);
    ck_assert_int_eq(listen(fd, 1), 0);
    run_example("hello_server", "--workers", "2", port, NULL);
    close(fd);
    assert_one_line_error(1, "hello_server: cannot serve on 127.0.0.1:");
}
END_TEST

START_TEST(hello_server_with_two_workers) {
    struct server srv;
    start_server(&srv, LISTENING_HTTP, "hello_server", "--workers", "2",
                 "--host", "127.0.0.1", "0", NULL);
    for (int i = 0; i < 40; i++) {
        int fd = connect_loopback(srv.port);
        ck_assert_int_ge(fd, 0);
        static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n"
                                  "Connection: close\r\n\r\n";
        ck_assert_int_eq(send(fd, req, sizeof req - 1, MSG_NOSIGNAL),
                         (ssize_t)(sizeof req - 1));
        char buf[1024];
        size_t n = 0;
        ssize_t r;
        while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
            n += (size_t)r;
        buf[n] = '\0';
        close(fd);
        ck_assert_msg(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
                          strstr(buf, "\r\n\r\nHello, World!"),
                      "%s", buf);
    }
    stop_server(&srv, SIGTERM);
    assert_clean_success();
    ck_assert_str_eq(R.out, "stopped on SIGTERM after 40 requests\n");
}
END_TEST

static Suite *examples_suite(void) {
    Suite *s = suite_create("examples");
    TCase *tc = tcase_create("examples");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ultra_simple_prints_count_lines_then_done);
    tcase_add_test(tc, async_time_runs_four_instances_then_shuts_down);
    tcase_add_test(tc, async_time_shutdown_cancels_busy_instances_quietly);
    tcase_add_test(tc, gather_prints_results_in_order);
    tcase_add_test(tc, subprocess_streams_a_pipeline_and_kills_a_hung_child);
    tcase_add_test(tc, signals_reports_usr1_and_hup_then_stops_on_sigint);
    tcase_add_test(tc, signals_stops_on_sigterm_with_one_line_and_status_0);
    tcase_add_test(tc, watch_prints_changes_until_ctrl_c);
    tcase_add_test(tc, watch_ends_when_its_directory_goes_away);
    tcase_add_test(tc, watch_of_a_missing_path_says_why_and_exits_1);
    tcase_add_test(tc, echo_client_gets_back_each_message);
    tcase_add_test(tc, echo_of_a_line_larger_than_the_socket_buffers);
    tcase_add_test(tc, echo_server_stop_ends_idle_connections);
    tcase_add_test(tc, echo_server_second_signal_cuts_the_grace_short);
    tcase_add_test(tc, echo_over_ipv6);
    tcase_add_test(tc, echo_client_reports_a_refused_connection);
    tcase_add_test(tc, udp_echo_client_gets_back_each_message);
    tcase_add_test(tc, udp_echo_client_gives_up_after_its_deadline);
    tcase_add_test(tc, async_executor_small_tasks_run_while_the_executor_works);
    tcase_add_test(tc, async_executor_blocking_mode_stalls_the_small_tasks);
    tcase_add_test(tc, async_executor_debug_names_the_blocking_step);
    tcase_add_test(tc, async_executor_debug_in_the_executor_names_nothing_slow);
    tcase_add_test(tc, task_dump_prints_every_wait_and_a_summary);
    tcase_add_test(tc, task_dump_prints_the_dump_on_each_sigquit);
    tcase_add_test(tc, bad_arguments_give_status_2_and_one_line);
    tcase_add_test(tc, hello_server_answers_curl_and_python);
    tcase_add_test(tc,
                   hello_server_shutdown_under_load_answers_every_request_it_took);
    tcase_add_test(tc, hello_server_with_two_workers);
    tcase_add_test(tc, hello_server_port_in_use_gives_one_line_and_status_1);
    suite_add_tcase(s, tc);

    /* echo over TLS: with certificates made once for these tests. */
    tc = tcase_create("tls");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
    tcase_add_test(tc, echo_over_tls_with_the_test_ca);
    tcase_add_test(tc, echo_over_tls_refuses_an_untrusted_server);
    tcase_add_test(tc, echo_over_tls_bad_files_give_one_line_and_status_1);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(examples_suite)
