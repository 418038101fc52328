# Network namespaces for the isolation tests (sourced after lib.sh):
#
#   host (agent) --veth-- collector        host --veth-- peer (TCP echo :9000, :9001)
#   10.77.1.2 / fd77:1::2   10.77.1.1 / fd77:1::1    10.77.2.2 <-> 10.77.2.1, fd77:2::1
#
# Names are unique per test process and removed by the EXIT trap.
# Sets H, C, P; inh/inc/inp run a command in a namespace; reach ADDR PORT
# tests a fresh connection from the host to the peer.
id=$$
H=vgh$id C=vgc$id P=vgp$id
teardown() {
    cleanup_pids
    # What outlives the agent on purpose (the isolation keeper) goes too.
    for n in $H $C $P; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    rm -rf "/etc/netns/$H"
}
trap teardown EXIT
inh() { ip netns exec "$H" "$@"; }
inc() { ip netns exec "$C" "$@"; }
inp() { ip netns exec "$P" "$@"; }
reach() { inh python3 "$VG_ROOT/tests/e2e/netns_reach.py" "$1" "$2"; }

for n in $H $C $P; do ip netns add "$n"; ip -n "$n" link set lo up; done
# The host's resolver is the peer (ip netns exec binds this over
# /etc/resolv.conf).
mkdir -p "/etc/netns/$H"
echo "nameserver 10.77.2.1" >"/etc/netns/$H/resolv.conf"
printf '127.0.0.1 localhost\n10.77.1.1 collector.test\n' >"/etc/netns/$H/hosts"
ip link add "h$id" netns "$H" type veth peer name "c$id" netns "$C"
ip link add "p$id" netns "$H" type veth peer name "q$id" netns "$P"
ip -n "$H" addr add 10.77.1.2/24 dev "h$id"
ip -n "$H" addr add fd77:1::2/64 dev "h$id" nodad
ip -n "$C" addr add 10.77.1.1/24 dev "c$id"
ip -n "$C" addr add fd77:1::1/64 dev "c$id" nodad
ip -n "$H" addr add 10.77.2.2/24 dev "p$id"
ip -n "$H" addr add fd77:2::2/64 dev "p$id" nodad
ip -n "$P" addr add 10.77.2.1/24 dev "q$id"
ip -n "$P" addr add fd77:2::1/64 dev "q$id" nodad
for l in "$H h$id" "$H p$id" "$C c$id" "$P q$id"; do set -- $l; ip -n "$1" link set "$2" up; done

start peer ip netns exec "$P" python3 "$VG_ROOT/tests/e2e/netns_echo.py"
wait_for 10 "the peer up" 'reach 10.77.2.1 9000'
reach fd77:2::1 9000 || fail "the peer is not reachable over IPv6 before isolation"

# netns_start_collector [ENV...]: a collector in the collector namespace,
# on 10.77.1.1:$PORT (pki/ made by make_pki).  Sets CPID.
netns_start_collector() {
    collector_conf "$PORT" c.db | sed "s/^listen = .*/listen = 0.0.0.0:$PORT/" >collector.conf
    start collector env "$@" ip netns exec "$C" "$COLLECTOR" -c collector.conf
    CPID=$LAST_PID
    wait_for 30 "collector up" 'grep -q "listening on" collector.log'
}

# netns_agent_conf EXTRA: agent-1's configuration (agent.conf) for the host
# namespace, with dummy telemetry and fast isolation checks, then EXTRA.
netns_agent_conf() {
    agent_conf "$PORT" agent-1 | sed "s/^address = .*/address = 10.77.1.1:$PORT/" >agent.conf
    cat >>agent.conf <<CONF
[telemetry]
process_source = off
[dummy]
rate = 5
[isolation]
check_interval = 1s
verify_timeout = 3s
$1
CONF
}

# netns_start_agent: agent-1 in the host namespace; sets APID.
netns_start_agent() {
    start agent ip netns exec "$H" "$AGENT" -c agent.conf
    APID=$LAST_PID
    wait_for 15 "agent connected" 'grep -q "connected to collector" agent.log'
}

# ctl ARGS: vigilctl in the collector namespace as $ROLE.
ctl() { inc "$CTL" --collector "10.77.1.1:$PORT" --ca pki/ca.crt --server-name localhost \
    --cert "pki/$ROLE.crt" --key "pki/$ROLE.key" "$@"; }
