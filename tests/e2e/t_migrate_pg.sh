# vg-timeout: 150
# Schema versions of the PostgreSQL store: an empty database starts at
# the current version; one written by the previous version (version 6,
# tests/fixtures/store-pg-v6.sql: a pg_dump of a database the version-6
# collector made, with a host, its inventory, batches, audit entries and a
# command) is brought up to it at start, keeps all it held and takes new
# batches; a database a newer collector wrote is refused and left as it
# was.  PostgreSQL is the run's (VG_STORE=pg) or one of the test's own.
. "$VG_ROOT/tests/e2e/lib.sh"

pg_store

make_pki pki
PORT=$(free_port)
CUR=9
version() { sql "$1" "select value from meta where key = 'schema_version'"; }

# 1. An empty database.
collector_conf "$PORT" new.db >new.conf
start c1 "$COLLECTOR" -c new.conf
wait_for 30 "collector on a new database" 'grep -q "listening on" c1.log'
stop "$LAST_PID"
[ "$(version new.db)" = $CUR ] || fail "new database: schema version $(version new.db)"
expect_in c1.log "schema version $CUR made"
expect_not_in c1.log "schema brought"
[ "$(sql new.db "select count(*) from pg_partitioned_table")" = 2 ] || fail "events and processes are not partitioned"
[ "$(sql new.db "select count(*) from pg_class where relname like 'events_p%' and relkind = 'r'")" -ge 8 ] ||
    fail "no day partitions made ahead"

# 2. A database of the previous version.
collector_conf "$PORT" old.db >old.conf
psql -XAtq -v ON_ERROR_STOP=1 -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres -d "$(pg_name old.db)" \
    -f "$VG_ROOT/tests/fixtures/store-pg-v6.sql" >/dev/null
[ "$(version old.db)" = 6 ] || fail "fixture is not version 6"
counts() {
    for t in hosts packages package_history audit batches events commands; do
        printf '%s=%s ' $t "$(sql old.db "select count(*) from $t")"
    done
}
before=$(counts)
start c2 "$COLLECTOR" -c old.conf
CPID=$LAST_PID
wait_for 30 "collector on the old database" 'grep -q "listening on" c2.log'
expect_in c2.log "schema brought from version 6 to $CUR"
[ "$(version old.db)" = $CUR ] || fail "not migrated"
[ "$(sql old.db "select count(*) from pg_indexes where indexname = 'commands_queued'")" = 1 ] ||
    fail "step 7's index is missing"
[ "$(sql old.db "select count(*) from pg_indexes where indexname = 'agent_versions_host'")" = 1 ] ||
    fail "step 8's index is missing"
# Step 9 drops the index of processes by executable, the partitions' with it.
[ "$(sql old.db "select count(*) from pg_indexes where indexname = 'processes_host_exe' or
                 (tablename like 'processes_p%' and indexdef like '%(exe)%')")" = 0 ] ||
    fail "step 9 left an index of processes by executable"
[ "$(counts)" = "$before" ] || fail "rows changed: $before -> $(counts)"
# It takes new batches: a new agent streams into it.
agent_conf "$PORT" agent-2 >agent.conf
start agent "$AGENT" -c agent.conf
wait_for 30 "agent-2's batches stored" \
    '[ "$(sql old.db "select count(*) from batches b join hosts h on h.id = b.host_id where h.agent_id = '"'agent-2'"'")" -ge 2 ]'
stop "$LAST_PID"
stop "$CPID"

# 3. A database a newer collector wrote: refused, untouched.
sql old.db "update meta set value = '99' where key = 'schema_version'" >/dev/null
dump() { pg_dump -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres --no-owner "$(pg_name old.db)" |
    grep -v '^\\\(un\)\?restrict ' | md5sum; }
d0=$(dump)
expect_exit 1 "$COLLECTOR" -c old.conf
expect_in err.txt "has schema version 99, newer than this collector's $CUR"
[ "$(dump)" = "$d0" ] || fail "the newer database was changed"
echo "figure: PostgreSQL schema 6 -> $CUR at start, $(echo "$before" | tr -s ' ')"
