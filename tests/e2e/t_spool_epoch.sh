# A state directory restored from a backup (or a cloned VM) has a
# sequence counter behind what the collector stored: the agent must start
# a new stream epoch, so that its new batches are stored, not taken for
# resends.  A wiped state directory starts a new epoch too.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 100\n' >>agent.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

run_agent() { # run_agent NAME SECONDS
    start "$1" "$AGENT" -c agent.conf
    p=$LAST_PID
    wait_for 20 "$1 connected" "grep -q 'connected to collector' $1.log"
    sleep "$2"
    stop "$p"
}
run_agent a1 1
cp -a state-agent-1 backup          # the backup
run_agent a2 2                      # the stream moves on
rm -rf state-agent-1 && mv backup state-agent-1   # restore the backup
run_agent a3 1
expect_in a3.log "starting a new stream epoch"
[ "$(sql c.db "select count(distinct epoch) from batches")" = 2 ] || fail "expected 2 epochs"
# Every dummy event of every run was stored: none was taken for a resend.
n=0
for r in a1 a2 a3; do
    n=$((n + $(sed -n 's/.*\[in_dummy\] emitted \([0-9]*\) events.*/\1/p' $r.log)))
done
[ "$(sql c.db "select count(*) from events where kind='process_exec'")" = "$n" ] ||
    fail "stored $(sql c.db "select count(*) from events where kind='process_exec'") of $n dummy events"
# A wiped state directory: a third epoch.
rm -rf state-agent-1
run_agent a4 1
[ "$(sql c.db "select count(distinct epoch) from batches")" = 3 ] || fail "expected 3 epochs"
stop "$CPID"
echo ok
