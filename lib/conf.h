/*
 * Table-driven INI configuration (parsing by inih).
 *
 * Each program describes its keys once, in a const table of struct
 * vg_conf_key (section, key, type, default, help, where to store it), as
 * Fluent Bit's config maps do.  The same table drives parsing, defaults,
 * validation, `--dump-config` and the commented example files.
 *
 * Strict by design: an unknown section or key, a duplicate key, a bad
 * value, a line too long (inih's INI_MAX_LINE) or a syntax error is an
 * error naming the file and line.  Indentation is ignored.  A list key
 * may be repeated to add items (a trailing comma is allowed, an empty
 * item between commas is not):
 *
 *     [collector]
 *     address = c1.example.org:7443
 *     address = c2.example.org:7443
 *
 * VG_CONF_REQUIRED applies to STR, PATH and LIST keys (the others always
 * have a value from their default).
 *
 * A file may be followed by drop-ins (FILE.d/ *.conf, see vg_conf_load),
 * where setting a key again overrides it instead of being an error.
 */
#ifndef VG_CONF_H
#define VG_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum vg_conf_type {
    VG_CONF_STR,      /* char *, NULL when empty */
    VG_CONF_PATH,     /* char *, absolute or relative to the config file's directory */
    VG_CONF_BOOL,     /* int 0/1 */
    VG_CONF_UINT,     /* uint64_t in [min, max] */
    VG_CONF_DURATION, /* uint64_t milliseconds in [min, max] ("30s", "24h") */
    VG_CONF_SIZE,     /* uint64_t bytes in [min, max] ("64K", "1G") */
    VG_CONF_LIST,     /* struct vg_strlist: comma-separated, trimmed, no empties */
    VG_CONF_ENUM      /* int: index into choices ("always|batch|interval") */
};

#define VG_CONF_REQUIRED 0x1 /* must be set (by file or by default) */
#define VG_CONF_RESTART 0x2  /* read at start only: a reload logs a change and ignores it */
/* A URL whose USER:PASSWORD@ part --dump-config prints without the password. */
#define VG_CONF_URL_PASSWORD 0x4

struct vg_conf_key {
    const char *section;
    const char *key;
    enum vg_conf_type type;
    const char *def;     /* default as text, or NULL for unset */
    size_t offset;       /* where the value lives in the caller's struct */
    uint64_t min, max;   /* UINT, DURATION (ms), SIZE; max 0 = no bound */
    const char *choices; /* ENUM: "a|b|c" */
    unsigned flags;
    const char *help;    /* one line, for docs and --help */
};

struct vg_strlist {
    char **v;
    size_t n;
};

#define VG_CONF_MAX_FILE (1024 * 1024)
#define VG_CONF_MAX_LIST 256

/* Sets every key of the NULL-terminated table (key == NULL ends it) to
 * its default.  Returns 0 or a negative code (a bad default is a bug). */
int vg_conf_defaults(const struct vg_conf_key *table, void *obj);
#define VG_CONF_MAX_DROPINS 256
/* vg_conf_load_ex flags: read path alone, not its drop-ins. */
#define VG_CONF_NO_DROPINS 0x1

/* Applies defaults, reads path, then its drop-ins, and checks the
 * VG_CONF_REQUIRED keys on the merged result.
 *
 * The drop-ins of /etc/vigil/agent.conf are the files NAME.conf in
 * /etc/vigil/agent.conf.d/, read in strcmp order (name them 10-x.conf,
 * 20-y.conf).  Hidden files, other names and what is not a regular file
 * (after symbolic links) are ignored; a missing directory is no error.
 * Each file is parsed as the main one is (its relative paths relative to
 * its own directory); a key set in a later file replaces the value from
 * the earlier ones, a list key too: its items in one file, repeated
 * lines included, make the new list.  At most VG_CONF_MAX_DROPINS
 * drop-ins of VG_CONF_MAX_FILE bytes each.
 *
 * On error returns VG_ECONFIG (or -ENOMEM) and writes "file:line: what is
 * wrong" into err, naming the drop-in or directory at fault. */
int vg_conf_load(const struct vg_conf_key *table, void *obj, const char *path, char *err,
                 size_t errlen);
/* vg_conf_load with flags (VG_CONF_NO_DROPINS) and the number of drop-ins
 * read in *ndropins (may be NULL). */
int vg_conf_load_ex(const struct vg_conf_key *table, void *obj, const char *path,
                    unsigned flags, size_t *ndropins, char *err, size_t errlen);
/* Parses an in-memory text as if it were the file `name`.  Defaults are
 * not applied.  Same returns as vg_conf_load. */
int vg_conf_parse(const struct vg_conf_key *table, void *obj, const char *name,
                  const char *text, size_t len, char *err, size_t errlen);
/* Sets one key from text (command-line overrides).  Returns 0, VG_ECONFIG
 * with err filled, or -ENOMEM. */
int vg_conf_set(const struct vg_conf_key *table, void *obj, const char *section,
                const char *key, const char *value, char *err, size_t errlen);
/* Checks VG_CONF_REQUIRED keys.  Returns 0 or VG_ECONFIG with err filled. */
int vg_conf_check_required(const struct vg_conf_key *table, const void *obj, const char *name,
                           char *err, size_t errlen);
/* Frees what the table's keys own in obj (strings, lists). */
void vg_conf_free(const struct vg_conf_key *table, void *obj);
/* Prints the effective configuration as INI. */
void vg_conf_dump(const struct vg_conf_key *table, const void *obj, FILE *out);
/* k's value in obj as text, as vg_conf_dump prints it (cut to len). */
void vg_conf_value(const struct vg_conf_key *k, const void *obj, char *out, size_t len);
/* 1 if k has the same value in a and b (strings and lists compared
 * whole). */
int vg_conf_same(const struct vg_conf_key *k, const void *a, const void *b);
/* Exchanges k's value between a and b (what it owns moves with it). */
void vg_conf_swap(const struct vg_conf_key *k, void *a, void *b);
/* Prints a commented example file: every key, its default and help. */
void vg_conf_print_example(const struct vg_conf_key *table, FILE *out);

void vg_strlist_free(struct vg_strlist *l);

#endif
