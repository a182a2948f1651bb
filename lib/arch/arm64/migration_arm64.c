/*
 * arm64 state for snapshot and migration (lib/migration/migration_arch.h): one vCPU's registers (every id
 * KVM_GET_REG_LIST gives: core, FP/SIMD, system, timer, firmware, SVE where the vCPU has it) and MP state, the
 * VM's vGIC (gic_state.c: distributor, redistributors, CPU interfaces, ITS registers, line levels; the ITS's
 * tables and the LPI pending tables live in guest RAM and are flushed there before memory is saved), the ID
 * registers of the header, all as little-endian items ("u16 tag, u16 0, u32 length, data", tags strictly
 * increasing), as x86's (docs/migration.md lists them).
 *
 * Order: VM first (its vGIC list in gic_state.c's order: redistributors before the ITS, the ITS's tables
 * restored from guest RAM before GITS_CTLR), then each vCPU: every register but the timer's in id order (the
 * firmware registers before the vCPU runs, which it has not), then the virtual counter (KVM_REG_ARM_TIMER_CNT:
 * writing it sets the counter offset; with the catch-up policy the ticks of the time since the save are added),
 * then CVAL and CTL after the counter they compare with, then the MP state (a powered-off secondary stays off).
 * A register KVM will not take (an invariant ID register, SVE's vector lengths after finalize) is accepted when
 * the destination already has that value, else the load fails naming it. Built on arm64 only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../core/state_io.h"
#include "../../kvm/kvm_internal.h"
#include "../../migration/mig_items.h"
#include "../../migration/migration_arch.h"
#include "gic_internal.h"
#include <kvmhost/arm64.h>
#include <kvmhost/vcpu.h>

#define MAX_REGS      4096u
#define MAX_REG_BYTES 256u /* KVM_REG_SIZE_U2048: SVE's Z registers */
#define MAX_GIC_REGS  (64u << 10) / 24u

enum vcpu_tag { T_REGS = 1, T_MP_STATE = 2, T_VCPU_LAST = 2 };
enum vm_tag { T_GIC = 1, T_CLOCK = 2, T_VM_LAST = 2 };

struct kh_mig_arch_vcpu {
	uint32_t n;
	uint64_t *ids;
	uint8_t *values; /* each register's bytes, in order, as many as its id's size field says */
	int has_mp;
	uint32_t mp_state;
};

struct kh_mig_arch_vm {
	int has_gic;
	uint32_t nr_irqs;
	struct kh_gic_state gic;
	uint64_t saved_ns;
};

/* The ID registers the header carries (op0, op1, CRn, CRm, op2): what the guest's software sees of the CPU. */
static const uint16_t id_regs[][5] = {
    {3, 0, 0, 4, 0}, /* ID_AA64PFR0_EL1 */
    {3, 0, 0, 4, 1}, /* ID_AA64PFR1_EL1 */
    {3, 0, 0, 4, 4}, /* ID_AA64ZFR0_EL1 */
    {3, 0, 0, 5, 0}, /* ID_AA64DFR0_EL1 */
    {3, 0, 0, 6, 0}, /* ID_AA64ISAR0_EL1 */
    {3, 0, 0, 6, 1}, /* ID_AA64ISAR1_EL1 */
    {3, 0, 0, 7, 0}, /* ID_AA64MMFR0_EL1 */
    {3, 0, 0, 7, 1}, /* ID_AA64MMFR1_EL1 */
    {3, 0, 0, 7, 2}, /* ID_AA64MMFR2_EL1 */
};
#define NR_ID_REGS (sizeof(id_regs) / sizeof(id_regs[0]))

static uint32_t enc(const uint16_t r[5])
{
	return (uint32_t)r[0] << 14 | (uint32_t)r[1] << 11 | (uint32_t)r[2] << 7 | (uint32_t)r[3] << 3 | r[4];
}

static uint64_t id_reg_id(const uint16_t r[5])
{
	return kvmhost_arm64_vcpu_sys_reg_id(r[0], r[1], r[2], r[3], r[4]);
}

static size_t reg_size(uint64_t id)
{
	return (size_t)1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
}

/* KVM's reset MPIDR of vCPU @id (the machine's vCPUs keep it): Aff0 = id[3:0], Aff1 = id[11:4], Aff2 = id[19:12]. */
static uint64_t kvm_mpidr(uint32_t id)
{
	return (uint64_t)(id & 0xf) | (uint64_t)((id >> 4) & 0xff) << 8 | (uint64_t)((id >> 12) & 0xff) << 16;
}

uint32_t kh_mig_arch_id(void)
{
	return KH_MIG_ARCH_ARM64;
}

int kh_mig_arch_features(struct kvmhost_vcpu *vcpu, struct kh_mig_feature *f, uint32_t max, uint32_t *n)
{
	*n = 0;
	if (max < 2 * NR_ID_REGS)
		return KH_FAIL(EINVAL, "room for %u feature words, the arm64 header has %zu", max, 2 * NR_ID_REGS);
	for (size_t i = 0; i < NR_ID_REGS; i++) {
		uint64_t v;
		int r = kvmhost_vcpu_get_one_reg(vcpu, id_reg_id(id_regs[i]), &v);

		if (r < 0)
			return KH_FAIL(-r, "reading ID register 0x%04x: %s", enc(id_regs[i]), kvmhost_last_error());
		f[(*n)++] = (struct kh_mig_feature){.leaf = enc(id_regs[i]), .reg = 0, .bits = (uint32_t)v};
		f[(*n)++] = (struct kh_mig_feature){.leaf = enc(id_regs[i]), .reg = 1, .bits = (uint32_t)(v >> 32)};
	}
	return 0;
}

/* ID registers are fields, not bit sets: the destination's vCPU must show the same values. */
int kh_mig_arch_check_features(struct kvmhost_vm *vm, struct kvmhost_vcpu *vcpu, const struct kh_mig_feature *f,
			       uint32_t n)
{
	(void)vm;
	for (uint32_t i = 0; i < n; i++) {
		size_t k;
		uint64_t v;
		uint32_t have;
		int r;

		for (k = 0; k < NR_ID_REGS && enc(id_regs[k]) != f[i].leaf; k++)
			;
		if (k == NR_ID_REGS || f[i].subleaf || f[i].reg > 1)
			return KH_FAIL(EOPNOTSUPP, "the stream names feature word 0x%x/%u/%u, which arm64 has not",
				       f[i].leaf, f[i].subleaf, f[i].reg);
		if (!vcpu)
			continue;
		if ((r = kvmhost_vcpu_get_one_reg(vcpu, id_reg_id(id_regs[k]), &v)) < 0)
			return r;
		have = f[i].reg ? (uint32_t)(v >> 32) : (uint32_t)v;
		if (have != f[i].bits)
			return KH_FAIL(EOPNOTSUPP,
				       "ID register 0x%04x (op0 %u op1 %u CRn %u CRm %u op2 %u), %s half: the stream's "
				       "guest saw 0x%08x, this one would see 0x%08x",
				       f[i].leaf, id_regs[k][0], id_regs[k][1], id_regs[k][2], id_regs[k][3],
				       id_regs[k][4], f[i].reg ? "high" : "low", f[i].bits, have);
	}
	return 0;
}

/*
 * Before a save reads guest RAM: the ITS's tables and the LPIs' pending bits into the tables the guest gave
 * (KVM keeps them inside until asked). Harmless on a destination (nothing to flush). Every vCPU is stopped.
 */
int kh_mig_arch_prepare(struct kvmhost_vm *vm)
{
	struct kvmhost_arm64_gic *gic = kh_gic_of_vm(vm);
	struct kvm_device_attr a = {.group = KVM_DEV_ARM_VGIC_GRP_CTRL};

	if (!gic || !gic->initialised)
		return 0;
	if (gic->its_fd >= 0) {
		a.attr = KVM_DEV_ARM_ITS_SAVE_TABLES;
		if (ioctl(gic->its_fd, KVM_SET_DEVICE_ATTR, &a) < 0)
			return KH_FAIL_ERRNO("%s: KVM_DEV_ARM_ITS_SAVE_TABLES failed", vm->name);
	}
	a.attr = KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES;
	if (ioctl(gic->fd, KVM_SET_DEVICE_ATTR, &a) < 0 && errno != ENXIO)
		return KH_FAIL_ERRNO("%s: KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES failed", vm->name);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int kh_mig_arch_save_vcpu(struct kvmhost_vcpu *vcpu, struct kh_buf *b)
{
	struct kvm_mp_state mp;
	uint64_t count = 0, *ids = NULL;
	size_t bytes = 8;
	uint8_t v[MAX_REG_BYTES];
	int r;

	r = kvmhost_arm64_vcpu_reg_list(vcpu, NULL, 0, &count);
	if (r < 0 && r != -E2BIG)
		return r;
	if (count > MAX_REGS)
		return KH_FAIL(EFBIG, "KVM lists %llu registers, the stream carries at most %u",
			       (unsigned long long)count, MAX_REGS);
	if (!(ids = calloc(count ? count : 1, sizeof(*ids))))
		return KH_FAIL(ENOMEM, "no memory for the register list");
	if ((r = kvmhost_arm64_vcpu_reg_list(vcpu, ids, count, &count)) < 0)
		goto out;
	qsort(ids, count, sizeof(*ids), cmp_u64);
	for (uint64_t i = 0; i < count; i++) {
		if (reg_size(ids[i]) > MAX_REG_BYTES) {
			r = KH_FAIL(EFBIG, "register 0x%llx is %zu bytes", (unsigned long long)ids[i],
				    reg_size(ids[i]));
			goto out;
		}
		bytes += 8 + reg_size(ids[i]);
	}
	kh_mig_item_head(b, T_REGS, bytes);
	kh_buf_le(b, count, 4);
	kh_buf_le(b, 0, 4);
	for (uint64_t i = 0; i < count; i++) {
		if ((r = kvmhost_vcpu_get_one_reg(vcpu, ids[i], v)) < 0) {
			r = KH_FAIL(-r, "reading register 0x%llx: %s", (unsigned long long)ids[i],
				    kvmhost_last_error());
			goto out;
		}
		kh_buf_le(b, ids[i], 8);
		kh_buf_put(b, v, reg_size(ids[i]));
	}
	if ((r = kvmhost_vcpu_get_mp_state(vcpu, &mp)) < 0)
		goto out;
	kh_mig_item_head(b, T_MP_STATE, 4);
	kh_buf_le(b, mp.mp_state, 4);
	r = b->err ? KH_FAIL(ENOMEM, "cannot encode the vCPU state") : 0;
out:
	free(ids);
	return r;
}

int kh_mig_arch_save_vm(struct kvmhost_vm *vm, struct kh_buf *b)
{
	struct kvmhost_arm64_gic *gic = kh_gic_of_vm(vm);
	struct timespec now;
	int r = 0;

	if (gic) {
		struct kh_gic_state st;
		uint32_t n = (uint32_t)vm->vcpu_count;
		uint64_t *mpidrs = calloc(n ? n : 1, sizeof(*mpidrs));

		if (!mpidrs)
			return KH_FAIL(ENOMEM, "no memory for the MPIDRs");
		for (uint32_t i = 0; i < n; i++)
			mpidrs[i] = kvm_mpidr(i);
		r = kh_gic_state_save(gic, mpidrs, n, KH_GIC_STATE_LEVELS, &st);
		free(mpidrs);
		if (r < 0)
			return r;
		if (st.n > MAX_GIC_REGS) {
			r = KH_FAIL(EFBIG, "%s: the vGIC's state is %u registers (%u vCPUs), the VM section holds %u",
				    vm->name, st.n, n, MAX_GIC_REGS);
			kh_gic_state_free(&st);
			return r;
		}
		kh_mig_item_head(b, T_GIC, 8 + 24 * (size_t)st.n);
		kh_buf_le(b, 32u + gic->nr_spis, 4);
		kh_buf_le(b, st.n, 4);
		for (uint32_t i = 0; i < st.n; i++) {
			kh_buf_le(b, st.regs[i].group, 4);
			kh_buf_le(b, 0, 4);
			kh_buf_le(b, st.regs[i].attr, 8);
			kh_buf_le(b, st.regs[i].value, 8);
		}
		kh_gic_state_free(&st);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	kh_mig_item_head(b, T_CLOCK, 8);
	kh_buf_le(b, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, 8);
	return b->err ? KH_FAIL(ENOMEM, "cannot encode the VM state") : 0;
}

/* ---- decoding: every byte checked, no KVM call ---- */

static int decode_regs(struct kh_mig_arch_vcpu *s, const uint8_t *d, size_t len)
{
	const uint8_t *end = d + len;
	size_t vbytes = 0;
	uint32_t n, reserved;

	if (len < 8)
		return KH_FAIL(EINVAL, "vCPU registers: the count is cut short");
	n = (uint32_t)kh_le_get(&d, 4);
	reserved = (uint32_t)kh_le_get(&d, 4);
	if (reserved || n > MAX_REGS)
		return KH_FAIL(EINVAL, "vCPU registers: %u of them (at most %u), reserved word 0x%x", n, MAX_REGS,
			       reserved);
	if (!(s->ids = calloc(n ? n : 1, sizeof(*s->ids))) || !(s->values = malloc(len)))
		return KH_FAIL(ENOMEM, "no memory for %u registers", n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id;
		size_t sz;

		if ((size_t)(end - d) < 8)
			return KH_FAIL(EINVAL, "vCPU registers: register %u of %u is cut short", i, n);
		id = kh_le_get(&d, 8);
		sz = reg_size(id);
		if ((id & KVM_REG_ARCH_MASK) != KVM_REG_ARM64 || sz > MAX_REG_BYTES)
			return KH_FAIL(EINVAL, "vCPU registers: 0x%llx is no arm64 register (or over %u bytes)",
				       (unsigned long long)id, MAX_REG_BYTES);
		if (i && id <= s->ids[i - 1])
			return KH_FAIL(EINVAL, "vCPU registers: 0x%llx after 0x%llx (out of order or twice)",
				       (unsigned long long)id, (unsigned long long)s->ids[i - 1]);
		if ((size_t)(end - d) < sz)
			return KH_FAIL(EINVAL, "vCPU registers: the value of 0x%llx is cut short",
				       (unsigned long long)id);
		memcpy(s->values + vbytes, d, sz);
		d += sz;
		vbytes += sz;
		s->ids[i] = id;
		s->n = i + 1;
	}
	if (d != end)
		return KH_FAIL(EINVAL, "vCPU registers: %zu bytes after the last", (size_t)(end - d));
	return 0;
}

int kh_mig_arch_decode_vcpu(const uint8_t *data, size_t len, struct kh_mig_arch_vcpu **out)
{
	struct kh_mig_items it = {data, data + len, 0, "vCPU state"};
	struct kh_mig_arch_vcpu *s;
	const uint8_t *d;
	size_t l;
	uint32_t tag;
	int r;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return KH_FAIL(ENOMEM, "no memory for a vCPU's state");
	while ((r = kh_mig_items_next(&it, &tag, &d, &l, T_VCPU_LAST)) > 0) {
		if (tag == T_REGS)
			r = decode_regs(s, d, l);
		else if (l != 4)
			r = KH_FAIL(EINVAL, "vCPU state: the MP state is %zu bytes, not 4", l);
		else {
			s->mp_state = (uint32_t)kh_le_get(&d, 4);
			s->has_mp = 1;
			if (s->mp_state != KVM_MP_STATE_RUNNABLE && s->mp_state != KVM_MP_STATE_STOPPED &&
			    s->mp_state != KVM_MP_STATE_SUSPENDED)
				r = KH_FAIL(EINVAL, "vCPU state: MP state %u is none of arm64's", s->mp_state);
		}
		if (r < 0)
			break;
	}
	if (r == 0 && (!s->ids || !s->has_mp))
		r = KH_FAIL(EINVAL, "vCPU state: the %s missing", !s->ids ? "registers are" : "MP state is");
	if (r < 0) {
		kh_mig_arch_free_vcpu(s);
		return r;
	}
	*out = s;
	return 0;
}

static int decode_gic(struct kh_mig_arch_vm *s, const uint8_t *d, size_t len)
{
	uint32_t n;

	if (len < 8)
		return KH_FAIL(EINVAL, "vGIC state: its header is cut short");
	s->nr_irqs = (uint32_t)kh_le_get(&d, 4);
	n = (uint32_t)kh_le_get(&d, 4);
	if (n > MAX_GIC_REGS || len != 8 + 24 * (size_t)n)
		return KH_FAIL(EINVAL, "vGIC state: %u registers in %zu bytes (at most %u of 24)", n, len - 8,
			       MAX_GIC_REGS);
	if (!(s->gic.regs = calloc(n ? n : 1, sizeof(*s->gic.regs))))
		return KH_FAIL(ENOMEM, "no memory for the vGIC's state");
	s->gic.cap = n;
	s->gic.flags = KH_GIC_STATE_LEVELS;
	for (uint32_t i = 0; i < n; i++) {
		struct kh_gic_reg *g = &s->gic.regs[i];
		uint32_t reserved;

		g->group = (uint32_t)kh_le_get(&d, 4);
		reserved = (uint32_t)kh_le_get(&d, 4);
		g->attr = kh_le_get(&d, 8);
		g->value = kh_le_get(&d, 8);
		if (reserved || kh_gic_reg_check(g->group, g->attr, g->value, s->nr_irqs) < 0)
			return KH_FAIL(EINVAL,
				       "vGIC state: register %u (group %u, attr 0x%llx, value 0x%llx) is none the vGIC "
				       "of %u interrupts has",
				       i, g->group, (unsigned long long)g->attr, (unsigned long long)g->value,
				       s->nr_irqs);
		s->gic.n = i + 1;
	}
	s->has_gic = 1;
	return 0;
}

int kh_mig_arch_decode_vm(const uint8_t *data, size_t len, struct kh_mig_arch_vm **out)
{
	struct kh_mig_items it = {data, data + len, 0, "VM state"};
	struct kh_mig_arch_vm *s;
	const uint8_t *d;
	size_t l;
	uint32_t tag;
	int r, has_clock = 0;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return KH_FAIL(ENOMEM, "no memory for the VM's state");
	while ((r = kh_mig_items_next(&it, &tag, &d, &l, T_VM_LAST)) > 0) {
		if (tag == T_GIC)
			r = decode_gic(s, d, l);
		else if (l != 8)
			r = KH_FAIL(EINVAL, "VM state: the clock is %zu bytes, not 8", l);
		else {
			s->saved_ns = kh_le_get(&d, 8);
			has_clock = 1;
		}
		if (r < 0)
			break;
	}
	if (r == 0 && !has_clock)
		r = KH_FAIL(EINVAL, "VM state: the clock is missing");
	if (r < 0) {
		kh_mig_arch_free_vm(s);
		return r;
	}
	*out = s;
	return 0;
}

void kh_mig_arch_free_vm(struct kh_mig_arch_vm *s)
{
	if (!s)
		return;
	kh_gic_state_free(&s->gic);
	free(s);
}

void kh_mig_arch_free_vcpu(struct kh_mig_arch_vcpu *s)
{
	if (!s)
		return;
	free(s->ids);
	free(s->values);
	free(s);
}

int64_t kh_mig_arch_elapsed_ns(const struct kh_mig_arch_vm *s)
{
	struct timespec now;
	uint64_t t;

	clock_gettime(CLOCK_REALTIME, &now);
	t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	return t > s->saved_ns ? (int64_t)(t - s->saved_ns) : 0;
}

/* ---- loading ---- */

int kh_mig_arch_load_vm(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s)
{
	struct kvmhost_arm64_gic *gic = kh_gic_of_vm(vm);

	if (!!gic != s->has_gic)
		return KH_FAIL(EINVAL, "%s: the stream's VM %s a vGIC, this one %s", vm->name,
			       s->has_gic ? "has" : "has no", gic ? "has" : "has none");
	if (!gic)
		return 0;
	if (s->nr_irqs != 32u + gic->nr_spis)
		return KH_FAIL(EINVAL, "%s: the stream's vGIC has %u interrupts, this one %u", vm->name, s->nr_irqs,
			       32u + gic->nr_spis);
	return kh_gic_state_load(gic, &s->gic);
}

static int set_reg(struct kvmhost_vcpu *vcpu, uint64_t id, const uint8_t *v)
{
	uint8_t have[MAX_REG_BYTES];
	int r = kvmhost_vcpu_set_one_reg(vcpu, id, v);

	if (r == 0)
		return 0;
	/* Refused: fine if the destination has that value already (invariant registers, SVE_VLS after finalize). */
	if (kvmhost_vcpu_get_one_reg(vcpu, id, have) == 0 && memcmp(have, v, reg_size(id)) == 0)
		return 0;
	return KH_FAIL(-r, "register 0x%llx: KVM refused the saved value (%s)", (unsigned long long)id,
		       kvmhost_last_error());
}

int kh_mig_arch_load_vcpu(struct kvmhost_vcpu *vcpu, const struct kh_mig_arch_vcpu *s, int64_t advance_ns)
{
	const uint64_t cnt = KVM_REG_ARM_TIMER_CNT, cval = KVM_REG_ARM_TIMER_CVAL, ctl = KVM_REG_ARM_TIMER_CTL;
	const uint64_t last[3] = {cnt, cval, ctl};
	struct kvm_mp_state mp = {.mp_state = s->mp_state};
	size_t off = 0;
	int r;

	for (uint32_t i = 0; i < s->n; off += reg_size(s->ids[i]), i++)
		if (s->ids[i] != cnt && s->ids[i] != cval && s->ids[i] != ctl &&
		    (r = set_reg(vcpu, s->ids[i], s->values + off)) < 0)
			return r;
	for (int k = 0; k < 3; k++) {
		off = 0;
		for (uint32_t i = 0; i < s->n; off += reg_size(s->ids[i]), i++) {
			uint64_t v;

			if (s->ids[i] != last[k])
				continue;
			memcpy(&v, s->values + off, 8);
			if (last[k] == cnt && advance_ns > 0) {
				uint64_t hz = 0;

				/* CNTFRQ_EL0: the counter's rate the guest was told */
				if (kvmhost_vcpu_get_one_reg(vcpu, kvmhost_arm64_vcpu_sys_reg_id(3, 3, 14, 0, 0),
							     &hz) == 0)
					v += (uint64_t)((unsigned __int128)(uint64_t)advance_ns * hz / 1000000000u);
			}
			if ((r = set_reg(vcpu, last[k], (const uint8_t *)&v)) < 0)
				return r;
		}
	}
	return kvmhost_vcpu_set_mp_state(vcpu, &mp);
}

int kh_mig_arch_load_clock(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s, int64_t advance_ns)
{
	(void)vm;
	(void)s;
	(void)advance_ns; /* the virtual counter is each vCPU's KVM_REG_ARM_TIMER_CNT, set with it */
	return 0;
}

void kh_mig_arch_before_resume(struct kvmhost_vcpu *vcpu)
{
	(void)vcpu;
}
