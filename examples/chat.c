/* chat.c - a chat room over WebSockets: GET / serves a small page, and
 * the socket at /ws relays each line a client sends to every client
 * connected, with its name, and says who joins and who leaves.
 *
 * Usage: chat [--host H] PORT
 *
 * Listens on H:PORT (H defaults to 127.0.0.1; PORT 0 takes a free port)
 * and prints "listening on http://HOST:PORT/". Open that page in two
 * browser tabs (or point any WebSocket client at ws://HOST:PORT/ws?name=N).
 *
 * The protocol, text messages both ways:
 *   client -> server   a line to say (at most 1000 bytes; longer ones and
 *                      binary messages are refused with close 1009 / 1003)
 *   server -> client   "NAME: LINE", "* NAME joined", "* NAME left"
 * A name is ?name= of the socket's URL: letters, digits, '-', '_' and
 * '.', at most 24 of them; anything else makes a "guest-N".
 *
 * Sending to everyone uses weft_ws_broadcast with the SKIP policy: a
 * client whose connection cannot take more (over 256 KiB queued) misses
 * lines rather than slowing the room or holding the server's memory.
 * One worker loop: the room's list lives in it. SIGINT / SIGTERM: every
 * client gets close 1001, then exit 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#define USAGE "usage: chat [--host H] PORT\n"
#define MAX_LINE 1000
#define MAX_NAME 24

static const char page[] =
    "<!doctype html>\n"
    "<html><head><meta charset=\"utf-8\"><title>weft chat</title>\n"
    "<style>body{font:15px system-ui,sans-serif;max-width:40em;margin:2em "
    "auto}#log{list-style:none;padding:0;height:20em;overflow-y:auto;"
    "border:1px solid #ccc}#log li{padding:2px 6px}#log li.info{color:#888}"
    "form{display:flex;gap:.5em}#text{flex:1}</style></head>\n"
    "<body><h1>weft chat</h1>\n"
    "<p id=\"status\">connecting...</p>\n"
    "<ul id=\"log\"></ul>\n"
    "<form id=\"form\"><input id=\"text\" autocomplete=\"off\" "
    "maxlength=\"1000\" placeholder=\"say something\">"
    "<button>Send</button></form>\n"
    "<script>\n"
    "const q = new URLSearchParams(location.search);\n"
    "const name = q.get('name') || prompt('Your name?') || '';\n"
    "const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';\n"
    "const ws = new WebSocket(proto + '//' + location.host + '/ws?name=' +\n"
    "                         encodeURIComponent(name));\n"
    "const log = document.getElementById('log');\n"
    "function add(line) {\n"
    "  const li = document.createElement('li');\n"
    "  li.textContent = line;\n"
    "  if (line.startsWith('* ')) li.className = 'info';\n"
    "  log.appendChild(li);\n"
    "  log.scrollTop = log.scrollHeight;\n"
    "}\n"
    "ws.onopen = () => document.getElementById('status').textContent =\n"
    "  'connected';\n"
    "ws.onmessage = (e) => add(e.data);\n"
    "ws.onclose = (e) => document.getElementById('status').textContent =\n"
    "  'closed (' + e.code + ')';\n"
    "window.chatSend = (t) => ws.send(t);\n"
    "window.chatLines = () => Array.from(log.children, (li) => "
    "li.textContent);\n"
    "document.getElementById('form').onsubmit = (e) => {\n"
    "  e.preventDefault();\n"
    "  const t = document.getElementById('text');\n"
    "  if (t.value) { ws.send(t.value); t.value = ''; }\n"
    "};\n"
    "</script></body></html>\n";

/* The room: the sockets of this loop's clients. */
static weft_ws_t **room;
static size_t nroom, room_cap;
static unsigned guests;

static int room_add(weft_ws_t *ws) {
    if (nroom == room_cap) {
        size_t cap = room_cap ? room_cap * 2 : 16;
        weft_ws_t **v = realloc(room, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        room = v;
        room_cap = cap;
    }
    room[nroom++] = ws;
    return 0;
}

static void room_remove(weft_ws_t *ws) {
    for (size_t i = 0; i < nroom; i++)
        if (room[i] == ws) {
            room[i] = room[--nroom];
            return;
        }
}

static void say(const char *line, size_t len) {
    weft_ws_broadcast_opts_t o = {.policy = WEFT_WS_BROADCAST_SKIP,
                                  .max_queued = 256 * 1024};
    weft_ws_broadcast(room, nroom, WEFT_WS_TEXT, line, len, &o, NULL);
}

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == '.'))
            return false;
    return true;
}

static int serve_page(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_bytes(req, 200, "text/html; charset=utf-8", page,
                          sizeof page - 1);
}

static int chat(weft_web_request_t *req, void *arg) {
    (void)arg;
    char name[MAX_NAME + 1];
    const char *asked = weft_web_query(req, "name");
    if (asked && name_ok(asked))
        snprintf(name, sizeof name, "%s", asked);
    else
        snprintf(name, sizeof name, "guest-%u", ++guests);
    weft_ws_opts_t o = {.max_message = MAX_LINE, .heartbeat = 30};
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &o);
    if (err)
        return err;
    if (room_add(ws) < 0) {
        weft_ws_close(ws, WEFT_WS_TRY_AGAIN_LATER, "room is full");
        return 0;
    }
    char line[MAX_NAME + MAX_LINE + 16];
    int n = snprintf(line, sizeof line, "* %s joined", name);
    say(line, (size_t)n);
    weft_ws_msg_t m;
    while (weft_ws_receive(ws, &m) == 0 && m.type != WEFT_WS_CLOSE) {
        if (m.type == WEFT_WS_BINARY) {
            weft_ws_close(ws, WEFT_WS_UNSUPPORTED, "text only");
            break;
        }
        n = snprintf(line, sizeof line, "%s: %.*s", name, (int)m.len,
                     (const char *)m.data);
        say(line, (size_t)n);
    }
    room_remove(ws);
    n = snprintf(line, sizeof line, "* %s left", name);
    say(line, (size_t)n);
    return 0;
}

static void on_listening(int port, void *arg) {
    const char *host = arg;
    bool v6 = strchr(host, ':') != NULL;
    printf("listening on http://%s%s%s:%d/\n", v6 ? "[" : "", host,
           v6 ? "]" : "", port);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--host") == 0 && argv[i + 1][0]) {
        host = argv[i + 1];
        i += 2;
    }
    char *end;
    errno = 0;
    long port = argc - i == 1 ? strtol(argv[i], &end, 10) : -1;
    if (argc - i != 1 || *end || errno || port < 0 || port > 65535 ||
        !argv[i][0]) {
        fputs(USAGE, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    weft_web_app_t *app;
    int err = weft_web_app_new(&app, NULL);
    if (!err)
        err = weft_web_route(app, "GET", "/", serve_page, NULL, NULL);
    if (!err)
        err = weft_web_route(app, "GET", "/ws", chat, NULL, NULL);
    if (err) {
        fprintf(stderr, "chat: %s\n", weft_strerror(err));
        return 1;
    }
    int stop_signal = 0;
    weft_web_run_opts_t opts = {0};
    opts.on_listening = on_listening;
    opts.arg = (void *)host;
    opts.stop_signal = &stop_signal;
    err = weft_web_run_app(app, host, argv[i], &opts);
    weft_web_app_free(app);
    free(room);
    if (err) {
        fprintf(stderr, "chat: cannot serve on %s:%s: %s\n", host, argv[i],
                weft_strerror(err));
        return 1;
    }
    printf("stopped on %s\n", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}
