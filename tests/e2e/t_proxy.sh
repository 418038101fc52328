# An agent reaches its collector through a real HTTP CONNECT proxy
# (tinyproxy, Basic authentication, on loopback): its data arrives; a
# new agent enrolls through it with the credentials in proxy_auth_file;
# a wrong password is refused with the 407 message and the agent keeps
# trying; the proxy stopping and coming back loses nothing.
# vg-timeout: 180
. "$VG_ROOT/tests/e2e/lib.sh"

command -v tinyproxy >/dev/null || { echo "SKIP no tinyproxy (scripts/install-deps.sh)"; exit 77; }

make_pki pki
PORT=$(free_port)
PPORT=$(free_port)
while [ "$PPORT" = "$PORT" ]; do PPORT=$(free_port); done
EPORT=$(free_port)
while [ "$EPORT" = "$PORT" ] || [ "$EPORT" = "$PPORT" ]; do EPORT=$(free_port); done
collector_conf "$PORT" c.db >collector.conf
printf '[enroll]\nlisten = 127.0.0.1:%s\nca_key = pki/ca.key\n' "$EPORT" >>collector.conf

# tinyproxy drops to nobody: its log lives in a directory that user may write.
mkdir -m 0777 tp
cat >tinyproxy.conf <<EOF
Port $PPORT
Listen 127.0.0.1
Timeout 600
User nobody
Group nogroup
LogFile "$PWD/tp/tinyproxy.log"
LogLevel Info
MaxClients 20
Allow 127.0.0.1
BasicAuth vigil p-ss_w0rd
ConnectPort $PORT
ConnectPort $EPORT
EOF
start_proxy() {
    start "tinyproxy$1" tinyproxy -d -c tinyproxy.conf
    PXPID=$LAST_PID
    wait_for 30 "tinyproxy listening" "ss -tlnH 'sport = :$PPORT' | grep -q ."
}
stop_proxy() {
    kill -TERM "$PXPID"
    i=0
    while kill -0 "$PXPID" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || kill -KILL "$PXPID" 2>/dev/null || true
        sleep 0.1
    done
    wait "$PXPID" 2>/dev/null || true
}

# tinyproxy takes only [A-Za-z0-9_-] in a password: one of them is
# percent-encoded in the URL all the same (the unit test has "@" and ":").
agent_conf "$PORT" agent-1 >agent.conf
sed -i "/^\[collector\]/a proxy = http://vigil:p%2Dss_w0rd@127.0.0.1:$PPORT" agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 50\n' >>agent.conf
# The same agent with a wrong password.
agent_conf "$PORT" agent-2 >agent2.conf
sed -i "/^\[collector\]/a proxy = http://vigil:wrong@127.0.0.1:$PPORT" agent2.conf
printf '[telemetry]\nprocess_source = off\n' >>agent2.conf

# Configuration checks: a bad URL, and credentials given twice.
cp agent.conf bad.conf
sed -i "s|^proxy = .*|proxy = https://127.0.0.1:$PPORT|" bad.conf
expect_exit 1 "$AGENT" --check-config -c bad.conf
expect_in err.txt "https:// proxies are not supported"
cp agent.conf bad.conf
sed -i "/^proxy = /a proxy_auth_file = $PWD/proxy.auth" bad.conf
expect_exit 1 "$AGENT" --check-config -c bad.conf
expect_in err.txt "keep one of them"
expect_exit 0 "$AGENT" --check-config -c agent.conf
# --dump-config shows the proxy, not its password.
expect_exit 0 "$AGENT" --dump-config -c agent.conf
expect_in out.txt "proxy = http://vigil:(not shown)@127.0.0.1:$PPORT"
expect_not_in out.txt "w0rd"

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector listening" 'grep -q "listening on" collector.log'
start_proxy 1
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
os_stored() { [ "$(sql c.db "select count(*) from hosts where agent_id='agent-1' and kernel_release is not null")" = 1 ]; }
wait_for 60 "OS state stored through the proxy" os_stored
expect_in agent.log "through the HTTP proxy 127.0.0.1:$PPORT, with Basic authentication"
expect_in agent.log "connected to collector 127.0.0.1:$PORT through proxy 127.0.0.1:$PPORT"
# The proxy carried it, and the collector saw the agent.
wait_for 30 "the proxy logged the CONNECT" "grep -q 'CONNECT 127.0.0.1:$PORT' tp/tinyproxy.log"
wait_for 30 "the collector saw the agent" 'grep -q "agent agent-1 .* connected" collector.log'
# The password is never logged.
if grep -q 'w0rd' agent.log; then fail "the proxy password is in the agent's log"; fi

# A wrong password: 407 (or 401), said plainly, and the agent keeps trying.
start agent2 "$AGENT" -c agent2.conf
A2PID=$LAST_PID
refused() { [ "$(grep -c 'proxy authentication failed' agent2.log)" -ge 3 ]; }
wait_for 60 "agent-2 refused by the proxy, three times" refused
# tinyproxy says 401 where most proxies say 407: both mean the credentials.
grep -Eq 'authentication failed \(HTTP/1\.[01] 40[17] ' agent2.log || fail "no status line in the 407 message"
expect_in agent2.log "check the credentials in [collector] proxy"
kill -0 "$A2PID" || fail "agent-2 died"
[ "$(sql c.db "select count(*) from hosts where agent_id='agent-2'")" = 0 ] || fail "agent-2 got in"
stop "$A2PID"

# The proxy goes away and comes back: the agent reconnects, loses nothing.
stop_proxy
wait_for 60 "agent noticed the proxy gone" 'grep -q "lost collector" agent.log'
wait_for 60 "agent retrying against the dead proxy" 'grep -q "is the proxy running" agent.log'
sleep 2 # data keeps being spooled
start_proxy 2
wait_for 60 "agent reconnected through the proxy" \
    '[ "$(grep -c "connected to collector .* through proxy" agent.log)" -ge 2 ]'
sleep 1
stop "$APID"
last=$(last_seq agent.log)
[ -n "$last" ] || fail "no last sequence in agent.log"
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 60 "all batches stored" drained
stop "$CPID"
batches_exactly_once c.db "$last"
n=$(sed -n 's/.*\[in_dummy\] emitted \([0-9]*\) events.*/\1/p' agent.log)
[ -n "$n" ] && [ "$n" -gt 0 ] || fail "no dummy events counted"
[ "$(sql c.db "select count(*) from events where kind='process_exec'")" = "$n" ] || fail "dummy events lost"
[ "$(sql c.db "select count(*) from loss")" = 0 ] || fail "loss reported: $(sql c.db "select * from loss")"

# A new agent enrolls through the proxy, its credentials in a file of
# their own (after the exactly-once check: it is a stream of its own).
start collector2 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector listening again" 'grep -q "listening on" collector2.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key expect_exit 0 "$CTL" enroll-token create --uses 1
TOKEN=$(cat out.txt)
mkdir e1
printf 'vigil:p-ss_w0rd\n' >proxy.auth
chmod 600 proxy.auth
agent_conf "$PORT" x | sed -e "s|^state_dir = .*|state_dir = e1/state|" \
    -e "s|^cert = .*|cert = e1/agent.crt|" -e "s|^key = .*|key = e1/agent.key|" \
    -e "/^\[collector\]/a proxy = http://127.0.0.1:$PPORT\nproxy_auth_file = $PWD/proxy.auth" >e1.conf
printf '[telemetry]\nprocess_source = off\n[enroll]\naddress = 127.0.0.1:%s\ntoken = %s\n' \
    "$EPORT" "$TOKEN" >>e1.conf
chmod 644 proxy.auth
expect_exit 1 "$AGENT" --check-config -c e1.conf
expect_in err.txt "may be read by group or others"
chmod 600 proxy.auth
expect_exit 0 "$AGENT" --check-config -c e1.conf
start e1 "$AGENT" -c e1.conf
E1PID=$LAST_PID
wait_for 60 "enrolled through the proxy and connected" \
    'grep -q "connected to collector 127.0.0.1:$PORT through proxy" e1.log'
expect_in e1.log "enrolled as agent"
grep -q "CONNECT 127.0.0.1:$EPORT" tp/tinyproxy.log || fail "the enrollment did not go through the proxy"
stop "$E1PID"

stop "$CPID"
echo ok
