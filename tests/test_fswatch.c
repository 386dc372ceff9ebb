/* File watching (weft/fswatch.h) on temporary directories.
 *
 * inotify queues an event inside the system call that causes it, so each
 * test makes its changes first and then reads the events, on a loop with a
 * virtual clock: a wait inside a deadline scope returns the event if the
 * kernel has it, and -ETIMEDOUT at once (no real time passes) if it does
 * not. That makes both "this event comes" and "nothing more comes"
 * deterministic, with no timing involved. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

/* ---- temporary directories ------------------------------------------------------------- */

static char *make_tmpdir(void) {
    const char *base = tmp_dir();
    char *p = malloc(strlen(base) + 32);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/weft-fswatch-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(p));
    return p;
}

static void rm_rf(char *dir) {
    rm_tree(dir);
    free(dir);
}

static char pathbuf[8][4096];
static int pathnext;

/* dir + "/" + rel, in a rotating static buffer. */
static const char *at(const char *dir, const char *rel) {
    char *b = pathbuf[pathnext++ % 8];
    snprintf(b, sizeof pathbuf[0], "%s/%s", dir, rel);
    return b;
}

static void make_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    if (data)
        ck_assert_int_eq(write(fd, data, strlen(data)), (int)strlen(data));
    ck_assert_int_eq(close(fd), 0);
}

/* ---- expectations ------------------------------------------------------------------------ */

#define GUARD 10.0 /* virtual seconds: reached at once if nothing comes */

static int next_guarded(weft_fswatch_t *w, weft_fsevent_t *ev) {
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, GUARD, 0));
    int r = weft_fswatch_next(w, ev);
    weft_scope_exit(&s);
    return r;
}

/* The next event is `kind` for root/rel (old_rel for MOVED) with `flags`. */
static void expect(weft_fswatch_t *w, weft_fsevent_kind_t kind, const char *rel,
                   const char *old_rel, unsigned flags) {
    weft_fsevent_t ev;
    int r = next_guarded(w, &ev);
    ck_assert_msg(r == 0, "waiting for %s %s: %s", weft_fsevent_name(kind),
                  rel, weft_err_name(r));
    const char *root = weft_fswatch_path(w);
    char want[4096];
    if (rel)
        snprintf(want, sizeof want, "%s/%s", root, rel);
    else
        snprintf(want, sizeof want, "%s", root);
    ck_assert_msg(ev.kind == kind && strcmp(ev.path, want) == 0,
                  "expected %s %s, got %s %s", weft_fsevent_name(kind), want,
                  weft_fsevent_name(ev.kind), ev.path);
    ck_assert_msg(ev.flags == flags, "%s %s: flags %#x, expected %#x",
                  weft_fsevent_name(kind), want, ev.flags, flags);
    if (old_rel) {
        snprintf(want, sizeof want, "%s/%s", root, old_rel);
        ck_assert_ptr_nonnull(ev.old_path);
        ck_assert_str_eq(ev.old_path, want);
    } else {
        ck_assert_ptr_null(ev.old_path);
    }
}

/* Nothing more is queued. */
static void expect_none(weft_fswatch_t *w) {
    weft_fsevent_t ev;
    int r = next_guarded(w, &ev);
    ck_assert_msg(r == -ETIMEDOUT, "expected no event, got %s (%s %s)",
                  weft_err_name(r), r == 0 ? weft_fsevent_name(ev.kind) : "",
                  r == 0 ? ev.path : "");
}

/* ---- the kinds of events --------------------------------------------------------------------- */

static int file_events_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, dir, 0, &w));
    ck_assert_str_eq(weft_fswatch_path(w), dir);
    expect_none(w); /* nothing about what exists */

    make_file(at(dir, "a"), "hello");
    chmod(at(dir, "a"), 0600);
    ck_assert_int_eq(unlink(at(dir, "a")), 0);
    ck_assert_int_eq(mkdir(at(dir, "d"), 0755), 0);
    ck_assert_int_eq(rmdir(at(dir, "d")), 0);
    expect(w, WEFT_FS_CREATED, "a", NULL, 0);
    expect(w, WEFT_FS_MODIFIED, "a", NULL, 0);
    expect(w, WEFT_FS_ATTRIB, "a", NULL, 0);
    expect(w, WEFT_FS_DELETED, "a", NULL, 0);
    expect(w, WEFT_FS_CREATED, "d", NULL, WEFT_FS_ISDIR);
    expect(w, WEFT_FS_DELETED, "d", NULL, WEFT_FS_ISDIR);
    expect_none(w);
    /* The watched directory's own attributes. */
    chmod(dir, 0750);
    expect(w, WEFT_FS_ATTRIB, NULL, NULL, WEFT_FS_ISDIR);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(created_modified_attrib_deleted) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(file_events_main, dir));
    rm_rf(dir);
}
END_TEST

struct two_dirs {
    char *in, *out;
};

static int moves_main(void *arg) {
    struct two_dirs *d = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, d->in, 0, &w));
    make_file(at(d->in, "a"), NULL);
    ck_assert_int_eq(rename(at(d->in, "a"), at(d->in, "b")), 0);
    ck_assert_int_eq(rename(at(d->in, "b"), at(d->out, "b")), 0);
    make_file(at(d->out, "c"), NULL);
    ck_assert_int_eq(rename(at(d->out, "c"), at(d->in, "c")), 0);
    ck_assert_int_eq(mkdir(at(d->in, "sub"), 0755), 0);
    ck_assert_int_eq(rename(at(d->in, "sub"), at(d->in, "sub2")), 0);
    expect(w, WEFT_FS_CREATED, "a", NULL, 0);
    expect(w, WEFT_FS_MOVED, "b", "a", 0);
    expect(w, WEFT_FS_DELETED, "b", NULL, WEFT_FS_MOVED_AWAY);
    expect(w, WEFT_FS_CREATED, "c", NULL, WEFT_FS_MOVED_IN);
    expect(w, WEFT_FS_CREATED, "sub", NULL, WEFT_FS_ISDIR);
    expect(w, WEFT_FS_MOVED, "sub2", "sub", WEFT_FS_ISDIR);
    expect_none(w);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(moves_are_paired_or_become_created_and_deleted) {
    struct two_dirs d = {make_tmpdir(), make_tmpdir()};
    ck_assert_ok(run_virtual(moves_main, &d));
    rm_rf(d.in);
    rm_rf(d.out);
}
END_TEST

static int close_write_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, dir, WEFT_FSWATCH_CLOSE_WRITE, &w));
    int fd = open(at(dir, "f"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "one", 3), 3);
    ck_assert_int_eq(write(fd, "two", 3), 3);
    expect(w, WEFT_FS_CREATED, "f", NULL, 0);
    expect_none(w); /* written, not closed yet */
    ck_assert_int_eq(close(fd), 0);
    expect(w, WEFT_FS_MODIFIED, "f", NULL, 0);
    expect_none(w);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(close_write_reports_a_file_once_it_is_closed) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(close_write_main, dir));
    rm_rf(dir);
}
END_TEST

/* ---- recursive watches ---------------------------------------------------------------------- */

static int tree_main(void *arg) {
    struct two_dirs *d = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_int_eq(mkdir(at(d->in, "a"), 0755), 0);
    ck_assert_int_eq(mkdir(at(d->in, "a/b"), 0755), 0);
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, d->in, WEFT_FSWATCH_RECURSIVE, &w));
    expect_none(w);
    /* Deep in the tree that existed. */
    make_file(at(d->in, "a/b/f"), NULL);
    expect(w, WEFT_FS_CREATED, "a/b/f", NULL, 0);
    /* A directory renamed inside the tree: its subtree follows. */
    ck_assert_int_eq(rename(at(d->in, "a"), at(d->in, "z")), 0);
    make_file(at(d->in, "z/b/g"), NULL);
    ck_assert_int_eq(rename(at(d->in, "z/b/g"), at(d->in, "z/g")), 0);
    expect(w, WEFT_FS_MOVED, "z", "a", WEFT_FS_ISDIR);
    expect(w, WEFT_FS_CREATED, "z/b/g", NULL, 0);
    expect(w, WEFT_FS_MOVED, "z/g", "z/b/g", 0);
    expect_none(w);
    /* Moved out of the tree: no longer watched. */
    ck_assert_int_eq(rename(at(d->in, "z"), at(d->out, "z")), 0);
    expect(w, WEFT_FS_DELETED, "z", NULL, WEFT_FS_ISDIR | WEFT_FS_MOVED_AWAY);
    make_file(at(d->out, "z/b/h"), NULL);
    make_file(at(d->in, "marker"), NULL);
    expect(w, WEFT_FS_CREATED, "marker", NULL, 0);
    expect_none(w);
    /* Moved back in: watched again (what it holds is not reported). */
    ck_assert_int_eq(rename(at(d->out, "z"), at(d->in, "back")), 0);
    expect(w, WEFT_FS_CREATED, "back", NULL, WEFT_FS_ISDIR | WEFT_FS_MOVED_IN);
    expect_none(w);
    make_file(at(d->in, "back/b/i"), NULL);
    expect(w, WEFT_FS_CREATED, "back/b/i", NULL, 0);
    /* Removing a subtree. */
    ck_assert_int_eq(unlink(at(d->in, "back/b/i")), 0);
    ck_assert_int_eq(unlink(at(d->in, "back/b/f")), 0);
    ck_assert_int_eq(unlink(at(d->in, "back/b/h")), 0);
    ck_assert_int_eq(unlink(at(d->in, "back/g")), 0);
    ck_assert_int_eq(rmdir(at(d->in, "back/b")), 0);
    ck_assert_int_eq(rmdir(at(d->in, "back")), 0);
    expect(w, WEFT_FS_DELETED, "back/b/i", NULL, 0);
    expect(w, WEFT_FS_DELETED, "back/b/f", NULL, 0);
    expect(w, WEFT_FS_DELETED, "back/b/h", NULL, 0);
    expect(w, WEFT_FS_DELETED, "back/g", NULL, 0);
    expect(w, WEFT_FS_DELETED, "back/b", NULL, WEFT_FS_ISDIR);
    expect(w, WEFT_FS_DELETED, "back", NULL, WEFT_FS_ISDIR);
    expect_none(w);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(a_recursive_watch_follows_renames_and_moves_of_subtrees) {
    struct two_dirs d = {make_tmpdir(), make_tmpdir()};
    ck_assert_ok(run_virtual(tree_main, &d));
    rm_rf(d.in);
    rm_rf(d.out);
}
END_TEST

/* Collect events until none is left; count those of each wanted path. */
static void expect_set(weft_fswatch_t *w, const char *const *rels,
                       const unsigned *flags, size_t n) {
    int seen[16] = {0};
    ck_assert_uint_le(n, 16);
    const char *root = weft_fswatch_path(w);
    weft_fsevent_t ev;
    int r;
    while ((r = next_guarded(w, &ev)) == 0) {
        ck_assert_msg(ev.kind == WEFT_FS_CREATED, "unexpected %s %s",
                      weft_fsevent_name(ev.kind), ev.path);
        size_t i;
        for (i = 0; i < n; i++) {
            char want[4096];
            snprintf(want, sizeof want, "%s/%s", root, rels[i]);
            if (strcmp(ev.path, want) == 0)
                break;
        }
        ck_assert_msg(i < n, "unexpected created %s", ev.path);
        ck_assert_msg(ev.flags == flags[i], "%s: flags %#x", ev.path,
                      ev.flags);
        seen[i]++;
    }
    ck_assert_err(r, -ETIMEDOUT);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(seen[i] == 1, "%s reported %d times", rels[i], seen[i]);
}

static int new_subdir_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, dir, WEFT_FSWATCH_RECURSIVE, &w));
    /* All of this happens before the watcher reads a thing: only "new" has
     * an IN_CREATE (in the root's watch); the rest is found by reading the
     * new directories once they are watched. */
    ck_assert_int_eq(mkdir(at(dir, "new"), 0755), 0);
    ck_assert_int_eq(mkdir(at(dir, "new/deeper"), 0755), 0);
    make_file(at(dir, "new/deeper/f"), NULL);
    make_file(at(dir, "new/g"), NULL);
    /* A link back up the tree is an entry, never followed. */
    ck_assert_int_eq(symlink("..", at(dir, "new/up")), 0);
    const char *rels[] = {"new", "new/deeper", "new/deeper/f", "new/g",
                          "new/up"};
    const unsigned flags[] = {WEFT_FS_ISDIR, WEFT_FS_ISDIR, 0, 0, 0};
    expect_set(w, rels, flags, 5);
    /* From now on the new directories are watched. */
    make_file(at(dir, "new/deeper/h"), NULL);
    ck_assert_int_eq(mkdir(at(dir, "new/deeper/e"), 0755), 0);
    expect(w, WEFT_FS_CREATED, "new/deeper/h", NULL, 0);
    expect(w, WEFT_FS_CREATED, "new/deeper/e", NULL, WEFT_FS_ISDIR);
    make_file(at(dir, "new/deeper/e/x"), NULL);
    expect(w, WEFT_FS_CREATED, "new/deeper/e/x", NULL, 0);
    /* A name reported by a read and then re-created is reported again. */
    ck_assert_int_eq(unlink(at(dir, "new/g")), 0);
    make_file(at(dir, "new/g"), NULL);
    expect(w, WEFT_FS_DELETED, "new/g", NULL, 0);
    expect(w, WEFT_FS_CREATED, "new/g", NULL, 0);
    expect_none(w);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(a_recursive_watch_catches_files_made_in_a_new_subdirectory) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(new_subdir_main, dir));
    rm_rf(dir);
}
END_TEST

/* ---- overflow ------------------------------------------------------------------------------------ */

/* The kernel's queue limit for one inotify instance. */
static long queue_limit(void) {
    long n = 16384;
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 16384;
        fclose(f);
    }
    return n;
}

/* More events than the queue holds, without reading: alternating between
 * two files so the kernel cannot merge consecutive ones. */
static void flood(const char *dir) {
    long n = queue_limit() + 64;
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(chmod(at(dir, (i & 1) ? "b" : "a"),
                               (i & 2) ? 0600 : 0644),
                         0);
}

static int overflow_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    make_file(at(dir, "a"), NULL);
    make_file(at(dir, "b"), NULL);
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, dir, 0, &w));
    flood(dir);
    long before = 0;
    weft_fsevent_t ev;
    for (;;) {
        ck_assert_ok(next_guarded(w, &ev));
        if (ev.kind == WEFT_FS_OVERFLOW)
            break;
        ck_assert_int_eq(ev.kind, WEFT_FS_ATTRIB);
        before++;
    }
    ck_assert_str_eq(ev.path, dir);
    ck_assert_int_gt(before, 0);
    ck_assert_int_le(before, queue_limit());
    /* After the overflow, events flow again. */
    expect_none(w);
    chmod(at(dir, "a"), 0644);
    expect(w, WEFT_FS_ATTRIB, "a", NULL, 0);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(an_overflowing_queue_is_reported) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(overflow_main, dir));
    rm_rf(dir);
}
END_TEST

static int overflow_rescan_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    make_file(at(dir, "a"), NULL);
    make_file(at(dir, "b"), NULL);
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, dir, WEFT_FSWATCH_RECURSIVE, &w));
    flood(dir);
    /* Its IN_CREATE is lost: the queue is full. */
    ck_assert_int_eq(mkdir(at(dir, "late"), 0755), 0);
    weft_fsevent_t ev;
    do
        ck_assert_ok(next_guarded(w, &ev));
    while (ev.kind != WEFT_FS_OVERFLOW);
    expect_none(w); /* "late" itself was never reported */
    /* The walk after the overflow found it and watches it. */
    make_file(at(dir, "late/x"), NULL);
    expect(w, WEFT_FS_CREATED, "late/x", NULL, 0);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(after_an_overflow_a_recursive_watch_finds_missed_directories) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(overflow_rescan_main, dir));
    rm_rf(dir);
}
END_TEST

/* ---- the watched path itself ------------------------------------------------------------------- */

static int root_gone_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_fsevent_t ev;
    weft_fswatch_t *w;
    /* Removed. */
    ck_assert_int_eq(mkdir(at(dir, "r"), 0755), 0);
    ck_assert_ok(weft_fswatch_open(loop, at(dir, "r"), WEFT_FSWATCH_RECURSIVE,
                                   &w));
    ck_assert_int_eq(rmdir(at(dir, "r")), 0);
    expect(w, WEFT_FS_DELETED, NULL, NULL, WEFT_FS_ISDIR);
    ck_assert_err(weft_fswatch_next(w, &ev), -ENOENT);
    ck_assert_err(weft_fswatch_next(w, &ev), -ENOENT);
    weft_fswatch_close(w);
    /* Moved. */
    ck_assert_int_eq(mkdir(at(dir, "m"), 0755), 0);
    ck_assert_ok(weft_fswatch_open(loop, at(dir, "m"), 0, &w));
    ck_assert_int_eq(rename(at(dir, "m"), at(dir, "m2")), 0);
    expect(w, WEFT_FS_DELETED, NULL, NULL,
           WEFT_FS_ISDIR | WEFT_FS_MOVED_AWAY);
    ck_assert_err(weft_fswatch_next(w, &ev), -ENOENT);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(the_watched_directory_going_away_ends_the_watch) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(root_gone_main, dir));
    rm_rf(dir);
}
END_TEST

static int single_file_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    const char *file = at(dir, "watched");
    make_file(file, NULL);
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, file, 0, &w));
    make_file(at(dir, "other"), "x"); /* not this file: nothing */
    expect_none(w);
    int fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "data", 4), 4);
    ck_assert_int_eq(close(fd), 0);
    chmod(file, 0600);
    expect(w, WEFT_FS_MODIFIED, NULL, NULL, 0);
    expect(w, WEFT_FS_ATTRIB, NULL, NULL, 0);
    ck_assert_int_eq(unlink(file), 0);
    expect(w, WEFT_FS_ATTRIB, NULL, NULL, 0); /* its link count */
    expect(w, WEFT_FS_DELETED, NULL, NULL, 0);
    weft_fsevent_t ev;
    ck_assert_err(weft_fswatch_next(w, &ev), -ENOENT);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(a_single_file_is_watched) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(single_file_main, dir));
    rm_rf(dir);
}
END_TEST

/* ---- the callback form ---------------------------------------------------------------------------- */

struct cb_ctx {
    const char *dir;
    int n;
    int kinds[8];
    char paths[8][512];
    int end_err;
    int ends;
    bool in_task;
    bool close_at_3;
    weft_fswatch_t *w;
};

static void on_event(weft_fswatch_t *w, const weft_fsevent_t *ev, int err,
                     void *arg) {
    struct cb_ctx *c = arg;
    ck_assert_ptr_eq(w, c->w);
    c->in_task = weft_task_current() != NULL;
    if (!ev) {
        c->end_err = err;
        c->ends++;
        return;
    }
    ck_assert_int_eq(err, 0);
    ck_assert_int_lt(c->n, 8);
    c->kinds[c->n] = ev->kind;
    snprintf(c->paths[c->n], sizeof c->paths[0], "%s", ev->path);
    c->n++;
    if (c->close_at_3 && c->n == 3)
        weft_fswatch_close(w);
}

/* Sleep until the callback saw n events or the watch ended. */
static void await_callbacks(struct cb_ctx *c, int n) {
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, GUARD, 0));
    while (c->n < n && c->ends == 0)
        if (weft_sleep(0.01))
            break;
    weft_scope_exit(&s);
}

static int callback_main(void *arg) {
    struct cb_ctx *c = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(weft_fswatch_open(loop, c->dir, 0, &c->w));
    ck_assert_err(weft_fswatch_start(c->w, NULL, c), -EINVAL);
    ck_assert_ok(weft_fswatch_start(c->w, on_event, c));
    ck_assert_err(weft_fswatch_start(c->w, on_event, c), -EBUSY);
    weft_fsevent_t ev;
    ck_assert_err(weft_fswatch_next(c->w, &ev), -EBUSY);
    make_file(at(c->dir, "one"), NULL);
    ck_assert_int_eq(mkdir(at(c->dir, "two"), 0755), 0);
    await_callbacks(c, 2);
    ck_assert_int_eq(c->n, 2);
    ck_assert(c->in_task);
    ck_assert_int_eq(c->kinds[0], WEFT_FS_CREATED);
    ck_assert_str_eq(c->paths[0], at(c->dir, "one"));
    ck_assert_int_eq(c->kinds[1], WEFT_FS_CREATED);
    ck_assert_str_eq(c->paths[1], at(c->dir, "two"));
    /* The callback closes the watcher at its third event: no fourth. */
    c->close_at_3 = true;
    ck_assert_int_eq(unlink(at(c->dir, "one")), 0);
    ck_assert_int_eq(rmdir(at(c->dir, "two")), 0);
    await_callbacks(c, 4);
    ck_assert_int_eq(c->n, 3);
    ck_assert_int_eq(c->ends, 0);
    return 0;
}

START_TEST(the_callback_form_delivers_events_and_may_close) {
    char *dir = make_tmpdir();
    struct cb_ctx c = {.dir = dir};
    ck_assert_ok(run_virtual(callback_main, &c));
    rm_rf(dir);
}
END_TEST

static int callback_end_main(void *arg) {
    struct cb_ctx *c = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_int_eq(mkdir(at(c->dir, "r"), 0755), 0);
    ck_assert_ok(weft_fswatch_open(loop, at(c->dir, "r"), 0, &c->w));
    ck_assert_ok(weft_fswatch_start(c->w, on_event, c));
    ck_assert_int_eq(rmdir(at(c->dir, "r")), 0);
    await_callbacks(c, 100);
    ck_assert_int_eq(c->n, 1);
    ck_assert_int_eq(c->kinds[0], WEFT_FS_DELETED);
    ck_assert_int_eq(c->ends, 1);
    ck_assert_err(c->end_err, -ENOENT);
    weft_fswatch_close(c->w);
    return 0;
}

START_TEST(the_callback_hears_once_that_the_watch_ended) {
    char *dir = make_tmpdir();
    struct cb_ctx c = {.dir = dir};
    ck_assert_ok(run_virtual(callback_end_main, &c));
    rm_rf(dir);
}
END_TEST

/* A callback watcher left running when the loop closes stops quietly; the
 * user still closes it afterwards. */
static int callback_left_main(void *arg) {
    struct cb_ctx *c = arg;
    ck_assert_ok(weft_fswatch_open(weft_loop_current(), c->dir, 0, &c->w));
    ck_assert_ok(weft_fswatch_start(c->w, on_event, c));
    return weft_yield();
}

START_TEST(a_callback_watcher_stops_when_its_loop_closes) {
    char *dir = make_tmpdir();
    struct cb_ctx c = {.dir = dir};
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    weft_task_t *t;
    ck_assert_ok(weft_loop_spawn(loop, &t, callback_left_main, &c, NULL));
    ck_assert_ok(weft_loop_run_until_complete(loop, weft_task_future(t)));
    weft_task_release(t);
    ck_assert_ok(weft_loop_close(loop));
    ck_assert_int_eq(c.ends, 0);
    weft_fswatch_close(c.w); /* after close, before free: fine */
    logcap_start();
    weft_loop_free(loop);
    ck_assert_int_eq(logcap.n, 0);
    logcap_stop();
    rm_rf(dir);
}
END_TEST

/* Never closed at all: the loop frees it, and only says so. (The main
 * task made the task layer first, so its free hook runs before the
 * watchers': the callback task must not be referenced by then.) */
START_TEST(a_callback_watcher_never_closed_is_freed_with_the_loop) {
    char *dir = make_tmpdir();
    struct cb_ctx c = {.dir = dir};
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    weft_task_t *t;
    ck_assert_ok(weft_loop_spawn(loop, &t, callback_left_main, &c, NULL));
    ck_assert_ok(weft_loop_run_until_complete(loop, weft_task_future(t)));
    weft_task_release(t);
    logcap_start();
    weft_loop_free(loop);
    ck_assert_logged(1, "1 file watcher(s) still open");
    logcap_stop();
    ck_assert_int_eq(c.ends, 0);
    rm_rf(dir);
}
END_TEST

/* ---- cancellation, deadlines, closing ------------------------------------------------------------- */

struct waiter {
    weft_fswatch_t *w;
    int result;
};

static int wait_event(void *arg) {
    struct waiter *wt = arg;
    weft_fsevent_t ev;
    wt->result = weft_fswatch_next(wt->w, &ev);
    return 0;
}

static int cancel_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    struct waiter wt = {.result = 1};
    ck_assert_ok(weft_fswatch_open(loop, dir, 0, &wt.w));
    /* A deadline. */
    weft_scope_t s;
    weft_fsevent_t ev;
    double t0 = weft_loop_time(loop);
    ck_assert_ok(weft_scope_enter(&s, 3.0, 0));
    ck_assert_err(weft_fswatch_next(wt.w, &ev), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(loop) - t0, 3.0, 1e-9);
    /* A cancel, and a second waiter is refused meanwhile. */
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, wait_event, &wt, NULL));
    ck_assert_ok(weft_yield());
    ck_assert_err(weft_fswatch_next(wt.w, &ev), -EBUSY);
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    ck_assert_err(wt.result, -ECANCELED);
    /* Nothing was lost: the watcher still works. */
    make_file(at(dir, "after"), NULL);
    expect(wt.w, WEFT_FS_CREATED, "after", NULL, 0);
    /* Closed while another task waits: it gets -EBADF. */
    wt.result = 1;
    ck_assert_ok(weft_spawn(&t, wait_event, &wt, NULL));
    ck_assert_ok(weft_yield());
    weft_fswatch_close(wt.w);
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    ck_assert_err(wt.result, -EBADF);
    weft_fswatch_close(NULL);
    return 0;
}

START_TEST(waits_are_cancellable_and_a_close_wakes_the_waiter) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(cancel_main, dir));
    rm_rf(dir);
}
END_TEST

/* Events already read are not lost to a cancel that comes with them. */
static int queued_main(void *arg) {
    const char *dir = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_fswatch_t *w;
    ck_assert_ok(weft_fswatch_open(loop, dir, 0, &w));
    make_file(at(dir, "1"), NULL);
    make_file(at(dir, "2"), NULL);
    expect(w, WEFT_FS_CREATED, "1", NULL, 0); /* both read; one returned */
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 0, 0)); /* expired at once */
    weft_fsevent_t ev;
    ck_assert_ok(weft_fswatch_next(w, &ev)); /* queued: no wait */
    ck_assert_str_eq(ev.path, at(dir, "2"));
    ck_assert_err(weft_fswatch_next(w, &ev), -ETIMEDOUT);
    weft_scope_exit(&s);
    weft_fswatch_close(w);
    return 0;
}

START_TEST(queued_events_come_without_waiting) {
    char *dir = make_tmpdir();
    ck_assert_ok(run_virtual(queued_main, dir));
    rm_rf(dir);
}
END_TEST

/* ---- bad input and misuse ---------------------------------------------------------------------------- */

START_TEST(bad_paths_and_arguments_fail_cleanly) {
    char *dir = make_tmpdir();
    weft_loop_t *loop;
    ck_assert_ok(weft_loop_new(&loop, NULL));
    static int garbage;
    weft_fswatch_t *w = (weft_fswatch_t *)(void *)&garbage;
    ck_assert_err(weft_fswatch_open(loop, at(dir, "missing"), 0, &w), -ENOENT);
    ck_assert_ptr_null(w);
    ck_assert_err(weft_fswatch_open(loop, at(dir, "missing/deeper"),
                                    WEFT_FSWATCH_RECURSIVE, &w),
                  -ENOENT);
    make_file(at(dir, "file"), NULL);
    ck_assert_err(weft_fswatch_open(loop, at(dir, "file"),
                                    WEFT_FSWATCH_RECURSIVE, &w),
                  -ENOTDIR);
    ck_assert_err(weft_fswatch_open(loop, at(dir, "file/x"), 0, &w),
                  -ENOTDIR);
    ck_assert_err(weft_fswatch_open(loop, "", 0, &w), -EINVAL);
    ck_assert_err(weft_fswatch_open(loop, NULL, 0, &w), -EINVAL);
    ck_assert_err(weft_fswatch_open(loop, dir, 1u << 9, &w), -EINVAL);
    ck_assert_err(weft_fswatch_open(loop, dir, 0, NULL), -EINVAL);
    ck_assert_err(weft_fswatch_open(NULL, dir, 0, &w), -EINVAL);
    /* Trailing slashes are dropped from the watched path. */
    char slashed[4200];
    snprintf(slashed, sizeof slashed, "%s///", dir);
    ck_assert_ok(weft_fswatch_open(loop, slashed, 0, &w));
    ck_assert_str_eq(weft_fswatch_path(w), dir);
    weft_fswatch_close(w);
    ck_assert_str_eq(weft_fsevent_name(WEFT_FS_OVERFLOW), "overflow");
    ck_assert_str_eq(weft_fsevent_name((weft_fsevent_kind_t)99), "?");
    /* After close, opening is refused. */
    ck_assert_ok(weft_loop_close(loop));
    ck_assert_err(weft_fswatch_open(loop, dir, 0, &w), -ESHUTDOWN);
    weft_loop_free(loop);
    rm_rf(dir);
}
END_TEST

struct foreign {
    weft_loop_t *loop;
    const char *dir;
    int open, start;
    weft_fswatch_t *w;
};

static void *foreign_thread(void *arg) {
    struct foreign *f = arg;
    weft_fswatch_t *w;
    f->open = weft_fswatch_open(f->loop, f->dir, 0, &w);
    f->start = weft_fswatch_start(f->w, on_event, NULL);
    return NULL;
}

START_TEST(misuse_is_refused_and_leftovers_are_freed_with_the_loop) {
    char *dir = make_tmpdir();
    weft_fsevent_t ev;
    logcap_start();
    ck_assert_err(weft_fswatch_next(NULL, &ev), -EPERM);
    ck_assert_logged(1, "outside a task");
    struct foreign f = {.dir = dir};
    ck_assert_ok(weft_loop_new(&f.loop, NULL));
    ck_assert_ok(weft_fswatch_open(f.loop, dir, WEFT_FSWATCH_RECURSIVE, &f.w));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_err(f.open, -EPERM);
    ck_assert_err(f.start, -EPERM);
    ck_assert_int_eq(logcap.n, 3);
    /* Left open: freed with the loop, and reported. */
    weft_loop_free(f.loop);
    ck_assert_logged(4, "file watcher(s) still open");
    logcap_stop();
    rm_rf(dir);
}
END_TEST

static Suite *fswatch_suite(void) {
    Suite *s = suite_create("fswatch");
    TCase *tc = tcase_create("fswatch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, created_modified_attrib_deleted);
    tcase_add_test(tc, moves_are_paired_or_become_created_and_deleted);
    tcase_add_test(tc, close_write_reports_a_file_once_it_is_closed);
    tcase_add_test(tc, a_recursive_watch_follows_renames_and_moves_of_subtrees);
    tcase_add_test(tc,
                   a_recursive_watch_catches_files_made_in_a_new_subdirectory);
    tcase_add_test(tc, an_overflowing_queue_is_reported);
    tcase_add_test(tc,
                   after_an_overflow_a_recursive_watch_finds_missed_directories);
    tcase_add_test(tc, the_watched_directory_going_away_ends_the_watch);
    tcase_add_test(tc, a_single_file_is_watched);
    tcase_add_test(tc, the_callback_form_delivers_events_and_may_close);
    tcase_add_test(tc, the_callback_hears_once_that_the_watch_ended);
    tcase_add_test(tc, a_callback_watcher_stops_when_its_loop_closes);
    tcase_add_test(tc, a_callback_watcher_never_closed_is_freed_with_the_loop);
    tcase_add_test(tc, waits_are_cancellable_and_a_close_wakes_the_waiter);
    tcase_add_test(tc, queued_events_come_without_waiting);
    tcase_add_test(tc, bad_paths_and_arguments_fail_cleanly);
    tcase_add_test(tc, misuse_is_refused_and_leftovers_are_freed_with_the_loop);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(fswatch_suite)
