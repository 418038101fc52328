# A spool with a flipped byte in the middle and a torn tail: the agent
# starts, keeps the good records, skips and counts the two bad ones, and
# reports them as loss, which the collector stores.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 100\n' >>agent.conf

# Collector away: everything stays in the spool.
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
sleep 3
stop "$APID"
seg=$(ls state-agent-1/spool/*.seg | tail -1)
size=$(stat -c %s "$seg")
[ "$size" -gt 4000 ] || fail "spool too small to corrupt: $size bytes"

# One byte in the middle changed, 10 bytes cut off the end.
off=$((size / 2))
b=$(od -An -tu1 -j "$off" -N1 "$seg" | tr -d ' ')
printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" | dd of="$seg" bs=1 seek="$off" conv=notrunc 2>/dev/null
truncate -s $((size - 10)) "$seg"

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent2 "$AGENT" -c agent.conf
A2=$LAST_PID
wait_for 20 "agent started" 'grep -q "unacknowledged batches to resend" agent2.log'
expect_in agent2.log "2 bad records skipped"
expect_in agent2.log "torn tail of"
lost() { [ "$(sql c.db "select coalesce(sum(count), 0) from loss where source = 'spool.corrupt'")" = 2 ]; }
wait_for 20 "loss of 2 batches stored" lost
sleep 1
stop "$A2"
last=$(last_seq agent2.log)
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 20 "all batches stored" drained
# Operators see the loss.
expect_exit 0 "$CTL" --collector 127.0.0.1:$PORT --server-name localhost --ca pki/ca.crt \
    --cert pki/auditor-1.crt --key pki/auditor-1.key --json host agent-1
expect_in out.txt '"loss_batches": 2'
expect_in out.txt "\"last_stored_seq\": $last"
stop "$CPID"
# Exactly the two bad batches are missing, nothing else.
[ "$(sql c.db "select count(*) from batches")" = $((last - 2)) ] ||
    fail "stored $(sql c.db "select count(*) from batches") of $last, expected $((last - 2))"
[ "$(sql c.db "select loss_batches from hosts where agent_id = 'agent-1'")" = 2 ] ||
    fail "hosts.loss_batches"
echo ok
