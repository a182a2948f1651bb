/*
 * A tiny arm64 "Image" for kvm/arm64_machine_test: the 64-byte Image header (text_offset 0, image_size 2 MiB,
 * flags 0xa: little-endian, 4 KiB pages, anywhere), then code the machine's loader enters like Linux (EL1h,
 * MMU off, x0 = the DTB). Position independent. Per boot:
 *  - counts its boots in RAM at 0x40800000 (past the image, kept over a reboot: the loader rewrites only the
 *    image, the DTB and the initrd), stores x0 (the DTB's address) at 0x40800008;
 *  - prints "boot N dtb ok" (or "dtb bad" when [x0] is not the FDT magic) on the 16550 at 0x09000000;
 *  - PSCI CPU_ON for the vCPU with MPIDR 1 (when the machine has one: the guest reads the count the test
 *    put in the command line, ignoring it and trying CPU_ON anyway: PSCI answers INVALID_PARAMETERS (-2) with
 *    no such vCPU); vCPU 1 prints "cpu1 up" and turns itself off (PSCI CPU_OFF), vCPU 0 waits for it;
 *  - boot 1: PSCI SYSTEM_RESET; boot 2: PSCI SYSTEM_OFF.
 * Registers: x19 the UART, x20 the RAM scratch, x21 the boot count, x22 the DTB.
 */
#include "guest.inc"

	image_header entry

entry:
	mov	x22, x0
	image_regs
	count_boot x21
	str	x22, [x20, #8]
	str	xzr, [x20, #16]		/* vCPU 1's flag */

	adr	x1, s_boot
	bl	puts
	add	w0, w21, #'0'
	strb	w0, [x19]
	ldr	w0, [x22]
	movz	w2, #0x0dd0
	movk	w2, #0xedfe, lsl #16	/* 0xd00dfeed read little-endian */
	adr	x1, s_ok
	cmp	w0, w2
	b.eq	1f
	adr	x1, s_bad
1:	bl	puts

	/* CPU_ON(target MPIDR 1, entry secondary, context 0) */
	movz	w0, #0x0003
	movk	w0, #0xc400, lsl #16
	mov	x1, #1
	adr	x2, secondary
	mov	x3, #0
	hvc	#0
	cbnz	x0, 3f			/* no such vCPU (one-vCPU machine): go on */
2:	ldr	x0, [x20, #16]
	cbz	x0, 2b
3:
	cmp	x21, #1
	b.ne	4f
	psci	PSCI_SYSTEM_RESET
4:	psci	PSCI_SYSTEM_OFF
	adr	x1, s_ret
	bl	puts
5:	wfi
	b	5b

secondary:
	image_regs
	adr	x1, s_cpu1
	bl	puts
	mov	x0, #1
	str	x0, [x20, #16]
	psci	PSCI_CPU_OFF
6:	wfi
	b	6b

	puts_routine w0

s_boot:	.asciz	"boot "
s_ok:	.asciz	" dtb ok\n"
s_bad:	.asciz	" dtb bad\n"
s_cpu1:	.asciz	"cpu1 up\n"
s_ret:	.asciz	"SYSTEM_OFF returned\n"
	.balign	8
