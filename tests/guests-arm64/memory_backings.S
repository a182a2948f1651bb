/*
 * arm64 twin of tests/guests/memory_backings.S (MMU off: every address physical), for memory_backings_test.c:
 * reads the first doubleword of each extra region into RAM at 0x3000.. and writes a known doubleword at offset 8
 * of it:
 *   0x200000 memfd     -> result 0x3000, writes 0x1111222233334444
 *   0x400000 file      -> result 0x3008, writes 0x5555666677778888
 *   0x600000 read-only -> result 0x3010; its word store at +8 must exit as MMIO; then +8 read back -> 0x3018
 *   0x800000 hugetlb, only if the byte at 0x3100 is non-zero
 *                      -> result 0x3020, writes 0x9999aaaabbbbcccc
 * then port 0xd0 and halt. No stack is used.
 */
#include "guest.inc"
	.text
	.global _start
_start:
	movi32	x20, 0x3000			/* the results */

	movi32	x19, 0x200000
	ldr	x1, [x19]
	str	x1, [x20]
	movz	x1, #0x4444
	movk	x1, #0x3333, lsl #16
	movk	x1, #0x2222, lsl #32
	movk	x1, #0x1111, lsl #48
	str	x1, [x19, #8]

	movi32	x19, 0x400000
	ldr	x1, [x19]
	str	x1, [x20, #8]
	movz	x1, #0x8888
	movk	x1, #0x7777, lsl #16
	movk	x1, #0x6666, lsl #32
	movk	x1, #0x5555, lsl #48
	str	x1, [x19, #8]

	movi32	x19, 0x600000
	ldr	x1, [x19]
	str	x1, [x20, #16]
	movi32	w1, 0xdeadbeef
	str	w1, [x19, #8]
	ldr	x1, [x19, #8]
	str	x1, [x20, #24]

	ldrb	w1, [x20, #0x100]
	cbz	w1, 1f
	movi32	x19, 0x800000
	ldr	x1, [x19]
	str	x1, [x20, #32]
	movz	x1, #0xcccc
	movk	x1, #0xbbbb, lsl #16
	movk	x1, #0xaaaa, lsl #32
	movk	x1, #0x9999, lsl #48
	str	x1, [x19, #8]
1:
	movi32	x0, KVMHOST_GUEST_ARM64_PORT(0xd0)
	mov	w1, #0xd0
	strb	w1, [x0]
	halt_forever x0
