#!/bin/sh
# Isolation latency, in network namespaces (as e2e/isolate sets them up):
# 10 isolate + release rounds against a real collector and agent.  Prints
# the agent's time from the command's queueing to its verified result
# (collector clock), and vigilctl's whole-process time, which includes
# its TLS connections and polling.  Never fails on time.
#   Usage: scripts/bench_isolate.sh BUILD_DIR
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
export VG_BIN=$B VG_ROOT=$ROOT
T=$(mktemp -d /tmp/vg-bench-isolate-XXXXXX)
# The agent's network process (another user) must reach its state directory.
chmod 711 "$T"
cd "$T"
. "$ROOT/tests/e2e/lib.sh"
. "$ROOT/tests/e2e/netns.sh"
trap 'teardown; rm -rf "$T"' EXIT
make_pki pki
PORT=$(free_port)
netns_start_collector
netns_agent_conf ""
netns_start_agent
ROLE=responder-1
: >ctl_isolate.ms
: >ctl_release.ms
for i in 1 2 3 4 5 6 7 8 9 10; do
    for what in isolate release; do
        t0=$(date +%s%N)
        ctl "$what" agent-1 --reason "bench $i" >/dev/null 2>&1
        t1=$(date +%s%N)
        echo $(( (t1 - t0) / 1000000 )) >>"ctl_$what.ms"
    done
done
reach 10.77.2.1 9000 || echo "bench_isolate: warning: the peer is not reachable after the last release"
med() { sort -n | awk '{v[NR]=$1} END {printf "median %d ms (min %d, max %d)", v[int((NR+1)/2)], v[1], v[NR]}'; }
for what in isolate release; do
    agent=$(sql c.db "select finished_ms - issued_ms from commands where action = '$what' and state = 4" | med)
    whole=$(med <"ctl_$what.ms")
    echo "bench_isolate: $what, queued to verified result: $agent; vigilctl $what, whole process: $whole"
done
