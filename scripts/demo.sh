#!/bin/sh
# make demo: a throw-away PKI and configuration under demo/ (git-ignored),
# then the collector and an agent on loopback.
set -eu
cd "$(dirname "$0")/.."
B=${VG_BUILD:-build}
D=demo

rm -rf "$D"
mkdir -p "$D"
echo "== PKI in $D/pki (vigilctl pki)"
"$B/vigilctl" pki init --dir "$D/pki" --name "Vigil Demo CA" --days 400
"$B/vigilctl" pki issue --dir "$D/pki" --role collector --name collector --san localhost --san 127.0.0.1
"$B/vigilctl" pki issue --dir "$D/pki" --role agent --name demo-agent
"$B/vigilctl" pki issue --dir "$D/pki" --role admin --name demo-admin

cat >"$D/collector.conf" <<CONF
[collector]
listen = 127.0.0.1:17443
db = collector.db

[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
cat >"$D/agent.conf" <<CONF
[agent]
state_dir = agent-state
tags = site=demo,department=it

[batch]
max_age = 500ms

[collector]
address = 127.0.0.1:17443

[tls]
ca = pki/ca.crt
cert = pki/demo-agent.crt
key = pki/demo-agent.key
server_name = localhost
CONF
echo "== configuration"
"$B/vigil-collector" -c "$D/collector.conf" --check-config
"$B/vigil-agent" -c "$D/agent.conf" --check-config

cpid= apid=
cleanup() {
    [ -n "$apid" ] && kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    return 0
}
trap cleanup EXIT INT TERM

echo "== starting vigil-collector (log: $D/collector.log) and vigil-agent (log: $D/agent.log)"
"$B/vigil-collector" -c "$D/collector.conf" >"$D/collector.log" 2>&1 &
cpid=$!
"$B/vigil-agent" -c "$D/agent.conf" >"$D/agent.log" 2>&1 &
apid=$!

export VIGIL_COLLECTOR=127.0.0.1:17443 VIGIL_CA="$D/pki/ca.crt" VIGIL_SERVER_NAME=localhost
export VIGIL_CERT="$D/pki/demo-admin.crt" VIGIL_KEY="$D/pki/demo-admin.key"
i=0
# Wait until the agent's first batch (its OS state) is stored.
until "$B/vigilctl" --json hosts 2>/dev/null | grep -q '"kernel": "[^"]'; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$cpid" 2>/dev/null || ! kill -0 "$apid" 2>/dev/null; then
        echo "demo: the host did not show up; logs follow" >&2
        cat "$D/collector.log" "$D/agent.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "== vigilctl hosts"
"$B/vigilctl" hosts
echo
if [ -f /var/lib/dpkg/status ]; then
    echo "== vigilctl inventory demo-agent (last lines) and vigilctl packages --name libc6"
    i=0
    until "$B/vigilctl" inventory demo-agent 2>/dev/null | grep -q "packages on demo-agent" &&
          ! "$B/vigilctl" inventory demo-agent 2>/dev/null | grep -q "^0 packages"; do
        i=$((i + 1)); [ $i -gt 50 ] && break; sleep 0.2
    done
    "$B/vigilctl" inventory demo-agent | tail -n 3
    "$B/vigilctl" packages --name libc6
    echo
    echo "== vigilctl host demo-agent (updates) and vigilctl pending --security (first lines)"
    i=0
    until ! "$B/vigilctl" host demo-agent 2>/dev/null | grep -q "updates:     unknown"; do
        i=$((i + 1)); [ $i -gt 50 ] && break; sleep 0.2
    done
    "$B/vigilctl" host demo-agent | grep -E "^(updates|lists):"
    "$B/vigilctl" pending --security | head -n 6
    echo
fi
echo "== vigilctl processes demo-agent --exe /bin/true (process events from $(sed -n 's/.*process events from \([a-z]*\).*/\1/p' "$D/agent.log" | head -n 1))"
/bin/true vigil-demo-marker
i=0
until "$B/vigilctl" processes demo-agent --since 5m --exe /bin/true 2>/dev/null | grep -q vigil-demo-marker; do
    i=$((i + 1)); [ $i -gt 25 ] && break; sleep 0.2
done
"$B/vigilctl" processes demo-agent --since 5m --exe /bin/true | tail -n 3
echo
echo "== stopping both (SIGTERM)"
cleanup
cpid= apid=
tail -n 2 "$D/agent.log" "$D/collector.log"
echo
echo "Everything is in $D/: PKI, configs, logs and the collector's database ($D/collector.db)."
