/*
 * arm64 vCPUs (include/kvmhost/arm64.h): KVM_ARM_VCPU_INIT with the host's preferred target and PSCI 0.2,
 * optional PMU v3 and SVE where KVM offers them, core, system and timer register ids for ONE_REG, MPIDR read
 * back, KVM_GET_REG_LIST.
 * Creation, running and exit decoding are the arch-neutral ones of lib/kvm (vcpu.c, vcpu_run.c,
 * exit_decode.c): an MMIO exit or a PSCI SYSTEM_OFF/RESET (KVM_EXIT_SYSTEM_EVENT) needs nothing here.
 * Built on arm64 only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/vcpu_internal.h"
#include <kvmhost/arm64.h>

/* The ONE_REG id of a 64-bit field of struct kvm_regs: its offset in 32-bit words (KVM's core-register id). */
#define KH_ARM64_CORE_ID(field)                                                                                        \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, field) / sizeof(uint32_t)))

/* MPIDR_EL1: op0 3, op1 0, CRn 0, CRm 0, op2 5. */
#define KH_ARM64_MPIDR_ID ARM64_SYS_REG(3, 0, 0, 0, 5)
/* Aff3 (39-32), Aff2 (23-16), Aff1 (15-8), Aff0 (7-0). */
#define KH_ARM64_MPIDR_AFF_MASK 0xff00ffffffull

#define KH_ARM64_WANT_KNOWN (KVMHOST_ARM64_VCPU_POWER_OFF | KVMHOST_ARM64_VCPU_PMU | KVMHOST_ARM64_VCPU_SVE)

KVMHOST_API uint64_t kvmhost_arm64_vcpu_core_reg_id(enum kvmhost_arm64_core_reg reg)
{
	if ((unsigned)reg <= KVMHOST_ARM64_X30)
		return KH_ARM64_CORE_ID(regs.regs[0]) + 2u * (unsigned)reg;
	switch (reg) {
	case KVMHOST_ARM64_SP:
		return KH_ARM64_CORE_ID(regs.sp);
	case KVMHOST_ARM64_PC:
		return KH_ARM64_CORE_ID(regs.pc);
	case KVMHOST_ARM64_PSTATE:
		return KH_ARM64_CORE_ID(regs.pstate);
	case KVMHOST_ARM64_SP_EL1:
		return KH_ARM64_CORE_ID(sp_el1);
	default:
		return 0;
	}
}

static void kh_arm64_feature(struct kvm_vcpu_init *init, unsigned bit)
{
	init->features[bit / 32] |= 1u << (bit % 32);
}

KVMHOST_API int kvmhost_arm64_vcpu_init(struct kvmhost_vcpu *vcpu, uint32_t want, uint32_t *got)
{
	struct kvm_vcpu_init init;
	uint32_t have = KVMHOST_ARM64_VCPU_PSCI_0_2;
	int feature;

	if (got)
		*got = 0;
	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	if (want & ~KH_ARM64_WANT_KNOWN)
		return KH_FAIL(EINVAL, "%s: vCPU %u: unknown flags 0x%x", vcpu->vm->name, vcpu->id,
			       want & ~KH_ARM64_WANT_KNOWN);
	memset(&init, 0, sizeof(init));
	if (ioctl(vcpu->vm->fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_ARM_PREFERRED_TARGET failed", vcpu->vm->name, vcpu->id);
	/* The preferred target comes with its features zeroed; ours go on top. */
	memset(init.features, 0, sizeof(init.features));
	kh_arm64_feature(&init, KVM_ARM_VCPU_PSCI_0_2);
	if (want & KVMHOST_ARM64_VCPU_POWER_OFF) {
		kh_arm64_feature(&init, KVM_ARM_VCPU_POWER_OFF);
		have |= KVMHOST_ARM64_VCPU_POWER_OFF;
	}
	if ((want & KVMHOST_ARM64_VCPU_PMU) && ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PMU_V3) > 0) {
		kh_arm64_feature(&init, KVM_ARM_VCPU_PMU_V3);
		have |= KVMHOST_ARM64_VCPU_PMU;
	}
	if ((want & KVMHOST_ARM64_VCPU_SVE) && ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_SVE) > 0) {
		kh_arm64_feature(&init, KVM_ARM_VCPU_SVE);
		have |= KVMHOST_ARM64_VCPU_SVE;
	}
	if (ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init) < 0)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_ARM_VCPU_INIT(target %u, features 0x%x) failed", vcpu->vm->name,
				     vcpu->id, init.target, init.features[0]);
	if (have & KVMHOST_ARM64_VCPU_SVE) {
		feature = KVM_ARM_VCPU_SVE;
		if (ioctl(vcpu->fd, KVM_ARM_VCPU_FINALIZE, &feature) < 0)
			return KH_FAIL_ERRNO("%s: vCPU %u: KVM_ARM_VCPU_FINALIZE(SVE) failed", vcpu->vm->name,
					     vcpu->id);
	}
	kh_log(KVMHOST_LOG_INFO, "%s: vCPU %u initialised (target %u, features 0x%x)", vcpu->vm->name, vcpu->id,
	       init.target, init.features[0]);
	if (got)
		*got = have;
	return 0;
}

KVMHOST_API int kvmhost_arm64_vcpu_get_core_reg(struct kvmhost_vcpu *vcpu, enum kvmhost_arm64_core_reg reg,
						uint64_t *value)
{
	uint64_t id = kvmhost_arm64_vcpu_core_reg_id(reg);

	if (!vcpu || !value)
		return KH_FAIL(EINVAL, "vcpu or value is NULL");
	if (!id)
		return KH_FAIL(EINVAL, "%s: vCPU %u: unknown core register %d", vcpu->vm->name, vcpu->id, (int)reg);
	return kvmhost_vcpu_get_one_reg(vcpu, id, value);
}

KVMHOST_API int kvmhost_arm64_vcpu_set_core_reg(struct kvmhost_vcpu *vcpu, enum kvmhost_arm64_core_reg reg,
						uint64_t value)
{
	uint64_t id = kvmhost_arm64_vcpu_core_reg_id(reg);

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	if (!id)
		return KH_FAIL(EINVAL, "%s: vCPU %u: unknown core register %d", vcpu->vm->name, vcpu->id, (int)reg);
	return kvmhost_vcpu_set_one_reg(vcpu, id, &value);
}

KVMHOST_API int kvmhost_arm64_vcpu_mpidr(struct kvmhost_vcpu *vcpu, uint64_t *mpidr)
{
	uint64_t v;
	int r;

	if (!vcpu || !mpidr)
		return KH_FAIL(EINVAL, "vcpu or mpidr is NULL");
	r = kvmhost_vcpu_get_one_reg(vcpu, KH_ARM64_MPIDR_ID, &v);
	if (r < 0)
		return r;
	*mpidr = v & KH_ARM64_MPIDR_AFF_MASK;
	return 0;
}

KVMHOST_API uint64_t kvmhost_arm64_vcpu_sys_reg_id(unsigned op0, unsigned op1, unsigned crn, unsigned crm, unsigned op2)
{
	if (op0 > 3 || op1 > 7 || crn > 15 || crm > 15 || op2 > 7)
		return 0;
	return ARM64_SYS_REG(op0, op1, crn, crm, op2);
}

KVMHOST_API uint64_t kvmhost_arm64_vcpu_timer_reg_id(enum kvmhost_arm64_timer_reg reg)
{
	switch (reg) {
	case KVMHOST_ARM64_TIMER_CTL:
		return KVM_REG_ARM_TIMER_CTL;
	case KVMHOST_ARM64_TIMER_CNT:
		return KVM_REG_ARM_TIMER_CNT;
	case KVMHOST_ARM64_TIMER_CVAL:
		return KVM_REG_ARM_TIMER_CVAL;
	default:
		return 0;
	}
}

/* KVM_GET_REG_LIST's argument: n, then n ids (struct kvm_reg_list ends in a flexible array). */
KVMHOST_API int kvmhost_arm64_vcpu_reg_list(struct kvmhost_vcpu *vcpu, uint64_t *ids, uint64_t capacity,
					    uint64_t *count)
{
	struct kvm_reg_list probe, *list;
	uint64_t n;

	if (!vcpu || !count)
		return KH_FAIL(EINVAL, "vcpu or count is NULL");
	if (capacity && !ids)
		return KH_FAIL(EINVAL, "%s: vCPU %u: ids is NULL with capacity %llu", vcpu->vm->name, vcpu->id,
			       (unsigned long long)capacity);
	*count = 0;
	/* KVM answers E2BIG with the count for n = 0. */
	memset(&probe, 0, sizeof(probe));
	if (ioctl(vcpu->fd, KVM_GET_REG_LIST, &probe) == 0) {
		return 0; /* no registers at all */
	}
	if (errno != E2BIG)
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_GET_REG_LIST failed", vcpu->vm->name, vcpu->id);
	n = probe.n;
	*count = n;
	if (capacity < n)
		return KH_FAIL(E2BIG, "%s: vCPU %u: KVM lists %llu registers, room for %llu", vcpu->vm->name, vcpu->id,
			       (unsigned long long)n, (unsigned long long)capacity);
	list = calloc(1, sizeof(*list) + (size_t)n * sizeof(uint64_t));
	if (!list)
		return KH_FAIL(ENOMEM, "%s: vCPU %u: no memory for %llu register ids", vcpu->vm->name, vcpu->id,
			       (unsigned long long)n);
	list->n = n;
	if (ioctl(vcpu->fd, KVM_GET_REG_LIST, list) < 0) {
		int err = errno;

		free(list);
		errno = err;
		return KH_FAIL_ERRNO("%s: vCPU %u: KVM_GET_REG_LIST(%llu) failed", vcpu->vm->name, vcpu->id,
				     (unsigned long long)n);
	}
	/* The list cannot grow between the calls (it depends on the features fixed at init), but never trust it. */
	n = KH_MIN(list->n, capacity);
	memcpy(ids, list->reg, (size_t)n * sizeof(uint64_t));
	*count = n;
	free(list);
	return 0;
}
