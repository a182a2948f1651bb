/*
 * Real mode, for irqfd_test, with the in-kernel (FULL) irqchip: install IVT
 * entries for vectors 0x25 (IRQ 5, edge) and 0x23 (IRQ 3, level via the
 * ELCR), program both 8259s (vector bases 0x20/0x28), unmask IRQ 3 and 5,
 * OUT 1 to port 0xf0 (ready), then `sti; hlt` forever. The PIC and ELCR
 * ports are emulated in the kernel, so only ports 0xf0-0xf2 exit.
 * IRQ 5 handler: OUT 0x25 to port 0xf1, EOI, IRET.
 * IRQ 3 handler: OUT 0x23 to port 0xf1, EOI (which makes KVM lower the line
 * and signal the resample eventfd), OUT 0x33 to port 0xf2, IRET.
 */
	.code16
	.text
	.global _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x8000, %sp
	lidt idt_desc			/* real-mode IVT at 0, whatever the setup left */
	movw $edge_handler, 0x25 * 4
	movw $0, 0x25 * 4 + 2
	movw $level_handler, 0x23 * 4
	movw $0, 0x23 * 4 + 2

	mov $0x11, %al			/* ICW1: edge, cascade, ICW4 follows */
	out %al, $0x20
	mov $0x20, %al			/* ICW2: vectors 0x20-0x27 */
	out %al, $0x21
	mov $0x04, %al			/* ICW3: slave on IR2 */
	out %al, $0x21
	mov $0x01, %al			/* ICW4: 8086 mode */
	out %al, $0x21
	mov $0x11, %al
	out %al, $0xa0
	mov $0x28, %al
	out %al, $0xa1
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0xa1
	mov $0xff, %al			/* slave: all masked */
	out %al, $0xa1
	mov $0x4d0, %dx			/* ELCR1: IRQ 3 level-triggered */
	mov $0x08, %al
	out %al, %dx
	mov $0xd7, %al			/* OCW1: unmask IRQ 3 and 5 */
	out %al, $0x21

	mov $0x01, %al
	out %al, $0xf0			/* ready */
	sti
1:	hlt
	jmp 1b

edge_handler:
	push %ax
	mov $0x25, %al
	out %al, $0xf1
	mov $0x20, %al			/* OCW2: non-specific EOI */
	out %al, $0x20
	pop %ax
	iret

level_handler:
	push %ax
	mov $0x23, %al
	out %al, $0xf1
	mov $0x20, %al
	out %al, $0x20
	mov $0x33, %al
	out %al, $0xf2
	pop %ax
	iret

idt_desc:
	.word 0x3ff
	.long 0
