/*
 * Bring-up state of the vCPUs: the bootstrap processor entering a kernel the
 * loaders placed (one entry state per struct kvmhost_x86_boot_info kind),
 * application processors parked until the guest's INIT/SIPI, and the local
 * APIC's LINT pins in virtual-wire mode.
 *
 * The mode switches themselves are the existing helpers'
 * (kvmhost_x86_vcpu_setup_real_mode/_long_mode/_protected_mode); this file
 * adds what each boot protocol wants on top: the __BOOT_CS/__BOOT_DS GDT of
 * the Linux entries and the protocol's registers.
 */
#include <string.h>
#include <linux/kvm.h>

#include "../../../core/internal.h"
#include "../../../kvm/vcpu_internal.h"
#include <kvmhost/memory.h>
#include <kvmhost/vcpu.h>
#include <kvmhost/x86.h>
#include <kvmhost/x86_boot.h>
#include <kvmhost/x86_platform.h>

#define APIC_LVT0      0x350
#define APIC_LVT1      0x360
#define APIC_DM_NMI    0x400u
#define APIC_DM_EXTINT 0x700u

#define BOOT_CS		 0x10
#define BOOT_DS		 0x18
#define GDT_ENTRIES	 4
#define GDT_BYTES	 (GDT_ENTRIES * 8)
#define PAGE_TABLE_BYTES (3 * 4096ull)

/* Flat 4 GiB descriptors (G=1, limit 0xfffff, present, DPL 0, accessed). */
#define DESC_CODE64 0x00af9b000000ffffull /* L=1, D=0, execute/read */
#define DESC_CODE32 0x00cf9b000000ffffull /* D=1, execute/read */
#define DESC_DATA   0x00cf93000000ffffull /* B=1, read/write */

static int irqchip_in_kernel(struct kvmhost_vcpu *vcpu)
{
	int chip;

	pthread_mutex_lock(&vcpu->vm->lock);
	chip = vcpu->vm->irqchip;
	pthread_mutex_unlock(&vcpu->vm->lock);
	return chip != 0;
}

static void lapic_set_reg(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
	memcpy(&s->regs[off], &v, sizeof(v));
}

KVMHOST_API int kvmhost_x86_vcpu_setup_lint(struct kvmhost_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	int r;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	if (!irqchip_in_kernel(vcpu))
		return KH_FAIL(EINVAL,
			       "%s: vCPU %u: LINT0/LINT1 live in the local APIC; the VM has no in-kernel irqchip",
			       vcpu->vm->name, vcpu->id);
	r = kvmhost_x86_vcpu_get_lapic(vcpu, &lapic);
	if (r < 0)
		return r;
	/* Edge, active high, unmasked: what a BIOS leaves for virtual-wire
	 * mode, so 8259 interrupts and NMIs reach the CPU before the kernel
	 * programs its APIC. Other bits (vector, status) do not apply. */
	lapic_set_reg(&lapic, APIC_LVT0, APIC_DM_EXTINT);
	lapic_set_reg(&lapic, APIC_LVT1, APIC_DM_NMI);
	return kvmhost_x86_vcpu_set_lapic(vcpu, &lapic);
}

/* CPUID, then the MSRs (some depend on CPUID): what every vCPU gets. */
static int prepare_common(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_cpuid *cpuid)
{
	int r;

	if (cpuid) {
		r = kvmhost_x86_cpuid_apply(cpuid, vcpu);
		if (r < 0)
			return r;
	}
	return kvmhost_x86_vcpu_set_default_msrs(vcpu);
}

static int set_mp_state(struct kvmhost_vcpu *vcpu, uint32_t state)
{
	struct kvm_mp_state mp = {.mp_state = state};

	return kvmhost_vcpu_set_mp_state(vcpu, &mp);
}

KVMHOST_API int kvmhost_x86_vcpu_prepare_ap(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_cpuid *cpuid)
{
	int r;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	/* Without a local APIC in the kernel nothing would deliver the SIPI,
	 * and KVM refuses any state but RUNNABLE. */
	if (!irqchip_in_kernel(vcpu))
		return KH_FAIL(EINVAL, "%s: vCPU %u: an AP waits for INIT/SIPI, which needs an in-kernel irqchip",
			       vcpu->vm->name, vcpu->id);
	r = prepare_common(vcpu, cpuid);
	if (r < 0)
		return r;
	return set_mp_state(vcpu, KVM_MP_STATE_UNINITIALIZED);
}

static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* Refuse a GDT or page tables that would overwrite what the loader placed. */
static int check_clash(const char *what, uint64_t gpa, uint64_t len, const struct kvmhost_x86_boot_info *info,
		       const char *func)
{
	const struct {
		const char *name;
		uint64_t start, len;
	} placed[] = {
	    {"the kernel", info->kernel_start,
	     info->kernel_end > info->kernel_start ? info->kernel_end - info->kernel_start : 0},
	    {"the zero page", info->boot_params_gpa, info->boot_params_gpa ? 4096 : 0},
	    {"the command line", info->cmdline_gpa, info->cmdline_size},
	    {"the initrd", info->initrd_gpa, info->initrd_size},
	};

	for (size_t i = 0; i < KH_ARRAY_SIZE(placed); i++)
		if (ranges_overlap(gpa, len, placed[i].start, placed[i].len))
			return kh_fail(EINVAL, func, "%s at [0x%llx, 0x%llx) overlaps %s at [0x%llx, 0x%llx)", what,
				       (unsigned long long)gpa, (unsigned long long)(gpa + len), placed[i].name,
				       (unsigned long long)placed[i].start,
				       (unsigned long long)(placed[i].start + placed[i].len));
	return 0;
}

/* Write the boot GDT and load it, with CS = 0x10 and the data segments 0x18
 * (their hidden parts were set by the mode helper; only the selectors and
 * the GDTR change, so a later reload finds matching descriptors). */
static int load_boot_gdt(struct kvmhost_vcpu *vcpu, uint64_t gdt_gpa, int long_mode, const char *func)
{
	uint64_t gdt[GDT_ENTRIES] = {0, 0, long_mode ? DESC_CODE64 : DESC_CODE32, DESC_DATA};
	struct kvm_segment *data[5];
	struct kvm_sregs sregs;
	int r;

	r = kvmhost_memory_write(kvmhost_vm_memory(vcpu->vm), gdt_gpa, gdt, sizeof(gdt));
	if (r < 0)
		return kh_fail(-r, func, "%s: vCPU %u: cannot write the boot GDT at 0x%llx", vcpu->vm->name, vcpu->id,
			       (unsigned long long)gdt_gpa);
	r = kvmhost_x86_vcpu_get_sregs(vcpu, &sregs);
	if (r < 0)
		return r;
	sregs.gdt.base = gdt_gpa;
	sregs.gdt.limit = GDT_BYTES - 1;
	sregs.cs.selector = BOOT_CS;
	data[0] = &sregs.ds;
	data[1] = &sregs.es;
	data[2] = &sregs.fs;
	data[3] = &sregs.gs;
	data[4] = &sregs.ss;
	for (int i = 0; i < 5; i++)
		data[i]->selector = BOOT_DS;
	return kvmhost_x86_vcpu_set_sregs(vcpu, &sregs);
}

static int enter_long_mode(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_boot_info *info,
			   const struct kvmhost_x86_boot_vcpu_options *o, const char *func)
{
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};
	int r;

	lo.entry = info->entry;
	lo.stack = o->stack;
	lo.page_table_gpa = o->page_table_gpa;
	lo.identity_map_size = KVMHOST_X86_BOOT_IDENTITY_MAP_SIZE;
	r = kvmhost_x86_vcpu_setup_long_mode(vcpu, &lo);
	if (r < 0)
		return r;
	return load_boot_gdt(vcpu, o->gdt_gpa, 1, func);
}

static int enter_protected_mode(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_boot_info *info,
				const struct kvmhost_x86_boot_vcpu_options *o, int with_gdt, const char *func)
{
	int r;

	r = kvmhost_x86_vcpu_setup_protected_mode(vcpu, (uint32_t)info->entry, (uint32_t)info->rax,
						  (uint32_t)info->rbx);
	if (r < 0)
		return r;
	if (!with_gdt)
		return 0;
	return load_boot_gdt(vcpu, o->gdt_gpa, 0, func);
}

static int enter_real_mode(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_boot_info *info)
{
	uint16_t cs;

	cs = (uint16_t)((info->entry >> 4) & 0xf000);
	return kvmhost_x86_vcpu_setup_real_mode(vcpu, cs, (uint16_t)(info->entry - ((uint64_t)cs << 4)));
}

/* Every check before the first change to the vCPU, so a refused call leaves it as it was. */
static int validate(const struct kvmhost_x86_boot_info *bi, const struct kvmhost_x86_boot_vcpu_options *o,
		    const char *func)
{
	int long_mode, uses_gdt, r;

	if (o->raw_mode > KVMHOST_X86_RAW_LONG_64)
		return kh_fail(EINVAL, func, "unknown raw_mode %u", o->raw_mode);
	if (bi->kind < KVMHOST_X86_ENTRY_LINUX_64 || bi->kind > KVMHOST_X86_ENTRY_RAW)
		return kh_fail(EINVAL, func, "unknown entry kind %d", (int)bi->kind);
	long_mode = bi->kind == KVMHOST_X86_ENTRY_LINUX_64 ||
		    (bi->kind == KVMHOST_X86_ENTRY_RAW && o->raw_mode == KVMHOST_X86_RAW_LONG_64);
	uses_gdt = long_mode || bi->kind == KVMHOST_X86_ENTRY_LINUX_32;
	if (bi->kind == KVMHOST_X86_ENTRY_RAW && o->raw_mode == KVMHOST_X86_RAW_REAL &&
	    bi->entry >= KVMHOST_X86_HIGH_MEMORY_START)
		return kh_fail(EINVAL, func, "real-mode entry point 0x%llx is not below 1 MiB",
			       (unsigned long long)bi->entry);
	if (!long_mode && bi->entry > UINT32_MAX)
		return kh_fail(EINVAL, func, "32-bit entry point 0x%llx is above 4 GiB", (unsigned long long)bi->entry);
	if (uses_gdt) {
		if (o->gdt_gpa & 7)
			return kh_fail(EINVAL, func, "gdt_gpa 0x%llx is not 8-byte aligned",
				       (unsigned long long)o->gdt_gpa);
		r = check_clash("the boot GDT", o->gdt_gpa, GDT_BYTES, bi, func);
		if (r < 0)
			return r;
	}
	if (long_mode) {
		if (bi->identity_map_end > KVMHOST_X86_BOOT_IDENTITY_MAP_SIZE)
			return kh_fail(EINVAL, func, "the kernel needs [0, 0x%llx) identity-mapped; at most 1 GiB is",
				       (unsigned long long)bi->identity_map_end);
		if (o->page_table_gpa & 0xfff)
			return kh_fail(EINVAL, func, "page_table_gpa 0x%llx is not 4 KiB aligned",
				       (unsigned long long)o->page_table_gpa);
		r = check_clash("the page tables", o->page_table_gpa, PAGE_TABLE_BYTES, bi, func);
		if (r < 0)
			return r;
		if (ranges_overlap(o->gdt_gpa, GDT_BYTES, o->page_table_gpa, PAGE_TABLE_BYTES))
			return kh_fail(EINVAL, func, "the boot GDT at 0x%llx overlaps the page tables at 0x%llx",
				       (unsigned long long)o->gdt_gpa, (unsigned long long)o->page_table_gpa);
	}
	return 0;
}

KVMHOST_API int kvmhost_x86_vcpu_setup_boot(struct kvmhost_vcpu *vcpu, const struct kvmhost_x86_cpuid *cpuid,
					    const struct kvmhost_x86_boot_info *info,
					    const struct kvmhost_x86_boot_vcpu_options *opts)
{
	struct kvmhost_x86_boot_vcpu_options o;
	struct kvmhost_x86_boot_info bi;
	struct kvm_regs regs;
	int r;

	if (!vcpu || !info)
		return KH_FAIL(EINVAL, "vcpu or info is NULL");
	r = KH_COPY_OPTIONS(&bi, info);
	if (r < 0)
		return r;
	memset(&o, 0, sizeof(o));
	if (opts) {
		r = KH_COPY_OPTIONS(&o, opts);
		if (r < 0)
			return r;
	}
	if (!o.gdt_gpa)
		o.gdt_gpa = KVMHOST_X86_BOOT_GDT_GPA_DEFAULT;
	if (!o.page_table_gpa)
		o.page_table_gpa = KVMHOST_X86_BOOT_PAGE_TABLE_GPA_DEFAULT;
	if (!o.stack)
		o.stack = KVMHOST_X86_BOOT_STACK_DEFAULT;
	r = validate(&bi, &o, __func__);
	if (r < 0)
		return r;

	r = prepare_common(vcpu, cpuid);
	if (r < 0)
		return r;
	if (irqchip_in_kernel(vcpu)) {
		r = kvmhost_x86_vcpu_setup_lint(vcpu);
		if (r < 0)
			return r;
		/* vCPU 0 is runnable from creation; another BSP would still
		 * wait for a SIPI. */
		r = set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
		if (r < 0)
			return r;
	}

	switch (bi.kind) {
	case KVMHOST_X86_ENTRY_LINUX_64:
		r = enter_long_mode(vcpu, &bi, &o, __func__);
		break;
	case KVMHOST_X86_ENTRY_LINUX_32:
		r = enter_protected_mode(vcpu, &bi, &o, 1, __func__);
		break;
	case KVMHOST_X86_ENTRY_PVH_32:
	case KVMHOST_X86_ENTRY_MULTIBOOT_32:
		r = enter_protected_mode(vcpu, &bi, &o, 0, __func__);
		break;
	default: /* RAW */
		if (o.raw_mode == KVMHOST_X86_RAW_REAL)
			r = enter_real_mode(vcpu, &bi);
		else if (o.raw_mode == KVMHOST_X86_RAW_PROTECTED_32)
			r = enter_protected_mode(vcpu, &bi, &o, 0, __func__);
		else
			r = enter_long_mode(vcpu, &bi, &o, __func__);
		break;
	}
	if (r < 0)
		return r;

	/* The protocol's registers on top of what the mode helper set. */
	r = kvmhost_x86_vcpu_get_regs(vcpu, &regs);
	if (r < 0)
		return r;
	regs.rax = bi.rax;
	regs.rbx = bi.rbx;
	regs.rsi = bi.rsi;
	regs.rsp = o.stack;
	regs.rflags = 0x2;
	return kvmhost_x86_vcpu_set_regs(vcpu, &regs);
}
