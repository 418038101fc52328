# Command-line conventions: --help answers, --version, exit codes 0/1/2.
. "$VG_ROOT/tests/e2e/lib.sh"

for p in "$AGENT" "$COLLECTOR" "$CTL"; do
    expect_exit 0 "$p" --help
    expect_in out.txt "Usage:"
    expect_exit 0 "$p" --version
    expect_in out.txt "0."
    expect_exit 2 "$p" --no-such-option
done
expect_exit 2 "$CTL"
expect_in err.txt "Usage:"
expect_exit 2 "$CTL" frobnicate
expect_in err.txt "unknown command 'frobnicate'"
expect_in err.txt "vigilctl --help"
expect_exit 0 "$CTL" help pki
expect_in out.txt "vigilctl pki issue"
expect_exit 0 "$CTL" pki --help
expect_exit 2 "$CTL" --collector
expect_in err.txt "needs a value"
echo ok
