#!/bin/sh
# Renders an HTML report in headless Chromium and checks what a reader
# would get:
#   (a) a screenshot (1280x2000) that is not blank: at least 2% of its
#       pixels not white and more than a few distinct colours;
#   (b) the DOM text (--dump-dom) holds every EXPECTED_TEXT, and the page
#       has no <script>; an EXPECTED_TEXT of the form #ID=TEXT requires
#       the element with that id to hold exactly TEXT;
#   (c) a PDF (--print-to-pdf) of some substance whose every page is A4
#       (MediaBox about 595 x 842 points); with --max-pages N, of at most N
#       pages; with --every-page TEXT, TEXT printed on every page (the
#       report id in the page margins; needs pdftotext, else skipped).
# Chromium runs without network, sandbox or GPU, with a fresh profile,
# under a 60-second timeout per run.  Everything goes into one temporary
# directory, removed at exit; VG_HTML_KEEP=DIR copies the screenshot, the
# DOM and the PDF there first.
#
# Usage: tests/html/check_html.sh [--max-pages N] [--every-page TEXT] HTML_FILE
#            [EXPECTED_TEXT...]
# Needs: chromium, python3 (scripts/install-deps.sh --html installs them).
set -u

me=check_html
max_pages=
every_page=
while [ $# -gt 1 ]; do
    case $1 in
    --max-pages) max_pages=$2; shift 2 ;;
    --every-page) every_page=$2; shift 2 ;;
    *) break ;;
    esac
done
html=${1:-}
if [ -z "$html" ]; then
    echo "usage: $0 [--max-pages N] [--every-page TEXT] HTML_FILE [EXPECTED_TEXT...]" >&2
    exit 2
fi
shift
if [ ! -f "$html" ]; then
    echo "$me: $html: no such file" >&2
    exit 2
fi
chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
    echo "$me: chromium not found (install it with: scripts/install-deps.sh --html)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/vg-check-html.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# Chromium writes caches and an NSS database under HOME: keep them here.
mkdir -p "$work/home"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"

url=$(python3 -c 'import pathlib, sys; print(pathlib.Path(sys.argv[1]).resolve().as_uri())' "$html")
fail=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# run NAME ARGS...: one Chromium run, stdout to $work/NAME.out, stderr to
# $work/NAME.log (shown only on failure).
run() {
    name=$1
    shift
    t0=$(now)
    timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --user-data-dir="$(mktemp -d "$work/profile.XXXXXX")" "$@" \
        >"$work/$name.out" 2>"$work/$name.log"
    rc=$?
    secs=$(elapsed "$t0")
    if [ $rc -eq 124 ]; then
        echo "  FAIL  html/$name: chromium timed out after 60 s" >&2
    elif [ $rc -ne 0 ]; then
        echo "  FAIL  html/$name: chromium exited with status $rc" >&2
    fi
    if [ $rc -ne 0 ]; then
        grep -v -e 'dbus' -e 'DBus' "$work/$name.log" | tail -20 | sed 's/^/        /' >&2
        fail=1
        return 1
    fi
    return 0
}

# (a) screenshot
if run screenshot --screenshot="$work/shot.png" --window-size=1280,2000 --hide-scrollbars "$url"; then
    if out=$(python3 "$here/png_stats.py" "$work/shot.png" 2 8); then
        echo "  PASS  html/screenshot ($out; chromium ${secs}s)"
    else
        echo "  FAIL  html/screenshot: $out" >&2
        fail=1
    fi
fi

# (b) DOM text
if run dom --dump-dom "$url"; then
    if out=$(python3 "$here/dom_text.py" "$work/dom.out" "$@"); then
        echo "  PASS  html/dom ($out; chromium ${secs}s)"
    else
        printf '%s\n' "$out" | sed '1s/^/  FAIL  html\/dom: /; 2,$s/^/        /' >&2
        fail=1
    fi
fi

# (c) PDF on A4
if run pdf --no-pdf-header-footer --print-to-pdf="$work/report.pdf" "$url"; then
    if out=$(python3 "$here/pdf_a4.py" "$work/report.pdf" $max_pages); then
        echo "  PASS  html/pdf ($out; chromium ${secs}s)"
    else
        echo "  FAIL  html/pdf: $out" >&2
        fail=1
    fi
    if [ -n "$every_page" ]; then
        if ! command -v pdftotext >/dev/null 2>&1; then
            echo "  SKIP  html/pdf-pages: pdftotext not installed (poppler-utils)"
        else
            pdftotext -layout "$work/report.pdf" "$work/report.txt"
            pages=$(python3 "$here/pdf_a4.py" "$work/report.pdf" | sed 's/ pages.*//')
            missing=$(awk -v want="$every_page" -v n="$pages" '
                BEGIN { RS = "\f" }
                NR <= n && index($0, want) == 0 { printf "%d ", NR }' "$work/report.txt")
            if [ -z "$missing" ]; then
                echo "  PASS  html/pdf-pages ($pages pages each show $every_page)"
            else
                echo "  FAIL  html/pdf-pages: page(s) ${missing}lack $every_page" >&2
                fail=1
            fi
        fi
    fi
fi

if [ -n "${VG_HTML_KEEP:-}" ]; then
    mkdir -p "$VG_HTML_KEEP"
    for f in shot.png dom.out report.pdf report.txt; do
        [ -f "$work/$f" ] && cp "$work/$f" "$VG_HTML_KEEP/"
    done
fi
exit $fail
