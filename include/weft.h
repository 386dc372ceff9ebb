/* weft.h - asyncio for C. The one header users include.
 *
 *   core.h    errors, version, allocator and log hooks
 *   loop.h    the event loop: call_soon / call_later / call_at, run, stop
 *   future.h  futures and weft_await
 *   task.h    tasks, cancellation, deadline scopes, groups, gather, weft_run
 *   exec.h    the executor: thread pools, run_in_executor, to_thread
 */
#ifndef WEFT_H
#define WEFT_H

#include "weft/core.h"
#include "weft/loop.h"
#include "weft/future.h"
#include "weft/task.h"
#include "weft/exec.h"

#endif
