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
