/*
 * A tiny Multiboot kernel (a.out kludge, 32-bit protected mode, paging off) for kvmhost-run's kvm-tier test:
 * it prints "ECHO:" on COM1, then reads COM1 by polling LSR.DR with the FIFO off (so the VMM can hand it only
 * one byte at a time and must refill after each read), echoes every byte with a-z upper-cased, and at the
 * first newline prints one and writes 0 to the debug-exit port (0xf4). Then halts.
 */
#include "../guests-multiboot/mb_header.h"
#define COM1 0x3f8
#define COM1_LSR (COM1 + 5)
#define DEBUG_EXIT 0xf4

	MULTIBOOT_START

entry:
	mov $COM1, %dx
	mov $'E', %al
	out %al, %dx
	mov $'C', %al
	out %al, %dx
	mov $'H', %al
	out %al, %dx
	mov $'O', %al
	out %al, %dx
	mov $':', %al
	out %al, %dx
next:
	mov $COM1_LSR, %dx
1:	in %dx, %al
	test $1, %al			/* LSR.DR: a byte is waiting */
	jz 1b
	mov $COM1, %dx
	in %dx, %al
	cmp $'\n', %al
	je done
	cmp $'a', %al
	jb 2f
	cmp $'z', %al
	ja 2f
	sub $0x20, %al
2:	out %al, %dx
	jmp next

done:
	out %al, %dx			/* the newline */
	xor %eax, %eax
	mov $DEBUG_EXIT, %dx
	out %al, %dx
3:	hlt
	jmp 3b

	.balign 4
load_end:
