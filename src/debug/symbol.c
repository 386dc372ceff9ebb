/* Symbols and stack walks for the task dump and debug mode's messages.
 *
 * Parked stacks are walked with libunwind from the three registers a
 * parked task saves (src/coro/ctx.h: the stack pointer, the frame pointer
 * and the resume address): libunwind follows the DWARF call-frame
 * information (.eh_frame) that every x86-64 object carries, so it walks
 * through code built without frame pointers (weft's own, by default, and
 * most programs'), where a frame-pointer walk would stop at the first
 * such frame. docs/design.md, "Seeing inside", has the argument. Nothing
 * here runs unless someone asks for a dump or debug mode reports.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "debug_int.h"

#if defined(WEFT_HAVE_LIBUNWIND) && defined(__x86_64__)
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#define WEFT__UNWIND 1
#endif

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#ifdef WEFT__UNWIND
/* libunwind wants several KiB of stack (its context and cursor alone are
 * 2 KiB, then its DWARF parsing). The dump and the reports may run in a
 * task with a small stack: there they do without it. */
#define UNWIND_ROOM (16 * 1024)

static bool stack_room(void) {
    const struct weft_task *t = weft__task_current();
    if (!t)
        return true; /* the thread's own stack */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    return sp > (uintptr_t)t->stack.lo + UNWIND_ROOM;
}

/* A cursor whose innermost frame is at pc, with the given stack and frame
 * pointers; the other registers are those of the caller (any values do:
 * the resume point of a parked task clobbers them all, and the frames
 * above find theirs saved on the stack). */
static int cursor_at(unw_cursor_t *c, unw_context_t *uc, uintptr_t pc,
                     uintptr_t sp, uintptr_t fp, int flags) {
    if (unw_getcontext(uc) != 0)
        return -1;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_RBP] = (greg_t)fp;
    return unw_init_local2(c, uc, flags) == 0 ? 0 : -1;
}
#endif

static bool sym_name(uintptr_t addr, char *name, size_t size,
                     uintptr_t *off) {
#ifdef WEFT__UNWIND
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t o = 0;
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (!stack_room())
        goto dl;
    /* As a signal frame: libunwind then looks up addr itself, not the
     * byte before it (our caller has already decided which it wants). */
    if (cursor_at(&c, &uc, addr, sp, sp, UNW_INIT_SIGNAL_FRAME) == 0 &&
        unw_get_proc_name(&c, name, size, &o) == 0) {
        *off = (uintptr_t)o;
        return true;
    }
dl:;
#endif
    Dl_info di;
    if (dladdr((void *)addr, &di) && di.dli_sname) {
        snprintf(name, size, "%s", di.dli_sname);
        *off = addr - (uintptr_t)di.dli_saddr;
        return true;
    }
    return false;
}

void weft__sym_format(uintptr_t addr, bool ret, char *buf, size_t size) {
    if (!addr) {
        snprintf(buf, size, "?");
        return;
    }
    /* A return address may be one past the end of its function (a call
     * to a function that does not return): look the call itself up. */
    uintptr_t look = ret ? addr - 1 : addr;
    char name[256];
    uintptr_t off = 0;
    bool named = sym_name(look, name, sizeof name, &off);
    off += addr - look;
    Dl_info di;
    bool mod = dladdr((void *)look, &di) && di.dli_fname;
    const char *m = mod ? base_name(di.dli_fname) : "";
    uintptr_t moff = mod ? addr - (uintptr_t)di.dli_fbase : 0;
    char plus[24] = "";
    if (off)
        snprintf(plus, sizeof plus, "+0x%zx", (size_t)off);
    if (named && mod && *m)
        snprintf(buf, size, "%s%s (%s+0x%zx)", name, plus, m, (size_t)moff);
    else if (named)
        snprintf(buf, size, "%s%s", name, plus);
    else if (mod && *m)
        snprintf(buf, size, "%s+0x%zx", m, (size_t)moff);
    else
        snprintf(buf, size, "0x%zx", (size_t)addr);
}

#ifdef WEFT__UNWIND
static int walk(unw_cursor_t *c, uintptr_t *pcs, int max, uintptr_t lo,
                uintptr_t hi, int skip) {
    int n = 0;
    do {
        unw_word_t ip = 0, sp = 0;
        if (unw_get_reg(c, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        unw_get_reg(c, UNW_REG_SP, &sp);
        /* A parked stack ends at its trampoline, whose call-frame
         * information says so; the bounds only guard against a stack
         * that is not what it should be. */
        if (hi && (sp < lo || sp > hi))
            break;
        if (skip > 0)
            skip--;
        else
            pcs[n++] = (uintptr_t)ip;
    } while (n < max && unw_step(c) > 0);
    return n;
}
#endif

int weft__task_backtrace(const struct weft_task *t, uintptr_t *pcs, int max) {
#if defined(WEFT__UNWIND) && !WEFT_CORO_UCONTEXT
    unw_context_t uc;
    unw_cursor_t c;
    if (max <= 0)
        return 0;
    if (!stack_room())
        return -ENOSPC;
    if (cursor_at(&c, &uc, (uintptr_t)t->ctx.pc, (uintptr_t)t->ctx.sp,
                  (uintptr_t)t->ctx.fp, 0) != 0)
        return -ENOTSUP;
    return walk(&c, pcs, max, (uintptr_t)t->stack.lo,
                (uintptr_t)t->stack.hi, 0);
#elif defined(WEFT__UNWIND)
    /* ucontext: swapcontext saved every register of the parked task. */
    unw_cursor_t c;
    if (!stack_room())
        return -ENOSPC;
    if (max <= 0 || !t->ctx.uc ||
        unw_init_local(&c, (unw_context_t *)t->ctx.uc) != 0)
        return -ENOTSUP;
    return walk(&c, pcs, max, (uintptr_t)t->stack.lo,
                (uintptr_t)t->stack.hi, 0);
#else
    (void)t;
    (void)pcs;
    (void)max;
    return -ENOTSUP;
#endif
}

int weft__self_backtrace(uintptr_t *pcs, int max, int skip) {
#ifdef WEFT__UNWIND
    unw_context_t uc;
    unw_cursor_t c;
    if (!stack_room())
        return -ENOSPC;
    if (max <= 0 || unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
        return -ENOTSUP;
    return walk(&c, pcs, max, 0, 0, skip + 1);
#else
    (void)pcs;
    (void)max;
    (void)skip;
    return -ENOTSUP;
#endif
}
