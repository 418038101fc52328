/*
 * vigilctl db backup FILE [--force]: a copy of the collector's database,
 * made by the collector while ingest goes on (SQLite's online backup),
 * fetched in pieces and checked against its SHA-256 (collector/backup.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "ctl.h"
#include "util.h"

void ctl_usage_db(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl [OPTIONS] db backup FILE [--force]\n"
            "\n"
            "Copies the collector's database into FILE (mode 0600) while the collector\n"
            "runs and agents keep streaming: the collector makes the copy with SQLite's\n"
            "online backup API, as of one instant, beside its database, checks it (PRAGMA\n"
            "quick_check) and sends it in pieces; vigilctl checks its SHA-256 before it\n"
            "writes FILE.  An existing FILE is left unchanged unless --force is given.\n"
            "Needs the admin role, not limited by [operators] scopes (the copy holds\n"
            "every host); the backup and its fetch are audited.  One backup at a time.\n"
            "\n"
            "The database does not hold the audit checkpoint key, the TLS ticket keys or\n"
            "the PKI: see 'Backup and restore' in OPERATIONS.md for what to keep beside\n"
            "it, and for the restore (stop the collector, put FILE in place as its\n"
            "[collector] db, start it).\n"
            "\n"
            "Options:\n"
            "  --force   replace FILE if it exists\n"
            "\n"
            "With --json (before 'db'), prints {file, size, sha256, schema_version,\n"
            "snapshot}.\n"
            "\n"
            "Example:\n"
            "  vigilctl db backup /srv/backup/vigil-$(date +%%F).db\n"
            "\n"
            "Exit status: 0 written and verified, 1 failed, 2 usage.\n");
}

static const struct option backup_long[] = {
    { "force", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
const struct ctl_optset ctl_opts_db[] = {
    { "backup", ":h", backup_long },
    { NULL, NULL, NULL },
};

/* One DbBackup request; *res points into *owner (ctl_call_free). */
static int ask(struct ctl *ctl, const char *id, uint64_t offset, uint32_t max,
               const Vigil__V1__DbBackupResult **res, void **owner)
{
    Vigil__V1__OperatorRequest req = VIGIL__V1__OPERATOR_REQUEST__INIT;
    Vigil__V1__DbBackup q = VIGIL__V1__DB_BACKUP__INIT;
    Vigil__V1__OperatorResponse *resp;
    int rc;

    q.backup_id = (char *)id;
    q.offset = offset;
    q.max_bytes = max;
    req.request_id = 90;
    req.request_case = VIGIL__V1__OPERATOR_REQUEST__REQUEST_DB_BACKUP;
    req.db_backup = &q;
    if ((rc = ctl_query(ctl, &req, VIGIL__V1__OPERATOR_RESPONSE__RESPONSE_DB_BACKUP, &resp,
                        owner)) != 0)
        return rc;
    *res = resp->db_backup;
    return 0;
}

/* Moves the finished file into place; without force, never over an
 * existing file.  Returns 0 or an errno. */
static int place(const char *tmp, const char *path, int force)
{
    if (force)
        return rename(tmp, path) == 0 ? 0 : errno;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    if (link(tmp, path) != 0)
        return errno;
    unlink(tmp);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int db_backup(struct ctl *ctl, const char *path, int force)
{
    const Vigil__V1__DbBackupResult *r;
    struct vg_sha256 *h = NULL;
    uint8_t d[VG_SHA256_LEN];
    char id[64], want[VG_SHA256_HEX] = "", hex[VG_SHA256_HEX], tmp[4200], line[200];
    char snap[VG_TIME_STR_MAX] = "";
    uint64_t off = 0, total = 0;
    unsigned schema = 0;
    void *owner;
    struct stat st;
    int fd = -1, rc;

    if (!force && lstat(path, &st) == 0)
        return ctl_err("%s exists; it was left unchanged (give --force to replace it)", path);
    /* Start it, then wait for the copy (a large database takes a while). */
    if ((rc = ask(ctl, "", 0, 0, &r, &owner)) != 0)
        return rc;
    vg_strlcpy(id, r->backup_id, sizeof(id));
    ctl_call_free(owner);
    for (;;) {
        int ready, failed;
        if ((rc = ask(ctl, id, 0, 0, &r, &owner)) != 0)
            return rc;
        ready = strcmp(r->state, "ready") == 0;
        failed = strcmp(r->state, "failed") == 0;
        if (failed) {
            rc = ctl_err("the collector could not make the backup: %s", r->error);
            ctl_call_free(owner);
            return rc;
        }
        if (ready) {
            total = r->total_size;
            schema = r->schema_version;
            vg_strlcpy(want, r->sha256, sizeof(want));
            if (r->snapshot_time_ms)
                vg_time_format(r->snapshot_time_ms, snap, sizeof(snap));
            ctl_call_free(owner);
            break;
        }
        snprintf(line, sizeof(line), "backing up: %llu of %llu pages copied",
                 (unsigned long long)r->pages_done, (unsigned long long)r->pages_total);
        ctl_call_free(owner);
        ctl_status(line);
        sleep_ms(200);
    }
    snprintf(tmp, sizeof(tmp), "%s.part", path);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || !(h = vg_sha256_new())) {
        rc = ctl_err("cannot write %s: %s", tmp, strerror(fd < 0 ? errno : ENOMEM));
        goto out;
    }
    while (off < total) {
        if ((rc = ask(ctl, id, off, 1024 * 1024, &r, &owner)) != 0)
            goto out;
        if (r->offset != off || r->data.len == 0 ||
            write(fd, r->data.data, r->data.len) != (ssize_t)r->data.len) {
            ctl_call_free(owner);
            rc = ctl_err("the backup's download failed at offset %llu: %s",
                         (unsigned long long)off, strerror(errno));
            goto out;
        }
        vg_sha256_update(h, r->data.data, r->data.len);
        off += r->data.len;
        ctl_call_free(owner);
        snprintf(line, sizeof(line), "downloading: %llu of %llu bytes",
                 (unsigned long long)off, (unsigned long long)total);
        ctl_status(line);
    }
    ctl_status_end();
    vg_sha256_final(h, d);
    h = NULL;
    vg_hex(d, sizeof(d), hex);
    if (strcmp(hex, want) != 0) {
        rc = ctl_err("the backup's SHA-256 %s is not the collector's %s; nothing written", hex,
                     want);
        goto out;
    }
    if (fsync(fd) != 0) {
        rc = ctl_err("cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if ((rc = place(tmp, path, force)) != 0) {
        if (rc == EEXIST)
            rc = ctl_err("%s exists; it was left unchanged (give --force to replace it)", path);
        else
            rc = ctl_err("cannot write %s: %s", path, strerror(rc));
        goto out;
    }
    if (ctl->json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(path));
        json_object_set_new(o, "size", json_integer((json_int_t)total));
        json_object_set_new(o, "sha256", json_string(hex));
        json_object_set_new(o, "schema_version", json_integer(schema));
        json_object_set_new(o, "snapshot", snap[0] ? json_string(snap) : json_null());
        ctl_print_json(o);
        json_decref(o);
    } else {
        printf("wrote %s: %llu bytes, sha256 %s (matches the collector's), schema version %u, "
               "as of %s\n", path, (unsigned long long)total, hex, schema, snap[0] ? snap : "-");
    }
    return CTL_EXIT_OK;
out:
    ctl_status_end();
    if (h)
        vg_sha256_final(h, d);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc ? rc : CTL_EXIT_FAIL;
}

int ctl_cmd_db(struct ctl *ctl, int argc, char **argv)
{
    int c, force = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 2)
            return ctl_usage_err("db", "expected: db backup FILE");
        ctl_usage_db(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "backup") != 0)
        return ctl_usage_err("db", "unknown db command '%s' (there is: backup)", argv[1]);
    argc--;
    argv++;
    while ((c = ctl_getopt(argc, argv, ctl_opts_db)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': ctl_usage_db(stdout); return CTL_EXIT_OK;
        default: return ctl_usage_err("db", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return ctl_usage_err("db", "db backup needs exactly one FILE");
    return db_backup(ctl, argv[optind], force);
}
