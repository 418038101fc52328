#!/bin/sh
# Refuses banned C functions (unbounded or error-blind) in our sources,
# as curl's checksrc does.  Use instead:
#   strcpy/strncpy/strcat -> vg_strlcpy, vg_buf;  sprintf/vsprintf -> snprintf;
#   atoi/atol -> vg_parse_u64;  sscanf -> a real parser;  gets -> fgets;
#   strtok -> strtok_r or strsep.
set -u
cd "$(dirname "$0")/.."
banned='strcpy|strncpy|strcat|strncat|sprintf|vsprintf|atoi|atol|atoll|sscanf|gets|strtok|tmpnam|mktemp'
if out=$(grep -nE "(^|[^A-Za-z0-9_>.])($banned)[[:space:]]*\(" \
        $(find lib agent collector tests/unit tests/fuzz tests/bench -name '*.[ch]' 2>/dev/null) |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)'); then
    echo "checksrc: banned functions used (see scripts/checksrc.sh for replacements):" >&2
    echo "$out" >&2
    exit 1
fi
echo "  PASS  checksrc"
