/*
 * Triage packages: received from agents in chunks, stored on disk under
 * collections_dir, recorded with their chain of custody, served to
 * operators.
 *
 *   agent --UploadChunk(offset, data)--> the next expected offset only:
 *         appended to <id>.part, fdatasync'd, recorded, then acknowledged
 *         (UploadAck next_offset); any other offset is answered with the
 *         offset wanted, so a reconnecting agent resumes where the
 *         collector stands.
 *   last chunk: size and SHA-256 checked against the agent's; the file
 *         becomes <id>.tar.lz4, the record complete (audited).
 *   vigilctl --CollectionGet(offset)--> up to 1 MiB; offset 0 is a
 *         download, recorded and audited.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "crypto.h"
#include "err.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#define GET_MAX (1024 * 1024)
#define CHUNK_MAX (4 * 1024 * 1024)

static int uuid_ok(const char *s)
{
    if (strlen(s) != VG_UUID_STR - 1)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-'))
            return 0;
    return 1;
}

int collect_init(struct server *s, char *err, size_t errlen)
{
    const char *d = s->conf->collections_dir;
    if (d && d[0]) {
        snprintf(s->collections_dir, sizeof(s->collections_dir), "%s", d);
    } else {
        const char *slash = strrchr(s->conf->db, '/');
        if (slash)
            snprintf(s->collections_dir, sizeof(s->collections_dir), "%.*s/collections",
                     (int)(slash - s->conf->db), s->conf->db);
        else
            snprintf(s->collections_dir, sizeof(s->collections_dir), "collections");
    }
    if (mkdir(s->collections_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", s->collections_dir, strerror(errno));
        return -errno;
    }
    return 0;
}

static void ack(struct conn *c, const char *id, uint64_t next, int complete, const char *error)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__UploadAck a = VIGIL__V1__UPLOAD_ACK__INIT;
    a.upload_id = (char *)id;
    a.next_offset = next;
    a.complete = complete;
    a.error = (char *)(error ? error : "");
    env.sent_time_ms = vg_time_now_ms();
    env.body_case = VIGIL__V1__ENVELOPE__BODY_UPLOAD_ACK;
    env.upload_ack = &a;
    (void)vg_wire_send(c->tls, &env);
}

struct coll_copy {
    int found;
    int64_t host_id;
    char state[16], path[4200], sha256[VG_SHA256_HEX], name[256];
    uint64_t received, size;
};

static int copy_cb(void *ctx, const struct store_collection *c)
{
    struct coll_copy *x = ctx;
    x->found = 1;
    x->host_id = c->host_id;
    snprintf(x->state, sizeof(x->state), "%s", c->state ? c->state : "");
    snprintf(x->path, sizeof(x->path), "%s", c->path ? c->path : "");
    snprintf(x->sha256, sizeof(x->sha256), "%s", c->sha256 ? c->sha256 : "");
    snprintf(x->name, sizeof(x->name), "%s", c->name ? c->name : "");
    x->received = c->received;
    x->size = c->size;
    return 0;
}

/* The file name an operator sees: letters, digits, '.', '-', '_'. */
static void clean_name(const char *in, const char *id, char *out, size_t len)
{
    size_t n = 0;
    for (; in && *in && n + 1 < len && n < 120; in++)
        out[n++] = (char)((*in >= 'a' && *in <= 'z') || (*in >= 'A' && *in <= 'Z') ||
                                  (*in >= '0' && *in <= '9') || *in == '.' || *in == '-' ||
                                  *in == '_'
                              ? *in
                              : '_');
    out[n] = '\0';
    if (!n || out[0] == '.')
        snprintf(out, len, "triage-%s.tar.lz4", id);
}

static void fail_collection(struct server *s, struct conn *c, const char *id, const char *why)
{
    const char *agent_id = vg_tls_peer(c->tls)->cn;
    char detail[400];
    store_collection_finish(s->store, id, "failed", why, 0, NULL, NULL, vg_time_now_ms());
    snprintf(detail, sizeof(detail), "collection %s: %s", id, why);
    store_audit_append(s->store, conn_who(c), "collection", agent_id, detail, "failed");
    log_warnx("agent %s: collection %s failed: %s", agent_id, id, why);
    ack(c, id, 0, 0, why);
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Completes a collection: size and hash as the agent says, or failed.
 * Returns 1 if the connection must close (a store error: the agent keeps
 * its copy and finishes again later). */
static int finish(struct server *s, struct conn *c, const char *id, struct coll_copy *x,
                  const Vigil__V1__UploadChunk *ch)
{
    char part[4300], final[4300], hex[VG_SHA256_HEX], want[VG_SHA256_HEX], detail[600];
    uint8_t h[VG_SHA256_LEN];
    const char *agent_id = vg_tls_peer(c->tls)->cn, *have;
    int rc;

    snprintf(part, sizeof(part), "%s/%s.part", s->collections_dir, id);
    snprintf(final, sizeof(final), "%s/%s.tar.lz4", s->collections_dir, id);
    /* Renamed already by a finish whose record failed: go on from there. */
    have = access(part, F_OK) == 0 ? part : final;
    if (ch->total_size != x->received) {
        fail_collection(s, c, id, "the agent's size does not match what arrived");
        return 0;
    }
    /* The whole file, as stored (a hash kept across restarts would save
     * this read; packages are bounded by collection_max_size). */
    rc = vg_sha256_file(have, s->conf->collection_max_size, h);
    if (rc == -ENOENT || ch->sha256.len != VG_SHA256_LEN) {
        fail_collection(s, c, id, rc ? "the stored package is gone" : "no SHA-256 given");
        return 0;
    }
    if (rc) {
        log_warnx("agent %s: cannot read %s: %s", agent_id, have, vg_strerror(rc));
        return 1;
    }
    vg_hex(h, sizeof(h), hex);
    vg_hex(ch->sha256.data, VG_SHA256_LEN, want);
    if (strcmp(hex, want) != 0) {
        char why[200];
        snprintf(why, sizeof(why), "SHA-256 mismatch: received %s, the agent made %s", hex, want);
        fail_collection(s, c, id, why);
        return 0;
    }
    if (have == part) {
        if (rename(part, final) != 0) {
            log_warnx("cannot rename %s: %s", part, strerror(errno));
            return 1;
        }
        sync_dir(s->collections_dir);
    }
    if (store_collection_finish(s->store, id, "complete", NULL, x->received, hex, final,
                                vg_time_now_ms()) != 0)
        return 1; /* not acknowledged: the agent keeps its copy */
    snprintf(detail, sizeof(detail), "collection %s received: %llu bytes, sha256 %s", id,
             (unsigned long long)x->received, hex);
    store_audit_append(s->store, conn_who(c), "collection", agent_id, detail, "complete");
    log_info("agent %s: collection %s complete (%llu bytes, sha256 %s)", agent_id, id,
             (unsigned long long)x->received, hex);
    ack(c, id, x->received, 1, NULL);
    return 0;
}

int collect_on_chunk(struct server *s, struct conn *c, const Vigil__V1__UploadChunk *ch)
{
    const char *agent_id = vg_tls_peer(c->tls)->cn;
    struct coll_copy x;
    char part[4300], action[32];
    int64_t cmd_host, now = vg_time_now_ms();
    int st, rc, fd;

    memset(&x, 0, sizeof(x));
    if (!uuid_ok(ch->upload_id) || !uuid_ok(ch->command_id) || ch->data.len > CHUNK_MAX) {
        log_warnx("agent %s: malformed upload chunk; closing", agent_id);
        return 1;
    }
    rc = store_collection_get(s->store, ch->upload_id, copy_cb, &x);
    if (rc < 0)
        return 1;
    if (!x.found) {
        char name[128];
        /* A new collection: one per collect command of this very host,
         * named after it, while the command runs or just succeeded. */
        rc = store_command_info(s->store, ch->command_id, &cmd_host, action, sizeof(action), &st,
                                NULL, NULL);
        if (rc < 0)
            return 1; /* the store: try again later */
        if (rc != 1 || strcmp(ch->upload_id, ch->command_id) != 0 ||
            cmd_host != c->host_id || strcmp(action, "collect") != 0 ||
            st < VIGIL__V1__COMMAND_STATE__COMMAND_STATE_DELIVERED ||
            st > VIGIL__V1__COMMAND_STATE__COMMAND_STATE_SUCCEEDED) {
            char detail[200];
            snprintf(detail, sizeof(detail), "upload %s for command %s, which is not a collect "
                     "command of this host", ch->upload_id, ch->command_id);
            /* A peer may send thousands: the first few logged and audited,
             * the rest summarised. */
            conn_report(c, REPORT_UPLOAD, "collection", agent_id, detail);
            ack(c, ch->upload_id, 0, 0, "no collect command of this host has that id");
            return 0;
        }
        clean_name(ch->name, ch->upload_id, name, sizeof(name));
        snprintf(part, sizeof(part), "%s/%s.part", s->collections_dir, ch->upload_id);
        unlink(part);
        if (store_collection_create(s->store, ch->upload_id, ch->command_id, c->host_id, name,
                                    part, now) != 0)
            return 1;
        {
            int pfd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (pfd < 0)
                return 1;
            close(pfd);
            sync_dir(s->collections_dir);
        }
        log_info("agent %s: collection %s (%s) arriving", agent_id, ch->upload_id, name);
        x.host_id = c->host_id;
        snprintf(x.state, sizeof(x.state), "receiving");
    }
    if (x.host_id != c->host_id) {
        char detail[200];
        snprintf(detail, sizeof(detail), "upload %s, which belongs to another host",
                 ch->upload_id);
        conn_report(c, REPORT_UPLOAD, "collection", agent_id, detail);
        ack(c, ch->upload_id, 0, 0, "that upload belongs to another host");
        return 0;
    }
    if (strcmp(x.state, "complete") == 0) {
        ack(c, ch->upload_id, x.size, 1, NULL);
        return 0;
    }
    if (strcmp(x.state, "receiving") != 0) {
        ack(c, ch->upload_id, 0, 0, "the collector gave up on this upload");
        return 0;
    }
    if (ch->offset != x.received) {
        ack(c, ch->upload_id, x.received, 0, NULL); /* resume from here */
        return 0;
    }
    if (x.received + ch->data.len > s->conf->collection_max_size) {
        fail_collection(s, c, ch->upload_id, "larger than the collector's collection_max_size");
        return 0;
    }
    snprintf(part, sizeof(part), "%s/%s.part", s->collections_dir, ch->upload_id);
    if (ch->data.len) {
        ssize_t w;
        struct stat st2;
        fd = open(part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            log_warnx("cannot open %s: %s", part, strerror(errno));
            return 1;
        }
        /* The file must hold exactly what the record says (a crash can
         * leave it longer, or, after a power loss, shorter). */
        if (fstat(fd, &st2) == 0 && (uint64_t)st2.st_size != x.received) {
            if ((uint64_t)st2.st_size > x.received) {
                if (ftruncate(fd, (off_t)x.received) != 0) {
                    close(fd);
                    return 1;
                }
            } else {
                log_warnx("agent %s: collection %s: %s holds %lld bytes, not %llu; asking "
                          "for the rest again", agent_id, ch->upload_id, part,
                          (long long)st2.st_size, (unsigned long long)x.received);
                close(fd);
                if (store_collection_rewind(s->store, ch->upload_id, (uint64_t)st2.st_size) != 0)
                    return 1;
                ack(c, ch->upload_id, (uint64_t)st2.st_size, 0, NULL);
                return 0;
            }
        }
        w = pwrite(fd, ch->data.data, ch->data.len, (off_t)ch->offset);
        /* Durable before it is acknowledged: the agent drops what is. */
        if (w != (ssize_t)ch->data.len || fdatasync(fd) != 0) {
            log_warnx("cannot write %s: %s", part, strerror(errno));
            close(fd);
            return 1;
        }
        close(fd);
        if (store_collection_chunk(s->store, ch->upload_id, ch->offset, ch->data.len, now) != 0)
            return 1;
        x.received += ch->data.len;
    }
    if (ch->last)
        return finish(s, c, ch->upload_id, &x, ch);
#ifdef VG_TEST_HOOKS
    {
        /* Fault injection, test builds only: drop the connection once,
         * after N chunks are stored (before acknowledging the Nth). */
        static uint64_t stored, drop_at;
        static int dropped;
        const char *e = getenv("VIGIL_TEST_UPLOAD_DROP_AFTER");
        if (e && !dropped && vg_parse_u64(e, 1, UINT64_MAX, &drop_at) == 0 &&
            ++stored >= drop_at) {
            dropped = 1;
            log_warnx("VIGIL_TEST_UPLOAD_DROP_AFTER: dropping agent %s mid-upload at %llu bytes",
                      agent_id, (unsigned long long)x.received);
            return 1;
        }
    }
    {
        /* Test builds only: hold back the acknowledgement of the 6th chunk
         * stored (a window of chunks in flight), and every one after it,
         * until N more events of the agent's are stored, which shows
         * batches are not stuck behind a package: if they were, the
         * upload would never end. */
        static uint64_t chunks;
        static int held;
        uint64_t n;
        const char *e = getenv("VIGIL_TEST_UPLOAD_HOLD_EVENTS");
        if (c->held_events) { /* every later acknowledgement too */
            c->held_next = x.received;
            return 0;
        }
        if (e && !held && vg_parse_u64(e, 1, UINT64_MAX, &n) == 0 && ++chunks == 6) {
            held = 1;
            c->held_events = n;
            vg_strlcpy(c->held_id, ch->upload_id, sizeof c->held_id);
            c->held_next = x.received;
            log_warnx("VIGIL_TEST_UPLOAD_HOLD_EVENTS: holding agent %s's upload at %llu bytes "
                      "until %llu more events are stored",
                      agent_id, (unsigned long long)x.received, (unsigned long long)n);
            return 0;
        }
    }
#endif
    ack(c, ch->upload_id, x.received, 0, NULL);
    return 0;
}

#ifdef VG_TEST_HOOKS
void collect_test_events_stored(struct conn *c, uint64_t n)
{
    if (!c->held_events)
        return;
    if (n < c->held_events) {
        c->held_events -= n;
        return;
    }
    c->held_events = 0;
    log_warnx("VIGIL_TEST_UPLOAD_HOLD_EVENTS: events stored during the upload; "
              "acknowledging %llu bytes", (unsigned long long)c->held_next);
    ack(c, c->held_id, c->held_next, 0, NULL);
}
#endif

/* ---- operators ---- */

struct list_ctx {
    struct server *s;
    Vigil__V1__CollectionInfo **v;
    size_t n, cap;
    int oom;
};

struct dl_ctx {
    Vigil__V1__CollectionInfo *m;
    int oom;
};

static int dl_cb(void *ctx, const char *op, const char *peer, int64_t t)
{
    struct dl_ctx *x = ctx;
    Vigil__V1__CollectionDownload *d, **nv;
    nv = realloc(x->m->downloads, (x->m->n_downloads + 1) * sizeof(*nv));
    if (!nv || !(d = calloc(1, sizeof(*d)))) {
        if (nv)
            x->m->downloads = nv;
        x->oom = 1;
        return 1;
    }
    x->m->downloads = nv;
    vigil__v1__collection_download__init(d);
    d->operator_ = strdup(op ? op : "");
    d->peer = strdup(peer ? peer : "");
    d->time_ms = t;
    x->m->downloads[x->m->n_downloads++] = d;
    return 0;
}

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

static int list_cb(void *ctx, const struct store_collection *c)
{
    struct list_ctx *x = ctx;
    Vigil__V1__CollectionInfo *m, **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
    if (!nv)
        return 1;
    x->v = nv;
    if (!(m = calloc(1, sizeof(*m)))) {
        x->oom = 1;
        return 1;
    }
    vigil__v1__collection_info__init(m);
    m->collection_id = dup0(c->id);
    m->command_id = dup0(c->command_id);
    m->agent_id = dup0(c->agent_id);
    m->hostname = dup0(c->hostname);
    m->name = dup0(c->name);
    m->operator_ = dup0(c->operator_name);
    m->reason = dup0(c->reason);
    m->requested_time_ms = c->requested_ms;
    m->started_time_ms = c->started_ms;
    m->completed_time_ms = c->completed_ms;
    m->size = c->size;
    m->received = c->received;
    m->sha256 = dup0(c->sha256);
    m->state = dup0(c->state);
    m->error = dup0(c->error);
    m->chunks = c->chunks;
    x->v[x->n++] = m;
    return 0;
}

int collect_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                 Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__CollectionsQuery *q = req->collections;
    struct list_ctx x = { s, NULL, 0, 0, 0 };
    Vigil__V1__CollectionsResult *r = calloc(1, sizeof(*r));
    int rc;

    (void)op;
    if (!r) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__collections_result__init(r);
    rc = store_collections(s->store, q->agent_id[0] ? q->agent_id : NULL,
                           q->collection_id[0] ? q->collection_id : NULL,
                           q->command_id[0] ? q->command_id : NULL, list_cb, &x);
    /* Downloads, once the listing statement is done. */
    for (size_t i = 0; rc == 0 && i < x.n; i++) {
        struct dl_ctx d = { x.v[i], 0 };
        store_collection_downloads(s->store, x.v[i]->collection_id, dl_cb, &d);
        x.oom |= d.oom;
    }
    r->collections = x.v;
    r->n_collections = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTIONS;
    resp->collections = r;
    if (rc < 0 || x.oom)
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "the collector could not read its store; see its log");
    else
        resp->ok = 1;
    return 0;
}

/* Who fetched which package lately: a request for a later part is a
 * download too unless the same operator fetched that package within
 * 10 min (the parts of one download), so no part is served unrecorded. */
static int seen_recently(struct conn *op, const char *id)
{
    static struct { char key[VG_UUID_STR + VG_CERT_NAME_MAX + 2]; uint64_t ms; } seen[64];
    static unsigned next;
    char key[sizeof(seen[0].key)];
    uint64_t now = vg_time_mono_ms();

    snprintf(key, sizeof(key), "%s/%s", id, vg_tls_peer(op->tls)->cn);
    for (size_t i = 0; i < VG_ARRAY_SIZE(seen); i++) {
        if (strcmp(seen[i].key, key) == 0 && now - seen[i].ms < 600000) {
            seen[i].ms = now;
            return 1;
        }
    }
    snprintf(seen[next].key, sizeof(seen[next].key), "%s", key);
    seen[next].ms = now;
    next = (next + 1) % VG_ARRAY_SIZE(seen);
    return 0;
}

int collect_get(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__CollectionGet *g = req->collection_get;
    struct coll_copy x;
    Vigil__V1__CollectionData *d;
    uint32_t want = g->max_bytes && g->max_bytes < GET_MAX ? g->max_bytes : GET_MAX;
    uint8_t *buf = NULL;
    ssize_t n = 0;
    int fd;

    memset(&x, 0, sizeof(x));
    if (!uuid_ok(g->collection_id) ||
        store_collection_get(s->store, g->collection_id, copy_cb, &x) != 1) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND,
                   "no such collection (see vigilctl collections)");
        return 0;
    }
    if (strcmp(x.state, "complete") != 0) {
        char msg[120];
        snprintf(msg, sizeof(msg), "the collection is %s, not complete", x.state);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE, msg);
        return 0;
    }
    if (g->offset > x.size) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST, "offset past the end");
        return 0;
    }
    if (!seen_recently(op, g->collection_id) || g->offset == 0) {
        /* A download begins (or parts are fetched without its start):
         * custody. */
        const struct vg_cert_info *p = vg_tls_peer(op->tls);
        char who[160], detail[300];
        snprintf(who, sizeof(who), "%s %s", vg_role_name(p->role), p->cn);
        snprintf(detail, sizeof(detail), "collection %s (%llu bytes, sha256 %s) downloaded",
                 g->collection_id, (unsigned long long)x.size, x.sha256);
        if (store_collection_download(s->store, g->collection_id, who,
                                      vg_tls_peer_addr(op->tls), vg_time_now_ms()) != 0 ||
            store_audit_append(s->store, conn_who(op), "download", g->collection_id, detail,
                               "served") != 0) {
            resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                       "the download could not be recorded, so it is not served");
            return 0;
        }
    }
    if (x.size - g->offset < want)
        want = (uint32_t)(x.size - g->offset);
    fd = open(x.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !(buf = malloc(want ? want : 1)) ||
        (want && (n = pread(fd, buf, want, (off_t)g->offset)) != (ssize_t)want)) {
        if (fd >= 0)
            close(fd);
        free(buf);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL,
                   "cannot read the stored package; see the collector's log");
        log_warnx("cannot read %s", x.path);
        return 0;
    }
    close(fd);
    if (!(d = calloc(1, sizeof(*d)))) {
        free(buf);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__collection_data__init(d);
    d->collection_id = dup0(g->collection_id);
    d->offset = g->offset;
    d->data.data = buf;
    d->data.len = (size_t)n;
    d->total_size = x.size;
    d->sha256 = dup0(x.sha256);
    d->name = dup0(x.name);
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTION_DATA;
    resp->collection_data = d;
    resp->ok = 1;
    return 0;
}

void collect_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTIONS &&
        resp->collections) {
        for (size_t i = 0; i < resp->collections->n_collections; i++) {
            Vigil__V1__CollectionInfo *m = resp->collections->collections[i];
            for (size_t k = 0; k < m->n_downloads; k++) {
                free(m->downloads[k]->operator_);
                free(m->downloads[k]->peer);
                free(m->downloads[k]);
            }
            free(m->downloads);
            free(m->collection_id);
            free(m->command_id);
            free(m->agent_id);
            free(m->hostname);
            free(m->name);
            free(m->operator_);
            free(m->reason);
            free(m->sha256);
            free(m->state);
            free(m->error);
            free(m);
        }
        free(resp->collections->collections);
        free(resp->collections);
    } else if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_COLLECTION_DATA &&
               resp->collection_data) {
        free(resp->collection_data->collection_id);
        free(resp->collection_data->data.data);
        free(resp->collection_data->sha256);
        free(resp->collection_data->name);
        free(resp->collection_data);
    }
}

static int old_cb(void *ctx, const char *id, const char *path)
{
    struct server *s = ctx;
    char detail[200];
    if (path[0])
        unlink(path);
    store_collection_finish(s->store, id, "expired", "deleted by retention", 0, NULL, NULL,
                            vg_time_now_ms());
    snprintf(detail, sizeof(detail), "collection %s deleted: older than "
             "[retention] collections_max_age", id);
    store_audit_append(s->store, "collector", "retention", id, detail, "deleted");
    return 0;
}

void collect_retention(struct server *s)
{
    store_collections_old(s->store, vg_time_now_ms() - (int64_t)s->conf->collection_max_age_ms,
                          old_cb, s);
}
