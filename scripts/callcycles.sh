#!/bin/sh
# Call cycles between source files, from the built objects (STYLE.md:
# "No call cycles between files").
#
# For each object, nm gives the global symbols it defines and the ones it
# leaves undefined; A -> B when A uses a symbol B defines (a call, or a
# reference to B's global data).  Files that reach each other through such
# edges form a strongly connected component; every component of more than
# one file is a cycle, listed with the symbols behind each edge.
#
# Usage: scripts/callcycles.sh [-r] [-b BUILD] SET...
#        scripts/callcycles.sh [-r] -n NAME OBJECT...
#   SET     collector (collector/*.o), vigilctl (collector/ctl/*.o),
#           agent (agent/**/*.o), each from BUILD/obj (default build)
#   -r      report only: print the cycles, exit 0 anyway
#   -n      check the given objects as one set called NAME
# Exit: 0 no cycle (or -r), 1 a cycle, 2 usage or missing objects.
set -u
cd "$(dirname "$0")/.."
build=build
report=0
name=
while getopts rb:n: o; do
    case $o in
    r) report=1 ;;
    b) build=$OPTARG ;;
    n) name=$OPTARG ;;
    *) sed -n '12,20p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { sed -n '12,20p' "$0" >&2; exit 2; }

check() { # NAME OBJECT...
    set_name=$1
    shift
    for o in "$@"; do
        [ -f "$o" ] || { echo "callcycles: $set_name: no object $o (build first)" >&2; return 2; }
    done
    for o in "$@"; do
        # "OBJ D SYM" for a global definition, "OBJ U SYM" for a use.
        nm -g --defined-only "$o" | awk -v o="$o" 'NF == 3 { print o, "D", $3 }'
        nm -u "$o" | awk -v o="$o" '{ print o, "U", $NF }'
    done | python3 -c '
import sys
name, report, root = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
defs, uses, objs = {}, {}, []
for line in sys.stdin:
    o, kind, sym = line.split()
    if o not in uses:
        uses[o] = set()
        objs.append(o)
    if kind == "D":
        defs.setdefault(sym, o)
    else:
        uses[o].add(sym)
# file -> file -> the symbols behind the edge
edges = {o: {} for o in objs}
for o in objs:
    for sym in uses[o]:
        d = defs.get(sym)
        if d and d != o:
            edges[o].setdefault(d, []).append(sym)
# Tarjan, iterative (no recursion limit on big sets).
index, low, onstack, stack, sccs, n = {}, {}, set(), [], [], 0
for start in objs:
    if start in index:
        continue
    work = [(start, iter(sorted(edges[start])))]
    index[start] = low[start] = n; n += 1
    stack.append(start); onstack.add(start)
    while work:
        v, it = work[-1]
        w = next(it, None)
        if w is not None:
            if w not in index:
                index[w] = low[w] = n; n += 1
                stack.append(w); onstack.add(w)
                work.append((w, iter(sorted(edges[w]))))
            elif w in onstack:
                low[v] = min(low[v], index[w])
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[v])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); onstack.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))
def src(o):
    o = o[len(root):] if o.startswith(root) else o
    return o[:-2] + ".c" if o.endswith(".o") else o
nedges = sum(len(e) for e in edges.values())
print("callcycles: %s: %d files, %d file-to-file edges, %d cycle%s%s" % (
    name, len(objs), nedges, len(sccs), "" if len(sccs) == 1 else "s",
    " (report only)" if report and sccs else ""))
for comp in sccs:
    members = set(comp)
    print("  cycle: " + " ".join(src(o) for o in comp))
    for o in comp:
        for d in sorted(edges[o]):
            if d in members:
                syms = sorted(edges[o][d])
                more = " ..." if len(syms) > 4 else ""
                print("    %s -> %s: %s%s" % (src(o), src(d), " ".join(syms[:4]), more))
sys.exit(1 if sccs and not report else 0)
' "$set_name" "$report" "$build/obj/"
}

rc=0
if [ -n "$name" ]; then
    check "$name" "$@" || rc=$?
    exit $rc
fi
for set_ in "$@"; do
    case $set_ in
    collector) objs=$(find "$build/obj/collector" -maxdepth 1 -name '*.o' 2>/dev/null | sort) ;;
    vigilctl) objs=$(find "$build/obj/collector/ctl" -maxdepth 1 -name '*.o' 2>/dev/null | sort) ;;
    agent) objs=$(find "$build/obj/agent" -name '*.o' 2>/dev/null | sort) ;;
    *) echo "callcycles: unknown set '$set_' (collector, vigilctl, agent)" >&2; exit 2 ;;
    esac
    [ -n "$objs" ] || { echo "callcycles: $set_: no objects under $build/obj (build first)" >&2; exit 2; }
    # shellcheck disable=SC2086 # one object per word
    check "$set_" $objs || { r=$?; [ $r -gt $rc ] && rc=$r; }
done
exit $rc
