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
		if [ -z "$net_up" ] && [ -e /sys/class/net/eth0 ]; then
			ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && net_up=1
		fi
		if ping -c 1 -W 5 10.0.2.1 >/dev/null 2>&1; then echo "PINGED ok" >/dev/hvc0; else echo "PINGED fail" >/dev/hvc0; fi ;;
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
