/*
 * Real mode: a guest that talks to a 16550A at COM1 and a debug-exit port,
 * as a boot loader would. Programs the UART (DLAB on, divisor 1, DLAB off
 * with 8N1, FIFOs on) and checks the divisor reads back; prints
 * "UART OK\n", polling LSR.THRE before each byte; enables the THRE
 * interrupt (IER = 0x02), which raises the UART's line if the host gave it
 * one (interrupts stay off here: nothing is delivered); then writes 0x21 to
 * the debug-exit port at 0xf4, asking for exit status (0x21 << 1) | 1.
 * If the divisor did not read back it writes 0x7f instead. Halts after.
 */
#define COM1 0x3f8
#define THR  (COM1 + 0)
#define DLL  (COM1 + 0)
#define DLM  (COM1 + 1)
#define IER  (COM1 + 1)
#define FCR  (COM1 + 2)
#define LCR  (COM1 + 3)
#define LSR  (COM1 + 5)
#define DEBUG_EXIT 0xf4

	.code16
	.text
	.global _start
_start:
	cli
	mov $LCR, %dx
	mov $0x80, %al			/* DLAB */
	out %al, %dx
	mov $DLL, %dx
	mov $0x01, %al			/* 115200 baud */
	out %al, %dx
	mov $DLM, %dx
	xor %al, %al
	out %al, %dx
	mov $DLL, %dx			/* the divisor reads back */
	in %dx, %al
	cmp $0x01, %al
	jne fail
	mov $LCR, %dx
	mov $0x03, %al			/* 8N1, DLAB off */
	out %al, %dx
	mov $FCR, %dx
	mov $0x07, %al			/* FIFOs on and reset */
	out %al, %dx

	cld
	mov $msg, %si
next:
	lodsb
	test %al, %al
	jz done
	mov %al, %bl
	mov $LSR, %dx
wait:
	in %dx, %al
	test $0x20, %al			/* THRE */
	jz wait
	mov $THR, %dx
	mov %bl, %al
	out %al, %dx
	jmp next

done:
	mov $IER, %dx
	mov $0x02, %al			/* THRI: raises the line, THR being empty */
	out %al, %dx
	mov $0x21, %al
	out %al, $DEBUG_EXIT
1:	hlt
	jmp 1b

fail:
	mov $0x7f, %al
	out %al, $DEBUG_EXIT
	jmp 1b

msg:	.asciz "UART OK\n"
