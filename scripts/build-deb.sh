#!/bin/sh
# Builds the Debian packages vigil-agent, vigil-collector and vigilctl from
# programs already built at VERSION (make deb does both):
#
#   scripts/build-deb.sh VERSION BUILD OUT
#
# BUILD holds vigil-agent, vigil-collector and vigilctl; the packages go to
# OUT/NAME_VERSION_ARCH.deb, and the trees they are made of to
# BUILD/pkgwork/deb/debian/NAME/.  No debhelper: the trees are laid out
# here, Depends come from dpkg-shlibdeps, the control files from
# dpkg-gencontrol, and dpkg-deb builds them owned by root (no fakeroot).
set -eu

[ $# -eq 3 ] || { echo "usage: $0 VERSION BUILD OUT" >&2; exit 2; }
. "$(dirname "$0")/pkg-common.sh"
VERSION=$1 BUILD=$2 OUT=$3
for t in dpkg-shlibdeps dpkg-gencontrol dpkg-deb; do
    command -v $t >/dev/null || pkg_die "$t is missing (package dpkg-dev; scripts/install-deps.sh installs it)"
done
mkdir -p "$OUT" "$BUILD/pkgwork"
OUT=$(cd "$OUT" && pwd)
pkg_stage "$VERSION" "$BUILD" "$BUILD/pkgwork"
ARCH=$(dpkg --print-architecture)
P=$ROOT/packaging

# dpkg-shlibdeps and dpkg-gencontrol work in a source tree's layout.
WORK=$(cd "$BUILD/pkgwork" && pwd)/deb
rm -rf "$WORK"
mkdir -p "$WORK/debian"
cp "$P/deb/control" "$WORK/debian/control"
cp "$STAGE/changelog" "$WORK/debian/changelog"

# inst MODE SRC DEST: SRC to the package tree at DEST (absolute).
inst() {
    install -D -m "$1" "$2" "$T$3"
}

# maint PKG: its maintainer scripts, with the shared fragments inlined.
maint() {
    for s in preinst postinst prerm postrm; do
        [ -f "$P/deb/$1.$s" ] || continue
        awk -v dir="$P/common" '
            /^#INCLUDE / { f = dir "/" $2; while ((getline l < f) > 0) print l; close(f); next }
            { print }' "$P/deb/$1.$s" >"$T/DEBIAN/$s"
        chmod 0755 "$T/DEBIAN/$s"
    done
}

# common PKG: what every package has (policy 12.5, 12.7), and its lintian
# overrides.
common() {
    inst 0644 "$P/deb/copyright" "/usr/share/doc/$1/copyright"
    gzip -9n <"$STAGE/changelog" >"$T/usr/share/doc/$1/changelog.gz"
    if [ -f "$P/deb/$1.lintian-overrides" ]; then
        inst 0644 "$P/deb/$1.lintian-overrides" "/usr/share/lintian/overrides/$1"
    fi
}

# finish PKG: dependencies, control file, checksums, the .deb.
finish() {
    mkdir -p "$T/DEBIAN"
    maint "$1"
    (
        cd "$WORK"
        echo "misc:Depends=" >"debian/$1.substvars"
        # Every executable in the package (our paths: no spaces), against
        # the libraries installed here.
        # shellcheck disable=SC2046
        dpkg-shlibdeps -T"debian/$1.substvars" $(find "debian/$1" -type f -perm -0100 ! -path "*/DEBIAN/*")
        dpkg-gencontrol -p"$1" -ldebian/changelog -cdebian/control -T"debian/$1.substvars" \
            -P"debian/$1" -fdebian/files -DMaintainer="$PKG_MAINTAINER"
    )
    (cd "$T" && find . -type f ! -path './DEBIAN/*' | LC_ALL=C sort | sed 's|^\./||' |
        xargs md5sum >DEBIAN/md5sums)
    chmod 0644 "$T/DEBIAN/md5sums" "$T/DEBIAN/control"
    [ ! -f "$T/DEBIAN/conffiles" ] || chmod 0644 "$T/DEBIAN/conffiles"
    dpkg-deb --root-owner-group -Zxz --build "$T" "$OUT/${1}_${VERSION}_${ARCH}.deb" >/dev/null
    echo "  DEB     $OUT/${1}_${VERSION}_${ARCH}.deb"
}

# ---- vigil-agent -----------------------------------------------------------
T=$WORK/debian/vigil-agent
inst 0755 "$STAGE/bin/vigil-agent" /usr/sbin/vigil-agent
inst 0644 "$P/conf/agent.conf" /etc/vigil/agent.conf
install -d -m 0755 "$T/etc/vigil/agent.conf.d"
inst 0644 "$P/systemd/vigil-agent.service" /lib/systemd/system/vigil-agent.service
inst 0644 "$P/systemd/vigil-isolation.service" /lib/systemd/system/vigil-isolation.service
inst 0644 "$STAGE/man/vigil-agent.8.gz" /usr/share/man/man8/vigil-agent.8.gz
inst 0644 "$STAGE/man/vigil-agent.conf.5.gz" /usr/share/man/man5/vigil-agent.conf.5.gz
inst 0644 "$P/agent.conf.example" /usr/share/doc/vigil-agent/examples/agent.conf.example
common vigil-agent
mkdir -p "$T/DEBIAN"
echo /etc/vigil/agent.conf >"$T/DEBIAN/conffiles"
finish vigil-agent

# ---- vigil-collector -------------------------------------------------------
T=$WORK/debian/vigil-collector
inst 0755 "$STAGE/bin/vigil-collector" /usr/sbin/vigil-collector
inst 0644 "$P/conf/collector.conf" /etc/vigil/collector.conf
install -d -m 0755 "$T/etc/vigil/collector.conf.d"
inst 0644 "$P/systemd/vigil-collector.service" /lib/systemd/system/vigil-collector.service
inst 0644 "$STAGE/man/vigil-collector.8.gz" /usr/share/man/man8/vigil-collector.8.gz
inst 0644 "$STAGE/man/vigil-collector.conf.5.gz" /usr/share/man/man5/vigil-collector.conf.5.gz
inst 0644 "$P/collector.conf.example" /usr/share/doc/vigil-collector/examples/collector.conf.example
common vigil-collector
mkdir -p "$T/DEBIAN"
echo /etc/vigil/collector.conf >"$T/DEBIAN/conffiles"
finish vigil-collector

# ---- vigilctl --------------------------------------------------------------
T=$WORK/debian/vigilctl
inst 0755 "$STAGE/bin/vigilctl" /usr/bin/vigilctl
inst 0644 "$STAGE/man/vigilctl.1.gz" /usr/share/man/man1/vigilctl.1.gz
inst 0644 "$STAGE/completion/vigilctl" /usr/share/bash-completion/completions/vigilctl
common vigilctl
finish vigilctl
