# vigilctl db backup: a copy of the database taken while agents stream
# (SQLite's online backup on the collector, fetched in pieces, SHA-256
# checked), admin only, audited, never over an existing file without
# --force; the copy passes integrity_check, and a second collector started
# on it (the documented restore: the file put in place as its db) serves
# the same hosts and the same patch report as the original.
# vg-timeout: 240
. "$VG_ROOT/tests/e2e/lib.sh"
sqlite_only "vigilctl db backup copies the SQLite file (PostgreSQL: pg_dump)"

export LC_ALL=C TZ=UTC
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf

host_root() { # DIR
    mkdir -p "$1/etc" "$1/var/lib/dpkg" "$1/var/log"
    printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' \
        >"$1/etc/os-release"
}
host_root hostA
{ stanza libfoo1 1.0-1 foo; stanza bar 2.0-1; stanza zed 1.0-1; } >hostA/var/lib/dpkg/status
host_root hostB
{ stanza bar 2.0-1; stanza baz 3.0-1; } >hostB/var/lib/dpkg/status
cat >tracker.json <<'JSON'
{
  "foo": { "CVE-2026-0001": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "1.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "bar": { "CVE-2026-0002": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "2.0-1+deb12u1",
                    "urgency": "high" } } } }
}
JSON
cat >DSA-list <<LIST
[$(day 5)] DSA-9001-1 foo - security update
	{CVE-2026-0001}
	[bookworm] - foo 1.0-1+deb12u1
[$(day 20)] DSA-9002-1 bar - security update
	{CVE-2026-0002}
	[bookworm] - bar 2.0-1+deb12u1
LIST

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
for n in 1 2; do
    agent_conf "$PORT" agent-$n >agent-$n.conf
    # agent-1 streams synthetic events all along: the backup is taken
    # while batches are being committed.
    [ $n = 2 ] || printf '[dummy]\nrate = 400\n' >>agent-1.conf
    printf '[inventory]\nroot = host%s\n' "$(echo $n | tr 12 AB)" >>agent-$n.conf
    start agent-$n env TZ=UTC "$AGENT" -c agent-$n.conf
done
wait_for 60 "two hosts' inventories" '[ "$(sql c.db "select count(distinct host_id) from package_history")" = 2 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
admin() { VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key "$CTL" "$@"; }
auditor() { VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key "$CTL" "$@"; }
expect_exit 0 admin advisories import tracker.json
expect_exit 0 admin advisories import DSA-list
wait_for 30 "ingest under way" '[ "$(sql c.db "select count(*) from events")" -gt 1000 ]'

# Admin only; usage.
expect_exit 1 auditor db backup nope.db
expect_in err.txt "permission denied"
[ ! -e nope.db ] || fail "a refused backup left a file"
expect_exit 2 admin db backup
expect_exit 2 admin db restore x.db
expect_exit 0 admin db --help
expect_in out.txt "OPERATIONS.md"

# The backup, while agent-1 streams.
before=$(sql c.db "select count(*) from events")
t0=$(date +%s%N)
expect_exit 0 admin db backup b.db
t1=$(date +%s%N)
echo "figure: db backup of a $(stat -c %s b.db)-byte database during ingest: $(( (t1 - t0) / 1000000 )) ms"
expect_in out.txt "matches the collector's"
[ "$(mode b.db)" = 600 ] || fail "backup mode $(mode b.db), expected 600"
[ ! -e b.db.part ] || fail "b.db.part left behind"
[ "$(sqlite3 b.db 'pragma integrity_check')" = ok ] || fail "the backup fails integrity_check"
sha=$(sed -n 's/.*sha256 \([0-9a-f]\{64\}\).*/\1/p' out.txt)
[ "$sha" = "$(sha256sum b.db | cut -c1-64)" ] || fail "the SHA-256 printed is not the file's"
inb=$(sql b.db "select count(*) from events")
[ "$inb" -ge "$before" ] || fail "the backup holds $inb events, fewer than the $before stored before it began"
[ "$(sql b.db "select value from meta where key = 'schema_version'")" = \
  "$(sql c.db "select value from meta where key = 'schema_version'")" ] || fail "schema version differs"
# Ingest went on: the live database moves past the copy.
wait_for 30 "ingest past the backup" '[ "$(sql c.db "select count(*) from events")" -gt "$inb" ]'
# The collector's temporary copy is gone once fetched.
ls c.db-backup-*.tmp 2>/dev/null && fail "the collector kept its temporary copy"
# Audited: the start and the fetch.
[ "$(sql c.db "select count(*) from audit where action = 'db.backup' and result = 'started'")" = 1 ] ||
    fail "backup start not audited"
[ "$(sql c.db "select count(*) from audit where action = 'db.backup' and result = 'served'")" = 1 ] ||
    fail "backup fetch not audited"
# Never over an existing file, unless --force.
expect_exit 1 admin db backup b.db
expect_in err.txt "exists; it was left unchanged"
[ "$(sha256sum b.db | cut -c1-64)" = "$sha" ] || fail "b.db changed without --force"
expect_exit 0 admin --json db backup --force b2.db
jq -e '.size > 0 and (.sha256 | length) == 64 and .schema_version > 0' out.txt >/dev/null ||
    fail "db backup --json: $(cat out.txt)"

# The restore, as OPERATIONS.md has it: the copy put in place as the
# database of a collector (here a second one, on another port).
mkdir restored
cp b.db restored/c.db
PORT2=$(free_port)
collector_conf "$PORT2" restored/c.db >collector2.conf
start collector2 "$COLLECTOR" -c collector2.conf
wait_for 30 "restored collector up" 'grep -q "listening on" collector2.log'
two() { VIGIL_COLLECTOR=127.0.0.1:$PORT2 "$@"; }

# The same hosts (what does not change with time; both see agents
# agent-1 and agent-2 with the same identity, OS and tags).
proj='map({agent_id, hostname, tags, os, kernel, agent_version, first_seen, revoked, isolated,
          packages_changed, pending_updates, machine_id}) | sort_by(.agent_id)'
expect_exit 0 auditor --json hosts
jq "$proj" out.txt >hosts1.json
expect_exit 0 two auditor --json hosts
jq "$proj" out.txt >hosts2.json
[ "$(jq length hosts1.json)" = 2 ] || fail "original: $(cat hosts1.json)"
diff -u hosts1.json hosts2.json || fail "the restored collector's hosts differ"
expect_exit 0 two auditor hosts
expect_in out.txt agent-1
expect_in out.txt offline

# The same report, generated at the same moment (as of the backup's
# time, so that neither depends on when it runs), minus the last column
# of every row: the time each was generated.
asof=$(date -u -d "@$(( $(date +%s) - 1 ))" +%Y-%m-%dT%H:%M:%SZ)
sleep 1
expect_exit 0 auditor report patch --format csv --as-of "$asof" -o r1.csv
expect_exit 0 two auditor report patch --format csv --as-of "$asof" -o r2.csv
for f in r1.csv r1-hosts.csv r2.csv r2-hosts.csv; do
    sed 's/,[^,]*$//' "$f" >"$f.cmp"
done
[ "$(grep -c . r1.csv.cmp)" -gt 2 ] || fail "report r1.csv: $(cat r1.csv)"
grep -q CVE-2026-0002 r1.csv.cmp || fail "no finding in the report: $(cat r1.csv)"
diff -u r1.csv.cmp r2.csv.cmp || fail "the restored collector's report differs"
diff -u r1-hosts.csv.cmp r2-hosts.csv.cmp || fail "the restored collector's hosts table differs"
# Its audit chain holds, the backup's own entries in it.
expect_exit 0 two auditor audit --verify
expect_exit 0 two auditor audit
expect_in out.txt "db.backup"
