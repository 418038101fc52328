/*
 * Operator scopes ([operators] scopes = NAME:KEY=VALUE, ...): an
 * operator whose certificate name is listed sees, commands and reports
 * on only the hosts that carry one of its tags (its groups).  Operators
 * not listed see every host.  api.c checks a request's host here, at
 * the role check, and filters list answers; report.c leaves the hosts
 * outside the scope out of a report.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "err.h"
#include "store.h"
#include "util.h"

/* entry is "NAME:KEY=VALUE"; NAME may hold ':' (certificate names may),
 * so it ends at the last ':' before the first '='. */
static int parse_entry(const char *entry, const char **name, size_t *nlen, const char **key,
                       size_t *klen, const char **value)
{
    const char *eq = strchr(entry, '='), *colon = NULL;

    if (!eq)
        return -EINVAL;
    for (const char *p = entry; p < eq; p++)
        if (*p == ':')
            colon = p;
    if (!colon || colon == entry || colon + 1 == eq || !eq[1])
        return -EINVAL;
    *name = entry;
    *nlen = (size_t)(colon - entry);
    *key = colon + 1;
    while (**key == ' ')
        (*key)++;
    *klen = (size_t)(eq - *key);
    *value = eq + 1;
    if (*nlen > VG_CERT_NAME_MAX || *klen == 0 || *klen >= sizeof(((struct scope *)0)->key[0]) ||
        strlen(*value) >= sizeof(((struct scope *)0)->value[0]))
        return -EINVAL;
    return 0;
}

int scope_check_conf(const struct vg_strlist *l, char *err, size_t errlen)
{
    const char *name, *key, *value;
    size_t nlen, klen;

    for (size_t i = 0; i < l->n; i++) {
        if (parse_entry(l->v[i], &name, &nlen, &key, &klen, &value) != 0) {
            snprintf(err, errlen, "[operators] scopes: '%s' is not NAME:KEY=VALUE "
                     "(an operator certificate's name, a host tag)", l->v[i]);
            return VG_ECONFIG;
        }
    }
    return 0;
}

int scope_get(const struct server *s, const struct conn *op, struct scope *sc)
{
    const char *cn = vg_tls_peer(op->tls)->cn, *name, *key, *value;
    const struct vg_strlist *l = &s->conf->operator_scopes;
    size_t nlen, klen, off = 0;

    memset(sc, 0, sizeof(*sc));
    for (size_t i = 0; i < l->n; i++) {
        if (parse_entry(l->v[i], &name, &nlen, &key, &klen, &value) != 0 ||
            strlen(cn) != nlen || memcmp(cn, name, nlen) != 0)
            continue;
        sc->scoped = 1; /* even when its tags overflow: fewer hosts, never more */
        if (sc->n == SCOPE_MAX)
            continue;
        memcpy(sc->key[sc->n], key, klen);
        sc->key[sc->n][klen] = '\0';
        vg_strlcpy(sc->value[sc->n], value, sizeof(sc->value[0]));
        if (off < sizeof(sc->text))
            off += (size_t)snprintf(sc->text + off, sizeof(sc->text) - off, "%s%s=%s",
                                    sc->n ? ", " : "", sc->key[sc->n], sc->value[sc->n]);
        sc->n++;
    }
    return sc->scoped;
}

int scope_match_tags(const struct scope *sc, const char *tags_json)
{
    json_t *tags;
    int in = 0;

    if (!sc->scoped)
        return 1;
    if (!(tags = json_loads(tags_json ? tags_json : "{}", 0, NULL)))
        return 0;
    for (size_t i = 0; i < sc->n && !in; i++) {
        json_t *v = json_object_get(tags, sc->key[i]);
        in = json_is_string(v) && strcmp(json_string_value(v), sc->value[i]) == 0;
    }
    json_decref(tags);
    return in;
}

int scope_match_kv(const struct scope *sc, const char *const *keys, const char *const *values,
                   size_t n)
{
    if (!sc->scoped)
        return 1;
    for (size_t i = 0; i < sc->n; i++)
        for (size_t k = 0; k < n; k++)
            if (strcmp(keys[k], sc->key[i]) == 0 && strcmp(values[k], sc->value[i]) == 0)
                return 1;
    return 0;
}

int scope_host(struct server *s, const struct scope *sc, const char *agent_id)
{
    char *tags = NULL;
    int rc;

    if (!sc->scoped)
        return 1;
    rc = store_host_tags(s->store, agent_id, &tags);
    if (rc == 1)
        rc = scope_match_tags(sc, tags);
    else if (rc == 0)
        rc = -ENOENT;
    free(tags);
    return rc;
}

/* ---- the agent ids in a scope ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct set_ctx {
    const struct scope *sc;
    struct scope_set *set;
    size_t cap;
    int oom;
};

static int set_cb(void *ctx, const struct store_host *h)
{
    struct set_ctx *x = ctx;
    char *id;

    if (!scope_match_tags(x->sc, h->tags_json))
        return 0;
    if (x->set->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64;
        char **nv = realloc(x->set->v, nc * sizeof(*nv));
        if (!nv) {
            x->oom = 1;
            return 1;
        }
        x->set->v = nv;
        x->cap = nc;
    }
    if (!(id = strdup(h->agent_id ? h->agent_id : ""))) {
        x->oom = 1;
        return 1;
    }
    x->set->v[x->set->n++] = id;
    return 0;
}

int scope_set_load(struct server *s, const struct scope *sc, struct scope_set *set)
{
    struct set_ctx x = { sc, set, 0, 0 };
    int rc;

    memset(set, 0, sizeof(*set));
    rc = store_hosts(s->store, set_cb, &x);
    if (rc || x.oom) {
        scope_set_free(set);
        return rc ? rc : -ENOMEM;
    }
    if (set->n)
        qsort(set->v, set->n, sizeof(*set->v), cmp_str);
    return 0;
}

int scope_set_has(const struct scope_set *set, const char *agent_id)
{
    return agent_id && set->n &&
           bsearch(&agent_id, set->v, set->n, sizeof(*set->v), cmp_str) != NULL;
}

void scope_set_free(struct scope_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    free(set->v);
    memset(set, 0, sizeof(*set));
}
