# vg-timeout: 60
# systemd integration without a running systemd: both daemons, given a
# NOTIFY_SOCKET and WATCHDOG_USEC of the test's own, say READY=1, keep
# saying WATCHDOG=1, and STOPPING=1 at the end; the units in
# packaging/systemd pass systemd-analyze verify and security --offline.
. "$VG_ROOT/tests/e2e/lib.sh"

command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (package systemd)"
# listen SOCKET FILE: every datagram on SOCKET, one per line, into FILE.
listen() {
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True: out.write(s.recv(4096).decode().replace("\n", "|") + "\n")' "$1" "$2" &
    VG_PIDS="$VG_PIDS $!"
}
listen "$VG_TMP/c.sock" c.notify
listen "$VG_TMP/a.sock" a.notify
wait_for 5 "listeners" '[ -S c.sock ] && [ -S a.sock ]'

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector env NOTIFY_SOCKET="$VG_TMP/c.sock" WATCHDOG_USEC=400000 "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector READY=1" 'grep -q "^READY=1|STATUS=listening on" c.notify'
wait_for 5 "collector watchdog pings" '[ "$(grep -c "^WATCHDOG=1" c.notify)" -ge 3 ]'

agent_conf "$PORT" agent-1 >agent.conf
printf '[telemetry]\nprocess_source = off\n' >>agent.conf
start agent env NOTIFY_SOCKET="$VG_TMP/a.sock" WATCHDOG_USEC=400000 "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 10 "agent READY=1" 'grep -q "^READY=1|STATUS=agent agent-1" a.notify'
wait_for 5 "agent watchdog pings" '[ "$(grep -c "^WATCHDOG=1" a.notify)" -ge 3 ]'
stop "$APID"
stop "$CPID"
grep -q "^STOPPING=1" a.notify || fail "the agent did not say STOPPING=1"
grep -q "^STOPPING=1" c.notify || fail "the collector did not say STOPPING=1"

# The units: valid, and as hardened as the scores say.
mkdir units
for u in "$VG_ROOT"/packaging/systemd/*.service; do
    sed "s|/usr/sbin/|$VG_BIN/|" "$u" >"units/$(basename "$u")"
done
# verify runs man for each Documentation=man:PAGE(N): the pages as packaged.
mkdir -p man/man1 man/man8
cp "$VG_ROOT"/packaging/man/*.1 man/man1/
cp "$VG_ROOT"/packaging/man/*.8 man/man8/
MANPATH="$VG_TMP/man" systemd-analyze verify units/*.service >verify.txt 2>&1 ||
    { cat verify.txt >&2; fail "systemd-analyze verify"; }
for u in units/*.service; do
    systemd-analyze security --offline=true "$u" >sec.txt 2>&1 || true
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' sec.txt)
    [ -n "$score" ] || { cat sec.txt >&2; fail "no security score for $u"; }
    echo "$(basename "$u"): exposure $score"
done
