/*
 * 64-bit long mode at CPL3 (kvmhost_x86_vcpu_setup_long_mode user_mode=1):
 * OUT the CS selector to port 0x50 so the host can check the privilege level,
 * then spin forever. Only a kick gets the vCPU back to the VMM.
 */
	.code64
	.text
	.global _start
_start:
	mov %cs, %ax
	out %ax, $0x50
1:	jmp 1b
