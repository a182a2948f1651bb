#!/bin/sh
# shellcheck disable=SC2086,SC2034,SC2154,SC2013,SC2015 # $opts are words without blanks; pid_NAME and the medians are set and read through eval; /proc/cmdline is read by words; A && B || bad is meant
# Inside L1: live migration and snapshots of examples/kvmhost-run against QEMU's, side by side in one L1, with the
# same guest: Debian's bzImage and the lab's initramfs, MEM MiB (default 256), 1 vCPU, a serial console and no
# other device, guest test "migbench" (tests/lab/l2/migbench.sh), idle or writing RATE MiB/s of a WSS MiB working
# set (lab_vbench dirty). QEMU runs -M pc-i440fx (a versioned machine type: microvm is not one that migrates) with
# -enable-kvm -cpu host; both keep their default migration parameters (downtime-limit 300 ms on both; QEMU's
# max-bandwidth, printed from its query-migrate-parameters: 128 MiB/s in 7.2; kvmhost-run's none). The same client
# (kvmhostctl-static) drives both over QMP.
# For each VMM and load, one guest A boots; then:
#   live      B starts with --incoming / -incoming unix:PATH; `migrate unix:PATH` sent to A; the figures are each VMM's
#             own: QEMU's source query-migrate "downtime" (its stop to the end of its send) and "total-time";
#             kvmhost-run's source (it exits once the guest has moved: KVMHOST_MIGRATION_STATS=1 prints its
#             figures) downtime from its pause to the destination's confirmation, and its total time. Also, the
#             same for both, L1's clock from the `migrate` command to B's query-status "running".
#   snapshot  on B: `stop`, then `migrate` to a file (kvmhost-run file:PATH; QEMU file:PATH where it has it, 8.2
#             and later, else exec:cat > PATH), until query-migrate says completed: its "total-time", and L1's
#             clock from the command to "completed"; the file's size.
#   restore   C starts with --incoming file:PATH / -incoming exec:cat PATH (file:PATH on QEMU 8.2+): L1's clock from
#             the start of the process to query-status "running" (QEMU restores a guest saved paused as paused:
#             a `cont` is sent when it says so, inside the time).
# After each migration and restore the guest must go on (its "MIGBENCH-ALIVE n" lines on the new VMM's console).
# Up to ROUNDS rounds (default 2), the VMMs alternating who goes first; a round starts only while the BUDGET
# (seconds, default 280; also the lab's own lab.budget=) leaves room for one as long as the last one took.
# Medians as a table and as LAB-TIME lines. It fails only when a migration, snapshot or restore failed or the guest
# did not go on after one; a migration that does not converge within TIMEOUT s is cancelled and reported as such.
# Emulated time (L1 under TCG): only the ratios of one run mean anything.
#
# Usage: migrate-bench.sh [ROUNDS] [BUDGET] [RATE_MIBS] [WSS_MIB] [TIMEOUT] [MEM_MIB]
rounds=${1:-2} budget=${2:-280} rate=${3:-4} wss=${4:-64} tmo=${5:-60} mem=${6:-256}
l2=${MIGBENCH_L2:-/lab/l2} vmms=${MIGBENCH_VMMS:-kvmhost-run qemu} accel=${MIGBENCH_ACCEL:--enable-kvm -cpu host}
for a in $(cat /proc/cmdline); do case $a in lab.budget=*) lab_end=${a#lab.budget=} ;; esac; done
if [ -n "${lab_end:-}" ]; then
	read -r up _ </proc/uptime
	budget=$(awk -v b="$budget" -v e="$lab_end" -v u="$up" 'BEGIN { l = int(e - u - 40); print (l < b ? l : b) }')
fi
d=/tmp/migbench
rm -rf "$d"
mkdir -p "$d"
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; } # T0 T1: milliseconds between them
fails=0
bad() { echo "migrate-bench: FAIL: $*"; fails=$((fails + 1)); }
q() { timeout 20 kvmhostctl-static --compact "$d/$1.sock" "$2" ${3:+"$3"} 2>&1; } # NAME COMMAND [ARGS]
num() { sed -n "s/.*\"$1\": *\([0-9][0-9]*\).*/\1/p" | head -n 1; }            # KEY: its number in a reply
word() { sed -n "s/.*\"$1\": *\"\([a-z-]*\)\".*/\1/p" | head -n 1; }           # KEY: its string
machine=$(qemu-system-x86_64 -M help | sed -n 's/^\(pc-i440fx-[0-9.]*\) .*(default).*/\1/p')
[ -n "$machine" ] || machine=pc
qv=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
# shellcheck disable=SC2046
if [ $(echo "$qv" | awk '{ print ($1 > 8 || ($1 == 8 && $2 >= 2)) }') = 1 ]; then qfile=1; else qfile=; fi
echo "migrate-bench: QEMU $(qemu-system-x86_64 --version | head -n 1), -M $machine; snapshot URIs ${qfile:+file:}${qfile:-exec:cat}"
cmdbase="console=ttyS0 panic=0 quiet kvmhost.test=migbench migbench.wss=$wss"

# vm VMM NAME LOAD [INCOMING-URI]: VMM in the background, COM1 into NAME.serial, QMP on NAME.sock
vm() {
	vmm=$1 name=$2 load=$3 inc=${4:-}
	cmdline="$cmdbase migbench.dirty=$load"
	rm -f "$d/$name.sock" "$d/$name.serial"
	if [ "$vmm" = qemu ]; then
		set -- qemu-system-x86_64 -M "$machine" $accel -m "$mem" -smp 1 -nodefaults -display none -no-reboot \
			-serial "file:$d/$name.serial" -qmp "unix:$d/$name.sock,server=on,wait=off" \
			-kernel "$l2/bzImage" -initrd "$l2/initramfs.cpio.gz" -append "$cmdline" ${inc:+-incoming "$inc"}
	else
		set -- kvmhost-run-static --kernel "$l2/bzImage" --initrd "$l2/initramfs.cpio.gz" --mem "${mem}M" --cpus 1 \
			--serial "file:$d/$name.serial" --control "$d/$name.sock" ${inc:+--incoming "$inc"} --cmdline "$cmdline"
	fi
	KVMHOST_MIGRATION_STATS=1 timeout -s KILL 600 "$@" </dev/null >"$d/$name.out" 2>"$d/$name.err" &
	eval "pid_$name=$!"
	i=0
	while [ $i -lt 200 ] && [ ! -S "$d/$name.sock" ]; do sleep 0.05; i=$((i + 1)); done
}
stop_vm() { # NAME
	p=$(eval echo "\${pid_$1:-}")
	[ -n "$p" ] || return 0
	[ -S "$d/$1.sock" ] && kill -0 "$p" 2>/dev/null && q "$1" quit >/dev/null
	i=0
	while [ $i -lt 20 ] && kill -0 "$p" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	eval "pid_$1="
}
seen() { grep -q -E "$2" "$d/$1.serial" 2>/dev/null; } # NAME PATTERN: on NAME's console
wait_serial() {                                       # NAME PATTERN SECS
	i=0
	while ! seen "$1" "$2"; do
		i=$((i + 1))
		[ $i -gt $(($3 * 10)) ] && return 1
		kill -0 "$(eval echo "\$pid_$1")" 2>/dev/null || { seen "$1" "$2"; return; }
		sleep 0.1
	done
}
wait_running() { # NAME SECS: poll query-status until "running" (a guest restored paused gets a cont)
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		s=$(q "$1" query-status | word status)
		case $s in
		running) return 0 ;;
		paused) q "$1" cont >/dev/null ;;
		esac
		kill -0 "$(eval echo "\$pid_$1")" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
wait_migrate() { # NAME SECS: poll query-migrate until it ends (or NAME exits: kvmhost-run's source); the last reply in $info
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		r=$(q "$1" query-migrate)
		case $(echo "$r" | word status) in
		completed | failed | cancelled) info=$r; return 0 ;;
		esac
		[ -n "$r" ] && echo "$r" | grep -q '"return"' && info=$r
		kill -0 "$(eval echo "\$pid_$1")" 2>/dev/null || return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
tail_of() { # NAME: what is known of it, for a failure
	tail -n 8 "$d/$1.serial" 2>/dev/null | tr -d '\r' | sed "s/^/  $1 ttyS0| /"
	sed "s/^/  $1 stderr| /" "$d/$1.err" 2>/dev/null | tail -n 8
}

# one VMM LOAD ROUND: boot A, live A -> B, snapshot of B, restore C; appends a line to $d/times:
#   VMM LOAD live_downtime_ms live_total_ms live_l1_ms bytes snap_ms snap_l1_ms snap_bytes restore_l1_ms
one() {
	vmm=$1 load=$2 round=$3
	tag="round $round $vmm ${load}MiB/s"
	[ "$load" = 0 ] && tag="round $round $vmm idle"
	rm -f "$d"/*.mig "$d/snap"
	t0=$(uptime_s)
	vm "$vmm" a "$load"
	if ! wait_serial a '^MIGBENCH-READY' "$tmo"; then
		bad "$tag: the guest did not come up"; tail_of a; stop_vm a; return
	fi
	tb=$(uptime_s)
	[ "$vmm" = qemu ] && [ -z "${qparams:-}" ] && qparams=1 &&
		echo "migrate-bench: QEMU's migration parameters: $(q a query-migrate-parameters | grep -o -E '"(downtime-limit|max-bandwidth)": [0-9]+' | tr '\n' ' ')"
	sleep 2 # the load runs a while: a steady dirty rate
	vm "$vmm" b "$load" "unix:$d/b.mig"
	st=$(q b query-status | word status)
	[ "$st" = inmigrate ] || bad "$tag: destination: query-status $st, want inmigrate"
	tm=$(uptime_s)
	r=$(q a migrate "{\"uri\": \"unix:$d/b.mig\"}")
	echo "$r" | grep -q '"return"' || bad "$tag: migrate: $r"
	info=
	if ! wait_migrate a "$tmo"; then
		echo "migrate-bench: $tag: live migration not done after ${tmo}s (no convergence): cancelled; $(echo "$info" | cut -c1-300)"
		q a migrate_cancel >/dev/null
		echo "$vmm $load nc nc nc nc - - - -" >>"$d/times"
		stop_vm b; stop_vm a; return
	fi
	if ! wait_running b "$tmo"; then
		bad "$tag: the destination does not run: $(q b query-status) $(q b query-migrate | cut -c1-300)"; tail_of a; tail_of b
		stop_vm b; stop_vm a; return
	fi
	tr=$(uptime_s)
	if [ "$vmm" = qemu ]; then
		dt=$(echo "$info" | num downtime) tt=$(echo "$info" | num total-time) by=$(echo "$info" | num transferred)
		passes=$(echo "$info" | num dirty-sync-count) extra="setup $(echo "$info" | num setup-time) ms"
		stop_vm a
	else
		i=0
		while [ $i -lt 100 ] && kill -0 "$pid_a" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
		line=$(sed -n 's/.*migrated: //p' "$d/a.err" | tail -n 1)
		dt=$(echo "$line" | sed -n 's/^downtime \([0-9]*\) ms.*/\1/p')
		tt=$(echo "$line" | sed -n 's/.* bytes in \([0-9]*\) ms.*/\1/p')
		by=$(echo "$line" | sed -n 's/.* passes, \([0-9]*\) bytes in.*/\1/p')
		passes=$(echo "$line" | sed -n 's/.*), \([0-9]*\) passes.*/\1/p')
		extra="destination's downtime (state to start) $(q b query-migrate | num downtime) ms"
		stop_vm a
	fi
	[ -n "$dt" ] && [ -n "$tt" ] || bad "$tag: no figures from the source: $(echo "$info" | cut -c1-300) $(tail -n 2 "$d/a.err")"
	n=$(sed -n 's/^MIGBENCH-ALIVE \([0-9]*\).*/\1/p' "$d/a.serial" | tail -n 1)
	wait_serial b '^MIGBENCH-ALIVE' 30 || bad "$tag: the guest does not go on after the live migration (A's last ALIVE ${n:-none})"
	echo "migrate-bench: $tag: live: downtime ${dt} ms, total ${tt} ms, ${by} bytes, ${passes} passes ($extra); L1: migrate to running $(ms "$tm" "$tr") ms (booted in $(ms "$t0" "$tb") ms)"

	# the snapshot, from B
	q b stop >/dev/null
	if [ "$vmm" = qemu ] && [ -z "$qfile" ]; then suri="exec:cat > $d/snap" ruri="exec:cat $d/snap"; else suri="file:$d/snap" ruri="file:$d/snap"; fi
	ts=$(uptime_s)
	r=$(q b migrate "{\"uri\": \"$suri\"}")
	echo "$r" | grep -q '"return"' || bad "$tag: migrate $suri: $r"
	info=
	wait_migrate b "$tmo"
	tw=$(uptime_s)
	sw=$(echo "$info" | num total-time) sb=$(wc -c <"$d/snap" 2>/dev/null || echo 0)
	[ "$(echo "$info" | word status)" = completed ] || bad "$tag: snapshot: $(echo "$info" | cut -c1-300)"
	stop_vm b
	# the restore, in a fresh process
	tc=$(uptime_s)
	vm "$vmm" c "$load" "$ruri"
	if wait_running c "$tmo"; then
		tcr=$(uptime_s)
		wait_serial c '^MIGBENCH-ALIVE' 30 || bad "$tag: the restored guest does not go on"
	else
		tcr=
		bad "$tag: the restore does not run: $(q c query-status)"; tail_of c
	fi
	stop_vm c
	rl=-
	[ -n "$tcr" ] && rl=$(ms "$tc" "$tcr")
	echo "migrate-bench: $tag: snapshot: ${sw} ms (its total-time), L1: command to completed $(ms "$ts" "$tw") ms, $sb bytes; restore: L1: start to running $rl ms"
	echo "$vmm $load ${dt:--} ${tt:--} $(ms "$tm" "$tr") ${by:--} ${sw:--} $(ms "$ts" "$tw") $sb $rl" >>"$d/times"
	rm -f "$d/snap"
}

read -r start _ </proc/uptime
rn=1 last=0
: >"$d/times"
while [ "$rn" -le "$rounds" ]; do
	read -r now _ </proc/uptime
	if [ "$rn" -gt 1 ] && awk -v s="$start" -v n="$now" -v l="$last" -v b="$budget" 'BEGIN { exit !(n - s + l > b) }'; then
		echo "migrate-bench: stopping after $((rn - 1)) rounds: another would pass the budget of ${budget}s"
		break
	fi
	if [ $((rn % 2)) -eq 1 ]; then order=$vmms; else order=$(echo "$vmms" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'); fi
	for ld in 0 "$rate"; do
		for v in $order; do one "$v" "$ld" "$rn"; done
	done
	read -r t _ </proc/uptime
	last=$(awk -v a="$now" -v b="$t" 'BEGIN { print b - a }')
	rn=$((rn + 1))
done
rounds=$((rn - 1))

median() { # VMM LOAD FIELD
	awk -v v="$1" -v l="$2" -v f="$3" '$1 == v && $2 == l && $f ~ /^[0-9]/ { print $f }' "$d/times" | sort -n |
		awk '{ x[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print x[(NR + 1) / 2];
			else printf "%d\n", (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
echo "migrate-bench: medians of $rounds rounds, ms ($mem MiB, 1 vCPU; downtime and total: each VMM's own figures;"
echo "  L1: L1's clock; dirty: $rate MiB/s over $wss MiB):"
printf '  %-12s %-6s %9s %9s %12s %11s %10s %12s %11s %11s\n' VMM load downtime total "L1 live" "MB sent" "snap write" "L1 snap" "snap MB" "L1 restore"
for load in 0 "$rate"; do
	[ "$load" = 0 ] && ln=idle || ln=dirty
	for vmm in $vmms; do
		v=${vmm%%-*}
		for f in 3 4 5 6 7 8 9 10; do eval "${v}_$f=$(median "$vmm" "$load" $f)"; done
		eval "printf '  %-12s %-6s %9s %9s %12s %11s %10s %12s %11s %11s\n' $vmm $ln \$${v}_3 \$${v}_4 \$${v}_5 \
			\$(awk -v b=\$${v}_6 'BEGIN { if (b + 0 > 0) printf \"%.1f\", b / 1e6; else print \"-\" }') \$${v}_7 \$${v}_8 \
			\$(awk -v b=\$${v}_9 'BEGIN { if (b + 0 > 0) printf \"%.1f\", b / 1e6; else print \"-\" }') \$${v}_10"
		eval "echo \"LAB-TIME migrate-bench vmm=$vmm load=$ln mem=${mem}M downtime_ms=\$${v}_3 total_ms=\$${v}_4 l1_live_ms=\$${v}_5 bytes=\$${v}_6 snapshot_ms=\$${v}_7 l1_snapshot_ms=\$${v}_8 snapshot_bytes=\$${v}_9 l1_restore_ms=\$${v}_10 rounds=$rounds\""
	done
	if [ "$vmms" = "kvmhost-run qemu" ]; then
		printf '  %-12s %-6s %9s %9s %12s %11s %10s %12s %11s %11s\n' "qemu/ours" $ln "$(ratio "$qemu_3" "$kvmhost_3")" \
			"$(ratio "$qemu_4" "$kvmhost_4")" "$(ratio "$qemu_5" "$kvmhost_5")" "$(ratio "$qemu_6" "$kvmhost_6")" \
			"$(ratio "$qemu_7" "$kvmhost_7")" "$(ratio "$qemu_8" "$kvmhost_8")" "$(ratio "$qemu_9" "$kvmhost_9")" \
			"$(ratio "$qemu_10" "$kvmhost_10")"
	fi
done
echo "migrate-bench: every run:"
sed 's/^/  /' "$d/times"
[ "$fails" -eq 0 ] && [ "$rounds" -ge 1 ]
