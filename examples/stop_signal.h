/* stop_signal.h - wait in a task for SIGINT or SIGTERM: the servers'
 * stand-in for loop.add_signal_handler() until weft has a signal API of its
 * own (then these functions are all that changes).
 *
 * The two signals are blocked in main(), before the loop starts (so that no
 * thread ever takes them), and read from a signalfd wrapped in a weft
 * stream: a task waiting for a signal waits like any other I/O while the
 * loop runs on. A signal sent before anybody reads stays pending and is
 * read later; nothing is lost.
 *
 *     stop_signals_block();               in main(), first
 *     stop_signals_open(&sig);            in a task
 *     int signo = stop_signals_wait(sig); a struct signalfd_siginfo read
 *     weft_stream_close(sig);
 *
 * Header-only (static functions): each example stays one program.
 */
#ifndef WEFT_EXAMPLES_STOP_SIGNAL_H
#define WEFT_EXAMPLES_STOP_SIGNAL_H

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <weft.h>

static void stop_signals_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/* Block SIGINT and SIGTERM for this thread and the threads it starts.
 * Returns 0 or a negative errno. */
static int stop_signals_block(void) {
    sigset_t set;
    stop_signals_set(&set);
    return sigprocmask(SIG_BLOCK, &set, NULL) < 0 ? -errno : 0;
}

/* A stream of the current loop that delivers the blocked signals, owned by
 * the caller (weft_stream_close). From a task. */
static int stop_signals_open(weft_stream_t **out) {
    sigset_t set;
    stop_signals_set(&set);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = weft_stream_from_fd(weft_loop_current(), out, fd, NULL);
    if (err < 0)
        close(fd);
    return err;
}

/* Wait for the next signal; returns its number, or a negative errno
 * (-ECANCELED if the waiting task is cancelled). */
static int stop_signals_wait(weft_stream_t *sig) {
    struct signalfd_siginfo si;
    ssize_t n = weft_stream_read_exactly(sig, &si, sizeof si);
    return n < 0 ? (int)n : (int)si.ssi_signo;
}

static const char *stop_signal_name(int signo) {
    return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "signal";
}

#endif
