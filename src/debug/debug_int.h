/* Internal: what the debug module's files share (debug mode, the task
 * dump, symbols and backtraces). */
#ifndef WEFT_DEBUG_INT_H
#define WEFT_DEBUG_INT_H

#include <stdint.h>

#include "../task/task_int.h"
#include "weft/debug.h"

/* What each kind of wait is called (dump.c), indexed by enum
 * weft__wait_kind; the gdb extension reads it too. */
extern const char *const weft__wait_kind_names[];

/* Write "name+0xoff (module+0xoff)" for an address of code into buf: a
 * symbol from the ELF symbol table where libunwind is available (it reads
 * .symtab, so static functions resolve too), else from dladdr. `ret`: the
 * address is a return address (look up the call before it). */
void weft__sym_format(uintptr_t addr, bool ret, char *buf, size_t size);

/* The program counters of t's parked stack, innermost first: up to max,
 * the count returned; -ENOTSUP where this build cannot walk stacks (not
 * x86-64, or built without libunwind), -ENOSPC when called from a task
 * with less than 16 KiB of stack left (libunwind needs it). The task must be suspended (parked
 * or ready, started), never the running one. */
int weft__task_backtrace(const struct weft_task *t, uintptr_t *pcs, int max);

/* The same for the calling thread's own stack, skipping `skip` frames. */
int weft__self_backtrace(uintptr_t *pcs, int max, int skip);

#endif
