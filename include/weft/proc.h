/* weft/proc.h - subprocesses: asyncio's create_subprocess_exec and
 * create_subprocess_shell, with pipes as weft streams.
 *
 * A child's exit is observed through a pidfd (Linux >= 5.3), so weft never
 * installs a SIGCHLD handler and never reaps children it did not start;
 * where pidfds are missing it polls its own children with waitid(P_PID,
 * WNOHANG) (every 10 ms, backing off to 100 ms, on the system's clock even
 * under a virtual loop clock), and on Linux 5.3, which has pidfds but not
 * waitid(P_PIDFD), it waits for the pid when the pidfd says so. Every
 * descriptor weft opens is close-on-exec, so a child inherits only stdin,
 * stdout and stderr (WEFT_PROC_INHERIT passes the parent's even if they
 * are close-on-exec, as weft_stream_from_fd makes them).
 * The child starts with an empty signal mask and default signal
 * dispositions: exec keeps the mask and ignored signals, so a child would
 * otherwise inherit SIGPIPE ignored (weft's streams ignore it) and
 * whatever signals the host program blocks.
 *
 * A process object belongs to the loop that started it; its streams are
 * the object's (do not free them; weft_proc_close_stdin ends the input).
 */
#ifndef WEFT_PROC_H
#define WEFT_PROC_H

#include <sys/types.h>

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_proc weft_proc_t;

/* What each of stdin, stdout and stderr of the child is. */
enum {
    WEFT_PROC_INHERIT = 0, /* the parent's */
    WEFT_PROC_PIPE,        /* a pipe: a weft stream in the parent */
    WEFT_PROC_DEVNULL,     /* /dev/null */
    WEFT_PROC_STDOUT,      /* stderr only: the same as stdout */
    WEFT_PROC_FD,          /* the descriptor in *_fd (the caller's; dup'ed) */
};

enum {
    /* setsid(): the child leads a session and process group of its own,
     * and weft_proc_send_signal (terminate, kill) signals that whole group,
     * so a shell's children go with it, also once the child itself has
     * exited and been reaped (see weft_proc_send_signal). */
    WEFT_PROC_NEW_SESSION = 1u << 0,
};

typedef struct weft_proc_opts {
    int stdin_mode, stdout_mode, stderr_mode; /* WEFT_PROC_* */
    int stdin_fd, stdout_fd, stderr_fd;       /* for WEFT_PROC_FD */
    const char *cwd;        /* working directory; NULL: the parent's */
    char *const *env;       /* "NAME=value" list ending in NULL; NULL:
                               the parent's environment */
    unsigned flags;         /* WEFT_PROC_NEW_SESSION */
    weft_stream_opts_t stream; /* options of the pipe streams */
} weft_proc_opts_t;

/* Start argv[0] with arguments argv (NULL-terminated); a name without a
 * slash is searched in this process's PATH (not in opts->env's).
 * Returns 0 with the process in *out, owned by the caller (weft_proc_free),
 * or an error of the start itself: -ENOENT (no such program), -EACCES
 * (not executable), -ENOEXEC, -ENOTDIR/-ENOENT for a bad cwd, -EINVAL
 * (empty argv, unknown mode or flag, WEFT_PROC_STDOUT for stdin or
 * stdout), -EBADF (WEFT_PROC_FD with a negative or closed descriptor),
 * -EMFILE, -ENOMEM, -EPERM (foreign thread). If the child started but
 * weft could not open what watches its exit (a pidfd, or a timerfd where
 * there is none: -EMFILE, -ENFILE, -ENOMEM, -ENOSPC) or wrap a pipe in a
 * stream, the child is killed and reaped and that error is returned. *out is NULL
 * on failure. From the loop's thread (a task or not); it does not wait. */
WEFT_EXPORT int weft_proc_exec(weft_loop_t *loop, weft_proc_t **out,
                               const char *const *argv,
                               const weft_proc_opts_t *opts);

/* Run cmd with /bin/sh -c. Errors as weft_proc_exec (a command the shell
 * cannot find shows up as exit status 127, as in a shell). */
WEFT_EXPORT int weft_proc_shell(weft_loop_t *loop, weft_proc_t **out,
                                const char *cmd, const weft_proc_opts_t *opts);

WEFT_EXPORT pid_t weft_proc_pid(const weft_proc_t *p);

/* The pipes (NULL for streams that are not WEFT_PROC_PIPE). Owned by the
 * process object. */
WEFT_EXPORT weft_stream_t *weft_proc_stdin(weft_proc_t *p);
WEFT_EXPORT weft_stream_t *weft_proc_stdout(weft_proc_t *p);
WEFT_EXPORT weft_stream_t *weft_proc_stderr(weft_proc_t *p);

/* Flush and close the child's stdin (it reads end of file); the flush
 * waits only in a task (outside one, unsent bytes are dropped). Afterwards
 * weft_proc_stdin() is NULL. Returns 0, the flush error (-EPIPE if the
 * child stopped reading ...), or -EINVAL (stdin is not a pipe, or already
 * closed). */
WEFT_EXPORT int weft_proc_close_stdin(weft_proc_t *p);

/* From a task: wait for the child to exit. Returns 0 with its return code
 * in *rc (may be NULL): the exit status (>= 0), or minus the signal that
 * killed it (asyncio's returncode). -ECANCELED / -ETIMEDOUT if the wait was
 * cut; the child keeps running. -ECHILD if the child was reaped by someone
 * else (a host that ignores SIGCHLD or calls waitpid(-1)): it is gone and
 * its status is lost; *rc is not set. -EPERM outside a task. */
WEFT_EXPORT int weft_proc_wait(weft_proc_t *p, int *rc);

/* The return code if the child has exited (as weft_proc_wait, -ECHILD
 * included), or -EAGAIN. Does not wait (it reaps the child if it has
 * exited). Callable outside a task. */
WEFT_EXPORT int weft_proc_returncode(weft_proc_t *p, int *rc);

/* Send a signal; terminate is SIGTERM, kill SIGKILL. Returns 0 or -errno
 * of kill(2). Without WEFT_PROC_NEW_SESSION it goes to the child, and once
 * the child has been reaped it is -ESRCH (its pid may be someone else's).
 * With WEFT_PROC_NEW_SESSION it goes to the child's process group, also
 * after the child (the leader) was reaped: a group id is not reused while
 * any process is in the group, so while a member lives (a shell's
 * background job) the signal reaches only the group we started; -ESRCH
 * once it is empty. The race left: once every member is gone, the id may
 * be reused by a new process that makes itself a group leader, and a
 * signal sent then would reach that group. Members that moved to another
 * group (setpgid, setsid) are not signalled. */
WEFT_EXPORT int weft_proc_send_signal(weft_proc_t *p, int sig);
WEFT_EXPORT int weft_proc_terminate(weft_proc_t *p);
WEFT_EXPORT int weft_proc_kill(weft_proc_t *p);

/* Bytes collected by weft_proc_communicate: data is NUL-terminated (not
 * counted in len) and the caller's, to free with weft_free(). */
typedef struct weft_bytes {
    char *data;
    size_t len;
} weft_bytes_t;

/* From a task: write input (len bytes, may be 0) to the child's stdin and
 * close it, read its stdout and stderr until they end, all at once so that
 * no amount of output can deadlock, then wait for the exit. out / err
 * receive what was read (NULL: read and dropped); they are filled even on
 * error. Returns 0 with the return code in *rc (as weft_proc_wait, -ECHILD
 * included), or an error: of a pipe (a child that exits without reading
 * all its input is not one), -ENOMEM, -EPERM (not in a task), -ECANCELED,
 * -ETIMEDOUT (a cancelled or timed-out communicate leaves the child
 * running: kill it if needed). Streams that are not pipes are skipped
 * (input is then not written). Stdin is closed by the call. */
WEFT_EXPORT int weft_proc_communicate(weft_proc_t *p, const void *input,
                                      size_t len, weft_bytes_t *out,
                                      weft_bytes_t *err, int *rc);

/* Free the process object and close its pipes. A child still running is
 * not killed: the loop reaps it when it exits (or, if the loop closes
 * first, it is left to the system, logged). NULL is ignored. */
WEFT_EXPORT void weft_proc_free(weft_proc_t *p);

#ifdef __cplusplus
}
#endif
#endif
