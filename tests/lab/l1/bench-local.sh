#!/bin/sh
# Inside L1: the local core benchmarks (bench/pio_roundtrip.c, bench/vm_bringup.c, static copies in /lab/bin) on
# L1's upstream kvm_amd, for machines without a usable /dev/kvm of their own (bench/run.sh runs this lab test,
# bench/local, when /dev/kvm is missing or unusable). Each program compares the library with raw ioctls
# side by side in one process; the ratios are what counts (L1 runs under QEMU's emulator: its absolute times are
# emulator times). Fewer exits and rounds than the local defaults, so that the test stays well under a minute.
# Usage: bench-local.sh [PIO_EXITS_PER_ROUND PIO_ROUNDS BRINGUPS_PER_ROUND BRINGUP_ROUNDS]
pio_exits=${1:-1000} pio_rounds=${2:-40} vm_n=${3:-4} vm_rounds=${4:-30}
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
fails=0

echo "# bench/local in L1: $(uname -r), kvm_amd, L1 under QEMU TCG (only the ratios mean anything)"
t0=$(uptime_s)
pio_roundtrip "$pio_exits" "$pio_rounds" >/tmp/bench-pio.out 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	cat /tmp/bench-pio.out
	# "pio_roundtrip: raw R us, lib L us, ratio X (...)", then the same for lib-direct.
	# shellcheck disable=SC2046 # split into the figures on purpose
	set -- $(sed -n 's/^pio_roundtrip: raw \([0-9.]*\) us, lib[-a-z]* \([0-9.]*\) us, ratio \([0-9.]*\).*/\1 \2 \3/p' /tmp/bench-pio.out)
	echo "LAB-TIME bench-local pio_roundtrip raw_us=$1 lib_us=$2 ratio=$3 direct_us=$5 direct_ratio=$6 exits=$pio_exits rounds=$pio_rounds time=$(elapsed "$t0" "$(uptime_s)")"
else
	cat /tmp/bench-pio.out
	echo "bench-local: FAIL: pio_roundtrip exited with status $rc"
	fails=1
fi
t0=$(uptime_s)
vm_bringup "$vm_n" "$vm_rounds" >/tmp/bench-vm.out 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	cat /tmp/bench-vm.out
	# shellcheck disable=SC2046 # split into the figures on purpose
	set -- $(sed -n 's/^vm_bringup: raw \([0-9.]*\) us, lib \([0-9.]*\) us, ratio \([0-9.]*\).*/\1 \2 \3/p' /tmp/bench-vm.out)
	echo "LAB-TIME bench-local vm_bringup raw_us=$1 lib_us=$2 ratio=$3 bringups=$vm_n rounds=$vm_rounds time=$(elapsed "$t0" "$(uptime_s)")"
else
	cat /tmp/bench-vm.out
	echo "bench-local: FAIL: vm_bringup exited with status $rc"
	fails=1
fi
exit "$fails"
