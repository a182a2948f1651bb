/*
 * 64-bit long mode, for ioeventfd_test. Does RCX writes of RAX, then R10
 * writes of R11, each to the port (RSI = 0) or MMIO address (RSI = 1) in
 * RDX with width R8 (1, 2, 4 or 8; 8 for MMIO only); then OUT to port 0xf0
 * (done). The host sets these registers before each run.
 */
	.code64
	.text
	.global _start
_start:
1:	test %rcx, %rcx
	jz 2f
	call write_one
	dec %rcx
	jmp 1b
2:	mov %r11, %rax
3:	test %r10, %r10
	jz 4f
	call write_one
	dec %r10
	jmp 3b
4:	out %al, $0xf0			/* done */
5:	hlt
	jmp 5b

write_one:
	test %rsi, %rsi
	jnz mmio
	cmp $1, %r8
	je pio1
	cmp $2, %r8
	je pio2
	out %eax, (%dx)
	ret
pio1:	out %al, (%dx)
	ret
pio2:	out %ax, (%dx)
	ret
mmio:	cmp $1, %r8
	je mmio1
	cmp $2, %r8
	je mmio2
	cmp $4, %r8
	je mmio4
	mov %rax, (%rdx)
	ret
mmio1:	mov %al, (%rdx)
	ret
mmio2:	mov %ax, (%rdx)
	ret
mmio4:	mov %eax, (%rdx)
	ret
