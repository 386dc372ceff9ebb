/* The context switch, without a test framework, so that it also runs
 * cross-compiled under qemu-user (scripts/cross-check.sh): callee-saved
 * integer and floating-point registers survive switches, deep stacks,
 * per-task FP control state, thousands of tasks round-robin. Exit status 0
 * on success; each failure prints one line. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "test_switch.c:%d: check failed: %s\n", __LINE__, \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Many values live across each yield: the compiler keeps some in
 * callee-saved registers (rbx, r12-r15 / x19-x28, d8-d15), which the other
 * task's code overwrites in between. */
static int registers(void *arg) {
    long seed = (long)(intptr_t)arg;
    unsigned long a = seed * 3, b = seed * 5, c = seed * 7, d = seed * 11,
         e = seed * 13, f = seed * 17, g = seed * 19, h = seed * 23;
    double x = seed * 0.5, y = seed * 0.25, z = seed * 0.125,
           w = seed * 1.5, v = seed * 2.5, u = seed * 3.5;
    for (int i = 0; i < 2000; i++) {
        a += b ^ i;
        b += c + i;
        c ^= d + i;
        d += e * 3;
        e ^= f >> 1;
        f += g + 7;
        g ^= h << 1;
        h += a;
        x = x * 1.0000001 + y;
        y = y * 0.9999999 + z;
        z = z + w * 1e-9;
        w = w - v * 1e-9;
        v = v + u * 1e-9;
        u = u * 1.0000002;
        if (weft_yield() != 0)
            return -1;
    }
    /* Recompute without yielding and compare. */
    unsigned long A = seed * 3, B = seed * 5, C = seed * 7, D = seed * 11,
         E = seed * 13, F = seed * 17, G = seed * 19, H = seed * 23;
    double X = seed * 0.5, Y = seed * 0.25, Z = seed * 0.125,
           W = seed * 1.5, V = seed * 2.5, U = seed * 3.5;
    for (int i = 0; i < 2000; i++) {
        A += B ^ i;
        B += C + i;
        C ^= D + i;
        D += E * 3;
        E ^= F >> 1;
        F += G + 7;
        G ^= H << 1;
        H += A;
        X = X * 1.0000001 + Y;
        Y = Y * 0.9999999 + Z;
        Z = Z + W * 1e-9;
        W = W - V * 1e-9;
        V = V + U * 1e-9;
        U = U * 1.0000002;
        __asm__ volatile("" ::: "memory");
    }
    int ok = a == A && b == B && c == C && d == D && e == E && f == F &&
             g == G && h == H && x == X && y == Y && z == Z && w == W &&
             v == V && u == U;
    return ok ? 0 : -2;
}

/* A deep frame chain in the default 64 KiB stack, across switches. */
static long deep(int depth) {
    volatile char pad[512];
    memset((char *)pad, depth & 0xff, sizeof pad);
    long s = 0;
    if (depth > 0)
        s = deep(depth - 1);
    else if (weft_yield() != 0)
        return -1000000;
    for (size_t i = 0; i < sizeof pad; i += 64)
        s += pad[i];
    return s;
}

static int deep_task(void *arg) {
    (void)arg;
    long want = 0;
    for (int d = 0; d <= 80; d++)
        want += (long)(signed char)(d & 0xff) * 8;
    for (int round = 0; round < 3; round++)
        if (deep(80) != want)
            return -1;
    return 0;
}

/* Per-task FP control state. */
static int fp_plain_seen_default = 1;

static int fp_own(void *arg) {
    (void)arg;
    fesetround(FE_UPWARD);
    for (int i = 0; i < 100; i++) {
        if (weft_yield() != 0)
            return -1;
        if (fegetround() != FE_UPWARD)
            return -2;
    }
    return 0;
}

static int fp_plain(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        if (fegetround() != FE_TONEAREST)
            fp_plain_seen_default = 0;
        if (weft_yield() != 0)
            return -1;
    }
    return 0;
}

static long round_robin_sum;

static int rr_task(void *arg) {
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < 10; i++) {
        round_robin_sum += id;
        if (weft_yield() != 0)
            return -1;
    }
    return 0;
}

static int main_task(void *arg) {
    (void)arg;
    weft_task_t *t[4];
    for (long i = 0; i < 4; i++)
        CHECK(weft_spawn(&t[i], registers, (void *)(intptr_t)(i + 1), NULL) ==
              0);
    for (int i = 0; i < 4; i++) {
        CHECK(weft_join(t[i]) == 0);
        weft_task_release(t[i]);
    }

    weft_task_t *d1, *d2;
    CHECK(weft_spawn(&d1, deep_task, NULL, NULL) == 0);
    CHECK(weft_spawn(&d2, deep_task, NULL, NULL) == 0);
    CHECK(weft_join(d1) == 0);
    CHECK(weft_join(d2) == 0);
    weft_task_release(d1);
    weft_task_release(d2);

    weft_spawn_opts_t fpenv = {.flags = WEFT_SPAWN_FPENV};
    weft_task_t *f1, *f2;
    CHECK(weft_spawn(&f1, fp_own, NULL, &fpenv) == 0);
    CHECK(weft_spawn(&f2, fp_plain, NULL, NULL) == 0);
    CHECK(weft_join(f1) == 0);
    CHECK(weft_join(f2) == 0);
    CHECK(fp_plain_seen_default);
    CHECK(fegetround() == FE_TONEAREST);
    weft_task_release(f1);
    weft_task_release(f2);

#if defined(__SANITIZE_THREAD__)
    long n = 2000, want = 0; /* TSan counts fibers as threads: 8128 at most */
#else
    long n = 10000, want = 0;
#endif
    for (long i = 0; i < n; i++) {
        CHECK(weft_spawn(NULL, rr_task, (void *)(intptr_t)i, NULL) == 0);
        want += 10 * i;
    }
    CHECK(weft_sleep(0.001) == 0);
    while (round_robin_sum != want && weft_sleep(0.001) == 0) {
    }
    CHECK(round_robin_sum == want);
    return 0;
}

int main(void) {
    CHECK(weft_run(main_task, NULL) == 0);
    if (failures) {
        fprintf(stderr, "test_switch: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_switch: all checks passed\n");
    return 0;
}
