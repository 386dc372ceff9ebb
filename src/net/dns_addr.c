/* The resolver's plain half: arguments, numeric hosts, services, result
 * lists, error codes and messages. Nothing here waits or needs a loop. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_int.h"

#define FLAGS_ALLOWED                                                          \
    (AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_NUMERICSERV |             \
     AI_ADDRCONFIG)

/* ---- arguments ----------------------------------------------------------------- */

static bool all_digits(const char *s) {
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int parse_service(const char *service, struct weft__dns_spec *sp) {
    if (all_digits(service)) {
        if (strlen(service) > 5)
            return WEFT_EAI_SERVICE;
        unsigned long port = strtoul(service, NULL, 10);
        if (port > 65535)
            return WEFT_EAI_SERVICE;
        sp->port = (uint16_t)port;
        return 0;
    }
    if (!*service || (sp->flags & AI_NUMERICSERV))
        return WEFT_EAI_SERVICE;
    /* /etc/services, a local file (c-ares would read it the same way). */
    const char *proto = sp->socktype == SOCK_DGRAM ? "udp" : "tcp";
    struct servent se, *res = NULL;
    char buf[1024];
    if (getservbyname_r(service, proto, &se, buf, sizeof buf, &res) != 0 ||
        !res)
        return WEFT_EAI_SERVICE;
    sp->port = ntohs((uint16_t)res->s_port);
    return 0;
}

static bool hints_clean(const struct addrinfo *h) {
    return !h->ai_addrlen && !h->ai_addr && !h->ai_canonname && !h->ai_next &&
           !(h->ai_flags & ~FLAGS_ALLOWED);
}

int weft__dns_prepare(const char *host, const char *service,
                      const struct addrinfo *hints,
                      struct weft__dns_spec *sp) {
    memset(sp, 0, sizeof *sp);
    sp->family = AF_UNSPEC;
    if (hints) {
        if (!hints_clean(hints))
            return -EINVAL;
        if (hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET &&
            hints->ai_family != AF_INET6)
            return -EAFNOSUPPORT;
        sp->flags = hints->ai_flags;
        sp->family = hints->ai_family;
        sp->socktype = hints->ai_socktype;
        sp->protocol = hints->ai_protocol;
    }
    if (!sp->protocol && sp->socktype == SOCK_STREAM)
        sp->protocol = IPPROTO_TCP;
    else if (!sp->protocol && sp->socktype == SOCK_DGRAM)
        sp->protocol = IPPROTO_UDP;
    if (!host && !service)
        return WEFT_EAI_NONAME;
    if (host && !*host)
        return WEFT_EAI_BADNAME; /* no query could ever answer it */
    sp->host = host;
    return service ? parse_service(service, sp) : 0;
}

/* ---- names that can never resolve ---------------------------------------------- *
 * RFC 1123 section 2.1 (after RFC 952): labels of letters, digits and
 * hyphens, 1 to 63 bytes, neither starting nor ending with a hyphen; at
 * most 253 bytes in all, plus a final dot. Underscores are let through:
 * names such as "db_1" (Docker services, SRV owners) do resolve in
 * practice. A last label of digits only is not a name either (RFC 1123 2.1,
 * RFC 3696 section 2): "1.2.3.999" is a mistyped address. Such names used to
 * go to the DNS servers and wait for their deadline. */

static bool label_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* "localhost:80", "[::1]:443": a host with its port. */
static bool has_port(const char *h) {
    const char *c = strrchr(h, ':');
    return c && all_digits(c + 1) &&
           (h[0] == '[' ? c > h && c[-1] == ']' : strchr(h, ':') == c);
}

const char *weft__dns_name_problem(const char *h) {
    if (!h)
        return NULL;
    if (!*h)
        return "is empty";
    if (has_port(h))
        return "is a host and a port (give the port separately)";
    if (h[0] == '[')
        return "is bracketed (an IPv6 address goes without brackets)";
    if (strchr(h, ':'))
        return "is neither an IP address nor a host name";
    size_t n = strlen(h);
    if (n > 1 && h[n - 1] == '.')
        n--; /* the root: a fully qualified name */
    if (n > 253)
        return "is longer than 253 bytes";
    bool digits_only = true;
    for (size_t i = 0, start = 0; i <= n; i++) {
        if (i < n && h[i] != '.') {
            if (!label_char((unsigned char)h[i]))
                return "holds a character no host name has";
            digits_only = digits_only && h[i] >= '0' && h[i] <= '9';
            continue;
        }
        size_t len = i - start;
        if (len == 0)
            return "has an empty label";
        if (len > 63)
            return "has a label longer than 63 bytes";
        if (h[start] == '-' || h[i - 1] == '-')
            return "has a label that starts or ends with '-'";
        if (i < n)
            digits_only = true; /* the next label's */
        start = i + 1;
    }
    return digits_only ? "is neither an IP address nor a host name" : NULL;
}

/* ---- result lists -------------------------------------------------------------- *
 * Each entry is one allocation: the addrinfo, its socket address, and (the
 * first entry only) the canonical name, so weft_freeaddrinfo frees each
 * entry with one call. */

struct dns_entry {
    struct addrinfo ai;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sa;
    char canon[];
};

static struct addrinfo *entry_new(const struct weft__dns_spec *sp, int family,
                                  const void *addr, uint32_t scope,
                                  const char *canon) {
    size_t extra = canon ? strlen(canon) + 1 : 0;
    struct dns_entry *e = weft__calloc(1, sizeof *e + extra);
    if (!e)
        return NULL;
    e->ai.ai_family = family;
    e->ai.ai_socktype = sp->socktype;
    e->ai.ai_protocol = sp->protocol;
    e->ai.ai_addr = (struct sockaddr *)&e->sa;
    if (family == AF_INET) {
        e->sa.v4.sin_family = AF_INET;
        e->sa.v4.sin_port = htons(sp->port);
        memcpy(&e->sa.v4.sin_addr, addr, sizeof e->sa.v4.sin_addr);
        e->ai.ai_addrlen = sizeof e->sa.v4;
    } else {
        e->sa.v6.sin6_family = AF_INET6;
        e->sa.v6.sin6_port = htons(sp->port);
        e->sa.v6.sin6_scope_id = scope;
        memcpy(&e->sa.v6.sin6_addr, addr, sizeof e->sa.v6.sin6_addr);
        e->ai.ai_addrlen = sizeof e->sa.v6;
    }
    if (canon) {
        memcpy(e->canon, canon, extra);
        e->ai.ai_canonname = e->canon;
    }
    return &e->ai;
}

void weft_freeaddrinfo(struct addrinfo *ai) {
    while (ai) {
        struct addrinfo *next = ai->ai_next;
        weft__free(WEFT__CONTAINER_OF(ai, struct dns_entry, ai));
        ai = next;
    }
}

/* Append an entry unless the family is filtered out. */
static int append(const struct weft__dns_spec *sp, struct addrinfo ***tail,
                  int family, const void *addr, uint32_t scope,
                  const char *canon) {
    if (sp->family != AF_UNSPEC && sp->family != family)
        return 0;
    struct addrinfo *e = entry_new(sp, family, addr, scope, canon);
    if (!e)
        return -ENOMEM;
    **tail = e;
    *tail = &e->ai_next;
    return 0;
}

/* ---- numeric hosts ------------------------------------------------------------- */

/* No host: the loopback addresses, or with AI_PASSIVE the wildcards. */
static int null_host(const struct weft__dns_spec *sp, struct addrinfo **out) {
    bool passive = sp->flags & AI_PASSIVE;
    struct in_addr v4 = {htonl(passive ? INADDR_ANY : INADDR_LOOPBACK)};
    const struct in6_addr *v6 = passive ? &in6addr_any : &in6addr_loopback;
    struct addrinfo *head = NULL, **tail = &head;
    if (append(sp, &tail, AF_INET, &v4, 0, NULL) ||
        append(sp, &tail, AF_INET6, v6, 0, NULL)) {
        weft_freeaddrinfo(head);
        return -ENOMEM;
    }
    *out = head;
    return 1;
}

/* "fe80::1%eth0" or "fe80::1%2": the address and its zone (scope id).
 * Returns 1 if it is a numeric IPv6 address, 0 if not, or an error. */
static int parse_v6(const char *host, struct in6_addr *a, uint32_t *scope) {
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
    size_t n = strlen(host);
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, host, n + 1);
    char *zone = strchr(buf, '%');
    if (zone)
        *zone++ = '\0';
    if (inet_pton(AF_INET6, buf, a) != 1)
        return 0;
    *scope = 0;
    if (!zone)
        return 1;
    if (all_digits(zone) && strlen(zone) <= 9)
        *scope = (uint32_t)strtoul(zone, NULL, 10);
    else if (!*zone || !(*scope = if_nametoindex(zone)))
        return WEFT_EAI_NONAME;
    return 1;
}

static int one_address(const struct weft__dns_spec *sp, int family,
                       const void *addr, uint32_t scope,
                       struct addrinfo **out) {
    if (sp->family != AF_UNSPEC && sp->family != family)
        return WEFT_EAI_NODATA;
    bool canon = sp->flags & AI_CANONNAME;
    *out = entry_new(sp, family, addr, scope, canon ? sp->host : NULL);
    return *out ? 1 : -ENOMEM;
}

int weft__dns_numeric(const struct weft__dns_spec *sp, struct addrinfo **out) {
    if (!sp->host)
        return null_host(sp, out);
    struct in_addr v4;
    if (inet_pton(AF_INET, sp->host, &v4) == 1)
        return one_address(sp, AF_INET, &v4, 0, out);
    struct in6_addr v6;
    uint32_t scope;
    int r = parse_v6(sp->host, &v6, &scope);
    if (r > 0)
        return one_address(sp, AF_INET6, &v6, scope, out);
    if (r < 0)
        return r;
    return (sp->flags & AI_NUMERICHOST) ? WEFT_EAI_NONAME : 0;
}

/* ---- localhost ----------------------------------------------------------------- */

static bool is_localhost(const char *h) {
    size_t n = strlen(h);
    if (n && h[n - 1] == '.')
        n--;
    return n == 9 && !strncasecmp(h, "localhost", 9);
}

/* /etc/hosts's addresses of one family, appended. */
static int hosts_family(const struct weft__dns_spec *sp, ares_channel ch,
                        int family, struct addrinfo ***tail, bool *first) {
    struct hostent *he = NULL;
    if (ares_gethostbyname_file(ch, "localhost", family, &he) != ARES_SUCCESS)
        return 0;
    int err = 0;
    size_t len = family == AF_INET ? 4 : 16;
    if (he->h_addrtype == family && (size_t)he->h_length == len) {
        for (char **a = he->h_addr_list; *a && !err; a++) {
            bool canon = *first && (sp->flags & AI_CANONNAME);
            err = append(sp, tail, family, *a, 0, canon ? "localhost" : NULL);
            *first = false;
        }
    }
    ares_free_hostent(he);
    return err;
}

int weft__dns_localhost(const struct weft__dns_spec *sp, ares_channel ch,
                        struct addrinfo **out) {
    if (!sp->host || !is_localhost(sp->host))
        return 0;
    struct addrinfo *head = NULL, **tail = &head;
    bool first = true;
    int err = hosts_family(sp, ch, AF_INET, &tail, &first);
    if (!err)
        err = hosts_family(sp, ch, AF_INET6, &tail, &first);
    if (!err && !head) {
        /* Not in /etc/hosts: the loopback addresses (RFC 6761). */
        struct in_addr v4 = {htonl(INADDR_LOOPBACK)};
        const char *canon = (sp->flags & AI_CANONNAME) ? "localhost" : NULL;
        err = append(sp, &tail, AF_INET, &v4, 0, canon);
        if (!err)
            err = append(sp, &tail, AF_INET6, &in6addr_loopback, 0,
                         head ? NULL : canon);
    }
    if (err) {
        weft_freeaddrinfo(head);
        return err;
    }
    *out = head;
    return 1;
}

/* ---- c-ares's answers ---------------------------------------------------------- */

/* The name at the end of the CNAME chain, else the name asked. */
static const char *canonical(const struct weft__dns_spec *sp,
                             const struct ares_addrinfo *ai) {
    const struct ares_addrinfo_cname *c = ai->cnames;
    while (c && c->next)
        c = c->next;
    if (c && c->name)
        return c->name;
    return ai->name ? ai->name : sp->host;
}

int weft__dns_from_ares(const struct weft__dns_spec *sp,
                        const struct ares_addrinfo *ai, struct addrinfo **out) {
    const char *canon = (sp->flags & AI_CANONNAME) ? canonical(sp, ai) : NULL;
    struct addrinfo *head = NULL, **tail = &head;
    for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
        int err = 0;
        const char *c = head ? NULL : canon;
        if (n->ai_family == AF_INET &&
            n->ai_addrlen >= (ares_socklen_t)sizeof(struct sockaddr_in)) {
            const struct sockaddr_in *s = (const void *)n->ai_addr;
            err = append(sp, &tail, AF_INET, &s->sin_addr, 0, c);
        } else if (n->ai_family == AF_INET6 &&
                   n->ai_addrlen >=
                       (ares_socklen_t)sizeof(struct sockaddr_in6)) {
            const struct sockaddr_in6 *s = (const void *)n->ai_addr;
            err = append(sp, &tail, AF_INET6, &s->sin6_addr, s->sin6_scope_id,
                         c);
        }
        if (err) {
            weft_freeaddrinfo(head);
            return err;
        }
    }
    if (!head)
        return WEFT_EAI_NODATA;
    *out = head;
    return 0;
}

/* ---- errors -------------------------------------------------------------------- */

int weft__dns_error(int status) {
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
        return WEFT_EAI_NONAME;
    case ARES_ENODATA:
        return WEFT_EAI_NODATA;
    case ARES_ESERVFAIL:
        return WEFT_EAI_AGAIN;
    case ARES_EREFUSED:
        return WEFT_EAI_REFUSED;
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
    case ARES_EBADRESP:
    case ARES_EBADSTR:
        return WEFT_EAI_FAIL;
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
        return WEFT_EAI_BADNAME;
    case ARES_ESERVICE:
        return WEFT_EAI_SERVICE;
    case ARES_EBADFAMILY:
        return -EAFNOSUPPORT;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ECONNREFUSED:
        return -ECONNREFUSED;
    case ARES_EOF:
        return -ECONNRESET;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* The words around the quoted host, per code. */
static void phrase(int err, const char **pre, const char **post) {
    *pre = "";
    *post = NULL;
    switch (err) {
    case WEFT_EAI_NONAME:
        *pre = "no such host ", *post = " (NXDOMAIN)";
        break;
    case WEFT_EAI_NODATA:
        *pre = "host ";
        *post = " has no address of the requested family (NODATA)";
        break;
    case WEFT_EAI_AGAIN:
        *pre = "server failure resolving ";
        *post = " (SERVFAIL; try again later)";
        break;
    case WEFT_EAI_REFUSED:
        *pre = "the DNS server refused to resolve ", *post = " (REFUSED)";
        break;
    case WEFT_EAI_FAIL:
        *pre = "failure resolving ";
        *post = " (malformed or unsupported query or answer)";
        break;
    case WEFT_EAI_BADNAME:
        *post = " is not a valid host name";
        break; /* weft_dns_strerror says which rule it breaks */
    case -ETIMEDOUT:
        *pre = "no answer for ", *post = " (timed out)";
        break;
    case -ECONNREFUSED:
        *pre = "cannot reach the DNS servers to resolve ";
        *post = " (connection refused)";
        break;
    }
}

char *weft_dns_strerror(int err, const char *host, char *buf, size_t size) {
    if (!buf || !size)
        return buf;
    /* The name as it came, but on one line and printable. */
    char name[WEFT_DNS_ERRMSG_SIZE];
    weft__escape(name, sizeof name, host ? host : "");
    const char *pre, *post, *why;
    phrase(err, &pre, &post);
    if (err == WEFT_EAI_BADNAME && host && !*host)
        snprintf(buf, size, "dns: the host name is empty");
    else if (err == WEFT_EAI_BADNAME && (why = weft__dns_name_problem(host)))
        snprintf(buf, size, "dns: '%s' is not a valid host name: it %s", name,
                 why);
    else if (post)
        snprintf(buf, size, "dns: %s'%s'%s", pre, name, post);
    else
        snprintf(buf, size, "dns: '%s': %s", name, weft_strerror(err));
    return buf;
}
