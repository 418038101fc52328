# vg-timeout: 90
# The man pages render without warnings (groff and man-db), and name
# every vigilctl command and every vigil-agent sub-command the programs
# themselves list; each vigilctl command's entry, and each daemon page,
# names every option its --help lists (the agent's sub-commands too).
# The configuration pages are what confman writes from
# the config maps now, and list every key of --example-config with the
# same default.
. "$VG_ROOT/tests/e2e/lib.sh"

M="$VG_ROOT/packaging/man"
PAGES="vigil-agent.8 vigil-collector.8 vigilctl.1 vigil-agent.conf.5 vigil-collector.conf.5"
for p in $PAGES; do
    f="$M/$p"
    [ -f "$f" ] || fail "no man page $f"
    groff -man -Tutf8 -ww -z "$f" >warn.txt 2>&1 || fail "groff failed on $f"
    [ ! -s warn.txt ] || { cat warn.txt >&2; fail "groff warns about $f"; }
    if command -v man >/dev/null; then
        MANWIDTH=80 man --warnings -l "$f" >page.txt 2>warn.txt || fail "man failed on $f"
        [ ! -s warn.txt ] || { cat warn.txt >&2; fail "man --warnings warns about $f"; }
        grep -q . page.txt || fail "man rendered nothing for $f"
    fi
    for s in "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
        case $p in *.5) [ "$s" = FILES ] || [ "$s" = EXAMPLES ] || continue ;; esac
        grep -q "^\.SH $s\$" "$f" || fail "$p has no $s section"
    done
done

# The configuration pages: current, and every key with its default.
for prog in agent collector; do
    page="$M/vigil-$prog.conf.5"
    "$VG_BIN/confman" "$prog" >gen.5 || fail "confman $prog failed"
    cmp -s gen.5 "$page" ||
        { diff -u "$page" gen.5 >&2 || true; fail "$page is stale: run 'make man' and commit it"; }
    "$VG_BIN/vigil-$prog" --example-config |
        awk '/^\[/ { sec = $0; next }
             /^#[a-z_]+ =/ { k = substr($1, 2); v = $0; sub(/^#[a-z_]+ = ?/, "", v); print sec " " k " " v }' |
        sort >want.txt
    awk '/^\.SH / { sec = ""; next }
         /^\.SS \[/ { sec = $2; next }
         /^\.TP$/ && sec != "" { getline; if ($1 == ".B") { k = $2; getline; v = "";
             if (match($0, /default \\fB[^\\]*(\\[-e][^\\]*)*\\fR/)) {
                 v = substr($0, RSTART + 11, RLENGTH - 14); gsub(/\\-/, "-", v); gsub(/\\e/, "\\", v) }
             print sec " " k " " v } }' "$page" | sort >got.txt
    [ "$(wc -l <want.txt)" -ge 10 ] || fail "too few keys from vigil-$prog --example-config"
    diff want.txt got.txt >&2 || fail "vigil-$prog.conf.5 does not list --example-config's keys and defaults"
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

# vigilctl.1: each command's entry names every option its --help lists
# (commands that share one --help share their entries).
while read -r c; do
    "$CTL" "$c" --help >"help-$c.txt" || fail "vigilctl $c --help failed"
done <cmds.txt
python3 - "$M/vigilctl.1" cmds.txt <<'PY' || fail "vigilctl.1 lacks options its commands' --help lists"
import re, sys
page, cmds = open(sys.argv[1]).read(), open(sys.argv[2]).read().split()
def plain(t):
    return re.sub(r"\\f[BIRP]", "", t).replace("\\-", "-").replace("\\e", "\\")
sec = lambda name: page.split(".SH " + name + "\n", 1)[1].split("\n.SH ", 1)[0]
glob = plain(sec("OPTIONS"))
entries = {}
for part in sec("COMMANDS").split(".TP\n")[1:]:
    m = re.match(r"\.B (\S+)\n", part)
    if m:
        entries[plain(m.group(1))] = plain(part)
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])")
helps, bad = {}, []
for c in cmds:
    lines, keep = [], False
    for l in open("help-%s.txt" % c).read().split("\n"):
        if re.match(r"^(Usage|usage):", l):
            keep = True
        elif not l.strip():
            keep = False
        if keep or re.match(r"^\s+-", l):
            lines.append(l)
    helps[c] = (open("help-%s.txt" % c).read(), set(FLAG.findall("\n".join(lines))))
for c in cmds:
    text, flags = helps[c]
    if c not in entries:
        bad.append("%s: no entry" % c)
        continue
    scope = "".join(entries.get(o, "") for o in cmds if helps[o][0] == text) + glob
    for f in sorted(flags - {"--help", "-h"}):
        if not FLAG.search(scope) or not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), scope):
            bad.append("vigilctl.1, %s: no %s" % (c, f))
if bad:
    sys.exit("\n".join(bad))
PY

# vigil-agent(8) and vigil-collector(8) name every option their --help
# lists, and the agent's every sub-command option.
"$AGENT" --help >help-agent.txt
"$COLLECTOR" --help >help-collector.txt
while read -r c; do "$AGENT" "$c" --help >"help-agent-$c.txt" || fail "vigil-agent $c --help failed"; done <sub.txt
python3 - "$M" <<'PY' || fail "a daemon's man page lacks options its --help lists"
import glob, re, sys
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])")
bad = []
for prog, helps in (("vigil-agent", ["help-agent.txt"] + glob.glob("help-agent-*.txt")),
                    ("vigil-collector", ["help-collector.txt"])):
    page = open("%s/%s.8" % (sys.argv[1], prog)).read()
    page = re.sub(r"\\f[BIRP]", "", page).replace("\\-", "-")
    for h in helps:
        flags = set()
        for l in open(h).read().split("\n"):
            if re.match(r"^(Usage|usage):|^\s+-|^  %s " % prog, l):
                flags |= set(FLAG.findall(l))
        for f in sorted(flags):
            if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), page):
                bad.append("%s.8: no %s (from %s)" % (prog, f, h))
if bad:
    sys.exit("\n".join(bad))
PY
