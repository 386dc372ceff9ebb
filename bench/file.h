/* file.h - what bench/file.c and its libuv peer (uv_file.c) share. */
#ifndef WEFT_BENCH_FILE_H
#define WEFT_BENCH_FILE_H

#include <stdint.h>

#define FILE_BLOCK 4096

/* The offset of read i (of a fixed-seed sequence): a whole block of a file
 * of `blocks` blocks. */
static inline uint64_t file_offset(uint64_t *seed, uint64_t blocks) {
    return (bench_rand(seed) % blocks) * FILE_BLOCK;
}

/* Each block starts with its own index (a uint64_t): a read is checked by
 * its first 8 bytes. */
static inline int file_block_ok(const void *buf, uint64_t off) {
    uint64_t v;
    memcpy(&v, buf, sizeof v);
    return v == off / FILE_BLOCK;
}

/* libuv: n reads of FILE_BLOCK bytes at file_offset()s with uv_fs_read,
 * `inflight` at any time. Returns the number of reads that failed the
 * check (0), or -1. */
int uv_file_reads(const char *path, uint64_t blocks, uint64_t n,
                  unsigned inflight);

#endif
