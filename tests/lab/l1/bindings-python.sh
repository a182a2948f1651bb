#!/bin/sh
# Lab case bindings/python_kvm: the Python binding's kvm tier (bindings/python/tests/test_kvm.py, ctest's
# python/kvm, through tests/run.py and pytest) on L1's upstream KVM, against the build's libkvmhost.so. L1 gets
# the interpreter, the modules the tests import and the library from tests/lab/python-l1.sh (run-lab), in
# /lab/python. Passes when every test passed: a skip is a failure here (this is a real KVM), except when L1 has no
# Python because the host that built the lab has none with pytest (one SKIP line, declared in
# tests/lab/lab-skips.txt).
d=/lab/python
if [ -r "$d/skip-reason" ]; then
	echo "SKIP: no Python in L1: $(cat "$d/skip-reason")"
	exit 77
fi
if [ ! -r "$d/interpreter" ]; then
	echo "SKIP: no Python in L1: the build found no python3 (KVMHOST_PYTHON, bindings/python/CMakeLists.txt)"
	exit 77
fi
py=$(cat "$d/interpreter")
cd /tmp || exit 1
log=/tmp/bindings-python.out
{
	KVMHOST_LIBRARY=$d/libkvmhost.so.0 KVMHOST_MBGUESTS_DIR=/lab/run/mbguests PYTHONDONTWRITEBYTECODE=1 \
		"$py" "$d/tests/run.py" -v -m kvm "$d/tests/test_kvm.py"
	echo "$?" >/tmp/bindings-python.rc
} 2>&1 | tee "$log"
rc=$(cat /tmp/bindings-python.rc)
if [ "$rc" = 77 ]; then
	echo "bindings-python: FAIL: the Python kvm tests skipped (exit 77) on L1's KVM"
	exit 1
fi
[ "$rc" = 0 ] || exit "$rc"
if grep -q ' SKIPPED' "$log"; then
	echo "bindings-python: FAIL: a Python kvm test skipped on L1's KVM"
	exit 1
fi
grep -q ' PASSED' "$log" || { echo "bindings-python: FAIL: no test passed"; exit 1; }
# The README's example, as a user runs it (exit 0 only when the guest said hello and stopped as told)
KVMHOST_LIBRARY=$d/libkvmhost.so.0 PYTHONPATH=$d PYTHONDONTWRITEBYTECODE=1 "$py" "$d/examples/hello.py" ||
	{ echo "bindings-python: FAIL: examples/hello.py exited $?"; exit 1; }
echo "bindings-python: ok: examples/hello.py"
