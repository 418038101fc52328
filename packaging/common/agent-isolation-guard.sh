# vigil_isolation_guard: before the agent is removed.  Returns 1, saying
# why and how to release the host, when the agent's state says the host
# is isolated or being isolated; returns 0 otherwise, or when
# VIGIL_FORCE_REMOVE=1 (saying then that the host stays isolated).
#
# Inlined into the deb prerm and the rpm %preun by scripts/build-deb.sh
# and scripts/build-rpm.sh (at a line "#INCLUDE agent-isolation-guard.sh"),
# and sourced by tests/packages/test-packages.sh.  POSIX sh; build-rpm.sh
# doubles its percent signs, which rpm would take for macros.
#
# STATE_DIR/isolation is written by agent/priv/cmd_isolate.c (state_save):
#
#   { "backend": "nft", "pending_backend": "nft",
#     "isolated": { "command_id": ID, "since_ms": MS, ... } | null,
#     "pending":  { "command_id": ID, ... } | null }
#
# "pending" is an isolate applied but not yet verified; the agent deletes
# the file when neither is set.  So a file that is there and does not say
# plainly "isolated": null and "pending": null (damaged, truncated) is
# taken as an isolation: refusing wrongly costs a VIGIL_FORCE_REMOVE=1,
# removing wrongly strands a host nobody can release remotely.
vigil_isolation_guard() {
    vg_dir=
    # The configured state directory ([agent] state_dir), when the
    # configuration loads; /var/lib/vigil (the default, and the only
    # directory the unit lets the agent write) in any case.
    if command -v vigil-agent >/dev/null; then
        vg_dir=$(vigil-agent -c /etc/vigil/agent.conf --dump-config 2>/dev/null |
            sed -n '/^\[agent\]/,/^\[/s/^state_dir = //p') || vg_dir=
    fi
    for vg_d in /var/lib/vigil $vg_dir; do
        vg_f=$vg_d/isolation
        [ -e "$vg_f" ] || continue
        vg_json=$(tr -d ' \t\r\n' <"$vg_f" 2>/dev/null) || vg_json=
        vg_id=$(printf '%s\n' "$vg_json" | sed -n 's/.*"isolated":{"command_id":"\([^"]*\)".*/\1/p')
        vg_since=$(printf '%s\n' "$vg_json" | sed -n 's/.*"isolated":{[^}]*"since_ms":\([0-9]*\).*/\1/p')
        case $vg_json in
        *'"isolated":null'*'"pending":null'*)
            continue ;;
        *'"isolated":null'*'"pending":{'*)
            vg_what="an isolate command is being applied to this host" ;;
        *'"isolated":{'*)
            vg_what="this host is network-isolated (isolate command ${vg_id:-?}"
            if [ -n "$vg_since" ]; then
                vg_what="$vg_what, since $(date -u -d "@$((vg_since / 1000))" '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null || echo "$vg_since ms")"
            fi
            vg_what="$vg_what)" ;;
        *)
            vg_what="the isolation state file cannot be read as the agent writes it, so this host may be isolated" ;;
        esac
        if [ "${VIGIL_FORCE_REMOVE:-}" = 1 ]; then
            cat >&2 <<EOF
vigil-agent: VIGIL_FORCE_REMOVE=1: removing the agent although $vg_what
(state file $vg_f).
vigil-agent: THE HOST STAYS ISOLATED: its firewall rules (the nftables
tables named vigil_isolation, or the iptables chains VIGIL-ISO-*) stay in
force, and without the agent no collector can lift them.  Reinstalling the
agent with its state in $vg_d restores control.
EOF
            return 0
        fi
        cat >&2 <<EOF
vigil-agent: refusing to remove the agent: $vg_what
(state file $vg_f).
Without the agent the isolation stays in force and cannot be lifted remotely.
Release the host first, then remove the package:
  - an operator with the responder or admin role:
      vigilctl release HOST --reason "why"
  - or, on this host as root, with a break-glass token an admin made with
    'vigilctl release-token HOST --reason "why" -o FILE':
      vigil-agent release --token FILE
To remove it anyway, leaving the host isolated, set VIGIL_FORCE_REMOVE=1
(e.g. VIGIL_FORCE_REMOVE=1 apt-get remove vigil-agent).
EOF
        return 1
    done
    return 0
}
