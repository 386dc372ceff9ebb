/* The examples: run each binary as a child process and check the structure
 * of what it prints (never its timing), its exit status, and that stderr
 * stays empty: no weft warning, no sanitizer report, no leak. */
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
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
    char out[1 << 16];
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
    if (got < 0 && errno == EINTR)
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

/* A running example: its pid, the read ends of its stdout and stderr, and
 * the time by which it must have finished. */
static struct child {
    pid_t pid;
    int out, err;
    bool open_out, open_err, killed;
    double deadline;
    const char *name;
} C;

/* Start EXAMPLES_DIR/name with the given arguments; its output is
 * collected into R by pump(). */
static void spawn_example_v(const char *name, va_list ap) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", EXAMPLES_DIR, name);
    char *argv[16];
    int argc = 0;
    argv[argc++] = path;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(argc, 15);
        argv[argc++] = (char *)a;
    }
    argv[argc] = NULL;

    memset(&R, 0, sizeof R);
    int out[2], err[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
            _exit(126);
        execv(path, argv);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    C = (struct child){.pid = pid, .out = out[0], .err = err[0],
                       .open_out = true, .open_err = true,
                       .deadline = now_s() + CHILD_DEADLINE_S, .name = name};
}

static void spawn_example(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    spawn_example_v(name, ap);
    va_end(ap);
}

/* Collect what the child writes until `until` returns true or both pipes
 * are at end of file; past the deadline the child is killed. Returns
 * until's verdict. */
static bool pump(bool (*until)(const void *), const void *arg) {
    struct pollfd fds[2] = {{C.out, POLLIN, 0}, {C.err, POLLIN, 0}};
    while (C.open_out || C.open_err) {
        if (until && until(arg))
            return true;
        fds[0].fd = C.open_out ? C.out : -1;
        fds[1].fd = C.open_err ? C.err : -1;
        int left_ms = (int)((C.deadline - now_s()) * 1000);
        int r = left_ms > 0 ? poll(fds, 2, left_ms) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            kill(C.pid, SIGKILL);
            C.killed = true;
            break;
        }
        if (C.open_out && fds[0].revents)
            C.open_out = drain(C.out, R.out, sizeof R.out, &R.nout);
        if (C.open_err && fds[1].revents)
            C.open_err = drain(C.err, R.err, sizeof R.err, &R.nerr);
    }
    return until && until(arg);
}

/* Wait for the child to end; its status goes to R.status. */
static void reap_example(void) {
    pump(NULL, NULL);
    close(C.out);
    close(C.err);
    int ws;
    while (waitpid(C.pid, &ws, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    ck_assert_msg(!C.killed, "%s ran longer than %d s; stdout: %s", C.name,
                  CHILD_DEADLINE_S, R.out);
    R.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    ck_assert_msg(R.status != 127, "cannot run %s", C.name);
}

/* Run EXAMPLES_DIR/name with the given arguments (NULL-terminated) and
 * collect its stdout, stderr and exit status in R. */
static void run_example(const char *name, ...) {
    va_list ap;
    va_start(ap, name);
    spawn_example_v(name, ap);
    va_end(ap);
    reap_example();
}

static bool line_matches(const char *line, const char *pattern);

/* Does R.out hold a whole line matching the pattern (see line_matches)? */
static bool has_line(const void *arg) {
    const char *pattern = arg;
    char line[4096];
    const char *p = R.out;
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

/* Wait until the running child has printed a line matching pattern. */
static void wait_line(const char *pattern) {
    ck_assert_msg(pump(has_line, pattern),
                  "%s never printed '%s'; stdout: %s; stderr: %s", C.name,
                  pattern, R.out, R.err);
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

/* Does the line match the pattern: the same text, or, when the pattern has
 * a '*', the same text with any run of characters in its place? */
static bool line_matches(const char *line, const char *pattern) {
    if (strchr(pattern, '*'))
        return fnmatch(pattern, line, FNM_NOESCAPE) == 0;
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

/* ---- subprocess ----------------------------------------------------------------- */

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

/* ---- signals ---------------------------------------------------------------------- */

/* Count the lines of R.out that match the pattern. */
static size_t count_lines(size_t n, const char *pattern) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += line_matches(lines[i], pattern);
    return k;
}

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

/* ---- watch --------------------------------------------------------------------------- */

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

static int rm_one(const char *path, const struct stat *st, int type,
                  struct FTW *ftw) {
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void make_watch_dir(void) {
    const char *base = getenv("TMPDIR");
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/weft-watch-XXXXXX",
             base && *base ? base : "/tmp");
    watch_dir = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(watch_dir);
}

static void remove_watch_dir(void) {
    nftw(watch_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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
    remove_watch_dir();
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
    remove_watch_dir();
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

    run_example("subprocess", "only-one", NULL);
    assert_usage_error("subprocess");
    run_example("subprocess", "--timeout", "soon", NULL);
    assert_usage_error("subprocess");
    run_example("subprocess", "--timeout", NULL);
    assert_usage_error("subprocess");

    run_example("signals", "soon", NULL);
    assert_usage_error("signals");
    run_example("signals", "-1", NULL);
    assert_usage_error("signals");
    run_example("signals", "1", "2", NULL);
    assert_usage_error("signals");

    run_example("watch", NULL);
    assert_usage_error("watch");
    run_example("watch", "-x", "/tmp", NULL);
    assert_usage_error("watch");
    run_example("watch", "/tmp", "/var", NULL);
    assert_usage_error("watch");
    run_example("watch", "", NULL);
    assert_usage_error("watch");
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
    tcase_add_test(tc, bad_arguments_give_status_2_and_one_line);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(examples_suite)
