/*
 * Enrollment: agents without a certificate get one with a token.
 *
 *   vigilctl enroll-token create (admin) -> a random token, shown once;
 *       the store keeps its SHA-256, its selector, label, expiry, uses.
 *   agent --TLS, server authentication only, on [enroll] listen-->
 *       EnrollRequest{token, CSR} -> token checked (known, not locked,
 *       not revoked, not expired, not used up), CSR checked (signed by
 *       its own EC P-256 key) -> a certificate for a new agent id (a
 *       UUID; the CSR's subject is ignored), role agent, signed with
 *       [enroll] ca_key -> EnrollResponse -> closed.  Recorded and
 *       audited.
 *
 * Tokens:
 *
 *   vge2-<selector: 16 hex>-<secret: 40 hex>   made since issue 19
 *   vge1-<secret: 40 hex>                      older; still accepted
 *
 * Failed tries (guesses) are limited so that they cannot be attributed
 * to the wrong party:
 *   - a known selector with a wrong secret counts against that token
 *     alone; the token is locked after TOKEN_MAX_FAILURES (shown by
 *     `vigilctl enroll-token list`; it must be revoked and replaced, as
 *     someone holds part of it).  Such a request is judged by the token's
 *     budget only: a valid vge2 token enrolls from an address (a shared
 *     NAT) that is limited, or while the global limit holds.
 *   - anything else (an unknown selector, a vge1 token, nonsense) is a
 *     guess that cannot be attributed to a token: it counts against its
 *     address (IPv6 by /64; ENROLL_ADDR_MAX_FAILURES a minute) and
 *     against all addresses together (a token bucket, ENROLL_MAX_FAILURES
 *     a minute),
 *     and is refused unchecked while either is spent, so that 200
 *     addresses guess no faster than one.  The table of addresses never
 *     evicts a live entry; while it is full, newcomers meet the global
 *     bucket only (which, refilling ENROLL_MAX_FAILURES a minute, cannot
 *     fill a 1024-entry table of one-minute windows in the first place).
 * A right secret for a revoked, expired or used-up token is no guess:
 * refused, not counted.  Refusals are logged and audited one by one at
 * first, then summarised (conn_report_global).
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

#define TOKEN_BYTES 20 /* 160 bits of secret */
#define SELECTOR_BYTES 8
#define TOKEN_PREFIX_V1 "vge1-"
#define TOKEN_PREFIX "vge2-"
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 2 * SELECTOR_BYTES + 1 + 2 * TOKEN_BYTES)
#define TOKEN_MAX_FAILURES 10

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
    m->failures = t->failures;
    m->locked_time_ms = t->locked_ms;
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
    uint8_t raw[SELECTOR_BYTES + TOKEN_BYTES];
    char token[TOKEN_LEN + 1], sel[2 * SELECTOR_BYTES + 1], hash[VG_SHA256_HEX], by[160],
        detail[300];
    const struct vg_cert_info *p = vg_tls_peer(op->tls);
    Vigil__V1__EnrollTokenInfo *m = NULL;
    int64_t now = vg_time_now_ms();
    int64_t ttl = r->ttl_ms > 0 ? r->ttl_ms : 24LL * 3600 * 1000;
    uint32_t uses = r->max_uses ? r->max_uses : 1;

    if (vg_random(raw, sizeof(raw)) != 0) {
        resp_error(resp, VIGIL__V1__ERROR__CODE__CODE_INTERNAL, "no randomness");
        return 0;
    }
    vg_hex(raw, SELECTOR_BYTES, sel);
    memcpy(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
    memcpy(token + sizeof(TOKEN_PREFIX) - 1, sel, 2 * SELECTOR_BYTES);
    token[sizeof(TOKEN_PREFIX) - 1 + 2 * SELECTOR_BYTES] = '-';
    vg_hex(raw + SELECTOR_BYTES, TOKEN_BYTES, token + sizeof(TOKEN_PREFIX) + 2 * SELECTOR_BYTES);
    vg_zeroize(raw, sizeof(raw));
    token_hash(token, hash);
    snprintf(by, sizeof(by), "%s %s", vg_role_name(p->role), p->cn);
    snprintf(detail, sizeof(detail), "token %.12s (%.100s), %u use%s, valid %lld s", hash,
             r->label, uses, uses == 1 ? "" : "s", (long long)(ttl / 1000));
    if (store_token_add(s->store, hash, sel, r->label, by, now, now + ttl, uses) != 0 ||
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
    if (strncmp(r->id, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1) == 0 ||
        strncmp(r->id, TOKEN_PREFIX_V1, sizeof(TOKEN_PREFIX_V1) - 1) == 0)
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


/* The selector of a vge2 token (into sel, 2 * SELECTOR_BYTES + 1), or
 * 0 if token is not one. */
static int token_selector(const char *token, char *sel)
{
    const char *p;
    if (strlen(token) != TOKEN_LEN || strncmp(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1) != 0)
        return 0;
    p = token + sizeof(TOKEN_PREFIX) - 1;
    if (p[2 * SELECTOR_BYTES] != '-' ||
        strspn(p, "0123456789abcdef") != 2 * SELECTOR_BYTES ||
        strspn(p + 2 * SELECTOR_BYTES + 1, "0123456789abcdef") != 2 * TOKEN_BYTES)
        return 0;
    memcpy(sel, p, 2 * SELECTOR_BYTES);
    sel[2 * SELECTOR_BYTES] = '\0';
    return 1;
}

/* Equal hex hashes, in a time that does not depend on where they differ. */
static int same_hash(const char *a, const char *b)
{
    unsigned char d = 0;
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
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
    char hash[VG_SHA256_HEX];
    char label[128];
    int64_t expires_ms, revoked_ms, locked_ms;
    uint32_t max_uses, uses, failures;
};

static int tok_cb(void *ctx, const struct store_token *t)
{
    struct tok *x = ctx;
    x->found = 1;
    snprintf(x->hash, sizeof(x->hash), "%s", t->hash ? t->hash : "");
    snprintf(x->label, sizeof(x->label), "%s", t->label ? t->label : "");
    x->expires_ms = t->expires_ms;
    x->revoked_ms = t->revoked_ms;
    x->locked_ms = t->locked_ms;
    x->max_uses = t->max_uses;
    x->uses = t->uses;
    x->failures = t->failures;
    return 0;
}

static void refuse_enroll(struct server *s, struct conn *c, const char *why)
{
    const char *peer = vg_tls_peer_addr(c->tls);
    char last[400];

    s->refused++;
    s->refused_enroll++;
    snprintf(last, sizeof(last), "%s: %s", peer, why);
    if (conn_report_global(s, &s->tl_enroll, "enroll", last)) {
        log_warnx("enrollment from %s refused: %s", peer, why);
        if (store_audit_append(s->store, peer, "enroll", "", why, "refused") != 0)
            log_warnx("the refusal above could not be written to the audit log");
    }
    respond(c, 0, why, NULL, NULL, NULL);
}

/* A guess that no token can be blamed for: counted against its address
 * and against all. */
static void count_guess(struct server *s, const uint8_t key[16], uint64_t mono)
{
    vg_addrlim_fail(&s->enroll_addr, key, mono);
    (void)vg_bucket_take(&s->enroll_global, mono);
}

/* A wrong secret with t's selector: counted against t, locked at the
 * limit (logged and audited once, when it happens). */
static void count_token_failure(struct server *s, struct conn *c, const struct tok *t)
{
    uint32_t failures;
    int64_t locked, now = vg_time_now_ms();
    char detail[300];

    if (store_token_fail(s->store, t->hash, TOKEN_MAX_FAILURES, now, &failures, &locked) != 0)
        return;
    if (locked == now && failures == TOKEN_MAX_FAILURES) {
        snprintf(detail, sizeof(detail), "token %.12s (%.100s) locked after %u wrong secrets "
                 "given with its selector, the last from %s; revoke it and make a new one",
                 t->hash, t->label, failures, vg_tls_peer_addr(c->tls));
        log_warnx("%s", detail);
        store_audit_append(s->store, "collector", "enroll-token lock", "", detail, "locked");
    }
}

static void on_request(struct server *s, struct conn *c, const Vigil__V1__EnrollRequest *r)
{
    const char *peer = vg_tls_peer_addr(c->tls);
    char hash[VG_SHA256_HEX], why[300], id[VG_UUID_STR], detail[600],
        sel[2 * SELECTOR_BYTES + 1];
    struct tok t;
    struct vg_key *pub = NULL;
    struct vg_cert_info info;
    char *pem = NULL, *ca = NULL;
    size_t calen;
    int64_t now = vg_time_now_ms();
    uint64_t mono = vg_time_mono_ms();
    uint8_t key[16];
    int rc;

    memset(&t, 0, sizeof(t));
    if (!r->token[0]) {
        refuse_enroll(s, c, "no enrollment token given ([enroll] token or token_file)");
        return;
    }
    token_hash(r->token, hash);
    vg_addrlim_key(peer, key);
    rc = token_selector(r->token, sel) ? store_token_find_selector(s->store, sel, tok_cb, &t) : 0;
    if (rc < 0) {
        respond(c, 0, "the collector's store is unavailable; try again later", NULL, NULL, NULL);
        return;
    }
    if (rc == 1) {
        /* A known selector: this token's own budget, whatever the
         * address or the global limit say. */
        if (t.locked_ms) {
            snprintf(why, sizeof(why), "the enrollment token is locked after %u wrong tries; "
                     "ask for a new one", t.failures);
            refuse_enroll(s, c, why);
            return;
        }
        if (!same_hash(hash, t.hash)) {
            count_token_failure(s, c, &t);
            refuse_enroll(s, c, "wrong enrollment token (mistyped, or not made by this "
                                "collector)");
            return;
        }
    } else {
        /* Not attributable to a token: checked only within the budgets of
         * the address and of everyone. */
        if (vg_addrlim_limited(&s->enroll_addr, key, mono)) {
            refuse_enroll(s, c, "too many bad enrollment tokens from this address; wait a "
                                "minute");
            return;
        }
        if (!vg_bucket_ok(&s->enroll_global, mono)) {
            refuse_enroll(s, c, "too many bad enrollment tokens from all addresses; wait a "
                                "minute");
            return;
        }
        rc = store_token_find(s->store, hash, tok_cb, &t);
        if (rc < 0) {
            respond(c, 0, "the collector's store is unavailable; try again later", NULL, NULL,
                    NULL);
            return;
        }
        if (rc == 0) {
            count_guess(s, key, mono);
            refuse_enroll(s, c, "unknown enrollment token (mistyped, or not made by this "
                                "collector); ask an admin for a new one (vigilctl "
                                "enroll-token create)");
            return;
        }
        if (t.locked_ms) {
            refuse_enroll(s, c, "the enrollment token is locked; ask for a new one");
            return;
        }
    }
    if (t.revoked_ms) {
        refuse_enroll(s, c, "the enrollment token was revoked; ask for a new one");
        return;
    }
    if (t.expires_ms <= now) {
        char tm[VG_TIME_STR_MAX];
        snprintf(why, sizeof(why), "the enrollment token expired at %s; ask for a new one",
                 vg_time_format(t.expires_ms, tm, sizeof(tm)));
        refuse_enroll(s, c, why);
        return;
    }
    if (t.uses >= t.max_uses) {
        snprintf(why, sizeof(why), "the enrollment token is used up (%u of %u enrollments); "
                 "ask for a new one", t.uses, t.max_uses);
        refuse_enroll(s, c, why);
        return;
    }
    rc = vg_csr_public_key(r->csr_der.data, r->csr_der.len, &pub);
    if (rc) {
        refuse_enroll(s, c, rc == -EINVAL ? "the certificate request's key is not EC P-256"
                                          : "the certificate request is malformed or not "
                                            "signed by its own key");
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
