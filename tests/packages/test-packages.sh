#!/bin/sh
# make test-packages: the packages as an admin meets them.
#
#  1. builds the debs and rpms at two versions (V1, then a higher V2) and
#     lints them: lintian and rpmlint, failing on any error or warning not
#     overridden with a reason in packaging/;
#  2. checks that Depends and Requires name every library the programs
#     link;
#  3. in a copy of a cached `debootstrap --variant=minbase bookworm` root
#     (built once from the mirror apt uses, in $VIGIL_TEST_CACHE, default
#     /var/cache/vigil-test; every run starts from a fresh copy), as root
#     with chroot:
#       deb: install V1 with no systemd (files, modes, owner, conffiles,
#       the units enabled), install again (idempotent), docs/OPERATIONS.md's
#       unattended flow for real (collector PKI, token, CA and addresses
#       dropped, the agent enrolls and streams), then with a stand-in
#       systemctl that logs what it is asked: edit the conffiles, upgrade
#       to V2 (edits kept, version changed, services restarted, the state
#       directory byte for byte the same, isolation included), removal
#       refused on an isolated host (and while an isolate is pending, and
#       with a damaged state file), VIGIL_FORCE_REMOVE=1, purge (state
#       gone), and a plain removal of a host that is not isolated;
#       rpm: the same with rpm --root/--dbpath: install, upgrade with
#       %config(noreplace) edits kept, erase refused on an isolated host,
#       forced, and erase.
#
# Also: no VIGIL_TEST_ string (a test hook) in any packaged file.
#
# Needs root (chroot, mount) and debootstrap; mounts and processes are
# cleaned up on any exit.  Prints PASS lines and "N passed, N failed".
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
V1=${VIGIL_TEST_V1:-0.1.0}
V2=${VIGIL_TEST_V2:-0.1.1}
CACHE=${VIGIL_TEST_CACHE:-/var/cache/vigil-test}
SUITE=bookworm
OUT=$ROOT/build/pkg
MAKE=${MAKE:-make}
ARCH=$(dpkg --print-architecture)
RARCH=$(rpm --eval '%{_arch}')

passed=0
PIDS=
SCRATCH=

say() { echo "test-packages: $*" >&2; }
pass() { passed=$((passed + 1)); echo "  PASS  $*"; }
fail() {
    echo "  FAIL  $*" >&2
    echo "packages: $passed passed, 1 failed"
    exit 1
}

# Processes we started, then every mount under the scratch directory
# (deepest first), then the directory: never rm -rf a tree with a mount in it.
cleanup() {
    rc=$?
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ -n "$SCRATCH" ] && [ -d "$SCRATCH" ]; then
        unmount_under "$SCRATCH"
        if awk -v d="$SCRATCH/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
            say "mounts left under $SCRATCH; not removing it"
        else
            rm -rf "$SCRATCH"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

unmount_under() {
    awk -v d="$1/" 'index($2 "/", d) == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
}

[ "$(id -u)" = 0 ] || { say "must run as root (chroot, mount)"; exit 1; }
for t in debootstrap lintian rpmlint rpmbuild rpm2cpio cpio dpkg-deb chroot flock; do
    command -v $t >/dev/null || { say "$t is missing (scripts/install-deps.sh installs it)"; exit 1; }
done
dpkg --compare-versions "$V2" gt "$V1" || { say "V2 ($V2) must be higher than V1 ($V1)"; exit 1; }
SCRATCH=$(mktemp -d /var/tmp/vigil-pkgtest.XXXXXX)

# ---- 1. build and lint -------------------------------------------------------

start=$(date +%s)
for v in "$V1" "$V2"; do
    $MAKE --no-print-directory deb rpm VERSION="$v" >"$SCRATCH/build-$v.log" 2>&1 ||
        { cat "$SCRATCH/build-$v.log" >&2; fail "make deb rpm VERSION=$v"; }
done
for v in "$V1" "$V2"; do
    for p in vigil-agent vigil-collector vigilctl; do
        [ -f "$OUT/${p}_${v}_$ARCH.deb" ] || fail "no $OUT/${p}_${v}_$ARCH.deb"
        [ -f "$OUT/$p-$v-1.$RARCH.rpm" ] || fail "no $OUT/$p-$v-1.$RARCH.rpm"
    done
done
pass "make deb rpm at $V1 and $V2 ($(($(date +%s) - start))s)"

DEBS1="$OUT/vigilctl_${V1}_$ARCH.deb $OUT/vigil-collector_${V1}_$ARCH.deb $OUT/vigil-agent_${V1}_$ARCH.deb"
DEBS2="$OUT/vigilctl_${V2}_$ARCH.deb $OUT/vigil-collector_${V2}_$ARCH.deb $OUT/vigil-agent_${V2}_$ARCH.deb"
RPMS1="$OUT/vigilctl-$V1-1.$RARCH.rpm $OUT/vigil-collector-$V1-1.$RARCH.rpm $OUT/vigil-agent-$V1-1.$RARCH.rpm"
RPMS2="$OUT/vigilctl-$V2-1.$RARCH.rpm $OUT/vigil-collector-$V2-1.$RARCH.rpm $OUT/vigil-agent-$V2-1.$RARCH.rpm"

# shellcheck disable=SC2086
lintian --fail-on error,warning --pedantic $DEBS1 $DEBS2 >"$SCRATCH/lintian.txt" 2>&1 ||
    { cat "$SCRATCH/lintian.txt" >&2; fail "lintian"; }
grep -v '^running with root privileges' "$SCRATCH/lintian.txt" | grep -q '^[EW]:' &&
    { cat "$SCRATCH/lintian.txt" >&2; fail "lintian reported errors or warnings"; }
pass "lintian: no errors or warnings ($(grep -c '^[IP]:' "$SCRATCH/lintian.txt" || true) info/pedantic)"
# shellcheck disable=SC2086
rpmlint -r packaging/rpm/vigil.rpmlintrc $RPMS1 $RPMS2 >"$SCRATCH/rpmlint.txt" 2>&1 ||
    { cat "$SCRATCH/rpmlint.txt" >&2; fail "rpmlint"; }
grep -q ' 0 errors, 0 warnings' "$SCRATCH/rpmlint.txt" ||
    { cat "$SCRATCH/rpmlint.txt" >&2; fail "rpmlint reported errors or warnings"; }
pass "rpmlint: 0 errors, 0 warnings"

# ---- 2. dependencies ---------------------------------------------------------

# needed FILE: the sonames an ELF file links.
needed() { objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }'; }
x=$SCRATCH/x
for p in vigil-agent vigil-collector vigilctl; do
    rm -rf "$x" && mkdir "$x"
    dpkg-deb -x "$OUT/${p}_${V1}_$ARCH.deb" "$x"
    bin=$x/usr/sbin/$p
    [ "$p" != vigilctl ] || bin=$x/usr/bin/$p
    [ -f "$bin" ] || fail "$p: no ${bin#$x} in the deb"
    [ -n "$(needed "$bin")" ] || fail "$p: objdump finds no NEEDED libraries in ${bin#$x}"
    deps=$(dpkg-deb -f "$OUT/${p}_${V1}_$ARCH.deb" Depends)
    rreq=$(rpm -qp --requires "$OUT/$p-$V1-1.$RARCH.rpm")
    for so in $(needed "$bin"); do
        # The Debian package that has the library here must be a dependency.
        lib=$(ldconfig -p | awk -v s="$so" '$1 == s && /x86-64|64bit/ { print $NF; exit }')
        [ -n "$lib" ] || fail "$p: $so not found on this host"
        owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
            fail "$p: no package owns $lib"
        printf '%s\n' "$deps" | tr ',' '\n' | grep -q "^ *$owner\( \|$\)" ||
            fail "$p: Depends lacks $owner (for $so): $deps"
        printf '%s\n' "$rreq" | grep -qxF "$so()(64bit)" ||
            fail "$p: the rpm does not require $so()(64bit)"
    done
done
# Libraries the agent opens at first use (lib/dlib.h): no NEEDED entry.
deps=$(dpkg-deb -f "$OUT/vigil-agent_${V1}_$ARCH.deb" Depends)
rreq=$(rpm -qp --requires "$OUT/vigil-agent-$V1-1.$RARCH.rpm")
for d in libnftables1:libnftables.so.1 libarchive13:libarchive.so.13; do
    printf '%s\n' "$deps" | tr ',' '\n' | grep -q "^ *${d%%:*}\( \|$\)" ||
        fail "vigil-agent: Depends lacks ${d%%:*} (opened at first use): $deps"
    printf '%s\n' "$rreq" | grep -qxF "${d#*:}()(64bit)" ||
        fail "vigil-agent: the rpm does not require ${d#*:}()(64bit) (opened at first use)"
done
deps=$(dpkg-deb -f "$OUT/vigil-collector_${V1}_$ARCH.deb" Depends)
printf '%s\n' "$deps" | grep -q '\badduser\b' || fail "vigil-collector does not depend on adduser"
# Data the collector reads at run time, which dpkg-shlibdeps cannot see.
printf '%s\n' "$deps" | grep -q '\bdistro-info-data\b' ||
    fail "vigil-collector does not depend on distro-info-data (reports' end-of-life dates)"
rpm -qp --requires "$OUT/vigil-collector-$V1-1.$RARCH.rpm" | grep -qx 'shadow-utils' ||
    fail "vigil-collector.rpm does not require shadow-utils for its %pre"
pass "Depends (deb) and Requires (rpm) cover every library the programs link"

# The VIGIL_TEST_* fault injection is compiled only into test builds
# (Makefile TEST_HOOKS; make pkgbins builds with TEST_HOOKS=0): no file of
# a package, its programs included, may hold the string.
for v in "$V1" "$V2"; do
    for p in vigil-agent vigil-collector vigilctl; do
        rm -rf "$x" && mkdir -p "$x/deb" "$x/rpm"
        dpkg-deb -x "$OUT/${p}_${v}_$ARCH.deb" "$x/deb"
        (cd "$x/rpm" && rpm2cpio "$OUT/$p-$v-1.$RARCH.rpm" | cpio -idm --quiet) ||
            fail "$p $v: cannot unpack the rpm"
        [ -n "$(find "$x/deb" "$x/rpm" -type f -perm -u+x)" ] || fail "$p $v: no program unpacked"
        # (A pipeline's status is sed's: test the output, not the status.)
        hooks=$(grep -rlaF VIGIL_TEST_ "$x" | sed "s|^$x/||")
        [ -z "$hooks" ] || fail "$p $v: test hooks in the package: $hooks"
    done
done
pass "no VIGIL_TEST_ hook in any packaged file (debs and rpms, $V1 and $V2)"

# ---- 3. the cached root --------------------------------------------------------

# The mirror apt uses for $SUITE: deb822 .sources first, then one-line lists.
mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$SUITE" '
            function done() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && en != "no" && uri != "") {
                    print uri; found = 1; exit
                }
                types = suites = uri = en = ""
            }
            /^[ \t]*$/ { done(); next }
            /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^URIs:/ { uri = $2 }
            /^Enabled:/ { en = $2 }
            END { if (!found) done() }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v s="$SUITE" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++
            if ($(i + 1) == s) { print $i; exit } }'
}
MIRROR=$(mirror | head -1)
[ -n "$MIRROR" ] || fail "no deb source for $SUITE in /etc/apt/sources.list{,.d}"

# The packages' runtime dependencies are installed in the cached root (it
# has no network later); the cache is keyed on them and on the mirror.
INCLUDE=$(for d in $DEBS1 $DEBS2; do dpkg-deb -f "$d" Depends; done | tr ',' '\n' |
    sed -e 's/(.*//' -e 's/|.*//' -e 's/ //g' | grep . | grep -v '^vigil' | LC_ALL=C sort -u | paste -sd, -)
KEY=$(printf '%s %s %s\n' "$MIRROR" "$SUITE" "$INCLUDE" | sha256sum | cut -c1-12)
TARBALL=$CACHE/$SUITE-minbase-$KEY.tar
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -f "$TARBALL" ]; then
    say "building $TARBALL (debootstrap --variant=minbase $SUITE from $MIRROR; once)"
    start=$(date +%s)
    b=$SCRATCH/bootstrap
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$b" "$MIRROR" \
        >"$SCRATCH/debootstrap.log" 2>&1 ||
        { tail -30 "$SCRATCH/debootstrap.log" >&2; fail "debootstrap (log above)"; }
    unmount_under "$b"
    # Loopback names for the collector's certificate; no apt lists to carry.
    grep -qs '^127\.0\.0\.1[[:space:]].*localhost' "$b/etc/hosts" ||
        printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost\n' >>"$b/etc/hosts"
    rm -rf "$b/var/cache/apt/archives/"*.deb "$b/var/lib/apt/lists/"*_Packages
    tar -C "$b" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$b"
    for old in "$CACHE/$SUITE"-minbase-*.tar; do
        [ "$old" = "$TARBALL" ] || rm -f "$old"
    done
    pass "cached root $TARBALL built in $(($(date +%s) - start))s"
fi
flock -u 9

# newroot NAME: a fresh copy of the cached root; sets R.
newroot() {
    R=$SCRATCH/$1
    mkdir "$R"
    tar -C "$R" -xf "$TARBALL"
    mkdir -p "$R/tmp/pkgs"
}
# inroot CMD...: runs CMD in the root, output (both streams) to $SCRATCH/out.
inroot() { chroot "$R" "$@" >"$SCRATCH/out" 2>&1 </dev/null; }
show() { sed 's/^/        /' "$SCRATCH/out" >&2; }
must() { inroot "$@" || { show; fail "$*"; }; }
# mode PATH: "MODE UID:GID" of PATH in the root (numbers: the host's names differ).
mode() { stat -c '%a %u:%g' "$R$1"; }
# ids USER: "UID:GID" of USER in the root.
ids() { echo "$(chroot "$R" id -u "$1"):$(chroot "$R" id -g "$1")"; }
# A stand-in for a running systemd: /run/systemd/system, and a systemctl
# that logs what it is asked and says every unit is enabled and active.
fake_systemd() {
    mkdir -p "$R/run/systemd/system"
    cat >"$R/usr/bin/systemctl" <<'EOF'
#!/bin/sh
echo "$*" >>/var/log/systemctl.calls
case " $* " in *" is-enabled "*) echo enabled ;; esac
exit 0
EOF
    chmod 0755 "$R/usr/bin/systemctl"
    : >"$R/var/log/systemctl.calls"
}
calls() { cat "$R/var/log/systemctl.calls"; }
# state_sum DIR: every file under DIR in the root, its mode and content.
state_sum() { (cd "$R$1" && find . -type f -exec stat -c '%n %a %s' {} \; -exec sha256sum {} \; | sort); }
isolated_state() {
    cat <<'EOF'
{
  "backend": "nft",
  "pending_backend": "nft",
  "isolated": {
    "command_id": "0b9e3c1e-4f6a-4c59-9a43-3f7f5b7d2a10",
    "since_ms": 1795000000000,
    "collectors": [
      {
        "addr": "127.0.0.1:7443",
        "name": "localhost"
      }
    ],
    "allow": [],
    "dns": [],
    "dhcp": []
  },
  "pending": null
}
EOF
}

# ---- 4. deb --------------------------------------------------------------------

newroot deb
# shellcheck disable=SC2086
cp $DEBS1 $DEBS2 "$R/tmp/pkgs/"
cd "$R/tmp/pkgs"
D1=$(for d in $DEBS1; do printf '/tmp/pkgs/%s ' "$(basename "$d")"; done)
D2=$(for d in $DEBS2; do printf '/tmp/pkgs/%s ' "$(basename "$d")"; done)
cd "$ROOT"
[ ! -e "$R/run/systemd/system" ] || fail "the cached root says systemd runs"

# shellcheck disable=SC2086
must dpkg -i $D1
grep -q 'vigil-agent: not started: /etc/vigil/agent.conf is not complete' "$SCRATCH/out" ||
    { show; fail "deb install: no word that the agent waits for its configuration"; }
grep -q 'vigil-collector: not started' "$SCRATCH/out" ||
    { show; fail "deb install: no word that the collector waits for its certificates"; }
for p in vigil-agent vigil-collector vigilctl; do
    must dpkg-query -W -f '${db:Status-Abbrev}${Version}' "$p"
    [ "$(cat "$SCRATCH/out")" = "ii $V1" ] || fail "deb: $p is '$(cat "$SCRATCH/out")', not 'ii $V1'"
done
pass "deb: $V1 installs where systemd does not run; both services wait for their configuration"

for f in /usr/sbin/vigil-agent /usr/sbin/vigil-collector /usr/bin/vigilctl; do
    [ "$(mode $f)" = "755 0:0" ] || fail "deb: $f is $(mode $f)"
done
for f in /etc/vigil/agent.conf /etc/vigil/collector.conf /lib/systemd/system/vigil-agent.service \
    /lib/systemd/system/vigil-collector.service; do
    [ "$(mode $f)" = "644 0:0" ] || fail "deb: $f is $(mode $f)"
done
for d in /etc/vigil/agent.conf.d /etc/vigil/collector.conf.d; do
    [ -d "$R$d" ] && [ "$(mode $d)" = "755 0:0" ] || fail "deb: no drop-in directory $d"
done
for m in man8/vigil-agent.8 man8/vigil-collector.8 man1/vigilctl.1; do
    gzip -t "$R/usr/share/man/$m.gz" || fail "deb: /usr/share/man/$m.gz"
done
for p in vigil-agent vigil-collector vigilctl; do
    grep -q '^License: Apache-2.0' "$R/usr/share/doc/$p/copyright" || fail "deb: $p copyright"
    zcat "$R/usr/share/doc/$p/changelog.gz" | head -1 | grep -q "^vigil ($V1)" || fail "deb: $p changelog"
done
must vigil-agent --version
[ "$(cat "$SCRATCH/out")" = "vigil-agent $V1" ] || fail "deb: vigil-agent --version: $(cat "$SCRATCH/out")"
must vigilctl --version
# Bash completion: what the packaged vigilctl prints, and it completes in bash.
BC=/usr/share/bash-completion/completions/vigilctl
[ "$(mode $BC)" = "644 0:0" ] || fail "deb: $BC is $(mode $BC)"
must vigilctl completion bash
cmp -s "$SCRATCH/out" "$R$BC" || fail "deb: $BC is not what 'vigilctl completion bash' prints"
must bash -c ". $BC; COMP_WORDS=(vigilctl is); COMP_CWORD=1; _vigilctl; echo \"\${COMPREPLY[*]}\""
[ "$(cat "$SCRATCH/out")" = isolate ] || { show; fail "deb: $BC does not complete 'vigilctl is' to isolate"; }
[ "$(mode /var/lib/vigil)" = "711 0:0" ] || fail "deb: /var/lib/vigil is $(mode /var/lib/vigil)"
[ "$(mode /var/lib/vigil-collector)" = "700 $(ids vigil-collector)" ] ||
    fail "deb: /var/lib/vigil-collector is $(mode /var/lib/vigil-collector)"
must getent passwd vigil-collector
uid=$(cut -d: -f3 "$SCRATCH/out")
[ "$uid" -lt 1000 ] || fail "deb: vigil-collector is not a system user (uid $uid)"
cut -d: -f7 "$SCRATCH/out" | grep -q nologin || fail "deb: vigil-collector has a login shell"
must dpkg-query -W -f '${Conffiles}' vigil-agent
grep -q '^ /etc/vigil/agent.conf [0-9a-f]\{32\}$' "$SCRATCH/out" || { show; fail "deb: agent.conf is not a conffile"; }
must dpkg-query -W -f '${Conffiles}' vigil-collector
grep -q '^ /etc/vigil/collector.conf [0-9a-f]\{32\}$' "$SCRATCH/out" || { show; fail "deb: collector.conf is not a conffile"; }
for u in vigil-agent vigil-collector; do
    [ -L "$R/etc/systemd/system/multi-user.target.wants/$u.service" ] || fail "deb: $u.service not enabled"
done
pass "deb: files, modes, bash completion, system user, conffiles, units enabled"

# Idempotent: the same version again, and configure run twice more.
before=$(cd "$R" && stat -c '%n %a %U' var/lib/vigil var/lib/vigil-collector etc/vigil/*)
# shellcheck disable=SC2086
must dpkg -i $D1
must /var/lib/dpkg/info/vigil-agent.postinst configure "$V1"
must /var/lib/dpkg/info/vigil-collector.postinst configure "$V1"
after=$(cd "$R" && stat -c '%n %a %U' var/lib/vigil var/lib/vigil-collector etc/vigil/*)
[ "$before" = "$after" ] || fail "deb: reinstalling changed: $before -> $after"
[ "$(grep -c '^vigil-collector:' "$R/etc/passwd")" = 1 ] || fail "deb: vigil-collector made twice"
pass "deb: reinstalling and configuring again change nothing"

# The unattended install of docs/OPERATIONS.md, for real: the collector set up as the
# docs/OPERATIONS.md says (running as its user, as the unit would), a token, and on
# the agent's side only the file drops and the two addresses.
mkdir -p "$R/proc"
mount -t proc proc "$R/proc"
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(port)
EPORT=$(port)
PKI=/etc/vigil-collector/pki
must install -d -m 0700 -o vigil-collector -g vigil-collector $PKI
must vigilctl pki init --dir $PKI
must vigilctl pki issue --dir $PKI --role collector --name collector --san localhost
must vigilctl pki issue --dir $PKI --role admin --name ops
mkdir -p "$R/root/ops" && mv "$R$PKI/ops.crt" "$R$PKI/ops.key" "$R/root/ops/"
must sh -c "chown vigil-collector: $PKI/*"
sed -i -e "s/^listen = 0.0.0.0:7443$/listen = 127.0.0.1:$PORT/" \
    -e "s/^#listen = 0.0.0.0:7444$/listen = 127.0.0.1:$EPORT/" \
    -e "s|^#ca_key = $PKI/ca.key$|ca_key = $PKI/ca.key|" "$R/etc/vigil/collector.conf"
grep -q "^listen = 127.0.0.1:$EPORT" "$R/etc/vigil/collector.conf" || fail "collector.conf: no [enroll] listen to set"
CUID=$(chroot "$R" id -u vigil-collector)
CGID=$(chroot "$R" id -g vigil-collector)
chroot --userspec="$CUID:$CGID" --groups="$CGID" "$R" /usr/sbin/vigil-collector -c /etc/vigil/collector.conf \
    >"$SCRATCH/collector.log" 2>&1 </dev/null &
CPID=$!
PIDS="$PIDS $CPID"
n=0
until grep -q "enrollment endpoint on" "$SCRATCH/collector.log"; do
    kill -0 $CPID 2>/dev/null || { cat "$SCRATCH/collector.log" >&2; fail "the packaged collector did not start"; }
    n=$((n + 1)); [ $n -lt 100 ] || { cat "$SCRATCH/collector.log" >&2; fail "collector: no enrollment endpoint"; }
    sleep 0.1
done
# By address (localhost may be ::1 first): the certificate's name given apart.
OPS="env VIGIL_COLLECTOR=127.0.0.1:$PORT VIGIL_SERVER_NAME=localhost VIGIL_CA=$PKI/ca.crt VIGIL_CERT=/root/ops/ops.crt VIGIL_KEY=/root/ops/ops.key"
# shellcheck disable=SC2086
TOKEN=$(chroot "$R" $OPS vigilctl enroll-token create --label packages --uses 1 2>"$SCRATCH/out" </dev/null) ||
    { show; fail "vigilctl enroll-token create"; }
case $TOKEN in vge2-*) ;; *) show; fail "vigilctl enroll-token create printed '$TOKEN'" ;; esac
# What configuration management drops on the host:
(umask 077 && echo "$TOKEN" >"$R/etc/vigil/enroll.token")
cp "$R$PKI/ca.crt" "$R/etc/vigil/ca.crt"
sed -i -e "s/^#address = collector1.example.org:7443$/address = 127.0.0.1:$PORT/" \
    -e "s/^#address = collector1.example.org:7444$/address = 127.0.0.1:$EPORT/" \
    -e "s/^#server_name = collector1.example.org$/server_name = localhost/" "$R/etc/vigil/agent.conf"
grep -q '^server_name = localhost$' "$R/etc/vigil/agent.conf" || fail "agent.conf: no [tls] server_name to set"
must vigil-agent -c /etc/vigil/agent.conf --check-config
# under PATH DIR...: PATH is one of the DIRs or below one.
under() {
    v=$1; shift
    for d in "$@"; do case $v in "$d" | "$d"/*) return 0 ;; esac; done
    return 1
}
# What each daemon writes must be where its hardened unit lets it write
# (ProtectSystem=strict): ReadWritePaths= (a "-" prefix: may be missing),
# or /var/lib/StateDirectory=.  The enrollment token file is deleted.
rw=$(sed -n 's/^ReadWritePaths=//p' "$R/lib/systemd/system/vigil-agent.service" |
    sed -e 's/^-//' -e 's/ -/ /g')
must vigil-agent -c /etc/vigil/agent.conf --dump-config
for k in state_dir cert key token_file; do
    v=$(sed -n "s/^$k = //p" "$SCRATCH/out")
    [ "$k" = token_file ] && v=$(dirname "$v")
    # shellcheck disable=SC2086
    under "$v" $rw || fail "agent.conf: $k = $v is not writable under the unit (ReadWritePaths=$rw)"
done
sd=/var/lib/$(sed -n 's/^StateDirectory=//p' "$R/lib/systemd/system/vigil-collector.service")
must vigil-collector -c /etc/vigil/collector.conf --dump-config
v=$(sed -n 's/^db = //p' "$SCRATCH/out")
under "$v" "$sd" || fail "collector.conf: db = $v is not writable under the unit (StateDirectory $sd)"
chroot "$R" /usr/sbin/vigil-agent -c /etc/vigil/agent.conf >"$SCRATCH/agent.log" 2>&1 </dev/null &
APID=$!
PIDS="$PIDS $APID"
n=0
until grep -q "connected to collector" "$SCRATCH/agent.log"; do
    kill -0 $APID 2>/dev/null || { cat "$SCRATCH/agent.log" >&2; fail "the agent with the packaged configuration stopped"; }
    n=$((n + 1)); [ $n -lt 300 ] || { cat "$SCRATCH/agent.log" >&2; fail "the agent did not enroll and connect in 30 s"; }
    sleep 0.1
done
[ "$(mode /var/lib/vigil/agent.key)" = "600 0:0" ] || fail "agent.key is $(mode /var/lib/vigil/agent.key)"
[ -s "$R/var/lib/vigil/agent.crt" ] || fail "no /var/lib/vigil/agent.crt"
[ ! -e "$R/etc/vigil/enroll.token" ] || fail "the agent did not delete /etc/vigil/enroll.token after enrolling"
# shellcheck disable=SC2086
n=0
until inroot $OPS vigilctl --json hosts && grep -q '"connected": *true' "$SCRATCH/out"; do
    n=$((n + 1)); [ $n -lt 100 ] || { show; fail "vigilctl hosts does not show the agent connected"; }
    sleep 0.1
done
kill $APID
wait $APID || true
kill $CPID
wait $CPID || true
PIDS=
umount "$R/proc"
pass "deb: the unattended flow: token and CA dropped, addresses set; the agent enrolled (key 0600 in /var/lib/vigil, which its unit may write), deleted the token file and streams to the packaged collector"

# From here systemd "runs".  Conffile edits, state, then the upgrade.
fake_systemd
echo "; edited by the test" >>"$R/etc/vigil/agent.conf"
echo "; edited by the test" >>"$R/etc/vigil/collector.conf"
isolated_state >"$R/var/lib/vigil/isolation"
chmod 0600 "$R/var/lib/vigil/isolation"
spool=$(find "$R/var/lib/vigil" -type f | grep -c . || true)
[ "$spool" -ge 4 ] || fail "deb: the agent left only $spool files in /var/lib/vigil"
sum=$(state_sum /var/lib/vigil)
csum=$(state_sum /var/lib/vigil-collector)
# shellcheck disable=SC2086
must dpkg -i $D2
for p in vigil-agent vigil-collector vigilctl; do
    must dpkg-query -W -f '${db:Status-Abbrev}${Version}' "$p"
    [ "$(cat "$SCRATCH/out")" = "ii $V2" ] || fail "deb upgrade: $p is '$(cat "$SCRATCH/out")'"
done
must vigil-agent --version
[ "$(cat "$SCRATCH/out")" = "vigil-agent $V2" ] || fail "deb upgrade: $(cat "$SCRATCH/out")"
grep -q '^; edited by the test$' "$R/etc/vigil/agent.conf" || fail "deb upgrade: the agent.conf edit was lost"
grep -q "^address = 127.0.0.1:$PORT$" "$R/etc/vigil/agent.conf" || fail "deb upgrade: the agent.conf address was lost"
grep -q '^; edited by the test$' "$R/etc/vigil/collector.conf" || fail "deb upgrade: the collector.conf edit was lost"
[ ! -e "$R/etc/vigil/agent.conf.dpkg-new" ] && [ ! -e "$R/etc/vigil/agent.conf.dpkg-dist" ] ||
    fail "deb upgrade: a .dpkg-new/.dpkg-dist was left"
[ "$(state_sum /var/lib/vigil)" = "$sum" ] || fail "deb upgrade: /var/lib/vigil changed (spool, isolation, key)"
[ "$(state_sum /var/lib/vigil-collector)" = "$csum" ] || fail "deb upgrade: /var/lib/vigil-collector changed"
calls | grep -q 'restart vigil-agent.service' || { calls >&2; fail "deb upgrade: the agent was not restarted"; }
calls | grep -q 'restart vigil-collector.service' || { calls >&2; fail "deb upgrade: the collector was not restarted"; }
calls | grep -q ' stop ' && { calls >&2; fail "deb upgrade: a service was stopped"; }
pass "deb: upgrade $V1 -> $V2 keeps conffile edits and the state directories byte for byte, restarts both services"

# Removal on an isolated host: refused, saying how to release it.
: >"$R/var/log/systemctl.calls"
inroot dpkg -r vigil-agent && { show; fail "deb: removing the agent from an isolated host was not refused"; }
for want in "refusing to remove the agent: this host is network-isolated" \
    "isolate command 0b9e3c1e-4f6a-4c59-9a43-3f7f5b7d2a10" "vigilctl release HOST --reason" \
    "vigil-agent release --token FILE" "VIGIL_FORCE_REMOVE=1"; do
    grep -qF "$want" "$SCRATCH/out" || { show; fail "deb: the refusal does not say: $want"; }
done
must dpkg-query -W -f '${db:Status-Status}' vigil-agent
[ "$(cat "$SCRATCH/out")" = installed ] || fail "deb: after the refusal the agent is '$(cat "$SCRATCH/out")'"
[ -x "$R/usr/sbin/vigil-agent" ] || fail "deb: after the refusal the agent binary is gone"
calls | grep -q 'stop vigil-agent' && fail "deb: the refused removal stopped the agent"
# The same for an isolate under way, and for a state file the agent could not have written.
cp "$R/var/lib/vigil/isolation" "$SCRATCH/isolation.saved"
sed -e 's/"isolated": {/"isolated": null, "was": {/' -e 's/"pending": null/"pending": {"command_id": "x"}/' \
    "$SCRATCH/isolation.saved" >"$R/var/lib/vigil/isolation"
inroot /var/lib/dpkg/info/vigil-agent.prerm remove && fail "deb: prerm let a pending isolate go"
grep -q "an isolate command is being applied" "$SCRATCH/out" || { show; fail "deb: pending: wrong message"; }
head -c 40 "$SCRATCH/isolation.saved" >"$R/var/lib/vigil/isolation"
inroot /var/lib/dpkg/info/vigil-agent.prerm remove && fail "deb: prerm let a damaged state file go"
grep -q "cannot be read as the agent writes it" "$SCRATCH/out" || { show; fail "deb: damaged: wrong message"; }
cp "$SCRATCH/isolation.saved" "$R/var/lib/vigil/isolation"
pass "deb: removing the agent from an isolated host (or one being isolated) is refused, saying how to release it"

VIGIL_FORCE_REMOVE=1 chroot "$R" dpkg -r vigil-agent >"$SCRATCH/out" 2>&1 </dev/null ||
    { show; fail "deb: VIGIL_FORCE_REMOVE=1 dpkg -r vigil-agent"; }
grep -q "THE HOST STAYS ISOLATED" "$SCRATCH/out" || { show; fail "deb: the forced removal does not say the host stays isolated"; }
must dpkg-query -W -f '${db:Status-Abbrev}' vigil-agent
[ "$(cat "$SCRATCH/out")" = "rc " ] || fail "deb: after removal the agent is '$(cat "$SCRATCH/out")'"
[ ! -e "$R/usr/sbin/vigil-agent" ] || fail "deb: removed, but the binary is there"
[ -f "$R/etc/vigil/agent.conf" ] && [ -f "$R/var/lib/vigil/isolation" ] || fail "deb: removal took the configuration or state"
calls | grep -q 'stop vigil-agent.service' || { calls >&2; fail "deb: removal did not stop the agent"; }
pass "deb: VIGIL_FORCE_REMOVE=1 removes it, saying the host stays isolated; configuration and state kept"

must dpkg --purge vigil-agent vigil-collector vigilctl
for f in /var/lib/vigil /var/lib/vigil-collector /etc/vigil/agent.conf /etc/vigil/collector.conf \
    /etc/systemd/system/multi-user.target.wants/vigil-agent.service; do
    [ ! -e "$R$f" ] && [ ! -L "$R$f" ] || fail "deb: purge left $f"
done
# dpkg forgets a purged package, or keeps it as not-installed.
if inroot dpkg-query -W -f '${db:Status-Abbrev}' vigil-agent; then
    [ "$(cat "$SCRATCH/out")" = "un " ] || [ "$(cat "$SCRATCH/out")" = "pn " ] ||
        fail "deb: after purge the agent is '$(cat "$SCRATCH/out")'"
fi
pass "deb: purge removes the state directories, the configuration and the enablement"

# A host that is not isolated: plain install, remove, purge.
must dpkg -i "/tmp/pkgs/vigil-agent_${V2}_$ARCH.deb"
must dpkg -r vigil-agent
must dpkg --purge vigil-agent
[ ! -e "$R/var/lib/vigil" ] || fail "deb: purge left /var/lib/vigil"
pass "deb: on a host that is not isolated, remove and purge just work"

# ---- 5. rpm ------------------------------------------------------------------

newroot rpm
# shellcheck disable=SC2086
cp $RPMS1 $RPMS2 "$R/tmp/pkgs/"
# rpm runs here, on the Debian host, with the scratch root as --root: the
# scriptlets run chrooted there (its /bin/sh, getent, useradd).  --nodeps:
# a Debian root provides none of the RHEL packages the rpms require
# (libraries by soname, shadow-utils); section 2 checked those Requires.
RPM="rpm --root $R --dbpath /var/lib/rpm"
$RPM --initdb
[ -d "$R/var/lib/rpm" ] || fail "rpm: --dbpath is not inside --root"
rpmdo() { "$@" >"$SCRATCH/out" 2>&1 </dev/null; }
R1=$(for r in $RPMS1; do printf '%s/tmp/pkgs/%s ' "$R" "$(basename "$r")"; done)
R2=$(for r in $RPMS2; do printf '%s/tmp/pkgs/%s ' "$R" "$(basename "$r")"; done)

# shellcheck disable=SC2086
rpmdo $RPM -i --nodeps $R1 || { show; fail "rpm -i $V1"; }
grep -q 'vigil-agent: not started' "$SCRATCH/out" || { show; fail "rpm install: no word that the agent waits for its configuration"; }
for p in vigil-agent vigil-collector vigilctl; do
    [ "$($RPM -q --qf '%{VERSION}-%{RELEASE}' "$p")" = "$V1-1" ] || fail "rpm: $p not at $V1-1"
done
[ "$(mode /usr/lib/systemd/system/vigil-agent.service)" = "644 0:0" ] || fail "rpm: agent unit"
[ "$(mode /usr/lib/systemd/system/vigil-collector.service)" = "644 0:0" ] || fail "rpm: collector unit"
[ "$(mode /usr/sbin/vigil-agent)" = "755 0:0" ] || fail "rpm: agent binary"
[ "$(mode /usr/bin/vigilctl)" = "755 0:0" ] || fail "rpm: vigilctl binary"
[ "$(mode /var/lib/vigil)" = "711 0:0" ] || fail "rpm: /var/lib/vigil is $(mode /var/lib/vigil)"
for d in /etc/vigil/agent.conf.d /etc/vigil/collector.conf.d; do
    [ "$(mode $d)" = "755 0:0" ] || fail "rpm: no drop-in directory $d"
done
[ "$(mode /var/lib/vigil-collector)" = "700 $(ids vigil-collector)" ] ||
    fail "rpm: /var/lib/vigil-collector is $(mode /var/lib/vigil-collector)"
gzip -t "$R/usr/share/man/man8/vigil-agent.8.gz" || fail "rpm: man page"
[ "$(mode /usr/share/bash-completion/completions/vigilctl)" = "644 0:0" ] ||
    fail "rpm: no bash completion for vigilctl"
grep -q '^complete -F _vigilctl vigilctl$' "$R/usr/share/bash-completion/completions/vigilctl" ||
    fail "rpm: the bash completion does not register _vigilctl"
for c in /etc/vigil/agent.conf:vigil-agent /etc/vigil/collector.conf:vigil-collector; do
    $RPM -q --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "${c#*:}" | grep -qx "${c%%:*} cn" ||
        fail "rpm: ${c%%:*} is not %config(noreplace)"
done
must vigil-agent --version
[ "$(cat "$SCRATCH/out")" = "vigil-agent $V1" ] || fail "rpm: vigil-agent --version: $(cat "$SCRATCH/out")"
pass "rpm: $V1 installs (scriptlets chrooted, no systemd); files, modes, user, %config(noreplace)"

fake_systemd
sed -i "s/^#address = collector1.example.org:7443$/address = localhost:7443/" "$R/etc/vigil/agent.conf"
echo "; edited by the test" >>"$R/etc/vigil/agent.conf"
isolated_state >"$R/var/lib/vigil/isolation"
echo spooled >"$R/var/lib/vigil/spool.test"
sum=$(state_sum /var/lib/vigil)
# shellcheck disable=SC2086
rpmdo $RPM -U --nodeps $R2 || { show; fail "rpm -U $V2"; }
for p in vigil-agent vigil-collector vigilctl; do
    [ "$($RPM -q --qf '%{VERSION}' "$p")" = "$V2" ] || fail "rpm upgrade: $p not at $V2"
done
grep -q '^; edited by the test$' "$R/etc/vigil/agent.conf" || fail "rpm upgrade: the agent.conf edit was lost"
[ ! -e "$R/etc/vigil/agent.conf.rpmnew" ] || fail "rpm upgrade: agent.conf.rpmnew (the packaged file did not change)"
[ "$(state_sum /var/lib/vigil)" = "$sum" ] || fail "rpm upgrade: /var/lib/vigil changed"
calls | grep -q 'try-restart vigil-agent.service' || { calls >&2; fail "rpm upgrade: the agent was not restarted"; }
calls | grep -q 'disable' && { calls >&2; fail "rpm upgrade: a service was disabled"; }
pass "rpm: upgrade $V1 -> $V2 (-U) keeps the %config(noreplace) edit and /var/lib/vigil, restarts the agent"

: >"$R/var/log/systemctl.calls"
rpmdo $RPM -e vigil-agent && { show; fail "rpm: erasing the agent from an isolated host was not refused"; }
grep -q "refusing to remove the agent: this host is network-isolated" "$SCRATCH/out" &&
    grep -q "vigilctl release HOST" "$SCRATCH/out" || { show; fail "rpm: the refusal does not say how to release"; }
$RPM -q vigil-agent >/dev/null || fail "rpm: the refused erase removed the package"
[ -x "$R/usr/sbin/vigil-agent" ] || fail "rpm: the refused erase removed the binary"
rpmdo env VIGIL_FORCE_REMOVE=1 $RPM -e vigil-agent || { show; fail "rpm: VIGIL_FORCE_REMOVE=1 rpm -e"; }
grep -q "THE HOST STAYS ISOLATED" "$SCRATCH/out" || { show; fail "rpm: the forced erase does not say the host stays isolated"; }
$RPM -q vigil-agent >/dev/null && fail "rpm: vigil-agent still installed"
[ -f "$R/etc/vigil/agent.conf.rpmsave" ] || fail "rpm: the edited agent.conf was not kept as .rpmsave"
[ -f "$R/var/lib/vigil/isolation" ] || fail "rpm: erase took the isolation state"
calls | grep -q 'disable --now vigil-agent.service' || { calls >&2; fail "rpm: erase did not stop the agent"; }
pass "rpm: erase refused on an isolated host; VIGIL_FORCE_REMOVE=1 erases, saying the host stays isolated"

rpmdo $RPM -e vigil-collector vigilctl || { show; fail "rpm -e vigil-collector vigilctl"; }
[ ! -e "$R/usr/sbin/vigil-collector" ] && [ ! -e "$R/usr/bin/vigilctl" ] || fail "rpm: erase left binaries"
rpmdo $RPM -i --nodeps "$R/tmp/pkgs/vigil-agent-$V2-1.$RARCH.rpm" || { show; fail "rpm -i agent again"; }
rm "$R/var/lib/vigil/isolation"
rpmdo $RPM -e vigil-agent || { show; fail "rpm: erasing the agent from a host that is not isolated"; }
[ -z "$($RPM -qa)" ] || fail "rpm: left installed: $($RPM -qa)"
pass "rpm: erase of the collector, vigilctl, and of an agent that is not isolated"

echo "packages: $passed passed, 0 failed"
