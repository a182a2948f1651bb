/*
 * Real mode: port I/O in both directions. OUTs known values of sizes 1, 2
 * and 4; INs a value of each size from the host and OUTs it back
 * transformed; then string I/O: REP OUTSB of a message, REP INSB into a
 * buffer and REP OUTSB of that buffer back. Halts at the end.
 */
	.code16
	.text
	.global _start
_start:
	mov $0x5a, %al
	out %al, $0x10			/* 1 byte:  0x5a */
	mov $0xbeef, %ax
	out %ax, $0x12			/* 2 bytes: 0xbeef */
	mov $0xdeadbeef, %eax
	out %eax, $0x14			/* 4 bytes: 0xdeadbeef */

	in $0x20, %al			/* host answers 1 byte */
	xor $0xff, %al
	out %al, $0x21			/* echo: value ^ 0xff */
	in $0x22, %ax			/* host answers 2 bytes */
	add $0x1111, %ax
	out %ax, $0x23			/* echo: value + 0x1111 */
	in $0x24, %eax			/* host answers 4 bytes */
	not %eax
	out %eax, $0x25			/* echo: ~value */

	cld
	mov $0x30, %dx
	mov $msg, %si
	mov $(msg_end - msg), %cx
	rep outsb			/* "kvmhost!" to port 0x30 */

	mov $0x31, %dx
	mov $buf, %di
	mov $(msg_end - msg), %cx
	rep insb			/* 8 bytes from port 0x31 */

	mov $0x32, %dx
	mov $buf, %si
	mov $(msg_end - msg), %cx
	rep outsb			/* the same 8 bytes back to port 0x32 */
1:	hlt
	jmp 1b

msg:	.ascii "kvmhost!"
msg_end:
buf:	.skip 8
