#!/bin/sh
# The README's test command, and the whole of CI (.ci/run calls it).
# 1. install what the build, the tests and the lab need (apt-get);
# 2. check the C sources' formatting (.clang-format);
# 3. build and run the unit, abi and kvm tiers; compile a Release (-O3) build;
#    build the Debian packages, lint them, install and use them in a clean root (scripts/debs.sh);
# 4. build again with ASan+UBSan and run the unit and kvm tiers;
# 5. fuzz what a guest or a file controls (virtio, legacy devices, PCI, kernel loaders, saved state) for a short
#    time (clang, libFuzzer);
# 6. cross-build for arm64, run its unit tier under qemu-aarch64 (scripts/arm64-unit.sh) and its kvm tier in the
#    arm64 lab (scripts/arm64-lab.sh);
# 7. the lab tier.
# kvm-tier tests skip (exit 77, with a reason) where /dev/kvm is missing; step 3 also runs them with /dev/kvm
# hidden (scripts/without-kvm.sh), so a machine with a KVM proves the machine without one too.
# Set KVMHOST_SKIP_LAB=1 to leave the lab out (for quick local runs only).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
status=0

step() { printf '\n=== %s\n' "$*"; }

step "format (.clang-format; fix with: clang-format -i FILE)"
unformatted=$(git ls-files '*.c' '*.h' | while read -r f; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -n "$unformatted" ]; then
	echo "not formatted as .clang-format says:" $unformatted
	status=1
fi

step "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

step "unit, abi and kvm tiers"
ctest --test-dir build -L 'unit|abi|kvm' -j "$jobs" --output-on-failure || status=1

step "kvm tier as on a machine without /dev/kvm: each test passes or skips (77) with one line saying why"
if [ ! -e /dev/kvm ]; then
	tests/kvm/no-kvm-check.sh build || status=1
elif [ "$(id -u)" -eq 0 ]; then
	scripts/without-kvm.sh tests/kvm/no-kvm-check.sh build || status=1 # hides /dev/kvm in a mount namespace
else
	echo "not checked: hiding /dev/kvm needs root (scripts/without-kvm.sh)"
fi

step "release build (-O3: what the optimiser's warnings find, as a user's Release build would)"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVMHOST_BUILD_LAB=OFF -DKVMHOST_BUILD_TESTS=OFF \
	-DKVMHOST_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build build-release -j "$jobs" || status=1
# As a package build installs it: the configured prefix /usr (multiarch libdir), staged with DESTDIR.
tests/abi/check_install.sh --configured build-release tests/abi || status=1

step "packages: build the .debs (debian/), lintian, apt-get install them in a clean Debian root and use them"
scripts/debs.sh build-deb || status=1

step "sanitizer build (ASan+UBSan; the kvm tier includes kvmhost-run with every virtio device)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKVMHOST_SANITIZE=ON -DKVMHOST_BUILD_LAB=OFF \
	-DKVMHOST_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan -L 'unit|kvm' -LE abi -j "$jobs" --output-on-failure || status=1

step "fuzz: libFuzzer on the guest's and files' parsers, 10-20 s each (clang; times in tests/fuzz/CMakeLists.txt)"
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMHOST_FUZZ=ON \
	-DKVMHOST_BUILD_LAB=OFF -DKVMHOST_BUILD_EXAMPLES=OFF -DKVMHOST_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_targets
ctest --test-dir build-fuzz -L fuzz --output-on-failure || status=1

step "arm64: cross build (gcc-aarch64-linux-gnu) and its unit tier under qemu-aarch64 (docs/arm64.md)"
scripts/arm64-unit.sh build-arm64 || status=1
step "arm64 lab: the arm64 kvm tier on KVM inside qemu-system-aarch64 (TCG, virtualization=on, GICv3)"
scripts/arm64-lab.sh -B build-arm64 || status=1

if [ "${KVMHOST_SKIP_LAB:-0}" = 1 ]; then
	step "lab tier skipped (KVMHOST_SKIP_LAB=1)"
else
	step "lab tier (nested KVM under QEMU TCG; see docs/lab.md)"
	ctest --test-dir build -L lab --output-on-failure || status=1
fi

step "result: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
