/*
 * 64-bit long mode at CPL3, for tests/kvm/virtio_hostile_test.c: the
 * bystander VM. Counts forever in the quadword at 0x8000 (the host reads
 * it from the VM's RAM) and does OUT to port 0x60 every 2^16 increments
 * (exits the VMM serves). Only a kick gets the vCPU back for good.
 */
#define COUNTER 0x8000

	.code64
	.text
	.global _start
_start:
	movq $0, COUNTER
1:	incq COUNTER
	testw $0xffff, COUNTER
	jnz 1b
	mov COUNTER, %eax
	out %eax, $0x60
	jmp 1b
