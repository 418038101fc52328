# What PostgreSQL refuses and SQLite keeps must not cost telemetry.
# A process whose name is not UTF-8 (a file named with other bytes) is
# stored, its name with U+FFFD for those bytes, its exe exact; before,
# PostgreSQL refused the text and the whole batch with it.  A hello the
# database refuses (a trigger stands in for any such row) is logged,
# counted and dropped, and the group's batches are stored anyway; before,
# the refused row took the group's transaction with it, again and again.
# vg-timeout: 180
. "$VG_ROOT/tests/e2e/lib.sh"

pg_store
make_pki pki
PORT=$(free_port)
MPORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
printf '[metrics]\nlisten = 127.0.0.1:%s\n' "$MPORT" >>collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf 'exec_rate_per_exe = 0\n' >>agent.conf
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
wait_for 20 "agent connected" 'grep -q "connected to collector" agent.log'
wait_for 30 "process events flowing" '[ "$(sql c.db "select count(*) from processes")" -gt 0 ]'

# A file whose name has bytes that are not UTF-8: its exec's comm has them.
NAME=$(printf 'vg\377\376tool')
cp /bin/true "$VG_TMP/$NAME"
"$VG_TMP/$NAME" text-marker
EXE=$(sql_bytes "$VG_TMP/$NAME")
wait_for 30 "the exec of the file with a non-UTF-8 name" \
    '[ "$(sql c.db "select count(*) from processes where exe = $EXE")" = 1 ]'
[ "$(sql c.db "select comm from processes where exe = $EXE")" = "$(printf 'vg\357\277\275\357\277\275tool')" ] ||
    fail "comm: $(sql c.db "select comm from processes where exe = $EXE")"
[ "$(sql c.db "select count(*) from processes where exe = $EXE and argv = $(sql_bytes "$VG_TMP/$NAME" text-marker)")" = 1 ] ||
    fail "argv not exact"
! grep -q "rejected" collector.log || fail "a batch was rejected: $(grep rejected collector.log)"

# agent-2 is known (its row exists); then every write of the hostname
# poison-host is refused.
python3 "$VG_ROOT/tests/e2e/vgpeer.py" hold "127.0.0.1:$PORT" pki/ca.crt pki agent-2 0 >hold1.txt
expect_in hold1.txt "ok agent-2"
sql c.db "create function vg_poison() returns trigger language plpgsql as \$\$
begin
  if new.hostname = 'poison-host' then
    raise exception 'poisoned by the test' using errcode = '22023';
  end if;
  return new;
end \$\$;
create trigger vg_poison before insert or update on hosts for each row execute function vg_poison();" >/dev/null
VGPEER_HOSTNAME=poison-host python3 "$VG_ROOT/tests/e2e/vgpeer.py" hold "127.0.0.1:$PORT" pki/ca.crt pki agent-2 3 >hold2.txt
expect_in hold2.txt "ok agent-2"
wait_for 30 "the refused hello logged" 'grep -q "connection bookkeeping (hello) not written" collector.log'
grep "connection bookkeeping (hello) not written" collector.log | grep -q "poisoned by the test" ||
    fail "the log does not say why: $(grep 'bookkeeping' collector.log)"

# The agent's batches after it are stored.
/bin/true after-poison-marker
wait_for 30 "an exec after the refused hello stored" \
    '[ "$(sql c.db "select count(*) from processes where $(sql_has argv after-poison-marker)")" -ge 1 ]'
curl -sf "http://127.0.0.1:$MPORT/metrics" >metrics.txt || fail "no metrics"
grep -q '^vigil_collector_bookkeeping_dropped_total [1-9]' metrics.txt ||
    fail "not counted: $(grep bookkeeping metrics.txt)"
grep -q '^vigil_collector_batches_total{result="failed"} 0$' metrics.txt ||
    fail "batches failed: $(grep batches_total metrics.txt)"
[ "$(sql c.db "select hostname from hosts where agent_id = 'agent-2'")" != poison-host ] ||
    fail "the refused hostname was written"
