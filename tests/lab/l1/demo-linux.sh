#!/bin/sh
# shellcheck disable=SC1007 # "a= b=" is meant
# Inside L1: the demo's Linux guest (lab test demo/linux; scripts/demo.sh shows it where the host has no usable
# /dev/kvm). The project's own VMM, examples/kvmhost-run (kvmhost-run-static), boots the lab's L2 guest (Debian's
# bzImage as shipped, the lab's initramfs) on L1's kvm_amd with, on virtio-pci, a virtio disk (a copy of the lab's
# ext4 disk), virtio-net on a TAP in a network namespace of this test's own (10.0.2.1 here, 10.0.2.15 in the
# guest, as in virtio-devices.sh) and a virtio-console on kvmhost-run's stdout. The guest runs its test "demo"
# (tests/lab/l2/demo.sh): a few commands, whose transcript comes out on hvc0, and a ping of this side.
# Both consoles are streamed as they come: the serial one (kernel and init) as "ttyS0| ", hvc0 as "hvc0| ".
# Passes when the guest's test passed, its transcript came through hvc0, the ping got replies and the
# guest's poweroff ended kvmhost-run with status 0.
# Usage: demo-linux.sh [TIMEOUT]   (seconds before kvmhost-run is killed, default 150)
tmo=${1:-150}
# The TAP and its address live in a network namespace of this test's own: re-run this script inside one.
if [ -z "${DEMO_LINUX_NETNS:-}" ]; then
	DEMO_LINUX_NETNS=1 exec unshare -n sh "$0" "$@"
fi
d=/tmp/demo-linux
rm -rf "$d"
mkdir -p "$d"
cr=$(printf '\r')
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

ip link set lo up
if ! tunctl -t tap0 >"$d/tunctl.out" 2>&1; then
	echo "demo-linux: FAIL: tunctl -t tap0: $(cat "$d/tunctl.out") (/dev/net/tun: $(ls -l /dev/net/tun 2>&1))"
	exit 1
fi
ip addr add 10.0.2.1/24 dev tap0
ip link set tap0 up
cp /lab/l2/disk.ext4 "$d/disk.ext4" || exit 1
mkfifo "$d/in.fifo" "$d/serial.fifo"
exec 3<>"$d/in.fifo" # hvc0's input: held open, so that kvmhost-run never sees end of file there
# The serial console goes to a FIFO (kvmhost-run's --serial file:) read as it comes. This script holds it open
# too, so that neither side's open blocks (kvmhost-run may fail before it opens it); the reader sees its end
# once kvmhost-run has exited and fd 4 is closed below.
exec 4<>"$d/serial.fifo"
: >"$d/serial.log"
: >"$d/hvc.log"

cmdline="console=ttyS0 panic=0 quiet kvmhost.test=demo"
opts="--kernel /lab/l2/bzImage --initrd /lab/l2/initramfs.cpio.gz --mem 256M --transport pci"
opts="$opts --disk $d/disk.ext4 --net tap=tap0 --console --serial file:$d/serial.fifo"
echo "demo-linux: kvmhost-run-static $opts --cmdline \"$cmdline\" (tap0 is 10.0.2.1/24 here)"
# shellcheck disable=SC2086 # $opts is words without blanks inside them
set -- kvmhost-run-static $opts --cmdline "$cmdline"

# The serial console: the init's progress; a panic ends the VMM at once.
while IFS= read -r line; do
	line=${line%"$cr"}
	echo "ttyS0| $line"
	echo "$line" >>"$d/serial.log"
	case $line in
	*KVMHOST-GUEST-INIT*) uptime_s >"$d/init.at" ;;
	*"end Kernel panic"*)
		echo "demo-linux: the guest kernel panicked: stopping kvmhost-run"
		kill -9 "$(cat "$d/vm.pid")" ;;
	esac
done <"$d/serial.fifo" 4>&- &
t0=$(uptime_s)
{
	timeout -s KILL "$tmo" "$@" <&3 2>"$d/vmm.err" 4>&- &
	echo $! >"$d/vm.pid"
	wait $!
	echo $? >"$d/vm.rc"
} 4>&- | while IFS= read -r line; do
	line=${line%"$cr"}
	echo "hvc0| $line"
	echo "$line" >>"$d/hvc.log"
done
t1=$(uptime_s)
exec 3>&- 4>&-
wait # the serial console's reader, at the FIFO's end
rc=$(cat "$d/vm.rc" 2>/dev/null || echo '?')
[ -s "$d/vmm.err" ] && sed 's/^/kvmhost-run stderr| /' "$d/vmm.err"
to_init=never
[ -s "$d/init.at" ] && to_init=$(since "$t0" "$(cat "$d/init.at")")
echo "LAB-TIME demo-linux to_init=$to_init total=$(since "$t0" "$t1") rc=$rc"

fails=0
check() { # WHAT CONDITION...
	what=$1
	shift
	if "$@"; then echo "demo-linux: ok: $what"; else echo "demo-linux: FAIL: $what"; fails=$((fails + 1)); fi
}
check "the guest reached its init (${to_init} s after kvmhost-run started, L1 clock)" [ "$to_init" != never ]
check "the guest's test passed" grep -q "KVMHOST-GUEST-RESULT test=demo rc=0" "$d/serial.log"
check "its transcript came out on the virtio console (hvc0)" grep -q '^\$ uname -a' "$d/hvc.log"
check "the guest pinged 10.0.2.1 over virtio-net and got replies" grep -q -E 'packets transmitted, [1-9][0-9]* packets received' "$d/hvc.log"
check "the guest's poweroff ended kvmhost-run with status $rc (want 0)" [ "$rc" = 0 ]
if [ "$fails" -ne 0 ]; then
	echo "demo-linux: $fails check(s) failed; the serial console's last lines:"
	tail -n 20 "$d/serial.log" | tr -d '\r' | sed 's/^/  | /'
	exit 1
fi
echo "demo-linux: Debian's kernel ran on kvmhost-run with a virtio disk, network and console ($(since "$t0" "$t1") s, L1 clock)"
