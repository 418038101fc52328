# vg-timeout: 240
# Behind HAProxy with send-proxy-v2 or send-proxy (issue 20), the
# collector knows each
# agent's own address: [collector] proxy_protocol names the balancer,
# whose connections must begin with a PROXY protocol header (v2, or v1's
# text line: agent-2 comes through a send-proxy backend).  HAProxy
# here connects to the collector from 127.0.0.3 and the agents come from
# other loopback addresses.  Shown: the agent's address in the log and
# in hosts; idle sockets from 100 addresses through the balancer are not
# one address's (no handshake evicted: without the header they would all
# be 127.0.0.3's, past its 32); health checks are neither refusals nor
# log lines; a balancer's connection without a header, or with a bad
# one, is refused with the reason; a header from anyone else is not
# believed; and a bad proxy_protocol line is a clear configuration error.
. "$VG_ROOT/tests/e2e/lib.sh"

command -v haproxy >/dev/null || { echo "SKIP: no haproxy (apt-get install haproxy)"; exit 77; }

make_pki pki
PORT=$(free_port)
FRONT=$(free_port)
FRONT1=$(free_port)
MPORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
printf 'proxy_protocol = 127.0.0.3\n' >pp.txt
sed -i '/^\[collector\]/r pp.txt' collector.conf
printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >>collector.conf

# Configuration errors first: a port, a name, too wide a list.
for bad in "127.0.0.3:7443|no port here" "haproxy.example|expected the load balancers" \
           "10.0.0.5/8|"; do
    sed "s|^proxy_protocol = .*|proxy_protocol = ${bad%%|*}|" collector.conf >bad.conf
    expect_exit 1 "$COLLECTOR" --check-config -c bad.conf
    expect_in err.txt "proxy_protocol"
    [ -z "${bad#*|}" ] || expect_in err.txt "${bad#*|}"
done
expect_exit 0 "$COLLECTOR" --check-config -c collector.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

cat >haproxy.cfg <<CFG
global
    maxconn 1024
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
frontend agents
    bind 127.0.0.1:$FRONT
    bind 127.1.0.1:$FRONT
    default_backend collectors
frontend agents_v1
    bind 127.0.0.1:$FRONT1
    default_backend collectors_v1
backend collectors
    server c1 127.0.0.1:$PORT source 127.0.0.3 send-proxy-v2 check check-send-proxy inter 500ms
backend collectors_v1
    server c1 127.0.0.1:$PORT source 127.0.0.3 send-proxy check inter 500ms
CFG
haproxy -c -f haproxy.cfg >/dev/null || fail "haproxy refuses its configuration"
start haproxy haproxy -db -f haproxy.cfg
HPID=$LAST_PID

# 1. An agent through the balancer, known by its own address.
agent_conf "$FRONT" agent-1 >agent.conf
start agent "$AGENT" -c agent.conf
wait_for 30 "agent-1 connected through haproxy" \
    'grep -q "agent agent-1 (.*) connected from 127.0.0.1:[0-9]* through 127.0.0.3:" collector.log'
wait_for 30 "agent-1's address stored" \
    '[ "$(sql c.db "select last_addr from hosts")" != "" ]'
addr=$(sql c.db "select last_addr from hosts")
case $addr in 127.0.0.1*) ;; *) fail "hosts.last_addr is $addr, not the agent's 127.0.0.1" ;; esac

# 2. Health checks (a LOCAL header, then a close): counted, not refused.
wait_for 30 "health checks counted" '[ "$(metric vigil_collector_proxy_checks_total)" -ge 3 ]'
expect_not_in collector.log "refused 127.0.0.3"

# 3. From the balancer's address without a header (TLS at once), and
# with a wrong one: refused, saying why.
pp() { python3 - "$@" <<'PY'
import socket, sys, time
src, port, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket()
s.bind((src, 0))
s.connect(("127.0.0.1", port))
s.sendall(data)
s.settimeout(10)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
PY
}
CLIENT_HELLO=16030100050100000103
pp 127.0.0.3 "$PORT" "$CLIENT_HELLO"
wait_for 20 "the headerless connection refused" \
    'grep -q "refused 127.0.0.3:[0-9]*: no PROXY protocol header (TLS at once: not through the load balancer)" collector.log'
# A version 1 line that does not parse, and a v2 header with a bad command.
pp 127.0.0.3 "$PORT" "$(printf 'PROXY TCP4 10.8.8.888 127.0.0.1 5 6\r\n' | od -An -tx1 | tr -d ' \n')"
wait_for 20 "a bad version 1 line refused" \
    'grep -q "PROXY protocol v1 line not understood: .PROXY TCP4 10.8.8.888 127.0.0.1 5 6" collector.log'
pp 127.0.0.3 "$PORT" "0d0a0d0a000d0a515549540a2f11000c0a0909097f00000100050006"
wait_for 20 "a bad command refused" 'grep -q "PROXY protocol command 15, neither LOCAL nor PROXY" collector.log'
# A LOCAL header, then TLS that fails: a refusal, not a health check.
refusals=$(metric 'vigil_collector_refusals_total{reason="tls_handshake"}')
pp 127.0.0.3 "$PORT" "0d0a0d0a000d0a515549540a20000000${CLIENT_HELLO}"
wait_for 20 "TLS after LOCAL refused" \
    '[ "$(metric '"'"'vigil_collector_refusals_total{reason="tls_handshake"}'"'"')" -gt "$refusals" ]'
[ "$(metric vigil_collector_proxy_refused_total)" -ge 3 ] ||
    fail "proxy_refused_total: $(metric vigil_collector_proxy_refused_total)"

# A header from an address that is not a balancer's is not read: it
# is a failed TLS handshake, and 10.9.9.9 never appears.
pp 127.0.0.1 "$PORT" "0d0a0d0a000d0a515549540a2111000c0a0909097f00000100050006$CLIENT_HELLO"
wait_for 20 "the spoofed header refused as TLS" 'grep -q "refused 127.0.0.1:[0-9]*:" collector.log'
expect_not_in collector.log "10.9.9.9"

# 4. 100 idle sockets through the balancer, from 100 addresses: each is
# its own address's (under 32 each), so none is evicted.
python3 "$VG_ROOT/tests/e2e/idle_flood.py" 127.1.0.1 "$FRONT" 100 many flood.txt 2>flood.err &
FPID=$!
VG_PIDS="$VG_PIDS $FPID"
wait_for 30 "100 idle sockets open" 'grep -q "opened 1[0-9][0-9]" flood.txt'
sleep 2
ev=$(curl -s "http://127.0.0.1:$MPORT/metrics" |
     awk '/^vigil_collector_connections_dropped_total\{reason="handshake_evicted"\}/ { print $2 }')
[ "$ev" = 0 ] || fail "$ev handshakes evicted: the balancer's connections counted as one address's"
# agent-2 through the version 1 backend (send-proxy).
agent_conf "$FRONT1" agent-2 >agent2.conf
start agent2 "$AGENT" -c agent2.conf
wait_for 30 "agent-2 in past the idle sockets, through a v1 header" \
    'grep -q "agent agent-2 (.*) connected from 127.0.0.1:[0-9]* through 127.0.0.3:" collector.log'
kill "$FPID"

# Agents and operators straight to the collector still work.
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" hosts
expect_in out.txt "agent-2"
echo "figure: through HAProxy (send-proxy-v2 and send-proxy): agents seen from their own address, $(metric vigil_collector_proxy_checks_total) health checks not refused, 100 idle sockets from 100 addresses and 0 handshakes evicted"
kill "$HPID"
stop "$CPID"
echo "ok"
