#!/bin/sh
# Lab case bindings/go_kvm: the Go binding's kvm tier (TestKVM* in bindings/go/kvm_test.go, ctest's go/kvm) on
# L1's upstream KVM, from the statically linked test binary that bindings/go/CMakeLists.txt builds
# (kvmhost-go-static.test, target kvmhost_go_lab_test, in /lab/bin). Passes when the binary passed and every test
# ran: a skip is a failure here (this is a real KVM), except when there is no binary because the host that built
# the lab has no Go toolchain (one SKIP line, declared in tests/lab/lab-skips.txt).
bin=/lab/bin/kvmhost-go-static.test
if [ ! -x "$bin" ]; then
	echo "SKIP: no Go test binary in L1 ($bin): the build found no Go toolchain (Debian: golang-go; bindings/go/CMakeLists.txt looks for go on PATH and in /usr/lib/go/bin)"
	exit 77
fi
cd /tmp || exit 1
log=/tmp/bindings-go.out
{
	"$bin" -test.v -test.run '^TestKVM' -kvmhost.tier=kvm
	echo "$?" >/tmp/bindings-go.rc
} 2>&1 | tee "$log"
rc=$(cat /tmp/bindings-go.rc)
passed=$(grep -c -- '^--- PASS: TestKVM' "$log")
echo "bindings-go: exit status $rc, $passed TestKVM* tests passed"
if [ "$rc" = 77 ]; then
	echo "bindings-go: FAIL: the Go kvm tests skipped (exit 77) on L1's KVM"
	exit 1
fi
[ "$rc" = 0 ] || exit "$rc"
if grep -q -- '--- SKIP: ' "$log"; then
	echo "bindings-go: FAIL: a Go kvm test skipped on L1's KVM:"
	grep -A1 -- '--- SKIP: ' "$log"
	exit 1
fi
[ "$passed" -gt 0 ] || { echo "bindings-go: FAIL: no TestKVM* test ran"; exit 1; }
