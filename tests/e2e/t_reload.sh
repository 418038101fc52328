# vg-timeout: 300
# Reload (SIGHUP) of both daemons with agents streaming.  The collector
# takes a renewed certificate and a changed live key: the agents'
# connections stay (no disconnect, no second hello), new handshakes get
# the new certificate, a restart-only key is logged as needing a restart,
# and an invalid configuration (a key that does not fit the certificate)
# is refused with the file named while everything streams on.  An agent
# takes a changed tag (its network process restarts and resends) and
# refuses an invalid file.  In the end every batch of both agents is
# stored exactly once.
. "$VG_ROOT/tests/e2e/lib.sh"

command -v openssl >/dev/null || { echo "SKIP no openssl"; exit 77; }
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
cp collector.conf collector.conf.orig
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
for i in 1 2; do
    # A connection counted once across reloads: no dead-peer timeout may
    # end it on a loaded machine (the collector still closes a silent one
    # after its idle_timeout).
    agent_conf "$PORT" agent-$i "site=leeds" | sed 's/^dead_after = .*/dead_after = 60s/' >agent$i.conf
    cat >>agent$i.conf <<CONF
[telemetry]
process_source = off
[dummy]
rate = 50
CONF
    start agent$i "$AGENT" -c agent$i.conf
    eval "APID$i=\$LAST_PID"
done
hellos() { grep -c "info: agent $1 .* connected from" collector.log; }
connected() { [ "$(hellos agent-1)" -ge 1 ] && [ "$(hellos agent-2)" -ge 1 ]; }
wait_for 60 "both agents connected" connected
events() { sql c.db "select count(*) from events"; }
more_events() { [ "$(events)" -gt "$1" ]; }
wait_for 30 "events stored" more_events 50

serial() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=//' | tr a-f A-F; }
served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile pki/ca.crt \
        -cert pki/auditor-1.crt -key pki/auditor-1.key </dev/null 2>/dev/null |
        openssl x509 -noout -serial | sed 's/^serial=//' | tr a-f A-F
}
old=$(serial pki/collector.crt)
[ "$(served_serial)" = "$old" ] || fail "the collector does not serve pki/collector.crt"

# 1. A renewed certificate, a live key changed and a restart-only one.
"$CTL" pki issue --dir pki --role collector --name collector --san localhost --san 127.0.0.1 \
    --force >/dev/null
new=$(serial pki/collector.crt)
[ "$new" != "$old" ] || fail "the renewed certificate has the old serial"
{
    cat collector.conf.orig
    printf '[retention]\nevents_max_age = 30d\n'
} >collector.conf
sed -i 's/^heartbeat = 1s/heartbeat = 1s\nmax_frame = 4M/' collector.conf
kill -HUP "$CPID"
wait_for 30 "reload logged" 'grep -q "info: reload: " collector.log'
line=$(grep "info: reload: " collector.log)
case $line in *"[tls] cert changed"*"valid until"*) ;; *) fail "no cert change in: $line" ;; esac
case $line in *"[retention] events_max_age 90d -> 30d"*) ;; *) fail "no key change in: $line" ;; esac
case $line in *"2 connections kept, 0 closed"*) ;; *) fail "connections: $line" ;; esac
expect_in collector.log "[collector] max_frame changed (8388608 -> 4194304): needs a restart"
kill -0 "$CPID" || fail "collector died on SIGHUP"
[ "$(served_serial)" = "$new" ] || fail "a new handshake does not get the renewed certificate"
# The agents' connections stay: they stream on, with no new hello.
n=$(events)
wait_for 30 "events after the reload" more_events "$n"
[ "$(hellos agent-1)" = 1 ] && [ "$(hellos agent-2)" = 1 ] ||
    fail "an agent reconnected across the reload: $(grep 'connected from\|disconnected' collector.log)"
expect_not_in collector.log "disconnected"

# 2. An invalid configuration: the key does not fit the certificate.
sed 's#^key = pki/collector.key#key = pki/agent-1.key#' collector.conf >collector.conf.bad
cp collector.conf.bad collector.conf
kill -HUP "$CPID"
wait_for 30 "reload refused" 'grep -q "reload refused" collector.log'
expect_in collector.log "reload refused, running on with the previous configuration: collector.conf: [tls]: private key $PWD/pki/agent-1.key does not belong to certificate"
kill -0 "$CPID" || fail "collector died on an invalid reload"
[ "$(served_serial)" = "$new" ] || fail "the refused reload changed the certificate"
n=$(events)
wait_for 30 "events after the refused reload" more_events "$n"
[ "$(hellos agent-1)" = 1 ] && [ "$(hellos agent-2)" = 1 ] || fail "an agent reconnected"
# A parse error is refused too, naming the file and line.
printf '[collector]\nno_such_key = 1\n' >>collector.conf
kill -HUP "$CPID"
wait_for 30 "second refusal" '[ "$(grep -c "reload refused" collector.log)" -ge 2 ]'
grep "reload refused" collector.log | tail -1 | grep -q "collector.conf:[0-9]*:.*no_such_key" ||
    fail "the parse error is not named: $(grep 'reload refused' collector.log | tail -1)"
cp collector.conf.orig collector.conf

# 3. The agent: a changed tag is applied, the process keeps running.
cp agent1.conf agent1.conf.good
sed -i 's/^tags = site=leeds/tags = site=york/' agent1.conf
kill -HUP "$APID1"
wait_for 30 "agent reload logged" 'grep -q "reload: .*\[agent\] tags site=leeds -> site=york" agent1.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
york() {
    "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key --json hosts --tag site=york 2>/dev/null |
        grep -q '"agent_id": "agent-1"'
}
wait_for 60 "the new tag at the collector" york
kill -0 "$APID1" || fail "agent died on SIGHUP"
# An invalid file is refused; the agent streams on.
printf '[agent]\ntags = not-a-tag\n' >>agent1.conf
kill -HUP "$APID1"
wait_for 30 "agent reload refused" 'grep -q "reload refused" agent1.log'
expect_in agent1.log "reload refused, running on with the previous configuration: agent1.conf: [agent] tags: 'not-a-tag' is not key=value"
kill -0 "$APID1" || fail "agent died on an invalid reload"
n=$(sql c.db "select count(*) from events e join hosts h on h.id = e.host_id where h.agent_id='agent-1'")
wait_for 30 "agent-1 streams on" '[ "$(sql c.db "select count(*) from events e join hosts h on h.id = e.host_id where h.agent_id='"'agent-1'"'")" -gt "$n" ]'

# 4. Everything stops; every batch of both agents stored exactly once.
stop "$APID1"
stop "$APID2"
stop "$CPID"
for i in 1 2; do
    last=$(last_seq agent$i.log)
    [ -n "$last" ] || fail "no last sequence in agent$i.log"
    got=$(sql c.db "select count(*) || ' ' || count(distinct b.seq) || ' ' || min(b.seq) || ' ' || max(b.seq) || ' ' || count(distinct b.epoch) from batches b join hosts h on h.id = b.host_id where h.agent_id='agent-$i'")
    [ "$got" = "$last $last 1 $last 1" ] ||
        fail "agent-$i: batches (count distinct min max epochs) = $got, expected $last $last 1 $last 1"
done
[ "$(sql c.db "select count(*) from events")" = "$(sql c.db "select sum(events) from batches")" ] ||
    fail "events stored do not match the batches' event counts"
expect_not_in agent2.log "error"

# 5. A changed CA bundle: a connection whose certificate the new bundle
# does not verify is closed, the others stay.  The collector trusts both
# CAs, then only a new one (with its certificate from it); agent-1's
# certificate is from the old CA, agent-3's from the new.
"$CTL" pki init --dir pki2 >/dev/null
"$CTL" pki issue --dir pki2 --role collector --name collector --san localhost --san 127.0.0.1 >/dev/null
"$CTL" pki issue --dir pki2 --role agent --name agent-3 >/dev/null
cat pki/ca.crt pki2/ca.crt >both.crt
sed 's#^ca = pki/ca.crt#ca = both.crt#' collector.conf.orig >collector.conf
start collector3 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector3.log'
start agent1b "$AGENT" -c agent1.conf.good
APID1=$LAST_PID
agent_conf "$PORT" agent-3 | sed 's/^dead_after = .*/dead_after = 60s/' >agent3.conf
sed -i 's#^ca = pki/ca.crt#ca = both.crt#; s#pki/agent-3#pki2/agent-3#' agent3.conf
start agent3 "$AGENT" -c agent3.conf
APID3=$LAST_PID
up() { grep -q "info: agent agent-1 .* connected from" collector3.log &&
       grep -q "info: agent agent-3 .* connected from" collector3.log; }
wait_for 60 "agents 1 and 3 connected" up
sed 's#^ca = pki/ca.crt#ca = pki2/ca.crt#; s#^cert = pki/collector.crt#cert = pki2/collector.crt#; s#^key = pki/collector.key#key = pki2/collector.key#' \
    collector.conf.orig >collector.conf
kill -HUP "$CPID"
wait_for 30 "reload logged" 'grep -q "info: reload: " collector3.log'
line=$(grep "info: reload: " collector3.log)
case $line in *"[tls] ca changed"*"1 connections kept, 1 closed"*) ;; *) fail "CA change: $line" ;; esac
expect_in collector3.log "reload: closing agent-1 (127.0.0.1): its certificate"
expect_in collector3.log "does not verify against the new [tls] ca"
wait_for 30 "agent-1's connection closed" 'grep -q "agent agent-1 .* disconnected" collector3.log'
! grep -q "agent agent-3 .* disconnected" collector3.log || fail "agent-3 was disconnected"
[ "$(grep -c "info: agent agent-3 .* connected from" collector3.log)" = 1 ] || fail "agent-3 reconnected"
kill -0 "$CPID" || fail "collector died"
# Reconnecting, agent-1 resumes its TLS session (a ticket skips the
# certificate's verification): refused all the same.
wait_for 30 "agent-1 refused on its return" \
    'grep -q "refused agent agent-1 .*does not verify against \[tls\] ca" collector3.log'
[ "$(grep -c "info: agent agent-1 .* connected from" collector3.log)" = 1 ] ||
    fail "agent-1 got back in after the CA change"
stop "$APID3"
kill -TERM "$APID1"
stop "$CPID"
echo ok
