/*
 * 32-bit protected-mode entry check, for platform_boot_test: report the
 * registers a boot protocol defines, one 32-bit OUT each:
 *   0xf0 EAX, 0xf1 EBX, 0xf2 ESI, 0xf3 ESP, 0xf4 CS, 0xf5 DS, 0xf6 CR0.
 * Then, if the host put a non-zero byte at 0x3000 (the entry kind has a
 * GDT in memory), reload DS/SS with 0x18 and CS with 0x10 through the GDT
 * and OUT 0x600d to 0xf7. Halt.
 */
	.code32
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
	mov %cr0, %eax
	out %eax, $0xf6
	cmpb $0, 0x3000
	je 2f
	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %ss
	ljmp $0x10, $1f
1:	mov $0x600d, %eax
	out %eax, $0xf7
2:	hlt
	jmp 2b
