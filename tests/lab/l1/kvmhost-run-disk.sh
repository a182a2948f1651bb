#!/bin/sh
# shellcheck disable=SC2016 # the conditions given to check() are single-quoted: check() evaluates them
# Inside L1: boot the L2 Linux guest with examples/kvmhost-run (kvmhost-run-static) and the lab's ext4 disk as a
# virtio-blk device on virtio-mmio (kvmhost-run's --disk), and run the guest test on that disk, disk_check
# (tests/lab/l2-disk/tests/disk_check): that it ran at all shows that the guest's virtio-mmio and virtio-blk
# drivers found the device where the platform described it (arm64: the device tree) and that ext4 mounted; it
# reads a file back and writes one. The guest then powers off: kvmhost-run must exit 0.
# Usage: kvmhost-run-disk.sh KERNEL CPUS MEM_MIB [TIMEOUT]   (KERNEL in /lab/l2; TIMEOUT default 150 s)
kernel=$1 cpus=$2 mem=$3 tmo=${4:-150}
log=/tmp/run-disk.log
cp /lab/l2/disk.ext4 /tmp/run-disk.ext4 || exit 1 # the guest writes to it
cmdline="console=ttyS0 panic=0 quiet kvmhost.test=disk_check kvmhost.exit=poweroff"
echo "kvmhost-run-disk: kvmhost-run --kernel $kernel --cpus $cpus --mem ${mem}M --disk /tmp/run-disk.ext4"
read -r t0 _ </proc/uptime
timeout -s KILL "$tmo" kvmhost-run-static --kernel "/lab/l2/$kernel" --initrd /lab/l2/initramfs.cpio.gz \
	--cpus "$cpus" --mem "${mem}M" --cmdline "$cmdline" --disk /tmp/run-disk.ext4 </dev/null >"$log" 2>&1
rc=$?
read -r t1 _ </proc/uptime
sed 's/^/L2| /' "$log"
echo "LAB-TIME kvmhost-run-disk kernel=$kernel cpus=$cpus total=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') rc=$rc"
fails=0
check() { # WHAT CONDITION
	if eval "$2"; then echo "kvmhost-run-disk: ok: $1"; else echo "kvmhost-run-disk: FAIL: $1"; fails=$((fails + 1)); fi
}
check "the guest mounted its virtio disk" 'grep -q "KVMHOST-GUEST-DISK /dev/vda on /mnt" "$log"'
check "the guest test on the disk passed" 'grep -q "KVMHOST-GUEST-RESULT test=disk_check rc=0" "$log"'
check "the guest's poweroff ended kvmhost-run with status $rc, want 0" '[ "$rc" = 0 ]'
exit "$fails"
