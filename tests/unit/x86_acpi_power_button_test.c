/*
 * Unit tests of the ACPI power button (kvmhost_x86_acpi_options.power_button_gsi):
 * the DSDT gains Device (PWRB) with _HID PNP0C0C and Device (GED0) with _HID
 * "ACPI0013", an Extended Interrupt on the GSI and Method (_EVT, 1)
 * {Notify (PWRB, 0x80)}, byte for byte; a caller built before the field
 * (the smaller struct) gets the tables of before; bad GSIs are refused.
 * With iasl installed, the DSDT also disassembles to the same objects.
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
#include <kvmhost/memory.h>
#include <kvmhost/x86_platform.h>

#include "core/internal.h"
#include "unit_assert.h"

#define RAM (1u << 20)

static uint8_t *ram;
static struct kvmhost_memory *mem;

static int setup(void **state)
{
	struct kvmhost_memory_options o = {.size = sizeof(o), .length = RAM, .backing = KVMHOST_MEMORY_HOST_POINTER};

	(void)state;
	ram = aligned_alloc(4096, RAM);
	memset(ram, 0, RAM);
	o.host_addr = ram;
	if (kvmhost_memory_create(&mem) < 0 || kvmhost_memory_add_region(mem, &o, NULL) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kvmhost_memory_destroy(mem);
	free(ram);
	return 0;
}

static const uint8_t *find(const uint8_t *p, size_t len, const void *needle, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(p + i, needle, n))
			return p + i;
	return NULL;
}

/* The DSDT: the first "DSDT" signature after the RSDP. Its length is at +4. */
static const uint8_t *dsdt(uint64_t rsdp, uint32_t *len)
{
	const uint8_t *d = find(ram + rsdp, 0x10000, "DSDT", 4);

	assert_non_null(d);
	memcpy(len, d + 4, 4);
	return d;
}

static void test_power_button_aml(void **state)
{
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 1, .power_button_gsi = 9};
	/* Method (_EVT, 1) { Notify (PWRB, 0x80) }: 0x14 PkgLength(13) "_EVT" 01 86 "PWRB" 0A 80 */
	static const uint8_t evt[] = {0x14, 0x0d, '_', 'E', 'V', 'T', 0x01, 0x86, 'P', 'W', 'R', 'B', 0x0a, 0x80};
	/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {9}, then the end tag */
	static const uint8_t irq[] = {0x89, 0x06, 0x00, 0x03, 0x01, 9, 0, 0, 0, 0x79, 0x00};
	/* Name (_HID, EisaId ("PNP0C0C")) */
	static const uint8_t pwrb_hid[] = {0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c};
	uint64_t rsdp;
	uint32_t len;
	const uint8_t *d;
	uint8_t sum = 0;

	(void)state;
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, NULL));
	d = dsdt(rsdp, &len);
	for (uint32_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + d[i]);
	assert_int_equal(sum, 0);
	assert_non_null(find(d, len, "PWRB", 4));
	assert_non_null(find(d, len, pwrb_hid, sizeof(pwrb_hid)));
	assert_non_null(find(d, len, "GED0", 4));
	assert_non_null(find(d, len, "ACPI0013", 9)); /* a string, with its NUL */
	assert_non_null(find(d, len, evt, sizeof(evt)));
	assert_non_null(find(d, len, irq, sizeof(irq)));
}

static void test_older_caller_unchanged(void **state)
{
	struct kvmhost_x86_acpi_options o = {.size = offsetof(struct kvmhost_x86_acpi_options, power_button_gsi),
					     .ncpus = 2};
	uint8_t *before = malloc(0x10000);
	uint64_t rsdp, written, written2;
	uint32_t len;

	(void)state;
	memset(ram, 0, RAM);
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written));
	memcpy(before, ram + rsdp, 0x10000);
	{
		const uint8_t *d = dsdt(rsdp, &len);

		assert_null(find(d, len, "GED0", 4));
	}
	o.size = sizeof(o); /* the same with the field present and 0 */
	memset(ram + rsdp, 0, 0x10000);
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, &written2));
	assert_int_equal(written, written2);
	assert_memory_equal(before, ram + rsdp, 0x10000);
	free(before);
}

static void test_bad_gsi(void **state)
{
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 1, .power_button_gsi = 2};

	(void)state;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_acpi_write(mem, &o, NULL, NULL), EINVAL, "power button GSI 2");
	o.power_button_gsi = KVMHOST_X86_IOAPIC_PINS;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_acpi_write(mem, &o, NULL, NULL), EINVAL, "power button GSI");
}

/* iasl -d, when installed: the disassembly names both devices and the method. */
static void test_iasl(void **state)
{
	struct kvmhost_x86_acpi_options o = {.size = sizeof(o), .ncpus = 1, .power_button_gsi = 9};
	char dir[] = "/tmp/kvmhost-ged-XXXXXX", cmd[512], path[256], *text;
	uint64_t rsdp;
	uint32_t len;
	const uint8_t *d;
	FILE *f;
	long n;

	(void)state;
	if (system("command -v iasl > /dev/null 2>&1") != 0)
		skip();
	ASSERT_OK(kvmhost_x86_acpi_write(mem, &o, &rsdp, NULL));
	d = dsdt(rsdp, &len);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dsdt.aml", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.aml > /dev/null 2>&1", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	text = calloc(1, 1 << 16);
	n = (long)fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	assert_true(n > 0);
	assert_non_null(strstr(text, "Device (PWRB)"));
	assert_non_null(strstr(text, "PNP0C0C"));
	assert_non_null(strstr(text, "Device (GED0)"));
	assert_non_null(strstr(text, "ACPI0013"));
	assert_non_null(strstr(text, "Method (_EVT, 1"));
	assert_non_null(strstr(text, "Notify (PWRB, 0x80"));
	free(text);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_power_button_aml),
	    cmocka_unit_test(test_older_caller_unchanged),
	    cmocka_unit_test(test_bad_gsi),
	    cmocka_unit_test(test_iasl),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
