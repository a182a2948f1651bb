/*
 * The x86 state calls snapshot and migration need beyond the register sets
 * (vcpu_state_x86.c): MP state, the vCPU's CPUID table, TSC frequency,
 * KVMCLOCK_CTRL, the in-kernel irqchip and PIT state, the kvmclock flags
 * KVM supports, and KVM_CAP_EXCEPTION_PAYLOAD.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/vcpu_internal.h"
#include <kvmhost/x86.h>

#define KH_CPUID_MAX 4096u

KVMHOST_API int kvmhost_x86_vcpu_get_cpuid(struct kvmhost_vcpu *vcpu, struct kvm_cpuid_entry2 *entries, uint32_t max,
					   uint32_t *count)
{
	struct kvm_cpuid2 *c;
	uint32_t n = 64;
	int r;

	if (!vcpu || !count)
		return KH_FAIL(EINVAL, "vcpu or count is NULL");
	if (max && !entries)
		return KH_FAIL(EINVAL, "entries is NULL but max is %u", max);
	for (;;) {
		c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			return KH_FAIL(ENOMEM, "cannot allocate %u CPUID entries", n);
		c->nent = n;
		if (ioctl(vcpu->fd, KVM_GET_CPUID2, c) == 0)
			break;
		r = errno;
		free(c);
		if (r != E2BIG || n >= KH_CPUID_MAX) {
			errno = r;
			return KH_FAIL_ERRNO("%s: vCPU %u: KVM_GET_CPUID2 (%u entries) failed", vcpu->vm->name,
					     vcpu->id, n);
		}
		n *= 2;
	}
	*count = c->nent;
	if (c->nent > max) {
		r = KH_FAIL(E2BIG, "%s: vCPU %u has %u CPUID entries; the array holds %u", vcpu->vm->name, vcpu->id,
			    c->nent, max);
	} else {
		memcpy(entries, c->entries, (size_t)c->nent * sizeof(c->entries[0]));
		r = 0;
	}
	free(c);
	return r;
}

KVMHOST_API int kvmhost_x86_vcpu_get_tsc_khz(struct kvmhost_vcpu *vcpu, uint32_t *khz)
{
	int r;

	if (!vcpu || !khz)
		return KH_FAIL(EINVAL, "vcpu or khz is NULL");
	if (ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_GET_TSC_KHZ) <= 0)
		return KH_FAIL(ENOTSUP, "%s: this KVM cannot report the TSC frequency", vcpu->vm->name);
	r = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (r < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_GET_TSC_KHZ failed", vcpu->vm->name, vcpu->id);
	if (r == 0)
		return KH_FAIL(ENOTSUP, "%s: vCPU %u: KVM does not know the TSC frequency", vcpu->vm->name, vcpu->id);
	*khz = (uint32_t)r;
	return 0;
}

KVMHOST_API int kvmhost_x86_vcpu_set_tsc_khz(struct kvmhost_vcpu *vcpu, uint32_t khz)
{
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	if (!khz || khz > INT32_MAX)
		return KH_FAIL(EINVAL, "%s: vCPU %u: a TSC of %u kHz", vcpu->vm->name, vcpu->id, khz);
	if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_SET_TSC_KHZ(%u) failed (without TSC scaling KVM takes only "
				     "the host's rate or a faster one)",
				     vcpu->vm->name, vcpu->id, khz);
	return 0;
}

KVMHOST_API int kvmhost_x86_vcpu_kvmclock_ctrl(struct kvmhost_vcpu *vcpu)
{
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	if (ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) <= 0)
		return KH_FAIL(ENOTSUP, "%s: this KVM has no KVM_KVMCLOCK_CTRL", vcpu->vm->name);
	if (ioctl(vcpu->fd, KVM_KVMCLOCK_CTRL, 0) == 0)
		return 1;
	if (errno == EINVAL) /* the guest never enabled kvmclock on this vCPU */
		return 0;
	return KH_FAIL_ERRNO("%s: vCPU %u: KVM_KVMCLOCK_CTRL failed", vcpu->vm->name, vcpu->id);
}

static int check_full_irqchip(struct kvmhost_vm *vm, const void *arg, const char *func)
{
	int irqchip;

	if (!vm || !arg)
		return kh_fail(EINVAL, func, "vm or the state is NULL");
	pthread_mutex_lock(&vm->lock);
	irqchip = vm->irqchip;
	pthread_mutex_unlock(&vm->lock);
	if (irqchip != KVMHOST_X86_IRQCHIP_FULL)
		return kh_fail(EINVAL, func, "%s: the PIC, IOAPIC and PIT state need a FULL in-kernel irqchip",
			       vm->name);
	return 0;
}

static int irqchip_ioctl(struct kvmhost_vm *vm, unsigned long req, const char *name, struct kvm_irqchip *chip,
			 const char *func)
{
	int r = check_full_irqchip(vm, chip, func);

	if (r < 0)
		return r;
	if (chip->chip_id > KVM_IRQCHIP_IOAPIC)
		return kh_fail(EINVAL, func, "%s: chip_id %u is not a PIC (0, 1) or the IOAPIC (2)", vm->name,
			       chip->chip_id);
	if (ioctl(vm->fd, req, chip) < 0)
		return kh_fail(errno ? errno : EIO, func, "%s: %s(chip %u) failed", vm->name, name, chip->chip_id);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_get_irqchip(struct kvmhost_vm *vm, struct kvm_irqchip *chip)
{
	return irqchip_ioctl(vm, KVM_GET_IRQCHIP, "KVM_GET_IRQCHIP", chip, __func__);
}

KVMHOST_API int kvmhost_x86_vm_set_irqchip(struct kvmhost_vm *vm, const struct kvm_irqchip *chip)
{
	return irqchip_ioctl(vm, KVM_SET_IRQCHIP, "KVM_SET_IRQCHIP", (struct kvm_irqchip *)chip, __func__);
}

KVMHOST_API int kvmhost_x86_vm_get_pit(struct kvmhost_vm *vm, struct kvm_pit_state2 *pit)
{
	int r = check_full_irqchip(vm, pit, __func__);

	if (r < 0)
		return r;
	if (ioctl(vm->fd, KVM_GET_PIT2, pit) < 0)
		return KH_FAIL_ERRNO("%s: KVM_GET_PIT2 failed", vm->name);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_set_pit(struct kvmhost_vm *vm, const struct kvm_pit_state2 *pit)
{
	int r = check_full_irqchip(vm, pit, __func__);

	if (r < 0)
		return r;
	if (ioctl(vm->fd, KVM_SET_PIT2, pit) < 0)
		return KH_FAIL_ERRNO("%s: KVM_SET_PIT2 failed", vm->name);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_clock_flags(struct kvmhost_vm *vm)
{
	int r;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	r = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
	if (r <= 0)
		return 0;
	return r & (KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC);
}

KVMHOST_API int kvmhost_x86_vm_enable_exception_payload(struct kvmhost_vm *vm)
{
	struct kvm_enable_cap cap;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_EXCEPTION_PAYLOAD) <= 0)
		return KH_FAIL(ENOTSUP, "%s: this KVM has no KVM_CAP_EXCEPTION_PAYLOAD", vm->name);
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_EXCEPTION_PAYLOAD;
	cap.args[0] = 1;
	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
		return KH_FAIL_ERRNO("%s: KVM_ENABLE_CAP(KVM_CAP_EXCEPTION_PAYLOAD) failed", vm->name);
	return 0;
}
