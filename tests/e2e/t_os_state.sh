# OS state from a fixture host root: os-release, the newest installed
# kernel against the running one (an installed kernel fix is not
# effective before a reboot), reboot-required and its packages, and the
# root's own hostname (in hello and OS state alike).
# vg-timeout: 60
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[inventory]\nroot = host\n' >>agent.conf
mkdir -p host/etc host/var/lib/dpkg host/run
cat >host/etc/os-release <<'OSR'
PRETTY_NAME="Debian GNU/Linux 10 (buster)"
NAME="Debian GNU/Linux"
VERSION_ID="10"
VERSION_CODENAME=buster
ID=debian
OSR
stanza() { printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n' "$1" "$2"; }
{ stanza linux-image-4.19.0-20-amd64 4.19.235-1
  stanza linux-image-4.19.0-27-amd64 4.19.316-1
  stanza linux-image-amd64 4.19+105+deb10u22; } >host/var/lib/dpkg/status
printf 'linux-image-4.19.0-27-amd64\nlibc6\n' >host/run/reboot-required.pkgs
touch host/run/reboot-required
printf '# written by the installer\n\n  fixture-host-1 \n' >host/etc/hostname
[ "$(hostname)" != fixture-host-1 ] || fail "the test host has the fixture's name"

start collector "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
stored() { [ "$(sql c.db "select newest_kernel from hosts where agent_id = 'agent-1'")" = 4.19.0-27-amd64 ]; }
wait_for 20 "OS state stored" stored
[ "$(sql c.db "select os_pretty_name || '|' || os_version_id || '|' || os_version_codename from hosts")" = \
  "Debian GNU/Linux 10 (buster)|10|buster" ] || fail "os-release fields"
[ "$(sql c.db "select kernel_update_pending || '' || reboot_required from hosts")" = 11 ] ||
    fail "kernel mismatch or reboot-required not seen"
[ "$(sql c.db "select packages_changed_ms > 0 from hosts")" = 1 ] || fail "packages change time"
[ "$(sql c.db "select hostname from hosts")" = fixture-host-1 ] ||
    fail "hostname not the root's: $(sql c.db "select hostname from hosts")"
[ "$(sql c.db "select count(*) from os_history where hostname <> 'fixture-host-1'")" = 0 ] ||
    fail "an OS state with another hostname"
# ... and over time, for "was a reboot pending on day D".
[ "$(sql c.db "select count(*) from os_history where newest_kernel = '4.19.0-27-amd64' and kernel_update_pending = 1 and reboot_required = 1")" -ge 1 ] ||
    fail "os_history row missing"
expect_exit 0 "$CTL" --collector 127.0.0.1:$PORT --server-name localhost --ca pki/ca.crt \
    --cert pki/auditor-1.crt --key pki/auditor-1.key host agent-1
expect_in out.txt "newest installed: 4.19.0-27-amd64; REBOOT to use it"
expect_in out.txt "reboot:      required"
# The one-shot inventory tells the same OS, kernel and reboot state as
# the stream.
expect_exit 0 "$AGENT" inventory --root host --json
jq -r '.os | [.hostname, .os_pretty_name, .os_version_id, .kernel_release, .newest_kernel,
              (.kernel_update_pending | tostring), (.reboot_required | tostring),
              (.reboot_required_packages | join(","))] | join("|")' out.txt >oneshot.txt
sql c.db "select hostname, os_pretty_name, os_version_id, kernel_release, newest_kernel,
          case kernel_update_pending when 1 then 'true' else 'false' end,
          case reboot_required when 1 then 'true' else 'false' end,
          'linux-image-4.19.0-27-amd64,libc6' from hosts" >stream.txt
diff -u stream.txt oneshot.txt || fail "vigil-agent inventory's OS state differs from the stream's"
expect_exit 0 "$AGENT" inventory --root host --no-pending
expect_in out.txt "Host: fixture-host-1, Debian GNU/Linux 10 (buster), kernel $(uname -r) (newest installed: 4.19.0-27-amd64; REBOOT to use it)"
expect_in out.txt "Reboot: required (by linux-image-4.19.0-27-amd64, libc6)"
# A restart (hello again) keeps the root's name.
stop "$APID"
start agent2 "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "second hello" '[ "$(sql c.db "select count(*) from os_history")" -ge 2 ]'
[ "$(sql c.db "select hostname from hosts")" = fixture-host-1 ] || fail "hostname after a restart"
# Without a usable /etc/hostname in the root: the kernel's name.
printf 'not a valid name!\n' >host/etc/hostname
stop "$APID"
start agent3 "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "the kernel's name" '[ "$(sql c.db "select hostname from hosts")" = "$(hostname)" ]'
stop "$APID"
stop "$CPID"
echo ok
