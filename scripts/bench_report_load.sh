#!/bin/sh
# The whole collector making a patch report while an agent streams:
#   1. a real vigil-collector creates its schema on an empty database and
#      stops; the sqlite3 CLI then fills it in one transaction with HOSTS
#      hosts x 800 packages (package_history, packages), their OS reports
#      (os_history, one a day for 100 days), pending security updates
#      (pending_history), agent versions, tags, exceptions, and one
#      advisory import of 20,000 fixes current at as-of;
#   2. the collector restarts on it; bench_collector --latency streams a
#      batch of 100 events every 10 ms over mutual TLS and logs each
#      batch's acknowledgement latency;
#   3. after a baseline window, an auditor runs
#      `vigilctl report patch --format json -o FILE`;
#   4. prints the report's wall time, the collector's CPU for it (its CPU
#      during the report less the streaming's, from the baseline), its
#      peak RSS, and ack latency (median, p99, max) before vs during the
#      report, with ratios.
# Prints figures; never fails on time.
#
# Usage: bench_report_load.sh [BUILD [HOSTS]]   (default build 1000)
#   BENCH_KEEP=1 keeps the scratch directory (the database) and says where.
#   BENCH_REPORT_MAX_S (default 600): the report is abandoned (vigilctl
#   stopped; the collector finishes it for no one) after this long, and
#   the figures are those of the report so far.
set -eu
B=${1:-build}
case $B in /*) ;; *) B="$(pwd)/$B" ;; esac
N=${2:-1000}
NP=800
NF=20000
RATE=100     # batches per second, 100 events each
BASE_S=10    # baseline window before the report
AFTER_S=3    # streaming after it

start_s=$(date +%s)
T=$(mktemp -d /var/tmp/vg-bench-report-XXXXXX)
# The agent's network process (another user) must reach its state directory.
chmod 711 "$T"
cpid='' spid=''
# stop PID: SIGTERM, and SIGKILL if it has not exited 10 s later (the
# collector waits for a report in progress before it exits).
stop() {
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while [ $i -lt 100 ] && [ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ $i -ge 100 ]; then
        echo "  (pid $1 still running 10 s after SIGTERM: killed)"
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null || true
}
cleanup() {
    [ -n "$spid" ] && stop "$spid"
    [ -n "$cpid" ] && stop "$cpid"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "  (kept $T)"; else rm -rf "$T"; fi
}
trap cleanup EXIT
cd "$T"
say() { echo "  [$(($(date +%s) - start_s)) s] $*"; }

"$B/vigilctl" pki init --dir pki >/dev/null
"$B/vigilctl" pki issue --dir pki --role collector --name collector --san localhost >/dev/null
"$B/vigilctl" pki issue --dir pki --role agent --name bench-agent >/dev/null
"$B/vigilctl" pki issue --dir pki --role auditor --name auditor-1 >/dev/null
port=$(shuf -i 20000-60000 -n 1)
cat >collector.conf <<CONF
[collector]
listen = 127.0.0.1:$port
db = c.db
# A report of this size takes longer than the default 90 s, and the
# operator's connection is idle while it waits for it.
idle_timeout = 1h
[report]
organisation = bench
[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF

start_collector() {
    : >collector.log
    "$B/vigil-collector" -c collector.conf -d >>collector.log 2>&1 &
    cpid=$!
    i=0
    until grep -q "listening on" collector.log; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 "$cpid" 2>/dev/null; then
            echo "bench_report_load: the collector did not start:" >&2
            tail -5 collector.log >&2
            exit 1
        fi
        sleep 0.1
    done
}
stop_collector() {
    stop "$cpid"
    cpid=
}

echo "bench_report_load: $N hosts x $NP packages, $NF advisory fixes, real collector on $(nproc) cores"
start_collector
stop_collector

# The fleet, as rows (times in ms; now is as-of).  Host h:
#   - enrolled 200 days ago, or 30 days ago for h % 3 = 1;
#   - package j (source src(j/3)) at 1.0-1+deb12u2, except one in 50
#     ((h + j) % 50 = 0) still at 1.0-1, and ((h + j) % 50 = 1) upgraded
#     to it 1 to 80 days ago (met or met-late findings);
#   - pending security updates: every package still at 1.0-1, and for
#     h % 5 = 0 also one package in 40 with a candidate no feed lists
#     (a pending-only finding dated by first sight);
#   - tags role=db|web and site=dc0..2; h % 20 = 3 needs a reboot.
# The feed: fix i for source src((7 i) % 1600) (half the sources exist),
# at 1.0-1+deb12u1 for odd i, 0.9-1 otherwise; one in ten has no date.
# The exceptions name packages those hosts lack (one CVE of src33's,
# all of src49, binary pkg47, src13 on role=db hosts, CVE-2026-00021 on
# site=dc1 hosts), one expired and one revoked.
now=$(date +%s%3N)
D=86400000
relfile=
if [ "$(sqlite3 c.db "select count(*) from pragma_table_info('pending_history') where name = 'release_file_ms'")" = 1 ]; then
    relfile=1
fi
say "loading the database"
{
    cat <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1000000;
BEGIN;
CREATE TEMP TABLE hs AS SELECT value AS h,
    $now - (CASE WHEN value % 3 = 1 THEN 30 ELSE 200 END) * $D AS fs FROM generate_series(1, $N);
CREATE TEMP TABLE ps AS SELECT value AS j FROM generate_series(0, $NP - 1);
INSERT INTO hosts(id, agent_id, hostname, tags, agent_version, os_id, os_version_id,
    os_pretty_name, os_version_codename, kernel_release, arch, reboot_required,
    first_seen_ms, last_seen_ms)
  SELECT h, printf('host-%05d', h), printf('host-%05d', h),
    json_object('role', CASE WHEN h % 10 = 0 THEN 'db' ELSE 'web' END, 'site', 'dc' || (h % 3)),
    '0.1.0', 'debian', '12', 'Debian GNU/Linux 12 (bookworm)', 'bookworm', '6.1.0-13-amd64',
    'x86_64', h % 20 = 3, fs, $now - 60000 FROM hs;
INSERT INTO agent_versions(host_id, version, first_ms) SELECT h, '0.1.0', fs FROM hs;
SELECT 'hosts ' || count(*) FROM hosts;
CREATE TEMP TABLE pv AS SELECT h, j, fs,
    CASE WHEN (h + j) % 50 = 0 THEN '1.0-1' ELSE '1.0-1+deb12u2' END AS v,
    CASE WHEN (h + j) % 50 = 1 THEN $now - ((h * 7 + j) % 80 + 1) * $D END AS up
  FROM hs, ps;
INSERT INTO packages(host_id, manager, name, arch, version, status, source_name, source_version,
    first_seen_ms, install_time_ms)
  SELECT h, 'dpkg', 'pkg' || j, 'amd64', v, 'installed', 'src' || (j / 3), v, coalesce(up, fs),
    coalesce(up, fs - 300 * $D) FROM pv;
SELECT 'packages ' || count(*) FROM packages;
INSERT INTO package_history(host_id, manager, name, arch, version, status, appeared_ms,
    disappeared_ms, source_name, source_version, install_time_ms)
  SELECT h, 'dpkg', 'pkg' || j, 'amd64', '1.0-1', 'installed', fs, up, 'src' || (j / 3), '1.0-1',
    fs - 300 * $D FROM pv WHERE up IS NOT NULL AND up > fs
  UNION ALL
  SELECT h, 'dpkg', 'pkg' || j, 'amd64', v, 'installed', max(coalesce(up, fs), fs), NULL,
    'src' || (j / 3), v, coalesce(up, fs - 300 * $D) FROM pv;
SELECT 'package_history ' || count(*) FROM package_history;
INSERT INTO os_history(host_id, time_ms, recv_time_ms, os_pretty_name, kernel_release,
    newest_kernel, kernel_update_pending, reboot_required, os_id, os_version_id,
    os_version_codename, hostname)
  SELECT h, t, t + 200, 'Debian GNU/Linux 12 (bookworm)', '6.1.0-13-amd64',
    CASE WHEN h % 20 = 3 THEN '6.1.0-15-amd64' ELSE '6.1.0-13-amd64' END, h % 20 = 3,
    h % 20 = 3, 'debian', '12', 'bookworm', printf('host-%05d', h)
  FROM (SELECT h, fs, $now - value * $D - (h % 3600) * 1000 AS t
        FROM hs, generate_series(0, 99)) WHERE t >= fs;
SELECT 'os_history ' || count(*) FROM os_history;
INSERT INTO pending_history(host_id, manager, name, arch, installed_version, candidate_version,
    advisory, security, severity, origin, released_ms, agent_first_seen_ms,
    security_first_seen_ms, appeared_ms, disappeared_ms)
  SELECT h, 'dpkg', 'pkg' || j, 'amd64', v, '1.0-1+deb12u2', '', 1, '', 'Debian', NULL,
    $now - ((h + j) % 60) * $D, $now - ((h + j) % 60) * $D,
    max(fs, $now - ((h + j) % 60) * $D), NULL
  FROM pv WHERE v = '1.0-1'
  UNION ALL
  SELECT h, 'dpkg', 'pkg' || j, 'amd64', v, '1.0-1+deb12u3', '', 1, '', 'Debian', NULL,
    $now - ((h + j) % 60) * $D, $now - ((h + j) % 60) * $D,
    max(fs, $now - ((h + j) % 60) * $D), NULL
  FROM pv WHERE h % 5 = 0 AND j % 40 = 5 AND v <> '1.0-1';
SQL
    if [ -n "$relfile" ]; then
        echo "UPDATE pending_history SET release_file_ms = security_first_seen_ms - 2 * $D WHERE name LIKE '%0';"
    fi
    cat <<SQL
SELECT 'pending_history ' || count(*) FROM pending_history;
INSERT INTO advisory_imports(id, format, doc_key, source, sha256, size, imported_ms, imported_by,
    records)
  VALUES(1, 'debian-tracker', 'debian-tracker', 'bench', '', 50000000, $now - 150 * $D,
    'admin-1', $NF);
INSERT INTO advisories(import_id, release, package, arch, fixed_version, advisory, cves,
    severity, urgency, cvss, released_ms)
  SELECT 1, 'bookworm', 'src' || ((value * 7) % 1600), '',
    CASE WHEN value % 2 THEN '1.0-1+deb12u1' ELSE '0.9-1' END,
    CASE WHEN value % 4 = 1 THEN 'DSA-' || (5000 + value) || '-1' ELSE '' END,
    printf('CVE-2026-%05d', value), CASE WHEN value % 10 = 3 THEN 'high' ELSE '' END,
    CASE WHEN value % 10 = 3 THEN 'high' ELSE 'not yet assigned' END,
    CASE WHEN value % 10 = 3 THEN 7.5 END,
    CASE WHEN value % 10 = 5 THEN 0 ELSE $now - (value % 120) * $D END
  FROM generate_series(0, $NF - 1);
SELECT 'advisories ' || count(*) FROM advisories;
INSERT INTO exceptions(host, package, cve, reason, approver, control, created_ms, created_by,
    expires_ms, revoked_ms, revoked_by, revoke_reason, package_kind) VALUES
  ('host-00001', NULL, 'CVE-2026-00919', 'not internet-facing', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now + 90 * $D, NULL, NULL, NULL, NULL),
  ('host-00002', 'src49', NULL, 'vendor appliance', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now + 90 * $D, NULL, NULL, NULL, 'source'),
  ('host-00003', 'pkg47', NULL, 'binary unused', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now + 90 * $D, NULL, NULL, NULL, 'binary'),
  ('tag:role=db', 'src13', NULL, 'database freeze', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now + 180 * $D, NULL, NULL, NULL, 'source'),
  ('tag:site=dc1', NULL, 'CVE-2026-00021', 'mitigated at the edge', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now + 180 * $D, NULL, NULL, NULL, NULL),
  ('host-00004', 'src15', NULL, 'expired', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now - 5 * $D, NULL, NULL, NULL, 'source'),
  ('host-00005', 'src15', NULL, 'revoked', 'SIRO', 'DSPT 8.3',
   $now - 60 * $D, 'admin-1', $now + 90 * $D, $now - 10 * $D, 'admin-1', 'patched', 'source');
COMMIT;
SQL
} >load.sql
load0=$(date +%s%3N)
sqlite3 c.db <load.sql | sed 's/^/    /'
sqlite3 c.db 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
# Package history from the agents' logs (dpkg.log), where this collector
# stores it: 60 changes per host over 400 days.
if [ "$(sqlite3 c.db "select count(*) from pragma_table_info('package_events') where name = 'recv_ms'")" = 1 ]; then
    if sqlite3 c.db "INSERT INTO package_events(host_id, manager, name, arch, action, old_version,
            new_version, time_ms, recv_ms)
          SELECT h.id, 'dpkg', 'pkg' || s.value, 'amd64', 'upgrade', '0.9-1', '1.0-1',
            $now - (400 - (h.id * 13 + s.value) % 390) * $D, h.first_seen_ms + 60000
          FROM hosts h, generate_series(0, 419, 7) s;" 2>pe.err; then
        say "package_events $(sqlite3 c.db 'select count(*) from package_events')"
    else
        say "package_events: not loaded ($(head -1 pe.err))"
    fi
else
    say "package history (package_events): not in this collector's schema, none loaded"
fi
load1=$(date +%s%3N)
say "database loaded in $(((load1 - load0) / 1000)) s: $(du -sm c.db* | awk '{s += $1} END {print s}') MB"

start_collector
say "collector up (pid $cpid)"
"$B/bench/bench_collector" --latency "127.0.0.1:$port" pki/ca.crt pki/bench-agent.crt \
    pki/bench-agent.key $RATE lat.txt >stream.log 2>&1 &
spid=$!

tck=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$cpid/stat"; } # utime + stime, clock ticks
kb() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$cpid/status"; }
i=0
until [ -s lat.txt ]; do # the first acknowledgement
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 "$spid" 2>/dev/null; then
        echo "bench_report_load: the agent stream did not start:" >&2
        cat stream.log >&2
        exit 1
    fi
    sleep 0.1
done
say "agent streaming after $((i / 10)).$((i % 10)) s"
sleep 1
b0=$(date +%s%3N)
c0=$(cpu)
sleep $BASE_S
r0=$(date +%s%3N)
c1=$(cpu)
rss0=$(kb VmRSS)
say "report: vigilctl report patch --format json (baseline ${BASE_S} s of streaming done)"
VIGIL_COLLECTOR=127.0.0.1:$port VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost \
    VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key \
    "$B/vigilctl" report patch --format json -o report.json >ctl.out 2>ctl.err &
vpid=$!
max_ms=$((${BENCH_REPORT_MAX_S:-600} * 1000))
while kill -0 "$vpid" 2>/dev/null && [ $(($(date +%s%3N) - r0)) -lt $max_ms ]; do
    sleep 0.1
done
abandoned=0
if kill -0 "$vpid" 2>/dev/null; then
    kill -TERM "$vpid"
    abandoned=1
fi
rc=0
{ wait "$vpid"; } 2>/dev/null || rc=$?
r1=$(date +%s%3N)
c2=$(cpu)
hwm=$(kb VmHWM)
sleep $AFTER_S
stop "$spid"
spid=
sed 's/^/  /' stream.log

wall=$((r1 - r0))
if [ $abandoned = 1 ]; then
    echo "  report: NOT DONE after ${BENCH_REPORT_MAX_S:-600} s: abandoned; the figures below are for those ${BENCH_REPORT_MAX_S:-600} s"
elif [ $rc = 0 ]; then
    echo "  report: $(jq '.findings | length' report.json) findings, $(jq '.hosts | length' report.json) hosts," \
         "JSON $(awk -v s="$(stat -c %s report.json)" 'BEGIN { printf "%.1f MB", s / 1e6 }')"
else
    echo "  report: vigilctl exited $rc: $(head -c 300 ctl.err)"
fi
awk -v w="$wall" -v cb="$((c1 - c0))" -v bw="$((r0 - b0))" -v cr="$((c2 - c1))" -v t="$tck" \
    -v rss0="$rss0" -v hwm="$hwm" 'BEGIN {
    base = cb / t / (bw / 1000)        # cores the streaming alone used
    during = cr / t
    printf "  report wall time %.1f s; collector CPU in that time %.1f s, of which streaming %.1f s: report %.1f s\n",
        w / 1000, during, base * w / 1000, during - base * w / 1000
    printf "  collector RSS %.0f MB before the report, peak %.0f MB\n", rss0 / 1024, hwm / 1024
}'
# Latency: batches due in the baseline window vs during the report.
stats() { # stats FROM_MS TO_MS: count median p99 max (ms)
    awk -v a="$1" -v b="$2" '$1 >= a && $1 < b { print $2 / 1000 }' lat.txt | sort -n |
        awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "0 0 0 0"; exit }
            p = int(NR * 0.99 + 0.999); if (p > NR) p = NR
            printf "%d %.2f %.2f %.2f\n", NR, v[int((NR + 1) / 2)], v[p], v[NR] }'
}
read -r bn bmed bp99 bmax <<STATS
$(stats "$b0" "$r0")
STATS
read -r dn dmed dp99 dmax <<STATS
$(stats "$r0" "$r1")
STATS
echo "  ack latency, $RATE batches/s of 100 events: before the report (${bn} batches) median ${bmed} ms," \
     "p99 ${bp99} ms, max ${bmax} ms"
echo "  ack latency during the report (${dn} batches): median ${dmed} ms, p99 ${dp99} ms, max ${dmax} ms" \
     "($(awk -v a="$bmed" -v b="$dmed" -v c="$bp99" -v d="$dp99" -v e="$bmax" -v f="$dmax" \
         'function r(x, y) { return y > 0 ? sprintf("%.1fx", x / y) : "-" }
          BEGIN { printf "median %s, p99 %s, max %s of the baseline", r(b, a), r(d, c), r(f, e) }'))"
stop "$cpid"
cpid=
echo "  section took $(($(date +%s) - start_s)) s"
