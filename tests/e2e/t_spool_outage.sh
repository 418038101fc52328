# Store and forward: the collector is away while the agent keeps
# producing; when it is back every batch arrives, each exactly once.
# Also: the collector killed between commit and acknowledgement.
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 200\n' >>agent.conf
sed -i 's/^health_interval = .*/health_interval = 200ms/' agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "agent connected" 'grep -q "info: agent agent-1 (.*) connected from" collector.log'
sleep 1
stop "$CPID"

# Away for a while: batches pile up in the spool.
sleep 4
spooled() { ls state-agent-1/spool/*.seg >/dev/null 2>&1; }
wait_for 5 "spool segments" spooled

# Back, but dying right after committing, before acknowledging.
stored=$(sql c.db "select count(*) from batches")
VIGIL_TEST_CRASH_AFTER_COMMIT=$((stored + 5)) start collector2 "$COLLECTOR" -c collector.conf
C2=$LAST_PID
wait_for 30 "collector crashed after commit" '! kill -0 $C2 2>/dev/null'
wait "$C2" 2>/dev/null || true
expect_in collector2.log "dying after commit"

# And back for good: the resent batches are stored once.
start collector3 "$COLLECTOR" -c collector.conf
C3=$LAST_PID
wait_for 30 "agent reconnected" 'grep -q "info: agent agent-1 (.*) connected from" collector3.log'
sleep 2
stop "$APID"
last=$(last_seq agent.log)
[ -n "$last" ] && [ "$last" -gt 20 ] || fail "agent produced too little: '$last'"
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 30 "all batches stored" drained
stop "$C3"
batches_exactly_once c.db "$last"
# The crash left batches stored but unacknowledged: the agent learnt from
# the next hello (last stored sequence) that they were stored, or resent
# them and the collector kept one copy; either way no gap, no duplicate.
# Every dummy event arrived: pids 1..N, once each.
n=$(sed -n 's/.*\[in_dummy\] emitted \([0-9]*\) events.*/\1/p' agent.log)
[ "$(sql c.db "select count(*) from events where kind='process_exec'")" = "$n" ] ||
    fail "dummy events: $(sql c.db "select count(*) from events where kind='process_exec'") stored, $n emitted"
echo ok
