#!/bin/sh
# Every public header compiles alone as C89 -pedantic and as C++.
set -eu
incdir=$1
cc=${CC:-cc}
cxx=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in "$incdir"/*.h; do
    name=$(basename "$h")
    printf '#include <%s>\nint main(void) { return 0; }\n' "$name" > "$tmp/t.c"
    cp "$tmp/t.c" "$tmp/t.cpp"
    $cc -std=c89 -pedantic -Werror -Wall -Wextra -I"$incdir" -c "$tmp/t.c" -o "$tmp/t.o"
    echo "$name: C89 -pedantic ok"
    $cxx -Werror -Wall -Wextra -I"$incdir" -c "$tmp/t.cpp" -o "$tmp/t.o"
    echo "$name: C++ ok"
done
