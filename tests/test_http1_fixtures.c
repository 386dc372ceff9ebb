/* Conformance: every llhttp fixture (../shared/reference/llhttp-fixtures,
 * or $WEFT_LLHTTP_FIXTURES) through weft's parser, compared with llhttp's
 * expected events: verdict, method, target, version, status, fields, body
 * and where each pipelined message ends. Each case is also run with its
 * input arriving in pieces (every split point in two, then byte by byte,
 * through each of the body readers), which must give the same transcript.
 *
 * Where weft and llhttp disagree, the case must be listed in `known` below
 * with the reason (docs/http1-conformance.md is that table); an unlisted
 * disagreement, or a listed case that now agrees, fails the test.
 *
 *   test_http1_fixtures            run (exit 77, skipped, without fixtures)
 *   test_http1_fixtures --table    print the disagreement table (markdown)
 *   test_http1_fixtures --diff     print every disagreement in full */
#include "llhttp_fixtures.h"
#include "support.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR NULL
#endif

/* The disagreements, by file and case name, with the reason. */
struct known {
    const char *file, *name, *why;
};

#include "http1_known.h"

static struct fixture_set set;

static bool is_lenient(const struct fixture *f) {
    return strstr(f->type, "lenient") != NULL;
}

/* The comparable part of our transcript: error codes dropped. */
static void strip_codes(struct drive_text *t) {
    char *e = strstr(t->s, "end error");
    if (e) {
        e[9] = '\n';
        e[10] = 0;
        t->len = (size_t)(e - t->s) + 10;
    }
}

static void run_ours(const struct fixture *f, const struct drive_opts *base,
                     const size_t *splits, size_t nsplits,
                     struct drive_text *t) {
    struct drive_opts o = *base;
    o.splits = splits;
    o.nsplits = nsplits;
    drive(f->input, f->input_len, &o, t);
}

static unsigned opts_of(const struct fixture *f) {
    unsigned flags = 0;
    if (!strncmp(f->type, "response", 8))
        flags |= DRIVE_RESPONSE | (f->skip_body ? DRIVE_HEAD_REQ : 0);
    else if (f->skip_body)
        flags |= DRIVE_SKIP_BODY;
    if (strstr(f->type, "-finish"))
        flags |= DRIVE_FINISH;
    return flags;
}

static const struct known *find_known(const struct fixture *f) {
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i].file, f->file) && !strcmp(known[i].name, f->name))
            return &known[i];
    return NULL;
}

/* The same transcript (with details) however the input is split. */
static int check_splits(const struct fixture *f, unsigned flags) {
    int bad = 0;
    struct drive_opts o = {.flags = flags | DRIVE_DETAIL};
    struct drive_text whole = {0};
    run_ours(f, &o, NULL, 0, &whole);
    size_t one = 1;
    static const unsigned modes[] = {0, DRIVE_NO_PREV, DRIVE_COPY,
                                     DRIVE_DECODE};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        struct drive_opts om = o;
        om.flags |= modes[m];
        struct drive_text t = {0};
        run_ours(f, &om, &one, 1, &t);
        if (strcmp(t.s, whole.s) != 0) {
            printf("SPLIT %s: %s (byte by byte, mode %#x)\n--- whole\n%s--- "
                   "split\n%s",
                   f->file, f->name, modes[m], whole.s, t.s);
            bad++;
        }
        drive_free(&t);
    }
    for (size_t k = 1; k < f->input_len; k++) {
        size_t sp[2] = {k, f->input_len};
        struct drive_text t = {0};
        run_ours(f, &o, sp, 2, &t);
        if (strcmp(t.s, whole.s) != 0) {
            printf("SPLIT %s: %s (at %zu)\n--- whole\n%s--- split\n%s",
                   f->file, f->name, k, whole.s, t.s);
            bad++;
            drive_free(&t);
            break;
        }
        drive_free(&t);
    }
    drive_free(&whole);
    return bad;
}

struct tally {
    int total, agree, lenient, lenient_agree, unexpected, stale, split_bad;
};

static struct tally run_all(bool print_diff, bool print_table) {
    struct tally n = {0};
    if (print_table) {
        printf("| Fixture | Case | Type | llhttp | weft | Why |\n");
        printf("|---|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < set.n; i++) {
        const struct fixture *f = &set.v[i];
        unsigned flags = opts_of(f);
        struct drive_opts o = {.flags = flags};
        struct drive_text ours = {0};
        run_ours(f, &o, NULL, 0, &ours);
        struct drive_text cmp = {0};
        drive_puts(&cmp, ours.s);
        strip_codes(&cmp);
        bool agree = strcmp(cmp.s, f->expect.s) == 0;
        const struct known *k = find_known(f);
        n.total++;
        n.agree += agree;
        if (is_lenient(f)) {
            n.lenient++;
            n.lenient_agree += agree;
        }
        if (!agree && !k) {
            n.unexpected++;
            printf("DISAGREE %s: %s [%s]\n--- llhttp\n%s--- weft\n%s\n",
                   f->file, f->name, f->type, f->expect.s, ours.s);
        } else if (agree && k) {
            n.stale++;
            printf("AGREES NOW %s: %s (listed: %s)\n", f->file, f->name,
                   k->why);
        } else if (!agree && print_diff) {
            printf("known %s: %s [%s]: %s\n--- llhttp\n%s--- weft\n%s\n",
                   f->file, f->name, f->type, k->why, f->expect.s, ours.s);
        }
        if (!agree && print_table) {
            /* The verdicts: the end lines. */
            const char *le = strstr(f->expect.s, "end ");
            const char *we = strstr(ours.s, "end ");
            printf("| %s | %s | %s | %.*s | %.*s | %s |\n", f->file, f->name,
                   f->type,
                   (int)strcspn(le ? le + 4 : "?", "\n"), le ? le + 4 : "?",
                   (int)strcspn(we ? we + 4 : "?", "\n"), we ? we + 4 : "?",
                   k ? k->why : "(unlisted)");
        }
        n.split_bad += check_splits(f, flags);
        drive_free(&ours);
        drive_free(&cmp);
    }
    return n;
}

START_TEST(every_fixture_agrees_or_is_listed) {
    struct tally n = run_all(false, false);
    printf("llhttp fixtures: %d cases, %d agree (%d of them in llhttp's "
           "lenient modes: %d agree), %d listed disagreements\n",
           n.total, n.agree, n.lenient, n.lenient_agree, n.total - n.agree);
    ck_assert_int_gt(n.total, 150);
    ck_assert_msg(n.unexpected == 0, "%d unlisted disagreements",
                  n.unexpected);
    ck_assert_msg(n.stale == 0, "%d listed cases agree now", n.stale);
    ck_assert_msg(n.split_bad == 0, "%d cases parse differently when split",
                  n.split_bad);
}
END_TEST

START_TEST(every_listed_case_exists) {
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        bool found = false;
        for (size_t j = 0; j < set.n && !found; j++)
            found = !strcmp(known[i].file, set.v[j].file) &&
                    !strcmp(known[i].name, set.v[j].name);
        ck_assert_msg(found, "listed case not found: %s: %s", known[i].file,
                      known[i].name);
    }
}
END_TEST

int main(int argc, char **argv) {
    const char *dir = fixtures_dir(FIXTURES_DIR);
    if (!dir) {
        printf("test_http1_fixtures: SKIPPED: no llhttp fixtures (set "
               "WEFT_LLHTTP_FIXTURES, or check out ../shared next to the "
               "source tree)\n");
        return 77;
    }
    for (size_t i = 0; i < sizeof fixture_files / sizeof fixture_files[0];
         i++)
        if (!fixtures_load(dir, fixture_files[i], &set)) {
            printf("test_http1_fixtures: cannot read %s/%s\n", dir,
                   fixture_files[i]);
            return 1;
        }
    if (argc > 1) {
        bool table = !strcmp(argv[1], "--table");
        struct tally n = run_all(!table, table);
        if (!table)
            printf("%d cases, %d agree, %d unexpected, %d stale, %d split\n",
                   n.total, n.agree, n.unexpected, n.stale, n.split_bad);
        fixtures_free(&set);
        return 0;
    }
    Suite *s = suite_create("http1_fixtures");
    TCase *tc = tcase_create("llhttp");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_fixture_agrees_or_is_listed);
    tcase_add_test(tc, every_listed_case_exists);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    fixtures_free(&set);
    return failed ? 1 : 0;
}
