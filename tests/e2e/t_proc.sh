# Process telemetry from eBPF: 2,000 execs of /bin/true marker-N, each in
# the collector's database with its exact argv, exe and parent, and its
# exit; the ancestry of one; a process snapshot at start.  Then the
# netlink and /proc sources: execs and long-lived processes still come,
# with what could not be seen marked unknown.
# vg-timeout: 240
# vg-serial: the netlink fallback sees every exec on the host
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nexec_rate_per_exe = 0\nhash_max_size = 2G\n' >>agent.conf
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "eBPF source verified" 'grep -q "process events from ebpf (verified" agent.log'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/responder-1.crt VIGIL_KEY=pki/responder-1.key

sh -c 'echo $$ >shell.pid; i=1; while [ $i -le 2000 ]; do /bin/true marker-$i; i=$((i + 1)); done'
SH=$(cat shell.pid)
TRUE="exe = $(sql_bytes /bin/true)"
markers() { sql c.db "select count(*) from processes where $TRUE and ppid = $SH and exit_ms is not null"; }
wait_for 60 "2000 execs stored with their exits" '[ "$(markers)" -ge 2000 ]'
expect_exit 0 "$CTL" --json processes agent-1 --exe /bin/true --since 10m
mv out.txt procs.json
jq -r --argjson sh "$SH" '.[] | select(.ppid == $sh) | "\(.argv | length) \(.argv[0]) \(.argv[1]) \(.exe) \(.exited) \(.exit_code)"' procs.json |
    sort -u >got.txt
i=1
while [ $i -le 2000 ]; do echo "2 /bin/true marker-$i /bin/true true 0"; i=$((i + 1)); done | sort >want.txt
diff -u want.txt got.txt >diff.txt || fail "execs differ from what ran: $(head -20 diff.txt)"
[ "$(jq --argjson sh "$SH" '[.[] | select(.ppid == $sh)] | length' procs.json)" = 2000 ] ||
    fail "not exactly 2000 marker execs (duplicates?)"
jq -e --argjson sh "$SH" '[.[] | select(.ppid == $sh)][0] | .source == "ebpf" and .uid == 0 and .parent_exe != "" and (.unknown | length) == 0' procs.json >/dev/null ||
    fail "fields of an eBPF exec: $(jq -c '.[0]' procs.json)"

# Ancestry: marker-7's parent is the shell; that shell's parent is this test's shell.
PID7=$(jq -r --argjson sh "$SH" '.[] | select(.argv[1] == "marker-7" and .ppid == $sh) | .pid' procs.json)
expect_exit 0 "$CTL" --json process-tree agent-1 "$PID7"
jq -e --argjson sh "$SH" '.[-1].argv[1] == "marker-7" and .[-2].pid == $sh' out.txt >/dev/null ||
    fail "process-tree of marker-7: $(cat out.txt)"
expect_exit 0 "$CTL" process-tree agent-1 "$PID7"
expect_in out.txt "marker-7"
expect_exit 1 "$CTL" process-tree agent-1 4000000
expect_in err.txt "no process 4000000 is known"

# A fork that does not exec (a subshell) and lives a while is reported,
# so that the ancestry of what it runs holds together.
sh -c '(sleep 3; /bin/true forked-child-marker; echo done >/dev/null); exit 0'
CHILD="$TRUE and $(sql_has argv forked-child-marker)"
wait_for 20 "the forked child's exec" '[ "$(sql c.db "select count(*) from processes where $CHILD")" = 1 ]'
SUB=$(sql c.db "select ppid from processes where $CHILD")
wait_for 20 "the subshell $SUB (a fork without exec) reported" \
    '[ "$(sql c.db "select count(*) from processes where pid = $SUB and forked = 1 and source = '"'ebpf'"'")" = 1 ]'
CPID=$(sql c.db "select pid from processes where $CHILD")
expect_exit 0 "$CTL" --json process-tree agent-1 "$CPID"
jq -e --argjson sub "$SUB" '.[-2].pid == $sub and .[-2].forked == true' out.txt >/dev/null ||
    fail "process-tree through the subshell: $(cat out.txt)"

# A "container": its own cgroup named as docker names them, its own mount
# namespace where /bin/sleep is another file.  The exec carries the
# container id, and the hash is of the container's file, not the host's.
CID=$(printf 'a%.0s' $(seq 1 64))
if [ -d /sys/fs/cgroup/memory ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
    CG=/sys/fs/cgroup/memory/docker/$CID
else
    CG=/sys/fs/cgroup/docker-$CID.scope
fi
cp /bin/sleep ctr-sleep
head -c 4096 /dev/urandom >>ctr-sleep
if mkdir -p "$CG" 2>/dev/null; then
    unshare -m sh -c "echo \$\$ >'$CG/cgroup.procs' && mount --bind '$PWD/ctr-sleep' /bin/sleep && /bin/sleep 1.5"
    CTR="exe = $(sql_bytes /bin/sleep) and container_id = '$CID'"
    wait_for 20 "the container's exec" '[ "$(sql c.db "select count(*) from processes where $CTR and sha256 is not null")" = 1 ]'
    [ "$(sql c.db "select sha256 from processes where $CTR")" = "$(sha256sum ctr-sleep | cut -d' ' -f1)" ] ||
        fail "the container's /bin/sleep was not the file hashed"
    rmdir "$CG" 2>/dev/null
else
    echo "note: no cgroup could be made here; the container check is skipped"
fi

# The local view: vigil-agent processes lists this shell with its argv.
expect_exit 0 "$AGENT" processes --json
jq -e --argjson me $$ '[.[] | select(.pid == $me)][0] | .argv[0] == "sh" and .ppid > 0 and .start_time != null' out.txt >/dev/null ||
    fail "vigil-agent processes --json lacks this shell"
expect_exit 0 "$AGENT" processes
expect_in out.txt " processes"

# The snapshot at start holds this test's runner.
[ "$(sql c.db "select count(*) from process_snapshots where pid = $$")" -ge 1 ] ||
    fail "the start-up snapshot lacks the test's own shell"
expect_exit 0 "$CTL" --json host agent-1

# Hashes: /bin/true's digest is the file's.  A 1 GiB binary (sparse:
# /bin/true with zeros after it, which still runs) takes a while to
# hash; the execs right after it are stored before it, not held up.
[ "$(jq -r --argjson sh "$SH" '[.[] | select(.ppid == $sh)][0].sha256' procs.json)" = \
  "$(sha256sum /bin/true | cut -d' ' -f1)" ] || fail "the sha256 of /bin/true"
cp /bin/true big-true
truncate -s 1G big-true
cp /bin/true huge-true
truncate -s 3G huge-true
"$PWD/big-true" big-1
i=1
while [ $i -le 50 ]; do /bin/true after-big-$i; i=$((i + 1)); done
"$PWD/huge-true" huge-1
# (Match on exe: the queries below may carry the markers in their argv too.)
BIG="exe = $(sql_bytes "$PWD/big-true")"
AFTER="$TRUE and $(sql_has argv after-big-)"
bigrow() { sql c.db "select count(*) from processes where $BIG and sha256 is not null"; }
wait_for 60 "the big binary's exec, hashed" '[ "$(bigrow)" = 1 ]'
[ "$(sql c.db "select sha256 from processes where $BIG")" = \
  "$(sha256sum big-true | cut -d' ' -f1)" ] || fail "the big binary's sha256"
wait_for 20 "the 50 execs after the big binary" '[ "$(sql c.db "select count(*) from processes where $AFTER")" = 50 ]'
later=$(sql c.db "select count(*) from processes where $AFTER and id > (select id from processes where $BIG)")
[ "$later" = 0 ] || fail "$later execs after the big binary waited for its hash"
HUGE="exe = $(sql_bytes "$PWD/huge-true")"
wait_for 20 "the huge binary's exec" '[ "$(sql c.db "select count(*) from processes where $HUGE")" = 1 ]'
expect_exit 0 "$CTL" --json processes agent-1 --exe "$PWD/huge-true" --since 10m
jq -e '.[0].sha256 == "" and .[0].hash_note == "too big"' out.txt >/dev/null ||
    fail "a binary above hash_max_size: $(cat out.txt)"
stop $APID

# netlink: long-lived processes in full; every exec of a burst reported,
# each with its argv or with argv marked unknown.
agent_conf "$PORT" agent-1 | sed 's/^state_dir = .*/state_dir = state-nl/' >agent-nl.conf
printf '[telemetry]\nprocess_source = netlink\nexec_rate_per_exe = 0\n' >>agent-nl.conf
start agent-nl "$AGENT" -c agent-nl.conf
APID=$LAST_PID
wait_for 20 "netlink source verified" 'grep -q "process events from netlink (verified" agent-nl.log'
T0=$(date +%s%3N)
LONG=""
for i in 1 2 3; do sh -c 'sleep 2' nl-long-$i & LONG="$LONG $!"; done
i=1
while [ $i -le 200 ]; do /bin/true nlq-$i; i=$((i + 1)); done
wait $LONG
longs() { sql c.db "select count(*) from processes where source = 'netlink' and comm = 'sh' and $(sql_has argv nl-long-) and unknown = 'cgroup'"; }
wait_for 30 "long-lived processes in full" '[ "$(longs)" = 3 ]'
nl_rows() { sql c.db "select count(*) from processes where source = 'netlink' and start_ms >= $T0 - 1000 or (source = 'netlink' and start_ms = 0 and recv_ms >= $T0)"; }
wait_for 30 "every exec of the burst reported" '[ "$(nl_rows)" -ge 203 ]'
[ "$(sql c.db "select count(*) from processes where source = 'netlink' and length(argv) = 0 and (unknown is null or replace(unknown, 'argv', '') = unknown)")" = 0 ] ||
    fail "a netlink exec without argv does not say argv is unknown"
stop $APID

# /proc scanning: long-lived processes only, seen at the next scan.
agent_conf "$PORT" agent-1 | sed 's/^state_dir = .*/state_dir = state-proc/' >agent-proc.conf
printf '[telemetry]\nprocess_source = proc\nprocess_scan_interval = 200ms\n' >>agent-proc.conf
start agent-proc "$AGENT" -c agent-proc.conf
APID=$LAST_PID
wait_for 20 "proc source verified" 'grep -q "process events from proc" agent-proc.log'
sh -c 'sleep 3' proc-long-1 &
LONG=$!
plong() { sql c.db "select count(*) from processes where source = 'proc' and comm = 'sh' and $(sql_has argv proc-long-1)"; }
wait_for 20 "a long-lived process seen by scanning" '[ "$(plong)" = 1 ]'
wait $LONG
stop $APID
