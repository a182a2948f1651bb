/* Real mode: OUT the 16-bit values 0xb000, 0xafff, ... (700 of them,
 * counting down) to port 0x41, then halt. The other guest of two_vms_test. */
	.code16
	.text
	.global _start
_start:
	mov $0xb000, %ax
	mov $700, %cx
1:	out %ax, $0x41
	dec %ax
	loop 1b
2:	hlt
	jmp 2b
