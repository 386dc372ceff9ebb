/* Internal: the executor's pool (pool.c) and its loop side (exec.c).
 *
 * A job is one record for its whole life. Jobs submitted by a loop embed
 * their future (first member) and are allocated and freed on the loop
 * thread; fire-and-forget jobs (weft_pool_submit) come from the C
 * library's malloc and are freed by whichever thread finishes them.
 *
 * Who touches what, and under which lock:
 *   pool->mu   the queue, job->state, the idle workers, the
 *              thread counts, the shutdown flags;
 *   ex->mu     a loop's list of finished jobs (workers append, the loop
 *              thread takes the whole list), `posted`, `posters`;
 *   loop thread only: the future, job->cancel_req, ex->ninflight (the
 *              loop's jobs in flight);
 *   worker -> loop: job->status, value and ran are written by the worker
 *              before it appends the job under ex->mu, read by the loop
 *              thread after it took the list under ex->mu.
 * Reference counts of futures are not atomic: the future is only ever
 * referenced on the loop thread; the pool's count is atomic (a pool may be
 * shared by loops and threads).
 */
#ifndef WEFT_EXEC_INT_H
#define WEFT_EXEC_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "../task/task_int.h"
#include "weft/exec.h"

enum {
    WEFT__JOB_QUEUED = 0,
    WEFT__JOB_RUNNING, /* taken by a worker (it may have returned since) */
    WEFT__JOB_REMOVED, /* taken off the queue before it ran */
};

struct weft__exec;

struct weft__job {
    struct weft_future fut;     /* loop jobs: first, so a job is a future */
    struct weft__list qnode;    /* in the pool's queue (pool->mu) */
    struct weft__job *done_next; /* in the loop's finished list (ex->mu) */
    weft_job_fn fn;
    void *arg;
    weft_job_done_fn done;      /* submit: done; loop jobs: discard */
    weft_pool_t *pool;          /* loop jobs hold a reference */
    struct weft__exec *ex;      /* the loop's state; NULL: fire and forget */
    void *value;
    int status;
    uint8_t state;              /* WEFT__JOB_*, pool->mu */
    bool ran;                   /* fn ran (set before the hand-over) */
    bool cancel_req;            /* loop thread: the future was cancelled */
    bool detached;              /* loop thread: nobody holds the future */
    atomic_bool stop;           /* what weft_job_cancelled() reads */
};

/* A task parked in weft_pool_shutdown() until the workers have exited. */
struct weft__exit_waiter {
    struct weft__wait w;
    weft_loop_t *loop;
    struct weft__exit_waiter *next;
};

struct weft__worker {
    weft_pool_t *pool;
    pthread_t th;
    pthread_cond_t cv;              /* its own: wakes exactly this one */
    struct weft__worker *next_idle; /* in pool->idle */
    unsigned idx;
    bool woken;                     /* taken off the idle list */
};

struct weft_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv_exit;      /* nalive reached 0; joined */
    struct weft__list queue;     /* weft__job.qnode, FIFO */
    size_t nqueued, max_queued;
    unsigned size, nstarted, nalive;
    struct weft__worker *workers; /* [size], started in order */
    struct weft__worker *idle;    /* idle workers, longest idle first */
    struct weft__worker **idle_tail;
    struct weft__exit_waiter *exit_waiters;
    bool shutdown, joining, joined;
    bool loop_owned;             /* a loop's default pool */
    atomic_bool stop_all;        /* shut down with CANCEL_QUEUED */
    atomic_uint refs;
    char name[11];
};

/* Per-loop state of the executor, hanging off its close hook. */
struct weft__exec {
    struct weft__hook close_hook, free_hook;
    weft_loop_t *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;             /* posters reached 0; a job finished */
    struct weft__job *done_head;   /* finished jobs, FIFO (mu) */
    struct weft__job **done_tail;
    bool posted;                   /* a drain is queued on the loop (mu) */
    /* Workers inside a post to the loop (mu). The close waits for zero;
     * a worker decrements it under mu (after that, only the unlock
     * touches the state, which the close may free next). */
    unsigned posters;
    bool closing;                  /* the loop is closing (mu) */
    size_t ninflight;              /* jobs in flight (loop thread) */
    weft_pool_t *dflt;             /* the default pool, owned */
    bool closed;                   /* no more jobs (loop thread) */
};

/* pool.c */
void weft__pool_ref(weft_pool_t *p);
void weft__pool_unref(weft_pool_t *p);
/* Queue a job (its fields set). 0, -ESHUTDOWN, -EAGAIN. */
int weft__pool_enqueue(weft_pool_t *p, struct weft__job *j);
/* The loop thread cancels a job of its own: true if it was still queued
 * and has been removed (it will never be handed over); otherwise its stop
 * flag is set (the loop thread owns the job's memory until delivery). */
bool weft__pool_remove(weft_pool_t *p, struct weft__job *j);
/* Shut down and wait without a task (the loop's close). */
void weft__pool_shutdown_blocking(weft_pool_t *p);
/* Threads a pool gets when opts.threads is 0. */
unsigned weft__cpu_count(void);

/* exec.c: a loop job is finished (ran or removed): hand it to its loop. */
void weft__exec_finished(struct weft__job *j, int status, void *value,
                         bool ran);
/* Post fn(arg) to a loop from a worker; retries while memory is short. */
void weft__exec_post(weft_loop_t *loop, weft_callback_fn fn, void *arg);

#endif
