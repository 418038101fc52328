/*
 * Uploads (triage packages) to the collector, over the telemetry
 * connection, in chunks that interleave with batches.
 *
 * A package waits in STATE_DIR/uploads/ as <id>.tar.lz4 with <id>.json
 * (command id, name, size, SHA-256) until the collector says it holds it
 * whole; a restart or a reconnect resumes it.  On each connection the
 * first chunk goes alone: the collector answers with the offset it
 * wants (what it has stored), and chunks follow from there, at most
 * MAX_INFLIGHT unacknowledged, and only while the TLS queue is short,
 * so that batches are never stuck behind a package.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "transport.h"
#include "upload.h"
#include "util.h"

#define CHUNK (128 * 1024)
#define MAX_INFLIGHT 4
#define QUEUE_LOW (512 * 1024)   /* send chunks only below this much queued */
#define MAX_UPLOADS 16

struct item {
    char id[VG_UUID_STR], command_id[VG_UUID_STR], name[128];
    uint64_t size;
    uint8_t sha256[VG_SHA256_LEN];
};

struct uploader {
    struct agent *a;
    char dir[4096];
    struct item q[MAX_UPLOADS];
    size_t n;
    /* the head of q, on this connection */
    int synced;           /* the collector told us where to go on */
    uint64_t pos;         /* next offset to send */
    unsigned inflight;
    int last_sent;        /* the chunk with the end went on this connection */
    uint64_t sent, acked_total; /* counters */
};

static void paths(const struct uploader *u, const char *id, char *data, char *meta, size_t len)
{
    snprintf(data, len, "%s/%s.tar.lz4", u->dir, id);
    snprintf(meta, len, "%s/%s.json", u->dir, id);
}

static int load_meta(struct uploader *u, const char *file, struct item *it)
{
    char path[4400], *text = NULL;
    size_t len;
    json_t *o;
    const char *id, *cmd, *name, *sha;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/%s", u->dir, file);
    if (vg_file_read(path, 64 * 1024, &text, &len) != 0)
        return -1;
    o = json_loadb(text, len, 0, NULL);
    free(text);
    id = o ? json_string_value(json_object_get(o, "upload_id")) : NULL;
    cmd = o ? json_string_value(json_object_get(o, "command_id")) : NULL;
    name = o ? json_string_value(json_object_get(o, "name")) : NULL;
    sha = o ? json_string_value(json_object_get(o, "sha256")) : NULL;
    memset(it, 0, sizeof(*it));
    if (id && cmd && name && sha && strlen(id) == VG_UUID_STR - 1 &&
        strlen(cmd) == VG_UUID_STR - 1 && strlen(sha) == 2 * VG_SHA256_LEN &&
        json_is_integer(json_object_get(o, "size"))) {
        vg_strlcpy(it->id, id, sizeof(it->id));
        vg_strlcpy(it->command_id, cmd, sizeof(it->command_id));
        vg_strlcpy(it->name, name, sizeof(it->name));
        it->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
        for (size_t i = 0; i < VG_SHA256_LEN; i++) {
            unsigned v;
            char h[3] = { sha[2 * i], sha[2 * i + 1], 0 };
            v = (unsigned)strtoul(h, NULL, 16);
            it->sha256[i] = (uint8_t)v;
        }
        rc = 0;
    }
    json_decref(o);
    return rc;
}

struct uploader *uploader_new(struct agent *a)
{
    struct uploader *u = calloc(1, sizeof(*u));
    DIR *d;
    struct dirent *de;

    if (!u)
        return NULL;
    u->a = a;
    snprintf(u->dir, sizeof(u->dir), "%s/uploads", a->conf->state_dir);
    if (mkdir(u->dir, 0700) < 0 && errno != EEXIST)
        log_warnx("[upload] cannot create %s: %s", u->dir, strerror(errno));
    if ((d = opendir(u->dir)) != NULL) {
        while ((de = readdir(d)) != NULL && u->n < MAX_UPLOADS) {
            if (vg_str_ends_with(de->d_name, ".tmp")) {
                /* A build the agent did not finish: its command is
                 * reported interrupted. */
                char p[4400];
                snprintf(p, sizeof(p), "%s/%s", u->dir, de->d_name);
                unlink(p);
                continue;
            }
            if (!vg_str_ends_with(de->d_name, ".json"))
                continue;
            if (load_meta(u, de->d_name, &u->q[u->n]) == 0) {
                log_info("[upload] %s (%s, %llu bytes) waits to be sent", u->q[u->n].name,
                         u->q[u->n].id, (unsigned long long)u->q[u->n].size);
                u->n++;
            } else {
                log_warnx("[upload] %s/%s is damaged; ignored", u->dir, de->d_name);
            }
        }
        closedir(d);
    }
    return u;
}

void uploader_free(struct uploader *u)
{
    free(u);
}

const char *uploader_dir(const struct uploader *u)
{
    return u->dir;
}

int uploader_add(struct uploader *u, const char *id, const char *command_id, const char *name,
                 uint64_t size, const uint8_t sha256[VG_SHA256_LEN])
{
    char data[4300], meta[4300], hex[VG_SHA256_HEX], *text;
    json_t *o;
    int rc;

    if (u->n == MAX_UPLOADS)
        return -ENOSPC;
    paths(u, id, data, meta, sizeof(data));
    vg_hex(sha256, VG_SHA256_LEN, hex);
    o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "upload_id", id, "command_id", command_id, "name",
                  name, "size", (json_int_t)size, "sha256", hex);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return -ENOMEM;
    rc = vg_file_write_atomic(meta, text, strlen(text), 0600, 0);
    free(text);
    if (rc)
        return rc;
    memset(&u->q[u->n], 0, sizeof(u->q[0]));
    vg_strlcpy(u->q[u->n].id, id, sizeof(u->q[0].id));
    vg_strlcpy(u->q[u->n].command_id, command_id, sizeof(u->q[0].command_id));
    vg_strlcpy(u->q[u->n].name, name, sizeof(u->q[0].name));
    u->q[u->n].size = size;
    memcpy(u->q[u->n].sha256, sha256, VG_SHA256_LEN);
    u->n++;
    uploader_pump(u);
    return 0;
}

void uploader_reset(struct uploader *u)
{
    if (!u)
        return;
    u->synced = 0;
    u->inflight = 0;
    u->last_sent = 0;
}

/* Sends one chunk of the head item from u->pos.  Returns 0, VG_EAGAIN
 * (queue full: nothing sent) or an error. */
static int send_chunk(struct uploader *u)
{
    struct item *it = &u->q[0];
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    Vigil__V1__UploadChunk ch = VIGIL__V1__UPLOAD_CHUNK__INIT;
    char data[4300], meta[4300];
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd, rc;

    paths(u, it->id, data, meta, sizeof(data));
    if (u->pos < it->size) {
        len = it->size - u->pos < CHUNK ? (size_t)(it->size - u->pos) : CHUNK;
        fd = open(data, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !(buf = malloc(len)) || pread(fd, buf, len, (off_t)u->pos) != (ssize_t)len) {
            if (fd >= 0)
                close(fd);
            free(buf);
            return -EIO;
        }
        close(fd);
    }
    ch.upload_id = it->id;
    ch.command_id = it->command_id;
    ch.name = it->name;
    ch.offset = u->pos;
    ch.data.data = buf;
    ch.data.len = len;
    if (u->pos + len == it->size) {
        ch.last = 1;
        ch.total_size = it->size;
        ch.sha256.data = it->sha256;
        ch.sha256.len = VG_SHA256_LEN;
    }
    env.body_case = VIGIL__V1__ENVELOPE__BODY_UPLOAD_CHUNK;
    env.upload_chunk = &ch;
    rc = transport_send(u->a->transport, &env);
    free(buf);
    if (rc == 0) {
        u->pos += len;
        u->inflight++;
        u->sent += len;
        u->last_sent = ch.last;
    }
    return rc;
}

/* Drops the head item (done, or refused for good). */
static void drop_head(struct uploader *u, const char *why)
{
    char data[4300], meta[4300];
    paths(u, u->q[0].id, data, meta, sizeof(data));
    if (why)
        log_warnx("[upload] %s (%s) given up: %s", u->q[0].name, u->q[0].id, why);
    unlink(meta);
    unlink(data);
    memmove(u->q, u->q + 1, (u->n - 1) * sizeof(u->q[0]));
    u->n--;
    u->synced = 0;
    u->inflight = 0;
    u->last_sent = 0;
}

void uploader_pump(struct uploader *u)
{
    struct transport *t = u ? u->a->transport : NULL;

    while (u && t && u->n && transport_ready(t)) {
        int rc;
        if (!u->synced) {
            /* One chunk, then wait for the collector's offset. */
            if (u->inflight)
                return;
            u->pos = 0;
        } else if (u->inflight >= MAX_INFLIGHT) { // NOLINT(bugprone-branch-clone): two reasons to wait
            return;
        } else if (u->pos >= u->q[0].size && (u->inflight || u->last_sent)) {
            return;
        }
        /* pos == size with nothing in flight: the collector holds every
         * byte but not the end (it stopped before checking the hash): an
         * empty last chunk finishes it. */
        if (transport_queued(t) >= QUEUE_LOW)
            return; /* batches first; on_drain comes back here */
        rc = send_chunk(u);
        if (rc == VG_EAGAIN || rc == -ENOTCONN)
            return;
        if (rc) {
            drop_head(u, "cannot read the package from the state directory");
            continue;
        }
        if (!u->synced)
            return;
    }
}

void uploader_on_ack(struct uploader *u, const Vigil__V1__UploadAck *a)
{
    if (!u || !u->n || strcmp(a->upload_id, u->q[0].id) != 0)
        return;
    if (u->inflight)
        u->inflight--;
    if (a->error[0]) {
        drop_head(u, a->error);
        uploader_pump(u);
        return;
    }
    if (a->complete) {
        log_info("[upload] %s (%s, %llu bytes) stored by the collector", u->q[0].name,
                 u->q[0].id, (unsigned long long)u->q[0].size);
        u->acked_total += u->q[0].size;
        drop_head(u, NULL);
        uploader_pump(u);
        return;
    }
    if (a->next_offset > u->q[0].size) {
        drop_head(u, "the collector holds more than the package's size");
        uploader_pump(u);
        return;
    }
    if (!u->synced) {
        /* Where the collector stands: resume from there. */
        if (a->next_offset != u->pos)
            log_info("[upload] resuming %s at %llu of %llu bytes", u->q[0].name,
                     (unsigned long long)a->next_offset, (unsigned long long)u->q[0].size);
        u->synced = 1;
        u->pos = a->next_offset;
        u->inflight = 0;
        u->last_sent = 0;
    } else if (a->next_offset != u->pos && u->inflight == 0) {
        u->pos = a->next_offset; /* out of step: go where it says */
    }
    uploader_pump(u);
}

size_t uploader_pending(const struct uploader *u)
{
    return u ? u->n : 0;
}
