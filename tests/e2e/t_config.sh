# Configuration loading through the real binaries: strict errors naming
# file and line, defaults, the shipped example files.
. "$VG_ROOT/tests/e2e/lib.sh"

cat >agent.conf <<'CONF'
# test agent
[agent]
state_dir = state
tags = department=radiology,site=leeds
tags = owner=pacs-team

[collector]
address = collector1.example.org:7443, collector2.example.org:7443

[tls]
ca = pki/ca.crt
cert = pki/agent.crt
key = pki/agent.key
CONF
expect_exit 0 "$AGENT" -c agent.conf --check-config
expect_in out.txt "configuration OK"
expect_exit 0 "$AGENT" -c agent.conf --dump-config
expect_in out.txt "tags = department=radiology,site=leeds,owner=pacs-team"
expect_in out.txt "address = collector1.example.org:7443,collector2.example.org:7443"
# Relative paths are relative to the configuration file.
expect_in out.txt "ca = $VG_TMP/pki/ca.crt"

bad() { # bad LINE-NUMBER EXPECTED-TEXT: agent.conf with one change must fail so
    expect_exit 1 "$AGENT" -c bad.conf --check-config
    expect_in err.txt "bad.conf:$1:"
    expect_in err.txt "$2"
}
sed 's/^state_dir/stat_dir/' agent.conf >bad.conf; bad 3 "unknown key 'stat_dir' in section [agent]"
sed 's/^\[tls\]/[tsl]/' agent.conf >bad.conf; bad 10 "unknown section [tsl]"
sed 's/^key = .*/key/' agent.conf >bad.conf; bad 13 "syntax error"
printf 'cert = again\n' | cat agent.conf - >bad.conf; bad 14 "[tls] cert is set twice"
# Missing required key: names the key, no line.
grep -v '^cert' agent.conf >bad.conf
expect_exit 1 "$AGENT" -c bad.conf --check-config
expect_in err.txt "[tls] cert is required"
# Missing file.
expect_exit 1 "$AGENT" -c nowhere.conf --check-config
expect_in err.txt "cannot read nowhere.conf: No such file"

# The shipped examples document every key the programs know.
"$AGENT" --example-config >agent.example
"$COLLECTOR" --example-config >collector.example
diff -u "$VG_ROOT/packaging/agent.conf.example" agent.example ||
    fail "packaging/agent.conf.example is stale: regenerate with vigil-agent --example-config"
diff -u "$VG_ROOT/packaging/collector.conf.example" collector.example ||
    fail "packaging/collector.conf.example is stale: regenerate with vigil-collector --example-config"

# The collector takes the same strict path.
make_pki cpki
cat >collector.conf <<'CONF'
[collector]
listen = 127.0.0.1:7443
db = vigil.db
frobs = 3
[tls]
ca = cpki/ca.crt
cert = cpki/collector.crt
key = cpki/collector.key
CONF
expect_exit 1 "$COLLECTOR" -c collector.conf --check-config
expect_in err.txt "collector.conf:4: unknown key 'frobs' in section [collector]"
sed -i 's/^frobs = 3/lisen = 1/' collector.conf
expect_exit 1 "$COLLECTOR" -c collector.conf --check-config
expect_in err.txt "collector.conf:4: unknown key 'lisen' in section [collector]; did you mean 'listen'?"
sed -i 's/^lisen = 1/listen 127.0.0.1:7443/' collector.conf
expect_exit 1 "$COLLECTOR" -c collector.conf --check-config
expect_in err.txt "collector.conf:4: 'listen 127.0.0.1' is not KEY = VALUE (the '=' is missing)"
sed -i '/^listen 127/d' collector.conf
expect_exit 0 "$COLLECTOR" -c collector.conf --check-config
# What would fail at start fails --check-config: a certificate that is
# not there, a key others can read, a port that is not one.
sed 's#cpki/collector.crt#cpki/nosuch.crt#' collector.conf >c2.conf
expect_exit 1 "$COLLECTOR" -c c2.conf --check-config
expect_in err.txt "c2.conf: [tls]: cannot load certificate"
expect_in err.txt "nosuch.crt: No such file or directory"
cp cpki/collector.key loose.key && chmod 644 loose.key
sed 's#cpki/collector.key#loose.key#' collector.conf >c3.conf
expect_exit 1 "$COLLECTOR" -c c3.conf --check-config
expect_in err.txt "chmod 600"
sed 's#127.0.0.1:7443#127.0.0.1:notaport#' collector.conf >c4.conf
expect_exit 1 "$COLLECTOR" -c c4.conf --check-config
expect_in err.txt "[collector] listen '127.0.0.1:notaport': expected HOST:PORT"
echo ok
