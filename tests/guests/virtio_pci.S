/*
 * 64-bit long mode (CPL0), for tests/kvm/virtio_pci_test.c: the guest half
 * of a virtio-pci kick and its MSI-X interrupt. The host has already done
 * the driver's setup (MSI-X, queues, a posted request) through the bus and
 * enabled the local APIC. The guest installs IDT gates for vectors 0x41,
 * 0x51 and 0x61 (the MSI-X message's vector in rounds 1, 2 and 3), then
 * runs rounds forever: write the 16-bit queue index 0 to the notify
 * address (from %rdi at first, then from guest memory at 0x8fd0, where the
 * host puts it after moving the BAR), wait in `sti; hlt` for the
 * interrupt, write the number of interrupts taken (1 expected) to port
 * 0xf0. There is no EOI (the APIC's MMIO page is not mapped): each round's
 * vector is of a higher priority class than the last, which is still in
 * service and so does not block it.
 */
#define IDT   0x9000
#define IDTR  0x8ff0
#define COUNT 0x8fe0
#define NEWADDR 0x8fd0
#define VEC   0x41
#define VEC2  0x51
#define VEC3  0x61

	.code64
	.text
	.global _start
_start:
	cli
	mov %rdi, %r12
	movq $0, COUNT
	mov $IDT, %rdi
	xor %eax, %eax
	mov $512, %ecx
	rep stosq
	mov $(IDT + VEC * 16), %rdx
	call gate
	mov $(IDT + VEC2 * 16), %rdx
	call gate
	mov $(IDT + VEC3 * 16), %rdx
	call gate
	movw $0xfff, IDTR
	movq $IDT, IDTR + 2
	lidt IDTR

	mov %r12, NEWADDR
round:
	movq $0, COUNT
	mov NEWADDR, %r12		/* the host may have moved the BAR */
	movw $0, (%r12)			/* kick queue 0 */
1:	cli
	cmpq $0, COUNT
	jne 2f
	sti				/* sti; hlt: no interrupt slips in between */
	hlt
	jmp 1b
2:	mov COUNT, %al
	out %al, $0xf0
	jmp round

/* Write an interrupt gate to handler at %rdx. */
gate:
	lea handler(%rip), %rax
	mov %ax, (%rdx)
	movw $0x08, 2(%rdx)
	movw $0x8e00, 4(%rdx)		/* IST 0, present, DPL 0, interrupt gate */
	shr $16, %rax
	mov %ax, 6(%rdx)
	shr $16, %rax
	mov %eax, 8(%rdx)
	movl $0, 12(%rdx)
	ret

handler:
	incq COUNT
	iretq
