/* weft/file.h - files, asynchronously: open, read, write, fsync, stat,
 * close, awaited from a task (aiofiles, or libuv's uv_fs_*).
 *
 *   weft_file_t *f;
 *   int err = weft_file_open("/srv/data/log", O_WRONLY | O_APPEND | O_CREAT,
 *                            0644, &f);                 // in a task
 *   if (err == 0) {
 *       weft_file_write(f, line, n, WEFT_FILE_POS);
 *       weft_file_close(f);
 *   }
 *
 * asyncio has no asynchronous files, and a read(2) of a regular file never
 * returns EAGAIN: epoll cannot wait for a disk. So how a call is carried
 * out depends on the loop's backend (weft_loop_backend, weft/loop.h), and
 * what it does does not:
 *   io_uring  each call is one request to the kernel (IORING_OP_OPENAT,
 *             READ, WRITE, FSYNC, STATX, CLOSE), submitted with the loop's
 *             other requests; the task parks until its completion. A read
 *             of cached pages completes inline, in the submitting
 *             io_uring_enter; one that goes to the disk is carried on by
 *             the kernel's own workers, and no thread of this process
 *             blocks.
 *   epoll     each call runs the system call on the loop's default
 *             executor pool (weft/exec.h), and the task parks until the
 *             worker is done (what libuv's uv_fs_* and aiofiles do). Except
 *             weft_file_close(), which calls close(2) on the loop thread.
 *
 * Calls. Every call below except weft_file_close() on a NULL file is made
 * from a task (outside one: -EPERM, logged), parks that task, and returns
 * >= 0 or a negative errno: the system call's own (-ENOENT, -EACCES,
 * -EISDIR, ...), or -ECANCELED / -ETIMEDOUT when the task was cancelled or
 * a deadline scope expired while it waited (weft/task.h).
 *
 * Cancellation. A call interrupted while its operation is in flight
 * returns only once the operation has ended: on io_uring the request is
 * cancelled in the kernel (IORING_OP_ASYNC_CANCEL) and the task waits for
 * its completion; on epoll a job still queued is removed, and one whose
 * system call is running is waited for (a C thread cannot be stopped).
 * Either way, when the call returns, no thread and no kernel request will
 * touch `buf`, the path or the stat record any more: they may live on the
 * task's stack. An operation that the cancel did not stop in time (it had
 * completed, or was past the point where the kernel can stop it) returns
 * its result as if the cancel had come a moment later: the bytes read or
 * written, the file opened (never a leaked descriptor); the cancel shows
 * at the task's next wait, as for streams' reads. Otherwise the call
 * returns -ECANCELED / -ETIMEDOUT having done nothing. weft_file_close()
 * is not interrupted: it always closes.
 *
 * Positions. Reads and writes take an explicit offset (pread/pwrite), so
 * several tasks may use one file at once; WEFT_FILE_POS (-1) uses and
 * advances the file's position instead (read/write), for files opened
 * with O_APPEND and for pipes and character devices, which have no
 * offsets. Concurrent calls on the file's position run in no defined
 * order.
 *
 * FIFOs. io_uring opens without waiting when it can (the kernel tries the
 * open non-blocking first), so on io_uring opening a FIFO does not wait
 * for its other end: for reading it succeeds at once, for writing with no
 * reader it fails with -ENXIO, as with O_NONBLOCK. On epoll the open waits
 * in a worker thread, as open(2) does. Reads and writes wait for the
 * other end on both.
 *
 * A weft_file_t is used from tasks of one loop thread at a time (any loop
 * on that thread). Not for sockets: use streams (weft/net.h), which wait
 * for readiness.
 */
#ifndef WEFT_FILE_H
#define WEFT_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_file weft_file_t;

/* The offset that means "the file's position" (read/write, not pread). */
#define WEFT_FILE_POS ((int64_t)-1)

/* Open `path` (relative to the working directory) with open(2)'s flags
 * and mode; O_CLOEXEC is always added. On success *out is a new file the
 * caller owns and must close with weft_file_close(). Returns 0 or a
 * negative errno (*out is then NULL); -EINVAL for NULL arguments. */
WEFT_EXPORT int weft_file_open(const char *path, int flags, mode_t mode,
                               weft_file_t **out);

/* Adopt an open descriptor: the file owns fd from now on (its close closes
 * it). Needs no task. Returns 0, -EBADF (fd < 0), -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_file_from_fd(int fd, weft_file_t **out);

/* The descriptor (still owned by the file), or -1 for NULL. */
WEFT_EXPORT int weft_file_fd(const weft_file_t *f);

/* Read up to len bytes at offset `off` (or WEFT_FILE_POS) into buf.
 * Returns the number read (0 at or past the end of the file, and for
 * len 0), or a negative errno. At most 0x7ffff000 bytes a call, as
 * Linux's read(2). The caller keeps buf; see Cancellation above. */
WEFT_EXPORT ssize_t weft_file_read(weft_file_t *f, void *buf, size_t len,
                                   int64_t off);

/* Write up to len bytes of buf at `off` (or WEFT_FILE_POS). Returns the
 * number written (possibly fewer: call again for the rest), or a negative
 * errno. */
WEFT_EXPORT ssize_t weft_file_write(weft_file_t *f, const void *buf,
                                    size_t len, int64_t off);

enum {
    /* fdatasync(2): the data, and only the metadata needed to read it. */
    WEFT_FILE_DATASYNC = 1u << 0,
};

/* fsync(2), or fdatasync(2) with WEFT_FILE_DATASYNC. Returns 0 or a
 * negative errno (-EINVAL for unknown flags). */
WEFT_EXPORT int weft_file_fsync(weft_file_t *f, unsigned flags);

/* What statx(2) says of a file; times in nanoseconds since the epoch. */
typedef struct weft_file_stat {
    uint64_t size;   /* bytes */
    uint64_t blocks; /* 512-byte blocks allocated */
    uint64_t ino;
    uint64_t dev;    /* makedev(major, minor) of the file system */
    int64_t atime_ns, mtime_ns, ctime_ns;
    uint32_t mode;   /* file type and permissions: S_ISREG(st.mode) ... */
    uint32_t nlink;
    uint32_t uid, gid;
    uint32_t blksize; /* the preferred I/O size */
} weft_file_stat_t;

/* Fill *st for the open file. Returns 0 or a negative errno. */
WEFT_EXPORT int weft_file_stat(weft_file_t *f, weft_file_stat_t *st);

/* Fill *st for `path`, following symbolic links (stat(2)). Returns 0 or a
 * negative errno. */
WEFT_EXPORT int weft_file_stat_path(const char *path, weft_file_stat_t *st);

/* Close the file and free it, whatever the result (close(2)'s: a write
 * error that a file system reports late shows here). Not interrupted by a
 * cancel or deadline. Returns 0 or a negative errno; -EINVAL (logged) for
 * NULL; -EBUSY (logged; nothing is closed) while another task is inside a
 * call on the file. */
WEFT_EXPORT int weft_file_close(weft_file_t *f);

/* Read the whole file at `path` into memory: up to max bytes, else
 * -EFBIG. On success *buf holds *len bytes plus a NUL after them (for
 * text), allocated by weft: the caller frees it with weft_free(). On
 * failure *buf is NULL. Returns 0 or a negative errno. */
WEFT_EXPORT int weft_file_read_all(const char *path, size_t max, void **buf,
                                   size_t *len);

#ifdef __cplusplus
}
#endif
#endif
