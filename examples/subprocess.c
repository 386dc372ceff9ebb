/* subprocess.c - subprocesses with weft: asyncio's create_subprocess_exec.
 *
 * 1. A pipeline of two programs, like `PRODUCER | CONSUMER` in a shell: the
 *    first one's stdout is the second one's stdin (a plain pipe between
 *    them), and the second one's output is streamed here line by line as it
 *    comes, each line numbered.
 * 2. A program that hangs, run under a deadline: when the deadline passes
 *    it is killed, and we say so.
 *
 * Usage: subprocess [--timeout SECONDS] [PRODUCER CONSUMER [HUNG]]
 *   defaults: PRODUCER "seq 1 5", CONSUMER "tr 0-9 a-j", HUNG "sleep 60",
 *   timeout 1 second. Each program is a command line run with /bin/sh -c.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

struct args {
    const char *producer, *consumer, *hung;
    double timeout;
};

static int fail(const char *what, int err) {
    fprintf(stderr, "subprocess: %s: %s\n", what, weft_strerror(err));
    return err;
}

/* PRODUCER | CONSUMER, the consumer's output streamed as it arrives. */
static int pipeline(const struct args *a) {
    weft_loop_t *loop = weft_loop_current();
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return fail("pipe", -errno);
    weft_proc_opts_t first = {.stdout_mode = WEFT_PROC_FD,
                              .stdout_fd = fds[1]};
    weft_proc_opts_t second = {.stdin_mode = WEFT_PROC_FD,
                               .stdin_fd = fds[0],
                               .stdout_mode = WEFT_PROC_PIPE};
    weft_proc_t *p1 = NULL, *p2 = NULL;
    int err = weft_proc_shell(loop, &p1, a->producer, &first);
    if (!err)
        err = weft_proc_shell(loop, &p2, a->consumer, &second);
    /* The children have their ends; ours must go, or the consumer would
     * never see the end of its input. */
    close(fds[0]);
    close(fds[1]);
    if (err) {
        weft_proc_free(p1);
        return fail("cannot start the pipeline", err);
    }
    char line[4096];
    ssize_t n;
    int count = 0;
    while ((n = weft_stream_readline(weft_proc_stdout(p2), line,
                                     sizeof line)) > 0)
        printf("%d: %.*s", ++count, (int)n, line);
    if (n < 0 && n != -EPIPE) /* -EPIPE: a last line without a newline */
        err = fail("reading the pipeline", (int)n);
    int rc1 = 0, rc2 = 0;
    if (!err)
        err = weft_proc_wait(p1, &rc1);
    if (!err)
        err = weft_proc_wait(p2, &rc2);
    if (!err)
        printf("pipeline done: %d line(s), exit statuses %d and %d\n", count,
               rc1, rc2);
    weft_proc_free(p1);
    weft_proc_free(p2);
    return err;
}

/* A program that does not finish in time is killed. */
static int with_deadline(const struct args *a) {
    weft_proc_t *p;
    /* A session of its own: killing it then kills the whole group, the
     * shell and whatever it started. */
    weft_proc_opts_t o = {.stdout_mode = WEFT_PROC_DEVNULL,
                          .flags = WEFT_PROC_NEW_SESSION};
    int err = weft_proc_shell(weft_loop_current(), &p, a->hung, &o);
    if (err)
        return fail("cannot start the hung program", err);
    weft_scope_t deadline;
    err = weft_scope_enter(&deadline, a->timeout, 0);
    int rc = 0;
    if (!err) {
        err = weft_proc_wait(p, &rc);
        int e = weft_scope_exit(&deadline);
        if (e == -ETIMEDOUT) {
            /* The deadline cut the wait: the child is still running. */
            weft_proc_kill(p);
            weft_proc_wait(p, &rc);
            printf("'%s' did not finish within %g s: killed (status %d)\n",
                   a->hung, a->timeout, rc);
            err = 0;
        } else if (!err) {
            printf("'%s' finished in time with status %d\n", a->hung, rc);
        }
    }
    weft_proc_free(p);
    return err;
}

static int main_task(void *arg) {
    const struct args *a = arg;
    int err = pipeline(a);
    if (!err)
        err = with_deadline(a);
    return err;
}

static int usage(void) {
    fprintf(stderr, "usage: subprocess [--timeout SECONDS] "
                    "[PRODUCER CONSUMER [HUNG]]\n");
    return 2;
}

int main(int argc, char **argv) {
    struct args a = {"seq 1 5", "tr 0-9 a-j", "sleep 60", 1.0};
    int i = 1;
    if (i < argc && !strcmp(argv[i], "--timeout")) {
        char *end;
        if (i + 1 >= argc)
            return usage();
        a.timeout = strtod(argv[i + 1], &end);
        if (*end || !isfinite(a.timeout) || a.timeout < 0)
            return usage();
        i += 2;
    }
    int rest = argc - i;
    if (rest == 1 || rest > 3)
        return usage();
    if (rest >= 2) {
        a.producer = argv[i];
        a.consumer = argv[i + 1];
    }
    if (rest == 3)
        a.hung = argv[i + 2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(main_task, &a) < 0 ? 1 : 0;
}
