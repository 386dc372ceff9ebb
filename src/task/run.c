/* run_until_complete and weft_run (asyncio.run). weft_run sits above every
 * module: with WEFT_RUN_SIGNALS it uses the signals of src/proc. */
#include <math.h>

#include "../proc/proc_int.h"
#include "task_int.h"

static void stop_loop(weft_future_t *f, void *arg) {
    (void)f;
    weft_loop_stop(arg);
}

int weft_loop_run_until_complete(weft_loop_t *loop, weft_future_t *f) {
    int err = weft__loop_check(loop, "weft_loop_run_until_complete");
    if (err)
        return err;
    if (!f || f->loop != loop)
        return -EINVAL;
    weft_future_ref(f);
    if (f->state != WEFT__FUT_DONE) {
        err = weft_future_add_done_callback(f, stop_loop, loop);
        if (!err)
            err = weft_loop_run_forever(loop);
        weft_future_remove_done_callback(f, stop_loop, loop);
    }
    if (!err && f->state != WEFT__FUT_DONE)
        err = -EINTR; /* stopped before the future completed */
    if (!err)
        err = weft_future_result(f, NULL);
    weft_future_release(f);
    return err;
}

int weft_run_opts(weft_task_fn main, void *arg, const weft_run_opts_t *opts) {
    if (!main)
        return -EINVAL;
    if (weft__tls_loop) {
        weft__log(WEFT_LOG_WARN,
                  "weft_run: this thread is already running a loop");
        return -EBUSY;
    }
    bool sigs = opts && (opts->flags & WEFT_RUN_SIGNALS);
    if (opts && ((opts->flags & ~(unsigned)WEFT_RUN_SIGNALS) ||
                 isnan(opts->grace)))
        return -EINVAL;
    if (opts && opts->stop_signal)
        *opts->stop_signal = 0;
    weft_loop_t *loop;
    int err = weft_loop_new(&loop, opts ? &opts->loop : NULL);
    if (err)
        return err;
    /* Caught before main starts; given back before the leftovers are
     * cancelled, so a signal during that clean-up acts as usual. */
    struct weft__run_signals rs = {0};
    if (sigs)
        err = weft__run_signals_start(&rs, loop, opts);
    weft_task_t *t;
    if (!err)
        err = weft_loop_spawn(loop, &t, main, arg, opts ? &opts->main : NULL);
    if (!err) {
        rs.main = t;
        err = weft_loop_run_until_complete(loop, weft_task_future(t));
        rs.main = NULL;
        weft_task_release(t);
    }
    if (sigs)
        weft__run_signals_stop(&rs);
    weft_loop_close(loop);
    weft_loop_free(loop);
    return err;
}

int weft_run(weft_task_fn main, void *arg) {
    return weft_run_opts(main, arg, NULL);
}
