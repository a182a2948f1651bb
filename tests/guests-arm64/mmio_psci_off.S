/*
 * arm64, EL1h, MMU off (KVM_ARM_VCPU_INIT's reset state), position independent: for kvm/arm64_psci_test.
 * Stores 0x6b766d68 ("hmvk") to the device at 0x10000000 (outside RAM: an MMIO exit), asks for PSCI_VERSION
 * by HVC and stores the answer at 0x10000008, then calls PSCI SYSTEM_OFF by HVC (a KVM_EXIT_SYSTEM_EVENT,
 * SHUTDOWN). Should SYSTEM_OFF ever return, it stores 0xdead at 0x10000010 and loops on WFI.
 */
	.text
	.global _start
_start:
	/* x19 = 0x10000000, the device: a PSCI call by HVC returns in x0-x3 (KVM writes all four), so not x1. */
	movz	x19, #0x1000, lsl #16
	movz	w2, #0x6d68
	movk	w2, #0x6b76, lsl #16
	str	w2, [x19]

	movz	w0, #0x0000			/* PSCI_VERSION (SMC32/HVC32 id 0x84000000) */
	movk	w0, #0x8400, lsl #16
	hvc	#0
	str	w0, [x19, #8]

	movz	w0, #0x0008			/* PSCI SYSTEM_OFF, 0x84000008 */
	movk	w0, #0x8400, lsl #16
	hvc	#0

	movz	w2, #0xdead
	str	w2, [x19, #16]
1:	wfi
	b	1b
