#!/bin/sh
# Build weft for aarch64 with the Debian cross compiler and run the
# context-switch test under qemu-user: the aarch64 switch is exercised on
# every CI run although CI runs on x86-64.
set -eu
cd "$(dirname "$0")/.."
arch=${1:-aarch64}
cc=$arch-linux-gnu-gcc
qemu=qemu-$arch-static
pkgs="gcc-$arch-linux-gnu libc6-dev-arm64-cross qemu-user-static"
if ! command -v "$cc" >/dev/null || ! command -v "$qemu" >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "cross-check: needs: apt-get install -y $pkgs" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends $pkgs >/dev/null
fi
out=build-cross-$arch
rm -rf "$out" && mkdir -p "$out"
# The layers the switch test needs (the network and TLS modules would need
# the target's OpenSSL and c-ares too).
# (src/debug: the parts the loop links, not the dump.)
for f in $(find src/core src/coro src/loop src/task -name '*.c') \
    src/debug/watch.c src/debug/symbol.c src/debug/probes.c \
    src/proc/signal.c; do
    $cc -O2 -Wall -Wextra -Werror -DWEFT_BUILDING -D_GNU_SOURCE -Iinclude \
        -c "$f" -o "$out/$(basename "$f" .c).o"
done
# The rest of src/debug is compiled too (the dump without backtraces
# there), but not linked: it needs the network's objects.
mkdir -p "$out/only-compiled"
for f in src/debug/debug.c src/debug/dump.c; do
    $cc -O2 -Wall -Wextra -Werror -DWEFT_BUILDING -D_GNU_SOURCE -Iinclude \
        -c "$f" -o "$out/only-compiled/$(basename "$f" .c).o"
done
$cc -O2 -static -Iinclude tests/test_switch.c "$out"/*.o -lpthread -lm \
    -o "$out/test_switch"
$qemu "$out/test_switch"
