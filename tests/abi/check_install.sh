#!/bin/sh
# Usage: check_install.sh <build dir> <this dir>
# Installs the build into a scratch prefix, then builds an outside program
# against it twice: with pkg-config (shared and static) and with
# find_package(kvmhost). Each program must run and report the right version.
set -eu
build=$1 here=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1); libdir=${libdir%/pkgconfig}
test -f "$tmp/prefix/include/kvmhost/kvmhost.h"
test -f "$tmp/prefix/include/kvmhost/version.h"
ls "$libdir"/libkvmhost.so.0 "$libdir"/libkvmhost.a >/dev/null
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# pkg-config rewrites prefix from the .pc file's location only with --define-prefix.
flags=$(pkg-config --define-prefix --cflags --libs kvmhost)
cc -Wall -Werror -o "$tmp/outside" "$here/outside.c" $flags
LD_LIBRARY_PATH="$libdir" "$tmp/outside"
sflags=$(pkg-config --define-prefix --static --cflags --libs kvmhost)
cc -Wall -Werror -o "$tmp/outside_static" "$here/outside.c" -Wl,-Bstatic $sflags -Wl,-Bdynamic
"$tmp/outside_static"
mkdir "$tmp/cm"
cmake -S "$here/find_package" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/outside"
echo "install OK: pkg-config (shared, static) and find_package(kvmhost) programs built and ran"
