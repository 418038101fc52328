# A network cut made with a network namespace and an nftables rule (the
# processes keep running): the agent notices through its heartbeat,
# reconnects when the cut ends, and nothing is lost.
# vg-timeout: 120
# Runs beside other tests: its namespace and veth have names of its own,
# the rules live inside its namespace, and its subnet in the root
# namespace is its lane's (10.213.7-9.0/24): the SQLite and the
# PostgreSQL run of this test may run at the same time.
. "$VG_ROOT/tests/e2e/lib.sh"

NS=vgcut$$
HV=vgh$$
AV=vga$$
NET=10.213.$((7 + ${VG_LANE:-0}))
cleanup() {
    cleanup_pids
    ip netns del "$NS" 2>/dev/null || true
    ip link del "$HV" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip link add "$HV" type veth peer name "$AV"
ip link set "$AV" netns "$NS"
ip addr add $NET.1/24 dev "$HV"
ip link set "$HV" up
ip netns exec "$NS" ip addr add $NET.2/24 dev "$AV"
ip netns exec "$NS" ip link set "$AV" up
ip netns exec "$NS" ip link set lo up

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db | sed "s/^listen = .*/listen = $NET.1:$PORT/" >collector.conf
agent_conf "$PORT" agent-1 | sed "s/^address = .*/address = $NET.1:$PORT/" >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 100\n' >>agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent ip netns exec "$NS" "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "agent connected" 'grep -q "connected to collector" agent.log'
sleep 1

# Cut: the agent's side drops every packet it would send or receive.
ip netns exec "$NS" nft -f - <<'NFT'
table inet vgcut {
    chain in { type filter hook input priority 0; policy drop; }
    chain out { type filter hook output priority 0; policy drop; }
}
NFT
wait_for 30 "agent noticed the cut" 'grep -q "silent for" agent.log'
sleep 3 # data keeps being produced into the spool
ip netns exec "$NS" nft delete table inet vgcut
wait_for 40 "agent reconnected" '[ "$(grep -c "connected to collector" agent.log)" -ge 2 ]'
sleep 1
stop "$APID"
last=$(last_seq agent.log)
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 30 "all batches stored" drained
stop "$CPID"
batches_exactly_once c.db "$last"
n=$(sed -n 's/.*\[in_dummy\] emitted \([0-9]*\) events.*/\1/p' agent.log)
[ "$(sql c.db "select count(*) from events where kind='process_exec'")" = "$n" ] || fail "dummy events lost"
[ "$(sql c.db "select count(*) from loss")" = 0 ] || fail "loss reported: $(sql c.db "select * from loss")"
echo ok
