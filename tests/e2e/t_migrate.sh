# Schema versions of the SQLite store: a new database starts at the
# current version; one written by the previous version (version 1, a dump
# in tests/fixtures/store-v1.sql of a three-host fleet with inventories,
# advisories, exceptions, audit entries and a stream) is brought up to it
# at start, keeps all it held and takes new batches exactly once; a
# database a newer collector wrote is refused and left as it was.
# vg-timeout: 150
. "$VG_ROOT/tests/e2e/lib.sh"
sqlite_only "the SQLite schema versions (PostgreSQL: t_pg_migrate)"

export LC_ALL=C TZ=UTC
make_pki pki
PORT=$(free_port)
CUR=9
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key

# 1. An empty database.
collector_conf "$PORT" new.db >new.conf
start c1 "$COLLECTOR" -c new.conf
wait_for 30 "collector on a new database" 'grep -q "listening on" c1.log'
stop "$LAST_PID"
[ "$(sql new.db "select value from meta where key = 'schema_version'")" = $CUR ] ||
    fail "new database: schema version $(sql new.db "select value from meta where key = 'schema_version'")"
expect_not_in c1.log "schema brought"

# 2. A database of the previous version.
sqlite3 old.db <"$VG_ROOT/tests/fixtures/store-v1.sql"
[ "$(sql old.db "select value from meta where key = 'schema_version'")" = 1 ] || fail "fixture is not version 1"
counts() {
    for t in hosts packages package_history advisories exceptions audit batches events processes; do
        printf '%s=%s ' $t "$(sql old.db "select count(*) from $t")"
    done
}
before=$(counts)
collector_conf "$PORT" old.db >old.conf
start c2 "$COLLECTOR" -c old.conf
CPID=$LAST_PID
wait_for 30 "collector on the old database" 'grep -q "listening on" c2.log'
expect_in c2.log "database $PWD/old.db: schema brought from version 1 to $CUR"
for db in new.db old.db; do
    [ "$(sql $db "select count(*) from sqlite_master where type = 'index' and
                  name = 'agent_versions_host'")" = 1 ] || fail "$db: no index agent_versions_host"
    [ "$(sql $db "select count(*) from sqlite_master where type = 'index' and
                  name = 'processes_host_exe'")" = 0 ] || fail "$db: step 9 left processes_host_exe"
    [ "$(sql $db "select group_concat(name) from sqlite_master where type = 'index' and
                  tbl_name = 'events'")" = events_other_recv ] ||
        fail "$db: indexes of events: $(sql $db "select group_concat(name) from sqlite_master where type = 'index' and tbl_name = 'events'")"
done
[ "$(sql old.db "select value from meta where key = 'schema_version'")" = $CUR ] || fail "not migrated"
[ "$(counts)" = "$before" ] || fail "rows changed by the migration: $before -> $(counts)"
# Version 3's indexes: by time for retention, none of raw events by host.
[ "$(sql old.db "select group_concat(name) from (select name from sqlite_master
      where name in ('batches_recv', 'loss_recv', 'events_host_time') order by name)")" = "batches_recv,loss_recv" ] ||
    fail "version 3 indexes"
# What it held answers as before.
expect_exit 0 "$CTL" hosts
for a in agent-1 agent-2 agent-3; do expect_in out.txt "$a"; done
expect_exit 0 "$CTL" inventory agent-1
expect_in out.txt "libfoo1"
expect_exit 0 "$CTL" report patch --format csv -o r.csv
expect_in r.csv "CVE-2026-0002"
expect_exit 0 "$CTL" audit --since 3650d
expect_in out.txt "exception"
# A known agent streams on: its new stream is stored exactly once.
agent_conf "$PORT" agent-1 >agent.conf
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
# Its new stream: a stream epoch the fixture does not have.
new_batches() {
    sql old.db "select count(*) from batches b join hosts h on h.id = b.host_id
                where h.agent_id = 'agent-1' and b.epoch not in (select epoch from fixture_streams)"
}
sql old.db "create table fixture_streams as select epoch from streams" >/dev/null
wait_for 60 "agent-1's new batches stored" '[ "$(new_batches)" -ge 3 ]'
stop "$APID"
stop "$CPID"
newest=$(sql old.db "select hex(epoch) from batches b join hosts h on h.id = b.host_id
                     where h.agent_id = 'agent-1' and b.epoch not in (select epoch from fixture_streams)
                     limit 1")
got=$(sql old.db "select count(*) = max(seq) and count(*) = count(distinct seq) from batches
                  where hex(epoch) = '$newest'")
[ "$got" = 1 ] || fail "agent-1's new stream not stored exactly once"

# 3. A second start has nothing to do.
start c3 "$COLLECTOR" -c old.conf
wait_for 30 "collector again" 'grep -q "listening on" c3.log'
stop "$LAST_PID"
expect_not_in c3.log "schema brought"

# 4. A newer database: refused, untouched.
sql old.db "update meta set value = '$((CUR + 1))' where key = 'schema_version'" >/dev/null
dump=$(sqlite3 old.db .dump | md5sum)
expect_exit 1 "$COLLECTOR" -c old.conf
expect_in err.txt "database $PWD/old.db has schema version $((CUR + 1)), newer than this collector's $CUR: it was written by a newer vigil-collector; run that version, or restore a backup made before the upgrade"
[ "$(sqlite3 old.db .dump | md5sum)" = "$dump" ] || fail "the newer database was changed"
