/* Asynchronous files (weft/file.h): one call, two ways to carry it out.
 *
 * Each call describes its system call as a struct weft__fop (task/io.h)
 * on the task's stack. On an io_uring loop that record becomes one request
 * (weft__uring_file, src/loop/uring.c), which the task waits for; on an
 * epoll loop a job on the loop's default executor pool makes the system
 * call, and the task awaits the job's future.
 *
 * Cancellation is the same on both, as the header says: the call returns
 * when the operation has ended, with its honest outcome if it ran to its
 * end. io_uring gives that by the wait (it consumes). On the executor the
 * future of a job that ran after a cancel completes with -ECANCELED, and a
 * future that completed may be reported as cancelled by weft_await when the
 * cancel came before the task ran again; so the worker also writes the
 * system call's result into the job record (`ran`, `status`), and once the
 * future is done (the executor's hand-over orders the worker's writes
 * before the loop's reads) that result is what the call returns. An open
 * that completed is therefore never lost, and its descriptor never leaks.
 *
 * Like aiofiles and libuv's uv_fs_*, the executor variant costs a thread
 * hand-over each call (bench/file.c measures it against io_uring and a
 * plain pread).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs_int.h"

#include "weft/exec.h"

/* Linux's own limit on one read or write. */
#define FILE_RW_MAX ((size_t)0x7ffff000)

/* ---- the executor variant ---------------------------------------------------------- */

struct fjob {
    const struct weft__fop *op;
    int status;
    bool ran; /* written by the worker, read once the future is done */
};

static ssize_t fop_syscall(const struct weft__fop *op) {
    switch (op->kind) {
    case WEFT__FOP_OPEN:
        return openat(op->fd, op->path, op->flags, (mode_t)op->mode);
    case WEFT__FOP_READ:
        return op->off == UINT64_MAX
                   ? read(op->fd, op->buf, op->len)
                   : pread(op->fd, op->buf, op->len, (off_t)op->off);
    case WEFT__FOP_WRITE:
        return op->off == UINT64_MAX
                   ? write(op->fd, op->buf, op->len)
                   : pwrite(op->fd, op->buf, op->len, (off_t)op->off);
    case WEFT__FOP_FSYNC:
        return op->flags ? fdatasync(op->fd) : fsync(op->fd);
    case WEFT__FOP_STATX:
        return statx(op->fd, op->path, op->flags, op->mode, op->buf);
    case WEFT__FOP_CLOSE:
        return close(op->fd);
    default:
        errno = ENOSYS;
        return -1;
    }
}

static int fop_job(void *arg, void **value) {
    (void)value;
    struct fjob *j = arg;
    ssize_t r = fop_syscall(j->op);
    j->status = r < 0 ? -errno : (int)r;
    j->ran = true;
    return j->status;
}

static int exec_call(struct weft_task *t, const struct weft__fop *op) {
    struct fjob j = {.op = op};
    weft_future_t *f;
    int r = weft_run_in_executor(t->loop, NULL, fop_job, &j, &f);
    if (r)
        return r;
    r = weft_await(f, NULL);
    /* Interrupted or not, weft_await returns once the future is done (its
     * abort waits for a running job): the worker is finished with `j`.
     * The test keeps that promise checked. */
    if (weft_future_done(f) && j.ran)
        r = j.status;
    weft_future_release(f);
    return r;
}

/* ---- one call ---------------------------------------------------------------------- */

/* Run op for the current task: -EPERM outside a task (logged as `fn`); an
 * interruption already pending is returned before anything starts. */
static int file_call(const char *fn, struct weft__fop *op,
                     struct weft_file *f) {
    struct weft_task *t = weft__task_require(fn);
    if (!t)
        return -EPERM;
    if (t->pending && op->kind != WEFT__FOP_CLOSE) {
        int err = weft__task_interrupted(t);
        if (err)
            return err;
    }
    if (f)
        f->users++;
    int r = t->loop->uring ? weft__uring_file(t, op, f) : exec_call(t, op);
    if (f)
        f->users--;
    return r;
}

static bool check_file(const char *fn, const struct weft_file *f) {
    if (f)
        return true;
    weft__log(WEFT_LOG_WARN, "%s: NULL file", fn);
    return false;
}

/* ---- the API ------------------------------------------------------------------------ */

int weft_file_from_fd(int fd, weft_file_t **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    struct weft_file *f = weft__malloc(sizeof *f);
    if (!f)
        return -ENOMEM;
    f->fd = fd;
    f->users = 0;
    *out = f;
    return 0;
}

int weft_file_fd(const weft_file_t *f) {
    return f ? f->fd : -1;
}

int weft_file_open(const char *path, int flags, mode_t mode,
                   weft_file_t **out) {
    if (out)
        *out = NULL;
    if (!path || !out) {
        weft__log(WEFT_LOG_WARN, "weft_file_open: NULL %s",
                  path ? "out" : "path");
        return -EINVAL;
    }
    /* The record first: no descriptor may be opened that has nowhere to
     * go. */
    struct weft_file *f = weft__malloc(sizeof *f);
    if (!f)
        return -ENOMEM;
    struct weft__fop op = {.kind = WEFT__FOP_OPEN,
                           .fd = AT_FDCWD,
                           .path = path,
                           .flags = flags | O_CLOEXEC,
                           .mode = mode};
    int fd = file_call("weft_file_open", &op, NULL);
    if (fd < 0) {
        weft__free(f);
        return fd;
    }
    f->fd = fd;
    f->users = 0;
    *out = f;
    return 0;
}

static ssize_t rw(const char *fn, uint8_t kind, struct weft_file *f,
                  const void *buf, size_t len, int64_t off) {
    if (!check_file(fn, f))
        return -EINVAL;
    if ((!buf && len) || off < WEFT_FILE_POS) {
        weft__log(WEFT_LOG_WARN, "%s: %s", fn,
                  off < WEFT_FILE_POS ? "negative offset" : "NULL buffer");
        return -EINVAL;
    }
    if (len > FILE_RW_MAX)
        len = FILE_RW_MAX;
    struct weft__fop op = {.kind = kind,
                           .fd = f->fd,
                           .buf = (void *)(uintptr_t)buf,
                           .len = len,
                           .off = off == WEFT_FILE_POS ? UINT64_MAX
                                                       : (uint64_t)off};
    return file_call(fn, &op, f);
}

ssize_t weft_file_read(weft_file_t *f, void *buf, size_t len, int64_t off) {
    return rw("weft_file_read", WEFT__FOP_READ, f, buf, len, off);
}

ssize_t weft_file_write(weft_file_t *f, const void *buf, size_t len,
                        int64_t off) {
    return rw("weft_file_write", WEFT__FOP_WRITE, f, buf, len, off);
}

int weft_file_fsync(weft_file_t *f, unsigned flags) {
    if (!check_file("weft_file_fsync", f))
        return -EINVAL;
    if (flags & ~(unsigned)WEFT_FILE_DATASYNC) {
        weft__log(WEFT_LOG_WARN, "weft_file_fsync: unknown flags %#x",
                  flags);
        return -EINVAL;
    }
    struct weft__fop op = {.kind = WEFT__FOP_FSYNC,
                           .fd = f->fd,
                           .flags = (flags & WEFT_FILE_DATASYNC) ? 1 : 0};
    return file_call("weft_file_fsync", &op, f);
}

static void from_statx(const struct statx *sx, weft_file_stat_t *st) {
    memset(st, 0, sizeof *st);
    st->size = sx->stx_size;
    st->blocks = sx->stx_blocks;
    st->ino = sx->stx_ino;
    st->dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
    st->atime_ns = sx->stx_atime.tv_sec * 1000000000LL + sx->stx_atime.tv_nsec;
    st->mtime_ns = sx->stx_mtime.tv_sec * 1000000000LL + sx->stx_mtime.tv_nsec;
    st->ctime_ns = sx->stx_ctime.tv_sec * 1000000000LL + sx->stx_ctime.tv_nsec;
    st->mode = sx->stx_mode;
    st->nlink = sx->stx_nlink;
    st->uid = sx->stx_uid;
    st->gid = sx->stx_gid;
    st->blksize = sx->stx_blksize;
}

static int do_stat(const char *fn, struct weft_file *f, const char *path,
                   weft_file_stat_t *st) {
    struct statx sx = {0}; /* filled by the kernel or the worker */
    struct weft__fop op = {.kind = WEFT__FOP_STATX,
                           .fd = f ? f->fd : AT_FDCWD,
                           .path = f ? "" : path,
                           .flags = f ? AT_EMPTY_PATH : 0,
                           .mode = STATX_BASIC_STATS,
                           .buf = &sx};
    int r = file_call(fn, &op, f);
    if (r >= 0) {
        from_statx(&sx, st);
        r = 0;
    }
    return r;
}

int weft_file_stat(weft_file_t *f, weft_file_stat_t *st) {
    if (!check_file("weft_file_stat", f))
        return -EINVAL;
    if (!st) {
        weft__log(WEFT_LOG_WARN, "weft_file_stat: NULL stat record");
        return -EINVAL;
    }
    return do_stat("weft_file_stat", f, NULL, st);
}

int weft_file_stat_path(const char *path, weft_file_stat_t *st) {
    if (!path || !st) {
        weft__log(WEFT_LOG_WARN, "weft_file_stat_path: NULL %s",
                  path ? "stat record" : "path");
        return -EINVAL;
    }
    return do_stat("weft_file_stat_path", NULL, path, st);
}

int weft_file_close(weft_file_t *f) {
    if (!check_file("weft_file_close", f))
        return -EINVAL;
    if (f->users) {
        weft__log(WEFT_LOG_WARN, "weft_file_close: %u task(s) still inside "
                                 "a call on the file (fd %d)",
                  f->users, f->fd);
        return -EBUSY;
    }
    int r;
    struct weft_task *t = weft__task_current();
    if (t && t->loop->uring) {
        struct weft__fop op = {.kind = WEFT__FOP_CLOSE, .fd = f->fd};
        r = file_call("weft_file_close", &op, f);
    } else {
        /* close(2) of a regular file does not wait for the disk (a file
         * system that flushes on close, NFS say, is the exception): done
         * here, it cannot be interrupted or lost. Outside a task too. */
        r = close(f->fd) < 0 ? -errno : 0;
    }
    weft__free(f);
    return r;
}

int weft_file_read_all(const char *path, size_t max, void **bufp,
                       size_t *lenp) {
    if (bufp)
        *bufp = NULL;
    if (lenp)
        *lenp = 0;
    if (!path || !bufp || !lenp) {
        weft__log(WEFT_LOG_WARN, "weft_file_read_all: NULL argument");
        return -EINVAL;
    }
    if (max >= SIZE_MAX - 1)
        max = SIZE_MAX - 2;
    weft_file_t *f;
    int err = weft_file_open(path, O_RDONLY, 0, &f);
    if (err)
        return err;
    /* The size from stat is a first guess (files grow, /proc says 0): read
     * until the end, one byte past max to tell that it is too big. */
    weft_file_stat_t st;
    size_t cap = 4096;
    if ((err = weft_file_stat(f, &st)) == 0 && st.size + 1 > cap)
        cap = st.size + 1;
    if (cap > max + 2)
        cap = max + 2;
    char *buf = err ? NULL : weft__malloc(cap);
    if (!err && !buf)
        err = -ENOMEM;
    size_t len = 0;
    while (!err) {
        if (len + 1 == cap) { /* keep room for the NUL */
            size_t ncap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
            char *nb = ncap > cap ? weft__realloc(buf, ncap) : NULL;
            if (!nb) {
                err = ncap > cap ? -ENOMEM : -EFBIG;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = weft_file_read(f, buf + len, cap - 1 - len, (int64_t)len);
        if (n < 0)
            err = (int)n;
        else if (n == 0)
            break;
        else
            len += (size_t)n;
        if (!err && len > max)
            err = -EFBIG;
    }
    weft_file_close(f);
    if (err) {
        weft__free(buf);
        return err;
    }
    buf[len] = '\0';
    *bufp = buf;
    *lenp = len;
    return 0;
}
