#!/bin/sh
# Collector memory per connected agent: N real vigil-agent processes
# (process telemetry off) connect to one collector; the collector's RSS
# growth over N, once every agent's inventory is stored, for two kinds of
# agent:
#   minimal  an empty host root (no packages, no install history)
#   real     this machine's own package inventory and history
# Prints figures; never fails on time.
# Usage: scripts/bench_connmem.sh [BUILD] [N] [COLLECTOR_BINARY]
set -eu
B=${1:-build}
N=${2:-20}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
COLL=${3:-$B/vigil-collector}
W=5

T=$(mktemp -d /tmp/vg-connmem-XXXXXX)
chmod 711 "$T" # the agents' network processes (another user) reach their state
cpid= apids=
cleanup() {
    for p in $apids; do kill -TERM "$p" 2>/dev/null || :; done
    for p in $apids; do wait "$p" 2>/dev/null || :; done
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
"$B/vigilctl" pki init --dir pki >/dev/null
"$B/vigilctl" pki issue --dir pki --role collector --name collector --san localhost >/dev/null
i=1
while [ $i -le $((N + W)) ]; do
    "$B/vigilctl" pki issue --dir pki --role agent --name "a$i" >/dev/null
    i=$((i + 1))
done
mkdir -p empty/var/lib/dpkg
: >empty/var/lib/dpkg/status

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

run() { # MODE
    mode=$1
    port=$(shuf -i 20000-60000 -n 1)
    rm -f c.db* ./*.log
    cat >collector.conf <<CONF
[collector]
listen = 127.0.0.1:$port
db = c.db
[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
    "$COLL" -c collector.conf >collector.log 2>&1 &
    cpid=$!
    t=0
    until grep -q "listening on" collector.log; do
        sleep 0.2
        t=$((t + 1))
        [ $t -lt 150 ] || { echo "bench_connmem: collector did not start"; cat collector.log; exit 1; }
    done
    start_agents 1 "$W"
    wait_stored "$W"
    sleep 2
    base=$(rss_kb "$cpid")
    start_agents $((W + 1)) $((W + N))
    wait_stored $((W + N))
    sleep 12 # the collector reports its connection buffers every 10 s at most
    now=$(rss_kb "$cpid")
    inv=$(sqlite3 -cmd ".timeout 5000" c.db "select max(length(body)) from events
            where kind = 'package_inventory'")
    echo "bench_connmem: $mode ($N agents after $W, largest inventory $inv bytes of protobuf):" \
         "collector RSS $base KB with $W, $now KB with $((W + N)):" \
         "$(( (now - base) * 1024 / N )) bytes per agent"
    grep "connections: " collector.log | tail -1 | sed 's/^.*connections:/bench_connmem:   collector reports: connections:/' || :
    for p in $apids; do kill -TERM "$p" 2>/dev/null || :; done
    for p in $apids; do wait "$p" 2>/dev/null || :; done
    apids=
    kill -TERM "$cpid" && wait "$cpid" 2>/dev/null || :
    cpid=
}

start_agents() { # FIRST LAST
    i=$1
    while [ $i -le "$2" ]; do
        rm -rf "state-a$i"
        {
            printf '[agent]\nstate_dir = state-a%s\n' "$i"
            printf '[collector]\naddress = 127.0.0.1:%s\n' "$port"
            printf '[telemetry]\nprocess_source = off\nbpf_pin_dir =\n'
            if [ "$mode" = minimal ]; then
                printf '[inventory]\nroot = empty\nhistory_days = 0\n'
            fi
            printf '[tls]\nca = pki/ca.crt\ncert = pki/a%s.crt\nkey = pki/a%s.key\n' "$i" "$i"
            printf 'server_name = localhost\n'
        } >"a$i.conf"
        "$B/vigil-agent" -c "a$i.conf" >"a$i.log" 2>&1 &
        apids="$apids $!"
        i=$((i + 1))
    done
}

wait_stored() { # COUNT: that many agents connected, their inventories stored
    t=0
    while :; do
        n=$(sqlite3 -cmd ".timeout 5000" c.db "select count(distinct host_id) from events
                where kind = 'package_inventory'" 2>/dev/null || echo 0)
        c=$(grep -c "agent a[0-9]* .* connected from" collector.log || :)
        [ "$n" -ge "$1" ] && [ "$c" -ge "$1" ] && break
        t=$((t + 1))
        [ $t -lt 1200 ] || { echo "bench_connmem: $mode: only $n of $1 inventories stored"; break; }
        sleep 0.5
    done
}

run minimal
run real
