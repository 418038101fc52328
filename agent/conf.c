#include <stddef.h>

#include "agent.h"

#define K(sec, name, type, def, field, help) \
    { sec, name, type, def, offsetof(struct agent_conf, field), 0, 0, NULL, 0, help }
#define KR(sec, name, type, def, field, help) \
    { sec, name, type, def, offsetof(struct agent_conf, field), 0, 0, NULL, VG_CONF_REQUIRED, help }

const struct vg_conf_key agent_conf_keys[] = {
    K("agent", "state_dir", VG_CONF_PATH, "/var/lib/vigil", state_dir,
      "directory for the spool and agent state (created 0700)"),
    K("agent", "tags", VG_CONF_LIST, NULL, tags,
      "operator tags sent to the collector: key=value,key=value"),
    K("agent", "log_level", VG_CONF_STR, "info", log_level, "error, warn, info or debug"),
    KR("collector", "address", VG_CONF_LIST, NULL, address,
       "collector HOST:PORT, comma-separated for failover"),
    KR("tls", "ca", VG_CONF_PATH, NULL, ca, "CA certificate(s) that signed the collector"),
    KR("tls", "cert", VG_CONF_PATH, NULL, cert, "this agent's certificate"),
    KR("tls", "key", VG_CONF_PATH, NULL, key, "this agent's private key (mode 0600)"),
    K("tls", "server_name", VG_CONF_STR, NULL, server_name,
      "name expected in the collector's certificate (default: host part of address)"),
    { NULL, NULL, 0, NULL, 0, 0, 0, NULL, 0, NULL },
};
