/* Real mode: an endless stream of one-byte OUTs to port 0x10 carrying a
 * counter, one userspace exit each (bench/pio_roundtrip.c). */
	.code16
	.text
	.global _start
_start:
1:	outb %al, $0x10
	incb %al
	jmp 1b
