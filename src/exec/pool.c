/* The executor's thread pool: a FIFO of jobs under one mutex, and workers
 * that each sleep on a condition variable of their own.
 *
 * Idle workers wait in a FIFO too. Queueing a job takes the worker that
 * has been idle longest and wakes exactly that one; if none is idle and
 * the pool is below its size, a new thread is started instead. One
 * condition variable per worker makes the wake-up exact: with a shared
 * one, a submitter cannot tell a worker that was signalled but has not run
 * yet from an idle one, and either starts threads for nothing or leaves
 * jobs waiting behind a busy worker. Longest idle first, not most recent
 * first (which would keep caches warm and the other threads asleep):
 * measured on a 2-CPU VM, sequential round trips took 8 us at the median
 * when consecutive jobs go to different workers, and 45 us when the worker
 * that has just finished is woken again (docs/design.md).
 *
 * Shutdown: refuse new jobs, drop the queued ones if asked, wake every
 * idle worker; each exits when the queue is empty. The last one out wakes
 * the shutters: plain threads on pool->cv_exit, tasks through their loop
 * (weft_call_soon_threadsafe), so a task waits without blocking its loop.
 * Then one caller joins the threads.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_int.h"

/* The worker this thread is, and the job it runs (NULL elsewhere). */
static WEFT__TLS struct weft__worker *tls_worker;
static WEFT__TLS struct weft__job *tls_job;

unsigned weft__cpu_count(void) {
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return n > WEFT_POOL_MAX_THREADS ? WEFT_POOL_MAX_THREADS : (unsigned)n;
}

/* ---- creation and references ----------------------------------------------- */

int weft_pool_new(weft_pool_t **out, const weft_pool_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    unsigned threads = opts ? opts->threads : 0;
    if (threads > WEFT_POOL_MAX_THREADS)
        return -EINVAL;
    if (threads == 0)
        threads = weft__cpu_count();
    weft_pool_t *p = calloc(1, sizeof *p);
    struct weft__worker *w = calloc(threads, sizeof *w);
    if (!p || !w) {
        free(p);
        free(w);
        return -ENOMEM;
    }
    int err = pthread_mutex_init(&p->mu, NULL);
    if (!err) {
        err = pthread_cond_init(&p->cv_exit, NULL);
        if (err)
            pthread_mutex_destroy(&p->mu);
    }
    if (err) {
        free(p);
        free(w);
        return -err;
    }
    weft__list_init(&p->queue);
    p->idle_tail = &p->idle;
    p->size = threads;
    p->workers = w;
    p->max_queued = opts ? opts->max_queued : 0;
    atomic_init(&p->refs, 1);
    atomic_init(&p->stop_all, false);
    snprintf(p->name, sizeof p->name, "%s",
             opts && opts->name ? opts->name : "weft-exec");
    *out = p;
    return 0;
}

void weft__pool_ref(weft_pool_t *p) {
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void weft__pool_unref(weft_pool_t *p) {
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (unsigned i = 0; i < p->nstarted; i++)
        pthread_cond_destroy(&p->workers[i].cv);
    pthread_cond_destroy(&p->cv_exit);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}

unsigned weft_pool_size(const weft_pool_t *p) {
    return p ? p->size : 0;
}

/* ---- workers ---------------------------------------------------------------------- */

static int run_fn(struct weft__job *j, void **value) {
    *value = NULL;
    tls_job = j;
    int status = j->fn(j->arg, value);
    tls_job = NULL;
    if (status < 0)
        *value = NULL;
    return status;
}

/* Hand a finished job to its owner: the loop that submitted it, or the
 * done function. After this the job may be gone. */
static void finish_job(struct weft__job *j, int status, void *value) {
    if (j->ex) {
        weft__exec_finished(j, status, value, true);
        return;
    }
    if (j->done)
        j->done(j->arg, status, value);
    free(j);
}

static void exit_wake(void *arg) {
    struct weft__exit_waiter *ew = arg;
    weft__task_wake(ew->w.task, 0);
}

/* The last worker leaves (pool->mu held): wake everyone waiting for it. */
static void last_worker_out(weft_pool_t *p) {
    pthread_cond_broadcast(&p->cv_exit);
    struct weft__exit_waiter *ew = p->exit_waiters;
    p->exit_waiters = NULL;
    while (ew) {
        /* Read next first: once posted, the waiter's task may run on. */
        struct weft__exit_waiter *next = ew->next;
        weft__exec_post(ew->loop, exit_wake, ew);
        ew = next;
    }
}

/* The worker's loop: one critical section per job while the queue is not
 * empty. A job is marked running, under the mutex, only right before its
 * function is called, so a cancel finds every job whose function has not
 * started still in the queue. The finished job is handed to its owner (who
 * may free it) outside the mutex, before the next one is taken. */
static void *worker_main(void *arg) {
    struct weft__worker *w = arg;
    weft_pool_t *p = w->pool;
    char name[16];
    snprintf(name, sizeof name, "%s-%u", p->name, w->idx);
    pthread_setname_np(pthread_self(), name);
    tls_worker = w;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct weft__list *n = weft__list_pop_front(&p->queue);
        if (!n) {
            if (p->shutdown)
                break;
            w->woken = false;
            w->next_idle = NULL;
            *p->idle_tail = w;
            p->idle_tail = &w->next_idle;
            while (!w->woken)
                pthread_cond_wait(&w->cv, &p->mu);
            continue;
        }
        struct weft__job *j = WEFT__CONTAINER_OF(n, struct weft__job, qnode);
        p->nqueued--;
        j->state = WEFT__JOB_RUNNING;
        pthread_mutex_unlock(&p->mu);
        void *value;
        int status = run_fn(j, &value);
        finish_job(j, status, value);
        pthread_mutex_lock(&p->mu);
    }
    if (--p->nalive == 0)
        last_worker_out(p);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Start worker number p->nstarted (pool->mu held). Every asynchronous
 * signal is blocked in it from its first instruction (the mask is
 * inherited), so SIGINT and friends go to the program's other threads;
 * signals a fault raises (SIGSEGV ...) stay unblocked. */
static int start_worker(weft_pool_t *p) {
    struct weft__worker *w = &p->workers[p->nstarted];
    w->pool = p;
    w->idx = p->nstarted;
    int err = pthread_cond_init(&w->cv, NULL);
    if (err)
        return -err;
    sigset_t all, old;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
                                 SIGSYS};
    for (size_t i = 0; i < WEFT__ARRAY_LEN(faults); i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&w->th, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        pthread_cond_destroy(&w->cv);
        return -err;
    }
    p->nstarted++;
    p->nalive++;
    return 0;
}

/* ---- queueing ------------------------------------------------------------------- */

int weft__pool_enqueue(weft_pool_t *p, struct weft__job *j) {
    struct weft__worker *wake;
    int err = 0;
    pthread_mutex_lock(&p->mu);
    if (p->shutdown) {
        err = -ESHUTDOWN;
    } else if (!p->idle && p->nstarted < p->size) {
        /* Nobody idle: start a thread. If that fails, the running ones
         * will get to the job; with none running, refuse it. */
        if (start_worker(p) < 0 && p->nstarted == 0)
            err = -EAGAIN;
    } else if (!p->idle && p->max_queued && p->nqueued >= p->max_queued) {
        err = -EAGAIN;
    }
    if (!err) {
        j->state = WEFT__JOB_QUEUED;
        atomic_init(&j->stop, false);
        weft__list_push_back(&p->queue, &j->qnode);
        p->nqueued++;
        if ((wake = p->idle) != NULL) {
            p->idle = wake->next_idle;
            if (!p->idle)
                p->idle_tail = &p->idle;
            wake->woken = true;
            /* Under the mutex, on purpose: a worker woken after the unlock
             * preempts the submitter, takes this one job, finishes it and
             * sleeps again before the next is queued. With 4 workers on 2
             * CPUs that was 4x the context switches and half the jobs/s
             * of waking it here, where it waits for the mutex and the
             * submitter goes on queueing (docs/design.md). */
            pthread_cond_signal(&wake->cv);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return err;
}

int weft_pool_submit(weft_pool_t *p, weft_job_fn fn, void *arg,
                     weft_job_done_fn done) {
    if (!p || !fn)
        return -EINVAL;
    struct weft__job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    weft__list_init(&j->qnode);
    j->fn = fn;
    j->arg = arg;
    j->done = done;
    int err = weft__pool_enqueue(p, j);
    if (err)
        free(j);
    return err;
}

bool weft__pool_remove(weft_pool_t *p, struct weft__job *j) {
    pthread_mutex_lock(&p->mu);
    bool removed = j->state == WEFT__JOB_QUEUED;
    if (removed) {
        weft__list_remove(&j->qnode);
        p->nqueued--;
        j->state = WEFT__JOB_REMOVED;
    } else {
        atomic_store_explicit(&j->stop, true, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->mu);
    return removed;
}

bool weft_job_cancelled(void) {
    struct weft__job *j = tls_job;
    return j && (atomic_load_explicit(&j->stop, memory_order_relaxed) ||
                 atomic_load_explicit(&tls_worker->pool->stop_all,
                                      memory_order_relaxed));
}

/* ---- shutdown ----------------------------------------------------------------- */

/* A job dropped by shutdown: tell its owner, on this thread. */
static void finish_dropped(struct weft__job *j) {
    if (j->ex) {
        weft__exec_finished(j, -ECANCELED, NULL, false);
        return;
    }
    if (j->done)
        j->done(j->arg, -ECANCELED, NULL);
    free(j);
}

/* Refuse new jobs, take the queued ones if asked, wake the idle workers. */
static void begin_shutdown(weft_pool_t *p, unsigned flags,
                           struct weft__list *dropped) {
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    if (flags & WEFT_POOL_CANCEL_QUEUED) {
        struct weft__list *n;
        while ((n = weft__list_pop_front(&p->queue))) {
            WEFT__CONTAINER_OF(n, struct weft__job, qnode)->state =
                WEFT__JOB_REMOVED;
            weft__list_push_back(dropped, n);
        }
        p->nqueued = 0;
        /* The running functions see weft_job_cancelled(). A pool-wide flag:
         * no job starts after this, and a job's memory may be gone the
         * moment its worker has handed it over. */
        atomic_store_explicit(&p->stop_all, true, memory_order_relaxed);
    }
    struct weft__worker *w = p->idle;
    p->idle = NULL;
    p->idle_tail = &p->idle;
    while (w) {
        struct weft__worker *next = w->next_idle;
        w->woken = true;
        pthread_cond_signal(&w->cv);
        w = next;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Wait until every worker has left worker_main's loop: a task parks (its
 * loop keeps running), anything else blocks. */
static void wait_workers(weft_pool_t *p, bool park) {
    struct weft_task *t = park ? weft__task_current() : NULL;
    pthread_mutex_lock(&p->mu);
    if (t && p->nalive > 0) {
        /* noint: the threads must be joined regardless */
        struct weft__exit_waiter ew = {
            .w = {.noint = true, .kind = WEFT__WAIT_POOL, .obj = p},
            .loop = t->loop};
        ew.next = p->exit_waiters;
        /* Linked only while we park here: the last worker out unlinks it
         * and wakes us (noint: we cannot leave earlier). */
        /* cppcheck-suppress autoVariables */
        p->exit_waiters = &ew;
        pthread_mutex_unlock(&p->mu);
        weft__park(&ew.w);
        return;
    }
    while (p->nalive > 0)
        pthread_cond_wait(&p->cv_exit, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* Join the threads: the first caller does it, the others wait for it.
 * The workers have left their loop by now, so this is brief. */
static void join_workers(weft_pool_t *p) {
    pthread_mutex_lock(&p->mu);
    if (!p->joining) {
        p->joining = true;
        pthread_mutex_unlock(&p->mu);
        for (unsigned i = 0; i < p->nstarted; i++)
            pthread_join(p->workers[i].th, NULL);
        pthread_mutex_lock(&p->mu);
        p->joined = true;
        pthread_cond_broadcast(&p->cv_exit);
    }
    while (!p->joined)
        pthread_cond_wait(&p->cv_exit, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static bool own_job(weft_pool_t *p, const char *fn) {
    if (tls_worker && tls_worker->pool == p) {
        weft__log(WEFT_LOG_WARN,
                  "%s: called from a job of the same pool (it would wait "
                  "for itself)",
                  fn);
        return true;
    }
    return false;
}

/* park: a task may park in the wait (public calls); the loop's close
 * passes false, as it may run inside another loop's task. */
static void shutdown_pool(weft_pool_t *p, unsigned flags, bool park) {
    struct weft__list dropped;
    weft__list_init(&dropped);
    begin_shutdown(p, flags, &dropped);
    struct weft__list *n;
    while ((n = weft__list_pop_front(&dropped)))
        finish_dropped(WEFT__CONTAINER_OF(n, struct weft__job, qnode));
    wait_workers(p, park);
    join_workers(p);
}

int weft_pool_shutdown(weft_pool_t *p, unsigned flags) {
    if (!p || (flags & ~(unsigned)WEFT_POOL_CANCEL_QUEUED))
        return -EINVAL;
    if (own_job(p, "weft_pool_shutdown"))
        return -EDEADLK;
    shutdown_pool(p, flags, true);
    return 0;
}

void weft__pool_shutdown_blocking(weft_pool_t *p) {
    shutdown_pool(p, 0, false);
}

void weft_pool_free(weft_pool_t *p) {
    if (!p)
        return;
    if (own_job(p, "weft_pool_free"))
        return;
    pthread_mutex_lock(&p->mu);
    bool loop_owned = p->loop_owned;
    pthread_mutex_unlock(&p->mu);
    if (loop_owned) {
        weft__log(WEFT_LOG_WARN, "weft_pool_free: pool %p is a loop's "
                                 "default pool; the loop frees it",
                  (void *)p);
        return;
    }
    shutdown_pool(p, 0, true);
    weft__pool_unref(p);
}
