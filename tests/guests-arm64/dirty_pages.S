/*
 * arm64 twin of tests/guests/dirty_pages.S (RAM at GPA 0, the guest at 0x1000): dirties chosen pages in rounds,
 * announcing each with a port store so that the host can fetch KVM's dirty log in between. No stack, no store
 * to its own code page, so a round dirties exactly the pages listed here (dirty_log_test.c has the same list).
 *   port 0xf0: start, nothing written yet
 *   round 1: pages 0x10, 0x11 (last halfword), 0x20+0x21 (0x1234 across the boundary at 0x21000: two byte
 *            stores, an unaligned halfword faults with the MMU off), 0x9f, 0xff (0xfffff); port 0xf1
 *   round 2: page 0x30; port 0xf2
 *   round 3: nothing; port 0xf3; then halt forever
 */
#include "guest.inc"
	.text
	.global _start
_start:
	movi32	x20, KVMHOST_GUEST_ARM64_PORT_BASE
	mov	w1, #0xf0
	strb	w1, [x20, #(8 * 0xf0)]

	movi32	x0, 0x10000			/* page 0x10 */
	mov	w1, #0xa1
	strb	w1, [x0]
	movi32	x0, 0x11ffe			/* page 0x11, its last two bytes */
	mov	w1, #0xbeef
	strh	w1, [x0]
	movi32	x0, 0x20fff			/* 0x20fff..0x21000: pages 0x20 and 0x21 */
	mov	w1, #0x34
	strb	w1, [x0]
	mov	w1, #0x12
	strb	w1, [x0, #1]
	movi32	x0, 0x9f080			/* page 0x9f */
	mov	w1, #0x9f
	strb	w1, [x0]
	movi32	x0, 0xfffff			/* 0xfffff: page 0xff */
	mov	w1, #0xff
	strb	w1, [x0]
	mov	w1, #0xf1
	strb	w1, [x20, #(8 * 0xf1)]

	movi32	x0, 0x30010			/* page 0x30 */
	mov	w1, #0x30
	strb	w1, [x0]
	mov	w1, #0xf2
	strb	w1, [x20, #(8 * 0xf2)]

	mov	w1, #0xf3
	strb	w1, [x20, #(8 * 0xf3)]
	halt_forever x0
