# vg-timeout: 420
# 2,000 agents from one vigil-loadgen process against one collector:
# all connect (through the collector's handshake admission, at most 24
# handshakes in flight), every batch is acknowledged and stored exactly
# once (each exec event carries a unique marker in its argv; batches are
# contiguous per stream), and after a collector restart (SIGTERM, start
# again on the same database) at least 95% of the reconnects resume
# their TLS session from a ticket, as both the loadgen and the collector
# count them.
# vg-serial: 2,000 agents and their handshakes load both cores
. "$VG_ROOT/tests/e2e/lib.sh"

LOADGEN="$VG_BIN/vigil-loadgen"
N=2000
INV=50
# Descriptors: the collector and the loadgen raise their soft limits to
# fit (the collector: N agents, 64 operators, 512 handshakes and its own
# files); the hard limit must allow it.
need=$((N + 900))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge $need ] ||
    fail "hard descriptor limit $(ulimit -Hn) is below $need: cannot hold $N agents"

make_pki pki
PORT=$(free_port)
# sync = normal: a new host's first hello is a commit of its own, and
# 2,000 fsyncs of them would make up most of the run time; exactly-once
# does not depend on it (commits still precede acknowledgements).
collector_conf "$PORT" c.db | sed 's/^\[collector\]$/[collector]\nsync = normal/' >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

t0=$(date +%s)
start loadgen "$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents $N --rate 2 \
    --batch 10 --inventory $INV --duration 5 --ramp 24 --wait-restart --jitter 3 \
    --restart-timeout 200 --json
LPID=$LAST_PID
wait_for 300 "$N agents connected" 'grep -q "waiting for a collector restart" loadgen.log'
kill -0 "$LPID" || fail "loadgen exited early"
crss=$(awk '/^VmRSS:/ { print $2 }' /proc/$CPID/status)
hosts=$(sql c.db "select count(*) from hosts where agent_id like 'lg-%'")
[ "$hosts" = $N ] || fail "$hosts hosts stored, expected $N"

# Restart on the same database: the agents' tickets open with the keys
# the collector kept in its key file.
stop "$CPID"
expect_in collector.log "TLS handshakes: "
start collector2 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 300 "loadgen finished" '! kill -0 $LPID'
set +e
wait "$LPID"
lrc=$?
set -e
J=$(grep '^{' loadgen.log | tail -1)
[ -n "$J" ] || { cat loadgen.log >&2; fail "no JSON figures from the loadgen"; }
echo "$J" >figures.json
[ "$lrc" = 0 ] || { tail -20 loadgen.log >&2; fail "loadgen exit status $lrc"; }
stop "$CPID"

j() { jq -r "$1" figures.json; }
[ "$(j .connected_all)" = true ] || fail "not all agents connected"
[ "$(j .batches_unacked)" = 0 ] || fail "$(j .batches_unacked) batches unacknowledged"
[ "$(j .storm.timed_out)" = false ] || fail "the reconnect storm did not complete"
for e in refused protocol rejected hello_timeout config; do
    [ "$(j .errors.$e)" = 0 ] || fail "loadgen errors: $e $(j .errors.$e)"
done

# Exactly once: every acknowledged exec event is one row, each marker once.
acked=$(j .exec_events_acked)
[ "$acked" -gt $((N * 5)) ] || fail "only $acked exec events acknowledged"
got=$(sql c.db "select count(*) || ' ' || count(distinct argv) from processes")
[ "$got" = "$acked $acked" ] || fail "processes (rows, distinct markers) = $got, expected $acked $acked"
# argv is the marker's NUL-separated bytes: "...lg-00042-EPOCH-SEQ-I".
bad=$(sql c.db "select count(*) from processes where not ($(sql_has argv lg-))")
[ "$bad" = 0 ] || fail "$bad stored execs without a marker"
# Each exec's row holds all of it (one in four with a terminal): its
# events row keeps no second copy of the body.
[ "$(sql c.db "select count(*) from events where kind = 'process_exec' and length(body) > 0")" = 0 ] ||
    fail "exec bodies kept twice: $(sql c.db "select count(*) from events where kind = 'process_exec' and length(body) > 0")"
[ "$(sql c.db "select count(*) from processes where tty = 'pts/0'")" -ge $((acked / 5)) ] ||
    fail "terminals stored: $(sql c.db "select count(*) from processes where tty = 'pts/0'") of $acked execs"
got=$(sql c.db "select count(*) || ' ' || sum(events) from batches")
[ "$got" = "$(j .batches_acked) $(j .events_acked)" ] ||
    fail "batches (count, events) = $got, loadgen acknowledged $(j .batches_acked) $(j .events_acked)"
# Per stream: sequences 1..max, none missing (the key makes them unique).
gaps=$(sql c.db "select count(*) from (select count(*) c, max(seq) m from batches
                                        group by host_id, epoch) s where c != m")
[ "$gaps" = 0 ] || fail "$gaps streams with missing batches"
[ "$(sql c.db "select count(distinct host_id) from batches")" = $N ] || fail "not every agent stored"
pk=$(sql c.db "select count(*) from packages")
[ "$pk" = $((N * INV)) ] || fail "$pk packages stored, expected $((N * INV))"

# Resumption after the restart, from both ends.
res=$(j .storm.resumed)
full=$(j .storm.full)
[ $((res * 100)) -ge $((N * 95)) ] || fail "loadgen: only $res of $N reconnects resumed ($full full)"
line=$(grep "TLS handshakes: " collector2.log | tail -1)
cf=$(echo "$line" | sed -n 's/.*TLS handshakes: \([0-9]*\) full, \([0-9]*\) resumed.*/\1/p')
cr=$(echo "$line" | sed -n 's/.*TLS handshakes: \([0-9]*\) full, \([0-9]*\) resumed.*/\2/p')
[ -n "$cr" ] && [ $((cr * 100)) -ge $(((cr + cf) * 95)) ] && [ "$cr" -ge $((N * 95 / 100)) ] ||
    fail "collector after the restart: $line"

echo "figure: $N agents connected in $(j .ramp_s) s (24 handshakes in flight, new hosts)"
echo "figure: steady $(j .steady_events_per_s) events/s ($(j .steady_batches_per_s) batches/s), ack p50 $(j .ack_latency_ms.p50) ms p99 $(j .ack_latency_ms.p99) ms max $(j .ack_latency_ms.max) ms"
echo "figure: restart storm: all $N back in $(j .storm.seconds) s, $res resumed, $full full (collector: $cr resumed, $cf full)"
echo "figure: collector RSS $((crss / 1024)) MB with $N agents ($((crss / N)) KB each); loadgen $(j .rss_kb_per_agent) KB each"
echo "figure: stored $acked execs and $pk packages exactly once; whole test $(( $(date +%s) - t0 )) s"
