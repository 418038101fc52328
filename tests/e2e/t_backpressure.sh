# Backpressure: agents that send faster than the collector commits are
# paused (not read from) once they have 64 batches waiting for the group
# commit, and read from again when those are committed.  Three agents,
# each with up to 400 batches unacknowledged, all as fast as they can,
# while the first commit is held (VIGIL_TEST_COMMIT_GATE): every
# connection is paused (counted by the collector's metric and its stop
# line); once the commit goes through, every one reads on (a paused one
# left behind would never have its batches acknowledged), and every batch
# is acknowledged and stored exactly once.
# vg-timeout: 180
. "$VG_ROOT/tests/e2e/lib.sh"

LOADGEN="$VG_BIN/vigil-loadgen"
make_pki pki
PORT=$(free_port)
MPORT=$(free_port)
{ collector_conf "$PORT" c.db; printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT"; } >collector.conf
start collector env VIGIL_TEST_COMMIT_GATE="$PWD/gate" "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

# 20,000 execs a second each, 10 to a batch, 400 batches in flight.
"$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents 3 --rate 20000 --batch 10 \
    --window 400 --duration 6 --json >lg.json 2>lg.err &
LPID=$!
VG_PIDS="$VG_PIDS $LPID" # killed at the end should the test fail first
wait_for 30 "the commit held" 'grep -q "VIGIL_TEST_COMMIT_GATE: commit held" collector.log'
wait_for 60 "all three connections paused" '[ "$(metric vigil_collector_connections_paused)" = 3 ]'
touch gate
wait_for 120 "every batch acknowledged (the loadgen done)" '! kill -0 "$LPID" 2>/dev/null'
wait "$LPID" || { tail -5 lg.err; fail "loadgen: not every batch acknowledged"; }
j() { jq -r "$1" lg.json; }
[ "$(j .batches_unacked)" = 0 ] || fail "$(j .batches_unacked) batches unacknowledged"
acked=$(j .exec_events_acked)
[ "$acked" -gt 0 ] || fail "nothing acknowledged"
pauses=$(metric vigil_collector_backpressure_pauses_total)
[ -n "$pauses" ] || fail "no vigil_collector_backpressure_pauses_total in the metrics"
[ "$pauses" -ge 3 ] || fail "only $pauses pauses counted"
stop "$CPID"
expect_in collector.log "paused until their batches were committed: $pauses times"
execs_once c.db "$acked"
echo "figure: $acked execs from 3 agents acknowledged and stored once; $pauses pauses"
