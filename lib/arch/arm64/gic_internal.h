/*
 * Inside the arm64 vGIC (lib/arch/arm64/gic_arm64.c, gic_state.c): the object's layout, and its state as a flat
 * list of device-attribute registers, which is both the machine's pristine copy (loaded on a reboot) and what a
 * state save carries. Built on arm64 only; the list's checks (kh_gic_reg_check) are pure.
 */
#ifndef KVMHOST_ARCH_ARM64_GIC_INTERNAL_H
#define KVMHOST_ARCH_ARM64_GIC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct kvmhost_vm;
struct kh_gic_line;

struct kvmhost_arm64_gic {
	struct kvmhost_vm *vm;
	int fd;	    /* the GICv3 device */
	int its_fd; /* the ITS device, or -1 */
	uint32_t nr_spis;
	int initialised;
	struct kh_gic_line *lines; /* contexts of the SPI lines made, freed with the object */
};

/* The vGIC made for @vm, or NULL. */
struct kvmhost_arm64_gic *kh_gic_of_vm(struct kvmhost_vm *vm);

/*
 * One register of the vGIC's state: a KVM_{GET,SET}_DEVICE_ATTR group (KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
 * _REDIST_REGS, _CPU_SYSREGS, _LEVEL_INFO, and the ITS device's _ITS_REGS) and attribute (the vCPU's affinity in bits
 * 63:32 where the group has one), and its value (32 bits, or 64 for CPU_SYSREGS and ITS_REGS).
 */
struct kh_gic_reg {
	uint32_t group;
	uint32_t reserved;
	uint64_t attr;
	uint64_t value;
};

/* The registers in the order they are written back (the order kh_gic_state_save() reads them in). */
struct kh_gic_state {
	uint32_t n, cap;
	uint32_t flags; /* KH_GIC_STATE_* it was saved with */
	struct kh_gic_reg *regs;
};

/* A guest's state (a migration), not a pristine copy: the input line levels too (a reset leaves them to the
 * devices), and a load restores the ITS's tables from guest RAM before GITS_CTLR (KVM_DEV_ARM_ITS_RESTORE_TABLES). */
#define KH_GIC_STATE_LEVELS 1u

/* The state of @gic (initialised) with @nr_cpus redistributors/CPU interfaces, vCPU i's MPIDR @mpidrs[i]. No
 * vCPU may run meanwhile (KVM: -EBUSY). */
int kh_gic_state_save(struct kvmhost_arm64_gic *gic, const uint64_t *mpidrs, uint32_t nr_cpus, unsigned flags,
		      struct kh_gic_state *st);
/* Write @st back, in its order (an ISENABLER/ISACTIVER after clearing its IC* twin: those only set bits). */
int kh_gic_state_load(struct kvmhost_arm64_gic *gic, const struct kh_gic_state *st);
/* Power-on state: every redistributor's LPIs off (GICR_CTLR 0 first: KVM ignores PROPBASER/PENDBASER writes
 * while they are on), the ITS reset (KVM_DEV_ARM_ITS_CTRL_RESET), then @pristine (saved after the init). */
int kh_gic_reset(struct kvmhost_arm64_gic *gic, const uint64_t *mpidrs, uint32_t nr_cpus,
		 const struct kh_gic_state *pristine);
void kh_gic_state_free(struct kh_gic_state *st);
/* 0 when (@group, @attr, @value) is a register kh_gic_state_save() may write for a GIC with @nr_irqs interrupts
 * (32 + SPIs), else -EINVAL: for a decoder of hostile input. Pure. */
int kh_gic_reg_check(uint32_t group, uint64_t attr, uint64_t value, uint32_t nr_irqs);
/* The attribute's affinity field for an MPIDR (Aff3 in 63:56, Aff2..Aff0 in 55:32). */
uint64_t kh_gic_mpidr_attr(uint64_t mpidr);

#endif
