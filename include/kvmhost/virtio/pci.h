/**
 * @file virtio/pci.h
 * @brief The virtio-pci transport, "modern" (virtio 1.x section 4.1): a
 * virtio device (virtio/device.h) as a PCI function (pci.h) with its
 * structures in one memory BAR.
 *
 * Identity: vendor 0x1AF4, device 0x1040 + the virtio device id, revision 1,
 * subsystem 0x1AF4:0x1100 unless the options say otherwise, a class code
 * that follows the device type, interrupt pin INTA.
 *
 * BAR 0 (64-bit memory, placed by the host) holds, each in its own 4 KiB
 * page: the common configuration (0x38 bytes: feature selects, MSI-X
 * vectors, status, queue select and the selected queue's size, vector,
 * enable, notify offset and ring addresses), the ISR status byte, the
 * device's config space, the notification area (queue n at offset
 * n * notify_off_multiplier, which is 4), then the MSI-X table and pending
 * bit array. The capability list in configuration space describes them
 * (COMMON_CFG, NOTIFY_CFG, ISR_CFG, DEVICE_CFG when the device has config
 * space, and PCI_CFG, the window through which BAR memory can be reached
 * from configuration space), plus the MSI-X capability.
 *
 * Register accesses: common configuration fields take accesses of their
 * own width (64-bit fields also as two 32-bit halves); reads of any width
 * inside the structure are served; other writes are ignored, counted and
 * logged once at WARN. The ISR byte is read-to-clear. Device config takes
 * any width inside it. Notifications take any width inside a queue's slot.
 * MSI-X table and PBA take aligned 32- and 64-bit accesses. Everything else
 * in the BAR reads all ones and drops writes.
 *
 * Interrupts: with MSI-X enabled, a queue's used-buffer interrupt goes to
 * the vector the driver set for it, a config change to config_msix_vector
 * (NO_VECTOR: none); masked vectors wait in the pending bit array until
 * unmasked. A vector is delivered through the KVM wiring (virtio/wiring.h:
 * MSI routes and irqfds, or KVM_SIGNAL_MSI) or, without it, the options'
 * msi callback. With MSI-X disabled the ISR bits are set and INTx is
 * asserted until the driver reads the ISR.
 *
 * The register logic issues no KVM calls.
 *
 * Thread safety: register accesses from any number of vCPU threads;
 * interrupts from any thread. kvmhost_virtio_pci_destroy() must not race
 * any other call.
 */
#ifndef KVMHOST_VIRTIO_PCI_H
#define KVMHOST_VIRTIO_PCI_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_irq_line;
struct kvmhost_pci_device;
struct kvmhost_virtio_device;

/** Opaque virtio-pci transport. */
struct kvmhost_virtio_pci;

/** PCI vendor id of virtio devices. */
#define KVMHOST_VIRTIO_PCI_VENDOR_ID 0x1af4u
/** PCI device id of a modern device is this plus the virtio device id. */
#define KVMHOST_VIRTIO_PCI_DEVICE_ID_BASE 0x1040u
/** "No MSI-X vector" in the vector registers. */
#define KVMHOST_VIRTIO_PCI_NO_VECTOR 0xffffu

/** @name Virtio capability types (cfg_type) */
/** @{ */
#define KVMHOST_VIRTIO_PCI_CAP_COMMON_CFG 1 /**< common configuration */
#define KVMHOST_VIRTIO_PCI_CAP_NOTIFY_CFG 2 /**< notifications */
#define KVMHOST_VIRTIO_PCI_CAP_ISR_CFG	  3 /**< ISR status */
#define KVMHOST_VIRTIO_PCI_CAP_DEVICE_CFG 4 /**< device-specific configuration */
#define KVMHOST_VIRTIO_PCI_CAP_PCI_CFG	  5 /**< PCI configuration access */
/** @} */

/** @name Common configuration offsets */
/** @{ */
#define KVMHOST_VIRTIO_PCI_COMMON_DFSELECT	0x00 /**< device_feature_select (32 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_DF		0x04 /**< device_feature (32 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_GFSELECT	0x08 /**< driver_feature_select (32 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_GF		0x0c /**< driver_feature (32 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_MSIX		0x10 /**< config_msix_vector (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_NUMQ		0x12 /**< num_queues (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_STATUS	0x14 /**< device_status (8 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_CFGGENERATION 0x15 /**< config_generation (8 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_SELECT	0x16 /**< queue_select (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_SIZE	0x18 /**< queue_size (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_MSIX	0x1a /**< queue_msix_vector (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_ENABLE	0x1c /**< queue_enable (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_NOFF	0x1e /**< queue_notify_off (16 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_DESC	0x20 /**< queue_desc (64 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_DRIVER	0x28 /**< queue_driver (64 bits) */
#define KVMHOST_VIRTIO_PCI_COMMON_Q_DEVICE	0x30 /**< queue_device (64 bits) */
/** @} */

/** ISR bits. @{ */
#define KVMHOST_VIRTIO_PCI_ISR_QUEUE  0x1u
#define KVMHOST_VIRTIO_PCI_ISR_CONFIG 0x2u /**< ISR: the configuration changed */
/** @} */

/**
 * Deliver one MSI-X message (for embedders without the KVM wiring, and
 * tests). Runs in the thread that raised the interrupt or unmasked the
 * vector, with the transport's interrupt lock held: it must not call back
 * into the transport.
 */
typedef int (*kvmhost_virtio_pci_msi_fn)(void *opaque, uint16_t vector, uint64_t address, uint32_t data);

/** Options flag: no MSI-X capability (INTx only). */
#define KVMHOST_VIRTIO_PCI_NO_MSIX (1u << 0)

/** Options for kvmhost_virtio_pci_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtio_pci_options {
	size_t size;		       /**< sizeof(struct kvmhost_virtio_pci_options) */
	uint32_t flags;		       /**< KVMHOST_VIRTIO_PCI_* */
	uint16_t msix_vectors;	       /**< MSI-X table size, 1-2048; 0: one per queue plus one for config */
	uint16_t subsystem_vendor_id;  /**< 0: 0x1af4 */
	uint16_t subsystem_id;	       /**< 0: 0x1100 */
	uint32_t class_code;	       /**< 0: by device type (network, storage, ..., other) */
	struct kvmhost_irq_line *intx; /**< INTx line (level; not owned, must outlive the transport); NULL: none */
	uint8_t interrupt_line;	       /**< initial Interrupt Line register */
	kvmhost_virtio_pci_msi_fn msi; /**< MSI-X delivery without the wiring; NULL: such interrupts are dropped */
	void *msi_opaque;	       /**< passed to msi */
	const char *name;	       /**< for messages; copied; may be NULL */
};

/**
 * Create a transport (and its PCI function, not yet on a host) for @p dev,
 * which must outlive it, and connect itself as the device's transport.
 * Put it on a bus with kvmhost_pci_host_add_device(host,
 * kvmhost_virtio_pci_device(vpci), slot).
 * @param dev the virtio device
 * @param opts the options (struct kvmhost_virtio_pci_options; size rules as every options struct)
 * @param out receives the new virtio-pci transport
 * @return 0; -EINVAL (NULL, msix_vectors above 2048, a device id above
 *         0xefbf, an unknown flag), -E2BIG, -ENOMEM.
 */
KVMHOST_API int kvmhost_virtio_pci_create(struct kvmhost_virtio_device *dev,
					  const struct kvmhost_virtio_pci_options *opts,
					  struct kvmhost_virtio_pci **out);

/** Remove the transport's function from its host, disconnect from the
 * device and destroy both. NULL is ignored. Destroy its wiring first.
 * @param vpci the virtio-pci transport
 */
KVMHOST_API void kvmhost_virtio_pci_destroy(struct kvmhost_virtio_pci *vpci);

/** Return the transport's PCI function (owned by the transport), or NULL
 * for NULL.
 * @param vpci the virtio-pci transport
 * @return the transport's PCI function (owned by the transport), or NULL for NULL.
 */
KVMHOST_API struct kvmhost_pci_device *kvmhost_virtio_pci_device(struct kvmhost_virtio_pci *vpci);

/** Return how many register accesses the transport ignored for their width
 * or alignment, or 0 for NULL.
 * @param vpci the virtio-pci transport
 * @return how many register accesses the transport ignored for their width or alignment, or 0 for NULL.
 */
KVMHOST_API uint64_t kvmhost_virtio_pci_bad_accesses(struct kvmhost_virtio_pci *vpci);

#ifdef __cplusplus
}
#endif

#endif
