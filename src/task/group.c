/* Task groups: structured concurrency. The group is a cancel scope of its
 * owner; children are listed in it; exit waits until the list is empty. */
#include "task_int.h"

#define GROUP_MAGIC 0x67727570u /* "grup" */

_Static_assert(sizeof(struct weft__group) <= sizeof(weft_group_t),
               "weft_group_t too small");
_Static_assert(_Alignof(struct weft__group) <= _Alignof(weft_group_t),
               "weft_group_t misaligned");

static inline struct weft__group *G(weft_group_t *g) {
    return (struct weft__group *)(void *)g;
}

void weft__group_init_root(struct weft__group *g) {
    g->owner = NULL;
    weft__list_init(&g->children);
    g->n = 0;
    g->first_error = 0;
    g->flags = WEFT__GROUP_OPEN | WEFT__GROUP_ROOT;
    g->exit_wait = NULL;
    g->magic = GROUP_MAGIC;
}

static bool is_open(const struct weft__group *g) {
    return g->magic == GROUP_MAGIC && (g->flags & WEFT__GROUP_OPEN);
}

int weft_group_enter(weft_group_t *group) {
    struct weft_task *t = weft__task_require("weft_group_enter");
    if (!t)
        return -EPERM;
    if (!group)
        return -EINVAL;
    struct weft__group *g = G(group);
    if (weft__scope_is_open(t, &g->scope)) {
        weft__log(WEFT_LOG_WARN, "weft_group_enter: group %p is already open",
                  (void *)group);
        return -EINVAL;
    }
    g->owner = t;
    weft__list_init(&g->children);
    g->n = 0;
    g->first_error = 0;
    g->flags = WEFT__GROUP_OPEN;
    g->exit_wait = NULL;
    g->magic = GROUP_MAGIC;
    weft__scope_push(t, &g->scope, WEFT__SCOPE_GROUP);
    t->ngroups++;
    return 0;
}

int weft_group_spawn(weft_group_t *group, weft_task_t **out, weft_task_fn fn,
                     void *arg, const weft_spawn_opts_t *opts) {
    if (out)
        *out = NULL;
    if (!group || !is_open(G(group))) {
        weft__log(WEFT_LOG_WARN, "weft_group_spawn: group %p is not open",
                  (void *)group);
        return -EINVAL;
    }
    struct weft__group *g = G(group);
    int err = weft__loop_check(g->owner->loop, "weft_group_spawn");
    if (err)
        return err;
    return weft__spawn(g->owner->loop, g, out, fn, arg, opts);
}

void weft__group_cancel(struct weft__group *g, const char *why) {
    if (g->flags & WEFT__GROUP_CANCELLED)
        return;
    g->flags |= WEFT__GROUP_CANCELLED;
    struct weft__list *pos;
    for (pos = g->children.next; pos != &g->children; pos = pos->next) {
        struct weft_task *c = WEFT__CONTAINER_OF(pos, struct weft_task, gnode);
        weft__task_cancel(c, why);
    }
    if (g->owner && !(g->flags & WEFT__GROUP_ROOT)) {
        g->scope.flags |= WEFT__SCOPE_CANCELLED;
        weft__task_interrupt(g->owner);
    }
}

int weft_group_cancel(weft_group_t *group) {
    /* Only an open group's owner is known to be alive: an exited group's
     * may have finished and been freed. */
    if (!group || !is_open(G(group))) {
        weft__log(WEFT_LOG_WARN, "weft_group_cancel: group %p is not open",
                  (void *)group);
        return -EINVAL;
    }
    struct weft__group *g = G(group);
    int err = weft__loop_check(g->owner->loop, "weft_group_cancel");
    if (err)
        return err;
    weft__group_cancel(g, "its task group was cancelled");
    return 0;
}

size_t weft_group_size(const weft_group_t *group) {
    const struct weft__group *g =
        (const struct weft__group *)(const void *)group;
    return g && g->magic == GROUP_MAGIC ? g->n : 0;
}

void weft__group_orphan(struct weft_task *owner) {
    struct weft__tasks *ts = owner->loop->tasks;
    struct weft__group *root = &ts->root;
    struct weft__list *pos;
    for (pos = ts->live.next; pos != &ts->live; pos = pos->next) {
        struct weft_task *c = WEFT__CONTAINER_OF(pos, struct weft_task, lnode);
        if (c->gowner != owner)
            continue;
        /* Relink without unlinking: the old list's head is dead memory,
         * and every member of that list is moved here anyway. */
        c->group = root;
        c->gowner = NULL;
        weft__list_push_back(&root->children, &c->gnode);
        root->n++;
        weft__task_cancel(c, "the owner of its task group returned without "
                             "exiting it");
    }
}

void weft__group_child_done(struct weft_task *t, int status) {
    struct weft__group *g = t->group;
    weft__list_remove(&t->gnode);
    g->n--;
    t->group = NULL;
    if (g->flags & WEFT__GROUP_ROOT)
        return;
    if (status < 0 && status != -ECANCELED && !g->first_error) {
        g->first_error = status;
        t->fut.retrieved = 1; /* weft_group_exit reports it */
        weft__group_cancel(g, "a task of its group failed");
    }
    if (g->n == 0)
        weft__wait_wake(g->exit_wait, 0);
}

int weft_group_exit(weft_group_t *group) {
    struct weft_task *t = weft__task_require("weft_group_exit");
    if (!t)
        return -EPERM;
    if (!group || !is_open(G(group)) || G(group)->owner != t) {
        weft__log(WEFT_LOG_WARN,
                  "weft_group_exit: group %p is not open in this task",
                  (void *)group);
        return -EINVAL;
    }
    struct weft__group *g = G(group);
    int misuse = 0;
    if (t->scopes != &g->scope) {
        weft__log(WEFT_LOG_WARN, "weft_group_exit: group %p exited before "
                                 "the scopes nested in it",
                  (void *)group);
        misuse = -EINVAL;
    }
    while (g->n > 0) {
        struct weft__wait w = {.noint = (g->flags & WEFT__GROUP_CANCELLED) !=
                                        0,
                               .kind = WEFT__WAIT_GROUP,
                               .obj = g};
        g->exit_wait = &w;
        int r = weft__park(&w);
        g->exit_wait = NULL;
        /* Interrupted: by the group's own cancellation (a child failed,
         * or weft_group_cancel), or from outside (the owner cancelled, an
         * outer deadline). Either way the children are cancelled and
         * awaited without further interruption. */
        if (r < 0)
            weft__group_cancel(g, r == -ETIMEDOUT
                                      ? "its task group's owner timed out"
                                      : "its task group's owner was "
                                        "cancelled");
    }
    g->flags &= ~(uint32_t)WEFT__GROUP_OPEN;
    weft__scope_pop(&g->scope);
    t->ngroups--;
    if (misuse)
        return misuse;
    if (g->first_error)
        return g->first_error;
    /* The group's own cancellation is not an error of exit; what
     * interrupts waits outside it is (the owner cancelled, an outer
     * deadline, also one that passed while the children unwound), and
     * passes on to the scope it belongs to. */
    return weft__scope_outcome(t, &g->scope);
}
