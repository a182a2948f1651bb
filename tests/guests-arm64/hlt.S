/* arm64 twin of tests/guests/hlt.S: halt at once (a store to the halt doorbell, ports.h), on every run. */
#include "guest.inc"
	.text
	.global _start
_start:
	halt_forever x0
