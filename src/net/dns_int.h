/* Internal: the DNS resolver's two halves.
 *
 * dns.c      the per-loop c-ares channel, its sockets (served by small
 *            tasks through the I/O operations of src/task/io.h), its
 *            timer, and weft_getaddrinfo's wait.
 * dns_addr.c what needs no resolver: checking the arguments, numeric
 *            hosts, services, building the result list, error codes and
 *            messages.
 */
#ifndef WEFT_NET_DNS_INT_H
#define WEFT_NET_DNS_INT_H

#include <ares.h>
#include <netdb.h>
#include <sys/socket.h>

#include "../task/io.h"
#include "weft/dns.h"

/* A checked request. */
struct weft__dns_spec {
    const char *host; /* NULL: loopback or wildcard */
    int flags;        /* AI_* */
    int family;       /* AF_UNSPEC, AF_INET, AF_INET6 */
    int socktype, protocol;
    uint16_t port; /* host byte order */
};

/* Check the arguments of weft_getaddrinfo and resolve the service. Returns
 * 0 or a negative error. */
int weft__dns_prepare(const char *host, const char *service,
                      const struct addrinfo *hints,
                      struct weft__dns_spec *sp);

/* Why `host` (not a numeric address) can never be resolved: a phrase
 * ("has an empty label"), or NULL if it may be a host name. */
const char *weft__dns_name_problem(const char *host);

/* Numeric hosts and the NULL host: 1 with the list in *out, 0 if the host
 * is a name to look up, or a negative error. */
int weft__dns_numeric(const struct weft__dns_spec *sp, struct addrinfo **out);

/* "localhost" (any case, a final dot or not) never goes to DNS (RFC
 * 6761): its addresses from /etc/hosts, else the loopback ones. c-ares
 * 1.18.1 does the same for the exact name, but its fallback leaks the name
 * (10 bytes a lookup), and it sends "localhost." to DNS. 1 with the list in
 * *out, 0 for other names, or an error. */
int weft__dns_localhost(const struct weft__dns_spec *sp, ares_channel ch,
                        struct addrinfo **out);

/* Build the list from c-ares's answer. 0, WEFT_EAI_NODATA (no usable
 * address) or -ENOMEM. */
int weft__dns_from_ares(const struct weft__dns_spec *sp,
                        const struct ares_addrinfo *ai, struct addrinfo **out);

/* A c-ares status as a weft error code (ARES_SUCCESS: 0). */
int weft__dns_error(int ares_status);

#endif
