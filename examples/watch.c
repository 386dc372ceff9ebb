/* watch.c - print what changes under a directory, until Ctrl-C: a small
 * inotifywait, with weft's file watcher (weft/fswatch.h).
 *
 * Usage: watch [-n] [-c] PATH
 *
 *   -n   watch PATH only, not the directories below it
 *   -c   report a file as modified once it is closed after writing (one
 *        line per save) instead of at every write
 *
 * One line per change, with the path relative to PATH ("." for PATH
 * itself, a trailing "/" for directories):
 *
 *     watch: watching /tmp/x (recursive); Ctrl-C to stop
 *     created  notes.txt
 *     modified notes.txt
 *     moved    notes.txt -> old.txt
 *     attrib   old.txt
 *     deleted  old.txt
 *     created  sub/
 *     created  sub/inner.txt
 *     watch: stopped by SIGINT
 *
 * A file made in a new directory before weft could watch it is still
 * reported (weft reads the new directory once it is watched). "overflow"
 * means the kernel dropped events: more came than it queues.
 *
 * Exit status: 0 after Ctrl-C (or SIGTERM) or when PATH itself goes away,
 * 1 if PATH cannot be watched, 2 for bad arguments.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#define USAGE "usage: watch [-n] [-c] PATH\n"

struct job {
    const char *path;
    unsigned flags;
};

/* The event's path below the watched one. */
static const char *below(const weft_fswatch_t *w, const char *path) {
    size_t n = strlen(weft_fswatch_path(w));
    if (strncmp(path, weft_fswatch_path(w), n) != 0)
        return path;
    path += n;
    while (*path == '/')
        path++;
    return *path ? path : ".";
}

static void print_event(const weft_fswatch_t *w, const weft_fsevent_t *ev) {
    const char *dir = (ev->flags & WEFT_FS_ISDIR) ? "/" : "";
    const char *p = below(w, ev->path);
    if (strcmp(p, ".") == 0)
        dir = "";
    switch (ev->kind) {
    case WEFT_FS_MOVED:
        printf("moved    %s%s -> %s%s\n", below(w, ev->old_path), dir, p, dir);
        break;
    case WEFT_FS_OVERFLOW:
        printf("overflow: some events were lost\n");
        break;
    default:
        printf("%-8s %s%s%s\n", weft_fsevent_name(ev->kind), p, dir,
               (ev->flags & WEFT_FS_MOVED_IN)     ? " (moved in)"
               : (ev->flags & WEFT_FS_MOVED_AWAY) ? " (moved away)"
                                                  : "");
        break;
    }
}

static int watch_main(void *arg) {
    const struct job *job = arg;
    weft_fswatch_t *w;
    int err = weft_fswatch_open(weft_loop_current(), job->path, job->flags,
                                &w);
    if (err < 0) {
        fprintf(stderr, "watch: %s: %s\n", job->path, weft_strerror(err));
        return err;
    }
    printf("watch: watching %s (%s); Ctrl-C to stop\n", weft_fswatch_path(w),
           (job->flags & WEFT_FSWATCH_RECURSIVE) ? "recursive"
                                                 : "not recursive");
    weft_fsevent_t ev;
    while ((err = weft_fswatch_next(w, &ev)) == 0)
        print_event(w, &ev);
    if (err == -ENOENT) {
        printf("watch: %s is gone\n", weft_fswatch_path(w));
        err = 0;
    }
    weft_fswatch_close(w);
    return err; /* -ECANCELED after Ctrl-C */
}

int main(int argc, char **argv) {
    struct job job = {.flags = WEFT_FSWATCH_RECURSIVE};
    int opt;
    opterr = 0;
    while ((opt = getopt(argc, argv, "nc")) != -1) {
        if (opt == 'n') {
            job.flags &= ~(unsigned)WEFT_FSWATCH_RECURSIVE;
        } else if (opt == 'c') {
            job.flags |= WEFT_FSWATCH_CLOSE_WRITE;
        } else {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (argc - optind != 1 || !argv[optind][0]) {
        fputs(USAGE, stderr);
        return 2;
    }
    job.path = argv[optind];
    setvbuf(stdout, NULL, _IOLBF, 0);

    int stop_signal = 0;
    weft_run_opts_t opts = {0};
    opts.flags = WEFT_RUN_SIGNALS; /* Ctrl-C cancels watch_main */
    opts.stop_signal = &stop_signal;
    int r = weft_run_opts(watch_main, &job, &opts);
    if (stop_signal) {
        printf("watch: stopped by %s\n",
               stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        return 0;
    }
    return r < 0 ? 1 : 0;
}
