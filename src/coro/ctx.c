/* Contexts: creation, the first-entry trampoline, FP control state, and the
 * ucontext fallback. The switch itself is inline, in ctx.h. */
#include "ctx.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(struct weft__ctx, sp) == 0, "asm uses offset 0");
_Static_assert(offsetof(struct weft__ctx, pc) == 8, "asm uses offset 8");
_Static_assert(offsetof(struct weft__ctx, fp) == 16, "asm uses offset 16");
_Static_assert(offsetof(struct weft__ctx, entry) == 24, "asm uses offset 24");

#if !WEFT_CORO_UCONTEXT && defined(__x86_64__)
/* A fresh context is entered by the jump in weft__ctx_jump with rax = the
 * previous context and rdx = this one, on an empty 16-byte aligned stack.
 * The CFI marks it as the outermost frame, so debuggers stop unwinding here.
 */
__asm__(".text\n"
        ".p2align 4\n"
        ".type weft__ctx_trampoline, @function\n"
        "weft__ctx_trampoline:\n"
        ".cfi_startproc\n"
        ".cfi_undefined rip\n"
        "    xorl %ebp, %ebp\n"
        "    movq %rax, %rdi\n"
        "    movq %rdx, %rsi\n"
        "    callq *24(%rdx)\n"
        "    ud2\n"
        ".cfi_endproc\n"
        ".size weft__ctx_trampoline, .-weft__ctx_trampoline\n");
#elif !WEFT_CORO_UCONTEXT && defined(__aarch64__)
__asm__(".text\n"
        ".p2align 4\n"
        ".type weft__ctx_trampoline, %function\n"
        "weft__ctx_trampoline:\n"
        ".cfi_startproc\n"
        ".cfi_undefined x30\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    ldr x9, [x1, #24]\n"
        "    blr x9\n"
        "    brk #0\n"
        ".cfi_endproc\n"
        ".size weft__ctx_trampoline, .-weft__ctx_trampoline\n");
#endif

#if !WEFT_CORO_UCONTEXT
void weft__ctx_trampoline(void);
#endif

void weft__ctx_init_thread(struct weft__ctx *c) {
    memset(c, 0, sizeof *c);
#ifdef WEFT__TSAN
    c->tsan_fiber = __tsan_get_current_fiber();
#endif
}

#if WEFT_CORO_UCONTEXT
/* makecontext passes ints only; the context being started is handed over
 * through this thread-local instead. */
static WEFT__TLS struct weft__ctx *uc_prev;
static WEFT__TLS struct weft__ctx *uc_self;
/* The thread's own context (a loop's scheduler) saves itself here: a
 * thread runs one loop at a time (weft__loop_enter), and the loop's
 * context is set up afresh at each run, so nothing is allocated for it
 * (an allocation here was never given back: one block per loop). */
static WEFT__TLS ucontext_t thread_uc;

static void uc_start(void) {
    uc_self->entry(uc_prev, uc_self);
    abort();
}

struct weft__ctx *weft__ctx_jump_uc(struct weft__ctx *from,
                                    struct weft__ctx *to) {
    if (!from->uc) /* the thread's own context, on its first switch */
        from->uc = &thread_uc;
    uc_prev = from;
    uc_self = to;
    swapcontext(from->uc, to->uc);
    return uc_prev;
}
#endif

int weft__ctx_make(struct weft__ctx *c, void *lo, size_t size,
                   weft__ctx_entry_fn entry) {
    memset(c, 0, sizeof *c);
    c->entry = entry;
    c->stack_lo = lo;
    c->stack_size = size;
#if WEFT_CORO_UCONTEXT
    c->uc = weft__calloc(1, sizeof *c->uc);
    if (!c->uc)
        return -ENOMEM;
    getcontext(c->uc);
    c->uc->uc_stack.ss_sp = lo;
    c->uc->uc_stack.ss_size = size;
    c->uc->uc_link = NULL;
    makecontext(c->uc, uc_start, 0);
#else
    c->sp = (void *)((uintptr_t)((char *)lo + size) & ~(uintptr_t)15);
    c->pc = (void *)weft__ctx_trampoline;
#endif
#ifdef WEFT__TSAN
    c->tsan_fiber = __tsan_create_fiber(0);
    c->tsan_owned = 1;
#endif
    return 0;
}

void weft__ctx_destroy(struct weft__ctx *c) {
#if WEFT_CORO_UCONTEXT
    weft__free(c->uc);
    c->uc = NULL;
#endif
#ifdef WEFT__TSAN
    if (c->tsan_owned) {
        __tsan_destroy_fiber(c->tsan_fiber);
        c->tsan_owned = 0;
    }
#endif
    (void)c;
}

void weft__ctx_started(struct weft__ctx *prev, struct weft__ctx *self) {
#ifdef WEFT__ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
    if (!prev->stack_lo) {
        prev->stack_lo = (void *)lo;
        prev->stack_size = size;
    }
#endif
    (void)prev;
    (void)self;
}

/* ---- floating-point control state -------------------------------------- */
WEFT__TLS uint64_t weft__thread_fpstate;
WEFT__TLS bool weft__thread_fpstate_set;

void weft__ctx_fpenv_capture(struct weft__ctx *c) {
    c->fpstate = weft__fp_save();
}
