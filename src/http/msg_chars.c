/* The character class table of the message helpers (msg_int.h), computed
 * by the compiler from the grammars' ranges. */
#include "msg_int.h"

#define CC_RANGE(c, a, b) ((c) >= (a) && (c) <= (b))
#define CC_ALPHA(c) (CC_RANGE(c, 'a', 'z') || CC_RANGE(c, 'A', 'Z'))
#define CC_DIGIT(c) CC_RANGE(c, '0', '9')
#define CC_HEX(c) (CC_DIGIT(c) || CC_RANGE(c, 'a', 'f') || CC_RANGE(c, 'A', 'F'))
#define CC_UNRES(c)                                                            \
    (CC_ALPHA(c) || CC_DIGIT(c) || (c) == '-' || (c) == '.' || (c) == '_' ||   \
     (c) == '~')
#define CC_SUB(c)                                                              \
    ((c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || (c) == '(' ||   \
     (c) == ')' || (c) == '*' || (c) == '+' || (c) == ',' || (c) == ';' ||     \
     (c) == '=')
/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
#define CC_TCHAR(c)                                                            \
    (CC_ALPHA(c) || CC_DIGIT(c) || (c) == '!' || (c) == '#' || (c) == '$' ||   \
     (c) == '%' || (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' ||    \
     (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' ||     \
     (c) == '|' || (c) == '~')
#define CC_LOOSE(c)                                                            \
    ((c) == '"' || (c) == '<' || (c) == '>' || (c) == '\\' || (c) == '^' ||   \
     (c) == '`' || (c) == '{' || (c) == '|' || (c) == '}' || (c) == '[' ||     \
     (c) == ']' || (c) >= 0x80)
/* cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
#define CC_COOKIE(c)                                                           \
    ((c) == 0x21 || CC_RANGE(c, 0x23, 0x2B) || CC_RANGE(c, 0x2D, 0x3A) ||     \
     CC_RANGE(c, 0x3C, 0x5B) || CC_RANGE(c, 0x5D, 0x7E))
#define CC_FORM(c)                                                             \
    (CC_ALPHA(c) || CC_DIGIT(c) || (c) == '*' || (c) == '-' || (c) == '.' ||   \
     (c) == '_')
#define CC_SCHEME(c)                                                           \
    (CC_ALPHA(c) || CC_DIGIT(c) || (c) == '+' || (c) == '-' || (c) == '.')

#define CC_PCHAR(c) (CC_UNRES(c) || CC_SUB(c) || (c) == ':' || (c) == '@')
#define CC_USERINFO(c) (CC_UNRES(c) || CC_SUB(c) || (c) == ':' || CC_LOOSE(c))
#define CC_PATH(c) (CC_PCHAR(c) || (c) == '/' || CC_LOOSE(c))
#define CC_QUERY(c) (CC_PATH(c) || (c) == '?')
#define CC_URLDELIM(c) ((c) == ':' || (c) == '/' || (c) == '?' || (c) == '#')

#define CC(c)                                                                  \
    (uint16_t)((CC_ALPHA(c) ? WEFT__C_ALPHA : 0) |                             \
               (CC_DIGIT(c) ? WEFT__C_DIGIT : 0) |                             \
               (CC_HEX(c) ? WEFT__C_HEX : 0) |                                 \
               (CC_UNRES(c) ? WEFT__C_UNRESERVED : 0) |                        \
               (CC_SUB(c) ? WEFT__C_SUBDELIM : 0) |                            \
               (CC_TCHAR(c) ? WEFT__C_TCHAR : 0) |                             \
               (CC_LOOSE(c) ? WEFT__C_LOOSE : 0) |                             \
               (CC_COOKIE(c) ? WEFT__C_COOKIE : 0) |                           \
               (CC_FORM(c) ? WEFT__C_FORM : 0) |                               \
               (CC_SCHEME(c) ? WEFT__C_SCHEME : 0) |                           \
               (CC_USERINFO(c) ? WEFT__C_USERINFO : 0) |                       \
               (CC_PATH(c) ? WEFT__C_PATH : 0) |                               \
               (CC_QUERY(c) ? WEFT__C_QUERY : 0) |                             \
               (CC_URLDELIM(c) ? WEFT__C_URLDELIM : 0))
#define CC4(i) CC(i), CC((i) + 1), CC((i) + 2), CC((i) + 3)
#define CC16(i) CC4(i), CC4((i) + 4), CC4((i) + 8), CC4((i) + 12)
#define CC64(i) CC16(i), CC16((i) + 16), CC16((i) + 32), CC16((i) + 48)

const uint16_t weft__http_cc[256] = {CC64(0), CC64(64), CC64(128), CC64(192)};

const char *weft__quoted_end(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\' && ++p == end)
            return NULL;
    }
    return NULL;
}
