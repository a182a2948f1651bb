/*
 * The VMM-side dirty bitmap: pages the VMM itself wrote (device models, DMA,
 * image loading), which KVM's dirty log never sees. One bit per 4 KiB page,
 * in 64-bit words set with atomic OR and fetched with atomic exchange, so a
 * fetch concurrent with marks loses none of them: every mark lands either in
 * the words this fetch takes or in the bitmap the next fetch takes.
 */
#include <string.h>

#include "../core/internal.h"
#include "memory_internal.h"

void kh_region_mark_dirty(struct kvmhost_memory_region *r, uint64_t gpa, uint64_t len)
{
	uint64_t first = (gpa - r->gpa) >> KH_PAGE_SHIFT;
	uint64_t last = (gpa + len - 1 - r->gpa) >> KH_PAGE_SHIFT;

	while (first <= last) {
		size_t word = (size_t)(first / 64);
		unsigned int lo = (unsigned int)(first % 64);
		unsigned int hi = last / 64 == word ? (unsigned int)(last % 64) : 63;
		uint64_t mask = (hi - lo == 63 ? ~0ull : ((1ull << (hi - lo + 1)) - 1)) << lo;

		/* Always the read-modify-write, never "skip if already set": the
		 * release pairs with the fetcher's acquire, so a fetcher that takes
		 * the bit also sees the data written before the mark. */
		atomic_fetch_or_explicit(&r->vmm_dirty[word], mask, memory_order_release);
		first = (uint64_t)word * 64 + hi + 1;
	}
}

KVMHOST_API int kvmhost_memory_mark_dirty(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len)
{
	int err;

	if (!mem)
		return KH_FAIL(EINVAL, "mem is NULL");
	if (len == 0)
		return KH_FAIL(EINVAL, "zero length at 0x%llx", (unsigned long long)gpa);
	pthread_rwlock_rdlock(&mem->rwlock);
	/* Read-only regions may be marked: the VMM loads ROM contents through a
	 * translated pointer. */
	err = kh_memory_check_range(mem, gpa, len, 0, __func__);
	while (err == 0 && len) {
		struct kvmhost_memory_region *r = kh_memory_lookup(mem, gpa);
		uint64_t n = KH_MIN(len, r->length - (gpa - r->gpa));

		kh_region_mark_dirty(r, gpa, n);
		gpa += n;
		len -= n;
	}
	pthread_rwlock_unlock(&mem->rwlock);
	return err;
}

KVMHOST_API size_t kvmhost_memory_region_bitmap_size(const struct kvmhost_memory_region *region)
{
	return region ? region->bitmap_words * sizeof(uint64_t) : 0;
}

KVMHOST_API int kvmhost_memory_fetch_vmm_dirty(struct kvmhost_memory_region *region, uint64_t *bitmap,
					       size_t bitmap_size)
{
	size_t need;

	if (!region || !bitmap)
		return KH_FAIL(EINVAL, "region or bitmap is NULL");
	need = region->bitmap_words * sizeof(uint64_t);
	if (bitmap_size < need)
		return KH_FAIL(ENOSPC, "region '%s' needs a %zu-byte bitmap, got %zu", kh_region_name(region), need,
			       bitmap_size);
	for (size_t i = 0; i < region->bitmap_words; i++)
		bitmap[i] = atomic_exchange_explicit(&region->vmm_dirty[i], 0, memory_order_acq_rel);
	return 0;
}
