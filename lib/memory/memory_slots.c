/*
 * VM memory: regions of a VM's map registered as KVM memory slots
 * (KVM_SET_USER_MEMORY_REGION), slot number allocation, and removal in the
 * safe order (delete the slot, then unmap).
 */
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "../kvm/kvm_internal.h"
#include "memory_internal.h"

/* With update_lock held: lowest free slot number, or -1. */
static int kh_slot_alloc(struct kvmhost_memory *mem)
{
	for (int w = 0; w * 64 < mem->max_slots; w++) {
		uint64_t free_bits = ~mem->slots_used[w];
		int slot;

		if (!free_bits)
			continue;
		slot = w * 64 + __builtin_ctzll(free_bits);
		if (slot >= mem->max_slots)
			return -1;
		mem->slots_used[w] |= 1ull << (slot % 64);
		return slot;
	}
	return -1;
}

static void kh_slot_release(struct kvmhost_memory *mem, int slot)
{
	mem->slots_used[slot / 64] &= ~(1ull << (slot % 64));
}

int kh_slot_update(struct kvmhost_vm *vm, struct kvmhost_memory_region *r, uint32_t flags, int remove, const char *func)
{
	struct kvm_userspace_memory_region kr;

	memset(&kr, 0, sizeof(kr));
	kr.slot = (uint32_t)r->slot;
	if (!remove) {
		if (flags & KVMHOST_MEMORY_READONLY)
			kr.flags |= KVM_MEM_READONLY;
		if (flags & KVMHOST_MEMORY_LOG_DIRTY)
			kr.flags |= KVM_MEM_LOG_DIRTY_PAGES;
		kr.guest_phys_addr = r->gpa;
		kr.memory_size = r->length;
		kr.userspace_addr = (uint64_t)(uintptr_t)r->host;
	}
	if (KH_RETRY_EINTR(ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &kr)) < 0)
		return kh_fail(errno ? errno : EIO, func,
			       "%s: KVM_SET_USER_MEMORY_REGION slot %d (%s '%s' [0x%llx, 0x%llx)) failed", vm->name,
			       r->slot, remove ? "deleting" : "setting", kh_region_name(r), (unsigned long long)r->gpa,
			       (unsigned long long)(r->gpa + r->length));
	return 0;
}

int kh_vm_find_region(struct kvmhost_vm *vm, struct kvmhost_memory_region *region, const char *func)
{
	long i = kh_memory_index_of(vm->mem, region);

	if (i < 0)
		return kh_fail(ENOENT, func, "%s: the region is not memory of this VM", vm->name);
	return (int)i;
}

KVMHOST_API struct kvmhost_memory *kvmhost_vm_memory(struct kvmhost_vm *vm)
{
	if (!vm) {
		KH_FAIL(EINVAL, "vm is NULL");
		return NULL;
	}
	return vm->mem;
}

KVMHOST_API int kvmhost_vm_add_memory(struct kvmhost_vm *vm, const struct kvmhost_memory_options *opts,
				      struct kvmhost_memory_region **region)
{
	struct kvmhost_memory_options o;
	struct kvmhost_memory_region *r;
	struct kvmhost_memory *mem;
	int err;

	if (region)
		*region = NULL;
	if (!vm || !opts)
		return KH_FAIL(EINVAL, "vm or opts is NULL");
	mem = vm->mem;
	if (kh_memory_walking(mem))
		return KH_FAIL(EDEADLK, "%s: cannot change a map from its own kvmhost_memory_for_each_region()",
			       vm->name);
	err = KH_COPY_OPTIONS(&o, opts);
	if (err < 0)
		return err;
	err = kh_region_check_options(&o, 1, __func__);
	if (err < 0)
		return err;
	if ((o.flags & KVMHOST_MEMORY_READONLY) && ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return KH_FAIL(ENOTSUP, "%s: KVM has no read-only memory slots (KVM_CAP_READONLY_MEM)", vm->name);

	/* Cheap early answer before mapping what may be gigabytes; the slot is
	 * really allocated (and this rechecked) under the lock below. */
	pthread_mutex_lock(&mem->update_lock);
	err = mem->count >= (size_t)mem->max_slots;
	pthread_mutex_unlock(&mem->update_lock);
	if (err)
		return KH_FAIL(ENOSPC, "%s: all %d KVM memory slots are in use", vm->name, mem->max_slots);

	err = kh_region_create(&o, &r, __func__);
	if (err < 0)
		return err;
	pthread_mutex_lock(&mem->update_lock);
	err = kh_memory_check_overlap(mem, r->gpa, r->length, __func__);
	if (err < 0)
		goto unlock;
	r->slot = kh_slot_alloc(mem);
	if (r->slot < 0) {
		err = KH_FAIL(ENOSPC, "%s: all %d KVM memory slots are in use", vm->name, mem->max_slots);
		goto unlock;
	}
	err = kh_slot_update(vm, r, o.flags, 0, __func__);
	if (err < 0) {
		kh_slot_release(mem, r->slot);
		goto unlock;
	}
	/* KVM maps it from here on; the VMM's lookups find it once inserted. */
	err = kh_memory_insert(mem, r, __func__);
	if (err < 0) {
		(void)kh_slot_update(vm, r, 0, 1, __func__);
		kh_slot_release(mem, r->slot);
	}
unlock:
	pthread_mutex_unlock(&mem->update_lock);
	if (err < 0) {
		kh_region_free(r);
		return err;
	}
	kh_log(KVMHOST_LOG_DEBUG, "%s: slot %d: '%s' [0x%llx, 0x%llx) flags 0x%x", vm->name, r->slot, kh_region_name(r),
	       (unsigned long long)r->gpa, (unsigned long long)(r->gpa + r->length), o.flags);
	if (region)
		*region = r;
	return 0;
}

KVMHOST_API int kvmhost_vm_remove_memory(struct kvmhost_vm *vm, struct kvmhost_memory_region *region)
{
	struct kvmhost_memory *mem;
	int i, err;

	if (!vm || !region)
		return KH_FAIL(EINVAL, "vm or region is NULL");
	mem = vm->mem;
	if (kh_memory_walking(mem))
		return KH_FAIL(EDEADLK, "%s: cannot change a map from its own kvmhost_memory_for_each_region()",
			       vm->name);
	pthread_mutex_lock(&mem->update_lock);
	i = kh_vm_find_region(vm, region, __func__);
	if (i < 0) {
		pthread_mutex_unlock(&mem->update_lock);
		return i;
	}
	/* The guest must lose the slot before the host memory goes away. If KVM
	 * refuses, keep everything: unmapping now would leave KVM mapping freed
	 * host memory. */
	err = kh_slot_update(vm, region, 0, 1, __func__);
	if (err < 0) {
		pthread_mutex_unlock(&mem->update_lock);
		return err;
	}
	kh_slot_release(mem, region->slot);
	kh_memory_drop(mem, (size_t)i);
	pthread_mutex_unlock(&mem->update_lock);
	kh_log(KVMHOST_LOG_DEBUG, "%s: slot %d: '%s' removed", vm->name, region->slot, kh_region_name(region));
	kh_region_free(region);
	return 0;
}
