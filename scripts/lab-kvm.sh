#!/bin/bash
# lab-kvm.sh: the quick loop for the kvm tier on a real, upstream KVM: build only the static test programs the
# chosen kvm-tier tests need, run them in the lab (tests/lab/run-lab: one L1 under QEMU TCG with kvm_amd) and
# print each one's result, and for each one that did not pass, its log. Works where the local /dev/kvm is
# missing or is the PVM one (docs/lab.md, "The kvm tier in the lab, quickly").
#
#   scripts/lab-kvm.sh [-B BUILD_DIR] [-v] [NAME...]
#
# NAME: a kvm-tier test (hlt_test, or kvm/hlt_test) or a shell pattern ('virtio_*'); a name without a slash
# means kvm/NAME. Other lab tests may be named with their slash (smoke/raw_kvm); for those, everything the lab
# uses is built (target lab_programs). No NAME: every kvm-tier test (kvm/*). BUILD_DIR: default build
# (configured with Ninja if it is not yet). -v: also print each test's output as it runs (run-lab --stream).
# Exit status: 0 when every chosen test passed, 1 otherwise, 2 for a usage or build error.
# Environment: as for run-lab (KVMHOST_LAB_CACHE shares one asset cache between build trees).
set -euo pipefail
cd "$(dirname "$0")/.."
b=build verbose=
while [ $# -gt 0 ]; do
	case $1 in
	-B) b=$2; shift 2 ;;
	-v) verbose=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "lab-kvm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
pats=()
for a in "$@"; do
	case $a in */*) pats+=("$a") ;; *) pats+=("kvm/$a") ;; esac
done
[ ${#pats[@]} -gt 0 ] || pats=('kvm/*')
only=$(IFS=,; echo "${pats[*]}")
t_start=$EPOCHREALTIME

[ -f "$b/CMakeCache.txt" ] || cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Any build step re-runs CMake when tests were added (the test globs), so that lab-config.sh and the list of
# kvm-tier tests are current before the selection is made.
build_log=$b/lab-kvm-build.log
cmake --build "$b" --target kvmhost_static >"$build_log" 2>&1 || {
	tail -n 30 "$build_log"
	echo "lab-kvm.sh: the build failed (whole log: $build_log)" >&2
	exit 2
}
config=$b/tests/lab/lab-config.sh
[ -r "$config" ] || { echo "lab-kvm.sh: no $config (is the lab on? KVMHOST_BUILD_LAB)" >&2; exit 2; }
# shellcheck source=/dev/null
. "$config"

names=$(tests/lab/run-lab -B "$b" --list --only "$only" | awk '{ print $1 }')
[ -n "$names" ] || { echo "lab-kvm.sh: no lab test matches $only (tests/lab/run-lab -B $b --list)" >&2; exit 2; }
targets=()
for n in $names; do
	case " $LAB_KVM_TESTS " in
	*" $n="*) targets+=("kvm_${n#kvm/}_static") ;;
	*) targets=(lab_programs); break ;; # not a kvm-tier program: build all that the lab uses
	esac
done
echo "lab-kvm.sh: $(echo "$names" | wc -l) test(s); building ${targets[*]}"
cmake --build "$b" --target "${targets[@]}" >>"$build_log" 2>&1 || {
	tail -n 30 "$build_log"
	echo "lab-kvm.sh: the build failed (whole log: $build_log)" >&2
	exit 2
}
t_built=$EPOCHREALTIME

# The lab run. Its warnings about the programs of tests that were not chosen (and so not built) are left out.
stream=()
if [ -n "$verbose" ] && tests/lab/run-lab --help | grep -q -- --stream; then stream=(--stream); fi
set +e
tests/lab/run-lab -B "$b" --only "$only" ${stream[@]+"${stream[@]}"} 2>&1 |
	grep -v -E '^run-lab: warning: .* is not built'
rc=${PIPESTATUS[0]}
set -e

# For each chosen test that did not pass, its log (what --report prints: its console lines, its verdict).
out=$b/tests/lab/out
failed=0 passed=0
for n in $names; do
	st=$(awk -F'\t' -v n="$n" '$2 == n { print $1 }' "$out/results.txt" 2>/dev/null)
	if [ "$st" = PASS ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "==== $n: ${st:-no result} ===="
		tests/lab/run-lab -B "$b" --report "$n" || true
	fi
done
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }
echo "lab-kvm.sh: $passed passed, $failed failed; $(secs "$t_start" "$EPOCHREALTIME") s" \
	"(build $(secs "$t_start" "$t_built") s, lab $(secs "$t_built" "$EPOCHREALTIME") s); logs in $out/logs"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
