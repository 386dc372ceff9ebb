/* Intrusive containers: a circular doubly-linked list (O(1) unlink, as
 * libuv's queue.h) and a singly-linked FIFO. Nodes live inside the objects
 * they order, so linking never allocates. */
#ifndef WEFT_CORE_LIST_H
#define WEFT_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h" /* WEFT__ANALYZER_ASSUME */

struct weft__list {
    struct weft__list *prev, *next;
};

static inline void weft__list_init(struct weft__list *l) {
    l->prev = l->next = l;
}

static inline bool weft__list_empty(const struct weft__list *l) {
    return l->next == l;
}

/* A node that is on no list points to itself (after init or remove). */
static inline bool weft__list_linked(const struct weft__list *n) {
    return n->next != n;
}

static inline void weft__list_push_back(struct weft__list *head,
                                        struct weft__list *n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void weft__list_remove(struct weft__list *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

static inline struct weft__list *weft__list_pop_front(struct weft__list *head) {
    if (weft__list_empty(head))
        return NULL;
    struct weft__list *n = head->next;
    /* The first node's prev is the head (the analyzer, not knowing, kept
     * a freed node at the head of a list it was unlinked from). */
    WEFT__ANALYZER_ASSUME(n->prev == head);
    weft__list_remove(n);
    return n;
}

#define weft__list_foreach_safe(pos, tmp, head)                                \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);          \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
