/* The child the subprocess tests start. Usage: proc_child MODE [ARGS]
 *   echo            copy stdin to stdout
 *   both N M        write N bytes to stdout and N to stderr while reading
 *                   stdin, all at once (poll); exit 0 if stdin had M bytes
 *   exit K          exit with status K
 *   sleep           wait for a signal
 *   env NAME        print $NAME
 *   cwd             print the working directory
 *   fds             print the descriptors above 2 that are open
 *   sigmask         print how many signals are blocked
 *   split           "out" to stdout, "err" to stderr
 *   nap MS          sleep MS milliseconds, then exit 0
 *   std             print which of descriptors 0, 1 and 2 are open */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int both(long n, long m) {
    static char out[65536], in[65536];
    memset(out, 'x', sizeof out);
    long sent[3] = {0, 0, 0}, got = 0;
    int in_open = 1;
    for (int i = 0; i < 3; i++)
        fcntl(i, F_SETFL, fcntl(i, F_GETFL) | O_NONBLOCK);
    while (in_open || sent[1] < n || sent[2] < n) {
        struct pollfd p[3] = {{0, in_open ? POLLIN : 0, 0},
                              {1, sent[1] < n ? POLLOUT : 0, 0},
                              {2, sent[2] < n ? POLLOUT : 0, 0}};
        if (poll(p, 3, -1) < 0)
            return 3;
        if (p[0].revents) {
            ssize_t r = read(0, in, sizeof in);
            if (r > 0)
                got += r;
            else if (r == 0)
                in_open = 0;
        }
        for (int i = 1; i < 3; i++) {
            if (!p[i].revents)
                continue;
            long want = n - sent[i] < (long)sizeof out ? n - sent[i]
                                                       : (long)sizeof out;
            ssize_t w = write(i, out, (size_t)want);
            if (w > 0)
                sent[i] += w;
        }
    }
    return got == m ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    if (!strcmp(m, "echo")) {
        char b[4096];
        ssize_t n;
        while ((n = read(0, b, sizeof b)) > 0)
            if (write(1, b, (size_t)n) != n)
                return 1;
        return 0;
    }
    if (!strcmp(m, "both") && argc == 4)
        return both(atol(argv[2]), atol(argv[3]));
    if (!strcmp(m, "exit") && argc == 3)
        return atoi(argv[2]);
    if (!strcmp(m, "sleep")) {
        for (;;)
            pause();
    }
    if (!strcmp(m, "env") && argc == 3) {
        const char *v = getenv(argv[2]);
        printf("%s\n", v ? v : "(unset)");
        return 0;
    }
    if (!strcmp(m, "cwd")) {
        char b[4096];
        printf("%s\n", getcwd(b, sizeof b) ? b : "?");
        return 0;
    }
    if (!strcmp(m, "fds")) { /* the open descriptors above 2, in order */
        for (int fd = 3; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                printf("%d ", fd);
        printf("\n");
        return 0;
    }
    if (!strcmp(m, "sigmask")) {
        sigset_t s;
        sigprocmask(SIG_BLOCK, NULL, &s);
        int n = 0;
        for (int i = 1; i < NSIG; i++)
            n += sigismember(&s, i) == 1;
        printf("%d\n", n);
        return 0;
    }
    if (!strcmp(m, "split")) {
        fputs("out", stdout);
        fputs("err", stderr);
        return 0;
    }
    if (!strcmp(m, "nap") && argc == 3) {
        long ms = atol(argv[2]);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0)
            ;
        return 0;
    }
    if (!strcmp(m, "std")) {
        for (int fd = 0; fd < 3; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                printf("%d ", fd);
        printf("\n");
        return 0;
    }
    return 2;
}
