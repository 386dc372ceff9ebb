/* Reporting stack overflows: a guard page hit (SIGSEGV on an alternate
 * signal stack) or a canary found overwritten at a switch. Either way one
 * line names the task, then the process dies: its memory can no longer be
 * trusted. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <ucontext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "task_int.h"

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction prev_segv;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t altstack_key;
static WEFT__TLS void *altstack;

static size_t fmt_u64(char *p, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof tmp);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

/* Async-signal-safe: no stdio, no allocation. */
static void report(const struct weft_task *t, const char *how) {
    char buf[256];
    size_t n = 0;
#define PUT(s)                                                                 \
    do {                                                                       \
        size_t l_ = strlen(s);                                                 \
        if (n + l_ > sizeof buf - 2)                                           \
            l_ = sizeof buf - 2 - n;                                           \
        memcpy(buf + n, s, l_);                                                \
        n += l_;                                                               \
    } while (0)
    PUT("weft: stack overflow in task '");
    if (t->name[0]) {
        PUT(t->name);
    } else {
        PUT("task-");
        n += fmt_u64(buf + n, t->id);
    }
    PUT("' (id ");
    n += fmt_u64(buf + n, t->id);
    PUT("): ");
    PUT(how);
    PUT(" of its ");
    n += fmt_u64(buf + n, (uint64_t)(t->stack.hi - t->stack.lo));
    PUT("-byte stack; spawn it with a larger stack_size\n");
#undef PUT
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}

_Noreturn void weft__overflow_canary(struct weft_task *t) {
    report(t, (t->stack.canary[0] != t->canary[0] ||
               t->stack.canary[1] != t->canary[1])
                  ? "the canary below the end was overwritten"
                  : "its stack pointer is past the end");
    abort();
}

_Noreturn void weft__overflow_hibernated(struct weft_task *t) {
    /* Named after the sleeper: the task above may be gone by now. */
    report(t, "the task whose stack lies above this one's overflowed into "
              "it while it hibernated, past the end");
    abort();
}

/* The stack pointer of the interrupted code. */
static uintptr_t fault_sp(void *uctx) {
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

static void on_segv(int sig, siginfo_t *si, void *uctx) {
    struct weft_task *t = weft__tls_rq.current;
    if (t) {
        uintptr_t a = (uintptr_t)si->si_addr;
        uintptr_t lo = (uintptr_t)t->stack.lo;
        uintptr_t sp = fault_sp(uctx);
        /* An overflow: the task's stack pointer has reached the end of its
         * stack (it may have run through the slots below before faulting),
         * or the fault is in the guard page just below. */
        if ((sp && sp < lo + 512) || (a < lo && a + 65536 >= lo)) {
            report(t, t->stack.guarded ? "it ran into the guard page at the "
                                         "end"
                                       : "it ran past the end");
            signal(SIGSEGV, SIG_DFL);
            return; /* the fault repeats, now fatal, with a core dump */
        }
    }
    /* Not ours: hand it to whoever was there before. */
    if (prev_segv.sa_flags & SA_SIGINFO) {
        if (prev_segv.sa_sigaction) {
            prev_segv.sa_sigaction(sig, si, uctx);
            return;
        }
    } else if (prev_segv.sa_handler != SIG_DFL &&
               prev_segv.sa_handler != SIG_IGN) {
        prev_segv.sa_handler(sig);
        return;
    }
    signal(SIGSEGV, SIG_DFL);
}

static void altstack_free(void *p) {
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(p, ALTSTACK_SIZE);
}

static void install(void) {
    pthread_key_create(&altstack_key, altstack_free);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &prev_segv);
}

void weft__overflow_setup(void) {
    pthread_once(&once, install);
    if (altstack)
        return;
    /* The handler needs a stack of its own: the faulting one is full. Keep
     * a thread's existing alternate stack if it has one. */
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
        altstack = cur.ss_sp;
        return;
    }
    void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) == 0) {
        altstack = p;
        pthread_setspecific(altstack_key, p);
    } else {
        munmap(p, ALTSTACK_SIZE);
    }
}
