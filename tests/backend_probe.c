/* backend_probe: exit 0 if a loop made now runs on io_uring, 77 (and a
 * line saying why) if not: how .ci/run decides to run the suite a second
 * time with WEFT_BACKEND=io_uring, or to skip that pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static void quiet(int level, const char *msg, void *arg) {
    (void)level;
    (void)msg;
    (void)arg;
}

int main(void) {
    setenv("WEFT_BACKEND", "io_uring", 1);
    weft_set_log_handler(quiet, NULL, NULL); /* the fallback's warning: ours */
    weft_loop_t *loop;
    int err = weft_loop_new(&loop, NULL);
    if (err < 0) {
        fprintf(stderr, "backend_probe: weft_loop_new: %s\n",
                weft_strerror(err));
        return 1;
    }
    int uring = strcmp(weft_loop_backend(loop), "io_uring") == 0;
    weft_loop_free(loop);
    if (!uring) {
        printf("io_uring is not available here (kernel older than 5.19, "
               "seccomp, kernel.io_uring_disabled, or weft built without "
               "liburing)\n");
        return 77;
    }
    printf("io_uring is available\n");
    return 0;
}
