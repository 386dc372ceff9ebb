/* A program linked with lazy binding (-z lazy) against the shared library,
 * run by tests/test_stack.c: its tasks on the smallest stack make the
 * program's first calls of weft_yield and weft_sleep, so glibc's resolver
 * runs on their stacks (issue 16 items 10 and 11: this overflowed them and
 * overwrote the task structure next to them). weft must give them stacks
 * the resolver fits in. Prints what happened; exits 0 if all went well. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <weft.h>

static long parked;

static int quick(void *arg) {
    (void)arg;
    return 0;
}

static int yielder(void *arg) {
    (void)arg;
    return weft_yield(); /* the program's first call of weft_yield */
}

static int sleeper(void *arg) {
    (void)arg;
    parked++;
    return weft_sleep(1e6); /* the first of weft_sleep: until cancelled */
}

static int main_task(void *arg) {
    (void)arg;
    weft_spawn_opts_t o = {.stack_size = WEFT_STACK_MIN};
    weft_task_t *a, *b, *y, *s[10];
    if (weft_spawn(&a, quick, NULL, &o) || weft_spawn(&b, quick, NULL, &o) ||
        weft_spawn(&y, yielder, NULL, &o))
        return -ENOMEM;
    int r = weft_join(a) | weft_join(b) | weft_join(y);
    weft_task_release(a);
    weft_task_release(b);
    weft_task_release(y);
    if (r)
        return r;
    puts("yielded");
    for (int i = 0; i < 10; i++)
        if (weft_spawn(&s[i], sleeper, NULL, &o))
            return -ENOMEM;
    while (parked < 10)
        weft_yield();
    puts("all parked");
    int cancelled = 0;
    for (int i = 0; i < 10; i++) {
        weft_task_cancel(s[i]);
        cancelled += weft_join(s[i]) == -ECANCELED;
        weft_task_release(s[i]);
    }
    printf("cancelled %d\n", cancelled);
    return cancelled == 10 ? 0 : -EPROTO;
}

int main(void) {
    return weft_run(main_task, NULL) < 0;
}
