# vg-timeout: 60
# The docs hold together: every relative link in README.md and docs/*.md
# names a file that exists (and, into a Markdown file, a heading that
# exists); every vigilctl, vigil-agent or vigil-collector command shown
# in a fenced block (with or without a "$ " prompt), or in a man page's
# examples, is one the program accepts: its sub-command exists and its
# --help lists every flag used.
# Then the checker itself is checked on a page with one of each mistake.
. "$VG_ROOT/tests/e2e/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"

cat >check.py <<'PY'
import os, re, shlex, subprocess, sys

bindir, files = sys.argv[1], sys.argv[2:]
PROGS = ("vigilctl", "vigil-agent", "vigil-collector")
errors = []

def run_help(args):
    p = subprocess.run([os.path.join(bindir, args[0])] + args[1:] + ["--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout

def blocks(text):
    """(in_fence, line number, line) for each line."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = re.match(r"^\s*(```+|~~~+)", line)
        if m:
            if fence is None:
                fence = m.group(1)
                continue
            if line.strip().startswith(fence):
                fence = None
                continue
        yield fence is not None, n, line

def slug(h):
    h = re.sub(r"[`*_]|\[|\]\([^)]*\)", lambda m: "" if m.group(0) != "_" else "_", h)
    h = re.sub(r"[^\w\- ]", "", h.strip().lower())
    return h.replace(" ", "-")

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        seen, out = {}, set()
        with open(path, encoding="utf-8") as f:
            for fenced, _, line in blocks(f.read()):
                m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if not m:
                    continue
                s = slug(m.group(1))
                k = seen.get(s, 0)
                out.add(s if k == 0 else "%s-%d" % (s, k))
                seen[s] = k + 1
        anchor_cache[path] = out
    return anchor_cache[path]

# ---- links ----
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
def check_links(path, text):
    for fenced, n, line in blocks(text):
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            file, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            where = "%s:%d: %s" % (path, n, target)
            if not os.path.exists(dest):
                errors.append("%s: no such file %s" % (where, dest))
            elif frag and dest.endswith(".md") and frag not in anchors(dest):
                errors.append("%s: no heading #%s in %s" % (where, frag, dest))

# ---- commands ----
CTL_GLOBAL_ARG = {"--collector", "--ca", "--cert", "--key", "--server-name"}
CTL_GLOBAL_FLAG = {"--json", "-v", "--verbose"}
help_cache = {}
def helptext(args):
    k = tuple(args)
    if k not in help_cache:
        help_cache[k] = run_help(list(args))
    return help_cache[k]

def listed(flag, text):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(flag), text) is not None

def ctl_commands():
    _, t = helptext(["vigilctl"])
    sec = t.split("Commands:", 1)[1].split("\n\n", 1)[0]
    return {l.split()[0] for l in sec.split("\n") if l.strip()}

def agent_commands():
    _, t = helptext(["vigil-agent"])
    return set(re.findall(r"^  vigil-agent ([a-z-]+)", t, re.M))

def check_command(where, words):
    prog = os.path.basename(words[0])
    args = words[1:]
    if prog == "vigilctl":
        i = 0
        while i < len(args) and args[i].startswith("-"):
            opt = args[i].split("=", 1)[0]
            if opt in CTL_GLOBAL_ARG:
                i += 1 if "=" in args[i] else 2
            elif opt in CTL_GLOBAL_FLAG:
                i += 1
            else:
                errors.append("%s: vigilctl has no global option %s" % (where, opt))
                return
        if i >= len(args):
            return
        sub = args[i]
        if sub == "help" or sub not in ctl_commands():
            if sub != "help":
                errors.append("%s: vigilctl has no command '%s'" % (where, sub))
            return
        rc, text = helptext(["vigilctl", sub])
        flags = args[i + 1:]
    elif prog == "vigil-agent":
        _, text = helptext(["vigil-agent"])
        subs = [a for a in args if not a.startswith("-")]
        # a sub-command is the first word, when there is one
        if args and not args[0].startswith("-"):
            if args[0] not in agent_commands():
                errors.append("%s: vigil-agent has no sub-command '%s'" % (where, args[0]))
                return
            rc, sub_text = helptext(["vigil-agent", args[0]])
            text = text + sub_text
        flags = args
    else:
        _, text = helptext([prog])
        flags = args
    for a in flags:
        if a == "--":
            break
        if a.startswith("-") and a != "-" and not re.match(r"^-\d", a):
            f = a.split("=", 1)[0]
            if not listed(f, text):
                errors.append("%s: '%s' is not in the --help of %s" % (where, f, " ".join(
                    [prog] + ([sub] if prog == "vigilctl" else []))))

STOP = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "&", "2>&1", "("}
def check_commands(path, text):
    pending, start = "", 0
    for fenced, n, line in blocks(text):
        if not fenced:
            pending = ""
            continue
        if pending:
            line = pending + " " + line.strip()
        else:
            start = n
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1]
            continue
        pending = ""
        s = line.strip()
        if s.startswith("$ "):
            s = s[2:]
        try:
            lex = shlex.shlex(s, posix=True, punctuation_chars="|&;<>()")
            lex.whitespace_split = True
            lex.commenters = "#"
            words = list(lex)
        except ValueError:
            continue
        while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("sudo", "env")):
            words.pop(0)
        if not words or os.path.basename(words[0]) not in PROGS:
            continue
        for k, w in enumerate(words):
            if w in STOP or w.startswith(">") or w.startswith("2>"):
                words = words[:k]
                break
        checked[0] += 1
        check_command("%s:%d" % (path, start), words)

checked = [0]
for path in files:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    check_links(path, text)
    check_commands(path, text)
for e in errors:
    print(e)
print("checked %d commands in %d files" % (checked[0], len(files)), file=sys.stderr)
sys.exit(1 if errors else 0)
PY

cd "$VG_ROOT"
python3 "$VG_TMP/check.py" "$VG_BIN" README.md docs/*.md >"$VG_TMP/errors.txt" 2>"$VG_TMP/count.txt" ||
    { cat "$VG_TMP/errors.txt" >&2; fail "the docs have broken links or commands"; }
cat "$VG_TMP/count.txt"
n=$(sed -n 's/^checked \([0-9]*\) commands.*/\1/p' "$VG_TMP/count.txt")
[ "${n:-0}" -ge 20 ] || fail "only ${n:-0} commands found in the docs: is the checker blind?"
cd "$VG_TMP"

# The man pages' examples (.nf blocks) too, as fenced blocks.
for f in "$VG_ROOT"/packaging/man/*.[158]; do
    awk '/^\.nf/ { print "```"; next } /^\.fi/ { print "```"; next } { print }' "$f" |
        sed 's/\\-/-/g; s/\\e/\\/g; s/\\f[BIRP]//g' >"$(basename "$f").md"
done
python3 check.py "$VG_BIN" ./*.[158].md >errors.txt 2>count.txt ||
    { cat errors.txt >&2; fail "a man page shows a command its program does not accept"; }
cat count.txt

# The checker finds each kind of mistake.
mkdir -p d/docs
echo "# Top" >d/docs/OTHER.md
cat >d/docs/BAD.md <<'MD'
# A page
[ok](OTHER.md#top) [missing](NOPE.md) [anchor](OTHER.md#nowhere) [self](#a-page)
```sh
$ vigilctl nosuchcommand --x
$ vigilctl collect HOST --reason r --no-such-flag
vigil-agent inventory --nonsense
$ vigilctl --json hosts
```
MD
expect_exit 1 python3 check.py "$VG_BIN" d/docs/BAD.md
expect_in out.txt "no such file"
expect_in out.txt "no heading #nowhere"
expect_in out.txt "no command 'nosuchcommand'"
expect_in out.txt "'--no-such-flag' is not in the --help of vigilctl collect"
expect_in out.txt "'--nonsense' is not in the --help of vigil-agent"
[ "$(wc -l <out.txt)" -eq 5 ] || { cat out.txt >&2; fail "the checker flagged good links or commands"; }
