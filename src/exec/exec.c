/* The executor's loop side: run_in_executor, to_thread, the default pool,
 * and handing finished jobs back to the loop that submitted them.
 *
 * A worker that finishes a loop job appends it to the loop's finished
 * list and, if the list was empty, posts one drain to the loop with
 * weft_call_soon_threadsafe: a burst of completions costs one wake-up, and
 * the hand-over needs no allocation (the job is the list node). The drain
 * runs on the loop thread, completes the futures and drops the job's
 * references.
 *
 * Lifetime across threads: the loop's close waits until every job it
 * submitted has been delivered (ninflight == 0) and no worker is still
 * inside a post to it (posters == 0); only then may the loop's memory go.
 * Its default pool is then shut down and its threads joined.
 */
#include <stdlib.h>
#include <time.h>

#include "exec_int.h"

static void exec_close(weft_loop_t *loop, struct weft__hook *h);
static void exec_free(weft_loop_t *loop, struct weft__hook *h);
static int job_cancel(weft_future_t *f);
static void job_destroy(weft_future_t *f);

static const struct weft__future_ops job_ops = {job_cancel, job_destroy};

/* ---- per-loop state --------------------------------------------------------- */

/* The loop's executor state (found through its close hook), or NULL. */
static struct weft__exec *exec_find(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, exec_close);
    return h ? WEFT__CONTAINER_OF(h, struct weft__exec, close_hook) : NULL;
}

static struct weft__exec *exec_get(weft_loop_t *loop) {
    struct weft__exec *ex = exec_find(loop);
    if (ex)
        return ex;
    ex = weft__calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    if (pthread_mutex_init(&ex->mu, NULL)) {
        weft__free(ex);
        return NULL;
    }
    if (pthread_cond_init(&ex->cv, NULL)) {
        pthread_mutex_destroy(&ex->mu);
        weft__free(ex);
        return NULL;
    }
    ex->loop = loop;
    ex->done_tail = &ex->done_head;
    weft__hook_add(loop, &ex->close_hook, WEFT__PHASE_EXEC, exec_close);
    weft__hook_add(loop, &ex->free_hook, WEFT__PHASE_FREE, exec_free);
    return ex;
}

/* ---- the hand-over: worker -> loop ------------------------------------------------ */

void weft__exec_post(weft_loop_t *loop, weft_callback_fn fn, void *arg) {
    bool logged = false;
    for (;;) {
        int err = weft_call_soon_threadsafe(loop, fn, arg);
        if (err != -ENOMEM) {
            if (err)
                weft__log(WEFT_LOG_ERROR,
                          "executor: cannot reach loop %p: %s (a job's "
                          "completion is lost)",
                          (void *)loop, weft_strerror(err));
            return;
        }
        /* Nothing may be lost: wait for memory, the loop frees some. */
        if (!logged)
            weft__log(WEFT_LOG_ERROR, "executor: out of memory posting a "
                                      "completion; retrying");
        logged = true;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static void exec_drain(void *arg);

void weft__exec_finished(struct weft__job *j, int status, void *value,
                         bool ran) {
    struct weft__exec *ex = j->ex;
    j->status = status;
    j->value = value;
    j->ran = ran;
    pthread_mutex_lock(&ex->mu);
    j->done_next = NULL;
    *ex->done_tail = j;
    ex->done_tail = &j->done_next;
    bool post = !ex->posted;
    if (post) {
        ex->posted = true;
        ex->posters++;
    }
    if (ex->closing)
        pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    if (!post)
        return;
    weft__exec_post(ex->loop, exec_drain, ex);
    pthread_mutex_lock(&ex->mu);
    if (--ex->posters == 0 && ex->closing)
        pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
}

/* Loop thread: the job is off the pool; drop what it holds. */
static void job_retire(struct weft__job *j) {
    j->ex->ninflight--;
    j->ex->loop->posts_expected--;
    weft__pool_unref(j->pool);
    j->pool = NULL;
    weft_future_release(&j->fut); /* the job's own reference */
}

/* Loop thread: complete the future with the job's outcome, or give a
 * value nobody can read to `discard`. */
static void deliver(struct weft__job *j) {
    weft_future_t *f = &j->fut;
    bool unread = j->cancel_req || j->detached || f->state == WEFT__FUT_DONE;
    if (f->state != WEFT__FUT_DONE) {
        if (j->cancel_req)
            weft__future_complete(f, -ECANCELED, NULL);
        else
            weft__future_complete(f, j->status, j->value);
    }
    if (unread && j->ran && j->done)
        j->done(j->arg, j->status, j->value);
    job_retire(j);
}

static struct weft__job *take_finished(struct weft__exec *ex) {
    pthread_mutex_lock(&ex->mu);
    struct weft__job *j = ex->done_head;
    ex->done_head = NULL;
    ex->done_tail = &ex->done_head;
    ex->posted = false;
    pthread_mutex_unlock(&ex->mu);
    return j;
}

static void deliver_all(struct weft__job *j) {
    while (j) {
        struct weft__job *next = j->done_next;
        deliver(j);
        j = next;
    }
}

static void exec_drain(void *arg) {
    deliver_all(take_finished(arg));
}

/* ---- the future of a job ------------------------------------------------------- */

/* weft_future_cancel() and interrupted awaits: a queued job is removed and
 * its future cancelled now; a running one completes when fn returns. */
static int job_cancel(weft_future_t *f) {
    struct weft__job *j = (struct weft__job *)(void *)f;
    if (j->cancel_req)
        return 0;
    j->cancel_req = true;
    if (weft__pool_remove(j->pool, j)) {
        weft__future_complete(f, -ECANCELED, NULL);
        job_retire(j);
    }
    return 0;
}

static void job_destroy(weft_future_t *f) {
    struct weft__tasks *ts = f->loop->tasks;
    if (ts)
        ts->nfutures--;
    weft__free(f);
}

/* ---- submitting ------------------------------------------------------------------ */

static int default_pool(struct weft__exec *ex, weft_pool_t **out) {
    if (!ex->dflt) {
        weft_pool_t *p;
        int err = weft_pool_new(&p, NULL);
        if (err)
            return err;
        p->loop_owned = true;
        ex->dflt = p;
    }
    *out = ex->dflt;
    return 0;
}

/* Common checks of the loop-thread entry points: the loop's executor
 * state, or an error. */
static int exec_enter(weft_loop_t *loop, const char *fn,
                      struct weft__exec **out) {
    int err = weft__loop_check(loop, fn);
    if (err)
        return err;
    if (loop->closed)
        return -ESHUTDOWN;
    struct weft__exec *ex = exec_get(loop);
    if (!ex)
        return -ENOMEM;
    if (ex->closed)
        return -ESHUTDOWN;
    *out = ex;
    return 0;
}

int weft_run_in_executor_opts(weft_loop_t *loop, weft_job_fn fn, void *arg,
                              const weft_job_opts_t *opts,
                              weft_future_t **out) {
    if (out)
        *out = NULL;
    struct weft__exec *ex;
    int err = exec_enter(loop, "weft_run_in_executor", &ex);
    if (err)
        return err;
    if (!fn)
        return -EINVAL;
    weft_pool_t *pool = opts ? opts->pool : NULL;
    if (!pool && (err = default_pool(ex, &pool)))
        return err;
    struct weft__tasks *ts = weft__tasks_get(loop);
    struct weft__job *j = weft__malloc(sizeof *j);
    if (!ts || !j) {
        weft__free(j);
        return -ENOMEM;
    }
    weft__future_init(&j->fut, loop, &job_ops);
    weft__list_init(&j->qnode);
    j->done_next = NULL;
    j->fn = fn;
    j->arg = arg;
    j->done = opts ? opts->discard : NULL;
    j->pool = pool;
    j->ex = ex;
    j->value = NULL;
    j->status = 0;
    j->ran = j->cancel_req = false;
    j->detached = out == NULL;
    weft__pool_ref(pool);
    /* In flight before it is queued: a worker may finish it at once (the
     * loop thread delivers it later, but it must be counted by then). */
    ex->ninflight++;
    loop->posts_expected++;
    err = weft__pool_enqueue(pool, j);
    if (err) {
        ex->ninflight--;
        loop->posts_expected--;
        weft__pool_unref(pool);
        weft__free(j);
        return err;
    }
    ts->nfutures++;
    if (out)
        *out = weft_future_ref(&j->fut);
    return 0;
}

int weft_run_in_executor(weft_loop_t *loop, weft_pool_t *pool, weft_job_fn fn,
                         void *arg, weft_future_t **out) {
    weft_job_opts_t o = {.pool = pool};
    return weft_run_in_executor_opts(loop, fn, arg, &o, out);
}

int weft_to_thread_opts(weft_job_fn fn, void *arg, const weft_job_opts_t *opts,
                        void **value) {
    if (value)
        *value = NULL;
    struct weft_task *t = weft__task_require("weft_to_thread");
    if (!t)
        return -EPERM;
    /* Already cancelled or past a deadline: do not start fn at all (a
     * worker could pick it up before the wait notices). */
    if (t->pending) {
        int err = weft__task_interrupted(t);
        if (err)
            return err;
    }
    weft_future_t *f;
    int err = weft_run_in_executor_opts(t->loop, fn, arg, opts, &f);
    if (err)
        return err;
    err = weft_await(f, value);
    weft_future_release(f);
    return err;
}

int weft_to_thread(weft_job_fn fn, void *arg, void **value) {
    return weft_to_thread_opts(fn, arg, NULL, value);
}

/* ---- the default pool ----------------------------------------------------------- */

int weft_loop_default_pool(weft_loop_t *loop, weft_pool_t **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    struct weft__exec *ex;
    int err = exec_enter(loop, "weft_loop_default_pool", &ex);
    if (err)
        return err;
    return default_pool(ex, out);
}

int weft_loop_set_default_pool(weft_loop_t *loop, weft_pool_t *pool) {
    struct weft__exec *ex;
    int err = exec_enter(loop, "weft_loop_set_default_pool", &ex);
    if (err)
        return err;
    if (!pool)
        return -EINVAL;
    if (ex->dflt)
        return -EBUSY;
    pthread_mutex_lock(&pool->mu);
    err = pool->shutdown ? -ESHUTDOWN : pool->loop_owned ? -EBUSY : 0;
    if (!err)
        pool->loop_owned = true;
    pthread_mutex_unlock(&pool->mu);
    if (!err)
        ex->dflt = pool;
    return err;
}

/* ---- closing ----------------------------------------------------------------------- */

/* Deliver every job in flight. Normally by running the loop (as the task
 * layer's close does), so that the done-callbacks the last completions
 * schedule run too, in the same iteration as the drain. If this thread is
 * running another loop (a loop closed from a task of another), by waiting
 * for the workers directly; the callbacks are then dropped with the rest
 * (never called; their references to the futures are released). */
static void drain_inflight(weft_loop_t *loop, struct weft__exec *ex) {
    if (weft__loop_enter(loop, "weft_loop_close") == 0) {
        while (ex->ninflight > 0)
            weft__loop_run_once(loop);
        weft__loop_leave(loop);
        return;
    }
    while (ex->ninflight > 0) {
        pthread_mutex_lock(&ex->mu);
        while (!ex->done_head)
            pthread_cond_wait(&ex->cv, &ex->mu);
        pthread_mutex_unlock(&ex->mu);
        deliver_all(take_finished(ex));
    }
}

static void exec_close(weft_loop_t *loop, struct weft__hook *h) {
    struct weft__exec *ex = WEFT__CONTAINER_OF(h, struct weft__exec,
                                               close_hook);
    pthread_mutex_lock(&ex->mu);
    ex->closing = true;
    pthread_mutex_unlock(&ex->mu);
    if (ex->ninflight > 0)
        drain_inflight(loop, ex);
    ex->closed = true;
    /* No worker may still be inside weft_call_soon_threadsafe() on this
     * loop once close returns: the loop may be freed right after. */
    pthread_mutex_lock(&ex->mu);
    while (ex->posters > 0)
        pthread_cond_wait(&ex->cv, &ex->mu);
    pthread_mutex_unlock(&ex->mu);
    if (ex->dflt) {
        weft_pool_t *p = ex->dflt;
        ex->dflt = NULL;
        weft__pool_shutdown_blocking(p);
        weft__pool_unref(p);
    }
}

static void exec_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop;
    struct weft__exec *ex = WEFT__CONTAINER_OF(h, struct weft__exec,
                                               free_hook);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    weft__free(ex);
}
