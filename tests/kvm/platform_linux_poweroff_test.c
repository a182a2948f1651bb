/*
 * kvm tier: Linux on the x86 platform layer powers off through ACPI. The
 * kernel must bring up both vCPUs (MADT, INIT/SIPI) and find S5 (FADT,
 * DSDT), the guest's init report success on the console (COM1, its IRQ
 * routed because the DSDT describes it), then write
 * KVMHOST_X86_ACPI_SLEEP_S5 to the sleep control port. See platform_linux.h;
 * skips without the lab's L2 guest, and on the PVM host.
 */
#include "platform_linux.h"

int main(void)
{
	return platform_linux_main("poweroff", POWER_OFF, 2);
}
