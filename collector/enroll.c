/*
 * Enrollment: agents without a certificate get one with a token.
 *
 *   vigilctl enroll-token create (admin) -> a random token, shown once;
 *       the store keeps its SHA-256, label, expiry, uses.
 *   agent --TLS, server authentication only, on [enroll] listen-->
 *       EnrollRequest{token, CSR} -> token checked (known, not revoked,
 *       not expired, not used up), CSR checked (signed by its own EC
 *       P-256 key) -> a certificate for a new agent id (a UUID; the CSR's
 *       subject is ignored), role agent, signed with [enroll] ca_key ->
 *       EnrollResponse -> closed.  Recorded and audited.
 *
 * Bad tokens are logged and audited at a rate-limited pace, and an
 * address that keeps sending them is refused for a minute.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "crypto.h"
#include "err.h"
#include "pb.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#define TOKEN_BYTES 20 /* 160 bits */
#define TOKEN_PREFIX "vge1-"
#define BAD_PER_MINUTE 10

static void token_hash(const char *token, char out[VG_SHA256_HEX])
{
    uint8_t h[VG_SHA256_LEN];
    vg_sha256(token, strlen(token), h);
    vg_hex(h, sizeof(h), out);
}

/* ---- operator requests ---- */

static Vigil__V1__EnrollTokenInfo *token_msg(const struct store_token *t)
{
    Vigil__V1__EnrollTokenInfo *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    vigil__v1__enroll_token_info__init(m);
    m->id = strndup(t->hash ? t->hash : "", 12);
    m->token = strdup("");
    m->label = strdup(t->label ? t->label : "");
    m->created_by = strdup(t->created_by ? t->created_by : "");
    m->created_time_ms = t->created_ms;
    m->expires_time_ms = t->expires_ms;
    m->max_uses = t->max_uses;
    m->uses = t->uses;
    m->revoked_time_ms = t->revoked_ms;
    return m;
}

static void token_msg_free(Vigil__V1__EnrollTokenInfo *m)
{
    if (!m)
        return;
    free(m->id);
    if (m->token)
        vg_zeroize(m->token, strlen(m->token));
    free(m->token);
    free(m->label);
    free(m->created_by);
    free(m);
}

static int found_cb(void *ctx, const struct store_token *t)
{
    Vigil__V1__EnrollTokenInfo **out = ctx;
    *out = token_msg(t);
    return 0;
}

int enroll_token_create(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                        Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__EnrollTokenCreate *r = req->enroll_token_create;
    uint8_t raw[TOKEN_BYTES];
    char token[sizeof(TOKEN_PREFIX) + 2 * TOKEN_BYTES], hash[VG_SHA256_HEX], by[160], detail[300];
    const struct vg_cert_info *p = vg_tls_peer(op->tls);
    Vigil__V1__EnrollTokenInfo *m = NULL;
    int64_t now = vg_time_now_ms();
    int64_t ttl = r->ttl_ms > 0 ? r->ttl_ms : 24LL * 3600 * 1000;
    uint32_t uses = r->max_uses ? r->max_uses : 1;

    if (vg_random(raw, sizeof(raw)) != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "no randomness");
        return 0;
    }
    memcpy(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
    vg_hex(raw, sizeof(raw), token + sizeof(TOKEN_PREFIX) - 1);
    vg_zeroize(raw, sizeof(raw));
    token_hash(token, hash);
    snprintf(by, sizeof(by), "%s %s", vg_role_name(p->role), p->cn);
    snprintf(detail, sizeof(detail), "token %.12s (%.100s), %u use%s, valid %lld s", hash,
             r->label, uses, uses == 1 ? "" : "s", (long long)(ttl / 1000));
    if (store_token_add(s->store, hash, r->label, by, now, now + ttl, uses) != 0 ||
        store_audit_append(s->store, conn_who(op), "enroll-token create", "", detail,
                           "created") != 0 ||
        store_token_find(s->store, hash, found_cb, &m) != 1 || !m) {
        vg_zeroize(token, sizeof(token));
        token_msg_free(m);
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE,
                   "the collector could not store the token");
        return 0;
    }
    free(m->token);
    m->token = strdup(token);
    vg_zeroize(token, sizeof(token));
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ENROLL_TOKEN;
    resp->enroll_token = m;
    resp->ok = 1;
    return 0;
}

struct list_ctx {
    Vigil__V1__EnrollTokenInfo **v;
    size_t n, cap;
    int oom;
};

static int list_cb(void *ctx, const struct store_token *t)
{
    struct list_ctx *x = ctx;
    Vigil__V1__EnrollTokenInfo **nv = resp_grow(x->v, &x->cap, x->n, sizeof(*nv), &x->oom);
    if (!nv)
        return 1;
    x->v = nv;
    if (!(x->v[x->n] = token_msg(t))) {
        x->oom = 1;
        return 1;
    }
    x->n++;
    return 0;
}

int enroll_token_list(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                      Vigil__V1__OperatorResponse *resp)
{
    struct list_ctx x = { NULL, 0, 0, 0 };
    Vigil__V1__EnrollTokens *r;

    (void)op;
    (void)req;
    if (!(r = calloc(1, sizeof(*r)))) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return 0;
    }
    vigil__v1__enroll_tokens__init(r);
    if (store_tokens(s->store, list_cb, &x) != 0)
        x.oom = 1;
    r->tokens = x.v;
    r->n_tokens = x.n;
    resp->response_case = VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ENROLL_TOKENS;
    resp->enroll_tokens = r;
    if (x.oom)
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "cannot list the tokens");
    else
        resp->ok = 1;
    return 0;
}

int enroll_token_revoke(struct server *s, struct conn *op, const Vigil__V1__OperatorRequest *req,
                        Vigil__V1__OperatorResponse *resp)
{
    const Vigil__V1__EnrollTokenRevoke *r = req->enroll_token_revoke;
    char key[VG_SHA256_HEX], detail[200];
    int n;

    /* The token itself, or its id (12+ hex digits of its hash). */
    if (strncmp(r->id, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1) == 0)
        token_hash(r->id, key);
    else
        vg_strlcpy(key, r->id, sizeof(key));
    if (strlen(key) < 12 || strspn(key, "0123456789abcdef") != strlen(key)) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_BAD_REQUEST,
                   "give a token id as listed (12 hex digits) or the token");
        return 0;
    }
    n = store_token_revoke(s->store, key, vg_time_now_ms());
    if (n <= 0) {
        resp_error(resp, n < 0 ? VIGIL__V1__ERROR__CODE__CODE_UNAVAILABLE
                              : VIGIL__V1__ERROR__CODE__CODE_NOT_FOUND,
                  n < 0 ? "the store failed" : "no unrevoked token has that id");
        return 0;
    }
    snprintf(detail, sizeof(detail), "token %.12s revoked", key);
    store_audit_append(s->store, conn_who(op), "enroll-token revoke", "", detail, "revoked");
    resp->ok = 1;
    return 0;
}

void enroll_free_response(Vigil__V1__OperatorResponse *resp)
{
    if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ENROLL_TOKEN) {
        token_msg_free(resp->enroll_token);
    } else if (resp->response_case == VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_ENROLL_TOKENS &&
               resp->enroll_tokens) {
        for (size_t i = 0; i < resp->enroll_tokens->n_tokens; i++)
            token_msg_free(resp->enroll_tokens->tokens[i]);
        free(resp->enroll_tokens->tokens);
        free(resp->enroll_tokens);
    }
}

/* Certificates start a little in the past, for clocks behind ours: 5 min,
 * or a tenth of a short lifetime (renewal is due at two thirds of it). */
static int64_t backdate(const struct server *s)
{
    int64_t tenth = (int64_t)s->conf->enroll_lifetime_ms / 10;
    return tenth < 300000 ? tenth : 300000;
}

/* Signs an agent certificate for cn (role agent, whatever the request
 * asked) with the request's public key, which it frees.  Returns 0 with
 * *pem and *info set, or an error. */
static int issue(const struct server *s, struct vg_key *pub, const char *cn, char **pem,
                 struct vg_cert_info *info)
{
    struct vg_cert_req req;
    struct vg_cert *issued = NULL;
    int64_t now = vg_time_now_ms();
    int rc;

    memset(&req, 0, sizeof(req));
    req.cn = cn;
    req.role = VG_ROLE_AGENT;
    req.not_before_ms = now - backdate(s);
    req.not_after_ms = now + (int64_t)s->conf->enroll_lifetime_ms;
    rc = vg_cert_issue(&req, pub, s->enroll_ca, s->enroll_ca_key, pem);
    vg_key_free(pub);
    if (rc == 0 && (vg_cert_parse((uint8_t *)*pem, strlen(*pem) + 1, &issued) ||
                    vg_cert_info(issued, info)))
        rc = VG_ECERT;
    vg_cert_free(issued);
    if (rc) {
        free(*pem);
        *pem = NULL;
    }
    return rc;
}

/* The issued certificate, followed by the intermediate that signed it
 * (if any): the agent sends both in its handshakes.  Takes pem. */
static char *with_chain(const struct server *s, char *pem)
{
    size_t a, b;
    char *out;
    if (!pem || !s->enroll_chain)
        return pem;
    a = strlen(pem);
    b = strlen(s->enroll_chain);
    if (!(out = realloc(pem, a + b + 2)))
        return pem;
    if (a && out[a - 1] != '\n')
        out[a++] = '\n';
    memcpy(out + a, s->enroll_chain, b + 1);
    return out;
}

/* ---- the enrollment endpoint ---- */


/* Addresses that sent bad tokens lately. */
static struct { char addr[64]; uint64_t since; unsigned bad; } badlist[128];

static unsigned *bad_count(const char *peer, int create)
{
    char addr[64];
    const char *colon = strrchr(peer, ':');
    uint64_t now = vg_time_mono_ms();
    size_t oldest = 0;
    snprintf(addr, sizeof(addr), "%.*s", colon ? (int)(colon - peer) : (int)strlen(peer), peer);
    for (size_t i = 0; i < VG_ARRAY_SIZE(badlist); i++) {
        if (strcmp(badlist[i].addr, addr) == 0) {
            if (now - badlist[i].since > 60000) {
                badlist[i].since = now;
                badlist[i].bad = 0;
            }
            return &badlist[i].bad;
        }
        if (badlist[i].since < badlist[oldest].since)
            oldest = i;
    }
    if (!create)
        return NULL;
    snprintf(badlist[oldest].addr, sizeof(badlist[oldest].addr), "%s", addr);
    badlist[oldest].since = now;
    badlist[oldest].bad = 0;
    return &badlist[oldest].bad;
}

static void respond(struct conn *c, int ok, const char *error, const char *agent_id,
                    const char *cert, const char *ca)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__EnrollResponse r = VIGIL__V1__ENROLL_RESPONSE__INIT;
    ProtobufCBinaryData cad;
    r.ok = ok;
    r.error = (char *)(error ? error : "");
    r.agent_id = (char *)(agent_id ? agent_id : "");
    if (cert) {
        r.cert_der.data = (uint8_t *)cert;
        r.cert_der.len = strlen(cert) + 1; /* PEM, NUL included */
    }
    if (ca) {
        cad.data = (uint8_t *)ca;
        cad.len = strlen(ca) + 1;
        r.ca_der = &cad;
        r.n_ca_der = 1;
    }
    env.body_case = VIGIL__V1__ENVELOPE__BODY_ENROLL_RESPONSE;
    env.enroll_response = &r;
    (void)vg_wire_send(c->tls, &env);
    vg_tls_close(c->tls, ok ? "enrolled" : "enrollment refused");
    c->closing = 1;
}

struct tok {
    int found;
    char label[128];
    int64_t expires_ms, revoked_ms;
    uint32_t max_uses, uses;
};

static int tok_cb(void *ctx, const struct store_token *t)
{
    struct tok *x = ctx;
    x->found = 1;
    snprintf(x->label, sizeof(x->label), "%s", t->label ? t->label : "");
    x->expires_ms = t->expires_ms;
    x->revoked_ms = t->revoked_ms;
    x->max_uses = t->max_uses;
    x->uses = t->uses;
    return 0;
}

static void refuse_enroll(struct server *s, struct conn *c, const char *why, int bad_token)
{
    uint64_t sup;
    const char *peer = vg_tls_peer_addr(c->tls);
    if (bad_token) {
        unsigned *n = bad_count(peer, 1);
        if (n)
            (*n)++;
    }
    s->refused++;
    if (vg_ratelimit(&s->rl_refuse, &sup)) {
        log_warnx("enrollment from %s refused: %s", peer, why);
        store_audit_append(s->store, peer, "enroll", "", why, "refused");
    }
    respond(c, 0, why, NULL, NULL, NULL);
}

static void on_request(struct server *s, struct conn *c, const Vigil__V1__EnrollRequest *r)
{
    const char *peer = vg_tls_peer_addr(c->tls);
    char hash[VG_SHA256_HEX], why[300], id[VG_UUID_STR], detail[600];
    struct tok t;
    struct vg_key *pub = NULL;
    struct vg_cert_info info;
    char *pem = NULL, *ca = NULL;
    size_t calen;
    int64_t now = vg_time_now_ms();
    unsigned *bad = bad_count(peer, 0);
    int rc;

    memset(&t, 0, sizeof(t));
    if (bad && *bad >= BAD_PER_MINUTE) {
        refuse_enroll(s, c, "too many bad enrollment tokens from this address; wait a minute",
                      0);
        return;
    }
    if (!r->token[0]) {
        refuse_enroll(s, c, "no enrollment token given ([enroll] token or token_file)", 1);
        return;
    }
    token_hash(r->token, hash);
    rc = store_token_find(s->store, hash, tok_cb, &t);
    if (rc < 0) {
        respond(c, 0, "the collector's store is unavailable; try again later", NULL, NULL, NULL);
        return;
    }
    if (rc == 0) {
        refuse_enroll(s, c, "unknown enrollment token (mistyped, or not made by this "
                            "collector)", 1);
        return;
    }
    if (t.revoked_ms) {
        refuse_enroll(s, c, "the enrollment token was revoked; ask for a new one", 1);
        return;
    }
    if (t.expires_ms <= now) {
        char tm[VG_TIME_STR_MAX];
        snprintf(why, sizeof(why), "the enrollment token expired at %s; ask for a new one",
                 vg_time_format(t.expires_ms, tm, sizeof(tm)));
        refuse_enroll(s, c, why, 1);
        return;
    }
    if (t.uses >= t.max_uses) {
        snprintf(why, sizeof(why), "the enrollment token is used up (%u of %u enrollments); "
                 "ask for a new one", t.uses, t.max_uses);
        refuse_enroll(s, c, why, 1);
        return;
    }
    rc = vg_csr_public_key(r->csr_der.data, r->csr_der.len, &pub);
    if (rc) {
        refuse_enroll(s, c, rc == -EINVAL ? "the certificate request's key is not EC P-256"
                                          : "the certificate request is malformed or not "
                                            "signed by its own key", 0);
        return;
    }
    /* The agent id is ours to give; the role is agent, whatever was asked. */
    vg_uuid4(id);
    rc = issue(s, pub, id, &pem, &info);
    if (rc || vg_file_read(s->conf->ca, 1024 * 1024, &ca, &calen)) {
        log_warnx("enrollment from %s: cannot issue a certificate (%s)", peer, vg_strerror(rc));
        respond(c, 0, "the collector could not issue a certificate; see its log", NULL, NULL,
                NULL);
        goto out;
    }
    snprintf(detail, sizeof(detail), "agent %s enrolled from %s with token %.12s (%s); "
             "certificate serial %s, hostname %.100s", id, peer, hash, t.label, info.serial,
             r->hostname);
    /* The use, the record and the audit entry commit together. */
    rc = store_begin(s->store);
    if (rc == 0)
        rc = store_token_use(s->store, hash, now) == 1 ? 0 : -EAGAIN;
    if (rc == 0)
        rc = store_enrollment_add(s->store, id, hash, t.label, now, peer, r->hostname,
                                  r->machine_id, info.serial);
    if (rc == 0)
        rc = store_audit_append(s->store, peer, "enroll", id, detail, "enrolled");
    if (rc == 0)
        rc = store_commit(s->store);
    else
        store_rollback(s->store);
    if (rc) {
        respond(c, 0, rc == -EAGAIN ? "the enrollment token was just used up"
                                    : "the collector's store is unavailable; try again later",
                NULL, NULL, NULL);
        goto out;
    }
    log_info("enrolled agent %s from %s (%.100s) with token %.12s (%s)", id, peer, r->hostname,
             hash, t.label);
    pem = with_chain(s, pem);
    respond(c, 1, NULL, id, pem, ca);
out:
    free(pem);
    free(ca);
}

int enroll_on_env(struct server *s, struct conn *c, Vigil__V1__Envelope *env)
{
    if (env->body_case == VIGIL__V1__ENVELOPE__BODY_ENROLL_REQUEST)
        on_request(s, c, env->enroll_request);
    else
        respond(c, 0, "this port takes enrollment requests only", NULL, NULL, NULL);
    vg_pb_free(&env->base);
    return 1;
}

/* ---- renewal ---- */

static void renew_respond(struct conn *c, int ok, const char *error, const char *pem)
{
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__RenewResponse r = VIGIL__V1__RENEW_RESPONSE__INIT;
    r.ok = ok;
    r.error = (char *)(error ? error : "");
    if (pem) {
        r.cert_der.data = (uint8_t *)pem;
        r.cert_der.len = strlen(pem) + 1;
    }
    env.body_case = VIGIL__V1__ENVELOPE__BODY_RENEW_RESPONSE;
    env.renew_response = &r;
    (void)vg_wire_send(c->tls, &env);
}

void enroll_on_renew(struct server *s, struct conn *c, const Vigil__V1__RenewRequest *r)
{
    const struct vg_cert_info *p = vg_tls_peer(c->tls);
    struct vg_key *pub = NULL;
    struct vg_cert_info info;
    char *pem = NULL, detail[400];
    int64_t now = vg_time_now_ms();
    int rc;

    if (p->not_after_ms < now) {
        renew_respond(c, 0, "this connection's certificate has expired; enroll again", NULL);
        return;
    }
    if (!s->enroll_ca_key) {
        renew_respond(c, 0, "this collector does not issue certificates ([enroll] ca_key is "
                            "not set); renew this agent's certificate by hand", NULL);
        return;
    }
    rc = vg_csr_public_key(r->csr_der.data, r->csr_der.len, &pub);
    if (rc) {
        renew_respond(c, 0, "the certificate request is malformed or not signed by its key",
                      NULL);
        return;
    }
    /* Same name, role agent: the connection's certificate says who. */
    rc = issue(s, pub, p->cn, &pem, &info);
    if (rc) {
        renew_respond(c, 0, "the collector could not issue a certificate; see its log", NULL);
        log_warnx("agent %s: renewal failed: %s", p->cn, vg_strerror(rc));
        goto out;
    }
    snprintf(detail, sizeof(detail), "certificate renewed: serial %s replaces %s", info.serial,
             p->serial);
    /* The new serial is this host's from now: a revocation covers it even
     * before the agent first uses it. */
    if (store_cert_seen(s->store, c->host_id, info.serial, now) != 0 ||
        store_enrollment_add(s->store, p->cn, "renewal", "renewal", now,
                             vg_tls_peer_addr(c->tls), NULL, NULL, info.serial) != 0 ||
        store_audit_append(s->store, conn_who(c), "renew", p->cn, detail, "renewed") != 0) {
        renew_respond(c, 0, "the collector's store is unavailable; try again later", NULL);
        goto out;
    }
    log_info("agent %s: %s", p->cn, detail);
    pem = with_chain(s, pem);
    renew_respond(c, 1, NULL, pem);
out:
    free(pem);
}
