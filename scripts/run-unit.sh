#!/bin/sh
# Runs every unit test binary in DIR, each in its own process with a
# timeout.  Prints one line per binary and the output of failures.
# Usage: scripts/run-unit.sh DIR
set -u
dir=${1:?usage: run-unit.sh DIR}
timeout_s=${VG_UNIT_TIMEOUT:-120}
pass=0 fail=0 failed=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    start=$(date +%s)
    if timeout --kill-after=5 "$timeout_s" "$t" >"$log" 2>&1; then
        pass=$((pass + 1))
        printf '  PASS  unit/%-28s %ss\n' "$name" "$(( $(date +%s) - start ))"
    else
        rc=$?
        fail=$((fail + 1))
        failed="$failed $name"
        [ $rc -eq 124 ] && echo "  (timed out after ${timeout_s}s)" >>"$log"
        printf '  FAIL  unit/%s (exit %s)\n' "$name" "$rc"
        sed 's/^/        /' "$log" | grep -v '^        \[ \(RUN\|      OK\) ' | tail -40
    fi
done
echo "unit: $pass passed, $fail failed${failed:+ (}${failed# }${failed:+)}"
[ "$fail" -eq 0 ]
