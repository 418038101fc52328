# Hostile and wrong peers are refused, each with a logged reason, and only
# their own connection is closed: a connected agent streams on throughout.
# Clients other than our own use openssl s_client, an independent TLS stack.
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
"$CTL" pki issue --dir pki --role agent --name old --not-after 2020-01-01 >/dev/null
"$CTL" pki init --dir other >/dev/null
"$CTL" pki issue --dir other --role agent --name stranger >/dev/null
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector listening" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "agent connected" 'grep -q "info: agent agent-1 (.*) connected from" collector.log'

health() { sql c.db "select count(*) from events where kind='agent_health'"; }
health_above() { [ "$(health)" -gt "$1" ]; }
start_health=$(health)

# s_client CERT KEY: TLS client as that identity, stdin sent after the handshake.
s_client() {
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
        -CAfile pki/ca.crt ${1:+-cert "$1" -key "$2"} -quiet -verify_return_error
}
# refused TEXT: the collector logged a refusal containing TEXT.
refused() {
    wait_for 10 "refusal '$1' in the collector log" "grep -F -- \"$1\" collector.log"
}

# --- TLS-level refusals ---
s_client other/stranger.crt other/stranger.key </dev/null >/dev/null 2>&1 || true
refused "peer certificate rejected: The certificate is not correctly signed by the trusted CA"
s_client pki/old.crt pki/old.key </dev/null >/dev/null 2>&1 || true
refused "peer certificate rejected: The certificate validity has expired"
s_client "" "" </dev/null >/dev/null 2>&1 || true
refused "peer sent no certificate"
s_client pki/collector.crt pki/collector.key </dev/null >/dev/null 2>&1 || true
refused "Usage does not match the extendedKeyUsage extension"
bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GET / HTTP/1.0\r\n\r\n' >&3; cat <&3 >/dev/null" || true
refused "TLS handshake failed"
# A TLS client speaking garbage.
printf 'this is not a vigil frame at all\n' | s_client pki/agent-2.crt pki/agent-2.key >/dev/null 2>&1 || true
refused "agent agent-2 (127.0.0.1:"
refused "bad frame: unsupported version"

# --- Frames that lie, each on its own connection ---
frame() { printf "$1" | s_client pki/agent-2.crt pki/agent-2.key >/dev/null 2>&1 || true; }
frame '\377\377\377\377\001\000\000\000\377\377\377\377'
refused "bad frame: size over limit"
# 100 bytes announced, 10 sent, then the client closes.
printf '\000\000\000\144\001\000\000\000\000\000\000\144abcdefghij' |
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
        -CAfile pki/ca.crt -cert pki/agent-2.crt -key pki/agent-2.key >/dev/null 2>&1 || true
refused "bad frame: truncated input"
frame '\000\000\000\020\001\001\000\000\000\000\000\144AAAAAAAAAAAAAAAA'
refused "bad frame: lz4 payload does not match its stated size"
frame '\000\000\000\004\001\000\000\000\000\000\000\004\010\377\377\377'
refused "bad frame: protobuf payload does not decode"

# --- Identity and roles ---
# A second connection with agent-1's identity (a cloned VM) is refused.
mkdir -p clone && sed 's/^state_dir = .*/state_dir = clone/' agent.conf >clone.conf
start clone "$AGENT" -c clone.conf
wait_for 20 "duplicate refused" 'grep -q "duplicate identity: agent agent-1" collector.log'
wait_for 10 "clone told why" 'grep -q "already connected" clone.log'
stop "$LAST_PID"
[ "$(sql c.db "select duplicates_refused >= 1 from hosts where agent_id='agent-1'")" = 1 ] ||
    fail "duplicate not recorded"
# An agent certificate cannot run operator queries.
expect_exit 1 "$CTL" --collector 127.0.0.1:$PORT --server-name localhost --ca pki/ca.crt \
    --cert pki/agent-2.crt --key pki/agent-2.key hosts
expect_in err.txt "may not run operator queries"
refused "an agent certificate may not run operator queries"
# vigilctl refuses to use a key others can read.
cp pki/admin-1.key loose.key && chmod 644 loose.key
expect_exit 1 "$CTL" --collector 127.0.0.1:$PORT --server-name localhost --ca pki/ca.crt \
    --cert pki/admin-1.crt --key loose.key hosts
expect_in err.txt "chmod 600"
# The collector's name is checked by clients.
expect_exit 1 "$CTL" --collector 127.0.0.1:$PORT --server-name wrong.example.org --ca pki/ca.crt \
    --cert pki/admin-1.crt --key pki/admin-1.key hosts
expect_in err.txt "does not match"
expect_in err.txt "expected the name 'wrong.example.org'; the certificate is for CN collector, localhost"
# A port already taken: said, with what to do.
sed 's/^db = .*/db = other.db/' collector.conf >taken.conf
expect_exit 1 "$COLLECTOR" -c taken.conf
expect_in err.txt "address already in use (another collector, or another program, holds it"
# Nobody listening: the next step is named.
expect_exit 1 "$CTL" --collector 127.0.0.1:$(free_port) --server-name localhost --ca pki/ca.crt \
    --cert pki/admin-1.crt --key pki/admin-1.key hosts
expect_in err.txt "connection refused; is vigil-collector running and listening there?"

# Through all of this the first agent kept streaming on its connection.
mid=$(health)
wait_for 10 "agent still streaming" health_above "$mid"
[ "$(grep -c "info: agent agent-1 (.*) connected from" collector.log)" = 1 ] || fail "agent-1 had to reconnect"
expect_exit 0 "$CTL" --collector 127.0.0.1:$PORT --server-name localhost --ca pki/ca.crt \
    --cert pki/admin-1.crt --key pki/admin-1.key hosts
expect_in out.txt "connected"
[ "$(health)" -gt "$start_health" ] || fail "no events during the test"
kill -0 "$CPID" || fail "collector died"

# A host that froze (or vanished behind NAT) without closing its
# connection is replaced by its own reconnect, not refused as a clone.
# The whole agent freezes: the parent and its network process.
NETPID=$(pgrep -P "$APID" -f vigil-agent)
kill -STOP "$APID" $NETPID
sleep 3  # past two collector heartbeats of silence
start reborn "$AGENT" -c clone.conf
RPID=$LAST_PID
wait_for 20 "silent connection replaced" 'grep -q "dropping its silent connection" collector.log'
wait_for 10 "reborn agent connected" 'grep -q "connected to collector" reborn.log'
stop "$RPID"
kill -CONT "$APID" $NETPID
stop "$APID"
stop "$CPID"
expect_in collector.log "bad frames"
echo ok
