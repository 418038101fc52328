# rpm inventory, for real: small rpms built here with rpmbuild, installed
# into a scratch root's database (Debian's rpm needs --force-debian), read
# back through vigil-agent inventory --root.
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

mkdir -p top/SPECS root
spec() { # spec NAME VERSION RELEASE EPOCH ARCH-LINE
    cat >top/SPECS/$1.spec <<SPEC
Name: $1
Version: $2
Release: $3
${4:+Epoch: $4}
Summary: Vigil test package $1
License: Apache-2.0
Vendor: Vigil Tests
BuildArch: noarch
%description
A package for the rpm inventory test.
%files
SPEC
    rpmbuild -bb --define "_topdir $VG_TMP/top" --define "_rpmdir $VG_TMP/rpms" \
        top/SPECS/$1.spec >build-$1.log 2>&1 || { cat build-$1.log; fail "rpmbuild $1"; }
}
spec vg-plain 1.0 1.el9
spec vg-epoch 2.4.1 3.el9 7
spec vg-tilde 1.0~rc1 0.1.el9
rpm --root "$VG_TMP/root" --initdb
rpm --root "$VG_TMP/root" -i --justdb --nodeps --force-debian rpms/noarch/*.rpm ||
    fail "cannot install the test rpms into the scratch database"

expect_exit 0 "$AGENT" inventory --root root --json
jq -r '.packages[] | select(.manager == "rpm") | "\(.name) \(.version) \(.arch) \(.vendor) \(.source)"' out.txt |
    sort >ours.txt
rpm --root "$VG_TMP/root" -qa --qf '%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{VENDOR} %{SOURCERPM}\n' |
    sed 's/ Vigil Tests / Vigil_Tests /' | sort >rpm.txt
sed -i 's/ Vigil Tests / Vigil_Tests /' ours.txt
diff -u rpm.txt ours.txt || fail "rpm inventory differs from rpm -qa"
expect_in ours.txt "vg-epoch 7:2.4.1-3.el9 noarch"
[ "$(jq '[.packages[] | select(.manager == "rpm" and .install_time_ms > 0)] | length' out.txt)" = 3 ] ||
    fail "install times missing"

# The daemon streams it: a snapshot, then the removal as a delta.
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[inventory]\nroot = root\npoll_interval = 1s\n' >>agent.conf
start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
rpms() { sql c.db "select count(*) from packages where manager = 'rpm'"; }
wait_for 20 "rpm snapshot stored" '[ "$(rpms)" = 3 ]'
[ "$(sql c.db "select version from packages where name = 'vg-epoch'")" = 7:2.4.1-3.el9 ] ||
    fail "stored version"
# Install history: rpm's INSTALLTIME of each package, as install events.
wait_for 20 "rpm history stored" '[ "$(sql c.db "select count(*) from package_events where manager = '"'"'rpm'"'"'")" = 3 ]'
[ "$(sql c.db "select count(*) from package_events e join packages p on p.name = e.name
               and p.arch = e.arch and p.version = e.new_version and p.install_time_ms = e.time_ms
               where e.action = 'install' and e.old_version = ''")" = 3 ] ||
    fail "rpm history rows: $(sql c.db "select * from package_events")"
rpm --root "$VG_TMP/root" -e --justdb --nodeps vg-plain
wait_for 20 "removal applied" '[ "$(rpms)" = 2 ]'
expect_in agent.log "packages changed: 0 added, 1 removed, 0 changed"
# Re-reads send no history again (nothing newer was installed).
[ "$(sql c.db "select count(*) from events where kind = 'package_history'")" = 1 ] ||
    fail "rpm history sent again"
expect_exit 0 "$AGENT" inventory --root root --json
[ "$(jq '[.packages[] | select(.manager == "rpm")] | length' out.txt)" = 2 ] || fail "removal not seen"
stop "$APID"
stop "$CPID"

# A dpkg host (Debian's os-release, a dpkg status file) with packages in
# rpm's database too: rpm is still asked, and the rpm packages listed.  A
# wrapper in PATH counts how often rpm runs.
mkdir -p root/var/lib/dpkg root/etc bin
printf 'Package: vg-deb\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n' \
    >root/var/lib/dpkg/status
printf 'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' >root/etc/os-release
printf '#!/bin/sh\necho run >>"%s/rpm-runs"\nexec %s "$@"\n' "$VG_TMP" "$(command -v rpm)" >bin/rpm
chmod +x bin/rpm
PATH="$VG_TMP/bin:$PATH" "$AGENT" inventory --root root --json >mixed.json ||
    fail "inventory of a mixed host"
[ "$(jq -r '[.packages[] | .manager] | sort | unique | join(",")' mixed.json)" = dpkg,rpm ] ||
    fail "a mixed host: $(jq -c '[.packages[] | [.name, .manager]]' mixed.json)"
[ -s rpm-runs ] || fail "rpm was not asked on a mixed host"
# Its rpm database emptied: rpm is no longer run at all (it would find
# nothing, at more cost than the whole dpkg inventory).
rpm --root "$VG_TMP/root" -e --justdb --nodeps $(rpm --root "$VG_TMP/root" -qa) ||
    fail "cannot empty the scratch rpm database"
rm -f rpm-runs
PATH="$VG_TMP/bin:$PATH" "$AGENT" inventory --root root --json >dpkgonly.json ||
    fail "inventory of a dpkg host with an empty rpm database"
[ "$(jq -r '[.packages[] | .manager] | unique | join(",")' dpkgonly.json)" = dpkg ] ||
    fail "rpm packages listed from an empty database"
[ ! -e rpm-runs ] || fail "rpm was run although its database is empty"
# Not a dpkg host (no os-release, no dpkg status): rpm is asked whatever
# its database holds.
rm -rf root/var/lib/dpkg root/etc
PATH="$VG_TMP/bin:$PATH" "$AGENT" inventory --root root --json >/dev/null 2>&1 || true
[ -s rpm-runs ] || fail "rpm was not asked on a host without dpkg"
echo ok
