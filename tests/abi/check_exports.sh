#!/bin/sh
# Usage: check_exports.sh libkvmhost.so libkvmhost.map include/kvmhost
# Fails if the library exports a symbol the map does not list (or outside the
# public prefix), if the map lists one the library lacks, or if a listed
# symbol is not declared KVMHOST_API in a public header.
set -eu
so=$1 map=$2 inc=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | grep -v '^KVMHOST_[0-9.]*$' | sort -u >"$tmp/exported"
grep -E '^\s+kvmhost_[a-z0-9_]+;' "$map" | tr -d ' \t;' | sort -u >"$tmp/listed"
find "$inc" \( -name '*.h' -o -name '*.h.in' \) -exec cat {} + | grep -hoE 'KVMHOST_API [^(]*\b(kvmhost_[a-z0-9_]+)\('  | grep -oE 'kvmhost_[a-z0-9_]+\($' | tr -d '(' | sort -u >"$tmp/declared"
status=0
bad=$(grep -v '^kvmhost_' "$tmp/exported" || true)
[ -z "$bad" ] || { echo "exported outside the public prefix: $bad"; status=1; }
extra=$(comm -23 "$tmp/exported" "$tmp/listed")
[ -z "$extra" ] || { echo "exported but not in the map: $extra"; status=1; }
missing=$(comm -13 "$tmp/exported" "$tmp/listed")
[ -z "$missing" ] || { echo "listed in the map but not defined: $missing"; status=1; }
undeclared=$(comm -23 "$tmp/listed" "$tmp/declared")
[ -z "$undeclared" ] || { echo "listed in the map but not declared KVMHOST_API in a header: $undeclared"; status=1; }
unlisted=$(comm -13 "$tmp/listed" "$tmp/declared")
[ -z "$unlisted" ] || { echo "declared KVMHOST_API but not in the map: $unlisted"; status=1; }
[ $status -eq 0 ] && echo "exports OK: $(wc -l <"$tmp/exported") symbols, all listed and declared"
exit $status
