/* weft/ws.h - WebSockets (RFC 6455) with permessage-deflate (RFC 7692),
 * server and client, in the style of aiohttp's WebSocketResponse and
 * ClientSession.ws_connect.
 *
 *   aiohttp                                  weft/ws.h
 *   ws = web.WebSocketResponse(...)          weft_ws_accept(&ws, req, &opts)
 *   await ws.prepare(request)                (in the same call)
 *   ws = await session.ws_connect(url)       weft_ws_connect(&ws, session, url, &copts)
 *   msg = await ws.receive()                 weft_ws_receive(ws, &msg)
 *   await ws.send_str(s) / send_bytes(b)     weft_ws_send_text(ws, s, n) / weft_ws_send_binary(ws, b, n)
 *   await ws.ping(b) / pong(b)               weft_ws_ping(ws, b, n) / weft_ws_pong(ws, b, n)
 *   await ws.close(code=, message=)          weft_ws_close(ws, code, reason)
 *   heartbeat=, autoping=, max_msg_size=     weft_ws_opts_t .heartbeat, WEFT_WS_NO_AUTOPING, .max_message
 *   protocols=, compress=                    .protocols, WEFT_WS_DEFLATE
 *   ws.protocol, ws.close_code               weft_ws_protocol(ws), weft_ws_close_code(ws)
 *
 * A server handler:
 *
 *     static int echo(weft_web_request_t *req, void *arg) {
 *         weft_ws_t *ws;
 *         int err = weft_ws_accept(&ws, req, NULL);
 *         if (err)
 *             return err;              // a 4xx the server answers
 *         weft_ws_msg_t m;
 *         while (weft_ws_receive(ws, &m) == 0 && m.type != WEFT_WS_CLOSE)
 *             weft_ws_send(ws, m.type, m.data, m.len);
 *         return 0;                    // ws is freed with the request
 *     }
 *
 * Tasks. A WebSocket belongs to the loop that made it; its calls that wait
 * are made from that loop's tasks. One task receives at a time (a second
 * concurrent receive is -EBUSY); any number of tasks may send at once:
 * each message goes out whole, in the order the calls were made, and
 * control frames (pongs, a close) may pass between the frames of a message
 * being streamed. Every wait obeys the caller's deadline scopes and
 * cancellation as other weft calls do.
 *
 * Backpressure. Nothing is read from the connection until a task calls
 * receive (the peer's TCP window does the waiting), and a send waits while
 * more than the stream's high-water mark (64 KiB) is queued for a peer that
 * does not read, each wait bounded by send_timeout: a slow or stalled
 * peer costs the server one message and a buffer, never memory without
 * bound (aiohttp's issue #1367). weft_ws_broadcast never waits: it skips
 * or drops receivers whose queue is full, by a policy.
 *
 * Errors. Calls return 0 (or a length) or a negative code: an errno
 * (-ECONNRESET, -ETIMEDOUT, -ECANCELED, -EINVAL ...) or one of the
 * WebSocket codes of WEFT_ERR_MAP (weft/core.h, -3400..-3499):
 *   WEFT_EWS_HANDSHAKE    the opening handshake failed (the client: not a
 *                         101, a wrong Sec-WebSocket-Accept, an extension
 *                         or subprotocol the client did not offer)
 *   WEFT_EWS_PROTOCOL     the peer broke RFC 6455 / 7692: the connection
 *                         was failed with close code 1002
 *   WEFT_EWS_BAD_UTF8     a text message or close reason that is not UTF-8:
 *                         failed with 1007, at the first invalid byte
 *   WEFT_EWS_TOO_BIG      a message (after decompression) over max_message:
 *                         failed with 1009
 *   WEFT_EWS_CLOSED       the closing handshake is over (or the
 *                         connection failed): nothing more to receive or
 *                         send
 *   WEFT_EWS_PONG_TIMEOUT the heartbeat's ping got no pong in time: the
 *                         connection was dropped (1006 for the peer)
 *   WEFT_EWS_SLOW         dropped by weft_ws_broadcast (policy DROP)
 * A failed connection keeps its error: later calls return it once, then
 * WEFT_EWS_CLOSED.
 */
#ifndef WEFT_WS_H
#define WEFT_WS_H

#include <sys/types.h>

#include "client.h"
#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_ws weft_ws_t;

/* Message and frame types: the RFC's opcodes. */
enum weft_ws_type {
    WEFT_WS_TEXT = 0x1,
    WEFT_WS_BINARY = 0x2,
    WEFT_WS_CLOSE = 0x8,
    WEFT_WS_PING = 0x9,
    WEFT_WS_PONG = 0xA,
};

/* Close codes (RFC 6455 section 7.4.1 and the IANA registry). Codes a
 * program may send: 1000-1003, 1007-1014, and 3000-4999 (registered and
 * private use). 1005 (no code in the frame) and 1006 (no close frame at
 * all) are only ever reported, never sent. */
enum weft_ws_close_code {
    WEFT_WS_NORMAL = 1000,
    WEFT_WS_GOING_AWAY = 1001, /* server shutdown, page left */
    WEFT_WS_PROTOCOL_ERROR = 1002,
    WEFT_WS_UNSUPPORTED = 1003, /* a type the endpoint cannot take */
    WEFT_WS_NO_STATUS = 1005,   /* reported: the close frame had no code */
    WEFT_WS_ABNORMAL = 1006,    /* reported: no close frame */
    WEFT_WS_BAD_DATA = 1007,    /* text that is not UTF-8 */
    WEFT_WS_POLICY = 1008,
    WEFT_WS_TOO_BIG = 1009,
    WEFT_WS_MANDATORY_EXT = 1010, /* client: an extension it needs */
    WEFT_WS_INTERNAL_ERROR = 1011,
    WEFT_WS_SERVICE_RESTART = 1012,
    WEFT_WS_TRY_AGAIN_LATER = 1013,
    WEFT_WS_BAD_GATEWAY = 1014,
};

/* Whether a close frame may carry `code` (RFC 6455 section 7.4, as the
 * Autobahn testsuite checks it: 1000-1003, 1007-1014, 3000-4999). */
WEFT_EXPORT bool weft_ws_close_code_valid(int code);

/* ---- options ------------------------------------------------------------- */

enum {
    /* Negotiate permessage-deflate (RFC 7692): a client offers it, a
     * server accepts a client's offer. Messages are then compressed with
     * zlib (see weft_ws_deflate_opts_t). */
    WEFT_WS_DEFLATE = 1u << 0,
    /* Do not answer pings by itself: receive returns PING and PONG
     * messages, and the program answers (weft_ws_pong). */
    WEFT_WS_NO_AUTOPING = 1u << 1,
    /* Do not check that text messages are UTF-8 (receiving, and sending:
     * a text message of ours is checked too, -EINVAL). Only for peers you
     * trust: RFC 6455 requires the check. */
    WEFT_WS_NO_UTF8_CHECK = 1u << 2,
    /* A task receiving that has waited 2 s for the peer hibernates
     * (weft_task_hibernate in weft/task.h): its stack's pages go back and
     * an idle connection then holds no stack pages. Only if no
     * other task or callback reads or writes the receiving task's locals
     * while it waits (a struct on its stack that a broadcast list points
     * to would read zeros and lose writes until it wakes). Off: the pages
     * below its stack pointer go back, the rest stays. */
    WEFT_WS_HIBERNATE = 1u << 3,
};

/* permessage-deflate parameters (RFC 7692 section 7.1), as in Python's
 * websockets. A server takes the first offer of the client that it can
 * accept and answers with these; a client offers them and checks the
 * server's answer. 0 / false: zlib's defaults and no constraint. */
typedef struct weft_ws_deflate_opts {
    /* The server resets its compressor after each message (costs ratio,
     * saves nothing: the window stays allocated). Server: always sent in
     * the answer. Client: asked for, and a server that does not agree
     * fails the handshake. */
    bool server_no_context_takeover;
    /* The same for the client's compressor. */
    bool client_no_context_takeover;
    /* The server's compressor window, 9..15 bits (8 is refused: zlib's
     * raw deflate cannot make 256-byte windows). Server: the window it
     * compresses with, sent in the answer when below 15 (a smaller one
     * offered by the client wins). Client: asked of the server. */
    int server_max_window_bits;
    /* The client's compressor window, 9..15. Server: asked of a client
     * that offered client_max_window_bits. Client: the largest window it
     * will compress with (the server may ask for less); it always offers
     * the parameter, so that a server can. */
    int client_max_window_bits;
    /* zlib compression level 1..9 (0: 1, fast: messages are small and
     * latency matters more than the last bytes of ratio) and memLevel
     * 1..9 (0: 8). The compressor of one connection takes about
     * 2^(window+2) + 2^(memLevel+9) bytes, allocated at its first message:
     * 256 KiB with the defaults; window 12, memLevel 5 take 32 KiB. */
    int level, mem_level;
    /* Messages shorter than this are sent uncompressed (0: 32 bytes; a
     * deflate block for a few bytes is longer than they are). */
    size_t min_size;
} weft_ws_deflate_opts_t;

/* Asked of the server: does this origin (the Origin header, as sent; len 0
 * when absent) may open a WebSocket? Return true to accept; false answers
 * 403. Browsers send Origin; a WebSocket server that uses cookies must
 * check it (cross-site WebSocket hijacking). */
typedef bool (*weft_ws_origin_fn)(weft_web_request_t *req, const char *origin,
                                  size_t len, void *arg);

/* Zero-initialise: every 0 is a default. Times in seconds; INFINITY turns
 * a timeout off. */
typedef struct weft_ws_opts {
    /* Subprotocols, NULL-terminated (Sec-WebSocket-Protocol). Server: the
     * ones it speaks; the first of the client's list (in the client's
     * order) that is among them is chosen, none if none is. Client: the
     * ones it offers; the server's choice must be one of them. NULL:
     * none. */
    const char *const *protocols;
    /* Largest message received, after decompression: a longer one fails
     * the connection with 1009 (WEFT_EWS_TOO_BIG). 0: 4 MiB (aiohttp's
     * max_msg_size); SIZE_MAX: none. Does not limit weft_ws_receive_part,
     * which never holds a message. */
    size_t max_message;
    /* Send messages longer than this as several frames of at most this
     * many payload bytes (fragmentation). 0: one frame per message. */
    size_t frame_size;
    /* Send a ping after this long without receiving anything from the
     * peer, and drop the connection (WEFT_EWS_PONG_TIMEOUT) if nothing,
     * pong or other, comes within pong_timeout of it. 0: no heartbeat.
     * Whatever arrives counts, but only while a task receives: a program
     * with a heartbeat keeps a task in weft_ws_receive, as any WebSocket
     * program does. */
    double heartbeat;
    /* 0: heartbeat / 2 (aiohttp's). */
    double pong_timeout;
    /* How long weft_ws_close waits for the peer's close frame (and a
     * client, for the server to end the TCP connection). 0: 10 s. */
    double close_timeout;
    /* The longest wait for the peer to take bytes in a send (its queue
     * above the high-water mark): the connection is failed with
     * -ETIMEDOUT then. 0: 60 s (the server's send_timeout default). */
    double send_timeout;
    unsigned flags; /* WEFT_WS_* */
    weft_ws_deflate_opts_t deflate;
    /* Server: the origin check (NULL: every origin is accepted). */
    weft_ws_origin_fn check_origin;
    void *check_origin_arg;
} weft_ws_opts_t;

/* ---- the opening handshake ----------------------------------------------- */

/* Whether req asks for a WebSocket (GET with "Upgrade: websocket" and
 * "Connection: upgrade"): aiohttp's can_prepare, for a route that serves
 * both a page and a socket. */
WEFT_EXPORT bool weft_ws_is_upgrade(const weft_web_request_t *req);

/* From a route handler: check the request and answer it with 101
 * Switching Protocols (subprotocol and permessage-deflate negotiated as
 * opts say; opts may be NULL and is copied), then take the connection
 * over. Returns 0 with the WebSocket in *out, or an error for the handler
 * to return, the server answering it: WEFT_WEB_HTTP(400) (not GET, not
 * HTTP/1.1, Upgrade / Connection / Sec-WebSocket-Key missing or
 * malformed), (426) with "Sec-WebSocket-Version: 13" (another version),
 * (403) (check_origin said no), (503) (the server is shutting down);
 * -EINVAL (bad options, logged), -EALREADY (the response was sent),
 * -ENOMEM, or the connection's error.
 *
 * The WebSocket belongs to the request: it is freed when the handler
 * returns (do not weft_ws_free it, and let nothing use it after). A
 * handler that returns without a close handshake has a close frame (1000)
 * sent for it, without waiting for the answer. When the runner shuts down
 * gracefully (weft_web_runner_shutdown, a signal to weft_web_run_app),
 * every open WebSocket gets a close frame with 1001 "server shutting down"
 * before the on_shutdown signals run; its handler's receive then returns
 * the client's answer (a CLOSE message), and the grace period bounds the
 * rest. After the upgrade no server timeout applies to the connection
 * (not even handler_timeout): the WebSocket's own (heartbeat,
 * send_timeout) do. */
WEFT_EXPORT int weft_ws_accept(weft_ws_t **out, weft_web_request_t *req,
                               const weft_ws_opts_t *opts);

typedef struct weft_ws_connect_opts {
    weft_ws_opts_t ws;
    /* Extra request headers, name, value, ..., NULL (the session's are
     * sent too). Those the handshake writes (Upgrade, Connection,
     * Sec-WebSocket-*) are refused (-EINVAL). */
    const char *const *headers;
    /* The Origin header to send; NULL: none (browsers always send one). */
    const char *origin;
    /* The whole handshake (connecting, TLS, the 101): 0: the session's
     * total timeout. */
    double timeout;
    /* Filled in on failure as a request's (weft/client.h); may be NULL. */
    weft_client_error_t *error;
} weft_ws_connect_opts_t;

/* From a task of the session's loop: open a WebSocket to url ("ws://" or
 * "wss://", or "http://" / "https://": the same thing), through the
 * session's connections (pooling, proxies, TLS, cookies, redirects as for
 * a GET), and return it in *out, the caller's (weft_ws_close, then
 * weft_ws_free). opts may be NULL. Returns 0, or WEFT_EWS_HANDSHAKE (not a
 * 101 answer, or a wrong one: see opts->error for the status and why), or
 * the errors of weft_session_request (WEFT_ECLIENT_BAD_URL for a scheme
 * other than those four). */
WEFT_EXPORT int weft_ws_connect(weft_ws_t **out, weft_session_t *session,
                                const char *url,
                                const weft_ws_connect_opts_t *opts);

enum {
    /* weft_ws_wrap: this end is the client (masks what it sends, expects
     * unmasked frames). */
    WEFT_WS_WRAP_CLIENT = 1u << 0,
    /* weft_ws_wrap: permessage-deflate was negotiated, with the
     * parameters of opts->deflate as agreed (both sides must use the same
     * ones). */
    WEFT_WS_WRAP_DEFLATE = 1u << 1,
};

/* A WebSocket over a stream whose opening handshake was done some other
 * way (a stream pair in a test, a protocol of your own). The stream
 * becomes the WebSocket's: weft_ws_free closes it. flags: WEFT_WS_WRAP_*.
 * From the stream's loop. Returns 0, -EINVAL, -ENOMEM. */
WEFT_EXPORT int weft_ws_wrap(weft_ws_t **out, weft_stream_t *s, unsigned flags,
                             const weft_ws_opts_t *opts);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (key, len bytes as sent):
 * base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), 28
 * characters and a NUL into out. Returns 28, -EINVAL (len > 64). */
WEFT_EXPORT int weft_ws_accept_key(const char *key, size_t len, char out[29]);

/* ---- messages ------------------------------------------------------------ */

/* A message received. data and len: the payload (text as UTF-8 bytes, not
 * NUL-terminated); valid until the next receive call on this WebSocket
 * (or its close, or its end). */
typedef struct weft_ws_msg {
    int type; /* enum weft_ws_type */
    const void *data;
    size_t len;
    /* CLOSE: the peer's code (1005 if its frame had none; data and len
     * are the reason, UTF-8). */
    int code;
    /* weft_ws_receive_part: true on the last piece of the message; always
     * true from weft_ws_receive. */
    bool fin;
} weft_ws_msg_t;

/* From a task: receive the next message, whole (fragments joined,
 * decompressed, text checked as it arrives). Pings are answered and pongs
 * taken here unless WEFT_WS_NO_AUTOPING. When the peer closes, the close
 * frame is answered (echoing its code) and returned as a CLOSE message;
 * after that, and after a close handshake this end began, receive returns
 * WEFT_EWS_CLOSED. Returns 0, or WEFT_EWS_PROTOCOL / _BAD_UTF8 / _TOO_BIG
 * (the connection was failed with its code), WEFT_EWS_PONG_TIMEOUT,
 * WEFT_EWS_CLOSED, -ECONNRESET / -EPIPE (the connection ended without a
 * close frame: 1006), -ETIMEDOUT, -ECANCELED (the connection is still
 * fine: call again), -EBUSY (another task is receiving), -EINVAL, -EPERM
 * (not in a task). */
WEFT_EXPORT int weft_ws_receive(weft_ws_t *ws, weft_ws_msg_t *msg);

/* Receive a message in pieces as they arrive, without ever holding it
 * whole (a large upload): the first call returns the message's type with
 * its first bytes, later calls the next bytes of the same message (the
 * same type) until one has fin set. Pieces may be empty. Text is still
 * checked (a piece may end inside a character), max_message does not
 * apply. Control messages come between pieces as in weft_ws_receive
 * (PING and PONG only with WEFT_WS_NO_AUTOPING; CLOSE). Errors as
 * weft_ws_receive. */
WEFT_EXPORT int weft_ws_receive_part(weft_ws_t *ws, weft_ws_msg_t *msg);

/* From a task: send a message of type WEFT_WS_TEXT (UTF-8, checked:
 * -EINVAL) or WEFT_WS_BINARY, compressed if negotiated and long enough,
 * in frames of at most opts.frame_size. Returns once it is queued (the
 * data may be reused), having waited while the peer's queue is full.
 * Returns 0, WEFT_EWS_CLOSED (a close frame was sent or received, or the
 * connection failed), -ETIMEDOUT (send_timeout: the connection is failed),
 * -EPIPE / -ECONNRESET, -ECANCELED (the message may be partly sent: the
 * connection is then failed), -EINVAL, -EPERM. */
WEFT_EXPORT int weft_ws_send(weft_ws_t *ws, int type, const void *data,
                             size_t len);
WEFT_EXPORT int weft_ws_send_text(weft_ws_t *ws, const char *text, size_t len);
WEFT_EXPORT int weft_ws_send_binary(weft_ws_t *ws, const void *data,
                                    size_t len);

/* Send a message in pieces (each one frame, compressed as one message if
 * negotiated), without holding it whole: the first call gives its type,
 * the next ones the same type, the last one fin = true. Other tasks'
 * messages wait until it is complete; control frames may pass between its
 * frames. Text pieces may split characters; the whole must be UTF-8.
 * Errors as weft_ws_send, and -EINVAL for a type that differs from the
 * message's. */
WEFT_EXPORT int weft_ws_send_part(weft_ws_t *ws, int type, const void *data,
                                  size_t len, bool fin);

/* Send a ping or a pong (at most 125 bytes: -EINVAL). A pong that answers
 * nothing is a heartbeat the peer does not answer. Errors as
 * weft_ws_send. */
WEFT_EXPORT int weft_ws_ping(weft_ws_t *ws, const void *data, size_t len);
WEFT_EXPORT int weft_ws_pong(weft_ws_t *ws, const void *data, size_t len);

/* From a task: the closing handshake. Sends a close frame with code (0:
 * none) and reason (NUL-terminated, at most 123 bytes of UTF-8; NULL:
 * none), then waits, at most close_timeout, for the peer's close frame:
 * reading it itself (dropping data messages) unless another task is in a
 * receive, which then gets it. A client also waits for the server to end
 * the TCP connection, as RFC 6455 section 7.1.1 asks. If the peer closed
 * first, only the answer is sent. Returns 0 (the handshake is complete),
 * -ETIMEDOUT (no answer in time: the connection is dropped), the
 * connection's error, -EINVAL (a code that may not be sent, a reason too
 * long or not UTF-8), -EPERM. Calling it again returns at once. */
WEFT_EXPORT int weft_ws_close(weft_ws_t *ws, int code, const char *reason);

/* Free a WebSocket made by weft_ws_connect or weft_ws_wrap, closing its
 * connection (a close frame 1001 is queued first if no closing handshake
 * took place; nothing waits). Not for weft_ws_accept's (they are the
 * request's: -EINVAL, logged). From the loop's thread; no task may be
 * inside a call on it. NULL is ignored. */
WEFT_EXPORT int weft_ws_free(weft_ws_t *ws);

/* ---- state --------------------------------------------------------------- */

/* The subprotocol agreed on, or NULL. Valid as long as ws. */
WEFT_EXPORT const char *weft_ws_protocol(const weft_ws_t *ws);
/* Whether permessage-deflate is in use. */
WEFT_EXPORT bool weft_ws_compressed(const weft_ws_t *ws);
/* The code of the peer's close frame (1005 for one without a code), or 0
 * if none came (1006 once the connection is gone without one). */
WEFT_EXPORT int weft_ws_close_code(const weft_ws_t *ws);
/* Whether the connection is over for sending: a close frame was sent or
 * received, or it failed. */
WEFT_EXPORT bool weft_ws_closed(const weft_ws_t *ws);
/* Bytes queued for the peer and not yet taken by the kernel. */
WEFT_EXPORT size_t weft_ws_queued(const weft_ws_t *ws);
/* A user pointer (the chat example keeps each client's name there). */
WEFT_EXPORT void weft_ws_set_data(weft_ws_t *ws, void *data);
WEFT_EXPORT void *weft_ws_data(const weft_ws_t *ws);

/* ---- broadcast ----------------------------------------------------------- */

/* What weft_ws_broadcast does with a receiver whose queue is full (more
 * than max_queued bytes not taken by its peer). */
enum weft_ws_broadcast_policy {
    /* The receiver misses this message and stays connected (a chat
     * client that is briefly slow loses lines, not its seat). */
    WEFT_WS_BROADCAST_SKIP = 0,
    /* The receiver is dropped: its connection is failed (its task's
     * receive returns WEFT_EWS_SLOW), so that it cannot hold the sender's
     * memory (a feed whose clients must see every message, or none). */
    WEFT_WS_BROADCAST_DROP = 1,
};

typedef struct weft_ws_broadcast_opts {
    int policy; /* enum weft_ws_broadcast_policy */
    /* The queue above which a receiver is slow: 0: 1 MiB. */
    size_t max_queued;
} weft_ws_broadcast_opts_t;

typedef struct weft_ws_broadcast_stats {
    size_t sent;    /* queued for these receivers */
    size_t skipped; /* slow (SKIP), or busy streaming a message of their
                       own (either policy) */
    size_t dropped; /* slow, DROP */
    size_t closed;  /* closing or failed already: nothing sent */
} weft_ws_broadcast_stats_t;

/* Send one message to n WebSockets of this loop without waiting: the
 * frame is made once (and compressed once per receiver that negotiated
 * permessage-deflate) and queued for each receiver, except those the
 * policy turns away. From the loop's thread, in a task or a callback.
 * opts and stats may be NULL. Returns the number queued, or -EINVAL (bad
 * type, text that is not UTF-8, a NULL entry), -ENOMEM. */
WEFT_EXPORT ssize_t weft_ws_broadcast(weft_ws_t *const *wss, size_t n, int type,
                                      const void *data, size_t len,
                                      const weft_ws_broadcast_opts_t *opts,
                                      weft_ws_broadcast_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
