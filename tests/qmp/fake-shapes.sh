#!/bin/sh
# fake-shapes.sh QMP-FAKE-VMM KVMHOSTCTL REFERENCE OUT: the QMP server's shapes, on the fake VM, against QEMU's.
# Starts qmp-fake-vmm, runs qmp-shapes.sh against it, writes the shapes to OUT and compares them with REFERENCE
# (tests/qmp/qemu-shapes.txt, taken from QEMU by qemu-reference.sh), less the sections that differ on purpose
# (shapes-diff.sh says which and why).
# Exit 0 the same, 1 not (the diff says where).
set -u
vmm=$1 ctl=$2 ref=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
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
sh "$here/shapes-diff.sh" "$ref" "$out" "the fake VM" || exit 1
[ $status -eq 0 ] || exit 1
