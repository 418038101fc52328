# Failover and dead-peer detection: the agent skips an address nobody
# listens on, notices a collector that stops answering (SIGSTOP: the TCP
# connection stays up, only the heartbeat tells) within dead_after, and
# moves to the next collector.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
DEAD=$(free_port)
A=$(free_port)
B=$(free_port)
collector_conf "$A" a.db >a.conf
collector_conf "$B" b.db >b.conf
agent_conf "$A" agent-1 >agent.conf
sed -i "s/^address = .*/address = 127.0.0.1:$DEAD, 127.0.0.1:$A, 127.0.0.1:$B/" agent.conf

start ca "$COLLECTOR" -c a.conf
APID=$LAST_PID
start cb "$COLLECTOR" -c b.conf
BPID=$LAST_PID
wait_for 30 "collectors listening" 'grep -q "listening on" ca.log && grep -q "listening on" cb.log'
start agent "$AGENT" -c agent.conf
AGPID=$LAST_PID
wait_for 20 "agent on collector A" 'grep -q "info: agent agent-1 (.*) connected from" ca.log'
expect_in agent.log "127.0.0.1:$DEAD"

# Freeze A: no FIN, no RST, just silence.
kill -STOP "$APID"
wait_for 30 "agent noticed the silence" 'grep -q "silent for" agent.log'
wait_for 30 "agent on collector B" 'grep -q "info: agent agent-1 (.*) connected from" cb.log'
in_b() { [ "$(sql b.db "select count(*) from events")" -gt 0 ]; }
wait_for 20 "events stored by B" in_b
kill -CONT "$APID"

stop "$AGPID"
stop "$APID"
stop "$BPID"
echo ok
