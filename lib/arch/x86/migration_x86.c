/*
 * x86 state for snapshot and migration (lib/migration/migration_arch.h):
 * one vCPU's and the VM's whole KVM state as plain little-endian payloads,
 * the CPU feature words of the stream header and their check against the
 * destination's KVM.
 *
 * A payload is a sequence of items, each "u16 tag, u16 0, u32 length, data",
 * tags strictly increasing. Kernel UAPI structs (struct kvm_regs, ...) are
 * carried as their fixed x86_64 layouts, each item's length checked to be
 * exactly the struct's size; lists (CPUID, MSRs) and the clock have their
 * own encodings. docs/migration.md lists the items.
 *
 * The order state is set in (KVM's api.rst leaves it open; this follows what
 * QEMU, Firecracker and Cloud Hypervisor learned, ../MIGRATION-NOTES):
 *   VM, before the vCPUs: PIC master, PIC slave, IOAPIC, PIT2.
 *   each vCPU:
 *    1. CPUID             which MSRs, XSAVE features and LAPIC exist depends on it
 *    2. TSC kHz           before any TSC value is written, so the value is scaled at the right rate
 *    3. SREGS             CR0/CR4/EFER and the APIC base (which enables the LAPIC) before REGS and LAPIC
 *    4. REGS              (KVM_SET_REGS drops pending exceptions: events come later)
 *    5. XSAVE (or FPU), 6. XCRS
 *    7. LAPIC             after SREGS' APIC base, before the MSRs: TSC_DEADLINE needs the LVT timer in
 *                         deadline mode, which the LAPIC state sets
 *    8. MSRs              IA32_TSC first (KVM keeps the vCPUs' TSC offsets in step when their TSCs are
 *                         written within a second), then the rest, then TSC_DEADLINE last, after the TSC
 *                         and the LAPIC. Where KVM ignores TSC writes (the nested PVM here) the deadline is
 *                         moved by what the TSC missed, or a deadline far in the guest's future would leave
 *                         the timer dead. A deadline of 0 (disarmed, or already fired: the interrupt is then
 *                         in the LAPIC's IRR) stays 0.
 *    9. DEBUGREGS
 *   10. MP_STATE          after SREGS (KVM_SET_SREGS may make a vCPU at the reset vector RUNNABLE)
 *   11. VCPU_EVENTS last  pending and injected exceptions (with KVM_CAP_EXCEPTION_PAYLOAD), NMI, SMI,
 *                         interrupt shadow: everything above may clear them
 *   VM, after every vCPU and the devices: the kvmclock (KVM_SET_CLOCK with the value read when the state
 *   was saved; with the catch-up policy, KVM_CLOCK_REALTIME where the kernel takes it), then
 *   KVMCLOCK_CTRL on every vCPU just before it runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../core/state_io.h"
#include "../../kvm/vcpu_internal.h"
#include "../../migration/mig_items.h"
#include "../../migration/migration_arch.h"
#include <kvmhost/x86.h>
#include <kvmhost/x86_platform.h>

#define MAX_CPUID 256u
#define MAX_MSRS  1024u
#define MAX_XCRS  16u

#define MSR_IA32_TSC	      0x10u
#define MSR_IA32_TSC_DEADLINE 0x6e0u

enum vcpu_tag {
	T_CPUID = 1,
	T_TSC_KHZ = 2,
	T_MP_STATE = 3,
	T_REGS = 4,
	T_SREGS = 5,
	T_XSAVE = 6,
	T_FPU = 7,
	T_XCRS = 8,
	T_DEBUGREGS = 9,
	T_LAPIC = 10,
	T_MSRS = 11,
	T_EVENTS = 12,
	T_VCPU_LAST = T_EVENTS,
};

enum vm_tag {
	T_PIC_MASTER = 1,
	T_PIC_SLAVE = 2,
	T_IOAPIC = 3,
	T_PIT = 4,
	T_CLOCK = 5,
	T_VM_LAST = T_CLOCK,
};

#define CLOCK_ITEM 40u

struct kh_mig_arch_vcpu {
	uint32_t present; /* 1 << tag */
	uint32_t ncpuid;
	struct kvm_cpuid_entry2 cpuid[MAX_CPUID];
	uint32_t tsc_khz;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	uint32_t nmsrs;
	uint32_t msr_index[MAX_MSRS];
	uint64_t msr_value[MAX_MSRS];
	struct kvm_vcpu_events events;
	struct kvm_xsave xsave; /* last: newer kernel headers end it with a flexible array */
};

struct kh_mig_arch_vm {
	struct kvm_irqchip chip[3];
	struct kvm_pit_state2 pit;
	uint64_t clock, realtime, host_tsc, saved_ns;
	uint32_t clock_flags;
};

uint32_t kh_mig_arch_id(void)
{
	return KH_MIG_ARCH_X86_64;
}

/* ---- CPU features ---- */

/* The feature words of the header; bits KVM changes at run time (OSXSAVE, OSPKE follow CR4; APIC follows the
 * APIC base) or the VMM sets (HYPERVISOR, HTT) are left out: they say nothing about the host. */
static const struct {
	uint32_t leaf, subleaf, reg, ignore;
} feature_words[] = {
    {1, 0, KVMHOST_X86_CPUID_ECX, (1u << 27) | (1u << 31)},
    {1, 0, KVMHOST_X86_CPUID_EDX, (1u << 9) | (1u << 28)},
    {7, 0, KVMHOST_X86_CPUID_EBX, 0},
    {7, 0, KVMHOST_X86_CPUID_ECX, 1u << 4},
    {7, 0, KVMHOST_X86_CPUID_EDX, 0},
    {7, 1, KVMHOST_X86_CPUID_EAX, 0},
    {0xd, 1, KVMHOST_X86_CPUID_EAX, 0},
    {0x80000001u, 0, KVMHOST_X86_CPUID_ECX, 0},
    {0x80000001u, 0, KVMHOST_X86_CPUID_EDX, 0},
};

static const struct kvm_cpuid_entry2 *find_cpuid(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t leaf,
						 uint32_t subleaf)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == leaf && (e[i].index == subleaf || !(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
			return &e[i];
	return NULL;
}

static uint32_t cpuid_reg(const struct kvm_cpuid_entry2 *e, uint32_t reg)
{
	return reg == 0 ? e->eax : reg == 1 ? e->ebx : reg == 2 ? e->ecx : e->edx;
}

int kh_mig_arch_features(struct kvmhost_vcpu *vcpu, struct kh_mig_feature *f, uint32_t max, uint32_t *n)
{
	struct kvm_cpuid_entry2 *e = calloc(MAX_CPUID, sizeof(*e));
	uint32_t count = 0;
	int r;

	if (!e)
		return KH_FAIL(ENOMEM, "cannot allocate a CPUID table");
	r = kvmhost_x86_vcpu_get_cpuid(vcpu, e, MAX_CPUID, &count);
	*n = 0;
	for (size_t i = 0; r == 0 && i < KH_ARRAY_SIZE(feature_words) && *n < max; i++) {
		const struct kvm_cpuid_entry2 *x =
		    find_cpuid(e, count, feature_words[i].leaf, feature_words[i].subleaf);
		uint32_t bits = x ? cpuid_reg(x, feature_words[i].reg) & ~feature_words[i].ignore : 0;

		if (bits)
			f[(*n)++] = (struct kh_mig_feature){feature_words[i].leaf, feature_words[i].subleaf,
							    feature_words[i].reg, bits};
	}
	free(e);
	return r;
}

/*
 * What a guest gets here: KVM's supported list, and what this machine's own vCPU reports (the nested PVM
 * reports the host's features in a vCPU's CPUID beyond the supported list: its guests run at CPL3 natively).
 */
int kh_mig_arch_check_features(struct kvmhost_vm *vm, struct kvmhost_vcpu *vcpu, const struct kh_mig_feature *f,
			       uint32_t n)
{
	static const char regs[] = "ABCD";
	struct kvm_cpuid_entry2 *e, *own;
	uint32_t count = 0, nown = 0;
	char msg[512] = "";
	size_t len = 0;
	int r;

	for (uint32_t i = 0; i < n; i++)
		if (f[i].reg > KVMHOST_X86_CPUID_EDX)
			return KH_FAIL(EINVAL, "CPU feature word %u names register %u (0-3: EAX-EDX)", i, f[i].reg);
	if (!(e = calloc(4096, sizeof(*e))))
		return KH_FAIL(ENOMEM, "cannot allocate a CPUID table");
	own = e + 4096 - MAX_CPUID;
	if ((r = kvmhost_x86_system_get_supported_cpuid(vm->sys, e, 4096 - MAX_CPUID, &count)) < 0 ||
	    (vcpu && (r = kvmhost_x86_vcpu_get_cpuid(vcpu, own, MAX_CPUID, &nown)) < 0)) {
		free(e);
		return r;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct kvm_cpuid_entry2 *x = find_cpuid(e, count, f[i].leaf, f[i].subleaf);
		const struct kvm_cpuid_entry2 *y = find_cpuid(own, nown, f[i].leaf, f[i].subleaf);
		uint32_t missing = f[i].bits & ~(x ? cpuid_reg(x, f[i].reg) : 0) & ~(y ? cpuid_reg(y, f[i].reg) : 0);

		if (missing && len < sizeof(msg))
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%sleaf 0x%x.%u E%cX bits 0x%08x",
						len ? ", " : "", f[i].leaf, f[i].subleaf, regs[f[i].reg], missing);
	}
	free(e);
	if (len)
		return KH_FAIL(EOPNOTSUPP, "this host's KVM lacks CPU features the guest uses: %s", msg);
	return 0;
}

int kh_mig_arch_prepare(struct kvmhost_vm *vm)
{
	int r = kvmhost_x86_vm_enable_exception_payload(vm);

	if (r == -ENOTSUP) { /* older kernels: exceptions are then delivered before the save */
		kh_log(KVMHOST_LOG_DEBUG, "%s", kvmhost_last_error());
		return 0;
	}
	return r;
}

/* ---- encoding ---- */

static int read_msrs(struct kvmhost_vcpu *vcpu, struct kh_buf *b)
{
	uint32_t n = 0, *idx = NULL, kept = 0;
	uint64_t *val = NULL;
	struct kh_buf m = {0};
	int r = kvmhost_x86_system_get_msr_index_list(vcpu->vm->sys, NULL, 0, &n);

	if (r < 0 && r != -E2BIG)
		return r;
	if (n > MAX_MSRS)
		return KH_FAIL(E2BIG, "KVM lists %u MSRs; a snapshot holds %u", n, MAX_MSRS);
	idx = calloc(n + 1, sizeof(*idx));
	val = calloc(n + 1, sizeof(*val));
	if (!idx || !val) {
		r = KH_FAIL(ENOMEM, "cannot allocate %u MSRs", n);
		goto out;
	}
	if (n && (r = kvmhost_x86_system_get_msr_index_list(vcpu->vm->sys, idx, n, &n)) < 0)
		goto out;
	/* KVM stops at the first MSR it refuses (one this vCPU's CPUID does not have): skip it and go on. */
	for (uint32_t done = 0; done < n;) {
		r = kvmhost_x86_vcpu_get_msrs(vcpu, idx + done, val + done, n - done);
		if (r < 0)
			goto out;
		for (uint32_t i = 0; i < (uint32_t)r; i++) {
			idx[kept] = idx[done + i];
			val[kept++] = val[done + i];
		}
		done += (uint32_t)r + 1;
	}
	kh_buf_le(&m, kept, 4);
	for (uint32_t i = 0; i < kept; i++) {
		kh_buf_le(&m, idx[i], 4);
		kh_buf_le(&m, 0, 4);
		kh_buf_le(&m, val[i], 8);
	}
	r = m.err ? KH_FAIL(ENOMEM, "cannot encode the MSRs") : 0;
	if (r == 0)
		kh_mig_item_put(b, T_MSRS, m.p, m.len);
out:
	kh_buf_free(&m);
	free(idx);
	free(val);
	return r;
}

int kh_mig_arch_save_vcpu(struct kvmhost_vcpu *vcpu, struct kh_buf *b)
{
	struct kh_mig_arch_vcpu *s = calloc(1, sizeof(*s));
	struct kh_buf c = {0};
	int r;

	if (!s)
		return KH_FAIL(ENOMEM, "cannot allocate the vCPU state");
	if ((r = kvmhost_x86_vcpu_get_cpuid(vcpu, s->cpuid, MAX_CPUID, &s->ncpuid)) < 0)
		goto out;
	kh_buf_le(&c, s->ncpuid, 4);
	kh_buf_put(&c, s->cpuid, s->ncpuid * sizeof(s->cpuid[0]));
	kh_mig_item_put(b, T_CPUID, c.p, c.len);
	if (kvmhost_x86_vcpu_get_tsc_khz(vcpu, &s->tsc_khz) == 0) {
		uint8_t k[4], *p = k;

		kh_le_put(&p, s->tsc_khz, 4);
		kh_mig_item_put(b, T_TSC_KHZ, k, 4);
	}
	if ((r = kvmhost_vcpu_get_mp_state(vcpu, &s->mp)) < 0 || (r = kvmhost_x86_vcpu_get_regs(vcpu, &s->regs)) < 0 ||
	    (r = kvmhost_x86_vcpu_get_sregs(vcpu, &s->sregs)) < 0)
		goto out;
	kh_mig_item_put(b, T_MP_STATE, &s->mp, sizeof(s->mp));
	kh_mig_item_put(b, T_REGS, &s->regs, sizeof(s->regs));
	kh_mig_item_put(b, T_SREGS, &s->sregs, sizeof(s->sregs));
	if (ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
		if ((r = kvmhost_x86_vcpu_get_xsave(vcpu, &s->xsave)) < 0)
			goto out;
		kh_mig_item_put(b, T_XSAVE, &s->xsave, sizeof(s->xsave));
	} else {
		if ((r = kvmhost_x86_vcpu_get_fpu(vcpu, &s->fpu)) < 0)
			goto out;
		kh_mig_item_put(b, T_FPU, &s->fpu, sizeof(s->fpu));
	}
	if (ioctl(vcpu->vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		if ((r = kvmhost_x86_vcpu_get_xcrs(vcpu, &s->xcrs)) < 0)
			goto out;
		kh_mig_item_put(b, T_XCRS, &s->xcrs, sizeof(s->xcrs));
	}
	if ((r = kvmhost_x86_vcpu_get_debugregs(vcpu, &s->dregs)) < 0 ||
	    (r = kvmhost_x86_vcpu_get_lapic(vcpu, &s->lapic)) < 0)
		goto out;
	kh_mig_item_put(b, T_DEBUGREGS, &s->dregs, sizeof(s->dregs));
	kh_mig_item_put(b, T_LAPIC, &s->lapic, sizeof(s->lapic));
	if ((r = read_msrs(vcpu, b)) < 0 || (r = kvmhost_x86_vcpu_get_events(vcpu, &s->events)) < 0)
		goto out;
	kh_mig_item_put(b, T_EVENTS, &s->events, sizeof(s->events));
	if (b->err || c.err)
		r = KH_FAIL(ENOMEM, "cannot encode the vCPU state");
out:
	kh_buf_free(&c);
	free(s);
	return r;
}

int kh_mig_arch_save_vm(struct kvmhost_vm *vm, struct kh_buf *b)
{
	struct kh_mig_arch_vm s;
	struct kvm_clock_data cd;
	struct timespec now;
	uint8_t clk[CLOCK_ITEM], *p = clk;
	int r;

	memset(&s, 0, sizeof(s));
	for (uint32_t i = 0; i < 3; i++) {
		s.chip[i].chip_id = i;
		if ((r = kvmhost_x86_vm_get_irqchip(vm, &s.chip[i])) < 0)
			return r;
		kh_mig_item_put(b, T_PIC_MASTER + i, &s.chip[i], sizeof(s.chip[i]));
	}
	if ((r = kvmhost_x86_vm_get_pit(vm, &s.pit)) < 0)
		return r;
	kh_mig_item_put(b, T_PIT, &s.pit, sizeof(s.pit));
	/* The clock is read now, when the state is saved, not when the VM paused. */
	if ((r = kvmhost_x86_vm_get_clock(vm, &cd)) < 0)
		return r;
	clock_gettime(CLOCK_REALTIME, &now);
	kh_le_put(&p, cd.clock, 8);
	kh_le_put(&p, cd.flags, 4);
	kh_le_put(&p, 0, 4);
	kh_le_put(&p, cd.realtime, 8);
	kh_le_put(&p, cd.host_tsc, 8);
	kh_le_put(&p, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, 8);
	kh_mig_item_put(b, T_CLOCK, clk, sizeof(clk));
	return b->err ? KH_FAIL(ENOMEM, "cannot encode the VM state") : 0;
}

/* ---- decoding: every byte checked, no KVM call ---- */

static int fixed(const char *what, uint32_t tag, void *dst, size_t size, const uint8_t *data, size_t len)
{
	if (len != size)
		return KH_FAIL(EINVAL, "%s: item %u is %zu bytes, the kernel's struct is %zu", what, tag, len, size);
	memcpy(dst, data, size);
	return 0;
}

static int decode_list(const char *what, const uint8_t *d, size_t len, size_t elem, uint32_t max, uint32_t *n)
{
	if (len < 4)
		return KH_FAIL(EINVAL, "%s: a list without its count", what);
	*n = (uint32_t)kh_le_get(&d, 4);
	if (*n > max || len != 4 + (size_t)*n * elem)
		return KH_FAIL(EINVAL, "%s: %u entries in %zu bytes (at most %u of %zu bytes)", what, *n, len - 4, max,
			       elem);
	return 0;
}

int kh_mig_arch_decode_vcpu(const uint8_t *data, size_t len, struct kh_mig_arch_vcpu **out)
{
	const uint32_t need = 1u << T_CPUID | 1u << T_MP_STATE | 1u << T_REGS | 1u << T_SREGS | 1u << T_LAPIC |
			      1u << T_MSRS | 1u << T_EVENTS;
	struct kh_mig_items it = {data, data + len, 0, "vCPU state"};
	struct kh_mig_arch_vcpu *s = calloc(1, sizeof(*s));
	const uint8_t *d;
	uint32_t tag;
	size_t l;
	int r;

	*out = NULL;
	if (!s)
		return KH_FAIL(ENOMEM, "cannot allocate the vCPU state");
	while ((r = kh_mig_items_next(&it, &tag, &d, &l, T_VCPU_LAST)) > 0) {
		switch (tag) {
		case T_CPUID:
			if ((r = decode_list("vCPU CPUID", d, l, sizeof(s->cpuid[0]), MAX_CPUID, &s->ncpuid)) == 0 &&
			    s->ncpuid == 0)
				r = KH_FAIL(EINVAL, "vCPU CPUID: no entries");
			if (r == 0)
				memcpy(s->cpuid, d + 4, s->ncpuid * sizeof(s->cpuid[0]));
			break;
		case T_TSC_KHZ:
			if (l != 4)
				r = KH_FAIL(EINVAL, "vCPU TSC kHz: %zu bytes", l);
			else if ((s->tsc_khz = (uint32_t)kh_le_get(&d, 4)) == 0 || s->tsc_khz > INT32_MAX)
				r = KH_FAIL(EINVAL, "vCPU TSC kHz: %u", s->tsc_khz);
			break;
		case T_MP_STATE:
			if ((r = fixed(it.what, tag, &s->mp, sizeof(s->mp), d, l)) == 0 &&
			    s->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
				r = KH_FAIL(EINVAL, "vCPU MP state %u is unknown", s->mp.mp_state);
			break;
		case T_REGS:
			r = fixed(it.what, tag, &s->regs, sizeof(s->regs), d, l);
			break;
		case T_SREGS:
			r = fixed(it.what, tag, &s->sregs, sizeof(s->sregs), d, l);
			break;
		case T_XSAVE:
			r = fixed(it.what, tag, &s->xsave, sizeof(s->xsave), d, l);
			break;
		case T_FPU:
			r = fixed(it.what, tag, &s->fpu, sizeof(s->fpu), d, l);
			break;
		case T_XCRS:
			if ((r = fixed(it.what, tag, &s->xcrs, sizeof(s->xcrs), d, l)) == 0 &&
			    s->xcrs.nr_xcrs > MAX_XCRS)
				r = KH_FAIL(EINVAL, "vCPU XCRs: %u of them (at most %u)", s->xcrs.nr_xcrs, MAX_XCRS);
			break;
		case T_DEBUGREGS:
			r = fixed(it.what, tag, &s->dregs, sizeof(s->dregs), d, l);
			break;
		case T_LAPIC:
			r = fixed(it.what, tag, &s->lapic, sizeof(s->lapic), d, l);
			break;
		case T_MSRS:
			if ((r = decode_list("vCPU MSRs", d, l, 16, MAX_MSRS, &s->nmsrs)) < 0)
				break;
			d += 4;
			for (uint32_t i = 0; i < s->nmsrs && r == 0; i++) {
				s->msr_index[i] = (uint32_t)kh_le_get(&d, 4);
				if (kh_le_get(&d, 4))
					r = KH_FAIL(EINVAL, "vCPU MSR %u: reserved bits set", i);
				s->msr_value[i] = kh_le_get(&d, 8);
			}
			break;
		default: /* T_EVENTS */
			r = fixed(it.what, tag, &s->events, sizeof(s->events), d, l);
		}
		if (r < 0)
			break;
		s->present |= 1u << tag;
	}
	if (r == 0 && ((s->present & need) != need || !(s->present & (1u << T_XSAVE | 1u << T_FPU))))
		r = KH_FAIL(EINVAL, "vCPU state: items missing (present 0x%x, needed 0x%x and XSAVE or FPU)",
			    s->present, need);
	if (r < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

int kh_mig_arch_decode_vm(const uint8_t *data, size_t len, struct kh_mig_arch_vm **out)
{
	struct kh_mig_items it = {data, data + len, 0, "VM state"};
	struct kh_mig_arch_vm *s = calloc(1, sizeof(*s));
	uint32_t tag, present = 0;
	const uint8_t *d;
	size_t l;
	int r;

	*out = NULL;
	if (!s)
		return KH_FAIL(ENOMEM, "cannot allocate the VM state");
	while ((r = kh_mig_items_next(&it, &tag, &d, &l, T_VM_LAST)) > 0) {
		if (tag <= T_IOAPIC) {
			r = fixed(it.what, tag, &s->chip[tag - 1], sizeof(s->chip[0]), d, l);
			if (r == 0 && s->chip[tag - 1].chip_id != tag - 1)
				r = KH_FAIL(EINVAL, "VM state: item %u holds irqchip %u", tag,
					    s->chip[tag - 1].chip_id);
		} else if (tag == T_PIT) {
			r = fixed(it.what, tag, &s->pit, sizeof(s->pit), d, l);
		} else if (l != CLOCK_ITEM) {
			r = KH_FAIL(EINVAL, "VM state: the clock is %zu bytes, not %u", l, CLOCK_ITEM);
		} else {
			s->clock = kh_le_get(&d, 8);
			s->clock_flags = (uint32_t)kh_le_get(&d, 4);
			if (kh_le_get(&d, 4))
				r = KH_FAIL(EINVAL, "VM state: the clock's reserved bytes are set");
			s->realtime = kh_le_get(&d, 8);
			s->host_tsc = kh_le_get(&d, 8);
			s->saved_ns = kh_le_get(&d, 8);
		}
		if (r < 0)
			break;
		present |= 1u << tag;
	}
	if (r == 0 && present != ((1u << (T_VM_LAST + 1)) - 2))
		r = KH_FAIL(EINVAL, "VM state: items missing (present 0x%x)", present);
	if (r < 0) {
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void kh_mig_arch_free_vm(struct kh_mig_arch_vm *s)
{
	free(s);
}

void kh_mig_arch_free_vcpu(struct kh_mig_arch_vcpu *s)
{
	free(s);
}

/* ---- loading ---- */

int64_t kh_mig_arch_elapsed_ns(const struct kh_mig_arch_vm *s)
{
	struct timespec now;
	uint64_t ns;

	clock_gettime(CLOCK_REALTIME, &now);
	ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	return ns > s->saved_ns && ns - s->saved_ns < (uint64_t)INT64_MAX ? (int64_t)(ns - s->saved_ns) : 0;
}

int kh_mig_arch_load_vm(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s)
{
	int r;

	for (uint32_t i = 0; i < 3; i++)
		if ((r = kvmhost_x86_vm_set_irqchip(vm, &s->chip[i])) < 0)
			return r;
	return kvmhost_x86_vm_set_pit(vm, &s->pit);
}

static int set_msr(struct kvmhost_vcpu *vcpu, uint32_t index, uint64_t value)
{
	int r = kvmhost_x86_vcpu_set_msrs(vcpu, &index, &value, 1);

	if (r < 0)
		return r;
	return r == 1 ? 0
		      : KH_FAIL(EINVAL, "vCPU %u: KVM refuses MSR 0x%x = 0x%llx", vcpu->id, index,
				(unsigned long long)value);
}

static int load_msrs(struct kvmhost_vcpu *vcpu, const struct kh_mig_arch_vcpu *s, int64_t advance_ns)
{
	uint64_t tsc = 0, deadline = 0, now_tsc;
	int have_tsc = 0, have_deadline = 0, r;
	uint32_t idx = MSR_IA32_TSC;

	for (uint32_t i = 0; i < s->nmsrs; i++) {
		if (s->msr_index[i] == MSR_IA32_TSC) {
			tsc = s->msr_value[i];
			have_tsc = 1;
		} else if (s->msr_index[i] == MSR_IA32_TSC_DEADLINE) {
			deadline = s->msr_value[i];
			have_deadline = 1;
		}
	}
	if (have_tsc) {
		if (advance_ns > 0 && s->tsc_khz)
			tsc += (uint64_t)((unsigned __int128)advance_ns * s->tsc_khz / 1000000u);
		if ((r = set_msr(vcpu, MSR_IA32_TSC, tsc)) < 0)
			return r;
	}
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (s->msr_index[i] != MSR_IA32_TSC && s->msr_index[i] != MSR_IA32_TSC_DEADLINE &&
		    (r = set_msr(vcpu, s->msr_index[i], s->msr_value[i])) < 0)
			return r;
	if (!have_deadline)
		return 0;
	if (deadline && have_tsc && kvmhost_x86_vcpu_get_msrs(vcpu, &idx, &now_tsc, 1) == 1) {
		int64_t missed = (int64_t)(now_tsc - tsc);

		/* Within a second of what was written: KVM took the TSC. Else it ignores TSC writes. */
		if (s->tsc_khz && (missed > (int64_t)s->tsc_khz * 1000 || missed < -(int64_t)s->tsc_khz * 1000)) {
			kh_log(KVMHOST_LOG_INFO,
			       "vCPU %u: KVM ignored the TSC write (%lld cycles off): TSC_DEADLINE moved", vcpu->id,
			       (long long)missed);
			deadline += (uint64_t)missed;
		}
	}
	return set_msr(vcpu, MSR_IA32_TSC_DEADLINE, deadline);
}

int kh_mig_arch_load_vcpu(struct kvmhost_vcpu *vcpu, const struct kh_mig_arch_vcpu *s, int64_t advance_ns)
{
	uint32_t khz = 0;
	int r;

	if ((r = kvmhost_x86_vcpu_set_cpuid(vcpu, s->cpuid, s->ncpuid)) < 0)
		return r;
	if ((s->present & 1u << T_TSC_KHZ) && (kvmhost_x86_vcpu_get_tsc_khz(vcpu, &khz) < 0 || khz != s->tsc_khz) &&
	    (r = kvmhost_x86_vcpu_set_tsc_khz(vcpu, s->tsc_khz)) < 0)
		return r;
	if ((r = kvmhost_x86_vcpu_set_sregs(vcpu, &s->sregs)) < 0 ||
	    (r = kvmhost_x86_vcpu_set_regs(vcpu, &s->regs)) < 0)
		return r;
	if (s->present & 1u << T_XSAVE)
		r = kvmhost_x86_vcpu_set_xsave(vcpu, &s->xsave);
	else
		r = kvmhost_x86_vcpu_set_fpu(vcpu, &s->fpu);
	if (r < 0 || ((s->present & 1u << T_XCRS) && (r = kvmhost_x86_vcpu_set_xcrs(vcpu, &s->xcrs)) < 0))
		return r;
	if ((r = kvmhost_x86_vcpu_set_lapic(vcpu, &s->lapic)) < 0 || (r = load_msrs(vcpu, s, advance_ns)) < 0)
		return r;
	if ((s->present & 1u << T_DEBUGREGS) && (r = kvmhost_x86_vcpu_set_debugregs(vcpu, &s->dregs)) < 0)
		return r;
	if (s->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD) /* from the stream: x86's states end there */
		return KH_FAIL(EINVAL, "vCPU %u: MP state %u is unknown", kvmhost_vcpu_id(vcpu), s->mp.mp_state);
	if ((r = kvmhost_vcpu_set_mp_state(vcpu, &s->mp)) < 0)
		return r;
	return kvmhost_x86_vcpu_set_events(vcpu, &s->events);
}

int kh_mig_arch_load_clock(struct kvmhost_vm *vm, const struct kh_mig_arch_vm *s, int64_t advance_ns)
{
	struct kvm_clock_data cd;

	memset(&cd, 0, sizeof(cd));
	cd.clock = s->clock;
	if (advance_ns > 0) {
		/* Catch up: where both kernels speak KVM_CLOCK_REALTIME, KVM adds the time since then itself. */
		if ((s->clock_flags & KVM_CLOCK_REALTIME) && (kvmhost_x86_vm_clock_flags(vm) & KVM_CLOCK_REALTIME)) {
			cd.flags = KVM_CLOCK_REALTIME;
			cd.realtime = s->realtime;
		} else {
			cd.clock += (uint64_t)advance_ns;
		}
	}
	return kvmhost_x86_vm_set_clock(vm, &cd);
}

void kh_mig_arch_before_resume(struct kvmhost_vcpu *vcpu)
{
	if (kvmhost_x86_vcpu_kvmclock_ctrl(vcpu) < 0)
		kh_log(KVMHOST_LOG_DEBUG, "%s", kvmhost_last_error());
}
