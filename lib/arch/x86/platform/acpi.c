/*
 * Minimal ACPI for x86 guests: RSDP -> XSDT -> { FADT -> DSDT, MADT [, MCFG] }.
 *
 * The FADT declares a "hardware-reduced" platform (no PM1 blocks, no SCI, no
 * GPEs) whose only power management is the ACPI 5.0 sleep control/status
 * registers and the reset register, all in three I/O ports the VMM traps.
 * That is all a guest needs to power off and reboot through ACPI; the DSDT
 * holds \_S5 (the SLP_TYP value the guest writes for soft-off) and the
 * devices the VMM lists, hand-assembled in acpi_aml.c.
 * The MADT carries what the MP table does (processors, IOAPIC, ISA IRQ 0
 * override, LINT1 = NMI), which the guest reads instead once ACPI is there.
 * With a PCI host bridge that has ECAM, an MCFG table gives its address
 * (the bridge itself is in the DSDT). Without one the tables are byte for
 * byte what they were before the PCI host bridge existed.
 * docs/x86-platform.md explains why this set and no more.
 *
 * Tables are assembled into one host buffer, each 16-byte aligned after the
 * RSDP, checksummed, and written into guest memory in one checked write.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../../../core/internal.h"
#include "platform_internal.h"
#include "../x86_elements.h"
#include <kvmhost/memory.h>
#include <kvmhost/x86_platform.h>

#define RSDP_SIZE	    36u
#define SDT_HDR_SIZE	    36u
#define XSDT_ENTRIES	    2u	 /* FADT, MADT; the MCFG when there is one */
#define FADT_SIZE	    276u /* revision 6 */
#define MADT_LAPIC_SIZE	    8u
#define MADT_IOAPIC_SIZE    12u
#define MADT_ISO_SIZE	    10u
#define MADT_LAPIC_NMI_SIZE 6u
#define MCFG_SIZE	    60u /* header, 8 reserved bytes, one 16-byte allocation */

#define OEM_ID	     "KVMHST"
#define OEM_TABLE_ID "LIBKVMH"
#define CREATOR_ID   "KVMH"

/* FADT flags. */
#define FADT_PWR_BUTTON	     (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON	     (1u << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP   (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)

/* Generic Address Structure: system I/O space, byte access. */
#define GAS_SYSTEM_IO	1u
#define GAS_ACCESS_BYTE 1u

#define MADT_PCAT_COMPAT    1u
#define MADT_TYPE_LAPIC	    0
#define MADT_TYPE_IOAPIC    1
#define MADT_TYPE_ISO	    2
#define MADT_TYPE_LAPIC_NMI 4
#define MADT_ENABLED	    1u
#define ALL_PROCESSORS	    0xffu

#define ALIGN16(x) (((x) + 15u) & ~15u)

/* The options as the first version had them: pci_host must start at or after
 * its size, never in its tail padding, whose bytes an older caller may leave
 * uninitialised (docs/architecture.md). */
struct acpi_options_v1 {
	size_t size;
	uint32_t ncpus, flags;
	uint64_t gpa, space;
	uint32_t ioapic_addr;
	uint16_t pm_port, iapc_boot_arch;
	const struct kvmhost_x86_acpi_device *devices;
	uint32_t device_count;
};
_Static_assert(offsetof(struct kvmhost_x86_acpi_options, pci_host) >= sizeof(struct acpi_options_v1),
	       "pci_host would sit in the first version's tail padding");
/* The second version ended with pci_host: power_button_gsi must start after it. */
struct acpi_options_v2 {
	struct acpi_options_v1 v1;
	const struct kvmhost_x86_acpi_pci_host *pci_host;
};
_Static_assert(offsetof(struct kvmhost_x86_acpi_options, power_button_gsi) >= sizeof(struct acpi_options_v2),
	       "power_button_gsi would sit in the second version's tail padding");
/* The third ended with power_button_gsi: device_size must start after it. */
struct acpi_options_v3 {
	struct acpi_options_v2 v2;
	uint32_t power_button_gsi;
};
_Static_assert(offsetof(struct kvmhost_x86_acpi_options, device_size) >= sizeof(struct acpi_options_v3),
	       "device_size would sit in the third version's tail padding");
_Static_assert(offsetof(struct kvmhost_x86_acpi_options, device_count) ==
		   offsetof(struct acpi_options_v1, device_count),
	       "the first version's fields moved");

struct acpi_layout {
	uint32_t xsdt, fadt, dsdt, madt, mcfg, size; /* offsets from the RSDP (mcfg 0: none), total size */
	uint32_t xsdt_len, dsdt_len, madt_len;
};

static void layout(uint32_t ncpus, uint32_t flags, uint32_t aml_len, int mcfg, struct acpi_layout *l)
{
	l->xsdt_len = SDT_HDR_SIZE + 8 * (XSDT_ENTRIES + (mcfg ? 1 : 0));
	l->dsdt_len = SDT_HDR_SIZE + aml_len;
	l->madt_len = SDT_HDR_SIZE + 8 + ncpus * MADT_LAPIC_SIZE + MADT_IOAPIC_SIZE +
		      (flags & KVMHOST_X86_PLATFORM_IRQ0_PIN0 ? 0 : MADT_ISO_SIZE) + MADT_LAPIC_NMI_SIZE;
	l->xsdt = ALIGN16(RSDP_SIZE);
	l->fadt = ALIGN16(l->xsdt + l->xsdt_len);
	l->dsdt = ALIGN16(l->fadt + FADT_SIZE);
	l->madt = ALIGN16(l->dsdt + l->dsdt_len);
	l->size = l->madt + l->madt_len;
	l->mcfg = 0;
	if (mcfg) { /* last, so that the tables before it do not move */
		l->mcfg = ALIGN16(l->size);
		l->size = l->mcfg + MCFG_SIZE;
	}
}

static void put_sdt_header(struct kh_bytes *b, const char *sig, uint32_t len, uint8_t rev)
{
	kh_put_str(b, sig, 4);
	kh_put32(b, len);
	kh_put8(b, rev);
	kh_put8(b, 0); /* checksum, set once the table is complete */
	kh_put_str(b, OEM_ID, 6);
	kh_put_str(b, OEM_TABLE_ID, 8);
	kh_put32(b, 1); /* OEM revision */
	kh_put_str(b, CREATOR_ID, 4);
	kh_put32(b, 1); /* creator revision */
}

static void put_gas_io(struct kh_bytes *b, uint16_t port)
{
	kh_put8(b, GAS_SYSTEM_IO);
	kh_put8(b, 8); /* register bit width */
	kh_put8(b, 0); /* bit offset */
	kh_put8(b, GAS_ACCESS_BYTE);
	kh_put64(b, port);
}

/* Move the cursor to @off (the padding between tables is zero). */
static void seek(struct kh_bytes *b, uint32_t off)
{
	if (b->pos < off)
		kh_put_zero(b, off - b->pos);
}

static void put_fadt(struct kh_bytes *b, uint64_t dsdt, uint16_t port, uint16_t boot_arch)
{
	put_sdt_header(b, "FACP", FADT_SIZE, 6);
	kh_put32(b, 0);	     /* FIRMWARE_CTRL: no FACS, optional when hardware-reduced */
	kh_put32(b, 0);	     /* DSDT: only X_DSDT is set, so the two cannot disagree */
	kh_put8(b, 0);	     /* reserved */
	kh_put8(b, 0);	     /* preferred PM profile: unspecified */
	kh_put16(b, 0);	     /* SCI_INT: none (hardware-reduced) */
	kh_put32(b, 0);	     /* SMI_CMD: no SMM, ACPI is always on */
	kh_put_zero(b, 4);   /* ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT */
	kh_put_zero(b, 32);  /* PM1a/b event and control, PM2, PM timer, GPE0/1 blocks */
	kh_put_zero(b, 8);   /* their lengths, GPE1 base, CST_CNT */
	kh_put16(b, 0x0fff); /* P_LVL2_LAT: over 100 us, i.e. no C2 */
	kh_put16(b, 0xffff); /* P_LVL3_LAT: over 1000 us, i.e. no C3 */
	kh_put_zero(b, 9);   /* flush size/stride, duty cycle, RTC alarms, century */
	kh_put16(b, boot_arch);
	kh_put8(b, 0); /* reserved */
	kh_put32(b, FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP | FADT_PWR_BUTTON | FADT_SLP_BUTTON);
	put_gas_io(b, (uint16_t)(port + KVMHOST_X86_ACPI_RESET));
	kh_put8(b, KVMHOST_X86_ACPI_RESET_VALUE);
	kh_put16(b, 0);	    /* ARM boot flags */
	kh_put8(b, 0);	    /* FADT minor version */
	kh_put64(b, 0);	    /* X_FIRMWARE_CTRL */
	kh_put64(b, dsdt);  /* X_DSDT */
	kh_put_zero(b, 96); /* X_PM1a/b event and control, X_PM2, X_PM timer, X_GPE0/1 */
	put_gas_io(b, (uint16_t)(port + KVMHOST_X86_ACPI_SLEEP_CONTROL));
	put_gas_io(b, (uint16_t)(port + KVMHOST_X86_ACPI_SLEEP_STATUS));
	kh_put_str(b, "KVMHOST", 8); /* hypervisor vendor identity */
}

static void put_madt(struct kh_bytes *b, uint32_t len, uint32_t ncpus, uint32_t flags, uint32_t ioapic_addr)
{
	put_sdt_header(b, "APIC", len, 5);
	kh_put32(b, KVMHOST_X86_LAPIC_ADDR);
	kh_put32(b, MADT_PCAT_COMPAT); /* KVM's full irqchip has the dual 8259 */
	for (uint32_t i = 0; i < ncpus; i++) {
		kh_put8(b, MADT_TYPE_LAPIC);
		kh_put8(b, MADT_LAPIC_SIZE);
		kh_put8(b, (uint8_t)i); /* ACPI processor UID */
		kh_put8(b, (uint8_t)i); /* APIC ID */
		kh_put32(b, MADT_ENABLED);
	}
	kh_put8(b, MADT_TYPE_IOAPIC);
	kh_put8(b, MADT_IOAPIC_SIZE);
	kh_put8(b, (uint8_t)ncpus); /* IOAPIC ID, after the processors as in the MP table */
	kh_put8(b, 0);
	kh_put32(b, ioapic_addr);
	kh_put32(b, 0); /* GSI base */
	if (!(flags & KVMHOST_X86_PLATFORM_IRQ0_PIN0)) {
		kh_put8(b, MADT_TYPE_ISO);
		kh_put8(b, MADT_ISO_SIZE);
		kh_put8(b, 0);	/* bus: ISA */
		kh_put8(b, 0);	/* source: IRQ 0 */
		kh_put32(b, 2); /* GSI 2 */
		kh_put16(b, 0); /* polarity and trigger: conforming */
	}
	kh_put8(b, MADT_TYPE_LAPIC_NMI);
	kh_put8(b, MADT_LAPIC_NMI_SIZE);
	kh_put8(b, ALL_PROCESSORS);
	kh_put16(b, 0);
	kh_put8(b, 1); /* LINT1 */
}

/* PCI Firmware specification 3.x, MCFG: one allocation, segment 0. */
static void put_mcfg(struct kh_bytes *b, const struct kvmhost_x86_acpi_pci_host *p)
{
	put_sdt_header(b, "MCFG", MCFG_SIZE, 1);
	kh_put_zero(b, 8);	   /* reserved */
	kh_put64(b, p->ecam_base); /* of bus 0, even when the range starts later */
	kh_put16(b, 0);		   /* PCI segment group */
	kh_put8(b, (uint8_t)p->bus_start);
	kh_put8(b, (uint8_t)p->bus_end);
	kh_put32(b, 0); /* reserved */
}

KVMHOST_API int kvmhost_x86_acpi_write(struct kvmhost_memory *mem, const struct kvmhost_x86_acpi_options *opts,
				       uint64_t *rsdp, uint64_t *written)
{
	struct kvmhost_x86_acpi_options o;
	struct kvmhost_x86_acpi_device *devs = NULL;
	struct kvmhost_x86_acpi_pci_host pci;
	struct acpi_layout l;
	struct kh_bytes b;
	uint64_t space, end;
	uint8_t *buf, *aml;
	uint32_t aml_len;
	size_t dsize;
	int r;

	if (!mem || !opts)
		return KH_FAIL(EINVAL, "mem or opts is NULL");
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	if (o.ncpus == 0 || o.ncpus > KVMHOST_X86_PLATFORM_MAX_CPUS)
		return KH_FAIL(EINVAL, "%u vCPUs; 1 to %u allowed", o.ncpus, KVMHOST_X86_PLATFORM_MAX_CPUS);
	if (o.flags & ~KVMHOST_X86_PLATFORM_IRQ0_PIN0)
		return KH_FAIL(EINVAL, "unknown flags 0x%x", o.flags & ~KVMHOST_X86_PLATFORM_IRQ0_PIN0);
	if (!o.gpa)
		o.gpa = KVMHOST_X86_ACPI_GPA_DEFAULT;
	if (!o.ioapic_addr)
		o.ioapic_addr = KVMHOST_X86_IOAPIC_ADDR_DEFAULT;
	if (!o.pm_port)
		o.pm_port = KVMHOST_X86_ACPI_PM_PORT_DEFAULT;
	if (o.pm_port > 0xffff - KVMHOST_X86_ACPI_RESET)
		return KH_FAIL(EINVAL, "PM port 0x%x leaves no room for its three registers", o.pm_port);
	if (o.gpa & 15)
		return KH_FAIL(EINVAL, "RSDP address 0x%llx is not 16-byte aligned", (unsigned long long)o.gpa);
	if (o.power_button_gsi == 2 || o.power_button_gsi >= KVMHOST_X86_IOAPIC_PINS)
		return KH_FAIL(EINVAL, "power button GSI %u: want 1 or 3 to %u", o.power_button_gsi,
			       KVMHOST_X86_IOAPIC_PINS - 1);
	if (o.device_count && !o.devices)
		return KH_FAIL(EINVAL, "devices is NULL but device_count is %u", o.device_count);
	if (o.device_count > KVMHOST_X86_ACPI_MAX_DEVICES)
		return KH_FAIL(EINVAL, "%u devices; at most %u", o.device_count, KVMHOST_X86_ACPI_MAX_DEVICES);
	/* The caller's devices in this library's layout (their element size), for the checks and the DSDT. */
	r = kh_x86_element_size(o.device_size, sizeof(struct kh_x86_acpi_device_v1), sizeof(*devs), "device_size",
				__func__, &dsize);
	if (r == 0)
		r = kh_x86_elements_in((void **)&devs, o.devices, o.device_count, dsize, sizeof(*devs), "devices",
				       __func__);
	if (r == 0)
		r = kh_acpi_check_devices(devs, o.device_count, __func__);
	if (r == 0 && o.pci_host)
		r = kh_acpi_pci_host_resolve(o.pci_host, o.ioapic_addr, o.pm_port, devs, o.device_count, &pci,
					     __func__);
	if (r == 0)
		r = kh_acpi_dsdt_body(devs, o.device_count, o.pci_host ? &pci : NULL, o.power_button_gsi, &aml,
				      &aml_len, __func__);
	free(devs);
	if (r < 0)
		return r;
	layout(o.ncpus, o.flags, aml_len, o.pci_host && pci.ecam_base, &l);
	end = (o.gpa | 0xffff) + 1; /* the next 64 KiB boundary */
	space = o.space ? o.space : end - o.gpa;
	if (o.gpa + l.size > (1ull << 32))
		r = KH_FAIL(EINVAL, "tables at 0x%llx (%u bytes) would reach past 4 GiB", (unsigned long long)o.gpa,
			    l.size);
	else if (l.size > space)
		r = KH_FAIL(ENOSPC, "ACPI tables for %u vCPUs and %u devices need %u bytes; %llu available at 0x%llx",
			    o.ncpus, o.device_count, l.size, (unsigned long long)space, (unsigned long long)o.gpa);
	buf = r < 0 ? NULL : calloc(1, l.size);
	if (!buf) {
		free(aml);
		return r < 0 ? r : KH_FAIL(ENOMEM, "cannot allocate %u bytes", l.size);
	}
	kh_bytes_init(&b, buf, l.size);

	/* RSDP, ACPI 2.0+: RSDT address 0, XSDT address set. */
	kh_put_str(&b, "RSD PTR ", 8);
	kh_put8(&b, 0); /* checksum of the first 20 bytes, below */
	kh_put_str(&b, OEM_ID, 6);
	kh_put8(&b, 2); /* revision */
	kh_put32(&b, 0);
	kh_put32(&b, RSDP_SIZE);
	kh_put64(&b, o.gpa + l.xsdt);
	kh_put8(&b, 0); /* extended checksum, below */
	kh_put_zero(&b, 3);

	seek(&b, l.xsdt);
	put_sdt_header(&b, "XSDT", l.xsdt_len, 1);
	kh_put64(&b, o.gpa + l.fadt);
	kh_put64(&b, o.gpa + l.madt);
	if (l.mcfg)
		kh_put64(&b, o.gpa + l.mcfg);

	seek(&b, l.fadt);
	put_fadt(&b, o.gpa + l.dsdt, o.pm_port, o.iapc_boot_arch);

	seek(&b, l.dsdt);
	put_sdt_header(&b, "DSDT", l.dsdt_len, 2);
	for (uint32_t i = 0; i < aml_len; i++)
		kh_put8(&b, aml[i]);
	free(aml);

	seek(&b, l.madt);
	put_madt(&b, l.madt_len, o.ncpus, o.flags, o.ioapic_addr);

	if (l.mcfg) {
		seek(&b, l.mcfg);
		put_mcfg(&b, &pci);
	}

	if (b.pos != l.size) { /* the layout and the writer disagree: a bug here, not bad input */
		free(buf);
		return KH_FAIL(EPROTO, "internal error: wrote %u of %u bytes", b.pos, l.size);
	}
	buf[8] = kh_checksum(buf, 20);
	buf[32] = kh_checksum(buf, RSDP_SIZE);
	buf[l.xsdt + 9] = kh_checksum(buf + l.xsdt, l.xsdt_len);
	buf[l.fadt + 9] = kh_checksum(buf + l.fadt, FADT_SIZE);
	buf[l.dsdt + 9] = kh_checksum(buf + l.dsdt, l.dsdt_len);
	buf[l.madt + 9] = kh_checksum(buf + l.madt, l.madt_len);
	if (l.mcfg)
		buf[l.mcfg + 9] = kh_checksum(buf + l.mcfg, MCFG_SIZE);

	r = kvmhost_memory_write(mem, o.gpa, buf, l.size);
	free(buf);
	if (r < 0)
		return KH_FAIL(-r, "cannot write %u bytes of ACPI tables at 0x%llx", l.size, (unsigned long long)o.gpa);
	if (rsdp)
		*rsdp = o.gpa;
	if (written)
		*written = l.size;
	return 0;
}
