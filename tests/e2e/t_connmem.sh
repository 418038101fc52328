# Connection memory: a large inventory frame makes the collector's buffers
# for that connection grow, and they drop back once it is stored; the
# collector reports both (its "connections:" line).
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[inventory]\nroot = host\nhistory_days = 0\n' >>agent.conf
# 3,000 packages with random names and versions: lz4 cannot make the
# snapshot small, so its frame is well over 64 KiB on the wire.
mkdir -p host/var/lib/dpkg
od -An -vtx1 -N 96000 /dev/urandom | tr -d ' \n' | fold -w 64 | head -n 3000 |
    awk '{ printf "Package: p%s\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:%s\n\n",
           substr($0, 1, 24), substr($0, 25) }' >host/var/lib/dpkg/status
[ "$(grep -c '^Package:' host/var/lib/dpkg/status)" = 3000 ] || fail "fixture has not 3000 packages"

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 60 "snapshot stored" '[ "$(sql c.db "select count(*) from packages")" = 3000 ]'

# The last report: "connections: N open, B bytes in their buffers (...;
# the largest frame made one hold P)".
report() { grep 'connections: [0-9]* open' collector.log | tail -1; }
field() { report | sed -n "s/.*$1.*/\\1/p"; }
dropped() {
    open=$(field 'connections: \([0-9]*\) open')
    held=$(field 'open, \([0-9]*\) bytes in their buffers')
    peak=$(field 'made one hold \([0-9]*\))')
    [ "$open" = 1 ] && [ "$peak" -ge 65536 ] && [ "$held" -le 32768 ]
}
# Reported when it changes, at most every 10 s.
wait_for 60 "connection buffers back under 32 KiB after the snapshot" dropped
echo "figure: connection buffers: largest $peak bytes, after the snapshot $held bytes"
kill -0 "$APID" || fail "agent died"

stop "$APID"
stop "$CPID"
expect_in collector.log "the largest frame made one connection hold"
