# Inventory to the collector: a full snapshot at start, then, when the
# host's dpkg status file changes (rewritten by rename, as dpkg does),
# only a delta; the collector applies it, keeps the history, and its
# inventory matches the host's.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[inventory]\nroot = host\n' >>agent.conf
mkdir -p host/var/lib/dpkg
stanza() { printf 'Package: %s\nStatus: %s\nArchitecture: amd64\nVersion: %s\n\n' "$1" "$2" "$3"; }
{ stanza a "install ok installed" 1.0-1; stanza b "install ok installed" 2.0
  stanza c "install ok installed" 3.0; } >host/var/lib/dpkg/status

mkdir -p host/var/log
printf '2026-03-04 05:06:07 status installed b:amd64 2.0\n' >host/var/log/dpkg.log
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
count() { sql c.db "select count(*) from packages"; }
wait_for 20 "snapshot stored" '[ "$(count)" = 3 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
same() { # the collector's inventory equals the host's
    "$CTL" --json inventory agent-1 | jq -r '.[] | "\(.name) \(.version) \(.arch) \(.status)"' >theirs.txt
    "$AGENT" inventory --root host --json | jq -r '.packages[] | "\(.name) \(.version) \(.arch) \(.status)"' >ours.txt
    diff -u ours.txt theirs.txt
}
same || fail "inventory after the snapshot"
[ "$(sql c.db "select install_time_ms > 0 from packages where name = 'b'")" = 1 ] ||
    fail "install time from dpkg.log not stored"

# dpkg runs: a upgraded, b removed, c purged to config-files, d installed.
{ stanza a "install ok installed" 1.0-2; stanza c "deinstall ok config-files" 3.0
  stanza d "install ok installed" 4.0; } >host/var/lib/dpkg/status.new
mv host/var/lib/dpkg/status.new host/var/lib/dpkg/status
wait_for 20 "delta sent" 'grep -q "packages changed: 1 added, 1 removed, 2 changed" agent.log'
applied() { [ "$(sql c.db "select version from packages where name = 'a'")" = 1.0-2 ] && [ "$(count)" = 3 ]; }
wait_for 20 "delta applied" applied
same || fail "inventory after the delta"
[ "$(sql c.db "select count(*) from events where kind = 'package_delta'")" = 1 ] || fail "not one delta"
[ "$(sql c.db "select count(*) from events where kind = 'package_inventory'")" = 1 ] ||
    fail "a second snapshot was sent"
# History: what went has an end, what came has a start.
[ "$(sql c.db "select count(*) from package_history where name = 'a' and version = '1.0-1' and disappeared_ms is not null")" = 1 ] ||
    fail "a 1.0-1 not closed in history"
[ "$(sql c.db "select count(*) from package_history where name = 'a' and version = '1.0-2' and disappeared_ms is null")" = 1 ] ||
    fail "a 1.0-2 not open in history"
[ "$(sql c.db "select count(*) from package_history where name = 'b' and disappeared_ms is not null")" = 1 ] ||
    fail "b not closed"
[ "$(sql c.db "select count(*) from package_history where name = 'd' and disappeared_ms is null")" = 1 ] ||
    fail "d not opened"

# A restart sends a fresh snapshot; the collector's view stays the same.
stop "$APID"
start agent2 "$AGENT" -c agent.conf
A2=$LAST_PID
wait_for 20 "second snapshot" '[ "$(sql c.db "select count(*) from events where kind = '"'"'package_inventory'"'"'")" = 2 ]'
same || fail "inventory after the second snapshot"
[ "$(sql c.db "select count(*) from package_history")" = 6 ] ||
    fail "history rows: $(sql c.db "select count(*) from package_history"), expected 6"
expect_exit 0 "$CTL" inventory "$(hostname)"
expect_in out.txt "3 packages on agent-1"
# Which hosts have a package, and at which version.
expect_exit 0 "$CTL" --json packages --name a
[ "$(jq -r '.[] | "\(.agent_id) \(.version) \(.status) \(.manager)"' out.txt)" = "agent-1 1.0-2 installed dpkg" ] ||
    fail "packages --name a: $(cat out.txt)"
expect_exit 0 "$CTL" packages --name c
expect_in out.txt "config-files"
expect_exit 0 "$CTL" packages --name nothing
expect_in out.txt "no host has nothing"
expect_exit 2 "$CTL" packages
stop "$A2"
stop "$CPID"
echo ok
