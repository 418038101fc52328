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

# Inventory: the whole process, vigil-agent inventory vs dpkg-query -W
# (both list every package of this host), median of 21 runs each.
median_ms() { # median_ms N CMD...: median wall time of CMD in ms
    n=$1
    shift
    i=0
    while [ $i -lt "$n" ]; do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
        i=$((i + 1))
    done | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'
}
if [ -f /var/lib/dpkg/status ]; then
    ours=$(median_ms 21 "$B/vigil-agent" inventory)
    theirs=$(median_ms 21 dpkg-query -W)
    echo "bench_inventory: $(dpkg-query -W | wc -l) packages: vigil-agent inventory ${ours} ms," \
         "dpkg-query -W ${theirs} ms (median of 21, whole process;" \
         "$(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.1fx", a / b }') faster)"
    # Wire size: a full snapshot of this host vs the delta of one upgrade.
    mkdir -p inv/var/lib/dpkg
    cp /var/lib/dpkg/status inv/var/lib/dpkg/status
    cat >inv.conf <<CONF
[agent]
state_dir = inv-state
[collector]
address = 127.0.0.1:$port
[inventory]
root = inv
[tls]
ca = pki/ca.crt
cert = pki/idle-agent.crt
key = pki/idle-agent.key
server_name = localhost
CONF
    kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    apid=
    "$B/vigil-agent" -c inv.conf >inv.log 2>&1 &
    apid=$!
    sleep 3
    sed -i '0,/^Version: .*/s//Version: 99:1.0-bench/' inv/var/lib/dpkg/status
    sleep 3
    kill -TERM "$apid" && wait "$apid" 2>/dev/null
    apid=
    snap=$(sqlite3 bench.db "select sum(length(body)) from events where kind = 'package_inventory' and host_id = (select id from hosts where agent_id = 'idle-agent')")
    delta=$(sqlite3 bench.db "select max(length(body)) from events where kind = 'package_delta'")
    echo "bench_inventory: full snapshot ${snap} bytes of protobuf, one-package delta ${delta} bytes" \
         "(before lz4)"
fi
