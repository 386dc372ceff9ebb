/* Internal: WebSockets (weft/ws.h). Three layers, the first two pure (no
 * loop, no allocation, fuzzed alone: fuzz/ws_frame.c, fuzz/ws_deflate.c):
 *
 *   ws_frame.c    frame headers, masking, UTF-8, close payloads, and the
 *                 receive state machine that turns bytes into message
 *                 pieces and control frames, enforcing RFC 6455's rules
 *   ws_deflate.c  permessage-deflate: the extension's negotiation and the
 *                 zlib streams, with the decompressed-size limit
 *   ws.c, ws_send.c, ws_server.c, ws_client.c
 *                 the connection object over a stream: receive, send,
 *                 close, heartbeat, broadcast, and the two handshakes */
#ifndef WEFT_HTTP_WS_INT_H
#define WEFT_HTTP_WS_INT_H

#include <stdint.h>
#include <zlib.h>

#include "../net/net_int.h"
#include "weft/sync.h"
#include "weft/ws.h"

/* ---- frames (ws_frame.c) ------------------------------------------------------ */

#define WS_MAX_HEADER 14 /* 2 + 8 (length) + 4 (mask) */
#define WS_MAX_CONTROL 125

struct weft__ws_hdr {
    uint64_t len;
    uint8_t fin, rsv, op, masked; /* rsv: the three bits, RSV1 = 4 */
    uint8_t key[4];
};

/* Parse a frame header at p (n bytes). Returns its length (2..14), 0 when
 * more bytes are needed (*need: how many in all), or -1 when the length
 * has its most significant bit set (RFC 6455 5.2). Rules about opcodes and
 * bits are the receiver's (weft__ws_rx_feed). */
int weft__ws_parse_header(const uint8_t *p, size_t n, struct weft__ws_hdr *h,
                          size_t *need);

/* Write a header into out (at most WS_MAX_HEADER bytes): key NULL for an
 * unmasked frame. rsv: RSV bits (4 for RSV1). Returns its length. */
size_t weft__ws_write_header(uint8_t *out, bool fin, unsigned rsv, unsigned op,
                             uint64_t len, const uint8_t *key);

/* XOR n bytes of src with the 4-byte key starting at key offset `off`
 * (0..3) into dst (which may be src): 16 bytes at a time with SSE2 on
 * x86-64, 8 with 64-bit words elsewhere. Returns the next offset. */
unsigned weft__ws_mask(uint8_t *dst, const uint8_t *src, size_t n,
                       const uint8_t key[4], unsigned off);
/* The byte-at-a-time loop, for the benchmark and tests. */
unsigned weft__ws_mask_bytewise(uint8_t *dst, const uint8_t *src, size_t n,
                                const uint8_t key[4], unsigned off);

/* UTF-8, incrementally: a sequence may be split between calls. */
struct weft__utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* the range of the next one */
};

/* Check n more bytes. Returns n when they are fine so far, else the offset
 * of the first invalid byte (fail fast). */
size_t weft__utf8_feed(struct weft__utf8 *u, const uint8_t *p, size_t n);
/* Whether the text ends on a whole character. */
static inline bool weft__utf8_done(const struct weft__utf8 *u) {
    return u->need == 0;
}
/* Whole text: valid or not. */
bool weft__utf8_valid(const uint8_t *p, size_t n);

/* What a received frame means, one step of the receiver. */
enum {
    WS_EV_NONE = 0, /* more bytes needed (rx->need in all, from where it
                       stopped) */
    WS_EV_DATA,     /* a piece of a data message's payload, unmasked */
    WS_EV_CONTROL,  /* a whole control frame, payload in rx->ctl */
    WS_EV_ERROR,    /* the peer broke a rule: fail with ev->code */
};

struct weft__ws_ev {
    int kind;
    unsigned op;   /* DATA: the message's opcode (1, 2); CONTROL: 8, 9, 10 */
    uint8_t *data; /* DATA: inside the input; CONTROL: rx->ctl */
    size_t len;
    bool first;      /* DATA: the message's first piece */
    bool fin;        /* DATA: its last piece */
    bool z;          /* DATA: the message is compressed (RSV1) */
    int code;        /* ERROR: the close code (1002) */
    const char *why; /* ERROR: for the log */
};

/* The receive state machine: frames in, message pieces out, with every
 * rule of RFC 6455 section 5 that needs no more than the frame: masking
 * by direction, reserved bits (RSV1 only with permessage-deflate, on a
 * message's first frame), opcodes, continuation order, control frames
 * short and whole. Masked payloads are unmasked in place. */
struct weft__ws_rx {
    bool server;   /* frames must be masked */
    bool deflate;  /* RSV1 allowed */
    bool in_frame; /* between a header and the end of its payload */
    bool in_msg;   /* a fragmented message is under way */
    bool started;  /* its first piece was given out */
    bool msg_z;
    uint8_t msg_op;
    uint8_t ctl_len;
    struct weft__ws_hdr h;
    uint64_t left; /* payload bytes of the frame still to come */
    unsigned moff; /* mask offset */
    size_t need;   /* WS_EV_NONE: bytes needed, counted from the input */
    uint8_t ctl[WS_MAX_CONTROL];
};

void weft__ws_rx_init(struct weft__ws_rx *rx, bool server, bool deflate);

/* Feed n bytes at p (modified: payloads unmasked in place). Returns the
 * bytes consumed and sets *ev: WS_EV_NONE when all usable input was
 * consumed and more is needed, else one event; call again on the rest.
 * Once it returned WS_EV_ERROR the receiver is spent. */
size_t weft__ws_rx_feed(struct weft__ws_rx *rx, uint8_t *p, size_t n,
                        struct weft__ws_ev *ev);

/* A close frame's payload (RFC 6455 5.5.1, 7.4): empty (code 1005), or a
 * valid code and a UTF-8 reason. Returns 0 with *code set, or the close
 * code to fail with (1002 for a bad code or a 1-byte payload, 1007 for a
 * reason that is not UTF-8). */
int weft__ws_close_parse(const uint8_t *p, size_t n, int *code);

/* ---- permessage-deflate (ws_deflate.c) ---------------------------------------- */

/* What was agreed (RFC 7692 section 7). */
struct weft__ws_pmd {
    bool on;
    bool server_nct, client_nct;        /* no context takeover */
    uint8_t server_wbits, client_wbits; /* 9..15 */
};

/* Server: choose among the client's offers (every Sec-WebSocket-Extensions
 * field of the request) the first that o allows, into *agreed (agreed->on
 * false when none). Writes the answer's header value into buf (cap
 * bytes, NUL-terminated). Returns its length (0: no extension), or
 * -EINVAL for an offer list that does not parse (a 400). */
ssize_t weft__ws_pmd_accept(const weft_http_field_t *f, size_t nf,
                            const weft_ws_deflate_opts_t *o,
                            struct weft__ws_pmd *agreed, char *buf, size_t cap);
/* Client: the offer to send, into buf. Returns its length, -ENOSPC. */
ssize_t weft__ws_pmd_offer(const weft_ws_deflate_opts_t *o, char *buf,
                           size_t cap);
/* Client: check the server's answer (every Sec-WebSocket-Extensions field
 * of the response) against the offer. Returns 0 with *agreed set, or
 * -EINVAL (an extension or parameter not offered, malformed, a value out
 * of range, a no_context_takeover we required missing). */
int weft__ws_pmd_check(const weft_http_field_t *f, size_t nf,
                       const weft_ws_deflate_opts_t *o,
                       struct weft__ws_pmd *agreed);

/* One direction's zlib stream, made at its first message. */
struct weft__ws_z {
    z_stream *zs;
    int wbits;      /* window; negative for raw deflate */
    int level, mem; /* compressor */
    bool reset;     /* reset after each message (no context takeover) */
    uint8_t tail;   /* decompressor: bytes of the 00 00 ff ff tail fed */
    bool deflate;   /* compressor (else decompressor) */
};

/* Set up (nothing allocated yet). */
void weft__ws_z_init(struct weft__ws_z *z, bool deflate, int wbits, int level,
                     int mem, bool reset);
void weft__ws_z_free(struct weft__ws_z *z);

/* Decompress a piece of a message: input in[0 .. *in_len) (fin: the
 * message's last piece: the 00 00 ff ff tail is added after it), output
 * into out[0 .. cap). Sets *in_len to the input used and returns the
 * output length; call again while input remains or the output was full
 * (with fin, until it returns 0 with all input used: *done is then set).
 * Returns -EINVAL for data that does not inflate (1002 / 1007: the caller
 * chooses), -ENOMEM. */
ssize_t weft__ws_inflate(struct weft__ws_z *z, const uint8_t *in,
                         size_t *in_len, bool fin, uint8_t *out, size_t cap,
                         bool *done);

/* Compress a piece of a message (fin: its last: ends with a sync flush
 * whose 00 00 ff ff tail is removed, RFC 7692 7.2.1) and append the output
 * to *buf (a weft__malloc'd buffer of *cap bytes holding *len, grown as
 * needed). Returns 0, -ENOMEM. */
int weft__ws_deflate(struct weft__ws_z *z, const uint8_t *in, size_t n,
                     bool fin, uint8_t **buf, size_t *len, size_t *cap);

/* ---- the connection (ws.c, ws_send.c) ------------------------------------------ */

enum {
    WS_CLOSE_SENT = 1u << 0,
    WS_CLOSE_RCVD = 1u << 1,
    WS_FAILED = 1u << 2,     /* err holds why */
    WS_ERR_TOLD = 1u << 3,   /* err was returned once */
    WS_PING_OUT = 1u << 4,   /* the heartbeat waits for an answer */
    WS_CLOSE_WAIT = 1u << 5, /* a close deadline runs (the timer) */
    WS_TRIMMED = 1u << 6,    /* idle: stack and read buffer given back */
};

struct weft_ws {
    weft_loop_t *loop;
    weft_stream_t *s;
    weft_web_request_t *req; /* weft_ws_accept's: the request owns it */
    bool client;
    bool own_stream;  /* weft_ws_free closes it */
    unsigned flags;   /* WS_* */
    int err;          /* WS_FAILED: the error */
    int close_code;   /* the peer's */
    weft_ws_opts_t o; /* defaults filled in; protocols not kept */
    char *protocol;
    /* receiving */
    struct weft_task *reader;
    bool idle_wait;          /* the reader waits for readability with an
                                empty buffer (the timer may free it) */
    bool idle_read;          /* io_uring: the reader waits for its
                                stream's recv with no bytes buffered */
    struct weft__ws_rx rx;
    size_t pending; /* stream bytes to consume before reading on */
    uint8_t *mbuf;  /* a message being put together */
    size_t mlen, mcap;
    bool assembling;
    bool msg_text;
    struct weft__utf8 u8;
    /* receive_part with compression: input inflated only in part */
    const uint8_t *zin;
    size_t zin_len, zpend; /* zpend: its stream bytes, consumed after */
    bool zin_fin;
    int part_type; /* receive_part: the message's type */
    uint8_t *zout; /* receive_part's output pieces */
    /* permessage-deflate */
    struct weft__ws_pmd pmd;
    struct weft__ws_z inf, def;
    /* sending */
    weft_lock_t tx_lock;         /* one message at a time */
    int part_op;                 /* send_part: the message under way */
    struct weft_task *part_task; /* ... and the task sending it */
    bool part_z, part_first;
    bool tx_multi; /* a message of several frames is going out */
    struct weft__utf8 tx_u8;
    uint8_t *tbuf; /* masked frames */
    size_t tcap;
    uint8_t *zbuf; /* compressed payloads */
    size_t zlen, zcap;
    /* heartbeat and close deadline: one lazy timer */
    struct weft__timer timer;
    uint64_t last_rx, ping_at, close_by; /* loop ns */
    uint64_t hb_ns, pong_ns;
    weft_event_t closed_ev; /* close handshake over (or failed) */
    void *data;
};

/* Fill in the defaults of o (copied into ws->o) and make the object
 * around s. 0, -EINVAL (bad options, logged), -ENOMEM. */
int weft__ws_new(weft_ws_t **out, weft_stream_t *s, bool client,
                 const weft_ws_opts_t *o, const struct weft__ws_pmd *pmd);
void weft__ws_destroy(weft_ws_t *ws);

/* Fail the connection: queue a close frame with code (0: none) unless one
 * was sent, remember err, wake whoever waits. Does not wait. */
void weft__ws_fail(weft_ws_t *ws, int code, int err);
/* End the connection's reading and writing now (shutdown(2)), so that a
 * task blocked on it wakes: for failures decided outside the reader. */
void weft__ws_kill(weft_ws_t *ws, int err);

/* Queue a control frame (no waiting). 0 or the stream's error. */
int weft__ws_send_control(weft_ws_t *ws, unsigned op, const void *data,
                          size_t len);
/* Wait while the stream's queue is over its high-water mark, within
 * send_timeout (the connection is failed when it runs out). */
int weft__ws_backpressure(weft_ws_t *ws);
/* Random bytes for masks and keys (OpenSSL's CSPRNG, drawn 256 bytes at a
 * time). */
void weft__ws_random(uint8_t *out, size_t n);

/* The heartbeat / close-deadline timer: (re)arm for what is due next. */
void weft__ws_timer_update(weft_ws_t *ws);

/* Server seams (web_server.c): a hijacked connection's shutdown hook and
 * lingering close. */
void weft__web_conn_on_shutdown(weft_web_request_t *req, void (*fn)(void *arg),
                                void *arg);
void weft__web_conn_linger(weft_web_request_t *req);
/* (web_int.h says what these do.) */
size_t weft__web_req_unused(const weft_web_request_t *req,
                            struct weft__span *out, size_t max);

#endif
