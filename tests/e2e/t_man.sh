# vg-timeout: 30
# The man pages render without warnings, and name every vigilctl command
# and every vigil-agent sub-command the programs themselves list.
. "$VG_ROOT/tests/e2e/lib.sh"

M="$VG_ROOT/packaging/man"
for f in "$M/vigil-agent.8" "$M/vigil-collector.8" "$M/vigilctl.1"; do
    groff -man -Tutf8 -ww -z "$f" >warn.txt 2>&1 || fail "groff failed on $f"
    [ ! -s warn.txt ] || { cat warn.txt >&2; fail "groff warns about $f"; }
done
"$CTL" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF && $1 != "Commands:" {print $1}' >cmds.txt
[ "$(wc -l <cmds.txt)" -ge 10 ] || fail "no command list from vigilctl --help"
while read -r c; do
    grep -q "^\.B $(echo "$c" | sed 's/-/\\\\-/g')\$" "$M/vigilctl.1" || fail "vigilctl.1 does not describe '$c'"
done <cmds.txt
"$AGENT" --help | sed -n 's/^  vigil-agent \([a-z-]*\).*/\1/p' >sub.txt
[ "$(wc -l <sub.txt)" -ge 3 ] || fail "no sub-commands from vigil-agent --help"
while read -r c; do
    grep -q "^\.B $(echo "$c" | sed 's/-/\\\\-/g')\$" "$M/vigil-agent.8" || fail "vigil-agent.8 does not describe '$c'"
done <sub.txt
