# A spool record whose CRC is right but whose bytes are no batch (issue
# 19): skipped, counted as spool.undecodable loss with its events, and
# never a stall.  Twice: a record damaged while the agent runs (it is sent
# once, the collector drops the connection, the agent decodes what was in
# flight before sending it again), and one found on disk at start
# (decoded before it is sent at all).
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 100\n[batch]\nmax_events = 50\n' >>agent.conf

# Collector away: batches stay in the spool; one of them is damaged
# while the agent runs.
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
records() { "$VG_ROOT/tests/e2e/spoolrec.py" "$1" count; }
newest() { ls state-agent-1/spool/*.seg 2>/dev/null | tail -1; }
wait_for 30 "batches spooled" '[ -n "$(newest)" ] && [ "$(records "$(newest)")" -ge 6 ]'
seg=$(newest)
set -- $("$VG_ROOT/tests/e2e/spoolrec.py" "$seg" 3)
seq1=$1 ev1=$2
echo "damaged batch $seq1 ($ev1 events) while the agent runs"

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "the damaged batch dropped" 'grep -q "dropped batch $seq1 .*does not decode" agent.log'
undec() { sql c.db "select coalesce(sum(count), 0) from loss where source = 'spool.undecodable'"; }
wait_for 30 "its loss stored" '[ "$(undec)" = "$ev1" ]'
grep -q "bad frame\|cannot decode\|malformed" collector.log || echo "(the collector's log does not name the bad frame)"

# Collector away again; the agent stops; a record of the spool it leaves
# is damaged; the next start finds it on disk.
stop "$CPID"
sleep 3
stop "$APID"
# The newest record: written after the collector went, unacknowledged.
set -- $("$VG_ROOT/tests/e2e/spoolrec.py" "$(newest)" -1)
seq2=$1 ev2=$2
echo "damaged batch $seq2 ($ev2 events) on disk"
start collector2 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
start agent2 "$AGENT" -c agent.conf
A2=$LAST_PID
wait_for 30 "the damaged batch dropped at start" 'grep -q "dropped batch $seq2 .*does not decode" agent2.log'
wait_for 30 "both losses stored" '[ "$(undec)" = "$((ev1 + ev2))" ]'
sleep 1
stop "$A2"
last=$(last_seq agent2.log)
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 30 "all other batches stored" drained
stop "$CPID"
# Exactly the two damaged batches are missing; no other loss.
[ "$(sql c.db "select count(*) from batches")" = $((last - 2)) ] ||
    fail "stored $(sql c.db "select count(*) from batches") of $last batches, expected $((last - 2))"
[ "$(sql c.db "select count(*) from batches where seq in ($seq1, $seq2)")" = 0 ] ||
    fail "a damaged batch was stored"
other=$(sql c.db "select coalesce(sum(count), 0) from loss where source <> 'spool.undecodable'")
[ "$other" = 0 ] || fail "other loss: $(sql c.db "select * from loss")"
echo "ok: batches $seq1 and $seq2 skipped and counted ($ev1 + $ev2 events), $last batches in all"
