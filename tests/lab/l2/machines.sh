#!/bin/sh
# L2 guest test "machines", the Linux half of lab test machine/heterogeneous (tests/lab/programs/lab_machines.c):
# two Linux guests that differ run in one VMM process, each proving the virtio device it was given. It reports
# the memory and CPUs the guest sees and the transport of each virtio device, waits for the host's "go" on the
# serial console, then, as kvmhost.want= says:
#   disk  vda (virtio-blk) is the lab's ext4 disk, mounted by the init on /mnt: read a file, write one, sync,
#         read it back
#   net   eth0 (virtio-net) on a TAP whose host side is 10.0.2.1/24: take 10.0.2.15, ping the host side
# Its exit status (KVMHOST-GUEST-RESULT, printed by the init, which then powers off) is the number of failures.
fails=0
bad() {
	echo "machines: FAIL: $*"
	fails=$((fails + 1))
}
want=
for a in $(cat /proc/cmdline); do
	case $a in kvmhost.want=*) want=${a#kvmhost.want=} ;; esac
done
mem_kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)
echo "KVMHOST-SYSINFO mem_kb=$mem_kb cpus=$(grep -c '^processor' /proc/cpuinfo)"
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d/device" ] || continue
	path=$(readlink -f "$d")
	echo "KVMHOST-VIRTIO id=$(cat "$d/device") driver=$(basename "$(readlink "$d/driver")" 2>/dev/null)" \
		"transport=$(basename "$(readlink -f "$path/../driver")" 2>/dev/null)"
done
# Both guests wait here until the host says "go" on the console: it first makes a third machine triple-fault
# next to them (so they are demonstrably in the middle of their work then).
echo "KVMHOST-MACHINES-WAITING"
# shellcheck disable=SC3045 # busybox sh has read -t
if ! read -r -t 90 line; then
	bad "no go from the host on the console within 90 s"
elif [ "$line" != go ]; then
	bad "the host said '$line' on the console, want go"
fi
case $want in
disk)
	grep -q '^/dev/vda /mnt ext4 ' /proc/mounts || bad "/dev/vda is not mounted on /mnt as ext4"
	[ "$(cat /mnt/data/hello.txt 2>&1)" = "hello from the lab's L2 disk" ] || bad "/mnt/data/hello.txt: $(cat /mnt/data/hello.txt 2>&1)"
	word="machines-$(head -c 6 /dev/urandom | md5sum | cut -c1-12)"
	if ! echo "$word" >/mnt/data/machines.txt || ! sync; then bad "cannot write /mnt/data/machines.txt"; fi
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(cat /mnt/data/machines.txt 2>&1)" = "$word" ] || bad "/mnt/data/machines.txt reads back '$(cat /mnt/data/machines.txt 2>&1)'"
	[ "$fails" -eq 0 ] && echo "KVMHOST-MACHINES-DISK-OK $word"
	;;
net)
	if [ -e /sys/class/net/eth0 ]; then
		if ! ip addr add 10.0.2.15/24 dev eth0 || ! ip link set eth0 up; then bad "cannot configure eth0"; fi
		if out=$(ping -c 3 -W 5 10.0.2.1 2>&1); then
			echo "$out" | tail -n 2
			echo "KVMHOST-MACHINES-NET-OK"
		else
			echo "$out"
			bad "ping 10.0.2.1 over eth0"
			# What the guest saw of it: its counters, the device's interrupts, the kernel's words.
			grep -e eth0 /proc/net/dev
			grep -i -e virtio -e msi /proc/interrupts
			dmesg | grep -i -e virtio -e eth0 -e msi | tail -n 20
		fi
	else
		bad "no eth0 (interfaces: $(cd /sys/class/net && echo *))"
	fi
	;;
*) bad "kvmhost.want= says '$want', want disk or net" ;;
esac
exit "$fails"
