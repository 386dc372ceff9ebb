/* Internal: execution contexts and the switch between them.
 *
 * The switch is inline assembly, not a called function (see
 * docs/design.md, "The context switch"): the asm saves only the stack
 * pointer, the frame pointer and a resume address, and declares every other
 * register clobbered, so the compiler spills just the values that are live
 * at that point. Control moves with an indirect jump to the resume label,
 * never with call/ret, so the return-stack predictor stays in step, and as
 * every parked task resumes at the same label in the same function, the
 * jump is predicted too.
 *
 * x86-64 SysV and aarch64 AAPCS64 have asm versions; other targets, or
 * WEFT_CORO_UCONTEXT=1, use ucontext (slow: a sigprocmask per switch).
 *
 * The floating-point control state is only switched for contexts that ask
 * (fpenv != 0); see WEFT_SPAWN_FPENV. With ucontext every context has its
 * own (swapcontext saves it), which is stricter and needs nothing here.
 */
#ifndef WEFT_CORO_CTX_H
#define WEFT_CORO_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/common.h"

#if !defined(WEFT_CORO_UCONTEXT)
#if defined(__x86_64__) || defined(__aarch64__)
#define WEFT_CORO_UCONTEXT 0
#else
#define WEFT_CORO_UCONTEXT 1
#endif
#endif

#if WEFT_CORO_UCONTEXT
#include <ucontext.h>
#endif

#ifdef WEFT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

struct weft__ctx;

/* Called on a fresh context's stack the first time it is switched to.
 * `prev` is the context that switched to it. Must never return. */
typedef void (*weft__ctx_entry_fn)(struct weft__ctx *prev,
                                   struct weft__ctx *self);

struct weft__ctx {
    void *sp;                 /* 0: saved stack pointer */
    void *pc;                 /* 8: resume address */
    void *fp;                 /* 16: saved frame pointer */
    weft__ctx_entry_fn entry; /* 24: entry of a fresh context */
    uint32_t fpenv;           /* switch FP control state for this context */
    uint32_t dying;           /* switching away for the last time */
    uint64_t fpstate;         /* saved MXCSR | x87 CW << 32, or FPCR */
    void *stack_lo;           /* stack bounds, for sanitizers */
    size_t stack_size;
#ifdef WEFT__ASAN
    void *asan_fake;
#endif
#ifdef WEFT__TSAN
    void *tsan_fiber;
    int tsan_owned;
#endif
#if WEFT_CORO_UCONTEXT
    ucontext_t *uc;
#endif
};

/* Prepare `c` to start running entry(prev, c) on the stack [lo, lo+size).
 * Returns 0 or -ENOMEM (ucontext and TSan allocate). */
int weft__ctx_make(struct weft__ctx *c, void *lo, size_t size,
                   weft__ctx_entry_fn entry);

/* Set up `c` as the context of the calling thread's own stack (the loop's
 * scheduler context). */
void weft__ctx_init_thread(struct weft__ctx *c);

/* Release what weft__ctx_make allocated. Never for the running context. */
void weft__ctx_destroy(struct weft__ctx *c);

/* Called first thing in a fresh context's entry (sanitizer bookkeeping). */
void weft__ctx_started(struct weft__ctx *prev, struct weft__ctx *self);

/* Capture the current FP control state into c->fpstate. */
void weft__ctx_fpenv_capture(struct weft__ctx *c);

/* ---- floating-point control state ------------------------------------------
 * Contexts without fpenv share the thread's state (weft__thread_fpstate,
 * read once); an fpenv context saves its own on the way out and loads it on
 * the way in. Leaving a plain context saves nothing: by the documented rule
 * plain tasks do not change the state across a wait. */
extern WEFT__TLS uint64_t weft__thread_fpstate;
extern WEFT__TLS bool weft__thread_fpstate_set;

static inline uint64_t weft__fp_save(void) {
#if defined(__x86_64__)
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return mxcsr | (uint64_t)cw << 32;
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
#else
    return 0;
#endif
}

static inline void weft__fp_load(uint64_t s) {
#if defined(__x86_64__)
    uint32_t mxcsr = (uint32_t)s;
    uint16_t cw = (uint16_t)(s >> 32);
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
    __asm__ volatile("fldcw %0" ::"m"(cw));
#elif defined(__aarch64__)
    __asm__ volatile("msr fpcr, %0" ::"r"(s));
#else
    (void)s;
#endif
}

static inline void weft__ctx_fpenv_switch(struct weft__ctx *from,
                                          struct weft__ctx *to) {
    if (!(from->fpenv | to->fpenv))
        return;
    if (WEFT__UNLIKELY(!weft__thread_fpstate_set)) {
        weft__thread_fpstate = from->fpenv ? from->fpstate : weft__fp_save();
        weft__thread_fpstate_set = true;
    }
    if (from->fpenv)
        from->fpstate = weft__fp_save();
    weft__fp_load(to->fpenv ? to->fpstate : weft__thread_fpstate);
}

#if !WEFT_CORO_UCONTEXT && defined(__x86_64__)
/* Registers the asm destroys from the compiler's point of view: all of
 * them but rsp and rbp (rbp is restored by hand, as it may be the frame
 * pointer). */
#define WEFT__CTX_CLOBBERS                                                     \
    "rbx", "rcx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", \
        "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",  \
        "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",   \
        "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",   \
        "memory", "cc"

static inline __attribute__((always_inline)) struct weft__ctx *
weft__ctx_jump(struct weft__ctx *from, struct weft__ctx *to) {
    struct weft__ctx *prev, *self;
    /* rax = from, rdx = to. Whoever resumes us jumps to 1: with rax = its
     * own context (our `prev`) and rdx = ours. */
    __asm__ volatile("leaq 1f(%%rip), %%rcx\n\t"
                     "movq %%rsp, 0(%%rax)\n\t"
                     "movq %%rcx, 8(%%rax)\n\t"
                     "movq %%rbp, 16(%%rax)\n\t"
                     "movq 0(%%rdx), %%rsp\n\t"
                     "jmpq *8(%%rdx)\n"
                     "1:\n\t"
                     "movq 16(%%rdx), %%rbp\n\t"
                     : "=a"(prev), "=d"(self)
                     : "0"(from), "1"(to)
                     : WEFT__CTX_CLOBBERS);
    (void)self;
    return prev;
}
#elif !WEFT_CORO_UCONTEXT && defined(__aarch64__)
#define WEFT__CTX_CLOBBERS                                                     \
    "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", \
        "x14", "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23",  \
        "x24", "x25", "x26", "x27", "x28", "x30", "v0", "v1", "v2", "v3",      \
        "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", \
        "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24",  \
        "v25", "v26", "v27", "v28", "v29", "v30", "v31", "memory", "cc"

static inline __attribute__((always_inline)) struct weft__ctx *
weft__ctx_jump(struct weft__ctx *from, struct weft__ctx *to) {
    register struct weft__ctx *x0 __asm__("x0") = from;
    register struct weft__ctx *x1 __asm__("x1") = to;
    /* x0 = from, x1 = to; whoever resumes us arrives at 1: with x0 = its
     * own context and x1 = ours. x29 (the frame pointer) by hand. */
    __asm__ volatile("adr x9, 1f\n\t"
                     "mov x10, sp\n\t"
                     "stp x10, x9, [x0]\n\t"
                     "str x29, [x0, #16]\n\t"
                     "ldp x10, x9, [x1]\n\t"
                     "mov sp, x10\n\t"
                     "br x9\n"
                     "1:\n\t"
                     "ldr x29, [x1, #16]\n\t"
                     : "+r"(x0), "+r"(x1)
                     :
                     : WEFT__CTX_CLOBBERS);
    return x0;
}
#else
struct weft__ctx *weft__ctx_jump_uc(struct weft__ctx *from,
                                    struct weft__ctx *to);
#define weft__ctx_jump weft__ctx_jump_uc
#endif

/* Switch from the running context `from` to `to`. Returns, when something
 * switches back to `from`, the context that did. `fpenv` says whether any
 * context of this thread switches its FP state (callers keep a count, so the
 * common case tests one word they already have in cache). */
static inline __attribute__((always_inline)) struct weft__ctx *
weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to, bool fpenv) {
#ifdef WEFT__ASAN
    __sanitizer_start_switch_fiber(from->dying ? NULL : &from->asan_fake,
                                   to->stack_lo, to->stack_size);
#endif
#ifdef WEFT__TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    /* swapcontext switches the FP environment of every context itself. */
    if (!WEFT_CORO_UCONTEXT && WEFT__UNLIKELY(fpenv))
        weft__ctx_fpenv_switch(from, to);
    struct weft__ctx *prev = weft__ctx_jump(from, to);
#ifdef WEFT__ASAN
    {
        const void *lo;
        size_t size;
        __sanitizer_finish_switch_fiber(from->asan_fake, &lo, &size);
        if (!prev->stack_lo) {
            prev->stack_lo = (void *)lo;
            prev->stack_size = size;
        }
    }
#endif
    return prev;
}

#endif
