# Spool at its limit while the collector is away: the oldest telemetry is
# dropped first, the loss record reaching the collector carries the exact
# count, and the batch with the OS state (kept class) survives.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
# fsync = interval: 50 small batches a second, each synced on the loop,
# starved the connection on a machine busy with other tests' fsyncs.
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 2000\nsize = 400\n[spool]\nmax_bytes = 256K\nfsync = interval\n' >>agent.conf
sed -i 's/^max_age = .*/max_age = 200ms\nmax_bytes = 16K/' agent.conf

start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "spool over 80%" 'grep -q "over 80% full" agent.log'
sleep 2
dropping() { grep -q "reporting loss: .* (spool.full)" agent.log; }
wait_for 10 "drops reported" dropping
# The batches (segments) keep to the limit; beside them the open batch's
# journal holds at most one batch ([batch] max_bytes, 16K here) with each
# event's framing in the journal (64 bytes, of which the batch counts 8):
# for these 400-byte events, 16K x 464 / 408 and the one event that
# crosses the limit, under 20K.
segs=$(cat state-agent-1/spool/*.seg 2>/dev/null | wc -c)
[ "$segs" -le $((300 * 1024)) ] || fail "spool segments over the limit: $segs bytes"
jnl=$(cat state-agent-1/spool/journal 2>/dev/null | wc -c)
[ "$jnl" -le $((20 * 1024)) ] || fail "the open batch's journal is $jnl bytes"

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 20 "agent connected" 'grep -q "info: agent agent-1 (.*) connected from" collector.log'
sleep 1
stop "$APID"
last=$(last_seq agent.log)
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 30 "spool drained" drained
stop "$CPID"

total=$(sed -n 's/.*totals: \([0-9]*\) events, \([0-9]*\) dropped.*/\1/p' agent.log)
dropped=$(sed -n 's/.*totals: \([0-9]*\) events, \([0-9]*\) dropped.*/\2/p' agent.log)
stored=$(sql c.db "select count(*) from events")
lost=$(sql c.db "select coalesce(sum(count), 0) from loss where unit = 'events'")
[ "$dropped" -gt 0 ] || fail "nothing was dropped: the test proved nothing"
[ "$lost" = "$dropped" ] || fail "loss records say $lost events, the agent dropped $dropped"
[ $((stored + lost)) = "$total" ] || fail "stored $stored + lost $lost != produced $total"
# Oldest first: the first dummy event is gone, the last one is there.
n=$(sed -n 's/.*\[in_dummy\] emitted \([0-9]*\) events.*/\1/p' agent.log)
# The first dummy events came within ms of the OS state (kept); what is
# stored of the dummy input starts well after: the oldest went first.
gap=$(sql c.db "select (select min(time_ms) from events where kind = 'process_exec') - (select min(time_ms) from events where kind = 'os_state')")
[ "$gap" -gt 500 ] || fail "the oldest telemetry was not what was dropped (gap $gap ms)"
[ "$(sql c.db "select max(seq) from batches")" = "$last" ] || fail "newest batch missing"
# The OS state, spooled first, was kept.
[ "$(sql c.db "select count(*) from events where kind = 'os_state'")" -ge 1 ] || fail "OS state lost"
[ "$(sql c.db "select kernel_release from hosts where agent_id = 'agent-1'")" = "$(uname -r)" ] ||
    fail "host OS state missing"
[ "$(sql c.db "select min(seq) from batches")" = 1 ] || fail "batch 1 (OS state) was dropped"
echo "ok: produced $total, dropped $dropped (reported), stored $stored, dummy $n"
