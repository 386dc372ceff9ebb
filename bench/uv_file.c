/* uv_file.c - the libuv peer of bench/file.c, written against libuv's
 * public API: uv_fs_open, then `inflight` uv_fs_read requests at random
 * block offsets, each completion checking its block and starting the next;
 * uv_fs_close. libuv before 1.45 (Debian bookworm has 1.44) runs every
 * uv_fs_* call on its thread pool (UV_THREADPOOL_SIZE, set by file.c). */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "bench_util.h"
#include "file.h"

struct uv_reader {
    uv_fs_t req;
    uv_buf_t buf;
    uint64_t off;
    struct uv_fctx *c;
};

struct uv_fctx {
    uv_loop_t *loop;
    uv_file fd;
    uint64_t blocks, n, started, bad, seed;
};

static void on_read(uv_fs_t *req);

static void start(struct uv_reader *r) {
    struct uv_fctx *c = r->c;
    r->off = file_offset(&c->seed, c->blocks);
    c->started++;
    if (uv_fs_read(c->loop, &r->req, c->fd, &r->buf, 1, (int64_t)r->off,
                   on_read) != 0)
        c->bad++;
}

static void on_read(uv_fs_t *req) {
    struct uv_reader *r = req->data;
    struct uv_fctx *c = r->c;
    if (req->result != FILE_BLOCK || !file_block_ok(r->buf.base, r->off))
        c->bad++;
    uv_fs_req_cleanup(req);
    req->data = r;
    if (c->started < c->n)
        start(r);
}

int uv_file_reads(const char *path, uint64_t blocks, uint64_t n,
                  unsigned inflight) {
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return -1;
    uv_fs_t open_req;
    int fd = uv_fs_open(&loop, &open_req, path, UV_FS_O_RDONLY, 0, NULL);
    uv_fs_req_cleanup(&open_req);
    if (fd < 0)
        return -1;
    struct uv_fctx c = {&loop, fd, blocks, n, 0, 0, 0x5eed};
    struct uv_reader *r = calloc(inflight, sizeof *r);
    char *mem = malloc((size_t)inflight * FILE_BLOCK);
    if (!r || !mem)
        return -1;
    for (unsigned i = 0; i < inflight && c.started < n; i++) {
        r[i].c = &c;
        r[i].buf = uv_buf_init(mem + (size_t)i * FILE_BLOCK, FILE_BLOCK);
        r[i].req.data = &r[i];
        start(&r[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_fs_t close_req;
    uv_fs_close(&loop, &close_req, fd, NULL);
    uv_fs_req_cleanup(&close_req);
    uv_loop_close(&loop);
    free(r);
    free(mem);
    return (int)c.bad;
}
