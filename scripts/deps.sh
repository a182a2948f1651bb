#!/bin/sh
# Install the Debian packages the build, the tests and the lab need, only if
# some are missing (so a machine that has them needs no network).
# Usage: scripts/deps.sh [build|lab|deb|test|arm64]
#   build  what the build needs; lab: that plus what the lab needs on the host (tests/lab/run-lab: QEMU, busybox,
#   the image tools; scripts/demo.sh where there is no usable /dev/kvm); deb: build plus the packaging tools
#   (scripts/debs.sh); test: all of these plus what the tests need (abigail-tools: tests/abi/check_abi.sh;
#   doxygen: the unit-tier test unit/doxygen, docs/check-doxygen.sh; python3-*: python/*, bindings/python;
#   golang-go: go/*, bindings/go; device-tree-compiler: dtc for unit/arm64_fdt_test); arm64: build plus the
#   arm64 cross build and its unit tier under qemu-user (scripts/arm64-unit.sh; adds dpkg's arm64 architecture
#   first). libfdt-dev is not Multi-Arch: same, so the cross build links the arm64 runtime library
#   (libfdt1:arm64) and takes the host's headers.
set -eu
build_pkgs="cmake ninja-build gcc binutils make pkg-config libc6-dev libcmocka-dev libfdt-dev libxxhash-dev liburing-dev libjansson-dev"
lab_pkgs="qemu-system-x86 busybox-static cpio e2fsprogs xz-utils zstd kmod"
deb_pkgs="debhelper dpkg-dev fakeroot lintian debootstrap"
test_pkgs="clang clang-format acpica-tools abigail-tools doxygen python3-pytest python3-mypy python3-venv python3-wheel golang-go device-tree-compiler"
arm64_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross libc6:arm64 libcmocka-dev:arm64 libfdt1:arm64 liburing-dev:arm64 libjansson-dev:arm64 qemu-user-static"
case "${1:-build}" in
	build) want=$build_pkgs ;;
	lab) want="$build_pkgs $lab_pkgs" ;;
	deb) want="$build_pkgs $deb_pkgs" ;;
	test) want="$build_pkgs $lab_pkgs $deb_pkgs $test_pkgs" ;;
	arm64) want="$build_pkgs $arm64_pkgs" ;;
	*) echo "usage: $0 [build|lab|deb|test|arm64]" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
case " $missing" in *:arm64*) dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64 ;; esac
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
