# PostgreSQL stopped and started again under a streaming collector: the
# collector's connections to it (the loop's and the store thread's) are
# made again, with their settings, and their statements prepared again;
# meanwhile batches fail and agents resend, and a failed group is retried
# after a second rather than at once (the collector used to spin, millions
# of failing commits, and never reconnected).  At the end every
# acknowledged exec is stored exactly once.  The test's own PostgreSQL
# server (it is stopped): not the run's.
# vg-timeout: 240
. "$VG_ROOT/tests/e2e/lib.sh"

# Its own server whatever the run's store: it is stopped.
VG_STORE=sqlite
pg_store
LOADGEN="$VG_BIN/vigil-loadgen"
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

# Stopped by SIGTERM (it then drains: every batch made is acknowledged).
"$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents 3 --rate 200 --batch 10 \
    --window 8 --duration 200 --json >lg.json 2>lg.err &
LPID=$!
VG_PIDS="$VG_PIDS $LPID" # killed at the end should the test fail first
wait_for 60 "batches stored" '[ "$(sql c.db "select count(*) from batches")" -gt 30 ]'

"$VG_ROOT/tests/pg-server.sh" stop "$VG_PG_DIR/server"
sleep 3 # down: commits fail, agents are told to resend
"$VG_ROOT/tests/pg-server.sh" again "$VG_PG_DIR/server"
n=$(sql c.db "select count(*) from batches")
wait_for 60 "the store thread's connection made again" \
    'grep -q "connection to PostgreSQL made again" collector.log'
# The loop's, through an operator's request (the first may come while
# it is being made again).
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
wait_for 60 "an operator answered after the restart" \
    '"$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key hosts >hosts.txt 2>&1 &&
     grep -q lg-00001 hosts.txt'
wait_for 60 "batches stored after the restart" \
    '[ "$(sql c.db "select count(*) from batches")" -gt $((n + 30)) ]'

loadgen_drained "$LPID"
acked=$(lg .exec_events_acked)
stop "$CPID"
execs_once c.db "$acked"
# A group is never retried at once: commits stay below the batches (many
# to a commit) plus the bookkeeping, not millions.
commits=$(sed -n 's/.*group commits: \([0-9]*\),.*/\1/p' collector.log | tail -1)
[ -n "$commits" ] && [ "$commits" -le $(($(lg .batches_acked) + 1000)) ] ||
    fail "group commits: ${commits:-none logged} for $(lg .batches_acked) batches"
echo "figure: $acked execs stored once through a 3 s PostgreSQL outage; $commits group commits"
