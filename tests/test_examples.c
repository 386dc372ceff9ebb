/* The examples: run each binary as a child process and check the structure
 * of what it prints (never its timing), its exit status, and that stderr
 * stays empty: no weft warning, no sanitizer report, no leak. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#ifndef EXAMPLES_DIR
#error "EXAMPLES_DIR must name the directory of the example binaries"
#endif

/* A child that runs longer than this is killed and the test fails. */
#define CHILD_DEADLINE_S 10

struct run {
    int status; /* exit status; 128 + N if killed by signal N */
    char out[1 << 20];
    size_t nout;
    char err[1 << 14];
    size_t nerr;
};

static struct run R;

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

/* What a child reads on stdin: /dev/null, a pipe we write `input` into,
 * or a regular file holding `input`. */
enum input_kind { IN_NULL, IN_PIPE, IN_FILE };

struct child {
    pid_t pid;
    int out, err; /* read ends of its stdout and stderr */
    int in;       /* IN_PIPE: write end of its stdin, -1 once closed */
};

/* Start EXAMPLES_DIR/argv[0] (argv NULL-terminated). The child dies with
 * the test process (PR_SET_PDEATHSIG), so a failed assertion never leaves
 * a server running. */
static struct child start_child(char **argv, enum input_kind kind,
                                const char *input) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", EXAMPLES_DIR, argv[0]);
    int out[2], err[2], in[2] = {-1, -1};
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    if (kind == IN_PIPE) {
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    } else if (kind == IN_FILE) {
        char tmpl[] = "/tmp/weft-example-input-XXXXXX";
        in[0] = mkstemp(tmpl);
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
        char *args[16];
        int n = 0;
        args[n++] = path;
        for (int i = 1; argv[i] && n < 15; i++)
            args[n++] = argv[i];
        args[n] = NULL;
        execv(path, args);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    close(in[0]);
    struct child c = {pid, out[0], err[0], in[1]};
    if (c.in >= 0)
        ck_assert_int_eq(fcntl(c.in, F_SETFL, O_NONBLOCK), 0);
    return c;
}

/* Wait for the child (killed if it outlived its deadline) and store its
 * exit status in R. */
static void reap_child(struct child *c, bool killed, const char *name) {
    int ws;
    while (waitpid(c->pid, &ws, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    ck_assert_msg(!killed, "%s ran longer than %d s", name, CHILD_DEADLINE_S);
    R.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    ck_assert_msg(R.status != 127, "cannot run %s", name);
    ck_assert_msg(R.status != 126, "cannot set up %s", name);
}

/* Feed the child `input` (IN_PIPE) while collecting its stdout and stderr
 * in R (after what R holds already) until both are closed, then reap it. */
static void finish_child(struct child *c, const char *name,
                         const char *input) {
    size_t in_len = input ? strlen(input) : 0, in_off = 0;
    struct pollfd fds[3] = {{c->out, POLLIN, 0},
                            {c->err, POLLIN, 0},
                            {c->in, POLLOUT, 0}};
    bool open_out = true, open_err = true, killed = false;
    double deadline = now_s() + CHILD_DEADLINE_S;
    while (open_out || open_err) {
        if (c->in >= 0 && in_off == in_len) {
            close(c->in); /* all of it: the child reads end of file */
            c->in = -1;
        }
        fds[0].fd = open_out ? c->out : -1;
        fds[1].fd = open_err ? c->err : -1;
        fds[2].fd = c->in;
        int left_ms = (int)((deadline - now_s()) * 1000);
        int r = left_ms > 0 ? poll(fds, 3, left_ms) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            kill(c->pid, SIGKILL);
            killed = true;
            break;
        }
        if (open_out && fds[0].revents)
            open_out = drain(c->out, R.out, sizeof R.out, &R.nout);
        if (open_err && fds[1].revents)
            open_err = drain(c->err, R.err, sizeof R.err, &R.nerr);
        if (c->in >= 0 && fds[2].revents) {
            ssize_t w = write(c->in, input + in_off, in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                in_off = in_len; /* the child stopped reading */
        }
    }
    if (c->in >= 0)
        close(c->in);
    close(c->out);
    close(c->err);
    reap_child(c, killed, name);
}

#define MAX_ARGS 15

/* Run EXAMPLES_DIR/name with the arguments (NULL-terminated) and stdin as
 * given, and collect its stdout, stderr and exit status in R. */
static void run_example_v(enum input_kind kind, const char *input,
                          const char *name, va_list ap) {
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = (char *)name;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(argc, MAX_ARGS);
        argv[argc++] = (char *)a;
    }
    argv[argc] = NULL;
    memset(&R, 0, sizeof R);
    struct child c = start_child(argv, kind, input);
    finish_child(&c, name, kind == IN_PIPE ? input : NULL);
}

static void run_example(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    run_example_v(IN_NULL, NULL, name, ap);
    va_end(ap);
}

/* The same with `input` on stdin, through a pipe or from a regular file. */
static void run_example_input(enum input_kind kind, const char *input,
                              const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    run_example_v(kind, input, name, ap);
    va_end(ap);
}

/* The run succeeded quietly: exit 0, nothing on stderr, and stdout made of
 * whole lines. */
static void assert_clean_success(void) {
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    ck_assert_msg(R.nerr == 0, "unexpected stderr: %s", R.err);
    ck_assert_msg(R.nout > 0 && R.out[R.nout - 1] == '\n',
                  "stdout does not end with a newline");
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

/* Does the line match the pattern: the same text, or, when the pattern ends
 * with '*', the same start? */
static bool line_matches(const char *line, const char *pattern) {
    size_t len = strlen(pattern);
    if (len > 0 && pattern[len - 1] == '*')
        return strncmp(line, pattern, len - 1) == 0;
    return strcmp(line, pattern) == 0;
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

/* ---- ultra_simple ---------------------------------------------------------- */

START_TEST(ultra_simple_prints_count_lines_then_done) {
    run_example("ultra_simple", "3", "0.01", NULL);
    assert_clean_success();
    ck_assert_str_eq(R.out, "This was run by the loop:\n"
                            "This was run by the loop:\n"
                            "This was run by the loop:\n"
                            "done with loop\n");
}
END_TEST

/* ---- async_time ------------------------------------------------------------ */

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

/* ---- gather ------------------------------------------------------------------ */

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

/* ---- servers in the background ----------------------------------------------- */

/* A server example running while the test talks to it. */
struct server {
    struct child c;
    const char *name;
    char line[256]; /* its first line, "listening on HOST:PORT" */
    char port[8];
};

/* Start a server example (arguments NULL-terminated) and wait for its
 * "listening on HOST:PORT" line, which must match `want` (a regular
 * expression with the port as its first group). */
static void start_server(struct server *srv, const char *want,
                         const char *name, ...) {
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = (char *)name;
    va_list ap;
    va_start(ap, name);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(argc, MAX_ARGS);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    memset(srv, 0, sizeof *srv);
    srv->name = name;
    srv->c = start_child(argv, IN_NULL, NULL);

    /* Read up to the end of the first line, one byte at a time so that
     * nothing after it is taken from the pipe. */
    size_t n = 0;
    double deadline = now_s() + CHILD_DEADLINE_S;
    while (n == 0 || srv->line[n - 1] != '\n') {
        struct pollfd p = {srv->c.out, POLLIN, 0};
        int left_ms = (int)((deadline - now_s()) * 1000);
        int r = left_ms > 0 ? poll(&p, 1, left_ms) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r > 0, "%s printed no line within %d s", name,
                      CHILD_DEADLINE_S);
        ssize_t got = read(srv->c.out, srv->line + n, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) { /* it exited: show why */
            memset(&R, 0, sizeof R);
            finish_child(&srv->c, name, NULL);
            ck_abort_msg("%s ended before listening: status %d, stderr: %s",
                         name, R.status, R.err);
        }
        n++;
        ck_assert_uint_lt(n, sizeof srv->line);
    }
    srv->line[n - 1] = 0;
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

/* Send the server a signal and collect the rest of its output, its stderr
 * and its exit status in R. */
static void stop_server(struct server *srv, int sig) {
    ck_assert_int_eq(kill(srv->c.pid, sig), 0);
    memset(&R, 0, sizeof R);
    finish_child(&srv->c, srv->name, NULL);
}

/* The server stopped as asked: the one line, exit status 0, nothing on
 * stderr (no warning, no sanitizer report, no leak). */
static void assert_stopped_on(const char *signame) {
    char want[64];
    snprintf(want, sizeof want, "stopped on %s\n", signame);
    ck_assert_msg(R.status == 0, "exit status %d; stderr: %s", R.status,
                  R.err);
    ck_assert_msg(R.nerr == 0, "unexpected stderr: %s", R.err);
    ck_assert_str_eq(R.out, want);
}

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

#define LISTENING_V4 "^listening on 127\\.0\\.0\\.1:([0-9]+)$"

/* ---- echo_server and echo_client ------------------------------------------------- */

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
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(srv.port)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
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

START_TEST(tls_is_refused_until_it_is_built) {
    run_example("echo_server", "--tls", "cert.pem", "key.pem", "0", NULL);
    assert_one_line_error(2, "echo_server: TLS support is not built yet");
    run_example("echo_client", "--tls", "1", "hello", NULL);
    assert_one_line_error(2, "echo_client: TLS support is not built yet");
}
END_TEST

/* ---- udp_echo ------------------------------------------------------------------------ */

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

/* ---- bad arguments --------------------------------------------------------------- */

static void assert_usage_error(const char *name) {
    ck_assert_msg(R.status == 2, "%s: exit status %d, expected 2", name,
                  R.status);
    ck_assert_msg(R.nout == 0, "%s: printed on stdout: %s", name, R.out);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "usage: %s", name);
    ck_assert_msg(strncmp(R.err, prefix, strlen(prefix)) == 0,
                  "%s: stderr is '%s'", name, R.err);
    char *nl = strchr(R.err, '\n');
    ck_assert_msg(nl && nl[1] == 0, "%s: stderr is not one line: '%s'", name,
                  R.err);
}

START_TEST(bad_arguments_give_status_2_and_one_line) {
    run_example("ultra_simple", "x", NULL);
    assert_usage_error("ultra_simple");
    run_example("ultra_simple", "-1", NULL);
    assert_usage_error("ultra_simple");
    run_example("ultra_simple", "2", "nan", NULL);
    assert_usage_error("ultra_simple");
    run_example("ultra_simple", "1", "2", "3", NULL);
    assert_usage_error("ultra_simple");

    run_example("async_time", "x", NULL);
    assert_usage_error("async_time");
    run_example("async_time", "-1", NULL);
    assert_usage_error("async_time");
    run_example("async_time", "1", "inf", NULL);
    assert_usage_error("async_time");
    run_example("async_time", "1", "2", "3", "4", NULL);
    assert_usage_error("async_time");
    run_example("async_time", "-s", "many", NULL);
    assert_usage_error("async_time");
    run_example("async_time", "-s", NULL);
    assert_usage_error("async_time");
    run_example("async_time", "-q", NULL);
    assert_usage_error("async_time");

    run_example("gather", "soon", NULL);
    assert_usage_error("gather");
    run_example("gather", "-0.5", NULL);
    assert_usage_error("gather");
    run_example("gather", "1", "2", NULL);
    assert_usage_error("gather");

    run_example("echo_server", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "x", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "65536", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "-1", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "1", "2", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "--host", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "--tls", "cert.pem", "0", NULL);
    assert_usage_error("echo_server");
    run_example("echo_server", "--port", "0", NULL);
    assert_usage_error("echo_server");

    run_example("echo_client", NULL);
    assert_usage_error("echo_client");
    run_example("echo_client", "0", "hello", NULL);
    assert_usage_error("echo_client");
    run_example("echo_client", "port", "hello", NULL);
    assert_usage_error("echo_client");
    run_example("echo_client", "--host", NULL);
    assert_usage_error("echo_client");
    run_example("echo_client", "--verbose", "7", NULL);
    assert_usage_error("echo_client");

    run_example("udp_echo", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "relay", "0", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "server", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "server", "0", "hello", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "server", "--timeout", "1", "0", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "client", "7", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "client", "0", "hello", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "client", "--timeout", "0", "7", "hello", NULL);
    assert_usage_error("udp_echo");
    run_example("udp_echo", "client", "--timeout", "nan", "7", "hello", NULL);
    assert_usage_error("udp_echo");
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
    tcase_add_test(tc, echo_client_gets_back_each_message);
    tcase_add_test(tc, echo_of_a_line_larger_than_the_socket_buffers);
    tcase_add_test(tc, echo_server_stop_ends_idle_connections);
    tcase_add_test(tc, echo_server_second_signal_cuts_the_grace_short);
    tcase_add_test(tc, echo_over_ipv6);
    tcase_add_test(tc, echo_client_reports_a_refused_connection);
    tcase_add_test(tc, tls_is_refused_until_it_is_built);
    tcase_add_test(tc, udp_echo_client_gets_back_each_message);
    tcase_add_test(tc, udp_echo_client_gives_up_after_its_deadline);
    tcase_add_test(tc, bad_arguments_give_status_2_and_one_line);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(examples_suite)
