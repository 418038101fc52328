# vg-timeout: 180
# Drop-ins: both daemons read FILE.d/*.conf after FILE, in name order
# (strcmp), a later value replacing an earlier one; other names, hidden
# files and directories are ignored; a bad line names the drop-in and
# the line; relative paths are relative to the drop-in's directory; a
# reload (SIGHUP) reads the directory again.  Checked in --dump-config
# and in what the programs do (the tags the collector stores, the
# retention a reload logs).
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)

# ---- the collector ----
collector_conf "$PORT" c.db >collector.conf
printf '[retention]\nevents_max_age = 60d\n' >>collector.conf
mkdir collector.conf.d
printf '[retention]\nevents_max_age = 30d\n' >collector.conf.d/10-a.conf
printf '[retention]\nevents_max_age = 7d\n' >collector.conf.d/20-b.conf
# Not drop-ins: each would fail the check if it were read.
printf '[retention]\nevents_max_age = 1d\n' >collector.conf.d/30-c.conf.disabled
printf 'not a configuration\n' >collector.conf.d/README
printf '[nowhere]\n' >collector.conf.d/.40-hidden.conf
mkdir collector.conf.d/50-dir.conf
expect_exit 0 "$COLLECTOR" -c collector.conf --check-config
expect_in out.txt "collector.conf (+2 drop-ins): configuration OK"
expect_exit 0 "$COLLECTOR" -c collector.conf --dump-config
expect_in out.txt "events_max_age = 604800s"

# A bad line: the drop-in and the line are named, exit 1.
printf '# local\n[retention]\nevents_max_age = soon\n' >collector.conf.d/25-bad.conf
expect_exit 1 "$COLLECTOR" -c collector.conf --check-config
expect_in err.txt "collector.conf.d/25-bad.conf:3: [retention] events_max_age: 'soon' is not a duration"
expect_not_in out.txt "configuration OK"
rm collector.conf.d/25-bad.conf

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

# ---- the agent ----
agent_conf "$PORT" agent-1 "site=test" >agent.conf
cat >>agent.conf <<CONF
[telemetry]
process_source = off
[dummy]
rate = 10
CONF
mkdir agent.conf.d
# The main file's [tls] ca, replaced by a path relative to the drop-in.
printf '[agent]\ntags = site=leeds\ntags = ward=7\n[tls]\nca = ../pki/ca.crt\n' \
    >agent.conf.d/50-site.conf
printf '[agent]\ntags = site=leeds, ward=9\n' >agent.conf.d/60-ward.conf
printf '[agent]\ntags = site=elsewhere\n' >agent.conf.d/60-ward.conf.bak
expect_exit 0 "$AGENT" -c agent.conf --check-config
expect_in out.txt "agent.conf (+2 drop-ins): configuration OK"
expect_exit 0 "$AGENT" -c agent.conf --dump-config
# A list set again replaces the earlier one (60- after 50-).
expect_in out.txt "tags = site=leeds,ward=9"
expect_in out.txt "ca = $VG_TMP/agent.conf.d/../pki/ca.crt"

start agent "$AGENT" -c agent.conf
APID=$LAST_PID
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
tagged() {
    "$CTL" --json hosts --tag "$1" 2>/dev/null | grep -q '"agent_id": "agent-1"'
}
wait_for 60 "the drop-in's tags at the collector" tagged ward=9

# ---- reload: a new drop-in is read ----
printf '[retention]\nevents_max_age = 3d\n' >collector.conf.d/90-new.conf
kill -HUP "$CPID"
wait_for 30 "collector reload logged" 'grep -q "info: reload: " collector.log'
grep "info: reload: " collector.log | grep -q "\[retention\] events_max_age 7d -> 3d" ||
    fail "the new drop-in is not in the reload: $(grep 'reload' collector.log)"
# A bad drop-in is refused at reload too, named with its line.
printf '[retention]\nevents_max_age = 1d\nevents_max_age = 2d\n' >collector.conf.d/95-twice.conf
kill -HUP "$CPID"
wait_for 30 "reload refused" 'grep -q "reload refused" collector.log'
grep "reload refused" collector.log | grep -q "collector.conf.d/95-twice.conf:3: \[retention\] events_max_age is set twice" ||
    fail "the bad drop-in is not named: $(grep 'reload refused' collector.log)"
kill -0 "$CPID" || fail "collector died on a refused reload"

printf '[agent]\ntags = site=york\n' >agent.conf.d/70-york.conf
kill -HUP "$APID"
wait_for 30 "agent reload logged" 'grep -q "reload: .*\[agent\] tags site=leeds,ward=9 -> site=york" agent.log'
wait_for 60 "the new drop-in's tag at the collector" tagged site=york
kill -0 "$APID" || fail "agent died on SIGHUP"

stop "$APID"
stop "$CPID"
