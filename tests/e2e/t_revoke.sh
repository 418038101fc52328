# vg-timeout: 120
# Revocation: after `vigilctl revoke`, the agent's live connection is
# closed and its reconnects are refused, resumed TLS sessions (tickets
# issued before the revocation) included, across a collector restart;
# nothing from it is stored afterwards; hosts shows it revoked; only an
# admin may revoke, and refusals and revocations are audited.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
agent_conf "$PORT" agent-1 >agent.conf
cat >>agent.conf <<CONF
[telemetry]
process_source = off
[dummy]
rate = 50
CONF
start agent "$AGENT" -c agent.conf
wait_for 15 "agent connected" 'grep -q "connected to collector" agent.log'
# Reconnect once so that the agent holds a session ticket, and resumes.
stop "$CPID"
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
wait_for 20 "agent back" '[ "$(grep -c "connected to collector" agent.log)" -ge 2 ]'
events() { sql c.db "select count(*) from events"; }
wait_for 10 "events stored" '[ "$(events)" -gt 20 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
VIGIL_CERT=pki/responder-1.crt VIGIL_KEY=pki/responder-1.key expect_exit 1 "$CTL" revoke agent-1 --reason "not mine"
expect_in err.txt "permission denied"
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" --json revoke agent-1 --reason "key stolen"
jq -e '.connection_closed == true and (.serials | length) == 1' out.txt >/dev/null || fail "revoke: $(cat out.txt)"
SERIAL=$(jq -r '.serials[0]' out.txt)
n=$(events)
wait_for 10 "the agent told" 'grep -q "revoked" agent.log'
# Its reconnects, with a resumed session, are refused.
wait_for 20 "a resumed reconnect refused" 'grep -q "serial $SERIAL) is revoked (a resumed TLS session)" collector.log'
sleep 2
[ "$(events)" -eq "$n" ] || fail "events stored after the revocation ($n, then $(events))"
expect_exit 0 "$CTL" --json hosts
jq -e '.[0].revoked == true' out.txt >/dev/null || fail "hosts does not show revoked"
# Across a collector restart too, where the agent's ticket still opens
# (the keys are kept in tickets.keys).
stop "$CPID"
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
wait_for 20 "refused after restart" 'grep -q "serial $SERIAL) is revoked (a resumed TLS session)" collector.log'
[ "$(events)" -eq "$n" ] || fail "events stored after the restart"
# agent-2 is unaffected.
agent_conf "$PORT" agent-2 >agent2.conf
start agent2 "$AGENT" -c agent2.conf
wait_for 15 "agent-2 connected" 'grep -q "connected to collector" agent2.log'
expect_exit 0 "$CTL" --json audit --verify
jq -e '.chain_ok and ([.entries[] | select(.action == "revoke" and .result == "revoked")] | length) == 1
       and ([.entries[] | select(.action == "revoke" and .result == "refused")] | length) == 1' out.txt >/dev/null ||
    fail "revocation not audited: $(cat out.txt)"
