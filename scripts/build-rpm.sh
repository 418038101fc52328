#!/bin/sh
# Builds the rpms vigil-agent, vigil-collector and vigilctl from programs
# already built at VERSION (make rpm does both):
#
#   scripts/build-rpm.sh VERSION BUILD OUT
#
# BUILD holds vigil-agent, vigil-collector and vigilctl; the packages go to
# OUT/NAME-VERSION-1.ARCH.rpm.  rpmbuild works in BUILD/pkgwork/rpm/ from
# packaging/rpm/vigil.spec, with the shared scriptlet fragments and the
# changelog (from packaging/deb/changelog) put in first.  The stage is
# stripped and its man pages compressed already, so rpm's brp scripts are
# off (Debian's brp-compress wants bash anyway).
set -eu

[ $# -eq 3 ] || { echo "usage: $0 VERSION BUILD OUT" >&2; exit 2; }
. "$(dirname "$0")/pkg-common.sh"
VERSION=$1 BUILD=$2 OUT=$3
command -v rpmbuild >/dev/null || pkg_die "rpmbuild is missing (package rpm; scripts/install-deps.sh installs it)"
mkdir -p "$OUT" "$BUILD/pkgwork"
OUT=$(cd "$OUT" && pwd)
pkg_stage "$VERSION" "$BUILD" "$BUILD/pkgwork"
STAGE=$(cd "$STAGE" && pwd)

TOP=$(cd "$BUILD/pkgwork" && pwd)/rpm
rm -rf "$TOP"
mkdir -p "$TOP/SPECS"
pkg_rpm_changelog <"$STAGE/changelog" >"$TOP/changelog"
# Percent signs doubled: rpm expands macros in scriptlets.
awk -v dir="$ROOT/packaging/common" -v cl="$TOP/changelog" '
    /^#INCLUDE / {
        f = dir "/" $2
        while ((getline l < f) > 0) { gsub(/%/, "%%", l); print l }
        close(f); next
    }
    /^#CHANGELOG$/ { while ((getline l < cl) > 0) print l; close(cl); next }
    { print }' "$ROOT/packaging/rpm/vigil.spec" >"$TOP/SPECS/vigil.spec"

rpmbuild -bb --quiet \
    --define "_topdir $TOP" \
    --define "_rpmdir $OUT" \
    --define '_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm' \
    --define '__os_install_post %{nil}' \
    --define "packager $PKG_MAINTAINER" \
    --define "vg_version $VERSION" \
    --define "vg_stage $STAGE" \
    --define "vg_src $ROOT" \
    --define 'use_source_date_epoch_as_buildtime 1' \
    --define 'clamp_mtime_to_source_date_epoch 1' \
    "$TOP/SPECS/vigil.spec" >"$TOP/rpmbuild.log" 2>&1 ||
    { cat "$TOP/rpmbuild.log" >&2; pkg_die "rpmbuild failed (log: $TOP/rpmbuild.log)"; }
ARCH=$(rpm --eval '%{_arch}')
for p in vigil-agent vigil-collector vigilctl; do
    f=$OUT/$p-$VERSION-1.$ARCH.rpm
    [ -f "$f" ] || pkg_die "rpmbuild made no $f (log: $TOP/rpmbuild.log)"
    echo "  RPM     $f"
done
