/**
 * @file arm64.h
 * @brief arm64 vCPUs: KVM_ARM_VCPU_INIT with the host's preferred target, core registers through ONE_REG,
 * the MPIDR KVM gave a vCPU.
 *
 * An arm64 vCPU made by kvmhost_vcpu_create() cannot run until it is initialised: call
 * kvmhost_arm64_vcpu_init() once, before its first kvmhost_vcpu_run() and before reading or writing its
 * registers. It asks KVM for the host's preferred target (KVM_ARM_PREFERRED_TARGET) and initialises the vCPU
 * with it (KVM_ARM_VCPU_INIT), always with PSCI 0.2 or later (so that the guest's PSCI calls by HVC are
 * KVM's: CPU_ON, CPU_OFF, and SYSTEM_OFF / SYSTEM_RESET, which end kvmhost_vcpu_run() with a
 * KVMHOST_EXIT_SYSTEM_EVENT exit whose type is KVM_SYSTEM_EVENT_SHUTDOWN or KVM_SYSTEM_EVENT_RESET), and
 * with the optional features the caller asks for where KVM offers them. After init the vCPU is in KVM's
 * reset state: EL1h, MMU and caches off, DAIF masked, PC 0; set PC (and x0 for a Linux kernel: the DTB) with
 * kvmhost_arm64_vcpu_set_core_reg(). MMIO exits (a guest load or store outside memory slots) come back through
 * kvmhost_vcpu_run() as on every architecture (KVMHOST_EXIT_MMIO).
 *
 * These functions are built on arm64 only: on other architectures they are not in the library (this header
 * is still installed, as x86.h is on arm64). Errors: -EINVAL for NULL or bad arguments (with a message),
 * -errno from KVM's ioctls.
 *
 * Thread safety: as vcpu.h: a vCPU's registers are read and written by one thread at a time, never while
 * another thread is inside kvmhost_vcpu_run() for it.
 */
#ifndef KVMHOST_ARM64_H
#define KVMHOST_ARM64_H

#include <stdint.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vcpu;

/** Start the vCPU powered off (a secondary waiting for PSCI CPU_ON); always honoured. */
#define KVMHOST_ARM64_VCPU_POWER_OFF (1u << 0)
/** A PMU v3 when KVM offers one (KVM_CAP_ARM_PMU_V3); its interrupt needs the in-kernel vGIC. */
#define KVMHOST_ARM64_VCPU_PMU (1u << 1)
/** SVE when KVM offers it (KVM_CAP_ARM_SVE), with KVM's default vector lengths (finalised at init). */
#define KVMHOST_ARM64_VCPU_SVE (1u << 2)
/** PSCI 0.2 or later (KVM_ARM_VCPU_PSCI_0_2): always set by kvmhost_arm64_vcpu_init(), reported in @p got. */
#define KVMHOST_ARM64_VCPU_PSCI_0_2 (1u << 3)

/** The core registers kvmhost_arm64_vcpu_get_core_reg() and kvmhost_arm64_vcpu_set_core_reg() reach. */
enum kvmhost_arm64_core_reg {
	KVMHOST_ARM64_X0 = 0,	   /**< x0; x1 ... x30 are KVMHOST_ARM64_X0 + n */
	KVMHOST_ARM64_X30 = 30,	   /**< x30, the link register */
	KVMHOST_ARM64_SP = 31,	   /**< SP_EL0 (kvm_regs.regs.sp) */
	KVMHOST_ARM64_PC = 32,	   /**< the program counter */
	KVMHOST_ARM64_PSTATE = 33, /**< PSTATE (SPSR layout: mode, DAIF, NZCV) */
	KVMHOST_ARM64_SP_EL1 = 34, /**< SP_EL1, the stack of a kernel in EL1h */
};

/**
 * Initialise an arm64 vCPU: KVM_ARM_PREFERRED_TARGET on its VM, then KVM_ARM_VCPU_INIT with PSCI 0.2 and
 * the features of @p want that KVM offers (KVM_CHECK_EXTENSION: KVM_CAP_ARM_PMU_V3, KVM_CAP_ARM_SVE), then
 * KVM_ARM_VCPU_FINALIZE for SVE. Features asked for but not offered are left out, not an error: @p got says
 * what the vCPU has. Call once per vCPU, before it runs.
 * @param vcpu the vCPU (vcpu.h), created and not run yet
 * @param want KVMHOST_ARM64_VCPU_* flags (POWER_OFF, PMU, SVE); others are -EINVAL
 * @param got  receives the features the vCPU was initialised with (PSCI_0_2 always), or NULL
 * @return 0; -EINVAL for NULL or unknown flags; -errno from KVM (-ENODEV without a preferred target).
 */
KVMHOST_API int kvmhost_arm64_vcpu_init(struct kvmhost_vcpu *vcpu, uint32_t want, uint32_t *got);

/**
 * Read a core register (KVM_GET_ONE_REG, KVM_REG_ARM_CORE).
 * @param vcpu  an initialised arm64 vCPU
 * @param reg   the register (enum kvmhost_arm64_core_reg)
 * @param value receives its value
 * @return 0; -EINVAL for NULL or an unknown register; -errno from KVM (-ENOEXEC before init).
 */
KVMHOST_API int kvmhost_arm64_vcpu_get_core_reg(struct kvmhost_vcpu *vcpu, enum kvmhost_arm64_core_reg reg,
						uint64_t *value);

/**
 * Write a core register (KVM_SET_ONE_REG, KVM_REG_ARM_CORE).
 * @param vcpu  an initialised arm64 vCPU
 * @param reg   the register (enum kvmhost_arm64_core_reg)
 * @param value its new value
 * @return 0; -EINVAL for NULL or an unknown register; -errno from KVM.
 */
KVMHOST_API int kvmhost_arm64_vcpu_set_core_reg(struct kvmhost_vcpu *vcpu, enum kvmhost_arm64_core_reg reg,
						uint64_t value);

/**
 * The ONE_REG id of a core register, for kvmhost_vcpu_get_one_reg() and KVM_GET_REG_LIST's ids.
 * @param reg the register (enum kvmhost_arm64_core_reg)
 * @return the 64-bit id, or 0 for an unknown register.
 */
KVMHOST_API uint64_t kvmhost_arm64_vcpu_core_reg_id(enum kvmhost_arm64_core_reg reg);

/**
 * Read the vCPU's MPIDR_EL1 as KVM set it at init (the value a device tree's `/cpus/cpu@` `reg` names, with
 * only the affinity fields: kvmhost_arm64_fdt_build() wants those).
 * @param vcpu  an initialised arm64 vCPU
 * @param mpidr receives MPIDR_EL1 masked to Aff3..Aff0 (bits 39-32, 23-0)
 * @return 0; -EINVAL for NULL; -errno from KVM.
 */
KVMHOST_API int kvmhost_arm64_vcpu_mpidr(struct kvmhost_vcpu *vcpu, uint64_t *mpidr);

#ifdef __cplusplus
}
#endif

#endif
