#include <stddef.h>

#include "collector.h"

#define K(sec, name, type, def, field, flags, help) \
    { sec, name, type, def, offsetof(struct collector_conf, field), 0, 0, NULL, flags, help }
#define KR(sec, name, type, def, field, min, max, help) \
    { sec, name, type, def, offsetof(struct collector_conf, field), min, max, NULL, 0, help }
/* Read at start only: a reload (SIGHUP) logs a change and keeps the old value. */
#define RS VG_CONF_RESTART
#define KRS(sec, name, type, def, field, min, max, help) \
    { sec, name, type, def, offsetof(struct collector_conf, field), min, max, NULL, RS, help }

const struct vg_conf_key collector_conf_keys[] = {
    K("collector", "listen", VG_CONF_STR, "0.0.0.0:7443", listen, RS,
      "address and port to listen on (HOST:PORT; [::]:7443 for IPv6)"),
    K("collector", "db", VG_CONF_PATH, "/var/lib/vigil-collector/vigil.db", db, RS,
      "SQLite database file (created if missing)"),
    { "store", "url", VG_CONF_STR, NULL, offsetof(struct collector_conf, store_url), 0, 0, NULL,
      RS | VG_CONF_URL_PASSWORD,
      "the database, when not the SQLite file of [collector] db: postgresql://USER@HOST:PORT/DB "
      "for a PostgreSQL server that several collectors share (a password is better kept in "
      "libpq's ~/.pgpass or PGPASSFILE than here)" },
    K("collector", "log_level", VG_CONF_STR, "info", log_level, 0, "error, warn, info or debug"),
    { "collector", "sync", VG_CONF_ENUM, "full", offsetof(struct collector_conf, sync), 0, 0,
      "full|normal", RS,
      "full: every commit reaches the disk before agents are acknowledged (power-loss safe)" },
    KR("collector", "idle_timeout", VG_CONF_DURATION, "90s", idle_timeout_ms, 5000, 86400000,
       "close an agent connection that has sent nothing for this long"),
    KR("collector", "heartbeat", VG_CONF_DURATION, "30s", heartbeat_ms, 1000, 3600000,
       "how often agents are asked to send a heartbeat when idle"),
    KRS("collector", "max_frame", VG_CONF_SIZE, "8M", max_frame, 65536, 64 * 1024 * 1024,
       "largest frame accepted from a peer"),
    KRS("collector", "max_connections", VG_CONF_UINT, "20000", max_connections, 16, 1000000,
       "agents connected at once; the descriptor limit is raised to fit (operators get 64 "
       "more)"),
    K("collector", "proxy_protocol", VG_CONF_STR, NULL, proxy_protocol, RS,
      "addresses or networks of TCP load balancers (HAProxy with send-proxy-v2, or nginx with "
      "proxy_protocol on) in front of "
      "this collector, separated by commas: connections from them must begin with a PROXY "
      "protocol header (v2 or v1), which gives the agent's own address (for per-address limits and "
      "the hosts' addresses); connections from elsewhere must not"),
    K("collector", "collections_dir", VG_CONF_PATH, NULL, collections_dir, RS,
      "where triage packages are stored (default: 'collections' beside the database; "
      "created 0700)"),
    KR("collector", "collection_max_size", VG_CONF_SIZE, "1G", collection_max_size, 1048576,
       1024ULL * 1024 * 1024 * 1024, "largest triage package accepted from an agent"),
    KR("retention", "collections_max_age", VG_CONF_DURATION, "180d", collection_max_age_ms,
       3600000, 3650ULL * 86400000,
       "triage packages older than this are deleted (their chain-of-custody records stay)"),
    KR("retention", "processes_max_age", VG_CONF_DURATION, "90d", process_max_age_ms, 3600000,
       3650ULL * 86400000,
       "process events (execs, exits, snapshots) older than this are deleted"),
    KR("retention", "processes_max_rows", VG_CONF_UINT, "50000000", process_max_rows, 1000,
       10000000000ULL, "at most this many stored execs; the oldest go first"),
    KR("retention", "events_max_age", VG_CONF_DURATION, "90d", events_max_age_ms, 3600000,
       3650ULL * 86400000,
       "raw events of every other kind (OS state, health, inventories, pending updates) and "
       "batch receipts older than this are deleted; what they set (a host's current state, "
       "its packages) stays"),
    KR("retention", "history_max_age", VG_CONF_DURATION, "400d", history_max_age_ms,
       86400000, 3650ULL * 86400000,
       "closed history rows (package versions, pending updates, OS versions, package manager "
       "logs) and loss records older than this are deleted: a report --as-of before it is "
       "incomplete"),
    KR("retention", "commands_max_age", VG_CONF_DURATION, "400d", commands_max_age_ms,
       86400000, 3650ULL * 86400000,
       "finished commands older than this are deleted (the audit log keeps every one)"),
    K("enroll", "listen", VG_CONF_STR, NULL, enroll_listen, RS,
      "address and port of the enrollment endpoint (HOST:PORT): TLS with server "
      "authentication only, taking nothing but enrollment requests; off when unset"),
    K("enroll", "ca_key", VG_CONF_PATH, NULL, enroll_ca_key, RS,
      "private key (mode 0600) of the CA that signs agents' certificates ([enroll] ca_cert, "
      "or [tls] ca); enrollment is off when unset"),
    K("enroll", "ca_cert", VG_CONF_PATH, NULL, enroll_ca_cert, RS,
      "certificate of the CA that signs agents (an intermediate made with 'vigilctl pki "
      "issue --role ca', so that the root's key can stay offline); default: [tls] ca"),
    KR("enroll", "cert_lifetime", VG_CONF_DURATION, "90d", enroll_lifetime_ms, 10000,
       3650ULL * 86400000,
       "validity of certificates issued at enrollment and renewal (agents renew at two "
       "thirds of it)"),
    K("report", "organisation", VG_CONF_STR, "(organisation not set)", organisation, 0,
      "organisation name shown at the top of every compliance report"),
    KR("report", "stale_after", VG_CONF_DURATION, "7d", stale_ms, 3600000, 365ULL * 86400000,
       "a host not seen for longer counts as unknown (not compliant) in reports"),
    KR("report", "history", VG_CONF_DURATION, "90d", history_ms, 86400000, 3650ULL * 86400000,
       "fixes made effective within this long before a report's date are listed (met or "
       "met-late)"),
    KR("report", "trend_weeks", VG_CONF_UINT, "12", trend_weeks, 1, 52,
       "weeks of compliance history in a report's trend"),
    K("report", "distro_info_dir", VG_CONF_PATH, "/usr/share/distro-info", distro_info_dir, RS,
      "Debian's distro-info-data end-of-life tables (debian.csv, ubuntu.csv)"),
    K("report", "security_support_dir", VG_CONF_PATH, "/usr/share/debian-security-support",
      security_support_dir, RS,
      "debian-security-support's lists of packages whose security support ended early "
      "(security-support-ended.debN); such packages fail a host"),
    KR("report", "max_import_size", VG_CONF_SIZE, "256M", max_import_size, 1048576,
       4ULL * 1024 * 1024 * 1024, "largest advisory feed file accepted by vigilctl advisories import"),
    K("audit", "key", VG_CONF_PATH, NULL, audit_key, RS,
      "private key (mode 0600) that signs the audit log's checkpoints, made at first start "
      "if missing, its public half written beside it as .pub (default: the database's path "
      "and -audit.key, e.g. collector.db-audit.key); keep it out of the database's backups "
      "and away from whoever may edit the database"),
    K("audit", "checkpoints", VG_CONF_PATH, NULL, audit_checkpoints, RS,
      "file the signed checkpoints are appended to, one line each (default: the database's "
      "path and -audit.checkpoints)"),
    KR("audit", "checkpoint_interval", VG_CONF_DURATION, "60s", audit_interval_ms, 1000,
       3600000,
       "a checkpoint is signed this often when the audit log grew, hourly when it did not, "
       "and at every start and clean stop"),
    K("audit", "checkpoint_syslog", VG_CONF_BOOL, "no", audit_syslog, 0,
      "also send every checkpoint line to syslog (facility auth, priority notice), so that a "
      "copy exists off the box"),
    K("tls", "ca", VG_CONF_PATH, NULL, ca, VG_CONF_REQUIRED,
      "CA certificate(s) that client certificates must chain to"),
    K("tls", "cert", VG_CONF_PATH, NULL, cert, VG_CONF_REQUIRED,
      "the collector's certificate (vigilctl pki issue --role collector)"),
    K("tls", "key", VG_CONF_PATH, NULL, key, VG_CONF_REQUIRED,
      "the collector's private key (mode 0600)"),
    KR("tls", "ticket_lifetime", VG_CONF_DURATION, "1h", ticket_lifetime_ms, 60000, 86400000,
       "TLS session tickets (fast reconnects) are honoured this long; keys rotate as often"),
    K("tls", "ticket_key_file", VG_CONF_PATH, NULL, ticket_key_file, RS,
      "keys of the TLS session tickets (mode 0600, made if missing, rewritten at each "
      "rotation with the previous key kept), so that agents resume after a restart or "
      "upgrade (default: tickets.keys beside the database); a copy lets its holder decrypt "
      "recorded sessions up to two ticket lifetimes old, so keep it out of backups"),
    K("metrics", "listen", VG_CONF_STR, NULL, metrics_listen, RS,
      "address and port of the Prometheus endpoint, GET /metrics over plain HTTP "
      "(127.0.0.1:9810); off when unset; it has no authentication, so only a loopback "
      "address is taken unless allow_remote is set"),
    K("metrics", "allow_remote", VG_CONF_BOOL, "no", metrics_allow_remote, RS,
      "let [metrics] listen be an address other than loopback (anyone who reaches it reads "
      "the figures: firewall it)"),
    K("operators", "scopes", VG_CONF_LIST, NULL, operator_scopes, 0,
      "operators limited to groups of hosts: NAME:KEY=VALUE, ... (NAME: an operator "
      "certificate's name; KEY=VALUE: a host tag, from the agent's [agent] tags; list a name "
      "more than once for several groups); such an operator sees, commands and reports on "
      "only the hosts with one of its tags, and every refusal is audited; operators not "
      "named see every host"),
    K("export", "file", VG_CONF_PATH, NULL, export_file, RS,
      "append process events and the audit log to this file as JSON lines (Elastic Common "
      "Schema field names), rotated by size; off when unset"),
    KRS("export", "file_max_size", VG_CONF_SIZE, "100M", export_file_max_size, 65536,
        1024ULL * 1024 * 1024 * 1024,
        "past this size the file is renamed FILE.1 (FILE.1 to FILE.2, ...) and a new one begun"),
    KRS("export", "file_keep", VG_CONF_UINT, "5", export_file_keep, 1, 1000,
        "rotated files kept (FILE.1 .. FILE.N); the oldest is deleted"),
    K("export", "syslog", VG_CONF_STR, NULL, export_syslog, RS,
      "send the same records as RFC 5424 syslog messages over TLS (RFC 5425, octet-counted "
      "framing) to this receiver (HOST:PORT, e.g. siem.example.org:6514); off when unset"),
    K("export", "syslog_ca", VG_CONF_PATH, NULL, export_syslog_ca, RS,
      "CA certificate(s) the receiver's certificate must chain to (required with syslog)"),
    K("export", "syslog_server_name", VG_CONF_STR, NULL, export_syslog_name, RS,
      "name the receiver's certificate must carry (default: the HOST of syslog; mbedtls "
      "2.28 does not match IP addresses, so give a name when HOST is one)"),
    K("export", "syslog_cert", VG_CONF_PATH, NULL, export_syslog_cert, RS,
      "client certificate for receivers that ask for one: an ECDSA key, usable for TLS "
      "clients (extended key usage clientAuth, or none), issued by the CA in syslog_ca; none "
      "when unset"),
    K("export", "syslog_key", VG_CONF_PATH, NULL, export_syslog_key, RS,
      "private key (mode 0600) of syslog_cert"),
    KRS("export", "resend_window", VG_CONF_DURATION, "10s", export_resend_window_ms, 1000,
        3600000,
        "syslog over TCP has no acknowledgement: a record counts as delivered once it was "
        "flushed to the socket and the connection then stayed up this long; after a lost "
        "connection everything since is sent again (at least once; receivers deduplicate by "
        "event.id)"),
    KRS("export", "process_hold", VG_CONF_DURATION, "5s", export_hold_ms, 0, 600000,
        "an exec that has not exited is exported once it is this old, so that short-lived "
        "processes go out with their exit (exit code, end time); 0: at once, without"),
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};

const char *conf_store_target(const struct collector_conf *c)
{
    return c->store_url && c->store_url[0] ? c->store_url : c->db;
}
