/*
 * KVM's dirty page log: turning logging on and off per slot, and fetching
 * and clearing it. With manual protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
 * enabled by lib/kvm/vm.c when offered) KVM_GET_DIRTY_LOG only copies the
 * log and KVM_CLEAR_DIRTY_LOG of exactly the fetched bits clears them and
 * write-protects those pages again; without it GET does both.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "../kvm/kvm_internal.h"
#include "memory_internal.h"

KVMHOST_API int kvmhost_vm_set_dirty_logging(struct kvmhost_vm *vm, struct kvmhost_memory_region *region, int enable)
{
	struct kvmhost_memory *mem;
	uint32_t flags;
	int i, err = 0;

	if (!vm || !region)
		return KH_FAIL(EINVAL, "vm or region is NULL");
	if (enable != 0 && enable != 1)
		return KH_FAIL(EINVAL, "%s: enable is %d, not 0 or 1", vm->name, enable);
	mem = vm->mem;
	pthread_mutex_lock(&mem->update_lock);
	i = kh_vm_find_region(vm, region, __func__);
	if (i < 0) {
		err = i;
		goto out;
	}
	flags = atomic_load(&region->flags);
	if (!!(flags & KVMHOST_MEMORY_LOG_DIRTY) == enable)
		goto out;
	flags ^= KVMHOST_MEMORY_LOG_DIRTY;
	/* Changing only the flags of a slot keeps its mapping: KVM starts (or
	 * stops) write-protecting it for the log. */
	err = kh_slot_update(vm, region, flags, 0, __func__);
	if (err == 0)
		atomic_store(&region->flags, flags);
out:
	pthread_mutex_unlock(&mem->update_lock);
	return err;
}

static int kh_bitmap_empty(const uint64_t *bitmap, size_t words)
{
	for (size_t i = 0; i < words; i++)
		if (bitmap[i])
			return 0;
	return 1;
}

KVMHOST_API int kvmhost_vm_get_dirty_log(struct kvmhost_vm *vm, struct kvmhost_memory_region *region, uint64_t *bitmap,
					 size_t bitmap_size)
{
	struct kvm_dirty_log log;
	struct kvmhost_memory *mem;
	size_t need;
	int i, err = 0;

	if (!vm || !region || !bitmap)
		return KH_FAIL(EINVAL, "vm, region or bitmap is NULL");
	mem = vm->mem;
	/* Serialised with slot changes, so the slot cannot be deleted or
	 * reflagged between GET and CLEAR. */
	pthread_mutex_lock(&mem->update_lock);
	i = kh_vm_find_region(vm, region, __func__);
	if (i < 0) {
		err = i;
		goto out;
	}
	if (!(atomic_load(&region->flags) & KVMHOST_MEMORY_LOG_DIRTY)) {
		err = KH_FAIL(EINVAL, "%s: dirty logging is off for region '%s' (slot %d)", vm->name,
			      kh_region_name(region), region->slot);
		goto out;
	}
	need = region->bitmap_words * sizeof(uint64_t);
	if (bitmap_size < need) {
		err = KH_FAIL(ENOSPC, "%s: region '%s' needs a %zu-byte bitmap, got %zu", vm->name,
			      kh_region_name(region), need, bitmap_size);
		goto out;
	}
	memset(&log, 0, sizeof(log));
	log.slot = (uint32_t)region->slot;
	log.dirty_bitmap = bitmap;
	if (KH_RETRY_EINTR(ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log)) < 0) {
		err = KH_FAIL_ERRNO("%s: KVM_GET_DIRTY_LOG of slot %d ('%s') failed", vm->name, region->slot,
				    kh_region_name(region));
		goto out;
	}
	if (vm->manual_dirty_protect && !kh_bitmap_empty(bitmap, region->bitmap_words)) {
		struct kvm_clear_dirty_log clear;

		/* Clear (and re-protect) exactly what we fetched: a page dirtied
		 * after the GET keeps its bit for the next fetch. first_page 0 and
		 * num_pages reaching the end of the slot satisfy KVM's 64-page
		 * alignment rule. */
		memset(&clear, 0, sizeof(clear));
		clear.slot = (uint32_t)region->slot;
		clear.first_page = 0;
		clear.num_pages = (uint32_t)region->pages;
		clear.dirty_bitmap = bitmap;
		if (KH_RETRY_EINTR(ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &clear)) < 0)
			err = KH_FAIL_ERRNO("%s: KVM_CLEAR_DIRTY_LOG of slot %d ('%s') failed", vm->name, region->slot,
					    kh_region_name(region));
	}
out:
	pthread_mutex_unlock(&mem->update_lock);
	return err;
}

KVMHOST_API int kvmhost_vm_dirty_log_manual_protect(struct kvmhost_vm *vm)
{
	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	return vm->manual_dirty_protect ? 1 : 0;
}
