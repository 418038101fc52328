# Connection capacity (issue 20): the collector raises its descriptor
# limit to fit [collector] max_connections; with a limit it may not raise,
# it takes fewer agents and says how many and what to change; agents past
# max_connections are refused with a reason while operators still get in
# (their reserve), and idle sockets do not take the operators' place.
# vg-timeout: 240
# Runs beside other tests: the limits are its collector's own, and the
# connections are held until the test is done with them (not for a fixed
# time a busy machine could outlast).
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
NAMES=""
for i in $(seq 1 20); do
    "$CTL" pki issue --dir pki --role agent --name "fl-$i" >/dev/null
    NAMES="$NAMES${NAMES:+,}fl-$i"
done
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
sed -i 's/^idle_timeout = .*/idle_timeout = 60s/' collector.conf
printf 'max_connections = 16\n' >cap.txt
sed -i '/^\[collector\]/r cap.txt' collector.conf
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key

# 1. The soft limit is raised to fit (this shell's is lower).
(
    ulimit -S -n 256
    exec "$COLLECTOR" -c collector.conf
) >collector.log 2>&1 &
CPID=$!
VG_PIDS="$VG_PIDS $CPID"
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
lim=$(awk '/^Max open files/ { print $4 }' /proc/$CPID/limits)
echo "figure: descriptor limit raised from 256 to $lim for max_connections = 16"
[ "$lim" -ge $((16 + 64 + 512)) ] || fail "descriptor limit $lim after start"
expect_in collector.log "room for 16 agents and 64 operators"
expect_not_in collector.log "descriptor limit ("

# 2. Twenty agents for sixteen places: four refused with a reason, and
# the connections held stay up.
python3 "$VG_ROOT/tests/e2e/vgpeer.py" hold "127.0.0.1:$PORT" pki/ca.crt pki "$NAMES" 200 >hold.txt 2>&1 &
HPID=$!
VG_PIDS="$VG_PIDS $HPID"
wait_for 90 "every agent answered" '[ "$(grep -c "^ok \|^refused " hold.txt)" = 20 ]'
ok=$(grep -c '^ok ' hold.txt || true)
refused=$(grep -c '^refused .*collector full' hold.txt || true)
[ "$ok" = 16 ] && [ "$refused" = 4 ] || { cat hold.txt; fail "$ok agents in, $refused refused as full"; }
wait_for 30 "the refusals logged" 'grep -q "agent connection limit reached: 16 agents connected" collector.log'

# 3. Operators get in meanwhile, also past 100 idle sockets.
python3 "$VG_ROOT/tests/e2e/idle_flood.py" 127.0.0.1 "$PORT" 100 many flood.txt 2>flood.err &
FPID=$!
VG_PIDS="$VG_PIDS $FPID"
wait_for 30 "100 idle sockets open" 'grep -q "opened 1[0-9][0-9]" flood.txt'
expect_exit 0 "$CTL" hosts
expect_in out.txt "fl-1"
expect_exit 0 "$CTL" --json hosts
[ "$(jq '[.[] | select(.connected)] | length' out.txt)" = 16 ] || fail "connected hosts: $(cat out.txt)"
kill "$FPID"
kill -USR1 "$HPID"
wait "$HPID" || fail "vgpeer hold: $(cat hold.txt)"
expect_in hold.txt "closed 0"
stop "$CPID"
expect_in collector.log "connections refused at the connection limit"

# 4. A hard limit it may not raise (no CAP_SYS_RESOURCE): fewer agents,
# and the log says how many and what to raise.
sed -i 's/^max_connections = 16/max_connections = 20000/' collector.conf
(
    ulimit -n 1000
    exec setpriv --bounding-set -sys_resource "$COLLECTOR" -c collector.conf
) >collector2.log 2>&1 &
CPID=$!
VG_PIDS="$VG_PIDS $CPID"
wait_for 30 "collector up again" 'grep -q "listening on" collector2.log'
expect_in collector2.log "the descriptor limit (1000) holds 168 agent connections, not the 20000 of [collector] max_connections: raise LimitNOFILE= (or ulimit -n) to 20832"
expect_in collector2.log "room for 168 agents"
expect_exit 0 "$CTL" hosts
stop "$CPID"
echo "ok (16 of 20 agents in, 4 refused as full, operators in past 100 idle sockets)"
