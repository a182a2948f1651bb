/*
 * The x86 half of a machine (include/kvmhost/machine_x86.h), shared by
 *   machine_x86.c          options, RAM, irqchip, the kh_machine_arch_* entry points
 *   machine_x86_devices.c  the legacy devices (COM1 through lib/machine's console UART, i8042, RTC, fw_cfg,
 *                          ACPI ports, debug-exit, power button) and their registration
 *   machine_x86_boot.c     tables, kernel load, vCPUs, and the same again on reboot
 */
#ifndef KVMHOST_MACHINE_X86_INTERNAL_H
#define KVMHOST_MACHINE_X86_INTERNAL_H

#include <stdatomic.h>
#include <kvmhost/machine_x86.h>
#include <kvmhost/x86_platform.h>

#include "../../machine/machine_internal.h"

struct kh_machine_arch {
	struct kvmhost_machine_x86_options o;
	struct kvmhost_machine_x86_cpuid_edit *edits; /* o.cpuid_edit_count, copied */
	const char *cmdline;			      /* what the kernel gets: the config's, or own_cmdline */
	char *own_cmdline; /* TRANSPORT_MMIO_CMDLINE: the config's plus the virtio_mmio.device= words */
	struct kvmhost_x86_ram_range ram[2];
	uint32_t ram_count;
	struct kvmhost_x86_cpuid *cpuid;
	struct kvmhost_i8042 *i8042;
	struct kvmhost_cmos_rtc *rtc;
	struct kvmhost_fw_cfg *fw_cfg;
	struct kvmhost_debug_exit *debug_exit;
	atomic_int debug_status_set;
	int pm_registered;
	/* the boot, kept for reboots */
	struct kvmhost_x86_boot_info info;
};

int kh_x86_devices_create(struct kvmhost_machine *m);
void kh_x86_devices_destroy(struct kvmhost_machine *m);
/* Write the tables and load the kernel (create and every reboot). */
int kh_x86_load(struct kvmhost_machine *m);

#endif
