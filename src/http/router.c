/* The router: a tree of path segments with a linear-time pattern matcher.
 *
 * A route's path is split into segments at '/' (never inside braces). A
 * segment without variables is a literal edge of the tree; one with
 * variables is compiled, literal text and variable patterns alike, into a
 * sequence of atoms (a set of bytes with a repeat range, {min, max}), and
 * a variable is a range of those atoms. Matching a segment against such a
 * sequence is a dynamic programme over (atom, position), O(atoms x length)
 * whatever the pattern or the input: no backtracking regex whose time an
 * attacker could blow up with a crafted path. The variables' values are
 * then read off the table greedily, as a backtracking regex would choose
 * them ("{base}.{ext}" on "a.b.c" gives "a.b" and "c").
 *
 * Patterns outside the atoms' language (groups, alternation, anchors) are
 * compiled with POSIX regcomp and must fill their segment alone; glibc's
 * regexec is a backtracking-free DFA for most ERE but not guaranteed so,
 * which is one more reason the common classes have their own matcher.
 *
 * Equal segment patterns of different routes share a tree node (their key
 * is the pattern with the variable names removed), so a lookup costs one
 * pass over the path plus, at each level, the alternatives that fail. */
#include <regex.h>
#include <string.h>

#include "../core/common.h"
#include "router.h"

#define INF_REPEAT UINT32_MAX
#define STACK_DP 4096 /* bytes of matcher table kept on the stack */

struct wr_atom {
    uint64_t set[4]; /* bytes that match, one bit each */
    uint32_t min, max;
};

struct wr_pat {
    struct wr_atom *atoms;
    uint32_t natoms;
    regex_t *re; /* a POSIX pattern instead of atoms */
};

/* ---- patterns ------------------------------------------------------------------ */

static inline bool in_set(const struct wr_atom *a, unsigned char c) {
    return (a->set[c >> 6] >> (c & 63)) & 1;
}

static inline void set_add(struct wr_atom *a, unsigned char c) {
    a->set[c >> 6] |= UINT64_C(1) << (c & 63);
}

static void set_range(struct wr_atom *a, unsigned lo, unsigned hi) {
    for (unsigned c = lo; c <= hi; c++)
        set_add(a, (unsigned char)c);
}

static void set_invert(struct wr_atom *a) {
    for (int i = 0; i < 4; i++)
        a->set[i] = ~a->set[i];
}

/* \d \w \s and their complements into a (false if c is none of them). */
static bool class_escape(struct wr_atom *a, char c) {
    struct wr_atom t = {{0}, 0, 0};
    switch (c | 0x20) {
    case 'd':
        set_range(&t, '0', '9');
        break;
    case 'w':
        set_range(&t, '0', '9');
        set_range(&t, 'a', 'z');
        set_range(&t, 'A', 'Z');
        set_add(&t, '_');
        break;
    case 's':
        set_add(&t, ' ');
        set_range(&t, '\t', '\r');
        break;
    default:
        return false;
    }
    if (c >= 'A' && c <= 'Z')
        set_invert(&t);
    for (int i = 0; i < 4; i++)
        a->set[i] |= t.set[i];
    return true;
}

/* A bracket class starting after '['; returns the index after ']', or 0
 * if it is malformed or uses what we do not support ([:alpha:]). */
static size_t parse_class(const char *s, size_t i, size_t n,
                          struct wr_atom *a) {
    bool neg = i < n && s[i] == '^';
    if (neg)
        i++;
    bool first = true;
    while (i < n && (s[i] != ']' || first)) {
        first = false;
        unsigned char lo = (unsigned char)s[i];
        if (lo == '[' && i + 1 < n && (s[i + 1] == ':' || s[i + 1] == '=' ||
                                       s[i + 1] == '.'))
            return 0;
        if (lo == '\\') {
            if (++i >= n)
                return 0;
            if (class_escape(a, s[i])) {
                i++;
                continue;
            }
            lo = (unsigned char)s[i];
        }
        i++;
        if (i + 1 < n && s[i] == '-' && s[i + 1] != ']') {
            unsigned char hi = (unsigned char)s[i + 1];
            i += 2;
            if (hi == '\\') {
                if (i >= n)
                    return 0;
                hi = (unsigned char)s[i++];
            }
            if (hi < lo)
                return 0;
            set_range(a, lo, hi);
        } else {
            set_add(a, lo);
        }
    }
    if (i >= n)
        return 0;
    if (neg)
        set_invert(a);
    return i + 1;
}

static size_t parse_uint(const char *s, size_t i, size_t n, uint32_t *v) {
    size_t start = i;
    uint64_t x = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && x < 100000)
        x = x * 10 + (uint64_t)(s[i++] - '0');
    if (i == start || x >= 100000)
        return 0;
    *v = (uint32_t)x;
    return i;
}

/* A quantifier at s[i] for atom a; returns the index after it (i if there
 * is none), or 0 if malformed. */
static size_t parse_quant(const char *s, size_t i, size_t n,
                          struct wr_atom *a) {
    a->min = a->max = 1;
    if (i >= n)
        return i;
    switch (s[i]) {
    case '*':
        a->min = 0, a->max = INF_REPEAT;
        return i + 1;
    case '+':
        a->max = INF_REPEAT;
        return i + 1;
    case '?':
        a->min = 0;
        return i + 1;
    case '{':
        break;
    default:
        return i;
    }
    i = parse_uint(s, i + 1, n, &a->min);
    if (!i || i >= n)
        return 0;
    a->max = a->min;
    if (s[i] == ',') {
        a->max = INF_REPEAT;
        if (i + 1 < n && s[i + 1] != '}') {
            i = parse_uint(s, i + 1, n, &a->max);
            if (!i || a->max < a->min)
                return 0;
        } else {
            i++;
        }
    }
    return i < n && s[i] == '}' ? i + 1 : 0;
}

/* Append the atoms of pattern s[0, n) to *v (growing it). Returns 0,
 * -ENOTSUP (outside the atoms' language: use regcomp), -EINVAL
 * (malformed), -ENOMEM. */
static int parse_atoms(const char *s, size_t n, struct wr_atom **v,
                       uint32_t *nv) {
    size_t i = 0;
    while (i < n) {
        struct wr_atom a = {{0}, 1, 1};
        char c = s[i];
        if (c == '(' || c == ')' || c == '|' || c == '^' || c == '$')
            return -ENOTSUP;
        if (c == '*' || c == '+' || c == '?' || c == '{' || c == '}')
            return -EINVAL; /* a quantifier with nothing before it */
        if (c == '.') {
            set_invert(&a);
            i++;
        } else if (c == '[') {
            i = parse_class(s, i + 1, n, &a);
            if (!i)
                return -ENOTSUP;
        } else if (c == '\\') {
            if (i + 1 >= n)
                return -EINVAL;
            if (!class_escape(&a, s[i + 1])) {
                if ((s[i + 1] >= 'a' && s[i + 1] <= 'z') ||
                    (s[i + 1] >= 'A' && s[i + 1] <= 'Z') ||
                    (s[i + 1] >= '0' && s[i + 1] <= '9'))
                    return -ENOTSUP; /* \b, \1 ...: regcomp's business */
                set_add(&a, (unsigned char)s[i + 1]);
            }
            i += 2;
        } else {
            set_add(&a, (unsigned char)c);
            i++;
        }
        size_t j = parse_quant(s, i, n, &a);
        if (!j)
            return -EINVAL;
        if (j < n && (s[j] == '?' || s[j] == '+') && j > i)
            return -ENOTSUP; /* lazy or possessive */
        i = j;
        struct wr_atom *nvp = weft__realloc(*v, (*nv + 1) * sizeof **v);
        if (!nvp)
            return -ENOMEM;
        *v = nvp;
        (*v)[(*nv)++] = a;
    }
    return 0;
}

static bool atoms_slash(const struct wr_atom *a, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (a[i].max > 0 && in_set(&a[i], '/'))
            return true;
    return false;
}

int wr_pat_compile(const char *src, size_t len, struct wr_pat **out,
                   bool *slash) {
    *out = NULL;
    *slash = false;
    struct wr_pat *p = weft__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    if (!src || len == 0) {
        src = "[^/]+";
        len = 5;
    }
    int err = parse_atoms(src, len, &p->atoms, &p->natoms);
    if (err == -ENOTSUP) {
        weft__free(p->atoms);
        p->atoms = NULL;
        p->natoms = 0;
        char *re_src = weft__malloc(len + 5);
        p->re = weft__malloc(sizeof *p->re);
        if (!re_src || !p->re) {
            weft__free(re_src);
            wr_pat_free(p);
            return -ENOMEM;
        }
        memcpy(re_src, "^(", 2);
        memcpy(re_src + 2, src, len);
        memcpy(re_src + 2 + len, ")$", 3);
        int rc = regcomp(p->re, re_src, REG_EXTENDED | REG_NOSUB);
        weft__free(re_src);
        if (rc != 0) {
            weft__free(p->re);
            p->re = NULL;
            wr_pat_free(p);
            weft__log(WEFT_LOG_WARN, "weft_web_route: pattern '%.*s' does "
                                     "not compile",
                      (int)len, src);
            return -EINVAL;
        }
        *out = p;
        return 0;
    }
    if (err) {
        wr_pat_free(p);
        if (err == -EINVAL)
            weft__log(WEFT_LOG_WARN, "weft_web_route: malformed pattern "
                                     "'%.*s'",
                      (int)len, src);
        return err;
    }
    *slash = atoms_slash(p->atoms, p->natoms);
    *out = p;
    return 0;
}

void wr_pat_free(struct wr_pat *p) {
    if (!p)
        return;
    if (p->re) {
        regfree(p->re);
        weft__free(p->re);
    }
    weft__free(p->atoms);
    weft__free(p);
}

/* ---- the matcher ------------------------------------------------------------------ */

/* ok[i * (n + 1) + p] = 1 when atoms i.. match s[p, n) exactly, filled
 * from the last atom back: O(natoms x n) time, whatever the atoms. cnt
 * has n + 2 slots (prefix sums of the row below). */
static void dp_fill(const struct wr_atom *a, size_t na, const char *s,
                    size_t n, uint8_t *ok, uint32_t *cnt) {
    size_t w = n + 1;
    memset(ok + na * w, 0, w);
    ok[na * w + n] = 1;
    for (size_t i = na; i-- > 0;) {
        const uint8_t *next = ok + (i + 1) * w;
        uint8_t *row = ok + i * w;
        cnt[0] = 0;
        for (size_t q = 0; q <= n; q++)
            cnt[q + 1] = cnt[q] + next[q];
        size_t run = 0; /* bytes matching a[i] from p on */
        for (size_t p = w; p-- > 0;) {
            run = p < n && in_set(&a[i], (unsigned char)s[p]) ? run + 1 : 0;
            size_t lo = p + a[i].min;
            size_t hi = p + (run < a[i].max ? run : a[i].max);
            row[p] = lo <= hi && cnt[hi + 1] - cnt[lo] > 0;
        }
    }
}

/* Run the programme for s[0, n) and, if it matches, store in pos[i] where
 * atom i starts (pos[na] = n), each atom taking as much as it can. pos may
 * be NULL. Returns 1, 0, or -ENOMEM. */
static int dp_match(const struct wr_atom *a, size_t na, const char *s,
                    size_t n, size_t *pos) {
    size_t need = (na + 1) * (n + 1) + (n + 2) * sizeof(uint32_t) + 4;
    uint32_t stack[STACK_DP / sizeof(uint32_t)];
    void *mem = need <= sizeof stack ? stack : weft__malloc(need);
    if (!mem)
        return -ENOMEM;
    uint32_t *cnt = mem;
    uint8_t *ok = (uint8_t *)(cnt + n + 2);
    dp_fill(a, na, s, n, ok, cnt);
    int r = ok[0];
    if (r && pos) {
        size_t p = 0, w = n + 1;
        for (size_t i = 0; i < na; i++) {
            pos[i] = p;
            size_t run = 0;
            while (p + run < n && run < a[i].max &&
                   in_set(&a[i], (unsigned char)s[p + run]))
                run++;
            while (!ok[(i + 1) * w + p + run])
                run--; /* stops at min at the latest: ok[0] said so */
            p += run;
        }
        pos[na] = p;
    }
    if (mem != stack)
        weft__free(mem);
    return r;
}

/* One atom: the common "{id:\d+}" and the default "[^/]+". */
static bool one_atom(const struct wr_atom *a, const char *s, size_t n) {
    if (n < a->min || n > a->max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!in_set(a, (unsigned char)s[i]))
            return false;
    return true;
}

static bool posix_match(const regex_t *re, const char *s, size_t n) {
    regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)n};
    return regexec(re, s, 1, &m, REG_STARTEND) == 0;
}

bool wr_pat_match(const struct wr_pat *p, const char *s, size_t n) {
    if (p->re)
        return posix_match(p->re, s, n);
    if (p->natoms == 1)
        return one_atom(p->atoms, s, n);
    return dp_match(p->atoms, p->natoms, s, n, NULL) == 1;
}

/* ---- compiled segments --------------------------------------------------------- */

/* A segment with variables: literal bytes and the variables' patterns in
 * one atom sequence; variable k spans atoms [cap[k].first, cap[k].end). */
struct seg {
    char *key; /* the segment's text without variable names */
    size_t keylen;
    struct wr_atom *atoms;
    uint32_t natoms, ncaps;
    struct {
        uint32_t first, end;
    } cap[WR_MAX_VARS];
    struct wr_pat *re; /* one POSIX-pattern variable, alone in its segment */
    bool tail;         /* can match '/': takes the rest of the path */
    bool whole;        /* one variable, nothing else: no positions needed */
};

static void seg_free(struct seg *g) {
    if (!g)
        return;
    wr_pat_free(g->re);
    weft__free(g->atoms);
    weft__free(g->key);
    weft__free(g);
}

/* Match s[0, n) against g, appending the variables to m. 1, 0, -ENOMEM. */
static int seg_match(const struct seg *g, const char *s, size_t n,
                     struct wr_match *m, size_t nv) {
    if (g->re) {
        if (!posix_match(g->re->re, s, n))
            return 0;
        m->vars[nv] = (struct wr_name){s, n};
        return 1;
    }
    if (g->whole && g->natoms == 1) {
        if (!one_atom(g->atoms, s, n))
            return 0;
        m->vars[nv] = (struct wr_name){s, n};
        return 1;
    }
    size_t pos_stack[64];
    size_t *pos = g->natoms < 64 ? pos_stack
                                 : weft__malloc((g->natoms + 1) * sizeof *pos);
    if (!pos)
        return -ENOMEM;
    int r = dp_match(g->atoms, g->natoms, s, n, pos);
    if (r == 1)
        for (uint32_t k = 0; k < g->ncaps; k++) {
            size_t a = pos[g->cap[k].first], b = pos[g->cap[k].end];
            m->vars[nv + k] = (struct wr_name){s + a, b - a};
        }
    if (pos != pos_stack)
        weft__free(pos);
    return r;
}

static int lit_atom(struct seg *g, unsigned char c) {
    struct wr_atom *v = weft__realloc(g->atoms, (g->natoms + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    g->atoms = v;
    v[g->natoms] = (struct wr_atom){{0}, 1, 1};
    set_add(&v[g->natoms++], c);
    return 0;
}

static bool name_ok(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* The end of the variable that opens at s[i] == '{': the index of its
 * '}' (braces nest, for "{id:\d{3}}"), or 0. */
static size_t var_end(const char *s, size_t i, size_t n) {
    int depth = 0;
    for (; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == '{')
            depth++;
        else if (s[i] == '}' && --depth == 0)
            return i;
    }
    return 0;
}

static int key_append(struct seg *g, const char *p, size_t n) {
    char *k = weft__realloc(g->key, g->keylen + n + 1);
    if (!k)
        return -ENOMEM;
    memcpy(k + g->keylen, p, n);
    g->keylen += n;
    k[g->keylen] = '\0';
    g->key = k;
    return 0;
}

/* Compile segment s[0, n), which has at least one variable. Names go to
 * names[*nvars ...]. */
static int seg_compile(const char *s, size_t n, struct seg **out,
                       struct wr_name *names, size_t *nvars) {
    struct seg *g = weft__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    int err = 0;
    size_t i = 0;
    while (i < n && !err) {
        if (s[i] != '{') {
            size_t j = i;
            while (j < n && s[j] != '{')
                j++;
            for (size_t k = i; k < j && !err; k++)
                err = lit_atom(g, (unsigned char)s[k]);
            if (!err)
                err = key_append(g, s + i, j - i);
            i = j;
            continue;
        }
        size_t e = var_end(s, i, n);
        if (!e) {
            weft__log(WEFT_LOG_WARN, "weft_web_route: unbalanced '{' in "
                                     "'%.*s'",
                      (int)n, s);
            err = -EINVAL;
            break;
        }
        const char *name = s + i + 1;
        const char *colon = memchr(name, ':', e - i - 1);
        size_t nlen = colon ? (size_t)(colon - name) : e - i - 1;
        const char *pat = colon ? colon + 1 : NULL;
        size_t plen = colon ? (size_t)(s + e - pat) : 0;
        if (!name_ok(name, nlen) || *nvars >= WR_MAX_VARS ||
            g->ncaps >= WR_MAX_VARS) {
            weft__log(WEFT_LOG_WARN, "weft_web_route: bad variable '{%.*s}' "
                                     "(a name of letters, digits and '_', "
                                     "at most %d variables)",
                      (int)(e - i - 1), name, WR_MAX_VARS);
            err = -EINVAL;
            break;
        }
        for (size_t k = 0; k < *nvars; k++)
            if (names[k].len == nlen && !memcmp(names[k].ptr, name, nlen)) {
                weft__log(WEFT_LOG_WARN, "weft_web_route: variable '%.*s' "
                                         "twice",
                          (int)nlen, name);
                err = -EINVAL;
            }
        if (err)
            break;
        names[(*nvars)++] = (struct wr_name){name, nlen};
        uint32_t first = g->natoms;
        err = parse_atoms(pat ? pat : "[^/]+", pat ? plen : 5, &g->atoms,
                          &g->natoms);
        if (err == -ENOTSUP) {
            /* A POSIX pattern: alone in its segment. */
            if (i != 0 || e + 1 != n) {
                weft__log(WEFT_LOG_WARN, "weft_web_route: pattern '%.*s' "
                                         "needs regcomp and must fill its "
                                         "segment alone",
                          (int)plen, pat);
                err = -EINVAL;
                break;
            }
            bool slash;
            err = wr_pat_compile(pat, plen, &g->re, &slash);
            if (!err)
                err = key_append(g, "{:", 2);
            if (!err)
                err = key_append(g, pat, plen);
            if (!err)
                err = key_append(g, "}", 1);
            g->ncaps = 1;
            i = e + 1;
            continue;
        }
        if (err == -EINVAL)
            weft__log(WEFT_LOG_WARN, "weft_web_route: malformed pattern "
                                     "'%.*s'",
                      (int)plen, pat);
        if (err)
            break;
        g->cap[g->ncaps].first = first;
        g->cap[g->ncaps].end = g->natoms;
        g->ncaps++;
        err = key_append(g, "{:", 2);
        if (!err && pat)
            err = key_append(g, pat, plen);
        if (!err)
            err = key_append(g, "}", 1);
        i = e + 1;
    }
    if (err) {
        seg_free(g);
        return err;
    }
    g->tail = !g->re && atoms_slash(g->atoms, g->natoms);
    g->whole = g->ncaps == 1 && (g->re || (g->cap[0].first == 0 &&
                                           g->cap[0].end == g->natoms));
    *out = g;
    return 0;
}

/* ---- the tree -------------------------------------------------------------------- */

struct node;

struct edge_lit {
    char *text;
    size_t len;
    struct node *child;
};

struct edge_dyn {
    struct seg *seg;
    struct node *child;
};

struct node {
    struct edge_lit *lits;
    size_t nlits;
    struct edge_dyn *dyns; /* variable segments, in the order added */
    size_t ndyns;
    struct edge_dyn *tails; /* tails, in the order added */
    size_t ntails;
    struct wr_route **routes; /* routes ending here */
    size_t nroutes;
};

struct wr_router {
    struct node root;
};

static void node_clear(struct node *nd) {
    for (size_t i = 0; i < nd->nlits; i++) {
        node_clear(nd->lits[i].child);
        weft__free(nd->lits[i].child);
        weft__free(nd->lits[i].text);
    }
    for (size_t i = 0; i < nd->ndyns; i++) {
        node_clear(nd->dyns[i].child);
        weft__free(nd->dyns[i].child);
        seg_free(nd->dyns[i].seg);
    }
    for (size_t i = 0; i < nd->ntails; i++) {
        node_clear(nd->tails[i].child);
        weft__free(nd->tails[i].child);
        seg_free(nd->tails[i].seg);
    }
    weft__free(nd->lits);
    weft__free(nd->dyns);
    weft__free(nd->tails);
    weft__free(nd->routes);
}

int wr_router_new(struct wr_router **out) {
    *out = weft__calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void wr_router_free(struct wr_router *r) {
    if (!r)
        return;
    node_clear(&r->root);
    weft__free(r);
}

static struct node *lit_child(struct node *nd, const char *s, size_t n) {
    for (size_t i = 0; i < nd->nlits; i++)
        if (nd->lits[i].len == n && !memcmp(nd->lits[i].text, s, n))
            return nd->lits[i].child;
    struct edge_lit *v = weft__realloc(nd->lits,
                                       (nd->nlits + 1) * sizeof *v);
    if (!v)
        return NULL;
    nd->lits = v;
    struct node *c = weft__calloc(1, sizeof *c);
    char *t = weft__malloc(n + 1);
    if (!c || !t) {
        weft__free(c);
        weft__free(t);
        return NULL;
    }
    memcpy(t, s, n);
    t[n] = '\0';
    v[nd->nlits++] = (struct edge_lit){t, n, c};
    return c;
}

/* The child for compiled segment g (which it takes, or frees when an equal
 * one exists). */
static struct node *dyn_child(struct node *nd, struct seg *g) {
    struct edge_dyn **vp = g->tail ? &nd->tails : &nd->dyns;
    size_t *np = g->tail ? &nd->ntails : &nd->ndyns;
    for (size_t i = 0; i < *np; i++) {
        struct seg *h = (*vp)[i].seg;
        if (h->keylen == g->keylen && !memcmp(h->key, g->key, g->keylen)) {
            seg_free(g);
            return (*vp)[i].child;
        }
    }
    struct edge_dyn *v = weft__realloc(*vp, (*np + 1) * sizeof *v);
    if (!v) {
        seg_free(g);
        return NULL;
    }
    *vp = v;
    struct node *c = weft__calloc(1, sizeof *c);
    if (!c) {
        seg_free(g);
        return NULL;
    }
    v[(*np)++] = (struct edge_dyn){g, c};
    return c;
}

static bool same_method(const char *a, const char *b) {
    return strcmp(a, b) == 0;
}

int wr_router_add(struct wr_router *r, const char *path,
                  struct wr_route *route, struct wr_name *names,
                  size_t *nvars) {
    *nvars = 0;
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/') {
        weft__log(WEFT_LOG_WARN, "weft_web_route: path '%s' does not start "
                                 "with '/'",
                  path);
        return -EINVAL;
    }
    struct node *nd = &r->root;
    size_t i = 1;
    for (;;) {
        /* The segment: up to the next '/' outside braces. */
        size_t j = i;
        bool vars = false;
        int depth = 0;
        for (; j < n && (depth > 0 || path[j] != '/'); j++) {
            if (path[j] == '\\' && depth > 0 && j + 1 < n) {
                j++;
            } else if (path[j] == '{') {
                depth++;
                vars = true;
            } else if (path[j] == '}') {
                if (--depth < 0)
                    break;
            }
        }
        if (depth != 0) {
            weft__log(WEFT_LOG_WARN, "weft_web_route: unbalanced braces in "
                                     "'%s'",
                      path);
            return -EINVAL;
        }
        if (!vars) {
            nd = lit_child(nd, path + i, j - i);
        } else {
            struct seg *g;
            int err = seg_compile(path + i, j - i, &g, names, nvars);
            if (err)
                return err;
            if (g->tail && j < n) {
                weft__log(WEFT_LOG_WARN, "weft_web_route: '%.*s' can match "
                                         "'/' but is not the last segment "
                                         "of '%s'",
                          (int)(j - i), path + i, path);
                seg_free(g);
                return -EINVAL;
            }
            nd = dyn_child(nd, g);
        }
        if (!nd)
            return -ENOMEM;
        if (j >= n)
            break;
        i = j + 1;
    }
    route->mlen = strlen(route->method);
    for (size_t k = 0; k < nd->nroutes; k++)
        if (same_method(nd->routes[k]->method, route->method))
            return -EEXIST;
    struct wr_route **v = weft__realloc(nd->routes,
                                        (nd->nroutes + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    nd->routes = v;
    v[nd->nroutes++] = route;
    return 0;
}

/* ---- lookup ---------------------------------------------------------------------------- */

struct look {
    const char *method;
    size_t mlen;
    const char *path;
    size_t plen;
    struct wr_match *m;
    int err;
};

static bool method_is(const struct wr_route *rt, const char *m, size_t n) {
    return rt->mlen == n && !memcmp(rt->method, m, n);
}

static void allow_add(struct wr_match *m, const char *method) {
    for (size_t i = 0; i < m->nallow; i++)
        if (strcmp(m->allow[i], method) == 0)
            return;
    if (m->nallow < WR_MAX_ALLOW)
        m->allow[m->nallow++] = method;
}

/* The path ended at nd: pick the route for the method. */
static bool endpoint(struct look *L, const struct node *nd, size_t nv) {
    if (nd->nroutes == 0)
        return false;
    struct wr_route *exact = NULL, *get = NULL, *any = NULL;
    for (size_t i = 0; i < nd->nroutes; i++) {
        struct wr_route *rt = nd->routes[i];
        if (method_is(rt, L->method, L->mlen))
            exact = rt;
        else if (rt->mlen == 1 && rt->method[0] == '*')
            any = rt;
        else if (method_is(rt, "GET", 3))
            get = rt;
    }
    bool head = L->mlen == 4 && !memcmp(L->method, "HEAD", 4);
    struct wr_route *rt = exact ? exact : head && get ? get : any;
    if (rt) {
        L->m->route = rt;
        L->m->nvars = nv;
        return true;
    }
    for (size_t i = 0; i < nd->nroutes; i++) {
        /* A node holds only routes made whole (the analyzer read the
         * first loop's exact match as NULL). */
        WEFT__ANALYZER_ASSUME(nd->routes[i] != NULL);
        allow_add(L->m, nd->routes[i]->method);
    }
    return false;
}

/* Match the segment starting at path[pos] and what follows, from nd. */
static bool walk(struct look *L, const struct node *nd, size_t pos,
                 size_t nv) {
    if (pos > L->plen)
        return endpoint(L, nd, nv);
    const char *s = L->path + pos;
    const char *slash = memchr(s, '/', L->plen - pos);
    size_t n = slash ? (size_t)(slash - s) : L->plen - pos;
    size_t next = pos + n + 1;
    for (size_t i = 0; i < nd->nlits; i++) {
        const struct edge_lit *e = &nd->lits[i];
        if (e->len == n && !memcmp(e->text, s, n)) {
            if (walk(L, e->child, next, nv))
                return true;
            break; /* literal texts are unique among siblings */
        }
    }
    for (size_t i = 0; i < nd->ndyns; i++) {
        const struct edge_dyn *e = &nd->dyns[i];
        if (nv + e->seg->ncaps > WR_MAX_VARS)
            continue;
        int r = seg_match(e->seg, s, n, L->m, nv);
        if (r < 0)
            L->err = r;
        if (r == 1 && walk(L, e->child, next, nv + e->seg->ncaps))
            return true;
    }
    for (size_t i = 0; i < nd->ntails; i++) {
        const struct edge_dyn *e = &nd->tails[i];
        if (nv + e->seg->ncaps > WR_MAX_VARS)
            continue;
        int r = seg_match(e->seg, s, L->plen - pos, L->m, nv);
        if (r < 0)
            L->err = r;
        if (r == 1 && endpoint(L, e->child, nv + e->seg->ncaps))
            return true;
    }
    return false;
}

bool wr_router_lookup(const struct wr_router *r, const char *method,
                      size_t mlen, const char *path, size_t plen,
                      struct wr_match *m, int *err) {
    m->route = NULL;
    m->nvars = 0;
    m->nallow = 0;
    struct look L = {method, mlen, path, plen, m, 0};
    bool found = plen > 0 && path[0] == '/' && walk(&L, &r->root, 1, 0);
    if (err)
        *err = found ? 0 : L.err;
    return found;
}
