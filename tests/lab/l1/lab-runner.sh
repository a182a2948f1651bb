#!/bin/sh
# shellcheck disable=SC1007 # "a= b=" is meant: several empty variables on one line
# The lab runner inside L1 (busybox sh). kvmhost-mkguest's /init has already mounted /proc, /sys, /dev
# and loaded the kvm modules; it runs this script as the guest's test "lab" and turns its exit status
# into the outer QEMU's exit status through isa-debug-exit.
#
# It runs every test of /lab/tests.list (written by tests/lab/run-lab) that the kernel command line
# option lab.only=PATTERN[,PATTERN...] selects (shell patterns, default: all), one after the other,
# starting at the test named by lab.from=NAME if there is one (the tests before it in /lab/tests.list are
# left out: the host boots a fresh L1 with it after an L1 wedge, to go on where the wedged L1 stopped):
#   LAB-BEGIN <name> timeout=<s>      then the test's output (stdout and stderr) as it comes
#   LAB-END <name> rc=<exit status> time=<s>
#   LAB-RESULT PASS|FAIL|SKIP <name> time=<s> [reason]
# and finally "LAB-SUMMARY ..." and "LAB-DONE status=<0|1>". The host side reads these lines off the
# serial console. Times are measured inside L1 (/proc/uptime), never inside L2, whose clock drifts.
#
# Heartbeat: from its start to its end the runner keeps a background loop that prints
#   LAB-ALIVE <L1 uptime>
# every 10 s of L1 time (lab.heartbeat=S changes it, 0 turns it off), one write(2) per line, so that the
# host can tell an L1 that stopped running (lost its timer interrupt and halted for good: docs/lab.md)
# from a test that is merely quiet, within a minute instead of at the test's deadline. The "kill -9 -1"
# after each test kills the loop too; it is started again at once and keeps its cadence (the time of the
# last beat is in $lab/.heartbeat), so that a row of short tests does not starve it.
#
# Classification: exit 0 is PASS. Exit 77 (skip) is a SKIP only when /lab/skips.list declares why the
# test may skip here (this is a real, upstream KVM: a kvm-tier test has no PVM quirk to skip for);
# otherwise it is a FAIL. Anything else, a signal, or the per-test timeout (busybox timeout -s KILL)
# is a FAIL. Tests whose expectation is "fail:..." are negative self-tests: their FAIL is expected.
# The run as a whole passes when every test met its expectation.

# LAB_DIR and LAB_CMDLINE stand in for /lab and /proc/cmdline only in run-lab's self-test on the host
# (selftest-host.sh, inside a PID namespace of its own: see "kill -9 -1" below).
lab=${LAB_DIR:-/lab}
cd "$lab" || exit 1
export PATH="$lab/bin:/bin:/sbin:/usr/bin"

uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

only= budget= from= heartbeat=10
for arg in ${LAB_CMDLINE:-$(cat /proc/cmdline)}; do
	case $arg in
	lab.only=*) only=${arg#lab.only=} ;;
	lab.budget=*) budget=${arg#lab.budget=} ;;
	lab.from=*) from=${arg#lab.from=} ;;
	lab.heartbeat=*) heartbeat=${arg#lab.heartbeat=} ;;
	esac
done
# lab.budget: the L1 uptime by which the run must be over (the host kills QEMU a little later). Each
# test's timeout is cut to what is left, and a test that would start with under 15 s left is not
# started: the run ends with clean results instead of being killed in the middle.
remaining() { awk -v b="$budget" -v u="$(uptime_s)" 'BEGIN { printf "%d", b - u }'; }

selected() { # NAME: is it chosen by lab.only?
	[ -z "$only" ] && return 0
	set -f
	for pat in $(echo "$only" | tr ',' ' '); do
		# shellcheck disable=SC2254 # the pattern is meant to match as a pattern
		case $1 in $pat) set +f; return 0 ;; esac
	done
	set +f
	return 1
}

skip_reason() { # NAME: the declared reason why NAME may skip in the lab, if any
	[ -r "$lab/skips.list" ] || return 1
	awk -v n="$1" '$1 == n { $1 = ""; sub(/^ +/, ""); print; found = 1 } END { exit !found }' "$lab/skips.list"
}

# The heartbeat (see the top). A loop of its own, niced -5 where that is allowed, so that CPU-heavy tests
# (an L2 boot under emulation) do not delay it; "echo" is one write(2) of the whole short line, so that it
# is never cut by another writer's line on the console (it can follow another writer's unfinished line on
# the same console line: the host takes "...LAB-ALIVE <uptime>" at a line's end for a beat too). A beat is
# due $heartbeat s after the last one; a loop started again after "kill -9 -1" beats at once if it is due.
heartbeat_start() {
	case $heartbeat in '' | *[!0-9]* | 0) return 0 ;; esac
	sh -c '
		renice -n -5 -p $$ >/dev/null 2>&1
		while :; do
			read -r up _ </proc/uptime # N.NN seconds
			cs=${up%.*}${up#*.}
			last=
			[ -r "$2" ] && read -r last <"$2"
			case $last in "" | *[!0-9]*) last=-100000000 ;; esac # none yet, or cut by a kill
			wait=$(($1 * 100 - cs + last)) # centiseconds until the next beat is due
			if [ "$wait" -le 0 ]; then
				echo "LAB-ALIVE $up"
				echo "$cs" >"$2"
				wait=$(($1 * 100))
			fi
			sleep $(((wait + 99) / 100))
		done' lab-heartbeat "$heartbeat" "$lab/.heartbeat" </dev/null 2>/dev/null &
}

signame() {
	case $1 in
	4) echo SIGILL ;; 6) echo SIGABRT ;; 7) echo SIGBUS ;; 8) echo SIGFPE ;; 9) echo SIGKILL ;;
	11) echo SIGSEGV ;; 15) echo SIGTERM ;; *) echo "signal $1" ;;
	esac
}

echo "LAB-L1-READY uptime=$(uptime_s) kernel=$(uname -r)"
if [ ! -c /dev/kvm ]; then
	# Without /dev/kvm every test would fail for the same reason: say it once, clearly.
	echo "LAB-ERROR /dev/kvm is missing in L1: kvm_amd did not load (is SVM exposed by the outer QEMU?)"
	grep -m1 -o -w svm /proc/cpuinfo || echo "LAB-ERROR the L1 CPU has no svm flag"
	lsmod
fi
rm -f "$lab/.heartbeat"
heartbeat_start

pass=0 fail=0 skip=0 xfail=0 unexpected=0
[ -z "$from" ] || echo "LAB-FROM $from (a fresh L1: the tests before it ran in an earlier one)"
while read -r name tmo expect cmd; do
	case $name in '' | '#'*) continue ;; esac
	if [ -n "$from" ]; then
		[ "$name" = "$from" ] || continue
		from=
	fi
	selected "$name" || continue

	if [ -n "$budget" ]; then
		left=$(remaining)
		if [ "$left" -lt 15 ]; then
			echo "LAB-BEGIN $name timeout=0"
			echo "LAB-RESULT FAIL $name time=0s (not run: the lab's time budget is used up; see KVMHOST_LAB_TIMEOUT)"
			fail=$((fail + 1)) unexpected=$((unexpected + 1))
			continue
		fi
		[ "$tmo" -le "$left" ] || tmo=$left
	fi
	echo "LAB-BEGIN $name timeout=$tmo"
	t0=$(uptime_s)
	# The test runs in its own shell; timeout kills that shell, and the clean-up below kills whatever it
	# started (an inner QEMU), so that a test cannot leak into the next one.
	timeout -s KILL "$tmo" sh -c "$cmd" </dev/null 2>&1
	rc=$?
	t1=$(uptime_s)
	# kill -1 reaches every process but init and this shell (the heartbeat too: started again at once).
	kill -9 -1 2>/dev/null
	heartbeat_start
	dt=$(elapsed "$t0" "$t1")
	echo "LAB-END $name rc=$rc time=$dt"

	reason=
	if [ "$rc" -eq 0 ]; then
		status=PASS
	elif [ "$rc" -eq 77 ]; then
		if reason=$(skip_reason "$name"); then
			status=SKIP reason="(declared skip: $reason)"
		else
			status=FAIL reason="(exited 77 = skip, but tests/lab/lab-skips.txt declares no reason to skip it in the lab)"
		fi
	elif [ "$rc" -eq 137 ] && awk -v d="$dt" -v t="$tmo" 'BEGIN { exit !(d >= t - 1) }'; then
		status=FAIL reason="(timed out after ${tmo}s, killed)"
	elif [ "$rc" -gt 128 ]; then
		status=FAIL reason="(killed by signal $((rc - 128)) $(signame $((rc - 128))))"
	else
		status=FAIL reason="(exit status $rc)"
	fi
	echo "LAB-RESULT $status $name time=${dt}s $reason"

	case $expect:$status in
	pass:PASS) pass=$((pass + 1)) ;;
	pass:SKIP) skip=$((skip + 1)) ;;
	pass:FAIL) fail=$((fail + 1)) unexpected=$((unexpected + 1)) ;;
	fail*:FAIL) xfail=$((xfail + 1)) ;;
	*) fail=$((fail + 1)) unexpected=$((unexpected + 1)); echo "LAB-NOTE $name was expected to fail" ;;
	esac
done <"$lab/tests.list"

if [ -n "$from" ]; then
	echo "LAB-ERROR lab.from=$from names no test of $lab/tests.list: nothing was run"
	unexpected=$((unexpected + 1))
fi
echo "LAB-SUMMARY pass=$pass fail=$fail skip=$skip expected-fail=$xfail uptime=$(uptime_s)"
if [ "$unexpected" -eq 0 ]; then status=0; else status=1; fi
echo "LAB-DONE status=$status"
exit $status
