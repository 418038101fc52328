# vg-timeout: 120
# A peer repeating a refused request (issue 19): an agent identity sends
# 5,000 upload chunks for commands that do not exist, on one connection.
# Each is answered, and every one of them is accounted for, but the audit
# log and the collector's log get the first three one by one and then
# summaries with the count ("N refused upload chunks from agent agent-1
# in T s"), not 5,000 rows and lines.  The audit chain still verifies.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

N=5000
t0=$(date +%s.%N)
python3 "$VG_ROOT/tests/e2e/vgpeer.py" chunks "127.0.0.1:$PORT" pki/ca.crt pki/agent-1.crt \
    pki/agent-1.key agent-1 $N >peer.txt 2>peer.err || { cat peer.err >&2; fail "vgpeer failed"; }
t1=$(date +%s.%N)
grep -qx "acked $N refused $N" peer.txt || fail "peer: $(cat peer.txt peer.err)"
echo "$N refused chunks sent and answered in $(echo "$t1 - $t0" | bc) s"

# The summary comes at the close (or every 10 s during the flood).
wait_for 30 "the summary at the close" \
    'grep -q "refused upload chunks from agent agent-1" collector.log'
one=$(sql c.db "select count(*) from audit where action = 'collection' and result = 'refused'
                and detail like 'upload %which is not a collect command of this host'")
summ=$(sql c.db "select count(*) from audit where action = 'collection' and result = 'refused'
                 and detail like '% refused upload chunks from agent agent-1 %'")
counted=$(sql c.db "select detail from audit where detail like '% refused upload chunks from agent agent-1 %'" |
    sed -n 's/.*(\([0-9]*\) of them not logged one by one.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
rows=$(sql c.db "select count(*) from audit")
lines=$(grep -c "agent-1" collector.log)
echo "audit: $one one by one, $summ summaries counting $counted more; $rows rows in all; $lines log lines about agent-1"
[ "$one" -eq 3 ] || fail "$one refusals audited one by one, expected 3"
[ "$summ" -ge 1 ] && [ "$summ" -le 12 ] || fail "$summ summary rows"
[ $((one + counted)) -eq $N ] || fail "the audit accounts for $((one + counted)) of $N refusals"
[ "$rows" -lt 50 ] || fail "$rows audit rows"
[ "$lines" -lt 50 ] || fail "$lines log lines about agent-1"
logged=$(grep "refused upload chunks from agent agent-1" collector.log |
    sed -n 's/.*(\([0-9]*\) of them not logged one by one.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
[ "$logged" -eq "$counted" ] || fail "the log summaries count $logged, the audit $counted"
grep "refused upload chunks from agent agent-1" collector.log | head -3

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" audit --verify
stop "$CPID"
