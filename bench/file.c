/* file.c - random 4 KiB reads from a file in the page cache: weft's file
 * API (weft/file.h) on io_uring and on the executor (the epoll backend's
 * fallback), against a plain pread(2) loop and libuv's uv_fs_read.
 *
 * The file (FILE_MIB, in $TMPDIR or /tmp) is written and read once before
 * the runs, so every read is a page-cache hit: what is measured is what a
 * read costs beyond the copy, which is where the ways differ (a thread
 * hand-over per read, one io_uring_enter per loop iteration, one system
 * call per read). Each run makes N reads of one block at fixed-seed random
 * block offsets and checks each block's first bytes; weft with 1 task (one
 * read at a time) and with 16 tasks, libuv with 16 requests in flight,
 * pread from one thread. Reported: reads per second of wall time, and CPU
 * time per read (user + system of the whole process, worker threads
 * included, from getrusage).
 *
 * Each run is a forked child; R rounds, the variants interleaved in an
 * order rotated each round; medians. The executor and libuv get the same
 * number of threads (weft's default pool size, the CPU count).
 *
 * Usage: file [--quick] [READS [REPEATS [FILE_MIB]]]
 *        defaults 200k, 5, 64 (--quick: 20k, 1, 8)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <weft.h>

#include "bench_util.h"
#include "file.h"

#define USAGE "file [--quick] [READS [REPEATS [FILE_MIB]]]"
#define TASKS 16

enum { V_PREAD, V_URING_1, V_URING_16, V_EXEC_1, V_EXEC_16, V_UV_16, NV };
static const char *const names[NV] = {
    "pread(2) loop, one thread",
    "weft io_uring, 1 task",
    "weft io_uring, 16 tasks",
    "weft executor (epoll), 1 task",
    "weft executor (epoll), 16 tasks",
    "libuv uv_fs_read, 16 in flight",
};

struct job {
    int variant;
    const char *path;
    uint64_t blocks, n;
    unsigned threads;
};

struct result {
    uint64_t reads, bad, wall_ns, cpu_ns;
    char backend[16];
};

static uint64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

/* ---- weft ------------------------------------------------------------------ */

struct wctx {
    const struct job *j;
    weft_file_t *f;
    uint64_t seed, done, bad;
    int err;
};

static int reader(void *arg) {
    struct wctx *c = arg;
    char buf[FILE_BLOCK];
    while (c->done < c->j->n) {
        c->done++; /* claimed: the other tasks stop at n */
        uint64_t off = file_offset(&c->seed, c->j->blocks);
        ssize_t r = weft_file_read(c->f, buf, sizeof buf, (int64_t)off);
        if (r != FILE_BLOCK || !file_block_ok(buf, off))
            c->bad++;
    }
    return 0;
}

static int weft_main(void *arg) {
    struct wctx *c = arg;
    int err = weft_file_open(c->j->path, O_RDONLY, 0, &c->f);
    if (err)
        return err;
    /* Start the executor's threads outside the timed part. */
    char buf[FILE_BLOCK];
    for (int i = 0; i < 64; i++)
        if (weft_file_read(c->f, buf, sizeof buf, 0) != FILE_BLOCK)
            return -EIO;
    int tasks = c->j->variant == V_URING_16 || c->j->variant == V_EXEC_16
                    ? TASKS
                    : 1;
    weft_task_t *t[TASKS];
    for (int i = 0; i < tasks; i++)
        if ((err = weft_spawn(&t[i], reader, c, NULL)))
            return err;
    for (int i = 0; i < tasks; i++) {
        int r = weft_join(t[i]);
        if (r && !err)
            err = r;
        weft_task_release(t[i]);
    }
    int r = weft_file_close(c->f);
    return err ? err : r;
}

static int weft_variant(const struct job *j, struct result *out) {
    bool uring = j->variant == V_URING_1 || j->variant == V_URING_16;
    setenv("WEFT_BACKEND", uring ? "io_uring" : "epoll", 1);
    weft_loop_t *loop;
    weft_pool_t *pool;
    weft_pool_opts_t po = {j->threads, 0, NULL};
    if (weft_loop_new(&loop, NULL) != 0 || weft_pool_new(&pool, &po) != 0 ||
        weft_loop_set_default_pool(loop, pool) != 0)
        return -1;
    snprintf(out->backend, sizeof out->backend, "%s",
             weft_loop_backend(loop));
    if (uring && strcmp(out->backend, "io_uring") != 0) {
        weft_loop_free(loop);
        return 1; /* not available: the row is left out */
    }
    struct wctx c = {.j = j, .seed = 0x5eed};
    weft_task_t *t;
    if (weft_loop_spawn(loop, &t, weft_main, &c, NULL) != 0)
        return -1;
    uint64_t c0 = cpu_ns(), t0 = bench_now_ns();
    int err = weft_loop_run_until_complete(loop, weft_task_future(t));
    out->wall_ns = bench_now_ns() - t0;
    out->cpu_ns = cpu_ns() - c0;
    weft_task_release(t);
    weft_loop_free(loop);
    out->reads = c.done;
    out->bad = c.bad;
    if (err) {
        fprintf(stderr, "file: %s: %s\n", names[j->variant],
                weft_strerror(err));
        return -1;
    }
    return 0;
}

/* ---- the others ---------------------------------------------------------- */

static int pread_variant(const struct job *j, struct result *out) {
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[FILE_BLOCK];
    uint64_t seed = 0x5eed;
    uint64_t c0 = cpu_ns(), t0 = bench_now_ns();
    for (uint64_t i = 0; i < j->n; i++) {
        uint64_t off = file_offset(&seed, j->blocks);
        if (pread(fd, buf, sizeof buf, (off_t)off) != FILE_BLOCK ||
            !file_block_ok(buf, off))
            out->bad++;
    }
    out->wall_ns = bench_now_ns() - t0;
    out->cpu_ns = cpu_ns() - c0;
    out->reads = j->n;
    close(fd);
    return 0;
}

static int uv_variant(const struct job *j, struct result *out) {
    char buf[16];
    snprintf(buf, sizeof buf, "%u", j->threads);
    setenv("UV_THREADPOOL_SIZE", buf, 1);
    /* Start libuv's threads outside the timed part. */
    if (uv_file_reads(j->path, j->blocks, 64, TASKS) != 0)
        return -1;
    uint64_t c0 = cpu_ns(), t0 = bench_now_ns();
    int bad = uv_file_reads(j->path, j->blocks, j->n, TASKS);
    out->wall_ns = bench_now_ns() - t0;
    out->cpu_ns = cpu_ns() - c0;
    if (bad < 0)
        return -1;
    out->bad = (uint64_t)bad;
    out->reads = j->n;
    return 0;
}

static int child(void *arg, void *outp) {
    const struct job *j = arg;
    struct result *out = outp;
    switch (j->variant) {
    case V_PREAD:
        return pread_variant(j, out) ? 1 : 0;
    case V_UV_16:
        return uv_variant(j, out) ? 1 : 0;
    default: {
        int rc = weft_variant(j, out);
        return rc < 0 ? 1 : rc == 1 ? 3 : 0;
    }
    }
}

/* ---- the file --------------------------------------------------------------- */

static int make_file(char *path, size_t size, uint64_t blocks) {
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/weft-bench-file-XXXXXX",
             base && *base ? base : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    char buf[FILE_BLOCK];
    memset(buf, 0xa5, sizeof buf);
    for (uint64_t b = 0; b < blocks; b++) {
        memcpy(buf, &b, sizeof b);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            close(fd);
            return -1;
        }
    }
    /* Read it back: every page is in the cache for the runs. */
    for (uint64_t b = 0; b < blocks; b++)
        if (pread(fd, buf, sizeof buf, (off_t)(b * FILE_BLOCK)) !=
            (ssize_t)sizeof buf) {
            close(fd);
            return -1;
        }
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    uint64_t n = bench_arg(argc, argv, 1, quick ? 20000 : 200000, USAGE);
    uint64_t reps = bench_arg(argc, argv, 2, quick ? 1 : 5, USAGE);
    uint64_t mib = bench_arg(argc, argv, 3, quick ? 8 : 64, USAGE);
    if (argc > 4) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    unsigned threads = 2;
    weft_pool_t *probe;
    if (weft_pool_new(&probe, NULL) == 0) { /* weft's default size */
        threads = weft_pool_size(probe);
        weft_pool_free(probe);
    }
    uint64_t blocks = mib * (1u << 20) / FILE_BLOCK;
    char path[256];
    if (make_file(path, sizeof path, blocks) != 0) {
        fprintf(stderr, "file: cannot make the test file: %s\n",
                strerror(errno));
        return 1;
    }
    double *rate[NV], *cpu[NV];
    bool have[NV];
    for (int k = 0; k < NV; k++) {
        rate[k] = calloc(reps, sizeof(double));
        cpu[k] = calloc(reps, sizeof(double));
        have[k] = true;
        if (!rate[k] || !cpu[k])
            return 1;
    }
    int failed = 0;
    for (uint64_t r = 0; r < reps && !failed; r++) {
        for (int i = 0; i < NV; i++) {
            int k = (int)((i + r) % NV);
            if (!have[k])
                continue;
            struct job j = {k, path, blocks, n, threads};
            struct result res = {0};
            if (bench_in_child(child, &j, &res, sizeof res) != 0) {
                if (k == V_URING_1 || k == V_URING_16) {
                    have[k] = false; /* io_uring refused: said above */
                    fprintf(stderr, "file: '%s' left out (io_uring is not "
                                    "available here)\n",
                            names[k]);
                    continue;
                }
                fprintf(stderr, "file: run '%s' failed\n", names[k]);
                failed = 1;
                break;
            }
            if (res.bad || res.reads != n) {
                fprintf(stderr, "file: '%s': %llu of %llu reads, %llu bad\n",
                        names[k], (unsigned long long)res.reads,
                        (unsigned long long)n, (unsigned long long)res.bad);
                failed = 1;
                break;
            }
            rate[k][r] = (double)res.reads * 1e9 / (double)res.wall_ns;
            cpu[k][r] = (double)res.cpu_ns / (double)res.reads;
        }
    }
    unlink(path);
    if (failed)
        return 1;

    printf("file: %llu random %d-byte reads from a %llu MiB file in the page "
           "cache, %llu run(s) of each, interleaved, each in a fresh child; "
           "medians; executor and libuv on %u thread(s)\n",
           (unsigned long long)n, FILE_BLOCK, (unsigned long long)mib,
           (unsigned long long)reps, threads);
    printf("  %-36s %12s %25s %14s\n", "", "reads/s", "(min .. max)",
           "CPU ns/read");
    for (int k = 0; k < NV; k++) {
        if (!have[k]) {
            printf("  %-36s %12s\n", names[k], "(no io_uring)");
            continue;
        }
        printf("  %-36s %12.0f %12.0f .. %-12.0f %14.0f\n", names[k],
               bench_median(rate[k], reps), bench_min(rate[k], reps),
               bench_max(rate[k], reps), bench_median(cpu[k], reps));
    }
    double pr = bench_median(rate[V_PREAD], reps);
    double pc = bench_median(cpu[V_PREAD], reps);
    double er = bench_median(rate[V_EXEC_16], reps);
    double ec = bench_median(cpu[V_EXEC_16], reps);
    printf("RESULT file pread_reads_per_s %.0f reads/s\n", pr);
    printf("RESULT file pread_cpu_per_read %.0f ns\n", pc);
    printf("RESULT file exec16_reads_per_s %.0f reads/s\n", er);
    printf("RESULT file exec16_cpu_per_read %.0f ns\n", ec);
    printf("RESULT file uv16_reads_per_s %.0f reads/s\n",
           bench_median(rate[V_UV_16], reps));
    if (have[V_URING_16]) {
        double ur = bench_median(rate[V_URING_16], reps);
        double uc = bench_median(cpu[V_URING_16], reps);
        printf("RESULT file uring16_reads_per_s %.0f reads/s\n", ur);
        printf("RESULT file uring16_cpu_per_read %.0f ns\n", uc);
        printf("RESULT file uring1_reads_per_s %.0f reads/s\n",
               bench_median(rate[V_URING_1], reps));
        printf("RESULT file uring16_vs_exec16_cpu %.2f x\n", uc / ec);
        printf("RESULT file uring16_vs_pread_cpu %.2f x\n", uc / pc);
    }
    for (int k = 0; k < NV; k++) {
        free(rate[k]);
        free(cpu[k]);
    }
    return 0;
}
