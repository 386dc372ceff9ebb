#!/bin/sh
# The tracepoints (src/core/trace.h) as perf and bpftrace see them: the
# SystemTap notes of libweft.so, listed by `readelf -n`. Every probe is
# there under provider "weft"; the scheduler's four carry the semaphore
# that switches the loop to watched iterations, the others none. Also
# checks that the library carries its gdb extension. Skipped, with a
# message, where readelf is missing or the build had no <sys/sdt.h>
# (exit 77).
#
# usage: test_probes.sh LIBWEFT_SO HAVE_SDT
set -u
lib=$1
have_sdt=$2
if ! command -v readelf >/dev/null 2>&1; then
    echo "SKIP: readelf is not installed (binutils)"
    exit 77
fi
fail=0
if readelf -p .debug_gdb_scripts "$lib" 2>/dev/null | grep -q "weft-gdb.py"; then
    echo "ok: $lib carries weft-gdb.py in .debug_gdb_scripts"
else
    echo "FAIL: no weft-gdb.py in the .debug_gdb_scripts of $lib"
    fail=1
fi
case "$have_sdt" in
1 | ON | TRUE | YES | on | true | yes) ;;
*)
    echo "SKIP: built without <sys/sdt.h> (systemtap-sdt-dev): no tracepoints"
    exit 77
    ;;
esac
notes=$(mktemp)
trap 'rm -f "$notes"' EXIT
# One line per probe site: "provider name semaphore".
readelf -n "$lib" | awk '
    /Provider:/ { p = $2 }
    /Name:/ { n = $2 }
    /Semaphore:/ { s = $NF; print p, n, s }' >"$notes"
for probe in task_spawn task_switch task_park task_wake task_end callback \
    stream_read stream_write; do
    sites=$(grep -c "^weft $probe " "$notes")
    if [ "$sites" -eq 0 ]; then
        echo "FAIL: no weft:$probe probe in $lib"
        fail=1
        continue
    fi
    case $probe in
    task_switch | task_park | task_end | callback) want=semaphore ;;
    *) want=none ;;
    esac
    if [ $want = semaphore ]; then
        bad=$(grep "^weft $probe " "$notes" | grep -c " 0x0*$")
    else
        bad=$(grep "^weft $probe " "$notes" | grep -vc " 0x0*$")
    fi
    if [ "$bad" -ne 0 ]; then
        echo "FAIL: weft:$probe: $bad site(s) without the expected $want"
        fail=1
    else
        echo "ok: weft:$probe, $sites site(s), $want"
    fi
done
# The scheduler's probes share one semaphore.
n=$(grep -E "^weft (task_switch|task_park|task_end|callback) " "$notes" |
    awk '{print $3}' | sort -u | wc -l)
if [ "$n" -ne 1 ]; then
    echo "FAIL: the scheduler's probes use $n semaphores, not one"
    fail=1
fi
exit $fail
