#!/bin/sh
# End-to-end test runner.  Each tests/e2e/t_*.sh runs in its own process,
# in a fresh temporary directory, under a timeout (default 120 s; a test
# may declare "# vg-timeout: N").  Tests use the real binaries in
# $VG_BUILD (default build/).
#
# Usage: tests/e2e/run.sh [NAME...]      e.g. tests/e2e/run.sh pki
# Env:   VG_BUILD=build/asan  VG_KEEP=1 (keep temp dirs of failed tests)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${VG_BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
export VG_BIN="$build" VG_ROOT="$root"

if [ $# -gt 0 ]; then
    tests=""
    for n in "$@"; do tests="$tests $root/tests/e2e/t_${n#t_}"; tests="${tests%.sh}.sh"; done
else
    tests=$(ls "$root"/tests/e2e/t_*.sh)
fi

pass=0 fail=0 failed=""
for t in $tests; do
    name=$(basename "$t" .sh)
    name=${name#t_}
    limit=$(sed -n 's/^# vg-timeout: *\([0-9]*\).*/\1/p' "$t" | head -1)
    limit=${limit:-120}
    tmp=$(mktemp -d "/tmp/vg-e2e-$name-XXXXXX")
    # The agent's network process (another user) must reach its state directory.
    chmod 711 "$tmp"
    start=$(date +%s)
    if (cd "$tmp" && VG_TMP="$tmp" timeout --kill-after=5 "$limit" sh "$t") >"$tmp/test.log" 2>&1; then
        pass=$((pass + 1))
        printf '  PASS  e2e/%-29s %ss\n' "$name" "$(( $(date +%s) - start ))"
        rm -rf "$tmp"
    else
        rc=$?
        fail=$((fail + 1))
        failed="$failed $name"
        [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$tmp/test.log"
        printf '  FAIL  e2e/%s (exit %s)\n' "$name" "$rc"
        tail -60 "$tmp/test.log" | sed 's/^/        /'
        if [ "${VG_KEEP:-0}" = 1 ]; then echo "        (kept $tmp)"; else rm -rf "$tmp"; fi
    fi
done
echo "e2e: $pass passed, $fail failed${failed:+ (}${failed# }${failed:+)}"
[ "$fail" -eq 0 ]
