/*
 * Audit checkpoints: the audit log's hash chain (store_audit_append)
 * shows an entry edited or deleted in the middle, but not the newest
 * entries deleted, all of them deleted, or an edit followed by a
 * recomputed chain: nothing in the database is secret.  So the collector
 * signs the chain's head (lib/acp.h) with a key the database does not
 * hold, at start, every checkpoint_interval when the log grew, hourly
 * anyway and at a clean stop, appends each checkpoint to a file and
 * optionally sends it to syslog.  audit_verify holds the log against
 * every checkpoint of the file.  What this does and does not protect
 * against: docs/OPERATIONS.md, "The audit log".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "acp.h"
#include "collector.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define IDLE_MS 3600000ULL          /* a checkpoint at least this often */
#define MAX_CHECKPOINTS (4u << 20)  /* in one file (years at one a minute) */

struct audit {
    struct vg_key *key;
    char key_path[4096], path[4096];
    int fd;                /* the checkpoint file, appending; -1 when unusable */
    struct vg_acp last;    /* the newest one written or read (seq 0: none) */
    uint64_t due_ms;       /* monotonic: the next interval check */
    uint64_t written_ms;   /* monotonic: when the last one was written */
    struct vg_ratelimit rl;
};

/* One checkpoint as audit_verify keeps it. */
struct cpk {
    uint64_t seq, entries;
    int64_t time_ms, last;
    char head[VG_SHA256_HEX];
};

/* What a scan of the checkpoint file found. */
struct scan {
    int keep;      /* keep every checkpoint in v */
    struct cpk *v;
    size_t n, cap;
    struct vg_acp last; /* the newest parsed (seq 0: none) */
    off_t good_end;     /* the end of the last complete line */
    int torn;           /* the file ends in a partial line */
    char why[300];      /* when damaged */
};

/* The database's path with suffix: each database its own key and
 * checkpoints, even when two collectors keep theirs in one directory. */
static void beside_db(const struct server *s, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s%s", s->conf->db, suffix);
}

/* Reads the checkpoint file: each line parsed, seq counting from 1, each
 * prev the link of the line before.  The signatures are not checked (the
 * newest one vouches for all: the caller checks it).  Returns 0, -ENOENT
 * (no file), -ENOMEM, VG_ECORRUPT (damaged: sc->why says where) or
 * -errno. */
static int scan_file(const char *path, struct scan *sc)
{
    char line[VG_ACP_LINE_MAX + 2], why[200];
    unsigned long long lineno = 0;
    off_t pos = 0;
    FILE *f;
    int fd, rc = 0;

    memset(&sc->last, 0, sizeof(sc->last));
    sc->good_end = 0;
    sc->torn = 0;
    sc->why[0] = '\0';
    if ((fd = vg_open_regular(path)) < 0)
        return fd;
    if (!(f = fdopen(fd, "r"))) {
        rc = -errno;
        close(fd);
        return rc;
    }
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        struct vg_acp cp;
        lineno++;
        if (len == 0 || line[len - 1] != '\n') {
            if (feof(f)) { /* a write cut short by a crash */
                sc->torn = 1;
                break;
            }
            snprintf(sc->why, sizeof(sc->why), "line %llu is too long for a checkpoint", lineno);
            rc = VG_ECORRUPT;
            break;
        }
        pos += (off_t)len;
        if (vg_acp_parse(line, len, &cp, why, sizeof(why)) != 0) {
            snprintf(sc->why, sizeof(sc->why), "line %llu: %s", lineno, why);
            rc = VG_ECORRUPT;
            break;
        }
        if (cp.seq != sc->last.seq + 1 ||
            strcmp(cp.prev, sc->last.seq ? sc->last.link : VG_ACP_GENESIS) != 0) {
            snprintf(sc->why, sizeof(sc->why), "line %llu (checkpoint #%llu) does not follow "
                     "the line before it: lines were removed, changed or inserted", lineno,
                     (unsigned long long)cp.seq);
            rc = VG_ECORRUPT;
            break;
        }
        if (sc->keep) {
            if (sc->n == sc->cap) {
                size_t nc = sc->cap ? 2 * sc->cap : 256;
                struct cpk *nv;
                if (sc->n >= MAX_CHECKPOINTS) {
                    snprintf(sc->why, sizeof(sc->why), "more than %u checkpoints: move the file "
                             "aside (keep it) to start a new one", MAX_CHECKPOINTS);
                    rc = VG_ECORRUPT;
                    break;
                }
                if (!(nv = realloc(sc->v, nc * sizeof(*nv)))) {
                    rc = -ENOMEM;
                    break;
                }
                sc->v = nv;
                sc->cap = nc;
            }
            struct cpk *k = &sc->v[sc->n++];
            k->seq = cp.seq;
            k->entries = cp.entries;
            k->time_ms = cp.time_ms;
            k->last = cp.last;
            memcpy(k->head, cp.head, sizeof(k->head));
        }
        sc->last = cp;
        sc->good_end = pos;
    }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}

/* Appends one checkpoint of the current head.  Returns 0, -EBUSY (a
 * transaction is open: try again later) or an error (logged). */
static int checkpoint(struct server *s, const char *reason)
{
    struct audit *a = s->audit;
    struct vg_acp cp;
    char line[VG_ACP_LINE_MAX + 1];
    size_t len;
    int rc;

    memset(&cp, 0, sizeof(cp));
    if ((rc = store_audit_head(s->store, &cp.entries, &cp.last, cp.head)) != 0)
        return rc;
    cp.seq = a->last.seq + 1;
    cp.time_ms = vg_time_now_ms();
    vg_strlcpy(cp.prev, a->last.seq ? a->last.link : VG_ACP_GENESIS, sizeof(cp.prev));
    vg_strlcpy(cp.reason, reason, sizeof(cp.reason));
    if ((rc = vg_acp_sign(&cp, a->key, line, sizeof(line) - 1)) != 0) {
        uint64_t sup;
        if (vg_ratelimit(&a->rl, &sup))
            log_warnx("audit: cannot sign a checkpoint of entry %lld: %s", (long long)cp.last,
                      rc == -EINVAL ? "its stored hash is malformed" : vg_strerror(rc));
        return rc;
    }
    len = strlen(line);
    line[len++] = '\n';
    if (a->fd < 0) {
        rc = -EBADF;
    } else if ((rc = vg_fd_write(a->fd, line, len)) == 0 && fdatasync(a->fd) != 0) {
        rc = -errno;
    }
    if (rc) {
        uint64_t sup;
        if (vg_ratelimit(&a->rl, &sup))
            log_warnx("audit: cannot append checkpoint #%llu to %s: %s",
                      (unsigned long long)cp.seq, a->path, vg_strerror(rc));
        return rc;
    }
    a->last = cp;
    a->written_ms = vg_time_mono_ms();
    if (s->conf->audit_syslog)
        syslog(LOG_AUTH | LOG_NOTICE, "%.*s", (int)(len - 1), line);
    log_debug("audit: checkpoint #%llu (%s): %llu entries, head %.12s",
              (unsigned long long)cp.seq, reason, (unsigned long long)cp.entries, cp.head);
    return 0;
}

void audit_tick(struct server *s)
{
    struct audit *a = s->audit;
    uint64_t now = vg_time_mono_ms(), entries;
    int64_t last;
    char head[65];

    if (!a || now < a->due_ms)
        return;
    if (store_audit_head(s->store, &entries, &last, head) != 0) {
        a->due_ms = now + 1000; /* in a transaction: soon */
        return;
    }
    a->due_ms = now + s->conf->audit_interval_ms;
    if (entries != a->last.entries || last != a->last.last || strcmp(head, a->last.head) != 0)
        (void)checkpoint(s, "interval");
    else if (now - a->written_ms >= IDLE_MS)
        (void)checkpoint(s, "idle");
}

static int load_key(struct audit *a, int *made, char *err, size_t errlen)
{
    char pub[1024], pub_path[4200];
    const char *dot;
    int rc;

    *made = 0;
    rc = vg_key_load(a->key_path, &a->key);
    if (rc == -ENOENT) {
        if ((rc = vg_key_generate(&a->key)) != 0 ||
            (rc = vg_key_save(a->key, a->key_path, 1)) != 0) {
            snprintf(err, errlen, "[audit] cannot make the checkpoint key %s: %s", a->key_path,
                     vg_strerror(rc));
            return rc;
        }
        *made = 1;
        log_info("audit: made the checkpoint key %s", a->key_path);
    } else if (rc) {
        snprintf(err, errlen, "[audit] cannot load the checkpoint key %s: %s", a->key_path,
                 vg_strerror(rc));
        return rc;
    }
    /* Its public half for auditors: DB-audit.key -> DB-audit.pub. */
    dot = strrchr(a->key_path, '.');
    if (dot && strcmp(dot, ".key") == 0 && !strchr(dot, '/'))
        snprintf(pub_path, sizeof(pub_path), "%.*s.pub", (int)(dot - a->key_path), a->key_path);
    else
        snprintf(pub_path, sizeof(pub_path), "%s.pub", a->key_path);
    if ((rc = vg_key_public_pem(a->key, pub, sizeof(pub))) != 0 ||
        (rc = vg_file_write_atomic(pub_path, pub, strlen(pub), 0644, 0)) != 0)
        log_warnx("audit: cannot write the checkpoint key's public half %s: %s", pub_path,
                  vg_strerror(rc));
    return 0;
}

int audit_init(struct server *s, char *err, size_t errlen)
{
    const struct collector_conf *cf = s->conf;
    struct audit_verdict v;
    struct scan sc;
    struct audit *a;
    int rc, made;

    if (!(a = calloc(1, sizeof(*a)))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    a->fd = -1;
    a->rl = (struct vg_ratelimit)VG_RATELIMIT_INIT(60000, 3);
    s->audit = a;
    if (cf->audit_key && cf->audit_key[0])
        vg_strlcpy(a->key_path, cf->audit_key, sizeof(a->key_path));
    else
        beside_db(s, "-audit.key", a->key_path, sizeof(a->key_path));
    if (cf->audit_checkpoints && cf->audit_checkpoints[0])
        vg_strlcpy(a->path, cf->audit_checkpoints, sizeof(a->path));
    else
        beside_db(s, "-audit.checkpoints", a->path, sizeof(a->path));
    if ((rc = load_key(a, &made, err, errlen)) != 0)
        goto fail;

    memset(&sc, 0, sizeof(sc));
    rc = scan_file(a->path, &sc);
    if (rc == -ENOENT) {
        if (!made)
            log_warnx("audit: no checkpoint file %s although the key %s exists: earlier "
                      "checkpoints were removed (or never written); starting a new file",
                      a->path, a->key_path);
    } else if (rc == VG_ECORRUPT) {
        /* Kept as it is, evidence: verify keeps reporting it until an
         * operator moves the file aside.  New lines follow the last good. */
        log_error("audit: the checkpoint file %s is damaged: %s", a->path, sc.why);
    } else if (rc) {
        snprintf(err, errlen, "[audit] cannot read the checkpoint file %s: %s", a->path,
                 vg_strerror(rc));
        goto fail;
    }
    if (sc.last.seq && vg_acp_verify(&sc.last, a->key) != 0) {
        /* Appending would make the new key vouch for the old lines. */
        snprintf(err, errlen, "[audit] the newest checkpoint in %.200s (#%llu) is not signed by "
                 "the key %.200s: the key was replaced or the file forged; restore the key, or "
                 "move the file aside (keep it) to start a new one", a->path,
                 (unsigned long long)sc.last.seq, a->key_path);
        rc = VG_ECRYPTO;
        goto fail;
    }
    a->last = sc.last;
    a->fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (a->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "[audit] cannot open the checkpoint file %s: %s", a->path,
                 strerror(errno));
        goto fail;
    }
    if (sc.torn && rc == 0) {
        log_warnx("audit: %s ends in a partial line (a crash while writing): dropped", a->path);
        if (ftruncate(a->fd, sc.good_end) != 0)
            log_warn("audit: cannot drop the partial line of %s", a->path);
    }

    /* The log as found, against the checkpoints, before signing anew. */
    if ((rc = audit_verify(s, INT64_MAX, NULL, NULL, &v)) != 0) {
        snprintf(err, errlen, "cannot read the audit log: %s", vg_strerror(rc));
        goto fail;
    }
    if (!v.ok) {
        log_error("audit: the audit log does not hold: %s", v.why);
        if (cf->audit_syslog)
            syslog(LOG_AUTH | LOG_ALERT, "vigil-audit-alert the audit log does not hold: %s",
                   v.why);
    } else if (v.cp_seq) {
        log_info("audit: the log matches checkpoint #%llu (%llu entries)",
                 (unsigned long long)v.cp_seq, (unsigned long long)v.cp_entries);
    }
    /* -EINVAL: the newest entry's hash is malformed (an edit the verdict
     * above reports); nothing to sign until an entry follows it. */
    if ((rc = checkpoint(s, "start")) != 0 && rc != -EINVAL) {
        snprintf(err, errlen, "[audit] cannot write a checkpoint to %s: %s", a->path,
                 vg_strerror(rc));
        goto fail;
    }
    a->due_ms = vg_time_mono_ms() + cf->audit_interval_ms;
    return 0;
fail:
    audit_free(s);
    return rc;
}

void audit_free(struct server *s)
{
    struct audit *a = s->audit;
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    vg_key_free(a->key);
    free(a);
    s->audit = NULL;
}

void audit_stop(struct server *s)
{
    if (!s->audit)
        return;
    if (checkpoint(s, "stop") != 0)
        log_warnx("audit: no checkpoint at stop: the entries since #%llu are covered only by "
                  "the next start's", (unsigned long long)s->audit->last.seq);
    audit_free(s);
}

/* ---- verification ---- */

struct walk {
    struct cpk **by_last; /* the checkpoints by the entry they end at */
    size_t n, j;
    int (*cb)(void *ctx, const struct store_audit *a);
    void *ctx;
    int64_t since_ms;
    uint64_t count;
    int64_t max_id;
    const struct cpk *bad;     /* the first checkpoint the log contradicts */
    int64_t good_last;         /* the highest entry a checkpoint vouched for before it */
};

static int by_last_cmp(const void *x, const void *y)
{
    const struct cpk *a = *(const struct cpk *const *)x, *b = *(const struct cpk *const *)y;
    if (a->last != b->last)
        return a->last < b->last ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int walk_cb(void *ctx, const struct store_audit *e)
{
    struct walk *w = ctx;
    w->count++;
    if (e->id > w->max_id)
        w->max_id = e->id;
    /* Checkpoints at entries that are not there: the chain's own check
     * names the gap. */
    while (w->j < w->n && w->by_last[w->j]->last < e->id)
        w->j++;
    for (; w->j < w->n && w->by_last[w->j]->last == e->id; w->j++) {
        if (strcmp(w->by_last[w->j]->head, e->hash ? e->hash : "") == 0) {
            if (!w->bad)
                w->good_last = e->id;
        } else if (!w->bad) {
            w->bad = w->by_last[w->j];
        }
    }
    if (w->cb && e->time_ms >= w->since_ms)
        return w->cb(w->ctx, e);
    return 0;
}

int audit_verify(struct server *s, int64_t since_ms,
                 int (*cb)(void *ctx, const struct store_audit *a), void *ctx,
                 struct audit_verdict *v)
{
    struct audit *a = s->audit;
    struct walk w;
    struct scan sc;
    const struct cpk *top = NULL;
    char why[200], t[VG_TIME_STR_MAX];
    int64_t broken = 0;
    int rc, src, authentic = 0;

    memset(v, 0, sizeof(*v));
    memset(&w, 0, sizeof(w));
    memset(&sc, 0, sizeof(sc));
    v->ok = 1;
    why[0] = '\0';

    /* The file first: only a file whose newest line is signed by our key,
     * and whose lines all link to it, says anything. */
    sc.keep = 1;
    src = a ? scan_file(a->path, &sc) : -ENOENT;
    if (src == -ENOMEM) {
        free(sc.v);
        return -ENOMEM;
    }
    if (src == 0 && sc.last.seq) {
        if (vg_acp_verify(&sc.last, a->key) != 0) {
            v->ok = 0;
            vg_strlcpy(v->kind, "checkpoints", sizeof(v->kind));
            snprintf(v->why, sizeof(v->why), "the newest checkpoint in %.160s (#%llu) is not signed "
                     "by this collector's audit key: forged, or the key was replaced",
                     a->path, (unsigned long long)sc.last.seq);
        } else if (a->last.seq > sc.last.seq ||
                   (a->last.seq == sc.last.seq && strcmp(a->last.link, sc.last.link) != 0)) {
            v->ok = 0;
            vg_strlcpy(v->kind, "checkpoints", sizeof(v->kind));
            snprintf(v->why, sizeof(v->why), "the checkpoint file %.160s lost its newest lines "
                     "while the collector ran (it wrote #%llu, the file ends at #%llu)",
                     a->path, (unsigned long long)a->last.seq, (unsigned long long)sc.last.seq);
        } else {
            authentic = 1;
        }
    } else if (src != 0 && src != -ENOENT) {
        v->ok = 0;
        vg_strlcpy(v->kind, "checkpoints", sizeof(v->kind));
        if (src == VG_ECORRUPT)
            snprintf(v->why, sizeof(v->why), "the checkpoint file %.160s is damaged: %.200s", a->path,
                     sc.why);
        else
            snprintf(v->why, sizeof(v->why), "cannot read the checkpoint file %.160s: %s", a->path,
                     vg_strerror(src));
    } else if (a && a->last.seq) {
        v->ok = 0;
        vg_strlcpy(v->kind, "checkpoints", sizeof(v->kind));
        snprintf(v->why, sizeof(v->why), "the checkpoint file %.160s was removed while the "
                 "collector ran (it wrote #%llu)", a->path, (unsigned long long)a->last.seq);
    }
    if (authentic) {
        if (!(w.by_last = malloc((sc.n ? sc.n : 1) * sizeof(*w.by_last)))) {
            free(sc.v);
            return -ENOMEM;
        }
        for (size_t i = 0; i < sc.n; i++) {
            w.by_last[i] = &sc.v[i];
            if (!top || sc.v[i].last > top->last ||
                (sc.v[i].last == top->last && sc.v[i].entries >= top->entries))
                top = &sc.v[i];
        }
        w.n = sc.n;
        qsort(w.by_last, w.n, sizeof(*w.by_last), by_last_cmp);
        v->cp_seq = sc.last.seq;
        v->cp_entries = sc.last.entries;
        v->cp_time_ms = sc.last.time_ms;
        v->cp_last = sc.last.last;
        vg_strlcpy(v->cp_head, sc.last.head, sizeof(v->cp_head));
    }

    w.cb = cb;
    w.ctx = ctx;
    w.since_ms = since_ms;
    rc = store_audit_list(s->store, INT64_MIN, 1, walk_cb, &w, &broken, why, sizeof(why));
    free(w.by_last);
    if (rc != 0) {
        free(sc.v);
        return rc;
    }

    /* The most precise finding first: the chain's own break, then what
     * only the checkpoints show, then the file's own damage (set above). */
    if (broken) {
        v->ok = 0;
        v->broken_id = broken;
        vg_strlcpy(v->kind, strstr(why, "missing") ? "deleted" : "edited", sizeof(v->kind));
        vg_strlcpy(v->why, why, sizeof(v->why));
    } else if (top && w.count == 0 && top->entries > 0) {
        v->ok = 0;
        vg_strlcpy(v->kind, "emptied", sizeof(v->kind));
        snprintf(v->why, sizeof(v->why), "all entries deleted: the log is empty, but the signed "
                 "checkpoint #%llu of %s covered %llu entries", (unsigned long long)top->seq,
                 vg_time_format(top->time_ms, t, sizeof(t)), (unsigned long long)top->entries);
    } else if (top && (w.max_id < top->last || w.count < top->entries)) {
        v->ok = 0;
        v->broken_id = w.max_id + 1;
        vg_strlcpy(v->kind, "truncated", sizeof(v->kind));
        snprintf(v->why, sizeof(v->why), "truncated: the %lld newest entries are missing (the "
                 "log ends at entry %lld, the signed checkpoint #%llu of %s covered entries up "
                 "to %lld)", (long long)(top->last - w.max_id), (long long)w.max_id,
                 (unsigned long long)top->seq, vg_time_format(top->time_ms, t, sizeof(t)),
                 (long long)top->last);
    } else if (w.bad) {
        v->ok = 0;
        v->broken_id = w.bad->last;
        vg_strlcpy(v->kind, "rewritten", sizeof(v->kind));
        snprintf(v->why, sizeof(v->why), "chain rewritten: entry %lld differs from the signed "
                 "checkpoint #%llu of %s (an entry from %lld to %lld was changed or deleted and "
                 "the chain recomputed after it)", (long long)w.bad->last,
                 (unsigned long long)w.bad->seq, vg_time_format(w.bad->time_ms, t, sizeof(t)),
                 (long long)w.good_last + 1, (long long)w.bad->last);
    }
    free(sc.v);
    return 0;
}
