# vg-timeout: 60
# Enrollment signed by an intermediate CA (vigilctl pki issue --role ca),
# so that the root's key stays offline: the agent's certificate comes with
# the intermediate, and mutual TLS against the root works.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
"$CTL" pki issue --dir pki --role ca --name enroll-ca >/dev/null
mv pki/ca.key offline-root.key   # not on the collector host
PORT=$(free_port)
EPORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
cat >>collector.conf <<CONF
[enroll]
listen = 127.0.0.1:$EPORT
ca_cert = pki/enroll-ca.crt
ca_key = pki/enroll-ca.key
CONF
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "enrollment endpoint on" collector.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" enroll-token create
TOKEN=$(cat out.txt)
mkdir a
agent_conf "$PORT" x | sed -e "s|^state_dir = .*|state_dir = a/state|" \
    -e "s|^cert = .*|cert = a/agent.crt|" -e "s|^key = .*|key = a/agent.key|" >a.conf
cat >>a.conf <<CONF
[telemetry]
process_source = off
[enroll]
address = 127.0.0.1:$EPORT
token = $TOKEN
CONF
start agent "$AGENT" -c a.conf
wait_for 20 "enrolled and connected over mutual TLS" 'grep -q "connected to collector" agent.log'
[ "$(grep -c "BEGIN CERTIFICATE" a/agent.crt)" -eq 2 ] || fail "the intermediate is not sent with the certificate"
expect_exit 0 "$CTL" --json pki show a/agent.crt --ca pki/ca.crt
jq -e '.role == "agent" and (.issuer | test("enroll-ca"))' out.txt >/dev/null || fail "issuer: $(cat out.txt)"
