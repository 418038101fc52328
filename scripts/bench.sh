#!/bin/sh
# Runs the benchmarks.  They print figures and never fail on time.
#   - codec: frame encode/decode vs protobuf alone (in-process)
#   - collector: TLS handshakes full vs resumed, and streaming throughput,
#     against a real vigil-collector on loopback with a throw-away PKI
#   - agent: resident memory of an idle agent
set -eu
B=${1:-build}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
"$B/bench/bench_frame"
SP=$(mktemp -d /var/tmp/vg-bench-spool-XXXXXX)
"$B/bench/bench_spool" "$SP"
rm -rf "$SP"

T=$(mktemp -d /tmp/vg-bench-XXXXXX)
cpid= apid=
cleanup() {
    [ -n "$apid" ] && kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
"$B/vigilctl" pki init --dir pki >/dev/null
"$B/vigilctl" pki issue --dir pki --role collector --name collector --san localhost >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name bench-agent >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name idle-agent >/dev/null
port=$(shuf -i 20000-60000 -n 1)
cat >collector.conf <<CONF
[collector]
listen = 127.0.0.1:$port
db = bench.db
[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
"$B/vigil-collector" -c collector.conf -d >collector.log 2>&1 &
cpid=$!
sleep 0.5
"$B/bench/bench_collector" "127.0.0.1:$port" pki/ca.crt pki/bench-agent.crt pki/bench-agent.key "$cpid" 5
echo "  (the collector saw $(grep -c 'TLS up (.*resumed)' collector.log) resumed handshakes)"
echo "  store: $(sqlite3 bench.db 'select count(*) from events') events in $(du -k bench.db* | awk '{s+=$1} END {print s}') KiB of SQLite"

cat >agent.conf <<CONF
[agent]
state_dir = state
[collector]
address = 127.0.0.1:$port
[tls]
ca = pki/ca.crt
cert = pki/idle-agent.crt
key = pki/idle-agent.key
server_name = localhost
CONF
"$B/vigil-agent" -c agent.conf >agent.log 2>&1 &
apid=$!
sleep 5
echo "bench_agent: idle agent after 5 s: $(grep VmRSS /proc/$apid/status | awk '{print $2, $3}') RSS," \
     "$(grep VmHWM /proc/$apid/status | awk '{print $2, $3}') peak," \
     "binary $(stat -c %s "$B/vigil-agent") bytes"
