# A poison batch among good agents' batches (issue 19): the good ones are
# all stored and their agents stay connected; the poisoning agent is told
# why, stays connected, and the collector logs which agent and which
# limit.  Three good agents stream while a fourth, real agent sends poison
# planted in its spool (tests/e2e/poisonrec.py): 1.2 MB of argv in a
# 5 KB frame (the measured attack), a 300-byte hostname, a 5000-byte
# package name.  Two rounds: with the field limits (argv cut and flagged,
# the others rejected at decode), and with them switched off by a test
# hook, so that the argv reaches the store and fails there: one batch of
# a group commit that cannot be stored is rolled back alone.
# vg-timeout: 300
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
for a in agent-3 agent-p; do "$CTL" pki issue --dir pki --role agent --name $a >/dev/null; done
GOOD="agent-1 agent-2 agent-3"

# conf ROUND PORT AGENT: an agent configuration; good agents stream fast
# small batches so that the poison shares group commits with theirs.
conf() {
    agent_conf "$2" "$3" | sed "s/^state_dir = .*/state_dir = $1-state-$3/"
    printf 'process_source = off\n[dummy]\nrate = 500\n[batch]\nmax_events = 10\n'
}

host() { sql "$1.db" "select id from hosts where agent_id = '$2'"; }

# poisoned ROUND KINDS...: agent-p's spool, made offline and then poisoned
# record by record (records 1.., one per kind; record 0 stays good).
poisoned() {
    r=$1
    shift
    conf "$r" "$(free_port)" agent-p >"$r-agent-p.conf"
    start "$r-agent-p-offline" "$AGENT" -c "$r-agent-p.conf"
    pid=$LAST_PID
    seg() { ls "$r"-state-agent-p/spool/*.seg 2>/dev/null | head -1; }
    wait_for 60 "agent-p's batches spooled" \
        '[ -n "$(seg)" ] && [ "$("$VG_ROOT/tests/e2e/spoolrec.py" "$(seg)" count)" -ge $(($# + 2)) ]'
    stop "$pid"
    i=1
    for kind in "$@"; do
        seq=$("$VG_ROOT/tests/e2e/poisonrec.py" "$(seg)" $i $kind)
        echo "$r: agent-p's batch $seq is poison ($kind)"
        eval "POISON_$kind=$seq"
        i=$((i + 1))
    done
}

# round NAME REJECTED COLLECTOR-ENV...: a collector, the good agents, then
# the poisoner; waits for REJECTED rejections; stops the agents; checks.
round() {
    r=$1 want=$2
    shift 2
    port=$(free_port)
    collector_conf "$port" "$r.db" >"$r-collector.conf"
    start "$r-collector" env "$@" "$COLLECTOR" -c "$r-collector.conf"
    cpid=$LAST_PID
    wait_for 30 "collector listening" 'grep -q "listening on" $r-collector.log'
    gpids=""
    for a in $GOOD; do
        conf "$r" "$port" $a >"$r-$a.conf"
        start "$r-$a" "$AGENT" -c "$r-$a.conf"
        gpids="$gpids $LAST_PID"
    done
    for a in $GOOD; do
        wait_for 60 "$a streaming" \
            '[ "$(sql $r.db "select count(*) from batches b join hosts h on h.id = b.host_id where h.agent_id = '"'$a'"'")" -ge 5 ]'
    done
    sed -i "s/^address = .*/address = 127.0.0.1:$port/" "$r-agent-p.conf"
    start "$r-agent-p" "$AGENT" -c "$r-agent-p.conf"
    ppid_=$LAST_PID
    wait_for 60 "agent-p's rejections" \
        '[ "$(grep -c "rejected by the collector" $r-agent-p.log)" -ge $want ]'
    # Streaming goes on after the poison: agent-p's later batches are stored.
    after=$(sql "$r.db" "select max(seq) from batches where host_id = $(host $r agent-p)")
    wait_for 30 "agent-p stored on" \
        '[ "$(sql $r.db "select max(seq) from batches where host_id = $(host $r agent-p)")" -gt "$after" ]'
    sleep 2
    # Nobody was disconnected: one connection each, no reconnect.
    for a in $GOOD agent-p; do
        n=$(grep -c "connected to collector" "$r-$a.log")
        [ "$n" = 1 ] || fail "$r: $a connected $n times: $(grep -i "collector" "$r-$a.log" | tail -5)"
        ! grep -q "agent $a .* disconnected" "$r-collector.log" ||
            fail "$r: $a was disconnected: $(grep "agent $a .* disconnected" "$r-collector.log")"
    done
    for p in $gpids $ppid_; do stop "$p"; done
    # A loaded machine may leave batches unacknowledged at the stop: they
    # stay spooled, and the agent's next run sends them.
    for a in $GOOD; do
        k=0
        h=$(host "$r" $a)
        while grep -q "stay spooled for the next start" "$r-$a.log"; do
            k=$((k + 1))
            [ $k -le 3 ] || fail "$r: $a still has spooled batches after 3 runs"
            prev=$(last_seq "$r-$a.log")
            mv "$r-$a.log" "$r-$a.log.$k"
            start "$r-$a" "$AGENT" -c "$r-$a.conf"
            p=$LAST_PID
            wait_for 60 "$a's spooled batches stored" \
                '[ "$(sql $r.db "select count(*) from batches where host_id = $h and rejected is null")" -ge "$prev" ]'
            stop "$p"
        done
    done
    # Every batch of every good agent stored once; none rejected.
    for a in $GOOD; do
        last=$(last_seq "$r-$a.log")
        h=$(host "$r" $a)
        got=$(sql "$r.db" "select count(*) || ' ' || min(seq) || ' ' || max(seq) from batches where host_id = $h and rejected is null")
        [ "$got" = "$last 1 $last" ] || fail "$r: $a batches (count min max) = $got, expected $last 1 $last"
        [ "$(sql "$r.db" "select count(*) from batches where host_id = $h and rejected is not null")" = 0 ] ||
            fail "$r: a batch of $a was rejected"
        echo "$r: $a: $last batches, all stored"
    done
    # The poisoner's rejections: recorded once as loss, with the reason.
    h=$(host "$r" agent-p)
    [ "$(sql "$r.db" "select count(*) from batches where host_id = $h and rejected is not null")" = "$want" ] ||
        fail "$r: rejected batches: $(sql "$r.db" "select seq, rejected from batches where host_id = $h and rejected is not null")"
    [ "$(sql "$r.db" "select count(*) from loss where host_id = $h and source = 'collector.rejected'")" = "$want" ] ||
        fail "$r: loss rows: $(sql "$r.db" "select * from loss where host_id = $h")"
    stop "$cpid"
    grep "commit are stored" "$r-collector.log" | sed 's/.*(the other \([0-9]*\) batches.*/\1/' |
        tr '\n' ' ' | sed "s/^/$r: other batches stored in each rejected batch's commit: /; s/\$/\\n/"
}

# ---- round 1: the field limits ----
poisoned limits argv hostname package
round limits 2
# The argv is cut at 64 KiB and flagged, and stored.
h=$(host limits agent-p)
[ "$(sql limits.db "select count(*) from processes where host_id = $h and pid = 4242 and argv_truncated = 1 and length(argv) <= 65536 and length(argv) > 60000")" = 1 ] ||
    fail "argv not stored cut: $(sql limits.db "select pid, argv_truncated, length(argv) from processes where host_id = $h")"
expect_in limits-collector.log "agent agent-p (127.0.0.1"
expect_in limits-collector.log "batch $POISON_argv: ProcessExec.argv is 20000 entries, over its limit of 4096: cut to it (argv_truncated set)"
expect_in limits-collector.log "batch $POISON_hostname (1 events) rejected: OsState.hostname is 300 bytes, over its limit of 255"
expect_in limits-collector.log "batch $POISON_package (1 events) rejected: Package.name is 5000 bytes, over its limit of 4096"
expect_in limits-agent-p.log "dropped batch $POISON_hostname (1 events): rejected by the collector: OsState.hostname is 300 bytes, over its limit of 255"
expect_in limits-agent-p.log "dropped batch $POISON_package (1 events): rejected by the collector: Package.name is 5000 bytes"
[ "$(sql limits.db "select count(*) from hosts where hostname like 'hhhh%'")" = 0 ] || fail "the poison hostname was stored"

# ---- round 2: no field limits; the store meets the argv ----
poisoned store argv
round store 1 VIGIL_TEST_NO_FIELD_LIMITS=1
expect_in store-collector.log "batch $POISON_argv (1 events) rejected: event 0 (process_exec): argv (20000 entries) over the store's 1 MiB"
expect_in store-agent-p.log "dropped batch $POISON_argv (1 events): rejected by the collector: event 0 (process_exec): argv"
[ "$(sql store.db "select count(*) from processes where pid = 4242")" = 0 ] || fail "the poison exec was stored"
echo "ok: poison rejected alone with its reason, every good batch stored, nobody disconnected"
