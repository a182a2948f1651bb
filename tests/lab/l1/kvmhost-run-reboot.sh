#!/bin/sh
# Inside L1: kvmhost-run --reboot (a guest reset reboots the VM in place) with the L2 Linux guest, booted twice:
#   - boot 1: the guest test "console" runs one command sent on the serial console (a marker), then the guest's
#     `reboot -f` (kvmhost.exit=reboot): kvmhost-run must not end (--reboot), it reboots the machine in place;
#   - boot 2: the same guest again (the same command line: kvmhost.exit=reboot); the command sent this time
#     reports what the kernel found (its log's "Booted with LPIs enabled", the GICv3 ITS's warning about a
#     redistributor left on by a previous kernel, and /proc/sys/kernel/tainted), then powers off: status 0.
# What it proves: the reboot is in place (two inits, one kvmhost-run, status 0 after boot 2's power-off), and the
# second kernel gets a vGIC in its power-on state (lib/arch/arm64/gic_state.c; without the vGIC reset, the
# first kernel's GICR_CTLR.EnableLPIs is still set and Linux warns and taints itself). On x86 the same script
# checks the reboot in place only (no LPI line is expected either way).
#
# Usage: kvmhost-run-reboot.sh KERNEL CPUS MEM_MIB [TIMEOUT]
#   KERNEL   Image (arm64), bzImage or vmlinux (x86), from /lab/l2
#   TIMEOUT  seconds before the VMM is killed (default 240)
# The L2 console is streamed with an "L2| " prefix; times (L1 clock, VMM start = 0) go to a LAB-TIME line.
kernel=$1 cpus=$2 mem=$3 tmo=${4:-240}
log=/tmp/run-reboot.log
rm -f "$log" /tmp/run.rc /tmp/run.pid /tmp/run.in /tmp/run.boots
mkfifo /tmp/run.in
exec 3<>/tmp/run.in # kvmhost-run's stdin: held open here, so it never sees end of file
cr=$(printf '\r')
cmdline="console=ttyS0 panic=0 quiet kvmhost.test=console kvmhost.exit=reboot"
echo "kvmhost-run-reboot: kvmhost-run --reboot --kernel $kernel --cpus $cpus --mem ${mem}M --cmdline \"$cmdline\""

read -r t0 _ </proc/uptime
{
	timeout -s KILL "$tmo" kvmhost-run-static --reboot --kernel "/lab/l2/$kernel" --initrd /lab/l2/initramfs.cpio.gz \
		--cpus "$cpus" --mem "${mem}M" --cmdline "$cmdline" <&3 2>&1 &
	echo $! >/tmp/run.pid
	wait $!
	echo $? >/tmp/run.rc
} | while IFS= read -r line; do
	line=${line%"$cr"}
	echo "L2| $line"
	echo "$line" >>"$log"
	case $line in
	*KVMHOST-CONSOLE-READY*)
		echo x >>/tmp/run.boots
		if [ "$(wc -l </tmp/run.boots)" -eq 1 ]; then
			# shellcheck disable=SC2016 # expanded by the guest's shell: its output differs from the tty's echo
			echo 'echo KVMHOST-REBOOT-BOOT$((0 + 1))' >&3 # then the guest's reboot -f
		else
			# shellcheck disable=SC2016 # expanded by the guest's shell
			echo 'echo KVMHOST-REBOOT-BOOT$((1 + 1)) lpis=$(dmesg | grep -c "Booted with LPIs enabled") taint=$(cat /proc/sys/kernel/tainted); poweroff -f' >&3
		fi ;;
	*"end Kernel panic"*)
		echo "kvmhost-run-reboot: the guest kernel panicked: stopping the VMM"
		kill -9 "$(cat /tmp/run.pid)" ;;
	esac
done
read -r t1 _ </proc/uptime
exec 3>&-
rc=$(cat /tmp/run.rc 2>/dev/null || echo '?')
total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
inits=$(grep -c KVMHOST-GUEST-INIT "$log" 2>/dev/null || echo 0)
echo "LAB-TIME kvmhost-run-reboot kernel=$kernel cpus=$cpus mem=${mem}M inits=$inits total=$total rc=$rc"

lpis='' taint=''
for w in $(grep -m1 KVMHOST-REBOOT-BOOT2 "$log" 2>/dev/null); do # the output: the tty's echo has "$((1 + 1))"
	case $w in lpis=*) lpis=${w#lpis=} ;; taint=*) taint=${w#taint=} ;; esac
done
fails=0
# shellcheck disable=SC2016 # conditions are evaluated by check()
check() { # WHAT CONDITION
	if eval "$2"; then echo "kvmhost-run-reboot: ok: $1"; else echo "kvmhost-run-reboot: FAIL: $1"; fails=$((fails + 1)); fi
}
check "boot 1 ran its console command" 'grep -q KVMHOST-REBOOT-BOOT1 "$log"'
check "the guest reached its init twice in one kvmhost-run ($inits)" '[ "$inits" = 2 ]'
check "boot 2 ran its console command" 'grep -q KVMHOST-REBOOT-BOOT2 "$log"'
check "boot 2's kernel found no LPIs left enabled (${lpis:-?} \"Booted with LPIs enabled\")" '[ "$lpis" = 0 ]'
check "boot 2's kernel is not tainted (${taint:-?})" '[ "$taint" = 0 ]'
check "boot 2's poweroff ended kvmhost-run with status $rc, want 0" '[ "$rc" = 0 ]'
if [ "$fails" -ne 0 ]; then
	echo "kvmhost-run-reboot: $fails checks failed; L2 console tail:"
	tail -n 40 "$log" 2>/dev/null | sed 's/^/  | /'
	exit 1
fi
