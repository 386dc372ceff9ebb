/* echo.h - what bench/echo.c and its libuv peer (uv_echo.c) share. */
#ifndef WEFT_BENCH_ECHO_H
#define WEFT_BENCH_ECHO_H

/* libuv: an echo server on 127.0.0.1, an ephemeral port, which it writes
 * to port_fd as an int; it serves until ctl_fd reads end of file, then
 * returns 0 (or -1 if it could not start). Runs in a child process. */
int uv_echo_serve(int port_fd, int ctl_fd);

#endif
