/*
 * The scale benchmark's tiny Multiboot kernel: halts with interrupts off, so
 * its vCPU sleeps in KVM (in-kernel irqchip) and costs no CPU until the
 * machine is stopped.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010000 /* a.out kludge */

	.code32
	.text
	.global _start
_start:
	jmp entry

	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header
	.long _start
	.long load_end
	.long load_end
	.long entry

entry:
	cli
1:	hlt
	jmp 1b

	.balign 4
load_end:
