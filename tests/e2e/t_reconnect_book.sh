# Connection bookkeeping (hello, certificate seen, disconnect) rides the
# group commit: after agents connect, reconnect and leave, and after the
# collector stops under a connected agent, the hosts' rows say so, and
# vigilctl hosts shows who is connected.
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
for a in agent-1 agent-2; do
    agent_conf "$PORT" $a >$a.conf
    printf '[inventory]\nhistory_days = 0\n' >>$a.conf
done
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent-1 "$AGENT" -c agent-1.conf
A1=$LAST_PID
start agent-2 "$AGENT" -c agent-2.conf
A2=$LAST_PID

col() { sql c.db "select $2 from hosts where agent_id = '$1'"; }
state() { # AGENT: "true" (connected) or "false", as vigilctl hosts says
    "$CTL" --json hosts 2>/dev/null | jq -r ".[] | select(.agent_id == \"$1\") | .connected"
}
connects() { grep -c "agent $1 .* connected from" collector.log || :; }
wait_for 30 "both agents connected" '[ "$(state agent-1)" = true ] && [ "$(state agent-2)" = true ]'
# Hello and certificate are in the database (written by the group commit).
wait_for 20 "hello rows" '[ -n "$(col agent-1 last_connect_ms)" ] && [ -n "$(col agent-2 last_connect_ms)" ]'
for a in agent-1 agent-2; do
    [ "$(col $a last_addr)" = 127.0.0.1 ] || [ "$(col $a "last_addr like '127.0.0.1%'")" = 1 ] ||
        fail "$a: last_addr $(col $a last_addr)"
    [ "$(sql c.db "select count(*) from certs c join hosts h on h.id = c.host_id
                   where h.agent_id = '$a'")" = 1 ] || fail "$a: its certificate not recorded"
done
expect_exit 0 "$CTL" hosts
expect_in out.txt "connected"

# agent-2 leaves: disconnect recorded, shown offline; agent-1 still connected.
stop "$A2"
wait_for 30 "agent-2 disconnect recorded" \
    '[ "$(col agent-2 "coalesce(last_disconnect_ms, 0) >= coalesce(last_connect_ms, 0)")" = 1 ]'
wait_for 20 "agent-2 offline" '[ "$(state agent-2)" = false ]'
[ "$(state agent-1)" = true ] || fail "agent-1 not connected"
[ -z "$(col agent-1 last_disconnect_ms)" ] || fail "agent-1 marked disconnected"

# agent-1 reconnects three times (restarts): each hello updates its row.
for i in 1 2 3; do
    before=$(col agent-1 last_connect_ms)
    n=$(connects agent-1)
    stop "$A1"
    wait_for 30 "agent-1 disconnect $i recorded" \
        '[ "$(col agent-1 "coalesce(last_disconnect_ms, 0) >= coalesce(last_connect_ms, 0)")" = 1 ]'
    start agent-1 "$AGENT" -c agent-1.conf
    A1=$LAST_PID
    wait_for 30 "agent-1 reconnect $i" '[ "$(connects agent-1)" -gt "$n" ]'
    wait_for 20 "agent-1 hello $i stored" '[ "$(col agent-1 last_connect_ms)" -gt "$before" ]'
    wait_for 20 "agent-1 connected again" '[ "$(state agent-1)" = true ]'
    [ "$(col agent-1 "last_disconnect_ms < last_connect_ms")" = 1 ] || fail "agent-1 still marked disconnected"
done
[ "$(sql c.db "select count(*) from certs c join hosts h on h.id = c.host_id
               where h.agent_id = 'agent-1'")" = 1 ] || fail "agent-1: one certificate, seen again"
[ "$(sql c.db "select count(*) from hosts")" = 2 ] || fail "not two host rows"
# Its batches after the reconnects are stored.
wait_for 30 "agent-1 events after the reconnects" \
    '[ "$(sql c.db "select count(*) from batches b join hosts h on h.id = b.host_id
                    where h.agent_id = '"'agent-1'"' and b.recv_time_ms > h.last_connect_ms")" -gt 0 ]'

# The collector stops under agent-1: its disconnect (queued at the last
# close, after the last group commit) is written before the store closes.
stop "$CPID"
[ "$(col agent-1 "coalesce(last_disconnect_ms, 0) >= coalesce(last_connect_ms, 0)")" = 1 ] ||
    fail "agent-1's disconnect at the collector's stop not recorded"
stop "$A1"
