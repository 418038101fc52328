# vg-timeout: 300
# Several collectors as one (issue 20): two collectors share one
# PostgreSQL database behind HAProxy (TCP mode, TLS passed through to
# them).  An agent streams through HAProxy to one; that one is killed with
# kill -9 mid-stream; the agent goes on through HAProxy to the other, and
# every batch is stored exactly once.  The killed one starts again, and a
# command issued through it reaches the agent through the other: the
# queuing collector NOTIFYs, the other LISTENs and delivers (its backstop
# rescan is set to an hour here, so nothing else can), and the operator
# sees the result through the first.  Both collectors answer vigilctl the
# same.  PostgreSQL is the run's (VG_STORE=pg) or one of the test's own.
. "$VG_ROOT/tests/e2e/lib.sh"

command -v haproxy >/dev/null || { echo "SKIP: no haproxy (apt-get install haproxy)"; exit 77; }
pg_store

make_pki pki
P0=$(free_port)
P1=$(free_port)
P2=$(free_port)
URL=$(pg_url shared.db)
# Each collector has files of its own (audit checkpoints, collections);
# the database is the one both use.
mkdir c1 c2
for n in 1 2; do
    eval "p=\$P$n"
    # ([store] comes last: its url line is replaced at the end.)
    { collector_conf "$p" "c$n/c.db" | grep -v '^url = '; echo "url = $URL"; } >"c$n.conf"
    # As packaging/multi/: HAProxy (from 127.0.0.3) sends the PROXY
    # protocol header; vigilctl (from 127.0.0.1) comes straight.
    sed -i '/^\[collector\]/a proxy_protocol = 127.0.0.3' "c$n.conf"
done
export VIGIL_TEST_RESCAN_MS=3600000
start c1 "$COLLECTOR" -c c1.conf
C1=$LAST_PID
start c2 "$COLLECTOR" -c c2.conf
C2=$LAST_PID
wait_for 30 "both collectors up" 'grep -q "listening on" c1.log && grep -q "listening on" c2.log'
expect_in c1.log "(database postgresql://"

cat >haproxy.cfg <<CFG
global
    maxconn 256
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
frontend agents
    bind 127.0.0.1:$P0
    default_backend collectors
backend collectors
    balance first
    default-server source 127.0.0.3 send-proxy-v2 check check-send-proxy inter 500ms fall 2 rise 1
    server c1 127.0.0.1:$P1
    server c2 127.0.0.1:$P2
CFG
haproxy -c -f haproxy.cfg >/dev/null || fail "haproxy refuses its configuration"
start haproxy haproxy -db -f haproxy.cfg

agent_conf "$P0" agent-1 >agent.conf
start agent "$AGENT" -c agent.conf
AGPID=$LAST_PID
on() { grep -q "info: agent agent-1 (.*) connected from 127.0.0.1:[0-9]* through 127.0.0.3:" "$1.log"; }
wait_for 30 "agent connected through haproxy" 'on c1 || on c2'
if on c1; then FIRST=c1 FPID=$C1 OTHER=c2; else FIRST=c2 FPID=$C2 OTHER=c1; fi
batches() { sql shared.db "select count(*) from batches"; }
wait_for 30 "batches stored through $FIRST" '[ "$(batches)" -ge 3 ]'

# Mid-stream: the collector the agent is on dies without a word.
kill -KILL "$FPID"
before=$(batches)
wait_for 60 "agent on $OTHER" "on $OTHER"
wait_for 30 "batches stored through $OTHER" '[ "$(batches)" -gt "$before" ]'

# The killed one comes back (a new log), and the operator goes to it.
mv "$FIRST.log" "$FIRST.log.1"
start "$FIRST" "$COLLECTOR" -c "$FIRST.conf"
wait_for 30 "$FIRST up again" "grep -q 'listening on' $FIRST.log"
eval "PF=\$P${FIRST#c}" "PO=\$P${OTHER#c}"
ctl() { port=$1; shift; "$CTL" --collector "127.0.0.1:$port" --ca pki/ca.crt --server-name localhost \
    --cert pki/responder-1.crt --key pki/responder-1.key "$@"; }
# Both answer the same: the host is connected (to the other one).
wait_for 30 "agent-1 listed through $FIRST" \
    "ctl $PF --json hosts | jq -e 'map(select(.agent_id == \"agent-1\")) | length == 1' >/dev/null"
ctl "$PF" --json hosts | jq -c 'map({agent_id, hostname, connected})' >hosts1.json
ctl "$PO" --json hosts | jq -c 'map({agent_id, hostname, connected})' >hosts2.json
cmp hosts1.json hosts2.json || fail "the collectors list the hosts differently: $(cat hosts1.json) / $(cat hosts2.json)"

# A command issued through the collector the agent is not on.
expect_exit 0 ctl "$PF" release agent-1 --reason "INC-9: through the other collector"
expect_in out.txt "succeeded"
expect_in out.txt "nothing to release"
expect_in err.txt "queued: the agent is connected to another collector, which sends it"
cid=$(sql shared.db "select id from commands order by issued_ms desc limit 1")
[ "$(sql shared.db "select state from commands where id = '$cid'")" = 4 ] ||
    fail "command $cid not succeeded: state $(sql shared.db "select state from commands where id = '$cid'")"
ms=$(sql shared.db "select delivered_ms - issued_ms from commands where id = '$cid'")

# ---- one audit chain, written by both at once ----
# Twenty refusals through each collector at the same time, each audited:
# every entry is there, and the chain verifies through either collector.
aud() { port=$1; shift; "$CTL" --collector "127.0.0.1:$port" --ca pki/ca.crt --server-name localhost \
    --cert pki/auditor-1.crt --key pki/auditor-1.key "$@"; }
n0=$(sql shared.db "select count(*) from audit where result = 'refused' and actor like 'auditor auditor-1%'")
i=0 pids=""
while [ $i -lt 20 ]; do
    aud "$PF" isolate agent-1 --reason "not allowed $i" --no-wait >/dev/null 2>&1 &
    pids="$pids $!"
    aud "$PO" isolate agent-1 --reason "not allowed either $i" --no-wait >/dev/null 2>&1 &
    pids="$pids $!"
    i=$((i + 1))
done
for p in $pids; do wait "$p" || true; done
n1=$(sql shared.db "select count(*) from audit where result = 'refused' and actor like 'auditor auditor-1%'")
[ $((n1 - n0)) = 40 ] || fail "$((n1 - n0)) of 40 concurrent refusals audited"
for p in "$PF" "$PO"; do
    expect_exit 0 aud "$p" audit --verify
done

# ---- exactly once, through the failover ----
stop "$AGPID"
last=$(last_seq agent.log)
[ -n "$last" ] || fail "no last sequence in agent.log"
wait_for 30 "every batch stored" '[ "$(batches)" -ge "$last" ]'
batches_exactly_once shared.db "$last"
echo "figure: failover through haproxy after kill -9: $last batches stored once each; a command issued through one collector delivered by the other $ms ms later"
