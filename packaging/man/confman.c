/*
 * confman: writes vigil-agent.conf(5) or vigil-collector.conf(5) from the
 * program's configuration map (agent/conf.c, collector/conf.c), the same
 * table that parses the file and prints --example-config, so that the page
 * lists every key with its type, default and bounds.
 *
 *     build/confman agent >packaging/man/vigil-agent.conf.5    (make man)
 *
 * Built from the programs' conf.o alone: only the tables are read.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "metrics.h"
#include "tls.h"

extern const struct vg_conf_key agent_conf_keys[];
extern const struct vg_conf_key collector_conf_keys[];

/* agent/conf.c's validation calls it; the generator never validates. */
int transport_check_addresses(const struct vg_strlist *l, char *err, size_t errlen);
int transport_check_addresses(const struct vg_strlist *l, char *err, size_t errlen)
{
    (void)l;
    (void)err;
    (void)errlen;
    return 0;
}
/* Its proxy check. */
struct agent_conf;
int transport_check_proxy(const struct agent_conf *c, int read_file, char *err, size_t errlen);
int transport_check_proxy(const struct agent_conf *c, int read_file, char *err, size_t errlen)
{
    (void)c;
    (void)read_file;
    (void)err;
    (void)errlen;
    return 0;
}
/* And its TLS check. */
int vg_tls_config_new(const struct vg_tls_opts *o, struct vg_tls_config **out, char *err,
                      size_t errlen)
{
    (void)o;
    (void)err;
    (void)errlen;
    *out = NULL;
    return 0;
}
void vg_tls_config_free(struct vg_tls_config *cfg)
{
    (void)cfg;
}
/* And its check of [metrics] listen. */
int vg_metrics_parse_listen(const char *spec, int allow_remote, const char *key,
                            struct sockaddr_storage *ss, char *err, size_t errlen)
{
    (void)spec;
    (void)allow_remote;
    (void)key;
    (void)ss;
    (void)err;
    (void)errlen;
    return 0;
}

struct page {
    const char *prog, *file, *about, *example;
    const struct vg_conf_key *keys;
};

static const struct page pages[] = {
    { "vigil-agent", "/etc/vigil/agent.conf",
      "the configuration of vigil-agent(8): the collector to stream to, the agent's\n"
      "certificate, batching, the spool, the inputs, isolation, enrollment and triage.",
      "[collector]\n"
      "address = collector.example.org:7443, collector2.example.org:7443\n"
      "\n"
      "[tls]\n"
      "ca = /etc/vigil/ca.crt\n"
      "cert = /var/lib/vigil/agent.crt\n"
      "key = /var/lib/vigil/agent.key\n"
      "\n"
      "[spool]\n"
      "max_bytes = 1G\n",
      agent_conf_keys },
    { "vigil-collector", "/etc/vigil/collector.conf",
      "the configuration of vigil-collector(8): where it listens, its database,\n"
      "retention, enrollment, reports, the audit log and its certificate.",
      "[collector]\n"
      "listen = 0.0.0.0:7443\n"
      "db = /var/lib/vigil-collector/vigil.db\n"
      "\n"
      "[tls]\n"
      "ca = /etc/vigil/ca.crt\n"
      "cert = /etc/vigil/collector.crt\n"
      "key = /etc/vigil/collector.key\n",
      collector_conf_keys },
};

/* Text for the body of a roff paragraph: backslashes escaped, and a line
 * that would start with a control character protected. */
static void put_text(const char *s)
{
    int bol = 1;
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", stdout);
        if (*s == '\\')
            fputs("\\e", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
        bol = *s == '\n';
    }
}

static void put_ms(uint64_t ms)
{
    static const struct { const char *u; uint64_t ms; } units[] = {
        { "w", 604800000ULL }, { "d", 86400000ULL }, { "h", 3600000ULL },
        { "m", 60000ULL },     { "s", 1000ULL },
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms && ms % units[i].ms == 0) {
            printf("%llu%s", (unsigned long long)(ms / units[i].ms), units[i].u);
            return;
        }
    }
    printf("%llums", (unsigned long long)ms);
}

static void put_size(uint64_t n)
{
    static const char *const units[] = { "T", "G", "M", "K" };
    for (int i = 0; i < 4; i++) {
        uint64_t m = 1ULL << (10 * (4 - i));
        if (n && n % m == 0) {
            printf("%llu%s", (unsigned long long)(n / m), units[i]);
            return;
        }
    }
    printf("%llu", (unsigned long long)n);
}

static void put_bound(const struct vg_conf_key *k, uint64_t v)
{
    if (k->type == VG_CONF_DURATION)
        put_ms(v);
    else if (k->type == VG_CONF_SIZE)
        put_size(v);
    else
        printf("%llu", (unsigned long long)v);
}

static const char *type_name(enum vg_conf_type t)
{
    switch (t) {
    case VG_CONF_STR: return "string";
    case VG_CONF_PATH: return "path";
    case VG_CONF_BOOL: return "boolean";
    case VG_CONF_UINT: return "integer";
    case VG_CONF_DURATION: return "duration";
    case VG_CONF_SIZE: return "size";
    case VG_CONF_LIST: return "list";
    case VG_CONF_ENUM: return "one of";
    }
    return "?";
}

static void put_key(const struct vg_conf_key *k)
{
    printf(".TP\n.B %s\n", k->key);
    printf("%s", type_name(k->type));
    if (k->type == VG_CONF_ENUM) {
        putchar(' ');
        for (const char *c = k->choices; *c; c++) {
            if (*c == '|')
                fputs(", ", stdout);
            else
                putchar(*c);
        }
    }
    if (k->type == VG_CONF_UINT || k->type == VG_CONF_DURATION || k->type == VG_CONF_SIZE) {
        if (k->max) {
            printf(", ");
            put_bound(k, k->min);
            printf(" to ");
            put_bound(k, k->max);
        } else if (k->min) {
            printf(", at least ");
            put_bound(k, k->min);
        }
    }
    if (k->flags & VG_CONF_REQUIRED)
        printf("; required");
    if (k->def) {
        printf("; default \\fB");
        put_text(k->def);
        printf("\\fR");
    } else if (!(k->flags & VG_CONF_REQUIRED)) {
        printf("; no default");
    }
    if (k->flags & VG_CONF_RESTART)
        printf("; read at start: a reload (SIGHUP) does not change it");
    printf(".\n.br\n");
    put_text(k->help ? k->help : "");
    printf(".\n");
}

int main(int argc, char **argv)
{
    const struct page *p = NULL;
    const char *cur = NULL;
    char up[64];

    for (size_t i = 0; argc == 2 && i < sizeof(pages) / sizeof(pages[0]); i++)
        if (strcmp(argv[1], pages[i].prog + strlen("vigil-")) == 0)
            p = &pages[i];
    if (!p) {
        fprintf(stderr, "Usage: confman agent|collector\n");
        return 2;
    }
    for (size_t i = 0; p->prog[i] && i < sizeof(up) - 1; i++)
        up[i] = (char)(p->prog[i] >= 'a' && p->prog[i] <= 'z' ? p->prog[i] - 32 : p->prog[i]);
    up[strlen(p->prog) < sizeof(up) ? strlen(p->prog) : sizeof(up) - 1] = '\0';

    printf(".\\\" Generated by packaging/man/confman.c from the configuration map; do not edit.\n"
           ".\\\" Regenerate with: make man\n");
    printf(".TH %s.CONF 5 \"\" \"Vigil\" \"File Formats\"\n", up);
    printf(".SH NAME\n%s.conf \\- %s configuration file\n", p->prog, p->prog);
    printf(".SH SYNOPSIS\n.I %s\n", p->file);
    printf(".SH DESCRIPTION\n");
    put_text(p->file);
    printf(" is ");
    put_text(p->about);
    printf("\n.PP\n"
           "The file is INI: \\fB[section]\\fR lines, then \\fIkey\\fR \\fB=\\fR \\fIvalue\\fR "
           "lines; lines starting with \\fB#\\fR or \\fB;\\fR are comments, and \\fB;\\fR "
           "after\n"
           "whitespace starts one too; indentation is ignored; lines are limited to 198\n"
           "bytes.  Reading is strict: an unknown section or key, a key given twice\n"
           "(a list key may be repeated), a value of the wrong type or out of range, or a\n"
           "syntax error stops the program with the file and line.\n"
           "A key left out takes its default.\n"
           "\\fB%s \\-t\\fR checks a file; \\fB%s \\-\\-dump\\-config\\fR prints the values in\n"
           "effect; \\fB%s \\-\\-example\\-config\\fR prints every key below as a commented\n"
           "file.\n",
           p->prog, p->prog, p->prog);
    printf(".SH VALUES\n"
           ".TP\n.B string\nThe text after \\fB=\\fR, trimmed; one pair of double quotes "
           "around it is removed.\n"
           ".TP\n.B path\nA file or directory; a relative path is relative to the directory of\n"
           "the configuration file.\n"
           ".TP\n.B boolean\n\\fByes\\fR, \\fBtrue\\fR, \\fBon\\fR, \\fB1\\fR or \\fBno\\fR, "
           "\\fBfalse\\fR, \\fBoff\\fR, \\fB0\\fR.\n"
           ".TP\n.B integer\nA decimal number within the key's range.\n"
           ".TP\n.B duration\nA number with a unit: \\fBms\\fR, \\fBs\\fR, \\fBm\\fR, \\fBh\\fR, "
           "\\fBd\\fR or \\fBw\\fR; units may be combined (\\fB1h30m\\fR); a bare number is "
           "seconds.\n"
           ".TP\n.B size\nBytes, or a number with \\fBK\\fR, \\fBM\\fR, \\fBG\\fR or \\fBT\\fR "
           "(powers of 1024; \\fBKB\\fR and \\fBKiB\\fR are the same as \\fBK\\fR).\n"
           ".TP\n.B list\nComma-separated items, trimmed; repeat the key to add more items.\n"
           ".TP\n.B one of\nExactly one of the words listed.\n");
    printf(".SH DROP-INS\n"
           "After the file, every file whose name ends in \\fB.conf\\fR in the directory\n"
           "\\fI%s.d/\\fR is read (for \\fB\\-c\\fR \\fIFILE\\fR: \\fIFILE\\fB.d/\\fR), in the\n"
           "byte order of the names (\\fB10\\-site.conf\\fR before \\fB20\\-ward.conf\\fR;\n"
           "\\fB9\\-x.conf\\fR after both).  A key set in a later file replaces the value\n"
           "from the earlier ones; a list key too: the items one file gives make the new\n"
           "list.  Within one file the rules above hold (a key given twice is an error).\n"
           "A drop-in's relative paths are relative to its own directory.\n"
           "Hidden files, other names (\\fB.conf.bak\\fR, \\fB.conf~\\fR) and what is not a\n"
           "regular file are ignored; a missing directory is no error; an unreadable\n"
           "directory or drop-in, or a bad line in one, stops the program naming the\n"
           "file (and line).  At most 256 drop-ins of 1 MiB each.  Required keys are\n"
           "checked once all files are read, and \\fB\\-\\-dump\\-config\\fR prints the\n"
           "merged result.  A reload (SIGHUP) reads the directory again.\n",
           p->file);
    printf(".SH KEYS\n"
           "Each key with its type, range, default and meaning, section by section.\n");
    for (const struct vg_conf_key *k = p->keys; k->key; k++) {
        if (!cur || strcmp(cur, k->section) != 0) {
            printf(".SS [%s]\n", k->section);
            cur = k->section;
        }
        put_key(k);
    }
    printf(".SH FILES\n.TP\n.I %s\nthe configuration file (\\fB\\-c\\fR \\fIFILE\\fR reads "
           "another).\n", p->file);
    printf(".TP\n.I %s.d/*.conf\ndrop-ins, read after it (see \\fBDROP-INS\\fR).\n", p->file);
    printf(".SH EXAMPLES\nThe least a working file needs:\n.PP\n.RS\n.nf\n");
    put_text(p->example);
    printf(".fi\n.RE\n");
    printf(".SH SEE ALSO\n.BR %s (8),\n.BR vigilctl (1)\n", p->prog);
    return 0;
}
