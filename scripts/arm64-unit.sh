#!/bin/sh
# arm64-unit.sh [BUILD_DIR]: cross-build libkvmhost and its unit tier for arm64 with Debian's gcc-aarch64-linux-gnu
# (cmake/aarch64-linux-gnu.cmake) and run the unit tier under qemu-aarch64 user mode (ctest uses it as
# CMAKE_CROSSCOMPILING_EMULATOR). Default BUILD_DIR: build-arm64. Packages: scripts/deps.sh arm64.
# Exit status: ctest's (0: every test run passed).
#
# Not run here, each for its reason (what runs them instead: docs/arm64.md):
#  - host-side checks of the library, which an x86 host cannot do on an arm64 one: python/*, go/* (the host's
#    interpreters cannot load it), abi/install (builds with the host's compiler), abi/abidiff (the baseline is
#    x86's), unit/qmp_shapes and qemu/qmp_reference (start target programs from a host shell, without the
#    emulator);
#  - limits of qemu-user 7.2 (bookworm's), not of the code: unit/eventfd_test (qemu-user knows no KVM ioctl,
#    so a bad fd gives ENOSYS where the kernel gives EBADF), unit/virtio_block_test (no pwritev2, which
#    write-through writes use);
#  - tests of the x86 machine: unit/machine_check_test and unit/machine_options_test (Multiboot kernels, x86
#    options, the x86 command-line limit), unit/qmp_test (kvmhost-run's QMP answers are checked against the x86
#    machine's); the arm64 machine has kvm/arm64_machine_test in the arm64 lab instead.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-arm64}
excluded='^(python|go)/|^abi/(install|abidiff)$|^unit/qmp_shapes$|^qemu/qmp_reference$'
excluded="$excluded|^unit/(eventfd_test|virtio_block_test)$"
excluded="$excluded|^unit/(machine_check_test|machine_options_test|qmp_test)$"

"$src/scripts/deps.sh" arm64
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
	-DKVMHOST_BUILD_EXAMPLES=OFF -DKVMHOST_BUILD_BENCH=OFF -DKVMHOST_BUILD_LAB=OFF -DKVMHOST_GO=/nonexistent
ninja -C "$build" -j"${KVMHOST_JOBS:-2}"
cd "$build"
ctest -L unit -E "$excluded" -j"${KVMHOST_JOBS:-2}" --timeout 300 --output-on-failure
