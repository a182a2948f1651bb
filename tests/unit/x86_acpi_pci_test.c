/*
 * Unit tests of the PCI host bridge in the ACPI tables
 * (struct kvmhost_x86_acpi_pci_host): the DSDT's Device (PCI0) with its
 * _CRS windows and _PRT parsed back, the ECAM reservation and the MCFG, every
 * checksum, every refused description with its errno and a message, the
 * disassembly by ACPICA's iasl when it is installed, and the tables without a
 * PCI host compared byte for byte with what the writer produced before the
 * PCI host existed (also for a caller built against the first options struct).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/x86_platform.h>
#include "core/internal.h"

#define MiB 0x100000ull
#define GiB 0x40000000ull

#define UNIT_ERROR_PREFIX "kvmhost_x86_acpi_write: "
#include "unit_assert.h"

/* What kvmhost_x86_acpi_write() wrote before struct kvmhost_x86_acpi_pci_host
 * existed (captured from the library at that commit, 67a67e5): 2 vCPUs and
 * defaults; then 4 vCPUs, IRQ 0 on pin 0 and COM1 in the DSDT. */
/* clang-format off */
static const uint8_t golden_plain[536] = {
    0x52, 0x53, 0x44, 0x20, 0x50, 0x54, 0x52, 0x20, 0x02, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x30, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x9e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x58, 0x53, 0x44, 0x54, 0x34, 0x00, 0x00, 0x00, 0x01, 0xf9, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x70, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x01, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x46, 0x41, 0x43, 0x50, 0x14, 0x01, 0x00, 0x00, 0x06, 0x1a, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0x0f, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x30, 0x04, 0x10, 0x00, 0x01, 0x08, 0x00, 0x01, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x90, 0x01, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x08, 0x00, 0x01, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x4f, 0x53, 0x54, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x44, 0x53, 0x44, 0x54, 0x2f, 0x00, 0x00, 0x00, 0x02, 0xe8, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00, 0x00,
    0x41, 0x50, 0x49, 0x43, 0x58, 0x00, 0x00, 0x00, 0x05, 0x6c, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x02, 0x00,
    0x00, 0x00, 0xc0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x04, 0x06, 0xff, 0x00, 0x00, 0x01,
};
static const uint8_t golden_com1[606] = {
    0x52, 0x53, 0x44, 0x20, 0x50, 0x54, 0x52, 0x20, 0x02, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54, 0x02,
    0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x30, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x9e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x58, 0x53, 0x44, 0x54, 0x34, 0x00, 0x00, 0x00, 0x01, 0xb8, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x70, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x46, 0x41, 0x43, 0x50, 0x14, 0x01, 0x00, 0x00, 0x06, 0x1a, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0x0f, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x30, 0x04, 0x10, 0x00, 0x01, 0x08, 0x00, 0x01, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x90, 0x01, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x08, 0x00, 0x01, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x4f, 0x53, 0x54, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x44, 0x53, 0x44, 0x54, 0x63, 0x00, 0x00, 0x00, 0x02, 0xc4, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00, 0x10,
    0x33, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x2b, 0x44, 0x30, 0x30, 0x30, 0x08, 0x5f, 0x48,
    0x49, 0x44, 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x01, 0x08, 0x5f, 0x43,
    0x52, 0x53, 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10,
    0x00, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x41, 0x50, 0x49, 0x43, 0x5e, 0x00, 0x00, 0x00, 0x05, 0x56, 0x4b, 0x56, 0x4d, 0x48, 0x53, 0x54,
    0x4c, 0x49, 0x42, 0x4b, 0x56, 0x4d, 0x48, 0x20, 0x01, 0x00, 0x00, 0x00, 0x4b, 0x56, 0x4d, 0x48,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x02, 0x02,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x03, 0x03, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x04, 0x00,
    0x00, 0x00, 0xc0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x04, 0x06, 0xff, 0x00, 0x00, 0x01,
};
/* clang-format on */

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* Guest memory over the first MiB, where the tables go by default. */
static struct kvmhost_memory *low_memory(uint8_t **host)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	struct kvmhost_memory_region *r;
	struct kvmhost_memory *mem;

	ASSERT_OK(kvmhost_memory_create(&mem));
	o.guest_phys_addr = 0;
	o.length = MiB;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	ASSERT_OK(kvmhost_memory_add_region(mem, &o, &r));
	*host = kvmhost_memory_region_host_addr(r);
	return mem;
}

/* A table at @gpa: signature, length, checksum, OEM ID. */
static const uint8_t *sdt(const uint8_t *ram, uint64_t gpa, const char *sig)
{
	const uint8_t *t = ram + gpa;

	assert_true(gpa < MiB);
	assert_memory_equal(t, sig, 4);
	assert_true(rd32(t + 4) >= 36);
	assert_int_equal(sum8(t, rd32(t + 4)), 0);
	assert_memory_equal(t + 10, "KVMHST", 6);
	return t;
}

struct tables {
	const uint8_t *xsdt, *fadt, *dsdt, *madt, *mcfg;
	uint32_t xsdt_entries;
};

/* Follow RSDP -> XSDT -> FADT -> DSDT, MADT, MCFG, checking every checksum. */
static void find_tables(const uint8_t *ram, uint64_t rsdp, struct tables *t)
{
	const uint8_t *r = ram + rsdp;

	memset(t, 0, sizeof(*t));
	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum8(r, 20), 0);
	assert_int_equal(sum8(r, 36), 0);
	t->xsdt = sdt(ram, rd64(r + 24), "XSDT");
	t->xsdt_entries = (rd32(t->xsdt + 4) - 36) / 8;
	assert_int_equal(rd32(t->xsdt + 4), 36 + 8 * t->xsdt_entries);
	assert_true(t->xsdt_entries == 2 || t->xsdt_entries == 3);
	t->fadt = sdt(ram, rd64(t->xsdt + 36), "FACP");
	t->madt = sdt(ram, rd64(t->xsdt + 44), "APIC");
	if (t->xsdt_entries == 3)
		t->mcfg = sdt(ram, rd64(t->xsdt + 52), "MCFG");
	t->dsdt = sdt(ram, rd64(t->fadt + 140), "DSDT");
}

/* A PkgLength at @p: the value (it counts its own bytes), *n its size. */
static uint32_t pkglen(const uint8_t *p, uint32_t *n)
{
	uint32_t extra = p[0] >> 6, v;

	if (extra == 0) {
		*n = 1;
		return p[0] & 0x3f;
	}
	v = p[0] & 0xf;
	for (uint32_t i = 0; i < extra; i++)
		v |= (uint32_t)p[1 + i] << (4 + 8 * i);
	*n = 1 + extra;
	return v;
}

/* An AML Integer (ZeroOp, OneOp or a Byte/Word/DWord/QWord constant). */
static uint64_t aml_int(const uint8_t **pp)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	int n;

	switch (p[0]) {
	case 0x00:
	case 0x01:
		*pp = p + 1;
		return p[0];
	case 0x0a:
		n = 1;
		break;
	case 0x0b:
		n = 2;
		break;
	case 0x0c:
		n = 4;
		break;
	case 0x0e:
		n = 8;
		break;
	default:
		fail_msg("not an integer: opcode 0x%02x", p[0]);
		return 0;
	}
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[1 + i] << (8 * i);
	*pp = p + 1 + n;
	return v;
}

/* The object named @name inside [from, end): the byte after the NameOp's name. */
static const uint8_t *named(const uint8_t *from, const uint8_t *end, const char *name)
{
	char pat[5] = {0x08};

	memcpy(pat + 1, name, 4);
	const uint8_t *p = memmem(from, (size_t)(end - from), pat, 5);

	assert_non_null(p);
	return p + 5;
}

/* Device (@name) in the DSDT: [*body, returned end). */
static const uint8_t *device(const uint8_t *dsdt, const char *name, const uint8_t **body)
{
	char pat[4];
	const uint8_t *p;
	uint32_t n, len;

	memcpy(pat, name, 4);
	p = memmem(dsdt + 36, rd32(dsdt + 4) - 36, pat, 4);
	assert_non_null(p);
	/* Back up over the PkgLength (1-3 bytes here) to the DeviceOp. */
	for (int back = 1; back <= 3; back++) {
		const uint8_t *op = p - back - 2;

		if (op[0] == 0x5b && op[1] == 0x82) {
			len = pkglen(op + 2, &n);
			if (n == (uint32_t)back) {
				*body = p + 4;
				return op + 2 + len;
			}
		}
	}
	fail_msg("Device (%s) has no DeviceOp before it", name);
	return NULL;
}

/* A resource template Name (_CRS, Buffer (n) {...}): the bytes and their count. */
static const uint8_t *crs(const uint8_t *body, const uint8_t *end, uint32_t *len)
{
	const uint8_t *p = named(body, end, "_CRS"), *q;
	uint32_t n;

	assert_int_equal(p[0], 0x11); /* BufferOp */
	pkglen(p + 1, &n);
	q = p + 1 + n;
	*len = (uint32_t)aml_int(&q);
	assert_int_equal(q[*len - 2], 0x79); /* end tag */
	return q;
}

static const struct kvmhost_x86_acpi_device com1 = {
    .hid = "PNP0501", .uid = 1, .io_base = 0x3f8, .io_length = 8, .irq = 4};

/* ------------------------------------------------------ no regression */

static void test_without_pci_host_unchanged(void **state)
{
	struct kvmhost_x86_acpi_pci_host bogus = {.size = sizeof(bogus), .bus_start = 7, .bus_end = 1};
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 2};
	struct kvmhost_memory *mem;
	uint64_t rsdp, written;
	uint8_t *ram;

	(void)state;
	mem = low_memory(&ram);
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	assert_int_equal(written, sizeof(golden_plain));
	assert_memory_equal(ram + rsdp, golden_plain, sizeof(golden_plain));

	memset(ram, 0, MiB);
	o = (struct kvmhost_x86_acpi_options){.size = sizeof(o),
					      .ncpus = 4,
					      .flags = KVMHOST_X86_PLATFORM_IRQ0_PIN0,
					      .devices = &com1,
					      .device_count = 1};
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	assert_int_equal(written, sizeof(golden_com1));
	assert_memory_equal(ram + rsdp, golden_com1, sizeof(golden_com1));

	/* A caller built against the first options struct passes its size: the
	 * new field lies beyond it and is not read, whatever the memory holds. */
	memset(ram, 0, MiB);
	o.size = offsetof(struct kvmhost_x86_acpi_options, pci_host);
	o.pci_host = &bogus; /* invalid, so reading it would fail */
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	assert_int_equal(written, sizeof(golden_com1));
	assert_memory_equal(ram + rsdp, golden_com1, sizeof(golden_com1));
	kvmhost_memory_destroy(mem);
}

/* ------------------------------------------------------- the PCI host */

static void put_le(uint8_t *buf, uint32_t *w, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		buf[(*w)++] = (uint8_t)(v >> (8 * i));
}

/* Check Device (PCI0) against @p (defaults resolved by the caller). */
static void check_pci0(const uint8_t *dsdt, const struct kvmhost_x86_acpi_pci_host *p)
{
	const uint8_t *body, *end, *r, *q;
	uint32_t len, n, count;
	uint8_t want[128];
	uint32_t w = 0;

	end = device(dsdt, "PCI0", &body);
	assert_true(end <= dsdt + rd32(dsdt + 4));
	q = named(body, end, "_HID");
	assert_memory_equal(q, "\x0c\x41\xd0\x0a\x08", 5); /* EisaId ("PNP0A08") */
	q = named(body, end, "_CID");
	assert_memory_equal(q, "\x0c\x41\xd0\x0a\x03", 5); /* EisaId ("PNP0A03") */
	q = named(body, end, "_SEG");
	assert_int_equal(aml_int(&q), 0);
	q = named(body, end, "_BBN");
	assert_int_equal(aml_int(&q), p->bus_start);
	q = named(body, end, "_UID");
	assert_int_equal(aml_int(&q), 0);

	/* The _CRS, byte for byte. */
#define PUT(v, bytes) put_le(want, &w, (v), (bytes))
	/* WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, start, end, 0, count) */
	PUT(0x88, 1), PUT(13, 2), PUT(2, 1), PUT(0x0c, 1), PUT(0, 1), PUT(0, 2), PUT(p->bus_start, 2);
	PUT(p->bus_end, 2), PUT(0, 2), PUT(p->bus_end - p->bus_start + 1, 2);
	/* IO (Decode16, 0x0CF8, 0x0CF8, 1, 8) */
	PUT(0x47, 1), PUT(1, 1), PUT(0xcf8, 2), PUT(0xcf8, 2), PUT(1, 1), PUT(8, 1);
	/* WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...) */
	PUT(0x88, 1), PUT(13, 2), PUT(1, 1), PUT(0x0c, 1), PUT(3, 1), PUT(0, 2), PUT(p->io_base, 2);
	PUT(p->io_base + p->io_size - 1, 2), PUT(0, 2), PUT(p->io_size, 2);
	/* DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...) */
	PUT(0x87, 1), PUT(23, 2), PUT(0, 1), PUT(0x0c, 1), PUT(1, 1), PUT(0, 4), PUT(p->mmio32_base, 4);
	PUT(p->mmio32_base + p->mmio32_size - 1, 4), PUT(0, 4), PUT(p->mmio32_size, 4);
	if (p->mmio64_size) { /* QWordMemory, the same flags */
		PUT(0x8a, 1), PUT(43, 2), PUT(0, 1), PUT(0x0c, 1), PUT(1, 1), PUT(0, 8), PUT(p->mmio64_base, 8);
		PUT(p->mmio64_base + (p->mmio64_size - 1), 8), PUT(0, 8), PUT(p->mmio64_size, 8);
	}
	PUT(0x79, 1), PUT(0, 1);
#undef PUT
	r = crs(body, end, &len);
	assert_int_equal(len, w);
	assert_memory_equal(r, want, w);

	/* The _PRT: every slot 1-31, every pin, on line (slot + pin) % 4. */
	if (!p->intx_gsi[0]) {
		assert_null(memmem(body, (size_t)(end - body), "\x08_PRT", 5));
		return;
	}
	q = named(body, end, "_PRT");
	assert_int_equal(q[0], 0x12); /* PackageOp */
	len = pkglen(q + 1, &n);
	assert_true(q + 1 + len <= end);
	count = q[1 + n];
	assert_int_equal(count, 31 * 4);
	q += 1 + n + 1;
	for (uint32_t slot = 1; slot <= 31; slot++) {
		for (uint32_t pin = 0; pin < 4; pin++) {
			const uint8_t *e = q;

			assert_int_equal(e[0], 0x12);
			len = pkglen(e + 1, &n);
			assert_int_equal(e[1 + n], 4);
			q = e + 1 + n + 1;
			assert_int_equal(aml_int(&q), (uint64_t)slot << 16 | 0xffff);
			assert_int_equal(aml_int(&q), pin);
			assert_int_equal(aml_int(&q), 0); /* no link device: the next is a GSI */
			assert_int_equal(aml_int(&q), p->intx_gsi[(slot + pin) % 4]);
			assert_ptr_equal(q, e + 1 + len);
		}
	}
}

static void check_ecam(const struct tables *t, const struct kvmhost_x86_acpi_pci_host *p)
{
	const uint8_t *body, *end, *q, *r;
	uint64_t first = p->ecam_base + p->bus_start * MiB, len = (p->bus_end - p->bus_start + 1ull) * MiB;
	uint32_t n;

	if (!p->ecam_base) {
		assert_null(t->mcfg);
		assert_null(memmem(t->dsdt, rd32(t->dsdt + 4), "ECAM", 4));
		return;
	}
	/* MCFG: one allocation, bus 0's base address. */
	assert_non_null(t->mcfg);
	assert_int_equal(rd32(t->mcfg + 4), 60);
	assert_int_equal(t->mcfg[8], 1);
	assert_int_equal(rd64(t->mcfg + 36), 0);
	assert_int_equal(rd64(t->mcfg + 44), p->ecam_base);
	assert_int_equal(t->mcfg[52] | t->mcfg[53] << 8, 0);
	assert_int_equal(t->mcfg[54], p->bus_start);
	assert_int_equal(t->mcfg[55], p->bus_end);
	assert_int_equal(rd32(t->mcfg + 56), 0);

	/* Device (ECAM): PNP0C02 with the area as a consumed memory range. */
	end = device(t->dsdt, "ECAM", &body);
	q = named(body, end, "_HID");
	assert_memory_equal(q, "\x0c\x41\xd0\x0c\x02", 5); /* EisaId ("PNP0C02") */
	r = crs(body, end, &n);
	if (first + len <= 4 * GiB) {
		assert_int_equal(n, 12 + 2);
		assert_memory_equal(r, "\x86\x09\x00\x01", 4); /* Memory32Fixed (ReadWrite, ...) */
		assert_int_equal(rd32(r + 4), first);
		assert_int_equal(rd32(r + 8), len);
	} else {
		assert_int_equal(n, 46 + 2);
		assert_memory_equal(r, "\x8a\x2b\x00\x00\x0d\x01", 6); /* QWordMemory (ResourceConsumer, ...) */
		assert_int_equal(rd64(r + 14), first);
		assert_int_equal(rd64(r + 22), first + len - 1);
		assert_int_equal(rd64(r + 38), len);
	}
}

static void test_pci_host_tables(void **state)
{
	struct kvmhost_x86_acpi_pci_host p = {.size = sizeof(p), .intx_gsi = {16, 17, 18, 19}, .ecam_base = 0xd0000000};
	struct kvmhost_x86_acpi_pci_host want;
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 2, .pci_host = &p};
	struct kvmhost_memory *mem;
	struct tables t;
	uint64_t rsdp, written;
	uint8_t *ram;

	(void)state;
	mem = low_memory(&ram);

	/* Defaults: the windows kvmhost_pci_host_create() uses, ECAM below 4 GiB. */
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	find_tables(ram, rsdp, &t);
	assert_int_equal(t.xsdt_entries, 3);
	assert_true((uint64_t)(t.mcfg + 60 - (ram + rsdp)) == written); /* the MCFG is last */
	want = p;
	want.io_base = 0xc000, want.io_size = 0x4000;
	want.mmio32_base = 0xe0000000, want.mmio32_size = 0xfec00000 - 0xe0000000;
	check_pci0(t.dsdt, &want);
	check_ecam(&t, &want);
	/* The FADT (but for X_DSDT) and the MADT are those of the same tables
	 * without a PCI host. */
	{
		const uint8_t *g = golden_plain, *gx = g + rd64(g + 24) - KVMHOST_X86_ACPI_GPA_DEFAULT;
		const uint8_t *gf = g + rd64(gx + 36) - KVMHOST_X86_ACPI_GPA_DEFAULT;
		const uint8_t *gm = g + rd64(gx + 44) - KVMHOST_X86_ACPI_GPA_DEFAULT;

		assert_memory_equal(t.fadt + 10, gf + 10, 140 - 10);
		assert_memory_equal(t.fadt + 148, gf + 148, 276 - 148);
		assert_int_equal(rd32(t.madt + 4), rd32(gm + 4));
		assert_memory_equal(t.madt, gm, rd32(gm + 4));
	}

	/* Every window given, a 64-bit one ending at 2^64, buses 1-3, ECAM above
	 * 4 GiB, the legacy COM1 before PCI0, GSIs repeated; all the space the
	 * tables need, and not a byte less. */
	memset(ram, 0, MiB);
	p = (struct kvmhost_x86_acpi_pci_host){.size = sizeof(p),
					       .bus_start = 1,
					       .bus_end = 3,
					       .io_base = 0x1000,
					       .io_size = 0x1000,
					       .mmio32_base = 0x80000000,
					       .mmio32_size = 0x40000000,
					       .mmio64_base = 0xffffff0000000000ull,
					       .mmio64_size = 0x10000000000ull,
					       .ecam_base = 0x1000000000ull,
					       .intx_gsi = {20, 20, 23, 16}};
	o.devices = &com1;
	o.device_count = 1;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	find_tables(ram, rsdp, &t);
	check_pci0(t.dsdt, &p);
	check_ecam(&t, &p);
	assert_non_null(memmem(t.dsdt, rd32(t.dsdt + 4), "D000", 4));
	assert_true(memmem(t.dsdt, rd32(t.dsdt + 4), "D000", 4) < memmem(t.dsdt, rd32(t.dsdt + 4), "PCI0", 4));
	o.space = written;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	o.space = written - 1;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), ENOSPC);
	o.space = 0;

	/* No ECAM, no INTx (MSI-X only): no MCFG, no Device (ECAM), no _PRT;
	 * the XSDT lists two tables as before. */
	memset(ram, 0, MiB);
	p = (struct kvmhost_x86_acpi_pci_host){.size = sizeof(p)};
	o.devices = NULL;
	o.device_count = 0;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	find_tables(ram, rsdp, &t);
	assert_int_equal(t.xsdt_entries, 2);
	want = p;
	want.io_base = 0xc000, want.io_size = 0x4000;
	want.mmio32_base = 0xe0000000, want.mmio32_size = 0xfec00000 - 0xe0000000;
	check_pci0(t.dsdt, &want);
	check_ecam(&t, &want);

	/* A larger struct from a newer caller is fine while its tail is zero. */
	{
		struct {
			struct kvmhost_x86_acpi_pci_host p;
			uint64_t future;
		} big = {.p = {.size = sizeof(big)}};

		o.pci_host = &big.p;
		ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
		big.future = 1;
		ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), E2BIG);
	}
	kvmhost_memory_destroy(mem);
}

/* Every refused description: -EINVAL (or -E2BIG) and a message naming the call. */
static void test_pci_host_bad(void **state)
{
	struct kvmhost_x86_acpi_device devs[2] = {
	    com1, {.hid = "LNRO0005", .mmio_base = 0xd0000000, .mmio_length = 0x1000, .irq = 20}};
	struct kvmhost_x86_acpi_pci_host p, good = {.size = sizeof(good), .intx_gsi = {16, 17, 18, 19}};
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 1, .pci_host = &p};
	struct kvmhost_memory *mem;
	uint64_t rsdp, written;
	uint8_t *ram;

	(void)state;
	mem = low_memory(&ram);
#define BAD(field_assignments, err)                                                                                    \
	do {                                                                                                           \
		p = good;                                                                                              \
		field_assignments;                                                                                     \
		ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), err);                                   \
	} while (0)

	p = good;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));

	/* The struct's size field. */
	BAD(p.size = 0, EINVAL);
	BAD(p.size = 70000, EINVAL);
	/* Bus range. */
	BAD((p.bus_start = 2, p.bus_end = 1), EINVAL);
	BAD(p.bus_end = 256, EINVAL);
	BAD((p.bus_start = 256, p.bus_end = 256), EINVAL);
	/* I/O window: empty, unaligned, past 0xffff, over the configuration
	 * ports, the PM ports or a device's ports. */
	BAD((p.io_base = 0xc000, p.io_size = 0), EINVAL);
	BAD((p.io_base = 0xc002, p.io_size = 0x1000), EINVAL);
	BAD((p.io_base = 0xc000, p.io_size = 0x1001), EINVAL);
	BAD((p.io_base = 0xf000, p.io_size = 0x1004), EINVAL);
	BAD((p.io_base = 0x0c00, p.io_size = 0x400), EINVAL);
	BAD((p.io_base = 0x0cfc, p.io_size = 4), EINVAL);
	BAD((p.io_base = 0x0600, p.io_size = 4), EINVAL); /* the default PM ports 0x600-0x602 */
	o.pm_port = 0xc100;
	BAD((void)0, EINVAL);
	o.pm_port = 0;
	o.devices = devs;
	o.device_count = 2;
	BAD((p.io_base = 0x0300, p.io_size = 0x100), EINVAL); /* COM1's 0x3f8-0x3ff */
	/* 32-bit MMIO window: empty, unaligned, past 4 GiB, over the IOAPIC,
	 * the local APIC or a device's MMIO. */
	BAD((p.mmio32_base = 0xe0000000, p.mmio32_size = 0), EINVAL);
	BAD((p.mmio32_base = 0xe0000800, p.mmio32_size = 0x100000), EINVAL);
	BAD((p.mmio32_base = 0xe0000000, p.mmio32_size = 0x100800), EINVAL);
	BAD((p.mmio32_base = 0xfff00000, p.mmio32_size = 0x200000), EINVAL);
	BAD((p.mmio32_base = 0xe0000000, p.mmio32_size = 0x1ec01000), EINVAL); /* IOAPIC at 0xfec00000 */
	o.ioapic_addr = 0xe0100000;
	BAD((void)0, EINVAL); /* the IOAPIC moved into the default window */
	o.ioapic_addr = 0;
	BAD((p.mmio32_base = 0xfee00000, p.mmio32_size = 0x1000), EINVAL);
	BAD((p.mmio32_base = 0xc0000000, p.mmio32_size = 0x20000000), EINVAL); /* devs[1] at 0xd0000000 */
	/* 64-bit MMIO window: a base without a size, unaligned, wrapping, over the 32-bit one. */
	BAD(p.mmio64_base = 0x8000000000ull, EINVAL);
	BAD((p.mmio64_base = 0x8000000800ull, p.mmio64_size = 0x100000), EINVAL);
	BAD((p.mmio64_base = 0x8000000000ull, p.mmio64_size = 0x100800), EINVAL);
	BAD((p.mmio64_base = 0xfffffffffff00000ull, p.mmio64_size = 0x200000), EINVAL);
	BAD((p.mmio64_base = 0xfe000000ull, p.mmio64_size = 0x1000000), EINVAL);
	/* ECAM: unaligned, wrapping, over a window, the IOAPIC, the local APIC or a device. */
	BAD(p.ecam_base = 0xb0080000, EINVAL);
	BAD((p.ecam_base = 0xfffffffffff00000ull, p.bus_end = 1), EINVAL);
	BAD(p.ecam_base = 0xe0000000, EINVAL);
	BAD((p.ecam_base = 0xc8000000, p.bus_end = 255), EINVAL); /* 256 MiB, up to 0xd7ffffff: devs[1] */
	BAD((p.mmio64_base = 0x8000000000ull, p.mmio64_size = GiB, p.ecam_base = 0x8000100000ull), EINVAL);
	BAD((p.mmio32_base = 0x80000000, p.mmio32_size = 0x1000, p.ecam_base = 0xfec00000), EINVAL);
	BAD((p.mmio32_base = 0x80000000, p.mmio32_size = 0x1000, p.ecam_base = 0xfee00000), EINVAL);
	BAD(p.ecam_base = 0xd0000000, EINVAL); /* devs[1] */
	/* INTx: some lines without a GSI, a GSI beyond the IOAPIC's 24 pins, ISA IRQs. */
	BAD(p.intx_gsi[2] = 0, EINVAL);
	BAD(p.intx_gsi[3] = 24, EINVAL);
	BAD(p.intx_gsi[0] = 15, EINVAL);
	BAD(p.intx_gsi[1] = 5, EINVAL);
	BAD(p.intx_gsi[1] = 0xffffffffu, EINVAL);
	/* A bad device is reported as before, not as a PCI host problem. */
	devs[1].irq = 256;
	reset_error();
	p = good;
	assert_int_equal(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), -EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "device 1"));
	devs[1].irq = 20;
	o.devices = NULL;
	BAD((void)0, EINVAL); /* devices NULL with a count */
#undef BAD
	kvmhost_memory_destroy(mem);
}

/* ------------------------------------------------------------- iasl -d */

static int run(const char *cmd)
{
	int r = system(cmd);

	if (r != 0)
		print_message("'%s' exited with status %d\n", cmd, r);
	return r;
}

static void write_file(const char *path, const uint8_t *p, uint32_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* @s without its white space, so that the checks do not depend on how an
 * iasl version lays out its output. */
static char *squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1), *q = out;

	assert_non_null(out);
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			*q++ = *s;
	*q = '\0';
	return out;
}

/* @text holds @needle, white space aside; else show what iasl made of the table. */
static void assert_has(const char *text, const char *needle)
{
	char *t = squeeze(text), *n = squeeze(needle);
	int found = strstr(t, n) != NULL;

	free(t);
	free(n);
	if (!found)
		fail_msg("the disassembly lacks \"%s\":\n%s", needle, text);
}

static void assert_lacks(const char *text, const char *what)
{
	if (strstr(text, what))
		fail_msg("iasl says \"%s\":\n%s", what, text);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

/* ACPICA's disassembler reads the DSDT and MCFG back (and accepts their
 * lengths and checksums); the ASL it prints recompiles without errors. */
static void test_pci_host_iasl(void **state)
{
	struct kvmhost_x86_acpi_pci_host p = {.size = sizeof(p),
					      .mmio64_base = 0x8000000000ull,
					      .mmio64_size = 0x4000000000ull,
					      .ecam_base = 0xd0000000,
					      .intx_gsi = {16, 17, 18, 19}};
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 2, .pci_host = &p};
	char dir[] = "/tmp/kvmhost-acpi-pci-XXXXXX", cmd[512], path[256];
	struct kvmhost_memory *mem;
	struct tables t;
	uint64_t rsdp, written;
	uint8_t *ram;
	char *dsl, *out;

	(void)state;
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		print_message("iasl (acpica-tools) not installed: skipping the disassembly check\n");
		skip();
	}
	mem = low_memory(&ram);
	o.devices = &com1;
	o.device_count = 1;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	find_tables(ram, rsdp, &t);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
	write_file(path, t.dsdt, rd32(t.dsdt + 4));
	snprintf(path, sizeof(path), "%s/mcfg.dat", dir);
	write_file(path, t.mcfg, rd32(t.mcfg + 4));
	snprintf(path, sizeof(path), "%s/xsdt.dat", dir);
	write_file(path, t.xsdt, rd32(t.xsdt + 4));
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat mcfg.dat xsdt.dat >iasl-d.log 2>&1", dir);
	assert_int_equal(run(cmd), 0);
	snprintf(path, sizeof(path), "%s/iasl-d.log", dir);
	out = read_text(path);
	assert_lacks(out, "checksum");
	assert_lacks(out, "Warning");
	assert_lacks(out, "Error");
	free(out);

	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	dsl = read_text(path);
	assert_lacks(dsl, "Incorrect");
	assert_has(dsl, "Device (PCI0)");
	assert_has(dsl, "Name (_HID, EisaId (\"PNP0A08\")");
	assert_has(dsl, "Name (_CID, EisaId (\"PNP0A03\")");
	assert_has(dsl, "Name (_SEG, Zero)");
	assert_has(dsl, "Name (_BBN, Zero)");
	assert_has(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,");
	assert_has(dsl, "0x0CF8,             // Range Minimum");
	assert_has(dsl, "WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,");
	assert_has(dsl, "0xC000,             // Range Minimum");
	assert_has(dsl, "0xFFFF,             // Range Maximum");
	assert_has(dsl, "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,");
	assert_has(dsl, "0xE0000000,         // Range Minimum");
	assert_has(dsl, "0xFEBFFFFF,         // Range Maximum");
	assert_has(dsl, "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,");
	assert_has(dsl, "0x0000008000000000, // Range Minimum");
	assert_has(dsl, "0x000000BFFFFFFFFF, // Range Maximum");
	assert_has(dsl, "Name (_PRT, Package (0x7C)");
	/* Slot 1 INTA on line 1 (GSI 17), slot 31 INTD on line (31 + 3) % 4 = 2 (GSI 18). */
	assert_has(dsl, "Package (0x04) { 0x0001FFFF, Zero, Zero, 0x11 }");
	assert_has(dsl, "Package (0x04) { 0x001FFFFF, 0x03, Zero, 0x12 }");
	assert_has(dsl, "Device (ECAM)");
	assert_has(dsl, "EisaId (\"PNP0C02\")");
	assert_has(dsl, "Memory32Fixed (ReadWrite, 0xD0000000, // Address Base\n 0x00100000, // Address Length");
	assert_has(dsl, "Device (D000)"); /* the legacy device is still there */
	free(dsl);

	snprintf(path, sizeof(path), "%s/mcfg.dsl", dir);
	out = read_text(path);
	assert_has(out, "Base Address : 00000000D0000000");
	assert_has(out, "Start Bus Number : 00");
	assert_has(out, "End Bus Number : 00");
	assert_lacks(out, "Incorrect");
	free(out);
	snprintf(path, sizeof(path), "%s/xsdt.dsl", dir);
	out = read_text(path);
	assert_has(out, "ACPI Table Address   2 : ");
	assert_lacks(out, "Incorrect");
	free(out);

	/* The disassembly compiles back without errors or warnings. */
	snprintf(cmd, sizeof(cmd), "cd %s && iasl dsdt.dsl >iasl.log 2>&1", dir);
	assert_int_equal(run(cmd), 0);
	snprintf(path, sizeof(path), "%s/iasl.log", dir);
	out = read_text(path);
	assert_has(out, "0 Errors, 0 Warnings");
	free(out);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	run(cmd);
	kvmhost_memory_destroy(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_without_pci_host_unchanged),
	    cmocka_unit_test(test_pci_host_tables),
	    cmocka_unit_test(test_pci_host_bad),
	    cmocka_unit_test(test_pci_host_iasl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
