/*
 * A tiny Multiboot kernel that misbehaves: it writes 'T' to COM1, loads an
 * empty IDT and executes UD2. The #UD cannot be delivered (#GP, then #DF):
 * a triple fault, which resets a PC (KVM_EXIT_SHUTDOWN).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010000 /* a.out kludge */
#define COM1 0x3f8

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
