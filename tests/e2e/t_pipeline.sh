# Agent -> mutual TLS -> collector -> SQLite, vigilctl hosts, and the
# collector restarting under a connected agent.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 "department=radiology,site=leeds" >agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector listening" 'grep -q "listening on" collector.log' 
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
os_stored() { [ "$(sql c.db "select count(*) from hosts where agent_id='agent-1' and kernel_release is not null")" = 1 ]; }
health_stored() { [ "$(sql c.db "select count(*) from events where kind='agent_health'")" -ge "$1" ]; }
wait_for 20 "OS state stored" os_stored

# The stored row is what this host is.
[ "$(sql c.db "select kernel_release from hosts where agent_id='agent-1'")" = "$(uname -r)" ] || fail "kernel"
[ "$(sql c.db "select hostname from hosts where agent_id='agent-1'")" = "$(hostname)" ] || fail "hostname"
[ "$(sql c.db "select arch from hosts where agent_id='agent-1'")" = "$(uname -m)" ] || fail "arch"
[ "$(sql c.db "select machine_id from hosts where agent_id='agent-1'")" = "$(cat /etc/machine-id)" ] || fail "machine id"
pretty=$(. /etc/os-release; echo "$PRETTY_NAME")
[ "$(sql c.db "select os_pretty_name from hosts where agent_id='agent-1'")" = "$pretty" ] || fail "os"
[ "$(sql c.db "select tags from hosts where agent_id='agent-1'")" = '{"department":"radiology","site":"leeds"}' ] || fail "tags"
[ "$(sql c.db "select count(*) from events where kind='os_state'")" -ge 1 ] || fail "no os_state event"
wait_for 10 "health events" health_stored 2
[ "$(sql c.db "select health_rss_bytes > 0 from hosts where agent_id='agent-1'")" = 1 ] || fail "health rss"
# Every batch acknowledged was stored once, in order.
[ "$(sql c.db "select count(*) = max(seq) from batches")" = 1 ] || fail "batch sequence has gaps"

# vigilctl hosts, as each operator role.
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
for r in admin-1 auditor-1 responder-1; do
    expect_exit 0 "$CTL" --cert pki/$r.crt --key pki/$r.key hosts
    expect_in out.txt "agent-1"
    expect_in out.txt "department=radiology,site=leeds"
    expect_in out.txt "connected"
done
expect_exit 0 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key --json hosts --tag site=leeds
expect_in out.txt '"agent_id": "agent-1"'
expect_in out.txt '"site": "leeds"'
expect_in out.txt '"connected": true'
expect_exit 0 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key --json hosts --tag site=york
[ "$(tr -d ' \n' <out.txt)" = "[]" ] || fail "tag filter: $(cat out.txt)"
# HOST by unique hostname resolves to the agent id.
expect_exit 0 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key host "$(hostname)"
expect_in out.txt "agent id:    agent-1"
expect_exit 1 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key host no-such-host
expect_in err.txt "no host"

# The collector restarts: the agent reconnects by itself and streams on.
before=$(sql c.db "select count(*) from events")
stop "$CPID"
expect_in collector.log "stopped:"
start collector2 "$COLLECTOR" -c collector.conf
wait_for 30 "agent reconnected" 'grep -q "agent agent-1 .* connected" collector2.log'
wait_for 20 "events after restart" '[ "$(sql c.db "select count(*) from events")" -gt "$before" ]' 
expect_exit 0 "$CTL" --cert pki/admin-1.crt --key pki/admin-1.key hosts
expect_in out.txt "connected"
kill -0 "$APID" || fail "agent died"

# Clean stop of both: agent first (goodbye), then the collector.
stop "$APID"
expect_in agent.log "stopped"
wait_for 10 "disconnect recorded" 'grep -q "agent agent-1 .* disconnected" collector2.log' 
stop "$LAST_PID"
expect_not_in agent.log "error"
echo ok
