/* 64-bit long mode at CPL0 with no IDT: UD2 raises #UD, which cannot be
 * delivered (#GP, then #DF): a triple fault, i.e. a SHUTDOWN exit. */
	.code64
	.text
	.global _start
_start:
	ud2
