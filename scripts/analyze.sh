#!/bin/sh
# Static analysis of the library (src/): clang's analyzer (scan-build)
# over every source file, then cppcheck. Fails on any finding. The few
# findings that are the tools' mistakes are silenced where they are, each
# with a comment saying why (grep cppcheck-suppress / clang-analyzer).
#   scripts/analyze.sh [BUILD_DIR]   (default build-analyze; JOBS=2)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-analyze}
jobs=${JOBS:-2}
start=$(date +%s)

# scan-build wraps the compiler; a fresh configure so every file is built.
rm -rf "$dir"
scan-build cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug \
    -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF >/dev/null
scan-build -o "$dir/scan" --status-bugs \
    cmake --build "$dir" --target weft_objects -j"$jobs" >"$dir/scan.log" 2>&1 || {
    grep -A3 "warning:" "$dir/scan.log" >&2 || tail -20 "$dir/scan.log" >&2
    echo "analyze: scan-build found bugs (report in $dir/scan)" >&2
    exit 1
}
echo "analyze: scan-build clean ($(($(date +%s) - start)) s)"

# cppcheck: warnings, performance and portability (style is ours to keep).
t=$(date +%s)
cppcheck -q --enable=warning,performance,portability --inline-suppr \
    --max-configs=1 -D_GNU_SOURCE -D__linux__ -D__x86_64__ \
    -I include -I src --suppress=missingIncludeSystem -j"$jobs" \
    --error-exitcode=1 \
    --template='{file}:{line}: {severity}: {message} [{id}]' src/
echo "analyze: cppcheck clean ($(($(date +%s) - t)) s)"
