/* Until the c-ares resolver lands (src/net/dns.c), names other than
 * numeric addresses and localhost cannot be resolved. */
#include "net_int.h"

int weft__resolve_name(const char *host, uint16_t port, int family,
                       int socktype, struct addrinfo **out) {
    (void)host;
    (void)port;
    (void)family;
    (void)socktype;
    *out = NULL;
    return -EHOSTUNREACH;
}
