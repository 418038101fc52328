# vg-timeout: 180
# Operators as identities: `vigilctl operators` lists the operator
# certificates the collector has seen; `vigilctl revoke --operator NAME`
# closes that operator's live connection at once and refuses it from
# then on, a resumed TLS session included, across a restart; --serial
# revokes a certificate never seen; only an admin may revoke (refusals
# audited); `vigilctl pki crl` signs the revoked list as a CRL (DER and
# PEM) that openssl reads; operator certificates last 90 days by default.
. "$VG_ROOT/tests/e2e/lib.sh"
command -v openssl >/dev/null || { echo "SKIP no openssl"; exit 77; }

make_pki pki
"$CTL" pki issue --dir pki --role responder --name spare >/dev/null
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
as() { r=$1; shift; VIGIL_CERT=pki/$r.crt VIGIL_KEY=pki/$r.key "$@"; }
# refused NAME SERIAL: vigilctl (a full handshake) is refused for a revoked
# certificate.  It may see the refusal or only the closed connection.
refused() {
    as "$1" expect_exit 1 "$CTL" hosts
    grep -q "certificate of $1 (serial $2) is revoked;" collector.log ||
        fail "no full-handshake refusal of $1 in the collector's log"
}

# Default lifetime of an operator certificate: 90 days.
expect_exit 0 "$CTL" --json pki show pki/responder-1.crt
days=$(( ($(date -d "$(jq -r .not_after out.txt)" +%s) - $(date +%s)) / 86400 ))
[ "$days" -ge 89 ] && [ "$days" -le 90 ] || fail "operator certificate valid $days days, not 90"
RSERIAL=$(jq -r .serial out.txt)

# Seen at a request: listed with name, role, serial and last use.
as responder-1 expect_exit 0 "$CTL" hosts
as auditor-1 expect_exit 0 "$CTL" --json operators
jq -e --arg s "$RSERIAL" '.[] | select(.name == "responder-1" and .role == "responder"
    and .serial == $s and .last_seen != null and .revoked == false)' out.txt >/dev/null ||
    fail "operators: $(cat out.txt)"
jq -e '.[] | select(.name == "auditor-1")' out.txt >/dev/null || fail "auditor-1 not listed"
as auditor-1 expect_exit 0 "$CTL" operators
expect_in out.txt "NAME"
expect_in out.txt "responder-1"

# Only an admin revokes; the refusal is audited.
as responder-1 expect_exit 1 "$CTL" revoke --operator auditor-1 --reason "mine now"
expect_in err.txt "permission denied"
as admin-1 expect_exit 1 "$CTL" revoke --operator nobody --reason "typo"
expect_in err.txt "no unrevoked operator certificate named 'nobody'"
as admin-1 expect_exit 2 "$CTL" revoke --operator a --serial 01 --reason x
as admin-1 expect_exit 1 "$CTL" revoke --serial zz --reason x
expect_in err.txt "not a certificate serial"

# responder-1 connected and working (a query a second), from Python so
# that the resumed session can be offered after the revocation.
python3 "$VG_ROOT/tests/e2e/vgpeer.py" operator "127.0.0.1:$PORT" pki/ca.crt \
    pki/responder-1.crt pki/responder-1.key 120 >peer.txt 2>peer.err &
PEER=$!
wait_for 30 "responder-1 connected" 'grep -q "^up" peer.txt'
as auditor-1 expect_exit 0 "$CTL" --json operators
jq -e '.[] | select(.name == "responder-1") | .connected == true' out.txt >/dev/null ||
    fail "responder-1 not shown connected: $(cat out.txt)"

as admin-1 expect_exit 0 "$CTL" --json revoke --operator responder-1 --reason "laptop stolen"
jq -e --arg s "$RSERIAL" '.operator == "responder-1" and .serials == [$s]
    and .connections_closed == 1' out.txt >/dev/null || fail "revoke: $(cat out.txt)"
# The live connection is closed by the revocation, not by a timeout.
wait_for 30 "live connection closed" 'grep -q "^closed: this operator certificate was revoked" peer.txt'
# Its resumed session is refused.
wait_for 30 "resumed session refused" 'grep -q "^refused" peer.txt'
wait "$PEER" || fail "vgpeer failed: $(cat peer.err)"
grep -qx "resumed True" peer.txt || fail "the session was not resumed: $(cat peer.txt)"
expect_in collector.log "certificate of responder-1 (serial $RSERIAL) is revoked (a resumed TLS session)"
# And a full handshake.
refused responder-1 "$RSERIAL"

# By serial: a certificate never seen.
expect_exit 0 "$CTL" --json pki show pki/spare.crt
SSERIAL=$(jq -r .serial out.txt)
LOWER=$(echo "$SSERIAL" | tr -d : | tr A-F a-f)
as admin-1 expect_exit 0 "$CTL" --json revoke --serial "$LOWER" --reason "never handed out"
jq -e --arg s "$SSERIAL" '.serials == [$s]' out.txt >/dev/null || fail "revoke --serial: $(cat out.txt)"
refused spare "$SSERIAL"

# The list and the audit log.
as auditor-1 expect_exit 0 "$CTL" --json revoked
jq -e --arg a "$RSERIAL" --arg b "$SSERIAL" '([.[] | .serial] | sort) == ([$a, $b] | sort)
    and (.[] | select(.serial == $a) | .subject == "operator responder-1"
         and .reason == "laptop stolen" and .revoked_by == "admin admin-1")' out.txt >/dev/null ||
    fail "revoked: $(cat out.txt)"
cp out.txt revoked.json
as auditor-1 expect_exit 0 "$CTL" --json operators
jq -e '.[] | select(.name == "responder-1") | .revoked == true and .connected == false' \
    out.txt >/dev/null || fail "operators does not show the revocation: $(cat out.txt)"
[ "$(sql c.db "select count(*) from audit where action = 'revoke' and target = 'operator responder-1' and result = 'revoked'")" = 1 ] ||
    fail "the revocation is not audited"
[ "$(sql c.db "select count(*) from audit where action = 'revoke' and target = 'operator auditor-1' and result = 'refused'")" = 1 ] ||
    fail "the responder's refusal is not audited"
as auditor-1 expect_exit 0 "$CTL" --json audit --verify

# The CRL, from the collector (DER) and from a saved list (PEM, offline).
as auditor-1 expect_exit 0 "$CTL" pki crl --dir pki --out crl.der
openssl crl -inform DER -in crl.der -noout -text >crl.txt 2>&1 || fail "openssl: $(cat crl.txt)"
for s in "$RSERIAL" "$SSERIAL"; do
    grep -q "Serial Number: $(echo "$s" | tr -d :)" crl.txt || fail "CRL lacks $s: $(cat crl.txt)"
done
openssl crl -inform DER -in crl.der -noout -CAfile pki/ca.crt -verify 2>&1 | grep -q "verify OK" ||
    fail "the CRL's signature does not verify"
expect_exit 0 "$CTL" pki crl --dir pki --out crl.pem --pem --revoked revoked.json
openssl crl -in crl.pem -noout -text | grep -q "Serial Number: $(echo "$RSERIAL" | tr -d :)" ||
    fail "PEM CRL lacks the serial"
openssl verify -crl_check -CAfile pki/ca.crt -CRLfile crl.pem pki/responder-1.crt >v.txt 2>&1 &&
    fail "openssl accepts the revoked certificate: $(cat v.txt)"
grep -q "revoked" v.txt || fail "openssl verify: $(cat v.txt)"
openssl verify -crl_check -CAfile pki/ca.crt -CRLfile crl.pem pki/auditor-1.crt >/dev/null ||
    fail "openssl refuses an unrevoked certificate"

# Across a restart (the resumed session from before, and a new one).
stop "$CPID"
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
refused responder-1 "$RSERIAL"
as auditor-1 expect_exit 0 "$CTL" hosts
