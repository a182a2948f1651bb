#!/bin/sh
# Inside L1: boot time of examples/kvmhost-run against QEMU -M microvm, side by side in one L1, on the same
# kernel (the ELF vmlinux, PVH entry), initramfs, command line, memory (MEM_MIB, default 128 like the lab's
# baseline l2/microvm_boot) and 1 vCPU. Each VMM's start is time zero (L1's /proc/uptime, read just before
# the VMM is started; the console is read line by line as it comes):
#   init   the guest init of kvmhost-mkguest: the time to its marker KVMHOST-GUEST-INIT (printed before it
#          loads any module), and to the VMM's exit after the init has loaded its modules and powered off;
#   off    an init that powers off at once (rdinit=/bin/poweroff -- -f): the time to the VMM's exit.
# Also, from the first kernel message (its printk time subtracted from its arrival): how long the VMM took
# before the guest kernel's clock started (VMM start-up, image loading, firmware).
# Up to ROUNDS rounds (default 3), the two VMMs alternating who goes first; a new round starts only while the
# BUDGET (seconds, default 300) leaves room for one more as long as the last one took (QEMU's boot time in
# the lab varies several-fold with the host's load). Medians are printed as a table and as LAB-TIME lines.
# The test fails only when no round completed, or a boot did not reach its marker or its VMM did not exit
# with status 0: the figures are reported, not judged (emulated time is noisy).
#
# In the arm64 lab (uname -m: aarch64; docs/arm64.md) the kernel is the raw Image and QEMU is qemu-system-aarch64
# -M virt,gic-version=3 (copied into L1 by run-lab's arm64_qemu): its console is the PL011 (console=ttyAMA0), the
# arm64 machine's of kvmhost-run the ns16550a (console=ttyS0); the rest of the command line is the same.
#
# Usage: boot-bench.sh [ROUNDS] [BUDGET] [TIMEOUT_PER_BOOT] [MEM_MIB]
rounds=${1:-3} budget=${2:-300} tmo=${3:-100} mem=${4:-128}
# Stay inside the lab's own time budget too (lab.budget= on L1's command line: the L1 uptime to end by).
for a in $(cat /proc/cmdline); do case $a in lab.budget=*) lab_end=${a#lab.budget=} ;; esac; done
if [ -n "${lab_end:-}" ]; then
	read -r up _ </proc/uptime
	budget=$(awk -v b="$budget" -v e="$lab_end" -v u="$up" 'BEGIN { l = int(e - u - 40); print (l < b ? l : b) }')
fi
base="panic=0 quiet"
if [ "$(uname -m)" = aarch64 ]; then
	kernel=/lab/l2/Image qemu_name="qemu virt" qemu_console=ttyAMA0 what=Image
else
	kernel=/lab/l2/vmlinux qemu_name="qemu microvm" qemu_console=ttyS0 what="vmlinux by PVH"
fi
cr=$(printf '\r')
fails=0
rm -f /tmp/bench.times

boot() { # VMM SCENARIO ROUND: one boot; appends "VMM SCENARIO to_init total pre_kernel" to /tmp/bench.times
	vmm=$1 scen=$2 round=$3
	if [ "$vmm" = qemu ]; then con=$qemu_console; else con=ttyS0; fi
	if [ "$scen" = init ]; then append="console=$con $base kvmhost.test=ready"
	else append="console=$con $base rdinit=/bin/poweroff -- -f"; fi
	if [ "$vmm" = qemu ] && [ "$kernel" = /lab/l2/Image ]; then
		set -- qemu-system-aarch64 -M virt,gic-version=3 -enable-kvm -cpu host -m "$mem" -smp 1 -display none \
			-no-reboot -nodefaults -serial stdio -kernel "$kernel" -initrd /lab/l2/initramfs.cpio.gz -append "$append"
	elif [ "$vmm" = qemu ]; then
		set -- qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m "$mem" -smp 1 -nographic -no-reboot \
			-nodefaults -serial stdio -kernel "$kernel" -initrd /lab/l2/initramfs.cpio.gz -append "$append"
	else
		set -- kvmhost-run-static --kernel "$kernel" --initrd /lab/l2/initramfs.cpio.gz --mem "${mem}M" --cpus 1 \
			--cmdline "$append"
	fi
	rm -f /tmp/bench.rc /tmp/bench.init /tmp/bench.log /tmp/bench.kernel
	read -r t0 _ </proc/uptime
	{
		timeout -s KILL "$tmo" "$@" </dev/null 2>&1
		echo $? >/tmp/bench.rc
	} | while IFS= read -r line; do
		case $line in
		*KVMHOST-GUEST-INIT*) [ -e /tmp/bench.init ] || { read -r t _ </proc/uptime; echo "$t" >/tmp/bench.init; } ;;
		\[*\]*) [ -e /tmp/bench.kernel ] || { read -r t _ </proc/uptime; g=${line#[}; echo "$t ${g%%]*}" >/tmp/bench.kernel; } ;;
		esac
		echo "${line%"$cr"}" >>/tmp/bench.log
	done
	read -r t1 _ </proc/uptime
	rc=$(cat /tmp/bench.rc 2>/dev/null || echo '?')
	total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	to_init=-
	[ -e /tmp/bench.init ] && to_init=$(awk -v a="$t0" -v b="$(cat /tmp/bench.init)" 'BEGIN { printf "%.2f", b - a }')
	pre=-
	[ -e /tmp/bench.kernel ] && pre=$(awk -v a="$t0" '{ printf "%.2f", $1 - a - $2 }' /tmp/bench.kernel)
	echo "boot-bench: round $round $vmm $scen: to_init=$to_init total=$total before_kernel=$pre status=$rc"
	echo "$vmm $scen $to_init $total $pre" >>/tmp/bench.times
	if [ "$rc" != 0 ] || { [ "$scen" = init ] && [ "$to_init" = - ]; }; then
		echo "boot-bench: FAIL: $vmm did not boot and power off cleanly; its console tail:"
		tail -n 20 /tmp/bench.log | sed 's/^/  | /'
		fails=$((fails + 1))
	fi
}

read -r start _ </proc/uptime
r=1 last=0
while [ "$r" -le "$rounds" ]; do
	read -r now _ </proc/uptime
	if [ "$r" -gt 1 ] && awk -v s="$start" -v n="$now" -v l="$last" -v b="$budget" 'BEGIN { exit !(n - s + l > b) }'; then
		echo "boot-bench: stopping after $((r - 1)) rounds: another would pass the budget of ${budget}s"
		break
	fi
	if [ $((r % 2)) -eq 1 ]; then order="kvmhost-run qemu"; else order="qemu kvmhost-run"; fi
	for vmm in $order; do boot "$vmm" init "$r"; done
	for vmm in $order; do boot "$vmm" off "$r"; done
	read -r t _ </proc/uptime
	last=$(awk -v a="$now" -v b="$t" 'BEGIN { print b - a }')
	r=$((r + 1))
done
rounds=$((r - 1))

median() { # VMM SCENARIO FIELD(3: to_init, 4: total, 5: before the kernel's clock)
	awk -v v="$1" -v s="$2" -v f="$3" '$1 == v && $2 == s && $f != "-" { print $f }' /tmp/bench.times | sort -n |
		awk '{ x[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print x[(NR + 1) / 2];
			else printf "%.2f\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
echo "boot-bench: medians of $rounds rounds, seconds in L1 from the VMM's start ($what, $mem MiB, 1 vCPU):"
printf '  %-14s %14s %16s %20s %15s\n' VMM "to init marker" "to exit (init)" "to exit (poweroff)" "before kernel"
for vmm in kvmhost-run qemu; do
	i=$(median $vmm init 3) e=$(median $vmm init 4) o=$(median $vmm off 4) k=$(median $vmm init 5)
	eval "${vmm%%-*}_i=$i ${vmm%%-*}_e=$e ${vmm%%-*}_o=$o ${vmm%%-*}_k=$k"
	[ $vmm = qemu ] && name=$qemu_name || name=$vmm
	printf '  %-14s %14s %16s %20s %15s\n' "$name" "$i" "$e" "$o" "$k"
	echo "LAB-TIME boot-bench vmm=$vmm mem=${mem}M to_init=$i to_exit=$e poweroff_at_once=$o before_kernel=$k rounds=$rounds"
done
printf '  %-14s %14s %16s %20s %15s\n' "qemu/kvmhost" "$(ratio "$qemu_i" "$kvmhost_i")" "$(ratio "$qemu_e" "$kvmhost_e")" \
	"$(ratio "$qemu_o" "$kvmhost_o")" "$(ratio "$qemu_k" "$kvmhost_k")"
[ "$fails" -eq 0 ] && [ "$rounds" -ge 1 ]
