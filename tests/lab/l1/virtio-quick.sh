#!/bin/sh
# Inside L1: one L2 boot of kvmhost-run with a virtio disk (a copy of the lab's ext4 disk) and an rng on a given
# transport, running one guest test, for the transport variants the full cases (virtio-devices.sh) leave out:
#   virtio-quick.sh pci pci_intx 0 "pci=nomsi"
#       a guest that may not use MSI-X: Linux routes the virtio-pci functions' INTA through the DSDT's _PRT to
#       the IOAPIC (tests/lab/l2/pci_intx.sh checks the interrupts), then powers off;
#   (mmio-cmdline, virtio-mmio on the kernel command line, cannot be tried with the lab's guest: Debian's x86
#   kernel is built without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; its virtio_mmio says "unknown parameter
#   'device' ignored". With a kernel that has it: virtio-quick.sh mmio-cmdline disk_check 4
#   "acpi=off kvmhost.exit=reboot", since without ACPI the guest cannot power off.)
# Usage: virtio-quick.sh TRANSPORT TEST STATUS [CMDLINE_EXTRA] [TIMEOUT]
transport=$1 test=$2 want=$3 extra=${4:-} tmo=${5:-120}
log=/tmp/virtio-quick.log
img=/tmp/virtio-quick.img
cp /lab/l2/disk.ext4 "$img" || exit 1
timeout -s KILL "$tmo" kvmhost-run-static --kernel /lab/l2/vmlinux --initrd /lab/l2/initramfs.cpio.gz --mem 256M \
	--transport "$transport" --disk "$img" --rng \
	--cmdline "console=ttyS0 panic=0 quiet $extra kvmhost.test=$test" </dev/null >"$log" 2>&1
rc=$?
sed 's/^/L2| /' "$log"
rm -f "$img"
fails=0
if [ "$rc" -ne "$want" ]; then echo "virtio-quick: kvmhost-run exited with status $rc, want $want"; fails=1; fi
if ! grep -q "KVMHOST-GUEST-RESULT test=$test rc=0" "$log"; then echo "virtio-quick: the guest test failed"; fails=1; fi
[ "$fails" -eq 0 ] && echo "virtio-quick: ok: $transport, guest test $test, status $rc"
exit "$fails"
