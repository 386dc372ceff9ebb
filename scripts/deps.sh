#!/bin/sh
# Install the Debian packages a make target needs, or say exactly what to
# install. Usage: scripts/deps.sh build|test|bench|valgrind|fuzz|analyze|coverage ...
set -eu

pkgs_build="gcc make cmake pkg-config libc6-dev libssl-dev libc-ares-dev zlib1g-dev libjansson-dev
libunwind-dev systemtap-sdt-dev liburing-dev"
pkgs_test="check libsubunit-dev openssl gdb curl python3 python3-websockets chromium"
pkgs_bench="g++ libuv1-dev libboost-context-dev wrk nginx-light h2o libhttp-parser-dev libcurl4-openssl-dev python3-aiohttp python3-uvloop python3-websockets"
pkgs_valgrind="valgrind"
# libFuzzer comes with clang's runtime (libclang-rt-dev); http-parser is
# the differential target's peer.
pkgs_fuzz="clang libclang-rt-dev libhttp-parser-dev"
# make analyze: clang's scan-build (clang-tools) and cppcheck; make
# coverage: lcov (gcov comes with gcc).
pkgs_analyze="clang clang-tools cppcheck"
pkgs_coverage="lcov"

want=""
for target in "$@"; do
    case "$target" in
    build) want="$want $pkgs_build" ;;
    test) want="$want $pkgs_build $pkgs_test" ;;
    bench) want="$want $pkgs_build $pkgs_bench" ;;
    valgrind) want="$want $pkgs_build $pkgs_test $pkgs_valgrind" ;;
    fuzz) want="$want $pkgs_build $pkgs_fuzz" ;;
    analyze) want="$want $pkgs_build $pkgs_analyze" ;;
    coverage) want="$want $pkgs_build $pkgs_test $pkgs_coverage" ;;
    *) echo "deps.sh: unknown target '$target'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

# WebSocket interop tests run Node's ws: Debian's node and npm, unless a
# node (with its npm) is there already from elsewhere.
case " $want " in *" python3-websockets "*)
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
        missing="$missing nodejs npm" ;;
esac

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "weft needs these Debian packages; as root, run:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them at most once a day.
stamp=/var/lib/apt/periodic/weft-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ] ||
   ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    apt-get update -q
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
    apt-get install -y -q --no-install-recommends $missing
fi
