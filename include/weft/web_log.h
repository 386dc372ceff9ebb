/* weft/web_log.h - an access log for weft/web.h's server, off until
 * enabled: one line per request, when its response was sent (the
 * on_response_sent signal), in the Common Log Format, the combined
 * format, or aiohttp's %-format, through weft's log hook or a function
 * of yours. */
#ifndef WEFT_WEB_LOG_H
#define WEFT_WEB_LOG_H

#include "web.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Common Log Format (NCSA): host ident authuser [date] "request" status
 * bytes, as Apache's and nginx's defaults. */
#define WEFT_WEB_LOG_COMMON "%a - - %t \"%r\" %s %b"
/* Combined: the Common Log Format with Referer and User-Agent. */
#define WEFT_WEB_LOG_COMBINED                                                  \
    "%a - - %t \"%r\" %s %b \"%{Referer}i\" \"%{User-Agent}i\""

/* Receives each line (no newline). Called in the connection's task, from
 * the loop's thread (several threads with worker loops: then it must be
 * thread-safe), and must not wait. */
typedef void (*weft_web_log_fn)(const char *line, size_t len, void *arg);

/* Log every request of this app (and its sub-apps) once its response was
 * sent or its connection lost. format: WEFT_WEB_LOG_COMMON (NULL),
 * WEFT_WEB_LOG_COMBINED, or aiohttp's directives: %a the client's
 * address (weft_web_remote: a trusted proxy's word counts), %t the time
 * the request arrived ([10/Oct/2000:13:55:36 +0200], local time), %r the
 * request line, %s the status, %b the body bytes sent ('-' for none),
 * %T the time taken in seconds, %Tf the same with fractions, %D in
 * microseconds, %P the process id, %{Name}i a request header, %{Name}o a
 * response header ('-' when missing), %% a '%'. Bytes that could forge a
 * line (controls, and '"' and '\' inside quoted headers) are escaped as
 * \xHH, as nginx does.
 *
 * fn NULL: the line goes to weft's log handler (weft_set_log_handler) at
 * WEFT_LOG_INFO, which the default handler drops: install one to see
 * them; lines are then cut at 511 bytes. Returns 0, -EINVAL (an unknown
 * directive: logged), -EBUSY (app frozen), -ENOMEM. */
WEFT_EXPORT int weft_web_access_log(weft_web_app_t *app, const char *format,
                                    weft_web_log_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
