#!/bin/bash
# shellcheck disable=SC1007 # "A= cmd" is meant: an empty variable for one command
# Self-test of run-lab's host side, without QEMU (a few seconds; ctest lab/selftest/host_runner).
# A fake L1 plays the console of the real one, and the test checks what run-lab made of it:
#   1. an L1 that stops answering in the middle of a test (a wedge: no inner timeout fires) is killed
#      by the host's watchdog; that test is a FAIL whose log holds the console's tail, and the tests
#      after it are FAILs ("not run"); the tests before it keep their results;
#   2. an L1 that dies during a test (a kernel panic with panic=-1 ends QEMU) is reported the same way;
#   3. an L1 that never reaches its init makes every test a FAIL with the console's tail.
# The in-L1 half (a crashing program, a hanging program, a panicking L2) is checked on the real lab by
# lab/selftest/neg/*.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
check() { # DESCRIPTION COMMAND...
	if "${@:2}"; then echo "ok: $1"; else echo "BAD: $1"; bad=1; fi
}
status_of() { awk -F'\t' -v n="$2" '$2 == n { print $1 }' "$1/results.txt"; }

cat >"$tmp/tests.list" <<'EOF'
t/pass 5 pass true
t/fail 5 pass false
t/stuck 1 pass sleep 600
t/after 5 pass true
EOF

# fake-l1 TESTS_LIST PIDFILE: $FAKE_MODE says how this "L1" misbehaves during t/stuck.
cat >"$tmp/fake-l1" <<'EOF'
#!/bin/bash
echo $$ >"$2"
echo "SeaBIOS (fake)"
if [ "$FAKE_MODE" = noboot ]; then echo "Kernel panic - not syncing: fake early panic"; exit 0; fi
echo "KVMHOST-GUEST-INIT"
echo "LAB-L1-READY uptime=1.00 kernel=fake"
echo "LAB-BEGIN t/pass timeout=5"; echo "pass: fine"
echo "LAB-END t/pass rc=0 time=0.01"; echo "LAB-RESULT PASS t/pass time=0.01s "
echo "LAB-BEGIN t/fail timeout=5"; echo "fail: something broke"
echo "LAB-END t/fail rc=1 time=0.01"; echo "LAB-RESULT FAIL t/fail time=0.01s (exit status 1)"
echo "LAB-BEGIN t/stuck timeout=1"; echo "stuck: last words before the wedge"
case $FAKE_MODE in
wedge) exec sleep 600 ;;                 # alive but silent, like a wedged L1
die) echo "Kernel panic - not syncing: fake"; exit 0 ;; # QEMU ends (L1 panic with -no-reboot)
esac
EOF
chmod +x "$tmp/fake-l1"

run() { # MODE: run run-lab against the fake L1; prints its output
	local t0=$SECONDS rc=0
	FAKE_MODE=$1 KVMHOST_LAB_GRACE=1 KVMHOST_LAB_ONLY= "$here/run-lab" --fake-l1 "$tmp/fake-l1" \
		--tests "$tmp/tests.list" --out "$tmp/$1" >"$tmp/$1.out" 2>&1 || rc=$?
	sed 's/^/    | /' "$tmp/$1.out"
	check "$1: run-lab exits non-zero (rc=$rc)" test "$rc" -ne 0
	check "$1: finished in $((SECONDS - t0))s (< 30s)" test $((SECONDS - t0)) -lt 30
}

echo "== an L1 that wedges during t/stuck"
run wedge
o=$tmp/wedge
check "wedge: t/pass kept PASS" test "$(status_of "$o" t/pass)" = PASS
check "wedge: t/fail kept FAIL" test "$(status_of "$o" t/fail)" = FAIL
check "wedge: t/stuck is FAIL" test "$(status_of "$o" t/stuck)" = FAIL
check "wedge: the reason names the watchdog" grep -q 'stopped responding during t/stuck' "$o/results.txt"
check "wedge: t/stuck's log has its last output" grep -q 'last words before the wedge' "$o/logs/t/stuck.log"
check "wedge: t/stuck's log has the console tail" grep -q 'last 40 lines of the L1 console' "$o/logs/t/stuck.log"
check "wedge: t/after is FAIL (not run)" grep -q $'^FAIL\tt/after\t.*not run' "$o/results.txt"
check "wedge: the fake L1 is gone" bash -c "! kill -0 \$(cat '$o/qemu.pid') 2>/dev/null"

echo "== an L1 that dies during t/stuck"
run die
o=$tmp/die
check "die: t/stuck is FAIL" test "$(status_of "$o" t/stuck)" = FAIL
check "die: the reason says L1 ended during it" grep -q 'L1 ended during this test' "$o/results.txt"
check "die: t/stuck's log has the panic" grep -q 'Kernel panic - not syncing: fake' "$o/logs/t/stuck.log"

echo "== an L1 that never reaches its init"
run noboot
o=$tmp/noboot
check "noboot: all four tests are FAIL" test "$(grep -c '^FAIL' "$o/results.txt")" -eq 4
check "noboot: the logs show the console tail" grep -q 'fake early panic' "$o/logs/t/pass.log"

if [ "$bad" -eq 0 ]; then echo "selftest-host: all checks passed"; else echo "selftest-host: FAILED"; fi
exit "$bad"
