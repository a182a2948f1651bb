#!/bin/sh
# The ABI check by hand, and the one way to refresh its baseline.
# Usage: scripts/abi.sh [--update] [BUILD_DIR]   (default BUILD_DIR: build-abi)
# Builds the shared library alone (RelWithDebInfo, GCC: the ABI is read from its debug info) and runs
# tests/abi/check_abi.sh: it compares the library's ABI with abi/libkvmhost.so.<major>.abi and fails on an
# incompatible change unless the soname changed (ctest's abi/abidiff runs the same check in every GCC build).
# --update writes the baseline from this tree instead. Do it only at a release (the baseline is the last release's
# ABI; until the first release, the ABI of the commit that added the check), after the check has shown what
# changed, and commit abi/ with the release.
set -eu
cd "$(dirname "$0")/.."
update=
if [ "${1:-}" = --update ]; then update=--update; shift; fi
build=${1:-build-abi}
scripts/deps.sh build
command -v abidw >/dev/null || {
	echo "Installing: abigail-tools"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get install -y -q --no-install-recommends abigail-tools || {
		$SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends abigail-tools
	}
}
CC=gcc cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMHOST_BUILD_TESTS=OFF \
	-DKVMHOST_BUILD_EXAMPLES=OFF -DKVMHOST_BUILD_BENCH=OFF -DKVMHOST_BUILD_LAB=OFF >/dev/null
cmake --build "$build" --target kvmhost -j "$(nproc)" >/dev/null
lib=$(readlink -f "$build/lib/libkvmhost.so")
# shellcheck disable=SC2086 # $update is empty or one word
exec tests/abi/check_abi.sh $update "$lib" "$(pwd)" "$build"
