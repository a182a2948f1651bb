/*
 * arm64 twin of tests/guests/ioevt.S, for ioeventfd_test. Does x3 writes of x4, then x5 writes of x6, each to the
 * address in x1 (a port's address, ports.h, or an MMIO address: both are stores here, so x0, x86's PIO/MMIO
 * switch, is not read) with width x2 (1, 2, 4 or 8); then a store to port 0xf0 (done) and waits there. The host
 * sets x0-x6 and PC (the load address) before each run (test_vcpu_restart()). KVM completes an MMIO exit by moving
 * PC past the store, at the exit or at the next KVM_RUN, so PC may be the load address + 4 when the guest resumes:
 * the first instruction is a nop, and either way it starts. No stack: bl keeps the return address in x30.
 */
#include "guest.inc"
	.text
	.global _start
_start:
	nop
1:	cbz	x3, 2f
	bl	write_one
	sub	x3, x3, #1
	b	1b
2:	mov	x4, x6
3:	cbz	x5, 4f
	bl	write_one
	sub	x5, x5, #1
	b	3b
4:	movi32	x7, KVMHOST_GUEST_ARM64_PORT(0xf0)
	strb	w4, [x7]			/* done */
8:	b	8b

write_one:
	cmp	x2, #1
	b.eq	5f
	cmp	x2, #2
	b.eq	6f
	cmp	x2, #4
	b.eq	7f
	str	x4, [x1]
	ret
5:	strb	w4, [x1]
	ret
6:	strh	w4, [x1]
	ret
7:	str	w4, [x1]
	ret
