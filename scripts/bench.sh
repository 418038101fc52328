#!/bin/sh
# Runs the benchmarks.  They print figures and never fail on time.
#   - codec: frame encode/decode vs protobuf alone (in-process)
#   - collector: TLS handshakes full vs resumed, and streaming throughput,
#     against a real vigil-collector on loopback with a throw-away PKI
#   - agent: resident memory of an idle agent
#   - footprint: PSS of the agent's processes, CPU per 1,000 execs vs
#     auditd, inventory vs dpkg-query (scripts/bench_footprint.sh)
#   - isolation: time to isolate and release a host (network namespaces)
#   - loadgen: N simulated agents: throughput at 1, 100 and 1,000 agents
#     into SQLite, into PostgreSQL through one collector and through two
#     behind HAProxy; agents held by one collector, ack latency, restart
#     storm (scripts/bench_loadgen.sh; LG_BENCH_AGENTS, default 20,000, cut to
#     what the descriptor limit allows)
set -eu
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
B=${1:-build}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
"$B/bench/bench_frame"
SP=$(mktemp -d /var/tmp/vg-bench-spool-XXXXXX)
"$B/bench/bench_spool" "$SP"
rm -rf "$SP"

T=$(mktemp -d /tmp/vg-bench-XXXXXX)
# The agent's network process (another user) must reach its state directory.
chmod 711 "$T"
cpid= apid=
cleanup() {
    [ -n "$apid" ] && kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
"$B/vigilctl" pki init --dir pki >/dev/null
"$B/vigilctl" pki issue --dir pki --role collector --name collector --san localhost >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name bench-agent >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name idle-agent >/dev/null
port=$(shuf -i 20000-60000 -n 1)
cat >collector.conf <<CONF
[collector]
listen = 127.0.0.1:$port
db = bench.db
[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
"$B/vigil-collector" -c collector.conf -d >collector.log 2>&1 &
cpid=$!
sleep 0.5
"$B/bench/bench_collector" "127.0.0.1:$port" pki/ca.crt pki/bench-agent.crt pki/bench-agent.key "$cpid" 5
echo "  (the collector saw $(grep -c 'TLS up (.*resumed)' collector.log) resumed handshakes)"
echo "  store: $(sqlite3 bench.db 'select count(*) from events') events in $(du -k bench.db* | awk '{s+=$1} END {print s}') KiB of SQLite"

cat >agent.conf <<CONF
[agent]
state_dir = state
[collector]
address = 127.0.0.1:$port
[tls]
ca = pki/ca.crt
cert = pki/idle-agent.crt
key = pki/idle-agent.key
server_name = localhost
CONF
"$B/vigil-agent" -c agent.conf >agent.log 2>&1 &
apid=$!
sleep 5
# PSS of the whole process tree, idle with eBPF on: bench_footprint below.
echo "bench_agent: idle agent after 5 s: $(grep VmRSS /proc/$apid/status | awk '{print $2, $3}') RSS," \
     "$(grep VmHWM /proc/$apid/status | awk '{print $2, $3}') peak," \
     "binary $(stat -c %s "$B/vigil-agent") bytes"

# Whole-process wall times, median of N runs.
median_ms() { # median_ms N CMD...: median wall time of CMD in ms
    n=$1
    shift
    i=0
    while [ $i -lt "$n" ]; do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
        i=$((i + 1))
    done | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'
}
if [ -f /var/lib/dpkg/status ]; then
    # vigil-agent inventory --no-pending vs dpkg-query -W (CPU, paired,
    # rpm installed or not): bench_footprint below.
    # Pending updates: apt's lists read directly vs apt's own simulation
    # (which builds its cache first where none is kept, as in containers).
    if ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
        lists=$(du -cb /var/lib/apt/lists/*_Packages* | tail -1 | cut -f1)
        p_ours=$(median_ms 11 "$B/vigil-agent" inventory)
        p_apt=$(median_ms 11 apt-get -s dist-upgrade)
        echo "bench_pending: $(($lists / 1048576)) MiB of apt lists:" \
             "vigil-agent inventory (packages + pending) ${p_ours} ms," \
             "apt-get -s dist-upgrade ${p_apt} ms (median of 11;" \
             "$(awk -v a="$p_apt" -v b="$p_ours" 'BEGIN { printf "%.1fx", a / b }') faster;" \
             "$("$B/vigil-agent" inventory --json 2>/dev/null | jq '.summary.pending_updates') pending)"
    fi
    # Wire size: a full snapshot of this host vs the delta of one upgrade.
    mkdir -p inv/var/lib/dpkg
    cp /var/lib/dpkg/status inv/var/lib/dpkg/status
    cat >inv.conf <<CONF
[agent]
state_dir = inv-state
[collector]
address = 127.0.0.1:$port
[inventory]
root = inv
[tls]
ca = pki/ca.crt
cert = pki/idle-agent.crt
key = pki/idle-agent.key
server_name = localhost
CONF
    kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    apid=
    "$B/vigil-agent" -c inv.conf >inv.log 2>&1 &
    apid=$!
    sleep 3
    sed -i '0,/^Version: .*/s//Version: 99:1.0-bench/' inv/var/lib/dpkg/status
    sleep 3
    kill -TERM "$apid" && wait "$apid" 2>/dev/null
    apid=
    snap=$(sqlite3 bench.db "select sum(length(body)) from events where kind = 'package_inventory' and host_id = (select id from hosts where agent_id = 'idle-agent')")
    delta=$(sqlite3 bench.db "select max(length(body)) from events where kind = 'package_delta'")
    echo "bench_inventory: full snapshot ${snap} bytes of protobuf, one-package delta ${delta} bytes" \
         "(before lz4)"
fi

# rpm: 500 small packages (one spec, 500 subpackages) in a scratch
# database; the agent reads it through rpm -qa, so this shows its cost
# over rpm's own.
if command -v rpmbuild >/dev/null 2>&1; then
    mkdir -p rpmtop/SPECS rpmroot
    {
        printf 'Name: vgb\nVersion: 1.0\nRelease: 1\nSummary: bench\nLicense: Apache-2.0\n'
        printf 'BuildArch: noarch\n%%description\nbench\n%%files\n'
        i=0
        while [ $i -lt 500 ]; do
            printf '%%package -n vgb-%d\nSummary: bench %d\n%%description -n vgb-%d\nb\n%%files -n vgb-%d\n' \
                $i $i $i $i
            i=$((i + 1))
        done
    } >rpmtop/SPECS/vgb.spec
    if rpmbuild -bb --define "_topdir $T/rpmtop" --define "_rpmdir $T/rpms" rpmtop/SPECS/vgb.spec \
           >rpmbuild.log 2>&1 &&
       rpm --root "$T/rpmroot" --initdb &&
       rpm --root "$T/rpmroot" -i --justdb --nodeps --force-debian rpms/noarch/*.rpm >/dev/null 2>&1; then
        r_ours=$(median_ms 11 "$B/vigil-agent" inventory --no-pending --root "$T/rpmroot")
        r_rpm=$(median_ms 11 rpm --root "$T/rpmroot" -qa)
        echo "bench_inventory_rpm: $(rpm --root "$T/rpmroot" -qa | wc -l) rpm packages:" \
             "vigil-agent inventory ${r_ours} ms, rpm -qa ${r_rpm} ms (median of 11;" \
             "$(awk -v a="$r_ours" -v b="$r_rpm" 'BEGIN { printf "%.2fx", a / b }') of rpm's time)"
    else
        echo "bench_inventory_rpm: skipped (could not build the test rpms; see rpmbuild.log)"
    fi
fi

# Process telemetry (needs eBPF: root and BTF).
#  - the machine's own fork+exec rate (no agent), then with the agent
#    (exec_rate_per_exe = 0: every exec an event): rate and loss;
#  - agent CPU per 1,000 execs and RSS under a steady 1,000 execs/s;
#  - a full /proc snapshot vs ps -eo pid,ppid,user,args.
if [ -r /sys/kernel/btf/vmlinux ] && [ "$(id -u)" = 0 ]; then
    ES="$B/bench/execstorm"
    cp /bin/true bench-true
    base=$("$ES" 20000 2 "$T/bench-true" | sed -n 's/.*rate \([0-9]*\)\/s.*/\1/p')
    cat >proc.conf <<CONF
[agent]
state_dir = proc-state
[collector]
address = 127.0.0.1:$port
[telemetry]
exec_rate_per_exe = 0
# Not pinned: a bench agent must not share the host agent's ring.
bpf_pin_dir =
[tls]
ca = pki/ca.crt
cert = pki/idle-agent.crt
key = pki/idle-agent.key
server_name = localhost
CONF
    "$B/vigil-agent" -c proc.conf >proc-agent.log 2>&1 &
    apid=$!
    i=0
    until grep -q "process events from ebpf" proc-agent.log || [ $i -gt 50 ]; do sleep 0.2; i=$((i + 1)); done
    # utime + stime in clock ticks, of both the agent's processes
    cpu() { cat /proc/$apid/stat /proc/$(pgrep -P $apid -x vigil-agent-net | head -1)/stat 2>/dev/null | awk '{ s += $14 + $15 } END { print s }'; }
    with=$("$ES" 20000 2 "$T/bench-true" | sed -n 's/.*rate \([0-9]*\)\/s.*/\1/p')
    sleep 2
    lost=$(grep -o "[0-9]* process events lost" proc-agent.log | awk '{ s += $1 } END { print s + 0 }')
    echo "bench_proc: fork+exec storm (2 at a time): ${base}/s without the agent, ${with}/s with it" \
         "(every exec an event; $lost lost)"
    c0=$(cpu)
    EXECSTORM_RATE=1000 "$ES" 10000 1 "$T/bench-true" >/dev/null
    c1=$(cpu)
    tck=$(getconf CLK_TCK)
    echo "bench_proc: steady 1,000 execs/s for 10 s: agent CPU $(awk -v d=$((c1 - c0)) -v t="$tck" 'BEGIN { printf "%.1f ms per 1,000 execs, %.1f%% of a core", d * 1000 / t / 10, d * 100 / t / 10 }')," \
         "RSS $(grep VmRSS /proc/$apid/status | awk '{print $2, $3}') (peak $(grep VmHWM /proc/$apid/status | awk '{print $2, $3}'))"
    kill -TERM "$apid" && wait "$apid" 2>/dev/null
    apid=
    snap=$(median_ms 21 "$B/vigil-agent" processes)
    ps_ms=$(median_ms 21 ps -eo pid,ppid,user,args)
    echo "bench_proc: process table ($(ps -e --no-headers | wc -l) processes): vigil-agent processes ${snap} ms," \
         "ps -eo pid,ppid,user,args ${ps_ms} ms (median of 21, whole process)"
fi

# Footprint (issue 18): PSS of the agent's process tree, idle with eBPF
# on; its CPU per 1,000 execs beside auditd's; inventory vs dpkg-query.
"$SCRIPTS/bench_footprint.sh" "$B"

# Isolation latency, in network namespaces (root only).
if [ "$(id -u)" = 0 ]; then
    "$SCRIPTS/bench_isolate.sh" "$B"
fi

# Patch reports (issue 17): 1,000 hosts x 800 packages with 20,000 fixes.
#  - the findings engine alone, on a synthetic fleet where a quarter of
#    the packages lack a fix (far more findings than a kept estate has),
#    with pending updates, package history, tags and exceptions, whole
#    12-week trend included;
#  - the whole collector: a real database, `vigilctl report patch` while
#    an agent streams, and the agent's acknowledgement latency before vs
#    during the report.
# 10,000 hosts only with BENCH_REPORT_10K=1: on 2 cores the engine
# alone takes tens of minutes and over 10 GB there (the cost grows with
# hosts squared).
"$B/bench/bench_report" 1000 800 20000
"$SCRIPTS/bench_report_load.sh" "$B" 1000
if [ "${BENCH_REPORT_10K:-0}" = 1 ]; then
    "$B/bench/bench_report" 10000 800 20000
    "$SCRIPTS/bench_report_load.sh" "$B" 10000
fi

# Collectors under vigil-loadgen (issue 20): figures also in
# $B/bench/loadgen.md and .json.
"$SCRIPTS/bench_loadgen.sh" "$B" "${LG_BENCH_AGENTS:-20000}"
