#!/bin/bash
# ABI test: every defined dynamic symbol of the library is mailssl_* and
# versioned in a MAILSSL_ node, and abidiff against the committed baseline
# reports no incompatible change (added symbols are fine).
# usage: abi-check.sh LIBRARY BASELINE.abi [PUBLIC-HEADERS-DIR]
# With the headers directory, only the types of the public headers count:
# the layout of an opaque handle (struct mailssl_probe, defined in lib/)
# is not ABI, and adding members to it is no break.
set -u
lib=$1
baseline=$2
headers=${3:-}
fail=0

bad=$(readelf --dyn-syms -W "$lib" |
    awk '$5 == "GLOBAL" || $5 == "WEAK" { if ($7 != "UND") print $8 }' |
    grep -v -E '^mailssl_[a-z0-9_]+@@?MAILSSL_[0-9._]+$' |
    grep -v -E '^MAILSSL_[0-9._]+$')
if [ -n "$bad" ]; then
    echo "exported symbols outside the versioned mailssl_ API:"
    echo "$bad"
    fail=1
fi
n=$(readelf --dyn-syms -W "$lib" | grep -c '@@MAILSSL_')
if [ "$n" -eq 0 ]; then
    echo "no symbol is versioned MAILSSL_*: is the version script applied?"
    fail=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libmailssl.so.1" ]; then
    echo "SONAME is '$soname', expected libmailssl.so.1"
    fail=1
fi

if ! command -v abidiff >/dev/null 2>&1; then
    echo "abidiff not found (install abigail-tools)"
    exit 1
fi
hd=()
[ -n "$headers" ] && hd=(--headers-dir1 "$headers" --headers-dir2 "$headers")
out=$(abidiff --no-added-syms "${hd[@]}" "$baseline" "$lib" 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
    echo "abidiff against $baseline reports a change (exit $rc):"
    echo "$out"
    echo "If it is a deliberate addition, regenerate the baseline with"
    echo "  abidw --no-corpus-path --out-file abi/libmailssl.abi LIB"
    echo "and add a NEWS entry."
    fail=1
fi
[ $fail -eq 0 ] && echo "ABI ok: $n versioned symbols, no incompatible change"
exit $fail
