/*
 * vCPU objects: creation (KVM_CREATE_VCPU plus the shared kvm_run mapping),
 * teardown, getters, and the architecture-neutral state calls (MP state,
 * ONE_REG). Running and kicking live in vcpu_run.c, exit decoding in
 * exit_decode.c, x86 register sets in lib/arch/x86/.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "../core/internal.h"
#include "kvm_internal.h"
#include "vcpu_internal.h"

/* Unmap, close and free; the vCPU is already off the VM's child list. */
static void kh_vcpu_free(struct kvmhost_vcpu *vcpu)
{
	kh_log(KVMHOST_LOG_INFO, "%s: vCPU %u destroyed", vcpu->vm->name, vcpu->id);
	munmap(vcpu->run, vcpu->run_size);
	close(vcpu->fd);
	free(vcpu);
}

/* kh_vm_child destructor, called by kvmhost_vm_destroy() for vCPUs left. */
static void kh_vcpu_child_destroy(struct kh_vm_child *child)
{
	kh_vcpu_free(KH_CONTAINER_OF(child, struct kvmhost_vcpu, child));
}

/*
 * With vm->lock held: is vCPU @id alive in @vm? The VM's children are of
 * several kinds; ours are recognised by their destructor.
 */
static int kh_vcpu_id_in_use(struct kvmhost_vm *vm, uint32_t id)
{
	for (struct kh_vm_child *c = vm->children.next; c != &vm->children; c = c->next)
		if (c->destroy == kh_vcpu_child_destroy && KH_CONTAINER_OF(c, struct kvmhost_vcpu, child)->id == id)
			return 1;
	return 0;
}

KVMHOST_API int kvmhost_vcpu_create(struct kvmhost_vm *vm, uint32_t id, struct kvmhost_vcpu **out)
{
	struct kvmhost_vcpu *vcpu;
	void *run;
	int fd, r;

	if (!out)
		return KH_FAIL(EINVAL, "out is NULL");
	*out = NULL;
	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (id >= (uint32_t)vm->sys->max_vcpus)
		return KH_FAIL(EINVAL, "%s: vCPU id %u is not below the maximum of %d vCPUs", vm->name, id,
			       vm->sys->max_vcpus);

	/*
	 * Count the vCPU before KVM_CREATE_VCPU, under the lock the x86 irqchip
	 * code holds while it checks vcpu_count, so an irqchip can never be
	 * created alongside a vCPU. The count is never lowered by
	 * kvmhost_vcpu_destroy(): KVM keeps a vCPU until the VM is gone.
	 */
	pthread_mutex_lock(&vm->lock);
	if (kh_vcpu_id_in_use(vm, id)) {
		pthread_mutex_unlock(&vm->lock);
		return KH_FAIL(EEXIST, "%s: vCPU %u already exists", vm->name, id);
	}
	vm->vcpu_count++;
	pthread_mutex_unlock(&vm->lock);

	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu) {
		r = KH_FAIL(ENOMEM, "%s: cannot allocate vCPU %u", vm->name, id);
		goto fail_count;
	}
	fd = (int)KH_RETRY_EINTR(ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id));
	if (fd < 0) {
		/* EEXIST here: the id belonged to a vCPU destroyed earlier. */
		r = KH_FAIL_ERRNO("%s: KVM_CREATE_VCPU(%u) failed", vm->name, id);
		goto fail_free;
	}
	run = mmap(NULL, (size_t)vm->sys->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED) {
		r = KH_FAIL_ERRNO("%s: cannot map kvm_run of vCPU %u", vm->name, id);
		close(fd);
		goto fail_free;
	}
	vcpu->vm = vm;
	vcpu->fd = fd;
	vcpu->id = id;
	vcpu->kick_signal = vm->sys->kick_signal;
	vcpu->run = run;
	vcpu->run_size = (size_t)vm->sys->vcpu_mmap_size;
	vcpu->exit.reason = KVMHOST_EXIT_UNKNOWN;
	vcpu->child.destroy = kh_vcpu_child_destroy;
	kh_kick_handler_install(vm->sys);
	kh_vm_attach_child(vm, &vcpu->child);
	kh_log(KVMHOST_LOG_INFO, "%s: vCPU %u created (fd %d)", vm->name, id, fd);
	*out = vcpu;
	return 0;

fail_free:
	free(vcpu);
fail_count:
	pthread_mutex_lock(&vm->lock);
	vm->vcpu_count--;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

KVMHOST_API void kvmhost_vcpu_destroy(struct kvmhost_vcpu *vcpu)
{
	if (!vcpu)
		return;
	kh_vm_detach_child(vcpu->vm, &vcpu->child);
	kh_vcpu_free(vcpu);
}

KVMHOST_API int kvmhost_vcpu_fd(const struct kvmhost_vcpu *vcpu)
{
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	return vcpu->fd;
}

KVMHOST_API uint32_t kvmhost_vcpu_id(const struct kvmhost_vcpu *vcpu)
{
	return vcpu ? vcpu->id : 0;
}

KVMHOST_API struct kvmhost_vm *kvmhost_vcpu_vm(const struct kvmhost_vcpu *vcpu)
{
	if (!vcpu) {
		KH_FAIL(EINVAL, "vcpu is NULL");
		return NULL;
	}
	return vcpu->vm;
}

KVMHOST_API struct kvm_run *kvmhost_vcpu_kvm_run(struct kvmhost_vcpu *vcpu)
{
	if (!vcpu) {
		KH_FAIL(EINVAL, "vcpu is NULL");
		return NULL;
	}
	return vcpu->run;
}

KVMHOST_API int kvmhost_vcpu_get_mp_state(struct kvmhost_vcpu *vcpu, struct kvm_mp_state *state)
{
	if (!vcpu || !state)
		return KH_FAIL(EINVAL, "vcpu or state is NULL");
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, state) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_GET_MP_STATE failed", vcpu->vm->name, vcpu->id);
	return 0;
}

KVMHOST_API int kvmhost_vcpu_set_mp_state(struct kvmhost_vcpu *vcpu, const struct kvm_mp_state *state)
{
	if (!vcpu || !state)
		return KH_FAIL(EINVAL, "vcpu or state is NULL");
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, state) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_SET_MP_STATE(%u) failed", vcpu->vm->name, vcpu->id,
				     state->mp_state);
	return 0;
}

/* ONE_REG ids carry the register's size as log2(bytes) in bits 52-55; KVM
 * defines sizes up to 2048 bits (U2048 = 8). */
static int kh_one_reg_check(const struct kvmhost_vcpu *vcpu, uint64_t id, const void *value, const char *func)
{
	uint64_t size_log2 = (id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT;

	if (!vcpu || !value)
		return kh_fail(EINVAL, func, "vcpu or value is NULL");
	if (size_log2 > 8)
		return kh_fail(EINVAL, func, "%s: vCPU %u: register id 0x%llx has an invalid size field",
			       vcpu->vm->name, vcpu->id, (unsigned long long)id);
	return 0;
}

KVMHOST_API int kvmhost_vcpu_get_one_reg(struct kvmhost_vcpu *vcpu, uint64_t id, void *value)
{
	struct kvm_one_reg reg;
	int r = kh_one_reg_check(vcpu, id, value, __func__);

	if (r < 0)
		return r;
	reg.id = id;
	reg.addr = (uint64_t)(uintptr_t)value;
	if (ioctl(vcpu->fd, KVM_GET_ONE_REG, &reg) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_GET_ONE_REG(0x%llx) failed", vcpu->vm->name, vcpu->id,
				     (unsigned long long)id);
	return 0;
}

KVMHOST_API int kvmhost_vcpu_set_one_reg(struct kvmhost_vcpu *vcpu, uint64_t id, const void *value)
{
	struct kvm_one_reg reg;
	int r = kh_one_reg_check(vcpu, id, value, __func__);

	if (r < 0)
		return r;
	reg.id = id;
	reg.addr = (uint64_t)(uintptr_t)value;
	if (ioctl(vcpu->fd, KVM_SET_ONE_REG, &reg) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_SET_ONE_REG(0x%llx) failed", vcpu->vm->name, vcpu->id,
				     (unsigned long long)id);
	return 0;
}

KVMHOST_API int kvmhost_vcpu_enable_cap(struct kvmhost_vcpu *vcpu, uint32_t cap, const uint64_t *args)
{
	struct kvm_enable_cap ec;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	memset(&ec, 0, sizeof(ec));
	ec.cap = cap;
	if (args)
		memcpy(ec.args, args, sizeof(ec.args));
	if (ioctl(vcpu->fd, KVM_ENABLE_CAP, &ec) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_ENABLE_CAP(%u) failed", vcpu->vm->name, vcpu->id, cap);
	return 0;
}
