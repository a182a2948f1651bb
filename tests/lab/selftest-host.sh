#!/bin/bash
# shellcheck disable=SC1007,SC2016,SC2317 # "A= cmd" is meant; '$$' is for the inner sh; check calls the helpers
# Self-test of run-lab's host side, without QEMU (about a minute; ctest lab/selftest/host_runner).
# A fake L1 plays the console of the real one, and the test checks what run-lab made of it:
#   1. an L1 that stops answering in the middle of a test (a wedge: no inner timeout fires) is killed
#      by the host's watchdog; that test is a FAIL whose log holds the console's tail; with no fresh L1
#      allowed (KVMHOST_LAB_MAX_REBOOTS=0) the tests after it are FAILs ("not run"); the tests before it
#      keep their results;
#   2. an L1 that dies during a test (a kernel panic with panic=-1 ends QEMU), every time: the test is
#      retried once in a fresh L1, then FAILs; the test after it runs in a third L1;
#   3. an L1 that never reaches its init makes every test a FAIL with the console's tail, and is not
#      booted again;
#   4. an L1 that wedges once during B of A,B,C: A keeps its PASS from the first L1, B passes on retry in a
#      fresh L1 (started at B with the budget that is left), C passes; exactly 2 boots;
#   5. an L1 that wedges during B every time: B FAILs after 2 attempts with both console tails; C passes;
#   6. a wedge with too little of the time budget left: no fresh L1; B and C FAIL with that reason;
#   7. wedges on A and B every time: at most 2 fresh L1s (3 boots), C FAILs "not run";
#   8. a wedge during a negative self-test: its FAIL (the evidence), not retried; the next test runs;
#   9. L1's heartbeat (LAB-ALIVE lines), with KVMHOST_LAB_HEARTBEAT_TIMEOUT=3: an L1 whose heartbeat and
#      all else stop in the middle of a test is killed within seconds (long before that test's deadline)
#      and the test passes on retry in a fresh L1; a test that is silent for longer than the heartbeat
#      timeout while heartbeats come is not disturbed; a heartbeat glued to the end of another writer's
#      unfinished line counts, and that line is put back together; heartbeats stay out of tests' logs and
#      console tails (not out of console.log);
#  10. an L1 that prints no heartbeat: no heartbeat watchdog (a silent test passes), only the old deadline;
#  11. L1's runner (lab-runner.sh) starts at lab.from=NAME, inside a PID namespace of its own (it ends
#      each test with kill -9 -1), and keeps its heartbeat's cadence across that kill -9 -1 (lab.heartbeat=1);
#      skipped where unshare cannot make one;
#  12. --stream: the selected tests' console lines (LAB-BEGIN to LAB-RESULT) on run-lab's output as they come,
#      without heartbeats, the glued line whole, a retry announced, progress lines per L1 boot; the results are
#      those of the same run without it, and without it no test line reaches run-lab's output.
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
boots_of() { cat "$tmp/$1.state/boots"; }
cmdline_of() { sed -n "${2}p" "$tmp/$1.state/cmdlines"; } # SCENARIO BOOT
budget_of() { cmdline_of "$1" "$2" | sed -n 's/.*lab\.budget=\([-0-9]*\).*/\1/p'; }
has() { grep -q -e "$2" "$1"; }    # FILE REGEX
lacks() { ! grep -q -e "$2" "$1"; } # FILE REGEX
in_order() { # FILE REGEX...: lines that match them, in that order
	local f=$1 re prev=0 at
	shift
	for re; do
		at=$(tail -n +$((prev + 1)) "$f" | grep -n -m1 -e "$re" | cut -d: -f1)
		[ -n "$at" ] || return 1
		prev=$((prev + at))
	done
}

# fake-l1 TESTS_LIST PIDFILE CMDLINE: plays L1's console as lab-runner.sh writes it, from lab.from= on.
# Each test's COMMAND says how it goes: true (PASS), false (FAIL), wedge (L1 goes silent for good),
# wedge-once (the same, only the first time), die (an L1 panic: QEMU ends), stuck ($FAKE_MODE: wedge or
# die), quiet (prints nothing for 5 s, then PASS), glued (a line written in two pieces with a heartbeat
# between them, as on a console with two writers; PASS), glued-wedge (the same, then wedge).
# FAKE_MODE=noboot: L1 panics before its init. FAKE_HB=S: a heartbeat every S seconds from a process of
# its own, as lab-runner.sh's, until L1 wedges or ends. $FAKE_STATE counts the boots and keeps the cmdlines.
cat >"$tmp/fake-l1" <<'EOF'
#!/bin/bash
echo $$ >"$2"
echo $$ >>"$FAKE_STATE/pids"
boot=$(($(cat "$FAKE_STATE/boots" 2>/dev/null || echo 0) + 1))
echo "$boot" >"$FAKE_STATE/boots"
echo "$3" >>"$FAKE_STATE/cmdlines"
echo "SeaBIOS (fake), boot $boot"
if [ "$FAKE_MODE" = noboot ]; then echo "Kernel panic - not syncing: fake early panic"; exit 0; fi
echo "KVMHOST-GUEST-INIT"
echo "LAB-L1-READY uptime=1.00 kernel=fake"
hb=
if [ -n "${FAKE_HB:-}" ]; then
	main=$$
	(
		i=0
		while sleep "$FAKE_HB" && kill -0 "$main" 2>/dev/null; do i=$((i + 1)); echo "LAB-ALIVE $i.00"; done
	) &
	hb=$!
	echo "$hb" >>"$FAKE_STATE/pids"
fi
stop_hb() { [ -z "$hb" ] || { kill "$hb"; wait "$hb"; }; }
from=
set -f
for a in $3; do case $a in lab.from=*) from=${a#lab.from=} ;; esac; done
rc=33
while read -r n tmo _ cmd; do
	if [ -n "$from" ]; then [ "$n" = "$from" ] || continue; from=; fi
	echo "LAB-BEGIN $n timeout=$tmo"
	echo "$n: output in L1 boot $boot"
	[ "$cmd" != stuck ] || cmd=$FAKE_MODE
	if [ "$cmd" = wedge-once ]; then
		if [ -e "$FAKE_STATE/wedged-${n//\//_}" ]; then cmd=true; else : >"$FAKE_STATE/wedged-${n//\//_}"; cmd=wedge; fi
	fi
	case $cmd in
	glued | glued-wedge)
		printf '%s' "$n: glued-part1 "
		printf 'LAB-ALIVE 99.00\n'
		printf '%s\n' "glued-part2"
		if [ "$cmd" = glued ]; then cmd=true; else cmd=wedge; fi ;;
	quiet) sleep 5; cmd=true ;;
	esac
	case $cmd in
	true) echo "LAB-END $n rc=0 time=0.01"; echo "LAB-RESULT PASS $n time=0.01s " ;;
	false) echo "$n: something broke"; echo "LAB-END $n rc=1 time=0.01"; echo "LAB-RESULT FAIL $n time=0.01s (exit status 1)"; rc=35 ;;
	wedge) echo "$n: last words before the wedge"; stop_hb; exec sleep 600 ;; # alive but silent, like a wedged L1
	die) echo "Kernel panic - not syncing: fake"; stop_hb; exit 0 ;;         # QEMU ends (L1 panic with -no-reboot)
	esac
done <"$1"
echo "LAB-SUMMARY (fake)"
echo "LAB-DONE status=$((rc == 33 ? 0 : 1))"
stop_hb
exit "$rc"
EOF
chmod +x "$tmp/fake-l1"

run_args=() # more run-lab options for the next run()s
run() { # SCENARIO FAKE_MODE TESTS_LIST WANT_RC [VAR=VALUE...]: run run-lab against the fake L1
	local name=$1 mode=$2 list=$3 want=$4 t0=$SECONDS rc=0 pid alive=
	shift 4
	mkdir -p "$tmp/$name.state"
	env FAKE_MODE="$mode" FAKE_STATE="$tmp/$name.state" KVMHOST_LAB_GRACE=1 KVMHOST_LAB_ONLY= \
		KVMHOST_LAB_TIMEOUT=600 KVMHOST_LAB_MAX_REBOOTS=2 KVMHOST_LAB_HEARTBEAT_TIMEOUT=3 FAKE_HB= "$@" \
		"$here/run-lab" "${run_args[@]}" --fake-l1 "$tmp/fake-l1" --tests "$list" --out "$tmp/$name" >"$tmp/$name.out" 2>&1 || rc=$?
	sed 's/^/    | /' "$tmp/$name.out"
	if [ "$want" = 0 ]; then
		check "$name: run-lab exits 0 (rc=$rc)" test "$rc" -eq 0
	else
		check "$name: run-lab exits non-zero (rc=$rc)" test "$rc" -ne 0
	fi
	check "$name: finished in $((SECONDS - t0))s (< 30s)" test $((SECONDS - t0)) -lt 30
	while read -r pid; do
		if kill -0 "$pid" 2>/dev/null; then alive+=" $pid"; kill -KILL "$pid"; fi
	done < <(cat "$tmp/$name.state/pids" 2>/dev/null)
	check "$name: every fake L1 is gone${alive:+ (left:$alive)}" test -z "$alive"
}

cat >"$tmp/tests.list" <<'EOF'
t/pass 5 pass true
t/fail 5 pass false
t/stuck 1 pass stuck
t/after 5 pass true
EOF

echo "== an L1 that wedges during t/stuck, no fresh L1 allowed"
run wedge wedge "$tmp/tests.list" 1 KVMHOST_LAB_MAX_REBOOTS=0
o=$tmp/wedge
check "wedge: t/pass kept PASS" test "$(status_of "$o" t/pass)" = PASS
check "wedge: t/fail kept FAIL" test "$(status_of "$o" t/fail)" = FAIL
check "wedge: t/stuck is FAIL" test "$(status_of "$o" t/stuck)" = FAIL
check "wedge: the reason names the watchdog" grep -q 'stopped responding during t/stuck' "$o/results.txt"
check "wedge: t/stuck's log has its last output" grep -q 'last words before the wedge' "$o/logs/t/stuck.log"
check "wedge: t/stuck's log has the console tail" grep -q 'last 40 lines of the L1 console' "$o/logs/t/stuck.log"
check "wedge: t/after is FAIL (not run)" grep -q $'^FAIL\tt/after\t.*not run' "$o/results.txt"
check "wedge: ... saying why no fresh L1" grep -q $'^FAIL\tt/after\t.*no fresh L1: .*KVMHOST_LAB_MAX_REBOOTS=0' "$o/results.txt"
check "wedge: one L1 boot" test "$(boots_of wedge)" -eq 1
check "wedge: the summary reports the wedge" has "$tmp/wedge.out" 'L1 WEDGE: L1 boot 1: L1 stopped responding during t/stuck'

echo "== an L1 that dies during t/stuck, every time"
run die die "$tmp/tests.list" 1
o=$tmp/die
check "die: t/stuck is FAIL" test "$(status_of "$o" t/stuck)" = FAIL
check "die: the reason says L1 ended during it" grep -q 'L1 ended during this test' "$o/results.txt"
check "die: t/stuck's log has the panic" grep -q 'Kernel panic - not syncing: fake' "$o/logs/t/stuck.log"
check "die: t/stuck was tried twice" test "$(grep -c '^---- retry of t/stuck in a fresh L1' "$o/logs/t/stuck.log")" -eq 1
check "die: t/after ran in a third L1 and passed" test "$(status_of "$o" t/after)" = PASS
check "die: three L1 boots" test "$(boots_of die)" -eq 3

echo "== an L1 that never reaches its init"
run noboot noboot "$tmp/tests.list" 1
o=$tmp/noboot
check "noboot: all four tests are FAIL" test "$(grep -c '^FAIL' "$o/results.txt")" -eq 4
check "noboot: the logs show the console tail" grep -q 'fake early panic' "$o/logs/t/pass.log"
check "noboot: L1 was not booted again" test "$(boots_of noboot)" -eq 1

cat >"$tmp/once.list" <<'EOF'
t/a 5 pass true
t/b 1 pass wedge-once
t/c 5 pass true
EOF
echo "== an L1 that wedges once, during t/b"
run once - "$tmp/once.list" 0
o=$tmp/once
check "once: t/a PASS" test "$(status_of "$o" t/a)" = PASS
check "once: ... from the first L1" has "$o/logs/t/a.log" 't/a: output in L1 boot 1'
check "once: t/b PASS" test "$(status_of "$o" t/b)" = PASS
check "once: ... on retry, and its reason says so" has "$o/results.txt" $'^PASS\tt/b\t.*passed on retry after an L1 wedge: L1 stopped responding during t/b'
check "once: t/b's log keeps the first attempt" has "$o/logs/t/b.log" 't/b: last words before the wedge'
check "once: ... and its console tail" has "$o/logs/t/b.log" 'L1 stopped responding during t/b.*retried once in a fresh L1; last 40 lines'
check "once: ... then the retry" has "$o/logs/t/b.log" '^---- retry of t/b in a fresh L1 (L1 boot 2)'
check "once: ... and its output" has "$o/logs/t/b.log" 't/b: output in L1 boot 2'
check "once: ... in that order" in_order "$o/logs/t/b.log" 'last words' 'last 40 lines' '^---- retry' 'output in L1 boot 2'
check "once: t/c PASS" test "$(status_of "$o" t/c)" = PASS
check "once: exactly 2 L1 boots" test "$(boots_of once)" -eq 2
check "once: the first L1 starts at the beginning" lacks <(cmdline_of once 1) 'lab\.from='
check "once: the fresh L1 starts at t/b" has <(cmdline_of once 2) ' lab\.from=t/b$'
b1=$(budget_of once 1) b2=$(budget_of once 2)
check "once: budgets: the first L1 $b1 s (600 - 60), the fresh one $b2 s (what is left)" \
	test "$b1" -eq 540 -a "$b2" -lt "$b1" -a "$b2" -ge 500
check "once: times.txt has one line per L1 boot" test "$(grep -c '^l1-boot n=' "$o/times.txt")" -eq 2
check "once: ... the second from t/b" has "$o/times.txt" '^l1-boot n=2 from=t/b at=[0-9.]* .*end=verdict'
check "once: the summary reports the wedge" has "$tmp/once.out" 'L1 WEDGE: L1 boot 1: L1 stopped responding during t/b (.*); t/b is retried and a fresh L1 (boot 2) goes on from t/b'
check "once: the summary counts the boots" has "$tmp/once.out" '^lab: 3 passed, 0 failed.*1 L1 wedge(s), 2 L1 boot(s)'
check "once: the console has both L1s" test "$(grep -c '^KVMHOST-GUEST-INIT' "$o/console.log")" -eq 2
check "once: ... and so has the timed console" in_order "$o/console-timed.log" ' | KVMHOST-GUEST-INIT' \
	'^==== run-lab: L1 boot 2 (a fresh L1 after a wedge), from t/b' ' | KVMHOST-GUEST-INIT'

sed 's/wedge-once/wedge/' "$tmp/once.list" >"$tmp/always.list"
echo "== an L1 that wedges during t/b every time"
run always - "$tmp/always.list" 1
o=$tmp/always
check "always: t/a PASS" test "$(status_of "$o" t/a)" = PASS
check "always: t/b FAIL" test "$(status_of "$o" t/b)" = FAIL
check "always: ... after two attempts" has "$o/results.txt" $'^FAIL\tt/b\t.*L1 wedged twice during this test'
check "always: ... with both console tails" test "$(grep -c 'last 40 lines of the L1 console' "$o/logs/t/b.log")" -eq 2
check "always: t/c still ran and passed" test "$(status_of "$o" t/c)" = PASS
check "always: 3 L1 boots, the third from t/c" has <(cmdline_of always 3) ' lab\.from=t/c$'
check "always: the summary has a line per wedge" test "$(grep -c 'run-lab: L1 WEDGE: L1 boot [0-9]' "$tmp/always.out")" -eq 2

echo "== a wedge with too little of the time budget left for a fresh L1"
run budget - "$tmp/once.list" 1 KVMHOST_LAB_TIMEOUT=100
o=$tmp/budget
check "budget: t/a PASS" test "$(status_of "$o" t/a)" = PASS
check "budget: t/b FAIL, not retried for the budget" has "$o/results.txt" $'^FAIL\tt/b\t.*stopped responding.*not retried: the lab.s time budget is used up'
check "budget: t/c FAIL not run, for the budget" has "$o/results.txt" $'^FAIL\tt/c\t.*not run: .*no fresh L1: the lab.s time budget is used up ([0-9]*s of KVMHOST_LAB_TIMEOUT=100s left; a fresh L1 needs [0-9]*s)'
check "budget: one L1 boot" test "$(boots_of budget)" -eq 1
check "budget: the summary says why" has "$tmp/budget.out" 'L1 WEDGE: L1 boot 1: .*no fresh L1: the lab.s time budget is used up'

cat >"$tmp/max.list" <<'EOF'
t/a 1 pass wedge
t/b 1 pass wedge
t/c 5 pass true
EOF
echo "== wedges on t/a and t/b every time: at most 2 fresh L1s"
run max - "$tmp/max.list" 1
o=$tmp/max
check "max: 3 L1 boots, no more" test "$(boots_of max)" -eq 3
check "max: t/a FAIL after two attempts" has "$o/results.txt" $'^FAIL\tt/a\t.*L1 wedged twice'
check "max: t/b FAIL, not retried" has "$o/results.txt" $'^FAIL\tt/b\t.*not retried: 3 L1 boot(s) already'
check "max: t/c FAIL not run" has "$o/results.txt" $'^FAIL\tt/c\t.*not run: L1 ended before it'

cat >"$tmp/neg.list" <<'EOF'
t/a 5 pass true
t/neg 1 fail:last.words.before wedge
t/c 5 pass true
EOF
echo "== a wedge during a negative self-test"
run neg - "$tmp/neg.list" 0
o=$tmp/neg
check "neg: t/neg FAIL (its expectation), by the watchdog" has "$o/results.txt" $'^FAIL\tt/neg\t.*stopped responding during t/neg'
check "neg: t/neg not retried" lacks "$o/logs/t/neg.log" '^---- retry of'
check "neg: t/c ran in a fresh L1 and passed" test "$(status_of "$o" t/c)" = PASS
check "neg: 2 L1 boots, the second from t/c" has <(cmdline_of neg 2) ' lab\.from=t/c$'
rc=0
"$here/run-lab" --fake-l1 /bin/false --tests "$tmp/neg.list" --out "$o" --check-fail t/neg >"$tmp/neg.check" 2>&1 || rc=$?
sed 's/^/    | /' "$tmp/neg.check"
check "neg: run-lab --check-fail t/neg accepts the evidence (rc=$rc)" test "$rc" -eq 0

cat >"$tmp/hb.list" <<'EOF'
t/a 5 pass true
t/quiet 20 pass quiet
t/glued 5 pass glued
t/b 100 pass wedge-once
t/c 5 pass true
EOF
echo "== heartbeats every 0.5 s; an L1 that wedges once, during t/b (its deadline: 151 s)"
run hb - "$tmp/hb.list" 0 FAKE_HB=0.5
o=$tmp/hb
check "hb: every test PASS" test "$(grep -c '^PASS' "$o/results.txt")" -eq 5
check "hb: t/quiet (silent 5 s > the heartbeat timeout) passed in the first L1" has "$o/logs/t/quiet.log" 't/quiet: output in L1 boot 1'
check "hb: ... not retried" lacks "$o/logs/t/quiet.log" '^---- retry of'
check "hb: the wedge was seen by the heartbeat watchdog" has "$tmp/hb.out" 'watchdog: L1 stopped responding: no heartbeat for 3 s during t/b (the last one at L1 uptime [0-9.]* s): killing QEMU'
hb_run=$(sed -n 's/^l1-boot n=1 .* run=\([0-9]*\)\.[0-9]* end=killed$/\1/p' "$o/times.txt")
check "hb: ... within seconds: the first L1 was killed ${hb_run:-?} s after its start (< 15 s)" test "${hb_run:-999}" -lt 15
check "hb: t/b passed on retry, and its reason says why" has "$o/results.txt" $'^PASS\tt/b\t.*passed on retry after an L1 wedge: L1 stopped responding: no heartbeat for 3 s during t/b'
check "hb: exactly 2 L1 boots, the second from t/b" has <(cmdline_of hb 2) ' lab\.from=t/b$'
check "hb: the console keeps the heartbeats" test "$(grep -c '^LAB-ALIVE [0-9.]*$' "$o/console.log")" -ge 6
check "hb: ... and the glued one as it came" has "$o/console.log" '^t/glued: glued-part1 LAB-ALIVE 99.00$'
check "hb: no test log has a heartbeat" lacks <(cat "$o"/logs/t/*.log) 'LAB-ALIVE'
check "hb: t/glued's log has its line put back together" has "$o/logs/t/glued.log" '^t/glued: glued-part1 glued-part2$'
check "hb: t/b's log has the console tail" has "$o/logs/t/b.log" 'no heartbeat for 3 s during t/b.*last 40 lines'
check "hb: ... with t/b's last words" in_order "$o/logs/t/b.log" 'last 40 lines' 't/b: last words before the wedge' '^---- retry'

echo "== the same with --stream"
run_args=(--stream)
run stream - "$tmp/hb.list" 0 FAKE_HB=0.5
run_args=()
o=$tmp/stream
check "stream: the results are those of the run without --stream" cmp <(cut -f1,2 "$tmp/hb/results.txt") <(cut -f1,2 "$o/results.txt")
check "stream: each test's lines are on run-lab's output, in order" in_order "$tmp/stream.out" '^LAB-BEGIN t/a ' \
	'^t/a: output in L1 boot 1$' '^LAB-RESULT PASS t/a ' '^LAB-BEGIN t/quiet ' '^LAB-RESULT PASS t/quiet '
check "stream: ... without heartbeats" lacks "$tmp/stream.out" 'LAB-ALIVE'
check "stream: ... the glued line whole" has "$tmp/stream.out" '^t/glued: glued-part1 glued-part2$'
check "stream: ... nothing of L1's own console" lacks "$tmp/stream.out" 'SeaBIOS\|KVMHOST-GUEST-INIT\|LAB-SUMMARY'
check "stream: the wedged attempt, the retry announced, the retry" in_order "$tmp/stream.out" \
	'^t/b: last words before the wedge$' 'run-lab: retrying t/b in a fresh L1 (L1 boot 2)' '^t/b: output in L1 boot 2$' \
	'^LAB-RESULT PASS t/b '
check "stream: a progress line per L1 boot" test "$(grep -c '^run-lab: booting L1 ' "$tmp/stream.out")" -eq 2
check "stream: ... and when its runner starts" test "$(grep -c '^run-lab: L1 is up after [0-9.]* s (fake)' "$tmp/stream.out")" -eq 2
check "stream: without --stream no test line reaches run-lab's output" lacks "$tmp/hb.out" '^t/a: output\|^LAB-BEGIN\|^run-lab: booting L1'

cat >"$tmp/nohb.list" <<'EOF'
t/quiet 20 pass quiet
t/b 1 pass wedge
EOF
echo "== an L1 without heartbeats: no heartbeat watchdog, only the deadline"
run nohb - "$tmp/nohb.list" 1 KVMHOST_LAB_MAX_REBOOTS=0
o=$tmp/nohb
check "nohb: t/quiet (silent 5 s > the heartbeat timeout) PASS" test "$(status_of "$o" t/quiet)" = PASS
check "nohb: t/b FAIL by the deadline" has "$o/results.txt" $'^FAIL\tt/b\t.*L1 stopped responding during t/b (no result within its timeout + grace)'
check "nohb: nothing about heartbeats" lacks "$tmp/nohb.out" 'heartbeat'
check "nohb: one L1 boot" test "$(boots_of nohb)" -eq 1

cat >"$tmp/glued.list" <<'EOF'
t/g 100 pass glued-wedge
EOF
echo "== an L1 whose only heartbeat is glued to another line, then wedges"
run glued - "$tmp/glued.list" 1 KVMHOST_LAB_MAX_REBOOTS=0
o=$tmp/glued
check "glued: the glued heartbeat armed the watchdog" has "$o/results.txt" $'^FAIL\tt/g\t.*no heartbeat for 3 s during t/g (the last one at L1 uptime 99.00 s)'
check "glued: t/g's log has its line put back together" has "$o/logs/t/g.log" '^t/g: glued-part1 glued-part2$'
check "glued: ... and its console tail too" has <(sed -n '/last 40 lines/,$p' "$o/logs/t/g.log") '^t/g: glued-part1 $'

echo "== L1's runner starts at lab.from= (lab-runner.sh, in a PID namespace)"
mkdir -p "$tmp/labdir/bin"
cat >"$tmp/labdir/tests.list" <<'EOF'
x/one 5 pass echo x/one-ran
x/two 5 pass echo x/two-ran
x/three 5 pass echo x/three-ran
EOF
runner() { # CMDLINE: lab-runner.sh as L1's init would run it; only where it is PID 1 of a new namespace
	LAB_DIR=$tmp/labdir LAB_CMDLINE=$1 unshare -r -p -f --mount-proc \
		sh -c '[ "$$" = 1 ] || exit 99; exec sh "$0"' "$here/l1/lab-runner.sh" 2>&1
}
if unshare -r -p -f --mount-proc sh -c '[ "$$" = 1 ]' 2>/dev/null; then
	runner "quiet lab.from=x/two" >"$tmp/runner1.out" || true
	sed 's/^/    | /' "$tmp/runner1.out"
	check "runner: lab.from=x/two leaves x/one out" lacks "$tmp/runner1.out" 'x/one'
	check "runner: ... runs x/two and x/three" test "$(grep -c '^LAB-RESULT PASS x/t' "$tmp/runner1.out")" -eq 2
	check "runner: ... and ends cleanly" has "$tmp/runner1.out" '^LAB-DONE status=0'
	runner "lab.only=x/one,x/three lab.from=x/two" >"$tmp/runner2.out" || true
	check "runner: lab.from with lab.only runs only x/three" \
		test "$(grep '^LAB-RESULT' "$tmp/runner2.out" | cut -d' ' -f2,3 | tr '\n' ' ')" = "PASS x/three "
	runner "lab.from=x/none" >"$tmp/runner3.out" || true
	check "runner: a lab.from that names no test is an error" has "$tmp/runner3.out" '^LAB-ERROR lab.from=x/none names no test'
	check "runner: ... and fails the run" has "$tmp/runner3.out" '^LAB-DONE status=1'
	check "runner: a heartbeat at its start (lab.heartbeat= 10 by default)" has "$tmp/runner1.out" '^LAB-ALIVE [0-9]*\.[0-9][0-9]$'

	# The heartbeat, every second: during a quiet test, and across a row of short tests, each ending with
	# kill -9 -1 (which kills the heartbeat's loop too).
	mv "$tmp/labdir/tests.list" "$tmp/labdir/tests.list.from"
	{
		echo "y/quiet 10 pass sleep 3.2"
		for i in 1 2 3 4 5 6 7 8; do echo "y/short$i 5 pass sleep 0.4"; done
	} >"$tmp/labdir/tests.list"
	runner "lab.heartbeat=1" >"$tmp/runner4.out" || true
	sed 's/^/    | /' "$tmp/runner4.out"
	check "runner: heartbeats are lines LAB-ALIVE <uptime> of their own" \
		test "$(grep -c 'LAB-ALIVE' "$tmp/runner4.out")" -eq "$(grep -c '^LAB-ALIVE [0-9]*\.[0-9][0-9]$' "$tmp/runner4.out")"
	check "runner: 3+ heartbeats during a quiet test of 3.2 s" \
		test "$(sed -n '/^LAB-BEGIN y\/quiet/,/^LAB-END y\/quiet/p' "$tmp/runner4.out" | grep -c '^LAB-ALIVE')" -ge 3
	gaps=$(awk '/^LAB-ALIVE / { if (n++) printf "%.2f ", $2 - last; last = $2 }' "$tmp/runner4.out")
	check "runner: ... and every 1-2 s across the short tests (gaps: $gaps)" \
		awk -v g="$gaps" 'BEGIN { n = split(g, a, " "); if (n < 5) exit 1; for (i = 1; i <= n; i++) if (a[i] < 0.9 || a[i] > 2.5) exit 1 }'
	check "runner: ... and the tests pass" test "$(grep -c '^LAB-RESULT PASS y/' "$tmp/runner4.out")" -eq 9
	mv "$tmp/labdir/tests.list.from" "$tmp/labdir/tests.list"
else
	echo "skip: runner checks (unshare cannot make a PID namespace here)"
fi

if [ "$bad" -eq 0 ]; then echo "selftest-host: all checks passed"; else echo "selftest-host: FAILED"; fi
exit "$bad"
