/*
 * The Intel MultiProcessor Specification 1.4 table: how a kernel without
 * ACPI learns how many CPUs there are and how ISA interrupts reach the
 * IOAPIC. It is assembled in a host buffer, byte by byte in the spec's
 * little-endian layout (no packed structs: the layout is the spec's, not the
 * compiler's), then written into guest memory with the checked accessor.
 */
#include <stdlib.h>
#include <string.h>

#include "../../../core/internal.h"
#include "platform_internal.h"
#include <kvmhost/memory.h>
#include <kvmhost/x86_platform.h>

#define MPF_SIZE       16u /* floating pointer structure */
#define MPC_HDR_SIZE   44u /* configuration table header */
#define MPC_CPU_SIZE   20u /* processor entry */
#define MPC_SHORT_SIZE 8u  /* bus, IOAPIC, I/O and local interrupt entries */
#define ISA_IRQS       16u

#define MP_PROCESSOR 0
#define MP_BUS	     1
#define MP_IOAPIC    2
#define MP_INTSRC    3
#define MP_LINTSRC   4

#define MP_INT	  0
#define MP_NMI	  1
#define MP_EXTINT 3

#define CPU_ENABLED	  1u
#define CPU_BOOTPROCESSOR 2u
#define IOAPIC_ENABLED	  1u
#define LAPIC_VERSION	  0x14u /* integrated APIC, what KVM's LAPIC reports */
#define IOAPIC_VERSION	  0x11u /* what KVM's IOAPIC reports */
#define ISA_BUS_ID	  0u
#define ALL_LAPICS	  0xffu
#define MP_SPEC_REV	  4u /* version 1.4 */

#define DEFAULT_CPU_SIGNATURE 0x600u
#define DEFAULT_CPU_FEATURES  0x201u /* FPU, APIC */

/* The areas Linux's smp_scan_config() searches for "_MP_" (with 640 KiB of
 * base memory): the last KiB of base memory and the BIOS ROM area. */
static const struct {
	uint64_t start, end;
} scan_areas[] = {
    {0x9fc00, 0xa0000},
    {0xf0000, 0x100000},
};

static uint32_t io_int_count(uint32_t flags)
{
	/* With IRQ 0 on pin 2, IRQ 2 (the cascade) has no pin of its own. */
	return flags & KVMHOST_X86_PLATFORM_IRQ0_PIN0 ? ISA_IRQS : ISA_IRQS - 1;
}

static int table_size(uint32_t ncpus, uint32_t flags)
{
	return (int)(MPF_SIZE + MPC_HDR_SIZE + ncpus * MPC_CPU_SIZE + MPC_SHORT_SIZE /* bus */ +
		     MPC_SHORT_SIZE /* IOAPIC */ + io_int_count(flags) * MPC_SHORT_SIZE +
		     2 * MPC_SHORT_SIZE /* LINTs */);
}

static int check_common(uint32_t ncpus, uint32_t flags, const char *func)
{
	if (ncpus == 0 || ncpus > KVMHOST_X86_PLATFORM_MAX_CPUS)
		return kh_fail(EINVAL, func, "%u vCPUs; 1 to %u allowed", ncpus, KVMHOST_X86_PLATFORM_MAX_CPUS);
	if (flags & ~KVMHOST_X86_PLATFORM_IRQ0_PIN0)
		return kh_fail(EINVAL, func, "unknown flags 0x%x", flags & ~KVMHOST_X86_PLATFORM_IRQ0_PIN0);
	return 0;
}

KVMHOST_API int kvmhost_x86_mptable_size(uint32_t ncpus, uint32_t flags)
{
	int r = check_common(ncpus, flags, __func__);

	return r < 0 ? r : table_size(ncpus, flags);
}

static void put_intsrc(struct kh_bytes *b, uint8_t type, uint8_t bus_irq, uint8_t apic, uint8_t pin)
{
	kh_put8(b, MP_INTSRC);
	kh_put8(b, type);
	kh_put16(b, 0); /* polarity and trigger: conforming to the bus (ISA: edge, active high) */
	kh_put8(b, ISA_BUS_ID);
	kh_put8(b, bus_irq);
	kh_put8(b, apic);
	kh_put8(b, pin);
}

static void put_lintsrc(struct kh_bytes *b, uint8_t type, uint8_t lint)
{
	kh_put8(b, MP_LINTSRC);
	kh_put8(b, type);
	kh_put16(b, 0);
	kh_put8(b, ISA_BUS_ID);
	kh_put8(b, 0);
	kh_put8(b, ALL_LAPICS);
	kh_put8(b, lint);
}

KVMHOST_API int kvmhost_x86_mptable_write(struct kvmhost_memory *mem, const struct kvmhost_x86_mptable_options *opts,
					  uint64_t *written)
{
	struct kvmhost_x86_mptable_options o;
	struct kh_bytes b;
	uint64_t space, area_end = 0;
	uint32_t ioapic_id, size, entries;
	uint8_t *buf;
	int r;

	if (!mem || !opts)
		return KH_FAIL(EINVAL, "mem or opts is NULL");
	r = KH_COPY_OPTIONS(&o, opts);
	if (r < 0)
		return r;
	r = check_common(o.ncpus, o.flags, __func__);
	if (r < 0)
		return r;
	if (!o.gpa)
		o.gpa = KVMHOST_X86_MPTABLE_GPA_DEFAULT;
	if (!o.ioapic_addr)
		o.ioapic_addr = KVMHOST_X86_IOAPIC_ADDR_DEFAULT;
	if (!o.cpu_signature)
		o.cpu_signature = DEFAULT_CPU_SIGNATURE;
	if (!o.cpu_features)
		o.cpu_features = DEFAULT_CPU_FEATURES;
	for (size_t i = 0; i < KH_ARRAY_SIZE(scan_areas); i++)
		if (o.gpa >= scan_areas[i].start && o.gpa + MPF_SIZE <= scan_areas[i].end)
			area_end = scan_areas[i].end;
	if (!area_end || o.gpa & 15)
		return KH_FAIL(
		    EINVAL,
		    "MP table address 0x%llx must be 16-byte aligned in [0x9fc00, 0xa0000) or [0xf0000, 0x100000), "
		    "where guests look for it",
		    (unsigned long long)o.gpa);
	space = o.space ? o.space : area_end - o.gpa;
	size = (uint32_t)table_size(o.ncpus, o.flags);
	if (size > space)
		return KH_FAIL(ENOSPC, "an MP table for %u vCPUs needs %u bytes; %llu available at 0x%llx", o.ncpus,
			       size, (unsigned long long)space, (unsigned long long)o.gpa);

	buf = calloc(1, size);
	if (!buf)
		return KH_FAIL(ENOMEM, "cannot allocate %u bytes", size);
	ioapic_id = o.ncpus;
	entries = o.ncpus + 2 + io_int_count(o.flags) + 2;

	/* Floating pointer: one 16-byte paragraph, config table right after. */
	kh_bytes_init(&b, buf, size);
	kh_put_str(&b, "_MP_", 4);
	kh_put32(&b, (uint32_t)(o.gpa + MPF_SIZE));
	kh_put8(&b, 1); /* length in paragraphs */
	kh_put8(&b, MP_SPEC_REV);
	kh_put8(&b, 0); /* checksum, below */
	kh_put8(&b, 0); /* feature 1: 0 = a configuration table is present */
	kh_put8(&b, 0); /* feature 2: no IMCR, virtual wire mode */
	kh_put_zero(&b, 3);

	/* Configuration table header. */
	kh_put_str(&b, "PCMP", 4);
	kh_put16(&b, (uint16_t)(size - MPF_SIZE));
	kh_put8(&b, MP_SPEC_REV);
	kh_put8(&b, 0); /* checksum, below */
	kh_put_str(&b, "KVMHOST", 8);
	kh_put_str(&b, "LIBKVMHOST", 12);
	kh_put32(&b, 0); /* no OEM table */
	kh_put16(&b, 0);
	kh_put16(&b, (uint16_t)entries);
	kh_put32(&b, KVMHOST_X86_LAPIC_ADDR);
	kh_put16(&b, 0); /* no extended table */
	kh_put8(&b, 0);
	kh_put8(&b, 0);

	for (uint32_t i = 0; i < o.ncpus; i++) {
		kh_put8(&b, MP_PROCESSOR);
		kh_put8(&b, (uint8_t)i);
		kh_put8(&b, LAPIC_VERSION);
		kh_put8(&b, (uint8_t)(CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0)));
		kh_put32(&b, o.cpu_signature);
		kh_put32(&b, o.cpu_features);
		kh_put_zero(&b, 8);
	}
	kh_put8(&b, MP_BUS);
	kh_put8(&b, ISA_BUS_ID);
	kh_put_str(&b, "ISA   ", 6);

	kh_put8(&b, MP_IOAPIC);
	kh_put8(&b, (uint8_t)ioapic_id);
	kh_put8(&b, IOAPIC_VERSION);
	kh_put8(&b, IOAPIC_ENABLED);
	kh_put32(&b, o.ioapic_addr);

	for (uint32_t irq = 0; irq < ISA_IRQS; irq++) {
		uint32_t pin = irq;

		if (!(o.flags & KVMHOST_X86_PLATFORM_IRQ0_PIN0)) {
			if (irq == 2)
				continue;
			if (irq == 0)
				pin = 2;
		}
		put_intsrc(&b, MP_INT, (uint8_t)irq, (uint8_t)ioapic_id, (uint8_t)pin);
	}
	put_lintsrc(&b, MP_EXTINT, 0);
	put_lintsrc(&b, MP_NMI, 1);

	buf[10] = kh_checksum(buf, MPF_SIZE);
	buf[MPF_SIZE + 7] = kh_checksum(buf + MPF_SIZE, size - MPF_SIZE);
	if (b.pos != size) { /* the size arithmetic and the writer disagree: a bug here, not bad input */
		free(buf);
		return KH_FAIL(EPROTO, "internal error: wrote %u of %u bytes", b.pos, size);
	}

	r = kvmhost_memory_write(mem, o.gpa, buf, size);
	free(buf);
	if (r < 0)
		return KH_FAIL(-r, "cannot write %u bytes of MP table at 0x%llx", size, (unsigned long long)o.gpa);
	if (written)
		*written = size;
	return 0;
}
