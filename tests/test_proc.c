/* Subprocesses: exec and shell, pipes, devnull, stderr to stdout, cwd and
 * environment, return codes and signals, clear errors for programs that do
 * not exist or cannot run, communicate with 10 MiB each way at once, 100
 * children at once all reaped, a hung child killed at a deadline, and what
 * a child inherits (no descriptors beyond 0-2, no blocked signals), a
 * group signalled after its leader was reaped, a child reaped behind
 * weft's back, and the fallbacks of older kernels (no pidfd; pidfd but no
 * waitid(P_PIDFD)), forced through weft__proc_test_flags. The child is
 * tests/proc_child.c. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/proc_int.h"
#include "support.h"
#include <weft/proc.h>

static const char *child = PROC_CHILD;

static weft_proc_t *start(const weft_proc_opts_t *o, const char *a,
                          const char *b, const char *c) {
    const char *argv[] = {child, a, b, c, NULL};
    weft_proc_t *p;
    ck_assert_ok(weft_proc_exec(weft_loop_current(), &p, argv, o));
    return p;
}

static const weft_proc_opts_t pipes = {.stdin_mode = WEFT_PROC_PIPE,
                                       .stdout_mode = WEFT_PROC_PIPE,
                                       .stderr_mode = WEFT_PROC_PIPE};

static int echo_main(void *arg) {
    (void)arg;
    weft_proc_t *p = start(&pipes, "echo", NULL, NULL);
    ck_assert_int_gt(weft_proc_pid(p), 0);
    ck_assert_ok(weft_stream_write(weft_proc_stdin(p), "one\ntwo\n", 8));
    char line[16];
    ck_assert_int_eq(weft_stream_readline(weft_proc_stdout(p), line,
                                          sizeof line),
                     4);
    ck_assert_int_eq(memcmp(line, "one\n", 4), 0);
    ck_assert_ok(weft_proc_close_stdin(p));
    ck_assert_ptr_null(weft_proc_stdin(p));
    ck_assert_int_eq(weft_stream_readline(weft_proc_stdout(p), line,
                                          sizeof line),
                     4);
    char b[4];
    ck_assert_int_eq(weft_stream_read(weft_proc_stdout(p), b, sizeof b), 0);
    int rc = -1;
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 0);
    ck_assert_ok(weft_proc_returncode(p, &rc));
    ck_assert_err(weft_proc_kill(p), -ESRCH); /* reaped: never the wrong pid */
    weft_proc_free(p);
    return 0;
}

START_TEST(pipes_stream_both_ways) {
    ck_assert_ok(weft_run(echo_main, NULL));
}
END_TEST

static int codes_main(void *arg) {
    (void)arg;
    weft_proc_t *p = start(NULL, "exit", "7", NULL);
    int rc;
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 7);
    weft_proc_free(p);
    p = start(NULL, "sleep", NULL, NULL);
    ck_assert_err(weft_proc_returncode(p, &rc), -EAGAIN);
    ck_assert_ok(weft_proc_terminate(p));
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, -SIGTERM);
    weft_proc_free(p);
    /* The shell: a missing command is status 127, as in a shell. */
    ck_assert_ok(weft_proc_shell(weft_loop_current(), &p,
                                 "exit 3", NULL));
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 3);
    weft_proc_free(p);
    weft_proc_opts_t quiet = {.stderr_mode = WEFT_PROC_DEVNULL};
    ck_assert_ok(weft_proc_shell(weft_loop_current(), &p,
                                 "no-such-command-weft", &quiet));
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 127);
    weft_proc_free(p);
    return 0;
}

START_TEST(return_codes_and_signals) {
    ck_assert_ok(weft_run(codes_main, NULL));
}
END_TEST

static int errors_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_proc_t *p = (weft_proc_t *)1;
    const char *missing[] = {"/no/such/program-weft", NULL};
    ck_assert_err(weft_proc_exec(loop, &p, missing, NULL), -ENOENT);
    ck_assert_ptr_null(p);
    const char *inpath[] = {"no-such-program-weft", NULL};
    ck_assert_err(weft_proc_exec(loop, &p, inpath, NULL), -ENOENT);
    /* Not executable: a plain file. */
    char tmpl[] = "/tmp/weft-noexec-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    close(fd);
    const char *noexec[] = {tmpl, NULL};
    ck_assert_err(weft_proc_exec(loop, &p, noexec, NULL), -EACCES);
    unlink(tmpl);
    /* A bad working directory is an error of the start too. */
    weft_proc_opts_t o = {.cwd = "/no/such/dir"};
    const char *ok[] = {child, "exit", "0", NULL};
    ck_assert_err(weft_proc_exec(loop, &p, ok, &o), -ENOENT);
    const char *empty[] = {NULL};
    ck_assert_err(weft_proc_exec(loop, &p, empty, NULL), -EINVAL);
    weft_proc_opts_t bad = {.stdout_mode = WEFT_PROC_STDOUT};
    ck_assert_err(weft_proc_exec(loop, &p, ok, &bad), -EINVAL);
    /* No file descriptor leaked by a failed start. */
    int before = 0;
    for (int i = 0; i < 1024; i++)
        before += fcntl(i, F_GETFD) >= 0;
    for (int i = 0; i < 20; i++)
        ck_assert_err(weft_proc_exec(loop, &p, missing, &pipes), -ENOENT);
    int after = 0;
    for (int i = 0; i < 1024; i++)
        after += fcntl(i, F_GETFD) >= 0;
    ck_assert_int_eq(before, after);
    return 0;
}

START_TEST(programs_that_cannot_run_are_errors_of_the_start) {
    ck_assert_ok(weft_run(errors_main, NULL));
}
END_TEST

static int options_main(void *arg) {
    (void)arg;
    weft_bytes_t out, err;
    int rc;
    /* cwd and environment */
    weft_proc_opts_t o = pipes;
    o.cwd = "/tmp";
    weft_proc_t *p = start(&o, "cwd", NULL, NULL);
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, NULL, &rc));
    ck_assert_str_eq(out.data, "/tmp\n");
    weft_free(out.data);
    weft_proc_free(p);
    char *env[] = {"WEFT_TEST_VAR=hello there", NULL};
    o = pipes;
    o.env = env;
    p = start(&o, "env", "WEFT_TEST_VAR", NULL);
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, NULL, &rc));
    ck_assert_str_eq(out.data, "hello there\n");
    weft_free(out.data);
    weft_proc_free(p);
    /* stderr into stdout; stderr to /dev/null */
    o = pipes;
    o.stderr_mode = WEFT_PROC_STDOUT;
    p = start(&o, "split", NULL, NULL);
    ck_assert_ptr_null(weft_proc_stderr(p));
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, &err, &rc));
    ck_assert_uint_eq(out.len, 6);
    ck_assert(strstr(out.data, "out") && strstr(out.data, "err"));
    ck_assert_ptr_null(err.data);
    weft_free(out.data);
    weft_proc_free(p);
    o = pipes;
    o.stderr_mode = WEFT_PROC_DEVNULL;
    p = start(&o, "split", NULL, NULL);
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, &err, &rc));
    ck_assert_str_eq(out.data, "out");
    weft_free(out.data);
    weft_proc_free(p);
    /* The child inherits no weft descriptor and no blocked signal. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    p = start(&pipes, "sigmask", NULL, NULL);
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, NULL, &rc));
    ck_assert_str_eq(out.data, "0\n");
    weft_free(out.data);
    weft_proc_free(p);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    /* What the child may see: the parent's descriptors that are not
     * close-on-exec (the test harness has some); weft opens none. */
    char want[512] = "";
    for (int fd = 3; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            snprintf(want + strlen(want), sizeof want - strlen(want), "%d ",
                     fd);
    }
    strcat(want, "\n");
    p = start(&pipes, "fds", NULL, NULL);
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, NULL, &rc));
    ck_assert_str_eq(out.data, want);
    weft_free(out.data);
    weft_proc_free(p);
    return 0;
}

START_TEST(cwd_env_redirects_and_what_a_child_inherits) {
    ck_assert_ok(weft_run(options_main, NULL));
}
END_TEST

/* 10 MiB into stdin while 10 MiB come out of stdout and of stderr. */
static int big_main(void *arg) {
    (void)arg;
    size_t n = 10u << 20;
    char *input = malloc(n);
    ck_assert_ptr_nonnull(input);
    memset(input, 'i', n);
    char nbuf[24];
    snprintf(nbuf, sizeof nbuf, "%zu", n);
    weft_proc_t *p = start(&pipes, "both", nbuf, nbuf);
    weft_bytes_t out, err;
    int rc = -1;
    ck_assert_ok(weft_proc_communicate(p, input, n, &out, &err, &rc));
    ck_assert_int_eq(rc, 0); /* the child read all of stdin */
    ck_assert_uint_eq(out.len, n);
    ck_assert_uint_eq(err.len, n);
    ck_assert_int_eq(out.data[n - 1], 'x');
    weft_free(out.data);
    weft_free(err.data);
    weft_proc_free(p);
    free(input);
    return 0;
}

START_TEST(communicate_ten_mib_each_way_does_not_deadlock) {
    ck_assert_ok(weft_run(big_main, NULL));
}
END_TEST

/* 100 children at once, all reaped. */
static int hundred_main(void *arg) {
    (void)arg;
    weft_proc_t *p[100];
    char code[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(code[i], sizeof code[i], "%d", i);
        p[i] = start(NULL, "exit", code[i], NULL);
    }
    for (int i = 99; i >= 0; i--) {
        int rc;
        ck_assert_ok(weft_proc_wait(p[i], &rc));
        ck_assert_int_eq(rc, i);
        weft_proc_free(p[i]);
    }
    /* No child is left: every one was reaped. */
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    return 0;
}

START_TEST(a_hundred_children_at_once_all_reaped) {
    ck_assert_ok(weft_run(hundred_main, NULL));
}
END_TEST

/* A hung child, killed when the deadline passes. */
static int hung_main(void *arg) {
    (void)arg;
    weft_proc_t *p = start(&pipes, "sleep", NULL, NULL);
    weft_scope_t sc;
    ck_assert_ok(weft_scope_enter(&sc, 2.0, 0));
    weft_bytes_t out;
    int rc = 99;
    int r = weft_proc_communicate(p, NULL, 0, &out, NULL, &rc);
    ck_assert_err(weft_scope_exit(&sc), -ETIMEDOUT);
    ck_assert_err(r, -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(weft_loop_current()), 2.0, 1e-6);
    ck_assert_ok(weft_proc_kill(p));
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, -SIGKILL);
    weft_free(out.data);
    weft_proc_free(p);
    return 0;
}

START_TEST(a_hung_child_is_killed_at_the_deadline) {
    ck_assert_ok(run_virtual(hung_main, NULL));
}
END_TEST

/* A session of its own: kill takes the whole group. If any member survived
 * it would hold the stdout pipe open and the read below would not end. */
static int group_main(void *arg) {
    (void)arg;
    weft_proc_opts_t o = {.stdout_mode = WEFT_PROC_PIPE,
                          .flags = WEFT_PROC_NEW_SESSION};
    weft_proc_t *p;
    ck_assert_ok(weft_proc_shell(weft_loop_current(), &p,
                                 "sleep 30 & sleep 30 & echo started; wait",
                                 &o));
    char line[16];
    ck_assert_int_eq(weft_stream_readline(weft_proc_stdout(p), line,
                                          sizeof line),
                     8);
    ck_assert_ok(weft_proc_kill(p));
    weft_scope_t guard;
    ck_assert_ok(weft_scope_enter(&guard, 10.0, 0));
    ck_assert_int_eq(weft_stream_read(weft_proc_stdout(p), line, 1), 0);
    int rc;
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_ok(weft_scope_exit(&guard));
    ck_assert_int_eq(rc, -SIGKILL);
    weft_proc_free(p);
    return 0;
}

START_TEST(a_new_session_is_killed_as_a_group) {
    ck_assert_ok(weft_run(group_main, NULL));
}
END_TEST

/* Freed while running: reaped in the background when it exits. */
static int orphan_main(void *arg) {
    pid_t *pid = arg;
    weft_proc_t *p = start(NULL, "sleep", NULL, NULL);
    *pid = weft_proc_pid(p);
    weft_proc_free(p);
    ck_assert_int_eq(kill(*pid, SIGTERM), 0);
    /* A zombie still takes signals; once reaped, the pid is gone. Only
     * look (kill 0), never reap here. */
    for (int i = 0; i < 500 && kill(*pid, 0) == 0; i++)
        ck_assert_ok(weft_sleep(0.01));
    ck_assert_int_eq(kill(*pid, 0), -1);
    return 0;
}

START_TEST(a_freed_running_child_is_reaped_when_it_exits) {
    pid_t pid = 0;
    ck_assert_ok(weft_run(orphan_main, &pid));
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD); /* reaped, not a zombie */
}
END_TEST

/* Linux 5.3: pidfd_open works, waitid(P_PIDFD) says EINVAL. A wait, a
 * signal and an orphan still see the exit (through waitid(P_PID)). */
static int old_waitid_main(void *arg) {
    pid_t *pid = arg;
    weft_scope_t guard; /* fail rather than hang */
    ck_assert_ok(weft_scope_enter(&guard, 30.0, 0));
    weft_proc_t *p = start(NULL, "sleep", NULL, NULL);
    int rc;
    ck_assert_err(weft_proc_returncode(p, &rc), -EAGAIN);
    ck_assert_ok(weft_proc_terminate(p));
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, -SIGTERM);
    weft_proc_free(p);
    p = start(NULL, "exit", "5", NULL);
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 5);
    weft_proc_free(p);
    /* An orphan is reaped too. */
    p = start(NULL, "sleep", NULL, NULL);
    *pid = weft_proc_pid(p);
    weft_proc_free(p);
    ck_assert_int_eq(kill(*pid, SIGTERM), 0);
    while (kill(*pid, 0) == 0)
        ck_assert_ok(weft_sleep(0.01));
    ck_assert_ok(weft_scope_exit(&guard));
    return 0;
}

START_TEST(a_kernel_without_waitid_pidfd_falls_back_to_the_pid) {
    weft__proc_test_flags = WEFT__PROC_TEST_NO_WAITID_PIDFD;
    pid_t pid = 0;
    ck_assert_ok(weft_run(old_waitid_main, &pid));
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD); /* reaped, not a zombie */
}
END_TEST

/* No pidfd: the polls pace themselves on the system's clock, so a virtual
 * clock neither races through them nor moves while the child runs. */
static int poll_virtual_main(void *arg) {
    (void)arg;
    weft_proc_t *p = start(NULL, "nap", "200", NULL);
    int rc = -1;
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 0);
    ck_assert_double_eq(weft_loop_time(weft_loop_current()), 0.0);
    weft_proc_free(p);
    return 0;
}

START_TEST(polling_does_not_run_a_virtual_clock_away) {
    weft__proc_test_flags = WEFT__PROC_TEST_NO_PIDFD;
    ck_assert_ok(run_virtual(poll_virtual_main, NULL));
}
END_TEST

/* A child reaped by someone else: no made-up status, but -ECHILD. */
static int lost_main(void *arg) {
    (void)arg;
    weft_proc_t *p = start(NULL, "exit", "0", NULL);
    int st;
    ck_assert_int_eq(waitpid(weft_proc_pid(p), &st, 0), weft_proc_pid(p));
    int rc = 42;
    ck_assert_err(weft_proc_wait(p, &rc), -ECHILD);
    ck_assert_int_eq(rc, 42);
    ck_assert_err(weft_proc_returncode(p, &rc), -ECHILD);
    ck_assert_err(weft_proc_kill(p), -ESRCH);
    weft_proc_free(p);
    /* Freed first, then reaped behind weft's back: no status to wait for,
     * and the orphan goes quietly (valgrind would see a leak). */
    p = start(NULL, "sleep", NULL, NULL);
    pid_t pid = weft_proc_pid(p);
    weft_proc_free(p);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st));
    return 0;
}

START_TEST(a_child_reaped_behind_our_back_is_echild) {
    ck_assert_ok(weft_run(lost_main, NULL));
}
END_TEST

START_TEST(a_child_reaped_behind_our_back_is_echild_when_polling) {
    weft__proc_test_flags = WEFT__PROC_TEST_NO_PIDFD;
    ck_assert_ok(weft_run(lost_main, NULL));
}
END_TEST

/* The shell leads the group and exits at once; its background sleep is
 * still in the group and still ours to signal. It holds the stdout pipe:
 * end of file says it died. */
static int leaderless_main(void *arg) {
    (void)arg;
    weft_proc_opts_t o = {.stdout_mode = WEFT_PROC_PIPE,
                          .flags = WEFT_PROC_NEW_SESSION};
    weft_proc_t *p;
    ck_assert_ok(weft_proc_shell(weft_loop_current(), &p,
                                 "sleep 100 & echo $!; exit 0", &o));
    char line[32];
    ssize_t n = weft_stream_readline(weft_proc_stdout(p), line,
                                     sizeof line - 1);
    ck_assert_int_gt(n, 1);
    line[n] = 0;
    pid_t sleeper = (pid_t)atoi(line);
    ck_assert_int_gt(sleeper, 0);
    int rc = -1;
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(kill(sleeper, 0), 0);
    ck_assert_ok(weft_proc_kill(p)); /* the leader is reaped; the group is not */
    weft_scope_t guard;
    ck_assert_ok(weft_scope_enter(&guard, 30.0, 0));
    ck_assert_int_eq(weft_stream_read(weft_proc_stdout(p), line, 1), 0);
    ck_assert_ok(weft_scope_exit(&guard));
    weft_proc_free(p);
    return 0;
}

START_TEST(a_group_is_signalled_after_its_leader_was_reaped) {
    ck_assert_ok(weft_run(leaderless_main, NULL));
}
END_TEST

/* weft_stream_from_fd makes the descriptor close-on-exec; a child that
 * inherits stdin must still get it. */
static int inherit_main(void *arg) {
    (void)arg;
    int saved = fcntl(0, F_DUPFD_CLOEXEC, 3); /* -1 if 0 was closed */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    if (fds[0] != 0) {
        ck_assert_int_eq(dup2(fds[0], 0), 0);
        close(fds[0]);
    }
    weft_stream_t *in;
    ck_assert_ok(weft_stream_from_fd(weft_loop_current(), &in, 0, NULL));
    ck_assert_int_ne(fcntl(0, F_GETFD) & FD_CLOEXEC, 0);
    weft_proc_opts_t o = {.stdout_mode = WEFT_PROC_PIPE};
    weft_proc_t *p = start(&o, "std", NULL, NULL);
    weft_bytes_t out;
    int rc;
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &out, NULL, &rc));
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out.data, "0 1 2 \n");
    weft_free(out.data);
    weft_proc_free(p);
    /* The parent's flag is left as it was. */
    ck_assert_int_ne(fcntl(0, F_GETFD) & FD_CLOEXEC, 0);
    weft_stream_abort(in); /* closes 0 */
    close(fds[1]);
    if (saved >= 0) { /* under valgrind every test shares this process */
        ck_assert_int_eq(dup2(saved, 0), 0);
        close(saved);
    }
    return 0;
}

START_TEST(inherited_std_descriptors_survive_close_on_exec) {
    ck_assert_ok(weft_run(inherit_main, NULL));
}
END_TEST

/* Under valgrind the tests share one process: no forced fallback outlives
 * its test. */
static void reset_flags(void) {
    weft__proc_test_flags = 0;
}

static Suite *proc_suite(void) {
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, reset_flags, reset_flags);
    tcase_add_test(tc, pipes_stream_both_ways);
    tcase_add_test(tc, return_codes_and_signals);
    tcase_add_test(tc, programs_that_cannot_run_are_errors_of_the_start);
    tcase_add_test(tc, cwd_env_redirects_and_what_a_child_inherits);
    tcase_add_test(tc, communicate_ten_mib_each_way_does_not_deadlock);
    tcase_add_test(tc, a_hundred_children_at_once_all_reaped);
    tcase_add_test(tc, a_hung_child_is_killed_at_the_deadline);
    tcase_add_test(tc, a_freed_running_child_is_reaped_when_it_exits);
    tcase_add_test(tc, a_new_session_is_killed_as_a_group);
    tcase_add_test(tc, a_kernel_without_waitid_pidfd_falls_back_to_the_pid);
    tcase_add_test(tc, polling_does_not_run_a_virtual_clock_away);
    tcase_add_test(tc, a_child_reaped_behind_our_back_is_echild);
    tcase_add_test(tc, a_child_reaped_behind_our_back_is_echild_when_polling);
    tcase_add_test(tc, a_group_is_signalled_after_its_leader_was_reaped);
    tcase_add_test(tc, inherited_std_descriptors_survive_close_on_exec);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(proc_suite)
