# vg-timeout: 180
# Enrollment limits (issue 19).  Tokens are vge2-SELECTOR-SECRET:
#  - wrong secrets with a token's selector lock that token after 10; the
#    lock shows in `vigilctl enroll-token list` and the right secret is
#    refused from then on;
#  - unknown tokens count against their address: past 10 a minute it is
#    refused unchecked, yet a valid token (its own budget) still enrolls
#    from it, as from a shared NAT;
#  - unknown tokens from 400 addresses meet the global limit (60 a minute,
#    refilled one a second): 400 addresses guess no faster than one, and a
#    valid token still enrolls meanwhile;
#  - an old vge1 token still enrolls, within the address limits;
#  - refusals are audited one by one at first, then summarised.
# Guesses are sent by tests/e2e/vgpeer.py over TLS from 127/8 addresses.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
EPORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
cat >>collector.conf <<CONF
[enroll]
listen = 127.0.0.1:$EPORT
ca_key = pki/ca.key
CONF
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "enrollment endpoint on" collector.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
peer() { python3 "$VG_ROOT/tests/e2e/vgpeer.py" enroll "127.0.0.1:$EPORT" pki/ca.crt "$@"; }
count() { grep -c -- "$1" "$2" || true; }

new_agent() {
    mkdir -p "$1"
    agent_conf "$PORT" x | sed -e "s|^state_dir = .*|state_dir = $1/state|" \
        -e "s|^cert = .*|cert = $1/agent.crt|" -e "s|^key = .*|key = $1/agent.key|" >"$1.conf"
    cat >>"$1.conf" <<CONF
[telemetry]
process_source = off
[enroll]
address = 127.0.0.1:$EPORT
token = $2
CONF
}
# enrolls NAME TOKEN: a real agent (from 127.0.0.1) enrolls with TOKEN.
enrolls() {
    new_agent "$1" "$2"
    start "$1" "$AGENT" -c "$1.conf"
    who=$1
    wait_for 30 "$1 enrolled" '[ -s "$who/agent.crt" ]'
    kill "$LAST_PID"
}

# ---- a token's own lockout ----
expect_exit 0 "$CTL" enroll-token create --label victim --uses 5
VICTIM=$(cat out.txt)
SEL=${VICTIM#vge2-}
SEL=${SEL%%-*}
peer 127.0.0.2 12 "random-vge2:$SEL" >lock.txt
[ "$(count "wrong enrollment token" lock.txt)" -eq 10 ] || fail "wrong secrets: $(sort lock.txt | uniq -c)"
[ "$(count "locked after 10 wrong tries" lock.txt)" -eq 2 ] || fail "after 10: $(sort lock.txt | uniq -c)"
peer 127.0.0.4 1 "$VICTIM" >right.txt
expect_in right.txt "locked after 10 wrong tries"
expect_exit 0 "$CTL" enroll-token list
grep "victim" out.txt | grep -q "LOCKED (10 failures)" || fail "list: $(cat out.txt)"
expect_exit 0 "$CTL" --json enroll-token list
jq -e '.[] | select(.label == "victim") | .failures == 10 and .locked != null' out.txt >/dev/null ||
    fail "list --json: $(cat out.txt)"
[ "$(sql c.db "select count(*) from audit where action = 'enroll-token lock' and result = 'locked'")" -eq 1 ] ||
    fail "the lock is not audited once"
grep -q "locked after 10 wrong secrets" collector.log || fail "the lock is not logged"

# ---- an address's limit, and a valid token from that address ----
peer 127.0.0.1 12 random-vge2 >addr.txt
[ "$(count "unknown enrollment token" addr.txt)" -eq 10 ] || fail "guesses: $(sort addr.txt | uniq -c)"
[ "$(count "from this address" addr.txt)" -eq 2 ] || fail "past 10: $(sort addr.txt | uniq -c)"
# Another address is not limited by it.
peer 127.0.0.5 1 random-vge2 >other.txt
expect_in other.txt "unknown enrollment token"
expect_exit 0 "$CTL" enroll-token create --label nat --uses 2
NAT=$(cat out.txt)
peer 127.0.0.1 1 random-vge1 >still.txt
expect_in still.txt "from this address"
enrolls nat1 "$NAT"

# An old vge1 token (made before selectors) still works, where its
# address is not limited; from the limited one it is refused unchecked.
OLD=vge1-00112233445566778899aabbccddeeff00112233
OLDHASH=$(printf %s "$OLD" | sha256sum | cut -c1-64)
sql c.db "insert into enroll_tokens(hash, label, created_by, created_ms, expires_ms, max_uses, uses)
          values('$OLDHASH', 'old', 'test', 0, 99999999999999, 5, 0)"
peer 127.0.0.1 1 "$OLD" >old1.txt
expect_in old1.txt "from this address"
peer 127.0.0.6 1 "$OLD" >old2.txt
expect_in old2.txt "certificate request" # the token passed; no CSR was sent

# ---- 400 addresses against the global limit ----
# While they guess, a valid token (judged by its own count) enrolls from
# the limited address.
t0=$(date +%s)
peer many 400 random-vge2 >many.txt &
FLOOD=$!
wait_for 60 "the global limit" 'grep -q "from all addresses" many.txt'
enrolls nat2 "$NAT"
wait "$FLOOD" || fail "vgpeer failed"
t1=$(date +%s)
unknown=$(count "unknown enrollment token" many.txt)
global=$(count "from all addresses" many.txt)
echo "400 guesses from 400 addresses in $((t1 - t0)) s: $unknown checked, $global refused by the global limit"
[ $((unknown + global)) -eq 400 ] || fail "answers: $(sort many.txt | uniq -c)"
# 60 a minute with a burst of 60 (some spent by the guesses above).
[ "$unknown" -le $((60 + t1 - t0 + 1)) ] || fail "$unknown guesses checked in $((t1 - t0)) s"
[ "$global" -ge 1 ] || fail "the global limit never held"

stop "$CPID"
rows=$(sql c.db "select count(*) from audit where action = 'enroll' and result = 'refused'")
summ=$(sql c.db "select count(*) from audit where action = 'enroll' and result = 'refused'
                 and detail like '% refused enrollment requests from peers in %'")
counted=$(sql c.db "select detail from audit where detail like '% refused enrollment requests from peers in %'" |
    sed -n 's/.*(\([0-9]*\) of them not logged one by one.*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
refusals=$(cat lock.txt right.txt addr.txt other.txt still.txt old1.txt old2.txt many.txt | grep -vc '^ok$')
echo "$refusals refusals: $rows audit rows, $summ of them summaries counting $counted"
[ "$summ" -ge 1 ] || fail "no summary of refusals in the audit log"
[ "$rows" -lt 60 ] || fail "$rows audit rows for $refusals refusals"
[ $((rows - summ + counted)) -eq "$refusals" ] || fail "the audit accounts for $((rows - summ + counted)) of $refusals refusals"
