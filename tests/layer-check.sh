#!/bin/sh
# layer-check.sh SRCDIR - lib/'s one direction (lib/README): a file calls
# only functions of its own layer or of the layers below it, and the two
# sides (lib/store, lib/probe) never call each other. Fails (exit 1) with
# "FILE:LINE: calls NAME of DEFFILE (higher layer)" for each climb not in
# the list of known exceptions below.
#
# How: the mailssl_/mailssl__ functions each lib/ file defines (a line at
# column 0 naming one before "(", not a prototype, not static), against
# the words of every other file with comments and literals removed.
set -eu
src=${1:?usage: layer-check.sh SRCDIR}
cd "$src"

# Layers: "PATH RANK"; a directory's rank orders the directories, a
# file's rank orders the files inside its directory (default 0). Equal
# ranks may call each other; lib/store and lib/probe are the two sides.
layers='
lib/core 0
lib/core/base.c 0
lib/core/buf.c 0
lib/core/addr.c 0
lib/core/report.c 1
lib/core/credential.c 1
lib/core/certinfo.c 1
lib/validate 1
lib/validate/dane.c 0
lib/validate/validator.c 1
lib/validate/validate.c 2
lib/store 2
lib/store/store.c 0
lib/store/glue_gnutls.c 1
lib/store/config.c 1
lib/store/audit.c 2
lib/store/export.c 2
lib/probe 2
lib/probe/net.c 0
lib/probe/url.c 0
lib/probe/dns.c 0
lib/probe/dialogue.c 1
lib/probe/probe_cache.c 1
lib/probe/probe_tls.c 2
lib/probe/probe_verify.c 2
lib/probe/probe_dane.c 2
lib/probe/probe_mx.c 2
lib/probe/probe.c 3
lib/probe/batch.c 4
lib/probe/probe_json.c 4
lib 3
'

# Known climbs: "CALLER NAME" (each also says why in lib/README).
exceptions='
'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

strip() {
    awk '
    {
        line = $0; out = ""; i = 1; n = length(line)
        while (i <= n) {
            c = substr(line, i, 1); c2 = substr(line, i, 2)
            if (incomment) {
                if (c2 == "*/") { incomment = 0; i += 2 } else i++
                continue
            }
            if (c2 == "/*") { incomment = 1; i += 2; continue }
            if (c2 == "//") break
            if (c == "\"" || c == "\047") {
                q = c; i++
                while (i <= n && substr(line, i, 1) != q) {
                    if (substr(line, i, 1) == "\\") i++
                    i++
                }
                i++; out = out q q; continue
            }
            out = out c; i++
        }
        print out
    }' "$1"
}

files=$(find lib -name '*.c' | sort)
[ -n "$files" ] || { echo "layer-check: no lib/*.c under $src" >&2; exit 1; }
for f in $files; do
    printf '%s\n' "$f"
    strip "$f"
done > "$tmp/code"

# One pass: the layers, the exceptions, then each file ("lib/..." on a
# line of its own, then its code): first the definitions, then the uses.
printf '%s\n' "$layers" "$exceptions" > "$tmp/tables"
awk -v tables="$tmp/tables" '
function dir(p) { sub(/\/[^\/]*$/, "", p); return p }
function climbs(caller, definer,   c, d) {
    c = dir(caller); d = dir(definer)
    if (c == d)
        return (rank[definer] + 0) > (rank[caller] + 0)
    return rank[d] >= rank[c] # higher, or the other side
}
BEGIN {
    while ((getline l < tables) > 0) {
        n = split(l, w, " ")
        if (n == 2 && w[2] ~ /^[0-9]+$/) rank[w[1]] = w[2]
        else if (n == 2) known[w[1] " " w[2]] = 1
    }
}
# first pass over the code: definitions
FNR == NR {
    if ($0 ~ /^lib\/.*\.c$/) { file = $0; nfiles++; files[nfiles] = file; next }
    if ($0 ~ /^[A-Za-z_].*mailssl_[a-z0-9_]+ *\(/ && $0 !~ /;[ \t]*$/ &&
        $0 !~ /^static/) {
        s = $0
        while (match(s, /mailssl_[a-z0-9_]+ *\(/)) {
            name = substr(s, RSTART, RLENGTH); sub(/ *\($/, "", name)
            if (!(name in def)) { def[name] = file; ndefs++ }
            s = substr(s, RSTART + RLENGTH)
        }
    }
    next
}
# second pass: uses
/^lib\/.*\.c$/ {
    file = $0; line = 0
    if (!(dir(file) in rank)) {
        print "layer-check: " dir(file) " has no layer (add it to tests/layer-check.sh)"
        bad++
    }
    next
}
{
    line++
    s = $0
    while (match(s, /mailssl_[a-z0-9_]+/)) {
        name = substr(s, RSTART, RLENGTH)
        s = substr(s, RSTART + RLENGTH)
        if (!(name in def) || def[name] == file) continue
        if (!((file " " def[name]) in seen)) { seen[file " " def[name]] = 1; pairs++ }
        if (!climbs(file, def[name])) continue
        if ((file " " name) in known) {
            if (!((file " " name) in told))
                print "known exception: " file " calls " name " of " def[name]
            told[file " " name] = 1
            continue
        }
        print file ":" line ": calls " name " of " def[name] " (higher layer)"
        bad++
    }
}
END {
    nk = 0; for (k in told) nk++
    printf "layer-check: %d files, %d functions, %d caller/definer pairs, %d climb(s), %d known exception(s)\n", nfiles, ndefs, pairs, bad, nk
    exit bad > 0
}' "$tmp/code" "$tmp/code"
