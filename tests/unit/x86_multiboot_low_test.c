/*
 * Unit tests of a Multiboot kernel loaded low: an a.out-kludge kernel at
 * 0x8000 covers the default place of the Multiboot information (0x9000), so
 * the loader puts the information block and its memory map where no segment
 * is, instead of refusing the kernel. A place the caller chose is still
 * checked (an overlap is refused), and a kernel that leaves the default free
 * keeps it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <kvmhost/memory.h>
#include <kvmhost/x86_boot.h>

#include "core/internal.h"
#include "unit_assert.h"

#define RAM (4u << 20)

static uint8_t *ram;
static struct kvmhost_memory *mem;

static int setup(void **state)
{
	struct kvmhost_memory_options o = {.size = sizeof(o), .length = RAM, .backing = KVMHOST_MEMORY_HOST_POINTER};

	(void)state;
	ram = aligned_alloc(4096, RAM);
	o.host_addr = ram;
	if (!ram || kvmhost_memory_create(&mem) < 0 || kvmhost_memory_add_region(mem, &o, NULL) < 0)
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

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A kernel of @size bytes at @load with an a.out-kludge header at offset 8, entry at +0x40, bss to @bss_end. */
static void make_kernel(uint8_t *img, size_t size, uint32_t load, uint32_t bss_end)
{
	const uint32_t magic = 0x1BADB002, flags = 0x00010000;

	memset(img, 0x90, size);
	put32(img + 8, magic);
	put32(img + 12, flags);
	put32(img + 16, (uint32_t) - (magic + flags));
	put32(img + 20, load + 8); /* header_addr */
	put32(img + 24, load);	   /* load_addr */
	put32(img + 28, 0);	   /* load_end_addr: the whole file */
	put32(img + 32, bss_end);  /* bss_end_addr */
	put32(img + 36, load + 0x40);
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void test_low_kernel_loads(void **state)
{
	static uint8_t img[0x3000];
	struct kvmhost_x86_boot_module mod = {.data = "module", .size = 6, .cmdline = "mod"};
	struct kvmhost_x86_boot_options o = {.size = sizeof(o), .cmdline = "low", .modules = &mod, .module_count = 1};
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};
	uint32_t mbi_flags, mmap_len, mmap_addr;

	(void)state;
	memset(ram, 0xff, RAM);
	make_kernel(img, sizeof(img), 0x8000, 0x8000 + 0x4000); /* [0x8000, 0xc000) with its bss */
	ASSERT_OK(kvmhost_x86_boot_load_multiboot(mem, img, sizeof(img), &o, &info));
	assert_int_equal(info.kernel_start, 0x8000);
	assert_int_equal(info.kernel_end, 0xc000);
	assert_int_not_equal(info.mbi_gpa, KVMHOST_X86_BOOT_DEFAULT_MBI_GPA);
	assert_int_equal(info.mbi_gpa % 8, 0);
	assert_true(info.mbi_gpa >= 0x1000);
	assert_false(overlaps(info.mbi_gpa, 88 + 16, info.kernel_start, info.kernel_end - info.kernel_start));
	assert_int_equal(info.rbx, info.mbi_gpa);
	/* The MBI is there, and its memory map is clear of the kernel too. */
	memcpy(&mbi_flags, ram + info.mbi_gpa, 4);
	assert_true(mbi_flags & (1u << 6));
	memcpy(&mmap_len, ram + info.mbi_gpa + 44, 4);
	memcpy(&mmap_addr, ram + info.mbi_gpa + 48, 4);
	assert_true(mmap_len > 0);
	assert_false(overlaps(mmap_addr, mmap_len, info.kernel_start, info.kernel_end - info.kernel_start));
	/* The bss was zeroed, the module placed after the kernel. */
	assert_int_equal(ram[0xbff0], 0);
	assert_int_equal(info.module_count, 1);
}

static void test_chosen_place_still_checked(void **state)
{
	static uint8_t img[0x3000];
	struct kvmhost_x86_boot_options o = {.size = sizeof(o), .mbi_gpa = KVMHOST_X86_BOOT_DEFAULT_MBI_GPA};
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};

	(void)state;
	make_kernel(img, sizeof(img), 0x8000, 0);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_multiboot(mem, img, sizeof(img), &o, &info), EINVAL, "overlaps");
}

static void test_default_kept_when_free(void **state)
{
	static uint8_t img[0x3000];
	struct kvmhost_x86_boot_info info = {.size = sizeof(info)};

	(void)state;
	make_kernel(img, sizeof(img), 0x100000, 0);
	ASSERT_OK(kvmhost_x86_boot_load_multiboot(mem, img, sizeof(img), NULL, &info));
	assert_int_equal(info.mbi_gpa, KVMHOST_X86_BOOT_DEFAULT_MBI_GPA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_low_kernel_loads),
	    cmocka_unit_test(test_chosen_place_still_checked),
	    cmocka_unit_test(test_default_kept_when_free),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
