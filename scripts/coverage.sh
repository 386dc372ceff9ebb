#!/bin/sh
# Line and branch coverage of src/ by the test suite: gcov data from a
# --coverage build (BUILD_DIR, default build-coverage), collected with
# lcov, an HTML report in BUILD_DIR/coverage/index.html, and a table per
# module (src/<module>) on stdout.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-coverage}
info="$dir/coverage.info"
# (Debian's geninfo warns about redefined subroutines: kept in lcov.log.)
lcov -q --rc lcov_branch_coverage=1 --capture --directory "$dir" \
    --output-file "$info.all" >"$dir/lcov.log" 2>&1 || {
    cat "$dir/lcov.log" >&2
    exit 1
}
lcov -q --rc lcov_branch_coverage=1 --extract "$info.all" "$PWD/src/*" \
    --output-file "$info" >/dev/null
genhtml -q --branch-coverage --output-directory "$dir/coverage" "$info" \
    >/dev/null
# Per module: LF/LH lines, BRF/BRH branches of each source file.
awk -v root="$PWD/src/" '
    /^SF:/ { f = substr($0, 4); sub(root, "", f); split(f, p, "/"); m = p[1] }
    /^LF:/ { lf[m] += substr($0, 4); LF += substr($0, 4) }
    /^LH:/ { lh[m] += substr($0, 4); LH += substr($0, 4) }
    /^BRF:/ { bf[m] += substr($0, 5); BF += substr($0, 5) }
    /^BRH:/ { bh[m] += substr($0, 5); BH += substr($0, 5) }
    function pct(a, b) { return b ? sprintf("%5.1f%%", 100 * a / b) : "    -" }
    END {
        printf "%-8s %7s %7s %7s %7s %7s %7s\n", "module", "lines", "hit",
               "line%", "branches", "hit", "branch%"
        for (m in lf)
            printf "%-8s %7d %7d %7s %7d %7d %7s\n", m, lf[m], lh[m],
                   pct(lh[m], lf[m]), bf[m], bh[m], pct(bh[m], bf[m]) | "sort"
        close("sort")
        printf "%-8s %7d %7d %7s %7d %7d %7s\n", "total", LF, LH, pct(LH, LF),
               BF, BH, pct(BH, BF)
    }' "$info"
echo "coverage: report in $dir/coverage/index.html"
