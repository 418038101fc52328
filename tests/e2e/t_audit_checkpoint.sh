# vg-timeout: 240
# The audit log against its signed checkpoints (collector/audit.c): with
# the collector stopped, the database is tampered with the way an
# intruder without the checkpoint key can, and `vigilctl audit --verify`
# must fail and say which: the newest entries deleted, all deleted, an
# entry edited and the whole chain recomputed; the checkpoint file itself
# cut in the middle; the key replaced.  The untouched log passes.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
PORT=$(free_port)
{ collector_conf "$PORT" c.db; printf '[audit]\ncheckpoint_interval = 1s\n'; } >collector.conf
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost

N=0
run_collector() { # a collector on c.db, up and listening; COLL is its pid
    N=$((N + 1))
    start "c$N" "$COLLECTOR" -c collector.conf
    COLL=$LAST_PID
    wait_for 30 "collector up" "grep -q 'listening on' c$N.log"
}

# cp_entries: the entries of the newest checkpoint in the file.
cp_entries() {
    tail -1 c.db-audit.checkpoints | sed -n 's/.* entries=\([0-9]*\) .*/\1/p'
}

run_collector
[ "$(mode c.db-audit.key)" = 600 ] || fail "c.db-audit.key has mode $(mode c.db-audit.key), not 600"
[ -s c.db-audit.pub ] && grep -q "BEGIN PUBLIC KEY" c.db-audit.pub || fail "no public key in c.db-audit.pub"
grep -q "PRIVATE" c.db-audit.pub && fail "c.db-audit.pub holds the private key"
wait_for 10 "a start checkpoint" 'grep -q "^vigil-audit-checkpoint 1 seq=1 .* reason=start sig=" c.db-audit.checkpoints'

# Audit entries: refused attempts (an agent's certificate used as an
# operator's), as t_audit does.
for i in 1 2 3 4 5 6; do
    VIGIL_CERT=pki/agent-$((i % 2 + 1)).crt VIGIL_KEY=pki/agent-$((i % 2 + 1)).key \
        "$CTL" hosts >/dev/null 2>&1 || true
done
wait_for 30 "6 audit entries" '[ "$(sql c.db "select count(*) from audit")" -ge 6 ]'
COUNT=$(sql c.db "select count(*) from audit")
wait_for 30 "a checkpoint of all $COUNT entries" '[ "$(cp_entries)" = "$COUNT" ]'
grep -q "reason=interval" c.db-audit.checkpoints || fail "no interval checkpoint: $(cat c.db-audit.checkpoints)"

export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
expect_exit 0 "$CTL" audit --verify
expect_in out.txt "chain: intact"
expect_in out.txt "checkpoint: #"
expect_in out.txt ", $COUNT entries,"
expect_exit 0 "$CTL" --json audit --verify
jq -e --argjson n "$COUNT" '.chain_ok == true and .broken_kind == "" and .checkpoint.entries == $n and (.checkpoint.head | length) == 64' out.txt >/dev/null ||
    fail "audit --verify --json: $(cat out.txt)"

# The same offline, with only the public key: vigilctl recomputes the chain
# and checks each line's signature itself.
expect_exit 0 "$CTL" audit --verify --checkpoints c.db-audit.checkpoints --pubkey c.db-audit.pub
expect_in out.txt "offline: intact against "
expect_exit 2 "$CTL" audit --checkpoints c.db-audit.checkpoints
expect_in err.txt "--checkpoints and --pubkey go together"
# A line signed by another key (here the collector's TLS key) is refused.
sed 's/ entries=[0-9]* / entries=99 /' c.db-audit.checkpoints >forged.txt
expect_exit 1 "$CTL" audit --verify --checkpoints forged.txt --pubkey c.db-audit.pub
expect_in out.txt "offline: BROKEN: forged.txt line 1: checkpoint #1 is not signed by this key"
expect_exit 1 "$CTL" audit --verify --checkpoints c.db-audit.checkpoints --pubkey pki/collector.key
expect_in out.txt "is not signed by this key"

stop "$COLL"
tail -1 c.db-audit.checkpoints | grep -q "entries=$COUNT .* reason=stop sig=" || fail "no stop checkpoint: $(tail -1 c.db-audit.checkpoints)"
# What follows copies the database file back to make a log go back in time.
sqlite_only "the log restored from a copy of the database file" 0
cp c.db c.db.orig
cp c.db-audit.checkpoints cp.orig
restore() { cp c.db.orig c.db; rm -f c.db-wal c.db-shm; cp cp.orig c.db-audit.checkpoints; }

# The untouched log still holds after a restart.
run_collector
expect_exit 0 "$CTL" audit --verify
expect_in out.txt "chain: intact"
stop "$COLL"

# verify_fails KIND TEXT: restarted on the tampered database, the collector
# says so in its log, and verify exits 1 naming the kind and TEXT.
verify_fails() {
    run_collector
    expect_in "c$N.log" "the audit log does not hold"
    expect_exit 1 "$CTL" audit --verify
    expect_in out.txt "chain: BROKEN: $2"
    expect_exit 1 "$CTL" --json audit --verify
    jq -e --arg k "$1" '.chain_ok == false and .broken_kind == $k' out.txt >/dev/null ||
        fail "expected broken_kind $1: $(cat out.txt)"
    # Offline, against the copy taken before (as a syslog copy would be).
    expect_exit 1 "$CTL" --json audit --checkpoints cp.orig --pubkey c.db-audit.pub
    jq -e --arg k "$1" '.offline.ok == false and .offline.kind == $k' out.txt >/dev/null ||
        fail "offline: expected kind $1: $(cat out.txt)"
    stop "$COLL"
    restore
}

# (a) The newest entries deleted: the chain itself still holds.
restore
sql c.db "delete from audit where id > $((COUNT - 2))"
verify_fails truncated "truncated: the 2 newest entries are missing"

# (b) Every entry deleted.
sql c.db "delete from audit"
verify_fails emptied "all entries deleted: the log is empty, but the signed checkpoint"

# (c) An entry edited and the chain recomputed: every link holds.
python3 "$VG_ROOT/tests/e2e/audit_rechain.py" c.db 2 "nothing to see"
[ "$(sql c.db "select detail from audit where id = 2")" = "nothing to see" ] || fail "the edit did not take"
verify_fails rewritten "chain rewritten: entry "

# The same edit without recomputing: the chain's own check, as before.
sql c.db "update audit set detail = 'nothing to see' where id = 2"
verify_fails edited "entry 2 was changed after it was written"

# The newest entry's hash made malformed: nothing can be signed over it,
# yet the collector starts and says what it found.
sql c.db "update audit set hash = 'x' where id = $COUNT"
verify_fails edited "entry $COUNT was changed after it was written"

# (d) A checkpoint removed from the middle of the file.
sed -i '2d' c.db-audit.checkpoints
run_collector
expect_exit 1 "$CTL" --json audit --verify
jq -e '.chain_ok == false and .broken_kind == "checkpoints" and (.broken_reason | test("does not follow"))' out.txt >/dev/null ||
    fail "a checkpoint removed from the file: $(cat out.txt)"
stop "$COLL"
restore

# (f) What the collector cannot see alone: the newest entries deleted and
# the checkpoint lines that covered them cut from the end of its file.
# The copy kept elsewhere (syslog; here the copy taken before) shows it.
sql c.db "delete from audit where id > $((COUNT - 2))"
awk -v max=$((COUNT - 2)) '{ n = $0; sub(/.* last=/, "", n); sub(/ .*/, "", n); if (n + 0 > max) exit; print }' \
    cp.orig >c.db-audit.checkpoints
[ -s c.db-audit.checkpoints ] || fail "no checkpoint left to start from"
run_collector
expect_exit 1 "$CTL" audit --verify --checkpoints cp.orig --pubkey c.db-audit.pub
expect_in out.txt "offline: BROKEN: truncated: the 2 newest entries are missing"
stop "$COLL"
restore

# (e) The key replaced (say, deleted so that the collector makes a new
# one): the collector refuses to sign on after checkpoints it did not sign.
mv c.db-audit.key c.db-audit.key.orig
expect_exit 1 "$COLLECTOR" -c collector.conf
expect_in err.txt "is not signed by the key"
mv c.db-audit.key.orig c.db-audit.key

# Restored, all is well again.
run_collector
expect_exit 0 "$CTL" audit --verify
expect_in out.txt "chain: intact"
stop "$COLL"

# Syslog: every checkpoint line, as written to the file, goes to syslog(3)
# too.  The collector runs in a mount namespace of its own whose /dev has
# a /dev/log (a stand-in syslogd's socket); the machine's is untouched.
if ! unshare -m true 2>/dev/null; then
    echo "note: no mount namespaces here; the syslog copy is not tested"
    exit 0
fi
mkdir dev
for d in null zero full random urandom; do touch "dev/$d"; done
start sink python3 "$VG_ROOT/tests/e2e/syslog_sink.py" "$VG_TMP/dev/log" "$VG_TMP/syslog.txt"
wait_for 10 "the syslog stand-in" '[ -S dev/log ]'
printf 'checkpoint_syslog = yes\n' >>collector.conf
N=$((N + 1))
start "c$N" unshare -m --propagation private sh -c '
    for d in null zero full random urandom; do mount --bind /dev/$d "$1/dev/$d"; done
    mount --bind "$1/dev" /dev && exec "$2" -c collector.conf' sh "$VG_TMP" "$COLLECTOR"
COLL=$LAST_PID
wait_for 30 "collector up" "grep -q 'listening on' c$N.log"
wait_for 30 "the start checkpoint in syslog" 'grep -q "vigil-audit-checkpoint 1 .* reason=start " syslog.txt'
VIGIL_CERT=pki/agent-1.crt VIGIL_KEY=pki/agent-1.key "$CTL" hosts >/dev/null 2>&1 || true
wait_for 30 "an interval checkpoint in syslog" 'grep -q "vigil-audit-checkpoint 1 .* reason=interval " syslog.txt'
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
expect_exit 0 "$CTL" audit --verify --checkpoints syslog.txt --pubkey c.db-audit.pub
expect_in out.txt "offline: intact against "
stop "$COLL"
wait_for 10 "the stop checkpoint in syslog" 'grep -q "vigil-audit-checkpoint 1 .* reason=stop " syslog.txt'
# Each syslog line carries a line of the file, byte for byte.
grep -o 'vigil-audit-checkpoint 1 .*' syslog.txt >syslog-lines.txt
while read -r l; do
    grep -qxF "$l" c.db-audit.checkpoints || fail "a syslog line is not in the file: $l"
done <syslog-lines.txt
[ "$(wc -l <syslog-lines.txt)" -ge 3 ] || fail "too few syslog lines: $(cat syslog.txt)"
