#!/bin/sh
# The collector under vigil-loadgen (N simulated agents in one process,
# real mutual TLS, the agent's protocol), on this machine's loopback:
#   throughput  1, 100 and 1,000 agents streaming as fast as their
#               window (32, 4 and 1 unacknowledged batches of 100 execs)
#               allows, into three stores, each run on a fresh database:
#                 sqlite  one collector, its SQLite file;
#                 pg x1   one collector, PostgreSQL (tests/pg-server.sh:
#                         a server of the bench's own, fsync on);
#                 pg x2   two collectors behind HAProxy (TCP mode, TLS
#                         passed through) sharing one PostgreSQL database;
#               stored events/s (acknowledged = committed), collector CPU
#               per event (both collectors' for pg x2), the PostgreSQL
#               cluster's CPU per event (every process of the cluster)
#               and HAProxy's, ack latency, over the steady state only;
#               PostgreSQL rows are skipped, with a word, where there is
#               no server (or not root: it runs as user postgres), and
#               pg x2 where there is no haproxy;
#   hold        HOLD agents (default 20,000, cut to what the descriptor
#               limit allows) sending 1 exec/s each: the
#               collector's RSS per agent, ack p50/p99, then a collector
#               restart (SIGTERM, start again on the same database) and
#               the reconnect storm: time until all are back, handshakes
#               resumed vs full, collector CPU for the storm.
# The loadgen shares the 2 cores with the collector (its own CPU is
# reported).  Prints figures and writes them to BUILD/bench/loadgen.md
# and .json; never fails on time.
# Usage: scripts/bench_loadgen.sh [BUILD] [HOLD]
# Short runs (defaults in brackets):
#   LG_BENCH_COUNTS="1 100"   agent counts of the throughput runs [1 100 1000]
#   LG_BENCH_DURATION=5       steady state of each, seconds [15]
#   LG_BENCH_STORES="sqlite"  stores: sqlite pg1 pg2 [all three]
#   LG_BENCH_HOLD_SKIP=1      no hold and restart storm [0]
set -eu
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$SCRIPTS")
B=${1:-build}
HOLD=${2:-${LG_BENCH_AGENTS:-20000}}
COUNTS=${LG_BENCH_COUNTS:-1 100 1000}
DUR=${LG_BENCH_DURATION:-15}
STORES=${LG_BENCH_STORES:-sqlite pg1 pg2}
HOLD_SKIP=${LG_BENCH_HOLD_SKIP:-0}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
LG="$B/vigil-loadgen"
OUT="$B/bench"
mkdir -p "$OUT"
# Agent certificates are issued once and kept here (2,000 take ~6 s).
PKI="$OUT/loadgen-pki"

# The most agents of one throughput run.
maxn=1
for n in $COUNTS; do [ "$n" -le "$maxn" ] || maxn=$n; done
# Descriptors for the most agents of any run (sh's ulimit -n sets the
# hard limit too: no run may need more than this).
most=$HOLD
[ "$HOLD_SKIP" != 1 ] || most=$maxn
[ "$most" -ge "$maxn" ] || most=$maxn
[ "$most" -ge 1000 ] || most=1000
# The collector keeps 832 descriptors beside its agents (operators,
# handshakes, its files: fit_fd_limit in collector/server.c), so it holds
# HOLD agents with HOLD + 900.  Root may raise the hard limit (up to
# fs.nr_open); where it cannot, HOLD is cut to fit.
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((most + 900)) ] &&
    ! (ulimit -n $((most + 900))) 2>/dev/null; then
    HOLD=$(( $(ulimit -Hn) - 900 ))
    most=$HOLD
    echo "bench_loadgen: hard descriptor limit $(ulimit -Hn): holding $HOLD agents"
fi
# HAProxy holds two descriptors per agent (pg x2); where the hard limit
# cannot be raised that far, its start fails and pg x2 says so.
fds=$((most + 900))
[ "$fds" -ge $((2 * maxn + 400)) ] || fds=$((2 * maxn + 400))
ulimit -n "$fds" 2>/dev/null || ulimit -n $((most + 900))

if [ ! -f "$PKI/ca.key" ]; then
    rm -rf "$PKI"
    "$B/vigilctl" pki init --dir "$PKI" >/dev/null
    "$B/vigilctl" pki issue --dir "$PKI" --role collector --name collector --san localhost \
        --san 127.0.0.1 >/dev/null
fi
"$LG" --pki "$PKI" --agents "$most" --pki-only

T=$(mktemp -d /tmp/vg-bench-lg-XXXXXX)
# The PostgreSQL server (user postgres) keeps its cluster and socket in $T/pg.
chmod 711 "$T"
cpid= lpid= cpids= hpid= pgdir=
cleanup() {
    # (Whatever one of them exits with, the rest is still stopped.)
    set +e
    [ -n "$lpid" ] && kill -TERM "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    for p in $cpids $hpid; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    [ -n "$pgdir" ] && "$ROOT/tests/pg-server.sh" stop "$pgdir"
    rm -rf "$T"
}
trap cleanup EXIT
# (An interrupted bench stops its PostgreSQL server too.)
trap 'exit 130' INT TERM HUP
cd "$T"

port=$(shuf -i 20000-60000 -n 1)
# pg x2: the collectors on p1 and p2, HAProxy on hport; PostgreSQL on pgport.
p1=$((port + 1)) p2=$((port + 2)) hport=$((port + 3)) pgport=$((port + 4))
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
cpu_sum_ms() { # utime + stime + those of reaped children, summed over PIDs, ms (gone ones: 0)
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || :; done |
        awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 }
                                       END { printf "%d", s * 1000 / t }'
}
pg_cpu_ms() { # the PostgreSQL cluster: the postmaster and all its children, ms
    pm=$(head -1 "$pgdir/data/postmaster.pid" 2>/dev/null || :)
    [ -n "$pm" ] || { echo 0; return; }
    # shellcheck disable=SC2046
    cpu_sum_ms "$pm" $(pgrep -P "$pm")
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
per_event() { # CPU_MS EVENTS_PER_S WALL_MS: "us (x% of a core)"
    awk -v c="$1" -v e="$2" -v w="$3" 'BEGIN {
        if (e > 0 && w > 0) printf "%.1f", c * 1000 / (e * w / 1000); else printf "n/a" }'
}
core_pct() { # CPU_MS WALL_MS
    awk -v c="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.0f%%", c * 100 / w; else printf "n/a" }'
}
psql_pg() { psql -XAtq -h "$pgdir" -p "$pgport" -U postgres -d postgres "$@"; }

# ---- PostgreSQL and HAProxy, where there are ----
want_pg=0 want_ha=0
for st in $STORES; do
    case $st in
    sqlite) ;;
    pg1) want_pg=1 ;;
    pg2) want_pg=1 want_ha=1 ;;
    *) echo "bench_loadgen: LG_BENCH_STORES: unknown store $st (sqlite, pg1, pg2)"; exit 2 ;;
    esac
done
pg_why= ha_why= pgver= haver=
if [ $want_pg = 1 ]; then
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        pg_why="no PostgreSQL server (apt-get install postgresql-15)"
    elif ! command -v psql >/dev/null; then
        pg_why="no psql (apt-get install postgresql-client)"
    elif [ "$(id -u)" != 0 ]; then
        pg_why="not root (tests/pg-server.sh runs the server as user postgres)"
    elif "$ROOT/tests/pg-server.sh" start "$T/pg" "$pgport" >/dev/null 2>pg-start.err; then
        pgdir="$T/pg"
        pgver=$(psql_pg -c 'show server_version' | awk '{ print $1 }')
        echo "bench_loadgen: PostgreSQL $pgver started for the bench (port $pgport, socket in $pgdir)"
    else
        pg_why="the PostgreSQL server did not start"
        echo "bench_loadgen: tests/pg-server.sh start: $(tail -5 pg-start.err)"
    fi
    [ -z "$pg_why" ] || echo "bench_loadgen: PostgreSQL rows (pg x1, pg x2) skipped: $pg_why"
fi
if [ $want_ha = 1 ] && [ -z "$pg_why" ]; then
    if command -v haproxy >/dev/null; then
        haver=$(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }')
    else
        ha_why="no haproxy (apt-get install haproxy)"
        echo "bench_loadgen: two-collector rows (pg x2) skipped: $ha_why"
    fi
fi

# pg x1 / pg x2: collector I (1 or 2) on port pI, on the store URL.
start_pg_collector() { # I URL
    case $1 in 1) pp=$p1 ;; *) pp=$p2 ;; esac
    mkdir -p "c$1"
    # One ticket key file for both, as OPERATIONS.md advises for a group.
    cat >"c$1.conf" <<CONF
[collector]
listen = 127.0.0.1:$pp
db = c$1/c.db
sync = full
proxy_protocol = 127.0.0.3
[tls]
ca = $PKI/ca.crt
cert = $PKI/collector.crt
key = $PKI/collector.key
ticket_key_file = $T/tickets.keys
[store]
url = $2
CONF
    : >"c$1.log"
    "$B/vigil-collector" -c "c$1.conf" >>"c$1.log" 2>&1 &
    pid=$!
    cpids="$cpids $pid"
    t=0
    until grep -q 'listening on' "c$1.log"; do
        sleep 0.1
        t=$((t + 1))
        if [ $t -ge 300 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "bench_loadgen: collector c$1 did not start:"
            tail -5 "c$1.log"
            return 1
        fi
    done
}
start_haproxy() {
    cat >haproxy.cfg <<CFG
global
    maxconn $((maxn + 100))
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend agents
    bind 127.0.0.1:$hport
    default_backend collectors
backend collectors
    balance leastconn
    # As packaging/multi/: the PROXY protocol header (from 127.0.0.3,
    # the collectors' proxy_protocol; the loadgen's direct runs come
    # from 127.0.0.1).
    default-server source 127.0.0.3 send-proxy-v2 check check-send-proxy inter 2s
    server c1 127.0.0.1:$p1
    server c2 127.0.0.1:$p2
CFG
    haproxy -db -f haproxy.cfg >haproxy.log 2>&1 &
    hpid=$!
    t=0
    until ss -Hltn "sport = :$hport" 2>/dev/null | grep -q . ||
          { ! command -v ss >/dev/null && [ $t -ge 10 ]; }; do
        sleep 0.1
        t=$((t + 1))
        if [ $t -ge 100 ] || ! kill -0 "$hpid" 2>/dev/null; then
            echo "bench_loadgen: haproxy did not start:"
            tail -5 haproxy.log
            return 1
        fi
    done
}
stop_pg_side() {
    for p in $hpid $cpids; do
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || :
    done
    cpids= hpid=
}

JSON="$OUT/loadgen.json"
MD="$OUT/loadgen.md"
{
    echo "# vigil-loadgen against the collector ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))"
    echo
    echo "| agents | store | stored events/s | collector CPU per event | PostgreSQL CPU per event | ack p50 | ack p99 | loadgen CPU |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
} >"$MD"
echo "{\"throughput\":[" >"$JSON"
HANOTES=

# ---- throughput ----
# run STORE N: one configuration, one row of the table and the JSON.
first=1
run() {
    st=$1 n=$2
    case $st in sqlite) label=sqlite k=1 ;; pg1) label="pg x1" k=1 ;; pg2) label="pg x2" k=2 ;; esac
    rate=$((400000 / n))
    # In flight at once: agents x window x 100 events; more only queues.
    case $n in 1) win=32 ;; 100) win=4 ;; *) win=1 ;; esac
    pids= ok=1
    if [ "$st" = sqlite ]; then
        : >collector.log
        starts=0
        start_collector full
        pids=$cpid target="127.0.0.1:$port"
    else
        # A fresh database per configuration (C collation, as
        # packaging/multi/postgresql-setup.sql makes it).
        db="vg_bench_${n}_$st"
        psql_pg -c "drop database if exists $db with (force)" >/dev/null 2>&1 || :
        if ! psql_pg -c "create database $db template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'" \
                >/dev/null; then
            ok=0
        fi
        url="postgresql:///$db?host=$pgdir&port=$pgport&user=postgres"
        rm -f tickets.keys
        [ $ok = 0 ] || start_pg_collector 1 "$url" || ok=0
        target="127.0.0.1:$p1"
        if [ "$st" = pg2 ] && [ $ok = 1 ]; then
            start_pg_collector 2 "$url" && start_haproxy || ok=0
            target="127.0.0.1:$hport"
        fi
        pids=$cpids
    fi
    : >lg.err
    : >lg.json
    if [ $ok = 1 ]; then
        "$LG" --collector "$target" --pki "$PKI" --agents "$n" --rate $rate --batch 100 \
            --window $win --duration "$DUR" --ramp 24 --json >lg.json 2>lg.err &
        lpid=$!
        wait_line lg.err "agents connected in" 300 || :
        c0=$(cpu_sum_ms $pids); g0=0 h0=0
        [ "$st" = sqlite ] || g0=$(pg_cpu_ms)
        [ -z "$hpid" ] || h0=$(cpu_sum_ms "$hpid")
        t0=$(date +%s%N)
        wait_line lg.err "draining" $((DUR + 105)) || :
        c1=$(cpu_sum_ms $pids); g1=0 h1=0
        [ "$st" = sqlite ] || g1=$(pg_cpu_ms)
        [ -z "$hpid" ] || h1=$(cpu_sum_ms "$hpid")
        t1=$(date +%s%N)
        wait "$lpid" || :
        lpid=
    fi
    if [ "$st" = sqlite ]; then
        stop_collector
    else
        [ -n "$hpid" ] && [ $ok = 1 ] && grep -qi 'alert' haproxy.log &&
            echo "bench_loadgen: haproxy: $(grep -i alert haproxy.log | head -3)"
        stop_pg_side
        psql_pg -c "drop database if exists $db with (force)" >/dev/null 2>&1 || :
    fi
    [ $ok = 0 ] || jq -e .steady_events_per_s lg.json >/dev/null 2>&1 || {
        ok=0
        echo "bench_loadgen: $n agents, $label: no figures from vigil-loadgen:"
        tail -5 lg.err
    }
    [ $first = 1 ] || echo "," >>"$JSON"
    first=0
    if [ $ok = 0 ]; then
        echo "bench_loadgen: $n agents, $label: failed (see above)"
        echo "| $n | $label | failed (see the bench's output) | | | | | |" >>"$MD"
        echo "{\"agents\":$n,\"store\":\"$label\",\"collectors\":$k,\"failed\":true}" >>"$JSON"
        return 0
    fi
    ev=$(j .steady_events_per_s)
    wall_ms=$(( (t1 - t0) / 1000000 ))
    us_ev=$(per_event $((c1 - c0)) "$ev" $wall_ms)
    ccpu=$(core_pct $((c1 - c0)) $wall_ms)
    lcpu="$(j .steady_cpu_percent)%"
    p50=$(j .ack_latency_ms.p50) p99=$(j .ack_latency_ms.p99)
    pgj=null pgcell=- pgline= haj=null
    if [ "$st" != sqlite ]; then
        pg_ev=$(per_event $((g1 - g0)) "$ev" $wall_ms)
        pg_pct=$(core_pct $((g1 - g0)) $wall_ms)
        pgcell="$pg_ev us ($pg_pct of a core)"
        pgline=", PostgreSQL $pg_ev us ($pg_pct of a core)"
        pgj="{\"cpu_us_per_event\":\"$pg_ev\",\"cpu\":\"$pg_pct\"}"
    fi
    if [ "$st" = pg2 ]; then
        ha_ev=$(per_event $((h1 - h0)) "$ev" $wall_ms)
        ha_pct=$(core_pct $((h1 - h0)) $wall_ms)
        pgline="$pgline, HAProxy $ha_ev us ($ha_pct of a core)"
        haj="{\"cpu_us_per_event\":\"$ha_ev\",\"cpu\":\"$ha_pct\"}"
        HANOTES="$HANOTES$n agents $ha_ev us ($ha_pct of a core); "
    fi
    cname=collector
    [ "$k" = 1 ] || cname="collectors (both)"
    echo "bench_loadgen: $n agents, $label: $ev stored events/s, $cname $us_ev us CPU per event" \
         "($ccpu of a core)$pgline, ack p50 $p50 ms p99 $p99 ms, loadgen $lcpu of a core"
    echo "| $n | $label | $ev | $us_ev us ($ccpu of a core) | $pgcell | $p50 ms | $p99 ms | $lcpu |" >>"$MD"
    echo "{\"agents\":$n,\"store\":\"$label\",\"collectors\":$k,\"events_per_s\":$ev,\"collector_cpu_us_per_event\":\"$us_ev\",\"collector_cpu\":\"$ccpu\",\"postgresql\":$pgj,\"haproxy\":$haj,\"loadgen_cpu\":\"$lcpu\",\"loadgen\":$(cat lg.json)}" >>"$JSON"
}
for n in $COUNTS; do
    for st in $STORES; do
        case $st in
        pg1) [ -z "$pg_why" ] || continue ;;
        pg2) [ -z "$pg_why$ha_why" ] || continue ;;
        esac
        run "$st" "$n"
    done
done
[ -z "$pgdir" ] || "$ROOT/tests/pg-server.sh" stop "$pgdir"
pgdir=

# What was run, what was skipped.
skipped=
{
    echo
    echo "N agents ($(echo "$COUNTS" | sed 's/ /, /g')) at 400,000/N execs/s each, batches of 100, window 32 (1 agent),"
    echo "4 (100) or 1 (1,000); ${DUR} s of steady state after a ramp of 24 handshakes in flight; \`sync = full\`;"
    echo "a fresh database per row.  CPU per event over the steady state, from /proc/PID/stat."
    echo "sqlite: one collector, its SQLite file."
    if [ -n "$pgver" ]; then
        echo "pg x1: one collector, PostgreSQL $pgver (tests/pg-server.sh: fsync on, shared_buffers 64MB; unix socket)."
        echo "PostgreSQL CPU: every process of the cluster (postmaster, backends, WAL writer, checkpointer...)."
    fi
    if [ -n "$haver" ]; then
        echo "pg x2: two collectors (CPU of both) behind HAProxy $haver (TCP mode, leastconn) on one PostgreSQL database."
        [ -z "$HANOTES" ] || echo "HAProxy CPU per event (pg x2): ${HANOTES%; }."
    fi
    if [ -n "$pg_why" ]; then
        echo "pg x1, pg x2: skipped: $pg_why."
    elif [ -n "$ha_why" ]; then
        echo "pg x2: skipped: $ha_why."
    fi
} >>"$MD"
case " $STORES " in *" pg1 "*) [ -z "$pg_why" ] || skipped="{\"store\":\"pg x1\",\"reason\":\"$pg_why\"}" ;; esac
case " $STORES " in *" pg2 "*)
    why=$pg_why
    [ -n "$why" ] || why=$ha_why
    [ -z "$why" ] || skipped="$skipped${skipped:+,}{\"store\":\"pg x2\",\"reason\":\"$why\"}" ;;
esac
pgj=null
[ -z "$pgver" ] || pgj="{\"version\":\"$pgver\",\"server\":\"tests/pg-server.sh\",\"connection\":\"unix socket\"}"
haj=null
[ -z "$haver" ] || haj="{\"version\":\"$haver\",\"balance\":\"leastconn\"}"
echo "],\"duration_s\":$DUR,\"postgresql\":$pgj,\"haproxy\":$haj,\"skipped\":[$skipped]," >>"$JSON"

if [ "$HOLD_SKIP" = 1 ]; then
    echo "\"hold\":null}" >>"$JSON"
    echo "bench_loadgen: hold and restart storm skipped (LG_BENCH_HOLD_SKIP=1)"
    echo "bench_loadgen: figures in $MD and $JSON"
    exit 0
fi

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
