# vg-timeout: 180
# TLS resumption across collector restarts: the ticket keys live in a
# 0600 file beside the database, so agents that reconnect after a restart
# resume their sessions (no full handshake); a group-readable key file
# is refused; a revoked agent's resumed session is refused after a
# restart as on a full handshake, and nothing of it is stored.
. "$VG_ROOT/tests/e2e/lib.sh"

N=5
make_pki pki
for i in 3 4 5; do "$CTL" pki issue --dir pki --role agent --name agent-$i >/dev/null; done
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
[ -f tickets.keys ] || fail "no ticket key file beside the database"
[ "$(mode tickets.keys)" = 600 ] || fail "ticket key file mode $(mode tickets.keys)"
keys=$(cat tickets.keys)
for i in $(seq 1 $N); do
    agent_conf "$PORT" agent-$i >agent$i.conf
    cat >>agent$i.conf <<CONF
[telemetry]
process_source = off
[dummy]
rate = 20
CONF
    start agent$i "$AGENT" -c agent$i.conf
done
connected() { [ "$(grep -c "info: agent .* connected from" collector.log)" -ge "$1" ]; }
wait_for 60 "$N agents connected" connected $N
stop "$CPID"
grep -q "TLS handshakes: [0-9]* full" collector.log || fail "no handshake counts in the stop log"

# Restart: every reconnect resumes with the keys from the file.
restart() {
    start collector "$COLLECTOR" -c collector.conf
    CPID=$LAST_PID
    wait_for 30 "collector up" 'grep -q "listening on" collector.log'
}
resumed() { [ "$(grep -c "info: agent .* connected from .*, TLS resumed" collector.log)" -ge "$1" ]; }
restart
wait_for 60 "$N resumed reconnects" resumed $N
[ "$(cat tickets.keys)" = "$keys" ] || fail "the ticket keys changed across a restart"
stop "$CPID"
# Not one full handshake: every agent's ticket opened.
expect_in collector.log "TLS handshakes: 0 full, "
r=$(sed -n 's/.*TLS handshakes: 0 full, \([0-9]*\) resumed.*/\1/p' collector.log)
[ "$r" -ge $N ] || fail "$r resumed handshakes, expected $N"

# A key file others may read is refused, and left as it is.
chmod 640 tickets.keys
expect_exit 1 "$COLLECTOR" -c collector.conf
expect_in err.txt "tickets.keys"
[ "$(mode tickets.keys)" = 640 ] || fail "mode changed"
chmod 600 tickets.keys
# So is a damaged one.
cp tickets.keys keys.bak
echo garbage >>tickets.keys
expect_exit 1 "$COLLECTOR" -c collector.conf
expect_in err.txt "tickets.keys"
mv keys.bak tickets.keys

# Revoke agent-1 (it holds a ticket under the file's keys), then
# restart: its resumed session is refused.
restart
wait_for 60 "$N resumed reconnects" resumed $N
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" --json revoke agent-1 --reason "laptop stolen"
SERIAL=$(jq -r '.serials[0]' out.txt)
stop "$CPID"
events1() { sql c.db "select count(*) from events e join hosts h on h.id = e.host_id where h.agent_id = 'agent-1'"; }
n=$(events1)
restart
wait_for 60 "agent-1's resumed session refused" \
    'grep -q "serial $SERIAL) is revoked (a resumed TLS session)" collector.log'
others() { [ "$(grep -c "info: agent agent-[2-5] .* connected from .*, TLS resumed" collector.log)" -ge $((N - 1)) ]; }
wait_for 60 "the other agents resumed" others
sleep 2
[ "$(events1)" -eq "$n" ] || fail "events of the revoked agent stored after the restart"
stop "$CPID"
echo ok
