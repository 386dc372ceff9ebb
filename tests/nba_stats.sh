#!/bin/sh
# examples/nba_stats, run as a user would: --naive must report requests
# refused with 429 and exit 0, --polite must get every player and say how
# many retries it needed, bad arguments exit 2 with one line. Small sizes
# (12 players); stderr must stay empty: no weft warning, no sanitizer
# report. Under `make valgrind` (WEFT_TEST_VALGRIND=1) every run is under
# memcheck, leaks included. About 1.5 s, most of it the polite run's
# one-second Retry-After when its requests come faster than the API's rate.
set -u
bin="$1"
vg=""
if [ "${WEFT_TEST_VALGRIND:-0}" = 1 ]; then
    vg="valgrind -q --error-exitcode=99 --leak-check=full"
    vg="$vg --errors-for-leak-kinds=definite --track-origins=no"
    vg="$vg --suppressions=$(dirname "$0")/valgrind.supp"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: nba_stats $args: $*"
    echo "--- stdout"; cat "$tmp/out"
    echo "--- stderr"; cat "$tmp/err"
    exit 1
}

# run STATUS ARGS...: nba_stats ARGS must exit with STATUS.
run() {
    want=$1
    shift
    args="$*"
    $vg "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = "$want" ] || fail "exit $rc, want $want"
}

# summary REGEX: the line of stdout matching it, in $line; stderr empty.
summary() {
    line=$(grep -E "$1" "$tmp/out") || fail "no line like '$1'"
    [ -s "$tmp/err" ] && fail "it wrote to stderr"
    return 0
}

# --naive: 12 requests at once against a limit of 5 in flight, each held
# 75 to 225 ms (so that they overlap even under valgrind): some are
# refused, the others succeed, and the two add up.
run 0 --naive --players 12 --latency 150
summary '^naive: [0-9]+ of 12 players in [0-9.]+ s; [0-9]+ requests failed with 429$'
got=$(echo "$line" | sed -E 's/^naive: ([0-9]+) of.*/\1/')
refused=$(echo "$line" | sed -E 's/.*s; ([0-9]+) requests.*/\1/')
[ "$refused" -ge 1 ] || fail "no request was refused"
[ "$got" -ge 1 ] || fail "no request succeeded"
[ $((got + refused)) = 12 ] || fail "$got + $refused is not 12"
grep -qx 'Getting all players\.\.\.' "$tmp/out" || fail "no 'Getting all players...'"

# --polite: every player, the retries counted, the top five by points in
# descending order.
run 0 --polite --players 12 --latency 10 --seed 7
summary '^polite: 12 of 12 players in [0-9.]+ s; [0-9]+ retries$'
grep -qx 'Top players by points:' "$tmp/out" || fail "no top players"
pts=$(sed -n '/^Top players by points:/,/^polite:/p' "$tmp/out" |
    awk '$1 ~ /^[0-9]+\.[0-9]$/ { print $1 }')
[ "$(echo "$pts" | wc -l)" = 5 ] || fail "not five top players"
[ "$pts" = "$(echo "$pts" | sort -rn)" ] || fail "top players not by points"

# -v: a line per request, as the Python prints them.
run 0 --polite --players 2 --latency 1 -v
summary '^polite: 2 of 2 players in [0-9.]+ s; [0-9]+ retries$'
[ "$(grep -c '^Getting player ' "$tmp/out")" = 2 ] || fail "not two 'Getting player' lines"
grep -Eq '^<ClientResponse\(http://127\.0\.0\.1:[0-9]+/stats/commonplayerinfo\?PlayerID=[0-9]+\) \[200 OK\]>$' \
    "$tmp/out" || fail "no response line"

# --api: a server that is not there is one line on stderr and exit 1.
run 1 --naive --api http://127.0.0.1:1/stats
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "not one line on stderr"
grep -q '^nba_stats: GET http://127.0.0.1:1/stats/commonallplayers.*: connect to 127.0.0.1:1 failed' \
    "$tmp/err" || fail "not the connect error"

# Bad arguments: the usage line alone, exit 2, nothing run (so nothing
# for memcheck to see: not under valgrind, which would add seconds).
vg=""
for bad in "--players 0" "--players 401" "--players x" "--naive --polite" \
    "--latency" "--api ftp://x" "--bogus"; do
    # shellcheck disable=SC2086 # split on purpose
    run 2 $bad
    [ ! -s "$tmp/out" ] || fail "wrote to stdout"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "not one line on stderr"
    grep -q '^usage: nba_stats ' "$tmp/err" || fail "not the usage line"
done
echo "ok"
