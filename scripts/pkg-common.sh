# Shared by scripts/build-deb.sh and scripts/build-rpm.sh (sourced, POSIX sh).
#
#   pkg_stage VERSION BUILD OUT
#
# checks VERSION and that BUILD holds the three programs built at that
# version, then lays out OUT/stage-VERSION/, which both package formats
# take their files from:
#
#   bin/      vigil-agent, vigil-collector, vigilctl (stripped, 0755)
#   man/      the man pages, gzip -9n
#   completion/vigilctl  bash completion, as vigilctl completion bash writes it
#   changelog the Debian changelog for VERSION (packaging/deb/changelog,
#             with an entry for VERSION first when it is not a release)
#
# Sets STAGE, ROOT (the source tree) and SOURCE_DATE_EPOCH (the last
# commit's time, so that two builds of one commit are the same).

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKG_MAINTAINER=${VIGIL_PKG_MAINTAINER:-"Vigil maintainers <maintainers@vigil.example.org>"}
PROGS="vigil-agent vigil-collector vigilctl"

pkg_die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

pkg_stage() {
    version=$1 build=$2 out=$3
    # One string that dpkg and rpm both take, compare alike, and that
    # names files safely: no '-' (rpm's release separator), no epoch.
    case $version in
    [0-9]*) ;;
    *) pkg_die "VERSION '$version' must start with a digit (e.g. 0.1.0)" ;;
    esac
    case $version in
    *[!0-9A-Za-z.+~]*) pkg_die "VERSION '$version' may hold only digits, letters, '.', '+' and '~'" ;;
    esac
    for p in $PROGS; do
        [ -x "$build/$p" ] || pkg_die "$build/$p is missing (run: make BUILD=$build VERSION=$version all)"
        got=$("$build/$p" --version 2>/dev/null) || pkg_die "$build/$p --version failed"
        [ "$got" = "$p $version" ] ||
            pkg_die "$build/$p says '$got', not '$p $version': it was built at another VERSION (use a BUILD directory of its own per version)"
    done
    if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
        SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null) || SOURCE_DATE_EPOCH=$(date +%s)
    fi
    export SOURCE_DATE_EPOCH

    STAGE=$out/stage-$version
    rm -rf "$STAGE"
    mkdir -p "$STAGE/bin" "$STAGE/man" "$STAGE/completion"
    for p in $PROGS; do
        # As dh_strip does: no symbols, no .comment or .note sections.
        strip --strip-unneeded --remove-section=.comment --remove-section=.note \
            -o "$STAGE/bin/$p" "$build/$p"
        chmod 0755 "$STAGE/bin/$p"
    done
    for m in "$ROOT"/packaging/man/*.[158]; do
        gzip -9n <"$m" >"$STAGE/man/$(basename "$m").gz"
    done
    "$build/vigilctl" completion bash >"$STAGE/completion/vigilctl" ||
        pkg_die "$build/vigilctl completion bash failed"
    pkg_changelog "$version" >"$STAGE/changelog"
}

# The Debian changelog for VERSION on stdout.
pkg_changelog() {
    # (sed, not dpkg-parsechangelog: a second of perl each time)
    top=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$ROOT/packaging/deb/changelog")
    if [ "$top" != "$1" ]; then
        rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || rev=unknown
        # Dated after the entry below it, as both formats want.
        when=$(date -d "$(sed -n '0,/^ -- /s/^ -- .*>  //p' "$ROOT/packaging/deb/changelog")" +%s)
        [ "$SOURCE_DATE_EPOCH" -gt "$when" ] && when=$SOURCE_DATE_EPOCH || when=$((when + 1))
        printf 'vigil (%s) unstable; urgency=medium\n\n' "$1"
        printf '  * Not a release: built from commit %s with VERSION=%s.\n\n' "$rev" "$1"
        printf ' -- %s  %s\n\n' "$PKG_MAINTAINER" "$(date -u -R -d "@$when")"
    fi
    cat "$ROOT/packaging/deb/changelog"
}

# A Debian changelog (stdin) as an rpm %changelog body (stdout), '%' escaped.
pkg_rpm_changelog() {
    awk '
    /^[a-z0-9]/ { v = $2; gsub(/[()]/, "", v); items = ""; item = ""; next }
    /^  \* / { if (item != "") items = items "- " item "\n"; item = substr($0, 5); next }
    /^    [^ ]/ { sub(/^ +/, ""); item = item " " $0; next }
    /^ -- / {
        if (item != "") items = items "- " item "\n"
        item = ""
        who = substr($0, 5); sub(/  [A-Z][a-z][a-z], .*/, "", who)
        split($0, d, /  /); split(d[2], t, /[ ,]+/)    # Wed, 02 Dec 2026 00:00:00 +0000
        printf "* %s %s %s %s %s - %s-1\n%s\n", t[1], t[3], t[2], t[4], who, v, items
    }
    ' | sed 's/%/%%/g'
}
