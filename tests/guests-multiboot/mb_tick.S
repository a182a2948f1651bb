/*
 * A tiny Multiboot kernel that counts in memory and on COM1: it stores an
 * ever-growing counter at COUNT_ADDR (2 MiB) and, each time the counter
 * reaches a multiple of 65536 (k * 65536), writes the digit '0' + k % 10 to
 * COM1. The snapshot tests restore it elsewhere and check that both the
 * counter and the digits go on from where they were.
 */
#include "mb_header.h"
#define COM1 0x3f8
#define COUNT_ADDR 0x200000

	MULTIBOOT_START

entry:
	mov $COUNT_ADDR, %edi
	mov $10, %ecx
	xor %ebx, %ebx
1:	inc %ebx
	mov %ebx, (%edi)
	test $0xffff, %ebx
	jnz 1b
	mov %ebx, %eax
	shr $16, %eax
	xor %edx, %edx
	div %ecx
	mov %dl, %al
	add $'0', %al
	mov $COM1, %dx
	out %al, %dx
	jmp 1b

	.balign 4
load_end:
