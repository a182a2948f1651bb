/*
 * A tiny Multiboot kernel that does some work and powers off: it counts
 * MB_WORK loop iterations, writes "done\n" to COM1, then writes S5 to the
 * ACPI sleep control port (0x600), which a machine turns into a power-off.
 */
#include "mb_header.h"
#define COM1 0x3f8
#define ACPI_SLEEP_CONTROL 0x600
#define ACPI_SLEEP_S5 0x34
#define WORK 20000

	MULTIBOOT_START

entry:
	mov $WORK, %ecx
1:	dec %ecx
	jnz 1b
	mov $COM1, %dx
	mov $msg, %esi
2:	movb (%esi), %al
	test %al, %al
	jz 3f
	out %al, %dx
	inc %esi
	jmp 2b
3:	mov $ACPI_SLEEP_CONTROL, %dx
	mov $ACPI_SLEEP_S5, %al
	out %al, %dx
4:	hlt
	jmp 4b

msg:	.asciz "done\n"
	.balign 4
load_end:
