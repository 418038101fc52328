# SIEM export ([export]): Debian's rsyslog with its TLS driver (gtls)
# receives every audit entry and every process event of a run, as RFC
# 5424 messages with ECS JSON, although it is stopped and started again
# mid-run, and later hangs and is killed -9 (at least once: the check
# deduplicates by event.id); the JSON
# lines file holds each exactly once across a clean collector restart,
# and rotates, keeping file_keep files.
# vg-timeout: 300
. "$VG_ROOT/tests/e2e/lib.sh"

command -v rsyslogd >/dev/null || { echo "SKIP no rsyslogd (scripts/install-deps.sh)"; exit 77; }
ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 ||
    { echo "SKIP no rsyslog-gnutls (scripts/install-deps.sh)"; exit 77; }

make_pki pki
"$CTL" pki issue --dir pki --role collector --name syslog --san localhost >/dev/null
# The collector's client certificate for rsyslog: any clientAuth one from
# the receiver's CA (here Vigil's, so an agent-role one).
"$CTL" pki issue --dir pki --role agent --name siem-export >/dev/null
PORT=$(free_port)
SPORT=$(free_port)
MPORT=$(free_port)
while [ "$SPORT" = "$PORT" ] || [ "$MPORT" = "$PORT" ] || [ "$MPORT" = "$SPORT" ]; do
    SPORT=$(free_port)
    MPORT=$(free_port)
done
collector_conf "$PORT" c.db >collector.conf
cat >>collector.conf <<CONF
[export]
file = events.jsonl
file_max_size = 64K
file_keep = 1000
syslog = localhost:$SPORT
syslog_ca = pki/ca.crt
syslog_cert = pki/siem-export.crt
syslog_key = pki/siem-export.key
resend_window = 30s
[metrics]
listen = 127.0.0.1:$MPORT
CONF
agent_conf "$PORT" agent-1 >agent.conf

# Mistakes --check-config names.
bad() { collector_conf "$PORT" c.db; printf '[export]\n%s\n' "$@"; }
bad "syslog = localhost:$SPORT" >bad.conf
expect_exit 1 "$COLLECTOR" -c bad.conf --check-config
expect_in err.txt "[export] syslog is set but syslog_ca is not"
bad "syslog = localhost" "syslog_ca = pki/ca.crt" >bad.conf
expect_exit 1 "$COLLECTOR" -c bad.conf --check-config
expect_in err.txt "[export] syslog 'localhost': expected HOST:PORT"
bad "syslog = localhost:$SPORT" "syslog_ca = pki/ca.crt" "syslog_cert = pki/collector.crt" \
    "syslog_key = pki/collector.key" >bad.conf
expect_exit 1 "$COLLECTOR" -c bad.conf --check-config
expect_in err.txt "syslog_cert $PWD/pki/collector.crt is not usable as a TLS client"
bad "syslog = localhost:$SPORT" "syslog_ca = pki/ca.crt" "syslog_cert = pki/siem-export.crt" >bad.conf
expect_exit 1 "$COLLECTOR" -c bad.conf --check-config
expect_in err.txt "syslog_cert and syslog_key go together"

# The receiver: a client certificate from the CA is required (certvalid);
# only the collector's messages are kept, one a line.
mkdir rs
cat >rsyslog.conf <<CONF
global(workDirectory="$PWD/rs" maxMessageSize="256k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="$PWD/pki/ca.crt"
       defaultNetstreamDriverCertFile="$PWD/pki/syslog.crt"
       defaultNetstreamDriverKeyFile="$PWD/pki/syslog.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="x509/certvalid")
input(type="imtcp" port="$SPORT" address="127.0.0.1")
template(name="line" type="string"
         string="%syslogfacility-text% %syslogseverity-text% %hostname% %app-name% %msgid% %msg%\n")
if \$app-name == "vigil-collector" then {
    action(type="omfile" file="$PWD/received.log" template="line")
}
CONF
rsyslogd -N1 -f rsyslog.conf >rscheck.log 2>&1 || { cat rscheck.log >&2; fail "rsyslog refuses its configuration"; }
start rsyslog rsyslogd -n -f rsyslog.conf -i "$PWD/rs1.pid"
RPID=$LAST_PID
wait_for 20 "rsyslog listening" "ss -tlnH 'sport = :$SPORT' | grep -q ."

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
wait_for 30 "connected to rsyslog" 'grep -q "export: connected to the syslog receiver localhost:$SPORT (TLS-ECDHE-ECDSA" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 30 "agent streaming" '[ "$(sql c.db "select count(*) from processes")" -gt 0 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
# Audited operator actions: refusals (an unknown host, a role too low).
actions() {
    for i in 1 2 3; do
        expect_exit 1 "$CTL" --cert pki/admin-1.crt --key pki/admin-1.key isolate "no-such-$1-$i" --reason "siem test $1"
        expect_exit 1 "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key isolate agent-1 --reason "siem test $1"
    done
}
execs() { sh -c "i=1; while [ \$i -le 200 ]; do /bin/true siem-$1-\$i; i=\$((i + 1)); done"; }
marked() { sql c.db "select count(*) from processes where exe = $(sql_bytes /bin/true) and $(sql_has argv "siem-$1-")"; }
got() { grep -o '"event":{"id":"[a-z]*-[0-9]*"' "$@" | sed 's/.*"id":"//; s/"$//' | sort -u; }
want() { sql c.db "select 'audit-' || id from audit union all select 'proc-' || id from processes" | sort -u; }

actions before
execs before
wait_for 60 "the first execs stored" '[ "$(marked before)" -ge 200 ]'
wait_for 60 "the first records at rsyslog" '[ "$(got received.log | grep -c "^audit-")" -ge 6 ]'

# A reload keeps the export going ([export] is read at start only: a
# change is logged as needing a restart).
sed -i 's/^resend_window = 30s/resend_window = 31s/' collector.conf
kill -HUP "$CPID"
wait_for 20 "reloaded" 'grep -q "reload: " collector.log'
expect_in collector.log "[export] resend_window"
sed -i 's/^resend_window = 31s/resend_window = 30s/' collector.conf

# The receiver stops mid-run; what happens meanwhile waits in the
# database, and comes once it is back.
stop "$RPID"
wait_for 30 "the collector saw the receiver go" 'grep -q "connection to the syslog receiver localhost:$SPORT ended" collector.log'
actions during
execs during
wait_for 60 "the execs during the outage stored" '[ "$(marked during)" -ge 200 ]'
wait_for 30 "a refused reconnect" 'grep -q "cannot connect to the syslog receiver" collector.log'
start rsyslog2 rsyslogd -n -f rsyslog.conf -i "$PWD/rs2.pid"
RPID=$LAST_PID
wait_for 60 "reconnected to rsyslog" '[ "$(grep -c "export: connected to the syslog receiver" collector.log)" -ge 2 ]'

# Then it hangs, and dies (kill -9): what the collector wrote meanwhile
# left its socket but never reached the file.  It is sent again after the
# reconnect, being younger than resend_window.
kill -STOP "$RPID"
actions hang
execs hang
wait_for 60 "the execs during the hang stored" '[ "$(marked hang)" -ge 200 ]'
sleep 1.5
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null || true
wait_for 30 "the collector saw the receiver die" '[ "$(grep -c "connection to the syslog receiver localhost:$SPORT ended" collector.log)" -ge 2 ]'
start rsyslog3 rsyslogd -n -f rsyslog.conf -i "$PWD/rs3.pid"
RPID=$LAST_PID
wait_for 60 "reconnected to rsyslog again" '[ "$(grep -c "export: connected to the syslog receiver" collector.log)" -ge 3 ]'
actions after
execs after
wait_for 60 "the last execs stored" '[ "$(marked after)" -ge 200 ]'

# Every audit entry and process row of the database reaches rsyslog (the
# agent stopped first, so that the set is final).
stop "$APID"
want >want.txt
[ "$(wc -l <want.txt)" -ge 824 ] || fail "only $(wc -l <want.txt) rows to export"
missing() { got received.log | comm -23 want.txt - >missing.txt; [ ! -s missing.txt ]; }
wait_for 90 "every row at rsyslog" missing
want >now.txt
[ "$(got received.log | comm -13 now.txt - | wc -l)" = 0 ] || fail "rsyslog has ids the database does not"
figure_dups=$(( $(grep -c '"event":{"id":"' received.log) - $(wc -l <want.txt) ))
# The metrics say so too, in families OPERATIONS.md lists.
python3 "$VG_ROOT/tests/e2e/promcheck.py" "http://127.0.0.1:$MPORT/metrics" -o m.txt \
    'vigil_collector_export_syslog_connected=1' \
    "vigil_collector_export_records_total{sink=\"syslog\"}>=$(wc -l <want.txt)" \
    "vigil_collector_export_records_total{sink=\"file\"}>=$(wc -l <want.txt)" \
    'vigil_collector_export_rows_lost_total{sink="syslog"}=0' \
    'vigil_collector_export_rows_lost_total{sink="file"}=0' || fail "export metrics"
for n in $(sed -n 's/^# TYPE \(vigil_collector_export[^ ]*\) .*/\1/p' m.txt); do
    grep -q "^| \`$n\` |" "$VG_ROOT/docs/OPERATIONS.md" || fail "$n is not in docs/OPERATIONS.md"
done
echo "figure: rsyslog received $(wc -l <want.txt) records, $figure_dups of them again after the outage"

# RFC 5424 as rsyslog parsed it: facility, severity, hostname, app,
# msgid; the message is the ECS document.
grep -F ' process {"@timestamp":' received.log | head -1 >proc.line
[ -s proc.line ] || fail "no process message"
set -- $(cut -d' ' -f1-5 proc.line)
[ "$1 $2 $4 $5" = "user info vigil-collector process" ] || fail "process header: $(cut -c1-200 proc.line)"
[ "$3" = "$(hostname)" ] || fail "process message hostname $3"
grep -F ' audit {"@timestamp":' received.log | head -1 >audit.line
set -- $(cut -d' ' -f1-5 audit.line)
[ "$1 $2 $4 $5" = "audit warning vigil-collector audit" ] || fail "audit header: $(cut -c1-200 audit.line)"
grep -F '"args":["/bin/true","siem-during-7"]' received.log | head -1 | cut -d' ' -f6- >one.json
[ -s one.json ] || fail "siem-during-7 not received with its argv"
jq -e --arg h "$(hostname)" '.event.kind == "event" and .event.category == ["process"] and
    (.event.type | index("start")) != null and .process.executable == "/bin/true" and
    .process.args_count == 2 and (.process.pid | type) == "number" and
    (.event.type | index("end")) != null and .process.exit_code == 0 and (.process.end | test("Z$")) and
    (.process.parent.pid | type) == "number" and .host.name == $h and .agent.id == "agent-1" and
    (.process.hash.sha256 | length) == 64 and .user.id == "0" and (."@timestamp" | test("Z$"))' \
    one.json >/dev/null || fail "ECS fields: $(cat one.json)"
grep -F '"action":"isolate"' received.log | grep -F 'no-such-during-2' | head -1 | cut -d' ' -f6- >a.json
jq -e '.event.outcome == "failure" and .event.dataset == "vigil.audit" and (.user.name | test("admin-1"))' \
    a.json >/dev/null || fail "audit ECS fields: $(cat a.json)"

# The file: every row exactly once, across a clean restart of the
# collector (its cursor saved at the stop), every line JSON, rotated.
stop "$CPID"
expect_in collector.log "export: $PWD/events.jsonl:"
start collector2 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector back" 'grep -q "listening on" collector2.log'
expect_in collector2.log "export: JSON lines to $PWD/events.jsonl from audit entry"
expect_not_in collector2.log "JSON lines to $PWD/events.jsonl from audit entry 1 and process row 1 on"
actions restart
want >want.txt
files_complete() { got events.jsonl* | comm -23 want.txt - | grep -q . && return 1; return 0; }
wait_for 60 "every row in the file" files_complete
stop "$CPID"
lines=$(cat events.jsonl* | wc -l)
[ "$lines" = "$(got events.jsonl* | wc -l)" ] || fail "the file holds $lines lines for $(got events.jsonl* | wc -l) ids: some twice"
[ -f events.jsonl.1 ] || fail "never rotated"
for f in events.jsonl*; do
    [ "$(stat -c %s "$f")" -le 65536 ] || fail "$f is over file_max_size"
done
cat events.jsonl* | jq -e . >/dev/null || fail "a line is not JSON"

# A new sink (its cursor gone) starts at the oldest row; only file_keep
# rotated files stay.
sql c.db "delete from export_cursors where sink = 'file'"
sed -i 's/^file = events.jsonl/file = again.jsonl/; s/^file_keep = 1000/file_keep = 2/' collector.conf
start collector3 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector again" 'grep -q "export: JSON lines to $PWD/again.jsonl from audit entry 1 and process row 1 on" collector3.log'
wait_for 60 "rotated past file_keep" '[ "$(grep -c "again.jsonl rotated" collector3.log)" -ge 3 ]'
stop "$CPID"
[ "$(ls again.jsonl* | wc -l)" = 3 ] || fail "kept: $(ls again.jsonl*)"
[ -f again.jsonl.2 ] && [ ! -e again.jsonl.3 ] || fail "kept: $(ls again.jsonl*)"
echo ok
