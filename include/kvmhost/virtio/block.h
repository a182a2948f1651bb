/**
 * @file virtio/block.h
 * @brief virtio-blk (block device, virtio device id 2) on a raw image file.
 *
 * The device serves a raw disk image (a regular file, or a block device)
 * through one or more request queues. Offered features: SEG_MAX, BLK_SIZE,
 * FLUSH, MQ (with more than one queue), TOPOLOGY (when any topology option
 * is set), SIZE_MAX (when size_max is set), DISCARD and WRITE_ZEROES (unless
 * turned off or read-only), RO (read-only mode), plus the ring features the
 * framework implements (indirect descriptors, event index, packed ring).
 *
 * Requests:
 *  - IN / OUT read and write the image (preadv/pwritev or io_uring; reads
 *    past the end of a file that shrank read as zeros);
 *  - FLUSH reaches the disk (fdatasync). A driver that negotiates FLUSH
 *    gets a writeback cache (a write completes once it is in the host's page
 *    cache); one that does not expects write-through, so its writes complete
 *    only once on stable storage (RWF_DSYNC; write-zeroes then fdatasync);
 *  - DISCARD punches a hole (fallocate PUNCH_HOLE | KEEP_SIZE; where the file
 *    system cannot, the discard still succeeds: it is a hint);
 *  - WRITE_ZEROES uses fallocate PUNCH_HOLE (when the request's unmap flag is
 *    set) or ZERO_RANGE, falling back to writing zeros;
 *  - GET_ID returns the 20-byte serial;
 *  - anything else completes with VIRTIO_BLK_S_UNSUPP.
 * Every guest-controlled field is checked. A request the device can answer
 * (a sector range beyond the capacity or overflowing, a length that is not a
 * multiple of 512, data in the wrong direction, bad discard segments, a
 * write in read-only mode) completes with VIRTIO_BLK_S_IOERR (or UNSUPP for
 * unknown discard flags). A chain it cannot answer (no device-writable byte
 * for the status, a header shorter than 16 bytes) breaks its queue, which
 * sets DEVICE_NEEDS_RESET through the framework.
 *
 * Every completion writes all of the chain's device-writable bytes (the
 * data, zeros where a read failed or a buffer was longer than the answer,
 * and the status byte, which is the last writable byte) and reports exactly
 * that many as the used length, so the queue's dirty marking covers every
 * byte the device wrote.
 *
 * I/O runs off the notifying thread: a kick only flags the queue and wakes
 * the device's I/O threads, which pop the requests, do the I/O, push the
 * used buffers and raise the interrupts (through
 * kvmhost_virtio_device_notify_used(), so EVENT_IDX suppression applies).
 * Unlike the rest of the library, this device therefore starts threads of
 * its own (with every signal blocked): a thread pool doing
 * preadv/pwritev, or io_uring rings each with one thread. Which backend is
 * the default, and why, is in docs/virtio-block.md.
 *
 * Migration: stop the vCPUs, call kvmhost_virtio_blk_drain() (no request is
 * then in flight), then kvmhost_virtio_device_save(). The device's own state
 * is its configuration (capacity, block size, queue count, read-only mode,
 * offered features); a restore into a device configured differently fails
 * with -EINVAL.
 *
 * Thread safety: kicks (any thread), drain and the getters may run
 * concurrently. Destroy must not race anything.
 */
#ifndef KVMHOST_VIRTIO_BLOCK_H
#define KVMHOST_VIRTIO_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_device_registry;
struct kvmhost_memory;
struct kvmhost_virtio_device;

/** Opaque virtio-blk device. */
struct kvmhost_virtio_blk;

/* virtio-blk feature bits (virtio 1.x section 5.2.3). */
#define KVMHOST_VIRTIO_BLK_F_SIZE_MAX	  1  /**< size_max: largest segment */
#define KVMHOST_VIRTIO_BLK_F_SEG_MAX	  2  /**< seg_max: most segments per request */
#define KVMHOST_VIRTIO_BLK_F_GEOMETRY	  4  /**< legacy geometry (never offered) */
#define KVMHOST_VIRTIO_BLK_F_RO		  5  /**< the device is read-only */
#define KVMHOST_VIRTIO_BLK_F_BLK_SIZE	  6  /**< blk_size: logical block size */
#define KVMHOST_VIRTIO_BLK_F_FLUSH	  9  /**< FLUSH requests */
#define KVMHOST_VIRTIO_BLK_F_TOPOLOGY	  10 /**< physical block and I/O size hints */
#define KVMHOST_VIRTIO_BLK_F_CONFIG_WCE	  11 /**< writeback toggle (never offered) */
#define KVMHOST_VIRTIO_BLK_F_MQ		  12 /**< num_queues request queues */
#define KVMHOST_VIRTIO_BLK_F_DISCARD	  13 /**< DISCARD requests */
#define KVMHOST_VIRTIO_BLK_F_WRITE_ZEROES 14 /**< WRITE_ZEROES requests */

/* Request types and status values (virtio 1.x section 5.2.6). */
#define KVMHOST_VIRTIO_BLK_T_IN		  0  /**< read */
#define KVMHOST_VIRTIO_BLK_T_OUT	  1  /**< write */
#define KVMHOST_VIRTIO_BLK_T_FLUSH	  4  /**< flush to stable storage */
#define KVMHOST_VIRTIO_BLK_T_GET_ID	  8  /**< device serial, 20 bytes */
#define KVMHOST_VIRTIO_BLK_T_DISCARD	  11 /**< discard sector ranges */
#define KVMHOST_VIRTIO_BLK_T_WRITE_ZEROES 13 /**< zero sector ranges */
#define KVMHOST_VIRTIO_BLK_S_OK		  0  /**< success */
#define KVMHOST_VIRTIO_BLK_S_IOERR	  1  /**< the request failed or was invalid */
#define KVMHOST_VIRTIO_BLK_S_UNSUPP	  2  /**< the request type or a flag is not supported */
/** Discard / write-zeroes segment flag: the range may be deallocated. */
#define KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

/** Bytes of the serial GET_ID returns. */
#define KVMHOST_VIRTIO_BLK_ID_BYTES 20u
/** Bytes of config space the device has (through write_zeroes_may_unmap and its padding). */
#define KVMHOST_VIRTIO_BLK_CONFIG_SIZE 60u
/** Most queues a device may have. */
#define KVMHOST_VIRTIO_BLK_MAX_QUEUES 64u

/** Serve the image read-only: open it O_RDONLY, offer VIRTIO_BLK_F_RO and
 * not DISCARD / WRITE_ZEROES; writes, discards and write-zeroes complete
 * with VIRTIO_BLK_S_IOERR. */
#define KVMHOST_VIRTIO_BLK_READONLY (1u << 0)
/** Do not offer VIRTIO_BLK_F_DISCARD. */
#define KVMHOST_VIRTIO_BLK_NO_DISCARD (1u << 1)
/** Do not offer VIRTIO_BLK_F_WRITE_ZEROES. */
#define KVMHOST_VIRTIO_BLK_NO_WRITE_ZEROES (1u << 2)

/** How the device does its I/O (see docs/virtio-block.md for the figures). */
enum kvmhost_virtio_blk_backend {
	/** The measured default (io_uring when the library was built with it
	 * and the kernel allows it, else the thread pool). */
	KVMHOST_VIRTIO_BLK_BACKEND_DEFAULT = 0,
	/** A pool of threads doing preadv/pwritev/fdatasync/fallocate. */
	KVMHOST_VIRTIO_BLK_BACKEND_THREADS = 1,
	/** io_uring rings, each with one thread that submits and reaps.
	 * -EOPNOTSUPP when the library was built without liburing; the error
	 * of io_uring_queue_init() when the kernel refuses (-EPERM, -ENOSYS). */
	KVMHOST_VIRTIO_BLK_BACKEND_IO_URING = 2,
};

/**
 * Options for kvmhost_virtio_blk_create(); size rules as
 * kvmhost_system_options. Zero means "the default" for every field.
 */
struct kvmhost_virtio_blk_options {
	size_t size;			   /**< sizeof(struct kvmhost_virtio_blk_options) */
	const char *path;		   /**< the raw image (regular file or block device); required. An open
					    *   descriptor can be given as "/proc/self/fd/N". */
	uint32_t flags;			   /**< KVMHOST_VIRTIO_BLK_* flags */
	uint16_t num_queues;		   /**< request queues, 1 to KVMHOST_VIRTIO_BLK_MAX_QUEUES; 0: 1 */
	uint32_t queue_size;		   /**< largest size of each queue, 2 to 32768; 0: 256 */
	uint32_t blk_size;		   /**< logical block size, a power of two, 512 to 65536; 0: 512 */
	uint32_t seg_max;		   /**< most data segments per request (a hint for the driver); 0:
					    *   queue_size - 2 */
	uint32_t size_max;		   /**< largest segment in bytes (a hint); 0: not offered */
	uint8_t physical_block_exp;	   /**< topology: log2(physical block / logical block) */
	uint8_t alignment_offset;	   /**< topology: offset of the first aligned logical block */
	uint16_t min_io_size;		   /**< topology: suggested minimum I/O size, in blocks */
	uint32_t opt_io_size;		   /**< topology: optimal I/O size, in blocks */
	uint32_t max_discard_sectors;	   /**< largest discard segment, in 512-byte sectors; 0: 4194303 */
	uint32_t max_discard_seg;	   /**< most segments per discard request, 1 to 256; 0: 16 */
	uint32_t discard_sector_alignment; /**< discard alignment hint, in sectors; 0: the file system block
					    *   size (at least blk_size) */
	uint32_t max_write_zeroes_sectors; /**< largest write-zeroes segment, in sectors; 0: 4194303 */
	uint32_t max_write_zeroes_seg;	   /**< most segments per write-zeroes request, 1 to 256; 0: 16 */
	uint32_t backend;		   /**< enum kvmhost_virtio_blk_backend */
	uint32_t io_threads;		   /**< thread pool: worker threads (0: 4); io_uring: rings, each
					    *   with its own thread, at most num_queues (0: up to 4); 1 to 64 */
	const char *serial;		   /**< GET_ID answer, at most 20 bytes; copied; NULL: empty (zeros) */
	const char *name;		   /**< for messages; copied; NULL: "virtio-blk" */
};

/**
 * Create a virtio-blk device on guest memory @p mem (which must outlive it)
 * for the image at opts->path, and start its I/O threads. The capacity is
 * the image size in whole 512-byte sectors, read now.
 * @param mem the VM's guest memory (memory.h)
 * @param opts the options (struct kvmhost_virtio_blk_options; size rules as every options struct)
 * @param out receives the new virtio-blk device
 * @return 0 and *out set; -EINVAL (NULL @p mem, @p opts or @p out, no path,
 *         a bad option, an image that is neither a regular file nor a block
 *         device, or smaller than one sector), -E2BIG (unknown non-zero
 *         option fields), -EOPNOTSUPP (io_uring asked for but not built in),
 *         open(2)'s and io_uring_queue_init()'s errors, -ENOMEM, -EAGAIN (a
 *         thread could not be started).
 */
KVMHOST_API int kvmhost_virtio_blk_create(struct kvmhost_memory *mem, const struct kvmhost_virtio_blk_options *opts,
					  struct kvmhost_virtio_blk **out);

/** Wait for the requests in flight, stop the I/O threads, destroy the
 * framework device and close the image. NULL is ignored. The transport must
 * be disconnected first.
 * @param blk the virtio-blk device
 */
KVMHOST_API void kvmhost_virtio_blk_destroy(struct kvmhost_virtio_blk *blk);

/** Return the framework device (for the transport), or NULL (and the last
 * error set) for NULL. It lives as long as @p blk.
 * @param blk the virtio-blk device
 * @return the framework device (for the transport), or NULL (and the last error set) for NULL.
 */
KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_blk_device(struct kvmhost_virtio_blk *blk);

/**
 * Wait until the device is idle: every queue the driver kicked has been
 * served and no request is in flight (each was completed, pushed and
 * signalled). With the vCPUs stopped, kvmhost_virtio_device_save() can
 * follow. Kicks that arrive meanwhile are served too, so it returns only
 * once they stop.
 * @param blk the virtio-blk device
 * @return 0; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_blk_drain(struct kvmhost_virtio_blk *blk);

/**
 * Register the device in @p registry as @p id: the ops of
 * kvmhost_virtio_device_register() on kvmhost_virtio_blk_device(), plus a
 * pause that waits for the device to be idle (kvmhost_virtio_blk_drain();
 * with the vCPUs stopped no new request comes) and an empty resume. Remove
 * it before destroying it.
 * @param blk the virtio-blk device
 * @param registry the device registry
 * @param id the id to register it under (unique in @p registry)
 * @return as kvmhost_device_registry_add(); -EINVAL for a NULL @p blk.
 */
KVMHOST_API int kvmhost_virtio_blk_register(struct kvmhost_virtio_blk *blk, struct kvmhost_device_registry *registry,
					    const char *id);

/**
 * Read the capacity, in 512-byte sectors.
 * @param blk the virtio-blk device
 * @param sectors receives the capacity
 * @return 0 and *sectors set; -EINVAL for NULL arguments.
 */
KVMHOST_API int kvmhost_virtio_blk_capacity(struct kvmhost_virtio_blk *blk, uint64_t *sectors);

/**
 * Report the backend in use.
 * @param blk the virtio-blk device
 * @return KVMHOST_VIRTIO_BLK_BACKEND_THREADS or _IO_URING; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_blk_backend(struct kvmhost_virtio_blk *blk);

#ifdef __cplusplus
}
#endif

#endif
