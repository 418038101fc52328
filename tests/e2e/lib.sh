# Helpers for end-to-end tests (sourced).  Tests run with set -eu in a
# fresh directory ($VG_TMP); binaries are in $VG_BIN.
set -eu

AGENT="$VG_BIN/vigil-agent"
COLLECTOR="$VG_BIN/vigil-collector"
CTL="$VG_BIN/vigilctl"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_exit CODE CMD...: runs CMD, output to out.txt/err.txt, checks its exit code.
expect_exit() {
    want=$1
    shift
    set +e
    "$@" >out.txt 2>err.txt
    got=$?
    set -e
    if [ "$got" -ne "$want" ]; then
        echo "command: $*" >&2
        echo "--- stdout" >&2; cat out.txt >&2
        echo "--- stderr" >&2; cat err.txt >&2
        fail "exit $got, expected $want"
    fi
}

# expect_in FILE TEXT: FILE contains TEXT (fixed string).
expect_in() {
    grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "'$2' not in $1"; }
}

expect_not_in() {
    ! grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "'$2' unexpectedly in $1"; }
}

# mode FILE: octal permission bits.
mode() {
    stat -c %a "$1"
}

# ---- processes ----
VG_PIDS=""
# Each agent pins its eBPF programs in a directory of its own (several
# tests run in parallel on one machine), removed at the end: the pins
# would keep the programs attached.
VG_PIN_PREFIX=/sys/fs/bpf/$(basename "${VG_TMP:-$PWD}")
cleanup_pids() {
    for p in $VG_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.2
    for p in $VG_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$VG_PIN_PREFIX"-* 2>/dev/null || true
}
trap cleanup_pids EXIT

# free_port: a TCP port nobody listens on.
free_port() {
    # Below the kernel's ephemeral range (32768-60999 by default), so that
    # no outgoing connection holds it; and no socket of any state on it.
    # Tests run side by side (run.sh's lanes) draw from ranges of their
    # own: one that stops a collector and starts it again on its port
    # never finds it taken by the other.
    _lo=10000 _hi=32000
    if [ -n "${VG_LANE:-}" ] && [ "${VG_LANES:-1}" -gt 1 ]; then
        _w=$(( (_hi - _lo) / VG_LANES ))
        _lo=$(( _lo + VG_LANE * _w ))
        _hi=$(( _lo + _w - 1 ))
    fi
    while :; do
        p=$(shuf -i "$_lo-$_hi" -n 1)
        ss -tanH "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# wait_for SECONDS DESCRIPTION 'SHELL CONDITION': evaluates the condition
# (quoted, so that $(...) inside it runs again each time) until it holds.
wait_for() {
    limit=$1 desc=$2
    shift 2
    end=$(( $(date +%s) + limit ))
    while ! eval "$*" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            # What the programs said last, for the record.
            for l in *.log; do
                [ -f "$l" ] && [ "$l" != test.log ] || continue
                echo "--- $l (last lines)" >&2
                tail -n 3 "$l" | cut -c1-300 >&2
            done
            fail "timed out after ${limit}s waiting for $desc"
        fi
        sleep 0.1
    done
}

# start NAME CMD...: runs CMD in the background, output to NAME.log; sets LAST_PID.
start() {
    name=$1
    shift
    "$@" >"$name.log" 2>&1 &
    LAST_PID=$!
    VG_PIDS="$VG_PIDS $LAST_PID"
}

# stop PID: SIGTERM and wait; fails if it does not exit in 10 s or exits non-zero.
# An agent may take 10 s past its drain to stop (monitor.c); a loaded
# machine adds to that: 30 s.
stop() {
    kill -TERM "$1"
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 300 ] || fail "process $1 did not stop within 30 s of SIGTERM"
        sleep 0.1
    done
    wait "$1" || fail "process $1 exited with status $?"
}

# loadgen_drained PID: vigil-loadgen PID (started with --json >lg.json
# 2>lg.err) told to stop making batches (SIGTERM); passes when it ends
# with every batch acknowledged.  Then lg FIELD reads its figures.
lg() { jq -r "$1" lg.json; }
loadgen_drained() {
    _lpid=$1
    kill -TERM "$_lpid"
    wait_for 120 "every batch acknowledged (the loadgen done)" '! kill -0 "$_lpid" 2>/dev/null'
    wait "$_lpid" || { tail -5 lg.err; fail "loadgen: not every batch acknowledged"; }
    [ "$(lg .batches_unacked)" = 0 ] || fail "$(lg .batches_unacked) batches unacknowledged"
}

# execs_once DB ACKED: the loadgen's ACKED execs, each one processes row
# (its marker in argv once).
execs_once() {
    _got=$(sql "$1" "select count(*) || ' ' || count(distinct argv) from processes")
    [ "$_got" = "$2 $2" ] || fail "processes (rows, distinct markers) = $_got, expected $2 $2"
}

# The value of collector metric $1 (an integer sample; the name with its
# labels as the exposition writes them) from [metrics] listen on
# 127.0.0.1:$MPORT; empty if absent.
metric() {
    curl -s "http://127.0.0.1:$MPORT/metrics" | sed -n "s/^$1 \([0-9]*\)\$/\1/p"
}

# sql DB QUERY: one value from SQLite.
sql() {
    if [ "${VG_STORE:-sqlite}" = pg ]; then
        # A comparison is a boolean in PostgreSQL (t, f) and an integer in
        # SQLite (1, 0): the tests read the integers.
        psql -XAtq -F '|' -v ON_ERROR_STOP=1 -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres \
            -d "$(pg_name "$1")" -c "$2" |
            awk 'BEGIN { FS = OFS = "|" } { for (i = 1; i <= NF; i++) if ($i == "t") $i = 1; else if ($i == "f") $i = 0; print }'
    else
        sqlite3 -batch -noheader -cmd ".timeout 5000" "$1" "$2"
    fi
}

# SQL that differs between the back ends, for the checks' queries:
#   sql_bytes ARG...      the bytes of the ARGs joined by NUL (an argv), as
#                         a blob (SQLite) or bytea (PostgreSQL) literal
#   sql_has COL TEXT      COL (a blob/bytea) contains TEXT's bytes
#   sql_list EXPR         EXPR of the rows joined by commas (an aggregate)
sql_bytes() {
    _h=$(printf '%s\0' "$@" | od -An -v -tx1 | tr -d ' \n')
    _h=${_h%00}
    if [ "${VG_STORE:-sqlite}" = pg ]; then printf "decode('%s', 'hex')" "$_h"; else printf "X'%s'" "$_h"; fi
}
sql_has() {
    if [ "${VG_STORE:-sqlite}" = pg ]; then
        printf 'position(%s in %s) > 0' "$(sql_bytes "$2")" "$1"
    else
        printf 'instr(%s, %s) > 0' "$1" "$(sql_bytes "$2")"
    fi
}
sql_list() {
    if [ "${VG_STORE:-sqlite}" = pg ]; then printf "string_agg((%s)::text, ',')" "$1"; else printf 'group_concat(%s)' "$1"; fi
}

# pg_store: the rest of the test stores in PostgreSQL: the run's
# (VG_STORE=pg), or a server of the test's own, stopped at its end (the
# test is skipped where none is installed).
pg_store() {
    [ "${VG_STORE:-sqlite}" = pg ] && return 0
    VG_PG_DIR=$VG_TMP/pg VG_PG_PORT=$(free_port)
    set +e
    "$VG_ROOT/tests/pg-server.sh" start "$VG_PG_DIR/server" "$VG_PG_PORT" >/dev/null
    _rc=$?
    set -e
    [ $_rc = 77 ] && { echo "SKIP: no PostgreSQL server (apt-get install postgresql-15)"; exit 77; }
    [ $_rc = 0 ] || fail "cannot start PostgreSQL"
    VG_STORE=pg
    trap 'cleanup_pids; "$VG_ROOT/tests/pg-server.sh" stop "$VG_PG_DIR/server"' EXIT
}

# sqlite_only WHY: the rest of the test is about the SQLite file itself;
# with VG_STORE=pg it ends here, passing what it checked so far (or, at
# its start, skipped).
sqlite_only() {
    if [ "${VG_STORE:-sqlite}" = pg ]; then
        echo "SKIP: SQLite only: $1"
        exit "${2:-77}"
    fi
}

# With VG_STORE=pg (run.sh), each collector database file of a test is a
# PostgreSQL database of the run's server: pg_name DB names it (the test's
# directory and the file's name), pg_url DB gives its URL, made on first use.
pg_name() {
    _d=$(cd "$(dirname "$1")" 2>/dev/null && pwd || dirname "$1")
    printf 'vg_%s' "$(printf '%s/%s' "$_d" "$(basename "$1")" | md5sum | cut -c1-16)"
}
pg_url() {
    _n=$(pg_name "$1")
    if ! psql -XAtq -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres -d postgres \
        -c "select 1 from pg_database where datname = '$_n'" | grep -q 1; then
        psql -XAtq -h "$VG_PG_DIR/server" -p "$VG_PG_PORT" -U postgres -d postgres \
            -c "create database $_n template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'" >/dev/null
    fi
    # Through the server's socket: a collector in a network namespace reaches it too.
    printf 'postgresql:///%s?host=%s/server&port=%s&user=postgres' "$_n" "$VG_PG_DIR" "$VG_PG_PORT"
}

# make_pki DIR: a CA, a collector (localhost, 127.0.0.1), agents agent-1 and
# agent-2, operators admin-1, auditor-1, responder-1.
make_pki() {
    "$CTL" pki init --dir "$1" >/dev/null
    "$CTL" pki issue --dir "$1" --role collector --name collector --san localhost --san 127.0.0.1 >/dev/null
    for a in agent-1 agent-2; do "$CTL" pki issue --dir "$1" --role agent --name $a >/dev/null; done
    for r in admin auditor responder; do "$CTL" pki issue --dir "$1" --role $r --name $r-1 >/dev/null; done
}

# collector_conf PORT DB: a collector configuration on stdout (with
# VG_STORE=pg, its store is DB's PostgreSQL database: pg_url).
collector_conf() {
    cat <<CONF
[collector]
listen = 127.0.0.1:$1
db = $2
heartbeat = 1s
idle_timeout = 10s
[tls]
ca = pki/ca.crt
cert = pki/collector.crt
key = pki/collector.key
CONF
    if [ "${VG_STORE:-sqlite}" = pg ]; then
        printf '[store]\nurl = %s\n' "$(pg_url "$2")"
    fi
}

# agent_conf PORT NAME [TAGS]: an agent configuration with fast timers on stdout.
agent_conf() {
    cat <<CONF
[agent]
state_dir = state-$2
tags = ${3:-site=test}
health_interval = 1s
[collector]
address = 127.0.0.1:$1
backoff_base = 100ms
backoff_cap = 1s
heartbeat = 1s
dead_after = 4s
[batch]
max_age = 200ms
[tls]
ca = pki/ca.crt
cert = pki/$2.crt
key = pki/$2.key
server_name = localhost
[telemetry]
bpf_pin_dir = $VG_PIN_PREFIX-$2
CONF
}

# ---- fixture Debian hosts for the report tests ----
# Dates N days before today 00:00 UTC (fixed when this file is read), as
# the tracker's DSA list writes them (day N) and as dpkg.log does at
# 01:00 (logt N; the tests run with TZ=UTC).
MID=$(( $(date +%s) / 86400 * 86400 ))
day() { date -u -d "@$(( MID - $1 * 86400 ))" '+%d %b %Y'; }
logt() { date -u -d "@$(( MID - $1 * 86400 + 3600 ))" '+%Y-%m-%d %H:%M:%S'; }
# stanza NAME VERSION [SOURCE]: an installed package's dpkg status stanza.
stanza() {
    printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n' "$1" "$2"
    [ -z "${3:-}" ] || printf 'Source: %s\n' "$3"
    printf '\n'
}

# ---- store-and-forward checks ----

# batches_exactly_once DB LAST: every sequence 1..LAST of the (single)
# stream is stored exactly once, and every event of every stored batch.
batches_exactly_once() {
    db=$1 last=$2
    [ "$(sql "$db" "select count(distinct epoch) from batches")" = 1 ] ||
        fail "more than one stream epoch: $(sql "$db" "select count(distinct epoch) from batches")"
    got=$(sql "$db" "select count(*) || ' ' || min(seq) || ' ' || max(seq) from batches")
    [ "$got" = "$last 1 $last" ] || fail "batches (count min max) = $got, expected $last 1 $last"
    [ "$(sql "$db" "select count(*) from events")" = "$(sql "$db" "select sum(events) from batches")" ] ||
        fail "events stored do not match the batches' event counts"
}

# last_seq LOG: the agent's last assigned sequence, from its exit line.
last_seq() {
    sed -n 's/.*totals: .* last sequence \([0-9]*\).*/\1/p' "$1" | tail -1
}
