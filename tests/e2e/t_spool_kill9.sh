# kill -9 the agent 20 times at random moments while it writes its spool:
# it always starts again, nothing acknowledged is stored twice, nothing
# unacknowledged is lost.
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 500\n' >>agent.conf
sed -i 's/^health_interval = .*/health_interval = 100ms/; s/^max_age = .*/max_age = 50ms/' agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

i=0
while [ $i -lt 20 ]; do
    i=$((i + 1))
    start "agent$i" "$AGENT" -c agent.conf
    # 50 to 800 ms: before, during and after connecting, while writing.
    sleep "0.$(shuf -i 05-80 -n 1)"
    kill -0 "$LAST_PID" 2>/dev/null || { cat "agent$i.log"; fail "agent run $i died by itself"; }
    kill -KILL "$LAST_PID"
    wait "$LAST_PID" 2>/dev/null || true
    if grep -q "error" "agent$i.log"; then cat "agent$i.log"; fail "agent run $i logged an error"; fi
done

# A last, clean run sends whatever is left and stops.
start final "$AGENT" -c agent.conf
FPID=$LAST_PID
wait_for 30 "final agent connected" 'grep -q "connected to collector" final.log'
sleep 2
stop "$FPID"
last=$(last_seq final.log)
drained() { [ "$(sql c.db "select max(seq) from batches")" = "$last" ]; }
wait_for 30 "all batches stored" drained
stop "$CPID"
batches_exactly_once c.db "$last"
# No loss was reported: with fsync = always nothing acknowledged or
# spooled can vanish.  (A torn tail is a batch that was never complete,
# so never sent: it is reported as spool.corrupt, and counted here.)
torn=$(sql c.db "select coalesce(sum(count), 0) from loss where source = 'spool.corrupt'")
other=$(sql c.db "select coalesce(sum(count), 0) from loss where source <> 'spool.corrupt'")
[ "$other" = 0 ] || fail "unexpected loss: $(sql c.db "select * from loss")"
echo "ok ($last batches over 21 runs, $torn torn records)"
