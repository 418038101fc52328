# vg-timeout: 300
# Fleet commands (issue 21): three real agents in network namespaces of
# their own, agent-1 and agent-2 tagged site=a, agent-3 site=b.
# 'isolate --tag site=a --yes' isolates exactly the tagged hosts (each
# host's reachability checked from inside its namespace), prints each
# result and one summary, and every per-host result is audited; without
# --yes and no terminal it refuses; --dry-run queues nothing; an auditor
# is refused per host; a scoped operator's selection is cut to its hosts
# and its explicit out-of-scope host refused and audited.  Cancel: a
# command queued for a stopped agent is cancelled and never reaches it,
# while the command queued after it does; a finished one cannot be.
# Runs beside other tests: its namespaces, veths and firewall rules have
# names and addresses of its own, and rules live inside its namespaces.
. "$VG_ROOT/tests/e2e/lib.sh"

id=$$
C=vfc$id
H1=vf1$id H2=vf2$id H3=vf3$id
teardown() {
    cleanup_pids
    for n in $H1 $H2 $H3 $C; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
}
trap teardown EXIT
ip netns add "$C" && ip -n "$C" link set lo up
# Host N: 10.8N.1.2, the collector's side 10.8N.1.1.
for n in 1 2 3; do
    eval "ns=\$H$n"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "f$n$id" netns "$ns" type veth peer name "g$n$id" netns "$C"
    ip -n "$ns" addr add "10.8$n.1.2/24" dev "f$n$id"
    ip -n "$C" addr add "10.8$n.1.1/24" dev "g$n$id"
    ip -n "$ns" link set "f$n$id" up
    ip -n "$C" link set "g$n$id" up
done
# Something besides the collector for the hosts to reach: an echo server
# in the collector's namespace (port 9000; only the agent's own
# connection to the collector passes an isolation).
start echo ip netns exec "$C" python3 "$VG_ROOT/tests/e2e/netns_echo.py"
reach() { eval "ns=\$H$1"; ip netns exec "$ns" python3 "$VG_ROOT/tests/e2e/netns_reach.py" "10.8$1.1.1" 9000; }
wait_for 10 "the echo server up" 'reach 1'
reach 2 || fail "host 2 cannot reach the echo server before any isolation"
reach 3 || fail "host 3 cannot reach the echo server before any isolation"

make_pki pki
"$CTL" pki issue --dir pki --role agent --name agent-3 >/dev/null
"$CTL" pki issue --dir pki --role responder --name resp-b >/dev/null
PORT=$(free_port)
collector_conf "$PORT" c.db | sed "s/^listen = .*/listen = 0.0.0.0:$PORT/" >collector.conf
printf '[operators]\nscopes = resp-b:site=b\n' >>collector.conf
start collector ip netns exec "$C" "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

# start_agent N TAGS: agent-N in host namespace N; sets APID_N.
start_agent() {
    eval "ns=\$H$1"
    if [ ! -f "agent-$1.conf" ]; then
        agent_conf "$PORT" "agent-$1" "$2" | sed "s/^address = .*/address = 10.8$1.1.1:$PORT/" >"agent-$1.conf"
        printf '[telemetry]\nprocess_source = off\n[isolation]\ncheck_interval = 1s\nverify_timeout = 5s\n' >>"agent-$1.conf"
    fi
    start "agent-$1" ip netns exec "$ns" "$AGENT" -c "agent-$1.conf"
    eval "APID_$1=\$LAST_PID"
}
start_agent 1 site=a
start_agent 2 site=a
start_agent 3 site=b
ROLE=responder-1
ctl() { ip netns exec "$C" "$CTL" --collector "10.81.1.1:$PORT" --ca pki/ca.crt --server-name localhost \
    --cert "pki/$ROLE.crt" --key "pki/$ROLE.key" "$@"; }
connected() { ctl --json hosts 2>/dev/null | jq -r "map(select(.connected)) | length"; }
wait_for 30 "three agents connected" '[ "$(connected)" = 3 ]'
ncommands() { sql c.db "select count(*) from commands"; }

# ---- confirmation: none without a terminal, --dry-run lists ----
expect_exit 2 ctl isolate --tag site=a --reason "INC-7: no terminal" </dev/null
expect_in err.txt "would isolate 2 hosts; not run from a terminal, so give --yes"
# On a terminal it asks, naming the hosts; anything but y/yes queues nothing.
printf 'n\n' | script -qec "ip netns exec $C $CTL --collector 10.81.1.1:$PORT --ca pki/ca.crt \
    --server-name localhost --cert pki/responder-1.crt --key pki/responder-1.key \
    isolate --tag site=a --reason 'INC-7: asked'" /dev/null >tty.txt 2>&1 &&
    fail "isolate on a terminal, not confirmed, exited 0: $(cat tty.txt)"
expect_in tty.txt "isolate 2 hosts (tag site=a): "
expect_in tty.txt "(agent-1), "
expect_in tty.txt "(agent-2)? [y/N]"
expect_in tty.txt "not confirmed; nothing was queued"
expect_exit 2 ctl isolate --tag site=a agent-3 --reason "both"
expect_in err.txt "give --tag or HOSTs, not both"
expect_exit 2 ctl isolate --tag site=a --yes
expect_in err.txt "--reason TEXT is required"
expect_exit 0 ctl isolate --tag site=a --reason "INC-7: what would it do" --dry-run
expect_in out.txt "would isolate 2 hosts (tag site=a):"
expect_in out.txt "agent-1"
expect_in out.txt "agent-2"
expect_not_in out.txt "agent-3"
expect_exit 0 ctl --json collect --tag site=b --reason "INC-7: dry" --dry-run
jq -e 'map(.agent_id) == ["agent-3"]' out.txt >/dev/null || fail "collect --dry-run: $(cat out.txt)"
# A hostname three hosts share names none of them (agent ids are unique).
hn=$(ctl --json hosts | jq -r '.[0].hostname')
expect_exit 2 ctl isolate "$hn" agent-3 --reason "INC-7: which?" --dry-run
expect_in err.txt "3 hosts are named '$hn'; give their agent ids instead"
expect_exit 1 ctl isolate --tag site=nowhere --reason "INC-7" --yes
expect_in err.txt "no hosts carry tag site=nowhere"
[ "$(ncommands)" = 0 ] || fail "a refused, unconfirmed or dry run queued something"

# ---- an auditor: refused for each host, each refusal audited ----
ROLE=auditor-1
expect_exit 1 ctl isolate --tag site=a --reason "INC-7: auditors may not" --yes
expect_in out.txt "(agent-1): refused: role auditor may not isolate hosts"
expect_in out.txt "(agent-2): refused: role auditor may not isolate hosts"
expect_in out.txt "0 isolated, 2 failed, 0 still pending"
wait_for 10 "both refusals audited" \
    '[ "$(sql c.db "select count(distinct target) from audit where action = '"'isolate'"' and result = '"'refused'"' and target in ('"'agent-1', 'agent-2'"')")" = 2 ]'

# ---- isolate --tag site=a --yes: exactly the tagged hosts ----
ROLE=responder-1
expect_exit 0 ctl isolate --tag site=a --reason "INC-7: site a beaconing" --yes
expect_in out.txt "isolate 2 hosts (tag site=a)"
expect_in out.txt "agent-1): succeeded: isolated"
expect_in out.txt "agent-2): succeeded: isolated"
expect_in out.txt "2 isolated, 0 failed, 0 still pending"
expect_not_in out.txt "agent-3"
reach 1 && fail "host 1 (site=a) reaches the echo server after the fleet isolate"
reach 2 && fail "host 2 (site=a) reaches the echo server after the fleet isolate"
reach 3 || fail "host 3 (site=b) was cut off too"
expect_exit 0 ctl --json hosts
jq -e 'map({(.agent_id): .isolated}) | add == {"agent-1": true, "agent-2": true, "agent-3": false}' \
    out.txt >/dev/null || fail "hosts does not show exactly site=a isolated: $(cat out.txt)"
# Every host's command, delivery and result is in the audit log, with the selection.
for a in agent-1 agent-2; do
    for r in queued delivered succeeded; do
        [ "$(sql c.db "select count(*) from audit where target = '$a' and result = '$r'")" = 1 ] ||
            fail "no single '$r' audit entry for $a"
    done
done
[ "$(sql c.db "select count(*) from audit where target = 'agent-3' and result <> 'refused'")" = 0 ] ||
    fail "agent-3 has audit entries of a command"
ROLE=auditor-1
expect_exit 0 ctl audit
expect_in out.txt "one of several hosts: tag site=a, 2 hosts"
expect_exit 0 ctl audit --verify
ROLE=responder-1
# A finished command cannot be cancelled.
done_id=$(sql c.db "select c.id from commands c join hosts h on h.id = c.host_id where h.agent_id = 'agent-1'")
expect_exit 1 ctl commands cancel "$done_id"
expect_in err.txt "is succeeded: it is finished, there is nothing to cancel"

# ---- a scoped operator (resp-b: site=b): its selection is cut, others refused ----
ROLE=resp-b
expect_exit 1 ctl release --tag site=a --reason "INC-7: not mine" --yes
expect_in err.txt "no hosts carry tag site=a"
expect_exit 1 ctl --json release agent-1 agent-3 --reason "INC-7: one mine" --yes
jq -e '.failed == 1 and .succeeded == 1 and (.hosts | map({(.agent_id): .state}) | add) ==
       {"agent-1": "refused", "agent-3": "succeeded"}' out.txt >/dev/null ||
    fail "scoped release of agent-1 and agent-3: $(cat out.txt)"
expect_in err.txt "resp-b is limited to hosts tagged site=b; host 'agent-1' is not one of them"
wait_for 10 "the scoped refusal audited" \
    '[ "$(sql c.db "select count(*) from audit where action = '"'release'"' and target = '"'agent-1'"' and result = '"'refused'"'")" -ge 1 ]'
reach 1 && fail "the scoped operator's refused release lifted host 1's isolation"

# ---- release --tag site=a ----
ROLE=responder-1
expect_exit 0 ctl release --tag site=a --reason "INC-7: contained" --yes
expect_in out.txt "2 released, 0 failed, 0 still pending"
reach 1 || fail "host 1 unreachable after the fleet release"
reach 2 || fail "host 2 unreachable after the fleet release"

# ---- collect --tag: a package per host, each verified, one summary ----
expect_exit 0 ctl collect --tag site=a --reason "INC-7: triage" --yes --max-size 20K --timeout 120s
expect_in out.txt "2 collected, 0 failed, 0 still pending"
for a in agent-1 agent-2; do
    f=$(ls triage-$a-*.tar.lz4) || fail "no package from $a"
    lz4 -dc "$f" | tar t | grep -q "triage/manifest.json" || fail "$f is not a triage package"
    grep -q "wrote $f: .* (matches the collector's record)" out.txt || fail "$f not verified: $(cat out.txt)"
done
ls triage-agent-3-* 2>/dev/null && fail "agent-3 (site=b) was collected from"
# With --json, stdout is one document; the lines (and "wrote") go to stderr.
expect_exit 0 ctl --json collect agent-2 agent-1 --reason "INC-7: again" --yes --max-size 20K --timeout 120s
jq -e '.action == "collect" and .succeeded == 2 and .failed == 0 and .pending == 0 and
       (.hosts | map(.agent_id)) == ["agent-2", "agent-1"]' out.txt >/dev/null ||
    fail "collect --json: $(cat out.txt)"
expect_in err.txt "wrote triage-agent-1-"

# ---- cancel a command queued for an offline host ----
stop "$APID_3"
wait_for 30 "agent-3 offline" '[ "$(connected)" = 2 ]'
# Not finished when the wait ends: exit 3, the host that answered and the one still queued.
expect_exit 3 ctl release agent-2 agent-3 --reason "INC-8: one offline" --yes --timeout 3s
expect_in out.txt "(agent-3): still queued"
expect_in out.txt "1 released, 0 failed, 1 still pending"
expect_exit 0 ctl --json isolate agent-3 --reason "INC-8: to be cancelled" --no-wait
cid=$(jq -r .command_id out.txt)
jq -e '.state == "queued"' out.txt >/dev/null || fail "not queued for the offline agent: $(cat out.txt)"
ROLE=auditor-1
expect_exit 1 ctl commands cancel "$cid"
expect_in err.txt "role auditor may not cancel commands"
ROLE=resp-b
# In resp-b's scope (site=b): it may cancel it; first a typo.
expect_exit 1 ctl commands cancel "no-such-command"
expect_in err.txt "no command with id 'no-such-command'"
expect_exit 0 ctl commands cancel "$cid" --reason "INC-8: wrong host"
expect_in out.txt "cancelled command $cid: isolate"
ROLE=responder-1
expect_exit 0 ctl --json commands --id "$cid"
jq -e '.[0].state == "cancelled"' out.txt >/dev/null || fail "not cancelled: $(cat out.txt)"
expect_exit 1 ctl commands cancel "$cid"
expect_in err.txt "is cancelled: it is finished"
[ "$(sql c.db "select count(*) from audit where action = 'cancel' and result = 'cancelled' and target = 'agent-3'")" = 1 ] ||
    fail "the cancel is not audited"
# A command queued after it still runs: the agent gets that one only.
expect_exit 0 ctl --json release agent-3 --reason "INC-8: after the cancelled one" --no-wait
rid=$(jq -r .command_id out.txt)
start_agent 3 site=b
wait_for 30 "agent-3 back" '[ "$(connected)" = 3 ]'
wait_for 30 "the later command run" \
    '[ "$(sql c.db "select state from commands where id = '"'$rid'"'")" = 4 ]'
grep -q "command $rid from" agent-3.log || fail "the later command did not reach agent-3"
grep -q "$cid" agent-3.log && fail "the cancelled command reached agent-3"
grep -q "$cid" state-agent-3/commands 2>/dev/null && fail "agent-3 recorded the cancelled command"
reach 3 || fail "the cancelled isolate ran on host 3"
[ "$(sql c.db "select state from commands where id = '$cid'")" = 9 ] || fail "the cancelled command changed state"
[ "$(sql c.db "select count(*) from audit where detail like '%$cid%' and result in ('delivered', 'succeeded', 'failed')")" = 0 ] ||
    fail "the cancelled command was delivered or run, says the audit log"
ROLE=auditor-1
expect_exit 0 ctl audit --verify
echo "ok"
