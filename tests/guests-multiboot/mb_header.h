/*
 * The start every tiny Multiboot kernel here shares (included by the .S files, after the C preprocessor): _start
 * jumps over an a.out-kludge Multiboot header (no bss: bss_end is load_end) to the file's own `entry`. A file that
 * wants other header flags (mb_hello: modules and memory info) writes its own header.
 */
#ifndef KVMHOST_TEST_MB_HEADER_H
#define KVMHOST_TEST_MB_HEADER_H

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010000 /* a.out kludge: the load addresses are in the header */

/* clang-format off */
	.macro MULTIBOOT_START
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
	.long mb_header	/* header_addr */
	.long _start	/* load_addr */
	.long load_end	/* load_end_addr */
	.long load_end	/* bss_end_addr: no bss */
	.long entry	/* entry_addr */
	.endm
/* clang-format on */

#endif
