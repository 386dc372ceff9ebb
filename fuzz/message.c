/* Fuzz target: whole messages, pipelined, as a server or client reads
 * them (tests/http1_drive.h): heads, framing and bodies, until an error,
 * an upgrade or a message that closes the connection.
 *
 * The transcript of what was parsed must be the same when the input
 * arrives in pieces (sizes taken from the input's hash), when heads are
 * parsed from scratch every time instead of with prev_len, and when
 * bodies are read in place or into a small buffer.
 *
 * fuzz-seeds: request response */
#include "../tests/http1_drive.h"
#include "fuzz_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint64_t hh = fuzz_hash(data, size);
    unsigned flags = DRIVE_DETAIL;
    if (hh & 1)
        flags |= DRIVE_RESPONSE | (hh & 2 ? DRIVE_HEAD_REQ : 0);
    if (hh & 4)
        flags |= DRIVE_FINISH;
    struct drive_opts o = {.flags = flags,
                           .limits = hh & 8 ? &fuzz_small_limits : NULL};
    const char *in = (const char *)data;
    struct drive_text whole = {0};
    drive(in, size, &o, &whole);

    size_t splits[4];
    for (int i = 0; i < 4; i++)
        splits[i] = 1 + (hh >> (8 + 8 * i)) % 97;
    static const unsigned modes[] = {0, DRIVE_NO_PREV, DRIVE_COPY,
                                     DRIVE_DECODE};
    struct drive_opts s = o;
    s.flags |= modes[(hh >> 4) % 4];
    s.splits = splits;
    s.nsplits = 1 + (hh >> 6) % 4;
    struct drive_text split = {0};
    drive(in, size, &s, &split);
    CHECK(strcmp(whole.s, split.s) == 0);
    drive_free(&whole);
    drive_free(&split);
    return 0;
}
