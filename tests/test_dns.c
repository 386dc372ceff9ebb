/* The DNS resolver (weft/dns.h): numeric hosts without a lookup,
 * /etc/hosts, and a small DNS responder of our own on 127.0.0.1 (a task of
 * the test's loop on a UDP socket, ephemeral port) that c-ares is pointed
 * at. There is no other network here.
 *
 * The responder knows these names (the DNS wire format is written and read
 * here, by hand):
 *   known.test     A 192.0.2.1, 192.0.2.2; AAAA 2001:db8::1
 *   alias.test     CNAME known.test, then known.test's records
 *   v4only.test    A 192.0.2.4; no AAAA (NODATA)
 *   hN.test        A 10.0.N/256.N%256 (N < 65536); no AAAA
 *   flaky.test     drops the first query of each type, then as v4only
 *   big.test       over UDP a truncated (TC) empty answer; over TCP (the
 *                  same port) A 192.0.2.10, 192.0.2.11
 *   servfail.test  SERVFAIL;  refused.test  REFUSED
 *   silent.test    never answered
 *   late.test      held until the test releases the answers
 *   anything else  NXDOMAIN
 * The lookups of answered names run on a real clock: a virtual one would
 * jump past c-ares's timeouts while the answer is on its way. No test
 * asserts a timing. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"
#include "task/io.h"

/* ---- the responder ----------------------------------------------------------------- */

#define MAX_HELD 8

struct held {
    struct sockaddr_in to;
    unsigned char pkt[512];
    size_t len;
};

struct responder {
    int fd, tcp_fd;
    uint16_t port;
    struct weft__io io, tcp_io;
    weft_task_t *task, *tcp_task;
    int queries;                 /* every query received */
    int tcp_queries;
    int silent, flaky_a, flaky_aaaa, known;
    struct held held[MAX_HELD];  /* late.test answers */
    int nheld;
};

enum { T_A = 1, T_CNAME = 5, T_AAAA = 28 };

struct question {
    char name[256];  /* lower case, dotted, no final dot */
    size_t end;      /* offset just past the question */
    uint16_t type;
};

static uint16_t get16(const unsigned char *p) {
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* Read the one question of a query. Returns false if malformed. */
static bool parse_question(const unsigned char *q, size_t len,
                           struct question *out) {
    if (len < 12 || get16(q + 4) != 1)
        return false;
    size_t off = 12, n = 0;
    for (;;) {
        if (off >= len)
            return false;
        size_t l = q[off++];
        if (l == 0)
            break;
        if (l > 63 || off + l > len || n + l + 1 >= sizeof out->name)
            return false;
        if (n)
            out->name[n++] = '.';
        for (size_t i = 0; i < l; i++) {
            char c = (char)q[off + i];
            out->name[n++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        off += l;
    }
    out->name[n] = '\0';
    if (off + 4 > len)
        return false;
    out->type = get16(q + off);
    out->end = off + 4;
    return true;
}

/* Encode a dotted name at p (no compression). Returns its length. */
static size_t put_name(unsigned char *p, const char *name) {
    size_t n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (unsigned char)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

struct answer {
    unsigned char buf[512];
    size_t len;
    int count;
};

/* The header and question of a reply to query q. */
static void reply_start(struct answer *a, const unsigned char *q,
                        const struct question *qu, int rcode) {
    memcpy(a->buf, q, qu->end);
    /* QR, the query's opcode and RD, AA, RA, the rcode. */
    a->buf[2] = (unsigned char)(0x80 | (q[2] & 0x79) | 0x04);
    a->buf[3] = (unsigned char)(0x80 | rcode);
    put16(a->buf + 6, 0);  /* answers */
    put16(a->buf + 8, 0);  /* authority */
    put16(a->buf + 10, 0); /* additional (drops an EDNS OPT record) */
    a->len = qu->end;
    a->count = 0;
}

/* One record; owner 0: the question's name (pointer to offset 12),
 * otherwise a pointer to `owner`. */
static void add_record(struct answer *a, uint16_t owner, uint16_t type,
                       const void *rdata, size_t rdlen) {
    unsigned char *p = a->buf + a->len;
    put16(p, (uint16_t)(0xC000 | (owner ? owner : 12)));
    put16(p + 2, type);
    put16(p + 4, 1);    /* IN */
    put16(p + 6, 0);    /* TTL, high half */
    put16(p + 8, 60);   /* TTL 60 s */
    put16(p + 10, (uint16_t)rdlen);
    memcpy(p + 12, rdata, rdlen);
    a->len += 12 + rdlen;
    put16(a->buf + 6, (uint16_t)++a->count);
}

static void add_a(struct answer *a, uint16_t owner, const char *ip) {
    unsigned char v4[4];
    ck_assert_int_eq(inet_pton(AF_INET, ip, v4), 1);
    add_record(a, owner, T_A, v4, 4);
}

static void add_aaaa(struct answer *a, uint16_t owner, const char *ip) {
    unsigned char v6[16];
    ck_assert_int_eq(inet_pton(AF_INET6, ip, v6), 1);
    add_record(a, owner, T_AAAA, v6, 16);
}

static void answer_known(struct answer *a, uint16_t type, uint16_t owner) {
    if (type == T_A) {
        add_a(a, owner, "192.0.2.1");
        add_a(a, owner, "192.0.2.2");
    } else if (type == T_AAAA) {
        add_aaaa(a, owner, "2001:db8::1");
    }
}

/* alias.test: a CNAME to known.test, then known.test's records, owned by
 * the CNAME's target (a pointer to it). */
static void answer_alias(struct answer *a, uint16_t type) {
    unsigned char target[64];
    size_t tl = put_name(target, "known.test");
    uint16_t at = (uint16_t)(a->len + 12); /* where the RDATA will sit */
    add_record(a, 0, T_CNAME, target, tl);
    answer_known(a, type, at);
}

/* Returns false when the query gets no answer (yet). */
static bool respond(struct responder *rs, const unsigned char *q,
                    const struct question *qu, struct answer *a, bool tcp) {
    const char *n = qu->name;
    unsigned idx;
    char rest[8];
    if (!strcmp(n, "big.test")) {
        reply_start(a, q, qu, 0);
        if (!tcp)
            a->buf[2] |= 0x02; /* TC: too big for UDP, ask over TCP */
        else if (qu->type == T_A) {
            add_a(a, 0, "192.0.2.10");
            add_a(a, 0, "192.0.2.11");
        }
        return true;
    }
    if (!strcmp(n, "loop.test")) { /* for open_connection by name */
        reply_start(a, q, qu, 0);
        if (qu->type == T_A)
            add_a(a, 0, "127.0.0.1");
        return true;
    }
    if (!strcmp(n, "silent.test")) {
        rs->silent++;
        return false;
    }
    if (!strcmp(n, "flaky.test")) {
        int *seen = qu->type == T_AAAA ? &rs->flaky_aaaa : &rs->flaky_a;
        if ((*seen)++ == 0)
            return false;
    }
    int rcode = 0;
    if (!strcmp(n, "servfail.test"))
        rcode = 2;
    else if (!strcmp(n, "refused.test"))
        rcode = 5;
    else if (strcmp(n, "known.test") && strcmp(n, "alias.test") &&
             strcmp(n, "v4only.test") && strcmp(n, "flaky.test") &&
             strcmp(n, "late.test") &&
             !(sscanf(n, "h%u.%7s", &idx, rest) == 2 &&
               !strcmp(rest, "test") && idx < 65536))
        rcode = 3; /* NXDOMAIN */
    reply_start(a, q, qu, rcode);
    if (rcode)
        return true;
    if (!strcmp(n, "known.test")) {
        rs->known++;
        answer_known(a, qu->type, 0);
    } else if (!strcmp(n, "alias.test")) {
        answer_alias(a, qu->type);
    } else if (qu->type == T_A && n[0] == 'h') {
        unsigned char v4[4] = {10, 0, (unsigned char)(idx >> 8),
                               (unsigned char)idx};
        add_record(a, 0, T_A, v4, 4);
    } else if (qu->type == T_A) { /* v4only, flaky, late */
        add_a(a, 0, !strcmp(n, "flaky.test") ? "192.0.2.7" : "192.0.2.4");
    }
    return true;
}

static int responder_task(void *arg) {
    struct responder *rs = arg;
    for (;;) {
        unsigned char q[512];
        struct sockaddr_in from;
        struct iovec iov = {q, sizeof q};
        struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from,
                           .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = weft__op_recvmsg(&rs->io, &m, 0);
        if (n < 0)
            return n == -ECANCELED ? 0 : (int)n;
        struct question qu;
        if (!parse_question(q, (size_t)n, &qu))
            continue;
        rs->queries++;
        struct answer a;
        if (!respond(rs, q, &qu, &a, false))
            continue;
        if (!strcmp(qu.name, "late.test") && rs->nheld < MAX_HELD) {
            struct held *h = &rs->held[rs->nheld++];
            h->to = from;
            memcpy(h->pkt, a.buf, a.len);
            h->len = a.len;
            continue;
        }
        ck_assert_int_eq(sendto(rs->fd, a.buf, a.len, 0,
                                (struct sockaddr *)&from, sizeof from),
                         (ssize_t)a.len);
    }
}

/* DNS over TCP: messages with a two-byte length in front. */
static bool read_full(struct weft__io *io, unsigned char *buf, size_t n) {
    for (size_t off = 0; off < n;) {
        ssize_t r = weft__op_read(io, buf + off, n - off);
        if (r <= 0)
            return false;
        off += (size_t)r;
    }
    return true;
}

struct tcp_conn {
    struct responder *rs;
    int fd;
};

static int tcp_conn_task(void *arg) {
    struct tcp_conn c = *(struct tcp_conn *)arg;
    free(arg);
    struct weft__io io;
    ck_assert_ok(weft__io_open(weft_loop_current(), &io, c.fd));
    unsigned char q[514];
    while (read_full(&io, q, 2)) {
        size_t len = get16(q);
        struct question qu;
        if (len > 512 || !read_full(&io, q, len) ||
            !parse_question(q, len, &qu))
            break;
        c.rs->tcp_queries++;
        struct answer a;
        if (!respond(c.rs, q, &qu, &a, true))
            continue;
        unsigned char out[514];
        put16(out, (uint16_t)a.len);
        memcpy(out + 2, a.buf, a.len);
        ck_assert_int_eq(weft__op_write(&io, out, a.len + 2),
                         (ssize_t)a.len + 2);
    }
    weft__io_close(weft_loop_current(), &io);
    close(c.fd);
    return 0;
}

/* Accepts connections, one task each, in a group: cancelling this task
 * cancels and waits for them. */
static int tcp_accept_task(void *arg) {
    struct responder *rs = arg;
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    for (;;) {
        int fd = weft__op_accept(&rs->tcp_io, NULL, NULL, 0);
        if (fd < 0)
            break;
        struct tcp_conn *c = malloc(sizeof *c);
        ck_assert_ptr_nonnull(c);
        c->rs = rs;
        c->fd = fd;
        ck_assert_ok(weft_group_spawn(&g, NULL, tcp_conn_task, c, NULL));
    }
    weft_group_exit(&g);
    return 0;
}

/* UDP on an ephemeral port, TCP on the same number. */
static bool bind_pair(struct responder *rs) {
    rs->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    rs->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);
    ck_assert_int_ge(rs->fd, 0);
    ck_assert_int_ge(rs->tcp_fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(rs->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(rs->fd, (struct sockaddr *)&sa, &sl), 0);
    rs->port = ntohs(sa.sin_port);
    if (bind(rs->tcp_fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return true;
    close(rs->fd);
    close(rs->tcp_fd);
    return false;
}

static void responder_start(struct responder *rs) {
    memset(rs, 0, sizeof *rs);
    int tries = 0;
    while (!bind_pair(rs))
        ck_assert_int_lt(++tries, 20);
    ck_assert_int_eq(listen(rs->tcp_fd, 8), 0);
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(weft__io_open(loop, &rs->io, rs->fd));
    ck_assert_ok(weft__io_open(loop, &rs->tcp_io, rs->tcp_fd));
    ck_assert_ok(weft_spawn(&rs->task, responder_task, rs, NULL));
    ck_assert_ok(weft_spawn(&rs->tcp_task, tcp_accept_task, rs, NULL));
}

/* Send the held late.test answers. */
static void responder_release(struct responder *rs) {
    for (int i = 0; i < rs->nheld; i++)
        ck_assert_int_eq(sendto(rs->fd, rs->held[i].pkt, rs->held[i].len, 0,
                                (struct sockaddr *)&rs->held[i].to,
                                sizeof rs->held[i].to),
                         (ssize_t)rs->held[i].len);
    rs->nheld = 0;
}

static void responder_stop(struct responder *rs) {
    ck_assert_ok(weft_task_cancel(rs->task));
    ck_assert_ok(weft_join(rs->task));
    weft_task_release(rs->task);
    ck_assert_ok(weft_task_cancel(rs->tcp_task));
    ck_assert_ok(weft_join(rs->tcp_task));
    weft_task_release(rs->tcp_task);
    weft__io_close(weft_loop_current(), &rs->io);
    weft__io_close(weft_loop_current(), &rs->tcp_io);
    close(rs->fd);
    close(rs->tcp_fd);
}

/* Point the running loop's resolver at the responder. */
static void use_responder(struct responder *rs, double timeout, int tries) {
    char csv[32];
    snprintf(csv, sizeof csv, "127.0.0.1:%u", rs->port);
    weft_dns_opts_t o = {.servers = csv, .timeout = timeout, .tries = tries};
    ck_assert_ok(weft_dns_configure(weft_loop_current(), &o));
}

/* ---- helpers ------------------------------------------------------------------------- */

static struct addrinfo hints_of(int family, int socktype) {
    struct addrinfo h;
    memset(&h, 0, sizeof h);
    h.ai_family = family;
    h.ai_socktype = socktype;
    return h;
}

/* The list as "addr port" words, e.g. "127.0.0.1:80 [::1]:80". */
static void list_str(const struct addrinfo *ai, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (; ai; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        unsigned port;
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *s = (const void *)ai->ai_addr;
            ck_assert_uint_eq(ai->ai_addrlen, sizeof *s);
            inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
            port = ntohs(s->sin_port);
            n += (size_t)snprintf(buf + n, size - n, "%s%s:%u", n ? " " : "",
                                  ip, port);
        } else {
            const struct sockaddr_in6 *s = (const void *)ai->ai_addr;
            ck_assert_int_eq(ai->ai_family, AF_INET6);
            ck_assert_uint_eq(ai->ai_addrlen, sizeof *s);
            inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
            port = ntohs(s->sin6_port);
            n += (size_t)snprintf(buf + n, size - n, "%s[%s]:%u",
                                  n ? " " : "", ip, port);
        }
        ck_assert_uint_lt(n, size);
    }
}

/* Resolve and compare the whole list as text, in order. */
static void expect(const char *host, const char *service,
                   const struct addrinfo *hints, const char *want) {
    struct addrinfo *ai = (struct addrinfo *)1;
    int err = weft_getaddrinfo(host, service, hints, &ai);
    ck_assert_msg(err == 0, "%s: %s", host ? host : "(null)",
                  weft_err_name(err));
    char got[512];
    list_str(ai, got, sizeof got);
    weft_freeaddrinfo(ai);
    ck_assert_str_eq(got, want);
}

static void expect_err(const char *host, const char *service,
                       const struct addrinfo *hints, int want) {
    struct addrinfo *ai = (struct addrinfo *)1;
    ck_assert_err(weft_getaddrinfo(host, service, hints, &ai), want);
    ck_assert_ptr_null(ai);
}

/* ---- numeric hosts --------------------------------------------------------------------- */

/* A port nothing listens on: a server there is dead. */
static uint16_t dead_port(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int numeric_main(void *arg) {
    (void)arg;
    char csv[32];
    snprintf(csv, sizeof csv, "127.0.0.1:%u", dead_port());
    weft_dns_opts_t o = {.servers = csv, .timeout = 0.2, .tries = 1};
    ck_assert_ok(weft_dns_configure(weft_loop_current(), &o));

    struct addrinfo h4 = hints_of(AF_INET, 0), h6 = hints_of(AF_INET6, 0);
    struct addrinfo tcp = hints_of(AF_UNSPEC, SOCK_STREAM);
    expect("127.0.0.1", "80", NULL, "127.0.0.1:80");
    expect("::1", NULL, NULL, "[::1]:0");
    expect("2001:db8::7", "443", &h6, "[2001:db8::7]:443");
    expect("::ffff:192.0.2.9", NULL, NULL, "[::ffff:192.0.2.9]:0");
    expect_err("127.0.0.1", NULL, &h6, WEFT_EAI_NODATA);
    expect_err("::1", NULL, &h4, WEFT_EAI_NODATA);

    /* A zone: numeric, or an interface name ("lo" exists everywhere). */
    struct addrinfo *ai;
    ck_assert_ok(weft_getaddrinfo("fe80::1%7", NULL, NULL, &ai));
    ck_assert_uint_eq(((struct sockaddr_in6 *)ai->ai_addr)->sin6_scope_id, 7);
    weft_freeaddrinfo(ai);
    ck_assert_ok(weft_getaddrinfo("fe80::1%lo", NULL, NULL, &ai));
    ck_assert_uint_ne(((struct sockaddr_in6 *)ai->ai_addr)->sin6_scope_id, 0);
    weft_freeaddrinfo(ai);
    expect_err("fe80::1%no-such-if0", NULL, NULL, WEFT_EAI_NONAME);

    /* No host: loopback, or the wildcards to bind to. */
    struct addrinfo passive = hints_of(AF_UNSPEC, SOCK_STREAM);
    passive.ai_flags = AI_PASSIVE;
    expect(NULL, "8080", &tcp, "127.0.0.1:8080 [::1]:8080");
    expect(NULL, "8080", &passive, "0.0.0.0:8080 [::]:8080");

    /* socktype and protocol are copied into each entry. */
    ck_assert_ok(weft_getaddrinfo("127.0.0.1", "80", &tcp, &ai));
    ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
    ck_assert_int_eq(ai->ai_protocol, IPPROTO_TCP);
    ck_assert_ptr_null(ai->ai_canonname);
    ck_assert_ptr_null(ai->ai_next);
    weft_freeaddrinfo(ai);

    /* Services. */
    expect("127.0.0.1", "http", NULL, "127.0.0.1:80");
    expect_err("127.0.0.1", "no-such-service", NULL, WEFT_EAI_SERVICE);
    expect_err("127.0.0.1", "65536", NULL, WEFT_EAI_SERVICE);
    struct addrinfo numserv = hints_of(AF_UNSPEC, 0);
    numserv.ai_flags = AI_NUMERICSERV;
    expect_err("127.0.0.1", "http", &numserv, WEFT_EAI_SERVICE);

    /* AI_NUMERICHOST never looks a name up. */
    struct addrinfo numhost = hints_of(AF_UNSPEC, 0);
    numhost.ai_flags = AI_NUMERICHOST;
    expect_err("known.test", NULL, &numhost, WEFT_EAI_NONAME);

    /* The server really is dead: a name does need it, and fails. */
    int err = weft_getaddrinfo("known.test", NULL, &h4, &ai);
    ck_assert_msg(err == -ECONNREFUSED || err == -ETIMEDOUT, "got %s",
                  weft_err_name(err));

    /* A numeric host needs no wait, so it is no cancellation point. */
    ck_assert_ok(weft_task_cancel(weft_task_current()));
    expect("192.0.2.55", NULL, NULL, "192.0.2.55:0");
    expect_err("known.test", NULL, NULL, -ECANCELED);
    return 0;
}

START_TEST(numeric_hosts_need_no_lookup) {
    ck_assert_err(weft_run(numeric_main, NULL), 0);
}
END_TEST

/* ---- /etc/hosts ----------------------------------------------------------------------------- */

/* The first IPv4 entry of /etc/hosts that names something else than
 * localhost, if there is one. */
static bool hosts_entry(char *name, size_t nsize, char *ip, size_t isize) {
    FILE *f = fopen("/etc/hosts", "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char a[64], n[256];
        struct in_addr v4;
        if (sscanf(line, "%63s %255s", a, n) == 2 && a[0] != '#' &&
            inet_pton(AF_INET, a, &v4) == 1 && strcmp(n, "localhost") &&
            strlen(n) < nsize && strlen(a) < isize) {
            strcpy(name, n);
            strcpy(ip, a);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static int hosts_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 5.0, 2);
    struct addrinfo h4 = hints_of(AF_INET, 0), h6 = hints_of(AF_INET6, 0);
    expect("localhost", "80", &h4, "127.0.0.1:80");
    /* IPv6 localhost: from /etc/hosts, or RFC 6761's ::1 without it. */
    expect("localhost", NULL, &h6, "[::1]:0");
    /* Any spelling: "localhost." would reach DNS in c-ares 1.18.1. */
    expect("LocalHost.", "80", &h4, "127.0.0.1:80");
    struct addrinfo *ai;
    ck_assert_ok(weft_getaddrinfo("localhost", NULL, NULL, &ai));
    bool v4 = false;
    for (struct addrinfo *p = ai; p; p = p->ai_next)
        v4 |= p->ai_family == AF_INET &&
              ((struct sockaddr_in *)p->ai_addr)->sin_addr.s_addr ==
                  htonl(INADDR_LOOPBACK);
    weft_freeaddrinfo(ai);
    ck_assert(v4);

    char name[256], ip[64], want[80];
    if (hosts_entry(name, sizeof name, ip, sizeof ip)) {
        snprintf(want, sizeof want, "%s:0", ip);
        struct addrinfo *got;
        ck_assert_ok(weft_getaddrinfo(name, NULL, &h4, &got));
        char s[512];
        list_str(got, s, sizeof s);
        ck_assert_msg(strstr(s, want) != NULL, "%s: %s lacks %s", name, s,
                      want);
        weft_freeaddrinfo(got);
    }
    /* None of it asked the DNS server. */
    ck_assert_int_eq(rs.queries, 0);
    responder_stop(&rs);
    return 0;
}

START_TEST(etc_hosts_comes_first) {
    ck_assert_err(weft_run(hosts_main, NULL), 0);
}
END_TEST

/* ---- the responder's names --------------------------------------------------------------- */

static int known_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 5.0, 2);
    struct addrinfo h4 = hints_of(AF_INET, SOCK_STREAM);
    struct addrinfo h6 = hints_of(AF_INET6, SOCK_STREAM);
    expect("known.test", "443", &h4, "192.0.2.1:443 192.0.2.2:443");
    expect("known.test", "443", &h6, "[2001:db8::1]:443");
    /* Both families, in c-ares's RFC 6724 order (which puts unreachable
     * destinations last): compare them as a set. */
    struct addrinfo *ai;
    struct addrinfo tcp = hints_of(AF_UNSPEC, SOCK_STREAM);
    ck_assert_ok(weft_getaddrinfo("known.test", "https", &tcp, &ai));
    int n = 0, seen = 0;
    for (struct addrinfo *p = ai; p; p = p->ai_next, n++) {
        char s[128];
        struct addrinfo *next = p->ai_next;
        p->ai_next = NULL;
        list_str(p, s, sizeof s);
        p->ai_next = next;
        seen |= !strcmp(s, "192.0.2.1:443")       ? 1
                : !strcmp(s, "192.0.2.2:443")     ? 2
                : !strcmp(s, "[2001:db8::1]:443") ? 4
                                                  : 8;
        ck_assert_int_eq(p->ai_protocol, IPPROTO_TCP);
    }
    weft_freeaddrinfo(ai);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(seen, 7);
    ck_assert_int_ge(rs.known, 4); /* A and AAAA went to our server */

    /* A CNAME: the canonical name is its target. */
    struct addrinfo canon = hints_of(AF_INET, 0);
    canon.ai_flags = AI_CANONNAME;
    ck_assert_ok(weft_getaddrinfo("alias.test", NULL, &canon, &ai));
    ck_assert_ptr_nonnull(ai->ai_canonname);
    ck_assert_str_eq(ai->ai_canonname, "known.test");
    ck_assert_ptr_nonnull(ai->ai_next);
    ck_assert_ptr_null(ai->ai_next->ai_canonname);
    weft_freeaddrinfo(ai);

    /* Upper case and a final dot are the same name. */
    expect("KNOWN.test.", NULL, &h4, "192.0.2.1:0 192.0.2.2:0");
    expect("v4only.test", NULL, NULL, "192.0.2.4:0");
    responder_stop(&rs);
    return 0;
}

START_TEST(a_known_name_has_a_and_aaaa) {
    ck_assert_err(weft_run(known_main, NULL), 0);
}
END_TEST

/* A lookup from a task with a 16 KiB stack (the documented minimum). */
static int small_stack_task(void *arg) {
    (void)arg;
    struct addrinfo h4 = hints_of(AF_INET, 0);
    expect("known.test", NULL, &h4, "192.0.2.1:0 192.0.2.2:0");
    expect("localhost", NULL, &h4, "127.0.0.1:0");
    expect_err("nx.test", NULL, NULL, WEFT_EAI_NONAME);
    return 0;
}

static int tcp_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 5.0, 2);
    /* The UDP answer is truncated: c-ares asks again over TCP, whose
     * query waits in c-ares until the connection is writable. */
    struct addrinfo h4 = hints_of(AF_INET, 0);
    expect("big.test", "53", &h4, "192.0.2.10:53 192.0.2.11:53");
    ck_assert_int_ge(rs.tcp_queries, 1);
    /* c-ares closed its idle sockets after the answer (their tasks
     * ended): the next lookup opens new ones. */
    expect("big.test", NULL, &h4, "192.0.2.10:0 192.0.2.11:0");
    ck_assert_int_ge(rs.tcp_queries, 2);

    weft_spawn_opts_t o = {.stack_size = 16 * 1024};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, small_stack_task, NULL, &o));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    responder_stop(&rs);
    return 0;
}

START_TEST(a_truncated_answer_is_asked_again_over_tcp) {
    ck_assert_err(weft_run(tcp_main, NULL), 0);
}
END_TEST

static int errors_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 5.0, 2);
    struct addrinfo h6 = hints_of(AF_INET6, 0);
    logcap_start();
    expect_err("nx.test", NULL, NULL, WEFT_EAI_NONAME);
    /* The failure is logged (debug level) naming the host. */
    ck_assert_int_ge(logcap.n, 1);
    ck_assert_int_eq(logcap.level, WEFT_LOG_DEBUG);
    ck_assert_msg(strstr(logcap.last, "'nx.test'"), "%s", logcap.last);
    logcap_stop();
    expect_err("v4only.test", NULL, &h6, WEFT_EAI_NODATA);
    expect_err("servfail.test", NULL, NULL, WEFT_EAI_AGAIN);
    expect_err("refused.test", NULL, NULL, WEFT_EAI_REFUSED);
    char label[80];
    memset(label, 'x', 64);
    strcpy(label + 64, ".test");
    expect_err(label, NULL, NULL, WEFT_EAI_BADNAME);
    ck_assert_int_ge(rs.queries, 6);
    responder_stop(&rs);
    return 0;
}

START_TEST(nxdomain_nodata_servfail_refused) {
    ck_assert_err(weft_run(errors_main, NULL), 0);
}
END_TEST

/* ---- names never answered ------------------------------------------------------------------ */

static int silent_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    /* c-ares would wait 30 s per try: the scope's deadline comes first. */
    use_responder(&rs, 30.0, 1);
    struct addrinfo h4 = hints_of(AF_INET, 0), *ai = NULL;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 0.2, 0));
    ck_assert_err(weft_getaddrinfo("silent.test", NULL, &h4, &ai), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT); /* the deadline did it */
    ck_assert_ptr_null(ai);
    ck_assert_int_eq(rs.silent, 1);
    /* The resolver still works; the abandoned query is dropped later. */
    expect("known.test", NULL, &h4, "192.0.2.1:0 192.0.2.2:0");
    responder_stop(&rs);
    return 0;
}

START_TEST(a_deadline_ends_a_lookup_nobody_answers) {
    ck_assert_err(weft_run(silent_main, NULL), 0);
}
END_TEST

/* On a virtual clock the deadline is virtual time: the loop jumps to it
 * while c-ares's 30 s try (real time) is still far away. */
static int virtual_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 30.0, 1);
    weft_loop_t *loop = weft_loop_current();
    struct addrinfo h4 = hints_of(AF_INET, 0), *ai = NULL;
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 5.0, 0));
    ck_assert_err(weft_getaddrinfo("silent.test", NULL, &h4, &ai), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(loop), 5.0, 1e-9);
    responder_stop(&rs);
    return 0;
}

START_TEST(a_virtual_deadline_ends_a_lookup) {
    ck_assert_err(run_virtual(virtual_main, NULL), 0);
}
END_TEST

static int retry_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    /* Short tries: c-ares's own timer (driven by the loop) gives up. */
    use_responder(&rs, 0.05, 2);
    struct addrinfo h4 = hints_of(AF_INET, 0);
    expect_err("silent.test", NULL, &h4, -ETIMEDOUT);
    ck_assert_int_ge(rs.silent, 2); /* it did try again */
    char msg[WEFT_DNS_ERRMSG_SIZE];
    ck_assert_str_eq(weft_dns_strerror(-ETIMEDOUT, "silent.test", msg,
                                       sizeof msg),
                     "dns: no answer for 'silent.test' (timed out)");
    /* The first query is lost, the retry answered. */
    expect("flaky.test", NULL, &h4, "192.0.2.7:0");
    ck_assert_int_ge(rs.flaky_a, 2);
    responder_stop(&rs);
    return 0;
}

START_TEST(c_ares_retries_and_times_out_on_the_loop_timer) {
    ck_assert_err(weft_run(retry_main, NULL), 0);
}
END_TEST

/* ---- cancellation -------------------------------------------------------------------------- */

struct waiter {
    const char *host;
    int err;
    bool started;
};

static int lookup_task(void *arg) {
    struct waiter *w = arg;
    struct addrinfo h4 = hints_of(AF_INET, 0), *ai = (struct addrinfo *)1;
    w->started = true;
    w->err = weft_getaddrinfo(w->host, NULL, &h4, &ai);
    ck_assert_ptr_null(ai);
    return w->err;
}

/* Poll (never asserting how long) until *count reaches n. */
static void wait_count(const int *count, int n) {
    for (int i = 0; *count < n; i++) {
        ck_assert_int_lt(i, 10000);
        ck_assert_ok(weft_sleep(0.001));
    }
}

static int cancel_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 30.0, 1);
    struct waiter w = {.host = "late.test", .err = 1};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, lookup_task, &w, NULL));
    wait_count(&rs.nheld, 1); /* the query reached the server */
    ck_assert_int_eq(w.err, 1);
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    ck_assert_err(w.err, -ECANCELED);
    weft_task_release(t);
    /* The answer arrives after its task gave up: c-ares hands it to the
     * orphaned request, which frees itself (ASan / valgrind watch). A
     * lookup after it on the same socket proves it was read. */
    responder_release(&rs);
    struct addrinfo h4 = hints_of(AF_INET, 0);
    expect("known.test", NULL, &h4, "192.0.2.1:0 192.0.2.2:0");
    responder_stop(&rs);
    return 0;
}

START_TEST(a_cancelled_lookup_survives_its_late_answer) {
    ck_assert_err(weft_run(cancel_main, NULL), 0);
}
END_TEST

static int busy_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 30.0, 1);
    weft_loop_t *loop = weft_loop_current();
    struct waiter w = {.host = "silent.test", .err = 1};
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, lookup_task, &w, NULL));
    wait_count(&rs.silent, 1);
    /* A task waits for a lookup: the resolver cannot be replaced. */
    ck_assert_err(weft_dns_set_servers(loop, "127.0.0.1:9"), -EBUSY);
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    weft_task_release(t);
    /* Only the abandoned query is left: it is dropped. */
    ck_assert_ok(weft_dns_set_servers(loop, "127.0.0.1:9"));
    ck_assert_err(weft_dns_set_servers(loop, "not a server"), -EINVAL);
    weft_dns_opts_t bad = {.timeout = NAN};
    ck_assert_err(weft_dns_configure(loop, &bad), -EINVAL);
    bad.timeout = 0;
    bad.tries = -1;
    ck_assert_err(weft_dns_configure(loop, &bad), -EINVAL);
    ck_assert_ok(weft_dns_configure(loop, NULL));
    responder_stop(&rs);
    return 0;
}

START_TEST(configure_is_refused_while_a_task_waits) {
    ck_assert_err(weft_run(busy_main, NULL), 0);
}
END_TEST

static int closing_main(void *arg) {
    struct waiter *w = arg;
    static struct responder rs; /* outlives main: the loop closes after */
    responder_start(&rs);
    use_responder(&rs, 30.0, 1);
    ck_assert_ok(weft_spawn(NULL, lookup_task, w, NULL));
    wait_count(&rs.silent, 1);
    weft_task_release(rs.task); /* the loop's close cancels them too */
    weft_task_release(rs.tcp_task);
    /* Return with the lookup pending: closing the loop cancels it and
     * destroys the channel. */
    return 0;
}

START_TEST(the_loop_closes_with_a_lookup_pending) {
    struct waiter w = {.host = "silent.test", .err = 1};
    ck_assert_err(weft_run(closing_main, &w), 0);
    ck_assert_err(w.err, -ECANCELED);
}
END_TEST

/* ---- many at once ------------------------------------------------------------------------- */

#define NCONC 100

struct conc {
    int idx;
    int err;
    char got[64];
};

static int conc_task(void *arg) {
    struct conc *c = arg;
    char name[32];
    snprintf(name, sizeof name, "h%d.test", c->idx);
    struct addrinfo *ai;
    c->err = weft_getaddrinfo(name, "80", NULL, &ai);
    if (c->err)
        return c->err;
    list_str(ai, c->got, sizeof c->got);
    weft_freeaddrinfo(ai);
    return 0;
}

static int conc_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 5.0, 3);
    static struct conc cs[NCONC];
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    for (int i = 0; i < NCONC; i++) {
        cs[i].idx = 300 + i;
        ck_assert_ok(weft_group_spawn(&g, NULL, conc_task, &cs[i], NULL));
    }
    ck_assert_ok(weft_group_exit(&g));
    for (int i = 0; i < NCONC; i++) {
        char want[32];
        snprintf(want, sizeof want, "10.0.%d.%d:80", (300 + i) >> 8,
                 (300 + i) & 255);
        ck_assert_str_eq(cs[i].got, want);
    }
    ck_assert_int_ge(rs.queries, 2 * NCONC); /* A and AAAA each */
    responder_stop(&rs);
    return 0;
}

START_TEST(a_hundred_lookups_at_once) {
    ck_assert_err(weft_run(conc_main, NULL), 0);
}
END_TEST

/* ---- errors and misuse --------------------------------------------------------------------- */

START_TEST(error_codes_have_names_and_messages) {
    ck_assert_str_eq(weft_strerror(WEFT_EAI_NONAME), "Host not found");
    ck_assert_str_eq(weft_err_name(WEFT_EAI_NONAME), "EAI_NONAME");
    ck_assert_str_eq(weft_err_name(WEFT_EAI_REFUSED), "EAI_REFUSED");
    ck_assert_str_eq(weft_err_name(WEFT_EAI_SERVICE), "EAI_SERVICE");
    ck_assert_str_eq(weft_err_name(-3099), "EUNKNOWN");
    ck_assert_str_eq(weft_err_name(-ECANCELED), "ECANCELED");
    char m[WEFT_DNS_ERRMSG_SIZE];
    ck_assert_str_eq(weft_dns_strerror(WEFT_EAI_NONAME, "nx.test", m, sizeof m),
                     "dns: no such host 'nx.test' (NXDOMAIN)");
    ck_assert_ptr_nonnull(strstr(
        weft_dns_strerror(WEFT_EAI_AGAIN, "a.test", m, sizeof m), "'a.test'"));
    ck_assert_str_eq(weft_dns_strerror(-ECANCELED, "a.test", m, sizeof m),
                     "dns: 'a.test': Operation canceled");
    /* Truncated, never overflowing. */
    char small[12];
    weft_dns_strerror(WEFT_EAI_NONAME, "nx.test", small, sizeof small);
    ck_assert_str_eq(small, "dns: no suc");
}
END_TEST

static int misuse_main(void *arg) {
    (void)arg;
    struct addrinfo *ai;
    ck_assert_err(weft_getaddrinfo("127.0.0.1", NULL, NULL, NULL), -EINVAL);
    expect_err(NULL, NULL, NULL, WEFT_EAI_NONAME);
    expect_err("", NULL, NULL, WEFT_EAI_BADNAME);
    struct addrinfo h = hints_of(AF_UNIX, 0);
    expect_err("127.0.0.1", NULL, &h, -EAFNOSUPPORT);
    h = hints_of(AF_INET6, 0);
    h.ai_flags = AI_V4MAPPED;
    expect_err("127.0.0.1", NULL, &h, -EINVAL);
    h = hints_of(AF_INET, 0);
    h.ai_next = &h;
    expect_err("127.0.0.1", NULL, &h, -EINVAL);
    (void)ai;
    return 0;
}

START_TEST(misuse_is_reported) {
    ck_assert_err(weft_run(misuse_main, NULL), 0);
    struct addrinfo *ai = (struct addrinfo *)1;
    logcap_start();
    ck_assert_err(weft_getaddrinfo("127.0.0.1", NULL, NULL, &ai), -EPERM);
    ck_assert_logged(1, "weft_getaddrinfo");
    logcap_stop();
    ck_assert_ptr_null(ai);
    weft_freeaddrinfo(NULL);
}
END_TEST

/* issue 17: names no server could ever answer fail at once, without a
 * query (the responder counts none) and without waiting (the virtual clock
 * stays where it was), where they used to wait for the lookup's deadline;
 * the message says which rule the name breaks, on one printable line. */
static int badname_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 5.0, 2);
    static const struct {
        const char *host, *why;
    } cases[] = {
        {"a b", "holds a character no host name has"},
        {"-", "starts or ends with '-'"},
        {"\x01\x02", "holds a character"},
        {"exa\nmple.com", "holds a character"},
        {"a..b", "has an empty label"},
        {".", "has an empty label"},
        {"[::1]", "is bracketed (an IPv6 address goes without brackets)"},
        {"[::1]:443", "is a host and a port (give the port separately)"},
        {"localhost:80", "is a host and a port (give the port separately)"},
        {"::1::2", "neither an IP address nor a host name"},
        {"192.168.1.300", "neither an IP address nor a host name"},
        {"xn--caf-dma.-bad", "starts or ends with '-'"},
    };
    double t0 = now();
    char m[WEFT_DNS_ERRMSG_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_err(cases[i].host, "80", NULL, WEFT_EAI_BADNAME);
        weft_dns_strerror(WEFT_EAI_BADNAME, cases[i].host, m, sizeof m);
        ck_assert_msg(strstr(m, cases[i].why), "'%s': %s", cases[i].host, m);
        for (const char *c = m; *c; c++)
            ck_assert_msg(*c >= 0x20 && *c < 0x7f, "unprintable: %s", m);
    }
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (size_t i = 50; i < sizeof big - 1; i += 50)
        big[i] = '.';
    expect_err(big, NULL, NULL, WEFT_EAI_BADNAME);
    ck_assert_ptr_nonnull(strstr(
        weft_dns_strerror(WEFT_EAI_BADNAME, big, m, sizeof m), "253 bytes"));
    ck_assert_time(t0);
    ck_assert_int_eq(rs.queries, 0);
    /* What a name may be: underscores, a final dot, digits, one label. */
    expect_err("db_1.test", NULL, NULL, WEFT_EAI_NONAME);
    expect_err("nx.test.", NULL, NULL, WEFT_EAI_NONAME);
    expect_err("3com.test", NULL, NULL, WEFT_EAI_NONAME);
    ck_assert_int_ge(rs.queries, 3);
    /* The empty name: said as it is (no query was made). */
    ck_assert_str_eq(weft_dns_strerror(WEFT_EAI_BADNAME, "", m, sizeof m),
                     "dns: the host name is empty");
    /* Control characters in any message are escaped. */
    weft_dns_strerror(WEFT_EAI_NONAME, "a\nb\\c\x7f", m, sizeof m);
    ck_assert_str_eq(m, "dns: no such host 'a\\x0ab\\\\c\\x7f' (NXDOMAIN)");
    responder_stop(&rs);
    return 0;
}

START_TEST(names_that_can_never_resolve_fail_at_once) {
    ck_assert_ok(run_virtual(badname_main, NULL));
}
END_TEST

/* Streams use the resolver: open_connection by a name only DNS knows. */
static int by_name_handler(weft_stream_t *s, void *arg) {
    (void)arg;
    return weft_stream_write(s, "named\n", 6);
}

static int by_name_main(void *arg) {
    (void)arg;
    struct responder rs;
    responder_start(&rs);
    use_responder(&rs, 1.0, 2);
    weft_server_t *srv;
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                   "0", by_name_handler, NULL, NULL));
    char port[8];
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "loop.test", port, NULL));
    char line[8];
    ck_assert_int_eq(weft_stream_readline(c, line, sizeof line), 6);
    ck_assert_ok(weft_stream_close(c));
    ck_assert_err(weft_open_connection(&c, "nx.test", port, NULL),
                  WEFT_EAI_NONAME);
    ck_assert_ok(weft_server_close(srv, 0));
    responder_stop(&rs);
    return 0;
}

START_TEST(open_connection_resolves_a_name) {
    ck_assert_ok(weft_run(by_name_main, NULL));
}
END_TEST

static Suite *dns_suite(void) {
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("dns");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, numeric_hosts_need_no_lookup);
    tcase_add_test(tc, etc_hosts_comes_first);
    tcase_add_test(tc, a_known_name_has_a_and_aaaa);
    tcase_add_test(tc, a_truncated_answer_is_asked_again_over_tcp);
    tcase_add_test(tc, nxdomain_nodata_servfail_refused);
    tcase_add_test(tc, a_deadline_ends_a_lookup_nobody_answers);
    tcase_add_test(tc, a_virtual_deadline_ends_a_lookup);
    tcase_add_test(tc, c_ares_retries_and_times_out_on_the_loop_timer);
    tcase_add_test(tc, a_cancelled_lookup_survives_its_late_answer);
    tcase_add_test(tc, configure_is_refused_while_a_task_waits);
    tcase_add_test(tc, the_loop_closes_with_a_lookup_pending);
    tcase_add_test(tc, a_hundred_lookups_at_once);
    tcase_add_test(tc, error_codes_have_names_and_messages);
    tcase_add_test(tc, misuse_is_reported);
    tcase_add_test(tc, open_connection_resolves_a_name);
    tcase_add_test(tc, names_that_can_never_resolve_fail_at_once);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(dns_suite)
