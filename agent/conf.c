#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "daemon.h"
#include "err.h"
#include "metrics.h"
#include "tls.h"
#include "transport.h"

#define O(f) offsetof(struct agent_conf, f)
#define K(sec, name, type, def, f, help) { sec, name, type, def, O(f), 0, 0, NULL, 0, help }
#define KR(sec, name, type, def, f, help) \
    { sec, name, type, def, O(f), 0, 0, NULL, VG_CONF_REQUIRED, help }
#define KB(sec, name, type, def, f, min, max, help) \
    { sec, name, type, def, O(f), min, max, NULL, 0, help }
/* Keys of the root parent's own, read at start: a reload (SIGHUP) logs a
 * change and keeps the old value.  The others are the network process's
 * (and [agent] log_level): a reload that changes them restarts it. */
#define RS VG_CONF_RESTART
#define KS(sec, name, type, def, f, help) { sec, name, type, def, O(f), 0, 0, NULL, RS, help }
#define KBS(sec, name, type, def, f, min, max, help) \
    { sec, name, type, def, O(f), min, max, NULL, RS, help }

enum enroll_token_source agent_enroll_token_source(const struct agent_conf *c)
{
    const char *env = getenv("VIGIL_ENROLL_TOKEN");
    if (env && env[0])
        return ENROLL_TOKEN_ENV;
    if (c->enroll_token && c->enroll_token[0])
        return ENROLL_TOKEN_CONF;
    return ENROLL_TOKEN_FILE;
}

const struct vg_conf_key agent_conf_keys[] = {
    KS("agent", "state_dir", VG_CONF_PATH, "/var/lib/vigil", state_dir,
      "directory for the agent's state (created 0700)"),
    K("agent", "tags", VG_CONF_LIST, NULL, tags,
      "operator tags sent to the collector: key=value,key=value (repeat the key to add more)"),
    K("agent", "log_level", VG_CONF_STR, "info", log_level, "error, warn, info or debug"),
    KS("agent", "user", VG_CONF_STR, "vigil", user,
      "user the network process (TLS, the collector's messages, spool, uploads) runs as; "
      "the packages create it.  When it does not exist the process runs as nobody, with a "
      "warning"),
    KBS("agent", "health_interval", VG_CONF_DURATION, "60s", health_interval_ms, 100, 86400000,
       "how often the agent reports its own health (RSS, CPU, queues)"),
    KR("collector", "address", VG_CONF_LIST, NULL, address,
       "collector HOST:PORT, comma-separated; later ones are failovers"),
    KB("collector", "backoff_base", VG_CONF_DURATION, "1s", backoff_base_ms, 10, 3600000,
       "first reconnect delay bound; doubles per failed round (with full jitter)"),
    KB("collector", "backoff_cap", VG_CONF_DURATION, "60s", backoff_cap_ms, 100, 86400000,
       "largest reconnect delay bound"),
    KB("collector", "heartbeat", VG_CONF_DURATION, "30s", heartbeat_ms, 500, 3600000,
       "send a heartbeat when nothing else was sent for this long"),
    KB("collector", "dead_after", VG_CONF_DURATION, "90s", dead_after_ms, 1500, 86400000,
       "reconnect when the collector has been silent this long"),
    KB("collector", "window", VG_CONF_UINT, "32", window, 1, 4096,
       "batches sent but not yet acknowledged, at most: a slow collector slows the agent"),
    { "collector", "proxy", VG_CONF_STR, NULL, O(proxy), 0, 0, NULL, VG_CONF_URL_PASSWORD,
      "HTTP proxy to reach the collector (and [enroll] address) through, with CONNECT: "
      "http://[USER:PASSWORD@]HOST:PORT (Basic authentication; percent-encode ':', '@', '/' "
      "and '%' in USER and PASSWORD).  TLS to the collector runs inside the tunnel, with the "
      "collector's certificate checked as on a direct connection.  The environment's "
      "https_proxy and no_proxy are never read.  While the host is isolated, the proxy is "
      "the one address the agent may reach" },
    K("collector", "proxy_auth_file", VG_CONF_PATH, NULL, proxy_auth_file,
      "file whose first line is USER:PASSWORD for the proxy (as they are, not encoded; mode "
      "0600, read as root at start), so that the password need not be in this file"),
    KB("batch", "max_events", VG_CONF_UINT, "1000", batch_max_events, 1, 100000,
       "close a batch at this many events (collectors refuse more than 100000)"),
    KB("batch", "max_bytes", VG_CONF_SIZE, "256K", batch_max_bytes, 1024, 4 * 1024 * 1024,
       "close a batch at this many encoded bytes"),
    KB("batch", "max_age", VG_CONF_DURATION, "5s", batch_max_age_ms, 10, 3600000,
       "close a batch this long after its first event"),
    KB("spool", "max_bytes", VG_CONF_SIZE, "256M", spool_max_bytes, 256 * 1024, 1ULL << 40,
       "disk for batches awaiting acknowledgement; when full the oldest telemetry is dropped "
       "(inventory and OS state are kept) and reported as loss"),
    { "spool", "fsync", VG_CONF_ENUM, "always", O(spool_fsync), 0, 0, "always|batch|interval", 0,
      "always: each batch is on disk before it is sent; batch: once per burst of sends; "
      "interval: every fsync_interval (a crash may lose what was not synced)" },
    KB("spool", "fsync_interval", VG_CONF_DURATION, "1s", spool_fsync_interval_ms, 10, 3600000,
       "with fsync = interval, how often the spool is synced"),
    KB("spool", "memory_max", VG_CONF_SIZE, "16M", spool_memory_max, 0, 1ULL << 34,
       "memory for batches while the disk refuses them (full disk); past it they are lost "
       "and reported"),
    KBS("os", "check_interval", VG_CONF_DURATION, "60s", os_check_ms, 1000, 86400000,
       "how often OS state is re-read (sent when it changed)"),
    KBS("os", "interval", VG_CONF_DURATION, "1h", os_interval_ms, 1000, 7 * 86400000ULL,
       "OS state is sent at least this often even when unchanged"),
    KS("inventory", "root", VG_CONF_PATH, "/", inventory_root,
      "host root the inputs read (/etc/os-release, /var/lib/dpkg, ...): /host when the agent "
      "runs in a container with the host mounted there"),
    KBS("inventory", "poll_interval", VG_CONF_DURATION, "5m", inventory_poll_ms, 1000, 86400000,
       "how often a package database that cannot be watched is re-read (rpm keeps it in "
       "different places on different distributions)"),
    KBS("inventory", "pending_interval", VG_CONF_DURATION, "1h", pending_interval_ms, 10000,
       86400000,
       "how often pending updates are worked out again without a change to apt's lists or "
       "dpkg's status (they are also worked out at once after either changes; dnf hosts have "
       "only this)"),
    KBS("inventory", "history_days", VG_CONF_UINT, "400", history_days, 0, 36500,
       "package install history sent to the collector, in days back from now (dpkg's logs, "
       "rotations included; rpm's install times): in full once, then only what is new; "
       "0: none"),
    { "telemetry", "process_source", VG_CONF_ENUM, "auto", O(process_source), 0, 0,
      "auto|ebpf|netlink|proc|off", RS,
      "where process events come from: auto (ebpf, else netlink, else proc), ebpf, netlink, "
      "proc (scanning /proc: long-lived processes only) or off" },
    KBS("telemetry", "process_snapshot_interval", VG_CONF_DURATION, "15m", process_snapshot_ms,
       10000, 86400000, "a full process table is sent at start and this often"),
    KBS("telemetry", "process_scan_interval", VG_CONF_DURATION, "1s", process_scan_ms, 100,
       3600000, "with process_source = proc: how often /proc is scanned for new processes"),
    KBS("telemetry", "exec_rate_per_exe", VG_CONF_UINT, "1000", exec_rate_per_exe, 0, 10000000,
       "execs per second of one executable sent one by one; beyond that they are counted "
       "into one event per second (0: never aggregate)"),
    KBS("telemetry", "hash_max_size", VG_CONF_SIZE, "128M", hash_max_size, 0,
       64ULL * 1024 * 1024 * 1024,
       "executables up to this size are hashed (SHA-256, cached by inode and mtime, on a "
       "worker thread); 0: none"),
    KBS("telemetry", "ring_buffer_size", VG_CONF_SIZE, "2M", ring_buffer_size, 65536,
       256ULL * 1024 * 1024,
       "the eBPF ring buffer (a power of two): room for bursts, for execs not yet in the spool "
       "and for those while the agent restarts (about 3,000 execs per MiB: 2M holds an 8 s "
       "restart at 750 execs/s); "
       "raise it on hosts that exec faster; it is mapped twice, so it counts double in RSS "
       "(not in PSS)"),
    KS("telemetry", "bpf_pin_dir", VG_CONF_STR, "/sys/fs/bpf/vigil", bpf_pin_dir,
      "bpffs directory where the eBPF programs and their ring buffer are pinned, so that execs "
      "while the agent is down or restarting wait there for the next one (empty: not pinned; "
      "rm -rf it to detach them once the agent is gone)"),
    { "isolation", "backend", VG_CONF_ENUM, "auto", O(isolation_backend), 0, 0,
      "auto|nft|iptables", RS,
      "firewall used to isolate the host: nft (a table of its own, through libnftables), "
      "iptables (chains of its own, jumped to first, for hosts without nftables), or auto "
      "(nft where the kernel has it, else iptables)" },
    KS("isolation", "iptables", VG_CONF_STR, "iptables", isolation_iptables,
      "with the iptables back end: the command to use, iptables or iptables-legacy (the "
      "ip6tables, -save and -restore commands are named after it)"),
    { "isolation", "allow_dns", VG_CONF_BOOL, "false", O(isolation_allow_dns), 0, 0, NULL, RS,
      "while isolated, let DNS through to the resolvers in /etc/resolv.conf (the collector "
      "addresses are resolved before isolating, so it is not needed for them)" },
    KBS("isolation", "check_interval", VG_CONF_DURATION, "5s", isolation_check_ms, 1000,
       3600000, "how often the isolation rules are checked; changed or removed rules are "
       "applied again and the tampering reported"),
    KBS("isolation", "verify_timeout", VG_CONF_DURATION, "10s", isolation_verify_ms, 1000,
       300000, "after isolating, a new connection to the collector must succeed within this "
       "time, or the isolation is rolled back"),
    KS("enroll", "address", VG_CONF_STR, NULL, enroll_address,
      "HOST:PORT of the collector's enrollment endpoint, used when there is no certificate "
      "at [tls] cert yet"),
    KS("enroll", "token", VG_CONF_STR, NULL, enroll_token,
      "enrollment token (vigilctl enroll-token create); VIGIL_ENROLL_TOKEN overrides it"),
    KS("enroll", "token_file", VG_CONF_PATH, "/etc/vigil/enroll.token", enroll_token_file,
      "file holding the enrollment token, when [enroll] token is not set"),
    KS("enroll", "remove_token_file", VG_CONF_BOOL, "yes", enroll_remove_token_file,
      "delete [enroll] token_file once enrolled: a token left on disk could enroll other "
      "hosts"),
    { "triage", "extra_paths", VG_CONF_LIST, NULL, O(triage_paths), 0, 0, NULL, RS,
      "more files to copy into triage packages (glob patterns, e.g. /srv/app/*.conf); "
      "repeat the key for more" },
    KBS("dummy", "rate", VG_CONF_UINT, "0", dummy_rate, 0, 1000000,
       "synthetic events per second, for load and fault tests (0: off)"),
    KBS("dummy", "size", VG_CONF_SIZE, "64", dummy_size, 0, 65536,
       "bytes of filler in each synthetic event"),
    KR("tls", "ca", VG_CONF_PATH, NULL, ca, "CA certificate(s) that signed the collector"),
    KR("tls", "cert", VG_CONF_PATH, NULL, cert,
       "this agent's certificate; its CN is the agent id"),
    KR("tls", "key", VG_CONF_PATH, NULL, key, "this agent's private key (mode 0600)"),
    K("tls", "server_name", VG_CONF_STR, NULL, server_name,
      "name expected in the collector's certificate (default: the host part of address)"),
    KS("metrics", "listen", VG_CONF_STR, NULL, metrics_listen,
      "address and port of the Prometheus endpoint, GET /metrics over plain HTTP, served by "
      "the root process (127.0.0.1:9811); off when unset; it has no authentication, so only "
      "a loopback address is taken unless allow_remote is set"),
    KS("metrics", "allow_remote", VG_CONF_BOOL, "no", metrics_allow_remote,
      "let [metrics] listen be an address other than loopback (anyone who reaches it reads "
      "the figures: firewall it)"),
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};

/* ---- start-up ---- */

#define DEFAULT_CONF "/etc/vigil/agent.conf"

static int check_tags(const struct agent_conf *c, const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->tags.n; i++) {
        const char *t = c->tags.v[i], *eq = strchr(t, '=');
        if (!eq || eq == t || strlen(t) > 500) {
            snprintf(err, errlen, "%s: [agent] tags: '%s' is not key=value", path, t);
            return VG_ECONFIG;
        }
    }
    return 0;
}

/* --check-config: what the network process would refuse -- the CA,
 * certificate and key: readable, the key 0600, fitting together, valid
 * now -- as the collector's check does, and the proxy's credentials file.  Only there: at start the agent
 * runs on without its network (collecting, spooling, keeping a host
 * isolated) and the network process says why as it retries.  Not before
 * the first certificate (the agent enrolls first), nor while a renewal
 * is half installed (CERT.next is there: the start finishes it). */
static int check_tls(const void *conf, const char *path, char *err, size_t errlen)
{
    const struct agent_conf *c = conf;
    struct vg_tls_opts o;
    struct vg_tls_config *tls = NULL;
    char next[1024], why[400];

    if (transport_check_proxy(c, 1, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return VG_ECONFIG;
    }
    snprintf(next, sizeof(next), "%s.next", c->cert);
    if (access(c->cert, F_OK) != 0 || access(next, F_OK) == 0)
        return 0;
    memset(&o, 0, sizeof(o));
    o.ca = c->ca;
    o.cert = c->cert;
    o.key = c->key;
    if (vg_tls_config_new(&o, &tls, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: [tls]: %s", path, why);
        return VG_ECONFIG;
    }
    vg_tls_config_free(tls);
    return 0;
}

static int validate(const void *conf, const char *path, char *err, size_t errlen)
{
    const struct agent_conf *c = conf;
    int rc = check_tags(c, path, err, errlen);
    if (rc == 0)
        rc = transport_check_addresses(&c->address, err, errlen);
    if (rc == 0 && c->metrics_listen && c->metrics_listen[0]) {
        struct sockaddr_storage ss;
        char why[300];
        if ((rc = vg_metrics_parse_listen(c->metrics_listen, c->metrics_allow_remote,
                                          "[metrics] listen", &ss, why, sizeof(why))) != 0)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    if (rc == 0)
        rc = transport_check_proxy(c, 0, err, errlen);
    return rc;
}

const struct vg_daemon agent_daemon = {
    .name = "vigil-agent",
    .about = "The Vigil endpoint agent: collects host state and streams it to the collector\n"
             "over mutual TLS.",
    .footer = "Logs go to stderr (the journal under systemd).  SIGTERM or SIGINT stop it:\n"
              "the last batch is sent and acknowledged (waiting at most 3 s) first.\n"
              "SIGHUP reloads the configuration (an invalid one is refused, logged): the\n"
              "network process restarts with it, nothing lost.\n"
              "\n"
              "With no certificate at [tls] cert, the agent enrolls first, with the token\n"
              "of --enroll-token TOKEN, VIGIL_ENROLL_TOKEN, [enroll] token or [enroll]\n"
              "token_file (default /etc/vigil/enroll.token).",
    .commands = "One-shot commands (no collector needed):\n"
                "  vigil-agent inventory [-c FILE] [--root DIR] [--json] [--no-pending]\n"
                "                        print this host's packages and pending updates\n"
                "  vigil-agent processes [--json]\n"
                "                        print the running processes as snapshots see them\n"
                "  vigil-agent release --token FILE [-c FILE]\n"
                "                        lift network isolation offline with a break-glass token\n"
                "  vigil-agent isolation-keeper [-c FILE] [--restore] [--follow]\n"
                "                        hold the isolation rules where no other process can\n"
                "                        remove them (started by the agent, and at boot)\n"
                "  vigil-agent triage -o FILE [--max-size SIZE] [--max-time D]\n"
                "                        collect this host's triage package locally",
    .default_conf = DEFAULT_CONF,
    .keys = agent_conf_keys,
    .log_level_offset = offsetof(struct agent_conf, log_level),
    .log_level_key = "[agent] log_level",
    .validate = validate,
    .check_only = check_tls,
};

