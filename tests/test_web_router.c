/* The router on its own (src/http/router.c): literal and variable
 * segments, patterns from weft's own matcher and from regcomp, tails,
 * priorities, 405's method lists, and input that would make a
 * backtracking matcher take exponential time. */
#include "support.h"

#include "http/router.h"

static struct wr_router *R;
static struct wr_route routes[64];
static size_t nroutes;

static void setup(void) {
    ck_assert_ok(wr_router_new(&R));
    nroutes = 0;
}

static void teardown(void) {
    wr_router_free(R);
}

/* Add method path; the route's payload is the path (to check the winner). */
static int add(const char *method, const char *path) {
    struct wr_route *rt = &routes[nroutes++];
    rt->method = method;
    rt->payload = (void *)path;
    struct wr_name names[WR_MAX_VARS];
    size_t n;
    return wr_router_add(R, path, rt, names, &n);
}

static struct wr_match M;

/* The path of the route that wins, or NULL. */
static const char *look(const char *method, const char *path) {
    int err = 0;
    if (!wr_router_lookup(R, method, strlen(method), path, strlen(path), &M,
                          &err))
        return NULL;
    ck_assert_int_eq(err, 0);
    return M.route->payload;
}

static bool var_is(size_t i, const char *want) {
    return i < M.nvars && M.vars[i].len == strlen(want) &&
           memcmp(M.vars[i].ptr, want, M.vars[i].len) == 0;
}

START_TEST(literal_paths) {
    ck_assert_ok(add("GET", "/"));
    ck_assert_ok(add("GET", "/users"));
    ck_assert_ok(add("GET", "/users/"));
    ck_assert_ok(add("GET", "/a/b/c"));
    ck_assert_str_eq(look("GET", "/"), "/");
    ck_assert_str_eq(look("GET", "/users"), "/users");
    ck_assert_str_eq(look("GET", "/users/"), "/users/");
    ck_assert_str_eq(look("GET", "/a/b/c"), "/a/b/c");
    ck_assert_ptr_null(look("GET", "/a/b"));
    ck_assert_int_eq(M.nallow, 0);
    ck_assert_ptr_null(look("GET", "/a/b/c/d"));
    ck_assert_ptr_null(look("GET", "//"));
    ck_assert_err(add("GET", "/users"), -EEXIST);
}
END_TEST

START_TEST(variables) {
    ck_assert_ok(add("GET", "/users/{id}"));
    ck_assert_ok(add("GET", "/users/{id}/posts/{post}"));
    ck_assert_ok(add("GET", "/f/{base}.{ext}"));
    ck_assert_str_eq(look("GET", "/users/42"), "/users/{id}");
    ck_assert_int_eq(M.nvars, 1);
    ck_assert(var_is(0, "42"));
    ck_assert_str_eq(look("GET", "/users/ann/posts/7"),
                     "/users/{id}/posts/{post}");
    ck_assert(var_is(0, "ann") && var_is(1, "7"));
    /* Greedy, as a regex would: the last dot separates. */
    ck_assert_str_eq(look("GET", "/f/a.b.tar"), "/f/{base}.{ext}");
    ck_assert(var_is(0, "a.b") && var_is(1, "tar"));
    ck_assert_ptr_null(look("GET", "/f/nodot"));
    ck_assert_ptr_null(look("GET", "/users/")); /* {id} needs a byte */
}
END_TEST

START_TEST(patterns) {
    ck_assert_ok(add("GET", "/n/{id:\\d+}"));
    ck_assert_ok(add("GET", "/n/{slug:[a-z0-9-]+}"));
    ck_assert_ok(add("GET", "/v/{v:v[12]}/x"));
    ck_assert_ok(add("GET", "/y/{y:\\d{4}}-{m:\\d{2}}"));
    ck_assert_ok(add("GET", "/alt/{c:(red|green)}"));
    ck_assert_str_eq(look("GET", "/n/123"), "/n/{id:\\d+}");
    ck_assert_str_eq(look("GET", "/n/12a"), "/n/{slug:[a-z0-9-]+}");
    ck_assert_ptr_null(look("GET", "/n/A"));
    ck_assert_str_eq(look("GET", "/v/v2/x"), "/v/{v:v[12]}/x");
    ck_assert_ptr_null(look("GET", "/v/v3/x"));
    ck_assert_str_eq(look("GET", "/y/2024-05"), "/y/{y:\\d{4}}-{m:\\d{2}}");
    ck_assert(var_is(0, "2024") && var_is(1, "05"));
    ck_assert_ptr_null(look("GET", "/y/202-05"));
    ck_assert_str_eq(look("GET", "/alt/green"), "/alt/{c:(red|green)}");
    ck_assert(var_is(0, "green"));
    ck_assert_ptr_null(look("GET", "/alt/blue"));
}
END_TEST

START_TEST(tails) {
    ck_assert_ok(add("GET", "/static/{path:.*}"));
    ck_assert_ok(add("GET", "/static/index"));
    ck_assert_str_eq(look("GET", "/static/a/b/c.css"), "/static/{path:.*}");
    ck_assert(var_is(0, "a/b/c.css"));
    ck_assert_str_eq(look("GET", "/static/"), "/static/{path:.*}");
    ck_assert(var_is(0, ""));
    ck_assert_str_eq(look("GET", "/static/index"), "/static/index");
    ck_assert_ptr_null(look("GET", "/static"));
    logcap_start();
    ck_assert_err(add("GET", "/x/{p:.*}/y"), -EINVAL);
    logcap_stop();
    ck_assert_int_eq(logcap.n, 1);
}
END_TEST

START_TEST(priorities) {
    /* Registered variable first, literal second: the literal still wins. */
    ck_assert_ok(add("GET", "/u/{name}"));
    ck_assert_ok(add("GET", "/u/me"));
    ck_assert_ok(add("GET", "/u/{name}/x"));
    ck_assert_ok(add("GET", "/u/me/y"));
    ck_assert_str_eq(look("GET", "/u/me"), "/u/me");
    ck_assert_str_eq(look("GET", "/u/you"), "/u/{name}");
    /* The literal branch fails further down: back to the variable. */
    ck_assert_str_eq(look("GET", "/u/me/x"), "/u/{name}/x");
    ck_assert(var_is(0, "me"));
    ck_assert_str_eq(look("GET", "/u/me/y"), "/u/me/y");
}
END_TEST

START_TEST(methods) {
    ck_assert_ok(add("GET", "/r"));
    ck_assert_ok(add("POST", "/r"));
    ck_assert_ok(add("*", "/any"));
    ck_assert_ok(add("GET", "/g"));
    ck_assert_ok(add("HEAD", "/h"));
    ck_assert_ok(add("GET", "/h"));
    ck_assert_str_eq(look("POST", "/r"), "/r");
    ck_assert_ptr_eq(M.route, &routes[1]);
    ck_assert_ptr_null(look("DELETE", "/r"));
    ck_assert_int_eq(M.nallow, 2);
    ck_assert_str_eq(M.allow[0], "GET");
    ck_assert_str_eq(M.allow[1], "POST");
    ck_assert_str_eq(look("PATCH", "/any"), "/any");
    ck_assert_str_eq(look("HEAD", "/g"), "/g"); /* HEAD from GET */
    ck_assert_ptr_eq(M.route, &routes[3]);
    look("HEAD", "/h");
    ck_assert_ptr_eq(M.route, &routes[4]); /* its own HEAD route */
    ck_assert_err(add("GET", "/r"), -EEXIST);
}
END_TEST

START_TEST(bad_paths) {
    logcap_start();
    ck_assert_err(add("GET", "nope"), -EINVAL);
    ck_assert_err(add("GET", "/a/{id"), -EINVAL);
    ck_assert_err(add("GET", "/a/{1x}"), -EINVAL);
    ck_assert_err(add("GET", "/a/{x}/{x}"), -EINVAL);
    ck_assert_err(add("GET", "/a/{x:[a-}"), -EINVAL);
    ck_assert_err(add("GET", "/a/{x:a**}"), -EINVAL);
    ck_assert_err(add("GET", "/a/b{x:(a|b)}"), -EINVAL); /* regex not alone */
    logcap_stop();
    ck_assert_int_eq(logcap.n, 7);
}
END_TEST

/* A backtracking matcher takes O(2^n) on (a*)*b-like shapes; ours is
 * O(atoms x length). A 8000-byte segment against a pattern of many
 * overlapping repeats must simply fail (and quickly, which the test's
 * timeout would notice). */
START_TEST(no_blowup) {
    ck_assert_ok(add("GET", "/p/{x:a*a*a*a*a*a*a*a*a*a*a*a*b}"));
    char path[8200] = "/p/";
    memset(path + 3, 'a', 8000);
    path[8003] = '\0';
    for (int i = 0; i < 50; i++)
        ck_assert_ptr_null(look("GET", path));
    path[8002] = 'b';
    ck_assert_ptr_nonnull(look("GET", path));
}
END_TEST

START_TEST(pattern_api) {
    struct wr_pat *p;
    bool slash;
    ck_assert_ok(wr_pat_compile("\\d+", 3, &p, &slash));
    ck_assert(!slash);
    ck_assert(wr_pat_match(p, "123", 3));
    ck_assert(!wr_pat_match(p, "12x", 3));
    ck_assert(!wr_pat_match(p, "", 0));
    wr_pat_free(p);
    ck_assert_ok(wr_pat_compile(".*", 2, &p, &slash));
    ck_assert(slash);
    wr_pat_free(p);
    ck_assert_ok(wr_pat_compile("[^/]+\\.(png|jpg)", 16, &p, &slash));
    ck_assert(wr_pat_match(p, "a.png", 5));
    ck_assert(!wr_pat_match(p, "a.gif", 5));
    wr_pat_free(p);
    ck_assert_ok(wr_pat_compile("[\\w-]{2,3}", 10, &p, &slash));
    ck_assert(wr_pat_match(p, "a-", 2));
    ck_assert(wr_pat_match(p, "a_b", 3));
    ck_assert(!wr_pat_match(p, "abcd", 4));
    ck_assert(!wr_pat_match(p, "a", 1));
    wr_pat_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("web_router");
    TCase *tc = tcase_create("router");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, literal_paths);
    tcase_add_test(tc, variables);
    tcase_add_test(tc, patterns);
    tcase_add_test(tc, tails);
    tcase_add_test(tc, priorities);
    tcase_add_test(tc, methods);
    tcase_add_test(tc, bad_paths);
    tcase_add_test(tc, no_blowup);
    tcase_add_test(tc, pattern_api);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
