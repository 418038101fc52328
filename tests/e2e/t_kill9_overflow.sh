# The pinned ring buffer overflows while no agent runs: the execs it kept
# are stored (the oldest, in order), the rest is counted as loss, at
# least as many as the kernel dropped in the gap (read from the pinned
# maps before the restart).  Then pins of another build: replaced, their
# ring read first.
# vg-timeout: 200
# vg-serial: a flood of execs that overflows the kernel ring
. "$VG_ROOT/tests/e2e/lib.sh"

if [ ! -r /sys/kernel/btf/vmlinux ] || ! command -v bpftool >/dev/null; then
    echo "SKIP: no BTF or no bpftool"
    exit 77
fi

TOK="vgov-$$-$(date +%s)"
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = ebpf\nring_buffer_size = 64K\nhash_max_size = 0\nexec_rate_per_exe = 0\n' >>agent.conf
PIN=$VG_PIN_PREFIX-agent-1

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 60 "the eBPF source verified or refused" \
    'grep -q "process events from ebpf (verified\|ebpf unavailable\|does not work here" agent.log'
grep -q "process events from ebpf (verified" agent.log || { echo "SKIP: eBPF is not available here"; exit 77; }
grep -q "eBPF programs pinned in" agent.log || { cat agent.log; fail "not pinned"; }
sleep 1
kill -KILL "$APID"
wait "$APID" 2>/dev/null || true

# 1500 execs with nobody reading a 64 KiB ring (about 150 fit).
N=1500
i=0
while [ $i -lt $N ]; do i=$((i + 1)); /bin/true "$TOK-o-$i"; done
dropped=$(bpftool -j map dump pinned "$PIN/drops" | jq '[.[].formatted.values[].value] | add')
counted=$(bpftool -j map dump pinned "$PIN/conf" | jq '.[0].formatted.value.drops_acct')
gap=$((dropped - counted))
[ "$gap" -gt 0 ] || fail "the ring did not overflow ($dropped dropped, $counted counted before)"

start agent2 "$AGENT" -c agent.conf
APID=$LAST_PID
M="exe = $(sql_bytes /bin/true) and $(sql_has argv "$TOK-o-")"
# A marker's number: what follows "$TOK-o-" in its argv (the last argument).
if [ "${VG_STORE:-sqlite}" = pg ]; then
    NUM="convert_from(substring(argv from position($(sql_bytes "$TOK-o-") in argv) + length('$TOK-o-')), 'UTF8')::integer"
else
    NUM="cast(cast(substr(argv, instr(argv, $(sql_bytes "$TOK-o-")) + length('$TOK-o-')) as text) as integer)"
fi
lost() { sql c.db "select coalesce(sum(count), 0) from loss where source = 'proc.ringbuf'"; }
wait_for 60 "the gap's loss reported" '[ "$(lost)" -ge "$gap" ]'
wait_for 60 "the tamper event" '[ "$(sql c.db "select count(*) from events where kind = '"'agent_tamper'"'")" = 1 ]'
sleep 2
stop "$APID"

got=$(sql c.db "select count(distinct argv) from processes where $M")
rows=$(sql c.db "select count(*) from processes where $M")
top=$(sql c.db "select coalesce(max($NUM), 0) from processes where $M")
lost=$(lost)
echo "gap: $N execs, $got stored (the first $top), kernel dropped $gap records, $lost counted as lost"
[ "$rows" = "$got" ] || fail "$((rows - got)) markers stored twice"
[ "$got" -gt 0 ] && [ "$got" -lt $N ] || fail "$got of $N stored: the ring should have kept some, not all"
# The ring keeps the oldest: what is stored is 1..got, without a hole.
[ "$top" = "$got" ] || fail "stored markers are not 1..$got (highest $top)"
[ "$lost" -ge "$gap" ] || fail "$lost counted as lost, the kernel dropped $gap"
[ $((N - got)) -le "$lost" ] || fail "$((N - got)) markers missing, only $lost counted"

# Pins of another build (its stamp, the BPF object's SHA-256, differs):
# replaced, and what waited in the old ring is read first.
# (Another agent, with the default ring: 64 KiB overflows on a busy box.)
agent_conf "$PORT" agent-2 >agent2.conf
printf '[telemetry]\nprocess_source = ebpf\nhash_max_size = 0\n' >>agent2.conf
PIN=$VG_PIN_PREFIX-agent-2
start agent3 "$AGENT" -c agent2.conf
APID=$LAST_PID
wait_for 60 "the eBPF source verified" 'grep -q "process events from ebpf (verified" agent3.log'
kill -KILL "$APID"
wait "$APID" 2>/dev/null || true
for k in 1 2 3 4 5; do /bin/true "$TOK-b-$k"; done
hex=$(bpftool -j map dump pinned "$PIN/conf" | jq -r '.[0].value | join(" ")')
set -- $hex
b48=$(printf '0x%02x' $(( ($49 + 1) % 256 )))   # byte 48: inside obj_sha256 (from 40)
new="$(echo "$hex" | cut -d' ' -f1-48) $b48 $(echo "$hex" | cut -d' ' -f50-)"
bpftool map update pinned "$PIN/conf" key 0 0 0 0 value $new
start agent4 "$AGENT" -c agent2.conf
APID=$LAST_PID
wait_for 60 "the old build's pins replaced" 'grep -q "of another build or ring size: replacing them" agent4.log'
B="exe = $(sql_bytes /bin/true) and $(sql_has argv "$TOK-b-")"
wait_for 60 "the old ring's execs" '[ "$(sql c.db "select count(*) from processes where $B")" = 5 ]'
grep -q "eBPF programs pinned in" agent4.log || fail "the new programs were not pinned"
stop "$APID"
echo "ok"
