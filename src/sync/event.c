/* Event: a flag and the tasks waiting for it to be set. */
#include "sync_int.h"

struct weft__event {
    struct weft__sync_hdr h;
    bool set;
    struct weft__list waiters; /* weft__waiter */
};

_Static_assert(sizeof(struct weft__event) <= sizeof(weft_event_t),
               "weft_event_t too small");
_Static_assert(_Alignof(struct weft__event) <= _Alignof(weft_event_t),
               "weft_event_t misaligned");

static inline struct weft__event *E(weft_event_t *e) {
    return (struct weft__event *)(void *)e;
}

static inline int check(struct weft__event *e, bool task, const char *fn) {
    return weft__sync_check(e ? &e->h : NULL, WEFT__SYNC_EVENT, task, fn);
}

int weft_event_init(weft_event_t *event) {
    struct weft__event *e = E(event);
    if (!e)
        return -EINVAL;
    weft__sync_hdr_init(&e->h, WEFT__SYNC_EVENT);
    e->set = false;
    weft__list_init(&e->waiters);
    return 0;
}

int weft_event_destroy(weft_event_t *event) {
    struct weft__event *e = E(event);
    if (!e || e->h.magic != WEFT__SYNC_EVENT)
        return -EINVAL;
    return weft__sync_retire(&e->h, !weft__list_empty(&e->waiters),
                             "weft_event_destroy");
}

int weft_event_set(weft_event_t *event) {
    struct weft__event *e = E(event);
    int err = check(e, false, "weft_event_set");
    if (err)
        return err;
    e->set = true;
    weft__waiter_wake_all(&e->waiters, 0);
    return 0;
}

int weft_event_clear(weft_event_t *event) {
    struct weft__event *e = E(event);
    int err = check(e, false, "weft_event_clear");
    if (err)
        return err;
    e->set = false;
    return 0;
}

bool weft_event_is_set(const weft_event_t *event) {
    const struct weft__event *e = (const struct weft__event *)(const void *)
        event;
    return e && e->set;
}

int weft_event_wait(weft_event_t *event) {
    struct weft__event *e = E(event);
    int err = check(e, true, "weft_event_wait");
    if (err || e->set)
        return err;
    struct weft__waiter wt = {.w = {.kind = WEFT__WAIT_EVENT, .obj = e}};
    return weft__waiter_park(&e->waiters, &wt);
}
