# SQLite's WAL is checkpointed by a thread of its own (vg-checkpoint),
# not inside the store thread's commits.  Two loadgen agents stream as
# fast as they can: the thread checkpoints (metric by="thread").  Then a
# reader holds a snapshot, so that no checkpoint can finish and the WAL
# only grows: past 8,000 pages the commits checkpoint themselves (metric
# by="commit"), as SQLite's own auto-checkpoint would, and ingest goes
# on.  At the end every acknowledged exec is stored exactly once and the
# database passes integrity_check.
# vg-timeout: 480
. "$VG_ROOT/tests/e2e/lib.sh"

LOADGEN="$VG_BIN/vigil-loadgen"
make_pki pki
PORT=$(free_port)
MPORT=$(free_port)
{ collector_conf "$PORT" c.db; printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT"; } >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
grep -qx vg-checkpoint /proc/"$CPID"/task/*/comm || fail "no vg-checkpoint thread in the collector"

# Stopped by SIGTERM (it then drains: every batch made is acknowledged).
"$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents 2 --rate 50000 --batch 100 \
    --window 16 --duration 900 --json >lg.json 2>lg.err &
LPID=$!
VG_PIDS="$VG_PIDS $LPID" # killed at the end should the test fail first
ckpts() { metric 'vigil_collector_wal_checkpoints_total{by="'"$1"'"}'; }
wait_for 90 "checkpoints by the thread" '[ "$(ckpts thread)" -ge 3 ] 2>/dev/null'
[ "$(ckpts commit)" = 0 ] || echo "note: $(ckpts commit) checkpoints by commits before the reader"
# Bounded: 8,000 pages (32 MB) and a commit (this load's are at most 32
# batches of 100 execs).
wal0=$(stat -c %s c.db-wal)
[ "$wal0" -le $((48 * 1048576)) ] || fail "WAL of $wal0 bytes with no reader"

# A reader's snapshot: nothing written after it can be checkpointed.
python3 - <<'EOF' &
import os, sqlite3, time
c = sqlite3.connect("c.db", isolation_level=None)
c.execute("begin")
c.execute("select count(*) from hosts").fetchone()
open("reader.up", "w").close()
while not os.path.exists("reader.go"):
    time.sleep(0.1)
c.execute("commit")
EOF
RPID=$!
wait_for 30 "the reader holding its snapshot" '[ -e reader.up ]'
before=$(ckpts commit)
wait_for 120 "a commit checkpointing itself (the WAL past 8,000 pages)" \
    '[ "$(ckpts commit)" -gt "$before" ] 2>/dev/null'
wal=$(stat -c %s c.db-wal)
touch reader.go
wait "$RPID" || fail "the reader failed"
t=$(ckpts thread)
wait_for 60 "the thread checkpointing again" '[ "$(ckpts thread)" -gt "$t" ] 2>/dev/null'

loadgen_drained "$LPID"
acked=$(lg .exec_events_acked)
stop "$CPID"
execs_once c.db "$acked"
[ "$(sql c.db "pragma integrity_check")" = ok ] || fail "integrity_check: $(sql c.db "pragma integrity_check")"
echo "figure: $acked execs stored once; WAL $((wal0 / 1048576)) MB, then $((wal / 1048576)) MB with the reader holding it"
