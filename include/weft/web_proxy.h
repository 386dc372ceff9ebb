/* weft/web_proxy.h - serving behind a load balancer: who the client is.
 *
 * Two ways a proxy tells a server the client's address, and weft reads
 * both, but only from proxies it was told to trust (anyone can send a
 * header; a client that could make the server believe it came from
 * 127.0.0.1 would get past address-based checks):
 *
 *  - HTTP headers: Forwarded (RFC 7239) or X-Forwarded-For, -Proto and
 *    -Host, added by an HTTP proxy (nginx, HAProxy in http mode, a cloud
 *    load balancer). weft_web_forwarded() adds a middleware that applies
 *    them to requests whose connection comes from a trusted address
 *    (weft_web_set_remote, weft_web_set_scheme, weft_web_forwarded_host).
 *  - The PROXY protocol (v1 text and v2 binary, as HAProxy sends them with
 *    send-proxy / send-proxy-v2), a header that a TCP proxy writes once at
 *    the start of each connection, before TLS and HTTP.
 *    weft_web_proxy_protocol() is a connection hook for the listeners
 *    that sit behind such a proxy (weft_web_listen_opts_t.on_connect); a
 *    listener with the hook refuses connections that do not start with a
 *    valid header, as the protocol requires.
 *
 * weft_proxy_parse() is the PROXY protocol's parser alone, for any weft
 * server (it needs no loop, allocates nothing, and is fuzzed:
 * fuzz/proxy.c).
 */
#ifndef WEFT_WEB_PROXY_H
#define WEFT_WEB_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- trusted networks ---------------------------------------------------- */

/* A set of addresses and networks (IPv4 and IPv6 CIDR blocks, and Unix
 * sockets), made from text; immutable once made, so one may be shared by
 * worker threads. */
typedef struct weft_web_trust weft_web_trust_t;

/* Make a set from a list separated by commas and/or spaces: addresses
 * ("10.1.2.3", "::1"), networks ("10.0.0.0/8", "fd00::/8"; host bits must
 * be zero), and the word "unix" (connections on a Unix socket, whose peer
 * has no address). An IPv4 entry also matches its IPv4-mapped IPv6 form
 * (::ffff:10.1.2.3, what a dual-stack socket reports). The caller owns
 * *out (weft_web_trust_free). Returns 0, -EINVAL (an entry that is none
 * of these: logged with the entry), -ENOMEM. */
WEFT_EXPORT int weft_web_trust_new(weft_web_trust_t **out, const char *list);

/* Free a set. NULL is ignored. */
WEFT_EXPORT void weft_web_trust_free(weft_web_trust_t *t);

/* Whether addr (AF_INET, AF_INET6 or AF_UNIX; len its length) is in the
 * set. Other families and NULL are not. */
WEFT_EXPORT bool weft_web_trust_has(const weft_web_trust_t *t,
                                    const struct sockaddr *addr,
                                    socklen_t len);

/* ---- Forwarded / X-Forwarded-* ------------------------------------------- */

/* weft_web_forwarded flags: which headers to read. 0 means both. */
enum {
    WEFT_WEB_FWD_FORWARDED = 1u << 0,   /* Forwarded (RFC 7239) */
    WEFT_WEB_FWD_X_FORWARDED = 1u << 1, /* X-Forwarded-For/-Proto/-Host */
};

/* Add a middleware (run in the order middlewares are added: add this one
 * first so that the others see its result) that, for requests whose
 * connection's effective address (the socket's, or the PROXY protocol's)
 * is in `trusted`, takes the client's address, scheme and host from the
 * proxy headers. With both kinds of header enabled and both present,
 * Forwarded wins.
 *
 * The address: the list of hops (Forwarded's for= of each element, or
 * X-Forwarded-For's addresses, counting every field of that name in
 * order) is walked from the right, the nearest proxy's end, past the
 * addresses that are themselves trusted; the first one that is not is the
 * client (the addresses left of it were written by the client itself and
 * prove nothing: nginx's real_ip_recursive). If every hop is trusted, the
 * leftmost is the client. A hop that is not an address (RFC 7239's
 * "unknown" or "_obfuscated" identifiers, or garbage) ends the walk: the
 * remote address is then left as it was.
 *
 * The scheme and host: Forwarded's proto= and host= of the element the
 * client was found in; X-Forwarded-Proto's and X-Forwarded-Host's element
 * at the same hop (counted from the right), or their leftmost if they
 * have fewer. A scheme other than "http" or "https" and a host with bytes
 * a Host header may not hold are ignored.
 *
 * A header that does not parse is ignored whole (the request goes on with
 * the socket's address: a proxy we trust would not send it, so someone
 * else wrote it). Requests from addresses not in the set are not changed,
 * and their headers not read.
 *
 * trusted: a list as weft_web_trust_new takes ("10.0.0.0/8, ::1"),
 * copied into the app (freed with it). flags: WEFT_WEB_FWD_*, 0 for both.
 * Returns 0, -EINVAL (a bad list or flag), -EBUSY (app frozen), -ENOMEM. */
WEFT_EXPORT int weft_web_forwarded(weft_web_app_t *app, const char *trusted,
                                   unsigned flags);

/* The host the client asked for, as the forwarded middleware found it
 * (a trusted X-Forwarded-Host or Forwarded host=), else the request's
 * Host header (weft_web_host); NUL-terminated, in the request's arena.
 * "" if neither. */
WEFT_EXPORT const char *weft_web_forwarded_host(weft_web_request_t *req);

/* ---- the PROXY protocol --------------------------------------------------- */

/* The longest v1 header (RFC-less, HAProxy's spec: 107 bytes with CRLF),
 * and the longest v2 header (16 bytes and a 16-bit length). */
#define WEFT_PROXY_V1_MAX 107
#define WEFT_PROXY_V2_MAX (16 + 65535)

/* A parsed PROXY header. */
typedef struct weft_proxy_info {
    int version; /* 1 or 2 */
    /* The proxy speaks for itself (v2 LOCAL, a health check; v1 UNKNOWN;
     * v2 PROXY with the UNSPEC family): no addresses, the connection's
     * own are the right ones. */
    bool local;
    /* v2: SOCK_STREAM or SOCK_DGRAM as the header says (v1: STREAM). */
    int socktype;
    /* The original client (src) and the address it connected to (dst):
     * AF_INET, AF_INET6 or AF_UNIX, ports in network order as in any
     * sockaddr. Unset (len 0) when local. */
    struct sockaddr_storage src, dst;
    socklen_t src_len, dst_len;
    /* v2: the TLV vectors after the addresses (type, 16-bit length,
     * value; see weft_proxy_tlv), a span of the parsed buffer; empty for
     * v1. */
    const unsigned char *tlv;
    size_t tlv_len;
} weft_proxy_info_t;

/* Parse the PROXY header at the start of buf[0 .. len), v1 or v2 (told
 * apart by their first bytes). Strict, as the spec asks of a receiver:
 * v1 is "PROXY" then TCP4 / TCP6 with two addresses of that family in
 * their usual text form and two ports (decimal, 0..65535, no leading
 * zero), single spaces, CRLF, at most 107 bytes; or UNKNOWN and anything
 * up to CRLF. v2 is the 12-byte signature, version 2, command LOCAL or
 * PROXY, a known family and protocol, a length that covers the family's
 * address block, and TLVs that fit exactly in what is left. Unix
 * addresses (108 bytes each, NUL-padded) must hold a NUL.
 *
 * Returns the header's length (the application's bytes start at buf +
 * that), -EAGAIN when the bytes so far are a valid beginning but not a
 * whole header, or -EPROTO (not a PROXY header, or a malformed one: close
 * the connection). Spans in *info point into buf. -EINVAL for NULL
 * arguments. */
WEFT_EXPORT int weft_proxy_parse(weft_proxy_info_t *info, const void *buf,
                                 size_t len);

/* The first v2 TLV of `type` (PP2_TYPE_ALPN 0x01, AUTHORITY 0x02, ... as
 * in HAProxy's spec) in info: points *value at its value and returns its
 * length, or -ENOENT. */
WEFT_EXPORT int weft_proxy_tlv(const weft_proxy_info_t *info, unsigned type,
                               const unsigned char **value);

/* A connection hook (weft_web_listen_opts_t.on_connect) for a listener
 * behind a proxy that sends the PROXY protocol: reads the header (v1 or
 * v2) from the connection's first bytes and makes its source the
 * address requests report (weft_web_remote_addr; LOCAL and UNKNOWN
 * headers keep the socket's). A connection without a valid header is
 * closed without an answer. arg: NULL, or a weft_web_trust_t that the
 * socket's peer must be in (else the connection is closed before
 * anything is read): the header is believed only from the proxy.
 * Reading is bounded by the runner's head timeout. */
WEFT_EXPORT int weft_web_proxy_protocol(weft_web_conn_t *conn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
