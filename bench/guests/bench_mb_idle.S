/*
 * The scale benchmark's tiny Multiboot kernel: halts with interrupts off, so
 * its vCPU sleeps in KVM (in-kernel irqchip) and costs no CPU until the
 * machine is stopped.
 */
#include "../../tests/guests-multiboot/mb_header.h"

	MULTIBOOT_START

entry:
	cli
1:	hlt
	jmp 1b

	.balign 4
load_end:
