#!/bin/sh
# Installs the build into a staging directory and builds a 5-line program
# against it with pkg-config only, as a user of the installed library would.
# usage: install-check.sh BUILDDIR
set -eu
builddir=$1
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$builddir" --destdir "$stage" --no-rebuild --quiet
pc=$(find "$stage" -name mailssl.pc | head -n 1)
[ -n "$pc" ] || { echo "mailssl.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR=$stage
cat > "$stage/prog.c" <<'C'
#include <mailssl.h>
#include <stdio.h>
#include <string.h>
int main(void) { printf("%s\n", mailssl_version());
  return strcmp(mailssl_version(), MAILSSL_VERSION_STRING_FOR_TEST) != 0; }
C
want=$(sed -n "s/^ *version : '\([0-9.]*\)'.*/\1/p" "$(dirname "$0")/../meson.build" | head -n 1)
${CC:-cc} -DMAILSSL_VERSION_STRING_FOR_TEST="\"$want\"" "$stage/prog.c" -o "$stage/prog" \
    $(pkg-config --cflags --libs mailssl)
libdir=$(dirname "$(find "$stage" -name 'libmailssl.so.1' | head -n 1)")
got=$(LD_LIBRARY_PATH=$libdir "$stage/prog")
echo "installed tree: pkg-config build ran, mailssl_version() = $got"
[ "$got" = "$want" ]
