/*
 * Multiboot (specification 0.6.96) loader. The kernel is loaded either by
 * the addresses of its header's a.out kludge (flag 16) or from its ELF
 * program headers, and entered in 32-bit protected mode with EAX =
 * 0x2BADB002 and EBX = the Multiboot information (MBI).
 *
 * Guest layout written here (all below 4 GiB):
 *   mbi_gpa:     the MBI (88 bytes), the module list (16 bytes per module),
 *                then the modules' strings and the boot loader name;
 *   memmap_gpa:  the mmap (24 bytes per e820 entry: a size field of 20 and
 *                the entry), by default right after that block;
 *   cmdline_gpa: the command line; modules page aligned right after the
 *                kernel (where GRUB puts them).
 */
#include <stdio.h>
#include <string.h>

#include "boot_internal.h"

/* Header flags: bits 0-15 are requirements, 16-31 optional features. */
#define MB_PAGE_ALIGN	    (1u << 0)
#define MB_MEMORY_INFO	    (1u << 1)
#define MB_VIDEO_MODE	    (1u << 2)
#define MB_AOUT_KLUDGE	    (1u << 16)
#define MB_REQUIRED_MASK    0xffffu
#define MB_HEADER_SIZE	    12
#define MB_AOUT_HEADER_SIZE 32

/* MBI flags and layout. */
#define MBI_MEMORY	    (1u << 0)
#define MBI_CMDLINE	    (1u << 2)
#define MBI_MODS	    (1u << 3)
#define MBI_MMAP	    (1u << 6)
#define MBI_LOADER_NAME	    (1u << 9)
#define MBI_SIZE	    88
#define MBI_MOD_SIZE	    16
#define MBI_MMAP_ENTRY_SIZE 24
#define MB_LOADER_NAME	    "libkvmhost"

int kh_mb_find_header(const uint8_t *img, size_t size, size_t *off, size_t *bad_off)
{
	size_t lim = size < KH_MB_SEARCH ? size : KH_MB_SEARCH;

	*bad_off = SIZE_MAX;
	for (size_t o = 0; o + MB_HEADER_SIZE <= lim; o += 4) {
		uint32_t flags, sum;

		if (kh_le32(img + o) != KH_MB_MAGIC)
			continue;
		flags = kh_le32(img + o + 4);
		sum = kh_le32(img + o + 8);
		if ((uint32_t)(KH_MB_MAGIC + flags + sum) == 0) {
			*off = o;
			return 1;
		}
		if (*bad_off == SIZE_MAX)
			*bad_off = o;
	}
	return 0;
}

struct mb_kernel {
	uint64_t entry, start, end;
};

/* a.out kludge: the header's own addresses say what goes where. */
static int mb_plan_aout(struct kh_boot *b, const uint8_t *img, size_t size, size_t off, struct mb_kernel *k)
{
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
	uint64_t file_off, load_size, end, mem_end;
	int r;

	if (off + MB_AOUT_HEADER_SIZE > size)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "the Multiboot header at 0x%zx is truncated: its a.out kludge fields "
				    "need 0x%x bytes, the image has %zu",
				    off, MB_AOUT_HEADER_SIZE, size);
	if (off + MB_AOUT_HEADER_SIZE > KH_MB_SEARCH)
		return KH_BOOT_FAIL(b, ENOEXEC, "the Multiboot header at 0x%zx runs past the first 8192 bytes", off);
	header_addr = kh_le32(img + off + 12);
	load_addr = kh_le32(img + off + 16);
	load_end_addr = kh_le32(img + off + 20);
	bss_end_addr = kh_le32(img + off + 24);
	entry_addr = kh_le32(img + off + 28);
	if (header_addr < load_addr || header_addr - load_addr > off)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "header_addr 0x%x and load_addr 0x%x do not match the header's file offset 0x%zx "
				    "(load_addr must be at most 0x%zx below header_addr)",
				    header_addr, load_addr, off, off);
	file_off = off - (header_addr - load_addr);
	if (load_end_addr) {
		if (load_end_addr < load_addr)
			return KH_BOOT_FAIL(b, ENOEXEC, "load_end_addr 0x%x is below load_addr 0x%x", load_end_addr,
					    load_addr);
		load_size = load_end_addr - load_addr;
		if (load_size > size - file_off)
			return KH_BOOT_FAIL(b, ENOEXEC,
					    "load_end_addr 0x%x asks for 0x%llx bytes from file offset 0x%llx, but the "
					    "image has only %zu bytes",
					    load_end_addr, (unsigned long long)load_size, (unsigned long long)file_off,
					    size);
	} else {
		load_size = size - file_off;
	}
	if (header_addr - load_addr + MB_AOUT_HEADER_SIZE > load_size)
		return KH_BOOT_FAIL(b, ENOEXEC, "the loaded part [0x%x, +0x%llx) does not contain the header at 0x%x",
				    load_addr, (unsigned long long)load_size, header_addr);
	end = load_addr + load_size;
	if (end > KH_BOOT_4G)
		return KH_BOOT_FAIL(b, ENOEXEC, "the loaded part [0x%x, 0x%llx) goes beyond 4 GiB", load_addr,
				    (unsigned long long)end);
	mem_end = end;
	if (bss_end_addr) {
		if (bss_end_addr < end)
			return KH_BOOT_FAIL(b, ENOEXEC, "bss_end_addr 0x%x is below the end of the loaded part 0x%llx",
					    bss_end_addr, (unsigned long long)end);
		mem_end = bss_end_addr;
	}
	if (entry_addr < load_addr || entry_addr >= end)
		return KH_BOOT_FAIL(b, ENOEXEC, "entry_addr 0x%x lies outside the loaded part [0x%x, 0x%llx)",
				    entry_addr, load_addr, (unsigned long long)end);
	r = kh_boot_claim(b, load_addr, mem_end - load_addr, "the kernel", ENOEXEC);
	if (r >= 0)
		r = kh_boot_write(b, load_addr, img + file_off, load_size);
	if (r >= 0)
		r = kh_boot_write(b, end, NULL, mem_end - end);
	if (r < 0)
		return r;
	k->entry = entry_addr;
	k->start = load_addr;
	k->end = mem_end;
	return 0;
}

static int mb_plan_elf(struct kh_boot *b, const uint8_t *img, size_t size, size_t off, struct mb_kernel *k)
{
	struct kh_elf *e;
	int r;

	if (!kh_elf_is_elf(img, size))
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "the Multiboot header at 0x%zx has no a.out kludge (flag 16), so the image must be "
				    "an ELF, but it does not start with the ELF magic",
				    off);
	e = kh_boot_zalloc(b, sizeof(*e));
	if (!e)
		return -ENOMEM;
	r = kh_elf_parse(b->func, img, size, e);
	if (r < 0)
		return r;
	if (e->load_end > KH_BOOT_4G)
		return KH_BOOT_FAIL(b, ENOEXEC, "the PT_LOAD segments end at 0x%llx, above 4 GiB",
				    (unsigned long long)e->load_end);
	if (e->entry >= KH_BOOT_4G || !kh_elf_addr_loaded(e, e->entry))
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "e_entry 0x%llx lies outside the file contents of every PT_LOAD "
				    "segment (by physical address)",
				    (unsigned long long)e->entry);
	r = kh_elf_load(b, img, e);
	if (r < 0)
		return r;
	k->entry = e->entry;
	k->start = e->load_start;
	k->end = e->load_end;
	return 0;
}

/* Contiguous e820 RAM from @from (KiB), from the sorted guest map. */
static uint64_t mb_ram_kib_from(const struct kh_boot *b, uint64_t from, uint64_t cap)
{
	uint64_t end = from;

	for (uint32_t i = 0; i < b->e820_count; i++) {
		const struct kvmhost_x86_e820_entry *e = &b->e820[i];

		if (e->type != KVMHOST_X86_E820_RAM || e->addr > end || e->addr + e->size <= end)
			continue;
		end = e->addr + e->size;
	}
	if (end > cap)
		end = cap;
	return end > from ? (end - from) / 1024 : 0;
}

static int mb_plan(struct kh_boot *b, const uint8_t *img, size_t size, struct kvmhost_x86_boot_info *res)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	struct kh_boot_mod mods[1 + KVMHOST_X86_BOOT_MAX_MODULES];
	struct mb_kernel k = {0};
	size_t off, bad_off;
	uint32_t flags, nmods = (o->initrd ? 1 : 0) + o->module_count, placed = 0;
	static const char *const names[3] = {"mbi_gpa", "the Multiboot information", "the Multiboot memory map"};
	struct kh_boot_info_area area;
	uint64_t mbi, block, strings = sizeof(MB_LOADER_NAME), mmap, mmap_size, cmd_gpa, cmd_size, upper;
	uint8_t *blk, *mm;
	int r;

	if (!kh_mb_find_header(img, size, &off, &bad_off)) {
		if (bad_off != SIZE_MAX)
			return KH_BOOT_FAIL(b, ENOEXEC,
					    "the Multiboot magic at offset 0x%zx has a bad checksum (flags 0x%08x, "
					    "checksum 0x%08x), and no valid header follows in the first 8192 bytes",
					    bad_off, kh_le32(img + bad_off + 4), kh_le32(img + bad_off + 8));
		return KH_BOOT_FAIL(
		    b, ENOEXEC,
		    "no Multiboot header (magic 0x1BADB002, 4-byte aligned, valid checksum) in the first "
		    "%zu bytes",
		    size < KH_MB_SEARCH ? size : (size_t)KH_MB_SEARCH);
	}
	flags = kh_le32(img + off + 4);
	if (flags & MB_REQUIRED_MASK & ~(MB_PAGE_ALIGN | MB_MEMORY_INFO))
		return KH_BOOT_FAIL(
		    b, ENOTSUP, "the Multiboot header flags 0x%08x require features this loader lacks (bits 0x%x%s)",
		    flags, flags & MB_REQUIRED_MASK & ~(MB_PAGE_ALIGN | MB_MEMORY_INFO),
		    flags & MB_VIDEO_MODE ? "; bit 2 is a video mode" : "");
	r = flags & MB_AOUT_KLUDGE ? mb_plan_aout(b, img, size, off, &k) : mb_plan_elf(b, img, size, off, &k);
	if (r < 0)
		return r;

	for (uint32_t i = 0; i < o->module_count; i++)
		if (o->modules[i].cmdline)
			strings += strlen(o->modules[i].cmdline) + 1;
	block = MBI_SIZE + (uint64_t)nmods * MBI_MOD_SIZE + strings;
	r = kh_boot_place_info(b, o->mbi_gpa, KVMHOST_X86_BOOT_DEFAULT_MBI_GPA, block, MBI_MMAP_ENTRY_SIZE, names,
			       &area);
	if (r >= 0)
		r = kh_boot_place_cmdline(b, KH_BOOT_4G, &cmd_gpa, &cmd_size);
	if (r >= 0)
		r = kh_boot_place_modules(b, 0, kh_align_up(k.end, KH_BOOT_PAGE), KH_BOOT_4G, mods, &placed);
	if (r < 0)
		return r;
	mbi = area.gpa;
	mmap = area.map_gpa;
	mmap_size = area.map_size;
	blk = area.block;
	mm = area.map;
	upper = mb_ram_kib_from(b, 0x100000, KH_BOOT_4G);
	kh_put32(blk + 0, MBI_MEMORY | (o->cmdline ? MBI_CMDLINE : 0) | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME);
	kh_put32(blk + 4, (uint32_t)mb_ram_kib_from(b, 0, 0xa0000)); /* mem_lower */
	kh_put32(blk + 8, (uint32_t)upper);			     /* mem_upper */
	kh_put32(blk + 16, (uint32_t)cmd_gpa);
	kh_put32(blk + 20, placed);
	kh_put32(blk + 24, placed ? (uint32_t)(mbi + MBI_SIZE) : 0);
	kh_put32(blk + 44, (uint32_t)mmap_size);
	kh_put32(blk + 48, (uint32_t)mmap);
	{
		uint64_t str = mbi + MBI_SIZE + (uint64_t)placed * MBI_MOD_SIZE;

		for (uint32_t i = 0; i < placed; i++) {
			uint8_t *m = blk + MBI_SIZE + (size_t)i * MBI_MOD_SIZE;

			kh_put32(m, (uint32_t)mods[i].gpa);
			kh_put32(m + 4, (uint32_t)(mods[i].gpa + mods[i].size));
			if (mods[i].cmdline) {
				size_t n = strlen(mods[i].cmdline) + 1;

				memcpy(blk + (str - mbi), mods[i].cmdline, n);
				kh_put32(m + 8, (uint32_t)str);
				str += n;
			}
		}
		memcpy(blk + (str - mbi), MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
		kh_put32(blk + 64, (uint32_t)str);
	}
	for (uint32_t i = 0; i < b->e820_count; i++) {
		uint8_t *m = mm + (size_t)i * MBI_MMAP_ENTRY_SIZE;

		kh_put32(m, MBI_MMAP_ENTRY_SIZE - 4);
		kh_put64(m + 4, b->e820[i].addr);
		kh_put64(m + 12, b->e820[i].size);
		kh_put32(m + 20, b->e820[i].type);
	}
	r = kh_boot_write(b, mbi, blk, block);
	if (r >= 0)
		r = kh_boot_write(b, mmap, mm, mmap_size);
	if (r < 0)
		return r;

	memset(res, 0, sizeof(*res));
	res->format = KVMHOST_X86_BOOT_MULTIBOOT;
	res->kind = KVMHOST_X86_ENTRY_MULTIBOOT_32;
	res->entry = k.entry;
	res->rax = KVMHOST_X86_MULTIBOOT_BOOTLOADER_MAGIC;
	res->rbx = mbi;
	res->mbi_gpa = mbi;
	res->kernel_start = k.start;
	res->kernel_end = k.end;
	if (o->initrd) {
		res->initrd_gpa = mods[0].gpa;
		res->initrd_size = mods[0].size;
	}
	res->cmdline_gpa = cmd_gpa;
	res->cmdline_size = cmd_size;
	res->module_count = placed;
	res->identity_map_end = k.end;
	if (mbi + block > res->identity_map_end)
		res->identity_map_end = mbi + block;
	if (mmap + mmap_size > res->identity_map_end)
		res->identity_map_end = mmap + mmap_size;
	if (cmd_gpa + cmd_size > res->identity_map_end)
		res->identity_map_end = cmd_gpa + cmd_size;
	return 0;
}

int kh_boot_multiboot(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		      const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info)
{
	return kh_boot_run(func, mem, image, image_size, opts, info, mb_plan);
}

KVMHOST_API int kvmhost_x86_boot_load_multiboot(struct kvmhost_memory *mem, const void *image, size_t image_size,
						const struct kvmhost_x86_boot_options *opts,
						struct kvmhost_x86_boot_info *info)
{
	return kh_boot_multiboot(__func__, mem, image, image_size, opts, info);
}
