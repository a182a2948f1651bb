/*
 * Virtqueues, the parts both ring formats share (queue.h): the queue object
 * and its lock, the transport-side setup calls, the "broken" state, chain
 * objects (allocation, in-flight tracking, stale chains after a reset),
 * building a chain's iovecs from guest buffers, the public pop / push /
 * notify entry points that dispatch to queue_split.c or queue_packed.c, the
 * chain copy helpers, and the migration snapshot used by device.c.
 *
 * Guest memory is reached only through the public memory API: a buffer is
 * translated with kvmhost_memory_translate() when it lies in one region and
 * is readable; otherwise (and always for writable buffers, which must not be
 * in a read-only region) the regions are walked with
 * kvmhost_memory_for_each_region(), which also splits a buffer that crosses
 * from one region into the next.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "virtio_internal.h"

/* Chains kept for reuse per queue; more are freed. */
#define KH_VQ_FREE_KEEP 16

/* ---- locking and the broken state ---- */

void kh_vq_lock(struct kvmhost_virtq *q)
{
	pthread_mutex_lock(&q->lock);
}

void kh_vq_unlock(struct kvmhost_virtq *q)
{
	char reason[KH_VQ_REASON_MAX];
	kh_vq_broken_fn hook = NULL;
	void *opaque = NULL;

	if (q->hook_pending) {
		q->hook_pending = 0;
		hook = q->broken_hook;
		opaque = q->hook_opaque;
		memcpy(reason, q->reason, sizeof(reason));
	}
	pthread_mutex_unlock(&q->lock);
	if (hook)
		hook(opaque, q, reason);
}

int kh_vq_fail(struct kvmhost_virtq *q, const char *func, int err, const char *fmt, ...)
{
	char msg[KH_VQ_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	if (!q->broken) {
		q->broken = 1;
		memcpy(q->reason, msg, sizeof(q->reason));
		q->hook_pending = 1;
		kh_log(KVMHOST_LOG_WARN, "virtqueue %s: broken: %s", q->name, msg);
	}
	return kh_fail(err, func, "queue %s: %s", q->name, msg);
}

void kh_vq_set_broken_hook(struct kvmhost_virtq *q, kh_vq_broken_fn fn, void *opaque)
{
	kh_vq_lock(q);
	q->broken_hook = fn;
	q->hook_opaque = opaque;
	kh_vq_unlock(q);
}

void kh_vq_dirty(struct kvmhost_virtq *q, uint64_t gpa, uint64_t len)
{
	/* The range was checked to be guest memory; a failure here means a
	 * region went away under a running device, which memory.h forbids. */
	if (len)
		(void)kvmhost_memory_mark_dirty(q->mem, gpa, len);
}

int kh_vq_id_in_flight(const struct kvmhost_virtq *q, uint16_t id)
{
	return (q->in_flight_ids[id / 64] >> (id % 64)) & 1;
}

static void kh_vq_id_set(struct kvmhost_virtq *q, uint16_t id, int on)
{
	if (on)
		q->in_flight_ids[id / 64] |= 1ull << (id % 64);
	else
		q->in_flight_ids[id / 64] &= ~(1ull << (id % 64));
}

/* ---- chains ---- */

static struct kh_vq_chain *kh_vq_chain_get(struct kvmhost_virtq *q)
{
	struct kh_vq_chain *c = q->free_list;

	if (c) {
		q->free_list = c->next;
		q->free_count--;
		c->next = NULL;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->q = q;
	return c;
}

static void kh_vq_chain_free(struct kh_vq_chain *c)
{
	free(c->iov);
	free(c->gpa);
	free(c);
}

static void kh_vq_chain_put(struct kvmhost_virtq *q, struct kh_vq_chain *c)
{
	memset(&c->pub, 0, sizeof(c->pub));
	c->state = KH_VQ_CHAIN_FREE;
	c->iov_count = 0;
	c->total = 0;
	c->seen_write = 0;
	c->slots = 0;
	c->prev = NULL;
	if (q->free_count >= KH_VQ_FREE_KEEP) {
		kh_vq_chain_free(c);
		return;
	}
	c->next = q->free_list;
	q->free_list = c;
	q->free_count++;
}

/* Unlink an in-flight chain and recycle it. */
static void kh_vq_chain_release(struct kvmhost_virtq *q, struct kh_vq_chain *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		q->in_flight_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = NULL;
	if (c->epoch == q->epoch) {
		kh_vq_id_set(q, c->pub.head, 0);
		q->live--;
	}
	q->in_flight--;
	if (q->last_popped == c)
		q->last_popped = NULL;
	kh_vq_chain_put(q, c);
}

/* Append one iovec; -E2BIG past the chain's iovec limit, -ENOMEM. */
static int kh_vq_append(struct kvmhost_virtq *q, struct kh_vq_chain *c, void *host, uint64_t gpa, uint64_t len,
			int write)
{
	if (c->iov_count == c->iov_cap) {
		uint32_t max = 2 * q->size + 16;
		uint32_t cap = c->iov_cap ? c->iov_cap * 2 : 8;
		struct iovec *iov;
		uint64_t *g;

		if (c->iov_cap >= max)
			return -E2BIG;
		if (cap > max)
			cap = max;
		iov = realloc(c->iov, cap * sizeof(*iov));
		if (!iov)
			return -ENOMEM;
		c->iov = iov;
		g = realloc(c->gpa, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		c->gpa = g;
		c->iov_cap = cap;
	}
	c->iov[c->iov_count].iov_base = host;
	c->iov[c->iov_count].iov_len = (size_t)len;
	c->gpa[c->iov_count] = gpa;
	c->iov_count++;
	if (write) {
		c->pub.writable_count++;
		c->pub.writable_len += len;
	} else {
		c->pub.readable_count++;
		c->pub.readable_len += len;
	}
	return 0;
}

/* State of a walk over the regions for one buffer. */
struct kh_vq_walk {
	struct kvmhost_virtq *q;
	struct kh_vq_chain *c; /* NULL: only check (areas at enable) */
	uint64_t cur, end;
	int write;
	int err;	  /* -EROFS, -E2BIG, -ENOMEM */
	uint64_t err_gpa; /* where */
	void *first_host; /* host view of the first byte */
};

/* Regions come in guest-address order: take the part of each that the
 * buffer covers; stop at a hole (cur < end after the walk means -EFAULT). */
static int kh_vq_walk_region(struct kvmhost_memory_region *r, void *opaque)
{
	struct kh_vq_walk *w = opaque;
	uint64_t rs = kvmhost_memory_region_gpa(r);
	uint64_t re = rs + kvmhost_memory_region_length(r);
	uint8_t *host = kvmhost_memory_region_host_addr(r);
	uint64_t n;

	if (re <= w->cur)
		return 0;
	if (rs > w->cur)
		return 1;
	if (w->write && (kvmhost_memory_region_flags(r) & KVMHOST_MEMORY_READONLY)) {
		w->err = -EROFS;
		w->err_gpa = w->cur;
		return 1;
	}
	n = KH_MIN(w->end, re) - w->cur;
	if (!w->first_host)
		w->first_host = host + (w->cur - rs);
	if (w->c) {
		int err = kh_vq_append(w->q, w->c, host + (w->cur - rs), w->cur, n, w->write);
		if (err < 0) {
			w->err = err;
			w->err_gpa = w->cur;
			return 1;
		}
	}
	w->cur += n;
	return w->cur == w->end;
}

int kh_vq_chain_add(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint64_t addr, uint32_t len, int write,
		    const char *func)
{
	struct kh_vq_walk w;
	uint64_t end;
	void *host;

	if (!write && c->seen_write)
		return kh_vq_fail(q, func, EPROTO, "device-readable buffer at 0x%llx after a device-writable one",
				  (unsigned long long)addr);
	if (write)
		c->seen_write = 1;
	if (len == 0)
		return 0;
	if (kh_add_overflows(addr, len, &end))
		return kh_vq_fail(q, func, EOVERFLOW, "buffer 0x%llx + 0x%x wraps around the address space",
				  (unsigned long long)addr, len);
	if (c->total + len > (1ull << 32))
		return kh_vq_fail(q, func, EOVERFLOW, "chain longer than 4 GiB");
	c->total += len;
	/* Fast path: a readable buffer inside one region. */
	if (!write && kvmhost_memory_translate(q->mem, addr, len, &host) == 0) {
		int err = kh_vq_append(q, c, host, addr, len, 0);
		if (err == 0)
			return 0;
		if (err == -ENOMEM)
			return kh_fail(ENOMEM, func, "queue %s: cannot grow a chain", q->name);
		return kh_vq_fail(q, func, E2BIG, "chain needs more than %u iovecs", 2 * q->size + 16);
	}
	memset(&w, 0, sizeof(w));
	w.q = q;
	w.c = c;
	w.cur = addr;
	w.end = end;
	w.write = write;
	(void)kvmhost_memory_for_each_region(q->mem, kh_vq_walk_region, &w);
	switch (w.err) {
	case 0:
		break;
	case -EROFS:
		return kh_vq_fail(q, func, EROFS, "writable buffer [0x%llx, 0x%llx) is in read-only memory at 0x%llx",
				  (unsigned long long)addr, (unsigned long long)end, (unsigned long long)w.err_gpa);
	case -ENOMEM:
		return kh_fail(ENOMEM, func, "queue %s: cannot grow a chain", q->name);
	default:
		return kh_vq_fail(q, func, E2BIG, "chain needs more than %u iovecs", 2 * q->size + 16);
	}
	if (w.cur < end)
		return kh_vq_fail(q, func, EFAULT, "buffer [0x%llx, 0x%llx): 0x%llx is not guest memory",
				  (unsigned long long)addr, (unsigned long long)end, (unsigned long long)w.cur);
	return 0;
}

/*
 * Check and translate one ring area at enable: aligned, inside one region,
 * and (for what the device writes) not read-only. Breaks the queue.
 */
int kh_vq_map_area(struct kvmhost_virtq *q, uint64_t gpa, uint64_t len, uint64_t align, int write, const char *what,
		   uint8_t **host, const char *func)
{
	void *h;

	if (gpa & (align - 1))
		return kh_vq_fail(q, func, EINVAL, "%s at 0x%llx is not %llu-byte aligned", what,
				  (unsigned long long)gpa, (unsigned long long)align);
	if (kvmhost_memory_translate(q->mem, gpa, len, &h) < 0)
		return kh_vq_fail(q, func, EFAULT, "%s [0x%llx, +0x%llx) for queue size %u is not inside guest memory",
				  what, (unsigned long long)gpa, (unsigned long long)len, q->size);
	if (write) {
		struct kh_vq_walk w;

		memset(&w, 0, sizeof(w));
		w.q = q;
		w.cur = gpa;
		w.end = gpa + len;
		w.write = 1;
		(void)kvmhost_memory_for_each_region(q->mem, kh_vq_walk_region, &w);
		if (w.err == -EROFS)
			return kh_vq_fail(q, func, EROFS, "%s at 0x%llx is in read-only memory", what,
					  (unsigned long long)gpa);
	}
	*host = h;
	return 0;
}

/* ---- objects and transport-side setup ---- */

KVMHOST_API int kvmhost_virtq_create(struct kvmhost_memory *mem, const struct kvmhost_virtq_options *opts,
				     struct kvmhost_virtq **out)
{
	struct kvmhost_virtq_options o;
	struct kvmhost_virtq *q;
	char buf[64];
	int err;

	if (out)
		*out = NULL;
	if (!mem || !opts || !out)
		return KH_FAIL(EINVAL, "mem, opts or out is NULL");
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	if (o.max_size == 0 || o.max_size > KVMHOST_VIRTQ_MAX_SIZE)
		return KH_FAIL(EINVAL, "max_size %u is not within 1..%u", o.max_size, KVMHOST_VIRTQ_MAX_SIZE);
	q = calloc(1, sizeof(*q));
	if (!q)
		return KH_FAIL(ENOMEM, "cannot allocate a queue");
	if (o.name)
		q->name = strdup(o.name);
	else if (snprintf(buf, sizeof(buf), "vq%u", o.index) > 0)
		q->name = strdup(buf);
	q->in_flight_ids = calloc((o.max_size + 63) / 64, sizeof(uint64_t));
	if (!q->name || !q->in_flight_ids) {
		free(q->name);
		free(q->in_flight_ids);
		free(q);
		return KH_FAIL(ENOMEM, "cannot allocate a queue");
	}
	pthread_mutex_init(&q->lock, NULL);
	q->mem = mem;
	q->index = o.index;
	q->max_size = o.max_size;
	q->size = o.max_size;
	q->notify = 1;
	*out = q;
	return 0;
}

KVMHOST_API void kvmhost_virtq_destroy(struct kvmhost_virtq *q)
{
	struct kh_vq_chain *c, *next;

	if (!q)
		return;
	for (c = q->in_flight_list; c; c = next) {
		next = c->next;
		kh_vq_chain_free(c);
	}
	for (c = q->free_list; c; c = next) {
		next = c->next;
		kh_vq_chain_free(c);
	}
	pthread_mutex_destroy(&q->lock);
	free(q->in_flight_ids);
	free(q->name);
	free(q);
}

/* Common guard of the setters: lock held on success. */
static int kh_vq_setter_begin(struct kvmhost_virtq *q, const char *func)
{
	if (!q)
		return kh_fail(EINVAL, func, "q is NULL");
	kh_vq_lock(q);
	if (q->enabled) {
		kh_vq_unlock(q);
		return kh_fail(EBUSY, func, "queue %s is enabled", q->name);
	}
	return 0;
}

KVMHOST_API int kvmhost_virtq_set_features(struct kvmhost_virtq *q, uint64_t features)
{
	int err = kh_vq_setter_begin(q, __func__);

	if (err < 0)
		return err;
	q->features = features;
	kh_vq_unlock(q);
	return 0;
}

KVMHOST_API int kvmhost_virtq_set_size(struct kvmhost_virtq *q, uint32_t size)
{
	int err = kh_vq_setter_begin(q, __func__);

	if (err < 0)
		return err;
	q->size = size;
	kh_vq_unlock(q);
	return 0;
}

KVMHOST_API int kvmhost_virtq_set_addresses(struct kvmhost_virtq *q, uint64_t desc, uint64_t driver, uint64_t device)
{
	int err = kh_vq_setter_begin(q, __func__);

	if (err < 0)
		return err;
	q->desc_gpa = desc;
	q->driver_gpa = driver;
	q->device_gpa = device;
	kh_vq_unlock(q);
	return 0;
}

/* Start position of both ring formats. */
static void kh_vq_reset_indices(struct kvmhost_virtq *q)
{
	q->last_avail = q->shadow_avail = q->used_idx = q->used_flags = 0;
	q->next_avail = q->next_used = 0;
	q->avail_wrap = q->used_wrap = 1;
	q->signalled_used = 0;
	q->pending_used = q->pending_slots = 0;
	q->notify = 1;
}

/* With the lock held: validate the layout and start. */
static int kh_vq_enable_locked(struct kvmhost_virtq *q, const char *func)
{
	int err;

	if (q->broken)
		return kh_fail(EIO, func, "queue %s is broken: %s", q->name, q->reason);
	if (q->enabled)
		return 0;
	q->packed = (q->features >> KVMHOST_VIRTIO_F_RING_PACKED) & 1;
	q->indirect = (q->features >> KVMHOST_VIRTIO_F_RING_INDIRECT_DESC) & 1;
	q->event_idx = (q->features >> KVMHOST_VIRTIO_F_RING_EVENT_IDX) & 1;
	if (q->size == 0 || q->size > q->max_size)
		return kh_vq_fail(q, func, EINVAL, "queue size %u is not within 1..%u", q->size, q->max_size);
	if (!q->packed && (q->size & (q->size - 1)))
		return kh_vq_fail(q, func, EINVAL, "split queue size %u is not a power of two", q->size);
	err = q->packed ? kh_vq_packed_check(q, func) : kh_vq_split_check(q, func);
	if (err < 0)
		return err;
	kh_vq_reset_indices(q);
	q->enabled = 1;
	return 0;
}

KVMHOST_API int kvmhost_virtq_enable(struct kvmhost_virtq *q)
{
	int err;

	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	err = kh_vq_enable_locked(q, __func__);
	kh_vq_unlock(q);
	return err;
}

/* With the lock held: back to the state after create. */
static void kh_vq_reset_locked(struct kvmhost_virtq *q)
{
	q->epoch++;
	q->enabled = 0;
	q->broken = 0;
	q->reason[0] = '\0';
	q->hook_pending = 0;
	q->size = q->max_size;
	q->desc_gpa = q->driver_gpa = q->device_gpa = 0;
	q->features = 0;
	q->desc = q->driver = q->device = NULL;
	q->packed = q->indirect = q->event_idx = 0;
	kh_vq_reset_indices(q);
	memset(q->in_flight_ids, 0, (q->max_size + 63) / 64 * sizeof(uint64_t));
	q->live = 0;
	q->last_popped = NULL;
}

KVMHOST_API void kvmhost_virtq_reset(struct kvmhost_virtq *q)
{
	if (!q)
		return;
	kh_vq_lock(q);
	kh_vq_reset_locked(q);
	kh_vq_unlock(q);
}

KVMHOST_API int kvmhost_virtq_is_enabled(struct kvmhost_virtq *q)
{
	int r;

	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	r = q->enabled && !q->broken;
	kh_vq_unlock(q);
	return r;
}

KVMHOST_API uint32_t kvmhost_virtq_size(struct kvmhost_virtq *q)
{
	uint32_t r;

	if (!q)
		return 0;
	kh_vq_lock(q);
	r = q->size;
	kh_vq_unlock(q);
	return r;
}

KVMHOST_API uint32_t kvmhost_virtq_max_size(struct kvmhost_virtq *q)
{
	return q ? q->max_size : 0;
}

KVMHOST_API int kvmhost_virtq_addresses(struct kvmhost_virtq *q, uint64_t *desc, uint64_t *driver, uint64_t *device)
{
	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	if (desc)
		*desc = q->desc_gpa;
	if (driver)
		*driver = q->driver_gpa;
	if (device)
		*device = q->device_gpa;
	kh_vq_unlock(q);
	return 0;
}

/* ---- device-side entry points ---- */

/* With the lock held: -EIO if broken, -ENODEV if not enabled. */
static int kh_vq_usable(struct kvmhost_virtq *q, const char *func)
{
	if (q->broken)
		return kh_fail(EIO, func, "queue %s is broken: %s", q->name, q->reason);
	if (!q->enabled)
		return kh_fail(ENODEV, func, "queue %s is not enabled", q->name);
	return 0;
}

KVMHOST_API int kvmhost_virtq_pop(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain **chain)
{
	struct kh_vq_chain *c;
	int r;

	if (chain)
		*chain = NULL;
	if (!q || !chain)
		return KH_FAIL(EINVAL, "q or chain is NULL");
	kh_vq_lock(q);
	r = kh_vq_usable(q, __func__);
	if (r < 0)
		goto out;
	c = kh_vq_chain_get(q);
	if (!c) {
		r = KH_FAIL(ENOMEM, "queue %s: cannot allocate a chain", q->name);
		goto out;
	}
	r = q->packed ? kh_vq_packed_pop(q, c, __func__) : kh_vq_split_pop(q, c, __func__);
	if (r != 1) {
		kh_vq_chain_put(q, c);
		goto out;
	}
	/* A chain of zero-length buffers has no iovec array at all. */
	c->pub.readable = c->iov;
	c->pub.writable = c->iov ? c->iov + c->pub.readable_count : NULL;
	c->state = KH_VQ_CHAIN_IN_FLIGHT;
	c->epoch = q->epoch;
	c->prev = NULL;
	c->next = q->in_flight_list;
	if (c->next)
		c->next->prev = c;
	q->in_flight_list = c;
	kh_vq_id_set(q, c->pub.head, 1);
	q->live++;
	q->in_flight++;
	q->last_popped = c;
	*chain = &c->pub;
out:
	kh_vq_unlock(q);
	return r;
}

/* Lock held on success, with *out the chain, in flight on @q. */
static int kh_vq_chain_begin(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain *chain, struct kh_vq_chain **out,
			     const char *func)
{
	struct kh_vq_chain *c = (struct kh_vq_chain *)chain;

	if (!q || !chain)
		return kh_fail(EINVAL, func, "q or chain is NULL");
	kh_vq_lock(q);
	if (c->q != q || c->state != KH_VQ_CHAIN_IN_FLIGHT) {
		kh_vq_unlock(q);
		return kh_fail(EINVAL, func, "chain is not in flight on queue %s", q->name);
	}
	*out = c;
	return 0;
}

/* Lock held: release a chain the queue can no longer take back. */
static int kh_vq_chain_dead(struct kvmhost_virtq *q, struct kh_vq_chain *c, const char *func)
{
	int err;

	if (c->epoch != q->epoch)
		err = kh_fail(ESTALE, func, "queue %s was reset since the chain was popped", q->name);
	else if (q->broken)
		err = kh_fail(EIO, func, "queue %s is broken: %s", q->name, q->reason);
	else
		return 0;
	kh_vq_chain_release(q, c);
	return err;
}

KVMHOST_API int kvmhost_virtq_push(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain *chain, uint32_t written)
{
	struct kh_vq_chain *c = NULL; /* set by kh_vq_chain_begin() when it succeeds */
	uint64_t left = written;
	int err;

	err = kh_vq_chain_begin(q, chain, &c, __func__);
	if (err < 0)
		return err;
	if (written > c->pub.writable_len) {
		err = KH_FAIL(EINVAL, "queue %s: %u bytes written into %llu writable bytes", q->name, written,
			      (unsigned long long)c->pub.writable_len);
		goto out;
	}
	err = kh_vq_chain_dead(q, c, __func__);
	if (err < 0)
		goto out;
	/* The device wrote these bytes through the iovecs: dirty them before
	 * the driver (or a migration pass) can see the buffer as used. */
	for (uint32_t i = c->pub.readable_count; i < c->iov_count && left; i++) {
		uint64_t n = KH_MIN(left, (uint64_t)c->iov[i].iov_len);

		kh_vq_dirty(q, c->gpa[i], n);
		left -= n;
	}
	if (q->packed)
		kh_vq_packed_push(q, c, written);
	else
		kh_vq_split_push(q, c, written);
	if (q->pending_used < UINT32_MAX)
		q->pending_used++;
	kh_vq_chain_release(q, c);
out:
	kh_vq_unlock(q);
	return err;
}

KVMHOST_API int kvmhost_virtq_unpop(struct kvmhost_virtq *q, const struct kvmhost_virtq_chain *chain)
{
	struct kh_vq_chain *c = NULL; /* set by kh_vq_chain_begin() when it succeeds */
	int err;

	err = kh_vq_chain_begin(q, chain, &c, __func__);
	if (err < 0)
		return err;
	err = kh_vq_chain_dead(q, c, __func__);
	if (err < 0)
		goto out;
	if (q->last_popped != c) {
		err = KH_FAIL(EINVAL, "queue %s: only the chain popped last can be put back", q->name);
		goto out;
	}
	if (q->packed)
		kh_vq_packed_unpop(q, c);
	else
		kh_vq_split_unpop(q, c);
	kh_vq_chain_release(q, c);
out:
	kh_vq_unlock(q);
	return err;
}

KVMHOST_API int kvmhost_virtq_should_notify(struct kvmhost_virtq *q)
{
	int r;

	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	r = kh_vq_usable(q, __func__);
	if (r == 0 && q->pending_used) {
		r = q->packed ? kh_vq_packed_should_notify(q) : kh_vq_split_should_notify(q);
		q->pending_used = 0;
		q->pending_slots = 0;
	}
	kh_vq_unlock(q);
	return r;
}

KVMHOST_API int kvmhost_virtq_set_notify(struct kvmhost_virtq *q, int enable)
{
	int r;

	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	if (enable != 0 && enable != 1)
		return KH_FAIL(EINVAL, "enable is %d, not 0 or 1", enable);
	kh_vq_lock(q);
	r = kh_vq_usable(q, __func__);
	if (r == 0) {
		q->notify = enable;
		r = q->packed ? kh_vq_packed_set_notify(q, enable) : kh_vq_split_set_notify(q, enable);
	}
	kh_vq_unlock(q);
	return r;
}

KVMHOST_API int kvmhost_virtq_broken(struct kvmhost_virtq *q, char *reason, size_t reason_len)
{
	int r;

	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	r = q->broken;
	if (reason && reason_len) {
		if (r && snprintf(reason, reason_len, "%s", q->reason) < 0)
			reason[0] = '\0';
		else if (!r)
			reason[0] = '\0';
	}
	kh_vq_unlock(q);
	return r;
}

KVMHOST_API int kvmhost_virtq_set_broken(struct kvmhost_virtq *q, const char *reason)
{
	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	(void)kh_vq_fail(q, __func__, EIO, "device: %s", reason ? reason : "unspecified error");
	kh_vq_unlock(q);
	return 0;
}

KVMHOST_API int kvmhost_virtq_in_flight(struct kvmhost_virtq *q)
{
	int r;

	if (!q)
		return KH_FAIL(EINVAL, "q is NULL");
	kh_vq_lock(q);
	r = (int)q->in_flight;
	kh_vq_unlock(q);
	return r;
}

/* ---- chain helpers ---- */

/* Copy between @buf and the iovecs [first, first + count) from @offset. */
static int kh_vq_chain_copy(const struct iovec *iov, uint32_t count, uint64_t total, uint64_t offset, void *buf,
			    size_t len, int to_chain, const char *func)
{
	uint8_t *p = buf;
	uint64_t end;

	if (kh_add_overflows(offset, len, &end) || end > total)
		return kh_fail(ENOSPC, func, "range 0x%llx + 0x%zx exceeds the chain's %llu bytes",
			       (unsigned long long)offset, len, (unsigned long long)total);
	for (uint32_t i = 0; i < count && len; i++) {
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = KH_MIN(len, iov[i].iov_len - (size_t)offset);
		if (to_chain)
			memcpy((uint8_t *)iov[i].iov_base + offset, p, n);
		else
			memcpy(p, (const uint8_t *)iov[i].iov_base + offset, n);
		p += n;
		len -= n;
		offset = 0;
	}
	return 0;
}

KVMHOST_API int kvmhost_virtq_chain_read(const struct kvmhost_virtq_chain *chain, uint64_t offset, void *buf,
					 size_t len)
{
	if (!chain || (!buf && len))
		return KH_FAIL(EINVAL, "chain or buf is NULL");
	return kh_vq_chain_copy(chain->readable, chain->readable_count, chain->readable_len, offset, buf, len, 0,
				__func__);
}

KVMHOST_API int kvmhost_virtq_chain_write(const struct kvmhost_virtq_chain *chain, uint64_t offset, const void *buf,
					  size_t len)
{
	if (!chain || (!buf && len))
		return KH_FAIL(EINVAL, "chain or buf is NULL");
	return kh_vq_chain_copy(chain->writable, chain->writable_count, chain->writable_len, offset, (void *)buf, len,
				1, __func__);
}

/* ---- migration ---- */

int kh_vq_rearm(struct kvmhost_virtq *q)
{
	int active;

	kh_vq_lock(q);
	active = q->enabled && !q->broken;
	if (active) {
		/* Write the driver's view again (EVENT_IDX: avail_event at the
		 * next entry to pop; otherwise the NO_NOTIFY flag cleared) when
		 * the device wants kicks. */
		if (q->notify)
			(void)(q->packed ? kh_vq_packed_set_notify(q, 1) : kh_vq_split_set_notify(q, 1));
		/* An interrupt now covers everything used so far. */
		q->signalled_used = q->used_idx;
		q->pending_used = 0;
		q->pending_slots = 0;
	}
	kh_vq_unlock(q);
	return active;
}

int kh_vq_get_state(struct kvmhost_virtq *q, struct kh_vq_state *s, const char *func)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	kh_vq_lock(q);
	if (q->live) {
		err = kh_fail(EBUSY, func, "queue %s has %u chains in flight", q->name, q->live);
		goto out;
	}
	s->size = q->size;
	s->desc = q->desc_gpa;
	s->driver = q->driver_gpa;
	s->device = q->device_gpa;
	s->features = q->features;
	s->enabled = (uint8_t)q->enabled;
	s->broken = (uint8_t)q->broken;
	s->notify = (uint8_t)q->notify;
	if (q->packed) {
		s->avail_idx = q->next_avail;
		s->avail_wrap = q->avail_wrap;
		s->used_idx = q->next_used;
		s->used_wrap = q->used_wrap;
	} else {
		s->avail_idx = q->last_avail;
		s->used_idx = q->used_idx;
	}
	memcpy(s->reason, q->reason, sizeof(s->reason));
out:
	kh_vq_unlock(q);
	return err;
}

int kh_vq_set_state(struct kvmhost_virtq *q, const struct kh_vq_state *s, const char *func)
{
	int err = 0;

	kh_vq_lock(q);
	kh_vq_reset_locked(q);
	q->size = s->size;
	q->desc_gpa = s->desc;
	q->driver_gpa = s->driver;
	q->device_gpa = s->device;
	q->features = s->features;
	if (s->broken) {
		/* Stays broken until the driver resets the device. */
		q->broken = 1;
		memcpy(q->reason, s->reason, sizeof(q->reason));
		q->reason[sizeof(q->reason) - 1] = '\0';
		goto out;
	}
	if (!s->enabled)
		goto out;
	err = kh_vq_enable_locked(q, func);
	if (err < 0)
		goto out;
	if (q->packed) {
		if (s->avail_idx >= q->size || s->used_idx >= q->size || s->avail_wrap > 1 || s->used_wrap > 1 ||
		    s->avail_idx != s->used_idx || s->avail_wrap != s->used_wrap) {
			err = kh_vq_fail(q, func, EINVAL, "inconsistent packed ring state");
			goto out;
		}
		q->next_avail = s->avail_idx;
		q->avail_wrap = s->avail_wrap;
		q->next_used = s->used_idx;
		q->used_wrap = s->used_wrap;
	} else {
		if (s->avail_idx != s->used_idx) {
			err = kh_vq_fail(q, func, EINVAL, "inconsistent split ring state");
			goto out;
		}
		q->last_avail = q->shadow_avail = s->avail_idx;
		q->used_idx = q->signalled_used = s->used_idx;
		/* used->flags is in guest memory already; assume it may be set. */
		q->used_flags = 0xffff;
	}
	q->notify = s->notify ? 1 : 0;
out:
	kh_vq_unlock(q);
	return err;
}
