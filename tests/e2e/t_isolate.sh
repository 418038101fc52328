# vg-timeout: 300
# Network isolation, for real, in three network namespaces (netns.sh).
# Isolate cuts the host off the peer (new connections and an open one,
# IPv4 and IPv6) while telemetry still flows; release restores it and
# leaves the host's own firewall as it was.  Restart, a flushed ruleset
# and rules deleted by hand all end isolated again; --allow lets exactly
# its address and port through; a collector that drops new connections
# makes isolate roll back; roles, unknown hosts, offline and expired
# commands, duplicate deliveries, break-glass tokens and the audit chain.
# Runs beside other tests: its namespaces, veths and firewall rules have
# names and addresses of its own, and rules live inside its namespaces.
. "$VG_ROOT/tests/e2e/lib.sh"
. "$VG_ROOT/tests/e2e/netns.sh"

# The host's own firewall, which release must leave as it was.
inh nft -f - <<'NFT'
table inet hostfw {
  chain input { type filter hook input priority 0; policy accept; tcp dport 2222 drop; }
}
NFT
inh nft list ruleset >ruleset.before

make_pki pki
PORT=$(free_port)
# Every command is delivered twice: each must run once.
netns_start_collector VIGIL_TEST_DELIVER_TWICE=1
netns_agent_conf ""
# The collector by name (from the namespace's hosts file, see netns.sh).
sed -i "s/^address = .*/address = collector.test:$PORT/" agent.conf
netns_start_agent
events() { sql c.db "select count(*) from events"; }
# The maps of every process of the agent (libnftables is opened at first
# use: an idle agent has it closed again after its start-up probe).
agent_maps() {
    for p in $APID $(pgrep -P "$APID") $(pgrep -P "$(pgrep -P "$APID" | head -1)" 2>/dev/null); do
        cat /proc/"$p"/maps 2>/dev/null
    done
}
agent_maps | grep -q "vigil-agent" || fail "no agent process found under $APID"
! agent_maps | grep -q "libnftables" || fail "an idle agent has libnftables mapped"

# ---- refusals: an auditor, an unknown host ----
ROLE=auditor-1
expect_exit 1 ctl isolate agent-1 --reason "auditors may not"
expect_in err.txt "role auditor may not isolate hosts (needs responder or admin)"
expect_in err.txt "permission denied"
ROLE=responder-1
expect_exit 1 ctl isolate no-such-host --reason "who?"
expect_in err.txt "no host with agent id 'no-such-host'"
expect_exit 2 ctl isolate agent-1
expect_in err.txt "--reason TEXT is required"
[ "$(sql c.db "select count(*) from audit where result = 'refused' and action = 'isolate'")" -eq 2 ] ||
    fail "the two refusals are not both audited"

# ---- isolate ----
start hold ip netns exec "$H" python3 "$VG_ROOT/tests/e2e/netns_hold.py" hold.log
wait_for 10 "the open connection echoing" 'grep -q ok hold.log'
expect_exit 0 ctl isolate agent-1 --reason "incident 42: suspected C2"
agent_maps | grep -q "libnftables" || fail "isolated, yet libnftables is not mapped"
expect_in out.txt "succeeded: isolated (nft)"
: >hold.log
wait_for 5 "the open connection cut" 'grep -q fail hold.log'
reach 10.77.2.1 9000 && fail "a new IPv4 connection to the peer worked while isolated"
reach fd77:2::1 9000 && fail "a new IPv6 connection to the peer worked while isolated"
reach 10.77.2.1 53 && fail "DNS to the resolver got through without allow_dns"
n=$(events)
wait_for 10 "telemetry flowing while isolated" '[ "$(events)" -gt $((n + 10)) ]'
inh nft list tables | grep -q "inet vigil_isolation" || fail "no isolation table"
inh nft list tables | grep -q "bridge vigil_isolation" || fail "no bridge isolation table (bridged VMs)"
expect_exit 0 ctl --json hosts
jq -e '.[0].isolated == true and .[0].isolated_since != null' out.txt >/dev/null ||
    fail "hosts does not show isolated: $(cat out.txt)"
expect_exit 0 ctl hosts
expect_in out.txt "ISOLATED since"
# Delivered twice, run once.
wait_for 5 "the duplicate answered from the record" 'grep -q "delivered again" agent.log'
[ "$(grep -c "from responder responder-1: isolate" agent.log)" -eq 1 ] || fail "the isolate ran twice"

# ---- tampering while the agent runs ----
inh nft delete table inet vigil_isolation
wait_for 10 "the rules back" 'inh nft list tables | grep -q "inet vigil_isolation"'
reach 10.77.2.1 9000 && fail "the peer reachable after the rules came back"
wait_for 10 "tampering audited" '[ "$(sql c.db "select count(*) from audit where result = '"'tampered'"'")" -ge 1 ]'
ROLE=auditor-1
expect_exit 0 ctl audit
expect_in out.txt "tampered"
expect_in out.txt "removed outside Vigil"

# ---- the collector's name no longer resolves, and the collector restarts:
# the agent reconnects to the addresses resolved before isolating ----
echo "127.0.0.1 localhost" >"/etc/netns/$H/hosts"
stop "$CPID"
start collector ip netns exec "$C" "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
wait_for 20 "the agent back through the pinned address" 'grep -q "agent agent-1 .* connected" collector.log'
reach 10.77.2.1 9000 && fail "the peer reachable after the collector restart"
printf '127.0.0.1 localhost\n10.77.1.1 collector.test\n' >"/etc/netns/$H/hosts"

# ---- restart while isolated: isolated again before anything is sent ----
stop "$APID"
reach 10.77.2.1 9000 && fail "stopping the agent lifted the isolation"
: >agent.log
start agent ip netns exec "$H" "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 15 "agent back" 'grep -q "connected to collector" agent.log'
first=$(grep -n -m1 -E "isolation restored|connected to collector" agent.log)
case $first in *"isolation restored"*) ;; *) fail "not restored before connecting: $first" ;; esac

# ... and with the ruleset flushed by hand while it was stopped: the
# keeper's owned table is still there.
stop "$APID"
inh nft flush ruleset
inh nft list tables | grep -q "inet vigil_isolation_keep" || fail "the keeper's table went with a flush"
reach 10.77.2.1 9000 && fail "a flush while the agent was stopped opened the host"
: >agent.log
start agent ip netns exec "$H" "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 15 "agent back" 'grep -q "connected to collector" agent.log'
first=$(grep -n -m1 -E "isolation restored|connected to collector" agent.log)
case $first in *"isolation restored"*) ;; *) fail "not restored before connecting: $first" ;; esac
reach 10.77.2.1 9000 && fail "the peer reachable after restart with a flushed ruleset"
# The flush took the host's own table too: put it back as it was.
inh nft -f - <<'NFT'
table inet hostfw {
  chain input { type filter hook input priority 0; policy accept; tcp dport 2222 drop; }
}
NFT

# ---- release ----
ROLE=responder-1
expect_exit 0 ctl release agent-1 --reason "incident 42 contained"
expect_in out.txt "succeeded: released"
reach 10.77.2.1 9000 || fail "the peer unreachable after release"
reach fd77:2::1 9000 || fail "the peer unreachable over IPv6 after release"
inh nft list ruleset >ruleset.after
cmp ruleset.before ruleset.after || { diff ruleset.before ruleset.after >&2; fail "release changed the host's firewall"; }
expect_exit 0 ctl --json hosts
jq -e '.[0].isolated == false' out.txt >/dev/null || fail "hosts still shows isolated"

# ---- --allow: exactly that address and port ----
expect_exit 0 ctl isolate agent-1 --reason "allow test" --allow 10.77.2.1:9000
reach 10.77.2.1 9000 || fail "--allow 10.77.2.1:9000 did not let it through"
reach 10.77.2.1 9001 && fail "--allow 10.77.2.1:9000 let port 9001 through"
reach fd77:2::1 9000 && fail "--allow 10.77.2.1:9000 let IPv6 through"
expect_exit 0 ctl isolate agent-1 --reason "allow v6" --allow "[fd77:2::/64]:9001"
reach fd77:2::1 9001 || fail "--allow [fd77:2::/64]:9001 did not let it through"
reach fd77:2::1 9000 && fail "--allow [fd77:2::/64]:9001 let port 9000 through"
reach 10.77.2.1 9000 && fail "the earlier allow rule survived a new isolate"
expect_exit 0 ctl release agent-1 --reason "allow tests done"

# ---- lockout: the collector drops new connections from the host ----
inc nft -f - <<NFT
table inet lock {
  chain input { type filter hook input priority 0; policy accept;
    ip saddr 10.77.1.2 tcp dport $PORT ct state new drop; }
}
NFT
expect_exit 1 ctl isolate agent-1 --reason "lockout test"
expect_in out.txt "rolled-back"
inh nft list tables | grep -q vigil_isolation && fail "rules left behind after a roll-back"
reach 10.77.2.1 9000 || fail "the host is not as it was after a roll-back"
inc nft delete table inet lock

# ---- a second isolate interrupted (agent killed before its proof): the
# first isolation stays, and the second is reported failed ----
expect_exit 0 ctl isolate agent-1 --reason "first" --allow 10.77.2.1:9001
inc nft -f - <<NFT
table inet lock {
  chain input { type filter hook input priority 0; policy accept;
    ip saddr 10.77.1.2 tcp dport $PORT ct state new drop; }
}
NFT
expect_exit 0 ctl isolate agent-1 --reason "second, interrupted" --no-wait
SID=$(awk '{print $2; exit}' out.txt | tr -d :)
wait_for 10 "the second isolate pending" 'grep -q "$SID" state-agent-1/isolation'
kill -KILL "$APID"
inc nft delete table inet lock
: >agent.log
start agent ip netns exec "$H" "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 15 "agent back" 'grep -q "connected to collector" agent.log'
reach 10.77.2.1 9001 || fail "the first isolation's allow rule is gone"
reach 10.77.2.1 9000 && fail "the host is open after an interrupted second isolate"
wait_for 10 "the second reported failed" '[ "$(sql c.db "select state from commands where id = '"'$SID'"'")" = 5 ]'
sql c.db "select message from commands where id = '$SID'" | grep -q interrupted || fail "not reported as interrupted"
expect_exit 0 ctl release agent-1 --reason "interrupt test done"

# ---- offline: queued, then run on reconnect; expired: never run ----
stop "$APID"
expect_exit 0 ctl isolate agent-1 --reason "queued while offline" --no-wait
expect_in out.txt "queued: the agent is offline"
QID=$(awk '{print $2; exit}' out.txt | tr -d :)
expect_exit 0 ctl release agent-1 --reason "expires undelivered" --expires 1s --no-wait
EID=$(awk '{print $2; exit}' out.txt | tr -d :)
sleep 2.5
wait_for 10 "expired" '[ "$(sql c.db "select state from commands where id = '"'$EID'"'")" = 7 ]'
start agent ip netns exec "$H" "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "the queued isolate ran" '[ "$(sql c.db "select state from commands where id = '"'$QID'"'")" = 4 ]'
reach 10.77.2.1 9000 && fail "the queued isolate did not isolate"
grep -q "$EID" agent.log && fail "the expired command reached the agent"
expect_exit 0 ctl commands agent-1
expect_in out.txt "expired"
expect_in out.txt "succeeded"

# ---- back to back while offline: both run, in order ----
stop "$APID"
expect_exit 0 ctl release agent-1 --reason "undo the queued isolate" --no-wait
expect_exit 0 ctl isolate agent-1 --reason "then isolate" --no-wait
B1=$(awk '{print $2; exit}' out.txt | tr -d :)
expect_exit 0 ctl release agent-1 --reason "then release" --no-wait
B2=$(awk '{print $2; exit}' out.txt | tr -d :)
: >agent.log
start agent ip netns exec "$H" "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "both ran" '[ "$(sql c.db "select $(sql_list state) from commands where id in ('"'$B1', '$B2'"')")" = "4,4" ]'
reach 10.77.2.1 9000 || fail "the last command (release) did not win"
expect_exit 0 ctl isolate agent-1 --reason "isolated again for break-glass"

# ---- break-glass ----
ROLE=responder-1
expect_exit 1 ctl release-token agent-1 --reason "responders may not" -o t0.json
ROLE=admin-1
expect_exit 0 ctl release-token agent-1 --reason "collector lost" -o tok.json
[ "$(mode tok.json)" = 600 ] || fail "token mode $(mode tok.json)"
expect_exit 0 ctl release-token agent-1 --reason "short" --valid 1s -o short.json
# Forged: the reason changed after signing.
jq '.reason = "something else"' tok.json >forged.json
# Signed by a key that is not the collector's.
jq --arg c "$(cat pki/agent-1.crt)" '.collector_certificate = $c' tok.json >wrongcert.json
sed 's/agent-1/agent-2/g' agent.conf >agent2.conf
stop "$APID"
stop "$CPID"
sleep 1.2
expect_exit 1 inh "$AGENT" release --token short.json -c agent.conf
expect_in err.txt "expired"
expect_exit 1 inh "$AGENT" release --token forged.json -c agent.conf
expect_in err.txt "signature does not match"
expect_exit 1 inh "$AGENT" release --token wrongcert.json -c agent.conf
expect_in err.txt "not a collector"
expect_exit 1 inh "$AGENT" release --token tok.json -c agent2.conf
expect_in err.txt "for host agent-1, not this one"
reach 10.77.2.1 9000 && fail "a refused token released the host"
expect_exit 0 inh "$AGENT" release --token tok.json -c agent.conf
expect_in out.txt "released"
reach 10.77.2.1 9000 || fail "break-glass did not release"
expect_exit 1 inh "$AGENT" release --token tok.json -c agent.conf
expect_in err.txt "used already"
# Back online: the collector hears of it.
start collector ip netns exec "$C" "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" '[ "$(grep -c "listening on" collector.log)" -ge 1 ]'
start agent ip netns exec "$H" "$AGENT" -c agent.conf
wait_for 15 "break-glass audited" '[ "$(sql c.db "select count(*) from audit where action = '"'break-glass-release'"'")" -ge 1 ]'
expect_exit 0 ctl --json hosts
jq -e '.[0].isolated == false' out.txt >/dev/null || fail "hosts shows isolated after break-glass"

# ---- the audit trail holds, and an edit is found ----
ROLE=auditor-1
expect_exit 0 ctl audit --verify
for w in queued delivered succeeded rolled-back expired tampered restored refused issued break-glass; do
    expect_in out.txt "$w"
done
sql c.db "update audit set detail = 'edited' where id = (select min(id) from audit where result = 'queued')"
expect_exit 1 ctl audit --verify
expect_in out.txt "BROKEN"
