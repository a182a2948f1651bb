#!/bin/sh
# shellcheck disable=SC1007,SC2016 # "a= b=" is meant; single-quoted $(...) is expanded by the guest's shell
# Inside L1: Linux's own virtio drivers (Debian's modules in the L2 guest) drive libkvmhost's virtio devices through
# the example VMM, examples/kvmhost-run (kvmhost-run-static), on one transport. Two L2 boots on the same disks:
#   boot 1 (guest test virtio_devices, phase write; ends with the guest's reboot, kvmhost-run must exit 4):
#     - every virtio device is bound to its Linux driver, on the wanted transport (pci: with MSI-X vectors);
#     - virtio-console: a shell on hvc0 runs a command this script sends (kvmhost-run's stdin) and its output
#       comes back (kvmhost-run's stdout); the serial console goes to a file, which this script follows;
#     - virtio-rng: /sys/class/misc/hw_random/rng_current names virtio, /dev/hwrng gives bytes;
#     - virtio-blk: ext4 on vda: files written (md5s printed), then fsync'd patterns on vda (a file) and vdb
#       (raw, sector 4097): this script finds them in the host's image files WHILE THE VM STILL RUNS;
#     - a read-only disk (vdc, --disk PATH,ro): the guest sees /sys/block/vdc/ro = 1, a write fails, and the
#       host file is unchanged;
#     - virtio-net on a TAP in a network namespace of its own (10.0.2.1 here, 10.0.2.15 in the guest): ping
#       both ways, 1 MiB over TCP each way, md5s compared on both sides;
#   boot 2 (phase verify; ends with the guest's poweroff, kvmhost-run must exit 0):
#     - the files, their md5s (against boot 1's, as printed then) and both fsync'd patterns read back; vdc still
#       read-only and unchanged.
#
# Usage: virtio-devices.sh mmio|pci [kvmhost-run|qemu] [TIMEOUT]
#   qemu     the same guest and checks with QEMU -M microvm in place of kvmhost-run (the reference; QEMU's
#            microvm does not end on a guest reboot, so its boot 1 powers off instead)
#   TIMEOUT  seconds per L2 boot before the VMM is killed (default 150)
# On arm64 (the arm64 lab's L1) the guest is /lab/l2/Image on kvmhost-run's arm64 machine (virtio-mmio only), and
# qemu is qemu-system-aarch64 -M virt (its console a PL011, ttyAMA0).
# VIRTIO_DEVICES_APPEND: more guest kernel command line, for debugging (e.g. "loglevel=7": the kernel's messages).
# The L2 serial console is streamed with an "L2| " prefix, hvc0 with "HVC| "; times (L1 clock) go to LAB-TIME lines.
transport=$1 vmm=${2:-kvmhost-run} tmo=${3:-150}
case $transport in mmio | pci) ;; *) echo "usage: $0 mmio|pci [kvmhost-run|qemu] [TIMEOUT]"; exit 2 ;; esac
case $vmm in kvmhost-run | qemu) ;; *) echo "usage: $0 mmio|pci [kvmhost-run|qemu] [TIMEOUT]"; exit 2 ;; esac

# The TAP and its address live in a network namespace of this test's own: re-run this script inside one.
if [ -z "${VIRTIO_DEVICES_NETNS:-}" ]; then
	VIRTIO_DEVICES_NETNS=1 exec unshare -n sh "$0" "$@"
fi

# The L2 kernel: the PVH vmlinux on x86, the raw Image on arm64 (kvmhost-run's arm64 machine: docs/arm64.md).
kernel=/lab/l2/vmlinux con=ttyS0
if [ "$(uname -m)" = aarch64 ]; then
	kernel=/lab/l2/Image
	[ "$vmm" = qemu ] && con=ttyAMA0
fi
d=/tmp/virtio-$transport
rm -rf "$d"
mkdir -p "$d"
# Not kvmhost-run's default MAC (52:54:00:12:34:56), so that the guest seeing it proves mac= was taken.
mac=52:54:00:ab:cd:0$([ "$transport" = mmio ] && echo 1 || echo 2)
cr=$(printf '\r')
fails=0
ok() { echo "virtio-devices: ok: $*"; }
bad() {
	echo "virtio-devices: FAIL: $*"
	fails=$((fails + 1))
}
md5() { md5sum <"$1" | cut -d' ' -f1; }
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
field() { # LINE KEY: the value of KEY=... in LINE
	for w in $1; do case $w in "$2="*) echo "${w#*=}" && return ;; esac; done
}

# --- the host side -------------------------------------------------------------------------------------------------
ip link set lo up
if ! tunctl -t tap0 >"$d/tunctl.out" 2>&1; then
	echo "virtio-devices: tunctl -t tap0 failed: $(cat "$d/tunctl.out") (/dev/net/tun: $(ls -l /dev/net/tun 2>&1))"
	exit 1
fi
ip addr add 10.0.2.1/24 dev tap0
ip link set tap0 up
cp /lab/l2/disk.ext4 "$d/disk.ext4"
dd if=/dev/zero of="$d/raw.img" bs=1M count=8 2>/dev/null
head -c 1048576 /dev/urandom >"$d/ro.img"
head -c 1048576 /dev/urandom >"$d/h2g.bin"
ro_md5=$(md5 "$d/ro.img")
echo "virtio-devices: $vmm, transport $transport; read-only disk md5 $ro_md5"

# One L2 boot: BOOT (write|verify), the guest's way out (reboot|poweroff) and kvmhost-run's status for it.
# Serial console -> $d/serial-BOOT.log (followed here), hvc0 <-> this script (in.fifo / hvc-BOOT.log).
boot() {
	phase=$1 how=$2 want=$3
	serial=$d/serial-$phase.log hvc=$d/hvc-$phase.log
	: >"$serial"
	: >"$hvc"
	rm -f "$d/vm.rc" "$d/vm.pid" "$d/in.fifo" "$d/tail.fifo" "$d/result.seen" "$d/killed"
	mkfifo "$d/in.fifo" "$d/tail.fifo"
	exec 3<>"$d/in.fifo" # the VMM's stdin (hvc0's input): held open here, so it never sees end of file
	cmdline="console=$con panic=0 quiet kvmhost.test=virtio_devices kvmhost.exit=$how kvmhost.phase=$phase"
	cmdline="$cmdline kvmhost.transport=$transport kvmhost.mac=$mac${VIRTIO_DEVICES_APPEND:+ $VIRTIO_DEVICES_APPEND}"
	if [ "$vmm" = qemu ] && [ "$kernel" = /lab/l2/Image ]; then
		# QEMU's virt maps the -device options to virtio-mmio transports of decreasing addresses and Linux probes
		# them lowest address first: in reverse order, so that vda is the ext4 disk and vdc the read-only one.
		set -- qemu-system-aarch64 -M virt,gic-version=3 -enable-kvm -cpu host -m 256 -smp 1 -nodefaults \
			-display none -no-reboot -kernel "$kernel" -initrd /lab/l2/initramfs.cpio.gz -append "$cmdline" \
			-serial "file:$serial" \
			-device virtio-serial-device -chardev stdio,id=c0,signal=off -device virtconsole,chardev=c0 \
			-device virtio-rng-device \
			-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "virtio-net-device,netdev=n0,mac=$mac" \
			-drive "file=$d/ro.img,format=raw,if=none,id=d2,readonly=on" -device virtio-blk-device,drive=d2 \
			-drive "file=$d/raw.img,format=raw,if=none,id=d1" -device virtio-blk-device,drive=d1 \
			-drive "file=$d/disk.ext4,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0
	elif [ "$vmm" = qemu ]; then
		if [ "$transport" = pci ]; then m=microvm,pcie=on s=pci; else m=microvm s=device; fi
		r=
		[ "$transport" = pci ] && r=,romfile=
		set -- qemu-system-x86_64 -M "$m" -enable-kvm -cpu host -m 256 -smp 1 -nodefaults -display none \
			-no-reboot -kernel /lab/l2/vmlinux -initrd /lab/l2/initramfs.cpio.gz -append "$cmdline" \
			-serial "file:$serial" \
			-drive "file=$d/disk.ext4,format=raw,if=none,id=d0" -device "virtio-blk-$s,drive=d0" \
			-drive "file=$d/raw.img,format=raw,if=none,id=d1" -device "virtio-blk-$s,drive=d1" \
			-drive "file=$d/ro.img,format=raw,if=none,id=d2,readonly=on" -device "virtio-blk-$s,drive=d2" \
			-netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "virtio-net-$s,netdev=n0,mac=$mac$r" \
			-device "virtio-rng-$s" \
			-device "virtio-serial-$s" -chardev stdio,id=c0,signal=off -device virtconsole,chardev=c0
	else
		set -- kvmhost-run-static --transport "$transport" --kernel "$kernel" \
			--initrd /lab/l2/initramfs.cpio.gz --mem 256M --cpus 1 --cmdline "$cmdline" \
			--serial "file:$serial" --console \
			--disk "$d/disk.ext4" --disk "$d/raw.img" --disk "$d/ro.img,ro" \
			--net "tap=tap0,mac=$mac" --rng
	fi
	echo "virtio-devices: boot $phase: $*"

	tail -f "$serial" >"$d/tail.fifo" &
	tailpid=$!
	t0=$(uptime_s)
	{
		timeout -s KILL "$tmo" "$@" <&3 >"$hvc" 2>"$d/vmm-$phase.err" &
		echo $! >"$d/vm.pid"
		wait $!
		echo $? >"$d/vm.rc"
		sleep 2 # let tail pass on the last lines
		kill "$tailpid"
	} &
	while [ ! -s "$d/vm.pid" ]; do sleep 0.1; done
	vmpid=$(cat "$d/vm.pid")
	while IFS= read -r line; do
		line=${line%"$cr"}
		echo "L2| $line"
		case $line in
		*KVMHOST-GUEST-INIT*) [ -n "${t_init:-}" ] || t_init=$(uptime_s) ;;
		*KVMHOST-HVC-READY*)
			echo 'echo KVMHOST-HVC-$((6 * 7)) on $(tty); touch /tmp/hvc-done' >&3 ;;
		*KVMHOST-FSYNC-WRITTEN*)
			check_fsync "$line"
			echo 'touch /tmp/fsync-checked' >&3 ;;
		*KVMHOST-NET-LISTENING*)
			{
				ping -c 2 -W 5 10.0.2.15 >"$d/ping-h2g.out" 2>&1
				echo $? >"$d/ping-h2g.rc"
				i=0
				while [ $i -lt 5 ]; do
					nc 10.0.2.15 5001 <"$d/h2g.bin" >/dev/null 2>"$d/nc-h2g.err" && break
					i=$((i + 1))
					sleep 1
				done
				echo "$i" >"$d/nc-h2g.tries"
			} & ;;
		*KVMHOST-GUEST-RESULT*)
			# The guest is about to reboot or power off: that must end the VMM. Give it 30 s.
			touch "$d/result.seen"
			(sleep 30 && kill -0 "$vmpid" 2>/dev/null && touch "$d/killed" && kill -9 "$vmpid") & ;;
		*"end Kernel panic"*)
			echo "virtio-devices: the guest kernel panicked: stopping the VMM"
			kill -9 "$vmpid" ;;
		esac
	done <"$d/tail.fifo"
	t1=$(uptime_s)
	exec 3>&-
	rc=$(cat "$d/vm.rc" 2>/dev/null || echo '?')
	# (The shell's prompt leaves the last line open: end it, so that LAB-TIME starts a line of its own.)
	{ cat "$hvc"; echo; } | tr -d '\r\033' | sed 's/^/HVC| /'
	[ -s "$d/vmm-$phase.err" ] && sed "s/^/$vmm stderr| /" "$d/vmm-$phase.err"
	to_init=never
	[ -n "${t_init:-}" ] && to_init=$(since "$t0" "$t_init")
	echo "LAB-TIME virtio-devices vmm=$vmm transport=$transport boot=$phase to_init=$to_init total=$(since "$t0" "$t1") rc=$rc"
	t_init=

	if grep -q "KVMHOST-GUEST-RESULT test=virtio_devices rc=0" "$serial"; then
		ok "boot $phase: the guest's checks passed"
	else
		bad "boot $phase: the guest's checks failed: $(grep -e 'virtio_devices: FAIL' -e KVMHOST-GUEST-RESULT -e KVMHOST-GUEST-ERROR "$serial" | tr -d '\r' | tr '\n' ' ')"
	fi
	if [ "$rc" = "$want" ]; then
		ok "boot $phase: the guest's $how ended $vmm with status $rc"
	elif [ -e "$d/killed" ]; then
		bad "boot $phase: the guest's $how did not end $vmm within 30 s of the guest's result line (killed; want status $want)"
	elif [ "$rc" = 137 ]; then
		bad "boot $phase: $vmm was killed after ${tmo}s (want status $want after the guest's $how)"
	else
		bad "boot $phase: $vmm exited with status $rc, want $want (the guest's $how)"
	fi
}

# While boot 1 runs, right after the guest's fsync: the patterns must be in the host's files.
check_fsync() { # the KVMHOST-FSYNC-WRITTEN line
	pe=$(field "$1" ext4) pr=$(field "$1" raw) sector=$(field "$1" raw_sector)
	if kill -0 "$vmpid" 2>/dev/null; then
		ok "the VMM is still running while the host images are checked"
	else
		bad "the VMM had already exited when the fsync'd data was checked"
	fi
	got=$(dd if="$d/raw.img" bs=512 skip="$sector" count=1 2>/dev/null | head -c ${#pr})
	if [ -n "$pr" ] && [ "$got" = "$pr" ]; then
		ok "after the guest's fsync, raw.img sector $sector holds $pr"
	else
		bad "after the guest's fsync, raw.img sector $sector holds '$(dd if="$d/raw.img" bs=512 skip="$sector" count=1 2>/dev/null | head -c 64 | od -An -c | tr -s ' ' | head -n 2 | tr '\n' ' ')', want '$pr'"
	fi
	# The guest's file starts with a line end, so its block is a line of its own for grep (tr '\0' '\n' first
	# would work for any file, but took 44 s of L1 time here against well under a second).
	n=$(grep -c -F "$pe" "$d/disk.ext4")
	if [ -n "$pe" ] && [ "$n" -ge 1 ]; then
		ok "after the guest's fsync, disk.ext4 holds $pe ($n times)"
	else
		bad "after the guest's fsync, disk.ext4 does not hold '$pe' (found $n times)"
	fi
}

guest_lines() { # BOOT PREFIX: the guest's lines starting with PREFIX, without \r
	grep "^$2" "$d/serial-$1.log" | tr -d '\r'
}

# --- boot 1 ------------------------------------------------------------------------------------------------------------
# guest -> host TCP: listen on 5000, stdin held open so that nc does not end its side first
mkfifo "$d/nc.in"
exec 5<>"$d/nc.in"
nc -l -p 5000 <&5 >"$d/g2h.bin" 2>"$d/nc-g2h.err" &
ncpid=$!
if [ "$vmm" = qemu ]; then boot write poweroff 0; else boot write reboot 4; fi
kill "$ncpid" 2>/dev/null
exec 5>&-

# virtio-console
if grep -q 'KVMHOST-HVC-42 on /dev/hvc0' "$d/hvc-write.log"; then
	ok "the command sent on hvc0 ran in a shell on /dev/hvc0 and its output came back"
else
	bad "the hvc0 output has no 'KVMHOST-HVC-42 on /dev/hvc0'; it was: $(tr -d '\r' <"$d/hvc-write.log" | tail -n 5 | tr '\n' '|')"
fi
# virtio-net
tx=$(guest_lines write KVMHOST-NET-TX)
if [ -z "$tx" ]; then
	bad "the guest printed no KVMHOST-NET-TX line"
elif [ "$(field "$tx" md5)" = "$(md5 "$d/g2h.bin")" ] && [ "$(field "$tx" bytes)" = "$(wc -c <"$d/g2h.bin")" ]; then
	ok "guest -> host TCP: $(field "$tx" bytes) bytes, md5 $(field "$tx" md5) on both sides"
else
	bad "guest -> host TCP: the guest sent $(field "$tx" bytes) bytes, md5 $(field "$tx" md5); here: $(wc -c <"$d/g2h.bin") bytes, md5 $(md5 "$d/g2h.bin") ($(cat "$d/nc-g2h.err"))"
fi
rx=$(guest_lines write KVMHOST-NET-RX)
if [ -z "$rx" ]; then
	bad "the guest printed no KVMHOST-NET-RX line"
elif [ "$(field "$rx" md5)" = "$(md5 "$d/h2g.bin")" ] && [ "$(field "$rx" bytes)" = 1048576 ]; then
	ok "host -> guest TCP: 1048576 bytes, md5 $(field "$rx" md5) on both sides"
else
	bad "host -> guest TCP: sent 1048576 bytes, md5 $(md5 "$d/h2g.bin"); the guest got $(field "$rx" bytes), md5 $(field "$rx" md5) (nc here: $(cat "$d/nc-h2g.err" 2>/dev/null), retries $(cat "$d/nc-h2g.tries" 2>/dev/null))"
fi
if [ "$(cat "$d/ping-h2g.rc" 2>/dev/null)" = 0 ]; then
	ok "ping 10.0.2.15 from the host side: $(grep packets "$d/ping-h2g.out")"
else
	if [ -e "$d/ping-h2g.out" ]; then
		bad "ping 10.0.2.15 from the host side: $(tr '\n' ' ' <"$d/ping-h2g.out")"
	else
		bad "ping 10.0.2.15 from the host side: never ran (the guest did not get that far)"
	fi
fi
# the read-only disk
g=$(guest_lines write 'KVMHOST-RO-MD5 ')
g2=$(guest_lines write 'KVMHOST-RO-MD5-AFTER ')
if [ "${g#* }" = "$ro_md5" ] && [ "${g2#* }" = "$ro_md5" ]; then
	ok "the guest read vdc's md5 $ro_md5 before and after its write attempt"
else
	bad "vdc's md5: host $ro_md5, the guest read '${g#* }' before and '${g2#* }' after its write attempt"
fi
if [ "$(md5 "$d/ro.img")" = "$ro_md5" ]; then
	ok "ro.img unchanged after boot 1"
else
	bad "ro.img changed during boot 1: md5 $(md5 "$d/ro.img"), was $ro_md5"
fi
guest_lines write KVMHOST-MD5 | sort >"$d/md5-write.txt"
fsync_line=$(guest_lines write KVMHOST-FSYNC-WRITTEN)

# --- boot 2 ------------------------------------------------------------------------------------------------------------
if ! grep -q KVMHOST-GUEST-RESULT "$d/serial-write.log"; then
	# Boot 1 never got to its end: boot 2 would only hang the same way and spend the lab's time budget.
	bad "boot 1 did not reach the guest test's end: boot 2 (read back after the reboot) not run"
	echo "virtio-devices: $fails checks failed ($vmm, $transport)"
	exit 1
fi
boot verify poweroff 0
guest_lines verify KVMHOST-MD5 | sort >"$d/md5-verify.txt"
if [ "$(wc -l <"$d/md5-write.txt")" = 4 ] && cmp -s "$d/md5-write.txt" "$d/md5-verify.txt"; then
	ok "after the reboot the 4 files read back with boot 1's md5s"
else
	bad "the files' md5s: boot 1 [$(tr '\n' ' ' <"$d/md5-write.txt")], boot 2 [$(tr '\n' ' ' <"$d/md5-verify.txt")]"
fi
rd=$(guest_lines verify KVMHOST-FSYNC-READ)
if [ -n "$fsync_line" ] && [ "$(field "$rd" ext4)" = "$(field "$fsync_line" ext4)" ] && [ "$(field "$rd" raw)" = "$(field "$fsync_line" raw)" ]; then
	ok "after the reboot the fsync'd patterns read back (/mnt/fsync.txt, vdb sector 4097)"
else
	bad "the fsync'd patterns: boot 1 wrote [${fsync_line#* }], boot 2 read [${rd#* }]"
fi
g=$(guest_lines verify 'KVMHOST-RO-MD5 ')
if [ "${g#* }" = "$ro_md5" ] && [ "$(md5 "$d/ro.img")" = "$ro_md5" ]; then
	ok "vdc / ro.img unchanged after both boots"
else
	bad "vdc's md5: host file now $(md5 "$d/ro.img"), the guest read '${g#* }', want $ro_md5"
fi

if [ "$fails" -ne 0 ]; then
	echo "virtio-devices: $fails checks failed ($vmm, $transport)"
	exit 1
fi
echo "virtio-devices: all checks passed ($vmm, $transport)"
