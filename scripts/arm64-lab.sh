#!/bin/sh
# arm64-lab.sh [-B BUILD_DIR] [run-lab options...]: the arm64 lab from an x86 host. Cross-builds libkvmhost and
# the arm64 kvm tier (tests/kvm/arm64_*_test.c, static) with cmake/aarch64-linux-gnu.cmake, then runs
# tests/lab/run-lab --arch arm64 on that tree: qemu-system-aarch64 TCG (-M virt,virtualization=on,gic-version=3
# -cpu max -smp 1) boots Debian's arm64 kernel (KVM built in) with a busybox-static:arm64 initramfs holding the
# tests, and the results come back on its console as in the x86 lab (docs/lab.md, docs/arm64.md).
#   scripts/arm64-lab.sh                                   every arm64 lab test
#   scripts/arm64-lab.sh --only kvm/arm64_psci_test        one (run-lab's --only, --stream, --report ... pass on)
# Default BUILD_DIR: build-arm64. Packages: scripts/deps.sh arm64 (and qemu-system-arm, which run-lab installs).
# Exit status: run-lab's.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build="build-arm64"
if [ "${1:-}" = -B ]; then build=$2; shift 2; fi
"$src/scripts/deps.sh" arm64
mkdir -p "$build"
build=$(cd "$build" && pwd)
# -static arm64 programs need libfdt.a, which libfdt-dev:arm64 has but cannot be installed beside the host's.
libfdt=$("$src/scripts/arm64-libfdt.sh" "${KVMHOST_LAB_CACHE:-$build/lab-cache}/arm64")
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
	-DKVMHOST_BUILD_EXAMPLES=ON -DKVMHOST_BUILD_BENCH=OFF -DKVMHOST_BUILD_LAB=ON -DKVMHOST_GO=/nonexistent \
	-DKVMHOST_LIBFDT_STATIC="$libfdt" >/dev/null
ninja -C "$build" -j"${KVMHOST_JOBS:-2}" lab_programs
exec "$src/tests/lab/run-lab" -B "$build" --arch arm64 "$@"
