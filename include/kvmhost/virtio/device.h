/**
 * @file virtio/device.h
 * @brief The virtio device framework: one device model, any transport.
 *
 * Three parties meet here:
 *  - the **device** (a block, net, entropy... model, in the library or the
 *    embedder's own) provides a const table of callbacks,
 *    struct kvmhost_virtio_device_ops, and serves requests by popping chains
 *    from its queues (include/kvmhost/virtio/queue.h);
 *  - the **framework** (this file) owns the parts every virtio device has:
 *    device type, feature negotiation, the device status state machine,
 *    config space bounds and generation, the virtqueues and their
 *    addresses, "needs reset" reporting and the migration blob;
 *  - the **transport** (virtio-mmio, virtio-pci) turns guest register
 *    accesses into the kvmhost_virtio_device_* calls marked "transport"
 *    below, and provides the interrupt side,
 *    struct kvmhost_virtio_transport_ops.
 *
 * Only virtio 1.x ("modern") devices are modelled: VERSION_1 is always
 * offered and must be accepted. The framework offers the ring features it
 * implements (RING_INDIRECT_DESC, RING_EVENT_IDX, RING_PACKED) when the
 * device's get_features() includes them, ACCESS_PLATFORM only when the
 * device includes it (it must then expect bus addresses), and the
 * device-specific bits 0-23 and 50-63 as the device returns them. Other
 * transport-range bits (24-49) are not offered.
 *
 * Status state machine (virtio 1.x section 3.1): the driver sets
 * ACKNOWLEDGE, then DRIVER, writes its features, sets FEATURES_OK (refused,
 * i.e. left clear, when the driver's features are not a subset of the
 * offered ones, lack VERSION_1, or the device's validate_features() says
 * no), sets up the queues, and sets DRIVER_OK (the device's activate() then
 * runs). Bits may only be added; writing 0 resets the device. A bit added
 * out of order is dropped. FAILED may be set at any time.
 * DEVICE_NEEDS_RESET is the device's: the framework sets it when a queue
 * breaks or the device calls kvmhost_virtio_device_set_needs_reset(), and
 * then (if DRIVER_OK is set) raises the config interrupt, as the spec asks.
 *
 * Threads. Transport calls come from vCPU threads (register accesses) and
 * are serialised by the device's state lock; queue_notify() may come from
 * any thread (an ioeventfd handler) and does not take it. The device's ops
 * run with the state lock held, except queue_notify, which runs in the
 * notifying thread; from inside an op a device must not call the transport
 * calls of its own device (set_status, config_read, ...), but it may use its
 * queues and the "device" calls, which never take the state lock
 * (kvmhost_virtio_device_notify_used, _config_changed, _set_needs_reset).
 * Interrupt callbacks are called without framework locks held, with one
 * exception: a DEVICE_NEEDS_RESET found during a transport call (a queue
 * enabled with a bad layout, a failed activation after DRIVER_OK) raises
 * the config interrupt from inside that call, under the state lock. So an
 * interrupt callback must not call the transport calls of its own device
 * (it normally only sets an ISR bit and signals an irqfd).
 */
#ifndef KVMHOST_VIRTIO_DEVICE_H
#define KVMHOST_VIRTIO_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>
#include <kvmhost/virtio/queue.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_device_registry;
struct kvmhost_memory;

/** Opaque virtio device. */
struct kvmhost_virtio_device;

/* Device status bits (virtio 1.x section 2.1). */
#define KVMHOST_VIRTIO_STATUS_ACKNOWLEDGE	 0x01 /**< the guest found the device */
#define KVMHOST_VIRTIO_STATUS_DRIVER		 0x02 /**< the guest has a driver for it */
#define KVMHOST_VIRTIO_STATUS_DRIVER_OK		 0x04 /**< the driver is ready: the device is live */
#define KVMHOST_VIRTIO_STATUS_FEATURES_OK	 0x08 /**< feature negotiation is complete */
#define KVMHOST_VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40 /**< the device hit an error it cannot recover from */
#define KVMHOST_VIRTIO_STATUS_FAILED		 0x80 /**< the driver gave up on the device */

/* Device type ids (virtio 1.x section 5). */
#define KVMHOST_VIRTIO_ID_NET	  1  /**< network card */
#define KVMHOST_VIRTIO_ID_BLOCK	  2  /**< block device */
#define KVMHOST_VIRTIO_ID_CONSOLE 3  /**< console */
#define KVMHOST_VIRTIO_ID_ENTROPY 4  /**< entropy source (rng) */
#define KVMHOST_VIRTIO_ID_BALLOON 5  /**< memory balloon */
#define KVMHOST_VIRTIO_ID_SCSI	  8  /**< SCSI host */
#define KVMHOST_VIRTIO_ID_9P	  9  /**< 9P transport */
#define KVMHOST_VIRTIO_ID_GPU	  16 /**< GPU */
#define KVMHOST_VIRTIO_ID_INPUT	  18 /**< input device */
#define KVMHOST_VIRTIO_ID_VSOCK	  19 /**< socket device (vsock) */
#define KVMHOST_VIRTIO_ID_FS	  26 /**< file system (virtiofs) */

/** Version of the state kvmhost_virtio_device_save() writes (and the registry records): 2 carries the
 * transport's registers too (a device on a transport of this library); a device without one writes 1.
 * Both are read. */
#define KVMHOST_VIRTIO_DEVICE_STATE_VERSION 2

/** Largest config space the framework accepts. */
#define KVMHOST_VIRTIO_CONFIG_MAX 4096u
/** Most queues one device may have. */
#define KVMHOST_VIRTIO_QUEUES_MAX 1024u

/**
 * What a device provides: a table of callbacks, normally a static const.
 * Each gets the opaque pointer from the device options. Size rules as
 * kvmhost_system_options (set size to sizeof). NULL callbacks have the
 * default written next to them.
 */
struct kvmhost_virtio_device_ops {
	size_t size; /**< sizeof(struct kvmhost_virtio_device_ops) */
	/** Features the device offers: device-specific bits plus the ring
	 * features it can serve (see the file comment). NULL: none but
	 * VERSION_1. */
	uint64_t (*get_features)(void *opaque);
	/** Accept (0) or refuse (negative errno) the driver's feature set
	 * before FEATURES_OK, for combinations the spec forbids. NULL: accept. */
	int (*validate_features)(void *opaque, uint64_t features);
	/** Read @p len bytes of config space at @p offset (already checked to
	 * lie inside config_size). NULL: reads as zeros. */
	int (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
	/** Write config space (bounds checked likewise). NULL: read-only
	 * config space, writes fail with -EROFS. */
	int (*config_write)(void *opaque, uint32_t offset, const void *buf, uint32_t len);
	/** Largest size of queue @p queue. NULL or 0: the options' queue_max_size. */
	uint32_t (*queue_max_size)(void *opaque, uint16_t queue);
	/** The driver set DRIVER_OK: @p features are negotiated and the queues
	 * it enabled are live. A negative return sets DEVICE_NEEDS_RESET.
	 * NULL: nothing to do. */
	int (*activate)(void *opaque, struct kvmhost_virtio_device *dev, uint64_t features);
	/** The device is being reset (status 0, reset(), restore): stop using
	 * the queues and drop every chain (pushing them afterwards gives
	 * -ESTALE), return the device's own state to power-on. NULL: nothing. */
	void (*reset)(void *opaque, struct kvmhost_virtio_device *dev);
	/** The driver kicked queue @p queue (only after DRIVER_OK, on an
	 * enabled queue). Runs in the notifying thread, e.g. an ioeventfd
	 * handler, without the state lock. NULL: kicks are ignored. */
	void (*queue_notify)(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue);
	/** Bytes of the device's own migration state (plain data). NULL: 0. */
	size_t (*state_size)(void *opaque);
	/** Serialise the device's state into exactly @p len bytes (len as
	 * state_size() said). 0 or negative errno. */
	int (*save_state)(void *opaque, void *buf, size_t len);
	/** Load a state that save_state() produced (check it: it crossed a
	 * migration channel). 0 or negative errno. */
	int (*restore_state)(void *opaque, const void *buf, size_t len);
};

/**
 * What a transport provides: how to interrupt the driver. Size rules as
 * kvmhost_system_options. Called from whatever thread pushed a used buffer
 * or changed the config, without framework locks held.
 */
struct kvmhost_virtio_transport_ops {
	size_t size; /**< sizeof(struct kvmhost_virtio_transport_ops) */
	/** Raise the used-buffer interrupt of queue @p queue (MSI-X vector,
	 * or InterruptStatus bit 0 plus the line). */
	int (*queue_interrupt)(void *opaque, uint16_t queue);
	/** Raise the configuration-change interrupt (also used to report
	 * DEVICE_NEEDS_RESET). */
	int (*config_interrupt)(void *opaque);
};

/** Options for kvmhost_virtio_device_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtio_device_options {
	size_t size;		 /**< sizeof(struct kvmhost_virtio_device_options) */
	uint32_t device_id;	 /**< KVMHOST_VIRTIO_ID_* or another virtio device id, 1..65535 */
	uint16_t num_queues;	 /**< 1 to KVMHOST_VIRTIO_QUEUES_MAX */
	uint32_t queue_max_size; /**< default largest size of each queue, 1 to 32768 */
	uint32_t config_size;	 /**< bytes of device config space, 0 to KVMHOST_VIRTIO_CONFIG_MAX */
	const struct kvmhost_virtio_device_ops *ops; /**< the device's callbacks; copied */
	void *opaque;				     /**< passed to every op */
	const char *name;			     /**< for messages; copied; may be NULL */
};

/**
 * Create a device on guest memory @p mem (which must outlive it), in reset
 * state, with its queues.
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_virtio_device_options; size rules as every options struct)
 * @param out receives the new virtio device
 * @return 0; -EINVAL (NULL, a bad option, an ops table with a bad size),
 *         -E2BIG (options or ops with unknown non-zero fields), -ENOMEM.
 */
KVMHOST_API int kvmhost_virtio_device_create(struct kvmhost_memory *mem,
					     const struct kvmhost_virtio_device_options *opts,
					     struct kvmhost_virtio_device **out);

/** Destroy a device and its queues. The device's reset op is not called.
 * NULL is ignored. Nothing may use the device any more.
 * @param dev the virtio device
 */
KVMHOST_API void kvmhost_virtio_device_destroy(struct kvmhost_virtio_device *dev);

/**
 * Connect the transport's interrupt callbacks (transport; normally once,
 * before the guest runs). @p ops NULL disconnects.
 * @param dev the virtio device
 * @param ops the transport's callbacks; NULL disconnects
 * @param opaque the caller's pointer, passed back to the callbacks
 * @return 0; -EINVAL, -E2BIG (ops size rules).
 */
KVMHOST_API int kvmhost_virtio_device_set_transport(struct kvmhost_virtio_device *dev,
						    const struct kvmhost_virtio_transport_ops *ops, void *opaque);

/**
 * Return the device type id, or 0 for NULL.
 * @param dev the virtio device
 * @return the device type id, or 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_virtio_device_id(struct kvmhost_virtio_device *dev);
/**
 * Return the number of queues, or 0 for NULL.
 * @param dev the virtio device
 * @return the number of queues, or 0 for NULL.
 */
KVMHOST_API uint16_t kvmhost_virtio_device_num_queues(struct kvmhost_virtio_device *dev);
/**
 * Return the config space size, or 0 for NULL.
 * @param dev the virtio device
 * @return the config space size, or 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_virtio_device_config_size(struct kvmhost_virtio_device *dev);

/**
 * Transport: read 32 bits of the offered features, @p page 0 (bits 0-31) or
 * 1 (bits 32-63); later pages read as 0.
 * @param dev the virtio device
 * @param page 0: bits 0-31; 1: bits 32-63
 * @param value receives the 32 bits
 * @return 0 and *value set; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_device_get_features(struct kvmhost_virtio_device *dev, uint32_t page, uint32_t *value);

/**
 * Transport: write 32 bits of the driver's features (page as above; a
 * non-zero value in a later page makes FEATURES_OK fail).
 * @param dev the virtio device
 * @param page 0: bits 0-31; 1: bits 32-63
 * @param value the 32 bits the driver accepts
 * @return 0; -EINVAL for NULL; -EBUSY once FEATURES_OK is set (ignored).
 */
KVMHOST_API int kvmhost_virtio_device_set_driver_features(struct kvmhost_virtio_device *dev, uint32_t page,
							  uint32_t value);

/**
 * Return the negotiated features (0 before FEATURES_OK, and for NULL).
 * @param dev the virtio device
 * @return the negotiated features (0 before FEATURES_OK, and for NULL).
 */
KVMHOST_API uint64_t kvmhost_virtio_device_driver_features(struct kvmhost_virtio_device *dev);

/**
 * Return the features the device offers (what get_features pages show), 0 for NULL.
 * @param dev the virtio device
 * @return the features the device offers (what get_features pages show), 0 for NULL.
 */
KVMHOST_API uint64_t kvmhost_virtio_device_offered_features(struct kvmhost_virtio_device *dev);

/** Transport: return the device status byte (DEVICE_NEEDS_RESET included),
 * or -EINVAL for NULL.
 * @param dev the virtio device
 * @return the status byte; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_device_get_status(struct kvmhost_virtio_device *dev);

/**
 * Transport: the driver writes the status byte. 0 resets the device (as
 * kvmhost_virtio_device_reset()). Otherwise see the state machine in the
 * file comment.
 * @param dev the virtio device
 * @param status the byte the driver wrote
 * @return 0; -EINVAL for NULL, a value above 0xff, a write that clears a
 *         bit, or one that adds a bit out of order (that bit is dropped, the
 *         rest applied); -EPROTO when FEATURES_OK is refused (the rest
 *         applied); the activate op's error (DEVICE_NEEDS_RESET then set).
 */
KVMHOST_API int kvmhost_virtio_device_set_status(struct kvmhost_virtio_device *dev, uint32_t status);

/** Transport or embedder: reset the device (ops->reset, queues reset,
 * features and status cleared). NULL is ignored.
 * @param dev the virtio device
 */
KVMHOST_API void kvmhost_virtio_device_reset(struct kvmhost_virtio_device *dev);

/**
 * Transport: read device config space.
 * @param dev the virtio device
 * @param offset the first byte in config space
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or zero length; -ERANGE if [offset,
 *         offset + len) is not inside config_size (nothing read); the op's
 *         error.
 */
KVMHOST_API int kvmhost_virtio_device_config_read(struct kvmhost_virtio_device *dev, uint32_t offset, void *buf,
						  uint32_t len);

/**
 * Transport: write device config space.
 * @param dev the virtio device
 * @param offset the first byte in config space
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL, -ERANGE as config_read; -EROFS if the device has no
 *         config_write op; the op's error.
 */
KVMHOST_API int kvmhost_virtio_device_config_write(struct kvmhost_virtio_device *dev, uint32_t offset, const void *buf,
						   uint32_t len);

/** Transport: return the config generation (changes whenever the device
 * announces a config change), 0 for NULL.
 * @param dev the virtio device
 * @return the config generation; 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_virtio_device_config_generation(struct kvmhost_virtio_device *dev);

/** Return queue @p index of the device (for its transport to read back
 * sizes and addresses, and for the device to pop and push), or NULL when
 * out of range. It lives as long as the device.
 * @param dev the virtio device
 * @param index the queue's index
 * @return queue @p index of the device (for its transport to read back sizes and addresses, and for the device to pop
 * and push), or NULL when out of range.
 */
KVMHOST_API struct kvmhost_virtq *kvmhost_virtio_device_queue(struct kvmhost_virtio_device *dev, uint16_t index);

/**
 * Transport: set the size of queue @p index (checked when it is enabled).
 * @param dev the virtio device
 * @param index the queue's index
 * @param size the size the driver chose
 * @return 0; -EINVAL for NULL or a bad index; -EBUSY if the queue is enabled.
 */
KVMHOST_API int kvmhost_virtio_device_queue_set_size(struct kvmhost_virtio_device *dev, uint16_t index, uint32_t size);
/**
 * Transport: set the descriptor area address of queue @p index. Errors as queue_set_size.
 * @param dev the virtio device
 * @param index the queue's index
 * @param gpa a guest physical address
 * @return as kvmhost_virtio_device_queue_set_size().
 */
KVMHOST_API int kvmhost_virtio_device_queue_set_desc_addr(struct kvmhost_virtio_device *dev, uint16_t index,
							  uint64_t gpa);
/**
 * Transport: set the driver area address of queue @p index. Errors as queue_set_size.
 * @param dev the virtio device
 * @param index the queue's index
 * @param gpa a guest physical address
 * @return as kvmhost_virtio_device_queue_set_size().
 */
KVMHOST_API int kvmhost_virtio_device_queue_set_driver_addr(struct kvmhost_virtio_device *dev, uint16_t index,
							    uint64_t gpa);
/**
 * Transport: set the device area address of queue @p index. Errors as queue_set_size.
 * @param dev the virtio device
 * @param index the queue's index
 * @param gpa a guest physical address
 * @return as kvmhost_virtio_device_queue_set_size().
 */
KVMHOST_API int kvmhost_virtio_device_queue_set_device_addr(struct kvmhost_virtio_device *dev, uint16_t index,
							    uint64_t gpa);

/**
 * Transport: the driver enables (1) or disables (0) queue @p index.
 * Enabling needs FEATURES_OK (the ring format follows the features) and
 * checks the ring layout; a bad layout breaks the queue and sets
 * DEVICE_NEEDS_RESET. Disabling resets the queue.
 * @param dev the virtio device
 * @param index the queue's index
 * @param enable 1: enable; 0: disable
 * @return 0; -EINVAL for NULL, a bad index or @p enable; -EPROTO before
 *         FEATURES_OK; kvmhost_virtq_enable()'s errors.
 */
KVMHOST_API int kvmhost_virtio_device_queue_enable(struct kvmhost_virtio_device *dev, uint16_t index, int enable);

/**
 * Transport: the driver kicked queue @p index. Passed on to the device's
 * queue_notify op when the device is live (DRIVER_OK, not FAILED or
 * DEVICE_NEEDS_RESET) and the queue is enabled; otherwise ignored. Safe
 * from any thread.
 * @param dev the virtio device
 * @param index the queue's index
 * @return 0; -EINVAL for NULL or a bad index.
 */
KVMHOST_API int kvmhost_virtio_device_queue_notify(struct kvmhost_virtio_device *dev, uint16_t index);

/**
 * Device: after pushing used buffers on queue @p index, interrupt the
 * driver if it wants to be (kvmhost_virtq_should_notify()).
 * @param dev the virtio device
 * @param index the queue's index
 * @return 1 if the interrupt was raised, 0 if not needed (or no transport
 *         is connected); -EINVAL; the queue's or the callback's error.
 */
KVMHOST_API int kvmhost_virtio_device_notify_used(struct kvmhost_virtio_device *dev, uint16_t index);

/**
 * Device: the config space changed. Moves the config generation on and,
 * once DRIVER_OK is set, raises the config interrupt.
 * @param dev the virtio device
 * @return 0; -EINVAL for NULL; the callback's error.
 */
KVMHOST_API int kvmhost_virtio_device_config_changed(struct kvmhost_virtio_device *dev);

/**
 * Device: report an error the device cannot recover from: sets
 * DEVICE_NEEDS_RESET (the first reason is kept), logs a warning and, once
 * DRIVER_OK is set, raises the config interrupt. Kicks are ignored until the
 * driver resets the device.
 * @param dev the virtio device
 * @param reason one line saying why (copied); may be NULL
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_device_set_needs_reset(struct kvmhost_virtio_device *dev, const char *reason);

/** kvmhost_virtio_device_kick_queues(): also run the device's queue_notify op for each queue, as a kick would. */
#define KVMHOST_VIRTIO_KICK_NOTIFY (1u << 0)

/**
 * After a restore or a resume: wake every active queue, since a notification
 * is not state and one that was on its way when the device was saved (a
 * kick, an interrupt) is gone. For each enabled, unbroken queue of a live
 * device (DRIVER_OK, not FAILED or DEVICE_NEEDS_RESET): the notification
 * state the device wants is written to the ring again (EVENT_IDX: the
 * avail_event re-armed at the next entry to pop; otherwise NO_NOTIFY
 * cleared), the queue's interrupt is raised once, whatever the driver's
 * suppression says (a spurious interrupt costs the driver a look; a lost
 * one hangs the queue), and, with KVMHOST_VIRTIO_KICK_NOTIFY, the device's
 * queue_notify op runs in the calling thread, so buffers the driver made
 * available before the save are served without a new kick. Without that
 * flag the caller delivers the kicks (the machine layer signals each
 * queue's notify eventfd, served by its I/O thread). Disabled queues (ring
 * addresses never enabled) are left alone. Call it without the state lock
 * (not from a device op).
 * @param dev the virtio device
 * @param flags 0 or KVMHOST_VIRTIO_KICK_NOTIFY
 * @return the number of queues woken (0 for a device that is not live);
 *         -EINVAL for NULL or unknown flags; the first interrupt callback's
 *         error (every queue is still woken).
 */
KVMHOST_API int kvmhost_virtio_device_kick_queues(struct kvmhost_virtio_device *dev, uint32_t flags);

/**
 * Report whether DEVICE_NEEDS_RESET is set, and why.
 * @param reason receives the first reason (truncated, NUL-terminated), e.g.
 *        "queue 0: available ring entry 3: head 9 out of range (queue size
 *        8)"; may be NULL
 * @param dev the virtio device
 * @param reason_len bytes at @p reason
 * @return 1 if set, 0 if not, -EINVAL for NULL @p dev.
 */
KVMHOST_API int kvmhost_virtio_device_needs_reset(struct kvmhost_virtio_device *dev, char *reason, size_t reason_len);

/**
 * Bytes kvmhost_virtio_device_save() needs: the framework's state (status,
 * features, config generation, each queue's size, addresses and ring
 * positions), the device's state_size(), and the registers of the
 * library's transport the device is on (virtio-mmio: its selectors and
 * InterruptStatus; virtio-pci: the PCI function's configuration space and
 * INTx level, the common configuration's selectors and MSI-X vectors, the
 * ISR, the MSI-X table and pending bits).
 * @param dev the virtio device
 * @return the size, or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_device_state_size(struct kvmhost_virtio_device *dev);

/**
 * Serialise the device for migration into @p buf (plain little-endian data,
 * versioned), with its transport's registers (state_size()). The device
 * must be quiescent: no chains in flight, no register access.
 * @param dev the virtio device
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return the bytes written; -EINVAL for NULL; -ENOSPC if @p len is below
 *         state_size(); -EBUSY with chains in flight; the save_state op's
 *         error.
 */
KVMHOST_API int kvmhost_virtio_device_save(struct kvmhost_virtio_device *dev, void *buf, size_t len);

/**
 * Load a state saved by kvmhost_virtio_device_save() from a device of the
 * same type and shape. The device is reset first; then the framework state
 * and the queues are restored (enabled queues re-checked against guest
 * memory, which must be in place), then the device's restore_state op runs,
 * then the transport's registers are loaded (a state saved on another kind
 * of transport, or for another shape of it, is refused before the transport
 * is touched; a version 1 state leaves the transport as it is), then, if
 * DRIVER_OK was set, the device's activate op. Guest memory must already
 * hold the migrated rings. Then kvmhost_virtio_device_kick_queues() wakes
 * what was pending. Not while the guest accesses the device.
 * @param dev the virtio device
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL or a blob that is malformed, of another
 *         version, device type or queue count, or inconsistent (the device
 *         is then left reset); the ops' errors.
 */
KVMHOST_API int kvmhost_virtio_device_restore(struct kvmhost_virtio_device *dev, const void *buf, size_t len);

/**
 * Register the device in @p registry as @p id, with state version
 * KVMHOST_VIRTIO_DEVICE_STATE_VERSION and ops that call
 * kvmhost_virtio_device_reset, _state_size, _save and _restore (a failed
 * restore leaves the device reset). There is no pause or resume: the
 * framework starts no work of its own, so with the vCPUs stopped the only
 * writers of guest memory are the device's own workers and whoever pumps
 * its queues. A device with workers needs a pause that waits for them:
 * virtio-blk has kvmhost_virtio_blk_register(); for rng, console and net,
 * whose I/O the embedder drives, stop driving it (their process/pump/rx/tx
 * calls) while paused. Remove the device before destroying it.
 * @param dev the virtio device
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p dev.
 */
KVMHOST_API int kvmhost_virtio_device_register(struct kvmhost_virtio_device *dev,
					       struct kvmhost_device_registry *registry, const char *id);

#ifdef __cplusplus
}
#endif

#endif
