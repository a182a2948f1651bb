#!/bin/sh
# Usage: check_abi.sh [--update] LIBRARY SOURCE_DIR BUILD_DIR         (ctest abi/abidiff; scripts/abi.sh)
# Compares the ABI of the built shared library (exported functions with their versions, and every type they reach
# that the public headers define: struct layouts, enums, function-pointer members) with the baseline of the last
# release, SOURCE_DIR/abi/<soname>.abi (libabigail's ABIXML, made by abidw from a -g build and the public headers).
#   - An incompatible change (a function or symbol version removed, a parameter or return type changed, a struct
#     member removed, moved or changed, an enumerator's value changed, ...) fails, unless the soname changed: the
#     baseline is named by the soname, so after a major bump (libkvmhost.so.0 -> .so.1) there is no baseline for the
#     new soname and the check passes, saying so, until the release adds one.
#   - Additions (new functions, new enumerators, a struct grown at its end as docs/architecture.md's ABI rules allow;
#     checked here) pass, with a note that the baseline can be refreshed at the next release.
# --update writes the baseline instead (at a release only: scripts/abi.sh --update).
# Skips (77) without abigail-tools, without debug info in LIBRARY, or on another architecture than the baseline's.
set -eu
update=
if [ "${1:-}" = --update ]; then update=1; shift; fi
lib=$1 src=$2 build=$3
if ! command -v abidw >/dev/null || ! command -v abidiff >/dev/null; then
	echo "skipped: no abidw/abidiff (apt-get install abigail-tools)"
	exit 77
fi
if ! readelf -S --wide "$lib" | grep -q '\.debug_info'; then
	echo "skipped: $lib has no debug info: the ABI of its types is in the DWARF (build with -g: RelWithDebInfo, Debug)"
	exit 77
fi
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ -n "$soname" ] || { echo "FAIL: $lib has no soname"; exit 1; }
baseline=$src/abi/$soname.abi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The exported functions (--exported-interfaces-only: without it abidw 2.2 leaves out about half of their
# declarations), the types they reach that include/kvmhost/ and the generated version.h define, and the kernel
# UAPI structs they reach. No locations, paths or DT_NEEDED entries, so the baseline changes only when the ABI does.
abidw --exported-interfaces-only --headers-dir "$src/include/kvmhost" --headers-dir "$build/include/kvmhost" \
	--drop-private-types --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
	--out-file "$tmp/dump.abi" "$lib"
# Source file names relative to the tree (CMake compiles absolute paths): the same baseline from any checkout.
srcdir=$(cd "$src" && pwd -P) builddir=$(cd "$build" && pwd -P)
sed -e "s|path='$builddir/|path='BUILD/|" -e "s|path='$srcdir/|path='|" "$tmp/dump.abi" >"$tmp/current.abi"

if [ -n "$update" ]; then
	mkdir -p "$src/abi"
	cp "$tmp/current.abi" "$baseline"
	echo "wrote $baseline: $(grep -c '<elf-symbol ' "$baseline") symbols"
	exit 0
fi

if [ ! -f "$baseline" ]; then
	others=$(find "$src/abi" -maxdepth 1 -name '*.abi' -exec basename {} \; 2>/dev/null | tr '\n' ' ')
	others=${others% }
	if [ -n "$others" ]; then
		echo "ABI not compared: the soname is now $soname and the baselines are for older ones ($others): the" \
			"major version was bumped, so incompatible changes are allowed; at the release, record the new ABI" \
			"with scripts/abi.sh --update"
		exit 0
	fi
	echo "FAIL: no baseline $baseline (make it with scripts/abi.sh --update)"
	exit 1
fi
arch() { sed -n "1s/.* architecture='\([^']*\)'.*/\1/p" "$1"; }
if [ "$(arch "$baseline")" != "$(arch "$tmp/current.abi")" ]; then
	echo "skipped: the baseline is for $(arch "$baseline"), this library is $(arch "$tmp/current.abi")"
	exit 77
fi

# Leaf changes only (each changed type once, where it changed), then judged here: libabigail's exit bit 8 means
# "incompatible" (symbols removed), bit 4 alone "changed", which may be harmless or not. Let through: added
# functions and variables, and a change of a struct kvmhost_* that is only a growth at its end (new members at or
# after the old size: also the array elements, which every function reads and writes with the caller's element
# size, docs/architecture.md). Added enumerators are harmless to abidiff already.
# Anything else fails.
rc=0
abidiff --leaf-changes-only "$baseline" "$tmp/current.abi" >"$tmp/report" 2>&1 || rc=$?
if [ $rc -eq 0 ]; then
	echo "ABI OK: $soname has the ABI of the baseline ($(grep -c '<elf-symbol ' "$baseline") symbols)"
	exit 0
fi
cat "$tmp/report"
if [ $((rc & 3)) -ne 0 ]; then
	echo "FAIL: abidiff could not compare (exit $rc)"
	exit 1
fi
verdict=$(awk '
	function bad(why) { if (!(why in said)) { print why; said[why] = 1 }; nbad++ }
	function close_block() {
		if (block != "" && (kind != "struct" || name !~ /^kvmhost_/ || !grew || !ok))
			bad("incompatible change of " kind " " name)
		block = ""
	}
	/^[A-Za-z\/ ]*summary: / {
		close_block()
		if (match($0, /[0-9]+ Removed/) && substr($0, RSTART, RLENGTH) + 0 > 0) bad("removed: " $0)
		if (match($0, /[0-9]+ Changed/) && substr($0, RSTART, RLENGTH) + 0 > 0) bad("changed: " $0)
		next
	}
	/^\047.*\047 changed:$/ {
		close_block()
		block = $0; sub(/^\047/, "", block); sub(/\047 changed:$/, "", block)
		kind = block; sub(/ .*/, "", kind); name = block; sub(/^[^ ]* /, "", name)
		grew = 0; ok = 1; old = -1
		next
	}
	block != "" && /^  / {
		if ($0 ~ /^  type size changed from [0-9]+ to [0-9]+ \(in bits\)$/) {
			old = $5 + 0; grew = ($7 + 0 > old)
		} else if ($0 ~ /^  [0-9]+ data member insertions?:$/) {
		} else if ($0 ~ /^    \047.*\047, at offset [0-9]+ \(in bits\)$/) {
			off = $0; sub(/.*, at offset /, "", off); sub(/ .*/, "", off)
			if (old < 0 || off + 0 < old) ok = 0
		} else ok = 0
		next
	}
	{ close_block() }
	END { close_block(); if (!nbad) print "ok" }
' "$tmp/report")
if [ "$verdict" != ok ]; then
	echo "$verdict"
	echo "FAIL: $soname's ABI changed incompatibly since the baseline ($baseline, the last release's ABI)."
	echo "An ABI break needs a new soname (the major version, CMakeLists.txt project(VERSION)); see"
	echo "docs/architecture.md, ABI rules. Before 1.0 too: the baseline is refreshed only at a release."
	exit 1
fi
echo "ABI OK: only additions since the baseline (new functions, structs grown at their end); at the next release,"
echo "record them with scripts/abi.sh --update"
exit 0
