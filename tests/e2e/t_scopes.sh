# vg-timeout: 180
# Groups: hosts are grouped by their tags, and [operators] scopes limits
# an operator to groups.  A responder scoped to site=a cannot isolate,
# release, collect from, read or list a host in site=b, nor report on it
# (each refusal audited); a scoped admin cannot retire a site=b host nor
# back up the database (it holds every host); it still works on site=a hosts; an unscoped
# operator sees both; a malformed scope is a configuration error.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
"$CTL" pki issue --dir pki --role responder --name resp-a >/dev/null
"$CTL" pki issue --dir pki --role admin --name admin-a >/dev/null
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
cat >>collector.conf <<CONF
[operators]
scopes = resp-a:site=a, resp-a:site=c, admin-a:site=a
CONF
printf '[operators]\nscopes = resp-a site=a\n' >bad.conf
collector_conf "$PORT" c.db >bad.conf.full
cat bad.conf >>bad.conf.full
expect_exit 1 "$COLLECTOR" --check-config -c bad.conf.full
expect_in err.txt "[operators] scopes: 'resp-a site=a' is not NAME:KEY=VALUE"

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
for n in 1 2; do
    site=$([ $n = 1 ] && echo a || echo b)
    agent_conf "$PORT" agent-$n "site=$site,role=web" >agent$n.conf
    cat >>agent$n.conf <<CONF
[telemetry]
process_source = off
CONF
    start agent$n "$AGENT" -c agent$n.conf
done
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
as() { r=$1; shift; VIGIL_CERT=pki/$r.crt VIGIL_KEY=pki/$r.key "$@"; }
both() { as responder-1 "$CTL" --json hosts 2>/dev/null |
         jq -e '[.[] | select(.connected)] | length == 2' >/dev/null; }
wait_for 60 "both agents connected" both

# Listing: only its group.
as resp-a expect_exit 0 "$CTL" --json hosts
jq -e 'map(.agent_id) == ["agent-1"]' out.txt >/dev/null || fail "scoped hosts: $(cat out.txt)"
as resp-a expect_exit 0 "$CTL" --json hosts --tag site=b
jq -e 'length == 0' out.txt >/dev/null || fail "site=b listed to resp-a: $(cat out.txt)"
as responder-1 expect_exit 0 "$CTL" --json hosts
jq -e 'map(.agent_id) | sort == ["agent-1", "agent-2"]' out.txt >/dev/null ||
    fail "unscoped hosts: $(cat out.txt)"

# Commands and reads on site=b: refused, each audited.
as resp-a expect_exit 1 "$CTL" isolate agent-2 --reason "not mine" --no-wait
expect_in err.txt "resp-a is limited to hosts tagged site=a, site=c; host 'agent-2' is not one of them"
as resp-a expect_exit 1 "$CTL" release agent-2 --reason "not mine" --no-wait
expect_in err.txt "is not one of them"
as resp-a expect_exit 1 "$CTL" collect agent-2 --reason "not mine" -o x.tar.lz4
expect_in err.txt "is not one of them"
[ ! -e x.tar.lz4 ] || fail "a package was written"
# Reads name the host through the (scoped) host list first: to resp-a,
# agent-2 does not exist.
for c in inventory processes host; do
    as resp-a expect_exit 1 "$CTL" $c agent-2
    expect_in err.txt "no host with agent id or hostname 'agent-2'"
done
for a in isolate release collect; do
    [ "$(sql c.db "select count(*) from audit where action = '$a' and target = 'agent-2' and result = 'refused' and actor like 'responder resp-a%'")" -ge 1 ] ||
        fail "the $a refusal is not audited: $(sql c.db "select action, target, result, actor from audit")"
done
[ "$(sql c.db "select count(*) from commands")" = 0 ] || fail "a command was queued"

# Its own group still works.
as resp-a expect_exit 0 "$CTL" inventory agent-1
as resp-a expect_exit 0 "$CTL" --json commands
jq -e 'length == 0' out.txt >/dev/null || fail "commands: $(cat out.txt)"

# A triage package of a site=b host, collected by an unscoped responder:
# resp-a cannot see it listed, nor download it by its id.
as responder-1 expect_exit 0 "$CTL" collect agent-2 --reason "INC-1" -o b.tar.lz4 --timeout 120s
as responder-1 expect_exit 0 "$CTL" --json collections agent-2
ID=$(jq -r '.[0].collection_id' out.txt)
as resp-a expect_exit 0 "$CTL" --json collections
jq -e 'length == 0' out.txt >/dev/null || fail "collections listed to resp-a: $(cat out.txt)"
as resp-a expect_exit 1 "$CTL" collection get "$ID" -o stolen.tar.lz4
expect_in err.txt "the package is from host 'agent-2', not one of them"
[ ! -e stolen.tar.lz4 ] || fail "resp-a downloaded agent-2's package"
[ "$(sql c.db "select count(*) from audit where action = 'download' and result = 'refused' and actor like 'responder resp-a%'")" -ge 1 ] ||
    fail "the download refusal is not audited"

# Reports: only its group.
as resp-a expect_exit 0 "$CTL" report patch --format json -o ra.json
jq -e '.hosts | map(.agent_id) == ["agent-1"]' ra.json >/dev/null ||
    fail "scoped report hosts: $(jq -c '[.hosts[].agent_id]' ra.json)"
as responder-1 expect_exit 0 "$CTL" report patch --format json -o r1.json
jq -e '.hosts | map(.agent_id) | sort == ["agent-1", "agent-2"]' r1.json >/dev/null ||
    fail "unscoped report hosts: $(jq -c '[.hosts[].agent_id]' r1.json)"
grep -q agent-2 ra.json && fail "the scoped report names agent-2"
as auditor-1 expect_exit 0 "$CTL" --json audit --verify

# A scoped admin: not another group's host, and no database backup.
as admin-a expect_exit 1 "$CTL" hosts retire agent-2 --reason "not mine"
expect_in err.txt "admin-a is limited to hosts tagged site=a; host 'agent-2' is not one of them"
as admin-a expect_exit 1 "$CTL" db backup all.db
expect_in err.txt "admin-a is limited to hosts tagged site=a; a database backup holds every host"
[ ! -e all.db ] || fail "a scoped admin got a backup"
[ "$(sql c.db "select count(*) from audit where action = 'db.backup' and result = 'refused' and actor like 'admin admin-a%'")" = 1 ] ||
    fail "the backup refusal is not audited"
[ "$(sql c.db "select count(*) from hosts where retired_ms is not null")" = 0 ] || fail "a host was retired"
