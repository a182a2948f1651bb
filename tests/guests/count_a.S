/* Real mode: OUT the bytes 0, 1, 2, ... 255, 0, ... (1000 of them) to port
 * 0x40, then halt. One of the two guests of two_vms_test. */
	.code16
	.text
	.global _start
_start:
	xor %al, %al
	mov $1000, %cx
1:	out %al, $0x40
	inc %al
	loop 1b
2:	hlt
	jmp 2b
