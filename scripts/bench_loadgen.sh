#!/bin/sh
# One collector under vigil-loadgen (N simulated agents in one process,
# real mutual TLS, the agent's protocol), on this machine's loopback:
#   throughput  1, 100 and 1,000 agents streaming as fast as their
#               window (32, 4 and 1 unacknowledged batches of 100 execs)
#               allows:
#               stored events/s (acknowledged = committed), collector CPU
#               per event, ack latency, over the steady state only;
#   hold        HOLD agents (default 5,000) sending 1 exec/s each: the
#               collector's RSS per agent, ack p50/p99, then a collector
#               restart (SIGTERM, start again on the same database) and
#               the reconnect storm: time until all are back, handshakes
#               resumed vs full, collector CPU for the storm.
# The loadgen shares the 2 cores with the collector (its own CPU is
# reported).  Prints figures and writes them to BUILD/bench/loadgen.md
# and .json; never fails on time.
# Usage: scripts/bench_loadgen.sh [BUILD] [HOLD]
set -eu
B=${1:-build}
HOLD=${2:-${LG_BENCH_AGENTS:-5000}}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
LG="$B/vigil-loadgen"
OUT="$B/bench"
mkdir -p "$OUT"
# Agent certificates are issued once and kept here (2,000 take ~6 s).
PKI="$OUT/loadgen-pki"

# Descriptors for the most agents of any run (sh's ulimit -n sets the
# hard limit too: no run may need more than this).
most=$HOLD
[ "$most" -ge 1000 ] || most=1000
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((most + 300)) ]; then
    HOLD=$(( $(ulimit -Hn) - 300 ))
    most=$HOLD
    echo "bench_loadgen: hard descriptor limit $(ulimit -Hn): holding $HOLD agents"
fi
ulimit -n $((most + 300))

if [ ! -f "$PKI/ca.key" ]; then
    rm -rf "$PKI"
    "$B/vigilctl" pki init --dir "$PKI" >/dev/null
    "$B/vigilctl" pki issue --dir "$PKI" --role collector --name collector --san localhost \
        --san 127.0.0.1 >/dev/null
fi
"$LG" --pki "$PKI" --agents "$most" --pki-only

T=$(mktemp -d /tmp/vg-bench-lg-XXXXXX)
cpid= lpid=
cleanup() {
    [ -n "$lpid" ] && kill -TERM "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"

port=$(shuf -i 20000-60000 -n 1)
start_collector() { # SYNC [keep the database]
    [ -n "${2:-}" ] || rm -f c.db c.db-* tickets.keys
    cat >collector.conf <<CONF
[collector]
listen = 127.0.0.1:$port
db = c.db
sync = $1
[tls]
ca = $PKI/ca.crt
cert = $PKI/collector.crt
key = $PKI/collector.key
CONF
    "$B/vigil-collector" -c collector.conf >>collector.log 2>&1 &
    cpid=$!
    t=0
    until [ "$(grep -c 'listening on' collector.log)" -gt "${starts:-0}" ]; do
        sleep 0.1
        t=$((t + 1))
        [ $t -lt 300 ] || { echo "bench_loadgen: collector did not start"; tail collector.log; exit 1; }
    done
    starts=$(grep -c 'listening on' collector.log)
}
stop_collector() {
    kill -TERM "$cpid" && wait "$cpid" 2>/dev/null || :
    cpid=
}
cpu_ms() { # utime + stime of PID, ms
    awk -v t="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / t }' "/proc/$1/stat"
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
wait_line() { # FILE TEXT SECONDS
    t=0
    until grep -q "$2" "$1" 2>/dev/null; do
        sleep 0.1
        t=$((t + 1))
        [ $t -lt $(($3 * 10)) ] || return 1
        kill -0 "$lpid" 2>/dev/null || return 1
    done
}
j() { jq -r "$1" lg.json; }

JSON="$OUT/loadgen.json"
MD="$OUT/loadgen.md"
{
    echo "# vigil-loadgen against one collector ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))"
    echo
    echo "| agents | stored events/s | collector CPU per event | ack p50 | ack p99 | loadgen CPU |"
    echo "|---:|---:|---:|---:|---:|---:|"
} >"$MD"
echo "{\"throughput\":[" >"$JSON"

# ---- throughput ----
first=1
for n in 1 100 1000; do
    rate=$((400000 / n))
    # In flight at once: agents x window x 100 events; more only queues.
    case $n in 1) win=32 ;; 100) win=4 ;; *) win=1 ;; esac
    : >collector.log
    starts=0
    start_collector full
    : >lg.err
    "$LG" --collector "127.0.0.1:$port" --pki "$PKI" --agents $n --rate $rate --batch 100 \
        --window $win --duration 15 --ramp 24 --json >lg.json 2>lg.err &
    lpid=$!
    wait_line lg.err "agents connected in" 300 || :
    c0=$(cpu_ms "$cpid"); t0=$(date +%s%N)
    wait_line lg.err "draining" 120 || :
    c1=$(cpu_ms "$cpid"); t1=$(date +%s%N)
    wait "$lpid" || :
    lpid=
    stop_collector
    ev=$(j .steady_events_per_s)
    wall_ms=$(( (t1 - t0) / 1000000 ))
    us_ev=$(awk -v c=$((c1 - c0)) -v e="$ev" -v w=$wall_ms 'BEGIN { if (e > 0) printf "%.1f", c * 1000 / (e * w / 1000); else print "n/a" }')
    lcpu="$(j .steady_cpu_percent)%"
    ccpu=$(awk -v c=$((c1 - c0)) -v w=$wall_ms 'BEGIN { printf "%.0f%%", c * 100 / w }')
    echo "bench_loadgen: $n agents: $ev stored events/s, collector $us_ev us CPU per event ($ccpu of a core)," \
         "ack p50 $(j .ack_latency_ms.p50) ms p99 $(j .ack_latency_ms.p99) ms, loadgen $lcpu of a core"
    echo "| $n | $ev | $us_ev us ($ccpu of a core) | $(j .ack_latency_ms.p50) ms | $(j .ack_latency_ms.p99) ms | $lcpu |" >>"$MD"
    [ $first = 1 ] || echo "," >>"$JSON"
    first=0
    echo "{\"agents\":$n,\"events_per_s\":$ev,\"collector_cpu_us_per_event\":\"$us_ev\",\"collector_cpu\":\"$ccpu\",\"loadgen_cpu\":\"$lcpu\",\"loadgen\":$(cat lg.json)}" >>"$JSON"
done
echo "]," >>"$JSON"

# ---- hold and restart storm ----
# sync = normal: each new host's first hello is a commit of its own; at
# sync = full the ramp is fsync-bound (about 33 new hosts/s here).
: >collector.log
starts=0
start_collector normal
base=$(rss_kb "$cpid")
: >lg.err
"$LG" --collector "127.0.0.1:$port" --pki "$PKI" --agents "$HOLD" --rate 1 --batch 10 \
    --duration 20 --ramp 24 --wait-restart --jitter 5 --restart-timeout 600 --json \
    >lg.json 2>lg.err &
lpid=$!
wait_line lg.err "agents connected in" 1200 || :
sleep 10
held=$(rss_kb "$cpid")
lrss=$(rss_kb "$lpid" || echo 0)
wait_line lg.err "waiting for a collector restart" 120 || :
stop_collector
start_collector normal keep
s0=$(cpu_ms "$cpid")
wait_line lg.err "storm over\|not reconnected" 700 || :
s1=$(cpu_ms "$cpid")
wait "$lpid" || :
lpid=
stop_collector
hs=$(grep "TLS handshakes:" collector.log | tail -1 | sed 's/.*TLS handshakes: //')
per=$(( (held - base) / HOLD ))
echo "bench_loadgen: hold: $HOLD agents (1 exec/s each) connected in $(j .ramp_s) s;" \
     "collector RSS $base KB idle, $held KB with them: $per KB per agent; loadgen $((lrss / HOLD)) KB per agent"
echo "bench_loadgen: hold: $(j .steady_events_per_s) events/s stored, ack p50 $(j .ack_latency_ms.p50) ms" \
     "p99 $(j .ack_latency_ms.p99) ms max $(j .ack_latency_ms.max) ms"
echo "bench_loadgen: restart storm: all $HOLD back in $(j .storm.seconds) s (from the first disconnect;" \
     "jitter 5 s), $(j .storm.resumed) resumed, $(j .storm.full) full; collector CPU $((s1 - s0)) ms" \
     "for the storm; collector's count: $hs"
{
    echo
    echo "Hold: $HOLD agents at 1 exec/s each (sync = normal), all connected in $(j .ramp_s) s."
    echo "Collector RSS $base KB idle, $held KB with them: **$per KB per agent** (loadgen: $((lrss / HOLD)) KB per agent)."
    echo "Ack latency p50 $(j .ack_latency_ms.p50) ms, p99 $(j .ack_latency_ms.p99) ms, max $(j .ack_latency_ms.max) ms."
    echo
    echo "Restart storm (SIGTERM, start again on the same database, agents reconnect within 5 s of jitter):"
    echo "all $HOLD back in **$(j .storm.seconds) s**, $(j .storm.resumed) resumed, $(j .storm.full) full"
    echo "handshakes; collector CPU $((s1 - s0)) ms for the storm ($hs)."
} >>"$MD"
echo "\"hold\":{\"agents\":$HOLD,\"collector_rss_kb_idle\":$base,\"collector_rss_kb\":$held,\"collector_kb_per_agent\":$per,\"loadgen_rss_kb\":$lrss,\"storm_collector_cpu_ms\":$((s1 - s0)),\"loadgen\":$(cat lg.json)}}" >>"$JSON"
echo "bench_loadgen: figures in $MD and $JSON"
