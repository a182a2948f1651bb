/*
 * A tiny arm64 "Image" for kvm/arm64_gic_reset_test: does a reboot give the next boot a vGIC in its power-on
 * state? The Image header as machine_image.S (text_offset 0, image_size 2 MiB, flags 0xa). Boot count at
 * SCRATCH (past the image: a reboot reloads only image, DTB and initrd); the host test puts 1 at SCRATCH + 8
 * when the machine has an ITS.
 *  - boot 1: reads every register of the table below (and ICC_PMR_EL1, ICC_IGRPEN1_EL1) into SCRATCH + 0x100
 *    (what a freshly made vGIC shows), then changes each: the distributor on (GICD_CTLR), SPI 20 (INTID 52)
 *    enabled, pending and at priority 0x80, PPI 20 enabled and pending, the LPI tables' bases set and LPIs on
 *    (GICR_CTLR.EnableLPIs), the ITS's command queue and tables set and the ITS on, the CPU interface's priority mask and
 *    group 1 enable; prints "boot 1" and resets (PSCI SYSTEM_RESET);
 *  - boot 2: reads them again and prints "<name> ok" where a register is as boot 1 first found it, else
 *    "<name> stale"; then PSCI SYSTEM_OFF.
 * Interrupts stay masked (DAIF as the loader leaves it): the pending ones are never taken.
 * Registers: x19 the UART, x20 the scratch, x21 the boot count, x23 the table, x24 its index, x25 the ITS flag,
 * x26 the saved values (SCRATCH + 0x100).
 */
#include "guest.inc"

#define GICD	0x08000000
#define GITS	0x08080000
#define GICR	0x080a0000
#define SGI	0x080b0000

	image_header entry

entry:
	image_regs
	count_boot x21
	ldr	x25, [x20, #8]
	add	x26, x20, #0x100	/* the values boot 1 first found */
	cmp	x21, #1
	b.ne	boot2

	/* boot 1: what the vGIC shows first */
	mov	x24, #0
	adr	x23, table
1:	bl	entry_read		/* x0 = the value, x2 = the width; x0 = 0 past the table's end: x3 = 0 */
	cbz	x3, 2f
	str	x0, [x26, x24, lsl #3]
	add	x24, x24, #1
	b	1b
2:	mrs	x0, ICC_PMR_EL1
	str	x0, [x20, #0x1f0]
	mrs	x0, ICC_IGRPEN1_EL1
	str	x0, [x20, #0x1f8]

	/* then change each */
	movz	x1, #(GICD >> 16), lsl #16
	mov	w0, #3
	str	w0, [x1]		/* GICD_CTLR: EnableGrp0 | EnableGrp1 */
	mov	w0, #(1 << 20)
	str	w0, [x1, #0x104]	/* GICD_ISENABLER1: INTID 52 */
	str	w0, [x1, #0x204]	/* GICD_ISPENDR1 */
	mov	w0, #0x80
	strb	w0, [x1, #0x434]	/* GICD_IPRIORITYR: INTID 52 */
	movz	x1, #(SGI >> 16), lsl #16
	mov	w0, #(1 << 20)
	str	w0, [x1, #0x100]	/* GICR_ISENABLER0: PPI 20 */
	str	w0, [x1, #0x200]	/* GICR_ISPENDR0 */
	movz	x1, #(GICR >> 16), lsl #16
	movz	x0, #0x4090, lsl #16	/* PROPBASER: a table in RAM, IDbits 13 (LPIs 8192-16383) */
	movk	x0, #13
	str	x0, [x1, #0x70]
	movz	x0, #0x40a0, lsl #16	/* PENDBASER: a table in RAM */
	str	x0, [x1, #0x78]
	mov	w0, #1
	str	w0, [x1]		/* GICR_CTLR.EnableLPIs */
	cbz	x25, 3f
	movz	x1, #(GITS >> 16), lsl #16
	movz	x0, #0x40b0, lsl #16	/* GITS_CBASER: Valid, one 4 KiB page in RAM */
	orr	x0, x0, #0x8000000000000000
	str	x0, [x1, #0x80]
	movz	x0, #0x40c0, lsl #16	/* GITS_BASER0, the device table: Valid, one 4 KiB page */
	orr	x0, x0, #0x8000000000000000
	str	x0, [x1, #0x100]
	movz	x0, #0x40d0, lsl #16	/* GITS_BASER1, the collection table: the same */
	orr	x0, x0, #0x8000000000000000
	str	x0, [x1, #0x108]
	mov	w0, #1
	str	w0, [x1]		/* GITS_CTLR.Enabled (KVM wants the three tables valid first) */
3:	mov	x0, #0xf0
	msr	ICC_PMR_EL1, x0
	mov	x0, #1
	msr	ICC_IGRPEN1_EL1, x0
	isb
	adr	x1, s_boot1
	bl	puts
	psci	PSCI_SYSTEM_RESET
	b	off

boot2:
	adr	x1, s_boot2
	bl	puts
	mov	x24, #0
	adr	x23, table
4:	bl	entry_read
	cbz	x3, 5f
	ldr	x4, [x26, x24, lsl #3]
	add	x24, x24, #1
	mov	x1, x23			/* the name follows the entry's two quads */
	sub	x1, x1, #16
	bl	puts
	bl	verdict
	b	4b
5:	mrs	x0, ICC_PMR_EL1
	ldr	x4, [x20, #0x1f0]
	adr	x1, s_pmr
	bl	puts
	bl	verdict
	mrs	x0, ICC_IGRPEN1_EL1
	ldr	x4, [x20, #0x1f8]
	adr	x1, s_igrpen1
	bl	puts
	bl	verdict
off:	psci	PSCI_SYSTEM_OFF
6:	wfi
	b	6b

/*
 * entry_read: the table entry at x23 (.quad address, .quad width | its-only << 8, then a 16-byte name): x0 its
 * register's value, x3 = 1, x23 advanced to the name (callers back up 16 for it) plus the name; an address of
 * 0 ends the table: x3 = 0. An ITS-only entry without an ITS (x25 = 0) reads as 0. Clobbers x1, x2.
 */
entry_read:
	ldr	x1, [x23], #8
	cbz	x1, 9f
	ldr	x2, [x23], #8
	add	x23, x23, #16		/* past the name */
	mov	x0, #0
	mov	x3, #1
	tbz	x2, #8, 7f
	cbz	x25, 8f
7:	and	x2, x2, #0xff
	cmp	x2, #8
	b.eq	71f
	ldr	w0, [x1]
	ret
71:	ldr	x0, [x1]
8:	ret
9:	mov	x3, #0
	ret

/* verdict: x0 now, x4 before: print " ok\n", or " stale <before> <now>\n" in hex (clobbers x0-x3, x6, x9; keeps
 * x30 in x5) */
verdict:
	mov	x5, x30
	cmp	x0, x4
	b.ne	1f
	adr	x1, s_ok
	bl	puts
	mov	x30, x5
	ret
1:	mov	x6, x0
	adr	x1, s_stale
	bl	puts
	mov	x0, x4
	bl	puthex
	mov	x0, #' '
	strb	w0, [x19]
	mov	x0, x6
	bl	puthex
	mov	x0, #'\n'
	strb	w0, [x19]
	mov	x30, x5
	ret

/* puthex: x0 as 16 hex digits (clobbers x1-x3) */
puthex:
	mov	x2, #60
1:	lsr	x1, x0, x2
	and	x1, x1, #0xf
	cmp	x1, #10
	add	x3, x1, #'0'
	add	x1, x1, #('a' - 10)
	csel	x1, x3, x1, lo
	strb	w1, [x19]
	subs	x2, x2, #4
	b.ge	1b
	ret

/* puts (guest.inc) clobbers x9 only: x0 is the caller's value */
	puts_routine w9

	.balign	8
table:
	.quad	GICD, 4
	.ascii	"GICD_CTLR\0\0\0\0\0\0\0"
	.quad	GICD + 0x104, 4
	.ascii	"GICD_ISENABLER1\0"
	.quad	GICD + 0x204, 4
	.ascii	"GICD_ISPENDR1\0\0\0"
	.quad	GICD + 0x434, 4
	.ascii	"GICD_IPRIORITYR\0"
	.quad	GICR, 4
	.ascii	"GICR_CTLR\0\0\0\0\0\0\0"
	.quad	GICR + 0x70, 8
	.ascii	"GICR_PROPBASER\0\0"
	.quad	GICR + 0x78, 8
	.ascii	"GICR_PENDBASER\0\0"
	.quad	SGI + 0x100, 4
	.ascii	"GICR_ISENABLER0\0"
	.quad	SGI + 0x200, 4
	.ascii	"GICR_ISPENDR0\0\0\0"
	.quad	GITS, 0x104
	.ascii	"GITS_CTLR\0\0\0\0\0\0\0"
	.quad	GITS + 0x80, 0x108
	.ascii	"GITS_CBASER\0\0\0\0\0"
	.quad	GITS + 0x100, 0x108
	.ascii	"GITS_BASER0\0\0\0\0\0"
	.quad	0
s_boot1:	.asciz	"boot 1\n"
s_boot2:	.asciz	"boot 2\n"
s_ok:		.asciz	" ok\n"
s_stale:	.asciz	" stale "
s_pmr:		.asciz	"ICC_PMR_EL1"
s_igrpen1:	.asciz	"ICC_IGRPEN1_EL1"
	.balign	8
