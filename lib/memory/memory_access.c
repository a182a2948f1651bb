/*
 * Checked access to guest memory: GPA -> host pointer translation and the
 * read/write/copy helpers. Every helper first checks the whole range under
 * the map's read lock and only then copies, so a failed call touches
 * nothing; the lock stays held across the copy so that no region can be
 * unmapped under it.
 */
#include <string.h>

#include "../core/internal.h"
#include "memory_internal.h"

int kh_memory_check_range(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, int write, const char *func)
{
	uint64_t end, addr = gpa;

	if (kh_add_overflows(gpa, len, &end))
		return kh_fail(EFAULT, func, "range 0x%llx + 0x%llx wraps around the address space",
			       (unsigned long long)gpa, (unsigned long long)len);
	/* One lookup per region the range spans: adjacent regions are fine, a
	 * hole is not. */
	while (addr < end) {
		struct kvmhost_memory_region *r = kh_memory_lookup(mem, addr);

		if (!r)
			return kh_fail(EFAULT, func, "[0x%llx, 0x%llx): byte 0x%llx is not in guest memory",
				       (unsigned long long)gpa, (unsigned long long)end, (unsigned long long)addr);
		if (write && (atomic_load_explicit(&r->flags, memory_order_relaxed) & KVMHOST_MEMORY_READONLY))
			return kh_fail(EROFS, func, "[0x%llx, 0x%llx): region '%s' at 0x%llx is read-only",
				       (unsigned long long)gpa, (unsigned long long)end, kh_region_name(r),
				       (unsigned long long)r->gpa);
		if (r->gpa + r->length >= end)
			break;
		addr = r->gpa + r->length;
	}
	return 0;
}

KVMHOST_API int kvmhost_memory_translate(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, void **host)
{
	struct kvmhost_memory_region *r;
	uint64_t end;
	int err = 0;

	if (host)
		*host = NULL;
	if (!mem || !host)
		return KH_FAIL(EINVAL, "mem or host is NULL");
	if (len == 0)
		return KH_FAIL(EINVAL, "zero length at 0x%llx", (unsigned long long)gpa);
	if (kh_add_overflows(gpa, len, &end))
		return KH_FAIL(EFAULT, "range 0x%llx + 0x%llx wraps around the address space", (unsigned long long)gpa,
			       (unsigned long long)len);
	pthread_rwlock_rdlock(&mem->rwlock);
	r = kh_memory_lookup(mem, gpa);
	if (!r)
		err = KH_FAIL(EFAULT, "0x%llx is not in guest memory", (unsigned long long)gpa);
	else if (end - r->gpa > r->length)
		err = KH_FAIL(EFAULT, "[0x%llx, 0x%llx) runs past the end of region '%s' [0x%llx, 0x%llx)",
			      (unsigned long long)gpa, (unsigned long long)end, kh_region_name(r),
			      (unsigned long long)r->gpa, (unsigned long long)(r->gpa + r->length));
	else
		*host = r->host + (gpa - r->gpa);
	pthread_rwlock_unlock(&mem->rwlock);
	return err;
}

KVMHOST_API int kvmhost_memory_read(struct kvmhost_memory *mem, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *dst = buf;
	int err;

	if (!mem || !buf)
		return KH_FAIL(EINVAL, "mem or buf is NULL");
	if (len == 0)
		return KH_FAIL(EINVAL, "zero length at 0x%llx", (unsigned long long)gpa);
	pthread_rwlock_rdlock(&mem->rwlock);
	err = kh_memory_check_range(mem, gpa, len, 0, __func__);
	while (err == 0 && len) {
		struct kvmhost_memory_region *r = kh_memory_lookup(mem, gpa);
		uint64_t off = gpa - r->gpa;
		size_t n = (size_t)KH_MIN((uint64_t)len, r->length - off);

		memcpy(dst, r->host + off, n);
		dst += n;
		gpa += n;
		len -= n;
	}
	pthread_rwlock_unlock(&mem->rwlock);
	return err;
}

KVMHOST_API int kvmhost_memory_write(struct kvmhost_memory *mem, uint64_t gpa, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	int err;

	if (!mem || !buf)
		return KH_FAIL(EINVAL, "mem or buf is NULL");
	if (len == 0)
		return KH_FAIL(EINVAL, "zero length at 0x%llx", (unsigned long long)gpa);
	pthread_rwlock_rdlock(&mem->rwlock);
	err = kh_memory_check_range(mem, gpa, len, 1, __func__);
	while (err == 0 && len) {
		struct kvmhost_memory_region *r = kh_memory_lookup(mem, gpa);
		uint64_t off = gpa - r->gpa;
		size_t n = (size_t)KH_MIN((uint64_t)len, r->length - off);

		memcpy(r->host + off, src, n);
		/* Marked after the data is written (release): whoever fetches the
		 * bit and then reads the page sees these bytes. */
		kh_region_mark_dirty(r, gpa, n);
		src += n;
		gpa += n;
		len -= n;
	}
	pthread_rwlock_unlock(&mem->rwlock);
	return err;
}

/*
 * Copy in chunks that lie inside one source and one destination region.
 * When the destination overlaps the source from above, go from the end
 * backwards so that no source byte is overwritten before it is read (memmove
 * semantics in guest-physical space).
 */
static void kh_memory_copy_locked(struct kvmhost_memory *mem, uint64_t dst, uint64_t src, uint64_t len)
{
	if (dst <= src || dst >= src + len) {
		while (len) {
			struct kvmhost_memory_region *rs = kh_memory_lookup(mem, src);
			struct kvmhost_memory_region *rd = kh_memory_lookup(mem, dst);
			uint64_t n = KH_MIN(len, KH_MIN(rs->length - (src - rs->gpa), rd->length - (dst - rd->gpa)));

			memmove(rd->host + (dst - rd->gpa), rs->host + (src - rs->gpa), (size_t)n);
			kh_region_mark_dirty(rd, dst, n);
			dst += n;
			src += n;
			len -= n;
		}
		return;
	}
	while (len) {
		/* Chunk ending at src + len (dst + len): bounded below by the
		 * starts of the regions holding the last bytes. */
		struct kvmhost_memory_region *rs = kh_memory_lookup(mem, src + len - 1);
		struct kvmhost_memory_region *rd = kh_memory_lookup(mem, dst + len - 1);
		uint64_t n = KH_MIN(len, KH_MIN(src + len - rs->gpa, dst + len - rd->gpa));
		uint64_t s = src + len - n, d = dst + len - n;

		memmove(rd->host + (d - rd->gpa), rs->host + (s - rs->gpa), (size_t)n);
		kh_region_mark_dirty(rd, d, n);
		len -= n;
	}
}

KVMHOST_API int kvmhost_memory_copy(struct kvmhost_memory *mem, uint64_t dst_gpa, uint64_t src_gpa, size_t len)
{
	int err;

	if (!mem)
		return KH_FAIL(EINVAL, "mem is NULL");
	if (len == 0)
		return KH_FAIL(EINVAL, "zero length copy 0x%llx -> 0x%llx", (unsigned long long)src_gpa,
			       (unsigned long long)dst_gpa);
	pthread_rwlock_rdlock(&mem->rwlock);
	err = kh_memory_check_range(mem, src_gpa, len, 0, __func__);
	if (err == 0)
		err = kh_memory_check_range(mem, dst_gpa, len, 1, __func__);
	if (err == 0)
		kh_memory_copy_locked(mem, dst_gpa, src_gpa, len);
	pthread_rwlock_unlock(&mem->rwlock);
	return err;
}
