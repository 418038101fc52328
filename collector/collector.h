/* vigil-collector: configuration shared by the collector's parts. */
#ifndef VG_COLLECTOR_H
#define VG_COLLECTOR_H

#include "conf.h"

struct collector_conf {
    /* [collector] */
    char *listen;
    char *db;
    char *log_level;
    /* [tls] */
    char *ca, *cert, *key;
};

extern const struct vg_conf_key collector_conf_keys[];

#endif
