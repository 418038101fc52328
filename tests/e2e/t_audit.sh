# The audit log: refused attempts are recorded with who tried and why;
# `vigilctl audit --verify` holds for the untouched log and finds an entry
# edited, or deleted, directly in SQLite.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost

# An agent's certificate used as an operator's: refused, and audited.
VIGIL_CERT=pki/agent-1.crt VIGIL_KEY=pki/agent-1.key "$CTL" hosts >out.txt 2>err.txt &&
    fail "an agent certificate was let in as an operator"
wait_for 10 "the refusal audited" '[ "$(sql c.db "select count(*) from audit where result = '"'refused'"'")" -ge 1 ]'

export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
expect_exit 0 "$CTL" --json audit --verify
jq -e '.chain_ok == true and (.entries | length) >= 1 and (.entries[0].actor | test("agent-1")) and .entries[0].result == "refused"' out.txt >/dev/null ||
    fail "audit --json: $(cat out.txt)"
expect_exit 0 "$CTL" audit
expect_in out.txt "refused"

# More entries (each refused attempt), then tampering.
for i in 1 2 3; do
    VIGIL_CERT=pki/agent-2.crt VIGIL_KEY=pki/agent-2.key "$CTL" hosts >/dev/null 2>&1 || true
done
wait_for 10 "4 entries" '[ "$(sql c.db "select count(*) from audit")" -ge 4 ]'
expect_exit 0 "$CTL" audit --verify
expect_in out.txt "chain: intact"

sql c.db "update audit set detail = 'nothing to see' where id = 2"
expect_exit 1 "$CTL" audit --verify
expect_in out.txt "BROKEN: entry 2 was changed after it was written"
sql c.db "update audit set detail = (select detail from audit where id = 3) where id = 2"
expect_exit 0 "$CTL" audit --verify

sql c.db "delete from audit where id = 3"
expect_exit 1 "$CTL" --json audit --verify
jq -e '.chain_ok == false and .broken_id == 3' out.txt >/dev/null || fail "a deleted entry: $(cat out.txt)"
