/* Internal: asynchronous files (file.c; weft/file.h). */
#ifndef WEFT_FS_INT_H
#define WEFT_FS_INT_H

#include "weft/file.h"

#include "../task/io.h"

struct weft_file {
    int fd;         /* first: the task dump reads it (src/debug/dump.c) */
    uint32_t users; /* tasks inside a call on it: close refuses then */
};

#endif
