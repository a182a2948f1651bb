/*
 * 64-bit long mode (CPL0), for mmio_test: MMIO stores of 1, 2, 4 and 8 bytes
 * to a device at 0x10000000 (outside RAM), then loads of each size whose
 * values it reports with 4-byte OUTs to port 0x10 (8-byte values as low,
 * high); then loads from an unclaimed address and one straddling the
 * device's end, reported the same way; finally OUT to port 0x11 (done).
 * The host maps 1 GiB so that 0x10000000 and 0x20000000 are addressable.
 */
	.code64
	.text
	.global _start
_start:
	mov $0x10000000, %rbx		/* the device */
	movb $0x11, (%rbx)
	movw $0x2233, 0x2(%rbx)
	movl $0x44556677, 0x4(%rbx)
	mov $0x8899aabbccddeeff, %rax
	mov %rax, 0x8(%rbx)

	movzbl 0x10(%rbx), %eax
	out %eax, $0x10
	movzwl 0x12(%rbx), %eax
	out %eax, $0x10
	movl 0x14(%rbx), %eax
	out %eax, $0x10
	mov 0x18(%rbx), %rax
	out %eax, $0x10
	shr $32, %rax
	out %eax, $0x10

	mov $0x20000000, %rcx		/* nobody there */
	movzbl (%rcx), %eax
	out %eax, $0x10
	movl 0x4(%rcx), %eax
	out %eax, $0x10
	mov 0x8(%rcx), %rax
	out %eax, $0x10
	shr $32, %rax
	out %eax, $0x10

	movl 0xfe(%rbx), %eax		/* 4 bytes across the device's end (0x100 long) */
	out %eax, $0x10

	out %al, $0x11			/* done */
1:	hlt
	jmp 1b
