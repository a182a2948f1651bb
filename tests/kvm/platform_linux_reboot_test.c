/*
 * kvm tier: Linux on the x86 platform layer reboots through the ACPI reset
 * register: booted with reboot=acpi, the guest's init reports success on the
 * console and the kernel then writes KVMHOST_X86_ACPI_RESET_VALUE to the
 * reset port. One vCPU: the poweroff test covers SMP, and the lab's single
 * emulated L1 CPU is slow enough already. See platform_linux.h; skips
 * without the lab's L2 guest, and on the PVM host.
 */
#include "platform_linux.h"

int main(void)
{
	return platform_linux_main("reboot", RESET, 1);
}
