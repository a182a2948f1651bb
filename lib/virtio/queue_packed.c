/*
 * The packed ring (virtio 1.x section 2.8, VIRTIO_F_RING_PACKED): one
 * descriptor ring that both sides write, plus two event suppression
 * structures.
 *
 *   descriptor i at desc + 16 i:  le64 addr, le32 len, le16 id, le16 flags
 *   driver area (driver event suppression, read here):  le16 off_wrap, le16 flags
 *   device area (device event suppression, written here): le16 off_wrap, le16 flags
 *
 * A descriptor is available when its AVAIL flag equals the driver's wrap
 * counter and its USED flag does not; the device's wrap counters start at 1
 * and flip each time their index passes the end of the ring. A buffer is a
 * list of descriptors linked by NEXT in consecutive slots, or a single
 * descriptor pointing at an indirect table (sequential, only the WRITE flag
 * meaningful); its buffer id is in its last descriptor. The device writes
 * one used descriptor per buffer, in completion order, at its own used
 * position, and moves that position on by the slots the buffer occupied.
 *
 * Runs with the queue lock held (queue.c); guest fields are read once and
 * checked before use.
 */
#include "virtio_internal.h"

#define DESC(q, i) ((q)->desc + KH_VQ_DESC_SIZE * (size_t)(i))

int kh_vq_packed_check(struct kvmhost_virtq *q, const char *func)
{
	int err;

	err = kh_vq_map_area(q, q->desc_gpa, 16 * (uint64_t)q->size, 16, 1, "descriptor ring", &q->desc, func);
	if (err == 0)
		err = kh_vq_map_area(q, q->driver_gpa, 4, 4, 0, "driver event suppression", &q->driver, func);
	if (err == 0)
		err = kh_vq_map_area(q, q->device_gpa, 4, 4, 1, "device event suppression", &q->device, func);
	return err;
}

static int kh_vq_packed_is_avail(uint16_t flags, uint8_t wrap)
{
	int avail = !!(flags & KH_VQ_DESC_F_AVAIL), used = !!(flags & KH_VQ_DESC_F_USED);

	return avail == wrap && used != wrap;
}

/* Device event suppression with EVENT_IDX: kick me when the next descriptor
 * to pop is made available. */
static void kh_vq_packed_publish_event(struct kvmhost_virtq *q)
{
	kh_vq_st16(q->device, (uint16_t)(q->next_avail | (uint16_t)q->avail_wrap << 15));
	kh_vq_dirty(q, q->device_gpa, 2);
}

/* Read the indirect table of a single-descriptor buffer into @c. */
static int kh_vq_packed_indirect(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint64_t addr, uint32_t len,
				 uint16_t flags, uint32_t slot, const char *func)
{
	const uint8_t *table;
	uint32_t n;
	void *host;

	if (!q->indirect)
		return kh_vq_fail(q, func, EPROTO,
				  "slot %u: indirect descriptor, but VIRTIO_F_RING_INDIRECT_DESC was not negotiated",
				  slot);
	if (flags & KH_VQ_DESC_F_NEXT)
		return kh_vq_fail(q, func, EPROTO, "slot %u: indirect descriptor with the NEXT flag", slot);
	if (len == 0 || len % KH_VQ_DESC_SIZE)
		return kh_vq_fail(q, func, EPROTO, "slot %u: indirect table length %u is not a non-zero multiple of 16",
				  slot, len);
	n = len / KH_VQ_DESC_SIZE;
	if (n > q->size)
		return kh_vq_fail(q, func, ELOOP,
				  "slot %u: indirect table of %u descriptors is longer than the queue size %u", slot, n,
				  q->size);
	if (kvmhost_memory_translate(q->mem, addr, len, &host) < 0)
		return kh_vq_fail(q, func, EFAULT,
				  "slot %u: indirect table [0x%llx, +0x%x) is not inside one guest memory region", slot,
				  (unsigned long long)addr, len);
	table = host;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *d = table + KH_VQ_DESC_SIZE * (size_t)i;
		uint16_t f = kh_vq_ld16(d + 14);
		int err;

		/* Only WRITE means something here; NEXT and the id are ignored
		 * as the spec says, but a table inside a table is refused. */
		if (f & KH_VQ_DESC_F_INDIRECT)
			return kh_vq_fail(q, func, EPROTO, "slot %u: indirect descriptor inside an indirect table",
					  slot);
		err = kh_vq_chain_add(q, c, kh_vq_ld64(d), kh_vq_ld32(d + 8), !!(f & KH_VQ_DESC_F_WRITE), func);
		if (err < 0)
			return err;
	}
	c->pub.descriptors = (uint16_t)n;
	return 0;
}

int kh_vq_packed_pop(struct kvmhost_virtq *q, struct kh_vq_chain *c, const char *func)
{
	uint32_t pos = q->next_avail, slots = 0, descriptors = 0;
	uint8_t wrap = q->avail_wrap;
	/* Acquire: the rest of the descriptor, and of the list behind it, was
	 * written before the driver flipped these flags. */
	uint16_t flags = kh_vq_ld16_acquire(DESC(q, pos) + 14);
	uint16_t id;
	int err;

	if (!kh_vq_packed_is_avail(flags, wrap))
		return 0;
	for (;;) {
		const uint8_t *d = DESC(q, pos);
		uint64_t addr = kh_vq_ld64(d);
		uint32_t len = kh_vq_ld32(d + 8);

		id = kh_vq_ld16(d + 12);
		slots++;
		if (flags & KH_VQ_DESC_F_INDIRECT) {
			if (slots > 1)
				return kh_vq_fail(q, func, EPROTO,
						  "slot %u: indirect descriptor inside a descriptor list", pos);
			err = kh_vq_packed_indirect(q, c, addr, len, flags, pos, func);
			if (err < 0)
				return err;
			descriptors = c->pub.descriptors;
			break;
		}
		descriptors++;
		err = kh_vq_chain_add(q, c, addr, len, !!(flags & KH_VQ_DESC_F_WRITE), func);
		if (err < 0)
			return err;
		if (!(flags & KH_VQ_DESC_F_NEXT))
			break;
		if (slots == q->size)
			return kh_vq_fail(q, func, ELOOP,
					  "descriptor list from slot %u is longer than the queue size %u",
					  q->next_avail, q->size);
		if (++pos == q->size) {
			pos = 0;
			wrap ^= 1;
		}
		flags = kh_vq_ld16_acquire(DESC(q, pos) + 14);
		if (!kh_vq_packed_is_avail(flags, wrap))
			return kh_vq_fail(q, func, EPROTO,
					  "descriptor list from slot %u continues into slot %u, which is not available",
					  q->next_avail, pos);
	}
	if (id >= q->size)
		return kh_vq_fail(q, func, EPROTO, "slot %u: buffer id %u out of range (queue size %u)", pos, id,
				  q->size);
	if (kh_vq_id_in_flight(q, id))
		return kh_vq_fail(q, func, EPROTO, "slot %u: buffer id %u is already in flight", pos, id);
	c->pub.head = id;
	c->pub.descriptors = (uint16_t)descriptors;
	c->slots = (uint16_t)slots;
	c->avail_pos = q->next_avail;
	c->avail_wrap = q->avail_wrap;
	pos = q->next_avail + slots;
	if (pos >= q->size) {
		pos -= q->size;
		q->avail_wrap ^= 1;
	}
	q->next_avail = (uint16_t)pos;
	if (q->event_idx && q->notify)
		kh_vq_packed_publish_event(q);
	return 1;
}

void kh_vq_packed_push(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint32_t written)
{
	uint8_t *d = DESC(q, q->next_used);
	uint16_t flags = q->used_wrap ? (KH_VQ_DESC_F_AVAIL | KH_VQ_DESC_F_USED) : 0;
	uint32_t pos;

	if (written)
		flags |= KH_VQ_DESC_F_WRITE;
	kh_vq_st32(d + 8, written);
	kh_vq_st16(d + 12, c->pub.head);
	/* Release: id and len are visible before the flags that make the
	 * descriptor used. */
	kh_vq_st16_release(d + 14, flags);
	kh_vq_dirty(q, q->desc_gpa + KH_VQ_DESC_SIZE * (uint64_t)q->next_used + 8, 8);
	pos = q->next_used + c->slots;
	if (pos >= q->size) {
		pos -= q->size;
		q->used_wrap ^= 1;
	}
	q->next_used = (uint16_t)pos;
	q->pending_slots += c->slots;
	if (q->pending_slots > KVMHOST_VIRTQ_MAX_SIZE)
		q->pending_slots = KVMHOST_VIRTQ_MAX_SIZE + 1;
}

void kh_vq_packed_unpop(struct kvmhost_virtq *q, struct kh_vq_chain *c)
{
	q->next_avail = c->avail_pos;
	q->avail_wrap = c->avail_wrap;
}

int kh_vq_packed_should_notify(struct kvmhost_virtq *q)
{
	uint16_t off_wrap, flags, off, new_idx, old;

	/* Order the used descriptors' flags before reading the driver's wishes. */
	kh_vq_full_barrier();
	off_wrap = kh_vq_ld16(q->driver);
	flags = kh_vq_ld16(q->driver + 2) & 3;
	if (flags == KH_VQ_EVENT_DISABLE)
		return 0;
	/* ENABLE, the reserved value 3, and DESC without EVENT_IDX (which the
	 * driver must not use) all mean: interrupt. */
	if (flags != KH_VQ_EVENT_DESC || !q->event_idx)
		return 1;
	if (q->pending_slots >= q->size)
		return 1;
	/* The used position went from old to new (16-bit arithmetic across the
	 * wrap); an event offset on the other lap counts size lower. */
	off = off_wrap & 0x7fff;
	new_idx = q->next_used;
	old = (uint16_t)(new_idx - q->pending_slots);
	if ((off_wrap >> 15) != q->used_wrap)
		off = (uint16_t)(off - q->size);
	return kh_vq_need_event(off, new_idx, old);
}

int kh_vq_packed_set_notify(struct kvmhost_virtq *q, int enable)
{
	uint16_t flags;

	if (!enable) {
		kh_vq_st16(q->device + 2, KH_VQ_EVENT_DISABLE);
		kh_vq_dirty(q, q->device_gpa + 2, 2);
		return 0;
	}
	if (q->event_idx) {
		kh_vq_packed_publish_event(q);
		kh_vq_st16(q->device + 2, KH_VQ_EVENT_DESC);
	} else {
		kh_vq_st16(q->device + 2, KH_VQ_EVENT_ENABLE);
	}
	kh_vq_dirty(q, q->device_gpa + 2, 2);
	kh_vq_full_barrier();
	flags = kh_vq_ld16_acquire(DESC(q, q->next_avail) + 14);
	return kh_vq_packed_is_avail(flags, q->avail_wrap);
}
