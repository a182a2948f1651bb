/*
 * Unit tests of the x86 platform layer without KVM: the RAM plan and the
 * e820 builders at every edge (RAM below 1 MiB, at and across the MMIO hole,
 * gaps, merging, the 128-entry cap, extra entries, read-only regions), the
 * MP table and the ACPI tables parsed back from guest memory (checksums,
 * entries, addresses), the CPUID builder on fake supported lists (defaults,
 * topology leaves per APIC ID, edits and their order), the default MSR list,
 * and bad inputs, each with its errno and a message. vCPU calls are checked
 * with a fake VM and vCPU whose refusals come before any ioctl.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/x86_platform.h>
#include "core/internal.h"
#include "kvm/vcpu_internal.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

#include "unit_assert.h"

/* ------------------------------------------------------------------ e820 */

static void assert_entry(const struct kvmhost_x86_e820_entry *e, uint64_t start, uint64_t end, uint32_t type)
{
	if (e->addr != start || e->addr + e->size != end || e->type != type)
		print_error("entry [0x%llx, 0x%llx) type %u, expected [0x%llx, 0x%llx) type %u\n",
			    (unsigned long long)e->addr, (unsigned long long)(e->addr + e->size), e->type,
			    (unsigned long long)start, (unsigned long long)end, type);
	assert_int_equal(e->addr, start);
	assert_int_equal(e->addr + e->size, end);
	assert_int_equal(e->type, type);
}

#define RAM  KVMHOST_X86_E820_RAM
#define RES  KVMHOST_X86_E820_RESERVED
#define EBDA KVMHOST_X86_EBDA_START
#define HOLE KVMHOST_X86_MMIO_HOLE_START_DEFAULT

static void test_plan_ram(void **state)
{
	struct kvmhost_x86_ram_range r[2];
	uint32_t n;

	(void)state;
	ASSERT_OK(kvmhost_x86_plan_ram(512 * MiB, 0, r, 2, &n));
	assert_int_equal(n, 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].length, 512 * MiB);

	/* Exactly up to the hole: still one range, nothing above 4 GiB. */
	ASSERT_OK(kvmhost_x86_plan_ram(3 * GiB, 0, r, 2, &n));
	assert_int_equal(n, 1);
	assert_int_equal(r[0].length, 3 * GiB);

	/* One page more: the page goes to 4 GiB. */
	ASSERT_OK(kvmhost_x86_plan_ram(3 * GiB + 4096, 0, r, 2, &n));
	assert_int_equal(n, 2);
	assert_int_equal(r[0].length, 3 * GiB);
	assert_int_equal(r[1].gpa, 4 * GiB);
	assert_int_equal(r[1].length, 4096);

	/* A custom hole. */
	ASSERT_OK(kvmhost_x86_plan_ram(8 * GiB, 0xe0000000ull, r, 2, &n));
	assert_int_equal(n, 2);
	assert_int_equal(r[0].length, 0xe0000000ull);
	assert_int_equal(r[1].gpa, 4 * GiB);
	assert_int_equal(r[1].length, 8 * GiB - 0xe0000000ull);

	/* A hole at 4 GiB is no hole. */
	ASSERT_OK(kvmhost_x86_plan_ram(6 * GiB, 4 * GiB, r, 2, &n));
	assert_int_equal(n, 1);
	assert_int_equal(r[0].length, 6 * GiB);

	/* Too small an array: -E2BIG and the count needed. */
	n = 0;
	ASSERT_FAILS(kvmhost_x86_plan_ram(5 * GiB, 0, r, 1, &n), E2BIG);
	assert_int_equal(n, 2);

	ASSERT_FAILS(kvmhost_x86_plan_ram(0, 0, r, 2, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_plan_ram(4097, 0, r, 2, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_plan_ram(MiB, 0x80000, r, 2, &n), EINVAL);	  /* hole below 1 MiB */
	ASSERT_FAILS(kvmhost_x86_plan_ram(MiB, 0xc0001000ull, r, 2, &n), EINVAL); /* not 1 MiB aligned */
	ASSERT_FAILS(kvmhost_x86_plan_ram(MiB, 5 * GiB, r, 2, &n), EINVAL);	  /* above 4 GiB */
	ASSERT_FAILS(kvmhost_x86_plan_ram(MiB, 0, r, 2, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_plan_ram(MiB, 0, NULL, 2, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_plan_ram(UINT64_MAX & ~0xfffull, 0, r, 2, &n), ERANGE);
}

/* Build from ranges with default options; returns the count. */
static uint32_t build(const struct kvmhost_x86_ram_range *ram, uint32_t n, struct kvmhost_x86_e820_entry *e)
{
	uint32_t count = 0;

	ASSERT_OK(kvmhost_x86_e820_from_ranges(ram, n, NULL, e, KVMHOST_X86_E820_MAX, &count));
	return count;
}

static void test_e820_low(void **state)
{
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_ram_range ram[1];

	(void)state;
	/* 512 KiB: all below the EBDA, no reserved entry. */
	ram[0] = (struct kvmhost_x86_ram_range){0, 512 * KiB};
	assert_int_equal(build(ram, 1, e), 1);
	assert_entry(&e[0], 0, 512 * KiB, RAM);

	/* 640 KiB: RAM up to the EBDA, then the legacy hole. */
	ram[0] = (struct kvmhost_x86_ram_range){0, 640 * KiB};
	assert_int_equal(build(ram, 1, e), 2);
	assert_entry(&e[0], 0, EBDA, RAM);
	assert_entry(&e[1], EBDA, MiB, RES);

	/* Exactly 1 MiB. */
	ram[0] = (struct kvmhost_x86_ram_range){0, MiB};
	assert_int_equal(build(ram, 1, e), 2);
	assert_entry(&e[1], EBDA, MiB, RES);

	/* 2 MiB: the usual small VM. */
	ram[0] = (struct kvmhost_x86_ram_range){0, 2 * MiB};
	assert_int_equal(build(ram, 1, e), 3);
	assert_entry(&e[0], 0, EBDA, RAM);
	assert_entry(&e[1], EBDA, MiB, RES);
	assert_entry(&e[2], MiB, 2 * MiB, RAM);

	/* No memory at all: an empty map. */
	assert_int_equal(build(NULL, 0, e), 0);
}

static void test_e820_hole(void **state)
{
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_e820_options o = {.size = sizeof(o)};
	struct kvmhost_x86_ram_range ram[2];
	uint32_t n, count;

	(void)state;
	/* RAM exactly up to the hole, as planned. */
	ASSERT_OK(kvmhost_x86_plan_ram(3 * GiB, 0, ram, 2, &n));
	assert_int_equal(build(ram, n, e), 3);
	assert_entry(&e[2], MiB, HOLE, RAM);

	/* Planned across the hole: the rest from 4 GiB. */
	ASSERT_OK(kvmhost_x86_plan_ram(5 * GiB, 0, ram, 2, &n));
	assert_int_equal(build(ram, n, e), 4);
	assert_entry(&e[2], MiB, HOLE, RAM);
	assert_entry(&e[3], 4 * GiB, 6 * GiB, RAM);

	/* One region laid straight across the hole: the part inside is hidden. */
	ram[0] = (struct kvmhost_x86_ram_range){0, 5 * GiB};
	assert_int_equal(build(ram, 1, e), 4);
	assert_entry(&e[2], MiB, HOLE, RAM);
	assert_entry(&e[3], 4 * GiB, 5 * GiB, RAM);

	/* A custom hole start moves the cut. */
	o.mmio_hole_start = 0xe0000000ull;
	ASSERT_OK(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count));
	assert_int_equal(count, 4);
	assert_entry(&e[2], MiB, 0xe0000000ull, RAM);
	o.mmio_hole_start = 0x1234;
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count), EINVAL);
}

static void test_e820_gaps_and_merging(void **state)
{
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_ram_range ram[4];

	(void)state;
	/* Gaps stay gaps. */
	ram[0] = (struct kvmhost_x86_ram_range){0, MiB};
	ram[1] = (struct kvmhost_x86_ram_range){2 * MiB, MiB};
	assert_int_equal(build(ram, 2, e), 3);
	assert_entry(&e[0], 0, EBDA, RAM);
	assert_entry(&e[1], EBDA, MiB, RES);
	assert_entry(&e[2], 2 * MiB, 3 * MiB, RAM);

	/* Adjacent ranges, out of order, merge into one entry each side of the hole. */
	ram[0] = (struct kvmhost_x86_ram_range){2 * MiB, MiB};
	ram[1] = (struct kvmhost_x86_ram_range){0, 512 * KiB};
	ram[2] = (struct kvmhost_x86_ram_range){MiB, MiB};
	ram[3] = (struct kvmhost_x86_ram_range){512 * KiB, 512 * KiB};
	assert_int_equal(build(ram, 4, e), 3);
	assert_entry(&e[0], 0, EBDA, RAM);
	assert_entry(&e[2], MiB, 3 * MiB, RAM);

	/* Only high memory: the legacy hole is still reported. */
	ram[0] = (struct kvmhost_x86_ram_range){MiB, MiB};
	assert_int_equal(build(ram, 1, e), 2);
	assert_entry(&e[0], EBDA, MiB, RES);
	assert_entry(&e[1], MiB, 2 * MiB, RAM);
}

static void test_e820_cap(void **state)
{
	struct kvmhost_x86_e820_entry e[256];
	struct kvmhost_x86_ram_range ram[200];
	uint32_t count;

	(void)state;
	/* 126 separate ranges above 1 MiB + RAM and the hole below: 128 entries, the most allowed. */
	ram[0] = (struct kvmhost_x86_ram_range){0, MiB};
	for (uint32_t i = 1; i < 127; i++)
		ram[i] = (struct kvmhost_x86_ram_range){i * 2 * MiB, MiB};
	ASSERT_OK(kvmhost_x86_e820_from_ranges(ram, 127, NULL, e, 256, &count));
	assert_int_equal(count, 128);

	/* One more: too many for a zero page, whatever the array. */
	ram[127] = (struct kvmhost_x86_ram_range){127 * 2 * MiB, MiB};
	count = 0;
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 128, NULL, e, 256, &count), E2BIG);
	assert_int_equal(count, 129);
	for (uint32_t i = 128; i < 200; i++)
		ram[i] = (struct kvmhost_x86_ram_range){i * 2 * MiB, MiB};
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 200, NULL, e, 256, &count), E2BIG);
	assert_int_equal(count, 201);

	/* An array smaller than the map: -E2BIG and the size needed. */
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 3, NULL, e, 2, &count), E2BIG);
	assert_int_equal(count, 4);
}

static void test_e820_extra(void **state)
{
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX];
	struct kvmhost_x86_e820_entry x[3];
	struct kvmhost_x86_e820_options o = {.size = sizeof(o)};
	struct kvmhost_x86_ram_range ram[1] = {{0, 4 * MiB}};
	uint32_t count;

	(void)state;
	/* ACPI tables inside the legacy hole, a reserved page in high RAM. */
	x[0] = (struct kvmhost_x86_e820_entry){0xe0000, 0x1000, KVMHOST_X86_E820_ACPI};
	x[1] = (struct kvmhost_x86_e820_entry){2 * MiB, 0x1000, RES};
	o.extra = x;
	o.extra_count = 2;
	ASSERT_OK(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count));
	assert_int_equal(count, 7);
	assert_entry(&e[0], 0, EBDA, RAM);
	assert_entry(&e[1], EBDA, 0xe0000, RES);
	assert_entry(&e[2], 0xe0000, 0xe1000, KVMHOST_X86_E820_ACPI);
	assert_entry(&e[3], 0xe1000, MiB, RES);
	assert_entry(&e[4], MiB, 2 * MiB, RAM);
	assert_entry(&e[5], 2 * MiB, 2 * MiB + 0x1000, RES);
	assert_entry(&e[6], 2 * MiB + 0x1000, 4 * MiB, RAM);

	/* An extra entry outside RAM (a ROM the caller describes) is reported as given. */
	x[0] = (struct kvmhost_x86_e820_entry){0xfffc0000ull, 0x40000, RES};
	o.extra_count = 1;
	ASSERT_OK(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count));
	assert_int_equal(count, 4);
	assert_entry(&e[3], 0xfffc0000ull, 4 * GiB, RES);

	/* Overlapping extras, empty, typeless or wrapping ones are refused. */
	x[0] = (struct kvmhost_x86_e820_entry){0xe0000, 0x2000, KVMHOST_X86_E820_ACPI};
	x[1] = (struct kvmhost_x86_e820_entry){0xe1000, 0x1000, RES};
	o.extra_count = 2;
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count), EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "overlap"));
	x[1] = (struct kvmhost_x86_e820_entry){0xf0000, 0, RES};
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count), EINVAL);
	x[1] = (struct kvmhost_x86_e820_entry){0xf0000, 0x1000, 0};
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count), EINVAL);
	x[1] = (struct kvmhost_x86_e820_entry){UINT64_MAX - 0xfff, 0x2000, RES};
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count), EINVAL);
	o.extra = NULL;
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &o, e, KVMHOST_X86_E820_MAX, &count), EINVAL);
}

static void test_e820_bad(void **state)
{
	struct kvmhost_x86_e820_entry e[8];
	struct kvmhost_x86_ram_range ram[2];
	uint32_t count;
	struct {
		struct kvmhost_x86_e820_options o;
		uint64_t future;
	} big = {{.size = sizeof(big)}, 1};

	(void)state;
	ram[0] = (struct kvmhost_x86_ram_range){0, 2 * MiB};
	ram[1] = (struct kvmhost_x86_ram_range){MiB, 2 * MiB}; /* overlaps */
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 2, NULL, e, 8, &count), EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "overlap"));
	ram[1] = (struct kvmhost_x86_ram_range){4 * MiB, 0}; /* empty */
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 2, NULL, e, 8, &count), EINVAL);
	ram[1] = (struct kvmhost_x86_ram_range){UINT64_MAX - 0xfff, 0x1000}; /* ends at 2^64 */
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 2, NULL, e, 8, &count), EINVAL);
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(NULL, 1, NULL, e, 8, &count), EINVAL);
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, NULL, NULL, 8, &count), EINVAL);
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, NULL, e, 8, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_e820_from_ranges(ram, 1, &big.o, e, 8, &count), E2BIG);
	ASSERT_FAILS(kvmhost_x86_e820_from_memory(NULL, NULL, e, 8, &count), EINVAL);
}

static struct kvmhost_memory_region *add_anon(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, uint32_t flags)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	struct kvmhost_memory_region *r;

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	o.flags = flags;
	ASSERT_OK(kvmhost_memory_add_region(mem, &o, &r));
	return r;
}

static void test_e820_from_memory(void **state)
{
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX];
	struct kvmhost_memory *mem;
	uint32_t count;

	(void)state;
	ASSERT_OK(kvmhost_memory_create(&mem));
	add_anon(mem, MiB, MiB, 0);
	add_anon(mem, 0, MiB, 0); /* adjacent: merged across the legacy hole's end */
	add_anon(mem, 0xfffc0000ull, 0x40000, KVMHOST_MEMORY_READONLY); /* a firmware ROM */
	ASSERT_OK(kvmhost_x86_e820_from_memory(mem, NULL, e, KVMHOST_X86_E820_MAX, &count));
	assert_int_equal(count, 4);
	assert_entry(&e[0], 0, EBDA, RAM);
	assert_entry(&e[1], EBDA, MiB, RES);
	assert_entry(&e[2], MiB, 2 * MiB, RAM);
	assert_entry(&e[3], 0xfffc0000ull, 4 * GiB, RES);
	kvmhost_memory_destroy(mem);
}

/* ------------------------------------------------------------- MP table */

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* A standalone map with RAM over the first MiB, as the table writers expect. */
static struct kvmhost_memory *low_memory(uint8_t **host)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;

	ASSERT_OK(kvmhost_memory_create(&mem));
	r = add_anon(mem, 0, MiB, 0);
	*host = kvmhost_memory_region_host_addr(r);
	return mem;
}

/* Parse the MP table at @gpa and check it describes @ncpus CPUs. */
static void check_mptable(const uint8_t *ram, uint64_t gpa, uint32_t ncpus, int irq0_pin0, uint64_t written)
{
	const uint8_t *mpf = ram + gpa, *mpc, *p;
	uint32_t entries, seen_cpus = 0, seen_int = 0, seen_lint = 0, len;
	int irq_pin[16];

	assert_memory_equal(mpf, "_MP_", 4);
	assert_int_equal(rd32(mpf + 4), gpa + 16);
	assert_int_equal(mpf[8], 1);
	assert_int_equal(mpf[9], 4);
	assert_int_equal(sum8(mpf, 16), 0);
	assert_int_equal(mpf[11], 0); /* configuration table present */

	mpc = ram + rd32(mpf + 4);
	assert_memory_equal(mpc, "PCMP", 4);
	len = rd16(mpc + 4);
	assert_int_equal(len + 16, written);
	assert_int_equal(sum8(mpc, len), 0);
	assert_int_equal(rd32(mpc + 36), KVMHOST_X86_LAPIC_ADDR);
	entries = rd16(mpc + 34);
	memset(irq_pin, -1, sizeof(irq_pin));
	p = mpc + 44;
	for (uint32_t i = 0; i < entries; i++) {
		switch (p[0]) {
		case 0: /* processor */
			assert_int_equal(p[1], seen_cpus);
			assert_int_equal(p[3] & 1, 1);
			assert_int_equal(!!(p[3] & 2), seen_cpus == 0);
			seen_cpus++;
			p += 20;
			break;
		case 1:
			assert_int_equal(p[1], 0);
			assert_memory_equal(p + 2, "ISA   ", 6);
			p += 8;
			break;
		case 2:
			assert_int_equal(p[1], ncpus);
			assert_int_equal(p[3], 1);
			assert_int_equal(rd32(p + 4), KVMHOST_X86_IOAPIC_ADDR_DEFAULT);
			p += 8;
			break;
		case 3:
			assert_int_equal(p[1], 0); /* INT */
			assert_int_equal(p[6], ncpus);
			assert_true(p[5] < 16);
			irq_pin[p[5]] = p[7];
			seen_int++;
			p += 8;
			break;
		case 4:
			assert_int_equal(p[6], 0xff);
			assert_int_equal(p[1], seen_lint == 0 ? 3 : 1); /* LINT0 ExtINT, LINT1 NMI */
			assert_int_equal(p[7], seen_lint);
			seen_lint++;
			p += 8;
			break;
		default:
			fail_msg("unknown MP entry type %u", p[0]);
		}
	}
	assert_int_equal(p - mpc, len);
	assert_int_equal(seen_cpus, ncpus);
	assert_int_equal(seen_lint, 2);
	for (int irq = 0; irq < 16; irq++) {
		int want = irq;

		if (!irq0_pin0 && irq == 0)
			want = 2;
		if (!irq0_pin0 && irq == 2)
			want = -1;
		assert_int_equal(irq_pin[irq], want);
	}
	assert_int_equal(seen_int, irq0_pin0 ? 16 : 15);
}

static void test_mptable(void **state)
{
	struct kvmhost_x86_mptable_options o = {.size = sizeof(o)};
	struct kvmhost_memory *mem;
	uint8_t *ram;
	uint64_t written;

	(void)state;
	mem = low_memory(&ram);
	o.ncpus = 4;
	ASSERT_OK(kvmhost_x86_mptable_write(mem, &o, &written));
	assert_int_equal(written, kvmhost_x86_mptable_size(4, 0));
	check_mptable(ram, KVMHOST_X86_MPTABLE_GPA_DEFAULT, 4, 0, written);

	/* Identity IRQ 0, one CPU, in the BIOS area. */
	memset(ram, 0, MiB);
	o.ncpus = 1;
	o.flags = KVMHOST_X86_PLATFORM_IRQ0_PIN0;
	o.gpa = 0xf0000;
	ASSERT_OK(kvmhost_x86_mptable_write(mem, &o, &written));
	assert_int_equal(written, kvmhost_x86_mptable_size(1, KVMHOST_X86_PLATFORM_IRQ0_PIN0));
	check_mptable(ram, 0xf0000, 1, 1, written);

	/* The last KiB of base memory fits 40 vCPUs; 64 KiB at 0xf0000 fits all 254. */
	o.flags = 0;
	o.gpa = 0;
	o.ncpus = 40;
	ASSERT_OK(kvmhost_x86_mptable_write(mem, &o, &written));
	assert_true(written <= 1024);
	check_mptable(ram, KVMHOST_X86_MPTABLE_GPA_DEFAULT, 40, 0, written);
	o.ncpus = 41;
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, &written), ENOSPC);
	o.gpa = 0xf0000;
	o.ncpus = KVMHOST_X86_PLATFORM_MAX_CPUS;
	ASSERT_OK(kvmhost_x86_mptable_write(mem, &o, &written));
	check_mptable(ram, 0xf0000, KVMHOST_X86_PLATFORM_MAX_CPUS, 0, written);
	o.ncpus = 4;
	o.space = 100; /* caller-limited space */
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, &written), ENOSPC);
	kvmhost_memory_destroy(mem);
}

static void test_mptable_bad(void **state)
{
	struct kvmhost_x86_mptable_options o = {.size = sizeof(o)};
	struct kvmhost_memory *mem;
	uint8_t *ram;
	struct {
		struct kvmhost_x86_mptable_options o;
		uint64_t future;
	} big = {{.size = sizeof(big), .ncpus = 1}, 1};

	(void)state;
	mem = low_memory(&ram);
	o.ncpus = 2;
	ASSERT_FAILS(kvmhost_x86_mptable_write(NULL, &o, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, NULL, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &big.o, NULL), E2BIG);
	o.ncpus = 0;
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EINVAL);
	o.ncpus = KVMHOST_X86_PLATFORM_MAX_CPUS + 1;
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EINVAL);
	o.ncpus = 2;
	o.flags = 1u << 7;
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EINVAL);
	o.flags = 0;
	o.gpa = 0x9fc08; /* unaligned */
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EINVAL);
	o.gpa = 0x80000; /* where no guest looks */
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EINVAL);
	o.gpa = 0xa0000; /* just past the last KiB of base memory */
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_mptable_size(0, 0), EINVAL);
	ASSERT_FAILS(kvmhost_x86_mptable_size(1, 2), EINVAL);
	kvmhost_memory_destroy(mem);

	/* No memory where the table goes. */
	ASSERT_OK(kvmhost_memory_create(&mem));
	add_anon(mem, 0, 0x9f000, 0);
	o.gpa = 0;
	ASSERT_FAILS(kvmhost_x86_mptable_write(mem, &o, NULL), EFAULT);
	kvmhost_memory_destroy(mem);
}

/* ----------------------------------------------------------------- ACPI */

static const uint8_t *check_sdt(const uint8_t *ram, uint64_t gpa, const char *sig, uint32_t min_len)
{
	const uint8_t *t = ram + gpa;

	assert_true(gpa < MiB);
	assert_memory_equal(t, sig, 4);
	assert_true(rd32(t + 4) >= min_len);
	assert_int_equal(sum8(t, rd32(t + 4)), 0);
	assert_memory_equal(t + 10, "KVMHST", 6);
	return t;
}

static void check_gas_io(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1); /* system I/O */
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], 1); /* byte access */
	assert_int_equal(rd64(g + 4), port);
}

static void check_acpi(const uint8_t *ram, uint64_t rsdp, uint32_t ncpus, int irq0_pin0, uint16_t port)
{
	const uint8_t *r = ram + rsdp, *xsdt, *fadt, *dsdt, *madt, *p, *end;
	static const uint8_t s5[] = {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00};
	uint32_t lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	assert_memory_equal(r, "RSD PTR ", 8);
	assert_int_equal(sum8(r, 20), 0);
	assert_int_equal(r[15], 2);
	assert_int_equal(rd32(r + 20), 36);
	assert_int_equal(sum8(r, 36), 0);
	assert_int_equal(rd32(r + 16), 0); /* no RSDT */

	xsdt = check_sdt(ram, rd64(r + 24), "XSDT", 36 + 16);
	assert_int_equal(rd32(xsdt + 4), 36 + 16);
	fadt = check_sdt(ram, rd64(xsdt + 36), "FACP", 276);
	madt = check_sdt(ram, rd64(xsdt + 44), "APIC", 44);

	assert_int_equal(rd32(fadt + 4), 276);
	assert_int_equal(fadt[8], 6);
	assert_true(rd32(fadt + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	assert_true(rd32(fadt + 112) & (1u << 10)); /* RESET_REG_SUP */
	check_gas_io(fadt + 116, port + KVMHOST_X86_ACPI_RESET);
	assert_int_equal(fadt[128], KVMHOST_X86_ACPI_RESET_VALUE);
	check_gas_io(fadt + 244, port + KVMHOST_X86_ACPI_SLEEP_CONTROL);
	check_gas_io(fadt + 256, port + KVMHOST_X86_ACPI_SLEEP_STATUS);
	assert_int_equal(rd32(fadt + 40), 0); /* 32-bit DSDT unused */
	dsdt = check_sdt(ram, rd64(fadt + 140), "DSDT", 36 + sizeof(s5));
	assert_memory_equal(dsdt + 36, s5, sizeof(s5)); /* \_S5 first; devices, if any, follow */
	/* SLP_TYP of S5 as the guest writes it, with SLP_EN. */
	assert_int_equal((s5[9] << 2) | (1 << 5), KVMHOST_X86_ACPI_SLEEP_S5);

	assert_int_equal(rd32(madt + 36), KVMHOST_X86_LAPIC_ADDR);
	assert_int_equal(rd32(madt + 40), 1); /* PCAT_COMPAT */
	p = madt + 44;
	end = madt + rd32(madt + 4);
	while (p < end) {
		assert_true(p[1] >= 2);
		switch (p[0]) {
		case 0:
			assert_int_equal(p[1], 8);
			assert_int_equal(p[2], lapics);
			assert_int_equal(p[3], lapics);
			assert_int_equal(rd32(p + 4), 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(p[1], 12);
			assert_int_equal(p[2], ncpus);
			assert_int_equal(rd32(p + 4), KVMHOST_X86_IOAPIC_ADDR_DEFAULT);
			assert_int_equal(rd32(p + 8), 0);
			ioapics++;
			break;
		case 2:
			assert_int_equal(p[1], 10);
			assert_int_equal(p[3], 0);
			assert_int_equal(rd32(p + 4), 2);
			isos++;
			break;
		case 4:
			assert_int_equal(p[1], 6);
			assert_int_equal(p[2], 0xff);
			assert_int_equal(p[5], 1);
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", p[0]);
		}
		p += p[1];
	}
	assert_ptr_equal(p, end);
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isos, irq0_pin0 ? 0 : 1);
	assert_int_equal(nmis, 1);
}

static void test_acpi(void **state)
{
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o)};
	struct kvmhost_memory *mem;
	uint64_t rsdp = 0, written = 0;
	uint8_t *ram;

	(void)state;
	mem = low_memory(&ram);
	o.ncpus = 2;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	assert_int_equal(rsdp, KVMHOST_X86_ACPI_GPA_DEFAULT);
	assert_true(written > 36 && written < 0x10000);
	check_acpi(ram, rsdp, 2, 0, KVMHOST_X86_ACPI_PM_PORT_DEFAULT);

	/* Elsewhere, other port, identity IRQ 0, many vCPUs. */
	memset(ram, 0, MiB);
	o.gpa = 0x80000;
	o.pm_port = 0xb000;
	o.flags = KVMHOST_X86_PLATFORM_IRQ0_PIN0;
	o.ncpus = KVMHOST_X86_PLATFORM_MAX_CPUS;
	o.iapc_boot_arch = KVMHOST_X86_ACPI_BOOT_NO_VGA;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	assert_int_equal(rsdp, 0x80000);
	check_acpi(ram, rsdp, KVMHOST_X86_PLATFORM_MAX_CPUS, 1, 0xb000);
	assert_int_equal(rd16(ram + rd64(ram + rd64(ram + rsdp + 24) + 36) + 109), KVMHOST_X86_ACPI_BOOT_NO_VGA);

	/* Bad inputs. */
	o.gpa = 0xe0008;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	o.gpa = 0xe0000;
	o.space = 64;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), ENOSPC);
	o.space = 0;
	o.gpa = 0xfffffc00ull;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL); /* past 4 GiB */
	o.gpa = 0x1000000;							/* no memory there */
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EFAULT);
	o.gpa = 0;
	o.ncpus = 0;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	o.ncpus = 1;
	o.flags = 8;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	o.flags = 0;
	o.pm_port = 0xfffe;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	ASSERT_FAILS(kvmhost_x86_acpi_write(NULL, &o, &rsdp, &written), EINVAL);
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, NULL, &rsdp, &written), EINVAL);
	kvmhost_memory_destroy(mem);

	/* The MP table and ACPI tables share the low area without overlap. */
	mem = low_memory(&ram);
	{
		struct kvmhost_x86_mptable_options m = {.size = sizeof(m), .ncpus = 8};
		uint64_t mp_written;

		o = (struct kvmhost_x86_acpi_options){.size = sizeof(o), .ncpus = 8};
		ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
		ASSERT_OK(kvmhost_x86_mptable_write(mem, &m, &mp_written));
		check_acpi(ram, rsdp, 8, 0, KVMHOST_X86_ACPI_PM_PORT_DEFAULT);
		check_mptable(ram, KVMHOST_X86_MPTABLE_GPA_DEFAULT, 8, 0, mp_written);
	}
	kvmhost_memory_destroy(mem);
}

/* The DSDT with devices: exact AML for COM1, a long scope (2-byte PkgLength), bad devices. */
static void test_acpi_devices(void **state)
{
	struct kvmhost_x86_acpi_device com1 = {.hid = "PNP0501", .uid = 1, .io_base = 0x3f8, .io_length = 8, .irq = 4};
	static const uint8_t want[] = {
	    /* Name (_S5, Package (2) {5, 0}) */
	    0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0a, 0x05, 0x00,
	    /* Scope (\_SB) */
	    0x10, 0x33, '\\', '_', 'S', 'B', '_',
	    /* Device (D000) */
	    0x5b, 0x82, 0x2b, 'D', '0', '0', '0',
	    /* Name (_HID, EisaId ("PNP0501")) */
	    0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
	    /* Name (_UID, One) */
	    0x08, '_', 'U', 'I', 'D', 0x01,
	    /* Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3f8, 0x3f8, 1, 8) IRQNoFlags () {4} }) */
	    0x08, '_', 'C', 'R', 'S', 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22,
	    0x10, 0x00, 0x79, 0x00};
	struct kvmhost_x86_acpi_device devs[4];
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 1};
	struct kvmhost_memory *mem;
	const uint8_t *dsdt, *fadt;
	uint64_t rsdp, written;
	uint8_t *ram;

	(void)state;
	mem = low_memory(&ram);
	o.devices = &com1;
	o.device_count = 1;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	check_acpi(ram, rsdp, 1, 0, KVMHOST_X86_ACPI_PM_PORT_DEFAULT);
	fadt = ram + rd64(ram + rd64(ram + rsdp + 24) + 36);
	dsdt = ram + rd64(fadt + 140);
	assert_int_equal(rd32(dsdt + 4), 36 + sizeof(want));
	assert_memory_equal(dsdt + 36, want, sizeof(want));

	/* A virtio-mmio device (string _HID, Memory32Fixed, extended interrupt) and more
	 * COM ports: the scope outgrows a 1-byte PkgLength. */
	devs[0] = com1;
	devs[1] =
	    (struct kvmhost_x86_acpi_device){.hid = "PNP0501", .uid = 2, .io_base = 0x2f8, .io_length = 8, .irq = 3};
	devs[2] = (struct kvmhost_x86_acpi_device){
	    .hid = "LNRO0005", .uid = 0, .mmio_base = 0xd0000000ull, .mmio_length = 0x1000, .irq = 20};
	devs[3] = (struct kvmhost_x86_acpi_device){.hid = "ACPI0010", .uid = 300};
	o.devices = devs;
	o.device_count = 4;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	check_acpi(ram, rsdp, 1, 0, KVMHOST_X86_ACPI_PM_PORT_DEFAULT);
	fadt = ram + rd64(ram + rd64(ram + rsdp + 24) + 36);
	dsdt = ram + rd64(fadt + 140);
	{
		const uint8_t *sb = dsdt + 36 + 11;
		uint32_t pkglen = (sb[1] & 0xf) | (uint32_t)sb[2] << 4;

		assert_int_equal(sb[0], 0x10);
		assert_int_equal(sb[1] >> 6, 1); /* two PkgLength bytes */
		assert_int_equal(1 + pkglen, rd32(dsdt + 4) - 36 - 11);
		assert_memory_equal(sb + 3, "\\_SB_", 5);
	}
	/* The string _HID, the MMIO window and the extended interrupt are in there. */
	assert_non_null(memmem(dsdt, rd32(dsdt + 4), "\x0dLNRO0005\x00", 10));
	assert_non_null(memmem(dsdt, rd32(dsdt + 4), "\x86\x09\x00\x01\x00\x00\x00\xd0\x00\x10\x00\x00", 12));
	assert_non_null(memmem(dsdt, rd32(dsdt + 4), "\x89\x06\x00\x03\x01\x14\x00\x00\x00", 9));
	assert_non_null(memmem(dsdt, rd32(dsdt + 4), "_UID\x0b\x2c\x01", 7));

	/* Bad devices. */
	devs[3].hid = "";
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].hid = "TOOLONGID";
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].hid = NULL;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].hid = "BAD ID";
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].hid = "ACPI0010";
	devs[3].io_base = 0xfffc;
	devs[3].io_length = 8;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].io_base = 0;
	devs[3].io_length = 0;
	devs[3].mmio_base = 0xfffff000ull;
	devs[3].mmio_length = 0x2000;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].mmio_length = 0;
	devs[3].irq = 256;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	devs[3].irq = 0;
	o.devices = NULL;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	o.devices = devs;
	o.device_count = KVMHOST_X86_ACPI_MAX_DEVICES + 1;
	ASSERT_FAILS(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written), EINVAL);
	kvmhost_memory_destroy(mem);
}

/* ---------------------------------------------------------------- CPUID */

#define SIG 1u /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX */

/* A plausible Intel supported list without KVM's own leaves. */
static const struct kvm_cpuid_entry2 fake_intel[] = {
    {.function = 0, .eax = 0xd, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
    {.function = 1, .eax = 0x50657, .ebx = 0x00ff0800, .ecx = 0x00200000, .edx = 0x0f8bfbff},
    {.function = 4, .index = 0, .flags = SIG, .eax = 0x04000121},
    {.function = 4, .index = 1, .flags = SIG, .eax = 0x04000122},
    {.function = 4, .index = 2, .flags = SIG, .eax = 0x04000143},
    {.function = 4, .index = 3, .flags = SIG, .eax = 0x04004163},
    {.function = 4, .index = 4, .flags = SIG},
    {.function = 6, .eax = 0x4},
    {.function = 7, .index = 0, .flags = SIG, .ebx = 0x1},
    {.function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7},
    {.function = 0xb, .index = 1, .flags = SIG, .eax = 5, .ebx = 32, .ecx = 0x201, .edx = 7},
    {.function = 0xd, .index = 0, .flags = SIG, .eax = 0x7},
    {.function = 0x80000000, .eax = 0x80000008},
    {.function = 0x80000008, .eax = 0x3027},
};

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t function,
					   uint32_t index)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == function && (!(e[i].flags & SIG) || e[i].index == index))
			return &e[i];
	return NULL;
}

static uint32_t build_cpuid(struct kvmhost_x86_cpuid *c, uint32_t apic_id, struct kvm_cpuid_entry2 *e)
{
	uint32_t n = 0;

	ASSERT_OK(kvmhost_x86_cpuid_build(c, apic_id, e, KVMHOST_X86_CPUID_MAX_ENTRIES, &n));
	/* Never the same (function, index) twice. */
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = i + 1; j < n; j++)
			assert_false(e[i].function == e[j].function && e[i].index == e[j].index);
	return n;
}

static void test_cpuid_defaults(void **state)
{
	struct kvm_cpuid_entry2 e[KVMHOST_X86_CPUID_MAX_ENTRIES];
	const struct kvm_cpuid_entry2 *x;
	struct kvmhost_x86_cpuid *c;
	uint32_t n;

	(void)state;
	ASSERT_OK(kvmhost_x86_cpuid_create(fake_intel, KH_ARRAY_SIZE(fake_intel), 0, &c));
	n = build_cpuid(c, 0, e);
	x = find(e, n, 1, 0);
	assert_non_null(x);
	assert_true(x->ecx & (1u << 31));     /* hypervisor */
	assert_false(x->ecx & (1u << 24));    /* no TSC-deadline unless asked */
	assert_true(x->ecx & (1u << 21));     /* KVM's x2APIC kept */
	assert_int_equal(x->ebx, 0x00010800); /* APIC ID 0, 1 logical, CLFLUSH kept */
	assert_false(x->edx & (1u << 28));    /* no HTT with one vCPU */
	x = find(e, n, 0x40000000, 0);
	assert_non_null(x);
	assert_int_equal(x->eax, 0x40000001);
	assert_memory_equal(&x->ebx, "KVMKVMKVM\0\0\0", 12);
	assert_non_null(find(e, n, 0x40000001, 0));
	x = find(e, n, 6, 0);
	assert_int_equal(x->eax, 4); /* ARAT as KVM said */
	kvmhost_x86_cpuid_destroy(c);

	ASSERT_OK(kvmhost_x86_cpuid_create(fake_intel, KH_ARRAY_SIZE(fake_intel), KVMHOST_X86_CPUID_TSC_DEADLINE, &c));
	n = build_cpuid(c, 0, e);
	assert_true(find(e, n, 1, 0)->ecx & (1u << 24));
	kvmhost_x86_cpuid_destroy(c);
	kvmhost_x86_cpuid_destroy(NULL);
}

static void check_topology_leaf(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t leaf, uint32_t apic_id,
				uint32_t smt_bits, uint32_t threads, uint32_t pkg_bits, uint32_t ncpus)
{
	const struct kvm_cpuid_entry2 *x;

	x = find(e, n, leaf, 0);
	assert_non_null(x);
	assert_int_equal(x->eax, smt_bits);
	assert_int_equal(x->ebx, threads);
	assert_int_equal(x->ecx, 0x100);
	assert_int_equal(x->edx, apic_id);
	x = find(e, n, leaf, 1);
	assert_non_null(x);
	assert_int_equal(x->eax, pkg_bits);
	assert_int_equal(x->ebx, ncpus);
	assert_int_equal(x->ecx, 0x201);
	assert_int_equal(x->edx, apic_id);
	x = find(e, n, leaf, 2);
	assert_non_null(x);
	assert_int_equal(x->ebx, 0);
	assert_int_equal(x->ecx, 2); /* level type 0: the end */
	assert_int_equal(x->edx, apic_id);
}

static void test_cpuid_topology(void **state)
{
	struct kvm_cpuid_entry2 e[KVMHOST_X86_CPUID_MAX_ENTRIES];
	const struct kvm_cpuid_entry2 *x;
	struct kvmhost_x86_cpuid *c;
	uint32_t n;

	(void)state;
	ASSERT_OK(kvmhost_x86_cpuid_create(fake_intel, KH_ARRAY_SIZE(fake_intel), 0, &c));
	ASSERT_OK(kvmhost_x86_cpuid_set_topology(c, 4, 1));
	for (uint32_t id = 0; id < 4; id++) {
		n = build_cpuid(c, id, e);
		x = find(e, n, 1, 0);
		assert_int_equal(x->ebx >> 24, id);
		assert_int_equal((x->ebx >> 16) & 0xff, 4);
		assert_int_equal(x->ebx & 0xffff, 0x0800);
		assert_true(x->edx & (1u << 28));
		x = find(e, n, 4, 0); /* L1d: one thread per core, 4 cores */
		assert_int_equal((x->eax >> 14) & 0xfff, 0);
		assert_int_equal(x->eax >> 26, 3);
		assert_int_equal(x->eax & 0x3fff, 0x121);
		x = find(e, n, 4, 3); /* L3: the package */
		assert_int_equal((x->eax >> 14) & 0xfff, 3);
		x = find(e, n, 4, 4); /* the null subleaf stays null */
		assert_int_equal(x->eax, 0);
		check_topology_leaf(e, n, 0xb, id, 0, 1, 2, 4);
		assert_null(find(e, n, 0x1f, 0)); /* not in the list, not added */
		x = find(e, n, 0x80000008, 0);
		assert_int_equal(x->ecx & 0xff, 3);
		assert_int_equal((x->ecx >> 12) & 0xf, 2);
	}

	/* 6 vCPUs, 2 threads per core: IDs need 3 bits, the SMT level 1. */
	ASSERT_OK(kvmhost_x86_cpuid_set_topology(c, 6, 2));
	n = build_cpuid(c, 5, e);
	check_topology_leaf(e, n, 0xb, 5, 1, 2, 3, 6);
	x = find(e, n, 1, 0);
	assert_int_equal((x->ebx >> 16) & 0xff, 8);
	x = find(e, n, 4, 1); /* L1i: shared by the core's 2 threads; 4 core IDs */
	assert_int_equal((x->eax >> 14) & 0xfff, 1);
	assert_int_equal(x->eax >> 26, 3);
	x = find(e, n, 4, 3);
	assert_int_equal((x->eax >> 14) & 0xfff, 7);

	ASSERT_FAILS(kvmhost_x86_cpuid_build(c, 6, e, KVMHOST_X86_CPUID_MAX_ENTRIES, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_topology(c, 0, 1), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_topology(c, KVMHOST_X86_PLATFORM_MAX_CPUS + 1, 1), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_topology(c, 6, 3), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_topology(c, 2, 4), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_topology(c, 4, 0), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_topology(NULL, 4, 1), EINVAL);
	kvmhost_x86_cpuid_destroy(c);
}

static void test_cpuid_amd_and_0x1f(void **state)
{
	struct kvm_cpuid_entry2 list[] = {
	    {.function = 0, .eax = 0x1f},
	    {.function = 1, .ebx = 0x0800},
	    {.function = 0x1f, .index = 0, .flags = SIG, .eax = 9},
	    {.function = 0x80000000, .eax = 0x8000001e},
	    {.function = 0x80000008, .ecx = 0xffff},
	    {.function = 0x8000001e, .eax = 99, .ebx = 0xffffff, .ecx = 0x7ff},
	};
	struct kvm_cpuid_entry2 e[KVMHOST_X86_CPUID_MAX_ENTRIES];
	const struct kvm_cpuid_entry2 *x;
	struct kvmhost_x86_cpuid *c;
	uint32_t n;

	(void)state;
	ASSERT_OK(kvmhost_x86_cpuid_create(list, KH_ARRAY_SIZE(list), 0, &c));
	ASSERT_OK(kvmhost_x86_cpuid_set_topology(c, 8, 2));
	n = build_cpuid(c, 7, e);
	/* 0xB was not listed but leaf 0 allows it: built; 0x1F rebuilt too. */
	check_topology_leaf(e, n, 0xb, 7, 1, 2, 3, 8);
	check_topology_leaf(e, n, 0x1f, 7, 1, 2, 3, 8);
	x = find(e, n, 0x8000001e, 0);
	assert_int_equal(x->eax, 7);
	assert_int_equal(x->ebx & 0xff, 3);	   /* core (compute unit) 3 */
	assert_int_equal((x->ebx >> 8) & 0xff, 1); /* 2 threads per core */
	assert_int_equal(x->ebx >> 16, 0xff);	   /* other bits kept */
	assert_int_equal(x->ecx, 0);		   /* one node */
	x = find(e, n, 0x80000008, 0);
	assert_int_equal(x->ecx, 0x3f07); /* NC 7, ApicIdSize 3, other bits kept */
	kvmhost_x86_cpuid_destroy(c);
}

static void test_cpuid_edits(void **state)
{
	struct kvm_cpuid_entry2 e[KVMHOST_X86_CPUID_MAX_ENTRIES];
	const struct kvm_cpuid_entry2 *x;
	struct kvmhost_x86_cpuid *c;
	uint32_t n, base_n;

	(void)state;
	ASSERT_OK(kvmhost_x86_cpuid_create(fake_intel, KH_ARRAY_SIZE(fake_intel), 0, &c));
	ASSERT_OK(kvmhost_x86_cpuid_set_topology(c, 2, 1));
	base_n = build_cpuid(c, 1, e);

	ASSERT_OK(kvmhost_x86_cpuid_set_bits(c, 7, 0, KVMHOST_X86_CPUID_EBX, 0x100));
	ASSERT_OK(kvmhost_x86_cpuid_clear_bits(c, 1, 0, KVMHOST_X86_CPUID_ECX, 1u << 31));
	ASSERT_OK(kvmhost_x86_cpuid_set_reg(c, 1, 0, KVMHOST_X86_CPUID_EBX, 0x12345678)); /* wins over topology */
	ASSERT_OK(kvmhost_x86_cpuid_remove(c, 6, 0));
	ASSERT_OK(kvmhost_x86_cpuid_remove(c, 0x99, 0));				   /* missing: fine */
	ASSERT_OK(kvmhost_x86_cpuid_clear_bits(c, 0x98, 0, KVMHOST_X86_CPUID_EAX, 1));	   /* missing: nothing */
	ASSERT_OK(kvmhost_x86_cpuid_set_bits(c, 0x12345, 0, KVMHOST_X86_CPUID_EDX, 0x80)); /* added, plain */
	ASSERT_OK(kvmhost_x86_cpuid_set_reg(c, 4, 7, KVMHOST_X86_CPUID_EAX, 0x55));	   /* added, indexed */
	ASSERT_OK(kvmhost_x86_cpuid_set_bits(c, 0x12346, 3, KVMHOST_X86_CPUID_EAX, 1));	   /* new, index 3 */
	/* Order matters: set a register, then clear a bit of it. */
	ASSERT_OK(kvmhost_x86_cpuid_set_reg(c, 0xd, 0, KVMHOST_X86_CPUID_EAX, 0xff));
	ASSERT_OK(kvmhost_x86_cpuid_clear_bits(c, 0xd, 0, KVMHOST_X86_CPUID_EAX, 0x0f));
	/* A non-indexed leaf: any index names its one entry. */
	ASSERT_OK(kvmhost_x86_cpuid_set_bits(c, 0x80000008, 5, KVMHOST_X86_CPUID_EBX, 0x2));

	n = build_cpuid(c, 1, e);
	assert_int_equal(n, base_n - 1 + 3);
	assert_int_equal(find(e, n, 7, 0)->ebx, 0x101);
	assert_int_equal(find(e, n, 1, 0)->ecx & (1u << 31), 0);
	assert_int_equal(find(e, n, 1, 0)->ebx, 0x12345678);
	assert_null(find(e, n, 6, 0));
	assert_null(find(e, n, 0x98, 0));
	x = find(e, n, 0x12345, 0);
	assert_non_null(x);
	assert_int_equal(x->flags, 0);
	assert_int_equal(x->edx, 0x80);
	x = find(e, n, 4, 7);
	assert_non_null(x);
	assert_int_equal(x->flags, SIG);
	assert_int_equal(x->index, 7);
	assert_int_equal(x->eax, 0x55);
	assert_int_equal(find(e, n, 4, 0)->eax & 0x3fff, 0x121); /* subleaf 0 untouched */
	x = find(e, n, 0x12346, 3);
	assert_int_equal(x->flags, SIG);
	assert_null(find(e, n, 0x12346, 0));
	assert_int_equal(find(e, n, 0xd, 0)->eax, 0xf0);
	assert_int_equal(find(e, n, 0x80000008, 0)->ebx, 0x2);

	/* The array must hold the table; the count says how much is needed. */
	ASSERT_FAILS(kvmhost_x86_cpuid_build(c, 1, e, 3, &n), E2BIG);
	assert_int_equal(n, base_n + 2);

	ASSERT_FAILS(kvmhost_x86_cpuid_set_bits(c, 1, 0, (enum kvmhost_x86_cpuid_reg)4, 1), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_set_reg(NULL, 1, 0, KVMHOST_X86_CPUID_EAX, 1), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_clear_bits(NULL, 1, 0, KVMHOST_X86_CPUID_EAX, 1), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_remove(NULL, 1, 0), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_build(NULL, 0, e, 8, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_build(c, 0, NULL, 8, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_build(c, 0, e, 8, NULL), EINVAL);
	kvmhost_x86_cpuid_destroy(c);
}

static void test_cpuid_bad_create(void **state)
{
	struct kvm_cpuid_entry2 dup[2] = {{.function = 1}, {.function = 1, .index = 1}};
	struct kvm_cpuid_entry2 many[KVMHOST_X86_CPUID_MAX_ENTRIES + 1];
	struct kvmhost_x86_cpuid *c = (void *)1;

	(void)state;
	memset(many, 0, sizeof(many));
	ASSERT_FAILS(kvmhost_x86_cpuid_create(NULL, 1, 0, &c), EINVAL);
	assert_null(c);
	ASSERT_FAILS(kvmhost_x86_cpuid_create(fake_intel, 0, 0, &c), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_create(many, KVMHOST_X86_CPUID_MAX_ENTRIES + 1, 0, &c), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_create(fake_intel, 1, 1u << 5, &c), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_create(fake_intel, 1, 0, NULL), EINVAL);
	/* Leaf 1 without the index flag twice: ambiguous. */
	ASSERT_FAILS(kvmhost_x86_cpuid_create(dup, 2, 0, &c), EINVAL);
	dup[0].flags = dup[1].flags = SIG; /* indexed: two subleaves are fine */
	ASSERT_OK(kvmhost_x86_cpuid_create(dup, 2, 0, &c));
	kvmhost_x86_cpuid_destroy(c);
	ASSERT_FAILS(kvmhost_x86_cpuid_create_from_system(NULL, &c), EINVAL);
}

/* ----------------------------------------------------------------- MSRs */

static void test_msr_defaults(void **state)
{
	uint32_t idx[32], n = 0;
	uint64_t val[32];
	int seen = 0;

	(void)state;
	ASSERT_OK(kvmhost_x86_msr_defaults(idx, val, 32, &n));
	assert_true(n >= 11);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_not_equal(idx[i], 0x10); /* the TSC is left alone */
		switch (idx[i]) {
		case 0x1a0:
			assert_int_equal(val[i], 1); /* fast strings */
			seen |= 1;
			break;
		case 0x277:
			assert_int_equal(val[i], 0x0007040600070406ull);
			seen |= 2;
			break;
		case 0x2ff:
			assert_int_equal(val[i], 0x806); /* MTRRs on (fixed ranges off), write-back */
			seen |= 4;
			break;
		case 0x174:
		case 0x175:
		case 0x176:
		case 0xc0000081:
		case 0xc0000082:
		case 0xc0000083:
		case 0xc0000084:
		case 0xc0000102:
			assert_int_equal(val[i], 0);
			seen |= 8;
			break;
		default:
			fail_msg("unexpected default MSR 0x%x", idx[i]);
		}
	}
	assert_int_equal(seen, 15);
	ASSERT_FAILS(kvmhost_x86_msr_defaults(idx, val, 2, &n), E2BIG);
	assert_true(n >= 11);
	ASSERT_FAILS(kvmhost_x86_msr_defaults(idx, val, 32, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_msr_defaults(NULL, val, 32, &n), EINVAL);
	ASSERT_FAILS(kvmhost_x86_msr_defaults(idx, NULL, 32, &n), EINVAL);
}

/* ------------------------------------------------------- vCPU refusals */

/* A VM and vCPU that never reach KVM (fd -1): every refusal below must come
 * before any ioctl. */
struct fake {
	struct kvmhost_system sys;
	struct kvmhost_vm vm;
	struct kvmhost_vcpu vcpu;
};

static void fake_init(struct fake *f, int irqchip)
{
	memset(f, 0, sizeof(*f));
	f->sys.fd = -1;
	f->vm.sys = &f->sys;
	f->vm.fd = -1;
	f->vm.irqchip = irqchip;
	snprintf(f->vm.name, sizeof(f->vm.name), "fakevm");
	pthread_mutex_init(&f->vm.lock, NULL);
	f->vcpu.vm = &f->vm;
	f->vcpu.fd = -1;
	f->vcpu.id = 1;
}

static void test_vcpu_refusals(void **state)
{
	struct kvmhost_x86_boot_info bi = {.size = sizeof(bi)};
	struct kvmhost_x86_boot_vcpu_options bo = {.size = sizeof(bo)};
	struct kvmhost_x86_cpuid *c;
	struct fake f;

	(void)state;
	fake_init(&f, 0);
	ASSERT_FAILS(kvmhost_x86_vcpu_prepare_ap(NULL, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_prepare_ap(&f.vcpu, NULL), EINVAL); /* no irqchip */
	assert_non_null(strstr(kvmhost_last_error(), "irqchip"));
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_lint(NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_lint(&f.vcpu), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_set_default_msrs(NULL), EINVAL);

	ASSERT_OK(kvmhost_x86_cpuid_create(fake_intel, KH_ARRAY_SIZE(fake_intel), 0, &c));
	ASSERT_FAILS(kvmhost_x86_cpuid_apply(c, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_apply(NULL, &f.vcpu), EINVAL);
	ASSERT_FAILS(kvmhost_x86_cpuid_apply(c, &f.vcpu), EINVAL); /* vCPU 1 outside a 1-vCPU topology */

	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(NULL, NULL, &bi, NULL), EINVAL);
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, NULL, NULL), EINVAL);
	bi.kind = 0;
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, NULL), EINVAL);
	bi.kind = 99;
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, NULL), EINVAL);
	bi.kind = KVMHOST_X86_ENTRY_RAW;
	bo.raw_mode = 3;
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	bo.raw_mode = KVMHOST_X86_RAW_REAL;
	bi.entry = MiB; /* real mode cannot reach it */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	bo.raw_mode = KVMHOST_X86_RAW_PROTECTED_32;
	bi.entry = 4 * GiB;
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	bi.kind = KVMHOST_X86_ENTRY_PVH_32;
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);

	/* Linux 64-bit: the identity map and where the GDT and tables go. */
	bi.kind = KVMHOST_X86_ENTRY_LINUX_64;
	bi.entry = 0x1000200;
	bi.kernel_start = 0x1000000;
	bi.kernel_end = 0x2000000;
	bi.boot_params_gpa = 0x7000;
	bi.cmdline_gpa = 0x20000;
	bi.cmdline_size = 64;
	bi.identity_map_end = 2 * GiB;
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, NULL), EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "identity"));
	bi.identity_map_end = 0x2000000;
	bo.raw_mode = 0;
	bo.page_table_gpa = 0x6000; /* over the zero page at 0x7000 */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "zero page"));
	bo.page_table_gpa = 0x9800; /* unaligned */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	bo.page_table_gpa = 0;
	bo.gdt_gpa = 0x20020; /* over the command line */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "command line"));
	bo.gdt_gpa = 0xa000; /* inside the default page tables */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	bo.gdt_gpa = 0x504; /* unaligned */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	bo.gdt_gpa = 0x1000100; /* over the kernel */
	ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &bo), EINVAL);
	assert_non_null(strstr(kvmhost_last_error(), "kernel"));
	{
		struct {
			struct kvmhost_x86_boot_vcpu_options o;
			uint64_t future;
		} big = {{.size = sizeof(big)}, 1};

		ASSERT_FAILS(kvmhost_x86_vcpu_setup_boot(&f.vcpu, NULL, &bi, &big.o), E2BIG);
	}
	kvmhost_x86_cpuid_destroy(c);
	pthread_mutex_destroy(&f.vm.lock);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_ram),
		cmocka_unit_test(test_e820_low),
		cmocka_unit_test(test_e820_hole),
		cmocka_unit_test(test_e820_gaps_and_merging),
		cmocka_unit_test(test_e820_cap),
		cmocka_unit_test(test_e820_extra),
		cmocka_unit_test(test_e820_bad),
		cmocka_unit_test(test_e820_from_memory),
		cmocka_unit_test(test_mptable),
		cmocka_unit_test(test_mptable_bad),
		cmocka_unit_test(test_acpi),
		cmocka_unit_test(test_acpi_devices),
		cmocka_unit_test(test_cpuid_defaults),
		cmocka_unit_test(test_cpuid_topology),
		cmocka_unit_test(test_cpuid_amd_and_0x1f),
		cmocka_unit_test(test_cpuid_edits),
		cmocka_unit_test(test_cpuid_bad_create),
		cmocka_unit_test(test_msr_defaults),
		cmocka_unit_test(test_vcpu_refusals),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
