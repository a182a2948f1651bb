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
#   same-host (idle only) the same live migration as a same-host hand-over: QEMU with its RAM a shared file
#             (-object memory-backend-file,mem-path=FILE,share=on -machine memory-backend=mem: QEMU 7.2 has no way
#             to hand a memfd over, so both QEMUs map the same file, FILE in L1's tmpfs) and x-ignore-shared on
#             both sides (the destination -incoming defer, then migrate-incoming); kvmhost-run with
#             --memory-backend memfd on both and x-ignore-shared on the source (its RAM's fds passed over the
#             socket). Only the state is sent; the figures are the live ones. MIGBENCH_SAME_HOST=0: not run.
# Guest-visible downtime, the same measure for both VMMs: the guest prints "T n us" every TICK_MS ms of its own
# clock (migbench.tick, lab_vbench tick) on its serial console; each VMM's COM1 goes into a FIFO read by
# lab_vbench stamp in L1, which stamps each line's arrival with L1's CLOCK_MONOTONIC. "seen gap" is L1's time
# from the last tick that came from the source to the first from the destination (a tick every TICK_MS ms when
# nothing stops the guest, so its resolution is TICK_MS ms plus the jitter of the serial path, given as the
# largest gap between the source's ticks before the switch, "jitter"); "guest clk" is the gap in the guest's own
# clock between those two ticks (it differs by design: QEMU stops kvmclock while the guest is stopped, kvmhost-run
# lets it catch up the time in transit). TICK_MS 0: no ticks, no such columns.
# After each migration and restore the guest must go on (its "MIGBENCH-ALIVE n" lines on the new VMM's console).
# Up to ROUNDS rounds (default 2), the VMMs alternating who goes first; a round starts only while the BUDGET
# (seconds, default 280; also the lab's own lab.budget=) leaves room for one as long as the last one took.
# Medians as a table and as LAB-TIME lines. It fails only when a migration, snapshot or restore failed or the guest
# did not go on after one; a migration that does not converge within TIMEOUT s is cancelled and reported as such.
# Emulated time (L1 under TCG): only the ratios of one run mean anything.
#
# Usage: migrate-bench.sh [ROUNDS] [BUDGET] [RATE_MIBS] [WSS_MIB] [TIMEOUT] [MEM_MIB] [TICK_MS]
rounds=${1:-2} budget=${2:-280} rate=${3:-4} wss=${4:-64} tmo=${5:-60} mem=${6:-256} tick=${7:-10}
same_host=${MIGBENCH_SAME_HOST:-1}
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
cmdbase="console=ttyS0 panic=0 quiet kvmhost.test=migbench migbench.wss=$wss migbench.tick=$tick"
caps='{"capabilities": [{"capability": "x-ignore-shared", "state": true}]}'

# vm VMM NAME LOAD [INCOMING-URI [shared]]: VMM in the background, COM1 into NAME.serial (with ticks: through a
# FIFO and lab_vbench stamp, the ticks into NAME.ticks), QMP on NAME.sock; shared: its RAM shared (same-host)
vm() {
	vmm=$1 name=$2 load=$3 inc=${4:-} shared=${5:-}
	cmdline="$cmdbase migbench.dirty=$load"
	rm -f "$d/$name.sock" "$d/$name.serial" "$d/$name.ticks" "$d/$name.fifo"
	ser=$d/$name.serial
	if [ "$tick" != 0 ]; then # the stamper first: the VMM's open of the FIFO waits for a reader
		mkfifo "$d/$name.fifo"
		lab_vbench stamp "$d/$name.ticks" <"$d/$name.fifo" >"$d/$name.serial" 2>>"$d/stamp.err" &
		eval "stamp_$name=$!"
		ser=$d/$name.fifo
	fi
	if [ "$vmm" = qemu ]; then
		set -- qemu-system-x86_64 -M "$machine${shared:+,memory-backend=mem}" $accel -m "$mem" -smp 1 -nodefaults \
			${shared:+-object memory-backend-file,id=mem,size=${mem}M,mem-path=$d/ram,share=on} \
			-display none -no-reboot -serial "file:$ser" -qmp "unix:$d/$name.sock,server=on,wait=off" \
			-kernel "$l2/bzImage" -initrd "$l2/initramfs.cpio.gz" -append "$cmdline" ${inc:+-incoming "$inc"}
	else
		set -- kvmhost-run-static --kernel "$l2/bzImage" --initrd "$l2/initramfs.cpio.gz" --mem "${mem}M" --cpus 1 \
			${shared:+--memory-backend memfd} --serial "file:$ser" --control "$d/$name.sock" \
			${inc:+--incoming "$inc"} --cmdline "$cmdline"
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
	p=$(eval echo "\${stamp_$1:-}") # the stamper ends at the FIFO's end (killed if the VMM never opened it)
	[ -n "$p" ] || return 0
	i=0
	while [ $i -lt 20 ] && kill -0 "$p" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	eval "stamp_$1="
}
# switch_gap FROM TO: "seen_ms guest_clock_ms lost jitter_ms" from the ticks (FROM stopped, TO ticking): L1's time
# from FROM's last tick to TO's first, the guest clock's between them, the ticks missing between them (0: none),
# and the largest gap between FROM's ticks (the measure's own noise); "- - - -" when either has none
switch_gap() {
	la=$(tail -n 1 "$d/$1.ticks" 2>/dev/null) fb=$(head -n 1 "$d/$2.ticks" 2>/dev/null)
	j=$(awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { printf "%d", m / 1000 }' "$d/$1.ticks" 2>/dev/null)
	awk -v a="$la" -v b="$fb" -v j="${j:--}" 'BEGIN { na = split(a, x, " "); nb = split(b, y, " ")
		if (na != 4 || nb != 4) { print "- - - -"; exit }
		printf "%d %d %d %s\n", (y[1] - x[1]) / 1000, (y[4] - x[4]) / 1000, y[3] - x[3] - 1, j }'
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

# live VMM LOAD TAG KEY [shared]: A runs; B starts as its destination and A migrates to it (shared: a same-host
# hand-over). Sets dt tt by passes l1 (each VMM's figures, L1's) and seen gclk lost jit (switch_gap); A stopped,
# B runs. 1 when it failed (then both are stopped; a migration that did not converge has its line in times, as
# "$key")
live() {
	vmm=$1 load=$2 tag=$3 key=$4 sh=${5:-}
	if [ "$vmm" = qemu ] && [ -n "$sh" ]; then # x-ignore-shared on both sides: set before the stream comes
		vm "$vmm" b "$load" defer shared
		r=$(q b migrate-set-capabilities "$caps")
		echo "$r" | grep -q '"return"' || bad "$tag: destination: migrate-set-capabilities: $r"
		r=$(q b migrate-incoming "{\"uri\": \"unix:$d/b.mig\"}")
		echo "$r" | grep -q '"return"' || bad "$tag: migrate-incoming: $r"
	else
		vm "$vmm" b "$load" "unix:$d/b.mig" $sh
	fi
	st=$(q b query-status | word status)
	[ "$st" = inmigrate ] || bad "$tag: destination: query-status $st, want inmigrate"
	if [ -n "$sh" ]; then
		r=$(q a migrate-set-capabilities "$caps")
		echo "$r" | grep -q '"return"' || bad "$tag: migrate-set-capabilities x-ignore-shared: $r"
	fi
	tm=$(uptime_s)
	r=$(q a migrate "{\"uri\": \"unix:$d/b.mig\"}")
	echo "$r" | grep -q '"return"' || bad "$tag: migrate: $r"
	info=
	if ! wait_migrate a "$tmo"; then
		echo "migrate-bench: $tag: live migration not done after ${tmo}s (no convergence): cancelled; $(echo "$info" | cut -c1-300)"
		q a migrate_cancel >/dev/null
		echo "$vmm $key nc nc nc nc - - - - - -" >>"$d/times"
		stop_vm b; stop_vm a; return 1
	fi
	if ! wait_running b "$tmo"; then
		bad "$tag: the destination does not run: $(q b query-status) $(q b query-migrate | cut -c1-300)"; tail_of a; tail_of b
		stop_vm b; stop_vm a; return 1
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
	l1=$(ms "$tm" "$tr") seen=- gclk=- lost=- jit=-
	if [ "$tick" != 0 ]; then # A has stopped (its stamper too); B's first tick
		i=0
		while [ $i -lt 50 ] && [ ! -s "$d/b.ticks" ]; do sleep 0.1; i=$((i + 1)); done
		# shellcheck disable=SC2046 # four words
		set -- $(switch_gap a b)
		seen=$1 gclk=$2 lost=$3 jit=$4
		[ "$seen" = - ] && bad "$tag: no ticks across the switch (A $(wc -l <"$d/a.ticks" 2>/dev/null), B $(wc -l <"$d/b.ticks" 2>/dev/null))"
		[ "$seen" != - ] && [ "$lost" -lt 0 ] && bad "$tag: the destination's first tick is not after the source's last: $(tail -n 1 "$d/a.ticks") / $(head -n 1 "$d/b.ticks")"
		echo "migrate-bench: $tag: ticks (L1 us, T, n, guest us) last from the source: $(tail -n 3 "$d/a.ticks" | tr '\n' ';') first from the destination: $(head -n 3 "$d/b.ticks" | tr '\n' ';')"
	fi
	echo "migrate-bench: $tag: live: downtime ${dt} ms, total ${tt} ms, ${by} bytes, ${passes} passes ($extra); L1: migrate to running $l1 ms (booted in $(ms "$t0" "$tb") ms); guest-visible: ticks' gap ${seen} ms on L1 (${lost} missing; the largest gap before, on the source, ${jit} ms), ${gclk} ms on the guest's clock"
	return 0
}

# one VMM LOAD ROUND: boot A, live A -> B, snapshot of B, restore C; appends a line to $d/times:
#   VMM LOAD live_downtime_ms live_total_ms live_l1_ms bytes snap_ms snap_l1_ms snap_bytes restore_l1_ms
#   seen_gap_ms guest_clock_gap_ms
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
	live "$vmm" "$load" "$tag" "$load" || return
	row="$vmm $load ${dt:--} ${tt:--} $l1 ${by:--}"

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
	echo "$row ${sw:--} $(ms "$ts" "$tw") $sb $rl $seen $gclk" >>"$d/times"
	rm -f "$d/snap"
}

# one_shared VMM ROUND: boot A with shared RAM, idle, then the same-host hand-over to B; a line in $d/times
# (load "sh"; no snapshot, no restore)
one_shared() {
	vmm=$1 tag="round $2 $1 same-host idle"
	rm -f "$d"/*.mig "$d/ram"
	t0=$(uptime_s)
	vm "$vmm" a 0 "" shared
	if ! wait_serial a '^MIGBENCH-READY' "$tmo"; then
		bad "$tag: the guest did not come up"; tail_of a; stop_vm a; rm -f "$d/ram"; return
	fi
	tb=$(uptime_s)
	sleep 2 # as the others
	if live "$vmm" 0 "$tag" sh shared; then
		case $by in
		'' | *[!0-9]*) bad "$tag: no byte count" ;;
		*) [ "$by" -lt 1048576 ] || bad "$tag: $by bytes sent: more than the state (was the RAM copied?)" ;;
		esac
		echo "$vmm sh ${dt:--} ${tt:--} $l1 ${by:--} - - - - $seen $gclk" >>"$d/times"
		stop_vm b
	fi
	rm -f "$d/ram"
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
	if [ "$same_host" = 1 ]; then
		for v in $order; do one_shared "$v" "$rn"; done
		read -r t2 _ </proc/uptime
		echo "migrate-bench: round $rn: the same-host rows took $(awk -v a="$t" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s, the others $(awk -v a="$now" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s (L1 clock)"
	fi
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
echo "  L1: L1's clock; dirty: $rate MiB/s over $wss MiB; same-host: idle, the RAM shared, not sent; seen gap: L1's"
echo "  time between the guest's last tick from the source and its first from the destination, a tick every"
echo "  $tick ms; guest clk: the same two ticks' gap on the guest's clock):"
fmt='  %-12s %-9s %9s %9s %12s %11s %10s %12s %11s %11s %9s %9s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$fmt" VMM load downtime total "L1 live" "MB sent" "snap write" "L1 snap" "snap MB" "L1 restore" "seen gap" "guest clk"
loads="0 $rate"
[ "$same_host" = 1 ] && loads="$loads sh"
for load in $loads; do
	case $load in 0) ln=idle ;; sh) ln=same-host ;; *) ln=dirty ;; esac
	for vmm in $vmms; do
		v=${vmm%%-*}
		for f in 3 4 5 6 7 8 9 10 11 12; do eval "${v}_$f=$(median "$vmm" "$load" $f)"; done
		eval "printf \"\$fmt\" $vmm $ln \$${v}_3 \$${v}_4 \$${v}_5 \
			\$(awk -v b=\$${v}_6 'BEGIN { if (b + 0 > 0) printf \"%.3f\", b / 1e6; else print \"-\" }') \$${v}_7 \$${v}_8 \
			\$(awk -v b=\$${v}_9 'BEGIN { if (b + 0 > 0) printf \"%.1f\", b / 1e6; else print \"-\" }') \$${v}_10 \$${v}_11 \$${v}_12"
		eval "echo \"LAB-TIME migrate-bench vmm=$vmm load=$ln mem=${mem}M downtime_ms=\$${v}_3 total_ms=\$${v}_4 l1_live_ms=\$${v}_5 bytes=\$${v}_6 snapshot_ms=\$${v}_7 l1_snapshot_ms=\$${v}_8 snapshot_bytes=\$${v}_9 l1_restore_ms=\$${v}_10 seen_gap_ms=\$${v}_11 guest_clock_gap_ms=\$${v}_12 tick_ms=$tick rounds=$rounds\""
	done
	if [ "$vmms" = "kvmhost-run qemu" ]; then
		# shellcheck disable=SC2059
		printf "$fmt" "qemu/ours" $ln "$(ratio "$qemu_3" "$kvmhost_3")" \
			"$(ratio "$qemu_4" "$kvmhost_4")" "$(ratio "$qemu_5" "$kvmhost_5")" "$(ratio "$qemu_6" "$kvmhost_6")" \
			"$(ratio "$qemu_7" "$kvmhost_7")" "$(ratio "$qemu_8" "$kvmhost_8")" "$(ratio "$qemu_9" "$kvmhost_9")" \
			"$(ratio "$qemu_10" "$kvmhost_10")" "$(ratio "$qemu_11" "$kvmhost_11")" "$(ratio "$qemu_12" "$kvmhost_12")"
	fi
done
echo "migrate-bench: every run:"
sed 's/^/  /' "$d/times"
[ "$fails" -eq 0 ] && [ "$rounds" -ge 1 ]
