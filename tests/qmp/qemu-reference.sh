#!/bin/sh
# qemu-reference.sh KVMHOSTCTL OUT [REFERENCE]: QEMU's QMP shapes, the reference for ours. Starts
# qemu-system-x86_64 with TCG (no /dev/kvm needed) on a pc machine paused before its start (-S), 2 vCPUs and a
# raw disk on virtio-blk, runs qmp-shapes.sh against its -qmp socket (its migration to exec:cat > a file) and writes the shapes to OUT, after a "## "
# line naming the QEMU. With REFERENCE (tests/qmp/qemu-shapes.txt), it then compares them, "## " lines aside:
# 0 the same, 1 different or a reply kvmhostctl could not parse (or QEMU failed), 77 no qemu-system-x86_64.
# To take a new reference (a new QEMU): qemu-reference.sh build/examples/kvmhostctl/kvmhostctl tests/qmp/qemu-shapes.txt
set -u
ctl=$1 out=$2 ref=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
qemu=$(command -v qemu-system-x86_64) || { echo "qemu-reference.sh: skipped: no qemu-system-x86_64"; exit 77; }
tmp=$(mktemp -d /tmp/qmp-qemu.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
truncate -s 1M "$tmp/disk.img"
"$qemu" -accel tcg -M pc -nodefaults -no-user-config -display none -m 64 -smp 2 -S \
	-drive file="$tmp/disk.img",format=raw,if=none,id=virtio0 -device virtio-blk-pci,drive=virtio0 \
	-qmp unix:"$tmp/qmp.sock",server=on,wait=off 2>"$tmp/qemu.err" &
pid=$!
i=0
until [ -S "$tmp/qmp.sock" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "qemu-reference.sh: QEMU did not start:" >&2
		cat "$tmp/qemu.err" >&2
		exit 1
	fi
	sleep 0.1
done
{
	echo "## $("$qemu" --version | head -n 1)"
	# QEMU 7.2 has no file: migration (8.2 added it): its stream goes to a file through exec:.
	KVMHOSTCTL=$ctl QMP_SHAPES_MIGRATE_URI="exec:cat > $tmp/migration.bin" sh "$here/qmp-shapes.sh" "$tmp/qmp.sock"
} >"$out"
status=$?
wait "$pid"
pid=
[ $status -eq 0 ] || { echo "qemu-reference.sh: kvmhostctl could not take every shape from QEMU" >&2; exit 1; }
[ -n "$ref" ] || exit 0
if ! diff -u -I '^## ' "$ref" "$out"; then
	echo "qemu-reference.sh: QEMU's shapes ($out) are not the reference's ($ref); if QEMU changed, take a new one" >&2
	exit 1
fi
echo "qemu-reference.sh: QEMU's shapes are the reference's ($(head -n 1 "$out" | cut -c4-))"
