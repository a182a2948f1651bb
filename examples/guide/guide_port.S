/*
 * The guide's port guest (docs/guide.md, step 3): 16-bit real mode, linked to run at 0x1000. It reads bytes from
 * port 0x510, the host's own "message" device of step3_device.c, until one is 0, writes each to COM1's data port
 * (0x3f8), then writes the count of bytes it read to the device's port 0x511 and halts.
 */
	.code16
	.text
	.global _start
_start:
	xor %cx, %cx
1:	mov $0x510, %dx
	in %dx, %al			/* the next byte of the message, 0 at its end */
	test %al, %al
	jz 2f
	inc %cx
	mov $0x3f8, %dx
	out %al, %dx
	jmp 1b
2:	mov $0x511, %dx
	mov %cl, %al
	out %al, %dx			/* tell the device how many bytes arrived */
3:	hlt
	jmp 3b
