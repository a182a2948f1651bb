/* arm64 twin of tests/guests/count_b.S: the 16-bit values 0xb000, 0xafff, ... (700 of them, counting down) to
 * port 0x41, then halt. The other guest of two_vms_test. */
#include "guest.inc"
	.text
	.global _start
_start:
	movi32	x0, KVMHOST_GUEST_ARM64_PORT(0x41)
	mov	w1, #0xb000
	mov	w2, #700
1:	strh	w1, [x0]
	sub	w1, w1, #1
	subs	w2, w2, #1
	b.ne	1b
	halt_forever x3
