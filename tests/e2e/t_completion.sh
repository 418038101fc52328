# vigilctl completion bash, sourced in a real bash and driven as bash
# drives it (COMP_WORDS, COMP_CWORD, then COMPREPLY): commands, sub-command
# words, options and their values complete; every command of 'vigilctl
# --help' is offered, and every option each command's --help lists is
# offered for that command (the script is written from the parsers' own
# tables, and this checks the help against them).
. "$VG_ROOT/tests/e2e/lib.sh"

command -v bash >/dev/null || { echo "SKIP no bash"; exit 77; }

expect_exit 0 "$CTL" completion bash
cp out.txt vigilctl.bash
bash -n vigilctl.bash || fail "the completion script is not valid bash"
expect_exit 2 "$CTL" completion zsh
expect_in err.txt "completion bash"
expect_exit 0 "$CTL" completion --help
expect_in out.txt "/usr/share/bash-completion/completions/vigilctl"

"$CTL" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF && $1 != "Commands:" {print $1}' >cmds.txt
[ "$(wc -l <cmds.txt)" -ge 10 ] || fail "no command list from vigilctl --help"
grep -qx completion cmds.txt || fail "vigilctl --help does not list 'completion'"
while read -r c; do
    "$CTL" "$c" --help >"help-$c.txt" || fail "vigilctl $c --help failed"
done <cmds.txt
touch evidence-web01.tar.lz4
mkdir pkidir

# comp WORD...: what bash would offer for the last WORD, one a line, sorted.
cat >drive.bash <<'EOF'
set -u
source ./vigilctl.bash
complete -p vigilctl | grep -qx 'complete -F _vigilctl vigilctl' || { echo "not registered"; exit 1; }
comp() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*" COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _vigilctl
    ((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | sort
    return 0
}
# want "WORDS..." -- got: the words, sorted, as comp prints them.
want() {
    local w=$1 got
    shift
    got=$(comp "$@")
    [[ $got == "$(printf '%s\n' $w | sort)" ]] && return 0
    echo "comp $*: got [$(echo $got)], want [$w]"
    exit 1
}
has() {
    local w=$1
    shift
    comp "$@" | grep -qxF -- "$w" || { echo "comp $*: no '$w' in [$(comp "$@" | tr '\n' ' ')]"; exit 1; }
}
hasnt() {
    local w=$1
    shift
    ! comp "$@" | grep -qxF -- "$w" || { echo "comp $*: offers '$w'"; exit 1; }
}

want isolate vigilctl is
want "process-tree processes" vigilctl process
want "--collector --ca --cert" vigilctl --c
want isolate vigilctl --collector 127.0.0.1:7443 --json is
want isolate vigilctl --ca=pki/ca.crt is
# as bash splits them at "=" and ":" (COMP_WORDBREAKS)
want isolate vigilctl --collector 127.0.0.1 : 7443 --ca = pki/ca.crt is
want "patch verify" vigilctl report --format = csv ""
want --wide vigilctl hosts --tag env = prod --w
want --wide vigilctl hosts --tag=env=prod --w
want "crl init issue show" vigilctl pki ""
want "patch verify" vigilctl report ""
want "patch verify" vigilctl report --format csv ""
want get vigilctl collection ""
want bash vigilctl completion ""
want "collect collection collections" vigilctl help coll
# options of a command, and of a sub-command word
has --reason vigilctl collect web-01 --
has --max-size vigilctl collect --
hasnt --format vigilctl collect --
has --role vigilctl pki issue --
hasnt --role vigilctl pki init --
has --tag vigilctl --json hosts --t
# fleet commands: their selection options, and commands' cancel word
want "--tag --timeout" vigilctl isolate --t
has --dry-run vigilctl release --tag site=a --
has --yes vigilctl collect --tag site=a --
want cancel vigilctl commands ca
has --reason vigilctl commands cancel ID --
# values: fixed lists, files and directories; --opt V and --opt=V
want "csv html json" vigilctl report patch --format ""
want html vigilctl report patch --format h
want html vigilctl report patch --format = h
want "--format=html" vigilctl report patch --format=h
want "summary full" vigilctl report patch --layout ""
want "csaf debian-json dsa-list" vigilctl advisories import --format ""
has admin vigilctl pki issue --role ""
has ca vigilctl pki issue --role ""
want evidence-web01.tar.lz4 vigilctl collect web-01 -o evid
want evidence-web01.tar.lz4 vigilctl collect web-01 --output evid
want evidence-web01.tar.lz4 vigilctl collect web-01 --output = evid
want evidence-web01.tar.lz4 vigilctl --ca evid
want evidence-web01.tar.lz4 vigilctl report verify evid
want pkidir vigilctl pki init --dir pki
# a value that is free text is not completed as a command or option
want "" vigilctl collect web-01 --reason ""
want "" vigilctl isolate web-01 --reason is

# every command of vigilctl --help, by its name and by a prefix
all=$(comp vigilctl "")
while read -r c; do
    grep -qxF -- "$c" <<<"$all" || { echo "'$c' (vigilctl --help) is not completed"; exit 1; }
    has "$c" vigilctl "${c:0:3}"
done <cmds.txt

# every option a command's --help lists is offered for it (or for one
# of its sub-command words; commands that share a --help share options)
FLAGRE='(^|[^[:alnum:]-])(--[a-z][a-z-]*|-[a-zA-Z])($|[^[:alnum:]-])'
offered() { # CMD: every option completed for CMD and its words
    local c=$1 w
    comp vigilctl "$c" --
    comp vigilctl "$c" -
    for w in $(comp vigilctl "$c" ""); do
        comp vigilctl "$c" "$w" --
        comp vigilctl "$c" "$w" -
    done
}
global=$(comp vigilctl -)
while read -r c; do
    pool=$( (echo "$global"; while read -r o; do
        cmp -s "help-$o.txt" "help-$c.txt" && offered "$o"; done <cmds.txt) | sort -u)
    # options on the Usage lines and on the indented option lines
    flags=$(sed -n '/^Usage:/,/^$/p; /^ *-/p' "help-$c.txt" |
        grep -oE -- "$FLAGRE" | grep -oE -- '-{1,2}[a-zA-Z][a-z-]*' | sort -u)
    for f in $flags; do
        grep -qxF -- "$f" <<<"$pool" ||
            { echo "vigilctl $c --help lists $f; the completion does not offer it"; exit 1; }
    done
done <cmds.txt
echo "drive: ok"
EOF
bash drive.bash >drive.out 2>&1 || { cat drive.out >&2; fail "completion in bash"; }
expect_in drive.out "drive: ok"
