#!/bin/sh
# Inside L1: kvmhost-run --transport pci with a guest that may not use MSI-X (pci=nomsi): Linux must route the
# virtio-pci functions' INTA through the DSDT's _PRT to the IOAPIC, and the disk must work on those interrupts
# (guest test pci_intx: tests/lab/l2/pci_intx.sh). One L2 boot; the guest powers off (status 0).
# Usage: virtio-intx.sh [TIMEOUT]
tmo=${1:-120}
log=/tmp/virtio-intx.log
cp /lab/l2/disk.ext4 /tmp/intx.img || exit 1
timeout -s KILL "$tmo" kvmhost-run-static --kernel /lab/l2/vmlinux --initrd /lab/l2/initramfs.cpio.gz --mem 256M \
	--transport pci --disk /tmp/intx.img --rng \
	--cmdline "console=ttyS0 panic=0 quiet pci=nomsi kvmhost.test=pci_intx" </dev/null >"$log" 2>&1
rc=$?
sed 's/^/L2| /' "$log"
rm -f /tmp/intx.img
if [ "$rc" -ne 0 ]; then echo "virtio-intx: kvmhost-run exited with status $rc, want 0 (poweroff)"; exit 1; fi
grep -q "KVMHOST-GUEST-RESULT test=pci_intx rc=0" "$log" || { echo "virtio-intx: the guest test failed"; exit 1; }
echo "virtio-intx: ok"
