/**
 * @file virtio/mmio.h
 * @brief The virtio-mmio transport, version 2 (virtio 1.x section 4.2): a
 * virtio device (virtio/device.h) behind a block of memory-mapped registers
 * on an MMIO bus, with one level-triggered interrupt line.
 *
 * Register layout (offsets from the base, all little-endian 32-bit):
 * MagicValue "virt", Version 2, DeviceID, VendorID, DeviceFeatures(Sel),
 * DriverFeatures(Sel), QueueSel, QueueNumMax, QueueNum, QueueReady,
 * QueueNotify, InterruptStatus, InterruptACK, Status, QueueDesc/Driver/
 * Device Low and High, SHMSel / SHMLen / SHMBase (no shared memory regions:
 * SHMLen reads as -1), ConfigGeneration; the device's config space from
 * 0x100. Control registers take 32-bit aligned accesses only; any other
 * width or alignment is ignored (reads return all ones), counted and logged
 * once at WARN level. Config space takes any width that lies inside it;
 * accesses past its end read all ones and drop writes. Reads of write-only
 * registers and of unknown offsets return 0, writes of read-only ones are
 * dropped. Nothing the guest writes can make the transport touch memory
 * outside its own state.
 *
 * Interrupts: InterruptStatus bit 0 (used buffer) and bit 1 (configuration
 * change) are set when the device raises them; the line is high while
 * either bit is set and drops when the driver acknowledges both (or resets
 * the device). An acknowledgement that leaves a bit set lowers and raises
 * the line again, so that an edge-triggered line (an irqfd) fires anew. Writing 0 to Status resets the device, the
 * interrupt status and the selectors.
 *
 * Notifications: a QueueNotify write that reaches the bus calls
 * kvmhost_virtio_device_queue_notify() in the vCPU thread (whose device op
 * must not block). With the KVM wiring (virtio/wiring.h), kicks are served
 * through ioeventfds instead and never exit to userspace.
 *
 * The register logic issues no KVM calls: it runs on any bus, in unit tests
 * on a standalone one.
 *
 * Thread safety: one lock per transport serialises register accesses (bus
 * callbacks from any number of vCPU threads); interrupts may be raised from
 * any thread. kvmhost_virtio_mmio_destroy() must not race any other call.
 */
#ifndef KVMHOST_VIRTIO_MMIO_H
#define KVMHOST_VIRTIO_MMIO_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_bus;
struct kvmhost_irq_line;
struct kvmhost_virtio_device;

/** Opaque virtio-mmio transport. */
struct kvmhost_virtio_mmio;

/** @name Register offsets (virtio 1.x table 4.1) */
/** @{ */
#define KVMHOST_VIRTIO_MMIO_MAGIC_VALUE		0x000 /**< MagicValue (R) */
#define KVMHOST_VIRTIO_MMIO_VERSION		0x004 /**< Version (R): 2 */
#define KVMHOST_VIRTIO_MMIO_DEVICE_ID		0x008 /**< DeviceID (R) */
#define KVMHOST_VIRTIO_MMIO_VENDOR_ID		0x00c /**< VendorID (R) */
#define KVMHOST_VIRTIO_MMIO_DEVICE_FEATURES	0x010 /**< DeviceFeatures (R) */
#define KVMHOST_VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014 /**< DeviceFeaturesSel (W) */
#define KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES	0x020 /**< DriverFeatures (W) */
#define KVMHOST_VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024 /**< DriverFeaturesSel (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_SEL		0x030 /**< QueueSel (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_NUM_MAX	0x034 /**< QueueNumMax (R) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_NUM		0x038 /**< QueueNum (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_READY		0x044 /**< QueueReady (RW) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_NOTIFY	0x050 /**< QueueNotify (W) */
#define KVMHOST_VIRTIO_MMIO_INTERRUPT_STATUS	0x060 /**< InterruptStatus (R) */
#define KVMHOST_VIRTIO_MMIO_INTERRUPT_ACK	0x064 /**< InterruptACK (W) */
#define KVMHOST_VIRTIO_MMIO_STATUS		0x070 /**< Status (RW) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_DESC_LOW	0x080 /**< QueueDescLow (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084 /**< QueueDescHigh (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090 /**< QueueDriverLow (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094 /**< QueueDriverHigh (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0 /**< QueueDeviceLow (W) */
#define KVMHOST_VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4 /**< QueueDeviceHigh (W) */
#define KVMHOST_VIRTIO_MMIO_SHM_SEL		0x0ac /**< SHMSel (W) */
#define KVMHOST_VIRTIO_MMIO_SHM_LEN_LOW		0x0b0 /**< SHMLenLow (R) */
#define KVMHOST_VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4 /**< SHMLenHigh (R) */
#define KVMHOST_VIRTIO_MMIO_SHM_BASE_LOW	0x0b8 /**< SHMBaseLow (R) */
#define KVMHOST_VIRTIO_MMIO_SHM_BASE_HIGH	0x0bc /**< SHMBaseHigh (R) */
#define KVMHOST_VIRTIO_MMIO_CONFIG_GENERATION	0x0fc /**< ConfigGeneration (R) */
#define KVMHOST_VIRTIO_MMIO_CONFIG		0x100 /**< Config: device-specific configuration from here */
/** @} */

/** MagicValue: "virt" in little-endian. */
#define KVMHOST_VIRTIO_MMIO_MAGIC 0x74726976u
/** InterruptStatus bit: a queue has used buffers. */
#define KVMHOST_VIRTIO_MMIO_INT_VRING 0x1u
/** InterruptStatus bit: the configuration changed. */
#define KVMHOST_VIRTIO_MMIO_INT_CONFIG 0x2u
/** Bytes a transport claims when the options leave it to the library (its
 * config space permitting). */
#define KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT 0x1000u

/** Options for kvmhost_virtio_mmio_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtio_mmio_options {
	size_t size;	    /**< sizeof(struct kvmhost_virtio_mmio_options) */
	uint32_t vendor_id; /**< the VendorID register (any value; 0 is fine for Linux) */
	/** Bytes claimed on the bus: 0 for KVMHOST_VIRTIO_MMIO_WINDOW_DEFAULT or,
	 * with a config space too large for that, 0x100 + config size rounded up
	 * to 4 KiB; otherwise a multiple of 4 KiB holding 0x100 + config size. */
	uint64_t window;
	struct kvmhost_irq_line *irq; /**< interrupt line (not owned, must outlive the transport); NULL: none yet */
	const char *name;	      /**< for messages and the bus range; copied; may be NULL */
};

/**
 * Create a transport for @p dev (which must outlive it) and connect itself
 * as the device's transport (kvmhost_virtio_device_set_transport()). A
 * device has one transport at a time.
 * @param dev the virtio device
 * @param opts the options (struct kvmhost_virtio_mmio_options; size rules as every options struct)
 * @param out receives the new virtio-mmio transport
 * @return 0; -EINVAL (NULL, a bad window), -E2BIG (options), -ENOMEM.
 */
KVMHOST_API int kvmhost_virtio_mmio_create(struct kvmhost_virtio_device *dev,
					   const struct kvmhost_virtio_mmio_options *opts,
					   struct kvmhost_virtio_mmio **out);

/** Leave the bus (if attached), disconnect from the device and destroy the
 * transport. The line is not lowered. NULL is ignored. Destroy any wiring
 * (virtio/wiring.h) of the transport first.
 * @param mmio the virtio-mmio transport
 */
KVMHOST_API void kvmhost_virtio_mmio_destroy(struct kvmhost_virtio_mmio *mmio);

/**
 * Claim [@p base, @p base + window) on MMIO bus @p bus. A transport sits on
 * one bus, at one base, until destroyed.
 * @param mmio the virtio-mmio transport
 * @param bus the bus
 * @param base the window's guest physical address; 4 KiB aligned
 * @return 0; -EINVAL for NULL, a base that is not 4 KiB aligned or a window
 *         that wraps; -EBUSY if already attached; -EEXIST if the range is
 *         taken (the bus's message names the owner).
 */
KVMHOST_API int kvmhost_virtio_mmio_attach(struct kvmhost_virtio_mmio *mmio, struct kvmhost_bus *bus, uint64_t base);

/**
 * Where the transport sits.
 * @param base receives the base address (may be NULL)
 * @param window receives the bytes claimed (may be NULL)
 * @param mmio the virtio-mmio transport
 * @return 0; -EINVAL for NULL @p mmio; -ENOTCONN if not attached (*window
 *         is still set).
 */
KVMHOST_API int kvmhost_virtio_mmio_get_window(struct kvmhost_virtio_mmio *mmio, uint64_t *base, uint64_t *window);

/**
 * Replace the interrupt line (not owned; it must outlive the transport or
 * be replaced before it is destroyed). The new line takes the current
 * level at once; the old one is left as it is. NULL disconnects.
 * @param mmio the virtio-mmio transport
 * @param irq the interrupt line
 * @return 0; -EINVAL for NULL @p mmio; the new line's error (the old line
 *         then stays).
 */
KVMHOST_API int kvmhost_virtio_mmio_set_irq(struct kvmhost_virtio_mmio *mmio, struct kvmhost_irq_line *irq);

/**
 * Format the Linux kernel command-line fragment that declares the device
 * (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES): "virtio_mmio.device=<size>@<base>:<irq>",
 * e.g. "virtio_mmio.device=4K@0xd0000000:5", NUL-terminated.
 * @param irq the interrupt number the guest knows the line by (its GSI)
 * @param mmio the virtio-mmio transport
 * @param buf receives the fragment, NUL-terminated
 * @param len bytes at @p buf
 * @return the length written (without the NUL); -EINVAL for NULL @p mmio or
 *         @p buf; -ENOTCONN if not attached; -ENOSPC if @p len is too small
 *         (@p buf then holds an empty string if @p len > 0).
 */
KVMHOST_API int kvmhost_virtio_mmio_cmdline(struct kvmhost_virtio_mmio *mmio, uint32_t irq, char *buf, size_t len);

/** Return how many register accesses the transport ignored for their
 * width or alignment, or 0 for NULL.
 * @param mmio the virtio-mmio transport
 * @return how many register accesses the transport ignored for their width or alignment, or 0 for NULL.
 */
KVMHOST_API uint64_t kvmhost_virtio_mmio_bad_accesses(struct kvmhost_virtio_mmio *mmio);

#ifdef __cplusplus
}
#endif

#endif
