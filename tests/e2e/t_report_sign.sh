# One report, one signature: a signed report in each format (csv, json,
# html) verifies with vigilctl and with the README's openssl-only recipe
# (extracted from README.md, so the test runs what the README shows);
# one byte changed in any file of the set (each CSV, the manifest, its
# signature, the certificate), a file missing, or a signature by a
# certificate that is not a collector's, and both refuse it.  The report
# made twice --as-of a past time is byte-identical apart from the
# generation time, with the same report id.
# vg-timeout: 120
. "$VG_ROOT/tests/e2e/lib.sh"

export LC_ALL=C TZ=UTC
make_pki pki
PORT=$(free_port)
collector_conf "$PORT" c.db >collector.conf
printf '[report]\norganisation = Example NHS Trust\n' >>collector.conf

# One Debian 12 host with one fix overdue, so every file has rows.
mkdir -p hostA/etc hostA/var/lib/dpkg hostA/var/log
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n' \
    >hostA/etc/os-release
printf 'Package: bar\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-1\n\n' \
    >hostA/var/lib/dpkg/status
cat >tracker.json <<'JSON'
{ "bar": { "CVE-2026-0002": { "releases": {
    "bookworm": { "status": "resolved", "repositories": {}, "fixed_version": "2.0-1+deb12u1",
                  "urgency": "high" } } } } }
JSON
printf '[%s] DSA-9002-1 bar - security update\n\t{CVE-2026-0002}\n\t[bookworm] - bar 2.0-1+deb12u1\n' \
    "$(date -u -d '20 days ago' '+%d %b %Y')" >DSA-list

start collector "$COLLECTOR" -c collector.conf
wait_for 30 "collector up" 'grep -q "listening on" collector.log'
agent_conf "$PORT" agent-1 >agent-1.conf
printf '[inventory]\nroot = hostA\n' >>agent-1.conf
start agent-1 "$AGENT" -c agent-1.conf
wait_for 30 "the host's inventory" \
    '[ "$(sql c.db "select count(*) from os_history where os_version_codename is not null")" -ge 1 ] &&
     [ "$(sql c.db "select count(*) from package_history")" -ge 1 ]'

export VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_CA=pki/ca.crt VIGIL_SERVER_NAME=localhost
admin() { VIGIL_CERT=pki/admin-1.crt VIGIL_KEY=pki/admin-1.key "$CTL" "$@"; }
auditor() { VIGIL_CERT=pki/auditor-1.crt VIGIL_KEY=pki/auditor-1.key "$CTL" "$@"; }
expect_exit 0 admin advisories import tracker.json
expect_exit 0 admin advisories import DSA-list
sleep 1.1
T1=$(date -u +%Y-%m-%dT%H:%M:%SZ)   # a past time for --as-of below
sleep 1.1

# The recipe, exactly as README.md shows it between its markers.
sed -n '/^<!-- verify-recipe -->$/,/^<!-- \/verify-recipe -->$/p' "$VG_ROOT/README.md" |
    grep -v -e '^<!--' -e '^```' >recipe.sh
grep -q '^R=report\.csv ' recipe.sh && grep -q 'openssl dgst' recipe.sh && grep -q 'sha256sum -c' recipe.sh ||
    fail "no openssl recipe between <!-- verify-recipe --> markers in README.md: $(cat recipe.sh)"
# recipe DIR NAME: runs it in DIR for the report NAME (only R= differs).
recipe() {
    sed "s/^R=report\.csv /R=$2 /" recipe.sh >"$1.recipe"
    (cd "$1" && sh -e "../$1.recipe") >recipe.out 2>&1
}

# set_files DIR NAME: the files of the set, as the manifest lists them,
# then the manifest, its signature and the certificate.
set_files() {
    grep -v '^#' "$1/$2.manifest" | cut -c67-
    printf '%s\n' "$2.manifest" "$2.manifest.sig" "$2.collector.pem"
}

# flip FILE OFFSET: one bit of the byte at OFFSET changed.
flip() {
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $(( b ^ 1 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

for fmt in csv json html; do
    name=report.$fmt
    mkdir "$fmt"
    expect_exit 0 auditor report patch --format "$fmt" --sign -o "$fmt/$name"
    m="$fmt/$name.manifest"
    [ -f "$m" ] && [ -f "$m.sig" ] && [ -f "$fmt/$name.collector.pem" ] || fail "$fmt: the signed set"
    [ "$(mode "$m")" = 600 ] && [ "$(mode "$fmt/$name")" = 600 ] || fail "$fmt: modes"
    if [ "$fmt" = csv ]; then
        [ "$(grep -vc '^#' "$m")" = 2 ] && grep -q '  report-hosts\.csv$' "$m" || fail "csv: the manifest lists both files: $(cat "$m")"
    else
        [ "$(grep -vc '^#' "$m")" = 1 ] || fail "$fmt: the manifest lists one file: $(cat "$m")"
    fi
    # sha256sum accepts the manifest as it is, without warnings.
    (cd "$fmt" && sha256sum -c --strict --warn "$name.manifest") >sum.out 2>&1 || { cat sum.out >&2; fail "$fmt: sha256sum -c"; }
    expect_not_in sum.out "WARNING"
    ID=$(sed -n 's/^# report_id: //p' "$m")
    echo "$ID" | grep -qx '[0-9a-f]\{32\}' || fail "$fmt: report id '$ID'"
    expect_exit 0 "$CTL" report verify "$fmt/$name" --ca pki/ca.crt
    expect_in out.txt "OK, signed by collector collector at"
    expect_in out.txt "report $ID: $fmt"
    expect_in out.txt ", as of "
    expect_exit 0 "$CTL" report verify "$m" --ca pki/ca.crt
    cp pki/ca.crt "$fmt/ca.crt"
    recipe "$fmt" "$name" || { cat recipe.out >&2; fail "$fmt: the README's openssl recipe rejects a good report"; }
    expect_in recipe.out "Verified OK"

    # One byte of each file of the set changed in turn: both refuse it.
    for f in $(set_files "$fmt" "$name"); do
        size=$(stat -c %s "$fmt/$f")
        for off in $(( size / 2 )) 30; do
            [ "$off" -lt "$size" ] || continue
            rm -rf t
            mkdir t
            cp "$fmt"/* t/
            flip "t/$f" "$off"
            ! cmp -s "t/$f" "$fmt/$f" || fail "flip did not change $f"
            expect_exit 1 "$CTL" report verify "t/$name" --ca pki/ca.crt
            expect_in err.txt "FAILED"
            if recipe t "$name"; then
                cat recipe.out >&2
                fail "$fmt: the openssl recipe accepts $f with byte $off changed"
            fi
        done
    done
    # A file of the set missing.
    rm -rf t && mkdir t && cp "$fmt"/* t/
    rm "t/$(set_files "$fmt" "$name" | tail -4 | head -1)"
    expect_exit 1 "$CTL" report verify "t/$name" --ca pki/ca.crt
    expect_in err.txt "missing"
    ! recipe t "$name" || fail "$fmt: the openssl recipe accepts a set with a file missing"
    # Signed by a certificate of the CA that is not a collector's: only
    # the collector check stops it.
    rm -rf t && mkdir t && cp "$fmt"/* t/
    cp pki/agent-1.crt "t/$name.collector.pem"
    openssl dgst -sha256 -sign pki/agent-1.key -out "t/$name.manifest.sig" "t/$name.manifest"
    expect_exit 1 "$CTL" report verify "t/$name" --ca pki/ca.crt
    expect_in err.txt "not a collector"
    ! recipe t "$name" || fail "$fmt: the openssl recipe accepts an agent's signature"
    expect_in recipe.out "collector.pem: OK"   # the CA check passed; the OU check refused it
done

# Unsigned: the manifest alone, with --hash-only; verify wants a signature.
expect_exit 0 auditor report patch --format csv -o plain.csv
[ -f plain.csv.manifest ] && [ ! -e plain.csv.manifest.sig ] || fail "unsigned set"
expect_exit 1 "$CTL" report verify plain.csv --ca pki/ca.crt
expect_in err.txt "no signature"
expect_exit 0 "$CTL" report verify plain.csv --hash-only
expect_in out.txt "not who made them"
expect_exit 1 "$CTL" report verify plain-hosts.csv --hash-only
expect_in err.txt "plain-hosts.csv.manifest"
# A single-file signature of a development version is refused by name.
echo '{}' >plain.json.sig && echo '{}' >plain.json
expect_exit 1 "$CTL" report verify plain.json --ca pki/ca.crt
expect_in err.txt "single-file signature"
# --layout: html only, summary or full.
expect_exit 2 auditor report patch --format html --layout wide -o x.html
expect_in err.txt "summary or full"
expect_exit 2 auditor report patch --format csv --layout full -o x.csv
expect_in err.txt "html only"
expect_exit 0 auditor report patch --format html --layout full -o full.html
expect_in full.html.manifest "# layout: full"
expect_exit 0 auditor report patch --format html -o summary.html
expect_in summary.html.manifest "# layout: summary"

# --as-of a past time, twice, in each format: byte-identical apart from
# the generation time; one report id for all.
IDS=""
for fmt in csv json html; do
    for n in 1 2; do
        mkdir -p "asof$n"
        expect_exit 0 auditor report patch --format "$fmt" --as-of "$T1" --sign -o "asof$n/r.$fmt"
    done
    for n in 1 2; do
        G=$(sed -n 's/^# generated: //p' "asof$n/r.$fmt.manifest")
        GMS=$(date -u -d "$G" +%s%3N)
        # The HTML's print margins hold it CSS-escaped (\00002d for -, ...).
        GCSS=$(printf '%s' "$G" | sed -e 's/-/\\\\00002d/g' -e 's/:/\\\\00003a/g' -e 's/\./\\\\00002e/g')
        for f in $(grep -v '^#' "asof$n/r.$fmt.manifest" | cut -c67-); do
            sed -e "s/$G/GENERATED/g" -e "s/${G#*T}/GENTIME/g" -e "s/$GMS/GENMS/g" -e "s/$GCSS/GENCSS/g" \
                "asof$n/$f" >"asof$n/$f.cmp"
        done
        grep '^#' "asof$n/r.$fmt.manifest" | grep -v '^# generated: ' >"asof$n/r.$fmt.meta"
    done
    for f in $(grep -v '^#' "asof1/r.$fmt.manifest" | cut -c67-); do
        cmp "asof1/$f.cmp" "asof2/$f.cmp" || fail "--as-of $T1 twice: $f differs beyond the generation time"
    done
    cmp "asof1/r.$fmt.meta" "asof2/r.$fmt.meta" || fail "--as-of $T1 twice: the manifests' report id, as-of or collector differ"
    IDS="$IDS $(sed -n 's/^# report_id: //p' asof1/r.$fmt.manifest)"
done
[ "$(echo $IDS | tr ' ' '\n' | sort -u | wc -l)" = 1 ] || fail "one report, one id in every format: $IDS"
jq -e --arg id "$(echo $IDS | cut -d' ' -f1)" '.header.report_id == $id and .header.collector == "collector"' asof1/r.json >/dev/null ||
    fail "the JSON header's report_id and collector: $(jq -c .header asof1/r.json)"
# Every CSV row carries the report id, as-of time, collector and
# generation time, and only the last differs.
for f in r.csv r-hosts.csv; do
    head -1 "asof1/$f" | tr -d '\r' | grep -q ',report_id,as_of,collector,generated$' ||
        fail "$f: no stamp columns"
    tr -d '\r' <"asof1/$f" | sed 's/,[^,]*$//' >a.csv
    tr -d '\r' <"asof2/$f" | sed 's/,[^,]*$//' >b.csv
    cmp a.csv b.csv || fail "$f --as-of twice differs beyond the generated column"
done
grep -q ",$(echo $IDS | cut -d' ' -f1),$T1,collector," asof1/r-hosts.csv || fail "hosts CSV rows carry the report id and as-of time"
# Another as-of time is another report.
expect_exit 0 auditor report patch --format json -o now.json
[ "$(jq -r .header.report_id now.json)" != "$(jq -r .header.report_id asof1/r.json)" ] || fail "a later report has the same id"
expect_exit 0 "$CTL" report verify asof2/r.html --ca pki/ca.crt
