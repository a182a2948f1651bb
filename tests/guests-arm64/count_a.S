/* arm64 twin of tests/guests/count_a.S: the bytes 0, 1, 2, ... 255, 0, ... (1000 of them) to port 0x40, then
 * halt. One of the two guests of two_vms_test. */
#include "guest.inc"
	.text
	.global _start
_start:
	movi32	x0, KVMHOST_GUEST_ARM64_PORT(0x40)
	mov	w1, #0
	mov	w2, #1000
1:	strb	w1, [x0]
	add	w1, w1, #1
	subs	w2, w2, #1
	b.ne	1b
	halt_forever x3
