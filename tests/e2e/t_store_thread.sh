# The group commit runs on the collector's store thread: while a commit
# is held (VIGIL_TEST_COMMIT_GATE), the network loop still answers
# operators, takes new TLS connections and hellos; nothing held is
# acknowledged; once the commit goes, every batch is stored exactly once.
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent1.conf
agent_conf "$PORT" agent-2 >agent2.conf

VIGIL_TEST_COMMIT_GATE=$PWD/gate start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector listening" 'grep -q "listening on" collector.log'
start agent1 "$AGENT" -c agent1.conf
wait_for 30 "agent-1 connected" 'grep -q "agent agent-1 .* connected" collector.log'
wait_for 30 "a commit held" 'grep -q "VIGIL_TEST_COMMIT_GATE: commit held" collector.log'

# The loop serves an operator while the store thread is held.
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
expect_exit 0 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key hosts
expect_in out.txt "agent-1"
# ... and a new agent's handshake and hello.
start agent2 "$AGENT" -c agent2.conf
wait_for 30 "agent-2 connected while the commit is held" \
    'grep -q "agent agent-2 .* connected" collector.log'
expect_exit 0 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key hosts
expect_in out.txt "agent-2"
# Nothing of a held group is in the database, so nothing was acknowledged.
[ "$(sql c.db "select count(*) from batches")" = 0 ] || fail "batches stored while the commit was held"

# The commit goes: both agents' batches are stored, each exactly once.
touch gate
stored() {
    [ "$(sql c.db "select count(distinct h.agent_id) from batches b join hosts h on h.id = b.host_id")" = 2 ]
}
wait_for 60 "batches of both agents stored" stored
for a in agent-1 agent-2; do
    got=$(sql c.db "select count(*) = max(seq) and count(*) = count(distinct seq) from batches b
                    join hosts h on h.id = b.host_id where h.agent_id = '$a'")
    [ "$got" = 1 ] || fail "$a: batches not stored exactly once"
done
# One query, one snapshot: the agents stream on meanwhile.
[ "$(sql c.db "select (select count(*) from events) = (select sum(events) from batches)")" = 1 ] ||
    fail "events stored do not match the batches' event counts"
stop "$CPID"
expect_in collector.log "group commits: "
expect_in collector.log "stopped:"
