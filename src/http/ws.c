/* The WebSocket connection: receiving (frames to messages, whole or in
 * pieces), control frames, the closing handshake, failing a connection,
 * and the one timer that runs the heartbeat and close deadlines.
 *
 * Reading works in place in the stream's buffer (weft_stream_wait_data's
 * bytes): this module owns the read side, so masked payloads are unmasked
 * where they lie, and a message that came in one frame, whole in the
 * buffer, is handed out without a copy (consumed at the next read). Only
 * messages in several frames, or cut by a read, are put together in a
 * buffer of their own. */
#include <math.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "ws_int.h"

#define DEFAULT_MAX_MESSAGE (4u << 20)
#define ZOUT_SIZE (16 * 1024) /* receive_part's decompressed pieces */
/* Message buffers larger than this go after each message. */
#define KEEP_BUF (64 * 1024)
/* After this long without a byte from the peer, a socket whose reader
 * waits gives back the stack pages below the wait and its empty read
 * buffer (an idle chat client then costs what its parked frames touch:
 * docs/design.md has the numbers). */
#define TRIM_NS (2 * WEFT__NS_PER_SEC)

/* ---- random bytes -------------------------------------------------------- */

/* Masks must be unpredictable (RFC 6455 10.3): OpenSSL's CSPRNG, drawn
 * 256 bytes at a time (64 frames' keys per call instead of one call per
 * frame), the pool emptied in a forked child. */
static __thread uint8_t rnd_pool[256];
static __thread size_t rnd_left;
static pthread_once_t rnd_once = PTHREAD_ONCE_INIT;

static void rnd_child(void) {
    rnd_left = 0;
}

static void rnd_setup(void) {
    pthread_atfork(NULL, NULL, rnd_child);
}

void weft__ws_random(uint8_t *out, size_t n) {
    pthread_once(&rnd_once, rnd_setup);
    while (n) {
        if (!rnd_left) {
            if (RAND_bytes(rnd_pool, sizeof rnd_pool) != 1) {
                ssize_t got = getrandom(rnd_pool, sizeof rnd_pool, 0);
                if (got != (ssize_t)sizeof rnd_pool)
                    abort(); /* no entropy at all: nothing safe to do */
            }
            rnd_left = sizeof rnd_pool;
        }
        size_t k = n < rnd_left ? n : rnd_left;
        memcpy(out, rnd_pool + sizeof rnd_pool - rnd_left, k);
        memset(rnd_pool + sizeof rnd_pool - rnd_left, 0, k);
        rnd_left -= k;
        out += k;
        n -= k;
    }
}

/* ---- making and freeing -------------------------------------------------- */

static double dflt(double v, double d) {
    return v == 0 || isnan(v) ? d : v;
}

static uint64_t to_ns(double secs) {
    uint64_t ns;
    return weft__secs_to_ns(secs, &ns) ? WEFT__NS_INF : ns;
}

static bool bad_time(double t) {
    return isnan(t) || t < 0;
}

static void ws_timer_fire(struct weft__timer *t);

int weft__ws_new(weft_ws_t **out, weft_stream_t *s, bool client,
                 const weft_ws_opts_t *opts, const struct weft__ws_pmd *pmd) {
    weft_ws_opts_t o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    const weft_ws_deflate_opts_t *d = &o.deflate;
    if (bad_time(o.heartbeat) || bad_time(o.pong_timeout) ||
        bad_time(o.close_timeout) || bad_time(o.send_timeout) || d->level < 0 ||
        d->level > 9 || d->mem_level < 0 || d->mem_level > 9 ||
        (d->server_max_window_bits &&
         (d->server_max_window_bits < 9 || d->server_max_window_bits > 15)) ||
        (d->client_max_window_bits &&
         (d->client_max_window_bits < 9 || d->client_max_window_bits > 15)) ||
        (o.flags & ~(unsigned)(WEFT_WS_DEFLATE | WEFT_WS_NO_AUTOPING |
                               WEFT_WS_NO_UTF8_CHECK | WEFT_WS_HIBERNATE))) {
        weft__log(WEFT_LOG_WARN, "weft_ws: bad options (a negative time, "
                                 "a zlib level or window out of range, "
                                 "unknown flags)");
        return -EINVAL;
    }
    o.protocols = NULL;
    o.max_message = o.max_message ? o.max_message : DEFAULT_MAX_MESSAGE;
    o.close_timeout = dflt(o.close_timeout, 10);
    o.send_timeout = dflt(o.send_timeout, 60);
    o.pong_timeout = dflt(o.pong_timeout, o.heartbeat / 2);
    o.deflate.level = d->level ? d->level : 1;
    o.deflate.mem_level = d->mem_level ? d->mem_level : 5;
    o.deflate.min_size = d->min_size ? d->min_size : 32;
    weft_ws_t *ws = weft__calloc(1, sizeof *ws);
    if (!ws)
        return -ENOMEM;
    ws->loop = s->loop;
    ws->s = s;
    ws->client = client;
    ws->o = o;
    bool z = pmd && pmd->on;
    weft__ws_rx_init(&ws->rx, !client, z);
    ws->u8 = ws->tx_u8 = (struct weft__utf8){0, 0x80, 0xbf};
    if (z) {
        ws->pmd = *pmd;
        bool my_nct = client ? pmd->client_nct : pmd->server_nct;
        bool peer_nct = client ? pmd->server_nct : pmd->client_nct;
        int my_bits = client ? pmd->client_wbits : pmd->server_wbits;
        int peer_bits = client ? pmd->server_wbits : pmd->client_wbits;
        weft__ws_z_init(&ws->def, true, my_bits, o.deflate.level,
                        o.deflate.mem_level, my_nct);
        weft__ws_z_init(&ws->inf, false, peer_bits, 0, 0, peer_nct);
    }
    weft_lock_init(&ws->tx_lock);
    weft_event_init(&ws->closed_ev);
    weft__timer_init(&ws->timer, ws_timer_fire);
    ws->last_rx = ws->loop->now;
    if (o.heartbeat > 0 && isfinite(o.heartbeat)) {
        ws->hb_ns = to_ns(o.heartbeat);
        ws->pong_ns = to_ns(o.pong_timeout);
    }
    weft__ws_timer_update(ws);
    *out = ws;
    return 0;
}

void weft__ws_destroy(weft_ws_t *ws) {
    weft__loop_timer_cancel(ws->loop, &ws->timer);
    weft__ws_z_free(&ws->inf);
    weft__ws_z_free(&ws->def);
    weft__free(ws->mbuf);
    weft__free(ws->tbuf);
    weft__free(ws->zbuf);
    weft__free(ws->zout);
    weft__free(ws->protocol);
    weft_event_destroy(&ws->closed_ev);
    weft_lock_destroy(&ws->tx_lock);
    if (ws->own_stream && ws->s)
        weft_stream_close(ws->s);
    weft__free(ws);
}

int weft_ws_free(weft_ws_t *ws) {
    if (!ws)
        return 0;
    if (ws->req) {
        weft__log(WEFT_LOG_WARN, "weft_ws_free: a server's WebSocket "
                                 "belongs to its request (freed when the "
                                 "handler returns)");
        return -EINVAL;
    }
    if (!(ws->flags & (WS_CLOSE_SENT | WS_FAILED))) {
        uint8_t p[2] = {WEFT_WS_GOING_AWAY >> 8, WEFT_WS_GOING_AWAY & 0xff};
        weft__ws_send_control(ws, WEFT_WS_CLOSE, p, 2);
    }
    weft__ws_destroy(ws);
    return 0;
}

/* ---- failing ------------------------------------------------------------- */

static void closed_now(weft_ws_t *ws) {
    ws->flags &= ~(unsigned)WS_CLOSE_WAIT;
    weft_event_set(&ws->closed_ev);
    weft__ws_timer_update(ws);
    if (ws->req) {
        /* The request lives in its handler's frames: when the handler is
         * the receiver and hibernates (a timer failed the connection: no
         * pong, the close deadline), its stack comes back first. */
        if (ws->reader)
            weft__task_thaw(ws->reader);
        weft__web_conn_linger(ws->req); /* the server closes TCP first */
    }
}

void weft__ws_fail(weft_ws_t *ws, int code, int err) {
    if (ws->flags & WS_FAILED)
        return;
    if (code && !(ws->flags & WS_CLOSE_SENT)) {
        uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        ws->flags |= WS_CLOSE_SENT;
        weft__ws_send_control(ws, WEFT_WS_CLOSE, p, 2);
    }
    ws->flags |= WS_FAILED;
    ws->err = err;
    closed_now(ws);
}

void weft__ws_kill(weft_ws_t *ws, int err) {
    weft__ws_fail(ws, 0, err);
    int fd = weft_stream_fd(ws->s);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* wakes a reader (EOF), fails writes */
}

/* A failed connection reports its error once, then WEFT_EWS_CLOSED. */
static int told(weft_ws_t *ws) {
    if ((ws->flags & WS_FAILED) && !(ws->flags & WS_ERR_TOLD)) {
        ws->flags |= WS_ERR_TOLD;
        return ws->err;
    }
    return WEFT_EWS_CLOSED;
}

static int fail_told(weft_ws_t *ws, int code, int err, const char *why) {
    weft__log(WEFT_LOG_DEBUG, "websocket: failing the connection (%d): %s",
              code, why);
    weft__ws_fail(ws, code, err);
    return told(ws);
}

/* ---- the timer ----------------------------------------------------------- */

/* One timer per WebSocket for the heartbeat, the pong deadline and the
 * close deadline, armed lazily: receiving moves nothing (last_rx is a
 * store), the timer finds out when it fires and is armed again for what
 * is due next. */
void weft__ws_timer_update(weft_ws_t *ws) {
    uint64_t when = UINT64_MAX;
    if (ws->flags & WS_CLOSE_WAIT)
        when = ws->close_by;
    if (!(ws->flags & WS_TRIMMED) && ws->last_rx + TRIM_NS < when)
        when = ws->last_rx + TRIM_NS;
    if (ws->hb_ns &&
        !(ws->flags & (WS_CLOSE_SENT | WS_CLOSE_RCVD | WS_FAILED))) {
        uint64_t w = (ws->flags & WS_PING_OUT) ? ws->ping_at + ws->pong_ns
                                               : ws->last_rx + ws->hb_ns;
        if (w < when)
            when = w;
    }
    if (when == UINT64_MAX || (ws->flags & WS_FAILED)) {
        weft__loop_timer_cancel(ws->loop, &ws->timer);
        return;
    }
    if (when > WEFT__NS_INF)
        when = WEFT__NS_INF;
    if (weft__timer_armed(&ws->timer)) {
        if (ws->timer.when <= when)
            return; /* it fires first and looks again */
        weft__loop_timer_cancel(ws->loop, &ws->timer);
    }
    weft__loop_timer_arm(ws->loop, &ws->timer, when);
}

static void idle_trim(weft_ws_t *ws) {
    ws->flags |= WS_TRIMMED; /* data that comes in arms it again */
    if ((!ws->idle_wait && !ws->idle_read) || !ws->reader ||
        ws->reader->asleep)
        return;
    /* Its stack's pages go back whole when the program said its frames
     * are its own (WEFT_WS_HIBERNATE), else those below its stack
     * pointer. */
    struct weft__span dead[WEFT__STACK_DEAD_MAX];
    size_t ndead = 0;
    if (ws->req) /* a server's: what its request does not use stays out */
        ndead = weft__web_req_unused(ws->req, dead, WEFT__STACK_DEAD_MAX);
    if (!(ws->o.flags & WEFT_WS_HIBERNATE) ||
        weft__task_hibernate_except(ws->reader, dead, ndead) < 0)
        weft__task_trim_stack(ws->reader);
    weft_stream_t *s = ws->s;
    /* Not under a recv in flight: the kernel writes into that buffer. */
    if (ws->idle_wait && s->rlen == 0 && s->rbuf) {
        weft__free(s->rbuf);
        s->rbuf = NULL;
        s->rcap = s->roff = 0;
    }
}

static void ws_timer_fire(struct weft__timer *t) {
    weft_ws_t *ws = WEFT__CONTAINER_OF(t, weft_ws_t, timer);
    uint64_t now = ws->loop->now;
    if (ws->flags & WS_FAILED)
        return;
    if ((ws->flags & WS_CLOSE_WAIT) && now >= ws->close_by) {
        weft__ws_kill(ws, -ETIMEDOUT); /* no close frame came back */
        return;
    }
    if (!(ws->flags & WS_TRIMMED) && now >= ws->last_rx + TRIM_NS)
        idle_trim(ws);
    if (ws->hb_ns && !(ws->flags & (WS_CLOSE_SENT | WS_CLOSE_RCVD))) {
        if ((ws->flags & WS_PING_OUT) && ws->last_rx > ws->ping_at)
            ws->flags &= ~(unsigned)WS_PING_OUT; /* anything answers */
        if (ws->flags & WS_PING_OUT) {
            if (now >= ws->ping_at + ws->pong_ns) {
                weft__ws_kill(ws, WEFT_EWS_PONG_TIMEOUT);
                return;
            }
        } else if (now >= ws->last_rx + ws->hb_ns) {
            /* From the timer, not a task: a ping is queued, never waited
             * for (weft_stream_write never waits). */
            int err = weft__ws_send_control(ws, WEFT_WS_PING, NULL, 0);
            if (err) {
                weft__ws_kill(ws, err);
                return;
            }
            ws->flags |= WS_PING_OUT;
            ws->ping_at = now;
        }
    }
    weft__ws_timer_update(ws);
}

/* ---- receiving ----------------------------------------------------------- */

static int reader_enter(weft_ws_t *ws, const char *fn) {
    if (!ws)
        return -EINVAL;
    if (!weft__task_require(fn))
        return -EPERM;
    if (ws->reader) {
        weft__log(WEFT_LOG_WARN,
                  "%s: another task is receiving on this "
                  "WebSocket",
                  fn);
        return -EBUSY;
    }
    ws->reader = weft__task_current();
    return 0;
}

static int reader_leave(weft_ws_t *ws, int r) {
    ws->reader = NULL;
    return r;
}

/* The stream's buffered bytes, writable (see the top of the file). */
static uint8_t *rbuf(weft_ws_t *ws) {
    return (uint8_t *)ws->s->rbuf + ws->s->roff;
}

static void consume(weft_ws_t *ws, size_t n) {
    if (n)
        weft_stream_consume(ws->s, n);
}

/* Make room for `more` bytes of message. */
static int mbuf_grow(weft_ws_t *ws, size_t more) {
    if (ws->mcap - ws->mlen >= more)
        return 0;
    size_t cap = ws->mcap ? ws->mcap : 1024;
    while (cap - ws->mlen < more)
        cap *= 2;
    uint8_t *nb = weft__realloc(ws->mbuf, cap);
    if (!nb)
        return -ENOMEM;
    ws->mbuf = nb;
    ws->mcap = cap;
    return 0;
}

/* A message is over: a buffer a large one grew is given back. */
static void mbuf_trim(weft_ws_t *ws) {
    if (ws->mcap > KEEP_BUF) {
        weft__free(ws->mbuf);
        ws->mbuf = NULL;
        ws->mcap = 0;
    }
}

static int text_check(weft_ws_t *ws, const uint8_t *p, size_t n, bool fin) {
    if (!ws->msg_text)
        return 0;
    if (weft__utf8_feed(&ws->u8, p, n) != n ||
        (fin && !weft__utf8_done(&ws->u8)))
        return fail_told(ws, WEFT_WS_BAD_DATA, WEFT_EWS_BAD_UTF8,
                         "invalid UTF-8 in a text message");
    return 0;
}

/* The peer's close frame (or ping, or pong). Returns 1 with *msg set, 0
 * to read on, or an error. */
static int on_control(weft_ws_t *ws, const struct weft__ws_ev *ev,
                      weft_ws_msg_t *msg) {
    bool manual = (ws->o.flags & WEFT_WS_NO_AUTOPING) != 0;
    if (ev->op == WEFT_WS_PING) {
        if (!manual) {
            if (ws->flags & WS_CLOSE_SENT)
                return 0;
            int err =
                weft__ws_send_control(ws, WEFT_WS_PONG, ev->data, ev->len);
            if (!err)
                err = weft__ws_backpressure(ws); /* a ping flood waits */
            return err;
        }
    } else if (ev->op == WEFT_WS_PONG) {
        ws->flags &= ~(unsigned)WS_PING_OUT;
        if (!manual)
            return 0;
    } else {
        int code = 0;
        int bad = weft__ws_close_parse(ev->data, ev->len, &code);
        if (bad)
            return fail_told(ws, bad,
                             bad == WEFT_WS_BAD_DATA ? WEFT_EWS_BAD_UTF8
                                                     : WEFT_EWS_PROTOCOL,
                             "malformed close frame");
        ws->flags |= WS_CLOSE_RCVD;
        ws->close_code = code;
        /* The reason stays where the parser put it (rx.ctl): nothing is
         * parsed after a close. */
        size_t rlen = ev->len > 2 ? ev->len - 2 : 0;
        if (!(ws->flags & WS_CLOSE_SENT)) {
            /* Answer, echoing the code (RFC 6455 5.5.1). */
            ws->flags |= WS_CLOSE_SENT;
            weft__ws_send_control(ws, WEFT_WS_CLOSE, ev->data,
                                  code == WEFT_WS_NO_STATUS ? 0 : 2);
        }
        ws->assembling = false;
        closed_now(ws);
        *msg = (weft_ws_msg_t){.type = WEFT_WS_CLOSE,
                               .data = rlen ? ev->data + 2 : ev->data,
                               .len = rlen,
                               .code = code,
                               .fin = true};
        return 1;
    }
    *msg = (weft_ws_msg_t){
        .type = (int)ev->op, .data = ev->data, .len = ev->len, .fin = true};
    return 1;
}

/* A message begins: its UTF-8 check starts over. */
static void msg_start(weft_ws_t *ws, const struct weft__ws_ev *ev) {
    ws->msg_text =
        ev->op == WEFT_WS_TEXT && !(ws->o.flags & WEFT_WS_NO_UTF8_CHECK);
    ws->u8 = (struct weft__utf8){0, 0x80, 0xbf};
}

static int inflate_failed(weft_ws_t *ws, int err) {
    return err == -ENOMEM
               ? fail_told(ws, WEFT_WS_INTERNAL_ERROR, -ENOMEM,
                           "out of memory")
               : fail_told(ws, WEFT_WS_PROTOCOL_ERROR, WEFT_EWS_PROTOCOL,
                           "compressed data does not inflate");
}

/* Decompress the piece in[0 .. n) of a message into the message buffer,
 * within max_message. */
static int inflate_whole(weft_ws_t *ws, const uint8_t *in, size_t n, bool fin) {
    bool done = false;
    while (n || (fin && !done)) {
        size_t room = ws->o.max_message - ws->mlen;
        size_t want = room < 16384 ? room + 1 : 16384;
        if (mbuf_grow(ws, want))
            return fail_told(ws, WEFT_WS_INTERNAL_ERROR, -ENOMEM,
                             "out of memory");
        size_t used = n;
        ssize_t k = weft__ws_inflate(&ws->inf, in, &used, fin,
                                     ws->mbuf + ws->mlen, want, &done);
        if (k < 0)
            return inflate_failed(ws, (int)k);
        if ((size_t)k > room)
            return fail_told(ws, WEFT_WS_TOO_BIG, WEFT_EWS_TOO_BIG,
                             "decompressed message over max_message");
        int err = text_check(ws, ws->mbuf + ws->mlen, (size_t)k,
                             fin && done && used == n);
        if (err)
            return err;
        ws->mlen += (size_t)k;
        in += used;
        n -= used;
        if (k == 0 && used == 0 && !(fin && !done))
            break;
    }
    return 0;
}

/* A piece of a data message, whole-message mode. Returns 1 with *msg set
 * (the message is complete), 0 to read on, or an error. `used`: the
 * stream bytes this event consumed. */
static int on_data_whole(weft_ws_t *ws, const struct weft__ws_ev *ev,
                         size_t used, weft_ws_msg_t *msg) {
    if (ev->first) {
        msg_start(ws, ev);
        ws->mlen = 0;
        ws->assembling = true;
    }
    int err;
    if (!ev->z) {
        /* The frame's whole length is known: refuse it at its header. */
        if (ws->rx.left + ev->len > ws->o.max_message - ws->mlen)
            return fail_told(ws, WEFT_WS_TOO_BIG, WEFT_EWS_TOO_BIG,
                             "message over max_message");
        err = text_check(ws, ev->data, ev->len, ev->fin);
        if (err)
            return err;
        if (ev->first && ev->fin) {
            *msg = (weft_ws_msg_t){.type = (int)ev->op,
                                   .data = ev->data,
                                   .len = ev->len,
                                   .fin = true};
            ws->pending = used; /* consumed at the next read */
            ws->assembling = false;
            return 1;
        }
        if (mbuf_grow(ws, ev->len))
            return fail_told(ws, WEFT_WS_INTERNAL_ERROR, -ENOMEM,
                             "out of memory");
        if (ev->len)
            memcpy(ws->mbuf + ws->mlen, ev->data, ev->len);
        ws->mlen += ev->len;
    } else {
        err = inflate_whole(ws, ev->data, ev->len, ev->fin);
        if (err)
            return err;
    }
    consume(ws, used);
    if (!ev->fin)
        return 0;
    ws->assembling = false;
    *msg = (weft_ws_msg_t){
        .type = (int)ev->op, .data = ws->mbuf, .len = ws->mlen, .fin = true};
    return 1;
}

/* receive_part with compression: decompress what is left of the current
 * piece into zout. Returns 1 with *msg set, 0 if the piece gave nothing
 * yet and is used up, or an error. */
static int part_inflate(weft_ws_t *ws, weft_ws_msg_t *msg) {
    if (!ws->zout && !(ws->zout = weft__malloc(ZOUT_SIZE)))
        return fail_told(ws, WEFT_WS_INTERNAL_ERROR, -ENOMEM, "out of memory");
    for (;;) {
        size_t used = ws->zin_len;
        bool done = false;
        ssize_t k = weft__ws_inflate(&ws->inf, ws->zin, &used, ws->zin_fin,
                                     ws->zout, ZOUT_SIZE, &done);
        if (k < 0)
            return inflate_failed(ws, (int)k);
        ws->zin += used;
        ws->zin_len -= used;
        bool fin = ws->zin_fin && done && ws->zin_len == 0;
        bool more = ws->zin_len > 0 || (ws->zin_fin && !done);
        int err = text_check(ws, ws->zout, (size_t)k, fin);
        if (err)
            return err;
        if (!more) {
            ws->zin = NULL;
            ws->pending = ws->zpend; /* the piece's stream bytes */
            ws->zpend = 0;
        }
        if (k > 0 || fin) {
            *msg = (weft_ws_msg_t){.type = ws->part_type,
                                   .data = ws->zout,
                                   .len = (size_t)k,
                                   .fin = fin};
            return 1;
        }
        if (!more)
            return 0;
    }
}

/* A piece of a data message, receive_part mode. */
static int on_data_part(weft_ws_t *ws, const struct weft__ws_ev *ev,
                        size_t used, weft_ws_msg_t *msg) {
    if (ev->first) {
        msg_start(ws, ev);
        ws->part_type = (int)ev->op;
    }
    if (ev->z) {
        ws->zin = ev->data;
        ws->zin_len = ev->len;
        ws->zin_fin = ev->fin;
        ws->zpend = used;
        return part_inflate(ws, msg);
    }
    int err = text_check(ws, ev->data, ev->len, ev->fin);
    if (err)
        return err;
    if (ev->len == 0 && !ev->fin) {
        consume(ws, used);
        return 0;
    }
    *msg = (weft_ws_msg_t){
        .type = (int)ev->op, .data = ev->data, .len = ev->len, .fin = ev->fin};
    ws->pending = used;
    return 1;
}

/* A plain data frame whose header announces more than the message may
 * still grow by: refused before its payload is read (whole-message
 * receive; a frame's first piece checks the same). */
static bool too_big_ahead(const weft_ws_t *ws) {
    const struct weft__ws_rx *rx = &ws->rx;
    if (!rx->in_frame || rx->h.op >= 8 || rx->msg_z)
        return false;
    size_t have = rx->started ? ws->mlen : 0;
    return rx->left > ws->o.max_message - have;
}

/* The connection ended (or broke) under a read. */
static int read_failed(weft_ws_t *ws, ssize_t n) {
    if (ws->flags & WS_FAILED)
        return told(ws);
    if (n == -ECANCELED || n == -ETIMEDOUT)
        return (int)n; /* the caller's; the connection is fine */
    if (!ws->close_code)
        ws->close_code = WEFT_WS_ABNORMAL;
    weft__ws_fail(ws, 0, n < 0 ? (int)n : -ECONNRESET);
    return told(ws);
}

/* Read until a message (or piece, or control message) is ready. */
static int rx_next(weft_ws_t *ws, weft_ws_msg_t *msg, bool part) {
    consume(ws, ws->pending);
    ws->pending = 0;
    if (ws->zin) {
        int r = part_inflate(ws, msg);
        if (r)
            return r < 0 ? r : 0;
        consume(ws, ws->pending);
        ws->pending = 0;
    }
    if (ws->flags & WS_FAILED)
        return told(ws);
    if (ws->flags & WS_CLOSE_RCVD)
        return WEFT_EWS_CLOSED;
    weft_stream_t *s = ws->s;
    size_t need = 1;
    for (;;) {
        if (s->rlen < need) {
            /* Nothing buffered and nothing to read: wait for the socket
             * first, holding no buffer, so that an idle socket's can go
             * (idle_trim). TLS may hold bytes the socket does not show. */
            if (s->rlen == 0 && !s->tls && weft__stream_drained(s)) {
                ws->idle_wait = true;
                int w = weft__io_wait(&s->io, WEFT__IO_IN);
                ws->idle_wait = false;
                if (w < 0 || (ws->flags & WS_FAILED))
                    return read_failed(ws, w);
            }
            const void *d;
            /* io_uring (no readiness wait above: never drained): the
             * idle wait is the recv itself, into the buffer. */
            ws->idle_read = s->rlen == 0 && !s->tls &&
                            (s->io.ready & WEFT__IO_DIRECT);
            ssize_t n = weft_stream_wait_data(s, need, &d);
            ws->idle_read = false;
            if (n < 0 || (size_t)n < need || (ws->flags & WS_FAILED))
                return read_failed(ws, n < 0 ? n : 0);
            ws->last_rx = ws->loop->now;
            if (ws->flags & WS_TRIMMED) {
                ws->flags &= ~(unsigned)WS_TRIMMED;
                weft__ws_timer_update(ws);
            }
        }
        struct weft__ws_ev ev;
        size_t used = weft__ws_rx_feed(&ws->rx, rbuf(ws), s->rlen, &ev);
        int r = 0;
        switch (ev.kind) {
        case WS_EV_NONE:
            consume(ws, used);
            need = ws->rx.need;
            if (!part && too_big_ahead(ws))
                return fail_told(ws, WEFT_WS_TOO_BIG, WEFT_EWS_TOO_BIG,
                                 "message over max_message");
            continue;
        case WS_EV_ERROR:
            return fail_told(ws, ev.code, WEFT_EWS_PROTOCOL, ev.why);
        case WS_EV_CONTROL:
            consume(ws, used);
            r = on_control(ws, &ev, msg);
            break;
        default:
            r = part ? on_data_part(ws, &ev, used, msg)
                     : on_data_whole(ws, &ev, used, msg);
            break;
        }
        if (r)
            return r < 0 ? r : 0;
        need = 1;
    }
}

int weft_ws_receive(weft_ws_t *ws, weft_ws_msg_t *msg) {
    int err = reader_enter(ws, "weft_ws_receive");
    if (err)
        return err;
    if (!msg)
        return reader_leave(ws, -EINVAL);
    if (ws->zin) {
        weft__log(WEFT_LOG_WARN, "weft_ws_receive: a message is being read "
                                 "in parts (weft_ws_receive_part)");
        return reader_leave(ws, -EINVAL);
    }
    mbuf_trim(ws);
    return reader_leave(ws, rx_next(ws, msg, false));
}

int weft_ws_receive_part(weft_ws_t *ws, weft_ws_msg_t *msg) {
    int err = reader_enter(ws, "weft_ws_receive_part");
    if (err)
        return err;
    if (!msg)
        return reader_leave(ws, -EINVAL);
    if (ws->assembling) {
        weft__log(WEFT_LOG_WARN, "weft_ws_receive_part: a message is being "
                                 "read whole (weft_ws_receive)");
        return reader_leave(ws, -EINVAL);
    }
    return reader_leave(ws, rx_next(ws, msg, true));
}

/* ---- closing ------------------------------------------------------------- */

/* A client, after the closing handshake: wait for the server to end the
 * TCP connection (RFC 6455 7.1.1), dropping what comes. */
static void wait_server_close(weft_ws_t *ws) {
    weft_stream_t *s = ws->s;
    for (;;) {
        consume(ws, s->rlen);
        const void *d;
        ssize_t n = weft_stream_wait_data(s, 1, &d);
        if (n <= 0)
            return;
    }
}

static int close_wait(weft_ws_t *ws) {
    if (ws->reader)
        return weft_event_wait(&ws->closed_ev); /* the reader answers */
    int err = reader_enter(ws, "weft_ws_close");
    if (err)
        return err;
    while (!(ws->flags & (WS_CLOSE_RCVD | WS_FAILED)) && !err) {
        weft_ws_msg_t m;
        mbuf_trim(ws);
        err = rx_next(ws, &m, ws->zin != NULL);
    }
    if (ws->client && (ws->flags & WS_CLOSE_RCVD) && !err)
        wait_server_close(ws);
    return reader_leave(ws, err);
}

int weft_ws_close(weft_ws_t *ws, int code, const char *reason) {
    if (!ws)
        return -EINVAL;
    if (!weft__task_require("weft_ws_close"))
        return -EPERM;
    size_t rlen = reason ? strlen(reason) : 0;
    if ((code && !weft_ws_close_code_valid(code)) || (!code && rlen) ||
        rlen > 123 || !weft__utf8_valid((const uint8_t *)reason, rlen)) {
        weft__log(WEFT_LOG_WARN,
                  "weft_ws_close: code %d may not be sent, "
                  "or the reason is not UTF-8 of at most 123 "
                  "bytes (with a code)",
                  code);
        return -EINVAL;
    }
    if (ws->flags & WS_FAILED) {
        /* A failed client still lets the server close TCP first (RFC
         * 6455 7.1.1), within close_timeout. */
        if (ws->client && !ws->reader) {
            weft_scope_t sc;
            if (weft_scope_enter(&sc, ws->o.close_timeout, 0) == 0) {
                ws->reader = weft__task_current();
                wait_server_close(ws);
                ws->reader = NULL;
                weft_scope_exit(&sc);
            }
        }
        return ws->err == WEFT_EWS_CLOSED ? 0 : ws->err;
    }
    if (!(ws->flags & WS_CLOSE_SENT)) {
        uint8_t p[125];
        size_t n = 0;
        if (code) {
            p[0] = (uint8_t)(code >> 8);
            p[1] = (uint8_t)code;
            if (rlen)
                memcpy(p + 2, reason, rlen);
            n = 2 + rlen;
        }
        ws->flags |= WS_CLOSE_SENT;
        int err = weft__ws_send_control(ws, WEFT_WS_CLOSE, p, n);
        if (err) {
            weft__ws_fail(ws, 0, err);
            return err;
        }
    }
    if ((ws->flags & WS_CLOSE_RCVD) && !ws->client)
        return 0;
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, ws->o.close_timeout, 0);
    if (err)
        return err;
    if (!(ws->flags & WS_CLOSE_RCVD))
        err = weft__ws_backpressure(ws);
    if (!err)
        err = close_wait(ws);
    int se = weft_scope_exit(&sc);
    if (err == -ETIMEDOUT && se == -ETIMEDOUT) {
        weft__ws_kill(ws, -ETIMEDOUT);
        ws->flags |= WS_ERR_TOLD;
        return -ETIMEDOUT;
    }
    if (err == WEFT_EWS_CLOSED)
        err = 0;
    if (!err && (ws->flags & WS_FAILED) && !(ws->flags & WS_CLOSE_RCVD))
        err = ws->err;
    return err;
}

/* ---- state --------------------------------------------------------------- */

const char *weft_ws_protocol(const weft_ws_t *ws) {
    return ws ? ws->protocol : NULL;
}

bool weft_ws_compressed(const weft_ws_t *ws) {
    return ws && ws->pmd.on;
}

int weft_ws_close_code(const weft_ws_t *ws) {
    return ws ? ws->close_code : 0;
}

bool weft_ws_closed(const weft_ws_t *ws) {
    return !ws || (ws->flags & (WS_CLOSE_SENT | WS_CLOSE_RCVD | WS_FAILED));
}

size_t weft_ws_queued(const weft_ws_t *ws) {
    return ws && ws->s ? ws->s->wlen + ws->s->hlen : 0;
}

void weft_ws_set_data(weft_ws_t *ws, void *data) {
    if (ws)
        ws->data = data;
}

void *weft_ws_data(const weft_ws_t *ws) {
    return ws ? ws->data : NULL;
}

int weft_ws_wrap(weft_ws_t **out, weft_stream_t *s, unsigned flags,
                 const weft_ws_opts_t *opts) {
    if (!out || !s ||
        (flags & ~(unsigned)(WEFT_WS_WRAP_CLIENT | WEFT_WS_WRAP_DEFLATE)))
        return -EINVAL;
    *out = NULL;
    int err = weft__loop_check(s->loop, "weft_ws_wrap");
    if (err)
        return err;
    struct weft__ws_pmd pmd = {0};
    if (flags & WEFT_WS_WRAP_DEFLATE) {
        const weft_ws_deflate_opts_t *d = opts ? &opts->deflate : NULL;
        pmd.on = true;
        pmd.server_nct = d && d->server_no_context_takeover;
        pmd.client_nct = d && d->client_no_context_takeover;
        pmd.server_wbits =
            (uint8_t)(d && d->server_max_window_bits ? d->server_max_window_bits
                                                     : 15);
        pmd.client_wbits =
            (uint8_t)(d && d->client_max_window_bits ? d->client_max_window_bits
                                                     : 15);
    }
    weft_ws_t *ws;
    err = weft__ws_new(&ws, s, flags & WEFT_WS_WRAP_CLIENT, opts, &pmd);
    if (err)
        return err;
    ws->own_stream = true;
    *out = ws;
    return 0;
}
