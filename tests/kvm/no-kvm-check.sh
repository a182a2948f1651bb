#!/bin/sh
# no-kvm-check.sh BUILD_DIR: the kvm tier as a machine without /dev/kvm runs it. Every kvm-tier test must pass
# (it needs no KVM, or ran what needed none) or skip with status 77 and exactly one "SKIP: reason" line; a
# failure, a silent skip or a skip with several reasons fails this check. scripts/test.sh runs it under
# scripts/without-kvm.sh, so that a machine that has a KVM proves the other case too.
set -u
build=${1:?usage: no-kvm-check.sh BUILD_DIR}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ -e /dev/kvm ]; then
	echo "no-kvm-check: /dev/kvm exists here: run me under scripts/without-kvm.sh" >&2
	exit 2
fi
ctest --test-dir "$build" -L kvm -V >"$log" 2>&1
# ctest -V prefixes each line a test prints with "N: "; its result line reads "i/n Test #N: NAME .... RESULT".
awk '
	/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: / {
		n = $3; sub("#", "", n); sub(":", "", n); name = $4
		result = /\*\*\*Skipped/ ? "skip" : / Passed / ? "pass" : "fail"
		order[++count] = n; names[n] = name; results[n] = result
		next
	}
	/^[0-9]+: / {
		n = $1; sub(":", "", n)
		if (index($0, n ": SKIP: ") == 1) { skips[n]++; reason[n] = substr($0, length(n) + 9) }
	}
	END {
		bad = 0; passed = 0; skipped = 0
		for (i = 1; i <= count; i++) {
			n = order[i]
			if (results[n] == "pass") { passed++; printf "pass  %s\n", names[n]; continue }
			if (results[n] == "skip" && skips[n] == 1) { skipped++; printf "skip  %s (%s)\n", names[n], reason[n]; continue }
			bad++
			if (results[n] == "skip")
				printf "FAIL  %s: skipped with %d SKIP lines (want exactly one)\n", names[n], skips[n] + 0
			else
				printf "FAIL  %s: failed without a KVM (see ctest -V)\n", names[n]
		}
		if (count == 0) { print "FAIL  no kvm-tier test ran"; bad = 1 }
		printf "no-kvm-check: of %d kvm-tier tests without a KVM, %d ran and passed, %d skipped with a reason, %d did not behave\n", count, passed, skipped, bad
		exit bad != 0
	}' "$log"
