/* Files (weft/file.h): the calls, their errors, large and concurrent
 * reads, cancellation, misuse. Each test runs on the backend
 * WEFT_BACKEND names (CI runs the suite on epoll and again on io_uring):
 * the same assertions hold on both, and where an outcome may honestly
 * differ (a cancel racing a read that is done) both outcomes are checked
 * for what they promise. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static int scale(int n) {
    const char *vg = getenv("WEFT_TEST_VALGRIND");
    if (vg && strcmp(vg, "1") == 0)
        return n / 8 > 0 ? n / 8 : 1;
    return n;
}

static char dir[256];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "%s/weft-file-XXXXXX", tmp_dir());
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void) {
    rm_tree(dir);
}

/* Run fn as the main task of a loop, in a fresh temporary directory. */
static void run_in_dir(weft_task_fn fn, void *arg) {
    make_dir();
    ck_assert_ok(weft_run(fn, arg));
    remove_dir();
}

static void path_of(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

/* The byte at offset o of the test pattern. */
static uint8_t pat(uint64_t o) {
    return (uint8_t)((o * 131u) ^ (o >> 9));
}

static bool backend_is(const char *name) {
    return strcmp(weft_loop_backend(weft_loop_current()), name) == 0;
}

/* The backend is the one asked for: a file test on "epoll" that ran on
 * io_uring would prove nothing (and .ci/run's first pass runs on io_uring
 * where the kernel allows it, which backend_probe says). */
static void check_backend(void) {
    const char *want = getenv("WEFT_BACKEND");
    if (want && strcmp(want, "epoll") == 0)
        ck_assert(backend_is("epoll"));
}

/* ---- the calls ------------------------------------------------------------------ */

static int round_trip_main(void *arg) {
    (void)arg;
    check_backend();
    char p[300];
    path_of(p, sizeof p, "a");
    weft_file_t *f;
    ck_assert_ok(weft_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0640, &f));
    ck_assert_int_ge(weft_file_fd(f), 0);
    ck_assert_int_eq(weft_file_write(f, "hello world", 11, 0), 11);
    ck_assert_int_eq(weft_file_write(f, "tail", 4, 100), 4); /* a hole */
    ck_assert_ok(weft_file_fsync(f, 0));
    ck_assert_ok(weft_file_fsync(f, WEFT_FILE_DATASYNC));
    weft_file_stat_t st;
    ck_assert_ok(weft_file_stat(f, &st));
    ck_assert_uint_eq(st.size, 104);
    ck_assert(S_ISREG(st.mode));
    ck_assert_uint_eq(st.mode & 0777, 0640);
    ck_assert_uint_eq(st.nlink, 1);
    struct stat ref;
    ck_assert_int_eq(stat(p, &ref), 0);
    ck_assert_uint_eq(st.ino, ref.st_ino);
    ck_assert_uint_eq(st.dev, ref.st_dev);
    ck_assert_int_eq(st.mtime_ns, (int64_t)ref.st_mtim.tv_sec * 1000000000 +
                                      ref.st_mtim.tv_nsec);
    weft_file_stat_t st2;
    ck_assert_ok(weft_file_stat_path(p, &st2));
    ck_assert_uint_eq(st2.ino, st.ino);
    ck_assert_uint_eq(st2.size, 104);

    char buf[128];
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(weft_file_read(f, buf, sizeof buf, 0), 104);
    ck_assert_int_eq(memcmp(buf, "hello world", 11), 0);
    ck_assert_int_eq(buf[11], 0); /* the hole reads as zeros */
    ck_assert_int_eq(memcmp(buf + 100, "tail", 4), 0);
    ck_assert_int_eq(weft_file_read(f, buf, 5, 6), 5);
    ck_assert_int_eq(memcmp(buf, "world", 5), 0);
    /* The position: pread/pwrite left it at 0; reads through it move it. */
    ck_assert_int_eq(weft_file_read(f, buf, 6, WEFT_FILE_POS), 6);
    ck_assert_int_eq(memcmp(buf, "hello ", 6), 0);
    ck_assert_int_eq(weft_file_read(f, buf, 5, WEFT_FILE_POS), 5);
    ck_assert_int_eq(memcmp(buf, "world", 5), 0);
    ck_assert_int_eq(lseek(weft_file_fd(f), 0, SEEK_CUR), 11);
    ck_assert_int_eq(weft_file_read(f, buf, 0, 0), 0);
    ck_assert_ok(weft_file_close(f));

    /* O_APPEND writes through the position go to the end. */
    ck_assert_ok(weft_file_open(p, O_WRONLY | O_APPEND, 0, &f));
    ck_assert_int_eq(weft_file_write(f, "!", 1, WEFT_FILE_POS), 1);
    ck_assert_ok(weft_file_close(f));
    void *all;
    size_t len;
    ck_assert_ok(weft_file_read_all(p, 1000, &all, &len));
    ck_assert_uint_eq(len, 105);
    ck_assert_int_eq(((char *)all)[104], '!');
    ck_assert_int_eq(((char *)all)[105], '\0');
    weft_free(all);
    return 0;
}

START_TEST(write_read_fsync_stat_close) {
    run_in_dir(round_trip_main, NULL);
}
END_TEST

static int eof_main(void *arg) {
    (void)arg;
    char p[300];
    path_of(p, sizeof p, "short");
    weft_file_t *f;
    ck_assert_ok(weft_file_open(p, O_RDWR | O_CREAT | O_EXCL, 0600, &f));
    ck_assert_int_eq(weft_file_write(f, "0123456789", 10, 0), 10);
    char buf[32];
    ck_assert_int_eq(weft_file_read(f, buf, sizeof buf, 7), 3); /* short */
    ck_assert_int_eq(memcmp(buf, "789", 3), 0);
    ck_assert_int_eq(weft_file_read(f, buf, sizeof buf, 10), 0);
    ck_assert_int_eq(weft_file_read(f, buf, sizeof buf, 1 << 20), 0);
    ck_assert_int_eq(weft_file_read(f, buf, sizeof buf, WEFT_FILE_POS), 10);
    ck_assert_int_eq(weft_file_read(f, buf, sizeof buf, WEFT_FILE_POS), 0);
    ck_assert_ok(weft_file_close(f));
    /* An empty file, and read_all's limit. */
    path_of(p, sizeof p, "empty");
    ck_assert_ok(weft_file_open(p, O_WRONLY | O_CREAT, 0600, &f));
    ck_assert_ok(weft_file_close(f));
    void *all;
    size_t len;
    ck_assert_ok(weft_file_read_all(p, 0, &all, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(*(char *)all, '\0');
    weft_free(all);
    path_of(p, sizeof p, "short");
    ck_assert_ok(weft_file_read_all(p, 10, &all, &len));
    ck_assert_uint_eq(len, 10);
    weft_free(all);
    ck_assert_err(weft_file_read_all(p, 9, &all, &len), -EFBIG);
    ck_assert_ptr_null(all);
    return 0;
}

START_TEST(reading_at_and_past_the_end) {
    run_in_dir(eof_main, NULL);
}
END_TEST

static int errors_main(void *arg) {
    (void)arg;
    char p[300];
    weft_file_t *f = (weft_file_t *)(uintptr_t)1;
    path_of(p, sizeof p, "missing");
    ck_assert_err(weft_file_open(p, O_RDONLY, 0, &f), -ENOENT);
    ck_assert_ptr_null(f);
    weft_file_stat_t st;
    ck_assert_err(weft_file_stat_path(p, &st), -ENOENT);
    void *all;
    size_t len;
    ck_assert_err(weft_file_read_all(p, 100, &all, &len), -ENOENT);
    ck_assert_err(weft_file_read_all(dir, 100, &all, &len), -EISDIR);
    /* A directory: not for writing; opened for reading, read(2) refuses. */
    ck_assert_err(weft_file_open(dir, O_WRONLY, 0, &f), -EISDIR);
    ck_assert_ok(weft_file_open(dir, O_RDONLY | O_DIRECTORY, 0, &f));
    char buf[16];
    ck_assert_err(weft_file_read(f, buf, sizeof buf, 0), -EISDIR);
    ck_assert_ok(weft_file_stat(f, &st));
    ck_assert(S_ISDIR(st.mode));
    ck_assert_ok(weft_file_close(f));
    /* Exists already; and writes on a file opened for reading. */
    path_of(p, sizeof p, "there");
    ck_assert_ok(weft_file_open(p, O_WRONLY | O_CREAT, 0600, &f));
    ck_assert_ok(weft_file_close(f));
    ck_assert_err(weft_file_open(p, O_WRONLY | O_CREAT | O_EXCL, 0600, &f),
                  -EEXIST);
    ck_assert_ok(weft_file_open(p, O_RDONLY, 0, &f));
    ck_assert_err(weft_file_write(f, "x", 1, 0), -EBADF);
    logcap_start();
    ck_assert_err(weft_file_fsync(f, 1u << 5), -EINVAL);
    ck_assert_logged(1, "unknown flags");
    logcap_stop();
    ck_assert_ok(weft_file_close(f));
    /* Permissions: as root, as nobody for the moment (the test runs in
     * its own process, or restores the id below). */
    uid_t uid = geteuid();
    ck_assert_int_eq(chmod(p, 0), 0);
    if (uid == 0)
        ck_assert_int_eq(seteuid(65534), 0);
    int r = weft_file_open(p, O_RDONLY, 0, &f);
    int r2 = weft_file_stat_path(p, &st);
    if (uid == 0)
        ck_assert_int_eq(seteuid(0), 0);
    ck_assert_err(r, -EACCES);
    ck_assert_ptr_null(f);
    /* A path below a directory nobody may search: stat is refused too. */
    ck_assert(r2 == 0 || r2 == -EACCES);
    return 0;
}

START_TEST(open_and_io_errors) {
    run_in_dir(errors_main, NULL);
}
END_TEST

/* ---- size and concurrency -------------------------------------------------------- */

#define LARGE (4u << 20)

static void fill_pattern(uint8_t *b, size_t n, uint64_t at) {
    for (size_t i = 0; i < n; i++)
        b[i] = pat(at + i);
}

static int large_main(void *arg) {
    (void)arg;
    char p[300];
    path_of(p, sizeof p, "large");
    weft_file_t *f;
    ck_assert_ok(weft_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600, &f));
    size_t chunk = 1u << 20;
    uint8_t *b = malloc(chunk);
    ck_assert_ptr_nonnull(b);
    for (size_t at = 0; at < LARGE;) {
        fill_pattern(b, chunk, at);
        ssize_t n = weft_file_write(f, b, chunk, (int64_t)at);
        ck_assert_int_gt(n, 0);
        if ((size_t)n < chunk) /* a short write: the rest next time */
            memmove(b, b + n, chunk - (size_t)n);
        at += (size_t)n;
    }
    free(b);
    ck_assert_ok(weft_file_fsync(f, WEFT_FILE_DATASYNC));
    weft_file_stat_t st;
    ck_assert_ok(weft_file_stat(f, &st));
    ck_assert_uint_eq(st.size, LARGE);
    /* One read of the whole file, straddling nothing. */
    uint8_t *all = malloc(LARGE + 1);
    ck_assert_ptr_nonnull(all);
    size_t got = 0;
    while (got < LARGE) {
        ssize_t n = weft_file_read(f, all + got, LARGE + 1 - got,
                                   (int64_t)got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_int_eq(weft_file_read(f, all, 1, LARGE), 0);
    for (size_t i = 0; i < LARGE; i++)
        if (all[i] != pat(i))
            ck_abort_msg("byte %zu is %u, not %u", i, all[i], pat(i));
    free(all);
    ck_assert_ok(weft_file_close(f));
    void *buf;
    size_t len;
    ck_assert_ok(weft_file_read_all(p, LARGE, &buf, &len));
    ck_assert_uint_eq(len, LARGE);
    ck_assert_int_eq(((uint8_t *)buf)[LARGE - 1], pat(LARGE - 1));
    weft_free(buf);
    ck_assert_err(weft_file_read_all(p, LARGE - 1, &buf, &len), -EFBIG);
    return 0;
}

START_TEST(a_large_file_round_trip) {
    run_in_dir(large_main, NULL);
}
END_TEST

#define READERS 8
#define SPAN (1u << 20)

struct reader {
    weft_file_t *f;
    unsigned seed;
    int reads, ok;
};

static int random_reader(void *arg) {
    struct reader *r = arg;
    uint8_t buf[4096];
    for (int i = 0; i < r->reads; i++) {
        uint64_t off = (uint64_t)(rand_r(&r->seed) % (SPAN - sizeof buf));
        ssize_t n = weft_file_read(r->f, buf, sizeof buf, (int64_t)off);
        if (n != (ssize_t)sizeof buf)
            return n < 0 ? (int)n : -EIO;
        for (size_t k = 0; k < sizeof buf; k++)
            if (buf[k] != pat(off + k))
                return -EILSEQ;
        r->ok++;
    }
    return 0;
}

static int concurrent_main(void *arg) {
    (void)arg;
    char p[300];
    path_of(p, sizeof p, "span");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    uint8_t *b = malloc(SPAN);
    ck_assert_ptr_nonnull(b);
    fill_pattern(b, SPAN, 0);
    ck_assert_int_eq(write(fd, b, SPAN), SPAN);
    free(b);
    weft_file_t *f;
    ck_assert_ok(weft_file_from_fd(fd, &f));
    struct reader rd[READERS];
    weft_task_t *t[READERS];
    for (int i = 0; i < READERS; i++) {
        rd[i] = (struct reader){f, (unsigned)i * 7919u + 1, scale(64), 0};
        ck_assert_ok(weft_spawn(&t[i], random_reader, &rd[i], NULL));
    }
    for (int i = 0; i < READERS; i++) {
        ck_assert_ok(weft_join(t[i]));
        weft_task_release(t[i]);
        ck_assert_int_eq(rd[i].ok, scale(64));
    }
    ck_assert_ok(weft_file_close(f));
    return 0;
}

START_TEST(many_concurrent_reads_from_several_tasks) {
    run_in_dir(concurrent_main, NULL);
}
END_TEST

/* ---- cancellation ----------------------------------------------------------------- */

/* A FIFO is a file whose reads wait for a writer: a read that is surely
 * in flight when the cancel comes (in the kernel on io_uring, in a worker's
 * read(2) on epoll, or still queued). */
struct fifo {
    char path[300];
    weft_file_t *f; /* opened O_RDWR: opening does not wait */
    int wfd;        /* a plain writer */
};

static void fifo_open(struct fifo *ff) {
    path_of(ff->path, sizeof ff->path, "fifo");
    ck_assert_int_eq(mkfifo(ff->path, 0600), 0);
    ck_assert_ok(weft_file_open(ff->path, O_RDWR, 0, &ff->f));
    ff->wfd = open(ff->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_ge(ff->wfd, 0);
}

static void fifo_close(struct fifo *ff) {
    ck_assert_ok(weft_file_close(ff->f));
    close(ff->wfd);
}

static char shared_buf[64];

static int fifo_reader(void *arg) {
    struct fifo *ff = arg;
    return (int)weft_file_read(ff->f, shared_buf, sizeof shared_buf,
                               WEFT_FILE_POS);
}

/* What a cancelled read promises: it took nothing (the bytes are still
 * there to read, and its buffer is never written after it returned), or
 * it completed and says so. */
static void check_outcome(struct fifo *ff, int r, int cancelled) {
    if (r == cancelled) {
        for (size_t i = 0; i < sizeof shared_buf; i++)
            ck_assert_int_eq(shared_buf[i], 'X');
        char buf[16];
        ck_assert_int_eq(weft_file_read(ff->f, buf, sizeof buf,
                                        WEFT_FILE_POS),
                         5);
        ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
        for (size_t i = 0; i < sizeof shared_buf; i++)
            ck_assert_int_eq(shared_buf[i], 'X');
    } else {
        ck_assert_int_eq(r, 5);
        ck_assert_int_eq(memcmp(shared_buf, "hello", 5), 0);
    }
}

static int cancel_main(void *arg) {
    int *taken = arg;
    struct fifo ff;
    fifo_open(&ff);
    for (int round = 0; round < 4; round++) {
        memset(shared_buf, 'X', sizeof shared_buf);
        weft_task_t *t;
        ck_assert_ok(weft_spawn(&t, fifo_reader, &ff, NULL));
        for (int i = 0; i < 3; i++)
            ck_assert_ok(weft_yield()); /* it waits in its read */
        ck_assert_ok(weft_task_cancel(t));
        /* The bytes come after the cancel: a read still running in a
         * worker (epoll) needs them to end. */
        ck_assert_int_eq(write(ff.wfd, "hello", 5), 5);
        int r = weft_join(t);
        weft_task_release(t);
        check_outcome(&ff, r, -ECANCELED);
        *taken += r == 5;
    }
    fifo_close(&ff);
    return 0;
}

START_TEST(a_cancelled_read_takes_nothing_or_says_what_it_took) {
    /* Either outcome may happen on either backend (on io_uring the bytes
     * may wake the read in the kernel before the cancel is submitted), and
     * check_outcome holds each to its promise; the deadline test below
     * has one outcome on io_uring. */
    int taken = 0;
    run_in_dir(cancel_main, &taken);
}
END_TEST

static int deadline_reader(void *arg) {
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 0.01, 0));
    int r = fifo_reader(arg);
    int e = weft_scope_exit(&s);
    ck_assert(e == 0 || e == -ETIMEDOUT);
    if (r == -ETIMEDOUT)
        ck_assert_err(e, -ETIMEDOUT);
    return r;
}

static int deadline_main(void *arg) {
    (void)arg;
    struct fifo ff;
    fifo_open(&ff);
    memset(shared_buf, 'X', sizeof shared_buf);
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, deadline_reader, &ff, NULL));
    /* Well past the reader's deadline (timers fire in order). */
    ck_assert_ok(weft_sleep(0.05));
    ck_assert_int_eq(write(ff.wfd, "hello", 5), 5);
    int r = weft_join(t);
    weft_task_release(t);
    check_outcome(&ff, r, -ETIMEDOUT);
    if (backend_is("io_uring"))
        ck_assert_err(r, -ETIMEDOUT); /* cancelled in the kernel, in time */
    fifo_close(&ff);
    return 0;
}

START_TEST(a_deadline_ends_a_read_in_flight) {
    run_in_dir(deadline_main, NULL);
}
END_TEST

/* An open cancelled while it waits (a FIFO's open for reading waits for a
 * writer) either opened nothing or returns its file: no descriptor is
 * lost either way. */
static int fifo_opener(void *arg) {
    weft_file_t *f;
    int r = weft_file_open(arg, O_RDONLY, 0, &f);
    if (r < 0)
        return r;
    ck_assert_ok(weft_file_close(f));
    return 1;
}

static int count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

static int cancelled_open_main(void *arg) {
    (void)arg;
    char p[300];
    path_of(p, sizeof p, "fifo-open");
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    int before = count_fds();
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, fifo_opener, p, NULL));
    /* Time for the open to wait for a writer (in the kernel or a
     * worker); either outcome below is right if it has not yet. */
    ck_assert_ok(weft_sleep(0.02));
    /* On io_uring the open does not wait (weft/file.h): done already. */
    int c = weft_task_cancel(t);
    ck_assert(c == 0 || (c == -EALREADY && backend_is("io_uring")));
    /* A writer, for an open still running in a worker to end. */
    int w = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    int r = weft_join(t);
    weft_task_release(t);
    if (w >= 0)
        close(w);
    ck_assert_msg(r == 1 || r == -ECANCELED, "open returned %d (%s)", r,
                  weft_err_name(r));
    ck_assert_int_eq(count_fds(), before);
    if (backend_is("io_uring")) {
        /* And for writing with no reader, it fails as O_NONBLOCK would. */
        weft_file_t *f;
        ck_assert_err(weft_file_open(p, O_WRONLY, 0, &f), -ENXIO);
    }
    return 0;
}

START_TEST(a_cancelled_open_loses_no_descriptor) {
    run_in_dir(cancelled_open_main, NULL);
}
END_TEST

/* Already cancelled (an expired scope): nothing starts, nothing is made. */
static int expired_main(void *arg) {
    (void)arg;
    char p[300];
    path_of(p, sizeof p, "never");
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 0, 0));
    weft_file_t *f;
    ck_assert_err(weft_file_open(p, O_WRONLY | O_CREAT, 0600, &f), -ETIMEDOUT);
    ck_assert_ptr_null(f);
    weft_file_stat_t st;
    ck_assert_err(weft_file_stat_path(dir, &st), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_int_eq(access(p, F_OK), -1);
    return 0;
}

START_TEST(an_expired_deadline_starts_nothing) {
    run_in_dir(expired_main, NULL);
}
END_TEST

/* ---- misuse and bad handles ---------------------------------------------------- */

static int busy_main(void *arg) {
    (void)arg;
    struct fifo ff;
    fifo_open(&ff);
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, fifo_reader, &ff, NULL));
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_yield());
    logcap_start();
    ck_assert_err(weft_file_close(ff.f), -EBUSY);
    ck_assert_logged(1, "still inside");
    logcap_stop();
    ck_assert_int_eq(write(ff.wfd, "hello", 5), 5);
    ck_assert_int_eq(weft_join(t), 5);
    weft_task_release(t);
    fifo_close(&ff);

    /* A descriptor that is not open: every call says so, close too. */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(fd);
    weft_file_t *f;
    ck_assert_ok(weft_file_from_fd(fd, &f));
    char buf[8] = "badfd";
    ck_assert_err(weft_file_read(f, buf, sizeof buf, 0), -EBADF);
    ck_assert_err(weft_file_write(f, buf, sizeof buf, 0), -EBADF);
    ck_assert_err(weft_file_fsync(f, 0), -EBADF);
    weft_file_stat_t st;
    ck_assert_err(weft_file_stat(f, &st), -EBADF);
    ck_assert_err(weft_file_close(f), -EBADF);
    ck_assert_err(weft_file_from_fd(-1, &f), -EBADF);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(weft_file_fd(NULL), -1);

    logcap_start();
    ck_assert_err(weft_file_close(NULL), -EINVAL);
    ck_assert_logged(1, "weft_file_close: NULL file");
    ck_assert_err(weft_file_read(NULL, buf, 1, 0), -EINVAL);
    ck_assert_logged(2, "weft_file_read: NULL file");
    ck_assert_ok(weft_file_from_fd(open("/dev/null", O_RDONLY | O_CLOEXEC),
                                   &f));
    ck_assert_err(weft_file_read(f, NULL, 1, 0), -EINVAL);
    ck_assert_logged(3, "NULL buffer");
    ck_assert_err(weft_file_write(f, buf, 1, -2), -EINVAL);
    ck_assert_logged(4, "negative offset");
    weft_file_t *g;
    ck_assert_err(weft_file_open(NULL, O_RDONLY, 0, &g), -EINVAL);
    ck_assert_ptr_null(g);
    ck_assert_logged(5, "weft_file_open: NULL path");
    logcap_stop();
    ck_assert_ok(weft_file_close(f));
    return 0;
}

START_TEST(close_of_a_busy_or_bad_handle) {
    run_in_dir(busy_main, NULL);
}
END_TEST

START_TEST(calls_outside_a_task_are_refused) {
    make_dir();
    char p[300];
    path_of(p, sizeof p, "x");
    logcap_start();
    weft_file_t *f;
    ck_assert_err(weft_file_open(p, O_WRONLY | O_CREAT, 0600, &f), -EPERM);
    ck_assert_logged(1, "weft_file_open: called outside a task");
    ck_assert_int_eq(access(p, F_OK), -1);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_ok(weft_file_from_fd(fd, &f));
    char buf[4] = "";
    ck_assert_err(weft_file_read(f, buf, sizeof buf, 0), -EPERM);
    ck_assert_logged(2, "weft_file_read: called outside a task");
    weft_file_stat_t st;
    ck_assert_err(weft_file_stat(f, &st), -EPERM);
    ck_assert_err(weft_file_stat_path(p, &st), -EPERM);
    void *all;
    size_t len;
    ck_assert_err(weft_file_read_all(p, 1, &all, &len), -EPERM);
    /* Closing needs no task. */
    ck_assert_ok(weft_file_close(f));
    ck_assert_int_eq(logcap.n, 5);
    logcap_stop();
    remove_dir();
}
END_TEST

static Suite *file_suite(void) {
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("file");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, write_read_fsync_stat_close);
    tcase_add_test(tc, reading_at_and_past_the_end);
    tcase_add_test(tc, open_and_io_errors);
    tcase_add_test(tc, a_large_file_round_trip);
    tcase_add_test(tc, many_concurrent_reads_from_several_tasks);
    tcase_add_test(tc, a_cancelled_read_takes_nothing_or_says_what_it_took);
    tcase_add_test(tc, a_deadline_ends_a_read_in_flight);
    tcase_add_test(tc, a_cancelled_open_loses_no_descriptor);
    tcase_add_test(tc, an_expired_deadline_starts_nothing);
    tcase_add_test(tc, close_of_a_busy_or_bad_handle);
    tcase_add_test(tc, calls_outside_a_task_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(file_suite)
