# vg-timeout: 180
# SIEM export with several collectors on one PostgreSQL (issue 20).
#  - One exports to a sink at a time (the sink's cursor is shared in the
#    database); the other waits, and takes over where the first got to
#    when it is killed with kill -9.
#  - Process row ids come from a sequence when a row is inserted, not when
#    it commits: another collector's group commit can hold a lower id and
#    commit after higher ones.  Here that writer is a psql session: it
#    inserts a process row and keeps its transaction open while the
#    agent's execs are stored (higher ids, committed) and exported; then it
#    commits.  The export must still write its row (it reads in the order
#    of the writing transactions, not of ids); its cursor in
#    export_cursors carries the transaction id.
#  - Every process row is exported, none twice by one collector.
. "$VG_ROOT/tests/e2e/lib.sh"

pg_store
make_pki pki
P1=$(free_port)
P2=$(free_port)
M1=$(free_port)
M2=$(free_port)
while [ "$P2" = "$P1" ] || [ "$M1" = "$P1" ] || [ "$M1" = "$P2" ] || [ "$M2" = "$P1" ] ||
      [ "$M2" = "$P2" ] || [ "$M2" = "$M1" ]; do
    P2=$(free_port) M1=$(free_port) M2=$(free_port)
done
URL=$(pg_url c.db)
mkdir c1 c2
for n in 1 2; do
    eval "p=\$P$n" "m=\$M$n"
    { collector_conf "$p" "c$n/c.db" | grep -v '^url = '; echo "url = $URL"
      printf '[export]\nfile = c%s/events.jsonl\nprocess_hold = 0s\n' "$n"
      printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$m"; } >"c$n.conf"
done
# c2 first: it exports; the agent streams to c1, which waits.
start c2 "$COLLECTOR" -c c2.conf
C2=$LAST_PID
wait_for 30 "c2 up" 'grep -q "listening on" c2.log'
start c1 "$COLLECTOR" -c c1.conf
C1=$LAST_PID
wait_for 30 "c1 waiting to export" 'grep -q "another collector of this database exports to the file sink" c1.log'
! grep -q "another collector" c2.log || fail "c2 waits too: $(grep "another collector" c2.log)"
active() { python3 "$VG_ROOT/tests/e2e/promcheck.py" "http://127.0.0.1:$1/metrics" -o "m$1.txt" \
    "vigil_collector_export_active{sink=\"file\"}=$2"; }
active "$M2" 1 || fail "c2's metrics: $(grep export_active "m$M2.txt")"
active "$M1" 0 || fail "c1's metrics: $(grep export_active "m$M1.txt")"
agent_conf "$P1" agent-1 >agent.conf
start agent "$AGENT" -d -c agent.conf
APID=$LAST_PID
wait_for 60 "the agent's host row" '[ "$(sql c.db "select count(*) from hosts")" = 1 ]'
wait_for 60 "the agent's process events" 'grep -q "process events from" agent.log'

got() { grep -ho '"event":{"id":"proc-[0-9]*"' "$@" | sed 's/.*"id":"//; s/"$//' | sort; }
want() { sql c.db "select 'proc-' || id from processes" | sort; }
execs() { sh -c "i=1; while [ \$i -le $2 ]; do /bin/true export-$1-\$i; i=\$((i + 1)); done"; }
marked() { sql c.db "select count(*) from processes where $(sql_has argv "export-$1-")"; }

execs before 50
wait_for 60 "the first execs stored" '[ "$(marked before)" -ge 50 ]'
wait_for 60 "the first execs exported by c2" '[ "$(got c2/events.jsonl | wc -l)" -ge 50 ]'
[ ! -s c1/events.jsonl ] || fail "c1 exported while c2 did: $(head -c 300 c1/events.jsonl)"

# The exporter dies; the other takes over from the shared cursor.
kill -KILL "$C2"
wait_for 60 "c1 exporting" 'grep -q "export: this collector exports to the file sink now" c1.log'
grep "exports to the file sink now" c1.log
active "$M1" 1 || fail "c1's metrics after the takeover: $(grep export_active "m$M1.txt")"

# The other writer: a process row inserted in a transaction held open.
mkfifo hold.fifo
psql -XAtq -v ON_ERROR_STOP=1 -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres \
    -d "$(pg_name c.db)" <hold.fifo >hold.out 2>&1 &
HOLD=$!
exec 3>hold.fifo
now=$(( $(date +%s) * 1000 ))
cat >&3 <<SQL
BEGIN;
INSERT INTO processes(host_id, pid, comm, start_ms, recv_ms)
    SELECT id, 424242, 'held-writer', $now, $now FROM hosts RETURNING id \gset
\o held.id
SELECT :id;
\o
SQL
wait_for 30 "the held row's id" '[ -s held.id ]'
HID=$(cat held.id)
echo "held transaction wrote process row $HID"

# Rows with higher ids, committed and exportable by id while it is held.
execs during 50
wait_for 60 "the later execs stored" '[ "$(marked during)" -ge 50 ]'
[ "$(sql c.db "select min(id) from processes where $(sql_has argv "export-during-")")" -gt "$HID" ] ||
    fail "the later rows do not have higher ids than the held one"
# A few export ticks (every 0.5 s) pass meanwhile.
sleep 3
echo "COMMIT;" >&3
exec 3>&-
wait "$HOLD" || fail "psql: $(cat hold.out)"

wait_for 60 "the held row exported" 'got c1/events.jsonl | grep -qx "proc-$HID"'
execs after 20
wait_for 60 "the last execs stored" '[ "$(marked after)" -ge 20 ]'
stop "$APID"
want >want.txt
[ "$(wc -l <want.txt)" -ge 121 ] || fail "only $(wc -l <want.txt) process rows"
missing() { got c1/events.jsonl c2/events.jsonl | uniq | comm -23 want.txt - >missing.txt; [ ! -s missing.txt ]; }
wait_for 60 "every process row exported" missing
for c in c1 c2; do
    [ "$(got $c/events.jsonl | uniq -d | wc -l)" = 0 ] ||
        fail "rows exported twice by $c: $(got $c/events.jsonl | uniq -d | head -3)"
done
# At least once across the takeover: c2 saved its cursor every 2 s.
again=$(got c1/events.jsonl c2/events.jsonl | uniq -d | wc -l)
echo "figure: $(wc -l <want.txt) process rows exported by two collectors in turn, $again of them by both (c2's last 2 s); one committed after $(sql c.db "select count(*) from processes where id > $HID") rows with higher ids"

# The cursor carries the transaction id (PostgreSQL's xid8, as text).
tx=$(sql c.db "select process_txid from export_cursors where sink = 'file'")
case $tx in '' | 0 | *[!0-9]*) fail "export cursor's txid: '$tx'" ;; esac
stop "$C1"
grep -q "c1/events.jsonl: [0-9]* records written this run" c1.log || fail "c1 did not log what it exported"

# A cursor saved by an earlier version (by id, process_txid '0'): the
# rows after its id go out, not every row again.
total=$(wc -l <want.txt)
last=$(sql c.db "select max(id) from processes")
sql c.db "update export_cursors set process_txid = '0', process_id = $((last - 10)) where sink = 'file'"
lines=$(wc -l <c1/events.jsonl)
start c1b "$COLLECTOR" -c c1.conf
C1=$LAST_PID
newer() { tail -n +$((lines + 1)) c1/events.jsonl >newer.jsonl; got newer.jsonl; }
wait_for 60 "the last 10 rows exported again" '[ "$(newer | awk -v l=$last '"'"'{ sub("proc-", ""); if ($1 > l - 10) n++ } END { print n + 0 }'"'"')" = 10 ]'
sleep 2
n=$(newer | wc -l)
[ "$n" -lt $((total / 2)) ] || fail "an earlier version's cursor sent $n of $total rows again"
echo "figure: an earlier version's cursor 10 rows from the end: $n rows sent again"
stop "$C1"
echo ok
