/*
 * The guide's counting guest (docs/guide.md, step 5): a tiny Multiboot kernel that counts for ever: it stores
 * an ever-growing counter at 2 MiB (COUNT_ADDR) and, each time the counter reaches a multiple of 65536 (k * 65536),
 * writes the digit '0' + k % 10 to COM1. A snapshot taken while it counts, restored into another machine, goes
 * on counting (in memory and on COM1) from where it was.
 */
#define COM1	   0x3f8
#define COUNT_ADDR 0x200000
#define MB_MAGIC   0x1BADB002
#define MB_FLAGS   0x00010000 /* a.out kludge: the load addresses are in the header */

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
	.long mb_header			/* header_addr */
	.long _start			/* load_addr */
	.long load_end			/* load_end_addr */
	.long load_end			/* bss_end_addr: no bss */
	.long entry			/* entry_addr */

entry:
	mov $COUNT_ADDR, %edi
	mov $10, %ecx
	mov (%edi), %ebx		/* 0 at a fresh boot */
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
