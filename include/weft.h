/* weft.h - asyncio for C. The one header users include.
 *
 *   core.h    errors, version, allocator and log hooks
 *   loop.h    the event loop: call_soon / call_later / call_at, run, stop
 *   future.h  futures and weft_await
 *   task.h    tasks, cancellation, deadline scopes, groups, gather, weft_run
 *   sync.h    lock, event, condition, semaphores, queues between tasks
 *   exec.h    the executor: thread pools, run_in_executor, to_thread
 *   net.h     streams and servers over TCP, Unix sockets, pipes; UDP
 *   dns.h     asynchronous name resolution (weft_getaddrinfo)
 *   tls.h     TLS over streams (OpenSSL)
 *   proc.h    subprocesses with pipes as streams
 *   signal.h  Unix signals: callbacks and receivers on the loop's thread
 *   fswatch.h watching files and directory trees (inotify)
 *   http1.h   HTTP/1.1 on the wire: head parser, body framing, head writer
 *   httpmsg.h HTTP message helpers: URLs, targets, percent-encoding,
 *             query strings, header fields, cookies, dates
 *   web.h     an HTTP server in the style of aiohttp.web
 *   client.h  the HTTP client: sessions, pooled connections, cookies
 *   ws.h      WebSockets (RFC 6455, permessage-deflate), server and client
 *   debug.h   debug mode, loop counters, the task dump (gdb, tracepoints:
 *             docs/debugging.md)
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/core.h"
#include "weft/loop.h"
#include "weft/future.h"
#include "weft/task.h"
#include "weft/sync.h"
#include "weft/exec.h"
#include "weft/net.h"
#include "weft/dns.h"
#include "weft/tls.h"
#include "weft/proc.h"
#include "weft/signal.h"
#include "weft/fswatch.h"
#include "weft/file.h"
#include "weft/http1.h"
#include "weft/httpmsg.h"
#include "weft/web.h"
#include "weft/client.h"
#include "weft/ws.h"
#include "weft/debug.h"

#endif
