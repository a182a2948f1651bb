/*
 * 64-bit entry check, for platform_boot_test: report, one 32-bit OUT each,
 *   0xf0 EAX, 0xf1 EBX, 0xf2 ESI, 0xf3 ESP, 0xf4 CS, 0xf5 DS, 0xf6 CR0,
 * then reload DS/SS with __BOOT_DS (0x18) and CS with __BOOT_CS (0x10)
 * through the boot GDT (a far return), OUT 0x600d to 0xf7, and halt.
 */
	.code64
	.text
	.global _start
_start:
	out %eax, $0xf0
	mov %ebx, %eax
	out %eax, $0xf1
	mov %esi, %eax
	out %eax, $0xf2
	mov %esp, %eax
	out %eax, $0xf3
	xor %eax, %eax
	mov %cs, %ax
	out %eax, $0xf4
	mov %ds, %ax
	out %eax, $0xf5
	mov %cr0, %rax
	out %eax, $0xf6
	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %ss
	pushq $0x10
	lea 1f(%rip), %rax
	push %rax
	lretq
1:	mov $0x600d, %eax
	out %eax, $0xf7
2:	hlt
	jmp 2b
