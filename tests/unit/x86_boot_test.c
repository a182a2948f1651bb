/*
 * Unit tests of the x86 kernel loaders on fake guest memory (no KVM): for
 * each loader (bzImage, PVH ELF, Multiboot a.out kludge and ELF, raw) a good
 * image built here, checked byte by byte in guest memory and in the boot
 * info; then bad images - every truncation length, wrong magic, lying or
 * wrapping header fields, overlapping segments, segments outside RAM, initrd
 * or modules too large, command lines too long, bad placements - each of
 * which must fail with the right errno and a message naming the field, and
 * leave guest memory unwritten (checked through the VMM dirty bitmap).
 * Format detection and the dispatching loader; the options/info size rules.
 * With KVMHOST_TEST_BZIMAGE / KVMHOST_TEST_VMLINUX set, also a real kernel.
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
#include "core/internal.h"

#define KIB  1024ull
#define MIB  (1024ull * 1024)
#define GIB  (1024ull * MIB)
#define PAGE 4096ull

/* ---------- helpers: errors, fake memory, guest reads ---------- */

#define UNIT_ERROR_PREFIX "kvmhost_x86_"
#include "unit_assert.h"

static struct kvmhost_memory_region *add_region(struct kvmhost_memory *mem, uint64_t gpa, uint64_t len, uint32_t flags)
{
	struct kvmhost_memory_options o = {.size = sizeof(o)};
	struct kvmhost_memory_region *r;

	o.guest_phys_addr = gpa;
	o.length = len;
	o.backing = KVMHOST_MEMORY_ANONYMOUS;
	o.flags = flags;
	o.name = "boot-test";
	ASSERT_OK(kvmhost_memory_add_region(mem, &o, &r));
	return r;
}

static struct kvmhost_memory *make_mem(uint64_t size)
{
	struct kvmhost_memory *mem;

	ASSERT_OK(kvmhost_memory_create(&mem));
	add_region(mem, 0, size, 0);
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

static uint8_t rd8(struct kvmhost_memory *mem, uint64_t gpa)
{
	uint8_t v;

	assert_int_equal(kvmhost_memory_read(mem, gpa, &v, 1), 0);
	return v;
}

static uint16_t rd16(struct kvmhost_memory *mem, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(kvmhost_memory_read(mem, gpa, &v, 2), 0);
	return v;
}

static uint32_t rd32(struct kvmhost_memory *mem, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(kvmhost_memory_read(mem, gpa, &v, 4), 0);
	return v;
}

static uint64_t rd64(struct kvmhost_memory *mem, uint64_t gpa)
{
	uint64_t v;

	assert_int_equal(kvmhost_memory_read(mem, gpa, &v, 8), 0);
	return v;
}

static void assert_guest_bytes(struct kvmhost_memory *mem, uint64_t gpa, const void *want, size_t n)
{
	uint8_t *got = malloc(n ? n : 1);

	assert_non_null(got);
	assert_int_equal(kvmhost_memory_read(mem, gpa, got, n), 0);
	assert_memory_equal(got, want, n);
	free(got);
}

static void assert_guest_fill(struct kvmhost_memory *mem, uint64_t gpa, uint8_t byte, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rd8(mem, gpa + i) != byte) {
			print_error("guest byte at 0x%llx is 0x%02x, expected 0x%02x\n", (unsigned long long)(gpa + i),
				    rd8(mem, gpa + i), byte);
			fail();
		}
}

static void guest_fill(struct kvmhost_memory *mem, uint64_t gpa, uint8_t byte, size_t n)
{
	uint8_t *b = malloc(n);

	assert_non_null(b);
	memset(b, byte, n);
	assert_int_equal(kvmhost_memory_write(mem, gpa, b, n), 0);
	free(b);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
	return p;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* ---------- kvmhost_x86_boot_check() must say what the load says ---------- */

/* Every load in this file goes through load_checked(): before the load, the check runs on the same image and
 * options, with the RAM given as an e820 map (mem's regions as the loader would see them, when the options
 * have no map): same return value, same message after the function's name, the same info. */
struct e820_scan {
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX];
	uint32_t n;
};

static int scan_region(struct kvmhost_memory_region *region, void *opaque)
{
	struct e820_scan *s = opaque;
	uint32_t type = (kvmhost_memory_region_flags(region) & KVMHOST_MEMORY_READONLY) ? KVMHOST_X86_E820_RESERVED
											: KVMHOST_X86_E820_RAM;
	uint64_t gpa = kvmhost_memory_region_gpa(region), len = kvmhost_memory_region_length(region);
	struct kvmhost_x86_e820_entry *last = s->n ? &s->e[s->n - 1] : NULL;

	if (last && last->type == type && last->addr + last->size == gpa)
		last->size += len;
	else if (s->n < KVMHOST_X86_E820_MAX)
		s->e[s->n++] = (struct kvmhost_x86_e820_entry){gpa, len, type};
	return 0;
}

static const char *after_func(const char *msg)
{
	const char *c = strchr(msg, ':');

	return c ? c : msg;
}

static int plain_load(int format, struct kvmhost_memory *mem, const void *img, size_t size,
		      const struct kvmhost_x86_boot_options *o, struct kvmhost_x86_boot_info *info)
{
	switch (format) {
	case KVMHOST_X86_BOOT_BZIMAGE:
		return kvmhost_x86_boot_load_bzimage(mem, img, size, o, info);
	case KVMHOST_X86_BOOT_PVH_ELF:
		return kvmhost_x86_boot_load_pvh(mem, img, size, o, info);
	case KVMHOST_X86_BOOT_MULTIBOOT:
		return kvmhost_x86_boot_load_multiboot(mem, img, size, o, info);
	default:
		return kvmhost_x86_boot_load(mem, img, size, o, info);
	}
}

static int load_checked(int format, struct kvmhost_memory *mem, const void *img, size_t size,
			const struct kvmhost_x86_boot_options *o, struct kvmhost_x86_boot_info *info)
{
	struct kvmhost_x86_boot_options co = {.size = sizeof(co)};
	struct kvmhost_x86_boot_info ci;
	static struct e820_scan scan;
	char check_msg[1024];
	int check_r, r;

	if (!mem || !info || info->size != sizeof(*info) || (o && o->size != sizeof(*o)))
		goto load; /* argument errors of the load itself: tested on their own */
	if (o)
		co = *o;
	if (!co.e820_count) {
		scan.n = 0;
		kvmhost_memory_for_each_region(mem, scan_region, &scan);
		co.e820 = scan.e;
		co.e820_count = scan.n;
	}
	ci = *info;
	check_r = kvmhost_x86_boot_check(format, img, size, &co, &ci);
	snprintf(check_msg, sizeof(check_msg), "%s", after_func(kvmhost_last_error()));
	reset_error();
	r = plain_load(format, mem, img, size, o, info);
	if (check_r != r) {
		print_error("check returned %d (%s), the load %d (%s)\n", check_r, check_msg, r, kvmhost_last_error());
		fail();
	}
	if (r < 0 && !strstr(check_msg, "has no RAM")) /* that one counts regions, which a check has none of */
		assert_string_equal(check_msg, after_func(kvmhost_last_error()));
	else
		assert_memory_equal(&ci, info, sizeof(ci));
	return r;
load:
	return plain_load(format, mem, img, size, o, info);
}

static int load_bzimage(struct kvmhost_memory *mem, const void *img, size_t size,
			const struct kvmhost_x86_boot_options *o, struct kvmhost_x86_boot_info *info)
{
	return load_checked(KVMHOST_X86_BOOT_BZIMAGE, mem, img, size, o, info);
}

static int load_pvh(struct kvmhost_memory *mem, const void *img, size_t size, const struct kvmhost_x86_boot_options *o,
		    struct kvmhost_x86_boot_info *info)
{
	return load_checked(KVMHOST_X86_BOOT_PVH_ELF, mem, img, size, o, info);
}

static int load_multiboot(struct kvmhost_memory *mem, const void *img, size_t size,
			  const struct kvmhost_x86_boot_options *o, struct kvmhost_x86_boot_info *info)
{
	return load_checked(KVMHOST_X86_BOOT_MULTIBOOT, mem, img, size, o, info);
}

static int load_detected(struct kvmhost_memory *mem, const void *img, size_t size,
			 const struct kvmhost_x86_boot_options *o, struct kvmhost_x86_boot_info *info)
{
	return load_checked(0, mem, img, size, o, info);
}

/* A PC-like e820: low RAM, the EBDA and BIOS holes, RAM from 1 MiB. */
static const struct kvmhost_x86_e820_entry *pc_e820(uint64_t ram_end, uint32_t *count)
{
	static struct kvmhost_x86_e820_entry e[4];

	e[0] = (struct kvmhost_x86_e820_entry){0, 0x9fc00, KVMHOST_X86_E820_RAM};
	e[1] = (struct kvmhost_x86_e820_entry){0x9fc00, 0x400, KVMHOST_X86_E820_RESERVED};
	e[2] = (struct kvmhost_x86_e820_entry){0xf0000, 0x10000, KVMHOST_X86_E820_RESERVED};
	e[3] = (struct kvmhost_x86_e820_entry){0x100000, ram_end - 0x100000, KVMHOST_X86_E820_RAM};
	*count = 4;
	return e;
}

static struct kvmhost_x86_boot_info new_info(void)
{
	struct kvmhost_x86_boot_info i;

	memset(&i, 0x5a, sizeof(i));
	i.size = sizeof(i);
	return i;
}

/* ---------- bzImage ---------- */

struct bz_params {
	uint16_t version;
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t initrd_addr_max, kernel_alignment, cmdline_size, init_size;
	uint64_t pref_address;
	size_t payload;
};

static struct bz_params bz_default(void)
{
	return (struct bz_params){
	    .version = 0x020f,
	    .setup_sects = 4,
	    .loadflags = 0x01,
	    .xloadflags = 0x3, /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	    .relocatable = 1,
	    .initrd_addr_max = 0x7fffffff,
	    .kernel_alignment = 0x200000,
	    .cmdline_size = 255,
	    .init_size = 8 * MIB,
	    .pref_address = 16 * MIB,
	    .payload = 8192,
	};
}

static uint8_t *make_bzimage(const struct bz_params *p, size_t *size)
{
	size_t setup = ((size_t)(p->setup_sects ? p->setup_sects : 4) + 1) * 512;
	uint8_t *img = pattern(setup + p->payload, 1);

	memset(img, 0, setup);
	img[0x1f1] = p->setup_sects;
	put16(img + 0x1f2, 1);				 /* root_flags: something to see copied */
	put32(img + 0x1f4, (uint32_t)(p->payload / 16)); /* syssize */
	put16(img + 0x1fc, 0x0801);			 /* root_dev */
	put16(img + 0x1fe, 0xAA55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a; /* header ends at 0x26c */
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, p->version);
	img[0x211] = p->loadflags;
	put32(img + 0x214, 0x100000);
	put32(img + 0x22c, p->initrd_addr_max);
	put32(img + 0x230, p->kernel_alignment);
	img[0x234] = p->relocatable;
	img[0x235] = 21;
	put16(img + 0x236, p->xloadflags);
	put32(img + 0x238, p->cmdline_size);
	put32(img + 0x248, 0x100); /* payload_offset */
	put32(img + 0x24c, 0x200); /* payload_length */
	put64(img + 0x258, p->pref_address);
	put32(img + 0x260, p->init_size);
	*size = setup + p->payload;
	return img;
}

static void test_bz_good_64(void **state)
{
	(void)state;
	struct bz_params p = bz_default();
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);
	uint8_t *initrd = pattern(10000, 2);
	const char *cmdline = "console=ttyS0 root=/dev/vda";
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	uint64_t initrd_gpa = 64 * MIB - 3 * PAGE;

	o.cmdline = cmdline;
	o.initrd = initrd;
	o.initrd_size = 10000;
	o.e820 = pc_e820(64 * MIB, &o.e820_count);
	o.acpi_rsdp_gpa = 0xe0000;
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));

	assert_int_equal(info.size, sizeof(info));
	assert_int_equal(info.format, KVMHOST_X86_BOOT_BZIMAGE);
	assert_int_equal(info.kind, KVMHOST_X86_ENTRY_LINUX_64);
	assert_int_equal(info.entry, 0x100200);
	assert_int_equal(info.rsi, 0x7000);
	assert_int_equal(info.rax, 0);
	assert_int_equal(info.rbx, 0);
	assert_int_equal(info.boot_params_gpa, 0x7000);
	assert_int_equal(info.start_info_gpa, 0);
	assert_int_equal(info.mbi_gpa, 0);
	assert_int_equal(info.kernel_start, 0x100000);
	assert_int_equal(info.kernel_end, 24 * MIB); /* pref_address + init_size */
	assert_int_equal(info.initrd_gpa, initrd_gpa);
	assert_int_equal(info.initrd_size, 10000);
	assert_int_equal(info.cmdline_gpa, 0x20000);
	assert_int_equal(info.cmdline_size, strlen(cmdline) + 1);
	assert_int_equal(info.identity_map_end, 24 * MIB);
	assert_int_equal(info.module_count, 0);

	/* The protected-mode kernel, the command line, the initrd. */
	assert_guest_bytes(mem, 0x100000, img + 5 * 512, p.payload);
	assert_guest_bytes(mem, 0x20000, cmdline, strlen(cmdline) + 1);
	assert_guest_bytes(mem, initrd_gpa, initrd, 10000);

	/* The zero page: the setup header copied, the loader's fields set. */
	assert_guest_bytes(mem, 0x7000 + 0x1f1, img + 0x1f1, 0x1fa - 0x1f1);
	assert_int_equal(rd16(mem, 0x7000 + 0x1fa), 0xffff); /* vid_mode */
	assert_int_equal(rd16(mem, 0x7000 + 0x1fc), 0x0801); /* root_dev */
	assert_int_equal(rd16(mem, 0x7000 + 0x1fe), 0xAA55);
	assert_int_equal(rd32(mem, 0x7000 + 0x202), 0x53726448);
	assert_int_equal(rd16(mem, 0x7000 + 0x206), 0x020f);
	assert_int_equal(rd8(mem, 0x7000 + 0x210), 0xff); /* type_of_loader */
	assert_int_equal(rd8(mem, 0x7000 + 0x211), 0x01); /* loadflags */
	assert_int_equal(rd32(mem, 0x7000 + 0x214), 0x100000);
	assert_int_equal(rd32(mem, 0x7000 + 0x218), (uint32_t)initrd_gpa);
	assert_int_equal(rd32(mem, 0x7000 + 0x21c), 10000);
	assert_int_equal(rd32(mem, 0x7000 + 0x228), 0x20000);
	assert_int_equal(rd32(mem, 0x7000 + 0x230), 0x200000);
	assert_int_equal(rd32(mem, 0x7000 + 0x238), 255);
	assert_int_equal(rd64(mem, 0x7000 + 0x250), 0); /* setup_data */
	assert_int_equal(rd32(mem, 0x7000 + 0x260), 8 * MIB);
	assert_int_equal(rd32(mem, 0x7000 + 0x0c0), 0); /* ext_ramdisk_image */
	assert_int_equal(rd32(mem, 0x7000 + 0x0c4), 0);
	assert_int_equal(rd32(mem, 0x7000 + 0x0c8), 0); /* ext_cmd_line_ptr */
	assert_int_equal(rd64(mem, 0x7000 + 0x070), 0xe0000);
	assert_int_equal(rd8(mem, 0x7000 + 0x1e8), 4);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e = 0x7000 + 0x2d0 + i * 20;

		assert_int_equal(rd64(mem, e), o.e820[i].addr);
		assert_int_equal(rd64(mem, e + 8), o.e820[i].size);
		assert_int_equal(rd32(mem, e + 16), o.e820[i].type);
	}
	assert_int_equal(rd64(mem, 0x7000 + 0x2d0 + 4 * 20), 0);
	assert_int_equal(rd8(mem, 0x7000 + 0x1ef), 0); /* sentinel */

	free(initrd);
	free(img);
	kvmhost_memory_destroy(mem);
}

static void test_bz_entry_32(void **state)
{
	(void)state;
	struct bz_params p = bz_default();
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);

	/* Forced by the flag. */
	o.flags = KVMHOST_X86_BOOT_LINUX_ENTRY_32;
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.kind, KVMHOST_X86_ENTRY_LINUX_32);
	assert_int_equal(info.entry, 0x100000);
	assert_int_equal(info.rsi, 0x7000);
	assert_int_equal(info.cmdline_gpa, 0);
	assert_int_equal(rd32(mem, 0x7000 + 0x228), 0);
	free(img);

	/* A kernel without XLF_KERNEL_64 (protocol 2.10). */
	p.version = 0x020a;
	p.xloadflags = 0;
	img = make_bzimage(&p, &size);
	put16(img + 0x236, 0xffff); /* ignored before 2.12 */
	info = new_info();
	ASSERT_OK(load_bzimage(mem, img, size, NULL, &info));
	assert_int_equal(info.kind, KVMHOST_X86_ENTRY_LINUX_32);
	assert_int_equal(info.entry, 0x100000);
	free(img);
	kvmhost_memory_destroy(mem);
}

static void test_bz_initrd_placement(void **state)
{
	(void)state;
	struct bz_params p = bz_default();
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	uint8_t *initrd = pattern(20 * MIB, 3);
	size_t size;
	uint8_t *img;

	add_region(mem, 4 * GIB, 64 * MIB, 0);
	o.initrd = initrd;
	o.initrd_size = 5000;

	/* XLF_CAN_BE_LOADED_ABOVE_4G with the 64-bit entry: as high as RAM goes. */
	img = make_bzimage(&p, &size);
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.initrd_gpa, 4 * GIB + 64 * MIB - 2 * PAGE);
	assert_int_equal(rd32(mem, 0x7000 + 0x218), (uint32_t)info.initrd_gpa);
	assert_int_equal(rd32(mem, 0x7000 + 0x0c0), 1);
	assert_guest_bytes(mem, info.initrd_gpa, initrd, 5000);
	free(img);

	/* The same kernel entered at 32 bits: below 4 GiB. */
	o.flags = KVMHOST_X86_BOOT_LINUX_ENTRY_32;
	ASSERT_OK(load_bzimage(mem, (img = make_bzimage(&p, &size)), size, &o, &info));
	assert_int_equal(info.initrd_gpa, 64 * MIB - 2 * PAGE);
	o.flags = 0;
	free(img);

	/* Without the flag: below initrd_addr_max (the address of its last byte). */
	p.xloadflags = 0x1;
	p.initrd_addr_max = 0x1fffffff;
	img = make_bzimage(&p, &size);
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.initrd_gpa, 64 * MIB - 2 * PAGE);
	assert_int_equal(rd32(mem, 0x7000 + 0x0c0), 0);
	free(img);

	/* A low initrd_addr_max: the highest page-aligned place below it. */
	p.initrd_addr_max = 0x2fffff;
	img = make_bzimage(&p, &size);
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.initrd_gpa, 3 * MIB - 2 * PAGE);
	assert_true(info.initrd_gpa + 5000 - 1 <= 0x2fffff);

	/* A fixed initrd_gpa above the limit, unaligned, or on the kernel. */
	mem_written(mem);
	o.initrd_gpa = 8 * MIB;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "initrd_gpa");
	o.initrd_gpa = 0x200800;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "aligned");
	o.initrd_gpa = 0x100000;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "overlaps");
	assert_untouched(mem);
	o.initrd_gpa = 0x200000;
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.initrd_gpa, 0x200000);
	free(img);
	kvmhost_memory_destroy(mem);

	/* An initrd no hole of RAM can take: the kernel and its init_size area
	 * leave [~1 MiB, 16 MiB) and [24 MiB, 32 MiB). */
	mem = make_mem(32 * MIB);
	p = bz_default();
	img = make_bzimage(&p, &size);
	o.initrd_gpa = 0;
	o.initrd_size = 20 * MIB;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), ENOSPC, "initrd");
	assert_untouched(mem);
	o.initrd_size = 12 * MIB; /* fits below the run-time area */
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.initrd_gpa, 16 * MIB - 12 * MIB);
	free(img);
	free(initrd);
	kvmhost_memory_destroy(mem);
}

static void test_bz_placement_options(void **state)
{
	(void)state;
	struct bz_params p = bz_default();
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);

	o.kernel_gpa = 0x200000;
	o.boot_params_gpa = 0x8000;
	o.cmdline_gpa = 0x30000;
	o.cmdline = "x";
	o.e820 = pc_e820(64 * MIB, &o.e820_count);
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.entry, 0x200200);
	assert_int_equal(info.rsi, 0x8000);
	assert_int_equal(info.kernel_start, 0x200000);
	assert_int_equal(info.kernel_end, 24 * MIB);
	assert_int_equal(info.cmdline_gpa, 0x30000);
	assert_int_equal(rd32(mem, 0x8000 + 0x214), 0x200000); /* code32_start follows the load address */
	assert_int_equal(rd32(mem, 0x8000 + 0x228), 0x30000);
	assert_guest_bytes(mem, 0x200000, img + 5 * 512, p.payload);

	/* A load address above pref_address runs in place, rounded up to kernel_alignment. */
	o.kernel_gpa = 0x2100000;
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.kernel_start, 0x2100000);
	assert_int_equal(info.kernel_end, 0x2200000 + 8 * MIB);

	mem_written(mem);
	o.kernel_gpa = 0x200800;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "kernel_gpa");
	o.kernel_gpa = 0;
	o.boot_params_gpa = 0x7800;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "boot_params_gpa");
	o.boot_params_gpa = 0x100000;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "overlaps");
	o.boot_params_gpa = 128 * MIB;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EFAULT, "zero page");
	o.boot_params_gpa = 0;
	o.cmdline_gpa = 0x9fc00; /* the e820 hole */
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EFAULT, "command line");
	o.cmdline_gpa = 0x6fff; /* runs into the zero page */
	o.cmdline = "ab";
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "zero page");
	o.cmdline_gpa = 0;
	o.cmdline = NULL;
	o.module_count = 1;
	o.modules = &(struct kvmhost_x86_boot_module){.data = "m", .size = 1};
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "modules");
	o.module_count = 0;
	o.modules = NULL;
	o.flags = 0x80;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "flags");
	o.flags = 0;
	assert_untouched(mem);
	free(img);

	/* A kernel that is not relocatable stays at 1 MiB. */
	p.relocatable = 0;
	img = make_bzimage(&p, &size);
	o.kernel_gpa = 0x200000;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "relocatable");
	o.kernel_gpa = 0;
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.kernel_start, 0x100000);
	assert_int_equal(info.kernel_end, 24 * MIB);
	free(img);
	kvmhost_memory_destroy(mem);

	/* The init_size area must be RAM: pref_address + init_size = 24 MiB > 20 MiB. */
	mem = make_mem(20 * MIB);
	p = bz_default();
	img = make_bzimage(&p, &size);
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, NULL, &info), EFAULT, "init_size");
	assert_untouched(mem);
	free(img);
	kvmhost_memory_destroy(mem);
}

static void test_bz_cmdline_limit(void **state)
{
	(void)state;
	struct bz_params p = bz_default();
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	char *cmd = malloc(KVMHOST_X86_BOOT_CMDLINE_MAX + 2);
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);

	memset(cmd, 'a', 256);
	cmd[256] = '\0';
	o.cmdline = cmd;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "cmdline_size");
	assert_untouched(mem);
	cmd[255] = '\0'; /* exactly cmdline_size */
	ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
	assert_int_equal(info.cmdline_size, 256);
	assert_guest_bytes(mem, 0x20000, cmd, 256);

	/* Past the library's own limit, whatever the kernel says. */
	memset(cmd, 'b', KVMHOST_X86_BOOT_CMDLINE_MAX + 1);
	cmd[KVMHOST_X86_BOOT_CMDLINE_MAX + 1] = '\0';
	mem_written(mem);
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "command line");
	assert_untouched(mem);
	free(cmd);
	free(img);
	kvmhost_memory_destroy(mem);
}

/* Apply @mutate to a fresh good image; the load must fail with -err. */
static void bz_expect_bad(struct kvmhost_memory *mem, void (*mutate)(uint8_t *img, size_t *size), int err,
			  const char *needle)
{
	struct bz_params p = bz_default();
	struct kvmhost_x86_boot_info info = new_info();
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);

	mutate(img, &size);
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, NULL, &info), err, needle);
	assert_untouched(mem);
	free(img);
}

static void bz_bad_flag(uint8_t *img, size_t *size)
{
	(void)size;
	put16(img + 0x1fe, 0x55aa);
}
static void bz_bad_hdrs(uint8_t *img, size_t *size)
{
	(void)size;
	memcpy(img + 0x202, "HdrZ", 4);
}
static void bz_old_version(uint8_t *img, size_t *size)
{
	(void)size;
	put16(img + 0x206, 0x0205);
}
static void bz_short_header(uint8_t *img, size_t *size)
{
	(void)size;
	img[0x201] = 0x30;
}
static void bz_huge_setup(uint8_t *img, size_t *size)
{
	(void)size;
	img[0x1f1] = 200;
}
static void bz_lying_syssize(uint8_t *img, size_t *size)
{
	put32(img + 0x1f4, (uint32_t)((*size - 5 * 512) / 16 + 1));
}
static void bz_zero_syssize(uint8_t *img, size_t *size)
{
	(void)size;
	put32(img + 0x1f4, 0);
}
static void bz_huge_syssize(uint8_t *img, size_t *size)
{
	(void)size;
	put32(img + 0x1f4, 0xffffffff);
}
static void bz_no_loaded_high(uint8_t *img, size_t *size)
{
	(void)size;
	img[0x211] = 0;
}
static void bz_bad_alignment(uint8_t *img, size_t *size)
{
	(void)size;
	put32(img + 0x230, 0x300000);
}
static void bz_zero_alignment(uint8_t *img, size_t *size)
{
	(void)size;
	put32(img + 0x230, 0);
}
static void bz_lying_payload(uint8_t *img, size_t *size)
{
	(void)size;
	put32(img + 0x24c, 0xfffff000);
}
static void bz_zero_init_size(uint8_t *img, size_t *size)
{
	(void)size;
	put32(img + 0x260, 0);
}
static void bz_wrapping_pref(uint8_t *img, size_t *size)
{
	(void)size;
	put64(img + 0x258, 0xffffffffffff0000ull);
}
static void bz_no_payload(uint8_t *img, size_t *size)
{
	(void)img;
	*size = 5 * 512;
}

static void test_bz_bad_images(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);

	bz_expect_bad(mem, bz_bad_flag, ENOEXEC, "boot_flag");
	bz_expect_bad(mem, bz_bad_hdrs, ENOEXEC, "HdrS");
	bz_expect_bad(mem, bz_old_version, ENOEXEC, "2.05");
	bz_expect_bad(mem, bz_short_header, ENOEXEC, "setup header ends");
	bz_expect_bad(mem, bz_huge_setup, ENOEXEC, "setup_sects");
	bz_expect_bad(mem, bz_lying_syssize, ENOEXEC, "syssize");
	bz_expect_bad(mem, bz_zero_syssize, ENOEXEC, "syssize");
	bz_expect_bad(mem, bz_huge_syssize, ENOEXEC, "syssize");
	bz_expect_bad(mem, bz_no_loaded_high, ENOEXEC, "LOADED_HIGH");
	bz_expect_bad(mem, bz_bad_alignment, ENOEXEC, "kernel_alignment");
	bz_expect_bad(mem, bz_zero_alignment, ENOEXEC, "kernel_alignment");
	bz_expect_bad(mem, bz_lying_payload, ENOEXEC, "payload_length");
	bz_expect_bad(mem, bz_zero_init_size, ENOEXEC, "init_size");
	bz_expect_bad(mem, bz_wrapping_pref, ENOEXEC, "pref_address");
	bz_expect_bad(mem, bz_no_payload, ENOEXEC, "setup_sects");
	kvmhost_memory_destroy(mem);
}

/* Every proper prefix of a good image must be refused, reading nothing past
 * its end (each prefix gets its own heap buffer, so ASan sees over-reads). */
typedef int (*load_fn)(struct kvmhost_memory *, const void *, size_t, const struct kvmhost_x86_boot_options *,
		       struct kvmhost_x86_boot_info *);

static void truncation_loop(struct kvmhost_memory *mem, load_fn load, const uint8_t *img, size_t size,
			    const struct kvmhost_x86_boot_options *o)
{
	struct kvmhost_x86_boot_info info = new_info();

	mem_written(mem);
	for (size_t len = 0; len < size; len++) {
		uint8_t *cut = malloc(len ? len : 1);
		int r;

		assert_non_null(cut);
		memcpy(cut, img, len);
		r = load(mem, cut, len, o, &info);
		if (r >= 0) {
			print_error("a %zu-byte prefix of the %zu-byte image loaded\n", len, size);
			fail();
		}
		assert_int_equal(r, -ENOEXEC);
		free(cut);
	}
	assert_untouched(mem);
	ASSERT_OK(load(mem, img, size, o, &info));
}

static void test_bz_truncated(void **state)
{
	(void)state;
	struct bz_params p = bz_default();
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	size_t size;
	uint8_t *img;

	p.payload = 1024;
	img = make_bzimage(&p, &size);
	truncation_loop(mem, load_bzimage, img, size, NULL);
	free(img);
	kvmhost_memory_destroy(mem);
}

/* ---------- ELF images ---------- */

struct seg {
	uint32_t type;
	uint64_t paddr, filesz, memsz, align;
	const uint8_t *data; /* filesz bytes */
};

/* ELF32/64 executable: header, program headers, then each segment's bytes. */
static uint8_t *make_elf(int class64, uint16_t machine, uint64_t entry, const struct seg *segs, unsigned n,
			 size_t *size)
{
	size_t eh = class64 ? 64 : 52, phs = class64 ? 56 : 32, off = eh + n * phs, total = off;
	uint8_t *img;

	/* Segments 16-byte aligned; the file ends with the last one's bytes, so
	 * every truncation cuts into something the loader needs. */
	for (unsigned i = 0; i < n; i++)
		total += i + 1 < n ? (segs[i].filesz + 15) & ~15ull : segs[i].filesz;
	img = calloc(1, total);
	assert_non_null(img);
	memcpy(img,
	       "\x7f"
	       "ELF",
	       4);
	img[4] = class64 ? 2 : 1;
	img[5] = 1;
	img[6] = 1;
	put16(img + 16, 2);
	put16(img + 18, machine);
	put32(img + 20, 1);
	if (class64) {
		put64(img + 24, entry);
		put64(img + 32, eh);
		put16(img + 52, 64);
		put16(img + 54, 56);
		put16(img + 56, (uint16_t)n);
	} else {
		put32(img + 24, (uint32_t)entry);
		put32(img + 28, (uint32_t)eh);
		put16(img + 40, 52);
		put16(img + 42, 32);
		put16(img + 44, (uint16_t)n);
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t *ph = img + eh + i * phs;

		if (class64) {
			put32(ph, segs[i].type);
			put32(ph + 4, 7);
			put64(ph + 8, off);
			put64(ph + 16, segs[i].paddr + 0xffffffff80000000ull); /* vaddr differs */
			put64(ph + 24, segs[i].paddr);
			put64(ph + 32, segs[i].filesz);
			put64(ph + 40, segs[i].memsz);
			put64(ph + 48, segs[i].align);
		} else {
			put32(ph, segs[i].type);
			put32(ph + 4, (uint32_t)off);
			put32(ph + 8, (uint32_t)segs[i].paddr);
			put32(ph + 12, (uint32_t)segs[i].paddr);
			put32(ph + 16, (uint32_t)segs[i].filesz);
			put32(ph + 20, (uint32_t)segs[i].memsz);
			put32(ph + 24, 7);
			put32(ph + 28, (uint32_t)segs[i].align);
		}
		memcpy(img + off, segs[i].data, segs[i].filesz);
		off += (segs[i].filesz + 15) & ~15ull;
	}
	*size = total;
	return img;
}

/* Offsets of program header i's fields, for mutations. */
static size_t ph64(unsigned i, size_t field)
{
	return 64 + i * 56 + field;
}

/* Notes: a GNU build-id first (to be walked over), then Xen PHYS32_ENTRY. */
static size_t make_notes(uint8_t *buf, uint64_t entry, uint32_t desc_size)
{
	size_t n = 0;

	put32(buf + n, 4);
	put32(buf + n + 4, 20);
	put32(buf + n + 8, 3);
	memcpy(buf + n + 12, "GNU", 4);
	memset(buf + n + 16, 0x42, 20);
	n += 36;
	put32(buf + n, 4);
	put32(buf + n + 4, desc_size);
	put32(buf + n + 8, 18);
	memcpy(buf + n + 12, "Xen", 4);
	if (desc_size == 8)
		put64(buf + n + 16, entry);
	else
		put32(buf + n + 16, (uint32_t)entry);
	return n + 16 + desc_size;
}

#define PVH_SEG0  0x1000000ull
#define PVH_SEG1  0x1004000ull
#define PVH_ENTRY (PVH_SEG0 + 0x10)

struct pvh_image {
	uint8_t *text, *data, notes[128];
	struct seg segs[3];
	uint8_t *img;
	size_t size;
};

/* Segments: text (0x3000 bytes), data (0x800 in the file, 0x2000 in memory), notes. */
static void make_pvh(struct pvh_image *p, int class64, uint32_t desc_size)
{
	size_t nn;

	p->text = pattern(0x3000, 4);
	p->data = pattern(0x800, 5);
	nn = make_notes(p->notes, PVH_ENTRY, desc_size);
	p->segs[0] = (struct seg){1, PVH_SEG0, 0x3000, 0x3000, 0x1000, p->text};
	p->segs[1] = (struct seg){1, PVH_SEG1, 0x800, 0x2000, 0x1000, p->data};
	p->segs[2] = (struct seg){4, 0, nn, nn, 4, p->notes};
	p->img = make_elf(class64, class64 ? 62 : 3, 0xdead, p->segs, 3, &p->size);
}

static void free_pvh(struct pvh_image *p)
{
	free(p->text);
	free(p->data);
	free(p->img);
}

static void test_pvh_good_elf64(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct pvh_image p;
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	uint8_t *initrd = pattern(5000, 6), *mod = pattern(3000, 7);
	struct kvmhost_x86_boot_module m = {.data = mod, .size = 3000, .cmdline = "mod-arg"};
	uint64_t si = 0x6000, initrd_gpa = 64 * MIB - 2 * PAGE, mod_gpa = 64 * MIB - 3 * PAGE;

	make_pvh(&p, 1, 8);
	guest_fill(mem, PVH_SEG1, 0xaa, 0x2000); /* the loader must clear the bss */
	mem_written(mem);
	o.cmdline = "console=hvc0";
	o.initrd = initrd;
	o.initrd_size = 5000;
	o.modules = &m;
	o.module_count = 1;
	o.e820 = pc_e820(64 * MIB, &o.e820_count);
	o.acpi_rsdp_gpa = 0xe0000;
	ASSERT_OK(load_pvh(mem, p.img, p.size, &o, &info));

	assert_int_equal(info.format, KVMHOST_X86_BOOT_PVH_ELF);
	assert_int_equal(info.kind, KVMHOST_X86_ENTRY_PVH_32);
	assert_int_equal(info.entry, PVH_ENTRY);
	assert_int_equal(info.rbx, si);
	assert_int_equal(info.rax, 0);
	assert_int_equal(info.rsi, 0);
	assert_int_equal(info.start_info_gpa, si);
	assert_int_equal(info.boot_params_gpa, 0);
	assert_int_equal(info.kernel_start, PVH_SEG0);
	assert_int_equal(info.kernel_end, PVH_SEG1 + 0x2000);
	assert_int_equal(info.initrd_gpa, initrd_gpa);
	assert_int_equal(info.initrd_size, 5000);
	assert_int_equal(info.cmdline_gpa, 0x20000);
	assert_int_equal(info.module_count, 2);
	assert_int_equal(info.identity_map_end, PVH_SEG1 + 0x2000);

	assert_guest_bytes(mem, PVH_SEG0, p.text, 0x3000);
	assert_guest_bytes(mem, PVH_SEG1, p.data, 0x800);
	assert_guest_fill(mem, PVH_SEG1 + 0x800, 0, 0x1800);
	assert_guest_bytes(mem, 0x20000, "console=hvc0", 13);
	assert_guest_bytes(mem, initrd_gpa, initrd, 5000);
	assert_guest_bytes(mem, mod_gpa, mod, 3000);

	/* hvm_start_info, version 1. */
	assert_int_equal(rd32(mem, si), 0x336ec578);
	assert_int_equal(rd32(mem, si + 4), 1);
	assert_int_equal(rd32(mem, si + 8), 0);
	assert_int_equal(rd32(mem, si + 12), 2);
	assert_int_equal(rd64(mem, si + 16), si + 56);
	assert_int_equal(rd64(mem, si + 24), 0x20000);
	assert_int_equal(rd64(mem, si + 32), 0xe0000);
	assert_int_equal(rd64(mem, si + 40), si + 128); /* memmap after 56 + 2 * 32 + "mod-arg" */
	assert_int_equal(rd32(mem, si + 48), 4);
	/* modlist: the initrd first, without a string; then the module. */
	assert_int_equal(rd64(mem, si + 56), initrd_gpa);
	assert_int_equal(rd64(mem, si + 64), 5000);
	assert_int_equal(rd64(mem, si + 72), 0);
	assert_int_equal(rd64(mem, si + 88), mod_gpa);
	assert_int_equal(rd64(mem, si + 96), 3000);
	assert_int_equal(rd64(mem, si + 104), si + 120);
	assert_guest_bytes(mem, si + 120, "mod-arg", 8);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e = si + 128 + i * 24;

		assert_int_equal(rd64(mem, e), o.e820[i].addr);
		assert_int_equal(rd64(mem, e + 8), o.e820[i].size);
		assert_int_equal(rd32(mem, e + 16), o.e820[i].type);
		assert_int_equal(rd32(mem, e + 20), 0);
	}
	free(initrd);
	free(mod);
	free_pvh(&p);
	kvmhost_memory_destroy(mem);
}

static void test_pvh_good_elf32(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(32 * MIB);
	struct pvh_image p;
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();

	/* A firmware-like read-only region: reserved in the derived map. */
	add_region(mem, 0xfffc0000, 0x40000, KVMHOST_MEMORY_READONLY);
	make_pvh(&p, 0, 4);
	o.memmap_gpa = 0x5000;
	ASSERT_OK(load_pvh(mem, p.img, p.size, &o, &info));
	assert_int_equal(info.entry, PVH_ENTRY);
	assert_int_equal(info.module_count, 0);
	assert_int_equal(info.cmdline_gpa, 0);
	assert_int_equal(rd32(mem, 0x6000 + 12), 0);
	assert_int_equal(rd64(mem, 0x6000 + 16), 0); /* no modlist */
	assert_int_equal(rd64(mem, 0x6000 + 24), 0); /* no command line */
	assert_int_equal(rd64(mem, 0x6000 + 40), 0x5000);
	assert_int_equal(rd32(mem, 0x6000 + 48), 2);
	assert_int_equal(rd64(mem, 0x5000), 0);
	assert_int_equal(rd64(mem, 0x5008), 32 * MIB);
	assert_int_equal(rd32(mem, 0x5010), KVMHOST_X86_E820_RAM);
	assert_int_equal(rd64(mem, 0x5018), 0xfffc0000);
	assert_int_equal(rd64(mem, 0x5020), 0x40000);
	assert_int_equal(rd32(mem, 0x5028), KVMHOST_X86_E820_RESERVED);
	assert_guest_bytes(mem, PVH_SEG0, p.text, 0x3000);
	free_pvh(&p);
	kvmhost_memory_destroy(mem);
}

static void test_pvh_truncated(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct pvh_image p;

	make_pvh(&p, 1, 8);
	truncation_loop(mem, load_pvh, p.img, p.size, NULL);
	free_pvh(&p);
	make_pvh(&p, 0, 4);
	truncation_loop(mem, load_pvh, p.img, p.size, NULL);
	free_pvh(&p);
	kvmhost_memory_destroy(mem);
}

struct elf_mutation {
	size_t off;   /* where */
	unsigned len; /* 1, 2, 4 or 8 bytes */
	uint64_t value;
	int err;
	const char *needle;
};

static void apply(uint8_t *img, size_t off, unsigned len, uint64_t v)
{
	switch (len) {
	case 1:
		img[off] = (uint8_t)v;
		break;
	case 2:
		put16(img + off, (uint16_t)v);
		break;
	case 4:
		put32(img + off, (uint32_t)v);
		break;
	default:
		put64(img + off, v);
	}
}

static void test_pvh_bad_images(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct pvh_image p;
	size_t note = 0, xen_desc;
	const struct elf_mutation bad[] = {
	    {0, 1, 0x7e, ENOEXEC, "not an ELF"},
	    {4, 1, 3, ENOEXEC, "EI_CLASS"},
	    {5, 1, 2, ENOEXEC, "EI_DATA"},
	    {6, 1, 0, ENOEXEC, "EI_VERSION"},
	    {16, 2, 3, ENOEXEC, "e_type"},
	    {18, 2, 40, ENOEXEC, "e_machine"},
	    {54, 2, 50, ENOEXEC, "e_phentsize"},
	    {56, 2, 0, ENOEXEC, "e_phnum"},
	    {56, 2, 65, ENOEXEC, "e_phnum"},
	    {56, 2, 0xffff, ENOEXEC, "e_phnum"},
	    {32, 8, 0xffffffffffffff00ull, ENOEXEC, "e_phoff"},
	    {32, 8, 0x100000, ENOEXEC, "e_phoff"},
	    {ph64(1, 32), 8, 0x2001, ENOEXEC, "p_filesz"},		 /* filesz > memsz */
	    {ph64(1, 8), 8, 0x1000000, ENOEXEC, "p_offset"},		 /* beyond the file */
	    {ph64(1, 8), 8, 0xfffffffffffffff0ull, ENOEXEC, "p_offset"}, /* offset + filesz wraps */
	    {ph64(2, 32), 8, 0x10000, ENOEXEC, "p_offset"},		 /* a note segment beyond the file */
	    {ph64(1, 24), 8, 0xfffffffffffff000ull, ENOEXEC, "wraps"},	 /* paddr + memsz */
	    {ph64(1, 24), 8, PVH_SEG0 + 0x2000, ENOEXEC, "overlap"},
	    {ph64(1, 24), 8, 0x100000000ull, ENOEXEC, "4 GiB"},
	    {ph64(1, 24), 8, 64 * MIB - 0x1000, EFAULT, "PT_LOAD segment 1"}, /* crosses the end of RAM */
	    {ph64(1, 24), 8, 0xf0000, EFAULT, "PT_LOAD segment 1"},	      /* in an e820 hole */
	    {ph64(0, 0), 4, 6, ENOEXEC, "PHYS32_ENTRY"},		      /* entry segment not PT_LOAD */
	    {ph64(1, 0), 4, 4, ENOEXEC, "PT_NOTE"},			      /* data read as notes */
	};
	const size_t nbad = KH_ARRAY_SIZE(bad);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();

	o.e820 = pc_e820(64 * MIB, &o.e820_count);
	make_pvh(&p, 1, 8);
	note = (size_t)p.img[ph64(2, 8)] | (size_t)p.img[ph64(2, 8) + 1] << 8;
	xen_desc = note + 36 + 16;
	for (size_t i = 0; i < nbad; i++) {
		uint8_t *img = malloc(p.size);

		memcpy(img, p.img, p.size);
		apply(img, bad[i].off, bad[i].len, bad[i].value);
		ASSERT_FAILS_MENTIONING(load_pvh(mem, img, p.size, &o, &info), bad[i].err, bad[i].needle);
		assert_untouched(mem);
		free(img);
	}

	/* Note-level lies. */
	{
		const struct elf_mutation notes[] = {
		    {note, 4, 0x1000, ENOEXEC, "PT_NOTE"},	     /* GNU namesz runs past the segment */
		    {note + 4, 4, 0xfffffff0, ENOEXEC, "PT_NOTE"},   /* descsz huge */
		    {note + 36 + 8, 4, 17, ENOEXEC, "PHYS32_ENTRY"}, /* not the entry note any more */
		    {note + 36 + 4, 4, 2, ENOEXEC, "2 bytes"},
		    {note + 36 + 12, 1, 'Y', ENOEXEC, "PHYS32_ENTRY"}, /* name "Yen" */
		    {xen_desc, 8, 0x100000000ull, ENOEXEC, "above 4 GiB"},
		    {xen_desc, 8, PVH_SEG1 + 0x1000, ENOEXEC, "outside"}, /* in the bss */
		    {xen_desc, 8, 0x500000, ENOEXEC, "outside"},
		};
		for (size_t i = 0; i < KH_ARRAY_SIZE(notes); i++) {
			uint8_t *img = malloc(p.size);

			memcpy(img, p.img, p.size);
			apply(img, notes[i].off, notes[i].len, notes[i].value);
			ASSERT_FAILS_MENTIONING(load_pvh(mem, img, p.size, &o, &info), notes[i].err, notes[i].needle);
			assert_untouched(mem);
			free(img);
		}
	}

	/* Placement errors. */
	o.start_info_gpa = PVH_SEG0;
	ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "overlaps");
	o.start_info_gpa = 0x6004;
	ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "aligned");
	o.start_info_gpa = 0xfffffff8;
	ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "4 GiB");
	o.start_info_gpa = 0;
	o.memmap_gpa = 0x6010; /* on start_info */
	ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "overlaps");
	o.memmap_gpa = 0x9fc00; /* reserved */
	ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EFAULT, "memmap");
	o.memmap_gpa = 0;
	assert_untouched(mem);

	/* Modules: too many, empty, too large for RAM below 4 GiB. */
	{
		struct kvmhost_x86_boot_module mods[KVMHOST_X86_BOOT_MAX_MODULES + 1];
		uint8_t *big = malloc(70 * MIB);

		for (unsigned i = 0; i < KH_ARRAY_SIZE(mods); i++)
			mods[i] = (struct kvmhost_x86_boot_module){.data = "x", .size = 1};
		o.modules = mods;
		o.module_count = KVMHOST_X86_BOOT_MAX_MODULES + 1;
		ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "module_count");
		o.module_count = 1;
		mods[0].size = 0;
		ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "module 0");
		mods[0] = (struct kvmhost_x86_boot_module){.data = big, .size = 70 * MIB};
		ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), ENOSPC, "module 0");
		o.module_count = 0;
		o.modules = NULL;
		o.initrd = big;
		o.initrd_size = 50 * MIB; /* the kernel splits RAM: no hole that large */
		ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), ENOSPC, "initrd");
		o.initrd_size = 0;
		ASSERT_FAILS_MENTIONING(load_pvh(mem, p.img, p.size, &o, &info), EINVAL, "initrd");
		o.initrd = NULL;
		free(big);
	}
	assert_untouched(mem);
	free_pvh(&p);
	kvmhost_memory_destroy(mem);
}

/* ---------- Multiboot ---------- */

#define MB_LOAD	   0x100000u
#define MB_HDR_OFF 0x40u

/* An a.out-kludge kernel: @text bytes of file, header at MB_HDR_OFF, code
 * right after it, @bss bytes of bss. */
static uint8_t *make_mb_aout(size_t text, uint32_t bss, uint32_t flags, size_t *size)
{
	uint8_t *img = pattern(text, 8);
	uint8_t *h = img + MB_HDR_OFF;

	flags |= 1u << 16;
	put32(h, 0x1BADB002);
	put32(h + 4, flags);
	put32(h + 8, (uint32_t) - (0x1BADB002u + flags));
	put32(h + 12, MB_LOAD + MB_HDR_OFF);	       /* header_addr */
	put32(h + 16, MB_LOAD);			       /* load_addr */
	put32(h + 20, MB_LOAD + (uint32_t)text);       /* load_end_addr */
	put32(h + 24, MB_LOAD + (uint32_t)text + bss); /* bss_end_addr */
	put32(h + 28, MB_LOAD + MB_HDR_OFF + 32);      /* entry_addr */
	*size = text;
	return img;
}

static void fix_mb_checksum(uint8_t *h)
{
	uint32_t flags;

	memcpy(&flags, h + 4, 4);
	put32(h + 8, (uint32_t) - (0x1BADB002u + flags));
}

static void test_mb_aout_good(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(8 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	uint8_t *initrd = pattern(100, 9), *mod = pattern(5000, 10);
	struct kvmhost_x86_boot_module m = {.data = mod, .size = 5000, .cmdline = "modstr"};
	uint64_t mbi = 0x9000, end = MB_LOAD + 0x5000, mmap;
	size_t size;
	uint8_t *img = make_mb_aout(0x2000, 0x3000, 0x3, &size);

	guest_fill(mem, MB_LOAD + 0x2000, 0xaa, 0x3000);
	mem_written(mem);
	o.cmdline = "Xhello";
	o.initrd = initrd;
	o.initrd_size = 100;
	o.modules = &m;
	o.module_count = 1;
	o.e820 = pc_e820(8 * MIB, &o.e820_count);
	ASSERT_OK(load_multiboot(mem, img, size, &o, &info));

	assert_int_equal(info.format, KVMHOST_X86_BOOT_MULTIBOOT);
	assert_int_equal(info.kind, KVMHOST_X86_ENTRY_MULTIBOOT_32);
	assert_int_equal(info.entry, MB_LOAD + MB_HDR_OFF + 32);
	assert_int_equal(info.rax, 0x2BADB002);
	assert_int_equal(info.rbx, mbi);
	assert_int_equal(info.mbi_gpa, mbi);
	assert_int_equal(info.kernel_start, MB_LOAD);
	assert_int_equal(info.kernel_end, end);
	assert_int_equal(info.initrd_gpa, end);
	assert_int_equal(info.initrd_size, 100);
	assert_int_equal(info.module_count, 2);
	assert_int_equal(info.cmdline_gpa, 0x20000);

	assert_guest_bytes(mem, MB_LOAD, img, 0x2000);
	assert_guest_fill(mem, MB_LOAD + 0x2000, 0, 0x3000);
	assert_guest_bytes(mem, end, initrd, 100);
	assert_guest_bytes(mem, end + PAGE, mod, 5000);
	assert_guest_bytes(mem, 0x20000, "Xhello", 7);

	/* The MBI. */
	assert_int_equal(rd32(mem, mbi), 0x1 | 0x4 | 0x8 | 0x40 | 0x200);
	assert_int_equal(rd32(mem, mbi + 4), 0x9fc00 / 1024);
	assert_int_equal(rd32(mem, mbi + 8), (8 * MIB - MIB) / 1024);
	assert_int_equal(rd32(mem, mbi + 16), 0x20000);
	assert_int_equal(rd32(mem, mbi + 20), 2);
	assert_int_equal(rd32(mem, mbi + 24), mbi + 88);
	assert_int_equal(rd32(mem, mbi + 88), end);
	assert_int_equal(rd32(mem, mbi + 92), end + 100);
	assert_int_equal(rd32(mem, mbi + 96), 0);
	assert_int_equal(rd32(mem, mbi + 104), end + PAGE);
	assert_int_equal(rd32(mem, mbi + 108), end + PAGE + 5000);
	assert_int_equal(rd32(mem, mbi + 112), mbi + 120);
	assert_guest_bytes(mem, mbi + 120, "modstr", 7);
	assert_int_equal(rd32(mem, mbi + 64), mbi + 127);
	assert_guest_bytes(mem, mbi + 127, "libkvmhost", 11);
	mmap = (mbi + 138 + 7) & ~7ull;
	assert_int_equal(rd32(mem, mbi + 44), 4 * 24);
	assert_int_equal(rd32(mem, mbi + 48), mmap);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e = mmap + i * 24;

		assert_int_equal(rd32(mem, e), 20);
		assert_int_equal(rd64(mem, e + 4), o.e820[i].addr);
		assert_int_equal(rd64(mem, e + 12), o.e820[i].size);
		assert_int_equal(rd32(mem, e + 20), o.e820[i].type);
	}
	free(initrd);
	free(mod);
	free(img);
	kvmhost_memory_destroy(mem);
}

/* A Multiboot ELF32: the header in the text segment, no a.out kludge. */
static uint8_t *make_mb_elf(uint8_t **text, size_t *size)
{
	struct seg segs[2];
	uint8_t *h;

	*text = pattern(0x1000, 11);
	h = *text;
	put32(h, 0x1BADB002);
	put32(h + 4, 0x3);
	fix_mb_checksum(h);
	segs[0] = (struct seg){1, 0x200000, 0x1000, 0x1000, 0x1000, *text};
	segs[1] = (struct seg){1, 0x201000, 0x10, 0x4000, 0x1000, *text + 0x100};
	return make_elf(0, 3, 0x200010, segs, 2, size);
}

static void test_mb_elf_good(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(8 * MIB);
	struct kvmhost_x86_boot_info info = new_info();
	uint8_t *text;
	size_t size;
	uint8_t *img = make_mb_elf(&text, &size);

	ASSERT_OK(load_multiboot(mem, img, size, NULL, &info));
	assert_int_equal(info.entry, 0x200010);
	assert_int_equal(info.kernel_start, 0x200000);
	assert_int_equal(info.kernel_end, 0x205000);
	assert_int_equal(info.module_count, 0);
	assert_int_equal(info.cmdline_gpa, 0);
	assert_guest_bytes(mem, 0x200000, text, 0x1000);
	assert_guest_bytes(mem, 0x201000, text + 0x100, 0x10);
	/* No command line; the map derived from the memory: one RAM range. */
	assert_int_equal(rd32(mem, 0x9000), 0x1 | 0x8 | 0x40 | 0x200);
	assert_int_equal(rd32(mem, 0x9000 + 4), 640);
	assert_int_equal(rd32(mem, 0x9000 + 8), 7 * 1024);
	assert_int_equal(rd32(mem, 0x9000 + 20), 0);
	assert_int_equal(rd32(mem, 0x9000 + 24), 0);
	assert_int_equal(rd32(mem, 0x9000 + 44), 24);
	free(text);
	free(img);
	kvmhost_memory_destroy(mem);
}

static void test_mb_truncated(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(8 * MIB);
	uint8_t *text;
	size_t size;
	uint8_t *img = make_mb_aout(0x400, 0x100, 0x3, &size);

	truncation_loop(mem, load_multiboot, img, size, NULL);
	free(img);
	img = make_mb_elf(&text, &size);
	truncation_loop(mem, load_multiboot, img, size, NULL);
	free(text);
	free(img);
	kvmhost_memory_destroy(mem);
}

static void test_mb_bad_images(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(8 * MIB);
	struct kvmhost_x86_boot_info info = new_info();
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	const struct {
		size_t off; /* in the header */
		uint32_t value;
		int fix_checksum, err;
		const char *needle;
	} bad[] = {
	    {0, 0x1BADB003, 0, ENOEXEC, "no Multiboot header"},
	    {8, 0x12345678, 0, ENOEXEC, "bad checksum"},
	    {4, 0x10007, 1, ENOTSUP, "video mode"},
	    {4, 0x10023, 1, ENOTSUP, "0x20"},
	    {12, MB_LOAD - 0x1000, 0, ENOEXEC, "header_addr"},	 /* header_addr below load_addr */
	    {12, MB_LOAD + 0x1000, 0, ENOEXEC, "header_addr"},	 /* load would start before the file */
	    {20, MB_LOAD - 1, 0, ENOEXEC, "load_end_addr"},	 /* below load_addr */
	    {20, MB_LOAD + 0x2001, 0, ENOEXEC, "load_end_addr"}, /* past the file */
	    {20, MB_LOAD + 0x50, 0, ENOEXEC, "header"},		 /* loads less than the header */
	    {24, MB_LOAD + 0x1000, 0, ENOEXEC, "bss_end_addr"},
	    {28, MB_LOAD - 4, 0, ENOEXEC, "entry_addr"},
	    {28, MB_LOAD + 0x2000, 0, ENOEXEC, "entry_addr"}, /* in the bss */
	    {16, 0x7ff000 - 0, 2, EFAULT, "kernel"},	      /* load_addr: moved past RAM's end */
	    {16, 0xf0000, 2, EFAULT, "kernel"},		      /* into the BIOS hole */
	};

	o.e820 = pc_e820(8 * MIB, &o.e820_count);
	for (size_t i = 0; i < KH_ARRAY_SIZE(bad); i++) {
		size_t size;
		uint8_t *img = make_mb_aout(0x2000, 0x3000, 0x3, &size), *h = img + MB_HDR_OFF;

		if (bad[i].fix_checksum == 2) {
			/* Move the whole kernel: all addresses shift together. */
			uint32_t delta = bad[i].value - MB_LOAD;

			for (size_t f = 12; f <= 28; f += 4) {
				uint32_t v;

				memcpy(&v, h + f, 4);
				put32(h + f, v + delta);
			}
		} else {
			put32(h + bad[i].off, bad[i].value);
			if (bad[i].fix_checksum)
				fix_mb_checksum(h);
		}
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), bad[i].err, bad[i].needle);
		assert_untouched(mem);
		free(img);
	}

	/* The header beyond the first 8192 bytes is not found. */
	{
		size_t size;
		uint8_t *img = make_mb_aout(0x3000, 0, 0x3, &size);

		memmove(img + 0x2000, img + MB_HDR_OFF, 32);
		memset(img + MB_HDR_OFF, 0, 32);
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), ENOEXEC, "no Multiboot header");
		/* Within 8192 bytes but its a.out fields are not. */
		memmove(img + 0x1ff0, img + 0x2000, 32);
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), ENOEXEC, "8192");
		free(img);
	}

	/* Without the a.out kludge the image must be an ELF. */
	{
		size_t size;
		uint8_t *img = make_mb_aout(0x2000, 0, 0x3, &size);

		put32(img + MB_HDR_OFF + 4, 0x3);
		fix_mb_checksum(img + MB_HDR_OFF);
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), ENOEXEC, "ELF");
		free(img);
	}

	/* ELF: the entry outside the segments; segments overlapping. */
	{
		uint8_t *text;
		size_t size;
		uint8_t *img = make_mb_elf(&text, &size);

		put32(img + 24, 0x300000);
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), ENOEXEC, "e_entry");
		put32(img + 24, 0x201008); /* file part of segment 1: fine */
		ASSERT_OK(load_multiboot(mem, img, size, &o, &info));
		mem_written(mem);
		put32(img + 52 + 32 + 12, 0x200800); /* segment 1's p_paddr into segment 0 */
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), ENOEXEC, "overlap");
		free(text);
		free(img);
	}

	/* Modules that do not fit after the kernel; an MBI on the kernel. */
	{
		size_t size;
		uint8_t *img = make_mb_aout(0x2000, 0x3000, 0x3, &size), *big = malloc(8 * MIB);
		struct kvmhost_x86_boot_module m = {.data = big, .size = 7 * MIB};

		o.modules = &m;
		o.module_count = 1;
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), ENOSPC, "module 0");
		o.module_count = 0;
		o.modules = NULL;
		o.mbi_gpa = MB_LOAD + 0x1000;
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), EINVAL, "overlaps");
		o.mbi_gpa = 0x9004;
		ASSERT_FAILS_MENTIONING(load_multiboot(mem, img, size, &o, &info), EINVAL, "aligned");
		o.mbi_gpa = 0;
		free(big);
		free(img);
	}
	assert_untouched(mem);
	kvmhost_memory_destroy(mem);
}

/* ---------- raw, detection, dispatch, option/info rules ---------- */

static void test_raw(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(2 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	uint8_t *img = pattern(300, 12);

	ASSERT_OK(kvmhost_x86_boot_load_raw(mem, img, 300, 0x1000, NULL, &info));
	assert_int_equal(info.format, KVMHOST_X86_BOOT_RAW);
	assert_int_equal(info.kind, KVMHOST_X86_ENTRY_RAW);
	assert_int_equal(info.entry, 0x1000);
	assert_int_equal(info.kernel_start, 0x1000);
	assert_int_equal(info.kernel_end, 0x1000 + 300);
	assert_guest_bytes(mem, 0x1000, img, 300);
	/* At address 0, and at the very end of RAM. */
	ASSERT_OK(kvmhost_x86_boot_load_raw(mem, img, 300, 0, NULL, &info));
	ASSERT_OK(kvmhost_x86_boot_load_raw(mem, img, 300, 2 * MIB - 300, NULL, &info));

	mem_written(mem);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, img, 300, 2 * MIB - 299, NULL, &info), EFAULT, "image");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, img, 300, UINT64_MAX - 100, NULL, &info), EFAULT,
				"wraps");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, img, 0, 0x1000, NULL, &info), EINVAL, "image_size");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, NULL, 300, 0x1000, NULL, &info), EINVAL, "image");
	o.cmdline = "x";
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, img, 300, 0x1000, &o, &info), EINVAL, "command line");
	o.cmdline = NULL;
	o.initrd = img;
	o.initrd_size = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, img, 300, 0x1000, &o, &info), EINVAL, "initrd");
	o.initrd = NULL;
	o.initrd_size = 0;
	/* The e820 map limits RAM. */
	o.e820 = pc_e820(2 * MIB, &o.e820_count);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_load_raw(mem, img, 300, 0x9fb00, &o, &info), EFAULT, "image");
	assert_untouched(mem);
	ASSERT_OK(kvmhost_x86_boot_load_raw(mem, img, 300, 0x9fb00 - 300 + 0x100, &o, &info));
	free(img);
	kvmhost_memory_destroy(mem);
}

static void test_detect_and_dispatch(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct bz_params bp = bz_default();
	struct kvmhost_x86_boot_info info = new_info();
	struct pvh_image p;
	uint8_t *text, *bz, *mb, *mbe, junk[64];
	size_t bz_size, mb_size, mbe_size;

	bz = make_bzimage(&bp, &bz_size);
	mb = make_mb_aout(0x2000, 0, 0x3, &mb_size);
	mbe = make_mb_elf(&text, &mbe_size);
	make_pvh(&p, 1, 8);
	memset(junk, 0x11, sizeof(junk));

	assert_int_equal(kvmhost_x86_boot_detect(bz, bz_size), KVMHOST_X86_BOOT_BZIMAGE);
	assert_int_equal(kvmhost_x86_boot_detect(p.img, p.size), KVMHOST_X86_BOOT_PVH_ELF);
	assert_int_equal(kvmhost_x86_boot_detect(mb, mb_size), KVMHOST_X86_BOOT_MULTIBOOT);
	assert_int_equal(kvmhost_x86_boot_detect(mbe, mbe_size), KVMHOST_X86_BOOT_MULTIBOOT);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_detect(junk, sizeof(junk)), ENOEXEC, "unknown kernel format");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_detect(junk, 0), ENOEXEC, "unknown kernel format");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_detect(NULL, 10), EINVAL, "image");
	/* An ELF with neither note nor header; one whose program headers lie. */
	put32(p.img + ph64(2, 0), 6);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_detect(p.img, p.size), ENOEXEC, "neither");
	put32(p.img + ph64(2, 0), 4);
	put16(p.img + 54, 12);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_detect(p.img, p.size), ENOEXEC, "e_phentsize");
	put16(p.img + 54, 56);
	/* An ELF with both a PVH note and a Multiboot header is PVH. */
	put32(p.img + 64 + 3 * 56, 0x1BADB002);
	put32(p.img + 64 + 3 * 56 + 4, 0x3);
	fix_mb_checksum(p.img + 64 + 3 * 56);
	assert_int_equal(kvmhost_x86_boot_detect(p.img, p.size), KVMHOST_X86_BOOT_PVH_ELF);
	put32(p.img + ph64(2, 0), 6); /* without the note it is Multiboot */
	assert_int_equal(kvmhost_x86_boot_detect(p.img, p.size), KVMHOST_X86_BOOT_MULTIBOOT);
	put32(p.img + ph64(2, 0), 4);

	ASSERT_OK(load_detected(mem, bz, bz_size, NULL, &info));
	assert_int_equal(info.format, KVMHOST_X86_BOOT_BZIMAGE);
	ASSERT_OK(load_detected(mem, p.img, p.size, NULL, &info));
	assert_int_equal(info.format, KVMHOST_X86_BOOT_PVH_ELF);
	ASSERT_OK(load_detected(mem, mb, mb_size, NULL, &info));
	assert_int_equal(info.format, KVMHOST_X86_BOOT_MULTIBOOT);
	mem_written(mem);
	ASSERT_FAILS_MENTIONING(load_detected(mem, junk, sizeof(junk), NULL, &info), ENOEXEC, "kvmhost_x86_boot_load:");
	/* Messages of a dispatched load name the function called. */
	put16(bz + 0x260, 0);
	put16(bz + 0x262, 0);
	ASSERT_FAILS_MENTIONING(load_detected(mem, bz, bz_size, NULL, &info), ENOEXEC,
				"kvmhost_x86_boot_load: init_size");
	assert_untouched(mem);

	free(text);
	free(bz);
	free(mb);
	free(mbe);
	free_pvh(&p);
	kvmhost_memory_destroy(mem);
}

static void test_arguments_and_sizes(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct bz_params bp = bz_default();
	size_t size;
	uint8_t *img = make_bzimage(&bp, &size);
	struct kvmhost_x86_boot_info info = new_info();
	struct kvmhost_x86_e820_entry e[KVMHOST_X86_E820_MAX + 1];
	struct {
		struct kvmhost_x86_boot_options o;
		uint64_t extra;
	} big;
	struct {
		struct kvmhost_x86_boot_info i;
		uint8_t tail[16];
	} ibig;
	uint8_t small[sizeof(info)];

	ASSERT_FAILS_MENTIONING(load_bzimage(NULL, img, size, NULL, &info), EINVAL, "mem");
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, NULL, size, NULL, &info), EINVAL, "image");
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, NULL, NULL), EINVAL, "info");
	info.size = 0;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, NULL, &info), EINVAL, "info->size");
	info = new_info();

	/* A newer caller's options with an unknown field set: refused. */
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.extra = 1;
	ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &big.o, &info), E2BIG, NULL);
	big.extra = 0;
	ASSERT_OK(load_bzimage(mem, img, size, &big.o, &info));

	/* e820 maps that make no sense. */
	{
		struct kvmhost_x86_boot_options o = {.size = sizeof(o)};

		o.e820 = e;
		o.e820_count = 2;
		e[0] = (struct kvmhost_x86_e820_entry){0, 32 * MIB, 1};
		e[1] = (struct kvmhost_x86_e820_entry){16 * MIB, 32 * MIB, 1};
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "overlap");
		e[1] = (struct kvmhost_x86_e820_entry){32 * MIB, 0, 1};
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "empty");
		e[1] = (struct kvmhost_x86_e820_entry){32 * MIB, UINT64_MAX, 1};
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "wrapping");
		e[1] = (struct kvmhost_x86_e820_entry){32 * MIB, MIB, 0};
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "type 0");
		o.e820_count = KVMHOST_X86_E820_MAX + 1;
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "e820_count");
		o.e820 = NULL;
		o.e820_count = 1;
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EINVAL, "e820");
		/* All reserved: no RAM at all. */
		o.e820 = e;
		e[0] = (struct kvmhost_x86_e820_entry){0, 64 * MIB, KVMHOST_X86_E820_RESERVED};
		ASSERT_FAILS_MENTIONING(load_bzimage(mem, img, size, &o, &info), EFAULT, "no RAM");
		/* 128 entries, unsorted: fine, and sorted in the zero page. */
		for (unsigned i = 0; i < KVMHOST_X86_E820_MAX; i++)
			e[i] = (struct kvmhost_x86_e820_entry){(KVMHOST_X86_E820_MAX - 1 - i) * MIB, MIB,
							       KVMHOST_X86_E820_RAM};
		o.e820_count = KVMHOST_X86_E820_MAX;
		ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
		assert_int_equal(rd8(mem, 0x7000 + 0x1e8), 128);
		assert_int_equal(rd64(mem, 0x7000 + 0x2d0), 0);
		assert_int_equal(rd64(mem, 0x7000 + 0x2d0 + 127 * 20), 127 * MIB);
		/* RAM adjacent entries merge: the 8 MiB init_size area spans entries. */
		assert_int_equal(info.kernel_end, 24 * MIB);
	}

	/* An older caller's smaller info: only its prefix is written. */
	memset(small, 0xee, sizeof(small));
	((struct kvmhost_x86_boot_info *)(void *)small)->size = offsetof(struct kvmhost_x86_boot_info, rax);
	ASSERT_OK(load_bzimage(mem, img, size, NULL, (struct kvmhost_x86_boot_info *)(void *)small));
	assert_int_equal(((struct kvmhost_x86_boot_info *)(void *)small)->entry, 0x100200);
	for (size_t i = offsetof(struct kvmhost_x86_boot_info, rax); i < sizeof(small); i++)
		assert_int_equal(small[i], 0xee);
	/* A newer caller's larger info: the tail is zeroed. */
	memset(&ibig, 0xee, sizeof(ibig));
	ibig.i.size = sizeof(ibig);
	ASSERT_OK(load_bzimage(mem, img, size, NULL, &ibig.i));
	assert_int_equal(ibig.i.size, sizeof(ibig));
	assert_int_equal(ibig.i.kind, KVMHOST_X86_ENTRY_LINUX_64);
	for (size_t i = 0; i < sizeof(ibig.tail); i++)
		assert_int_equal(ibig.tail[i], 0);
	free(img);
	kvmhost_memory_destroy(mem);
}

/* Two adjacent regions: loads that span them work (checked write path). */
static void test_spanning_regions(void **state)
{
	(void)state;
	struct kvmhost_memory *mem;
	struct kvmhost_x86_boot_info info = new_info();
	struct pvh_image p;

	ASSERT_OK(kvmhost_memory_create(&mem));
	add_region(mem, 0, PVH_SEG1 + 0x1000, 0);
	add_region(mem, PVH_SEG1 + 0x1000, 32 * MIB, 0);
	make_pvh(&p, 1, 8);
	guest_fill(mem, PVH_SEG1 + 0x800, 0x77, 0x1800);
	ASSERT_OK(load_pvh(mem, p.img, p.size, NULL, &info));
	assert_guest_fill(mem, PVH_SEG1 + 0x800, 0, 0x1800);
	assert_guest_bytes(mem, PVH_SEG1, p.data, 0x800);
	free_pvh(&p);
	kvmhost_memory_destroy(mem);
}

/* ---------- optional: real kernels ---------- */

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*size = (size_t)n;
	return buf;
}

static void test_real_kernels(void **state)
{
	(void)state;
	const char *bzp = getenv("KVMHOST_TEST_BZIMAGE"), *elfp = getenv("KVMHOST_TEST_VMLINUX");
	struct kvmhost_memory *mem;
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	size_t size;
	uint8_t *img;

	if (!bzp && !elfp)
		skip();
	mem = make_mem(512 * MIB);
	o.cmdline = "console=ttyS0 panic=-1";
	o.initrd = "07070100000000";
	o.initrd_size = 14;
	o.e820 = pc_e820(512 * MIB, &o.e820_count);
	if (bzp) {
		img = read_file(bzp, &size);
		assert_non_null(img);
		assert_int_equal(kvmhost_x86_boot_detect(img, size), KVMHOST_X86_BOOT_BZIMAGE);
		ASSERT_OK(load_bzimage(mem, img, size, &o, &info));
		print_message("bzImage %s: kind %d entry 0x%llx kernel [0x%llx, 0x%llx) initrd 0x%llx\n", bzp,
			      info.kind, (unsigned long long)info.entry, (unsigned long long)info.kernel_start,
			      (unsigned long long)info.kernel_end, (unsigned long long)info.initrd_gpa);
		assert_int_equal(info.kind, KVMHOST_X86_ENTRY_LINUX_64);
		assert_int_equal(info.entry, 0x100200);
		free(img);
	}
	if (elfp) {
		img = read_file(elfp, &size);
		assert_non_null(img);
		assert_int_equal(kvmhost_x86_boot_detect(img, size), KVMHOST_X86_BOOT_PVH_ELF);
		ASSERT_OK(load_pvh(mem, img, size, &o, &info));
		print_message("vmlinux %s: PVH entry 0x%llx kernel [0x%llx, 0x%llx) initrd 0x%llx\n", elfp,
			      (unsigned long long)info.entry, (unsigned long long)info.kernel_start,
			      (unsigned long long)info.kernel_end, (unsigned long long)info.initrd_gpa);
		assert_int_equal(info.kind, KVMHOST_X86_ENTRY_PVH_32);
		free(img);
	}
	kvmhost_memory_destroy(mem);
}

/* What only the check has: it needs a map of RAM, takes no raw format, and writes nothing anywhere. */
static void test_check_arguments(void **state)
{
	(void)state;
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	struct bz_params p = bz_default();
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);
	const uint8_t text[] = "plain text, no kernel\n";

	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, size, NULL, &info), EINVAL, "e820");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, size, &o, &info), EINVAL, "e820");
	o.e820 = pc_e820(64 * MIB, &o.e820_count);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(KVMHOST_X86_BOOT_RAW, img, size, &o, &info), EINVAL, "format");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(99, img, size, &o, &info), EINVAL, "format");
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, NULL, size, &o, &info), EINVAL, "image");
	/* A text file: detected as nothing, and refused by the Multiboot loader when it is asked for by name. */
	ASSERT_FAILS(kvmhost_x86_boot_check(0, text, sizeof(text), &o, &info), ENOEXEC);
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(KVMHOST_X86_BOOT_MULTIBOOT, text, sizeof(text), &o, &info),
				ENOEXEC, "Multiboot header");
	/* RAM too small for the kernel: the map alone decides. */
	o.e820 = pc_e820(2 * MIB, &o.e820_count);
	ASSERT_FAILS(kvmhost_x86_boot_check(KVMHOST_X86_BOOT_BZIMAGE, img, size, &o, &info), EFAULT);
	/* info may be NULL: a yes or no. */
	o.e820 = pc_e820(64 * MIB, &o.e820_count);
	ASSERT_OK(kvmhost_x86_boot_check(KVMHOST_X86_BOOT_BZIMAGE, img, size, &o, NULL));
	ASSERT_OK(kvmhost_x86_boot_check(0, img, size, &o, &info));
	assert_int_equal(info.format, KVMHOST_X86_BOOT_BZIMAGE);
	free(img);
}

/* ---------- found by tests/fuzz/x86_boot_fuzz (the reproducers are in its corpus) ---------- */

/* A check given an e820 map with no RAM entry fails with -EFAULT; on the way it used to hand qsort() the NULL
 * array of RAM ranges (undefined behaviour: the ASan+UBSan tier stops on it). */
static void test_fuzz_e820_no_ram(void **state)
{
	(void)state;
	struct kvmhost_x86_e820_entry e[2] = {{0, 0x9fc00, KVMHOST_X86_E820_RESERVED},
					      {0x100000, 64 * MIB, KVMHOST_X86_E820_ACPI}};
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info(), before = info;
	struct bz_params p = bz_default();
	size_t size;
	uint8_t *img = make_bzimage(&p, &size);

	o.e820 = e;
	o.e820_count = 2;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(KVMHOST_X86_BOOT_BZIMAGE, img, size, &o, &info), EFAULT,
				"no RAM");
	o.e820_count = 1;
	ASSERT_FAILS_MENTIONING(kvmhost_x86_boot_check(0, img, size, &o, &info), EFAULT, "no RAM");
	assert_memory_equal(&info, &before, sizeof(info));
	free(img);
}

/* A program header the loaders ignore (neither PT_LOAD nor PT_NOTE) may hold any p_offset: the note walker used to
 * form a pointer that far past the image for it before looking at its type (pointer overflow, which UBSan
 * reports). Such an ELF loads as if the header were not there. */
static void test_fuzz_phdr_offset(void **state)
{
	(void)state;
	struct kvmhost_memory *mem = make_mem(64 * MIB);
	struct kvmhost_x86_boot_options o = {.size = sizeof(o)};
	struct kvmhost_x86_boot_info info = new_info();
	uint8_t *text = pattern(0x3000, 4), notes[128];
	struct seg segs[4];
	size_t size, nn = make_notes(notes, PVH_ENTRY, 4);
	uint8_t *img;

	segs[0] = (struct seg){6 /* PT_PHDR */, 0, 0, 0, 8, notes};
	segs[1] = (struct seg){1, PVH_SEG0, 0x3000, 0x3000, 0x1000, text};
	segs[2] = (struct seg){0x6474e551 /* PT_GNU_STACK */, 0, 0, 0, 16, notes};
	segs[3] = (struct seg){4, 0, nn, nn, 4, notes};
	img = make_elf(1, 62, 0xdead, segs, 4, &size);
	put64(img + ph64(0, 8), UINT64_MAX);
	put64(img + ph64(2, 8), UINT64_MAX - 0x40);
	assert_int_equal(kvmhost_x86_boot_detect(img, size), KVMHOST_X86_BOOT_PVH_ELF);
	ASSERT_OK(load_pvh(mem, img, size, &o, &info));
	assert_int_equal(info.entry, PVH_ENTRY);
	assert_int_equal(info.kernel_start, PVH_SEG0);
	assert_int_equal(info.kernel_end, PVH_SEG0 + 0x3000);
	free(img);
	free(text);
	kvmhost_memory_destroy(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bz_good_64),		cmocka_unit_test(test_bz_entry_32),
	    cmocka_unit_test(test_bz_initrd_placement), cmocka_unit_test(test_bz_placement_options),
	    cmocka_unit_test(test_bz_cmdline_limit),	cmocka_unit_test(test_bz_bad_images),
	    cmocka_unit_test(test_bz_truncated),	cmocka_unit_test(test_pvh_good_elf64),
	    cmocka_unit_test(test_pvh_good_elf32),	cmocka_unit_test(test_pvh_truncated),
	    cmocka_unit_test(test_pvh_bad_images),	cmocka_unit_test(test_mb_aout_good),
	    cmocka_unit_test(test_mb_elf_good),		cmocka_unit_test(test_mb_truncated),
	    cmocka_unit_test(test_mb_bad_images),	cmocka_unit_test(test_raw),
	    cmocka_unit_test(test_detect_and_dispatch), cmocka_unit_test(test_arguments_and_sizes),
	    cmocka_unit_test(test_spanning_regions),	cmocka_unit_test(test_real_kernels),
	    cmocka_unit_test(test_check_arguments),	cmocka_unit_test(test_fuzz_e820_no_ram),
	    cmocka_unit_test(test_fuzz_phdr_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
