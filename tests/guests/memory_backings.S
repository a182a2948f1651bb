/*
 * 64-bit long mode at CPL0, for memory_backings_test.c: reads the first
 * quadword of each extra region into RAM at 0x3000.. and writes a known
 * quadword at offset 8 of it:
 *   0x200000 memfd     -> result 0x3000, writes 0x1111222233334444
 *   0x400000 file      -> result 0x3008, writes 0x5555666677778888
 *   0x600000 read-only -> result 0x3010; its dword write at +8 must exit as
 *                         MMIO; then +8 read back -> result 0x3018
 *   0x800000 hugetlb, only if the byte at 0x3100 is non-zero
 *                      -> result 0x3020, writes 0x9999aaaabbbbcccc
 * then OUT 0xd0 and HLT. No stack is used.
 */
	.code64
	.text
	.global _start
_start:
	mov $0x200000, %rbx
	mov (%rbx), %rax
	mov %rax, 0x3000
	movabs $0x1111222233334444, %rax
	mov %rax, 8(%rbx)

	mov $0x400000, %rbx
	mov (%rbx), %rax
	mov %rax, 0x3008
	movabs $0x5555666677778888, %rax
	mov %rax, 8(%rbx)

	mov $0x600000, %rbx
	mov (%rbx), %rax
	mov %rax, 0x3010
	movl $0xdeadbeef, 8(%rbx)
	mov 8(%rbx), %rax
	mov %rax, 0x3018

	cmpb $0, 0x3100
	je 1f
	mov $0x800000, %rbx
	mov (%rbx), %rax
	mov %rax, 0x3020
	movabs $0x9999aaaabbbbcccc, %rax
	mov %rax, 8(%rbx)
1:
	mov $0xd0, %al
	out %al, $0xd0
2:	hlt
	jmp 2b
