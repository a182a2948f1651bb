#!/bin/sh
# shapes-diff.sh REFERENCE OURS WHO: compare two qmp-shapes.sh outputs, QEMU's (REFERENCE) and WHO's (OURS), less
# the "## " notes and the sections that differ on purpose:
#   greeting  QEMU offers the "oob" capability, we offer none (no out-of-band execution)
# Exit 0 the same (it says so), 1 not (the diff says where). Used by fake-shapes.sh and kvmhost-run-shapes.sh.
set -u
ref=$1 ours=$2 who=$3
known_different="greeting"
tmp=$(mktemp -d /tmp/qmp-diff.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
strip() {
	awk -v skip="$known_different" '
		BEGIN { n = split(skip, s, " "); for (i = 1; i <= n; i++) drop["# " s[i]] = 1 }
		/^## / { next }
		/^# / { dropping = ($0 in drop) }
		!dropping { print }' "$1"
}
strip "$ref" >"$tmp/ref"
strip "$ours" >"$tmp/ours"
if ! diff -u "$tmp/ref" "$tmp/ours"; then
	echo "shapes-diff.sh: $who's shapes ($ours) differ from QEMU's ($ref) (-: QEMU, +: $who)" >&2
	exit 1
fi
echo "shapes-diff.sh: $who's shapes are QEMU's, but for: $known_different"
