/*
 * Real mode: dirties chosen pages of guest RAM in rounds, announcing each
 * round with an OUT so that the host can fetch KVM's dirty log in between.
 * It uses no stack and never writes its own code page, so a round dirties
 * exactly the pages listed here (dirty_log_test.c has the same list).
 *   OUT 0xf0: start, nothing written yet
 *   round 1: pages 0x10, 0x11 (last word), 0x20+0x21 (one word across the
 *            boundary at 0x21000), 0x9f, 0xff (last byte below 1 MiB); OUT 0xf1
 *   round 2: page 0x30; OUT 0xf2
 *   round 3: nothing; OUT 0xf3; then HLT forever
 */
	.code16
	.text
	.global _start
_start:
	mov $0xf0, %al
	out %al, $0xf0

	mov $0x1000, %ax		/* page 0x10 */
	mov %ax, %ds
	movb $0xa1, 0x0
	mov $0x1100, %ax		/* page 0x11, its last two bytes */
	mov %ax, %ds
	movw $0xbeef, 0xffe
	mov $0x2000, %ax		/* 0x20fff..0x21000: pages 0x20 and 0x21 */
	mov %ax, %ds
	movw $0x1234, 0xfff
	mov $0x9f00, %ax		/* page 0x9f */
	mov %ax, %ds
	movb $0x9f, 0x80
	mov $0xff00, %ax		/* 0xfffff: page 0xff */
	mov %ax, %ds
	movb $0xff, 0xfff
	mov $0xf1, %al
	out %al, $0xf1

	mov $0x3000, %ax		/* page 0x30 */
	mov %ax, %ds
	movb $0x30, 0x10
	mov $0xf2, %al
	out %al, $0xf2

	mov $0xf3, %al
	out %al, $0xf3
1:	hlt
	jmp 1b
