# make demo's story (issue 22): hosts, an isolation that cuts the peer off
# and a release that gives it back, a triage package downloaded with its
# SHA-256 checked, a signed report verified -- in network namespaces of
# its own, so that the machine's network is what it was.
# vg-timeout: 300
# Runs beside other tests: its namespaces and links are named vgdemo-*,
# and only those are compared (other tests add and remove their own).
. "$VG_ROOT/tests/e2e/lib.sh"

ip -o link show | awk -F': ' '$2 ~ /vgdemo/ { print $2 }' | sort >links.before
nft list tables 2>/dev/null | sort >tables.before
VG_DEMO_DIR=$PWD/demo VG_BUILD=$VG_BIN sh "$VG_ROOT/scripts/demo.sh" >demo.out 2>&1 ||
    { tail -n 40 demo.out; fail "make demo failed"; }
expect_in demo.out "== vigilctl hosts"
expect_in demo.out "demo-agent"
expect_in demo.out "reachable"
expect_in demo.out "the peer: blocked; the collector: still connected (\"connected\": true)"
expect_in demo.out "ISOLATED since"
expect_in demo.out "the peer: reachable again"
expect_in demo.out "(matches the collector's record)"
expect_in demo.out "report.html: OK"
expect_in demo.out "OK, signed by collector collector"
expect_in demo.out "chain: intact"
[ -s demo/triage.tar.lz4 ] || fail "no triage package"
[ -s demo/report.html ] || fail "no report"
# The machine's own network: no interface, namespace or table left.
ip -o link show | awk -F': ' '$2 ~ /vgdemo/ { print $2 }' | sort >links.after
nft list tables 2>/dev/null | sort >tables.after
cmp -s links.before links.after || fail "interfaces changed: $(diff links.before links.after)"
cmp -s tables.before tables.after || fail "nftables tables changed: $(diff tables.before tables.after)"
! ip netns list | grep -q vgdemo || fail "a demo namespace is left: $(ip netns list)"
echo "ok"
