# Reconnect backoff (issue 20): an agent with nothing to send, whose
# collector restarts again and again, starts each reconnection from the
# first try (jittered within backoff_base) instead of carrying its backoff
# over from the last outage, so storms 10 s apart do not double each time.
# vg-timeout: 240
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
# Nothing to acknowledge after the start: no process events, health
# rarely; backoff as shipped (1 s doubling up to 60 s).
sed -i -e 's/^health_interval = .*/health_interval = 1h/' \
    -e 's/^backoff_base = .*/backoff_base = 1s/' -e 's/^backoff_cap = .*/backoff_cap = 60s/' agent.conf
printf 'process_source = off\n' >>agent.conf

start collector0 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector0.log'
start agent "$AGENT" -d -c agent.conf
APID=$LAST_PID
wait_for 60 "the agent's hello" 'grep -q "agent agent-1 .* connected from" collector0.log'
# Its start-up batches acknowledged and nothing new since.
wait_for 60 "the start-up batches stored" '[ "$(sql c.db "select count(*) from hosts")" = 1 ]'
sleep 3

for r in 1 2 3 4; do
    stop "$CPID"
    # Down for 4 s: tries fail meanwhile and the backoff grows.
    sleep 4
    start "collector$r" "$COLLECTOR" -c collector.conf
    CPID=$LAST_PID
    t0=$(date +%s%N)
    wait_for 30 "collector up ($r)" "grep -q 'listening on' collector$r.log"
    wait_for 120 "the agent back ($r)" "grep -q 'agent agent-1 .* connected from' collector$r.log"
    t1=$(date +%s%N)
    echo "figure: restart $r: agent back $(( (t1 - t0) / 1000000 )) ms after the collector listened"
    sleep 10
done
stop "$APID"
stop "$CPID"

# Every goodbye is followed by a first try, never by one continuing the
# count of an earlier outage.
awk '/says goodbye/ { want = 1; next }
     want && /retrying in/ { n++; if ($0 !~ /\(try 1 since/) { print "not reset: " $0; bad = 1 } want = 0 }
     END { if (n < 4) { print "only " n " retries after a goodbye"; bad = 1 } exit bad }' agent.log ||
    { grep 'goodbye\|retrying' agent.log; fail "the backoff carried over from an earlier outage"; }
max=$(grep -o 'try [0-9]*' agent.log | awk '{ if ($2 > m) m = $2 } END { print m + 0 }')
echo "figure: highest try count in any outage: $max"
echo "ok"
