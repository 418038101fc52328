/* vigil-agent: configuration shared by the agent's parts. */
#ifndef VG_AGENT_H
#define VG_AGENT_H

#include <stdint.h>

#include "conf.h"

struct agent_conf {
    /* [agent] */
    char *state_dir;
    struct vg_strlist tags;
    char *log_level;
    /* [collector] */
    struct vg_strlist address;
    /* [tls] */
    char *ca, *cert, *key, *server_name;
};

extern const struct vg_conf_key agent_conf_keys[];

#endif
