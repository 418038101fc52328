#!/bin/sh
# Install the Debian 12 packages needed to build and test Vigil.
# Idempotent: does nothing (and prints nothing) when everything is present.
# Usage: scripts/install-deps.sh [--html] [--bench] [--lint] [--check]
#   --html   also what `make test-html` needs: headless Chromium and a font
#            for it to render text with
#   --bench  also what `make bench` compares the agent with: auditd (a
#            benchmark baseline only, never a dependency of the agent; the
#            service the package would start is stopped and disabled: the
#            benchmark starts and stops auditd itself)
#   --lint   also what `make lint` runs: cppcheck and clang-tidy (static
#            analysis of the sources; nothing is built with them)
#   --check  exit 1 if anything is missing, install nothing
set -eu

html=0 bench=0 lint=0 check=0
for arg in "$@"; do
    case $arg in
    --html) html=1 ;;
    --bench) bench=1 ;;
    --lint) lint=1 ;;
    --check) check=1 ;;
    *)
        echo "usage: $0 [--html] [--bench] [--lint] [--check]" >&2
        exit 2
        ;;
    esac
done

PKGS="
build-essential
pkg-config
clang
llvm
libuv1-dev
libprotobuf-c-dev
protobuf-c-compiler
libmbedtls-dev
liblz4-dev
lz4
openssl
nftables
iptables
jq
python3
python3-jsonschema
tinyproxy-bin
distro-info-data
rpm
rpm2cpio
cpio
libcmocka-dev
libsqlite3-dev
sqlite3
libpq-dev
postgresql-15
postgresql-client-15
libinih-dev
libjansson-dev
zlib1g-dev
liblzma-dev
libbpf-dev
libnftables-dev
libarchive-dev
libseccomp-dev
libcap-ng-dev
bpftool
iproute2
procps
groff-base
man-db
dpkg-dev
lintian
rpmlint
debootstrap
prometheus
rsyslog
rsyslog-gnutls
haproxy
"
# chromium only recommends fonts; without one it renders no text.
# pdftotext (poppler-utils) reads the report stamp off every printed page.
HTML_PKGS="
chromium
fonts-dejavu-core
poppler-utils
"
[ "$html" = 1 ] && PKGS="$PKGS $HTML_PKGS"
BENCH_PKGS="
auditd
"
[ "$bench" = 1 ] && PKGS="$PKGS $BENCH_PKGS"
LINT_PKGS="
cppcheck
clang-tidy
"
[ "$lint" = 1 ] && PKGS="$PKGS $LINT_PKGS"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$check" = 1 ]; then
    echo "missing packages:$missing" >&2
    exit 1
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: run as root (or: sudo $0)" >&2
    exit 1
fi

echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# auditd's package starts and enables its service where systemd runs: a
# benchmark tool must not leave every exec of the machine audited.
# prometheus is there for its promtool (t_metrics.sh checks the metrics
# endpoints' text with it): its server is not wanted either.
case " $missing " in
*" prometheus "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    ;;
esac
# haproxy is there as the TCP load balancer in front of two collectors
# (t_multi.sh runs its own); the system's own is not wanted.
case " $missing " in
*" haproxy "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now haproxy >/dev/null 2>&1 || true
    fi
    ;;
esac
# postgresql-15 is there for the tests (tests/pg-server.sh runs throwaway
# clusters of its own); the packaged cluster's service is not wanted.
case " $missing " in
*" postgresql-15 "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
    ;;
esac
# rsyslog is there as the TLS syslog receiver of t_siem.sh, run in the
# foreground by the test; the system's own is not wanted.
case " $missing " in
*" rsyslog "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now rsyslog syslog.socket >/dev/null 2>&1 || true
    fi
    ;;
esac
case " $missing " in
*" auditd "*)
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now auditd >/dev/null 2>&1 || true
    fi
    ;;
esac
