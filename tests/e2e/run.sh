#!/bin/sh
# End-to-end test runner.  Each tests/e2e/t_*.sh runs in its own process,
# in a fresh temporary directory, under a timeout (default 120 s; a test
# may declare "# vg-timeout: N").  Tests use the real binaries in
# $VG_BUILD (default build/).
#
# Usage: tests/e2e/run.sh [NAME | pg:NAME ...]   e.g. tests/e2e/run.sh pki pg:cli
#        pg:NAME runs the test with the collectors storing in PostgreSQL
#        ([store] url): one throwaway server for the run
#        (tests/pg-server.sh), a database per collector database of a test
#        (lib.sh: collector_conf, sql).  A name alone uses $VG_STORE.
# Env:   VG_BUILD=build/asan  VG_KEEP=1 (keep temp dirs of failed tests)
#        VG_JOBS=2: two tests at a time (those marked "# vg-serial" alone)
#        VG_STORE=pg: every test stores in PostgreSQL
# A test that exits 77 is skipped (what it needs is missing here); it
# says why on a line starting with SKIP.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${VG_BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
export VG_BIN="$build" VG_ROOT="$root"

# A job is STORE:PATH.
store=${VG_STORE:-sqlite}
if [ $# -gt 0 ]; then
    tests=""
    for n in "$@"; do
        st=$store
        case $n in pg:*) st=pg n=${n#pg:} ;; sqlite:*) st=sqlite n=${n#sqlite:} ;; esac
        n=${n#t_}
        t="$root/tests/e2e/t_${n%.sh}.sh"
        [ -f "$t" ] || { echo "e2e: no test named ${n%.sh} (tests/e2e/t_*.sh)" >&2; exit 2; }
        case "$tests " in *" $st:$t "*) continue ;; esac # named twice: run once
        tests="$tests $st:$t"
    done
else
    tests=$(ls "$root"/tests/e2e/t_*.sh | sed "s|^|$store:|")
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

case " $tests" in *" pg:"*)
    VG_PG_DIR=$(mktemp -d /tmp/vg-pg-XXXXXX)
    chmod 711 "$VG_PG_DIR"
    VG_PG_PORT=$(( 50000 + $$ % 9000 ))
    while ss -Hltn "sport = :$VG_PG_PORT" | grep -q .; do VG_PG_PORT=$((VG_PG_PORT + 1)); done
    "$root/tests/pg-server.sh" start "$VG_PG_DIR/server" "$VG_PG_PORT" >/dev/null ||
        { rm -rf "$VG_PG_DIR"; VG_PG_DIR=""; exit 1; }
    export VG_PG_DIR VG_PG_PORT
    echo "e2e: PostgreSQL for the pg: tests on 127.0.0.1:$VG_PG_PORT"
esac

# tname JOB: a job's name as run.sh takes it: NAME, or pg:NAME when
# the store is not SQLite (tests/e2e/t_NAME.sh).
tname() {
    _n=$(basename "${1#*:}" .sh)
    case $1 in pg:*) echo "pg:${_n#t_}" ;; *) echo "${_n#t_}" ;; esac
}

run_one() {
    t=${1#*:}
    name=$(tname "$1")
    label=e2e/$name
    case $name in pg:*) label=e2e-pg/${name#pg:} ;; esac
    id=$(echo "$name" | tr : -)
    limit=$(sed -n 's/^# vg-timeout: *\([0-9]*\).*/\1/p' "$t" | head -1)
    limit=${limit:-120}
    tmp=$(mktemp -d "/tmp/vg-e2e-$id-XXXXXX")
    # The agent's network process (another user) must reach its state directory.
    chmod 711 "$tmp"
    start=$(date +%s)
    rc=0
    (cd "$tmp" && VG_TMP="$tmp" VG_STORE=${1%%:*} exec timeout --kill-after=5 "$limit" sh "$t") >"$tmp/test.log" 2>&1 &
    echo $! >"$res/$id.pid"
    wait $! || rc=$?
    rm -f "$res/$id.pid"
    # A test's eBPF pins (lib.sh), even when it was killed by the timeout.
    rm -rf "/sys/fs/bpf/$(basename "$tmp")"-* 2>/dev/null || true
    out=$res/$id.out
    if [ $rc -eq 0 ]; then
        echo PASS >"$res/$id.st"
        printf '  PASS  %-33s %ss\n' "$label" "$(( $(date +%s) - start ))" >"$out"
        # What a test measured, for the record ("figure: ..." lines).
        grep '^figure: ' "$tmp/test.log" | sed 's/^figure: /        /' >>"$out" || true
        rm -rf "$tmp"
    elif [ $rc -eq 77 ]; then
        echo SKIP >"$res/$id.st"
        printf '  SKIP  %-33s %s\n' "$label" "$(grep '^SKIP' "$tmp/test.log" | tail -1)" >"$out"
        rm -rf "$tmp"
    else
        echo FAIL >"$res/$id.st"
        [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$tmp/test.log"
        { printf '  FAIL  %s (exit %s)\n' "$label" "$rc"
          tail -60 "$tmp/test.log" | sed 's/^/        /'
        } >"$out"
        if [ "${VG_KEEP:-0}" = 1 ]; then echo "        (kept $tmp)" >>"$out"; else rm -rf "$tmp"; fi
    fi
    flock "$res/.lock" cat "$out"
}

# VG_JOBS=N runs up to N tests at a time; a test that declares
# "# vg-serial: WHY" (floods of execs or connections that other tests'
# agents would see, limits sized to the machine) runs alone, before the
# others.  Each lane takes the next test nobody has taken, the longest
# first (by their "# vg-timeout"), so that the lanes end together.
jobs=${VG_JOBS:-1}
serial="" shared=""
for j in $tests; do
    if [ "$jobs" -gt 1 ] && grep -q '^# vg-serial:' "${j#*:}"; then serial="$serial $j"; else shared="$shared $j"; fi
done
for j in $serial; do run_one "$j"; done
if [ "$jobs" -gt 1 ]; then
    shared=$(for j in $shared; do
        l=$(sed -n 's/^# vg-timeout: *\([0-9]*\).*/\1/p' "${j#*:}" | head -1)
        echo "${l:-120} $j"
    done | sort -s -k1,1nr | cut -d' ' -f2)
fi
lane() {
    VG_LANE=$1
    export VG_LANE
    for j in $shared; do
        mkdir "$res/taken-$(tname "$j" | tr : -)" 2>/dev/null && run_one "$j"
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

pass=0 fail=0 skip=0 failed="" npg=0
for j in $tests; do
    name=$(tname "$j")
    case $name in pg:*) npg=$((npg + 1)) ;; esac
    case $(cat "$res/$(echo "$name" | tr : -).st" 2>/dev/null) in
        PASS) pass=$((pass + 1)) ;;
        SKIP) skip=$((skip + 1)) ;;
        *) fail=$((fail + 1)); failed="$failed $name" ;;
    esac
done
sk="" of=""
[ "$skip" -eq 0 ] || sk=", $skip skipped"
[ "$npg" -eq 0 ] || of=" (of $npg on PostgreSQL)"
echo "e2e: $pass passed, $fail failed${failed:+ (}${failed# }${failed:+)}$sk$of"
[ "$fail" -eq 0 ]
