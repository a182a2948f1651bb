/**
 * @file virtio/queue.h
 * @brief Virtqueues, the device side: split and packed rings in guest memory,
 * descriptor chains as iovecs, used buffers, notification suppression.
 *
 * A struct kvmhost_virtq is one virtqueue of one device, seen from the device
 * (the "host" end). It reads what the driver (the guest) writes into guest
 * memory and writes back used buffers; it never calls KVM and reaches guest
 * memory only through include/kvmhost/memory.h, so it works on a standalone
 * map made with kvmhost_memory_create() as well as on a VM's.
 *
 * Life of a queue, as a transport drives it (the virtio device framework,
 * include/kvmhost/virtio/device.h, does this for its queues):
 *  1. kvmhost_virtq_create() with the largest size the device allows;
 *  2. the driver negotiates features: kvmhost_virtq_set_features() with the
 *     negotiated set (the ring format and the ring features follow from it:
 *     KVMHOST_VIRTIO_F_RING_PACKED, _RING_INDIRECT_DESC, _RING_EVENT_IDX);
 *  3. the driver sets the size and the three areas:
 *     kvmhost_virtq_set_size(), kvmhost_virtq_set_addresses();
 *  4. kvmhost_virtq_enable() checks the layout and starts the queue;
 *  5. the device pops chains, fills them, pushes them back as used, and
 *     raises an interrupt when kvmhost_virtq_should_notify() says so;
 *  6. kvmhost_virtq_reset() returns the queue to step 2.
 *
 * Guest data is never trusted. Every field the driver controls is checked
 * before it is used: ring placement, size and alignment (at enable), the
 * available index, head and next indices, descriptor addresses and lengths
 * (wrap-around, total over 4 GiB, outside guest memory, writable buffers in
 * read-only memory), chain length and loops, indirect tables (feature
 * negotiated, length a non-zero multiple of 16, no NEXT flag beside
 * INDIRECT, no table inside a table), buffer direction order (all readable
 * before all writable), packed buffer ids and availability, a head or buffer
 * id that is already in flight. A violation makes the queue "broken": it
 * logs a warning, keeps the first reason (kvmhost_virtq_broken()), stops
 * (pop and push fail with -EIO, nothing more is read or written) and tells
 * its owner, which for a framework device sets DEVICE_NEEDS_RESET. Only a
 * reset clears it. No violation ever makes the library touch memory outside
 * the guest's regions.
 *
 * How chains map to host memory:
 *  - Each buffer becomes one iovec per guest memory region it touches: a
 *    buffer that crosses from one region into an adjacent one is split into
 *    two (or more) iovecs; a buffer that runs into a hole is refused
 *    (-EFAULT). Zero-length descriptors are accepted and yield no iovec.
 *  - Writable buffers must not lie in read-only regions (-EROFS).
 *  - Rings and indirect tables are translated as a whole, so each must lie
 *    inside one region.
 *  - A chain may hold at most queue-size descriptors, indirect ones
 *    included (the spec's limit, which also bounds loops: a direct walk is
 *    cut at queue size, a walk inside an indirect table at the table's own
 *    size), at most 2^32 bytes in total, and at most 2 * queue size + 16
 *    iovecs. Memory held by popped chains is proportional to their iovecs.
 *
 * Host pointers in a chain stay valid while the region they point into
 * exists; stop devices before removing guest memory (as memory.h says).
 *
 * Memory ordering follows the spec: the available index (split) or a
 * descriptor's flags (packed) are read with acquire semantics before the
 * ring entries and descriptors behind them; the used element (split) or
 * used descriptor fields (packed) are written before the used index or
 * descriptor flags are stored with release semantics; a full barrier
 * separates publishing used buffers (or enabling notifications) from reading
 * the other side's event suppression fields. Every byte the queue writes
 * into guest memory (used ring, used descriptors, avail_event, device event
 * suppression) is marked in the VMM-side dirty bitmap, and so are the first
 * @c written bytes of a chain's writable buffers when it is pushed.
 *
 * Thread safety: every call takes the queue's own lock, so pops, pushes and
 * notification checks may come from different threads (a notify handler and
 * an I/O completion thread, say). Transport calls (set_*, enable, reset) may
 * race with them too. kvmhost_virtq_destroy() must not race anything.
 * The chain helpers (kvmhost_virtq_chain_read/_write) touch only the chain.
 */
#ifndef KVMHOST_VIRTIO_QUEUE_H
#define KVMHOST_VIRTIO_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_memory;

/** Opaque virtqueue. */
struct kvmhost_virtq;

/** Largest queue size of either ring format (virtio 1.x). */
#define KVMHOST_VIRTQ_MAX_SIZE 32768u

/* Feature bits (bit numbers) of virtio 1.x that concern virtqueues and the
 * device framework. Test them as (features >> bit) & 1, or with
 * KVMHOST_VIRTIO_BIT(). */
/** Shift a feature bit number into a 64-bit mask. */
#define KVMHOST_VIRTIO_BIT(bit) (1ull << (bit))
/** Indirect descriptors (a descriptor pointing at a table of descriptors). */
#define KVMHOST_VIRTIO_F_RING_INDIRECT_DESC 28
/** used_event / avail_event (split) or RING_EVENT_FLAGS_DESC (packed) suppression. */
#define KVMHOST_VIRTIO_F_RING_EVENT_IDX 29
/** Virtio 1.x (modern) device; mandatory here. */
#define KVMHOST_VIRTIO_F_VERSION_1 32
/** The device sits behind a platform IOMMU (addresses are bus addresses). */
#define KVMHOST_VIRTIO_F_ACCESS_PLATFORM 33
/** Packed ring layout. */
#define KVMHOST_VIRTIO_F_RING_PACKED 34

/**
 * A descriptor chain popped from a queue: the buffers of one request. The
 * library owns it; the device fills the writable buffers and hands it back
 * with kvmhost_virtq_push() (or kvmhost_virtq_unpop()). Fields are only
 * ever appended in later versions.
 */
struct kvmhost_virtq_chain {
	/** What the driver knows the buffer by: the head descriptor index
	 * (split ring) or the buffer id (packed ring). Below the queue size. */
	uint16_t head;
	/** Descriptors the chain was made of, indirect ones included. */
	uint16_t descriptors;
	/** Entries in readable[] (device-readable buffers, driver -> device). */
	uint32_t readable_count;
	/** Entries in writable[] (device-writable buffers, device -> driver). */
	uint32_t writable_count;
	/** Host views of the device-readable buffers, in chain order. */
	const struct iovec *readable;
	/** Host views of the device-writable buffers, in chain order. */
	const struct iovec *writable;
	/** Total bytes in readable[] (at most 2^32). */
	uint64_t readable_len;
	/** Total bytes in writable[] (at most 2^32). */
	uint64_t writable_len;
};

/** Options for kvmhost_virtq_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtq_options {
	size_t size;	   /**< sizeof(struct kvmhost_virtq_options) */
	uint32_t max_size; /**< largest queue size the device accepts, 1 to 32768 (the size starts there) */
	uint16_t index;	   /**< the queue's number within its device, for messages */
	const char *name;  /**< for messages; copied; may be NULL */
};

/**
 * Create a disabled queue on guest memory @p mem (which must outlive it).
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_virtq_options; size rules as every options struct)
 * @param out receives the new virtqueue
 * @return 0; -EINVAL for NULL arguments or a max_size of 0 or above 32768;
 *         -E2BIG (options); -ENOMEM.
 */
KVMHOST_API int kvmhost_virtq_create(struct kvmhost_memory *mem, const struct kvmhost_virtq_options *opts,
				     struct kvmhost_virtq **out);

/** Destroy a queue, and any chains still popped from it (their pointers die
 * with it). NULL is ignored.
 * @param q the virtqueue
 */
KVMHOST_API void kvmhost_virtq_destroy(struct kvmhost_virtq *q);

/**
 * Set the negotiated feature bits the queue follows (ring format, indirect
 * descriptors, event index); other bits are ignored. Only while disabled.
 * @param q the virtqueue
 * @param features the negotiated feature bits
 * @return 0; -EINVAL for NULL; -EBUSY while enabled.
 */
KVMHOST_API int kvmhost_virtq_set_features(struct kvmhost_virtq *q, uint64_t features);

/**
 * Record the queue size the driver chose. Checked at enable, not here
 * (transports pass on whatever the guest wrote): non-zero, at most the
 * queue's max_size and 32768, and a power of two for the split ring.
 * @param q the virtqueue
 * @param size the size the driver chose
 * @return 0; -EINVAL for NULL; -EBUSY while enabled.
 */
KVMHOST_API int kvmhost_virtq_set_size(struct kvmhost_virtq *q, uint32_t size);

/**
 * Record the guest physical addresses of the three areas: descriptor table
 * (split) or descriptor ring (packed); driver area (available ring, or
 * driver event suppression); device area (used ring, or device event
 * suppression). Checked at enable.
 * @param q the virtqueue
 * @param desc guest physical address of the descriptor area
 * @param driver guest physical address of the driver area
 * @param device guest physical address of the device area
 * @return 0; -EINVAL for NULL; -EBUSY while enabled.
 */
KVMHOST_API int kvmhost_virtq_set_addresses(struct kvmhost_virtq *q, uint64_t desc, uint64_t driver, uint64_t device);

/**
 * Check the layout and start the queue. Split ring: size a power of two;
 * descriptor table 16 * size bytes, 16-byte aligned; available ring
 * 6 + 2 * size bytes, 2-aligned; used ring 6 + 8 * size bytes, 4-aligned,
 * writable. Packed ring: descriptor ring 16 * size bytes, 16-aligned,
 * writable; the event suppression areas 4 bytes each, 4-aligned, the
 * device's writable. Each inside one guest memory region. The ring indices
 * start at 0 (packed: wrap counters at 1). Enabling an enabled queue is a
 * no-op.
 * @param q the virtqueue
 * @return 0; -EINVAL for NULL, a bad size or a misaligned area; -EFAULT for
 *         an area outside guest memory; -EROFS for a device-written area in
 *         read-only memory; -EIO if the queue is broken. Every failure except
 *         NULL breaks the queue.
 */
KVMHOST_API int kvmhost_virtq_enable(struct kvmhost_virtq *q);

/**
 * Stop the queue and return it to its initial state: disabled, not broken,
 * size back to max_size, addresses and features zero. Chains still popped
 * stay allocated but are stale: kvmhost_virtq_push() releases them without
 * writing anything. NULL is ignored.
 * @param q the virtqueue
 */
KVMHOST_API void kvmhost_virtq_reset(struct kvmhost_virtq *q);

/**
 * Return 1 if the queue is enabled (and not broken), 0 if not, -EINVAL for NULL.
 * @param q the virtqueue
 * @return 1 if the queue is enabled (and not broken), 0 if not, -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtq_is_enabled(struct kvmhost_virtq *q);

/**
 * Return the recorded queue size, or 0 for NULL.
 * @param q the virtqueue
 * @return the recorded queue size, or 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_virtq_size(struct kvmhost_virtq *q);

/**
 * Return the largest size the queue accepts (its max_size), or 0 for NULL.
 * @param q the virtqueue
 * @return the largest size the queue accepts (its max_size), or 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_virtq_max_size(struct kvmhost_virtq *q);

/**
 * Read back the recorded area addresses (any pointer may be NULL).
 * @param q the virtqueue
 * @param desc receives the descriptor area's address; may be NULL
 * @param driver receives the driver area's address; may be NULL
 * @param device receives the device area's address; may be NULL
 * @return 0; -EINVAL for a NULL @p q.
 */
KVMHOST_API int kvmhost_virtq_addresses(struct kvmhost_virtq *q, uint64_t *desc, uint64_t *driver, uint64_t *device);

/**
 * Take the next available descriptor chain.
 * @param chain receives the chain, valid until it is pushed or unpopped
 * @param q the virtqueue
 * @return 1 and *chain set; 0 when the driver has made nothing new
 *         available; -EINVAL for NULL; -ENODEV if the queue is not enabled;
 *         -EIO if it is broken; -ENOMEM (nothing consumed: try again later).
 *         The pop that finds a violation breaks the queue and returns its
 *         own code: -EFAULT (a buffer or indirect table outside guest
 *         memory), -EROFS (a writable buffer in read-only memory), -ELOOP (a
 *         loop, or a chain longer than the queue size), -EOVERFLOW (a buffer
 *         that wraps around the address space, or a chain over 4 GiB),
 *         -E2BIG (more iovecs than the limit), -EPROTO (any other malformed
 *         field: an index out of range, bad flags, direction order, an
 *         available index jump, a head or buffer id already in flight, a
 *         packed list running into a slot that is not available).
 */
KVMHOST_API int kvmhost_virtq_pop(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain **chain);

/**
 * Give a chain back to the driver as used, @p written bytes of its writable
 * buffers filled (the length the used ring reports). Those bytes and the
 * used ring entry are marked dirty. Chains may be pushed in any order.
 * Whether to interrupt the driver afterwards: kvmhost_virtq_should_notify().
 * @param q the virtqueue
 * @param chain the descriptor chain (from kvmhost_virtq_pop())
 * @param written bytes of the chain's writable buffers the device filled
 * @return 0 (chain released); -EINVAL for NULL, a chain not from @p q, or
 *         @p written above chain->writable_len (the chain stays the
 *         caller's); -ESTALE if the queue was reset or disabled since the
 *         pop, -EIO if it is broken (chain released, nothing written).
 */
KVMHOST_API int kvmhost_virtq_push(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain *chain, uint32_t written);

/**
 * Put back the chain popped last, so that the next pop returns it again
 * (a device that found no room for it, say). Only the most recent pop can
 * be undone, once.
 * @param q the virtqueue
 * @param chain the descriptor chain (from kvmhost_virtq_pop())
 * @return 0 (chain released); -EINVAL for NULL or a chain that is not the
 *         last one popped (it stays the caller's); -ESTALE, -EIO as push.
 */
KVMHOST_API int kvmhost_virtq_unpop(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain *chain);

/**
 * Decide whether the driver wants a used-buffer interrupt for what was
 * pushed since the last call: never when nothing was pushed; else
 * VIRTQ_AVAIL_F_NO_INTERRUPT (split) or RING_EVENT_FLAGS_DISABLE/ENABLE
 * (packed), or with KVMHOST_VIRTIO_F_RING_EVENT_IDX whether the used index
 * passed used_event (split) or the used descriptor at the driver's event
 * offset and wrap counter was written (packed). The first decision after
 * enable always says yes.
 * @param q the virtqueue
 * @return 1 (interrupt), 0 (suppressed or nothing new), -EINVAL for NULL,
 *         -ENODEV (not enabled), -EIO (broken).
 */
KVMHOST_API int kvmhost_virtq_should_notify(struct kvmhost_virtq *q);

/**
 * Ask the driver to kick (@p enable 1) or not to kick (0) when it makes
 * buffers available. Split: VIRTQ_USED_F_NO_NOTIFY in the used ring flags,
 * or with EVENT_IDX avail_event (kept up to date by each pop while
 * enabled). Packed: RING_EVENT_FLAGS_DISABLE, _ENABLE or, with EVENT_IDX,
 * _DESC at the next descriptor to pop. Suppression is a hint the driver may
 * ignore. Enabled is the state after kvmhost_virtq_enable().
 * @param q the virtqueue
 * @param enable 1: ask for kicks; 0: ask for none
 * @return 0; when enabling, 1 if buffers became available meanwhile (pop
 *         again: a kick may have been skipped); -EINVAL for NULL or another
 *         @p enable, -ENODEV, -EIO.
 */
KVMHOST_API int kvmhost_virtq_set_notify(struct kvmhost_virtq *q, int enable);

/**
 * Report whether the queue is broken.
 * @param reason receives the first violation's description (truncated to
 *        @p reason_len, NUL-terminated); may be NULL
 * @param q the virtqueue
 * @param reason_len bytes at @p reason
 * @return 1 if broken, 0 if not, -EINVAL for NULL @p q.
 */
KVMHOST_API int kvmhost_virtq_broken(struct kvmhost_virtq *q, char *reason, size_t reason_len);

/**
 * Break the queue on the device's behalf (a malformed request the device
 * cannot serve, say): as a violation found by the queue itself.
 * @param q the virtqueue
 * @param reason one line saying why (copied)
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtq_set_broken(struct kvmhost_virtq *q, const char *reason);

/** Return the number of chains popped and not yet pushed or unpopped (stale
 * ones included), or -EINVAL for NULL.
 * @param q the virtqueue
 * @return the number of chains popped and not yet pushed or unpopped (stale ones included), or -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtq_in_flight(struct kvmhost_virtq *q);

/**
 * Copy @p len bytes of a chain's readable buffers, starting @p offset bytes
 * into them, into @p buf (a copy: validate what you read from there, the
 * guest may change the original at any time).
 * @param chain the descriptor chain (from kvmhost_virtq_pop())
 * @param offset bytes to skip into the readable buffers
 * @param buf the buffer to fill
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL; -ENOSPC if the range exceeds readable_len
 *         (nothing copied).
 */
KVMHOST_API int kvmhost_virtq_chain_read(const struct kvmhost_virtq_chain *chain, uint64_t offset, void *buf,
					 size_t len);

/**
 * Copy @p buf into a chain's writable buffers, starting @p offset bytes into
 * them. Push the chain with the number of bytes filled for them to be
 * marked dirty.
 * @param chain the descriptor chain (from kvmhost_virtq_pop())
 * @param offset bytes to skip into the writable buffers
 * @param buf the bytes
 * @param len bytes at @p buf
 * @return 0; -EINVAL for NULL; -ENOSPC if the range exceeds writable_len
 *         (nothing copied).
 */
KVMHOST_API int kvmhost_virtq_chain_write(const struct kvmhost_virtq_chain *chain, uint64_t offset, const void *buf,
					  size_t len);

#ifdef __cplusplus
}
#endif

#endif
