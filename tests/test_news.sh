#!/bin/sh
# examples/get_news in the test suite: both twins against the embedded news
# API with a latency of a few milliseconds (--latency-ms), their table
# checked (the same requests, articles and word count in both modes), the
# same news again through --api from a second process (--serve), and bad
# arguments (one line, exit 2). Under `make valgrind` (WEFT_TEST_VALGRIND=1)
# every run is under memcheck; under the sanitizers the build itself checks.
#
# usage: test_news.sh GET_NEWS
set -u
bin=$1
here=$(dirname "$0")
# run ARGS...: the program, under memcheck with `make valgrind`.
vg=
if [ "${WEFT_TEST_VALGRIND:-0}" = 1 ]; then
    vg="valgrind -q --error-exitcode=99 --leak-check=full"
    vg="$vg --errors-for-leak-kinds=definite --track-origins=no"
    vg="$vg --suppressions=$here/valgrind.supp"
fi
run() { $vg "$bin" "$@"; }
unset NEWS_API_KEY
tmp=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
check() { # check WHAT CONDITION...
    what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what"
        fail=1
    fi
}
# A failure: one line on stderr, and the exit status.
# (Arguments refused before the loop starts are not worth memcheck's
# second a run: bad_args runs them as they are.)
bad() { # bad WHAT STATUS ARGS...
    case_=$1 want=$2
    shift 2
    ${plain:-run} "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    sed 's/^/  | /' "$tmp/err"
    check "$case_: exit $want (got $rc)" [ $rc -eq "$want" ]
    check "$case_: one line on stderr" [ "$(wc -l <"$tmp/err")" -eq 1 ]
}
# The numbers of a table row: requests, articles, word count.
row() { awk -v m="$1" '$1 == m && NF == 5 { print $2, $4, $5 }' "$2"; }

args="--sources 4 --latency-ms 1:5 --seed 7"

# --both: the sync twin, the async twin, the table.
run --both $args >"$tmp/both" 2>"$tmp/both.err"
rc=$?
sed 's/^/  | /' "$tmp/both" "$tmp/both.err"
check "--both exits 0 (got $rc)" [ $rc -eq 0 ]
check "--both says nothing on stderr" [ ! -s "$tmp/both.err" ]
check "the table's header" grep -q "^mode  *requests  *seconds  *articles  *word count$" "$tmp/both"
check "the speedup" grep -Eq "^speedup: [0-9]+\.[0-9]x$" "$tmp/both"
sync=$(row sync "$tmp/both")
async=$(row async "$tmp/both")
check "a sync row with 5 requests and articles ($sync)" \
    [ "${sync%% *}" = 5 -a "$(echo "$sync" | cut -d' ' -f2)" -gt 0 ]
check "the async row counts the same ($async)" [ -n "$sync" -a "$sync" = "$async" ]
check "a line per request in each mode" \
    [ "$(grep -c '^requesting: ' "$tmp/both")" -eq 8 ]
check "the word found, as the script says it" \
    grep -q "^python found [0-9]* times in $(echo "$sync" | cut -d' ' -f2) articles$" "$tmp/both"
# The async twin asks for every source before the first answer comes.
check "--async requests all sources at once" sh -c \
    "sed -n '/^== async/,\$p' '$tmp/both' | sed -n 3,6p | grep -c '^requesting: ' | grep -qx 4"

# The embedded API alone, reached by another get_news through --api, with
# a key.
# (a simple command, so that $! is the program itself)
NEWS_API_KEY=secret $vg "$bin" --serve $args >"$tmp/serve" 2>"$tmp/serve.err" &
server=$!
url=
for _ in $(seq 300); do
    url=$(sed -n 's/^serving on //p' "$tmp/serve")
    [ -n "$url" ] && break
    sleep 0.1
done
check "--serve prints its URL ($url)" [ -n "$url" ]
NEWS_API_KEY=secret run --async --sources 4 --api "$url" >"$tmp/api" 2>&1
rc=$?
api=$(awk '/ found .* times in / { print $6, $3 }' "$tmp/api")
check "--api: exit 0 (got $rc)" [ $rc -eq 0 ]
check "--api: the same news ($api)" \
    [ "$api" = "$(echo "$sync" | cut -d' ' -f2,3)" ]
export NEWS_API_KEY=wrong
bad "--api with the wrong key" 1 --async --sources 2 --api "$url"
check "the wrong key: the API's 401" \
    grep -q "sources?language=en.*401" "$tmp/err"
unset NEWS_API_KEY
kill -TERM "$server"
wait "$server"
rc=$?
server=
check "--serve: SIGTERM, a graceful stop (exit $rc)" [ $rc -eq 0 ]

# Bad arguments, and a server that is gone.
plain="$bin"
bad "--sources 0" 2 --sources 0
bad "an unknown option" 2 --fast
bad "--limit without a value" 2 --limit
bad "--latency-ms 5:1" 2 --latency-ms 5:1
bad "--api without NEWS_API_KEY" 2 --api "$url"
plain=
# The server is gone: its port refuses.
export NEWS_API_KEY=test
bad "--api to a closed port" 1 --sync --api "$url"
check "--api to a closed port names the address" grep -q "connect to 127.0.0.1" "$tmp/err"
exit $fail
