#!/bin/sh
# L2 guest test "virtio_devices", for the lab's virtio device tests (tests/lab/l1/virtio-devices.sh): Linux's own
# virtio drivers (Debian's modules, loaded by the guest's init) drive the VMM's virtio devices. The VMM gives the
# guest, in this order:
#   vda  ext4 (a copy of the lab's L2 disk; init mounts it on /mnt), read-write
#   vdb  a raw 8 MiB disk, read-write
#   vdc  a raw 1 MiB disk, read-only
#   eth0 virtio-net on a TAP whose host side is 10.0.2.1/24, listening on TCP port 5000
#   hvc0 virtio-console, whose host side is the L1 script
#   a virtio-rng
# Kernel command line (kvmhost.*, read from /proc/cmdline):
#   kvmhost.phase=write    boot 1: checks the devices, writes files and patterns, fsyncs; ends by rebooting
#   kvmhost.phase=verify   boot 2 (same disk images): reads everything back; ends by powering off
#   kvmhost.transport=mmio|pci   the transport every virtio device must be on
#   kvmhost.mac=MAC        the MAC address the VMM was given for eth0
# Lines starting KVMHOST-... are read by the L1 script, which checks what only the host can see (the host
# files while the VM runs, the TCP bytes received, the console output) and compares the two boots. Every
# check prints what it saw; the exit status is the number of failed checks here.
# Protocol with the L1 script (which also writes commands into the shell this test starts on hvc0):
#   KVMHOST-HVC-READY          L1 sends a command on hvc0; it touches /tmp/hvc-done
#   KVMHOST-FSYNC-WRITTEN ...  L1 reads its disk images now, then sends "touch /tmp/fsync-checked" on hvc0
#   KVMHOST-NET-LISTENING      L1 connects to port 5001 and sends its bytes
fails=0
ok() { echo "virtio_devices: ok: $*"; }
bad() {
	echo "virtio_devices: FAIL: $*"
	fails=$((fails + 1))
}
param() { # NAME: the value of kvmhost.NAME= on the kernel command line
	for a in $(cat /proc/cmdline); do
		case $a in "kvmhost.$1="*) echo "${a#*=}" && return ;; esac
	done
}
wait_file() { # PATH SECONDS: wait until PATH exists
	n=0
	while [ ! -e "$1" ] && [ "$n" -lt "$2" ]; do sleep 1; n=$((n + 1)); done
	[ -e "$1" ]
}
hex() { head -c 8 /dev/urandom | md5sum | cut -c1-16; }
phase=$(param phase)
transport=$(param transport)
mac=$(param mac)
echo "virtio_devices: phase=$phase transport=$transport mac=$mac"

# --- every virtio device: bound to its driver, on the wanted transport ---------------------------------------------
# Device IDs (virtio spec 5): 1 net, 2 block, 3 console, 4 entropy.
want_ids="0x0001 0x0002 0x0002 0x0002 0x0003 0x0004"
seen_ids=
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d/device" ] || continue
	id=$(cat "$d/device")
	drv=$(basename "$(readlink "$d/driver")" 2>/dev/null)
	path=$(readlink -f "$d")
	tdrv=$(basename "$(readlink -f "$path/../driver")" 2>/dev/null)
	echo "KVMHOST-VIRTIO-DEV $(basename "$d") id=$id driver=${drv:-none} transport=${tdrv:-none} path=$path"
	seen_ids="$seen_ids $id"
	[ -n "$drv" ] || bad "$(basename "$d") (device id $id) has no driver bound"
	[ "$tdrv" = "virtio-$transport" ] || bad "$(basename "$d") (device id $id) is on '${tdrv:-none}', want virtio-$transport"
	if [ "$transport" = pci ]; then
		# The parent is the PCI function; the VMM promises MSI-X (msi_irqs lists the vectors in use).
		n=$(ls "$path/../msi_irqs" 2>/dev/null | wc -l)
		[ "$n" -gt 0 ] || bad "$(basename "$d") (device id $id): its PCI function $(basename "$(dirname "$path")") uses no MSI/MSI-X vectors"
	fi
done
seen_sorted=$(echo "$seen_ids" | tr ' ' '\n' | grep . | sort | tr '\n' ' ')
if [ "$seen_sorted" = "$want_ids " ]; then
	ok "virtio devices: $seen_sorted(net, 3 block, console, rng)"
else
	bad "virtio device IDs seen: '${seen_sorted}', want '$want_ids '"
fi
if [ "$seen_sorted" != "$want_ids " ]; then
	# What the guest found instead: its PCI functions and the kernel's words about PCI, ACPI and virtio.
	for p in /sys/bus/pci/devices/*; do
		[ -e "$p/vendor" ] || continue
		echo "virtio_devices: pci $(basename "$p") $(cat "$p/vendor"):$(cat "$p/device") class $(cat "$p/class")" \
			"driver $(basename "$(readlink "$p/driver")" 2>/dev/null) irq $(cat "$p/irq")"
	done
	dmesg | grep -i -e pci -e virtio -e msi -e mmio -e LNRO -e acpi -e mcfg -e ecam | tail -n 60 | sed 's/^/virtio_devices: dmesg: /'
fi
[ "$transport" = pci ] && grep -i -e msi /proc/interrupts | grep -i virtio | sed 's/^/virtio_devices: interrupts: /'

# --- block devices: which is which ------------------------------------------------------------------------------------
for b in vda vdb vdc; do
	if [ -e "/sys/block/$b" ]; then
		echo "KVMHOST-BLK $b sectors=$(cat /sys/block/$b/size) ro=$(cat /sys/block/$b/ro)"
	else
		bad "no /dev/$b (block devices: $(ls /sys/block | tr '\n' ' '))"
	fi
done
if grep -q '^/dev/vda /mnt ext4 ' /proc/mounts; then
	ok "vda is ext4, mounted on /mnt"
else
	bad "vda is not mounted on /mnt as ext4; /proc/mounts: $(grep /mnt /proc/mounts)"
fi
[ "$(cat /sys/block/vdb/size 2>/dev/null)" = 16384 ] || bad "vdb has $(cat /sys/block/vdb/size 2>/dev/null) sectors, want 16384 (8 MiB)"
[ "$(cat /sys/block/vdc/size 2>/dev/null)" = 2048 ] || bad "vdc has $(cat /sys/block/vdc/size 2>/dev/null) sectors, want 2048 (1 MiB)"
[ "$(cat /sys/block/vda/ro 2>/dev/null)" = 0 ] || bad "vda: /sys/block/vda/ro is $(cat /sys/block/vda/ro 2>/dev/null), want 0"
[ "$(cat /sys/block/vdb/ro 2>/dev/null)" = 0 ] || bad "vdb: /sys/block/vdb/ro is $(cat /sys/block/vdb/ro 2>/dev/null), want 0"

# --- the read-only disk -------------------------------------------------------------------------------------------------
ro=$(cat /sys/block/vdc/ro 2>/dev/null)
if [ "$ro" = 1 ]; then ok "vdc is read-only (/sys/block/vdc/ro = 1)"; else bad "vdc: /sys/block/vdc/ro is '$ro', want 1"; fi
[ -b /dev/vdc ] && echo "KVMHOST-RO-MD5 $(md5sum </dev/vdc | cut -d' ' -f1)"
if [ "$phase" = write ] && [ -b /dev/vdc ]; then
	if dd if=/dev/zero of=/dev/vdc bs=4096 count=1 conv=fsync 2>/tmp/ro.err; then
		bad "a 4 KiB write to the read-only vdc succeeded"
	else
		ok "a write to vdc was refused: $(tr '\n' ' ' </tmp/ro.err)"
	fi
	blockdev --flushbufs /dev/vdc 2>/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	echo "KVMHOST-RO-MD5-AFTER $(md5sum </dev/vdc | cut -d' ' -f1)"
fi

if [ "$phase" = verify ]; then
	# --- boot 2: read back what boot 1 wrote ------------------------------------------------------------------------
	if [ -r /mnt/persist.md5 ]; then
		(cd /mnt/persist && md5sum -c /mnt/persist.md5) >/tmp/md5c.out 2>&1
		rc=$?
		sed 's/^/virtio_devices: md5sum -c: /' /tmp/md5c.out
		if [ $rc -eq 0 ]; then
			ok "the files boot 1 wrote match the md5s it stored"
		else
			bad "the files boot 1 wrote do not match the md5s it stored"
		fi
		(cd /mnt/persist && md5sum small medium large text.txt) | while read -r sum name; do
			echo "KVMHOST-MD5 $name $sum"
		done
	else
		bad "boot 1's /mnt/persist.md5 is not on the disk; /mnt holds: $(ls /mnt | tr '\n' ' ')"
	fi
	echo "KVMHOST-FSYNC-READ ext4=$(grep KVMHOST /mnt/fsync.txt 2>/dev/null) raw=$(dd if=/dev/vdb bs=512 skip=4097 count=1 2>/dev/null | tr -d '\000')"
	echo "KVMHOST-VIRTIO-SUMMARY phase=$phase fails=$fails"
	exit "$fails"
fi

# --- boot 1 ---------------------------------------------------------------------------------------------------------------
# virtio-console: a shell on hvc0; the L1 script sends it a command, whose output it reads on its side.
hvc_ok=
if [ -c /dev/hvc0 ]; then
	rm -f /tmp/hvc-done /tmp/fsync-checked
	setsid sh -c 'exec sh -i </dev/hvc0 >/dev/hvc0 2>&1' &
	sleep 1
	echo "KVMHOST-HVC-READY"
	if wait_file /tmp/hvc-done 60; then
		ok "a command sent on hvc0 ran in the shell there"
		hvc_ok=1
	else
		bad "no command came in on hvc0 within 60 s"
	fi
else
	bad "no /dev/hvc0 (hvc devices: $(echo /dev/hvc*); virtio_console loaded: $(grep -c virtio_console /proc/modules))"
fi

# virtio-rng
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
case $cur in
virtio*) ok "rng_current is $cur (available: $(cat /sys/class/misc/hw_random/rng_available 2>/dev/null))" ;;
*) bad "rng_current is '$cur', want virtio_rng.N (available: $(cat /sys/class/misc/hw_random/rng_available 2>/dev/null))" ;;
esac
n=$(timeout 30 head -c 16384 /dev/hwrng | wc -c)
a=$(timeout 10 head -c 32 /dev/hwrng | md5sum | cut -d' ' -f1)
b=$(timeout 10 head -c 32 /dev/hwrng | md5sum | cut -d' ' -f1)
z=$(head -c 32 /dev/zero | md5sum | cut -d' ' -f1)
if [ "$n" = 16384 ] && [ "$a" != "$b" ] && [ "$a" != "$z" ]; then
	ok "read 16384 bytes from /dev/hwrng; two 32-byte reads differ ($a, $b)"
else
	bad "/dev/hwrng: read $n of 16384 bytes; two 32-byte reads: md5 $a and $b (zeros: $z)"
fi

# ext4 on vda: files that boot 2 reads back
mkdir -p /mnt/persist
head -c 4096 /dev/urandom >/mnt/persist/small
head -c 300000 /dev/urandom >/mnt/persist/medium
head -c 3145728 /dev/urandom >/mnt/persist/large
echo "written by the virtio_devices test, boot 1, $(hex)" >/mnt/persist/text.txt
(cd /mnt/persist && md5sum small medium large text.txt) >/mnt/persist.md5
sync
while read -r sum name; do echo "KVMHOST-MD5 $name $sum"; done </mnt/persist.md5
[ "$(wc -l </mnt/persist.md5)" = 4 ] || bad "md5sum of the written files: $(cat /mnt/persist.md5)"

# fsync: once it returns, the data must be in the host's image files (the L1 script looks while the VM runs).
pe="KVMHOST-FSYNC-EXT4-$(hex)"
pr="KVMHOST-FSYNC-RAW-$(hex)"
# (The file starts with a line end so that the L1 script's grep of the image sees the pattern as a line.)
printf '\n%s\n' "$pe" | dd of=/mnt/fsync.txt conv=fsync 2>/dev/null || bad "dd conv=fsync to /mnt/fsync.txt failed"
printf '%s' "$pr" | dd of=/dev/vdb bs=512 seek=4097 conv=sync,fsync 2>/dev/null || bad "dd conv=fsync to /dev/vdb failed"
echo "KVMHOST-FSYNC-WRITTEN ext4=$pe raw_sector=4097 raw=$pr"
if [ -n "$hvc_ok" ]; then
	wait_file /tmp/fsync-checked 60 || bad "the L1 script did not say (on hvc0) that it checked the images within 60 s"
else
	sleep 5
fi

# virtio-net
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
	got=$(cat /sys/class/net/eth0/address)
	[ "$got" = "$mac" ] && ok "eth0's MAC is $got" || bad "eth0's MAC is $got, want $mac"
	ip addr add 10.0.2.15/24 dev eth0
	ip link set eth0 up
	if ping -c 3 -W 5 10.0.2.1 >/tmp/ping.out 2>&1; then
		ok "ping 10.0.2.1: $(grep 'packets' /tmp/ping.out)"
	else
		bad "ping 10.0.2.1 failed: $(tr '\n' ' ' </tmp/ping.out)"
		ip addr; ip link; cat /proc/net/dev
	fi
	# guest -> host: the host side listens on 5000 and reports the md5 of what it got.
	head -c 1048576 /dev/urandom >/tmp/tx.bin
	timeout 60 nc 10.0.2.1 5000 </tmp/tx.bin
	rc=$?
	[ $rc -eq 0 ] || bad "nc 10.0.2.1 5000 (sending 1 MiB) exited with status $rc"
	echo "KVMHOST-NET-TX bytes=$(wc -c </tmp/tx.bin) md5=$(md5sum </tmp/tx.bin | cut -d' ' -f1) rc=$rc"
	# host -> guest: listen on 5001 (stdin held open so that nc does not end its side first).
	mkfifo /tmp/nc.in
	exec 4<>/tmp/nc.in
	nc -l -p 5001 <&4 >/tmp/rx.bin &
	ncpid=$!
	sleep 1
	echo "KVMHOST-NET-LISTENING port=5001"
	n=0
	while kill -0 "$ncpid" 2>/dev/null && [ "$n" -lt 60 ]; do sleep 1; n=$((n + 1)); done
	if kill -0 "$ncpid" 2>/dev/null; then
		bad "the host's transfer to port 5001 did not end within 60 s"
		kill "$ncpid"
	fi
	exec 4>&-
	echo "KVMHOST-NET-RX bytes=$(wc -c </tmp/rx.bin) md5=$(md5sum </tmp/rx.bin | cut -d' ' -f1)"
	cat /proc/net/dev | grep eth0 | sed 's/^/virtio_devices: /'
else
	bad "no eth0 (interfaces: $(ls /sys/class/net | tr '\n' ' '))"
fi

echo "KVMHOST-VIRTIO-SUMMARY phase=$phase fails=$fails"
exit "$fails"
