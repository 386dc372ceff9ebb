/* Addresses: resolving host:port, Unix socket paths, sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "net_int.h"
#include "weft/dns.h"

int weft__socket(int family, int type, int proto) {
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    return fd < 0 ? -errno : fd;
}

int weft__unix_addr(const char *path, struct sockaddr_storage *ss,
                    socklen_t *len) {
    if (!path || !*path)
        return -EINVAL;
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    memcpy(un->sun_path, path, n);
    if (path[0] == '@') {
        un->sun_path[0] = 0; /* abstract: no file, no terminating NUL */
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)sizeof *un;
    }
    return 0;
}

/* A port number, or a service name from /etc/services. */
static int parse_port(const char *port, int socktype, uint16_t *out) {
    if (!port || !*port)
        return -EINVAL;
    char *end;
    long v = strtol(port, &end, 10);
    if (*end == 0) {
        if (v < 0 || v > 65535)
            return -EINVAL;
        *out = (uint16_t)v;
        return 0;
    }
    struct servent se, *res = NULL;
    char buf[1024];
    const char *proto = socktype == SOCK_DGRAM ? "udp" : "tcp";
    if (getservbyname_r(port, proto, &se, buf, sizeof buf, &res) != 0 || !res)
        return -EINVAL;
    *out = ntohs((uint16_t)res->s_port);
    return 0;
}

/* A node holding a copy of the whole socket address `sa` (an IPv6 one
 * keeps its scope id and flow info), with the port set. */
static struct addrinfo *ai_new(int socktype, const struct sockaddr *sa,
                               uint16_t port) {
    size_t salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    struct addrinfo *ai = weft__calloc(1, sizeof *ai + salen);
    if (!ai)
        return NULL;
    ai->ai_family = sa->sa_family;
    ai->ai_socktype = socktype;
    ai->ai_protocol = socktype == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
    ai->ai_addrlen = (socklen_t)salen;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    memcpy(ai->ai_addr, sa, salen);
    if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(port);
    return ai;
}

void weft__addrinfo_free(struct addrinfo *ai) {
    while (ai) {
        struct addrinfo *next = ai->ai_next;
        weft__free(ai);
        ai = next;
    }
}

static int append_sa(struct addrinfo ***tail, int socktype,
                     const struct sockaddr *sa, uint16_t port) {
    struct addrinfo *ai = ai_new(socktype, sa, port);
    if (!ai)
        return -ENOMEM;
    **tail = ai;
    *tail = &ai->ai_next;
    return 0;
}

/* Append a node for a bare IPv4 or IPv6 address (no zone). */
static int append(struct addrinfo ***tail, int family, int socktype,
                  const void *addr, uint16_t port) {
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } u;
    memset(&u, 0, sizeof u);
    if (family == AF_INET6) {
        u.v6.sin6_family = AF_INET6;
        memcpy(&u.v6.sin6_addr, addr, sizeof u.v6.sin6_addr);
    } else {
        u.v4.sin_family = AF_INET;
        memcpy(&u.v4.sin_addr, addr, sizeof u.v4.sin_addr);
    }
    return append_sa(tail, socktype, &u.sa, port);
}

int weft__resolve(const char *host, const char *port, int family,
                  int socktype, bool passive, struct addrinfo **out) {
    *out = NULL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return -EAFNOSUPPORT;
    uint16_t p;
    int err = parse_port(port, socktype, &p);
    if (err)
        return err;
    struct addrinfo *list = NULL, **tail = &list;
    struct in6_addr a6;
    struct in_addr a4;
    bool want4 = family != AF_INET6, want6 = family != AF_INET;
    if (!host || !*host) {
        /* Any address (bind) or loopback (connect), IPv4 unless asked. */
        if (family == AF_INET6) {
            err = append(&tail, AF_INET6, socktype,
                         passive ? &in6addr_any : &in6addr_loopback, p);
        } else {
            a4.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
            err = append(&tail, AF_INET, socktype, &a4, p);
        }
    } else if (inet_pton(AF_INET, host, &a4) == 1) {
        err = want4 ? append(&tail, AF_INET, socktype, &a4, p) : -EAFNOSUPPORT;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        err = want6 ? append(&tail, AF_INET6, socktype, &a6, p)
                    : -EAFNOSUPPORT;
    } else if (strcasecmp(host, "localhost") == 0) {
        /* RFC 6761: localhost is the loopback, never looked up. */
        if (want6)
            err = append(&tail, AF_INET6, socktype, &in6addr_loopback, p);
        a4.s_addr = htonl(INADDR_LOOPBACK);
        if (!err && want4)
            err = append(&tail, AF_INET, socktype, &a4, p);
    } else {
        /* Names go to the asynchronous resolver (src/net/dns.c). */
        err = weft__resolve_name(host, p, family, socktype, &list);
    }
    if (err) {
        weft__addrinfo_free(list);
        return err;
    }
    *out = list;
    return 0;
}

int weft__resolve_name(const char *host, uint16_t port, int family,
                       int socktype, struct addrinfo **out) {
    *out = NULL;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    struct addrinfo *res;
    int err = weft_getaddrinfo(host, NULL, &hints, &res); /* logs why */
    if (err)
        return err;
    /* Copy into our own nodes, with the port set: the whole address, so
     * that a link-local one keeps its zone ("fe80::1%eth0"). */
    struct addrinfo *list = NULL, **tail = &list;
    for (struct addrinfo *a = res; a && !err; a = a->ai_next) {
        if ((a->ai_family == AF_INET &&
             a->ai_addrlen >= sizeof(struct sockaddr_in)) ||
            (a->ai_family == AF_INET6 &&
             a->ai_addrlen >= sizeof(struct sockaddr_in6)))
            err = append_sa(&tail, socktype, a->ai_addr, port);
    }
    weft_freeaddrinfo(res);
    if (!err && !list)
        err = WEFT_EAI_NODATA;
    if (err)
        weft__addrinfo_free(list);
    else
        *out = list;
    return err;
}

const char *weft__addr_str(const struct sockaddr_storage *ss, socklen_t len,
                           char *buf, size_t size) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%u", ip, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = len > off ? len - off : 0;
        if (n > sizeof a->sun_path)
            n = sizeof a->sun_path;
        if (n == 0)
            snprintf(buf, size, "(unnamed)");
        else if (a->sun_path[0] == 0)
            snprintf(buf, size, "@%.*s", (int)(n - 1), a->sun_path + 1);
        else
            snprintf(buf, size, "%.*s", (int)strnlen(a->sun_path, n),
                     a->sun_path);
    } else {
        snprintf(buf, size, "(family %d)", ss->ss_family);
    }
    return buf;
}
