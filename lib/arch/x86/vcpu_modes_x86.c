/*
 * Helpers that put a vCPU straight into 16-bit real mode or 64-bit long mode,
 * for small guests that have no firmware. Long mode needs page tables in
 * guest memory; they are written through the VM's checked memory access, so
 * a table that does not fit fails with -EFAULT instead of scribbling.
 */
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include "../../core/internal.h"
#include "../../kvm/vcpu_internal.h"
#include <kvmhost/memory.h>
#include <kvmhost/x86.h>

#define X86_CR0_PE	 (1ull << 0)
#define X86_CR0_ET	 (1ull << 4)
#define X86_CR0_NE	 (1ull << 5)
#define X86_CR0_PG	 (1ull << 31)
#define X86_CR4_PAE	 (1ull << 5)
#define X86_EFER_LME	 (1ull << 8)
#define X86_EFER_LMA	 (1ull << 10)
#define X86_RFLAGS_FIXED 0x2ull
#define X86_RFLAGS_IOPL3 (3ull << 12)

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)

#define KH_PAGE 4096ull
#define KH_2M	(2ull << 20)
#define KH_1G	(1ull << 30)

/* Segment types (S=1): code execute/read accessed, data read/write accessed. */
#define SEG_CODE       0xb
#define SEG_DATA       0x3
#define SEG_TSS64_BUSY 0xb

KVMHOST_API int kvmhost_x86_vcpu_setup_real_mode(struct kvmhost_vcpu *vcpu, uint16_t cs, uint16_t ip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment *data[] = {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss};
	int r;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	r = kvmhost_x86_vcpu_get_sregs(vcpu, &sregs);
	if (r < 0)
		return r;
	sregs.cs.selector = cs;
	sregs.cs.base = (uint64_t)cs << 4;
	sregs.cs.limit = 0xffff;
	sregs.cs.type = SEG_CODE;
	sregs.cs.present = 1;
	sregs.cs.s = 1;
	sregs.cs.dpl = 0;
	sregs.cs.db = 0;
	sregs.cs.l = 0;
	sregs.cs.g = 0;
	sregs.cs.unusable = 0;
	for (size_t i = 0; i < KH_ARRAY_SIZE(data); i++) {
		struct kvm_segment *s = data[i];

		memset(s, 0, sizeof(*s));
		s->limit = 0xffff;
		s->type = SEG_DATA;
		s->present = 1;
		s->s = 1;
	}
	/* Back out of protected mode and paging if an earlier setup set them. */
	sregs.cr0 &= ~(X86_CR0_PE | X86_CR0_PG);
	sregs.cr4 &= ~X86_CR4_PAE;
	sregs.efer &= ~(X86_EFER_LME | X86_EFER_LMA);
	r = kvmhost_x86_vcpu_set_sregs(vcpu, &sregs);
	if (r < 0)
		return r;

	memset(&regs, 0, sizeof(regs));
	regs.rip = ip;
	regs.rflags = X86_RFLAGS_FIXED;
	return kvmhost_x86_vcpu_set_regs(vcpu, &regs);
}

/*
 * The flat GDT written at gdt_gpa when asked for:
 *   0x00 null, 0x08 kernel code (64-bit), 0x10 kernel data,
 *   0x18 user data (DPL3), 0x20 user code (64-bit, DPL3),
 *   0x28 a 64-bit TSS (two slots) whose 104 bytes follow the GDT in the page,
 *        then an I/O permission bitmap allowing ports 0 to 0x3fff.
 * User selectors carry RPL 3: CS 0x23, data 0x1b.
 *
 * User-mode guests get RFLAGS.IOPL = 3 so they can do port I/O, but some
 * hosts drop IOPL from the guest's RFLAGS (the nested PVM does: it reads back
 * 0 and IN/OUT at CPL3 then #GP); the bitmap lets I/O through there too.
 */
#define GDT_KCODE   0x08
#define GDT_KDATA   0x10
#define GDT_UDATA   0x18
#define GDT_UCODE   0x20
#define GDT_TSS	    0x28
#define GDT_ENTRIES 7
#define TSS_OFFSET  0x80
#define TSS_SIZE    0x68
#define IOMAP_PORTS 0x4000
/* TSS, bitmap, and the all-ones byte the CPU wants after the bitmap. */
#define TSS_LIMIT (TSS_SIZE + IOMAP_PORTS / 8)

static uint64_t kh_gdt_desc(uint64_t base, uint32_t limit, unsigned type, unsigned s, unsigned dpl, unsigned l,
			    unsigned db, unsigned g)
{
	return (limit & 0xffffull) | ((base & 0xffffffull) << 16) | ((uint64_t)type << 40) | ((uint64_t)s << 44) |
	       ((uint64_t)dpl << 45) | (1ull << 47) | ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)l << 53) |
	       ((uint64_t)db << 54) | ((uint64_t)g << 55) | (((base >> 24) & 0xffull) << 56);
}

static void kh_seg(struct kvm_segment *s, uint16_t selector, unsigned type, unsigned dpl, unsigned l, unsigned db)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = (uint8_t)type;
	s->present = 1;
	s->dpl = (uint8_t)dpl;
	s->db = (uint8_t)db;
	s->s = 1;
	s->l = (uint8_t)l;
	s->g = 1;
}

static int kh_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

KVMHOST_API int kvmhost_x86_vcpu_setup_long_mode(struct kvmhost_vcpu *vcpu,
						 const struct kvmhost_x86_long_mode_options *opts)
{
	struct kvmhost_x86_long_mode_options o;
	struct kvmhost_memory *mem;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t *pt, map_size, end, pte_flags;
	unsigned dpl;
	int r;

	if (!vcpu || !opts)
		return KH_FAIL(EINVAL, "vcpu or opts is NULL");
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	map_size = o.identity_map_size ? o.identity_map_size : KH_1G;
	if (o.page_table_gpa & (KH_PAGE - 1))
		return KH_FAIL(EINVAL, "page_table_gpa 0x%llx is not 4 KiB aligned",
			       (unsigned long long)o.page_table_gpa);
	if (kh_add_overflows(o.page_table_gpa, 3 * KH_PAGE, &end))
		return KH_FAIL(EINVAL, "page tables at 0x%llx wrap around", (unsigned long long)o.page_table_gpa);
	if (map_size > KH_1G || map_size & (KH_2M - 1))
		return KH_FAIL(EINVAL, "identity_map_size 0x%llx is not a multiple of 2 MiB up to 1 GiB",
			       (unsigned long long)map_size);
	if (o.user_mode > 1)
		return KH_FAIL(EINVAL, "user_mode is %u, not 0 or 1", o.user_mode);
	if (o.gdt_gpa & (KH_PAGE - 1))
		return KH_FAIL(EINVAL, "gdt_gpa 0x%llx is not 4 KiB aligned", (unsigned long long)o.gdt_gpa);
	if (o.gdt_gpa && kh_ranges_overlap(o.gdt_gpa, KH_PAGE, o.page_table_gpa, 3 * KH_PAGE))
		return KH_FAIL(EINVAL, "the GDT page 0x%llx overlaps the page tables at 0x%llx",
			       (unsigned long long)o.gdt_gpa, (unsigned long long)o.page_table_gpa);
	mem = kvmhost_vm_memory(vcpu->vm);
	if (!mem)
		return KH_FAIL(EINVAL, "%s: the VM has no memory map", vcpu->vm->name);

	/* PML4, PDPT and PD in three consecutive pages; each level maps only
	 * its first entry except the PD, which maps map_size / 2 MiB pages. */
	pt = calloc(3, KH_PAGE);
	if (!pt)
		return KH_FAIL(ENOMEM, "cannot allocate page tables");
	pte_flags = PTE_P | PTE_RW | (o.user_mode ? PTE_US : 0);
	pt[0] = (o.page_table_gpa + KH_PAGE) | pte_flags;
	pt[512] = (o.page_table_gpa + 2 * KH_PAGE) | pte_flags;
	for (uint64_t i = 0; i < map_size / KH_2M; i++)
		pt[1024 + i] = (i * KH_2M) | pte_flags | PTE_PS;
	r = kvmhost_memory_write(mem, o.page_table_gpa, pt, 3 * KH_PAGE);
	free(pt);
	if (r < 0)
		return KH_FAIL(-r, "%s: vCPU %u: cannot write the page tables at 0x%llx", vcpu->vm->name, vcpu->id,
			       (unsigned long long)o.page_table_gpa);

	r = kvmhost_x86_vcpu_get_sregs(vcpu, &sregs);
	if (r < 0)
		return r;
	dpl = o.user_mode ? 3 : 0;
	if (o.gdt_gpa) {
		_Alignas(8) uint8_t page[TSS_OFFSET + TSS_LIMIT + 1];
		uint64_t *gdt = (uint64_t *)(void *)page;
		uint64_t tss = o.gdt_gpa + TSS_OFFSET;

		memset(page, 0, sizeof(page));
		gdt[GDT_KCODE / 8] = kh_gdt_desc(0, 0xfffff, SEG_CODE, 1, 0, 1, 0, 1);
		gdt[GDT_KDATA / 8] = kh_gdt_desc(0, 0xfffff, SEG_DATA, 1, 0, 0, 1, 1);
		gdt[GDT_UDATA / 8] = kh_gdt_desc(0, 0xfffff, SEG_DATA, 1, 3, 0, 1, 1);
		gdt[GDT_UCODE / 8] = kh_gdt_desc(0, 0xfffff, SEG_CODE, 1, 3, 1, 0, 1);
		gdt[GDT_TSS / 8] = kh_gdt_desc(tss, TSS_LIMIT, SEG_TSS64_BUSY, 0, 0, 0, 0, 0);
		gdt[GDT_TSS / 8 + 1] = tss >> 32;
		/* TSS: RSP0 = the stack; the I/O bitmap right after the TSS,
		 * zero (allowed) bits, then the terminating 0xff. */
		memcpy(page + TSS_OFFSET + 4, &o.stack, sizeof(o.stack));
		page[TSS_OFFSET + 0x66] = TSS_SIZE & 0xff;
		page[TSS_OFFSET + 0x67] = TSS_SIZE >> 8;
		page[TSS_OFFSET + TSS_LIMIT] = 0xff;
		r = kvmhost_memory_write(mem, o.gdt_gpa, page, sizeof(page));
		if (r < 0)
			return KH_FAIL(-r, "%s: vCPU %u: cannot write the GDT at 0x%llx", vcpu->vm->name, vcpu->id,
				       (unsigned long long)o.gdt_gpa);
		sregs.gdt.base = o.gdt_gpa;
		sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
		sregs.tr.base = tss;
		sregs.tr.limit = TSS_LIMIT;
		sregs.tr.selector = GDT_TSS;
	} else {
		/* No GDT in memory: the hidden segment state is all the CPU
		 * needs until the guest reloads a selector or takes a fault.
		 * TR must still be a usable 64-bit TSS for VM entry; its
		 * contents (at 0) matter only for faults and, where IOPL is
		 * ignored, for user-mode I/O. */
		sregs.tr.base = 0;
		sregs.tr.limit = TSS_SIZE - 1;
		sregs.tr.selector = 0;
	}
	sregs.tr.type = SEG_TSS64_BUSY;
	sregs.tr.present = 1;
	sregs.tr.s = 0;
	sregs.tr.dpl = 0;
	sregs.tr.db = 0;
	sregs.tr.l = 0;
	sregs.tr.g = 0;
	sregs.tr.unusable = 0;

	kh_seg(&sregs.cs, o.user_mode ? GDT_UCODE | 3 : GDT_KCODE, SEG_CODE, dpl, 1, 0);
	kh_seg(&sregs.ds, o.user_mode ? GDT_UDATA | 3 : GDT_KDATA, SEG_DATA, dpl, 0, 1);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;

	sregs.cr3 = o.page_table_gpa;
	sregs.cr4 |= X86_CR4_PAE;
	/* Clearing CD/NW (set at reset) keeps guest memory cacheable. */
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	sregs.efer |= X86_EFER_LME | X86_EFER_LMA;
	r = kvmhost_x86_vcpu_set_sregs(vcpu, &sregs);
	if (r < 0)
		return r;

	memset(&regs, 0, sizeof(regs));
	regs.rip = o.entry;
	regs.rsp = o.stack;
	/* IOPL 3 lets user-mode code use IN/OUT, the way small guests talk to
	 * the VMM; ring-0 code is not affected. */
	regs.rflags = X86_RFLAGS_FIXED | (o.user_mode ? X86_RFLAGS_IOPL3 : 0);
	return kvmhost_x86_vcpu_set_regs(vcpu, &regs);
}
