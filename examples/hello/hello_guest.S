/*
 * The hello guest: 16-bit real mode, linked to run at 0x1000. Writes the
 * message to port 0x3f8 (the first serial port's data register) one byte at
 * a time, then halts.
 */
	.code16
	.text
	.global _start
_start:
	cld
	mov $message, %si
	mov $0x3f8, %dx
1:	lodsb				/* al = next byte */
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	hlt
	jmp 2b

message:
	.asciz "Hello from the guest\n"
