/* sync.c - queue throughput between two tasks, and the cost of handing a
 * lock from one task to the next.
 *
 *   queue    a producer task puts N items (weft_queue_put), a consumer task
 *            gets them (weft_queue_get, checking the order); items/s and
 *            ns per item from the first put to the last get, for maxsize
 *            1 (every item is a hand-off between the two tasks), 64, and
 *            unbounded (the producer never waits: it puts all N, then the
 *            consumer takes them; this is the bare put + get cost,
 *            buffer growth included).
 *   lock     T tasks each loop { acquire; weft_yield(); release } so that
 *            every release finds the lock wanted and hands it to the next
 *            waiter, which then runs; ns per acquisition, T = 2 and 100.
 *            Each acquisition includes that yield and the switch to the
 *            new owner. Baselines: acquire + release with no contention,
 *            and a weft_yield ping-pong between two tasks (ns per switch),
 *            measured in the same run.
 *
 * Every variant runs R times after a warm-up, interleaved (round r runs
 * them all in an order rotated by r); medians with min and max.
 *
 * Usage: sync [--quick] [ITEMS [REPEATS]]   defaults 2M, 7
 * (ITEMS is also the number of acquisitions of each lock run.)
 */
#include <stdint.h>
#include <stdio.h>

#include <weft.h>

#include "bench_util.h"

#define USAGE "sync [--quick] [ITEMS [REPEATS]]"

enum { V_Q1, V_Q64, V_QUNB, V_LOCK1, V_LOCK2, V_LOCK100, V_YIELD, NVAR };

static const char *const var_name[NVAR] = {
    "queue, maxsize 1",       "queue, maxsize 64",
    "queue, unbounded",       "lock, 1 task (uncontended)",
    "lock, 2 tasks",          "lock, 100 tasks",
    "weft_yield ping-pong (2 tasks)"};

struct cfg {
    uint64_t items, reps;
    double *res[NVAR]; /* ns per item / acquisition / switch */
};

/* ---- queue ------------------------------------------------------------------- */

struct qrun {
    weft_queue_t q;
    uint64_t n;
    int bad_order;
};

static int producer(void *arg) {
    struct qrun *r = arg;
    for (uint64_t i = 1; i <= r->n; i++) {
        int err = weft_queue_put(&r->q, (void *)(uintptr_t)i);
        if (err)
            return err;
    }
    return 0;
}

static int consumer(void *arg) {
    struct qrun *r = arg;
    for (uint64_t i = 1; i <= r->n; i++) {
        void *item;
        int err = weft_queue_get(&r->q, &item);
        if (err)
            return err;
        if ((uintptr_t)item != i)
            r->bad_order = 1;
    }
    return 0;
}

static int join2(weft_task_t *a, weft_task_t *b) {
    int ea = weft_join(a), eb = weft_join(b);
    weft_task_release(a);
    weft_task_release(b);
    return ea < 0 ? ea : eb;
}

static int run_queue(uint64_t n, size_t maxsize, double *ns) {
    struct qrun r = {.n = n};
    int err = weft_queue_init(&r.q, maxsize);
    if (err)
        return err;
    weft_task_t *p, *c;
    uint64_t t0 = bench_now_ns();
    if ((err = weft_spawn(&p, producer, &r, NULL)) < 0)
        return err;
    if ((err = weft_spawn(&c, consumer, &r, NULL)) < 0) {
        weft_task_cancel(p);
        weft_join(p);
        weft_task_release(p);
        return err;
    }
    err = join2(p, c);
    uint64_t t1 = bench_now_ns();
    weft_queue_destroy(&r.q, NULL, NULL);
    if (err)
        return err;
    if (r.bad_order) {
        fprintf(stderr, "sync: queue items came out of order\n");
        return -EPROTO;
    }
    *ns = (double)(t1 - t0) / (double)n;
    return 0;
}

/* ---- lock ---------------------------------------------------------------------- */

struct lrun {
    weft_lock_t lock;
    uint64_t per_task;
    uint64_t acquired;
    int inside;
    int broken;
};

static int contender(void *arg) {
    struct lrun *r = arg;
    for (uint64_t i = 0; i < r->per_task; i++) {
        int err = weft_lock_acquire(&r->lock);
        if (err)
            return err;
        if (r->inside++)
            r->broken = 1;
        r->acquired++;
        err = weft_yield();
        r->inside--;
        int e2 = weft_lock_release(&r->lock);
        if (err)
            return err;
        if (e2)
            return e2;
    }
    return 0;
}

static int run_lock(uint64_t n, int tasks, double *ns) {
    struct lrun r = {.per_task = n / (uint64_t)tasks};
    int err = weft_lock_init(&r.lock);
    if (err)
        return err;
    weft_group_t g;
    uint64_t t0 = bench_now_ns();
    if ((err = weft_group_enter(&g)) < 0)
        return err;
    for (int i = 0; i < tasks && err == 0; i++)
        err = weft_group_spawn(&g, NULL, contender, &r, NULL);
    if (err)
        weft_group_cancel(&g);
    int e2 = weft_group_exit(&g);
    uint64_t t1 = bench_now_ns();
    weft_lock_destroy(&r.lock);
    if (err || e2)
        return err ? err : e2;
    if (r.broken || r.acquired != r.per_task * (uint64_t)tasks) {
        fprintf(stderr, "sync: the lock did not exclude\n");
        return -EPROTO;
    }
    *ns = (double)(t1 - t0) / (double)r.acquired;
    return 0;
}

static int run_lock_uncontended(uint64_t n, double *ns) {
    weft_lock_t l;
    int err = weft_lock_init(&l);
    if (err)
        return err;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if ((err = weft_lock_acquire(&l)) < 0 ||
            (err = weft_lock_release(&l)) < 0)
            break;
    }
    uint64_t t1 = bench_now_ns();
    weft_lock_destroy(&l);
    *ns = (double)(t1 - t0) / (double)n;
    return err;
}

static int yielder(void *arg) {
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++) {
        int err = weft_yield();
        if (err)
            return err;
    }
    return 0;
}

static int run_yield(uint64_t n, double *ns) {
    uint64_t half = n / 2;
    weft_task_t *a, *b;
    uint64_t t0 = bench_now_ns();
    int err = weft_spawn(&a, yielder, &half, NULL);
    if (err)
        return err;
    if ((err = weft_spawn(&b, yielder, &half, NULL)) < 0) {
        weft_join(a);
        weft_task_release(a);
        return err;
    }
    err = join2(a, b);
    uint64_t t1 = bench_now_ns();
    *ns = (double)(t1 - t0) / (double)(2 * half);
    return err;
}

/* ---- driver ---------------------------------------------------------------------- */

static int run_variant(int v, uint64_t n, double *ns) {
    switch (v) {
    case V_Q1:
        return run_queue(n, 1, ns);
    case V_Q64:
        return run_queue(n, 64, ns);
    case V_QUNB:
        return run_queue(n, 0, ns);
    case V_LOCK1:
        return run_lock_uncontended(n, ns);
    case V_LOCK2:
        return run_lock(n, 2, ns);
    case V_LOCK100:
        return run_lock(n, 100, ns);
    default:
        return run_yield(n, ns);
    }
}

static int bench_main(void *arg) {
    struct cfg *c = arg;
    double dummy;
    /* Warm-up: stacks, the queue buffer's first growth, caches. */
    for (int v = 0; v < NVAR; v++) {
        int err = run_variant(v, c->items / 10 + 100, &dummy);
        if (err)
            return err;
    }
    for (uint64_t r = 0; r < c->reps; r++) {
        for (int k = 0; k < NVAR; k++) {
            int v = (int)((k + r) % NVAR);
            int err = run_variant(v, c->items, &c->res[v][r]);
            if (err) {
                fprintf(stderr, "sync: %s failed: %s\n", var_name[v],
                        weft_strerror(err));
                return err;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    struct cfg c;
    c.items = bench_arg(argc, argv, 1, quick ? 20000 : 2000000, USAGE);
    c.reps = bench_arg(argc, argv, 2, quick ? 3 : 7, USAGE);
    if (argc > 3) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    if (c.items < 200)
        c.items = 200;
    for (int v = 0; v < NVAR; v++) {
        c.res[v] = calloc(c.reps, sizeof(double));
        if (!c.res[v])
            return 1;
    }
    int err = weft_run(bench_main, &c);
    if (err) {
        fprintf(stderr, "sync: %s\n", weft_strerror(err));
        return 1;
    }
    printf("sync: %llu items / acquisitions per run, %llu runs; median "
           "[min - max]\n\n",
           (unsigned long long)c.items, (unsigned long long)c.reps);
    printf("  %-34s %10s %23s %14s\n", "variant", "ns/op", "[min - max]",
           "ops/s");
    for (int v = 0; v < NVAR; v++) {
        double med = bench_median(c.res[v], c.reps);
        printf("  %-34s %10.1f   [%8.1f - %8.1f] %12.2fM\n", var_name[v], med,
               bench_min(c.res[v], c.reps), bench_max(c.res[v], c.reps),
               1e3 / med);
        if (v == V_QUNB || v == V_LOCK100)
            printf("\n");
    }
    printf("\n  op: an item put and got (queue), an acquisition (lock: each "
           "one a hand-off\n  to a waiting task, including the holder's "
           "weft_yield), a switch (yield).\n");
    static const char *const metric[NVAR] = {
        "queue_max1_ns", "queue_max64_ns", "queue_unbounded_ns",
        "lock_uncontended_ns", "lock_2_tasks_ns", "lock_100_tasks_ns",
        "yield_pingpong_ns"};
    for (int v = 0; v < NVAR; v++)
        printf("RESULT sync %s %.1f ns\n", metric[v],
               bench_median(c.res[v], c.reps));
    for (int v = 0; v < NVAR; v++)
        free(c.res[v]);
    return 0;
}
