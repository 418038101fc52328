# Package install history to the collector: a host whose dpkg logs (plain
# and gzipped rotations) show installs and upgrades from days before the
# agent first connects sends them once, in full, into package_events; a
# restart sends nothing again; a new log line arrives as a delta; lines
# older than [inventory] history_days stay home; history_days = 0 sends
# none.  A large history goes in parts.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

export TZ=UTC # dpkg logs local time: the fixture's lines are UTC here
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[inventory]\nroot = host\n' >>agent.conf
agent_conf "$PORT" agent-2 >agent2.conf
printf '[inventory]\nroot = host\nhistory_days = 0\n' >>agent2.conf

mkdir -p host/var/lib/dpkg host/var/log
stanza() { printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n' "$1" "$2"; }
{ stanza openssl 3.0.13-1; stanza libc6 2.36-9+deb12u4; } >host/var/lib/dpkg/status
ago() { date -u -d "$1 days ago 12:00:00" '+%Y-%m-%d %H:%M:%S'; }
ms() { echo $(( $(date -u -d "$1" +%s) * 1000 )); }
T30=$(ago 30) T20=$(ago 20) T10=$(ago 10) T6=$(ago 6) T500=$(ago 500)
# A big first install (4500 packages in one second): 3 parts of at most 2000.
seq 0 4499 | awk -v t="$T30" '{ printf "%s install bulk%d:amd64 <none> 1.%d\n", t, $1, $1 }' |
    gzip >host/var/log/dpkg.log.3.gz
printf '%s install openssl:amd64 <none> 3.0.11-1\n%s status installed openssl:amd64 3.0.11-1\n' \
    "$T20" "$T20" | gzip >host/var/log/dpkg.log.2.gz
printf '%s upgrade openssl:amd64 3.0.11-1 3.0.13-1\n' "$T10" >host/var/log/dpkg.log.1
{ printf '%s install ancient:amd64 <none> 0.1\n' "$T500"
  printf '%s upgrade libc6:amd64 2.36-9+deb12u3 2.36-9+deb12u4\n' "$T6"
  printf '%s status installed libc6:amd64 2.36-9+deb12u4\n' "$T6"
  printf 'this is not a dpkg log line\n'; } >host/var/log/dpkg.log

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
START_MS=$(( $(date +%s) * 1000 ))
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
rows() { sql c.db "select count(*) from package_events"; }
wait_for 30 "history stored" '[ "$(rows)" = 4503 ]'
[ "$(sql c.db "select count(distinct name) from package_events where name like 'bulk%' and time_ms = $(ms "$T30")")" = 4500 ] ||
    fail "the bulk install"
sql c.db "select name, arch, action, old_version, new_version, time_ms from package_events
          where name not like 'bulk%' order by time_ms" >got.txt
cat >want.txt <<WANT
openssl|amd64|install||3.0.11-1|$(ms "$T20")
openssl|amd64|upgrade|3.0.11-1|3.0.13-1|$(ms "$T10")
libc6|amd64|upgrade|2.36-9+deb12u3|2.36-9+deb12u4|$(ms "$T6")
WANT
diff -u want.txt got.txt || fail "package_events"
# Stored by the collector after it started, whatever the events' own times.
[ "$(sql c.db "select count(*) from package_events where recv_ms >= $START_MS and manager = 'dpkg'")" = 4503 ] ||
    fail "recv_ms or manager: $(sql c.db "select manager, recv_ms from package_events")"
[ "$(sql c.db "select count(*) from events where kind = 'package_history'")" = 3 ] || fail "not 3 parts"
expect_in agent.log "install history: 4503 events sent (the whole window)"
[ -s state-agent-1/history-dpkg ] || fail "no history mark in the state directory"

# A restart sends the inventory again but not the history.
stop "$APID"
start agent2 "$AGENT" -c agent.conf
APID=$LAST_PID
invs() { sql c.db "select count(*) from events where kind = 'package_inventory'"; }
wait_for 20 "second snapshot" '[ "$(invs)" = 2 ]'
# The history goes (or not) at start, with the snapshot: by now it is decided.
expect_not_in agent2.log "install history:"
[ "$(sql c.db "select count(*) from events where kind = 'package_history'")" = 3 ] ||
    fail "history sent again after a restart"
[ "$(rows)" = 4503 ] || fail "rows after restart: $(rows)"

# dpkg upgrades openssl (a downgrade, even): one new log line, the status
# rewritten by rename.  Only that line goes, as a delta.
NOW=$(date -u '+%Y-%m-%d %H:%M:%S')
printf '%s upgrade openssl:amd64 3.0.13-1 3.0.11-1\n' "$NOW" >>host/var/log/dpkg.log
{ stanza openssl 3.0.11-1; stanza libc6 2.36-9+deb12u4; } >host/var/lib/dpkg/status.new
mv host/var/lib/dpkg/status.new host/var/lib/dpkg/status
wait_for 20 "delta stored" '[ "$(rows)" = 4504 ]'
[ "$(sql c.db "select action || ' ' || old_version || ' ' || new_version from package_events
               where time_ms = $(ms "$NOW")")" = "downgrade 3.0.13-1 3.0.11-1" ] || fail "the delta's row"
[ "$(sql c.db "select count(*) from events where kind = 'package_history'")" = 4 ] || fail "not one delta"
expect_in agent2.log "install history: 1 events sent (new since the last)"

# history_days = 0: no history at all.
start agent3 "$AGENT" -c agent2.conf
A3=$LAST_PID
wait_for 20 "agent-2's snapshot" '[ "$(invs)" = 3 ]'
[ "$(sql c.db "select count(*) from package_events e join hosts h on h.id = e.host_id
               where h.agent_id = 'agent-2'")" = 0 ] || fail "history sent with history_days = 0"
[ ! -e state-agent-2/history-dpkg ] || fail "a mark without history"
stop "$A3"
stop "$APID"
stop "$CPID"
echo ok
