/*
 * kvm tier: x86 vCPU state. Get/set round trips of regs, sregs, FPU, MSRs,
 * LAPIC (in-kernel irqchip), vCPU events, MP state, debug registers, XCRs and
 * XSAVE; the vCPU CPUID table from KVM's supported list; what the real-mode
 * and long-mode setup helpers leave in the registers and in guest memory;
 * and the bad-input paths of every state call.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <linux/kvm.h>

#include "kvm_test_util.h"

GUEST_DECLARE(hlt);

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_KERNEL_GS_BASE   0xc0000102
#define MSR_BOGUS	     0x4b564d7fu /* not an MSR any CPU or KVM has */

static void test_regs_sregs(struct kvmhost_vcpu *vcpu)
{
	struct kvm_regs r, r2;
	struct kvm_sregs s, s2;
	__u64 *gpr = &r.rax;

	CHECK_OK(kvmhost_x86_vcpu_get_regs(vcpu, &r));
	for (int i = 0; i < 16; i++) /* rax..r15 are the first 16 fields */
		gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	r.rip = 0x1234;
	r.rflags = 0x2 | 0x40 | 0x1; /* fixed bit, ZF, CF */
	CHECK_OK(kvmhost_x86_vcpu_set_regs(vcpu, &r));
	CHECK_OK(kvmhost_x86_vcpu_get_regs(vcpu, &r2));
	CHECK(memcmp(&r, &r2, sizeof(r)) == 0);

	CHECK_OK(kvmhost_x86_vcpu_get_sregs(vcpu, &s));
	s.es.selector = 0x1234;
	s.es.base = 0x12340;
	s.gs.base = 0xabcd0;
	s.cr8 = 5;
	CHECK_OK(kvmhost_x86_vcpu_set_sregs(vcpu, &s));
	CHECK_OK(kvmhost_x86_vcpu_get_sregs(vcpu, &s2));
	CHECK(s2.es.selector == 0x1234 && s2.es.base == 0x12340 && s2.gs.base == 0xabcd0 && s2.cr8 == 5);
	CHECK(memcmp(&s.cs, &s2.cs, sizeof(s.cs)) == 0);
	CHECK(s2.cr0 == s.cr0 && s2.cr4 == s.cr4 && s2.efer == s.efer);
}

static void test_fpu(struct kvmhost_vcpu *vcpu)
{
	struct kvm_fpu f, f2;

	CHECK_OK(kvmhost_x86_vcpu_get_fpu(vcpu, &f));
	f.fcw = 0x27f;
	for (int i = 0; i < 16; i++)
		f.xmm[0][i] = (uint8_t)(0xa0 + i);
	f.fpr[1][0] = 0x55;
	CHECK_OK(kvmhost_x86_vcpu_set_fpu(vcpu, &f));
	CHECK_OK(kvmhost_x86_vcpu_get_fpu(vcpu, &f2));
	CHECK(f2.fcw == 0x27f);
	CHECK(memcmp(f.xmm[0], f2.xmm[0], 16) == 0);
	CHECK(f2.fpr[1][0] == 0x55);
	CHECK(f2.mxcsr == f.mxcsr);
}

static void test_msrs(struct kvmhost_vcpu *vcpu)
{
	uint32_t idx[3] = {MSR_IA32_SYSENTER_CS, MSR_KERNEL_GS_BASE, 0};
	uint64_t val[3] = {0x10, 0xffff800012345000ull, 0}, got[3] = {0};
	uint32_t many_idx[150];
	uint64_t many_val[150];

	CHECK(kvmhost_x86_vcpu_set_msrs(vcpu, idx, val, 2) == 2);
	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, idx, got, 2) == 2);
	CHECK(got[0] == 0x10 && got[1] == 0xffff800012345000ull);

	/* Processing stops at the first MSR KVM refuses. */
	idx[1] = MSR_BOGUS;
	idx[2] = MSR_KERNEL_GS_BASE;
	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, idx, got, 3) == 1);
	CHECK(kvmhost_x86_vcpu_set_msrs(vcpu, idx, val, 3) == 1);

	/* More than one batch of 64. */
	for (int i = 0; i < 150; i++) {
		many_idx[i] = (i & 1) ? MSR_KERNEL_GS_BASE : MSR_IA32_SYSENTER_CS;
		many_val[i] = 0;
	}
	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, many_idx, many_val, 150) == 150);
	for (int i = 0; i < 150; i++)
		CHECK(many_val[i] == ((i & 1) ? 0xffff800012345000ull : 0x10));
	CHECK(kvmhost_x86_vcpu_set_msrs(vcpu, many_idx, many_val, 150) == 150);

	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, NULL, NULL, 0) == 0);
	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, NULL, got, 1) == -EINVAL && kvmhost_last_error()[0]);
	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, idx, NULL, 1) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_set_msrs(vcpu, idx, NULL, 1) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_get_msrs(vcpu, idx, got, (uint32_t)INT_MAX + 1) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_set_msrs(NULL, idx, val, 1) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_get_msrs(NULL, idx, got, 1) == -EINVAL);
}

static void test_events_debugregs(struct kvmhost_vcpu *vcpu)
{
	struct kvm_vcpu_events ev, ev2;
	struct kvm_debugregs d, d2;

	CHECK_OK(kvmhost_x86_vcpu_get_events(vcpu, &ev));
	ev.nmi.masked = 1;
	CHECK_OK(kvmhost_x86_vcpu_set_events(vcpu, &ev));
	CHECK_OK(kvmhost_x86_vcpu_get_events(vcpu, &ev2));
	CHECK(ev2.nmi.masked == 1 && ev2.exception.injected == ev.exception.injected);
	ev2.nmi.masked = 0;
	CHECK_OK(kvmhost_x86_vcpu_set_events(vcpu, &ev2));

	CHECK_OK(kvmhost_x86_vcpu_get_debugregs(vcpu, &d));
	d.db[0] = 0x1000;
	d.db[1] = 0x2000;
	d.db[3] = 0x4000;
	d.dr7 = 0x400 | 0x1 | 0x4; /* reserved bit 10, L0, L1 */
	CHECK_OK(kvmhost_x86_vcpu_set_debugregs(vcpu, &d));
	CHECK_OK(kvmhost_x86_vcpu_get_debugregs(vcpu, &d2));
	CHECK(d2.db[0] == 0x1000 && d2.db[1] == 0x2000 && d2.db[3] == 0x4000 && d2.dr7 == d.dr7);
}

static void test_xcrs_xsave(struct kvmhost_vcpu *vcpu)
{
	static struct kvm_xsave xs, xs2;
	struct kvm_xcrs x, x2;
	struct kvm_fpu f;
	int r;

	r = kvmhost_x86_vcpu_get_xcrs(vcpu, &x);
	if (r < 0) {
		printf("vcpu_state_test: xcrs sub-check skipped, KVM refuses KVM_GET_XCRS%s: %s\n",
		       test_kvm_is_pvm() ? " (PVM host)" : "", kvmhost_last_error());
	} else {
		CHECK(x.nr_xcrs >= 1 && x.xcrs[0].xcr == 0 && (x.xcrs[0].value & 1));
		CHECK_OK(kvmhost_x86_vcpu_set_xcrs(vcpu, &x));
		CHECK_OK(kvmhost_x86_vcpu_get_xcrs(vcpu, &x2));
		CHECK(x2.nr_xcrs == x.nr_xcrs && x2.xcrs[0].value == x.xcrs[0].value);
	}

	r = kvmhost_x86_vcpu_get_xsave(vcpu, &xs);
	if (r < 0) {
		printf("vcpu_state_test: xsave sub-check skipped, KVM refuses KVM_GET_XSAVE%s: %s\n",
		       test_kvm_is_pvm() ? " (PVM host)" : "", kvmhost_last_error());
		return;
	}
	/* FXSAVE layout: XMM1 at byte 176; the XSAVE header's XSTATE_BV at 512
	 * must flag SSE state (bit 1) or KVM takes XMM as in its init state. */
	((uint8_t *)xs.region)[176] = 0x77;
	((uint8_t *)xs.region)[512] |= 0x3;
	CHECK_OK(kvmhost_x86_vcpu_set_xsave(vcpu, &xs));
	CHECK_OK(kvmhost_x86_vcpu_get_xsave(vcpu, &xs2));
	CHECK(memcmp(xs.region, xs2.region, 512) == 0);
	CHECK_OK(kvmhost_x86_vcpu_get_fpu(vcpu, &f));
	CHECK(f.xmm[1][0] == 0x77); /* the same register seen through KVM_GET_FPU */
}

static void test_cpuid(struct kvmhost_system *sys, struct kvmhost_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e;
	uint32_t n = 0;

	CHECK(kvmhost_x86_system_get_supported_cpuid(sys, NULL, 0, &n) == -E2BIG && n > 0);
	e = calloc(n, sizeof(*e));
	CHECK(e != NULL);
	CHECK_OK(kvmhost_x86_system_get_supported_cpuid(sys, e, n, &n));
	CHECK_OK(kvmhost_x86_vcpu_set_cpuid(vcpu, e, n));
	CHECK(kvmhost_x86_vcpu_set_cpuid(vcpu, e, 0) == -EINVAL && kvmhost_last_error()[0]);
	CHECK(kvmhost_x86_vcpu_set_cpuid(vcpu, e, 257) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_set_cpuid(vcpu, NULL, 1) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_set_cpuid(NULL, e, 1) == -EINVAL);
	free(e);
}

static void test_mp_state_one_reg(struct kvmhost_vcpu *vcpu)
{
	struct kvm_mp_state mp;
	uint64_t v = 0;
	const uint64_t cap_args[4] = {1, 0, 0, 0};

	CHECK_OK(kvmhost_vcpu_get_mp_state(vcpu, &mp));
	CHECK(mp.mp_state == KVM_MP_STATE_RUNNABLE);
	CHECK_OK(kvmhost_vcpu_set_mp_state(vcpu, &mp));
	CHECK(kvmhost_vcpu_get_mp_state(vcpu, NULL) == -EINVAL && kvmhost_last_error()[0]);
	CHECK(kvmhost_vcpu_set_mp_state(NULL, &mp) == -EINVAL);
	/* No in-kernel LAPIC: KVM accepts only RUNNABLE. */
	mp.mp_state = KVM_MP_STATE_HALTED;
	CHECK(kvmhost_vcpu_set_mp_state(vcpu, &mp) < 0 && kvmhost_last_error()[0]);

	/* ONE_REG: argument checks; an id x86 KVM does not know fails. */
	CHECK(kvmhost_vcpu_get_one_reg(vcpu, KVM_REG_X86 | KVM_REG_SIZE_U64, NULL) == -EINVAL);
	CHECK(kvmhost_vcpu_set_one_reg(NULL, KVM_REG_X86 | KVM_REG_SIZE_U64, &v) == -EINVAL);
	CHECK(kvmhost_vcpu_get_one_reg(vcpu, KVM_REG_X86 | (9ull << KVM_REG_SIZE_SHIFT), &v) == -EINVAL);
	CHECK(kvmhost_vcpu_get_one_reg(vcpu, KVM_REG_X86 | KVM_REG_SIZE_U64 | 0xffffff, &v) < 0);
	CHECK(strstr(kvmhost_last_error(), "KVM_GET_ONE_REG") != NULL);
	CHECK(kvmhost_vcpu_set_one_reg(vcpu, KVM_REG_X86 | KVM_REG_SIZE_U64 | 0xffffff, &v) < 0);

	/* ENABLE_CAP on a vCPU: NULL is refused before the ioctl; a capability KVM has not (per vCPU) is KVM's
	 * error, with the ioctl named. */
	CHECK(kvmhost_vcpu_enable_cap(NULL, KVM_CAP_HYPERV_SYNIC2, NULL) == -EINVAL);
	CHECK(strstr(kvmhost_last_error(), "vcpu is NULL") != NULL);
	CHECK(kvmhost_vcpu_enable_cap(NULL, KVM_CAP_HYPERV_SYNIC2, cap_args) == -EINVAL);
	CHECK(kvmhost_vcpu_enable_cap(vcpu, 0xfffff, cap_args) < 0);
	CHECK(strstr(kvmhost_last_error(), "KVM_ENABLE_CAP") != NULL);
}

/* LAPIC and MP states beyond RUNNABLE need the in-kernel irqchip. */
static void test_lapic(struct kvmhost_system *sys)
{
	struct kvmhost_vm *vm;
	struct kvmhost_vcpu *vcpu;
	struct kvm_lapic_state l, l2;
	struct kvm_mp_state mp;
	int r;

	CHECK_OK(kvmhost_vm_create(sys, NULL, &vm));
	r = kvmhost_x86_vm_create_irqchip(vm, KVMHOST_X86_IRQCHIP_FULL, 0);
	if (r < 0) {
		printf("vcpu_state_test: lapic sub-check skipped, no in-kernel irqchip: %s\n", kvmhost_last_error());
		kvmhost_vm_destroy(vm);
		return;
	}
	CHECK_OK(kvmhost_vcpu_create(vm, 0, &vcpu));
	CHECK_OK(kvmhost_x86_vcpu_get_lapic(vcpu, &l));
	l.regs[0x80] = 0x20; /* TPR */
	CHECK_OK(kvmhost_x86_vcpu_set_lapic(vcpu, &l));
	CHECK_OK(kvmhost_x86_vcpu_get_lapic(vcpu, &l2));
	CHECK(l2.regs[0x80] == 0x20);
	CHECK(memcmp(&l.regs[0x20], &l2.regs[0x20], 4) == 0); /* APIC ID */

	mp.mp_state = KVM_MP_STATE_HALTED;
	CHECK_OK(kvmhost_vcpu_set_mp_state(vcpu, &mp));
	CHECK_OK(kvmhost_vcpu_get_mp_state(vcpu, &mp));
	CHECK(mp.mp_state == KVM_MP_STATE_HALTED);
	kvmhost_vm_destroy(vm);
}

static void test_setup_helpers(struct kvmhost_system *sys)
{
	struct kvmhost_x86_long_mode_options lo = {.size = sizeof(lo)};
	struct test_vm t;
	struct kvm_sregs s;
	struct kvm_regs r;
	uint64_t pml4e, pdpte, pde[2], gdt[7];

	test_vm_create_real(&t, sys, GUEST_BYTES(hlt), GUEST_SIZE(hlt));
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t.vcpu, 0x100, 0x10));
	CHECK_OK(kvmhost_x86_vcpu_get_sregs(t.vcpu, &s));
	CHECK_OK(kvmhost_x86_vcpu_get_regs(t.vcpu, &r));
	CHECK(s.cs.selector == 0x100 && s.cs.base == 0x1000 && s.cs.limit == 0xffff && r.rip == 0x10);
	CHECK(!(s.cr0 & 1) && r.rflags == 2 && s.ds.base == 0);

	/* Long mode at CPL3 with a GDT. */
	lo.entry = 0x1000;
	lo.stack = 0x80000;
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = 4u << 20;
	lo.user_mode = 1;
	lo.gdt_gpa = 0x104000;
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo));
	CHECK_OK(kvmhost_x86_vcpu_get_sregs(t.vcpu, &s));
	CHECK_OK(kvmhost_x86_vcpu_get_regs(t.vcpu, &r));
	CHECK((s.cr0 & 0x80000031u) == 0x80000031u); /* PG, NE, ET, PE */
	CHECK(s.cr4 & 0x20);			     /* PAE */
	CHECK((s.efer & 0x500) == 0x500);	     /* LME, LMA */
	CHECK(s.cr3 == 0x100000);
	CHECK(s.cs.l == 1 && s.cs.dpl == 3 && (s.cs.selector & 3) == 3);
	CHECK(s.ss.dpl == 3 && (s.ss.selector & 3) == 3 && (s.ds.selector & 3) == 3);
	CHECK(s.gdt.base == 0x104000 && s.gdt.limit == 7 * 8 - 1);
	CHECK(s.tr.type == 11 && s.tr.present);
	CHECK(r.rip == 0x1000 && r.rsp == 0x80000 && (r.rflags & 0x3000) == 0x3000);
	memcpy(&pml4e, t.ram_host + 0x100000, 8);
	memcpy(&pdpte, t.ram_host + 0x101000, 8);
	memcpy(pde, t.ram_host + 0x102000, 16);
	CHECK(pml4e == (0x101000 | 7) && pdpte == (0x102000 | 7));
	CHECK(pde[0] == (0x87) && pde[1] == (0x200000 | 0x87));
	CHECK(*(uint64_t *)(t.ram_host + 0x102000 + 2 * 8) == 0); /* 4 MiB mapped: 2 entries */
	memcpy(gdt, t.ram_host + 0x104000, sizeof(gdt));
	CHECK(gdt[0] == 0 && gdt[1] == 0x00af9b000000ffffull && gdt[4] == 0x00affb000000ffffull);
	CHECK(gdt[3] == 0x00cff3000000ffffull);
	/* TSS after the GDT: I/O bitmap at 0x68 allowing ports 0-0x3fff, then 0xff. */
	CHECK(s.tr.base == 0x104080 && s.tr.limit == 0x68 + 0x800 && s.tr.selector == 0x28);
	CHECK(t.ram_host[0x104080 + 0x66] == 0x68 && t.ram_host[0x104080 + 0x67] == 0);
	CHECK(t.ram_host[0x104080 + 0x68] == 0 && t.ram_host[0x104080 + 0x68 + 0x7ff] == 0);
	CHECK(t.ram_host[0x104080 + 0x68 + 0x800] == 0xff);
	CHECK(memcmp(t.ram_host + 0x104080 + 4, &lo.stack, 8) == 0); /* RSP0 */

	/* At CPL0 without a GDT: no U/S bit, kernel selectors. */
	lo.user_mode = 0;
	lo.gdt_gpa = 0;
	lo.identity_map_size = 0; /* 1 GiB */
	CHECK_OK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo));
	CHECK_OK(kvmhost_x86_vcpu_get_sregs(t.vcpu, &s));
	CHECK(s.cs.dpl == 0 && s.cs.selector == 0x08 && s.cs.l == 1);
	memcpy(&pml4e, t.ram_host + 0x100000, 8);
	memcpy(pde, t.ram_host + 0x102000 + 511 * 8, 8);
	CHECK(pml4e == (0x101000 | 3) && pde[0] == (511ull * 0x200000 | 0x83));

	/* Back to real mode from long mode. */
	CHECK_OK(kvmhost_x86_vcpu_setup_real_mode(t.vcpu, 0, 0x1000));
	CHECK_OK(kvmhost_x86_vcpu_get_sregs(t.vcpu, &s));
	CHECK(!(s.cr0 & 0x80000001u) && !(s.efer & 0x500));
	CHECK(test_run(&t)->reason == KVMHOST_EXIT_HLT);

	/* Bad options. */
	lo.page_table_gpa = 0x100800;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL && kvmhost_last_error()[0]);
	lo.page_table_gpa = 0x100000;
	lo.identity_map_size = (1ull << 30) + (2u << 20);
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	lo.identity_map_size = 3u << 20;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	lo.identity_map_size = 2u << 20;
	lo.user_mode = 2;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	lo.user_mode = 0;
	lo.gdt_gpa = 0x102000;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	lo.gdt_gpa = 0x104001;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	lo.gdt_gpa = 0;
	lo.page_table_gpa = t.ram_size - 0x1000; /* tables run past RAM */
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EFAULT && kvmhost_last_error()[0]);
	lo.page_table_gpa = 0xfffffffffffff000ull;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	lo.page_table_gpa = 0x100000;
	lo.gdt_gpa = t.ram_size; /* GDT outside RAM */
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EFAULT);
	lo.size = 4;
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, &lo) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_setup_long_mode(t.vcpu, NULL) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_setup_long_mode(NULL, &lo) == -EINVAL);
	CHECK(kvmhost_x86_vcpu_setup_real_mode(NULL, 0, 0) == -EINVAL);
	test_vm_destroy(&t);
}

/* Every state call refuses a NULL vCPU and a NULL state pointer with a message. */
static void test_null_args(struct kvmhost_vcpu *vcpu)
{
	union {
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_fpu fpu;
		struct kvm_lapic_state lapic;
		struct kvm_vcpu_events events;
		struct kvm_debugregs dregs;
		struct kvm_xcrs xcrs;
		struct kvm_xsave xsave;
	} *u = calloc(1, sizeof(*u));

	CHECK(u != NULL);
#define BAD(get, set, member)                                                                                          \
	do {                                                                                                           \
		CHECK(get(NULL, &u->member) == -EINVAL && kvmhost_last_error()[0]);                                    \
		CHECK(get(vcpu, NULL) == -EINVAL && strstr(kvmhost_last_error(), #get));                               \
		CHECK(set(NULL, &u->member) == -EINVAL);                                                               \
		CHECK(set(vcpu, NULL) == -EINVAL && strstr(kvmhost_last_error(), #set));                               \
	} while (0)
	BAD(kvmhost_x86_vcpu_get_regs, kvmhost_x86_vcpu_set_regs, regs);
	BAD(kvmhost_x86_vcpu_get_sregs, kvmhost_x86_vcpu_set_sregs, sregs);
	BAD(kvmhost_x86_vcpu_get_fpu, kvmhost_x86_vcpu_set_fpu, fpu);
	BAD(kvmhost_x86_vcpu_get_lapic, kvmhost_x86_vcpu_set_lapic, lapic);
	BAD(kvmhost_x86_vcpu_get_events, kvmhost_x86_vcpu_set_events, events);
	BAD(kvmhost_x86_vcpu_get_debugregs, kvmhost_x86_vcpu_set_debugregs, dregs);
	BAD(kvmhost_x86_vcpu_get_xcrs, kvmhost_x86_vcpu_set_xcrs, xcrs);
	BAD(kvmhost_x86_vcpu_get_xsave, kvmhost_x86_vcpu_set_xsave, xsave);
#undef BAD
	/* No in-kernel LAPIC in this VM: KVM's error comes back with a message. */
	CHECK(kvmhost_x86_vcpu_get_lapic(vcpu, &u->lapic) < 0 && strstr(kvmhost_last_error(), "KVM_GET_LAPIC"));
	free(u);
}

int main(void)
{
	struct kvmhost_system *sys = test_open_system();
	struct test_vm t;

	test_vm_create_real(&t, sys, GUEST_BYTES(hlt), GUEST_SIZE(hlt));
	test_cpuid(sys, t.vcpu);
	test_regs_sregs(t.vcpu);
	test_fpu(t.vcpu);
	test_msrs(t.vcpu);
	test_events_debugregs(t.vcpu);
	test_xcrs_xsave(t.vcpu);
	test_mp_state_one_reg(t.vcpu);
	test_null_args(t.vcpu);
	test_vm_destroy(&t);
	test_lapic(sys);
	test_setup_helpers(sys);
	kvmhost_system_close(sys);
	printf("vcpu_state_test: pass\n");
	return TEST_PASS;
}
