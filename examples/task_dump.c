/* task_dump.c - what every task of a program is waiting for: weft's task
 * dump, Go's SIGQUIT goroutine dump for C.
 *
 * Usage: task_dump [--signal] [-n N]
 *
 * Starts a handful of tasks that each wait for something different (a
 * sleep, a lock another task holds, an event, an empty queue, a socket
 * nobody writes to, another task, the children of a task group) and N
 * more identical workers (default 0; try 100000), then prints the task
 * dump (weft_dump_tasks) to stdout and exits: a summary by state and by
 * spawn site, then each task with what it waits for, for how long, where
 * it was spawned and the backtrace of its parked stack.
 *
 * --signal: instead of dumping at once, print "pid PID: kill -QUIT PID
 * for a task dump" and wait; each SIGQUIT (Ctrl-\ in a terminal) prints
 * the dump to stderr (weft_dump_on_signal), and SIGINT or SIGTERM ends the
 * program (exit 0). The process can be attached with gdb too:
 *
 *     gdb -p PID -iex 'add-auto-load-safe-path /'   then
 *     (gdb) info weft-tasks
 *     (gdb) weft-bt 7
 *
 * Errors: one line on stderr, exit 1; bad arguments: exit 2.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft.h>

#define USAGE "usage: task_dump [--signal] [-n N]\n"

struct zoo {
    weft_lock_t lock;
    weft_event_t never; /* set by nobody */
    weft_queue_t queue; /* empty */
    weft_stream_t *in, *out; /* a connected pair; nobody writes to out */
    weft_task_t *sleeper;
    weft_event_t locked; /* the holder has the lock */
};

static int sleeper(void *arg) {
    (void)arg;
    return weft_sleep(3600);
}

static int holder(void *arg) {
    struct zoo *z = arg;
    int err = weft_lock_acquire(&z->lock);
    if (err < 0)
        return err;
    weft_event_set(&z->locked);
    err = weft_sleep(3600); /* holding the lock */
    weft_lock_release(&z->lock);
    return err;
}

static int lock_waiter(void *arg) {
    struct zoo *z = arg;
    int err = weft_event_wait(&z->locked);
    if (err == 0)
        err = weft_lock_acquire(&z->lock);
    if (err == 0)
        weft_lock_release(&z->lock);
    return err;
}

static int event_waiter(void *arg) {
    struct zoo *z = arg;
    return weft_event_wait(&z->never);
}

static int consumer(void *arg) {
    struct zoo *z = arg;
    void *item;
    return weft_queue_get(&z->queue, &item);
}

/* Two frames of our own under the read, to show in the backtrace. */
static __attribute__((noinline)) ssize_t read_request(weft_stream_t *s,
                                                      char *buf, size_t n) {
    return weft_stream_read(s, buf, n);
}

static __attribute__((noinline)) int serve_one(weft_stream_t *s) {
    char buf[256];
    ssize_t n = read_request(s, buf, sizeof buf);
    return n < 0 ? (int)n : 0;
}

static int reader(void *arg) {
    struct zoo *z = arg;
    return serve_one(z->in);
}

static int joiner(void *arg) {
    struct zoo *z = arg;
    return weft_join(z->sleeper);
}

static int group_owner(void *arg) {
    (void)arg;
    weft_group_t g;
    int err = weft_group_enter(&g);
    if (err < 0)
        return err;
    weft_spawn_opts_t so = {.name = "child"};
    for (int i = 0; i < 2 && err == 0; i++)
        err = weft_group_spawn(&g, NULL, sleeper, NULL, &so);
    int exit_err = weft_group_exit(&g);
    return err < 0 ? err : exit_err;
}

static int spawn_workers(long n) {
    weft_spawn_opts_t so = {.name = "worker", .stack_size = 4096};
    for (long i = 0; i < n; i++) {
        int err = weft_spawn(NULL, sleeper, NULL, &so);
        if (err < 0)
            return err;
    }
    return 0;
}

struct run {
    int signal_mode;
    long workers;
    int status;
};

/* The zoo lives in main_task's frame: its tasks are children of a group
 * that main_task cancels and exits before the frame goes. */
static int start_zoo(weft_group_t *g, struct zoo *z) {
    struct {
        const char *name;
        weft_task_fn fn;
    } const tasks[] = {
        {"holder", holder},
        {"lock_waiter", lock_waiter},
        {"event_waiter", event_waiter},
        {"consumer", consumer},
        {"reader", reader},
        {"joiner", joiner},
        {"group_owner", group_owner},
    };
    weft_spawn_opts_t so = {.name = "sleeper"};
    int err = weft_group_spawn(g, &z->sleeper, sleeper, NULL, &so);
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0] && err == 0; i++) {
        so.name = tasks[i].name;
        err = weft_group_spawn(g, NULL, tasks[i].fn, z, &so);
    }
    return err;
}

/* Until SIGINT or SIGTERM (weft_run's soft cancellation), dumping on each
 * SIGQUIT. */
static int wait_for_signals(struct zoo *z) {
    int err = weft_dump_on_signal(weft_loop_current(), SIGQUIT);
    if (err < 0)
        return err;
    printf("pid %d: kill -QUIT %d for a task dump (on stderr); SIGINT or "
           "SIGTERM to stop\n",
           (int)getpid(), (int)getpid());
    fflush(stdout);
    weft_scope_t idle;
    err = weft_scope_enter(&idle, INFINITY, WEFT_SCOPE_STOPPABLE);
    if (err < 0)
        return err;
    err = weft_event_wait(&z->never);
    weft_scope_exit(&idle);
    return err == -ECANCELED ? 0 : err;
}

static int main_task(void *arg) {
    struct run *r = arg;
    struct zoo z;
    memset(&z, 0, sizeof z);
    weft_lock_init(&z.lock);
    weft_event_init(&z.never);
    weft_event_init(&z.locked);
    weft_queue_init(&z.queue, 0);
    const char *what = "cannot make a socket pair";
    int err = weft_stream_pair(weft_loop_current(), &z.in, &z.out, NULL);
    weft_group_t g;
    bool in_group = false;
    if (err == 0) {
        what = "cannot start the tasks";
        err = weft_group_enter(&g);
        in_group = err == 0;
    }
    if (err == 0)
        err = start_zoo(&g, &z);
    if (err == 0)
        err = spawn_workers(r->workers);
    /* Let every task run up to its wait. */
    for (int i = 0; i < 4 && err == 0; i++)
        err = weft_yield();
    if (err == 0 && !r->signal_mode) {
        what = "cannot dump the tasks";
        err = weft_dump_tasks(NULL, stdout, NULL);
    } else if (err == 0) {
        what = "cannot catch SIGQUIT";
        err = wait_for_signals(&z);
    }
    if (err < 0 && err != -ECANCELED) {
        fprintf(stderr, "task_dump: %s: %s\n", what, weft_strerror(err));
        r->status = 1;
    }
    if (in_group) {
        weft_group_cancel(&g);
        weft_group_exit(&g);
    }
    weft_task_release(z.sleeper);
    weft_stream_close(z.in);
    weft_stream_close(z.out);
    weft_queue_destroy(&z.queue, NULL, NULL);
    weft_event_destroy(&z.locked);
    weft_event_destroy(&z.never);
    weft_lock_destroy(&z.lock);
    return 0;
}

int main(int argc, char **argv) {
    struct run r = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--signal") == 0) {
            r.signal_mode = 1;
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            errno = 0;
            r.workers = strtol(argv[++i], &end, 10);
            if (*end || errno || r.workers < 0 || r.workers > 10000000) {
                fputs(USAGE, stderr);
                return 2;
            }
        } else {
            fputs(USAGE, stderr);
            return 2;
        }
    }
    weft_run_opts_t o = {.flags = WEFT_RUN_SIGNALS, .grace = 1};
    int err = weft_run_opts(main_task, &r, &o);
    if (err < 0) {
        fprintf(stderr, "task_dump: %s\n", weft_strerror(err));
        return 1;
    }
    return r.status;
}
