/*
 * A tiny Multiboot kernel that dirties the pages the host tells it to: it
 * counts at COUNT_ADDR (2 MiB) all along and, each time the host writes a new
 * generation at CMD_GEN (after the first page frame at CMD_FIRST and the
 * page count at CMD_PAGES, 3 MiB), stores the counter into the first word of
 * each of those pages, then writes the generation to DONE_ADDR. The diff
 * snapshot test and bench/snapshot_diff_bench know which pages each round
 * dirtied (those, the counter's page and the command page, which the host
 * wrote).
 */
#include "mb_header.h"
#define COUNT_ADDR 0x200000
#define DONE_ADDR 0x200004
#define CMD_GEN 0x300000
#define CMD_FIRST 0x300004
#define CMD_PAGES 0x300008

	MULTIBOOT_START

entry:
	xor %ebx, %ebx
	xor %edi, %edi
1:	inc %ebx
	mov %ebx, COUNT_ADDR
	mov CMD_GEN, %eax
	cmp %eax, %edi
	je 1b
	mov %eax, %edi
	mov CMD_FIRST, %esi
	shl $12, %esi
	mov CMD_PAGES, %ecx
2:	test %ecx, %ecx
	jz 3f
	mov %ebx, (%esi)
	add $4096, %esi
	dec %ecx
	jmp 2b
3:	mov %edi, DONE_ADDR
	jmp 1b

	.balign 4
load_end:
