# Pending updates to the collector: the agent's list is stored per host,
# replaced when it changes (an upgrade, new lists after apt update), and
# kept in history with when each update appeared and went; first-seen
# times survive an agent restart; vigilctl pending and host show them.
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 >agent.conf
printf '[inventory]\nroot = host\n' >>agent.conf
H=host
L=$H/var/lib/apt/lists
mkdir -p $H/var/lib/dpkg $L
stanza() { printf 'Package: %s\nStatus: install ok installed\nArchitecture: %s\nVersion: %s\n\n' "$1" "${3:-amd64}" "$2"; }
pkgs() { printf 'Package: %s\nVersion: %s\nArchitecture: amd64\n\n' "$1" "$2"; }
{ stanza dpkg 1.21.22; stanza openssl 3.0.11-1; stanza curl 7.88.1-10; stanza tzdata 2024a-0 all
  stanza vim 2:9.0.1378-2; } >$H/var/lib/dpkg/status
printf 'Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\n' \
    >$L/deb.debian.org_debian_dists_bookworm_InRelease
printf 'Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\nDate: Sat, 11 Nov 2023 09:42:11 UTC\n' \
    >$L/security.debian.org_debian-security_dists_bookworm-security_InRelease
{ pkgs openssl 3.0.11-1; pkgs curl 7.88.1-10+deb12u5; pkgs tzdata 2025b-0; pkgs vim 2:9.0.1378-2; } |
    gzip -c >$L/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.gz
{ pkgs openssl 3.0.15-1~deb12u1; pkgs curl 7.88.1-10+deb12u5; } |
    xz -c >$L/security.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.xz

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
cur() { sql c.db "select name || ' ' || candidate_version || ' ' || security from pending order by name"; }
wait_for 20 "pending list stored" '[ "$(cur | wc -l)" = 3 ]'
cat >want.txt <<'WANT'
curl 7.88.1-10+deb12u5 1
openssl 3.0.15-1~deb12u1 1
tzdata 2025b-0 0
WANT
cur >got.txt
diff -u want.txt got.txt || fail "stored pending updates"
# The Date: of the candidate's Release file (security's for openssl and
# curl; none in main's, so 0 for tzdata), in all three tables.
DATE_MS=$(( $(date -u -d '2023-11-11 09:42:11' +%s) * 1000 ))
for t in pending pending_history; do
    [ "$(sql c.db "select name || '=' || release_file_ms from $t order by name" | paste -sd ' ')" = \
      "curl=$DATE_MS openssl=$DATE_MS tzdata=0" ] || fail "$t release_file_ms: $(sql c.db "select name, release_file_ms from $t")"
done
# The agent's one-shot view says the same.
"$AGENT" inventory -c agent.conf --json | jq -r '.pending_updates[] | "\(.name) \(.candidate_version) \(if .security then 1 else 0 end)"' >oneshot.txt
diff -u want.txt oneshot.txt || fail "vigil-agent inventory disagrees with the collector"

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
expect_exit 0 "$CTL" pending agent-1
expect_in out.txt "3 pending updates, 2 of them security"
expect_exit 0 "$CTL" pending --security
expect_not_in out.txt "tzdata"
expect_exit 0 "$CTL" --json pending agent-1
jq -e 'length == 3 and all(.[]; .first_seen != null and .days_pending == 0 and .lists_refreshed != null)' out.txt >/dev/null ||
    fail "vigilctl --json pending: $(cat out.txt)"
jq -e '[.[] | select(.name == "openssl")][0] | .archive == "stable-security" and .label == "Debian-Security" and .security_first_seen != null and .release_file_date == "2023-11-11T09:42:11Z"' out.txt >/dev/null ||
    fail "openssl's source"
expect_exit 0 "$CTL" host agent-1
expect_in out.txt "updates:     3 pending, 2 of them security (oldest pending since"
expect_exit 0 "$CTL" --json hosts
jq -e '.[0].pending_updates == 3 and .[0].pending_security == 2' out.txt >/dev/null || fail "hosts --json counts"

# First-seen times are the agent's, kept in its state_dir.
[ -f state-agent-1/pending-seen ] || fail "no pending-seen state"
[ "$(stat -c %a state-agent-1/pending-seen)" = 600 ] || fail "pending-seen should be 0600"
first=$(sql c.db "select agent_first_seen_ms from pending where name = 'openssl'")
[ "$first" -gt 0 ] || fail "no agent first-seen time"

# A restart keeps them, and sends no change (the list is the same).
stop $APID
sleep 1
start agent2 "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 20 "agent reconnected" 'grep -q "pending updates" agent2.log'
sleep 2
[ "$(sql c.db "select agent_first_seen_ms from pending where name = 'openssl'")" = "$first" ] ||
    fail "first-seen time changed across a restart"
[ "$(sql c.db "select count(*) from pending_history")" = 3 ] || fail "a restart must not add history"

# An upgrade: openssl to the fixed version.  Its row goes; history closes.
{ stanza dpkg 1.21.22; stanza openssl 3.0.15-1~deb12u1; stanza curl 7.88.1-10; stanza tzdata 2024a-0 all
  stanza vim 2:9.0.1378-2; } >$H/var/lib/dpkg/status.new
mv $H/var/lib/dpkg/status.new $H/var/lib/dpkg/status
wait_for 20 "upgrade seen" '[ "$(cur | wc -l)" = 2 ]'
[ "$(sql c.db "select count(*) from pending_history where name = 'openssl' and disappeared_ms is not null")" = 1 ] ||
    fail "openssl's pending update not closed in history"
! grep -q openssl state-agent-1/pending-seen || fail "pending-seen keeps an upgraded package"

# apt update brings a newer tzdata (still not security) and a vim
# security fix: tzdata's row is replaced (same installed version, so the
# same first-seen time), vim appears.
tz_first=$(sql c.db "select agent_first_seen_ms from pending where name = 'tzdata'")
{ pkgs openssl 3.0.15-1~deb12u1; pkgs curl 7.88.1-10+deb12u5; pkgs vim 2:9.0.1378-2+deb12u1; } |
    xz -c >$L/security.tmp
mv $L/security.tmp $L/security.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.xz
{ pkgs openssl 3.0.11-1; pkgs curl 7.88.1-10+deb12u5; pkgs tzdata 2025c-0; pkgs vim 2:9.0.1378-2; } |
    gzip -c >$L/main.tmp
mv $L/main.tmp $L/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.gz
wait_for 30 "new lists seen" '[ "$(sql c.db "select candidate_version from pending where name = '"'"'tzdata'"'"'")" = 2025c-0 ]'
[ "$(sql c.db "select count(*) from pending where name = 'vim' and security <> 0")" = 1 ] || fail "vim's security fix"
[ "$(sql c.db "select agent_first_seen_ms from pending where name = 'tzdata'")" = "$tz_first" ] ||
    fail "a newer candidate restarted the first-seen clock"
[ "$(sql c.db "select count(*) from pending_history where name = 'tzdata'")" = 2 ] ||
    fail "tzdata history: one closed row (2025b-0), one open (2025c-0)"
[ "$(sql c.db "select count(*) from pending_history where name = 'tzdata' and candidate_version = '2025b-0' and disappeared_ms is not null")" = 1 ] ||
    fail "tzdata 2025b-0 not closed"
