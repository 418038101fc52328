# vg-timeout: 240
# Isolation of an agent that reaches its collector through an HTTP proxy
# (tinyproxy in the collector's namespace, netns.sh): the collector's
# address is 127.0.0.1, which only the proxy can reach it at, so every
# byte goes through the proxy.  Isolating lets the agent's network
# process reach the proxy and nothing else (not even the collector's own
# port directly); telemetry flows; a restarted network process finds the
# proxy by its pinned address; release restores the host.
# Runs beside other tests: its namespaces, veths and firewall rules have
# names and addresses of its own, and rules live inside its namespaces.
. "$VG_ROOT/tests/e2e/lib.sh"
command -v tinyproxy >/dev/null || { echo "SKIP no tinyproxy (scripts/install-deps.sh)"; exit 77; }
. "$VG_ROOT/tests/e2e/netns.sh"

make_pki pki
PORT=$(free_port)
PPORT=$(free_port)
while [ "$PPORT" = "$PORT" ]; do PPORT=$(free_port); done
netns_start_collector

mkdir -m 0777 tp
cat >tinyproxy.conf <<EOF
Port $PPORT
Listen 10.77.1.1
Timeout 600
User nobody
Group nogroup
LogFile "$PWD/tp/tinyproxy.log"
LogLevel Info
MaxClients 20
Allow 10.77.1.0/24
BasicAuth vigil pw_1
ConnectPort $PORT
EOF
start tinyproxy ip netns exec "$C" tinyproxy -d -c tinyproxy.conf
wait_for 30 "tinyproxy listening" "inc ss -tlnH 'sport = :$PPORT' | grep -q ."

netns_agent_conf ""
sed -i "s/^address = .*/address = 127.0.0.1:$PORT/" agent.conf
sed -i "/^\[collector\]/a proxy = http://vigil:pw_1@10.77.1.1:$PPORT" agent.conf
netns_start_agent
expect_in agent.log "connected to collector 127.0.0.1:$PORT through proxy 10.77.1.1:$PPORT"

# connect_as USER ADDR PORT: a fresh TCP connection from the host as USER.
connect_as() {
    inh setpriv --reuid "$1" --regid nogroup --clear-groups \
        timeout 3 /bin/bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>/dev/null
}
# The network process's user (nobody here: no vigil user on test machines).
NETUSER=$(sed -n 's/.*network process [0-9]* started (user \([a-z_-]*\)).*/\1/p' agent.log | head -1)
[ -n "$NETUSER" ] || fail "no network process user in agent.log"
connect_as "$NETUSER" 10.77.1.1 "$PORT" || fail "the collector's port not reachable before isolating"

ROLE=responder-1
expect_exit 0 ctl isolate agent-1 --reason "incident 7: behind the proxy"
expect_in out.txt "succeeded: isolated (nft)"
expect_in out.txt "only its collector's proxy"
# The network process's user reaches the proxy, not the collector directly.
connect_as "$NETUSER" 10.77.1.1 "$PPORT" || fail "the proxy not reachable while isolated"
connect_as "$NETUSER" 10.77.1.1 "$PORT" && fail "the collector's port reachable directly while isolated"
reach 10.77.2.1 9000 && fail "the peer reachable while isolated"
events() { sql c.db "select count(*) from events"; }
n=$(events)
wait_for 30 "telemetry flowing through the proxy while isolated" '[ "$(events)" -gt $((n + 10)) ]'

# The network process dies: its successor finds the proxy through the
# pinned address (no DNS needed) and gets through.
child=$(sed -n 's/.*network process \([0-9]*\) started.*/\1/p' agent.log | tail -1)
[ -n "$child" ] || fail "no network process pid"
kill -KILL "$child"
wait_for 60 "reconnected through the proxy while isolated" \
    '[ "$(grep -c "connected to collector 127.0.0.1:$PORT through proxy" agent.log)" -ge 2 ]'
n=$(events)
wait_for 30 "telemetry after the restart" '[ "$(events)" -gt $((n + 5)) ]'
grep -q "CONNECT 127.0.0.1:$PORT" tp/tinyproxy.log || fail "the proxy logged no CONNECT"

expect_exit 0 ctl release agent-1 --reason "cleared"
expect_in out.txt "succeeded"
connect_as "$NETUSER" 10.77.1.1 "$PORT" || fail "the collector's port not reachable after release"
reach 10.77.2.1 9000 || fail "the peer not reachable after release"
stop "$APID"
echo ok
