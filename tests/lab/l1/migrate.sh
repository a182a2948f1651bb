#!/bin/sh
# shellcheck disable=SC2086,SC2015,SC2034 # $base and $opts are words without blanks; A && ok || bad is meant; fd_NAME and pid_NAME are read through eval
# Inside L1: kvmhost-run's migration with a Linux guest (lab tests migrate/snapshot and migrate/unix). The L2
# guest (Debian's bzImage, the lab's initramfs) runs on kvmhost-run-static with, on virtio-pci, a disk (a copy of
# the lab's ext4 disk), virtio-net on a TAP in a network namespace of this test's own (10.0.2.1 here, 10.0.2.15
# in the guest) and a virtio-console whose output is the guest's counter (guest test "migrate_ticks",
# tests/lab/l2/migrate_ticks.sh: "TICK n=... up=..." about every 10 ms) and whose input carries this script's
# commands (write a file, check files, ping, end).
#   snapshot  A runs; a file is written; A is paused, its disk copied and its guest saved with --control's
#             `migrate file:`; A resumes and runs on (a new tick, a file written), then powers off. Two fresh
#             kvmhost-run --incoming file: (B, C), each on its own copy of the disk as it was at the snapshot,
#             restore the same file: the counter goes on from the tick after the saved one, the file written
#             before is there, a new file is written, the network works; a file B wrote is not on C's disk.
#   unix      A runs; a file is written; the guest migrates live over a Unix socket to B (a second kvmhost-run,
#             on a second TAP that takes over the route, same MAC), which runs it on: no tick is lost or
#             repeated, the gap at the switch is within the downtime (the source's, from its pause to B's
#             confirmation, which A prints as it ends, KVMHOST_MIGRATION_STATS set; B's own starts later, at the state) plus the counter's own
#             jitter,
#             the file written before is there, one more is written, the network works; then it migrates back
#             to a third process (C, on the first TAP) the same way, which checks all the files and ends it.
#   tcp       the same over TCP (tcp:127.0.0.1:PORT) in one network namespace: two would need veth, and L1's
#             image has only the kvm_amd and tun modules (tests/lab/run-lab).
# Every kvmhost-run must end with 0 (migrated away, or the guest's poweroff).
# Usage: migrate.sh snapshot|unix|tcp [TIMEOUT [TRANSPORT [live|stopped|verify [APPEND [CPUS]]]]]   (seconds for each wait,
# default 90; the virtio transport, default mmio; "stopped": unix with the guest paused (`stop`) before each
# migrate, which the library then sends in one pass: stop-and-copy through the live protocol; "verify": live with
# KVMHOST_MIGRATION_VERIFY=1, the library's check that no page escaped the pre-copy; APPEND: more words for the
# guest's kernel command line, separated by commas, "-" none; CPUS: the guest's vCPUs, default 1)
mode=${1:-unix} tmo=${2:-90} transport=${3:-mmio} how=${4:-live} append=${5:--} cpus=${6:-1}
[ "$append" = - ] && append=
append=$(echo "$append" | tr , ' ') # words separated by commas in tests/lab/cases.list
verify=0
[ "$how" = verify ] && verify=1 how=live # live, each source checking that no page escaped the pre-copy
if [ -z "${MIGRATE_NETNS:-}" ]; then
	MIGRATE_NETNS=1 exec unshare -n sh "$0" "$@"
fi
d=/tmp/migrate-$mode
rm -rf "$d"
mkdir -p "$d"
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
fails=0
ok() { echo "migrate-$mode: ok: $*"; }
bad() { echo "migrate-$mode: FAIL: $*"; fails=$((fails + 1)); }
t0=$(uptime_s)

# Two TAPs with the same MAC and 10.0.2.1/32 each: the route to the guest (10.0.2.15/32) says which one is its.
ip link set lo up
for t in tap0 tap1; do
	if ! tunctl -t $t >"$d/tunctl.out" 2>&1; then
		echo "migrate-$mode: FAIL: tunctl -t $t: $(cat "$d/tunctl.out")"
		exit 1
	fi
done
for t in tap0 tap1; do
	ip link set $t address 02:00:0a:00:02:01
	ip addr add 10.0.2.1/32 dev $t
	ip link set $t up
done
route_to() { ip route replace 10.0.2.15/32 dev "$1"; }
route_to tap0
cp /lab/l2/disk.ext4 "$d/disk.ext4" || exit 1

cmdline="console=ttyS0 panic=0 quiet kvmhost.test=migrate_ticks${append:+ $append}"
base="--kernel /lab/l2/bzImage --initrd /lab/l2/initramfs.cpio.gz --mem 256M --cpus $cpus --transport $transport --console"

# vm NAME FD TAP DISK [OPTIONS]: kvmhost-run-static in the background; hvc0's input is the FIFO NAME.in, held
# open here on FD (so that it never ends), its output NAME.hvc, COM1 NAME.serial, QMP NAME.sock.
vm() {
	name=$1 fd=$2 tap=$3 disk=$4
	shift 4
	mkfifo "$d/$name.in"
	eval "exec $fd<>\"$d/$name.in\""
	: >"$d/$name.hvc"
	KVMHOST_MIGRATION_VERIFY=$verify KVMHOST_MIGRATION_STATS=1 kvmhost-run-static $base --net tap=$tap --disk "$disk" --serial "file:$d/$name.serial" \
		--control "$d/$name.sock" "$@" --cmdline "$cmdline" <"$d/$name.in" >"$d/$name.hvc" 2>"$d/$name.err" &
	eval "pid_$name=$!"
	echo "migrate-$mode: $name: kvmhost-run-static (pid $!) on $tap, $disk $*"
	i=0
	while [ $i -lt 100 ] && [ ! -S "$d/$name.sock" ]; do sleep 0.1; i=$((i + 1)); done
}
send() { eval "echo \"\$2\" >&$(eval echo \$fd_$1)"; } # NAME LINE
# wait_for NAME PATTERN: NAME's hvc0 output gets a line matching PATTERN (grep -E) within $tmo s
wait_for() {
	i=0
	while ! grep -q -E "$2" "$d/$1.hvc" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt $((tmo * 5)) ] || ! kill -0 "$(eval echo \$pid_$1)" 2>/dev/null; then
			grep -q -E "$2" "$d/$1.hvc" 2>/dev/null && return 0
			return 1
		fi
		sleep 0.2
	done
}
ask() { # NAME COMMAND ANSWER-PATTERN: send a command, wait for the answer (a line after those there now)
	before=$(wc -l <"$d/$1.hvc")
	send "$1" "$2"
	i=0
	while ! tail -n +$((before + 1)) "$d/$1.hvc" | grep -q -E "^(WROTE|CHECKED|PINGED|ENDED|UNKNOWN)"; do
		i=$((i + 1))
		[ $i -gt $((tmo * 5)) ] && { bad "$1: no answer to '$2'"; give_up; }
		sleep 0.2
	done
	answer=$(tail -n +$((before + 1)) "$d/$1.hvc" | grep -E "^(WROTE|CHECKED|PINGED|ENDED|UNKNOWN)" | head -n 1 | tr -d '\r')
	if echo "$answer" | grep -q -E "$3"; then ok "$1: $2: $answer"; else bad "$1: $2: '$answer', want /$3/"; fi
}
q() { timeout 20 kvmhostctl-static --compact "$d/$1.sock" "$2" ${3:+"$3"} 2>&1; } # NAME COMMAND [ARGS]
ended() { # NAME WANT: NAME's kvmhost-run ends within $tmo s with status WANT
	p=$(eval echo \$pid_$1)
	i=0
	while [ $i -lt $((tmo * 5)) ] && kill -0 "$p" 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
	kill -9 "$p" 2>/dev/null
	wait "$p"
	rc=$?
	if [ "$rc" = "$2" ]; then ok "$1: kvmhost-run ended with $rc"; else bad "$1: kvmhost-run ended with $rc, want $2: $(cat "$d/$1.err")"; fi
}
ticks() { sed -n 's/^TICK n=\([0-9]*\) up=\([0-9.]*\).*/\1 \2/p' "$d/$1.hvc"; } # NAME: "n up" per tick
last_tick() { ticks "$1" | tail -n 1 | cut -d' ' -f1; }
first_tick() { ticks "$1" | head -n 1 | cut -d' ' -f1; }
wait_migration() { # NAME: poll query-migrate until it ends; print the status
	i=0
	while [ $i -lt $((tmo * 5)) ]; do
		s=$(q "$1" query-migrate | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')
		case $s in completed | failed | cancelled) echo "$s"; return ;; esac
		sleep 0.2
		i=$((i + 1))
	done
	echo "timeout-$s"
}
report() {
	for f in "$d"/*.sock; do
		[ -S "$f" ] || continue
		n=${f##*/}
		echo "migrate-$mode: ${n%.sock}: $(q "${n%.sock}" query-status) $(q "${n%.sock}" query-migrate | cut -c1-300)"
	done
	for f in "$d"/*.hvc; do
		n=${f##*/}
		echo "migrate-$mode: ${n%.hvc}: $(ticks "${n%.hvc}" | wc -l) ticks, $(first_tick "${n%.hvc}")..$(last_tick "${n%.hvc}"); last lines:"
		grep -v '^TICK' "$f" | tail -n 5 | sed 's/^/  hvc0| /'
		tail -n 15 "${f%.hvc}.serial" 2>/dev/null | tr -d '\r' | sed 's/^/  ttyS0| /'
		[ -s "${f%.hvc}.err" ] && sed 's/^/  stderr| /' "${f%.hvc}.err"
	done
}
give_up() { # the rest cannot work: say what is known, stop the VMs
	echo "migrate-$mode: giving up after $fails failed check(s)"
	report
	for p in $pid_a $pid_b $pid_c; do kill -9 "$p" 2>/dev/null; done
	exit 1
}
fd_a=5 fd_b=6 fd_c=7 pid_a="" pid_b="" pid_c=""

# ---- A boots ----
vm a $fd_a tap0 "$d/disk.ext4"
if ! wait_for a '^TICK n=[0-9]+'; then
	bad "a: the guest's counter never started"
	report
	exit 1
fi
ok "a: the guest runs its counter ($(since "$t0" "$(uptime_s)") s after the start, L1 clock)"
ask a "write before" "^WROTE before"
ask a ping "^PINGED ok"

if [ "$mode" = snapshot ]; then
	q a stop >/dev/null
	sleep 0.5 # what the console had queued comes out
	saved=$(last_tick a)
	cp "$d/disk.ext4" "$d/disk.snap"
	ts=$(uptime_s)
	r=$(q a migrate "{\"uri\": \"file:$d/snapshot\"}")
	s=$(wait_migration a)
	info=$(q a query-migrate)
	[ "$s" = completed ] && ok "a: snapshot at tick $saved: $(wc -c <"$d/snapshot") bytes in $(since "$ts" "$(uptime_s)") s" ||
		bad "a: migrate file: $r, then $s: $info"
	q a cont >/dev/null
	wait_for a "^TICK n=$((saved + 3)) " && ok "a runs on after the snapshot" || bad "a did not run on after the snapshot"
	ask a "write source-after" "^WROTE source-after"
	ask a end "^ENDED"
	ended a 0
	route_to tap0
	for name in b c; do
		cp "$d/disk.snap" "$d/disk.$name"
		tr=$(uptime_s)
		vm $name "$(eval echo \$fd_$name)" tap0 "$d/disk.$name" --incoming "file:$d/snapshot"
		if ! wait_for $name '^TICK n=[0-9]+'; then
			bad "$name: no tick after --incoming file:"
			give_up
		fi
		first=$(first_tick $name)
		[ "$first" = $((saved + 1)) ] && ok "$name: restored in $(since "$tr" "$(uptime_s)") s, the counter goes on: tick $first after $saved" ||
			bad "$name: the first tick is $first, want $((saved + 1))"
		ask $name "check before" "^CHECKED ok"
		ask $name "check source-after" "^CHECKED missing source-after" # the disk as it was at the snapshot
		[ $name = c ] && ask c "check from-b" "^CHECKED missing from-b" # a clone of its own
		ask $name "write from-$name" "^WROTE from-$name"
		ask $name ping "^PINGED ok"
		ask $name end "^ENDED"
		ended $name 0
	done
else
	# ---- live over a Unix socket (tcp: over TCP to 127.0.0.1): A -> B (tap1) -> C (tap0) ----
	hop() { # FROM TO TAP
		from=$1 to=$2 tap=$3
		if [ "$mode" = tcp ]; then
			port=$((4440 + $(eval echo \$fd_$to)))
			uri=tcp:127.0.0.1:$port
		else
			uri=unix:$d/$to.mig
		fi
		vm "$to" "$(eval echo \$fd_$to)" "$tap" "$d/disk.ext4" --incoming "$uri"
		s=$(q "$to" query-status)
		echo "$s" | grep -q '"inmigrate"' && ok "$to: waits for the guest ($s)" || bad "$to: query-status: $s"
		th=$(uptime_s)
		[ "$how" = stopped ] && q "$from" stop >/dev/null
		r=$(q "$from" migrate "{\"uri\": \"$uri\"}")
		echo "$r" | grep -q '"return": {}' || bad "$from: migrate: $r"
		ended "$from" 0
		route_to "$tap"
		info=$(q "$to" query-migrate)
		dt=$(echo "$info" | sed -n 's/.*"downtime": \([0-9]*\).*/\1/p')
		bytes=$(echo "$info" | sed -n 's/.*"transferred": \([0-9]*\).*/\1/p')
		# The destination's downtime starts at the state; the source's (its last stderr line) at its pause, so it
		# has the paused memory pass too: the guest's pause is the source's.
		sdt=$(sed -n 's/.*migrated: downtime \([0-9]*\) ms.*/\1/p' "$d/$from.err" | tail -n 1)
		[ -n "$sdt" ] && [ -n "$dt" ] && [ "$sdt" -gt "$dt" ] && dt=$sdt
		echo "$info" | grep -q '"status": "completed"' && ok "$from -> $to: completed in $(since "$th" "$(uptime_s)") s, downtime ${dt} ms, ${bytes} bytes ($from: $(sed -n 's/.*migrated: //p' "$d/$from.err" | tail -n 1))" ||
			bad "$to: query-migrate: $info"
		wait_for "$to" '^TICK n=[0-9]+' || { bad "$to: no tick after the migration"; give_up; }
		last=$(last_tick "$from") first=$(first_tick "$to")
		[ "$first" = $((last + 1)) ] && ok "$to: the counter goes on: tick $first after $last" || bad "$to: first tick $first after $last: lost or repeated ticks"
		wait_for "$to" "^TICK n=$((first + 5)) " || bad "$to: fewer than 6 ticks after the migration"
		# The gap in the guest's own clock at the switch, against the downtime and the largest gap on the source
		lu=$(ticks "$from" | tail -n 1 | cut -d' ' -f2) fu=$(ticks "$to" | head -n 1 | cut -d' ' -f2)
		gap=$(awk -v a="$lu" -v b="$fu" 'BEGIN { if (a != "" && b != "") printf "%.2f", b - a; else print "unknown" }')
		jitter=$(ticks "$from" | awk 'NR > 1 && $2 - p > m { m = $2 - p } { p = $2 } END { printf "%.2f", m }')
		# the guest's tick intervals (s) before and after the switch: the last 5 on the source, the first 5 here
		before_s=$(ticks "$from" | tail -n 6 | awk 'NR > 1 { printf "%s%.2f", s, $2 - p; s = "," } { p = $2 }')
		after_s=$(ticks "$to" | head -n 6 | awk 'NR > 1 { printf "%s%.2f", s, $2 - p; s = "," } { p = $2 }')
		after_max=$(ticks "$to" | head -n 6 | awk 'NR > 1 && $2 - p > m { m = $2 - p } { p = $2 } END { printf "%.2f", m }')
		echo "migrate-$mode: $from -> $to: tick intervals (s) before the switch $before_s, after it $after_s"
		echo "LAB-TIME migrate mode=$mode how=$how transport=$transport hop=$from-$to downtime_ms=$dt source_downtime_ms=${sdt:-unknown} bytes=$bytes guest_gap_s=$gap source_max_gap_s=$jitter dest_first_max_gap_s=$after_max"
		if [ "$how" = stopped ]; then
			ok "$to: the guest's clock moved $gap s at the switch (it was paused before the migration began)"
		# The interval across the switch is the downtime plus one of the counter's intervals, in two parts: before
		# the pause, on the source (at most its largest interval there), and after it, here, while L1's KVM
		# faults the guest's pages into a new NPT (at most the larger of that and the first five here). Under
		# TCG an interval is 0.05-1 s, so this catches a restart, a clock jump or a stall, not milliseconds.
		elif [ "$gap" != unknown ] && awk -v g="$gap" -v dt="$dt" -v j="$jitter" -v a="$after_max" 'BEGIN { if (a < j) a = j; exit !(g <= dt / 1000 + j + a + 0.1) }'; then
			ok "$to: the guest's clock moved $gap s at the switch (downtime ${dt} ms, its largest interval before ${jitter} s, of the first here ${after_max} s)"
		else
			bad "$to: a gap of $gap s at the switch, beyond the downtime (${dt} ms) and the counter's own intervals (largest before ${jitter} s, of the first here ${after_max} s)"
		fi
	}
	hop a b tap1
	ask b "check before" "^CHECKED ok"
	ask b "write after-b" "^WROTE after-b"
	ask b ping "^PINGED ok"
	hop b c tap0
	ask c "check before after-b" "^CHECKED ok"
	ask c "write after-c" "^WROTE after-c"
	ask c "check before after-b after-c" "^CHECKED ok"
	ask c ping "^PINGED ok"
	ask c end "^ENDED"
	ended c 0
fi
exec 5>&- 6>&- 7>&-
grep -q "KVMHOST-GUEST-RESULT test=migrate_ticks rc=0" "$d"/*.serial && ok "the guest's test ended with 0" || bad "the guest's test did not end with 0"
echo "LAB-TIME migrate mode=$mode total=$(since "$t0" "$(uptime_s)")"
if [ "$fails" -ne 0 ]; then
	echo "migrate-$mode: $fails check(s) failed"
	report
	exit 1
fi
report
echo "migrate-$mode: passed ($(since "$t0" "$(uptime_s)") s, L1 clock)"
