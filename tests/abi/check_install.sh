#!/bin/sh
# Usage: check_install.sh BUILD_DIR THIS_DIR              (ctest abi/install)
#        check_install.sh --configured BUILD_DIR THIS_DIR (scripts/test.sh, on a build configured with its own
#                                                          CMAKE_INSTALL_PREFIX)
# An installed copy must work from wherever it was installed, however the prefix was given:
#   1. `cmake --install BUILD --prefix P` (the prefix chosen at install time, not the configured one);
#   2. `DESTDIR=S cmake --install BUILD --prefix /opt/...` (staging, as a package build does: the files land under
#      S, and what they name is the final prefix);
#   3. (--configured) `DESTDIR=S cmake --install BUILD`: the configured CMAKE_INSTALL_PREFIX (scripts/test.sh
#      configures /usr, so GNUInstallDirs' multiarch libdir, lib/x86_64-linux-gnu, is exercised too).
# Each way: kvmhost.pc says the final prefix; an outside program builds with plain pkg-config (shared, and static
# with --static) and with find_package(kvmhost), and runs reporting the right version.
set -eu
configured=
if [ "$1" = --configured ]; then configured=1; shift; fi
build=$1 here=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

check() { # NAME STAGE FINAL_PREFIX: the files are under STAGE/FINAL_PREFIX; STAGE is "" when not staged
	name=$1 stage=$2 final=$3 root=$2$3 out=$tmp/out-$1
	pc=$(find "$root" -path '*/pkgconfig/kvmhost.pc' | head -1)
	[ -n "$pc" ] || { echo "FAIL $name: no kvmhost.pc under $root"; exit 1; }
	libdir=${pc%/pkgconfig/kvmhost.pc}
	test -f "$root/include/kvmhost/kvmhost.h" && test -f "$root/include/kvmhost/version.h"
	ls "$libdir"/libkvmhost.so.0 "$libdir"/libkvmhost.a >/dev/null
	want="prefix=$final"
	if [ "$(head -1 "$pc")" != "$want" ]; then
		echo "FAIL $name: $pc says '$(head -1 "$pc")', want '$want'"
		exit 1
	fi
	mkdir -p "$out"
	# Plain pkg-config, no --define-prefix: the file itself must be right. A staged tree is used through
	# PKG_CONFIG_SYSROOT_DIR, which puts STAGE in front of the paths the file names (as a cross build would).
	flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs kvmhost)
	# shellcheck disable=SC2086 # flags are words
	cc -Wall -Werror -o "$out/outside" "$here/outside.c" $flags
	LD_LIBRARY_PATH="$libdir" "$out/outside" >/dev/null
	sflags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --static --cflags --libs kvmhost)
	# shellcheck disable=SC2086
	cc -Wall -Werror -o "$out/outside_static" "$here/outside.c" -Wl,-Bstatic $sflags -Wl,-Bdynamic
	"$out/outside_static" >/dev/null
	cmake -S "$here/find_package" -B "$out/cm" -DCMAKE_PREFIX_PATH="$root" >/dev/null
	cmake --build "$out/cm" >/dev/null
	LD_LIBRARY_PATH="$libdir" "$out/cm/outside" >/dev/null
	echo "install OK ($name): $pc says $want; pkg-config (shared, static) and find_package programs built and ran"
}

if [ -n "$configured" ]; then
	final=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
	DESTDIR="$tmp/stage3" cmake --install "$build" >/dev/null
	check "configured prefix $final, DESTDIR staging" "$tmp/stage3" "$final"
	exit 0
fi
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
check "--prefix at install time" "" "$tmp/prefix"
DESTDIR="$tmp/stage" cmake --install "$build" --prefix /opt/kvmhost-abi-test >/dev/null
check "DESTDIR staging, --prefix /opt/kvmhost-abi-test" "$tmp/stage" /opt/kvmhost-abi-test
