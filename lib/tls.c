/*
 * mbedtls driven by libuv.  See tls.h for the policy.
 *
 * Data path of one connection:
 *
 *   socket --uv_read--> in (ciphertext) --bio_recv--> mbedtls --on_data--> owner
 *   owner --vg_tls_write--> mbedtls --bio_send--> out --uv_write--> socket
 *
 * mbedtls never blocks: bio_recv returns WANT_READ when `in` is empty and
 * we call it again from the next read callback; bio_send always accepts
 * (vg_tls_write bounds what may be queued).
 *
 * Through a proxy (vg_tls_connect_via), the socket first carries the
 * CONNECT request (put in `out` at connect time) and then the proxy's
 * answer into `in`, which the tunnel's parser reads (ST_TUNNEL); TLS
 * starts on whatever follows the answer.
 *
 * Behind a load balancer that says whom each connection is from (the
 * owner's proxied handler), a server reads a PROXY protocol header (v1 or v2)
 * into `in` first (ST_PROXY); TLS starts on whatever follows it.
 *
 * Lifetime: the connection owns its TCP handle and timer.  Closing
 * either way ends in conn_closed(), which calls on_close once the libuv
 * handles are closed, then frees the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define VG_MBED3 1
#endif
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/gcm.h>
#include <mbedtls/oid.h>

#include "buf.h"
#include "crypto-int.h"
#include "err.h"
#include "proxyproto.h"
#include "log.h"
#include "tls-int.h"
#include "tls.h"
#include "util.h"

enum conn_state { ST_CONNECTING, ST_TUNNEL, ST_PROXY, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_CLOSED };

struct vg_tls_config {
    int server;
    int no_client_auth;
    mbedtls_ssl_config conf;
    struct vg__tickets *tickets;
    struct vg_cert *ca, *cert;
    struct vg_key *key;
    struct vg_cert_info self;
    uint32_t handshake_timeout_ms;
    uint64_t full, resumed;
    /* The owner's reference and one per connection made with it: a
     * reload replaces the owner's, while the connections that already
     * use it keep it until they close. */
    unsigned refs;
};

struct vg_tls_session {
    mbedtls_ssl_session s;
    int valid;
};

struct vg_tls_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    mbedtls_ssl_context ssl;
    struct vg_tls_config *cfg;
    struct vg_tls_session *session;
    const struct vg_tls_handlers *h;
    void *data;
    enum conn_state state;
    int ssl_ready;
    int handles; /* libuv handles not yet closed */
    int err;     /* reason for on_close */
    int resumed;
    int cert_seen; /* client: the server's certificate was verified (a full handshake) */
    int paused;
    int in_callback;
    struct vg_buf in;
    size_t in_off;
    struct vg_buf out;
    size_t queued;
    char addr[64];
    char via[64]; /* the load balancer's address (ST_PROXY), or "" */
    uint64_t rx_bytes; /* read from the peer, in all */
    char server_name[256];
    /* Through a proxy: its answer is read (tunnel_reply) before TLS. */
    int (*tunnel_reply)(void *ctx, const uint8_t *data, size_t len, size_t *used, char *why,
                        size_t whylen);
    void *tunnel_ctx;
    char peer_names[160]; /* the server certificate's CN and DNS names (note_verify) */
    char why[512];
    struct vg_cert_info *peer; /* vg_cert_info_size() bytes; NULL: none yet */
};

/* The connection whose handshake mbedtls is running: the ticket parse
 * hook has no connection argument, and everything runs on one thread. */
static struct vg_tls_conn *current;

static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

#ifdef VG_MBED3
static const uint16_t groups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};
#else
static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};
static const int sig_hashes[] = { MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_NONE };
#endif

static void mbed_err(int rc, char *out, size_t outlen)
{
    char buf[160];
    mbedtls_strerror(rc, buf, sizeof(buf));
    snprintf(out, outlen, "%s (-0x%04x)", buf, (unsigned)-rc);
}

static void cert_names(const mbedtls_x509_crt *crt, char *out, size_t len);

/* Client: runs for each certificate of the server's chain while it is
 * verified, which a resumed session skips: how a client learns that
 * its session was resumed (mbedtls 2.28 has no accessor for it).  It also
 * keeps the names of the server's own certificate (depth 0) for a
 * mismatch's message.  It changes no verdict. */
static int note_verify(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)p;
    (void)flags;
    if (current) {
        current->cert_seen = 1;
        if (depth == 0)
            cert_names(crt, current->peer_names, sizeof(current->peer_names));
    }
    return 0;
}

/* ---- configuration ---- */

/* ---- session tickets ----
 *
 * Our own ticket callbacks instead of mbedtls's ssl_ticket module, whose
 * keys cannot be imported: the keys live in a file so that agents resume
 * across a collector restart or upgrade.
 *
 * Key file (text, mode 0600, written atomically), current key first:
 *
 *   vigil-ticket-keys 1
 *   key <id: 8 hex> <created: unix s> <AES-256 key: 64 hex>
 *   key <id> <created> <key>            (the previous key; optional)
 *
 * A new key every lifetime; the previous one is kept so that a ticket
 * issued just before a rotation stays usable for its whole lifetime.
 *
 * Ticket (AES-256-GCM; bytes 0-25 are authenticated, not encrypted):
 *
 *   0        4             16          24     26               26+n   +16
 *   | key id | IV (random) | issued (s) | n    | session (n bytes) | tag |
 *
 * The session is mbedtls_ssl_session_save()'s serialisation, peer
 * certificate included, so on_ready can check identity and revocation
 * on a resumed session as on a full one.
 */
#define TK_HDR 26
#define TK_TAG 16
#define TK_MAGIC "vigil-ticket-keys 1\n"

struct vg__tkey {
    uint8_t id[4];
    int64_t created_s;
    uint8_t key[32];
    int set;
};

struct vg__tickets {
    char path[4096];        /* empty: keys in memory only */
    uint32_t lifetime_s;
    struct vg__tkey k[2];   /* current, previous */
    uint64_t rotations, bad, expired, save_errors;
};

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int tkeys_save(struct vg__tickets *t)
{
    char buf[512], hex[65], id[9];
    size_t n = sizeof(TK_MAGIC) - 1;
    int rc;

    if (!t->path[0])
        return 0;
    memcpy(buf, TK_MAGIC, n);
    for (int i = 0; i < 2 && t->k[i].set; i++) {
        vg_hex(t->k[i].id, 4, id);
        vg_hex(t->k[i].key, 32, hex);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "key %s %lld %s\n", id,
                              (long long)t->k[i].created_s, hex);
    }
    rc = vg_file_write_atomic(t->path, buf, n, 0600, 0);
    vg_zeroize(buf, sizeof(buf));
    vg_zeroize(hex, sizeof(hex));
    if (rc)
        t->save_errors++;
    return rc;
}

static int tkey_new(struct vg__tkey *k, int64_t now_s)
{
    if (vg__rng(NULL, k->id, sizeof(k->id)) || vg__rng(NULL, k->key, sizeof(k->key)))
        return VG_ECRYPTO;
    k->created_s = now_s;
    k->set = 1;
    return 0;
}

int vg__tickets_rotate(struct vg__tickets *t, int64_t now_s)
{
    struct vg__tkey k;
    int rc;

    if ((rc = tkey_new(&k, now_s)) != 0)
        return rc;
    if (t->k[0].set && memcmp(k.id, t->k[0].id, 4) == 0)
        k.id[0] ^= 0x80; /* ids tell the two keys apart */
    t->k[1] = t->k[0];
    t->k[0] = k;
    vg_zeroize(&k, sizeof(k));
    t->rotations++;
    /* A key that could not be saved still serves; tickets it seals just
     * do not survive a restart. */
    return tkeys_save(t);
}

/* Strict: anything but the format above is corrupt. */
static int tkeys_parse(struct vg__tickets *t, char *data, size_t len)
{
    char *p = data, *end = data + len;
    int n = 0;

    if (len < sizeof(TK_MAGIC) - 1 || memcmp(p, TK_MAGIC, sizeof(TK_MAGIC) - 1) != 0)
        return VG_ECORRUPT;
    p += sizeof(TK_MAGIC) - 1;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char idh[9], keyh[65], num[24];
        const char *f[3];
        size_t fl[3], idlen, klen;
        uint64_t created;
        char *q;
        int i;

        if (!nl || n == 2 || (size_t)(nl - p) < 4 || memcmp(p, "key ", 4) != 0)
            return VG_ECORRUPT;
        q = p + 4;
        for (i = 0; i < 3; i++) {
            char *sp = i < 2 ? memchr(q, ' ', (size_t)(nl - q)) : nl;
            if (!sp)
                return VG_ECORRUPT;
            f[i] = q;
            fl[i] = (size_t)(sp - q);
            q = sp + 1;
        }
        if (fl[0] != 8 || fl[1] == 0 || fl[1] >= sizeof(num) || fl[2] != 64)
            return VG_ECORRUPT;
        memcpy(idh, f[0], 8);
        idh[8] = '\0';
        memcpy(num, f[1], fl[1]);
        num[fl[1]] = '\0';
        memcpy(keyh, f[2], 64);
        keyh[64] = '\0';
        i = vg_unhex(idh, t->k[n].id, 4, &idlen) || idlen != 4 ||
            vg_unhex(keyh, t->k[n].key, 32, &klen) || klen != 32 ||
            vg_parse_u64(num, 1, INT64_MAX, &created);
        vg_zeroize(keyh, sizeof(keyh));
        if (i)
            return VG_ECORRUPT;
        t->k[n].created_s = (int64_t)created;
        t->k[n].set = 1;
        n++;
        p = nl + 1;
    }
    if (n == 0 || (n == 2 && memcmp(t->k[0].id, t->k[1].id, 4) == 0))
        return VG_ECORRUPT;
    return 0;
}

int vg__tickets_new(const char *path, uint32_t lifetime_s, int64_t now_s,
                    struct vg__tickets **out, char *err, size_t errlen)
{
    struct vg__tickets *t = calloc(1, sizeof(*t));
    char *data = NULL;
    size_t len = 0;
    int rc = 0;

    if (!t)
        return -ENOMEM;
    t->lifetime_s = lifetime_s ? lifetime_s : VG_TLS_TICKET_DEFAULT_S;
    if (path && vg_strlcpy(t->path, path, sizeof(t->path)) >= sizeof(t->path)) {
        snprintf(err, errlen, "ticket key file name too long");
        rc = -ENAMETOOLONG;
        goto fail;
    }
    if (t->path[0]) {
        struct stat st;
        int fd = open(t->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            fd = -errno;
        if (fd == -ENOENT) {
            if ((rc = vg__tickets_rotate(t, now_s)) != 0) {
                snprintf(err, errlen, "cannot create the ticket key file %s: %s", t->path,
                         vg_strerror(rc));
                goto fail;
            }
            log_info("created the TLS ticket key file %s", t->path);
            *out = t;
            return 0;
        }
        if (fd < 0) {
            rc = fd;
            snprintf(err, errlen, "cannot open the ticket key file %s: %s", t->path,
                     vg_strerror(rc));
            goto fail;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            rc = -EINVAL;
            close(fd);
            snprintf(err, errlen, "ticket key file %s is not a regular file", t->path);
            goto fail;
        }
        if (st.st_mode & 077) {
            rc = VG_EKEYMODE;
            close(fd);
            snprintf(err, errlen, "ticket key file %s is readable by others (mode %04o); "
                     "chmod 600 it, or remove it to make new keys", t->path,
                     (unsigned)(st.st_mode & 07777));
            goto fail;
        }
        rc = vg_fd_read(fd, 4096, &data, &len);
        close(fd);
        if (rc == 0)
            rc = tkeys_parse(t, data, len);
        if (data) {
            vg_zeroize(data, len);
            free(data);
        }
        if (rc) {
            snprintf(err, errlen, "ticket key file %s: %s; remove it to make new keys (agents "
                     "then make one full handshake each)", t->path, vg_strerror(rc));
            goto fail;
        }
    }
    if (!t->k[0].set || now_s - t->k[0].created_s >= (int64_t)t->lifetime_s ||
        t->k[0].created_s > now_s + 300) {
        if ((rc = vg__tickets_rotate(t, now_s)) != 0) {
            snprintf(err, errlen, "cannot write the ticket key file %s: %s", t->path,
                     vg_strerror(rc));
            goto fail;
        }
    }
    *out = t;
    return 0;
fail:
    vg__tickets_free(t);
    return rc;
}

void vg__tickets_free(struct vg__tickets *t)
{
    if (!t)
        return;
    vg_zeroize(t->k, sizeof(t->k));
    free(t);
}

int vg__tickets_seal(struct vg__tickets *t, int64_t now_s, const uint8_t *in, size_t inlen,
                     uint8_t *out, size_t outmax, size_t *outlen)
{
    mbedtls_gcm_context gcm;
    int rc;

    if (inlen > 0xffff || outmax < TK_HDR + inlen + TK_TAG)
        return VG_ETOOBIG;
    if (now_s - t->k[0].created_s >= (int64_t)t->lifetime_s) {
        /* Once per lifetime.  A failed write leaves the new key in use;
         * a failed draw keeps the old one until the next ticket. */
        rc = vg__tickets_rotate(t, now_s);
        if (rc)
            log_warnx("TLS ticket key rotation (%s): %s", t->path[0] ? t->path : "in memory",
                      vg_strerror(rc));
    }
    memcpy(out, t->k[0].id, 4);
    if (vg__rng(NULL, out + 4, 12))
        return VG_ECRYPTO;
    put_be64(out + 16, (uint64_t)now_s);
    out[24] = (uint8_t)(inlen >> 8);
    out[25] = (uint8_t)inlen;
    mbedtls_gcm_init(&gcm);
    rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, t->k[0].key, 256);
    if (rc == 0)
        rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, inlen, out + 4, 12, out,
                                       TK_HDR, in, out + TK_HDR, TK_TAG, out + TK_HDR + inlen);
    mbedtls_gcm_free(&gcm);
    if (rc)
        return VG_ECRYPTO;
    *outlen = TK_HDR + inlen + TK_TAG;
    return 0;
}

int vg__tickets_open(struct vg__tickets *t, int64_t now_s, uint8_t *buf, size_t len,
                     uint8_t **pt, size_t *ptlen)
{
    mbedtls_gcm_context gcm;
    const struct vg__tkey *k = NULL;
    size_t n;
    int64_t issued;
    int rc;

    if (len < TK_HDR + TK_TAG)
        return VG_ECORRUPT;
    n = (size_t)buf[24] << 8 | buf[25];
    if (len != TK_HDR + n + TK_TAG)
        return VG_ECORRUPT;
    for (int i = 0; i < 2; i++)
        if (t->k[i].set && memcmp(buf, t->k[i].id, 4) == 0)
            k = &t->k[i];
    if (!k)
        return -ENOKEY;
    mbedtls_gcm_init(&gcm);
    rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, k->key, 256);
    if (rc == 0)
        rc = mbedtls_gcm_auth_decrypt(&gcm, n, buf + 4, 12, buf, TK_HDR, buf + TK_HDR + n,
                                      TK_TAG, buf + TK_HDR, buf + TK_HDR);
    mbedtls_gcm_free(&gcm);
    if (rc)
        return VG_ECORRUPT;
    /* Checked once authentic: the time is the sealer's. */
    issued = (int64_t)get_be64(buf + 16);
    if (issued > now_s + 300 || now_s - issued >= (int64_t)t->lifetime_s) {
        vg_zeroize(buf + TK_HDR, n);
        return -EKEYEXPIRED;
    }
    *pt = buf + TK_HDR;
    *ptlen = n;
    return 0;
}

void vg__tickets_stats(const struct vg__tickets *t, uint64_t *rotations, uint64_t *bad,
                       uint64_t *expired)
{
    *rotations = t->rotations;
    *bad = t->bad;
    *expired = t->expired;
}

static int ticket_write(void *p, const mbedtls_ssl_session *s, unsigned char *start,
                        const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
    struct vg__tickets *t = p;
    unsigned char ser[8192];
    size_t n = 0;
    int rc;

    *tlen = 0;
    if (mbedtls_ssl_session_save(s, ser, sizeof(ser), &n))
        return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
    rc = vg__tickets_seal(t, vg_time_now_ms() / 1000, ser, n, start, (size_t)(end - start),
                          tlen);
    vg_zeroize(ser, n);
    if (rc)
        return rc == VG_ETOOBIG ? MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL
                                : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    *lifetime = t->lifetime_s;
    return 0;
}

/* A ticket that does not open means a full handshake, never a failure:
 * mbedtls falls back whatever the error. */
static int ticket_parse(void *p, mbedtls_ssl_session *s, unsigned char *buf, size_t len)
{
    struct vg__tickets *t = p;
    uint8_t *pt;
    size_t n;
    int rc = vg__tickets_open(t, vg_time_now_ms() / 1000, buf, len, &pt, &n);

    if (rc == -EKEYEXPIRED) {
        t->expired++;
        return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
    }
    if (rc) {
        t->bad++;
        return MBEDTLS_ERR_SSL_INVALID_MAC;
    }
    rc = mbedtls_ssl_session_load(s, pt, n);
    vg_zeroize(pt, n);
    if (rc) { /* another mbedtls build: its sessions do not load here */
        t->bad++;
        return MBEDTLS_ERR_SSL_INVALID_MAC;
    }
    if (current)
        current->resumed = 1;
    return 0;
}

int vg_tls_config_new(const struct vg_tls_opts *o, struct vg_tls_config **out, char *err,
                      size_t errlen)
{
    struct vg_tls_config *c;
    int rc;
    int64_t now = vg_time_now_ms();
    uint32_t lifetime;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->refs = 1;
    c->server = o->server;
    c->no_client_auth = o->no_client_auth;
    c->handshake_timeout_ms = o->handshake_timeout_ms ? o->handshake_timeout_ms
                                                      : VG_TLS_HANDSHAKE_TIMEOUT_MS;
    mbedtls_ssl_config_init(&c->conf);

    if (!o->ca || ((!o->cert || !o->key) && (o->server || !o->no_client_auth))) {
        snprintf(err, errlen, "TLS needs a CA, a certificate and a key");
        rc = VG_ECONFIG;
        goto fail;
    }
    /* Each message names the file and says what to do about it. */
    if ((rc = vg_cert_load(o->ca, &c->ca)) != 0) {
        snprintf(err, errlen, "cannot load CA certificate %s: %s%s", o->ca, vg_strerror(rc),
                 rc == -ENOENT ? "; check the path (the ca.crt of 'vigilctl pki init')" : "");
        goto fail;
    }
    if (!o->cert)
        goto no_own_cert;
    if ((rc = vg_cert_load(o->cert, &c->cert)) != 0) {
        snprintf(err, errlen, "cannot load certificate %s: %s%s", o->cert, vg_strerror(rc),
                 rc == -ENOENT ? "; check the path, or issue it with 'vigilctl pki issue'" : "");
        goto fail;
    }
    if ((rc = vg_key_load(o->key, &c->key)) != 0) {
        if (rc == VG_EKEYMODE)
            snprintf(err, errlen, "private key %s is readable by group or others; chmod 600 %s",
                     o->key, o->key);
        else
            snprintf(err, errlen, "cannot load private key %s: %s", o->key, vg_strerror(rc));
        goto fail;
    }
    if (!vg_cert_matches_key(c->cert, c->key)) {
        snprintf(err, errlen, "private key %s does not belong to certificate %s; give the key "
                 "issued with it ('vigilctl pki issue' writes NAME.crt and NAME.key together)",
                 o->key, o->cert);
        rc = VG_ECERT;
        goto fail;
    }
    vg_cert_info(c->cert, &c->self);
    if (c->self.not_after_ms < now) {
        char t[VG_TIME_STR_MAX];
        snprintf(err, errlen, "certificate %s expired at %s; issue a new one (vigilctl pki "
                 "issue --role %s --name %s%s --force)", o->cert,
                 vg_time_format(c->self.not_after_ms, t, sizeof(t)), vg_role_name(c->self.role),
                 c->self.cn, c->self.role == VG_ROLE_COLLECTOR ? " --san NAME" : "");
        rc = VG_ECERT;
        goto fail;
    }
    if (o->server ? !c->self.server_auth : !c->self.client_auth) {
        snprintf(err, errlen, "certificate %s (role %s) is not usable as a TLS %s; issue one "
                 "with --role %s", o->cert, vg_role_name(c->self.role),
                 o->server ? "server" : "client", o->server ? "collector" : "agent for an agent, "
                 "or admin, responder or auditor for vigilctl");
        rc = VG_ECERT;
        goto fail;
    }
    {
        char why[256];
        if (vg_cert_verify(c->cert, c->ca, why, sizeof(why))) {
            snprintf(err, errlen, "certificate %s does not verify against CA %s: %s; give the "
                     "CA that issued it, or issue it from this CA", o->cert, o->ca, why);
            rc = VG_ECERT;
            goto fail;
        }
    }

no_own_cert:
    rc = mbedtls_ssl_config_defaults(&c->conf, o->server ? MBEDTLS_SSL_IS_SERVER
                                                        : MBEDTLS_SSL_IS_CLIENT,
                                     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc)
        goto mbed_fail;
    mbedtls_ssl_conf_rng(&c->conf, vg__rng, NULL);
    mbedtls_ssl_conf_authmode(&c->conf, o->server && o->no_client_auth
                                            ? MBEDTLS_SSL_VERIFY_NONE
                                            : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca->crt, NULL);
    if (c->cert) {
        rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert->crt, &c->key->pk);
        if (rc)
            goto mbed_fail;
    }
    mbedtls_ssl_conf_ciphersuites(&c->conf, suites);
#ifdef VG_MBED3
    mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    /* 1.3 would change ticket and verification flows this file relies on. */
    mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_groups(&c->conf, groups);
#else
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_curves(&c->conf, curves);
    mbedtls_ssl_conf_sig_hashes(&c->conf, sig_hashes);
#endif
    mbedtls_ssl_conf_renegotiation(&c->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_session_tickets(&c->conf, o->no_client_auth
                                                   ? MBEDTLS_SSL_SESSION_TICKETS_DISABLED
                                                   : MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    if (!o->server)
        mbedtls_ssl_conf_verify(&c->conf, note_verify, NULL);
    if (o->server && !o->no_client_auth) {
        lifetime = o->ticket_lifetime_s ? o->ticket_lifetime_s : VG_TLS_TICKET_DEFAULT_S;
        if (lifetime > VG_TLS_TICKET_MAX_S)
            lifetime = VG_TLS_TICKET_MAX_S;
        /* Keys rotate every `lifetime`; a ticket is honoured at most that long. */
        rc = vg__tickets_new(o->ticket_key_file, lifetime, vg_time_now_ms() / 1000,
                             &c->tickets, err, errlen);
        if (rc)
            goto fail;
        mbedtls_ssl_conf_session_tickets_cb(&c->conf, ticket_write, ticket_parse, c->tickets);
    }
    *out = c;
    return 0;

mbed_fail: {
        char m[200];
        mbed_err(rc, m, sizeof(m));
        snprintf(err, errlen, "TLS set-up failed: %s", m);
        rc = VG_ECRYPTO;
    }
fail:
    vg_tls_config_free(c);
    return rc;
}

void vg_tls_config_free(struct vg_tls_config *c)
{
    if (!c || --c->refs > 0)
        return;
    vg__tickets_free(c->tickets);
    mbedtls_ssl_config_free(&c->conf);
    vg_cert_free(c->ca);
    vg_cert_free(c->cert);
    vg_key_free(c->key);
    free(c);
}

const struct vg_cert_info *vg_tls_config_self(const struct vg_tls_config *c)
{
    return &c->self;
}

int vg_tls_config_same_ca(const struct vg_tls_config *a, const struct vg_tls_config *b)
{
    const mbedtls_x509_crt *x = &a->ca->crt, *y = &b->ca->crt;
    for (; x && y; x = x->next, y = y->next)
        if (x->raw.len != y->raw.len || (x->raw.len && memcmp(x->raw.p, y->raw.p, x->raw.len) != 0))
            return 0;
    return x == y;
}

void vg_tls_config_stats(const struct vg_tls_config *c, uint64_t *full, uint64_t *resumed)
{
    *full = c->full;
    *resumed = c->resumed;
}

/* ---- sessions ---- */

struct vg_tls_session *vg_tls_session_new(void)
{
    struct vg_tls_session *s = calloc(1, sizeof(*s));
    if (s)
        mbedtls_ssl_session_init(&s->s);
    return s;
}

void vg_tls_session_free(struct vg_tls_session *s)
{
    if (!s)
        return;
    mbedtls_ssl_session_free(&s->s);
    free(s);
}

/* ---- connections ---- */

static void why(struct vg_tls_conn *c, const char *fmt, ...) VG_PRINTF(2, 3);
static void why(struct vg_tls_conn *c, const char *fmt, ...)
{
    va_list ap;
    if (c->why[0])
        return; /* keep the first reason */
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
}

static void handle_closed(uv_handle_t *h)
{
    struct vg_tls_conn *c = h->data;
    if (--c->handles > 0)
        return;
    c->state = ST_CLOSED;
    if (c->h && c->h->on_close)
        c->h->on_close(c, c->err);
    if (c->ssl_ready)
        mbedtls_ssl_free(&c->ssl);
    vg_buf_free(&c->in);
    vg_buf_free(&c->out);
    free(c->peer);
    vg_tls_config_free(c->cfg); /* the connection's reference */
    free(c);
}

static void close_handles(struct vg_tls_conn *c)
{
    if (c->state == ST_CLOSED)
        return;
    c->state = ST_CLOSED;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, handle_closed);
}

/* Abortive close after an error. */
static void fail(struct vg_tls_conn *c, int err)
{
    if (c->state == ST_CLOSED)
        return;
    if (!c->err)
        c->err = err ? err : VG_EPROTO;
    close_handles(c);
}

struct write_req {
    uv_write_t req;
    struct vg_tls_conn *c;
    uint8_t *data;
    size_t len;
};

static void write_done(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct vg_tls_conn *c = w->c;
    size_t before = c->queued;

    c->queued -= w->len;
    free(w->data);
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED) {
            why(c, "write failed: %s", uv_strerror(status));
            fail(c, status);
        }
        return;
    }
    if (c->state == ST_OPEN && before >= VG_TLS_WRITE_HIGH / 2 &&
        c->queued < VG_TLS_WRITE_HIGH / 2 && c->h->on_drain)
        c->h->on_drain(c);
}

/* Hands what mbedtls produced to libuv. */
static int flush(struct vg_tls_conn *c)
{
    struct write_req *w;
    uv_buf_t b;
    int rc;

    if (c->out.len == 0 || c->state == ST_CLOSED)
        return 0;
    w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->c = c;
    w->data = vg_buf_take(&c->out, &w->len);
    b = uv_buf_init((char *)w->data, (unsigned)w->len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
    if (rc) {
        free(w->data);
        free(w);
        why(c, "write failed: %s", uv_strerror(rc));
        fail(c, rc);
        return rc;
    }
    c->queued += w->len;
    return 0;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct vg_tls_conn *c = ctx;
    /* out's max is generous; vg_tls_write keeps it bounded. */
    if (vg_buf_append(&c->out, buf, len))
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct vg_tls_conn *c = ctx;
    size_t avail = c->in.len - c->in_off;

    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(buf, c->in.data + c->in_off, len);
    c->in_off += len;
    if (c->in_off == c->in.len) {
        /* A burst (a read is up to 64 KiB) does not stay resident. */
        vg_buf_reset(&c->in);
        vg_buf_trim(&c->in, 16 * 1024);
        c->in_off = 0;
    }
    return (int)len;
}

/* The names a certificate gives: its CN and its DNS names. */
static void cert_names(const mbedtls_x509_crt *crt, char *out, size_t len)
{
    size_t used = 0;

    snprintf(out, len, "no name");
    for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next)
        if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && used < len) {
            int k = snprintf(out + used, len - used, "CN %.*s", (int)n->val.len, n->val.p);
            used += k > 0 ? (size_t)k : 0;
        }
    for (const mbedtls_x509_sequence *q = &crt->subject_alt_names; q && q->buf.p; q = q->next)
        if (q->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && used < len) { /* dNSName */
            int k = snprintf(out + used, len - used, "%s%.*s", used ? ", " : "",
                             (int)q->buf.len, q->buf.p);
            used += k > 0 ? (size_t)k : 0;
        }
    if (!used)
        snprintf(out, len, "no name");
}

static void verify_why(struct vg_tls_conn *c, int rc)
{
    uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
    char m[256];

    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE || flags == MBEDTLS_X509_BADCERT_MISSING) {
        why(c, "peer sent no certificate");
        return;
    }
    if (flags && flags != (uint32_t)-1) {
        char *p;
        mbedtls_x509_crt_verify_info(m, sizeof(m), "", flags);
        while ((p = strrchr(m, '\n')) && p[1] == '\0')
            *p = '\0';
        for (p = m; *p; p++)
            if (*p == '\n')
                *p = ';';
        if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) && !c->cfg->server) {
            why(c, "peer certificate rejected: %s (expected the name '%s'; the certificate is "
                   "for %s: set [tls] server_name, or --server-name for vigilctl, to one of "
                   "those)", m, c->server_name, c->peer_names[0] ? c->peer_names : "no name");
            return;
        }
        if ((flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) && !c->cfg->server) {
            why(c, "peer certificate rejected: %s (the collector's certificate is not from "
                   "this CA: set [tls] ca, or --ca for vigilctl, to the ca.crt that issued it)",
                m);
            return;
        }
        why(c, "peer certificate rejected: %s", m);
        return;
    }
    mbed_err(rc, m, sizeof(m));
    if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && c->cfg->server) {
        /* The client gave up on us, most often on our certificate. */
        why(c, "TLS handshake failed: the client ended it with an alert; its log says why, "
               "most often this collector's certificate: not from its CA, or not for the name "
               "it expects");
        return;
    }
    why(c, "TLS handshake failed: %s", m);
}

static void deliver(struct vg_tls_conn *c)
{
    unsigned char buf[16384];

    while (c->state == ST_OPEN && !c->paused) {
        int n = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));
        if (n > 0) {
            c->h->on_data(c, buf, (size_t)n);
            continue;
        }
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            why(c, "peer closed the connection");
            c->err = 0;
            close_handles(c);
            return;
        }
        {
            char m[200];
            mbed_err(n, m, sizeof(m));
            why(c, "TLS read failed: %s", m);
        }
        fail(c, VG_EPROTO);
        return;
    }
}

static void drive(struct vg_tls_conn *c)
{
    if (c->state == ST_HANDSHAKE) {
        int rc;
        current = c;
        rc = mbedtls_ssl_handshake(&c->ssl);
        current = NULL;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            flush(c);
            return;
        }
        if (rc) {
            verify_why(c, rc);
            flush(c); /* let the alert out, best effort */
            fail(c, VG_ECERT);
            return;
        }
        uv_timer_stop(&c->timer);
        c->state = ST_OPEN;
        if (!c->cfg->server)
            c->resumed = c->session && !c->cert_seen;
        if (c->cfg->server) {
            if (c->resumed)
                c->cfg->resumed++;
            else
                c->cfg->full++;
        }
        {
            const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
            struct vg_cert *pc = NULL;
            struct vg_cert_info info;
            if (!peer && c->cfg->server && c->cfg->no_client_auth) {
                /* enrollment: none yet */
            } else if (!peer || vg_cert_parse(peer->raw.p, peer->raw.len, &pc) ||
                       vg_cert_info(pc, &info)) {
                vg_cert_free(pc);
                why(c, "peer certificate unavailable");
                fail(c, VG_ECERT);
                return;
            } else {
                /* Kept as long as it is used: most certificates have a
                 * SAN or two of the 32 the struct has room for (8 KB),
                 * and a collector holds 20,000 connections. */
                vg_cert_free(pc);
                free(c->peer);
                if (!(c->peer = malloc(vg_cert_info_size(&info)))) {
                    why(c, "out of memory");
                    fail(c, -ENOMEM);
                    return;
                }
                memcpy(c->peer, &info, vg_cert_info_size(&info));
            }
        }
        if (!c->cfg->server && c->session) {
            mbedtls_ssl_session_free(&c->session->s);
            mbedtls_ssl_session_init(&c->session->s);
            c->session->valid = mbedtls_ssl_get_session(&c->ssl, &c->session->s) == 0;
        }
        flush(c);
        if (c->h->on_ready(c) != 0) {
            why(c, "refused after handshake");
            if (c->state == ST_OPEN)
                vg_tls_close(c, NULL);
            return;
        }
    }
    deliver(c);
    flush(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char rbuf[65536];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof(rbuf));
}

static int setup_ssl(struct vg_tls_conn *c, const char *server_name);

static int start_tls(struct vg_tls_conn *c, const char *server_name);

/* The proxy's answer, gathered in c->in until the tunnel's parser has
 * all of it; what follows it is TLS's. */
static void tunnel_read(struct vg_tls_conn *c, const uint8_t *data, size_t n)
{
    char m[400] = "";
    size_t used = 0;
    int rc;

    if (vg_buf_append(&c->in, data, n)) {
        why(c, "the proxy's answer to CONNECT is too long");
        fail(c, VG_ETOOBIG);
        return;
    }
    rc = c->tunnel_reply(c->tunnel_ctx, c->in.data, c->in.len, &used, m, sizeof(m));
    if (rc == 0)
        return;
    if (rc < 0) {
        why(c, "%s", m[0] ? m : "the proxy refused the tunnel");
        fail(c, rc);
        return;
    }
    c->in_off = used <= c->in.len ? used : c->in.len;
    if (c->in_off == c->in.len) {
        vg_buf_reset(&c->in);
        c->in_off = 0;
    }
    /* Reading stays on; start_tls restarts the timer for the handshake. */
    rc = start_tls(c, c->server_name);
    if (rc)
        fail(c, rc);
}

static void addr_string(const struct sockaddr_storage *ss, char *out, size_t outlen);

/* A load balancer's PROXY protocol header, gathered in c->in until it is
 * whole; what follows it is TLS's. */
static void proxy_read(struct vg_tls_conn *c, const uint8_t *data, size_t n)
{
    struct sockaddr_storage src;
    char m[200] = "";
    size_t used = 0;
    int rc;

    if (vg_buf_append(&c->in, data, n)) {
        why(c, "out of memory");
        fail(c, -ENOMEM);
        return;
    }
    rc = vg_pp_parse(c->in.data, c->in.len, &used, &src, m, sizeof(m));
    if (rc == 0)
        return;
    if (rc < 0) {
        why(c, "%s (from a load balancer's address: [collector] proxy_protocol)", m);
        fail(c, rc);
        return;
    }
    snprintf(c->via, sizeof(c->via), "%s", c->addr);
    if (src.ss_family != AF_UNSPEC)
        addr_string(&src, c->addr, sizeof(c->addr));
    /* rx_bytes counts the client's bytes: a socket idle behind the
     * balancer is silent (vg_tls_silent), a check said nothing. */
    c->rx_bytes -= used;
    c->in_off = used;
    if (c->in_off == c->in.len) {
        vg_buf_reset(&c->in);
        c->in_off = 0;
    }
    c->state = ST_HANDSHAKE;
    if (c->h->on_proxied && c->h->on_proxied(c) != 0) {
        why(c, "refused after the PROXY protocol header");
        fail(c, VG_EPROTO);
        return;
    }
    if (c->state != ST_HANDSHAKE || c->in.len == c->in_off)
        return; /* closed by the owner, or the client has not spoken yet */
    if ((rc = setup_ssl(c, NULL)) != 0) {
        fail(c, rc);
        return;
    }
    drive(c);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct vg_tls_conn *c = s->data;

    if (n == 0)
        return;
    if (n > 0)
        c->rx_bytes += (uint64_t)n;
    if (n < 0) {
        if (n == UV_EOF) {
            why(c, c->state == ST_TUNNEL      ? "the proxy closed the connection before "
                                                "answering the CONNECT"
                   : c->state == ST_PROXY     ? "the load balancer closed the connection before "
                                                "its PROXY protocol header"
                   : c->state == ST_HANDSHAKE ? "peer closed during the TLS handshake"
                                              : "peer closed the TCP connection");
            /* An EOF without close_notify mid-stream may be a truncation attack
             * or a crash; the owner decides what it means. */
            fail(c, c->state == ST_OPEN ? VG_ETRUNC : VG_EPROTO);
        } else {
            why(c, "read failed: %s", uv_strerror((int)n));
            fail(c, (int)n);
        }
        return;
    }
    if (c->state == ST_TUNNEL) {
        tunnel_read(c, (const uint8_t *)buf->base, (size_t)n);
        return;
    }
    if (c->state == ST_PROXY) {
        proxy_read(c, (const uint8_t *)buf->base, (size_t)n);
        return;
    }
    if (c->state != ST_HANDSHAKE && c->state != ST_OPEN)
        return;
    if (vg_buf_append(&c->in, buf->base, (size_t)n)) {
        why(c, "peer sends faster than TLS can consume");
        fail(c, VG_ETOOBIG);
        return;
    }
    if (!c->ssl_ready) {
        int rc = setup_ssl(c, NULL);
        if (rc) {
            fail(c, rc);
            return;
        }
    }
    drive(c);
}

static void timeout_cb(uv_timer_t *t)
{
    struct vg_tls_conn *c = t->data;
    if (c->state == ST_CONNECTING)
        why(c, "cannot connect within %u ms", c->cfg->handshake_timeout_ms);
    else if (c->state == ST_TUNNEL)
        why(c, "the proxy did not answer the CONNECT within %u ms",
            c->cfg->handshake_timeout_ms);
    else if (c->state == ST_PROXY)
        why(c, "no PROXY protocol header within %u ms from %s (a load balancer's address)",
            c->cfg->handshake_timeout_ms, c->addr);
    else
        why(c, "TLS handshake did not finish within %u ms", c->cfg->handshake_timeout_ms);
    fail(c, -ETIMEDOUT);
}

static void close_timeout_cb(uv_timer_t *t)
{
    close_handles(t->data);
}

static struct vg_tls_conn *conn_new(uv_loop_t *loop, struct vg_tls_config *cfg,
                                    const struct vg_tls_handlers *h, void *data)
{
    struct vg_tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cfg = cfg;
    cfg->refs++;
    c->h = h;
    c->data = data;
    vg_buf_init(&c->in, 1024 * 1024);
    vg_buf_init(&c->out, 2 * VG_TLS_WRITE_HIGH + 64 * 1024);
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    return c;
}

/* mbedtls's state for c (its two record buffers: 33 KiB).  A server sets
 * it up only when the client has said something, so that a socket that
 * never starts TLS costs almost nothing to accept and to close. */
static int setup_ssl(struct vg_tls_conn *c, const char *server_name)
{
    int rc;

    mbedtls_ssl_init(&c->ssl);
    c->ssl_ready = 1;
    rc = mbedtls_ssl_setup(&c->ssl, &c->cfg->conf);
    if (rc == 0 && server_name)
        rc = mbedtls_ssl_set_hostname(&c->ssl, server_name);
    if (rc == 0 && c->session && c->session->valid)
        mbedtls_ssl_set_session(&c->ssl, &c->session->s); /* failure: full handshake */
    if (rc) {
        char m[200];
        mbed_err(rc, m, sizeof(m));
        why(c, "TLS set-up failed: %s", m);
        return VG_ECRYPTO;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    return 0;
}

static int start_tls(struct vg_tls_conn *c, const char *server_name)
{
    int rc;

    if (!c->cfg->server && (rc = setup_ssl(c, server_name)) != 0)
        return rc;
    uv_tcp_nodelay(&c->tcp, 1);
    /* Kernel keepalive as a backstop to the application heartbeat: a peer
     * that vanished without FIN is eventually noticed even when idle. */
    uv_tcp_keepalive(&c->tcp, 1, 60);
    c->state = ST_HANDSHAKE;
    uv_timer_start(&c->timer, timeout_cb, c->cfg->handshake_timeout_ms, 0);
    if (!c->tunnel_reply) { /* through a tunnel, reading is already on */
        rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc) {
            why(c, "read failed: %s", uv_strerror(rc));
            return rc;
        }
    }
    if (c->ssl_ready)
        drive(c); /* the client speaks first */
    return 0;
}

static void addr_string(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(out, outlen, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(out, outlen, "[%s]:%d", ip, port);
    } else {
        snprintf(out, outlen, "?");
    }
}

int vg_tls_accept(uv_stream_t *listener, struct vg_tls_config *cfg,
                  const struct vg_tls_handlers *h, void *data, struct vg_tls_conn **out)
{
    struct vg_tls_conn *c = conn_new(listener->loop, cfg, h, data);
    struct sockaddr_storage ss;
    int len = sizeof(ss), rc;

    if (!c)
        return -ENOMEM;
    rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc) {
        /* Reported by the return value alone: no on_close. */
        static const struct vg_tls_handlers quiet;
        c->h = &quiet;
        close_handles(c);
        return rc;
    }
    if ((rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len)) != 0) {
        /* Gone already (reset before we accepted: a load balancer's
         * health check does that): nothing to talk to, nothing to log. */
        static const struct vg_tls_handlers quiet;
        c->h = &quiet;
        close_handles(c);
        return rc;
    }
    addr_string(&ss, c->addr, sizeof(c->addr));
    *out = c;
    rc = start_tls(c, NULL);
    if (rc)
        fail(c, rc);
    else if (h->proxied && h->proxied(data, (struct sockaddr *)&ss))
        c->state = ST_PROXY; /* reading is on; the handshake's timer bounds the wait */
    return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct vg_tls_conn *c = req->data;
    int rc;

    if (c->state == ST_CLOSED)
        return;
    if (status < 0) {
        why(c, "cannot connect: %s", uv_strerror(status));
        fail(c, status);
        return;
    }
    if (c->tunnel_reply) {
        /* The request is in c->out; the answer comes to tunnel_read. */
        c->state = ST_TUNNEL;
        uv_timer_start(&c->timer, timeout_cb, c->cfg->handshake_timeout_ms, 0);
        rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        if (rc == 0)
            rc = flush(c);
        else
            why(c, "read failed: %s", uv_strerror(rc));
        if (rc)
            fail(c, rc);
        return;
    }
    rc = start_tls(c, c->server_name);
    if (rc)
        fail(c, rc);
}

int vg_tls_connect(uv_loop_t *loop, struct vg_tls_config *cfg, const struct sockaddr *addr,
                   const char *server_name, struct vg_tls_session *session,
                   const struct vg_tls_handlers *h, void *data, struct vg_tls_conn **out)
{
    return vg_tls_connect_via(loop, cfg, addr, server_name, session, NULL, h, data, out);
}

int vg_tls_connect_via(uv_loop_t *loop, struct vg_tls_config *cfg, const struct sockaddr *addr,
                       const char *server_name, struct vg_tls_session *session,
                       const struct vg_tls_tunnel *tunnel, const struct vg_tls_handlers *h,
                       void *data, struct vg_tls_conn **out)
{
    struct vg_tls_conn *c;
    struct sockaddr_storage ss;
    int rc;

    if (!server_name || !server_name[0] || (tunnel && (!tunnel->reply || !tunnel->req_len)))
        return -EINVAL;
    c = conn_new(loop, cfg, h, data);
    if (!c)
        return -ENOMEM;
    if (tunnel) {
        if (vg_buf_append(&c->out, tunnel->req, tunnel->req_len)) {
            static const struct vg_tls_handlers quiet;
            c->h = &quiet;
            close_handles(c);
            return -ENOMEM;
        }
        c->tunnel_reply = tunnel->reply;
        c->tunnel_ctx = tunnel->ctx;
    }
    c->session = session;
    vg_strlcpy(c->server_name, server_name, sizeof(c->server_name));
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
    addr_string(&ss, c->addr, sizeof(c->addr));
    c->state = ST_CONNECTING;
    c->connect_req.data = c;
    uv_timer_start(&c->timer, timeout_cb, cfg->handshake_timeout_ms, 0);
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, connect_cb);
    if (rc) {
        /* Reported by the return value alone: no on_close. */
        static const struct vg_tls_handlers quiet;
        c->h = &quiet;
        close_handles(c);
        return rc;
    }
    *out = c;
    return 0;
}

int vg_tls_write(struct vg_tls_conn *c, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (c->state != ST_OPEN)
        return -ENOTCONN;
    if (c->queued + c->out.len >= VG_TLS_WRITE_HIGH)
        return VG_EAGAIN;
    while (len > 0) {
        int n = mbedtls_ssl_write(&c->ssl, p, len);
        if (n < 0) {
            char m[200];
            mbed_err(n, m, sizeof(m));
            why(c, "TLS write failed: %s", m);
            fail(c, VG_ECRYPTO);
            return VG_ECRYPTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return flush(c);
}

size_t vg_tls_queued(const struct vg_tls_conn *c)
{
    return c->queued + c->out.len;
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct vg_tls_conn *c = req->data;
    (void)status;
    close_handles(c);
}

void vg_tls_close(struct vg_tls_conn *c, const char *reason)
{
    if (reason)
        why(c, "%s", reason);
    if (c->state == ST_OPEN) {
        c->state = ST_CLOSING;
        uv_read_stop((uv_stream_t *)&c->tcp);
        mbedtls_ssl_close_notify(&c->ssl);
        if (c->out.len) {
            uv_buf_t b;
            struct write_req *w = malloc(sizeof(*w));
            if (w) {
                w->c = c;
                w->data = vg_buf_take(&c->out, &w->len);
                b = uv_buf_init((char *)w->data, (unsigned)w->len);
                if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) == 0)
                    c->queued += w->len;
                else {
                    free(w->data);
                    free(w);
                }
            }
        }
        /* Shutdown waits for queued writes; the timer bounds the wait. */
        c->shutdown_req.data = c;
        if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, shutdown_cb) == 0) {
            uv_timer_start(&c->timer, close_timeout_cb, 5000, 0);
            return;
        }
    }
    if (c->state != ST_CLOSED)
        close_handles(c);
}

void vg_tls_pause(struct vg_tls_conn *c, int paused)
{
    if (c->state != ST_OPEN || c->paused == paused)
        return;
    c->paused = paused;
    if (paused) {
        uv_read_stop((uv_stream_t *)&c->tcp);
    } else {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
        deliver(c); /* records mbedtls already holds */
        flush(c);
    }
}

int vg_tls_peer_verify(struct vg_tls_conn *c, const struct vg_tls_config *cfg, char *why_out,
                       size_t len)
{
    const mbedtls_x509_crt *peer;
    uint32_t flags = 0;
    int rc;

    if (c->state != ST_OPEN || !c->ssl_ready || !(peer = mbedtls_ssl_get_peer_cert(&c->ssl)))
        return 0; /* no certificate to judge (not open, or enrollment) */
    rc = mbedtls_x509_crt_verify((mbedtls_x509_crt *)peer, &cfg->ca->crt, NULL, NULL, &flags,
                                 NULL, NULL);
    if (rc == 0)
        return 0;
    if (flags) {
        char m[256];
        int n = mbedtls_x509_crt_verify_info(m, sizeof(m), "", flags);
        if (n > 0 && m[n - 1] == '\n')
            m[n - 1] = '\0';
        for (char *p = m; *p; p++)
            if (*p == '\n')
                *p = ';';
        snprintf(why_out, len, "%s", m);
    } else {
        mbed_err(rc, why_out, len);
    }
    return VG_ECERT;
}

void *vg_tls_data(const struct vg_tls_conn *c) { return c->data; }
void vg_tls_set_data(struct vg_tls_conn *c, void *data) { c->data = data; }
const struct vg_cert_info *vg_tls_peer(const struct vg_tls_conn *c)
{
    static const struct vg_cert_info none; /* before the handshake, or no certificate */
    return c->peer ? c->peer : &none;
}
const char *vg_tls_peer_addr(const struct vg_tls_conn *c) { return c->addr; }
const char *vg_tls_proxy_addr(const struct vg_tls_conn *c) { return c->via[0] ? c->via : NULL; }
uint64_t vg_tls_rx_bytes(const struct vg_tls_conn *c) { return c->rx_bytes; }
size_t vg_tls_held(const struct vg_tls_conn *c) { return c->in.cap + c->out.cap; }

int vg_tls_silent(struct vg_tls_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (c->rx_bytes)
        return 0;
    /* Said something the loop has not read yet (accepted in a burst)? */
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0)
        return 0;
    return 1;
}
const char *vg_tls_why(const struct vg_tls_conn *c) { return c->why; }
int vg_tls_resumed(const struct vg_tls_conn *c) { return c->resumed; }

const char *vg_tls_suite(const struct vg_tls_conn *c)
{
    return c->ssl_ready ? mbedtls_ssl_get_ciphersuite(&c->ssl) : "";
}
