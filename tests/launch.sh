#!/bin/sh
# Runs one test binary. Under `make valgrind` (WEFT_TEST_VALGRIND=1) it runs
# under memcheck, in one process so leaks are seen; under sanitizers and
# valgrind Check's per-test timeouts are stretched.
set -eu
bin="$1"
shift
if [ "${WEFT_TEST_VALGRIND:-0}" = 1 ]; then
    export CK_FORK=no CK_TIMEOUT_MULTIPLIER=20
    exec valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --track-origins=no \
        --suppressions="$(dirname "$0")/valgrind.supp" "$bin" "$@"
fi
case "$(basename "$(dirname "$(dirname "$bin")")")" in
*address* | *thread*) export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5} ;;
esac
exec "$bin" "$@"
