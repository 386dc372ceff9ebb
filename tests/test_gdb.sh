#!/bin/sh
# The gdb extension libweft carries (src/debug/weft_gdb.py, embedded in
# .debug_gdb_scripts), under gdb's batch mode: `info weft-tasks` and
# `weft-bt ID` on examples/task_dump stopped with every task parked, then
# the same on a core file of it (gcore). Skipped, with a message, where gdb
# is missing or may not trace (exit 77).
#
# usage: test_gdb.sh TASK_DUMP_EXE
set -u
exe=$1
if ! command -v gdb >/dev/null 2>&1; then
    echo "SKIP: gdb is not installed (scripts/deps.sh test installs it)"
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
gdb_batch() {
    gdb -nx -batch -iex 'set auto-load safe-path /' \
        -iex 'set debuginfod enabled off' "$@" 2>&1
}
# Each expected line, as a grep -E pattern.
expect() {
    out=$1
    shift
    for pat in "$@"; do
        if ! grep -Eq -- "$pat" "$out"; then
            echo "FAIL: no line matching '$pat' in $out:"
            sed 's/^/    /' "$out"
            fail=1
        fi
    done
}

# A live process: weft_dump_on_signal is called once every task of the zoo
# has parked (the main task is running it).
gdb_batch -ex 'break weft_dump_on_signal' -ex 'run --signal >/dev/null' \
    -ex 'info weft-tasks' -ex "gcore $dir/core" -ex kill \
    --args "$exe" >"$dir/live" </dev/null
if grep -Eq "ptrace|not permitted|Couldn't get registers" "$dir/live" &&
   ! grep -q "weft-signals" "$dir/live"; then
    echo "SKIP: gdb may not trace processes here:"
    sed 's/^/    /' "$dir/live"
    exit 77
fi
expect "$dir/live" \
    "^loop 0x[0-9a-f]+ \(thread [0-9]+\) at [0-9.]+ s: 12 task\(s\)$" \
    "^  task [0-9]+ 'weft-signals' waiting [0-9.]+ s: read on fd [0-9]+$" \
    "^  task [0-9]+ 'task-[0-9]+' running$" \
    "^  task [0-9]+ 'sleeper' waiting [0-9.]+ s: sleep until [0-9.]+ s$" \
    "^  task [0-9]+ 'lock_waiter' waiting [0-9.]+ s: lock 0x[0-9a-f]+ held by task [0-9]+$" \
    "^  task [0-9]+ 'event_waiter' waiting [0-9.]+ s: event 0x[0-9a-f]+$" \
    "^  task [0-9]+ 'consumer' waiting [0-9.]+ s: queue get 0x[0-9a-f]+$" \
    "^  task [0-9]+ 'reader' waiting [0-9.]+ s: read on fd [0-9]+$" \
    "^  task [0-9]+ 'joiner' waiting [0-9.]+ s: join task [0-9]+ 'sleeper'$" \
    "^  task [0-9]+ 'group_owner' waiting [0-9.]+ s: group exit: 2 child\(ren\) left$" \
    "^      fn reader at .*task_dump.c:[0-9]+, spawned at (start_zoo|main_task) at .*task_dump.c:[0-9]+$" \
    "^      fn sleeper at .*task_dump.c:[0-9]+, spawned at group_owner at .*task_dump.c:[0-9]+$"
reader=$(sed -n "s/^  task \([0-9]*\) 'reader' .*/\1/p" "$dir/live")
holder=$(sed -n "s/^  task \([0-9]*\) 'holder' .*/\1/p" "$dir/live")
if [ -z "$reader" ] || [ ! -s "$dir/core" ]; then
    echo "FAIL: no reader task, or no core file"
    exit 1
fi
grep -q "held by task $holder\$" "$dir/live" ||
    { echo "FAIL: the lock's holder is not task $holder"; fail=1; }

# weft-bt on the live process, then on the core file.
gdb_batch -ex 'break weft_dump_on_signal' -ex 'run --signal >/dev/null' \
    -ex "weft-bt $reader" -ex 'weft-bt 999999' -ex kill \
    --args "$exe" >"$dir/bt-live" </dev/null
gdb_batch -ex 'info weft-tasks' -ex "weft-bt $reader" -ex 'weft-bt all 3' \
    "$exe" "$dir/core" >"$dir/core-out" </dev/null
for out in "$dir/bt-live" "$dir/core-out"; do
    expect "$out" \
        "^task $reader 'reader' \(waiting\):$" \
        "^  #[0-9]+ +0x[0-9a-f]+ in weft__park at .*task\.c:[0-9]+$" \
        "^  #[0-9]+ +0x[0-9a-f]+ in (weft__io_wait at .*io|(weft__uring_recv|recv_op|ms_read) at .*uring)\.c:[0-9]+$" \
        "^  #[0-9]+ +0x[0-9a-f]+ in weft_stream_read at .*stream\.c:[0-9]+$" \
        "^  #[0-9]+ +0x[0-9a-f]+ in read_request at .*task_dump\.c:[0-9]+" \
        "^  #[0-9]+ +0x[0-9a-f]+ in serve_one at .*task_dump\.c:[0-9]+" \
        "^  #[0-9]+ +0x[0-9a-f]+ in task_entry at .*task\.c:[0-9]+$"
done
expect "$dir/bt-live" "weft: no task 999999"
expect "$dir/core-out" \
    "^  task [0-9]+ 'reader' waiting [0-9.]+ s: read on fd [0-9]+$" \
    "^task [0-9]+ 'task-[0-9]+' \(running\):$" \
    "^  running on thread [0-9]+: use bt there$"
[ $fail -eq 0 ] && echo "gdb extension: live process and core file OK"
exit $fail
