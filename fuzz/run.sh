#!/bin/sh
# make fuzz: build every fuzz/*.c as its own libFuzzer target (clang
# -fsanitize=fuzzer,address,undefined) and run each for FUZZ_SECONDS
# (default 10). Exits non-zero if any target found a crash, a leak, a
# sanitizer report or a timeout; the input is left in
# build-fuzz/artifacts/.
#
#   FUZZ_SECONDS=N    seconds per target
#   FUZZ_RUNS=N       or this many inputs per target instead
#   FUZZ_TARGETS=re   only the targets whose name matches (grep -E)
#   FUZZ_JOBS=N       run N targets at once (default 1)
#   FUZZ_OUT=dir      where to build and keep corpora (default build-fuzz)
#   FUZZ_CFLAGS=...   optimisation (default -O1)
#   FUZZ_ARGS=...     more libFuzzer options (e.g. -max_len=1024)
#   WEFT_LLHTTP_FIXTURES=dir   the llhttp fixtures (default
#                     ../shared/reference/llhttp-fixtures), for seeds
#
# A target is fuzz/NAME.c defining LLVMFuzzerTestOneInput; it is linked
# with src/http/*.c and the core files they need. Optional, per target:
#   fuzz/NAME.dict          its libFuzzer dictionary
#   fuzz/corpus/NAME/       committed seeds (read, never written)
#   "fuzz-seeds: KIND..."   a comment line: seed it with the fixtures'
#                           request / response / chunked inputs
#   "fuzz-ldflags: ..."     a comment line: extra link flags
# The working corpus, which grows, is build-fuzz/corpus/NAME/.
set -eu
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-10}
out=${FUZZ_OUT:-build-fuzz}
cc=${FUZZ_CC:-clang}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
common="-g ${FUZZ_CFLAGS:--O1} -fno-omit-frame-pointer -D_GNU_SOURCE -Iinclude -Isrc"
mkdir -p "$out/obj" "$out/corpus" "$out/artifacts"

# The library (every module but src/json, which is libweft_json's),
# instrumented for coverage, in an archive: a target links only the
# objects it reaches (the parser targets little more than src/http's
# parsers; the WebSocket ones the loop and the streams too). Objects are
# rebuilt when their source is newer. -O1 by default, and no libunwind or
# tracepoints (they are not what is fuzzed).
lib_src=$(ls src/*/*.c | grep -v '^src/json/')
objs=""
for f in $lib_src; do
    o="$out/obj/$(echo "$f" | tr / _).o"
    if [ ! -f "$o" ] || [ "$f" -nt "$o" ] || [ -n "$(find src include -name '*.h' -newer "$o" | head -n 1)" ]; then
        $cc $common -DWEFT_BUILDING $san -fsanitize=fuzzer-no-link -c "$f" -o "$o"
    fi
    objs="$objs $o"
done
rm -f "$out/libweft_fuzz.a"
# shellcheck disable=SC2086
ar rcs "$out/libweft_fuzz.a" $objs
libs="$out/libweft_fuzz.a -lssl -lcrypto -lcares -lz -lpthread"

# Seeds from llhttp's fixtures, when they are there.
fixtures=${WEFT_LLHTTP_FIXTURES:-../shared/reference/llhttp-fixtures}
if [ -d "$fixtures" ]; then
    $cc -O1 -D_GNU_SOURCE -Iinclude -Isrc fuzz/tools/fixture_seeds.c \
        src/http/parse.c src/http/body.c src/http/write.c src/core/error.c \
        src/core/log.c src/core/alloc.c -lm -o "$out/fixture_seeds"
    "$out/fixture_seeds" "$fixtures" "$out/seeds"
else
    echo "fuzz: no llhttp fixtures at $fixtures: committed seeds only"
fi

# Build the targets.
targets=""
for src in fuzz/*.c; do
    name=$(basename "$src" .c)
    if [ -n "${FUZZ_TARGETS:-}" ] && ! echo "$name" | grep -Eq "$FUZZ_TARGETS"; then
        continue
    fi
    ldflags=$(sed -n 's/.*fuzz-ldflags: *\([^*]*\).*/\1/p' "$src" | head -n 1)
    # shellcheck disable=SC2086
    $cc $common $san -fsanitize=fuzzer "$src" $ldflags $libs -lm \
        -o "$out/$name"
    targets="$targets $name"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for s in /usr/lib/llvm-*/bin/llvm-symbolizer; do
    [ -x "$s" ] && export ASAN_SYMBOLIZER_PATH="$s"
done

run_one() {
    name=$1
    src=fuzz/$name.c
    dirs="$out/corpus/$name"
    mkdir -p "$dirs"
    [ -d "fuzz/corpus/$name" ] && dirs="$dirs fuzz/corpus/$name"
    for kind in $(sed -n 's/.*fuzz-seeds: *\([^*]*\).*/\1/p' "$src" | head -n 1); do
        [ -d "$out/seeds/$kind" ] && dirs="$dirs $out/seeds/$kind"
    done
    dict=""
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit="-runs=$FUZZ_RUNS"
    else
        limit="-max_total_time=$secs"
    fi
    rc=0
    # shellcheck disable=SC2086
    "$out/$name" $limit -timeout=10 -print_final_stats=1 ${FUZZ_ARGS:-} \
        -artifact_prefix="$out/artifacts/$name-" $dict $dirs \
        >"$out/$name.log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
    if [ $rc -ne 0 ]; then
        echo "fuzz: $name FAILED (exit $rc, $execs inputs); see $out/$name.log:"
        grep -E 'ERROR|SUMMARY|runtime error|deadly|Test unit written' \
            "$out/$name.log" | head -n 10
        return 1
    fi
    echo "fuzz: $name ok: ${execs:-?} inputs, no findings"
}

failed=""
jobs=${FUZZ_JOBS:-1}
running=0
pids=""
for t in $targets; do
    if [ "$jobs" -le 1 ]; then
        run_one "$t" || failed="$failed $t"
        continue
    fi
    (run_one "$t") &
    pids="$pids $!:$t"
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        for pt in $pids; do
            wait "${pt%%:*}" || failed="$failed ${pt#*:}"
        done
        pids=""
        running=0
    fi
done
for pt in $pids; do
    wait "${pt%%:*}" || failed="$failed ${pt#*:}"
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
echo "fuzz: all targets ran clean"
