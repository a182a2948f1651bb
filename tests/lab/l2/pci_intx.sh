#!/bin/sh
# L2 guest test "pci_intx", for tests/lab/l1/virtio-quick.sh: booted with pci=nomsi, so the virtio-pci functions
# must run on INTx, routed by the DSDT's _PRT to IOAPIC pins (level). The disk (vda, ext4 on /mnt) is read and
# written through its own test, then every virtio interrupt must be an IO-APIC one that has fired, none PCI-MSI.
set -e
sh /mnt/tests/disk_check
grep -i virtio /proc/interrupts || { echo "pci_intx: no virtio interrupt in /proc/interrupts"; exit 1; }
if grep -i virtio /proc/interrupts | grep -q MSI; then
	echo "pci_intx: a virtio interrupt is an MSI despite pci=nomsi"
	exit 1
fi
# Each line: IRQ: COUNT(S) IO-APIC PIN-fasteoi NAME; the disk's must have counted interrupts.
grep -i virtio /proc/interrupts | awk '/IO-APIC/ && $2 > 0 { ok = 1 } END { exit !ok }' ||
	{ echo "pci_intx: no virtio IO-APIC interrupt fired"; exit 1; }
echo "pci_intx: the virtio-pci devices ran on INTx through the _PRT"
