# vigilctl pki: CA creation, issuing for every role, SANs, modes, expiry,
# refusals.  Certificates are cross-checked with openssl, which shares no
# code with mbedtls.
. "$VG_ROOT/tests/e2e/lib.sh"

expect_exit 0 "$CTL" pki init --dir pki
[ "$(mode pki)" = 700 ] || fail "pki dir mode $(mode pki)"
[ "$(mode pki/ca.key)" = 600 ] || fail "ca.key mode $(mode pki/ca.key)"
expect_in out.txt 'CA "Vigil CA"'

# A second init must not destroy the CA.
sum=$(sha256sum pki/ca.key)
expect_exit 1 "$CTL" pki init --dir pki
expect_in err.txt "refusing to replace"
expect_in err.txt "--force"
[ "$sum" = "$(sha256sum pki/ca.key)" ] || fail "ca.key changed"

expect_exit 0 "$CTL" pki issue --dir pki --role collector --name collector1 \
    --san collector1.example.org --san 127.0.0.1 --san ::1
for r in agent responder auditor admin; do
    expect_exit 0 "$CTL" pki issue --dir pki --role $r --name "$r-1"
done
for f in collector1 agent-1 responder-1 auditor-1 admin-1; do
    [ "$(mode pki/$f.key)" = 600 ] || fail "$f.key mode $(mode pki/$f.key)"
    openssl verify -CAfile pki/ca.crt pki/$f.crt >/dev/null || fail "openssl rejects $f.crt"
    openssl pkey -in pki/$f.key -noout 2>/dev/null || fail "openssl cannot read $f.key"
done

# Role in OU, name in CN, SANs, extended key usage.
openssl x509 -in pki/collector1.crt -noout -subject -ext subjectAltName,extendedKeyUsage >x509.txt
expect_in x509.txt "CN = collector1, OU = collector, O = Vigil"
expect_in x509.txt "DNS:collector1.example.org"
expect_in x509.txt "IP Address:127.0.0.1"
expect_in x509.txt "TLS Web Server Authentication"
openssl x509 -in pki/responder-1.crt -noout -subject -ext extendedKeyUsage >x509.txt
expect_in x509.txt "OU = responder"
expect_in x509.txt "TLS Web Client Authentication"
# The key matches the certificate.
[ "$(openssl x509 -in pki/agent-1.crt -noout -pubkey)" = "$(openssl pkey -in pki/agent-1.key -pubout)" ] ||
    fail "agent-1.key does not match agent-1.crt"

# pki show, text and JSON, with verification against the CA.
expect_exit 0 "$CTL" pki show pki/collector1.crt --ca pki/ca.crt
expect_in out.txt "role:        collector"
expect_in out.txt "verify:      ok"
expect_exit 0 "$CTL" --json pki show pki/collector1.crt --ca pki/ca.crt
expect_in out.txt '"role": "collector"'
expect_in out.txt '"verified": true'
expect_in out.txt '"collector1.example.org"'
expect_in out.txt '"server_auth": true'

# Default validity: 90 days for agents and operators, 365 for collectors.
days_left() {
    end=$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)
    echo $(( ($(date -d "$end" +%s) - $(date +%s) + 3600) / 86400 ))
}
[ "$(days_left pki/agent-1.crt)" = 90 ] || fail "agent validity $(days_left pki/agent-1.crt) days"
[ "$(days_left pki/responder-1.crt)" = 90 ] || fail "responder validity $(days_left pki/responder-1.crt)"
[ "$(days_left pki/collector1.crt)" = 365 ] || fail "collector validity $(days_left pki/collector1.crt)"
expect_exit 0 "$CTL" pki issue --dir pki --role agent --name short --days 7
[ "$(days_left pki/short.crt)" = 7 ] || fail "--days 7 gave $(days_left pki/short.crt)"

# An expired certificate, on request.
expect_exit 0 "$CTL" pki issue --dir pki --role agent --name expired --not-after 2020-01-01T00:00:00Z
expect_exit 1 "$CTL" pki show pki/expired.crt --ca pki/ca.crt
expect_in out.txt "EXPIRED"
expect_in out.txt "FAILED"
if openssl verify -CAfile pki/ca.crt pki/expired.crt >ossl.txt 2>&1; then fail "openssl accepts expired"; fi
expect_in ossl.txt "expired"

# A certificate from another CA does not verify.
expect_exit 0 "$CTL" pki init --dir other
expect_exit 0 "$CTL" pki issue --dir other --role agent --name stranger
expect_exit 1 "$CTL" pki show other/stranger.crt --ca pki/ca.crt
expect_in out.txt "FAILED"

# Existing files are kept unless --force.
sum=$(sha256sum pki/agent-1.key)
expect_exit 1 "$CTL" pki issue --dir pki --role agent --name agent-1
expect_in err.txt "already exists"
[ "$sum" = "$(sha256sum pki/agent-1.key)" ] || fail "agent-1.key replaced without --force"
expect_exit 0 "$CTL" pki issue --dir pki --role agent --name agent-1 --force
[ "$sum" != "$(sha256sum pki/agent-1.key)" ] || fail "--force did not replace"

# Usage errors exit 2 and say what to do.
expect_exit 2 "$CTL" pki issue --dir pki --role root --name x
expect_in err.txt "agent, collector, responder, auditor or admin"
expect_exit 2 "$CTL" pki issue --dir pki --role agent
expect_exit 2 "$CTL" pki issue --dir pki --role agent --name 'a,OU=admin'
expect_exit 2 "$CTL" pki issue --dir pki --role collector --name c --san 'bad name'
expect_exit 2 "$CTL" pki issue --dir pki --role agent --name x --not-after tomorrow
expect_exit 2 "$CTL" pki issue --dir pki --role agent --name x --days 5 --not-after 2030-01-01
expect_exit 2 "$CTL" pki frobnicate
expect_exit 2 "$CTL" pki init
# Failures exit 1 and point at the fix.
expect_exit 1 "$CTL" pki issue --dir nowhere --role agent --name x
expect_in err.txt "pki init --dir nowhere"
chmod 644 pki/ca.key
expect_exit 1 "$CTL" pki issue --dir pki --role agent --name x
expect_in err.txt "chmod 600"
chmod 600 pki/ca.key
expect_exit 1 "$CTL" pki show no-such.crt
expect_in err.txt "no-such.crt"
echo ok
