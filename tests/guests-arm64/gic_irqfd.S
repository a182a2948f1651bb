/*
 * arm64, EL1h, MMU off, position independent: for kvm/arm64_gic_test. Sets VBAR_EL1 to its vector table,
 * configures the GICv3 distributor at 0x08000000 (SPIs 5 and 7, INTIDs 37 and 39, edge; SPI 6, INTID 38,
 * level; all three Group 1, enabled; affinity routing and Group 1 on) and the CPU interface through the ICC_*
 * system registers (SRE, PMR 0xff, IGRPEN1), then runs three rounds: store the round number (1, 2, 3) to
 * 0x10000000 (an MMIO exit: the host injects one interrupt), then WFI with IRQs masked and unmask them briefly,
 * until the handler has run.
 * The IRQ handler reads ICC_IAR1_EL1, stores the INTID to 0x10000008 (the host lowers a level line here),
 * then writes ICC_EOIR1_EL1. After the third round, PSCI SYSTEM_OFF by HVC. Any other exception stores
 * ESR_EL1 to 0x10000010 and loops.
 * Registers: x19 the report device, x20 "handler ran", x21 the GICD, x22 the round (PSCI clobbers x0-x3).
 */
#include "guest.inc"

#define ICC_IAR1_EL1 S3_0_C12_C12_0
#define ICC_EOIR1_EL1 S3_0_C12_C12_1

	.text
	.global _start
_start:
	movz	x19, #0x1000, lsl #16
	movz	x21, #0x0800, lsl #16
	adr	x0, vectors
	msr	vbar_el1, x0
	isb

	/* Distributor: off, configure, on (ARE_NS | EnableGrp1NS; KVM has one security state). */
	str	wzr, [x21]
1:	ldr	w0, [x21]
	tbnz	w0, #31, 1b			/* GICD_CTLR.RWP */
	mov	w0, #0x8800			/* GICD_ICFGR2: INTID 37 (bit 11) and 39 (bit 15) edge, 38 level */
	str	w0, [x21, #0xc08]
	mov	w0, #0xe0			/* INTIDs 37-39 */
	str	w0, [x21, #0x84]		/* GICD_IGROUPR1: Group 1 */
	str	w0, [x21, #0x104]		/* GICD_ISENABLER1 */
	mov	w0, #0x12
	str	w0, [x21]
2:	ldr	w0, [x21]
	tbnz	w0, #31, 2b

	/* CPU interface. */
	gic_cpuif_on

	mov	x22, #1
round:
	mov	x20, #0
	str	w22, [x19]			/* "round n": the host injects */
	/* Wait with IRQs masked (WFI wakes on a pending interrupt all the same), then open a window to take it:
	 * unmasked around the WFI, an interrupt taken just before it would return to the WFI and sleep there. */
3:	wfi
	msr	daifclr, #2
	isb
	msr	daifset, #2
	cbz	x20, 3b
	add	x22, x22, #1
	cmp	x22, #4
	b.ne	round

	psci	PSCI_SYSTEM_OFF
	movz	w2, #0xdead
	str	w2, [x19, #16]
4:	wfi
	b	4b

irq:
	mrs	x0, ICC_IAR1_EL1
	str	w0, [x19, #8]
	msr	ICC_EOIR1_EL1, x0
	isb
	mov	x20, #1
	eret

bad:
	mrs	x0, esr_el1
	str	w0, [x19, #16]
5:	wfi
	b	5b

	vector_table irq, bad
