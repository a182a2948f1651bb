/*
 * The PCI host bridge the DSDT may describe (struct kvmhost_x86_acpi_pci_host):
 * its defaults and every check, so that acpi_aml.c and acpi.c only write a
 * description that holds together.
 *
 * Bad descriptions do not fail loudly in a guest, which is why the checks are
 * strict: Linux clips or drops a window that collides with another resource,
 * leaves an ECAM area it does not find reserved unused, and an INTx on a GSI
 * the MADT describes as an edge-triggered ISA IRQ, or beyond the IOAPIC's
 * pins, never arrives.
 */
#include <inttypes.h>
#include <stdio.h>

#include "../../../core/internal.h"
#include "platform_internal.h"
#include <kvmhost/x86_platform.h>

#define PAGE_4K	       0x1000ull
#define APIC_PAGE_SIZE 0x1000ull
#define CF8_PORT       0xcf8u
#define CF8_PORTS      8u
#define PM_PORTS       3u /* sleep control, sleep status, reset */
#define MAX_PCI_BUS    255u

/* An inclusive range, so that one ending at 2^64 needs no 65th bit. */
struct range {
	uint64_t first, last;
	const char *what;
	int index; /* device index for "device %d", else -1 */
};

static int overlaps(const struct range *a, const struct range *b)
{
	return a->first <= b->last && b->first <= a->last;
}

static int fail_overlap(const struct range *a, const struct range *b, const char *func)
{
	char an[48], bn[48];

	if (a->index >= 0)
		snprintf(an, sizeof(an), "device %d's %s", a->index, a->what);
	else
		snprintf(an, sizeof(an), "the %s", a->what);
	if (b->index >= 0)
		snprintf(bn, sizeof(bn), "device %d's %s", b->index, b->what);
	else
		snprintf(bn, sizeof(bn), "the %s", b->what);
	return kh_fail(EINVAL, func,
		       "PCI host: %s [0x%" PRIx64 "-0x%" PRIx64 "] overlaps %s [0x%" PRIx64 "-0x%" PRIx64 "]", an,
		       a->first, a->last, bn, b->first, b->last);
}

/* With @other NULL, the host's own @n ranges may not overlap each other;
 * else none of them may overlap @other. */
static int check_overlaps(const struct range *own, uint32_t n, const struct range *other, const char *func)
{
	for (uint32_t i = 0; i < n; i++) {
		if (other && overlaps(&own[i], other))
			return fail_overlap(&own[i], other, func);
		for (uint32_t j = i + 1; !other && j < n; j++)
			if (overlaps(&own[i], &own[j]))
				return fail_overlap(&own[i], &own[j], func);
	}
	return 0;
}

static struct range mkrange(uint64_t first, uint64_t last, const char *what, int index)
{
	return (struct range){.first = first, .last = last, .what = what, .index = index};
}

static int check_memory_window(const char *what, uint64_t base, uint64_t size, uint64_t limit, const char *func)
{
	uint64_t end;

	if (size == 0)
		return kh_fail(EINVAL, func, "PCI host: the %s is empty", what);
	if ((base | size) & (PAGE_4K - 1))
		return kh_fail(EINVAL, func, "PCI host: the %s [0x%" PRIx64 ", +0x%" PRIx64 ") is not 4 KiB aligned",
			       what, base, size);
	if (kh_add_overflows(base, size - 1, &end))
		return kh_fail(EINVAL, func, "PCI host: the %s [0x%" PRIx64 ", +0x%" PRIx64 ") wraps past 2^64", what,
			       base, size);
	if (end > limit)
		return kh_fail(EINVAL, func, "PCI host: the %s [0x%" PRIx64 ", +0x%" PRIx64 ") ends past 0x%" PRIx64,
			       what, base, size, limit);
	return 0;
}

int kh_acpi_pci_host_resolve(const struct kvmhost_x86_acpi_pci_host *in, uint32_t ioapic_addr, uint16_t pm_port,
			     const struct kvmhost_x86_acpi_device *devices, uint32_t device_count,
			     struct kvmhost_x86_acpi_pci_host *out, const char *func)
{
	struct range own[3], other;
	uint32_t n = 0, zeros = 0;
	uint64_t ecam_first = 0, ecam_last = 0, apic;
	int r;

	r = kh_copy_options(out, sizeof(*out), in, func);
	if (r < 0)
		return r;
	if (out->bus_start > MAX_PCI_BUS || out->bus_end > MAX_PCI_BUS || out->bus_start > out->bus_end)
		return kh_fail(EINVAL, func, "PCI host: bus range %u-%u; want start <= end <= 255", out->bus_start,
			       out->bus_end);

	/* I/O window. */
	if (out->io_base == 0 && out->io_size == 0) {
		out->io_base = KVMHOST_X86_ACPI_PCI_IO_BASE_DEFAULT;
		out->io_size = KVMHOST_X86_ACPI_PCI_IO_SIZE_DEFAULT;
	}
	if (out->io_size == 0)
		return kh_fail(EINVAL, func, "PCI host: the I/O window is empty");
	if ((out->io_base | out->io_size) & 3)
		return kh_fail(EINVAL, func, "PCI host: the I/O window [0x%x, +0x%x) is not 4-byte aligned",
			       out->io_base, out->io_size);
	if ((uint64_t)out->io_base + out->io_size > 0x10000)
		return kh_fail(EINVAL, func, "PCI host: the I/O window [0x%x, +0x%x) ends past port 0xffff",
			       out->io_base, out->io_size);

	/* Memory windows. */
	if (out->mmio32_base == 0 && out->mmio32_size == 0) {
		out->mmio32_base = KVMHOST_X86_ACPI_PCI_MMIO32_BASE_DEFAULT;
		out->mmio32_size = KVMHOST_X86_ACPI_PCI_MMIO32_SIZE_DEFAULT;
	}
	r = check_memory_window("32-bit MMIO window", out->mmio32_base, out->mmio32_size, 0xffffffffull, func);
	if (r < 0)
		return r;
	if (out->mmio64_size == 0 && out->mmio64_base)
		return kh_fail(EINVAL, func, "PCI host: 64-bit MMIO window at 0x%" PRIx64 " has size 0",
			       out->mmio64_base);
	if (out->mmio64_size) {
		r = check_memory_window("64-bit MMIO window", out->mmio64_base, out->mmio64_size, UINT64_MAX, func);
		if (r < 0)
			return r;
	}

	/* ECAM: 1 MiB per bus of the range, from bus 0's address. */
	if (out->ecam_base) {
		if (out->ecam_base & (KVMHOST_X86_ACPI_ECAM_BUS_SIZE - 1))
			return kh_fail(EINVAL, func, "PCI host: ECAM base 0x%" PRIx64 " is not 1 MiB aligned",
				       out->ecam_base);
		if (kh_add_overflows(out->ecam_base, (uint64_t)out->bus_start * KVMHOST_X86_ACPI_ECAM_BUS_SIZE,
				     &ecam_first) ||
		    kh_add_overflows(out->ecam_base, ((uint64_t)out->bus_end + 1) * KVMHOST_X86_ACPI_ECAM_BUS_SIZE - 1,
				     &ecam_last))
			return kh_fail(EINVAL, func, "PCI host: ECAM at 0x%" PRIx64 " for buses %u-%u ends past 2^64",
				       out->ecam_base, out->bus_start, out->bus_end);
	}

	/* INTx: all four lines or none, on IOAPIC pins free of ISA IRQs. */
	for (uint32_t i = 0; i < 4; i++)
		zeros += out->intx_gsi[i] == 0;
	if (zeros != 0 && zeros != 4)
		return kh_fail(EINVAL, func, "PCI host: INTx GSIs %u, %u, %u, %u: give all four or none (0: MSI only)",
			       out->intx_gsi[0], out->intx_gsi[1], out->intx_gsi[2], out->intx_gsi[3]);
	for (uint32_t i = 0; i < 4 && zeros == 0; i++)
		if (out->intx_gsi[i] < KVMHOST_X86_ACPI_PCI_GSI_MIN || out->intx_gsi[i] >= KVMHOST_X86_IOAPIC_PINS)
			return kh_fail(EINVAL, func,
				       "PCI host: GSI %u for INTx line %u; use %u-%u (0-15 are ISA IRQs, and the "
				       "IOAPIC has %u pins)",
				       out->intx_gsi[i], i, KVMHOST_X86_ACPI_PCI_GSI_MIN, KVMHOST_X86_IOAPIC_PINS - 1,
				       KVMHOST_X86_IOAPIC_PINS);

	/* Overlaps: the host's memory ranges with each other, the interrupt
	 * controllers' pages and the devices' MMIO. */
	own[n++] = mkrange(out->mmio32_base, out->mmio32_base + out->mmio32_size - 1, "32-bit MMIO window", -1);
	if (out->mmio64_size)
		own[n++] =
		    mkrange(out->mmio64_base, out->mmio64_base + (out->mmio64_size - 1), "64-bit MMIO window", -1);
	if (out->ecam_base)
		own[n++] = mkrange(ecam_first, ecam_last, "ECAM area", -1);
	r = check_overlaps(own, n, NULL, func);
	apic = ioapic_addr & ~(APIC_PAGE_SIZE - 1);
	other = mkrange(apic, apic + APIC_PAGE_SIZE - 1, "IOAPIC page", -1);
	if (r == 0)
		r = check_overlaps(own, n, &other, func);
	other = mkrange(KVMHOST_X86_LAPIC_ADDR, KVMHOST_X86_LAPIC_ADDR + APIC_PAGE_SIZE - 1, "local APIC page", -1);
	if (r == 0)
		r = check_overlaps(own, n, &other, func);
	for (uint32_t i = 0; r == 0 && i < device_count; i++) {
		other =
		    mkrange(devices[i].mmio_base, devices[i].mmio_base + devices[i].mmio_length - 1, "MMIO", (int)i);
		if (devices[i].mmio_length)
			r = check_overlaps(own, n, &other, func);
	}
	if (r < 0)
		return r;

	/* The I/O window with the configuration ports, the PM ports and the devices' ports. */
	own[0] = mkrange(out->io_base, (uint64_t)out->io_base + out->io_size - 1, "I/O window", -1);
	other = mkrange(CF8_PORT, CF8_PORT + CF8_PORTS - 1, "configuration ports", -1);
	r = check_overlaps(own, 1, &other, func);
	other = mkrange(pm_port, (uint64_t)pm_port + PM_PORTS - 1, "FADT's PM ports", -1);
	if (r == 0)
		r = check_overlaps(own, 1, &other, func);
	for (uint32_t i = 0; r == 0 && i < device_count; i++) {
		other = mkrange(devices[i].io_base, (uint64_t)devices[i].io_base + devices[i].io_length - 1,
				"I/O ports", (int)i);
		if (devices[i].io_length)
			r = check_overlaps(own, 1, &other, func);
	}
	return r;
}
