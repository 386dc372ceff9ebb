/* UDP endpoints. */
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "net_int.h"

struct weft_udp {
    weft_loop_t *loop;
    struct weft__io io;
    int fd;
    uint32_t users;
    bool closed;
};

int weft_udp_open(weft_udp_t **out, const char *local_host,
                  const char *local_port, const char *remote_host,
                  const char *remote_port, int family, unsigned flags) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!weft__task_require("weft_udp_open"))
        return -EPERM;
    if (flags & ~(unsigned)(WEFT_UDP_BROADCAST | WEFT_UDP_REUSEPORT))
        return -EINVAL;
    struct addrinfo *local = NULL, *remote = NULL;
    int err = 0;
    if (remote_host) {
        err = weft__resolve(remote_host, remote_port ? remote_port : "0",
                            family, SOCK_DGRAM, false, &remote);
        if (err)
            return err;
        family = remote->ai_family;
    }
    if (local_host || local_port || !remote) {
        err = weft__resolve(local_host, local_port ? local_port : "0", family,
                            SOCK_DGRAM, true, &local);
        if (err) {
            weft__addrinfo_free(remote);
            return err;
        }
        family = local->ai_family;
    }
    int fd = weft__socket(family, SOCK_DGRAM, 0);
    if (fd < 0) {
        err = fd;
        goto out;
    }
    int one = 1;
    if ((flags & WEFT_UDP_BROADCAST) &&
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0)
        err = -errno;
    if (!err && (flags & WEFT_UDP_REUSEPORT) &&
        (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0))
        err = -errno;
    if (!err && local && bind(fd, local->ai_addr, local->ai_addrlen) < 0)
        err = -errno;
    if (!err && remote && connect(fd, remote->ai_addr, remote->ai_addrlen) < 0)
        err = -errno;
    weft_udp_t *u = NULL;
    if (!err) {
        u = weft__calloc(1, sizeof *u);
        if (!u)
            err = -ENOMEM;
    }
    if (!err) {
        u->loop = weft_loop_current();
        u->fd = fd;
        err = weft__io_open(u->loop, &u->io, fd);
        if (err)
            weft__free(u);
    }
    if (err)
        close(fd);
    else
        *out = u;
out:
    weft__addrinfo_free(local);
    weft__addrinfo_free(remote);
    return err;
}

static int enter(weft_udp_t *u, const char *fn) {
    if (!u)
        return -EINVAL;
    if (!weft__task_require(fn))
        return -EPERM;
    int err = weft__loop_check(u->loop, fn);
    if (err)
        return err;
    if (u->closed)
        return -EBADF;
    u->users++;
    return 0;
}

static ssize_t leave(weft_udp_t *u, ssize_t r) {
    if (--u->users == 0 && u->closed) {
        weft__free(u);
        return -EBADF;
    }
    return u->closed ? -EBADF : r;
}

ssize_t weft_udp_sendto(weft_udp_t *u, const void *buf, size_t len,
                        const struct sockaddr *addr, socklen_t addrlen) {
    int err = enter(u, "weft_udp_sendto");
    if (err)
        return err;
    struct iovec iov = {(void *)buf, len};
    struct msghdr m = {.msg_name = (void *)addr,
                       .msg_namelen = addr ? addrlen : 0,
                       .msg_iov = &iov,
                       .msg_iovlen = 1};
    return leave(u, weft__op_sendmsg(&u->io, &m, 0));
}

ssize_t weft_udp_recvfrom(weft_udp_t *u, void *buf, size_t len,
                          struct sockaddr_storage *from, socklen_t *fromlen) {
    int err = enter(u, "weft_udp_recvfrom");
    if (err)
        return err;
    struct iovec iov = {buf, len};
    struct sockaddr_storage ss;
    struct msghdr m = {.msg_name = &ss,
                       .msg_namelen = sizeof ss,
                       .msg_iov = &iov,
                       .msg_iovlen = 1};
    ssize_t r = weft__op_recvmsg(&u->io, &m, 0);
    if (r >= 0 && (m.msg_flags & MSG_TRUNC))
        r = -EMSGSIZE; /* said, not silently cut */
    if (r >= 0 && from) {
        /* recvmsg wrote msg_namelen bytes of ss. */
        /* cppcheck-suppress uninitvar */
        memcpy(from, &ss, m.msg_namelen);
        if (fromlen)
            *fromlen = m.msg_namelen;
    }
    return leave(u, r);
}

int weft_udp_sockname(const weft_udp_t *u, struct sockaddr_storage *addr,
                      socklen_t *len) {
    if (!u || !addr || !len || u->closed)
        return -EINVAL;
    *len = sizeof *addr;
    return getsockname(u->fd, (struct sockaddr *)addr, len) < 0 ? -errno : 0;
}

int weft_udp_fd(const weft_udp_t *u) {
    return u && !u->closed ? u->fd : -1;
}

void weft_udp_close(weft_udp_t *u) {
    if (!u || weft__loop_check(u->loop, "weft_udp_close") || u->closed)
        return;
    u->closed = true;
    weft__io_close(u->loop, &u->io);
    close(u->fd);
    u->fd = -1;
    if (u->users == 0)
        weft__free(u);
}
