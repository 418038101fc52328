# vg-timeout: 180
# Isolation with the iptables back end (for hosts without nftables),
# tested with iptables-legacy, since Debian's iptables is nftables
# underneath: chains of the agent's own jumped to first, IPv4 and IPv6,
# with allow_dns (the resolver, here the peer, on port 53 only);
# an ACCEPT put above the jump by hand is undone and reported; release
# leaves the host's own iptables rules exactly as they were.
# Runs beside other tests: its namespaces, veths and firewall rules have
# names and addresses of its own, and rules live inside its namespaces.
. "$VG_ROOT/tests/e2e/lib.sh"
. "$VG_ROOT/tests/e2e/netns.sh"

command -v iptables-legacy >/dev/null || fail "iptables-legacy missing (scripts/install-deps.sh installs iptables)"
# The host's own rules, which release must leave alone.
inh iptables-legacy -A INPUT -p tcp --dport 2222 -j DROP
inh ip6tables-legacy -A OUTPUT -p tcp --dport 2223 -j DROP
save() { { inh iptables-legacy-save -t filter; inh ip6tables-legacy-save -t filter; } | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]//'; }
save >rules.before

make_pki pki
PORT=$(free_port)
netns_start_collector
netns_agent_conf "backend = iptables
iptables = iptables-legacy
allow_dns = yes"
netns_start_agent
ROLE=responder-1

expect_exit 0 ctl isolate agent-1 --reason "iptables test" --allow 10.77.2.1:9001
expect_in out.txt "succeeded: isolated (iptables)"
reach 10.77.2.1 9000 && fail "IPv4 peer reachable while isolated"
reach fd77:2::1 9000 && fail "IPv6 peer reachable while isolated"
reach 10.77.2.1 9001 || fail "--allow 10.77.2.1:9001 not let through"
reach 10.77.2.1 53 || fail "allow_dns: the resolver in resolv.conf not reachable on port 53"
inh iptables-legacy -S INPUT | sed -n 2p | grep -q -- "-j VIGIL-ISO-IN" || fail "the jump is not first in INPUT"
inh nft list tables | grep -q vigil_isolation && fail "the nft table was used with backend = iptables"

# Tampering: an ACCEPT above our jump, and our IPv6 chain emptied.
inh iptables-legacy -I INPUT 1 -j ACCEPT
inh iptables-legacy -I OUTPUT 1 -j ACCEPT
inh ip6tables-legacy -F VIGIL-ISO-OUT
wait_for 10 "the jump first again" 'inh iptables-legacy -S INPUT | sed -n 2p | grep -q -- "-j VIGIL-ISO-IN"'
wait_for 10 "IPv6 rules back" 'inh ip6tables-legacy -S VIGIL-ISO-OUT | grep -q DROP'
reach 10.77.2.1 9000 && fail "the peer reachable after the repair"
wait_for 10 "tampering audited" '[ "$(sql c.db "select count(*) from audit where result = '"'tampered'"'")" -ge 1 ]'
inh iptables-legacy -D INPUT -j ACCEPT
inh iptables-legacy -D OUTPUT -j ACCEPT

# Restart: restored before connecting.
stop "$APID"
: >agent.log
netns_start_agent
first=$(grep -n -m1 -E "isolation restored|connected to collector" agent.log)
case $first in *"isolation restored"*) ;; *) fail "not restored before connecting: $first" ;; esac
reach 10.77.2.1 9000 && fail "the peer reachable after restart"

expect_exit 0 ctl release agent-1 --reason "done"
expect_in out.txt "succeeded: released"
reach 10.77.2.1 9000 || fail "the peer unreachable after release"
reach fd77:2::1 9000 || fail "the IPv6 peer unreachable after release"
save >rules.after
cmp rules.before rules.after || { diff rules.before rules.after >&2; fail "release changed the host's iptables rules"; }
