#!/bin/sh
# Static analysis of the library (src/): cppcheck, then clang's analyzer
# (scan-build) over every source file. Either fails the run on any
# finding. The tools' mistakes are silenced where they are, each with a
# comment saying why: grep cppcheck-suppress and WEFT__ANALYZER_ASSUME
# (src/core/common.h). scan-build findings listed in KNOWN below are
# reported but tolerated, each with its reason, until the file they are in
# is fixed. CPPCHECK_ONLY=1 skips scan-build (5 CPU minutes).
#   scripts/analyze.sh [BUILD_DIR]   (default build-analyze; JOBS=2)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-analyze}
jobs=${JOBS:-2}
start=$(date +%s)

# cppcheck: warnings, performance and portability (style is ours to keep).
cppcheck -q --enable=warning,performance,portability --inline-suppr \
    --max-configs=1 -D_GNU_SOURCE -D__linux__ -D__x86_64__ \
    -I include -I src --suppress=missingIncludeSystem -j"$jobs" \
    --error-exitcode=1 \
    --template='{file}:{line}: {severity}: {message} [{id}]' src/
echo "analyze: cppcheck clean ($(($(date +%s) - start)) s)"
[ "${CPPCHECK_ONLY:-0}" = 1 ] && exit 0

t=$(date +%s)
# scan-build wraps the compiler; a fresh configure so every file is built.
rm -rf "$dir"
scan-build cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug \
    -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF >/dev/null
scan-build -o "$dir/scan" cmake --build "$dir" --target weft_objects \
    -j"$jobs" >"$dir/scan.log" 2>&1
# Known, tolerated (file and message, any line), with why:
# - src/net/stream.c: weft_stream_write(s, NULL, 0) reaches memcpy(dst,
#   NULL, 0) in hold_bytes and queue_bytes: harmless, but memcpy's
#   pointers must be valid even for 0 bytes; the fix (return before the
#   copy when len is 0) waits for the io_uring merge into that file.
KNOWN="src/net/stream.c:.*Null pointer passed to 2nd parameter expecting 'nonnull'"
grep "warning:" "$dir/scan.log" | sed "s|$PWD/||" >"$dir/findings.txt" || true
grep -v -e "$KNOWN" "$dir/findings.txt" >"$dir/new.txt" || true
n=$(wc -l <"$dir/new.txt")
k=$(($(wc -l <"$dir/findings.txt") - n))
cat "$dir/findings.txt" >&2
echo "analyze: scan-build: $n findings ($k known, tolerated), report in $dir/scan ($(($(date +%s) - t)) s)"
[ "$n" = 0 ]
