#!/bin/sh
# Build and run every local benchmark, printing their side-by-side ratios.
# Usage: bench/run.sh [--lab] [build dir]   (default: build)
# Timings on shared machines are noisy: compare the ratios printed within one
# run, never absolute numbers across runs or machines.
#
# The KVM benchmarks (pio_roundtrip, vm_bringup) need a /dev/kvm. Where there
# is none, or it cannot run a VM (machines of ours had none on 2026-12-07),
# they run inside the lab instead: lab test bench/local (tests/lab/cases.list,
# tests/lab/l1/bench-local.sh) runs their static copies on L1's upstream
# kvm_amd, nested under QEMU's emulator (35-75 s with a warm lab cache;
# KVMHOST_LAB_CACHE as for run-lab). They print the same lines; there only
# the ratios mean anything (emulator times; docs/benchmarks.md). --lab does
# that even where /dev/kvm works.
# bench_bus_dispatch and bench_bus_threads need no KVM and always run here.
set -eu
cd "$(dirname "$0")/.."
lab=
if [ "${1:-}" = --lab ]; then
	lab="--lab was given"
	shift
fi
b=${1:-build}
[ -f "$b/CMakeCache.txt" ] || cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$b" --target pio_roundtrip vm_bringup bench_bus_dispatch bench_bus_threads >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"

# Is the local KVM usable? Missing, or present but not opening (ENODEV: no kvm device registered), or
# unable to bring one VM up to its first exit (vm_bringup 1 1, a few milliseconds).
if [ -z "$lab" ]; then
	if [ ! -e /dev/kvm ]; then
		lab="/dev/kvm is missing"
	elif ! err=$( (exec 3<>/dev/kvm) 2>&1); then
		lab="/dev/kvm cannot be opened (${err##*: })"
	elif ! err=$("$b/bench/vm_bringup" 1 1 2>&1 >/dev/null); then
		lab="/dev/kvm cannot run a VM ($err)"
	fi
fi

if [ -z "$lab" ]; then
	"$b/bench/pio_roundtrip"
	"$b/bench/vm_bringup"
else
	echo "# no local KVM benchmarks: $lab; running pio_roundtrip and vm_bringup in the lab" \
		"(tests/lab/run-lab --only bench/local: nested kvm_amd under QEMU TCG, only the ratios mean anything)"
	cmake --build "$b" --target pio_roundtrip_static vm_bringup_static >/dev/null
	log=$b/bench/run-lab.log
	rc=0 report_rc=0
	tests/lab/run-lab -B "$b" --only bench/local >"$log" 2>&1 || rc=$?
	# The test's log without the lab's markers: the programs' own lines, then its verdict line.
	report=$(tests/lab/run-lab -B "$b" --report bench/local 2>&1) || report_rc=$?
	printf '%s\n' "$report" | grep -v -E '^LAB-(BEGIN|END|RESULT|TIME) '
	if [ "$rc" != 0 ] || [ "$report_rc" != 0 ]; then
		echo "# the lab run failed (run-lab status $rc, bench/local status $report_rc); the end of its output ($log):"
		tail -n 25 "$log"
		exit 1
	fi
	echo "# lab: $(sed -n -E 's/^run-lab: (L1 boot: .*|whole lab: [0-9.]+ s).*/\1/p' "$log" | awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 }')"
fi
"$b/bench/bench_bus_dispatch"
"$b/bench/bench_bus_threads"
