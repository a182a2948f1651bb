#!/bin/sh
# Install the Debian packages the build, the tests and the lab need, only if
# some are missing (so a machine that has them needs no network).
# Usage: scripts/deps.sh [build|lab|deb|test]
#   build  what the build needs; lab: that plus what the lab needs on the host (tests/lab/run-lab: QEMU, busybox,
#   the image tools; scripts/demo.sh where there is no usable /dev/kvm); deb: build plus the packaging tools
#   (scripts/debs.sh); test: all of these plus what the tests need (abigail-tools: tests/abi/check_abi.sh;
#   doxygen: the unit-tier test unit/doxygen, docs/check-doxygen.sh; python3-*: python/*, bindings/python;
#   golang-go: go/*, bindings/go)
set -eu
build_pkgs="cmake ninja-build gcc binutils make pkg-config libc6-dev libcmocka-dev libfdt-dev liburing-dev libjansson-dev"
lab_pkgs="qemu-system-x86 busybox-static cpio e2fsprogs xz-utils zstd kmod"
deb_pkgs="debhelper dpkg-dev fakeroot lintian debootstrap"
test_pkgs="clang clang-format acpica-tools abigail-tools doxygen python3-pytest python3-mypy python3-venv python3-wheel golang-go"
case "${1:-build}" in
	build) want=$build_pkgs ;;
	lab) want="$build_pkgs $lab_pkgs" ;;
	deb) want="$build_pkgs $deb_pkgs" ;;
	test) want="$build_pkgs $lab_pkgs $deb_pkgs $test_pkgs" ;;
	*) echo "usage: $0 [build|lab|deb|test]" >&2; exit 2 ;;
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
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
