/*
 * The vGIC's state as a list of device-attribute registers (gic_internal.h): read and written through
 * KVM_{GET,SET}_DEVICE_ATTR in the groups of KVM's arm-vgic-v3.rst (distributor and redistributor registers
 * as 32-bit words at their architected offsets, the CPU interface's ICC_* system registers, the input line
 * levels). The list is the machine's pristine copy, saved right after the vGIC's init and loaded on every
 * reboot (KVM has no reset of the GICv3 itself: the vCPUs' KVM_ARM_VCPU_INIT leaves it as the last guest left
 * it), and the vGIC half of a state save.
 *
 * Why a pristine copy rather than the architected reset values written by hand: the values that matter are
 * KVM's (its reset of ICC_CTLR_EL1, the priority bits, the routing it gives each SPI), a copy taken from KVM
 * cannot get them wrong or drift from a newer KVM, and the same list, order and write rules serve the
 * migration. What a copy cannot undo is done first: the LPIs (GICR_CTLR.EnableLPIs, which KVM only lets go of
 * by a write of 0, and which must be off before PROPBASER/PENDBASER take a write) and the ITS
 * (KVM_DEV_ARM_ITS_CTRL_RESET: its tables, collections and devices).
 *
 * Order (QEMU's, arm_gicv3_kvm.c, for the same reasons): GICD_IIDR first (KVM: "before any other register"),
 * GICD_CTLR, then per redistributor the LPI tables' bases, the SGI/PPI frame's group, configuration (before
 * pending: edge or level), priorities, pending, active, enable, and GICR_CTLR last (LPIs on after their
 * tables); the distributor's SPIs the same way with their routing; the CPU interfaces (ICC_CTLR_EL1 before the
 * priority-dependent registers); the ITS (KVM's order, arm-vgic-its.rst: GITS_IIDR, CBASER, CREADR after it,
 * CWRITER, the BASERs, and GITS_CTLR last, after its tables); the line levels last. KVM_DEV_ARM_ITS_CTRL_RESET
 * leaves the BASERs' addresses (only Valid is cleared): the pristine copy writes them back too. Built on arm64
 * only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/kvm_internal.h"
#include "gic_internal.h"

/* Distributor offsets (GICv3 architecture) */
#define GICD_CTLR	0x0000u
#define GICD_IIDR	0x0008u
#define GICD_IGROUPR	0x0080u
#define GICD_ISENABLER	0x0100u
#define GICD_ISPENDR	0x0200u
#define GICD_ISACTIVER	0x0300u
#define GICD_IPRIORITYR 0x0400u
#define GICD_ICFGR	0x0c00u
#define GICD_IGRPMODR	0x0d00u
#define GICD_IROUTER	0x6000u
#define CLEAR_TWIN	0x0080u /* ICENABLER = ISENABLER + 0x80, ICACTIVER = ISACTIVER + 0x80 */
/* Redistributor: the RD frame, then the SGI frame 64 KiB above it */
#define GICR_CTLR      0x0000u
#define GICR_PROPBASER 0x0070u
#define GICR_PENDBASER 0x0078u
#define GICR_SGI       0x10000u
/* ITS control frame */
#define GITS_CTLR    0x0000u
#define GITS_IIDR    0x0004u
#define GITS_CBASER  0x0080u
#define GITS_CWRITER 0x0088u
#define GITS_CREADR  0x0090u
#define GITS_BASER   0x0100u /* 8 of them, 64-bit */

#define SYSREG(op0, op1, crn, crm, op2) ((op0) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2))
static const uint16_t cpu_sysregs[] = {
    SYSREG(3, 0, 12, 12, 5),									     /* ICC_SRE_EL1 */
    SYSREG(3, 0, 12, 12, 4),									     /* ICC_CTLR_EL1 */
    SYSREG(3, 0, 4, 6, 0),									     /* ICC_PMR_EL1 */
    SYSREG(3, 0, 12, 8, 3),									     /* ICC_BPR0_EL1 */
    SYSREG(3, 0, 12, 12, 3),									     /* ICC_BPR1_EL1 */
    SYSREG(3, 0, 12, 8, 4),  SYSREG(3, 0, 12, 8, 5), SYSREG(3, 0, 12, 8, 6), SYSREG(3, 0, 12, 8, 7), /* AP0R0-3 */
    SYSREG(3, 0, 12, 9, 0),  SYSREG(3, 0, 12, 9, 1), SYSREG(3, 0, 12, 9, 2), SYSREG(3, 0, 12, 9, 3), /* AP1R0-3 */
    SYSREG(3, 0, 12, 12, 6), /* ICC_IGRPEN0_EL1 */
    SYSREG(3, 0, 12, 12, 7), /* ICC_IGRPEN1_EL1 */
};

uint64_t kh_gic_mpidr_attr(uint64_t mpidr)
{
	return ((mpidr & 0xffffffull) | ((mpidr >> 32) & 0xffull) << 24) << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

static int is_dist_reg(uint32_t off, uint32_t nr_irqs)
{
	uint32_t words = nr_irqs / 32u; /* one bit per interrupt; word 0 (SGIs/PPIs) is the redistributors' */

	if (off == GICD_CTLR || off == GICD_IIDR)
		return 1;
	if (off & 3u)
		return 0;
	if ((off >= GICD_IGROUPR + 4u && off < GICD_IGROUPR + 4u * words) ||
	    (off >= GICD_ISENABLER + 4u && off < GICD_ISENABLER + 4u * words) ||
	    (off >= GICD_ISPENDR + 4u && off < GICD_ISPENDR + 4u * words) ||
	    (off >= GICD_ISACTIVER + 4u && off < GICD_ISACTIVER + 4u * words) ||
	    (off >= GICD_IGRPMODR + 4u && off < GICD_IGRPMODR + 4u * words))
		return 1;
	if (off >= GICD_IPRIORITYR + 32u && off < GICD_IPRIORITYR + nr_irqs) /* a byte per interrupt */
		return 1;
	if (off >= GICD_ICFGR + 8u && off < GICD_ICFGR + nr_irqs / 4u) /* two bits per interrupt */
		return 1;
	return off >= GICD_IROUTER + 8u * 32u && off < GICD_IROUTER + 8u * nr_irqs; /* 64 bits, two words */
}

static int is_redist_reg(uint32_t off)
{
	static const uint32_t regs[] = {GICR_PROPBASER,
					GICR_PROPBASER + 4u,
					GICR_PENDBASER,
					GICR_PENDBASER + 4u,
					GICR_SGI + GICD_IGROUPR,
					GICR_SGI + GICD_IGRPMODR,
					GICR_SGI + GICD_ICFGR,
					GICR_SGI + GICD_ICFGR + 4u,
					GICR_SGI + GICD_ISPENDR,
					GICR_SGI + GICD_ISACTIVER,
					GICR_SGI + GICD_ISENABLER,
					GICR_CTLR};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (off == regs[i])
			return 1;
	return off >= GICR_SGI + GICD_IPRIORITYR && off < GICR_SGI + GICD_IPRIORITYR + 32u && !(off & 3u);
}

int kh_gic_reg_check(uint32_t group, uint64_t attr, uint64_t value, uint32_t nr_irqs)
{
	uint32_t low = (uint32_t)attr;

	if (nr_irqs < 64u || nr_irqs > 1024u || nr_irqs % 32u)
		return -EINVAL;
	switch (group) {
	case KVM_DEV_ARM_VGIC_GRP_DIST_REGS:
		return attr >> 32 == 0 && value <= UINT32_MAX && is_dist_reg(low, nr_irqs) ? 0 : -EINVAL;
	case KVM_DEV_ARM_VGIC_GRP_REDIST_REGS:
		return value <= UINT32_MAX && is_redist_reg(low) ? 0 : -EINVAL;
	case KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS:
		for (size_t i = 0; i < sizeof(cpu_sysregs) / sizeof(cpu_sysregs[0]); i++)
			if (low == cpu_sysregs[i])
				return 0;
		return -EINVAL;
	case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO:
		if (value > UINT32_MAX || low >> KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT != VGIC_LEVEL_INFO_LINE_LEVEL)
			return -EINVAL;
		low &= (1u << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT) - 1u;
		return low % 32u == 0 && low < nr_irqs ? 0 : -EINVAL;
	case KVM_DEV_ARM_VGIC_GRP_ITS_REGS:
		if (attr == GITS_CTLR || attr == GITS_IIDR || attr == GITS_CBASER || attr == GITS_CWRITER ||
		    attr == GITS_CREADR)
			return 0;
		return attr >= GITS_BASER && attr < GITS_BASER + 64u && !(attr & 7u) ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

static int attr_io(int fd, unsigned long req, uint32_t group, uint64_t attr, void *value)
{
	struct kvm_device_attr a;

	memset(&a, 0, sizeof(a));
	a.group = group;
	a.attr = attr;
	a.addr = (uint64_t)(uintptr_t)value;
	return ioctl(fd, req, &a) < 0 ? -errno : 0;
}

/* The ITS's registers are the ITS device's; CPU_SYSREGS and ITS_REGS take a u64, the others a u32. */
static int reg_fd(const struct kvmhost_arm64_gic *gic, uint32_t group)
{
	return group == KVM_DEV_ARM_VGIC_GRP_ITS_REGS ? gic->its_fd : gic->fd;
}

static int wide(uint32_t group)
{
	return group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS || group == KVM_DEV_ARM_VGIC_GRP_ITS_REGS;
}

static int reg_get(int fd, uint32_t group, uint64_t attr, uint64_t *value)
{
	uint32_t v32 = 0;
	int r;

	if (wide(group))
		return attr_io(fd, KVM_GET_DEVICE_ATTR, group, attr, value);
	r = attr_io(fd, KVM_GET_DEVICE_ATTR, group, attr, &v32);
	*value = v32;
	return r;
}

static int reg_set(int fd, uint32_t group, uint64_t attr, uint64_t value)
{
	uint32_t v32 = (uint32_t)value;

	if (wide(group))
		return attr_io(fd, KVM_SET_DEVICE_ATTR, group, attr, &value);
	return attr_io(fd, KVM_SET_DEVICE_ATTR, group, attr, &v32);
}

/* Read one register into @st; one KVM does not implement (ENXIO, or EINVAL: an AP<n>R beyond the priority
 * bits) is left out. */
static int add(struct kvmhost_arm64_gic *gic, struct kh_gic_state *st, uint32_t group, uint64_t attr)
{
	uint64_t value = 0;
	int r = reg_get(reg_fd(gic, group), group, attr, &value);

	if (r == -ENXIO || r == -EINVAL)
		return 0;
	if (r < 0)
		return KH_FAIL(-r, "%s: vGIC: reading register group %u attr 0x%llx failed", gic->vm->name, group,
			       (unsigned long long)attr);
	if (st->n == st->cap) {
		uint32_t cap = st->cap ? st->cap * 2u : 256u;
		struct kh_gic_reg *n = realloc(st->regs, cap * sizeof(*n));

		if (!n)
			return KH_FAIL(ENOMEM, "%s: vGIC: no memory for its state", gic->vm->name);
		st->regs = n;
		st->cap = cap;
	}
	st->regs[st->n++] = (struct kh_gic_reg){.group = group, .attr = attr, .value = value};
	return 0;
}

static int add_block(struct kvmhost_arm64_gic *gic, struct kh_gic_state *st, uint32_t group, uint64_t base,
		     uint32_t first, uint32_t end, uint32_t step)
{
	int r = 0;

	for (uint32_t off = first; off < end && r == 0; off += step)
		r = add(gic, st, group, base | off);
	return r;
}

int kh_gic_state_save(struct kvmhost_arm64_gic *gic, const uint64_t *mpidrs, uint32_t nr_cpus, unsigned flags,
		      struct kh_gic_state *st)
{
	const uint32_t R = KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, D = KVM_DEV_ARM_VGIC_GRP_DIST_REGS;
	uint32_t nr_irqs = 32u + gic->nr_spis;
	int r = 0;

	memset(st, 0, sizeof(*st));
	st->flags = flags;
	if (!gic->initialised)
		return KH_FAIL(EINVAL, "%s: vGIC: not initialised", gic->vm->name);
	if ((r = add(gic, st, D, GICD_IIDR)) < 0 || (r = add(gic, st, D, GICD_CTLR)) < 0)
		goto fail;
	for (uint32_t c = 0; c < nr_cpus; c++) {
		uint64_t m = kh_gic_mpidr_attr(mpidrs[c]);

		if ((r = add_block(gic, st, R, m, GICR_PROPBASER, GICR_PENDBASER + 8u, 4u)) < 0 ||
		    (r = add(gic, st, R, m | (GICR_SGI + GICD_IGROUPR))) < 0 ||
		    (r = add(gic, st, R, m | (GICR_SGI + GICD_IGRPMODR))) < 0 ||
		    (r = add_block(gic, st, R, m, GICR_SGI + GICD_ICFGR, GICR_SGI + GICD_ICFGR + 8u, 4u)) < 0 ||
		    (r = add_block(gic, st, R, m, GICR_SGI + GICD_IPRIORITYR, GICR_SGI + GICD_IPRIORITYR + 32u, 4u)) <
			0 ||
		    (r = add(gic, st, R, m | (GICR_SGI + GICD_ISPENDR))) < 0 ||
		    (r = add(gic, st, R, m | (GICR_SGI + GICD_ISACTIVER))) < 0 ||
		    (r = add(gic, st, R, m | (GICR_SGI + GICD_ISENABLER))) < 0 ||
		    (r = add(gic, st, R, m | GICR_CTLR)) < 0)
			goto fail;
	}
	if ((r = add_block(gic, st, D, 0, GICD_IGROUPR + 4u, GICD_IGROUPR + nr_irqs / 8u, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_IGRPMODR + 4u, GICD_IGRPMODR + nr_irqs / 8u, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_IROUTER + 8u * 32u, GICD_IROUTER + 8u * nr_irqs, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_ICFGR + 8u, GICD_ICFGR + nr_irqs / 4u, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_IPRIORITYR + 32u, GICD_IPRIORITYR + nr_irqs, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_ISPENDR + 4u, GICD_ISPENDR + nr_irqs / 8u, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_ISACTIVER + 4u, GICD_ISACTIVER + nr_irqs / 8u, 4u)) < 0 ||
	    (r = add_block(gic, st, D, 0, GICD_ISENABLER + 4u, GICD_ISENABLER + nr_irqs / 8u, 4u)) < 0)
		goto fail;
	for (uint32_t c = 0; c < nr_cpus; c++)
		for (size_t i = 0; i < sizeof(cpu_sysregs) / sizeof(cpu_sysregs[0]); i++)
			if ((r = add(gic, st, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
				     kh_gic_mpidr_attr(mpidrs[c]) | cpu_sysregs[i])) < 0)
				goto fail;
	if (gic->its_fd >= 0) { /* KVM's order (arm-vgic-its.rst): CBASER, then CREADR, the others, GITS_CTLR last */
		const uint32_t I = KVM_DEV_ARM_VGIC_GRP_ITS_REGS;

		if ((r = add(gic, st, I, GITS_IIDR)) < 0 || (r = add(gic, st, I, GITS_CBASER)) < 0 ||
		    (r = add(gic, st, I, GITS_CREADR)) < 0 || (r = add(gic, st, I, GITS_CWRITER)) < 0 ||
		    (r = add_block(gic, st, I, 0, GITS_BASER, GITS_BASER + 64u, 8u)) < 0 ||
		    (r = add(gic, st, I, GITS_CTLR)) < 0)
			goto fail;
	}
	if (flags & KH_GIC_STATE_LEVELS) {
		const uint64_t info = (uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT;

		for (uint32_t c = 0; c < nr_cpus; c++) /* the PPIs, per vCPU (SGIs are RAZ/WI) */
			if ((r = add(gic, st, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, kh_gic_mpidr_attr(mpidrs[c]) | info)) <
			    0)
				goto fail;
		for (uint32_t intid = 32; intid < nr_irqs; intid += 32) /* the SPIs, once */
			if ((r = add(gic, st, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, info | intid)) < 0)
				goto fail;
	}
	return 0;
fail:
	kh_gic_state_free(st);
	return r;
}

/* ISENABLER and ISACTIVER (distributor or SGI frame) only set bits: their twin clears all first. */
static int has_clear_twin(uint32_t group, uint32_t off)
{
	if (group == KVM_DEV_ARM_VGIC_GRP_REDIST_REGS) {
		if (off < GICR_SGI)
			return 0;
		off -= GICR_SGI;
	} else if (group != KVM_DEV_ARM_VGIC_GRP_DIST_REGS)
		return 0;
	return (off >= GICD_ISENABLER && off < GICD_ISENABLER + CLEAR_TWIN) ||
	       (off >= GICD_ISACTIVER && off < GICD_ISACTIVER + CLEAR_TWIN);
}

/* What KVM_DEV_ARM_ITS_CTRL_RESET sets to its documented reset values (GITS_CBASER 0: a write of 0 through
 * the attribute would come back with KVM's default cacheability fields). */
static int set_by_its_reset(const struct kh_gic_reg *g)
{
	return g->group == KVM_DEV_ARM_VGIC_GRP_ITS_REGS &&
	       (g->attr == GITS_CTLR || g->attr == GITS_CBASER || g->attr == GITS_CREADR || g->attr == GITS_CWRITER);
}

static int load_regs(struct kvmhost_arm64_gic *gic, const struct kh_gic_state *st, int after_its_reset)
{
	for (uint32_t i = 0; i < st->n; i++) {
		const struct kh_gic_reg *g = &st->regs[i];
		int r = 0;

		if (after_its_reset && set_by_its_reset(g))
			continue;
		if (has_clear_twin(g->group, (uint32_t)g->attr))
			r = reg_set(gic->fd, g->group, g->attr + CLEAR_TWIN, UINT32_MAX);
		if (r == 0 && g->group == KVM_DEV_ARM_VGIC_GRP_ITS_REGS && g->attr == GITS_CTLR &&
		    (st->flags & KH_GIC_STATE_LEVELS))
			/* a saved guest's ITS: its tables (in guest RAM, restored first) before it is enabled again */
			r = attr_io(gic->its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL,
				    KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL);
		if (r == 0)
			r = reg_set(reg_fd(gic, g->group), g->group, g->attr, g->value);
		if (r < 0)
			return KH_FAIL(-r, "%s: vGIC: writing register group %u attr 0x%llx = 0x%llx failed%s",
				       gic->vm->name, g->group, (unsigned long long)g->attr,
				       (unsigned long long)g->value, r == -EBUSY ? " (a vCPU is running)" : "");
	}
	return 0;
}

int kh_gic_state_load(struct kvmhost_arm64_gic *gic, const struct kh_gic_state *st)
{
	return load_regs(gic, st, 0);
}

int kh_gic_reset(struct kvmhost_arm64_gic *gic, const uint64_t *mpidrs, uint32_t nr_cpus,
		 const struct kh_gic_state *pristine)
{
	int r;

	for (uint32_t c = 0; c < nr_cpus; c++) {
		r = reg_set(gic->fd, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, kh_gic_mpidr_attr(mpidrs[c]) | GICR_CTLR, 0);
		if (r < 0)
			return KH_FAIL(-r, "%s: vGIC: turning vCPU %u's LPIs off (GICR_CTLR = 0) failed", gic->vm->name,
				       c);
	}
	if (gic->its_fd >= 0 && (r = attr_io(gic->its_fd, KVM_SET_DEVICE_ATTR, KVM_DEV_ARM_VGIC_GRP_CTRL,
					     KVM_DEV_ARM_ITS_CTRL_RESET, NULL)) < 0)
		return KH_FAIL(-r, "%s: vGIC: KVM_DEV_ARM_ITS_CTRL_RESET failed", gic->vm->name);
	return load_regs(gic, pristine, 1);
}

void kh_gic_state_free(struct kh_gic_state *st)
{
	if (!st)
		return;
	free(st->regs);
	memset(st, 0, sizeof(*st));
}
