#!/bin/sh
# Inside L1: boot the L2 Linux guest with the project's own VMM, examples/kvmhost-run (kvmhost-run-static), on
# L1's /dev/kvm, and check what that VMM promises:
#   - the guest reaches its init and runs the guest test "console" (tests/lab/l2/console.sh);
#   - it sees the CPUs (--cpus) and about the memory (--mem) it was given: /proc/cpuinfo, MemTotal;
#   - a command written to the serial console (kvmhost-run's stdin) runs and its output comes back;
#   - the guest's `reboot -f` / `poweroff -f` end kvmhost-run with status 4 / 0 (its exit-status contract).
#
# Usage: kvmhost-run-boot.sh KERNEL CPUS MEM_MIB poweroff|reboot [TIMEOUT]
#   KERNEL   bzImage (the 64-bit Linux boot protocol) or vmlinux (the ELF kernel, PVH entry), from /lab/l2
#   TIMEOUT  seconds before the VMM is killed (default 150)
# The L2 console is streamed with an "L2| " prefix; times (L1 clock, VMM start = 0) go to a LAB-TIME line.
kernel=$1 cpus=$2 mem=$3 how=$4 tmo=${5:-150}
case $how in
poweroff) want=0 ;;
reboot) want=4 ;;
*) echo "usage: $0 bzImage|vmlinux CPUS MEM_MIB poweroff|reboot [TIMEOUT]"; exit 2 ;;
esac
log=/tmp/run-boot.log
rm -f "$log" /tmp/run.rc /tmp/run.pid /tmp/run.init /tmp/run.in
mkfifo /tmp/run.in
exec 3<>/tmp/run.in # kvmhost-run's stdin: held open here, so it never sees end of file
cr=$(printf '\r')
cmdline="console=ttyS0 panic=0 quiet kvmhost.test=console kvmhost.exit=$how"
echo "kvmhost-run-boot: kvmhost-run --kernel $kernel --cpus $cpus --mem ${mem}M --cmdline \"$cmdline\""

read -r t0 _ </proc/uptime
{
	timeout -s KILL "$tmo" kvmhost-run-static --kernel "/lab/l2/$kernel" --initrd /lab/l2/initramfs.cpio.gz \
		--cpus "$cpus" --mem "${mem}M" --cmdline "$cmdline" <&3 2>&1 &
	echo $! >/tmp/run.pid
	wait $!
	echo $? >/tmp/run.rc
} | while IFS= read -r line; do
	line=${line%"$cr"}
	echo "L2| $line"
	echo "$line" >>"$log"
	case $line in
	*KVMHOST-GUEST-INIT*) [ -e /tmp/run.init ] || { read -r t _ </proc/uptime; echo "$t" >/tmp/run.init; } ;;
	*KVMHOST-CONSOLE-READY*) echo "echo KVMHOST-ECHO-\$((6 * 7))" >&3 ;; # the guest expands it: its output says 42
	*"end Kernel panic"*)
		echo "kvmhost-run-boot: the guest kernel panicked: stopping the VMM"
		kill -9 "$(cat /tmp/run.pid)" ;;
	esac
done
read -r t1 _ </proc/uptime
exec 3>&-
rc=$(cat /tmp/run.rc 2>/dev/null || echo '?')
since() { awk -v a="$t0" -v b="$1" 'BEGIN { printf "%.2f", b - a }'; }
to_init=never
[ -e /tmp/run.init ] && to_init=$(since "$(cat /tmp/run.init)")
echo "LAB-TIME kvmhost-run kernel=$kernel cpus=$cpus mem=${mem}M exit=$how to_init=$to_init total=$(since "$t1") rc=$rc"

mem_kb='' seen_cpus=''
for w in $(grep -m1 KVMHOST-SYSINFO "$log" 2>/dev/null); do
	case $w in mem_kb=*) mem_kb=${w#mem_kb=} ;; cpus=*) seen_cpus=${w#cpus=} ;; esac
done
fails=0
# shellcheck disable=SC2016 # conditions are evaluated by check()
check() { # WHAT CONDITION
	if eval "$2"; then echo "kvmhost-run-boot: ok: $1"; else echo "kvmhost-run-boot: FAIL: $1"; fails=$((fails + 1)); fi
}
check "the guest reached its init (${to_init}s)" '[ "$to_init" != never ]'
check "the guest saw ${seen_cpus:-no} CPUs, want $cpus" '[ "$seen_cpus" = "$cpus" ]'
# MemTotal is the RAM minus what the kernel keeps for itself (its image, page structures): within 25% below.
check "MemTotal ${mem_kb:-?} kB for --mem ${mem}M ($((mem * 1024)) kB)" \
	'[ -n "$mem_kb" ] && [ "$mem_kb" -le $((mem * 1024)) ] && [ "$mem_kb" -ge $((mem * 1024 * 3 / 4)) ]'
check "a command sent on the serial console ran and its output came back" 'grep -q KVMHOST-ECHO-42 "$log"'
check "the guest test passed" 'grep -q "KVMHOST-GUEST-RESULT test=console rc=0" "$log"'
check "the guest's $how ended kvmhost-run with status $rc, want $want" '[ "$rc" = "$want" ]'
if [ "$fails" -ne 0 ]; then
	echo "kvmhost-run-boot: $fails checks failed; L2 console tail:"
	tail -n 30 "$log" 2>/dev/null | sed 's/^/  | /'
	exit 1
fi
