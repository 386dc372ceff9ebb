/* The epoll backend. File descriptors are registered once, edge-triggered,
 * for input and output together; the loop latches readiness and retries an
 * operation when an edge arrives, so waiting costs no epoll_ctl call. An
 * eventfd wakes the loop for calls from other threads. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop_int.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#define MAX_EVENTS 256
/* epoll_pwait2 (Linux 5.11, glibc 2.35) takes a timespec: waits are not
 * rounded to milliseconds. Older systems fall back to epoll_wait. */
#if defined(__GLIBC__) &&                                                      \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define HAVE_EPOLL_PWAIT2 1
#endif

#ifdef HAVE_EPOLL_PWAIT2
static atomic_int no_pwait2; /* the kernel said ENOSYS once */
#endif

/* The eventfd's registration carries this tag instead of an io pointer. */
static char wake_tag;

int weft__epoll_init(weft_loop_t *loop) {
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        return -errno;
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0) {
        int err = -errno;
        close(loop->epfd);
        loop->epfd = -1;
        return err;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_tag};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
        int err = -errno;
        weft__epoll_fini(loop);
        return err;
    }
    return 0;
}

void weft__epoll_fini(weft_loop_t *loop) {
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->wakefd = loop->epfd = -1;
}

int weft__epoll_add(weft_loop_t *loop, struct weft__io *io) {
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.ptr = io,
    };
    io->ready = 0;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
        return -errno;
    return 0;
}

void weft__epoll_del(weft_loop_t *loop, struct weft__io *io) {
    /* Closing an fd removes it from epoll too, but only once every
     * duplicate is closed; deleting explicitly keeps stale events away. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void weft__poller_wake(weft_loop_t *loop) {
    uint64_t one = 1;
    ssize_t n = write(loop->wakefd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is already non-zero: awake */
}

void weft__poller_wake_drain(weft_loop_t *loop) {
    uint64_t v;
    ssize_t n = read(loop->wakefd, &v, sizeof v);
    (void)n;
}

int weft__epoll_poll(weft_loop_t *loop, int64_t timeout_ns) {
    struct epoll_event evs[MAX_EVENTS];
    int n;
#ifdef HAVE_EPOLL_PWAIT2
    bool pwait2 = !atomic_load_explicit(&no_pwait2, memory_order_relaxed);
#ifdef RUNNING_ON_VALGRIND
    /* Valgrind 3.19 does not know the call and says so loudly. */
    pwait2 = pwait2 && !RUNNING_ON_VALGRIND;
#endif
    if (pwait2) {
        struct timespec ts, *tp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = (time_t)(timeout_ns / (int64_t)WEFT__NS_PER_SEC);
            ts.tv_nsec = (long)(timeout_ns % (int64_t)WEFT__NS_PER_SEC);
            tp = &ts;
        }
        n = epoll_pwait2(loop->epfd, evs, MAX_EVENTS, tp, NULL);
        if (n < 0 && errno == ENOSYS)
            atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed);
        else
            goto got;
    }
#endif
    {
        int ms = -1;
        if (timeout_ns >= 0) {
            /* Round up: waking early would only spin. */
            int64_t m = (timeout_ns + 999999) / 1000000;
            ms = m > 86400000 ? 86400000 : (int)m;
        }
        n = epoll_wait(loop->epfd, evs, MAX_EVENTS, ms);
    }
#ifdef HAVE_EPOLL_PWAIT2
got:
#endif
    if (n < 0) {
        if (errno != EINTR)
            weft__log(WEFT_LOG_ERROR, "epoll_wait: %s", weft_strerror(errno));
        return 0;
    }
    int handled = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == &wake_tag)
            continue; /* drained with the queue it announces */
        struct weft__io *io = evs[i].data.ptr;
        uint32_t bits = weft__poll_bits(evs[i].events);
        io->ready |= bits;
        io->notify(loop, io, bits);
        handled++;
    }
    return handled + (n > handled ? 1 : 0);
}
