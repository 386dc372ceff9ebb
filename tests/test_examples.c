/* The examples: run each binary as a child process and check the structure
 * of what it prints (never its timing), its exit status, and that stderr
 * stays empty: no weft warning, no sanitizer report, no leak. */
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Run EXAMPLES_DIR/name with the given arguments (NULL-terminated) and
 * collect its stdout, stderr and exit status in R. */
static void run_example(const char *name, ...) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", EXAMPLES_DIR, name);
    char *argv[16];
    int argc = 0;
    argv[argc++] = path;
    va_list ap;
    va_start(ap, name);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_int_lt(argc, 15);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
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

    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    bool open_out = true, open_err = true, killed = false;
    double deadline = now_s() + CHILD_DEADLINE_S;
    while (open_out || open_err) {
        fds[0].fd = open_out ? out[0] : -1;
        fds[1].fd = open_err ? err[0] : -1;
        int left_ms = (int)((deadline - now_s()) * 1000);
        int r = left_ms > 0 ? poll(fds, 2, left_ms) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            kill(pid, SIGKILL);
            killed = true;
            break;
        }
        if (open_out && fds[0].revents)
            open_out = drain(out[0], R.out, sizeof R.out, &R.nout);
        if (open_err && fds[1].revents)
            open_err = drain(err[0], R.err, sizeof R.err, &R.nerr);
    }
    close(out[0]);
    close(err[0]);
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    ck_assert_msg(!killed, "%s ran longer than %d s", name, CHILD_DEADLINE_S);
    R.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    ck_assert_msg(R.status != 127, "cannot run %s", path);
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

/* ---- async_executor ---------------------------------------------------------- */

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
 * open by the loop's close. Fills *er. */
static void check_async_executor_output(struct executor_run *er) {
    memset(er, 0, sizeof *er);
    size_t n = split_lines();
    ck_assert_uint_ge(n, 3);
    ck_assert_str_eq(lines[0], "about to run loop");
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
    /* A completed call is reported before the slow task goes on. */
    ck_assert_msg(state != 'c', "'slow task complete' without its result");
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
    check_async_executor_output(&er);
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
    check_async_executor_output(&er);
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

    run_example("async_executor", "x", NULL);
    assert_usage_error("async_executor");
    run_example("async_executor", "1", "2", "3", "4", "5", NULL);
    assert_usage_error("async_executor");
    run_example("async_executor", "1", "0.1", "0.5", "0.2", NULL);
    assert_usage_error("async_executor"); /* SLOW_MIN > SLOW_MAX */
    run_example("async_executor", "-e", "nan", NULL);
    assert_usage_error("async_executor");
    run_example("async_executor", "-x", NULL);
    assert_usage_error("async_executor");
    run_example("async_executor", "-s", NULL);
    assert_usage_error("async_executor");
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
    tcase_add_test(tc, async_executor_small_tasks_run_while_the_executor_works);
    tcase_add_test(tc, async_executor_blocking_mode_stalls_the_small_tasks);
    tcase_add_test(tc, bad_arguments_give_status_2_and_one_line);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(examples_suite)
