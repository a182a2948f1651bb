/*
 * The split ring (virtio 1.x section 2.7): descriptor table, available ring
 * (driver area), used ring (device area).
 *
 *   descriptor i   at desc + 16 i:  le64 addr, le32 len, le16 flags, le16 next
 *   available ring at driver:       le16 flags, le16 idx, le16 ring[size], le16 used_event
 *   used ring      at device:       le16 flags, le16 idx, {le32 id, le32 len} ring[size], le16 avail_event
 *
 * Runs with the queue lock held (queue.c). The ring pointers were checked at
 * enable to lie inside guest memory; everything read through them is guest
 * data and is checked before use. A chain is walked on copies of each
 * descriptor's fields, read once, so a driver changing the table under us
 * can only produce another (checked) chain.
 */
#include "virtio_internal.h"

#define AVAIL_RING(q, i) ((q)->driver + 4 + 2 * (size_t)(i))
#define USED_ELEM(q, i)	 ((q)->device + 4 + 8 * (size_t)(i))

int kh_vq_split_check(struct kvmhost_virtq *q, const char *func)
{
	uint64_t n = q->size;
	int err;

	err = kh_vq_map_area(q, q->desc_gpa, 16 * n, 16, 0, "descriptor table", &q->desc, func);
	if (err == 0)
		err = kh_vq_map_area(q, q->driver_gpa, 6 + 2 * n, 2, 0, "available ring", &q->driver, func);
	if (err == 0)
		err = kh_vq_map_area(q, q->device_gpa, 6 + 8 * n, 4, 1, "used ring", &q->device, func);
	return err;
}

/* Tell the driver which available index to kick at (EVENT_IDX): the first
 * one not yet popped. */
static void kh_vq_split_publish_avail_event(struct kvmhost_virtq *q)
{
	kh_vq_st16(USED_ELEM(q, q->size), q->last_avail);
	kh_vq_dirty(q, q->device_gpa + 4 + 8 * (uint64_t)q->size, 2);
}

/* Walk the chain from @head into @c. */
static int kh_vq_split_walk(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint16_t head, const char *func)
{
	const uint8_t *table = q->desc;
	uint32_t table_size = q->size;
	uint32_t idx = head, visited = 0, descriptors = 0;
	int indirect = 0;

	for (;;) {
		const uint8_t *d;
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
		int err;

		if (idx >= table_size)
			return kh_vq_fail(q, func, EPROTO,
					  "chain from head %u: %s descriptor index %u out of range (table of %u)", head,
					  indirect ? "indirect" : "next", idx, table_size);
		/* A walk of a table longer than the table has met an index
		 * twice: a loop. */
		if (++visited > table_size)
			return kh_vq_fail(q, func, ELOOP, "chain from head %u loops (%s table of %u descriptors)", head,
					  indirect ? "indirect" : "descriptor", table_size);
		d = table + KH_VQ_DESC_SIZE * (size_t)idx;
		addr = kh_vq_ld64(d);
		len = kh_vq_ld32(d + 8);
		flags = kh_vq_ld16(d + 12);
		next = kh_vq_ld16(d + 14);
		if (flags & KH_VQ_DESC_F_INDIRECT) {
			void *host;

			if (indirect)
				return kh_vq_fail(q, func, EPROTO,
						  "chain from head %u: indirect descriptor inside an indirect table",
						  head);
			if (!q->indirect)
				return kh_vq_fail(q, func, EPROTO,
						  "chain from head %u: indirect descriptor, but "
						  "VIRTIO_F_RING_INDIRECT_DESC was not negotiated",
						  head);
			if (flags & KH_VQ_DESC_F_NEXT)
				return kh_vq_fail(q, func, EPROTO,
						  "chain from head %u: indirect descriptor with the NEXT flag", head);
			if (len == 0 || len % KH_VQ_DESC_SIZE)
				return kh_vq_fail(
				    q, func, EPROTO,
				    "chain from head %u: indirect table length %u is not a non-zero multiple of 16",
				    head, len);
			if (kvmhost_memory_translate(q->mem, addr, len, &host) < 0)
				return kh_vq_fail(q, func, EFAULT,
						  "chain from head %u: indirect table [0x%llx, +0x%x) is not inside "
						  "one guest memory region",
						  head, (unsigned long long)addr, len);
			table = host;
			table_size = len / KH_VQ_DESC_SIZE;
			indirect = 1;
			visited = 0;
			idx = 0;
			continue;
		}
		if (++descriptors > q->size)
			return kh_vq_fail(q, func, ELOOP, "chain from head %u is longer than the queue size %u", head,
					  q->size);
		err = kh_vq_chain_add(q, c, addr, len, !!(flags & KH_VQ_DESC_F_WRITE), func);
		if (err < 0)
			return err;
		if (!(flags & KH_VQ_DESC_F_NEXT))
			break;
		idx = next;
	}
	c->pub.descriptors = (uint16_t)descriptors;
	return 0;
}

int kh_vq_split_pop(struct kvmhost_virtq *q, struct kh_vq_chain *c, const char *func)
{
	uint16_t head;
	int err;

	if (q->last_avail == q->shadow_avail) {
		/* Acquire: the ring entries and descriptors the driver wrote
		 * before moving idx are visible after this load. */
		uint16_t idx = kh_vq_ld16_acquire(q->driver + 2);

		if ((uint16_t)(idx - q->last_avail) > q->size)
			return kh_vq_fail(q, func, EPROTO,
					  "available index moved from %u to %u, more than the queue size %u ahead",
					  q->last_avail, idx, q->size);
		q->shadow_avail = idx;
		if (idx == q->last_avail)
			return 0;
	}
	head = kh_vq_ld16(AVAIL_RING(q, q->last_avail & (q->size - 1)));
	if (head >= q->size)
		return kh_vq_fail(q, func, EPROTO, "available ring entry %u: head %u out of range (queue size %u)",
				  q->last_avail, head, q->size);
	if (kh_vq_id_in_flight(q, head))
		return kh_vq_fail(q, func, EPROTO, "available ring entry %u: head %u is already in flight",
				  q->last_avail, head);
	err = kh_vq_split_walk(q, c, head, func);
	if (err < 0)
		return err;
	c->pub.head = head;
	c->avail_pos = q->last_avail;
	q->last_avail++;
	if (q->event_idx && q->notify)
		kh_vq_split_publish_avail_event(q);
	return 1;
}

void kh_vq_split_push(struct kvmhost_virtq *q, struct kh_vq_chain *c, uint32_t written)
{
	uint32_t slot = q->used_idx & (q->size - 1);
	uint8_t *e = USED_ELEM(q, slot);

	kh_vq_st32(e, c->pub.head);
	kh_vq_st32(e + 4, written);
	q->used_idx++;
	/* Release: the element is visible before the index that covers it. */
	kh_vq_st16_release(q->device + 2, q->used_idx);
	/* One mark from used->idx to the end of this element (both written;
	 * the elements between were written by earlier pushes): one lookup
	 * instead of two on the hot path, page-granular either way. */
	kh_vq_dirty(q, q->device_gpa + 2, 2 + 8 * (uint64_t)(slot + 1));
}

void kh_vq_split_unpop(struct kvmhost_virtq *q, struct kh_vq_chain *c)
{
	q->last_avail = c->avail_pos;
}

int kh_vq_split_should_notify(struct kvmhost_virtq *q)
{
	uint16_t old = q->signalled_used;

	q->signalled_used = q->used_idx;
	/* Order the used index store before reading the driver's wishes. */
	kh_vq_full_barrier();
	if (q->event_idx) {
		uint16_t event = kh_vq_ld16(AVAIL_RING(q, q->size));

		if (q->pending_used > UINT16_MAX)
			return 1;
		return kh_vq_need_event(event, q->used_idx, old);
	}
	return !(kh_vq_ld16(q->driver) & KH_VQ_AVAIL_F_NO_INTERRUPT);
}

int kh_vq_split_set_notify(struct kvmhost_virtq *q, int enable)
{
	uint16_t idx;

	if (q->event_idx) {
		/* Disabled: avail_event simply stops following the pops. */
		if (enable)
			kh_vq_split_publish_avail_event(q);
	} else {
		uint16_t flags = enable ? 0 : KH_VQ_USED_F_NO_NOTIFY;

		if (flags != q->used_flags) {
			kh_vq_st16(q->device, flags);
			kh_vq_dirty(q, q->device_gpa, 2);
			q->used_flags = flags;
		}
	}
	if (!enable)
		return 0;
	/* Publish before re-reading avail->idx: a buffer added before the
	 * driver could see the change was not kicked. */
	kh_vq_full_barrier();
	idx = kh_vq_ld16_acquire(q->driver + 2);
	return idx != q->last_avail;
}
