/* Real mode: halt at once. The smallest guest: proves run-to-HLT. */
	.code16
	.text
	.global _start
_start:
	hlt
	jmp _start
