#!/bin/sh
# Inside L1: the machine layer (kvmhost/machine.h) with Linux guests, lab tests machine/heterogeneous and
# machine/pause_linux. tests/lab/programs/lab_machines.c does the work and the checks; this script gives it
# what it needs:
#   heterogeneous  a copy of the lab's ext4 disk (machine A's virtio-blk) and a TAP, tap0, in a network
#                  namespace of this test's own (10.0.2.1/24 here, 10.0.2.15 in machine B), as in
#                  virtio-devices.sh; after the run, that the TAP's host side received B's packets
#   pause_linux    nothing (a Linux guest paused for SECONDS, then powered off by its ACPI power button)
# Usage: machines.sh heterogeneous|pause_linux [TIMEOUT [SECONDS]]  (TIMEOUT: seconds before lab_machines is killed)
mode=$1 tmo=${2:-110}
case $mode in
heterogeneous)
	if [ -z "${MACHINES_NETNS:-}" ]; then
		MACHINES_NETNS=1 exec unshare -n sh "$0" "$@"
	fi
	d=/tmp/machines
	rm -rf "$d"
	mkdir -p "$d"
	ip link set lo up
	if ! tunctl -t tap0 >"$d/tunctl.out" 2>&1; then
		echo "machines: FAIL: tunctl -t tap0: $(cat "$d/tunctl.out") (/dev/net/tun: $(ls -l /dev/net/tun 2>&1))"
		exit 1
	fi
	ip addr add 10.0.2.1/24 dev tap0
	ip link set tap0 up
	cp /lab/l2/disk.ext4 "$d/disk.ext4" || exit 1
	timeout -s KILL "$tmo" lab_machines heterogeneous "$d/disk.ext4" tap0
	rc=$?
	# This network namespace's own view (sysfs shows the initial namespace's): the TAP's receive counters are what
	# machine B sent (its ARP and pings), its transmit counters what this side answered.
	# shellcheck disable=SC2046 # two numbers, split on purpose
	set -- $(awk '$1 == "tap0:" { print $3, $11 }' /proc/net/dev)
	echo "machines: tap0 received ${1:-?} packets from machine B and sent it ${2:-?}"
	if [ "${1:-0}" -lt 3 ] || [ "${2:-0}" -lt 3 ]; then
		echo "machines: FAIL: too few packets on tap0"
		rc=1
	fi
	;;
pause_linux)
	timeout -s KILL "$tmo" lab_machines pause_linux "${3:-5}"
	rc=$?
	;;
*)
	echo "usage: $0 heterogeneous|pause_linux [TIMEOUT [SECONDS]]"
	exit 2
	;;
esac
[ "$rc" -eq 0 ] || echo "machines: FAIL: lab_machines $mode ended with status $rc"
exit "$rc"
