/* libFuzzer target: the PROXY protocol parser (weft_proxy_parse, v1 and
 * v2). Checks, besides the sanitizers' findings: a header's length is
 * within the input, the same bytes with anything after them parse the
 * same, and no proper prefix of a header is a header. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weft/web_proxy.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    weft_proxy_info_t info, again;
    int n = weft_proxy_parse(&info, data, size);
    if (n == -EAGAIN || n == -EPROTO)
        return 0;
    if (n <= 0 || (size_t)n > size)
        abort();
    /* The header alone parses to the same length and addresses. */
    if (weft_proxy_parse(&again, data, (size_t)n) != n ||
        again.src_len != info.src_len || again.local != info.local ||
        memcmp(&again.src, &info.src, info.src_len) != 0)
        abort();
    /* A proper prefix is never a whole header. */
    if (weft_proxy_parse(&again, data, (size_t)n - 1) >= 0)
        abort();
    const unsigned char *v;
    for (unsigned t = 0; t < 256; t += 37)
        if (weft_proxy_tlv(&info, t, &v) > (int)info.tlv_len)
            abort();
    return 0;
}
