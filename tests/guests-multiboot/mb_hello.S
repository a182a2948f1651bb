/*
 * A tiny Multiboot kernel (a.out kludge, 32-bit protected mode, paging off).
 * Checks what the loader promised - EAX magic, MBI flags for the command
 * line, modules and memory map, a non-zero mem_upper, one module or more,
 * a zeroed bss - then writes "MB:", the command line's first character, the
 * first module's first byte and a newline to the COM1 data port (0x3f8),
 * and finally a status byte to the debug-exit port (0xf4): 0 when all
 * checks passed, else the number of the first that failed. Then halts.
 * It uses no stack and loads no segment register (there is no GDT).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010003 /* page-aligned modules, memory info, a.out kludge */
#define MB_BOOTLOADER_MAGIC 0x2BADB002
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4

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
	.long bss_end			/* bss_end_addr */
	.long entry			/* entry_addr */

entry:
	mov $1, %edi
	cmp $MB_BOOTLOADER_MAGIC, %eax
	jne done
	mov $2, %edi
	testl $(1 << 2), (%ebx)		/* MBI: cmdline valid */
	jz done
	mov $3, %edi
	testl $(1 << 3), (%ebx)		/* mods valid */
	jz done
	mov $4, %edi
	testl $(1 << 6), (%ebx)		/* mmap valid */
	jz done
	mov $5, %edi
	cmpl $0, 8(%ebx)		/* mem_upper */
	je done
	mov $6, %edi
	cmpl $1, 20(%ebx)		/* mods_count */
	jb done
	mov $7, %edi
	mov $bss_start, %esi		/* the bss, which the loader must zero */
1:	cmpl $0, (%esi)
	jne done
	add $4, %esi
	cmp $bss_end, %esi
	jb 1b

	mov $COM1, %dx
	mov $'M', %al
	out %al, %dx
	mov $'B', %al
	out %al, %dx
	mov $':', %al
	out %al, %dx
	mov 16(%ebx), %esi		/* cmdline */
	movb (%esi), %al
	out %al, %dx
	mov 24(%ebx), %esi		/* mods_addr */
	mov (%esi), %esi		/* mods[0].mod_start */
	movb (%esi), %al
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
	xor %edi, %edi

done:
	mov %edi, %eax
	mov $DEBUG_EXIT, %dx
	out %al, %dx
2:	hlt
	jmp 2b

	.balign 4
load_end:
	/* Not in the image: the header's bss_end_addr makes the loader zero it. */
	.set bss_start, load_end
	.set bss_end, load_end + 4096
