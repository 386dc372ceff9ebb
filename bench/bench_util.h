/* bench_util.h - small helpers shared by the benchmark programs: a clock,
 * medians, /proc readers, a forked-child runner and argument handling.
 * Header-only (static functions) so each bench stays one program. */
#ifndef WEFT_BENCH_UTIL_H
#define WEFT_BENCH_UTIL_H

#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (n >= 1); the mean of the middle two for even n. */
static inline double bench_median(const double *v, size_t n) {
    double *c = malloc(n * sizeof *c);
    if (!c)
        abort();
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, bench_cmp_double);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

static inline double bench_min(const double *v, size_t n) {
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

static inline double bench_max(const double *v, size_t n) {
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM", "VmPTE" ...), or -1. */
static inline long bench_status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t n = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Number of lines of /proc/self/maps: the process's memory mappings. */
static inline long bench_count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long lines = 0;
    int c;
    while ((c = getc_unlocked(f)) != EOF)
        if (c == '\n')
            lines++;
    fclose(f);
    return lines;
}

static inline long bench_read_long_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* Run fn(arg, out) in a forked child and copy `size` bytes of *out back.
 * Returns 0, or -1 if the child crashed, failed (non-zero exit) or sent
 * short data; the reason is printed on stderr. A clean process per run
 * keeps RSS baselines and allocator state of one run out of the next. */
static inline int bench_in_child(int (*fn)(void *arg, void *out), void *arg,
                                 void *out, size_t size) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        int rc = fn(arg, out);
        if (rc == 0) {
            const char *p = out;
            size_t left = size;
            while (left) {
                ssize_t w = write(fds[1], p, left);
                if (w <= 0)
                    _exit(3);
                p += w;
                left -= (size_t)w;
            }
        }
        fflush(stdout);
        fflush(stderr);
        _exit(rc == 0 ? 0 : 2);
    }
    close(fds[1]);
    char *p = out;
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fds[0], p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "bench: child killed by signal %d\n", WTERMSIG(st));
        return -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: child exited with status %d\n",
                WEXITSTATUS(st));
        return -1;
    }
    if (got != size) {
        fprintf(stderr, "bench: child sent %zu of %zu bytes\n", got, size);
        return -1;
    }
    return 0;
}

/* An ECDSA P-256 certificate for "localhost" and its key, made with the
 * openssl tool in a new directory /tmp/weft-bench-NAME-XXXXXX: the paths
 * go to dir (64 bytes), crt and key (128 each). 0, or -1. Remove the
 * directory with bench_remove_dir. */
static inline int bench_make_ec_cert(const char *name, char *dir, char *crt,
                                     char *key) {
    snprintf(dir, 64, "/tmp/weft-bench-%s-XXXXXX", name);
    if (!mkdtemp(dir))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.crt "
             "-days 2 -subj /CN=localhost >/dev/null 2>&1",
             dir);
    snprintf(crt, 128, "%s/ec.crt", dir);
    snprintf(key, 128, "%s/ec.key", dir);
    return system(cmd) ? -1 : 0;
}

static inline int bench_remove_dir(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) ? -1 : 0;
}

/* Remove "--quick" from argv (returns true if it was there), so the
 * positional arguments that remain can be read with bench_arg(). */
static inline int bench_take_quick(int *argc, char **argv) {
    int quick = 0, j = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else
            argv[j++] = argv[i];
    }
    *argc = j;
    argv[j] = NULL;
    return quick;
}

/* Positional argument i as a positive integer (k/M suffixes allowed), or
 * `def` when absent. Exits with a usage message on garbage. */
static inline uint64_t bench_arg(int argc, char **argv, int i, uint64_t def,
                                 const char *usage) {
    if (i >= argc)
        return def;
    char *end;
    errno = 0;
    double v = strtod(argv[i], &end);
    if (*end == 'k' || *end == 'K')
        v *= 1e3, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1e6, end++;
    if (errno || end == argv[i] || *end || v < 1 || v > 1e12) {
        fprintf(stderr, "usage: %s\n", usage);
        exit(2);
    }
    return (uint64_t)v;
}

/* splitmix64: a small fixed-seed generator so every run (and every peer)
 * draws the same sequence. */
static inline uint64_t bench_rand(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Sanitizer builds use several times more stack per frame (ASan's redzones:
 * weft_sleep alone goes ~2.9 KiB below the task function instead of ~0.2):
 * the benches scale their small stacks by this factor there, rather than
 * overflow them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif
#ifdef BENCH_SANITIZED
#define BENCH_STACK_SCALE 8
#else
#define BENCH_STACK_SCALE 1
#endif

/* A field of /proc/PID/status in kB (another process's: a server's
 * "VmRSS"), or -1. */
static inline long bench_pid_status_kb(long pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static inline const char *bench_yesno(int ok) {
    return ok ? "yes" : "NO";
}

/* Pin the calling process to CPU `cpu`, or to CPU 0 on a machine with
 * ncpu <= cpu. */
static inline void bench_pin(int cpu, int ncpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu < ncpu ? cpu : 0, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* Whether something accepts connections on 127.0.0.1:port. `reset`:
 * close the probe with a reset, leaving no TIME_WAIT behind. */
static inline bool bench_port_open(int port, bool reset) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (reset) {
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(fd);
    return ok;
}

#endif
