# vg-timeout: 420
# Isolation leaks nothing (issue 19): a matrix of TCP, UDP and ICMP, IPv4
# and IPv6, to and from a peer, the collector's host on other ports,
# traffic source-NATed or spoofed to the collector's address and port,
# DHCP with the lease's server and not with a planted lease's or by
# broadcast.  Every probe is first shown to work before isolating, so a
# probe that cannot fail is caught.  Then tampering: a ruleset flushed
# again and again and the table deleted while a peer probes all the
# time, kill -9 of the agent with a flush while it is down, and a reboot
# (every process gone, ruleset empty) with the boot unit's command
# restoring it before the agent starts.  vigilctl hosts says when the
# agent has not confirmed the rules for a while.
# Runs beside other tests: its namespaces, veths and firewall rules have
# names and addresses of its own, and rules live inside its namespaces.
. "$VG_ROOT/tests/e2e/lib.sh"
. "$VG_ROOT/tests/e2e/netns.sh"

probe() { python3 "$VG_ROOT/tests/e2e/netns_probe.py" "$@"; }
# open DESC NS ARGS...: the probe must get through; shut: must not.
open_() { desc=$1 ns=$2; shift 2; ip netns exec "$ns" python3 "$VG_ROOT/tests/e2e/netns_probe.py" "$@" ||
    fail "$desc did not get through (before isolating: the probe is broken)"; }
shut() { desc=$1 ns=$2; shift 2; ! ip netns exec "$ns" env VG_PROBE_TIMEOUT=0.7 python3 "$VG_ROOT/tests/e2e/netns_probe.py" "$@" ||
    fail "isolated, yet $desc got through"; }
# arrived FILE PROTO SRC: the host's listener logged a datagram or
# connection from SRC.
arrived() { grep -q "^$2 $3 " "$1"; }
# halt PID: a listener of the test's stopped (killed by the signal: fine).
halt() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }

ip -n "$P" addr add 10.77.2.3/24 dev "q$id"   # the attacker's address
for ns in $H $C $P; do
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
# Listeners: on the host (what reaches it), the peer, the collector's host.
start hl_tcp inh python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve tcp 9100 "$VG_TMP/h.tcp"
start hl_udp inh python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 9100 "$VG_TMP/h.udp"
start pl_udp inp python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 9000 "$VG_TMP/p.udp"
start pl_dhcp inp python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 67 "$VG_TMP/p.dhcp"
DHCP_PID=$LAST_PID
start cl_tcp inc python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve tcp 9002 "$VG_TMP/c.tcp"
start cl_udp inc python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 9002 "$VG_TMP/c.udp"
wait_for 10 "listeners up" 'inh ss -lun | grep -q ":9100 " && inp ss -lun | grep -q ":67 " && inc ss -ltn | grep -q ":9002 "'

make_pki pki
PORT=$(free_port)
netns_start_collector
# Source NAT to the collector's address and port: from the collector's
# host, and (spoofed) from the peer.
inc nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    ip daddr 10.77.1.2 meta l4proto { tcp, udp } th sport 9998 snat to 10.77.1.1:$PORT
  }
}
table ip6 nat {
  chain post {
    type nat hook postrouting priority 100;
    ip6 daddr fd77:1::2 meta l4proto { tcp, udp } th sport 9998 snat to [fd77:1::1]:$PORT
  }
}
NFT
inp nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    ip daddr 10.77.2.2 udp sport 9999 snat to 10.77.1.1:$PORT
  }
}
NFT

# DHCP leases (systemd-networkd's format), seen by the agent only (a
# tmpfs in its mount namespace): the real one, and three planted ones
# (world-writable, not root's, naming an address the host does not hold).
mkdir leases
printf 'ADDRESS=10.77.2.2\nSERVER_ADDRESS=10.77.2.1\n' >leases/2
printf 'ADDRESS=10.77.2.2\nSERVER_ADDRESS=10.77.2.3\n' >leases/7
chmod 666 leases/7
printf 'ADDRESS=10.77.2.2\nSERVER_ADDRESS=10.77.2.3\n' >leases/8
chown 65534 leases/8
printf 'ADDRESS=10.99.0.5\nSERVER_ADDRESS=10.77.2.3\n' >leases/9
[ -d /run/systemd/netif ] || mkdir -p /run/systemd/netif
# in_host NAME CMD...: CMD in the host namespace with those leases.
in_host() {
    name=$1
    shift
    start "$name" ip netns exec "$H" sh -c 'mount -t tmpfs -o mode=0755 vg /run/systemd/netif &&
        mkdir /run/systemd/netif/leases && cp -p leases/* /run/systemd/netif/leases/ && exec "$@"' sh "$@"
}
netns_agent_conf ""
in_host agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 30 "agent connected" 'grep -q "connected to collector" agent.log'

# ---- before isolating: every probe gets through ----
# probes MODE: what must pass before isolating (MODE open_) and must not
# while isolated (MODE shut).
probes() {
    $1 "TCP host -> peer (IPv4)" "$H" tcp 10.77.2.1 9000
    $1 "TCP host -> peer (IPv6)" "$H" tcp fd77:2::1 9000
    $1 "UDP host -> peer (IPv4)" "$H" udp 10.77.2.1 9000
    $1 "UDP host -> peer (IPv6)" "$H" udp fd77:2::1 9000
    $1 "ICMP host -> peer (IPv4)" "$H" ping 10.77.2.1
    $1 "ICMP host -> peer (IPv6)" "$H" ping fd77:2::1
    $1 "ICMP peer -> host (IPv4)" "$P" ping $H4
    $1 "ICMP peer -> host (IPv6)" "$P" ping fd77:2::2
    $1 "ICMP collector's host -> host" "$C" ping $HC4
    $1 "TCP peer -> host (IPv4)" "$P" tcp $H4 9100
    $1 "TCP peer -> host (IPv6)" "$P" tcp fd77:2::2 9100
    $1 "UDP peer -> host" "$P" udp $H4 9100
    $1 "TCP host -> collector's host, another port" "$H" tcp 10.77.1.1 9002
    $1 "UDP host -> collector's host, another port (IPv6)" "$H" udp fd77:1::1 9002
    $1 "TCP collector's host -> host" "$C" tcp $HC4 9100
    $1 "TCP NATed to the collector's address and port -> host (IPv4)" "$C" tcp $HC4 9100 9998
    $1 "TCP NATed to the collector's address and port -> host (IPv6)" "$C" tcp fd77:1::2 9100 9998
    $1 "UDP NATed to the collector's address and port -> host" "$C" udp $HC4 9100 9998
    $1 "TCP from root on the host to the collector's port (not the agent's socket)" "$H" tcp 10.77.1.1 "$PORT"
    $1 "DNS to the resolver" "$H" tcp 10.77.2.1 53
    $1 "DHCP with a planted lease's server" "$H" udp 10.77.2.3 67 68
    $1 "DHCP broadcast" "$H" udp 255.255.255.255 67 68 "p$id"
}
H4=10.77.2.2 HC4=10.77.1.2
probes open_
open_ "DHCP with the lease's server" "$H" udp 10.77.2.1 67 68
: >h.udp
inp python3 "$VG_ROOT/tests/e2e/netns_probe.py" udp $H4 9100 9999 || true
wait_for 10 "the spoofed datagram at the host before isolating" "arrived h.udp udp 10.77.1.1"
grep -q "^udp 10.77.1.1 $PORT\$" h.udp || fail "the peer's datagram was not NATed to the collector's address and port: $(cat h.udp)"

# ---- isolate ----
ROLE=responder-1
expect_exit 0 ctl isolate agent-1 --reason "issue 19 matrix"
expect_in out.txt "succeeded: isolated (nft)"
jq -e '.isolated.dhcp == ["10.77.2.1"] and (.isolated.uid | type) == "number"' state-agent-1/isolation >/dev/null ||
    fail "the isolation state does not hold exactly the real lease's server and the uid: $(cat state-agent-1/isolation)"
grep -q "DHCP lease file /run/systemd/netif/leases/7 ignored: it is not root's (or systemd-networkd's) alone" agent.log ||
    fail "the world-writable lease was not refused"
grep -q "DHCP lease file /run/systemd/netif/leases/8 ignored" agent.log || fail "the lease owned by nobody was not refused"
grep -q "leases/9 (server 10.77.2.3) not used: this host does not hold its address" agent.log ||
    fail "the lease for another address was not refused"
wait_for 20 "the keeper holding the rules" 'inh nft list tables | grep -q "inet vigil_isolation_keep"'
n=$(sql c.db "select count(*) from events")
wait_for 20 "telemetry flowing while isolated" '[ "$(sql c.db "select count(*) from events")" -gt $((n + 5)) ]'

matrix() {
    probes shut
    : >h.udp
    inp python3 "$VG_ROOT/tests/e2e/netns_probe.py" udp $H4 9100 9999 || true
    sleep 1
    ! arrived h.udp udp 10.77.1.1 || fail "isolated, yet a datagram spoofed as the collector reached the host"
    # The real lease exchange still works.
    open_ "isolated: DHCP with the lease's server" "$H" udp 10.77.2.1 67 68
}
matrix
# Inbound DHCP from the planted lease's server and from the real one.
halt "$DHCP_PID"
start hl_dhcp inh python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 68 "$VG_TMP/h.dhcp"
wait_for 10 "the host's port 68" 'inh ss -lun | grep -q ":68 "'
shut "DHCP from a planted lease's server to port 68" "$P" udp $H4 68 10.77.2.3:67
! arrived h.dhcp udp 10.77.2.3 || fail "a datagram from port 67 of a planted lease's server reached the host"
open_ "isolated: a DHCP reply from the lease's server" "$P" udp $H4 68 10.77.2.1:67
halt "$LAST_PID"
start pl_dhcp inp python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 67 "$VG_TMP/p.dhcp"
DHCP_PID=$LAST_PID
wait_for 10 "the peer's port 67" 'inp ss -lun | grep -q ":67 "'

# ---- the ruleset flushed again and again, and the table deleted, while a
# peer probes all the time ----
inh nft delete table inet vigil_isolation_keep 2>/dev/null && fail "another process deleted the keeper's table"
inh sh -c 'for i in $(seq 60); do nft flush ruleset; nft delete table inet vigil_isolation 2>/dev/null; sleep 0.05; done' &
FLUSHER=$!
inp python3 "$VG_ROOT/tests/e2e/netns_probe.py" loop $H4 9100 6 >loop.in &
LOOP=$!
inh python3 "$VG_ROOT/tests/e2e/netns_probe.py" loop 10.77.2.1 9000 6 >loop.out
wait "$FLUSHER" "$LOOP"
read -r tries ok <loop.in
echo "figure: inbound probes while the ruleset was flushed 60 times: $tries, through: $ok"
[ "$tries" -gt 10 ] || fail "the inbound probe loop hardly ran ($tries)"
[ "$ok" -eq 0 ] || fail "$ok of $tries inbound probes reached the host while the ruleset was being flushed"
read -r tries ok <loop.out
echo "figure: outbound probes meanwhile: $tries, through: $ok"
[ "$ok" -eq 0 ] || fail "$ok of $tries outbound probes left the host while the ruleset was being flushed"
wait_for 10 "the agent's table back" 'inh nft list tables | grep -q "inet vigil_isolation$"'
# How fast the agent puts its table back (nftables notifications), for
# the record: never asserted.
t0=$(date +%s%N)
inh nft flush ruleset
while ! inh nft list tables | grep -q "inet vigil_isolation$"; do
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 30000 ] || fail "the agent's table did not come back"
done
echo "figure: the agent's table was back $(( ($(date +%s%N) - t0) / 1000000 )) ms after a flush (measured with nft list, polling)"
grep -o "applied again ([0-9.]* ms after the change was notified)" agent.log | sed 's/[^0-9.]*\([0-9.]*\) ms.*/\1/' | sort -n >reapply.ms
[ -s reapply.ms ] || fail "no re-apply after a change notification in the agent's log"
echo "figure: the agent re-applied its table $(wc -l <reapply.ms) times, $(head -1 reapply.ms)-$(tail -1 reapply.ms) ms after the kernel's notification (median $(sed -n "$(( ($(wc -l <reapply.ms) + 1) / 2 ))p" reapply.ms) ms)"
wait_for 20 "the flushes audited" '[ "$(sql c.db "select count(*) from audit where result = '"'tampered'"'")" -ge 1 ]'
# Reported at a bounded pace, the rest counted: no audit flood.
sleep 3
t=$(sql c.db "select count(*) from audit where result = 'tampered'")
echo "figure: audit rows for 120 flushes and deletions of the agent's table: $t"
[ "$t" -le 15 ] || fail "the repeated flushes wrote $t tampering rows to the audit log"

# ---- kill -9 of the agent, then a flush while it is down ----
kill -KILL "$APID"
wait_for 10 "the agent gone" '! kill -0 "$APID" 2>/dev/null'
inh nft flush ruleset
inh nft list tables | grep -q "inet vigil_isolation_keep" || fail "the keeper's table went with the agent"
shut "TCP peer -> host, agent killed and ruleset flushed" "$P" tcp $H4 9100
shut "TCP host -> peer, agent killed and ruleset flushed" "$H" tcp 10.77.2.1 9000
shut "UDP peer -> host, agent killed and ruleset flushed" "$P" udp $H4 9100
: >agent.log
in_host agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 30 "agent back" 'grep -q "connected to collector" agent.log'
inh nft list tables | grep -q "inet vigil_isolation$" || fail "the agent's table not restored at start"
[ "$(ip netns pids "$H" | xargs -r -I{} cat /proc/{}/cmdline 2>/dev/null | tr '\0' ' ' | grep -o "isolation-keeper" | wc -l)" -eq 1 ] ||
    fail "not exactly one keeper after the agent's restart"

# ---- vigilctl hosts: confirmed while the agent runs; unverified once it
# has been quiet for three health intervals ----
ROLE=auditor-1
wait_for 20 "hosts shows the isolation" 'ctl hosts >out.txt 2>&1 && grep -q "ISOLATED since" out.txt'
grep -q "unverified" out.txt && fail "a running agent's isolation shown as unverified: $(cat out.txt)"
stop "$APID"
wait_for 60 "hosts says unverified" 'ctl hosts >out.txt 2>&1 && grep -q "ISOLATED (unverified since" out.txt'
ctl --json hosts >out.json
jq -e '.[0].isolation_unverified == true and .[0].isolation_verified != null' out.json >/dev/null ||
    fail "hosts --json does not say unverified: $(cat out.json)"

# ---- a reboot: every process in the namespace gone, the ruleset empty;
# the boot unit's command puts the isolation back before the agent runs ----
ip netns pids "$H" | xargs -r kill -KILL
sleep 0.5
inh nft flush ruleset
inh nft list tables | grep -q vigil && fail "a table survived the simulated reboot"
start hl_tcp inh python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve tcp 9100 "$VG_TMP/h.tcp"
start hl_udp inh python3 "$VG_ROOT/tests/e2e/netns_probe.py" serve udp 9100 "$VG_TMP/h.udp"
wait_for 10 "the host's listeners back" 'inh ss -ltn | grep -q ":9100 " && inh ss -lun | grep -q ":9100 "'
# The unit's ExecStart (packaging/systemd/vigil-isolation.service).
in_host boot "$AGENT" isolation-keeper -c agent.conf --restore --follow
wait_for 20 "the boot keeper holding the rules" 'grep -q "holding the isolation rules" boot.log'
grep -q "isolation restored" boot.log || fail "the boot keeper did not restore the agent's table: $(cat boot.log)"
shut "TCP peer -> host after the reboot, before the agent starts" "$P" tcp $H4 9100
shut "TCP host -> peer after the reboot, before the agent starts" "$H" tcp 10.77.2.1 9000
: >agent.log
in_host agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 30 "agent back after the reboot" 'grep -q "connected to collector" agent.log'
grep -q "isolation keeper started" agent.log && fail "the agent started a second keeper beside the boot one"
n=$(sql c.db "select count(*) from events")
wait_for 20 "telemetry flowing after the reboot" '[ "$(sql c.db "select count(*) from events")" -gt $((n + 5)) ]'
matrix

# ---- release: everything open again, nothing of ours left ----
ROLE=responder-1
expect_exit 0 ctl release agent-1 --reason "matrix done"
expect_in out.txt "succeeded: released"
wait_for 10 "the keeper's table dropped" '! inh nft list tables | grep -q vigil_isolation'
open_ "after release: TCP host -> peer" "$H" tcp 10.77.2.1 9000
open_ "after release: TCP peer -> host (IPv6)" "$P" tcp fd77:2::2 9100
open_ "after release: ICMP peer -> host" "$P" ping $H4
grep -q "the host was released; rules dropped" boot.log || fail "the boot keeper did not drop its rules on release"
