# vg-timeout: 240
# Triage collection from a live agent: vigilctl collect downloads a
# package whose SHA-256 matches the collector's record; the manifest
# lists every item with the hash of the file in the archive; standard
# tools read it (lz4 -d | tar t); it holds a process, a socket and a
# /dev/shm file the test made.  The upload survives a dropped connection
# (resumed, same hash) while telemetry flows; --max-size gives a package
# with the skips listed; -o never replaces a file without --force; an
# auditor cannot collect; collects and downloads are audited.
. "$VG_ROOT/tests/e2e/lib.sh"

command -v lz4 >/dev/null || fail "lz4 missing"
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
# The collector drops the agent's connection once, after 3 chunks, and
# holds back its acknowledgement of the 6th until 20 more events of the
# agent's are stored: were batches stuck behind the package, the upload
# would never end.
start collector env VIGIL_TEST_UPLOAD_DROP_AFTER=3 VIGIL_TEST_UPLOAD_HOLD_EVENTS=20 \
    "$COLLECTOR" -c collector.conf
CPID=$LAST_PID
wait_for 30 "collector up" 'grep -q "listening on" collector.log'

# Something incompressible to make the package several chunks long.
head -c 3000000 /dev/urandom >"$VG_TMP/big-1.bin"
agent_conf "$PORT" agent-1 >agent.conf
cat >>agent.conf <<CONF
[telemetry]
process_source = off
[dummy]
rate = 20
[triage]
extra_paths = $VG_TMP/big-*.bin
CONF
start agent "$AGENT" -c agent.conf
APID=$LAST_PID
wait_for 15 "agent connected" 'grep -q "connected to collector" agent.log'
# libarchive (and libxml2, ICU, libstdc++ behind it) is opened only for
# a collection.
for p in $APID $(pgrep -P "$APID"); do cat /proc/"$p"/maps; done >maps.idle
grep -q "vigil-agent" maps.idle || fail "no agent process found"
# (AddressSanitizer's runtime, make check, brings libstdc++ itself.)
pulled="libarchive|libxml2|libicu"
grep -q libasan maps.idle || pulled="$pulled|libstdc\+\+"
! grep -Eq "$pulled" maps.idle || fail "an idle agent maps libarchive or what it pulls in"

# What the package must show.
marker="vg-triage-marker-$$"
start marked python3 -c 'import socket, time, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[2], "w").write(str(s.getsockname()[1]))
time.sleep(300)' "$marker" "$VG_TMP/port.txt"
MPID=$LAST_PID
wait_for 10 "the marked process listening" '[ -s port.txt ]'
MPORT=$(cat port.txt)
SHM=/dev/shm/vg-triage-$$
echo "dropped by the test" >"$SHM"
trap 'rm -f "$SHM"; cleanup_pids' EXIT

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
expect_exit 1 "$CTL" collect agent-1 --reason "auditors may not" -o x.tar.lz4
expect_in err.txt "permission denied"

export VIGIL_CERT=pki/responder-1.crt VIGIL_KEY=pki/responder-1.key
expect_exit 0 "$CTL" collect agent-1 --reason "INC-9: triage" -o pkg.tar.lz4 --timeout 120s
expect_in out.txt "matches the collector's record"
# Not a terminal: no progress on stderr, just the command's line.
[ "$(wc -l <err.txt)" -eq 1 ] || { cat err.txt >&2; fail "collect printed more than its command line off a terminal"; }
expect_in err.txt "sent to the agent"
! grep -q "$(printf '\r')" err.txt || fail "collect redrew a progress line off a terminal"
grep -q "dropping agent agent-1 mid-upload" collector.log || fail "the upload was not interrupted"
grep -q "resuming" agent.log || fail "the agent did not resume the upload"
grep -q "holding agent agent-1's upload" collector.log || fail "the upload was not held"
grep -q "events stored during the upload" collector.log || fail "telemetry did not flow during the upload"

# The collector's record and the file agree; standard tools read it.
expect_exit 0 "$CTL" --json collections agent-1
ID=$(jq -r '.[0].collection_id' out.txt)
CMDID=$(jq -r '.[0].command_id' out.txt)
[ "$(jq -r '.[0].state' out.txt)" = complete ] || fail "collection not complete: $(cat out.txt)"
[ "$(jq -r '.[0].sha256' out.txt)" = "$(sha256sum pkg.tar.lz4 | cut -d' ' -f1)" ] || fail "hash differs from the record"
[ "$(jq -r '.[0].chunks' out.txt)" -ge 4 ] || fail "expected several chunks"
[ "$(jq -r '.[0].downloads | length' out.txt)" -eq 1 ] || fail "the download is not recorded"
[ "$(jq -r '.[0].reason' out.txt)" = "INC-9: triage" ] || fail "reason not in the record"
lz4 -dc pkg.tar.lz4 | tar t >list.txt
expect_in list.txt "triage/manifest.json"
mkdir x && lz4 -dc pkg.tar.lz4 | tar x -C x
M=x/triage/manifest.json
# Every file is in the manifest with its hash, and every item is a file.
for f in $(cd x && find triage -type f ! -name manifest.json | sort); do
    want=$(jq -r --arg p "$f" '.items[] | select(.path == $p) | .sha256' "$M")
    [ -n "$want" ] || fail "$f is not in the manifest"
    [ "$want" = "$(sha256sum "x/$f" | cut -d' ' -f1)" ] || fail "$f: hash differs from the manifest"
done
[ "$(jq '.items | length' "$M")" -eq "$(cd x && find triage -type f ! -name manifest.json | wc -l)" ] ||
    fail "the manifest lists items that are not in the archive"
jq -e '.skipped | length == 0' "$M" >/dev/null || fail "unexpected skips: $(jq -c .skipped "$M")"
# The process, its socket, the /dev/shm file.
jq -e --arg m "$marker" '[.[] | select(.argv | index($m))] | length == 1' x/triage/processes.json >/dev/null ||
    fail "the marked process is not in processes.json"
jq -e --argjson p "$MPID" --arg port "127.0.0.1:$MPORT" \
    '[.[] | select(.local == $port and .state == "LISTEN" and (.processes | map(.pid) | index($p)))] | length == 1' \
    x/triage/sockets.json >/dev/null || fail "the test's socket is not in sockets.json with its process"
jq -e --arg f "$SHM" '[."/dev/shm"[] | select(.path == $f and .sha256 != null)] | length == 1' \
    x/triage/listings.json >/dev/null || fail "the /dev/shm file is not listed with its hash"
cmp "$VG_TMP/big-1.bin" "x/triage/files$VG_TMP/big-1.bin" || fail "extra_paths file differs"

# Downloaded again: verified, and recorded.
expect_exit 0 "$CTL" collection get "$ID" -o again.tar.lz4
cmp pkg.tar.lz4 again.tar.lz4 || fail "a second download differs"
expect_exit 0 "$CTL" --json collections --command "$CMDID"
jq -e --arg id "$ID" 'length == 1 and .[0].collection_id == $id and (.[0].downloads | length) == 2' out.txt >/dev/null ||
    fail "collections --command: $(cat out.txt)"

# -o never replaces a file without --force: refused, the file unchanged,
# and collect refuses before anything is queued (two collects audited below).
echo "evidence kept by the responder" >keep.txt
cp keep.txt keep.orig
expect_exit 1 "$CTL" collection get "$ID" -o keep.txt
expect_in err.txt "keep.txt exists"
expect_in err.txt "--force"
cmp keep.txt keep.orig || fail "collection get -o replaced an existing file"
expect_exit 1 "$CTL" collect agent-1 --reason "not over evidence" -o keep.txt
expect_in err.txt "keep.txt exists"
expect_in err.txt "--force"
cmp keep.txt keep.orig || fail "collect -o replaced an existing file"
[ ! -e keep.txt.part ] || fail "a refused download left keep.txt.part"
expect_exit 0 "$CTL" collection get "$ID" -o keep.txt --force
cmp pkg.tar.lz4 keep.txt || fail "collection get --force did not replace the file"

# The lists have a header row.
expect_exit 0 "$CTL" collections
head -1 out.txt | grep -q '^ID  *STATE  *HOSTNAME' || fail "collections: no header row: $(head -2 out.txt)"
expect_in out.txt "$ID"
cp out.txt collections.txt
expect_exit 0 "$CTL" commands
head -1 out.txt | grep -q '^ID  *ISSUED  *ACTION  *STATE' || fail "commands: no header row: $(head -2 out.txt)"
expect_in out.txt "$CMDID"
cp out.txt commands.txt

# A bound: the package is made, with what did not fit listed.
expect_exit 0 "$CTL" collect agent-1 --reason "small" --max-size 20K -o small.tar.lz4 --progress json
# --progress json: every stderr line a JSON object, the states in order, ending done.
jq -e -s 'length >= 3' err.txt >/dev/null || { cat err.txt >&2; fail "--progress json: not JSON lines"; }
jq -r .state err.txt >states.txt
awk 'BEGIN { o["queued"] = 1; o["sent"] = 2; o["collecting"] = 3; o["uploading"] = 4;
             o["downloading"] = 5; o["done"] = 6 }
     !($1 in o) || o[$1] < last { exit 1 } { last = o[$1] }' states.txt ||
    { cat err.txt >&2; fail "--progress json: states out of order"; }
[ "$(tail -1 states.txt)" = done ] || fail "--progress json: does not end with done"
expect_in states.txt downloading
[ "$(jq -s -r 'map(.command_id) | unique | length' err.txt)" -eq 1 ] || fail "--progress json: command ids differ"
[ "$(tail -1 err.txt | jq .bytes)" -eq "$(stat -c %s small.tar.lz4)" ] || fail "--progress json: done's bytes are not the file's size"
tail -1 err.txt | jq -e '.agent_id == "agent-1" and (.time | test("Z$")) and .total_bytes == .bytes' >/dev/null ||
    fail "--progress json: $(tail -1 err.txt)"
expect_exit 2 "$CTL" collect agent-1 --reason x --progress yes
mkdir y && lz4 -dc small.tar.lz4 | tar x -C y
jq -e '(.skipped | length) >= 1 and .content_bytes <= 20480' y/triage/manifest.json >/dev/null ||
    fail "the bound did not skip: $(jq -c '.skipped, .content_bytes' y/triage/manifest.json)"
jq -e '.skipped[0].reason | test("size bound")' y/triage/manifest.json >/dev/null || fail "skip reason"

NCOLLECT=2
# On a terminal (script(1) gives it one): the progress line, redrawn with
# \r and cleared at the end, then the result.
if command -v script >/dev/null; then
    script -qec "'$CTL' collect agent-1 --reason tty -o tty.tar.lz4" tty.log >/dev/null </dev/null ||
        { cat tty.log >&2; fail "collect on a terminal"; }
    NCOLLECT=3
    grep -q "$(printf '\r')collect: .*\(collecting\|uploading\|downloading\)" tty.log ||
        { cat -v tty.log >&2; fail "no progress line on a terminal"; }
    grep -q "$(printf '\033')\[K" tty.log || fail "the progress line is not cleared"
    expect_in tty.log "matches the collector's record"
fi

# An auditor cannot download either; everything is in the audit log.
VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key expect_exit 1 "$CTL" collection get "$ID" -o z.tar.lz4
export VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key
expect_exit 0 "$CTL" --json audit --verify
jq -e '.chain_ok' out.txt >/dev/null || fail "audit chain broken"
[ "$(jq '[.entries[] | select(.action == "collect" and .result == "queued")] | length' out.txt)" -eq $NCOLLECT ] || fail "collects not audited"
[ "$(jq '[.entries[] | select(.action == "collect" and .result == "refused")] | length' out.txt)" -eq 1 ] || fail "the auditor's collect not audited"
[ "$(jq '[.entries[] | select(.action == "download" and .result == "served")] | length' out.txt)" -ge 3 ] || fail "downloads not audited"
[ "$(jq '[.entries[] | select(.action == "download" and .result == "refused")] | length' out.txt)" -eq 1 ] || fail "the refused download not audited"
[ "$(jq '[.entries[] | select(.action == "collection" and .result == "complete")] | length' out.txt)" -eq $NCOLLECT ] || fail "arrivals not audited"

# Both stop cleanly (under the sanitizers: nothing leaked).
stop "$APID"
# An offline host: exit 3, saying the agent has not had the request.
wait_for 30 "agent-1 offline" '"$CTL" --json host agent-1 | jq -e ".connected == false"'
VIGIL_CERT=pki/responder-1.crt VIGIL_KEY=pki/responder-1.key \
    expect_exit 3 "$CTL" collect agent-1 --reason "offline host" -o offline.tar.lz4 --timeout 1s
expect_in err.txt "the agent has not received the request"
expect_in err.txt "vigilctl collections --command"
grep -q "queued: host .* is offline (last seen 20[0-9-]*T[0-9:.]*Z); the agent will run it when it reconnects" err.txt ||
    { cat err.txt >&2; fail "collect does not say the request is queued for an offline host"; }
VIGIL_CERT=pki/responder-1.crt VIGIL_KEY=pki/responder-1.key \
    expect_exit 3 "$CTL" collect agent-1 --reason "offline host" -o offline.tar.lz4 --timeout 2s --progress json
grep '^{' err.txt | jq -e -s 'length >= 1 and all(.state == "queued" and (.last_seen | test("Z$")) and (.message | test("offline")))' >/dev/null ||
    { cat err.txt >&2; fail "--progress json for an offline host"; }
[ ! -e offline.tar.lz4 ] || fail "collect wrote a file for a package that never came"
stop "$CPID"
[ -z "$(ls state-agent-1/uploads/)" ] || fail "uploaded packages left in the agent's state: $(ls state-agent-1/uploads/)"
