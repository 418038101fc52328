# Pending updates: the candidate versions vigil-agent works out from apt's
# lists and preferences equal apt's own (apt-cache policy), on this host
# and on a generated fixture host with six releases (NotAutomatic,
# ButAutomaticUpgrades, a security suite, a vendor site on a port), every
# list compression, and pins of each kind; security updates are the ones
# apt-get reports from a -security suite.
# vg-timeout: 300
. "$VG_ROOT/tests/e2e/lib.sh"

# ---- pending updates on apt hosts: ours vs apt-cache policy -------------
# compare ROOT-OPTION...: writes ours.txt and apt.txt ("name candidate")
compare_with_apt() {
    jq -r '.pending_updates[] | "\(.name) \(.candidate_version)"' inv.json | sort >ours.txt
    dpkg-query --admindir="$1/var/lib/dpkg" -W -f '${db:Status-Abbrev} ${Package}\n' |
        awk '$1 !~ /^[ucp]/ || $1 ~ /^.[iuHFWt]/ { print $2 }' | sort -u >names.txt
    # shellcheck disable=SC2046
    apt-cache -o Dir="$1" -o Dir::State::status="$1/var/lib/dpkg/status" policy $(cat names.txt) >policy.txt 2>policy.err ||
        fail "apt-cache policy failed: $(cat policy.err)"
    awk '/^[^ ].*:$/ { name = substr($0, 1, length($0) - 1); sub(/:amd64$/, "", name) }
         /^  Installed:/ { inst = $2 }
         /^  Candidate:/ { if ($2 != "(none)" && $2 != inst && inst != "(none)") print name, inst, $2 }' \
        policy.txt >differ.txt
    : >apt.txt
    while read -r n i c; do
        # A pin above 1000 can make the candidate older: not an update.
        if dpkg --compare-versions "$c" gt "$i"; then echo "$n $c" >>apt.txt; fi
    done <differ.txt
    sort -o apt.txt apt.txt
    diff -u apt.txt ours.txt || fail "candidates differ from apt's ($2)"
}

# This host, as it is: whatever apt's lists say.
expect_exit 0 "$AGENT" inventory --json
mv out.txt inv.json
compare_with_apt / "this host"
echo "host: $(wc -l <ours.txt) pending updates, same as apt"
# Every update apt-get fetches from a -security suite is security here.
apt-get -s dist-upgrade 2>/dev/null | awk '/^Inst / && /-security/ { print $2 }' | sort >sec_apt.txt
jq -r '.pending_updates[] | select(.security) | .name' inv.json | sort >sec_ours.txt
missing=$(comm -23 sec_apt.txt sec_ours.txt)
[ -z "$missing" ] || fail "security updates not flagged: $missing"

# ---- a generated fixture host ------------------------------------------
R=$PWD/root
mkdir -p "$R/etc/apt/preferences.d" "$R/etc/apt/apt.conf.d" "$R/var/lib/apt/lists" \
    "$R/var/lib/dpkg" "$R/var/cache/apt/archives/partial"
L=$R/var/lib/apt/lists
cat >"$R/etc/apt/sources.list" <<'SRC'
deb [trusted=yes] http://deb.example.org/debian bookworm main
deb [trusted=yes] http://deb.example.org/debian bookworm-updates main
deb [trusted=yes] http://security.example.org/debian-security bookworm-security updates/main
deb [trusted=yes] http://deb.example.org/debian bookworm-backports main
deb [trusted=yes] http://deb.example.org/debian experimental main
deb [trusted=yes] http://repo.vendor.example:8080/apt stable non-free
deb [trusted=yes] http://flat.example.org/repo ./
SRC
# apt uses only the lists a release's hash list names.
release() { # FILE ORIGIN LABEL SUITE CODENAME VERSION [EXTRA] [COMPONENT]
    printf 'Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\nVersion: %s\n%sArchitectures: amd64\nComponents: %s\nSHA256:\n 0123 1 %s/binary-amd64/Packages\n' \
        "$2" "$3" "$4" "$5" "$6" "${7:-}" "${8:-main}" "${8:-main}" >"$1"
}
release "$L/deb.example.org_debian_dists_bookworm_InRelease.tmp" Debian Debian stable bookworm 12.4
# A clear-signed InRelease, as apt keeps it.
{ printf -- '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n'
  cat "$L/deb.example.org_debian_dists_bookworm_InRelease.tmp"
  printf -- '-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n-----END PGP SIGNATURE-----\n'; } \
    >"$L/deb.example.org_debian_dists_bookworm_InRelease"
rm "$L/deb.example.org_debian_dists_bookworm_InRelease.tmp"
release "$L/deb.example.org_debian_dists_bookworm-updates_Release" Debian Debian stable-updates bookworm-updates 12-updates
release "$L/security.example.org_debian-security_dists_bookworm-security_Release" Debian Debian-Security stable-security bookworm-security 12 "" updates/main
release "$L/deb.example.org_debian_dists_bookworm-backports_Release" Debian Debian stable-backports bookworm-backports 12-backports \
    "NotAutomatic: yes
ButAutomaticUpgrades: yes
"
release "$L/deb.example.org_debian_dists_experimental_Release" Debian Debian experimental rc-buggy 0 "NotAutomatic: yes
"
release "$L/repo.vendor.example:8080_apt_dists_stable_Release" Vendor "Vendor Tools" stable stable 3.1 "" non-free
# A flat repository ("deb URI ./"), not automatic: its lists have no dists/.
printf 'Origin: Flat\nLabel: Flat\nSuite: flat\nNotAutomatic: yes\nSHA256:\n 0123 1 Packages\n' \
    >"$L/flat.example.org_repo_._Release"

awk -v out="$R" -v seed="${VG_APT_SEED:-7}" -v n=400 -f "$VG_ROOT/tests/e2e/aptfx.awk" </dev/null ||
    fail "fixture generation"
# Each compression apt may keep its lists in.
lz4 -q -c "$L/deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages" \
    >"$L/deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
gzip -n "$L/deb.example.org_debian_dists_bookworm-updates_main_binary-amd64_Packages"
xz "$L/security.example.org_debian-security_dists_bookworm-security_updates_main_binary-amd64_Packages"
gzip -n "$L/deb.example.org_debian_dists_experimental_main_binary-amd64_Packages"
rm "$L/deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages"

# Pins: generic ones on an origin and a release, and package ones by
# version glob, release, regex, src: and a never-pin.  A file with
# another extension is ignored, by apt and by us.
cat >"$R/etc/apt/preferences" <<'PREF'
# vendor packages only when nothing else has them
Package: *
Pin: origin repo.vendor.example
Pin-Priority: 400

Explanation: experimental for the p1x packages
Package: p1*
Pin: release a=experimental
Pin-Priority: 600

Package: p2 p3 p4
Pin: version 1.*+deb12u1
Pin-Priority: 1001

Explanation: bare release values: a codename, a version prefix, any
Package: p20 p21 p22 p23 p24
Pin: release rc-buggy
Pin-Priority: 700

Package: p25 p26 p27 p28 p29
Pin: release 12*
Pin-Priority: 200

Package: p30 p31 p32
Pin: release *
Pin-Priority: 50

Explanation: matching ignores case, as apt's does
Package: P33 p34 p35
Pin: release a=Stable-Security, o=DEBIAN
Pin-Priority: 995

Package: p36 p37
Pin: origin ""
Pin-Priority: 1001
PREF
cat >"$R/etc/apt/preferences.d/backports" <<'PREF'
Package: /^p5[0-9]$/
Pin: release n=bookworm-backports
Pin-Priority: 990

Package: p6 p7 p8 p9
Pin: release l=Debian-Security
Pin-Priority: -1

Package: *
Pin: release a=stable-updates, c=main
Pin-Priority: 450
PREF
cat >"$R/etc/apt/preferences.d/ignored.bak" <<'PREF'
Package: *
Pin: release a=stable
Pin-Priority: -10
PREF

expect_exit 0 "$AGENT" inventory --root "$R" --json
mv out.txt inv.json
compare_with_apt "$R" "fixture"
n=$(wc -l <ours.txt)
[ "$n" -gt 100 ] || fail "the fixture should have many pending updates, has $n"
echo "fixture: $n pending updates, same as apt"

# Security: an update is security when a version above the installed one,
# up to the candidate, is in the security suite.  apt-get names the
# suite of each candidate; those from it must be flagged.
apt-get -s -o Dir="$R" -o Dir::State::status="$R/var/lib/dpkg/status" dist-upgrade 2>apt.err >upgrade.txt ||
    fail "apt-get -s dist-upgrade failed: $(cat apt.err)"
awk '/^Inst / && /-security/ { print $2 }' upgrade.txt | sort >sec_apt.txt
[ -s sec_apt.txt ] || fail "the fixture should have security updates"
jq -r '.pending_updates[] | select(.security) | .name' inv.json | sort >sec_ours.txt
missing=$(comm -23 sec_apt.txt sec_ours.txt)
[ -z "$missing" ] || fail "security updates not flagged: $missing"
# Each one we flag has a security version in range (checked with dpkg).
jq -r '.pending_updates[] | select(.security) | "\(.name) \(.installed_version) \(.candidate_version)"' inv.json |
while read -r name inst cand; do
    ok=0
    for v in $(xz -dc "$L"/*security*Packages.xz | awk -v p="$name" '$1 == "Package:" { cur = $2 } $1 == "Version:" && cur == p { print $2 }'); do
        if dpkg --compare-versions "$v" gt "$inst" && dpkg --compare-versions "$v" le "$cand"; then ok=1; fi
    done
    [ $ok = 1 ] || { echo "flagged without a security version: $name"; exit 1; }
done || fail "a security flag is wrong"
# Every update apt-get would install (not a downgrade) is ours, too.
awk '/^Inst / && /\[/ { print $2 }' upgrade.txt | sort >inst_apt.txt
cut -d' ' -f1 ours.txt >inst_ours.txt
extra=$(comm -23 inst_apt.txt inst_ours.txt)
for p in $extra; do
    grep -q "^$p " differ.txt || fail "apt-get upgrades $p, we do not list it"
done

# Sources: each pending update says where it comes from.
[ "$(jq -r '.pending_updates[] | select(.archive == "stable-security") | .label' inv.json | sort -u)" = "Debian-Security" ] ||
    fail "security updates should come from the Debian-Security release"
jq -e '[.pending_updates[] | select(.site == "repo.vendor.example")] | length > 0' inv.json >/dev/null ||
    fail "no update from the vendor site"
jq -e '.summary.lists_refreshed' inv.json >/dev/null || fail "lists_refreshed missing"
