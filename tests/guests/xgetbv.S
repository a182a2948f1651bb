/*
 * Real mode: XGETBV with CR4.OSXSAVE clear. Hardware raises #UD, whose
 * handler (installed here in the IVT) OUTs 0x43 to port 0x43 and halts. The
 * PVM host cannot emulate XGETBV at ring 0 and stops with a KVM internal
 * error (emulation failure) carrying the instruction bytes instead.
 */
	.code16
	.text
	.global _start
_start:
	movw $ud_handler, 0x18		/* IVT vector 6 (#UD): offset */
	movw $0, 0x1a			/* segment */
	xor %ecx, %ecx
	xgetbv
	mov $0x42, %al			/* not reached: XGETBV must fault */
	out %al, $0x42
	jmp 1f
ud_handler:
	mov $0x43, %al
	out %al, $0x43
1:	hlt
	jmp 1b
