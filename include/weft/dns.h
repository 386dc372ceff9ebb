/* weft/dns.h - asynchronous name resolution (c-ares underneath).
 *
 * weft_getaddrinfo() is getaddrinfo(3) for tasks (include <netdb.h> for
 * struct addrinfo and the AI_* flags): it resolves a host name
 * while the loop runs other tasks, can be cancelled, and ends with
 * -ETIMEDOUT inside an expired deadline scope, like every other wait:
 *
 *     struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
 *     weft_scope_t s;
 *     weft_scope_enter(&s, 5.0, 0);
 *     int err = weft_getaddrinfo("example.org", "443", &hints, &ai);
 *     weft_scope_exit(&s);
 *     if (err < 0) {
 *         char msg[WEFT_DNS_ERRMSG_SIZE];
 *         fprintf(stderr, "%s\n",
 *                 weft_dns_strerror(err, "example.org", msg, sizeof msg));
 *         return err;          // "dns: no such host 'example.org' (NXDOMAIN)"
 *     }
 *     for (struct addrinfo *p = ai; p; p = p->ai_next) ... connect ...
 *     weft_freeaddrinfo(ai);
 *
 * Where names come from:
 *   - Numeric hosts ("127.0.0.1", "::1", "fe80::1%eth0") and a NULL host
 *     (loopback, or the wildcard addresses with AI_PASSIVE) are converted
 *     at once, without any lookup and without suspending the task (so a
 *     call that needs no lookup is not a cancellation point, as an already
 *     done future in weft_await).
 *   - Other names are looked up in /etc/hosts first, then in the DNS
 *     servers of /etc/resolv.conf (c-ares's "fb" order; its search domains,
 *     ndots, timeout and attempts options apply). "localhost" never goes to
 *     DNS (RFC 6761). /etc/resolv.conf is read when a loop first resolves a
 *     name (a small local file, read synchronously).
 *   - weft_dns_configure() points a loop's resolver at other servers, with
 *     other timeouts.
 *
 * Each loop has its own resolver (one c-ares channel, created on first
 * use, destroyed when the loop closes); its sockets are non-blocking and
 * close-on-exec, and are served by small internal tasks of the loop
 * ("dns-rd", "dns-wr"), which also end when the loop closes.
 *
 * Errors are negative: errno values, or weft's own WEFT_EAI_* codes
 * (weft/core.h) where errno has no name:
 *   WEFT_EAI_NONAME   the host does not exist (NXDOMAIN, not in /etc/hosts)
 *   WEFT_EAI_NODATA   it exists but has no address of the requested family
 *   WEFT_EAI_AGAIN    the DNS server failed (SERVFAIL): try again later
 *   WEFT_EAI_REFUSED  the DNS server refused to answer (REFUSED)
 *   WEFT_EAI_FAIL     a malformed answer, or one saying our query was
 *                     malformed or not implemented (FORMERR, NOTIMP)
 *   WEFT_EAI_BADNAME  the name can never be resolved, so no query is
 *                     sent: empty, longer than 253 bytes, a label empty or
 *                     over 63 bytes or starting or ending with '-', a
 *                     character other than letters, digits, '-' and '_'
 *                     (RFC 1123), a last label of digits only (a mistyped
 *                     address), "[::1]" (brackets) or "host:80" (a port);
 *                     weft_dns_strerror says which
 *   WEFT_EAI_SERVICE  the service is neither a port number nor in
 *                     /etc/services
 *   -ETIMEDOUT        no server answered within c-ares's tries, or a
 *                     deadline scope expired
 *   -ECONNREFUSED     the DNS servers could not be reached (port closed)
 *   -ECONNRESET       a server closed the TCP connection mid-answer
 *   -EIO              another c-ares failure (e.g. /etc/resolv.conf
 *                     could not be read)
 *   -ECANCELED, -EAFNOSUPPORT, -EINVAL, -ENOMEM, -EPERM, -ESHUTDOWN
 * weft_strerror() describes a code; weft_dns_strerror() writes a message
 * that names the host, which the bare code cannot carry.
 */
#ifndef WEFT_DNS_H
#define WEFT_DNS_H

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Declared here, defined by <netdb.h>: include it to use the results and
 * the AI_* flags. (weft.h includes no socket header, so that programs that
 * name their own functions shutdown() or connect() keep compiling.) */
struct addrinfo;

/* Resolve host and/or service into a list of socket addresses, from a task
 * (-EPERM elsewhere). Returns 0 and stores the list in *out (never empty),
 * which the caller frees with weft_freeaddrinfo() (not freeaddrinfo(3):
 * the list comes from weft's allocator). On failure *out is NULL.
 *
 * host: a name, a numeric IPv4 or IPv6 address (IPv6 may carry a zone,
 *   "fe80::1%eth0" or "%2"), or NULL. NULL with AI_PASSIVE gives the
 *   wildcard addresses (0.0.0.0, ::) to bind to; NULL without it the
 *   loopback addresses (127.0.0.1, ::1). IPv4 comes before IPv6 then.
 * service: a decimal port ("8080"), a name from /etc/services ("https",
 *   looked up for "udp" when hints ask for SOCK_DGRAM, else "tcp"), or
 *   NULL for port 0. host and service may not both be NULL
 *   (WEFT_EAI_NONAME), and host may not be "" (WEFT_EAI_BADNAME).
 * hints: NULL, or as getaddrinfo(3): ai_family AF_UNSPEC (both, the
 *   default), AF_INET or AF_INET6 (others: -EAFNOSUPPORT); ai_socktype and
 *   ai_protocol are copied into every result (ai_protocol is filled in
 *   from SOCK_STREAM / SOCK_DGRAM when 0); ai_flags may hold AI_PASSIVE,
 *   AI_CANONNAME (the first result's ai_canonname is the name at the end
 *   of any CNAME chain), AI_NUMERICHOST (never look up: a name gives
 *   WEFT_EAI_NONAME), AI_NUMERICSERV and AI_ADDRCONFIG (accepted, not
 *   applied); others, e.g. AI_V4MAPPED, give -EINVAL. Other fields must
 *   be 0.
 *
 * The list has one entry per address (glibc's getaddrinfo repeats each
 * address once per socket type when hints give none; weft does not), in
 * the order of RFC 6724 as c-ares sorts it, ai_flags 0.
 *
 * A lookup that has to wait is a cancellation point: it returns
 * -ECANCELED when the task is cancelled and -ETIMEDOUT when a deadline
 * scope expires. The query itself cannot be withdrawn from c-ares: it runs
 * on until an answer or c-ares's own timeout, and its result is then
 * dropped; nothing leaks, and the caller's memory is never touched again.
 * Errors: see the top of this file; also -ESHUTDOWN while the loop closes.
 * The task's stack must have room for c-ares's work (the default 64 KiB
 * has plenty; 16 KiB is a safe minimum). */
WEFT_EXPORT int weft_getaddrinfo(const char *host, const char *service,
                                 const struct addrinfo *hints,
                                 struct addrinfo **out);

/* Free a list from weft_getaddrinfo(). NULL is ignored. */
WEFT_EXPORT void weft_freeaddrinfo(struct addrinfo *ai);

/* A buffer size that holds any message of weft_dns_strerror() for a host
 * name of legal length (253 bytes). */
#define WEFT_DNS_ERRMSG_SIZE 384

/* Write a one-line message about a failed lookup of `host` into buf and
 * return buf, for logs and users, e.g.
 *   "dns: no such host 'nx.example' (NXDOMAIN)"
 *   "dns: no answer for 'slow.example' (timed out)"
 *   "dns: 'ok.example': Operation canceled"
 *   "dns: 'localhost:80' is not a valid host name: it is a host and a port
 *    (give the port separately)"
 *   "dns: the host name is empty"
 * err is what weft_getaddrinfo() returned; host may be NULL. The host is
 * quoted with control characters, bytes above 127 and '\' escaped (\x0a,
 * \\), so the message is one printable line whatever the name. The message
 * is truncated to fit (size 0: nothing is written). Thread-safe. Failed
 * lookups log the same line at WEFT_LOG_DEBUG: the first of a loop, then
 * one line "... (repeated N times)" per 10 s while more fail. */
WEFT_EXPORT char *weft_dns_strerror(int err, const char *host, char *buf,
                                    size_t size);

/* Options of a loop's resolver. Zero fields keep the defaults. */
typedef struct weft_dns_opts {
    /* Servers to ask instead of those of /etc/resolv.conf, as c-ares's
     * comma-separated list: "192.0.2.1", "127.0.0.1:5353",
     * "[2001:db8::1]:53". NULL: /etc/resolv.conf. */
    const char *servers;
    /* Seconds before the first try of a query on one server gives up (later
     * tries wait longer, as c-ares doubles it per round). 0: resolv.conf's
     * "options timeout", else 5 s. At least 1 ms. */
    double timeout;
    /* Tries per server. 0: resolv.conf's "options attempts", else 4. */
    int tries;
} weft_dns_opts_t;

/* Configure the resolver of `loop` (from its thread; the loop need not be
 * running). opts NULL restores the defaults. The new settings take effect
 * at once: the loop's c-ares channel is replaced, and a malformed server
 * list is reported now (-EINVAL). Returns 0, -EINVAL (also a negative,
 * NaN or huge timeout, negative tries), -ENOMEM, -EIO (c-ares could not
 * read its configuration), -EPERM (foreign thread), -ESHUTDOWN (loop
 * closed or closing), or -EBUSY while a task of the loop is waiting for a
 * lookup (lookups that were cancelled or timed out and still run in
 * c-ares are dropped); on an error the settings are unchanged. */
WEFT_EXPORT int weft_dns_configure(weft_loop_t *loop,
                                   const weft_dns_opts_t *opts);

/* weft_dns_configure() changing only the servers (NULL: /etc/resolv.conf),
 * keeping the timeout and tries set before. Same returns. */
WEFT_EXPORT int weft_dns_set_servers(weft_loop_t *loop, const char *servers);

#ifdef __cplusplus
}
#endif
#endif
