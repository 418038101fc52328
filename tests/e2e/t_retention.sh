# Retention with the default settings on a database whose data is 500
# days old (tests/fixtures/store-v1.sql, aged): raw events, batch
# receipts, closed history rows, loss records and finished commands go,
# in chunks (12,000 extra events take three rounds), while a host's
# current state, open history rows, its latest OS row, queued commands
# and the audit log stay; an agent streaming meanwhile is stored exactly
# once, and the report still renders.
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"
sqlite_only "a version-1 SQLite database as its start"

export LC_ALL=C TZ=UTC
make_pki pki
PORT=$(free_port)
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key

sqlite3 c.db <"$VG_ROOT/tests/fixtures/store-v1.sql"
D=$((500 * 86400000))
sqlite3 c.db <<SQL
update events set recv_time_ms = recv_time_ms - $D;
update batches set recv_time_ms = recv_time_ms - $D;
update processes set start_ms = start_ms - $D;
update process_snapshots set snap_ms = snap_ms - $D;
update package_history set disappeared_ms = disappeared_ms - $D where disappeared_ms is not null;
update os_history set recv_time_ms = recv_time_ms - $D;
insert into os_history(host_id, time_ms, recv_time_ms, os_pretty_name)
    select host_id, 1000, 1000, 'Debian GNU/Linux 11 (bullseye)' from os_history where host_id = 1;
insert into loss(host_id, seq, source, count, recv_time_ms) values (1, 1, 'test', 5, 1000);
insert into commands(id, host_id, action, operator, reason, detail, body, issued_ms, expires_ms,
                     state, updated_ms)
    values ('old-done', 1, 'isolate', 'responder responder-1', 'test', '', x'', 1000, 2000, 4, 1000),
           ('still-queued', 2, 'isolate', 'responder responder-1', 'test', '', x'', 1000,
            9000000000000, 1, 1000);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 12000)
insert into events(host_id, seq, idx, kind, time_ms, recv_time_ms, body)
    select 1, 0, x, 'agent_health', 0, 1000, x'' from c;
SQL
n() { sql c.db "select count(*) from $1"; }
[ "$(n events)" -gt 12000 ] || fail "fixture events"
# Hosts 2 and 3 (agent-2 and agent-3) do not connect: theirs stays as it is.
open_hist=$(sql c.db "select count(*) from package_history where disappeared_ms is null and host_id > 1")
packages=$(sql c.db "select count(*) from packages where host_id > 1")
audit=$(n audit)

collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
agent_conf "$PORT" agent-1 >agent.conf
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 90 "a retention pass" 'grep -q "retention: " collector.log'
expect_in collector.log "event rows"
expect_in collector.log "batch receipt rows"
expect_in collector.log "finished command rows"
[ "$(sed -n 's/.*retention: .* \([0-9]*\) event rows.*/\1/p' collector.log | head -1)" -ge 12000 ] ||
    fail "retention: $(grep 'retention: ' collector.log)"

# Gone: what is past its time.
old=$(( $(date +%s) * 1000 - 90 * 86400000 ))
[ "$(sql c.db "select count(*) from events where recv_time_ms < $old")" = 0 ] || fail "old events left"
[ "$(sql c.db "select count(*) from batches where recv_time_ms < $old")" = 0 ] || fail "old receipts left"
[ "$(sql c.db "select count(*) from processes where start_ms < $old")" = 0 ] || fail "old processes left"
[ "$(n loss)" = 0 ] || fail "old loss records left"
[ "$(sql c.db "select count(*) from package_history where disappeared_ms < $old")" = 0 ] ||
    fail "closed history rows left"
[ "$(sql c.db "select count(*) from commands where id = 'old-done'")" = 0 ] || fail "finished command left"
# Kept: current state, open history, each host's latest OS row, queued
# commands, the audit log.
[ "$(n hosts)" = 3 ] || fail "hosts"
[ "$(sql c.db "select count(*) from packages where host_id > 1")" = "$packages" ] || fail "packages"
[ "$(sql c.db "select count(*) from package_history where disappeared_ms is null and host_id > 1")" = "$open_hist" ] ||
    fail "open history rows"
[ "$(sql c.db "select count(distinct host_id) from os_history")" = 3 ] || fail "latest OS rows"
[ "$(sql c.db "select count(*) from os_history where os_pretty_name like '%bullseye%'")" = 0 ] ||
    fail "the older OS row stayed"
[ "$(sql c.db "select count(*) from commands where id = 'still-queued'")" = 1 ] || fail "queued command"
[ "$(n audit)" -ge "$audit" ] || fail "audit entries went"
[ "$(sql c.db "select count(*) from streams")" -ge 3 ] || fail "streams"

# The agent streamed through it: its stream exactly once.
wait_for 30 "agent-1's batches" \
    '[ "$(sql c.db "select count(*) from batches b join hosts h on h.id = b.host_id where h.agent_id = '"'agent-1'"'")" -ge 3 ]'
stop "$APID"
stop "$CPID"
got=$(sql c.db "select count(*) = max(seq) and count(*) = count(distinct seq) from batches b
                join hosts h on h.id = b.host_id where h.agent_id = 'agent-1'")
[ "$got" = 1 ] || fail "agent-1's stream not stored exactly once"
start collector2 "$COLLECTOR" -c collector.conf
wait_for 30 "collector again" 'grep -q "listening on" collector2.log'
expect_exit 0 "$CTL" report patch --format csv -o r.csv
expect_in r.csv "CVE-2026-0002"
expect_exit 0 "$CTL" hosts
for a in agent-1 agent-2 agent-3; do expect_in out.txt "$a"; done
