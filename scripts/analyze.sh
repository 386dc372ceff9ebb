#!/bin/sh
# Static analysis of the library (src/): cppcheck, then clang's analyzer
# (scan-build) over every source file. Either fails the run on any
# finding. The tools' mistakes are silenced where they are, each with a
# comment saying why: grep cppcheck-suppress and WEFT__ANALYZER_ASSUME
# (src/core/common.h). CPPCHECK_ONLY=1 skips scan-build (5 CPU minutes).
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
grep "warning:" "$dir/scan.log" | sed "s|$PWD/||" >"$dir/findings.txt" || true
n=$(wc -l <"$dir/findings.txt")
cat "$dir/findings.txt" >&2
echo "analyze: scan-build: $n findings, report in $dir/scan ($(($(date +%s) - t)) s)"
[ "$n" = 0 ]
