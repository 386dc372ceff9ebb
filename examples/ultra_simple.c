/* ultra_simple.c - the C twin of the teaching page's ultra_simple.py:
 *
 *     async def say_lots(num):
 *         for i in range(num):
 *             print('This was run by the loop:')
 *             await asyncio.sleep(0.2)
 *     loop.run_until_complete(say_lots(5))
 *     print("done with loop")
 *
 * Usage: ultra_simple [COUNT [DELAY]]   (defaults 5 and 0.2 seconds)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

struct args {
    int count;
    double delay;
};

static int say_lots(void *arg) {
    const struct args *a = arg;
    for (int i = 0; i < a->count; i++) {
        puts("This was run by the loop:");
        int err = weft_sleep(a->delay); /* await asyncio.sleep(delay) */
        if (err < 0)
            return err; /* -ECANCELED if we were cancelled */
    }
    return 0;
}

/* A count: a whole number from 0 to 1000000. */
static int parse_count(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < 0 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

/* A duration in seconds: a finite decimal from 0 to 1e9. */
static int parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0 || v > 1e9)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    struct args a = {5, 0.2};
    if (argc > 3 || (argc > 1 && parse_count(argv[1], &a.count) < 0) ||
        (argc > 2 && parse_seconds(argv[2], &a.delay) < 0)) {
        fprintf(stderr, "usage: ultra_simple [COUNT [DELAY]]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int err = weft_run(say_lots, &a); /* loop.run_until_complete(...) */
    if (err < 0) {
        fprintf(stderr, "ultra_simple: %s\n", weft_strerror(err));
        return 1;
    }
    puts("done with loop");
    return 0;
}
