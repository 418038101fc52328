# Connection admission (issue 19): 2,000 TCP connections that never start
# TLS, held from one address, and 2,000 more from 2,000 addresses, each
# opened again a second after the collector closes it.  An agent and an
# operator (from the flooding address, 127.0.0.1) still get in: the
# collector closes silent handshakes, oldest first (of the flooding
# address first), to make room, and says so in its log.
# vg-timeout: 150
# vg-serial: thousands of connections from thousands of addresses
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n' >>agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

python3 "$VG_ROOT/tests/e2e/idle_flood.py" 127.0.0.1 "$PORT" 2000 one flood-one.st &
F1=$!
python3 "$VG_ROOT/tests/e2e/idle_flood.py" 127.0.0.1 "$PORT" 2000 many flood-many.st &
F2=$!
trap 'kill $F1 $F2 2>/dev/null' EXIT
opened() { awk '{ print $2 }' "$1" 2>/dev/null || echo 0; }
wait_for 60 "4,000 idle connections opened" \
    '[ "$(opened flood-one.st)" -ge 2000 ] && [ "$(opened flood-many.st)" -ge 2000 ]'
wait_for 30 "the collector making room" 'grep -q "still in its TLS handshake" collector.log'

# An agent connects, and an operator's query is answered, while the
# flood goes on.
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 60 "agent connected" 'grep -q "agent agent-1 (.*) connected from" collector.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" hosts
expect_in out.txt agent-1
kill -0 $F1 && kill -0 $F2 || fail "a flood ended early"
echo "flood: from one address $(cat flood-one.st), from many $(cat flood-many.st)"
kill $F1 $F2
wait $F1 $F2 2>/dev/null || true
trap - EXIT
stop "$APID"
stop "$CPID"
grep -q "handshakes closed to make room" collector.log || fail "no count of closed handshakes at stop"
