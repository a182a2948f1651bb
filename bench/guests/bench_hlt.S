/* Real mode: halt at once (bench/vm_bringup.c: bring-up to the first exit). */
	.code16
	.text
	.global _start
_start:
	hlt
