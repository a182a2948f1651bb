/*
 * arm64 twin of tests/guests/mmio.S, for mmio_test: MMIO stores of 1, 2, 4 and 8 bytes to a device at 0x10000000
 * (outside RAM), then loads of each size whose values it reports with 4-byte stores to port 0x10 (8-byte values
 * as low, high); then loads from an unclaimed address, reported the same way, and a 4-byte load at the device's
 * end (x86's straddles it, 0xfe: with the MMU off an unaligned load is an alignment fault, so here it is the
 * aligned word at 0x100, just past the end); finally a store to port 0x11 (done) and halt. The MMU is off, so
 * every address is physical (x86 maps 1 GiB).
 */
#include "guest.inc"
	.text
	.global _start
_start:
	movi32	x19, 0x10000000			/* the device */
	movi32	x20, KVMHOST_GUEST_ARM64_PORT(0x10)
	mov	w1, #0x11
	strb	w1, [x19]
	mov	w1, #0x2233
	strh	w1, [x19, #2]
	movi32	w1, 0x44556677
	str	w1, [x19, #4]
	movz	x1, #0xeeff
	movk	x1, #0xccdd, lsl #16
	movk	x1, #0xaabb, lsl #32
	movk	x1, #0x8899, lsl #48
	str	x1, [x19, #8]

	ldrb	w1, [x19, #0x10]
	str	w1, [x20]
	ldrh	w1, [x19, #0x12]
	str	w1, [x20]
	ldr	w1, [x19, #0x14]
	str	w1, [x20]
	ldr	x1, [x19, #0x18]
	str	w1, [x20]
	lsr	x1, x1, #32
	str	w1, [x20]

	movi32	x21, 0x20000000			/* nobody there */
	ldrb	w1, [x21]
	str	w1, [x20]
	ldr	w1, [x21, #4]
	str	w1, [x20]
	ldr	x1, [x21, #8]
	str	w1, [x20]
	lsr	x1, x1, #32
	str	w1, [x20]

	ldr	w1, [x19, #0x100]		/* the word just past the device's end (0x100 long) */
	str	w1, [x20]

	strb	w1, [x20, #8]			/* port 0x11: done */
	halt_forever x0
