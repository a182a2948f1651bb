#!/bin/sh
# shellcheck disable=SC1007,SC2013,SC2154 # "a= b=" is meant; words of /proc/cmdline; some variables are set by eval
# Inside L1: virtio-blk and virtio-net throughput of examples/kvmhost-run against QEMU -M microvm, side by side in
# one L1: the same guest (the ELF vmlinux by PVH, the lab's L2 initramfs, 128 MiB, 1 vCPU), the same kind of
# backing file, a tap each, both on virtio-mmio. The guest test "vbench" (tests/lab/l2/vbench.sh, program
# lab_vbench) measures:
#   seq-write   sequential O_DIRECT writes to /dev/vda, 1 MiB blocks            -> MB/s (10^6 bytes)
#   seq-read    sequential O_DIRECT reads, 1 MiB blocks                        -> MB/s
#   rand-read   4 KiB O_DIRECT reads at random offsets (fixed seed), QD 1     -> IOPS
#   tcp-send    guest -> L1 TCP over virtio-net and a tap; lab_vbench tcp-recv in L1 counts the bytes -> MB/s
#
# L1 is an emulated machine whose speed follows the host's load, and that load changes within seconds (other
# labs, builds), so measuring one VMM after the other compared two different machines (seen: 2-10x swings
# between two boots of the same VMM in one run). So both VMs boot once and stay up side by side; L1 then asks
# them for short phases in turn, over console commands: for each round, for each phase, VM A then VM B (the
# order swaps every round), the idle VM waiting on its console. Each VMM's figure is the median over its rounds;
# kvmhost/qemu above 1 means kvmhost-run is faster.
#
# Timing: the guest's VBENCH-BEGIN / VBENCH-END lines are stamped with L1's /proc/uptime as they arrive (the
# guest's clock may drift under nesting); the TCP receiver times first byte to end of file itself
# (CLOCK_MONOTONIC in L1). The guest's own figures are kept for comparison (LAB-TIME lines).
# Backing files: two raw files of DISK_MIB MiB in L1's /tmp (tmpfs), zero-filled the same way, one per VM (QEMU
# locks its image, and the two VMs are up at the same time). Network: a network namespace of this script's own
# (unshare -n) with two taps, 10.0.2.1/24 (VM A at .2) and 10.0.3.1/24 (VM B at .2).
# QEMU runs as configured by default: -drive cache=writeback and aio=threads, no vhost (userspace virtio-net),
# the tap with a virtio-net header (offloads) when the kernel offers it, and microvm's virtio-mmio in its legacy
# mode (virtio 0.9.5, split rings), where kvmhost-run offers virtio 1.x (the guest takes packed rings). VMM
# "qemu-modern" is QEMU with -global virtio-mmio.force-legacy=false (virtio 1.x). The guest prints the feature
# bits each device negotiated (VBENCH-INFO virtio ...).
#
# One QEMU boot per run, on purpose: a QEMU microvm boot was seen to wedge L1 about once in thirty
# (docs/benchmarks.md). The figures are reported, not judged (emulated time is noisy); the test fails when a VM did
# not boot, a phase failed, no round completed, a VMM did not exit with status 0, or kvmhost-run lacks --disk/--net.
#
# Usage: virtio-bench.sh [SECS] [ROUNDS] [DISK_MIB] [BUDGET] [VMM_A,VMM_B]
#   SECS 2 (each phase, guest clock), ROUNDS 3 (at most: a round starts only while BUDGET has room for one more
#   as long as the last took), DISK_MIB 64, BUDGET 170 (seconds for the whole script, boots included; keep it
#   under the case's timeout in cases.list), VMMs "kvmhost-run,qemu" (also: qemu-modern).
secs=${1:-2} rounds=${2:-3} mib=${3:-64} budget=${4:-170} vmms=${5:-kvmhost-run,qemu}

if [ -z "${VBENCH_NETNS:-}" ]; then
	if unshare -n true 2>/dev/null; then
		VBENCH_NETNS=1 exec unshare -n sh "$0" "$@"
	fi
	echo "virtio-bench: warning: unshare -n failed; using L1's own network namespace"
fi

read -r start _ </proc/uptime
# The lab's own budget (lab.budget= on L1's command line: the L1 uptime to end by) may leave less.
for a in $(cat /proc/cmdline); do case $a in lab.budget=*) lab_end=${a#lab.budget=} ;; esac; done
end=$(awk -v s="$start" -v b="$budget" -v e="${lab_end:-1e9}" 'BEGIN { x = s + b; if (e - 15 < x) x = e - 15; print x }')
left() { read -r up _ </proc/uptime; awk -v e="$end" -v u="$up" 'BEGIN { printf "%d", e - u }'; }
now() { read -r up _ </proc/uptime; echo "$up"; }

cr=$(printf '\r')
fails=0
rm -f /tmp/vb.*
A=${vmms%%,*} B=${vmms#*,}
phases="seq-write seq-read rand-read tcp-send"
fail() { echo "virtio-bench: FAIL: $*"; fails=$((fails + 1)); }

ip link set lo up
for v in a b; do
	[ $v = a ] && net=10.0.2 || net=10.0.3
	if ! tunctl -t "vbtap$v" >/dev/null || ! ip addr add "$net.1/24" dev "vbtap$v" || ! ip link set "vbtap$v" up; then
		echo "virtio-bench: FAIL: could not set up the tap vbtap$v (tun module? $(ls -l /dev/net/tun 2>&1))"
		exit 1
	fi
done
for vmm in $A $B; do
	case $vmm in
	kvmhost-run)
		h=$(kvmhost-run-static --help 2>&1)
		case $h in *--disk*--net*) ;; *)
			echo "virtio-bench: FAIL: kvmhost-run-static has no --disk/--net: nothing to compare"
			exit 1 ;;
		esac ;;
	qemu | qemu-modern) ;;
	*) echo "virtio-bench: unknown VMM $vmm (kvmhost-run, qemu, qemu-modern)"; exit 2 ;;
	esac
done

start_vm() { # SLOT(a|b) VMM FD: boots the VM in the background; its console goes to /tmp/vb.log.SLOT, stamped
	slot=$1 vmm=$2 fd=$3
	[ "$slot" = a ] && net=10.0.2 || net=10.0.3
	img=/tmp/vb.img.$slot
	dd if=/dev/zero of="$img" bs=1M count="$mib" 2>/dev/null
	append="console=ttyS0 panic=0 quiet kvmhost.test=vbench vbench.ip=$net.2 vbench.host=$net.1 vbench.port=520$fd"
	case $vmm in
	qemu | qemu-modern)
		set -- qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 128 -smp 1 -nographic -no-reboot -nodefaults \
			-serial stdio -kernel /lab/l2/vmlinux -initrd /lab/l2/initramfs.cpio.gz \
			-drive "file=$img,format=raw,if=none,id=d0,cache=writeback" -device virtio-blk-device,drive=d0 \
			-netdev "tap,id=n0,ifname=vbtap$slot,script=no,downscript=no" -device virtio-net-device,netdev=n0 \
			-append "$append"
		[ "$vmm" = qemu ] || set -- "$@" -global virtio-mmio.force-legacy=false ;;
	*)
		set -- kvmhost-run-static --kernel /lab/l2/vmlinux --initrd /lab/l2/initramfs.cpio.gz --mem 128M --cpus 1 \
			--disk "$img" --net "tap=vbtap$slot" --transport mmio --cmdline "$append" ;;
	esac
	echo "virtio-bench: VM $slot: $*"
	mkfifo "/tmp/vb.in.$slot"
	eval "exec $fd<>/tmp/vb.in.$slot" # held open here: the VMM's console input never sees end of file
	: >"/tmp/vb.marks.$slot"
	{
		{
			timeout -s KILL "$(left)" "$@" 2>&1 <&"$fd" &
			echo $! >"/tmp/vb.pid.$slot"
			wait $!
			echo $? >"/tmp/vb.rc.$slot"
		} | while IFS= read -r line; do
			line=${line%"$cr"}
			case $line in VBENCH-*) read -r t _ </proc/uptime; echo "$t $line" >>"/tmp/vb.marks.$slot" ;; esac
			echo "L2 $slot| $line"
			echo "$line" >>"/tmp/vb.log.$slot"
		done
	} &
}

wait_for() { # SLOT REGEX SECONDS: until the VM's stamped lines match, the VM ends, or time is up
	i=0 n=$(($3 * 5))
	while [ $i -lt $n ]; do
		grep -q -E "$2" "/tmp/vb.marks.$1" 2>/dev/null && return 0
		[ -e "/tmp/vb.rc.$1" ] && return 1
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

rate() { # SLOT SEQ: the phase's rate from L1's stamps ("L1_RATE GUEST_RATE"), "- -" when it did not complete
	awk -v s="$2" '
		$2 == "VBENCH-CMD" { cur = ($3 == s) }
		cur && $2 == "VBENCH-BEGIN" { b = $1 }
		cur && $2 == "VBENCH-END" { e = $1; for (i = 4; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
		END {
			if (b == "" || e == "" || e <= b) { print "- -"; exit }
			if ("guest_iops" in f) printf "%.0f %s\n", f["ops"] / (e - b), f["guest_iops"]
			else printf "%.2f %s\n", f["bytes"] / 1e6 / (e - b), f["guest_mbps"]
		}' "/tmp/vb.marks.$1"
}

run_phase() { # SLOT VMM ROUND PHASE SEQ: one phase on one VM; appends "VMM ROUND PHASE L1_RATE GUEST_RATE" to vb.rows
	# (sh has no local variables: the names here must not clash with the main loop's r, s, seq, ok)
	slot=$1 vmm=$2 round=$3 phase=$4 seq=$5
	fd=$([ "$slot" = a ] && echo 5 || echo 6)
	if [ "$phase" = tcp-send ]; then
		lab_vbench tcp-recv "520$fd" "$(left)" >"/tmp/vb.recv.$seq" 2>&1 &
		i=0
		while ! grep -q VBENCH-LISTENING "/tmp/vb.recv.$seq" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	fi
	echo "$seq $phase $secs" >&"$fd"
	wt=$(left)
	[ "$wt" -gt 0 ] || wt=1
	if ! wait_for "$slot" "VBENCH-DONE $seq " "$wt"; then
		fail "VM $slot ($vmm): $phase (command $seq) did not finish"
		return 1
	fi
	grep -q "VBENCH-DONE $seq rc=0" "/tmp/vb.marks.$slot" || fail "VM $slot ($vmm): $phase (command $seq) failed"
	# shellcheck disable=SC2046 # two words: the L1 rate and the guest's
	set -- $(rate "$slot" "$seq")
	if [ "$phase" = tcp-send ]; then
		i=0
		while ! grep -q VBENCH-RECV "/tmp/vb.recv.$seq" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
		rx=$(sed -n 's/.*VBENCH-RECV .*mbps=\([0-9.]*\).*/\1/p' "/tmp/vb.recv.$seq")
		[ -n "$rx" ] || { fail "VM $slot ($vmm): the TCP receiver got nothing: $(tr '\n' ' ' <"/tmp/vb.recv.$seq")"; rx=-; }
		set -- "$rx" "$2"
	fi
	echo "$vmm $round $phase $1 $2" >>/tmp/vb.rows
	echo "virtio-bench: round $round $vmm $phase: $1 (guest clock: $2)"
}

# Boot both, side by side; the long boot (QEMU's) sets the pace.
start_vm a "$A" 5
start_vm b "$B" 6
t0=$(now)
ok=1
for s in a b; do
	wait_for $s "VBENCH-READY" "$(left)" || { ok=; fail "VM $s did not reach VBENCH-READY"; }
	grep -q "VBENCH-READY rc=0" "/tmp/vb.marks.$s" 2>/dev/null || { ok=; fail "VM $s: no disk or network (see its console)"; }
done
echo "virtio-bench: both VMs ready after $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"

r=0 seq=0 last=0
while [ -n "$ok" ] && [ "$r" -lt "$rounds" ]; do
	if [ "$r" -gt 0 ] && [ "$(left)" -lt "$(awk -v l="$last" 'BEGIN { printf "%d", l * 1.2 + 10 }')" ]; then
		echo "virtio-bench: stopping after $r rounds: the budget has no room for another"
		break
	fi
	r=$((r + 1))
	rt0=$(now)
	for phase in $phases; do
		if [ $((r % 2)) -eq 1 ]; then order="a b"; else order="b a"; fi
		for s in $order; do
			[ "$s" = a ] && vmm=$A || vmm=$B
			seq=$((seq + 1))
			run_phase "$s" "$vmm" "$r" "$phase" "$seq" || ok=
			[ -n "$ok" ] || break 3
		done
	done
	last=$(awk -v a="$rt0" -v b="$(now)" 'BEGIN { print b - a }')
done

# The end: both guests power off; a VMM still up after 20 s is killed (and fails the test).
seq=$((seq + 1))
for fd in 5 6; do echo "$seq quit 0" >&"$fd"; done
for s in a b; do
	[ "$s" = a ] && vmm=$A || vmm=$B
	i=0
	while [ ! -e "/tmp/vb.rc.$s" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
	if [ ! -e "/tmp/vb.rc.$s" ]; then
		kill -9 "$(cat "/tmp/vb.pid.$s")" 2>/dev/null
		fail "VM $s ($vmm) did not power off"
	elif [ "$(cat "/tmp/vb.rc.$s")" != 0 ]; then
		fail "VM $s ($vmm) exited with status $(cat "/tmp/vb.rc.$s")"
	fi
done
sleep 0.5 # the console readers' last lines
[ "$fails" -eq 0 ] || for s in a b; do
	echo "virtio-bench: VM $s console tail:"
	tail -n 25 "/tmp/vb.log.$s" 2>/dev/null | sed 's/^/  | /'
done

# Summary: per VMM and phase, the rounds and their median; then kvmhost/QEMU (medians, and the range of the
# ratios of the two VMs' figures in each round, which were measured seconds apart).
[ -s /tmp/vb.rows ] || { fail "no phase completed"; exit 1; }
median() { sort -n | awk '{ x[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print x[(NR + 1) / 2]; else printf "%.2f\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'; }
vals() { awk -v v="$1" -v p="$2" -v c="${3:-4}" '$1 == v && $3 == p && $c != "-" { print $c }' /tmp/vb.rows; }
nr=$(awk '{ print $2 }' /tmp/vb.rows | sort -n | tail -n 1)
echo "virtio-bench: $nr rounds, ${secs}s phases, VMs side by side, 128 MiB, 1 vCPU, virtio-mmio, $mib MiB raw file each in L1's tmpfs"
printf '  %-18s %-30s %-30s %s\n' "" "$A" "$B" "$A/$B"
printf '  %-18s %-30s %-30s %s\n' "" "median [rounds]" "median [rounds]" "median of medians [per round]"
for phase in $phases; do
	case $phase in rand-read) unit="4k rand read IOPS" ;; tcp-send) unit="TCP to L1 MB/s" ;; *) unit="${phase%-*} ${phase#*-} MB/s" ;; esac
	ma=$(vals "$A" "$phase" | median) mb=$(vals "$B" "$phase" | median)
	ra=$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
	per=$(awk -v A="$A" -v B="$B" -v p="$phase" '$3 == p && $4 != "-" { if ($1 == A) a[$2] = $4; if ($1 == B) b[$2] = $4 }
		END { for (r = 1; r in a || r in b; r++) if (b[r] > 0 && a[r] != "") printf "%s%.2f", (n++ ? " " : ""), a[r] / b[r] }' /tmp/vb.rows)
	printf '  %-18s %-30s %-30s %s\n' "$unit" "$ma [$(vals "$A" "$phase" | tr '\n' ' ' | sed 's/ $//')]" \
		"$mb [$(vals "$B" "$phase" | tr '\n' ' ' | sed 's/ $//')]" "$ra [$per]"
	echo "LAB-TIME virtio-bench phase=$phase $A=$ma $B=$mb ratio=$ra per_round=$(echo "$per" | tr ' ' ,)" \
		"guest_clock:$A=$(vals "$A" "$phase" 5 | median),$B=$(vals "$B" "$phase" 5 | median) rounds=$nr secs=$secs" >>/tmp/vb.times
done
cat /tmp/vb.times
[ "$fails" -eq 0 ]
