#!/bin/sh
# kvmhost-run-shapes.sh KVMHOST_RUN KVMHOSTCTL GUEST REFERENCE OUT: kvmhost-run's --control answers as QEMU does.
# The same client script (qmp-shapes.sh) that took QEMU's shapes (REFERENCE: tests/qmp/qemu-shapes.txt, which
# qemu-reference.sh regenerates from QEMU) runs against kvmhost-run --control, on a machine built as QEMU's was:
# paused before its start (--paused, QEMU's -S), 2 vCPUs, one virtio-blk disk, a reset that reboots in place
# (--reboot: QEMU without -no-reboot). GUEST is a tiny Multiboot kernel (mb_hello.bin) that halts. The shapes go
# to OUT and must equal QEMU's, less the sections that differ on purpose (shapes-diff.sh says which and why).
# Exit 0 the same, 1 not (the diff says where), 77 no usable /dev/kvm.
set -u
run=$1 ctl=$2 guest=$3 ref=$4 out=$5
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -c /dev/kvm ] || ! : 2>/dev/null <>/dev/kvm; then
	echo "SKIP: /dev/kvm is missing or not usable (kvmhost-run needs a KVM to answer QMP)"
	exit 77
fi
tmp=$(mktemp -d /tmp/qmp-khrun.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
head -c 1048576 /dev/zero >"$tmp/disk.img"
printf 'Qmodule' >"$tmp/module"
"$run" --paused --reboot --control "$tmp/qmp.sock" --kernel "$guest" --initrd "$tmp/module" --cmdline Z \
	--cpus 2 --serial none --disk "$tmp/disk.img" </dev/null 2>"$tmp/err" &
pid=$!
i=0
until [ -S "$tmp/qmp.sock" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "kvmhost-run-shapes.sh: kvmhost-run did not start: $(cat "$tmp/err")" >&2
		exit 1
	fi
	sleep 0.05
done
KVMHOSTCTL=$ctl sh "$here/qmp-shapes.sh" "$tmp/qmp.sock" >"$out"
status=$?
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || { echo "kvmhost-run-shapes.sh: kvmhost-run ended with $rc after quit, not 0: $(cat "$tmp/err")" >&2; status=1; }
sh "$here/shapes-diff.sh" "$ref" "$out" "kvmhost-run" || exit 1
[ $status -eq 0 ] || exit 1
