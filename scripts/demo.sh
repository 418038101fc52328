#!/bin/sh
# make demo: the story of a responder's day on one machine, without
# touching its network.  A throw-away PKI and configuration under demo/
# (git-ignored); the collector, the agent and a peer each in a network
# namespace of their own, joined by veth pairs:
#
#   collector (vgdemo-c)            agent's host (vgdemo-h)           peer (vgdemo-p)
#   10.77.9.1:17443  <---veth--->   10.77.9.2   10.77.10.2  <---veth--->   10.77.10.1:9000 (echo)
#
# Then: hosts and inventory, the peer reachable, isolate (the peer cut
# off, the collector still there), release (reachable again), a triage
# package collected, downloaded and its manifest checked, and a signed
# patch-compliance report rendered and verified.  Needs root (namespaces,
# eBPF, nftables).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${VG_BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
D=${VG_DEMO_DIR:-$ROOT/demo}
C=vgdemo-c H=vgdemo-h P=vgdemo-p

if [ "$(id -u)" != 0 ]; then
    echo "make demo needs root: network namespaces, eBPF and nftables (run it in a VM or container you own)" >&2
    exit 1
fi

rm -rf "$D"
mkdir -p "$D"
cd "$D"
step() { printf '\n== %s\n' "$*"; }
ctl() { ip netns exec $C "$B/vigilctl" "$@"; }
# A command that fails ends the demo with the daemons' last lines, so that
# a failure says why.
act() {
    if ! ctl "$@"; then
        echo "demo: vigilctl $1 failed; the logs' last lines follow" >&2
        tail -n 25 "$D/collector.log" "$D/agent.log" >&2
        exit 1
    fi
}

step "PKI in demo/pki (vigilctl pki)"
"$B/vigilctl" pki init --dir pki --name "Vigil Demo CA" --days 400 >/dev/null
"$B/vigilctl" pki issue --dir pki --role collector --name collector --san localhost --san 10.77.9.1 >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name demo-agent >/dev/null
"$B/vigilctl" pki issue --dir pki --role admin --name demo-admin >/dev/null
ls pki

cat >collector.conf <<CONF
[collector]
listen = 0.0.0.0:17443
db = collector.db

[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
cat >agent.conf <<CONF
[agent]
state_dir = agent-state
tags = site=demo,department=it
health_interval = 2s

[batch]
max_age = 500ms

[collector]
address = 10.77.9.1:17443
backoff_base = 200ms
backoff_cap = 2s

[tls]
ca = pki/ca.crt
cert = pki/demo-agent.crt
key = pki/demo-agent.key
server_name = localhost

[telemetry]
bpf_pin_dir = /sys/fs/bpf/vigil-demo

[isolation]
check_interval = 2s
CONF
step "configuration checked (vigil-collector -t, vigil-agent -t)"
"$B/vigil-collector" -c collector.conf --check-config
"$B/vigil-agent" -c agent.conf --check-config

teardown() {
    for n in $H $C $P; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -TERM 2>/dev/null || true
    done
    sleep 1
    for n in $H $C $P; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$n" 2>/dev/null || true
    done
    rm -rf /sys/fs/bpf/vigil-demo
}
trap teardown EXIT INT TERM
teardown
step "network namespaces $C, $H and $P (the machine's own network is not touched)"
for n in $C $H $P; do ip netns add $n; ip -n $n link set lo up; done
ip link add vgdemo-h0 netns $H type veth peer name vgdemo-c0 netns $C
ip link add vgdemo-h1 netns $H type veth peer name vgdemo-p0 netns $P
ip -n $C addr add 10.77.9.1/24 dev vgdemo-c0
ip -n $H addr add 10.77.9.2/24 dev vgdemo-h0
ip -n $H addr add 10.77.10.2/24 dev vgdemo-h1
ip -n $P addr add 10.77.10.1/24 dev vgdemo-p0
for l in "$C vgdemo-c0" "$H vgdemo-h0" "$H vgdemo-h1" "$P vgdemo-p0"; do
    set -- $l
    ip -n "$1" link set "$2" up
done
ip netns exec $P python3 "$ROOT/tests/e2e/netns_echo.py" >peer.log 2>&1 &
reach() { ip netns exec $H python3 "$ROOT/tests/e2e/netns_reach.py" 10.77.10.1 9000; }

step "starting vigil-collector (demo/collector.log) and vigil-agent (demo/agent.log)"
ip netns exec $C "$B/vigil-collector" -c collector.conf >collector.log 2>&1 &
ip netns exec $H "$B/vigil-agent" -c agent.conf >agent.log 2>&1 &
export VIGIL_COLLECTOR=127.0.0.1:17443 VIGIL_CA="$D/pki/ca.crt" VIGIL_SERVER_NAME=localhost
export VIGIL_CERT="$D/pki/demo-admin.crt" VIGIL_KEY="$D/pki/demo-admin.key"

# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_until() {
    t=$1 what=$2
    shift 2
    end=$(( $(date +%s) + t ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "demo: $what did not happen within ${t}s; the logs' last lines follow" >&2
            tail -n 15 collector.log agent.log >&2
            exit 1
        fi
        sleep 0.3
    done
}
has_kernel() { ctl --json hosts | grep -q '"kernel": "[^"]'; }
wait_until 60 "the agent's first batch" has_kernel
step "vigilctl hosts"
ctl hosts

if [ -f /var/lib/dpkg/status ]; then
    step "vigilctl inventory demo-agent (last lines), vigilctl packages --name libc6"
    inv() { ctl inventory demo-agent | grep -q "packages on demo-agent" && ! ctl inventory demo-agent | grep -q "^0 packages"; }
    wait_until 60 "the inventory" inv
    ctl inventory demo-agent | tail -n 3
    ctl packages --name libc6
fi

step "isolation: the peer 10.77.10.1:9000 from the agent's host, before"
wait_until 20 "the peer" reach
echo "reachable"
step "vigilctl isolate demo-agent --reason 'demo: suspected C2'"
act isolate demo-agent --reason "demo: suspected C2"
if reach; then
    echo "demo: the peer is still reachable from an isolated host" >&2
    exit 1
fi
echo "the peer: blocked; the collector: still connected ($(ctl --json hosts | grep -o '"connected": [a-z]*' | head -n 1))"
ctl hosts
step "vigilctl release demo-agent --reason 'demo: contained'"
act release demo-agent --reason "demo: contained"
wait_until 20 "the peer reachable again" reach
echo "the peer: reachable again"

step "triage: vigilctl collect demo-agent -o demo/triage.tar.lz4"
ctl collect demo-agent --reason "demo: triage" -o "$D/triage.tar.lz4" --timeout 180s
ls -l triage.tar.lz4*

step "patch report: vigilctl report patch --format html --sign -o demo/report.html, then report verify"
ctl report patch --format html --sign -o "$D/report.html"
ctl report verify "$D/report.html" --ca "$D/pki/ca.crt"

step "vigilctl audit --verify (who did what, in a chain no one can rewrite)"
ctl audit --verify | tail -n 4

step "stopping (SIGTERM)"
teardown
trap - EXIT INT TERM
tail -n 1 agent.log collector.log
cat <<END

Everything is in $D/:
  pki/                   the CA, the collector's, the agent's and the admin's certificates
  collector.db           the collector's database (SQLite); collector.log, agent.log
  triage.tar.lz4         the triage package (its SHA-256 checked by vigilctl collect)
  report.html            the signed patch-compliance report (report.html.manifest beside it)
The network namespaces are gone; the machine's own network was never changed.
END
