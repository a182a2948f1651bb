#!/bin/sh
# Inside L1: boot the L2 Linux guest under QEMU -M microvm on L1's /dev/kvm and wait for its init to
# report. This is the baseline that the project's own VMM must later beat.
#
# Usage: l2-microvm.sh [--disk] TEST [TIMEOUT]
#   --disk   attach /lab/l2/disk.ext4 as a virtio-blk device on virtio-mmio (the guest mounts it on /mnt;
#            its tests/ directory holds more guest tests)
#   TEST     the guest test to run (kvmhost.test=, see tools/kvmhost-mkguest): "ready" only proves the
#            guest reached its init; "panic" makes the guest kernel panic (a negative self-test)
#   TIMEOUT  seconds before QEMU is killed (default 180)
# The guest is the ELF vmlinux (PVH entry) plus the initramfs, built on the host by kvmhost-mkguest.
# Exit 0 when the guest printed KVMHOST-GUEST-RESULT test=TEST rc=0, else 1 with the guest console's tail.
# L2's console is streamed (prefixed "L2| ") so that a run that wedges L1 still shows how far L2 got.
#
# A guest kernel panic ends the run at once: QEMU is killed as soon as the panic message is complete.
# The guest does not reboot on panic (panic=0): letting a panicking L2 reboot (panic=-1) was seen to
# wedge L1 entirely (no inner timeout fired; only the host's watchdog ended the run).

disk=
if [ "${1:-}" = --disk ]; then
	disk="-drive file=/lab/l2/disk.ext4,format=raw,if=none,id=vda -device virtio-blk-device,drive=vda"
	shift
fi
test=${1:-ready}
tmo=${2:-180}
log=/tmp/l2-$test.log
rm -f "$log" /tmp/l2.rc /tmp/l2.init /tmp/l2.pid /tmp/l2.panic

uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
cr=$(printf '\r')

t0=$(uptime_s)
{
	# shellcheck disable=SC2086 # $disk is several arguments or none
	timeout -s KILL "$tmo" qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -smp 1 \
		-nographic -no-reboot -nodefaults -serial stdio -pidfile /tmp/l2.pid \
		-kernel /lab/l2/vmlinux -initrd /lab/l2/initramfs.cpio.gz $disk \
		-append "console=ttyS0 panic=0 quiet kvmhost.test=$test" </dev/null 2>&1
	echo $? >/tmp/l2.rc
} | while IFS= read -r line; do
	line=${line%"$cr"}
	case $line in *KVMHOST-GUEST-INIT*) [ -e /tmp/l2.init ] || uptime_s >/tmp/l2.init ;; esac
	echo "L2| $line"
	echo "$line" >>"$log"
	case $line in
	*"end Kernel panic"*)
		echo "l2-microvm: the guest kernel panicked: stopping QEMU"
		touch /tmp/l2.panic
		kill -9 "$(cat /tmp/l2.pid)" ;;
	esac
done
t1=$(uptime_s)
qrc=$(cat /tmp/l2.rc 2>/dev/null || echo '?')

total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if [ -e /tmp/l2.init ]; then
	to_init=$(awk -v a="$t0" -v b="$(cat /tmp/l2.init)" 'BEGIN { printf "%.2f", b - a }')
else
	to_init=never
fi
# Machine-readable timing line for the host's summary (times measured in L1).
echo "LAB-TIME l2-microvm test=$test to_init=$to_init total=$total qemu_rc=$qrc"

if grep -q "KVMHOST-GUEST-RESULT test=$test rc=0" "$log" 2>/dev/null; then
	exit 0
fi
case $qrc in
137) if [ -e /tmp/l2.panic ]; then why="guest kernel panic"; else why="QEMU killed after ${tmo}s"; fi ;;
*) why="QEMU exited with status $qrc" ;;
esac
echo "l2-microvm: the guest did not report success ($why); L2 console tail:"
tail -n 40 "$log" 2>/dev/null | sed 's/^/  | /'
exit 1
