#!/bin/sh
# The README's demo command: install what the build needs, build, and show a VM running on libkvmhost.
#   - Where /dev/kvm is usable (it opens read-write and examples/hello, the smallest complete VMM, runs its tiny
#     guest on it): hello prints "Hello from the guest", as it always did.
#   - Where it is not (no /dev/kvm at all, as on some of our machines, or one that cannot even run hello): one
#     line says why, and the demo runs inside the lab's emulated KVM host instead (docs/lab.md): QEMU's TCG
#     boots Debian's kernel with kvm_amd (L1); there hello runs, then examples/kvmhost-run boots a Debian guest
#     with a virtio disk, network and console, and the guest's own output is shown as it comes. Those are the
#     lab tests example/hello and demo/linux (tests/lab/cases.list), which CI's lab tier runs too, run by
#     tests/lab/run-lab --stream; the first run fetches Debian's kernel (apt-get download) and builds the images.
# Usage: scripts/demo.sh [-B BUILD_DIR]      (default: build)
# Logs go to BUILD_DIR/demo/ (the lab's own to BUILD_DIR/tests/lab/out/). Exit status 0 when the demo ran, else
# 1 after a line that names the step that failed and its log.
set -eu
cd "$(dirname "$0")/.."
build=build
case ${1:-} in
-B) build=${2:?"usage: $0 [-B BUILD_DIR]"} ;;
'') ;;
*) echo "usage: $0 [-B BUILD_DIR]" >&2; exit 2 ;;
esac
logs=$build/demo
t_start=$(date +%s)
say() { echo "demo: $*"; }
failed() { # STEP LOG: STEP failed; show the end of its log
	echo "demo: FAILED: $1 (log: $2)" >&2
	[ ! -s "$2" ] || tail -n 15 "$2" | sed 's/^/  | /' >&2
	exit 1
}
quiet() { # LOG COMMAND...: run COMMAND with its output into LOG only
	log=$1
	shift
	"$@" >"$log" 2>&1
}
shown() { # LOG COMMAND...: run COMMAND with its output on the terminal and in LOG; COMMAND's exit status
	log=$1
	shift
	{
		rc=0
		"$@" 2>&1 || rc=$?
		echo "$rc" >"$log.rc"
	} | tee "$log"
	return "$(cat "$log.rc")"
}
kvm_unusable() { # prints why /dev/kvm cannot be used here, nothing when it opens read-write
	if [ ! -e /dev/kvm ]; then
		echo "there is no /dev/kvm"
	elif ! err=$( (: <>/dev/kvm) 2>&1); then
		echo "/dev/kvm does not open read-write: ${err##*: }"
	fi
}

mkdir -p "$logs"
shown "$logs/deps.log" scripts/deps.sh build || failed "installing the build's packages (scripts/deps.sh build)" "$logs/deps.log"
quiet "$logs/configure.log" cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
	failed "configuring the build (cmake -S . -B $build)" "$logs/configure.log"

why=$(kvm_unusable)
if [ -z "$why" ]; then
	say "building libkvmhost and examples/hello (log: $logs/build.log)"
	quiet "$logs/build.log" cmake --build "$build" --target hello || failed "building examples/hello" "$logs/build.log"
	if timeout 60 "$build/examples/hello/hello" >"$logs/hello.log" 2>&1 && grep -q "Hello from the guest" "$logs/hello.log"; then
		echo "--- running $build/examples/hello/hello on /dev/kvm"
		cat "$logs/hello.log"
		exit 0
	fi
	why="examples/hello failed on /dev/kvm: $(tail -n 1 "$logs/hello.log")"
fi
say "no usable /dev/kvm here ($why): running the demo in the lab's emulated KVM host instead (QEMU TCG with SVM, docs/lab.md)"

shown "$logs/deps-lab.log" scripts/deps.sh lab || failed "installing the lab's packages (scripts/deps.sh lab)" "$logs/deps-lab.log"
say "building the lab's programs: static hello, kvmhost-run and the lab's tests (log: $logs/build-lab.log)"
quiet "$logs/build-lab.log" cmake --build "$build" --target lab_programs ||
	failed "building the lab's programs (cmake --build $build --target lab_programs)" "$logs/build-lab.log"
tests=example/hello,demo/linux
say "tests/lab/run-lab -B $build --only $tests --stream (log: $logs/lab.log)"
out=$build/tests/lab/out
# L1's kernel logs on the console that the L2 guest's kernel probed an AMD performance-counter MSR which L1's KVM
# does not emulate ("kvm [PID]: vcpu0, guest rIP: ... Unhandled WRMSR(0xc0010007) = 0xffff"): harmless, and only
# alarming here; it stays in the log.
benign='^\[ *[0-9.]*\] kvm \[[0-9]*\]: vcpu[0-9]*, guest rIP: 0x[0-9a-f]* Unhandled [RW][DR]MSR(0xc001000[0-7])'
shown "$logs/lab.log" tests/lab/run-lab -B "$build" --only "$tests" --stream | grep --line-buffered -v -e "$benign" || :
if [ "$(cat "$logs/lab.log.rc")" = 0 ]; then
	say "done in $(($(date +%s) - t_start)) s: in L1, hello ran on kvm_amd, then kvmhost-run booted Debian's kernel with a" \
		"virtio disk, network and console (the hvc0| lines are the guest's own output, through its virtio console)"
	exit 0
fi
# Which lab test failed, and where its evidence is; no result newer than this run: the lab did not start.
if [ -r "$out/results.txt" ] && [ "$(stat -c %Y "$out/results.txt")" -ge "$t_start" ]; then
	awk -F'\t' '$1 != "PASS" { print $2 "\t" $1 " " $5 }' "$out/results.txt" | while IFS="$(printf '\t')" read -r name what; do
		echo "demo: FAILED: lab test $name: $what; its log: $out/logs/$name.log (tests/lab/run-lab -B $build --report $name)," \
			"L1's console: $out/console.log" >&2
	done
	exit 1
fi
failed "the lab could not be built or started (tests/lab/run-lab; its error is above)" "$logs/lab.log"
