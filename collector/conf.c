#include <stddef.h>

#include "collector.h"

#define K(sec, name, type, def, field, flags, help) \
    { sec, name, type, def, offsetof(struct collector_conf, field), 0, 0, NULL, flags, help }

const struct vg_conf_key collector_conf_keys[] = {
    K("collector", "listen", VG_CONF_STR, "0.0.0.0:7443", listen, 0,
      "address and port to listen on (HOST:PORT; [::]:7443 for IPv6)"),
    K("collector", "db", VG_CONF_PATH, "/var/lib/vigil-collector/vigil.db", db, 0,
      "SQLite database file (created if missing)"),
    K("collector", "log_level", VG_CONF_STR, "info", log_level, 0, "error, warn, info or debug"),
    K("tls", "ca", VG_CONF_PATH, NULL, ca, VG_CONF_REQUIRED,
      "CA certificate(s) that client certificates must chain to"),
    K("tls", "cert", VG_CONF_PATH, NULL, cert, VG_CONF_REQUIRED, "the collector's certificate"),
    K("tls", "key", VG_CONF_PATH, NULL, key, VG_CONF_REQUIRED,
      "the collector's private key (mode 0600)"),
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};
