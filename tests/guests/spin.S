/* Real mode: spin forever with interrupts off. Only a kick gets the vCPU
 * back to the VMM. */
	.code16
	.text
	.global _start
_start:
	cli
1:	jmp 1b
