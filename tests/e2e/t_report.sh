# Patch-compliance report: a fixture fleet of three real agents (fixture
# host roots through [inventory] root), fixture feeds (a Debian tracker
# export and a DSA list, dated relative to now) and exceptions give
# exactly the expected findings and SLA states; --as-of on a past time
# gives the report generated then; signed reports verify offline and a
# tampered one fails.  With VG_TEST_HTML=1 (make test-html) the HTML
# report is rendered in headless Chromium too.
# vg-timeout: 240
. "$VG_ROOT/tests/e2e/lib.sh"

export LC_ALL=C TZ=UTC
make_pki pki
"$CTL" pki issue --dir pki --role agent --name agent-3 >/dev/null
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
mkdir -p dss
printf '# source  last-supported  ended  details\noldweb  1.0-3  2025-01-31  https://bugs.debian.org/1\nphp-horde.*  0  2025-03-22  incompatible with PHP8\n' \
    >dss/security-support-ended.deb12
printf '[report]\norganisation = Example NHS Trust\nsecurity_support_dir = dss\n' >>collector.conf

KREL=$(uname -r)
host_root() { # DIR ID VERSION_ID CODENAME
    mkdir -p "$1/etc" "$1/var/lib/dpkg" "$1/var/log"
    printf 'PRETTY_NAME="Debian GNU/Linux %s (%s)"\nID=%s\nVERSION_ID="%s"\nVERSION_CODENAME=%s\n' \
        "$3" "$4" "$2" "$3" "$4" >"$1/etc/os-release"
}

# Host A (agent-1), Debian 12: one package per case.
host_root hostA debian 12 bookworm
{
    stanza libfoo1 1.0-1 foo                     # fix released 12 days ago: open (13 if the test runs past midnight)
    stanza bar 2.0-1                             # fix released 15 days ago: overdue
    stanza baz 3.0-1                             # fixed 30 days ago, installed on day 10: met
    stanza qux 4.0-1                             # installed on day 20: met-late
    stanza quux 5.0-2                            # had the fixed version before the fix: not listed
    stanza "linux-image-$KREL" 6.1.55-1 linux    # the running kernel, not fixed
    stanza linux-image-6.1.0-99-amd64 6.1.99-1 linux   # fixed kernel installed, not booted
    stanza nofix 1.0-1                           # open in the tracker, no fix yet
    stanza zed 1.0-1                             # no advisory at all
    stanza php-horde-imap 1.0-1                  # security support ended (a pattern)
    stanza oldweb 1.0-4                          # a later version than the last unsupported one
    stanza fresh 6.0-1+deb12u1                   # installed after its fix, never vulnerable here
    printf 'Package: grault\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\n\n'
} >hostA/var/lib/dpkg/status
{
    echo "$(logt 40) status installed quux:amd64 5.0-2"
    echo "$(logt 3) status installed fresh:amd64 6.0-1+deb12u1"
    echo "$(logt 2) status installed linux-image-6.1.0-99-amd64:amd64 6.1.99-1"
} >hostA/var/log/dpkg.log

# Host B (agent-2), Debian 12: bar excepted by package on this host only;
# corge excepted by CVE, with an exception that expires during the test.
host_root hostB debian 12 bookworm
{ stanza bar 2.0-1; stanza corge 1.0-1; } >hostB/var/lib/dpkg/status

# Host C (agent-3), Debian 10: its LTS ended 2024-06-30.
host_root hostC debian 10 buster
stanza bar 2.0-1 >hostC/var/lib/dpkg/status

# Feeds: the tracker export (fixed versions, CVEs) and the DSA list
# (release dates), as the real files have them.
cat >tracker.json <<'JSON'
{
  "foo": { "CVE-2026-0001": { "scope": "remote", "releases": {
      "bookworm": { "status": "resolved", "repositories": { "bookworm": "1.0-1" },
                    "fixed_version": "1.0-1+deb12u1", "urgency": "not yet assigned" },
      "bullseye": { "status": "resolved", "repositories": { "bullseye": "0.9-1" },
                    "fixed_version": "0.9-1+deb11u1", "urgency": "not yet assigned" } } } },
  "bar": { "CVE-2026-0002": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "2.0-1+deb12u1",
                    "urgency": "high" } } } },
  "baz": { "CVE-2026-0003": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "3.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "qux": { "CVE-2026-0004": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "4.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "corge": { "CVE-2026-0005": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "1.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "quux": { "CVE-2026-0006": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "5.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "linux": { "CVE-2026-0007": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "6.1.90-1",
                    "urgency": "not yet assigned" } } } },
  "nofix": { "CVE-2026-0008": { "releases": {
      "bookworm": { "status": "open", "repositories": {}, "urgency": "medium" } } },
             "CVE-2026-0009": { "releases": {
      "bookworm": { "status": "open", "repositories": {}, "urgency": "unimportant" } } } },
  "fresh": { "CVE-2026-0011": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "6.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "grault": { "CVE-2026-0012": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "1.0-1+deb12u1",
                    "urgency": "not yet assigned" } } } },
  "zed": { "CVE-2026-0010": { "releases": {
      "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "0",
                    "urgency": "not yet assigned" } } } }
}
JSON
cat >DSA-list <<LIST
[$(day 5)] DSA-9007-1 linux - security update
	{CVE-2026-0007}
	[bookworm] - linux 6.1.90-1
[$(day 12)] DSA-9001-1 foo - security update
	{CVE-2026-0001}
	[bookworm] - foo 1.0-1+deb12u1
[$(day 15)] DSA-9002-1 bar - security update
	{CVE-2026-0002}
	[bookworm] - bar 2.0-1+deb12u1
[$(day 20)] DSA-9005-1 corge - security update
	{CVE-2026-0005}
	[bookworm] - corge 1.0-1+deb12u1
[$(day 30)] DSA-9003-1 baz - security update
	{CVE-2026-0003}
	[bookworm] - baz 3.0-1+deb12u1
[$(day 30)] DSA-9004-1 qux - security update
	{CVE-2026-0004}
	[bookworm] - qux 4.0-1+deb12u1
[$(day 30)] DSA-9008-1 fresh - security update
	{CVE-2026-0011}
	[bookworm] - fresh 6.0-1+deb12u1
[$(day 30)] DSA-9009-1 grault - security update
	{CVE-2026-0012}
	[bookworm] - grault 1.0-1+deb12u1
[$(day 30)] DSA-9006-1 quux - security update
	{CVE-2026-0006}
	[bookworm] - quux 5.0-1+deb12u1
LIST

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
for n in 1 2 3; do
    agent_conf "$PORT" agent-$n >agent-$n.conf
    printf '[inventory]\nroot = host%s\n' "$(echo $n | tr 123 ABC)" >>agent-$n.conf
    start agent-$n env TZ=UTC "$AGENT" -c agent-$n.conf
done
hosts_ready='[ "$(sql c.db "select count(distinct host_id) from package_history")" = 3 ] &&
    [ "$(sql c.db "select count(distinct host_id) from os_history where os_version_codename is not null")" = 3 ]'
wait_for 30 "three hosts' inventories" "$hosts_ready"
# Host A installs baz's and qux's fixes; dpkg's log says when (days 10
# and 20 of their clocks).  The collector saw the vulnerable versions
# first: a host that only ever had the fixed version is never listed.
sed -i -e 's/^Version: 3.0-1$/Version: 3.0-1+deb12u1/' -e 's/^Version: 4.0-1$/Version: 4.0-1+deb12u1/' \
    hostA/var/lib/dpkg/status
{
    echo "$(logt 20) status installed baz:amd64 3.0-1+deb12u1"
    echo "$(logt 10) status installed qux:amd64 4.0-1+deb12u1"
} >>hostA/var/log/dpkg.log
pkgver() { sql c.db "select version from packages p join hosts h on h.id = p.host_id where h.agent_id = '$1' and name = '$2'"; }
wait_for 20 "host A's upgrades stored" '[ "$(pkgver agent-1 baz)" = 3.0-1+deb12u1 ] && [ "$(pkgver agent-1 qux)" = 4.0-1+deb12u1 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
admin() { VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key "$CTL" "$@"; }
auditor() { VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key "$CTL" "$@"; }

# Imports: admin only; formats detected; recorded with their hashes.
expect_exit 1 auditor advisories import tracker.json
expect_in err.txt "permission denied"
expect_exit 0 admin advisories import tracker.json
expect_in out.txt "$(sha256sum tracker.json | cut -c1-64)"
expect_exit 0 admin advisories import DSA-list --source "security-tracker data/DSA/list"
expect_in out.txt "dsa-list"
printf 'this is not a feed\n' >junk.txt
expect_exit 1 admin advisories import junk.txt
expect_in err.txt "cannot tell the feed's format"
printf '[01 Foo 2026] DSA-1-1 x - security update\n' >bad-list
expect_exit 1 admin advisories import bad-list --format dsa-list
expect_in err.txt "not imported"
expect_exit 0 admin --json advisories list
jq -e 'length == 2 and all(.[]; .current and (.sha256 | length) == 64)' out.txt >/dev/null ||
    fail "advisories list: $(cat out.txt)"

# Exceptions: admin only; scoped to a host and a package, or a CVE.
expect_exit 1 auditor exception add --host agent-2 --package bar --reason r --approver SIRO --expires 30d
expect_in err.txt "permission denied"
expect_exit 0 admin exception add --host agent-2 --package bar --reason "vendor patch breaks the ward system; compensating control: network segregation" --approver "Jane Smith (SIRO)" --expires 30d --control RISK-42
# Long enough to be in force for the first reports on a busy machine
# under the sanitizers; the test waits for it to pass before the last.
EXPIRES=$(( $(date +%s) + 45 ))
expect_exit 0 admin exception add --host agent-2 --cve CVE-2026-0005 --reason "short test exception" --approver "Jane Smith (SIRO)" --expires "$(date -u -d "@$EXPIRES" +%Y-%m-%dT%H:%M:%SZ)"
expect_exit 2 admin exception add --host agent-2 --reason x --approver y --expires 1d
expect_exit 1 admin exception add --host agent-2 --cve NOT-A-CVE --reason x --approver y --expires 1d
expect_exit 0 auditor exception list
expect_in out.txt "RISK-42"
# Revoked: gone from the list (kept with --all), audited, not twice.
expect_exit 0 admin exception add --all --package zed --reason "to be revoked" --approver "Jane Smith (SIRO)" --expires 10d
ZID=$(sed -n 's/^\([0-9]*\) .*/\1/p' out.txt | head -1)
[ -n "$ZID" ] || fail "no exception id in: $(cat out.txt)"
expect_exit 2 admin exception revoke "$ZID"
expect_exit 0 admin exception revoke "$ZID" --reason "accepted in error"
expect_in out.txt "REVOKED"
expect_exit 1 admin exception revoke "$ZID" --reason again
expect_in err.txt "already revoked"
expect_exit 0 auditor exception list
expect_not_in out.txt "to be revoked"
expect_exit 0 auditor exception list --all
expect_in out.txt "to be revoked"

# The report, by an auditor.
expect_exit 0 auditor report patch --format json -o r1.json
jq -r '.findings[] | "\(.agent_id) \(.package) \(.state) \(.effective)"' r1.json | sort >got.txt
cat >want.txt <<'WANT'
agent-1 bar overdue false
agent-1 baz met true
agent-1 foo open false
agent-1 linux open false
agent-1 nofix no-fix-yet false
agent-1 qux met-late true
agent-2 bar excepted false
agent-2 corge excepted false
WANT
diff -u want.txt got.txt || fail "findings and SLA states"
jq -e '[.findings[] | select(.package == "linux")][0] | .installed != null and .effective == false and (.effective_note | test("reboot"))' r1.json >/dev/null ||
    fail "kernel fix installed but not effective: $(jq -c '.findings[] | select(.package == "linux")' r1.json)"
jq -e '[.findings[] | select(.package == "baz")][0] | .days_open >= 10 and .days_open < 10.1 and .advisories == ["DSA-9003-1"] and .cves == ["CVE-2026-0003"] and .in_scope' r1.json >/dev/null ||
    fail "met on day 10: $(jq -c '.findings[] | select(.package == "baz")' r1.json)"
jq -e '[.findings[] | select(.package == "foo")][0] | .binaries == ["libfoo1"] and .fixed_version == "1.0-1+deb12u1" and .installed_version == "1.0-1"' r1.json >/dev/null ||
    fail "source-package mapping"
jq -e '.hosts | map({(.agent_id): .status}) | add == {"agent-1": "fail", "agent-2": "fail", "agent-3": "fail"}' r1.json >/dev/null ||
    fail "host status: $(jq -c '[.hosts[] | {agent_id, status, failing_rules}]' r1.json)"
# Host B's overdue bar is excepted: DSPT accepts the risk, CE does not.
jq -e '[.hosts[] | select(.agent_id == "agent-2")][0].failing_rules | (map(.rule) == ["CE"]) and (.[0].reason | test("under an exception"))' r1.json >/dev/null ||
    fail "an excepted overdue fix: $(jq -c '.hosts[1].failing_rules' r1.json)"
jq -e '[.hosts[] | select(.agent_id == "agent-3")][0] | .os_support == "unsupported" and any(.failing_rules[]; .rule == "CE" and (.reason | test("unsupported")))' r1.json >/dev/null ||
    fail "EOL OS"
jq -e '[.hosts[] | select(.agent_id == "agent-1")][0] | ([.unsupported_packages[].package] == ["php-horde-imap"]) and any(.failing_rules[]; .rule == "DSPT" and (.reason | test("php-horde-imap")))' r1.json >/dev/null ||
    fail "unsupported software: $(jq -c '.hosts[0] | {unsupported_packages, failing_rules}' r1.json)"
jq -e '.summary | .hosts == 3 and .overdue == 1 and .open == 2 and .met == 1 and .met_late == 1 and .excepted == 2 and .no_fix_yet == 1 and .unsupported_os == 1 and .compliant_pct == 0 and .compliant == 0' r1.json >/dev/null ||
    fail "summary: $(jq -c .summary r1.json)"
jq -e '.header.organisation == "Example NHS Trust" and (.header.feeds | length) == 2 and (.trend.weeks | length) == 12' r1.json >/dev/null ||
    fail "header/trend"
jq -e '[.exceptions[] | .status] == ["in-force", "in-force", "revoked"] and ([.exceptions[] | .findings_covered] == [1, 1, 0])' r1.json >/dev/null ||
    fail "exceptions: $(jq -c .exceptions r1.json)"
/usr/bin/python3 "$VG_ROOT/tests/html/check_report.py" --json r1.json --schema "$VG_ROOT/docs/report-schema.json" ||
    fail "the JSON report does not validate against docs/report-schema.json"
T1=$(jq -r .header.as_of r1.json)

# CSV: one row per finding plus a hosts file; loads with Python's csv.
expect_exit 0 auditor report patch --format csv -o r1.csv
[ -f r1-hosts.csv ] && [ -f r1.csv.manifest ] || fail "csv files"
[ "$(mode r1.csv)" = 600 ] || fail "report mode $(mode r1.csv)"
/usr/bin/python3 - r1.csv r1-hosts.csv <<'PY' || fail "csv"
import csv, sys
f = list(csv.DictReader(open(sys.argv[1], newline='')))
h = list(csv.DictReader(open(sys.argv[2], newline='')))
assert len(f) == 8, len(f)
assert len(h) == 3, len(h)
assert sorted(r["state"] for r in f) == sorted(["overdue", "met", "open", "open", "no-fix-yet", "met-late", "excepted", "excepted"]), [r["state"] for r in f]
assert {r["agent_id"]: r["status"] for r in h} == {"agent-1": "fail", "agent-2": "fail", "agent-3": "fail"}
PY
(sha256sum -c --strict r1.csv.manifest >/dev/null) || fail "r1.csv.manifest"

# Signed HTML; verify offline; a tampered copy fails (t_report_sign.sh
# checks every file of every format, and the openssl-only recipe).
expect_exit 0 auditor report patch --format html --sign -o r1.html
expect_exit 0 "$CTL" report verify r1.html --ca pki/ca.crt
expect_in out.txt "OK, signed by collector collector"
mkdir t
cp r1.html* t/
sed -i 's/Example NHS Trust/Example NHS Trusts/' t/r1.html
expect_exit 1 "$CTL" report verify t/r1.html --ca pki/ca.crt
expect_in err.txt "altered"
# A forged manifest does not pass for a signed one.
sha256sum t/r1.html | sed 's|t/||' >t/forged
grep '^#' r1.html.manifest | cat - t/forged >t/r1.html.manifest
rm t/r1.html.manifest.sig
expect_exit 1 "$CTL" report verify t/r1.html --ca pki/ca.crt
expect_in err.txt "no signature"
expect_exit 0 "$CTL" report verify t/r1.html --hash-only
expect_in out.txt "not who made them"
cp r1.html.manifest t/
expect_exit 1 "$CTL" report verify t/r1.html --hash-only
"$CTL" pki init --dir otherpki >/dev/null
expect_exit 1 "$CTL" report verify r1.html --ca otherpki/ca.crt
expect_in err.txt "not signed by a collector of this CA"
if [ "${VG_TEST_HTML:-0}" = 1 ]; then
    # The summary figures of this fleet, each in its element (#sum-...=N).
    /usr/bin/python3 "$VG_ROOT/tests/html/check_report.py" --expect-summary r1.json >expect.txt
    expect_in expect.txt "#sum-overdue=1"
    # shellcheck disable=SC2046
    sh "$VG_ROOT/tests/html/check_html.sh" r1.html $(cat expect.txt) "Example NHS Trust" \
        "agent-3" || fail "the HTML report (summary) in Chromium"
    # The full layout adds every finding and CVE.
    expect_exit 0 auditor report patch --format html --layout full -o r1-full.html
    # shellcheck disable=SC2046
    sh "$VG_ROOT/tests/html/check_html.sh" r1-full.html $(cat expect.txt) "Example NHS Trust" \
        "agent-3" "DSA-9002-1" "CVE-2026-0007" || fail "the full HTML report in Chromium"
fi

# The fleet changes: host A installs bar's fix; the short exception
# expires.  --as-of T1 still gives the first report.
sleep 1
sed -i 's/^Version: 2.0-1$/Version: 2.0-1+deb12u1/' hostA/var/lib/dpkg/status
wait_for 20 "bar upgraded on host A" '[ "$(pkgver agent-1 bar)" = 2.0-1+deb12u1 ]'
while [ "$(date +%s)" -le "$EXPIRES" ]; do sleep 0.5; done
expect_exit 0 auditor report patch --format json --as-of "$T1" -o r2.json
jq -S 'del(.header.generated, .header.generated_ms)' r1.json >a.json
jq -S 'del(.header.generated, .header.generated_ms)' r2.json >b.json
diff -u a.json b.json || fail "--as-of $T1 differs from the report generated then"

expect_exit 0 auditor report patch --format json -o r3.json
jq -r '.findings[] | "\(.agent_id) \(.package) \(.state)"' r3.json | sort >got.txt
cat >want.txt <<'WANT'
agent-1 bar met-late
agent-1 baz met
agent-1 foo open
agent-1 linux open
agent-1 nofix no-fix-yet
agent-1 qux met-late
agent-2 bar excepted
agent-2 corge overdue
WANT
diff -u want.txt got.txt || fail "findings after the upgrade and the exception's expiry"
jq -e '[.exceptions[] | .status] == ["in-force", "expired", "revoked"]' r3.json >/dev/null ||
    fail "expired exception: $(jq -c .exceptions r3.json)"
jq -e '[.hosts[] | select(.agent_id == "agent-2")][0].status == "fail"' r3.json >/dev/null ||
    fail "host B fails once its exception expired"

# Pattern, bad requests, the audit trail.
expect_exit 0 auditor report patch --format json --hosts 'agent-[12]' -o r4.json
jq -e '.header.scope.hosts == 2 and .header.scope.hosts_pattern == "agent-[12]"' r4.json >/dev/null || fail "--hosts"
expect_exit 2 auditor report patch --format pdf -o x
expect_exit 1 auditor report patch --format json --as-of 2099-01-01 -o x
expect_in err.txt "future"
[ "$(sql c.db "select count(*) from audit where action = 'report'")" -ge 5 ] || fail "reports audited"
[ "$(sql c.db "select count(*) from audit where action = 'exception.add' and result = 'added'")" = 3 ] || fail "exceptions audited"
[ "$(sql c.db "select count(*) from audit where action = 'exception.revoke' and result = 'revoked'")" = 1 ] || fail "revocation audited"
