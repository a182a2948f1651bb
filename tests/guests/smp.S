/*
 * SMP bring-up, for smp_test (FULL in-kernel irqchip). Every vCPU starts
 * here in real mode: the BSP because the host put it at 0:0x1000, each AP
 * because the BSP's SIPI with vector 1 starts it at 0x100:0 (= 0x1000). All
 * switch to 32-bit protected mode (flat, paging off) to reach the local
 * APIC at 0xfee00000, then tell the host who they are with one 32-bit OUT:
 *   0xa5 << 24 | CPUID.0xB:EDX (x2APIC ID) << 16 | CPUID.1:EBX[31:24] << 8 | LAPIC ID
 * to port 0xf0 (the BSP, IA32_APIC_BASE.BSP set) or 0xf1 (an AP).
 * The BSP then enables its APIC, sends INIT and SIPI, SIPI (vector 1) to
 * all but itself through the ICR, OUTs 1 to port 0xf2, and everyone halts
 * with interrupts off. Only relative jumps and DS-relative data are used in
 * real mode, so the code runs the same under CS=0 and CS=0x100.
 */
#define LAPIC_ID	0xfee00020
#define LAPIC_SVR	0xfee000f0
#define LAPIC_ICR_LO	0xfee00300
#define ICR_PENDING	0x1000
#define ICR_INIT_ALL_BUT_SELF	0x000c4500	/* shorthand 11, level assert, INIT */
#define ICR_SIPI_ALL_BUT_SELF	0x000c4600	/* shorthand 11, level assert, STARTUP */

	.code16
	.text
	.global _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl gdt_desc
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $pm32

	.code32
pm32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss

	/* report = 0xa5 << 24 | x2APIC ID << 16 | CPUID.1 APIC ID << 8 | LAPIC ID */
	mov LAPIC_ID, %esi
	shr $24, %esi
	mov $1, %eax
	cpuid
	shr $24, %ebx
	mov %ebx, %edi
	mov $0xb, %eax
	xor %ecx, %ecx
	cpuid
	movzbl %dl, %ebp
	shl $16, %ebp
	and $0xff, %edi
	shl $8, %edi
	or %edi, %ebp
	and $0xff, %esi
	or %esi, %ebp
	or $0xa5000000, %ebp

	mov $0x1b, %ecx			/* IA32_APIC_BASE */
	rdmsr
	test $0x100, %eax		/* BSP flag */
	jnz bsp

	mov %ebp, %eax
	out %eax, $0xf1
	jmp park

bsp:
	mov %ebp, %eax
	out %eax, $0xf0
	movl $0x1ff, LAPIC_SVR		/* software-enable, spurious vector 0xff */
	movl $ICR_INIT_ALL_BUT_SELF, LAPIC_ICR_LO
	call wait_icr
	movl $(ICR_SIPI_ALL_BUT_SELF | 0x01), LAPIC_ICR_LO	/* vector 1: start at 0x1000 */
	call wait_icr
	movl $(ICR_SIPI_ALL_BUT_SELF | 0x01), LAPIC_ICR_LO	/* the MP spec's second SIPI */
	call wait_icr
	mov $1, %al
	out %al, $0xf2
park:
	cli
1:	hlt
	jmp 1b

wait_icr:
	testl $ICR_PENDING, LAPIC_ICR_LO
	jnz wait_icr
	ret

	.p2align 3
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08: flat 32-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: flat data */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt
