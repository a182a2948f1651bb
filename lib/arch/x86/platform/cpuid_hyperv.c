/*
 * Hyper-V enlightenments on KVM's own Hyper-V emulation (what Windows guests rely on, and what Linux uses when
 * it finds them): the Hyper-V CPUID leaves at 0x40000000-0x40000006 ("Microsoft Hv"), made from what this KVM
 * offers (KVM_GET_SUPPORTED_HV_CPUID) cut down to the enlightenments asked for, and KVM's own paravirtual leaves
 * moved to 0x40000100, where guests (Linux's kvm_cpuid_base() and KVM's own lookup) scan for them in 0x100 steps.
 * The per-vCPU part is the synthetic interrupt controller's capability. Everything goes through the CPUID
 * builder's edits, so it composes with the topology and the caller's own edits, and is unit-tested on fake lists.
 */
#include <stdlib.h>
#include <linux/kvm.h>

#include "../../../core/internal.h"
#include "platform_internal.h"
#include <kvmhost/vcpu.h>
#include <kvmhost/x86.h>
#include <kvmhost/x86_platform.h>

#define HV_LEAF_VENDOR	 0x40000000u
#define HV_LEAF_IFACE	 0x40000001u
#define HV_LEAF_VERSION	 0x40000002u
#define HV_LEAF_FEATURES 0x40000003u
#define HV_LEAF_ENLIGHT	 0x40000004u
#define HV_LEAF_LIMITS	 0x40000005u
#define HV_LEAF_HWFEAT	 0x40000006u
#define HV_LEAF_MAX	 HV_LEAF_HWFEAT
#define KVM_LEAF_MOVED	 0x40000100u /* KVM's "KVMKVMKVM" leaves, when Hyper-V's take 0x40000000 */

/* "Microsoft Hv" as EBX, ECX, EDX; "Hv#1" as 0x40000001's EAX. */
#define HV_SIG_EBX   0x7263694du
#define HV_SIG_ECX   0x666f736fu
#define HV_SIG_EDX   0x76482074u
#define HV_IFACE_EAX 0x31237648u

/* 0x40000003 EAX, the partition's privileges (the TLFS names). */
#define HV_MSR_TIME_REF_COUNT_AVAILABLE (1u << 1)
#define HV_MSR_SYNIC_AVAILABLE		(1u << 2)
#define HV_MSR_SYNTIMER_AVAILABLE	(1u << 3)
#define HV_MSR_HYPERCALL_AVAILABLE	(1u << 5)
#define HV_MSR_VP_INDEX_AVAILABLE	(1u << 6)
#define HV_MSR_REFERENCE_TSC_AVAILABLE	(1u << 9)
/* 0x40000003 EDX */
#define HV_STIMER_DIRECT_MODE_AVAILABLE (1u << 19)
/* 0x40000004 EAX */
#define HV_X64_RELAXED_TIMING_RECOMMENDED (1u << 5)

int kh_hyperv_check(uint32_t hv, const char *func)
{
	if (!hv || (hv & ~KVMHOST_X86_HV_ALL))
		return kh_fail(EINVAL, func, "enlightenments 0x%x: want a non-empty set of KVMHOST_X86_HV_* (0x%x)", hv,
			       KVMHOST_X86_HV_ALL);
	if ((hv & KVMHOST_X86_HV_SYNIC) && !(hv & KVMHOST_X86_HV_VPINDEX))
		return kh_fail(EINVAL, func, "hv-synic needs hv-vpindex (the SynIC addresses vCPUs by their VP index)");
	if ((hv & KVMHOST_X86_HV_STIMER) &&
	    (hv & (KVMHOST_X86_HV_SYNIC | KVMHOST_X86_HV_TIME)) != (KVMHOST_X86_HV_SYNIC | KVMHOST_X86_HV_TIME))
		return kh_fail(EINVAL, func,
			       "hv-stimer needs hv-synic and hv-time (timers deliver through the SynIC, count the "
			       "reference time)");
	return 0;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t function)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == function)
			return &e[i];
	return NULL;
}

/* The 0x40000003 EAX bits one enlightenment needs (the hypercall MSRs come with every one). */
static uint32_t privileges(uint32_t hv)
{
	uint32_t p = HV_MSR_HYPERCALL_AVAILABLE;

	if (hv & KVMHOST_X86_HV_TIME)
		p |= HV_MSR_TIME_REF_COUNT_AVAILABLE | HV_MSR_REFERENCE_TSC_AVAILABLE;
	if (hv & KVMHOST_X86_HV_SYNIC)
		p |= HV_MSR_SYNIC_AVAILABLE;
	if (hv & KVMHOST_X86_HV_STIMER)
		p |= HV_MSR_SYNTIMER_AVAILABLE;
	if (hv & KVMHOST_X86_HV_VPINDEX)
		p |= HV_MSR_VP_INDEX_AVAILABLE;
	return p;
}

static int set(struct kvmhost_x86_cpuid *c, uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	const uint32_t v[4] = {eax, ebx, ecx, edx};
	int r = 0;

	for (int reg = 0; reg < 4 && r == 0; reg++)
		r = kvmhost_x86_cpuid_set_reg(c, function, 0, (enum kvmhost_x86_cpuid_reg)reg, v[reg]);
	return r;
}

KVMHOST_API int kvmhost_x86_cpuid_add_hyperv(struct kvmhost_x86_cpuid *cpuid, const struct kvm_cpuid_entry2 *hv,
					     uint32_t count, uint32_t enlightenments)
{
	const struct kvm_cpuid_entry2 *feat, *ver, *lim;
	struct kvm_cpuid_entry2 *built, kvm_sig = {0}, kvm_feat = {0};
	int have_sig = 0, have_feat = 0;
	uint32_t want, n = 0;
	int r;

	if (!cpuid || (count && !hv))
		return KH_FAIL(EINVAL, "cpuid or the Hyper-V list is NULL");
	if ((r = kh_hyperv_check(enlightenments, __func__)) < 0)
		return r;
	feat = find(hv, count, HV_LEAF_FEATURES);
	if (!feat)
		return KH_FAIL(ENOTSUP, "the Hyper-V list has no feature leaf 0x%x: this KVM emulates no Hyper-V",
			       HV_LEAF_FEATURES);
	want = privileges(enlightenments);
	if ((feat->eax & want) != want)
		return KH_FAIL(ENOTSUP, "this KVM lacks Hyper-V privileges 0x%x of the 0x%x asked for",
			       want & ~feat->eax, want);
	ver = find(hv, count, HV_LEAF_VERSION);
	lim = find(hv, count, HV_LEAF_LIMITS);

	/* KVM's own leaves, as the builder has them now, go up by 0x100. */
	built = calloc(KVMHOST_X86_CPUID_MAX_ENTRIES, sizeof(*built));
	if (!built)
		return KH_FAIL(ENOMEM, "cannot allocate %u CPUID entries", KVMHOST_X86_CPUID_MAX_ENTRIES);
	r = kvmhost_x86_cpuid_build(cpuid, 0, built, KVMHOST_X86_CPUID_MAX_ENTRIES, &n);
	if (r == 0) {
		have_sig = find(built, n, HV_LEAF_VENDOR) != NULL;
		have_feat = find(built, n, HV_LEAF_IFACE) != NULL;
		if (have_sig)
			kvm_sig = *find(built, n, HV_LEAF_VENDOR);
		if (have_feat)
			kvm_feat = *find(built, n, HV_LEAF_IFACE);
	}
	free(built);
	if (r < 0)
		return r;
	if (have_sig && kvm_sig.ebx == HV_SIG_EBX)
		return KH_FAIL(EEXIST, "the CPUID builder has Hyper-V's leaves already");
	if (have_sig && (r = set(cpuid, KVM_LEAF_MOVED, KVM_LEAF_MOVED + 1, kvm_sig.ebx, kvm_sig.ecx, kvm_sig.edx)))
		return r;
	if (have_feat && (r = set(cpuid, KVM_LEAF_MOVED + 1, kvm_feat.eax, kvm_feat.ebx, kvm_feat.ecx, kvm_feat.edx)))
		return r;

	if ((r = set(cpuid, HV_LEAF_VENDOR, HV_LEAF_MAX, HV_SIG_EBX, HV_SIG_ECX, HV_SIG_EDX)) ||
	    (r = set(cpuid, HV_LEAF_IFACE, HV_IFACE_EAX, 0, 0, 0)) ||
	    (r = set(cpuid, HV_LEAF_VERSION, ver ? ver->eax : 0, ver ? ver->ebx : 0, ver ? ver->ecx : 0,
		     ver ? ver->edx : 0)) ||
	    (r = set(cpuid, HV_LEAF_FEATURES, want, 0, 0,
		     (enlightenments & KVMHOST_X86_HV_STIMER) ? feat->edx & HV_STIMER_DIRECT_MODE_AVAILABLE : 0)) ||
	    /* EBX: never notify the hypervisor of a long spin (QEMU's default, 0xffffffff). */
	    (r = set(cpuid, HV_LEAF_ENLIGHT,
		     (enlightenments & KVMHOST_X86_HV_RELAXED) ? HV_X64_RELAXED_TIMING_RECOMMENDED : 0, 0xffffffffu, 0,
		     0)) ||
	    (r = set(cpuid, HV_LEAF_LIMITS, lim ? lim->eax : 0, 0, 0, 0)) ||
	    (r = set(cpuid, HV_LEAF_HWFEAT, 0, 0, 0, 0)))
		return r;
	return 0;
}

KVMHOST_API int kvmhost_x86_vcpu_setup_hyperv(struct kvmhost_vcpu *vcpu, uint32_t enlightenments)
{
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	if (enlightenments & ~KVMHOST_X86_HV_ALL)
		return KH_FAIL(EINVAL, "enlightenments 0x%x: unknown bits 0x%x", enlightenments,
			       enlightenments & ~KVMHOST_X86_HV_ALL);
	/* SYNIC2, not SYNIC: the first version did not clear the SynIC's message and event pages on reset. */
	if (enlightenments & KVMHOST_X86_HV_SYNIC)
		return kvmhost_vcpu_enable_cap(vcpu, KVM_CAP_HYPERV_SYNIC2, NULL);
	return 0;
}
