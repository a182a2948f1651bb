/*
 * The legacy devices of an x86 machine and what they turn into: COM1 (a
 * 16550A on the serial fds: lib/machine's console UART, machine_uart.c, on
 * port I/O), the i8042 (its reset line resets the machine), the CMOS
 * RTC with the memory sizes, fw_cfg, the ACPI sleep/reset ports (S5 powers
 * off, the reset value resets), and the optional debug-exit port. Each is
 * registered in the machine's device registry under a stable id.
 * Callbacks run in vCPU threads, inside the bus dispatch.
 */
#include <stdio.h>
#include <string.h>
#include <kvmhost/bus.h>
#include <kvmhost/irq_line.h>
#include <kvmhost/devices/cmos_rtc.h>
#include <kvmhost/devices/debug_exit.h>
#include <kvmhost/devices/fw_cfg.h>
#include <kvmhost/devices/i8042.h>
#include <kvmhost/devices/uart16550.h>

#include "../../core/internal.h"
#include "machine_x86_internal.h"

static void on_i8042_reset(void *opaque)
{
	kh_machine_guest_reset(opaque, kh_machine_vcpu_index, NULL, "i8042 reset line");
}

static void on_debug_exit(void *opaque, uint64_t status)
{
	struct kvmhost_machine *m = opaque;
	struct kh_machine_arch *a = m->arch;

	status >>= 1; /* the device reports (v << 1) | 1, the machine the value v the guest wrote */
	kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_DEBUG_EXIT, kh_machine_vcpu_index, NULL, 0,
			     "the guest wrote 0x%llx to the debug-exit port", (unsigned long long)status);
	pthread_mutex_lock(&m->lock);
	if (m->stop.reason == KVMHOST_MACHINE_STOP_DEBUG_EXIT && !atomic_exchange(&a->debug_status_set, 1))
		m->stop.debug_exit_status = status;
	pthread_mutex_unlock(&m->lock);
}

/* The ACPI sleep control and reset registers (x86_platform.h). Reads return all ones: a guest that reads the
 * sleep status after S5 sees "woken" and stops waiting. */
static int pm_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct kvmhost_machine *m = opaque;
	uint8_t b = *(const uint8_t *)data;

	(void)len;
	if (offset == KVMHOST_X86_ACPI_SLEEP_CONTROL && (b & 0x3c) == KVMHOST_X86_ACPI_SLEEP_S5)
		kh_machine_stop_with(m, KVMHOST_MACHINE_STOP_POWEROFF, kh_machine_vcpu_index, NULL, 0,
				     "the guest powered off (ACPI S5)");
	else if (offset == KVMHOST_X86_ACPI_RESET && b == KVMHOST_X86_ACPI_RESET_VALUE)
		kh_machine_guest_reset(m, kh_machine_vcpu_index, NULL, "ACPI reset register");
	return 0;
}

/* COM1: lib/machine's console UART (machine_uart.c) on port I/O. */
static int add_com1(struct kvmhost_machine *m)
{
	struct kvmhost_irq_line *irq;
	int r;

	if ((r = kvmhost_irq_line_create_gsi(m->vm, KVMHOST_UART_COM1_IRQ, &irq)) < 0)
		return r;
	return kh_machine_uart_create(m, "com1", irq, kvmhost_uart_attach, m->pio, KVMHOST_UART_COM1_BASE);
}

int kh_x86_devices_create(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;
	struct kvmhost_i8042_options io = {.size = sizeof(io), .reset = on_i8042_reset, .opaque = m};
	struct kvmhost_fw_cfg_options fo = {
	    .size = sizeof(fo), .nb_cpus = (uint16_t)m->ncpus, .ram_size = m->cfg.ram_size};
	struct kvmhost_bus_range pm = {sizeof(pm), KVMHOST_X86_ACPI_PM_PORT_DEFAULT, 3, NULL, pm_write, m, "acpi-pm"};
	int r;

	if ((r = add_com1(m)) < 0)
		return r;
	if ((r = kvmhost_i8042_create(&io, &a->i8042)) < 0 || (r = kvmhost_i8042_attach(a->i8042, m->pio)) < 0 ||
	    (r = kvmhost_i8042_register(a->i8042, m->registry, "i8042")) < 0)
		return r;
	if ((r = kvmhost_cmos_rtc_create(NULL, &a->rtc)) < 0 || (r = kvmhost_cmos_rtc_attach(a->rtc, m->pio)) < 0 ||
	    (r = kvmhost_cmos_rtc_set_memory_size(a->rtc, a->ram[0].length, a->ram_count > 1 ? a->ram[1].length : 0)) <
		0 ||
	    (r = kvmhost_cmos_rtc_register(a->rtc, m->registry, "cmos-rtc")) < 0)
		return r;
	if ((r = kvmhost_fw_cfg_create(&fo, &a->fw_cfg)) < 0 || (r = kvmhost_fw_cfg_attach(a->fw_cfg, m->pio)) < 0 ||
	    (r = kvmhost_fw_cfg_register(a->fw_cfg, m->registry, "fw-cfg")) < 0)
		return r;
	if ((r = kvmhost_bus_register(m->pio, &pm)) < 0)
		return r;
	a->pm_registered = 1;
	if (a->o.debug_exit_port) {
		struct kvmhost_debug_exit_options d = {
		    .size = sizeof(d), .width = 4, .on_exit = on_debug_exit, .opaque = m};

		if ((r = kvmhost_debug_exit_create(&d, &a->debug_exit)) < 0 ||
		    (r = kvmhost_debug_exit_attach(a->debug_exit, m->pio, a->o.debug_exit_port)) < 0 ||
		    (r = kvmhost_debug_exit_register(a->debug_exit, m->registry, "debug-exit")) < 0)
			return r;
	}
	return 0;
}

void kh_x86_devices_destroy(struct kvmhost_machine *m)
{
	struct kh_machine_arch *a = m->arch;

	kh_machine_uart_destroy(m); /* COM1, its output let out first */
	if (a->pm_registered)
		kvmhost_bus_unregister(m->pio, KVMHOST_X86_ACPI_PM_PORT_DEFAULT);
	kvmhost_debug_exit_destroy(a->debug_exit);
	kvmhost_fw_cfg_destroy(a->fw_cfg);
	kvmhost_cmos_rtc_destroy(a->rtc);
	kvmhost_i8042_destroy(a->i8042);
}
