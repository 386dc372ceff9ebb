/* Syscall-error injection: the wrappers (see sysfail.h for how to use it).
 *
 * Each wrapper counts the call, asks the rules whether this one fails,
 * and either sets errno (or returns the error, for the calls that return
 * one) or calls the real function, found with dlsym(RTLD_NEXT): libc's,
 * or a sanitizer's interceptor in front of it. No locks: a rule is filled
 * in and then published with one atomic store, and the wrappers only read
 * it and bump atomic counters, so they are safe from any thread and from
 * a signal handler (weft's signal handler writes to an eventfd). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sysfail.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define CALLS(X)                                                               \
    X(accept4) X(accept) X(socket) X(socketpair) X(pipe2) X(eventfd)           \
    X(timerfd_create) X(inotify_init1) X(inotify_add_watch) X(epoll_create1)   \
    X(epoll_ctl) X(epoll_wait) X(epoll_pwait2) X(send) X(sendmsg) X(sendto)    \
    X(write) X(writev) X(recv) X(recvmsg) X(recvfrom) X(read) X(readv)         \
    X(sendfile) X(connect) X(bind) X(listen) X(mmap) X(mprotect)               \
    X(pthread_create) X(posix_spawn) X(pidfd_open)

enum {
#define X(name) C_##name,
    CALLS(X)
#undef X
    NCALLS
};

static const char *const call_names[NCALLS] = {
#define X(name) #name,
    CALLS(X)
#undef X
};

#define NRULES 16
#define NOFD (-2) /* a call without a descriptor: only fd -1 rules match */

struct rule {
    atomic_int active;
    int call, fd, err;
    long nth, times;
    atomic_long seen;
};

static struct rule rules[NRULES];
static atomic_int nactive; /* rules in use: 0 keeps the wrappers short */
static atomic_long ncalls[NCALLS], nfailed[NCALLS];
static bool backtraces; /* WEFT_SYSFAIL_BT=1: where each failure goes */

static int call_id(const char *name) {
    for (int i = 0; i < NCALLS; i++)
        if (strcmp(name, call_names[i]) == 0)
            return i;
    return -1;
}

int sysfail_add_fd(const char *call, int fd, int err, long nth, long times) {
    int id = call ? call_id(call) : -1;
    if (id < 0 || nth < 1 || err <= 0 || times == 0 || fd < -1)
        return -EINVAL;
    for (int i = 0; i < NRULES; i++) {
        struct rule *r = &rules[i];
        if (atomic_load(&r->active))
            continue;
        r->call = id;
        r->fd = fd;
        r->err = err;
        r->nth = nth;
        r->times = times;
        atomic_store(&r->seen, 0);
        atomic_fetch_add(&nactive, 1);
        atomic_store(&r->active, 1); /* published */
        return 0;
    }
    return -ENOSPC;
}

int sysfail_add(const char *call, int err, long nth, long times) {
    return sysfail_add_fd(call, -1, err, nth, times);
}

void sysfail_clear(void) {
    for (int i = 0; i < NRULES; i++)
        if (atomic_exchange(&rules[i].active, 0))
            atomic_fetch_sub(&nactive, 1);
    for (int i = 0; i < NCALLS; i++) {
        atomic_store(&ncalls[i], 0);
        atomic_store(&nfailed[i], 0);
    }
}

long sysfail_calls(const char *call) {
    int id = call_id(call);
    return id < 0 ? -1 : atomic_load(&ncalls[id]);
}

long sysfail_failed(const char *call) {
    int id = call_id(call);
    return id < 0 ? -1 : atomic_load(&nfailed[id]);
}

/* The errno this call of `id` on `fd` fails with, or 0. */
static int should_fail(int id, int fd) {
    atomic_fetch_add_explicit(&ncalls[id], 1, memory_order_relaxed);
    if (atomic_load_explicit(&nactive, memory_order_relaxed) == 0)
        return 0;
    for (int i = 0; i < NRULES; i++) {
        struct rule *r = &rules[i];
        if (!atomic_load_explicit(&r->active, memory_order_acquire) ||
            r->call != id || (r->fd >= 0 && r->fd != fd))
            continue;
        long k = atomic_fetch_add(&r->seen, 1) + 1;
        if (k >= r->nth && (r->times < 0 || k < r->nth + r->times)) {
            atomic_fetch_add(&nfailed[id], 1);
            if (backtraces) {
                void *pc[24];
                int depth = backtrace(pc, 24);
                fprintf(stderr, "sysfail: failing %s with %s here:\n",
                        call_names[id], strerror(r->err));
                backtrace_symbols_fd(pc, depth, 2);
            }
            return r->err;
        }
    }
    return 0;
}

/* ---- the environment's rules ------------------------------------------------- */

static const struct {
    const char *name;
    int err;
} errnames[] = {
    {"EINTR", EINTR},           {"EAGAIN", EAGAIN},
    {"EWOULDBLOCK", EWOULDBLOCK}, {"ENOMEM", ENOMEM},
    {"ENOBUFS", ENOBUFS},       {"EMFILE", EMFILE},
    {"ENFILE", ENFILE},         {"ECONNRESET", ECONNRESET},
    {"EPIPE", EPIPE},           {"ENOSPC", ENOSPC},
    {"EPERM", EPERM},           {"EACCES", EACCES},
    {"EIO", EIO},               {"ENOSYS", ENOSYS},
    {"ECONNREFUSED", ECONNREFUSED}, {"ETIMEDOUT", ETIMEDOUT},
    {"EINVAL", EINVAL},         {"EBADF", EBADF},
    {"ECONNABORTED", ECONNABORTED}, {"ENETUNREACH", ENETUNREACH},
    {"EHOSTUNREACH", EHOSTUNREACH}, {"EADDRINUSE", EADDRINUSE},
};

static int parse_errno(const char *s) {
    for (size_t i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
        if (strcmp(s, errnames[i].name) == 0)
            return errnames[i].err;
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v > 0 && v < 4096 ? (int)v : -1;
}

int sysfail_parse(const char *spec) {
    char buf[512];
    if (!spec || strlen(spec) >= sizeof buf)
        return -EINVAL;
    strcpy(buf, spec);
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        char *f[4] = {0};
        int n = 0;
        char *s2 = NULL;
        for (char *p = strtok_r(item, ":", &s2); p && n < 4;
             p = strtok_r(NULL, ":", &s2))
            f[n++] = p;
        if (n < 3)
            return -EINVAL;
        int err = parse_errno(f[1]);
        long nth = strtol(f[2], NULL, 10);
        long times = n == 4 ? strtol(f[3], NULL, 10) : 1;
        if (err < 0 || sysfail_add(f[0], err, nth, times) < 0)
            return -EINVAL;
    }
    return 0;
}

__attribute__((constructor)) static void sysfail_init(void) {
    const char *bt = getenv("WEFT_SYSFAIL_BT");
    backtraces = bt && *bt == '1';
    const char *spec = getenv("WEFT_SYSFAIL");
    if (spec && *spec && sysfail_parse(spec) < 0) {
        fprintf(stderr, "sysfail: cannot parse WEFT_SYSFAIL=%s\n", spec);
        abort();
    }
}

/* ---- the wrappers ------------------------------------------------------------ */

/* The real function: looked up once (a race looks it up twice, which is
 * harmless). */
#define REAL(name)                                                             \
    static __typeof__(name) *real_;                                            \
    __typeof__(name) *fn_ = __atomic_load_n(&real_, __ATOMIC_RELAXED);         \
    if (!fn_) {                                                                \
        fn_ = (__typeof__(name) *)dlsym(RTLD_NEXT, #name);                     \
        if (!fn_)                                                              \
            abort(); /* not in this libc: nothing sensible to do */           \
        __atomic_store_n(&real_, fn_, __ATOMIC_RELAXED);                       \
    }

/* Fail with errno, returning `ret`, when a rule says so. */
#define MAYBE_FAIL(name, fd, ret)                                              \
    do {                                                                       \
        int e_ = should_fail(C_##name, (fd));                                  \
        if (e_) {                                                              \
            errno = e_;                                                        \
            return ret;                                                        \
        }                                                                      \
    } while (0)

int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags) {
    MAYBE_FAIL(accept4, fd, -1);
    REAL(accept4);
    return fn_(fd, a, l, flags);
}

int accept(int fd, struct sockaddr *a, socklen_t *l) {
    MAYBE_FAIL(accept, fd, -1);
    REAL(accept);
    return fn_(fd, a, l);
}

int socket(int domain, int type, int proto) {
    MAYBE_FAIL(socket, NOFD, -1);
    REAL(socket);
    return fn_(domain, type, proto);
}

int socketpair(int domain, int type, int proto, int sv[2]) {
    MAYBE_FAIL(socketpair, NOFD, -1);
    REAL(socketpair);
    return fn_(domain, type, proto, sv);
}

int pipe2(int fds[2], int flags) {
    MAYBE_FAIL(pipe2, NOFD, -1);
    REAL(pipe2);
    return fn_(fds, flags);
}

int eventfd(unsigned int v, int flags) {
    MAYBE_FAIL(eventfd, NOFD, -1);
    REAL(eventfd);
    return fn_(v, flags);
}

int timerfd_create(int clock, int flags) {
    MAYBE_FAIL(timerfd_create, NOFD, -1);
    REAL(timerfd_create);
    return fn_(clock, flags);
}

int inotify_init1(int flags) {
    MAYBE_FAIL(inotify_init1, NOFD, -1);
    REAL(inotify_init1);
    return fn_(flags);
}

int inotify_add_watch(int fd, const char *path, uint32_t mask) {
    MAYBE_FAIL(inotify_add_watch, fd, -1);
    REAL(inotify_add_watch);
    return fn_(fd, path, mask);
}

int epoll_create1(int flags) {
    MAYBE_FAIL(epoll_create1, NOFD, -1);
    REAL(epoll_create1);
    return fn_(flags);
}

/* The descriptor a rule's fd matches is the one registered. */
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
    MAYBE_FAIL(epoll_ctl, fd, -1);
    REAL(epoll_ctl);
    return fn_(epfd, op, fd, ev);
}

int epoll_wait(int epfd, struct epoll_event *evs, int n, int ms) {
    MAYBE_FAIL(epoll_wait, epfd, -1);
    REAL(epoll_wait);
    return fn_(epfd, evs, n, ms);
}

#if defined(__GLIBC__) &&                                                      \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
int epoll_pwait2(int epfd, struct epoll_event *evs, int n,
                 const struct timespec *ts, const sigset_t *mask) {
    MAYBE_FAIL(epoll_pwait2, epfd, -1);
    REAL(epoll_pwait2);
    return fn_(epfd, evs, n, ts, mask);
}
#endif

ssize_t send(int fd, const void *p, size_t n, int flags) {
    MAYBE_FAIL(send, fd, -1);
    REAL(send);
    return fn_(fd, p, n, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
    MAYBE_FAIL(sendmsg, fd, -1);
    REAL(sendmsg);
    return fn_(fd, m, flags);
}

ssize_t sendto(int fd, const void *p, size_t n, int flags,
               const struct sockaddr *a, socklen_t l) {
    MAYBE_FAIL(sendto, fd, -1);
    REAL(sendto);
    return fn_(fd, p, n, flags, a, l);
}

ssize_t write(int fd, const void *p, size_t n) {
    MAYBE_FAIL(write, fd, -1);
    REAL(write);
    return fn_(fd, p, n);
}

ssize_t writev(int fd, const struct iovec *v, int n) {
    MAYBE_FAIL(writev, fd, -1);
    REAL(writev);
    return fn_(fd, v, n);
}

ssize_t recv(int fd, void *p, size_t n, int flags) {
    MAYBE_FAIL(recv, fd, -1);
    REAL(recv);
    return fn_(fd, p, n, flags);
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
    MAYBE_FAIL(recvmsg, fd, -1);
    REAL(recvmsg);
    return fn_(fd, m, flags);
}

ssize_t recvfrom(int fd, void *p, size_t n, int flags, struct sockaddr *a,
                 socklen_t *l) {
    MAYBE_FAIL(recvfrom, fd, -1);
    REAL(recvfrom);
    return fn_(fd, p, n, flags, a, l);
}

ssize_t read(int fd, void *p, size_t n) {
    MAYBE_FAIL(read, fd, -1);
    REAL(read);
    return fn_(fd, p, n);
}

ssize_t readv(int fd, const struct iovec *v, int n) {
    MAYBE_FAIL(readv, fd, -1);
    REAL(readv);
    return fn_(fd, v, n);
}

ssize_t sendfile(int out, int in, off_t *off, size_t n) {
    MAYBE_FAIL(sendfile, out, -1);
    REAL(sendfile);
    return fn_(out, in, off, n);
}

int connect(int fd, const struct sockaddr *a, socklen_t l) {
    MAYBE_FAIL(connect, fd, -1);
    REAL(connect);
    return fn_(fd, a, l);
}

int bind(int fd, const struct sockaddr *a, socklen_t l) {
    MAYBE_FAIL(bind, fd, -1);
    REAL(bind);
    return fn_(fd, a, l);
}

int listen(int fd, int backlog) {
    MAYBE_FAIL(listen, fd, -1);
    REAL(listen);
    return fn_(fd, backlog);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    MAYBE_FAIL(mmap, NOFD, MAP_FAILED);
    REAL(mmap);
    return fn_(addr, len, prot, flags, fd, off);
}

int mprotect(void *addr, size_t len, int prot) {
    MAYBE_FAIL(mprotect, NOFD, -1);
    REAL(mprotect);
    return fn_(addr, len, prot);
}

/* These two return the error instead of setting errno. */
int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                   void *(*start)(void *), void *arg) {
    int e = should_fail(C_pthread_create, NOFD);
    if (e)
        return e;
    REAL(pthread_create);
    return fn_(th, attr, start, arg);
}

int posix_spawn(pid_t *pid, const char *path,
                const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *attr, char *const argv[],
                char *const envp[]) {
    int e = should_fail(C_posix_spawn, NOFD);
    if (e)
        return e;
    REAL(posix_spawn);
    return fn_(pid, path, fa, attr, argv, envp);
}

/* syscall(2): pidfd_open can be failed; everything else passes through
 * with its six argument registers. */
long syscall(long nr, ...) {
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
#ifdef SYS_pidfd_open
    if (nr == SYS_pidfd_open)
        MAYBE_FAIL(pidfd_open, NOFD, -1);
#endif
    REAL(syscall);
    return fn_(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
