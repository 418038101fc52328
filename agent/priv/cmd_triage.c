/*
 * Triage collection: see triage.h for the package's layout.
 *
 * Each item is made in memory (bounded), hashed, and written to the
 * archive as it is made, so the package never holds more than one item
 * in memory.  The manifest goes last, once every item's hash is known.
 *
 * libarchive is opened for each build and closed after it (lib/dlib.h),
 * not linked: it brings libxml2, ICU and libstdc++, which an agent that
 * never collects has no use for.
 */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utmp.h>

#include "agent.h"
#include "buf.h"
#include "dlib.h"
#include "err.h"
#include "log.h"
#include "pkg.h"
#include "proc.h"
#include "run.h"
#include "triage.h"
#include "util.h"
#include "vjson.h"

#define ITEM_MAX (64ULL * 1024 * 1024)   /* one generated item */
#define FILE_COPY_MAX (16ULL * 1024 * 1024)
#define LOG_TAIL (1024 * 1024)
#define LIST_MAX_ENTRIES 20000
#define LIST_MAX_DEPTH 8
#define WTMP_RECORDS 2000

/* The ABI built against (the soname has been .so.13 since 3.0). */
#ifndef VG_ARCHIVE_SONAME
#define VG_ARCHIVE_SONAME "libarchive.so.13"
#endif

static VG_DLSYM(archive_write_new);
static VG_DLSYM(archive_write_add_filter_lz4);
static VG_DLSYM(archive_write_set_format_pax_restricted);
static VG_DLSYM(archive_write_open_filename);
static VG_DLSYM(archive_write_header);
static VG_DLSYM(archive_write_data);
static VG_DLSYM(archive_write_close);
static VG_DLSYM(archive_write_free);
static VG_DLSYM(archive_error_string);
static VG_DLSYM(archive_entry_new);
static VG_DLSYM(archive_entry_free);
static VG_DLSYM(archive_entry_set_pathname);
static VG_DLSYM(archive_entry_set_size);
static VG_DLSYM(archive_entry_set_filetype);
static VG_DLSYM(archive_entry_set_perm);
static VG_DLSYM(archive_entry_set_mtime);
static const struct vg_dlsym archive_syms[] = {
    VG_DLSYM_ENTRY(archive_write_new),
    VG_DLSYM_ENTRY(archive_write_add_filter_lz4),
    VG_DLSYM_ENTRY(archive_write_set_format_pax_restricted),
    VG_DLSYM_ENTRY(archive_write_open_filename),
    VG_DLSYM_ENTRY(archive_write_header),
    VG_DLSYM_ENTRY(archive_write_data),
    VG_DLSYM_ENTRY(archive_write_close),
    VG_DLSYM_ENTRY(archive_write_free),
    VG_DLSYM_ENTRY(archive_error_string),
    VG_DLSYM_ENTRY(archive_entry_new),
    VG_DLSYM_ENTRY(archive_entry_free),
    VG_DLSYM_ENTRY(archive_entry_set_pathname),
    VG_DLSYM_ENTRY(archive_entry_set_size),
    VG_DLSYM_ENTRY(archive_entry_set_filetype),
    VG_DLSYM_ENTRY(archive_entry_set_perm),
    VG_DLSYM_ENTRY(archive_entry_set_mtime),
};
static struct vg_dlib archive_lib =
    VG_DLIB_INIT(VG_ARCHIVE_SONAME, "triage needs libarchive13 (rpm: libarchive)", archive_syms);

struct triage {
    const struct triage_opts *o;
    struct archive *ar;
    json_t *items, *skipped, *errors, *absent;
    uint64_t used;          /* items' bytes so far */
    uint64_t deadline_ms;   /* monotonic */
    int64_t now_ms;
    int failed;             /* the archive could not be written */
    char err[256];
    /* uid -> name, from /etc/passwd */
    struct { uint32_t uid; char name[64]; char home[256]; } *users;
    size_t nusers;
};

static void note_error(struct triage *t, const char *source, const char *what)
{
    json_array_append_new(t->errors, json_pack("{s:o, s:o}", "source", vg_json_text(source), "error",
                                               vg_json_text(what)));
}

/* name: the item's path in the archive, below triage/. */
static void skip(struct triage *t, const char *name, const char *source, const char *why)
{
    char path[4200];
    snprintf(path, sizeof(path), "triage/%s", name);
    json_array_append_new(t->skipped, json_pack("{s:o, s:o, s:o}", "path", vg_json_text(path), "source",
                                                vg_json_text(source), "reason", vg_json_text(why)));
}

static volatile int stopping; /* the agent is stopping: finish quickly */

void triage_abort(void)
{
    stopping = 1;
}

/* 1 (and the item listed as skipped) once the time bound is passed or
 * the agent is stopping: checked before each item is started. */
static int over(struct triage *t, const char *name, const char *source)
{
    if (!stopping && vg_time_mono_ms() <= t->deadline_ms)
        return 0;
    skip(t, name, source, stopping ? "the agent is stopping" : "the time bound was reached");
    return 1;
}

/* Adds one item.  Items that would pass the size bound, or come after the
 * time bound, are skipped and listed. */
static void add(struct triage *t, const char *name, const void *data, size_t len,
                const char *source, const char *method)
{
    char path[4200], why[160], hex[VG_SHA256_HEX];
    uint8_t h[VG_SHA256_LEN];
    struct archive_entry *e;

    snprintf(path, sizeof(path), "triage/%s", name);
    if (t->failed)
        return;
    if (t->used + len > t->o->max_bytes) {
        snprintf(why, sizeof(why), "%zu bytes would pass the size bound (%llu of %llu used)",
                 len, (unsigned long long)t->used, (unsigned long long)t->o->max_bytes);
        skip(t, name, source, why);
        return;
    }
    e = sym_archive_entry_new();
    sym_archive_entry_set_pathname(e, path);
    sym_archive_entry_set_size(e, (la_int64_t)len);
    sym_archive_entry_set_filetype(e, AE_IFREG);
    sym_archive_entry_set_perm(e, 0600);
    sym_archive_entry_set_mtime(e, (time_t)(t->now_ms / 1000), 0);
    if (sym_archive_write_header(t->ar, e) != ARCHIVE_OK ||
        (len && sym_archive_write_data(t->ar, data, len) != (la_ssize_t)len)) {
        snprintf(t->err, sizeof(t->err), "cannot write %.100s: %.120s", path,
                 sym_archive_error_string(t->ar) ? sym_archive_error_string(t->ar) : "?");
        t->failed = 1;
        sym_archive_entry_free(e);
        return;
    }
    sym_archive_entry_free(e);
    vg_sha256(data, len, h);
    vg_hex(h, sizeof(h), hex);
    t->used += len;
    if (json_array_append_new(t->items, json_pack("{s:o, s:o, s:o, s:I, s:s}", "path",
                                                  vg_json_text(path), "source", vg_json_text(source), "method",
                                                  vg_json_text(method), "size", (json_int_t)len,
                                                  "sha256", hex)) != 0) {
        /* In the archive but not in the manifest would be a lie: stop. */
        snprintf(t->err, sizeof(t->err), "cannot record %.200s in the manifest", path);
        t->failed = 1;
    }
}

static void add_json(struct triage *t, const char *name, json_t *v, const char *source,
                     const char *method)
{
    char *s = json_dumps(v, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!s) {
        note_error(t, source, "out of memory");
        return;
    }
    add(t, name, s, strlen(s), source, method);
    free(s);
}

/* Copies a file under files/<its path>: a regular file reached through
 * no symlink (a user's ~/.ssh may point anywhere; a FIFO would block). */
static void copy_file(struct triage *t, const char *src)
{
    char name[4200], why[300];
    char *data = NULL;
    size_t len;
    int fd = vg_open_regular(src), rc;

    snprintf(name, sizeof(name), "files%s", src);
    if (fd >= 0 && over(t, name, src)) {
        close(fd);
        return;
    }
    if (fd == -ENOENT) {
        /* Not on this host: said, so that it is not taken for missed. */
        json_array_append_new(t->absent, vg_json_text(src));
        return;
    }
    if (fd == -ELOOP || fd == -EINVAL) {
        skip(t, name, src, fd == -ELOOP ? "a symlink is on its path; not followed"
                                        : "not a regular file; not read");
        return;
    }
    if (fd < 0) {
        note_error(t, src, vg_strerror(fd));
        return;
    }
    rc = vg_fd_read(fd, FILE_COPY_MAX, &data, &len);
    close(fd);
    if (rc == VG_ETOOBIG) {
        snprintf(why, sizeof(why), "larger than %llu bytes", (unsigned long long)FILE_COPY_MAX);
        skip(t, name, src, why);
        return;
    }
    if (rc) {
        note_error(t, src, vg_strerror(rc));
        return;
    }
    add(t, name, data, len, src, "copy");
    free(data);
}

static void copy_glob(struct triage *t, const char *pattern)
{
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        char name[4200];
        if (lstat(g.gl_pathv[i], &st) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            copy_file(t, g.gl_pathv[i]);
            continue;
        }
        /* Matched but not copied: said. */
        snprintf(name, sizeof(name), "files%s", g.gl_pathv[i]);
        skip(t, name, g.gl_pathv[i],
             S_ISLNK(st.st_mode)   ? "a symlink; not followed"
             : S_ISDIR(st.st_mode) ? "a directory; give a pattern for its files"
                                   : "not a regular file; not read");
    }
    globfree(&g);
}

/* The last `max` bytes of a file, under files/<path>. */
static void tail_file(struct triage *t, const char *src, size_t max)
{
    char name[4200];
    int fd = vg_open_regular(src);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    struct stat st;
    char *buf;
    size_t n;

    if (!f) {
        char nm[4200];
        snprintf(nm, sizeof(nm), "files%s", src);
        if (fd == -ENOENT)
            json_array_append_new(t->absent, vg_json_text(src));
        else if (fd == -ELOOP || fd == -EINVAL)
            skip(t, nm, src, fd == -ELOOP ? "a symlink is on its path; not followed"
                                          : "not a regular file; not read");
        else
            note_error(t, src, fd < 0 ? vg_strerror(fd) : strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    snprintf(name, sizeof(name), "files%s", src);
    if (over(t, name, src)) {
        fclose(f);
        return;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return;
    }
    if ((uint64_t)st.st_size > max)
        fseeko(f, st.st_size - (off_t)max, SEEK_SET);
    buf = malloc(max);
    n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    snprintf(name, sizeof(name), "files%s", src);
    if (buf)
        add(t, name, buf, n, src, (uint64_t)st.st_size > max ? "last 1 MiB" : "copy");
    free(buf);
}

/* ---- users ---- */

static void load_users(struct triage *t)
{
    char *data = NULL, *line, *save = NULL;
    size_t len;
    if (vg_file_read("/etc/passwd", 8 * 1024 * 1024, &data, &len) != 0)
        return;
    for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7], *p = line;
        int nf = 0;
        uint64_t uid;
        while (nf < 7) {
            f[nf++] = p;
            if (!(p = strchr(p, ':')))
                break;
            *p++ = '\0';
        }
        if (nf < 6 || vg_parse_u64(f[2], 0, UINT32_MAX, &uid))
            continue;
        if (t->nusers % 64 == 0) {
            void *nv = realloc(t->users, (t->nusers + 64) * sizeof(*t->users));
            if (!nv)
                break;
            t->users = nv;
        }
        t->users[t->nusers].uid = (uint32_t)uid;
        vg_strlcpy(t->users[t->nusers].name, f[0], sizeof(t->users[0].name));
        vg_strlcpy(t->users[t->nusers].home, f[5], sizeof(t->users[0].home));
        t->nusers++;
    }
    free(data);
}

static json_t *user_json(const struct triage *t, uint32_t uid)
{
    for (size_t i = 0; i < t->nusers; i++)
        if (t->users[i].uid == uid)
            return json_string(t->users[i].name);
    return json_null();
}

/* ---- processes ---- */

static void processes(struct triage *t)
{
    struct proc_info *v = NULL;
    size_t n = 0;
    json_t *a;
    int rc;

    if (over(t, "processes.json", "/proc"))
        return;
    a = json_array();
    rc = proc_snapshot("", &v, &n);
    if (rc) {
        note_error(t, "/proc", vg_strerror(rc));
        json_decref(a);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct proc_info *p = &v[i];
        json_t *o = json_object(), *argv = json_array();
        char exe[64];
        uint8_t h[VG_SHA256_LEN];
        char hex[VG_SHA256_HEX];
        for (size_t k = 0; k < p->argv_len;) {
            size_t l = strnlen(p->argv + k, p->argv_len - k);
            char *s = strndup(p->argv + k, l);
            json_array_append_new(argv, vg_json_text(s));
            free(s);
            k += l + 1;
        }
        json_object_set_new(o, "pid", json_integer(p->pid));
        json_object_set_new(o, "ppid", json_integer(p->ppid));
        json_object_set_new(o, "uid", json_integer(p->uid));
        json_object_set_new(o, "user", user_json(t, p->uid));
        json_object_set_new(o, "euid", json_integer(p->euid));
        json_object_set_new(o, "comm", vg_json_text(p->comm));
        json_object_set_new(o, "exe", vg_json_text(p->exe));
        json_object_set_new(o, "argv", argv);
        json_object_set_new(o, "argv_truncated", json_boolean(p->argv_truncated));
        json_object_set_new(o, "cwd", vg_json_text(p->cwd));
        json_object_set_new(o, "start_time",
                            vg_json_time(p->start_boot_ns ? proc_boot_to_wall_ms(p->start_boot_ns) : 0));
        snprintf(exe, sizeof(exe), "/proc/%u/exe", p->pid);
        if (p->exe && p->exe[0] && vg_sha256_file(exe, t->o->hash_max, h) == 0) {
            vg_hex(h, sizeof(h), hex);
            json_object_set_new(o, "exe_sha256", json_string(hex));
        } else {
            json_object_set_new(o, "exe_sha256", json_null());
        }
        json_array_append_new(a, o);
    }
    proc_snapshot_free(v, n);
    add_json(t, "processes.json", a, "/proc", "read /proc/PID/{stat,status,cmdline,exe,cwd}");
    json_decref(a);
}

/* ---- sockets ---- */

struct sock_owner {
    uint64_t inode;
    uint32_t pid;
    char comm[17];
};

static int owner_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct sock_owner *)a)->inode, y = ((const struct sock_owner *)b)->inode;
    return x < y ? -1 : x > y;
}

/* inode -> (pid, comm) for every socket a process holds. */
static struct sock_owner *socket_owners(size_t *n)
{
    struct sock_owner *v = NULL;
    size_t cap = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;

    *n = 0;
    if (!d)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        char fdpath[64], comm[64] = "";
        uint64_t pid;
        DIR *fd;
        struct dirent *fe;
        char *c = NULL;
        size_t cl;
        if (vg_parse_u64(de->d_name, 1, UINT32_MAX, &pid))
            continue;
        snprintf(fdpath, sizeof(fdpath), "/proc/%llu/comm", (unsigned long long)pid);
        if (vg_file_read(fdpath, 64, &c, &cl) == 0) {
            vg_strlcpy(comm, c, sizeof(comm));
            comm[strcspn(comm, "\n")] = '\0';
            free(c);
        }
        snprintf(fdpath, sizeof(fdpath), "/proc/%llu/fd", (unsigned long long)pid);
        if (!(fd = opendir(fdpath)))
            continue;
        while ((fe = readdir(fd)) != NULL) {
            char lp[384], target[64];
            ssize_t l;
            uint64_t ino;
            if (fe->d_name[0] == '.')
                continue;
            snprintf(lp, sizeof(lp), "%s/%s", fdpath, fe->d_name);
            l = readlink(lp, target, sizeof(target) - 1);
            if (l <= 9)
                continue;
            target[l] = '\0';
            if (strncmp(target, "socket:[", 8) != 0)
                continue;
            target[l - 1] = '\0';
            if (vg_parse_u64(target + 8, 0, UINT64_MAX, &ino))
                continue;
            if (*n == cap) {
                void *nv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
                if (!nv)
                    break;
                v = nv;
            }
            v[*n].inode = ino;
            v[*n].pid = (uint32_t)pid;
            vg_strlcpy(v[*n].comm, comm, sizeof(v[*n].comm));
            (*n)++;
        }
        closedir(fd);
    }
    closedir(d);
    if (v)
        qsort(v, *n, sizeof(*v), owner_cmp);
    return v;
}

/* "0100007F:1F90" (hex, network order per 32-bit word) -> text. */
static void hexaddr(const char *s, int v6, char *out, size_t len)
{
    unsigned char b[16];
    unsigned port = 0;
    const char *colon = strchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (!colon || hl != (v6 ? 32u : 8u)) {
        snprintf(out, len, "?");
        return;
    }
    for (size_t w = 0; w < hl / 8; w++) {
        unsigned long word = 0;
        char part[9];
        memcpy(part, s + w * 8, 8);
        part[8] = '\0';
        word = strtoul(part, NULL, 16);
        /* Each 32-bit word is in host (little-endian) order. */
        b[w * 4 + 0] = (unsigned char)(word & 0xff);
        b[w * 4 + 1] = (unsigned char)((word >> 8) & 0xff);
        b[w * 4 + 2] = (unsigned char)((word >> 16) & 0xff);
        b[w * 4 + 3] = (unsigned char)((word >> 24) & 0xff);
    }
    port = (unsigned)strtoul(colon + 1, NULL, 16);
    {
        char a[64];
        inet_ntop(v6 ? AF_INET6 : AF_INET, b, a, sizeof(a));
        snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", a, port);
    }
}

static const char *tcp_state(unsigned st)
{
    static const char *const names[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
                                         "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                                         "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING" };
    return st < VG_ARRAY_SIZE(names) ? names[st] : "?";
}

static void sockets(struct triage *t)
{
    static const char *const files[] = { "tcp", "tcp6", "udp", "udp6" };
    size_t nown;
    struct sock_owner *own;
    json_t *a;

    if (over(t, "sockets.json", "/proc/net"))
        return;
    own = socket_owners(&nown);
    a = json_array();

    for (size_t f = 0; f < VG_ARRAY_SIZE(files); f++) {
        char path[64], *data = NULL, *line, *save = NULL;
        size_t len;
        int v6 = strchr(files[f], '6') != NULL, udp = files[f][0] == 'u';
        snprintf(path, sizeof(path), "/proc/net/%s", files[f]);
        if (vg_file_read(path, 64 * 1024 * 1024, &data, &len) != 0) {
            note_error(t, path, "cannot read");
            continue;
        }
        strtok_r(data, "\n", &save); /* the header */
        for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *tok[12], *p = line, *sv = NULL;
            int nt = 0;
            char local[80], remote[80];
            unsigned st;
            uint64_t ino;
            json_t *o, *owners = json_array();
            while (nt < 12 && (tok[nt] = strtok_r(nt ? NULL : p, " ", &sv)) != NULL)
                nt++;
            if (nt < 10)
                continue;
            hexaddr(tok[1], v6, local, sizeof(local));
            hexaddr(tok[2], v6, remote, sizeof(remote));
            st = (unsigned)strtoul(tok[3], NULL, 16);
            ino = strtoull(tok[9], NULL, 10);
            if (own && ino) {
                struct sock_owner key = { ino, 0, "" }, *hit;
                hit = bsearch(&key, own, nown, sizeof(*own), owner_cmp);
                while (hit && hit > own && hit[-1].inode == ino)
                    hit--;
                for (; hit && hit < own + nown && hit->inode == ino; hit++)
                    json_array_append_new(owners, json_pack("{s:i, s:o}", "pid", (int)hit->pid,
                                                            "comm", vg_json_text(hit->comm)));
            }
            o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:o}", "proto", files[f], "local",
                          local, "remote", remote, "state",
                          udp ? (st == 7 ? "UNCONN" : tcp_state(st)) : tcp_state(st), "uid",
                          (int)strtol(tok[7], NULL, 10), "inode", (json_int_t)ino, "processes", owners);
            json_array_append_new(a, o);
        }
        free(data);
    }
    free(own);
    add_json(t, "sockets.json", a, "/proc/net/{tcp,tcp6,udp,udp6}, /proc/PID/fd",
             "parse /proc/net, owners by socket inode");
    json_decref(a);
}

/* ---- logins ---- */

static json_t *utmp_json(const struct utmp *u)
{
    static const char *const types[] = { "empty", "run_level", "boot_time", "new_time",
                                         "old_time", "init", "login", "user", "dead",
                                         "accounting" };
    char user[sizeof(u->ut_user) + 1], line[sizeof(u->ut_line) + 1],
        host[sizeof(u->ut_host) + 1];
    memcpy(user, u->ut_user, sizeof(u->ut_user));
    user[sizeof(u->ut_user)] = '\0';
    memcpy(line, u->ut_line, sizeof(u->ut_line));
    line[sizeof(u->ut_line)] = '\0';
    memcpy(host, u->ut_host, sizeof(u->ut_host));
    host[sizeof(u->ut_host)] = '\0';
    return json_pack("{s:s, s:o, s:o, s:o, s:i, s:o}", "type",
                     u->ut_type >= 0 && (size_t)u->ut_type < VG_ARRAY_SIZE(types)
                         ? types[u->ut_type] : "?",
                     "user", vg_json_text(user), "line", vg_json_text(line), "host", vg_json_text(host), "pid",
                     (int)u->ut_pid, "time",
                     vg_json_time((int64_t)u->ut_tv.tv_sec * 1000 + u->ut_tv.tv_usec / 1000));
}

/* The last `max` records of a utmp-format file. */
static json_t *utmp_file(struct triage *t, const char *path, size_t max)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    struct utmp u;
    json_t *a;
    size_t n;

    if (!f) {
        if (errno == ENOENT)
            json_array_append_new(t->absent, vg_json_text(path));
        return json_null();
    }
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return json_null();
    }
    n = (size_t)st.st_size / sizeof(u);
    if (n > max)
        fseeko(f, (off_t)((n - max) * sizeof(u)), SEEK_SET);
    a = json_array();
    while (fread(&u, sizeof(u), 1, f) == 1)
        if (u.ut_type != EMPTY)
            json_array_append_new(a, utmp_json(&u));
    if (ferror(f))
        note_error(t, path, "read error");
    fclose(f);
    return a;
}

static void logins(struct triage *t)
{
    json_t *o;
    if (over(t, "logins.json", "/var/run/utmp, /var/log/wtmp, /var/log/btmp"))
        return;
    o = json_object();
    json_object_set_new(o, "logged_in", utmp_file(t, "/var/run/utmp", 10000));
    json_object_set_new(o, "recent", utmp_file(t, "/var/log/wtmp", WTMP_RECORDS));
    json_object_set_new(o, "failed", utmp_file(t, "/var/log/btmp", WTMP_RECORDS));
    add_json(t, "logins.json", o, "/var/run/utmp, /var/log/wtmp, /var/log/btmp",
             "utmp records (null: file absent)");
    json_decref(o);
}

/* ---- packages ---- */

static void packages(struct triage *t)
{
    struct pkg_list l;
    struct pkg_report rep;
    json_t *o;
    const char *const mgr[] = { "dpkg", "rpm" };

    if (over(t, "packages.json", "/var/lib/dpkg/status, rpm -qa"))
        return;
    o = json_object();

    for (int m = 0; m < 2; m++) {
        json_t *a;
        int rc;
        memset(&l, 0, sizeof(l));
        memset(&rep, 0, sizeof(rep));
        rc = m == 0 ? pkg_dpkg_read("", &l, &rep) : pkg_rpm_read("", &l, &rep);
        if (rc) {
            pkg_list_free(&l);
            continue; /* that manager is not on this host */
        }
        a = json_array();
        for (size_t i = 0; i < l.n; i++)
            json_array_append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:o}", "name",
                                               vg_json_text(l.v[i].name), "version", vg_json_text(l.v[i].version),
                                               "arch", vg_json_text(l.v[i].arch), "status",
                                               vg_json_text(l.v[i].status), "installed",
                                               vg_json_time(l.v[i].install_time_ms)));
        json_object_set_new(o, mgr[m], a);
        pkg_list_free(&l);
    }
    add_json(t, "packages.json", o, "/var/lib/dpkg/status, rpm -qa", "package inventory");
    json_decref(o);
}

/* ---- listings ---- */

static void list_entry(struct triage *t, json_t *a, const char *path, const struct stat *st)
{
    json_t *o = json_object();
    const char *type = S_ISREG(st->st_mode)   ? "file"
                       : S_ISDIR(st->st_mode) ? "dir"
                       : S_ISLNK(st->st_mode) ? "symlink"
                       : S_ISFIFO(st->st_mode) ? "fifo"
                       : S_ISSOCK(st->st_mode) ? "socket"
                                               : "other";
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(st->st_mode & 07777));
    json_object_set_new(o, "path", vg_json_text(path));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "size", json_integer((json_int_t)st->st_size));
    json_object_set_new(o, "mtime", vg_json_time((int64_t)st->st_mtim.tv_sec * 1000 +
                                          st->st_mtim.tv_nsec / 1000000));
    json_object_set_new(o, "uid", json_integer(st->st_uid));
    json_object_set_new(o, "owner", user_json(t, st->st_uid));
    json_object_set_new(o, "gid", json_integer(st->st_gid));
    json_object_set_new(o, "mode", json_string(mode));
    if (S_ISLNK(st->st_mode)) {
        char target[4096];
        ssize_t l = readlink(path, target, sizeof(target) - 1);
        if (l >= 0) {
            target[l] = '\0';
            json_object_set_new(o, "target", vg_json_text(target));
        }
    }
    if (S_ISREG(st->st_mode)) {
        uint8_t h[VG_SHA256_LEN];
        char hex[VG_SHA256_HEX];
        /* Past the time bound: listed, not hashed. */
        int late = stopping || vg_time_mono_ms() > t->deadline_ms;
        int fd = !late && (uint64_t)st->st_size <= t->o->hash_max ? vg_open_regular(path)
                                                                  : -EFBIG;
        if (fd >= 0 && vg_sha256_fd(fd, t->o->hash_max, h) == 0) {
            vg_hex(h, sizeof(h), hex);
            json_object_set_new(o, "sha256", json_string(hex));
        } else {
            /* Too big, swapped for something else, or unreadable. */
            json_object_set_new(o, "sha256", json_null());
        }
        if (fd >= 0)
            close(fd);
    }
    json_array_append_new(a, o);
}

static void walk(struct triage *t, json_t *a, const char *dir, int depth, size_t *count,
                 dev_t dev)
{
    DIR *d;
    struct dirent *de;

    int fd;

    if (depth > LIST_MAX_DEPTH)
        return;
    /* Not through a symlink put in place since the lstat. */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL && *count < LIST_MAX_ENTRIES) {
        char path[4096];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) != 0)
            continue;
        list_entry(t, a, path, &st);
        (*count)++;
        if (!S_ISDIR(st.st_mode))
            continue;
        if (st.st_dev != dev) {
            /* Another file system (a user's FUSE mount could stall us). */
            note_error(t, path, "another file system mounted here; not descended into");
            continue;
        }
        walk(t, a, path, depth + 1, count, dev);
    }
    closedir(d);
}

static void listings(struct triage *t)
{
    static const char *const dirs[] = { "/tmp", "/var/tmp", "/dev/shm" };
    json_t *o, *keys;

    if (over(t, "listings.json", "/tmp, /var/tmp, /dev/shm, ~/.ssh/authorized_keys"))
        return;
    o = json_object();
    keys = json_array();

    /* Each directory has its own budget: a /tmp flooded with files (a
     * build tree, or on purpose) must not hide what is in /dev/shm. */
    for (size_t i = 0; i < VG_ARRAY_SIZE(dirs); i++) {
        json_t *a = json_array();
        struct stat top;
        size_t count = 0;
        if (lstat(dirs[i], &top) == 0 && S_ISDIR(top.st_mode))
            walk(t, a, dirs[i], 0, &count, top.st_dev);
        json_object_set_new(o, dirs[i], a);
        if (count >= LIST_MAX_ENTRIES)
            note_error(t, dirs[i], "listing cut at 20000 entries");
    }
    for (size_t i = 0; i < t->nusers; i++) {
        static const char *const files[] = { ".ssh/authorized_keys", ".ssh/authorized_keys2" };
        for (size_t k = 0; k < VG_ARRAY_SIZE(files); k++) {
            char path[4096];
            struct stat st;
            if (!t->users[i].home[0])
                continue;
            snprintf(path, sizeof(path), "%s/%s", t->users[i].home, files[k]);
            if (lstat(path, &st) == 0) {
                list_entry(t, keys, path, &st);
                if (S_ISREG(st.st_mode))
                    copy_file(t, path);
            }
        }
    }
    json_object_set_new(o, "authorized_keys", keys);
    add_json(t, "listings.json", o, "/tmp, /var/tmp, /dev/shm, ~/.ssh/authorized_keys",
             "lstat, SHA-256 of files up to the hash bound");
    json_decref(o);
}

/* ---- systemd units ---- */

/* Every path some dpkg package owns (sorted, for bsearch). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **dpkg_paths(size_t *n, char **blob)
{
    glob_t g;
    struct vg_buf b;
    char **v = NULL;
    size_t cap = 0, len;

    *n = 0;
    *blob = NULL;
    if (glob("/var/lib/dpkg/info/*.list", 0, NULL, &g) != 0)
        return NULL;
    vg_buf_init(&b, 256 * 1024 * 1024);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *data = NULL;
        if (vg_file_read(g.gl_pathv[i], 64 * 1024 * 1024, &data, &len) == 0) {
            if (vg_buf_append(&b, data, len) || vg_buf_append(&b, "\n", 1)) {
                free(data);
                break;
            }
            free(data);
        }
    }
    globfree(&g);
    *blob = (char *)vg_buf_take(&b, &len);
    vg_buf_free(&b);
    if (!*blob)
        return NULL;
    for (char *p = *blob, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        if (strstr(p, "systemd/system/") == NULL)
            continue; /* only units matter here */
        if (*n == cap) {
            void *nv = realloc(v, (cap = cap ? cap * 2 : 1024) * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = p;
    }
    if (v)
        qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static int owned(char **v, size_t n, const char *path)
{
    char real[4200];
    const char *key = path;
    /* /lib is /usr/lib on merged-/usr hosts; dpkg lists either. */
    if (v && bsearch(&key, v, n, sizeof(*v), cmp_str))
        return 1;
    if (strncmp(path, "/usr/lib/", 9) == 0) {
        snprintf(real, sizeof(real), "%s", path + 4);
        key = real;
        return v && bsearch(&key, v, n, sizeof(*v), cmp_str) != NULL;
    }
    if (strncmp(path, "/lib/", 5) == 0) {
        snprintf(real, sizeof(real), "/usr%s", path);
        key = real;
        return v && bsearch(&key, v, n, sizeof(*v), cmp_str) != NULL;
    }
    return 0;
}

static void units(struct triage *t)
{
    static const char *const dirs[] = { "/etc/systemd/system", "/run/systemd/system",
                                        "/usr/local/lib/systemd/system",
                                        "/usr/lib/systemd/system", "/lib/systemd/system" };
    size_t n;
    char *blob = NULL, **paths;
    int have_dpkg = access("/var/lib/dpkg/status", F_OK) == 0;
    json_t *a;

    if (over(t, "units.json", "systemd unit directories"))
        return;
    paths = dpkg_paths(&n, &blob);
    a = json_array();

    for (size_t i = 0; i < VG_ARRAY_SIZE(dirs); i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *de;
        if (!d)
            continue;
        while ((de = readdir(d)) != NULL) {
            char path[4096];
            struct stat st;
            int is_timer, pkg;
            const char *dot = strrchr(de->d_name, '.');
            if (!dot || de->d_name[0] == '.' || strcmp(dot, ".wants") == 0 ||
                strcmp(dot, ".requires") == 0 || strcmp(dot, ".d") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
            if (lstat(path, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
                continue;
            is_timer = strcmp(dot, ".timer") == 0;
            pkg = have_dpkg ? owned(paths, n, path) : -1;
            if (pkg == 1 && !is_timer)
                continue; /* packaged services are in the package inventory */
            json_array_append_new(a, json_pack("{s:o, s:s, s:o, s:o}", "path", vg_json_text(path),
                                               "kind", dot + 1, "packaged",
                                               pkg < 0 ? json_null() : json_boolean(pkg),
                                               "mtime", vg_json_time((int64_t)st.st_mtim.tv_sec * 1000)));
            if (pkg != 1 && S_ISREG(st.st_mode))
                copy_file(t, path);
        }
        closedir(d);
    }
    free(paths);
    free(blob);
    add_json(t, "units.json", a, "systemd unit directories, dpkg file lists",
             "timers, and units no package owns (packaged: null where dpkg is absent)");
    json_decref(a);
}

/* ---- logs ---- */

static void logs(struct triage *t)
{
    static const char *const files[] = { "/var/log/auth.log", "/var/log/syslog",
                                         "/var/log/secure", "/var/log/messages",
                                         "/var/log/kern.log", "/var/log/audit/audit.log" };
    if (access("/run/systemd/journal", F_OK) != 0) {
        json_array_append_new(t->absent, json_string("the systemd journal"));
    } else if (!over(t, "journal.export", "journalctl -o export -n 20000")) {
        char *argv[] = { "journalctl", "--no-pager", "-o", "export", "-n", "20000", NULL };
        char *out = NULL;
        size_t len = 0;
        int status = 0;
        uint64_t room = t->o->max_bytes > t->used ? t->o->max_bytes - t->used : 0;
        size_t cap = room < 64 * 1024 * 1024 ? (size_t)room : 64 * 1024 * 1024;
        int rc = cap ? vg_run_capture(argv, cap, 60000, &out, &len, &status) : VG_ETOOBIG;
        if (rc == 0 && status == 0)
            add(t, "journal.export", out, len, "journalctl -o export -n 20000",
                "the journal's last 20,000 entries (journal export format)");
        else if (rc == VG_ETOOBIG)
            skip(t, "journal.export", "journalctl -o export -n 20000",
                 "larger than the room left under the size bound");
        else
            note_error(t, "journalctl", rc ? vg_strerror(rc) : "exited with an error");
        free(out);
    }
    for (size_t i = 0; i < VG_ARRAY_SIZE(files); i++)
        tail_file(t, files[i], LOG_TAIL);
}

/* ---- the package ---- */

int triage_build(const struct triage_opts *o, const char *path, struct triage_result *r,
                 char *err, size_t errlen)
{
    struct triage t;
    json_t *m;
    char hostname[256] = "", *man;
    int64_t started = vg_time_now_ms();
    int rc = 0;

    memset(&t, 0, sizeof(t));
    memset(r, 0, sizeof(*r));
    if (vg_dlib_open(&archive_lib, err, errlen) != 0)
        return -ENOENT;
    t.o = o;
    t.now_ms = started;
    t.deadline_ms = vg_time_mono_ms() + o->max_seconds * 1000;
    t.items = json_array();
    t.skipped = json_array();
    t.errors = json_array();
    t.absent = json_array();
    unlink(path);
    t.ar = sym_archive_write_new();
    if (!t.ar || sym_archive_write_add_filter_lz4(t.ar) != ARCHIVE_OK ||
        sym_archive_write_set_format_pax_restricted(t.ar) != ARCHIVE_OK ||
        sym_archive_write_open_filename(t.ar, path) != ARCHIVE_OK) {
        snprintf(err, errlen, "cannot create %s: %s", path,
                 t.ar && sym_archive_error_string(t.ar) ? sym_archive_error_string(t.ar) : "?");
        rc = -EIO;
        goto out;
    }
    chmod(path, 0600);
    load_users(&t);
    processes(&t);
    sockets(&t);
    logins(&t);
    copy_file(&t, "/etc/passwd");
    copy_file(&t, "/etc/group");
    copy_file(&t, "/etc/sudoers");
    copy_glob(&t, "/etc/sudoers.d/*");
    copy_file(&t, "/etc/crontab");
    copy_file(&t, "/etc/anacrontab");
    copy_glob(&t, "/etc/cron.d/*");
    copy_glob(&t, "/var/spool/cron/crontabs/*");
    copy_glob(&t, "/var/spool/cron/*");
    copy_file(&t, "/proc/modules");
    copy_file(&t, "/proc/1/mountinfo"); /* the host's mounts, as init sees them */
    for (size_t i = 0; o->extra && i < o->extra->n; i++)
        copy_glob(&t, o->extra->v[i]);
    units(&t);
    listings(&t);
    packages(&t);
    logs(&t);
    gethostname(hostname, sizeof(hostname) - 1);
    m = json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I}, s:I}",
                  "type", "vigil-triage", "version", 1, "agent_id", vg_json_text(o->agent_id),
                  "hostname", vg_json_text(hostname), "command_id", vg_json_text(o->command_id), "operator",
                  vg_json_text(o->operator_name), "reason", vg_json_text(o->reason), "started", vg_json_time(started),
                  "finished", vg_json_time(vg_time_now_ms()), "limits", "max_bytes",
                  (json_int_t)o->max_bytes, "max_seconds", (json_int_t)o->max_seconds,
                  "hash_max_bytes", (json_int_t)o->hash_max, "content_bytes",
                  (json_int_t)t.used);
    r->items = (unsigned)json_array_size(t.items);
    r->skipped = (unsigned)json_array_size(t.skipped);
    r->errors = (unsigned)json_array_size(t.errors);
    json_object_set(m, "items", t.items);
    json_object_set(m, "skipped", t.skipped);
    json_object_set(m, "errors", t.errors);
    json_object_set(m, "absent", t.absent);
    man = m ? json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(m);
    if (man && !t.failed) {
        /* The manifest is written whatever the bound: it says what is in. */
        struct archive_entry *e = sym_archive_entry_new();
        sym_archive_entry_set_pathname(e, "triage/manifest.json");
        sym_archive_entry_set_size(e, (la_int64_t)strlen(man));
        sym_archive_entry_set_filetype(e, AE_IFREG);
        sym_archive_entry_set_perm(e, 0600);
        sym_archive_entry_set_mtime(e, (time_t)(started / 1000), 0);
        if (sym_archive_write_header(t.ar, e) != ARCHIVE_OK ||
            sym_archive_write_data(t.ar, man, strlen(man)) != (la_ssize_t)strlen(man)) {
            t.failed = 1;
            snprintf(t.err, sizeof(t.err), "cannot write the manifest: %s",
                     sym_archive_error_string(t.ar) ? sym_archive_error_string(t.ar) : "?");
        }
        sym_archive_entry_free(e);
    }
    free(man);
    if (sym_archive_write_close(t.ar) != ARCHIVE_OK && !t.failed) {
        t.failed = 1;
        snprintf(t.err, sizeof(t.err), "cannot finish %s: %s", path,
                 sym_archive_error_string(t.ar) ? sym_archive_error_string(t.ar) : "?");
    }
    if (t.failed) {
        snprintf(err, errlen, "%s", t.err);
        rc = -EIO;
        goto out;
    }
    {
        struct stat st;
        r->content_bytes = t.used;
        if (stat(path, &st) != 0 || vg_sha256_file(path, UINT64_MAX, r->sha256) != 0) {
            snprintf(err, errlen, "cannot read back %s", path);
            rc = -EIO;
            goto out;
        }
        r->size = (uint64_t)st.st_size;
    }
out:
    if (t.ar)
        sym_archive_write_free(t.ar);
    vg_dlib_close(&archive_lib);
    json_decref(t.items);
    json_decref(t.skipped);
    json_decref(t.errors);
    json_decref(t.absent);
    free(t.users);
    if (rc)
        unlink(path);
    return rc;
}

/* ---- vigil-agent triage ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vigil-agent triage -o FILE [--max-size SIZE] [--max-time DURATION]\n"
            "\n"
            "Collects this host's triage package locally (what 'vigilctl collect' gets\n"
            "through the collector): processes, sockets, logins, accounts, sudoers, cron,\n"
            "unpackaged systemd units, kernel modules, mounts, packages, listings of /tmp,\n"
            "/var/tmp, /dev/shm and authorized_keys, and the logs' tails.  A tar archive in\n"
            "the lz4 frame format: 'lz4 -d FILE | tar t' lists it; triage/manifest.json\n"
            "gives every item's SHA-256 and every skip.  Run as root.\n"
            "\n"
            "  -o FILE            where to write it (mode 0600)\n"
            "  --max-size SIZE    bound on the items' total size (default 256M)\n"
            "  --max-time D       bound on the time taken (default 5m)\n");
}

int agent_triage_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "max-size", required_argument, NULL, 's' },
        { "max-time", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct triage_opts o;
    struct triage_result r;
    const char *outp = NULL;
    char err[512], hex[VG_SHA256_HEX];
    uint64_t ms;
    int c;

    memset(&o, 0, sizeof(o));
    o.max_bytes = 256ULL * 1024 * 1024;
    o.max_seconds = 300;
    o.hash_max = 128ULL * 1024 * 1024;
    o.agent_id = "";
    o.command_id = "";
    o.operator_name = "local";
    o.reason = "vigil-agent triage";
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case 's':
            if (vg_parse_size(optarg, &o.max_bytes) || !o.max_bytes) {
                fprintf(stderr, "vigil-agent triage: --max-size '%s': a size like 100M\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (vg_parse_duration(optarg, &ms) || ms < 1000) {
                fprintf(stderr, "vigil-agent triage: --max-time '%s': a duration like 5m\n",
                        optarg);
                return 2;
            }
            o.max_seconds = ms / 1000;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!outp || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (triage_build(&o, outp, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "vigil-agent triage: %s\n", err);
        return 1;
    }
    vg_hex(r.sha256, sizeof(r.sha256), hex);
    printf("wrote %s: %llu bytes, %u items (%llu bytes before compression), %u skipped, "
           "%u errors\nsha256 %s\n", outp, (unsigned long long)r.size, r.items,
           (unsigned long long)r.content_bytes, r.skipped, r.errors, hex);
    return 0;
}

