# Host lifecycle: vigilctl hosts --stale lists hosts not seen for a while;
# hosts retire (admin, audited) hides a host that is gone from 'hosts' and
# from reports, keeps its data, refuses a connected host, and a host that
# connects again is back by itself (or with --undo); two machines
# presenting one agent certificate (a cloned VM: another machine id under
# the same agent id) show as CLONE? with the evidence, and a concurrent
# second connection is counted as a refused duplicate.
# vg-timeout: 180
. "$VG_ROOT/tests/e2e/lib.sh"

export LC_ALL=C TZ=UTC
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf

root() { # DIR MACHINE_ID
    mkdir -p "$1/etc" "$1/var/lib/dpkg"
    printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' \
        >"$1/etc/os-release"
    echo "$2" >"$1/etc/machine-id"
    echo "$1" >"$1/etc/hostname"
    stanza bar 2.0-1 >"$1/var/lib/dpkg/status"
}
root hostA aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
root hostB bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
root hostC cccccccccccccccccccccccccccccccc

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
agent() { # NAME CERT ROOT
    agent_conf "$PORT" "$2" >"$1.conf"
    sed -i "s/^state_dir = .*/state_dir = state-$1/" "$1.conf"
    printf '[inventory]\nroot = %s\n[telemetry]\nprocess_source = off\n' "$3" >>"$1.conf"
    start "$1" "$AGENT" -c "$1.conf"
}
agent a1 agent-1 hostA
A1=$LAST_PID
agent a2 agent-2 hostB
A2=$LAST_PID
mid() { sql c.db "select machine_id from hosts where agent_id = '$1'"; }
wait_for 60 "both hosts' machine ids" '[ "$(mid agent-1)" = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ] &&
    [ "$(mid agent-2)" = bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
admin() { VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key "$CTL" "$@"; }
auditor() { VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key "$CTL" "$@"; }

# --stale: connected hosts are never stale.
expect_exit 0 auditor hosts --stale 1s
expect_in out.txt "no hosts match"
expect_exit 2 auditor hosts --stale soon
expect_in err.txt "--stale"
stop "$A2"
wait_for 30 "agent-2 offline" '[ -n "$(sql c.db "select last_disconnect_ms from hosts where agent_id = '"'agent-2'"'")" ]'
sleep 2
expect_exit 0 auditor --json hosts --stale 1s
[ "$(jq -r '[.[].agent_id] | join(" ")' out.txt)" = agent-2 ] || fail "--stale 1s: $(cat out.txt)"
expect_exit 0 auditor hosts --stale 30d
expect_in out.txt "no hosts match"

# Retire: admin only, a reason, not a connected host.
expect_exit 1 auditor hosts retire agent-2 --reason gone
expect_in err.txt "permission denied"
expect_exit 2 admin hosts retire agent-2
expect_in err.txt "--reason"
expect_exit 1 admin hosts retire agent-1 --reason "still here"
expect_in err.txt "is connected"
expect_exit 1 admin hosts retire no-such-host --reason x
expect_in err.txt "no host"
expect_exit 0 admin hosts retire hostB --reason "decommissioned, CHG-1"
expect_in out.txt "retired at"
expect_exit 0 admin hosts retire agent-2 --reason again
expect_in out.txt "was already retired"
expect_exit 0 auditor hosts
expect_in out.txt agent-1
expect_not_in out.txt agent-2
expect_exit 0 auditor hosts --all
expect_in out.txt "offline, retired"
expect_exit 0 auditor --json hosts --all
jq -e '[.[] | select(.agent_id == "agent-2")][0] | .retired and .retire_reason == "decommissioned, CHG-1" and (.retired_by | test("admin-1"))' out.txt >/dev/null ||
    fail "hosts --all --json: $(cat out.txt)"
expect_exit 0 auditor host hostB
expect_in out.txt "retired:"
expect_in out.txt "decommissioned, CHG-1"
[ "$(sql c.db "select count(*) from audit where action = 'retire' and target = 'agent-2' and result = 'retired'")" = 1 ] ||
    fail "retirement not audited once"
# Its data is kept; reports leave it out.
[ "$(sql c.db "select count(*) from packages p join hosts h on h.id = p.host_id where agent_id = 'agent-2'")" -gt 0 ] ||
    fail "a retired host's packages are gone"
expect_exit 0 auditor report patch --format json -o r.json
[ "$(jq '.header.scope.hosts' r.json)" = 1 ] || fail "report scope: $(jq -c .header.scope r.json)"
# --undo, then retired again and back by itself when it connects.
expect_exit 0 admin hosts retire agent-2 --undo
expect_in out.txt "is back in the fleet"
expect_exit 0 auditor hosts
expect_in out.txt agent-2
expect_exit 0 admin hosts retire agent-2 --reason "gone again"
agent a2 agent-2 hostB
A2=$LAST_PID
wait_for 60 "agent-2 back" '[ -z "$(sql c.db "select retired_ms from hosts where agent_id = '"'agent-2'"'")" ]'
expect_in collector.log "retired, connected again"
expect_exit 0 auditor hosts
expect_in out.txt agent-2

# A clone: agent-1's certificate on another machine (machine id c...),
# after the first went away.
expect_exit 0 auditor hosts
expect_not_in out.txt "CLONE?"
stop "$A1"
agent clone agent-1 hostC
CL=$LAST_PID
wait_for 60 "the clone seen" '[ "$(sql c.db "select clone_count from hosts where agent_id = '"'agent-1'"'")" -ge 1 ]'
expect_in collector.log "two machines may be using its certificate"
expect_exit 0 auditor hosts
expect_in out.txt "CLONE?"
expect_exit 0 auditor host agent-1
expect_in out.txt "CLONE?"
expect_in out.txt "machine id cccccccccccccccccccccccccccccccc"
expect_in out.txt "after machine id aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
expect_exit 0 auditor --json host agent-1
jq -e '.clone_suspected and .clone_signs >= 1 and (.clone_evidence | test("aaaa")) and .machine_id == "cccccccccccccccccccccccccccccccc"' out.txt >/dev/null ||
    fail "host --json: $(cat out.txt)"
# Both at once: the second is refused as a duplicate identity, counted.
agent a1b agent-1 hostA
wait_for 60 "a duplicate refused" '[ "$(sql c.db "select duplicates_refused from hosts where agent_id = '"'agent-1'"'")" -ge 1 ]'
expect_exit 0 auditor host agent-1
expect_in out.txt "duplicates:"
# agent-2 never cloned.
expect_exit 0 auditor --json host agent-2
jq -e '(.clone_suspected | not) and .clone_signs == 0' out.txt >/dev/null || fail "agent-2: $(cat out.txt)"
