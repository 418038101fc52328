#!/bin/sh
# End-to-end test runner.  Each tests/e2e/t_*.sh runs in its own process,
# in a fresh temporary directory, under a timeout (default 120 s; a test
# may declare "# vg-timeout: N").  Tests use the real binaries in
# $VG_BUILD (default build/).
#
# Usage: tests/e2e/run.sh [NAME...]      e.g. tests/e2e/run.sh pki
# Env:   VG_BUILD=build/asan  VG_KEEP=1 (keep temp dirs of failed tests)
#        VG_JOBS=2: two tests at a time (those marked "# vg-serial" alone)
#        VG_STORE=pg: the collectors store in PostgreSQL ([store] url), one
#        throwaway server for the run (tests/pg-server.sh), a database per
#        collector database of a test (lib.sh: collector_conf, sql)
# A test that exits 77 is skipped (what it needs is missing here); it
# says why on a line starting with SKIP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${VG_BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
export VG_BIN="$build" VG_ROOT="$root"

if [ $# -gt 0 ]; then
    tests=""
    for n in "$@"; do
        n=${n#t_}
        t="$root/tests/e2e/t_${n%.sh}.sh"
        [ -f "$t" ] || { echo "e2e: no test named ${n%.sh} (tests/e2e/t_*.sh)" >&2; exit 2; }
        tests="$tests $t"
    done
else
    tests=$(ls "$root"/tests/e2e/t_*.sh)
fi

# Results, one file per test (NAME.st: PASS, FAIL or SKIP; NAME.out: what
# to print; NAME.pid: its timeout process while it runs), so that tests
# may run side by side; printed whole, one test at a time, under a lock.
res=$(mktemp -d /tmp/vgrun-XXXXXX)
cleanup() {
    rm -rf "$res"
    if [ -n "${VG_PG_DIR:-}" ]; then
        "$root/tests/pg-server.sh" stop "$VG_PG_DIR/server"
        rm -rf "$VG_PG_DIR"
    fi
}
trap cleanup EXIT
# Interrupted: the lanes, and the tests they run (each in a process group
# of its own under timeout), stop too.
lanes=""
stop_all() {
    trap - INT TERM HUP
    [ -z "$lanes" ] || kill $lanes 2>/dev/null
    for f in "$res"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    wait
    exit "$1"
}
trap 'stop_all 130' INT
trap 'stop_all 143' TERM HUP

if [ "${VG_STORE:-sqlite}" = pg ]; then
    VG_PG_DIR=$(mktemp -d /tmp/vg-pg-XXXXXX)
    chmod 711 "$VG_PG_DIR"
    VG_PG_PORT=$(( 50000 + $$ % 9000 ))
    while ss -Hltn "sport = :$VG_PG_PORT" | grep -q .; do VG_PG_PORT=$((VG_PG_PORT + 1)); done
    "$root/tests/pg-server.sh" start "$VG_PG_DIR/server" "$VG_PG_PORT" >/dev/null ||
        { rm -rf "$VG_PG_DIR"; VG_PG_DIR=""; exit 1; }
    export VG_STORE VG_PG_DIR VG_PG_PORT
    echo "e2e: storing in PostgreSQL on 127.0.0.1:$VG_PG_PORT"
fi

# tname FILE: a test's name (tests/e2e/t_NAME.sh).
tname() {
    _n=$(basename "$1" .sh)
    echo "${_n#t_}"
}

run_one() {
    t=$1
    name=$(tname "$t")
    limit=$(sed -n 's/^# vg-timeout: *\([0-9]*\).*/\1/p' "$t" | head -1)
    limit=${limit:-120}
    tmp=$(mktemp -d "/tmp/vg-e2e-$name-XXXXXX")
    # The agent's network process (another user) must reach its state directory.
    chmod 711 "$tmp"
    start=$(date +%s)
    rc=0
    (cd "$tmp" && VG_TMP="$tmp" exec timeout --kill-after=5 "$limit" sh "$t") >"$tmp/test.log" 2>&1 &
    echo $! >"$res/$name.pid"
    wait $! || rc=$?
    rm -f "$res/$name.pid"
    # A test's eBPF pins (lib.sh), even when it was killed by the timeout.
    rm -rf "/sys/fs/bpf/$(basename "$tmp")"-* 2>/dev/null || true
    out=$res/$name.out
    if [ $rc -eq 0 ]; then
        echo PASS >"$res/$name.st"
        printf '  PASS  e2e/%-29s %ss\n' "$name" "$(( $(date +%s) - start ))" >"$out"
        # What a test measured, for the record ("figure: ..." lines).
        grep '^figure: ' "$tmp/test.log" | sed 's/^figure: /        /' >>"$out" || true
        rm -rf "$tmp"
    elif [ $rc -eq 77 ]; then
        echo SKIP >"$res/$name.st"
        printf '  SKIP  e2e/%-29s %s\n' "$name" "$(grep '^SKIP' "$tmp/test.log" | tail -1)" >"$out"
        rm -rf "$tmp"
    else
        echo FAIL >"$res/$name.st"
        [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$tmp/test.log"
        { printf '  FAIL  e2e/%s (exit %s)\n' "$name" "$rc"
          tail -60 "$tmp/test.log" | sed 's/^/        /'
        } >"$out"
        if [ "${VG_KEEP:-0}" = 1 ]; then echo "        (kept $tmp)" >>"$out"; else rm -rf "$tmp"; fi
    fi
    flock "$res/.lock" cat "$out"
}

# VG_JOBS=N runs up to N tests at a time; a test that declares
# "# vg-serial: WHY" (network namespaces and firewall rules, floods of
# execs or connections that other tests' agents would see) runs alone,
# before the others.  Each lane takes the next test nobody has taken.
jobs=${VG_JOBS:-1}
serial="" shared=""
for t in $tests; do
    if [ "$jobs" -gt 1 ] && grep -q '^# vg-serial:' "$t"; then serial="$serial $t"; else shared="$shared $t"; fi
done
for t in $serial; do run_one "$t"; done
lane() {
    VG_LANE=$1
    export VG_LANE
    for t in $shared; do
        mkdir "$res/taken-$(basename "$t")" 2>/dev/null && run_one "$t"
    done
    return 0
}
if [ "$jobs" -gt 1 ]; then
    i=0
    # Each lane's tests take ports from a range of their own (free_port).
    export VG_LANES=$jobs
    while [ $i -lt "$jobs" ]; do lane $i & lanes="$lanes $!"; i=$((i + 1)); done
    wait
else
    lane ""
fi

pass=0 fail=0 skip=0 failed=""
for t in $tests; do
    name=$(tname "$t")
    case $(cat "$res/$name.st" 2>/dev/null) in
        PASS) pass=$((pass + 1)) ;;
        SKIP) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); failed="$failed $name" ;;
    esac
done
sk=""
[ "$skip" -eq 0 ] || sk=", $skip skipped"
echo "e2e: $pass passed, $fail failed${failed:+ (}${failed# }${failed:+)}$sk"
[ "$fail" -eq 0 ]
