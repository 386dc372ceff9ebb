#!/bin/sh
# Run every benchmark and print its table.
#
#   run_all.sh [BENCH_DIR] [--quick] [NAME...]
#
# BENCH_DIR holds the programs (default: this script's directory); --quick
# is passed on to each program (a smoke run with a small load); NAMEs pick
# some of them (default: all). Exits non-zero if a benchmark failed.
# Benchmarks assert nothing about speed: they print numbers and targets.
set -u

dir=$(dirname "$0")
if [ $# -gt 0 ] && [ -d "$1" ]; then
    dir=$1
    shift
fi
quick=""
names=""
for a in "$@"; do
    case "$a" in
    --quick) quick=--quick ;;
    -*) echo "usage: run_all.sh [BENCH_DIR] [--quick] [NAME...]" >&2; exit 2 ;;
    *) names="$names $a" ;;
    esac
done
[ -n "$names" ] || names="switch spawn timers parked exec file sync tls tls_idle tls_stalled echo idle web_router http http_parse httpmsg http_client http_app ws ws_frame"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "weft benchmarks: $(nproc 2>/dev/null || echo '?') CPU(s) ${cpu:+($cpu)}," \
    "kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
[ -n "$quick" ] && echo "(quick smoke run: small loads, the numbers mean little)"

failed=""
for b in $names; do
    echo
    echo "== $b"
    if [ ! -x "$dir/$b" ]; then
        echo "run_all: $dir/$b is missing" >&2
        failed="$failed $b"
        continue
    fi
    t0=$(date +%s)
    "$dir/$b" $quick
    rc=$?
    t1=$(date +%s)
    if [ $rc -ne 0 ]; then
        echo "run_all: $b FAILED (exit status $rc)" >&2
        failed="$failed $b"
    fi
    echo "   ($b: $((t1 - t0)) s)"
done

echo
if [ -n "$failed" ]; then
    echo "run_all: failed:$failed" >&2
    exit 1
fi
echo "run_all: all benchmarks ran"
