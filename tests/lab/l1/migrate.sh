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
#   tcp       the same over TCP between two network namespaces, two "hosts" joined by a veth pair (the veth
#             module is in L1's image: tests/lab/run-lab): host A (this script's namespace: tap0, vA 192.168.100.1)
#             runs A and C, host B (a second namespace: tap1, vB 192.168.100.2) runs B; each destination waits on
#             tcp:<its host's vA/vB address>:PORT. 10.0.2.1 is host A's (on tap0); host B forwards between tap1
#             and the veth (proxy ARP for 10.0.2.1 on tap1), and host A's route to the guest goes over the veth
#             while the guest runs on B.
# Options (the 4th argument, words separated by commas, e.g. "live,stream"):
#   stream    a TCP stream from the guest to a listener on this side (busybox nc on 10.0.2.1:5555, host A):
#             started on A, it must grow again after each switch, and at the end (stopped by the guest) the
#             listener must have every line the guest sent, in order, intact: no gap, no duplicate
#             (LAB-TIME migrate-stream ... bytes=...)
#   dirty     a memory-dirtying load in the guest while it migrates (guest command "dirty": 8 MiB rewritten
#             over and over, each pass read back and its md5 compared with its pattern's): each hop's source
#             must report more than one pre-copy pass, and no pass may read back wrong (checked on B and C)
#   same-host unix only: the same-host hand-over, as QEMU's x-ignore-shared: every kvmhost-run has
#             --memory-backend memfd, each source gets migrate-set-capabilities x-ignore-shared before its
#             migrate, and the guest's RAM is passed, not copied: each hop's destination must report only the
#             state sent (query-migrate: no page, normal and duplicate 0, under 1 MiB transferred), and the
#             counter, the files and the network go on as in unix (A -> B -> C: B hands on the memory it got)
# Every kvmhost-run must end with 0 (migrated away, or the guest's poweroff).
# Usage: migrate.sh snapshot|unix|tcp [TIMEOUT [TRANSPORT [live|stopped|verify|same-host[,stream][,dirty] [APPEND [CPUS]]]]]
# (seconds for each wait, default 90; the virtio transport, default mmio; "stopped": unix with the guest paused
# (`stop`) before each migrate, which the library then sends in one pass: stop-and-copy through the live
# protocol; "verify": live with KVMHOST_MIGRATION_VERIFY=1, the library's check that no page escaped the
# pre-copy; stream, dirty: above, not with snapshot; APPEND: more words for the guest's kernel command line,
# separated by commas, "-" none; CPUS: the guest's vCPUs, default 1)
mode=${1:-unix} tmo=${2:-90} transport=${3:-mmio} how=${4:-live} append=${5:--} cpus=${6:-1}
[ "$append" = - ] && append=
append=$(echo "$append" | tr , ' ') # words separated by commas in tests/lab/cases.list
verify=0 stream=0 dirty=0 way=live same_host=0
for w in $(echo "$how" | tr , ' '); do
	case $w in
	live | stopped) way=$w ;;
	same-host) same_host=1 way=live ;; # live, the RAM passed (x-ignore-shared, memfd RAM)
	verify) verify=1 way=live ;; # live, each source checking that no page escaped the pre-copy
	stream) stream=1 ;;
	dirty) dirty=1 ;;
	*) echo "migrate-$mode: FAIL: unknown option '$w' in '$how'"; exit 2 ;;
	esac
done
if [ "$mode" = snapshot ] && [ $((stream + dirty)) -ne 0 ]; then
	echo "migrate-$mode: FAIL: stream and dirty are options of unix and tcp"
	exit 2
fi
if [ "$same_host" = 1 ] && { [ "$mode" != unix ] || [ "$dirty" = 1 ]; }; then
	echo "migrate-$mode: FAIL: same-host is an option of unix, without dirty (nothing is pre-copied)"
	exit 2
fi
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

# Two TAPs with the same MAC: the route to the guest (10.0.2.15/32) says which one is its. unix: both here, with
# 10.0.2.1/32 each. tcp: tap0 (10.0.2.1/32) here, on host A; tap1 on host B, a second network namespace (held by
# a sleeper, entered with nsenter: $inb), joined to this one by veth vA-vB.
ip link set lo up
nsb="" inb="" pid_ns="" pid_l=""
net_fail() { [ -n "$pid_ns" ] && kill "$pid_ns"; exit 1; }
if [ "$mode" = tcp ]; then
	unshare -n sleep 100000 </dev/null >/dev/null 2>&1 & # (its output not the test's: nothing waits for it)
	pid_ns=$! nsb=$!
	i=0
	while [ $i -lt 50 ] && [ "$(readlink /proc/$nsb/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.1; i=$((i + 1)); done
	inb="nsenter -t $nsb -n"
	# busybox's ip takes no "peer name": the kernel names the peer (vethN), renamed and moved to host B
	if ! ip link add vA type veth 2>"$d/veth.out"; then
		echo "migrate-$mode: FAIL: ip link add vA type veth: $(cat "$d/veth.out") (no veth module in L1?)"
		net_fail
	fi
	peer=$(ip -o link | sed -n 's/^[0-9]*: \([^@:]*\)@vA.*/\1/p')
	ip link set "$peer" name vB && ip link set vB netns "$nsb" || { echo "migrate-$mode: FAIL: veth peer '$peer' to host B"; net_fail; }
	ip addr add 192.168.100.1/24 dev vA
	ip link set vA up
	$inb ip link set lo up
	$inb ip addr add 192.168.100.2/24 dev vB
	$inb ip link set vB up
fi
for t in tap0 tap1; do
	ns=
	[ $t = tap1 ] && ns=$inb
	if ! $ns tunctl -t $t >"$d/tunctl.out" 2>&1; then
		echo "migrate-$mode: FAIL: tunctl -t $t: $(cat "$d/tunctl.out")"
		net_fail
	fi
	$ns ip link set $t address 02:00:0a:00:02:01
	[ -z "$ns" ] && ip addr add 10.0.2.1/32 dev $t
	$ns ip link set $t up
done
if [ -n "$inb" ]; then
	# host B: a router between the guest (tap1) and 10.0.2.1 on host A (over the veth)
	$inb ip route add 10.0.2.15/32 dev tap1
	$inb ip route add 10.0.2.1/32 via 192.168.100.1 dev vB
	$inb sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward && echo 1 >/proc/sys/net/ipv4/conf/tap1/proxy_arp &&
		echo 0 >/proc/sys/net/ipv4/neigh/tap1/proxy_delay'
	i=0 # host B reaches host A
	until $inb ping -c 1 -W 2 192.168.100.1 >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 5 ] && { echo "migrate-$mode: FAIL: host B cannot ping host A over the veth"; net_fail; }
	done
	echo "migrate-$mode: host A (192.168.100.1, tap0) and host B (192.168.100.2, tap1) joined by veth vA-vB"
fi
route_to() { # TAP: the guest is on TAP now
	if [ -n "$inb" ] && [ "$1" = tap1 ]; then
		ip route replace 10.0.2.15/32 via 192.168.100.2 dev vA
	else
		ip route replace 10.0.2.15/32 dev "$1"
	fi
}
route_to tap0
cp /lab/l2/disk.ext4 "$d/disk.ext4" || exit 1

cmdline="console=ttyS0 panic=0 quiet kvmhost.test=migrate_ticks${append:+ $append}"
kernel=/lab/l2/bzImage
[ -e /lab/l2/Image ] && kernel=/lab/l2/Image # the arm64 lab's L2 (tests/lab/run-lab build_images_arm64)
base="--kernel $kernel --initrd /lab/l2/initramfs.cpio.gz --mem 256M --cpus $cpus --transport $transport --console"
[ "$same_host" = 1 ] && base="$base --memory-backend memfd"

# vm NAME FD TAP DISK [OPTIONS]: kvmhost-run-static in the background (tcp: on tap1, in host B's namespace);
# hvc0's input is the FIFO NAME.in, held open here on FD (so that it never ends), its output NAME.hvc, COM1
# NAME.serial, QMP NAME.sock.
export KVMHOST_MIGRATION_VERIFY=$verify KVMHOST_MIGRATION_STATS=1
vm() {
	name=$1 fd=$2 tap=$3 disk=$4
	shift 4
	mkfifo "$d/$name.in"
	eval "exec $fd<>\"$d/$name.in\""
	: >"$d/$name.hvc"
	ns=
	[ "$tap" = tap1 ] && ns=$inb # busybox nsenter without -p execs the program: $! is kvmhost-run's
	$ns kvmhost-run-static $base --net tap=$tap --disk "$disk" --serial "file:$d/$name.serial" \
		--control "$d/$name.sock" "$@" --cmdline "$cmdline" <"$d/$name.in" >"$d/$name.hvc" 2>"$d/$name.err" &
	eval "pid_$name=$!"
	echo "migrate-$mode: $name: kvmhost-run-static (pid $!) on $tap${ns:+ (host B)}, $disk $*"
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
answers="(WROTE|CHECKED|PINGED|ENDED|UNKNOWN|STREAM|DIRTYING|DIRTIED)" # the guest's answers begin so
answer_to() { # NAME COMMAND: send a command, wait for the answer (a line after those there now): $answer
	before=$(wc -l <"$d/$1.hvc")
	send "$1" "$2"
	i=0
	while ! tail -n +$((before + 1)) "$d/$1.hvc" | grep -q -E "^$answers"; do
		i=$((i + 1))
		[ $i -gt $((tmo * 5)) ] && { bad "$1: no answer to '$2'"; give_up; }
		sleep 0.2
	done
	answer=$(tail -n +$((before + 1)) "$d/$1.hvc" | grep -E "^$answers" | head -n 1 | tr -d '\r')
}
ask() { # NAME COMMAND ANSWER-PATTERN: answer_to, and the answer must match
	answer_to "$1" "$2"
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
		# (each after the guest's uptime at the tick before it)
		awk '/^TICK/ { up = $3; next } { print "  hvc0| [" up "] " $0 }' "$f" | tail -n 8
		tail -n 15 "${f%.hvc}.serial" 2>/dev/null | tr -d '\r' | sed 's/^/  ttyS0| /'
		[ -s "${f%.hvc}.err" ] && sed 's/^/  stderr| /' "${f%.hvc}.err"
	done
}
give_up() { # the rest cannot work: say what is known, stop the VMs
	echo "migrate-$mode: giving up after $fails failed check(s)"
	report
	for p in $pid_a $pid_b $pid_c $pid_l $pid_ns; do kill -9 "$p" 2>/dev/null; done
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
	# ---- live over a Unix socket (tcp: over TCP, host A -> host B -> host A): A -> B (tap1) -> C (tap0) ----
	lines() { if [ -e "$d/stream.out" ]; then wc -l <"$d/stream.out"; else echo 0; fi; } # the stream's lines so far
	stream_lines() { # the stream's lines that are not its Nth line as the guest wrote it, in order (none: intact)
		awk -v pad=abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu '$0 != sprintf("%08d %s", NR, pad) { print NR ": " $0; if (++n == 3) exit }' "$d/stream.out"
	}
	load_passes() { # NAME N: ask NAME's guest (quietly, every second, up to $tmo s) until its load did N passes: $dp
		i=0
		while :; do
			answer_to "$1" dirty-status
			dp=$(echo "$answer" | sed -n 's/.*passes=\([0-9]*\).*/\1/p')
			dp=${dp:-0}
			[ "$dp" -ge "$2" ] && return
			echo "$answer" | grep -q ' bad=0 ' || return
			i=$((i + 1))
			[ $i -ge "$tmo" ] && return
			sleep 1
		done
	}
	if [ "$stream" = 1 ]; then
		mkfifo "$d/listen.in"
		exec 8<>"$d/listen.in" # its input never ends, so it never shuts its side down
		nc -l -p 5555 <&8 >"$d/stream.out" 2>"$d/stream.err" &
		pid_l=$!
		sleep 0.3
		ask a "stream 5555" "^STREAMING"
		i=0
		while [ "$(lines)" -lt 100 ] && [ $i -lt $((tmo * 5)) ]; do sleep 0.2; i=$((i + 1)); done
		[ "$(lines)" -ge 100 ] && ok "the stream from the guest runs: $(lines) lines" || bad "the stream from the guest: $(lines) lines in $tmo s"
	fi
	if [ "$dirty" = 1 ]; then
		ask a "dirty 8" "^DIRTYING"
		load_passes a 2 # a few passes before the first migration
		[ "$dp" -ge 2 ] && ok "a: the guest dirties 8 MiB: $answer" || bad "a: the dirtying load: $answer"
		dirty_passes=$dp
	fi
	hop() { # FROM TO TAP
		from=$1 to=$2 tap=$3
		if [ "$mode" = tcp ]; then
			port=$((4440 + $(eval echo \$fd_$to)))
			if [ "$tap" = tap1 ]; then uri=tcp:192.168.100.2:$port; else uri=tcp:192.168.100.1:$port; fi # its host's
		else
			uri=unix:$d/$to.mig
		fi
		vm "$to" "$(eval echo \$fd_$to)" "$tap" "$d/disk.ext4" --incoming "$uri"
		s=$(q "$to" query-status)
		echo "$s" | grep -q '"inmigrate"' && ok "$to: waits for the guest ($s)" || bad "$to: query-status: $s"
		th=$(uptime_s)
		[ "$way" = stopped ] && q "$from" stop >/dev/null
		if [ "$same_host" = 1 ]; then
			r=$(q "$from" migrate-set-capabilities '{"capabilities": [{"capability": "x-ignore-shared", "state": true}]}')
			echo "$r" | grep -q '"return": {}' || bad "$from: migrate-set-capabilities x-ignore-shared: $r"
			r=$(q "$from" query-migrate-capabilities)
			echo "$r" | grep -q '{"capability": "x-ignore-shared", "state": true}' && ok "$from: x-ignore-shared on: $r" ||
				bad "$from: query-migrate-capabilities: $r"
		fi
		l_before=$(lines)
		r=$(q "$from" migrate "{\"uri\": \"$uri\"}")
		echo "$r" | grep -q '"return": {}' || bad "$from: migrate: $r"
		ended "$from" 0
		route_to "$tap"
		l_switch=$(lines) tr=$(uptime_s) resumed=
		if [ "$stream" = 1 ]; then # how long until the stream grows again, from the route's switch
			i=0
			while [ "$(lines)" -le "$l_switch" ] && [ $i -lt $((tmo * 10)) ]; do sleep 0.1; i=$((i + 1)); done
			[ "$(lines)" -gt "$l_switch" ] && resumed=$(since "$tr" "$(uptime_s)")
		fi
		passes=$(sed -n 's/.*migrated: .* \([0-9]*\) passes, .*/\1/p' "$d/$from.err" | tail -n 1)
		info=$(q "$to" query-migrate)
		dt=$(echo "$info" | sed -n 's/.*"downtime": \([0-9]*\).*/\1/p')
		bytes=$(echo "$info" | sed -n 's/.*"transferred": \([0-9]*\).*/\1/p')
		# The destination's downtime starts at the state; the source's (its last stderr line) at its pause, so it
		# has the paused memory pass too: the guest's pause is the source's.
		sdt=$(sed -n 's/.*migrated: downtime \([0-9]*\) ms.*/\1/p' "$d/$from.err" | tail -n 1)
		[ -n "$sdt" ] && [ -n "$dt" ] && [ "$sdt" -gt "$dt" ] && dt=$sdt
		echo "$info" | grep -q '"status": "completed"' && ok "$from -> $to: completed in $(since "$th" "$(uptime_s)") s, downtime ${dt} ms, ${bytes} bytes ($from: $(sed -n 's/.*migrated: //p' "$d/$from.err" | tail -n 1))" ||
			bad "$to: query-migrate: $info"
		if [ "$same_host" = 1 ]; then # only the state went: no page (not even a zero range), well under 1 MiB
			echo "$info" | grep -q '"normal": 0, ' && echo "$info" | grep -q '"duplicate": 0, ' &&
				[ -n "$bytes" ] && [ "$bytes" -gt 0 ] && [ "$bytes" -lt 1048576 ] &&
				ok "$from -> $to: same-host: only the state was sent, $bytes bytes (the 256 MiB RAM passed as fds)" ||
				bad "$from -> $to: same-host: want no page and under 1 MiB sent, got $bytes bytes: $info"
		fi
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
		echo "LAB-TIME migrate mode=$mode how=$how transport=$transport hop=$from-$to downtime_ms=$dt source_downtime_ms=${sdt:-unknown} bytes=$bytes passes=${passes:-unknown} guest_gap_s=$gap source_max_gap_s=$jitter dest_first_max_gap_s=$after_max${resumed:+ stream_resumed_s=$resumed}"
		if [ "$way" = stopped ]; then
			ok "$to: the guest's clock moved $gap s at the switch (it was paused before the migration began)"
		# The interval across the switch is the downtime plus one of the counter's intervals, in two parts: before
		# the pause, on the source (at most its largest interval there), and after it, here, while L1's KVM
		# faults the guest's pages into a new NPT (at most the larger of that and the first five here). Under
		# TCG on a shared host an interval is 0.05-1 s and the switch's own costs up to ~0.4 s beyond the
		# downtime were measured (CI on 2026-12-07: a gap of 0.42 s with 36 ms downtime and 0.12 s intervals),
		# so this is no timing test: it catches a clock that goes back, a restart, or a jump or stall of a
		# second or more. The gap itself goes to LAB-TIME for the benchmarks.
		elif [ "$gap" != unknown ] && awk -v g="$gap" -v dt="$dt" -v j="$jitter" -v a="$after_max" 'BEGIN { if (a < j) a = j; exit !(g >= 0 && g <= dt / 1000 + 2 * a + 1.0) }'; then
			ok "$to: the guest's clock moved $gap s at the switch (downtime ${dt} ms, its largest interval before ${jitter} s, of the first here ${after_max} s)"
		else
			bad "$to: a gap of $gap s at the switch, beyond the downtime (${dt} ms) and the counter's own intervals (largest before ${jitter} s, of the first here ${after_max} s)"
		fi
		if [ "$stream" = 1 ]; then # the stream goes on: 50 more lines (about 0.1-0.5 s of it) after the switch
			i=0
			while [ "$(lines)" -lt $((l_switch + 50)) ] && [ $i -lt $((tmo * 5)) ]; do sleep 0.2; i=$((i + 1)); done
			[ "$(lines)" -ge $((l_switch + 50)) ] && [ -n "$resumed" ] &&
				ok "$to: the TCP stream goes on: $l_before lines before the migrate, $l_switch at the route's switch, growing again ${resumed} s after it, $(lines) now" ||
				bad "$to: the TCP stream stalled: $l_before lines before the migrate, $l_switch at the route's switch, $(lines) $tmo s later"
			[ -z "$(stream_lines)" ] || bad "$to: the stream's lines are not the guest's in order: $(stream_lines)"
		fi
		if [ "$dirty" = 1 ]; then
			[ "${passes:-0}" -gt 1 ] && ok "$from -> $to: pre-copy under the dirtying load took $passes passes" ||
				bad "$from -> $to: pre-copy under the dirtying load took ${passes:-unknown} passes, want more than 1"
			# passes that began on the source read back here: they are the ones that check the migration
			load_passes "$to" $((dirty_passes + 2))
			echo "$answer" | grep -q -E "^DIRTYING passes=[0-9]+ bad=0 " && [ "$dp" -ge $((dirty_passes + 2)) ] &&
				ok "$to: the load goes on, every pass read back as written: $answer (pass $dirty_passes or later at the switch)" ||
				bad "$to: the load: $answer, pass $dirty_passes or later at the switch"
			dirty_passes=$dp
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
	if [ "$dirty" = 1 ]; then
		ts=$(uptime_s)
		ask c dirty-end "^DIRTIED passes=[0-9]+ bad=0 "
		echo "migrate-$mode: c: the load stopped in $(since "$ts" "$(uptime_s)") s"
	fi
	if [ "$stream" = 1 ]; then # the guest stops the stream and closes; every line it sent must be here, once
		ask c stream-end "^STREAMED n=[0-9]+"
		n=$(echo "$answer" | sed -n 's/^STREAMED n=\([0-9]*\).*/\1/p')
		i=0
		while kill -0 "$pid_l" 2>/dev/null && [ $i -lt $((tmo * 5)) ]; do sleep 0.2; i=$((i + 1)); done
		kill -0 "$pid_l" 2>/dev/null && bad "the stream's listener did not see the end of the stream in $tmo s"
		kill -9 "$pid_l" 2>/dev/null
		wait "$pid_l"
		got=$(lines) sb=$(wc -c <"$d/stream.out") err=$(stream_lines)
		[ -n "$n" ] && [ "$got" = "$n" ] && [ -z "$err" ] &&
			ok "the TCP stream came through both migrations intact: lines 1..$n, $sb bytes, no gap, no duplicate" ||
			bad "the TCP stream: $got lines ($sb bytes) for the guest's ${n:-unknown}${err:+; not in order: $err}"
		echo "LAB-TIME migrate-stream mode=$mode lines=$got bytes=$sb"
		exec 8>&-
	fi
	ask c end "^ENDED"
	ended c 0
fi
exec 5>&- 6>&- 7>&-
[ -n "$pid_ns" ] && kill "$pid_ns" 2>/dev/null
grep -q "KVMHOST-GUEST-RESULT test=migrate_ticks rc=0" "$d"/*.serial && ok "the guest's test ended with 0" || bad "the guest's test did not end with 0"
echo "LAB-TIME migrate mode=$mode total=$(since "$t0" "$(uptime_s)")"
if [ "$fails" -ne 0 ]; then
	echo "migrate-$mode: $fails check(s) failed"
	report
	exit 1
fi
report
echo "migrate-$mode: passed ($(since "$t0" "$(uptime_s)") s, L1 clock)"
