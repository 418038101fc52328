# Retention on PostgreSQL: a day partition of events or processes whose
# rows are all past their time is dropped whole (the same rows the
# chunked DELETEs would take, without the dead rows), logged with the
# planner's estimate of its rows; a partition with a row still within its
# time (an agent whose clock is ahead) stays, and the DELETEs take the
# rest of it, counted exactly; an agent streaming meanwhile goes on being
# stored.
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"
pg_store

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
printf '[retention]\nprocesses_max_age = 30d\nevents_max_age = 30d\n' >>collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
agent_conf "$PORT" agent-1 >agent.conf
start agent "$AGENT" -c agent.conf
wait_for 30 "agent stored" '[ "$(sql c.db "select count(*) from processes")" -gt 0 ]'
stop "$CPID"

# Two days 40 and 39 days ago, made as the collector makes them.
MID=$(( $(date +%s) / 86400 * 86400 * 1000 ))
DAY=86400000
NOW=$(( $(date +%s) * 1000 ))
part() { # TABLE DAYS_AGO: the partition's name, made
    lo=$((MID - $2 * DAY))
    name="$1_p$(date -u -d "@$((lo / 1000))" +%Y%m%d)"
    sql c.db "create table $name partition of $1 for values from ($lo) to ($((lo + DAY)))" >/dev/null
    echo "$name"
}
P1=$(part processes 40)
P2=$(part processes 39)
E1=$(part events 40)
T1=$((MID - 40 * DAY + 1000))
T2=$((MID - 39 * DAY + 1000))
sql c.db "insert into processes(host_id, pid, start_ms, recv_ms) values
    (1, 101, $T1, $T1), (1, 102, $T1, $T1), (1, 103, 0, $T1),
    (1, 201, $T2, $T2), (1, 202, $T2, $T2), (1, 203, $NOW, $T2);
insert into events(host_id, seq, idx, kind, time_ms, recv_time_ms, body) values
    (1, 0, 1, 'process_exec', 0, $T1, ''), (1, 0, 2, 'process_exit', 0, $T1, ''),
    (1, 0, 3, 'agent_health', 0, $T1, ''), (1, 0, 4, 'os_state', 0, $T1, ''),
    (1, 0, 5, 'agent_health', 0, $T1, '');
analyze $P1; analyze $P2; analyze $E1" >/dev/null
before=$(sql c.db "select count(*) from processes where recv_ms >= $MID - $DAY")

start collector "$COLLECTOR" -c collector.conf
wait_for 60 "a retention pass" 'grep -q "retention: .* deleted" collector.log'
grep -q "partition $P1 dropped (about 3 rows, all past their time)" collector.log ||
    fail "$P1 not dropped: $(grep 'retention' collector.log)"
grep -q "partition $E1 dropped (about 5 rows, all past their time)" collector.log ||
    fail "$E1 not dropped: $(grep 'retention' collector.log)"
! grep -q "partition $P2 dropped" collector.log || fail "$P2 dropped with a row within its time"
# The deletes: the 2 rows of $P2 past their time.
grep -q "retention: 2 process rows deleted" collector.log ||
    fail "the pass's count: $(grep 'retention: ' collector.log)"
[ "$(sql c.db "select count(*) from pg_class where relname in ('$P1', '$E1')")" = 0 ] ||
    fail "the partitions are still there"
[ "$(sql c.db "select string_agg(pid::text, ',') from $P2")" = 203 ] ||
    fail "$P2 holds: $(sql c.db "select pid from $P2")"
# Ingest goes on.
wait_for 30 "the agent's rows stored after the pass" \
    '[ "$(sql c.db "select count(*) from processes where recv_ms >= $MID - $DAY")" -gt "$before" ]'
! grep -q "cannot" collector.log || fail "$(grep cannot collector.log)"

# A transaction that holds every processes partition (an exit's UPDATE
# does) while retention looks: it waits at most 500 ms, leaves the day to
# the deletes, and neither side fails.
stop "$LAST_PID"
P3=$(part processes 38)
T3=$((MID - 38 * DAY + 1000))
sql c.db "insert into processes(host_id, pid, start_ms, recv_ms) values (1, 301, $T3, $T3)" >/dev/null
psql -XAtq -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres -d "$(pg_name c.db)" \
    -c "begin; update processes set exit_code = exit_code where pid = -1; select pg_sleep(15); commit" \
    >holder.log 2>&1 &
HPID=$!
wait_for 10 "the lock holder" \
    '[ "$(sql c.db "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = '"'$P3'"' and l.granted")" -ge 1 ]'
mv collector.log collector.log.1
start collector "$COLLECTOR" -c collector.conf
wait_for 60 "the busy partition left to the deletes" "grep -q 'partition $P3 busy' collector.log"
wait_for 60 "the second pass" 'grep -q "retention: 1 process rows deleted" collector.log'
wait "$HPID" || fail "the lock holder failed: $(cat holder.log)"
! grep -qi "deadlock\|cannot" collector.log || fail "$(grep -i 'deadlock\|cannot' collector.log)"
[ "$(sql c.db "select count(*) from $P3")" = 0 ] || fail "$P3's row not deleted"
