#!/bin/sh
# Build and run every local benchmark, printing their side-by-side ratios.
# Usage: bench/run.sh [build dir]   (default: build)
# Timings on shared machines are noisy: compare the ratios printed within one
# run, never absolute numbers across runs or machines.
set -eu
cd "$(dirname "$0")/.."
b=${1:-build}
[ -f "$b/CMakeCache.txt" ] || cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$b" --target pio_roundtrip vm_bringup bench_bus_dispatch >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$b/bench/pio_roundtrip"
"$b/bench/vm_bringup"
"$b/bench/bench_bus_dispatch"
