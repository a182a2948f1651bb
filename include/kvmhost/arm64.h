/**
 * @file arm64.h
 * @brief arm64 vCPUs: KVM_ARM_VCPU_INIT with the host's preferred target, core, system and timer registers
 * through ONE_REG, KVM_GET_REG_LIST, the MPIDR KVM gave a vCPU; the in-kernel GICv3 (vGIC) and its SPIs.
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

#include <stddef.h>
#include <stdint.h>
#include <kvmhost/arm64_fdt.h>
#include <kvmhost/export.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kvmhost_vcpu;
struct kvmhost_vm;
struct kvmhost_irq_line;

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

/** The architected timer's registers through ONE_REG (KVM_REG_ARM_TIMER_*: the EL1 virtual timer). */
enum kvmhost_arm64_timer_reg {
	KVMHOST_ARM64_TIMER_CTL = 0,  /**< CNTV_CTL_EL0 */
	KVMHOST_ARM64_TIMER_CNT = 1,  /**< the virtual count (CNTVCT_EL0; writing it moves CNTVOFF) */
	KVMHOST_ARM64_TIMER_CVAL = 2, /**< CNTV_CVAL_EL0 */
};

/**
 * The ONE_REG id of a 64-bit system register (KVM_REG_ARM64_SYSREG: op0, op1, CRn, CRm, op2 as in the Arm
 * ARM's encoding of MRS/MSR), for kvmhost_vcpu_get_one_reg() / kvmhost_vcpu_set_one_reg(). E.g. SCTLR_EL1 is
 * (3, 0, 1, 0, 0), MPIDR_EL1 (3, 0, 0, 0, 5), VBAR_EL1 (3, 0, 12, 0, 0).
 * @param op0 0-3
 * @param op1 0-7
 * @param crn 0-15
 * @param crm 0-15
 * @param op2 0-7
 * @return the id, or 0 when a field is out of range.
 */
KVMHOST_API uint64_t kvmhost_arm64_vcpu_sys_reg_id(unsigned op0, unsigned op1, unsigned crn, unsigned crm,
						   unsigned op2);

/**
 * The ONE_REG id of a timer register (KVM's KVM_REG_ARM_TIMER_CTL, _CNT, _CVAL: note that KVM's ids of CNT
 * and CVAL are swapped against the architectural encodings, which this function hides).
 * @param reg the register (enum kvmhost_arm64_timer_reg)
 * @return the id, or 0 for an unknown register.
 */
KVMHOST_API uint64_t kvmhost_arm64_vcpu_timer_reg_id(enum kvmhost_arm64_timer_reg reg);

/**
 * The ids of every register KVM saves for this vCPU (KVM_GET_REG_LIST: core, FP/SIMD, system, timer,
 * firmware pseudo-registers, SVE), what a state save reads with kvmhost_vcpu_get_one_reg(). Call with
 * @p ids NULL and @p capacity 0 for the count alone.
 * @param vcpu     an initialised arm64 vCPU
 * @param ids      receives up to @p capacity ids (may be NULL when @p capacity is 0)
 * @param capacity entries @p ids has room for
 * @param count    receives the number of registers KVM lists (also when it is more than @p capacity)
 * @return 0; -E2BIG when @p capacity is too small (@p count says how many); -EINVAL for NULL; -errno from KVM
 *         (-ENOEXEC before init).
 */
KVMHOST_API int kvmhost_arm64_vcpu_reg_list(struct kvmhost_vcpu *vcpu, uint64_t *ids, uint64_t capacity,
					    uint64_t *count);

/** The largest SPI count: INTIDs 32-1019 (988 SPIs; KVM counts interrupts in 32s, so at most 960 + 28). */
#define KVMHOST_ARM64_GIC_MAX_SPIS 988u
/** The SPI count when the options give 0: 96 (INTIDs 32-127), enough for a UART, an RTC and 64 devices. */
#define KVMHOST_ARM64_GIC_DEFAULT_SPIS 96u

/** Opaque in-kernel GICv3 (and optional ITS). */
struct kvmhost_arm64_gic;

/** Options for kvmhost_arm64_gic_create(); size rules as kvmhost_system_options. */
struct kvmhost_arm64_gic_options {
	size_t size;	      /**< sizeof(struct kvmhost_arm64_gic_options) */
	uint64_t dist_base;   /**< the distributor (KVMHOST_ARM64_GICD_SIZE, arm64_fdt.h), 64 KiB aligned, not 0 */
	uint64_t redist_base; /**< the redistributors, KVMHOST_ARM64_GICR_CPU_SIZE per vCPU, 64 KiB aligned */
	uint32_t nr_spis;     /**< SPIs (rounded up so that 32 + nr_spis is a multiple of 32); 0: the default */
	uint32_t flags;	      /**< 0 */
	uint64_t its_base;    /**< an ITS (KVMHOST_ARM64_GIC_ITS_SIZE, 64 KiB aligned) where KVM offers one; 0: none */
};

/**
 * Create the VM's GICv3 in KVM (KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_V3)), with its interrupt count
 * (KVM_DEV_ARM_VGIC_GRP_NR_IRQS) and its distributor and redistributor addresses (KVM_DEV_ARM_VGIC_GRP_ADDR),
 * and, when @p opts asks and KVM offers one, an ITS (KVM_DEV_TYPE_ARM_VGIC_ITS) at its address. Create it before
 * any vCPU runs; vCPUs may be created before or after; then kvmhost_arm64_gic_init() once all exist. The vGIC
 * itself lives as long as the VM (KVM has no way to remove it): the object holds its device fds.
 * @param vm   the VM; it must outlive the object
 * @param opts the addresses and counts (not NULL)
 * @param out  receives the object
 * @return 0; -EINVAL for NULL, unaligned, zero or wrapping addresses, overlapping regions, flags or more SPIs
 *         than KVMHOST_ARM64_GIC_MAX_SPIS; -ENOTSUP when KVM has no GICv3 emulation; -EEXIST when the VM has a
 *         vGIC already; -errno from KVM.
 */
KVMHOST_API int kvmhost_arm64_gic_create(struct kvmhost_vm *vm, const struct kvmhost_arm64_gic_options *opts,
					 struct kvmhost_arm64_gic **out);

/**
 * Initialise the vGIC (KVM_DEV_ARM_VGIC_CTRL_INIT, then the ITS's): after every vCPU of the VM is created and
 * initialised (kvmhost_arm64_vcpu_init()), before the first runs. KVM then routes GSI n to SPI n (INTID 32 + n)
 * for every SPI, so irqfds (kvmhost_vm_add_irqfd()) and kvmhost_vm_set_gsi_routing() entries of type
 * KVM_IRQ_ROUTING_IRQCHIP (irqchip 0, pin = SPI) work as on x86; before the init KVM refuses an irqfd
 * (-EAGAIN). An irqfd only raises its SPI: the guest must configure it edge-triggered. Calling it twice is -EBUSY.
 * @param gic the vGIC
 * @return 0; -EINVAL for NULL; -EBUSY when done already; -errno from KVM.
 */
KVMHOST_API int kvmhost_arm64_gic_init(struct kvmhost_arm64_gic *gic);

/**
 * Set an SPI's line level (KVM_IRQ_LINE with KVM_ARM_IRQ_TYPE_SPI and INTID 32 + @p spi; the arm64 encoding,
 * which kvmhost_vm_set_irq_line() does not know). For a level-sensitive interrupt (a UART's) raise and lower it
 * as the device's output; for an edge, pulse 1 then 0. Needs kvmhost_arm64_gic_init().
 * @param gic   the vGIC
 * @param spi   the SPI, below the count the vGIC was created with
 * @param level 0 or 1
 * @return 0; -EINVAL for NULL, an SPI out of range or another level; -errno from KVM.
 */
KVMHOST_API int kvmhost_arm64_gic_set_spi(struct kvmhost_arm64_gic *gic, uint32_t spi, int level);

/**
 * An interrupt line (irq_line.h) that drives SPI @p spi through kvmhost_arm64_gic_set_spi(): what a device
 * model (the 16550) is given on arm64. Destroy it (kvmhost_irq_line_destroy()) before the vGIC.
 * @param gic the vGIC
 * @param spi the SPI, below the vGIC's count
 * @param out receives the line
 * @return 0; -EINVAL for NULL or an SPI out of range; -ENOMEM.
 */
KVMHOST_API int kvmhost_arm64_gic_spi_line_create(struct kvmhost_arm64_gic *gic, uint32_t spi,
						  struct kvmhost_irq_line **out);

/**
 * The number of SPIs the vGIC has (the options' count rounded up).
 * @param gic the vGIC
 * @return the count; 0 for NULL.
 */
KVMHOST_API uint32_t kvmhost_arm64_gic_nr_spis(const struct kvmhost_arm64_gic *gic);

/**
 * Whether the vGIC has an ITS (asked for and offered by KVM).
 * @param gic the vGIC
 * @return 1 or 0 (0 for NULL).
 */
KVMHOST_API int kvmhost_arm64_gic_has_its(const struct kvmhost_arm64_gic *gic);

/**
 * The vGIC's KVM device fd (KVM_{GET,SET,HAS}_DEVICE_ATTR: distributor, redistributor and CPU interface
 * registers for a state save), owned by the object.
 * @param gic the vGIC
 * @return the fd; -EINVAL for NULL.
 */
KVMHOST_API int kvmhost_arm64_gic_fd(const struct kvmhost_arm64_gic *gic);

/**
 * Release the object: closes the device fds (the vGIC stays the VM's until the VM is destroyed). NULL is
 * ignored. Destroy the lines made by kvmhost_arm64_gic_spi_line_create() first, and call it before
 * kvmhost_vm_destroy() of its VM (as for every handle derived from a VM).
 * @param gic the vGIC
 */
KVMHOST_API void kvmhost_arm64_gic_destroy(struct kvmhost_arm64_gic *gic);

#ifdef __cplusplus
}
#endif

#endif
