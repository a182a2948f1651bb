#!/bin/sh
# arm64-libfdt.sh [DIR]: fetch libfdt-dev:arm64 with apt-get download (once, cached in DIR, default
# ${XDG_CACHE_HOME:-~/.cache}/kvmhost/arm64) and print the path of its libfdt.a. A cross build passes it as
# -DKVMHOST_LIBFDT_STATIC=... so that -static arm64 programs (the arm64 lab's kvm tests) link: libfdt-dev is not
# Multi-Arch: same, so the arm64 copy cannot be installed beside the host's (docs/arm64.md).
set -eu
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/kvmhost/arm64}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
ver=$(apt-cache show --no-all-versions libfdt-dev:arm64 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
if [ -z "$ver" ]; then
	# Offline, or the arm64 architecture is not added: the newest cached copy, if any.
	# shellcheck disable=SC2012 # the names are our own (libfdt-dev_<version>)
	lib=$(ls -1d "$dir"/libfdt-dev_*/libfdt.a 2>/dev/null | sort -rV | head -n 1)
	[ -n "$lib" ] || { echo "arm64-libfdt.sh: apt-cache knows no libfdt-dev:arm64 (scripts/deps.sh arm64)" >&2; exit 1; }
	echo "$lib"
	exit 0
fi
out=$dir/libfdt-dev_$ver
if [ ! -s "$out/libfdt.a" ]; then
	tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "libfdt-dev:arm64=$ver" >&2)
	dpkg-deb -x "$tmp"/libfdt-dev_*.deb "$tmp/root"
	mkdir -p "$out"
	cp "$tmp/root/usr/lib/aarch64-linux-gnu/libfdt.a" "$out/libfdt.a.tmp"
	mv "$out/libfdt.a.tmp" "$out/libfdt.a"
	rm -rf "$tmp"
fi
echo "$out/libfdt.a"
