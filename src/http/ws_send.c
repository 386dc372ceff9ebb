/* Sending: frames (masked by a client, compressed when agreed), messages
 * whole or in parts, control frames, backpressure, and broadcast.
 *
 * A frame goes to the stream in one call, so frames of different tasks
 * never mix: a small one (header and payload copied together) by
 * weft_stream_write, which never waits; a large one by
 * weft_stream_writev (zero-copy for a server's plain frames), during which
 * other tasks' writes wait aside in the stream and follow it. Messages are
 * serialised by tx_lock (a message of several frames holds it from the
 * first to the last); control frames skip it, as RFC 6455 5.4 lets them
 * pass between a message's frames. */
#include <math.h>
#include <string.h>

#include "ws_int.h"

#define SMALL_FRAME 1024     /* header + payload copied on the stack */
#define COPY_MAX (16 * 1024) /* masked frames up to this: one write */
#define KEEP_BUF (64 * 1024) /* scratch kept between messages */
#define DEFAULT_MAX_QUEUED (1u << 20)

/* ---- low level ----------------------------------------------------------- */

int weft__ws_send_control(weft_ws_t *ws, unsigned op, const void *data,
                          size_t len) {
    uint8_t buf[WS_MAX_HEADER + WS_MAX_CONTROL];
    uint8_t key[4];
    if (ws->client)
        weft__ws_random(key, 4);
    size_t hl =
        weft__ws_write_header(buf, true, 0, op, len, ws->client ? key : NULL);
    if (len) {
        if (ws->client)
            weft__ws_mask(buf + hl, data, len, key, 0);
        else
            memcpy(buf + hl, data, len);
    }
    return weft_stream_write(ws->s, buf, hl + len);
}

int weft__ws_backpressure(weft_ws_t *ws) {
    weft_stream_t *s = ws->s;
    if (s->wlen + s->hlen <= s->high)
        return 0; /* the common case: no scope, no timer */
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, ws->o.send_timeout, 0);
    if (err)
        return err;
    err = weft_stream_drain(s);
    int se = weft_scope_exit(&sc);
    if (err == -ETIMEDOUT && se == -ETIMEDOUT) {
        weft__ws_kill(ws, -ETIMEDOUT); /* a peer that stopped reading */
        ws->flags |= WS_ERR_TOLD;
    } else if (err && err != -ECANCELED && err != -ETIMEDOUT) {
        weft__ws_fail(ws, 0, err);
    }
    return err;
}

static int tbuf_room(weft_ws_t *ws, size_t n) {
    if (ws->tcap >= n)
        return 0;
    size_t cap = ws->tcap ? ws->tcap : 4096;
    while (cap < n)
        cap *= 2;
    uint8_t *nb = weft__realloc(ws->tbuf, cap);
    if (!nb)
        return -ENOMEM;
    ws->tbuf = nb;
    ws->tcap = cap;
    return 0;
}

/* A large write, waiting until the kernel has it (bounded by
 * send_timeout). */
static int write_big(weft_ws_t *ws, const struct iovec *iov, int n) {
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, ws->o.send_timeout, 0);
    if (err)
        return err;
    ssize_t r = weft_stream_writev(ws->s, iov, n);
    weft_scope_exit(&sc);
    return r < 0 ? (int)r : 0;
}

/* One frame. An error leaves the connection unusable (part of a frame may
 * be out): callers fail it. */
static int write_frame(weft_ws_t *ws, bool fin, unsigned rsv, unsigned op,
                       const uint8_t *data, size_t len) {
    uint8_t key[4];
    if (ws->client)
        weft__ws_random(key, 4);
    uint8_t hdr[WS_MAX_HEADER];
    size_t hl =
        weft__ws_write_header(hdr, fin, rsv, op, len, ws->client ? key : NULL);
    size_t total = hl + len;
    if (total <= SMALL_FRAME) {
        uint8_t buf[SMALL_FRAME];
        memcpy(buf, hdr, hl);
        if (ws->client)
            weft__ws_mask(buf + hl, data, len, key, 0);
        else if (len)
            memcpy(buf + hl, data, len);
        return weft_stream_write(ws->s, buf, total);
    }
    if (!ws->client) {
        struct iovec iov[2] = {{hdr, hl}, {(void *)data, len}};
        return write_big(ws, iov, 2);
    }
    int err = tbuf_room(ws, total);
    if (err)
        return err;
    memcpy(ws->tbuf, hdr, hl);
    weft__ws_mask(ws->tbuf + hl, data, len, key, 0);
    if (total <= COPY_MAX)
        return weft_stream_write(ws->s, ws->tbuf, total);
    struct iovec iov = {ws->tbuf, total};
    err = write_big(ws, &iov, 1);
    if (ws->tcap > KEEP_BUF) {
        weft__free(ws->tbuf);
        ws->tbuf = NULL;
        ws->tcap = 0;
    }
    return err;
}

/* Whether our messages may be compressed: agreed, and a window zlib can
 * make (a peer that asked for 8 bits gets plain messages). */
static bool can_compress(const weft_ws_t *ws) {
    return ws->pmd.on && ws->def.wbits >= 9;
}

static void zbuf_trim(weft_ws_t *ws) {
    if (ws->zcap > KEEP_BUF) {
        weft__free(ws->zbuf);
        ws->zbuf = NULL;
        ws->zcap = 0;
    }
}

/* ---- messages ------------------------------------------------------------ */

static int tx_check(weft_ws_t *ws, int type, const void *data, size_t len,
                    const char *fn) {
    if (!ws || (!data && len))
        return -EINVAL;
    if (!weft__task_require(fn))
        return -EPERM;
    if (type != WEFT_WS_TEXT && type != WEFT_WS_BINARY) {
        weft__log(WEFT_LOG_WARN,
                  "%s: type %d is not WEFT_WS_TEXT or "
                  "WEFT_WS_BINARY",
                  fn, type);
        return -EINVAL;
    }
    if (ws->flags & (WS_CLOSE_SENT | WS_FAILED))
        return WEFT_EWS_CLOSED;
    return 0;
}

static bool text_ok(weft_ws_t *ws, int type, const void *data, size_t len) {
    return type != WEFT_WS_TEXT || (ws->o.flags & WEFT_WS_NO_UTF8_CHECK) ||
           weft__utf8_valid(data, len);
}

static int lock_tx(weft_ws_t *ws) {
    if (weft_lock_try_acquire(&ws->tx_lock) == 0)
        return 0;
    int err = weft_lock_acquire(&ws->tx_lock);
    if (!err && (ws->flags & (WS_CLOSE_SENT | WS_FAILED))) {
        weft_lock_release(&ws->tx_lock);
        return WEFT_EWS_CLOSED;
    }
    return err;
}

/* A whole message, the lock held. */
static int send_message(weft_ws_t *ws, int type, const uint8_t *data,
                        size_t len) {
    bool z = can_compress(ws) && len >= ws->o.deflate.min_size;
    const uint8_t *p = data;
    size_t n = len;
    int err;
    if (z) {
        ws->zlen = 0;
        err = weft__ws_deflate(&ws->def, data, len, true, &ws->zbuf, &ws->zlen,
                               &ws->zcap);
        if (err)
            return err;
        p = ws->zbuf;
        n = ws->zlen;
    }
    size_t fs = ws->o.frame_size;
    if (!fs || n <= fs) {
        err = write_frame(ws, true, z ? 4 : 0, (unsigned)type, p, n);
    } else {
        ws->tx_multi = true;
        err = 0;
        for (size_t off = 0; off < n && !err; off += fs) {
            size_t k = n - off < fs ? n - off : fs;
            err = write_frame(ws, off + k == n, off == 0 && z ? 4 : 0,
                              off == 0 ? (unsigned)type : 0, p + off, k);
            if (!err && off + k < n)
                err = weft__ws_backpressure(ws);
        }
        ws->tx_multi = false;
    }
    if (z)
        zbuf_trim(ws);
    return err;
}

int weft_ws_send(weft_ws_t *ws, int type, const void *data, size_t len) {
    int err = tx_check(ws, type, data, len, "weft_ws_send");
    if (err)
        return err;
    if (!text_ok(ws, type, data, len)) {
        weft__log(WEFT_LOG_WARN, "weft_ws_send: text is not UTF-8");
        return -EINVAL;
    }
    err = lock_tx(ws);
    if (err)
        return err;
    err = send_message(ws, type, data, len);
    weft_lock_release(&ws->tx_lock);
    if (err) {
        weft__ws_kill(ws, err);
        ws->flags |= WS_ERR_TOLD; /* the sender hears it */
        return err;
    }
    return weft__ws_backpressure(ws);
}

int weft_ws_send_text(weft_ws_t *ws, const char *text, size_t len) {
    return weft_ws_send(ws, WEFT_WS_TEXT, text, len);
}

int weft_ws_send_binary(weft_ws_t *ws, const void *data, size_t len) {
    return weft_ws_send(ws, WEFT_WS_BINARY, data, len);
}

int weft_ws_send_part(weft_ws_t *ws, int type, const void *data, size_t len,
                      bool fin) {
    int err = tx_check(ws, type, data, len, "weft_ws_send_part");
    if (err)
        return err;
    bool mine = ws->part_op && ws->part_task == weft__task_current();
    if (mine && type != ws->part_op) {
        weft__log(WEFT_LOG_WARN,
                  "weft_ws_send_part: type %d in the middle "
                  "of a message of type %d",
                  type, ws->part_op);
        return -EINVAL;
    }
    struct weft__utf8 u8 =
        mine ? ws->tx_u8 : (struct weft__utf8){0, 0x80, 0xbf};
    if (type == WEFT_WS_TEXT && !(ws->o.flags & WEFT_WS_NO_UTF8_CHECK) &&
        (weft__utf8_feed(&u8, data, len) != len ||
         (fin && !weft__utf8_done(&u8)))) {
        weft__log(WEFT_LOG_WARN, "weft_ws_send_part: text is not UTF-8");
        return -EINVAL;
    }
    if (!mine) {
        err = lock_tx(ws);
        if (err)
            return err;
        ws->part_op = type;
        ws->part_task = weft__task_current();
        ws->part_z = can_compress(ws);
        ws->part_first = true;
        ws->tx_multi = true;
    }
    ws->tx_u8 = u8;
    const uint8_t *p = data;
    size_t n = len;
    if (ws->part_z) {
        ws->zlen = 0;
        err = weft__ws_deflate(&ws->def, data, len, fin, &ws->zbuf, &ws->zlen,
                               &ws->zcap);
        p = ws->zbuf;
        n = ws->zlen;
    }
    if (!err)
        err = write_frame(ws, fin, ws->part_first && ws->part_z ? 4 : 0,
                          ws->part_first ? (unsigned)type : 0, p, n);
    ws->part_first = false;
    if (fin || err) {
        ws->part_op = 0;
        ws->part_task = NULL;
        ws->tx_multi = false;
        ws->tx_u8 = (struct weft__utf8){0, 0x80, 0xbf};
        zbuf_trim(ws);
        weft_lock_release(&ws->tx_lock);
    }
    if (err) {
        weft__ws_kill(ws, err);
        ws->flags |= WS_ERR_TOLD;
        return err;
    }
    err = weft__ws_backpressure(ws);
    if (err && !fin) {
        /* Half a message is out and the sender gives up: nothing else can
         * follow it on this connection. */
        ws->part_op = 0;
        ws->part_task = NULL;
        ws->tx_multi = false;
        weft_lock_release(&ws->tx_lock);
        weft__ws_kill(ws, err);
    }
    return err;
}

static int send_ping_pong(weft_ws_t *ws, unsigned op, const void *data,
                          size_t len, const char *fn) {
    if (!ws || (!data && len))
        return -EINVAL;
    if (!weft__task_require(fn))
        return -EPERM;
    if (len > WS_MAX_CONTROL) {
        weft__log(WEFT_LOG_WARN, "%s: %zu bytes (at most 125)", fn, len);
        return -EINVAL;
    }
    if (ws->flags & (WS_CLOSE_SENT | WS_FAILED))
        return WEFT_EWS_CLOSED;
    int err = weft__ws_send_control(ws, op, data, len);
    if (err) {
        weft__ws_fail(ws, 0, err);
        return err;
    }
    return weft__ws_backpressure(ws);
}

int weft_ws_ping(weft_ws_t *ws, const void *data, size_t len) {
    return send_ping_pong(ws, WEFT_WS_PING, data, len, "weft_ws_ping");
}

int weft_ws_pong(weft_ws_t *ws, const void *data, size_t len) {
    return send_ping_pong(ws, WEFT_WS_PONG, data, len, "weft_ws_pong");
}

/* ---- broadcast ----------------------------------------------------------- */

/* The frames a broadcast makes: the plain one for every uncompressed
 * server receiver, made once; and compressed payloads, made once per
 * receiver that keeps a context, or once per (window, level, memLevel)
 * for receivers that reset theirs after each message (their outputs are
 * the same bytes). */
struct bcast {
    int type;
    const uint8_t *data;
    size_t len;
    uint8_t *plain;
    size_t plain_len;
    uint8_t *z; /* the shared compressed payload */
    size_t zlen, zcap;
    int zkey[3]; /* its wbits, level, mem; zkey[0] 0: none */
};

static int bcast_plain(struct bcast *b, weft_ws_t *ws) {
    if (!b->plain) {
        b->plain = weft__malloc(WS_MAX_HEADER + b->len);
        if (!b->plain)
            return -ENOMEM;
        size_t hl = weft__ws_write_header(b->plain, true, 0, (unsigned)b->type,
                                          b->len, NULL);
        if (b->len)
            memcpy(b->plain + hl, b->data, b->len);
        b->plain_len = hl + b->len;
    }
    return weft_stream_write(ws->s, b->plain, b->plain_len);
}

/* A frame of this receiver's own (masked, or compressed), queued. */
static int bcast_own(struct bcast *b, weft_ws_t *ws) {
    bool z = can_compress(ws) && b->len >= ws->o.deflate.min_size;
    const uint8_t *p = b->data;
    size_t n = b->len;
    uint8_t *tmp = NULL;
    size_t tlen = 0, tcap = 0;
    int err = 0;
    if (z) {
        bool shared = ws->def.reset;
        int key[3] = {ws->def.wbits, ws->def.level, ws->def.mem};
        if (shared && b->zkey[0] && !memcmp(key, b->zkey, sizeof key)) {
            p = b->z;
            n = b->zlen;
        } else {
            uint8_t **buf = shared ? &b->z : &tmp;
            size_t *len = shared ? &b->zlen : &tlen;
            size_t *cap = shared ? &b->zcap : &tcap;
            *len = 0;
            err = weft__ws_deflate(&ws->def, b->data, b->len, true, buf, len,
                                   cap);
            if (shared)
                memcpy(b->zkey, key, sizeof key);
            p = *buf;
            n = *len;
        }
    }
    uint8_t key[4];
    if (ws->client)
        weft__ws_random(key, 4);
    uint8_t *f = err ? NULL : weft__malloc(WS_MAX_HEADER + n);
    if (!err && !f)
        err = -ENOMEM;
    if (!err) {
        size_t hl = weft__ws_write_header(f, true, z ? 4 : 0, (unsigned)b->type,
                                          n, ws->client ? key : NULL);
        if (ws->client)
            weft__ws_mask(f + hl, p, n, key, 0);
        else if (n)
            memcpy(f + hl, p, n);
        err = weft_stream_write(ws->s, f, hl + n);
    }
    weft__free(f);
    weft__free(tmp);
    return err;
}

ssize_t weft_ws_broadcast(weft_ws_t *const *wss, size_t n, int type,
                          const void *data, size_t len,
                          const weft_ws_broadcast_opts_t *opts,
                          weft_ws_broadcast_stats_t *stats) {
    weft_ws_broadcast_stats_t st = {0};
    if (stats)
        *stats = st;
    if ((!wss && n) || (!data && len) ||
        (type != WEFT_WS_TEXT && type != WEFT_WS_BINARY) ||
        (opts && opts->policy != WEFT_WS_BROADCAST_SKIP &&
         opts->policy != WEFT_WS_BROADCAST_DROP))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!wss[i])
            return -EINVAL;
    if (type == WEFT_WS_TEXT && !weft__utf8_valid(data, len)) {
        weft__log(WEFT_LOG_WARN, "weft_ws_broadcast: text is not UTF-8");
        return -EINVAL;
    }
    int policy = opts ? opts->policy : WEFT_WS_BROADCAST_SKIP;
    size_t max_queued =
        opts && opts->max_queued ? opts->max_queued : DEFAULT_MAX_QUEUED;
    struct bcast b = {.type = type, .data = data, .len = len};
    int oom = 0;
    for (size_t i = 0; i < n; i++) {
        weft_ws_t *ws = wss[i];
        if (ws->flags & (WS_CLOSE_SENT | WS_FAILED)) {
            st.closed++;
            continue;
        }
        if (ws->tx_multi) {
            st.skipped++; /* between the frames of a message of its own */
            continue;
        }
        if (weft_ws_queued(ws) + len > max_queued) {
            if (policy == WEFT_WS_BROADCAST_DROP) {
                weft__ws_kill(ws, WEFT_EWS_SLOW);
                st.dropped++;
            } else {
                st.skipped++;
            }
            continue;
        }
        int err = ws->client || can_compress(ws) ? bcast_own(&b, ws)
                                                 : bcast_plain(&b, ws);
        if (err == -ENOMEM) {
            oom = err;
            break;
        }
        if (err) {
            weft__ws_kill(ws, err);
            st.closed++;
            continue;
        }
        st.sent++;
    }
    weft__free(b.plain);
    weft__free(b.z);
    if (stats)
        *stats = st;
    return oom ? oom : (ssize_t)st.sent;
}
