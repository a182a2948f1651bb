/*
 * x86-only VM calls: the in-kernel irqchip (full or split) and PIT, the TSS
 * and identity-map addresses Intel hosts need for real mode, and kvmclock.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/kvm_internal.h"
#include <kvmhost/x86.h>

/* KVM_MAX_IRQ_ROUTES on x86, the bound KVM puts on a split irqchip's pins. */
#define KH_X86_MAX_IRQ_ROUTES 4096u
#define KH_4G		      (1ull << 32)

KVMHOST_API int kvmhost_x86_vm_create_irqchip(struct kvmhost_vm *vm, enum kvmhost_x86_irqchip mode,
					      uint32_t ioapic_pins)
{
	struct kvm_enable_cap cap;
	int r = 0;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (mode != KVMHOST_X86_IRQCHIP_FULL && mode != KVMHOST_X86_IRQCHIP_SPLIT)
		return KH_FAIL(EINVAL, "%s: irqchip mode %d is neither FULL nor SPLIT", vm->name, (int)mode);
	if (mode == KVMHOST_X86_IRQCHIP_FULL && ioapic_pins)
		return KH_FAIL(EINVAL, "%s: ioapic_pins (%u) is for a SPLIT irqchip; pass 0 with FULL", vm->name,
			       ioapic_pins);
	if (mode == KVMHOST_X86_IRQCHIP_SPLIT && (ioapic_pins == 0 || ioapic_pins > KH_X86_MAX_IRQ_ROUTES))
		return KH_FAIL(EINVAL, "%s: a SPLIT irqchip needs 1 to %u ioapic_pins (24 is usual), not %u", vm->name,
			       KH_X86_MAX_IRQ_ROUTES, ioapic_pins);

	/* Held across the ioctl: kvmhost_vcpu_create() counts vCPUs under the
	 * same lock, so none can appear while the irqchip is being made. */
	pthread_mutex_lock(&vm->lock);
	if (vm->irqchip) {
		r = KH_FAIL(EEXIST, "%s: the VM already has an irqchip", vm->name);
		goto out;
	}
	if (vm->vcpu_count) {
		r = KH_FAIL(EINVAL, "%s: the irqchip must be created before any vCPU (%d exist)", vm->name,
			    vm->vcpu_count);
		goto out;
	}
	if (mode == KVMHOST_X86_IRQCHIP_FULL) {
		if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
			r = KH_FAIL_ERRNO("%s: KVM_CREATE_IRQCHIP failed", vm->name);
			goto out;
		}
	} else {
		memset(&cap, 0, sizeof(cap));
		cap.cap = KVM_CAP_SPLIT_IRQCHIP;
		cap.args[0] = ioapic_pins;
		if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0) {
			r = KH_FAIL_ERRNO("%s: KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP, %u pins) failed", vm->name,
					  ioapic_pins);
			goto out;
		}
	}
	vm->irqchip = mode;
	kh_log(KVMHOST_LOG_INFO, "%s: %s irqchip created", vm->name,
	       mode == KVMHOST_X86_IRQCHIP_FULL ? "full" : "split");
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

KVMHOST_API int kvmhost_x86_vm_create_pit(struct kvmhost_vm *vm, uint32_t flags)
{
	struct kvm_pit_config cfg;
	int irqchip;

	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (flags & ~(uint32_t)KVM_PIT_SPEAKER_DUMMY)
		return KH_FAIL(EINVAL, "%s: unknown PIT flags 0x%x", vm->name, flags);
	pthread_mutex_lock(&vm->lock);
	irqchip = vm->irqchip;
	pthread_mutex_unlock(&vm->lock);
	if (irqchip != KVMHOST_X86_IRQCHIP_FULL)
		return KH_FAIL(EINVAL, "%s: the in-kernel PIT needs a FULL irqchip first", vm->name);
	memset(&cfg, 0, sizeof(cfg));
	cfg.flags = flags;
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &cfg) < 0)
		return KH_FAIL_ERRNO("%s: KVM_CREATE_PIT2 failed", vm->name);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_set_tss_addr(struct kvmhost_vm *vm, uint64_t addr)
{
	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (addr & 0xfff || addr > KH_4G - 3 * 4096)
		return KH_FAIL(EINVAL, "%s: TSS address 0x%llx must be page aligned with 3 pages below 4 GiB", vm->name,
			       (unsigned long long)addr);
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)addr) < 0)
		return KH_FAIL_ERRNO("%s: KVM_SET_TSS_ADDR(0x%llx) failed", vm->name, (unsigned long long)addr);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_set_identity_map_addr(struct kvmhost_vm *vm, uint64_t addr)
{
	if (!vm)
		return KH_FAIL(EINVAL, "vm is NULL");
	if (addr & 0xfff || addr > KH_4G - 4096)
		return KH_FAIL(EINVAL, "%s: identity map address 0x%llx must be page aligned and below 4 GiB", vm->name,
			       (unsigned long long)addr);
	/* KVM refuses it once a vCPU exists (EINVAL); its message says so. */
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
		return KH_FAIL_ERRNO("%s: KVM_SET_IDENTITY_MAP_ADDR(0x%llx) failed (must precede vCPUs)", vm->name,
				     (unsigned long long)addr);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_get_clock(struct kvmhost_vm *vm, struct kvm_clock_data *clock)
{
	if (!vm || !clock)
		return KH_FAIL(EINVAL, "vm or clock is NULL");
	memset(clock, 0, sizeof(*clock));
	if (ioctl(vm->fd, KVM_GET_CLOCK, clock) < 0)
		return KH_FAIL_ERRNO("%s: KVM_GET_CLOCK failed", vm->name);
	return 0;
}

KVMHOST_API int kvmhost_x86_vm_set_clock(struct kvmhost_vm *vm, const struct kvm_clock_data *clock)
{
	if (!vm || !clock)
		return KH_FAIL(EINVAL, "vm or clock is NULL");
	if (ioctl(vm->fd, KVM_SET_CLOCK, clock) < 0)
		return KH_FAIL_ERRNO("%s: KVM_SET_CLOCK failed", vm->name);
	return 0;
}
