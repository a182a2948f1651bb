/*
 * A fake virtio driver for tests: guest memory made with
 * kvmhost_memory_create() (no KVM), laid out to catch stray accesses, and
 * helpers that build split and packed rings the way a guest driver does.
 * Header-only and public-API-only, so the unit tests, the fuzzer's seed
 * writer and the example device's test can all use it.
 *
 * Guest memory:
 *   region A  [0x000000, 0x100000)  read-write, 1 MiB (rings, tables, buffers)
 *   region B  [0x100000, 0x110000)  read-write, adjacent to A but a separate
 *                                   host mapping (a buffer crossing A -> B
 *                                   must become two iovecs)
 *   hole      [0x110000, 0x200000)
 *   region RO [0x200000, 0x201000)  KVMHOST_MEMORY_READONLY, mapped PROT_READ
 *                                   (a device write there would crash)
 * Each host mapping has PROT_NONE guard pages on both sides, so any access
 * outside guest memory faults (and ASan sees it too).
 */
#ifndef KVMHOST_TESTS_VIRTIO_DRIVER_H
#define KVMHOST_TESTS_VIRTIO_DRIVER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <kvmhost/memory.h>
#include <kvmhost/virtio/queue.h>

#define VD_PAGE	  4096u
#define VD_A_GPA  0x000000ull
#define VD_A_LEN  0x100000ull
#define VD_B_GPA  0x100000ull
#define VD_B_LEN  0x010000ull
#define VD_HOLE	  0x110000ull
#define VD_RO_GPA 0x200000ull
#define VD_RO_LEN 0x001000ull

#define VD_F_NEXT     1u
#define VD_F_WRITE    2u
#define VD_F_INDIRECT 4u
#define VD_F_AVAIL    (1u << 7)
#define VD_F_USED     (1u << 15)

struct vd_mem {
	struct kvmhost_memory *mem;
	uint8_t *a, *b, *ro;
	struct kvmhost_memory_region *ra, *rb, *rro;
};

static inline uint8_t *vd_map_guarded(size_t len, int prot)
{
	uint8_t *p = mmap(NULL, len + 2 * VD_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + VD_PAGE, len, prot) != 0) {
		munmap(p, len + 2 * VD_PAGE);
		return NULL;
	}
	return p + VD_PAGE;
}

static inline void vd_unmap_guarded(uint8_t *p, size_t len)
{
	if (p)
		munmap(p - VD_PAGE, len + 2 * VD_PAGE);
}

static inline int vd_add(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, void *host, uint32_t flags,
			 struct kvmhost_memory_region **r)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_HOST_POINTER;
	o.host_addr = host;
	o.flags = flags;
	return kvmhost_memory_add_region(mem, &o, r);
}

/* 0 or a negative errno. */
static inline int vd_mem_init(struct vd_mem *m)
{
	memset(m, 0, sizeof(*m));
	if (kvmhost_memory_create(&m->mem) < 0)
		return -1;
	m->a = vd_map_guarded(VD_A_LEN, PROT_READ | PROT_WRITE);
	m->b = vd_map_guarded(VD_B_LEN, PROT_READ | PROT_WRITE);
	m->ro = vd_map_guarded(VD_RO_LEN, PROT_READ);
	if (!m->a || !m->b || !m->ro)
		return -1;
	if (vd_add(m->mem, VD_A_GPA, VD_A_LEN, m->a, 0, &m->ra) < 0 ||
	    vd_add(m->mem, VD_B_GPA, VD_B_LEN, m->b, 0, &m->rb) < 0 ||
	    vd_add(m->mem, VD_RO_GPA, VD_RO_LEN, m->ro, KVMHOST_MEMORY_READONLY, &m->rro) < 0)
		return -1;
	return 0;
}

static inline void vd_mem_fini(struct vd_mem *m)
{
	kvmhost_memory_destroy(m->mem);
	vd_unmap_guarded(m->a, VD_A_LEN);
	vd_unmap_guarded(m->b, VD_B_LEN);
	vd_unmap_guarded(m->ro, VD_RO_LEN);
	memset(m, 0, sizeof(*m));
}

/* Host view of a driver-writable guest address (region A or B). */
static inline uint8_t *vd_host(struct vd_mem *m, uint64_t gpa)
{
	if (gpa < VD_A_GPA + VD_A_LEN) /* region A starts at 0 */
		return m->a + (gpa - VD_A_GPA);
	if (gpa >= VD_B_GPA && gpa < VD_B_GPA + VD_B_LEN)
		return m->b + (gpa - VD_B_GPA);
	abort(); /* a test bug, not a library one */
}

static inline void vd_w16(struct vd_mem *m, uint64_t gpa, uint16_t v)
{
	memcpy(vd_host(m, gpa), &v, 2);
}
static inline void vd_w32(struct vd_mem *m, uint64_t gpa, uint32_t v)
{
	memcpy(vd_host(m, gpa), &v, 4);
}
static inline void vd_w64(struct vd_mem *m, uint64_t gpa, uint64_t v)
{
	memcpy(vd_host(m, gpa), &v, 8);
}
static inline uint16_t vd_r16(struct vd_mem *m, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, vd_host(m, gpa), 2);
	return v;
}
static inline uint32_t vd_r32(struct vd_mem *m, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, vd_host(m, gpa), 4);
	return v;
}
/* Store with release semantics, as a driver publishes an index or flags. */
static inline void vd_w16_release(struct vd_mem *m, uint64_t gpa, uint16_t v)
{
	__atomic_store_n((uint16_t *)vd_host(m, gpa), v, __ATOMIC_RELEASE);
}

/* One buffer of a request. */
struct vd_buf {
	uint64_t addr;
	uint32_t len;
	int write;
};

/* The driver side of one queue. */
struct vd_queue {
	struct vd_mem *m;
	int packed;
	uint32_t size;
	uint64_t desc, driver, device;
	/* split */
	uint16_t avail_idx; /* next avail ring entry */
	uint16_t used_seen; /* used entries consumed */
	uint16_t next_desc; /* next free descriptor (simple bump allocator) */
	/* packed */
	uint16_t next_avail;
	uint8_t wrap;
	uint16_t next_used;
	uint8_t used_wrap;
	uint16_t sgs[KVMHOST_VIRTQ_MAX_SIZE]; /* packed: slots per buffer id */
};

/* Default layout: descriptors at 0x1000, driver area at 0x80000 (packed
 * 0x7000), device area at 0x90000 (packed 0x7010): room for size 4096. */
#define VD_DESC_GPA  0x1000ull
#define VD_AVAIL_GPA 0x80000ull
#define VD_USED_GPA  0x90000ull
#define VD_PDRV_GPA  0x7f000ull
#define VD_PDEV_GPA  0x7f010ull

/* A queue with its three areas at @desc, @driver and @device. */
static inline void vd_queue_init_at(struct vd_queue *d, struct vd_mem *m, int packed, uint32_t size, uint64_t desc,
				    uint64_t driver, uint64_t device)
{
	memset(d, 0, sizeof(*d));
	d->m = m;
	d->packed = packed;
	d->size = size;
	d->desc = desc;
	d->driver = driver;
	d->device = device;
	d->wrap = d->used_wrap = 1;
	/* The driver zeroes the rings before handing them over. */
	memset(vd_host(m, d->desc), 0, 16 * (size_t)size);
	if (packed) {
		memset(vd_host(m, d->driver), 0, 4);
		memset(vd_host(m, d->device), 0, 4);
	} else {
		memset(vd_host(m, d->driver), 0, 6 + 2 * (size_t)size);
		memset(vd_host(m, d->device), 0, 6 + 8 * (size_t)size);
	}
}

/* A queue in the default layout. */
static inline void vd_queue_init(struct vd_queue *d, struct vd_mem *m, int packed, uint32_t size)
{
	vd_queue_init_at(d, m, packed, size, VD_DESC_GPA, packed ? VD_PDRV_GPA : VD_AVAIL_GPA,
			 packed ? VD_PDEV_GPA : VD_USED_GPA);
}

/* Configure a queue object as the transport would: 0 or an error. */
static inline int vd_queue_setup(struct vd_queue *d, struct kvmhost_virtq *q, uint64_t features)
{
	int err;

	if (d->packed)
		features |= KVMHOST_VIRTIO_BIT(KVMHOST_VIRTIO_F_RING_PACKED);
	err = kvmhost_virtq_set_features(q, features);
	if (err == 0)
		err = kvmhost_virtq_set_size(q, d->size);
	if (err == 0)
		err = kvmhost_virtq_set_addresses(q, d->desc, d->driver, d->device);
	if (err == 0)
		err = kvmhost_virtq_enable(q);
	return err;
}

/* ---- split ---- */

static inline void vd_split_desc(struct vd_queue *d, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
				 uint16_t next)
{
	uint64_t g = d->desc + 16ull * i;

	vd_w64(d->m, g, addr);
	vd_w32(d->m, g + 8, len);
	vd_w16(d->m, g + 12, flags);
	vd_w16(d->m, g + 14, next);
}

/* Write a descriptor into an indirect table at @table. */
static inline void vd_table_desc(struct vd_mem *m, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
				 uint16_t flags, uint16_t next)
{
	uint64_t g = table + 16ull * i;

	vd_w64(m, g, addr);
	vd_w32(m, g + 8, len);
	vd_w16(m, g + 12, flags);
	vd_w16(m, g + 14, next);
}

/* Put @head in the available ring and publish it. */
static inline void vd_split_publish(struct vd_queue *d, uint16_t head)
{
	vd_w16(d->m, d->driver + 4 + 2ull * (d->avail_idx % d->size), head);
	d->avail_idx++;
	vd_w16_release(d->m, d->driver + 2, d->avail_idx);
}

/* Chain @n buffers in descriptors allocated from next_desc and publish it.
 * Returns the head. */
static inline uint16_t vd_split_add(struct vd_queue *d, const struct vd_buf *bufs, unsigned n)
{
	uint16_t head = d->next_desc % d->size;

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (d->next_desc + i) % d->size;
		uint16_t next = (d->next_desc + i + 1) % d->size;

		vd_split_desc(d, idx, bufs[i].addr, bufs[i].len,
			      (i + 1 < n ? VD_F_NEXT : 0) | (bufs[i].write ? VD_F_WRITE : 0), next);
	}
	d->next_desc = (d->next_desc + n) % d->size;
	vd_split_publish(d, head);
	return head;
}

static inline uint16_t vd_split_used_idx(struct vd_queue *d)
{
	return __atomic_load_n((uint16_t *)vd_host(d->m, d->device + 2), __ATOMIC_ACQUIRE);
}

/* Take the next used element: 1 and id/len, or 0 when none. */
static inline int vd_split_get_used(struct vd_queue *d, uint32_t *id, uint32_t *len)
{
	uint64_t e;

	if (vd_split_used_idx(d) == d->used_seen)
		return 0;
	e = d->device + 4 + 8ull * (d->used_seen % d->size);
	*id = vd_r32(d->m, e);
	*len = vd_r32(d->m, e + 4);
	d->used_seen++;
	return 1;
}

static inline void vd_split_set_used_event(struct vd_queue *d, uint16_t v)
{
	vd_w16(d->m, d->driver + 4 + 2ull * d->size, v);
}

static inline uint16_t vd_split_avail_event(struct vd_queue *d)
{
	return vd_r16(d->m, d->device + 4 + 8ull * d->size);
}

/* ---- packed ---- */

static inline uint16_t vd_packed_avail_bits(uint8_t wrap)
{
	return wrap ? VD_F_AVAIL : VD_F_USED;
}

static inline void vd_packed_raw(struct vd_queue *d, uint32_t slot, uint64_t addr, uint32_t len, uint16_t id,
				 uint16_t flags)
{
	uint64_t g = d->desc + 16ull * slot;

	vd_w64(d->m, g, addr);
	vd_w32(d->m, g + 8, len);
	vd_w16(d->m, g + 12, id);
	vd_w16_release(d->m, g + 14, flags);
}

/* Make a buffer of @n elements available with buffer id @id, the head's
 * flags written last. @extra is OR'ed into every descriptor's flags (for
 * malformed cases). Returns the head slot. */
static inline uint32_t vd_packed_add_flags(struct vd_queue *d, const struct vd_buf *bufs, unsigned n, uint16_t id,
					   uint16_t extra)
{
	uint32_t head = d->next_avail;
	uint16_t head_flags = 0;

	for (unsigned i = 0; i < n; i++) {
		uint32_t slot = d->next_avail;
		uint64_t g = d->desc + 16ull * slot;
		uint16_t f = vd_packed_avail_bits(d->wrap) | (bufs[i].write ? VD_F_WRITE : 0) |
			     (i + 1 < n ? VD_F_NEXT : 0) | extra;

		vd_w64(d->m, g, bufs[i].addr);
		vd_w32(d->m, g + 8, bufs[i].len);
		vd_w16(d->m, g + 12, id);
		if (i == 0)
			head_flags = f;
		else
			vd_w16(d->m, g + 14, f);
		if (++d->next_avail == d->size) {
			d->next_avail = 0;
			d->wrap ^= 1;
		}
	}
	if (id < KVMHOST_VIRTQ_MAX_SIZE)
		d->sgs[id] = (uint16_t)n;
	vd_w16_release(d->m, d->desc + 16ull * head + 14, head_flags);
	return head;
}

static inline uint32_t vd_packed_add(struct vd_queue *d, const struct vd_buf *bufs, unsigned n, uint16_t id)
{
	return vd_packed_add_flags(d, bufs, n, id, 0);
}

/* Write an entry of a packed indirect table (struct pvirtq_desc layout:
 * addr, len, id, flags). */
static inline void vd_ptable_desc(struct vd_mem *m, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
				  uint16_t flags)
{
	uint64_t g = table + 16ull * i;

	vd_w64(m, g, addr);
	vd_w32(m, g + 8, len);
	vd_w16(m, g + 12, 0);
	vd_w16(m, g + 14, flags);
}

/* A buffer described by an indirect table written at @table. */
static inline uint32_t vd_packed_add_indirect(struct vd_queue *d, uint64_t table, const struct vd_buf *bufs, unsigned n,
					      uint16_t id)
{
	uint32_t head = d->next_avail;

	for (unsigned i = 0; i < n; i++)
		vd_ptable_desc(d->m, table, i, bufs[i].addr, bufs[i].len, bufs[i].write ? VD_F_WRITE : 0);
	vd_packed_raw(d, head, table, 16 * n, id, vd_packed_avail_bits(d->wrap) | VD_F_INDIRECT);
	if (++d->next_avail == d->size) {
		d->next_avail = 0;
		d->wrap ^= 1;
	}
	if (id < KVMHOST_VIRTQ_MAX_SIZE)
		d->sgs[id] = 1;
	return head;
}

/* Take the next used descriptor: 1 and id/len/flags, or 0 when none. */
static inline int vd_packed_get_used(struct vd_queue *d, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	uint64_t g = d->desc + 16ull * d->next_used;
	uint16_t f = __atomic_load_n((uint16_t *)vd_host(d->m, g + 14), __ATOMIC_ACQUIRE);
	int used = !!(f & VD_F_USED), avail = !!(f & VD_F_AVAIL);

	if (used != d->used_wrap || avail != d->used_wrap)
		return 0;
	*id = vd_r16(d->m, g + 12);
	*len = vd_r32(d->m, g + 8);
	if (flags)
		*flags = f;
	d->next_used += d->sgs[*id];
	if (d->next_used >= d->size) {
		d->next_used -= d->size;
		d->used_wrap ^= 1;
	}
	return 1;
}

/* Driver event suppression (what the device reads). */
static inline void vd_packed_driver_event(struct vd_queue *d, uint16_t off_wrap, uint16_t flags)
{
	vd_w16(d->m, d->driver, off_wrap);
	vd_w16(d->m, d->driver + 2, flags);
}

#endif
