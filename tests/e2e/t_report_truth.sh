# Patch compliance never shows a false green (issue 17), with real
# agents on fake Debian roots and a real collector:
#   - pending security updates and no advisories: no host is compliant,
#     the headline says why; after a DSA list with dates the states are
#     exact;
#   - a host whose dpkg.log shows two fixes installed 3 and 6 days late,
#     before the collector ever saw it: both met-late with those days, and
#     the mean time to remediate right;
#   - exceptions: a binary one covers only its binary, CVE exceptions
#     together cover a fix and each is credited, a tag exception covers
#     the tagged hosts only, expired and revoked ones nothing.
# vg-timeout: 240
. "$VG_ROOT/tests/e2e/lib.sh"

export LC_ALL=C TZ=UTC
make_pki pki
"$CTL" pki issue --dir pki --role agent --name agent-3 >/dev/null
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf

pkgs() { printf 'Package: %s\nVersion: %s\nArchitecture: amd64\n\n' "$1" "$2"; }
# debian_root DIR: Debian 12 with the security suite offering openssl's
# and curl's fixes (the lists say nothing of when they came out).
debian_root() {
    L=$1/var/lib/apt/lists
    mkdir -p "$1/etc" "$1/var/lib/dpkg" "$1/var/log" "$L"
    printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' \
        >"$1/etc/os-release"
    printf 'Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\n' \
        >"$L/deb.debian.org_debian_dists_bookworm_InRelease"
    printf 'Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\n' \
        >"$L/security.debian.org_debian-security_dists_bookworm-security_InRelease"
    { pkgs openssl 3.0.11-1; pkgs libssl3 3.0.11-1; pkgs curl 7.88.1-10; pkgs bar 2.0-1; pkgs baz 3.0-1; } |
        gzip -c >"$L/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.gz"
    { pkgs openssl 3.0.15-1~deb12u1; pkgs libssl3 3.0.15-1~deb12u1; pkgs curl 7.88.1-10+deb12u5; } |
        gzip -c >"$L/security.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.gz"
}
for h in hostA hostB hostC; do
    debian_root $h
    echo $h >$h/etc/hostname
    { stanza openssl 3.0.11-1; stanza libssl3 3.0.11-1 openssl; stanza curl 7.88.1-10; } \
        >$h/var/lib/dpkg/status
done
# Host B needs a reboot (a library's update).
mkdir -p hostB/run && echo '*** System restart required ***' >hostB/run/reboot-required
# Host C patched bar and baz before it was enrolled: dpkg's log shows the
# vulnerable versions and the upgrades, 23 and 10 days ago.
{ stanza bar 2.0-1+deb12u1; stanza baz 3.0-1+deb12u1; } >>hostC/var/lib/dpkg/status
{
    echo "$(logt 200) install bar:amd64 <none> 2.0-1"
    echo "$(logt 200) status installed bar:amd64 2.0-1"
    echo "$(logt 200) install baz:amd64 <none> 3.0-1"
    echo "$(logt 200) status installed baz:amd64 3.0-1"
    echo "$(logt 23) upgrade bar:amd64 2.0-1 2.0-1+deb12u1"
    echo "$(logt 23) status installed bar:amd64 2.0-1+deb12u1"
} | gzip -c >hostC/var/log/dpkg.log.2.gz
{
    echo "$(logt 10) upgrade baz:amd64 3.0-1 3.0-1+deb12u1"
    echo "$(logt 10) status installed baz:amd64 3.0-1+deb12u1"
} >hostC/var/log/dpkg.log

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
for n in 1 2 3; do
    tag=site=leeds
    [ $n = 3 ] && tag=site=york
    agent_conf "$PORT" agent-$n "$tag" >agent-$n.conf
    printf '[inventory]\nroot = host%s\n' "$(echo $n | tr 123 ABC)" >>agent-$n.conf
    start agent-$n env TZ=UTC "$AGENT" -c agent-$n.conf
done
ready='[ "$(sql c.db "select count(distinct host_id) from pending where security <> 0")" = 3 ] &&
    [ "$(sql c.db "select count(distinct host_id) from os_history where os_version_codename is not null")" = 3 ]'
wait_for 30 "three hosts' pending updates" "$ready"
wait_for 30 "host C's package history" \
    '[ "$(sql c.db "select count(*) from package_events where name = '"'"'baz'"'"' and new_version = '"'"'3.0-1+deb12u1'"'"'")" -ge 1 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
admin() { VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key "$CTL" "$@"; }
auditor() { VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key "$CTL" "$@"; }

# ---- no advisories: nothing is green ------------------------------------
expect_exit 0 auditor report patch --format json -o r0.json
jq -e '.summary.compliant == 0 and .summary.unconfirmed == 3' r0.json >/dev/null ||
    fail "without advisories: $(jq -c .summary r0.json)"
jq -e '.summary.headline | test("^Compliance cannot be confirmed for 3 of 3 hosts: 2 fixes have no release date from an advisory. Import advisories: vigilctl advisories import")' r0.json >/dev/null ||
    fail "headline: $(jq -r .summary.headline r0.json)"
jq -e '[.findings[] | select(.in_scope) | .released_from] | unique == ["first-seen"]' r0.json >/dev/null ||
    fail "evidence: $(jq -c '[.findings[] | {hostname, package, released_from}]' r0.json)"
jq -e 'all(.hosts[]; .status == "unconfirmed" and (.unconfirmed_reason | test("may already be overdue")))' r0.json >/dev/null ||
    fail "host states: $(jq -c '[.hosts[] | {hostname, status, unconfirmed_reason}]' r0.json)"
jq -e '[.summary.rules[] | .status] == ["unconfirmed", "unconfirmed", "unconfirmed"]' r0.json >/dev/null ||
    fail "rules: $(jq -c .summary.rules r0.json)"

# ---- a DSA list with dates: exact ------------------------------------------
cat >DSA-list <<LIST
[$(day 5)] DSA-9101-1 curl - security update
	{CVE-2026-1101}
	[bookworm] - curl 7.88.1-10+deb12u5
[$(day 30)] DSA-9102-1 baz - security update
	{CVE-2026-1102}
	[bookworm] - baz 3.0-1+deb12u1
[$(day 40)] DSA-9103-1 bar - security update
	{CVE-2026-1103}
	[bookworm] - bar 2.0-1+deb12u1
[$(day 100)] DSA-9100-1 openssl - security update
	{CVE-2026-1100 CVE-2026-1104}
	[bookworm] - openssl 3.0.15-1~deb12u1
LIST
expect_exit 0 admin advisories import DSA-list
expect_exit 0 auditor report patch --format json -o r1.json
# Clocks start at the DSA dates; a met-late fix's days are fixed, an open
# or overdue one's grow with the time of day, so only their clock shows.
jq -r '.findings[] | "\(.hostname) \(.package) \(.state) \(.released_from) \(.clock_start[0:10])" +
    (if .state == "met-late" then " \(.days_open) \(.days_late)" else "" end)' r1.json >got.txt
d() { date -u -d "@$(( MID - $1 * 86400 ))" +%F; }
cat >want.txt <<WANT
hostA curl open advisory $(d 5)
hostA openssl overdue advisory $(d 100)
hostB curl open advisory $(d 5)
hostB openssl overdue advisory $(d 100)
hostC bar met-late advisory $(d 40) 17 3
hostC baz met-late advisory $(d 30) 20 6
hostC curl open advisory $(d 5)
hostC openssl overdue advisory $(d 100)
WANT
diff -u want.txt got.txt || fail "findings with the DSA list's dates"
jq -e '[.findings[] | select(.state == "overdue") | (.days_late * 10 | round) == ((.days_open - 14) * 10 | round)] | all' r1.json >/dev/null ||
    fail "overdue days_late is days_open less the 14 days"
jq -e '.summary.compliant == 0 and .summary.non_compliant == 3 and .summary.unconfirmed == 0 and .summary.met_late == 2' r1.json >/dev/null ||
    fail "summary with dates: $(jq -c .summary r1.json)"
jq -e '.summary.headline == "0 of 3 hosts compliant (0.0%): 3 non-compliant, 0 unknown."' r1.json >/dev/null ||
    fail "headline with dates: $(jq -r .summary.headline r1.json)"
# Mean time to remediate: bar 17 days, baz 20 days.
jq -e '.summary.mean_days_to_remediate == 18.5' r1.json >/dev/null ||
    fail "mean days to remediate: $(jq .summary.mean_days_to_remediate r1.json)"
jq -e '[.hosts[] | select(.hostname == "hostC")][0].met_late == 2' r1.json >/dev/null || fail "host C met_late"
# The DSPT reason does not call unrated Debian fixes critical/high.
jq -e '[.hosts[0].failing_rules[] | select(.rule == "DSPT")][0].reason | test("or unrated") and test("SIRO")' r1.json >/dev/null ||
    fail "DSPT reason: $(jq -c '.hosts[0].failing_rules' r1.json)"
jq -e '[.findings[] | .scope_reason] | all(test("^in scope: no vendor rating \\(CE treats these as critical\\)"))' r1.json >/dev/null ||
    fail "scope wording: $(jq -c '[.findings[].scope_reason] | unique' r1.json)"

# ---- exceptions mean exactly what they say ---------------------------------
EXP=$(( $(date +%s) + 25 ))
add() { expect_exit 0 admin exception add "$@" --reason "risk accepted" --approver "Jane Smith (SIRO)"; sed -n 's/^\([0-9][0-9]*\) .*/\1/p' out.txt | head -1; }
E1=$(add --host agent-1 --binary libssl3 --expires 30d)                 # libssl3 only
E2=$(add --host agent-2 --source openssl --cve CVE-2026-1100 --expires 30d)
E3=$(add --host agent-2 --cve CVE-2026-1104 --expires 30d)               # with E2: all of openssl
E4=$(add --tag site=york --source curl --expires 30d)                    # host C only
E5=$(add --all --source curl --expires "$(date -u -d "@$EXP" +%Y-%m-%dT%H:%M:%SZ)")  # will expire
E6=$(add --host agent-1 --source openssl --expires 30d)                  # will be revoked
[ -n "$E1" ] && [ -n "$E6" ] || fail "exception ids"
expect_exit 0 admin exception revoke "$E6" --reason "patched instead"
expect_exit 2 admin exception add --host agent-1 --source a --binary b --reason r --approver a --expires 1d
expect_exit 2 admin exception add --host agent-1 --tag site=york --source a --reason r --approver a --expires 1d
expect_exit 0 auditor exception list
expect_in out.txt "agent-1 (hostA)  binary libssl3"
expect_in out.txt "tag:site=york  source curl"
wait_for 40 "the short exception to expire" '[ "$(date +%s)" -gt "$EXP" ]'

expect_exit 0 auditor report patch --format json -o r2.json
jq -r '.findings[] | select(.package == "openssl" or .package == "curl") | "\(.hostname) \(.package) \(.state) \(.exceptions | map(tostring) | join(","))"' r2.json >got.txt
cat >want.txt <<WANT
hostA curl open 
hostA openssl overdue 
hostB curl open 
hostB openssl excepted $E2,$E3
hostC curl excepted $E4
hostC openssl overdue 
WANT
diff -u want.txt got.txt || fail "excepted findings"
jq -r '.exceptions[] | "\(.id) \(.status) \(.scope) \(.hostname) \(.package_kind) \(.findings_covered) \(.covered_findings | length)"' r2.json >got.txt
cat >want.txt <<WANT
$E1 in-force host hostA binary 0 0
$E2 in-force host hostB source 1 1
$E3 in-force host hostB null 1 1
$E4 in-force tag null source 1 1
$E5 expired all null source 0 0
$E6 revoked host hostA source 0 0
WANT
diff -u want.txt got.txt || fail "exception attribution"
# Each covered finding is the one that names the exception.
jq -e --argjson doc "$(cat r2.json)" '[.exceptions[] | select(.findings_covered > 0)] | all(.[]; .id as $id | .covered_findings[0] as $f |
        any($doc.findings[]; .id == $f and (.exceptions | index($id))))' r2.json >/dev/null ||
    fail "covered_findings do not point at the findings that list the exception"
# reboot_required is one value everywhere: the report, vigilctl host and hosts.
jq -r '.hosts[] | "\(.hostname) \(.reboot_required)"' r2.json >got.txt
printf 'hostA false\nhostB true\nhostC false\n' >want.txt
diff -u want.txt got.txt || fail "reboot_required in the report"
jq -e '.summary.reboot_pending == 1' r2.json >/dev/null || fail "reboot_pending"
expect_exit 0 auditor host agent-2
expect_in out.txt "reboot:      required"
expect_exit 0 auditor --json hosts
jq -e 'map({(.agent_id): .reboot_required}) | add == {"agent-1": false, "agent-2": true, "agent-3": false}' out.txt >/dev/null ||
    fail "vigilctl hosts reboot_required: $(cat out.txt)"

# ---- one computation, every format ------------------------------------------
# The same report (--as-of one time) as JSON, CSV and both HTML layouts:
# every shared host and finding field agrees, and each carries one id.
T=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
expect_exit 0 auditor report patch --format json --as-of "$T" -o x.json
expect_exit 0 auditor report patch --format csv --as-of "$T" -o x.csv
expect_exit 0 auditor report patch --format html --layout full --as-of "$T" -o x-full.html
expect_exit 0 auditor report patch --format html --as-of "$T" -o x.html
/usr/bin/python3 "$VG_ROOT/tests/html/cross_check.py" --findings-csv x.csv --hosts-csv x-hosts.csv \
    --json x.json --full x-full.html >cross.txt 2>&1 || { cat cross.txt >&2; fail "formats disagree"; }
/usr/bin/python3 "$VG_ROOT/tests/html/cross_check.py" --findings-csv x.csv --hosts-csv x-hosts.csv \
    x.html >cross.txt 2>&1 || { cat cross.txt >&2; fail "the summary disagrees with the CSV"; }
ID=$(jq -r .header.report_id x.json)
for f in x.csv x-hosts.csv x.html x-full.html; do
    grep -q "$ID" "$f" || fail "$f does not carry the report id $ID"
    grep -q "$ID" "$f.manifest" 2>/dev/null || [ "$f" = x-hosts.csv ] || fail "$f.manifest lacks the report id"
done
# The summary's headline is the engine's, verbatim.
grep -qF "$(jq -r .summary.headline x.json)" x.html || fail "the HTML headline is not the report's"
