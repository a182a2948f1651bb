#!/bin/sh
# unit/guide-excerpts: every code excerpt in docs/guide.md is copied from the program it names. Each ```c block
# that follows a line "From examples/guide/FILE:" must appear, lines contiguous and unchanged, in that file.
# Usage: docs/check-guide.sh SOURCE_DIR
set -eu
cd "$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Split the guide into one file per excerpt, named after its source: $tmp/N.FILE
awk -v dir="$tmp" '
	/^From examples\/guide\/[A-Za-z0-9_.]+:$/ { src = substr($2, 1, length($2) - 1); sub(/^examples\/guide\//, "", src); next }
	/^```c$/ && src != "" { n++; out = dir "/" n "." src; inblock = 1; next }
	/^```$/ && inblock { inblock = 0; src = ""; close(out); next }
	inblock { print > out }
' docs/guide.md
status=0 count=0
for x in "$tmp"/*; do
	[ -e "$x" ] || { echo "docs/guide.md: no excerpts found"; exit 1; }
	name=${x##*/}
	src=examples/guide/${name#*.}
	count=$((count + 1))
	if [ ! -f "$src" ]; then
		echo "docs/guide.md: excerpt ${x##*/}: no file $src"
		status=1
		continue
	fi
	# Contiguity: join lines with a byte neither file has (\001), then look for the block as one substring.
	block=$(tr '\n' '\001' <"$x")
	if ! tr '\n' '\001' <"$src" | grep -qF -- "$block"; then
		echo "docs/guide.md: excerpt ${x##*/} is not (or no longer) in $src:"
		head -3 "$x"
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "docs/guide.md: $count excerpts, each as in its file"
exit "$status"
