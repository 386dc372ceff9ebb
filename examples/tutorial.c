/* tutorial.c - the small snippets of docs/tutorial.md that no other
 * example holds, each a step of the teaching page, compiled and run by the
 * test suite so that the tutorial cannot rot: the tutorial quotes this file
 * verbatim (tests/tutorial_check.py checks that it does).
 *
 * Usage: tutorial [STEP...]   (default: every step, in the page's order)
 *
 *   loop       asyncio.run(say_something()), and the loop by hand
 *   callbacks  a done-callback, then the same result awaited
 *   await      coroutines: two tasks spawned, then awaited
 *   futures    a future completed by a callback, awaited; one cancelled
 *   calls      call_soon, call_later, call_at, call_soon_threadsafe
 *   yield      giving up control: two tasks taking turns
 *
 * Exit status 0; 1 when a step fails (one line on stderr); 2 for an
 * unknown step. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <weft.h>

/* ---- the event loop ----------------------------------------------------- */

/* async def say_something(): print('This was run by the loop') */
static int say_something(void *arg) {
    (void)arg;
    puts("This was run by the loop");
    return 0;
}

static int step_loop(void) {
    /* asyncio.run(say_something()): a loop, the task, and the loop closed */
    int err = weft_run(say_something, NULL);
    if (err < 0)
        return err;

    /* the same by hand: loop = asyncio.new_event_loop();
     * loop.run_until_complete(say_something()); loop.close() */
    weft_loop_t *loop;
    err = weft_loop_new(&loop, NULL);
    if (err < 0)
        return err;
    weft_task_t *task;
    err = weft_loop_spawn(loop, &task, say_something, NULL, NULL);
    if (err == 0) {
        err = weft_loop_run_until_complete(loop, weft_task_future(task));
        weft_task_release(task);
    }
    weft_loop_free(loop);
    return err;
}

/* ---- callbacks ---------------------------------------------------------- */

/* Something that takes a while, then answers. */
static int answer_later(void *arg) {
    (void)arg;
    int err = weft_sleep(0.1);
    return err < 0 ? err : 42;
}

/* The callback: the loop calls it once the answer is there. */
static void on_answer(weft_future_t *f, void *arg) {
    (void)arg;
    printf("callback: the answer is %d\n", weft_future_result(f, NULL));
}

static int callbacks_main(void *arg) {
    (void)arg;
    weft_task_t *t;
    int err = weft_spawn(&t, answer_later, NULL, NULL);
    if (err < 0)
        return err;
    /* the callback way: say what to do with the answer, and go on */
    err = weft_future_add_done_callback(weft_task_future(t), on_answer, NULL);
    puts("asked; not waiting for the answer");
    /* the coroutine way: wait for it, and read on as after a plain call */
    int answer = weft_join(t);
    printf("await: the answer is %d\n", answer);
    weft_task_release(t);
    return err < 0 ? err : weft_yield(); /* let the callback run */
}

/* ---- coroutines and await ----------------------------------------------- */

/* async def ping_server(ip): a task function. Nothing runs until it is
 * spawned; weft_join is `await`. */
static int ping_server(void *arg) {
    const char *ip = arg;
    printf("pinging %s\n", ip);
    int err = weft_sleep(0.05); /* await: the other tasks run meanwhile */
    if (err < 0)
        return err;
    printf("%s answered\n", ip);
    return 0;
}

static int await_main(void *arg) {
    (void)arg;
    weft_task_t *a, *b;
    int err = weft_spawn(&a, ping_server, "10.0.0.1", NULL); /* create_task */
    if (err < 0)
        return err;
    err = weft_spawn(&b, ping_server, "10.0.0.2", NULL);
    if (err < 0) {
        weft_task_release(a); /* a runs on, detached; the loop awaits it */
        return err;
    }
    int ra = weft_join(a); /* await a: both ping at once */
    int rb = weft_join(b);
    weft_task_release(a);
    weft_task_release(b);
    return ra < 0 ? ra : rb;
}

/* ---- futures ------------------------------------------------------------ */

/* Whoever has the result completes the future: here a timer's callback. */
static void complete(void *arg) {
    weft_future_set_result(arg, "done!"); /* fut.set_result("done!") */
}

static int futures_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_future_t *fut, *other;
    int err = weft_future_new(loop, &fut); /* fut = loop.create_future() */
    if (err < 0)
        return err;
    err = weft_call_later(loop, 0.1, complete, fut, NULL);
    printf("done? %s\n", weft_future_done(fut) ? "yes" : "no"); /* fut.done() */
    void *value = NULL;
    if (err == 0)
        err = weft_await(fut, &value); /* await fut */
    if (err >= 0)
        printf("done? %s; result: %s\n", weft_future_done(fut) ? "yes" : "no",
               (const char *)value);
    weft_future_release(fut);
    if (err < 0 || (err = weft_future_new(loop, &other)) < 0)
        return err;
    weft_future_cancel(other); /* other.cancel() */
    printf("cancelled? %s; result: %s\n",
           weft_future_cancelled(other) ? "yes" : "no",
           weft_err_name(weft_future_result(other, NULL)));
    weft_future_release(other);
    return 0;
}

/* ---- call_soon, call_later, call_at, call_soon_threadsafe --------------- */

static double start; /* loop.time() when the step began */

static void say(void *arg) {
    double t = weft_loop_time(weft_loop_current()) - start;
    printf("%.1f s: %s\n", t, (const char *)arg);
}

/* Another thread: the one way in is call_soon_threadsafe. */
static void *thread_main(void *loop) {
    weft_call_soon_threadsafe(loop, say, "call_soon_threadsafe");
    return NULL;
}

static int calls_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    start = weft_loop_time(loop); /* loop.time() */
    weft_call_later(loop, 0.2, say, "call_later(0.2)", NULL);
    weft_call_at(loop, start + 0.1, say, "call_at(start + 0.1)", NULL);
    weft_call_soon(loop, say, "call_soon", NULL);
    pthread_t thread;
    if (pthread_create(&thread, NULL, thread_main, loop) != 0)
        return -EAGAIN;
    int err = weft_sleep(0.3); /* the callbacks run meanwhile */
    pthread_join(thread, NULL);
    return err;
}

/* ---- giving up control -------------------------------------------------- */

static int counter(void *arg) {
    const char *name = arg;
    for (int i = 1; i <= 3; i++) {
        printf("%s %d\n", name, i);
        int err = weft_yield(); /* await asyncio.sleep(0) */
        if (err < 0)
            return err;
    }
    return 0;
}

static int yield_main(void *arg) {
    (void)arg;
    weft_call_t calls[] = {{.fn = counter, .arg = "A"},
                           {.fn = counter, .arg = "B"}};
    return weft_gather_calls(calls, 2, 0, NULL);
}

/* ---- main --------------------------------------------------------------- */

static int step_run(weft_task_fn fn) {
    return weft_run(fn, NULL);
}

static const struct {
    const char *name;
    weft_task_fn fn; /* run with weft_run; NULL: step_loop */
} steps[] = {
    {"loop", NULL},           {"callbacks", callbacks_main},
    {"await", await_main},    {"futures", futures_main},
    {"calls", calls_main},    {"yield", yield_main},
};
#define NSTEPS (sizeof steps / sizeof steps[0])

static int run_step(size_t i) {
    printf("== %s\n", steps[i].name);
    int err = steps[i].fn ? step_run(steps[i].fn) : step_loop();
    if (err < 0)
        fprintf(stderr, "tutorial: %s: %s\n", steps[i].name,
                weft_strerror(err));
    return err < 0;
}

int main(int argc, char **argv) {
    size_t pick[NSTEPS * 4], n = 0;
    for (int a = 1; a < argc; a++) {
        size_t i = 0;
        while (i < NSTEPS && strcmp(argv[a], steps[i].name) != 0)
            i++;
        if (i == NSTEPS || n == sizeof pick / sizeof pick[0]) {
            fprintf(stderr, "usage: tutorial [loop|callbacks|await|futures|"
                            "calls|yield]...\n");
            return 2;
        }
        pick[n++] = i;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int failed = 0;
    for (size_t i = 0; i < (n ? n : NSTEPS); i++)
        failed |= run_step(n ? pick[i] : i);
    return failed;
}
