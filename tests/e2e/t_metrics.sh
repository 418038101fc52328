# The Prometheus endpoints ([metrics] listen) of the collector and the
# agent: valid text (promtool when installed, and promcheck.py always),
# figures that move with a real agent streaming, requests that are not
# GET /metrics answered 4xx without harm, loopback only unless allowed.
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
MPORT=$(free_port)
AMPORT=$(free_port)
while [ "$MPORT" = "$PORT" ] || [ "$AMPORT" = "$PORT" ] || [ "$AMPORT" = "$MPORT" ]; do
    AMPORT=$(free_port)
    MPORT=$(free_port)
done
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf

# Off by default; an address other than loopback only when allowed.
expect_exit 0 "$COLLECTOR" -c collector.conf --dump-config
expect_in out.txt "allow_remote = no"
{ cat collector.conf; printf '[metrics]\nlisten = 0.0.0.0:%s\n' "$MPORT"; } >remote.conf
expect_exit 1 "$COLLECTOR" -c remote.conf --check-config
expect_in err.txt "not a loopback address"
printf 'allow_remote = yes\n' >>remote.conf
expect_exit 0 "$COLLECTOR" -c remote.conf --check-config
{ cat agent.conf; printf '[metrics]\nlisten = 192.0.2.1:%s\n' "$AMPORT"; } >remote-agent.conf
expect_exit 1 "$AGENT" -c remote-agent.conf --check-config
expect_in err.txt "not a loopback address"
{ cat agent.conf; printf '[metrics]\nlisten = localhost\n'; } >remote-agent.conf
expect_exit 1 "$AGENT" -c remote-agent.conf --check-config
expect_in err.txt "expected an address and a port"

printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >>collector.conf
printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$AMPORT" >>agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector listening" 'grep -q "listening on" collector.log'
expect_in collector.log "metrics on http://127.0.0.1:$MPORT/metrics"
start agent "$AGENT" -c agent.conf
APID=$LAST_PID

URL=http://127.0.0.1:$MPORT/metrics
AURL=http://127.0.0.1:$AMPORT/metrics
CHECK="python3 $VG_ROOT/tests/e2e/promcheck.py"
# The text is valid (promcheck.py, and promtool when installed) and each
# SERIES=VALUE (or >=) holds.
PROMTOOL=$(command -v promtool || true)
[ -n "$PROMTOOL" ] || echo "figure: promtool not installed: promcheck.py alone checks the format"
valid() { # valid FILE [SERIES=VALUE...]
    if [ -n "$PROMTOOL" ] && ! "$PROMTOOL" check metrics <"$1" >promtool.txt 2>&1; then
        fail "promtool check metrics $1: $(cat promtool.txt)"
    fi
    $CHECK "$@" >check.txt || fail "$1: $(cat check.txt)"
}

# Values move: the agent is connected, its batches are stored.
wait_for 60 "collector metrics with the agent streaming" \
    '$CHECK "$URL" -o m.txt "vigil_collector_connections{state=\"agent\"}=1" \
        "vigil_collector_batches_total{result=\"stored\"}>=2" \
        "vigil_collector_events_stored_total>=2" \
        "vigil_collector_commit_duration_seconds_count>=1" \
        "vigil_collector_tls_handshakes_total{type=\"full\"}>=1"'
valid m.txt
stored=$(sql c.db "select count(*) from batches")
[ "$stored" -ge 2 ] || fail "batches in the database: $stored"
for n in vigil_collector_refusals_total vigil_collector_connections_dropped_total \
    vigil_collector_queued_batches vigil_collector_queued_records \
    vigil_collector_commit_duration_seconds_bucket vigil_collector_bad_frames_total; do
    expect_in m.txt "$n"
done
expect_in m.txt 'vigil_collector_commit_duration_seconds_bucket{le="+Inf"}'
expect_in m.txt "# TYPE vigil_collector_commit_duration_seconds histogram"

# A refusal by reason: the agent's certificate on a second connection
# while the agent is connected (a duplicate identity).
agent_conf "$PORT" agent-1 >dup.conf
sed -i 's/^state_dir = .*/state_dir = state-dup/' dup.conf
start dup "$AGENT" -c dup.conf
DPID=$LAST_PID
wait_for 60 "duplicate identity counted" \
    '$CHECK "$URL" -o m.txt "vigil_collector_refusals_total{reason=\"duplicate_identity\"}>=1"'
stop "$DPID"

# The agent's endpoint, from its root process.
wait_for 60 "agent metrics" \
    '$CHECK "$AURL" -o a.txt "vigil_agent_collector_connected=1" \
        "vigil_agent_events_total{kind=\"os_state\"}>=1" \
        "vigil_agent_batches_sent_total>=1" \
        "vigil_agent_network_process_restarts_total=0"'
valid a.txt
for n in vigil_agent_spool_batches vigil_agent_spool_bytes vigil_agent_reconnects_total \
    'vigil_agent_events_dropped_total{stage="spool"}' vigil_agent_handover_backlog_events \
    vigil_agent_loss_reported_events_total; do
    expect_in a.txt "$n"
done

# Every family is in OPERATIONS.md's tables.
for n in $(sed -n 's/^# TYPE \([^ ]*\) .*/\1/p' m.txt a.txt); do
    grep -q "^| \`$n\` |" "$VG_ROOT/docs/OPERATIONS.md" || fail "$n is not in docs/OPERATIONS.md"
done

# Requests that are not GET /metrics: 4xx, and the collector goes on.
python3 - "$MPORT" "$AMPORT" <<'PY' || fail "bad requests"
import http.client, socket, sys, time
port, aport = int(sys.argv[1]), int(sys.argv[2])
def ask(method, path, want, headers={}, p=port):
    c = http.client.HTTPConnection("127.0.0.1", p, timeout=10)
    c.request(method, path, body=b"x=1" if method == "POST" else None, headers=headers)
    r = c.getresponse()
    body = r.read()
    assert r.status == want, (method, path, r.status)
    assert r.getheader("Connection") == "close", (method, path)
    return r, body
ask("POST", "/metrics", 405)
r, _ = ask("DELETE", "/metrics", 405)
assert r.getheader("Allow") == "GET, HEAD"
ask("GET", "/", 404)
ask("GET", "/metricsx", 404)
ask("GET", "/metrics?name=x", 200)
ask("GET", "/metrics", 431, {"X-Big": "a" * 9000})
_, body = ask("HEAD", "/metrics", 200)
assert body == b""
ask("POST", "/metrics", 405, p=aport)
def raw(data, want):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    got = s.recv(200).decode("latin-1")
    s.close()
    assert got.startswith("HTTP/1.1 " + want), (data[:40], got)
    assert "Connection: close" in got, got
raw(b"garbage\r\n\r\n", "400")
raw(b"GET /metrics SPDY/3\r\n\r\n", "400")
raw(b"GET /metrics HTTP/1.0\n\n", "200")
# Silent connections are closed after 5 s; past 16 at once, at once.
idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(20)]
for s in idle:
    assert s.recv(10) == b""
    s.close()
PY
# Still serving, still storing.
before=$(sql c.db "select count(*) from batches")
wait_for 30 "batches after the bad requests" '[ "$(sql c.db "select count(*) from batches")" -gt "$before" ]'
$CHECK "$URL" -o m.txt >check.txt || fail "after the bad requests: $(cat check.txt)"
valid m.txt "vigil_collector_connections{state=\"agent\"}=1"

# A port already taken: the collector does not start, and says why.
sed -e "s/^listen = 127.0.0.1:$PORT/listen = 127.0.0.1:$(free_port)/" -e 's/^db = .*/db = c2.db/' \
    collector.conf >taken.conf
expect_exit 1 "$COLLECTOR" -c taken.conf
expect_in err.txt "[metrics] listen 127.0.0.1:$MPORT: address already in use"

# Both stop cleanly with their endpoints open.
stop "$APID"
expect_in agent.log "stopped"
stop "$CPID"
expect_in collector.log "stopped:"
