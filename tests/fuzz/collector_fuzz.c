/* The collector set up for its fuzz harnesses (collector_fuzz.h). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "collector_fuzz.h"
#include "crypto.h"
#include "log.h"
#include "pb.h"
#include "../../collector/store.h"
#include "util.h"

static struct server srv;
static struct collector_conf conf;
static int ready;
static char dir[256];
static uint64_t serials;

static void die(const char *what, const char *err)
{
    fprintf(stderr, "collector fuzz set-up: %s: %s\n", what, err);
    abort();
}

static char *path(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return strdup(p);
}

/* A CA for enrollment and a collector certificate (release tokens are
 * signed with it), as files where the configuration names them. */
static void pki(void)
{
    struct vg_key *cak = NULL, *k = NULL;
    struct vg_cert_req r;
    char *pem = NULL;
    FILE *f;

    memset(&r, 0, sizeof(r));
    r.cn = "Fuzz CA";
    r.is_ca = 1;
    r.not_before_ms = vg_time_now_ms() - 3600000;
    r.not_after_ms = vg_time_now_ms() + 10 * 365 * 86400000LL;
    if (vg_key_generate(&cak) || vg_cert_issue(&r, cak, NULL, cak, &pem))
        die("pki", "cannot make the CA");
    if (!(f = fopen(conf.ca, "w")) || fputs(pem, f) < 0 || fclose(f))
        die("pki", conf.ca);
    free(pem);
    if (vg_cert_load(conf.ca, &srv.enroll_ca))
        die("pki", "cannot load the CA");
    srv.enroll_ca_key = cak;
    memset(&r, 0, sizeof(r));
    r.cn = "collector";
    r.role = VG_ROLE_COLLECTOR;
    r.not_before_ms = vg_time_now_ms() - 3600000;
    r.not_after_ms = vg_time_now_ms() + 365 * 86400000LL;
    if (vg_key_generate(&k) || vg_cert_issue(&r, k, srv.enroll_ca, cak, &pem))
        die("pki", "cannot issue the collector's certificate");
    if (!(f = fopen(conf.cert, "w")) || fputs(pem, f) < 0 || fclose(f))
        die("pki", conf.cert);
    free(pem);
    if (vg_key_save(k, conf.key, 1))
        die("pki", conf.key);
    vg_key_free(k);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* The temporary directory goes at exit (not after a crash: it helps). */
static void cleanup(void)
{
    if (srv.store)
        store_close(srv.store);
    srv.store = NULL;
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

struct server *fz_server(void)
{
    char err[512];
    const char *tmp = getenv("TMPDIR");
    uint8_t h[VG_SHA256_LEN];
    char hash[VG_SHA256_HEX];

    if (ready)
        return &srv;
    vg_log_init("fuzz", 0, getenv("FZ_LOG") ? VG_LOG_DEBUG : VG_LOG_ERROR);
    snprintf(dir, sizeof(dir), "%s/vg-fuzz-collector-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    atexit(cleanup);
    memset(&conf, 0, sizeof(conf));
    if (vg_conf_defaults(collector_conf_keys, &conf))
        die("configuration", "defaults");
    free(conf.db);
    conf.db = path("vigil.db");
    free(conf.ca);
    conf.ca = path("ca.crt");
    free(conf.cert);
    conf.cert = path("collector.crt");
    free(conf.key);
    conf.key = path("collector.key");
    conf.sync = 1;
    if (conf.collection_max_size > (64u << 20))
        conf.collection_max_size = 64u << 20;
    memset(&srv, 0, sizeof(srv));
    srv.loop = uv_default_loop();
    srv.conf = &conf;
    srv.rl_refuse = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 20);
    srv.rl_frame = (struct vg_ratelimit)VG_RATELIMIT_INIT(10000, 20);
    vg_frame_limits_default(&srv.limits);
    srv.limits.max_wire = (uint32_t)conf.max_frame;
    srv.enroll_limits.max_wire = 16 * 1024;
    srv.enroll_limits.max_raw = 16 * 1024;
    if (store_open(conf.db, 0, &srv.store, err, sizeof(err)))
        die("store", err);
    if (collect_init(&srv, err, sizeof(err)))
        die("collections", err);
    if (report_init(&srv, err, sizeof(err)))
        die("reports", err);
    if (store_revoked(srv.store, conn_revoked_add, &srv))
        die("store", "revoked serials");
    pki();
    srv.enroll_on = 1;
    vg_sha256(FZ_TOKEN, strlen(FZ_TOKEN), h);
    vg_hex(h, sizeof(h), hash);
    srv.enroll_addr.window_ms = 60000;
    srv.enroll_addr.max = ENROLL_ADDR_MAX_FAILURES;
    srv.enroll_global = (struct vg_bucket)VG_BUCKET_INIT(60000, ENROLL_MAX_FAILURES);
    if (store_token_add(srv.store, hash, NULL, "fuzz", "admin fz", vg_time_now_ms(),
                        vg_time_now_ms() + 365 * 86400000LL, UINT32_MAX))
        die("store", "enrollment token");
    ready = 1;
    return &srv;
}

struct conn *fz_conn(enum vg_role role, const char *cn, enum conn_kind kind)
{
    struct server *s = fz_server();
    struct conn *c = calloc(1, sizeof(*c));
    char addr[64];

    if (!c)
        abort();
    serials++;
    /* A new address now and then: enrollment counts bad tokens per address. */
    snprintf(addr, sizeof(addr), "192.0.2.%u:%u", (unsigned)(serials / 8 % 250) + 1,
             (unsigned)(40000 + serials % 20000));
    c->srv = s;
    c->tls = fz_tls_new(role, cn, addr);
    vg_tls_set_data(c->tls, c);
    c->kind = kind;
    c->serial = serials;
    c->accept_ms = c->ready_ms = c->last_rx_ms = vg_time_mono_ms();
    vg_frame_reader_init(&c->rd, kind == CONN_ENROLL ? &s->enroll_limits : &s->limits);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}

void fz_conn_drop(struct conn *c)
{
    struct server *s = c->srv;

    if (c->hello_done) {
        conn_agent_remove(s, c);
        store_disconnect(s->store, c->host_id, vg_time_now_ms(), c->hello_ms);
    }
    for (size_t i = 0; i < s->npend; i++)
        if (s->pend[i].c == c)
            s->pend[i].c = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    vg_frame_reader_free(&c->rd);
    fz_tls_free(c->tls);
    free(c);
}

Vigil__V1__Envelope *fz_decode(const char *body, const uint8_t *data, size_t len)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(&vigil__v1__envelope__descriptor, body);
    struct vg_buf b;
    ProtobufCMessage *m = NULL;
    int rc;

    if (!f)
        die("no Envelope field", body);
    vg_buf_init(&b, len + 16);
    rc = vg_pb_put_bytes(&b, f->id, data, len);
    if (rc == 0)
        rc = vg_pb_unpack(&vigil__v1__envelope__descriptor, b.data, b.len, &m);
    vg_buf_free(&b);
    if (rc)
        return NULL;
    return (Vigil__V1__Envelope *)m;
}

int fz_hello(struct conn *c)
{
    Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
    static uint64_t streams;
    uint8_t epoch[16] = { 0xfa, 0x22 };
    uint8_t buf[256];
    size_t n;
    Vigil__V1__Envelope *env;

    /* A new stream each time: no batch is taken for a resend. */
    streams++;
    memcpy(epoch + 8, &streams, sizeof(streams));

    h.protocol_version = 1;
    h.agent_id = FZ_AGENT;
    h.hostname = "fuzz-host";
    h.software_version = "0.0.0";
    h.stream_epoch.data = epoch;
    h.stream_epoch.len = sizeof(epoch);
    n = vigil__v1__hello__pack(&h, buf);
    if (!(env = fz_decode("hello", buf, n)))
        die("hello", "does not decode");
    server_on_env(c, env);
    return c->hello_done ? 0 : -1;
}

void fz_command(const char *action, char id[VG_UUID_STR])
{
    struct server *s = fz_server();
    Vigil__V1__Command cmd = VIGIL__V1__COMMAND__INIT;
    Vigil__V1__IsolateAction ia = VIGIL__V1__ISOLATE_ACTION__INIT;
    Vigil__V1__ReleaseAction ra = VIGIL__V1__RELEASE_ACTION__INIT;
    Vigil__V1__CollectAction ca = VIGIL__V1__COLLECT_ACTION__INIT;
    struct store_command sc;
    int64_t now = vg_time_now_ms(), host_id;
    uint8_t body[512];
    size_t len;

    if (store_host_find(s->store, FZ_AGENT, &host_id, NULL, 0) != 1)
        die("command", "the agent has no host row (no hello yet)");
    vg_uuid4(id);
    cmd.command_id = id;
    cmd.operator_ = "admin fz";
    cmd.reason = "fuzz";
    cmd.issued_time_ms = now;
    cmd.expires_time_ms = now + 3600000;
    if (strcmp(action, "isolate") == 0) {
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_ISOLATE;
        cmd.isolate = &ia;
    } else if (strcmp(action, "release") == 0) {
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_RELEASE;
        cmd.release = &ra;
    } else {
        ca.max_bytes = 1 << 20;
        ca.max_seconds = 60;
        cmd.action_case = VIGIL__V1__COMMAND__ACTION_COLLECT;
        cmd.collect = &ca;
    }
    len = vigil__v1__command__pack(&cmd, body);
    memset(&sc, 0, sizeof(sc));
    sc.id = id;
    sc.host_id = host_id;
    sc.action = action;
    sc.operator_name = "admin fz";
    sc.reason = "fuzz";
    sc.detail = "";
    sc.issued_ms = now;
    sc.expires_ms = cmd.expires_time_ms;
    if (store_command_add(s->store, &sc, body, len) != 0 ||
        store_command_delivered(s->store, id, now) < 0)
        die("command", "store");
}

void fz_placeholder(char *s, const char *id)
{
    if (s && strcmp(s, FZ_CMD_PLACEHOLDER) == 0)
        memcpy(s, id, strlen(FZ_CMD_PLACEHOLDER));
}

void fz_command_finish(struct conn *agent, const char *id)
{
    char action[32];
    /* Unfinished commands are sent again at every hello: without this,
     * each run would deliver all those of the runs before it. */
    (void)store_command_update(agent->srv->store, agent->host_id, id,
                               VIGIL__V1__COMMAND_STATE__COMMAND_STATE_FAILED, "fuzz run over",
                               vg_time_now_ms(), action, sizeof(action));
}
