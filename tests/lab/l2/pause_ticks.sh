#!/bin/sh
# L2 guest test "pause_ticks", the Linux half of lab test machine/pause_linux (tests/lab/programs/lab_machines.c):
# every 100 ms it prints a counter and the guest's clock on the serial console,
#   KVMHOST-TICK n=<1, 2, 3, ...> up=<seconds of /proc/uptime> [date=<date +%s>, every 10th tick]
# while the host pauses the machine for 5 s and resumes it, until the ACPI power button is pressed (the host's
# kvmhost_machine_request_poweroff()): the button's input device (button.ko, evdev.ko) gives an event, the test
# prints KVMHOST-POWER-BUTTON and ends with 0, and the init powers the guest off. No press within 300 s: exit 1.
ev=
for d in /sys/class/input/event*; do
	[ "$(cat "$d/device/name" 2>/dev/null)" = "Power Button" ] && ev="$ev /dev/input/${d##*/}"
done
if [ -z "$ev" ]; then
	echo "pause_ticks: FAIL: no 'Power Button' input device (input devices:" \
		"$(cat /sys/class/input/*/device/name 2>/dev/null | tr '\n' ',') modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' '))"
	exit 1
fi
echo "KVMHOST-POWER-BUTTON-DEVICES$ev"
for e in $ev; do
	(head -c 24 "$e" >/dev/null && echo "KVMHOST-POWER-BUTTON $e" && : >/tmp/pressed) &
done
n=0
while [ ! -e /tmp/pressed ] && [ "$n" -lt 3000 ]; do
	n=$((n + 1))
	read -r up _ </proc/uptime
	if [ $((n % 10)) -eq 0 ]; then
		echo "KVMHOST-TICK n=$n up=$up date=$(date +%s)"
	else
		echo "KVMHOST-TICK n=$n up=$up"
	fi
	usleep 100000
done
[ -e /tmp/pressed ] || {
	echo "pause_ticks: FAIL: the power button was not pressed within $n ticks"
	exit 1
}
echo "pause_ticks: the power button was pressed after $n ticks"
exit 0
