/*
 * Private interface between the virtio transports (transport_mmio.c,
 * transport_pci.c), whose register logic never calls KVM, and their KVM
 * wiring (transport_wiring.c), which registers ioeventfds and irqfds for
 * them. The wiring reads where a transport sits and installs hooks through
 * which the PCI transport reports BAR moves and MSI-X changes.
 */
#ifndef KVMHOST_VIRTIO_TRANSPORT_INTERNAL_H
#define KVMHOST_VIRTIO_TRANSPORT_INTERNAL_H

#include <stdint.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/mmio.h>
#include <kvmhost/virtio/pci.h>

/* ---- transport state in the device's migration blob (device.c) ---- */

#define KH_VT_STATE_MMIO 1u
#define KH_VT_STATE_PCI	 2u

/*
 * How a transport saves its own registers with the device's state
 * (kvmhost_virtio_device_save() appends them; restore loads them after the
 * device's and the queues' state, before the device activates). Every op
 * runs with no framework lock held, on a device the guest is not accessing.
 */
struct kh_vt_state_ops {
	uint32_t kind; /* KH_VT_STATE_* */
	/* Bytes of the state: constant for a transport (no lock taken). */
	size_t (*size)(void *opaque);
	/* Write exactly size() bytes. */
	void (*save)(void *opaque, uint8_t *buf);
	/* 0, or -errno with a message naming @func: @len bytes that load() may take. Changes nothing. */
	int (*check)(void *opaque, const uint8_t *buf, size_t len, const char *func);
	/* Take checked bytes. */
	void (*load)(void *opaque, const uint8_t *buf);
};

/* Install (@ops static, with @opaque) or remove (NULL) a transport's state ops. */
void kh_virtio_device_set_transport_state(struct kvmhost_virtio_device *dev, const struct kh_vt_state_ops *ops,
					  void *opaque);

/* ---- virtio-mmio ---- */

/* The device behind the transport. */
struct kvmhost_virtio_device *kh_virtio_mmio_device(struct kvmhost_virtio_mmio *mmio);
/* The interrupt line it drives now (to give it back later). */
struct kvmhost_irq_line *kh_virtio_mmio_irq(struct kvmhost_virtio_mmio *mmio);

/* ---- virtio-pci ---- */

/* BAR 0 layout of the virtio-pci transport: one region per structure. */
#define KH_VPCI_BAR	       0
#define KH_VPCI_COMMON_OFF     0x0000u
#define KH_VPCI_COMMON_LEN     0x38u
#define KH_VPCI_ISR_OFF	       0x1000u
#define KH_VPCI_DEVICE_OFF     0x2000u
#define KH_VPCI_NOTIFY_OFF     0x3000u
#define KH_VPCI_NOTIFY_MULT    4u
#define KH_VPCI_MSIX_TABLE_OFF 0x4000u

/*
 * What the wiring hooks into a PCI transport. Each runs with the
 * transport's interrupt lock held: it must not call back into the
 * transport. NULL members are skipped.
 */
struct kh_vpci_hooks {
	void *opaque;
	/* BAR 0 moved: old and new guest address (KVMHOST_PCI_BAR_UNMAPPED when
	 * not mapped). Runs in the thread whose config write moved it. */
	void (*bar_moved)(void *opaque, uint64_t old_addr, uint64_t new_addr);
	/* Deliver MSI-X vector @vector (unmasked, enabled) now. Replaces the
	 * options' msi callback while installed. */
	int (*msi_signal)(void *opaque, uint16_t vector, uint64_t address, uint32_t data);
	/* Entry @vector changed its address, data or whether it can be
	 * delivered (MSI-X enabled, function and entry unmasked). Called
	 * before any signal that follows the change. */
	void (*msi_update)(void *opaque, uint16_t vector, uint64_t address, uint32_t data, int deliverable);
};

/* Install (@hooks non-NULL; copied) or remove the hooks. Installing
 * reports where BAR 0 is (bar_moved from UNMAPPED, if it is mapped) and
 * every vector's state (msi_update). Once removal returns no hook runs any
 * more. */
void kh_virtio_pci_set_hooks(struct kvmhost_virtio_pci *vpci, const struct kh_vpci_hooks *hooks);

/* The device behind the transport. */
struct kvmhost_virtio_device *kh_virtio_pci_vdev(struct kvmhost_virtio_pci *vpci);

/* Number of MSI-X vectors (0 without MSI-X). */
uint16_t kh_virtio_pci_msix_vectors(struct kvmhost_virtio_pci *vpci);

#endif
