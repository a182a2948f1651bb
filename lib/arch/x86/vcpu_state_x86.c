/*
 * x86 vCPU register state: checked wrappers over the KVM get/set ioctls
 * (regs, sregs, FPU, LAPIC, events, debug registers, XCRs, XSAVE), MSR
 * access in batches, and the vCPU's CPUID table.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/vcpu_internal.h"
#include <kvmhost/x86.h>

/* Reported errors name the public function, so @func is passed down. */
static int kh_vcpu_ioctl(struct kvmhost_vcpu *vcpu, unsigned long req, const char *req_name, const void *arg,
			 const char *func)
{
	if (!vcpu)
		return kh_fail(EINVAL, func, "vcpu is NULL");
	if (!arg)
		return kh_fail(EINVAL, func, "%s: vCPU %u: the state pointer is NULL", vcpu->vm->name, vcpu->id);
	if (ioctl(vcpu->fd, req, arg) < 0)
		return kh_fail(errno ? errno : EIO, func, "%s: vCPU %u: %s failed", vcpu->vm->name, vcpu->id, req_name);
	return 0;
}

#define KH_VCPU_IOCTL(vcpu, req, arg) kh_vcpu_ioctl((vcpu), (req), #req, (arg), __func__)

KVMHOST_API int kvmhost_x86_vcpu_get_regs(struct kvmhost_vcpu *vcpu, struct kvm_regs *regs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_REGS, regs);
}

KVMHOST_API int kvmhost_x86_vcpu_set_regs(struct kvmhost_vcpu *vcpu, const struct kvm_regs *regs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_REGS, regs);
}

KVMHOST_API int kvmhost_x86_vcpu_get_sregs(struct kvmhost_vcpu *vcpu, struct kvm_sregs *sregs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_SREGS, sregs);
}

KVMHOST_API int kvmhost_x86_vcpu_set_sregs(struct kvmhost_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_SREGS, sregs);
}

KVMHOST_API int kvmhost_x86_vcpu_get_fpu(struct kvmhost_vcpu *vcpu, struct kvm_fpu *fpu)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_FPU, fpu);
}

KVMHOST_API int kvmhost_x86_vcpu_set_fpu(struct kvmhost_vcpu *vcpu, const struct kvm_fpu *fpu)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_FPU, fpu);
}

KVMHOST_API int kvmhost_x86_vcpu_get_lapic(struct kvmhost_vcpu *vcpu, struct kvm_lapic_state *lapic)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_LAPIC, lapic);
}

KVMHOST_API int kvmhost_x86_vcpu_set_lapic(struct kvmhost_vcpu *vcpu, const struct kvm_lapic_state *lapic)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_LAPIC, lapic);
}

KVMHOST_API int kvmhost_x86_vcpu_get_events(struct kvmhost_vcpu *vcpu, struct kvm_vcpu_events *events)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_VCPU_EVENTS, events);
}

KVMHOST_API int kvmhost_x86_vcpu_set_events(struct kvmhost_vcpu *vcpu, const struct kvm_vcpu_events *events)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_VCPU_EVENTS, events);
}

KVMHOST_API int kvmhost_x86_vcpu_get_debugregs(struct kvmhost_vcpu *vcpu, struct kvm_debugregs *dregs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_DEBUGREGS, dregs);
}

KVMHOST_API int kvmhost_x86_vcpu_set_debugregs(struct kvmhost_vcpu *vcpu, const struct kvm_debugregs *dregs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_DEBUGREGS, dregs);
}

KVMHOST_API int kvmhost_x86_vcpu_get_xcrs(struct kvmhost_vcpu *vcpu, struct kvm_xcrs *xcrs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_GET_XCRS, xcrs);
}

KVMHOST_API int kvmhost_x86_vcpu_set_xcrs(struct kvmhost_vcpu *vcpu, const struct kvm_xcrs *xcrs)
{
	return KH_VCPU_IOCTL(vcpu, KVM_SET_XCRS, xcrs);
}

/*
 * struct kvm_xsave is 4 KiB, but KVM_SET_XSAVE reads (and KVM_GET_XSAVE
 * refuses) KVM_CAP_XSAVE2 bytes once the process enabled dynamic XSAVE
 * features such as AMX for guests. Refuse rather than let KVM read past the
 * caller's struct.
 */
static int kh_xsave_fits(struct kvmhost_vcpu *vcpu, const void *xsave, const char *func)
{
	int size;

	if (!vcpu || !xsave)
		return 0; /* kh_vcpu_ioctl() reports it */
	size = ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (size > (int)sizeof(struct kvm_xsave))
		return kh_fail(E2BIG, func, "%s: vCPU %u: the guest XSAVE area is %d bytes, more than struct kvm_xsave",
			       vcpu->vm->name, vcpu->id, size);
	return 0;
}

KVMHOST_API int kvmhost_x86_vcpu_get_xsave(struct kvmhost_vcpu *vcpu, struct kvm_xsave *xsave)
{
	int r = kh_xsave_fits(vcpu, xsave, __func__);

	return r < 0 ? r : KH_VCPU_IOCTL(vcpu, KVM_GET_XSAVE, xsave);
}

KVMHOST_API int kvmhost_x86_vcpu_set_xsave(struct kvmhost_vcpu *vcpu, const struct kvm_xsave *xsave)
{
	int r = kh_xsave_fits(vcpu, xsave, __func__);

	return r < 0 ? r : KH_VCPU_IOCTL(vcpu, KVM_SET_XSAVE, xsave);
}

/*
 * MSRs go to KVM in batches of KH_MSR_BATCH through a stack buffer: no
 * allocation, and no limit on @count beyond the int return value (KVM itself
 * takes fewer than 256 per call).
 */
#define KH_MSR_BATCH 64u

static int kh_msrs(struct kvmhost_vcpu *vcpu, int set, const uint32_t *indices, uint64_t *values_out,
		   const uint64_t *values_in, uint32_t count, const char *func)
{
	uint64_t buf[(sizeof(struct kvm_msrs) + KH_MSR_BATCH * sizeof(struct kvm_msr_entry)) / sizeof(uint64_t)];
	struct kvm_msrs *m = (struct kvm_msrs *)buf;
	uint32_t done = 0;

	if (!vcpu)
		return kh_fail(EINVAL, func, "vcpu is NULL");
	if (count > INT_MAX)
		return kh_fail(EINVAL, func, "%s: vCPU %u: %u MSRs is more than an int can count", vcpu->vm->name,
			       vcpu->id, count);
	if (count && (!indices || (set ? !values_in : !values_out)))
		return kh_fail(EINVAL, func, "%s: vCPU %u: indices or values is NULL", vcpu->vm->name, vcpu->id);

	while (done < count) {
		uint32_t n = KH_MIN(count - done, KH_MSR_BATCH);
		int r;

		memset(buf, 0, sizeof(buf));
		m->nmsrs = n;
		for (uint32_t i = 0; i < n; i++) {
			m->entries[i].index = indices[done + i];
			if (set)
				m->entries[i].data = values_in[done + i];
		}
		r = ioctl(vcpu->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, m);
		if (r < 0)
			return kh_fail(errno ? errno : EIO, func, "%s: vCPU %u: %s failed", vcpu->vm->name, vcpu->id,
				       set ? "KVM_SET_MSRS" : "KVM_GET_MSRS");
		if (!set)
			for (int i = 0; i < r; i++)
				values_out[done + (uint32_t)i] = m->entries[i].data;
		done += (uint32_t)r;
		if ((uint32_t)r < n) {
			kh_log(KVMHOST_LOG_DEBUG, "%s: vCPU %u: KVM refused to %s MSR 0x%x", vcpu->vm->name, vcpu->id,
			       set ? "write" : "read", indices[done]);
			break;
		}
	}
	return (int)done;
}

KVMHOST_API int kvmhost_x86_vcpu_get_msrs(struct kvmhost_vcpu *vcpu, const uint32_t *indices, uint64_t *values,
					  uint32_t count)
{
	return kh_msrs(vcpu, 0, indices, values, NULL, count, __func__);
}

KVMHOST_API int kvmhost_x86_vcpu_set_msrs(struct kvmhost_vcpu *vcpu, const uint32_t *indices, const uint64_t *values,
					  uint32_t count)
{
	return kh_msrs(vcpu, 1, indices, NULL, values, count, __func__);
}

/* KVM_MAX_CPUID_ENTRIES */
#define KH_MAX_CPUID 256u

KVMHOST_API int kvmhost_x86_vcpu_set_cpuid(struct kvmhost_vcpu *vcpu, const struct kvm_cpuid_entry2 *entries,
					   uint32_t count)
{
	struct kvm_cpuid2 *c;
	int r = 0;

	if (!vcpu || !entries)
		return KH_FAIL(EINVAL, "vcpu or entries is NULL");
	if (count == 0 || count > KH_MAX_CPUID)
		return KH_FAIL(EINVAL, "%s: vCPU %u: %u CPUID entries; 1 to %u allowed", vcpu->vm->name, vcpu->id,
			       count, KH_MAX_CPUID);
	c = calloc(1, sizeof(*c) + (size_t)count * sizeof(*entries));
	if (!c)
		return KH_FAIL(ENOMEM, "cannot allocate %u CPUID entries", count);
	c->nent = count;
	memcpy(c->entries, entries, (size_t)count * sizeof(*entries));
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0)
		r = KH_FAIL_ERRNO("%s: vCPU %u: KVM_SET_CPUID2 (%u entries) failed", vcpu->vm->name, vcpu->id, count);
	free(c);
	return r;
}
