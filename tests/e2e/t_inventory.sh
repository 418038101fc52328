# vigil-agent inventory: the installed packages equal dpkg-query's "ii"
# packages exactly; other states are listed with their state; a fixture
# root is read instead of / when asked.
. "$VG_ROOT/tests/e2e/lib.sh"

expect_exit 0 "$AGENT" inventory --json
mv out.txt inv.json
jq -r '.packages[] | select(.status == "installed" and .manager == "dpkg") | "\(.name) \(.version) \(.arch)"' inv.json |
    sort >ours.txt
dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version} ${Architecture}\n' |
    awk '$1 == "ii" { print $2, $3, $4 }' | sort >dpkg.txt
[ -s dpkg.txt ] || fail "dpkg-query listed nothing"
diff -u dpkg.txt ours.txt || fail "inventory differs from dpkg-query"
# Every package has the documented fields.
[ "$(jq '[.packages[] | select(.name and .version and .arch and .status and .source)] | length' inv.json)" = \
  "$(jq '.packages | length' inv.json)" ] || fail "a package lacks a field"

# A fixture host root: one installed, one config-files, one not-installed,
# a duplicate stanza (the later wins), a stanza without Version, and a
# Source with its own version.
mkdir -p root/var/lib/dpkg
cat >root/var/lib/dpkg/status <<'STATUS'
Package: openssl
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u1)
Version: 3.0.11-1~deb12u1+b1
Description: Secure Sockets Layer toolkit
 continuation line with: a colon

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1

Package: gone
Status: purge ok not-installed
Architecture: amd64

Package: broken
Status: install ok installed
Architecture: amd64

Package: openssl
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2
STATUS
expect_exit 0 "$AGENT" inventory --root root --json
jq -r '.packages[] | "\(.name) \(.version) \(.status) \(.source) \(.source_version)"' out.txt >got.txt
cat >want.txt <<'WANT'
oldpkg 1.0-1 config-files oldpkg 1.0-1
openssl 3.0.11-1~deb12u2 installed openssl 3.0.11-1~deb12u2
WANT
diff -u want.txt got.txt || fail "fixture inventory"
expect_in err.txt "1 incomplete stanzas skipped, 1 duplicate stanzas"
expect_exit 0 "$AGENT" inventory --root root
expect_in out.txt "1 installed, 1 in other states"

# Install times from dpkg's logs, rotated and gzipped ones included: the
# last time the current version became installed (dpkg logs local time).
mkdir -p root/var/log
printf '2026-01-05 09:00:00 status installed openssl:amd64 3.0.11-1~deb12u2\n' |
    gzip >root/var/log/dpkg.log.2.gz
printf '2025-12-01 08:00:00 status installed openssl:amd64 3.0.11-1~deb12u1\n' >root/var/log/dpkg.log.1
printf '2026-02-01 10:00:00 status half-configured openssl:amd64 3.0.11-1~deb12u2\n' >root/var/log/dpkg.log
printf 'garbage line\n\n2026-13-99 xx status installed openssl:amd64\n' >>root/var/log/dpkg.log
TZ=UTC "$AGENT" inventory --root root --json >times.json
[ "$(jq -r '.packages[] | select(.name == "openssl") | .install_time' times.json)" = 2026-01-05T09:00:00Z ] ||
    fail "install time: $(jq -c '.packages[] | select(.name == "openssl")' times.json)"
[ "$(jq -r '.packages[] | select(.name == "oldpkg") | .install_time // "none"' times.json)" = none ] ||
    fail "oldpkg has no logged install" 
expect_exit 1 "$AGENT" inventory --root nowhere
expect_in err.txt "nowhere/var/lib/dpkg/status"
expect_exit 2 "$AGENT" inventory --bogus

# The status file replaced while being read: dpkg replaces it by rename,
# so each read sees one whole version; a rewrite in place gives at worst
# a partial list, never a failure.
mkdir -p flip/var/lib/dpkg
gen() { # gen N: a status file of N packages
    i=0
    while [ $i -lt "$1" ]; do
        printf 'Package: p%d\nStatus: install ok installed\nArchitecture: all\nVersion: 1.%d\n\n' $i $i
        i=$((i + 1))
    done
}
gen 300 >a.status
gen 700 >b.status
cp a.status flip/var/lib/dpkg/status
( while :; do
      cp a.status flip/var/lib/dpkg/.tmp && mv flip/var/lib/dpkg/.tmp flip/var/lib/dpkg/status
      cp b.status flip/var/lib/dpkg/.tmp && mv flip/var/lib/dpkg/.tmp flip/var/lib/dpkg/status
  done ) &
FLIPPER=$!
VG_PIDS="$VG_PIDS $FLIPPER"
for i in $(seq 30); do
    "$AGENT" inventory --root flip --json >flip.json || fail "inventory failed while the file was replaced"
    n=$(jq '.packages | length' flip.json)
    [ "$n" = 300 ] || [ "$n" = 700 ] || fail "read a mix of two versions: $n packages"
done
kill "$FLIPPER"
( while :; do cat a.status >flip/var/lib/dpkg/status; cat b.status >flip/var/lib/dpkg/status; done ) &
FLIPPER=$!
VG_PIDS="$VG_PIDS $FLIPPER"
for i in $(seq 30); do
    "$AGENT" inventory --root flip --json >flip.json || fail "inventory failed on a file rewritten in place"
    [ "$(jq '.packages | length' flip.json)" -le 700 ] || fail "more packages than ever written"
done
kill "$FLIPPER"
echo ok
