/*
 * A tiny Multiboot kernel that misbehaves: it writes 'T' to COM1, loads an
 * empty IDT and executes UD2. The #UD cannot be delivered (#GP, then #DF):
 * a triple fault, which resets a PC (KVM_EXIT_SHUTDOWN).
 */
#include "mb_header.h"
#define COM1 0x3f8

	MULTIBOOT_START

entry:
	mov $COM1, %dx
	mov $'T', %al
	out %al, %dx
	lidt idt
	ud2

	.balign 4
idt:	.word 0
	.long 0
	.balign 4
load_end:
