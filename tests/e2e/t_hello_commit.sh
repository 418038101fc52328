# An agent that reconnects while a commit holding batches of its earlier
# connection is still running gets its hello answered after that commit,
# with a last stored sequence that counts them: it neither resends them
# (duplicates the collector drops) nor, with a full spool, counts as
# lost a batch that was stored.  Five agents stream while commits are
# held (VIGIL_TEST_COMMIT_GATE); one commit is let through, so that the
# next takes every agent's queued batches and is held; every agent drops
# its connection and reconnects (a storm) meanwhile, and each hello waits
# (counted).  Once the commit goes, every batch is stored exactly once
# and none came twice.  Then the same for a connection that went silent
# and was replaced.
# vg-timeout: 240
. "$VG_ROOT/tests/e2e/lib.sh"

LOADGEN="$VG_BIN/vigil-loadgen"
make_pki pki
PORT=$(free_port)
MPORT=$(free_port)
{ collector_conf "$PORT" c.db; printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT"; } >collector.conf
start collector env VIGIL_TEST_COMMIT_GATE="$PWD/gate" "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

# 200 execs a second each, 10 to a batch, 8 batches in flight; the storm
# comes after 15 s of that.
"$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents 5 --rate 200 --batch 10 \
    --window 8 --duration 15 --storm --jitter 1 --json >lg.json 2>lg.err &
LPID=$!
wait_for 30 "a commit held" 'grep -q "VIGIL_TEST_COMMIT_GATE: commit held" collector.log'
wait_for 60 "every agent's window queued" \
    '[ "$(metric vigil_collector_queued_batches)" -ge 40 ]'
# One commit goes; the next takes the 40 queued batches and is held.
touch gate.once gate
wait_for 30 "the next commit held" \
    '[ "$(grep -c "VIGIL_TEST_COMMIT_GATE: commit held" collector.log)" -ge 2 ]'
[ "$(metric vigil_collector_queued_batches)" -lt 40 ] || fail "the queued batches were not taken"
wait_for 60 "the storm: every agent dropped its connection" \
    '[ "$(grep -c "disconnected" collector.log)" -ge 5 ]'
wait_for 60 "every agent's hello waiting for the held commit" \
    '[ "$(metric vigil_collector_hellos_deferred_total)" -ge 5 ]'
touch gate
wait_for 120 "every batch acknowledged (the loadgen done)" '! kill -0 "$LPID" 2>/dev/null'
wait "$LPID" || { tail -5 lg.err; fail "loadgen: not every batch acknowledged"; }
j() { jq -r "$1" lg.json; }
[ "$(j .batches_unacked)" = 0 ] || fail "$(j .batches_unacked) batches unacknowledged"
acked=$(j .exec_events_acked)
[ "$acked" -gt 0 ] || fail "nothing acknowledged"
dups=$(metric 'vigil_collector_batches_total{result="duplicate"}')
deferred=$(metric vigil_collector_hellos_deferred_total)
[ "$dups" = 0 ] || fail "$dups batches came twice: a hello was answered before the commit of its batches"
got=$(sql c.db "select count(*) || ' ' || count(distinct argv) from processes")
[ "$got" = "$acked $acked" ] || fail "processes (rows, distinct markers) = $got, expected $acked $acked"

# The same when the earlier connection did not close but went silent (a
# host frozen, or cut off without a FIN): the new one replaces it, and
# waits for the commit that holds its batches.  Agent lg-00001 streams,
# the next commit takes its window and is held, it freezes (SIGSTOP) past
# two heartbeats; the same agent connects again from a second process.
rm gate
"$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents 1 --rate 200 --batch 10 \
    --window 8 --duration 120 --quiet >lg2.json 2>lg2.err &
FROZEN=$!
wait_for 30 "a commit held again" \
    '[ "$(grep -c "VIGIL_TEST_COMMIT_GATE: commit held" collector.log)" -ge 3 ]'
wait_for 60 "its window queued" '[ "$(metric vigil_collector_queued_batches)" -ge 8 ]'
touch gate.once gate
wait_for 30 "the next commit held, with its window" \
    '[ "$(grep -c "VIGIL_TEST_COMMIT_GATE: commit held" collector.log)" -ge 4 ]'
kill -STOP "$FROZEN"
sleep 3 # silent past two heartbeats (1 s each)
"$LOADGEN" --collector "127.0.0.1:$PORT" --pki pki --agents 1 --rate 10 --batch 10 \
    --duration 2 --json >lg3.json 2>lg3.err &
LPID=$!
wait_for 60 "the new connection's hello waiting" \
    '[ "$(metric vigil_collector_hellos_deferred_total)" -ge $((deferred + 1)) ]'
expect_in collector.log "dropping its silent connection"
touch gate
wait_for 120 "the new connection done" '! kill -0 "$LPID" 2>/dev/null'
wait "$LPID" || { tail -5 lg3.err; fail "loadgen (the new connection): not every batch acknowledged"; }
kill -KILL "$FROZEN"
wait "$FROZEN" 2>/dev/null || true
[ "$(jq -r .batches_unacked lg3.json)" = 0 ] || fail "the new connection: batches unacknowledged"
stop "$CPID"
echo "figure: $deferred hellos waited for a commit; $acked execs stored once, 0 duplicates; a replaced connection's hello waited too"
