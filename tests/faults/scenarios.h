/* The scenarios of the fault-injection harness (tests/faults/faults.c):
 * each is a small program on its own loop that uses one part of weft the
 * way an application would, cleans up after itself on every path, and
 * returns 0 or the first error it met. CHECK() marks an invariant that
 * must hold whatever fault was injected (a lost queue item, a lock left
 * held, a wrong byte): it aborts the harness. */
#ifndef WEFT_FAULTS_SCENARIOS_H
#define WEFT_FAULTS_SCENARIOS_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "faults: invariant %s failed at %s:%d\n", #cond,   \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Keep the first error in *st. */
#define KEEP(st, r)                                                            \
    do {                                                                       \
        int r_ = (r);                                                          \
        if (r_ < 0 && *(st) == 0)                                              \
            *(st) = r_;                                                        \
    } while (0)

struct scenario {
    const char *name;
    int (*run)(void);
    /* CI form: fail every stride-th allocation / suspension point. */
    unsigned ci_stride;
};

extern const struct scenario faults_scenarios[];
extern const size_t faults_nscenarios;
/* Where tests/tls/make-certs.sh put its files (NULL: the TLS scenarios
 * are skipped). */
extern const char *faults_certs;

#endif
