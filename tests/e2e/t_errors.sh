# vg-timeout: 180
# The error table: the mistakes a newcomer is most likely to make, each
# with the exact message it gets.  Every message names the file, key,
# host or certificate involved and says what to do next; a change to one
# is a change to this table (and to the one in docs/OPERATIONS.md).
# Other tests check that each refusal happens and holds; this one checks
# only the words.
. "$VG_ROOT/tests/e2e/lib.sh"

make_pki pki
"$CTL" pki issue --dir pki --role admin --name old --not-after 2020-01-01 >/dev/null
"$CTL" pki issue --dir pki --role agent --name agent-old --not-after 2020-01-01 >/dev/null
"$CTL" pki issue --dir pki --role agent --name agent-3 >/dev/null
"$CTL" pki init --dir other >/dev/null
"$CTL" pki issue --dir other --role admin --name stranger >/dev/null
cp pki/admin-1.key loose.key && chmod 644 loose.key
cp pki/collector.key loose-collector.key && chmod 644 loose-collector.key
cp pki/agent-1.key loose-agent.key && chmod 644 loose-agent.key
: >state-file
: >evidence.tgz
mkdir home

PORT=$(free_port)
EPORT=$(free_port)
while [ "$EPORT" = "$PORT" ]; do EPORT=$(free_port); done
DOWN=$(free_port)
while [ "$DOWN" = "$PORT" ] || [ "$DOWN" = "$EPORT" ]; do DOWN=$(free_port); done
collector_conf "$PORT" c.db >collector.conf
cat >>collector.conf <<CONF
[enroll]
listen = 127.0.0.1:$EPORT
ca_key = pki/ca.key
CONF
start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector listening" 'grep -q "listening on" collector.log'

# Two hosts that give the same hostname; agent-2 is then revoked.
peer() { python3 "$VG_ROOT/tests/e2e/vgpeer.py" "$@"; }
VGPEER_HOSTNAME=ward7-pc peer hold 127.0.0.1:$PORT pki/ca.crt pki agent-1,agent-2 0 >hold.txt
[ "$(grep -c '^ok' hold.txt)" = 2 ] || fail "hosts not made: $(cat hold.txt)"
export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
export VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key
expect_exit 0 "$CTL" --json revoke agent-2 --reason "laptop stolen"
SERIAL=$(jq -r '.serials[0]' out.txt)

# Configurations with one mistake each (relative paths in them are
# resolved against the file's directory: the messages show $VG_TMP).
sed 's/^db = .*/db = other.db/' collector.conf | sed '/^\[enroll\]/,$d' >taken.conf
sed 's#^key = .*#key = loose-collector.key#' collector.conf >collector-key644.conf
sed 's#^listen = 127.0.0.1:'"$PORT"'$#listen = 7443#' collector.conf >collector-port.conf
sed 's#^ca = .*#ca = pki/ca.pem#' collector.conf >collector-ca.conf
# agent NAME: an agent configuration (no eBPF: quicker, and nothing pinned).
agent() {
    agent_conf "$PORT" "$1" | sed 's#^bpf_pin_dir = .*#process_source = off#'
}
agent agent-1 | sed 's/^address = /adress = /' >agent-typo.conf
agent admin-1 >agent-admin.conf
agent agent-1 | sed 's#^key = .*#key = loose-agent.key#' >agent-key644.conf
agent agent-old >agent-expired.conf
agent agent-1 | sed 's#^state_dir = .*#state_dir = state-file#' >agent-state.conf
agent agent-1 | sed 's#^cert = .*#cert = pki/agent1.crt#' >agent-nocert.conf
printf '[enroll]\ntoken_file = enroll.token\n' >>agent-nocert.conf
agent agent-1 | sed 's#^server_name = .*#server_name = collector.example.org#' >agent-name.conf
agent agent-1 | sed "s#^address = .*#address = 127.0.0.1:$DOWN#" >agent-down.conf
agent new | sed -e 's#^cert = .*#cert = new/agent.crt#' -e 's#^key = .*#key = new/agent.key#' >agent-token.conf
printf '[enroll]\naddress = 127.0.0.1:%s\ntoken = vge2-0123456789abcdef-%s\n' "$EPORT" \
    0123456789012345678901234567890123456789 >>agent-token.conf
mkdir new

# has_line FILE LINE: FILE has LINE as a whole line, once a daemon's
# timestamp is taken off the front; @PEER@ in LINE stands for a port.
has_line() {
    sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z //' "$1" | awk -v want="$2" '
        function matches(s,    i) {
            if (n == 1)
                return s == want
            for (i = 1; i <= n; i++) {
                if (i > 1) {
                    if (!match(s, /^[0-9]+/))
                        return 0
                    s = substr(s, RLENGTH + 1)
                }
                if (i == n)
                    return s == part[i]
                if (substr(s, 1, length(part[i])) != part[i])
                    return 0
                s = substr(s, length(part[i]) + 1)
            }
        }
        BEGIN { n = split(want, part, "@PEER@") }
        matches($0) { found = 1; exit }
        END { exit !found }'
}

# row 'MISTAKE' EXIT FILE 'MESSAGE' CMD...: runs CMD; it exits with EXIT
# and FILE holds MESSAGE.  EXIT "-": a daemon that stays up and retries;
# FILE is then its log, and it is stopped once the message is there.
# FILE err.txt is the command's stderr; another file (the collector's
# log) may take a moment to show the line.
ROWS=0
row() {
    r_what=$1 r_exit=$2 r_file=$3 r_line=$4
    shift 4
    ROWS=$((ROWS + 1))
    if [ "$r_exit" = - ]; then
        start "$r_file" "$@"
        wait_for 60 "row $ROWS ($r_what): '$r_line' in $r_file.log" 'has_line "$r_file.log" "$r_line"'
        kill "$LAST_PID"
        return
    fi
    expect_exit "$r_exit" "$@"
    if [ "$r_file" = err.txt ]; then
        has_line err.txt "$r_line" || {
            echo "--- err.txt:" >&2; cat err.txt >&2
            fail "row $ROWS ($r_what): not the message '$r_line'"
        }
    else
        wait_for 30 "row $ROWS ($r_what): '$r_line' in $r_file" 'has_line "$r_file" "$r_line"'
    fi
}

# ---- the table ----
# vigilctl
row "collector not running" 1 err.txt \
    "vigilctl: connection to 127.0.0.1:$DOWN failed: cannot connect: connection refused; is vigil-collector running and listening there? (systemctl status vigil-collector; [collector] listen) (collector 127.0.0.1:$DOWN)" \
    "$CTL" --collector 127.0.0.1:$DOWN hosts
row "no connection settings" 1 err.txt \
    "vigilctl: which collector, and as whom? Give --collector HOST:PORT --ca FILE --cert FILE --key FILE (or VIGIL_COLLECTOR, VIGIL_CA, VIGIL_CERT, VIGIL_KEY, or ~/.config/vigil/ctl.conf)" \
    env -u VIGIL_COLLECTOR -u VIGIL_CA -u VIGIL_CERT -u VIGIL_KEY HOME="$VG_TMP/home" "$CTL" hosts
row "collector address without a port" 1 err.txt \
    "vigilctl: collector '127.0.0.1': expected HOST:PORT (e.g. collector.example.org:7443)" \
    "$CTL" --collector 127.0.0.1 hosts
row "operator certificate from another CA" 1 err.txt \
    "vigilctl: certificate other/stranger.crt does not verify against CA pki/ca.crt: The certificate is not correctly signed by the trusted CA; give the CA that issued it, or issue it from this CA" \
    "$CTL" --cert other/stranger.crt --key other/stranger.key hosts
row "--ca is not the collector's CA" 1 err.txt \
    "vigilctl: connection to 127.0.0.1:$PORT failed: peer certificate rejected: The certificate is not correctly signed by the trusted CA (the collector's certificate is not from this CA: set [tls] ca, or --ca for vigilctl, to the ca.crt that issued it) (collector 127.0.0.1:$PORT)" \
    "$CTL" --ca other/ca.crt --cert other/stranger.crt --key other/stranger.key hosts
row "the same, as the collector logs it" 1 collector.log \
    "vigil-collector: warning: refused 127.0.0.1:@PEER@: TLS handshake failed: the client ended it with an alert; its log says why, most often this collector's certificate: not from its CA, or not for the name it expects" \
    "$CTL" --ca other/ca.crt --cert other/stranger.crt --key other/stranger.key hosts
row "expired operator certificate" 1 err.txt \
    "vigilctl: certificate pki/old.crt expired at 2020-01-01T00:00:00Z; issue a new one (vigilctl pki issue --role admin --name old --force)" \
    "$CTL" --cert pki/old.crt --key pki/old.key hosts
row "agent certificate used with vigilctl" 1 err.txt \
    "vigilctl: the collector refused the request: an agent certificate may not run operator queries; vigilctl needs an operator certificate (vigilctl pki issue --role admin, responder or auditor) (collector 127.0.0.1:$PORT)" \
    "$CTL" --cert pki/agent-1.crt --key pki/agent-1.key hosts
row "role too low (an auditor isolates)" 1 err.txt \
    "vigilctl: permission denied: role auditor may not isolate hosts (needs responder or admin)" \
    "$CTL" --cert pki/auditor-1.crt --key pki/auditor-1.key isolate agent-1 --reason test
row "operator key readable by others" 1 err.txt \
    "vigilctl: private key loose.key is readable by group or others; chmod 600 loose.key" \
    "$CTL" --key loose.key hosts
row "key of another certificate" 1 err.txt \
    "vigilctl: private key pki/auditor-1.key does not belong to certificate pki/admin-1.crt; give the key issued with it ('vigilctl pki issue' writes NAME.crt and NAME.key together)" \
    "$CTL" --key pki/auditor-1.key hosts
row "certificate file not there" 1 err.txt \
    "vigilctl: cannot load certificate pki/admin.crt: No such file or directory; check the path, or issue it with 'vigilctl pki issue'" \
    "$CTL" --cert pki/admin.crt hosts
row "unknown host" 1 err.txt \
    "vigilctl: no host with agent id or hostname 'ward9-pc' (see 'vigilctl hosts')" \
    "$CTL" host ward9-pc
row "hostname of two hosts" 2 err.txt \
    "vigilctl: 2 hosts are named 'ward7-pc'; give the agent id instead:" \
    "$CTL" host ward7-pc
expect_in err.txt "  agent-1  ("
expect_in err.txt "  agent-2  ("
row "unknown report format" 2 err.txt \
    "vigilctl: unknown --format 'pdf': give csv, json or html" \
    "$CTL" report --format pdf
row "collect over an existing file" 1 err.txt \
    "vigilctl: evidence.tgz exists; it was left unchanged (give --force to replace it)" \
    "$CTL" collect agent-1 --reason test -o evidence.tgz

# vigil-collector
row "collector port already in use" 1 err.txt \
    "vigil-collector: error: cannot listen on 127.0.0.1:$PORT: address already in use (another collector, or another program, holds it: ss -ltnp; or change [collector] listen)" \
    "$COLLECTOR" -c taken.conf
row "collector key readable by others" 1 err.txt \
    "vigil-collector: error: collector-key644.conf: [tls]: private key $VG_TMP/loose-collector.key is readable by group or others; chmod 600 $VG_TMP/loose-collector.key" \
    "$COLLECTOR" -c collector-key644.conf --check-config
row "listen without a host" 1 err.txt \
    "vigil-collector: error: collector-port.conf: [collector] listen '7443': expected HOST:PORT, the port a number from 1 to 65535 (e.g. 0.0.0.0:7443)" \
    "$COLLECTOR" -c collector-port.conf --check-config
row "CA file not there" 1 err.txt \
    "vigil-collector: error: collector-ca.conf: [tls]: cannot load CA certificate $VG_TMP/pki/ca.pem: No such file or directory; check the path (the ca.crt of 'vigilctl pki init')" \
    "$COLLECTOR" -c collector-ca.conf --check-config
row "agent clock 10 minutes fast" 0 collector.log \
    "vigil-collector: warning: agent agent-3 (ward3-pc): its clock is about 10 min ahead of the collector's, and so are the times of its events; set up time sync on that host (chrony or systemd-timesyncd)" \
    env VGPEER_HOSTNAME=ward3-pc VGPEER_SKEW_MS=600000 python3 "$VG_ROOT/tests/e2e/vgpeer.py" \
    hold 127.0.0.1:$PORT pki/ca.crt pki agent-3 0
row "revoked host reconnecting" 0 collector.log \
    "vigil-collector: warning: refused agent agent-2 (127.0.0.1:@PEER@): certificate of agent-2 (serial $SERIAL) is revoked; the host needs a new identity (enroll it again with a token, or a certificate with a new --name)" \
    python3 "$VG_ROOT/tests/e2e/vgpeer.py" hold 127.0.0.1:$PORT pki/ca.crt pki agent-2 0
# What the host itself is told.
expect_in out.txt "refused agent-2: certificate of agent-2 (serial $SERIAL) is revoked; the host needs a new identity"

# vigil-agent
row "typo in a key" 1 err.txt \
    "vigil-agent: error: agent-typo.conf:6: unknown key 'adress' in section [collector]; did you mean 'address'?" \
    "$AGENT" -c agent-typo.conf --check-config
row "operator certificate given to the agent" 1 err.txt \
    "vigil-agent: error: certificate $VG_TMP/pki/admin-1.crt has role admin; the agent needs one with role agent (vigilctl pki issue --role agent --name HOST, or enroll with a token)" \
    "$AGENT" -c agent-admin.conf
row "agent key readable by others" 1 err.txt \
    "vigil-agent: error: agent-key644.conf: [tls]: private key $VG_TMP/loose-agent.key is readable by group or others; chmod 600 $VG_TMP/loose-agent.key" \
    "$AGENT" -c agent-key644.conf --check-config
# Started anyway, the agent runs on (collecting, keeping a host isolated);
# its network process says why each time it is restarted.
row "the same, the agent started anyway" - agent-key644 \
    "vigil-agent: error: [net] private key $VG_TMP/loose-agent.key is readable by group or others; chmod 600 $VG_TMP/loose-agent.key" \
    "$AGENT" -c agent-key644.conf
row "expired agent certificate" 1 err.txt \
    "vigil-agent: error: agent-expired.conf: [tls]: certificate $VG_TMP/pki/agent-old.crt expired at 2020-01-01T00:00:00Z; issue a new one (vigilctl pki issue --role agent --name agent-old --force)" \
    "$AGENT" -c agent-expired.conf --check-config
row "certificate path wrong, no token" 1 err.txt \
    "vigil-agent: error: [enroll] no certificate at $VG_TMP/pki/agent1.crt ([tls] cert) and no enrollment token to get one: fix the path, or give a token (VIGIL_ENROLL_TOKEN, [enroll] token, or the file $VG_TMP/enroll.token)" \
    "$AGENT" -c agent-nocert.conf
row "state_dir is a file" 1 err.txt \
    "vigil-agent: error: state directory $VG_TMP/state-file is not a directory; set [agent] state_dir to a directory (the agent makes it if missing)" \
    "$AGENT" -c agent-state.conf
row "collector name not in its certificate" - agent-name \
    "vigil-agent: warning: [net] cannot use collector 127.0.0.1:$PORT: peer certificate rejected: The certificate Common Name (CN) does not match with the expected CN (expected the name 'collector.example.org'; the certificate is for CN collector, localhost: set [tls] server_name, or --server-name for vigilctl, to one of those)" \
    "$AGENT" -c agent-name.conf
row "agent's collector not running" - agent-down \
    "vigil-agent: warning: [net] cannot use collector 127.0.0.1:$DOWN: cannot connect: connection refused; is vigil-collector running and listening there? (its [collector] listen; this agent's [collector] address)" \
    "$AGENT" -c agent-down.conf
row "wrong enrollment token" - agent-token \
    "vigil-agent: error: [enroll] the collector refused to enroll this agent: unknown enrollment token (mistyped, or not made by this collector); ask an admin for a new one (vigilctl enroll-token create)" \
    "$AGENT" -c agent-token.conf

[ "$ROWS" -ge 20 ] || fail "only $ROWS rows"
echo "figure: $ROWS mistakes, each with its message"
echo ok
