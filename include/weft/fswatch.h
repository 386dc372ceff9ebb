/* weft/fswatch.h - watching files and directories (inotify).
 *
 *   weft_fswatch_t *w;
 *   weft_fswatch_open(loop, "/srv/data", WEFT_FSWATCH_RECURSIVE, &w);
 *   weft_fsevent_t ev;
 *   while (weft_fswatch_next(w, &ev) == 0)        // in a task
 *       printf("%s %s\n", weft_fsevent_name(ev.kind), ev.path);
 *   weft_fswatch_close(w);
 *
 * A watcher reports what happens to one path: a file, or a directory and
 * the entries in it (WEFT_FSWATCH_RECURSIVE: the whole tree below it,
 * including directories created or moved in after the watch began). Each
 * watcher has its own inotify instance, so watchers never see each other's
 * events. Events come one at a time, either from weft_fswatch_next() in a
 * task, or to a callback (weft_fswatch_start()).
 *
 * What is reported (`kind`):
 *   CREATED   an entry appeared: created, or moved in from outside the
 *             watched tree (flag WEFT_FS_MOVED_IN). With RECURSIVE, the
 *             entries of a new directory that were made before weft could
 *             watch it are found by reading the directory once the watch is
 *             in place, and reported as CREATED too, each once.
 *   MODIFIED  a file's content changed (every write: IN_MODIFY, merged by
 *             the kernel while unread), or with WEFT_FSWATCH_CLOSE_WRITE
 *             only when a file open for writing is closed (IN_CLOSE_WRITE:
 *             one event per save, but writes through a file kept open or
 *             mmap are not seen until it is closed).
 *   DELETED   an entry was removed, or moved out of the watched tree (flag
 *             WEFT_FS_MOVED_AWAY), or the watched path itself went away.
 *   MOVED     renamed inside the watched tree: `old_path` is where it was,
 *             `path` where it is. The two halves of a rename (the kernel's
 *             IN_MOVED_FROM and IN_MOVED_TO, paired by their cookie) are
 *             paired when they arrive in the same read of the inotify
 *             queue, which they do unless the queue is very busy; a half
 *             left unpaired becomes DELETED (moved away) or CREATED (moved
 *             in).
 *   ATTRIB    metadata changed: permissions, owner, timestamps, link count,
 *             extended attributes.
 *   OVERFLOW  the kernel's queue for this watcher overflowed (more events
 *             than /proc/sys/fs/inotify/max_queued_events, 16384 by
 *             default, were waiting): some events were lost. `path` is the
 *             watched path. With RECURSIVE, weft walks the tree again and
 *             watches directories it missed, but reports nothing of what
 *             they hold: compare with what you know if it matters.
 *
 * Paths. `path` is the watched path as given to weft_fswatch_open()
 * (trailing slashes removed) joined with the entry's path below it, e.g.
 * "/srv/data/sub/file.txt"; for events about the watched path itself it is
 * that path. Paths are not resolved: a symbolic link inside the tree is
 * reported as an entry, never followed. Strings are owned by the watcher
 * and stay valid until the next weft_fswatch_next() on it, the callback's
 * return, or weft_fswatch_close(), whichever comes first: copy what you
 * keep.
 *
 * The end. When the watched path itself is deleted or moved, the watcher
 * reports DELETED for it (moved: with WEFT_FS_MOVED_AWAY) and stops: the
 * next weft_fswatch_next() returns -ENOENT. Watching a single file follows
 * the file, not its name: editors that save by writing a new file and
 * renaming it over the old one end such a watch. Watch the directory to
 * follow a name.
 *
 * Limits. Each watched directory costs one inotify watch
 * (/proc/sys/fs/inotify/max_user_watches per user). Subdirectories that
 * cannot be watched (no permission, vanished meanwhile) are skipped; if the
 * limit is reached while the watcher runs, the directory is skipped and a
 * warning is logged.
 *
 * All calls are made on the loop's thread.
 */
#ifndef WEFT_FSWATCH_H
#define WEFT_FSWATCH_H

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_fswatch weft_fswatch_t;

/* weft_fswatch_open() flags. */
enum {
    /* Watch the directory and every directory below it, now and later.
     * The path must be a directory (-ENOTDIR otherwise). */
    WEFT_FSWATCH_RECURSIVE = 1u << 0,
    /* MODIFIED means "closed after writing" (IN_CLOSE_WRITE) instead of
     * "written" (IN_MODIFY). */
    WEFT_FSWATCH_CLOSE_WRITE = 1u << 1,
};

typedef enum weft_fsevent_kind {
    WEFT_FS_CREATED = 1,
    WEFT_FS_MODIFIED,
    WEFT_FS_DELETED,
    WEFT_FS_MOVED,
    WEFT_FS_ATTRIB,
    WEFT_FS_OVERFLOW,
} weft_fsevent_kind_t;

/* weft_fsevent_t.flags */
enum {
    WEFT_FS_ISDIR = 1u << 0,      /* the entry is a directory */
    WEFT_FS_MOVED_IN = 1u << 1,   /* CREATED: moved in from outside */
    WEFT_FS_MOVED_AWAY = 1u << 2, /* DELETED: moved out, not removed */
};

typedef struct weft_fsevent {
    weft_fsevent_kind_t kind;
    unsigned flags;       /* WEFT_FS_ISDIR, WEFT_FS_MOVED_* */
    const char *path;     /* see "Paths" above; never NULL */
    const char *old_path; /* MOVED: the path before; NULL otherwise */
} weft_fsevent_t;

/* Start watching `path` (flags: WEFT_FSWATCH_*). Symbolic links in `path`
 * itself are followed. On success stores the watcher in *out; the caller
 * owns it and frees it with weft_fswatch_close(), before the loop is freed
 * (one left open stops when the loop closes and is freed with the loop,
 * with a log line). Nothing is reported about what exists already.
 * Returns 0; -EINVAL (NULL argument, empty path, unknown flags); -EPERM
 * (foreign thread); -ESHUTDOWN (loop closing or closed); -ENOTDIR
 * (RECURSIVE and path is not a directory); the errors of inotify_add_watch
 * and opendir for the path or, with RECURSIVE, the tree: -ENOENT,
 * -EACCES, -ENAMETOOLONG, -ELOOP, -ENOSPC (watch limit); -EMFILE (inotify
 * instances or fds); -ENOMEM. On failure nothing is left behind. */
WEFT_EXPORT int weft_fswatch_open(weft_loop_t *loop, const char *path,
                                  unsigned flags, weft_fswatch_t **out);

/* In a task: store the next event in *event, waiting for one if none is
 * queued. The strings in *event belong to the watcher (see "Paths").
 * Events already read from the kernel are never lost to a cancellation:
 * they stay queued for the next call.
 * Returns 0; -ECANCELED; -ETIMEDOUT (deadline scope); -ENOENT after the
 * watched path went away (every event before it has been returned);
 * -EBADF if the watcher is closed while the task waits (by another task or
 * a callback); -EBUSY while another task waits on it or a callback was
 * started; -EINVAL (NULL); -EPERM (not in a task of the watcher's loop);
 * -ENOMEM. */
WEFT_EXPORT int weft_fswatch_next(weft_fswatch_t *watch, weft_fsevent_t *event);

/* Called for each event, in a task the watcher owns (so it may wait; the
 * events that come meanwhile queue up in the kernel). `event` and its
 * strings are valid until the callback returns. When the watcher stops by
 * itself (its path went away: -ENOENT, or an error such as -ENOMEM) the
 * callback is called once more with event NULL and that error, and never
 * again. It is not called after weft_fswatch_close(), or once the loop
 * closes. The callback may call weft_fswatch_close(). */
typedef void (*weft_fswatch_fn)(weft_fswatch_t *watch,
                                const weft_fsevent_t *event, int err,
                                void *arg);

/* Deliver events to fn(watch, event, 0, arg) instead of
 * weft_fswatch_next(), from now until the watcher is closed. The watcher
 * does not own `arg`. Returns 0; -EINVAL (NULL watch or fn); -EBUSY
 * (started already, or a task waits in weft_fswatch_next()); -EPERM
 * (foreign thread); -ESHUTDOWN; -ENOMEM. On failure fn is never called. */
WEFT_EXPORT int weft_fswatch_start(weft_fswatch_t *watch, weft_fswatch_fn fn,
                                   void *arg);

/* Stop watching, release the inotify instance and free the watcher and
 * every string it handed out. A task waiting in weft_fswatch_next() is
 * woken with -EBADF (it must not touch the watcher afterwards); the
 * callback is not called again. May be called from the callback. NULL is
 * ignored. */
WEFT_EXPORT void weft_fswatch_close(weft_fswatch_t *watch);

/* The watched path, as stored (trailing slashes removed). Owned by the
 * watcher. */
WEFT_EXPORT const char *weft_fswatch_path(const weft_fswatch_t *watch);

/* "created", "modified", "deleted", "moved", "attrib", "overflow", or "?"
 * for anything else. Static storage. */
WEFT_EXPORT const char *weft_fsevent_name(weft_fsevent_kind_t kind);

#ifdef __cplusplus
}
#endif
#endif
