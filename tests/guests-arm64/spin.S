/* arm64 twin of tests/guests/spin.S: spin forever with interrupts masked (DAIF). Only a kick gets the vCPU back
 * to the VMM. */
	.text
	.global _start
_start:
	msr	daifset, #0xf
1:	b	1b
