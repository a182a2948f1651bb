/*
 * A tiny arm64 "Image" for kvm/arm64_snapshot_test: counts timer interrupts across a snapshot and restore.
 * The Image header as machine_image.S. It sets its vector table and stack, enables PPI 27 (the virtual timer,
 * Group 1) in its redistributor, the distributor (ARE, Group 1) and its CPU interface (SRE, PMR, IGRPEN1),
 * arms the virtual timer (CNTV_CVAL_EL0 = CNTVCT_EL0 + CNTFRQ_EL0 / 100, CNTV_CTL_EL0 = 1) and prints
 * "start"; then spins, counting its loops at SCRATCH + 8, with IRQs unmasked. The IRQ handler acknowledges
 * (ICC_IAR1_EL1), counts INTID 27 at SCRATCH, re-arms the timer 10 ms on, and EOIs. At TICKS ticks it prints
 * "done" and powers off (PSCI SYSTEM_OFF). Registers: x19 the UART, x20 SCRATCH; the handler saves what it uses.
 */
#include "guest.inc"

#define GICD	0x08000000
#define SGI	0x080b0000
#define TICKS	100

	image_header entry

entry:
	image_regs
	add	x0, x20, #0x10000
	mov	sp, x0
	adr	x0, vectors
	msr	vbar_el1, x0
	isb
	str	xzr, [x20]
	str	xzr, [x20, #8]

	movz	x1, #(SGI >> 16), lsl #16
	mov	w0, #(1 << 27)
	str	w0, [x1, #0x80]		/* GICR_IGROUPR0: PPI 27 in Group 1 */
	str	w0, [x1, #0x100]	/* GICR_ISENABLER0 */
	movz	x1, #(GICD >> 16), lsl #16
	mov	w0, #0x12		/* GICD_CTLR: ARE, EnableGrp1 */
	str	w0, [x1]
1:	ldr	w0, [x1]
	tbnz	w0, #31, 1b		/* RWP */
	gic_cpuif_on
	bl	arm
	mov	x0, #1
	msr	cntv_ctl_el0, x0
	isb
	adr	x1, s_start
	bl	puts
	msr	daifclr, #2

loop:
	ldr	x0, [x20, #8]
	add	x0, x0, #1
	str	x0, [x20, #8]
	ldr	x1, [x20]
	cmp	x1, #TICKS
	b.lo	loop

	msr	daifset, #2
	adr	x1, s_done
	bl	puts
	psci	PSCI_SYSTEM_OFF
2:	wfi
	b	2b

/* arm: CNTV_CVAL_EL0 = CNTVCT_EL0 + CNTFRQ_EL0 / 100 (clobbers x2, x3) */
arm:
	mrs	x2, cntfrq_el0
	mov	x3, #100
	udiv	x2, x2, x3
	isb
	mrs	x3, cntvct_el0
	add	x2, x2, x3
	msr	cntv_cval_el0, x2
	isb
	ret

irq:
	stp	x0, x1, [sp, #-32]!
	stp	x2, x3, [sp, #16]
	mrs	x0, ICC_IAR1_EL1
	cmp	x0, #27
	b.ne	3f
	ldr	x1, [x20]
	add	x1, x1, #1
	str	x1, [x20]
	mov	x1, x30
	bl	arm
	mov	x30, x1
3:	msr	ICC_EOIR1_EL1, x0
	isb
	ldp	x2, x3, [sp, #16]
	ldp	x0, x1, [sp], #32
	eret

bad:
	adr	x1, s_bad
	bl	puts
4:	wfi
	b	4b

	puts_routine w9

s_start:	.asciz	"start\n"
s_done:		.asciz	"done\n"
s_bad:		.asciz	"unexpected exception\n"

	vector_table irq, bad
	.balign	8
