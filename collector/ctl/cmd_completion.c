/*
 * vigilctl completion bash: a bash completion script, written from the
 * command table and the getopt_long tables the parsers use (struct
 * ctl_optset), so that it offers exactly the commands and options the
 * program takes.  The packages install its output as
 * /usr/share/bash-completion/completions/vigilctl.
 *
 * What the script completes:
 *   vigilctl [global options] COMMAND [WORD] [options] [args]
 *   - global options before COMMAND, COMMAND itself (and "help COMMAND");
 *   - a command's sub-command WORD (pki init, report verify, ...);
 *   - the options of COMMAND (and WORD, where each word has its own);
 *   - option values where they are a fixed list or a file (hints[] below),
 *     given as "--opt VALUE" or "--opt=VALUE";
 *   - file arguments of the few words that take one (file_args[]).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ctl.h"
#include "util.h"

static const struct option completion_long[] = {
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

const struct ctl_optset ctl_opts_completion[] = {
    { NULL, ":h", completion_long },
    { NULL, NULL, NULL },
};

enum hint_kind { HINT_FILE, HINT_DIR, HINT_WORDS, HINT_ROLES };

/* Values of options.  cmd NULL: that option of any command, and the
 * global option of that name.  The word lists are those the parsers
 * check (cmd_report.c); the roles come from lib/crypto (vg_role_name). */
static const struct {
    const char *cmd, *opt;
    enum hint_kind kind;
    const char *words;
} hints[] = {
    { NULL, "output", HINT_FILE, NULL },
    { NULL, "ca", HINT_FILE, NULL },
    { NULL, "cert", HINT_FILE, NULL },
    { NULL, "key", HINT_FILE, NULL },
    { "audit", "checkpoints", HINT_FILE, NULL },
    { "audit", "pubkey", HINT_FILE, NULL },
    { "pki", "dir", HINT_DIR, NULL },
    { "pki", "role", HINT_ROLES, NULL },
    { "collect", "progress", HINT_WORDS, "auto json none" },
    { "report", "format", HINT_WORDS, "csv json html" },
    { "report", "layout", HINT_WORDS, "summary full" },
    { "advisories", "format", HINT_WORDS, "debian-json dsa-list csaf" },
};

/* Sub-command words whose argument is a file. */
static const struct {
    const char *cmd, *word;
} file_args[] = {
    { "advisories", "import" },
    { "report", "verify" },
    { "pki", "show" },
    { "db", "backup" },
};

void ctl_usage_completion(FILE *out)
{
    fprintf(out,
            "Usage: vigilctl completion bash\n"
            "\n"
            "Prints a bash completion script for vigilctl: commands, their sub-commands\n"
            "and options, and option values where they are a fixed list or a file.  It is\n"
            "made from vigilctl's own tables, so it matches this version.  The packages\n"
            "install it as /usr/share/bash-completion/completions/vigilctl; without them:\n"
            "\n"
            "  source <(vigilctl completion bash)\n"
            "\n"
            "or save it as ~/.local/share/bash-completion/completions/vigilctl.\n");
}

/* Prints the options of set os as one space-separated list: all of them
 * when want_values is 0, else only those that take a value.  Short
 * options come from the optstring ("o:" takes a value). */
static void put_opts(const struct ctl_optset *os, int want_values)
{
    const char *sep = "";
    for (const struct option *o = os->longopts; o->name; o++) {
        if (want_values && o->has_arg != required_argument)
            continue;
        printf("%s--%s", sep, o->name);
        sep = " ";
    }
    for (const char *p = os->shortopts; *p; p++) {
        int arg = p[1] == ':';
        if (*p == ':' || *p == '+' || *p == '-')
            continue;
        if (!want_values || arg)
            printf("%s-%c", sep, *p);
        sep = " ";
        if (arg)
            p++;
    }
}

/* The long name of short option c in set os (its val), or NULL. */
static const char *long_of(const struct ctl_optset *os, int c)
{
    for (const struct option *o = os->longopts; o->name; o++)
        if (!o->flag && o->val == c)
            return o->name;
    return NULL;
}

/* Prints the completion of a value of option name (of command cmd, NULL
 * for the global options) as a case arm, if there is a hint for it. */
static void put_value_arm(const char *cmd, const char *name, int shortc)
{
    for (size_t i = 0; i < VG_ARRAY_SIZE(hints); i++) {
        if (strcmp(hints[i].opt, name) != 0 ||
            (hints[i].cmd && (!cmd || strcmp(hints[i].cmd, cmd) != 0)))
            continue;
        printf("    \"%s --%s\"", cmd ? cmd : "", name);
        if (shortc)
            printf(" | \"%s -%c\"", cmd ? cmd : "", shortc);
        printf(")\n        ");
        switch (hints[i].kind) {
        case HINT_FILE: printf("_vigilctl_files -f \"$3\""); break;
        case HINT_DIR: printf("_vigilctl_files -d \"$3\""); break;
        case HINT_WORDS: printf("_vigilctl_words \"%s\" \"$3\"", hints[i].words); break;
        case HINT_ROLES:
            printf("_vigilctl_words \"");
            for (int r = VG_ROLE_AGENT; r < 64; r++) {
                enum vg_role back;
                const char *rn = vg_role_name((enum vg_role)r);
                if (vg_role_parse(rn, &back) != 0 || back != (enum vg_role)r)
                    break;
                printf("%s ", rn);
            }
            printf("ca\" \"$3\""); /* ca: an intermediate CA (pki issue) */
            break;
        }
        printf(" ;;\n");
        return;
    }
}

/* Whether option name is in one of the sets from first up to (not
 * including) end: its value arm is written already. */
static int seen(const struct ctl_optset *first, const struct ctl_optset *end, const char *name)
{
    for (const struct ctl_optset *os = first; os && os < end; os++)
        for (const struct option *o = os->longopts; o->name; o++)
            if (o->has_arg == required_argument && strcmp(o->name, name) == 0)
                return 1;
    return 0;
}

/* The value arms of every option that takes one in set os (first: the
 * command's first set, for options several of its words share). */
static void put_value_arms(const char *cmd, const struct ctl_optset *first,
                           const struct ctl_optset *os)
{
    for (const struct option *o = os->longopts; o->name; o++) {
        int shortc = 0;
        if (o->has_arg != required_argument || seen(first, os, o->name))
            continue;
        for (const char *p = os->shortopts; *p; p++)
            if (p[1] == ':' && *p != ':' && long_of(os, *p) == o->name)
                shortc = (unsigned char)*p;
        put_value_arm(cmd, o->name, shortc);
    }
}

static void put_script(const struct ctl *ctl)
{
    const struct ctl_optset global = { NULL, ctl->global_short, ctl->global_long };

    printf("# bash completion for vigilctl(1)                       -*- shell-script -*-\n"
           "# Written by 'vigilctl completion bash' (vigilctl %s) from vigilctl's own\n"
           "# command and option tables: regenerate it rather than edit it.\n"
           "\n",
           VG_VERSION);

    /* Options of a command (and sub-command word): $flags all of them,
     * $vflags (space-padded) those that take a value. */
    printf("_vigilctl_opts()\n"
           "{\n"
           "    case \"$1 $2\" in\n"
           "    \" \")\n"
           "        flags=\"");
    put_opts(&global, 0);
    printf("\"\n        vflags=\" ");
    put_opts(&global, 1);
    printf(" \" ;;\n");
    for (size_t i = 0; i < ctl->ncmds; i++) {
        const struct ctl_cmd *c = &ctl->cmds[i];
        for (const struct ctl_optset *os = c->optsets; os && os->longopts; os++) {
            if (os->word)
                printf("    \"%s %s\")\n", c->name, os->word);
            else
                printf("    \"%s \"*)\n", c->name);
            printf("        flags=\"");
            put_opts(os, 0);
            printf("\"\n        vflags=\" ");
            put_opts(os, 1);
            printf(" \" ;;\n");
        }
    }
    printf("    *)\n"
           "        flags=\"--help -h\"\n"
           "        vflags=\" \" ;;\n"
           "    esac\n"
           "}\n"
           "\n");

    printf("_vigilctl_words()\n"
           "{\n"
           "    local IFS=$'\\n'\n"
           "    COMPREPLY=($(IFS=' '; compgen -W \"$1\" -- \"$2\"))\n"
           "}\n"
           "\n"
           "_vigilctl_files()\n"
           "{\n"
           "    local IFS=$'\\n'\n"
           "    compopt -o filenames 2>/dev/null\n"
           "    COMPREPLY=($(compgen \"$1\" -- \"$2\"))\n"
           "}\n"
           "\n");

    /* Values: $1 command ("" before it), $2 the option, $3 what is typed. */
    printf("_vigilctl_value()\n"
           "{\n"
           "    case \"$1 $2\" in\n");
    put_value_arms(NULL, &global, &global);
    for (size_t i = 0; i < ctl->ncmds; i++) {
        const struct ctl_cmd *c = &ctl->cmds[i];
        for (const struct ctl_optset *os = c->optsets; os && os->longopts; os++)
            put_value_arms(c->name, c->optsets, os);
    }
    printf("    esac\n"
           "}\n"
           "\n");

    printf("_vigilctl()\n"
           "{\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} cmd= word= opt= pre= i w flags vflags\n"
           "    local cmds=\"");
    for (size_t i = 0; i < ctl->ncmds; i++)
        printf("%s ", ctl->cmds[i].name);
    printf("help\"\n"
           "    COMPREPLY=()\n"
           "    # COMMAND and its sub-command WORD: the first two words that are\n"
           "    # neither options nor an option's value (\"--opt V\" or \"--opt=V\").\n"
           "    # Bash splits words at \"=\" and \":\" (COMP_WORDBREAKS): \"--opt=V\" is\n"
           "    # --opt, =, V and \"--collector h:7443\" is --collector, h, :, 7443.\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        w=${COMP_WORDS[i]}\n"
           "        _vigilctl_opts \"$cmd\" \"$word\"\n"
           "        case $w in\n"
           "        -*)\n"
           "            [[ ${COMP_WORDS[i+1]} != = && $vflags == *\" $w \"* ]] && ((i++)) ;;\n"
           "        *)\n"
           "            if [[ -z $cmd ]]; then\n"
           "                cmd=$w\n"
           "            elif [[ -z $word ]]; then\n"
           "                word=$w\n"
           "            fi ;;\n"
           "        esac\n"
           "        while [[ ${COMP_WORDS[i+1]-} == [=:] ]] && ((i + 1 < COMP_CWORD)); do\n"
           "            ((i += 2))\n"
           "        done\n"
           "    done\n"
           "    _vigilctl_opts \"$cmd\" \"$word\"\n"
           "    # The value of an option?\n"
           "    if [[ $cur == = ]]; then\n"
           "        opt=${COMP_WORDS[COMP_CWORD-1]} cur=\n"
           "    elif ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD-1]} == = ]]; then\n"
           "        opt=${COMP_WORDS[COMP_CWORD-2]}\n"
           "    elif ((COMP_CWORD > 1)) &&\n"
           "        [[ $vflags == *\" ${COMP_WORDS[COMP_CWORD-1]} \"* ]]; then\n"
           "        opt=${COMP_WORDS[COMP_CWORD-1]}\n"
           "    elif [[ $cur == -*=* ]]; then\n"
           "        # (COMP_WORDBREAKS without \"=\")\n"
           "        opt=${cur%%%%=*} pre=${cur%%%%=*}= cur=${cur#*=}\n"
           "    fi\n"
           "    if [[ -n $opt ]]; then\n"
           "        [[ $vflags == *\" $opt \"* ]] && _vigilctl_value \"$cmd\" \"$opt\" \"$cur\"\n"
           "        [[ -n $pre ]] && COMPREPLY=(\"${COMPREPLY[@]/#/$pre}\")\n"
           "        return 0\n"
           "    fi\n"
           "    if [[ $cur == -* ]]; then\n"
           "        _vigilctl_words \"$flags\" \"$cur\"\n"
           "    elif [[ -z $cmd ]]; then\n"
           "        _vigilctl_words \"$cmds\" \"$cur\"\n"
           "    elif [[ $cmd == help && -z $word ]]; then\n"
           "        _vigilctl_words \"${cmds%% help}\" \"$cur\"\n"
           "    else\n"
           "        case \"$cmd $word\" in\n");
    for (size_t i = 0; i < ctl->ncmds; i++)
        if (ctl->cmds[i].words)
            printf("        \"%s \")\n"
                   "            _vigilctl_words \"%s\" \"$cur\" ;;\n",
                   ctl->cmds[i].name, ctl->cmds[i].words);
    for (size_t i = 0; i < VG_ARRAY_SIZE(file_args); i++)
        printf("        \"%s %s\")\n"
               "            _vigilctl_files -f \"$cur\" ;;\n",
               file_args[i].cmd, file_args[i].word);
    printf("        esac\n"
           "    fi\n"
           "    return 0\n"
           "}\n"
           "\n"
           "complete -F _vigilctl vigilctl\n");
}

int ctl_cmd_completion(struct ctl *ctl, int argc, char **argv)
{
    int c;

    while ((c = ctl_getopt(argc, argv, ctl_opts_completion)) != -1) {
        switch (c) {
        case 'h': ctl_usage_completion(stdout); return CTL_EXIT_OK;
        default: return ctl_usage_err("completion", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc || strcmp(argv[optind], "bash") != 0)
        return ctl_usage_err("completion", "expected: completion bash (the one shell it knows)");
    put_script(ctl);
    return CTL_EXIT_OK;
}
