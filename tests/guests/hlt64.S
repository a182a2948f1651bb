/* 64-bit long mode at CPL0: OUT the CS selector to port 0x64 (the host
 * checks it is the ring-0 code selector), then halt. */
	.code64
	.text
	.global _start
_start:
	mov %cs, %ax
	out %ax, $0x64
1:	hlt
	jmp 1b
