/*
 * A tiny Multiboot kernel that dirties memory at a rate the host sets: it
 * counts at COUNT_ADDR (2 MiB) and stores each count into the next page of
 * the 511 pages above it (2 MiB + 4 KiB .. 4 MiB), round and round; after
 * each store it spins DELAY times, DELAY being the word at DELAY_ADDR (in
 * the image: the host writes it before the start; 0: as fast as it can).
 * The live-migration tests move it while it runs and check the counter and
 * the pages go on.
 */
#include "mb_header.h"
#define COUNT_ADDR 0x200000
#define AREA_PAGES 511

	MULTIBOOT_START

	.org 0x40 /* DELAY_ADDR = load address + 0x40 */
delay:
	.long 0

entry:
	xor %ebx, %ebx
	mov $1, %esi
1:	inc %ebx
	mov %ebx, COUNT_ADDR
	mov %esi, %eax
	shl $12, %eax
	mov %ebx, COUNT_ADDR(%eax)
	inc %esi
	cmp $AREA_PAGES + 1, %esi
	jb 2f
	mov $1, %esi
2:	mov delay, %ecx
	test %ecx, %ecx
	jz 1b
3:	dec %ecx
	jnz 3b
	jmp 1b

	.balign 4
load_end:
