# Text from a compromised host cannot drive an operator's terminal or
# forge log lines: an agent whose hostname (the kernel's name, set in a
# UTS namespace), tags, OS name and a package name carry escape
# sequences, a newline and a carriage return connects to a real
# collector.  vigilctl hosts, host, inventory and packages show them
# escaped (\xNN) with no raw ESC or CR and their tables aligned; --json
# gives back the exact strings; the collector's log has no raw ESC and
# no line the host made.
# vg-timeout: 90
. "$VG_ROOT/tests/e2e/lib.sh"

command -v unshare >/dev/null && unshare --uts true 2>/dev/null ||
    { echo "SKIP: no UTS namespaces (unshare --uts)"; exit 77; }

ESC=$(printf '\033')
CR=$(printf '\r')
# At most 64 bytes (the kernel's limit); the agent validates only a name
# from /etc/hostname, and a compromised agent would not validate at all.
HN=$(printf 'ev\033[31m\nFORGED vigil-collector: info: x\rz')
TAG=$(printf 'red\033]0;owned\007')
OS=$(printf 'Evil\033[2J OS \302\233 Z\303\274rich')
PKG=$(printf 'bad\033[31mpkg')

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
agent_conf "$PORT" agent-1 "site=$TAG,city=Z$(printf '\303\274')rich" >agent.conf
printf '[inventory]\nroot = host\n' >>agent.conf
mkdir -p host/etc host/var/lib/dpkg
# No host/etc/hostname: the agent takes the kernel's name.
printf 'PRETTY_NAME="%s"\nID=debian\nVERSION_ID="12"\n' "$OS" >host/etc/os-release
{ stanza "$PKG" 1.0-1; stanza zlib1g 1:1.2.13.dfsg-1; } >host/var/lib/dpkg/status

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
start agent unshare --uts python3 -c 'import os, socket, sys
socket.sethostname(sys.argv[1])
os.execv(sys.argv[2], sys.argv[2:])' "$HN" "$AGENT" -c agent.conf
APID=$LAST_PID
stored() {
    [ "$(sql c.db "select count(*) from packages")" -ge 2 ] &&
        [ "$(sql c.db "select count(*) from hosts where os_pretty_name like 'Evil%'")" = 1 ]
}
wait_for 30 "the inventory and OS state stored" stored
[ "$(sql c.db "select hostname from hosts")" = "$HN" ] ||
    fail "the collector did not store the host's name as sent: $(sql c.db "select quote(hostname) from hosts")"

ctl() { "$CTL" --collector 127.0.0.1:$PORT --server-name localhost --ca pki/ca.crt \
            --cert pki/auditor-1.crt --key pki/auditor-1.key "$@"; }
# no_raw FILE: no ESC, no CR, no C1 control (UTF-8 C2 9B) in FILE.
no_raw() {
    ! grep -q "$ESC" "$1" || { od -c "$1" | head -20 >&2; fail "raw ESC in $1"; }
    ! grep -q "$CR" "$1" || fail "raw CR in $1"
    ! LC_ALL=C grep -q "$(printf '\302\233')" "$1" || fail "raw C1 CSI in $1"
}
HN_SHOWN='ev\x1b[31m\x0aFORGED vigil-collector: info: x\x0dz'

expect_exit 0 ctl hosts
no_raw out.txt
expect_in out.txt "$HN_SHOWN"
expect_in out.txt 'site=red\x1b]0;owned\x07'
expect_in out.txt 'Evil\x1b[2J OS \xc2\x9b Zürich'
expect_in out.txt 'city=Zürich'
[ "$(wc -l <out.txt)" = 2 ] || fail "the host's newline split its row"
# Columns line up on the escaped text (in characters, not bytes: Zürich).
chars() { LC_ALL=C.UTF-8 wc -m; }
head -1 out.txt | sed 's/TAGS.*//' | chars >h.txt
sed -n 2p out.txt | sed -E 's/(city|site)=.*//' | chars >r.txt
cmp -s h.txt r.txt || fail "TAGS column at $(cat h.txt) in the header, $(cat r.txt) in the row"
expect_exit 0 ctl hosts --wide
head -1 out.txt | sed 's/KERNEL.*//' | chars >h.txt
sed -n 2p out.txt | sed "s/$(uname -r).*//" | chars >r.txt
cmp -s h.txt r.txt || fail "KERNEL column at $(cat h.txt) in the header, $(cat r.txt) in the row"
expect_exit 0 ctl --json hosts
jq -e --arg hn "$HN" --arg tag "$TAG" --arg os "$OS" \
    '.[0].hostname == $hn and .[0].tags.site == $tag and .[0].tags.city == "Zürich" and .[0].os == $os' \
    out.txt >/dev/null || fail "--json hosts is not exact: $(jq -c '.[0] | [.hostname, .tags, .os]' out.txt)"

expect_exit 0 ctl host agent-1
no_raw out.txt
expect_in out.txt "hostname:    $HN_SHOWN"
expect_in out.txt 'os:          Evil\x1b[2J OS \xc2\x9b Zürich'
expect_in out.txt 'site=red\x1b]0;owned\x07'
expect_exit 0 ctl --json host agent-1
jq -e --arg hn "$HN" '.hostname == $hn' out.txt >/dev/null || fail "--json host is not exact"

expect_exit 0 ctl inventory agent-1
no_raw out.txt
expect_in out.txt 'bad\x1b[31mpkg  1.0-1'
# NAME is as wide as the escaped name: VERSION starts where the versions do.
[ "$(head -1 out.txt | sed 's/VERSION.*//' | chars)" = "$(grep zlib1g out.txt | sed 's/1:1.2.*//' | chars)" ] ||
    fail "inventory columns do not line up"
expect_exit 0 ctl --json inventory agent-1
jq -e --arg p "$PKG" 'any(.[]; .name == $p)' out.txt >/dev/null || fail "--json inventory is not exact"

expect_exit 0 ctl packages --name "$PKG"
no_raw out.txt
expect_in out.txt "$HN_SHOWN"
# An error that quotes what was asked is escaped too.
expect_exit 1 ctl host "$HN-nope"
no_raw err.txt
expect_in err.txt "$HN_SHOWN-nope"

# The collector's log: the host's name is on the line that logs it,
# escaped, and starts no line of its own.
expect_in collector.log "agent agent-1 ($HN_SHOWN, "
no_raw collector.log
! grep -q '^FORGED' collector.log || fail "the host forged a collector log line"
! grep -q '^z' collector.log || fail "the host's CR split a collector log line"
stop "$APID"
no_raw agent.log
echo ok
