/* run_app: one loop per worker (the calling thread's and N - 1 threads),
 * each with its own SO_REUSEPORT listener and its own runner of the one
 * frozen app; SIGINT / SIGTERM caught by the first, which tells the
 * others to shut down and waits for them. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "web_int.h"
#include "weft/sync.h"
#include "weft/tls.h"

static WEFT__TLS unsigned worker_index;

unsigned weft_web_worker(void) {
    return worker_index;
}

int weft_web_tls_ctx(weft_tls_ctx_t **out, const char *cert_file,
                     const char *key_file) {
    weft_tls_opts_t o = {.cert_file = cert_file, .key_file = key_file,
                         .alpn = "http/1.1"};
    return weft_tls_server_ctx(out, &o);
}

struct shared;

struct worker {
    struct shared *sh;
    unsigned index;
    pthread_t thread;
    bool started;      /* the thread exists */
    weft_loop_t *loop; /* posts go there while alive */
    weft_task_t *task; /* its main task, while alive */
    bool alive;
    weft_event_t stop;
    int err;
};

struct shared {
    weft_web_app_t *app;
    const char *host;
    char port[16];
    const weft_web_run_opts_t *o;
    unsigned n;
    struct worker *w;
    pthread_mutex_t mu;
    weft_loop_t *main_loop;
    weft_event_t news; /* a worker is ready or done (main loop) */
    bool news_closed;  /* destroyed: late callbacks leave it alone */
    unsigned nlaunched; /* worker threads created */
    unsigned nready, ndone;
    int err;
};

static int serve_until_stopped(void) {
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, INFINITY, WEFT_SCOPE_STOPPABLE);
    if (err)
        return err;
    err = weft_sleep(INFINITY);
    weft_scope_exit(&sc);
    return err;
}

/* Make, set up and start a runner on this loop. */
static int start_runner(struct shared *sh, const char *port,
                        weft_web_runner_t **out) {
    weft_web_runner_t *run;
    int err = weft_web_runner_new(&run, sh->app, &sh->o->server);
    if (err)
        return err;
    err = weft_web_runner_setup(run);
    if (!err) {
        weft_web_listen_opts_t lo = sh->o->listen;
        if (sh->n > 1)
            lo.flags |= WEFT_WEB_LISTEN_REUSEPORT;
        err = weft_web_runner_listen(run, sh->host, port, &lo);
    }
    if (err) {
        weft_web_runner_free(run);
        return err;
    }
    *out = run;
    return 0;
}

/* ---- other workers ---------------------------------------------------------------- */

/* On the first loop's thread, like everything that reads news_closed. A
 * worker's last post may run after main_worker saw the count it waited
 * for and destroyed the event (before weft_run returns, in any case). */
static void news_cb(void *arg) {
    struct shared *sh = arg;
    if (!sh->news_closed)
        weft_event_set(&sh->news);
}

static void post_news(struct shared *sh) {
    weft_call_soon_threadsafe(sh->main_loop, news_cb, sh);
}

static void stop_cb(void *arg) {
    struct worker *w = arg;
    weft_event_set(&w->stop);
}

static void hurry_cb(void *arg) {
    struct worker *w = arg;
    if (w->task)
        weft_task_cancel(w->task);
}

static int worker_main(void *arg) {
    struct worker *w = arg;
    struct shared *sh = w->sh;
    worker_index = w->index;
    weft_event_init(&w->stop);
    weft_web_runner_t *run = NULL;
    int err = start_runner(sh, sh->port, &run);
    pthread_mutex_lock(&sh->mu);
    w->err = err;
    if (!err) {
        w->loop = weft_loop_current();
        w->task = weft_task_ref(weft_task_current());
        w->alive = true;
    }
    sh->nready++;
    pthread_mutex_unlock(&sh->mu);
    post_news(sh);
    if (!err) {
        weft_event_wait(&w->stop);
        weft_web_runner_shutdown(run, sh->o->server.shutdown_grace > 0
                                          ? sh->o->server.shutdown_grace
                                          : -1);
        weft_web_runner_free(run);
        pthread_mutex_lock(&sh->mu);
        w->alive = false;
        weft_task_release(w->task);
        w->task = NULL;
        pthread_mutex_unlock(&sh->mu);
    }
    weft_event_destroy(&w->stop);
    pthread_mutex_lock(&sh->mu);
    sh->ndone++;
    pthread_mutex_unlock(&sh->mu);
    post_news(sh);
    return err;
}

static void *worker_thread(void *arg) {
    weft_run(worker_main, arg);
    return NULL;
}

/* Post fn to every live worker. */
static void post_all(struct shared *sh, weft_callback_fn fn) {
    pthread_mutex_lock(&sh->mu);
    for (unsigned i = 1; i < sh->n; i++)
        if (sh->w[i].alive)
            weft_call_soon_threadsafe(sh->w[i].loop, fn, &sh->w[i]);
    pthread_mutex_unlock(&sh->mu);
}

/* Wait (shielded: the threads use what we hold) until `count` reaches
 * want. */
static void wait_news(struct shared *sh, const unsigned *count,
                      unsigned want) {
    weft_scope_t sc;
    weft_scope_enter(&sc, INFINITY, WEFT_SCOPE_SHIELD);
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        unsigned c = *count;
        pthread_mutex_unlock(&sh->mu);
        if (c >= want)
            break;
        weft_event_clear(&sh->news);
        pthread_mutex_lock(&sh->mu);
        c = *count;
        pthread_mutex_unlock(&sh->mu);
        if (c >= want)
            break;
        weft_event_wait(&sh->news);
    }
    weft_scope_exit(&sc);
}

static int start_workers(struct shared *sh) {
    sigset_t all, old;
    sigfillset(&all);
    for (unsigned i = 1; i < sh->n; i++) {
        struct worker *w = &sh->w[i];
        /* Signals go to the first loop's thread, which catches them. */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&w->thread, NULL, worker_thread, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            w->err = -rc;
            break;
        }
        w->started = true;
        sh->nlaunched++;
    }
    wait_news(sh, &sh->nready, sh->nlaunched);
    for (unsigned i = 1; i < sh->n; i++)
        if (sh->w[i].err)
            return sh->w[i].err;
    return 0;
}

/* ---- the first worker ------------------------------------------------------------- */

static int main_worker(void *arg) {
    struct shared *sh = arg;
    sh->main_loop = weft_loop_current();
    worker_index = 0;
    weft_event_init(&sh->news);
    weft_web_runner_t *run = NULL;
    int err = start_runner(sh, sh->port, &run);
    if (!err) {
        snprintf(sh->port, sizeof sh->port, "%d", weft_web_runner_port(run));
        if (sh->n > 1)
            err = start_workers(sh);
    }
    if (!err) {
        if (sh->o->on_listening)
            sh->o->on_listening(weft_web_runner_port(run), sh->o->arg);
        serve_until_stopped();
    }
    /* Stop: every worker at once, each with its grace period. */
    post_all(sh, stop_cb);
    if (run) {
        weft_web_runner_shutdown(run, -1);
        if (weft__task_current()->flags & WEFT__TASK_CANCELLED)
            post_all(sh, hurry_cb); /* a second signal: no more grace */
        weft_web_runner_free(run);
    }
    wait_news(sh, &sh->ndone, sh->nlaunched);
    for (unsigned i = 1; i < sh->n; i++)
        if (sh->w[i].started)
            pthread_join(sh->w[i].thread, NULL);
    sh->news_closed = true;
    weft_event_destroy(&sh->news);
    sh->err = err;
    return err;
}

int weft_web_run_app(weft_web_app_t *app, const char *host, const char *port,
                     const weft_web_run_opts_t *opts) {
    if (!app || !port || app->parent)
        return -EINVAL;
    if (weft_loop_current()) {
        weft__log(WEFT_LOG_WARN, "weft_web_run_app: called from a loop's "
                                 "thread (use a runner there)");
        return -EBUSY;
    }
    weft_web_run_opts_t dflt = {0};
    if (!opts)
        opts = &dflt;
    if (strlen(port) >= 16)
        return -EINVAL;
    int err = weft__web_app_freeze(app); /* before any thread reads it */
    if (err)
        return err;
    struct shared sh = {.app = app, .host = host, .o = opts,
                        .n = opts->workers ? opts->workers : 1};
    snprintf(sh.port, sizeof sh.port, "%s", port);
    sh.w = weft__calloc(sh.n, sizeof *sh.w);
    if (!sh.w)
        return -ENOMEM;
    for (unsigned i = 0; i < sh.n; i++) {
        sh.w[i].sh = &sh;
        sh.w[i].index = i;
    }
    pthread_mutex_init(&sh.mu, NULL);
    weft_run_opts_t ro = {0};
    ro.flags = WEFT_RUN_SIGNALS;
    double grace = opts->server.shutdown_grace > 0
                       ? opts->server.shutdown_grace
                       : 10;
    ro.grace = grace + 5; /* the runners' own grace comes first */
    ro.stop_signal = opts->stop_signal;
    err = weft_run_opts(main_worker, &sh, &ro);
    pthread_mutex_destroy(&sh.mu);
    weft__free(sh.w);
    return err < 0 ? err : sh.err;
}
