/*
 * PVH loader: an ELF kernel entered in 32-bit protected mode at the address
 * its Xen PHYS32_ENTRY note gives, with EBX pointing at an hvm_start_info
 * (Xen's include/public/arch-x86/hvm/start_info.h, version 1: with a memory
 * map). This is how QEMU -M microvm, Firecracker and Cloud Hypervisor boot
 * an uncompressed vmlinux; Linux takes modlist[0] as its initrd.
 *
 * Guest layout written here (all below 4 GiB, the reach of a 32-bit entry):
 *   start_info_gpa: hvm_start_info (56 bytes), the modlist (32 bytes per
 *                   module), then the modules' strings;
 *   memmap_gpa:     the memmap (24 bytes per e820 entry), by default right
 *                   after that block;
 *   cmdline_gpa:    the command line; the modules page aligned, as high as
 *                   RAM below 4 GiB allows.
 */
#include <string.h>

#include "boot_internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_MAGIC		 0x336ec578u
#define PVH_START_INFO_SIZE	 56
#define PVH_MODLIST_ENTRY_SIZE	 32
#define PVH_MEMMAP_ENTRY_SIZE	 24

static int pvh_entry(struct kh_boot *b, const uint8_t *img, const struct kh_elf *e, uint64_t *entry)
{
	const uint8_t *desc;
	uint32_t dsz;
	int r = kh_elf_find_note(b->func, img, e, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &dsz);

	if (r < 0)
		return r;
	if (!r)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "no Xen PHYS32_ENTRY note (name \"Xen\", type 18) in the PT_NOTE segments: not a "
				    "PVH kernel");
	if (dsz == 4)
		*entry = kh_le32(desc);
	else if (dsz == 8)
		*entry = kh_le64(desc);
	else
		return KH_BOOT_FAIL(b, ENOEXEC, "the PHYS32_ENTRY note holds %u bytes, expected 4 or 8", dsz);
	if (*entry >= KH_BOOT_4G)
		return KH_BOOT_FAIL(b, ENOEXEC, "PHYS32_ENTRY 0x%llx is above 4 GiB", (unsigned long long)*entry);
	if (!kh_elf_addr_loaded(e, *entry))
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "PHYS32_ENTRY 0x%llx lies outside the file contents of every PT_LOAD "
				    "segment",
				    (unsigned long long)*entry);
	return 0;
}

static int pvh_plan(struct kh_boot *b, const uint8_t *img, size_t size, struct kvmhost_x86_boot_info *res)
{
	const struct kvmhost_x86_boot_options *o = &b->o;
	struct kh_boot_mod mods[1 + KVMHOST_X86_BOOT_MAX_MODULES];
	struct kh_elf *e;
	static const char *const names[3] = {"start_info_gpa", "the PVH start_info", "the PVH memmap"};
	struct kh_boot_info_area area;
	uint64_t entry = 0, si, block, strings = 0, memmap, memmap_size, cmd_gpa, cmd_size;
	uint32_t nmods = (o->initrd ? 1 : 0) + o->module_count, placed = 0;
	uint8_t *blk, *mm;
	int r;

	e = kh_boot_zalloc(b, sizeof(*e));
	if (!e)
		return -ENOMEM;
	r = kh_elf_parse(b->func, img, size, e);
	if (r < 0)
		return r;
	r = pvh_entry(b, img, e, &entry);
	if (r < 0)
		return r;
	if (e->load_end > KH_BOOT_4G)
		return KH_BOOT_FAIL(b, ENOEXEC,
				    "the PT_LOAD segments end at 0x%llx, above 4 GiB, out of reach of the "
				    "32-bit PVH entry",
				    (unsigned long long)e->load_end);
	r = kh_elf_load(b, img, e);
	if (r < 0)
		return r;

	for (uint32_t i = 0; i < o->module_count; i++)
		if (o->modules[i].cmdline)
			strings += strlen(o->modules[i].cmdline) + 1;
	block = PVH_START_INFO_SIZE + (uint64_t)nmods * PVH_MODLIST_ENTRY_SIZE + strings;
	r = kh_boot_place_info(b, o->start_info_gpa, KVMHOST_X86_BOOT_DEFAULT_START_INFO_GPA, block,
			       PVH_MEMMAP_ENTRY_SIZE, names, &area);
	if (r >= 0)
		r = kh_boot_place_cmdline(b, KH_BOOT_4G, &cmd_gpa, &cmd_size);
	if (r >= 0)
		r = kh_boot_place_modules(b, 1, KH_BOOT_PAGE, KH_BOOT_4G, mods, &placed);
	if (r < 0)
		return r;
	/* start_info, modlist and strings, in one buffer. */
	si = area.gpa;
	memmap = area.map_gpa;
	memmap_size = area.map_size;
	blk = area.block;
	mm = area.map;
	kh_put32(blk + 0, PVH_START_MAGIC);
	kh_put32(blk + 4, 1); /* version 1: memmap fields valid */
	kh_put32(blk + 8, 0); /* flags */
	kh_put32(blk + 12, placed);
	kh_put64(blk + 16, placed ? si + PVH_START_INFO_SIZE : 0);
	kh_put64(blk + 24, cmd_gpa);
	kh_put64(blk + 32, o->acpi_rsdp_gpa);
	kh_put64(blk + 40, memmap);
	kh_put32(blk + 48, b->e820_count);
	{
		uint64_t str = si + PVH_START_INFO_SIZE + (uint64_t)placed * PVH_MODLIST_ENTRY_SIZE;

		for (uint32_t i = 0; i < placed; i++) {
			uint8_t *m = blk + PVH_START_INFO_SIZE + (size_t)i * PVH_MODLIST_ENTRY_SIZE;

			kh_put64(m, mods[i].gpa);
			kh_put64(m + 8, mods[i].size);
			if (mods[i].cmdline) {
				size_t n = strlen(mods[i].cmdline) + 1;

				memcpy(blk + (str - si), mods[i].cmdline, n);
				kh_put64(m + 16, str);
				str += n;
			}
		}
	}
	for (uint32_t i = 0; i < b->e820_count; i++) {
		uint8_t *m = mm + (size_t)i * PVH_MEMMAP_ENTRY_SIZE;

		kh_put64(m, b->e820[i].addr);
		kh_put64(m + 8, b->e820[i].size);
		kh_put32(m + 16, b->e820[i].type);
	}
	r = kh_boot_write(b, si, blk, block);
	if (r >= 0)
		r = kh_boot_write(b, memmap, mm, memmap_size);
	if (r < 0)
		return r;

	memset(res, 0, sizeof(*res));
	res->format = KVMHOST_X86_BOOT_PVH_ELF;
	res->kind = KVMHOST_X86_ENTRY_PVH_32;
	res->entry = entry;
	res->rbx = si;
	res->start_info_gpa = si;
	res->kernel_start = e->load_start;
	res->kernel_end = e->load_end;
	if (o->initrd) {
		res->initrd_gpa = mods[0].gpa;
		res->initrd_size = mods[0].size;
	}
	res->cmdline_gpa = cmd_gpa;
	res->cmdline_size = cmd_size;
	res->module_count = placed;
	res->identity_map_end = e->load_end;
	if (si + block > res->identity_map_end)
		res->identity_map_end = si + block;
	if (memmap + memmap_size > res->identity_map_end)
		res->identity_map_end = memmap + memmap_size;
	if (cmd_gpa + cmd_size > res->identity_map_end)
		res->identity_map_end = cmd_gpa + cmd_size;
	return 0;
}

int kh_boot_pvh(const char *func, struct kvmhost_memory *mem, const void *image, size_t image_size,
		const struct kvmhost_x86_boot_options *opts, struct kvmhost_x86_boot_info *info)
{
	return kh_boot_run(func, mem, image, image_size, opts, info, pvh_plan);
}

KVMHOST_API int kvmhost_x86_boot_load_pvh(struct kvmhost_memory *mem, const void *image, size_t image_size,
					  const struct kvmhost_x86_boot_options *opts,
					  struct kvmhost_x86_boot_info *info)
{
	return kh_boot_pvh(__func__, mem, image, image_size, opts, info);
}
