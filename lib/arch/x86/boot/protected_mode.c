/*
 * The minimal boot vCPU state for the PVH and Multiboot entries: 32-bit
 * protected mode, paging off, flat segments from the hidden segment state
 * alone (no GDT in guest memory), a 32-bit TSS in TR as VM entry and the
 * PVH ABI want it, and the entry registers.
 */
#include <string.h>
#include <linux/kvm.h>

#include "../../../core/internal.h"
#include <kvmhost/x86.h>
#include <kvmhost/x86_boot.h>

#define X86_CR0_PE	     (1ull << 0)
#define X86_CR0_ET	     (1ull << 4)
#define SEG_CODE_RX_ACCESSED 0xb
#define SEG_DATA_RW_ACCESSED 0x3
#define SEG_TSS32_BUSY	     0xb
#define BOOT_CS		     0x10
#define BOOT_DS		     0x18

static void flat32(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->db = 1;
	s->g = 1;
}

KVMHOST_API int kvmhost_x86_vcpu_setup_protected_mode(struct kvmhost_vcpu *vcpu, uint32_t entry, uint32_t eax,
						      uint32_t ebx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int r;

	if (!vcpu)
		return KH_FAIL(EINVAL, "vcpu is NULL");
	r = kvmhost_x86_vcpu_get_sregs(vcpu, &sregs);
	if (r < 0)
		return r;
	flat32(&sregs.cs, BOOT_CS, SEG_CODE_RX_ACCESSED);
	flat32(&sregs.ds, BOOT_DS, SEG_DATA_RW_ACCESSED);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;

	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.limit = 0x67;
	sregs.tr.type = SEG_TSS32_BUSY;
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.unusable = 1;
	sregs.gdt.base = 0;
	sregs.gdt.limit = 0;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;

	/* Clearing CD/NW (set at reset) keeps guest memory cacheable; paging,
	 * PAE and long mode stay off even if an earlier setup set them. */
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	r = kvmhost_x86_vcpu_set_sregs(vcpu, &sregs);
	if (r < 0)
		return r;

	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rax = eax;
	regs.rbx = ebx;
	regs.rflags = 0x2;
	return kvmhost_x86_vcpu_set_regs(vcpu, &regs);
}
