/*
 * virtio-blk (virtio/block.h): the device model on a raw image. This file
 * has the device's side of the framework (features, config space, activate,
 * reset, kicks, migration state), the parsing and validation of requests,
 * and their completion; the I/O itself is the backends' (block_internal.h
 * describes the split and the protocol between them).
 *
 * Concurrency. A kick sets the queue's kicked flag and wakes the backend;
 * backend threads claim flagged queues, pop and parse requests
 * (kh_blk_take), do the I/O and complete them (kh_blk_finish), all without
 * a device-wide lock: the queues have their own locks, each request lives
 * in the slot of its chain's head (unique while in flight), and "busy"
 * counts claims and requests in flight so that drain and reset can wait
 * for quiescence. Reset (under the framework's state lock) clears "active"
 * first, so nothing new is popped, then waits for busy to reach zero.
 */
#include <endian.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block_internal.h"

#define BIT(b) KVMHOST_VIRTIO_BIT(b)

#define KH_BLK_DEFAULT_QUEUE_SIZE  256u
#define KH_BLK_DEFAULT_MAX_SECTORS 0x3fffffu /* 2 GiB - 512 per segment */
#define KH_BLK_DEFAULT_MAX_SEG	   16u
#define KH_BLK_MAX_SEG		   256u
#define KH_BLK_MAX_IO_THREADS	   64u

/* The measured default (docs/virtio-block.md). */
#ifdef KVMHOST_HAVE_LIBURING
#define KH_BLK_DEFAULT_BACKEND KVMHOST_VIRTIO_BLK_BACKEND_IO_URING
#else
#define KH_BLK_DEFAULT_BACKEND KVMHOST_VIRTIO_BLK_BACKEND_THREADS
#endif

/* Device state blob (little-endian): magic, version, capacity, blk_size,
 * num_queues, flags (bit 0 read-only), pad, offered device features. */
#define KH_BLK_STATE_MAGIC   0x4b4c4256u /* "VBLK" */
#define KH_BLK_STATE_VERSION 1u
#define KH_BLK_STATE_SIZE    32u

/* ---- busy accounting ---- */

static void kh_blk_busy_get(struct kvmhost_virtio_blk *blk)
{
	atomic_fetch_add(&blk->busy, 1);
}

static void kh_blk_busy_put(struct kvmhost_virtio_blk *blk)
{
	if (atomic_fetch_sub(&blk->busy, 1) == 1) {
		pthread_mutex_lock(&blk->idle_lock);
		pthread_cond_broadcast(&blk->idle_cond);
		pthread_mutex_unlock(&blk->idle_lock);
	}
}

static int kh_blk_any_kicked(struct kvmhost_virtio_blk *blk)
{
	for (uint16_t i = 0; i < blk->num_queues; i++)
		if (atomic_load(&blk->kicked[i]))
			return 1;
	return 0;
}

/* Wait until nothing is in flight and, if @kicks, no live queue is flagged. */
static void kh_blk_wait_idle(struct kvmhost_virtio_blk *blk, int kicks)
{
	pthread_mutex_lock(&blk->idle_lock);
	for (;;) {
		/* Flags before busy: a claim raises busy before it clears a flag. */
		int flagged = kicks && atomic_load(&blk->active) && kh_blk_any_kicked(blk);
		struct timespec ts;

		if (!flagged && atomic_load(&blk->busy) == 0)
			break;
		/* Woken when busy drops to zero; the timeout re-checks flags
		 * that a backend has not claimed yet. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&blk->idle_cond, &blk->idle_lock, &ts);
	}
	pthread_mutex_unlock(&blk->idle_lock);
}

/* ---- kicks ---- */

int kh_blk_claim(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	kh_blk_busy_get(blk);
	if (atomic_exchange(&blk->kicked[q], 0))
		return 1;
	kh_blk_busy_put(blk);
	return 0;
}

int kh_blk_claim_any(struct kvmhost_virtio_blk *blk, uint16_t *cursor, uint16_t *q)
{
	for (uint16_t n = 0; n < blk->num_queues; n++) {
		uint16_t i = (uint16_t)((*cursor + n) % blk->num_queues);

		if (atomic_load(&blk->kicked[i]) && kh_blk_claim(blk, i)) {
			*q = i;
			*cursor = (uint16_t)((i + 1) % blk->num_queues);
			return 1;
		}
	}
	return 0;
}

void kh_blk_rekick(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	atomic_store(&blk->kicked[q], 1);
	blk->backend->kick(blk, q);
}

/* The end of a claim (kh_blk_claim() / _claim_any() returned 1). */
void kh_blk_unclaim(struct kvmhost_virtio_blk *blk)
{
	kh_blk_busy_put(blk);
}

/* ---- parsing ---- */

/* Make req->iov the bytes [skip, skip + len) of @src. */
static int kh_blk_slice(struct kh_blk_req *req, const struct iovec *src, uint32_t count, uint64_t skip, uint64_t len)
{
	uint32_t n = 0;

	if (count > req->iov_cap) {
		struct iovec *v = realloc(req->iov, count * sizeof(*v));

		if (!v)
			return -ENOMEM;
		req->iov = v;
		req->iov_cap = count;
	}
	for (uint32_t i = 0; i < count && len; i++) {
		uint64_t l = src[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len)
			l = len;
		req->iov[n].iov_base = (uint8_t *)src[i].iov_base + skip;
		req->iov[n].iov_len = (size_t)l;
		n++;
		len -= l;
		skip = 0;
	}
	req->iovcnt = n;
	return 0;
}

/* Is [sector, sector + bytes / 512) a whole-sector range inside the disk? */
static int kh_blk_range_ok(struct kvmhost_virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	if (bytes % KH_BLK_SECTOR)
		return 0;
	return sector <= blk->capacity && bytes / KH_BLK_SECTOR <= blk->capacity - sector;
}

/* A request the device answers with an error; logged at DEBUG (the guest
 * controls how often). Returns 0 (answered without I/O). */
static int kh_blk_refuse(struct kh_blk_req *req, uint8_t status, const char *fmt, ...) KH_PRINTF(3, 4);
static int kh_blk_refuse(struct kh_blk_req *req, uint8_t status, const char *fmt, ...)
{
	if (kh_log_enabled(KVMHOST_LOG_DEBUG)) {
		char msg[160];
		va_list ap;

		va_start(ap, fmt);
		if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
			msg[0] = '\0';
		va_end(ap);
		kh_log(KVMHOST_LOG_DEBUG, "virtio-blk %s: queue %u: request %u: %s", req->blk->name, req->queue,
		       req->chain->head, msg);
	}
	req->op = KH_BLK_OP_NONE;
	req->status = status;
	return 0;
}

/* Read and check the segments of a discard / write-zeroes request. */
static int kh_blk_parse_segments(struct kh_blk_req *req, uint64_t data, int zeroes)
{
	struct kvmhost_virtio_blk *blk = req->blk;
	uint32_t max_seg = zeroes ? blk->max_write_zeroes_seg : blk->max_discard_seg;
	uint32_t max_sectors = zeroes ? blk->max_write_zeroes_sectors : blk->max_discard_sectors;
	const char *what = zeroes ? "write zeroes" : "discard";
	uint32_t n;

	if (data == 0 || data % KH_BLK_SEG_SIZE)
		return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "%s with %llu bytes of segments", what,
				     (unsigned long long)data);
	if (data / KH_BLK_SEG_SIZE > max_seg)
		return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "%s with %llu segments (max %u)", what,
				     (unsigned long long)(data / KH_BLK_SEG_SIZE), max_seg);
	n = (uint32_t)(data / KH_BLK_SEG_SIZE);
	if (n > req->seg_cap) {
		struct kh_blk_seg *s = realloc(req->seg, n * sizeof(*s));

		if (!s)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "out of memory for %u segments", n);
		req->seg = s;
		req->seg_cap = n;
	}
	req->nseg = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t raw[KH_BLK_SEG_SIZE];
		uint64_t sector;
		uint32_t sectors, flags;

		/* A copy: the guest may change the original meanwhile. */
		if (kvmhost_virtq_chain_read(req->chain, KH_BLK_HDR_SIZE + (uint64_t)i * KH_BLK_SEG_SIZE, raw,
					     sizeof(raw)) < 0)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "unreadable segment %u", i);
		memcpy(&sector, raw, 8);
		memcpy(&sectors, raw + 8, 4);
		memcpy(&flags, raw + 12, 4);
		sector = le64toh(sector);
		sectors = le32toh(sectors);
		flags = le32toh(flags);
		/* The spec: unknown flags, and unmap on a discard, are UNSUPP. */
		if (flags & ~(zeroes ? KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u))
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_UNSUPP, "%s segment %u: flags 0x%x", what, i,
					     flags);
		if (sectors > max_sectors)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "%s segment %u: %u sectors (max %u)",
					     what, i, sectors, max_sectors);
		if (!kh_blk_range_ok(blk, sector, (uint64_t)sectors * KH_BLK_SECTOR))
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR,
					     "%s segment %u: sectors %llu + %u outside the disk (%llu)", what, i,
					     (unsigned long long)sector, sectors, (unsigned long long)blk->capacity);
		if (sectors == 0)
			continue;
		req->seg[req->nseg].offset = sector * KH_BLK_SECTOR;
		req->seg[req->nseg].len = (uint64_t)sectors * KH_BLK_SECTOR;
		req->seg[req->nseg].unmap = (flags & KVMHOST_VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0;
		req->nseg++;
	}
	if (req->nseg == 0) {
		req->op = KH_BLK_OP_NONE;
		req->status = KVMHOST_VIRTIO_BLK_S_OK;
		return 0;
	}
	req->op = zeroes ? KH_BLK_OP_WRITE_ZEROES : KH_BLK_OP_DISCARD;
	return 1;
}

/*
 * Parse the chain of @req: 1 when it needs I/O (req->op set), 0 when it is
 * answered already (req->status set, GET_ID's data written), -1 when the
 * chain cannot be answered at all (no status byte, header too short), with
 * @why set: the queue is then broken.
 */
static int kh_blk_parse(struct kh_blk_req *req, const char **why)
{
	struct kvmhost_virtio_blk *blk = req->blk;
	const struct kvmhost_virtq_chain *c = req->chain;
	uint64_t negotiated = atomic_load(&blk->negotiated);
	uint8_t hdr[KH_BLK_HDR_SIZE];
	uint64_t in_data, out_data, sector;
	uint32_t type;

	req->op = KH_BLK_OP_NONE;
	req->status = KVMHOST_VIRTIO_BLK_S_OK;
	req->len = 0;
	req->iovcnt = 0;
	req->nseg = 0;
	req->dsync = !(negotiated & BIT(KVMHOST_VIRTIO_BLK_F_FLUSH));
	if (c->writable_len == 0) {
		*why = "virtio-blk request without a device-writable status byte";
		return -1;
	}
	if (c->readable_len < KH_BLK_HDR_SIZE) {
		*why = "virtio-blk request header shorter than 16 bytes";
		return -1;
	}
	if (kvmhost_virtq_chain_read(c, 0, hdr, sizeof(hdr)) < 0) {
		*why = "virtio-blk request header unreadable";
		return -1;
	}
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	type = le32toh(type);
	sector = le64toh(sector);
	/* Data the driver sent beyond the header, and room for data back
	 * before the status byte (the last writable byte). */
	in_data = c->readable_len - KH_BLK_HDR_SIZE;
	out_data = c->writable_len - 1;

	switch (type) {
	case KVMHOST_VIRTIO_BLK_T_IN:
		if (in_data)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR,
					     "read with %llu device-readable data bytes", (unsigned long long)in_data);
		if (!kh_blk_range_ok(blk, sector, out_data))
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR,
					     "read of %llu bytes at sector %llu: outside the disk (%llu sectors) or "
					     "not whole sectors",
					     (unsigned long long)out_data, (unsigned long long)sector,
					     (unsigned long long)blk->capacity);
		if (kh_blk_slice(req, c->writable, c->writable_count, 0, out_data) < 0)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "out of memory");
		req->op = KH_BLK_OP_READ;
		req->offset = sector * KH_BLK_SECTOR;
		req->len = out_data;
		return 1;
	case KVMHOST_VIRTIO_BLK_T_OUT:
		if (blk->readonly)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "write to a read-only disk");
		if (out_data)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR,
					     "write with %llu device-writable data bytes",
					     (unsigned long long)out_data);
		if (!kh_blk_range_ok(blk, sector, in_data))
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR,
					     "write of %llu bytes at sector %llu: outside the disk (%llu sectors) or "
					     "not whole sectors",
					     (unsigned long long)in_data, (unsigned long long)sector,
					     (unsigned long long)blk->capacity);
		if (kh_blk_slice(req, c->readable, c->readable_count, KH_BLK_HDR_SIZE, in_data) < 0)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "out of memory");
		req->op = KH_BLK_OP_WRITE;
		req->offset = sector * KH_BLK_SECTOR;
		req->len = in_data;
		return 1;
	case KVMHOST_VIRTIO_BLK_T_FLUSH:
		if (in_data || out_data)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "flush with data");
		req->op = KH_BLK_OP_FLUSH;
		return 1;
	case KVMHOST_VIRTIO_BLK_T_GET_ID: {
		size_t n = (size_t)KH_MIN(out_data, (uint64_t)KVMHOST_VIRTIO_BLK_ID_BYTES);

		if (in_data)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "get-id with device-readable data");
		/* Zeros beyond the 20 bytes are written at completion. */
		if (kvmhost_virtq_chain_write(c, 0, blk->serial, n) < 0)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "get-id buffer unwritable");
		req->len = n;
		return 0;
	}
	case KVMHOST_VIRTIO_BLK_T_DISCARD:
	case KVMHOST_VIRTIO_BLK_T_WRITE_ZEROES: {
		int zeroes = type == KVMHOST_VIRTIO_BLK_T_WRITE_ZEROES;
		unsigned bit = zeroes ? KVMHOST_VIRTIO_BLK_F_WRITE_ZEROES : KVMHOST_VIRTIO_BLK_F_DISCARD;

		if (blk->readonly)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "%s on a read-only disk",
					     zeroes ? "write zeroes" : "discard");
		if (!(negotiated & BIT(bit)))
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_UNSUPP, "%s not negotiated",
					     zeroes ? "write zeroes" : "discard");
		if (out_data)
			return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_IOERR, "%s with device-writable data",
					     zeroes ? "write zeroes" : "discard");
		return kh_blk_parse_segments(req, in_data, zeroes);
	}
	default:
		return kh_blk_refuse(req, KVMHOST_VIRTIO_BLK_S_UNSUPP, "request type %u", type);
	}
}

/* ---- completion ---- */

/* Zero the writable bytes [from, to) of a chain. */
static void kh_blk_zero_writable(const struct kvmhost_virtq_chain *c, uint64_t from, uint64_t to)
{
	uint64_t pos = 0;

	for (uint32_t i = 0; i < c->writable_count && pos < to; i++) {
		uint64_t l = c->writable[i].iov_len, a = pos, b = pos + l;

		if (b > from) {
			uint64_t s = a > from ? a : from, e = b < to ? b : to;

			memset((uint8_t *)c->writable[i].iov_base + (s - a), 0, (size_t)(e - s));
		}
		pos = b;
	}
}

/* Write the status (and zeros over every writable byte not filled) and
 * push: the used length is all of the writable bytes, each written. */
static void kh_blk_complete(struct kh_blk_req *req)
{
	const struct kvmhost_virtq_chain *c = req->chain;
	struct kvmhost_virtq *vq = kvmhost_virtio_device_queue(req->blk->dev, req->queue);
	uint64_t data = c->writable_len - 1, filled = 0;
	uint8_t st = req->status;

	if (req->status == KVMHOST_VIRTIO_BLK_S_OK) {
		if (req->op == KH_BLK_OP_READ)
			filled = req->len;
		else if (req->op == KH_BLK_OP_NONE)
			filled = req->len; /* GET_ID's serial */
	}
	if (filled < data)
		kh_blk_zero_writable(c, filled, data);
	(void)kvmhost_virtq_chain_write(c, data, &st, 1);
	/* Let go of the slot before the push: once pushed, the driver may
	 * reuse the head and another thread fill this slot again. */
	req->chain = NULL;
	/* -ESTALE (reset meanwhile) and -EIO (broken) release the chain too. */
	(void)kvmhost_virtq_push(vq, c, (uint32_t)c->writable_len);
}

void kh_blk_notify(struct kvmhost_virtio_blk *blk, uint16_t q)
{
	(void)kvmhost_virtio_device_notify_used(blk->dev, q);
}

void kh_blk_finish(struct kh_blk_req *req, int notify)
{
	struct kvmhost_virtio_blk *blk = req->blk;
	uint16_t q = req->queue;

	kh_blk_complete(req);
	if (notify)
		kh_blk_notify(blk, q);
	kh_blk_busy_put(blk);
}

int kh_blk_take(struct kvmhost_virtio_blk *blk, uint16_t q, struct kh_blk_req **out)
{
	struct kvmhost_virtq *vq = kvmhost_virtio_device_queue(blk->dev, q);
	const struct kvmhost_virtq_chain *c;
	int answered = 0;

	while (atomic_load(&blk->active)) {
		struct kh_blk_req *req;
		const char *why = NULL;
		int r = kvmhost_virtq_pop(vq, &c);

		if (r == 0) {
			/* Empty: ask for kicks again, then look once more for
			 * what arrived while they were off. Always, so that a
			 * racing disable by another thread cannot stick. */
			atomic_store(&blk->notify_off[q], 0);
			if (kvmhost_virtq_set_notify(vq, 1) == 1)
				continue;
			break;
		}
		if (r == -ENOMEM) {
			/* Nothing consumed: make sure the driver's next kick
			 * reaches us, and retry then. */
			atomic_store(&blk->notify_off[q], 0);
			(void)kvmhost_virtq_set_notify(vq, 1);
			kh_log(KVMHOST_LOG_WARN, "virtio-blk %s: queue %u: out of memory popping a request", blk->name,
			       q);
			break;
		}
		if (r < 0)
			break; /* disabled, or broken (needs reset is set) */
		/* While we are popping, kicks are only overhead. */
		if (!atomic_exchange(&blk->notify_off[q], 1))
			(void)kvmhost_virtq_set_notify(vq, 0);
		req = &blk->reqs[q][c->head];
		req->chain = c;
		r = kh_blk_parse(req, &why);
		if (r < 0) {
			req->chain = NULL;
			kvmhost_virtq_set_broken(vq, why);
			(void)kvmhost_virtq_push(vq, c, 0); /* releases it (-EIO) */
			break;
		}
		if (r == 1) {
			kh_blk_busy_get(blk);
			if (answered)
				kh_blk_notify(blk, q);
			*out = req;
			return 1;
		}
		kh_blk_complete(req);
		answered = 1;
	}
	if (answered)
		kh_blk_notify(blk, q);
	return 0;
}

/* ---- framework ops ---- */

static uint64_t kh_blk_get_features(void *opaque)
{
	struct kvmhost_virtio_blk *blk = opaque;

	return blk->features | BIT(KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) | BIT(KVMHOST_VIRTIO_F_RING_EVENT_IDX) |
	       BIT(KVMHOST_VIRTIO_F_RING_PACKED);
}

static void kh_put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int kh_blk_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	struct kvmhost_virtio_blk *blk = opaque;
	uint8_t cfg[KVMHOST_VIRTIO_BLK_CONFIG_SIZE];

	memset(cfg, 0, sizeof(cfg));
	kh_put_le(cfg + 0, blk->capacity, 8);
	kh_put_le(cfg + 8, blk->size_max, 4);
	kh_put_le(cfg + 12, blk->seg_max, 4);
	/* 16: geometry, not offered */
	kh_put_le(cfg + 20, blk->blk_size, 4);
	cfg[24] = blk->physical_block_exp;
	cfg[25] = blk->alignment_offset;
	kh_put_le(cfg + 26, blk->min_io_size, 2);
	kh_put_le(cfg + 28, blk->opt_io_size, 4);
	/* 32: writeback (CONFIG_WCE not offered), 33: unused */
	kh_put_le(cfg + 34, blk->num_queues, 2);
	kh_put_le(cfg + 36, blk->max_discard_sectors, 4);
	kh_put_le(cfg + 40, blk->max_discard_seg, 4);
	kh_put_le(cfg + 44, blk->discard_sector_alignment, 4);
	kh_put_le(cfg + 48, blk->max_write_zeroes_sectors, 4);
	kh_put_le(cfg + 52, blk->max_write_zeroes_seg, 4);
	cfg[56] = 1;			/* write_zeroes_may_unmap: holes are punched when allowed */
	memcpy(buf, cfg + offset, len); /* the framework checked the bounds */
	return 0;
}

static int kh_blk_activate(void *opaque, struct kvmhost_virtio_device *dev, uint64_t features)
{
	struct kvmhost_virtio_blk *blk = opaque;

	(void)dev;
	atomic_store(&blk->negotiated, features);
	for (uint16_t i = 0; i < blk->num_queues; i++)
		atomic_store(&blk->notify_off[i], 0);
	atomic_store(&blk->active, 1);
	/* Serve whatever is already available (after a restore, the driver
	 * kicked the source, not us). */
	for (uint16_t i = 0; i < blk->num_queues; i++)
		kh_blk_rekick(blk, i);
	return 0;
}

/* Stop taking requests and wait for those in flight. */
static void kh_blk_quiesce(struct kvmhost_virtio_blk *blk)
{
	atomic_store(&blk->active, 0);
	for (uint16_t i = 0; i < blk->num_queues; i++)
		atomic_store(&blk->kicked[i], 0);
	kh_blk_wait_idle(blk, 0);
}

static void kh_blk_reset(void *opaque, struct kvmhost_virtio_device *dev)
{
	struct kvmhost_virtio_blk *blk = opaque;

	(void)dev;
	kh_blk_quiesce(blk);
	atomic_store(&blk->negotiated, 0);
}

static void kh_blk_queue_notify(void *opaque, struct kvmhost_virtio_device *dev, uint16_t queue)
{
	struct kvmhost_virtio_blk *blk = opaque;

	(void)dev;
	if (queue >= blk->num_queues || !atomic_load(&blk->active))
		return;
	kh_blk_rekick(blk, queue);
}

static size_t kh_blk_state_size(void *opaque)
{
	(void)opaque;
	return KH_BLK_STATE_SIZE;
}

static void kh_blk_state_encode(struct kvmhost_virtio_blk *blk, uint8_t *b)
{
	memset(b, 0, KH_BLK_STATE_SIZE);
	kh_put_le(b + 0, KH_BLK_STATE_MAGIC, 4);
	kh_put_le(b + 4, KH_BLK_STATE_VERSION, 4);
	kh_put_le(b + 8, blk->capacity, 8);
	kh_put_le(b + 16, blk->blk_size, 4);
	kh_put_le(b + 20, blk->num_queues, 2);
	b[22] = blk->readonly ? 1 : 0;
	kh_put_le(b + 24, blk->features, 8);
}

static int kh_blk_save_state(void *opaque, void *buf, size_t len)
{
	struct kvmhost_virtio_blk *blk = opaque;

	if (len != KH_BLK_STATE_SIZE)
		return KH_FAIL(EINVAL, "virtio-blk %s: state of %zu bytes, %u expected", blk->name, len,
			       KH_BLK_STATE_SIZE);
	if (atomic_load(&blk->busy))
		return KH_FAIL(EBUSY, "virtio-blk %s: requests in flight (drain first)", blk->name);
	kh_blk_state_encode(blk, buf);
	return 0;
}

static int kh_blk_restore_state(void *opaque, const void *buf, size_t len)
{
	struct kvmhost_virtio_blk *blk = opaque;
	uint8_t want[KH_BLK_STATE_SIZE];

	if (len != KH_BLK_STATE_SIZE)
		return KH_FAIL(EINVAL, "virtio-blk %s: state of %zu bytes, %u expected", blk->name, len,
			       KH_BLK_STATE_SIZE);
	kh_blk_state_encode(blk, want);
	if (memcmp(buf, want, 8) != 0)
		return KH_FAIL(EINVAL, "virtio-blk %s: not a virtio-blk state of a known version", blk->name);
	if (memcmp(buf, want, KH_BLK_STATE_SIZE) != 0)
		return KH_FAIL(EINVAL,
			       "virtio-blk %s: the state is of a disk configured differently (capacity, block size, "
			       "queues, read-only or features)",
			       blk->name);
	return 0;
}

static const struct kvmhost_virtio_device_ops kh_blk_ops = {
    .size = sizeof(struct kvmhost_virtio_device_ops),
    .get_features = kh_blk_get_features,
    .config_read = kh_blk_config_read,
    .activate = kh_blk_activate,
    .reset = kh_blk_reset,
    .queue_notify = kh_blk_queue_notify,
    .state_size = kh_blk_state_size,
    .save_state = kh_blk_save_state,
    .restore_state = kh_blk_restore_state,
};

/* ---- creation ---- */

static int kh_blk_check_options(const struct kvmhost_virtio_blk_options *o)
{
	if (!o->path)
		return KH_BLK_FAIL(EINVAL, "no image path");
	if (o->flags &
	    ~(KVMHOST_VIRTIO_BLK_READONLY | KVMHOST_VIRTIO_BLK_NO_DISCARD | KVMHOST_VIRTIO_BLK_NO_WRITE_ZEROES))
		return KH_BLK_FAIL(EINVAL, "unknown flags 0x%x", o->flags);
	if (o->num_queues > KVMHOST_VIRTIO_BLK_MAX_QUEUES)
		return KH_BLK_FAIL(EINVAL, "%u queues is above %u", o->num_queues, KVMHOST_VIRTIO_BLK_MAX_QUEUES);
	if (o->queue_size == 1 || o->queue_size > KVMHOST_VIRTQ_MAX_SIZE)
		return KH_BLK_FAIL(EINVAL, "queue_size %u is not within 2..%u", o->queue_size, KVMHOST_VIRTQ_MAX_SIZE);
	if (o->blk_size && (o->blk_size < 512 || o->blk_size > 65536 || (o->blk_size & (o->blk_size - 1))))
		return KH_BLK_FAIL(EINVAL, "blk_size %u is not a power of two within 512..65536", o->blk_size);
	if (o->max_discard_seg > KH_BLK_MAX_SEG || o->max_write_zeroes_seg > KH_BLK_MAX_SEG)
		return KH_BLK_FAIL(EINVAL, "max_discard_seg %u or max_write_zeroes_seg %u is above %u",
				   o->max_discard_seg, o->max_write_zeroes_seg, KH_BLK_MAX_SEG);
	if (o->backend > KVMHOST_VIRTIO_BLK_BACKEND_IO_URING)
		return KH_BLK_FAIL(EINVAL, "unknown backend %u", o->backend);
	if (o->io_threads > KH_BLK_MAX_IO_THREADS)
		return KH_BLK_FAIL(EINVAL, "io_threads %u is above %u", o->io_threads, KH_BLK_MAX_IO_THREADS);
	if (o->serial && strlen(o->serial) > KVMHOST_VIRTIO_BLK_ID_BYTES)
		return KH_BLK_FAIL(EINVAL, "serial \"%s\" is longer than %u bytes", o->serial,
				   KVMHOST_VIRTIO_BLK_ID_BYTES);
	return 0;
}

/* Open the image and read its size; 0 or a negative errno (last error set). */
static int kh_blk_open(struct kvmhost_virtio_blk *blk, const char *path, uint32_t *fs_block)
{
	struct stat st;
	uint64_t bytes;

	blk->fd = open(path, (blk->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (blk->fd < 0)
		return KH_BLK_FAIL_ERRNO("cannot open %s", path);
	if (fstat(blk->fd, &st) < 0)
		return KH_BLK_FAIL_ERRNO("cannot stat %s", path);
	if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(blk->fd, BLKGETSIZE64, &bytes) < 0)
			return KH_BLK_FAIL_ERRNO("cannot read the size of %s", path);
	} else {
		return KH_BLK_FAIL(EINVAL, "%s is neither a regular file nor a block device", path);
	}
	blk->capacity = bytes / KH_BLK_SECTOR;
	if (blk->capacity == 0)
		return KH_BLK_FAIL(EINVAL, "%s is smaller than one 512-byte sector", path);
	if (bytes % KH_BLK_SECTOR)
		kh_log(KVMHOST_LOG_WARN, "virtio-blk %s: the last %llu bytes of %s are not a whole sector: not served",
		       blk->name, (unsigned long long)(bytes % KH_BLK_SECTOR), path);
	*fs_block = st.st_blksize > 0 ? (uint32_t)st.st_blksize : 4096u;
	return 0;
}

static void kh_blk_free(struct kvmhost_virtio_blk *blk)
{
	if (blk->reqs) {
		for (uint16_t q = 0; q < blk->num_queues; q++) {
			if (!blk->reqs[q])
				continue;
			for (uint32_t i = 0; i < blk->queue_size; i++) {
				free(blk->reqs[q][i].iov);
				free(blk->reqs[q][i].seg);
			}
			free(blk->reqs[q]);
		}
		free(blk->reqs);
	}
	free((void *)blk->kicked);
	free((void *)blk->notify_off);
	if (blk->fd >= 0)
		close(blk->fd);
	pthread_mutex_destroy(&blk->idle_lock);
	pthread_cond_destroy(&blk->idle_cond);
	free(blk);
}

static int kh_blk_start_backend(struct kvmhost_virtio_blk *blk, uint32_t requested)
{
	uint32_t want = requested == KVMHOST_VIRTIO_BLK_BACKEND_DEFAULT ? KH_BLK_DEFAULT_BACKEND : requested;
	int err;

	blk->backend_id = (int)want;
	blk->backend = want == KVMHOST_VIRTIO_BLK_BACKEND_IO_URING ? &kh_blk_uring_backend : &kh_blk_threads_backend;
	err = blk->backend->start(blk);
	if (err < 0 && requested == KVMHOST_VIRTIO_BLK_BACKEND_DEFAULT && want != KVMHOST_VIRTIO_BLK_BACKEND_THREADS) {
		/* The default falls back; an explicit choice does not. */
		kh_log(KVMHOST_LOG_INFO, "virtio-blk %s: io_uring unavailable (%s), using the thread pool", blk->name,
		       kvmhost_last_error());
		blk->backend_id = KVMHOST_VIRTIO_BLK_BACKEND_THREADS;
		blk->backend = &kh_blk_threads_backend;
		err = blk->backend->start(blk);
	}
	return err;
}

KVMHOST_API int kvmhost_virtio_blk_create(struct kvmhost_memory *mem, const struct kvmhost_virtio_blk_options *opts,
					  struct kvmhost_virtio_blk **out)
{
	struct kvmhost_virtio_device_options dopts = {.size = sizeof(dopts)};
	struct kvmhost_virtio_blk_options o;
	struct kvmhost_virtio_blk *blk;
	uint32_t fs_block = 4096;
	int err;

	if (out)
		*out = NULL;
	if (!mem || !opts || !out)
		return KH_FAIL(EINVAL, "mem, opts or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	err = kh_blk_check_options(&o);
	if (err < 0)
		return err;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return KH_FAIL(ENOMEM, "cannot allocate a virtio-blk device");
	blk->fd = -1;
	pthread_mutex_init(&blk->idle_lock, NULL);
	pthread_cond_init(&blk->idle_cond, NULL);
	snprintf(blk->name, sizeof(blk->name), "%s", o.name ? o.name : "virtio-blk");
	blk->readonly = (o.flags & KVMHOST_VIRTIO_BLK_READONLY) != 0;
	blk->num_queues = o.num_queues ? o.num_queues : 1;
	blk->queue_size = o.queue_size ? o.queue_size : KH_BLK_DEFAULT_QUEUE_SIZE;
	blk->blk_size = o.blk_size ? o.blk_size : KH_BLK_SECTOR;
	/* Two descriptors of a request are the header and the status. */
	blk->seg_max = o.seg_max ? o.seg_max : blk->queue_size - 2;
	blk->size_max = o.size_max;
	blk->physical_block_exp = o.physical_block_exp;
	blk->alignment_offset = o.alignment_offset;
	blk->min_io_size = o.min_io_size;
	blk->opt_io_size = o.opt_io_size;
	blk->max_discard_sectors = o.max_discard_sectors ? o.max_discard_sectors : KH_BLK_DEFAULT_MAX_SECTORS;
	blk->max_discard_seg = o.max_discard_seg ? o.max_discard_seg : KH_BLK_DEFAULT_MAX_SEG;
	blk->max_write_zeroes_sectors =
	    o.max_write_zeroes_sectors ? o.max_write_zeroes_sectors : KH_BLK_DEFAULT_MAX_SECTORS;
	blk->max_write_zeroes_seg = o.max_write_zeroes_seg ? o.max_write_zeroes_seg : KH_BLK_DEFAULT_MAX_SEG;
	blk->io_threads = o.io_threads;
	if (o.serial)
		memcpy(blk->serial, o.serial, strlen(o.serial));
	err = kh_blk_open(blk, o.path, &fs_block);
	if (err < 0)
		goto fail;
	blk->discard_sector_alignment =
	    o.discard_sector_alignment ? o.discard_sector_alignment
				       : KH_MIN(KH_BLK_DEFAULT_MAX_SECTORS,
						(fs_block > blk->blk_size ? fs_block : blk->blk_size) / KH_BLK_SECTOR);

	blk->features =
	    BIT(KVMHOST_VIRTIO_BLK_F_SEG_MAX) | BIT(KVMHOST_VIRTIO_BLK_F_BLK_SIZE) | BIT(KVMHOST_VIRTIO_BLK_F_FLUSH);
	if (blk->size_max)
		blk->features |= BIT(KVMHOST_VIRTIO_BLK_F_SIZE_MAX);
	if (blk->physical_block_exp || blk->alignment_offset || blk->min_io_size || blk->opt_io_size)
		blk->features |= BIT(KVMHOST_VIRTIO_BLK_F_TOPOLOGY);
	if (blk->num_queues > 1)
		blk->features |= BIT(KVMHOST_VIRTIO_BLK_F_MQ);
	if (blk->readonly)
		blk->features |= BIT(KVMHOST_VIRTIO_BLK_F_RO);
	if (!blk->readonly && !(o.flags & KVMHOST_VIRTIO_BLK_NO_DISCARD))
		blk->features |= BIT(KVMHOST_VIRTIO_BLK_F_DISCARD);
	if (!blk->readonly && !(o.flags & KVMHOST_VIRTIO_BLK_NO_WRITE_ZEROES))
		blk->features |= BIT(KVMHOST_VIRTIO_BLK_F_WRITE_ZEROES);

	blk->kicked = calloc(blk->num_queues, sizeof(*blk->kicked));
	blk->notify_off = calloc(blk->num_queues, sizeof(*blk->notify_off));
	blk->reqs = calloc(blk->num_queues, sizeof(*blk->reqs));
	if (!blk->kicked || !blk->notify_off || !blk->reqs) {
		err = KH_FAIL(ENOMEM, "cannot allocate a virtio-blk device");
		goto fail;
	}
	for (uint16_t q = 0; q < blk->num_queues; q++) {
		blk->reqs[q] = calloc(blk->queue_size, sizeof(**blk->reqs));
		if (!blk->reqs[q]) {
			err = KH_FAIL(ENOMEM, "cannot allocate %u request slots", blk->queue_size);
			goto fail;
		}
		for (uint32_t i = 0; i < blk->queue_size; i++) {
			blk->reqs[q][i].blk = blk;
			blk->reqs[q][i].queue = q;
		}
	}

	dopts.device_id = KVMHOST_VIRTIO_ID_BLOCK;
	dopts.num_queues = blk->num_queues;
	dopts.queue_max_size = blk->queue_size;
	dopts.config_size = KVMHOST_VIRTIO_BLK_CONFIG_SIZE;
	dopts.ops = &kh_blk_ops;
	dopts.opaque = blk;
	dopts.name = blk->name;
	err = kvmhost_virtio_device_create(mem, &dopts, &blk->dev);
	if (err < 0)
		goto fail;
	err = kh_blk_start_backend(blk, o.backend);
	if (err < 0) {
		kvmhost_virtio_device_destroy(blk->dev);
		goto fail;
	}
	*out = blk;
	return 0;
fail:
	kh_blk_free(blk);
	return err;
}

KVMHOST_API void kvmhost_virtio_blk_destroy(struct kvmhost_virtio_blk *blk)
{
	if (!blk)
		return;
	kh_blk_quiesce(blk);
	blk->backend->stop(blk);
	kvmhost_virtio_device_destroy(blk->dev);
	kh_blk_free(blk);
}

KVMHOST_API struct kvmhost_virtio_device *kvmhost_virtio_blk_device(struct kvmhost_virtio_blk *blk)
{
	if (!blk) {
		KH_FAIL(EINVAL, "blk is NULL");
		return NULL;
	}
	return blk->dev;
}

KVMHOST_API int kvmhost_virtio_blk_drain(struct kvmhost_virtio_blk *blk)
{
	if (!blk)
		return KH_FAIL(EINVAL, "blk is NULL");
	kh_blk_wait_idle(blk, 1);
	return 0;
}

KVMHOST_API int kvmhost_virtio_blk_capacity(struct kvmhost_virtio_blk *blk, uint64_t *sectors)
{
	if (!blk || !sectors)
		return KH_FAIL(EINVAL, "blk or sectors is NULL");
	*sectors = blk->capacity;
	return 0;
}

KVMHOST_API int kvmhost_virtio_blk_backend(struct kvmhost_virtio_blk *blk)
{
	if (!blk)
		return KH_FAIL(EINVAL, "blk is NULL");
	return blk->backend_id;
}
