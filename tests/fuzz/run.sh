#!/bin/sh
# Runs libFuzzer targets, each for SECONDS, from its seeds in
# tests/fuzz/corpus/NAME/ and the corpus it grew before (build/fuzz/corpus/
# NAME/, kept between runs), and prints one line per target: executions,
# executions per second, coverage (libFuzzer's cov: edges and ft:
# features from its final stats line) and corpus size.  Fails if any
# target crashed, leaked, ran out of memory or timed out on an input; the
# input is kept in build/fuzz/crash/NAME/ and its log in build/fuzz/log/.
#
#   tests/fuzz/run.sh SECONDS JOBS NAME...      (make fuzz, make fuzz-smoke)
set -u
secs=$1 jobs=$2
shift 2
out=build/fuzz
mkdir -p $out/log $out/crash $out/corpus

one() {
    f=$1
    log=$out/log/$f.log
    mkdir -p $out/corpus/$f $out/crash/$f
    seeds=tests/fuzz/corpus/$f
    [ -d "$seeds" ] || seeds=
    # -timeout: seconds per input; the parsers answer in microseconds.
    if $out/fuzz/$f -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix=$out/crash/$f/ \
        $out/corpus/$f $seeds >"$log" 2>&1; then
        res=PASS
    else
        res=FAIL
    fi
    # "#123456 DONE cov: 812 ft: 2301 corp: 180/21Kb lim: ... exec/s: 4115 rss: ..."
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$done_line" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
    printf '  %s  %-22s execs %9s  (%6s/s)  cov %5s  ft %6s  corpus %s\n' "$res" "fuzz/$f" \
        "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    if [ $res = FAIL ]; then
        grep -E 'ERROR: |SUMMARY: |^artifact_prefix|Test unit written' "$log" | head -5 | sed 's/^/        /'
        echo "        log: $log"
        return 1
    fi
    return 0
}

# JOBS targets at a time, each in the background; their lines are
# printed in the order of the arguments.
fail=0 queue= running=0
reap() {
    set -- $queue
    f=$1 pid=$2
    shift 2
    queue="$*"
    wait "$pid" || fail=1
    cat $out/log/$f.line
    running=$((running - 1))
}
for f in "$@"; do
    one "$f" >$out/log/$f.line 2>&1 &
    queue="$queue $f $!"
    running=$((running + 1))
    [ $running -lt "$jobs" ] || reap
done
while [ $running -gt 0 ]; do reap; done
exit $fail
