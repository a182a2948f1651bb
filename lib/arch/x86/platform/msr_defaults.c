/*
 * Default MSR values for a new vCPU: what firmware would have left before a
 * kernel's entry point. KVM's reset values are mostly right already; these
 * are the few a guest kernel relies on (fast strings, write-back memory
 * through MTRRs and PAT) plus the syscall MSRs zeroed explicitly, so a vCPU
 * that is reused for a second boot does not inherit stale entry points. The
 * TSC is deliberately absent: KVM keeps the vCPUs' TSCs in sync itself.
 */
#include <string.h>

#include "../../../core/internal.h"
#include "../../../kvm/vcpu_internal.h"
#include <kvmhost/x86.h>
#include <kvmhost/x86_platform.h>

#define MSR_IA32_SYSENTER_CS  0x174u
#define MSR_IA32_SYSENTER_ESP 0x175u
#define MSR_IA32_SYSENTER_EIP 0x176u
#define MSR_IA32_MISC_ENABLE  0x1a0u
#define MSR_IA32_CR_PAT	      0x277u
#define MSR_MTRR_DEF_TYPE     0x2ffu
#define MSR_STAR	      0xc0000081u
#define MSR_LSTAR	      0xc0000082u
#define MSR_CSTAR	      0xc0000083u
#define MSR_SYSCALL_MASK      0xc0000084u
#define MSR_KERNEL_GS_BASE    0xc0000102u

#define MISC_ENABLE_FAST_STRING (1ull << 0)
#define MTRR_DEF_TYPE_ENABLE	(1ull << 11)
#define MTRR_TYPE_WRBACK	6ull
/* WB, WT, UC-, UC in entries 0-3 and again in 4-7: the architectural reset value. */
#define PAT_POWER_ON 0x0007040600070406ull

static const struct {
	uint32_t index;
	uint64_t value;
} msr_defaults[] = {
    {MSR_IA32_SYSENTER_CS, 0},
    {MSR_IA32_SYSENTER_ESP, 0},
    {MSR_IA32_SYSENTER_EIP, 0},
    {MSR_STAR, 0},
    {MSR_LSTAR, 0},
    {MSR_CSTAR, 0},
    {MSR_SYSCALL_MASK, 0},
    {MSR_KERNEL_GS_BASE, 0},
    {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
    {MSR_IA32_CR_PAT, PAT_POWER_ON},
    {MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK},
};

#define MSR_DEFAULT_COUNT ((uint32_t)KH_ARRAY_SIZE(msr_defaults))

KVMHOST_API int kvmhost_x86_msr_defaults(uint32_t *indices, uint64_t *values, uint32_t max, uint32_t *count)
{
	if (!count)
		return KH_FAIL(EINVAL, "count is NULL");
	if (max && (!indices || !values))
		return KH_FAIL(EINVAL, "indices or values is NULL but max is %u", max);
	*count = MSR_DEFAULT_COUNT;
	if (max < MSR_DEFAULT_COUNT)
		return KH_FAIL(E2BIG, "%u default MSRs; the arrays hold %u", MSR_DEFAULT_COUNT, max);
	for (uint32_t i = 0; i < MSR_DEFAULT_COUNT; i++) {
		indices[i] = msr_defaults[i].index;
		values[i] = msr_defaults[i].value;
	}
	return 0;
}

KVMHOST_API int kvmhost_x86_vcpu_set_default_msrs(struct kvmhost_vcpu *vcpu)
{
	uint32_t indices[MSR_DEFAULT_COUNT], n;
	uint64_t values[MSR_DEFAULT_COUNT];
	int r;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	r = kvmhost_x86_msr_defaults(indices, values, MSR_DEFAULT_COUNT, &n);
	if (r < 0)
		return r;
	r = kvmhost_x86_vcpu_set_msrs(vcpu, indices, values, n);
	if (r < 0)
		return r;
	if ((uint32_t)r < n)
		return KH_FAIL(EIO, "%s: vCPU %u: KVM refused MSR 0x%x = 0x%llx (%d of %u set)", vcpu->vm->name,
			       vcpu->id, indices[r], (unsigned long long)values[r], r, n);
	return 0;
}
