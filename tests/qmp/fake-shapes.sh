#!/bin/sh
# fake-shapes.sh QMP-FAKE-VMM KVMHOSTCTL REFERENCE OUT: the QMP server's shapes, on the fake VM, against QEMU's.
# Starts qmp-fake-vmm, runs qmp-shapes.sh against it, writes the shapes to OUT and compares them with REFERENCE
# (tests/qmp/qemu-shapes.txt, taken from QEMU by qemu-reference.sh), less the sections that differ on purpose:
#   greeting  QEMU offers the "oob" capability, we offer none (no out-of-band execution)
# Exit 0 the same, 1 not (the diff says where).
set -u
vmm=$1 ctl=$2 ref=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
known_different="greeting"
tmp=$(mktemp -d /tmp/qmp-fake.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
"$vmm" "$tmp/qmp.sock" &
pid=$!
i=0
until [ -S "$tmp/qmp.sock" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "fake-shapes.sh: qmp-fake-vmm did not start" >&2
		exit 1
	fi
	sleep 0.05
done
KVMHOSTCTL=$ctl sh "$here/qmp-shapes.sh" "$tmp/qmp.sock" >"$out"
status=$?
wait "$pid" || { echo "fake-shapes.sh: qmp-fake-vmm did not quit cleanly" >&2; status=1; }
pid=
# The text without the "## " notes and the known-different sections.
strip() {
	awk -v skip="$known_different" '
		BEGIN { n = split(skip, s, " "); for (i = 1; i <= n; i++) drop["# " s[i]] = 1 }
		/^## / { next }
		/^# / { dropping = ($0 in drop) }
		!dropping { print }' "$1"
}
strip "$ref" >"$tmp/ref"
strip "$out" >"$tmp/out"
if ! diff -u "$tmp/ref" "$tmp/out"; then
	echo "fake-shapes.sh: our shapes ($out) differ from QEMU's ($ref) (-: QEMU, +: ours)" >&2
	exit 1
fi
[ $status -eq 0 ] || exit 1
echo "fake-shapes.sh: our shapes are QEMU's, but for: $known_different"
