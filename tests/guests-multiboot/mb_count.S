/*
 * A tiny Multiboot kernel that never stops working: it writes 'C' to COM1,
 * then stores an ever-growing counter at MB_COUNT_ADDR (2 MiB) forever. The
 * machine tests pause it and check with the dirty logs that nothing is
 * written while paused, then resume it and see the counter move on.
 */
#include "mb_header.h"
#define COM1 0x3f8
#define COUNT_ADDR 0x200000

	MULTIBOOT_START

entry:
	mov $COM1, %dx
	mov $'C', %al
	out %al, %dx
	mov $COUNT_ADDR, %edi
	xor %eax, %eax
1:	inc %eax
	mov %eax, (%edi)
	jmp 1b

	.balign 4
load_end:
