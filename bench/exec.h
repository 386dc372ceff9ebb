/* exec.h - what bench/exec.c and its libuv peer (uv_exec.c) share. */
#ifndef WEFT_BENCH_EXEC_H
#define WEFT_BENCH_EXEC_H

#include <stdint.h>

/* Round trips are timed one by one after this many untimed ones (the
 * pool's threads start, caches warm up). */
#define EXEC_WARMUP 2000

struct exec_result {
    uint64_t jobs;     /* completed and checked */
    uint64_t total_ns; /* first submit to last completion (timed part) */
    uint64_t p50_ns, p99_ns, max_ns; /* round trips only */
};

/* Fill p50/p99/max from n round-trip times (sorts lat in place). */
void exec_percentiles(uint64_t *lat, uint64_t n, struct exec_result *out);

/* libuv: n sequential round trips of an empty uv_queue_work. */
int uv_exec_roundtrip(uint64_t n, struct exec_result *out);
/* libuv: n empty jobs, `inflight` queued at any time (each completion
 * queues the next). */
int uv_exec_throughput(uint64_t n, unsigned inflight,
                       struct exec_result *out);

#endif
