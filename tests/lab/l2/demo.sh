#!/bin/sh
# L2 guest test "demo": the guest half of the lab test demo/linux (tests/lab/l1/demo-linux.sh), which is what
# scripts/demo.sh shows on a machine without a usable /dev/kvm. kvmhost-run gives the guest:
#   vda   an ext4 disk (a copy of the lab's L2 disk), mounted on /mnt by the guest's init
#   eth0  virtio-net on a TAP whose host side (in L1) is 10.0.2.1/24
#   hvc0  virtio-console, whose host side is kvmhost-run's stdout
# It runs a few commands and writes them, each after a "$ " prompt, with their output to hvc0, so that what the
# user reads came out through the virtio console; then it pings the host side over virtio-net. Its exit status
# (printed on the serial console by the init, KVMHOST-GUEST-RESULT) is the number of things that did not work.
hostname kvmhost-demo
if [ ! -c /dev/hvc0 ]; then
	echo "demo: FAIL: no /dev/hvc0 (virtio_console loaded: $(grep -c '^virtio_console ' /proc/modules))"
	exit 1
fi
fails=0
run() { # COMMAND: show it after a prompt, run it; a failure counts
	echo "\$ $1"
	eval "$1" 2>&1 || {
		echo "(exit status $?)"
		fails=$((fails + 1))
	}
}
virtio_devices() { # one line: each virtio device and the driver bound to it
	for d in /sys/bus/virtio/devices/*; do
		[ -e "$d/device" ] || continue
		printf '%s %s, ' "${d##*/}" "$(basename "$(readlink "$d/driver")" 2>/dev/null || echo no-driver)"
	done | sed 's/, $//'
}
{
	echo "# Debian's kernel booted by kvmhost-run: virtio devices $(virtio_devices)"
	run "uname -a"
	run "head -n 5 /proc/cpuinfo"
	run "free -m"
	run "df -h /mnt && cat /mnt/data/hello.txt"
	if [ -e /sys/class/net/eth0 ]; then
		run "ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up"
		run "ping -c 3 -W 5 10.0.2.1"
	else
		echo "# no eth0 (interfaces: $(cd /sys/class/net && echo *))"
		fails=$((fails + 1))
	fi
	echo "# the guest powers off now ($fails problem(s))"
} >/dev/hvc0 2>&1
echo "demo: $fails problem(s); the transcript went to hvc0"
exit "$fails"
