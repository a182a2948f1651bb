/**
 * @file virtio/rng.h
 * @brief virtio-rng (entropy device, virtio device id 4).
 *
 * One queue, the requestq: the driver posts device-writable buffers and the
 * device fills them with random bytes. Each request is filled with at most
 * max_request bytes (default 64 KiB; the used length reports how many), from
 * getrandom(2) with GRND_NONBLOCK, or from the embedder's own source.
 *
 * The notifying thread (a vCPU, an ioeventfd handler) is never blocked: when
 * the source has nothing to give (getrandom() says EAGAIN before the host's
 * pool is initialised, or the embedder's fill says -EAGAIN), a partly filled
 * request is returned with what it got, and an empty one is put back on the
 * queue until the next kick or kvmhost_virtio_rng_process().
 *
 * No config space, no device-specific features; the ring features the
 * framework implements (indirect descriptors, event index, packed ring) are
 * offered.
 *
 * The device is a framework device (virtio/device.h): connect a transport to
 * kvmhost_virtio_rng_device() and it serves requests from the transport's
 * queue notifications.
 *
 * Thread safety: kicks (any thread), kvmhost_virtio_rng_process() and
 * kvmhost_virtio_rng_get_stats() may run concurrently. Destroy must not race
 * anything.
 */
#ifndef KVMHOST_VIRTIO_RNG_H
#define KVMHOST_VIRTIO_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_memory;
struct kvmhost_virtio_device;

/** Opaque virtio-rng device. */
struct kvmhost_virtio_rng;

/** Default and largest number of bytes one request is filled with. */
#define KVMHOST_VIRTIO_RNG_MAX_REQUEST (64u * 1024u)

/**
 * An entropy source: fill up to @p len bytes of @p buf without blocking.
 * @return bytes filled (0 to @p len), or a negative errno (-EAGAIN: nothing
 *         now, try later). Called from the notifying thread, without locks
 *         of the device held other than its own request lock.
 */
typedef ssize_t (*kvmhost_virtio_rng_fill_fn)(void *opaque, void *buf, size_t len);

/** Options for kvmhost_virtio_rng_create(); size rules as kvmhost_system_options. */
struct kvmhost_virtio_rng_options {
	size_t size;			 /**< sizeof(struct kvmhost_virtio_rng_options) */
	uint32_t max_request;		 /**< bytes per request, 1 to KVMHOST_VIRTIO_RNG_MAX_REQUEST; 0: the largest */
	uint32_t queue_size;		 /**< largest queue size, 1 to 32768; 0: 256 */
	kvmhost_virtio_rng_fill_fn fill; /**< entropy source; NULL: getrandom(2), GRND_NONBLOCK */
	void *fill_opaque;		 /**< passed to fill */
	const char *name;		 /**< for messages; copied; NULL: "virtio-rng" */
};

/** Counters of a virtio-rng device, filled by kvmhost_virtio_rng_get_stats(). */
struct kvmhost_virtio_rng_stats {
	size_t size;	   /**< set by the caller to sizeof(struct kvmhost_virtio_rng_stats) */
	uint64_t requests; /**< requests returned to the driver */
	uint64_t bytes;	   /**< random bytes given to the driver */
	uint64_t starved;  /**< times the source had nothing (a request waited or went back partly filled) */
	uint64_t errors;   /**< source errors other than -EAGAIN */
};

/**
 * Create a virtio-rng device on guest memory @p mem (which must outlive it).
 * @param opts options; NULL: defaults
 * @param mem the VM's guest memory (memory.h)
 * @param out receives the new virtio-rng device
 * @return 0 and *out set; -EINVAL (NULL @p mem or @p out, a bad option),
 *         -E2BIG (unknown non-zero option fields), -ENOMEM.
 */
KVMHOST_API int kvmhost_virtio_rng_create(struct kvmhost_memory *mem, const struct kvmhost_virtio_rng_options *opts,
					  struct kvmhost_virtio_rng **out);

/**
 * Destroy the device and its framework device. NULL is ignored.
 * @param rng the virtio-rng device
 */
KVMHOST_API void kvmhost_virtio_rng_destroy(struct kvmhost_virtio_rng *rng);

/** Return the framework device (for the transport), or NULL for NULL. It
 * lives as long as @p rng.
 * @param rng the virtio-rng device
 * @return the framework device (for the transport), or NULL for NULL.
 */
KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_rng_device(struct kvmhost_virtio_rng *rng);

/**
 * Serve the requests the driver has posted, as a kick does (for a retry
 * after the source was starved, from a timer say). Does nothing unless the
 * device is live.
 * @param rng the virtio-rng device
 * @return requests returned to the driver (0 or more); -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_virtio_rng_process(struct kvmhost_virtio_rng *rng);

/**
 * Copy the counters. @p stats->size must be set; a smaller (older) struct
 * gets the fields it has room for.
 * @param rng the virtio-rng device
 * @param stats receives the counters; set its size field first
 * @return 0; -EINVAL for NULL or a size smaller than the size field.
 */
KVMHOST_API int kvmhost_virtio_rng_get_stats(struct kvmhost_virtio_rng *rng, struct kvmhost_virtio_rng_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
