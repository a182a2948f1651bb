/*
 * Unit tests of the arm64 Image loader (include/kvmhost/arm64_boot.h) on fake guest memory (no KVM), on every
 * architecture: a good Image with a DTB from the device tree builder and an initrd, checked byte by byte in
 * guest memory and in the boot info (the initrd range written into the loaded DTB's /chosen included); the
 * dry run giving the same plan; then bad inputs - every truncation of the Image and of the DTB, each header
 * field corrupted, bad and overlapping placements, RAM too small, the 32 GiB initrd window, read-only memory -
 * each failing with its errno and a message naming the field, and leaving guest memory unwritten (checked
 * through the VMM dirty bitmap). With KVMHOST_TEST_ARM64_IMAGE set, also a real kernel's Image.
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
#include <libfdt.h>

#include <kvmhost/kvmhost.h>
#include <kvmhost/arm64_boot.h>
#include <kvmhost/arm64_fdt.h>
#include "core/internal.h"

#define UNIT_ERROR_PREFIX "kvmhost_arm64_"
#include "unit_assert.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

#define RAM_BASE 0x40000000ull /* QEMU virt's */
#define RAM_SIZE (64 * MIB)
#define IMG_SIZE (96 * KIB) /* the file */

/* ---------- fake memory ---------- */

static struct kvmhost_memory_region *add_region(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, uint32_t flags)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	struct kvmhost_memory_region *r;

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	o.flags = flags;
	o.name = "arm64-boot-test";
	ASSERT_OK(kvmhost_memory_add_region(mem, &o, &r));
	return r;
}

static struct kvmhost_memory *make_mem(uint64_t base, uint64_t size)
{
	struct kvmhost_memory *mem;

	ASSERT_OK(kvmhost_memory_create(&mem));
	add_region(mem, base, size, 0);
	return mem;
}

static int dirty_cb(struct kvmhost_memory_region *region, void *opaque)
{
	size_t n = kvmhost_memory_region_bitmap_size(region);
	uint64_t *bm = calloc(1, n);
	int *dirty = opaque;

	assert_non_null(bm);
	assert_int_equal(kvmhost_memory_fetch_vmm_dirty(region, bm, n), 0);
	for (size_t i = 0; i < n / 8; i++)
		if (bm[i])
			*dirty = 1;
	free(bm);
	return 0;
}

/* Fetch and clear the VMM-side dirty bits: 1 if anything was written. */
static int mem_written(struct kvmhost_memory *mem)
{
	int dirty = 0;

	assert_int_equal(kvmhost_memory_for_each_region(mem, dirty_cb, &dirty), 0);
	return dirty;
}

static void assert_untouched(struct kvmhost_memory *mem)
{
	if (mem_written(mem)) {
		print_error("guest memory was written by a failed load (%s)\n", kvmhost_last_error());
		fail();
	}
}

/* ---------- inputs ---------- */

static uint8_t image[IMG_SIZE];
static uint8_t dtb[16 * KIB];
static size_t dtb_size;
static uint8_t initrd[40 * KIB + 123];

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void make_image(uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7 + 3);
	memset(image, 0, KVMHOST_ARM64_IMAGE_HEADER_SIZE);
	put64(image + 0x00, 0x14000010d503201full); /* code0: nop (MZ-less), code1: b +0x40 */
	put64(image + 0x08, text_offset);
	put64(image + 0x10, image_size);
	put64(image + 0x18, flags);
	put64(image + 0x38, KVMHOST_ARM64_IMAGE_MAGIC);
}

static void make_dtb(int with_chosen)
{
	static const uint64_t mpidr = 0x80000000ull;
	struct kvmhost_arm64_fdt_memory ram = {RAM_BASE, RAM_SIZE};
	struct kvmhost_arm64_fdt_options o = {.size = sizeof(o)};

	o.memory = &ram;
	o.memory_count = 1;
	o.memory_size = sizeof(ram);
	o.mpidrs = &mpidr;
	o.cpu_count = 1;
	o.gicd_base = 0x8000000;
	o.gicr_base = 0x80a0000;
	o.uart_type = KVMHOST_ARM64_UART_NS16550A;
	o.uart_base = 0x9000000;
	o.bootargs = "console=ttyS0";
	ASSERT_OK(kvmhost_arm64_fdt_build(&o, dtb, sizeof(dtb), &dtb_size));
	if (!with_chosen) {
		assert_int_equal(fdt_del_node(dtb, fdt_path_offset(dtb, "/chosen")), 0);
		assert_int_equal(fdt_pack(dtb), 0);
		dtb_size = fdt_totalsize(dtb);
	}
}

static void base_options(struct kvmhost_arm64_boot_options *o, int with_initrd)
{
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->dtb = dtb;
	o->dtb_size = dtb_size;
	if (with_initrd) {
		for (size_t i = 0; i < sizeof(initrd); i++)
			initrd[i] = (uint8_t)(i ^ 0x5a);
		o->initrd = initrd;
		o->initrd_size = sizeof(initrd);
	}
}

static void assert_guest_bytes(struct kvmhost_memory *mem, uint64_t gpa, const void *want, size_t n)
{
	uint8_t *got = malloc(n);

	assert_non_null(got);
	ASSERT_OK(kvmhost_memory_read(mem, gpa, got, n));
	assert_memory_equal(got, want, n);
	free(got);
}

static uint64_t chosen_u64(const void *fdt, const char *name)
{
	int len;
	const fdt64_t *p = fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), name, &len);

	assert_non_null(p);
	assert_int_equal(len, 8);
	return fdt64_ld(p);
}

/* ---------- the good path ---------- */

static void check_loaded(struct kvmhost_memory *mem, const struct kvmhost_arm64_boot_info *info, uint64_t text_offset)
{
	uint8_t *got_dtb = malloc(info->dtb_size);

	assert_int_equal(info->kernel_base, RAM_BASE);
	assert_int_equal(info->text_offset, text_offset);
	assert_int_equal(info->kernel_start, RAM_BASE + text_offset);
	assert_int_equal(info->entry, info->kernel_start);
	assert_int_equal(info->kernel_end, info->kernel_start + info->image_size);
	assert_guest_bytes(mem, info->kernel_start, image, sizeof(image));
	/* DTB: first 2 MiB boundary past the kernel, 8-byte aligned; x0 points at it */
	assert_int_equal(info->dtb_gpa, (info->kernel_end + 2 * MIB - 1) & ~(2 * MIB - 1));
	assert_int_equal(info->x0, info->dtb_gpa);
	assert_non_null(got_dtb);
	ASSERT_OK(kvmhost_memory_read(mem, info->dtb_gpa, got_dtb, info->dtb_size));
	assert_int_equal(fdt_check_full(got_dtb, info->dtb_size), 0);
	assert_int_equal(fdt_totalsize(got_dtb), info->dtb_size);
	/* the initrd: after the DTB's 2 MiB block, its range in /chosen, the rest of /chosen as built */
	assert_int_equal(info->initrd_gpa, info->dtb_gpa + 2 * MIB);
	assert_int_equal(info->initrd_size, sizeof(initrd));
	assert_guest_bytes(mem, info->initrd_gpa, initrd, sizeof(initrd));
	assert_int_equal(chosen_u64(got_dtb, "linux,initrd-start"), info->initrd_gpa);
	assert_int_equal(chosen_u64(got_dtb, "linux,initrd-end"), info->initrd_gpa + sizeof(initrd));
	assert_string_equal(fdt_getprop(got_dtb, fdt_path_offset(got_dtb, "/chosen"), "bootargs", NULL),
			    "console=ttyS0");
	free(got_dtb);
}

static void test_load_good(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)}, dry = {.size = sizeof(dry)};
	struct kvmhost_memory *mem;
	(void)state;

	/* A modern kernel: text_offset 0, 4 KiB pages, anywhere (flags 0xa), bss past the file. */
	make_image(0, 2 * MIB + 64 * KIB, 0xa);
	make_dtb(1);
	base_options(&o, 1);
	mem = make_mem(RAM_BASE, RAM_SIZE);
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, &info));
	check_loaded(mem, &info, 0);
	assert_int_equal(info.flags, 0xa);
	assert_int_equal(info.page_size, 4096);
	assert_int_equal(info.image_size, 2 * MIB + 64 * KIB);

	/* The dry run plans the same, without memory. */
	o.ram_base = RAM_BASE;
	o.ram_size = RAM_SIZE;
	ASSERT_OK(kvmhost_arm64_boot_check(image, sizeof(image), &o, &dry));
	assert_memory_equal(&dry, &info, sizeof(info));
	ASSERT_OK(kvmhost_arm64_boot_check(image, sizeof(image), &o, NULL));
	kvmhost_memory_destroy(mem);

	/* An older kernel: text_offset 0x80000, page size unspecified, placed low (flags 0). */
	make_image(0x80000, 0x80000 + 512 * KIB, 0);
	base_options(&o, 1);
	mem = make_mem(RAM_BASE, RAM_SIZE);
	info.size = sizeof(info);
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, &info));
	check_loaded(mem, &info, 0x80000);
	assert_int_equal(info.page_size, 0);
	kvmhost_memory_destroy(mem);

	/* Page sizes 16 and 64 KiB are reported; reserved flag bits are passed through. */
	const struct {
		uint64_t flags;
		uint32_t page;
	} pages[] = {{0x4, 16384}, {0x6, 65536}, {0x2 | (1ull << 40), 4096}};
	for (size_t i = 0; i < KH_ARRAY_SIZE(pages); i++) {
		make_image(0, 1 * MIB, pages[i].flags);
		o.ram_base = RAM_BASE;
		o.ram_size = RAM_SIZE;
		ASSERT_OK(kvmhost_arm64_boot_check(image, sizeof(image), &o, &dry));
		assert_int_equal(dry.page_size, pages[i].page);
		assert_int_equal(dry.flags, pages[i].flags);
	}
}

static void test_placements(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	struct kvmhost_memory *mem;
	uint8_t got[64];
	(void)state;

	make_image(0, 1 * MIB, 0xa);
	/* A DTB without /chosen: the loader adds one for the initrd. */
	make_dtb(0);
	base_options(&o, 1);
	mem = make_mem(RAM_BASE, RAM_SIZE);
	o.kernel_base = RAM_BASE + 8 * MIB;
	o.dtb_gpa = RAM_BASE + 0x1008; /* below the kernel, as QEMU puts it */
	o.initrd_gpa = RAM_BASE + 32 * MIB;
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, &info));
	assert_int_equal(info.kernel_start, RAM_BASE + 8 * MIB);
	assert_int_equal(info.dtb_gpa, RAM_BASE + 0x1008);
	assert_int_equal(info.initrd_gpa, RAM_BASE + 32 * MIB);
	uint8_t *d = malloc(info.dtb_size);
	assert_non_null(d);
	ASSERT_OK(kvmhost_memory_read(mem, info.dtb_gpa, d, info.dtb_size));
	assert_int_equal(chosen_u64(d, "linux,initrd-start"), RAM_BASE + 32 * MIB);
	assert_int_equal(chosen_u64(d, "linux,initrd-end"), RAM_BASE + 32 * MIB + sizeof(initrd));
	free(d);
	/* Memory below the kernel is untouched but for the DTB. */
	ASSERT_OK(kvmhost_memory_read(mem, RAM_BASE, got, sizeof(got)));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
	kvmhost_memory_destroy(mem);

	/* Without an initrd the DTB goes as given, byte for byte. */
	make_dtb(1);
	base_options(&o, 0);
	mem = make_mem(RAM_BASE, RAM_SIZE);
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, &info));
	assert_int_equal(info.dtb_size, dtb_size);
	assert_guest_bytes(mem, info.dtb_gpa, dtb, dtb_size);
	assert_int_equal(info.initrd_gpa, 0);
	assert_int_equal(info.initrd_size, 0);
	kvmhost_memory_destroy(mem);

	/* RAM that does not start 2 MiB aligned: the base is rounded up. */
	mem = make_mem(RAM_BASE + 4 * KIB, RAM_SIZE);
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, &info));
	assert_int_equal(info.kernel_base, RAM_BASE + 2 * MIB);
	kvmhost_memory_destroy(mem);

	/* Two adjacent regions: ranges may span them. */
	ASSERT_OK(kvmhost_memory_create(&mem));
	add_region(mem, RAM_BASE, 2 * MIB + 512 * KIB, 0);
	add_region(mem, RAM_BASE + 2 * MIB + 512 * KIB, RAM_SIZE, 0);
	o.ram_base = RAM_BASE;
	o.ram_size = RAM_SIZE;
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, &info));
	assert_guest_bytes(mem, RAM_BASE, image, sizeof(image));
	kvmhost_memory_destroy(mem);
}

/* ---------- bad inputs ---------- */

#define LOAD(mem, o, info) kvmhost_arm64_boot_load_image((mem), image, sizeof(image), (o), (info))

#define BAD_LOAD(setup, err, needle)                                                                                   \
	do {                                                                                                           \
		base_options(&o, 1);                                                                                   \
		setup;                                                                                                 \
		ASSERT_FAILS_MENTIONING(LOAD(mem, &o, &info), err, needle);                                            \
		assert_untouched(mem);                                                                                 \
	} while (0)

static void test_truncated(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	struct kvmhost_memory *mem = make_mem(RAM_BASE, RAM_SIZE);
	(void)state;

	make_image(0, 1 * MIB, 0xa);
	make_dtb(1);
	/* Every length shorter than the header. */
	for (size_t n = 0; n < KVMHOST_ARM64_IMAGE_HEADER_SIZE; n++) {
		base_options(&o, 1);
		ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_load_image(mem, image, n, &o, &info), ENOEXEC, "header");
		assert_untouched(mem);
	}
	/* Longer ones are loadable Images (the header does not say the file's size, only the footprint). */
	for (size_t n = KVMHOST_ARM64_IMAGE_HEADER_SIZE; n <= sizeof(image); n += n < 256 ? 1 : 4093) {
		base_options(&o, 1);
		o.ram_base = RAM_BASE;
		o.ram_size = RAM_SIZE;
		ASSERT_OK(kvmhost_arm64_boot_check(image, n, &o, &info));
	}
	/* Every truncation of the DTB. */
	for (size_t n = 0; n < dtb_size; n++) {
		base_options(&o, 1);
		o.dtb_size = n;
		reset_error();
		assert_int_equal(LOAD(mem, &o, &info), -EINVAL);
		assert_error_mentions("dtb");
		assert_untouched(mem);
	}
	kvmhost_memory_destroy(mem);
}

static void test_bad_header(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	struct kvmhost_memory *mem = make_mem(RAM_BASE, RAM_SIZE);
	(void)state;

	make_dtb(1);
	/* Each byte of the magic. */
	for (int i = 0; i < 4; i++) {
		make_image(0, 1 * MIB, 0xa);
		image[0x38 + i] ^= 0x20;
		BAD_LOAD(, ENOEXEC, "magic");
	}
	/* A big-endian kernel (its header fields are little-endian all the same). */
	make_image(0, 1 * MIB, 0xb);
	BAD_LOAD(, ENOTSUP, "big-endian");
	/* image_size 0: before 3.17 */
	make_image(0x80000, 0, 0);
	BAD_LOAD(, ENOTSUP, "3.17");
	/* text_offset not 4 KiB aligned, or not below 2 MiB */
	make_image(0x80010, 1 * MIB, 0xa);
	BAD_LOAD(, ENOEXEC, "text_offset 0x80010");
	make_image(2 * MIB, 4 * MIB, 0xa);
	BAD_LOAD(, ENOEXEC, "text_offset 0x200000");
	make_image(UINT64_MAX & ~0xfffull, 1 * MIB, 0xa);
	BAD_LOAD(, ENOEXEC, "text_offset");
	/* image_size smaller than the file */
	make_image(0, sizeof(image) - 1, 0xa);
	BAD_LOAD(, ENOEXEC, "smaller than the file");
	/* image_size beyond RAM, and wrapping */
	make_image(0, RAM_SIZE + 4 * KIB, 0xa);
	BAD_LOAD(, EFAULT, "outside guest RAM");
	make_image(0, UINT64_MAX - 4095, 0xa);
	BAD_LOAD(, EFAULT, "outside guest RAM");
	/* Every single-bit flip of the header's fields either loads or fails cleanly, never touching memory. */
	for (size_t off = 8; off < 0x38; off++)
		for (int bit = 0; bit < 8; bit++) {
			int r;

			make_image(0, 1 * MIB, 0xa);
			image[off] ^= (uint8_t)(1u << bit);
			base_options(&o, 1);
			reset_error();
			r = LOAD(mem, &o, &info);
			if (r < 0) {
				assert_error_set();
				assert_untouched(mem);
			} else {
				mem_written(mem); /* clear */
			}
		}
	kvmhost_memory_destroy(mem);
}

static void test_bad_placements(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	struct kvmhost_memory *mem = make_mem(RAM_BASE, RAM_SIZE);
	static uint8_t big_initrd[61 * MIB];
	(void)state;

	make_image(0, 1 * MIB, 0xa);
	make_dtb(1);
	BAD_LOAD(o.kernel_base = RAM_BASE + 4 * KIB, EINVAL, "kernel_base 0x40001000 is not 2 MiB aligned");
	BAD_LOAD(o.kernel_base = RAM_BASE + RAM_SIZE, EFAULT, "the kernel");
	BAD_LOAD(o.kernel_base = 0x200000, EFAULT, "the kernel");
	BAD_LOAD(o.dtb_gpa = RAM_BASE + 4, EINVAL, "dtb_gpa 0x40000004 is not 8-byte aligned");
	BAD_LOAD(o.dtb_gpa = RAM_BASE + 512 * KIB, EINVAL, "overlaps the kernel");
	BAD_LOAD(o.dtb_gpa = RAM_BASE + RAM_SIZE - 8, EFAULT, "the dtb");
	BAD_LOAD(o.dtb_gpa = 0x1000, EFAULT, "the dtb");
	BAD_LOAD(o.initrd_gpa = RAM_BASE + 8 * MIB + 8, EINVAL, "initrd_gpa 0x40800008 is not 4 KiB aligned");
	BAD_LOAD(o.initrd_gpa = RAM_BASE, EINVAL, "overlaps the kernel");
	BAD_LOAD(o.initrd_gpa = RAM_BASE + 2 * MIB, EINVAL, "overlaps the dtb");
	BAD_LOAD(o.initrd_gpa = RAM_BASE + RAM_SIZE - 4 * KIB, EFAULT, "the initrd");
	BAD_LOAD((o.initrd = big_initrd, o.initrd_size = sizeof(big_initrd)), ENOSPC, "the initrd");
	BAD_LOAD(o.initrd_size = 0, EINVAL, "initrd_size");
	BAD_LOAD((o.initrd = NULL, o.initrd_size = 5), EINVAL, "initrd_size");
	BAD_LOAD(o.dtb = NULL, EINVAL, "dtb");
	BAD_LOAD(o.flags = 1, EINVAL, "flags");
	BAD_LOAD(o.ram_base = RAM_BASE, EINVAL, "ram_base 0x40000000 without ram_size");
	BAD_LOAD((o.ram_base = UINT64_MAX - 4095, o.ram_size = 8192), EINVAL, "wraps");
	/* RAM the options name that the map lacks */
	BAD_LOAD((o.ram_base = RAM_BASE, o.ram_size = 2 * RAM_SIZE, o.initrd_gpa = RAM_BASE + RAM_SIZE), EFAULT,
		 "not in writable guest memory");
	/* A DTB whose totalsize is beyond what it was given; one corrupted */
	BAD_LOAD(o.dtb_size = dtb_size - 1, EINVAL, "totalsize");
	dtb[fdt_off_dt_struct(dtb)] ^= 0xff;
	BAD_LOAD(, EINVAL, "fdt_check_full");
	dtb[fdt_off_dt_struct(dtb)] ^= 0xff;
	kvmhost_memory_destroy(mem);

	/* RAM too small for the DTB after the kernel (the default places fail with ENOSPC). */
	mem = make_mem(RAM_BASE, 2 * MIB);
	make_image(0, 1 * MIB, 0xa);
	BAD_LOAD(, ENOSPC, "the dtb");
	kvmhost_memory_destroy(mem);

	/* Read-only memory: the map has it, but it is not RAM for the loader. */
	ASSERT_OK(kvmhost_memory_create(&mem));
	add_region(mem, RAM_BASE, 4 * MIB, KVMHOST_MEMORY_READONLY);
	add_region(mem, RAM_BASE + 4 * MIB, RAM_SIZE, 0);
	BAD_LOAD(o.kernel_base = RAM_BASE, EFAULT, "the kernel");
	BAD_LOAD((o.ram_base = RAM_BASE, o.ram_size = RAM_SIZE), EFAULT, "not in writable guest memory");
	base_options(&o, 1);
	ASSERT_OK(LOAD(mem, &o, &info)); /* the lowest writable region is used */
	assert_int_equal(info.kernel_base, RAM_BASE + 4 * MIB);
	kvmhost_memory_destroy(mem);

	ASSERT_OK(kvmhost_memory_create(&mem));
	BAD_LOAD(, EFAULT, "no writable region");
	kvmhost_memory_destroy(mem);
}

static void test_dry_run_limits(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	(void)state;

	make_image(0, 1 * MIB, 0xa);
	make_dtb(1);
	base_options(&o, 1);
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_check(image, sizeof(image), &o, &info), EINVAL, "ram_size");
	/* The initrd must share a 1 GiB aligned window of 32 GiB with the kernel. */
	o.ram_base = RAM_BASE;
	o.ram_size = 64 * GIB;
	o.initrd_gpa = RAM_BASE + 31 * GIB;
	ASSERT_OK(kvmhost_arm64_boot_check(image, sizeof(image), &o, &info));
	o.initrd_gpa = RAM_BASE + 32 * GIB - 4 * KIB;
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_check(image, sizeof(image), &o, &info), EINVAL, "32 GiB");
	/* A kernel too big for the DTB's default place within 512 MiB of its base. */
	make_image(0, 511 * MIB, 0xa);
	o.initrd_gpa = 0;
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_check(image, sizeof(image), &o, &info), ENOSPC, "512 MiB");
	o.dtb_gpa = RAM_BASE + 600 * MIB; /* given explicitly: a modern kernel maps it anywhere */
	ASSERT_OK(kvmhost_arm64_boot_check(image, sizeof(image), &o, &info));
}

static void test_arguments(void **state)
{
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	struct kvmhost_memory *mem = make_mem(RAM_BASE, RAM_SIZE);
	struct {
		struct kvmhost_arm64_boot_options o;
		uint64_t future;
	} big;
	struct {
		struct kvmhost_arm64_boot_info i;
		uint64_t future;
	} big_info;
	(void)state;

	make_image(0, 1 * MIB, 0xa);
	make_dtb(1);
	base_options(&o, 1);
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_load_image(NULL, image, sizeof(image), &o, &info), EINVAL, "mem");
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_load_image(mem, NULL, sizeof(image), &o, &info), EINVAL, "image");
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), NULL, &info), EINVAL, "opts");
	ASSERT_FAILS_MENTIONING(kvmhost_arm64_boot_load_image(mem, image, sizeof(image), &o, NULL), EINVAL, "info");
	info.size = 2;
	ASSERT_FAILS_MENTIONING(LOAD(mem, &o, &info), EINVAL, "info->size");
	info.size = 100000;
	ASSERT_FAILS_MENTIONING(LOAD(mem, &o, &info), EINVAL, "info->size");
	assert_untouched(mem);

	/* Options: a bigger struct with zero tail works, a set tail is E2BIG. */
	info.size = sizeof(info);
	memset(&big, 0, sizeof(big));
	big.o = o;
	big.o.size = sizeof(big);
	big.future = 7;
	ASSERT_FAILS(LOAD(mem, &big.o, &info), E2BIG);
	assert_untouched(mem);
	big.future = 0;
	info.size = sizeof(info);
	ASSERT_OK(LOAD(mem, &big.o, &info));
	mem_written(mem);

	/* Info: an older caller gets a prefix, a newer one zeroes past ours. */
	memset(&big_info, 0xff, sizeof(big_info));
	big_info.i.size = sizeof(big_info);
	ASSERT_OK(LOAD(mem, &o, &big_info.i));
	assert_int_equal(big_info.future, 0);
	memset(&big_info, 0xff, sizeof(big_info));
	big_info.i.size = offsetof(struct kvmhost_arm64_boot_info, x0);
	ASSERT_OK(LOAD(mem, &o, &big_info.i));
	assert_int_equal(big_info.i.entry, RAM_BASE);
	assert_int_equal(big_info.i.x0, UINT64_MAX);
	kvmhost_memory_destroy(mem);
}

/* A real kernel's Image, e.g. /boot/vmlinuz-* of Debian's linux-image-*-arm64 (an uncompressed Image there). */
static void test_real_image(void **state)
{
	const char *path = getenv("KVMHOST_TEST_ARM64_IMAGE");
	struct kvmhost_arm64_boot_options o;
	struct kvmhost_arm64_boot_info info = {.size = sizeof(info)};
	uint8_t *img;
	long n;
	FILE *f;
	(void)state;

	if (!path) {
		print_message("SKIP: KVMHOST_TEST_ARM64_IMAGE is not set\n");
		skip();
	}
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	img = malloc((size_t)n);
	assert_non_null(img);
	assert_int_equal(fread(img, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	make_dtb(1);
	base_options(&o, 1);
	o.ram_base = RAM_BASE;
	o.ram_size = 1 * GIB;
	ASSERT_OK(kvmhost_arm64_boot_check(img, (size_t)n, &o, &info));
	print_message("%s: text_offset 0x%llx image_size 0x%llx flags 0x%llx\n", path,
		      (unsigned long long)info.text_offset, (unsigned long long)info.image_size,
		      (unsigned long long)info.flags);
	/* And loaded: the same plan, the kernel's bytes in place. */
	struct kvmhost_arm64_boot_info loaded = {.size = sizeof(loaded)};
	struct kvmhost_memory *mem = make_mem(RAM_BASE, 1 * GIB);
	ASSERT_OK(kvmhost_arm64_boot_load_image(mem, img, (size_t)n, &o, &loaded));
	assert_memory_equal(&loaded, &info, sizeof(info));
	assert_guest_bytes(mem, loaded.kernel_start, img, (size_t)n);
	kvmhost_memory_destroy(mem);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_good),	   cmocka_unit_test(test_placements),
	    cmocka_unit_test(test_truncated),	   cmocka_unit_test(test_bad_header),
	    cmocka_unit_test(test_bad_placements), cmocka_unit_test(test_dry_run_limits),
	    cmocka_unit_test(test_arguments),	   cmocka_unit_test(test_real_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
