/* Queues: FIFO, LIFO and priority order; put_nowait / get_nowait; waiting
 * put and get; a producer/consumer pipeline through a bounded queue with
 * backpressure; cancellation of a waiting getter or putter (while queued:
 * the next waiter is served; after the hand-off: nothing is lost);
 * deadlines; task_done / join; shutdown (plain and immediate); growth of
 * the buffer; allocation failure; misuse. */
#include <stdint.h>

#include "support.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static int set_flag(void *arg) {
    *(int *)arg = 1;
    return 0;
}

/* A task doing one queue operation and recording its outcome. */
struct actor {
    int id;
    weft_queue_t *q;
    void *item;   /* to put, or what get returned */
    int rc;       /* the operation's result */
    int rc_next;  /* a later wait's result */
    double when;
    weft_task_t *task;
};

static int getter(void *arg) {
    struct actor *a = arg;
    a->item = P(-1);
    a->rc = weft_queue_get(a->q, &a->item);
    a->when = now();
    a->rc_next = weft_sleep(0);
    return 0;
}

static int putter(void *arg) {
    struct actor *a = arg;
    a->rc = weft_queue_put(a->q, a->item);
    a->when = now();
    a->rc_next = weft_sleep(0);
    return 0;
}

static int joiner(void *arg) {
    struct actor *a = arg;
    a->rc = weft_queue_join(a->q);
    a->when = now();
    return 0;
}

static void spawn(struct actor *a, weft_task_fn fn) {
    ck_assert_ok(weft_spawn(&a->task, fn, a, NULL));
}

static void join_all(struct actor *a, int n) {
    for (int i = 0; i < n; i++) {
        weft_join(a[i].task);
        weft_task_release(a[i].task);
        a[i].task = NULL;
    }
}

static void get_now(weft_queue_t *q, int want) {
    void *item = P(-1);
    ck_assert_ok(weft_queue_get_nowait(q, &item));
    ck_assert_int_eq(I(item), want);
}

/* ---- order and the nowait calls --------------------------------------------- */

static int fifo_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 3));
    ck_assert_uint_eq(weft_queue_maxsize(&q), 3);
    ck_assert(weft_queue_empty(&q));
    ck_assert(!weft_queue_full(&q));
    void *item = P(42);
    ck_assert_err(weft_queue_get_nowait(&q, &item), -EAGAIN);
    ck_assert_ptr_eq(item, P(42)); /* untouched on error */
    for (int i = 1; i <= 3; i++)
        ck_assert_ok(weft_queue_put_nowait(&q, P(i)));
    ck_assert_uint_eq(weft_queue_qsize(&q), 3);
    ck_assert(weft_queue_full(&q));
    ck_assert(!weft_queue_empty(&q));
    ck_assert_err(weft_queue_put_nowait(&q, P(4)), -EAGAIN);
    ck_assert_uint_eq(weft_queue_qsize(&q), 3);
    get_now(&q, 1);
    ck_assert_ok(weft_queue_put_nowait(&q, NULL)); /* NULL is an item */
    get_now(&q, 2);
    get_now(&q, 3);
    item = P(7);
    ck_assert_ok(weft_queue_get_nowait(&q, &item));
    ck_assert_ptr_null(item);
    ck_assert(weft_queue_empty(&q));
    ck_assert_uint_eq(weft_queue_unfinished(&q), 4);

    /* A get or put that can complete does not suspend. */
    int flag = 0;
    ck_assert_ok(weft_spawn(NULL, set_flag, &flag, NULL));
    ck_assert_ok(weft_queue_put(&q, P(5)));
    ck_assert_ok(weft_queue_get(&q, &item));
    ck_assert_int_eq(I(item), 5);
    ck_assert_int_eq(flag, 0);
    ck_assert_ok(weft_yield()); /* it runs while `flag` exists */
    ck_assert_int_eq(flag, 1);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(fifo_order_nowait_full_and_empty) {
    ck_assert_ok(run_virtual(fifo_main, NULL));
}
END_TEST

static int lifo_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init_lifo(&q, 0));
    for (int i = 1; i <= 5; i++)
        ck_assert_ok(weft_queue_put_nowait(&q, P(i)));
    get_now(&q, 5);
    get_now(&q, 4);
    ck_assert_ok(weft_queue_put_nowait(&q, P(6)));
    get_now(&q, 6);
    get_now(&q, 3);
    get_now(&q, 2);
    get_now(&q, 1);
    void *item;
    ck_assert_err(weft_queue_get_nowait(&q, &item), -EAGAIN);

    /* Full, with a putter waiting: a get takes the top, then the putter's
     * item goes on top. */
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    ck_assert_ok(weft_queue_init_lifo(&q, 2));
    ck_assert_ok(weft_queue_put_nowait(&q, P(1)));
    ck_assert_ok(weft_queue_put_nowait(&q, P(2)));
    struct actor p = {.q = &q, .item = P(3)};
    spawn(&p, putter);
    ck_assert_ok(weft_yield());
    get_now(&q, 2);
    ck_assert(weft_queue_full(&q));
    get_now(&q, 3);
    get_now(&q, 1);
    join_all(&p, 1);
    ck_assert_ok(p.rc);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(lifo_order) {
    ck_assert_ok(run_virtual(lifo_main, NULL));
}
END_TEST

/* Items are pointers to {rank, label}: the comparator orders by rank. */
struct job {
    int rank;
    int label;
};

static int cmp_calls;

static int by_rank(const void *a, const void *b, void *arg) {
    ck_assert_ptr_eq(arg, &cmp_calls);
    cmp_calls++;
    const struct job *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int prio_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    void *item;
    /* Integer priorities, lowest first, FIFO among equals. */
    ck_assert_ok(weft_queue_init_prio(&q, 0, NULL, NULL));
    static const int64_t prios[] = {5, 1, 3, 1, 5, -2, 3, 1, INT64_MAX,
                                    INT64_MIN};
    for (int i = 0; i < 10; i++)
        ck_assert_ok(weft_queue_put_prio_nowait(&q, P(i), prios[i]));
    ck_assert_ok(weft_queue_put_nowait(&q, P(10))); /* priority 0 */
    static const int order[] = {9, 5, 10, 1, 3, 7, 2, 6, 0, 4, 8};
    for (int i = 0; i < 11; i++)
        get_now(&q, order[i]);
    ck_assert_err(weft_queue_get_nowait(&q, &item), -EAGAIN);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));

    /* A comparator, FIFO among items it finds equal, and the integer
     * priority before it. */
    cmp_calls = 0;
    ck_assert_ok(weft_queue_init_prio(&q, 0, by_rank, &cmp_calls));
    struct job jobs[] = {{2, 0}, {1, 1}, {2, 2}, {0, 3}, {1, 4}, {2, 5}};
    for (int i = 0; i < 6; i++)
        ck_assert_ok(weft_queue_put(&q, &jobs[i]));
    struct job urgent = {9, 6};
    ck_assert_ok(weft_queue_put_prio(&q, &urgent, -1));
    ck_assert_int_gt(cmp_calls, 0);
    static const int labels[] = {6, 3, 1, 4, 0, 2, 5};
    for (int i = 0; i < 7; i++) {
        ck_assert_ok(weft_queue_get_nowait(&q, &item));
        ck_assert_int_eq(((struct job *)item)->label, labels[i]);
    }
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));

    /* Many items in random order come out sorted, equal keys FIFO. */
    ck_assert_ok(weft_queue_init_prio(&q, 0, NULL, NULL));
    static int64_t rnd[2000];
    uint32_t x = 12345;
    for (int i = 0; i < 2000; i++) {
        x = x * 1103515245u + 12345u;
        rnd[i] = (x >> 16) % 50;
        ck_assert_ok(weft_queue_put_prio_nowait(&q, P(i), rnd[i]));
    }
    int64_t last_prio = -1;
    int last = -1;
    for (int i = 0; i < 2000; i++) {
        ck_assert_ok(weft_queue_get_nowait(&q, &item));
        int64_t p = rnd[I(item)];
        ck_assert_int_ge(p, last_prio);
        if (p == last_prio)
            ck_assert_int_gt(I(item), last);
        last_prio = p;
        last = I(item);
    }
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

static int prio_putter(void *arg) {
    struct actor *a = arg;
    a->rc = weft_queue_put_prio(a->q, a->item, a->id);
    a->when = now();
    return 0;
}

/* A bounded priority queue: waiting putters are admitted in their order
 * of arrival, each item with its own priority. */
static int prio_wait_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init_prio(&q, 2, NULL, NULL));
    ck_assert_ok(weft_queue_put_prio(&q, P(1), 10));
    ck_assert_ok(weft_queue_put_prio(&q, P(2), 20));
    struct actor p[2] = {{.id = 30, .q = &q, .item = P(3)},
                         {.id = 5, .q = &q, .item = P(4)}};
    for (int i = 0; i < 2; i++)
        ck_assert_ok(weft_spawn(&p[i].task, prio_putter, &p[i], NULL));
    ck_assert_ok(weft_sleep(1));
    get_now(&q, 1); /* admits 3 (priority 30) */
    get_now(&q, 2); /* admits 4 (priority 5) */
    get_now(&q, 4);
    get_now(&q, 3);
    join_all(p, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(p[i].rc);
        ck_assert_double_eq_tol(p[i].when, 1.0, 1e-9);
    }
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(priority_order_integer_comparator_and_fifo_among_equals) {
    ck_assert_ok(run_virtual(prio_main, NULL));
    ck_assert_ok(run_virtual(prio_wait_main, NULL));
}
END_TEST

static int growth_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 0));
    /* Wrap the ring around, then make it grow while wrapped, several
     * times; the order must survive. */
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 12; round++) {
        int burst = 3 + round * round * 7;
        for (int i = 0; i < burst; i++)
            ck_assert_ok(weft_queue_put_nowait(&q, P(next_in++)));
        for (int i = 0; i < burst / 2 + 1; i++)
            get_now(&q, next_out++);
        ck_assert_uint_eq(weft_queue_qsize(&q), (size_t)(next_in - next_out));
    }
    while (next_out < next_in)
        get_now(&q, next_out++);
    ck_assert(weft_queue_empty(&q));
    /* After emptying, it still works (the big buffer was given back). */
    for (int i = 0; i < 100; i++)
        ck_assert_ok(weft_queue_put_nowait(&q, P(i)));
    for (int i = 0; i < 100; i++)
        get_now(&q, i);
    ck_assert_uint_eq(weft_queue_unfinished(&q), (size_t)next_in + 100);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(unbounded_fifo_grows_while_wrapped_and_keeps_order) {
    ck_assert_ok(run_virtual(growth_main, NULL));
}
END_TEST

/* ---- waiting ----------------------------------------------------------------- */

static void put_cb(void *arg) {
    ck_assert_ok(weft_queue_put_nowait(arg, P(77)));
}

static void get_cb(void *arg) {
    void *item;
    ck_assert_ok(weft_queue_get_nowait(arg, &item));
    ck_assert_int_eq(I(item), 1);
}

static int waiting_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 1));
    void *item;
    /* get waits while empty; a callback's put hands it the item. */
    ck_assert_ok(weft_call_later(loop, 1, put_cb, &q, NULL));
    ck_assert_ok(weft_queue_get(&q, &item));
    ck_assert_int_eq(I(item), 77);
    ck_assert_time(1.0);
    /* put waits while full; a callback's get frees the slot. */
    ck_assert_ok(weft_queue_put(&q, P(1)));
    ck_assert_ok(weft_call_later(loop, 1, get_cb, &q, NULL));
    ck_assert_ok(weft_queue_put(&q, P(2)));
    ck_assert_time(2.0);
    get_now(&q, 2);

    /* Getters are served in FIFO order, each with its own item. */
    struct actor g[4];
    for (int i = 0; i < 4; i++) {
        g[i] = (struct actor){.id = i, .q = &q};
        spawn(&g[i], getter);
    }
    ck_assert_ok(weft_sleep(1));
    for (int i = 0; i < 4; i++) {
        ck_assert_ok(weft_queue_put(&q, P(100 + i)));
        ck_assert(weft_queue_empty(&q)); /* handed over, not queued */
    }
    join_all(g, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_ok(g[i].rc);
        ck_assert_int_eq(I(g[i].item), 100 + i);
    }
    /* Putters too: each get admits the next one's item. */
    ck_assert_ok(weft_queue_put_nowait(&q, P(0)));
    struct actor p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (struct actor){.id = i, .q = &q, .item = P(i + 1)};
        spawn(&p[i], putter);
    }
    ck_assert_ok(weft_sleep(1));
    for (int i = 0; i < 5; i++) {
        ck_assert_ok(weft_queue_get(&q, &item));
        ck_assert_int_eq(I(item), i);
        ck_assert_uint_eq(weft_queue_qsize(&q), i < 4 ? 1 : 0);
        /* The slot went to the waiting putter: no room for a barger. */
        if (i < 4)
            ck_assert_err(weft_queue_put_nowait(&q, P(99)), -EAGAIN);
    }
    join_all(p, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_ok(p[i].rc);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(get_waits_when_empty_put_waits_when_full_fifo) {
    ck_assert_ok(run_virtual(waiting_main, NULL));
}
END_TEST

/* ---- producer / consumer pipeline ------------------------------------------- */

#define PIPE_ITEMS 2000
#define PIPE_MAX 4

struct pipeline {
    weft_queue_t q;
    size_t max_seen;
    int blocked;  /* puts that had to wait */
    int received;
    int in_order;
    int done_joined;
    double join_time;
};

static int producer(void *arg) {
    struct pipeline *pl = arg;
    for (int i = 0; i < PIPE_ITEMS; i++) {
        bool was_full = weft_queue_full(&pl->q);
        int err = weft_queue_put(&pl->q, P(i));
        if (err)
            return err;
        if (was_full)
            pl->blocked++;
        size_t n = weft_queue_qsize(&pl->q);
        if (n > pl->max_seen)
            pl->max_seen = n;
    }
    /* Wait until the consumer has processed everything. */
    int err = weft_queue_join(&pl->q);
    pl->done_joined = err == 0;
    pl->join_time = now();
    return err;
}

static int consumer(void *arg) {
    struct pipeline *pl = arg;
    pl->in_order = 1;
    for (int i = 0; i < PIPE_ITEMS; i++) {
        void *item;
        int err = weft_queue_get(&pl->q, &item);
        if (err)
            return err;
        if (I(item) != i)
            pl->in_order = 0;
        pl->received++;
        /* The consumer is the slow side: 1 ms an item. */
        err = weft_sleep(0.001);
        if (err)
            return err;
        ck_assert_ok(weft_queue_task_done(&pl->q));
    }
    return 0;
}

static int pipeline_main(void *arg) {
    struct pipeline *pl = arg;
    ck_assert_ok(weft_queue_init(&pl->q, PIPE_MAX));
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    ck_assert_ok(weft_group_spawn(&g, NULL, producer, pl, NULL));
    ck_assert_ok(weft_group_spawn(&g, NULL, consumer, pl, NULL));
    ck_assert_ok(weft_group_exit(&g));
    ck_assert_uint_eq(weft_queue_unfinished(&pl->q), 0);
    ck_assert_ok(weft_queue_destroy(&pl->q, NULL, NULL));
    return 0;
}

START_TEST(producer_consumer_pipeline_with_backpressure) {
    struct pipeline pl;
    memset(&pl, 0, sizeof pl);
    ck_assert_ok(run_virtual(pipeline_main, &pl));
    ck_assert_int_eq(pl.received, PIPE_ITEMS);
    ck_assert_int_eq(pl.in_order, 1);
    ck_assert_uint_eq(pl.max_seen, PIPE_MAX); /* filled, never beyond */
    /* Once the queue was full, the fast producer waited at every put. */
    ck_assert_int_eq(pl.blocked, PIPE_ITEMS - PIPE_MAX);
    ck_assert_int_eq(pl.done_joined, 1);
    /* join returned when the last item was processed. */
    ck_assert_double_eq_tol(pl.join_time, PIPE_ITEMS * 0.001, 1e-6);
}
END_TEST

/* ---- cancellation and deadlines ----------------------------------------------- */

static int getter_cancel_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 0));
    struct actor g[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct actor){.id = i, .q = &q};
        spawn(&g[i], getter);
    }
    ck_assert_ok(weft_yield());
    /* Cancelled while queued: the item goes to the next getter. */
    ck_assert_ok(weft_task_cancel(g[0].task));
    ck_assert_ok(weft_queue_put_nowait(&q, P(1)));
    ck_assert_ok(weft_join(g[1].task));
    ck_assert_err(g[0].rc, -ECANCELED);
    ck_assert_ptr_eq(g[0].item, P(-1));
    ck_assert_ok(g[1].rc);
    ck_assert_int_eq(I(g[1].item), 1);
    /* Handed the item, then cancelled before it ran: it still returns the
     * item (nothing lost), and the cancel shows at its next wait. */
    ck_assert_ok(weft_queue_put_nowait(&q, P(2)));
    ck_assert_ok(weft_task_cancel(g[2].task));
    join_all(g, 3);
    ck_assert_ok(g[2].rc);
    ck_assert_int_eq(I(g[2].item), 2);
    ck_assert_err(g[2].rc_next, -ECANCELED);
    ck_assert(weft_queue_empty(&q));
    ck_assert_uint_eq(weft_queue_unfinished(&q), 2);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(a_cancelled_getter_loses_nothing) {
    ck_assert_ok(run_virtual(getter_cancel_main, NULL));
}
END_TEST

static int putter_cancel_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 1));
    ck_assert_ok(weft_queue_put_nowait(&q, P(0)));
    struct actor p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (struct actor){.id = i, .q = &q, .item = P(i + 1)};
        spawn(&p[i], putter);
    }
    ck_assert_ok(weft_yield());
    /* Cancelled while queued: its item never enters the queue. */
    ck_assert_ok(weft_task_cancel(p[0].task));
    ck_assert_ok(weft_yield());
    ck_assert_err(p[0].rc, -ECANCELED);
    get_now(&q, 0); /* admits p[1]'s item */
    /* Admitted, then cancelled before it ran: the put happened, and says
     * so; the cancel shows at its next wait. */
    ck_assert_ok(weft_task_cancel(p[1].task));
    ck_assert_ok(weft_join(p[1].task));
    ck_assert_ok(p[1].rc);
    ck_assert_err(p[1].rc_next, -ECANCELED);
    get_now(&q, 2);
    get_now(&q, 3);
    join_all(p, 3);
    ck_assert_ok(p[2].rc);
    ck_assert(weft_queue_empty(&q));
    ck_assert_uint_eq(weft_queue_unfinished(&q), 3);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(a_cancelled_putter_puts_all_or_nothing) {
    ck_assert_ok(run_virtual(putter_cancel_main, NULL));
}
END_TEST

static int deadline_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 1));
    weft_scope_t s;
    void *item = P(5);
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_queue_get(&q, &item), -ETIMEDOUT);
    ck_assert_time(1.0);
    ck_assert_ptr_eq(item, P(5));
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);

    ck_assert_ok(weft_queue_put(&q, P(1)));
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_queue_put(&q, P(2)), -ETIMEDOUT);
    ck_assert_time(2.0);
    /* An item at hand is returned even in an expired scope (no wait). */
    ck_assert_ok(weft_queue_get(&q, &item));
    ck_assert_int_eq(I(item), 1);
    ck_assert_err(weft_queue_get(&q, &item), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert(weft_queue_empty(&q)); /* P(2) was never queued */

    /* join in a scope. */
    ck_assert_ok(weft_queue_put(&q, P(3)));
    ck_assert_ok(weft_scope_enter(&s, 1, 0));
    ck_assert_err(weft_queue_join(&q), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_time(3.0);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(get_put_and_join_in_a_deadline_scope) {
    ck_assert_ok(run_virtual(deadline_main, NULL));
}
END_TEST

/* ---- task_done and join ------------------------------------------------------------ */

static void task_done_cb(void *arg) {
    ck_assert_ok(weft_queue_task_done(arg));
}

static int join_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 0));
    ck_assert_ok(weft_queue_join(&q)); /* nothing put: at once */
    logcap_start();
    ck_assert_err(weft_queue_task_done(&q), -EINVAL);
    ck_assert_logged(1, "more times");
    logcap_stop();
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_queue_put_nowait(&q, P(i)));
    struct actor j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = (struct actor){.id = i, .q = &q};
        spawn(&j[i], joiner);
    }
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_task_cancel(j[2].task));
    for (int i = 0; i < 3; i++) {
        void *item;
        ck_assert_ok(weft_queue_get(&q, &item));
        ck_assert_ok(weft_call_later(loop, i + 1, task_done_cb, &q, NULL));
    }
    ck_assert_uint_eq(weft_queue_unfinished(&q), 3);
    join_all(j, 3);
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(j[i].rc);
        ck_assert_double_eq_tol(j[i].when, 3.0, 1e-9);
    }
    ck_assert_err(j[2].rc, -ECANCELED);
    ck_assert_uint_eq(weft_queue_unfinished(&q), 0);
    ck_assert_ok(weft_queue_join(&q));
    logcap_start();
    ck_assert_err(weft_queue_task_done(&q), -EINVAL);
    logcap_stop();
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(join_waits_for_task_done_of_every_item) {
    ck_assert_ok(run_virtual(join_main, NULL));
}
END_TEST

/* ---- shutdown ---------------------------------------------------------------------- */

struct dropped {
    int n;
    int items[16];
};

static void drop_item(void *item, void *arg) {
    struct dropped *d = arg;
    ck_assert_int_lt(d->n, 16);
    d->items[d->n++] = I(item);
}

static int shutdown_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    void *item;
    /* Waiting getters learn it at once. */
    ck_assert_ok(weft_queue_init(&q, 2));
    struct actor g[2];
    for (int i = 0; i < 2; i++) {
        g[i] = (struct actor){.id = i, .q = &q};
        spawn(&g[i], getter);
    }
    ck_assert_ok(weft_sleep(1));
    ck_assert(!weft_queue_is_shutdown(&q));
    ck_assert_ok(weft_queue_shutdown(&q, false, NULL, NULL));
    ck_assert(weft_queue_is_shutdown(&q));
    join_all(g, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_err(g[i].rc, -ESHUTDOWN);
        ck_assert_ptr_eq(g[i].item, P(-1));
        ck_assert_double_eq_tol(g[i].when, 1.0, 1e-9);
    }
    ck_assert_err(weft_queue_put(&q, P(1)), -ESHUTDOWN);
    ck_assert_err(weft_queue_put_nowait(&q, P(1)), -ESHUTDOWN);
    ck_assert_err(weft_queue_get(&q, &item), -ESHUTDOWN);
    ck_assert_err(weft_queue_get_nowait(&q, &item), -ESHUTDOWN);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));

    /* Not immediate: queued items can still be taken; waiting putters
     * are refused and keep their items. */
    ck_assert_ok(weft_queue_init(&q, 2));
    ck_assert_ok(weft_queue_put_nowait(&q, P(1)));
    ck_assert_ok(weft_queue_put_nowait(&q, P(2)));
    struct actor p = {.q = &q, .item = P(3)};
    spawn(&p, putter);
    struct actor j = {.q = &q};
    spawn(&j, joiner);
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_queue_shutdown(&q, false, NULL, NULL));
    ck_assert_ok(weft_yield());
    ck_assert_err(p.rc, -ESHUTDOWN);
    ck_assert_uint_eq(weft_queue_qsize(&q), 2);
    ck_assert_ok(weft_queue_get(&q, &item));
    ck_assert_int_eq(I(item), 1);
    ck_assert_ok(weft_queue_task_done(&q));
    ck_assert_ok(weft_queue_get_nowait(&q, &item));
    ck_assert_int_eq(I(item), 2);
    ck_assert_err(weft_queue_get(&q, &item), -ESHUTDOWN);
    ck_assert(!weft_task_done(j.task)); /* join still counts task_done */
    ck_assert_ok(weft_queue_task_done(&q));
    join_all(&p, 1);
    join_all(&j, 1);
    ck_assert_ok(j.rc);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(shutdown_wakes_waiters_refuses_puts_and_drains) {
    ck_assert_ok(run_virtual(shutdown_main, NULL));
}
END_TEST

static int shutdown_now_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    void *item;
    struct dropped d = {0};
    ck_assert_ok(weft_queue_init_prio(&q, 3, NULL, NULL));
    ck_assert_ok(weft_queue_put_prio_nowait(&q, P(1), 5));
    ck_assert_ok(weft_queue_put_prio_nowait(&q, P(2), 1));
    ck_assert_ok(weft_queue_put_prio_nowait(&q, P(3), 3));
    struct actor p = {.q = &q, .item = P(4)};
    spawn(&p, putter);
    struct actor j = {.q = &q};
    spawn(&j, joiner);
    ck_assert_ok(weft_yield());
    get_now(&q, 2); /* admits 4; three unfinished besides this one */
    ck_assert_ok(weft_yield());
    ck_assert_ok(p.rc);
    ck_assert_uint_eq(weft_queue_unfinished(&q), 4);
    ck_assert_ok(weft_queue_shutdown(&q, true, drop_item, &d));
    /* Dropped in get order, each counted done. */
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(d.items[0], 4); /* priority 0 */
    ck_assert_int_eq(d.items[1], 3); /* 3 */
    ck_assert_int_eq(d.items[2], 1); /* 5 */
    ck_assert(weft_queue_empty(&q));
    ck_assert_uint_eq(weft_queue_unfinished(&q), 1);
    ck_assert_err(weft_queue_get_nowait(&q, &item), -ESHUTDOWN);
    ck_assert_ok(weft_yield());
    ck_assert(!weft_task_done(j.task));
    ck_assert_ok(weft_queue_task_done(&q)); /* for item 2 */
    join_all(&j, 1);
    ck_assert_ok(j.rc);
    join_all(&p, 1);
    /* Again: harmless. */
    ck_assert_ok(weft_queue_shutdown(&q, true, drop_item, &d));
    ck_assert_int_eq(d.n, 3);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));

    /* A getter handed an item just before an immediate shutdown keeps
     * it; the joiner is released by the drop alone. */
    ck_assert_ok(weft_queue_init(&q, 0));
    struct actor g = {.q = &q};
    spawn(&g, getter);
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_queue_put_nowait(&q, P(8)));
    ck_assert_ok(weft_queue_put_nowait(&q, P(9)));
    ck_assert_ok(weft_queue_task_done(&q)); /* for 8, before g even ran */
    j = (struct actor){.q = &q};
    spawn(&j, joiner);
    ck_assert_ok(weft_yield());
    ck_assert_ok(weft_queue_shutdown(&q, true, drop_item, &d));
    ck_assert_int_eq(d.n, 4);
    ck_assert_int_eq(d.items[3], 9);
    join_all(&g, 1);
    ck_assert_ok(g.rc);
    ck_assert_int_eq(I(g.item), 8);
    join_all(&j, 1);
    ck_assert_ok(j.rc);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(immediate_shutdown_drops_items_through_the_callback) {
    ck_assert_ok(run_virtual(shutdown_now_main, NULL));
}
END_TEST

/* ---- memory ----------------------------------------------------------------------- */

static int fail_realloc;

static void *failing_realloc(void *p, size_t n) {
    if (fail_realloc)
        return NULL;
    return realloc(p, n);
}

static int nomem_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    ck_assert_ok(weft_queue_init(&q, 0));
    for (int i = 0; i < 8; i++)
        ck_assert_ok(weft_queue_put_nowait(&q, P(i)));
    fail_realloc = 1;
    ck_assert_err(weft_queue_put_nowait(&q, P(8)), -ENOMEM);
    ck_assert_err(weft_queue_put(&q, P(8)), -ENOMEM);
    ck_assert_uint_eq(weft_queue_qsize(&q), 8);
    ck_assert_uint_eq(weft_queue_unfinished(&q), 8);
    fail_realloc = 0;
    ck_assert_ok(weft_queue_put_nowait(&q, P(8)));
    for (int i = 0; i <= 8; i++)
        get_now(&q, i);
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(a_put_that_cannot_grow_the_buffer_is_enomem) {
    int r = weft_replace_allocator(malloc, failing_realloc, calloc, free);
    ck_assert(r == 0 || r == -EBUSY);
    if (r == -EBUSY)
        return; /* CK_FORK=no: weft already allocated in this process */
    ck_assert_ok(run_virtual(nomem_main, NULL));
}
END_TEST

/* ---- destroy and misuse -------------------------------------------------------------- */

static int destroy_main(void *arg) {
    (void)arg;
    weft_queue_t q;
    struct dropped d = {0};
    ck_assert_ok(weft_queue_init_lifo(&q, 0));
    struct actor g = {.q = &q};
    spawn(&g, getter);
    ck_assert_ok(weft_yield());
    logcap_start();
    ck_assert_err(weft_queue_destroy(&q, drop_item, &d), -EBUSY);
    ck_assert_logged(1, "waiting");
    logcap_stop();
    ck_assert_ok(weft_queue_put_nowait(&q, P(1)));
    join_all(&g, 1);
    for (int i = 2; i <= 4; i++)
        ck_assert_ok(weft_queue_put_nowait(&q, P(i)));
    ck_assert_ok(weft_queue_destroy(&q, drop_item, &d));
    ck_assert_int_eq(d.n, 3);
    ck_assert_int_eq(d.items[0], 4); /* in get order: LIFO */
    ck_assert_int_eq(d.items[2], 2);
    void *item;
    logcap_start();
    ck_assert_err(weft_queue_get_nowait(&q, &item), -EINVAL);
    ck_assert_logged(1, "not initialised");
    logcap_stop();
    ck_assert_err(weft_queue_destroy(&q, NULL, NULL), -EINVAL);

    /* Wrong arguments. */
    ck_assert_ok(weft_queue_init(&q, 0));
    ck_assert_err(weft_queue_get_nowait(&q, NULL), -EINVAL);
    ck_assert_err(weft_queue_get(&q, NULL), -EINVAL);
    logcap_start();
    ck_assert_err(weft_queue_put_prio_nowait(&q, P(1), 0), -EINVAL);
    ck_assert_logged(1, "not a priority queue");
    ck_assert_err(weft_queue_put_prio(&q, P(1), 3), -EINVAL);
    ck_assert_logged(2, "not a priority queue");
    logcap_stop();
    ck_assert(weft_queue_empty(&q));
    ck_assert_err(weft_queue_init(NULL, 0), -EINVAL);
    ck_assert_err(weft_queue_init_lifo(NULL, 0), -EINVAL);
    ck_assert_err(weft_queue_init_prio(NULL, 0, NULL, NULL), -EINVAL);
    ck_assert_err(weft_queue_put(NULL, P(1)), -EINVAL);
    ck_assert_err(weft_queue_put_nowait(NULL, P(1)), -EINVAL);
    ck_assert_err(weft_queue_get(NULL, &item), -EINVAL);
    ck_assert_err(weft_queue_join(NULL), -EINVAL);
    ck_assert_err(weft_queue_task_done(NULL), -EINVAL);
    ck_assert_err(weft_queue_shutdown(NULL, true, NULL, NULL), -EINVAL);
    ck_assert_err(weft_queue_destroy(NULL, NULL, NULL), -EINVAL);
    ck_assert_uint_eq(weft_queue_qsize(NULL), 0);
    ck_assert(weft_queue_empty(NULL));
    ck_assert(!weft_queue_full(NULL));
    ck_assert(!weft_queue_is_shutdown(NULL));
    ck_assert_ok(weft_queue_destroy(&q, NULL, NULL));
    return 0;
}

START_TEST(destroy_drops_items_and_refuses_while_waited_on) {
    ck_assert_ok(run_virtual(destroy_main, NULL));
}
END_TEST

static weft_queue_t setup_q;

static int consume_setup(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++)
        get_now(&setup_q, i);
    /* Left in the queue for the main thread to drain after the run. */
    ck_assert_ok(weft_queue_put_nowait(&setup_q, P(3)));
    return 0;
}

static int use_elsewhere(void *arg) {
    (void)arg;
    void *item;
    logcap_start();
    ck_assert_err(weft_queue_get_nowait(&setup_q, &item), -EPERM);
    ck_assert_logged(1, "another loop");
    ck_assert_err(weft_queue_put_nowait(&setup_q, P(1)), -EPERM);
    ck_assert_err(weft_queue_shutdown(&setup_q, true, NULL, NULL), -EPERM);
    logcap_stop();
    ck_assert_uint_eq(weft_queue_qsize(&setup_q), 1);
    return 0;
}

START_TEST(queue_filled_before_the_loop_drained_after_it) {
    /* Before any loop runs: nowait calls work, waiting ones need a task. */
    ck_assert_ok(weft_queue_init(&setup_q, 0));
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_queue_put_nowait(&setup_q, P(i)));
    logcap_start();
    ck_assert_err(weft_queue_put(&setup_q, P(9)), -EPERM);
    ck_assert_logged(1, "outside a task");
    void *item;
    ck_assert_err(weft_queue_get(&setup_q, &item), -EPERM);
    ck_assert_err(weft_queue_join(&setup_q), -EPERM);
    logcap_stop();
    weft_loop_t *first;
    ck_assert_ok(weft_loop_new(&first, NULL));
    weft_task_t *t;
    ck_assert_ok(weft_loop_spawn(first, &t, consume_setup, NULL, NULL));
    ck_assert_ok(weft_loop_run_until_complete(first, weft_task_future(t)));
    weft_task_release(t);
    /* Bound to `first`: another loop may not use it. */
    ck_assert_ok(run_virtual(use_elsewhere, NULL));
    weft_loop_free(first);
    /* Its own thread may still drain it once its loop is gone. */
    get_now(&setup_q, 3);
    ck_assert_ok(weft_queue_destroy(&setup_q, NULL, NULL));
}
END_TEST

static Suite *queue_suite(void) {
    Suite *s = suite_create("queue");
    TCase *order = tcase_create("order");
    tcase_add_test(order, fifo_order_nowait_full_and_empty);
    tcase_add_test(order, lifo_order);
    tcase_add_test(order, priority_order_integer_comparator_and_fifo_among_equals);
    tcase_add_test(order, unbounded_fifo_grows_while_wrapped_and_keeps_order);
    suite_add_tcase(s, order);

    TCase *wait = tcase_create("wait");
    tcase_add_test(wait, get_waits_when_empty_put_waits_when_full_fifo);
    tcase_add_test(wait, producer_consumer_pipeline_with_backpressure);
    tcase_add_test(wait, a_cancelled_getter_loses_nothing);
    tcase_add_test(wait, a_cancelled_putter_puts_all_or_nothing);
    tcase_add_test(wait, get_put_and_join_in_a_deadline_scope);
    tcase_add_test(wait, join_waits_for_task_done_of_every_item);
    suite_add_tcase(s, wait);

    TCase *sd = tcase_create("shutdown");
    tcase_add_test(sd, shutdown_wakes_waiters_refuses_puts_and_drains);
    tcase_add_test(sd, immediate_shutdown_drops_items_through_the_callback);
    suite_add_tcase(s, sd);

    TCase *mis = tcase_create("misuse");
    tcase_add_test(mis, a_put_that_cannot_grow_the_buffer_is_enomem);
    tcase_add_test(mis, destroy_drops_items_and_refuses_while_waited_on);
    tcase_add_test(mis, queue_filled_before_the_loop_drained_after_it);
    suite_add_tcase(s, mis);
    return s;
}

WEFT_TEST_MAIN(queue_suite)
