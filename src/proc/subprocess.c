/* Subprocesses: posix_spawn (glibc reports a failed exec from the call
 * itself), pipes as weft streams, and exit observed through a pidfd. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../net/net_int.h"
#include "proc_int.h"
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#include "weft/proc.h"

extern char **environ;

#define POLL_FIRST 10000000ull /* without pidfd: first poll, ns */
#define POLL_MAX 100000000ull

int weft__proc_test_flags;

struct weft_proc {
    weft_loop_t *loop;
    pid_t pid;
    /* What tells us to look, registered with the loop (io.fd): the pidfd,
     * or without pidfds a timerfd that paces the polls (on the system's
     * clock, so that a virtual clock does not race through them). */
    struct weft__io io;
    weft_stream_t *pipes[3];
    bool exited;
    bool lost;    /* reaped by someone else: no status (-ECHILD) */
    int rc;
    bool polling; /* fd is the timerfd */
    bool by_pid;  /* waitid(P_PID): no pidfd, or no waitid(P_PIDFD) */
    bool group;   /* leads its own process group (NEW_SESSION) */
    struct weft__hook close_hook;
    uint64_t poll_ns; /* an orphan's next poll */
};

/* ---- reaping ---------------------------------------------------------------------- */

static int encode(const siginfo_t *si) {
    if (si->si_code == CLD_EXITED)
        return si->si_status;
    return -si->si_status; /* killed or dumped: minus the signal */
}

static int waitid_pidfd(weft_proc_t *p, siginfo_t *si) {
    if (weft__proc_test_flags & WEFT__PROC_TEST_NO_WAITID_PIDFD) {
        errno = EINVAL; /* as Linux 5.3 says */
        return -1;
    }
    return waitid((idtype_t)P_PIDFD, (id_t)p->io.fd, si, WEXITED | WNOHANG);
}

/* Collect the exit if it happened. True once exited (or lost). */
static bool try_reap(weft_proc_t *p) {
    if (p->exited)
        return true;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = -1;
    if (!p->by_pid) {
        r = waitid_pidfd(p, &si);
        /* Linux 5.3 has pidfd_open but not P_PIDFD (5.4). Our own
         * unreaped child keeps its pid until we reap it, so waiting for
         * the pid is as safe; the pidfd still says when to look. */
        if (r < 0 && errno == EINVAL)
            p->by_pid = true;
    }
    if (p->by_pid)
        r = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG);
    if (r < 0) {
        if (errno == ECHILD) { /* reaped by someone else: status gone */
            p->exited = true;
            p->lost = true;
            weft__log(WEFT_LOG_WARN, "child %d was reaped by someone else; "
                                     "its status is lost",
                      (int)p->pid);
        }
        return p->exited;
    }
    if (si.si_pid == 0)
        return false; /* still running */
    p->exited = true;
    p->rc = encode(&si);
    return true;
}

/* Without pidfd: make the timerfd readable in ns (on the system's clock). */
static void poll_arm(weft_proc_t *p, uint64_t ns) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(ns / WEFT__NS_PER_SEC);
    its.it_value.tv_nsec = (long)(ns % WEFT__NS_PER_SEC);
    if (timerfd_settime(p->io.fd, 0, &its, NULL) < 0)
        weft__log(WEFT_LOG_ERROR, "timerfd_settime for child %d: %s",
                  (int)p->pid, strerror(errno));
}

static void poll_drain(weft_proc_t *p) {
    uint64_t n;
    ssize_t r = read(p->io.fd, &n, sizeof n); /* EAGAIN: nothing due */
    (void)r;
}

static uint64_t backoff(uint64_t ns) {
    return ns * 2 < POLL_MAX ? ns * 2 : POLL_MAX;
}

static void proc_release(weft_proc_t *p) {
    int fd = p->io.fd;
    weft__io_close(p->loop, &p->io);
    close(fd);
    weft__free(p);
}

/* A freed process that was still running: reaped when its pidfd says so,
 * or when a poll finds it gone. */
static void orphan_notify(weft_loop_t *loop, struct weft__io *io,
                          uint32_t ev) {
    weft_proc_t *p = WEFT__CONTAINER_OF(io, weft_proc_t, io);
    weft__io_notify(loop, io, ev);
    if (p->polling)
        poll_drain(p);
    if (try_reap(p)) {
        weft__list_remove(&p->close_hook.link);
        proc_release(p);
    } else if (p->polling) {
        p->poll_ns = backoff(p->poll_ns);
        poll_arm(p, p->poll_ns);
    }
}

static void proc_loop_closing(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    weft_proc_t *p = WEFT__CONTAINER_OF(h, weft_proc_t, close_hook);
    weft__list_remove(&h->link); /* p is freed below */
    if (!try_reap(p))
        weft__log(WEFT_LOG_WARN, "loop closed while child %d still runs; it "
                                 "is left to the system",
                  (int)p->pid);
    proc_release(p);
}

/* ---- starting --------------------------------------------------------------------- */

static int pidfd_open_(pid_t pid) {
    if (weft__proc_test_flags & WEFT__PROC_TEST_NO_PIDFD) {
        errno = ENOSYS;
        return -1;
    }
#ifdef RUNNING_ON_VALGRIND
    /* Valgrind 3.19 does not know pidfd_open and says so loudly; the
     * suite under valgrind thereby runs the waitpid fallback. */
    if (RUNNING_ON_VALGRIND) {
        errno = ENOSYS;
        return -1;
    }
#endif
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec */
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Set up what tells us the child may have exited: its pidfd, else a
 * timerfd to poll with. Returns 0 or -errno (then nothing is open). */
static int watch_child(weft_proc_t *p) {
    int fd = pidfd_open_(p->pid);
    if (fd >= 0) {
        if (weft__io_open(p->loop, &p->io, fd) == 0)
            return 0;
        close(fd);
    }
    fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = weft__io_open(p->loop, &p->io, fd);
    if (err) {
        close(fd);
        return err;
    }
    p->polling = true;
    p->by_pid = true;
    return 0;
}

/* Say clearly why the program cannot run (dir false: the error exec would
 * give) or the child cannot enter its directory (dir true: chdir's):
 * posix_spawn reports a failed exec or chdir itself, but not everywhere
 * (under valgrind the child just exits 127). */
static int check_access(const char *path, bool dir) {
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    bool isdir = S_ISDIR(st.st_mode);
    if (isdir != dir)
        return dir ? -ENOTDIR : -EACCES;
    return access(path, X_OK) < 0 ? -errno : 0;
}

/* Find the program as execvp would (PATH of the parent). */
static int find_program(const char *name, char **out) {
    *out = NULL;
    if (strchr(name, '/')) {
        int err = check_access(name, false);
        if (err)
            return err;
        *out = weft__malloc(strlen(name) + 1);
        if (!*out)
            return -ENOMEM;
        strcpy(*out, name);
        return 0;
    }
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    int err = -ENOENT;
    size_t nl = strlen(name);
    for (const char *d = dirs, *end;; d = end + 1) {
        end = strchr(d, ':');
        size_t dl = end ? (size_t)(end - d) : strlen(d);
        char *cand = weft__malloc(dl + nl + 3);
        if (!cand)
            return -ENOMEM;
        if (dl)
            memcpy(cand, d, dl);
        else
            cand[0] = '.', dl = 1; /* an empty entry is the cwd */
        cand[dl] = '/';
        memcpy(cand + dl + 1, name, nl + 1);
        int e = check_access(cand, false);
        if (e == 0) {
            *out = cand;
            return 0;
        }
        weft__free(cand);
        if (e == -EACCES)
            err = -EACCES; /* found, but not runnable: say so */
        if (!end)
            return err;
    }
}

struct plan {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int parent_end[3]; /* our end of each pipe, or -1 */
    int child_end[3];  /* closed in the parent after the spawn */
};

static int add_stream(struct plan *pl, int which, int mode, int fd) {
    int err = 0;
    switch (mode) {
    case WEFT_PROC_INHERIT: {
        /* The parent's descriptor may be close-on-exec (weft_stream_from_fd
         * makes it so): a dup2 onto itself clears the flag in the child
         * only (newer POSIX requires it of posix_spawn; glibc does it, and
         * test_proc checks it). */
        int fl = fcntl(which, F_GETFD);
        if (fl < 0 || !(fl & FD_CLOEXEC))
            return 0;
        return -posix_spawn_file_actions_adddup2(&pl->fa, which, which);
    }
    case WEFT_PROC_DEVNULL:
        err = posix_spawn_file_actions_addopen(
            &pl->fa, which, "/dev/null", which == 0 ? O_RDONLY : O_WRONLY, 0);
        return -err;
    case WEFT_PROC_STDOUT:
        if (which != 2)
            return -EINVAL;
        return -posix_spawn_file_actions_adddup2(&pl->fa, 1, 2);
    case WEFT_PROC_FD:
        if (fd < 0)
            return -EBADF;
        return -posix_spawn_file_actions_adddup2(&pl->fa, fd, which);
    case WEFT_PROC_PIPE: {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -errno;
        int child = which == 0 ? fds[0] : fds[1];
        pl->parent_end[which] = which == 0 ? fds[1] : fds[0];
        pl->child_end[which] = child;
        return -posix_spawn_file_actions_adddup2(&pl->fa, child, which);
    }
    default:
        return -EINVAL;
    }
}

static void close_plan(struct plan *pl, bool parent_too) {
    for (int i = 0; i < 3; i++) {
        if (pl->child_end[i] >= 0)
            close(pl->child_end[i]);
        if (parent_too && pl->parent_end[i] >= 0)
            close(pl->parent_end[i]);
    }
    posix_spawn_file_actions_destroy(&pl->fa);
    posix_spawnattr_destroy(&pl->attr);
}

int weft_proc_exec(weft_loop_t *loop, weft_proc_t **out,
                   const char *const *argv, const weft_proc_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    int err = weft__loop_check(loop, "weft_proc_exec");
    if (err)
        return err;
    if (!argv || !argv[0] || !argv[0][0])
        return -EINVAL;
    weft_proc_opts_t def;
    memset(&def, 0, sizeof def);
    const weft_proc_opts_t *o = opts ? opts : &def;
    if (o->flags & ~(unsigned)WEFT_PROC_NEW_SESSION)
        return -EINVAL;

    struct plan pl;
    memset(&pl, 0, sizeof pl);
    for (int i = 0; i < 3; i++)
        pl.parent_end[i] = pl.child_end[i] = -1;
    posix_spawn_file_actions_init(&pl.fa);
    posix_spawnattr_init(&pl.attr);
    int modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    for (int i = 0; i < 3 && !err; i++)
        err = add_stream(&pl, i, modes[i], fds[i]);
    if (!err && o->cwd)
        err = -posix_spawn_file_actions_addchdir_np(&pl.fa, o->cwd);
    /* A clean signal state: empty mask, default dispositions. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->flags & WEFT_PROC_NEW_SESSION)
        flags |= POSIX_SPAWN_SETSID;
    if (!err)
        err = -(posix_spawnattr_setsigmask(&pl.attr, &none) ||
                posix_spawnattr_setsigdefault(&pl.attr, &all) ||
                posix_spawnattr_setflags(&pl.attr, flags));
    if (!err && o->cwd) /* said by the spawn too, but not everywhere */
        err = check_access(o->cwd, true);
    char *path = NULL;
    if (!err)
        err = find_program(argv[0], &path);
    weft_proc_t *p = NULL;
    if (!err && !(p = weft__calloc(1, sizeof *p)))
        err = -ENOMEM;
    /* The child's exec failure comes back as the result (glibc >= 2.24
     * spawns with CLONE_VFORK and reports it). */
    if (!err)
        err = -posix_spawn(&p->pid, path, &pl.fa, &pl.attr,
                           (char *const *)argv, o->env ? o->env : environ);
    weft__free(path);
    if (err) {
        close_plan(&pl, true);
        weft__free(p);
        return err;
    }
    p->loop = loop;
    p->group = (o->flags & WEFT_PROC_NEW_SESSION) != 0;
    close_plan(&pl, false);
    err = watch_child(p);
    if (err) { /* we could never tell when it exits: undo the start */
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        for (int i = 0; i < 3; i++)
            if (pl.parent_end[i] >= 0)
                close(pl.parent_end[i]);
        weft__free(p);
        return err;
    }
    for (int i = 0; i < 3; i++) {
        if (pl.parent_end[i] < 0)
            continue;
        int e = weft_stream_from_fd(loop, &p->pipes[i], pl.parent_end[i],
                                    &o->stream);
        if (e) {
            close(pl.parent_end[i]);
            p->pipes[i] = NULL;
            if (!err)
                err = e;
        } else {
            p->pipes[i]->flags |= WEFT__STREAM_OWNED;
        }
    }
    *out = p;
    if (err) { /* the child runs, but we could not wrap a pipe */
        weft_proc_kill(p);
        weft_proc_free(p);
        *out = NULL;
    }
    return err;
}

int weft_proc_shell(weft_loop_t *loop, weft_proc_t **out, const char *cmd,
                    const weft_proc_opts_t *opts) {
    if (!cmd) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return weft_proc_exec(loop, out, argv, opts);
}

/* ---- using it ---------------------------------------------------------------------- */

pid_t weft_proc_pid(const weft_proc_t *p) {
    return p ? p->pid : -1;
}

weft_stream_t *weft_proc_stdin(weft_proc_t *p) {
    return p ? p->pipes[0] : NULL;
}

weft_stream_t *weft_proc_stdout(weft_proc_t *p) {
    return p ? p->pipes[1] : NULL;
}

weft_stream_t *weft_proc_stderr(weft_proc_t *p) {
    return p ? p->pipes[2] : NULL;
}

static void drop_pipe(weft_proc_t *p, int i) {
    weft_stream_t *s = p->pipes[i];
    if (!s)
        return;
    p->pipes[i] = NULL;
    if (!(s->flags & WEFT__STREAM_CLOSED))
        weft_stream_abort(s);
    weft__stream_release(s);
}

int weft_proc_close_stdin(weft_proc_t *p) {
    if (!p || !p->pipes[0])
        return -EINVAL;
    weft_stream_t *s = p->pipes[0];
    int err = 0;
    if (!(s->flags & WEFT__STREAM_CLOSED))
        err = weft_stream_close(s); /* flushes from a task */
    p->pipes[0] = NULL;
    weft__stream_release(s);
    return err;
}

/* The outcome of a reaped process. */
static int exit_status(const weft_proc_t *p, int *rc) {
    if (p->lost)
        return -ECHILD;
    if (rc)
        *rc = p->rc;
    return 0;
}

int weft_proc_returncode(weft_proc_t *p, int *rc) {
    if (!p)
        return -EINVAL;
    return try_reap(p) ? exit_status(p, rc) : -EAGAIN;
}

int weft_proc_wait(weft_proc_t *p, int *rc) {
    if (!p)
        return -EINVAL;
    if (!weft__task_require("weft_proc_wait"))
        return -EPERM;
    int err = weft__loop_check(p->loop, "weft_proc_wait");
    if (err)
        return err;
    uint64_t poll = POLL_FIRST;
    while (!try_reap(p)) {
        if (p->polling) /* no pidfd: poll our own child */
            poll_arm(p, poll);
        p->io.ready &= ~(uint32_t)WEFT__IO_IN;
        err = weft__io_wait(&p->io, WEFT__IO_IN);
        if (p->polling) {
            poll_drain(p);
            poll = backoff(poll);
        }
        if (err < 0)
            return err;
    }
    return exit_status(p, rc);
}

int weft_proc_send_signal(weft_proc_t *p, int sig) {
    if (!p)
        return -EINVAL;
    bool reaped = try_reap(p);
    /* A process group id is not reused while the group has a member, even
     * once its leader is reaped: the group is still the one we started
     * while any of it lives (a shell's background jobs). */
    if (p->group)
        return kill(-p->pid, sig) < 0 ? -errno : 0;
    if (reaped)
        return -ESRCH; /* the pid may belong to someone else by now */
    /* Not reaped, so the pid is still ours. */
#ifdef SYS_pidfd_send_signal
    if (!p->polling &&
        syscall(SYS_pidfd_send_signal, p->io.fd, sig, NULL, 0) == 0)
        return 0;
#endif
    return kill(p->pid, sig) < 0 ? -errno : 0;
}

int weft_proc_terminate(weft_proc_t *p) {
    return weft_proc_send_signal(p, SIGTERM);
}

int weft_proc_kill(weft_proc_t *p) {
    return weft_proc_send_signal(p, SIGKILL);
}

/* ---- communicate --------------------------------------------------------------------- */

struct pump {
    weft_stream_t *s;
    weft_bytes_t *into; /* NULL: drop */
    const void *input;
    size_t len;
    weft_proc_t *p;
};

static int pump_in(void *arg) {
    struct pump *pu = arg;
    int err = 0;
    if (pu->len)
        err = weft_stream_write(pu->s, pu->input, pu->len);
    int e = weft_proc_close_stdin(pu->p); /* flushes, then ends the input */
    /* A child that exits without reading everything: not our error. */
    if (err == -EPIPE || e == -EPIPE)
        return 0;
    return err ? err : e;
}

static int pump_out(void *arg) {
    struct pump *pu = arg;
    char chunk[16384];
    size_t cap = pu->into ? pu->into->len : 0;
    for (;;) {
        ssize_t n = weft_stream_read(pu->s, chunk, sizeof chunk);
        if (n <= 0)
            return (int)n;
        if (!pu->into)
            continue;
        weft_bytes_t *b = pu->into;
        if (b->len + (size_t)n + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            while (ncap < b->len + (size_t)n + 1)
                ncap *= 2;
            char *d = weft__realloc(b->data, ncap);
            if (!d)
                return -ENOMEM;
            b->data = d;
            cap = ncap;
        }
        memcpy(b->data + b->len, chunk, (size_t)n);
        b->len += (size_t)n;
        b->data[b->len] = 0;
    }
}

int weft_proc_communicate(weft_proc_t *p, const void *input, size_t len,
                          weft_bytes_t *out, weft_bytes_t *errb, int *rc) {
    if (out)
        out->data = NULL, out->len = 0;
    if (errb)
        errb->data = NULL, errb->len = 0;
    if (!p || (len && !input))
        return -EINVAL;
    if (!weft__task_require("weft_proc_communicate"))
        return -EPERM;
    int err = weft__loop_check(p->loop, "weft_proc_communicate");
    if (err)
        return err;
    weft_group_t g;
    err = weft_group_enter(&g);
    if (err)
        return err;
    struct pump in = {p->pipes[0], NULL, input, len, p};
    struct pump o1 = {p->pipes[1], out, NULL, 0, p};
    struct pump o2 = {p->pipes[2], errb, NULL, 0, p};
    weft_spawn_opts_t so = {.name = "communicate"};
    if (in.s)
        err = weft_group_spawn(&g, NULL, pump_in, &in, &so);
    if (!err && o1.s)
        err = weft_group_spawn(&g, NULL, pump_out, &o1, &so);
    if (!err && o2.s)
        err = weft_group_spawn(&g, NULL, pump_out, &o2, &so);
    if (err)
        weft_group_cancel(&g);
    int ge = weft_group_exit(&g);
    if (err)
        return err;
    if (ge)
        return ge;
    return weft_proc_wait(p, rc);
}

/* ---- freeing ----------------------------------------------------------------------------- */

void weft_proc_free(weft_proc_t *p) {
    if (!p || weft__loop_check(p->loop, "weft_proc_free"))
        return;
    for (int i = 0; i < 3; i++)
        drop_pipe(p, i);
    if (try_reap(p) || p->loop->closed) {
        proc_release(p);
        return;
    }
    /* Still running: reap it when it exits, so it does not stay a zombie. */
    weft__hook_add(p->loop, &p->close_hook, WEFT__PHASE_FREE - 1,
                   proc_loop_closing);
    p->io.notify = orphan_notify;
    if (p->polling) {
        p->poll_ns = POLL_FIRST;
        poll_arm(p, p->poll_ns);
    }
}
