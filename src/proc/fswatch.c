/* File watching over inotify: one inotify instance per watcher, one watch
 * per directory of the tree, a table from watch descriptor to the
 * directory's path below the root, and a queue of events in weft's shape.
 *
 * Reading is done by the task that asks for an event (weft_fswatch_next)
 * or by the watcher's own task (weft_fswatch_start): a read takes whatever
 * the kernel holds (up to READ_BUF bytes), turns all of it into queued
 * events, and only then returns the first, so a cancellation never loses
 * what was read. Within such a batch the two halves of a rename are paired
 * by their cookie; a batch that ends with a half unpaired is extended by
 * one more read if the kernel has more, since the two halves are queued one
 * after the other within the rename.
 *
 * Recursion: a directory that appears (created, moved in) gets its watch,
 * then is read, so whatever was made in it before the watch existed is
 * found; those entries are reported as CREATED and remembered, so that
 * their own IN_CREATE, if it comes after all, is not reported twice. A
 * directory renamed inside the tree keeps its watches (inotify follows the
 * inode); only the paths of its subtree change. One that is moved out
 * loses its watches; one that is removed loses them by itself (IN_IGNORED).
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../task/io.h"
#include "proc_int.h"

#define READ_BUF (64 * 1024) /* a read takes at most this much */
#define EXTRA_READS 4         /* reads that may extend a batch for a rename */

/* A watched directory (or the watched path itself). */
struct watch {
    int wd;
    char *rel; /* path below the root; "" for the root */
    struct watch *hnext;
    char **scanned; /* names reported by reading it, whose IN_CREATE may
                       still come */
    size_t nscanned, capscanned;
    unsigned walked; /* the last walk that visited it */
};

struct qev {
    weft_fsevent_kind_t kind;
    unsigned flags;
    char *path, *old_path;
};

/* An IN_MOVED_FROM of the current batch waiting for its IN_MOVED_TO. */
struct move {
    uint32_t cookie;
    size_t qi;     /* its event in the queue */
    char *old_rel; /* for directories: the subtree's old path */
    bool isdir;
};

struct weft_fswatch {
    weft_loop_t *loop;
    struct weft__list link; /* in hub->watchers */
    int fd;
    struct weft__io io;
    unsigned flags;
    uint32_t mask;
    char *root;
    size_t root_len;
    unsigned root_flags; /* WEFT_FS_ISDIR if the watched path is a directory
                            (IN_DELETE_SELF does not say) */

    struct watch **buckets; /* wd -> watch */
    size_t nbuckets, nwatches;
    struct watch *rootw;

    struct qev *q; /* queue: q[qhead..qlen) */
    size_t qhead, qlen, qcap;
    struct qev last; /* handed out; freed at the next call */

    struct move *moves;
    size_t nmoves, capmoves;
    char *buf;

    unsigned walks;  /* walks so far (see struct watch.walked) */
    int ended;       /* 0, or what next() returns once the queue is empty */
    unsigned refs;   /* the user's, a waiting next()'s, the callback task's */
    bool busy;       /* a task waits in next() */
    bool shut;       /* kernel side released (closed by the user or loop) */
    bool closed;     /* weft_fswatch_close() was called */
    weft_fswatch_fn fn;
    void *arg;
    weft_task_t *task; /* the callback form's task */
};

/* ---- per-loop list of watchers ------------------------------------------------ */

struct fs_hub {
    struct weft__hook close_hook, free_hook;
    struct weft__list watchers;
};

static void hub_close(weft_loop_t *loop, struct weft__hook *h);
static void hub_free(weft_loop_t *loop, struct weft__hook *h);

static struct fs_hub *hub_get(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, hub_close);
    if (h)
        return WEFT__CONTAINER_OF(h, struct fs_hub, close_hook);
    struct fs_hub *hub = weft__calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    weft__list_init(&hub->watchers);
    weft__hook_add(loop, &hub->close_hook, WEFT__PHASE_PROC, hub_close);
    weft__hook_add(loop, &hub->free_hook, WEFT__PHASE_FREE, hub_free);
    return hub;
}

/* ---- strings ------------------------------------------------------------------- */

static char *str_dup(const char *s, size_t n) {
    char *d = weft__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* The parts that are not empty, joined by '/' (none after a part that
 * ends in one, as the root "/"), in one allocation; c may be NULL. */
static char *join(const char *a, const char *b, const char *c) {
    const char *part[3] = {a, b, c ? c : ""};
    size_t len[3], total = 3; /* two separators at most, and the NUL */
    for (int i = 0; i < 3; i++)
        total += len[i] = strlen(part[i]);
    char *d = weft__malloc(total);
    if (!d)
        return NULL;
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (!len[i])
            continue;
        if (n > 0 && d[n - 1] != '/')
            d[n++] = '/';
        memcpy(d + n, part[i], len[i]);
        n += len[i];
    }
    d[n] = 0;
    return d;
}

/* The full path of `rel` (below the root), optionally of `name` in it. */
static char *full_path(const struct weft_fswatch *w, const char *rel,
                       const char *name) {
    return join(w->root, rel, name);
}

static char *rel_path(const char *rel, const char *name) {
    return join(rel, name, NULL);
}

/* ---- the table of watches --------------------------------------------------------- */

static struct watch **bucket(const struct weft_fswatch *w, int wd) {
    return &w->buckets[(size_t)(unsigned)wd & (w->nbuckets - 1)];
}

static struct watch *watch_find(const struct weft_fswatch *w, int wd) {
    for (struct watch *d = *bucket(w, wd); d; d = d->hnext)
        if (d->wd == wd)
            return d;
    return NULL;
}

static int table_grow(struct weft_fswatch *w) {
    size_t n = w->nbuckets ? w->nbuckets * 2 : 16;
    struct watch **nb = weft__calloc(n, sizeof *nb);
    if (!nb)
        return -ENOMEM;
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct watch *d = w->buckets[i], *next;
        for (; d; d = next) {
            next = d->hnext;
            struct watch **b = &nb[(size_t)(unsigned)d->wd & (n - 1)];
            d->hnext = *b;
            *b = d;
        }
    }
    weft__free(w->buckets);
    w->buckets = nb;
    w->nbuckets = n;
    return 0;
}

static void watch_free(struct watch *d) {
    for (size_t i = 0; i < d->nscanned; i++)
        weft__free(d->scanned[i]);
    weft__free(d->scanned);
    weft__free(d->rel);
    weft__free(d);
}

/* Record wd as `rel` (taking ownership of rel). */
static int watch_insert(struct weft_fswatch *w, int wd, char *rel,
                        struct watch **out) {
    if (w->nwatches >= w->nbuckets && table_grow(w)) {
        weft__free(rel);
        return -ENOMEM;
    }
    struct watch *d = weft__calloc(1, sizeof *d);
    if (!d) {
        weft__free(rel);
        return -ENOMEM;
    }
    d->wd = wd;
    d->rel = rel;
    struct watch **b = bucket(w, wd);
    d->hnext = *b;
    *b = d;
    w->nwatches++;
    *out = d;
    return 0;
}

static void watch_remove(struct weft_fswatch *w, struct watch *d) {
    struct watch **p = bucket(w, d->wd);
    while (*p != d)
        p = &(*p)->hnext;
    *p = d->hnext;
    w->nwatches--;
    if (d == w->rootw)
        w->rootw = NULL;
    watch_free(d);
}

static void table_clear(struct weft_fswatch *w) {
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct watch *d = w->buckets[i], *next;
        for (; d; d = next) {
            next = d->hnext;
            watch_free(d);
        }
        w->buckets[i] = NULL;
    }
    w->nwatches = 0;
    w->rootw = NULL;
}

/* Is `rel` the directory `top` or below it? */
static bool in_subtree(const char *rel, const char *top, size_t toplen) {
    return strncmp(rel, top, toplen) == 0 &&
           (rel[toplen] == 0 || rel[toplen] == '/');
}

/* Stop watching a subtree that left the tree. */
static void drop_subtree(struct weft_fswatch *w, const char *top) {
    size_t toplen = strlen(top);
    for (size_t i = 0; i < w->nbuckets; i++) {
        struct watch *d = w->buckets[i], *next;
        for (; d; d = next) {
            next = d->hnext;
            if (d != w->rootw && in_subtree(d->rel, top, toplen)) {
                inotify_rm_watch(w->fd, d->wd);
                watch_remove(w, d);
            }
        }
    }
}

/* A directory of the tree was renamed from `from` to `to`: so were the
 * paths of its subtree. */
static int rename_subtree(struct weft_fswatch *w, const char *from,
                          const char *to) {
    size_t flen = strlen(from);
    for (size_t i = 0; i < w->nbuckets; i++) {
        for (struct watch *d = w->buckets[i]; d; d = d->hnext) {
            if (d == w->rootw || !in_subtree(d->rel, from, flen))
                continue;
            char *n = join(to, d->rel + flen + (d->rel[flen] ? 1 : 0), NULL);
            if (!n)
                return -ENOMEM;
            weft__free(d->rel);
            d->rel = n;
        }
    }
    return 0;
}

/* Names a directory's reading reported: take `name` out if it is there. */
static bool scanned_take(struct watch *d, const char *name) {
    for (size_t i = 0; i < d->nscanned; i++) {
        if (strcmp(d->scanned[i], name) == 0) {
            weft__free(d->scanned[i]);
            d->scanned[i] = d->scanned[--d->nscanned];
            return true;
        }
    }
    return false;
}

static int scanned_add(struct watch *d, const char *name) {
    if (d->nscanned == d->capscanned) {
        size_t cap = d->capscanned ? d->capscanned * 2 : 8;
        char **n = weft__realloc(d->scanned, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        d->scanned = n;
        d->capscanned = cap;
    }
    char *s = str_dup(name, strlen(name));
    if (!s)
        return -ENOMEM;
    d->scanned[d->nscanned++] = s;
    return 0;
}

/* ---- the event queue ------------------------------------------------------------------ */

static void qev_free(struct qev *e) {
    weft__free(e->path);
    weft__free(e->old_path);
    e->path = e->old_path = NULL;
}

/* Queue an event (taking ownership of path). Stores its index in *qi. */
static int push(struct weft_fswatch *w, weft_fsevent_kind_t kind,
                unsigned flags, char *path, size_t *qi) {
    if (!path)
        return -ENOMEM;
    if (w->qlen == w->qcap) {
        if (w->qhead > 0) { /* slide down before growing */
            memmove(w->q, w->q + w->qhead,
                    (w->qlen - w->qhead) * sizeof *w->q);
            w->qlen -= w->qhead;
            for (size_t i = 0; i < w->nmoves; i++)
                w->moves[i].qi -= w->qhead;
            w->qhead = 0;
        }
        if (w->qlen == w->qcap) {
            size_t cap = w->qcap ? w->qcap * 2 : 64;
            struct qev *n = weft__realloc(w->q, cap * sizeof *n);
            if (!n) {
                weft__free(path);
                return -ENOMEM;
            }
            w->q = n;
            w->qcap = cap;
        }
    }
    struct qev *e = &w->q[w->qlen];
    e->kind = kind;
    e->flags = flags;
    e->path = path;
    e->old_path = NULL;
    if (qi)
        *qi = w->qlen;
    w->qlen++;
    return 0;
}

/* ---- adding directories ------------------------------------------------------------------ */

static bool is_dir_entry(DIR *dir, const struct dirent *de) {
    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    struct stat st;
    return fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISDIR(st.st_mode);
}

/* Errors that stop a walk: the others (no permission, gone meanwhile, not
 * a directory any more) only skip that directory. */
static bool fatal(int err) {
    return err == -ENOMEM || err == -ENOSPC || err == -EMFILE ||
           err == -ENFILE;
}

/* Watch the directory `rel` (not the root). *fresh tells whether it was
 * watched already: met again after an overflow (its path may be stale: it
 * takes `rel`), or a second time in this walk (a bind mount: it keeps its
 * first path). Takes ownership of rel. */
static int add_dir(struct weft_fswatch *w, char *rel, struct watch **out,
                   bool *fresh) {
    char *full = full_path(w, rel, NULL);
    if (!full) {
        weft__free(rel);
        return -ENOMEM;
    }
    uint32_t mask = (w->mask & ~(uint32_t)(IN_DELETE_SELF | IN_MOVE_SELF)) |
                    IN_ONLYDIR | IN_DONT_FOLLOW;
    int wd = inotify_add_watch(w->fd, full, mask);
    int err = wd < 0 ? -errno : 0;
    weft__free(full);
    if (err) {
        weft__free(rel);
        return err;
    }
    struct watch *d = watch_find(w, wd);
    *fresh = d == NULL;
    if (d) {
        if (d != w->rootw && d->walked != w->walks) {
            weft__free(d->rel);
            d->rel = rel;
        } else {
            weft__free(rel);
        }
        *out = d;
        return 0;
    }
    return watch_insert(w, wd, rel, out);
}

/* A growable stack of relative paths still to visit. */
struct todo {
    char **v;
    size_t n, cap;
};

static int todo_push(struct todo *t, char *rel) {
    if (!rel)
        return -ENOMEM;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **v = weft__realloc(t->v, cap * sizeof *v);
        if (!v) {
            weft__free(rel);
            return -ENOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = rel;
    return 0;
}

/* Read the watched directory d: queue its subdirectories on `todo`, and
 * with `report` report each entry as CREATED (remembering the names, so
 * that their own IN_CREATE is not reported again). Returns 0, or an error
 * of opendir (a fatal() one stops the walk). */
static int read_dir(struct weft_fswatch *w, struct watch *d, bool report,
                    struct todo *todo) {
    char *full = full_path(w, d->rel, NULL);
    if (!full)
        return -ENOMEM;
    DIR *dir = opendir(full);
    int err = dir ? 0 : weft__neg_errno();
    weft__free(full);
    struct dirent *de;
    while (!err && (de = readdir(dir))) {
        const char *n = de->d_name;
        if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
            continue;
        bool isdir = is_dir_entry(dir, de);
        if (report) {
            err = push(w, WEFT_FS_CREATED, isdir ? WEFT_FS_ISDIR : 0,
                       full_path(w, d->rel, n), NULL);
            if (!err)
                err = scanned_add(d, n);
        }
        if (!err && isdir)
            err = todo_push(todo, rel_path(d->rel, n));
    }
    if (dir)
        closedir(dir);
    return err;
}

/* Watch `top` and every directory below it. With `report`, everything found
 * below `top` is reported as CREATED (a directory that just appeared: what
 * was made in it before its watch existed). With `strict` (opening), any
 * error about `top` itself is returned; errors about directories below only
 * skip them, except those that would skip everything (fatal()). Takes
 * ownership of top; an empty top is the root, whose watch exists already;
 * a NULL top (its allocation failed) gives -ENOMEM. */
static int walk(struct weft_fswatch *w, char *top, bool report, bool strict) {
    struct todo todo = {0};
    int err = todo_push(&todo, top);
    bool first = true;
    w->walks++;
    while (!err && todo.n) {
        char *rel = todo.v[--todo.n];
        struct watch *d = w->rootw;
        bool fresh = false;
        int e = 0;
        if (*rel)
            e = add_dir(w, rel, &d, &fresh); /* takes rel */
        else
            weft__free(rel);
        /* Read it unless it could not be watched, this walk has been there
         * (a bind mount looping back into the tree), or (when reporting)
         * it was watched and read already. */
        if (!e && d->walked != w->walks && (fresh || !report)) {
            d->walked = w->walks;
            e = read_dir(w, d, report, &todo);
        }
        if (e && (fatal(e) || (strict && first)))
            err = e;
        first = false;
    }
    for (size_t i = 0; i < todo.n; i++)
        weft__free(todo.v[i]);
    weft__free(todo.v);
    return err;
}

/* walk() while running: a directory that could not be watched is said
 * once and skipped; only -ENOMEM is returned. */
static int walk_running(struct weft_fswatch *w, char *top, bool report) {
    int err = walk(w, top, report, false);
    if (err == -ENOMEM)
        return err;
    if (err)
        weft__log(WEFT_LOG_WARN, "weft_fswatch %s: a new directory cannot "
                                 "be watched: %s",
                  w->root, weft_strerror(err));
    return 0;
}

/* ---- turning inotify events into weft events ------------------------------------------------ */

/* The watched path itself is gone: report it and stop. */
static int end_watch(struct weft_fswatch *w, unsigned flags) {
    int err = push(w, WEFT_FS_DELETED, flags, str_dup(w->root, w->root_len),
                   NULL);
    for (size_t i = 0; i < w->nbuckets; i++)
        for (struct watch *d = w->buckets[i]; d; d = d->hnext)
            inotify_rm_watch(w->fd, d->wd);
    table_clear(w);
    w->ended = -ENOENT;
    return err;
}

static int moved_from(struct weft_fswatch *w, struct watch *d,
                      const struct inotify_event *ev, unsigned df) {
    if (w->nmoves == w->capmoves) {
        size_t cap = w->capmoves ? w->capmoves * 2 : 8;
        struct move *n = weft__realloc(w->moves, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        w->moves = n;
        w->capmoves = cap;
    }
    struct move *mv = &w->moves[w->nmoves];
    mv->cookie = ev->cookie;
    mv->isdir = df & WEFT_FS_ISDIR;
    mv->old_rel = rel_path(d->rel, ev->name);
    if (!mv->old_rel)
        return -ENOMEM;
    /* Queued where it happened; becomes MOVED or DELETED at the end. */
    int err = push(w, WEFT_FS_DELETED, df | WEFT_FS_MOVED_AWAY,
                   full_path(w, d->rel, ev->name), &mv->qi);
    if (err) {
        weft__free(mv->old_rel);
        return err;
    }
    w->nmoves++;
    return 0;
}

static int moved_to(struct weft_fswatch *w, struct watch *d,
                    const struct inotify_event *ev, unsigned df) {
    bool recursive = w->flags & WEFT_FSWATCH_RECURSIVE;
    size_t i = 0;
    while (i < w->nmoves && w->moves[i].cookie != ev->cookie)
        i++;
    if (i == w->nmoves) { /* from outside the tree */
        int err = push(w, WEFT_FS_CREATED, df | WEFT_FS_MOVED_IN,
                       full_path(w, d->rel, ev->name), NULL);
        if (err || !recursive || !(df & WEFT_FS_ISDIR))
            return err;
        return walk_running(w, rel_path(d->rel, ev->name), false);
    }
    struct move *mv = &w->moves[i];
    char *path = full_path(w, d->rel, ev->name);
    if (!path)
        return -ENOMEM;
    if (recursive && mv->isdir) {
        char *rel = rel_path(d->rel, ev->name);
        int err = rel ? rename_subtree(w, mv->old_rel, rel) : -ENOMEM;
        weft__free(rel);
        if (err) {
            weft__free(path);
            return err;
        }
    }
    struct qev *e = &w->q[mv->qi];
    e->kind = WEFT_FS_MOVED;
    e->flags &= ~(unsigned)WEFT_FS_MOVED_AWAY;
    e->old_path = e->path;
    e->path = path;
    weft__free(mv->old_rel);
    *mv = w->moves[--w->nmoves];
    return 0;
}

static int created(struct weft_fswatch *w, struct watch *d,
                   const struct inotify_event *ev, unsigned df) {
    if (scanned_take(d, ev->name))
        return 0; /* reported when its directory was read */
    int err = push(w, WEFT_FS_CREATED, df, full_path(w, d->rel, ev->name),
                   NULL);
    if (err || !(w->flags & WEFT_FSWATCH_RECURSIVE) || !(df & WEFT_FS_ISDIR))
        return err;
    return walk_running(w, rel_path(d->rel, ev->name), true);
}

static int handle(struct weft_fswatch *w, const struct inotify_event *ev) {
    uint32_t m = ev->mask;
    if (w->ended)
        return 0;
    if (m & IN_Q_OVERFLOW) {
        int err = push(w, WEFT_FS_OVERFLOW, 0, str_dup(w->root, w->root_len),
                       NULL);
        /* Directories made meanwhile were missed: watch them now. */
        if (!err && (w->flags & WEFT_FSWATCH_RECURSIVE))
            err = walk_running(w, str_dup("", 0), false);
        return err;
    }
    struct watch *d = watch_find(w, ev->wd);
    if (!d)
        return 0; /* a watch removed meanwhile */
    unsigned df = (m & IN_ISDIR) ? WEFT_FS_ISDIR : 0;
    if (m & IN_IGNORED) { /* the kernel dropped the watch */
        if (d == w->rootw) /* e.g. its file system was unmounted */
            return end_watch(w, w->root_flags);
        watch_remove(w, d);
        return 0;
    }
    const char *name = ev->len ? ev->name : "";
    if (!*name) { /* about a watched directory itself */
        if (d != w->rootw)
            return 0; /* its parent reports it */
        df = w->root_flags; /* IN_DELETE_SELF does not say */
        if (m & IN_DELETE_SELF)
            return end_watch(w, df);
        if (m & IN_MOVE_SELF)
            return end_watch(w, df | WEFT_FS_MOVED_AWAY);
    } else if (m & IN_CREATE) {
        return created(w, d, ev, df);
    } else if (m & (IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE)) {
        /* What a reading reported under this name is gone or replaced:
         * an IN_CREATE of the name from now on is a new entry. */
        scanned_take(d, name);
        if (m & IN_MOVED_FROM)
            return moved_from(w, d, ev, df);
        if (m & IN_MOVED_TO)
            return moved_to(w, d, ev, df);
        return push(w, WEFT_FS_DELETED, df, full_path(w, d->rel, name), NULL);
    }
    /* Changes, of an entry or of the root itself (whose rel and name are
     * empty: its path is the root's). */
    if (m & IN_ATTRIB)
        return push(w, WEFT_FS_ATTRIB, df, full_path(w, d->rel, name), NULL);
    if (m & (IN_MODIFY | IN_CLOSE_WRITE))
        return push(w, WEFT_FS_MODIFIED, df, full_path(w, d->rel, name),
                    NULL);
    return 0;
}

static int process(struct weft_fswatch *w, size_t n) {
    size_t off = 0;
    while (off + sizeof(struct inotify_event) <= n) {
        const struct inotify_event *ev =
            (const struct inotify_event *)(const void *)(w->buf + off);
        off += sizeof *ev + ev->len;
        int err = handle(w, ev);
        if (err)
            return err;
    }
    return 0;
}

/* The end of a batch: halves of renames still unpaired left the tree. */
static void resolve_moves(struct weft_fswatch *w) {
    for (size_t i = 0; i < w->nmoves; i++) {
        struct move *mv = &w->moves[i];
        if (mv->isdir && (w->flags & WEFT_FSWATCH_RECURSIVE) && !w->ended)
            drop_subtree(w, mv->old_rel);
        weft__free(mv->old_rel);
    }
    w->nmoves = 0;
}

/* Turn n bytes read into events; extend the batch while a rename is half
 * seen and the kernel has more. */
static int take_batch(struct weft_fswatch *w, size_t n) {
    int err = process(w, n);
    for (int i = 0; !err && w->nmoves && i < EXTRA_READS; i++) {
        ssize_t more = read(w->fd, w->buf, READ_BUF);
        if (more <= 0)
            break;
        err = process(w, (size_t)more);
    }
    resolve_moves(w);
    return err;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static void release_kernel(struct weft_fswatch *w) {
    if (w->shut)
        return;
    w->shut = true;
    weft__io_close(w->loop, &w->io); /* wakes a waiting next(): -EBADF */
    close(w->fd);                    /* drops every watch */
    w->fd = -1;
    table_clear(w);
}

static void watch_destroy(struct weft_fswatch *w) {
    weft__list_remove(&w->link);
    table_clear(w);
    weft__free(w->buckets);
    for (size_t i = w->qhead; i < w->qlen; i++)
        qev_free(&w->q[i]);
    weft__free(w->q);
    qev_free(&w->last);
    resolve_moves(w);
    weft__free(w->moves);
    weft__free(w->buf);
    weft__free(w->root);
    weft__free(w);
}

static void unref(struct weft_fswatch *w) {
    if (--w->refs > 0)
        return;
    weft_task_t *t = w->task;
    watch_destroy(w);
    weft_task_release(t); /* may be the running task: it still finishes */
}

/* ---- the public calls ------------------------------------------------------------------------- */

static const uint32_t BASE_MASK = IN_CREATE | IN_DELETE | IN_ATTRIB |
                                  IN_MOVED_FROM | IN_MOVED_TO |
                                  IN_DELETE_SELF | IN_MOVE_SELF |
                                  IN_EXCL_UNLINK;

static int open_kernel(struct weft_fswatch *w) {
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0)
        return -errno;
    uint32_t mask = w->mask;
    if (w->flags & WEFT_FSWATCH_RECURSIVE)
        mask |= IN_ONLYDIR;
    int wd = inotify_add_watch(w->fd, w->root, mask);
    if (wd < 0)
        return -errno;
    struct stat st;
    if (stat(w->root, &st) == 0 && S_ISDIR(st.st_mode))
        w->root_flags = WEFT_FS_ISDIR;
    char *rel = str_dup("", 0);
    if (!rel)
        return -ENOMEM;
    int err = watch_insert(w, wd, rel, &w->rootw);
    if (err)
        return err;
    if (w->flags & WEFT_FSWATCH_RECURSIVE) {
        err = walk(w, str_dup("", 0), false, true);
        if (err)
            return err;
    }
    return weft__io_open(w->loop, &w->io, w->fd);
}

int weft_fswatch_open(weft_loop_t *loop, const char *path, unsigned flags,
                      weft_fswatch_t **out) {
    if (out)
        *out = NULL;
    int err = weft__loop_check(loop, "weft_fswatch_open");
    if (err)
        return err;
    if (!path || !*path || !out ||
        (flags & ~(unsigned)(WEFT_FSWATCH_RECURSIVE | WEFT_FSWATCH_CLOSE_WRITE)))
        return -EINVAL;
    if (loop->closing || loop->closed)
        return -ESHUTDOWN;
    struct fs_hub *hub = hub_get(loop);
    if (!hub)
        return -ENOMEM;
    struct weft_fswatch *w = weft__calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    weft__list_init(&w->link);
    w->loop = loop;
    w->fd = -1;
    w->flags = flags;
    w->mask = BASE_MASK |
              ((flags & WEFT_FSWATCH_CLOSE_WRITE) ? IN_CLOSE_WRITE : IN_MODIFY);
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    w->root = str_dup(path, len);
    w->root_len = len;
    w->buf = weft__malloc(READ_BUF);
    err = w->root && w->buf ? table_grow(w) : -ENOMEM;
    if (!err)
        err = open_kernel(w);
    if (err) {
        if (w->fd >= 0)
            close(w->fd);
        watch_destroy(w);
        return err;
    }
    w->refs = 1;
    weft__list_push_back(&hub->watchers, &w->link);
    *out = w;
    return 0;
}

static void hand_out(struct weft_fswatch *w, weft_fsevent_t *ev) {
    w->last = w->q[w->qhead++];
    if (w->qhead == w->qlen)
        w->qhead = w->qlen = 0;
    ev->kind = w->last.kind;
    ev->flags = w->last.flags;
    ev->path = w->last.path;
    ev->old_path = w->last.old_path;
}

/* The next event, reading and waiting as needed. */
static int next_event(struct weft_fswatch *w, weft_fsevent_t *ev) {
    qev_free(&w->last);
    while (w->qhead == w->qlen) {
        if (w->ended)
            return w->ended;
        if (w->shut)
            return -EBADF;
        w->busy = true;
        w->refs++;
        ssize_t n = weft__op_read(&w->io, w->buf, READ_BUF);
        w->busy = false;
        if (w->shut) { /* closed while we waited: maybe the last holder */
            unref(w);
            return -EBADF;
        }
        w->refs--;
        if (n < 0)
            return (int)n;
        int err = take_batch(w, (size_t)n);
        if (err && w->qhead == w->qlen)
            return err;
    }
    hand_out(w, ev);
    return 0;
}

int weft_fswatch_next(weft_fswatch_t *w, weft_fsevent_t *ev) {
    struct weft_task *t = weft__task_require("weft_fswatch_next");
    if (!t)
        return -EPERM;
    if (!w || !ev)
        return -EINVAL;
    if (w->loop != t->loop) {
        WEFT__MISUSE("weft_fswatch_next", "the watcher belongs to another "
                                          "loop");
        return -EPERM;
    }
    if (w->closed)
        return -EBADF;
    if (w->busy || w->fn)
        return -EBUSY;
    return next_event(w, ev);
}

static int callback_task(void *arg) {
    struct weft_fswatch *w = arg;
    for (;;) {
        weft_fsevent_t ev;
        int r = next_event(w, &ev);
        if (w->closed || w->shut || r == -ECANCELED)
            break;
        if (r < 0) {
            w->fn(w, NULL, r, w->arg); /* the watcher stopped by itself */
            break;
        }
        w->fn(w, &ev, 0, w->arg);
        if (w->closed)
            break;
    }
    unref(w);
    return 0;
}

int weft_fswatch_start(weft_fswatch_t *w, weft_fswatch_fn fn, void *arg) {
    if (!w || !fn)
        return -EINVAL;
    int err = weft__loop_check(w->loop, "weft_fswatch_start");
    if (err)
        return err;
    if (w->fn || w->busy)
        return -EBUSY;
    if (w->shut || w->loop->closing)
        return -ESHUTDOWN;
    weft_spawn_opts_t so = {.name = "weft-fswatch"};
    err = weft_loop_spawn(w->loop, &w->task, callback_task, w, &so);
    if (err)
        return err;
    w->fn = fn;
    w->arg = arg;
    w->refs++;
    return 0;
}

void weft_fswatch_close(weft_fswatch_t *w) {
    if (!w || w->closed)
        return;
    if (!w->shut && weft__loop_check(w->loop, "weft_fswatch_close"))
        return;
    w->closed = true;
    if (w->task && !weft_task_done(w->task) && !w->shut)
        weft_task_cancel(w->task);
    release_kernel(w);
    unref(w);
}

const char *weft_fswatch_path(const weft_fswatch_t *w) {
    return w ? w->root : "";
}

const char *weft_fsevent_name(weft_fsevent_kind_t kind) {
    switch (kind) {
    case WEFT_FS_CREATED:
        return "created";
    case WEFT_FS_MODIFIED:
        return "modified";
    case WEFT_FS_DELETED:
        return "deleted";
    case WEFT_FS_MOVED:
        return "moved";
    case WEFT_FS_ATTRIB:
        return "attrib";
    case WEFT_FS_OVERFLOW:
        return "overflow";
    }
    return "?";
}

/* ---- loop close and free ------------------------------------------------------------------------ */

/* Tasks are gone: release the kernel side of watchers left open, and the
 * callback tasks (finished now): the task layer may free its memory at
 * WEFT__PHASE_FREE before hub_free runs. */
static void hub_close(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct fs_hub *hub = WEFT__CONTAINER_OF(h, struct fs_hub, close_hook);
    struct weft__list *pos;
    for (pos = hub->watchers.next; pos != &hub->watchers; pos = pos->next) {
        struct weft_fswatch *w = WEFT__CONTAINER_OF(pos, struct weft_fswatch,
                                                    link);
        release_kernel(w);
        weft_task_release(w->task);
        w->task = NULL;
    }
}

static void hub_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct fs_hub *hub = WEFT__CONTAINER_OF(h, struct fs_hub, free_hook);
    size_t n = 0;
    struct weft__list *l;
    while ((l = weft__list_pop_front(&hub->watchers))) {
        struct weft_fswatch *w = WEFT__CONTAINER_OF(l, struct weft_fswatch,
                                                    link);
        weft__list_init(&w->link);
        watch_destroy(w);
        n++;
    }
    if (n)
        weft__log(WEFT_LOG_WARN,
                  "weft_loop_free: %zu file watcher(s) still open; freed "
                  "with the loop",
                  n);
    weft__free(hub);
}
