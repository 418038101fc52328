#!/bin/sh
# The agent's footprint (issue 18), each figure beside a baseline measured
# in the same run.  Prints figures; never fails on time.
#
#   memory     RSS, PSS and private memory of the agent's whole process
#              tree (every process, from /proc/PID/smaps_rollup), idle
#              with eBPF on, and how much of it is the eBPF ring buffer
#              and shared libraries; beside it auditd's with an execve rule
#   exec CPU   the agent tree's CPU (user + system, every thread, from
#              /proc/PID/task/*/schedstat) per 1,000 execs while we exec
#              at a steady 450/s, every exec an event; beside it what
#              auditd (and the kernel's kauditd thread) spend with `-a
#              always,exit -F arch=b64 -S execve` under the same load.
#              The two take turns (ROUNDS rounds, medians), auditd's rule
#              present only in its turns; the agent runs throughout.  Each
#              divides by the execs it handled in its window, the
#              machine's other execs included (a shared machine)
#   inventory  vigil-agent inventory --no-pending vs dpkg-query -W, whole
#              processes run in turn (CPU from wait4), on this dpkg host
#              as it is and with rpm out of PATH
#
# Usage: scripts/bench_footprint.sh [BUILD]   (root, with BTF for eBPF;
# auditd from scripts/install-deps.sh --bench, else its figures are
# skipped).  auditd is started here if it is not running, and stopped,
# its rule removed and the kernel's audit switch put back afterwards.
# Env: FOOTPRINT_ROUNDS (3), FOOTPRINT_EXECS per turn (6000), FOOTPRINT_RATE (450).
set -eu
B=${1:-build}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
ROUNDS=${FOOTPRINT_ROUNDS:-3}
EXECS=${FOOTPRINT_EXECS:-6000}
RATE=${FOOTPRINT_RATE:-450}
RULE="always,exit -F arch=b64 -S execve"

if [ "$(id -u)" != 0 ] || [ ! -r /sys/kernel/btf/vmlinux ]; then
    echo "bench_footprint: skipped (needs root and BTF for the agent's eBPF)"
    exit 0
fi

T=$(mktemp -d /tmp/vg-footprint-XXXXXX)
# The agent's network process (another user) must reach its state directory.
chmod 711 "$T"
cpid= apid= adpid= audit_was= rule_added=
cleanup() {
    [ -n "$rule_added" ] && auditctl -d $RULE >/dev/null 2>&1
    if [ -n "$adpid" ]; then
        kill -TERM "$adpid" 2>/dev/null && wait "$adpid" 2>/dev/null
        [ -n "$audit_was" ] && auditctl -e "$audit_was" >/dev/null 2>&1
    fi
    [ -n "$apid" ] && kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    [ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    [ -n "${FOOTPRINT_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cd "$T"

# ---- helpers ----------------------------------------------------------------

tree() { # tree PID: PID and its descendants, one a line
    echo "$1"
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done
}
mem() { # mem PID: "RSS PSS PRIVATE" in kB, summed over the tree
    for p in $(tree "$1"); do cat /proc/"$p"/smaps_rollup 2>/dev/null; done |
        awk '/^Rss:/ { r += $2 } /^Pss:/ { p += $2 } /^Private_(Clean|Dirty):/ { v += $2 }
             END { print r + 0, p + 0, v + 0 }'
}
pss_of() { # pss_of PID REGEX: PSS (kB) over the tree of the mappings whose name matches
    for p in $(tree "$1"); do cat /proc/"$p"/smaps 2>/dev/null; done |
        awk -v re="$2" '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 ~ re) } m && /^Pss:/ { s += $2 }
                        END { print s + 0 }'
}
cpu_ns() { # cpu_ns PID...: CPU time (ns) of every thread of each PID's tree
    for r in "$@"; do tree "$r"; done | while read -r p; do
        cat /proc/"$p"/task/*/schedstat 2>/dev/null
    done | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
kb_mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1000 }'; }

# ---- collector and agent ---------------------------------------------------

"$B/vigilctl" pki init --dir pki >/dev/null
"$B/vigilctl" pki issue --dir pki --role collector --name collector --san localhost >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name fp-agent >/dev/null
port=$(shuf -i 20000-60000 -n 1)
cat >collector.conf <<CONF
[collector]
listen = 127.0.0.1:$port
db = fp.db
[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
"$B/vigil-collector" -c collector.conf -d >collector.log 2>&1 &
cpid=$!
# user: a system user in /etc/passwd, as the packages' vigil is (this
# machine may have no vigil user; its fallback goes through NSS).
cat >agent.conf <<CONF
[agent]
state_dir = state
user = nobody
[collector]
address = 127.0.0.1:$port
[telemetry]
process_source = ebpf
# Not pinned: a bench agent must not share the host agent's ring.
bpf_pin_dir =
[tls]
ca = pki/ca.crt
cert = pki/fp-agent.crt
key = pki/fp-agent.key
server_name = localhost
CONF
sleep 0.5
"$B/vigil-agent" -c agent.conf >agent.log 2>&1 &
apid=$!
i=0
until grep -q "process events from ebpf" agent.log || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! grep -q "process events from ebpf" agent.log; then
    echo "bench_footprint: skipped (the agent did not start eBPF; see its log)"
    tail -5 agent.log
    exit 0
fi

# ---- auditd ----------------------------------------------------------------

have_audit=0
AUDIT_LOG=/var/log/audit/audit.log # where an auditd already running writes
if command -v auditd >/dev/null 2>&1 && command -v auditctl >/dev/null 2>&1; then
    adpid=$(pidof auditd || true)
    if [ -z "$adpid" ]; then
        audit_was=$(auditctl -s 2>/dev/null | awk '$1 == "enabled" { print $2 }')
        # The distribution's settings, but a log of our own that is never
        # rotated (the default 8 MB x 5 drops a round's records).
        mkdir -m 700 audit-conf audit # auditd makes its log directory root:adm 0750
        sed -e "s|^log_file *=.*|log_file = $T/audit/audit.log|" \
            -e "s|^max_log_file_action *=.*|max_log_file_action = IGNORE|" \
            /etc/audit/auditd.conf >audit-conf/auditd.conf 2>/dev/null || : >audit-conf/auditd.conf
        grep -q "^log_file" audit-conf/auditd.conf || echo "log_file = $T/audit/audit.log" >>audit-conf/auditd.conf
        chmod 600 audit-conf/auditd.conf
        AUDIT_LOG=$T/audit/audit.log
        auditd -n -c "$T/audit-conf" >auditd.log 2>&1 &
        adpid=$!
        i=0
        until [ "$(auditctl -s 2>/dev/null | awk '$1 == "pid" { print $2 }')" = "$adpid" ] ||
              [ $i -gt 50 ]; do sleep 0.1; i=$((i + 1)); done
    else
        adpid_theirs=$adpid
        adpid= # not ours to stop
    fi
    [ "$(auditctl -s 2>/dev/null | awk '$1 == "pid" { print $2 }')" != 0 ] && have_audit=1
fi
auditd_pid=${adpid:-${adpid_theirs:-}}
kaudit=$(pgrep -x kauditd || true)

# ---- memory, idle ----------------------------------------------------------

sleep 10 # past the start-up work (inventory, pending updates, first connection)
rs= ps= vs=
for s in 1 2 3; do
    set -- $(mem "$apid")
    rs="$rs $1" ps="$ps $2" vs="$vs $3"
    sleep 1
done
rss=$(echo $rs | tr ' ' '\n' | median)
pss=$(echo $ps | tr ' ' '\n' | median)
priv=$(echo $vs | tr ' ' '\n' | median)
ring=$(pss_of "$apid" "^anon_inode:bpf-map$")
libs=$(pss_of "$apid" "[.]so")
bin=$(pss_of "$apid" "/vigil-agent$")
nproc=$(tree "$apid" | wc -l)
echo "bench_footprint: idle agent, eBPF on, $nproc process(es): PSS $(kb_mb "$pss"), RSS $(kb_mb "$rss")," \
     "private $(kb_mb "$priv") (median of 3); of the PSS: eBPF maps (the ring buffer) $(kb_mb "$ring")," \
     "shared libraries $(kb_mb "$libs"), the program $(kb_mb "$bin"); target PSS <= 5.0 MB"
if [ "$have_audit" = 1 ]; then
    auditctl -a $RULE >/dev/null && rule_added=1
    sleep 2
    set -- $(mem "$auditd_pid")
    echo "bench_footprint: baseline: auditd with an execve rule, idle: PSS $(kb_mb "$2"), RSS $(kb_mb "$1")," \
         "private $(kb_mb "$3")"
    auditctl -d $RULE >/dev/null && rule_added=
fi

# ---- CPU per 1,000 execs ---------------------------------------------------

# Other processes of the machine exec too, and each daemon handles their
# execs as well: so CPU is divided by the execs each one handled in its
# window (the agent: exec events the collector stored with a time in it;
# auditd: execve SYSCALL records stamped in it), not by ours alone.
ES="$B/bench/execstorm"
cp /bin/true fp-true
now_ms() { date +%s%3N; }
rates=
: >agent.rounds
: >auditd.rounds
r=0
while [ $r -lt "$ROUNDS" ]; do
    t0=$(now_ms)
    c0=$(cpu_ns "$apid")
    out=$(EXECSTORM_RATE=$RATE "$ES" "$EXECS" 4 "$T/fp-true")
    c1=$(cpu_ns "$apid")
    t1=$(now_ms)
    echo "$t0 $t1 $((c1 - c0))" >>agent.rounds
    rates="$rates $(echo "$out" | sed -n 's/.*rate \([0-9]*\)\/s.*/\1/p')"
    if [ "$have_audit" = 1 ]; then
        auditctl -a $RULE >/dev/null && rule_added=1
        t0=$(now_ms)
        a0=$(cpu_ns "$auditd_pid")
        k0=$(cpu_ns ${kaudit:-})
        EXECSTORM_RATE=$RATE "$ES" "$EXECS" 4 "$T/fp-true" >/dev/null
        auditctl -d $RULE >/dev/null && rule_added=
        t1=$(now_ms)
        sleep 0.5 # what auditd still has to write
        a1=$(cpu_ns "$auditd_pid")
        k1=$(cpu_ns ${kaudit:-})
        echo "$t0 $t1 $((a1 - a0)) $((k1 - k0))" >>auditd.rounds
    fi
    r=$((r + 1))
done
# The agent's last batch reaches the collector within [batch] max_age.
prev=-1
i=0
while [ $i -lt 30 ]; do
    n=$(sqlite3 fp.db "select count(*) from events where kind = 'process_exec'" 2>/dev/null || echo 0)
    [ "$n" = "$prev" ] && [ $i -ge 6 ] && break
    prev=$n
    sleep 1
    i=$((i + 1))
done
ours= seen=
while read -r t0 t1 d; do
    n=$(sqlite3 fp.db "select count(*) from events where kind = 'process_exec' and time_ms between $t0 and $t1")
    seen="$seen $n"
    ours="$ours $(awk -v d="$d" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", d / 1e6 * 1000 / n; else print "nan" }')"
done <agent.rounds
lost=$(grep -o "[0-9]* process events lost" agent.log | awk '{ s += $1 } END { print s + 0 }')
m_ours=$(echo $ours | tr ' ' '\n' | median)
echo "bench_footprint: agent CPU per 1,000 execs, ours at a steady $(echo $rates | tr ' ' '\n' | median) execs/s" \
     "(asked for $RATE; $EXECS a round), every exec an event, all its processes: ${m_ours} ms" \
     "(rounds: $(echo $ours | tr ' ' ','); execs handled: $(echo $seen | tr ' ' ','); $lost events lost);" \
     "target <= 20 ms"
if [ "$have_audit" = 1 ]; then
    theirs= kthr= aseen=
    while read -r t0 t1 d k; do
        n=$(awk -v a="$t0" -v b="$t1" '/^type=SYSCALL/ && / syscall=59 / {
                 t = $0; sub(/.*msg=audit\(/, "", t); sub(/:.*/, "", t); t *= 1000
                 if (t >= a && t <= b + 500) n++ } END { print n + 0 }' "$AUDIT_LOG"* 2>/dev/null)
        aseen="$aseen $n"
        theirs="$theirs $(awk -v d="$d" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", d / 1e6 * 1000 / n; else print "nan" }')"
        kthr="$kthr $(awk -v d="$k" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", d / 1e6 * 1000 / n; else print "nan" }')"
    done <auditd.rounds
    m_theirs=$(echo $theirs | tr ' ' '\n' | median)
    m_k=$(echo $kthr | tr ' ' '\n' | median)
    echo "bench_footprint: baseline: auditd with an execve rule, the same load: ${m_theirs} ms per 1,000 execs" \
         "(rounds: $(echo $theirs | tr ' ' ','); execs handled: $(echo $aseen | tr ' ' ',')), and the kernel's" \
         "kauditd thread ${m_k} ms more; the agent spends" \
         "$(awk -v a="$m_ours" -v b="$m_theirs" -v k="$m_k" 'BEGIN { if (a > 0) printf "%.1fx less than auditd alone, %.1fx less than auditd and kauditd", b / a, (b + k) / a; else print "?" }')"
else
    echo "bench_footprint: baseline: auditd skipped (not installed: scripts/install-deps.sh --bench)"
fi
if [ -n "$adpid" ]; then
    kill -TERM "$adpid" 2>/dev/null && wait "$adpid" 2>/dev/null
    adpid=
    [ -n "$audit_was" ] && auditctl -e "$audit_was" >/dev/null 2>&1
fi
if kill -0 "$apid" 2>/dev/null; then
    kill -TERM "$apid" && wait "$apid" 2>/dev/null
else
    wait "$apid" 2>/dev/null && st=0 || st=$?
    echo "bench_footprint: the agent stopped during the run (status $st; a round without it shows nan):"
    tail -5 agent.log | sed 's/^/  /'
fi
apid=

# ---- inventory -------------------------------------------------------------

if [ -f /var/lib/dpkg/status ]; then
    n=$(dpkg-query -W | wc -l)
    echo "bench_footprint: inventory of $n dpkg packages, whole process, paired runs (A: vigil-agent" \
         "inventory --no-pending, B: dpkg-query -W; target A/B <= 0.5):"
    printf '  this host as it is (rpm %s):  ' \
        "$(command -v rpm >/dev/null 2>&1 && echo "installed, $(rpm -qa 2>/dev/null | wc -l) packages" || echo absent)"
    "$B/bench/paired" -n 21 "$B/vigil-agent" inventory --no-pending --vs dpkg-query -W
    printf '  rpm out of PATH:             '
    PATH=/nonexistent "$B/bench/paired" -n 21 "$B/vigil-agent" inventory --no-pending \
        --vs /usr/bin/dpkg-query -W
fi
