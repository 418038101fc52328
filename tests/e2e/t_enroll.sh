# vg-timeout: 240
# Enrollment: a fresh agent with only the CA certificate and a token gets
# a certificate (its key 0600, made on the host; its name the collector's
# UUID; role agent whatever it asked) and streams.  An expired, a used-up,
# a revoked and a forged token are each refused with the reason on both
# sides; only an admin makes tokens; enrollments are audited.  With 30 s
# certificates, the agent renews at two thirds and streams on past the
# first certificate's end with no batch lost.
# The token file is deleted once enrolled, or kept on request; one that
# cannot be deleted (read-only) is recorded and deleted at the next start.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
EPORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
cat >>collector.conf <<CONF
[enroll]
listen = 127.0.0.1:$EPORT
ca_key = pki/ca.key
cert_lifetime = 30s
CONF
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "enrollment endpoint on" collector.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost

VIGIL_CERT=pki/responder-1.crt VIGIL_KEY=pki/responder-1.key expect_exit 1 "$CTL" enroll-token create
expect_in err.txt "permission denied"
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" enroll-token create --label "ward 7 desktops" --uses 1
TOKEN=$(cat out.txt)
echo "$TOKEN" | grep -Eqx 'vge2-[0-9a-f]{16}-[0-9a-f]{40}' || fail "token: $TOKEN"
SECRET=${TOKEN##*-}
sql c.db "select count(*) from enroll_tokens where hash like '%$SECRET%' or selector like '%$SECRET%'
          or label like '%$SECRET%'" | grep -qx 0 || fail "the token is stored in clear"

# new_agent NAME TOKEN: a configuration with no certificate, only the CA.
new_agent() {
    mkdir -p "$1"
    agent_conf "$PORT" x | sed -e "s|^state_dir = .*|state_dir = $1/state|" \
        -e "s|^cert = .*|cert = $1/agent.crt|" -e "s|^key = .*|key = $1/agent.key|" >"$1.conf"
    cat >>"$1.conf" <<CONF
[telemetry]
process_source = off
[dummy]
rate = 10
[enroll]
address = 127.0.0.1:$EPORT
CONF
    [ -z "$2" ] || echo "token = $2" >>"$1.conf"
}

new_agent a1 "$TOKEN"
start a1 "$AGENT" -c a1.conf
A1PID=$LAST_PID
wait_for 20 "enrolled and connected" 'grep -q "connected to collector" a1.log'
# A token written in the configuration itself: the agent says to remove it.
expect_in a1.log "the enrollment token is still written in the configuration ([enroll] token in a1.conf"
[ "$(mode a1/agent.key)" = 600 ] || fail "key mode $(mode a1/agent.key)"
expect_exit 0 "$CTL" --json pki show a1/agent.crt
ID=$(jq -r .name out.txt)
echo "$ID" | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' || fail "CN is not a UUID: $ID"
[ "$(jq -r .role out.txt)" = agent ] || fail "role: $(jq -r .role out.txt)"
wait_for 10 "its data stored" '[ "$(sql c.db "select count(*) from events e join hosts h on h.id = e.host_id where h.agent_id = '"'$ID'"'")" -gt 5 ]'
expect_exit 0 "$CTL" --json enroll-token list
jq -e '.[0].uses == 1 and .[0].label == "ward 7 desktops"' out.txt >/dev/null || fail "token list: $(cat out.txt)"

# refused TOKEN WHY: an agent with that token is refused, saying why.
refused() {
    n=$((n + 1))
    want=$2
    new_agent "r$n" "$1"
    start "r$n" "$AGENT" -c "r$n.conf"
    wait_for 15 "refusal: $want" 'grep -q "$want" r$n.log'
    kill "$LAST_PID"
    grep -q "$want" collector.log || fail "the collector did not log: $want"
    [ ! -e "r$n/agent.crt" ] || fail "a certificate was written after a refusal"
}
n=0
refused "$TOKEN" "used up"
expect_exit 0 "$CTL" enroll-token create --ttl 1s
SHORT=$(cat out.txt)
sleep 1.5
refused "$SHORT" "expired at"
expect_exit 0 "$CTL" enroll-token create
REV=$(cat out.txt)
expect_exit 0 "$CTL" enroll-token revoke "$REV"
refused "$REV" "was revoked"
refused "vge1-0000000000000000000000000000000000000000" "unknown enrollment token"

expect_exit 0 "$CTL" --json audit
jq -e '([.entries[] | select(.action == "enroll" and .result == "enrolled")] | length) == 1
       and ([.entries[] | select(.action == "enroll" and .result == "refused")] | length) == 4' out.txt >/dev/null ||
    fail "enrollments not audited: $(jq -c '[.entries[] | {action, result}]' out.txt)"

# Rotation: renewed before the first certificate ends, streaming past it.
wait_for 40 "renewed" 'grep -q "certificate renewed" a1.log'
grep -q "connected to collector.*as $ID" a1.log || fail "not connected as $ID"
sleep 12
n1=$(sql c.db "select count(*) from events e join hosts h on h.id = e.host_id where h.agent_id = '$ID'")
sleep 3
n2=$(sql c.db "select count(*) from events e join hosts h on h.id = e.host_id where h.agent_id = '$ID'")
[ "$n2" -gt "$n1" ] || fail "no data after the first certificate's end"
stop "$A1PID"
LAST=$(last_seq a1.log)
[ -n "$LAST" ] || fail "no last sequence in a1.log"
batches_exactly_once c.db "$LAST"
[ "$(sql c.db "select count(*) from audit where action = 'renew' and result = 'renewed'")" -ge 1 ] || fail "renewal not audited"

# Whatever the request asks for, the certificate says agent and a UUID.
expect_exit 0 "$CTL" enroll-token create
new_agent sneaky "$(cat out.txt)"
start sneaky env VIGIL_TEST_CSR_SUBJECT="CN=admin-2,OU=admin,O=Vigil" "$AGENT" -c sneaky.conf
wait_for 20 "sneaky enrolled" '[ -s sneaky/agent.crt ]'
kill "$LAST_PID"
expect_exit 0 "$CTL" --json pki show sneaky/agent.crt
[ "$(jq -r .role out.txt)" = agent ] || fail "a CSR got role $(jq -r .role out.txt)"
[ "$(jq -r .name out.txt)" != admin-2 ] || fail "a CSR chose its name"
# --enroll-token on the command line.
expect_exit 0 "$CTL" enroll-token create
T2=$(cat out.txt)
new_agent cli ""
start cli "$AGENT" -c cli.conf --enroll-token "$T2"
wait_for 20 "enrolled from the command line" '[ -s cli/agent.crt ]'
kill "$LAST_PID"

# The token file is deleted once the certificate is installed (a token
# is good for many hosts); [enroll] remove_token_file = no keeps it.
expect_exit 0 "$CTL" enroll-token create --uses 5
T3=$(cat out.txt)
new_agent tf ""
(umask 077 && echo "$T3" >tf.token)
echo "token_file = $VG_TMP/tf.token" >>tf.conf
start tf "$AGENT" -c tf.conf
wait_for 30 "enrolled with a token file" '[ -s tf/agent.crt ]'
wait_for 30 "the token file removed" '[ ! -e tf.token ]'
expect_in tf.log "removed the enrollment token file $VG_TMP/tf.token (no longer needed)"
kill "$LAST_PID"
new_agent keep ""
(umask 077 && echo "$T3" >keep.token)
printf 'token_file = keep.token\nremove_token_file = no\n' >>keep.conf
start keep "$AGENT" -c keep.conf
wait_for 30 "enrolled, keeping the token file" 'grep -q "kept the enrollment token file" keep.log'
[ -s keep/agent.crt ] || fail "no certificate with remove_token_file = no"
[ -s keep.token ] || fail "remove_token_file = no, yet the token file is gone"
kill "$LAST_PID"

# A token file on a read-only file system: a warning naming it, recorded,
# and the file deleted at the first start where it can be.
if ! unshare -m true 2>/dev/null; then
    echo "note: no mount namespaces here; a token file that cannot be deleted is not tested"
    exit 0
fi
new_agent ro ""
mkdir ro-etc
(umask 077 && echo "$T3" >ro-etc/enroll.token)
echo "token_file = $VG_TMP/ro-etc/enroll.token" >>ro.conf
start ro unshare -m --propagation private sh -c \
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" -c ro.conf' \
    sh "$VG_TMP/ro-etc" "$AGENT"
wait_for 30 "the warning" 'grep -q "cannot remove the enrollment token file" ro.log'
expect_in ro.log "cannot remove the enrollment token file $VG_TMP/ro-etc/enroll.token (Read-only file system): delete it"
[ -s ro-etc/enroll.token ] || fail "the token file went from a read-only file system"
[ -s ro/state/enroll-token-left ] || fail "the token file left behind was not recorded"
stop "$LAST_PID"
start ro2 "$AGENT" -c ro.conf
wait_for 30 "removed at the next start" '[ ! -e ro-etc/enroll.token ]'
wait_for 30 "said so" 'grep -q "removed the enrollment token file $VG_TMP/ro-etc/enroll.token left by" ro2.log'
[ ! -e ro/state/enroll-token-left ] || fail "the record stayed after the token file went"
kill "$LAST_PID"
