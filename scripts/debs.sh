#!/bin/sh
# Build the Debian packages (debian/: libkvmhost0, libkvmhost-dev, kvmhost-tools) and check them as a user gets them:
# 1. install the packaging tools and the Build-Depends (scripts/deps.sh deb: apt-get);
# 2. dpkg-buildpackage (debhelper, cmake+ninja; tests are not built: scripts/test.sh runs them) on a copy of the
#    tree (git's files, committed or not, so no build*/ folder goes in): the source package (3.0 native) and the
#    binary packages, which are copied to OUT/debs;
# 3. lintian on both: fails on errors, prints warnings;
# 4. install check, in a clean Debian root: `debootstrap --variant=minbase` of this host's release plus a compiler,
#    pkg-config and cmake, made once and cached in OUT/root-base (made again when missing or when the release or
#    mirror changes), copied afresh to OUT/root each run; in it, in a mount namespace of its own (unshare):
#    `apt-get install ./*.deb` (so the packages' Depends pull libkvmhost's dependencies from the archive), an outside
#    program (tests/abi/outside.c) built with `pkg-config --cflags --libs kvmhost` (and --static) and with
#    find_package(kvmhost), run; `kvmhost-run --help`, `kvmhostctl --help`, `kvmhost-mkguest --help`.
#    Needs root (CI runs as root); without it step 4 is skipped, saying so.
# Usage: scripts/debs.sh [OUT]   (default: build-deb)
# Environment: KVMHOST_DEB_MIRROR (default http://deb.debian.org/debian), KVMHOST_DEB_SECURITY (default
# http://deb.debian.org/debian-security), KVMHOST_DEB_SUITE (default: this host's VERSION_CODENAME, else bookworm).
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=$(nproc)
scripts/deps.sh deb

t0=$(date +%s)
lap() { # NAME: print the seconds since the last lap
	t1=$(date +%s)
	echo "debs: $1 took $((t1 - t0)) s"
	t0=$t1
}

# Step 2: the packages. The changelog's version is the project's (CMakeLists.txt project(VERSION)).
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
project=$(sed -n 's/^project(kvmhost VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [ "${version%%-*}" != "$project" ]; then
	echo "debs: debian/changelog says $version, CMakeLists.txt says $project: add a changelog entry (dch -v $project)"
	exit 1
fi
rm -rf "$out/src" "$out/debs"
mkdir -p "$out/src/libkvmhost-$version" "$out/debs"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | tr '\0' '\n' | while IFS= read -r f; do
		[ -e "$f" ] && printf '%s\n' "$f"
	done | tar cf - --verbatim-files-from -T - | tar xf - -C "$out/src/libkvmhost-$version"
else
	tar cf - --exclude='./build*' --exclude='./.git' . | tar xf - -C "$out/src/libkvmhost-$version"
fi
(
	cd "$out/src/libkvmhost-$version"
	DEB_BUILD_OPTIONS="nocheck noddebs parallel=$jobs ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc \
		>"$out/src/build.log" 2>&1
) || {
	grep -E -A4 'error:|FAILED:|Error [0-9]' "$out/src/build.log" | cut -c1-300 | tail -40
	echo "debs: dpkg-buildpackage failed (whole log: $out/src/build.log)"
	exit 1
}
cp "$out"/src/*.deb "$out/debs/"
for deb in "$out"/debs/*.deb; do
	echo "debs: $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
done
lap "dpkg-buildpackage"

# Step 3: lintian (errors fail, warnings are printed).
rc=0
lintian -I --fail-on error "$out"/src/*.changes >"$out/lintian.log" 2>&1 || rc=$?
grep -v '^running with root privileges' "$out/lintian.log" || true
if [ $rc -ne 0 ]; then
	echo "debs: lintian found errors (exit $rc)"
	exit 1
fi
lap "lintian"

# Step 4: install and use them in a clean root.
if [ "$(id -u)" -ne 0 ]; then
	echo "debs: install check skipped: making a clean root (debootstrap, chroot) needs root"
	exit 0
fi
mirror=${KVMHOST_DEB_MIRROR:-http://deb.debian.org/debian}
security=${KVMHOST_DEB_SECURITY:-http://deb.debian.org/debian-security}
# shellcheck disable=SC1091 # the host's
suite=${KVMHOST_DEB_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
suite=${suite:-bookworm}
include=gcc,libc6-dev,pkg-config,cmake,make
want="$suite $mirror $security $include"
base=$out/root-base
if [ "$(cat "$base/.kvmhost-root" 2>/dev/null)" != "$want" ]; then
	echo "debs: making the clean root: debootstrap --variant=minbase --include=$include $suite ($mirror)"
	rm -rf "$base" "$base.new"
	debootstrap --variant=minbase --include="$include" "$suite" "$base.new" "$mirror" >"$out/debootstrap.log" 2>&1 || {
		tail -20 "$out/debootstrap.log"
		echo "debs: debootstrap failed (whole log: $out/debootstrap.log)"
		exit 1
	}
	{
		echo "deb $mirror $suite main"
		echo "deb $mirror $suite-updates main"
		echo "deb $security $suite-security main"
	} >"$base.new/etc/apt/sources.list"
	rm -rf "$base.new/var/cache/apt/archives"/*.deb "$base.new/var/lib/apt/lists"/*_Packages*
	echo "$want" >"$base.new/.kvmhost-root"
	mv "$base.new" "$base"
	lap "debootstrap (cached in $base)"
fi
root=$out/root
rm -rf "$root"
cp -a "$base" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mkdir -p "$root/tmp/debs" "$root/tmp/check"
cp "$out"/debs/*.deb "$root/tmp/debs/"
cp -r tests/abi/outside.c tests/abi/find_package "$root/tmp/check/"
chmod -R a+rX "$root/tmp/debs" "$root/tmp/check"
cat >"$root/tmp/check/in-root.sh" <<'EOF'
set -eu
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s)
lap() { t1=$(date +%s); echo "debs: (clean root) $1 took $((t1 - t0)) s"; t0=$t1; }
apt-get update -q >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
cd /tmp/debs
apt-get install -y -q ./*.deb >>/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
grep -E '^(Setting up|Unpacking) ' /tmp/apt.log | sed -n 's/^Setting up /debs: (clean root) installed /p'
lap "apt-get update, apt-get install ./*.deb"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
test -f "/usr/lib/$multiarch/libkvmhost.so.0"
cd /tmp/check
flags=$(pkg-config --cflags --libs kvmhost)
echo "debs: (clean root) pkg-config --cflags --libs kvmhost: $flags"
# shellcheck disable=SC2086 # flags are words
cc -Wall -Werror -o outside outside.c $flags
./outside
sflags=$(pkg-config --static --cflags --libs kvmhost)
# shellcheck disable=SC2086
cc -Wall -Werror -o outside_static outside.c -Wl,-Bstatic $sflags -Wl,-Bdynamic
./outside_static >/dev/null
cmake -S find_package -B cm >/dev/null
cmake --build cm >/dev/null
./cm/outside >/dev/null
echo "debs: (clean root) outside program built with pkg-config (shared, static) and find_package(kvmhost), ran"
for p in kvmhost-run kvmhostctl kvmhost-mkguest; do
	if ! command -v $p >/dev/null; then
		[ $p = kvmhost-run ] && [ "$multiarch" != x86_64-linux-gnu ] && continue # x86 only
		echo "debs: (clean root) $p is not installed"
		exit 1
	fi
	$p --help >help.txt 2>&1 || { cat help.txt; echo "debs: (clean root) $p --help failed"; exit 1; }
	echo "debs: (clean root) $(command -v $p) --help: $(head -1 help.txt)"
done
lap "outside program, --help"
EOF
# A mount namespace of its own: /proc is mounted in the root for apt and dpkg, and goes away with the namespace.
# shellcheck disable=SC2016 # expanded by the inner shell
unshare --mount --propagation private \
	sh -c 'mount -t proc proc "$1/proc" && exec chroot "$1" /bin/sh /tmp/check/in-root.sh' sh "$root" || {
	echo "debs: the install check in the clean root failed"
	exit 1
}
lap "install check"
rm -rf "$root" # the cached clean root stays, in $base
echo "debs: OK: $(cd "$out/debs" && echo *.deb) built, lintian clean of errors, installed and used in a" \
	"clean $suite root"
