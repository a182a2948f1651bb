#!/bin/sh
# shellcheck disable=SC2013 # /proc/cmdline is read by words
# L2 guest test "migbench", the guest of the migration benchmark (tests/lab/l1/migrate-bench.sh), the same under
# kvmhost-run and QEMU: it does nothing but what the benchmark asks, and never ends by itself (L1 kills the VMM).
#   migbench.dirty=RATE   MiB/s of memory written while it runs (lab_vbench dirty, tests/lab/programs), 0: idle
#   migbench.wss=MIB      the working set those writes go round (default 64)
#   migbench.tick=MS      also a line "T n us" every MS ms of the guest's clock (lab_vbench tick: n counts, us is
#                         the guest's CLOCK_MONOTONIC), from READY on; L1 stamps their arrival (lab_vbench stamp):
#                         the benchmark's guest-visible downtime. 0 or absent: none
# It prints "MIGBENCH-READY dirty=RATE wss=MIB" once the load runs (its memory written once), then
# "MIGBENCH-ALIVE n" every second on the serial console, so that L1 sees the guest go on after each migration.
rate=0 wss=64 tick=0
for a in $(cat /proc/cmdline); do
	case $a in
	migbench.tick=*) tick=${a#migbench.tick=} ;;
	migbench.dirty=*) rate=${a#migbench.dirty=} ;;
	migbench.wss=*) wss=${a#migbench.wss=} ;;
	esac
done
if [ "$rate" != 0 ]; then
	lab_vbench dirty "$wss" "$rate" >/tmp/dirty.out 2>&1 &
	while ! grep -q VBENCH-DIRTY-READY /tmp/dirty.out 2>/dev/null; do
		kill -0 $! 2>/dev/null || { echo "migbench: FAIL: lab_vbench dirty: $(cat /tmp/dirty.out)"; exit 1; }
		usleep 100000
	done
fi
echo "MIGBENCH-READY dirty=$rate wss=$wss tick=$tick"
[ "$tick" != 0 ] && lab_vbench tick "$tick" &
n=0
while :; do
	sleep 1
	n=$((n + 1))
	echo "MIGBENCH-ALIVE $n"
done
