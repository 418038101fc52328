# Privilege separation: the agent's network process runs as another
# user with no capabilities, no_new_privs, a seccomp filter and (where
# the kernel has Landlock) a filesystem view limited to its state
# directories.  It cannot open /etc/shadow, create a raw or packet socket
# or load a BPF program; a system call outside its allow-list ends it
# with a logged reason; the parent restarts it, and every event the
# parent produced meanwhile is stored exactly once.
# vg-timeout: 180
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n[dummy]\nrate = 200\n' >>agent.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

start agent env VIGIL_TEST_NET_PROBE=syscall "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 30 "the sandbox probe" 'grep -q "test probe: packet socket" agent.log'
expect_log() { grep -q "$1" agent.log || { cat agent.log; fail "agent.log lacks: $1"; }; }
expect_log "test probe: open /etc/shadow: Permission denied"
expect_log "test probe: raw socket: Operation not permitted"
expect_log "test probe: packet socket: Operation not permitted"
if grep -q "has no Landlock" agent.log; then
    echo "no Landlock on this kernel: the /etc/hostname check is skipped"
else
    # Readable by any user: only Landlock refuses it.
    expect_log "test probe: open /etc/hostname: Permission denied"
fi
wait_for 30 "the forbidden call logged" 'grep -q "system call bpf ([0-9]*) is outside" agent.log'
wait_for 30 "the parent's account of it" 'grep -q "stopped by its seccomp filter" agent.log'
grep -q "bpf() returned" agent.log && fail "bpf() returned in the network process"
# The first process died before connecting.
wait_for 60 "a restarted network process connected" \
    '[ "$(grep -c "connected to collector" agent.log)" -ge 1 ]'

# The running child, as the kernel sees it.
child=$(pgrep -P "$APID" -f vigil-agent | head -1)
[ -n "$child" ] || fail "no network process under the agent ($APID)"
st=/proc/$child/status
uid=$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "$st")
[ "$uid" != 0000 ] && ! awk '/^Uid:/ { exit !($2 == 0 || $3 == 0 || $4 == 0 || $5 == 0) }' "$st" ||
    fail "network process runs with uid 0: $(grep Uid "$st")"
for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
    v=$(awk -v k="$cap:" '$1 == k { print $2 }' "$st")
    [ "$v" = 0000000000000000 ] || fail "network process $cap = $v"
done
[ "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" = 1 ] || fail "no_new_privs not set"
[ "$(awk '/^Seccomp:/ { print $2 }' "$st")" = 2 ] || fail "no seccomp filter"
# The parent keeps root (it runs isolation and eBPF).
[ "$(awk '/^Uid:/ { print $3 }' /proc/$APID/status)" = 0 ] || fail "the parent is not root"

# Killed outright, the network process comes back too.
kill -KILL "$child"
wait_for 60 "network process restarted after kill -9" \
    '[ "$(grep -c "connected to collector" agent.log)" -ge 2 ]'
sleep 1
stop "$APID"
last=$(sed -n 's/.*totals: \([0-9]*\) events.*/\1/p' agent.log | tail -1)
emitted() { sql c.db "select coalesce(max(pid), 0) from processes where comm = 'dummy'"; }
n=$(emitted)
[ "$n" -gt 400 ] || fail "only $n events stored"
dup=$(sql c.db "select count(*) - count(distinct pid) from processes where comm = 'dummy'")
[ "$dup" = 0 ] || fail "$dup events stored twice"
have=$(sql c.db "select count(*) from processes where comm = 'dummy'")
[ "$have" = "$n" ] || fail "events 1..$n: $have stored, $((n - have)) lost"
lost=$(sql c.db "select coalesce(sum(count), 0) from loss")
[ "$lost" = 0 ] || fail "loss reported: $(sql c.db "select * from loss")"
# Each death reached the collector, said how, and is in the audit log;
# neither is an unclean stop of the agent.
died() { sql c.db "select count(*) from audit where action = 'network-process-died' and target = 'agent-1' and detail like '%$1%'"; }
[ "$(died "seccomp filter")" = 1 ] || fail "the seccomp death is not in the audit log: $(sql c.db "select detail from audit")"
[ "$(died "killed by signal 9")" = 1 ] || fail "the kill -9 is not in the audit log: $(sql c.db "select detail from audit")"
[ "$(sql c.db "select count(*) from events where kind = 'agent_tamper' and $(sql_has body network-process-died)")" = 2 ] ||
    fail "network process deaths among the events: $(sql c.db "select count(*) from events where kind = 'agent_tamper'")"
[ "$(sql c.db "select unclean_stops from hosts")" = 0 ] || fail "a network process death counted as an unclean stop"
stop "$CPID"
echo "ok: $n events stored exactly once through 2 network process restarts ($last at the parent)"
