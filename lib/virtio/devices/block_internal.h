/*
 * Private interface between the virtio-blk device model (block.c) and its
 * I/O backends (block_io_threads.c, block_io_uring.c), plus the synchronous
 * executor both share (block_io_sync.c).
 *
 * Division of work:
 *  - block.c owns the device: config, features, request parsing and
 *    validation, completion (status, push, interrupt), the "kicked" flags
 *    and the busy count that drain and reset wait on;
 *  - a backend owns threads: a kick (block.c's queue_notify op) only sets
 *    the queue's kicked flag and calls backend->kick(); the backend's
 *    threads then call kh_blk_take() to pop and parse requests, do the I/O
 *    (kh_blk_exec() or their own asynchronous path) and hand each request
 *    back with kh_blk_finish().
 *
 * Protocol for a backend thread serving queue q:
 *    if (kh_blk_claim(blk, q)) {            (clears q's kicked flag, counts busy)
 *        while (kh_blk_take(blk, q, &req) == 1) {
 *            ... start or do the I/O ...     (more may be available: the
 *                                             thread pool re-flags q here)
 *            kh_blk_finish(req, 1);           (when the I/O is done)
 *        }
 *        kh_blk_unclaim(blk);
 *    }
 * (io_uring keeps a claim across loop iterations while its ring is full.)
 * kh_blk_take() returns 0 only after it found the queue empty with
 * notifications re-enabled, so a queue is never left with kicks suppressed
 * and nobody serving it.
 */
#ifndef KVMHOST_VIRTIO_BLOCK_INTERNAL_H
#define KVMHOST_VIRTIO_BLOCK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include <kvmhost/virtio/block.h>
#include <kvmhost/virtio/device.h>
#include <kvmhost/virtio/queue.h>

#include "../../core/internal.h"

#define KH_BLK_SECTOR	512u
#define KH_BLK_HDR_SIZE 16u
#define KH_BLK_SEG_SIZE 16u

/* What a request asks of the backend. */
enum kh_blk_op {
	KH_BLK_OP_NONE = 0, /* answered without I/O */
	KH_BLK_OP_READ,
	KH_BLK_OP_WRITE,
	KH_BLK_OP_FLUSH,
	KH_BLK_OP_DISCARD,
	KH_BLK_OP_WRITE_ZEROES,
};

/* One validated discard / write-zeroes range, in bytes. */
struct kh_blk_seg {
	uint64_t offset;
	uint64_t len;
	int unmap;
};

/* One request, in its queue's slot for the chain's head / buffer id (which
 * the queue guarantees unique among chains in flight). iov and seg grow as
 * needed and are kept for the slot's next request. */
struct kh_blk_req {
	struct kvmhost_virtio_blk *blk;
	uint16_t queue;
	const struct kvmhost_virtq_chain *chain;
	enum kh_blk_op op;
	uint8_t status;	   /* KVMHOST_VIRTIO_BLK_S_* once done */
	uint64_t offset;   /* READ / WRITE: byte offset in the image */
	uint64_t len;	   /* READ / WRITE: data bytes (the sum of iov) */
	struct iovec *iov; /* READ / WRITE: the data buffers in guest memory */
	uint32_t iovcnt;
	uint32_t iov_cap;
	struct kh_blk_seg *seg; /* DISCARD / WRITE_ZEROES */
	uint32_t nseg;
	uint32_t seg_cap;
	/* The driver did not negotiate FLUSH, so it expects write-through:
	 * WRITE and WRITE_ZEROES complete only once on stable storage. */
	int dsync;
	/* Backend scratch (io_uring: operations outstanding, first error). */
	uint32_t pending;
	int err;
	struct kh_blk_req *next;
};

struct kh_blk_backend_ops {
	const char *name;
	/* Start the backend's threads (and rings); 0 or a negative errno with
	 * the last error set. */
	int (*start)(struct kvmhost_virtio_blk *blk);
	/* Queue @q was flagged kicked: wake whoever serves it. Never blocks
	 * on I/O. */
	void (*kick)(struct kvmhost_virtio_blk *blk, uint16_t q);
	/* Stop and join the threads (nothing is in flight any more). */
	void (*stop)(struct kvmhost_virtio_blk *blk);
};

struct kvmhost_virtio_blk {
	struct kvmhost_virtio_device *dev;
	char name[64];
	int fd;
	int readonly;
	uint64_t capacity; /* sectors */
	uint16_t num_queues;
	uint32_t queue_size;
	uint32_t blk_size;
	uint32_t seg_max, size_max;
	uint8_t physical_block_exp, alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint64_t features; /* device-specific bits offered */
	char serial[KVMHOST_VIRTIO_BLK_ID_BYTES];
	uint32_t io_threads;

	_Atomic uint64_t negotiated;
	_Atomic int active;	     /* DRIVER_OK and not being reset */
	_Atomic uint8_t *kicked;     /* per queue: may have requests to pop */
	_Atomic uint8_t *notify_off; /* per queue: we asked the driver not to kick */
	struct kh_blk_req **reqs;    /* per queue: queue_size slots */

	/* busy: requests taken and not finished, plus threads inside take.
	 * idle_lock/idle_cond: drain and reset wait for busy == 0. */
	_Atomic uint32_t busy;
	_Atomic uint32_t kicked_count;
	pthread_mutex_t idle_lock;
	pthread_cond_t idle_cond;

	const struct kh_blk_backend_ops *backend;
	int backend_id; /* enum kvmhost_virtio_blk_backend */
	void *backend_priv;
};

/* Failures in the steps of kvmhost_virtio_blk_create() (option checks,
 * opening the image, starting a backend), reported under its name. */
#define KH_BLK_FAIL(err, ...)  kh_fail((err), "kvmhost_virtio_blk_create", __VA_ARGS__)
#define KH_BLK_FAIL_ERRNO(...) kh_fail(errno ? errno : EIO, "kvmhost_virtio_blk_create", __VA_ARGS__)

/* block.c, for the backends. */
/* Take q's kicked flag: 1 if it was set. */
int kh_blk_claim(struct kvmhost_virtio_blk *blk, uint16_t q);
/* End a claim (drops the busy count the claim took). */
void kh_blk_unclaim(struct kvmhost_virtio_blk *blk);
/* Flag q as kicked again (more may be available) and tell the backend. */
void kh_blk_rekick(struct kvmhost_virtio_blk *blk, uint16_t q);
/* Whether any queue is flagged; and the next flagged queue at or after
 * *cursor (round robin), claimed: 1 and *q set, or 0. */
int kh_blk_claim_any(struct kvmhost_virtio_blk *blk, uint16_t *cursor, uint16_t *q);
/* Pop the next request of queue q that needs I/O: 1 and *out set (counted
 * busy until kh_blk_finish()); 0 when the queue is empty, disabled, broken
 * or the device is not live. Requests answered without I/O (errors,
 * GET_ID, UNSUPP) are completed inside. */
int kh_blk_take(struct kvmhost_virtio_blk *blk, uint16_t q, struct kh_blk_req **out);
/* Complete a taken request with req->status: write the status (and zeros
 * over unfilled data), push it, interrupt the driver if @notify, drop busy. */
void kh_blk_finish(struct kh_blk_req *req, int notify);
/* Interrupt the driver for queue q if it wants (after kh_blk_finish(req, 0)). */
void kh_blk_notify(struct kvmhost_virtio_blk *blk, uint16_t q);

/* block_io_sync.c: do a request's I/O in the calling thread; sets
 * req->status. READ / WRITE start @done bytes in (what an asynchronous path
 * already transferred). */
void kh_blk_exec(struct kh_blk_req *req, uint64_t done);
/* Describe a failed operation at WARN level (rate: once per request). */
void kh_blk_io_error(struct kh_blk_req *req, const char *what, int err);

/* The backends. io_uring's start() fails with -EOPNOTSUPP when the library
 * was built without liburing. */
extern const struct kh_blk_backend_ops kh_blk_threads_backend;
extern const struct kh_blk_backend_ops kh_blk_uring_backend;

#endif
