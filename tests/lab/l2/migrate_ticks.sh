#!/bin/sh
# shellcheck disable=SC3045 # busybox sh has read -t
# L2 guest test "migrate_ticks", the guest half of lab tests migrate/snapshot and migrate/unix
# (tests/lab/l1/migrate.sh): the guest moves between kvmhost-run processes while this runs. On hvc0
# (virtio-console) it prints a counter about every 10 ms,
#   TICK n=<1, 2, 3, ...> up=<seconds of /proc/uptime>
# and answers the commands that come on hvc0's input, one per line:
#   write NAME    write /mnt/NAME (vda, ext4) with a line naming it, sync: "WROTE NAME"
#   check NAME..  "CHECKED ok", or "CHECKED missing NAME.." (those not there with their line)
#   ping          set eth0 up (10.0.2.15/24, once) and ping 10.0.2.1: "PINGED ok" or "PINGED fail"
#   stream PORT   eth0 up, then a TCP stream to 10.0.2.1:PORT (busybox nc) that runs on in the background: one
#                 line every 2 ms, "<n as %08d> <the same 57 characters>", n = 1, 2, 3, ...: "STREAMING", or
#                 "STREAM fail" when nc did not connect
#   stream-end    the stream's sender stops after its current line and closes: "STREAMED n=<its last line>"
#   dirty MIB     a memory-dirtying load in the background (niced): over and over, pass k writes MIB MiB of
#                 "dirty pass k" lines over /tmp/dirty.img (the same pages each time: conv=notrunc) and then
#                 compares the file's md5 with that of the pattern it wrote: "DIRTYING"
#   dirty-status  "DIRTYING passes=K bad=B (...)" (B: passes whose file did not read back as written; then the
#                 guest uptime at the end of pass K, now, and whether the load still runs)
#   dirty-end     the load stops after its current pass: "DIRTIED passes=K bad=B (...)"
#   end           stop the counter and end with 0 (the init powers the guest off)
# No command within 600 s: exit 1.
if [ ! -c /dev/hvc0 ]; then
	echo "migrate_ticks: FAIL: no /dev/hvc0"
	exit 1
fi
stty -echo </dev/hvc0 2>/dev/null # the commands are not echoed into the counter's output
(
	n=0
	while [ ! -e /tmp/end ]; do
		n=$((n + 1))
		read -r up _ </proc/uptime
		echo "TICK n=$n up=$up"
		usleep 10000
	done
) >/dev/hvc0 &
ticker=$!
echo "migrate_ticks: the counter runs (pid $ticker); waiting for commands on hvc0"
net_up=
eth0_up() {
	if [ -z "$net_up" ] && [ -e /sys/class/net/eth0 ]; then
		ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && net_up=1
	fi
}
pad=abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu
stream_sender() { # the stream's lines on stdout until /tmp/stream-end; the last n in /tmp/stream-last
	n=0
	while [ ! -e /tmp/stream-end ]; do
		n=$((n + 1))
		printf '%08d %s\n' "$n" "$pad"
		usleep 2000
	done
	echo "$n" >/tmp/stream-last
}
dirty_load() { # MIB: the dirtying load; "K B UP" (passes, bad ones, uptime) in /tmp/dirty-count, at the end
	# /tmp/dirty-done. /tmp/dirty-end stops it between two steps: a pass cut short does not count.
	bytes=$(($1 * 1048576)) k=0 bad=0
	while [ ! -e /tmp/dirty-end ]; do
		yes "dirty pass $((k + 1))" | head -c "$bytes" | dd of=/tmp/dirty.img conv=notrunc bs=65536 2>/dev/null
		[ -e /tmp/dirty-end ] && break
		want=$(yes "dirty pass $((k + 1))" | head -c "$bytes" | md5sum)
		[ -e /tmp/dirty-end ] && break
		got=$(md5sum </tmp/dirty.img)
		k=$((k + 1))
		[ "$got" = "$want" ] || bad=$((bad + 1))
		read -r up _ </proc/uptime
		echo "$k $bad $up" >/tmp/dirty-count
	done
	cp /tmp/dirty-count /tmp/dirty-done.tmp && mv /tmp/dirty-done.tmp /tmp/dirty-done
}
wait_file() { # FILE SECONDS: FILE exists within SECONDS
	i=0
	while [ ! -e "$1" ] && [ $i -lt $(($2 * 10)) ]; do usleep 100000; i=$((i + 1)); done
	[ -e "$1" ]
}
exec 3</dev/hvc0
while read -r -t 600 cmd args <&3; do
	case $cmd in
	write)
		echo "file $args written at $(cat /proc/uptime)" >"/mnt/$args" && sync
		echo "WROTE $args" >/dev/hvc0 ;;
	check)
		missing=
		for f in $args; do grep -q "^file $f written" "/mnt/$f" 2>/dev/null || missing="$missing $f"; done
		if [ -z "$missing" ]; then echo "CHECKED ok" >/dev/hvc0; else echo "CHECKED missing$missing" >/dev/hvc0; fi ;;
	ping)
		eth0_up
		if ping -c 1 -W 5 10.0.2.1 >/dev/null 2>&1; then echo "PINGED ok" >/dev/hvc0; else echo "PINGED fail" >/dev/hvc0; fi ;;
	stream)
		eth0_up
		rm -f /tmp/stream-end /tmp/stream-last
		stream_sender | nc 10.0.2.1 "$args" >/dev/null 2>/tmp/stream.err &
		streamer=$!
		sleep 1
		if kill -0 "$streamer" 2>/dev/null; then echo "STREAMING" >/dev/hvc0; else echo "STREAM fail: $(cat /tmp/stream.err)" >/dev/hvc0; fi ;;
	stream-end)
		: >/tmp/stream-end
		if wait_file /tmp/stream-last 20; then echo "STREAMED n=$(cat /tmp/stream-last)" >/dev/hvc0; else echo "STREAMED n=none" >/dev/hvc0; fi ;;
	dirty)
		rm -f /tmp/dirty-end /tmp/dirty-done
		echo "0 0 -" >/tmp/dirty-count
		dirty_load "$args" &
		loader=$!
		renice -n 10 -p $loader >/dev/null 2>&1
		echo "DIRTYING" >/dev/hvc0 ;;
	dirty-status)
		read -r k bad last </tmp/dirty-count
		read -r up _ </proc/uptime
		alive=running
		kill -0 "$loader" 2>/dev/null || alive=gone
		echo "DIRTYING passes=$k bad=$bad (the last at up=$last, now $up, the load $alive)" >/dev/hvc0 ;;
	dirty-end)
		: >/tmp/dirty-end
		if wait_file /tmp/dirty-done 30; then
			read -r k bad last </tmp/dirty-done
			echo "DIRTIED passes=$k bad=$bad (the last at up=$last)" >/dev/hvc0
		else
			read -r k bad last </tmp/dirty-count
			echo "DIRTIED passes=unknown bad=unknown: the load did not stop within 30 s (pass $k at up=$last)" >/dev/hvc0
		fi ;;
	end)
		: >/tmp/end
		wait "$ticker"
		echo "ENDED" >/dev/hvc0
		echo "migrate_ticks: ended by the host"
		exit 0 ;;
	"") ;;
	*) echo "UNKNOWN $cmd" >/dev/hvc0 ;;
	esac
done
echo "migrate_ticks: FAIL: no command for 600 s (or hvc0's input ended)"
exit 1
