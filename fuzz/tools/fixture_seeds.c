/* Seed corpora for the fuzz targets, from llhttp's fixtures: writes each
 * case's raw message to OUT/request/ or OUT/response/, and the body of
 * each chunked one (what follows its head, behind the chunked target's
 * option byte) to OUT/chunked/. Run by fuzz/run.sh when the fixtures are
 * there.
 *
 * Usage: fixture_seeds FIXTURES_DIR OUT_DIR */
#include <errno.h>
#include <sys/stat.h>

#include "../../tests/llhttp_fixtures.h"

static int write_file(const char *dir, const char *kind, size_t i,
                      const char *p, size_t n) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, kind);
    if (mkdir(path, 0777) < 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof path, "%s/%s/fixture-%03zu", dir, kind, i);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fixture_seeds FIXTURES_DIR OUT_DIR\n");
        return 2;
    }
    struct fixture_set set = {0};
    for (size_t i = 0; i < sizeof fixture_files / sizeof fixture_files[0];
         i++)
        if (!fixtures_load(argv[1], fixture_files[i], &set)) {
            fprintf(stderr, "fixture_seeds: cannot read %s/%s\n", argv[1],
                    fixture_files[i]);
            return 1;
        }
    if (mkdir(argv[2], 0777) < 0 && errno != EEXIST)
        return 1;
    size_t chunked = 0;
    for (size_t i = 0; i < set.n; i++) {
        const struct fixture *f = &set.v[i];
        bool response = !strncmp(f->type, "response", 8);
        if (write_file(argv[2], response ? "response" : "request", i, f->input,
                       f->input_len) < 0)
            return 1;
        /* The chunked body, if weft reads the head. */
        weft_http_field_t fl[128];
        weft_http1_head_t h = {.fields = fl, .max_fields = 128};
        char *copy = malloc(f->input_len + 2);
        if (!copy)
            return 1;
        memcpy(copy + 1, f->input, f->input_len);
        int r = response ? weft_http1_parse_response(&h, copy + 1, f->input_len,
                                                     0, WEFT_HTTP_GET, NULL)
                         : weft_http1_parse_request(&h, copy + 1, f->input_len,
                                                    0, NULL);
        if (r >= 0 && h.framing == WEFT_HTTP1_CHUNKED) {
            copy[r] = response ? 1 : 0; /* the target's option byte */
            if (write_file(argv[2], "chunked", i, copy + r,
                           f->input_len - (size_t)r + 1) < 0)
                return 1;
            chunked++;
        }
        free(copy);
    }
    printf("fixture_seeds: %zu messages, %zu chunked bodies\n", set.n,
           chunked);
    fixtures_free(&set);
    return 0;
}
