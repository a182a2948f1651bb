/*
 * Unit tests of the x86 arrays' element sizes (docs/architecture.md, ABI
 * rules: public arrays carry their element size): e820 entries and boot
 * modules (kvmhost_x86_boot_options), RAM ranges and e820 entries of the e820
 * builders and the RAM plan, ACPI devices (kvmhost_x86_acpi_options). For
 * each: a caller that knows only the first version (its own copy of the first
 * version's layout, with the size field 0 as a binary built before it passes,
 * and with the size set) gets what a caller with this library's struct gets; a
 * future caller's bigger element works when its extra fields are zero and
 * fails with -E2BIG when one is set; an element size below the first
 * version's, or absurd, fails with -EINVAL and a message naming the field.
 * Arrays the library fills are written with the caller's stride, a bigger
 * element's unknown tail zeroed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/x86_boot.h>
#include <kvmhost/x86_platform.h>
#include "core/internal.h"

#define MIB (1024ull * 1024)

#define UNIT_ERROR_PREFIX "kvmhost_x86_"
#include "unit_assert.h"

/* The first versions, as a caller built against them declares them. */
struct e820_v1 {
	uint64_t addr, size;
	uint32_t type;
};
struct module_v1 {
	const void *data;
	size_t size;
	const char *cmdline;
};
struct range_v1 {
	uint64_t gpa, length;
};
struct device_v1 {
	const char *hid;
	uint32_t uid;
	uint16_t io_base, io_length;
	uint64_t mmio_base, mmio_length;
	uint32_t irq;
};

/* A future caller's elements: this library's struct, then fields it does not know. */
struct e820_future {
	struct kvmhost_x86_e820_entry e;
	uint64_t attributes;
	uint32_t more[3];
};
struct module_future {
	struct kvmhost_x86_boot_module m;
	uint64_t gpa;
};
struct range_future {
	struct kvmhost_x86_ram_range r;
	uint32_t node, flags;
};
struct device_future {
	struct kvmhost_x86_acpi_device d;
	const char *cid;
	uint32_t flags;
};

/* ---------------------------------------------------------- boot options */

#define MB_LOAD	   0x100000u
#define MB_HDR_OFF 0x40u
#define MB_TEXT	   0x2000u
#define RAM_SIZE   (8 * MIB)

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A Multiboot a.out-kludge kernel: header at MB_HDR_OFF, MB_TEXT bytes loaded at MB_LOAD. */
static uint8_t *mb_image(void)
{
	uint8_t *img = calloc(1, MB_TEXT), *h = img + MB_HDR_OFF;
	const uint32_t flags = 0x3 | 1u << 16;

	assert_non_null(img);
	put32(h, 0x1BADB002);
	put32(h + 4, flags);
	put32(h + 8, (uint32_t) - (0x1BADB002u + flags));
	put32(h + 12, MB_LOAD + MB_HDR_OFF);
	put32(h + 16, MB_LOAD);
	put32(h + 20, MB_LOAD + MB_TEXT);
	put32(h + 24, MB_LOAD + MB_TEXT);
	put32(h + 28, MB_LOAD + MB_HDR_OFF + 32);
	return img;
}

static const uint8_t mod_a[3000] = {1, 2, 3}, mod_b[5000] = {4, 5, 6};
static const struct kvmhost_x86_e820_entry pc_map[4] = {
    {0, 0x9fc00, KVMHOST_X86_E820_RAM},
    {0x9fc00, 0x400, KVMHOST_X86_E820_RESERVED},
    {0xf0000, 0x10000, KVMHOST_X86_E820_RESERVED},
    {0x100000, RAM_SIZE - 0x100000, KVMHOST_X86_E820_RAM},
};

/* What a load does: its result and the guest's low 4 MiB (kernel, modules, MBI, map, strings). */
struct outcome {
	struct kvmhost_x86_boot_info info;
	uint8_t *low;
};

static int load(const struct kvmhost_x86_boot_options *o, struct outcome *out)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *region;
	struct kvmhost_memory_options mo = {
	    .size = sizeof(mo), .length = RAM_SIZE, .backing = KVMHOST_MEMORY_ANONYMOUS};
	uint8_t *img = mb_image();
	int r;

	ASSERT_OK(kvmhost_memory_create(&mem));
	ASSERT_OK(kvmhost_memory_add_region(mem, &mo, &region));
	memset(&out->info, 0x5a, sizeof(out->info));
	out->info.size = sizeof(out->info);
	r = kvmhost_x86_boot_load_multiboot(mem, img, MB_TEXT, o, &out->info);
	out->low = malloc(4 * MIB);
	assert_non_null(out->low);
	ASSERT_OK(kvmhost_memory_read(mem, 0, out->low, 4 * MIB));
	kvmhost_memory_destroy(mem);
	free(img);
	return r;
}

static void assert_same_outcome(const struct outcome *a, const struct outcome *b)
{
	assert_memory_equal(&a->info, &b->info, sizeof(a->info));
	assert_memory_equal(a->low, b->low, 4 * MIB);
}

/* The boot options with this library's structs (the reference), as a caller today writes them. */
static struct kvmhost_x86_boot_options ref_options(struct kvmhost_x86_boot_module mods[2])
{
	struct kvmhost_x86_boot_options o = {.size = sizeof(o), .cmdline = "console=ttyS0"};

	mods[0] = (struct kvmhost_x86_boot_module){mod_a, sizeof(mod_a), "first"};
	mods[1] = (struct kvmhost_x86_boot_module){mod_b, sizeof(mod_b), NULL};
	o.modules = mods;
	o.module_count = 2;
	o.module_size = sizeof(mods[0]);
	o.e820 = pc_map;
	o.e820_count = 4;
	o.e820_entry_size = sizeof(pc_map[0]);
	return o;
}

static void test_boot_first_version(void **state)
{
	struct kvmhost_x86_boot_module mods[2];
	struct kvmhost_x86_boot_options o = ref_options(mods);
	struct module_v1 m1[2] = {{mod_a, sizeof(mod_a), "first"}, {mod_b, sizeof(mod_b), NULL}};
	struct e820_v1 e1[4];
	struct outcome want, got;
	struct kvmhost_x86_boot_info ci = {.size = sizeof(ci)};

	(void)state;
	for (unsigned i = 0; i < 4; i++)
		e1[i] = (struct e820_v1){pc_map[i].addr, pc_map[i].size, pc_map[i].type};
	ASSERT_OK(load(&o, &want));
	assert_int_equal(want.info.module_count, 2);

	/* A binary built before the size fields: they read as 0, the first version's size. */
	o.modules = (const void *)m1;
	o.e820 = (const void *)e1;
	o.module_size = 0;
	o.e820_entry_size = 0;
	ASSERT_OK(load(&o, &got));
	assert_same_outcome(&want, &got);
	free(got.low);
	/* One built with them, against the first version's structs. */
	o.module_size = sizeof(m1[0]);
	o.e820_entry_size = sizeof(e1[0]);
	ASSERT_OK(load(&o, &got));
	assert_same_outcome(&want, &got);
	free(got.low);
	/* And an options struct of the first version's size, without the size fields at all. */
	o.size = offsetof(struct kvmhost_x86_boot_options, module_size);
	o.module_size = 0x7777; /* not read: past the caller's struct */
	o.e820_entry_size = 0x7777;
	ASSERT_OK(load(&o, &got));
	assert_same_outcome(&want, &got);
	free(got.low);
	/* The check (no guest memory) reads the arrays the same way. */
	{
		uint8_t *img = mb_image();

		ASSERT_OK(kvmhost_x86_boot_check(KVMHOST_X86_BOOT_MULTIBOOT, img, MB_TEXT, &o, &ci));
		free(img);
	}
	assert_int_equal(ci.module_count, want.info.module_count);
	assert_int_equal(ci.kernel_end, want.info.kernel_end);
	free(want.low);
}

static void test_boot_future_version(void **state)
{
	struct kvmhost_x86_boot_module mods[2];
	struct kvmhost_x86_boot_options o = ref_options(mods);
	struct module_future mf[2];
	struct e820_future ef[4];
	struct outcome want, got;

	(void)state;
	memset(mf, 0, sizeof(mf));
	memset(ef, 0, sizeof(ef));
	mf[0].m = mods[0];
	mf[1].m = mods[1];
	for (unsigned i = 0; i < 4; i++)
		ef[i].e = pc_map[i];
	ASSERT_OK(load(&o, &want));

	/* A bigger element whose extra fields are zero: the same load. */
	o.modules = &mf[0].m;
	o.module_size = sizeof(mf[0]);
	o.e820 = &ef[0].e;
	o.e820_entry_size = sizeof(ef[0]);
	ASSERT_OK(load(&o, &got));
	assert_same_outcome(&want, &got);
	free(got.low);

	/* One that sets a field this library does not know: refused, naming the element, guest memory untouched. */
	mf[1].gpa = 0x200000;
	reset_error();
	ASSERT_FAILS_MENTIONING(load(&o, &got), E2BIG, "modules[1]");
	for (size_t i = 0; i < 4 * MIB; i++)
		if (got.low[i])
			fail_msg("guest byte 0x%zx written by a refused load", i);
	free(got.low);
	mf[1].gpa = 0;
	ef[3].more[2] = 1;
	ASSERT_FAILS_MENTIONING(load(&o, &got), E2BIG, "e820[3]");
	free(got.low);
	free(want.low);
}

static void test_boot_bad_sizes(void **state)
{
	struct kvmhost_x86_boot_module mods[2];
	struct kvmhost_x86_boot_options o = ref_options(mods);
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	uint8_t *img = mb_image();
	const size_t bad[] = {1, sizeof(struct module_v1) - 1, 65537, SIZE_MAX};

	(void)state;
	for (unsigned i = 0; i < KH_ARRAY_SIZE(bad); i++) {
		o.module_size = bad[i];
		ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, MB_TEXT, &o, &info), EINVAL, "module_size");
		o.module_size = 0;
	}
	o.e820_entry_size = sizeof(struct e820_v1) - 4; /* 20: the fields without their padding */
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, MB_TEXT, &o, &info), EINVAL, "e820_entry_size");
	o.e820_entry_size = 1u << 20;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, MB_TEXT, &o, &info), EINVAL, "e820_entry_size");
	/* A size is checked even without its array; the largest accepted one works. */
	o.e820_entry_size = 65536;
	{
		uint8_t *big = calloc(4, 65536);

		assert_non_null(big);
		for (unsigned i = 0; i < 4; i++)
			memcpy(big + i * 65536, &pc_map[i], sizeof(pc_map[i]));
		o.e820 = (const void *)big;
		ASSERT_OK(kvmhost_x86_boot_check(0, img, MB_TEXT, &o, &info));
		free(big);
	}
	/* A size is checked even without its array. */
	o.module_count = 0;
	o.modules = NULL;
	o.module_size = 3;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, MB_TEXT, &o, &info), EINVAL, "module_size");
	free(img);
}

/* ------------------------------------------------------------- e820 and RAM */

static void test_e820_strides(void **state)
{
	const struct kvmhost_x86_ram_range ram[2] = {{0, 3 * MIB}, {0x100000000ull, 1 * MIB}};
	const struct kvmhost_x86_e820_entry extra = {0xe0000, 0x1000, KVMHOST_X86_E820_ACPI};
	struct kvmhost_x86_e820_entry want[16];
	struct kvmhost_x86_e820_options o = {.size = sizeof(o), .extra = &extra, .extra_count = 1};
	struct range_v1 r1[2] = {{0, 3 * MIB}, {0x100000000ull, 1 * MIB}};
	struct range_future rf[2];
	struct e820_v1 x1 = {0xe0000, 0x1000, KVMHOST_X86_E820_ACPI}, out1[16];
	struct e820_future xf, outf[16];
	uint32_t n, n2;

	(void)state;
	o.e820_entry_size = sizeof(want[0]);
	o.ram_range_size = sizeof(ram[0]);
	ASSERT_OK(kvmhost_x86_e820_from_ranges(ram, 2, &o, want, 16, &n));
	assert_int_equal(n, 6);

	/* First-version callers: size 0 (and NULL options, for the plain case) and the size given. */
	{
		struct kvmhost_x86_e820_options o1 = {.size = sizeof(o), .extra = (const void *)&x1, .extra_count = 1};

		memset(out1, 0xee, sizeof(out1));
		ASSERT_OK(kvmhost_x86_e820_from_ranges((const void *)r1, 2, &o1, (void *)out1, 16, &n2));
		assert_int_equal(n2, n);
		for (uint32_t i = 0; i < n; i++) {
			assert_int_equal(out1[i].addr, want[i].addr);
			assert_int_equal(out1[i].size, want[i].size);
			assert_int_equal(out1[i].type, want[i].type);
		}
		o1.e820_entry_size = sizeof(out1[0]);
		o1.ram_range_size = sizeof(r1[0]);
		ASSERT_OK(kvmhost_x86_e820_from_ranges((const void *)r1, 2, &o1, (void *)out1, 16, &n2));
		assert_int_equal(out1[n - 1].addr, want[n - 1].addr);
		/* An options struct of the first version's size. */
		o1.size = offsetof(struct kvmhost_x86_e820_options, e820_entry_size);
		o1.e820_entry_size = 3; /* past the caller's struct: not read */
		ASSERT_OK(kvmhost_x86_e820_from_ranges((const void *)r1, 2, &o1, (void *)out1, 16, &n2));
		assert_int_equal(out1[n - 1].size, want[n - 1].size);
	}

	/* A future caller: bigger elements in (zero tails) and out (tails zeroed, the stride kept). */
	memset(rf, 0, sizeof(rf));
	rf[0].r = ram[0];
	rf[1].r = ram[1];
	memset(&xf, 0, sizeof(xf));
	xf.e = extra;
	memset(outf, 0xee, sizeof(outf));
	o.extra = &xf.e;
	o.e820_entry_size = sizeof(xf);
	o.ram_range_size = sizeof(rf[0]);
	ASSERT_OK(kvmhost_x86_e820_from_ranges(&rf[0].r, 2, &o, &outf[0].e, 16, &n2));
	assert_int_equal(n2, n);
	for (uint32_t i = 0; i < n; i++) {
		assert_memory_equal(&outf[i].e, &want[i], offsetof(struct kvmhost_x86_e820_entry, type) + 4);
		assert_int_equal(outf[i].attributes, 0);
		assert_int_equal(outf[i].more[2], 0);
	}
	assert_int_equal(outf[n].e.addr, 0xeeeeeeeeeeeeeeeeull); /* nothing past the map */

	/* Unknown fields set: -E2BIG naming the element. */
	rf[1].flags = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_e820_from_ranges(&rf[0].r, 2, &o, &outf[0].e, 16, &n2), E2BIG, "ram[1]");
	rf[1].flags = 0;
	xf.attributes = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_e820_from_ranges(&rf[0].r, 2, &o, &outf[0].e, 16, &n2), E2BIG, "extra[0]");
	xf.attributes = 0;

	/* Bad sizes, for both builders. */
	o.ram_range_size = sizeof(struct range_v1) - 1;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_e820_from_ranges(&rf[0].r, 2, &o, &outf[0].e, 16, &n2), EINVAL,
				"ram_range_size");
	o.ram_range_size = 0;
	o.e820_entry_size = 8;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_e820_from_ranges(ram, 2, &o, &outf[0].e, 16, &n2), EINVAL,
				"e820_entry_size");
	o.e820_entry_size = 70000;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_e820_from_ranges(ram, 2, &o, &outf[0].e, 16, &n2), EINVAL,
				"e820_entry_size");
	{
		struct kvmhost_memory *mem;

		ASSERT_OK(kvmhost_memory_create(&mem));
		ASSERT_FAILS_MENTIONING(kvmhost_x86_e820_from_memory(mem, &o, &outf[0].e, 16, &n2), EINVAL,
					"e820_entry_size");
		kvmhost_memory_destroy(mem);
	}
}

static void test_plan_ram_sized(void **state)
{
	struct kvmhost_x86_ram_range want[2];
	struct range_v1 r1[2];
	struct range_future rf[3];
	uint32_t n, n2;

	(void)state;
	ASSERT_OK(kvmhost_x86_plan_ram(4ull << 30, 0, want, 2, &n));
	assert_int_equal(n, 2);
	ASSERT_OK(kvmhost_x86_plan_ram_sized(4ull << 30, 0, (void *)r1, 0, 2, &n2));
	assert_int_equal(n2, 2);
	ASSERT_OK(kvmhost_x86_plan_ram_sized(4ull << 30, 0, (void *)r1, sizeof(r1[0]), 2, &n2));
	assert_int_equal(r1[1].gpa, want[1].gpa);
	assert_int_equal(r1[1].length, want[1].length);

	memset(rf, 0xee, sizeof(rf));
	ASSERT_OK(kvmhost_x86_plan_ram_sized(4ull << 30, 0, &rf[0].r, sizeof(rf[0]), 3, &n2));
	assert_int_equal(n2, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_memory_equal(&rf[i].r, &want[i], sizeof(want[i]));
		assert_int_equal(rf[i].node, 0);
		assert_int_equal(rf[i].flags, 0);
	}
	assert_int_equal(rf[2].r.gpa, 0xeeeeeeeeeeeeeeeeull);

	ASSERT_FAILS_MENTIONING(kvmhost_x86_plan_ram_sized(4ull << 30, 0, &rf[0].r, 8, 3, &n2), EINVAL, "range_size");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_plan_ram_sized(4ull << 30, 0, &rf[0].r, 65537, 3, &n2), EINVAL,
				"range_size");
	/* E2BIG (too small an array) still says how many are needed. */
	ASSERT_FAILS(kvmhost_x86_plan_ram_sized(4ull << 30, 0, &rf[0].r, sizeof(rf[0]), 1, &n2), E2BIG);
	assert_int_equal(n2, 2);
}

/* ------------------------------------------------------------------ ACPI */

static struct kvmhost_memory *low_memory(uint8_t **host)
{
	struct kvmhost_memory *mem;
	struct kvmhost_memory_region *r;
	struct kvmhost_memory_options mo = {.size = sizeof(mo), .length = MIB, .backing = KVMHOST_MEMORY_ANONYMOUS};

	ASSERT_OK(kvmhost_memory_create(&mem));
	ASSERT_OK(kvmhost_memory_add_region(mem, &mo, &r));
	*host = kvmhost_memory_region_host_addr(r);
	return mem;
}

static void test_acpi_devices(void **state)
{
	const struct kvmhost_x86_acpi_device devs[2] = {
	    {.hid = "PNP0501", .uid = 1, .io_base = 0x3f8, .io_length = 8, .irq = 4},
	    {.hid = "LNRO0005", .uid = 0, .mmio_base = 0xd0000000ull, .mmio_length = 0x1000, .irq = 20}};
	struct device_v1 d1[2] = {{"PNP0501", 1, 0x3f8, 8, 0, 0, 4}, {"LNRO0005", 0, 0, 0, 0xd0000000ull, 0x1000, 20}};
	struct device_future df[2];
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 2, .devices = devs, .device_count = 2};
	struct kvmhost_memory *mem;
	uint64_t written, w2;
	uint8_t *ram, *want;

	(void)state;
	mem = low_memory(&ram);
	o.device_size = sizeof(devs[0]);
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, NULL, &written));
	want = malloc(written);
	assert_non_null(want);
	memcpy(want, ram + KVMHOST_X86_ACPI_GPA_DEFAULT, written);

	/* The first version's devices, size 0 and given; an options struct without device_size. */
	o.devices = (const void *)d1;
	for (int k = 0; k < 3; k++) {
		memset(ram, 0, MIB);
		o.device_size = k == 1 ? sizeof(d1[0]) : k == 2 ? 0x7777 : 0;
		o.size = k == 2 ? offsetof(struct kvmhost_x86_acpi_options, device_size) : sizeof(o);
		ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, NULL, &w2));
		assert_int_equal(w2, written);
		assert_memory_equal(ram + KVMHOST_X86_ACPI_GPA_DEFAULT, want, written);
	}
	o.size = sizeof(o);

	/* A future caller's devices. */
	memset(df, 0, sizeof(df));
	df[0].d = devs[0];
	df[1].d = devs[1];
	o.devices = &df[0].d;
	o.device_size = sizeof(df[0]);
	memset(ram, 0, MIB);
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, NULL, &w2));
	assert_memory_equal(ram + KVMHOST_X86_ACPI_GPA_DEFAULT, want, written);
	df[1].cid = "PNP0C02";
	ASSERT_FAILS_MENTIONING(kvmhost_x86_acpi_write(mem, &o, NULL, &w2), E2BIG, "devices[1]");
	df[1].cid = NULL;

	/* Bad sizes. */
	o.device_size = sizeof(struct device_v1) - 8;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_acpi_write(mem, &o, NULL, &w2), EINVAL, "device_size");
	o.device_size = 65536 + 8;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_acpi_write(mem, &o, NULL, &w2), EINVAL, "device_size");
	free(want);
	kvmhost_memory_destroy(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_boot_first_version), cmocka_unit_test(test_boot_future_version),
	    cmocka_unit_test(test_boot_bad_sizes),     cmocka_unit_test(test_e820_strides),
	    cmocka_unit_test(test_plan_ram_sized),     cmocka_unit_test(test_acpi_devices),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
